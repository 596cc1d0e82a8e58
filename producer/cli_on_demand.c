/* `imgassure request-scan` and `imgassure retry-failed`: on-demand scans,
 * checked against the image state and the account's quota in Redis. */
#include "cli.h"
#include "imgassure.h"

#include <stdio.h>

/* clang-format off */
#define ON_DEMAND_OPTIONS                                                      \
    CLI_KAFKA_OPTIONS,                                                         \
    CLI_REDIS_OPTION,                                                          \
    {"account", 'a', OPTION_STRING, "IMGASSURE_ACCOUNT", NULL, "ACCOUNT",      \
     "account the environment belongs to (required)"},                         \
    {"env", 'e', OPTION_STRING, "IMGASSURE_ENVIRONMENT", NULL, "ENV_ID",       \
     "environment id within the account (required)"},                          \
    {"timeout-ms", 0, OPTION_INT, "IMGASSURE_DELIVERY_TIMEOUT_MS", "30000",    \
     "MILLISECONDS", "how long to wait for the broker to acknowledge"}
/* clang-format on */

static const struct option_spec request_options[] = {
    ON_DEMAND_OPTIONS,
    {"image", 'i', OPTION_STRING, NULL, NULL, "REFERENCE",
     "image reference registry/repository[:tag][@digest] (required)"},
    {"digest", 'd', OPTION_STRING, NULL, NULL, "sha256:HEX",
     "digest the image was seen with; without it, the most recently seen "
     "image of the reference"},
    {"platform", 'p', OPTION_STRING, NULL, NULL, "OS/ARCH[/VARIANT]",
     "platform to scan when the digest names an index (default: the one "
     "recorded)"},
    {"kind", 'k', OPTION_STRING, NULL, NULL, "KIND",
     "expected environment kind; the recorded kind is used, and a different "
     "one is an error (default: not checked)"},
};

static const struct option_spec retry_options[] = {
    ON_DEMAND_OPTIONS,
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Prints the reason of anything but an acceptance; returns the exit code,
 * which equals the status. */
static int report(const char *command, enum imgassure_status status,
                  const char *reason)
{
    switch (status) {
    case IMGASSURE_ACCEPTED:
        break;
    case IMGASSURE_REFUSED:
        fprintf(stderr, "imgassure %s: refused: %s\n", command, reason);
        break;
    case IMGASSURE_INVALID:
    case IMGASSURE_FAILED:
        fprintf(stderr, "imgassure %s: %s\n", command, reason);
        break;
    }
    return (int)status;
}

/* Opens the producer and its Redis connection; prints the reason and
 * returns NULL on failure. */
static imgassure_producer_t *
open_connections(const struct option_values *values, const char *command)
{
    imgassure_producer_t *producer = cli_open_producer(values, command);
    char errbuf[512];

    if (producer == NULL)
        return NULL;
    if (imgassure_producer_connect_redis(producer,
                                         options_get(values, "redis-url"),
                                         errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr,
                "imgassure %s: %s (set --redis-url or IMGASSURE_REDIS_URL); "
                "nothing was requested\n",
                command, errbuf);
        imgassure_producer_free(producer);
        return NULL;
    }
    return producer;
}

static int require(const struct option_values *values, const char *command,
                   const char *name)
{
    if (options_get(values, name) != NULL)
        return 0;
    cli_usage_error(command, "missing --%s", name);
    return -1;
}

int cli_request_scan(int argc, char **argv)
{
    struct option_values values;
    struct imgassure_image image;
    struct imgassure_outcome outcome;
    imgassure_producer_t *producer;
    enum imgassure_status status;
    char errbuf[512];
    int exit_code;

    if (cli_parse("imgassure request-scan --account A --env E --image REF "
                  "[OPTIONS]",
                  "Requests a scan of one seen, active image now and prints "
                  "the request id; the result arrives on the results topic "
                  "with that id. Exit status: 0 accepted, 3 refused (never "
                  "seen, inactive, ShiftLeft, or the account's 200 requests "
                  "per hour used), 1 error, 2 invalid arguments.",
                  request_options, COUNT(request_options), argc, argv, &values,
                  &exit_code) != 0)
        return exit_code;
    if (require(&values, "request-scan", "account") != 0 ||
        require(&values, "request-scan", "env") != 0 ||
        require(&values, "request-scan", "image") != 0)
        return CLI_EXIT_USAGE;
    image.account = options_get(&values, "account");
    image.environment_id = options_get(&values, "env");
    image.environment_kind = options_get(&values, "kind");
    image.reference = options_get(&values, "image");
    image.digest = options_get(&values, "digest");
    image.platform = options_get(&values, "platform");

    producer = open_connections(&values, "request-scan");
    if (producer == NULL)
        return CLI_EXIT_FAILURE;
    status = imgassure_request_scan(
        producer, &image, (int)options_get_int(&values, "timeout-ms", 30000),
        &outcome, errbuf, sizeof(errbuf));
    imgassure_producer_free(producer);
    if (status == IMGASSURE_ACCEPTED)
        printf("%s\n", outcome.request_id);
    return report("request-scan", status, errbuf);
}

int cli_retry_failed(int argc, char **argv)
{
    struct option_values values;
    struct imgassure_outcome outcome;
    imgassure_producer_t *producer;
    enum imgassure_status status;
    char errbuf[512];
    int exit_code;

    if (cli_parse("imgassure retry-failed --account A --env E [OPTIONS]",
                  "Requests a scan of every active image of the environment "
                  "whose status is not SCANNED and prints how many were "
                  "requested. It counts as one on-demand request. Exit "
                  "status: 0 accepted, 3 refused, 1 error, 2 invalid "
                  "arguments.",
                  retry_options, COUNT(retry_options), argc, argv, &values,
                  &exit_code) != 0)
        return exit_code;
    if (require(&values, "retry-failed", "account") != 0 ||
        require(&values, "retry-failed", "env") != 0)
        return CLI_EXIT_USAGE;

    producer = open_connections(&values, "retry-failed");
    if (producer == NULL)
        return CLI_EXIT_FAILURE;
    status = imgassure_retry_failed(
        producer, options_get(&values, "account"), options_get(&values, "env"),
        (int)options_get_int(&values, "timeout-ms", 30000), &outcome, errbuf,
        sizeof(errbuf));
    imgassure_producer_free(producer);
    if (status == IMGASSURE_ACCEPTED)
        printf("scheduled %zu scans in environment %s\n", outcome.scheduled,
               options_get(&values, "env"));
    return report("retry-failed", status, errbuf);
}
