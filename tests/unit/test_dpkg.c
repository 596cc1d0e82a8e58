#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "dpkg.h"
#include "rootfs.h"

static char errbuf[512];

/* Parses text as a status file (status_d false) or a status.d entry. */
static struct installed_package *parse_ok(const char *text, bool status_d,
                                          size_t *count)
{
    struct installed_package *packages = NULL;
    int result = status_d ? dpkg_status_d_parse(text, strlen(text), &packages,
                                                count, errbuf, sizeof(errbuf))
                          : dpkg_status_parse(text, strlen(text), &packages,
                                              count, errbuf, sizeof(errbuf));
    if (result != 0)
        fail_msg("parse failed: %s", errbuf);
    return packages;
}

static void parse_fails(const char *text, size_t size,
                        const char *expected_message)
{
    struct installed_package *packages = NULL;
    size_t count = 7;

    assert_int_equal(dpkg_status_parse(text, size, &packages, &count, errbuf,
                                       sizeof(errbuf)),
                     -1);
    assert_null(packages);
    assert_int_equal(count, 0);
    if (!strstr(errbuf, expected_message))
        fail_msg("message \"%s\" lacks \"%s\"", errbuf, expected_message);
}

static void assert_optional(const char *actual, const char *expected)
{
    if (!expected) {
        assert_null(actual);
        return;
    }
    assert_non_null(actual);
    assert_string_equal(actual, expected);
}

static void assert_package(const struct installed_package *package,
                           const char *name, const char *version,
                           const char *architecture, const char *source_name,
                           const char *source_version)
{
    assert_string_equal(package->name, name);
    assert_string_equal(package->version, version);
    assert_optional(package->architecture, architecture);
    assert_optional(package->source_name, source_name);
    assert_optional(package->source_version, source_version);
}

static void reads_installed_fields(void **state)
{
    (void)state;
    size_t count = 0;
    struct installed_package *packages =
        parse_ok("Package: libcap2\n"
                 "Status: install ok installed\n"
                 "Architecture: amd64\n"
                 "Source: libcap2 (1:2.66-4+deb12u3)\n"
                 "Version: 1:2.66-4+deb12u3+b1\n"
                 "Description: POSIX 1003.1e capabilities (library)\n"
                 " Libcap implements the user-space interfaces\n"
                 " .\n"
                 " more text\n"
                 "\n"
                 "Package: login\n"
                 "Status: hold ok installed\n"
                 "Version: 1:4.13+dfsg1-1+deb12u2\n"
                 "Source: shadow\n",
                 false, &count);

    assert_int_equal(count, 2);
    assert_package(&packages[0], "libcap2", "1:2.66-4+deb12u3+b1", "amd64",
                   "libcap2", "1:2.66-4+deb12u3");
    assert_package(&packages[1], "login", "1:4.13+dfsg1-1+deb12u2", NULL,
                   "shadow", NULL);
    dpkg_packages_free(packages, count);
}

static void keeps_packages_with_files_on_disk(void **state)
{
    (void)state;
    size_t count = 0;
    struct installed_package *packages =
        parse_ok("Package: removed\nStatus: deinstall ok config-files\n"
                 "Version: 1\n\n"
                 "Package: purged\nStatus: purge ok not-installed\n\n"
                 "Package: broken\nStatus: install reinstreq half-installed\n"
                 "Version: 2\n\n"
                 "Package: unpacked\nStatus: install ok unpacked\n"
                 "Version: 3\n\n"
                 "Package: half\nStatus: install ok half-configured\n"
                 "Version: 4\n\n"
                 "Package: no-status\nVersion: 5\n\n"
                 "Package: pending\nStatus: install ok triggers-pending\n"
                 "Version: 6\n\n"
                 "Package: awaited\nStatus: install ok triggers-awaited\n"
                 "Version: 7\n\n"
                 "Package: kept\nStatus: install ok installed\nVersion: 8\n",
                 false, &count);

    assert_int_equal(count, 6);
    assert_string_equal(packages[0].name, "broken");
    assert_string_equal(packages[1].name, "unpacked");
    assert_string_equal(packages[2].name, "half");
    assert_string_equal(packages[3].name, "pending");
    assert_string_equal(packages[4].name, "awaited");
    assert_string_equal(packages[5].name, "kept");
    dpkg_packages_free(packages, count);
}

