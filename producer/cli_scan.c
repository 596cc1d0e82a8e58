/*
 * `imgassure scan SOURCE`: the workers' scan pipeline run in the command
 * itself, for CI pipelines. SOURCE is a registry reference, a `docker save`
 * archive or an OCI image layout. With brokers, the result goes to
 * scan.results and a SHIFTLEFT image-seen event to images.seen, named by
 * the registry name of the image and never by a local path.
 */
#include "cli.h"
#include "clock.h"
#include "event.h"
#include "ids.h"
#include "image_ref.h"
#include "image_source.h"
#include "image_state.h"
#include "kafka.h"
#include "location.h"
#include "result_format.h"
#include "scan.h"
#include "vulndb.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes beyond cli.h's, documented in --help and README. */
#define SCAN_EXIT_THRESHOLD 1   /* a finding reached --fail-on */
#define SCAN_EXIT_NOT_SCANNED 3 /* the image could not be scanned */
#define SCAN_EXIT_NOT_PUBLISHED 4

#define DOCKER_ARCHIVE_PREFIX "docker-archive:"
#define OCI_LAYOUT_PREFIX "oci:"

/* clang-format off */
static const struct option_spec scan_options[] = {
    CLI_KAFKA_OPTIONS,
    {"account", 'a', OPTION_STRING, "IMGASSURE_ACCOUNT", NULL, "ACCOUNT",
     "account the image belongs to (required with --brokers)"},
    {"env", 'e', OPTION_STRING, "IMGASSURE_ENVIRONMENT", NULL, "ENV_ID",
     "environment id within the account (required with --brokers)"},
    {"image", 'i', OPTION_STRING, NULL, NULL, "REGISTRY/REPOSITORY[:TAG]",
     "name the result is published under (default: the reference, the "
     "archive's RepoTags or the layout's ref.name)"},
    {"platform", 'p', OPTION_STRING, NULL, NULL, "OS/ARCH[/VARIANT]",
     "platform to scan when SOURCE is an index (default: linux/amd64)"},
    {"json", 'j', OPTION_FLAG, NULL, NULL, NULL,
     "print the result as one JSON object instead of a table"},
    {"fail-on", 0, OPTION_STRING, NULL, NULL, "SEVERITY",
     "exit 1 when a finding is this severe or worse: CRITICAL, HIGH, "
     "MEDIUM, LOW, NEGLIGIBLE or UNKNOWN (needs --vuln-db)"},
    {"vuln-db", 0, OPTION_STRING, "IMGASSURE_VULN_DB", NULL, "PATH",
     "OSV records to match against: a directory of .json files or a .zip"},
    {"cve-db", 0, OPTION_STRING, "IMGASSURE_CVE_DB", NULL, "PATH",
     "CVE JSON 5 records that add CVSS vectors: a directory or a .zip"},
    {"vuln-db-max-age-days", 0, OPTION_INT, "IMGASSURE_VULN_DB_MAX_AGE_DAYS",
     "7", "DAYS", "results from an older database say it is stale"},
    {"auth-file", 0, OPTION_STRING, "IMGASSURE_AUTH_FILE", NULL, "PATH",
     "registry credentials: containers auth.json or docker config.json"},
    {"insecure-registries", 0, OPTION_STRING, "IMGASSURE_INSECURE_REGISTRIES",
     NULL, "HOST:PORT,...",
     "registries reached over plain HTTP; all others use verified HTTPS"},
    {"connect-timeout", 0, OPTION_INT, "IMGASSURE_CONNECT_TIMEOUT_S", "15",
     "SECONDS", "time allowed to connect to a registry"},
    {"pull-timeout", 0, OPTION_INT, "IMGASSURE_PULL_TIMEOUT_S", "1800",
     "SECONDS", "time allowed for one registry request, a layer included"},
    {"max-image-bytes", 0, OPTION_INT, "IMGASSURE_MAX_IMAGE_BYTES",
     "21474836480", "BYTES",
     "images whose layers total more are not read (INSUFFICIENT_RESOURCES); "
     "0: no limit"},
    {"redis-url", 0, OPTION_STRING, "IMGASSURE_REDIS_URL", NULL, "URL",
     "with --brokers, also store the result as the image's state there, "
     "as the workers do, so the images list shows it (default: not stored)"},
    {"max-kept-file-bytes", 0, OPTION_INT, "IMGASSURE_MAX_KEPT_FILE_BYTES",
     "67108864", "BYTES",
     "largest package database or os-release held in memory; a larger one "
     "is INSUFFICIENT_RESOURCES"},
    {"timeout-ms", 0, OPTION_INT, "IMGASSURE_DELIVERY_TIMEOUT_MS", "30000",
     "MILLISECONDS", "how long to wait for the broker to acknowledge"},
};
/* clang-format on */

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static const char scan_usage[] =
    "imgassure scan SOURCE [OPTIONS]\n"
    "\n"
    "SOURCE is one of\n"
    "  REGISTRY/REPOSITORY[:TAG][@DIGEST]  pulled as the workers pull it\n"
    "  docker-archive:PATH                 a docker save tar, gzipped or not\n"
    "  oci:DIR[:TAG]                       an OCI image layout directory\n"
    "\n"
    "exit status: 0 scanned (no finding reached --fail-on), 1 a finding\n"
    "reached --fail-on, 2 usage error, 3 the image could not be scanned,\n"
    "4 scanned but not published, 130 interrupted";

