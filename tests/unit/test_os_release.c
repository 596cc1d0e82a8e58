#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "os_release.h"
#include "rootfs.h"

static char errbuf[512];

static void parse_ok(const char *text, struct os_release *release)
{
    if (os_release_parse(text, strlen(text), release, errbuf, sizeof(errbuf)) !=
        0)
        fail_msg("os_release_parse: %s", errbuf);
}

static void parse_fails(const char *text, const char *expected_message)
{
    struct os_release release;

    assert_int_equal(
        os_release_parse(text, strlen(text), &release, errbuf, sizeof(errbuf)),
        -1);
    if (!strstr(errbuf, expected_message))
        fail_msg("message \"%s\" lacks \"%s\"", errbuf, expected_message);
    assert_null(release.id);
}

static void reads_the_six_fields(void **state)
{
    (void)state;
    struct os_release release;
    parse_ok("NAME=\"Ubuntu\"\n"
             "VERSION=\"20.04 LTS (Focal Fossa)\"\n"
             "ID=ubuntu\n"
             "ID_LIKE=debian\n"
             "PRETTY_NAME=\"Ubuntu 20.04 LTS\"\n"
             "VERSION_ID=\"20.04\"\n"
             "VERSION_CODENAME=focal\n",
             &release);

    assert_string_equal(release.name, "Ubuntu");
    assert_string_equal(release.id, "ubuntu");
    assert_string_equal(release.id_like, "debian");
    assert_string_equal(release.pretty_name, "Ubuntu 20.04 LTS");
    assert_string_equal(release.version_id, "20.04");
    assert_string_equal(release.version_codename, "focal");
    assert_int_equal(release.ignored_lines, 0);
    os_release_clear(&release);
}

static void double_quotes_honour_shell_escapes(void **state)
{
    (void)state;
    struct os_release release;
    parse_ok("PRETTY_NAME=\"say \\\"hi\\\" \\$HOME \\`id\\` a\\\\b\"\n"
             "NAME=\"other \\n escapes stay\"\n",
             &release);

    assert_string_equal(release.pretty_name, "say \"hi\" $HOME `id` a\\b");
    assert_string_equal(release.name, "other \\n escapes stay");
    os_release_clear(&release);
}

static void single_quotes_take_text_literally(void **state)
{
    (void)state;
    struct os_release release;
    parse_ok("NAME='Debian \\\"GNU\\\"/Linux'\nID='debian'\n", &release);

    assert_string_equal(release.name, "Debian \\\"GNU\\\"/Linux");
    assert_string_equal(release.id, "debian");
    os_release_clear(&release);
}

static void bare_values_run_to_end_of_line(void **state)
{
    (void)state;
    struct os_release release;
    parse_ok("ID=fedora   \n"
             "NAME=Two\\ words\n"
             "VERSION_ID=\n"
             "PRETTY_NAME=Fedora Linux 36\n",
             &release);

    assert_string_equal(release.id, "fedora");
    assert_string_equal(release.name, "Two words");
    assert_string_equal(release.version_id, "");
    assert_string_equal(release.pretty_name, "Fedora Linux 36");
    os_release_clear(&release);
}

static void skips_comments_blanks_and_other_lines(void **state)
{
    (void)state;
    struct os_release release;
    parse_ok("# a comment\n"
             "\n"
             "   \t\n"
             "  ID=indented\n"
             "/ # cat /etc/os-release\n"
             "1ID=digit-first\n"
             "ID x\n"
             "VERSION_ID=\"1\" # trailing comment\n"
             "UNKNOWN_KEY=\"ignored\"\n",
             &release);

    assert_string_equal(release.id, "indented");
    assert_string_equal(release.version_id, "1");
    assert_int_equal(release.ignored_lines, 3);
    os_release_clear(&release);
}

static void repeated_key_keeps_last_value(void **state)
{
    (void)state;
    struct os_release release;
    parse_ok("ID=first\nID=\"second\"\n", &release);

    assert_string_equal(release.id, "second");
    os_release_clear(&release);
}

static void accepts_crlf_and_missing_final_newline(void **state)
{
    (void)state;
    struct os_release release;
    parse_ok("ID=\"windows-edited\"\r\nVERSION_ID=3\r\nNAME=last", &release);

    assert_string_equal(release.id, "windows-edited");
    assert_string_equal(release.version_id, "3");
    assert_string_equal(release.name, "last");
    os_release_clear(&release);
}

static void empty_file_has_no_fields(void **state)
{
    (void)state;
    struct os_release release;
    parse_ok("", &release);

    assert_null(release.id);
    assert_null(release.version_id);
    os_release_clear(&release);
}

