/*
 * The root filesystem model through its change-set interface, without tar:
 * which paths are kept, symbolic link resolution inside the image root,
 * folder listings, discarded change sets, limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "rootfs.h"

static char errbuf[512];

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

static char *copy_text(const char *text)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    return copy;
}

static void put_file(struct rootfs_layer *layer, const char *path,
                     const char *text)
{
    assert_int_equal(rootfs_layer_put_file(layer, path, copy_text(text),
                                           strlen(text), errbuf,
                                           sizeof(errbuf)),
                     ROOTFS_OK);
}

static void put_symlink(struct rootfs_layer *layer, const char *path,
                        const char *target)
{
    assert_int_equal(
        rootfs_layer_put_symlink(layer, path, target, errbuf, sizeof(errbuf)),
        ROOTFS_OK);
}

static struct rootfs_layer *layer_open(struct rootfs *fs)
{
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    return layer;
}

static void assert_text(const struct rootfs *fs, const char *path,
                        const char *expected)
{
    const struct rootfs_file *file = rootfs_find(fs, path);
    if (!file)
        fail_msg("%s does not resolve to a kept file", path);
    assert_int_equal(file->size, strlen(expected));
    assert_string_equal(file->data, expected);
}

static void classify_keeps_scanner_inputs_only(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        enum rootfs_keep expected;
    } cases[] = {
        {"etc/os-release", ROOTFS_KEEP},
        {"usr/lib/os-release", ROOTFS_KEEP},
        {"os-release", ROOTFS_KEEP},
        {"etc/os-release.d", ROOTFS_SKIP},
        {"etc/xos-release", ROOTFS_SKIP},
        {"var/lib/dpkg/status", ROOTFS_KEEP},
        {"other/dpkg/status", ROOTFS_KEEP},
        {"dpkg/status", ROOTFS_KEEP},
        {"status", ROOTFS_KEEP},
        {"var/lib/dpkg/status-old", ROOTFS_SKIP},
        {"opt/pkgdb/status", ROOTFS_KEEP},
        {"var/lib/dpkg/status.d/libc6", ROOTFS_KEEP},
        {"dpkg/status.d/base-files", ROOTFS_KEEP},
        {"var/lib/dpkg/status.d/libc6.md5sums", ROOTFS_SKIP},
        {"var/lib/status.d/libc6", ROOTFS_SKIP},
        {"var/lib/dpkg/status.d/x/y", ROOTFS_SKIP},
        {"lib/apk/db/installed", ROOTFS_KEEP},
        {"usr/lib/apk/db/installed", ROOTFS_KEEP},
        {"apk/db/installed", ROOTFS_KEEP},
        {"lib/db/installed", ROOTFS_SKIP},
        {"lib/apk/db/lock", ROOTFS_SKIP},
        {"", ROOTFS_SKIP},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (rootfs_classify(cases[i].path) != cases[i].expected)
            fail_msg("rootfs_classify(\"%s\") should be %s", cases[i].path,
                     cases[i].expected == ROOTFS_KEEP ? "KEEP" : "SKIP");
    }
}

static void file_data_ends_with_nul(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "etc/os-release", "ID=x");
    rootfs_layer_commit(layer);

    const struct rootfs_file *file = rootfs_find(fs, "etc/os-release");
    assert_non_null(file);
    assert_int_equal(file->size, 4);
    assert_int_equal(file->data[4], '\0');
}

static void resolves_relative_absolute_and_escaping_links(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "usr/lib/os-release", "ID=debian");
    put_symlink(layer, "etc/os-release", "../usr/lib/os-release");
    put_symlink(layer, "etc/absolute", "/usr/lib/os-release");
    put_symlink(layer, "etc/escape", "../../../../../usr/lib/os-release");
    put_symlink(layer, "etc/dots", "/./usr//lib/./os-release");
    put_symlink(layer, "lib", "usr/lib");
    put_symlink(layer, "etc/through-dir", "../lib/../lib/os-release");
    /* usr/share is not in the model: it is followed as a plain folder */
    put_symlink(layer, "etc/untracked", "../usr/share/../lib/os-release");
    put_symlink(layer, "etc/dangling", "../nowhere/os-release");
    rootfs_layer_commit(layer);

    assert_text(fs, "etc/os-release", "ID=debian");
    assert_text(fs, "/etc/os-release", "ID=debian");
    assert_text(fs, "etc/absolute", "ID=debian");
    assert_text(fs, "etc/escape", "ID=debian");
    assert_text(fs, "etc/dots", "ID=debian");
    assert_text(fs, "lib/os-release", "ID=debian");
    assert_text(fs, "etc/through-dir", "ID=debian");
    assert_text(fs, "etc/untracked", "ID=debian");
    assert_text(fs, "../../etc/os-release", "ID=debian");

    const struct rootfs_file *file = NULL;
    assert_int_equal(rootfs_resolve(fs, "etc/dangling", &file),
                     ROOTFS_LOOKUP_NOT_FOUND);
    assert_int_equal(rootfs_resolve(fs, "usr/lib", &file),
                     ROOTFS_LOOKUP_NOT_FOUND);
    assert_int_equal(rootfs_resolve(fs, "usr/lib/os-release/x", &file),
                     ROOTFS_LOOKUP_NOT_FOUND);
    assert_int_equal(rootfs_resolve(fs, "missing", &file),
                     ROOTFS_LOOKUP_NOT_FOUND);
}

