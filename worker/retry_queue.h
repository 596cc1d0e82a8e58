/*
 * The delayed-retry queue in Redis: scans that ended PARTIAL or
 * INTERNAL_ERROR are scheduled again after a backoff. The queue is a
 * sorted set of encoded ScanRequest messages scored by their due time in
 * milliseconds; whichever worker holds the scheduler lease moves due
 * requests to scan.requests. Encoded requests are their own members, so
 * scheduling the same attempt twice (a redelivered message) queues it once.
 */
#ifndef IMGASSURE_RETRY_QUEUE_H
#define IMGASSURE_RETRY_QUEUE_H

#include "event.h"

#include <stddef.h>
#include <stdint.h>

#define RETRY_QUEUE_KEY "imgassure:retry-queue"
#define RETRY_QUEUE_LEASE_KEY "imgassure:retry-scheduler-lease"

struct retry_queue;

/* Connects to Redis. Returns NULL with the reason in errbuf. Owned by one
 * thread. Free with retry_queue_free. */
struct retry_queue *retry_queue_connect(const char *redis_url, char *errbuf,
                                        size_t errbuf_size);
void retry_queue_free(struct retry_queue *queue);

/* Adds an encoded request, due at due_ms. Returns 0, or -1 with the reason
 * in errbuf; the connection is re-opened on the next call. */
int retry_queue_add(struct retry_queue *queue, const unsigned char *request,
                    size_t request_size, int64_t due_ms, char *errbuf,
                    size_t errbuf_size);

/*
 * Takes or renews the scheduler lease for owner, valid lease_ms. Returns 1
 * when owner holds it, 0 when another worker does, -1 on a Redis failure
 * (reason in errbuf).
 */
int retry_queue_hold_lease(struct retry_queue *queue, const char *owner,
                           int64_t lease_ms, char *errbuf, size_t errbuf_size);

/*
 * Fetches up to max_count requests due at now_ms, oldest first. On success
 * returns their number and stores malloc'd copies in requests and their
 * sizes in sizes; the caller frees each with free(). Returns -1 with the
 * reason in errbuf on a Redis failure.
 */
int retry_queue_due(struct retry_queue *queue, int64_t now_ms,
                    unsigned char **requests, size_t *sizes, int max_count,
                    char *errbuf, size_t errbuf_size);

/* Removes a request once it is delivered to scan.requests. Returns 0, or
 * -1 with the reason in errbuf. */
int retry_queue_remove(struct retry_queue *queue, const unsigned char *request,
                       size_t request_size, char *errbuf, size_t errbuf_size);

#endif