struct scan_command {
    struct option_values values;
    const char *source_text;
    int has_threshold;
    enum severity threshold;
    struct scan_options options;
    struct vulndb *vulndb;
    struct image_source *source;
    struct scan_result result;
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int signal_number)
{
    (void)signal_number;
    interrupted = 1;
}

/* SOURCE may come before or after the options. Returns 0 when the caller
 * should go on, -1 when it should exit with *exit_code. */
static int parse_arguments(struct scan_command *command, int argc, char **argv,
                           int *exit_code)
{
    char *shifted[256];

    if (argc > 1 && argv[1][0] != '-') {
        if (argc > (int)COUNT(shifted)) {
            *exit_code = cli_usage_error("scan", "too many arguments");
            return -1;
        }
        command->source_text = argv[1];
        shifted[0] = argv[0];
        for (int i = 2; i < argc; i++)
            shifted[i - 1] = argv[i];
        argv = shifted;
        argc--;
    } else if (argc > 1 && argv[argc - 1][0] != '-') {
        command->source_text = argv[--argc];
    }
    if (cli_parse(scan_usage,
                  "Scans one image here, for CI pipelines, and prints the "
                  "result; with --brokers it also publishes it.",
                  scan_options, COUNT(scan_options), argc, argv,
                  &command->values, exit_code) != 0)
        return -1;
    if (command->source_text == NULL) {
        *exit_code = cli_usage_error("scan", "missing SOURCE (see --help)");
        return -1;
    }
    return 0;
}

static int read_threshold(struct scan_command *command)
{
    const char *name = options_get(&command->values, "fail-on");

    if (name == NULL)
        return CLI_EXIT_OK;
    if (severity_parse(name, &command->threshold) != 0 ||
        command->threshold == SEVERITY_NONE)
        return cli_usage_error("scan",
                               "invalid --fail-on '%s': use CRITICAL, HIGH, "
                               "MEDIUM, LOW, NEGLIGIBLE or UNKNOWN",
                               name);
    if (options_get(&command->values, "vuln-db") == NULL)
        return cli_usage_error("scan",
                               "--fail-on needs a vulnerability database "
                               "(--vuln-db or IMGASSURE_VULN_DB)");
    command->has_threshold = 1;
    return CLI_EXIT_OK;
}

