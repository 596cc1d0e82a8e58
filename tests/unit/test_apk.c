/*
 * The apk installed database: parsing, its caps, the inventory from a
 * root filesystem model, the fixture databases under
 * $IMGASSURE_FIXTURES/pkgdb/apk/, and the database inside the alpine:3.10
 * docker-save archive read through the layer walk.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <jansson.h>
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

#include "apk.h"
#include "layer_walk.h"
#include "rootfs.h"
#include "version.h"

static char errbuf[2048];

static struct installed_package *parse_ok(const char *text, size_t size,
                                          size_t *count)
{
    struct installed_package *packages = NULL;

    if (apk_installed_parse(text, size, &packages, count, errbuf,
                            sizeof(errbuf)) != 0)
        fail_msg("parse failed: %s", errbuf);
    return packages;
}

static void parse_fails(const char *text, size_t size,
                        const char *expected_message)
{
    struct installed_package *packages = NULL;
    size_t count = 7;

    assert_int_equal(apk_installed_parse(text, size, &packages, &count, errbuf,
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

/* Returns a malloc'd buffer of count copies of unit, and its size in
 * *size. */
static char *repeat(const char *unit, size_t count, size_t *size)
{
    size_t length = strlen(unit);
    char *text = malloc(length * count + 1);
    assert_non_null(text);

    for (size_t i = 0; i < count; i++)
        memcpy(text + i * length, unit, length);
    text[length * count] = '\0';
    *size = length * count;
    return text;
}

/* Parsing ------------------------------------------------------------ */

static void reads_package_fields(void **state)
{
    (void)state;
    const char *text = "C:Q1p78yvTLG094tHE1+dToJGbmYzQE=\n"
                       "P:libcrypto1.1\n"
                       "V:1.1.1d-r2\n"
                       "A:x86_64\n"
                       "S:1175\n"
                       "I:4096\n"
                       "T:Crypto library from openssl\n"
                       "U:https://www.openssl.org\n"
                       "L:OpenSSL\n"
                       "o:openssl\n"
                       "m:Timo Teras <timo.teras@iki.fi>\n"
                       "t:1575749004\n"
                       "c:97b1c2842faa3bfa30f5811ffbf16d5ff9f1a479\n"
                       "D:so:libc.musl-x86_64.so.1\n"
                       "p:so:libcrypto.so.1.1=1.1\n"
                       "F:lib\n"
                       "R:libcrypto.so.1.1\n"
                       "a:0:0:755\n"
                       "Z:Q1Kja2+POZKxEkUOZqwSjC6kmaED4=\n"
                       "\n"
                       "P:musl\n"
                       "V:1.1.22-r3\n"
                       "A:x86_64\n"
                       "o:musl\n"
                       "\n";
    size_t count = 0;
    struct installed_package *packages = parse_ok(text, strlen(text), &count);

    assert_int_equal(count, 2);
    assert_package(&packages[0], "libcrypto1.1", "1.1.1d-r2", "x86_64",
                   "openssl", "1.1.1d-r2");
    assert_package(&packages[1], "musl", "1.1.22-r3", "x86_64", "musl",
                   "1.1.22-r3");
    apk_packages_free(packages, count);
}

static void missing_origin_and_arch_stay_empty(void **state)
{
    (void)state;
    const char *text = "P:hand-made\nV:1.0-r0\nA:\n";
    size_t count = 0;
    struct installed_package *packages = parse_ok(text, strlen(text), &count);

    assert_int_equal(count, 1);
    assert_package(&packages[0], "hand-made", "1.0-r0", NULL, NULL, NULL);
    apk_packages_free(packages, count);
}

static void last_stanza_needs_no_blank_line(void **state)
{
    (void)state;
    const char *text = "P:a\nV:1-r0\n\nP:b\nV:2-r0";
    size_t count = 0;
    struct installed_package *packages = parse_ok(text, strlen(text), &count);

    assert_int_equal(count, 2);
    assert_string_equal(packages[1].name, "b");
    assert_string_equal(packages[1].version, "2-r0");
    apk_packages_free(packages, count);
}

