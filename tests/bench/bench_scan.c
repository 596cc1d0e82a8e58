/*
 * Times scan_image() on an image in a plain-HTTP registry, with the layer
 * cache in a Redis that only this benchmark uses. No vulnerability
 * database is loaded: matching is timed by bench_match.
 *
 * usage: bench_scan rescan REGISTRY REPOSITORY TAG REDIS_URL RUNS
 *        bench_scan memory REGISTRY REPOSITORY TAG REDIS_URL
 *
 * rescan: each run empties the cache and scans (an uncached first scan),
 * then scans again (a rescan from the cache). Prints both sides' times and
 * the blob bytes each downloaded.
 *
 * memory: empties the cache, scans once and prints the process's peak
 * resident set size. run.sh runs it in a fresh process per image.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "event.h"
#include "harness.h"
#include "layer_cache.h"
#include "redis_conn.h"
#include "scan.h"

#define MAX_RUNS 50

struct target {
    const char *registry;
    const char *repository;
    const char *tag;
    const char *redis_url;
};

/* Deletes every imgassure:layer:* and imgassure:config:* key. */
static int empty_cache(const char *redis_url)
{
    static const char *const patterns[] = {"imgassure:layer:*",
                                           "imgassure:config:*"};
    char errbuf[256];
    redisContext *redis =
        redis_connect_url(redis_url, 5000, errbuf, sizeof(errbuf));
    if (!redis) {
        fprintf(stderr, "bench_scan: %s\n", errbuf);
        return -1;
    }

    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        redisReply *keys = redisCommand(redis, "KEYS %s", patterns[i]);
        if (!keys || keys->type != REDIS_REPLY_ARRAY) {
            fprintf(stderr, "bench_scan: Redis KEYS failed\n");
            if (keys)
                freeReplyObject(keys);
            redisFree(redis);
            return -1;
        }
        for (size_t k = 0; k < keys->elements; k++)
            freeReplyObject(
                redisCommand(redis, "DEL %s", keys->element[k]->str));
        freeReplyObject(keys);
    }
    redisFree(redis);
    return 0;
}

/* Scans the target once. Returns the seconds it took, or a negative
 * number when the scan was abandoned. *stats gets what it fetched and
 * *status the result's status. */
static double time_scan(const struct target *target, struct scan_stats *stats,
                        enum scan_status *status)
{
    struct scan_request request;
    struct scan_result result;
    struct scan_options options;

    memset(&request, 0, sizeof(request));
    memset(&result, 0, sizeof(result));
    memset(&options, 0, sizeof(options));
    request.image.registry = (char *)target->registry;
    request.image.repository = (char *)target->repository;
    request.image.tag = (char *)target->tag;
    options.insecure_registries = target->registry;
    options.layer_cache_url = target->redis_url;
    options.layer_cache_ttl_s = 3600;
    options.stats = stats;

    double start = harness_now();
    int outcome = scan_image(&options, &request, &result);
    double elapsed = harness_now() - start;
    *status = result.status;
    if (outcome != 0 || result.status_detail == NULL) {
        fprintf(stderr, "bench_scan: the scan was abandoned\n");
        scan_result_clear(&result);
        return -1;
    }
    fprintf(stderr, "bench_scan: %s\n", result.status_detail);
    scan_result_clear(&result);
    return elapsed;
}

static int run_rescan(const struct target *target, int runs)
{
    static double uncached[MAX_RUNS], cached[MAX_RUNS];
    struct scan_stats first, again;
    enum scan_status first_status, again_status;

    for (int i = 0; i < runs; i++) {
        if (empty_cache(target->redis_url) != 0)
            return 1;
        uncached[i] = time_scan(target, &first, &first_status);
        cached[i] = time_scan(target, &again, &again_status);
        if (uncached[i] < 0 || cached[i] < 0)
            return 1;
    }

    json_t *result = json_object();
    json_object_set_new(result, "status",
                        json_string(scan_status_name(first_status)));
    json_object_set_new(result, "rescan_status",
                        json_string(scan_status_name(again_status)));
    json_object_set_new(result, "uncached_runs_s",
                        harness_json_numbers(uncached, (size_t)runs));
    json_object_set_new(result, "uncached_s",
                        json_real(harness_median(uncached, (size_t)runs)));
    json_object_set_new(result, "cached_runs_s",
                        harness_json_numbers(cached, (size_t)runs));
    json_object_set_new(result, "cached_s",
                        json_real(harness_median(cached, (size_t)runs)));
    json_object_set_new(result, "uncached_blob_bytes",
                        json_integer((json_int_t)first.blob_bytes));
    json_object_set_new(result, "cached_blob_bytes",
                        json_integer((json_int_t)again.blob_bytes));
    json_object_set_new(result, "layers_cached",
                        json_integer((json_int_t)again.layers_cached));
    json_object_set_new(result, "layers_downloaded",
                        json_integer((json_int_t)again.layers_downloaded));
    return harness_print_result(result) == 0 ? 0 : 1;
}

static int run_memory(const struct target *target)
{
    struct scan_stats stats;
    enum scan_status status;
    struct rusage usage;

    if (empty_cache(target->redis_url) != 0)
        return 1;
    double seconds = time_scan(target, &stats, &status);
    if (seconds < 0 || getrusage(RUSAGE_SELF, &usage) != 0)
        return 1;

    json_t *result = json_object();
    json_object_set_new(result, "status",
                        json_string(scan_status_name(status)));
    json_object_set_new(result, "scan_s", json_real(seconds));
    json_object_set_new(result, "blob_bytes",
                        json_integer((json_int_t)stats.blob_bytes));
    /* Linux reports ru_maxrss in KiB. */
    json_object_set_new(result, "max_rss_bytes",
                        json_integer((json_int_t)usage.ru_maxrss * 1024));
    return harness_print_result(result) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bench_scan rescan REGISTRY REPOSITORY TAG "
                        "REDIS_URL RUNS\n"
                        "       bench_scan memory REGISTRY REPOSITORY TAG "
                        "REDIS_URL\n");
        return 2;
    }
    struct target target = {argv[2], argv[3], argv[4], argv[5]};

    if (strcmp(argv[1], "memory") == 0 && argc == 6)
        return run_memory(&target);
    if (strcmp(argv[1], "rescan") != 0 || argc != 7) {
        fprintf(stderr, "bench_scan: unknown mode or arguments (see the "
                        "usage in tests/bench/bench_scan.c)\n");
        return 2;
    }

    int runs = atoi(argv[6]);
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench_scan: RUNS must be 1 to %d, not %s\n", MAX_RUNS,
                argv[6]);
        return 2;
    }
    return run_rescan(&target, runs);
}
