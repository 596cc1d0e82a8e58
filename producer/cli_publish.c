/* `imgassure seen`: publish one image-seen event. */
#include "cli.h"
#include "imgassure.h"

#include <stdio.h>
#include <stdlib.h>

/* One option per line reads better than one field per line. */
/* clang-format off */
#define IMAGE_OPTIONS                                                          \
    {"account", 'a', OPTION_STRING, "IMGASSURE_ACCOUNT", NULL, "ACCOUNT",      \
     "account the image belongs to (required)"},                               \
    {"env", 'e', OPTION_STRING, "IMGASSURE_ENVIRONMENT", NULL, "ENV_ID",       \
     "environment id within the account (required)"},                          \
    {"kind", 'k', OPTION_STRING, "IMGASSURE_ENVIRONMENT_KIND", "KUBERNETES",   \
     "KIND", "environment kind: KUBERNETES, CONTAINER_REGISTRY, ECS, "         \
     "FARGATE or SHIFTLEFT"},                                                  \
    {"image", 'i', OPTION_STRING, NULL, NULL, "REFERENCE",                     \
     "image reference registry/repository[:tag][@digest] (required)"},         \
    {"digest", 'd', OPTION_STRING, NULL, NULL, "sha256:HEX",                   \
     "digest the image was seen with (index or manifest)"},                    \
    {"platform", 'p', OPTION_STRING, NULL, NULL, "OS/ARCH[/VARIANT]",          \
     "platform to scan when the digest names an index"},                       \
    {"timeout-ms", 0, OPTION_INT, "IMGASSURE_DELIVERY_TIMEOUT_MS", "30000",    \
     "MILLISECONDS", "how long to wait for the broker to acknowledge"}
/* clang-format on */

static const struct option_spec seen_options[] = {
    CLI_KAFKA_OPTIONS,
    IMAGE_OPTIONS,
    {"activity", 0, OPTION_STRING, NULL, "RUNNING", "ACTIVITY",
     "RUNNING (a workload runs it), PRESENT or DELETED (in a registry)"},
    {"workload", 'w', OPTION_STRING, NULL, NULL, "NAME",
     "workload that runs the image"},
    {"seen-at", 0, OPTION_INT, NULL, NULL, "EPOCH_MS",
     "time of observation in milliseconds since the epoch (default: now)"},
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static int read_image(const struct option_values *values, const char *command,
                      struct imgassure_image *image)
{
    image->account = options_get(values, "account");
    image->environment_id = options_get(values, "env");
    image->environment_kind = options_get(values, "kind");
    image->reference = options_get(values, "image");
    image->digest = options_get(values, "digest");
    image->platform = options_get(values, "platform");

    if (image->account == NULL)
        return cli_usage_error(command, "missing --account");
    if (image->environment_id == NULL)
        return cli_usage_error(command, "missing --env");
    if (image->reference == NULL)
        return cli_usage_error(command, "missing --image");
    return CLI_EXIT_OK;
}

imgassure_producer_t *cli_open_producer(const struct option_values *values,
                                        const char *command)
{
    const char *const *properties;
    size_t property_count;
    imgassure_producer_t *producer;
    char errbuf[512];

    properties = options_get_list(values, "property", &property_count);
    producer = imgassure_producer_new(
        options_get(values, "brokers"), options_get(values, "topic-prefix"),
        properties, property_count, errbuf, sizeof(errbuf));
    if (producer == NULL)
        fprintf(stderr, "imgassure %s: %s\n", command, errbuf);
    return producer;
}

/* Waits for delivery and closes the producer; returns the exit code. */
static int finish(imgassure_producer_t *producer,
                  const struct option_values *values, const char *command)
{
    char errbuf[512];
    int timeout_ms = (int)options_get_int(values, "timeout-ms", 30000);
    int failed =
        imgassure_producer_flush(producer, timeout_ms, errbuf, sizeof(errbuf));

    if (failed)
        fprintf(stderr, "imgassure %s: %s\n", command, errbuf);
    imgassure_producer_free(producer);
    return failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
}

int cli_seen(int argc, char **argv)
{
    struct option_values values;
    struct imgassure_image image;
    imgassure_producer_t *producer;
    char errbuf[512];
    int exit_code;

    if (cli_parse("imgassure seen --account A --env E --image REF [OPTIONS]",
                  "Publishes an image-seen event: an agent or a registry saw "
                  "this image.",
                  seen_options, COUNT(seen_options), argc, argv, &values,
                  &exit_code) != 0)
        return exit_code;
    exit_code = read_image(&values, "seen", &image);
    if (exit_code != CLI_EXIT_OK)
        return exit_code;

    producer = cli_open_producer(&values, "seen");
    if (producer == NULL)
        return CLI_EXIT_USAGE;
    if (imgassure_publish_seen(producer, &image,
                               options_get(&values, "activity"),
                               options_get(&values, "workload"),
                               options_get_int(&values, "seen-at", 0), errbuf,
                               sizeof(errbuf)) != 0) {
        imgassure_producer_free(producer);
        return cli_usage_error("seen", "%s", errbuf);
    }
    return finish(producer, &values, "seen");
}