static void accepts_blank_lines_and_crlf(void **state)
{
    (void)state;
    const char *text = "\n\r\nP:a\r\nV:1-r0\r\n\r\n\r\n\nP:b\r\nV:2-r0\r\n";
    size_t count = 0;
    struct installed_package *packages = parse_ok(text, strlen(text), &count);

    assert_int_equal(count, 2);
    assert_package(&packages[0], "a", "1-r0", NULL, NULL, NULL);
    assert_package(&packages[1], "b", "2-r0", NULL, NULL, NULL);
    apk_packages_free(packages, count);
}

static void unknown_keys_are_skipped(void **state)
{
    (void)state;
    const char *text = "g:tag1 tag2\nP:a\nx:future field\nV:1-r0\nq:\n";
    size_t count = 0;
    struct installed_package *packages = parse_ok(text, strlen(text), &count);

    assert_int_equal(count, 1);
    assert_package(&packages[0], "a", "1-r0", NULL, NULL, NULL);
    apk_packages_free(packages, count);
}

static void empty_database_has_no_packages(void **state)
{
    (void)state;
    size_t count = 3;
    struct installed_package *packages = parse_ok("", 0, &count);

    assert_null(packages);
    assert_int_equal(count, 0);
    packages = parse_ok("\n\n", 2, &count);
    assert_null(packages);
    assert_int_equal(count, 0);
}

static void rejects_stanza_without_version(void **state)
{
    (void)state;
    const char *text = "P:a\nV:1-r0\n\nP:broken\nA:x86_64\n\nP:c\nV:1\n";

    parse_fails(text, strlen(text), "line 4: package broken has no version");
}

static void rejects_stanza_without_name(void **state)
{
    (void)state;
    const char *text = "C:Q1abc=\nV:1-r0\n";

    parse_fails(text, strlen(text), "line 1: package has no name");
}

static void rejects_line_that_is_not_a_field(void **state)
{
    (void)state;
    const char *text = "P:a\nV:1-r0\nnot a field\n";

    parse_fails(text, strlen(text), "line 3: expected \"K:value\"");
    parse_fails("P:a\nx\n", 6, "line 2: expected \"K:value\"");
    parse_fails("P:a\n  \n", 7, "line 2: expected \"K:value\"");
}

static void rejects_repeated_field(void **state)
{
    (void)state;
    const char *text = "P:a\nV:1-r0\nP:b\n";

    parse_fails(text, strlen(text), "line 3: P: appears twice");
}

static void rejects_blank_or_control_byte_in_value(void **state)
{
    (void)state;
    parse_fails("P:two words\nV:1\n", 16, "line 1: P: value contains a blank");
    parse_fails("P:a\nV:1\to\n", 10, "line 2: V: value contains a blank");
    parse_fails("P:a\nV:1\nA:\x1b"
                "x\n",
                13, "line 3: A: value contains");
}

static void rejects_nul_byte(void **state)
{
    (void)state;
    const char text[] = "P:a\nV:1-r0\nT:x\0y\n";

    parse_fails(text, sizeof(text) - 1, "line 3: NUL byte");
}

/* Caps --------------------------------------------------------------- */

static void line_cap_is_enforced(void **state)
{
    (void)state;
    size_t filler_size = 0;
    char *filler = repeat("x", APK_MAX_LINE_BYTES - 2, &filler_size);
    size_t size = filler_size + 32;
    char *text = malloc(size);
    assert_non_null(text);

    /* A T: line of exactly APK_MAX_LINE_BYTES bytes is accepted. */
    int length = snprintf(text, size, "P:a\nV:1\nT:%s\n", filler);
    size_t count = 0;
    struct installed_package *packages = parse_ok(text, (size_t)length, &count);
    assert_int_equal(count, 1);
    apk_packages_free(packages, count);

    length = snprintf(text, size, "P:a\nV:1\nT:%sx\n", filler);
    parse_fails(text, (size_t)length, "line 3: longer than 262144 bytes");
    free(text);
    free(filler);
}

