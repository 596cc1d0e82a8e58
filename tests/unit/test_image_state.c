/*
 * The image state scripts against a real Redis: one scan for many
 * sightings, redelivery, rescans, deletion that spares a changed image,
 * digest sharing within one account only, and the findings a failed scan
 * keeps. The Redis comes from IMGASSURE_TEST_REDIS_URL
 * (tests/e2e/lifecycle.sh sets it on its own loopback redis-server).
 * Without it every test skips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "image_state.h"

#define T0 (1700000000000LL)
#define DAY_MS (86400000LL)
#define DIGEST                                                                 \
    "sha256:1111111111111111111111111111111111111111111111111111111111111111"

static char account[64];
static char other_account[64];

static int connect_store(void **state)
{
    const char *url = getenv("IMGASSURE_TEST_REDIS_URL");
    char errbuf[256];

    *state = NULL;
    if (url == NULL)
        return 0;
    *state = image_state_connect(url, errbuf, sizeof(errbuf));
    if (*state == NULL) {
        print_error("cannot connect to %s: %s\n", url, errbuf);
        return -1;
    }
    return 0;
}

static int free_store(void **state)
{
    image_state_free(*state);
    return 0;
}

/* Each test gets accounts of its own, so runs never see each other. */
static struct image_state_store *store_or_skip(void **state)
{
    static int counter;

    if (*state == NULL) {
        print_message("skipped: IMGASSURE_TEST_REDIS_URL is not set "
                      "(tests/e2e/lifecycle.sh sets it)\n");
        skip();
    }
    counter++;
    snprintf(account, sizeof(account), "unit-%d-%d", (int)getpid(), counter);
    snprintf(other_account, sizeof(other_account), "unit-%d-%d-other",
             (int)getpid(), counter);
    return *state;
}

static struct image_seen sighting(const char *event_id, const char *owner,
                                  const char *environment,
                                  enum environment_kind kind,
                                  enum image_activity activity,
                                  int64_t seen_at_ms)
{
    struct image_seen event = {
        .event_id = (char *)event_id,
        .image = {.account = (char *)owner,
                  .environment_id = (char *)environment,
                  .environment_kind = kind,
                  .registry = "registry.test:5000",
                  .repository = "team/app",
                  .tag = "1.0",
                  .digest = DIGEST},
        .activity = activity,
        .seen_at_ms = seen_at_ms,
    };
    return event;
}

static enum seen_decision see(struct image_state_store *store,
                              const struct image_seen *event, int64_t now_ms,
                              const char *request_id, char *granted_id)
{
    struct seen_outcome outcome;
    char errbuf[256];

    assert_int_equal(image_state_record_seen(store, event, now_ms, DAY_MS,
                                             request_id, &outcome, errbuf,
                                             sizeof(errbuf)),
                     0);
    if (granted_id != NULL)
        strcpy(granted_id, outcome.request_id);
    return outcome.decision;
}

/* Runs a command and returns its string reply (malloc'd), or NULL. */
static char *query(struct image_state_store *store, const char *format, ...)
{
    char errbuf[256];
    redisContext *redis = image_state_redis(store, errbuf, sizeof(errbuf));
    redisReply *reply;
    char *text = NULL;
    va_list args;

    assert_non_null(redis);
    va_start(args, format);
    reply = redisvCommand(redis, format, args);
    va_end(args);
    assert_non_null(reply);
    if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS)
        text = strdup(reply->str);
    else if (reply->type == REDIS_REPLY_INTEGER) {
        text = malloc(32);
        snprintf(text, 32, "%lld", reply->integer);
    }
    freeReplyObject(reply);
    return text;
}

static void assert_field(struct image_state_store *store, const char *owner,
                         const char *environment, const char *field,
                         const char *expected)
{
    char *value = query(store, "HGET imgassure:{%s}:image:%s:%s %s", owner,
                        environment, DIGEST, field);

    if (expected == NULL)
        assert_null(value);
    else
        assert_string_equal(value != NULL ? value : "(nil)", expected);
    free(value);
}

