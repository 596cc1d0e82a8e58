/* F_SETPIPE_SZ is Linux-specific. */
#define _GNU_SOURCE
#include "scan.h"

#include "apk.h"
#include "avro_datum.h"
#include "clock.h"
#include "credentials.h"
#include "dpkg.h"
#include "image_source.h"
#include "image_ref.h"
#include "layer_cache.h"
#include "layer_walk.h"
#include "log.h"
#include "manifest.h"
#include "match.h"
#include "os_release.h"
#include "registry.h"
#include "rootfs.h"
#include "severity.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCAN_ABANDONED (-1)

/* The layer pipe's buffer: Linux's default of 64 KiB would cut the layer
 * walk's 1 MiB reads into 16. 1 MiB is the default pipe-max-size, so an
 * unprivileged process may set it; when it cannot, the default stays. */
#define PIPE_BYTES (1024 * 1024)

/* Everything one scan holds; scan_image frees it before returning. */
struct scan_context {
    const struct scan_options *options;
    struct scan_result *result;
    struct image_source *source;
    const char *platform;      /* requested platform, or NULL */
    struct manifest *manifest; /* the platform manifest being scanned */
    struct rootfs *fs;
    struct layer_cache *cache; /* NULL until connected, or when off */
    int cache_tried;
    struct scan_stats stats;
};

