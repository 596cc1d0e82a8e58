/* Declarations the producer library's files share, not part of
 * imgassure.h. */
#ifndef IMGASSURE_PRODUCER_PRIVATE_H
#define IMGASSURE_PRODUCER_PRIVATE_H

#include "imgassure.h"

#include "event.h"
#include "image_ref.h"
#include "kafka.h"

#include <hiredis/hiredis.h>

/* Each Redis command of an on-demand request waits at most this long. */
#define PRODUCER_REDIS_TIMEOUT_MS 5000

struct imgassure_producer {
    rd_kafka_t *kafka;
    struct kafka_producer_stats stats;
    char seen_topic[256];
    char requests_topic[256];
    redisContext *redis; /* NULL until imgassure_producer_connect_redis */
};

/* Parses an environment kind name; UNKNOWN and NULL are invalid. Returns
 * 0, or -1 with the reason in errbuf. */
int producer_parse_kind(const char *name, enum environment_kind *kind,
                        char *errbuf, size_t errbuf_size);

/* Validates account, environment id, reference, digest and platform and
 * parses the reference into ref. Returns 0, or -1 with the reason in
 * errbuf. */
int producer_validate_image(const struct imgassure_image *image,
                            struct image_ref *ref, char *errbuf,
                            size_t errbuf_size);

/* Queues one encoded event keyed by its location. delivery (may be NULL)
 * is filled when the broker acknowledges it. Returns 0, or -1 with the
 * reason in errbuf. */
int producer_publish(imgassure_producer_t *producer, const char *topic,
                     const struct image_location *location,
                     const unsigned char *value, size_t value_size,
                     struct kafka_delivery *delivery, char *errbuf,
                     size_t errbuf_size);

#endif
