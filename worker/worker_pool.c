#include "worker_pool.h"

#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct queued_message {
    rd_kafka_message_t *message;
    struct queued_message *next;
};

struct pool_thread {
    struct worker_pool *pool;
    pthread_t thread;
    int started;
    void *context;
    volatile sig_atomic_t abort;
    rd_kafka_message_t **running; /* batch_max slots */
    int *delivered;
    int running_count; /* 0 while idle */
};

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a message queued, finished, or a stop */
    struct offset_tracker *tracker;
    worker_pool_handler handler;
    struct queued_message *head, *tail;
    int queued;
    int running;
    int queued_batched, running_batched;
    char *batch_topic; /* NULL: every message alone */
    int batch_max;
    int held;
    int stopping;
    int size;
    struct pool_thread *threads;
};

struct worker_pool *worker_pool_new(int size, struct offset_tracker *tracker)
{
    struct worker_pool *pool = calloc(1, sizeof(*pool));

    if (pool == NULL)
        return NULL;
    pool->threads = calloc((size_t)size, sizeof(*pool->threads));
    if (pool->threads == NULL) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->changed, NULL);
    pool->tracker = tracker;
    pool->size = size;
    pool->batch_max = 1;
    for (int i = 0; i < size; i++)
        pool->threads[i].pool = pool;
    return pool;
}

volatile sig_atomic_t *worker_pool_abort_flag(struct worker_pool *pool,
                                              int index)
{
    return &pool->threads[index].abort;
}

int worker_pool_batch(struct worker_pool *pool, const char *topic, int max)
{
    pool->batch_topic = strdup(topic);
    if (pool->batch_topic == NULL)
        return -1;
    pool->batch_max = max > 1 ? max : 1;
    return 0;
}

static int is_batched(const struct worker_pool *pool,
                      const rd_kafka_message_t *message)
{
    return pool->batch_topic != NULL &&
           strcmp(rd_kafka_topic_name(message->rkt), pool->batch_topic) == 0;
}

static int same_partition(const rd_kafka_message_t *a,
                          const rd_kafka_message_t *b)
{
    return a->rkt == b->rkt && a->partition == b->partition;
}

/* Unlinks the entry after *link (the head when link is NULL). */
static rd_kafka_message_t *unlink_entry(struct worker_pool *pool,
                                        struct queued_message *previous)
{
    struct queued_message **link =
        previous != NULL ? &previous->next : &pool->head;
    struct queued_message *entry = *link;
    rd_kafka_message_t *message = entry->message;

    *link = entry->next;
    if (pool->tail == entry)
        pool->tail = previous;
    pool->queued--;
    if (is_batched(pool, message))
        pool->queued_batched--;
    free(entry);
    return message;
}

/* Takes the oldest message and, when its topic is batched, the next
 * queued messages of its partition, in offset order. A batch keeps to one
 * partition so that aborting a revoked partition abandons no other's. */
static void take(struct worker_pool *pool, struct pool_thread *self)
{
    rd_kafka_message_t *first = unlink_entry(pool, NULL);
    struct queued_message *previous = NULL, *entry = pool->head;

    self->running[0] = first;
    self->running_count = 1;
    if (!is_batched(pool, first))
        return;
    while (entry != NULL && self->running_count < pool->batch_max) {
        struct queued_message *next = entry->next;

        if (same_partition(entry->message, first))
            self->running[self->running_count++] = unlink_entry(pool, previous);
        else
            previous = entry;
        entry = next;
    }
    pool->running_batched += self->running_count;
}

static void *thread_main(void *argument)
{
    struct pool_thread *self = argument;
    struct worker_pool *pool = self->pool;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->stopping && (pool->held || pool->head == NULL))
            pthread_cond_wait(&pool->changed, &pool->lock);
        if (pool->stopping)
            break;
        take(pool, self);
        self->abort = 0;
        pool->running += self->running_count;
        pthread_mutex_unlock(&pool->lock);

        int count = self->running_count;

        memset(self->delivered, 0, (size_t)count * sizeof(*self->delivered));
        pool->handler(self->context, self->running, count, self->delivered);
        for (int i = 0; i < count; i++) {
            rd_kafka_message_t *message = self->running[i];

            if (self->delivered[i])
                offset_tracker_finish(pool->tracker,
                                      rd_kafka_topic_name(message->rkt),
                                      message->partition, message->offset);
        }

        pthread_mutex_lock(&pool->lock);
        if (is_batched(pool, self->running[0]))
            pool->running_batched -= count;
        pool->running -= count;
        for (int i = 0; i < count; i++)
            rd_kafka_message_destroy(self->running[i]);
        self->running_count = 0;
        pthread_cond_broadcast(&pool->changed);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int worker_pool_start(struct worker_pool *pool, worker_pool_handler handler,
                      void *const *contexts)
{
    pool->handler = handler;
    for (int i = 0; i < pool->size; i++) {
        struct pool_thread *thread = &pool->threads[i];

        thread->running =
            calloc((size_t)pool->batch_max, sizeof(*thread->running));
        thread->delivered =
            calloc((size_t)pool->batch_max, sizeof(*thread->delivered));
        if (thread->running == NULL || thread->delivered == NULL)
            return -1;
        pool->threads[i].context = contexts[i];
        if (pthread_create(&pool->threads[i].thread, NULL, thread_main,
                           &pool->threads[i]) != 0)
            return -1;
        pool->threads[i].started = 1;
    }
    return 0;
}

