/*
 * Reads one image layer, a tar stream that may be compressed, and applies
 * it to a root filesystem model (rootfs.h). Whiteouts and opaque folders
 * hide lower layers' content, and then the layer's kept files, symbolic
 * links and hard links are merged on top. Whiteouts are .wh.NAME entries
 * or overlayfs's character devices 0/0; opaque folders are marked by a
 * .wh..wh..opq entry or overlayfs's opaque extended attribute
 * (trusted.overlay.opaque or user.overlay.opaque, in PAX headers). The stream
 * is read once, as it arrives. Nothing is written to disk, and only the
 * contents of kept files are kept in memory.
 */
#ifndef IMGASSURE_LAYER_WALK_H
#define IMGASSURE_LAYER_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "rootfs.h"

enum layer_walk_result {
    LAYER_WALK_OK,
    LAYER_WALK_CORRUPT,   /* not a tar stream, bad compression, truncated */
    LAYER_WALK_TOO_LARGE, /* a limit of struct rootfs_limits was reached */
    LAYER_WALK_NO_MEMORY,
};

struct layer_walk_stats {
    uint64_t entries;            /* tar entries read, whiteouts included */
    uint64_t bytes_uncompressed; /* tar stream size after decompression */
    uint64_t kept_files;         /* regular files and hard links kept */
    uint64_t symlinks;           /* symbolic links recorded */
    uint64_t whiteouts;          /* whiteouts and opaque markers, any form */
    /* Entries never applied: a path or link target over max_path_bytes, a
     * name that is not valid in the current locale. */
    uint64_t ignored_entries;
    /* Hard links at a kept path whose target the model does not keep, so
     * the link's contents are unknown. */
    uint64_t unresolved_links;
};

/*
 * Reads one layer from fd (a pipe or a file, left open) and applies it to
 * fs. Compression is detected from the stream: gzip, zstd, bzip2, xz, or
 * none. Tar formats: ustar, pax, GNU.
 *
 * Returns LAYER_WALK_OK when the whole layer was applied, and then fd has
 * been read to its end. Any other result leaves fs as it was before the
 * call and writes the reason into errbuf. A LAYER_WALK_TOO_LARGE message
 * names the file or count and the limit that was reached. stats may be
 * NULL. Otherwise it is filled with what was read, even on failure.
 */
enum layer_walk_result layer_walk_fd(struct rootfs *fs, int fd,
                                     struct layer_walk_stats *stats,
                                     char *errbuf, size_t errbuf_size);

/* Returns a lowercase name for result ("ok", "corrupt", ...). */
const char *layer_walk_result_name(enum layer_walk_result result);

#endif