static void folds_continuation_lines(void **state)
{
    (void)state;
    size_t count = 0;
    struct installed_package *packages = parse_ok("Package: folded\n"
                                                  "Status: install\n"
                                                  "  ok\n"
                                                  "\tinstalled\n"
                                                  "Source: origin\n"
                                                  " (2.0-1)\n"
                                                  "Version: 2.0-1+b1\n",
                                                  false, &count);

    assert_int_equal(count, 1);
    assert_package(&packages[0], "folded", "2.0-1+b1", NULL, "origin", "2.0-1");
    dpkg_packages_free(packages, count);
}

static void accepts_crlf_comments_and_any_case(void **state)
{
    (void)state;
    size_t count = 0;
    struct installed_package *packages =
        parse_ok("# written on Windows\r\n"
                 "package: crlf\r\n"
                 "STATUS: install ok installed\r\n"
                 "version:   1.0-1  \r\n"
                 "architecture: arm64\r\n"
                 "\r\n"
                 "Package: last\r\n"
                 "Status: install ok installed\r\n"
                 "Version: 2",
                 false, &count);

    assert_int_equal(count, 2);
    assert_package(&packages[0], "crlf", "1.0-1", "arm64", NULL, NULL);
    assert_package(&packages[1], "last", "2", NULL, NULL, NULL);
    dpkg_packages_free(packages, count);
}

static void empty_text_has_no_packages(void **state)
{
    (void)state;
    size_t count = 5;
    struct installed_package *packages = parse_ok("\n\n", false, &count);

    assert_int_equal(count, 0);
    assert_null(packages);
}

static void rejects_installed_stanza_without_version(void **state)
{
    (void)state;
    const char *text = "Package: a\nStatus: install ok installed\n"
                       "Version: 1\n\n"
                       "Package: b\nStatus: install ok installed\n"
                       "Architecture: all\n";
    parse_fails(text, strlen(text),
                "line 5: installed package b has no "
                "Version");
}

static void rejects_installed_stanza_without_package(void **state)
{
    (void)state;
    const char *text = "Status: install ok installed\nVersion: 1\n";
    parse_fails(text, strlen(text),
                "line 1: installed package has no "
                "Package name");

    text = "Package:\nStatus: install ok installed\nVersion: 1\n";
    parse_fails(text, strlen(text), "line 1: installed package has no");
}

static void rejects_truncated_last_stanza(void **state)
{
    (void)state;
    const char *text = "Package: a\nStatus: install ok installed\n"
                       "Version: 1\n\n"
                       "Package: b\nStatus: install ok installed\nVers";
    parse_fails(text, strlen(text), "line 7: expected \"Field: value\"");

    /* Cut right after a field: the stanza lacks its Version. */
    parse_fails(text, strlen(text) - 4,
                "line 5: installed package b has no "
                "Version");
}

