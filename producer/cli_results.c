/* `imgassure results`: read the results topic and print each result. */
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "kafka.h"
#include "result_format.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct option_spec results_options[] = {
    CLI_KAFKA_OPTIONS,
    {"follow", 'f', OPTION_FLAG, NULL, NULL, NULL,
     "keep waiting for new results instead of stopping at the end"},
    {"json", 'j', OPTION_FLAG, NULL, NULL, NULL,
     "print one JSON object per line instead of a table"},
    {"account", 'a', OPTION_STRING, NULL, NULL, "ACCOUNT",
     "only results of this account"},
    {"image", 'i', OPTION_STRING, NULL, NULL, "REGISTRY/REPOSITORY[:TAG]",
     "only results for this image name"},
    {"request-id", 0, OPTION_STRING, NULL, NULL, "UUID",
     "only results of this request"},
    {"limit", 'n', OPTION_INT, NULL, NULL, "COUNT",
     "stop after printing this many results"},
    {"until-status", 0, OPTION_STRING, NULL, NULL, "STATUS",
     "stop after printing a result with this status (e.g. SCANNED)"},
    {"timeout", 't', OPTION_INT, NULL, NULL, "SECONDS",
     "give up (exit 1) when no stop condition is met within this time"},
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

struct results_filter {
    const char *account;
    const char *image;
    const char *request_id;
    long limit;
    int has_until_status;
    enum scan_status until_status;
    int json;
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int signal_number)
{
    (void)signal_number;
    interrupted = 1;
}

static int image_matches(const struct image_location *image, const char *wanted)
{
    char name[1024];

    snprintf(name, sizeof(name), "%s/%s", image->registry, image->repository);
    if (strcmp(name, wanted) == 0)
        return 1;
    if (image->tag == NULL)
        return 0;
    snprintf(name, sizeof(name), "%s/%s:%s", image->registry, image->repository,
             image->tag);
    return strcmp(name, wanted) == 0;
}

static int result_wanted(const struct scan_result *result,
                         const struct results_filter *filter)
{
    if (filter->account != NULL &&
        strcmp(result->image.account, filter->account) != 0)
        return 0;
    if (filter->request_id != NULL &&
        (result->request_id == NULL ||
         strcmp(result->request_id, filter->request_id) != 0))
        return 0;
    if (filter->image != NULL && !image_matches(&result->image, filter->image))
        return 0;
    return 1;
}

/* Assigns every partition of the topic from its beginning. Without a
 * consumer group, reading never moves anyone's committed offsets. */
static int assign_all_partitions(rd_kafka_t *consumer, const char *topic,
                                 char *errbuf, size_t errbuf_size)
{
    const struct rd_kafka_metadata *metadata;
    rd_kafka_topic_t *handle = rd_kafka_topic_new(consumer, topic, NULL);
    rd_kafka_topic_partition_list_t *partitions;
    rd_kafka_resp_err_t error;

    error = rd_kafka_metadata(consumer, 0, handle, &metadata, 10000);
    rd_kafka_topic_destroy(handle);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR || metadata->topic_cnt != 1 ||
        metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_size, "cannot read metadata of topic %s: %s",
                 topic,
                 rd_kafka_err2str(error ? error : metadata->topics[0].err));
        if (error == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_metadata_destroy(metadata);
        return -1;
    }

    partitions =
        rd_kafka_topic_partition_list_new(metadata->topics[0].partition_cnt);
    for (int i = 0; i < metadata->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(partitions, topic,
                                          metadata->topics[0].partitions[i].id)
            ->offset = RD_KAFKA_OFFSET_BEGINNING;
    error = rd_kafka_assign(consumer, partitions);
    rd_kafka_topic_partition_list_destroy(partitions);
    rd_kafka_metadata_destroy(metadata);
    if (error != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errbuf, errbuf_size, "cannot assign %s: %s", topic,
                 rd_kafka_err2str(error));
        return -1;
    }
    return 0;
}

static rd_kafka_t *open_consumer(const struct option_values *values, int follow,
                                 char *errbuf, size_t errbuf_size)
{
    const char *const *properties;
    size_t property_count;
    rd_kafka_conf_t *conf;
    rd_kafka_t *consumer;
    char reason[256];
    char group[64];

    properties = options_get_list(values, "property", &property_count);
    conf = kafka_conf_new(options_get(values, "brokers"), properties,
                          property_count, errbuf, errbuf_size);
    if (conf == NULL)
        return NULL;
    if (!follow)
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    /* librdkafka wants a group id even for assigned partitions; this one
     * is never joined and, with auto commit off, never stores offsets. */
    snprintf(group, sizeof(group), "imgassure-results-%d", (int)getpid());
    rd_kafka_conf_set(conf, "group.id", group, NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);

    consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, reason, sizeof(reason));
    if (consumer == NULL) {
        snprintf(errbuf, errbuf_size, "cannot create Kafka consumer: %s",
                 reason);
        rd_kafka_conf_destroy(conf);
    }
    return consumer;
}

/* Prints one message when it is a wanted result. Returns 1 when it was
 * printed, 0 when filtered out or undecodable (reported on stderr). */
static int print_message(const rd_kafka_message_t *message,
                         const struct results_filter *filter,
                         struct scan_result *result)
{
    char errbuf[512];
    json_t *json;

    if (scan_result_decode(message->payload, message->len, result, errbuf,
                           sizeof(errbuf)) != 0) {
        fprintf(stderr,
                "imgassure results: skipped undecodable message at "
                "partition %d offset %lld: %s\n",
                message->partition, (long long)message->offset, errbuf);
        return 0;
    }
    if (!result_wanted(result, filter))
        return 0;

