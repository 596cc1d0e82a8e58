#include "rematch.h"

#include "clock.h"
#include "digest_match.h"
#include "ids.h"
#include "image_state.h"
#include "kafka.h"
#include "location.h"
#include "log.h"
#include "match.h"
#include "severity.h"
#include "state_walk.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A claim outlives any walk; it only has to stop a second walk of the
 * same version. */
#define CLAIM_TTL_S 86400

struct rematch {
    struct rematch_config config;
    struct image_state_store *state;
    struct state_walk walk;
    int walking;
    char version[128];       /* the database version last seen */
    const struct vulndb *db; /* the current page's database */
    unsigned long visited, changed;
};

struct rematch *rematch_new(const struct rematch_config *config,
                            const struct vulndb *db, char *errbuf,
                            size_t errbuf_size)
{
    struct rematch *rematch = calloc(1, sizeof(*rematch));

    if (rematch == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    rematch->config = *config;
    snprintf(rematch->version, sizeof(rematch->version), "%s",
             vulndb_version(db));
    rematch->state =
        image_state_connect(config->redis_url, errbuf, errbuf_size);
    if (rematch->state == NULL) {
        free(rematch);
        return NULL;
    }
    return rematch;
}

void rematch_free(struct rematch *rematch)
{
    if (rematch == NULL)
        return;
    state_walk_clear(&rematch->walk);
    image_state_free(rematch->state);
    free(rematch);
}

/* Returns 1 when this worker is the first to claim the version's walk. */
static int claim_version(struct rematch *rematch, const char *version)
{
    char errbuf[512];
    redisContext *redis =
        image_state_redis(rematch->state, errbuf, sizeof(errbuf));
    redisReply *reply;
    int claimed;

    if (redis == NULL) {
        log_write(LOG_WARNING, "REMATCH", "%s", errbuf);
        return 0;
    }
    reply = redisCommand(redis, "SET imgassure:rematch:%s %s NX EX %d", version,
                         rematch->config.worker_id, CLAIM_TTL_S);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        log_write(LOG_WARNING, "REMATCH", "redis SET claim failed: %s",
                  reply == NULL ? redis->errstr : reply->str);
        freeReplyObject(reply);
        return 0;
    }
    claimed = reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    return claimed;
}

static int same_text(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Findings come sorted from match_inventory, so equal sets compare equal
 * in order. */
static int same_findings(const struct scan_result *stored,
                         const struct finding *findings, size_t count)
{
    if (!stored->vulnerabilities_matched || stored->finding_count != count)
        return 0;
    for (size_t i = 0; i < count; i++) {
        const struct finding *a = &stored->findings[i], *b = &findings[i];

        if (!same_text(a->id, b->id) || !same_text(a->package, b->package) ||
            !same_text(a->installed_version, b->installed_version) ||
            !same_text(a->fixed_version, b->fixed_version) ||
            a->severity != b->severity)
            return 0;
    }
    return 1;
}

/* Replaces the findings and everything derived from them, and gives the
 * result the identity of a new publication. */
static int rewrite_result(struct rematch *rematch, struct scan_result *result,
                          struct finding *findings, size_t count)
{
    char request_id[UUID_TEXT_SIZE], detail[768], when[32];
    time_t scanned_s = (time_t)(result->finished_at_ms / 1000);
    struct tm parts;
    int64_t now = clock_now_ms();

    for (size_t i = 0; i < result->finding_count; i++)
        finding_clear(&result->findings[i]);
    free(result->findings);
    result->findings = findings;
    result->finding_count = count;
    result->vulnerabilities_matched = 1;
    memset(result->severity_counts, 0, sizeof(result->severity_counts));
    severity_count(findings, count, result->severity_counts);
    result->vulnerability_level = severity_level(findings, count);
    result->risk_score = severity_risk_score(findings, count);
    free(result->vulnerability_db_version);
    result->vulnerability_db_version = strdup(vulndb_version(rematch->db));
    result->vulnerability_db_built_at_ms = vulndb_built_at_ms(rematch->db);

    gmtime_r(&scanned_s, &parts);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &parts);
    snprintf(detail, sizeof(detail),
             "%zu packages from the scan at %s matched again after the "
             "vulnerability database changed: %zu vulnerabilities, level "
             "%s, risk %.1f (database %s)",
             result->package_count, when, count,
             severity_name(result->vulnerability_level), result->risk_score,
             vulndb_version(rematch->db));
    free(result->status_detail);
    result->status_detail = strdup(detail);
    free(result->worker_id);
    result->worker_id = strdup(rematch->config.worker_id);
    free(result->request_id);
    result->request_id = NULL;
    if (uuid_generate_text(request_id) == 0)
        result->request_id = strdup(request_id);
    result->attempt = 1;
    result->next_attempt_at_ms = 0;
    result->started_at_ms = now;
    result->finished_at_ms = now;
    return result->status_detail != NULL && result->worker_id != NULL &&
                   result->request_id != NULL &&
                   result->vulnerability_db_version != NULL
               ? 0
               : -1;
}

