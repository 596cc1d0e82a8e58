/*
 * imgassure-dev-broker: a Kafka-protocol cluster on loopback for development
 * and tests, built on librdkafka's in-process mock cluster.
 *
 * The mock cluster has no CreateTopics request, so this program creates
 * every imgassure topic and its dead-letter topic itself before it publishes
 * the bootstrap list. It then serves clients until SIGTERM or SIGINT.
 *
 * Limits of librdkafka 2.0.2's mock cluster that clients will notice: it
 * keeps messages in memory only, drops a partition's oldest messages once
 * the partition holds about 5 MiB (measured by producing 8 MB to one
 * partition), and has no SASL or TLS.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "fault_control.h"
#include "kafka.h"
#include "log.h"
#include "options.h"

#define PROGRAM_NAME "imgassure-dev-broker"

#define EXIT_USAGE 2

/* Caps on the settings: a development cluster lives in one process, and
 * every broker and partition costs a socket or memory there. */
#define MAX_BROKER_COUNT 16
#define MAX_PARTITIONS 256

/* Kafka rejects topic names longer than 249 characters. */
#define MAX_TOPIC_NAME_LENGTH 249

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static const char *const topic_names[] = {
    KAFKA_TOPIC_IMAGES_SEEN,
    KAFKA_TOPIC_SCAN_REQUESTS,
    KAFKA_TOPIC_SCAN_RESULTS,
    KAFKA_TOPIC_IMAGES_REMOVED,
};

static const struct option_spec option_specs[] = {
    {"broker-count", 0, OPTION_INT, "IMGASSURE_DEV_BROKER_COUNT", "3", "N",
     "brokers in the cluster, 1 to 16"},
    {"partitions", 0, OPTION_INT, "IMGASSURE_DEV_PARTITIONS", "6", "N",
     "partitions per topic, 1 to 256"},
    {"replication-factor", 0, OPTION_INT, "IMGASSURE_DEV_REPLICATION_FACTOR",
     "3", "N", "replicas per partition, capped at the broker count"},
    {"topic-prefix", 0, OPTION_STRING, "IMGASSURE_TOPIC_PREFIX",
     KAFKA_DEFAULT_TOPIC_PREFIX, "PREFIX", "prefix of every topic name"},
    {"bootstrap-file", 0, OPTION_STRING, "IMGASSURE_DEV_BOOTSTRAP_FILE", NULL,
     "PATH", "also write the bootstrap list to PATH, which is removed at exit"},
    {"control-file", 0, OPTION_STRING, "IMGASSURE_DEV_CONTROL_FILE", NULL,
     "PATH",
     "open the fault-injection channel on a 127.0.0.1 port and write "
     "127.0.0.1:PORT to PATH, which is removed at exit"},
    {"log-level", 0, OPTION_STRING, "IMGASSURE_LOG_LEVEL", "info", "LEVEL",
     "error, warning, notice, info or debug (with librdkafka's debug lines)"},
};

static const char usage_line[] = PROGRAM_NAME " [OPTION]...";

static const char summary[] =
    "Runs a Kafka-protocol cluster on 127.0.0.1 (librdkafka's mock cluster),\n"
    "creates the imgassure topics and their .dlq topics, prints the bootstrap\n"
    "list and serves clients until SIGTERM or SIGINT, then exits 0. It exits\n"
    "1 when the cluster cannot start and 2 on an invalid argument.\n"
    "\n"
    "With --control-file, one line per connection to the control port\n"
    "injects a fault, answered by \"ok\" or \"error: REASON\":\n"
    "  down BROKER|all                take brokers down (clients disconnect)\n"
    "  up BROKER|all                  let them accept connections again\n"
    "  rtt BROKER|all MILLISECONDS    delay every response\n"
    "  errors REQUEST COUNT ERROR     fail the next COUNT requests of a type,\n"
    "                                 e.g. errors produce 5 "
    "REQUEST_TIMED_OUT";

struct broker_options {
    int broker_count;
    int partitions;
    int replication_factor;
    const char *topic_prefix;
    const char *bootstrap_file; /* NULL: stdout only */
    const char *control_file;   /* NULL: no fault-injection channel */
    int log_level;
};

struct log_level_name {
    const char *name;
    int level;
};

