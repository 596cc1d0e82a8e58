#include "worker.h"

#include "clock.h"
#include "credentials.h"
#include "digest_match.h"
#include "event.h"
#include "ids.h"
#include "image_ref.h"
#include "image_state.h"
#include "kafka.h"
#include "location.h"
#include "log.h"
#include "rematch.h"
#include "offset_tracker.h"
#include "retry_queue.h"
#include "sweeper.h"
#include "vulndb_reload.h"
#include "worker_pool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RETRY_BACKOFF_FIRST_MS 500
#define RETRY_BACKOFF_MAX_MS 30000
#define LEASE_WARNING_INTERVAL_MS 30000

enum outcome {
    OUTCOME_DONE,      /* commit the offset */
    OUTCOME_RETRY,     /* transient failure: process the message again */
    OUTCOME_ABANDONED, /* shutting down: leave it for redelivery */
};

/*
 * The state of one thread: the consume loop's, or a pool thread's. A pool
 * thread has its own Redis connections and configuration copy, its stop
 * flag is its abort flag, and it shares the producer.
 */
struct worker {
    const struct worker_config *config;
    volatile sig_atomic_t *stop;
    rd_kafka_t *producer;
    struct image_state_store *state;
    struct vulndb_reload *vulndb; /* NULL without a database, or in a pool
                                   * thread, which scans with its config's */
    struct retry_queue *retries;  /* NULL when retries are off */
    struct sweeper *sweeper;
    struct rematch *rematch; /* NULL without a database */
    int64_t next_schedule_ms;
    int64_t next_lease_warning_ms;
    char seen_topic[256];
    char requests_topic[256];
    char results_topic[256];
    char removed_topic[256];
    int *retrying; /* messages being retried, across every thread */

    /* The consume loop's only. */
    rd_kafka_t *consumer;
    struct offset_tracker *offsets;
    struct worker_pool *pool;
    struct worker *threads;
    struct worker_config *thread_configs;
    int retrying_count;
    int paused;
    int paused_for_retries;
    int database_waiting;
};

static int is_topic(const rd_kafka_message_t *message, const char *topic)
{
    return strcmp(rd_kafka_topic_name(message->rkt), topic) == 0;
}

/* A message larger than the producer may send is kept in the DLQ only up
 * to this size, so that one giant message cannot block its partition. */
#define DLQ_VALUE_MAX (512 * 1024)

/* Copies a malformed message to its topic's dead-letter queue with the
 * reason and origin in headers. */
static enum outcome send_to_dlq(struct worker *worker,
                                const rd_kafka_message_t *message,
                                const char *reason)
{
    const char *topic = rd_kafka_topic_name(message->rkt);
    rd_kafka_headers_t *headers = rd_kafka_headers_new(4);
    struct kafka_delivery delivery;
    struct kafka_delivery *deliveries[] = {&delivery};
    size_t value_size = message->len;
    char dlq[300], origin[64], errbuf[512];

    snprintf(dlq, sizeof(dlq), "%s%s", topic, KAFKA_DLQ_SUFFIX);
    snprintf(origin, sizeof(origin), "%" PRId32 ":%" PRId64, message->partition,
             message->offset);
    rd_kafka_header_add(headers, "imgassure.error", -1, reason, -1);
    rd_kafka_header_add(headers, "imgassure.source.topic", -1, topic, -1);
    rd_kafka_header_add(headers, "imgassure.source.offset", -1, origin, -1);
    if (value_size > DLQ_VALUE_MAX) {
        value_size = DLQ_VALUE_MAX;
        rd_kafka_header_add(headers, "imgassure.truncated", -1, "true", -1);
    }

    if (kafka_produce(worker->producer, dlq, message->key, message->key_len,
                      message->payload, value_size, headers, &delivery, errbuf,
                      sizeof(errbuf)) != 0) {
        rd_kafka_headers_destroy(headers);
        log_write(LOG_ERR, "KAFKA", "dead-letter copy failed: %s", errbuf);
        return OUTCOME_RETRY;
    }
    if (kafka_wait_deliveries(worker->producer, deliveries, 1,
                              worker->config->delivery_timeout_ms, errbuf,
                              sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "KAFKA", "dead-letter copy failed: %s topic=%s",
                  errbuf, dlq);
        return OUTCOME_RETRY;
    }
    log_write(LOG_WARNING, "KAFKA",
              "malformed event sent to dead-letter queue: %s topic=%s "
              "partition=%" PRId32 " offset=%" PRId64,
              reason, topic, message->partition, message->offset);
    return OUTCOME_DONE;
}

static int validate_location(const struct image_location *image, char *errbuf,
                             size_t errbuf_size)
{
    struct image_ref ref;
    char reason[256];

    if (!ids_valid_name(image->account)) {
        snprintf(errbuf, errbuf_size,
                 "invalid account name '%.64s': use 1-128 characters "
                 "from A-Z a-z 0-9 . _ -",
                 image->account ? image->account : "");
        return -1;
    }
    if (!ids_valid_name(image->environment_id)) {
        snprintf(errbuf, errbuf_size,
                 "invalid environment id '%.64s': use 1-128 characters "
                 "from A-Z a-z 0-9 . _ -",
                 image->environment_id ? image->environment_id : "");
        return -1;
    }
    if (image_ref_build(&ref, image->registry, image->repository, image->tag,
                        image->digest, reason, sizeof(reason)) != 0) {
        snprintf(errbuf, errbuf_size, "invalid image reference: %s", reason);
        return -1;
    }
    return 0;
}

#define PRODUCE_FAILED (-1)
#define PRODUCE_IMPOSSIBLE (-2) /* retrying would fail the same way */