static int set_status(struct scan_result *result, enum scan_status status,
                      const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int set_status(struct scan_result *result, enum scan_status status,
                      const char *format, ...)
{
    char detail[1024];
    va_list args;

    va_start(args, format);
    vsnprintf(detail, sizeof(detail), format, args);
    va_end(args);

    free(result->status_detail);
    result->status = status;
    result->status_detail = strdup(detail);
    return 0;
}

static int aborted(const struct scan_context *scan)
{
    const volatile sig_atomic_t *flag = scan->options->abort_requested;

    return flag != NULL && *flag != 0;
}

/* A local image is whole or damaged: there is no network to blame. */
static int local_failure(struct scan_context *scan, enum registry_status status,
                         const char *what, const char *reason)
{
    switch (status) {
    case REGISTRY_NOT_FOUND:
    case REGISTRY_DIGEST_MISMATCH:
    case REGISTRY_INVALID_RESPONSE:
        return set_status(scan->result, SCAN_STATUS_PARTIAL,
                          "%s: %s; the local image is damaged: save or copy "
                          "it again",
                          what, reason);
    case REGISTRY_ABORTED:
        return SCAN_ABANDONED;
    default:
        return set_status(scan->result, SCAN_STATUS_INTERNAL_ERROR, "%s: %s",
                          what, reason);
    }
}

/* Maps a source failure to the status the user acts on, with advice. */
static int registry_failure(struct scan_context *scan,
                            enum registry_status status, const char *what,
                            const char *reason)
{
    const char *registry = scan->source->ref.registry;

    if (scan->source->kind != IMAGE_SOURCE_REGISTRY)
        return local_failure(scan, status, what, reason);
    switch (status) {
    case REGISTRY_UNAUTHORIZED:
        if (strstr(reason, "certificate") != NULL)
            return set_status(scan->result, SCAN_STATUS_UNAUTHORIZED,
                              "%s: %s; add the CA that signed the "
                              "certificate of %s to the workers' trust store",
                              what, reason, registry);
        return set_status(scan->result, SCAN_STATUS_UNAUTHORIZED,
                          "%s: %s; give the workers credentials for %s in "
                          "their auth file (IMGASSURE_AUTH_FILE)",
                          what, reason, registry);
    case REGISTRY_TIMEOUT:
        return set_status(scan->result, SCAN_STATUS_TIMEOUT,
                          "%s: %s; if the registry is slow but working, "
                          "raise IMGASSURE_PULL_TIMEOUT_S or lower "
                          "IMGASSURE_LOW_SPEED_BYTES_S, then request a new "
                          "scan",
                          what, reason);
    case REGISTRY_NETWORK:
        if (strstr(reason, "wrong version number") != NULL)
            return set_status(scan->result, SCAN_STATUS_NETWORK_ERROR,
                              "%s: %s; %s answers plain HTTP: list it in "
                              "IMGASSURE_INSECURE_REGISTRIES if that is "
                              "intended",
                              what, reason, registry);
        return set_status(scan->result, SCAN_STATUS_NETWORK_ERROR,
                          "%s: %s; check that the workers can reach %s", what,
                          reason, registry);
    case REGISTRY_NOT_FOUND:
        return set_status(scan->result, SCAN_STATUS_NETWORK_ERROR,
                          "%s: %s; the image is not in the registry (deleted, "
                          "or a wrong name)",
                          what, reason);
    case REGISTRY_DIGEST_MISMATCH:
    case REGISTRY_INVALID_RESPONSE:
        return set_status(scan->result, SCAN_STATUS_PARTIAL,
                          "%s: %s; the registry served broken content: "
                          "repair the image there, then request a new scan",
                          what, reason);
    case REGISTRY_ABORTED:
        return SCAN_ABANDONED;
    default:
        return set_status(scan->result, SCAN_STATUS_INTERNAL_ERROR, "%s: %s",
                          what, reason);
    }
}

static int open_registry_source(struct scan_context *scan,
                                const struct image_ref *ref,
                                const char *account)
{
    struct registry_options options;
    char errbuf[512], credentials_path[4096];

    if (credentials_choose_file(scan->options->credentials_dir, account,
                                scan->options->credentials_file,
                                credentials_path, sizeof(credentials_path),
                                errbuf, sizeof(errbuf)) != 0)
        return set_status(scan->result, SCAN_STATUS_INTERNAL_ERROR,
                          "no credentials file for account %s: %s",
                          account ? account : "(none)", errbuf);

    registry_options_init(&options);
    options.credentials_path = credentials_path;
    options.insecure_registries = scan->options->insecure_registries;
    if (scan->options->connect_timeout_s > 0)
        options.connect_timeout_s = scan->options->connect_timeout_s;
    if (scan->options->pull_timeout_s > 0)
        options.total_timeout_s = scan->options->pull_timeout_s;
    if (scan->options->low_speed_bytes_per_s > 0 &&
        scan->options->low_speed_window_s > 0) {
        options.low_speed_bytes_per_s = scan->options->low_speed_bytes_per_s;
        options.low_speed_time_s = scan->options->low_speed_window_s;
    }

    scan->source =
        image_source_registry_new(&options, ref, errbuf, sizeof(errbuf));
    if (scan->source == NULL)
        return set_status(scan->result, SCAN_STATUS_INTERNAL_ERROR,
                          "registry client setup failed: %s; the scan runs "
                          "again by itself once that is fixed",
                          errbuf);
    return 0;
}

/* Fetches and parses the manifest or index that reference names. */
static int fetch_manifest(struct scan_context *scan, const char *reference,
                          struct manifest **parsed, char *digest,
                          size_t digest_size)
{
    struct registry_manifest fetched;
    enum registry_status status;
    char errbuf[512];
    int failed;

    status = scan->source->ops->fetch_manifest(
        scan->source, reference, &fetched, errbuf, sizeof(errbuf));
    if (status != REGISTRY_OK)
        return registry_failure(scan, status, "manifest fetch failed", errbuf);

    failed = manifest_parse(fetched.body, fetched.size, fetched.content_type,
                            parsed, errbuf, sizeof(errbuf));
    snprintf(digest, digest_size, "%s", fetched.digest);
    registry_manifest_clear(&fetched);
    if (failed)
        return set_status(scan->result, SCAN_STATUS_NOT_AN_IMAGE,
                          "the manifest of %s is not a container image "
                          "manifest: %s",
                          reference, errbuf);
    return 0;
}

/* Resolves the request's reference to one platform manifest. */
static int resolve_manifest(struct scan_context *scan)
{
    const struct manifest_child *child;
    struct manifest *top = NULL;
    char digest[IMAGE_REF_DIGEST_MAX + 1];
    char errbuf[512];
    int outcome;

    outcome = fetch_manifest(scan, scan->source->reference, &top, digest,
                             sizeof(digest));
    if (outcome != 0 || top == NULL)
        return outcome;
    if (top->kind == MANIFEST_KIND_MANIFEST) {
        scan->manifest = top;
        scan->result->manifest_digest = strdup(digest);
        return 0;
    }

    if (manifest_select_platform(top, scan->platform, &child, errbuf,
                                 sizeof(errbuf)) != 0) {
        manifest_free(top);
        return set_status(scan->result, SCAN_STATUS_UNSUPPORTED_OS,
                          "%s; imgassure scans Linux images only", errbuf);
    }
    snprintf(digest, sizeof(digest), "%s", child->descriptor.digest);
    manifest_free(top);

    outcome =
        fetch_manifest(scan, digest, &scan->manifest, digest, sizeof(digest));
    if (outcome != 0 || scan->manifest == NULL)
        return outcome;
    if (scan->manifest->kind != MANIFEST_KIND_MANIFEST)
        return set_status(scan->result, SCAN_STATUS_NOT_AN_IMAGE,
                          "index child %s is itself an index; nested "
                          "indexes are not images",
                          digest);
    scan->result->manifest_digest = strdup(digest);
    return 0;
}

/* Connects to the layer cache on first use. A cache that cannot be
 * reached is left out of this scan: it saves work but decides nothing. */
static struct layer_cache *scan_cache(struct scan_context *scan)
{
    static atomic_ulong failures;
    char errbuf[512];

    if (scan->cache_tried)
        return scan->cache;
    scan->cache_tried = 1;
    if (scan->options->layer_cache_url == NULL ||
        scan->options->layer_cache_ttl_s <= 0)
        return NULL;

    scan->cache = layer_cache_connect(scan->options->layer_cache_url,
                                      scan->options->layer_cache_ttl_s, errbuf,
                                      sizeof(errbuf));
    if (scan->cache == NULL) {
        unsigned long count = ++failures;
        /* Logged at 1, 2, 4, 8, ... failures so a Redis outage does not
         * flood the log. */
        if ((count & (count - 1)) == 0)
            log_write(LOG_WARNING, "SCAN",
                      "layer cache unavailable, downloading every layer "
                      "(failure %lu): %s",
                      count, errbuf);
    }
    return scan->cache;
}

/* Reads the image config: it must describe a Linux image. */
static int check_config(struct scan_context *scan)
{
    const struct manifest_descriptor *config = &scan->manifest->config;
    struct manifest_platform platform;
    enum registry_status status;
    char *body = NULL;
    size_t size;
    char errbuf[512], name[256];

    if (scan_cache(scan) == NULL ||
        layer_cache_get(scan->cache, LAYER_CACHE_CONFIG, config->digest,
                        (unsigned char **)&body, &size, errbuf,
                        sizeof(errbuf)) != 1) {
        status = scan->source->ops->fetch_blob(scan->source, config->digest,
                                               config->size, &body, &size,
                                               errbuf, sizeof(errbuf));
        if (status != REGISTRY_OK)
            return registry_failure(scan, status, "image config fetch failed",
                                    errbuf);
        scan->stats.blob_bytes += size;
        if (scan->cache != NULL)
            layer_cache_put(scan->cache, LAYER_CACHE_CONFIG, config->digest,
                            (const unsigned char *)body, size, errbuf,
                            sizeof(errbuf));
    }
    if (manifest_parse_config(body, size, &platform, errbuf, sizeof(errbuf)) !=
        0) {
        free(body);
        return set_status(scan->result, SCAN_STATUS_NOT_AN_IMAGE,
                          "the image config is not valid: %s", errbuf);
    }
    free(body);

    manifest_format_platform(&platform, name, sizeof(name));
    free(scan->result->image.platform);
    scan->result->image.platform = strdup(name);
    if (strcmp(platform.os, "linux") != 0)
        return set_status(scan->result, SCAN_STATUS_UNSUPPORTED_OS,
                          "the image is for %s; imgassure scans Linux images "
                          "only",
                          name);
    return 0;
}

/* A layer download runs on its own thread and writes into a pipe that the
 * layer walk reads, so the walk never waits for a whole layer and the
 * layer is never held whole in memory (the pipe buffers PIPE_BYTES). The
 * download thread also computes the blob's digest, so hashing runs beside
 * the decompression instead of before it. */
struct layer_download {
    struct scan_context *scan;
    const struct manifest_descriptor *layer;
    int write_fd;
    uint64_t bytes;
    enum registry_status status;
    char errbuf[512];
};

static int write_to_pipe(const void *data, size_t size, void *userdata)
{
    struct layer_download *download = userdata;
    const char *bytes = data;

    if (aborted(download->scan))
        return -1;
    download->bytes += size;
    while (size > 0) {
        ssize_t written = write(download->write_fd, bytes, size);

        if (written < 0 && errno == EINTR)
            continue;
        /* EPIPE: the walk stopped reading, a corrupt layer. */
        if (written < 0)
            return -1;
        bytes += written;
        size -= (size_t)written;
    }
    return 0;
}

static void *download_layer(void *argument)
{
    struct layer_download *download = argument;
    struct scan_context *scan = download->scan;
    sigset_t pipe_signal;

    /* A walk that stops early closes the pipe, and the next write raises
     * SIGPIPE, which kills a process that does not ignore it (imgassure
     * scan). Blocked in this thread only, it leaves write() failing with
     * EPIPE. */
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);

    download->status = scan->source->ops->stream_blob(
        scan->source, download->layer->digest, download->layer->size,
        write_to_pipe, download, download->errbuf, sizeof(download->errbuf));
    close(download->write_fd);
    return NULL;
}

