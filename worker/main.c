/* imgassure-worker: consumes image events and scan requests, scans images
 * and publishes results. */
#include "kafka.h"
#include "layer_cache.h"
#include "log.h"
#include "options.h"
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct option_spec worker_options[] = {
    {"brokers", 'b', OPTION_STRING, "IMGASSURE_BROKERS", NULL, "HOST:PORT,...",
     "Kafka bootstrap brokers (required)"},
    {"topic-prefix", 0, OPTION_STRING, "IMGASSURE_TOPIC_PREFIX", "imgassure.",
     "PREFIX", "prefix of every topic name"},
    {"property", 'X', OPTION_LIST, NULL, NULL, "KEY=VALUE",
     "librdkafka property for the consumer and producer, repeatable"},
    {"group-id", 'g', OPTION_STRING, "IMGASSURE_GROUP_ID", "imgassure-workers",
     "GROUP", "consumer group every worker of one deployment joins"},
    {"redis-url", 'r', OPTION_STRING, "IMGASSURE_REDIS_URL",
     "redis://127.0.0.1:6379", "URL", "Redis holding the image state"},
    {"worker-id", 0, OPTION_STRING, "IMGASSURE_WORKER_ID", NULL, "ID",
     "name in results and logs (default: HOSTNAME-PID)"},
    {"auth-file", 0, OPTION_STRING, "IMGASSURE_AUTH_FILE", NULL, "PATH",
     "registry credentials: containers auth.json or docker config.json"},
    {"auth-dir", 0, OPTION_STRING, "IMGASSURE_AUTH_DIR", NULL, "DIR",
     "per-account credentials: DIR/ACCOUNT.json, when present, is used "
     "instead of --auth-file for that account's scans"},
    {"insecure-registries", 0, OPTION_STRING, "IMGASSURE_INSECURE_REGISTRIES",
     NULL, "HOST:PORT,...",
     "registries reached over plain HTTP; all others use verified HTTPS"},
    {"connect-timeout", 0, OPTION_INT, "IMGASSURE_CONNECT_TIMEOUT_S", "15",
     "SECONDS", "time allowed to connect to a registry"},
    {"pull-timeout", 0, OPTION_INT, "IMGASSURE_PULL_TIMEOUT_S", "1800",
     "SECONDS", "time allowed for one registry request, a layer included"},
    {"low-speed-limit", 0, OPTION_INT, "IMGASSURE_LOW_SPEED_BYTES_S", "1024",
     "BYTES_PER_SECOND",
     "a registry transfer slower than this for the low-speed window times "
     "out"},
    {"low-speed-window", 0, OPTION_INT, "IMGASSURE_LOW_SPEED_WINDOW_S", "60",
     "SECONDS", "how long a transfer may stay below the low-speed limit"},
    {"delivery-timeout-ms", 0, OPTION_INT, "IMGASSURE_DELIVERY_TIMEOUT_MS",
     "60000", "MILLISECONDS",
     "time to wait for Kafka to acknowledge a result before retrying"},
    {"retry-backoff", 0, OPTION_INT, "IMGASSURE_RETRY_BACKOFF_S", "60",
     "SECONDS",
     "delay before a PARTIAL or INTERNAL_ERROR scan runs again, doubled "
     "with each attempt"},
    {"retry-max-attempts", 0, OPTION_INT, "IMGASSURE_RETRY_MAX_ATTEMPTS", "5",
     "COUNT", "attempts in all for a failing scan (1: never retry)"},
    {"rescan-interval", 0, OPTION_INT, "IMGASSURE_RESCAN_INTERVAL_S", "86400",
     "SECONDS",
     "a sighting rescans an image whose last result is older than this "
     "(0: never)"},
    {"sweep-interval", 0, OPTION_INT, "IMGASSURE_SWEEP_INTERVAL_S", "60",
     "SECONDS",
     "how often the sweeper walks for expired images (0: this worker "
     "never sweeps)"},
    {"max-image-bytes", 0, OPTION_INT, "IMGASSURE_MAX_IMAGE_BYTES",
     "21474836480", "BYTES",
     "images whose compressed layers total more are not pulled "
     "(INSUFFICIENT_RESOURCES); 0: no limit"},
    {"max-kept-file-bytes", 0, OPTION_INT, "IMGASSURE_MAX_KEPT_FILE_BYTES",
     "67108864", "BYTES",
     "largest package database or os-release held in memory; a larger one "
     "is INSUFFICIENT_RESOURCES"},
    {"layer-cache-ttl", 0, OPTION_INT, "IMGASSURE_LAYER_CACHE_TTL_S", "604800",
     "SECONDS",
     "how long a layer's analysis stays in Redis after its last use, so a "
     "scan of an image with known layers downloads no blob; 0: no cache"},
    {"vuln-db", 0, OPTION_STRING, "IMGASSURE_VULN_DB", NULL, "PATH",
     "OSV records to match against: a directory of .json files or a .zip"},
    {"cve-db", 0, OPTION_STRING, "IMGASSURE_CVE_DB", NULL, "PATH",
     "CVE JSON 5 records that add CVSS vectors: a directory or a .zip"},
    {"vuln-db-max-age-days", 0, OPTION_INT, "IMGASSURE_VULN_DB_MAX_AGE_DAYS",
     "7", "DAYS", "results from an older database say it is stale"},
    {"vuln-db-check-interval", 0, OPTION_INT, "IMGASSURE_VULN_DB_CHECK_S", "60",
     "SECONDS",
     "how often the database files are checked for changes (0: never); "
     "SIGHUP reloads at once"},
    {"session-timeout-ms", 0, OPTION_INT, "IMGASSURE_SESSION_TIMEOUT_MS",
     "45000", "MILLISECONDS",
     "consumer group session timeout: how soon the group notices a worker "
     "that died (and, on the dev broker, how long each rebalance waits)"},
    {"concurrency", 0, OPTION_INT, "IMGASSURE_CONCURRENCY", "2", "N",
     "messages handled at once, each on its own thread (1 to 64)"},
    {"shutdown-timeout", 0, OPTION_INT, "IMGASSURE_SHUTDOWN_TIMEOUT_S", "20",
     "SECONDS",
     "on SIGTERM, or when a partition moves to another worker, how long "
     "scans in flight may take to finish before they are abandoned and "
     "redelivered"},
    {"log-level", 0, OPTION_STRING, "IMGASSURE_LOG_LEVEL", "info", "LEVEL",
     "lowest level logged: debug, info, warning or error"},
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Each thread has its own Redis connections and a scan's memory. */
#define MAX_CONCURRENCY 64

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_reload_signal(int signal_number)
{
    (void)signal_number;
    reload_requested = 1;
}

static void on_stop_signal(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

static int parse_level(const char *name, int *level)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"debug", LOG_DEBUG},
                  {"info", LOG_INFO},
                  {"warning", LOG_WARNING},
                  {"error", LOG_ERR}};

    for (size_t i = 0; i < COUNT(levels); i++) {
        if (strcmp(name, levels[i].name) == 0) {
            *level = levels[i].level;
            return 0;
        }
    }
    return -1;
}

