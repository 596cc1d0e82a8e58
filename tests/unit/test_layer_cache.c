/*
 * Layer records are made by applying changes to a real model with a
 * recorder set, then replayed onto another model. The Redis tests start
 * their own redis-server on a free loopback port (dev/free-port.sh) and
 * skip, saying why, when redis-server is not installed.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "layer_cache.h"
#include "rootfs.h"

#define TTL_S 3600

static pid_t redis_pid;
static char redis_url[64];
static int redis_port;

static void apply_ok(struct rootfs_layer *layer, enum rootfs_change_kind kind,
                     const char *path, const char *target, const char *text)
{
    struct rootfs_change change = {
        .kind = kind, .path = path, .target = target};
    char errbuf[256];

    if (text) {
        change.data = strdup(text);
        assert_non_null(change.data);
        change.size = strlen(text);
    }
    assert_int_equal(
        rootfs_layer_apply(layer, &change, NULL, errbuf, sizeof(errbuf)),
        ROOTFS_OK);
}

/* A base layer: os-release, a dpkg status file and links to them. */
static void apply_base(struct rootfs *fs)
{
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    apply_ok(layer, ROOTFS_CHANGE_DIRECTORY, "etc", NULL, NULL);
    apply_ok(layer, ROOTFS_CHANGE_FILE, "usr/lib/os-release", NULL,
             "ID=debian\n");
    apply_ok(layer, ROOTFS_CHANGE_SYMLINK, "etc/os-release",
             "../usr/lib/os-release", NULL);
    apply_ok(layer, ROOTFS_CHANGE_FILE, "var/lib/dpkg/status", NULL,
             "Package: base\n");
    apply_ok(layer, ROOTFS_CHANGE_FILE, "var/lib/apk/db/installed", NULL,
             "P:gone\n");
    rootfs_layer_commit(layer);
}

/* A layer with every kind of change, applied to fs; recorded into record
 * when it is not NULL. */
static void apply_top(struct rootfs *fs, struct layer_record *record)
{
    if (record)
        rootfs_set_recorder(fs, layer_record_add, record);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    apply_ok(layer, ROOTFS_CHANGE_WHITEOUT, "var/lib/apk", NULL, NULL);
    apply_ok(layer, ROOTFS_CHANGE_OPAQUE, "usr/lib", NULL, NULL);
    apply_ok(layer, ROOTFS_CHANGE_FILE, "usr/lib/os-release", NULL,
             "ID=debian\nVERSION_ID=\"12\"\n");
    apply_ok(layer, ROOTFS_CHANGE_FILE, "var/lib/dpkg/status", NULL,
             "Package: top\n");
    apply_ok(layer, ROOTFS_CHANGE_HARDLINK, "var/lib/dpkg/status.d/copy",
             "var/lib/dpkg/status", NULL);
    apply_ok(layer, ROOTFS_CHANGE_OTHER, "bin", NULL, NULL);
    apply_ok(layer, ROOTFS_CHANGE_SYMLINK, "lib", "usr/lib", NULL);
    rootfs_layer_commit(layer);
    rootfs_set_recorder(fs, NULL, NULL);
}

static void encode_top(unsigned char **entry, size_t *size)
{
    struct rootfs *scratch = rootfs_new(NULL);
    struct layer_record *record = layer_record_new();
    char errbuf[256];

    assert_non_null(scratch);
    assert_non_null(record);
    apply_base(scratch);
    apply_top(scratch, record);
    assert_int_equal(
        layer_record_encode(record, entry, size, errbuf, sizeof(errbuf)), 0);
    layer_record_free(record);
    rootfs_free(scratch);
}

static void assert_file(const struct rootfs *fs, const char *path,
                        const char *expected)
{
    const struct rootfs_file *file = rootfs_find(fs, path);

    if (!expected) {
        assert_null(file);
        return;
    }
    assert_non_null(file);
    assert_int_equal(file->size, strlen(expected));
    assert_string_equal(file->data, expected);
}

