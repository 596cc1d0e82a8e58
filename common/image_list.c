#include "image_list.h"

#include "account_settings.h"
#include "lifetime.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_SIZE 1024

static int format_key(char *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes a key into a KEY_SIZE buffer. Returns 0, or -1 when it does not
 * fit, which the caller reports. */
static int format_key(char *out, const char *format, ...)
{
    va_list args;
    int written;

    va_start(args, format);
    written = vsnprintf(out, KEY_SIZE, format, args);
    va_end(args);
    return written < 0 || written >= KEY_SIZE ? -1 : 0;
}

static void describe_failure(redisContext *redis, const redisReply *reply,
                             const char *what, const char *key, char *errbuf,
                             size_t errbuf_size)
{
    snprintf(errbuf, errbuf_size, "redis %s %s failed: %s", what, key,
             reply == NULL                      ? redis->errstr
             : reply->type == REDIS_REPLY_ERROR ? reply->str
                                                : "unexpected reply");
}

/* Parses a stored decimal time; anything else counts as 0 (never). */
static int64_t parse_ms(const char *text)
{
    char *end;
    long long value;

    errno = 0;
    value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0)
        return 0;
    return value;
}

static char *copy_nonempty(const char *text)
{
    return *text != '\0' ? strdup(text) : NULL;
}

/* Applies one field of an image hash; unknown fields are ignored. */
static void apply_field(struct image_entry *entry, const char *name,
                        const char *value)
{
    char **text = NULL;
    char *end;

    if (strcmp(name, "registry") == 0)
        text = &entry->registry;
    else if (strcmp(name, "repository") == 0)
        text = &entry->repository;
    else if (strcmp(name, "tag") == 0)
        text = &entry->tag;
    else if (strcmp(name, "digest") == 0)
        text = &entry->digest;
    else if (strcmp(name, "platform") == 0)
        text = &entry->platform;
    else if (strcmp(name, "manifest_digest") == 0)
        text = &entry->manifest_digest;
    if (text != NULL) {
        free(*text);
        *text = copy_nonempty(value);
        return;
    }

    if (strcmp(name, "environment_kind") == 0)
        environment_kind_parse(value, &entry->kind);
    else if (strcmp(name, "status") == 0)
        entry->has_status = scan_status_parse(value, &entry->status) == 0;
    else if (strcmp(name, "vulnerability_level") == 0)
        entry->has_vulnerabilities =
            severity_parse(value, &entry->vulnerability_level) == 0;
    else if (strcmp(name, "risk_score") == 0)
        entry->risk_score = strtod(value, &end);
    else if (strcmp(name, "last_seen_ms") == 0)
        entry->last_seen_ms = parse_ms(value);
    else if (strcmp(name, "last_running_ms") == 0)
        entry->last_running_ms = parse_ms(value);
    else if (strcmp(name, "deleted_at_ms") == 0)
        entry->deleted_at_ms = parse_ms(value);
    else if (strcmp(name, "last_scanned_at_ms") == 0)
        entry->last_scanned_at_ms = parse_ms(value);
}

/* The hash fields an entry is read from. HMGET names them, so that the
 * stored scan result (last_scanned, which lists every package) is not
 * read for every image. */
static const char *const entry_fields[] = {
    "environment_kind",
    "registry",
    "repository",
    "tag",
    "digest",
    "platform",
    "manifest_digest",
    "status",
    "vulnerability_level",
    "risk_score",
    "last_seen_ms",
    "last_running_ms",
    "deleted_at_ms",
    "last_scanned_at_ms",
};

#define ENTRY_FIELD_COUNT (sizeof(entry_fields) / sizeof(entry_fields[0]))

/* Formats the HMGET of an image hash's entry fields. Returns 0, or -1 when
 * out of memory. */
static int format_entry_command(char **command, const char *key)
{
    const char *argv[ENTRY_FIELD_COUNT + 2] = {"HMGET", key};

    for (size_t i = 0; i < ENTRY_FIELD_COUNT; i++)
        argv[i + 2] = entry_fields[i];
    return redisFormatCommandArgv(command, (int)(ENTRY_FIELD_COUNT + 2), argv,
                                  NULL) < 0
               ? -1
               : 0;
}

/* Fills an entry from the HMGET reply. Returns 0, or -1 when no field is
 * set: the image was deleted after its member was read. */
static int fill_entry(struct image_entry *entry, const redisReply *reply)
{
    int found = 0;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != ENTRY_FIELD_COUNT)
        return -1;
    for (size_t i = 0; i < ENTRY_FIELD_COUNT; i++) {
        const redisReply *value = reply->element[i];

        if (value->type != REDIS_REPLY_STRING)
            continue;
        apply_field(entry, entry_fields[i], value->str);
        found = 1;
    }
    return found ? 0 : -1;
}

