/*
 * Entry layout, integers little-endian:
 *
 *   "IALC"  u32 version  u64 payload size  u32 CRC-32 of the payload
 *   zstd frame of the payload
 *
 * The payload is the layer's changes in the order they were made. Each is
 * a kind byte, then its path, then a target (symbolic and hard links) or
 * the file contents (kept files). Every string is a u32 length, its bytes
 * and a NUL that the length does not count.
 *
 * LOWER_ONLY in the kind byte marks a change that can only hide content
 * of lower layers: a whiteout, an opaque folder, or a folder or other
 * entry at a path where this layer put nothing before it. Most of a
 * layer's entries are such, and replaying onto an empty model (an image's
 * first layer) skips them.
 */
#include "layer_cache.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <isa-l/crc.h>
#include <zstd.h>

#include "redis_conn.h"

#define MAGIC "IALC"
#define HEADER_BYTES 20
#define ZSTD_LEVEL 3
#define REDIS_TIMEOUT_MS 2000
#define KEY_MAX 256
#define LOWER_ONLY 0x80

struct layer_record {
    unsigned char *data;
    size_t size;
    size_t capacity;
    bool unusable;
    /* Hashes of the paths this layer put a file or link at, and of their
     * folders: an open-addressing set, 0 marking a free slot. A collision
     * only keeps a change that could have been skipped. */
    uint64_t *upper_paths;
    size_t upper_count;
    size_t upper_slots; /* a power of two */
};

struct layer_cache {
    redisContext *redis;
    long ttl_s;
};

/* ---- Recording and encoding ------------------------------------------ */

struct layer_record *layer_record_new(void)
{
    return calloc(1, sizeof(struct layer_record));
}

void layer_record_free(struct layer_record *record)
{
    if (!record)
        return;
    free(record->upper_paths);
    free(record->data);
    free(record);
}

static uint64_t path_hash(const char *path, size_t length)
{
    uint64_t hash = 14695981039346656037ULL;

    for (size_t i = 0; i < length; i++) {
        hash ^= (unsigned char)path[i];
        hash *= 1099511628211ULL;
    }
    return hash ? hash : 1;
}

static bool upper_contains(const struct layer_record *record, uint64_t hash)
{
    if (record->upper_slots == 0)
        return false;

    size_t mask = record->upper_slots - 1;
    for (size_t i = hash & mask; record->upper_paths[i]; i = (i + 1) & mask) {
        if (record->upper_paths[i] == hash)
            return true;
    }
    return false;
}

static bool upper_insert(struct layer_record *record, uint64_t hash)
{
    if (upper_contains(record, hash))
        return true;
    if (2 * (record->upper_count + 1) > record->upper_slots) {
        size_t slots = record->upper_slots ? 2 * record->upper_slots : 1024;
        uint64_t *table = calloc(slots, sizeof(*table));
        if (!table)
            return false;
        for (size_t i = 0; i < record->upper_slots; i++) {
            uint64_t old = record->upper_paths[i];
            size_t at = old & (slots - 1);
            while (old && table[at])
                at = (at + 1) & (slots - 1);
            if (old)
                table[at] = old;
        }
        free(record->upper_paths);
        record->upper_paths = table;
        record->upper_slots = slots;
    }

    size_t at = hash & (record->upper_slots - 1);
    while (record->upper_paths[at])
        at = (at + 1) & (record->upper_slots - 1);
    record->upper_paths[at] = hash;
    record->upper_count++;
    return true;
}

/* Adds path and each folder above it, the image root "" included. */
static void upper_add(struct layer_record *record, const char *path)
{
    size_t length = strlen(path);

    for (;;) {
        if (!upper_insert(record, path_hash(path, length))) {
            record->unusable = true;
            return;
        }
        if (length == 0)
            return;
        while (length > 0 && path[length - 1] != '/')
            length--;
        if (length > 0)
            length--;
    }
}

/* Whether change can only hide lower layers' content. rootfs.c applies
 * whiteouts and opaque folders to lower layers only. A folder or other
 * entry replaces its own layer's content only at or above a path where
 * the layer put a file or link. */