static void rejects_malformed_lines_and_fields(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        {" continued\n", "line 1: continuation line outside a stanza"},
        {"Package: a\nPackage: b\n", "line 2: Package appears twice"},
        {"Package: a\nbad field: x\n", "line 2: field name contains a space"},
        {"Package: a\n: no name\n", "line 2: expected \"Field: value\""},
        {"Package: a b\nStatus: install ok installed\nVersion: 1\n",
         "line 1: Package must be a single word"},
        {"Package: a\nStatus: install installed\nVersion: 1\n",
         "line 1: Status must have three words"},
        {"Package: a\nStatus: install ok installed\nVersion: 1\n"
         "Source: b (1.0\n",
         "line 1: Source must be"},
        {"Package: a\nStatus: install ok installed\nVersion: 1\n"
         "Source: b 1.0\n",
         "line 1: Source must be"},
        {"Package: a\nStatus: install ok installed\nVersion: 1\n"
         "Source: b ( )\n",
         "line 1: Source version must be one word"},
        {"Package: a\nStatus: install ok installed\nVersion: 1\n"
         "Source: b (1 2)\n",
         "line 1: Source version must be one word"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        parse_fails(cases[i].text, strlen(cases[i].text), cases[i].message);
}

static void rejects_binary_garbage(void **state)
{
    (void)state;
    static const char garbage[] = "Package: a\nVersion: 1\n\x7f"
                                  "ELF\x02\x01\x01\x00\x00";
    parse_fails(garbage, sizeof(garbage) - 1, "line 3: control byte 0x7f");

    static const char with_nul[] = "Package: a\0b\n";
    parse_fails(with_nul, sizeof(with_nul) - 1, "line 1: control byte 0x00");
}

static void rejects_line_over_limit(void **state)
{
    (void)state;
    size_t size = DPKG_MAX_LINE_BYTES + 64;
    char *text = malloc(size + 1);
    assert_non_null(text);
    strcpy(text, "Package: a\nDescription: ");
    size_t used = strlen(text);
    memset(text + used, 'x', size - used);
    text[size] = '\0';

    parse_fails(text, size, "line 2: longer than");

    /* A line of exactly the limit is accepted. */
    size_t exact = strlen("Package: a\n") + DPKG_MAX_LINE_BYTES;
    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(dpkg_status_parse(text, exact, &packages, &count, errbuf,
                                       sizeof(errbuf)),
                     0);
    free(text);
}

static void rejects_stanza_count_over_limit(void **state)
{
    (void)state;
    const char stanza[] = "Package: p\n\n";
    size_t stanza_size = sizeof(stanza) - 1;
    size_t size = stanza_size * (DPKG_MAX_STANZAS + 1);
    char *text = malloc(size);
    assert_non_null(text);
    for (size_t i = 0; i <= DPKG_MAX_STANZAS; i++)
        memcpy(text + i * stanza_size, stanza, stanza_size);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(dpkg_status_parse(text, size - stanza_size, &packages,
                                       &count, errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(count, 0);

    char message[64];
    snprintf(message, sizeof(message), "line %d: more than %d stanzas",
             2 * DPKG_MAX_STANZAS + 1, DPKG_MAX_STANZAS);
    parse_fails(text, size, message);
    free(text);
}

/* Returns a status text of count installed packages named <prefix><i>. */
static char *installed_stanzas(const char *prefix, size_t count, size_t *size)
{
    const size_t stanza_max = 96;
    char *text = malloc(count * stanza_max + 1);
    assert_non_null(text);

    size_t used = 0;
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(text + used, stanza_max,
                                 "Package: %s%zu\nVersion: 1\n"
                                 "Status: install ok installed\n\n",
                                 prefix, i);
    *size = used;
    return text;
}

static void rejects_package_count_over_limit(void **state)
{
    (void)state;
    size_t size = 0;
    char *text = installed_stanzas("p", DPKG_MAX_PACKAGES + 1, &size);
    size_t last_stanza = strlen("Package: p100000\nVersion: 1\n"
                                "Status: install ok installed\n\n");

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(dpkg_status_parse(text, size - last_stanza, &packages,
                                       &count, errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(count, DPKG_MAX_PACKAGES);
    dpkg_packages_free(packages, count);

    parse_fails(text, size,
                "line 400001: more than 100000 installed packages "
                "(DPKG_MAX_PACKAGES)");
    free(text);
}

static void rejects_value_over_limit(void **state)
{
    (void)state;
    char text[DPKG_MAX_VALUE_BYTES + 64];
    int used = snprintf(text, sizeof(text), "Package: a\nVersion: ");
    memset(text + used, '1', DPKG_MAX_VALUE_BYTES + 1);
    text[used + DPKG_MAX_VALUE_BYTES + 1] = '\0';

    parse_fails(text, strlen(text), "line 2: Version is longer than");
}

static void status_d_entry_without_status_is_installed(void **state)
{
    (void)state;
    size_t count = 0;
    struct installed_package *packages =
        parse_ok("Package: libsqlite3-0\nSource: sqlite3\nVersion: 3.34.1-3\n"
                 "Architecture: arm64\n\n"
                 "Package: gone\nStatus: deinstall ok config-files\n"
                 "Version: 1\n",
                 true, &count);

    assert_int_equal(count, 1);
    assert_package(&packages[0], "libsqlite3-0", "3.34.1-3", "arm64", "sqlite3",
                   NULL);
    dpkg_packages_free(packages, count);
}

/* Inventory from a model ------------------------------------------------ */

static void put_file(struct rootfs_layer *layer, const char *path,
                     const char *text)
{
    char *data = strdup(text);
    assert_non_null(data);
    assert_int_equal(rootfs_layer_put_file(layer, path, data, strlen(text),
                                           errbuf, sizeof(errbuf)),
                     ROOTFS_OK);
}

static enum dpkg_inventory_result inventory(const struct rootfs *fs,
                                            struct installed_package **packages,
                                            size_t *count)
{
    return dpkg_inventory_from_rootfs(fs, packages, count, errbuf,
                                      sizeof(errbuf));
}

static void inventory_merges_status_and_status_d(void **state)
{
    (void)state;
    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    put_file(layer, "var/lib/dpkg/status",
             "Package: zlib1g\nStatus: install ok installed\n"
             "Version: 1:1.2.13.dfsg-1\nArchitecture: amd64\n\n"
             "Package: base-files\nStatus: install ok installed\n"
             "Version: 12.4\nArchitecture: amd64\n");
    put_file(layer, "var/lib/dpkg/status.d/base-files",
             "Package: base-files\nVersion: 12.4\nArchitecture: amd64\n");
    put_file(layer, "var/lib/dpkg/status.d/libc6",
             "Package: libc6\nVersion: 2.36-9\nArchitecture: i386\n");
    put_file(layer, "var/lib/dpkg/status.d/libc6.md5sums",
             "0123  lib/libc.so.6\n");
    assert_int_equal(
        rootfs_layer_put_symlink(layer, "var/lib/dpkg/status.d/libc6b",
                                 "libc6-amd64", errbuf, sizeof(errbuf)),
        ROOTFS_OK);
    put_file(layer, "var/lib/dpkg/status.d/libc6-amd64",
             "Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\n");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count), DPKG_INVENTORY_OK);

    /* base-files is listed twice and kept once; libc6 has two
     * architectures; libc6b is a link to libc6-amd64 and repeats it. */
    assert_int_equal(count, 4);
    assert_package(&packages[0], "base-files", "12.4", "amd64", NULL, NULL);
    assert_package(&packages[1], "libc6", "2.36-9", "amd64", NULL, NULL);
    assert_package(&packages[2], "libc6", "2.36-9", "i386", NULL, NULL);
    assert_package(&packages[3], "zlib1g", "1:1.2.13.dfsg-1", "amd64", NULL,
                   NULL);
    dpkg_packages_free(packages, count);
    rootfs_free(fs);
}

static void inventory_without_database_is_not_found(void **state)
{
    (void)state;
    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    put_file(layer, "etc/os-release", "ID=debian\n");
    put_file(layer, "var/lib/dpkg/status.d/x.md5sums", "0123  x\n");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count),
                     DPKG_INVENTORY_NOT_FOUND);
    assert_null(packages);
    assert_int_equal(count, 0);
    assert_non_null(strstr(errbuf, "no dpkg database"));
    rootfs_free(fs);
}

static void inventory_with_empty_status_is_ok(void **state)
{
    (void)state;
    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    put_file(layer, "var/lib/dpkg/status", "");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count), DPKG_INVENTORY_OK);
    assert_int_equal(count, 0);
    rootfs_free(fs);
}