static void value_cap_is_enforced(void **state)
{
    (void)state;
    size_t name_size = 0;
    char *name = repeat("n", APK_MAX_VALUE_BYTES, &name_size);
    char text[APK_MAX_VALUE_BYTES + 32];

    int length = snprintf(text, sizeof(text), "P:%s\nV:1\n", name);
    size_t count = 0;
    struct installed_package *packages = parse_ok(text, (size_t)length, &count);
    assert_int_equal(count, 1);
    assert_int_equal(strlen(packages[0].name), APK_MAX_VALUE_BYTES);
    apk_packages_free(packages, count);

    length = snprintf(text, sizeof(text), "P:a\nV:1%s\n", name);
    parse_fails(text, (size_t)length,
                "line 2: V: value is longer than 1024 bytes");
    free(name);
}

static void stanza_cap_is_enforced(void **state)
{
    (void)state;
    size_t size = 0;
    char *text = repeat("P:a\nV:1\n\n", APK_MAX_STANZAS, &size);
    size_t count = 0;
    struct installed_package *packages = parse_ok(text, size, &count);
    assert_int_equal(count, APK_MAX_STANZAS);
    apk_packages_free(packages, count);
    free(text);

    text = repeat("P:a\nV:1\n\n", APK_MAX_STANZAS + 1, &size);
    parse_fails(text, size, "more than 100000 stanzas (APK_MAX_STANZAS)");
    free(text);
}

static void line_count_cap_is_enforced(void **state)
{
    (void)state;
    size_t size = 0;
    char *text = repeat("\n", APK_MAX_LINES, &size);
    size_t count = 0;
    struct installed_package *packages = parse_ok(text, size, &count);
    assert_int_equal(count, 0);
    apk_packages_free(packages, count);
    free(text);

    text = repeat("\n", APK_MAX_LINES + 1, &size);
    parse_fails(text, size, "line 10000001: more than 10000000 lines");
    free(text);
}

/* Inventory from a model ---------------------------------------------- */

static void put_file(struct rootfs_layer *layer, const char *path,
                     const char *text)
{
    char *data = strdup(text);
    assert_non_null(data);
    assert_int_equal(rootfs_layer_put_file(layer, path, data, strlen(text),
                                           errbuf, sizeof(errbuf)),
                     ROOTFS_OK);
}

static void put_symlink(struct rootfs_layer *layer, const char *path,
                        const char *target)
{
    assert_int_equal(
        rootfs_layer_put_symlink(layer, path, target, errbuf, sizeof(errbuf)),
        ROOTFS_OK);
}

static int fs_setup(void **state)
{
    *state = rootfs_new(NULL);
    return *state ? 0 : -1;
}

static int fs_teardown(void **state)
{
    rootfs_free(*state);
    return 0;
}

static struct rootfs_layer *layer_open(struct rootfs *fs)
{
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    return layer;
}

static enum apk_inventory_result inventory(const struct rootfs *fs,
                                           struct installed_package **packages,
                                           size_t *count)
{
    return apk_inventory_from_rootfs(fs, packages, count, errbuf,
                                     sizeof(errbuf));
}

static void inventory_sorts_and_removes_repeats(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "lib/apk/db/installed",
             "P:zlib\nV:1.2.11-r1\nA:x86_64\no:zlib\n\n"
             "P:musl\nV:1.1.22-r3\nA:x86_64\no:musl\n\n"
             "P:busybox\nV:1.30.1-r3\nA:x86_64\n\n"
             "P:musl\nV:1.1.22-r3\nA:x86_64\no:musl\n");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count), APK_INVENTORY_OK);
    assert_int_equal(count, 3);
    assert_package(&packages[0], "busybox", "1.30.1-r3", "x86_64", NULL, NULL);
    assert_package(&packages[1], "musl", "1.1.22-r3", "x86_64", "musl",
                   "1.1.22-r3");
    assert_package(&packages[2], "zlib", "1.2.11-r1", "x86_64", "zlib",
                   "1.2.11-r1");
    apk_packages_free(packages, count);
}

static void inventory_without_database_is_not_found(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "etc/os-release", "ID=alpine\n");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 5;
    assert_int_equal(inventory(fs, &packages, &count), APK_INVENTORY_NOT_FOUND);
    assert_null(packages);
    assert_int_equal(count, 0);
    assert_non_null(strstr(errbuf, "no apk database"));
}

