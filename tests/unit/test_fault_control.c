/*
 * The dev broker's fault-injection commands, run against an in-process
 * mock cluster: valid commands take effect on a real client, invalid ones
 * are rejected with a reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "../../dev/fault_control.h"

#define TOPIC "faults.test"

struct cluster {
    rd_kafka_t *handle;
    rd_kafka_mock_cluster_t *mock;
};

static int cluster_start(void **state)
{
    struct cluster *cluster = calloc(1, sizeof(*cluster));
    char errbuf[256];

    cluster->handle =
        rd_kafka_new(RD_KAFKA_PRODUCER, NULL, errbuf, sizeof(errbuf));
    assert_non_null(cluster->handle);
    cluster->mock = rd_kafka_mock_cluster_new(cluster->handle, 3);
    assert_non_null(cluster->mock);
    assert_int_equal(rd_kafka_mock_topic_create(cluster->mock, TOPIC, 1, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    *state = cluster;
    return 0;
}

static int cluster_stop(void **state)
{
    struct cluster *cluster = *state;

    rd_kafka_mock_cluster_destroy(cluster->mock);
    rd_kafka_destroy(cluster->handle);
    free(cluster);
    return 0;
}

static void assert_accepted(struct cluster *cluster, const char *line)
{
    char reply[256];

    if (fault_control_execute(cluster->mock, line, reply, sizeof(reply)) != 0)
        fail_msg("\"%s\" was rejected: %s", line, reply);
    assert_string_equal(reply, "ok");
}

static void assert_rejected(struct cluster *cluster, const char *line,
                            const char *reason)
{
    char reply[256];

    assert_int_equal(
        fault_control_execute(cluster->mock, line, reply, sizeof(reply)), -1);
    if (strncmp(reply, "error: ", 7) != 0 || strstr(reply, reason) == NULL)
        fail_msg("\"%s\" gave \"%s\", expected an error with \"%s\"", line,
                 reply, reason);
}

static void on_delivery(rd_kafka_t *producer, const rd_kafka_message_t *message,
                        void *opaque)
{
    (void)producer;
    *(rd_kafka_resp_err_t *)opaque = message->err;
}

/* Produces one message without retries and returns its delivery error. */
static rd_kafka_resp_err_t produce_once(struct cluster *cluster)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_resp_err_t outcome = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    rd_kafka_t *producer;
    char errbuf[256];

    rd_kafka_conf_set(conf, "bootstrap.servers",
                      rd_kafka_mock_cluster_bootstraps(cluster->mock), errbuf,
                      sizeof(errbuf));
    rd_kafka_conf_set(conf, "message.send.max.retries", "0", errbuf,
                      sizeof(errbuf));
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &outcome);
    producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, sizeof(errbuf));
    assert_non_null(producer);

    assert_int_equal(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(TOPIC),
                                       RD_KAFKA_V_VALUE("x", 1),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_flush(producer, 10000);
    rd_kafka_destroy(producer);
    return outcome;
}

static void pushed_errors_fail_produce_requests(void **state)
{
    struct cluster *cluster = *state;

    assert_accepted(cluster, "errors produce 1 REQUEST_TIMED_OUT");
    assert_int_equal(produce_once(cluster),
                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    /* The pushed error is used up: the next request succeeds. */
    assert_int_equal(produce_once(cluster), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void error_codes_and_api_keys_by_number(void **state)
{
    struct cluster *cluster = *state;

    /* 0 is Produce; 7 is REQUEST_TIMED_OUT. */
    assert_accepted(cluster, "errors 0 1 7");
    assert_int_equal(produce_once(cluster),
                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
}

static void broker_commands_accepted(void **state)
{
    struct cluster *cluster = *state;

    assert_accepted(cluster, "down 1");
    assert_accepted(cluster, "up 1");
    assert_accepted(cluster, "down all");
    assert_accepted(cluster, "up all");
    assert_accepted(cluster, "rtt 2 50");
    assert_accepted(cluster, "rtt all 0\r\n");
    assert_int_equal(produce_once(cluster), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void invalid_commands_rejected(void **state)
{
    struct cluster *cluster = *state;

    assert_rejected(cluster, "", "empty command");
    assert_rejected(cluster, "reboot 1", "unknown command \"reboot\"");
    assert_rejected(cluster, "down", "usage: down|up");
    assert_rejected(cluster, "up one", "usage: down|up");
    assert_rejected(cluster, "down 1 2", "usage: down|up");
    assert_rejected(cluster, "rtt 1", "usage: rtt");
    assert_rejected(cluster, "rtt 1 -5", "usage: rtt");
    assert_rejected(cluster, "errors produce 0 REQUEST_TIMED_OUT",
                    "usage: errors");
    assert_rejected(cluster, "errors produce 1001 REQUEST_TIMED_OUT",
                    "usage: errors");
    assert_rejected(cluster, "errors teleport 1 REQUEST_TIMED_OUT",
                    "usage: errors");
    assert_rejected(cluster, "errors produce 1 NO_SUCH_ERROR", "usage: errors");
    assert_rejected(cluster, "errors produce 1", "usage: errors");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pushed_errors_fail_produce_requests),
        cmocka_unit_test(error_codes_and_api_keys_by_number),
        cmocka_unit_test(broker_commands_accepted),
        cmocka_unit_test(invalid_commands_rejected),
    };
    return cmocka_run_group_tests(tests, cluster_start, cluster_stop);
}
