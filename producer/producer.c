#include "imgassure.h"
#include "producer_private.h"

#include "clock.h"
#include "event.h"
#include "ids.h"
#include "image_ref.h"
#include "kafka.h"
#include "location.h"
#include "redis_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

imgassure_producer_t *imgassure_producer_new(const char *brokers,
                                             const char *topic_prefix,
                                             const char *const *properties,
                                             size_t property_count,
                                             char *errbuf, size_t errbuf_size)
{
    struct imgassure_producer *producer = calloc(1, sizeof(*producer));

    if (producer == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    if (topic_prefix == NULL)
        topic_prefix = KAFKA_DEFAULT_TOPIC_PREFIX;
    if (kafka_topic_name(topic_prefix, KAFKA_TOPIC_IMAGES_SEEN,
                         producer->seen_topic,
                         sizeof(producer->seen_topic)) != 0 ||
        kafka_topic_name(topic_prefix, KAFKA_TOPIC_SCAN_REQUESTS,
                         producer->requests_topic,
                         sizeof(producer->requests_topic)) != 0) {
        snprintf(errbuf, errbuf_size, "topic prefix too long");
        goto fail;
    }

    producer->kafka = kafka_producer_new(brokers, properties, property_count,
                                         &producer->stats, errbuf, errbuf_size);
    if (producer->kafka == NULL)
        goto fail;
    return producer;

fail:
    free(producer);
    return NULL;
}

static char *copy_optional(const char *text)
{
    return text != NULL && *text != '\0' ? strdup(text) : NULL;
}

int producer_parse_kind(const char *name, enum environment_kind *kind,
                        char *errbuf, size_t errbuf_size)
{
    if (name == NULL || environment_kind_parse(name, kind) != 0 ||
        *kind == ENVIRONMENT_UNKNOWN) {
        snprintf(errbuf, errbuf_size,
                 "invalid environment kind '%s': expected KUBERNETES, "
                 "CONTAINER_REGISTRY, ECS, FARGATE or SHIFTLEFT",
                 name ? name : "(none)");
        return -1;
    }
    return 0;
}

/* Returns 1 for "os/arch" or "os/arch/variant", each part 1 to 32 of
 * [a-z0-9._-], as OCI platforms are written. */
static int valid_platform(const char *platform)
{
    const char *part = platform;
    int parts = 0;

    while (*part != '\0') {
        size_t length = strspn(part, "abcdefghijklmnopqrstuvwxyz0123456789._-");

        if (length == 0 || length > 32 || ++parts > 3)
            return 0;
        part += length;
        if (*part == '/')
            part++;
        else if (*part != '\0')
            return 0;
    }
    return parts >= 2 && platform[strlen(platform) - 1] != '/';
}

int producer_validate_image(const struct imgassure_image *image,
                            struct image_ref *ref, char *errbuf,
                            size_t errbuf_size)
{
    char reason[256];

    if (!ids_valid_name(image->account)) {
        snprintf(errbuf, errbuf_size,
                 "invalid account '%s': use 1-128 characters from "
                 "A-Z a-z 0-9 . _ -",
                 image->account ? image->account : "(none)");
        return -1;
    }
    if (!ids_valid_name(image->environment_id)) {
        snprintf(errbuf, errbuf_size,
                 "invalid environment id '%s': use 1-128 characters from "
                 "A-Z a-z 0-9 . _ -",
                 image->environment_id ? image->environment_id : "(none)");
        return -1;
    }
    if (image->reference == NULL ||
        image_ref_parse(image->reference, ref, reason, sizeof(reason)) != 0) {
        snprintf(errbuf, errbuf_size, "invalid image reference '%s': %s",
                 image->reference ? image->reference : "(none)",
                 image->reference ? reason : "missing");
        return -1;
    }
    if (image->digest != NULL && *image->digest != '\0' &&
        image_ref_validate_digest(image->digest) != 0) {
        snprintf(errbuf, errbuf_size,
                 "invalid digest '%s': expected sha256:<64 hex digits>",
                 image->digest);
        return -1;
    }
    if (image->platform != NULL && *image->platform != '\0' &&
        !valid_platform(image->platform)) {
        snprintf(errbuf, errbuf_size,
                 "invalid platform '%s': expected os/arch or "
                 "os/arch/variant, e.g. linux/amd64",
                 image->platform);
        return -1;
    }
    return 0;
}

/* Fills an event's image location from the caller's description. The
 * digest given separately wins over one inside the reference. */
static int fill_location(struct image_location *location,
                         const struct imgassure_image *image, char *errbuf,
                         size_t errbuf_size)
{
    struct image_ref ref;
    const char *digest;

    memset(location, 0, sizeof(*location));
    if (producer_validate_image(image, &ref, errbuf, errbuf_size) != 0 ||
        producer_parse_kind(image->environment_kind,
                            &location->environment_kind, errbuf,
                            errbuf_size) != 0)
        return -1;

    digest = image->digest && *image->digest ? image->digest : ref.digest;
    location->account = strdup(image->account);
    location->environment_id = strdup(image->environment_id);
    location->registry = strdup(ref.registry);
    location->repository = strdup(ref.repository);
    location->tag = copy_optional(ref.tag);
    location->digest = copy_optional(digest);
    location->platform = copy_optional(image->platform);
    if (location->account == NULL || location->environment_id == NULL ||
        location->registry == NULL || location->repository == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        image_location_clear(location);
        return -1;
    }
    return 0;
}

int producer_publish(imgassure_producer_t *producer, const char *topic,
                     const struct image_location *location,
                     const unsigned char *value, size_t value_size,
                     struct kafka_delivery *delivery, char *errbuf,
                     size_t errbuf_size)
{
    char key[1024];

    if (location_format_key(location, key, sizeof(key)) != 0) {
        snprintf(errbuf, errbuf_size, "image name too long for a message key");
        return -1;
    }
    if (kafka_produce(producer->kafka, topic, key, strlen(key), value,
                      value_size, NULL, delivery, errbuf, errbuf_size) != 0)
        return -1;
    return 0;
}

int imgassure_publish_seen(imgassure_producer_t *producer,
                           const struct imgassure_image *image,
                           const char *activity, const char *workload,
                           int64_t seen_at_ms, char *errbuf, size_t errbuf_size)
{
    struct image_seen event;
    char event_id[UUID_TEXT_SIZE];
    unsigned char *value = NULL;
    size_t value_size;
    int result = -1;

    memset(&event, 0, sizeof(event));
    if (activity == NULL)
        activity = "RUNNING";
    if (image_activity_parse(activity, &event.activity) != 0) {
        snprintf(errbuf, errbuf_size,
                 "invalid activity '%s': expected RUNNING, PRESENT or DELETED",
                 activity);
        return -1;
    }
    if (fill_location(&event.image, image, errbuf, errbuf_size) != 0)
        return -1;
    if (uuid_generate_text(event_id) != 0) {
        snprintf(errbuf, errbuf_size, "cannot generate an event id");
        goto out;
    }
    event.event_id = strdup(event_id);
    event.workload = copy_optional(workload);
    event.seen_at_ms = seen_at_ms > 0 ? seen_at_ms : clock_now_ms();

    if (image_seen_encode(&event, &value, &value_size, errbuf, errbuf_size) !=
        0)
        goto out;
    result = producer_publish(producer, producer->seen_topic, &event.image,
                              value, value_size, NULL, errbuf, errbuf_size);

out:
    free(value);
    image_seen_clear(&event);
    return result;
}

int imgassure_producer_connect_redis(imgassure_producer_t *producer,
                                     const char *redis_url, char *errbuf,
                                     size_t errbuf_size)
{
    redisContext *redis = redis_connect_url(
        redis_url, PRODUCER_REDIS_TIMEOUT_MS, errbuf, errbuf_size);

    if (redis == NULL)
        return -1;
    redisFree(producer->redis);
    producer->redis = redis;
    return 0;
}

int imgassure_producer_flush(imgassure_producer_t *producer, int timeout_ms,
                             char *errbuf, size_t errbuf_size)
{
    rd_kafka_flush(producer->kafka, timeout_ms);

    if (rd_kafka_outq_len(producer->kafka) > 0) {
        snprintf(errbuf, errbuf_size,
                 "%d messages not delivered within %d ms: are the brokers "
                 "reachable?",
                 rd_kafka_outq_len(producer->kafka), timeout_ms);
        return -1;
    }
    if (producer->stats.failed > 0) {
        snprintf(errbuf, errbuf_size, "%lu messages failed delivery: %s",
                 producer->stats.failed,
                 rd_kafka_err2str(producer->stats.first_error));
        return -1;
    }
    return 0;
}

void imgassure_producer_free(imgassure_producer_t *producer)
{
    if (producer == NULL)
        return;
    rd_kafka_destroy(producer->kafka);
    redisFree(producer->redis);
    free(producer);
}