static void inventory_reads_usr_lib_database(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "usr/lib/apk/db/installed",
             "P:wolfi-baselayout\nV:20230201-r7\nA:x86_64\n");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count), APK_INVENTORY_OK);
    assert_int_equal(count, 1);
    assert_string_equal(packages[0].name, "wolfi-baselayout");
    apk_packages_free(packages, count);
}

static void inventory_prefers_lib_database(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "lib/apk/db/installed", "P:from-lib\nV:1-r0\n");
    put_file(layer, "usr/lib/apk/db/installed", "P:from-usr\nV:1-r0\n");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count), APK_INVENTORY_OK);
    assert_int_equal(count, 1);
    assert_string_equal(packages[0].name, "from-lib");
    apk_packages_free(packages, count);
}

static void inventory_follows_merged_usr_link(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_symlink(layer, "lib", "usr/lib");
    put_file(layer, "usr/lib/apk/db/installed", "P:a\nV:1-r0\n");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count), APK_INVENTORY_OK);
    assert_int_equal(count, 1);
    apk_packages_free(packages, count);
}

static void inventory_reports_invalid_database(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "lib/apk/db/installed", "P:a\nV:1-r0\n\nP:b\n");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count),
                     APK_INVENTORY_UNREADABLE);
    assert_null(packages);
    assert_int_equal(count, 0);
    assert_string_equal(errbuf, "lib/apk/db/installed: line 4: package b "
                                "has no version (no V: line)");
}

static void inventory_reports_symlink_loop(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_symlink(layer, "lib/apk/db/installed", "installed2");
    put_symlink(layer, "lib/apk/db/installed2", "installed");
    rootfs_layer_commit(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count),
                     APK_INVENTORY_UNREADABLE);
    assert_null(packages);
    assert_non_null(strstr(errbuf, "lib/apk/db/installed: symbolic link"));
}

/* Fixtures ------------------------------------------------------------ */

/* Writes the path of a fixture into out, or skips the test when the
 * fixtures are not there. */
static void fixture_path(char *out, size_t size, const char *relative)
{
    const char *root = getenv("IMGASSURE_FIXTURES");
    if (!root || !*root)
        root = "../shared/fixtures";
    snprintf(out, size, "%s/%s", root, relative);

    if (access(out, R_OK) != 0) {
        print_message("skipped: fixture %s not found (set "
                      "IMGASSURE_FIXTURES to the fixtures folder)\n",
                      out);
        skip();
    }
}

/* Reads a whole file into a malloc'd buffer. */
static char *file_read(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        fail_msg("cannot open %s", path);

    size_t capacity = 65536;
    char *data = malloc(capacity);
    assert_non_null(data);
    *size = 0;
    for (;;) {
        size_t got = fread(data + *size, 1, capacity - *size, file);
        if (got == 0)
            break;
        *size += got;
        if (*size == capacity) {
            capacity *= 2;
            data = realloc(data, capacity);
            assert_non_null(data);
        }
    }
    assert_false(ferror(file));
    fclose(file);
    return data;
}

/* What each database under pkgdb/apk/ holds, read by hand from the files:
 * the package count and one package in full. expected_error is set for a
 * file the parser must reject. */
static const struct apk_fixture {
    const char *name;
    size_t count;
    size_t index; /* of the package checked in full, in file order */
    const char *package;
    const char *version;
    const char *origin;
    const char *expected_error;
} apk_fixtures[] = {
    {"alpine-3.16-base.installed", 14, 6, "libcrypto1.1", "1.1.1q-r0",
     "openssl", NULL},
    {"syft-multiple-1.installed", 4, 2, "musl", "1.2.4_git20230717-r4", "musl",
     NULL},
    {"syft-pkg-coverage.installed", 2, 1, "musl-utils", "1.1.24-r2", "musl",
     NULL},
    {"trivy-alpine-3.4-mixed.installed", 0, 0, NULL, NULL, NULL,
     "line 23: package invalidPackageWithoutAVersion has no version"},
};

static const struct apk_fixture *fixture_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(apk_fixtures) / sizeof(apk_fixtures[0]);
         i++) {
        if (strcmp(apk_fixtures[i].name, name) == 0)
            return &apk_fixtures[i];
    }
    return NULL;
}

