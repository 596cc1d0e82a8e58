/*
 * Scans shared by digest within an account. ECS and Fargate images are
 * not pulled, because the account's registry and Kubernetes scans cover
 * the digests their agents report. A request for one takes the account's
 * shared scan of its digest, or waits for one. A scan shared later sends
 * the waiting requests to scan.requests again, where they find it. A new
 * image in an environment that pulls takes a shared scan younger than the
 * rescan interval instead of pulling the same digest again. Scans are
 * never shared across accounts because every key carries the account.
 *
 * A shared scan of an index digest is for one platform. It is taken only
 * when the request names no platform or the same one.
 */
#ifndef IMGASSURE_DIGEST_MATCH_H
#define IMGASSURE_DIGEST_MATCH_H

#include "event.h"
#include "image_state.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/*
 * Fills result from the shared scan of the request's digest where one
 * applies. A taken scan gives a SCANNED result with that scan's content
 * and a detail naming its source, and the source environment goes to
 * scanned_from ("" otherwise). For an ECS or Fargate image without a
 * scan, the result is UNMATCHED (ECS) or PENDING_SCAN (Fargate) while the
 * request waits. A NEW_IMAGE request of an environment that pulls takes
 * a shared scan finished less than max_age_ms ago (0: never). Returns 1
 * when result is filled, 0 when the image must be pulled, -1 with the
 * reason in errbuf when Redis failed or memory ran out.
 */
int digest_match_take(struct image_state_store *store,
                      const struct scan_request *request, int64_t max_age_ms,
                      struct scan_result *result, char *scanned_from,
                      size_t scanned_from_size, char *errbuf,
                      size_t errbuf_size);

/*
 * Publishes the waiting requests that sharing result released to topic,
 * waits for Kafka to acknowledge them, then removes them from the waiting
 * sets. Returns 0, or -1 with the reason in errbuf; undelivered requests
 * stay waiting for the digest's next shared scan.
 */
int digest_match_release(struct image_state_store *store, rd_kafka_t *producer,
                         const char *topic, int timeout_ms,
                         const struct scan_result *result,
                         const struct waiting_requests *waiting, char *errbuf,
                         size_t errbuf_size);

#endif