static void inventory_reports_unreadable_file_and_keeps_others(void **state)
{
    (void)state;
    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    put_file(layer, "var/lib/dpkg/status",
             "Package: good\nStatus: install ok installed\nVersion: 1\n");
    put_file(layer, "var/lib/dpkg/status.d/broken",
             "Package: broken\nArchitecture: all\n");
    put_file(layer, "var/lib/dpkg/status.d/fine",
             "Package: fine\nVersion: 2\n");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count),
                     DPKG_INVENTORY_UNREADABLE);
    assert_non_null(strstr(errbuf, "var/lib/dpkg/status.d/broken: line 1"));
    assert_int_equal(count, 2);
    assert_string_equal(packages[0].name, "fine");
    assert_string_equal(packages[1].name, "good");
    dpkg_packages_free(packages, count);
    rootfs_free(fs);
}

static void inventory_flags_link_to_unkept_file(void **state)
{
    (void)state;
    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    assert_int_equal(
        rootfs_layer_put_symlink(layer, "var/lib/dpkg/status.d/away",
                                 "/opt/elsewhere", errbuf, sizeof(errbuf)),
        ROOTFS_OK);
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count),
                     DPKG_INVENTORY_UNREADABLE);
    assert_non_null(strstr(errbuf, "status.d/away"));
    assert_int_equal(count, 0);
    dpkg_packages_free(packages, count);
    rootfs_free(fs);
}