static void hop_limit_is_forty_links(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "data/os-release", "ID=end");

    /* link-0 -> link-1 -> ... -> link-40 -> data/os-release */
    char path[64];
    char target[64];
    for (int i = 0; i <= ROOTFS_MAX_SYMLINK_HOPS; i++) {
        snprintf(path, sizeof(path), "chain/link-%d", i);
        if (i == ROOTFS_MAX_SYMLINK_HOPS)
            snprintf(target, sizeof(target), "/data/os-release");
        else
            snprintf(target, sizeof(target), "link-%d", i + 1);
        put_symlink(layer, path, target);
    }
    rootfs_layer_commit(layer);

    const struct rootfs_file *file = NULL;
    assert_int_equal(rootfs_resolve(fs, "chain/link-1", &file),
                     ROOTFS_LOOKUP_FOUND);
    assert_string_equal(file->data, "ID=end");
    assert_int_equal(rootfs_resolve(fs, "chain/link-0", &file),
                     ROOTFS_LOOKUP_LOOP);
}

static void self_link_is_a_loop(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_symlink(layer, "etc/os-release", "os-release");
    put_symlink(layer, "a", "b/x");
    put_symlink(layer, "b", "a/y");
    rootfs_layer_commit(layer);

    const struct rootfs_file *file = NULL;
    assert_int_equal(rootfs_resolve(fs, "etc/os-release", &file),
                     ROOTFS_LOOKUP_LOOP);
    assert_int_equal(rootfs_resolve(fs, "a/os-release", &file),
                     ROOTFS_LOOKUP_LOOP);
    assert_null(rootfs_find(fs, "a"));
}

static void list_dir_is_sorted_and_follows_links(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "opt/dpkg/status.d/zlib1g", "z");
    put_file(layer, "opt/dpkg/status.d/base-files", "b");
    put_symlink(layer, "opt/dpkg/status.d/libc6", "base-files");
    put_file(layer, "opt/dpkg/status.d/sub/os-release", "nested");
    put_symlink(layer, "var/lib/dpkg", "/opt/dpkg");
    rootfs_layer_commit(layer);

    char **names = NULL;
    size_t count = 0;
    assert_int_equal(
        rootfs_list_dir(fs, "var/lib/dpkg/status.d", &names, &count),
        ROOTFS_LOOKUP_FOUND);
    assert_int_equal(count, 3);
    assert_string_equal(names[0], "base-files");
    assert_string_equal(names[1], "libc6");
    assert_string_equal(names[2], "zlib1g");
    rootfs_names_free(names, count);

    assert_int_equal(rootfs_list_dir(fs, "", &names, &count),
                     ROOTFS_LOOKUP_FOUND);
    assert_int_equal(count, 0);
    rootfs_names_free(names, count);

    assert_int_equal(
        rootfs_list_dir(fs, "var/lib/dpkg/status.d/zlib1g", &names, &count),
        ROOTFS_LOOKUP_NOT_FOUND);
    assert_null(names);
    assert_int_equal(rootfs_list_dir(fs, "srv", &names, &count),
                     ROOTFS_LOOKUP_NOT_FOUND);
}