    if (!filter->json) {
        result_format_table_row(stdout, result);
    } else {
        json = result_format_json(result);
        if (json != NULL)
            json_dumpf(json, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(json);
    }
    fflush(stdout);
    return 1;
}

/* Returns the exit code at the end of the topic without --follow: a stop
 * condition that was asked for and not met is a failure. */
static int end_of_topic(const struct results_filter *filter, long printed)
{
    if (filter->has_until_status) {
        fprintf(stderr,
                "imgassure results: no %s result yet (add --follow to wait "
                "for one)\n",
                scan_status_name(filter->until_status));
        return CLI_EXIT_FAILURE;
    }
    if (filter->limit > 0 && printed < filter->limit) {
        fprintf(stderr,
                "imgassure results: only %ld of %ld results (add --follow to "
                "wait for more)\n",
                printed, filter->limit);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}

/* Consumes until a stop condition; returns the exit code. */
static int consume(rd_kafka_t *consumer, const struct results_filter *filter,
                   int follow, int partition_count, long timeout_s)
{
    int64_t deadline =
        timeout_s > 0 ? clock_monotonic_ms() + timeout_s * 1000 : 0;
    long printed = 0;
    int partitions_at_end = 0;

    while (!interrupted) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 200);
        struct scan_result result;
        int stop = 0;

        if (deadline != 0 && clock_monotonic_ms() > deadline) {
            fprintf(stderr, "imgassure results: timed out after %ld s\n",
                    timeout_s);
            return CLI_EXIT_FAILURE;
        }
        if (message == NULL)
            continue;
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(message);
            if (!follow && ++partitions_at_end >= partition_count)
                return end_of_topic(filter, printed);
            continue;
        }
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "imgassure results: %s\n",
                    rd_kafka_message_errstr(message));
            rd_kafka_message_destroy(message);
            continue;
        }

        memset(&result, 0, sizeof(result));
        if (print_message(message, filter, &result)) {
            printed++;
            stop = (filter->limit > 0 && printed >= filter->limit) ||
                   (filter->has_until_status &&
                    result.status == filter->until_status);
        }
        scan_result_clear(&result);
        rd_kafka_message_destroy(message);
        if (stop)
            return CLI_EXIT_OK;
    }
    /* Interrupted before a stop condition: a script must not go on as if
     * the result it waited for had arrived. */
    return CLI_EXIT_INTERRUPTED;
}

static int read_filter(const struct option_values *values,
                       struct results_filter *filter)
{
    const char *until = options_get(values, "until-status");

    memset(filter, 0, sizeof(*filter));
    filter->account = options_get(values, "account");
    filter->image = options_get(values, "image");
    filter->request_id = options_get(values, "request-id");
    filter->limit = options_get_int(values, "limit", 0);
    if (options_get(values, "limit") != NULL && filter->limit == 0)
        return cli_usage_error("results", "invalid --limit 0: give at least 1");
    filter->json = options_get(values, "json") != NULL;
    if (until != NULL) {
        if (scan_status_parse(until, &filter->until_status) != 0)
            return cli_usage_error(
                "results",
                "invalid --until-status '%s': use SCANNED, PENDING_SCAN, "
                "PARTIAL, UNSUPPORTED_OS, UNMATCHED, NOT_AN_IMAGE, "
                "NETWORK_ERROR, UNAUTHORIZED, INSUFFICIENT_RESOURCES, "
                "TIMEOUT or INTERNAL_ERROR",
                until);
        filter->has_until_status = 1;
    }
    return CLI_EXIT_OK;
}

static int count_partitions(rd_kafka_t *consumer)
{
    rd_kafka_topic_partition_list_t *assignment = NULL;
    int count = 0;

    if (rd_kafka_assignment(consumer, &assignment) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        count = assignment->cnt;
        rd_kafka_topic_partition_list_destroy(assignment);
    }
    return count;
}

int cli_results(int argc, char **argv)
{
    struct option_values values;
    struct results_filter filter;
    rd_kafka_t *consumer;
    char topic[256];
    char errbuf[512];
    int follow, exit_code;

    if (cli_parse("imgassure results [--follow] [--json] [OPTIONS]",
                  "Prints scan results from the results topic, oldest "
                  "first within each partition.",
                  results_options, COUNT(results_options), argc, argv, &values,
                  &exit_code) != 0)
        return exit_code;
    exit_code = read_filter(&values, &filter);
    if (exit_code != CLI_EXIT_OK)
        return exit_code;
    follow = options_get(&values, "follow") != NULL;
    if (kafka_topic_name(options_get(&values, "topic-prefix"),
                         KAFKA_TOPIC_SCAN_RESULTS, topic, sizeof(topic)) != 0)
        return cli_usage_error("results", "topic prefix too long");

    consumer = open_consumer(&values, follow, errbuf, sizeof(errbuf));
    if (consumer == NULL)
        return cli_usage_error("results", "%s", errbuf);
    if (assign_all_partitions(consumer, topic, errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "imgassure results: %s\n", errbuf);
        rd_kafka_destroy(consumer);
        return CLI_EXIT_FAILURE;
    }

    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    if (!filter.json)
        result_format_table_header(stdout);
    exit_code = consume(consumer, &filter, follow, count_partitions(consumer),
                        options_get_int(&values, "timeout", 0));
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return exit_code;
}
