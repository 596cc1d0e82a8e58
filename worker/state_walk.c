#include "state_walk.h"

#include "image_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_SIZE "100"

void state_walk_clear(struct state_walk *walk)
{
    for (size_t i = 0; i < walk->target_count; i++) {
        free(walk->targets[i].account);
        free(walk->targets[i].environment);
    }
    free(walk->targets);
    memset(walk, 0, sizeof(*walk));
}

static int add_target(struct state_walk *walk, const char *account,
                      const char *environment)
{
    struct walk_target *grown = realloc(
        walk->targets, (walk->target_count + 1) * sizeof(*walk->targets));
    struct walk_target *added;

    if (grown == NULL)
        return -1;
    walk->targets = grown;
    added = &grown[walk->target_count++];
    added->account = strdup(account);
    added->environment = strdup(environment);
    return added->account == NULL || added->environment == NULL ? -1 : 0;
}

/* Checks a reply; on failure writes the reason and frees the reply. */
static int failed(redisContext *redis, redisReply *reply, int expected_type,
                  const char *what, char *errbuf, size_t errbuf_size)
{
    if (reply != NULL && reply->type == expected_type)
        return 0;
    snprintf(errbuf, errbuf_size, "redis %s failed: %s", what,
             reply == NULL                      ? redis->errstr
             : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                : "unexpected reply");
    freeReplyObject(reply);
    return 1;
}

static int add_environments(struct state_walk *walk, redisContext *redis,
                            const char *account, char *errbuf,
                            size_t errbuf_size)
{
    redisReply *reply =
        redisCommand(redis, "HKEYS imgassure:{%s}:environments", account);
    int status = 0;

    if (failed(redis, reply, REDIS_REPLY_ARRAY, "HKEYS environments", errbuf,
               errbuf_size))
        return -1;
    for (size_t i = 0; i < reply->elements && status == 0; i++)
        status = add_target(walk, account, reply->element[i]->str);
    if (status != 0)
        snprintf(errbuf, errbuf_size, "out of memory listing environments");
    freeReplyObject(reply);
    return status;
}

int state_walk_start(struct state_walk *walk, redisContext *redis, char *errbuf,
                     size_t errbuf_size)
{
    redisReply *accounts;
    int status = 0;

    state_walk_clear(walk);
    snprintf(walk->cursor, sizeof(walk->cursor), "0");
    accounts = redisCommand(redis, "SMEMBERS %s", IMAGE_STATE_ACCOUNTS_KEY);
    if (failed(redis, accounts, REDIS_REPLY_ARRAY, "SMEMBERS accounts", errbuf,
               errbuf_size))
        return -1;
    for (size_t i = 0; i < accounts->elements && status == 0; i++)
        status = add_environments(walk, redis, accounts->element[i]->str,
                                  errbuf, errbuf_size);
    freeReplyObject(accounts);
    if (status != 0)
        state_walk_clear(walk);
    return status;
}

int state_walk_page(struct state_walk *walk, redisContext *redis,
                    state_walk_visit visit, void *context, char *errbuf,
                    size_t errbuf_size)
{
    const struct walk_target *target;
    redisReply *reply, *members;

    if (walk->next_target >= walk->target_count)
        return 0;
    target = &walk->targets[walk->next_target];
    reply = redisCommand(redis, "ZSCAN imgassure:{%s}:seen:%s %s COUNT %s",
                         target->account, target->environment, walk->cursor,
                         PAGE_SIZE);
    if (failed(redis, reply, REDIS_REPLY_ARRAY, "ZSCAN seen", errbuf,
               errbuf_size))
        return -1;
    if (reply->elements != 2 || reply->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(reply);
        snprintf(errbuf, errbuf_size, "redis ZSCAN seen: unexpected reply");
        return -1;
    }
    snprintf(walk->cursor, sizeof(walk->cursor), "%s", reply->element[0]->str);

    /* ZSCAN returns member, score, member, score, ... */
    members = reply->element[1];
    for (size_t i = 0; i + 1 < members->elements; i += 2)
        visit(target, members->element[i]->str, context);
    freeReplyObject(reply);

    if (strcmp(walk->cursor, "0") == 0)
        walk->next_target++;
    return walk->next_target < walk->target_count ? 1 : 0;
}
