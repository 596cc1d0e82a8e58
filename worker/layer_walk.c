/*
 * The tar reader is libarchive's. Each entry is classified by its
 * normalised path. Whiteouts become deletions in the open change set, and
 * kept files are read into memory. Every other entry is reported so that
 * it replaces what lower layers had at its path, and its body is skipped.
 */
#include "layer_walk.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer_stream.h"
#include "rootfs.h"

#define WHITEOUT_PREFIX ".wh."
#define OPAQUE_MARKER ".wh..wh..opq"
/* aufs bookkeeping entries (.wh..wh.plnk, .wh..wh.aufs) hide nothing. */
#define AUFS_PREFIX ".wh..wh."

struct walk {
    struct archive *archive;
    struct layer_stream *stream;
    struct rootfs_layer *layer;
    const struct rootfs_limits *limits;
    struct layer_walk_stats *stats;
    char *path; /* the entry's normalised path */
    char *link; /* a hard link's normalised target */
    char *errbuf;
    size_t errbuf_size;
};

const char *layer_walk_result_name(enum layer_walk_result result)
{
    switch (result) {
    case LAYER_WALK_OK:
        return "ok";
    case LAYER_WALK_CORRUPT:
        return "corrupt";
    case LAYER_WALK_TOO_LARGE:
        return "too large";
    case LAYER_WALK_NO_MEMORY:
        return "out of memory";
    }
    return "unknown";
}

static enum layer_walk_result from_rootfs(enum rootfs_status status)
{
    switch (status) {
    case ROOTFS_OK:
        return LAYER_WALK_OK;
    case ROOTFS_TOO_LARGE:
        return LAYER_WALK_TOO_LARGE;
    case ROOTFS_NO_MEMORY:
        return LAYER_WALK_NO_MEMORY;
    }
    return LAYER_WALK_NO_MEMORY;
}

static enum layer_walk_result archive_failure(struct walk *walk)
{
    const char *message = archive_error_string(walk->archive);
    int error = archive_errno(walk->archive);

    snprintf(walk->errbuf, walk->errbuf_size,
             "layer is not a readable tar stream after %llu entries: %s",
             (unsigned long long)walk->stats->entries,
             message ? message : "unknown libarchive error");
    return error == ENOMEM ? LAYER_WALK_NO_MEMORY : LAYER_WALK_CORRUPT;
}

/*
 * Writes raw as a relative path without empty or "." components into out
 * ("./a//b/" becomes "a/b"; the root becomes ""). A ".." component removes
 * the one before it and stops at the root ("a/../../b" becomes "b"), as
 * container runtimes clean layer paths before extracting them: dropping
 * such entries instead would let an image hide files it installs. A leading
 * "/" is dropped, as tar does on extraction. Returns -1 for a path longer
 * than capacity - 1 bytes.
 */
static int path_normalize(const char *raw, char *out, size_t capacity)
{
    size_t used = 0;

    while (*raw) {
        while (*raw == '/')
            raw++;
        if (*raw == '\0')
            break;

        const char *slash = strchr(raw, '/');
        size_t length = slash ? (size_t)(slash - raw) : strlen(raw);
        if (length == 1 && raw[0] == '.') {
            raw += length;
            continue;
        }
        if (length == 2 && raw[0] == '.' && raw[1] == '.') {
            while (used > 0 && out[used - 1] != '/')
                used--;
            if (used > 0)
                used--;
            raw += length;
            continue;
        }
        if (used + (used > 0) + length >= capacity)
            return -1;

        if (used > 0)
            out[used++] = '/';
        memcpy(out + used, raw, length);
        used += length;
        raw += length;
    }
    out[used] = '\0';
    return 0;
}

/*
 * path_normalize() for raw paths of any length. A raw path over capacity
 * can still clean to a short one ("x...x/../etc/os-release"), and docker
 * and containerd clean names that way before extracting them, so such an
 * entry must not be ignored. Cleaning never lengthens a path, so a buffer
 * of the raw length is enough.
 */
