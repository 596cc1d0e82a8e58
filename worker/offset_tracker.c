#include "offset_tracker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct tracked_message {
    int64_t offset;
    int finished;
};

struct tracked_partition {
    char *topic;
    int32_t partition;
    struct tracked_message *messages; /* oldest first */
    size_t count;
    size_t capacity;
    int64_t commit_point;    /* next offset to consume; -1: none yet */
    int64_t committed_point; /* the last one handed out for committing */
};

struct offset_tracker {
    pthread_mutex_t lock;
    struct tracked_partition *partitions;
    size_t count;
    size_t capacity;
};

struct offset_tracker *offset_tracker_new(void)
{
    struct offset_tracker *tracker = calloc(1, sizeof(*tracker));

    if (tracker != NULL)
        pthread_mutex_init(&tracker->lock, NULL);
    return tracker;
}

static void partition_clear(struct tracked_partition *partition)
{
    free(partition->topic);
    free(partition->messages);
}

void offset_tracker_free(struct offset_tracker *tracker)
{
    if (tracker == NULL)
        return;
    for (size_t i = 0; i < tracker->count; i++)
        partition_clear(&tracker->partitions[i]);
    free(tracker->partitions);
    pthread_mutex_destroy(&tracker->lock);
    free(tracker);
}

static struct tracked_partition *find(struct offset_tracker *tracker,
                                      const char *topic, int32_t partition)
{
    for (size_t i = 0; i < tracker->count; i++) {
        struct tracked_partition *entry = &tracker->partitions[i];

        if (entry->partition == partition && strcmp(entry->topic, topic) == 0)
            return entry;
    }
    return NULL;
}

static struct tracked_partition *find_or_add(struct offset_tracker *tracker,
                                             const char *topic,
                                             int32_t partition)
{
    struct tracked_partition *entry = find(tracker, topic, partition);

    if (entry != NULL)
        return entry;
    if (tracker->count == tracker->capacity) {
        size_t capacity = tracker->capacity ? tracker->capacity * 2 : 8;
        struct tracked_partition *grown =
            realloc(tracker->partitions, capacity * sizeof(*grown));

        if (grown == NULL)
            return NULL;
        tracker->partitions = grown;
        tracker->capacity = capacity;
    }
    entry = &tracker->partitions[tracker->count];
    memset(entry, 0, sizeof(*entry));
    entry->topic = strdup(topic);
    if (entry->topic == NULL)
        return NULL;
    entry->partition = partition;
    entry->commit_point = -1;
    entry->committed_point = -1;
    tracker->count++;
    return entry;
}

static int append(struct tracked_partition *entry, int64_t offset)
{
    /* A rewound partition hands out these offsets again. */
    while (entry->count > 0 &&
           entry->messages[entry->count - 1].offset >= offset)
        entry->count--;

    if (entry->count == entry->capacity) {
        size_t capacity = entry->capacity ? entry->capacity * 2 : 16;
        struct tracked_message *grown =
            realloc(entry->messages, capacity * sizeof(*grown));

        if (grown == NULL)
            return -1;
        entry->messages = grown;
        entry->capacity = capacity;
    }
    entry->messages[entry->count].offset = offset;
    entry->messages[entry->count].finished = 0;
    entry->count++;
    return 0;
}

int offset_tracker_start(struct offset_tracker *tracker, const char *topic,
                         int32_t partition, int64_t offset)
{
    struct tracked_partition *entry;
    int status = -1;

    pthread_mutex_lock(&tracker->lock);
    entry = find_or_add(tracker, topic, partition);
    if (entry != NULL)
        status = append(entry, offset);
    pthread_mutex_unlock(&tracker->lock);
    return status;
}

/* Drops the finished messages at the head; the commit point moves to the
 * one after the last of them. */
static void advance(struct tracked_partition *entry)
{
    size_t done = 0;

    while (done < entry->count && entry->messages[done].finished)
        done++;
    if (done == 0)
        return;
    entry->commit_point = entry->messages[done - 1].offset + 1;
    memmove(entry->messages, entry->messages + done,
            (entry->count - done) * sizeof(*entry->messages));
    entry->count -= done;
}

void offset_tracker_finish(struct offset_tracker *tracker, const char *topic,
                           int32_t partition, int64_t offset)
{
    struct tracked_partition *entry;

    pthread_mutex_lock(&tracker->lock);
    entry = find(tracker, topic, partition);
    for (size_t i = 0; entry != NULL && i < entry->count; i++) {
        if (entry->messages[i].offset == offset) {
            entry->messages[i].finished = 1;
            advance(entry);
            break;
        }
    }
    pthread_mutex_unlock(&tracker->lock);
}

static int selected(const struct tracked_partition *entry, const char *topic,
                    int32_t partition)
{
    if (topic == NULL)
        return 1;
    return strcmp(entry->topic, topic) == 0 &&
           (partition < 0 || entry->partition == partition);
}

rd_kafka_topic_partition_list_t *
offset_tracker_commits(struct offset_tracker *tracker, const char *topic,
                       int32_t partition)
{
    rd_kafka_topic_partition_list_t *list = NULL;

    pthread_mutex_lock(&tracker->lock);
    for (size_t i = 0; i < tracker->count; i++) {
        struct tracked_partition *entry = &tracker->partitions[i];

        if (!selected(entry, topic, partition) ||
            entry->commit_point <= entry->committed_point)
            continue;
        if (list == NULL)
            list = rd_kafka_topic_partition_list_new(4);
        rd_kafka_topic_partition_list_add(list, entry->topic, entry->partition)
            ->offset = entry->commit_point;
        entry->committed_point = entry->commit_point;
    }
    pthread_mutex_unlock(&tracker->lock);
    return list;
}

void offset_tracker_forget(struct offset_tracker *tracker, const char *topic,
                           int32_t partition)
{
    struct tracked_partition *entry;

    pthread_mutex_lock(&tracker->lock);
    entry = find(tracker, topic, partition);
    if (entry != NULL) {
        partition_clear(entry);
        *entry = tracker->partitions[--tracker->count];
    }
    pthread_mutex_unlock(&tracker->lock);
}

size_t offset_tracker_unfinished(struct offset_tracker *tracker)
{
    size_t unfinished = 0;

    pthread_mutex_lock(&tracker->lock);
    for (size_t i = 0; i < tracker->count; i++) {
        for (size_t j = 0; j < tracker->partitions[i].count; j++)
            unfinished += !tracker->partitions[i].messages[j].finished;
    }
    pthread_mutex_unlock(&tracker->lock);
    return unfinished;
}
