/*
 * Layers are built in memory with libarchive's writer and fed to
 * layer_walk_fd() through a pipe by a writer thread, as a registry
 * download would arrive. The fixture tests walk real docker-save archives
 * found under $IMGASSURE_FIXTURES.
 */
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "dpkg.h"
#include "layer_walk.h"
#include "manifest.h"
#include "os_release.h"
#include "rootfs.h"

enum tar_format {
    TAR_PAX,
    TAR_GNU,
    TAR_USTAR,
};

enum tar_compression {
    TAR_PLAIN,
    TAR_GZIP,
    TAR_ZSTD,
};

/* A tar stream being written into memory. */
struct tar {
    struct archive *archive;
    unsigned char *data;
    size_t size;
    size_t capacity;
};

static la_ssize_t tar_append(struct archive *archive, void *client,
                             const void *buffer, size_t length)
{
    struct tar *tar = client;
    (void)archive;

    if (tar->size + length > tar->capacity) {
        size_t capacity = (tar->size + length) * 2;
        tar->data = realloc(tar->data, capacity);
        assert_non_null(tar->data);
        tar->capacity = capacity;
    }
    memcpy(tar->data + tar->size, buffer, length);
    tar->size += length;
    return (la_ssize_t)length;
}

static void tar_begin(struct tar *tar, enum tar_format format,
                      enum tar_compression compression)
{
    memset(tar, 0, sizeof(*tar));
    tar->archive = archive_write_new();
    assert_non_null(tar->archive);

    int status = ARCHIVE_OK;
    if (format == TAR_PAX)
        status = archive_write_set_format_pax_restricted(tar->archive);
    else if (format == TAR_GNU)
        status = archive_write_set_format_gnutar(tar->archive);
    else
        status = archive_write_set_format_ustar(tar->archive);
    assert_int_equal(status, ARCHIVE_OK);

    if (compression == TAR_GZIP)
        assert_int_equal(archive_write_add_filter_gzip(tar->archive),
                         ARCHIVE_OK);
    else if (compression == TAR_ZSTD)
        assert_int_equal(archive_write_add_filter_zstd(tar->archive),
                         ARCHIVE_OK);

    /* Padding the last block with zeros would put bytes that are not zstd
     * after the compressed stream. */
    archive_write_set_bytes_in_last_block(tar->archive, 1);
    assert_int_equal(
        archive_write_open(tar->archive, tar, NULL, tar_append, NULL),
        ARCHIVE_OK);
}

static void tar_entry(struct tar *tar, const char *path, unsigned int type,
                      const char *data, size_t size, const char *link)
{
    struct archive_entry *entry = archive_entry_new();
    assert_non_null(entry);

    archive_entry_set_pathname(entry, path);
    archive_entry_set_filetype(entry, type);
    archive_entry_set_perm(entry, type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_size(entry, (la_int64_t)size);
    if (type == AE_IFLNK)
        archive_entry_set_symlink(entry, link);
    else if (link)
        archive_entry_set_hardlink(entry, link);

    assert_int_equal(archive_write_header(tar->archive, entry), ARCHIVE_OK);
    if (size > 0)
        assert_int_equal(archive_write_data(tar->archive, data, size),
                         (la_ssize_t)size);
    archive_entry_free(entry);
}

static void tar_file(struct tar *tar, const char *path, const char *content)
{
    tar_entry(tar, path, AE_IFREG, content, strlen(content), NULL);
}

static void tar_dir(struct tar *tar, const char *path)
{
    tar_entry(tar, path, AE_IFDIR, NULL, 0, NULL);
}

static void tar_symlink(struct tar *tar, const char *path, const char *target)
{
    tar_entry(tar, path, AE_IFLNK, NULL, 0, target);
}

static void tar_hardlink(struct tar *tar, const char *path, const char *target)
{
    tar_entry(tar, path, AE_IFREG, NULL, 0, target);
}

static void tar_end(struct tar *tar)
{
    assert_int_equal(archive_write_close(tar->archive), ARCHIVE_OK);
    archive_write_free(tar->archive);
    tar->archive = NULL;
}

/* Writes a buffer into a pipe from its own thread. */
struct feed {
    int fd;
    const unsigned char *data;
    size_t size;
};

static void *feed_run(void *argument)
{
    struct feed *feed = argument;
    size_t done = 0;

    while (done < feed->size) {
        ssize_t count = write(feed->fd, feed->data + done, feed->size - done);
        if (count <= 0)
            break; /* the reader stopped early and closed its end */
        done += (size_t)count;
    }
    close(feed->fd);
    return NULL;
}

static enum layer_walk_result walk_bytes(struct rootfs *fs, const void *data,
                                         size_t size,
                                         struct layer_walk_stats *stats,
                                         char *errbuf, size_t errbuf_size)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);

    struct feed feed = {.fd = fds[1], .data = data, .size = size};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, feed_run, &feed), 0);

    enum layer_walk_result result =
        layer_walk_fd(fs, fds[0], stats, errbuf, errbuf_size);
    close(fds[0]);
    pthread_join(thread, NULL);
    return result;
}

/* Ends tar, walks it into fs and frees its buffer. Returns the result. */
static enum layer_walk_result walk_tar(struct rootfs *fs, struct tar *tar,
                                       struct layer_walk_stats *stats,
                                       char *errbuf, size_t errbuf_size)
{
    tar_end(tar);
    enum layer_walk_result result =
        walk_bytes(fs, tar->data, tar->size, stats, errbuf, errbuf_size);
    free(tar->data);
    return result;
}

static void apply_layer(struct rootfs *fs, struct tar *tar,
                        struct layer_walk_stats *stats)
{
    char errbuf[512] = "";
    enum layer_walk_result result =
        walk_tar(fs, tar, stats, errbuf, sizeof(errbuf));

    if (result != LAYER_WALK_OK)
        fail_msg("layer_walk_fd: %s: %s", layer_walk_result_name(result),
                 errbuf);
}

static void assert_file(const struct rootfs *fs, const char *path,
                        const char *expected)
{
    const struct rootfs_file *file = rootfs_find(fs, path);

    if (!file)
        fail_msg("%s is not in the model", path);
    assert_int_equal(file->size, strlen(expected));
    assert_memory_equal(file->data, expected, file->size);
    assert_int_equal(file->data[file->size], '\0');
}