static const struct log_level_name log_level_names[] = {
    {"error", LOG_ERR}, {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
    {"info", LOG_INFO}, {"debug", LOG_DEBUG},
};

/* Reads option `name` as a decimal integer in [min, max]. The shared parser
 * checks flags but not environment values, so both are checked here.
 * Returns 0, or -1 with a message naming the flag and variable. */
static int read_int(const struct option_values *values, const char *name,
                    int min, int max, int *value, char *errbuf,
                    size_t errbuf_size)
{
    const char *text = options_get(values, name);
    const char *variable = "";
    char *end = NULL;
    long parsed;
    size_t i;

    errno = 0;
    parsed = strtol(text, &end, 10);
    if (errno == 0 && end != text && *end == '\0' && parsed >= min &&
        parsed <= max) {
        *value = (int)parsed;
        return 0;
    }

    for (i = 0; i < COUNT(option_specs); i++) {
        if (strcmp(option_specs[i].name, name) == 0)
            variable = option_specs[i].env;
    }
    snprintf(errbuf, errbuf_size,
             "invalid --%s (or %s) \"%s\": expected an integer from %d to %d",
             name, variable, text, min, max);
    return -1;
}

static int read_log_level(const struct option_values *values, int *level,
                          char *errbuf, size_t errbuf_size)
{
    const char *text = options_get(values, "log-level");
    size_t i;

    for (i = 0; i < COUNT(log_level_names); i++) {
        if (strcasecmp(text, log_level_names[i].name) == 0) {
            *level = log_level_names[i].level;
            return 0;
        }
    }

    snprintf(errbuf, errbuf_size,
             "invalid --log-level (or IMGASSURE_LOG_LEVEL) \"%s\": expected "
             "error, warning, notice, info or debug",
             text);
    return -1;
}

/* Kafka topic names use only ASCII letters, digits, '.', '_' and '-', and
 * the longest topic this program creates must still fit the name limit. */
static int check_topic_prefix(const char *prefix, char *errbuf,
                              size_t errbuf_size)
{
    size_t longest_suffix = strlen(KAFKA_TOPIC_IMAGES_REMOVED KAFKA_DLQ_SUFFIX);
    size_t length = strlen(prefix);
    size_t i;

    if (length + longest_suffix > MAX_TOPIC_NAME_LENGTH) {
        snprintf(errbuf, errbuf_size,
                 "invalid --topic-prefix (or IMGASSURE_TOPIC_PREFIX): %zu "
                 "characters, the maximum is %zu",
                 length, MAX_TOPIC_NAME_LENGTH - longest_suffix);
        return -1;
    }

    for (i = 0; i < length; i++) {
        unsigned char c = (unsigned char)prefix[i];
        int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int digit = c >= '0' && c <= '9';

        if (!letter && !digit && c != '.' && c != '_' && c != '-') {
            snprintf(errbuf, errbuf_size,
                     "invalid --topic-prefix (or IMGASSURE_TOPIC_PREFIX) "
                     "\"%s\": only letters, digits, '.', '_' and '-' are "
                     "allowed",
                     prefix);
            return -1;
        }
    }
    return 0;
}

/* Validates every setting, whether it came from a flag, the environment or
 * the default. Returns 0, or -1 with a one-line message in errbuf. */
static int read_options(const struct option_values *values,
                        struct broker_options *options, char *errbuf,
                        size_t errbuf_size)
{
    if (read_int(values, "broker-count", 1, MAX_BROKER_COUNT,
                 &options->broker_count, errbuf, errbuf_size) != 0 ||
        read_int(values, "partitions", 1, MAX_PARTITIONS, &options->partitions,
                 errbuf, errbuf_size) != 0 ||
        read_int(values, "replication-factor", 1, MAX_BROKER_COUNT,
                 &options->replication_factor, errbuf, errbuf_size) != 0 ||
        read_log_level(values, &options->log_level, errbuf, errbuf_size) != 0)
        return -1;

    options->topic_prefix = options_get(values, "topic-prefix");
    if (check_topic_prefix(options->topic_prefix, errbuf, errbuf_size) != 0)
        return -1;

    options->bootstrap_file = options_get(values, "bootstrap-file");
    options->control_file = options_get(values, "control-file");
    return 0;
}

enum parse_outcome { PARSE_RUN, PARSE_HELP, PARSE_INVALID };

static enum parse_outcome parse_options(int argc, char **argv,
                                        struct broker_options *options,
                                        char *errbuf, size_t errbuf_size)
{
    struct option_values values;

    if (options_parse(option_specs, COUNT(option_specs), argc, argv, &values,
                      errbuf, errbuf_size) != 0)
        return PARSE_INVALID;
    if (values.help_requested)
        return PARSE_HELP;

    if (values.first_operand < argc) {
        snprintf(errbuf, errbuf_size, "unexpected argument \"%s\"",
                 argv[values.first_operand]);
        return PARSE_INVALID;
    }
    if (read_options(&values, options, errbuf, errbuf_size) != 0)
        return PARSE_INVALID;
    return PARSE_RUN;
}

/* librdkafka calls this from its own threads, which is safe because
 * log_write is thread-safe. */
static void forward_kafka_log(const rd_kafka_t *rk, int level,
                              const char *facility, const char *message)
{
    (void)rk;

    /* The handle that owns the mock cluster never connects anywhere, so
     * librdkafka's warning that it has no bootstrap.servers is noise. */
    if (strcmp(facility, "CONFWARN") == 0 &&
        strstr(message, "bootstrap.servers") != NULL)
        return;

    log_write(level, "KAFKA", "%s: %s", facility, message);
}

/* Creates the librdkafka handle the mock cluster is attached to. Returns
 * NULL with a message in errbuf on failure; the caller destroys the handle
 * with rd_kafka_destroy. */
static rd_kafka_t *kafka_handle_new(int log_level, char *errbuf,
                                    size_t errbuf_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char level_text[8];
    rd_kafka_t *rk;

    snprintf(level_text, sizeof(level_text), "%d", log_level);
    if (rd_kafka_conf_set(conf, "log_level", level_text, errbuf, errbuf_size) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (log_level >= LOG_DEBUG &&
        rd_kafka_conf_set(conf, "debug", "mock,broker", errbuf, errbuf_size) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, forward_kafka_log);

    /* rd_kafka_new takes ownership of conf only when it succeeds. */
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errbuf_size);
    if (rk == NULL)
        rd_kafka_conf_destroy(conf);
    return rk;
}

static int topics_create(rd_kafka_mock_cluster_t *cluster,
                         const struct broker_options *options,
                         int replication_factor, char *errbuf,
                         size_t errbuf_size)
{
    size_t i;
    int dlq;

    for (i = 0; i < COUNT(topic_names); i++) {
        for (dlq = 0; dlq <= 1; dlq++) {
            char name[MAX_TOPIC_NAME_LENGTH + 1];
            rd_kafka_resp_err_t err;

            snprintf(name, sizeof(name), "%s%s%s", options->topic_prefix,
                     topic_names[i], dlq ? KAFKA_DLQ_SUFFIX : "");
            err = rd_kafka_mock_topic_create(cluster, name, options->partitions,
                                             replication_factor);
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(errbuf, errbuf_size, "creating topic %s failed: %s",
                         name, rd_kafka_err2str(err));
                return -1;
            }
            log_write(LOG_DEBUG, "KAFKA",
                      "created topic topic=%s partitions=%d replicas=%d", name,
                      options->partitions, replication_factor);
        }
    }
    return 0;
}