static void many_sightings_start_one_scan(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct image_seen first =
        sighting("event-1", account, "prod", ENVIRONMENT_KUBERNETES,
                 ACTIVITY_RUNNING, T0);
    struct image_seen second =
        sighting("event-2", account, "prod", ENVIRONMENT_KUBERNETES,
                 ACTIVITY_RUNNING, T0 + 1);
    char granted[UUID_TEXT_SIZE], again[UUID_TEXT_SIZE];

    assert_int_equal(see(store, &first, T0, "request-a", granted),
                     SEEN_NEW_IMAGE);
    assert_string_equal(granted, "request-a");
    /* Another worker with another event: the first claim remains. */
    assert_int_equal(see(store, &second, T0, "request-b", NULL), SEEN_NO_SCAN);
    /* The first event redelivered gets its own decision again. */
    assert_int_equal(see(store, &first, T0, "request-c", again),
                     SEEN_NEW_IMAGE);
    assert_string_equal(again, "request-a");
    assert_field(store, account, "prod", "status", "PENDING_SCAN");
    assert_field(store, account, "prod", "request_id", "request-a");
}

static void older_sighting_changes_nothing(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct image_seen newer =
        sighting("new", account, "prod", ENVIRONMENT_KUBERNETES,
                 ACTIVITY_PRESENT, T0 + 500);
    struct image_seen older = sighting(
        "old", account, "prod", ENVIRONMENT_KUBERNETES, ACTIVITY_DELETED, T0);
    char *score;

    see(store, &newer, T0 + 500, "r1", NULL);
    see(store, &older, T0 + 500, "r2", NULL);
    assert_field(store, account, "prod", "last_seen_ms", "1700000000500");
    assert_field(store, account, "prod", "activity", "PRESENT");
    assert_field(store, account, "prod", "deleted_at_ms", NULL);
    score = query(store, "ZSCORE imgassure:{%s}:seen:prod %s", account, DIGEST);
    assert_string_equal(score, "1700000000500");
    free(score);
}

static void layout_sets_are_written(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct image_seen running = sighting(
        "k8s", account, "prod", ENVIRONMENT_KUBERNETES, ACTIVITY_RUNNING, T0);
    struct image_seen registry =
        sighting("reg", account, "hub", ENVIRONMENT_CONTAINER_REGISTRY,
                 ACTIVITY_RUNNING, T0 + 5);
    char *value;

    see(store, &running, T0, "r1", NULL);
    see(store, &registry, T0 + 5, "r2", NULL);
    value = query(store, "SISMEMBER imgassure:accounts %s", account);
    assert_string_equal(value, "1");
    free(value);
    value = query(store, "HGET imgassure:{%s}:environments hub", account);
    assert_string_equal(value, "CONTAINER_REGISTRY");
    free(value);
    /* Only the Kubernetes sighting counts as running. */
    value = query(store, "ZSCORE imgassure:{%s}:running %s", account, DIGEST);
    assert_string_equal(value, "1700000000000");
    free(value);
    assert_field(store, account, "prod", "last_running_ms", "1700000000000");
    assert_field(store, account, "hub", "last_running_ms", NULL);
}

static void deleted_report_cleared_by_later_sighting(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct image_seen deleted =
        sighting("gone", account, "hub", ENVIRONMENT_CONTAINER_REGISTRY,
                 ACTIVITY_DELETED, T0);
    struct image_seen present =
        sighting("back", account, "hub", ENVIRONMENT_CONTAINER_REGISTRY,
                 ACTIVITY_PRESENT, T0 + 10);

    assert_int_equal(see(store, &deleted, T0, "r1", NULL), SEEN_NO_SCAN);
    assert_field(store, account, "hub", "deleted_at_ms", "1700000000000");
    see(store, &present, T0 + 10, "r2", NULL);
    assert_field(store, account, "hub", "deleted_at_ms", NULL);
}