void worker_pool_submit(struct worker_pool *pool, rd_kafka_message_t *message)
{
    struct queued_message *entry = malloc(sizeof(*entry));

    /* Without memory the message is left for redelivery: its offset stays
     * unfinished, so it is never committed. */
    if (entry == NULL) {
        rd_kafka_message_destroy(message);
        return;
    }
    entry->message = message;
    entry->next = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->tail != NULL)
        pool->tail->next = entry;
    else
        pool->head = entry;
    pool->tail = entry;
    pool->queued++;
    if (is_batched(pool, message))
        pool->queued_batched++;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
}

int worker_pool_busy(struct worker_pool *pool, int batched)
{
    int busy;

    pthread_mutex_lock(&pool->lock);
    busy = batched ? pool->queued_batched + pool->running_batched
                   : pool->queued + pool->running;
    pthread_mutex_unlock(&pool->lock);
    return busy;
}

static void wait_until(struct worker_pool *pool, int64_t deadline_ms);

int worker_pool_wait_batched(struct worker_pool *pool, int limit,
                             int timeout_ms)
{
    int64_t deadline_ms = clock_monotonic_ms() + timeout_ms;
    int below;

    pthread_mutex_lock(&pool->lock);
    while (pool->queued_batched + pool->running_batched >= limit &&
           clock_monotonic_ms() < deadline_ms)
        wait_until(pool, deadline_ms);
    below = pool->queued_batched + pool->running_batched < limit;
    pthread_mutex_unlock(&pool->lock);
    return below;
}

int worker_pool_running(struct worker_pool *pool)
{
    int running;

    pthread_mutex_lock(&pool->lock);
    running = pool->running;
    pthread_mutex_unlock(&pool->lock);
    return running;
}

void worker_pool_hold(struct worker_pool *pool, int held)
{
    pthread_mutex_lock(&pool->lock);
    pool->held = held;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
}

static int matches(const rd_kafka_message_t *message, const char *topic,
                   int32_t partition)
{
    if (topic == NULL)
        return 1;
    return strcmp(rd_kafka_topic_name(message->rkt), topic) == 0 &&
           (partition < 0 || message->partition == partition);
}

static void drop_queued(struct worker_pool *pool, const char *topic,
                        int32_t partition)
{
    struct queued_message **link = &pool->head;

    pool->tail = NULL;
    while (*link != NULL) {
        struct queued_message *entry = *link;

        if (matches(entry->message, topic, partition)) {
            *link = entry->next;
            if (is_batched(pool, entry->message))
                pool->queued_batched--;
            rd_kafka_message_destroy(entry->message);
            free(entry);
            pool->queued--;
        } else {
            pool->tail = entry;
            link = &entry->next;
        }
    }
}

/* Counts running messages of the partition and, with abort set, sets
 * their threads' abort flags. A batch comes from one partition, so its
 * first message's partition is that of the whole batch. */
static int running_matches(struct worker_pool *pool, const char *topic,
                           int32_t partition, int abort)
{
    int count = 0;

    for (int i = 0; i < pool->size; i++) {
        struct pool_thread *thread = &pool->threads[i];

        if (thread->running_count == 0 ||
            !matches(thread->running[0], topic, partition))
            continue;
        count += thread->running_count;
        if (abort)
            thread->abort = 1;
    }
    return count;
}

static void wait_until(struct worker_pool *pool, int64_t deadline_ms)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    int64_t left_ms = deadline_ms - clock_monotonic_ms();
    if (left_ms > 200)
        left_ms = 200;
    until.tv_sec += left_ms / 1000;
    until.tv_nsec += (left_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&pool->changed, &pool->lock, &until);
}

int worker_pool_drain(struct worker_pool *pool, const char *topic,
                      int32_t partition, int timeout_ms)
{
    int64_t deadline_ms = clock_monotonic_ms() + timeout_ms;
    int aborted = 0;

    pthread_mutex_lock(&pool->lock);
    drop_queued(pool, topic, partition);
    while (running_matches(pool, topic, partition, 0) > 0 &&
           clock_monotonic_ms() < deadline_ms)
        wait_until(pool, deadline_ms);

    aborted = running_matches(pool, topic, partition, 1);
    /* An aborted scan returns within moments: it checks its flag between
     * reads and the backoff waits check it every 100 ms. */
    while (running_matches(pool, topic, partition, 0) > 0)
        pthread_cond_wait(&pool->changed, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    return aborted;
}

void worker_pool_free(struct worker_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    drop_queued(pool, NULL, -1);
    for (int i = 0; i < pool->size; i++)
        pool->threads[i].abort = 1;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);

    for (int i = 0; i < pool->size; i++) {
        if (pool->threads[i].started)
            pthread_join(pool->threads[i].thread, NULL);
    }
    pthread_cond_destroy(&pool->changed);
    pthread_mutex_destroy(&pool->lock);
    for (int i = 0; i < pool->size; i++) {
        free(pool->threads[i].running);
        free(pool->threads[i].delivered);
    }
    free(pool->batch_topic);
    free(pool->threads);
    free(pool);
}
