/*
 * Command-line options shared by every imgassure program. Each setting has a
 * long flag, an IMGASSURE_* environment variable and a default; the flag wins
 * over the variable, the variable over the default. --help prints all three.
 */
#ifndef IMGASSURE_OPTIONS_H
#define IMGASSURE_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

enum option_type {
    OPTION_STRING,
    OPTION_INT,  /* a non-negative decimal integer */
    OPTION_FLAG, /* no value: "1" when given, else NULL */
    OPTION_LIST, /* repeatable; every occurrence is kept in order */
};

struct option_spec {
    const char *name; /* long flag without the dashes */
    char short_name;  /* 0 for none */
    enum option_type type;
    const char *env;           /* environment variable or NULL */
    const char *default_value; /* NULL: no default */
    const char *value_name;    /* shown in --help, e.g. "HOST:PORT" */
    /* A default computed at run time is written at the end of the help,
     * as "(default: now)", and default_value is NULL. */
    const char *help;
};

#define OPTIONS_MAX 48
#define OPTIONS_LIST_MAX 64

/* The parsed values; strings point into argv, the environment or the
 * specs, so they live as long as those. */
struct option_values {
    const struct option_spec *specs;
    size_t spec_count;
    const char *value[OPTIONS_MAX];
    const char *list[OPTIONS_MAX][OPTIONS_LIST_MAX];
    size_t list_count[OPTIONS_MAX];
    int help_requested;
    int first_operand; /* index in argv of the first non-option argument */
};

/*
 * Parses argv[1..argc-1] against specs. --help and -h set help_requested.
 * Returns 0, or -1 with a one-line message in errbuf for an unknown option,
 * a missing value, an integer that does not parse or a list over its
 * capacity.
 */
int options_parse(const struct option_spec *specs, size_t spec_count, int argc,
                  char **argv, struct option_values *values, char *errbuf,
                  size_t errbuf_size);

/* Returns the value of option `name` (flag, environment or default), or
 * NULL when it has none. Aborts when no spec has that name: that is a
 * programming error, not a user error. */
const char *options_get(const struct option_values *values, const char *name);

/* Returns the integer value of option `name`, or fallback when unset. The
 * value was validated by options_parse unless it came from the
 * environment, in which case a malformed value also yields fallback. */
long options_get_int(const struct option_values *values, const char *name,
                     long fallback);

/* Returns the occurrences of a list option and stores their number. */
const char *const *options_get_list(const struct option_values *values,
                                    const char *name, size_t *count);

/* Prints usage, a summary and one block per option: flag, variable,
 * default and help. */
void options_print_help(FILE *out, const char *usage, const char *summary,
                        const struct option_spec *specs, size_t spec_count);

#endif
