#include "image_state.h"

#include "redis_conn.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_TIMEOUT_MS 5000
#define KEY_SIZE 1024
#define MAX_SCRIPT_ARGS 24

struct image_state_store {
    char *url;
    redisContext *redis;
    char seen_sha[41]; /* record_seen's SHA1 once loaded, else "" */
};

/*
 * KEYS: image hash, seen zset, environments hash, accounts set, running
 * zset. ARGV: seen_at, kind, registry, repository, tag, activity, digest,
 * platform, environment, account, member, now, rescan interval, event id,
 * request id. Returns {decision, request id}.
 *
 * The running time and set take the newest sighting whatever the order
 * of arrival, but the rest of the hash moves only with a newer event. The
 * script stores its scan decision in the hash (claim_event). A redelivered
 * event then gets the same decision again, unless its request was already
 * delivered (claim_delivered), and any other event reads the status that
 * the claim wrote.
 */
static const char record_seen_script[] =
    "local key = KEYS[1]\n"
    "local seen_at = tonumber(ARGV[1])\n"
    "local now = tonumber(ARGV[12])\n"
    "redis.call('SADD', KEYS[4], ARGV[10])\n"
    "redis.call('HSET', KEYS[3], ARGV[9], ARGV[2])\n"
    "if ARGV[6] == 'RUNNING' and (ARGV[2] == 'KUBERNETES' or"
    " ARGV[2] == 'ECS' or ARGV[2] == 'FARGATE') then\n"
    "  local running = tonumber(redis.call('HGET', key, 'last_running_ms')"
    " or '0')\n"
    "  if seen_at > running then\n"
    "    redis.call('HSET', key, 'last_running_ms', ARGV[1])\n"
    "  end\n"
    "  local digests = {ARGV[7],"
    " redis.call('HGET', key, 'manifest_digest') or ''}\n"
    "  for _, digest in ipairs(digests) do\n"
    "    if digest ~= '' and seen_at > tonumber(redis.call('ZSCORE',"
    " KEYS[5], digest) or '0') then\n"
    "      redis.call('ZADD', KEYS[5], ARGV[1], digest)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local previous = tonumber(redis.call('HGET', key, 'last_seen_ms')"
    " or '0')\n"
    "if seen_at > previous then\n"
    "  redis.call('HSET', key, 'last_seen_ms', ARGV[1],"
    " 'environment_kind', ARGV[2], 'registry', ARGV[3],"
    " 'repository', ARGV[4], 'tag', ARGV[5], 'activity', ARGV[6],"
    " 'digest', ARGV[7], 'platform', ARGV[8])\n"
    "  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[11])\n"
    "  if ARGV[6] ~= 'DELETED' then\n"
    "    redis.call('HDEL', key, 'deleted_at_ms')\n"
    "  elseif redis.call('HEXISTS', key, 'deleted_at_ms') == 0 then\n"
    "    redis.call('HSET', key, 'deleted_at_ms', ARGV[1])\n"
    "  end\n"
    "end\n"
    "if redis.call('HGET', key, 'claim_event') == ARGV[14] then\n"
    "  if redis.call('HGET', key, 'claim_delivered') then\n"
    "    return {'NONE', ''}\n"
    "  end\n"
    "  return {redis.call('HGET', key, 'claim_decision'),"
    " redis.call('HGET', key, 'claim_request_id')}\n"
    "end\n"
    "if ARGV[6] == 'DELETED' then return {'NONE', ''} end\n"
    /* imgassure scan publishes a ShiftLeft image's result itself. */
    "if ARGV[2] == 'SHIFTLEFT' then return {'NONE', ''} end\n"
    "local status = redis.call('HGET', key, 'status')\n"
    "local decision = 'NEW_IMAGE'\n"
    "if status then\n"
    "  local interval = tonumber(ARGV[13])\n"
    "  local scanned = tonumber(redis.call('HGET', key, 'result_at_ms')"
    " or '0')\n"
    "  local requested = tonumber(redis.call('HGET', key,"
    " 'scan_requested_at_ms') or '0')\n"
    "  if interval <= 0 or status == 'PENDING_SCAN' or"
    " now - scanned < interval or now - requested < interval then\n"
    "    return {'NONE', ''}\n"
    "  end\n"
    "  decision = 'RESCAN'\n"
    "else\n"
    "  redis.call('HSET', key, 'status', 'PENDING_SCAN', 'request_id',"
    " ARGV[15], 'status_detail', 'first seen: scan requested, no action"
    " needed', 'result_at_ms', ARGV[12])\n"
    "end\n"
    "redis.call('HSET', key, 'scan_requested_at_ms', ARGV[12],"
    " 'claim_event', ARGV[14], 'claim_decision', decision,"
    " 'claim_request_id', ARGV[15])\n"
    "redis.call('HDEL', key, 'claim_delivered')\n"
    "return {decision, ARGV[15]}\n";