static int load_vulndb(struct scan_command *command)
{
    struct vulndb_config config;
    char errbuf[512];

    memset(&config, 0, sizeof(config));
    config.osv_path = options_get(&command->values, "vuln-db");
    config.cve_path = options_get(&command->values, "cve-db");
    if (config.osv_path == NULL)
        return CLI_EXIT_OK;
    vulndb_limits_default(&config.limits);
    if (vulndb_load(&config, &command->vulndb, errbuf, sizeof(errbuf)) != 0)
        return cli_usage_error("scan", "cannot load --vuln-db %s: %s",
                               config.osv_path, errbuf);
    command->options.vulndb = command->vulndb;
    return CLI_EXIT_OK;
}

static int read_scan_options(struct scan_command *command)
{
    const struct option_values *values = &command->values;
    struct scan_options *options = &command->options;

    if (options_get_int(values, "max-kept-file-bytes", 1) < 1)
        return cli_usage_error("scan", "--max-kept-file-bytes must be a "
                                       "positive number of bytes");
    options->max_kept_file_bytes = (uint64_t)options_get_int(
        values, "max-kept-file-bytes", 64LL * 1024 * 1024);

    options->credentials_file = options_get(values, "auth-file");
    options->insecure_registries = options_get(values, "insecure-registries");
    options->connect_timeout_s = options_get_int(values, "connect-timeout", 15);
    options->pull_timeout_s = options_get_int(values, "pull-timeout", 1800);
    options->max_image_bytes =
        options_get_int(values, "max-image-bytes", 20LL * 1024 * 1024 * 1024);
    options->vulndb_max_age_ms =
        options_get_int(values, "vuln-db-max-age-days", 7) * 86400000LL;
    options->abort_requested = &interrupted;
    return CLI_EXIT_OK;
}

/* Splits "DIR[:TAG]": a last part after ':' that is a valid tag. */
static const char *split_layout_tag(char *text)
{
    char *colon = strrchr(text, ':');

    if (colon == NULL || image_ref_validate_tag(colon + 1) != 0)
        return NULL;
    *colon = '\0';
    return colon + 1;
}

static int open_local_source(struct scan_command *command)
{
    const char *text = command->source_text;
    char errbuf[512], dir[4096];
    const char *tag;

    if (strncmp(text, DOCKER_ARCHIVE_PREFIX, strlen(DOCKER_ARCHIVE_PREFIX)) ==
        0) {
        command->source = image_source_docker_archive_new(
            text + strlen(DOCKER_ARCHIVE_PREFIX), errbuf, sizeof(errbuf));
    } else {
        snprintf(dir, sizeof(dir), "%s", text + strlen(OCI_LAYOUT_PREFIX));
        tag = split_layout_tag(dir);
        command->source =
            image_source_oci_layout_new(dir, tag, errbuf, sizeof(errbuf));
    }
    if (command->source != NULL)
        return CLI_EXIT_OK;
    fprintf(stderr, "imgassure scan: %s: %s\n", text, errbuf);
    return SCAN_EXIT_NOT_SCANNED;
}

static int is_local(const char *text)
{
    return strncmp(text, DOCKER_ARCHIVE_PREFIX,
                   strlen(DOCKER_ARCHIVE_PREFIX)) == 0 ||
           strncmp(text, OCI_LAYOUT_PREFIX, strlen(OCI_LAYOUT_PREFIX)) == 0;
}

static int open_source(struct scan_command *command, struct image_ref *ref)
{
    char errbuf[256];

    if (is_local(command->source_text))
        return open_local_source(command);
    if (image_ref_parse(command->source_text, ref, errbuf, sizeof(errbuf)) != 0)
        return cli_usage_error("scan", "invalid image reference '%s': %s",
                               command->source_text, errbuf);
    scan_open_registry_source(&command->options, ref, &command->source,
                              &command->result);
    if (command->source != NULL)
        return CLI_EXIT_OK;
    fprintf(stderr, "imgassure scan: %s\n", command->result.status_detail);
    return SCAN_EXIT_NOT_SCANNED;
}

/* The registry name the image is known by, or "" for a local image that
 * names none: results are never named by a local path. */