static void assert_absent(const struct rootfs *fs, const char *path)
{
    if (rootfs_find(fs, path))
        fail_msg("%s is still in the model", path);
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

static struct rootfs *fs_with_limits(void (*change)(struct rootfs_limits *))
{
    struct rootfs_limits limits;
    rootfs_limits_init(&limits);
    change(&limits);

    struct rootfs *fs = rootfs_new(&limits);
    assert_non_null(fs);
    return fs;
}

static void keeps_scanner_files_in_every_format(void **state)
{
    (void)state;
    static const enum tar_format formats[] = {TAR_PAX, TAR_GNU, TAR_USTAR};
    static const enum tar_compression compressions[] = {TAR_PLAIN, TAR_GZIP,
                                                        TAR_ZSTD};

    for (size_t f = 0; f < 3; f++) {
        for (size_t c = 0; c < 3; c++) {
            struct rootfs *fs = rootfs_new(NULL);
            assert_non_null(fs);
            struct tar tar;
            tar_begin(&tar, formats[f], compressions[c]);
            tar_dir(&tar, "./");
            tar_dir(&tar, "./etc/");
            tar_file(&tar, "./etc/os-release", "ID=debian\n");
            tar_file(&tar, "./etc/passwd", "root:x:0:0::/root:/bin/sh\n");
            tar_file(&tar, "var/lib/dpkg/status", "Package: a\n");
            tar_file(&tar, "lib/apk/db/installed", "P:musl\n");
            tar_file(&tar, "var/lib/dpkg/status.d/base", "Package: b\n");
            tar_file(&tar, "var/lib/dpkg/status.d/base.md5sums", "x  y\n");
            tar_symlink(&tar, "bin/sh", "/bin/busybox");

            struct layer_walk_stats stats;
            apply_layer(fs, &tar, &stats);

            assert_file(fs, "etc/os-release", "ID=debian\n");
            assert_file(fs, "/var/lib/dpkg/status", "Package: a\n");
            assert_file(fs, "lib/apk/db/installed", "P:musl\n");
            assert_file(fs, "var/lib/dpkg/status.d/base", "Package: b\n");
            assert_absent(fs, "etc/passwd");
            assert_absent(fs, "var/lib/dpkg/status.d/base.md5sums");
            assert_int_equal(stats.entries, 9);
            assert_int_equal(stats.kept_files, 4);
            assert_int_equal(stats.symlinks, 1);
            assert_int_equal(stats.ignored_entries, 0);
            assert_true(stats.bytes_uncompressed >= 9 * 512);
            assert_int_equal(rootfs_file_count(fs), 4);
            assert_int_equal(rootfs_symlink_count(fs), 1);
            rootfs_free(fs);
        }
    }
}

static void reads_a_layer_from_a_regular_file(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;
    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "usr/share/big", "skipped with lseek");
    tar_file(&tar, "etc/os-release", "ID=alpine\n");
    tar_end(&tar);

    FILE *file = tmpfile();
    assert_non_null(file);
    assert_int_equal(fwrite(tar.data, 1, tar.size, file), tar.size);
    fflush(file);
    rewind(file);

    char errbuf[256];
    struct layer_walk_stats stats;
    assert_int_equal(
        layer_walk_fd(fs, fileno(file), &stats, errbuf, sizeof(errbuf)),
        LAYER_WALK_OK);
    assert_file(fs, "etc/os-release", "ID=alpine\n");
    assert_int_equal(stats.entries, 2);
    fclose(file);
    free(tar.data);
}

static void whiteout_deletes_lower_file(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_file(&tar, "etc/os-release", "ID=debian\n");
    tar_file(&tar, "usr/lib/os-release", "ID=debian\n");
    apply_layer(fs, &tar, NULL);

    struct layer_walk_stats stats;
    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_file(&tar, "etc/.wh.os-release", "");
    apply_layer(fs, &tar, &stats);

    assert_absent(fs, "etc/os-release");
    assert_file(fs, "usr/lib/os-release", "ID=debian\n");
    assert_int_equal(stats.whiteouts, 1);
    assert_int_equal(stats.kept_files, 0);
}

static void whiteout_deletes_lower_directory(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_GNU, TAR_PLAIN);
    tar_file(&tar, "var/lib/dpkg/status", "Package: a\n");
    tar_file(&tar, "var/lib/dpkg/status.d/b", "Package: b\n");
    tar_symlink(&tar, "var/lib/dpkg/alternatives/x", "/usr/bin/x");
    tar_file(&tar, "etc/os-release", "ID=debian\n");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_GNU, TAR_PLAIN);
    tar_file(&tar, "var/lib/.wh.dpkg", "");
    apply_layer(fs, &tar, NULL);

    assert_absent(fs, "var/lib/dpkg/status");
    assert_absent(fs, "var/lib/dpkg/status.d/b");
    assert_int_equal(rootfs_symlink_count(fs), 0);
    assert_file(fs, "etc/os-release", "ID=debian\n");

    char **names = NULL;
    size_t count = 0;
    assert_int_equal(
        rootfs_list_dir(fs, "var/lib/dpkg/status.d", &names, &count),
        ROOTFS_LOOKUP_NOT_FOUND);
    assert_null(names);
}

static void opaque_directory_hides_only_lower_entries(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_file(&tar, "var/lib/dpkg/status", "Package: a\n");
    tar_file(&tar, "var/lib/dpkg/status.d/old", "Package: old\n");
    tar_file(&tar, "var/lib/dpkg/status.d/kept-name", "Package: lower\n");
    apply_layer(fs, &tar, NULL);

    /* The marker comes after the layer's own entries: order in the tar
     * must not matter. */
    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_dir(&tar, "var/lib/dpkg/status.d/");
    tar_file(&tar, "var/lib/dpkg/status.d/new", "Package: new\n");
    tar_file(&tar, "var/lib/dpkg/status.d/kept-name", "Package: upper\n");
    tar_file(&tar, "var/lib/dpkg/status.d/.wh..wh..opq", "");
    struct layer_walk_stats stats;
    apply_layer(fs, &tar, &stats);

    char **names = NULL;
    size_t count = 0;
    assert_int_equal(
        rootfs_list_dir(fs, "var/lib/dpkg/status.d", &names, &count),
        ROOTFS_LOOKUP_FOUND);
    assert_int_equal(count, 2);
    assert_string_equal(names[0], "kept-name");
    assert_string_equal(names[1], "new");
    rootfs_names_free(names, count);

    assert_file(fs, "var/lib/dpkg/status.d/kept-name", "Package: upper\n");
    assert_absent(fs, "var/lib/dpkg/status.d/old");
    assert_file(fs, "var/lib/dpkg/status", "Package: a\n");
    assert_int_equal(stats.whiteouts, 1);
}

static void opaque_root_hides_every_lower_entry(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", "ID=old\n");
    tar_symlink(&tar, "lib", "usr/lib");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "./.wh..wh..opq", "");
    tar_file(&tar, "usr/lib/os-release", "ID=new\n");
    apply_layer(fs, &tar, NULL);

    assert_absent(fs, "etc/os-release");
    assert_int_equal(rootfs_symlink_count(fs), 0);
    assert_file(fs, "usr/lib/os-release", "ID=new\n");
}