/* Encodes and enqueues a result; the caller waits for delivery. */
static int produce_result(struct worker *worker,
                          const struct scan_result *result,
                          struct kafka_delivery *delivery, char *errbuf,
                          size_t errbuf_size)
{
    unsigned char *value = NULL;
    size_t value_size;
    char key[1024];
    rd_kafka_resp_err_t error;

    if (location_format_key(&result->image, key, sizeof(key)) != 0) {
        snprintf(errbuf, errbuf_size, "image name too long for a key");
        return PRODUCE_IMPOSSIBLE;
    }
    if (scan_result_encode(result, &value, &value_size, errbuf, errbuf_size) !=
        0)
        return PRODUCE_IMPOSSIBLE;
    error =
        kafka_produce(worker->producer, worker->results_topic, key, strlen(key),
                      value, value_size, NULL, delivery, errbuf, errbuf_size);
    free(value);
    if (error == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        return PRODUCE_IMPOSSIBLE;
    return error != RD_KAFKA_RESP_ERR_NO_ERROR ? PRODUCE_FAILED : 0;
}

/* Turns a result that can never be published (it does not encode, or it
 * exceeds Kafka's message size) into an INTERNAL_ERROR that can, so the
 * request still ends in a result instead of failing forever. */
static void replace_with_error(struct scan_result *result, const char *reason)
{
    char detail[768];

    /* Everything read from the image goes: any of it may be what failed. */
    free(result->os_id);
    free(result->os_version_id);
    free(result->os_pretty_name);
    result->os_id = NULL;
    result->os_version_id = NULL;
    result->os_pretty_name = NULL;

    for (size_t i = 0; i < result->package_count; i++)
        installed_package_clear(&result->packages[i]);
    free(result->packages);
    result->packages = NULL;
    result->package_count = 0;

    for (size_t i = 0; i < result->finding_count; i++)
        finding_clear(&result->findings[i]);
    free(result->findings);
    result->findings = NULL;
    result->finding_count = 0;
    result->vulnerabilities_matched = 0;
    memset(result->severity_counts, 0, sizeof(result->severity_counts));
    result->vulnerability_level = SEVERITY_NONE;
    result->risk_score = 0.0;
    snprintf(detail, sizeof(detail),
             "the %s result could not be published (%s); the image needs "
             "attention from the imgassure operators",
             scan_status_name(result->status), reason);
    free(result->status_detail);
    result->status_detail = strdup(detail);
    result->status = SCAN_STATUS_INTERNAL_ERROR;
}

static int produce_request(struct worker *worker,
                           const struct scan_request *request,
                           struct kafka_delivery *delivery, char *errbuf,
                           size_t errbuf_size)
{
    unsigned char *value = NULL;
    size_t value_size;
    char key[1024];
    rd_kafka_resp_err_t failed;

    if (location_format_key(&request->image, key, sizeof(key)) != 0) {
        snprintf(errbuf, errbuf_size, "image name too long for a key");
        return -1;
    }
    if (scan_request_encode(request, &value, &value_size, errbuf,
                            errbuf_size) != 0)
        return -1;
    failed = kafka_produce(worker->producer, worker->requests_topic, key,
                           strlen(key), value, value_size, NULL, delivery,
                           errbuf, errbuf_size);
    free(value);
    return failed != RD_KAFKA_RESP_ERR_NO_ERROR ? -1 : 0;
}

/* Retries a Redis write with backoff until it succeeds or shutdown starts:
 * the result is already delivered, so giving up would lose the state. */
/* Sleeps *backoff_ms in short steps, then doubles it up to the maximum.
 * Returns -1 as soon as the worker is stopping, else 0. */
static int back_off(struct worker *worker, int *backoff_ms)
{
    for (int slept = 0; slept < *backoff_ms; slept += 100) {
        if (*worker->stop)
            return -1;
        nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
    *backoff_ms = *backoff_ms * 2 > RETRY_BACKOFF_MAX_MS ? RETRY_BACKOFF_MAX_MS
                                                         : *backoff_ms * 2;
    return 0;
}

/* Stores the result and, when it shares a scan, sends the ECS and
 * Fargate requests that waited for it back to scan.requests. */
static enum outcome store_result(struct worker *worker,
                                 const struct scan_result *result,
                                 const char *scanned_from)
{
    struct waiting_requests waiting = {0};
    int backoff_ms = RETRY_BACKOFF_FIRST_MS;
    char errbuf[512];

    while (image_state_record_result(worker->state, result, scanned_from,
                                     &waiting, errbuf, sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "REDIS", "%s request=%s, retrying in %d ms", errbuf,
                  result->request_id, backoff_ms);
        if (back_off(worker, &backoff_ms) != 0)
            return OUTCOME_ABANDONED;
    }
    if (waiting.count > 0 &&
        digest_match_release(worker->state, worker->producer,
                             worker->requests_topic,
                             worker->config->delivery_timeout_ms, result,
                             &waiting, errbuf, sizeof(errbuf)) != 0)
        log_write(LOG_ERR, "SCAN",
                  "waiting ECS/Fargate requests not released, they wait for "
                  "the next scan of the digest: %s request=%s",
                  errbuf, result->request_id);
    else if (waiting.count > 0)
        log_write(LOG_INFO, "SCAN", "released %zu waiting requests request=%s",
                  waiting.count, result->request_id);
    waiting_requests_clear(&waiting);
    return OUTCOME_DONE;
}

/* Builds the request and PENDING_SCAN result for a newly seen image. */
static int prepare_first_scan(struct worker *worker,
                              const struct image_seen *event,
                              const char *request_id,
                              struct scan_request *request,
                              struct scan_result *pending)
{
    int64_t now = clock_now_ms();

    request->request_id = strdup(request_id);
    request->reason = SCAN_REASON_NEW_IMAGE;
    request->attempt = 1;
    request->requested_at_ms = now;

    pending->request_id = strdup(request_id);
    pending->status = SCAN_STATUS_PENDING_SCAN;
    pending->status_detail = strdup("first seen: scan requested, no action "
                                    "needed");
    pending->attempt = 0;
    pending->worker_id = strdup(worker->config->worker_id);
    pending->started_at_ms = now;
    pending->finished_at_ms = now;
    if (request->request_id == NULL || pending->request_id == NULL ||
        pending->status_detail == NULL || pending->worker_id == NULL)
        return -1;
    if (image_location_copy(&request->image, &event->image) != 0 ||
        image_location_copy(&pending->image, &event->image) != 0)
        return -1;
    return 0;
}

/* The image-seen events of one batch that reached Redis, and what their
 * sightings asked for. */
struct seen_batch {
    size_t count;
    int *message_index; /* the batch's message each event came from */
    struct image_seen *events;
    char (*request_ids)[UUID_TEXT_SIZE];
    struct seen_outcome *outcomes;
    struct scan_request *requests; /* one per event; filled for a scan */
    struct scan_result *pending;   /* one per event; filled for a new image */
    struct kafka_delivery *deliveries;
    struct kafka_delivery **waits;
    size_t wait_count;
};

static void seen_batch_free(struct seen_batch *batch, size_t allocated)
{
    for (size_t i = 0; i < allocated && batch->events != NULL; i++)
        image_seen_clear(&batch->events[i]);
    for (size_t i = 0; i < allocated && batch->requests != NULL; i++)
        scan_request_clear(&batch->requests[i]);
    for (size_t i = 0; i < allocated && batch->pending != NULL; i++)
        scan_result_clear(&batch->pending[i]);
    free(batch->message_index);
    free(batch->events);
    free(batch->request_ids);
    free(batch->outcomes);
    free(batch->requests);
    free(batch->pending);
    free(batch->deliveries);
    free(batch->waits);
}

static int seen_batch_alloc(struct seen_batch *batch, size_t size)
{
    memset(batch, 0, sizeof(*batch));
    batch->message_index = calloc(size, sizeof(*batch->message_index));
    batch->events = calloc(size, sizeof(*batch->events));
    batch->request_ids = calloc(size, sizeof(*batch->request_ids));
    batch->outcomes = calloc(size, sizeof(*batch->outcomes));
    batch->requests = calloc(size, sizeof(*batch->requests));
    batch->pending = calloc(size, sizeof(*batch->pending));
    batch->deliveries = calloc(2 * size, sizeof(*batch->deliveries));
    batch->waits = calloc(2 * size, sizeof(*batch->waits));
    return batch->message_index && batch->events && batch->request_ids &&
                   batch->outcomes && batch->requests && batch->pending &&
                   batch->deliveries && batch->waits
               ? 0
               : -1;
}

/* Decodes the messages still to handle. A malformed one goes to its
 * dead-letter queue now and is done; the rest join the batch. */
static void seen_batch_decode(struct worker *worker, struct seen_batch *batch,
                              rd_kafka_message_t *const *messages, int count,
                              enum outcome *outcomes)
{
    char errbuf[512];

    for (int i = 0; i < count; i++) {
        struct image_seen *event = &batch->events[batch->count];

        if (outcomes[i] != OUTCOME_RETRY)
            continue;
        if (image_seen_decode(messages[i]->payload, messages[i]->len, event,
                              errbuf, sizeof(errbuf)) != 0 ||
            validate_location(&event->image, errbuf, sizeof(errbuf)) != 0) {
            image_seen_clear(event);
            memset(event, 0, sizeof(*event));
            outcomes[i] = send_to_dlq(worker, messages[i], errbuf);
            continue;
        }
        if (uuid_generate_text(batch->request_ids[batch->count]) != 0) {
            log_write(LOG_ERR, "SCAN", "no randomness for a request id");
            image_seen_clear(event);
            memset(event, 0, sizeof(*event));
            continue;
        }
        batch->message_index[batch->count++] = i;
    }
}

/* Enqueues the request (and for a new image the PENDING_SCAN result)
 * that event i's sighting asked for. Returns 0, or -1 with the reason in
 * errbuf. */
static int seen_batch_produce(struct worker *worker, struct seen_batch *batch,
                              size_t i, char *errbuf, size_t errbuf_size)
{
    const struct seen_outcome *seen = &batch->outcomes[i];
    struct scan_request *request = &batch->requests[i];
    struct kafka_delivery *delivery = &batch->deliveries[batch->wait_count];

    if (seen->decision == SEEN_NEW_IMAGE) {
        if (prepare_first_scan(worker, &batch->events[i], seen->request_id,
                               request, &batch->pending[i]) != 0) {
            snprintf(errbuf, errbuf_size,
                     "out of memory preparing a scan request");
            return -1;
        }
        if (produce_request(worker, request, delivery, errbuf, errbuf_size) !=
                0 ||
            produce_result(worker, &batch->pending[i], delivery + 1, errbuf,
                           errbuf_size) != 0)
            return -1;
        batch->waits[batch->wait_count++] = delivery;
        batch->waits[batch->wait_count++] = delivery + 1;
        return 0;
    }

    request->reason = SCAN_REASON_RESCAN;
    request->attempt = 1;
    request->requested_at_ms = clock_now_ms();
    request->request_id = strdup(seen->request_id);
    if (request->request_id == NULL ||
        image_location_copy(&request->image, &batch->events[i].image) != 0) {
        snprintf(errbuf, errbuf_size, "out of memory preparing a rescan");
        return -1;
    }
    if (produce_request(worker, request, delivery, errbuf, errbuf_size) != 0)
        return -1;
    batch->waits[batch->wait_count++] = delivery;
    return 0;
}

static void log_scan_requested(const struct seen_batch *batch, size_t i)
{
    const struct image_location *image = &batch->events[i].image;

    if (batch->outcomes[i].decision == SEEN_NEW_IMAGE)
        log_write(LOG_INFO, "SCAN",
                  "new image, scan requested account=%s env=%s image=%s/%s "
                  "request=%s",
                  image->account, image->environment_id, image->registry,
                  image->repository, batch->outcomes[i].request_id);
    else
        log_write(LOG_INFO, "SCAN",
                  "last scan older than the rescan interval, rescan "
                  "requested account=%s env=%s request=%s",
                  image->account, image->environment_id,
                  batch->outcomes[i].request_id);
}

/* Sends every scan the batch's sightings asked for, waits for Kafka once,
 * then stores the PENDING_SCAN results. Returns the batch's outcome. */
static enum outcome seen_batch_request_scans(struct worker *worker,
                                             struct seen_batch *batch)
{
    char errbuf[512];

    for (size_t i = 0; i < batch->count; i++) {
        if (batch->outcomes[i].decision == SEEN_NO_SCAN)
            continue;
        if (seen_batch_produce(worker, batch, i, errbuf, sizeof(errbuf)) != 0) {
            log_write(LOG_ERR, "KAFKA", "scan request failed: %s event=%s",
                      errbuf, batch->events[i].event_id);
            return OUTCOME_RETRY;
        }
    }
    if (batch->wait_count > 0 &&
        kafka_wait_deliveries(worker->producer, batch->waits, batch->wait_count,
                              worker->config->delivery_timeout_ms, errbuf,
                              sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "KAFKA", "scan requests of %zu events failed: %s",
                  batch->count, errbuf);
        return OUTCOME_RETRY;
    }

    /* Noted at once, so that a worker killed from here on sends no
     * request twice. The script already wrote PENDING_SCAN, so nothing is
     * lost if the result below is then never stored.
     * TODO(Kafka transactions): a worker killed between Kafka's
     * acknowledgement and this note sends the same requests (same ids)
     * again on redelivery, and they are scanned twice. Producing them with
     * the batch's offsets in one transaction would close that gap. */
    if (batch->wait_count > 0 &&
        image_state_claims_delivered(worker->state, batch->events,
                                     batch->outcomes, batch->count, errbuf,
                                     sizeof(errbuf)) != 0)
        log_write(LOG_WARNING, "REDIS",
                  "%s: a redelivery of these events may request their "
                  "scans again",
                  errbuf);

    for (size_t i = 0; i < batch->count; i++) {
        if (batch->outcomes[i].decision == SEEN_NO_SCAN)
            continue;
        log_scan_requested(batch, i);
        if (batch->outcomes[i].decision == SEEN_NEW_IMAGE &&
            store_result(worker, &batch->pending[i], "") != OUTCOME_DONE)
            return OUTCOME_ABANDONED;
    }
    return OUTCOME_DONE;
}

/*
 * Handles the image-seen messages whose outcome is still OUTCOME_RETRY:
 * one pipeline of sightings in Redis, then their scan requests, delivered
 * together. Every event's outcome is the batch's, since the batch retries
 * whole (each step is safe to repeat: a redelivered sighting gets the
 * decision and request id it got before).
 */
static void handle_seen_batch(struct worker *worker,
                              rd_kafka_message_t *const *messages, int count,
                              enum outcome *outcomes)
{
    struct seen_batch batch;
    enum outcome outcome = OUTCOME_RETRY;
    char errbuf[512];

    if (seen_batch_alloc(&batch, (size_t)count) != 0) {
        log_write(LOG_ERR, "WORKER", "out of memory for %d events", count);
        seen_batch_free(&batch, 0);
        return;
    }
    seen_batch_decode(worker, &batch, messages, count, outcomes);
    if (batch.count == 0)
        goto out;

    if (image_state_record_seen_batch(
            worker->state, batch.events,
            (const char(*)[UUID_TEXT_SIZE])batch.request_ids, batch.count,
            clock_now_ms(), worker->config->rescan_interval_s * 1000,
            batch.outcomes, errbuf, sizeof(errbuf)) != 0)
        log_write(LOG_ERR, "REDIS", "%s events=%zu", errbuf, batch.count);
    else
        outcome = seen_batch_request_scans(worker, &batch);
    for (size_t i = 0; i < batch.count; i++)
        outcomes[batch.message_index[i]] = outcome;

out:
    seen_batch_free(&batch, (size_t)count);
}

/* Fills the parts of a result that do not come from the scan itself. */
static int start_result(struct worker *worker,
                        const struct scan_request *request,
                        struct scan_result *result)
{
    result->request_id = strdup(request->request_id);
    result->worker_id = strdup(worker->config->worker_id);
    result->attempt = request->attempt;
    result->started_at_ms = clock_now_ms();
    if (result->request_id == NULL || result->worker_id == NULL)
        return -1;
    return image_location_copy(&result->image, &request->image);
}

static enum outcome publish_scan(struct worker *worker,
                                 struct scan_result *result,
                                 const char *scanned_from)
{
    struct kafka_delivery delivery;
    struct kafka_delivery *deliveries[] = {&delivery};
    char errbuf[512];
    int produced =
        produce_result(worker, result, &delivery, errbuf, sizeof(errbuf));

    if (produced == PRODUCE_IMPOSSIBLE) {
        log_write(LOG_ERR, "KAFKA",
                  "result cannot be published, sending INTERNAL_ERROR "
                  "instead: %s request=%s",
                  errbuf, result->request_id);
        replace_with_error(result, errbuf);
        produced =
            produce_result(worker, result, &delivery, errbuf, sizeof(errbuf));
    }
    if (produced != 0 ||
        kafka_wait_deliveries(worker->producer, deliveries, 1,
                              worker->config->delivery_timeout_ms, errbuf,
                              sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "KAFKA", "publishing result failed: %s request=%s",
                  errbuf, result->request_id);
        return OUTCOME_RETRY;
    }
    log_write(LOG_INFO, "SCAN",
              "scan finished status=%s request=%s image=%s/%s packages=%zu "
              "duration_ms=%" PRId64 " detail=\"%s\"",
              scan_status_name(result->status), result->request_id,
              result->image.registry, result->image.repository,
              result->package_count,
              result->finished_at_ms - result->started_at_ms,
              result->status_detail ? result->status_detail : "");
    return store_result(worker, result, scanned_from);
}

/* PARTIAL and INTERNAL_ERROR may pass by themselves (a registry repaired,
 * a transient fault); the other statuses need someone to act. */
static int retried_automatically(enum scan_status status)
{
    return status == SCAN_STATUS_PARTIAL ||
           status == SCAN_STATUS_INTERNAL_ERROR;
}

/* Decides whether the failed scan runs again and says so in the result:
 * the backoff doubles with each attempt, up to the configured count. */
static void plan_retry(struct worker *worker,
                       const struct scan_request *request,
                       struct scan_result *result)
{
    const struct worker_config *config = worker->config;
    int attempt = request->attempt > 0 ? request->attempt : 1;
    int64_t backoff_ms = config->retry_backoff_s * 1000;
    char detail[1400], when[32];
    time_t due_s;
    struct tm parts;

    if (!retried_automatically(result->status) || worker->retries == NULL ||
        result->status_detail == NULL)
        return;
    if (attempt >= config->retry_max_attempts) {
        snprintf(detail, sizeof(detail),
                 "%s; attempt %d of %d, no further automatic attempts: "
                 "request a new scan once the cause is fixed",
                 result->status_detail, attempt, config->retry_max_attempts);
    } else {
        for (int i = 1; i < attempt && backoff_ms < 86400000; i++)
            backoff_ms *= 2;
        result->next_attempt_at_ms = result->finished_at_ms + backoff_ms;
        due_s = (time_t)(result->next_attempt_at_ms / 1000);
        gmtime_r(&due_s, &parts);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &parts);
        snprintf(
            detail, sizeof(detail), "%s; attempt %d of %d, next attempt at %s",
            result->status_detail, attempt, config->retry_max_attempts, when);
    }
    free(result->status_detail);
    result->status_detail = strdup(detail);
}

/* Queues the next attempt in Redis, retrying until it is stored or the
 * worker stops: the failed result is already published and says when the
 * next attempt comes. */
static enum outcome schedule_retry(struct worker *worker,
                                   const struct scan_request *request,
                                   int64_t due_ms)
{
    struct scan_request next = *request;
    unsigned char *value = NULL;
    size_t value_size;
    int backoff_ms = RETRY_BACKOFF_FIRST_MS;
    char errbuf[512];

    next.reason = SCAN_REASON_RESCHEDULED;
    next.attempt = (request->attempt > 0 ? request->attempt : 1) + 1;
    next.not_before_ms = due_ms;
    next.requested_at_ms = clock_now_ms();
    if (scan_request_encode(&next, &value, &value_size, errbuf,
                            sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "SCAN",
                  "cannot encode the next attempt: %s "
                  "request=%s",
                  errbuf, request->request_id);
        return OUTCOME_DONE;
    }

    while (retry_queue_add(worker->retries, value, value_size, due_ms, errbuf,
                           sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "REDIS", "%s request=%s, retrying in %d ms", errbuf,
                  request->request_id, backoff_ms);
        if (back_off(worker, &backoff_ms) != 0) {
            free(value);
            return OUTCOME_ABANDONED;
        }
    }
    free(value);
    log_write(LOG_INFO, "SCAN",
              "next attempt scheduled request=%s attempt=%d "
              "due_ms=%" PRId64,
              request->request_id, next.attempt, due_ms);
    return OUTCOME_DONE;
}

/* Moves one due request from the Redis queue to scan.requests; removes it
 * from the queue only after Kafka acknowledged it. */
static void reschedule_one(struct worker *worker, const unsigned char *value,
                           size_t value_size)
{
    struct scan_request request;
    struct kafka_delivery delivery;
    struct kafka_delivery *deliveries[] = {&delivery};
    char key[1024], errbuf[512];

    memset(&request, 0, sizeof(request));
    if (scan_request_decode(value, value_size, &request, errbuf,
                            sizeof(errbuf)) != 0 ||
        location_format_key(&request.image, key, sizeof(key)) != 0) {
        log_write(LOG_ERR, "SCAN", "dropping an undecodable retry: %s", errbuf);
        retry_queue_remove(worker->retries, value, value_size, errbuf,
                           sizeof(errbuf));
        scan_request_clear(&request);
        return;
    }

    if (kafka_produce(worker->producer, worker->requests_topic, key,
                      strlen(key), value, value_size, NULL, &delivery, errbuf,
                      sizeof(errbuf)) != 0 ||
        kafka_wait_deliveries(worker->producer, deliveries, 1,
                              worker->config->delivery_timeout_ms, errbuf,
                              sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "KAFKA",
                  "rescheduling failed, kept in the queue: "
                  "%s request=%s",
                  errbuf, request.request_id);
    } else if (retry_queue_remove(worker->retries, value, value_size, errbuf,
                                  sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "REDIS", "%s request=%s", errbuf,
                  request.request_id);
    } else {
        log_write(LOG_INFO, "SCAN", "rescheduled request=%s attempt=%d",
                  request.request_id, request.attempt);
    }
    scan_request_clear(&request);
}

/* Once a second: the lease holder moves due retries to scan.requests. */
static void run_scheduler(struct worker *worker)
{
    unsigned char *values[32];
    size_t sizes[32];
    int64_t now = clock_now_ms();
    char errbuf[512];
    int count, held;

    if (worker->retries == NULL ||
        clock_monotonic_ms() < worker->next_schedule_ms)
        return;
    worker->next_schedule_ms = clock_monotonic_ms() + 1000;

    held = retry_queue_hold_lease(worker->retries, worker->config->worker_id,
                                  10000, errbuf, sizeof(errbuf));
    if (held <= 0) {
        /* Tried every second: an outage would fill the log otherwise. */
        if (held < 0 && clock_monotonic_ms() >= worker->next_lease_warning_ms) {
            log_write(LOG_WARNING, "REDIS",
                      "retry scheduler waiting for Redis: %s (next report "
                      "in %d s)",
                      errbuf, LEASE_WARNING_INTERVAL_MS / 1000);
            worker->next_lease_warning_ms =
                clock_monotonic_ms() + LEASE_WARNING_INTERVAL_MS;
        }
        return;
    }
    count = retry_queue_due(worker->retries, now, values, sizes, 32, errbuf,
                            sizeof(errbuf));
    if (count < 0)
        log_write(LOG_WARNING, "REDIS", "%s", errbuf);
    for (int i = 0; i < count; i++) {
        reschedule_one(worker, values[i], sizes[i]);
        free(values[i]);
    }
}

static enum outcome handle_request(struct worker *worker,
                                   const rd_kafka_message_t *message)
{
    struct scan_request request;
    struct scan_result result;
    struct scan_options options;
    enum outcome outcome;
    char errbuf[512], scanned_from[160] = "";
    int from_shared;

    memset(&request, 0, sizeof(request));
    memset(&result, 0, sizeof(result));
    if (scan_request_decode(message->payload, message->len, &request, errbuf,
                            sizeof(errbuf)) != 0 ||
        validate_location(&request.image, errbuf, sizeof(errbuf)) != 0) {
        scan_request_clear(&request);
        return send_to_dlq(worker, message, errbuf);
    }

    options = worker->config->scan;
    if (worker->vulndb != NULL)
        options.vulndb = vulndb_reload_current(worker->vulndb);

    if (start_result(worker, &request, &result) != 0) {
        log_write(LOG_ERR, "SCAN", "out of memory starting a scan request=%s",
                  request.request_id);
        outcome = OUTCOME_RETRY;
    } else if ((from_shared = digest_match_take(
                    worker->state, &request,
                    worker->config->rescan_interval_s * 1000, &result,
                    scanned_from, sizeof(scanned_from), errbuf,
                    sizeof(errbuf))) < 0) {
        log_write(LOG_ERR, "REDIS", "%s request=%s", errbuf,
                  request.request_id);
        outcome = OUTCOME_RETRY;
    } else if (!from_shared && scan_image(&options, &request, &result) != 0) {
        log_write(LOG_NOTICE, "SCAN",
                  "scan abandoned for shutdown request=%s, it will be "
                  "redelivered",
                  request.request_id);
        outcome = OUTCOME_ABANDONED;
    } else {
        result.finished_at_ms = clock_now_ms();
        plan_retry(worker, &request, &result);
        outcome = publish_scan(worker, &result, scanned_from);
        if (outcome == OUTCOME_DONE && result.next_attempt_at_ms > 0)
            outcome =
                schedule_retry(worker, &request, result.next_attempt_at_ms);
    }
    scan_request_clear(&request);
    scan_result_clear(&result);
    return outcome;
}

static enum outcome handle_message(struct worker *worker,
                                   const rd_kafka_message_t *message)
{
    if (is_topic(message, worker->requests_topic))
        return handle_request(worker, message);
    return send_to_dlq(worker, message, "message from unexpected topic");
}

/* A failing message is retried where it is, never skipped: later offsets
 * may finish meanwhile, but the commit point waits for this one. */
#define RETRY_NOTICE_INTERVAL_MS 10000

/* Handles the messages whose outcome is still OUTCOME_RETRY. The pool
 * batches only image-seen messages; any other comes alone. */
static void handle_pending(struct worker *worker,
                           rd_kafka_message_t *const *messages, int count,
                           enum outcome *outcomes)
{
    if (is_topic(messages[0], worker->seen_topic)) {
        handle_seen_batch(worker, messages, count, outcomes);
        return;
    }
    for (int i = 0; i < count; i++) {
        if (outcomes[i] == OUTCOME_RETRY)
            outcomes[i] = handle_message(worker, messages[i]);
    }
}

static int count_retries(const enum outcome *outcomes, int count)
{
    int retries = 0;

    for (int i = 0; i < count; i++)
        retries += outcomes[i] == OUTCOME_RETRY;
    return retries;
}

/* Runs on a pool thread: marks each message delivered, or leaves it for
 * redelivery when it was abandoned. */
static void handle_in_thread(void *context, rd_kafka_message_t *const *messages,
                             int count, int *delivered)
{
    struct worker *worker = context;
    const rd_kafka_message_t *first = messages[0];
    int backoff_ms = RETRY_BACKOFF_FIRST_MS, failures = 0;
    int64_t next_notice_ms = 0;
    enum outcome *outcomes = malloc((size_t)count * sizeof(*outcomes));

    /* Without memory every message stays unfinished, to be consumed
     * again after a rebalance or restart. */
    if (outcomes == NULL) {
        log_write(LOG_ERR, "WORKER", "out of memory for %d messages", count);
        return;
    }
    for (int i = 0; i < count; i++)
        outcomes[i] = OUTCOME_RETRY;

    log_write(LOG_DEBUG, "WORKER",
              "message started topic=%s partition=%" PRId32 " offset=%" PRId64
              " count=%d",
              rd_kafka_topic_name(first->rkt), first->partition, first->offset,
              count);
    for (;;) {
        handle_pending(worker, messages, count, outcomes);
        if (count_retries(outcomes, count) == 0)
            break;
        if (failures++ == 0)
            __atomic_add_fetch(worker->retrying, 1, __ATOMIC_SEQ_CST);
        if (clock_monotonic_ms() >= next_notice_ms) {
            log_write(LOG_WARNING, "WORKER",
                      "%d messages failed %d times, retrying in %d ms: "
                      "topic=%s partition=%" PRId32 " offset=%" PRId64,
                      count_retries(outcomes, count), failures, backoff_ms,
                      rd_kafka_topic_name(first->rkt), first->partition,
                      first->offset);
            next_notice_ms = clock_monotonic_ms() + RETRY_NOTICE_INTERVAL_MS;
        }
        if (back_off(worker, &backoff_ms) != 0)
            break;
    }
    if (failures > 0)
        __atomic_sub_fetch(worker->retrying, 1, __ATOMIC_SEQ_CST);

    for (int i = 0; i < count; i++)
        delivered[i] = outcomes[i] == OUTCOME_DONE;
    log_write(LOG_DEBUG, "WORKER",
              "message %s topic=%s partition=%" PRId32 " offset=%" PRId64
              " count=%d",
              count_retries(outcomes, count) == 0 ? "finished" : "abandoned",
              rd_kafka_topic_name(first->rkt), first->partition, first->offset,
              count);
    free(outcomes);
}

/* Commits the finished offsets of the selected partitions (see
 * offset_tracker_commits). */
static void commit_finished(struct worker *worker, const char *topic,
                            int32_t partition)
{
    rd_kafka_topic_partition_list_t *offsets =
        offset_tracker_commits(worker->offsets, topic, partition);
    rd_kafka_resp_err_t error;

    if (offsets == NULL)
        return;
    error = rd_kafka_commit(worker->consumer, offsets, 0);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR)
        log_write(LOG_WARNING, "KAFKA",
                  "offset commit failed: %s partitions=%d, their messages "
                  "may be processed again",
                  rd_kafka_err2str(error), offsets->cnt);
    rd_kafka_topic_partition_list_destroy(offsets);
}