static void image_name(const struct scan_command *command, char *out,
                       size_t out_size)
{
    const char *given = options_get(&command->values, "image");

    if (given != NULL)
        snprintf(out, out_size, "%s", given);
    else if (!is_local(command->source_text))
        snprintf(out, out_size, "%s", command->source_text);
    else
        snprintf(out, out_size, "%s", command->source->name);
}

static char *copy_optional(const char *text)
{
    return text != NULL && *text != '\0' ? strdup(text) : NULL;
}

/* Fills what the scan does not: identity, ids and the start time. */
static int describe_image(struct scan_command *command)
{
    struct image_location *image = &command->result.image;
    struct image_ref ref;
    char name[IMAGE_REF_TEXT_MAX + 1], errbuf[256], id[UUID_TEXT_SIZE];

    image_name(command, name, sizeof(name));
    memset(&ref, 0, sizeof(ref));
    if (name[0] == '\0') {
        /* Shown only: a local image without a name is never published. */
        snprintf(ref.registry, sizeof(ref.registry), "local");
        snprintf(ref.repository, sizeof(ref.repository), "%s",
                 command->source->kind == IMAGE_SOURCE_DOCKER_ARCHIVE
                     ? "docker-archive"
                     : "oci-layout");
    } else if (image_ref_parse(name, &ref, errbuf, sizeof(errbuf)) != 0) {
        return cli_usage_error("scan", "invalid --image '%s': %s", name,
                               errbuf);
    }

    image->account = copy_optional(options_get(&command->values, "account"));
    image->environment_id = copy_optional(options_get(&command->values, "env"));
    image->environment_kind = ENVIRONMENT_SHIFTLEFT;
    image->registry = strdup(ref.registry);
    image->repository = strdup(ref.repository);
    image->tag = copy_optional(ref.tag);
    image->digest = copy_optional(ref.digest);
    image->platform = copy_optional(options_get(&command->values, "platform"));
    if (uuid_generate_text(id) == 0)
        command->result.request_id = strdup(id);
    command->result.worker_id = strdup("imgassure-scan");
    command->result.attempt = 1;
    command->result.started_at_ms = clock_now_ms();
    return CLI_EXIT_OK;
}

static int publishing(const struct scan_command *command)
{
    return options_get(&command->values, "brokers") != NULL;
}

/* Publishing needs a name a worker can use, never a local path. */
static int check_publishable(const struct scan_command *command)
{
    const struct image_location *image = &command->result.image;

    if (!publishing(command))
        return CLI_EXIT_OK;
    if (!ids_valid_name(image->account) ||
        !ids_valid_name(image->environment_id))
        return cli_usage_error("scan",
                               "publishing (--brokers or IMGASSURE_BROKERS) "
                               "needs a valid --account and --env");
    if (is_local(command->source_text) &&
        options_get(&command->values, "image") == NULL &&
        command->source->name[0] == '\0')
        return cli_usage_error("scan",
                               "the local image names no registry; give the "
                               "name it is pushed under with --image");
    return CLI_EXIT_OK;
}

static void print_result(const struct scan_command *command)
{
    json_t *json;

    if (!options_get(&command->values, "json")) {
        result_format_table_header(stdout);
        result_format_table_row(stdout, &command->result);
        return;
    }
    json = result_format_json(&command->result);
    if (json != NULL) {
        json_object_set_new(json, "source", json_string(command->source_text));
        json_dumpf(json, stdout, JSON_COMPACT);
    }
    fputc('\n', stdout);
    json_decref(json);
}

static int produce(rd_kafka_t *producer, const char *prefix, const char *name,
                   const struct image_location *image,
                   const unsigned char *value, size_t value_size,
                   struct kafka_delivery *delivery, char *errbuf,
                   size_t errbuf_size)
{
    char topic[256], key[1024];

    if (kafka_topic_name(prefix, name, topic, sizeof(topic)) != 0 ||
        location_format_key(image, key, sizeof(key)) != 0) {
        snprintf(errbuf, errbuf_size, "topic prefix or image name too long");
        return -1;
    }
    return kafka_produce(producer, topic, key, strlen(key), value, value_size,
                         NULL, delivery, errbuf,
                         errbuf_size) == RD_KAFKA_RESP_ERR_NO_ERROR
               ? 0
               : -1;
}

