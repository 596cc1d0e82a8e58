/*
 * The expiry sweeper. Every interval, whichever worker holds
 * imgassure:sweeper-lease walks every account's environments and applies
 * the lifetime rules (common/lifetime.h) with the account's settings. For
 * each expired image it publishes ImageRemoved to images.removed and
 * waits for Kafka to acknowledge it. Only then does it delete the image's
 * state, and only if no sighting or result changed it since it was read.
 *
 * The walk is cut into pages (one ZSCAN page of one environment per
 * tick) so that the consume loop it runs in never stalls for long.
 */
#ifndef IMGASSURE_SWEEPER_H
#define IMGASSURE_SWEEPER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#define SWEEPER_LEASE_KEY "imgassure:sweeper-lease"

struct sweeper_config {
    const char *redis_url;
    const char *owner; /* the worker id, stored in the lease */
    rd_kafka_t *producer;
    const char *removed_topic;
    int delivery_timeout_ms;
    int64_t interval_ms; /* from the start of one walk to the next */
};

struct sweeper;

/* Connects to Redis. Returns NULL with the reason in errbuf. The config's
 * strings and producer must outlive the sweeper. */
struct sweeper *sweeper_new(const struct sweeper_config *config, char *errbuf,
                            size_t errbuf_size);
void sweeper_free(struct sweeper *sweeper);

/* Does one step of the walk when one is due or under way; cheap
 * otherwise. Failures are logged and the walk starts again later. */
void sweeper_tick(struct sweeper *sweeper);

#endif