/*
 * Sends every command of a pipeline, then reads one reply per command
 * into replies. Returns 0, or -1 with the reason in errbuf when the
 * connection failed. Replies read so far stay in the array and the rest
 * are NULL. The caller frees them all.
 */
static int run_pipeline(redisContext *redis, char **commands, size_t count,
                        redisReply **replies, char *errbuf, size_t errbuf_size)
{
    for (size_t i = 0; i < count; i++) {
        replies[i] = NULL;
        if (redisAppendFormattedCommand(redis, commands[i],
                                        strlen(commands[i])) != REDIS_OK) {
            snprintf(errbuf, errbuf_size, "redis pipeline failed: %s",
                     redis->errstr);
            return -1;
        }
    }
    for (size_t i = 0; i < count; i++) {
        void *reply = NULL;

        if (redisGetReply(redis, &reply) != REDIS_OK) {
            snprintf(errbuf, errbuf_size, "redis pipeline failed: %s",
                     redis->errstr);
            return -1;
        }
        replies[i] = reply;
    }
    return 0;
}

static void free_commands(char **commands, redisReply **replies, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        redisFreeCommand(commands[i]);
        freeReplyObject(replies[i]);
    }
    free(commands);
    free(replies);
}

static double reply_score(const redisReply *reply)
{
    char *end;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING)
        return 0;
    return strtod(reply->str, &end);
}

/* Reads, for each entry, the newest RUNNING sighting in the account of its
 * seen digest or its manifest digest. */
static int load_running(redisContext *redis, const char *account,
                        struct image_entry *entries, size_t count, char *errbuf,
                        size_t errbuf_size)
{
    size_t command_count = count * 2;
    char **commands = calloc(command_count + 1, sizeof(*commands));
    redisReply **replies = calloc(command_count + 1, sizeof(*replies));
    char key[KEY_SIZE];
    int status = -1;

    if (commands == NULL || replies == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        goto out;
    }
    if (format_key(key, "imgassure:{%s}:running", account) != 0) {
        snprintf(errbuf, errbuf_size, "account name too long");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const char *digest = entries[i].digest ? entries[i].digest : "";
        const char *manifest =
            entries[i].manifest_digest ? entries[i].manifest_digest : "";

        if (redisFormatCommand(&commands[2 * i], "ZSCORE %s %s", key, digest) <
                0 ||
            redisFormatCommand(&commands[2 * i + 1], "ZSCORE %s %s", key,
                               manifest) < 0) {
            snprintf(errbuf, errbuf_size, "out of memory");
            goto out;
        }
    }
    if (run_pipeline(redis, commands, command_count, replies, errbuf,
                     errbuf_size) != 0)
        goto out;

    for (size_t i = 0; i < count; i++) {
        double seen = reply_score(replies[2 * i]);
        double manifest = reply_score(replies[2 * i + 1]);

        entries[i].digest_running_ms =
            (int64_t)(seen > manifest ? seen : manifest);
    }
    status = 0;

out:
    if (commands != NULL && replies != NULL)
        free_commands(commands, replies, command_count);
    else {
        free(commands);
        free(replies);
    }
    return status;
}

/* Returns 1 when a stored ScanResult was not matched against a
 * vulnerability database. */
static int result_not_matched(const redisReply *reply)
{
    struct scan_result result;
    char ignored[256];
    int not_matched;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING)
        return 0;
    if (scan_result_decode(reply->str, reply->len, &result, ignored,
                           sizeof(ignored)) != 0)
        return 0;
    not_matched = !result.vulnerabilities_matched;
    scan_result_clear(&result);
    return not_matched;
}

/*
 * Tells "no vulnerability" from "not matched": both store level NONE and
 * risk 0, so for those entries the kept scan result (last_scanned) is
 * read. An entry whose result was not matched loses its level and risk.
 */