/* Reads what the walk left unread so the download reaches its end and
 * the digest of the whole blob is checked. */
static void drain(int fd)
{
    char buffer[65536];

    while (read(fd, buffer, sizeof(buffer)) > 0)
        continue;
}

static int walk_result_status(struct scan_context *scan, size_t index,
                              enum layer_walk_result walked, const char *reason)
{
    const char *digest = scan->manifest->layers[index].digest;

    if (walked == LAYER_WALK_TOO_LARGE && strstr(reason, "max_file_bytes"))
        return set_status(scan->result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                          "layer %zu (%s): %s; the scan holds this file in "
                          "memory: raise IMGASSURE_MAX_KEPT_FILE_BYTES if the "
                          "workers can afford it, then request a new scan",
                          index + 1, digest, reason);
    if (walked == LAYER_WALK_TOO_LARGE)
        return set_status(scan->result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                          "layer %zu (%s): %s", index + 1, digest, reason);
    if (walked == LAYER_WALK_NO_MEMORY)
        return set_status(scan->result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                          "out of memory reading layer %zu (%s)", index + 1,
                          digest);
    return set_status(scan->result, SCAN_STATUS_PARTIAL,
                      "layer %zu (%s) could not be read: %s; repair the "
                      "image in its registry, then request a new scan",
                      index + 1, digest, reason);
}

