/*
 * Tests of imgassure-dev-broker as a process: they start the built binary
 * ($IMGASSURE_BUILD/imgassure-dev-broker, default build/), talk Kafka to it
 * with librdkafka and stop it with SIGTERM. They skip with a printed reason
 * when the binary has not been built.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#define MAX_ARGUMENTS 16
#define STARTUP_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000
#define KAFKA_TIMEOUT_MS 10000
#define CONSUME_TIMEOUT_MS 30000

struct broker_process {
    pid_t pid;
    char directory[64];
    char bootstrap_file[128];
    char bootstraps[1024];
};

/* NULL-terminated "NAME=value" strings set in the broker's environment. */
struct broker_launch {
    const char *arguments[MAX_ARGUMENTS];
    const char *environment[4];
};

static const char *const broker_variables[] = {
    "IMGASSURE_DEV_BROKER_COUNT",       "IMGASSURE_DEV_PARTITIONS",
    "IMGASSURE_DEV_REPLICATION_FACTOR", "IMGASSURE_TOPIC_PREFIX",
    "IMGASSURE_DEV_BOOTSTRAP_FILE",     "IMGASSURE_LOG_LEVEL",
};

static char broker_binary[PATH_MAX];

/* The broker a test started and has not stopped yet, so that teardown can
 * stop it when an assertion ends the test early. */
static struct broker_process *running_broker;

static int find_broker_binary(void **state)
{
    const char *build = getenv("IMGASSURE_BUILD");

    (void)state;
    if (build == NULL || build[0] == '\0')
        build = "build";
    snprintf(broker_binary, sizeof(broker_binary), "%s/imgassure-dev-broker",
             build);
    return 0;
}

static void skip_without_binary(void)
{
    if (access(broker_binary, X_OK) != 0) {
        print_message("skipped: %s not found (run make first)\n",
                      broker_binary);
        skip();
    }
}

static int64_t monotonic_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&pause, NULL);
}

/* Reads at most size - 1 bytes of a small file, without a trailing newline.
 * Returns 0, or -1 when the file cannot be read. */
static int read_small_file(const char *path, char *text, size_t size)
{
    FILE *file = fopen(path, "r");
    size_t length;

    if (file == NULL)
        return -1;
    length = fread(text, 1, size - 1, file);
    fclose(file);
    text[length] = '\0';
    while (length > 0 && text[length - 1] == '\n')
        text[--length] = '\0';
    return 0;
}

/* Forks and runs the broker with its output in files of directory. */
static pid_t spawn_broker(const struct broker_launch *launch,
                          const char *directory)
{
    const char *argv[MAX_ARGUMENTS + 2];
    char stdout_path[128];
    char stderr_path[128];
    size_t i;
    pid_t pid;

    argv[0] = broker_binary;
    for (i = 0; i < MAX_ARGUMENTS && launch->arguments[i] != NULL; i++)
        argv[i + 1] = launch->arguments[i];
    argv[i + 1] = NULL;
    snprintf(stdout_path, sizeof(stdout_path), "%s/stdout", directory);
    snprintf(stderr_path, sizeof(stderr_path), "%s/stderr", directory);

    pid = fork();
    if (pid != 0)
        return pid;

    /* A developer's shell may export these after sourcing a stack's env
     * file, and each test sets only the ones it is about. */
    for (i = 0; i < sizeof(broker_variables) / sizeof(broker_variables[0]); i++)
        unsetenv(broker_variables[i]);
    for (i = 0; launch->environment[i] != NULL; i++)
        putenv((char *)launch->environment[i]);
    if (freopen(stdout_path, "w", stdout) == NULL ||
        freopen(stderr_path, "w", stderr) == NULL)
        _exit(127);
    execv(broker_binary, (char *const *)argv);
    _exit(127);
}

/* Waits for pid to exit and returns its exit status, or -1 after
 * timeout_ms (the process is then killed). */
