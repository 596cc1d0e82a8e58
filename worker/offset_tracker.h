/*
 * Tracking of the offsets of each partition that may be committed while
 * several messages of it are in flight at once. A partition's commit point is
 * the offset of its oldest message not yet finished: a message finished out of
 * order waits for every earlier one, so a crash never skips an unfinished
 * message. A message abandoned (shutdown, revoked partition) stays
 * unfinished, so the commit point never passes it.
 *
 * Safe to call from several threads; one mutex guards everything.
 */
#ifndef IMGASSURE_OFFSET_TRACKER_H
#define IMGASSURE_OFFSET_TRACKER_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

struct offset_tracker;

struct offset_tracker *offset_tracker_new(void);
void offset_tracker_free(struct offset_tracker *tracker);

/* Records a message handed out. Offsets of one partition arrive in
 * increasing order; an offset at or below one already tracked means the
 * partition was rewound, and the later entries are dropped. Returns 0, or
 * -1 when out of memory. */
int offset_tracker_start(struct offset_tracker *tracker, const char *topic,
                         int32_t partition, int64_t offset);

/* Marks a tracked message finished: its outcome is delivered. Unknown
 * messages (of a partition forgotten since) are ignored. */
void offset_tracker_finish(struct offset_tracker *tracker, const char *topic,
                           int32_t partition, int64_t offset);

/*
 * Returns the partitions whose commit point moved since the last call,
 * each with the offset to commit (the next one to consume), or NULL when
 * none moved. topic may be NULL for every partition, else only that
 * topic's partition (-1: all of its partitions). The caller commits and
 * destroys the list.
 */
rd_kafka_topic_partition_list_t *
offset_tracker_commits(struct offset_tracker *tracker, const char *topic,
                       int32_t partition);

/* Drops a partition (revoked, or assigned afresh). */
void offset_tracker_forget(struct offset_tracker *tracker, const char *topic,
                           int32_t partition);

/* Counts the tracked messages not finished yet. */
size_t offset_tracker_unfinished(struct offset_tracker *tracker);

#endif
