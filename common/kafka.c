#include "kafka.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int set_property(rd_kafka_conf_t *conf, const char *key,
                        const char *value, char *errbuf, size_t errbuf_size)
{
    char reason[256];

    if (rd_kafka_conf_set(conf, key, value, reason, sizeof(reason)) !=
        RD_KAFKA_CONF_OK) {
        snprintf(errbuf, errbuf_size, "invalid Kafka property %s: %s", key,
                 reason);
        return -1;
    }
    return 0;
}

static int apply_property(rd_kafka_conf_t *conf, const char *property,
                          char *errbuf, size_t errbuf_size)
{
    const char *equals = strchr(property, '=');
    char key[256];
    size_t key_length;

    if (equals == NULL || equals == property) {
        snprintf(errbuf, errbuf_size,
                 "invalid Kafka property '%s': expected key=value", property);
        return -1;
    }
    key_length = (size_t)(equals - property);
    if (key_length >= sizeof(key)) {
        snprintf(errbuf, errbuf_size, "Kafka property name too long: %.40s...",
                 property);
        return -1;
    }
    memcpy(key, property, key_length);
    key[key_length] = '\0';
    return set_property(conf, key, equals + 1, errbuf, errbuf_size);
}

static kafka_log_handler log_handler;

void kafka_set_log_handler(kafka_log_handler handler)
{
    log_handler = handler;
}

static void forward_log(const rd_kafka_t *client, int level,
                        const char *facility, const char *message)
{
    (void)client;
    log_handler(level, facility, message);
}

int kafka_conf_apply(rd_kafka_conf_t *conf, const char *const *properties,
                     size_t property_count, char *errbuf, size_t errbuf_size)
{
    for (size_t i = 0; i < property_count; i++) {
        if (apply_property(conf, properties[i], errbuf, errbuf_size) != 0)
            return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const char *brokers,
                                const char *const *properties,
                                size_t property_count, char *errbuf,
                                size_t errbuf_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (brokers == NULL || *brokers == '\0') {
        snprintf(errbuf, errbuf_size,
                 "no Kafka brokers: set --brokers or IMGASSURE_BROKERS");
        goto fail;
    }
    if (set_property(conf, "bootstrap.servers", brokers, errbuf, errbuf_size) !=
        0)
        goto fail;
    if (log_handler != NULL)
        rd_kafka_conf_set_log_cb(conf, forward_log);

    if (kafka_conf_apply(conf, properties, property_count, errbuf,
                         errbuf_size) != 0)
        goto fail;
    return conf;

fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void on_delivery(rd_kafka_t *producer, const rd_kafka_message_t *message,
                        void *opaque)
{
    struct kafka_delivery *delivery = message->_private;
    struct kafka_producer_stats *stats = opaque;

    (void)producer;
    /* Any thread polling the producer may run this for another thread's
     * delivery: the release store publishes error with done. */
    if (delivery != NULL) {
        delivery->error = message->err;
        __atomic_store_n(&delivery->done, 1, __ATOMIC_RELEASE);
    }
    if (stats == NULL)
        return;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        stats->delivered++;
        return;
    }
    if (stats->failed++ == 0)
        stats->first_error = message->err;
}

rd_kafka_t *kafka_producer_new(const char *brokers,
                               const char *const *properties,
                               size_t property_count,
                               struct kafka_producer_stats *stats, char *errbuf,
                               size_t errbuf_size)
{
    rd_kafka_conf_t *conf;
    rd_kafka_t *producer;
    char reason[256];

    conf = kafka_conf_new(brokers, NULL, 0, errbuf, errbuf_size);
    if (conf == NULL)
        return NULL;

    /* Defaults first so that -X properties can still override them. */
    if (set_property(conf, "enable.idempotence", "true", errbuf, errbuf_size) !=
        0)
        goto fail;
    if (kafka_conf_apply(conf, properties, property_count, errbuf,
                         errbuf_size) != 0)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, stats);

    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof(reason));
    if (producer == NULL) {
        snprintf(errbuf, errbuf_size, "cannot create Kafka producer: %s",
                 reason);
        goto fail;
    }
    return producer;

fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int kafka_topic_name(const char *prefix, const char *name, char *out,
                     size_t out_size)
{
    int written = snprintf(out, out_size, "%s%s", prefix ? prefix : "", name);

    if (written < 0 || (size_t)written >= out_size)
        return -1;
    return 0;
}

rd_kafka_resp_err_t kafka_produce(rd_kafka_t *producer, const char *topic,
                                  const void *key, size_t key_size,
                                  const void *value, size_t value_size,
                                  rd_kafka_headers_t *headers,
                                  struct kafka_delivery *delivery, char *errbuf,
                                  size_t errbuf_size)
{
    rd_kafka_resp_err_t error;

    if (delivery != NULL) {
        delivery->done = 0;
        delivery->error = RD_KAFKA_RESP_ERR_NO_ERROR;
    }

    error = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY((void *)key, key_size),
                              RD_KAFKA_V_VALUE((void *)value, value_size),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_HEADERS(headers),
                              RD_KAFKA_V_OPAQUE(delivery), RD_KAFKA_V_END);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_size, "cannot produce to %s: %s", topic,
                 rd_kafka_err2str(error));
    }
    return error;
}

static long long monotonic_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int all_done(struct kafka_delivery *const *deliveries, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!__atomic_load_n(&deliveries[i]->done, __ATOMIC_ACQUIRE))
            return 0;
    }
    return 1;
}

int kafka_wait_deliveries(rd_kafka_t *producer,
                          struct kafka_delivery *const *deliveries,
                          size_t count, int timeout_ms, char *errbuf,
                          size_t errbuf_size)
{
    long long deadline = monotonic_ms() + timeout_ms;

    while (!all_done(deliveries, count)) {
        if (monotonic_ms() >= deadline) {
            /* The delivery structs belong to the caller, who frees them on
             * return: purge so every report arrives before that. */
            rd_kafka_purge(producer,
                           RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            while (!all_done(deliveries, count))
                rd_kafka_poll(producer, 100);
            snprintf(errbuf, errbuf_size,
                     "message delivery not confirmed within %d ms", timeout_ms);
            return -1;
        }
        rd_kafka_poll(producer, 100);
    }

    for (size_t i = 0; i < count; i++) {
        if (deliveries[i]->error != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errbuf, errbuf_size, "message delivery failed: %s",
                     rd_kafka_err2str(deliveries[i]->error));
            return -1;
        }
    }
    return 0;
}