static int check_matched(redisContext *redis, const char *account,
                         struct image_entry *entries, size_t count,
                         char *errbuf, size_t errbuf_size)
{
    char **commands = calloc(count + 1, sizeof(*commands));
    redisReply **replies = calloc(count + 1, sizeof(*replies));
    size_t *indexes = calloc(count + 1, sizeof(*indexes));
    size_t checked = 0;
    char key[KEY_SIZE];
    int status = -1;

    if (commands == NULL || replies == NULL || indexes == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        if (!entries[i].has_vulnerabilities ||
            entries[i].vulnerability_level != SEVERITY_NONE)
            continue;
        if (format_key(key, "imgassure:{%s}:image:%s:%s", account,
                       entries[i].environment_id, entries[i].member) != 0 ||
            redisFormatCommand(&commands[checked], "HGET %s last_scanned",
                               key) < 0) {
            snprintf(errbuf, errbuf_size, "cannot read image %s",
                     entries[i].member);
            goto out;
        }
        indexes[checked++] = i;
    }
    if (run_pipeline(redis, commands, checked, replies, errbuf, errbuf_size) !=
        0)
        goto out;

    for (size_t i = 0; i < checked; i++) {
        struct image_entry *entry = &entries[indexes[i]];

        if (result_not_matched(replies[i])) {
            entry->has_vulnerabilities = 0;
            entry->not_matched = 1;
        }
    }
    status = 0;

out:
    if (commands != NULL && replies != NULL)
        free_commands(commands, replies, count);
    else {
        free(commands);
        free(replies);
    }
    free(indexes);
    return status;
}

/* Decides activity with the lifetime rules. */
static void decide_activity(struct image_entry *entries, size_t count,
                            const struct account_settings *settings,
                            int64_t now_ms)
{
    for (size_t i = 0; i < count; i++) {
        struct image_entry *entry = &entries[i];
        struct lifetime_facts facts = {
            .kind = entry->kind,
            .last_running_ms = entry->last_running_ms,
            .digest_running_ms = entry->digest_running_ms,
            .deleted_at_ms = entry->deleted_at_ms,
            .last_scan_ms = entry->last_scanned_at_ms,
        };

        entry->active = lifetime_is_active(&facts, settings, now_ms);
        entry->from_earlier_scan = entry->has_vulnerabilities &&
                                   entry->has_status &&
                                   entry->status != SCAN_STATUS_SCANNED;
    }
}

static struct image_entry *append_entry(struct image_list *list)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        struct image_entry *grown =
            realloc(list->entries, capacity * sizeof(*grown));

        if (grown == NULL)
            return NULL;
        list->entries = grown;
        list->capacity = capacity;
    }
    memset(&list->entries[list->count], 0, sizeof(list->entries[0]));
    return &list->entries[list->count++];
}

/* Reads the state hash of each seen member, skipping members whose hash
 * is gone (the sweeper deleted it between the two reads). */
static int load_members(redisContext *redis, const char *account,
                        const char *environment_id, enum environment_kind kind,
                        const redisReply *members, struct image_list *list,
                        char *errbuf, size_t errbuf_size)
{
    size_t count = members->elements;
    char **commands = calloc(count + 1, sizeof(*commands));
    redisReply **replies = calloc(count + 1, sizeof(*replies));
    char key[KEY_SIZE];
    int status = -1;

    if (commands == NULL || replies == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        const redisReply *member = members->element[i];

        if (member->type != REDIS_REPLY_STRING ||
            format_key(key, "imgassure:{%s}:image:%s:%s", account,
                       environment_id, member->str) != 0 ||
            format_entry_command(&commands[i], key) != 0) {
            snprintf(errbuf, errbuf_size,
                     "cannot read image %zu of environment %s", i,
                     environment_id);
            goto out;
        }
    }
    if (run_pipeline(redis, commands, count, replies, errbuf, errbuf_size) != 0)
        goto out;

    for (size_t i = 0; i < count; i++) {
        struct image_entry *entry = append_entry(list);

        if (entry == NULL) {
            snprintf(errbuf, errbuf_size, "out of memory");
            goto out;
        }
        entry->kind = kind;
        if (fill_entry(entry, replies[i]) != 0) {
            list->count--;
            image_entry_clear(entry);
            continue;
        }
        entry->environment_id = strdup(environment_id);
        entry->member = strdup(members->element[i]->str);
    }
    status = 0;

out:
    if (commands != NULL && replies != NULL)
        free_commands(commands, replies, count);
    else {
        free(commands);
        free(replies);
    }
    return status;
}

static int load_environment(redisContext *redis, const char *account,
                            const char *environment_id,
                            enum environment_kind kind, struct image_list *list,
                            char *errbuf, size_t errbuf_size)
{
    redisReply *reply;
    char key[KEY_SIZE];
    int status;

    if (format_key(key, "imgassure:{%s}:seen:%s", account, environment_id) !=
        0) {
        snprintf(errbuf, errbuf_size, "environment name too long");
        return -1;
    }
    reply = redisCommand(redis, "ZRANGE %s 0 -1", key);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        describe_failure(redis, reply, "ZRANGE", key, errbuf, errbuf_size);
        freeReplyObject(reply);
        return -1;
    }
    status = load_members(redis, account, environment_id, kind, reply, list,
                          errbuf, errbuf_size);
    freeReplyObject(reply);
    return status;
}