static int publish(struct rematch *rematch, const struct scan_result *result,
                   char *errbuf, size_t errbuf_size)
{
    struct kafka_delivery delivery;
    struct kafka_delivery *deliveries[] = {&delivery};
    unsigned char *value = NULL;
    size_t value_size;
    char key[1024];
    rd_kafka_resp_err_t error;

    if (location_format_key(&result->image, key, sizeof(key)) != 0) {
        snprintf(errbuf, errbuf_size, "image name too long for a key");
        return -1;
    }
    if (scan_result_encode(result, &value, &value_size, errbuf, errbuf_size) !=
        0)
        return -1;
    error = kafka_produce(
        rematch->config.producer, rematch->config.results_topic, key,
        strlen(key), value, value_size, NULL, &delivery, errbuf, errbuf_size);
    free(value);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    return kafka_wait_deliveries(rematch->config.producer, deliveries, 1,
                                 rematch->config.delivery_timeout_ms, errbuf,
                                 errbuf_size);
}

/* Publishes, then stores, the changed result. */
static int deliver(struct rematch *rematch, const struct scan_result *result,
                   const char *scanned_from, char *errbuf, size_t errbuf_size)
{
    struct waiting_requests waiting = {0};
    int status;

    if (publish(rematch, result, errbuf, errbuf_size) != 0 ||
        image_state_record_result(rematch->state, result, scanned_from,
                                  &waiting, errbuf, errbuf_size) != 0)
        return -1;
    status =
        waiting.count == 0
            ? 0
            : digest_match_release(rematch->state, rematch->config.producer,
                                   rematch->config.requests_topic,
                                   rematch->config.delivery_timeout_ms, result,
                                   &waiting, errbuf, errbuf_size);
    waiting_requests_clear(&waiting);
    return status;
}

/* Matches a stored result again. Returns 1 when its findings changed (and
 * result then contains the new ones), 0 when not or when it cannot be
 * matched, -1 with the reason in errbuf. */
static int match_again(struct rematch *rematch, struct scan_result *result,
                       char *errbuf, size_t errbuf_size)
{
    struct finding *findings = NULL;
    size_t count = 0;
    char ecosystem[64];

    if (result->os_id == NULL ||
        vulndb_ecosystem_for_os(result->os_id, result->os_version_id, ecosystem,
                                sizeof(ecosystem)) != 0 ||
        !vulndb_has_ecosystem(rematch->db, ecosystem))
        return 0;
    if (match_inventory(rematch->db, ecosystem, result->packages,
                        result->package_count, &findings, &count, errbuf,
                        errbuf_size) != 0)
        return -1;
    if (same_findings(result, findings, count)) {
        match_findings_free(findings, count);
        return 0;
    }
    if (rewrite_result(rematch, result, findings, count) != 0) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    return 1;
}

/* Reads status, last_scanned and scanned_from. Returns the reply when the
 * image's status is SCANNED and it has a last_scanned, else NULL. */