/* Fixtures ------------------------------------------------------------ */

static char *read_fixture(const char *relative, size_t *size)
{
    const char *root = getenv("IMGASSURE_FIXTURES");
    if (!root || !*root)
        root = "../shared/fixtures";
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, relative);

    FILE *file = fopen(path, "rb");
    if (!file) {
        print_message("skipped: fixture %s not found (set IMGASSURE_FIXTURES "
                      "to the fixtures folder)\n",
                      path);
        skip();
    }
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long length = ftell(file);
    assert_true(length >= 0);
    rewind(file);

    char *data = malloc((size_t)length + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)length, file), (size_t)length);
    data[length] = '\0';
    fclose(file);
    *size = (size_t)length;
    return data;
}

static struct installed_package *parse_fixture(const char *relative,
                                               bool status_d, size_t *count)
{
    size_t size = 0;
    char *text = read_fixture(relative, &size);
    struct installed_package *packages = NULL;
    int result = status_d ? dpkg_status_d_parse(text, size, &packages, count,
                                                errbuf, sizeof(errbuf))
                          : dpkg_status_parse(text, size, &packages, count,
                                              errbuf, sizeof(errbuf));
    free(text);
    if (result != 0)
        fail_msg("%s: %s", relative, errbuf);
    return packages;
}

static const struct installed_package *
find_package(const struct installed_package *packages, size_t count,
             const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(packages[i].name, name) == 0)
            return &packages[i];
    }
    fail_msg("package %s not found", name);
    return NULL;
}

static void debian_12_status_matches_packages_tsv(void **state)
{
    (void)state;
    const char *base = "rootfs/debian-12-minbase-mmdebstrap";
    char relative[256];
    snprintf(relative, sizeof(relative), "%s/var/lib/dpkg/status", base);
    size_t count = 0;
    struct installed_package *packages = parse_fixture(relative, false, &count);

    /* packages.tsv: binary name, version, architecture, source name,
     * source version, one package a line after a '#' header. */
    snprintf(relative, sizeof(relative), "%s/packages.tsv", base);
    size_t size = 0;
    char *tsv = read_fixture(relative, &size);
    size_t rows = 0;
    char *saved = NULL;
    for (char *line = strtok_r(tsv, "\n", &saved); line;
         line = strtok_r(NULL, "\n", &saved)) {
        if (line[0] == '#')
            continue;
        char *columns[5];
        char *column_saved = NULL;
        columns[0] = strtok_r(line, "\t", &column_saved);
        for (int i = 1; i < 5; i++)
            columns[i] = strtok_r(NULL, "\t", &column_saved);
        assert_non_null(columns[4]);

        const struct installed_package *package =
            find_package(packages, count, columns[0]);
        assert_string_equal(package->version, columns[1]);
        assert_string_equal(package->architecture, columns[2]);
        /* An absent Source means the binary's own name and version. */
        assert_string_equal(package->source_name ? package->source_name
                                                 : package->name,
                            columns[3]);
        assert_string_equal(package->source_version ? package->source_version
                                                    : package->version,
                            columns[4]);
        rows++;
    }
    free(tsv);

    assert_int_equal(rows, 96);
    assert_int_equal(count, rows);

    assert_package(find_package(packages, count, "libcap2"), "libcap2",
                   "1:2.66-4+deb12u3+b1", "amd64", "libcap2",
                   "1:2.66-4+deb12u3");
    assert_package(find_package(packages, count, "login"), "login",
                   "1:4.13+dfsg1-1+deb12u2", "amd64", "shadow", NULL);
    assert_package(find_package(packages, count, "zlib1g"), "zlib1g",
                   "1:1.2.13.dfsg-1+deb12u1", "amd64", "zlib", NULL);
    dpkg_packages_free(packages, count);
}