/* librdkafka's lines in the worker's own format, under facility KAFKA. */
static void log_kafka_line(int level, const char *facility, const char *message)
{
    log_write(level, "KAFKA", "librdkafka %s: %s", facility, message);
}

static void install_signal_handlers(void)
{
    struct sigaction action;

    memset(&action, 0, sizeof(action));
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    action.sa_handler = on_reload_signal;
    sigaction(SIGHUP, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Reads an integer option in [min, max]. The option parser checks flags
 * only, so an environment value is checked here too. Returns 0, or -1 with
 * the reason in errbuf. */
static int read_bounded(const struct option_values *values, const char *name,
                        const char *variable, long min, long max, long *value,
                        char *errbuf, size_t errbuf_size)
{
    const char *text = options_get(values, name);
    char *end = NULL;

    errno = 0;
    *value = text != NULL ? strtol(text, &end, 10) : 0;
    if (text != NULL && errno == 0 && end != text && *end == '\0' &&
        *value >= min && *value <= max)
        return 0;
    snprintf(errbuf, errbuf_size,
             "invalid --%s (or %s) '%.32s': expected an integer from %ld to "
             "%ld",
             name, variable, text ? text : "", min, max);
    return -1;
}

static int usage_error(const char *message)
{
    fprintf(stderr, "imgassure-worker: %s\n", message);
    return 2;
}

int main(int argc, char **argv)
{
    struct option_values values;
    struct worker_config config;
    char errbuf[256], default_id[128], host[64];
    long concurrency, shutdown_timeout_s;
    int level;

    if (options_parse(worker_options, COUNT(worker_options), argc, argv,
                      &values, errbuf, sizeof(errbuf)) != 0)
        return usage_error(errbuf);
    if (values.help_requested) {
        options_print_help(stdout, "imgassure-worker [OPTIONS]",
                           "Consumes image-seen events and scan requests, "
                           "scans images and publishes scan results.",
                           worker_options, COUNT(worker_options));
        return 0;
    }
    if (values.first_operand < argc) {
        snprintf(errbuf, sizeof(errbuf),
                 "unexpected argument '%.64s' (see --help)",
                 argv[values.first_operand]);
        return usage_error(errbuf);
    }
    if (parse_level(options_get(&values, "log-level"), &level) != 0)
        return usage_error("invalid --log-level: use debug, info, warning or "
                           "error");
    if (options_get(&values, "brokers") == NULL)
        return usage_error("missing --brokers (or IMGASSURE_BROKERS)");

    if (read_bounded(&values, "concurrency", "IMGASSURE_CONCURRENCY", 1,
                     MAX_CONCURRENCY, &concurrency, errbuf,
                     sizeof(errbuf)) != 0 ||
        read_bounded(&values, "shutdown-timeout",
                     "IMGASSURE_SHUTDOWN_TIMEOUT_S", 0, 3600,
                     &shutdown_timeout_s, errbuf, sizeof(errbuf)) != 0)
        return usage_error(errbuf);

    memset(&config, 0, sizeof(config));
    config.concurrency = (int)concurrency;
    config.drain_timeout_ms = (int)shutdown_timeout_s * 1000;
    gethostname(host, sizeof(host));
    host[sizeof(host) - 1] = '\0';
    snprintf(default_id, sizeof(default_id), "%s-%d", host, (int)getpid());
    config.brokers = options_get(&values, "brokers");
    config.kafka_properties =
        options_get_list(&values, "property", &config.kafka_property_count);
    config.topic_prefix = options_get(&values, "topic-prefix");
    config.group_id = options_get(&values, "group-id");
    config.redis_url = options_get(&values, "redis-url");
    config.worker_id = options_get(&values, "worker-id");
    if (config.worker_id == NULL)
        config.worker_id = default_id;
    config.retry_backoff_s = options_get_int(&values, "retry-backoff", 60);
    config.retry_max_attempts =
        (int)options_get_int(&values, "retry-max-attempts", 5);
    config.rescan_interval_s =
        options_get_int(&values, "rescan-interval", 86400);
    config.sweep_interval_s = options_get_int(&values, "sweep-interval", 60);
    config.session_timeout_ms =
        (int)options_get_int(&values, "session-timeout-ms", 45000);
    config.delivery_timeout_ms =
        (int)options_get_int(&values, "delivery-timeout-ms", 60000);
    config.scan.credentials_file = options_get(&values, "auth-file");
    config.scan.credentials_dir = options_get(&values, "auth-dir");
    config.scan.insecure_registries =
        options_get(&values, "insecure-registries");
    config.scan.connect_timeout_s =
        options_get_int(&values, "connect-timeout", 15);
    config.scan.low_speed_bytes_per_s =
        options_get_int(&values, "low-speed-limit", 1024);
    config.scan.low_speed_window_s =
        options_get_int(&values, "low-speed-window", 60);
    config.scan.pull_timeout_s = options_get_int(&values, "pull-timeout", 1800);
    config.scan.abort_requested = &stop_requested;
    config.scan.max_image_bytes =
        options_get_int(&values, "max-image-bytes", 20LL * 1024 * 1024 * 1024);
    if (options_get_int(&values, "max-kept-file-bytes", 1) < 1)
        return usage_error("--max-kept-file-bytes must be a positive number "
                           "of bytes");
    config.scan.max_kept_file_bytes = (uint64_t)options_get_int(
        &values, "max-kept-file-bytes", 64LL * 1024 * 1024);
    config.scan.vulndb_max_age_ms =
        options_get_int(&values, "vuln-db-max-age-days", 7) * 86400000LL;
    config.scan.layer_cache_url = config.redis_url;
    config.scan.layer_cache_ttl_s =
        options_get_int(&values, "layer-cache-ttl", LAYER_CACHE_DEFAULT_TTL_S);
    config.vulndb_path = options_get(&values, "vuln-db");
    config.cve_path = options_get(&values, "cve-db");
    config.vulndb_check_interval_s =
        options_get_int(&values, "vuln-db-check-interval", 60);
    config.reload_requested = &reload_requested;

    log_setup("imgassure-worker", level);
    kafka_set_log_handler(log_kafka_line);
    install_signal_handlers();
    return worker_run(&config, &stop_requested);
}