static void fixture_check(const char *dir, const struct apk_fixture *fixture)
{
    char path[8192];
    snprintf(path, sizeof(path), "%s/%s", dir, fixture->name);
    size_t size = 0;
    char *text = file_read(path, &size);

    if (fixture->expected_error) {
        parse_fails(text, size, fixture->expected_error);
        free(text);
        return;
    }

    size_t count = 0;
    struct installed_package *packages = parse_ok(text, size, &count);
    assert_int_equal(count, fixture->count);
    assert_package(&packages[fixture->index], fixture->package,
                   fixture->version, "x86_64", fixture->origin,
                   fixture->version);
    for (size_t i = 0; i < count; i++) {
        if (!version_valid(VERSION_SCHEME_APK, packages[i].version))
            fail_msg("%s: %s has an invalid version %s", fixture->name,
                     packages[i].name, packages[i].version);
    }
    apk_packages_free(packages, count);
    free(text);
}

static void every_apk_fixture_parses_as_expected(void **state)
{
    (void)state;
    char dir[4096];
    fixture_path(dir, sizeof(dir), "pkgdb/apk");

    DIR *listing = opendir(dir);
    assert_non_null(listing);
    size_t checked = 0;
    for (;;) {
        struct dirent *entry = readdir(listing);
        if (entry == NULL)
            break;
        if (entry->d_name[0] == '.')
            continue;
        const struct apk_fixture *fixture = fixture_lookup(entry->d_name);
        if (!fixture)
            fail_msg("%s/%s has no expectations in this test", dir,
                     entry->d_name);
        fixture_check(dir, fixture);
        checked++;
    }
    closedir(listing);
    assert_int_equal(checked, sizeof(apk_fixtures) / sizeof(apk_fixtures[0]));
}

static void alpine_3_16_fixture_lists_base_packages(void **state)
{
    (void)state;
    char path[4096];
    fixture_path(path, sizeof(path), "pkgdb/apk/alpine-3.16-base.installed");
    size_t size = 0;
    char *text = file_read(path, &size);

    size_t count = 0;
    struct installed_package *packages = parse_ok(text, size, &count);
    assert_int_equal(count, 14);
    assert_package(&packages[0], "alpine-baselayout-data", "3.2.0-r22",
                   "x86_64", "alpine-baselayout", "3.2.0-r22");
    assert_package(&packages[1], "musl", "1.2.3-r0", "x86_64", "musl",
                   "1.2.3-r0");
    assert_package(&packages[2], "busybox", "1.35.0-r17", "x86_64", "busybox",
                   "1.35.0-r17");
    assert_package(&packages[9], "zlib", "1.2.12-r3", "x86_64", "zlib",
                   "1.2.12-r3");
    assert_package(&packages[10], "apk-tools", "2.12.9-r3", "x86_64",
                   "apk-tools", "2.12.9-r3");
    assert_package(&packages[13], "libc-utils", "0.7.2-r3", "x86_64",
                   "libc-dev", "0.7.2-r3");
    apk_packages_free(packages, count);
    free(text);
}

/* Copies the member called name of the (compressed) tar at path into a
 * temporary file, open and rewound. */
static FILE *archive_member(const char *path, const char *name)
{
    struct archive *reader = archive_read_new();
    archive_read_support_filter_all(reader);
    archive_read_support_format_tar(reader);
    assert_int_equal(archive_read_open_filename(reader, path, 65536),
                     ARCHIVE_OK);

    FILE *copy = NULL;
    struct archive_entry *entry;
    while (archive_read_next_header(reader, &entry) == ARCHIVE_OK) {
        if (strcmp(archive_entry_pathname(entry), name) != 0)
            continue;
        copy = tmpfile();
        assert_non_null(copy);
        char buffer[65536];
        for (;;) {
            la_ssize_t got = archive_read_data(reader, buffer, sizeof(buffer));
            assert_true(got >= 0);
            if (got == 0)
                break;
            assert_int_equal(fwrite(buffer, 1, (size_t)got, copy), (size_t)got);
        }
        rewind(copy);
        break;
    }
    archive_read_free(reader);
    if (!copy)
        fail_msg("%s has no member %s", path, name);
    return copy;
}