/* KEYS: image hash. ARGV: event id. Marks the event's claim delivered,
 * unless a later claim replaced it. */
static const char claim_delivered_script[] =
    "if redis.call('HGET', KEYS[1], 'claim_event') == ARGV[1] then\n"
    "  redis.call('HSET', KEYS[1], 'claim_delivered', '1')\n"
    "end\n"
    "return 1\n";

/*
 * KEYS: image hash, running zset, then a (scan string, waiting zset) pair
 * per digest to share under. ARGV: status, detail, request id, manifest
 * digest, finished at, level, risk, encoded result, scanned_from.
 * Returns the waiting requests released by sharing.
 *
 * A PENDING_SCAN result never replaces a status that a scan wrote: the
 * scan may finish on another worker before the pending result is stored.
 * Nor does a result that finished before the stored one, so that a
 * redelivered request's duplicate never regresses the state.
 */
static const char record_result_script[] =
    "local key = KEYS[1]\n"
    "local status = redis.call('HGET', key, 'status')\n"
    "if ARGV[1] == 'PENDING_SCAN' and status and status ~= 'PENDING_SCAN'"
    " then\n"
    "  return {}\n"
    "end\n"
    "if status and status ~= 'PENDING_SCAN' and"
    " tonumber(redis.call('HGET', key, 'result_at_ms') or '0') >"
    " tonumber(ARGV[5]) then\n"
    "  return {}\n"
    "end\n"
    "redis.call('HSET', key, 'status', ARGV[1], 'status_detail', ARGV[2],"
    " 'request_id', ARGV[3], 'manifest_digest', ARGV[4],"
    " 'result_at_ms', ARGV[5])\n"
    "if ARGV[1] ~= 'SCANNED' then return {} end\n"
    "redis.call('HSET', key, 'vulnerability_level', ARGV[6],"
    " 'risk_score', ARGV[7], 'last_scanned_at_ms', ARGV[5],"
    " 'last_scanned', ARGV[8], 'scanned_from', ARGV[9])\n"
    "local running = redis.call('HGET', key, 'last_running_ms')\n"
    "if running and ARGV[4] ~= '' and tonumber(running) >"
    " tonumber(redis.call('ZSCORE', KEYS[2], ARGV[4]) or '0') then\n"
    "  redis.call('ZADD', KEYS[2], running, ARGV[4])\n"
    "end\n"
    "local waiting = {}\n"
    "for i = 3, #KEYS, 2 do\n"
    "  redis.call('SET', KEYS[i], ARGV[8])\n"
    "  for _, request in ipairs(redis.call('ZRANGE', KEYS[i + 1], 0, -1))"
    " do\n"
    "    table.insert(waiting, request)\n"
    "  end\n"
    "end\n"
    "return waiting\n";

/* KEYS: scan string, waiting zset. ARGV: encoded request, now. One script
 * so that no scan can be shared between the look-up and the wait. */
static const char find_shared_script[] =
    "local shared = redis.call('GET', KEYS[1])\n"
    "if shared then\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  return shared\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])\n"
    "return false\n";

