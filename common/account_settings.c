#include "account_settings.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SETTING_S 60
#define MAX_SETTING_S (10LL * 365 * 24 * 3600)

const char *const account_setting_names[] = {
    "kubernetes_ttl_s",
    "shiftleft_ttl_s",
    "activity_window_s",
    NULL,
};

void account_settings_defaults(struct account_settings *settings)
{
    settings->kubernetes_ttl_s = ACCOUNT_KUBERNETES_TTL_DEFAULT_S;
    settings->shiftleft_ttl_s = ACCOUNT_SHIFTLEFT_TTL_DEFAULT_S;
    settings->activity_window_s = ACCOUNT_ACTIVITY_WINDOW_DEFAULT_S;
}

int64_t *account_setting_field(struct account_settings *settings,
                               const char *name)
{
    if (strcmp(name, "kubernetes_ttl_s") == 0)
        return &settings->kubernetes_ttl_s;
    if (strcmp(name, "shiftleft_ttl_s") == 0)
        return &settings->shiftleft_ttl_s;
    if (strcmp(name, "activity_window_s") == 0)
        return &settings->activity_window_s;
    return NULL;
}

int account_settings_key(const char *account, char *out, size_t out_size)
{
    int written = snprintf(out, out_size, "imgassure:{%s}:settings", account);

    return written < 0 || (size_t)written >= out_size ? -1 : 0;
}

int account_setting_parse(const char *name, const char *value, int64_t *seconds,
                          char *errbuf, size_t errbuf_size)
{
    struct account_settings unused;
    char *end;
    long long parsed;

    if (account_setting_field(&unused, name) == NULL) {
        snprintf(errbuf, errbuf_size,
                 "unknown setting \"%s\" (known: kubernetes_ttl_s, "
                 "shiftleft_ttl_s, activity_window_s)",
                 name);
        return -1;
    }

    errno = 0;
    parsed = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || parsed < MIN_SETTING_S ||
        parsed > MAX_SETTING_S) {
        snprintf(errbuf, errbuf_size,
                 "invalid %s \"%s\": expected whole seconds from %d to %lld",
                 name, value, MIN_SETTING_S, MAX_SETTING_S);
        return -1;
    }
    *seconds = parsed;
    return 0;
}

/* Applies one stored field; unknown fields are ignored so that a newer
 * version's settings do not break an older reader. */
static int apply_stored(struct account_settings *settings,
                        const redisReply *name, const redisReply *value,
                        const char *account, char *errbuf, size_t errbuf_size)
{
    int64_t *field;
    char reason[160];

    if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
        return 0;
    field = account_setting_field(settings, name->str);
    if (field == NULL)
        return 0;
    if (account_setting_parse(name->str, value->str, field, reason,
                              sizeof(reason)) != 0) {
        snprintf(errbuf, errbuf_size, "account %s: stored %s", account, reason);
        return -1;
    }
    return 0;
}

int account_settings_load(redisContext *redis, const char *account,
                          struct account_settings *settings, char *errbuf,
                          size_t errbuf_size)
{
    redisReply *reply;
    char key[512];
    int status = 0;

    account_settings_defaults(settings);
    if (account_settings_key(account, key, sizeof(key)) != 0) {
        snprintf(errbuf, errbuf_size, "account name too long");
        return -1;
    }

    reply = redisCommand(redis, "HGETALL %s", key);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        snprintf(errbuf, errbuf_size, "redis HGETALL %s failed: %s", key,
                 reply == NULL                      ? redis->errstr
                 : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                    : "unexpected reply");
        freeReplyObject(reply);
        return -1;
    }
    for (size_t i = 0; i + 1 < reply->elements && status == 0; i += 2)
        status =
            apply_stored(settings, reply->element[i], reply->element[i + 1],
                         account, errbuf, errbuf_size);
    freeReplyObject(reply);
    return status;
}

int account_settings_set(redisContext *redis, const char *account,
                         const char *name, const char *value, char *errbuf,
                         size_t errbuf_size)
{
    redisReply *reply;
    int64_t seconds;
    char key[512];
    char text[32];

    if (account_setting_parse(name, value, &seconds, errbuf, errbuf_size) != 0)
        return -1;
    if (account_settings_key(account, key, sizeof(key)) != 0) {
        snprintf(errbuf, errbuf_size, "account name too long");
        return -1;
    }
    snprintf(text, sizeof(text), "%" PRId64, seconds);

    reply = redisCommand(redis, "HSET %s %s %s", key, name, text);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        snprintf(errbuf, errbuf_size, "redis HSET %s failed: %s", key,
                 reply == NULL ? redis->errstr : reply->str);
        freeReplyObject(reply);
        return -1;
    }
    freeReplyObject(reply);
    return 0;
}
