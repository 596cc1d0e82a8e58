/* `imgassure images`: the images an account's environments saw, from the
 * workers' Redis state. */
#include "cli.h"
#include "clock.h"
#include "ids.h"
#include "image_format.h"
#include "image_list.h"
#include "redis_conn.h"

#include <stdio.h>
#include <stdlib.h>

#define REDIS_TIMEOUT_MS 5000

static const struct option_spec images_options[] = {
    CLI_REDIS_OPTION,
    {"account", 'a', OPTION_STRING, "IMGASSURE_ACCOUNT", NULL, "ACCOUNT",
     "account whose images to list (required)"},
    {"env", 'e', OPTION_STRING, NULL, NULL, "ENV_ID",
     "only images of this environment"},
    {"status", 's', OPTION_STRING, NULL, NULL, "STATUS",
     "only images with this status, e.g. SCANNED or NETWORK_ERROR"},
    {"json", 'j', OPTION_FLAG, NULL, NULL, NULL,
     "print one JSON object per line instead of a table"},
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* An image without a result yet counts as PENDING_SCAN, as it is shown. */
static int status_wanted(const struct image_entry *entry, int filtered,
                         enum scan_status wanted)
{
    enum scan_status status =
        entry->has_status ? entry->status : SCAN_STATUS_PENDING_SCAN;

    return !filtered || status == wanted;
}

/* Moves the entries the filter keeps to the front; returns their count. */
static size_t keep_wanted(struct image_list *list, int filtered,
                          enum scan_status wanted)
{
    size_t kept = 0;

    for (size_t i = 0; i < list->count; i++) {
        struct image_entry entry = list->entries[i];

        if (!status_wanted(&entry, filtered, wanted))
            continue;
        list->entries[i] = list->entries[kept];
        list->entries[kept++] = entry;
    }
    return kept;
}

static int print_json(const char *account, const struct image_entry *entries,
                      size_t count)
{
    for (size_t i = 0; i < count; i++) {
        json_t *object = image_format_json(account, &entries[i]);

        if (object == NULL) {
            fprintf(stderr, "imgassure images: out of memory\n");
            return CLI_EXIT_FAILURE;
        }
        json_dumpf(object, stdout, JSON_COMPACT | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_decref(object);
    }
    return CLI_EXIT_OK;
}

int cli_images(int argc, char **argv)
{
    struct option_values values;
    struct image_list list = {0};
    enum scan_status wanted = SCAN_STATUS_SCANNED;
    const char *account;
    const char *environment;
    const char *status;
    redisContext *redis;
    char errbuf[512];
    int exit_code;
    size_t shown;

    if (cli_parse("imgassure images --account A [--env E] [--status S] "
                  "[--json]",
                  "Lists the images an account's environments saw: name, "
                  "short digest, environment, status, vulnerability level, "
                  "risk score, last seen and whether it is active. Images "
                  "never seen are not listed.",
                  images_options, COUNT(images_options), argc, argv, &values,
                  &exit_code) != 0)
        return exit_code;
    account = options_get(&values, "account");
    environment = options_get(&values, "env");
    status = options_get(&values, "status");
    if (account == NULL)
        return cli_usage_error("images", "missing --account");
    if (!ids_valid_name(account))
        return cli_usage_error("images", "invalid account '%s'", account);
    if (environment != NULL && !ids_valid_name(environment))
        return cli_usage_error("images", "invalid environment id '%s'",
                               environment);
    if (status != NULL && scan_status_parse(status, &wanted) != 0)
        return cli_usage_error("images",
                               "unknown status '%s': expected one of SCANNED, "
                               "PENDING_SCAN, PARTIAL, UNSUPPORTED_OS, "
                               "UNMATCHED, NOT_AN_IMAGE, NETWORK_ERROR, "
                               "UNAUTHORIZED, INSUFFICIENT_RESOURCES, TIMEOUT, "
                               "INTERNAL_ERROR",
                               status);

    redis = redis_connect_url(options_get(&values, "redis-url"),
                              REDIS_TIMEOUT_MS, errbuf, sizeof(errbuf));
    if (redis == NULL) {
        fprintf(stderr,
                "imgassure images: %s (set --redis-url or "
                "IMGASSURE_REDIS_URL)\n",
                errbuf);
        return CLI_EXIT_FAILURE;
    }
    if (image_list_load(redis, account, environment, clock_now_ms(), &list,
                        errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "imgassure images: %s\n", errbuf);
        exit_code = CLI_EXIT_FAILURE;
        goto out;
    }

    shown = keep_wanted(&list, status != NULL, wanted);
    if (options_get(&values, "json") != NULL)
        exit_code = print_json(account, list.entries, shown);
    else if (shown == 0)
        printf("account %s has no seen images%s%s%s%s\n", account,
               environment ? " in environment " : "",
               environment ? environment : "", status ? " with status " : "",
               status ? status : "");
    else
        image_format_table(stdout, list.entries, shown);

out:
    image_list_clear(&list);
    redisFree(redis);
    return exit_code;
}