/* Applies the layer's cached analysis. Returns 1 when it was applied,
 * else 0, and then the layer is downloaded as if nothing were cached. */
static int apply_cached_layer(struct scan_context *scan, size_t index)
{
    const char *digest = scan->manifest->layers[index].digest;
    unsigned char *entry;
    size_t size;
    char errbuf[512];

    if (scan_cache(scan) == NULL ||
        layer_cache_get(scan->cache, LAYER_CACHE_LAYER, digest, &entry, &size,
                        errbuf, sizeof(errbuf)) != 1)
        return 0;

    enum layer_cache_apply_result applied =
        layer_cache_apply(scan->fs, entry, size, errbuf, sizeof(errbuf));
    free(entry);
    if (applied != LAYER_CACHE_APPLIED) {
        log_write(LOG_WARNING, "SCAN",
                  "layer %s: cached analysis not used, reading the layer "
                  "again: %s",
                  digest, errbuf);
        return 0;
    }
    scan->stats.layers_cached++;
    return 1;
}

static void store_layer(struct scan_context *scan, size_t index,
                        const struct layer_record *record)
{
    const char *digest = scan->manifest->layers[index].digest;
    unsigned char *entry;
    size_t size;
    char errbuf[512];

    if (layer_record_encode(record, &entry, &size, errbuf, sizeof(errbuf)) !=
            0 ||
        layer_cache_put(scan->cache, LAYER_CACHE_LAYER, digest, entry, size,
                        errbuf, sizeof(errbuf)) != 0)
        log_write(LOG_WARNING, "SCAN", "layer %s: not cached: %s", digest,
                  errbuf);
    free(entry);
}