/* KEYS: image hash, seen zset. ARGV: last seen, last running, deleted at,
 * result at (as read; "" when absent), member. */
static const char delete_unchanged_script[] =
    "local facts = redis.call('HMGET', KEYS[1], 'last_seen_ms',"
    " 'last_running_ms', 'deleted_at_ms', 'result_at_ms')\n"
    "for i = 1, 4 do\n"
    "  if (facts[i] or '') ~= ARGV[i] then return 0 end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[5])\n"
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

int image_state_is_unpulled(enum environment_kind kind)
{
    return kind == ENVIRONMENT_ECS || kind == ENVIRONMENT_FARGATE;
}

static int fits(int written, size_t out_size)
{
    return written < 0 || (size_t)written >= out_size ? -1 : 0;
}

int image_state_member(const struct image_location *image, char *out,
                       size_t out_size)
{
    if (image->digest != NULL)
        return fits(snprintf(out, out_size, "%s", image->digest), out_size);
    return fits(snprintf(out, out_size, "%s/%s:%s", image->registry,
                         image->repository, image->tag ? image->tag : "latest"),
                out_size);
}

int image_state_key(const struct image_location *image, char *out,
                    size_t out_size)
{
    char member[KEY_SIZE];

    if (image_state_member(image, member, sizeof(member)) != 0)
        return -1;
    return fits(snprintf(out, out_size, "imgassure:{%s}:image:%s:%s",
                         image->account, image->environment_id, member),
                out_size);
}

redisContext *image_state_redis(struct image_state_store *store, char *errbuf,
                                size_t errbuf_size)
{
    if (store->redis != NULL && store->redis->err == 0)
        return store->redis;
    redisFree(store->redis);
    store->redis =
        redis_connect_url(store->url, REDIS_TIMEOUT_MS, errbuf, errbuf_size);
    return store->redis;
}

/* Arguments of one EVAL, each with its length so binary values pass. */
struct script_call {
    const char *argv[MAX_SCRIPT_ARGS];
    size_t lengths[MAX_SCRIPT_ARGS];
    int argc;
    char numkeys[16];
};

static void call_begin(struct script_call *call, const char *script)
{
    call->argc = 0;
    call->argv[call->argc] = "EVAL";
    call->lengths[call->argc++] = 4;
    call->argv[call->argc] = script;
    call->lengths[call->argc++] = strlen(script);
    call->argv[call->argc] = call->numkeys;
    call->lengths[call->argc++] = 0;
}

static void call_add(struct script_call *call, const void *value, size_t size)
{
    call->argv[call->argc] = value;
    call->lengths[call->argc++] = size;
}

static void call_text(struct script_call *call, const char *text)
{
    call_add(call, text != NULL ? text : "", text != NULL ? strlen(text) : 0);
}

/* Runs the call with its first numkeys arguments as keys. Returns the
 * reply, or NULL with the reason in errbuf. */
static redisReply *call_run(struct image_state_store *store,
                            struct script_call *call, int numkeys,
                            const char *what, char *errbuf, size_t errbuf_size)
{
    redisContext *redis = image_state_redis(store, errbuf, errbuf_size);
    redisReply *reply;

    if (redis == NULL)
        return NULL;
    snprintf(call->numkeys, sizeof(call->numkeys), "%d", numkeys);
    call->lengths[2] = strlen(call->numkeys);
    reply = redisCommandArgv(redis, call->argc, call->argv, call->lengths);
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

static int account_key(char *out, size_t out_size, const char *account,
                       const char *kind, const char *name)
{
    if (name == NULL)
        return fits(snprintf(out, out_size, "imgassure:{%s}:%s", account, kind),
                    out_size);
    return fits(
        snprintf(out, out_size, "imgassure:{%s}:%s:%s", account, kind, name),
        out_size);
}

static enum seen_decision parse_decision(const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_STRING)
        return SEEN_NO_SCAN;
    if (strcmp(reply->str, "NEW_IMAGE") == 0)
        return SEEN_NEW_IMAGE;
    if (strcmp(reply->str, "RESCAN") == 0)
        return SEEN_RESCAN;
    return SEEN_NO_SCAN;
}

