/*
 * A layer stream from memory (tar, plain or compressed) walked into a root
 * filesystem model, then read by the scanners as a scan would. The same
 * layer is applied twice, so that its whiteouts, replacements and links
 * also meet content of a lower layer.
 *
 * The stream reaches layer_walk_fd() through a memfd. The limits are the
 * defaults with a smaller layer size, so that a compression bomb stops at
 * the cap in milliseconds instead of inflating to gigabytes.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "apk.h"
#include "dpkg.h"
#include "layer_walk.h"
#include "os_release.h"
#include "rootfs.h"

static int stream_fd(const uint8_t *data, size_t size)
{
    int fd = memfd_create("layer", MFD_CLOEXEC);
    if (fd < 0)
        abort();

    size_t written = 0;
    while (written < size) {
        ssize_t n = write(fd, data + written, size - written);
        if (n <= 0)
            abort();
        written += (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) != 0)
        abort();
    return fd;
}

/* Walks the layer into fs. A walk that fails must leave the model as it
 * was, which the file and link counts show. */
static void walk(struct rootfs *fs, const uint8_t *data, size_t size)
{
    struct layer_walk_stats stats;
    char errbuf[512];
    size_t files = rootfs_file_count(fs);
    size_t symlinks = rootfs_symlink_count(fs);

    int fd = stream_fd(data, size);
    enum layer_walk_result result =
        layer_walk_fd(fs, fd, &stats, errbuf, sizeof(errbuf));
    close(fd);

    if (result != LAYER_WALK_OK && (rootfs_file_count(fs) != files ||
                                    rootfs_symlink_count(fs) != symlinks))
        abort();
}

static void scan(const struct rootfs *fs)
{
    struct os_release release;
    struct installed_package *packages;
    size_t count;
    char **names;
    size_t name_count;
    char errbuf[512];

    if (os_release_from_rootfs(fs, &release, errbuf, sizeof(errbuf)) ==
        OS_RELEASE_FOUND)
        os_release_clear(&release);

    dpkg_inventory_from_rootfs(fs, &packages, &count, errbuf, sizeof(errbuf));
    dpkg_packages_free(packages, count);

    apk_inventory_from_rootfs(fs, &packages, &count, errbuf, sizeof(errbuf));
    apk_packages_free(packages, count);

    if (rootfs_list_dir(fs, "etc", &names, &name_count) == ROOTFS_LOOKUP_FOUND)
        rootfs_names_free(names, name_count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rootfs_limits limits;

    rootfs_limits_init(&limits);
    limits.max_layer_bytes = 16 * 1024 * 1024;
    limits.max_total_bytes = 16 * 1024 * 1024;
    struct rootfs *fs = rootfs_new(&limits);
    if (fs == NULL)
        abort();

    walk(fs, data, size);
    scan(fs);
    walk(fs, data, size);
    scan(fs);
    rootfs_free(fs);
    return 0;
}