static int scan_layer(struct scan_context *scan, size_t index)
{
    struct layer_download download;
    enum layer_walk_result walked;
    char walk_error[512];
    pthread_t thread;
    int fds[2];

    memset(&download, 0, sizeof(download));
    download.scan = scan;
    download.layer = &scan->manifest->layers[index];
    if (pipe(fds) != 0)
        return set_status(scan->result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                          "cannot create a pipe: %s", strerror(errno));
    download.write_fd = fds[1];
    (void)fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES);
    if (pthread_create(&thread, NULL, download_layer, &download) != 0) {
        close(fds[0]);
        close(fds[1]);
        return set_status(scan->result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                          "cannot start a download thread");
    }

    /* The walk's changes are recorded for the cache as they are made. */
    struct layer_record *record =
        scan_cache(scan) != NULL ? layer_record_new() : NULL;
    if (record != NULL)
        rootfs_set_recorder(scan->fs, layer_record_add, record);
    walked =
        layer_walk_fd(scan->fs, fds[0], NULL, walk_error, sizeof(walk_error));
    rootfs_set_recorder(scan->fs, NULL, NULL);
    /* A corrupt layer is read to its end too: when its bytes do not match
     * the digest, that mismatch is the cause to report, not the tar error
     * it led to. */
    if (walked == LAYER_WALK_OK || walked == LAYER_WALK_CORRUPT)
        drain(fds[0]);
    close(fds[0]);
    pthread_join(thread, NULL);
    scan->stats.blob_bytes += download.bytes;
    scan->stats.layers_downloaded++;

    int outcome = 0;
    if (aborted(scan))
        outcome = SCAN_ABANDONED;
    else if (download.status != REGISTRY_OK &&
             (walked == LAYER_WALK_OK || download.status != REGISTRY_ABORTED))
        outcome = registry_failure(scan, download.status,
                                   "layer download failed", download.errbuf);
    else if (walked != LAYER_WALK_OK)
        outcome = walk_result_status(scan, index, walked, walk_error);
    /* Stored only now that the download's digest check passed. */
    else if (record != NULL)
        store_layer(scan, index, record);
    layer_record_free(record);
    return outcome;
}

static int scan_layers(struct scan_context *scan)
{
    struct rootfs_limits limits;

    rootfs_limits_init(&limits);
    if (scan->options->max_kept_file_bytes > 0) {
        limits.max_file_bytes = (size_t)scan->options->max_kept_file_bytes;
        /* One file may never need more than all kept files together. */
        if (limits.max_total_bytes < limits.max_file_bytes)
            limits.max_total_bytes = limits.max_file_bytes;
    }
    scan->fs = rootfs_new(&limits);
    if (scan->fs == NULL)
        return set_status(scan->result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                          "out of memory creating the file model");

    for (size_t i = 0; i < scan->manifest->layer_count; i++) {
        if (apply_cached_layer(scan, i))
            continue;

        int outcome = scan_layer(scan, i);
        if (outcome != 0 || scan->result->status_detail != NULL)
            return outcome;
    }
    log_write(LOG_INFO, "SCAN",
              "layers of %s: %zu from the layer cache, %zu downloaded "
              "(%" PRIu64 " blob bytes)",
              scan->result->manifest_digest ? scan->result->manifest_digest
                                            : "the image",
              scan->stats.layers_cached, scan->stats.layers_downloaded,
              scan->stats.blob_bytes);
    return 0;
}