static bool lower_only(const struct layer_record *record,
                       const struct rootfs_change *change)
{
    switch (change->kind) {
    case ROOTFS_CHANGE_WHITEOUT:
    case ROOTFS_CHANGE_OPAQUE:
        return true;
    case ROOTFS_CHANGE_DIRECTORY:
    case ROOTFS_CHANGE_OTHER:
        return !upper_contains(record,
                               path_hash(change->path, strlen(change->path)));
    default:
        return false;
    }
}

static bool record_reserve(struct layer_record *record, size_t more)
{
    if (record->unusable)
        return false;
    if (more > LAYER_CACHE_MAX_ENTRY_BYTES - record->size) {
        record->unusable = true;
        return false;
    }
    if (record->size + more <= record->capacity)
        return true;

    size_t capacity = record->capacity ? record->capacity * 2 : 65536;
    while (capacity < record->size + more)
        capacity *= 2;
    unsigned char *data = realloc(record->data, capacity);
    if (!data) {
        record->unusable = true;
        return false;
    }
    record->data = data;
    record->capacity = capacity;
    return true;
}

static void put_u32(unsigned char *out, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        out[i] = (unsigned char)(value >> (8 * i));
}

static uint32_t get_u32(const unsigned char *in)
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 |
           (uint32_t)in[3] << 24;
}

static void put_u64(unsigned char *out, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)(value >> (8 * i));
}

static uint64_t get_u64(const unsigned char *in)
{
    return (uint64_t)get_u32(in) | (uint64_t)get_u32(in + 4) << 32;
}

static void record_string(struct layer_record *record, const char *bytes,
                          size_t length)
{
    if (length > UINT32_MAX || !record_reserve(record, 4 + length + 1)) {
        record->unusable = true;
        return;
    }
    put_u32(record->data + record->size, (uint32_t)length);
    memcpy(record->data + record->size + 4, bytes, length);
    record->data[record->size + 4 + length] = '\0';
    record->size += 4 + length + 1;
}

void layer_record_add(void *context, const struct rootfs_change *change)
{
    struct layer_record *record = context;

    if (!record_reserve(record, 1))
        return;
    bool hides_only = lower_only(record, change);
    record->data[record->size++] =
        (unsigned char)change->kind | (hides_only ? LOWER_ONLY : 0);
    record_string(record, change->path, strlen(change->path));
    if (!hides_only && change->kind != ROOTFS_CHANGE_DIRECTORY &&
        change->kind != ROOTFS_CHANGE_OTHER)
        upper_add(record, change->path);

    switch (change->kind) {
    case ROOTFS_CHANGE_SYMLINK:
    case ROOTFS_CHANGE_HARDLINK:
        record_string(record, change->target, strlen(change->target));
        break;
    case ROOTFS_CHANGE_FILE:
        record_string(record, change->data, change->size);
        break;
    default:
        break;
    }
}

int layer_record_encode(const struct layer_record *record,
                        unsigned char **entry, size_t *size, char *errbuf,
                        size_t errbuf_size)
{
    *entry = NULL;
    *size = 0;
    if (record->unusable) {
        snprintf(errbuf, errbuf_size,
                 "the layer's analysis is over %zu bytes or ran out of "
                 "memory, so it is not cached",
                 LAYER_CACHE_MAX_ENTRY_BYTES);
        return -1;
    }

    size_t bound = HEADER_BYTES + ZSTD_compressBound(record->size);
    unsigned char *out = malloc(bound);
    if (!out) {
        snprintf(errbuf, errbuf_size, "out of memory encoding a layer entry");
        return -1;
    }

    size_t compressed = ZSTD_compress(out + HEADER_BYTES, bound - HEADER_BYTES,
                                      record->data, record->size, ZSTD_LEVEL);
    if (ZSTD_isError(compressed)) {
        snprintf(errbuf, errbuf_size, "compressing a layer entry failed: %s",
                 ZSTD_getErrorName(compressed));
        free(out);
        return -1;
    }

    memcpy(out, MAGIC, 4);
    put_u32(out + 4, LAYER_CACHE_FORMAT_VERSION);
    put_u64(out + 8, record->size);
    put_u32(out + 16, crc32_gzip_refl(0, record->data, record->size));
    *entry = out;
    *size = HEADER_BYTES + compressed;
    return 0;
}