/* Writes text and a newline to path through a temporary file in the same
 * directory and a rename, so a reader never sees a partial list. */
static int write_file_atomically(const char *path, const char *text,
                                 char *errbuf, size_t errbuf_size)
{
    char temporary[PATH_MAX];
    FILE *file;
    int written;

    written = snprintf(temporary, sizeof(temporary), "%s.tmp.%ld", path,
                       (long)getpid());
    if (written < 0 || (size_t)written >= sizeof(temporary)) {
        snprintf(errbuf, errbuf_size, "bootstrap file path too long: %s", path);
        return -1;
    }

    file = fopen(temporary, "w");
    if (file == NULL) {
        snprintf(errbuf, errbuf_size,
                 "creating a temporary file next to %s failed: %s", path,
                 strerror(errno));
        return -1;
    }
    written = fprintf(file, "%s\n", text);
    if (fclose(file) != 0 || written < 0) {
        snprintf(errbuf, errbuf_size,
                 "writing a temporary file next to %s failed: %s", path,
                 strerror(errno));
        unlink(temporary);
        return -1;
    }

    if (rename(temporary, path) != 0) {
        snprintf(errbuf, errbuf_size,
                 "renaming a temporary file to %s failed: %s", path,
                 strerror(errno));
        unlink(temporary);
        return -1;
    }
    return 0;
}

