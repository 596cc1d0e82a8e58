#include "retry_queue.h"

#include "redis_conn.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_TIMEOUT_MS 5000

struct retry_queue {
    char *url;
    redisContext *redis;
};

/* Takes the lease when free, renews it when the caller holds it. One
 * script, so two workers never both believe they hold it. */
static const char hold_lease_script[] =
    "local holder = redis.call('GET', KEYS[1])\n"
    "if holder == false or holder == ARGV[1] then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

struct retry_queue *retry_queue_connect(const char *redis_url, char *errbuf,
                                        size_t errbuf_size)
{
    struct retry_queue *queue = calloc(1, sizeof(*queue));

    if (queue == NULL || (queue->url = strdup(redis_url)) == NULL) {
        free(queue);
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    queue->redis =
        redis_connect_url(redis_url, REDIS_TIMEOUT_MS, errbuf, errbuf_size);
    if (queue->redis == NULL) {
        retry_queue_free(queue);
        return NULL;
    }
    return queue;
}

void retry_queue_free(struct retry_queue *queue)
{
    if (queue == NULL)
        return;
    redisFree(queue->redis);
    free(queue->url);
    free(queue);
}

/* Returns a live connection, reconnecting after an earlier failure. */
static redisContext *connection(struct retry_queue *queue, char *errbuf,
                                size_t errbuf_size)
{
    if (queue->redis != NULL && queue->redis->err == 0)
        return queue->redis;
    redisFree(queue->redis);
    queue->redis =
        redis_connect_url(queue->url, REDIS_TIMEOUT_MS, errbuf, errbuf_size);
    return queue->redis;
}

/* Runs a command; returns its reply, or NULL with the reason in errbuf. */
static redisReply *run(struct retry_queue *queue, char *errbuf,
                       size_t errbuf_size, const char *what, const char *format,
                       ...)
{
    redisContext *redis = connection(queue, errbuf, errbuf_size);
    redisReply *reply;
    va_list args;

    if (redis == NULL)
        return NULL;
    va_start(args, format);
    reply = redisvCommand(redis, format, args);
    va_end(args);
    if (reply == NULL) {
        snprintf(errbuf, errbuf_size, "redis %s failed: %s", what,
                 redis->errstr);
        return NULL;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(errbuf, errbuf_size, "redis %s failed: %s", what, reply->str);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

int retry_queue_add(struct retry_queue *queue, const unsigned char *request,
                    size_t request_size, int64_t due_ms, char *errbuf,
                    size_t errbuf_size)
{
    char score[32];
    redisReply *reply;

    snprintf(score, sizeof(score), "%" PRId64, due_ms);
    reply = run(queue, errbuf, errbuf_size, "schedule retry", "ZADD %s %s %b",
                RETRY_QUEUE_KEY, score, request, request_size);
    if (reply == NULL)
        return -1;
    freeReplyObject(reply);
    return 0;
}

int retry_queue_hold_lease(struct retry_queue *queue, const char *owner,
                           int64_t lease_ms, char *errbuf, size_t errbuf_size)
{
    char lease[32];
    redisReply *reply;
    int held;

    snprintf(lease, sizeof(lease), "%" PRId64, lease_ms);
    reply =
        run(queue, errbuf, errbuf_size, "scheduler lease", "EVAL %s 1 %s %s %s",
            hold_lease_script, RETRY_QUEUE_LEASE_KEY, owner, lease);
    if (reply == NULL)
        return -1;
    held = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return held;
}

int retry_queue_due(struct retry_queue *queue, int64_t now_ms,
                    unsigned char **requests, size_t *sizes, int max_count,
                    char *errbuf, size_t errbuf_size)
{
    char now[32], limit[16];
    redisReply *reply;
    int count = 0;

    snprintf(now, sizeof(now), "%" PRId64, now_ms);
    snprintf(limit, sizeof(limit), "%d", max_count);
    reply =
        run(queue, errbuf, errbuf_size, "read due retries",
            "ZRANGEBYSCORE %s -inf %s LIMIT 0 %s", RETRY_QUEUE_KEY, now, limit);
    if (reply == NULL)
        return -1;

    for (size_t i = 0; i < reply->elements && count < max_count; i++) {
        const redisReply *member = reply->element[i];
        unsigned char *copy;

        if (member->type != REDIS_REPLY_STRING)
            continue;
        copy = malloc(member->len > 0 ? member->len : 1);
        if (copy == NULL)
            break;
        memcpy(copy, member->str, member->len);
        requests[count] = copy;
        sizes[count] = member->len;
        count++;
    }
    freeReplyObject(reply);
    return count;
}

int retry_queue_remove(struct retry_queue *queue, const unsigned char *request,
                       size_t request_size, char *errbuf, size_t errbuf_size)
{
    redisReply *reply =
        run(queue, errbuf, errbuf_size, "remove retry", "ZREM %s %b",
            RETRY_QUEUE_KEY, request, request_size);

    if (reply == NULL)
        return -1;
    freeReplyObject(reply);
    return 0;
}