static int compare_strings(const char *left, const char *right)
{
    return strcmp(left ? left : "", right ? right : "");
}

static int compare_entries(const void *left_pointer, const void *right_pointer)
{
    const struct image_entry *left = left_pointer;
    const struct image_entry *right = right_pointer;
    int order = compare_strings(left->environment_id, right->environment_id);

    if (order == 0)
        order = compare_strings(left->registry, right->registry);
    if (order == 0)
        order = compare_strings(left->repository, right->repository);
    if (order == 0)
        order = compare_strings(left->tag, right->tag);
    if (order == 0)
        order = compare_strings(left->member, right->member);
    return order;
}

/* Reads the environments hash: field i is an id, field i + 1 its kind. */
static redisReply *read_environments(redisContext *redis, const char *account,
                                     char *errbuf, size_t errbuf_size)
{
    redisReply *reply;
    char key[KEY_SIZE];

    if (format_key(key, "imgassure:{%s}:environments", account) != 0) {
        snprintf(errbuf, errbuf_size, "account name too long");
        return NULL;
    }
    reply = redisCommand(redis, "HGETALL %s", key);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        describe_failure(redis, reply, "HGETALL", key, errbuf, errbuf_size);
        freeReplyObject(reply);
        return NULL;
    }
    return reply;
}

/* Adds the facts that need more reads: running digests, unmatched
 * results, activity. */
static int finish_entries(redisContext *redis, const char *account,
                          struct image_entry *entries, size_t count,
                          int64_t now_ms, char *errbuf, size_t errbuf_size)
{
    struct account_settings settings;

    if (account_settings_load(redis, account, &settings, errbuf, errbuf_size) !=
        0)
        return -1;
    if (load_running(redis, account, entries, count, errbuf, errbuf_size) !=
            0 ||
        check_matched(redis, account, entries, count, errbuf, errbuf_size) != 0)
        return -1;
    decide_activity(entries, count, &settings, now_ms);
    return 0;
}

int image_list_load(redisContext *redis, const char *account,
                    const char *environment_id, int64_t now_ms,
                    struct image_list *list, char *errbuf, size_t errbuf_size)
{
    size_t first = list->count;
    redisReply *environments;
    int status = 0;

    environments = read_environments(redis, account, errbuf, errbuf_size);
    if (environments == NULL)
        return -1;
    for (size_t i = 0; i + 1 < environments->elements && status == 0; i += 2) {
        const redisReply *id = environments->element[i];
        const redisReply *kind_name = environments->element[i + 1];
        enum environment_kind kind = ENVIRONMENT_UNKNOWN;

        if (id->type != REDIS_REPLY_STRING ||
            kind_name->type != REDIS_REPLY_STRING)
            continue;
        if (environment_id != NULL && strcmp(id->str, environment_id) != 0)
            continue;
        environment_kind_parse(kind_name->str, &kind);
        status = load_environment(redis, account, id->str, kind, list, errbuf,
                                  errbuf_size);
    }
    freeReplyObject(environments);
    if (status != 0)
        return -1;

    if (finish_entries(redis, account, list->entries + first,
                       list->count - first, now_ms, errbuf, errbuf_size) != 0)
        return -1;
    qsort(list->entries + first, list->count - first, sizeof(list->entries[0]),
          compare_entries);
    return 0;
}

