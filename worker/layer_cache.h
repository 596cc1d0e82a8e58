/*
 * A cache of layer analyses in Redis. A layer is content-addressed, so what
 * one scan learnt from it (the changes it made to the file model, see
 * rootfs_set_recorder()) is valid for every image that contains it, in any
 * account. A scan that finds a layer's analysis here applies it without
 * downloading the blob. Image configs are cached the same way, so an image
 * whose layers are all known is rescanned from its manifest alone.
 *
 * Keys: imgassure:layer:<digest> and imgassure:config:<digest>. Each entry
 * expires ttl_s seconds after it was last written or read.
 *
 * A layer entry is versioned, checksummed and size-capped: an entry that
 * fails to decode is reported as invalid, and the caller analyses the
 * layer again and overwrites it. The cache only ever saves work, so every
 * Redis failure reads as a miss.
 */
#ifndef IMGASSURE_LAYER_CACHE_H
#define IMGASSURE_LAYER_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "rootfs.h"

/* Raised whenever the encoding, or what rootfs_classify() keeps, changes:
 * entries of other versions are then analysed again. */
#define LAYER_CACHE_FORMAT_VERSION 1

/* Largest entry read or written, in bytes, before and after
 * decompression. A layer whose analysis is larger is not cached. */
#define LAYER_CACHE_MAX_ENTRY_BYTES ((size_t)64 << 20)

/* Default lifetime of an entry: 7 days. */
#define LAYER_CACHE_DEFAULT_TTL_S (7L * 24 * 3600)

/* ---- Recording and encoding ------------------------------------------ */

/* The changes one layer made, collected while it is walked. */
struct layer_record;

/* Returns NULL when out of memory. */
struct layer_record *layer_record_new(void);

void layer_record_free(struct layer_record *record);

/* A rootfs_recorder: appends change to the record passed as context. A
 * record that outgrows LAYER_CACHE_MAX_ENTRY_BYTES, or cannot grow, is
 * marked unusable and stops growing. */
void layer_record_add(void *context, const struct rootfs_change *change);

/*
 * Encodes the record as a cache entry: a header with the format version,
 * the payload's size and its CRC-32, then the payload compressed with
 * zstd. Returns 0 with a malloc'd *entry of *size bytes, or -1 with the
 * reason in errbuf (the record is unusable, or memory ran out).
 */
int layer_record_encode(const struct layer_record *record,
                        unsigned char **entry, size_t *size, char *errbuf,
                        size_t errbuf_size);

enum layer_cache_apply_result {
    LAYER_CACHE_APPLIED,
    LAYER_CACHE_INVALID,   /* not a valid entry: analyse the layer again */
    LAYER_CACHE_TOO_LARGE, /* applying it reached a struct rootfs_limits */
    LAYER_CACHE_NO_MEMORY,
};

/*
 * Applies the layer changes encoded in entry to fs, as one change set.
 * Any result but LAYER_CACHE_APPLIED leaves fs as it was, with the
 * reason in errbuf. fs must have no recorder set.
 */
enum layer_cache_apply_result layer_cache_apply(struct rootfs *fs,
                                                const unsigned char *entry,
                                                size_t size, char *errbuf,
                                                size_t errbuf_size);

/* ---- Redis ------------------------------------------------------------- */

struct layer_cache;

/* Connects to the Redis at url (redis_conn.h). Returns NULL with the
 * reason in errbuf when it cannot be reached. */
struct layer_cache *layer_cache_connect(const char *url, long ttl_s,
                                        char *errbuf, size_t errbuf_size);

void layer_cache_free(struct layer_cache *cache);

enum layer_cache_kind {
    LAYER_CACHE_LAYER,  /* an encoded layer_record */
    LAYER_CACHE_CONFIG, /* an image config blob as the registry served it */
};

/*
 * Reads the entry of kind for digest and renews its expiry. Returns 1 with
 * a malloc'd *value of *size bytes, 0 when there is none or it is larger
 * than LAYER_CACHE_MAX_ENTRY_BYTES, or -1 with the reason in errbuf when
 * Redis failed (the connection is then closed, and later calls return -1).
 */
int layer_cache_get(struct layer_cache *cache, enum layer_cache_kind kind,
                    const char *digest, unsigned char **value, size_t *size,
                    char *errbuf, size_t errbuf_size);

/* Writes the entry of kind for digest with the cache's TTL. Returns 0, or
 * -1 with the reason in errbuf. */
int layer_cache_put(struct layer_cache *cache, enum layer_cache_kind kind,
                    const char *digest, const unsigned char *value, size_t size,
                    char *errbuf, size_t errbuf_size);

#endif
