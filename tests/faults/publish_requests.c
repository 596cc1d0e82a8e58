/*
 * faults-publish: publishes COUNT scan requests straight to scan.requests,
 * as a team that writes the topic itself would, cycling over the images
 * given, and prints "REQUEST_ID IMAGE" per request once Kafka acknowledged
 * every one of them. The fault suite uses it because a process per request
 * would take minutes for a thousand, and because the producer library's
 * on-demand quota (200 per account and hour) is not under test here.
 *
 * usage: faults-publish COUNT WAVE IMAGE... (IMGASSURE_BROKERS is read)
 */
#include "clock.h"
#include "event.h"
#include "ids.h"
#include "image_ref.h"
#include "kafka.h"
#include "location.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCOUNTS 10
#define FLUSH_TIMEOUT_MS 120000

/* Fills request for the image reference text in environment WAVE of
 * account number index % ACCOUNTS. */
static int build_request(struct scan_request *request, long index,
                         const char *environment, const char *reference,
                         char *errbuf, size_t errbuf_size)
{
    struct image_ref ref;
    char account[32], id[UUID_TEXT_SIZE];

    memset(request, 0, sizeof(*request));
    if (image_ref_parse(reference, &ref, errbuf, errbuf_size) != 0)
        return -1;
    if (uuid_generate_text(id) != 0) {
        snprintf(errbuf, errbuf_size, "cannot generate a request id");
        return -1;
    }
    snprintf(account, sizeof(account), "faults-%ld", index % ACCOUNTS);

    request->request_id = strdup(id);
    request->image.account = strdup(account);
    request->image.environment_id = strdup(environment);
    request->image.environment_kind = ENVIRONMENT_KUBERNETES;
    request->image.registry = strdup(ref.registry);
    request->image.repository = strdup(ref.repository);
    request->image.tag = ref.tag[0] ? strdup(ref.tag) : NULL;
    request->image.digest = ref.digest[0] ? strdup(ref.digest) : NULL;
    request->reason = SCAN_REASON_ON_DEMAND;
    request->attempt = 1;
    request->requested_at_ms = clock_now_ms();
    if (request->request_id == NULL || request->image.account == NULL ||
        request->image.environment_id == NULL ||
        request->image.registry == NULL || request->image.repository == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    return 0;
}

/* Encodes and enqueues one request; its id goes into id. */
static int publish_one(rd_kafka_t *producer, const char *topic, long index,
                       const char *environment, const char *reference, char *id,
                       size_t id_size, char *errbuf, size_t errbuf_size)
{
    struct scan_request request;
    unsigned char *value = NULL;
    size_t value_size = 0;
    char key[1024];
    int failed;

    failed = build_request(&request, index, environment, reference, errbuf,
                           errbuf_size) != 0 ||
             location_format_key(&request.image, key, sizeof(key)) != 0 ||
             scan_request_encode(&request, &value, &value_size, errbuf,
                                 errbuf_size) != 0;
    while (!failed) {
        rd_kafka_resp_err_t err =
            kafka_produce(producer, topic, key, strlen(key), value, value_size,
                          NULL, NULL, errbuf, errbuf_size);

        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            failed = 1;
        else
            rd_kafka_poll(producer, 100);
    }
    if (!failed)
        snprintf(id, id_size, "%s", request.request_id);
    free(value);
    scan_request_clear(&request);
    return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    const char *brokers = getenv("IMGASSURE_BROKERS");
    struct kafka_producer_stats stats = {0};
    rd_kafka_t *producer;
    char errbuf[512], topic[256], (*ids)[40];
    long count;

    if (argc < 4 || brokers == NULL || (count = atol(argv[1])) <= 0) {
        fprintf(stderr, "usage: IMGASSURE_BROKERS=... faults-publish COUNT "
                        "WAVE IMAGE...\n");
        return 2;
    }
    kafka_topic_name("imgassure.", KAFKA_TOPIC_SCAN_REQUESTS, topic,
                     sizeof(topic));
    producer =
        kafka_producer_new(brokers, NULL, 0, &stats, errbuf, sizeof(errbuf));
    ids = calloc((size_t)count, sizeof(*ids));
    if (producer == NULL || ids == NULL) {
        fprintf(stderr, "faults-publish: %s\n",
                producer ? "out of memory" : errbuf);
        return 1;
    }

    for (long i = 0; i < count; i++) {
        if (publish_one(producer, topic, i, argv[2], argv[3 + i % (argc - 3)],
                        ids[i], sizeof(ids[i]), errbuf, sizeof(errbuf)) != 0) {
            fprintf(stderr, "faults-publish: request %ld: %s\n", i, errbuf);
            return 1;
        }
    }
    if (rd_kafka_flush(producer, FLUSH_TIMEOUT_MS) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        stats.failed > 0) {
        fprintf(stderr, "faults-publish: not every request was delivered\n");
        return 1;
    }
    for (long i = 0; i < count; i++)
        printf("%s %s\n", ids[i], argv[3 + i % (argc - 3)]);
    rd_kafka_destroy(producer);
    free(ids);
    return 0;
}