static void rejects_unclosed_quote_with_line(void **state)
{
    (void)state;
    parse_fails("ID=debian\nNAME=\"Debian\n", "line 2: the double quote");
    parse_fails("ID='debian\n", "line 1: the single quote");
}

static void rejects_concatenated_strings(void **state)
{
    (void)state;
    parse_fails("ID=\"deb\"ian\n", "line 1: text after the closing quote");
    parse_fails("\nID='a' 'b'\n", "line 2: text after the closing quote");
}

static void rejects_control_bytes(void **state)
{
    (void)state;
    static const char text[] = "ID=debian\nNAME=\"a\x01\"\n";
    struct os_release release;

    parse_fails(text, "line 2: control byte 0x01");

    static const char with_nul[] = "ID=debian\0VERSION_ID=1\n";
    assert_int_equal(os_release_parse(with_nul, sizeof(with_nul) - 1, &release,
                                      errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "line 1: control byte 0x00"));
}

static void rejects_file_over_size_limit(void **state)
{
    (void)state;
    struct os_release release;
    size_t size = OS_RELEASE_MAX_BYTES + 1;
    char *text = malloc(size);
    assert_non_null(text);
    memset(text, '#', size);

    assert_int_equal(
        os_release_parse(text, size, &release, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "over the limit"));

    memcpy(text, "ID=x\n", 5);
    assert_int_equal(
        os_release_parse(text, size - 1, &release, errbuf, sizeof(errbuf)), 0);
    assert_string_equal(release.id, "x");
    os_release_clear(&release);
    free(text);
}

static void commit_files(struct rootfs *fs, const char *const *entries)
{
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);

    /* entries: kind ("f" or "l"), path, contents or target; NULL ends */
    for (size_t i = 0; entries[i]; i += 3) {
        enum rootfs_status status;
        if (entries[i][0] == 'f') {
            char *data = strdup(entries[i + 2]);
            assert_non_null(data);
            status =
                rootfs_layer_put_file(layer, entries[i + 1], data, strlen(data),
                                      errbuf, sizeof(errbuf));
        } else {
            status = rootfs_layer_put_symlink(
                layer, entries[i + 1], entries[i + 2], errbuf, sizeof(errbuf));
        }
        assert_int_equal(status, ROOTFS_OK);
    }
    rootfs_layer_commit(layer);
}

static enum os_release_result from_files(const char *const *entries,
                                         struct os_release *release)
{
    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    commit_files(fs, entries);

    enum os_release_result result =
        os_release_from_rootfs(fs, release, errbuf, sizeof(errbuf));
    rootfs_free(fs);
    return result;
}

static void image_prefers_etc_then_usr_lib(void **state)
{
    (void)state;
    struct os_release release;

    const char *const both[] = {"f", "etc/os-release",     "ID=etc",
                                "f", "usr/lib/os-release", "ID=usr",
                                NULL};
    assert_int_equal(from_files(both, &release), OS_RELEASE_FOUND);
    assert_string_equal(release.id, "etc");
    os_release_clear(&release);

    const char *const usr_only[] = {"f", "usr/lib/os-release", "ID=usr", NULL};
    assert_int_equal(from_files(usr_only, &release), OS_RELEASE_FOUND);
    assert_string_equal(release.id, "usr");
    os_release_clear(&release);

    const char *const dangling[] = {"l", "etc/os-release",     "../nowhere",
                                    "f", "usr/lib/os-release", "ID=usr",
                                    NULL};
    assert_int_equal(from_files(dangling, &release), OS_RELEASE_FOUND);
    assert_string_equal(release.id, "usr");
    os_release_clear(&release);

    const char *const none[] = {"f", "etc/lsb-release", "DISTRIB_ID=x", NULL};
    assert_int_equal(from_files(none, &release), OS_RELEASE_NOT_FOUND);
    assert_null(release.id);
}

static void invalid_etc_file_does_not_fall_back(void **state)
{
    (void)state;
    struct os_release release;
    const char *const entries[] = {"f", "etc/os-release",     "ID=\"open",
                                   "f", "usr/lib/os-release", "ID=usr",
                                   NULL};

    assert_int_equal(from_files(entries, &release), OS_RELEASE_INVALID);
    assert_non_null(strstr(errbuf, "etc/os-release: line 1"));
    assert_null(release.id);
}

/* Fixtures ------------------------------------------------------------ */

/* Expected ID and VERSION_ID of each fixture file, NULL where the file
 * sets no such key. Files such as redhat-release or debian_version are not
 * os-release files and set neither. */
