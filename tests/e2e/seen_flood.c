/*
 * seen-flood: the image-seen load of the ingest test and benchmark.
 *
 *   seen-flood publish COUNT IMAGES ACCOUNTS REGISTRY [EXPECT_FILE]
 *       publishes COUNT ImageSeen events to images.seen, cycling over
 *       IMAGES images (kind KUBERNETES, activity RUNNING) spread over
 *       ACCOUNTS accounts, with seen times shuffled so that an image's
 *       events arrive out of time order. EXPECT_FILE receives one line per
 *       image: its state key and the newest seen time of its events.
 *   seen-flood prime REDIS_URL IMAGES ACCOUNTS REGISTRY
 *       records one older sighting of every image straight in Redis, as a
 *       worker would, so that a later flood finds only known images.
 *   seen-flood requests IDLE_MS
 *       reads scan.requests from its start until no message came for
 *       IDLE_MS, and prints "ACCOUNT IMAGE REQUEST_ID" per request.
 *   seen-flood committed TOPIC TOTAL TIMEOUT_S
 *       watches group imgassure-workers' committed offsets of TOPIC until
 *       they add up to TOTAL, and prints JSON with the times (monotonic
 *       ms) and sums of the first and last change after the watch began.
 *
 * IMGASSURE_BROKERS names the brokers. Nothing here judges the result: the
 * calling script does.
 */
#include "clock.h"
#include "event.h"
#include "ids.h"
#include "image_state.h"
#include "kafka.h"
#include "location.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FLUSH_TIMEOUT_MS 120000
#define PRIME_BATCH 500
#define TOPIC_PREFIX "imgassure."
#define GROUP_ID "imgassure-workers"
/* A prime that makes the shuffle a permutation of any count it does
 * not divide. */
#define SHUFFLE_STEP 7919

struct flood {
    long images;
    long accounts;
    const char *registry;
    int64_t base_ms;
};

static void fail(const char *what, const char *reason)
{
    fprintf(stderr, "seen-flood: %s: %s\n", what, reason);
    exit(1);
}

/* The texts an event's fields point to. */
struct event_text {
    char event_id[UUID_TEXT_SIZE];
    char account[32];
    char repository[64];
    char digest[80];
};

/* Fills event for image number image, with its texts in text. */
static void build_event(const struct flood *flood, long image,
                        int64_t seen_at_ms, struct event_text *text,
                        struct image_seen *event)
{
    if (uuid_generate_text(text->event_id) != 0)
        fail("event id", "no randomness");
    snprintf(text->account, sizeof(text->account), "flood-%ld",
             image % flood->accounts);
    snprintf(text->repository, sizeof(text->repository), "flood/app-%ld",
             image);
    snprintf(text->digest, sizeof(text->digest), "sha256:%064lx",
             (unsigned long)image + 1);
    memset(event, 0, sizeof(*event));
    event->event_id = text->event_id;
    event->image.account = text->account;
    event->image.environment_id = "cluster";
    event->image.environment_kind = ENVIRONMENT_KUBERNETES;
    event->image.registry = (char *)flood->registry;
    event->image.repository = text->repository;
    event->image.tag = "1.0";
    event->image.digest = text->digest;
    event->activity = ACTIVITY_RUNNING;
    event->seen_at_ms = seen_at_ms;
}

static int64_t shuffled_time(const struct flood *flood, long index, long count)
{
    return flood->base_ms +
           (int64_t)((index * (long long)SHUFFLE_STEP) % count);
}

static void produce_event(rd_kafka_t *producer, const char *topic,
                          const struct image_seen *event)
{
    unsigned char *value = NULL;
    size_t value_size = 0;
    char key[1024], errbuf[512];

    if (location_format_key(&event->image, key, sizeof(key)) != 0 ||
        image_seen_encode(event, &value, &value_size, errbuf, sizeof(errbuf)) !=
            0)
        fail("encode", errbuf);
    for (;;) {
        rd_kafka_resp_err_t err =
            kafka_produce(producer, topic, key, strlen(key), value, value_size,
                          NULL, NULL, errbuf, sizeof(errbuf));

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            fail("produce", errbuf);
        rd_kafka_poll(producer, 100);
    }
    free(value);
}

static void write_expectations(const struct flood *flood, long count,
                               const char *path)
{
    FILE *out = fopen(path, "w");

    if (out == NULL)
        fail(path, "cannot write");
    for (long image = 0; image < flood->images && image < count; image++) {
        struct event_text text;
        struct image_seen event;
        char key[1024];
        int64_t newest = 0;

        for (long i = image; i < count; i += flood->images) {
            int64_t seen_at = shuffled_time(flood, i, count);

            newest = seen_at > newest ? seen_at : newest;
        }
        build_event(flood, image, newest, &text, &event);
        if (image_state_key(&event.image, key, sizeof(key)) != 0)
            fail("state key", "too long");
        fprintf(out, "%s %" PRId64 "\n", key, newest);
    }
    fclose(out);
}

