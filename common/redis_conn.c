#include "redis_conn.h"

#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct redis_url {
    char host[256];
    int port;
    char user[128];
    char password[256];
    int database;
};

static int copy_part(char *out, size_t out_size, const char *start,
                     size_t length)
{
    if (length >= out_size)
        return -1;
    memcpy(out, start, length);
    out[length] = '\0';
    return 0;
}

static int parse_credentials(struct redis_url *url, const char *start,
                             size_t length)
{
    const char *colon = memchr(start, ':', length);

    if (colon == NULL)
        return copy_part(url->password, sizeof(url->password), start, length);
    if (copy_part(url->user, sizeof(url->user), start,
                  (size_t)(colon - start)) != 0)
        return -1;
    return copy_part(url->password, sizeof(url->password), colon + 1,
                     length - (size_t)(colon - start) - 1);
}

static int parse_number(const char *text, size_t length, long max, long *number)
{
    char digits[16];
    char *end;

    if (length == 0 || copy_part(digits, sizeof(digits), text, length) != 0)
        return -1;
    *number = strtol(digits, &end, 10);
    if (*end != '\0' || *number < 0 || *number > max)
        return -1;
    return 0;
}

static int parse_host_port(struct redis_url *url, const char *start,
                           size_t length)
{
    const char *colon = memchr(start, ':', length);
    long port = 6379;
    size_t host_length = length;

    if (colon != NULL) {
        host_length = (size_t)(colon - start);
        if (parse_number(colon + 1, length - host_length - 1, 65535, &port) !=
                0 ||
            port == 0)
            return -1;
    }
    if (host_length == 0)
        return copy_part(url->host, sizeof(url->host), "127.0.0.1", 9);
    url->port = (int)port;
    return copy_part(url->host, sizeof(url->host), start, host_length);
}

static int parse_url(const char *text, struct redis_url *url)
{
    const char *rest;
    const char *at;
    const char *slash;
    long database = 0;

    memset(url, 0, sizeof(*url));
    url->port = 6379;
    if (strncmp(text, "redis://", 8) != 0)
        return -1;
    rest = text + 8;

    slash = strchr(rest, '/');
    if (slash == NULL)
        slash = rest + strlen(rest);
    else if (slash[1] != '\0' && parse_number(slash + 1, strlen(slash + 1),
                                              1 << 20, &database) != 0)
        return -1;
    url->database = (int)database;

    at = memchr(rest, '@', (size_t)(slash - rest));
    if (at != NULL) {
        if (parse_credentials(url, rest, (size_t)(at - rest)) != 0)
            return -1;
        rest = at + 1;
    }
    return parse_host_port(url, rest, (size_t)(slash - rest));
}

static int run_setup_command(redisContext *context, char *errbuf,
                             size_t errbuf_size, const char *what,
                             const char *format, ...)
{
    redisReply *reply;
    va_list args;
    int failed;

    va_start(args, format);
    reply = redisvCommand(context, format, args);
    va_end(args);
    if (reply == NULL) {
        snprintf(errbuf, errbuf_size, "redis %s failed: %s", what,
                 context->errstr);
        return -1;
    }
    failed = reply->type == REDIS_REPLY_ERROR;
    if (failed)
        snprintf(errbuf, errbuf_size, "redis %s failed: %s", what, reply->str);
    freeReplyObject(reply);
    return failed ? -1 : 0;
}

redisContext *redis_connect_url(const char *text, int timeout_ms, char *errbuf,
                                size_t errbuf_size)
{
    struct redis_url url;
    struct timeval timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *context;

    if (text == NULL || parse_url(text, &url) != 0) {
        snprintf(errbuf, errbuf_size,
                 "invalid Redis URL: expected "
                 "redis://[[user]:password@]host[:port][/db]");
        return NULL;
    }

    context = redisConnectWithTimeout(url.host, url.port, timeout);
    if (context == NULL || context->err) {
        snprintf(errbuf, errbuf_size, "cannot connect to Redis at %s:%d: %s",
                 url.host, url.port, context ? context->errstr : "no memory");
        redisFree(context);
        return NULL;
    }
    redisSetTimeout(context, timeout);

    if (url.password[0] != '\0') {
        int failed =
            url.user[0] != '\0'
                ? run_setup_command(context, errbuf, errbuf_size, "AUTH",
                                    "AUTH %s %s", url.user, url.password)
                : run_setup_command(context, errbuf, errbuf_size, "AUTH",
                                    "AUTH %s", url.password);
        if (failed)
            goto fail;
    }
    if (url.database != 0 &&
        run_setup_command(context, errbuf, errbuf_size, "SELECT", "SELECT %d",
                          url.database) != 0)
        goto fail;
    return context;

fail:
    redisFree(context);
    return NULL;
}
