/*
 * imgassure producer library: publishes image-seen events and scan requests
 * to the imgassure Kafka topics. Link with -limgassure, -limgassure_common
 * and the libraries in `pkg-config --libs rdkafka avro-c jansson hiredis`.
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

/* On-demand requests (request-scan and retry-failed) each account may make
 * in any sliding hour. */
#define IMGASSURE_ON_DEMAND_PER_HOUR 200

/* The outcome of an on-demand request. The values are the exit codes of
 * `imgassure request-scan` and `imgassure retry-failed`. */
enum imgassure_status {
    IMGASSURE_ACCEPTED = 0, /* published and acknowledged by Kafka */
    IMGASSURE_FAILED = 1,   /* Redis or Kafka failed: nothing accepted */
    IMGASSURE_INVALID = 2,  /* invalid input, named in errbuf */
    IMGASSURE_REFUSED = 3,  /* a rule refused it; see the outcome */
};

enum imgassure_refusal {
    IMGASSURE_REFUSAL_NONE,
    IMGASSURE_REFUSAL_NOT_SEEN,     /* the environment never saw the image */
    IMGASSURE_REFUSAL_INACTIVE,     /* no workload runs it any more */
    IMGASSURE_REFUSAL_SHIFTLEFT,    /* scanned in CI by `imgassure scan` */
    IMGASSURE_REFUSAL_RATE_LIMITED, /* the account's hourly quota is used */
};

struct imgassure_outcome {
    enum imgassure_refusal refusal;
    /* RATE_LIMITED: the time (ms since the epoch) from which the account's
     * next request is accepted. */
    int64_t retry_at_ms;
    /* ACCEPTED: the request id; for retry-failed, the id that counts
     * against the quota (each scan request has its own id). */
    char request_id[37];
    /* ACCEPTED retry-failed: how many scan requests were published. */
    size_t scheduled;
};

/*
 * Connects the producer to the Redis that the workers use
 * (redis://[[user]:password@]host[:port][/db]); on-demand requests need it
 * for the image's state and the quota. Returns 0, or -1 with the reason in
 * errbuf.
 */
int imgassure_producer_connect_redis(imgassure_producer_t *producer,
                                     const char *redis_url, char *errbuf,
                                     size_t errbuf_size);

/*
 * Requests a scan of one image now (reason ON_DEMAND). The image must have
 * been seen in the environment and be active there, and the environment
 * must not be a ShiftLeft one; then the request takes one place of the
 * account's IMGASSURE_ON_DEMAND_PER_HOUR. Without a digest, the image is
 * the most recently seen one of that reference. The request names the
 * caller's reference, which a mirror may serve, with the environment's
 * recorded kind, digest and platform: an ECS or Fargate image is matched
 * by digest again rather than pulled. environment_kind
 * may be NULL; a kind that differs from the recorded one is invalid.
 *
 * Waits up to timeout_ms for Kafka to acknowledge the request; a request
 * that is not acknowledged gives its quota place back. Returns the status
 * and fills *outcome. For anything but IMGASSURE_ACCEPTED, errbuf
 * contains a one-line reason. Refusals use no quota.
 */
enum imgassure_status
imgassure_request_scan(imgassure_producer_t *producer,
                       const struct imgassure_image *image, int timeout_ms,
                       struct imgassure_outcome *outcome, char *errbuf,
                       size_t errbuf_size);

/*
 * Requests a scan (reason RETRY_FAILED) of every active image of one
 * environment whose status is not SCANNED. The whole call takes one place
 * of the quota; when no image qualifies it publishes nothing, takes
 * nothing and returns IMGASSURE_ACCEPTED with scheduled 0. ShiftLeft
 * environments and environments never seen are refused. Waits up to
 * timeout_ms for Kafka; when some requests were not acknowledged, returns
 * IMGASSURE_FAILED with how many were in errbuf and outcome->scheduled.
 */
enum imgassure_status imgassure_retry_failed(imgassure_producer_t *producer,
                                             const char *account,
                                             const char *environment_id,
                                             int timeout_ms,
                                             struct imgassure_outcome *outcome,
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