static void discarded_change_set_changes_nothing(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "etc/os-release", "ID=kept");
    put_file(layer, "var/lib/dpkg/status", "Package: a");
    put_symlink(layer, "lib", "usr/lib");
    rootfs_layer_commit(layer);

    layer = layer_open(fs);
    put_file(layer, "etc/os-release", "ID=discarded");
    put_file(layer, "usr/lib/os-release", "ID=discarded");
    assert_int_equal(
        rootfs_layer_whiteout(layer, "var/lib/dpkg", errbuf, sizeof(errbuf)),
        ROOTFS_OK);
    assert_int_equal(rootfs_layer_opaque(layer, "", errbuf, sizeof(errbuf)),
                     ROOTFS_OK);
    assert_int_equal(
        rootfs_layer_put_other(layer, "lib", errbuf, sizeof(errbuf)),
        ROOTFS_OK);
    rootfs_layer_free(layer);

    assert_text(fs, "etc/os-release", "ID=kept");
    assert_text(fs, "var/lib/dpkg/status", "Package: a");
    assert_null(rootfs_find(fs, "usr/lib/os-release"));
    assert_int_equal(rootfs_file_count(fs), 2);
    assert_int_equal(rootfs_symlink_count(fs), 1);

    /* The stale marks of the discarded set do not leak into the next. */
    layer = layer_open(fs);
    put_file(layer, "usr/lib/os-release", "ID=next");
    rootfs_layer_commit(layer);
    assert_text(fs, "var/lib/dpkg/status", "Package: a");
    assert_int_equal(rootfs_symlink_count(fs), 1);
    assert_text(fs, "lib/os-release", "ID=next");
}

static void hard_link_to_symlink_copies_the_link(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "usr/lib/os-release", "ID=x");
    put_symlink(layer, "etc/link", "../usr/lib/os-release");

    int resolved = 0;
    assert_int_equal(rootfs_layer_put_hardlink(layer, "etc/os-release",
                                               "etc/link", &resolved, errbuf,
                                               sizeof(errbuf)),
                     ROOTFS_OK);
    assert_true(resolved);
    /* A link to itself keeps its own contents. */
    assert_int_equal(rootfs_layer_put_hardlink(layer, "usr/lib/os-release",
                                               "usr/lib/os-release", &resolved,
                                               errbuf, sizeof(errbuf)),
                     ROOTFS_OK);
    assert_true(resolved);
    rootfs_layer_commit(layer);

    assert_text(fs, "etc/os-release", "ID=x");
    assert_text(fs, "usr/lib/os-release", "ID=x");
    assert_int_equal(rootfs_symlink_count(fs), 2);
}

static void file_limits_name_the_file(void **state)
{
    (void)state;
    struct rootfs_limits limits;
    rootfs_limits_init(&limits);
    limits.max_file_bytes = 10;
    limits.max_total_bytes = 15;
    struct rootfs *fs = rootfs_new(&limits);
    assert_non_null(fs);

    struct rootfs_layer *layer = layer_open(fs);
    assert_int_equal(rootfs_layer_check_file(layer, "etc/os-release", 11,
                                             errbuf, sizeof(errbuf)),
                     ROOTFS_TOO_LARGE);
    assert_non_null(strstr(errbuf, "etc/os-release is 11 bytes"));
    assert_non_null(strstr(errbuf, "max_file_bytes"));

    put_file(layer, "etc/os-release", "0123456789");
    assert_int_equal(rootfs_layer_put_file(layer, "usr/lib/os-release",
                                           copy_text("012345"), 6, errbuf,
                                           sizeof(errbuf)),
                     ROOTFS_TOO_LARGE);
    assert_non_null(strstr(errbuf, "usr/lib/os-release"));
    assert_non_null(strstr(errbuf, "max_total_bytes"));
    rootfs_layer_free(layer);
    rootfs_free(fs);
}