static const struct {
    const char *path;
    const char *id;
    const char *version_id;
} expectations[] = {
    {"osv-scanner/alpine-3.18-alpine-release", NULL, NULL},
    {"osv-scanner/alpine-3.18-os-release", "alpine", "3.18.1"},
    {"syft/almalinux/from-os-release/etc/os-release", "almalinux", "8.4"},
    {"syft/almalinux/from-redhat-release/etc/redhat-release", NULL, NULL},
    {"syft/alpine/etc/os-release", "alpine", "3.11.6"},
    {"syft/amazon/etc/os-release", "amzn", "2"},
    {"syft/arch/etc/os-release", "arch", NULL},
    {"syft/centos/usr/lib/os-release", "centos", "8"},
    {"syft/centos5/etc/redhat-release", NULL, NULL},
    {"syft/centos6/etc/system-release-cpe", NULL, NULL},
    {"syft/custom/etc/os-release", "scientific", "8"},
    {"syft/debian/from-debian_version/etc/debian_version", NULL, NULL},
    {"syft/debian/from-debian_version/etc/os-release", "debian", NULL},
    {"syft/debian/from-os-release/usr/lib/os-release", "debian", "8"},
    {"syft/debian/with-point-release/etc/debian_version", NULL, NULL},
    {"syft/debian/with-point-release/etc/os-release", "debian", "13"},
    {"syft/empty/etc/os-release", NULL, NULL},
    {"syft/fedora/usr/lib/os-release", "fedora", "36"},
    {"syft/mariner/etc/os-release", "mariner", "1.0"},
    {"syft/opensuse-leap/etc/os-release", "opensuse-leap", "15.2"},
    {"syft/oraclelinux/etc/os-release", "ol", "8.3"},
    {"syft/photon/etc/os-release", "photon", "2.0"},
    {"syft/redhat/from-os-release/usr/lib/os-release", "rhel", "7.3"},
    {"syft/redhat/from-redhat-release/etc/redhat-release", NULL, NULL},
    {"syft/rockylinux/from-os-release/etc/os-release", "rocky", "8.4"},
    {"syft/rockylinux/from-redhat-release/etc/redhat-release", NULL, NULL},
    {"syft/scientific/from-os-release/etc/os-release", "scientific", "7.5"},
    {"syft/scientific/from-redhat-release/etc/redhat-release", NULL, NULL},
    {"syft/sles/etc/os-release", "sles", "15.2"},
    {"syft/ubuntu/etc/os-release", "ubuntu", "20.04"},
    {"syft/wolfi/etc/os-release", "wolfi", "20220914"},
    {"trivy-other/centos-release", NULL, NULL},
    {"trivy-other/debian_version", NULL, NULL},
    {"trivy-other/lsb-release", NULL, NULL},
    {"trivy-other/rocky-release", NULL, NULL},
    {"trivy/activestate", "activestate", "1.0"},
    {"trivy/alma", "almalinux", "9.4"},
    {"trivy/alpine", "alpine", "3.15.4"},
    {"trivy/azurelinux-3.0", "azurelinux", "3.0"},
    {"trivy/bottlerocket", "bottlerocket", "1.34.0"},
    {"trivy/centos", "centos", "7"},
    {"trivy/centos-stream", "centos", "8"},
    {"trivy/coreos", "coreos", "3.15.4"},
    {"trivy/echo", "echo", "1"},
    {"trivy/fedora", "fedora", "42"},
    {"trivy/mariner-1.0", "mariner", "1.0"},
    {"trivy/mariner-2.0", "mariner", "2.0"},
    {"trivy/minimos", "minimos", "20241031"},
    {"trivy/no-id", NULL, "3.15.4"},
    {"trivy/no-version", "alpine", NULL},
    {"trivy/opensuseleap-15.2.1", "opensuse-leap", "15.2.1"},
    {"trivy/opensuseleap-42.3", "opensuse", "42.3"},
    {"trivy/opensusetumbleweed", "opensuse-tumbleweed", "20220412"},
    {"trivy/oracle", "ol", "8.10"},
    {"trivy/photon", "photon", "4.0"},
    {"trivy/rhel", "rhel", "9.4"},
    {"trivy/rocky", "rocky", "9.3"},
    {"trivy/slemicro", "sle-micro", "5.3"},
    {"trivy/slemicro-rancher", "sle-micro-rancher", "5.4"},
    {"trivy/slemicro6.0", "sl-micro", "6.0"},
    {"trivy/sles", "sles", "15.3"},
    {"trivy/unknown", "unknown", "4.3.2"},
};

#define EXPECTATION_COUNT (sizeof(expectations) / sizeof(expectations[0]))

static char fixture_root[4096];
static size_t fixture_files;
static bool fixture_seen[EXPECTATION_COUNT];

static char *read_file(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        fail_msg("cannot open %s", path);

    char *data = malloc(OS_RELEASE_MAX_BYTES + 1);
    assert_non_null(data);
    *size = fread(data, 1, OS_RELEASE_MAX_BYTES + 1, file);
    fclose(file);
    return data;
}