static int publish(const struct flood *flood, long count, const char *expect)
{
    const char *brokers = getenv("IMGASSURE_BROKERS");
    struct kafka_producer_stats stats = {0};
    const char *properties[] = {"linger.ms=20", "batch.num.messages=10000"};
    rd_kafka_t *producer;
    char errbuf[512], topic[256];

    if (brokers == NULL)
        fail("publish", "IMGASSURE_BROKERS is not set");
    kafka_topic_name(TOPIC_PREFIX, KAFKA_TOPIC_IMAGES_SEEN, topic,
                     sizeof(topic));
    producer = kafka_producer_new(brokers, properties, 2, &stats, errbuf,
                                  sizeof(errbuf));
    if (producer == NULL)
        fail("producer", errbuf);

    for (long i = 0; i < count; i++) {
        struct event_text text;
        struct image_seen event;

        build_event(flood, i % flood->images, shuffled_time(flood, i, count),
                    &text, &event);
        produce_event(producer, topic, &event);
    }
    if (rd_kafka_flush(producer, FLUSH_TIMEOUT_MS) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        stats.failed > 0)
        fail("publish", "not every event was delivered");
    rd_kafka_destroy(producer);
    if (expect != NULL)
        write_expectations(flood, count, expect);
    return 0;
}

static int prime(const struct flood *flood, const char *redis_url)
{
    struct image_state_store *store;
    struct image_seen events[PRIME_BATCH];
    struct event_text texts[PRIME_BATCH];
    struct seen_outcome outcomes[PRIME_BATCH];
    char request_ids[PRIME_BATCH][UUID_TEXT_SIZE];
    char errbuf[512];

    store = image_state_connect(redis_url, errbuf, sizeof(errbuf));
    if (store == NULL)
        fail("redis", errbuf);
    for (long first = 0; first < flood->images; first += PRIME_BATCH) {
        long count = flood->images - first < PRIME_BATCH ? flood->images - first
                                                         : PRIME_BATCH;

        for (long i = 0; i < count; i++) {
            build_event(flood, first + i, flood->base_ms - 1, &texts[i],
                        &events[i]);
            memcpy(request_ids[i], texts[i].event_id, UUID_TEXT_SIZE);
        }
        if (image_state_record_seen_batch(
                store, events, (const char(*)[UUID_TEXT_SIZE])request_ids,
                (size_t)count, clock_now_ms(), 86400000, outcomes, errbuf,
                sizeof(errbuf)) != 0 ||
            image_state_claims_delivered(store, events, outcomes, (size_t)count,
                                         errbuf, sizeof(errbuf)) != 0)
            fail("prime", errbuf);
    }
    image_state_free(store);
    return 0;
}

static rd_kafka_t *new_consumer(const char *group)
{
    const char *brokers = getenv("IMGASSURE_BROKERS");
    char group_property[128], errbuf[512];
    const char *properties[] = {group_property, "auto.offset.reset=earliest",
                                "enable.auto.commit=false"};
    rd_kafka_conf_t *conf;
    rd_kafka_t *consumer;

    if (brokers == NULL)
        fail("consumer", "IMGASSURE_BROKERS is not set");
    snprintf(group_property, sizeof(group_property), "group.id=%s", group);
    conf = kafka_conf_new(brokers, properties, 3, errbuf, sizeof(errbuf));
    if (conf == NULL)
        fail("consumer", errbuf);
    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, sizeof(errbuf));
    if (consumer == NULL)
        fail("consumer", errbuf);
    rd_kafka_poll_set_consumer(consumer);
    return consumer;
}

static rd_kafka_topic_partition_list_t *all_partitions(rd_kafka_t *consumer,
                                                       const char *topic);

/* Reads every partition from its start without joining a group, so no
 * rebalance delays the first message. */
static int print_requests(int idle_ms)
{
    rd_kafka_t *consumer = new_consumer("seen-flood-reader");
    rd_kafka_topic_partition_list_t *partitions;
    char topic[256];
    int64_t last_ms = clock_monotonic_ms();

    kafka_topic_name(TOPIC_PREFIX, KAFKA_TOPIC_SCAN_REQUESTS, topic,
                     sizeof(topic));
    partitions = all_partitions(consumer, topic);
    for (int i = 0; i < partitions->cnt; i++)
        partitions->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(consumer, partitions) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fail("assign", topic);
    rd_kafka_topic_partition_list_destroy(partitions);

    while (clock_monotonic_ms() - last_ms < idle_ms) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 200);
        struct scan_request request;
        char errbuf[512];

        if (message == NULL)
            continue;
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            memset(&request, 0, sizeof(request));
            if (scan_request_decode(message->payload, message->len, &request,
                                    errbuf, sizeof(errbuf)) != 0)
                fail("decode", errbuf);
            printf("%s %s %s\n", request.image.account,
                   request.image.repository, request.request_id);
            scan_request_clear(&request);
            last_ms = clock_monotonic_ms();
        }
        rd_kafka_message_destroy(message);
    }
    rd_kafka_destroy(consumer);
    return 0;
}

