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
    rd_kafka_message_t *running; /* NULL while idle */
};

struct worker_pool {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a message queued, finished, or a stop */
    struct offset_tracker *tracker;
    worker_pool_handler handler;
    struct queued_message *head, *tail;
    int queued;
    int running;
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
    for (int i = 0; i < size; i++)
        pool->threads[i].pool = pool;
    return pool;
}

volatile sig_atomic_t *worker_pool_abort_flag(struct worker_pool *pool,
                                              int index)
{
    return &pool->threads[index].abort;
}

static rd_kafka_message_t *take(struct worker_pool *pool)
{
    struct queued_message *first = pool->head;
    rd_kafka_message_t *message = first->message;

    pool->head = first->next;
    if (pool->head == NULL)
        pool->tail = NULL;
    pool->queued--;
    free(first);
    return message;
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
        self->running = take(pool);
        self->abort = 0;
        pool->running++;
        pthread_mutex_unlock(&pool->lock);

        rd_kafka_message_t *message = self->running;
        int delivered = pool->handler(self->context, message);

        if (delivered)
            offset_tracker_finish(pool->tracker,
                                  rd_kafka_topic_name(message->rkt),
                                  message->partition, message->offset);
        rd_kafka_message_destroy(message);

        pthread_mutex_lock(&pool->lock);
        self->running = NULL;
        pool->running--;
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
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
}

int worker_pool_busy(struct worker_pool *pool)
{
    int busy;

    pthread_mutex_lock(&pool->lock);
    busy = pool->queued + pool->running;
    pthread_mutex_unlock(&pool->lock);
    return busy;
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
            rd_kafka_message_destroy(entry->message);
            free(entry);
            pool->queued--;
        } else {
            pool->tail = entry;
            link = &entry->next;
        }
    }
}

/* Counts running messages of the partition; with abort set, asks their
 * threads to give up. */
static int running_matches(struct worker_pool *pool, const char *topic,
                           int32_t partition, int abort)
{
    int count = 0;

    for (int i = 0; i < pool->size; i++) {
        struct pool_thread *thread = &pool->threads[i];

        if (thread->running == NULL ||
            !matches(thread->running, topic, partition))
            continue;
        count++;
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
    free(pool->threads);
    free(pool);
}
