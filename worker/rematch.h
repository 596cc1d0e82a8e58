/*
 * Matching stored inventories again when the vulnerability database
 * changes, without pulling any image. A worker whose database swapped to
 * a new version claims imgassure:rematch:VERSION (SET NX), so one worker
 * per version walks every image whose status is SCANNED. It matches the
 * packages of each last_scanned result against the new database. Only
 * where the findings changed does it publish and store a new SCANNED
 * result. Workers that start with a database do not walk: their
 * images were matched by the worker that loaded that version first, or
 * will be at their next scan.
 */
#ifndef IMGASSURE_REMATCH_H
#define IMGASSURE_REMATCH_H

#include "vulndb.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

struct rematch_config {
    const char *redis_url;
    const char *worker_id;
    rd_kafka_t *producer;
    const char *results_topic;
    const char *requests_topic; /* for ECS and Fargate requests released */
    int delivery_timeout_ms;
};

struct rematch;

/* Connects to Redis; db is the database the worker starts with. Returns
 * NULL with the reason in errbuf. The config's strings and producer must
 * outlive it. */
struct rematch *rematch_new(const struct rematch_config *config,
                            const struct vulndb *db, char *errbuf,
                            size_t errbuf_size);
void rematch_free(struct rematch *rematch);

/* Starts a walk when db's version differs from the last one seen and this
 * worker wins the claim, and does one page of a walk under way. db is the
 * worker's current database. Failures are logged. */
void rematch_tick(struct rematch *rematch, const struct vulndb *db);

#endif