static redisReply *read_scanned(struct rematch *rematch,
                                const struct walk_target *at,
                                const char *member)
{
    char errbuf[512];
    redisContext *redis =
        image_state_redis(rematch->state, errbuf, sizeof(errbuf));
    redisReply *reply;

    if (redis == NULL)
        return NULL;
    reply = redisCommand(redis,
                         "HMGET imgassure:{%s}:image:%s:%s status last_scanned "
                         "scanned_from",
                         at->account, at->environment, member);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != 3 || reply->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "SCANNED") != 0 ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

static void rematch_member(const struct walk_target *at, const char *member,
                           void *context)
{
    struct rematch *rematch = context;
    redisReply *stored = read_scanned(rematch, at, member);
    struct scan_result result;
    char errbuf[512];
    int changed;

    if (stored == NULL)
        return;
    rematch->visited++;
    memset(&result, 0, sizeof(result));
    if (scan_result_decode(stored->element[1]->str, stored->element[1]->len,
                           &result, errbuf, sizeof(errbuf)) != 0)
        changed = -1;
    else
        changed = match_again(rematch, &result, errbuf, sizeof(errbuf));
    if (changed > 0 && deliver(rematch, &result,
                               stored->element[2]->type == REDIS_REPLY_STRING
                                   ? stored->element[2]->str
                                   : "",
                               errbuf, sizeof(errbuf)) != 0)
        changed = -1;
    if (changed < 0)
        log_write(LOG_WARNING, "REMATCH",
                  "not matched again, it keeps its findings until its next "
                  "scan: %s account=%s env=%s image=%s",
                  errbuf, at->account, at->environment, member);
    else if (changed > 0) {
        rematch->changed++;
        log_write(LOG_INFO, "REMATCH",
                  "findings changed, result published account=%s env=%s "
                  "image=%s request=%s",
                  at->account, at->environment, member, result.request_id);
    }
    scan_result_clear(&result);
    freeReplyObject(stored);
}

static void start_walk(struct rematch *rematch, const char *version)
{
    char errbuf[512];
    redisContext *redis;

    snprintf(rematch->version, sizeof(rematch->version), "%s", version);
    if (!claim_version(rematch, version))
        return;
    redis = image_state_redis(rematch->state, errbuf, sizeof(errbuf));
    if (redis == NULL ||
        state_walk_start(&rematch->walk, redis, errbuf, sizeof(errbuf)) != 0) {
        log_write(LOG_WARNING, "REMATCH",
                  "%s; stored findings stay until each image's next scan",
                  errbuf);
        return;
    }
    rematch->walking = 1;
    rematch->visited = 0;
    rematch->changed = 0;
    log_write(LOG_INFO, "REMATCH",
              "vulnerability database changed to %s, matching stored "
              "inventories again",
              version);
}

void rematch_tick(struct rematch *rematch, const struct vulndb *db)
{
    const char *version = vulndb_version(db);
    char errbuf[512];
    redisContext *redis;
    int more;

    if (strcmp(version, rematch->version) != 0) {
        /* A newer swap restarts the walk with the newer database. */
        state_walk_clear(&rematch->walk);
        rematch->walking = 0;
        start_walk(rematch, version);
    }
    if (!rematch->walking)
        return;

    rematch->db = db;
    redis = image_state_redis(rematch->state, errbuf, sizeof(errbuf));
    more = redis == NULL
               ? -1
               : state_walk_page(&rematch->walk, redis, rematch_member, rematch,
                                 errbuf, sizeof(errbuf));
    if (more < 0)
        log_write(LOG_WARNING, "REMATCH", "%s; walk abandoned", errbuf);
    if (more <= 0) {
        log_write(LOG_INFO, "REMATCH",
                  "rematch finished version=%s images=%lu changed=%lu",
                  rematch->version, rematch->visited, rematch->changed);
        state_walk_clear(&rematch->walk);
        rematch->walking = 0;
    }
}
