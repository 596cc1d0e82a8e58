#include "image_state.h"

#include "redis_conn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_TIMEOUT_MS 5000

struct image_state_store {
    char *url;
    redisContext *redis;
};

/* Moves last_seen_ms forward only, stores the names from the newest event
 * and returns the current status (nil when there is none). One script so
 * that concurrent workers never move the time backwards. */
static const char record_seen_script[] =
    "local previous = tonumber(redis.call('HGET', KEYS[1], 'last_seen_ms')"
    " or '0')\n"
    "if tonumber(ARGV[1]) > previous then\n"
    "  redis.call('HSET', KEYS[1], 'last_seen_ms', ARGV[1],"
    " 'environment_kind', ARGV[2], 'registry', ARGV[3],"
    " 'repository', ARGV[4], 'tag', ARGV[5], 'activity', ARGV[6])\n"
    "end\n"
    "return redis.call('HGET', KEYS[1], 'status')\n";

/* A PENDING_SCAN result never replaces a status that a scan wrote: the
 * scan may finish on another worker before the pending result is stored.
 * Nor does a result that finished before the stored one: a redelivered
 * request's duplicate must not regress the state to an older scan. */
static const char record_result_script[] =
    "if ARGV[1] == 'PENDING_SCAN' and"
    " redis.call('HEXISTS', KEYS[1], 'status') == 1 then\n"
    "  return 0\n"
    "end\n"
    "if tonumber(redis.call('HGET', KEYS[1], 'result_at_ms') or '0') >"
    " tonumber(ARGV[5]) then\n"
    "  return 0\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'status', ARGV[1], 'status_detail', ARGV[2],"
    " 'request_id', ARGV[3], 'manifest_digest', ARGV[4],"
    " 'result_at_ms', ARGV[5])\n"
    "return 1\n";

struct image_state_store *image_state_connect(const char *redis_url,
                                              char *errbuf, size_t errbuf_size)
{
    struct image_state_store *store = calloc(1, sizeof(*store));

    if (store == NULL || (store->url = strdup(redis_url)) == NULL) {
        free(store);
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    store->redis =
        redis_connect_url(redis_url, REDIS_TIMEOUT_MS, errbuf, errbuf_size);
    if (store->redis == NULL) {
        image_state_free(store);
        return NULL;
    }
    return store;
}

void image_state_free(struct image_state_store *store)
{
    if (store == NULL)
        return;
    redisFree(store->redis);
    free(store->url);
    free(store);
}

int image_state_key(const struct image_location *image, char *out,
                    size_t out_size)
{
    int written;

    if (image->digest != NULL)
        written =
            snprintf(out, out_size, "imgassure:{%s}:image:%s:%s",
                     image->account, image->environment_id, image->digest);
    else
        written =
            snprintf(out, out_size, "imgassure:{%s}:image:%s:%s/%s:%s",
                     image->account, image->environment_id, image->registry,
                     image->repository, image->tag ? image->tag : "latest");
    return written < 0 || (size_t)written >= out_size ? -1 : 0;
}

/* Returns a live connection, reconnecting after an earlier failure. */
static redisContext *connection(struct image_state_store *store, char *errbuf,
                                size_t errbuf_size)
{
    if (store->redis != NULL && store->redis->err == 0)
        return store->redis;
    redisFree(store->redis);
    store->redis =
        redis_connect_url(store->url, REDIS_TIMEOUT_MS, errbuf, errbuf_size);
    return store->redis;
}

/* Checks a reply; on failure writes the reason and frees the reply. */
static int reply_failed(redisContext *redis, redisReply *reply,
                        const char *what, char *errbuf, size_t errbuf_size)
{
    if (reply == NULL) {
        snprintf(errbuf, errbuf_size, "redis %s failed: %s", what,
                 redis->errstr);
        return 1;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(errbuf, errbuf_size, "redis %s failed: %s", what, reply->str);
        freeReplyObject(reply);
        return 1;
    }
    return 0;
}

int image_state_record_seen(struct image_state_store *store,
                            const struct image_seen *event, int *needs_scan,
                            char *errbuf, size_t errbuf_size)
{
    const struct image_location *image = &event->image;
    redisContext *redis = connection(store, errbuf, errbuf_size);
    redisReply *reply;
    char key[1024];
    char seen_at[32];

    if (redis == NULL)
        return -1;
    if (image_state_key(image, key, sizeof(key)) != 0) {
        snprintf(errbuf, errbuf_size, "image state key too long");
        return -1;
    }
    snprintf(seen_at, sizeof(seen_at), "%" PRId64, event->seen_at_ms);

    reply = redisCommand(
        redis, "EVAL %s 1 %s %s %s %s %s %s %s", record_seen_script, key,
        seen_at, environment_kind_name(image->environment_kind),
        image->registry, image->repository, image->tag ? image->tag : "",
        image_activity_name(event->activity));
    if (reply_failed(redis, reply, "record seen", errbuf, errbuf_size))
        return -1;
    *needs_scan = reply->type == REDIS_REPLY_NIL;
    freeReplyObject(reply);
    return 0;
}

int image_state_record_result(struct image_state_store *store,
                              const struct scan_result *result, char *errbuf,
                              size_t errbuf_size)
{
    redisContext *redis = connection(store, errbuf, errbuf_size);
    redisReply *reply;
    char key[1024];
    char finished_at[32];

    if (redis == NULL)
        return -1;
    if (image_state_key(&result->image, key, sizeof(key)) != 0) {
        snprintf(errbuf, errbuf_size, "image state key too long");
        return -1;
    }
    snprintf(finished_at, sizeof(finished_at), "%" PRId64,
             result->finished_at_ms);

    reply = redisCommand(
        redis, "EVAL %s 1 %s %s %s %s %s %s", record_result_script, key,
        scan_status_name(result->status),
        result->status_detail ? result->status_detail : "",
        result->request_id ? result->request_id : "",
        result->manifest_digest ? result->manifest_digest : "", finished_at);
    if (reply_failed(redis, reply, "record result", errbuf, errbuf_size))
        return -1;
    freeReplyObject(reply);
    return 0;
}