static int path_normalize_any(const char *raw, char *out, size_t capacity)
{
    size_t length = strlen(raw);

    if (length < capacity)
        return path_normalize(raw, out, capacity);

    char *cleaned = malloc(length + 1);
    if (!cleaned)
        return -1;
    int result = path_normalize(raw, cleaned, length + 1);
    if (result == 0 && strlen(cleaned) < capacity)
        memcpy(out, cleaned, strlen(cleaned) + 1);
    else
        result = -1;
    free(cleaned);
    return result;
}

static const char *entry_path(struct archive_entry *entry)
{
    const char *path = archive_entry_pathname(entry);

    /* A pax UTF-8 name the current locale cannot express. */
    if (!path)
        path = archive_entry_pathname_utf8(entry);
    return path;
}

static const char *entry_symlink(struct archive_entry *entry)
{
    const char *target = archive_entry_symlink(entry);

    if (!target)
        target = archive_entry_symlink_utf8(entry);
    return target;
}

static const char *entry_hardlink(struct archive_entry *entry)
{
    const char *target = archive_entry_hardlink(entry);

    if (!target)
        target = archive_entry_hardlink_utf8(entry);
    return target;
}

/* Makes a change at walk->path through rootfs_layer_apply(), so that a
 * recorder set on the model records it. */
static enum layer_walk_result
apply(struct walk *walk, enum rootfs_change_kind kind, const char *target)
{
    struct rootfs_change change = {
        .kind = kind,
        .path = walk->path,
        .target = target,
    };

    return from_rootfs(rootfs_layer_apply(walk->layer, &change, NULL,
                                          walk->errbuf, walk->errbuf_size));
}

/* base points at the last component of walk->path. */
static enum layer_walk_result walk_whiteout(struct walk *walk, char *base)
{
    if (strcmp(base, OPAQUE_MARKER) == 0) {
        walk->stats->whiteouts++;
        if (base == walk->path)
            base[0] = '\0';
        else
            base[-1] = '\0';
        return apply(walk, ROOTFS_CHANGE_OPAQUE, NULL);
    }
    if (strncmp(base, AUFS_PREFIX, strlen(AUFS_PREFIX)) == 0)
        return LAYER_WALK_OK;

    const char *name = base + strlen(WHITEOUT_PREFIX);
    if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        walk->stats->ignored_entries++;
        return LAYER_WALK_OK;
    }

    walk->stats->whiteouts++;
    memmove(base, name, strlen(name) + 1);
    return apply(walk, ROOTFS_CHANGE_WHITEOUT, NULL);
}

static enum layer_walk_result walk_symlink(struct walk *walk,
                                           struct archive_entry *entry)
{
    const char *target = entry_symlink(entry);

    /* A link we cannot store still replaces what lower layers held. */
    if (!target || target[0] == '\0' ||
        strlen(target) > walk->limits->max_path_bytes) {
        walk->stats->ignored_entries++;
        return apply(walk, ROOTFS_CHANGE_OTHER, NULL);
    }

    walk->stats->symlinks++;
    return apply(walk, ROOTFS_CHANGE_SYMLINK, target);
}

static enum layer_walk_result walk_hardlink(struct walk *walk,
                                            const char *target)
{
    if (path_normalize_any(target, walk->link,
                           walk->limits->max_path_bytes + 1) != 0 ||
        walk->link[0] == '\0') {
        walk->stats->ignored_entries++;
        return apply(walk, ROOTFS_CHANGE_OTHER, NULL);
    }

    struct rootfs_change change = {
        .kind = ROOTFS_CHANGE_HARDLINK,
        .path = walk->path,
        .target = walk->link,
    };
    int resolved = 0;
    enum rootfs_status status = rootfs_layer_apply(
        walk->layer, &change, &resolved, walk->errbuf, walk->errbuf_size);
    if (status != ROOTFS_OK)
        return from_rootfs(status);

    if (!resolved)
        walk->stats->unresolved_links++;
    else if (rootfs_classify(walk->path) == ROOTFS_KEEP)
        walk->stats->kept_files++;
    return LAYER_WALK_OK;
}

