/*
 * On-demand scan requests: the checks against the image's state in Redis,
 * the account's sliding-hour quota, and the publication of the requests.
 */
#include "imgassure.h"
#include "producer_private.h"

#include "clock.h"
#include "ids.h"
#include "image_list.h"
#include "rate_limit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOUR_MS (3600 * 1000)

static void reset_outcome(struct imgassure_outcome *outcome)
{
    memset(outcome, 0, sizeof(*outcome));
}

/* Writes "2026-12-04T19:30:00.123Z". */
static void format_time(int64_t ms, char *out, size_t out_size)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm utc;
    char text[32];

    if (ms <= 0 || gmtime_r(&seconds, &utc) == NULL) {
        snprintf(out, out_size, "never");
        return;
    }
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(out, out_size, "%s.%03dZ", text, (int)(ms % 1000));
}

static enum imgassure_status refuse(struct imgassure_outcome *outcome,
                                    enum imgassure_refusal refusal)
{
    outcome->refusal = refusal;
    return IMGASSURE_REFUSED;
}

static int connected(const imgassure_producer_t *producer, char *errbuf,
                     size_t errbuf_size)
{
    if (producer->redis != NULL)
        return 1;
    snprintf(errbuf, errbuf_size,
             "no Redis connection: on-demand requests need the workers' "
             "Redis (imgassure_producer_connect_redis)");
    return 0;
}

/* Takes one place of the account's quota for member. */
static enum imgassure_status take_quota(imgassure_producer_t *producer,
                                        const char *account, const char *member,
                                        struct imgassure_outcome *outcome,
                                        char *errbuf, size_t errbuf_size)
{
    struct rate_limit limit = {.limit = IMGASSURE_ON_DEMAND_PER_HOUR,
                               .window_ms = HOUR_MS};
    char key[512];
    char retry_at[40];

    snprintf(key, sizeof(key), "imgassure:{%s}:on-demand", account);
    limit.key = key;
    switch (rate_limit_take(producer->redis, &limit, member, clock_now_ms(),
                            &outcome->retry_at_ms, errbuf, errbuf_size)) {
    case RATE_LIMIT_ACCEPTED:
        return IMGASSURE_ACCEPTED;
    case RATE_LIMIT_REFUSED:
        format_time(outcome->retry_at_ms, retry_at, sizeof(retry_at));
        snprintf(errbuf, errbuf_size,
                 "account %s made %d on-demand requests in the last hour, "
                 "its limit; the next is accepted from %s",
                 account, IMGASSURE_ON_DEMAND_PER_HOUR, retry_at);
        return refuse(outcome, IMGASSURE_REFUSAL_RATE_LIMITED);
    case RATE_LIMIT_ERROR:
        break;
    }
    return IMGASSURE_FAILED;
}

static void release_quota(imgassure_producer_t *producer, const char *account,
                          const char *member)
{
    struct rate_limit limit = {.limit = IMGASSURE_ON_DEMAND_PER_HOUR,
                               .window_ms = HOUR_MS};
    char key[512];
    char ignored[256];

    snprintf(key, sizeof(key), "imgassure:{%s}:on-demand", account);
    limit.key = key;
    /* A failed release keeps the place taken until it leaves the hour:
     * the request already failed, and this must not hide why. */
    rate_limit_release(producer->redis, &limit, member, ignored,
                       sizeof(ignored));
}

/* Builds the request of one recorded image. Returns 0, or -1 when out of
 * memory. */
static int fill_request(struct scan_request *request, const char *account,
                        const struct image_entry *entry, const char *platform,
                        enum scan_reason reason)
{
    char id[UUID_TEXT_SIZE];

    memset(request, 0, sizeof(*request));
    if (uuid_generate_text(id) != 0)
        return -1;
    request->request_id = strdup(id);
    request->image.account = strdup(account);
    request->image.environment_id = strdup(entry->environment_id);
    request->image.environment_kind = entry->kind;
    request->image.registry = strdup(entry->registry ? entry->registry : "");
    request->image.repository =
        strdup(entry->repository ? entry->repository : "");
    request->image.tag = entry->tag ? strdup(entry->tag) : NULL;
    request->image.digest = entry->digest ? strdup(entry->digest) : NULL;
    platform = platform != NULL ? platform : entry->platform;
    request->image.platform = platform ? strdup(platform) : NULL;
    request->reason = reason;
    request->attempt = 1;
    request->requested_at_ms = clock_now_ms();
    if (request->request_id == NULL || request->image.account == NULL ||
        request->image.environment_id == NULL ||
        request->image.registry == NULL || request->image.repository == NULL) {
        scan_request_clear(request);
        return -1;
    }
    return 0;
}

