/*
 * The scan pipeline: source → manifest → layers → file facts →
 * inventory. One call scans one image and fills a result. Workers scan
 * from registries only; `imgassure scan` also reads local sources.
 */
#ifndef IMGASSURE_SCAN_H
#define IMGASSURE_SCAN_H

#include "event.h"
#include "vulndb.h"

#include <signal.h>
#include <stdint.h>

/* Transfer counts of one scan, for benchmarks and tests. */
struct scan_stats {
    uint64_t blob_bytes;      /* config and layer bytes from the registry */
    size_t layers_cached;     /* layers applied from the layer cache */
    size_t layers_downloaded; /* layers downloaded and walked */
};

struct scan_options {
    const char *credentials_file; /* auth.json / config.json, or NULL */
    /* Folder of per-account credentials files (ACCOUNT.json), each used
     * instead of credentials_file for its account's scans; or NULL. */
    const char *credentials_dir;
    const char *insecure_registries; /* comma-separated host:port, or NULL */
    long connect_timeout_s;
    long pull_timeout_s;
    /* A transfer slower than low_speed_bytes_per_s for low_speed_window_s
     * times out; 0 in either keeps the registry client's default. */
    long low_speed_bytes_per_s;
    long low_speed_window_s;
    const volatile sig_atomic_t *abort_requested; /* may be NULL */
    /* The database to match against, or NULL: the result then says that
     * vulnerabilities were not matched. */
    const struct vulndb *vulndb;
    /* A database built longer ago than this is named stale in the
     * result's detail; 0 turns the check off. */
    int64_t vulndb_max_age_ms;
    /* Images whose layers total more bytes are INSUFFICIENT_RESOURCES
     * without a download; 0 turns the limit off. */
    int64_t max_image_bytes;
    /* Largest file the scan holds in memory (a package database,
     * os-release); 0 keeps the file model's default. */
    uint64_t max_kept_file_bytes;
    /* Redis holding layer analyses and image configs (layer_cache.h), or
     * NULL for no cache. Entries live layer_cache_ttl_s seconds after
     * their last use; 0 turns the cache off. */
    const char *layer_cache_url;
    long layer_cache_ttl_s;
    struct scan_stats *stats; /* filled when not NULL */
};

/*
 * Scans request->image and fills the scan-specific fields of result:
 * status, status_detail, manifest_digest, platform, OS, packages, layer
 * count and size. The caller fills identity, ids and timings. Returns 0,
 * or -1 when *abort_requested became non-zero and the scan was abandoned
 * (result is then incomplete and must not be published).
 */
int scan_image(const struct scan_options *options,
               const struct scan_request *request, struct scan_result *result);

struct image_source;
struct image_ref;

/*
 * As scan_image(), from a source the caller opened (image_source.h) and
 * still owns. platform chooses from an index as an event's platform does;
 * NULL means linux/amd64, else the only Linux image.
 */
int scan_image_source(const struct scan_options *options,
                      struct image_source *source, const char *platform,
                      struct scan_result *result);

/*
 * Opens a registry source for ref with the registry settings of options,
 * as scan_image() does. On failure *source is NULL and result's detail gives
 * the reason. Returns 0.
 */
int scan_open_registry_source(const struct scan_options *options,
                              const struct image_ref *ref,
                              struct image_source **source,
                              struct scan_result *result);

#endif