/* Reads the entry's data from offset up to size into data. */
static enum layer_walk_result read_entry_data(struct walk *walk, char *data,
                                              size_t offset, size_t size)
{
    size_t done = offset;

    while (done < size) {
        la_ssize_t count =
            archive_read_data(walk->archive, data + done, size - done);
        if (count < 0)
            return archive_failure(walk);
        if (count == 0)
            break;
        done += (size_t)count;
    }
    if (done < size) {
        snprintf(walk->errbuf, walk->errbuf_size,
                 "%s is truncated: %zu of %zu bytes", walk->path, done, size);
        return LAYER_WALK_CORRUPT;
    }
    return LAYER_WALK_OK;
}

static enum layer_walk_result
entry_size(struct walk *walk, struct archive_entry *entry, size_t *size)
{
    la_int64_t declared = archive_entry_size(entry);

    if (declared < 0) {
        snprintf(walk->errbuf, walk->errbuf_size,
                 "%s has a negative size in its tar header", walk->path);
        return LAYER_WALK_CORRUPT;
    }
    *size = (size_t)declared;
    return LAYER_WALK_OK;
}

/* Reads a file whose first head_size bytes are already in head, and adds
 * it to the change set. */
static enum layer_walk_result keep_file(struct walk *walk, size_t size,
                                        const char *head, size_t head_size)
{
    char *data = malloc(size + 1);
    if (!data) {
        snprintf(walk->errbuf, walk->errbuf_size,
                 "out of memory reading %s (%zu bytes)", walk->path, size);
        return LAYER_WALK_NO_MEMORY;
    }

    if (head_size > 0)
        memcpy(data, head, head_size);
    enum layer_walk_result result =
        read_entry_data(walk, data, head_size, size);
    if (result != LAYER_WALK_OK) {
        free(data);
        return result;
    }
    data[size] = '\0';

    struct rootfs_change change = {
        .kind = ROOTFS_CHANGE_FILE,
        .path = walk->path,
        .data = data,
        .size = size,
    };
    walk->stats->kept_files++;
    return from_rootfs(rootfs_layer_apply(walk->layer, &change, NULL,
                                          walk->errbuf, walk->errbuf_size));
}

static enum layer_walk_result walk_kept_file(struct walk *walk,
                                             struct archive_entry *entry)
{
    size_t size = 0;
    enum layer_walk_result result = entry_size(walk, entry, &size);
    if (result != LAYER_WALK_OK)
        return result;

    enum rootfs_status status = rootfs_layer_check_file(
        walk->layer, walk->path, size, walk->errbuf, walk->errbuf_size);
    if (status != ROOTFS_OK)
        return from_rootfs(status);
    return keep_file(walk, size, NULL, 0);
}

/* Whether data starts as a dpkg status file or an apk database does: dpkg
 * writes the Package field first, apk the checksum or the name. */
static bool looks_like_package_database(const char *data, size_t size)
{
    static const char *const starts[] = {"Package: ", "C:Q1", "P:"};

    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        size_t length = strlen(starts[i]);
        if (size >= length && memcmp(data, starts[i], length) == 0)
            return true;
    }
    return false;
}

/*
 * A regular file at a path the scanners do not read. A hard link shares
 * its target's contents, and tar stores the first path of a linked file as
 * the file and the later ones as links to it. So a package database whose
 * kept path (var/lib/dpkg/status) comes after another path of the same
 * file (var/backups/dpkg.status.0, status-old) arrives as a link to a file
 * that is not kept. Files that start like a package database are
 * therefore kept too, when they fit within the limits, so such a link
 * resolves. Any other file only replaces what lower layers had.
 * NOTE: such a file stays in the model even when no link names it, and
 * counts towards max_total_bytes like any kept file.
 */
static enum layer_walk_result walk_unkept_file(struct walk *walk,
                                               struct archive_entry *entry)
{
    char head[16];
    size_t size = 0;
    enum layer_walk_result result = entry_size(walk, entry, &size);
    if (result != LAYER_WALK_OK)
        return result;

    size_t head_size = size < sizeof(head) ? size : sizeof(head);
    result = read_entry_data(walk, head, 0, head_size);
    if (result != LAYER_WALK_OK)
        return result;

    if (looks_like_package_database(head, head_size) &&
        rootfs_layer_check_file(walk->layer, walk->path, size, walk->errbuf,
                                walk->errbuf_size) == ROOTFS_OK)
        return keep_file(walk, size, head, head_size);
    return apply(walk, ROOTFS_CHANGE_OTHER, NULL);
}