/* Encodes and queues one request. Returns 0, or -1 with the reason. */
static int queue_request(imgassure_producer_t *producer,
                         const struct scan_request *request,
                         struct kafka_delivery *delivery, char *errbuf,
                         size_t errbuf_size)
{
    unsigned char *value = NULL;
    size_t value_size;
    int result;

    if (scan_request_encode(request, &value, &value_size, errbuf,
                            errbuf_size) != 0)
        return -1;
    result =
        producer_publish(producer, producer->requests_topic, &request->image,
                         value, value_size, delivery, errbuf, errbuf_size);
    free(value);
    return result;
}

/* Explains why an image is inactive, from the fact its kind goes by. */
static void describe_inactive(const struct image_entry *entry, char *errbuf,
                              size_t errbuf_size)
{
    char time_text[40];

    switch (entry->kind) {
    case ENVIRONMENT_CONTAINER_REGISTRY:
        if (entry->deleted_at_ms > 0) {
            format_time(entry->deleted_at_ms, time_text, sizeof(time_text));
            snprintf(errbuf, errbuf_size,
                     "image %s in %s is inactive: the registry reported it "
                     "deleted at %s",
                     entry->member, entry->environment_id, time_text);
            return;
        }
        /* Otherwise a registry image is inactive as a ShiftLeft one is:
         * no workload runs its digest. */
        /* fall through */
    case ENVIRONMENT_SHIFTLEFT:
        format_time(entry->digest_running_ms, time_text, sizeof(time_text));
        snprintf(errbuf, errbuf_size,
                 "image %s in %s is inactive: no workload of the account ran "
                 "its digest within the activity window (last: %s)",
                 entry->member, entry->environment_id, time_text);
        return;
    default:
        format_time(entry->last_running_ms, time_text, sizeof(time_text));
        snprintf(errbuf, errbuf_size,
                 "image %s in %s is inactive: no workload ran it within the "
                 "activity window (last running: %s)",
                 entry->member, entry->environment_id, time_text);
    }
}

/* Finds the requested image and applies the refusal rules; ref receives
 * the parsed reference. */
static enum imgassure_status
check_image(imgassure_producer_t *producer, const struct imgassure_image *image,
            struct image_ref *ref, struct image_entry *entry,
            struct imgassure_outcome *outcome, char *errbuf, size_t errbuf_size)
{
    struct image_query query;
    enum environment_kind kind;
    int found;

    if (producer_validate_image(image, ref, errbuf, errbuf_size) != 0)
        return IMGASSURE_INVALID;
    if (image->environment_kind != NULL &&
        producer_parse_kind(image->environment_kind, &kind, errbuf,
                            errbuf_size) != 0)
        return IMGASSURE_INVALID;

    query.registry = ref->registry;
    query.repository = ref->repository;
    query.tag = ref->tag[0] != '\0' ? ref->tag : NULL;
    query.digest = image->digest && *image->digest ? image->digest
                   : ref->digest[0] != '\0'        ? ref->digest
                                                   : NULL;
    found =
        image_list_find(producer->redis, image->account, image->environment_id,
                        &query, clock_now_ms(), entry, errbuf, errbuf_size);
    if (found < 0)
        return IMGASSURE_FAILED;
    if (found == 0) {
        snprintf(errbuf, errbuf_size,
                 "image %s was never seen in environment %s of account %s",
                 image->reference, image->environment_id, image->account);
        return refuse(outcome, IMGASSURE_REFUSAL_NOT_SEEN);
    }

    if (image->environment_kind != NULL && kind != entry->kind) {
        snprintf(errbuf, errbuf_size,
                 "environment %s is %s, not %s: omit --kind or give the "
                 "recorded kind",
                 image->environment_id, environment_kind_name(entry->kind),
                 image->environment_kind);
        return IMGASSURE_INVALID;
    }
    if (entry->kind == ENVIRONMENT_SHIFTLEFT) {
        snprintf(errbuf, errbuf_size,
                 "image %s is a ShiftLeft image: it is scanned in its CI "
                 "pipeline by imgassure scan, not on request",
                 entry->member);
        return refuse(outcome, IMGASSURE_REFUSAL_SHIFTLEFT);
    }
    if (!entry->active) {
        describe_inactive(entry, errbuf, errbuf_size);
        return refuse(outcome, IMGASSURE_REFUSAL_INACTIVE);
    }
    return IMGASSURE_ACCEPTED;
}