static void whiteout_then_readd_in_later_layer(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_file(&tar, "var/lib/dpkg/status", "Package: first\n");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_file(&tar, "var/lib/dpkg/.wh.status", "");
    apply_layer(fs, &tar, NULL);
    assert_absent(fs, "var/lib/dpkg/status");

    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_file(&tar, "var/lib/dpkg/status", "Package: third\n");
    apply_layer(fs, &tar, NULL);
    assert_file(fs, "var/lib/dpkg/status", "Package: third\n");
}

static void whiteout_spares_same_layer_file(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", "ID=lower\n");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", "ID=upper\n");
    tar_file(&tar, "etc/.wh.os-release", "");
    apply_layer(fs, &tar, NULL);

    assert_file(fs, "etc/os-release", "ID=upper\n");
}

static void later_regular_file_replaces_lower(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_USTAR, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", "ID=first\n");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_USTAR, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", "ID=second\n");
    apply_layer(fs, &tar, NULL);

    assert_file(fs, "etc/os-release", "ID=second\n");
    assert_int_equal(rootfs_file_count(fs), 1);
}

static void kept_file_replaced_by_directory_is_dropped(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "var/lib/dpkg/status", "Package: a\n");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_dir(&tar, "var/lib/dpkg/status");
    apply_layer(fs, &tar, NULL);

    assert_absent(fs, "var/lib/dpkg/status");
    assert_int_equal(rootfs_file_count(fs), 0);
}

static void kept_file_replaced_by_symlink_follows_link(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", "ID=old\n");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_symlink(&tar, "etc/os-release", "../usr/lib/os-release");
    tar_file(&tar, "usr/lib/os-release", "ID=new\n");
    apply_layer(fs, &tar, NULL);

    assert_file(fs, "etc/os-release", "ID=new\n");
    assert_int_equal(rootfs_file_count(fs), 1);
}

static void symlinked_folder_replaced_by_real_folder(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "opt/dpkg/status", "Package: via-link\n");
    tar_symlink(&tar, "var/lib/dpkg", "../../opt/dpkg");
    apply_layer(fs, &tar, NULL);
    assert_file(fs, "var/lib/dpkg/status", "Package: via-link\n");

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_dir(&tar, "var/lib/dpkg");
    tar_file(&tar, "var/lib/dpkg/status", "Package: real\n");
    apply_layer(fs, &tar, NULL);

    assert_file(fs, "var/lib/dpkg/status", "Package: real\n");
    assert_file(fs, "opt/dpkg/status", "Package: via-link\n");
    assert_int_equal(rootfs_symlink_count(fs), 0);
}

static void dpkg_link_to_any_folder_name(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "opt/pkgdb/status", "Package: moved\n");
    tar_symlink(&tar, "var/lib/dpkg", "/opt/pkgdb");
    apply_layer(fs, &tar, NULL);

    assert_file(fs, "var/lib/dpkg/status", "Package: moved\n");
}

static void folder_replaced_by_plain_file_drops_contents(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "var/lib/dpkg/status", "Package: a\n");
    tar_symlink(&tar, "var/lib/dpkg/link", "status");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "var/lib/dpkg", "not a folder any more");
    apply_layer(fs, &tar, NULL);

    assert_absent(fs, "var/lib/dpkg/status");
    assert_int_equal(rootfs_file_count(fs), 0);
    assert_int_equal(rootfs_symlink_count(fs), 0);
}

static void symlinked_dpkg_folder_is_followed(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_file(&tar, "other/dpkg/status",
             "Package: tzdata\nStatus: install ok installed\n"
             "Version: 2024a-0+deb12u1\nArchitecture: all\n");
    tar_file(&tar, "other/dpkg/status.d/netbase",
             "Package: netbase\nVersion: 6.4\n");
    tar_symlink(&tar, "var/lib/dpkg", "../../other/dpkg");
    apply_layer(fs, &tar, NULL);

    const struct rootfs_file *file = rootfs_find(fs, "var/lib/dpkg/status");
    assert_non_null(file);

    struct installed_package *packages = NULL;
    size_t count = 0;
    char errbuf[256];
    assert_int_equal(dpkg_inventory_from_rootfs(fs, &packages, &count, errbuf,
                                                sizeof(errbuf)),
                     DPKG_INVENTORY_OK);
    assert_int_equal(count, 2);
    assert_string_equal(packages[0].name, "netbase");
    assert_string_equal(packages[1].name, "tzdata");
    dpkg_packages_free(packages, count);
}

static void debian_os_release_symlink_is_followed(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_symlink(&tar, "etc/os-release", "../usr/lib/os-release");
    tar_file(&tar, "usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
    apply_layer(fs, &tar, NULL);

    struct os_release release;
    char errbuf[256];
    assert_int_equal(
        os_release_from_rootfs(fs, &release, errbuf, sizeof(errbuf)),
        OS_RELEASE_FOUND);
    assert_string_equal(release.id, "debian");
    assert_string_equal(release.version_id, "12");
    os_release_clear(&release);
}

static void merged_usr_and_absolute_links_are_followed(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_symlink(&tar, "lib", "usr/lib");
    tar_file(&tar, "usr/lib/apk/db/installed", "P:musl\n");
    tar_symlink(&tar, "etc/os-release", "/usr/lib/os-release");
    tar_file(&tar, "usr/lib/os-release", "ID=alpine\n");
    apply_layer(fs, &tar, NULL);

    assert_file(fs, "lib/apk/db/installed", "P:musl\n");
    assert_file(fs, "etc/os-release", "ID=alpine\n");
}

static void symlink_escaping_root_stays_inside(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_symlink(&tar, "etc/os-release", "../../../../../../usr/lib/os-release");
    tar_symlink(&tar, "var/lib/dpkg/status", "/../../etc/host-status");
    tar_file(&tar, "usr/lib/os-release", "ID=inside\n");
    apply_layer(fs, &tar, NULL);

    assert_file(fs, "etc/os-release", "ID=inside\n");
    assert_absent(fs, "var/lib/dpkg/status");
}

static void hard_link_copies_kept_file(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_GNU, TAR_PLAIN);
    tar_file(&tar, "usr/lib/os-release", "ID=linked\n");
    tar_hardlink(&tar, "etc/os-release", "usr/lib/os-release");
    struct layer_walk_stats stats;
    apply_layer(fs, &tar, &stats);

    assert_file(fs, "etc/os-release", "ID=linked\n");
    assert_int_equal(stats.kept_files, 2);
    assert_int_equal(stats.unresolved_links, 0);

    /* A link in a later layer may point at a file of a lower one. */
    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_hardlink(&tar, "opt/os-release", "usr/lib/os-release");
    apply_layer(fs, &tar, NULL);
    assert_file(fs, "opt/os-release", "ID=linked\n");
}

