#include "sweeper.h"

#include "account_settings.h"
#include "clock.h"
#include "event.h"
#include "image_state.h"
#include "kafka.h"
#include "lifetime.h"
#include "location.h"
#include "log.h"
#include "state_walk.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_MS 30000
#define KEY_SIZE 1024

/* Takes the lease when free, renews it when the caller holds it. */
static const char hold_lease_script[] =
    "local holder = redis.call('GET', KEYS[1])\n"
    "if holder == false or holder == ARGV[1] then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

struct sweeper {
    struct sweeper_config config;
    struct image_state_store *state;
    struct state_walk walk;
    int walking;
    int64_t next_walk_ms; /* monotonic */
    int64_t now_ms;       /* the clock when the current page started */
    struct account_settings settings;
    char settings_account[160]; /* whose settings are loaded, "" none */
    int settings_valid;
    unsigned long removed;
};

/* The stored facts of one image, as text and parsed. */
struct image_facts {
    struct image_snapshot snapshot;
    struct image_location image;
    struct lifetime_facts lifetime;
    char manifest_digest[160];
};

struct sweeper *sweeper_new(const struct sweeper_config *config, char *errbuf,
                            size_t errbuf_size)
{
    struct sweeper *sweeper = calloc(1, sizeof(*sweeper));

    if (sweeper == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    sweeper->config = *config;
    sweeper->state =
        image_state_connect(config->redis_url, errbuf, errbuf_size);
    if (sweeper->state == NULL) {
        free(sweeper);
        return NULL;
    }
    return sweeper;
}

void sweeper_free(struct sweeper *sweeper)
{
    if (sweeper == NULL)
        return;
    state_walk_clear(&sweeper->walk);
    image_state_free(sweeper->state);
    free(sweeper);
}

/* Runs a command; returns its reply, or NULL after logging the failure. */
static redisReply *command(struct sweeper *sweeper, const char *format, ...)
{
    char errbuf[512];
    redisContext *redis =
        image_state_redis(sweeper->state, errbuf, sizeof(errbuf));
    redisReply *reply;
    va_list args;

    if (redis == NULL) {
        log_write(LOG_WARNING, "SWEEP", "%s", errbuf);
        return NULL;
    }
    va_start(args, format);
    reply = redisvCommand(redis, format, args);
    va_end(args);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        log_write(LOG_WARNING, "SWEEP", "redis failed: %s",
                  reply == NULL ? redis->errstr : reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

static int hold_lease(struct sweeper *sweeper)
{
    redisReply *reply =
        command(sweeper, "EVAL %s 1 %s %s %d", hold_lease_script,
                SWEEPER_LEASE_KEY, sweeper->config.owner, LEASE_MS);
    int lease_held;

    if (reply == NULL)
        return 0;
    lease_held = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return lease_held;
}

static void copy_field(char *out, size_t out_size, const redisReply *field)
{
    snprintf(out, out_size, "%s",
             field->type == REDIS_REPLY_STRING ? field->str : "");
}

static int64_t as_ms(const char *text)
{
    return text[0] != '\0' ? strtoll(text, NULL, 10) : 0;
}

static char *dup_field(const redisReply *field)
{
    return field->type == REDIS_REPLY_STRING && field->len > 0
               ? strdup(field->str)
               : NULL;
}

/* The newest time a running workload of the account ran digest. */
static int64_t digest_running_ms(struct sweeper *sweeper, const char *account,
                                 const char *digest)
{
    redisReply *reply;
    int64_t running = 0;

    if (digest == NULL || digest[0] == '\0')
        return 0;
    reply =
        command(sweeper, "ZSCORE imgassure:{%s}:running %s", account, digest);
    if (reply != NULL && reply->type == REDIS_REPLY_STRING)
        running = strtoll(reply->str, NULL, 10);
    freeReplyObject(reply);
    return running;
}

/* Reads an image's facts. Returns 1, 0 when the hash is gone, -1 on a
 * Redis failure. */
static int read_facts(struct sweeper *sweeper, const struct walk_target *at,
                      const char *member, struct image_facts *facts)
{
    redisReply *reply = command(
        sweeper,
        "HMGET imgassure:{%s}:image:%s:%s last_seen_ms last_running_ms "
        "deleted_at_ms result_at_ms environment_kind registry repository "
        "tag digest platform manifest_digest",
        at->account, at->environment, member);
    int64_t running;

    if (reply == NULL)
        return -1;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 11 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(reply);
        return 0;
    }
    copy_field(facts->snapshot.last_seen_ms,
               sizeof(facts->snapshot.last_seen_ms), reply->element[0]);
    copy_field(facts->snapshot.last_running_ms,
               sizeof(facts->snapshot.last_running_ms), reply->element[1]);
    copy_field(facts->snapshot.deleted_at_ms,
               sizeof(facts->snapshot.deleted_at_ms), reply->element[2]);
    copy_field(facts->snapshot.result_at_ms,
               sizeof(facts->snapshot.result_at_ms), reply->element[3]);
    if (reply->element[4]->type != REDIS_REPLY_STRING ||
        environment_kind_parse(reply->element[4]->str, &facts->lifetime.kind) !=
            0)
        facts->lifetime.kind = ENVIRONMENT_UNKNOWN;
    facts->image.environment_kind = facts->lifetime.kind;
    facts->image.account = strdup(at->account);
    facts->image.environment_id = strdup(at->environment);
    facts->image.registry = dup_field(reply->element[5]);
    facts->image.repository = dup_field(reply->element[6]);
    facts->image.tag = dup_field(reply->element[7]);
    facts->image.digest = dup_field(reply->element[8]);
    facts->image.platform = dup_field(reply->element[9]);
    copy_field(facts->manifest_digest, sizeof(facts->manifest_digest),
               reply->element[10]);
    freeReplyObject(reply);

    facts->lifetime.last_running_ms = as_ms(facts->snapshot.last_running_ms);
    facts->lifetime.deleted_at_ms = as_ms(facts->snapshot.deleted_at_ms);
    facts->lifetime.last_scan_ms = as_ms(facts->snapshot.result_at_ms);
    facts->lifetime.digest_running_ms =
        digest_running_ms(sweeper, at->account, facts->image.digest);
    running = digest_running_ms(sweeper, at->account, facts->manifest_digest);
    if (running > facts->lifetime.digest_running_ms)
        facts->lifetime.digest_running_ms = running;
    return 1;
}

static enum removal_reason removal_reason(enum environment_kind kind)
{
    switch (kind) {
    case ENVIRONMENT_CONTAINER_REGISTRY:
        return REMOVAL_DELETED_FROM_REGISTRY;
    case ENVIRONMENT_SHIFTLEFT:
        return REMOVAL_SHIFTLEFT_EXPIRED;
    default:
        return REMOVAL_INACTIVE;
    }
}

/* Publishes the image's ImageRemoved under key and waits for Kafka.
 * Returns 0, or -1 with the reason in errbuf. */
static int produce_removed(struct sweeper *sweeper,
                           const struct image_facts *facts, const char *key,
                           int64_t now_ms, char *errbuf, size_t errbuf_size)
{
    struct image_removed removed = {
        .image = facts->image,
        .reason = removal_reason(facts->lifetime.kind),
        .last_seen_at_ms = as_ms(facts->snapshot.last_seen_ms),
        .removed_at_ms = now_ms,
    };
    struct kafka_delivery delivery;
    struct kafka_delivery *deliveries[] = {&delivery};
    unsigned char *value = NULL;
    size_t value_size;
    rd_kafka_resp_err_t error;

    if (image_removed_encode(&removed, &value, &value_size, errbuf,
                             errbuf_size) != 0)
        return -1;
    error = kafka_produce(
        sweeper->config.producer, sweeper->config.removed_topic, key,
        strlen(key), value, value_size, NULL, &delivery, errbuf, errbuf_size);
    free(value);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    return kafka_wait_deliveries(sweeper->config.producer, deliveries, 1,
                                 sweeper->config.delivery_timeout_ms, errbuf,
                                 errbuf_size);
}

static int publish_removed(struct sweeper *sweeper,
                           const struct image_facts *facts, int64_t now_ms)
{
    char key[KEY_SIZE], errbuf[512];

    if (location_format_key(&facts->image, key, sizeof(key)) != 0) {
        log_write(LOG_WARNING, "SWEEP",
                  "image name too long for a key, not removed account=%s "
                  "env=%s",
                  facts->image.account, facts->image.environment_id);
        return -1;
    }
    if (produce_removed(sweeper, facts, key, now_ms, errbuf, sizeof(errbuf)) !=
        0) {
        log_write(LOG_WARNING, "SWEEP",
                  "removal not published, the image stays until the next "
                  "walk: %s key=%s",
                  errbuf, key);
        return -1;
    }
    return 0;
}

static void forget_member(struct sweeper *sweeper, const struct walk_target *at,
                          const char *member)
{
    redisReply *reply = command(sweeper, "ZREM imgassure:{%s}:seen:%s %s",
                                at->account, at->environment, member);

    freeReplyObject(reply);
}

static void remove_image(struct sweeper *sweeper, const struct walk_target *at,
                         const char *member, const struct image_facts *facts,
                         int64_t now_ms)
{
    char errbuf[512];
    int deleted;

    if (publish_removed(sweeper, facts, now_ms) != 0)
        return;
    deleted = image_state_delete_unchanged(
        sweeper->state, at->account, at->environment, member, &facts->snapshot,
        errbuf, sizeof(errbuf));
    if (deleted < 0)
        log_write(LOG_WARNING, "SWEEP", "%s", errbuf);
    else if (deleted == 0)
        log_write(LOG_INFO, "SWEEP",
                  "kept an image that changed while it was removed "
                  "account=%s env=%s image=%s",
                  at->account, at->environment, member);
    else {
        sweeper->removed++;
        log_write(LOG_INFO, "SWEEP",
                  "removed account=%s env=%s image=%s reason=%s", at->account,
                  at->environment, member,
                  removal_reason_name(removal_reason(facts->lifetime.kind)));
    }
}

/* Loads the account's settings once per account in the walk. Returns 0,
 * or -1 when they cannot be read: the account's images then stay. */
static int load_settings(struct sweeper *sweeper, const char *account)
{
    char errbuf[512];
    redisContext *redis;

    if (strcmp(sweeper->settings_account, account) == 0)
        return sweeper->settings_valid ? 0 : -1;
    snprintf(sweeper->settings_account, sizeof(sweeper->settings_account), "%s",
             account);
    sweeper->settings_valid = 0;
    redis = image_state_redis(sweeper->state, errbuf, sizeof(errbuf));
    if (redis == NULL ||
        account_settings_load(redis, account, &sweeper->settings, errbuf,
                              sizeof(errbuf)) != 0) {
        log_write(LOG_WARNING, "SWEEP", "%s; account %s skipped this walk",
                  errbuf, account);
        return -1;
    }
    sweeper->settings_valid = 1;
    return 0;
}

static void sweep_member(const struct walk_target *at, const char *member,
                         void *context)
{
    struct sweeper *sweeper = context;
    struct image_facts facts;
    int found;

    if (load_settings(sweeper, at->account) != 0)
        return;
    memset(&facts, 0, sizeof(facts));
    found = read_facts(sweeper, at, member, &facts);
    if (found == 0)
        forget_member(sweeper, at, member);
    else if (found > 0 &&
             sweeper->now_ms >=
                 lifetime_expires_at_ms(&facts.lifetime, &sweeper->settings))
        remove_image(sweeper, at, member, &facts, sweeper->now_ms);
    image_location_clear(&facts.image);
}

static void end_walk(struct sweeper *sweeper)
{
    if (sweeper->removed > 0)
        log_write(LOG_INFO, "SWEEP", "walk finished, %lu images removed",
                  sweeper->removed);
    state_walk_clear(&sweeper->walk);
    sweeper->walking = 0;
}

/* Takes the lease and lists the targets when a walk is due. */
static int start_walk(struct sweeper *sweeper)
{
    char errbuf[512];
    redisContext *redis;

    if (clock_monotonic_ms() < sweeper->next_walk_ms)
        return 0;
    sweeper->next_walk_ms = clock_monotonic_ms() + sweeper->config.interval_ms;
    if (!hold_lease(sweeper))
        return 0;
    redis = image_state_redis(sweeper->state, errbuf, sizeof(errbuf));
    if (redis == NULL ||
        state_walk_start(&sweeper->walk, redis, errbuf, sizeof(errbuf)) != 0) {
        log_write(LOG_WARNING, "SWEEP", "%s", errbuf);
        return 0;
    }
    sweeper->walking = 1;
    sweeper->removed = 0;
    sweeper->settings_account[0] = '\0';
    return 1;
}

void sweeper_tick(struct sweeper *sweeper)
{
    char errbuf[512];
    redisContext *redis;
    int more;

    if (!sweeper->walking && !start_walk(sweeper))
        return;
    /* A lost lease (this loop stalled in a long scan) ends the walk, so
     * that two workers rarely walk at once; both would be safe. */
    if (!hold_lease(sweeper)) {
        end_walk(sweeper);
        return;
    }
    redis = image_state_redis(sweeper->state, errbuf, sizeof(errbuf));
    sweeper->now_ms = clock_now_ms();
    more = redis == NULL ? -1
                         : state_walk_page(&sweeper->walk, redis, sweep_member,
                                           sweeper, errbuf, sizeof(errbuf));
    if (more < 0)
        log_write(LOG_WARNING, "SWEEP", "%s; the walk starts again later",
                  errbuf);
    if (more <= 0)
        end_walk(sweeper);
}