static void symlink_target_over_limit_is_rejected(void **state)
{
    (void)state;
    struct rootfs_limits limits;
    rootfs_limits_init(&limits);
    limits.max_path_bytes = 8;
    struct rootfs *fs = rootfs_new(&limits);
    assert_non_null(fs);

    struct rootfs_layer *layer = layer_open(fs);
    put_symlink(layer, "a", "12345678");
    assert_int_equal(rootfs_layer_put_symlink(layer, "b", "123456789", errbuf,
                                              sizeof(errbuf)),
                     ROOTFS_TOO_LARGE);
    assert_non_null(strstr(errbuf, "max_path_bytes"));
    rootfs_free(fs);
}

/* Puts symbolic links "l0", "l1", ... until one is rejected, and returns
 * how many fitted. */
static size_t put_links_until_full(struct rootfs_layer *layer)
{
    char path[32];
    size_t count = 0;

    for (;; count++) {
        snprintf(path, sizeof(path), "l%zu", count);
        if (rootfs_layer_put_symlink(layer, path, "target", errbuf,
                                     sizeof(errbuf)) != ROOTFS_OK)
            return count;
    }
}

static void tree_bytes_limit_rejects_deep_paths(void **state)
{
    (void)state;
    struct rootfs_limits limits;
    rootfs_limits_init(&limits);
    limits.max_tree_bytes = 2000;
    struct rootfs *fs = rootfs_new(&limits);
    assert_non_null(fs);

    /* Sixty components cost sixty nodes, well over 2000 bytes. */
    char deep[128] = "";
    for (int i = 0; i < 60; i++)
        strcat(deep, "d/");
    strcat(deep, "status");

    struct rootfs_layer *layer = layer_open(fs);
    assert_int_equal(
        rootfs_layer_check_file(layer, deep, 1, errbuf, sizeof(errbuf)),
        ROOTFS_TOO_LARGE);
    assert_non_null(strstr(errbuf, "max_tree_bytes"));
    assert_int_equal(
        rootfs_layer_put_symlink(layer, deep, "x", errbuf, sizeof(errbuf)),
        ROOTFS_TOO_LARGE);
    assert_non_null(strstr(errbuf, "d/d/d/status would bring"));
    assert_non_null(strstr(errbuf, "more than 2000 bytes (max_tree_bytes)"));
    put_file(layer, "etc/os-release", "ID=x");
    rootfs_layer_free(layer);

    /* Discarded nodes return their bytes: a new change set fits as many
     * links as the first. */
    layer = layer_open(fs);
    size_t first = put_links_until_full(layer);
    assert_true(first > 0);
    assert_non_null(strstr(errbuf, "max_tree_bytes"));
    rootfs_layer_free(layer);
    layer = layer_open(fs);
    assert_int_equal(put_links_until_full(layer), first);
    rootfs_layer_free(layer);
    rootfs_free(fs);
}

/* Empty kept files and links cost no bytes, but each folder on the way
 * to them is a node: unique deep paths must not grow the model freely. */
static void node_count_over_limit_is_rejected(void **state)
{
    (void)state;
    struct rootfs_limits limits;
    rootfs_limits_init(&limits);
    limits.max_nodes = 10;
    struct rootfs *fs = rootfs_new(&limits);
    assert_non_null(fs);

    struct rootfs_layer *layer = layer_open(fs);
    put_symlink(layer, "a/b/c/link", "target");
    put_file(layer, "a/b/c/status", "");
    assert_int_equal(rootfs_layer_put_symlink(layer, "1/2/3/4/5/link", "t",
                                              errbuf, sizeof(errbuf)),
                     ROOTFS_TOO_LARGE);
    assert_non_null(strstr(errbuf, "1/2/3/4/5/link"));
    assert_non_null(strstr(errbuf, "max_nodes"));
    assert_int_equal(rootfs_layer_put_file(layer, "1/2/3/4/5/status",
                                           copy_text(""), 0, errbuf,
                                           sizeof(errbuf)),
                     ROOTFS_TOO_LARGE);
    assert_non_null(strstr(errbuf, "max_nodes"));
    rootfs_free(fs);
}