static void ubuntu_status_skips_config_files_stanza(void **state)
{
    (void)state;
    size_t count = 0;
    struct installed_package *packages =
        parse_fixture("pkgdb/dpkg/ubuntu-18.04.status", false, &count);

    assert_int_equal(count, 90);
    for (size_t i = 0; i < count; i++)
        assert_string_not_equal(packages[i].name, "git");
    dpkg_packages_free(packages, count);
}

static void syft_status_fixtures_parse(void **state)
{
    (void)state;
    size_t count = 0;
    struct installed_package *packages =
        parse_fixture("pkgdb/dpkg/syft-libpam-runtime.status", false, &count);
    assert_int_equal(count, 1);
    assert_package(&packages[0], "libpam-runtime", "1.1.8-3.6", "all", "pam",
                   NULL);
    dpkg_packages_free(packages, count);

    packages = parse_fixture("pkgdb/dpkg/syft-multiple-with-empty.status",
                             false, &count);
    assert_int_equal(count, 2);
    assert_package(&packages[0], "tzdata", "2020a-0+deb10u1", "all",
                   "tzdata-dev", NULL);
    assert_package(&packages[1], "util-linux", "2.33.1-0.1", "amd64", NULL,
                   NULL);
    dpkg_packages_free(packages, count);

    packages = parse_fixture("pkgdb/dpkg/syft-coreutils-relationships.status",
                             false, &count);
    assert_int_equal(count, 9);
    assert_package(find_package(packages, count, "libselinux1"), "libselinux1",
                   "3.4-1+b6", "arm64", "libselinux", "3.4-1");
    assert_package(find_package(packages, count, "libgmp10"), "libgmp10",
                   "2:6.2.1+dfsg1-1.1", "arm64", "gmp", NULL);
    dpkg_packages_free(packages, count);

    packages =
        parse_fixture("pkgdb/dpkg/syft-pkg-coverage.status", false, &count);
    assert_int_equal(count, 1);
    assert_package(&packages[0], "apt", "1.8.2", "amd64", "apt-dev", NULL);
    dpkg_packages_free(packages, count);
}

static void empty_stanza_in_status_d_is_an_error(void **state)
{
    (void)state;
    size_t size = 0;
    char *text =
        read_fixture("pkgdb/dpkg/syft-multiple-with-empty.status", &size);
    struct installed_package *packages = NULL;
    size_t count = 0;

    /* Without Status fields every stanza counts as installed, and the
     * first one has an empty Package. */
    assert_int_equal(dpkg_status_d_parse(text, size, &packages, &count, errbuf,
                                         sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "line 1: installed package has no "
                                   "Package name"));
    free(text);
}