/* ---- Decoding and applying --------------------------------------------- */

struct reader {
    const unsigned char *data;
    size_t size;
    size_t at;
};

/* Reads a string written by record_string(). Returns NULL when it runs
 * past the payload, lacks its NUL, or contains a NUL. */
static const char *read_string(struct reader *reader, size_t *length)
{
    if (reader->size - reader->at < 4)
        return NULL;
    size_t declared = get_u32(reader->data + reader->at);
    reader->at += 4;
    if (declared >= reader->size - reader->at)
        return NULL;

    const char *text = (const char *)reader->data + reader->at;
    if (text[declared] != '\0')
        return NULL;
    reader->at += declared + 1;
    *length = declared;
    return text;
}

/* A normalised path as layer_walk.c writes them: relative, without empty,
 * "." or ".." components. The rootfs_layer_* calls rely on it. */
static bool path_is_normal(const char *path, size_t length)
{
    size_t start = 0;

    if (length == 0)
        return true;
    for (size_t i = 0; i <= length; i++) {
        if (i < length && path[i] != '/') {
            if (path[i] == '\0')
                return false;
            continue;
        }

        size_t size = i - start;
        const char *component = path + start;
        if (size == 0 || (size == 1 && component[0] == '.') ||
            (size == 2 && component[0] == '.' && component[1] == '.'))
            return false;
        start = i + 1;
    }
    return true;
}

static enum layer_cache_apply_result invalid(char *errbuf, size_t errbuf_size,
                                             const char *reason)
{
    snprintf(errbuf, errbuf_size, "invalid layer cache entry: %s", reason);
    return LAYER_CACHE_INVALID;
}

/* Decompresses and checks the payload of entry into a malloc'd *payload. */
static enum layer_cache_apply_result
decode_payload(const unsigned char *entry, size_t size, unsigned char **payload,
               size_t *payload_size, char *errbuf, size_t errbuf_size)
{
    if (size < HEADER_BYTES || memcmp(entry, MAGIC, 4) != 0)
        return invalid(errbuf, errbuf_size, "no header");
    if (get_u32(entry + 4) != LAYER_CACHE_FORMAT_VERSION)
        return invalid(errbuf, errbuf_size, "another format version");

    uint64_t declared = get_u64(entry + 8);
    if (declared > LAYER_CACHE_MAX_ENTRY_BYTES)
        return invalid(errbuf, errbuf_size, "payload over the size cap");
    unsigned long long content =
        ZSTD_getFrameContentSize(entry + HEADER_BYTES, size - HEADER_BYTES);
    if (content != declared)
        return invalid(errbuf, errbuf_size,
                       "compressed size does not match the header");

    unsigned char *data = malloc(declared > 0 ? declared : 1);
    if (!data) {
        snprintf(errbuf, errbuf_size, "out of memory decoding a layer entry");
        return LAYER_CACHE_NO_MEMORY;
    }
    size_t done = ZSTD_decompress(data, declared, entry + HEADER_BYTES,
                                  size - HEADER_BYTES);
    if (ZSTD_isError(done) || done != declared ||
        crc32_gzip_refl(0, data, declared) != get_u32(entry + 16)) {
        free(data);
        return invalid(errbuf, errbuf_size,
                       "payload does not match its checksum");
    }
    *payload = data;
    *payload_size = declared;
    return LAYER_CACHE_APPLIED;
}

static bool has_path_only(enum rootfs_change_kind kind)
{
    return kind == ROOTFS_CHANGE_WHITEOUT || kind == ROOTFS_CHANGE_OPAQUE ||
           kind == ROOTFS_CHANGE_DIRECTORY || kind == ROOTFS_CHANGE_OTHER;
}

/* Reads one change into *change, and whether it only hides lower
 * layers' content into *hides_only. Such a change is not checked further
 * when skip_hidden is set, because it will not be applied. A kept file's
 * data is a malloc'd copy that rootfs_layer_apply() takes. */
