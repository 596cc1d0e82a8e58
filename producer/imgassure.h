/*
 * imgassure producer library: publishes image-seen events and scan requests
 * to the imgassure Kafka topics. Link with -limgassure and the libraries in
 * `pkg-config --libs rdkafka avro-c jansson`.
 *
 * A producer is safe to use from one thread at a time; give each thread its
 * own or serialise calls. Every function that can fail takes a caller-owned
 * errbuf and writes one line there.
 */
#ifndef IMGASSURE_H
#define IMGASSURE_H

#include <stddef.h>
#include <stdint.h>

typedef struct imgassure_producer imgassure_producer_t;

/* An image where it was seen. Strings are borrowed for the call only. */
struct imgassure_image {
    const char *account;          /* required: [A-Za-z0-9._-], max 128 */
    const char *environment_id;   /* required: as account */
    const char *environment_kind; /* KUBERNETES, CONTAINER_REGISTRY, ECS,
                                     FARGATE or SHIFTLEFT */
    const char *reference;        /* required: registry/repository[:tag] */
    const char *digest;           /* "sha256:<hex>" or NULL */
    const char *platform;         /* "os/arch[/variant]" or NULL */
};

/*
 * Creates a producer. brokers is a comma-separated bootstrap list;
 * topic_prefix NULL means "imgassure."; properties is an array of
 * "key=value" librdkafka settings applied last (may be NULL). Returns NULL
 * with the reason in errbuf. Free with imgassure_producer_free.
 */
imgassure_producer_t *imgassure_producer_new(const char *brokers,
                                             const char *topic_prefix,
                                             const char *const *properties,
                                             size_t property_count,
                                             char *errbuf, size_t errbuf_size);

/*
 * Queues an ImageSeen event. activity is RUNNING, PRESENT or DELETED (NULL
 * means RUNNING); workload may be NULL; seen_at_ms 0 means now. Delivery
 * is asynchronous: call imgassure_producer_flush to wait for it. Returns
 * 0, or -1 with the reason in errbuf for invalid input or a full queue.
 */
int imgassure_publish_seen(imgassure_producer_t *producer,
                           const struct imgassure_image *image,
                           const char *activity, const char *workload,
                           int64_t seen_at_ms, char *errbuf,
                           size_t errbuf_size);

/*
 * Queues an on-demand ScanRequest and writes its request id (a UUID, 37
 * bytes with the terminator) into request_id. Returns 0, or -1 with the
 * reason in errbuf.
 */
int imgassure_request_scan(imgassure_producer_t *producer,
                           const struct imgassure_image *image,
                           char *request_id, size_t request_id_size,
                           char *errbuf, size_t errbuf_size);

/*
 * Waits up to timeout_ms until every queued message is delivered. Returns
 * 0 when all messages so far were delivered, or -1 when some are still
 * queued or failed, with the count and the first error in errbuf.
 */
int imgassure_producer_flush(imgassure_producer_t *producer, int timeout_ms,
                             char *errbuf, size_t errbuf_size);

/* Frees the producer; messages not yet delivered are dropped, so flush
 * first. NULL is a no-op. */
void imgassure_producer_free(imgassure_producer_t *producer);

#endif
