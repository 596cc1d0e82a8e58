/*
 * Each image's state in Redis and the account-wide sets around it, as
 * docs/architecture.md ("Redis keys") lays them out. One hash per image
 * and environment, "imgassure:{ACCOUNT}:image:ENV:IMAGE" where IMAGE is
 * the digest, or registry/repository:tag while the digest is unknown. The
 * account sits in a hash tag so one account's keys share a Redis Cluster
 * slot, which lets one script update them together.
 *
 * Every rule takes its time from the caller (clock_now_ms()), never from
 * Redis, so that tests can move the clock.
 */
#ifndef IMGASSURE_IMAGE_STATE_H
#define IMGASSURE_IMAGE_STATE_H

#include "event.h"
#include "ids.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define IMAGE_STATE_ACCOUNTS_KEY "imgassure:accounts"

struct image_state_store;

/* Connects to Redis. Returns NULL with the reason in errbuf. The store is
 * owned by one thread. Free with image_state_free. */
struct image_state_store *image_state_connect(const char *redis_url,
                                              char *errbuf, size_t errbuf_size);
void image_state_free(struct image_state_store *store);

/* Returns a live connection, reconnecting after an earlier failure, or
 * NULL with the reason in errbuf. Valid until the next store call. */
redisContext *image_state_redis(struct image_state_store *store, char *errbuf,
                                size_t errbuf_size);

/* The worker's next step after a sighting. */
enum seen_decision {
    SEEN_NO_SCAN,
    SEEN_NEW_IMAGE, /* no status yet: request a scan, publish PENDING_SCAN */
    SEEN_RESCAN,    /* the last result is older than the rescan interval */
};

struct seen_outcome {
    enum seen_decision decision;
    char request_id[UUID_TEXT_SIZE]; /* the scan's request id, if any */
};

/*
 * Records a sighting in one script. It updates the image hash (only from
 * an event newer than what is stored), the environment's seen set, the
 * environments hash and the accounts set. A RUNNING sighting in
 * Kubernetes, ECS or Fargate also updates the running-digest set. The same
 * script decides whether a scan starts, so when many workers see one
 * image at once, only one requests a scan. A redelivered event gets the
 * decision it got the first time. request_id is the id to use when a
 * scan starts. rescan_interval_ms 0 turns rescans off. Returns 0, or -1
 * with the reason in errbuf when Redis fails; the store reconnects on the
 * next call.
 */
int image_state_record_seen(struct image_state_store *store,
                            const struct image_seen *event, int64_t now_ms,
                            int64_t rescan_interval_ms, const char *request_id,
                            struct seen_outcome *outcome, char *errbuf,
                            size_t errbuf_size);

/*
 * Records count sightings as image_state_record_seen does, sent to Redis
 * as one pipeline (EVALSHA, loading the script when Redis lacks it), and
 * fills outcomes[i] for events[i] with request_ids[i]. Events of one
 * image are applied in array order. Returns 0, or -1 with the reason in
 * errbuf when any call fails; each call is safe to repeat, so the caller
 * retries the whole batch.
 */
int image_state_record_seen_batch(struct image_state_store *store,
                                  const struct image_seen *events,
                                  const char (*request_ids)[UUID_TEXT_SIZE],
                                  size_t count, int64_t now_ms,
                                  int64_t rescan_interval_ms,
                                  struct seen_outcome *outcomes, char *errbuf,
                                  size_t errbuf_size);

/*
 * Notes, for each event whose outcome started a scan, that the scan's
 * request (and PENDING_SCAN result) reached Kafka, so that a redelivery
 * of the event gets SEEN_NO_SCAN instead of sending the request again.
 * Returns 0, or -1 with the reason in errbuf.
 */
int image_state_claims_delivered(struct image_state_store *store,
                                 const struct image_seen *events,
                                 const struct seen_outcome *outcomes,
                                 size_t count, char *errbuf,
                                 size_t errbuf_size);

/* Requests released when a result is shared: encoded ScanRequests of
 * ECS and Fargate images that waited for a scan of the same digest. */
struct waiting_requests {
    unsigned char **values;
    size_t *sizes;
    size_t count;
};

void waiting_requests_clear(struct waiting_requests *waiting);

/*
 * Stores a result as the image's current state; a PENDING_SCAN result
 * only where no scan wrote a status yet. A SCANNED result is also kept,
 * encoded, as the image's last_scanned (a later failed scan leaves it),
 * with its level and risk. scanned_from names the environment whose scan
 * an image took ("" for its own scan). The SCANNED result of a pull is
 * shared with the account's other images, stored under the seen and the
 * manifest digest. The requests that waited for it are returned in
 * *waiting. Pass NULL to store without sharing. A result that finished
 * before the stored one changes nothing, so storing a redelivered result
 * again is harmless. Returns 0, or -1 with the reason in errbuf.
 */
int image_state_record_result(struct image_state_store *store,
                              const struct scan_result *result,
                              const char *scanned_from,
                              struct waiting_requests *waiting, char *errbuf,
                              size_t errbuf_size);

/* Removes released requests from the waiting sets of digest (and of
 * manifest_digest, which may be NULL) once they are delivered. */
int image_state_release_waiting(struct image_state_store *store,
                                const char *account, const char *digest,
                                const char *manifest_digest,
                                const struct waiting_requests *waiting,
                                char *errbuf, size_t errbuf_size);

/*
 * Looks up the account's shared scan of digest for an image that is not
 * pulled. Found: *shared receives the encoded ScanResult (malloc'd) and
 * returns 1. Not found: the encoded request joins the digest's waiting
 * set in the same script, so a scan stored a moment later still releases
 * it, and returns 0. Returns -1 with the reason in errbuf.
 */
int image_state_find_shared(struct image_state_store *store,
                            const char *account, const char *digest,
                            const unsigned char *request, size_t request_size,
                            int64_t now_ms, unsigned char **shared,
                            size_t *shared_size, char *errbuf,
                            size_t errbuf_size);

/* Reads the account's shared scan of digest without waiting for one.
 * Returns 1 with the encoded ScanResult in *shared (malloc'd), 0 when
 * there is none, -1 with the reason in errbuf. */
int image_state_get_shared(struct image_state_store *store, const char *account,
                           const char *digest, unsigned char **shared,
                           size_t *shared_size, char *errbuf,
                           size_t errbuf_size);

/* The facts the sweeper reads, kept as stored text so that the delete
 * can check that none of them changed. */
struct image_snapshot {
    char last_seen_ms[24];
    char last_running_ms[24];
    char deleted_at_ms[24];
    char result_at_ms[24];
};

/*
 * Deletes an image's hash and its member of the environment's seen set,
 * but only when the facts still equal snapshot: a sighting or a result
 * since the sweeper read them keeps the image. Returns 1 when deleted, 0
 * when kept, -1 with the reason in errbuf.
 */
int image_state_delete_unchanged(struct image_state_store *store,
                                 const char *account, const char *environment,
                                 const char *member,
                                 const struct image_snapshot *snapshot,
                                 char *errbuf, size_t errbuf_size);

/* Writes the image's state key into out. Returns 0, or -1 when too long. */
int image_state_key(const struct image_location *image, char *out,
                    size_t out_size);

/* Writes IMAGE, the last part of the state key and the member of the
 * environment's seen set. Returns 0, or -1 when too long. */
int image_state_member(const struct image_location *image, char *out,
                       size_t out_size);

/* Returns 1 for the kinds whose images are matched by digest instead of
 * pulled (ECS, Fargate). */
int image_state_is_unpulled(enum environment_kind kind);

#endif
