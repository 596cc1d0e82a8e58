#include "rate_limit.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Returns {1} when accepted, {0, oldest score} when refused. The key
 * expires one window after the newest member, so an idle subject leaves
 * nothing behind. Scores are whole milliseconds, which Lua's doubles keep
 * exact up to 2^53. */
static const char take_script[] =
    "local now = tonumber(ARGV[1])\n"
    "local limit = tonumber(ARGV[2])\n"
    "local window = tonumber(ARGV[3])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)\n"
    "if redis.call('ZCARD', KEYS[1]) < limit then\n"
    "  redis.call('ZADD', KEYS[1], now, ARGV[4])\n"
    "  redis.call('PEXPIRE', KEYS[1], window)\n"
    "  return {1}\n"
    "end\n"
    "local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "return {0, oldest[2]}\n";

static void describe_failure(redisContext *redis, const redisReply *reply,
                             const char *what, char *errbuf, size_t errbuf_size)
{
    snprintf(errbuf, errbuf_size, "redis %s failed: %s", what,
             reply == NULL                      ? redis->errstr
             : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                : "unexpected reply");
}

/* Reads the refusal's oldest score, a decimal string. */
static int parse_score(const redisReply *reply, int64_t *score)
{
    char *end;
    double value;

    if (reply->type != REDIS_REPLY_STRING)
        return -1;
    value = strtod(reply->str, &end);
    if (end == reply->str || *end != '\0')
        return -1;
    *score = (int64_t)value;
    return 0;
}

enum rate_limit_outcome rate_limit_take(redisContext *redis,
                                        const struct rate_limit *limit,
                                        const char *member, int64_t now_ms,
                                        int64_t *retry_at_ms, char *errbuf,
                                        size_t errbuf_size)
{
    redisReply *reply;
    enum rate_limit_outcome outcome = RATE_LIMIT_ERROR;
    int64_t oldest_ms;

    reply = redisCommand(redis,
                         "EVAL %s 1 %s %" PRId64 " %" PRId64 " %" PRId64 " %s",
                         take_script, limit->key, now_ms, limit->limit,
                         limit->window_ms, member);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_INTEGER) {
        describe_failure(redis, reply, "rate limit", errbuf, errbuf_size);
        goto out;
    }

    if (reply->element[0]->integer == 1) {
        outcome = RATE_LIMIT_ACCEPTED;
    } else if (reply->elements == 2 &&
               parse_score(reply->element[1], &oldest_ms) == 0) {
        *retry_at_ms = oldest_ms + limit->window_ms;
        outcome = RATE_LIMIT_REFUSED;
    } else {
        snprintf(errbuf, errbuf_size,
                 "redis rate limit failed: no oldest member in %s", limit->key);
    }

out:
    freeReplyObject(reply);
    return outcome;
}

int rate_limit_release(redisContext *redis, const struct rate_limit *limit,
                       const char *member, char *errbuf, size_t errbuf_size)
{
    redisReply *reply = redisCommand(redis, "ZREM %s %s", limit->key, member);
    int failed = reply == NULL || reply->type == REDIS_REPLY_ERROR;

    if (failed)
        describe_failure(redis, reply, "ZREM", errbuf, errbuf_size);
    freeReplyObject(reply);
    return failed ? -1 : 0;
}