/* The arguments of one record_seen call, with room for the texts they
 * point to. */
struct seen_call {
    struct script_call call;
    char key[KEY_SIZE], seen[KEY_SIZE], environments[KEY_SIZE],
        running[KEY_SIZE], member[KEY_SIZE];
    char seen_at[24], now[24], interval[24];
};

static int seen_call_build(struct seen_call *seen_call,
                           const struct image_seen *event, int64_t now_ms,
                           int64_t rescan_interval_ms, const char *request_id)
{
    const struct image_location *image = &event->image;
    struct script_call *call = &seen_call->call;

    if (image_state_key(image, seen_call->key, KEY_SIZE) != 0 ||
        image_state_member(image, seen_call->member, KEY_SIZE) != 0 ||
        account_key(seen_call->seen, KEY_SIZE, image->account, "seen",
                    image->environment_id) != 0 ||
        account_key(seen_call->environments, KEY_SIZE, image->account,
                    "environments", NULL) != 0 ||
        account_key(seen_call->running, KEY_SIZE, image->account, "running",
                    NULL) != 0)
        return -1;
    snprintf(seen_call->seen_at, 24, "%" PRId64, event->seen_at_ms);
    snprintf(seen_call->now, 24, "%" PRId64, now_ms);
    snprintf(seen_call->interval, 24, "%" PRId64, rescan_interval_ms);

    call_begin(call, record_seen_script);
    call_text(call, seen_call->key);
    call_text(call, seen_call->seen);
    call_text(call, seen_call->environments);
    call_text(call, IMAGE_STATE_ACCOUNTS_KEY);
    call_text(call, seen_call->running);
    call_text(call, seen_call->seen_at);
    call_text(call, environment_kind_name(image->environment_kind));
    call_text(call, image->registry);
    call_text(call, image->repository);
    call_text(call, image->tag);
    call_text(call, image_activity_name(event->activity));
    call_text(call, image->digest);
    call_text(call, image->platform);
    call_text(call, image->environment_id);
    call_text(call, image->account);
    call_text(call, seen_call->member);
    call_text(call, seen_call->now);
    call_text(call, seen_call->interval);
    call_text(call, event->event_id);
    call_text(call, request_id);
    snprintf(call->numkeys, sizeof(call->numkeys), "%d", 5);
    call->lengths[2] = strlen(call->numkeys);
    return 0;
}

static void read_outcome(const redisReply *reply, struct seen_outcome *outcome)
{
    memset(outcome, 0, sizeof(*outcome));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
        return;
    outcome->decision = parse_decision(reply->element[0]);
    if (reply->element[1]->type == REDIS_REPLY_STRING)
        snprintf(outcome->request_id, sizeof(outcome->request_id), "%s",
                 reply->element[1]->str);
}

/* Loads the record_seen script into Redis's script cache, for EVALSHA. */
static int load_seen_script(struct image_state_store *store,
                            redisContext *redis, char *errbuf,
                            size_t errbuf_size)
{
    redisReply *reply =
        redisCommand(redis, "SCRIPT LOAD %s", record_seen_script);

    if (reply == NULL || reply->type != REDIS_REPLY_STRING ||
        reply->len != sizeof(store->seen_sha) - 1) {
        snprintf(errbuf, errbuf_size, "redis script load failed: %s",
                 reply == NULL                      ? redis->errstr
                 : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                    : "unexpected reply");
        freeReplyObject(reply);
        return -1;
    }
    memcpy(store->seen_sha, reply->str, reply->len + 1);
    freeReplyObject(reply);
    return 0;
}