/* Makes the request name the caller's reference, which may be a mirror
 * of the registry the image was seen in. The digest, kind and platform
 * stay the recorded ones, so that the worker updates the same state. */
static int use_reference(struct image_entry *entry, const struct image_ref *ref)
{
    char *registry = strdup(ref->registry);
    char *repository = strdup(ref->repository);
    char *tag = ref->tag[0] != '\0' ? strdup(ref->tag) : NULL;

    if (registry == NULL || repository == NULL ||
        (ref->tag[0] != '\0' && tag == NULL)) {
        free(registry);
        free(repository);
        free(tag);
        return -1;
    }
    free(entry->registry);
    free(entry->repository);
    entry->registry = registry;
    entry->repository = repository;
    if (tag != NULL) {
        free(entry->tag);
        entry->tag = tag;
    }
    return 0;
}

/* Publishes one checked request and waits for its acknowledgement. */
static enum imgassure_status publish_one(imgassure_producer_t *producer,
                                         const struct scan_request *request,
                                         int timeout_ms, char *errbuf,
                                         size_t errbuf_size)
{
    struct kafka_delivery delivery;
    struct kafka_delivery *deliveries[] = {&delivery};

    if (queue_request(producer, request, &delivery, errbuf, errbuf_size) != 0)
        return IMGASSURE_FAILED;
    if (kafka_wait_deliveries(producer->kafka, deliveries, 1, timeout_ms,
                              errbuf, errbuf_size) != 0)
        return IMGASSURE_FAILED;
    return IMGASSURE_ACCEPTED;
}

enum imgassure_status
imgassure_request_scan(imgassure_producer_t *producer,
                       const struct imgassure_image *image, int timeout_ms,
                       struct imgassure_outcome *outcome, char *errbuf,
                       size_t errbuf_size)
{
    struct image_entry entry = {0};
    struct scan_request request = {0};
    struct image_ref ref;
    enum imgassure_status status;

    reset_outcome(outcome);
    if (!connected(producer, errbuf, errbuf_size))
        return IMGASSURE_FAILED;
    status = check_image(producer, image, &ref, &entry, outcome, errbuf,
                         errbuf_size);
    if (status != IMGASSURE_ACCEPTED)
        goto out;

    if (use_reference(&entry, &ref) != 0 ||
        fill_request(&request, image->account, &entry,
                     image->platform && *image->platform ? image->platform
                                                         : NULL,
                     SCAN_REASON_ON_DEMAND) != 0) {
        snprintf(errbuf, errbuf_size, "out of memory or no randomness");
        status = IMGASSURE_FAILED;
        goto out;
    }
    status = take_quota(producer, image->account, request.request_id, outcome,
                        errbuf, errbuf_size);
    if (status != IMGASSURE_ACCEPTED)
        goto out;

    status = publish_one(producer, &request, timeout_ms, errbuf, errbuf_size);
    if (status == IMGASSURE_ACCEPTED)
        snprintf(outcome->request_id, sizeof(outcome->request_id), "%s",
                 request.request_id);
    else
        release_quota(producer, image->account, request.request_id);

out:
    scan_request_clear(&request);
    image_entry_clear(&entry);
    return status;
}

static int needs_retry(const struct image_entry *entry)
{
    if (!entry->active)
        return 0;
    return !entry->has_status || entry->status != SCAN_STATUS_SCANNED;
}

/* Checks that the environment exists and is not a ShiftLeft one, then
 * reads its images that need a retry into list. */