/* Encodes the result and a SHIFTLEFT sighting of the image. */
static int encode_events(const struct scan_result *result,
                         unsigned char **result_value, size_t *result_size,
                         unsigned char **seen_value, size_t *seen_size,
                         char *errbuf, size_t errbuf_size)
{
    struct image_seen seen;
    char id[UUID_TEXT_SIZE];
    int failed;

    if (scan_result_encode(result, result_value, result_size, errbuf,
                           errbuf_size) != 0)
        return -1;
    memset(&seen, 0, sizeof(seen));
    if (uuid_generate_text(id) != 0) {
        snprintf(errbuf, errbuf_size, "cannot generate an event id");
        return -1;
    }
    seen.event_id = id;
    seen.image = result->image;
    seen.activity = ACTIVITY_PRESENT;
    seen.seen_at_ms = result->finished_at_ms;
    failed =
        image_seen_encode(&seen, seen_value, seen_size, errbuf, errbuf_size);
    return failed;
}

static int publish(struct scan_command *command)
{
    const struct option_values *values = &command->values;
    struct kafka_delivery result_delivery = {0}, seen_delivery = {0};
    struct kafka_delivery *deliveries[] = {&result_delivery, &seen_delivery};
    const char *prefix = options_get(values, "topic-prefix");
    unsigned char *result_value = NULL, *seen_value = NULL;
    size_t result_size = 0, seen_size = 0, property_count;
    const char *const *properties =
        options_get_list(values, "property", &property_count);
    rd_kafka_t *producer;
    char errbuf[512];
    int failed = -1;

    producer = kafka_producer_new(options_get(values, "brokers"), properties,
                                  property_count, NULL, errbuf, sizeof(errbuf));
    if (producer != NULL &&
        encode_events(&command->result, &result_value, &result_size,
                      &seen_value, &seen_size, errbuf, sizeof(errbuf)) == 0 &&
        produce(producer, prefix, KAFKA_TOPIC_SCAN_RESULTS,
                &command->result.image, result_value, result_size,
                &result_delivery, errbuf, sizeof(errbuf)) == 0 &&
        produce(producer, prefix, KAFKA_TOPIC_IMAGES_SEEN,
                &command->result.image, seen_value, seen_size, &seen_delivery,
                errbuf, sizeof(errbuf)) == 0)
        failed = kafka_wait_deliveries(
            producer, deliveries, 2,
            (int)options_get_int(values, "timeout-ms", 30000), errbuf,
            sizeof(errbuf));
    free(result_value);
    free(seen_value);
    if (producer != NULL)
        rd_kafka_destroy(producer);
    if (failed) {
        fprintf(stderr, "imgassure scan: result not published: %s\n", errbuf);
        return SCAN_EXIT_NOT_PUBLISHED;
    }
    return CLI_EXIT_OK;
}

/* Stores the published result as the image's state. The result is not
 * shared with the account's other images by digest: a local source's
 * bytes were never checked against any registry. */
static int store_state(struct scan_command *command)
{
    const char *url = options_get(&command->values, "redis-url");
    struct image_state_store *store;
    char errbuf[512];
    int failed;

    if (url == NULL || url[0] == '\0')
        return CLI_EXIT_OK;
    store = image_state_connect(url, errbuf, sizeof(errbuf));
    failed = store == NULL ||
             image_state_record_result(store, &command->result, "", NULL,
                                       errbuf, sizeof(errbuf)) != 0;
    image_state_free(store);
    if (failed) {
        fprintf(stderr,
                "imgassure scan: result published but not stored in Redis: "
                "%s\n",
                errbuf);
        return SCAN_EXIT_NOT_PUBLISHED;
    }
    return CLI_EXIT_OK;
}