static int utf8_or_null(const char *text)
{
    return text == NULL || datum_utf8_valid(text, strlen(text));
}

/* Results are Avro strings, which must be UTF-8. */
static int release_is_utf8(const struct os_release *release)
{
    return utf8_or_null(release->id) && utf8_or_null(release->version_id) &&
           utf8_or_null(release->pretty_name);
}

static int read_os(struct scan_context *scan)
{
    struct os_release release;
    char errbuf[512];

    switch (
        os_release_from_rootfs(scan->fs, &release, errbuf, sizeof(errbuf))) {
    case OS_RELEASE_FOUND:
        break;
    case OS_RELEASE_NOT_FOUND:
        return set_status(scan->result, SCAN_STATUS_UNSUPPORTED_OS,
                          "no operating system found: the image has no "
                          "etc/os-release or usr/lib/os-release (scratch or "
                          "a static binary?)");
    case OS_RELEASE_INVALID:
        return set_status(scan->result, SCAN_STATUS_PARTIAL,
                          "os-release could not be read: %s", errbuf);
    default:
        return set_status(scan->result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                          "out of memory reading os-release");
    }

    if (!release_is_utf8(&release)) {
        os_release_clear(&release);
        return set_status(scan->result, SCAN_STATUS_PARTIAL,
                          "os-release is not valid UTF-8, so the operating "
                          "system cannot be trusted");
    }
    scan->result->os_id = release.id ? strdup(release.id) : NULL;
    scan->result->os_version_id =
        release.version_id ? strdup(release.version_id) : NULL;
    scan->result->os_pretty_name =
        release.pretty_name ? strdup(release.pretty_name) : NULL;
    os_release_clear(&release);
    if (scan->result->os_id == NULL)
        return set_status(scan->result, SCAN_STATUS_UNSUPPORTED_OS,
                          "os-release names no operating system ID");
    return 0;
}

/* Writes the detail of a SCANNED result whose vulnerabilities were not
 * matched: it must never read as a clean result. */
static int not_matched(struct scan_result *result, const char *database,
                       const char *reason)
{
    return set_status(result, SCAN_STATUS_SCANNED,
                      "%zu %s packages found, but vulnerabilities were NOT "
                      "matched: %s",
                      result->package_count, database, reason);
}

static void summarise_findings(struct scan_result *result,
                               const struct vulndb *db)
{
    memset(result->severity_counts, 0, sizeof(result->severity_counts));
    severity_count(result->findings, result->finding_count,
                   result->severity_counts);
    result->vulnerability_level =
        severity_level(result->findings, result->finding_count);
    result->risk_score =
        severity_risk_score(result->findings, result->finding_count);
    result->vulnerability_db_version = strdup(vulndb_version(db));
    result->vulnerability_db_built_at_ms = vulndb_built_at_ms(db);
    result->vulnerabilities_matched = 1;
}

static int matched(struct scan_context *scan, const char *database)
{
    struct scan_result *result = scan->result;
    const struct vulndb *db = scan->options->vulndb;
    int64_t age_ms = clock_now_ms() - vulndb_built_at_ms(db);
    char stale[160] = "";

    summarise_findings(result, db);
    if (scan->options->vulndb_max_age_ms > 0 &&
        age_ms > scan->options->vulndb_max_age_ms)
        snprintf(stale, sizeof(stale),
                 "; the vulnerability database is %" PRId64
                 " days old, update it (IMGASSURE_VULN_DB)",
                 age_ms / 86400000);
    return set_status(result, SCAN_STATUS_SCANNED,
                      "%zu %s packages, %zu vulnerabilities, level %s, risk "
                      "%.1f (database %s)%s",
                      result->package_count, database, result->finding_count,
                      severity_name(result->vulnerability_level),
                      result->risk_score, vulndb_version(db), stale);
}

