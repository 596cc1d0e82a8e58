/*
 * The images of an account as its Redis state describes them: every image
 * in a seen sorted set ("imgassure:{A}:seen:ENV") of an environment listed
 * in "imgassure:{A}:environments", with its state hash and whether it is
 * active now. Images never seen are not listed. No SCAN: the walk follows
 * those two keys only.
 */
#ifndef IMGASSURE_IMAGE_LIST_H
#define IMGASSURE_IMAGE_LIST_H

#include "event.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* One image in one environment. Strings are owned (malloc'd); a field the
 * hash lacks is NULL or 0. */
struct image_entry {
    char *environment_id;
    enum environment_kind kind;
    char *member; /* its seen-set member: digest or registry/repository:tag */
    char *registry;
    char *repository;
    char *tag;
    char *digest; /* the digest the agent saw */
    char *platform;
    char *manifest_digest; /* the platform manifest scanned */
    int has_status;        /* 0: no scan result recorded yet */
    enum scan_status status;
    int has_vulnerabilities; /* level and risk score are known */
    /* The last SCANNED result was not matched against a vulnerability
     * database, so it has no level or risk score. */
    int not_matched;
    enum severity vulnerability_level;
    double risk_score;
    int64_t last_seen_ms;
    int64_t last_running_ms;
    int64_t deleted_at_ms;
    int64_t last_scanned_at_ms;
    /* Newest RUNNING sighting of its digest anywhere in the account. */
    int64_t digest_running_ms;
    int active;
    /* The level and risk score come from an earlier SCANNED result, kept
     * while the latest scan failed. */
    int from_earlier_scan;
};

struct image_list {
    struct image_entry *entries;
    size_t count;
    size_t capacity;
};

/* The name a caller gives an image. digest may be NULL; tag NULL means
 * "latest", as image_state_key() stores it. */
struct image_query {
    const char *registry;
    const char *repository;
    const char *tag;
    const char *digest;
};

/*
 * Appends to list the images of account, of one environment or, when
 * environment_id is NULL, of all, sorted by environment, registry,
 * repository, tag and digest. Activity is decided at now_ms with the
 * account's settings. Returns 0, or -1 with the reason in errbuf; list then
 * contains what was read and must still be cleared.
 */
int image_list_load(redisContext *redis, const char *account,
                    const char *environment_id, int64_t now_ms,
                    struct image_list *list, char *errbuf, size_t errbuf_size);

/*
 * Finds the image a query names in one environment. With a digest, the
 * seen member is that digest, or the reference for an image seen without
 * one. Without a digest, the reference's member, else the most recently
 * seen image of that registry, repository and tag. Returns 1 and fills
 * entry (the caller clears it), 0 when the environment never saw it, or -1
 * with the reason in errbuf.
 */
int image_list_find(redisContext *redis, const char *account,
                    const char *environment_id, const struct image_query *query,
                    int64_t now_ms, struct image_entry *entry, char *errbuf,
                    size_t errbuf_size);

/* Reads the kind an environment was recorded with. Returns 1 and sets
 * *kind, 0 when the account never saw that environment, or -1 with the
 * reason in errbuf. */
int image_list_environment_kind(redisContext *redis, const char *account,
                                const char *environment_id,
                                enum environment_kind *kind, char *errbuf,
                                size_t errbuf_size);

void image_entry_clear(struct image_entry *entry);
void image_list_clear(struct image_list *list);

#endif