/* overlayfs marks an opaque folder with this extended attribute, which
 * some tools put in the layer's PAX headers instead of a .wh..wh..opq
 * entry. */
static bool has_opaque_xattr(struct archive_entry *entry)
{
    const char *name = NULL;
    const void *value = NULL;
    size_t size = 0;

    archive_entry_xattr_reset(entry);
    while (archive_entry_xattr_next(entry, &name, &value, &size) ==
           ARCHIVE_OK) {
        if ((strcmp(name, "trusted.overlay.opaque") == 0 ||
             strcmp(name, "user.overlay.opaque") == 0) &&
            size >= 1 && ((const char *)value)[0] == 'y')
            return true;
    }
    return false;
}

static enum layer_walk_result walk_directory(struct walk *walk,
                                             struct archive_entry *entry)
{
    enum layer_walk_result result = apply(walk, ROOTFS_CHANGE_DIRECTORY, NULL);
    if (result != LAYER_WALK_OK || !has_opaque_xattr(entry))
        return result;

    walk->stats->whiteouts++;
    return apply(walk, ROOTFS_CHANGE_OPAQUE, NULL);
}

static enum layer_walk_result walk_entry(struct walk *walk,
                                         struct archive_entry *entry)
{
    const char *raw = entry_path(entry);
    if (!raw || path_normalize_any(raw, walk->path,
                                   walk->limits->max_path_bytes + 1) != 0) {
        walk->stats->ignored_entries++;
        return LAYER_WALK_OK;
    }
    if (walk->path[0] == '\0')
        return LAYER_WALK_OK;

    char *slash = strrchr(walk->path, '/');
    char *base = slash ? slash + 1 : walk->path;
    if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
        return walk_whiteout(walk, base);

    /* pax lets a hard link carry its own data; such an entry is a file. */
    const char *hardlink = entry_hardlink(entry);
    if (hardlink && archive_entry_size(entry) == 0)
        return walk_hardlink(walk, hardlink);

    switch (archive_entry_filetype(entry)) {
    case AE_IFDIR:
        return walk_directory(walk, entry);
    case AE_IFLNK:
        return walk_symlink(walk, entry);
    case AE_IFREG:
        if (rootfs_classify(walk->path) == ROOTFS_KEEP)
            return walk_kept_file(walk, entry);
        return walk_unkept_file(walk, entry);
    case AE_IFCHR:
        /* overlayfs's whiteout: a character device 0/0, as a layer tarred
         * from an overlay upper folder carries it. */
        if (archive_entry_rdev(entry) == 0) {
            walk->stats->whiteouts++;
            return apply(walk, ROOTFS_CHANGE_WHITEOUT, NULL);
        }
        break;
    default:
        break;
    }
    return apply(walk, ROOTFS_CHANGE_OTHER, NULL);
}

static enum layer_walk_result check_counts(struct walk *walk,
                                           struct archive_entry *entry)
{
    const struct rootfs_limits *limits = walk->limits;

    if (walk->stats->entries > limits->max_layer_entries) {
        snprintf(walk->errbuf, walk->errbuf_size,
                 "layer has more than %zu entries (max_layer_entries)",
                 limits->max_layer_entries);
        return LAYER_WALK_TOO_LARGE;
    }

    la_int64_t position = archive_filter_bytes(walk->archive, 0);
    la_int64_t size = archive_entry_size(entry);
    uint64_t end = (uint64_t)(position > 0 ? position : 0) +
                   (uint64_t)(size > 0 ? size : 0);
    if (end > limits->max_layer_bytes) {
        snprintf(walk->errbuf, walk->errbuf_size,
                 "layer is larger than %llu bytes uncompressed "
                 "(max_layer_bytes), reached at entry %llu",
                 (unsigned long long)limits->max_layer_bytes,
                 (unsigned long long)walk->stats->entries);
        return LAYER_WALK_TOO_LARGE;
    }
    return LAYER_WALK_OK;
}

