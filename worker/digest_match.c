#include "digest_match.h"

#include "clock.h"
#include "kafka.h"
#include "location.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RELEASE_BATCH 64

static void format_time(int64_t ms, char *out, size_t out_size)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm parts;

    gmtime_r(&seconds, &parts);
    strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &parts);
}

static int set_detail(struct scan_result *result, const char *detail)
{
    free(result->status_detail);
    result->status_detail = strdup(detail);
    return result->status_detail != NULL ? 0 : -1;
}

/* Moves what the shared scan read from the image into result; identity,
 * ids and timings stay this request's. */
static void take_content(struct scan_result *result, struct scan_result *shared)
{
#define MOVE(field)                                                            \
    do {                                                                       \
        result->field = shared->field;                                         \
        shared->field = NULL;                                                  \
    } while (0)
    MOVE(manifest_digest);
    MOVE(os_id);
    MOVE(os_version_id);
    MOVE(os_pretty_name);
    MOVE(packages);
    MOVE(findings);
    MOVE(vulnerability_db_version);
#undef MOVE
    result->package_count = shared->package_count;
    shared->package_count = 0;
    result->finding_count = shared->finding_count;
    shared->finding_count = 0;
    result->layer_count = shared->layer_count;
    result->image_size_bytes = shared->image_size_bytes;
    result->vulnerabilities_matched = shared->vulnerabilities_matched;
    memcpy(result->severity_counts, shared->severity_counts,
           sizeof(result->severity_counts));
    result->vulnerability_level = shared->vulnerability_level;
    result->risk_score = shared->risk_score;
    result->vulnerability_db_built_at_ms = shared->vulnerability_db_built_at_ms;
    result->status = SCAN_STATUS_SCANNED;
}

static int matched(struct scan_result *result, struct scan_result *shared,
                   char *scanned_from, size_t scanned_from_size)
{
    char detail[1400], when[32], not_pulled[48] = "";
    enum environment_kind kind = result->image.environment_kind;

    format_time(shared->finished_at_ms, when, sizeof(when));
    if (image_state_is_unpulled(kind))
        snprintf(not_pulled, sizeof(not_pulled), " (%s images are not pulled)",
                 environment_kind_name(kind));
    snprintf(detail, sizeof(detail),
             "%s; taken by digest from the scan in environment %s at %s%s",
             shared->status_detail ? shared->status_detail : "scanned",
             shared->image.environment_id, when, not_pulled);
    snprintf(scanned_from, scanned_from_size, "%s",
             shared->image.environment_id);
    take_content(result, shared);
    return set_detail(result, detail);
}

static int unmatched(struct scan_result *result)
{
    if (result->image.environment_kind == ENVIRONMENT_FARGATE) {
        result->status = SCAN_STATUS_PENDING_SCAN;
        return set_detail(result,
                          "Fargate images are not pulled: waiting for a "
                          "registry or Kubernetes scan of this digest in the "
                          "account, no action needed");
    }
    result->status = SCAN_STATUS_UNMATCHED;
    return set_detail(result,
                      "ECS images are not pulled and no registry or "
                      "Kubernetes environment of the account has scanned "
                      "this digest yet: connect the registry holding it; "
                      "the result follows its scan");
}

/* Returns 1 when the shared scan is of the requested platform: the
 * digest names the scanned manifest itself, or either side names no
 * platform, or both name the same. */
static int platform_fits(const struct scan_request *request,
                         const struct scan_result *shared)
{
    if (shared->manifest_digest != NULL &&
        strcmp(shared->manifest_digest, request->image.digest) == 0)
        return 1;
    if (request->image.platform == NULL || shared->image.platform == NULL)
        return 1;
    return strcmp(request->image.platform, shared->image.platform) == 0;
}

/* Decodes a shared scan. Returns 1 when it applies to the request (and
 * fills *shared), 0 when not. */
static int decode_shared(const unsigned char *value, size_t size,
                         const struct scan_request *request,
                         struct scan_result *shared)
{
    char errbuf[256];

    memset(shared, 0, sizeof(*shared));
    if (scan_result_decode(value, size, shared, errbuf, sizeof(errbuf)) != 0) {
        log_write(LOG_WARNING, "SCAN",
                  "shared scan of %s does not decode, not used: %s",
                  request->image.digest, errbuf);
        return 0;
    }
    if (!platform_fits(request, shared)) {
        scan_result_clear(shared);
        return 0;
    }
    return 1;
}

/* Takes a fresh shared scan for a new image of an environment that
 * pulls. Returns 1 when taken, 0 when the image must be pulled. */