static int publish_bootstrap(const char *bootstraps, const char *path,
                             char *errbuf, size_t errbuf_size)
{
    if (path != NULL &&
        write_file_atomically(path, bootstraps, errbuf, errbuf_size) != 0)
        return -1;

    if (printf("%s\n", bootstraps) < 0 || fflush(stdout) != 0) {
        snprintf(errbuf, errbuf_size, "writing to stdout failed: %s",
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* Waits for SIGTERM or SIGINT, which main blocked in every thread, while
 * serving the fault-injection channel when there is one (control >= 0). */
static int wait_for_stop_signal(const sigset_t *stop_signals,
                                rd_kafka_mock_cluster_t *cluster, int control)
{
    struct signalfd_siginfo received;
    struct pollfd watched[2];
    int signals = signalfd(-1, stop_signals, SFD_CLOEXEC);

    if (signals < 0) {
        int signal_number = 0;

        log_write(LOG_WARNING, "KAFKA", "signalfd failed, no control: %s",
                  strerror(errno));
        while (sigwait(stop_signals, &signal_number) != 0)
            continue;
        return signal_number;
    }
    watched[0] = (struct pollfd){.fd = signals, .events = POLLIN};
    watched[1] = (struct pollfd){.fd = control, .events = POLLIN};
    for (;;) {
        if (poll(watched, control >= 0 ? 2 : 1, -1) < 0)
            continue;
        if (watched[0].revents & POLLIN)
            break;
        if (control >= 0 && (watched[1].revents & POLLIN)) {
            int client = accept(control, NULL, NULL);

            if (client >= 0) {
                fault_control_serve(cluster, client);
                close(client);
            }
        }
    }
    if (read(signals, &received, sizeof(received)) != sizeof(received))
        received.ssi_signo = SIGTERM;
    close(signals);
    return (int)received.ssi_signo;
}

/* Opens the control channel and publishes its address. Returns the
 * listening socket, or -1 with the reason in errbuf. */
static int open_control(const char *path, char *errbuf, size_t errbuf_size)
{
    char address[64];
    int port, listener = fault_control_listen(&port, errbuf, errbuf_size);

    if (listener < 0)
        return -1;
    snprintf(address, sizeof(address), "127.0.0.1:%d", port);
    if (write_file_atomically(path, address, errbuf, errbuf_size) != 0) {
        close(listener);
        return -1;
    }
    log_write(LOG_INFO, "KAFKA", "fault-injection channel on %s", address);
    return listener;
}

static int run_cluster(const struct broker_options *options)
{
    int replication_factor = options->replication_factor;
    rd_kafka_mock_cluster_t *cluster;
    const char *bootstraps;
    char errbuf[512];
    sigset_t stop_signals;
    int status = EXIT_FAILURE;
    int control = -1;
    rd_kafka_t *rk;

    /* Blocked before librdkafka starts its threads, so they inherit the
     * mask and only sigwait below receives the stop signals. */
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    rk = kafka_handle_new(options->log_level, errbuf, sizeof(errbuf));
    if (rk == NULL) {
        log_write(LOG_ERR, "KAFKA", "creating the client handle failed: %s",
                  errbuf);
        return EXIT_FAILURE;
    }

    cluster = rd_kafka_mock_cluster_new(rk, options->broker_count);
    if (cluster == NULL) {
        log_write(LOG_ERR, "KAFKA",
                  "creating the mock cluster failed brokers=%d",
                  options->broker_count);
        goto out_destroy_handle;
    }

    if (replication_factor > options->broker_count) {
        log_write(LOG_NOTICE, "KAFKA",
                  "replication factor capped requested=%d brokers=%d",
                  replication_factor, options->broker_count);
        replication_factor = options->broker_count;
    }
    if (topics_create(cluster, options, replication_factor, errbuf,
                      sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "KAFKA", "%s", errbuf);
        goto out_destroy_cluster;
    }
    log_write(LOG_INFO, "KAFKA",
              "created topics prefix=%s partitions=%d replicas=%d",
              options->topic_prefix, options->partitions, replication_factor);

    /* Opened before the bootstrap list appears, so a process that
     * waits for that list finds the control address too. */
    if (options->control_file != NULL) {
        control = open_control(options->control_file, errbuf, sizeof(errbuf));
        if (control < 0) {
            log_write(LOG_ERR, "KAFKA", "%s", errbuf);
            goto out_destroy_cluster;
        }
    }

    bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
    if (publish_bootstrap(bootstraps, options->bootstrap_file, errbuf,
                          sizeof(errbuf)) != 0) {
        log_write(LOG_ERR, "KAFKA", "%s", errbuf);
        goto out_destroy_cluster;
    }
    log_write(LOG_INFO, "KAFKA", "started brokers=%d bootstrap=%s",
              options->broker_count, bootstraps);

    log_write(LOG_INFO, "KAFKA", "stopping signal=%s",
              strsignal(wait_for_stop_signal(&stop_signals, cluster, control)));
    status = EXIT_SUCCESS;

    /* A stale list would send the next reader to ports where no broker
     * listens. */
    if (options->bootstrap_file != NULL)
        unlink(options->bootstrap_file);

out_destroy_cluster:
    if (control >= 0) {
        close(control);
        unlink(options->control_file);
    }
    rd_kafka_mock_cluster_destroy(cluster);
out_destroy_handle:
    rd_kafka_destroy(rk);
    return status;
}

int main(int argc, char **argv)
{
    struct broker_options options;
    char errbuf[512];

    switch (parse_options(argc, argv, &options, errbuf, sizeof(errbuf))) {
    case PARSE_HELP:
        options_print_help(stdout, usage_line, summary, option_specs,
                           COUNT(option_specs));
        return EXIT_SUCCESS;
    case PARSE_INVALID:
        fprintf(stderr, PROGRAM_NAME ": %s\n", errbuf);
        return EXIT_USAGE;
    case PARSE_RUN:
        break;
    }

    log_setup(PROGRAM_NAME, options.log_level);
    return run_cluster(&options);
}