static void hard_link_to_unkept_file_is_counted(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", "ID=old\n");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "usr/lib/release-data", "ID=unkept\n");
    tar_hardlink(&tar, "etc/os-release", "usr/lib/release-data");
    tar_hardlink(&tar, "usr/bin/other", "usr/lib/release-data");
    struct layer_walk_stats stats;
    apply_layer(fs, &tar, &stats);

    /* The old contents must not survive: the link replaced them. */
    assert_absent(fs, "etc/os-release");
    assert_int_equal(stats.unresolved_links, 1);
}

static void symlink_loop_is_detected(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_symlink(&tar, "etc/os-release", "os-release-b");
    tar_symlink(&tar, "etc/os-release-b", "/etc/os-release");
    tar_symlink(&tar, "var/lib/dpkg", "dpkg");
    apply_layer(fs, &tar, NULL);

    const struct rootfs_file *file = NULL;
    assert_int_equal(rootfs_resolve(fs, "etc/os-release", &file),
                     ROOTFS_LOOKUP_LOOP);
    assert_int_equal(rootfs_resolve(fs, "var/lib/dpkg/status", &file),
                     ROOTFS_LOOKUP_LOOP);

    struct os_release release;
    char errbuf[256];
    assert_int_equal(
        os_release_from_rootfs(fs, &release, errbuf, sizeof(errbuf)),
        OS_RELEASE_INVALID);
    assert_non_null(strstr(errbuf, "etc/os-release"));

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(dpkg_inventory_from_rootfs(fs, &packages, &count, errbuf,
                                                sizeof(errbuf)),
                     DPKG_INVENTORY_UNREADABLE);
    assert_non_null(strstr(errbuf, "loop"));
    dpkg_packages_free(packages, count);
}

static void dotdot_components_stay_inside_root(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "../etc/os-release", "ID=escaped\n");
    tar_file(&tar, "etc/../../var/lib/dpkg/status", "Package: escaped\n");
    tar_symlink(&tar, "x/../lib", "usr/lib");
    tar_hardlink(&tar, "opt/os-release", "../etc/os-release");
    tar_file(&tar, "var/lib/dpkg/../../../usr/share/os-release", "ID=inner\n");
    tar_file(&tar, "/usr/lib/os-release", "ID=absolute\n");
    tar_file(&tar, ".//usr//share///os-release", "ID=normalised\n");
    struct layer_walk_stats stats;
    apply_layer(fs, &tar, &stats);

    assert_file(fs, "etc/os-release", "ID=escaped\n");
    assert_file(fs, "var/lib/dpkg/status", "Package: escaped\n");
    assert_file(fs, "opt/os-release", "ID=escaped\n");
    assert_int_equal(rootfs_symlink_count(fs), 1);
    assert_int_equal(stats.ignored_entries, 0);
    assert_file(fs, "usr/lib/os-release", "ID=absolute\n");
    assert_file(fs, "lib/os-release", "ID=absolute\n");
    assert_file(fs, "usr/share/os-release", "ID=normalised\n");
}

/* A gzip'd layer holding a kept file large enough to span many blocks. */
static void build_large_layer(struct tar *tar)
{
    size_t size = 2 << 20;
    char *content = malloc(size + 1);
    assert_non_null(content);
    /* Not compressible, so that cutting the stream cuts the file. */
    uint32_t seed = 12345;
    for (size_t i = 0; i < size; i++) {
        seed = seed * 1103515245 + 12345;
        content[i] = (char)('a' + (seed >> 16) % 26);
    }
    content[size] = '\0';

    tar_begin(tar, TAR_PAX, TAR_GZIP);
    tar_file(tar, "etc/.wh.os-release", "");
    tar_file(tar, "var/lib/dpkg/status", content);
    tar_end(tar);
    free(content);
}

static void truncated_gzip_is_corrupt(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", "ID=lower\n");
    apply_layer(fs, &tar, NULL);

    build_large_layer(&tar);
    char errbuf[512];
    struct layer_walk_stats stats;
    enum layer_walk_result result =
        walk_bytes(fs, tar.data, tar.size / 2, &stats, errbuf, sizeof(errbuf));
    free(tar.data);

    assert_int_equal(result, LAYER_WALK_CORRUPT);
    assert_true(strlen(errbuf) > 0);
    /* A failed layer changes nothing: its whiteout is not applied. */
    assert_file(fs, "etc/os-release", "ID=lower\n");
    assert_absent(fs, "var/lib/dpkg/status");
    assert_int_equal(rootfs_file_count(fs), 1);
}

static void truncated_plain_tar_is_corrupt(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    build_large_layer(&tar);
    /* Decompress it, then cut the tar inside the kept file's body. */
    struct archive *reader = archive_read_new();
    archive_read_support_filter_gzip(reader);
    archive_read_support_format_raw(reader);
    assert_int_equal(archive_read_open_memory(reader, tar.data, tar.size),
                     ARCHIVE_OK);
    struct archive_entry *entry;
    assert_int_equal(archive_read_next_header(reader, &entry), ARCHIVE_OK);
    size_t capacity = 4 << 20;
    char *plain = malloc(capacity);
    assert_non_null(plain);
    size_t plain_size = 0;
    for (;;) {
        la_ssize_t count = archive_read_data(reader, plain + plain_size,
                                             capacity - plain_size);
        assert_true(count >= 0);
        if (count == 0)
            break;
        plain_size += (size_t)count;
    }
    assert_true(plain_size > (1 << 20));
    archive_read_free(reader);
    free(tar.data);

    char errbuf[512];
    enum layer_walk_result result =
        walk_bytes(fs, plain, plain_size / 2, NULL, errbuf, sizeof(errbuf));
    free(plain);
    assert_int_equal(result, LAYER_WALK_CORRUPT);
    assert_int_equal(rootfs_file_count(fs), 0);
}

static void garbage_bytes_are_corrupt(void **state)
{
    struct rootfs *fs = *state;
    unsigned char garbage[8192];
    uint32_t seed = 99;

    for (size_t i = 0; i < sizeof(garbage); i++) {
        seed = seed * 1664525 + 1013904223;
        garbage[i] = (unsigned char)(seed >> 24);
    }

    char errbuf[512];
    assert_int_equal(
        walk_bytes(fs, garbage, sizeof(garbage), NULL, errbuf, sizeof(errbuf)),
        LAYER_WALK_CORRUPT);
    assert_non_null(strstr(errbuf, "not a readable tar stream"));

    /* gzip magic followed by junk */
    garbage[0] = 0x1f;
    garbage[1] = 0x8b;
    assert_int_equal(
        walk_bytes(fs, garbage, sizeof(garbage), NULL, errbuf, sizeof(errbuf)),
        LAYER_WALK_CORRUPT);

    assert_int_equal(walk_bytes(fs, garbage, 0, NULL, errbuf, sizeof(errbuf)),
                     LAYER_WALK_CORRUPT);
}

