/*
 * The offset tracker: a partition's commit point never passes a message
 * that is not finished, whatever order messages finish in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "offset_tracker.h"

#define TOPIC "imgassure.scan.requests"

/* Returns the offset to commit for one partition, or -1 for none. */
static int64_t commit_point(struct offset_tracker *tracker, const char *topic,
                            int32_t partition)
{
    rd_kafka_topic_partition_list_t *list =
        offset_tracker_commits(tracker, topic, partition);
    int64_t offset = -1;

    if (list == NULL)
        return -1;
    assert_int_equal(list->cnt, 1);
    assert_string_equal(list->elems[0].topic, topic);
    assert_int_equal(list->elems[0].partition, partition);
    offset = list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    return offset;
}

static void start_all(struct offset_tracker *tracker, int32_t partition,
                      int64_t first, int64_t last)
{
    for (int64_t offset = first; offset <= last; offset++)
        assert_int_equal(
            offset_tracker_start(tracker, TOPIC, partition, offset), 0);
}

static void nothing_to_commit_before_a_finish(void **state)
{
    struct offset_tracker *tracker = offset_tracker_new();

    (void)state;
    start_all(tracker, 0, 10, 12);
    assert_int_equal(commit_point(tracker, TOPIC, 0), -1);
    assert_int_equal(offset_tracker_unfinished(tracker), 3);
    offset_tracker_free(tracker);
}

static void out_of_order_finish_waits_for_the_oldest(void **state)
{
    struct offset_tracker *tracker = offset_tracker_new();

    (void)state;
    start_all(tracker, 0, 10, 13);
    offset_tracker_finish(tracker, TOPIC, 0, 12);
    offset_tracker_finish(tracker, TOPIC, 0, 11);
    assert_int_equal(commit_point(tracker, TOPIC, 0), -1);

    offset_tracker_finish(tracker, TOPIC, 0, 10);
    assert_int_equal(commit_point(tracker, TOPIC, 0), 13);
    /* Handed out once: nothing moved since. */
    assert_int_equal(commit_point(tracker, TOPIC, 0), -1);

    offset_tracker_finish(tracker, TOPIC, 0, 13);
    assert_int_equal(commit_point(tracker, TOPIC, 0), 14);
    assert_int_equal(offset_tracker_unfinished(tracker), 0);
    offset_tracker_free(tracker);
}

static void abandoned_message_holds_the_commit_point(void **state)
{
    struct offset_tracker *tracker = offset_tracker_new();

    (void)state;
    start_all(tracker, 3, 0, 4);
    offset_tracker_finish(tracker, TOPIC, 3, 0);
    /* Offset 1 is abandoned: never finished. */
    offset_tracker_finish(tracker, TOPIC, 3, 2);
    offset_tracker_finish(tracker, TOPIC, 3, 3);
    offset_tracker_finish(tracker, TOPIC, 3, 4);
    assert_int_equal(commit_point(tracker, TOPIC, 3), 1);
    assert_int_equal(offset_tracker_unfinished(tracker), 1);
    offset_tracker_free(tracker);
}

static void partitions_and_topics_are_apart(void **state)
{
    struct offset_tracker *tracker = offset_tracker_new();
    rd_kafka_topic_partition_list_t *all;

    (void)state;
    start_all(tracker, 0, 5, 6);
    start_all(tracker, 1, 7, 8);
    assert_int_equal(offset_tracker_start(tracker, "other", 0, 100), 0);
    offset_tracker_finish(tracker, TOPIC, 1, 7);
    offset_tracker_finish(tracker, "other", 0, 100);
    offset_tracker_finish(tracker, TOPIC, 0, 6);

    assert_int_equal(commit_point(tracker, TOPIC, 0), -1);
    assert_int_equal(commit_point(tracker, "other", 0), 101);
    all = offset_tracker_commits(tracker, NULL, -1);
    assert_non_null(all);
    assert_int_equal(all->cnt, 1);
    assert_int_equal(all->elems[0].partition, 1);
    assert_int_equal(all->elems[0].offset, 8);
    rd_kafka_topic_partition_list_destroy(all);
    offset_tracker_free(tracker);
}

static void forgotten_partition_starts_afresh(void **state)
{
    struct offset_tracker *tracker = offset_tracker_new();

    (void)state;
    start_all(tracker, 2, 20, 21);
    offset_tracker_forget(tracker, TOPIC, 2);
    /* A late finish of a forgotten message changes nothing. */
    offset_tracker_finish(tracker, TOPIC, 2, 21);
    assert_int_equal(commit_point(tracker, TOPIC, 2), -1);
    assert_int_equal(offset_tracker_unfinished(tracker), 0);

    start_all(tracker, 2, 20, 20);
    offset_tracker_finish(tracker, TOPIC, 2, 20);
    assert_int_equal(commit_point(tracker, TOPIC, 2), 21);
    offset_tracker_free(tracker);
}

static void rewind_drops_later_offsets(void **state)
{
    struct offset_tracker *tracker = offset_tracker_new();

    (void)state;
    start_all(tracker, 0, 30, 33);
    start_all(tracker, 0, 31, 31);
    offset_tracker_finish(tracker, TOPIC, 0, 30);
    offset_tracker_finish(tracker, TOPIC, 0, 33);
    assert_int_equal(commit_point(tracker, TOPIC, 0), 31);
    assert_int_equal(offset_tracker_unfinished(tracker), 1);
    offset_tracker_finish(tracker, TOPIC, 0, 31);
    assert_int_equal(commit_point(tracker, TOPIC, 0), 32);
    offset_tracker_free(tracker);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_to_commit_before_a_finish),
        cmocka_unit_test(out_of_order_finish_waits_for_the_oldest),
        cmocka_unit_test(abandoned_message_holds_the_commit_point),
        cmocka_unit_test(partitions_and_topics_are_apart),
        cmocka_unit_test(forgotten_partition_starts_afresh),
        cmocka_unit_test(rewind_drops_later_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
