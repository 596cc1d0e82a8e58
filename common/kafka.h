/*
 * Kafka helpers every imgassure program uses: configuration from a broker
 * list plus pass-through librdkafka properties, topic names, and produce
 * calls whose delivery the caller can wait for.
 */
#ifndef IMGASSURE_KAFKA_H
#define IMGASSURE_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#define KAFKA_TOPIC_IMAGES_SEEN "images.seen"
#define KAFKA_TOPIC_SCAN_REQUESTS "scan.requests"
#define KAFKA_TOPIC_SCAN_RESULTS "scan.results"
#define KAFKA_TOPIC_IMAGES_REMOVED "images.removed"
#define KAFKA_DLQ_SUFFIX ".dlq"
#define KAFKA_DEFAULT_TOPIC_PREFIX "imgassure."

/* The outcome of one produced message, filled in by the delivery report. */
struct kafka_delivery {
    int done;
    rd_kafka_resp_err_t error;
};

/* Delivery counts of the messages produced without a struct
 * kafka_delivery. */
struct kafka_producer_stats {
    unsigned long delivered;
    unsigned long failed;
    rd_kafka_resp_err_t first_error;
};

/* A receiver of librdkafka's own log lines (level is a syslog level). */
typedef void (*kafka_log_handler)(int level, const char *facility,
                                  const char *message);

/* Sends librdkafka's log lines of every client created afterwards to
 * handler instead of stderr. A program calls this once at start-up. */
void kafka_set_log_handler(kafka_log_handler handler);

/*
 * Creates a configuration with bootstrap.servers = brokers, then applies
 * each "key=value" property in order, so a property may override anything
 * set before it. Returns NULL with the reason in errbuf for a property
 * without '=' or one librdkafka rejects. The caller owns the result until
 * it passes it to rd_kafka_new.
 */
rd_kafka_conf_t *kafka_conf_new(const char *brokers,
                                const char *const *properties,
                                size_t property_count, char *errbuf,
                                size_t errbuf_size);

/* Applies "key=value" properties in order. Returns 0, or -1 with the
 * reason in errbuf for a malformed or rejected property. */
int kafka_conf_apply(rd_kafka_conf_t *conf, const char *const *properties,
                     size_t property_count, char *errbuf, size_t errbuf_size);

/*
 * Creates an idempotent producer (acks=all) whose delivery reports fill
 * the struct kafka_delivery passed as each message's opaque, or count into
 * stats for messages produced without one. stats may be NULL and must
 * outlive the producer. Returns NULL with the reason in errbuf.
 */
rd_kafka_t *kafka_producer_new(const char *brokers,
                               const char *const *properties,
                               size_t property_count,
                               struct kafka_producer_stats *stats, char *errbuf,
                               size_t errbuf_size);

/* Writes prefix + name into out, e.g. "imgassure." + "scan.results".
 * Returns 0, or -1 when it does not fit. */
int kafka_topic_name(const char *prefix, const char *name, char *out,
                     size_t out_size);

/*
 * Enqueues one message; headers (may be NULL) are taken over by librdkafka
 * on success and stay with the caller on failure. delivery (may be NULL) is
 * reset here and filled when the broker acknowledges or rejects the
 * message. Returns RD_KAFKA_RESP_ERR_NO_ERROR (0), or the error with the
 * reason in errbuf: RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE fails the same way
 * on every retry, RD_KAFKA_RESP_ERR__QUEUE_FULL passes.
 */
rd_kafka_resp_err_t kafka_produce(rd_kafka_t *producer, const char *topic,
                                  const void *key, size_t key_size,
                                  const void *value, size_t value_size,
                                  rd_kafka_headers_t *headers,
                                  struct kafka_delivery *delivery, char *errbuf,
                                  size_t errbuf_size);

/*
 * Serves delivery reports until every delivery in the array is done.
 * After timeout_ms, purges the producer's queued and in-flight messages
 * (every one of them, not only these) so that their reports arrive before
 * this returns. Returns 0 when all were delivered, or -1 with the first
 * failure or the time-out in errbuf.
 */
int kafka_wait_deliveries(rd_kafka_t *producer,
                          struct kafka_delivery *const *deliveries,
                          size_t count, int timeout_ms, char *errbuf,
                          size_t errbuf_size);

#endif