static void set_small_file_limit(struct rootfs_limits *limits)
{
    limits->max_file_bytes = 100;
}

static void kept_file_over_limit_is_too_large(void **state)
{
    (void)state;
    struct rootfs *fs = fs_with_limits(set_small_file_limit);
    char content[102];
    memset(content, 'x', 101);
    content[101] = '\0';

    struct tar tar;
    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "var/lib/dpkg/status.d/exact", content + 1);
    apply_layer(fs, &tar, NULL);
    assert_int_equal(rootfs_find(fs, "var/lib/dpkg/status.d/exact")->size, 100);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "var/lib/dpkg/status", content);
    char errbuf[512];
    assert_int_equal(walk_tar(fs, &tar, NULL, errbuf, sizeof(errbuf)),
                     LAYER_WALK_TOO_LARGE);
    assert_non_null(strstr(errbuf, "var/lib/dpkg/status"));
    assert_non_null(strstr(errbuf, "100 bytes"));
    assert_non_null(strstr(errbuf, "max_file_bytes"));
    rootfs_free(fs);
}

static void set_small_total_limit(struct rootfs_limits *limits)
{
    limits->max_total_bytes = 150;
}

static void kept_files_over_total_limit_are_too_large(void **state)
{
    (void)state;
    struct rootfs *fs = fs_with_limits(set_small_total_limit);
    char content[101];
    memset(content, 'y', 100);
    content[100] = '\0';

    struct tar tar;
    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", content);
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "usr/lib/os-release", content);
    char errbuf[512];
    assert_int_equal(walk_tar(fs, &tar, NULL, errbuf, sizeof(errbuf)),
                     LAYER_WALK_TOO_LARGE);
    assert_non_null(strstr(errbuf, "usr/lib/os-release"));
    assert_non_null(strstr(errbuf, "max_total_bytes"));

    /* Replacing the kept file frees its share. */
    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/.wh.os-release", "");
    apply_layer(fs, &tar, NULL);
    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "usr/lib/os-release", content);
    apply_layer(fs, &tar, NULL);
    rootfs_free(fs);
}

static void set_small_entry_limit(struct rootfs_limits *limits)
{
    limits->max_layer_entries = 10;
}

static void build_entries(struct tar *tar, int count)
{
    tar_begin(tar, TAR_PAX, TAR_GZIP);
    for (int i = 0; i < count; i++) {
        char path[32];
        snprintf(path, sizeof(path), "usr/share/file-%d", i);
        tar_file(tar, path, "");
    }
}

static void entry_count_over_limit_is_too_large(void **state)
{
    (void)state;
    struct rootfs *fs = fs_with_limits(set_small_entry_limit);
    struct tar tar;
    char errbuf[512];

    build_entries(&tar, 10);
    assert_int_equal(walk_tar(fs, &tar, NULL, errbuf, sizeof(errbuf)),
                     LAYER_WALK_OK);

    build_entries(&tar, 11);
    assert_int_equal(walk_tar(fs, &tar, NULL, errbuf, sizeof(errbuf)),
                     LAYER_WALK_TOO_LARGE);
    assert_non_null(strstr(errbuf, "max_layer_entries"));
    rootfs_free(fs);
}

static void set_small_symlink_limit(struct rootfs_limits *limits)
{
    limits->max_symlinks = 4;
}

static void symlink_count_over_limit_is_too_large(void **state)
{
    (void)state;
    struct rootfs *fs = fs_with_limits(set_small_symlink_limit);
    struct tar tar;
    char errbuf[512];

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_symlink(&tar, "bin/a", "busybox");
    tar_symlink(&tar, "bin/b", "busybox");
    tar_symlink(&tar, "bin/c", "busybox");
    apply_layer(fs, &tar, NULL);

    /* While the layer is applied, the old and new bin/c are both in
     * memory. Once it is committed, only the new one counts. */
    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_symlink(&tar, "bin/c", "toybox");
    apply_layer(fs, &tar, NULL);
    assert_int_equal(rootfs_symlink_count(fs), 3);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_symlink(&tar, "bin/d", "busybox");
    apply_layer(fs, &tar, NULL);
    assert_int_equal(rootfs_symlink_count(fs), 4);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_symlink(&tar, "bin/e", "busybox");
    assert_int_equal(walk_tar(fs, &tar, NULL, errbuf, sizeof(errbuf)),
                     LAYER_WALK_TOO_LARGE);
    assert_non_null(strstr(errbuf, "bin/e"));
    assert_non_null(strstr(errbuf, "max_symlinks"));
    assert_int_equal(rootfs_symlink_count(fs), 4);
    rootfs_free(fs);
}

static void set_short_path_limit(struct rootfs_limits *limits)
{
    limits->max_path_bytes = 64;
}

static void path_over_limit_is_ignored(void **state)
{
    (void)state;
    struct rootfs *fs = fs_with_limits(set_short_path_limit);
    char long_dir[80];
    memset(long_dir, 'd', 60);
    long_dir[60] = '\0';
    char long_path[100];
    snprintf(long_path, sizeof(long_path), "%s/os-release", long_dir);
    char long_target[100];
    snprintf(long_target, sizeof(long_target), "../%s/target", long_dir);

    struct tar tar;
    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, long_path, "ID=long\n");
    tar_symlink(&tar, "etc/os-release", long_target);
    tar_file(&tar, "usr/lib/os-release", "ID=short\n");
    struct layer_walk_stats stats;
    apply_layer(fs, &tar, &stats);

    assert_int_equal(stats.ignored_entries, 2);
    assert_int_equal(rootfs_file_count(fs), 1);
    assert_int_equal(rootfs_symlink_count(fs), 0);
    assert_file(fs, "usr/lib/os-release", "ID=short\n");
    rootfs_free(fs);
}

static void set_small_layer_limit(struct rootfs_limits *limits)
{
    limits->max_layer_bytes = 64 * 1024;
}

static void layer_over_byte_limit_is_too_large(void **state)
{
    (void)state;
    struct rootfs *fs = fs_with_limits(set_small_layer_limit);
    char *content = malloc(80 * 1024 + 1);
    assert_non_null(content);
    memset(content, 'z', 80 * 1024);
    content[80 * 1024] = '\0';

    struct tar tar;
    tar_begin(&tar, TAR_PAX, TAR_GZIP);
    tar_file(&tar, "usr/share/big", content);
    free(content);
    char errbuf[512];
    assert_int_equal(walk_tar(fs, &tar, NULL, errbuf, sizeof(errbuf)),
                     LAYER_WALK_TOO_LARGE);
    assert_non_null(strstr(errbuf, "max_layer_bytes"));
    rootfs_free(fs);
}

/* Fixtures ------------------------------------------------------------ */

