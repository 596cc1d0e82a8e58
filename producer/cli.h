/* The `imgassure` command line: one function per subcommand. */
#ifndef IMGASSURE_CLI_H
#define IMGASSURE_CLI_H

#include "imgassure.h"
#include "options.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_REFUSED 3 /* request-scan, retry-failed: a rule refused */
#define CLI_EXIT_INTERRUPTED 130 /* as a shell reports SIGINT */

/* Options every subcommand that talks to Kafka accepts. */
/* clang-format off */
#define CLI_KAFKA_OPTIONS                                                      \
    {"brokers", 'b', OPTION_STRING, "IMGASSURE_BROKERS", NULL,                 \
     "HOST:PORT,...", "Kafka bootstrap brokers"},                              \
    {"topic-prefix", 0, OPTION_STRING, "IMGASSURE_TOPIC_PREFIX", "imgassure.", \
     "PREFIX", "prefix of every topic name"},                                  \
    {"property", 'X', OPTION_LIST, NULL, NULL, "KEY=VALUE",                    \
     "librdkafka property, repeatable (e.g. -X security.protocol=ssl)"}
/* clang-format on */

/* The Redis the workers use, for the commands that read image state. */
#define CLI_REDIS_OPTION                                                       \
    {                                                                          \
        "redis-url", 0, OPTION_STRING, "IMGASSURE_REDIS_URL",                  \
            "redis://127.0.0.1:6379", "URL",                                   \
            "Redis that the workers use, "                                     \
            "redis://[[user]:password@]host[:port][/db]"                       \
    }

int cli_seen(int argc, char **argv);
int cli_request_scan(int argc, char **argv);
int cli_results(int argc, char **argv);
int cli_scan(int argc, char **argv);
int cli_retry_failed(int argc, char **argv);
int cli_images(int argc, char **argv);
int cli_settings(int argc, char **argv);

/* Creates a producer from the Kafka options; prints the reason and
 * returns NULL on failure. */
imgassure_producer_t *cli_open_producer(const struct option_values *values,
                                        const char *command);

/*
 * Parses argv for a subcommand; prints --help and returns CLI_EXIT_OK through
 * *exit_code, or prints a one-line error and returns CLI_EXIT_USAGE. Returns
 * 0 when the caller should go on, -1 when it should exit with *exit_code.
 */
int cli_parse(const char *usage, const char *summary,
              const struct option_spec *specs, size_t spec_count, int argc,
              char **argv, struct option_values *values, int *exit_code);

/* Prints "imgassure <command>: message" for a usage error and returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#endif