/* Sums the group's committed offsets of every partition of topic. */
static long committed_sum(rd_kafka_t *consumer,
                          rd_kafka_topic_partition_list_t *partitions)
{
    long sum = 0;

    if (rd_kafka_committed(consumer, partitions, 5000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    for (int i = 0; i < partitions->cnt; i++) {
        if (partitions->elems[i].offset > 0)
            sum += (long)partitions->elems[i].offset;
    }
    return sum;
}

static rd_kafka_topic_partition_list_t *all_partitions(rd_kafka_t *consumer,
                                                       const char *topic)
{
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_t *handle = rd_kafka_topic_new(consumer, topic, NULL);

    if (rd_kafka_metadata(consumer, 0, handle, &metadata, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        metadata->topic_cnt != 1)
        fail("metadata", topic);
    for (int i = 0; i < metadata->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(list, topic,
                                          metadata->topics[0].partitions[i].id);
    rd_kafka_metadata_destroy(metadata);
    rd_kafka_topic_destroy(handle);
    return list;
}

static int watch_committed(const char *name, long total, int timeout_s)
{
    rd_kafka_t *consumer = new_consumer(GROUP_ID);
    char topic[256];
    rd_kafka_topic_partition_list_t *partitions;
    int64_t deadline_ms = clock_monotonic_ms() + timeout_s * 1000LL;
    int64_t first_ms = 0, last_ms = 0;
    long first = 0, last = 0, sum;

    kafka_topic_name(TOPIC_PREFIX, name, topic, sizeof(topic));
    partitions = all_partitions(consumer, topic);
    /* Offsets committed before the watch began are not counted as a
     * change, so that a second run on the same topic times only itself. */
    sum = committed_sum(consumer, partitions);
    last = sum > 0 ? sum : 0;
    while (last < total && clock_monotonic_ms() < deadline_ms) {
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
        sum = committed_sum(consumer, partitions);
        if (sum <= last)
            continue;
        last = sum;
        last_ms = clock_monotonic_ms();
        if (first_ms == 0) {
            first = sum;
            first_ms = last_ms;
        }
    }
    printf("{\"total\": %ld, \"first_committed\": %ld, \"first_ms\": %" PRId64
           ", \"last_committed\": %ld, \"last_ms\": %" PRId64 "}\n",
           total, first, first_ms, last, last_ms);
    rd_kafka_topic_partition_list_destroy(partitions);
    rd_kafka_destroy(consumer);
    return last >= total ? 0 : 1;
}

static long number(const char *text, const char *what)
{
    char *end;
    long value = strtol(text, &end, 10);

    if (*text == '\0' || *end != '\0' || value <= 0)
        fail(what, "not a positive number");
    return value;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: seen-flood publish COUNT IMAGES ACCOUNTS REGISTRY "
            "[EXPECT_FILE]\n"
            "       seen-flood prime REDIS_URL IMAGES ACCOUNTS REGISTRY\n"
            "       seen-flood requests IDLE_MS\n"
            "       seen-flood committed TOPIC TOTAL TIMEOUT_S\n"
            "(IMGASSURE_BROKERS names the brokers)\n");
    return 2;
}

int main(int argc, char **argv)
{
    /* One hour back: every event is older than "now" for the worker, and
     * both commands of one run agree on it to the hour. */
    struct flood flood = {.base_ms = (clock_now_ms() / 3600000 - 1) * 3600000};

    if (argc >= 6 && argc <= 7 && strcmp(argv[1], "publish") == 0) {
        flood.images = number(argv[3], "IMAGES");
        flood.accounts = number(argv[4], "ACCOUNTS");
        flood.registry = argv[5];
        return publish(&flood, number(argv[2], "COUNT"),
                       argc == 7 ? argv[6] : NULL);
    }
    if (argc == 6 && strcmp(argv[1], "prime") == 0) {
        flood.images = number(argv[3], "IMAGES");
        flood.accounts = number(argv[4], "ACCOUNTS");
        flood.registry = argv[5];
        return prime(&flood, argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "requests") == 0)
        return print_requests((int)number(argv[2], "IDLE_MS"));
    if (argc == 5 && strcmp(argv[1], "committed") == 0)
        return watch_committed(argv[2], number(argv[3], "TOTAL"),
                               (int)number(argv[4], "TIMEOUT_S"));
    return usage();
}