static struct scan_result scanned_result(const char *owner,
                                         const char *environment,
                                         enum environment_kind kind,
                                         enum scan_status status,
                                         int64_t finished_at_ms)
{
    struct scan_result result = {
        .request_id = "request-a",
        .image = {.account = (char *)owner,
                  .environment_id = (char *)environment,
                  .environment_kind = kind,
                  .registry = "registry.test:5000",
                  .repository = "team/app",
                  .digest = DIGEST},
        .manifest_digest = DIGEST,
        .status = status,
        .status_detail = "detail",
        .worker_id = "unit",
        .started_at_ms = finished_at_ms,
        .finished_at_ms = finished_at_ms,
    };
    return result;
}

static void store_result(struct image_state_store *store,
                         const struct scan_result *result,
                         struct waiting_requests *waiting)
{
    char errbuf[256];

    assert_int_equal(image_state_record_result(store, result, "", waiting,
                                               errbuf, sizeof(errbuf)),
                     0);
}

static void rescan_after_interval_once(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct image_seen first = sighting(
        "e1", account, "prod", ENVIRONMENT_KUBERNETES, ACTIVITY_RUNNING, T0);
    struct image_seen early =
        sighting("e2", account, "prod", ENVIRONMENT_KUBERNETES,
                 ACTIVITY_RUNNING, T0 + DAY_MS - 1);
    struct image_seen late =
        sighting("e3", account, "prod", ENVIRONMENT_KUBERNETES,
                 ACTIVITY_RUNNING, T0 + DAY_MS + 1);
    struct image_seen later =
        sighting("e4", account, "prod", ENVIRONMENT_KUBERNETES,
                 ACTIVITY_RUNNING, T0 + DAY_MS + 2);
    struct scan_result result = scanned_result(
        account, "prod", ENVIRONMENT_KUBERNETES, SCAN_STATUS_SCANNED, T0);

    see(store, &first, T0, "r1", NULL);
    store_result(store, &result, NULL);
    assert_int_equal(see(store, &early, T0 + DAY_MS - 1, "r2", NULL),
                     SEEN_NO_SCAN);
    assert_int_equal(see(store, &late, T0 + DAY_MS + 1, "r3", NULL),
                     SEEN_RESCAN);
    /* Requested already: the next sighting waits for that result. */
    assert_int_equal(see(store, &later, T0 + DAY_MS + 2, "r4", NULL),
                     SEEN_NO_SCAN);
    assert_field(store, account, "prod", "status", "SCANNED");
}

static void failed_rescan_keeps_last_findings(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct scan_result scanned = scanned_result(
        account, "prod", ENVIRONMENT_KUBERNETES, SCAN_STATUS_SCANNED, T0);
    struct scan_result failed =
        scanned_result(account, "prod", ENVIRONMENT_KUBERNETES,
                       SCAN_STATUS_NETWORK_ERROR, T0 + DAY_MS);
    char *stored_scan;

    scanned.vulnerabilities_matched = 1;
    scanned.vulnerability_level = SEVERITY_NONE;
    store_result(store, &scanned, NULL);
    stored_scan = query(store, "HGET imgassure:{%s}:image:prod:%s last_scanned",
                        account, DIGEST);
    assert_non_null(stored_scan);

    store_result(store, &failed, NULL);
    assert_field(store, account, "prod", "status", "NETWORK_ERROR");
    assert_field(store, account, "prod", "last_scanned_at_ms", "1700000000000");
    assert_field(store, account, "prod", "last_scanned", stored_scan);
    assert_field(store, account, "prod", "vulnerability_level", "NONE");
    free(stored_scan);
}