static void cache_replay_equals_walk(void **state)
{
    (void)state;
    unsigned char *entry;
    size_t size;
    char errbuf[256];
    encode_top(&entry, &size);

    struct rootfs *walked = rootfs_new(NULL);
    struct rootfs *replayed = rootfs_new(NULL);
    assert_non_null(walked);
    assert_non_null(replayed);
    apply_base(walked);
    apply_top(walked, NULL);
    apply_base(replayed);
    assert_int_equal(
        layer_cache_apply(replayed, entry, size, errbuf, sizeof(errbuf)),
        LAYER_CACHE_APPLIED);

    assert_int_equal(rootfs_file_count(replayed), rootfs_file_count(walked));
    assert_int_equal(rootfs_symlink_count(replayed),
                     rootfs_symlink_count(walked));
    const char *expected_os = "ID=debian\nVERSION_ID=\"12\"\n";
    assert_file(replayed, "etc/os-release", expected_os);
    assert_file(replayed, "lib/os-release", expected_os);
    assert_file(replayed, "var/lib/dpkg/status", "Package: top\n");
    assert_file(replayed, "var/lib/dpkg/status.d/copy", "Package: top\n");
    assert_file(replayed, "var/lib/apk/db/installed", NULL);
    assert_file(walked, "var/lib/dpkg/status.d/copy", "Package: top\n");

    rootfs_free(replayed);
    rootfs_free(walked);
    free(entry);
}

/* Later entries of one layer that replace its own earlier ones, which a
 * replay onto an empty model must not skip. */
static void apply_self_replacing(struct rootfs *fs, struct layer_record *record)
{
    if (record)
        rootfs_set_recorder(fs, layer_record_add, record);
    struct rootfs_layer *layer = rootfs_layer_new(fs);
    assert_non_null(layer);
    apply_ok(layer, ROOTFS_CHANGE_WHITEOUT, "usr/share/doc", NULL, NULL);
    apply_ok(layer, ROOTFS_CHANGE_OTHER, "usr/share/doc/copyright", NULL, NULL);
    apply_ok(layer, ROOTFS_CHANGE_FILE, "var/lib/dpkg/status", NULL,
             "Package: replaced\n");
    apply_ok(layer, ROOTFS_CHANGE_OTHER, "var/lib/dpkg/status", NULL, NULL);
    apply_ok(layer, ROOTFS_CHANGE_FILE, "var/lib/apk/db/installed", NULL,
             "P:removed\n");
    apply_ok(layer, ROOTFS_CHANGE_OTHER, "var/lib/apk", NULL, NULL);
    apply_ok(layer, ROOTFS_CHANGE_SYMLINK, "etc/os-release",
             "../usr/lib/os-release", NULL);
    apply_ok(layer, ROOTFS_CHANGE_DIRECTORY, "etc/os-release", NULL, NULL);
    apply_ok(layer, ROOTFS_CHANGE_FILE, "usr/lib/os-release", NULL,
             "ID=debian\n");
    apply_ok(layer, ROOTFS_CHANGE_SYMLINK, "lib", "usr/lib", NULL);
    rootfs_layer_commit(layer);
    rootfs_set_recorder(fs, NULL, NULL);
}