/* Matches the inventory against the database and writes the SCANNED
 * result's detail. */
static int scanned(struct scan_context *scan, const char *database)
{
    struct scan_result *result = scan->result;
    const struct vulndb *db = scan->options->vulndb;
    char ecosystem[64], errbuf[512];

    if (db == NULL)
        return not_matched(result, database,
                           "no vulnerability database is configured "
                           "(set IMGASSURE_VULN_DB)");
    if (vulndb_ecosystem_for_os(result->os_id, result->os_version_id, ecosystem,
                                sizeof(ecosystem)) != 0) {
        snprintf(errbuf, sizeof(errbuf),
                 "no advisories exist for %s %s in the supported ecosystems "
                 "(Debian, Ubuntu, Alpine)",
                 result->os_id,
                 result->os_version_id ? result->os_version_id : "");
        return not_matched(result, database, errbuf);
    }
    if (!vulndb_has_ecosystem(db, ecosystem)) {
        snprintf(errbuf, sizeof(errbuf),
                 "the vulnerability database (%s) holds no advisories for "
                 "%s: add that distribution's OSV export to IMGASSURE_VULN_DB",
                 vulndb_version(db), ecosystem);
        return not_matched(result, database, errbuf);
    }
    if (match_inventory(db, ecosystem, result->packages, result->package_count,
                        &result->findings, &result->finding_count, errbuf,
                        sizeof(errbuf)) != 0)
        return not_matched(result, database, errbuf);
    return matched(scan, database);
}

static int read_apk_packages(struct scan_context *scan)
{
    struct scan_result *result = scan->result;
    char errbuf[512];

    switch (apk_inventory_from_rootfs(scan->fs, &result->packages,
                                      &result->package_count, errbuf,
                                      sizeof(errbuf))) {
    case APK_INVENTORY_OK:
        if (result->package_count == 0)
            return set_status(result, SCAN_STATUS_PARTIAL,
                              "the apk database lists no installed packages, "
                              "so the image cannot be matched: it was emptied "
                              "or damaged");
        return scanned(scan, "apk");
    case APK_INVENTORY_UNREADABLE:
        return set_status(result, SCAN_STATUS_PARTIAL,
                          "the apk database could not be read: %s", errbuf);
    case APK_INVENTORY_NOT_FOUND:
        return set_status(result, SCAN_STATUS_UNSUPPORTED_OS,
                          "%s has no package database imgassure can read "
                          "(neither dpkg status nor apk installed found)",
                          result->os_id);
    default:
        return set_status(result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                          "out of memory reading the apk database");
    }
}

static int read_packages(struct scan_context *scan)
{
    struct scan_result *result = scan->result;
    char errbuf[512];

    switch (dpkg_inventory_from_rootfs(scan->fs, &result->packages,
                                       &result->package_count, errbuf,
                                       sizeof(errbuf))) {
    case DPKG_INVENTORY_OK:
        if (result->package_count == 0)
            return set_status(result, SCAN_STATUS_PARTIAL,
                              "the dpkg database lists no installed "
                              "packages, so the image cannot be matched: it "
                              "was emptied or damaged");
        return scanned(scan, "dpkg");
    case DPKG_INVENTORY_UNREADABLE:
        return set_status(result, SCAN_STATUS_PARTIAL,
                          "the dpkg database could not be read: %s", errbuf);
    case DPKG_INVENTORY_NOT_FOUND:
        return read_apk_packages(scan);
    default:
        return set_status(result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                          "out of memory reading the dpkg database");
    }
}