static void delete_spares_a_changed_image(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct image_seen first = sighting(
        "s1", account, "prod", ENVIRONMENT_KUBERNETES, ACTIVITY_RUNNING, T0);
    struct image_seen again =
        sighting("s2", account, "prod", ENVIRONMENT_KUBERNETES,
                 ACTIVITY_RUNNING, T0 + 1000);
    struct image_snapshot read = {.last_seen_ms = "1700000000000",
                                  .last_running_ms = "1700000000000"};
    struct image_snapshot fresh = {.last_seen_ms = "1700000001000",
                                   .last_running_ms = "1700000001000",
                                   .result_at_ms = "1700000000000"};
    char errbuf[256];
    char *member;

    see(store, &first, T0, "r1", NULL);
    /* The sweeper read the facts before the claim wrote result_at_ms and
     * before the sighting below: its delete must keep the image. */
    see(store, &again, T0 + 1000, "r2", NULL);
    assert_int_equal(image_state_delete_unchanged(store, account, "prod",
                                                  DIGEST, &read, errbuf,
                                                  sizeof(errbuf)),
                     0);
    assert_field(store, account, "prod", "last_seen_ms", "1700000001000");

    assert_int_equal(image_state_delete_unchanged(store, account, "prod",
                                                  DIGEST, &fresh, errbuf,
                                                  sizeof(errbuf)),
                     1);
    assert_field(store, account, "prod", "last_seen_ms", NULL);
    member =
        query(store, "ZSCORE imgassure:{%s}:seen:prod %s", account, DIGEST);
    assert_null(member);
}

static void shared_scan_stays_in_its_account(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct scan_result scanned = scanned_result(
        account, "prod", ENVIRONMENT_KUBERNETES, SCAN_STATUS_SCANNED, T0);
    struct waiting_requests waiting = {0};
    const unsigned char ecs_request[] = "ecs-request";
    const unsigned char other_request[] = "other-request";
    unsigned char *shared = NULL;
    size_t shared_size = 0;
    char errbuf[256];

    /* Nothing scanned yet: both accounts' requests wait. */
    assert_int_equal(
        image_state_find_shared(store, account, DIGEST, ecs_request, 11, T0,
                                &shared, &shared_size, errbuf, sizeof(errbuf)),
        0);
    assert_int_equal(image_state_find_shared(
                         store, other_account, DIGEST, other_request, 13, T0,
                         &shared, &shared_size, errbuf, sizeof(errbuf)),
                     0);

    store_result(store, &scanned, &waiting);
    assert_int_equal(waiting.count, 1);
    assert_memory_equal(waiting.values[0], ecs_request, 11);
    assert_int_equal(image_state_release_waiting(store, account, DIGEST, NULL,
                                                 &waiting, errbuf,
                                                 sizeof(errbuf)),
                     0);
    waiting_requests_clear(&waiting);

    assert_int_equal(
        image_state_find_shared(store, account, DIGEST, ecs_request, 11, T0,
                                &shared, &shared_size, errbuf, sizeof(errbuf)),
        1);
    assert_true(shared_size > 0);
    free(shared);
    assert_int_equal(image_state_find_shared(
                         store, other_account, DIGEST, other_request, 13, T0,
                         &shared, &shared_size, errbuf, sizeof(errbuf)),
                     0);
    assert_null(shared);
}