static int take_fresh(struct image_state_store *store,
                      const struct scan_request *request, int64_t max_age_ms,
                      struct scan_result *result, char *scanned_from,
                      size_t scanned_from_size, char *errbuf,
                      size_t errbuf_size)
{
    unsigned char *value = NULL;
    size_t size = 0;
    struct scan_result shared;
    int found, status;

    if (request->reason != SCAN_REASON_NEW_IMAGE || max_age_ms <= 0 ||
        request->image.digest == NULL)
        return 0;
    found = image_state_get_shared(store, request->image.account,
                                   request->image.digest, &value, &size, errbuf,
                                   errbuf_size);
    if (found <= 0)
        return found;
    found = decode_shared(value, size, request, &shared);
    free(value);
    if (!found)
        return 0;
    if (clock_now_ms() - shared.finished_at_ms >= max_age_ms) {
        scan_result_clear(&shared);
        return 0;
    }
    status = matched(result, &shared, scanned_from, scanned_from_size);
    scan_result_clear(&shared);
    return status == 0 ? 1 : -1;
}

/* Fills the result of an ECS or Fargate image, which is never pulled. */
static int take_or_wait(struct image_state_store *store,
                        const struct scan_request *request,
                        struct scan_result *result, char *scanned_from,
                        size_t scanned_from_size, char *errbuf,
                        size_t errbuf_size)
{
    unsigned char *encoded = NULL, *shared_value = NULL;
    size_t encoded_size = 0, shared_size = 0;
    struct scan_result shared;
    int found, status;

    if (request->image.digest == NULL) {
        result->status = SCAN_STATUS_UNMATCHED;
        return set_detail(result,
                          "the agent reported no digest, and images of this "
                          "environment kind are matched by digest, not "
                          "pulled: report the image with its digest");
    }
    if (scan_request_encode(request, &encoded, &encoded_size, errbuf,
                            errbuf_size) != 0)
        return -1;
    found = image_state_find_shared(store, request->image.account,
                                    request->image.digest, encoded,
                                    encoded_size, clock_now_ms(), &shared_value,
                                    &shared_size, errbuf, errbuf_size);
    free(encoded);
    if (found < 0)
        return -1;
    if (found == 0)
        return unmatched(result);

    found = decode_shared(shared_value, shared_size, request, &shared);
    free(shared_value);
    if (!found)
        return unmatched(result);
    status = matched(result, &shared, scanned_from, scanned_from_size);
    scan_result_clear(&shared);
    return status;
}

int digest_match_take(struct image_state_store *store,
                      const struct scan_request *request, int64_t max_age_ms,
                      struct scan_result *result, char *scanned_from,
                      size_t scanned_from_size, char *errbuf,
                      size_t errbuf_size)
{
    scanned_from[0] = '\0';
    if (!image_state_is_unpulled(request->image.environment_kind))
        return take_fresh(store, request, max_age_ms, result, scanned_from,
                          scanned_from_size, errbuf, errbuf_size);
    if (take_or_wait(store, request, result, scanned_from, scanned_from_size,
                     errbuf, errbuf_size) != 0)
        return -1;
    return 1;
}

/* Produces up to RELEASE_BATCH requests from first and waits for them. */
static int release_batch(rd_kafka_t *producer, const char *topic,
                         int timeout_ms, const struct waiting_requests *waiting,
                         size_t first, size_t count, char *errbuf,
                         size_t errbuf_size)
{
    struct kafka_delivery deliveries[RELEASE_BATCH];
    struct kafka_delivery *pending[RELEASE_BATCH];
    size_t produced = 0;
    int status = 0;

    for (size_t i = first; i < first + count; i++) {
        struct scan_request request;
        char key[1024];

        memset(&request, 0, sizeof(request));
        if (scan_request_decode(waiting->values[i], waiting->sizes[i], &request,
                                errbuf, errbuf_size) != 0 ||
            location_format_key(&request.image, key, sizeof(key)) != 0) {
            scan_request_clear(&request);
            continue; /* cannot be sent; removed with the others */
        }
        scan_request_clear(&request);
        pending[produced] = &deliveries[produced];
        if (kafka_produce(producer, topic, key, strlen(key), waiting->values[i],
                          waiting->sizes[i], NULL, &deliveries[produced],
                          errbuf, errbuf_size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            status = -1;
            break;
        }
        produced++;
    }
    if (produced > 0 &&
        kafka_wait_deliveries(producer, pending, produced, timeout_ms, errbuf,
                              errbuf_size) != 0)
        status = -1;
    return status;
}

int digest_match_release(struct image_state_store *store, rd_kafka_t *producer,
                         const char *topic, int timeout_ms,
                         const struct scan_result *result,
                         const struct waiting_requests *waiting, char *errbuf,
                         size_t errbuf_size)
{
    for (size_t first = 0; first < waiting->count; first += RELEASE_BATCH) {
        size_t count = waiting->count - first < RELEASE_BATCH
                           ? waiting->count - first
                           : RELEASE_BATCH;

        if (release_batch(producer, topic, timeout_ms, waiting, first, count,
                          errbuf, errbuf_size) != 0)
            return -1;
    }
    return image_state_release_waiting(
        store, result->image.account, result->image.digest,
        result->manifest_digest, waiting, errbuf, errbuf_size);
}