static void distroless_status_d_fixtures_parse(void **state)
{
    (void)state;
    static const char *const names[] = {"dash", "libsqlite3-0", "netbase"};
    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);

    for (size_t i = 0; i < 3; i++) {
        char relative[128];
        snprintf(relative, sizeof(relative), "pkgdb/dpkg-status.d/%s",
                 names[i]);
        size_t size = 0;
        char *text = read_fixture(relative, &size);
        char path[128];
        snprintf(path, sizeof(path), "var/lib/dpkg/status.d/%s", names[i]);
        assert_int_equal(rootfs_layer_put_file(layer, path, text, size, errbuf,
                                               sizeof(errbuf)),
                         ROOTFS_OK);
    }
    size_t size = 0;
    char *md5sums =
        read_fixture("pkgdb/dpkg-status.d/libsqlite3-0.md5sums", &size);
    assert_int_equal(rootfs_layer_put_file(
                         layer, "var/lib/dpkg/status.d/libsqlite3-0.md5sums",
                         md5sums, size, errbuf, sizeof(errbuf)),
                     ROOTFS_OK);
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count), DPKG_INVENTORY_OK);
    assert_int_equal(count, 3);
    assert_package(&packages[0], "dash", "0.5.8-2.4", "amd64", NULL, NULL);
    assert_package(&packages[1], "libsqlite3-0", "3.34.1-3", "arm64", "sqlite3",
                   NULL);
    assert_package(&packages[2], "netbase", "5.4", "all", NULL, NULL);
    dpkg_packages_free(packages, count);
    rootfs_free(fs);
}

static void inventory_caps_packages_in_all_files(void **state)
{
    (void)state;
    size_t half = DPKG_MAX_PACKAGES / 2 + 1;
    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);

    size_t size = 0;
    char *text = installed_stanzas("a", half, &size);
    assert_int_equal(rootfs_layer_put_file(layer, "var/lib/dpkg/status", text,
                                           size, errbuf, sizeof(errbuf)),
                     ROOTFS_OK);
    text = installed_stanzas("b", half, &size);
    assert_int_equal(rootfs_layer_put_file(layer, "var/lib/dpkg/status.d/b",
                                           text, size, errbuf, sizeof(errbuf)),
                     ROOTFS_OK);
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count),
                     DPKG_INVENTORY_UNREADABLE);
    assert_int_equal(count, DPKG_MAX_PACKAGES);
    assert_non_null(strstr(errbuf, "var/lib/dpkg/status.d/b: more than "
                                   "100000 installed packages in all "
                                   "(DPKG_MAX_PACKAGES)"));
    dpkg_packages_free(packages, count);
    rootfs_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_installed_fields),
        cmocka_unit_test(keeps_packages_with_files_on_disk),
        cmocka_unit_test(folds_continuation_lines),
        cmocka_unit_test(accepts_crlf_comments_and_any_case),
        cmocka_unit_test(empty_text_has_no_packages),
        cmocka_unit_test(rejects_installed_stanza_without_version),
        cmocka_unit_test(rejects_installed_stanza_without_package),
        cmocka_unit_test(rejects_truncated_last_stanza),
        cmocka_unit_test(rejects_malformed_lines_and_fields),
        cmocka_unit_test(rejects_binary_garbage),
        cmocka_unit_test(rejects_line_over_limit),
        cmocka_unit_test(rejects_stanza_count_over_limit),
        cmocka_unit_test(rejects_package_count_over_limit),
        cmocka_unit_test(rejects_value_over_limit),
        cmocka_unit_test(status_d_entry_without_status_is_installed),
        cmocka_unit_test(inventory_merges_status_and_status_d),
        cmocka_unit_test(inventory_without_database_is_not_found),
        cmocka_unit_test(inventory_with_empty_status_is_ok),
        cmocka_unit_test(inventory_reports_unreadable_file_and_keeps_others),
        cmocka_unit_test(inventory_flags_link_to_unkept_file),
        cmocka_unit_test(debian_12_status_matches_packages_tsv),
        cmocka_unit_test(ubuntu_status_skips_config_files_stanza),
        cmocka_unit_test(syft_status_fixtures_parse),
        cmocka_unit_test(empty_stanza_in_status_d_is_an_error),
        cmocka_unit_test(distroless_status_d_fixtures_parse),
        cmocka_unit_test(inventory_caps_packages_in_all_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
