/*
 * ECS and Fargate images are not pulled, because the account's registry
 * and Kubernetes scans cover the digests their agents report. A request
 * for one takes the account's shared scan of its digest, or waits for
 * one. A scan shared later sends the waiting requests to scan.requests
 * again, where they find it. Scans are never shared across accounts
 * because every key carries the account.
 */
#ifndef IMGASSURE_DIGEST_MATCH_H
#define IMGASSURE_DIGEST_MATCH_H

#include "event.h"
#include "image_state.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/*
 * Fills result for request (an ECS or Fargate image) from the shared scan
 * of its digest. With a scan, the result is SCANNED with that scan's
 * content and a detail naming its source. Without one, it is UNMATCHED
 * (ECS) or PENDING_SCAN (Fargate) while the request waits. The source
 * environment goes to scanned_from ("" when none). Returns 0, or -1 with
 * the reason in errbuf when Redis failed or memory ran out.
 */
int digest_match_fill(struct image_state_store *store,
                      const struct scan_request *request,
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