static int is_noscript(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR &&
           strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

/*
 * Sends the record_seen calls of the events still marked in pending as
 * one pipeline of EVALSHA, and reads their replies. A call that Redis
 * rejects with NOSCRIPT (a restart or SCRIPT FLUSH emptied its cache) stays
 * pending for the caller to send again after a load. Returns the number
 * still pending, or -1 with the reason in errbuf.
 */
static int
send_seen_pipeline(struct image_state_store *store, redisContext *redis,
                   struct seen_call *seen_call, const struct image_seen *events,
                   const char (*request_ids)[UUID_TEXT_SIZE], size_t count,
                   int64_t now_ms, int64_t rescan_interval_ms,
                   unsigned char *pending, struct seen_outcome *outcomes,
                   char *errbuf, size_t errbuf_size)
{
    int still_pending = 0, failed = 0;

    for (size_t i = 0; i < count; i++) {
        if (!pending[i])
            continue;
        if (seen_call_build(seen_call, &events[i], now_ms, rescan_interval_ms,
                            request_ids[i]) != 0) {
            snprintf(errbuf, errbuf_size, "image state key too long");
            return -1;
        }
        seen_call->call.argv[0] = "EVALSHA";
        seen_call->call.lengths[0] = 7;
        seen_call->call.argv[1] = store->seen_sha;
        seen_call->call.lengths[1] = strlen(store->seen_sha);
        if (redisAppendCommandArgv(redis, seen_call->call.argc,
                                   seen_call->call.argv,
                                   seen_call->call.lengths) != REDIS_OK) {
            snprintf(errbuf, errbuf_size, "redis record seen failed: %s",
                     redis->errstr);
            return -1;
        }
    }

    /* Every reply is read, even after an error, so that the connection
     * stays in step with its commands. */
    for (size_t i = 0; i < count; i++) {
        redisReply *reply = NULL;

        if (!pending[i])
            continue;
        if (redisGetReply(redis, (void **)&reply) != REDIS_OK) {
            snprintf(errbuf, errbuf_size, "redis record seen failed: %s",
                     redis->errstr);
            return -1;
        }
        if (is_noscript(reply)) {
            still_pending++;
        } else if (reply->type == REDIS_REPLY_ERROR) {
            if (!failed)
                snprintf(errbuf, errbuf_size, "redis record seen failed: %s",
                         reply->str);
            failed = 1;
        } else {
            read_outcome(reply, &outcomes[i]);
            pending[i] = 0;
        }
        freeReplyObject(reply);
    }
    return failed ? -1 : still_pending;
}

int image_state_record_seen_batch(struct image_state_store *store,
                                  const struct image_seen *events,
                                  const char (*request_ids)[UUID_TEXT_SIZE],
                                  size_t count, int64_t now_ms,
                                  int64_t rescan_interval_ms,
                                  struct seen_outcome *outcomes, char *errbuf,
                                  size_t errbuf_size)
{
    redisContext *redis = image_state_redis(store, errbuf, errbuf_size);
    struct seen_call *seen_call = malloc(sizeof(*seen_call));
    unsigned char *pending = malloc(count > 0 ? count : 1);
    int left = -1;

    if (seen_call == NULL || pending == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        goto out;
    }
    if (redis == NULL)
        goto out;
    memset(pending, 1, count);
    memset(outcomes, 0, count * sizeof(*outcomes));

    /* A reconnect may reach a Redis that lost its script cache: the
     * NOSCRIPT replies load it once and send those calls again. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (store->seen_sha[0] == '\0' &&
            load_seen_script(store, redis, errbuf, errbuf_size) != 0)
            break;
        left = send_seen_pipeline(store, redis, seen_call, events, request_ids,
                                  count, now_ms, rescan_interval_ms, pending,
                                  outcomes, errbuf, errbuf_size);
        if (left <= 0)
            break;
        store->seen_sha[0] = '\0';
    }
    if (left > 0)
        snprintf(errbuf, errbuf_size,
                 "redis record seen failed: the script cache lost the "
                 "script again");

out:
    free(seen_call);
    free(pending);
    return left == 0 ? 0 : -1;
}

int image_state_claims_delivered(struct image_state_store *store,
                                 const struct image_seen *events,
                                 const struct seen_outcome *outcomes,
                                 size_t count, char *errbuf, size_t errbuf_size)
{
    redisContext *redis = image_state_redis(store, errbuf, errbuf_size);
    char key[KEY_SIZE];
    int sent = 0, failed = 0;

    if (redis == NULL)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (outcomes[i].decision == SEEN_NO_SCAN)
            continue;
        if (image_state_key(&events[i].image, key, sizeof(key)) != 0) {
            snprintf(errbuf, errbuf_size, "image state key too long");
            failed = 1;
            break;
        }
        if (redisAppendCommand(redis, "EVAL %s 1 %s %s", claim_delivered_script,
                               key, events[i].event_id) != REDIS_OK) {
            failed = 1;
            break;
        }
        sent++;
    }

    for (int i = 0; i < sent; i++) {
        redisReply *reply = NULL;

        if (redisGetReply(redis, (void **)&reply) != REDIS_OK) {
            snprintf(errbuf, errbuf_size, "redis claim delivered failed: %s",
                     redis->errstr);
            return -1;
        }
        if (reply->type == REDIS_REPLY_ERROR && !failed) {
            snprintf(errbuf, errbuf_size, "redis claim delivered failed: %s",
                     reply->str);
            failed = 1;
        }
        freeReplyObject(reply);
    }
    if (failed && redis->err != 0)
        snprintf(errbuf, errbuf_size, "redis claim delivered failed: %s",
                 redis->errstr);
    return failed ? -1 : 0;
}

int image_state_record_seen(struct image_state_store *store,
                            const struct image_seen *event, int64_t now_ms,
                            int64_t rescan_interval_ms, const char *request_id,
                            struct seen_outcome *outcome, char *errbuf,
                            size_t errbuf_size)
{
    char request_ids[1][UUID_TEXT_SIZE];

    snprintf(request_ids[0], UUID_TEXT_SIZE, "%s", request_id);
    return image_state_record_seen_batch(
        store, event, (const char(*)[UUID_TEXT_SIZE])request_ids, 1, now_ms,
        rescan_interval_ms, outcome, errbuf, errbuf_size);
}

void waiting_requests_clear(struct waiting_requests *waiting)
{
    for (size_t i = 0; i < waiting->count; i++)
        free(waiting->values[i]);
    free(waiting->values);
    free(waiting->sizes);
    memset(waiting, 0, sizeof(*waiting));
}

/* Copies the released requests out of the script's reply. */
static int take_waiting(const redisReply *reply,
                        struct waiting_requests *waiting)
{
    size_t count = reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0;

    if (count == 0)
        return 0;
    waiting->values = calloc(count, sizeof(*waiting->values));
    waiting->sizes = calloc(count, sizeof(*waiting->sizes));
    if (waiting->values == NULL || waiting->sizes == NULL)
        return -1;
    for (size_t i = 0; i < count; i++) {
        const redisReply *value = reply->element[i];

        if (value->type != REDIS_REPLY_STRING)
            continue;
        waiting->values[waiting->count] = malloc(value->len + 1);
        if (waiting->values[waiting->count] == NULL)
            return -1;
        memcpy(waiting->values[waiting->count], value->str, value->len);
        waiting->sizes[waiting->count++] = value->len;
    }
    return 0;
}

/* Adds the scan and waiting keys of each distinct digest to share under. */
static int add_share_keys(struct script_call *call, char keys[4][KEY_SIZE],
                          const struct scan_result *result)
{
    const char *digests[2] = {result->image.digest, result->manifest_digest};
    int added = 0;

    for (int i = 0; i < 2; i++) {
        if (digests[i] == NULL || digests[i][0] == '\0' ||
            (i == 1 && digests[0] != NULL &&
             strcmp(digests[0], digests[1]) == 0))
            continue;
        if (account_key(keys[added], KEY_SIZE, result->image.account, "scan",
                        digests[i]) != 0 ||
            account_key(keys[added + 1], KEY_SIZE, result->image.account,
                        "waiting", digests[i]) != 0)
            return -1;
        call_text(call, keys[added]);
        call_text(call, keys[added + 1]);
        added += 2;
    }
    return added;
}

int image_state_record_result(struct image_state_store *store,
                              const struct scan_result *result,
                              const char *scanned_from,
                              struct waiting_requests *waiting, char *errbuf,
                              size_t errbuf_size)
{
    char key[KEY_SIZE], running[KEY_SIZE], share_keys[4][KEY_SIZE];
    char finished_at[24], risk[16];
    unsigned char *encoded = NULL;
    size_t encoded_size = 0;
    struct script_call call;
    redisReply *reply;
    int share_count = 0, status = 0;

    if (image_state_key(&result->image, key, sizeof(key)) != 0 ||
        account_key(running, sizeof(running), result->image.account, "running",
                    NULL) != 0) {
        snprintf(errbuf, errbuf_size, "image state key too long");
        return -1;
    }
    if (result->status == SCAN_STATUS_SCANNED &&
        scan_result_encode(result, &encoded, &encoded_size, errbuf,
                           errbuf_size) != 0)
        return -1;
    snprintf(finished_at, sizeof(finished_at), "%" PRId64,
             result->finished_at_ms);
    snprintf(risk, sizeof(risk), "%.1f", result->risk_score);

    call_begin(&call, record_result_script);
    call_text(&call, key);
    call_text(&call, running);
    /* Only a pull is shared: sharing a taken scan again would make an old
     * scan look fresh to the next new image. */
    if (waiting != NULL && result->status == SCAN_STATUS_SCANNED &&
        (scanned_from == NULL || scanned_from[0] == '\0') &&
        !image_state_is_unpulled(result->image.environment_kind))
        share_count = add_share_keys(&call, share_keys, result);
    if (share_count < 0) {
        free(encoded);
        snprintf(errbuf, errbuf_size, "scan key too long");
        return -1;
    }
    call_text(&call, scan_status_name(result->status));
    call_text(&call, result->status_detail);
    call_text(&call, result->request_id);
    call_text(&call, result->manifest_digest);
    call_text(&call, finished_at);
    call_text(&call, severity_name(result->vulnerability_level));
    call_text(&call, risk);
    call_add(&call, encoded != NULL ? (const char *)encoded : "", encoded_size);
    call_text(&call, scanned_from);

    reply = call_run(store, &call, 2 + share_count, "record result", errbuf,
                     errbuf_size);
    free(encoded);
    if (reply == NULL)
        return -1;
    if (waiting != NULL && take_waiting(reply, waiting) != 0) {
        waiting_requests_clear(waiting);
        snprintf(errbuf, errbuf_size, "out of memory reading waiting requests");
        status = -1;
    }
    freeReplyObject(reply);
    return status;
}

int image_state_release_waiting(struct image_state_store *store,
                                const char *account, const char *digest,
                                const char *manifest_digest,
                                const struct waiting_requests *waiting,
                                char *errbuf, size_t errbuf_size)
{
    const char *digests[2] = {digest, manifest_digest};

    for (int i = 0; i < 2; i++) {
        redisContext *redis;
        char key[KEY_SIZE];

        if (digests[i] == NULL ||
            account_key(key, sizeof(key), account, "waiting", digests[i]) != 0)
            continue;
        for (size_t j = 0; j < waiting->count; j++) {
            redisReply *reply;

            redis = image_state_redis(store, errbuf, errbuf_size);
            if (redis == NULL)
                return -1;
            reply = redisCommand(redis, "ZREM %s %b", key, waiting->values[j],
                                 waiting->sizes[j]);
            if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
                snprintf(errbuf, errbuf_size, "redis ZREM %s failed: %s", key,
                         reply == NULL ? redis->errstr : reply->str);
                freeReplyObject(reply);
                return -1;
            }
            freeReplyObject(reply);
        }
    }
    return 0;
}

int image_state_find_shared(struct image_state_store *store,
                            const char *account, const char *digest,
                            const unsigned char *request, size_t request_size,
                            int64_t now_ms, unsigned char **shared,
                            size_t *shared_size, char *errbuf,
                            size_t errbuf_size)
{
    char scan_key[KEY_SIZE], waiting_key[KEY_SIZE], now[24];
    struct script_call call;
    redisReply *reply;
    int found = 0;

    *shared = NULL;
    *shared_size = 0;
    if (account_key(scan_key, sizeof(scan_key), account, "scan", digest) != 0 ||
        account_key(waiting_key, sizeof(waiting_key), account, "waiting",
                    digest) != 0) {
        snprintf(errbuf, errbuf_size, "scan key too long");
        return -1;
    }
    snprintf(now, sizeof(now), "%" PRId64, now_ms);

    call_begin(&call, find_shared_script);
    call_text(&call, scan_key);
    call_text(&call, waiting_key);
    call_add(&call, request, request_size);
    call_text(&call, now);
    reply = call_run(store, &call, 2, "find shared scan", errbuf, errbuf_size);
    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_STRING) {
        *shared = malloc(reply->len + 1);
        if (*shared == NULL) {
            snprintf(errbuf, errbuf_size, "out of memory");
            found = -1;
        } else {
            memcpy(*shared, reply->str, reply->len);
            *shared_size = reply->len;
            found = 1;
        }
    }
    freeReplyObject(reply);
    return found;
}