int image_list_environment_kind(redisContext *redis, const char *account,
                                const char *environment_id,
                                enum environment_kind *kind, char *errbuf,
                                size_t errbuf_size)
{
    redisReply *reply;
    char key[KEY_SIZE];
    int found;

    if (format_key(key, "imgassure:{%s}:environments", account) != 0) {
        snprintf(errbuf, errbuf_size, "account name too long");
        return -1;
    }
    reply = redisCommand(redis, "HGET %s %s", key, environment_id);
    if (reply == NULL ||
        (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        describe_failure(redis, reply, "HGET", key, errbuf, errbuf_size);
        freeReplyObject(reply);
        return -1;
    }
    found = reply->type == REDIS_REPLY_STRING;
    *kind = ENVIRONMENT_UNKNOWN;
    if (found)
        environment_kind_parse(reply->str, kind);
    freeReplyObject(reply);
    return found;
}

/* Loads one member's entry when the environment's seen set contains it.
 * Returns 1, 0 when it does not, or -1 with the reason in errbuf. */
static int load_member(redisContext *redis, const char *account,
                       const char *environment_id, enum environment_kind kind,
                       const char *member, struct image_entry *entry,
                       char *errbuf, size_t errbuf_size)
{
    redisReply *reply;
    char seen_key[KEY_SIZE];
    char image_key[KEY_SIZE];
    char *command;
    int found;

    if (format_key(seen_key, "imgassure:{%s}:seen:%s", account,
                   environment_id) != 0 ||
        format_key(image_key, "imgassure:{%s}:image:%s:%s", account,
                   environment_id, member) != 0) {
        snprintf(errbuf, errbuf_size, "image name too long");
        return -1;
    }
    reply = redisCommand(redis, "ZSCORE %s %s", seen_key, member);
    if (reply == NULL ||
        (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)) {
        describe_failure(redis, reply, "ZSCORE", seen_key, errbuf, errbuf_size);
        freeReplyObject(reply);
        return -1;
    }
    found = reply->type == REDIS_REPLY_STRING;
    freeReplyObject(reply);
    if (!found)
        return 0;

    if (format_entry_command(&command, image_key) != 0) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    reply = NULL;
    if (redisAppendFormattedCommand(redis, command, strlen(command)) ==
        REDIS_OK)
        redisGetReply(redis, (void **)&reply);
    redisFreeCommand(command);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        describe_failure(redis, reply, "HMGET", image_key, errbuf, errbuf_size);
        freeReplyObject(reply);
        return -1;
    }
    memset(entry, 0, sizeof(*entry));
    entry->kind = kind;
    found = fill_entry(entry, reply) == 0;
    freeReplyObject(reply);
    if (!found)
        return 0;
    entry->environment_id = strdup(environment_id);
    entry->member = strdup(member);
    return 1;
}

static int same_tag(const char *stored, const char *wanted)
{
    return strcmp(stored ? stored : "latest", wanted ? wanted : "latest") == 0;
}

/* Moves the most recently seen image of the query's name out of list. */
static int take_newest_match(struct image_list *list,
                             const struct image_query *query,
                             struct image_entry *entry)
{
    struct image_entry *newest = NULL;

    for (size_t i = 0; i < list->count; i++) {
        struct image_entry *candidate = &list->entries[i];

        if (compare_strings(candidate->registry, query->registry) != 0 ||
            compare_strings(candidate->repository, query->repository) != 0 ||
            !same_tag(candidate->tag, query->tag))
            continue;
        if (newest == NULL || candidate->last_seen_ms > newest->last_seen_ms)
            newest = candidate;
    }
    if (newest == NULL)
        return 0;
    *entry = *newest;
    memset(newest, 0, sizeof(*newest));
    return 1;
}

int image_list_find(redisContext *redis, const char *account,
                    const char *environment_id, const struct image_query *query,
                    int64_t now_ms, struct image_entry *entry, char *errbuf,
                    size_t errbuf_size)
{
    enum environment_kind kind;
    struct image_list list = {0};
    char reference[KEY_SIZE];
    int found;

    found = image_list_environment_kind(redis, account, environment_id, &kind,
                                        errbuf, errbuf_size);
    if (found <= 0)
        return found;
    if (format_key(reference, "%s/%s:%s", query->registry, query->repository,
                   query->tag ? query->tag : "latest") != 0) {
        snprintf(errbuf, errbuf_size, "image name too long");
        return -1;
    }

    found = 0;
    if (query->digest != NULL)
        found = load_member(redis, account, environment_id, kind, query->digest,
                            entry, errbuf, errbuf_size);
    if (found == 0)
        found = load_member(redis, account, environment_id, kind, reference,
                            entry, errbuf, errbuf_size);
    if (found == 0 && query->digest == NULL) {
        found = image_list_load(redis, account, environment_id, now_ms, &list,
                                errbuf, errbuf_size);
        if (found == 0)
            found = take_newest_match(&list, query, entry);
        image_list_clear(&list);
        return found;
    }
    if (found <= 0)
        return found;

    if (finish_entries(redis, account, entry, 1, now_ms, errbuf, errbuf_size) !=
        0) {
        image_entry_clear(entry);
        return -1;
    }
    return 1;
}

void image_entry_clear(struct image_entry *entry)
{
    free(entry->environment_id);
    free(entry->member);
    free(entry->registry);
    free(entry->repository);
    free(entry->tag);
    free(entry->digest);
    free(entry->platform);
    free(entry->manifest_digest);
    memset(entry, 0, sizeof(*entry));
}

void image_list_clear(struct image_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        image_entry_clear(&list->entries[i]);
    free(list->entries);
    memset(list, 0, sizeof(*list));
}