static bool read_change(struct reader *reader, struct rootfs_change *change,
                        bool *hides_only, bool skip_hidden)
{
    size_t length;

    memset(change, 0, sizeof(*change));
    if (reader->at >= reader->size)
        return false;
    unsigned kind = reader->data[reader->at++];
    *hides_only = (kind & LOWER_ONLY) != 0;
    kind &= ~(unsigned)LOWER_ONLY;
    if (kind > ROOTFS_CHANGE_OPAQUE)
        return false;
    change->kind = (enum rootfs_change_kind)kind;
    if (*hides_only && !has_path_only(change->kind))
        return false;

    change->path = read_string(reader, &length);
    if (!change->path || (length == 0 && change->kind != ROOTFS_CHANGE_OPAQUE))
        return false;
    if (*hides_only && skip_hidden)
        return true;
    if (!path_is_normal(change->path, length))
        return false;

    if (change->kind == ROOTFS_CHANGE_SYMLINK ||
        change->kind == ROOTFS_CHANGE_HARDLINK) {
        change->target = read_string(reader, &length);
        return change->target && strlen(change->target) == length && length > 0;
    }
    if (change->kind == ROOTFS_CHANGE_FILE) {
        const char *data = read_string(reader, &length);
        if (!data || (change->data = malloc(length + 1)) == NULL)
            return false;
        memcpy(change->data, data, length + 1);
        change->size = length;
    }
    return true;
}

static enum layer_cache_apply_result from_rootfs(enum rootfs_status status)
{
    return status == ROOTFS_TOO_LARGE ? LAYER_CACHE_TOO_LARGE
                                      : LAYER_CACHE_NO_MEMORY;
}

enum layer_cache_apply_result layer_cache_apply(struct rootfs *fs,
                                                const unsigned char *entry,
                                                size_t size, char *errbuf,
                                                size_t errbuf_size)
{
    unsigned char *payload = NULL;
    size_t payload_size = 0;
    enum layer_cache_apply_result result = decode_payload(
        entry, size, &payload, &payload_size, errbuf, errbuf_size);
    if (result != LAYER_CACHE_APPLIED)
        return result;

    bool lower_empty = rootfs_is_empty(fs);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    if (!layer) {
        free(payload);
        snprintf(errbuf, errbuf_size, "out of memory applying a cached layer");
        return LAYER_CACHE_NO_MEMORY;
    }

    struct reader reader = {payload, payload_size, 0};
    while (result == LAYER_CACHE_APPLIED && reader.at < reader.size) {
        struct rootfs_change change;
        bool hides_only;
        if (!read_change(&reader, &change, &hides_only, lower_empty)) {
            free(change.data);
            result = invalid(errbuf, errbuf_size, "a change is malformed");
            break;
        }
        if (hides_only && lower_empty)
            continue;

        enum rootfs_status status =
            rootfs_layer_apply(layer, &change, NULL, errbuf, errbuf_size);
        if (status != ROOTFS_OK)
            result = from_rootfs(status);
    }

    if (result == LAYER_CACHE_APPLIED)
        rootfs_layer_commit(layer);
    else
        rootfs_layer_free(layer);
    free(payload);
    return result;
}

/* ---- Redis ------------------------------------------------------------- */

struct layer_cache *layer_cache_connect(const char *url, long ttl_s,
                                        char *errbuf, size_t errbuf_size)
{
    struct layer_cache *cache = calloc(1, sizeof(*cache));
    if (!cache) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }

    cache->ttl_s = ttl_s;
    cache->redis =
        redis_connect_url(url, REDIS_TIMEOUT_MS, errbuf, errbuf_size);
    if (!cache->redis) {
        free(cache);
        return NULL;
    }
    return cache;
}

void layer_cache_free(struct layer_cache *cache)
{
    if (!cache)
        return;
    if (cache->redis)
        redisFree(cache->redis);
    free(cache);
}

static void format_key(char *key, enum layer_cache_kind kind,
                       const char *digest)
{
    snprintf(key, KEY_MAX, "imgassure:%s:%s",
             kind == LAYER_CACHE_LAYER ? "layer" : "config", digest);
}

/* Closes the connection after a failure: a timed-out reply could
 * otherwise arrive as the reply to the next command. */