static void pause_or_resume(struct worker *worker, int pause)
{
    rd_kafka_topic_partition_list_t *assignment = NULL;

    if (rd_kafka_assignment(worker->consumer, &assignment) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (pause)
        rd_kafka_pause_partitions(worker->consumer, assignment);
    else
        rd_kafka_resume_partitions(worker->consumer, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    worker->paused = pause;
}

/* Image-seen messages are handled in batches of up to SEEN_BATCH_MAX.
 * Up to SEEN_QUEUE_LIMIT of them wait in the pool, so that every thread
 * finds a full batch. Past that the loop stops polling for a moment (see
 * consume) instead of pausing the partitions, because a resumed partition
 * waits for a new fetch, while messages already fetched wait only for the
 * next poll. */
#define SEEN_BATCH_MAX 500
#define SEEN_QUEUE_LIMIT (4 * SEEN_BATCH_MAX)
#define SEEN_WAIT_MS 100

/* Pauses fetching while the threads have enough work queued, while a
 * message is being retried (Redis or Kafka is failing: more messages would
 * only fail too) and while a new database waits to be swapped in. Paused
 * partitions resume where the last message handed out left them. */
static void regulate_fetching(struct worker *worker)
{
    int others =
        worker_pool_busy(worker->pool, 0) - worker_pool_busy(worker->pool, 1);
    int retrying = __atomic_load_n(worker->retrying, __ATOMIC_SEQ_CST);
    int limit = worker->config->concurrency;
    int pause = retrying > 0 || worker->database_waiting ||
                others >= 2 * limit || (worker->paused && others >= limit);

    if (retrying > 0 && !worker->paused_for_retries) {
        log_write(LOG_WARNING, "WORKER",
                  "consumption paused: a message is failing and is retried "
                  "with backoff until Redis and Kafka answer again");
        worker->paused_for_retries = 1;
    } else if (retrying == 0 && worker->paused_for_retries) {
        log_write(LOG_NOTICE, "WORKER", "consumption resumed");
        worker->paused_for_retries = 0;
    }
    if (pause != worker->paused)
        pause_or_resume(worker, pause);
}

/* Threads scan with the database in their configuration. A new one
 * replaces it only while no thread runs, so no scan uses a freed one. */
static void tend_database(struct worker *worker)
{
    volatile sig_atomic_t *reload = worker->config->reload_requested;
    const struct vulndb *database;

    if (worker->vulndb == NULL)
        return;
    if (reload != NULL && *reload) {
        *reload = 0;
        vulndb_reload_request(worker->vulndb);
    }
    vulndb_reload_check(worker->vulndb);
    if (!vulndb_reload_ready(worker->vulndb))
        return;

    worker->database_waiting = 1;
    worker_pool_hold(worker->pool, 1);
    if (worker_pool_running(worker->pool) > 0)
        return;
    database = vulndb_reload_current(worker->vulndb);
    for (int i = 0; i < worker->config->concurrency; i++)
        worker->thread_configs[i].scan.vulndb = database;
    worker->database_waiting = 0;
    worker_pool_hold(worker->pool, 0);
}

/* Hands the message to the threads. A message that cannot be tracked is
 * consumed again after a rewind, because an untracked offset could be
 * committed before its message finished. */
static void dispatch(struct worker *worker, rd_kafka_message_t *message)
{
    rd_kafka_topic_partition_list_t *position;
    rd_kafka_error_t *error;

    if (offset_tracker_start(worker->offsets, rd_kafka_topic_name(message->rkt),
                             message->partition, message->offset) == 0) {
        worker_pool_submit(worker->pool, message);
        return;
    }

    log_write(LOG_ERR, "WORKER",
              "out of memory tracking an offset, "
              "rewinding the partition");
    position = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(
        position, rd_kafka_topic_name(message->rkt), message->partition)
        ->offset = message->offset;
    error = rd_kafka_seek_partitions(worker->consumer, position, 5000);
    if (error != NULL)
        rd_kafka_error_destroy(error);
    rd_kafka_topic_partition_list_destroy(position);
    rd_kafka_message_destroy(message);
}

static void consume(struct worker *worker)
{
    while (!*worker->stop) {
        rd_kafka_message_t *message;

        regulate_fetching(worker);
        /* Fetched messages wait in librdkafka's queue meanwhile, which
         * queued.max.messages.kbytes bounds. */
        worker_pool_wait_batched(worker->pool, SEEN_QUEUE_LIMIT, SEEN_WAIT_MS);
        message = rd_kafka_consumer_poll(worker->consumer, 200);
        tend_database(worker);
        rd_kafka_poll(worker->producer, 0);
        run_scheduler(worker);
        commit_finished(worker, NULL, -1);
        /* The database the threads scan with: asking vulndb_reload for
         * the current one here could swap it under a running scan. */
        if (worker->rematch != NULL && !worker->database_waiting)
            rematch_tick(worker->rematch,
                         worker->thread_configs[0].scan.vulndb);
        if (worker->sweeper != NULL)
            sweeper_tick(worker->sweeper);
        if (message == NULL)
            continue;
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_write(LOG_WARNING, "KAFKA", "consumer error: %s",
                          rd_kafka_message_errstr(message));
            rd_kafka_message_destroy(message);
            continue;
        }
        dispatch(worker, message);
    }
}

/* Gives the partitions' messages in flight until the drain deadline to
 * finish, abandons the rest, and commits what finished, so the next owner
 * starts after the finished scans. */
static void drain_partitions(struct worker *worker,
                             const rd_kafka_topic_partition_list_t *partitions)
{
    int64_t deadline_ms =
        clock_monotonic_ms() + worker->config->drain_timeout_ms;
    int abandoned = 0;

    for (int i = 0; i < partitions->cnt; i++) {
        const rd_kafka_topic_partition_t *revoked = &partitions->elems[i];
        int64_t left_ms = deadline_ms - clock_monotonic_ms();

        abandoned +=
            worker_pool_drain(worker->pool, revoked->topic, revoked->partition,
                              left_ms > 0 ? (int)left_ms : 0);
        commit_finished(worker, revoked->topic, revoked->partition);
        offset_tracker_forget(worker->offsets, revoked->topic,
                              revoked->partition);
    }
    if (abandoned > 0)
        log_write(LOG_NOTICE, "WORKER",
                  "abandoned %d messages of revoked partitions after %d ms, "
                  "their next owner handles them",
                  abandoned, worker->config->drain_timeout_ms);
}

static void on_rebalance(rd_kafka_t *consumer, rd_kafka_resp_err_t reason,
                         rd_kafka_topic_partition_list_t *partitions,
                         void *opaque)
{
    struct worker *worker = opaque;
    int cooperative =
        strcmp(rd_kafka_rebalance_protocol(consumer), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;

    if (reason == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_write(LOG_INFO, "KAFKA", "partitions assigned count=%d",
                  partitions->cnt);
        for (int i = 0; i < partitions->cnt; i++)
            offset_tracker_forget(worker->offsets, partitions->elems[i].topic,
                                  partitions->elems[i].partition);
        if (cooperative)
            error = rd_kafka_incremental_assign(consumer, partitions);
        else
            rd_kafka_assign(consumer, partitions);
        /* librdkafka keeps a partition's pause across assignments: set
         * it to what the loop expects either way. */
        if (worker->paused)
            rd_kafka_pause_partitions(consumer, partitions);
        else
            rd_kafka_resume_partitions(consumer, partitions);
    } else {
        log_write(LOG_INFO, "KAFKA", "partitions revoked count=%d",
                  partitions->cnt);
        drain_partitions(worker, partitions);
        if (cooperative)
            error = rd_kafka_incremental_unassign(consumer, partitions);
        else
            rd_kafka_assign(consumer, NULL);
    }
    if (error != NULL) {
        log_write(LOG_ERR, "KAFKA", "rebalance failed: %s",
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

/* Allows one scan twice the pull timeout plus five minutes between polls,
 * within librdkafka's maximum of 24 hours.
 * TODO(scan deadline): the pull timeout bounds each registry request, not
 * the whole scan, so an image with many slow layers can still overrun. */
static long max_poll_interval_ms(long pull_timeout_s)
{
    long interval_s = pull_timeout_s * 2 + 300;

    if (interval_s > 86400)
        interval_s = 86400;
    return interval_s * 1000;
}

static rd_kafka_t *create_consumer(struct worker *worker, char *errbuf,
                                   size_t errbuf_size)
{
    const struct worker_config *config = worker->config;
    rd_kafka_conf_t *conf =
        kafka_conf_new(config->brokers, NULL, 0, errbuf, errbuf_size);
    rd_kafka_t *consumer;
    char reason[256];
    char poll_interval[32];

    if (conf == NULL)
        return NULL;
    /* Offsets are committed by hand, each after its message's outcome is
     * delivered; -X properties still apply last. */
    rd_kafka_conf_set(conf, "group.id", config->group_id, NULL, 0);
    rd_kafka_conf_set(conf, "client.id", config->worker_id, NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", NULL, 0);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
    if (config->session_timeout_ms > 0) {
        snprintf(poll_interval, sizeof(poll_interval), "%d",
                 config->session_timeout_ms);
        rd_kafka_conf_set(conf, "session.timeout.ms", poll_interval, NULL, 0);
        /* librdkafka wants heartbeats well inside the session timeout. */
        snprintf(poll_interval, sizeof(poll_interval), "%d",
                 config->session_timeout_ms / 3);
        rd_kafka_conf_set(conf, "heartbeat.interval.ms", poll_interval, NULL,
                          0);
    }
    /* The group must not evict a worker in the middle of a long pull, or
     * its commit fails and another worker scans the image again. */
    snprintf(poll_interval, sizeof(poll_interval), "%ld",
             max_poll_interval_ms(config->scan.pull_timeout_s));
    rd_kafka_conf_set(conf, "max.poll.interval.ms", poll_interval, NULL, 0);
    if (kafka_conf_apply(conf, config->kafka_properties,
                         config->kafka_property_count, errbuf,
                         errbuf_size) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, worker);

    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof(reason));
    if (consumer == NULL) {
        snprintf(errbuf, errbuf_size, "cannot create Kafka consumer: %s",
                 reason);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(consumer);
    return consumer;
}

static int subscribe(struct worker *worker, char *errbuf, size_t errbuf_size)
{
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new(2);
    rd_kafka_resp_err_t error;

    rd_kafka_topic_partition_list_add(topics, worker->seen_topic,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, worker->requests_topic,
                                      RD_KAFKA_PARTITION_UA);
    error = rd_kafka_subscribe(worker->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_size, "subscribe failed: %s",
                 rd_kafka_err2str(error));
        return -1;
    }
    return 0;
}

static int name_topics(struct worker *worker)
{
    const char *prefix = worker->config->topic_prefix;

    if (kafka_topic_name(prefix, KAFKA_TOPIC_IMAGES_SEEN, worker->seen_topic,
                         sizeof(worker->seen_topic)) != 0 ||
        kafka_topic_name(prefix, KAFKA_TOPIC_SCAN_REQUESTS,
                         worker->requests_topic,
                         sizeof(worker->requests_topic)) != 0 ||
        kafka_topic_name(prefix, KAFKA_TOPIC_SCAN_RESULTS,
                         worker->results_topic,
                         sizeof(worker->results_topic)) != 0 ||
        kafka_topic_name(prefix, KAFKA_TOPIC_IMAGES_REMOVED,
                         worker->removed_topic,
                         sizeof(worker->removed_topic)) != 0)
        return -1;
    return 0;
}

/* A credentials file named in the configuration must exist and parse: a
 * typo in its path would otherwise pull anonymously without a word. */
static int check_credentials(const char *path, char *errbuf, size_t errbuf_size)
{
    struct credentials *credentials = NULL;
    char reason[256];

    if (path == NULL)
        return 0;
    if (access(path, R_OK) != 0) {
        snprintf(errbuf, errbuf_size,
                 "cannot read the credentials file %s (--auth-file, "
                 "IMGASSURE_AUTH_FILE): %s",
                 path, strerror(errno));
        return -1;
    }
    if (credentials_load(path, &credentials, reason, sizeof(reason)) != 0) {
        snprintf(errbuf, errbuf_size, "invalid credentials file: %s", reason);
        return -1;
    }
    credentials_free(credentials);
    return 0;
}

/* Checked once, so that a typo fails at start. The files in the folder are
 * read at each scan, so they may be added or changed while the worker
 * runs. */
static int check_credentials_dir(const char *path, char *errbuf,
                                 size_t errbuf_size)
{
    const char *reason = NULL;
    struct stat info;

    if (path == NULL)
        return 0;
    if (stat(path, &info) != 0 || access(path, R_OK | X_OK) != 0)
        reason = strerror(errno);
    else if (!S_ISDIR(info.st_mode))
        reason = "not a folder";
    if (reason == NULL)
        return 0;

    snprintf(errbuf, errbuf_size,
             "cannot use %s as the per-account credentials folder "
             "(--auth-dir, IMGASSURE_AUTH_DIR): %s",
             path, reason);
    return -1;
}

/* Gives pool thread index its own Redis connections and configuration:
 * its abort flag replaces the process's stop flag, so a scan runs on past
 * SIGTERM until the shutdown deadline. */
static int start_thread_context(struct worker *worker, int index, char *errbuf,
                                size_t errbuf_size)
{
    struct worker *thread = &worker->threads[index];
    struct worker_config *config = &worker->thread_configs[index];
    volatile sig_atomic_t *abort = worker_pool_abort_flag(worker->pool, index);

    *config = *worker->config;
    config->scan.abort_requested = abort;
    if (worker->vulndb != NULL)
        config->scan.vulndb = vulndb_reload_current(worker->vulndb);

    memcpy(thread, worker, sizeof(*thread));
    thread->config = config;
    thread->stop = abort;
    thread->vulndb = NULL;
    thread->consumer = NULL;
    thread->state = image_state_connect(config->redis_url, errbuf, errbuf_size);
    if (thread->state == NULL)
        return -1;
    thread->retries = NULL;
    if (worker->retries != NULL) {
        thread->retries =
            retry_queue_connect(config->redis_url, errbuf, errbuf_size);
        if (thread->retries == NULL)
            return -1;
    }
    return 0;
}

static int start_threads(struct worker *worker, char *errbuf,
                         size_t errbuf_size)
{
    int count = worker->config->concurrency;
    void **contexts;
    int status = 0;

    worker->offsets = offset_tracker_new();
    worker->pool =
        worker->offsets ? worker_pool_new(count, worker->offsets) : NULL;
    worker->threads = calloc((size_t)count, sizeof(*worker->threads));
    worker->thread_configs =
        calloc((size_t)count, sizeof(*worker->thread_configs));
    contexts = calloc((size_t)count, sizeof(*contexts));
    if (worker->pool == NULL || worker->threads == NULL ||
        worker->thread_configs == NULL || contexts == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory starting %d threads",
                 count);
        free(contexts);
        return -1;
    }

    for (int i = 0; i < count && status == 0; i++) {
        status = start_thread_context(worker, i, errbuf, errbuf_size);
        contexts[i] = &worker->threads[i];
    }
    if (status == 0 && worker_pool_batch(worker->pool, worker->seen_topic,
                                         SEEN_BATCH_MAX) != 0) {
        snprintf(errbuf, errbuf_size, "out of memory starting %d threads",
                 count);
        status = -1;
    }
    if (status == 0 &&
        worker_pool_start(worker->pool, handle_in_thread, contexts) != 0) {
        snprintf(errbuf, errbuf_size, "cannot start %d scan threads", count);
        status = -1;
    }
    free(contexts);
    return status;
}

static int start(struct worker *worker, char *errbuf, size_t errbuf_size)
{
    const struct worker_config *config = worker->config;
    char reason[400];

    if (name_topics(worker) != 0) {
        snprintf(errbuf, errbuf_size, "topic prefix too long");
        return -1;
    }
    if (check_credentials(config->scan.credentials_file, errbuf, errbuf_size) !=
            0 ||
        check_credentials_dir(config->scan.credentials_dir, errbuf,
                              errbuf_size) != 0)
        return -1;
    worker->state =
        image_state_connect(config->redis_url, reason, sizeof(reason));
    if (worker->state == NULL) {
        snprintf(errbuf, errbuf_size,
                 "%s (Redis is set by --redis-url or IMGASSURE_REDIS_URL)",
                 reason);
        return -1;
    }
    if (config->retry_max_attempts > 1) {
        worker->retries =
            retry_queue_connect(config->redis_url, errbuf, errbuf_size);
        if (worker->retries == NULL)
            return -1;
    }
    if (config->vulndb_path != NULL) {
        worker->vulndb = vulndb_reload_new(
            config->vulndb_path, config->cve_path,
            config->vulndb_check_interval_s, errbuf, errbuf_size);
        if (worker->vulndb == NULL)
            return -1;
    } else {
        log_write(LOG_WARNING, "VULNDB",
                  "no vulnerability database (IMGASSURE_VULN_DB): results "
                  "will say that vulnerabilities were not matched");
    }
    worker->producer = kafka_producer_new(
        config->brokers, config->kafka_properties, config->kafka_property_count,
        NULL, errbuf, errbuf_size);
    if (worker->producer == NULL)
        return -1;
    if (config->sweep_interval_s > 0) {
        struct sweeper_config sweep = {
            .redis_url = config->redis_url,
            .owner = config->worker_id,
            .producer = worker->producer,
            .removed_topic = worker->removed_topic,
            .delivery_timeout_ms = config->delivery_timeout_ms,
            .interval_ms = config->sweep_interval_s * 1000,
        };

        worker->sweeper = sweeper_new(&sweep, errbuf, errbuf_size);
        if (worker->sweeper == NULL)
            return -1;
    }
    if (worker->vulndb != NULL) {
        struct rematch_config rematch = {
            .redis_url = config->redis_url,
            .worker_id = config->worker_id,
            .producer = worker->producer,
            .results_topic = worker->results_topic,
            .requests_topic = worker->requests_topic,
            .delivery_timeout_ms = config->delivery_timeout_ms,
        };

        worker->rematch =
            rematch_new(&rematch, vulndb_reload_current(worker->vulndb), errbuf,
                        errbuf_size);
        if (worker->rematch == NULL)
            return -1;
    }
    if (start_threads(worker, errbuf, errbuf_size) != 0)
        return -1;
    worker->consumer = create_consumer(worker, errbuf, errbuf_size);
    if (worker->consumer == NULL)
        return -1;
    return subscribe(worker, errbuf, errbuf_size);
}

/* Gives the scans in flight until the shutdown deadline, abandons the
 * rest, commits what finished, then leaves the group so its partitions
 * move to other workers now, not after the session times out. */
static void stop_consuming(struct worker *worker)
{
    int in_flight = worker_pool_busy(worker->pool, 0), abandoned;

    log_write(LOG_INFO, "WORKER",
              "stopping: fetching stopped, %d messages in flight get up to "
              "%d ms",
              in_flight, worker->config->drain_timeout_ms);
    abandoned = worker_pool_drain(worker->pool, NULL, -1,
                                  worker->config->drain_timeout_ms);
    if (abandoned > 0)
        log_write(LOG_NOTICE, "WORKER",
                  "abandoned %d scans at the shutdown deadline, another "
                  "worker receives them",
                  abandoned);
    commit_finished(worker, NULL, -1);
    rd_kafka_consumer_close(worker->consumer);
}

static void stop_threads(struct worker *worker)
{
    worker_pool_free(worker->pool);
    for (int i = 0; worker->threads != NULL && i < worker->config->concurrency;
         i++) {
        image_state_free(worker->threads[i].state);
        retry_queue_free(worker->threads[i].retries);
    }
    free(worker->threads);
    free(worker->thread_configs);
}

static void stop_worker(struct worker *worker)
{
    if (worker->consumer != NULL)
        stop_consuming(worker);
    stop_threads(worker);
    if (worker->consumer != NULL)
        rd_kafka_destroy(worker->consumer);
    sweeper_free(worker->sweeper);
    rematch_free(worker->rematch);
    if (worker->producer != NULL) {
        rd_kafka_flush(worker->producer, 10000);
        rd_kafka_destroy(worker->producer);
    }
    image_state_free(worker->state);
    vulndb_reload_free(worker->vulndb);
    retry_queue_free(worker->retries);
    offset_tracker_free(worker->offsets);
}

int worker_run(const struct worker_config *config, volatile sig_atomic_t *stop)
{
    struct worker worker;
    char errbuf[512];
    int exit_code = 0;

    memset(&worker, 0, sizeof(worker));
    worker.config = config;
    worker.stop = stop;
    worker.retrying = &worker.retrying_count;

    if (start(&worker, errbuf, sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "WORKER", "start-up failed: %s", errbuf);
        exit_code = 1;
    } else {
        log_write(LOG_INFO, "WORKER", "started worker=%s group=%s topics=%s,%s",
                  config->worker_id, config->group_id, worker.seen_topic,
                  worker.requests_topic);
        consume(&worker);
        log_write(LOG_INFO, "WORKER", "stopping worker=%s", config->worker_id);
    }
    stop_worker(&worker);
    return exit_code;
}