int image_state_get_shared(struct image_state_store *store, const char *account,
                           const char *digest, unsigned char **shared,
                           size_t *shared_size, char *errbuf,
                           size_t errbuf_size)
{
    redisContext *redis = image_state_redis(store, errbuf, errbuf_size);
    redisReply *reply;
    char key[KEY_SIZE];
    int found = 0;

    *shared = NULL;
    *shared_size = 0;
    if (redis == NULL)
        return -1;
    if (account_key(key, sizeof(key), account, "scan", digest) != 0) {
        snprintf(errbuf, errbuf_size, "scan key too long");
        return -1;
    }
    reply = redisCommand(redis, "GET %s", key);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        snprintf(errbuf, errbuf_size, "redis GET %s failed: %s", key,
                 reply == NULL ? redis->errstr : reply->str);
        freeReplyObject(reply);
        return -1;
    }
    if (reply->type == REDIS_REPLY_STRING) {
        *shared = malloc(reply->len + 1);
        if (*shared == NULL) {
            snprintf(errbuf, errbuf_size, "out of memory");
            found = -1;
        } else {
            memcpy(*shared, reply->str, reply->len);
            *shared_size = reply->len;
            found = 1;
        }
    }
    freeReplyObject(reply);
    return found;
}

int image_state_delete_unchanged(struct image_state_store *store,
                                 const char *account, const char *environment,
                                 const char *member,
                                 const struct image_snapshot *snapshot,
                                 char *errbuf, size_t errbuf_size)
{
    char key[KEY_SIZE], seen[KEY_SIZE];
    struct script_call call;
    redisReply *reply;
    int deleted;

    if (fits(snprintf(key, sizeof(key), "imgassure:{%s}:image:%s:%s", account,
                      environment, member),
             sizeof(key)) != 0 ||
        account_key(seen, sizeof(seen), account, "seen", environment) != 0) {
        snprintf(errbuf, errbuf_size, "image state key too long");
        return -1;
    }
    call_begin(&call, delete_unchanged_script);
    call_text(&call, key);
    call_text(&call, seen);
    call_text(&call, snapshot->last_seen_ms);
    call_text(&call, snapshot->last_running_ms);
    call_text(&call, snapshot->deleted_at_ms);
    call_text(&call, snapshot->result_at_ms);
    call_text(&call, member);
    reply = call_run(store, &call, 2, "delete image", errbuf, errbuf_size);
    if (reply == NULL)
        return -1;
    deleted = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return deleted;
}