static void cache_replay_onto_empty_model(void **state)
{
    (void)state;
    struct rootfs *walked = rootfs_new(NULL);
    struct rootfs *replayed = rootfs_new(NULL);
    struct layer_record *record = layer_record_new();
    unsigned char *entry;
    size_t size;
    char errbuf[256];

    assert_non_null(walked);
    assert_non_null(replayed);
    assert_non_null(record);
    assert_true(rootfs_is_empty(walked));
    apply_self_replacing(walked, record);
    assert_false(rootfs_is_empty(walked));
    assert_int_equal(
        layer_record_encode(record, &entry, &size, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(
        layer_cache_apply(replayed, entry, size, errbuf, sizeof(errbuf)),
        LAYER_CACHE_APPLIED);

    assert_int_equal(rootfs_file_count(replayed), rootfs_file_count(walked));
    assert_int_equal(rootfs_symlink_count(replayed),
                     rootfs_symlink_count(walked));
    assert_file(replayed, "var/lib/dpkg/status", NULL);
    assert_file(replayed, "var/lib/apk/db/installed", NULL);
    assert_file(replayed, "etc/os-release", NULL);
    assert_file(replayed, "lib/os-release", "ID=debian\n");
    assert_file(walked, "lib/os-release", "ID=debian\n");

    free(entry);
    layer_record_free(record);
    rootfs_free(replayed);
    rootfs_free(walked);
}

/* Every damaged form is INVALID and leaves the model unchanged. */
static void cache_corrupt_entry_rejected(void **state)
{
    (void)state;
    unsigned char *entry;
    size_t size;
    char errbuf[256];
    encode_top(&entry, &size);

    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    apply_base(fs);
    size_t files = rootfs_file_count(fs);

    unsigned char *copy = malloc(size);
    assert_non_null(copy);
    struct {
        size_t offset; /* byte changed, or SIZE_MAX for a truncation */
        const char *reason;
    } damages[] = {
        {0, "no header"},
        {4, "another format version"},
        {11, "payload over the size cap"},
        {16, "checksum"},
        {size - 1, "checksum"},
        {SIZE_MAX, "checksum"},
    };
    for (size_t i = 0; i < sizeof(damages) / sizeof(damages[0]); i++) {
        memcpy(copy, entry, size);
        size_t used = size;
        if (damages[i].offset == SIZE_MAX)
            used = size / 2;
        else
            copy[damages[i].offset] ^= 0x5a;

        assert_int_equal(
            layer_cache_apply(fs, copy, used, errbuf, sizeof(errbuf)),
            LAYER_CACHE_INVALID);
        if (!strstr(errbuf, damages[i].reason))
            fail_msg("damage %zu: expected \"%s\" in: %s", i, damages[i].reason,
                     errbuf);
        assert_int_equal(rootfs_file_count(fs), files);
        assert_file(fs, "var/lib/dpkg/status", "Package: base\n");
    }

    free(copy);
    rootfs_free(fs);
    free(entry);
}

static void cache_oversized_record_not_encoded(void **state)
{
    (void)state;
    struct layer_record *record = layer_record_new();
    size_t big = LAYER_CACHE_MAX_ENTRY_BYTES / 2 + 1;
    char *data = malloc(big + 1);
    unsigned char *entry;
    size_t size;
    char errbuf[256];

    assert_non_null(record);
    assert_non_null(data);
    memset(data, 'x', big);
    data[big] = '\0';
    struct rootfs_change change = {.kind = ROOTFS_CHANGE_FILE,
                                   .path = "var/lib/dpkg/status",
                                   .data = data,
                                   .size = big};
    layer_record_add(record, &change);
    layer_record_add(record, &change);

    assert_int_equal(
        layer_record_encode(record, &entry, &size, errbuf, sizeof(errbuf)), -1);
    assert_null(entry);
    assert_non_null(strstr(errbuf, "not cached"));
    free(data);
    layer_record_free(record);
}

/* ---- Redis ------------------------------------------------------------- */

static int read_free_port(void)
{
    /* The tests run from the repository root (tests/run-unit.sh). */
    FILE *pipe = popen("dev/free-port.sh", "r");
    int port = 0;

    if (pipe) {
        if (fscanf(pipe, "%d", &port) != 1)
            port = 0;
        pclose(pipe);
    }
    return port;
}

static redisContext *admin_connect(void)
{
    redisContext *redis = redisConnect("127.0.0.1", redis_port);
    if (redis && redis->err) {
        redisFree(redis);
        return NULL;
    }
    return redis;
}

static int redis_setup(void **state)
{
    (void)state;
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        printf("skipping the Redis tests: redis-server is not installed "
               "(make deps)\n");
        return 0;
    }

    for (int attempt = 0; attempt < 5 && redis_pid == 0; attempt++) {
        redis_port = read_free_port();
        if (redis_port <= 0)
            continue;
        char port[16];
        snprintf(port, sizeof(port), "%d", redis_port);

        pid_t pid = fork();
        if (pid == 0) {
            /* Its start-up banner would bury the test output. */
            int null_fd = open("/dev/null", O_WRONLY);
            dup2(null_fd, STDOUT_FILENO);
            dup2(null_fd, STDERR_FILENO);
            execlp("redis-server", "redis-server", "--port", port, "--bind",
                   "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--loglevel", "warning", (char *)NULL);
            _exit(127);
        }
        for (int wait = 0; wait < 100; wait++) {
            redisContext *redis = admin_connect();
            if (redis) {
                redisFree(redis);
                redis_pid = pid;
                break;
            }
            if (waitpid(pid, NULL, WNOHANG) == pid)
                break;
            struct timespec pause = {0, 50 * 1000 * 1000};
            nanosleep(&pause, NULL);
        }
        if (redis_pid == 0) {
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
        }
    }
    if (redis_pid == 0) {
        fprintf(stderr, "redis-server did not start on a free port\n");
        return -1;
    }
    snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", redis_port);
    return 0;
}

static int redis_teardown(void **state)
{
    (void)state;
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
    return 0;
}

static long long admin_integer(const char *command, const char *key)
{
    redisContext *redis = admin_connect();
    assert_non_null(redis);
    redisReply *reply = redisCommand(redis, "%s %s", command, key);
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    long long value = reply->integer;
    freeReplyObject(reply);
    redisFree(redis);
    return value;
}

static void cache_redis_round_trip_sets_ttl(void **state)
{
    (void)state;
    if (redis_pid == 0)
        skip();
    const char *digest = "sha256:"
                         "1111111111111111111111111111111111111111111111111111"
                         "111111111111";
    const char *key = "imgassure:layer:sha256:"
                      "1111111111111111111111111111111111111111111111111111"
                      "111111111111";
    unsigned char *entry, *value;
    size_t size, value_size;
    char errbuf[256];
    encode_top(&entry, &size);

    struct layer_cache *cache =
        layer_cache_connect(redis_url, TTL_S, errbuf, sizeof(errbuf));
    assert_non_null(cache);
    assert_int_equal(layer_cache_get(cache, LAYER_CACHE_LAYER, digest, &value,
                                     &value_size, errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(layer_cache_put(cache, LAYER_CACHE_LAYER, digest, entry,
                                     size, errbuf, sizeof(errbuf)),
                     0);
    long long ttl = admin_integer("TTL", key);
    assert_true(ttl > TTL_S - 10 && ttl <= TTL_S);

    /* A read renews the entry's life. */
    redisContext *admin = admin_connect();
    assert_non_null(admin);
    freeReplyObject(redisCommand(admin, "EXPIRE %s 100", key));
    redisFree(admin);
    assert_int_equal(layer_cache_get(cache, LAYER_CACHE_LAYER, digest, &value,
                                     &value_size, errbuf, sizeof(errbuf)),
                     1);
    assert_true(admin_integer("TTL", key) > 100);
    assert_int_equal(value_size, size);
    assert_memory_equal(value, entry, size);

    struct rootfs *fs = rootfs_new(NULL);
    assert_non_null(fs);
    apply_base(fs);
    assert_int_equal(
        layer_cache_apply(fs, value, value_size, errbuf, sizeof(errbuf)),
        LAYER_CACHE_APPLIED);
    assert_file(fs, "var/lib/dpkg/status", "Package: top\n");

    rootfs_free(fs);
    free(value);
    free(entry);
    layer_cache_free(cache);
}

/* A cached config whose bytes do not hash to its digest is a miss. */
static void cache_config_checked_by_digest(void **state)
{
    (void)state;
    if (redis_pid == 0)
        skip();
    const unsigned char config[] = "{\"os\":\"linux\"}";
    unsigned char hash[SHA256_DIGEST_LENGTH];
    char digest[80] = "sha256:";
    unsigned char *value;
    size_t size;
    char errbuf[256];

    SHA256(config, sizeof(config) - 1, hash);
    for (size_t i = 0; i < sizeof(hash); i++)
        snprintf(digest + 7 + 2 * i, 3, "%02x", hash[i]);

    struct layer_cache *cache =
        layer_cache_connect(redis_url, TTL_S, errbuf, sizeof(errbuf));
    assert_non_null(cache);
    assert_int_equal(layer_cache_put(cache, LAYER_CACHE_CONFIG, digest, config,
                                     sizeof(config) - 1, errbuf,
                                     sizeof(errbuf)),
                     0);
    assert_int_equal(layer_cache_get(cache, LAYER_CACHE_CONFIG, digest, &value,
                                     &size, errbuf, sizeof(errbuf)),
                     1);
    assert_int_equal(size, sizeof(config) - 1);
    free(value);

    const unsigned char forged[] = "{\"os\":\"windows\"}";
    assert_int_equal(layer_cache_put(cache, LAYER_CACHE_CONFIG, digest, forged,
                                     sizeof(forged) - 1, errbuf,
                                     sizeof(errbuf)),
                     0);
    assert_int_equal(layer_cache_get(cache, LAYER_CACHE_CONFIG, digest, &value,
                                     &size, errbuf, sizeof(errbuf)),
                     0);
    assert_null(value);
    layer_cache_free(cache);
}

static void cache_unreachable_redis_fails_connect(void **state)
{
    (void)state;
    int port = read_free_port();
    char url[64], errbuf[256];

    if (port <= 0)
        skip();
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    struct layer_cache *cache =
        layer_cache_connect(url, TTL_S, errbuf, sizeof(errbuf));
    assert_null(cache);
    assert_true(strlen(errbuf) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cache_replay_equals_walk),
        cmocka_unit_test(cache_replay_onto_empty_model),
        cmocka_unit_test(cache_corrupt_entry_rejected),
        cmocka_unit_test(cache_oversized_record_not_encoded),
        cmocka_unit_test(cache_redis_round_trip_sets_ttl),
        cmocka_unit_test(cache_config_checked_by_digest),
        cmocka_unit_test(cache_unreachable_redis_fails_connect),
    };

    return cmocka_run_group_tests(tests, redis_setup, redis_teardown);
}