static enum imgassure_status select_failed(imgassure_producer_t *producer,
                                           const char *account,
                                           const char *environment_id,
                                           struct image_list *list,
                                           struct imgassure_outcome *outcome,
                                           char *errbuf, size_t errbuf_size)
{
    struct image_list all = {0};
    enum environment_kind kind;
    int found;

    found = image_list_environment_kind(
        producer->redis, account, environment_id, &kind, errbuf, errbuf_size);
    if (found < 0)
        return IMGASSURE_FAILED;
    if (found == 0) {
        snprintf(errbuf, errbuf_size,
                 "environment %s of account %s was never seen", environment_id,
                 account);
        return refuse(outcome, IMGASSURE_REFUSAL_NOT_SEEN);
    }
    if (kind == ENVIRONMENT_SHIFTLEFT) {
        snprintf(errbuf, errbuf_size,
                 "environment %s is a ShiftLeft one: its images are scanned "
                 "in CI by imgassure scan, not on request",
                 environment_id);
        return refuse(outcome, IMGASSURE_REFUSAL_SHIFTLEFT);
    }

    if (image_list_load(producer->redis, account, environment_id,
                        clock_now_ms(), &all, errbuf, errbuf_size) != 0) {
        image_list_clear(&all);
        return IMGASSURE_FAILED;
    }
    /* Moves the selected entries to the front; the rest are cleared. */
    for (size_t i = 0; i < all.count; i++) {
        if (needs_retry(&all.entries[i])) {
            struct image_entry kept = all.entries[i];

            all.entries[i] = all.entries[list->count];
            all.entries[list->count++] = kept;
        }
    }
    for (size_t i = list->count; i < all.count; i++)
        image_entry_clear(&all.entries[i]);
    list->entries = all.entries;
    list->capacity = all.capacity;
    return IMGASSURE_ACCEPTED;
}

/* Queues one request per image and waits for them all. Returns how many
 * were acknowledged, with the first failure in errbuf. */
static size_t publish_all(imgassure_producer_t *producer, const char *account,
                          const struct image_list *list, int timeout_ms,
                          char *errbuf, size_t errbuf_size)
{
    struct kafka_delivery *deliveries =
        calloc(list->count, sizeof(*deliveries));
    struct kafka_delivery **queued = calloc(list->count, sizeof(*queued));
    size_t queued_count = 0;
    size_t delivered = 0;

    if (deliveries == NULL || queued == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < list->count; i++) {
        struct scan_request request;

        if (fill_request(&request, account, &list->entries[i], NULL,
                         SCAN_REASON_RETRY_FAILED) != 0) {
            snprintf(errbuf, errbuf_size, "out of memory or no randomness");
            break;
        }
        if (queue_request(producer, &request, &deliveries[i], errbuf,
                          errbuf_size) == 0)
            queued[queued_count++] = &deliveries[i];
        scan_request_clear(&request);
    }

    kafka_wait_deliveries(producer->kafka, queued, queued_count, timeout_ms,
                          errbuf, errbuf_size);
    for (size_t i = 0; i < queued_count; i++)
        delivered += queued[i]->error == RD_KAFKA_RESP_ERR_NO_ERROR;

out:
    free(deliveries);
    free(queued);
    return delivered;
}

enum imgassure_status imgassure_retry_failed(imgassure_producer_t *producer,
                                             const char *account,
                                             const char *environment_id,
                                             int timeout_ms,
                                             struct imgassure_outcome *outcome,
                                             char *errbuf, size_t errbuf_size)
{
    struct image_list list = {0};
    char batch_id[UUID_TEXT_SIZE];
    char reason[256] = "";
    enum imgassure_status status;

    reset_outcome(outcome);
    if (!ids_valid_name(account) || !ids_valid_name(environment_id)) {
        snprintf(errbuf, errbuf_size,
                 "invalid account or environment id: use 1-128 characters "
                 "from A-Z a-z 0-9 . _ -");
        return IMGASSURE_INVALID;
    }
    if (!connected(producer, errbuf, errbuf_size))
        return IMGASSURE_FAILED;
    status = select_failed(producer, account, environment_id, &list, outcome,
                           errbuf, errbuf_size);
    if (status != IMGASSURE_ACCEPTED || list.count == 0)
        goto out;

    if (uuid_generate_text(batch_id) != 0) {
        snprintf(errbuf, errbuf_size, "cannot generate a request id");
        status = IMGASSURE_FAILED;
        goto out;
    }
    status =
        take_quota(producer, account, batch_id, outcome, errbuf, errbuf_size);
    if (status != IMGASSURE_ACCEPTED)
        goto out;

    outcome->scheduled = publish_all(producer, account, &list, timeout_ms,
                                     reason, sizeof(reason));
    if (outcome->scheduled == 0)
        release_quota(producer, account, batch_id);
    if (outcome->scheduled < list.count) {
        snprintf(errbuf, errbuf_size,
                 "published %zu of %zu scan requests: %s; run retry-failed "
                 "again",
                 outcome->scheduled, list.count, reason);
        status = IMGASSURE_FAILED;
        goto out;
    }
    snprintf(outcome->request_id, sizeof(outcome->request_id), "%s", batch_id);

out:
    image_list_clear(&list);
    return status;
}