static void assert_optional(const char *path, const char *key,
                            const char *actual, const char *expected)
{
    if (!expected && actual)
        fail_msg("%s: %s should be unset, got \"%s\"", path, key, actual);
    if (expected && (!actual || strcmp(actual, expected) != 0))
        fail_msg("%s: %s should be \"%s\", got %s%s%s", path, key, expected,
                 actual ? "\"" : "", actual ? actual : "nothing",
                 actual ? "\"" : "");
}

static void check_fixture(const char *path)
{
    const char *relative = path + strlen(fixture_root) + 1;
    size_t index = 0;
    while (index < EXPECTATION_COUNT &&
           strcmp(expectations[index].path, relative) != 0)
        index++;
    if (index == EXPECTATION_COUNT)
        fail_msg("%s has no expected ID and VERSION_ID in this test", path);
    fixture_seen[index] = true;
    fixture_files++;

    size_t size = 0;
    char *text = read_file(path, &size);
    struct os_release release;
    if (os_release_parse(text, size, &release, errbuf, sizeof(errbuf)) != 0)
        fail_msg("%s: %s", path, errbuf);
    free(text);

    assert_optional(relative, "ID", release.id, expectations[index].id);
    assert_optional(relative, "VERSION_ID", release.version_id,
                    expectations[index].version_id);
    os_release_clear(&release);
}

/* Checks every regular file under folder. */
static void check_fixture_folder(const char *folder)
{
    DIR *dir = opendir(folder);
    if (!dir)
        fail_msg("cannot list %s", folder);

    for (;;) {
        struct dirent *item = readdir(dir);
        if (!item)
            break;
        if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0)
            continue;

        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", folder, item->d_name);
        struct stat info;
        assert_int_equal(lstat(path, &info), 0);
        if (S_ISDIR(info.st_mode))
            check_fixture_folder(path);
        else if (S_ISREG(info.st_mode))
            check_fixture(path);
    }
    closedir(dir);
}

static void every_fixture_file_parses(void **state)
{
    (void)state;
    const char *root = getenv("IMGASSURE_FIXTURES");
    if (!root || !*root)
        root = "../shared/fixtures";
    snprintf(fixture_root, sizeof(fixture_root), "%s/os-release", root);
    if (access(fixture_root, R_OK) != 0) {
        print_message("skipped: %s not found (set IMGASSURE_FIXTURES to the "
                      "fixtures folder)\n",
                      fixture_root);
        skip();
    }

    check_fixture_folder(fixture_root);
    for (size_t i = 0; i < EXPECTATION_COUNT; i++) {
        if (!fixture_seen[i])
            fail_msg("fixture %s is missing", expectations[i].path);
    }
    assert_int_equal(fixture_files, EXPECTATION_COUNT);
}

static void fixture_fields_beyond_id(void **state)
{
    (void)state;
    const char *root = getenv("IMGASSURE_FIXTURES");
    if (!root || !*root)
        root = "../shared/fixtures";
    char path[4096];
    snprintf(path, sizeof(path),
             "%s/os-release/syft/debian/with-point-release/etc/os-release",
             root);
    if (access(path, R_OK) != 0) {
        print_message("skipped: %s not found\n", path);
        skip();
    }

    size_t size = 0;
    char *text = read_file(path, &size);
    struct os_release release;
    assert_int_equal(
        os_release_parse(text, size, &release, errbuf, sizeof(errbuf)), 0);
    free(text);

    assert_string_equal(release.pretty_name, "Debian GNU/Linux 13 (trixie)");
    assert_string_equal(release.name, "Debian GNU/Linux");
    assert_string_equal(release.version_codename, "trixie");
    assert_null(release.id_like);
    os_release_clear(&release);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_the_six_fields),
        cmocka_unit_test(double_quotes_honour_shell_escapes),
        cmocka_unit_test(single_quotes_take_text_literally),
        cmocka_unit_test(bare_values_run_to_end_of_line),
        cmocka_unit_test(skips_comments_blanks_and_other_lines),
        cmocka_unit_test(repeated_key_keeps_last_value),
        cmocka_unit_test(accepts_crlf_and_missing_final_newline),
        cmocka_unit_test(empty_file_has_no_fields),
        cmocka_unit_test(rejects_unclosed_quote_with_line),
        cmocka_unit_test(rejects_concatenated_strings),
        cmocka_unit_test(rejects_control_bytes),
        cmocka_unit_test(rejects_file_over_size_limit),
        cmocka_unit_test(image_prefers_etc_then_usr_lib),
        cmocka_unit_test(invalid_etc_file_does_not_fall_back),
        cmocka_unit_test(every_fixture_file_parses),
        cmocka_unit_test(fixture_fields_beyond_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
