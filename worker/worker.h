/*
 * The worker's consume loop: one consumer group on images.seen and
 * scan.requests, results to scan.results, malformed events to each
 * topic's dead-letter queue. An offset is committed only after everything
 * the message caused (result, follow-up request, DLQ copy) is delivered.
 */
#ifndef IMGASSURE_WORKER_H
#define IMGASSURE_WORKER_H

#include "scan.h"

#include <signal.h>
#include <stddef.h>

struct worker_config {
    const char *brokers;
    const char *const *kafka_properties;
    size_t kafka_property_count;
    const char *topic_prefix;
    const char *group_id;
    const char *redis_url;
    const char *worker_id;
    int delivery_timeout_ms;
    int session_timeout_ms; /* consumer group session; 0: librdkafka's */
    int concurrency;        /* messages handled at once, each on a thread */
    /* On SIGTERM or a revoked partition, the time messages in flight get
     * to finish before they are abandoned for redelivery. */
    int drain_timeout_ms;
    /* PARTIAL and INTERNAL_ERROR scans run again after retry_backoff_s,
     * doubling each time, up to retry_max_attempts in all (1: never). */
    long retry_backoff_s;
    int retry_max_attempts;
    /* A sighting rescans an image whose last result is older (0: never). */
    long rescan_interval_s;
    /* How often the sweeper lease holder walks for expired images (0: this
     * worker never sweeps). */
    long sweep_interval_s;
    struct scan_options scan;
    /* OSV records to match against (directory or zip), or NULL. */
    const char *vulndb_path;
    const char *cve_path; /* CVE JSON 5 records for CVSS, or NULL */
    long vulndb_check_interval_s;
    /* Set by a signal handler to reload the database; may be NULL. */
    volatile sig_atomic_t *reload_requested;
};

/*
 * Runs until *stop becomes non-zero (a signal handler sets it). Fetching
 * then stops; scans in flight get drain_timeout_ms to finish, and those
 * still running are abandoned and left uncommitted, so the group
 * redelivers them. scan.abort_requested is not used: each thread has its
 * own abort flag. Returns 0 after a clean shutdown (the
 * consumer has left the group), or 1 when start-up failed, with the reason
 * logged.
 */
int worker_run(const struct worker_config *config, volatile sig_atomic_t *stop);

#endif