/* Writes the path of a fixture into out, or skips the test when the
 * fixtures are not there. */
/* Each tar layer media type of the OCI and Docker specifications, with the
 * compression it names: the manifest check accepts it and the walk reads
 * it (compression is detected from the stream, not from the type). */
static void layers_in_every_media_type_are_walked(void **state)
{
    (void)state;
    static const struct {
        const char *media_type;
        enum tar_compression compression;
    } cases[] = {
        {"application/vnd.oci.image.layer.v1.tar", TAR_PLAIN},
        {"application/vnd.oci.image.layer.v1.tar+gzip", TAR_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+zstd", TAR_ZSTD},
        {"application/vnd.docker.image.rootfs.diff.tar", TAR_PLAIN},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", TAR_GZIP},
        {"application/vnd.docker.image.rootfs.diff.tar.zstd", TAR_ZSTD},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char body[1024], errbuf[256] = "";
        struct manifest *manifest = NULL;
        snprintf(body, sizeof(body),
                 "{\"schemaVersion\":2,\"mediaType\":"
                 "\"application/vnd.oci.image.manifest.v1+json\","
                 "\"config\":{\"mediaType\":"
                 "\"application/vnd.oci.image.config.v1+json\",\"digest\":"
                 "\"sha256:%064d\",\"size\":2},\"layers\":[{\"mediaType\":"
                 "\"%s\",\"digest\":\"sha256:%064d\",\"size\":100}]}",
                 0, cases[i].media_type, 1);
        if (manifest_parse(body, strlen(body), NULL, &manifest, errbuf,
                           sizeof(errbuf)) != 0)
            fail_msg("%s: %s", cases[i].media_type, errbuf);
        if (manifest_check_image(manifest, errbuf, sizeof(errbuf)) != 0)
            fail_msg("%s: %s", cases[i].media_type, errbuf);
        manifest_free(manifest);

        struct rootfs *fs = rootfs_new(NULL);
        assert_non_null(fs);
        struct tar tar;
        tar_begin(&tar, TAR_PAX, cases[i].compression);
        tar_file(&tar, "etc/os-release", "ID=debian\n");
        tar_file(&tar, "var/lib/dpkg/status", "Package: a\n");
        apply_layer(fs, &tar, NULL);
        assert_file(fs, "etc/os-release", "ID=debian\n");
        assert_file(fs, "var/lib/dpkg/status", "Package: a\n");
        rootfs_free(fs);
    }
}

static size_t count_dpkg_packages(const struct rootfs *fs)
{
    struct installed_package *packages = NULL;
    size_t count = 0;
    char errbuf[256] = "";

    if (dpkg_inventory_from_rootfs(fs, &packages, &count, errbuf,
                                   sizeof(errbuf)) != DPKG_INVENTORY_OK)
        fail_msg("no dpkg inventory: %s", errbuf);
    dpkg_packages_free(packages, count);
    return count;
}

#define STATUS_STANZA                                                          \
    "Package: tzdata\nStatus: install ok installed\nVersion: 2024a-0\n"        \
    "Architecture: all\n"

/* tar stores the first path of a linked file as the file. A sorted writer
 * puts var/backups before var/lib, and status-old may come first in
 * directory order. The package database must still be found. */
static void hard_linked_dpkg_status_is_kept(void **state)
{
    (void)state;
    static const char *const first_paths[] = {
        "var/backups/dpkg.status.0",
        "var/lib/dpkg/status-old",
    };
    static const enum tar_format formats[] = {TAR_PAX, TAR_GNU, TAR_USTAR};

    for (size_t p = 0; p < 2; p++) {
        for (size_t f = 0; f < 3; f++) {
            struct rootfs *fs = rootfs_new(NULL);
            assert_non_null(fs);
            struct tar tar;
            tar_begin(&tar, formats[f], TAR_GZIP);
            tar_file(&tar, first_paths[p], STATUS_STANZA);
            tar_hardlink(&tar, "var/lib/dpkg/status", first_paths[p]);
            tar_file(&tar, "etc/os-release", "ID=debian\n");
            struct layer_walk_stats stats;
            apply_layer(fs, &tar, &stats);

            assert_file(fs, "var/lib/dpkg/status", STATUS_STANZA);
            assert_int_equal(stats.unresolved_links, 0);
            assert_int_equal(count_dpkg_packages(fs), 1);
            rootfs_free(fs);
        }
    }
}

static void hard_linked_apk_database_is_kept(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;
    const char *database = "C:Q1abc=\nP:musl\nV:1.2.4-r2\n\n";

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/apk/backup-installed", database);
    tar_hardlink(&tar, "lib/apk/db/installed", "etc/apk/backup-installed");
    struct layer_walk_stats stats;
    apply_layer(fs, &tar, &stats);

    assert_file(fs, "lib/apk/db/installed", database);
    assert_int_equal(stats.unresolved_links, 0);
}

/* A file kept only because a link might name it must not fail the layer
 * when it is over the limit. The link is then counted as unresolved. */
static void database_lookalike_over_limit_stays_unkept(void **state)
{
    (void)state;
    struct rootfs *fs = fs_with_limits(set_small_file_limit);
    char big[256];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "Package: ", strlen("Package: "));

    struct tar tar;
    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "var/backups/dpkg.status.0", big);
    tar_hardlink(&tar, "var/lib/dpkg/status", "var/backups/dpkg.status.0");
    struct layer_walk_stats stats;
    apply_layer(fs, &tar, &stats);

    assert_absent(fs, "var/lib/dpkg/status");
    assert_int_equal(stats.unresolved_links, 1);
    rootfs_free(fs);
}

/* Builds a folder path of more than 120 bytes, over ustar's 100-byte name
 * field, so tar needs a PAX header, a GNU long name or the ustar prefix. */
static void long_folder(char *out, size_t size, const char *leaf)
{
    snprintf(out, size, "opt/%s/%s/%s/%s",
             "a-folder-name-of-forty-bytes-in-length-1",
             "a-folder-name-of-forty-bytes-in-length-2",
             "a-folder-name-of-forty-bytes-in-length-3", leaf);
}