static int threshold_reached(const struct scan_command *command)
{
    for (size_t i = 0; i < command->result.finding_count; i++) {
        if (command->result.findings[i].severity >= command->threshold)
            return 1;
    }
    return 0;
}

/* A finding without a rating may be of any severity, so --fail-on cannot
 * judge it. Debian's OSV records rate few advisories, so without --cve-db
 * most Debian findings are unrated. */
static void warn_unrated(const struct scan_command *command)
{
    size_t unrated = 0;

    if (!command->has_threshold || command->threshold <= SEVERITY_UNKNOWN)
        return;
    for (size_t i = 0; i < command->result.finding_count; i++)
        unrated += command->result.findings[i].severity == SEVERITY_UNKNOWN;
    if (unrated > 0)
        fprintf(stderr,
                "imgassure scan: warning: %zu findings have no severity "
                "rating, so --fail-on %s did not count them; %suse "
                "--fail-on UNKNOWN to fail on them too\n",
                unrated, severity_name(command->threshold),
                options_get(&command->values, "cve-db") == NULL
                    ? "give --cve-db for CVSS ratings, or "
                    : "");
}

/* Says why the command fails the pipeline, beside the table. */
static void report_threshold(const struct scan_command *command)
{
    size_t reached = 0;

    for (size_t i = 0; i < command->result.finding_count; i++)
        reached += command->result.findings[i].severity >= command->threshold;
    fprintf(stderr,
            "imgassure scan: %zu findings are %s or worse (--fail-on %s)\n",
            reached, severity_name(command->threshold),
            severity_name(command->threshold));
}

/* The exit code of a finished scan, before publishing. */
static int verdict(const struct scan_command *command)
{
    const struct scan_result *result = &command->result;

    if (result->status != SCAN_STATUS_SCANNED)
        return SCAN_EXIT_NOT_SCANNED;
    if (!command->has_threshold)
        return CLI_EXIT_OK;
    if (!result->vulnerabilities_matched)
        return SCAN_EXIT_NOT_SCANNED;
    return threshold_reached(command) ? SCAN_EXIT_THRESHOLD : CLI_EXIT_OK;
}

static int scan_and_report(struct scan_command *command)
{
    struct image_ref ref;
    int exit_code;

    exit_code = read_scan_options(command);
    if (exit_code == CLI_EXIT_OK)
        exit_code = load_vulndb(command);
    if (exit_code == CLI_EXIT_OK)
        exit_code = open_source(command, &ref);
    if (exit_code == CLI_EXIT_OK)
        exit_code = describe_image(command);
    if (exit_code == CLI_EXIT_OK)
        exit_code = check_publishable(command);
    if (exit_code != CLI_EXIT_OK)
        return exit_code;

    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    if (scan_image_source(&command->options, command->source,
                          options_get(&command->values, "platform"),
                          &command->result) != 0)
        return CLI_EXIT_INTERRUPTED;
    command->result.finished_at_ms = clock_now_ms();
    if (command->result.image.digest == NULL &&
        command->result.manifest_digest != NULL)
        command->result.image.digest = strdup(command->result.manifest_digest);

    print_result(command);
    warn_unrated(command);
    exit_code = verdict(command);
    if (exit_code == SCAN_EXIT_THRESHOLD)
        report_threshold(command);
    if (publishing(command) && (publish(command) != CLI_EXIT_OK ||
                                store_state(command) != CLI_EXIT_OK))
        return SCAN_EXIT_NOT_PUBLISHED;
    return exit_code;
}

int cli_scan(int argc, char **argv)
{
    struct scan_command command;
    int exit_code;

    memset(&command, 0, sizeof(command));
    if (parse_arguments(&command, argc, argv, &exit_code) != 0)
        return exit_code;
    exit_code = read_threshold(&command);
    if (exit_code == CLI_EXIT_OK)
        exit_code = scan_and_report(&command);

    image_source_free(command.source);
    vulndb_free(command.vulndb);
    scan_result_clear(&command.result);
    return exit_code;
}