static int wait_for_exit(pid_t pid, int64_t timeout_ms)
{
    int64_t deadline = monotonic_ms() + timeout_ms;
    int status;

    while (monotonic_ms() < deadline) {
        pid_t done = waitpid(pid, &status, WNOHANG);

        if (done == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void make_directory(char *directory, size_t size)
{
    snprintf(directory, size, "/tmp/imgassure-broker-test.XXXXXX");
    assert_non_null(mkdtemp(directory));
}

static void remove_directory(const char *directory)
{
    const char *names[] = {"stdout", "stderr", "bootstrap"};
    char path[128];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", directory, names[i]);
        unlink(path);
    }
    rmdir(directory);
}

/* Starts the broker with a bootstrap file and waits until the file contains
 * the bootstrap list. */
static void broker_start(struct broker_process *broker,
                         struct broker_launch *launch)
{
    size_t count = 0;
    int64_t deadline;

    make_directory(broker->directory, sizeof(broker->directory));
    snprintf(broker->bootstrap_file, sizeof(broker->bootstrap_file),
             "%s/bootstrap", broker->directory);
    while (launch->arguments[count] != NULL)
        count++;
    assert_true(count + 2 <= MAX_ARGUMENTS);
    launch->arguments[count] = "--bootstrap-file";
    launch->arguments[count + 1] = broker->bootstrap_file;

    broker->pid = spawn_broker(launch, broker->directory);
    assert_true(broker->pid > 0);
    running_broker = broker;

    deadline = monotonic_ms() + STARTUP_TIMEOUT_MS;
    while (read_small_file(broker->bootstrap_file, broker->bootstraps,
                           sizeof(broker->bootstraps)) != 0) {
        assert_true(monotonic_ms() < deadline);
        assert_int_equal(waitpid(broker->pid, NULL, WNOHANG), 0);
        sleep_ms(20);
    }
}

/* Stops the broker with SIGTERM and returns its exit status. The caller
 * removes its directory with broker_clean. */
static int broker_signal_and_wait(struct broker_process *broker)
{
    running_broker = NULL;
    kill(broker->pid, SIGTERM);
    return wait_for_exit(broker->pid, STOP_TIMEOUT_MS);
}

static void broker_clean(struct broker_process *broker)
{
    remove_directory(broker->directory);
}

/* Stops the broker, removes its directory and returns its exit status. */
static int broker_stop(struct broker_process *broker)
{
    int status = broker_signal_and_wait(broker);

    broker_clean(broker);
    return status;
}

static int stop_running_broker(void **state)
{
    (void)state;
    if (running_broker != NULL)
        broker_stop(running_broker);
    return 0;
}

/* Runs the broker, which is expected to exit by itself, and returns its
 * exit status with its standard error in errtext. */
static int broker_run_to_exit(struct broker_launch *launch, char *errtext,
                              size_t errtext_size)
{
    char directory[64];
    char stderr_path[128];
    pid_t pid;
    int status;

    make_directory(directory, sizeof(directory));
    pid = spawn_broker(launch, directory);
    assert_true(pid > 0);
    status = wait_for_exit(pid, STOP_TIMEOUT_MS);

    snprintf(stderr_path, sizeof(stderr_path), "%s/stderr", directory);
    assert_int_equal(read_small_file(stderr_path, errtext, errtext_size), 0);
    remove_directory(directory);
    return status;
}

static rd_kafka_t *client_new(rd_kafka_type_t type, const char *bootstraps,
                              const char *group_id)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    rd_kafka_t *rk;

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps,
                                       errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    if (group_id != NULL) {
        assert_int_equal(rd_kafka_conf_set(conf, "group.id", group_id, errstr,
                                           sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
        assert_int_equal(rd_kafka_conf_set(conf, "auto.offset.reset",
                                           "earliest", errstr, sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
        assert_int_equal(rd_kafka_conf_set(conf, "enable.auto.commit", "false",
                                           errstr, sizeof(errstr)),
                         RD_KAFKA_CONF_OK);
    }

    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (rk == NULL)
        fail_msg("rd_kafka_new failed: %s", errstr);
    return rk;
}

static const rd_kafka_metadata_topic_t *
find_topic(const rd_kafka_metadata_t *metadata, const char *name)
{
    int i;

    for (i = 0; i < metadata->topic_cnt; i++) {
        if (strcmp(metadata->topics[i].topic, name) == 0)
            return &metadata->topics[i];
    }
    return NULL;
}

/* Checks the broker count of the cluster at bootstraps, and that every
 * imgassure topic and its .dlq exist with the given partitions and
 * replicas per partition. */
static void check_topics(const char *bootstraps, const char *prefix,
                         int brokers, int partitions, int replicas)
{
    static const char *const names[] = {
        "images.seen",       "images.seen.dlq",    "scan.requests",
        "scan.requests.dlq", "scan.results",       "scan.results.dlq",
        "images.removed",    "images.removed.dlq",
    };
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, bootstraps, NULL);
    const struct rd_kafka_metadata *metadata = NULL;
    size_t i;
    int p;

    assert_int_equal(
        rd_kafka_metadata(rk, 1, NULL, &metadata, KAFKA_TIMEOUT_MS),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(metadata->broker_cnt, brokers);
    assert_int_equal(metadata->topic_cnt, 8);

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char name[300];
        const rd_kafka_metadata_topic_t *topic;

        snprintf(name, sizeof(name), "%s%s", prefix, names[i]);
        topic = find_topic(metadata, name);
        if (topic == NULL)
            fail_msg("topic %s missing", name);
        assert_int_equal(topic->err, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_int_equal(topic->partition_cnt, partitions);
        for (p = 0; p < topic->partition_cnt; p++)
            assert_int_equal(topic->partitions[p].replica_cnt, replicas);
    }

    rd_kafka_metadata_destroy(metadata);
    rd_kafka_destroy(rk);
}

static void invalid_partition_count_exits_2(void **state)
{
    struct broker_launch launch = {{"--partitions", "0", NULL}, {NULL}};
    char errtext[1024];

    (void)state;
    skip_without_binary();

    assert_int_equal(broker_run_to_exit(&launch, errtext, sizeof(errtext)), 2);
    assert_non_null(strstr(errtext, "invalid --partitions"));
    assert_non_null(strstr(errtext, "\"0\""));
    assert_null(strchr(errtext, '\n'));
}

static void partition_count_above_cap_rejected(void **state)
{
    struct broker_launch launch = {{"--partitions", "257", NULL}, {NULL}};
    char errtext[1024];

    (void)state;
    skip_without_binary();

    assert_int_equal(broker_run_to_exit(&launch, errtext, sizeof(errtext)), 2);
    assert_non_null(strstr(errtext, "from 1 to 256"));
}

static void broker_count_above_cap_rejected(void **state)
{
    struct broker_launch launch = {{"--broker-count", "17", NULL}, {NULL}};
    char errtext[1024];

    (void)state;
    skip_without_binary();

    assert_int_equal(broker_run_to_exit(&launch, errtext, sizeof(errtext)), 2);
    assert_non_null(strstr(errtext, "invalid --broker-count"));
}

static void prefix_too_long_for_topic_names_rejected(void **state)
{
    char prefix[233];
    struct broker_launch launch = {{"--topic-prefix", prefix, NULL}, {NULL}};
    char errtext[1024];

    (void)state;
    skip_without_binary();

    /* 232 + strlen("images.removed.dlq") is 250, one over Kafka's limit. */
    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    assert_int_equal(broker_run_to_exit(&launch, errtext, sizeof(errtext)), 2);
    assert_non_null(strstr(errtext, "the maximum is 231"));
}

static void prefix_at_topic_name_limit_accepted(void **state)
{
    char prefix[232];
    struct broker_launch launch = {{"--topic-prefix", prefix, "--broker-count",
                                    "1", "--partitions", "1", NULL},
                                   {NULL}};
    struct broker_process broker;

    (void)state;
    skip_without_binary();
    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    broker_start(&broker, &launch);

    check_topics(broker.bootstraps, prefix, 1, 1, 1);

    assert_int_equal(broker_stop(&broker), 0);
}

static void invalid_environment_value_names_variable(void **state)
{
    struct broker_launch launch = {{NULL},
                                   {"IMGASSURE_TOPIC_PREFIX=bad prefix", NULL}};
    char errtext[1024];

    (void)state;
    skip_without_binary();

    assert_int_equal(broker_run_to_exit(&launch, errtext, sizeof(errtext)), 2);
    assert_non_null(strstr(errtext, "IMGASSURE_TOPIC_PREFIX"));
}

static void unknown_option_exits_2(void **state)
{
    struct broker_launch launch = {{"--no-such-option", NULL}, {NULL}};
    char errtext[1024];

    (void)state;
    skip_without_binary();

    assert_int_equal(broker_run_to_exit(&launch, errtext, sizeof(errtext)), 2);
    assert_non_null(strstr(errtext, "unknown option --no-such-option"));
}

static void default_cluster_has_every_topic(void **state)
{
    struct broker_launch launch = {{NULL}, {NULL}};
    struct broker_process broker;
    char printed[1024];
    char stdout_path[128];

    (void)state;
    skip_without_binary();
    broker_start(&broker, &launch);

    check_topics(broker.bootstraps, "imgassure.", 3, 6, 3);

    snprintf(stdout_path, sizeof(stdout_path), "%s/stdout", broker.directory);
    assert_int_equal(read_small_file(stdout_path, printed, sizeof(printed)), 0);
    assert_string_equal(printed, broker.bootstraps);
    assert_int_equal(broker_stop(&broker), 0);
}

static void replication_capped_at_broker_count(void **state)
{
    struct broker_launch launch = {{"--broker-count", "2",
                                    "--replication-factor", "3", "--partitions",
                                    "2", NULL},
                                   {NULL}};
    struct broker_process broker;

    (void)state;
    skip_without_binary();
    broker_start(&broker, &launch);

    check_topics(broker.bootstraps, "imgassure.", 2, 2, 2);

    assert_int_equal(broker_stop(&broker), 0);
}

static void flag_overrides_environment(void **state)
{
    struct broker_launch launch = {{"--partitions", "3", NULL},
                                   {"IMGASSURE_TOPIC_PREFIX=env-test_",
                                    "IMGASSURE_DEV_PARTITIONS=2",
                                    "IMGASSURE_DEV_BROKER_COUNT=1", NULL}};
    struct broker_process broker;

    (void)state;
    skip_without_binary();
    broker_start(&broker, &launch);

    check_topics(broker.bootstraps, "env-test_", 1, 3, 1);

    assert_int_equal(broker_stop(&broker), 0);
}

static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *message,
                            void *opaque)
{
    (void)rk;
    (void)opaque;
    *(rd_kafka_resp_err_t *)message->_private = message->err;
}

static void produce_one(const char *bootstraps, const char *topic,
                        const char *value)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_resp_err_t delivered = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    char errstr[512];
    rd_kafka_t *rk;

    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps,
                                       errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(rk);

    assert_int_equal(
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY("acct/sha256:00", 14),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE(&delivered), RD_KAFKA_V_END),
        RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(rk, KAFKA_TIMEOUT_MS),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(delivered, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

/* Polls the subscribed consumer until one message arrives, checks its value
 * and commits it synchronously. Returns the committed offset. */
static int64_t consume_and_commit(rd_kafka_t *consumer, const char *value,
                                  int32_t *partition)
{
    int64_t deadline = monotonic_ms() + CONSUME_TIMEOUT_MS;
    rd_kafka_message_t *message = NULL;
    int64_t next_offset;

    while (message == NULL) {
        assert_true(monotonic_ms() < deadline);
        message = rd_kafka_consumer_poll(consumer, 200);
        if (message != NULL && message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* Partition EOF and similar events are not the message. */
            rd_kafka_message_destroy(message);
            message = NULL;
        }
    }

    assert_int_equal(message->len, strlen(value));
    assert_memory_equal(message->payload, value, message->len);
    *partition = message->partition;
    next_offset = message->offset + 1;
    assert_int_equal(rd_kafka_commit_message(consumer, message, 0),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_message_destroy(message);
    return next_offset;
}

static void consumer_group_receives_and_commits(void **state)
{
    const char *topic = "imgassure.scan.requests";
    const char *value = "scan request payload";
    struct broker_launch launch = {{NULL}, {NULL}};
    rd_kafka_topic_partition_list_t *subscription;
    rd_kafka_topic_partition_list_t *committed;
    struct broker_process broker;
    rd_kafka_t *consumer;
    int32_t partition = -1;
    int64_t next_offset;

    (void)state;
    skip_without_binary();
    broker_start(&broker, &launch);

    produce_one(broker.bootstraps, topic, value);
    consumer =
        client_new(RD_KAFKA_CONSUMER, broker.bootstraps, "imgassure-test");
    rd_kafka_poll_set_consumer(consumer);
    subscription = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subscription, topic,
                                      RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(consumer, subscription),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(subscription);

    next_offset = consume_and_commit(consumer, value, &partition);

    /* The group coordinator, not the client, must now hold the offset. */
    committed = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(committed, topic, partition);
    assert_int_equal(rd_kafka_committed(consumer, committed, KAFKA_TIMEOUT_MS),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(committed->elems[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(committed->elems[0].offset, next_offset);
    rd_kafka_topic_partition_list_destroy(committed);

    assert_int_equal(rd_kafka_consumer_close(consumer),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(consumer);
    assert_int_equal(broker_stop(&broker), 0);
}

static void sigterm_exits_0_and_removes_bootstrap_file(void **state)
{
    struct broker_launch launch = {{"--broker-count", "1", NULL}, {NULL}};
    struct broker_process broker;
    struct stat info;

    (void)state;
    skip_without_binary();
    broker_start(&broker, &launch);
    assert_int_equal(stat(broker.bootstrap_file, &info), 0);

    assert_int_equal(broker_signal_and_wait(&broker), 0);
    assert_int_equal(stat(broker.bootstrap_file, &info), -1);
    assert_int_equal(errno, ENOENT);
    broker_clean(&broker);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(invalid_partition_count_exits_2,
                                  stop_running_broker),
        cmocka_unit_test_teardown(partition_count_above_cap_rejected,
                                  stop_running_broker),
        cmocka_unit_test_teardown(broker_count_above_cap_rejected,
                                  stop_running_broker),
        cmocka_unit_test_teardown(prefix_too_long_for_topic_names_rejected,
                                  stop_running_broker),
        cmocka_unit_test_teardown(prefix_at_topic_name_limit_accepted,
                                  stop_running_broker),
        cmocka_unit_test_teardown(invalid_environment_value_names_variable,
                                  stop_running_broker),
        cmocka_unit_test_teardown(unknown_option_exits_2, stop_running_broker),
        cmocka_unit_test_teardown(default_cluster_has_every_topic,
                                  stop_running_broker),
        cmocka_unit_test_teardown(replication_capped_at_broker_count,
                                  stop_running_broker),
        cmocka_unit_test_teardown(flag_overrides_environment,
                                  stop_running_broker),
        cmocka_unit_test_teardown(consumer_group_receives_and_commits,
                                  stop_running_broker),
        cmocka_unit_test_teardown(sigterm_exits_0_and_removes_bootstrap_file,
                                  stop_running_broker),
    };

    return cmocka_run_group_tests(tests, find_broker_binary, NULL);
}