static void deep_tree_is_freed_without_recursion(void **state)
{
    (void)state;
    struct rootfs_limits limits;
    rootfs_limits_init(&limits);
    limits.max_path_bytes = 400000;
    struct rootfs *fs = rootfs_new(&limits);
    assert_non_null(fs);

    /* 100000 nested folders, far deeper than a recursive walk survives
     * under AddressSanitizer's stack. */
    size_t depth = 100000;
    char *path = malloc(depth * 2 + sizeof("os-release"));
    assert_non_null(path);
    for (size_t i = 0; i < depth; i++) {
        path[2 * i] = 'd';
        path[2 * i + 1] = '/';
    }
    strcpy(path + 2 * depth, "os-release");

    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, path, "ID=deep");
    rootfs_layer_commit(layer);
    assert_text(fs, path, "ID=deep");

    layer = layer_open(fs);
    assert_int_equal(rootfs_layer_whiteout(layer, "d", errbuf, sizeof(errbuf)),
                     ROOTFS_OK);
    rootfs_layer_commit(layer);
    assert_int_equal(rootfs_file_count(fs), 0);

    layer = layer_open(fs);
    put_file(layer, path, "ID=deep again");
    rootfs_layer_commit(layer);
    free(path);
    rootfs_free(fs);
}

static void many_entries_stay_findable(void **state)
{
    struct rootfs *fs = *state;
    struct rootfs_layer *layer = layer_open(fs);
    char path[64];
    char target[64];

    /* Enough nodes to grow the hash table several times. */
    for (int i = 0; i < 20000; i++) {
        snprintf(path, sizeof(path), "usr/bin/tool-%d", i);
        put_symlink(layer, path, "busybox");
    }
    for (int i = 0; i < 200; i++) {
        snprintf(path, sizeof(path), "opt/%d/os-release", i);
        snprintf(target, sizeof(target), "ID=%d", i);
        put_file(layer, path, target);
    }
    rootfs_layer_commit(layer);

    assert_int_equal(rootfs_symlink_count(fs), 20000);
    for (int i = 0; i < 200; i++) {
        snprintf(path, sizeof(path), "opt/%d/os-release", i);
        snprintf(target, sizeof(target), "ID=%d", i);
        assert_text(fs, path, target);
    }
}

static void free_accepts_null_and_open_change_set(void **state)
{
    (void)state;
    rootfs_free(NULL);
    rootfs_layer_free(NULL);
    rootfs_names_free(NULL, 0);

    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    struct rootfs_layer *layer = layer_open(fs);
    put_file(layer, "etc/os-release", "ID=open");
    rootfs_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify_keeps_scanner_inputs_only),
        cmocka_unit_test_setup_teardown(file_data_ends_with_nul, fs_setup,
                                        fs_teardown),
        cmocka_unit_test_setup_teardown(
            resolves_relative_absolute_and_escaping_links, fs_setup,
            fs_teardown),
        cmocka_unit_test_setup_teardown(hop_limit_is_forty_links, fs_setup,
                                        fs_teardown),
        cmocka_unit_test_setup_teardown(self_link_is_a_loop, fs_setup,
                                        fs_teardown),
        cmocka_unit_test_setup_teardown(list_dir_is_sorted_and_follows_links,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(discarded_change_set_changes_nothing,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(hard_link_to_symlink_copies_the_link,
                                        fs_setup, fs_teardown),
        cmocka_unit_test(file_limits_name_the_file),
        cmocka_unit_test(node_count_over_limit_is_rejected),
        cmocka_unit_test(symlink_target_over_limit_is_rejected),
        cmocka_unit_test(tree_bytes_limit_rejects_deep_paths),
        cmocka_unit_test(deep_tree_is_freed_without_recursion),
        cmocka_unit_test_setup_teardown(many_entries_stay_findable, fs_setup,
                                        fs_teardown),
        cmocka_unit_test(free_accepts_null_and_open_change_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