static int redis_failure(struct layer_cache *cache, redisReply *reply,
                         const char *command, char *errbuf, size_t errbuf_size)
{
    if (reply && reply->type == REDIS_REPLY_ERROR)
        snprintf(errbuf, errbuf_size, "Redis %s failed: %s", command,
                 reply->str);
    else
        snprintf(errbuf, errbuf_size, "Redis %s failed: %s", command,
                 cache->redis && cache->redis->errstr[0] ? cache->redis->errstr
                                                         : "no reply");
    if (reply)
        freeReplyObject(reply);
    if (cache->redis) {
        redisFree(cache->redis);
        cache->redis = NULL;
    }
    return -1;
}

/* A config is served by its sha256 digest, so the bytes prove themselves.
 * Entries under other digest algorithms read as misses. */
static bool matches_digest(const unsigned char *value, size_t size,
                           const char *digest)
{
    unsigned char hash[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];

    if (strncmp(digest, "sha256:", 7) != 0)
        return false;
    SHA256(value, size, hash);
    for (size_t i = 0; i < sizeof(hash); i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    return strcmp(hex, digest + 7) == 0;
}

int layer_cache_get(struct layer_cache *cache, enum layer_cache_kind kind,
                    const char *digest, unsigned char **value, size_t *size,
                    char *errbuf, size_t errbuf_size)
{
    char key[KEY_MAX];

    *value = NULL;
    *size = 0;
    if (!cache->redis) {
        snprintf(errbuf, errbuf_size, "Redis connection closed");
        return -1;
    }
    format_key(key, kind, digest);

    /* Both commands go out at once, saving a round trip per entry. An
     * entry in use stays; EXPIRE on a missing key does nothing. */
    redisReply *reply = NULL, *renewed = NULL;
    if (redisAppendCommand(cache->redis, "GET %s", key) != REDIS_OK ||
        redisAppendCommand(cache->redis, "EXPIRE %s %ld", key, cache->ttl_s) !=
            REDIS_OK ||
        redisGetReply(cache->redis, (void **)&reply) != REDIS_OK)
        return redis_failure(cache, reply, "GET", errbuf, errbuf_size);
    if (redisGetReply(cache->redis, (void **)&renewed) != REDIS_OK ||
        renewed->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(reply);
        return redis_failure(cache, renewed, "EXPIRE", errbuf, errbuf_size);
    }
    freeReplyObject(renewed);

    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL)
        return redis_failure(cache, reply, "GET", errbuf, errbuf_size);
    if (reply->type == REDIS_REPLY_NIL ||
        reply->len > LAYER_CACHE_MAX_ENTRY_BYTES) {
        freeReplyObject(reply);
        return 0;
    }

    *value = malloc(reply->len > 0 ? reply->len : 1);
    if (!*value) {
        freeReplyObject(reply);
        snprintf(errbuf, errbuf_size, "out of memory reading %s", key);
        return -1;
    }
    memcpy(*value, reply->str, reply->len);
    *size = reply->len;
    freeReplyObject(reply);

    if (kind == LAYER_CACHE_CONFIG && !matches_digest(*value, *size, digest)) {
        free(*value);
        *value = NULL;
        *size = 0;
        return 0;
    }
    return 1;
}

int layer_cache_put(struct layer_cache *cache, enum layer_cache_kind kind,
                    const char *digest, const unsigned char *value, size_t size,
                    char *errbuf, size_t errbuf_size)
{
    char key[KEY_MAX];

    if (!cache->redis) {
        snprintf(errbuf, errbuf_size, "Redis connection closed");
        return -1;
    }
    if (size > LAYER_CACHE_MAX_ENTRY_BYTES) {
        snprintf(errbuf, errbuf_size,
                 "entry of %zu bytes is over the cap of %zu bytes", size,
                 LAYER_CACHE_MAX_ENTRY_BYTES);
        return -1;
    }
    format_key(key, kind, digest);

    redisReply *reply = redisCommand(cache->redis, "SET %s %b EX %ld", key,
                                     value, size, cache->ttl_s);
    if (!reply || reply->type != REDIS_REPLY_STATUS)
        return redis_failure(cache, reply, "SET", errbuf, errbuf_size);
    freeReplyObject(reply);
    return 0;
}
