/*
 * Each image's state in Redis: when it was last seen and the status of
 * its latest scan. One hash per image and environment, keyed
 * "imgassure:{ACCOUNT}:image:ENV:IMAGE" where IMAGE is the digest, or
 * registry/repository:tag while the digest is unknown. The account sits
 * in a hash tag so one account's keys share a Redis Cluster slot.
 */
#ifndef IMGASSURE_IMAGE_STATE_H
#define IMGASSURE_IMAGE_STATE_H

#include "event.h"

#include <stddef.h>

struct image_state_store;

/* Connects to Redis. Returns NULL with the reason in errbuf. The store is
 * owned by one thread. Free with image_state_free. */
struct image_state_store *image_state_connect(const char *redis_url,
                                              char *errbuf, size_t errbuf_size);
void image_state_free(struct image_state_store *store);

/*
 * Records a sighting: the last-seen time only moves forward, so an event
 * older than what is stored changes nothing. Sets *needs_scan to 1 when
 * the image has no status yet (never scanned, nor a scan requested).
 * Returns 0, or -1 with the reason in errbuf when Redis fails; the store
 * reconnects on the next call.
 */
int image_state_record_seen(struct image_state_store *store,
                            const struct image_seen *event, int *needs_scan,
                            char *errbuf, size_t errbuf_size);

/* Stores a result's status, detail, request id and time as the image's
 * current state; a PENDING_SCAN result only where no status exists yet,
 * and no result that finished before the stored one, so storing a
 * redelivered result again changes nothing. Returns 0, or -1 with the
 * reason in errbuf. */
int image_state_record_result(struct image_state_store *store,
                              const struct scan_result *result, char *errbuf,
                              size_t errbuf_size);

/* Writes the image's state key into out. Returns 0, or -1 when too long. */
int image_state_key(const struct image_location *image, char *out,
                    size_t out_size);

#endif
