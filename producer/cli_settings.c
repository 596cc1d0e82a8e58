/* `imgassure settings get|set`: an account's TTLs and activity window. */
#include "account_settings.h"
#include "cli.h"
#include "ids.h"
#include "redis_conn.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define REDIS_TIMEOUT_MS 5000

static const struct option_spec settings_options[] = {
    CLI_REDIS_OPTION,
    {"account", 'a', OPTION_STRING, "IMGASSURE_ACCOUNT", NULL, "ACCOUNT",
     "account whose settings to read or change (required)"},
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static const char settings_usage[] =
    "imgassure settings get --account A [NAME]\n"
    "       imgassure settings set --account A NAME VALUE";

static const char settings_summary[] =
    "Shows or changes an account's settings, in seconds: kubernetes_ttl_s "
    "(how long a Kubernetes, ECS or Fargate image stays after it became "
    "inactive, default 604800), shiftleft_ttl_s (how long a ShiftLeft image "
    "stays after its last scan, default 2592000) and activity_window_s (a "
    "workload seen running within it keeps its image active, default "
    "3600). Values are whole seconds from 60 to 10 years. `get` prints "
    "\"NAME VALUE\" lines, or only the value when NAME is given.";

static int print_settings(redisContext *redis, const char *account,
                          const char *name)
{
    struct account_settings settings;
    int64_t *field;
    char errbuf[512];

    if (name != NULL && account_setting_field(&settings, name) == NULL)
        return cli_usage_error("settings",
                               "unknown setting \"%s\" (known: "
                               "kubernetes_ttl_s, shiftleft_ttl_s, "
                               "activity_window_s)",
                               name);
    if (account_settings_load(redis, account, &settings, errbuf,
                              sizeof(errbuf)) != 0) {
        fprintf(stderr, "imgassure settings: %s\n", errbuf);
        return CLI_EXIT_FAILURE;
    }

    if (name != NULL) {
        printf("%" PRId64 "\n", *account_setting_field(&settings, name));
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; account_setting_names[i] != NULL; i++) {
        field = account_setting_field(&settings, account_setting_names[i]);
        printf("%s %" PRId64 "\n", account_setting_names[i], *field);
    }
    return CLI_EXIT_OK;
}

static int store_setting(redisContext *redis, const char *account,
                         const char *name, const char *value)
{
    int64_t seconds;
    char errbuf[512];

    /* Validated before Redis is written, so that an invalid value is a
     * usage error and changes nothing. */
    if (account_setting_parse(name, value, &seconds, errbuf, sizeof(errbuf)) !=
        0)
        return cli_usage_error("settings", "%s", errbuf);
    if (account_settings_set(redis, account, name, value, errbuf,
                             sizeof(errbuf)) != 0) {
        fprintf(stderr, "imgassure settings: %s\n", errbuf);
        return CLI_EXIT_FAILURE;
    }
    printf("%s %" PRId64 "\n", name, seconds);
    return CLI_EXIT_OK;
}

/* Checks the operands after the options: "get [NAME]" or "set NAME VALUE".
 * Returns 0, or the usage error's exit code. */
static int check_operands(const char *action, int operand_count)
{
    if (strcmp(action, "get") == 0) {
        if (operand_count > 1)
            return cli_usage_error("settings",
                                   "get takes at most one setting name");
        return 0;
    }
    if (strcmp(action, "set") == 0) {
        if (operand_count != 2)
            return cli_usage_error("settings", "set takes NAME VALUE");
        return 0;
    }
    return cli_usage_error("settings",
                           "unknown action '%s': expected get or set", action);
}

int cli_settings(int argc, char **argv)
{
    struct option_values values;
    const char *account;
    redisContext *redis;
    char reason[256];
    char **operands;
    int operand_count;
    int exit_code;

    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 &&
            (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            options_print_help(stdout, settings_usage, settings_summary,
                               settings_options, COUNT(settings_options));
            return CLI_EXIT_OK;
        }
        return cli_usage_error("settings", "expected get or set");
    }
    if (options_parse(settings_options, COUNT(settings_options), argc - 1,
                      argv + 1, &values, reason, sizeof(reason)) != 0)
        return cli_usage_error("settings", "%s", reason);
    if (values.help_requested) {
        options_print_help(stdout, settings_usage, settings_summary,
                           settings_options, COUNT(settings_options));
        return CLI_EXIT_OK;
    }
    operands = argv + 1 + values.first_operand;
    operand_count = argc - 1 - values.first_operand;
    exit_code = check_operands(argv[1], operand_count);
    if (exit_code != 0)
        return exit_code;
    account = options_get(&values, "account");
    if (account == NULL)
        return cli_usage_error("settings", "missing --account");
    if (!ids_valid_name(account))
        return cli_usage_error("settings", "invalid account '%s'", account);

    redis = redis_connect_url(options_get(&values, "redis-url"),
                              REDIS_TIMEOUT_MS, reason, sizeof(reason));
    if (redis == NULL) {
        fprintf(stderr,
                "imgassure settings: %s (set --redis-url or "
                "IMGASSURE_REDIS_URL)\n",
                reason);
        return CLI_EXIT_FAILURE;
    }
    if (strcmp(argv[1], "get") == 0)
        exit_code = print_settings(redis, account,
                                   operand_count == 1 ? operands[0] : NULL);
    else
        exit_code = store_setting(redis, account, operands[0], operands[1]);
    redisFree(redis);
    return exit_code;
}
