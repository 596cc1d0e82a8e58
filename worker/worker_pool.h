/*
 * The threads that handle consumed messages, several at a time. The
 * consume loop submits each message; a free thread takes the oldest one,
 * runs the handler with the thread's own context and, when the handler
 * reports the message's outcome as delivered, marks its offset finished in
 * the offset tracker. Each thread has an abort flag the handler's scan and
 * backoff waits watch, so a revoked partition or a shutdown deadline can
 * end its work early.
 */
#ifndef IMGASSURE_WORKER_POOL_H
#define IMGASSURE_WORKER_POOL_H

#include "offset_tracker.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>

/* Handles count messages of one partition taken together (one, unless
 * the partition's topic is batched). Sets delivered[i] to 1 when message
 * i's outcome is delivered (commit it), or 0 when it was abandoned and
 * must be consumed again. */
typedef void (*worker_pool_handler)(void *context,
                                    rd_kafka_message_t *const *messages,
                                    int count, int *delivered);

struct worker_pool;

/* Creates size threads' state; they start with worker_pool_start. */
struct worker_pool *worker_pool_new(int size, struct offset_tracker *tracker);

/* The abort flag of thread index, for its context to watch. */
volatile sig_atomic_t *worker_pool_abort_flag(struct worker_pool *pool,
                                              int index);

/* Lets a thread that takes a message of topic also take up to max - 1
 * more queued messages of the same partition, so that their handling can
 * share round trips. Call before worker_pool_start; returns 0, or -1
 * without memory. */
int worker_pool_batch(struct worker_pool *pool, const char *topic, int max);

/* Starts the threads; contexts[i] goes to thread i's handler calls.
 * Returns 0, or -1 when a thread cannot be created. */
int worker_pool_start(struct worker_pool *pool, worker_pool_handler handler,
                      void *const *contexts);

/* Queues a message; the pool destroys it once handled or dropped. */
void worker_pool_submit(struct worker_pool *pool, rd_kafka_message_t *message);

/* Messages queued or being handled: all of them, or (batched 1) only
 * those of the batched topic. */
int worker_pool_busy(struct worker_pool *pool, int batched);

/* Waits up to timeout_ms until fewer than limit messages of the batched
 * topic are queued or being handled. Returns 1 when they are, else 0. */
int worker_pool_wait_batched(struct worker_pool *pool, int limit,
                             int timeout_ms);

/* Messages being handled. */
int worker_pool_running(struct worker_pool *pool);

/* While held, threads finish what they run but take nothing new. */
void worker_pool_hold(struct worker_pool *pool, int held);

/*
 * For one partition (topic NULL: all partitions; partition -1: all of the
 * topic's): drops queued messages, waits up to timeout_ms for running ones
 * to finish, then aborts the rest and waits for their threads to return.
 * Returns the number of messages aborted.
 */
int worker_pool_drain(struct worker_pool *pool, const char *topic,
                      int32_t partition, int timeout_ms);

/* Stops and joins the threads; queued messages are dropped. NULL is a
 * no-op. */
void worker_pool_free(struct worker_pool *pool);

#endif
