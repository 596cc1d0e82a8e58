#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"seen", cli_seen, "publish an image-seen event"},
    {"request-scan", cli_request_scan, "request a scan of one image"},
    {"results", cli_results, "print scan results (table or JSON lines)"},
    {"scan", cli_scan, "scan one image here, for CI pipelines"},
    {"retry-failed", cli_retry_failed,
     "request scans of an environment's images that failed"},
    {"images", cli_images, "list the images an account's environments saw"},
    {"settings", cli_settings, "show or change an account's settings"},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: imgassure COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`imgassure COMMAND --help` lists a command's options.\n");
}

int cli_usage_error(const char *command, const char *format, ...)
{
    va_list args;

    fprintf(stderr, "imgassure %s: ", command);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    return CLI_EXIT_USAGE;
}

int cli_parse(const char *usage, const char *summary,
              const struct option_spec *specs, size_t spec_count, int argc,
              char **argv, struct option_values *values, int *exit_code)
{
    char reason[256];

    if (options_parse(specs, spec_count, argc, argv, values, reason,
                      sizeof(reason)) != 0) {
        *exit_code = cli_usage_error(argv[0], "%s", reason);
        return -1;
    }
    if (values->help_requested) {
        options_print_help(stdout, usage, summary, specs, spec_count);
        *exit_code = CLI_EXIT_OK;
        return -1;
    }
    if (values->first_operand < argc) {
        *exit_code = cli_usage_error(argv[0], "unexpected argument '%s'",
                                     argv[values->first_operand]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_usage(stdout);
        return CLI_EXIT_OK;
    }

    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "imgassure: unknown command '%s' (see imgassure --help)\n",
            argv[1]);
    return CLI_EXIT_USAGE;
}
