/*
 * An in-memory model of an image's root filesystem that keeps only what the
 * scanners read. It stores the contents of files whose path can be a
 * scanner input (os-release, the dpkg status file and status.d entries, the
 * apk database), every symbolic link, and the folders leading to them.
 *
 * Layers are applied through a change set (struct rootfs_layer). A layer's
 * whiteouts and replacements delete lower-layer content first, and then
 * the layer's own files and links are merged on top. Lookups resolve
 * symbolic links inside the image root. Absolute targets start at the
 * image root, ".." never leaves it, and chains longer than
 * ROOTFS_MAX_SYMLINK_HOPS are reported as loops.
 *
 * A struct rootfs is owned by one thread at a time, because nothing in it
 * is locked.
 */
#ifndef IMGASSURE_ROOTFS_H
#define IMGASSURE_ROOTFS_H

#include <stddef.h>
#include <stdint.h>

/* Linux gives up after 40 links in one lookup (MAXSYMLINKS); so do we. */
#define ROOTFS_MAX_SYMLINK_HOPS 40

/*
 * Limits on what the model contains. They apply at every moment, also
 * while a layer is being applied. At that time a lower file or link that
 * the layer replaces and its replacement are both in memory, so both count.
 */
struct rootfs_limits {
    size_t max_file_bytes;    /* one kept file; default 64 MiB */
    size_t max_total_bytes;   /* all kept files together; default 256 MiB */
    size_t max_symlinks;      /* symbolic links in the model; default 200000 */
    size_t max_path_bytes;    /* entry paths and link targets; default 4096 */
    size_t max_layer_entries; /* tar entries in one layer; default 1000000 */
    uint64_t max_layer_bytes; /* uncompressed size of one layer; 64 GiB */
};

/* Contents of a kept file. data contains size bytes followed by a NUL that
 * size does not count, so text parsers may stop at it. */
struct rootfs_file {
    const char *data;
    size_t size;
};

enum rootfs_status {
    ROOTFS_OK,
    ROOTFS_TOO_LARGE, /* a limit from struct rootfs_limits was reached */
    ROOTFS_NO_MEMORY,
};

enum rootfs_lookup {
    ROOTFS_LOOKUP_FOUND,
    ROOTFS_LOOKUP_NOT_FOUND,
    ROOTFS_LOOKUP_LOOP, /* more than ROOTFS_MAX_SYMLINK_HOPS links on the way */
    ROOTFS_LOOKUP_NO_MEMORY,
};

/* Decision on a regular file's contents, from rootfs_classify(). */
enum rootfs_keep {
    ROOTFS_SKIP, /* only its existence matters: it replaces lower entries */
    ROOTFS_KEEP, /* its contents are kept */
};

struct rootfs;
struct rootfs_layer;

/* Fills *limits with the defaults listed in struct rootfs_limits. */
void rootfs_limits_init(struct rootfs_limits *limits);

/*
 * Creates an empty model. limits may be NULL for the defaults; it is
 * copied. Returns NULL when out of memory. Free with rootfs_free().
 */
struct rootfs *rootfs_new(const struct rootfs_limits *limits);

/* Frees the model and any change set still open on it. NULL is a no-op. */
void rootfs_free(struct rootfs *fs);

const struct rootfs_limits *rootfs_get_limits(const struct rootfs *fs);

/*
 * Decides from its trailing path components whether a regular file's
 * contents are kept. Kept are:
 *   - a file named os-release,
 *   - a file named status in any folder, since var/lib/dpkg may be a
 *     symbolic link to a folder of any name,
 *   - any file in a folder status.d inside a folder dpkg, except the
 *     *.md5sums lists,
 *   - a file named installed in apk/db.
 * Trailing components are used because a package-database folder may be
 * reached through a symbolic link. path is normalised ("a/b", no leading
 * slash).
 */
enum rootfs_keep rootfs_classify(const char *path);

/*
 * Resolves path through symbolic links and, when it names a kept file,
 * sets *file to it. path is relative to the image root, and a leading "/"
 * is allowed. *file stays valid until the model is next changed or freed.
 * Returns ROOTFS_LOOKUP_NOT_FOUND for a missing path, a folder, or a link
 * that leads to something the model does not keep.
 */
enum rootfs_lookup rootfs_resolve(const struct rootfs *fs, const char *path,
                                  const struct rootfs_file **file);

/* rootfs_resolve() for callers that only need the contents: NULL when the
 * path is not a kept file, whatever the reason. */
const struct rootfs_file *rootfs_find(const struct rootfs *fs,
                                      const char *path);

/*
 * Lists the names of the kept files and symbolic links directly inside the
 * folder at path (resolved through symbolic links), sorted bytewise. On
 * ROOTFS_LOOKUP_FOUND, *names is a malloc'd array of *count malloc'd
 * strings that the caller frees with rootfs_names_free(). Otherwise *names
 * is NULL and *count 0. The model contains a folder only on the way to a
 * kept file or link, so a folder that never led to one is
 * ROOTFS_LOOKUP_NOT_FOUND. A folder that a later layer emptied may be
 * found with *count 0.
 */
enum rootfs_lookup rootfs_list_dir(const struct rootfs *fs, const char *path,
                                   char ***names, size_t *count);

void rootfs_names_free(char **names, size_t count);

/* Kept files and symbolic links in the model, an open change set's
 * included. */
size_t rootfs_file_count(const struct rootfs *fs);
size_t rootfs_symlink_count(const struct rootfs *fs);