static void whiteouts_in_every_tar_format(void **state)
{
    (void)state;
    static const enum tar_format formats[] = {TAR_PAX, TAR_GNU, TAR_USTAR};

    for (size_t f = 0; f < 3; f++) {
        char dir[256], file_path[320], whiteout[320], opaque[320], kept[320];
        long_folder(dir, sizeof(dir), "etc");
        snprintf(file_path, sizeof(file_path), "%s/os-release", dir);
        snprintf(whiteout, sizeof(whiteout), "%s/.wh.os-release", dir);
        long_folder(dir, sizeof(dir), "dpkg");
        snprintf(kept, sizeof(kept), "%s/status", dir);
        snprintf(opaque, sizeof(opaque), "%s/.wh..wh..opq", dir);
        assert_true(strlen(whiteout) > 100);

        struct rootfs *fs = rootfs_new(NULL);
        assert_non_null(fs);
        struct tar tar;
        tar_begin(&tar, formats[f], TAR_GZIP);
        tar_file(&tar, file_path, "ID=lower\n");
        tar_file(&tar, kept, "Package: lower\n");
        apply_layer(fs, &tar, NULL);
        assert_file(fs, file_path, "ID=lower\n");

        tar_begin(&tar, formats[f], TAR_GZIP);
        tar_file(&tar, whiteout, "");
        tar_file(&tar, opaque, "");
        struct layer_walk_stats stats;
        apply_layer(fs, &tar, &stats);

        assert_absent(fs, file_path);
        assert_absent(fs, kept);
        assert_int_equal(stats.whiteouts, 2);
        rootfs_free(fs);
    }
}

static void tar_special(struct tar *tar, const char *path, unsigned int type,
                        const char *xattr_name)
{
    struct archive_entry *entry = archive_entry_new();
    assert_non_null(entry);

    archive_entry_set_pathname(entry, path);
    archive_entry_set_filetype(entry, type);
    archive_entry_set_perm(entry, 0755);
    archive_entry_set_rdev(entry, 0);
    if (xattr_name)
        archive_entry_xattr_add_entry(entry, xattr_name, "y", 1);
    assert_int_equal(archive_write_header(tar->archive, entry), ARCHIVE_OK);
    archive_entry_free(entry);
}

/* overlayfs's own whiteout, a character device 0/0, deletes the lower
 * file. */
static void overlay_whiteout_device_deletes_lower(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_file(&tar, "etc/os-release", "ID=lower\n");
    tar_file(&tar, "usr/lib/os-release", "ID=fallback\n");
    apply_layer(fs, &tar, NULL);

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_special(&tar, "etc/os-release", AE_IFCHR, NULL);
    struct layer_walk_stats stats;
    apply_layer(fs, &tar, &stats);

    assert_absent(fs, "etc/os-release");
    assert_file(fs, "usr/lib/os-release", "ID=fallback\n");
    assert_int_equal(stats.whiteouts, 1);
}

/* A folder whose PAX header carries overlayfs's opaque attribute hides
 * what lower layers have in it, as .wh..wh..opq would. */
static void overlay_opaque_xattr_hides_lower_entries(void **state)
{
    static const char *const names[] = {"trusted.overlay.opaque",
                                        "user.overlay.opaque"};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        struct rootfs *fs = rootfs_new(NULL);
        assert_non_null(fs);
        struct tar tar;
        tar_begin(&tar, TAR_PAX, TAR_PLAIN);
        tar_file(&tar, "var/lib/dpkg/status.d/old", "Package: old\n");
        tar_file(&tar, "var/lib/dpkg/status", "Package: a\n");
        apply_layer(fs, &tar, NULL);

        tar_begin(&tar, TAR_PAX, TAR_PLAIN);
        tar_special(&tar, "var/lib/dpkg/status.d", AE_IFDIR, names[i]);
        tar_file(&tar, "var/lib/dpkg/status.d/new", "Package: new\n");
        struct layer_walk_stats stats;
        apply_layer(fs, &tar, &stats);

        assert_absent(fs, "var/lib/dpkg/status.d/old");
        assert_file(fs, "var/lib/dpkg/status.d/new", "Package: new\n");
        assert_file(fs, "var/lib/dpkg/status", "Package: a\n");
        assert_int_equal(stats.whiteouts, 1);
        rootfs_free(fs);
    }
}

/* Two folder links that name each other: a lookup through them ends as a
 * loop, not a hang or a crash. */
static void symlinked_folder_loop_is_detected(void **state)
{
    struct rootfs *fs = *state;
    struct tar tar;

    tar_begin(&tar, TAR_PAX, TAR_PLAIN);
    tar_symlink(&tar, "var/lib/dpkg", "dpkg-real");
    tar_symlink(&tar, "var/lib/dpkg-real", "/var/lib/dpkg");
    apply_layer(fs, &tar, NULL);

    const struct rootfs_file *file = NULL;
    assert_int_equal(rootfs_resolve(fs, "var/lib/dpkg/status", &file),
                     ROOTFS_LOOKUP_LOOP);

    struct installed_package *packages = NULL;
    size_t count = 0;
    char errbuf[256] = "";
    assert_int_not_equal(dpkg_inventory_from_rootfs(fs, &packages, &count,
                                                    errbuf, sizeof(errbuf)),
                         DPKG_INVENTORY_OK);
    assert_null(packages);
}

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

/* Reads the member called name of the (possibly compressed) tar at path
 * into a malloc'd buffer. */
static unsigned char *archive_member(const char *path, const char *name,
                                     size_t *size)
{
    struct archive *reader = archive_read_new();
    archive_read_support_filter_all(reader);
    archive_read_support_format_tar(reader);
    assert_int_equal(archive_read_open_filename(reader, path, 65536),
                     ARCHIVE_OK);

    unsigned char *data = NULL;
    struct archive_entry *entry;
    while (archive_read_next_header(reader, &entry) == ARCHIVE_OK) {
        const char *member = archive_entry_pathname(entry);
        if (strncmp(member, "./", 2) == 0)
            member += 2;
        if (strcmp(member, name) != 0)
            continue;

        *size = (size_t)archive_entry_size(entry);
        data = malloc(*size + 1);
        assert_non_null(data);
        assert_int_equal(archive_read_data(reader, data, *size),
                         (la_ssize_t)*size);
        data[*size] = '\0';
        break;
    }
    archive_read_free(reader);
    if (!data)
        fail_msg("%s has no member %s", path, name);
    return data;
}

/* Walks every layer a docker-save archive's manifest lists, in order,
 * recording each layer's stats. Returns the number of layers. */
static size_t walk_docker_save(struct rootfs *fs, const char *path,
                               struct layer_walk_stats *stats,
                               size_t max_layers)
{
    size_t size = 0;
    unsigned char *manifest = archive_member(path, "manifest.json", &size);
    json_error_t error;
    json_t *root = json_loadb((const char *)manifest, size, 0, &error);
    free(manifest);
    if (!root)
        fail_msg("manifest.json of %s: %s", path, error.text);

    json_t *layers = json_object_get(json_array_get(root, 0), "Layers");
    assert_true(json_is_array(layers));
    size_t count = json_array_size(layers);
    assert_true(count <= max_layers);

    for (size_t i = 0; i < count; i++) {
        const char *name = json_string_value(json_array_get(layers, i));
        assert_non_null(name);
        size_t layer_size = 0;
        unsigned char *layer = archive_member(path, name, &layer_size);

        char errbuf[512];
        enum layer_walk_result result = walk_bytes(
            fs, layer, layer_size, &stats[i], errbuf, sizeof(errbuf));
        free(layer);
        if (result != LAYER_WALK_OK)
            fail_msg("%s layer %zu: %s", path, i, errbuf);
    }
    json_decref(root);
    return count;
}

