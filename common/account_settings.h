/*
 * Per-account settings kept in Redis: the TTLs and the activity window
 * that decide when an image is active and when it is deleted. One hash
 * per account, "imgassure:{ACCOUNT}:settings", holding only the values an
 * operator set; everything else takes its default.
 */
#ifndef IMGASSURE_ACCOUNT_SETTINGS_H
#define IMGASSURE_ACCOUNT_SETTINGS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define ACCOUNT_KUBERNETES_TTL_DEFAULT_S (7 * 24 * 3600)
#define ACCOUNT_SHIFTLEFT_TTL_DEFAULT_S (30 * 24 * 3600)
#define ACCOUNT_ACTIVITY_WINDOW_DEFAULT_S 3600

struct account_settings {
    /* How long a Kubernetes, ECS or Fargate image stays after it became
     * inactive. */
    int64_t kubernetes_ttl_s;
    /* How long a ShiftLeft image stays after its last scan. */
    int64_t shiftleft_ttl_s;
    /* A workload seen running within this window keeps its image active. */
    int64_t activity_window_s;
};

/* The settings' names as `imgassure settings` and the Redis hash spell
 * them, NULL-terminated. */
extern const char *const account_setting_names[];

void account_settings_defaults(struct account_settings *settings);

/* Writes "imgassure:{ACCOUNT}:settings" into out. Returns 0, or -1 when it
 * does not fit. */
int account_settings_key(const char *account, char *out, size_t out_size);

/* Reads an account's settings, defaults filling what is unset. A stored
 * value that does not parse is reported, not replaced by its default.
 * Returns 0, or -1 with the reason in errbuf. */
int account_settings_load(redisContext *redis, const char *account,
                          struct account_settings *settings, char *errbuf,
                          size_t errbuf_size);

/* Validates and stores one setting: a whole number of seconds from 60 to
 * 10 years. Returns 0, or -1 with the reason in errbuf (an unknown name or
 * an invalid value changes nothing). */
int account_settings_set(redisContext *redis, const char *account,
                         const char *name, const char *value, char *errbuf,
                         size_t errbuf_size);

/* Parses a value as account_settings_set accepts it. Returns 0, or -1 with
 * the reason in errbuf. */
int account_setting_parse(const char *name, const char *value, int64_t *seconds,
                          char *errbuf, size_t errbuf_size);

/* Returns the named field of settings, or NULL for an unknown name. */
int64_t *account_setting_field(struct account_settings *settings,
                               const char *name);

#endif