static void taken_scan_is_not_shared_again(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct scan_result copy = scanned_result(
        account, "staging", ENVIRONMENT_KUBERNETES, SCAN_STATUS_SCANNED, T0);
    struct waiting_requests waiting = {0};
    unsigned char *shared = NULL;
    size_t shared_size = 0;
    char errbuf[256];

    assert_int_equal(image_state_record_result(store, &copy, "prod", &waiting,
                                               errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(image_state_get_shared(store, account, DIGEST, &shared,
                                            &shared_size, errbuf,
                                            sizeof(errbuf)),
                     0);
    assert_field(store, account, "staging", "scanned_from", "prod");
}

/* A pipeline of sightings of one image, out of time order and with a
 * redelivered event in it: one scan, the newest time, the same replies
 * when the whole batch is sent again. */
static void batch_starts_one_scan_and_keeps_newest(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    const int64_t offsets[] = {5, 1, 9, 3, 5};
    const char *event_ids[] = {"b-5", "b-1", "b-9", "b-3", "b-5"};
    struct image_seen events[5];
    char request_ids[5][UUID_TEXT_SIZE];
    struct seen_outcome outcomes[5], again[5];
    char errbuf[256];
    int scans = 0;

    for (int i = 0; i < 5; i++) {
        events[i] =
            sighting(event_ids[i], account, "prod", ENVIRONMENT_KUBERNETES,
                     ACTIVITY_RUNNING, T0 + offsets[i]);
        snprintf(request_ids[i], UUID_TEXT_SIZE, "request-%d", i);
    }
    assert_int_equal(image_state_record_seen_batch(
                         store, events,
                         (const char(*)[UUID_TEXT_SIZE])request_ids, 5, T0,
                         DAY_MS, outcomes, errbuf, sizeof(errbuf)),
                     0);
    for (int i = 0; i < 5; i++)
        scans += outcomes[i].decision != SEEN_NO_SCAN;
    assert_int_equal(scans, 2); /* the first event and its redelivery */
    assert_int_equal(outcomes[0].decision, SEEN_NEW_IMAGE);
    assert_int_equal(outcomes[4].decision, SEEN_NEW_IMAGE);
    assert_string_equal(outcomes[4].request_id, "request-0");
    assert_field(store, account, "prod", "last_seen_ms", "1700000000009");
    assert_field(store, account, "prod", "last_running_ms", "1700000000009");

    assert_int_equal(image_state_record_seen_batch(
                         store, events,
                         (const char(*)[UUID_TEXT_SIZE])request_ids, 5, T0,
                         DAY_MS, again, errbuf, sizeof(errbuf)),
                     0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(again[i].decision, outcomes[i].decision);
        assert_string_equal(again[i].request_id, outcomes[i].request_id);
    }

    /* Once the request is delivered, a redelivery requests no scan. */
    assert_int_equal(image_state_claims_delivered(store, events, outcomes, 5,
                                                  errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(image_state_record_seen_batch(
                         store, events,
                         (const char(*)[UUID_TEXT_SIZE])request_ids, 5, T0,
                         DAY_MS, again, errbuf, sizeof(errbuf)),
                     0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(again[i].decision, SEEN_NO_SCAN);
    assert_field(store, account, "prod", "request_id", "request-0");
}

/* A Redis that lost its script cache replies NOSCRIPT, so the batch
 * loads the script again and still records every sighting. */
static void batch_reloads_a_flushed_script(void **state)
{
    struct image_state_store *store = store_or_skip(state);
    struct image_seen first = sighting(
        "f-1", account, "prod", ENVIRONMENT_KUBERNETES, ACTIVITY_PRESENT, T0);
    struct image_seen second =
        sighting("f-2", account, "prod", ENVIRONMENT_KUBERNETES,
                 ACTIVITY_PRESENT, T0 + 7);
    char *flushed;

    assert_int_equal(see(store, &first, T0, "request-f1", NULL),
                     SEEN_NEW_IMAGE);
    flushed = query(store, "SCRIPT FLUSH");
    assert_string_equal(flushed != NULL ? flushed : "(nil)", "OK");
    free(flushed);
    assert_int_equal(see(store, &second, T0, "request-f2", NULL), SEEN_NO_SCAN);
    assert_field(store, account, "prod", "last_seen_ms", "1700000000007");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_sightings_start_one_scan),
        cmocka_unit_test(older_sighting_changes_nothing),
        cmocka_unit_test(layout_sets_are_written),
        cmocka_unit_test(deleted_report_cleared_by_later_sighting),
        cmocka_unit_test(rescan_after_interval_once),
        cmocka_unit_test(failed_rescan_keeps_last_findings),
        cmocka_unit_test(delete_spares_a_changed_image),
        cmocka_unit_test(shared_scan_stays_in_its_account),
        cmocka_unit_test(taken_scan_is_not_shared_again),
        cmocka_unit_test(batch_starts_one_scan_and_keeps_newest),
        cmocka_unit_test(batch_reloads_a_flushed_script),
    };

    return cmocka_run_group_tests(tests, connect_store, free_store);
}