static enum layer_walk_result walk_entries(struct walk *walk)
{
    for (;;) {
        struct archive_entry *entry = NULL;
        int status = archive_read_next_header(walk->archive, &entry);
        /* NOTE: an uncompressed tar cut exactly between two entries reads
         * as complete here; only the layer's digest check can tell. */
        if (status == ARCHIVE_EOF)
            return LAYER_WALK_OK;
        /* ARCHIVE_WARN still gives a usable entry (an unconvertible
         * name, an ignored pax attribute); RETRY means a damaged header. */
        if (status < ARCHIVE_WARN)
            return archive_failure(walk);

        walk->stats->entries++;
        enum layer_walk_result result = check_counts(walk, entry);
        if (result == LAYER_WALK_OK)
            result = walk_entry(walk, entry);
        if (result != LAYER_WALK_OK)
            return result;

        if (archive_read_data_skip(walk->archive) < ARCHIVE_WARN)
            return archive_failure(walk);
    }
}

/*
 * Reads what follows the tar end marker (record padding, a compressor's
 * trailer). A process writing the layer into a pipe can then finish, and a
 * digest computed on the way covers every byte.
 */
static void drain_fd(int fd, uint64_t limit)
{
    char buffer[16384];
    uint64_t total = 0;

    while (total < limit) {
        ssize_t count = read(fd, buffer, sizeof(buffer));
        if (count < 0 && errno == EINTR)
            continue;
        if (count <= 0)
            return;
        total += (uint64_t)count;
    }
}

/* libarchive's read callback: hands over the decompressed block in place,
 * so libarchive skips unneeded file bodies without copying them. */
static la_ssize_t read_stream(struct archive *archive, void *context,
                              const void **block)
{
    struct layer_stream *stream = context;
    ssize_t size = layer_stream_read(stream, block);

    if (size < 0)
        archive_set_error(archive, EIO, "%s", layer_stream_error(stream));
    return size;
}

static struct archive *archive_open(void)
{
    struct archive *archive = archive_read_new();
    if (!archive)
        return NULL;

    /* gzip and zstd arrive decompressed by layer_stream.c; the rarer
     * bzip2 and xz pass through it to libarchive's filters (Debian 12's
     * libarchive links libbz2 and liblzma). archive_read_support_filter_all()
     * is avoided because some of its filters (lrzip, grzip) run an
     * external program on the data. */
    archive_read_support_filter_bzip2(archive);
    archive_read_support_filter_xz(archive);
    archive_read_support_format_tar(archive);
    return archive;
}

enum layer_walk_result layer_walk_fd(struct rootfs *fs, int fd,
                                     struct layer_walk_stats *stats,
                                     char *errbuf, size_t errbuf_size)
{
    struct layer_walk_stats unused;
    struct walk walk = {
        .limits = rootfs_get_limits(fs),
        .stats = stats ? stats : &unused,
        .errbuf = errbuf,
        .errbuf_size = errbuf_size,
    };
    enum layer_walk_result result = LAYER_WALK_NO_MEMORY;

    memset(walk.stats, 0, sizeof(*walk.stats));
    snprintf(errbuf, errbuf_size, "out of memory opening the layer");

    walk.archive = archive_open();
    if (!walk.archive)
        return result;

    walk.path = malloc(walk.limits->max_path_bytes + 1);
    walk.link = malloc(walk.limits->max_path_bytes + 1);
    if (!walk.path || !walk.link)
        goto out_free_buffers;

    walk.stream = layer_stream_new(fd);
    walk.layer = rootfs_layer_new(fs);
    if (!walk.stream || !walk.layer)
        goto out_free_layer;

    if (archive_read_open(walk.archive, walk.stream, NULL, read_stream, NULL) !=
        ARCHIVE_OK) {
        result = archive_failure(&walk);
        goto out_free_layer;
    }

    result = walk_entries(&walk);
    walk.stats->bytes_uncompressed =
        (uint64_t)archive_filter_bytes(walk.archive, 0);
    if (result != LAYER_WALK_OK)
        goto out_free_layer;

    drain_fd(fd, walk.limits->max_layer_bytes);
    rootfs_layer_commit(walk.layer);
    walk.layer = NULL;
    if (errbuf_size > 0)
        errbuf[0] = '\0';

out_free_layer:
    rootfs_layer_free(walk.layer);
    layer_stream_free(walk.stream);
out_free_buffers:
    free(walk.link);
    free(walk.path);
    archive_read_free(walk.archive);
    return result;
}