/*
 * Change sets. One layer is applied by opening a change set, reporting
 * each tar entry to it, then committing it. Until rootfs_layer_commit()
 * the model is unchanged, and rootfs_layer_free() without a commit
 * discards the layer. Only one change set may be open on a model.
 * Paths are normalised: relative, with no ".", ".." or empty components.
 *
 * Calls that can fail return ROOTFS_TOO_LARGE or ROOTFS_NO_MEMORY with
 * detail in errbuf. A ROOTFS_TOO_LARGE message names the limit reached.
 * After a failure the change set must be freed, not committed.
 */

/* Opens a change set on fs. Returns NULL when out of memory. */
struct rootfs_layer *rootfs_layer_new(struct rootfs *fs);

/* Checks that a kept file of size bytes at path fits the per-file and
 * total limits, before its contents are read. */
enum rootfs_status rootfs_layer_check_file(struct rootfs_layer *layer,
                                           const char *path, uint64_t size,
                                           char *errbuf, size_t errbuf_size);

/*
 * Adds a kept regular file. Takes ownership of data, a malloc'd buffer of
 * size + 1 bytes whose last byte is NUL, even on failure.
 */
enum rootfs_status rootfs_layer_put_file(struct rootfs_layer *layer,
                                         const char *path, char *data,
                                         size_t size, char *errbuf,
                                         size_t errbuf_size);

/* Adds a symbolic link; target is stored as given (copied). */
enum rootfs_status rootfs_layer_put_symlink(struct rootfs_layer *layer,
                                            const char *path,
                                            const char *target, char *errbuf,
                                            size_t errbuf_size);

/* Records a folder entry: it replaces a lower file or link at path. */
enum rootfs_status rootfs_layer_put_directory(struct rootfs_layer *layer,
                                              const char *path, char *errbuf,
                                              size_t errbuf_size);

/* Records a non-folder entry whose contents are not kept (a regular file
 * the scanners do not read, a device, a FIFO). It replaces whatever lower
 * layers have at and under path. */
enum rootfs_status rootfs_layer_put_other(struct rootfs_layer *layer,
                                          const char *path, char *errbuf,
                                          size_t errbuf_size);

/*
 * Records a hard link at path to target. When target is a kept file or a
 * symbolic link earlier in this layer or in the model, path gets a copy of
 * it. A link to a file the model does not keep cannot be copied and only
 * replaces what lower layers have at path. *resolved is set to 0 when path
 * is a kept path whose contents could not be copied, else to 1.
 */
enum rootfs_status rootfs_layer_put_hardlink(struct rootfs_layer *layer,
                                             const char *path,
                                             const char *target, int *resolved,
                                             char *errbuf, size_t errbuf_size);

/* Records a whiteout (".wh.NAME" in a folder): path, and everything under
 * it, is deleted from lower layers. */
enum rootfs_status rootfs_layer_whiteout(struct rootfs_layer *layer,
                                         const char *path, char *errbuf,
                                         size_t errbuf_size);

/* Records an opaque folder (".wh..wh..opq" inside it): everything lower
 * layers hold under dir is hidden. dir "" is the image root. */
enum rootfs_status rootfs_layer_opaque(struct rootfs_layer *layer,
                                       const char *dir, char *errbuf,
                                       size_t errbuf_size);

/*
 * Recording a layer's effect. A layer's changes, replayed in order through
 * rootfs_layer_apply() on a later model, change it as the layer's tar
 * stream did, so an analysed layer can be applied again without its blob.
 */
enum rootfs_change_kind {
    ROOTFS_CHANGE_FILE,      /* path, data, size: rootfs_layer_put_file() */
    ROOTFS_CHANGE_SYMLINK,   /* path, target */
    ROOTFS_CHANGE_DIRECTORY, /* path */
    ROOTFS_CHANGE_OTHER,     /* path */
    ROOTFS_CHANGE_HARDLINK,  /* path, target */
    ROOTFS_CHANGE_WHITEOUT,  /* path */
    ROOTFS_CHANGE_OPAQUE,    /* path: the folder, "" for the image root */
};

/* One change to a change set. Fields a kind does not use are ignored. */
struct rootfs_change {
    enum rootfs_change_kind kind;
    const char *path;
    const char *target;
    char *data; /* size + 1 bytes, the last a NUL */
    size_t size;
};

/* Called with each change that rootfs_layer_apply() made without error. */
typedef void (*rootfs_recorder)(void *context,
                                const struct rootfs_change *change);

/* Returns 1 when no layer has put anything into fs yet, else 0. A change
 * that only hides lower layers' content does nothing to such a model. */
int rootfs_is_empty(const struct rootfs *fs);

/* Reports every later successful rootfs_layer_apply() on fs to recorder.
 * NULL stops the reports. */
void rootfs_set_recorder(struct rootfs *fs, rootfs_recorder recorder,
                         void *context);

/*
 * Makes change through the rootfs_layer_* call its kind names, then
 * reports it to the recorder when that call succeeded. For
 * ROOTFS_CHANGE_FILE it takes ownership of change->data, as
 * rootfs_layer_put_file() does. *resolved, when resolved is not NULL, is
 * set as rootfs_layer_put_hardlink() sets it, and to 1 for other kinds.
 */
enum rootfs_status rootfs_layer_apply(struct rootfs_layer *layer,
                                      const struct rootfs_change *change,
                                      int *resolved, char *errbuf,
                                      size_t errbuf_size);

/* Applies the change set to its model and frees it. Cannot fail. */
void rootfs_layer_commit(struct rootfs_layer *layer);

/* Discards an uncommitted change set, leaving the model as it was. NULL
 * is a no-op. */
void rootfs_layer_free(struct rootfs_layer *layer);

#endif