/* Returns the first layer that manifest.json of a docker-save archive
 * lists, as a malloc'd string. */
static char *first_layer(const char *path)
{
    FILE *manifest = archive_member(path, "manifest.json");
    json_error_t error;
    json_t *root = json_loadf(manifest, 0, &error);
    fclose(manifest);
    if (!root)
        fail_msg("manifest.json of %s: %s", path, error.text);

    json_t *layers = json_object_get(json_array_get(root, 0), "Layers");
    assert_int_equal(json_array_size(layers), 1);
    char *layer = strdup(json_string_value(json_array_get(layers, 0)));
    assert_non_null(layer);
    json_decref(root);
    return layer;
}

static void alpine_docker_save_lists_its_packages(void **state)
{
    struct rootfs *fs = *state;
    char path[4096];
    fixture_path(path, sizeof(path), "images/docker-save/alpine-3.10.tar.gz");

    char *layer_name = first_layer(path);
    FILE *layer = archive_member(path, layer_name);
    free(layer_name);
    assert_int_equal(
        layer_walk_fd(fs, fileno(layer), NULL, errbuf, sizeof(errbuf)),
        LAYER_WALK_OK);
    fclose(layer);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(inventory(fs, &packages, &count), APK_INVENTORY_OK);

    /* Sorted by name: 14 packages from alpine-baselayout to zlib. */
    assert_int_equal(count, 14);
    assert_package(&packages[0], "alpine-baselayout", "3.1.2-r0", "x86_64",
                   "alpine-baselayout", "3.1.2-r0");
    assert_package(&packages[2], "apk-tools", "2.10.4-r2", "x86_64",
                   "apk-tools", "2.10.4-r2");
    assert_package(&packages[3], "busybox", "1.30.1-r3", "x86_64", "busybox",
                   "1.30.1-r3");
    assert_package(&packages[6], "libcrypto1.1", "1.1.1d-r2", "x86_64",
                   "openssl", "1.1.1d-r2");
    assert_package(&packages[8], "libtls-standalone", "2.9.1-r0", "x86_64",
                   "libtls-standalone", "2.9.1-r0");
    assert_package(&packages[9], "musl", "1.1.22-r3", "x86_64", "musl",
                   "1.1.22-r3");
    assert_package(&packages[13], "zlib", "1.2.11-r1", "x86_64", "zlib",
                   "1.2.11-r1");
    apk_packages_free(packages, count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_package_fields),
        cmocka_unit_test(missing_origin_and_arch_stay_empty),
        cmocka_unit_test(last_stanza_needs_no_blank_line),
        cmocka_unit_test(accepts_blank_lines_and_crlf),
        cmocka_unit_test(unknown_keys_are_skipped),
        cmocka_unit_test(empty_database_has_no_packages),
        cmocka_unit_test(rejects_stanza_without_version),
        cmocka_unit_test(rejects_stanza_without_name),
        cmocka_unit_test(rejects_line_that_is_not_a_field),
        cmocka_unit_test(rejects_repeated_field),
        cmocka_unit_test(rejects_blank_or_control_byte_in_value),
        cmocka_unit_test(rejects_nul_byte),
        cmocka_unit_test(line_cap_is_enforced),
        cmocka_unit_test(value_cap_is_enforced),
        cmocka_unit_test(stanza_cap_is_enforced),
        cmocka_unit_test(line_count_cap_is_enforced),
        cmocka_unit_test_setup_teardown(inventory_sorts_and_removes_repeats,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(inventory_without_database_is_not_found,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(inventory_reads_usr_lib_database,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(inventory_prefers_lib_database,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(inventory_follows_merged_usr_link,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(inventory_reports_invalid_database,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(inventory_reports_symlink_loop,
                                        fs_setup, fs_teardown),
        cmocka_unit_test(every_apk_fixture_parses_as_expected),
        cmocka_unit_test(alpine_3_16_fixture_lists_base_packages),
        cmocka_unit_test_setup_teardown(alpine_docker_save_lists_its_packages,
                                        fs_setup, fs_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