static void ggcr_whiteout_image_hides_file(void **state)
{
    struct rootfs *fs = *state;
    char path[4096];
    fixture_path(path, sizeof(path),
                 "images/docker-save/ggcr-whiteout_image.tar");

    struct layer_walk_stats stats[3];
    assert_int_equal(walk_docker_save(fs, path, stats, 3), 3);

    /* Layer 1 adds ./, bar.txt and foo.txt, layer 2 whites out foo.txt,
     * and layer 3 is an empty tar. None of them is a file scanners read. */
    assert_int_equal(stats[0].entries, 3);
    assert_int_equal(stats[0].whiteouts, 0);
    assert_int_equal(stats[1].entries, 2);
    assert_int_equal(stats[1].whiteouts, 1);
    assert_int_equal(stats[2].entries, 0);
    assert_int_equal(rootfs_file_count(fs), 0);
}

static void alpine_docker_save_yields_os_and_apk_database(void **state)
{
    struct rootfs *fs = *state;
    char path[4096];
    fixture_path(path, sizeof(path), "images/docker-save/alpine-3.10.tar.gz");

    struct layer_walk_stats stats[1];
    assert_int_equal(walk_docker_save(fs, path, stats, 1), 1);
    assert_int_equal(stats[0].entries, 482);
    assert_int_equal(stats[0].symlinks, 324);
    assert_int_equal(stats[0].kept_files, 2);
    assert_int_equal(stats[0].ignored_entries, 0);

    struct os_release release;
    char errbuf[256];
    assert_int_equal(
        os_release_from_rootfs(fs, &release, errbuf, sizeof(errbuf)),
        OS_RELEASE_FOUND);
    assert_string_equal(release.id, "alpine");
    assert_string_equal(release.version_id, "3.10.4");
    os_release_clear(&release);

    const struct rootfs_file *apk = rootfs_find(fs, "lib/apk/db/installed");
    assert_non_null(apk);
    assert_int_equal(apk->size, 11226);
    assert_non_null(strstr(apk->data, "\nP:musl\nV:1.1.22-r3\n"));
}

static void debian_docker_archive_yields_os_and_packages(void **state)
{
    struct rootfs *fs = *state;
    char path[4096];
    fixture_path(path, sizeof(path),
                 "images/generated-here/"
                 "debian12-minbase-metadata.docker-archive.tar");

    struct layer_walk_stats stats[1];
    assert_int_equal(walk_docker_save(fs, path, stats, 1), 1);

    struct os_release release;
    char errbuf[256];
    assert_int_equal(
        os_release_from_rootfs(fs, &release, errbuf, sizeof(errbuf)),
        OS_RELEASE_FOUND);
    assert_string_equal(release.id, "debian");
    assert_string_equal(release.version_id, "12");
    assert_string_equal(release.version_codename, "bookworm");
    os_release_clear(&release);

    struct installed_package *packages = NULL;
    size_t count = 0;
    assert_int_equal(dpkg_inventory_from_rootfs(fs, &packages, &count, errbuf,
                                                sizeof(errbuf)),
                     DPKG_INVENTORY_OK);
    assert_int_equal(count, 96);
    assert_string_equal(packages[0].name, "adduser");
    dpkg_packages_free(packages, count);
}

int main(void)
{
    /* The feeding thread gets EPIPE, not a signal, when a walk stops. */
    signal(SIGPIPE, SIG_IGN);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keeps_scanner_files_in_every_format),
        cmocka_unit_test(layers_in_every_media_type_are_walked),
        cmocka_unit_test(hard_linked_dpkg_status_is_kept),
        cmocka_unit_test(database_lookalike_over_limit_stays_unkept),
        cmocka_unit_test(whiteouts_in_every_tar_format),
        cmocka_unit_test(overlay_opaque_xattr_hides_lower_entries),
        cmocka_unit_test_setup_teardown(hard_linked_apk_database_is_kept,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(overlay_whiteout_device_deletes_lower,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(symlinked_folder_loop_is_detected,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(reads_a_layer_from_a_regular_file,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(whiteout_deletes_lower_file, fs_setup,
                                        fs_teardown),
        cmocka_unit_test_setup_teardown(whiteout_deletes_lower_directory,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(
            opaque_directory_hides_only_lower_entries, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(opaque_root_hides_every_lower_entry,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(whiteout_then_readd_in_later_layer,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(whiteout_spares_same_layer_file,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(later_regular_file_replaces_lower,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(
            kept_file_replaced_by_directory_is_dropped, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(
            kept_file_replaced_by_symlink_follows_link, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(
            symlinked_folder_replaced_by_real_folder, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(
            folder_replaced_by_plain_file_drops_contents, fs_setup,
            fs_teardown),
        cmocka_unit_test_setup_teardown(symlinked_dpkg_folder_is_followed,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(debian_os_release_symlink_is_followed,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(
            merged_usr_and_absolute_links_are_followed, fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(symlink_escaping_root_stays_inside,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(hard_link_copies_kept_file, fs_setup,
                                        fs_teardown),
        cmocka_unit_test_setup_teardown(hard_link_to_unkept_file_is_counted,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(symlink_loop_is_detected, fs_setup,
                                        fs_teardown),
        cmocka_unit_test_setup_teardown(dpkg_link_to_any_folder_name, fs_setup,
                                        fs_teardown),
        cmocka_unit_test_setup_teardown(dotdot_components_stay_inside_root,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(truncated_gzip_is_corrupt, fs_setup,
                                        fs_teardown),
        cmocka_unit_test_setup_teardown(truncated_plain_tar_is_corrupt,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(garbage_bytes_are_corrupt, fs_setup,
                                        fs_teardown),
        cmocka_unit_test(kept_file_over_limit_is_too_large),
        cmocka_unit_test(kept_files_over_total_limit_are_too_large),
        cmocka_unit_test(entry_count_over_limit_is_too_large),
        cmocka_unit_test(symlink_count_over_limit_is_too_large),
        cmocka_unit_test(path_over_limit_is_ignored),
        cmocka_unit_test(layer_over_byte_limit_is_too_large),
        cmocka_unit_test_setup_teardown(ggcr_whiteout_image_hides_file,
                                        fs_setup, fs_teardown),
        cmocka_unit_test_setup_teardown(
            alpine_docker_save_yields_os_and_apk_database, fs_setup,
            fs_teardown),
        cmocka_unit_test_setup_teardown(
            debian_docker_archive_yields_os_and_packages, fs_setup,
            fs_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