static int describe_layers(struct scan_context *scan)
{
    int64_t total = 0;
    char errbuf[512];

    if (manifest_check_image(scan->manifest, errbuf, sizeof(errbuf)) != 0)
        return set_status(scan->result, SCAN_STATUS_NOT_AN_IMAGE,
                          "%s; imgassure scans container images only, so "
                          "nothing needs doing",
                          errbuf);
    if (manifest_sum_layer_sizes(scan->manifest, &total) != 0)
        total = INT64_MAX;
    scan->result->layer_count = (int32_t)scan->manifest->layer_count;
    scan->result->image_size_bytes = total;
    return 0;
}

/* Decided from the manifest alone, so an oversized image costs no
 * download; after the config check, because a non-Linux image is
 * UNSUPPORTED_OS whatever its size. */
static int check_size(struct scan_context *scan)
{
    int64_t limit = scan->options->max_image_bytes;

    if (limit <= 0 || scan->result->image_size_bytes <= limit)
        return 0;
    return set_status(scan->result, SCAN_STATUS_INSUFFICIENT_RESOURCES,
                      "the image's layers total %" PRId64
                      " bytes, over the limit of %" PRId64
                      " bytes (IMGASSURE_MAX_IMAGE_BYTES); no layer was "
                      "downloaded",
                      scan->result->image_size_bytes, limit);
}

static int run_steps(struct scan_context *scan)
{
    static int (*const steps[])(struct scan_context *) = {
        resolve_manifest, describe_layers, check_config,  check_size,
        scan_layers,      read_os,         read_packages,
    };

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int outcome;

        if (aborted(scan))
            return SCAN_ABANDONED;
        outcome = steps[i](scan);
        if (outcome != 0)
            return outcome;
        /* A step that set a status decided the result. */
        if (scan->result->status_detail != NULL)
            return 0;
    }
    return 0;
}

static int scan_with(struct scan_context *scan)
{
    int outcome = run_steps(scan);

    if (scan->options->stats != NULL)
        *scan->options->stats = scan->stats;
    layer_cache_free(scan->cache);
    rootfs_free(scan->fs);
    manifest_free(scan->manifest);
    return outcome;
}

static void scan_context_init(struct scan_context *scan,
                              const struct scan_options *options,
                              struct scan_result *result)
{
    memset(scan, 0, sizeof(*scan));
    scan->options = options;
    scan->result = result;
    free(result->status_detail);
    result->status_detail = NULL;
}

int scan_image(const struct scan_options *options,
               const struct scan_request *request, struct scan_result *result)
{
    struct scan_context scan;
    struct image_ref ref;
    char errbuf[512];
    int outcome;

    scan_context_init(&scan, options, result);
    scan.platform = request->image.platform;
    if (image_ref_build(&ref, request->image.registry,
                        request->image.repository, request->image.tag,
                        request->image.digest, errbuf, sizeof(errbuf)) != 0)
        return set_status(result, SCAN_STATUS_INTERNAL_ERROR,
                          "invalid image reference reached the scan: %s",
                          errbuf);

    outcome = open_registry_source(&scan, &ref, request->image.account);
    if (outcome == 0 && scan.result->status_detail == NULL)
        outcome = scan_with(&scan);
    image_source_free(scan.source);
    return outcome;
}

int scan_image_source(const struct scan_options *options,
                      struct image_source *source, const char *platform,
                      struct scan_result *result)
{
    struct scan_context scan;

    scan_context_init(&scan, options, result);
    scan.source = source;
    scan.platform = platform;
    return scan_with(&scan);
}

int scan_open_registry_source(const struct scan_options *options,
                              const struct image_ref *ref,
                              struct image_source **source,
                              struct scan_result *result)
{
    struct scan_context scan;
    int outcome;

    scan_context_init(&scan, options, result);
    outcome = open_registry_source(&scan, ref, result->image.account);
    *source = scan.source;
    return outcome;
}
