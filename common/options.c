#include "options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int find_spec(const struct option_spec *specs, size_t spec_count,
                     const char *name, size_t name_length)
{
    for (size_t i = 0; i < spec_count; i++) {
        if (strlen(specs[i].name) == name_length &&
            strncmp(specs[i].name, name, name_length) == 0)
            return (int)i;
    }
    return -1;
}

static int find_short(const struct option_spec *specs, size_t spec_count,
                      char short_name)
{
    for (size_t i = 0; i < spec_count; i++) {
        if (specs[i].short_name != 0 && specs[i].short_name == short_name)
            return (int)i;
    }
    return -1;
}

static int parse_integer(const char *text, long *number)
{
    char *end;

    if (text == NULL || *text == '\0' || *text == '-' || *text == '+')
        return -1;
    errno = 0;
    *number = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    return 0;
}

static int store_value(struct option_values *values, int index,
                       const char *value, char *errbuf, size_t errbuf_size)
{
    const struct option_spec *spec = &values->specs[index];
    long number;

    if (spec->type == OPTION_INT && parse_integer(value, &number) != 0) {
        snprintf(errbuf, errbuf_size,
                 "invalid value for --%s: '%s' is not a non-negative integer",
                 spec->name, value);
        return -1;
    }

    if (spec->type != OPTION_LIST) {
        values->value[index] = value;
        return 0;
    }

    if (values->list_count[index] >= OPTIONS_LIST_MAX) {
        snprintf(errbuf, errbuf_size, "too many --%s options (maximum %d)",
                 spec->name, OPTIONS_LIST_MAX);
        return -1;
    }
    values->list[index][values->list_count[index]++] = value;
    return 0;
}

/* Parses one argument that starts with "-" at argv[*position], consuming
 * its value from the next argument when the option takes one. */
static int parse_one(struct option_values *values, int argc, char **argv,
                     int *position, char *errbuf, size_t errbuf_size)
{
    const char *argument = argv[*position];
    const char *inline_value = NULL;
    int index;

    if (argument[1] == '-') {
        const char *name = argument + 2;
        const char *equals = strchr(name, '=');
        size_t name_length = equals ? (size_t)(equals - name) : strlen(name);

        index = find_spec(values->specs, values->spec_count, name, name_length);
        if (equals != NULL)
            inline_value = equals + 1;
    } else {
        index = find_short(values->specs, values->spec_count, argument[1]);
        if (argument[2] != '\0')
            inline_value = argument + 2;
    }

    if (index < 0) {
        snprintf(errbuf, errbuf_size, "unknown option %s (see --help)",
                 argument);
        return -1;
    }

    if (values->specs[index].type == OPTION_FLAG) {
        if (inline_value != NULL) {
            snprintf(errbuf, errbuf_size, "option --%s takes no value",
                     values->specs[index].name);
            return -1;
        }
        values->value[index] = "1";
        return 0;
    }

    if (inline_value == NULL) {
        if (*position + 1 >= argc) {
            snprintf(errbuf, errbuf_size, "option --%s requires a value %s",
                     values->specs[index].name,
                     values->specs[index].value_name);
            return -1;
        }
        *position += 1;
        inline_value = argv[*position];
    }
    return store_value(values, index, inline_value, errbuf, errbuf_size);
}

int options_parse(const struct option_spec *specs, size_t spec_count, int argc,
                  char **argv, struct option_values *values, char *errbuf,
                  size_t errbuf_size)
{
    int position;

    if (spec_count > OPTIONS_MAX) {
        snprintf(errbuf, errbuf_size, "too many option specs: %zu", spec_count);
        return -1;
    }
    memset(values, 0, sizeof(*values));
    values->specs = specs;
    values->spec_count = spec_count;

    for (position = 1; position < argc; position++) {
        const char *argument = argv[position];

        if (strcmp(argument, "--") == 0) {
            position++;
            break;
        }
        if (argument[0] != '-' || argument[1] == '\0')
            break;
        if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
            values->help_requested = 1;
            continue;
        }
        if (parse_one(values, argc, argv, &position, errbuf, errbuf_size) != 0)
            return -1;
    }

    values->first_operand = position;
    return 0;
}

static int spec_index(const struct option_values *values, const char *name)
{
    int index =
        find_spec(values->specs, values->spec_count, name, strlen(name));

    if (index < 0) {
        fprintf(stderr, "internal error: no option named %s\n", name);
        abort();
    }
    return index;
}

const char *options_get(const struct option_values *values, const char *name)
{
    int index = spec_index(values, name);
    const struct option_spec *spec = &values->specs[index];
    const char *from_environment;

    if (values->value[index] != NULL)
        return values->value[index];

    if (spec->env != NULL) {
        from_environment = getenv(spec->env);
        if (from_environment != NULL && *from_environment != '\0')
            return from_environment;
    }
    return spec->default_value;
}

long options_get_int(const struct option_values *values, const char *name,
                     long fallback)
{
    const char *text = options_get(values, name);
    long number;

    if (text == NULL || parse_integer(text, &number) != 0)
        return fallback;
    return number;
}

const char *const *options_get_list(const struct option_values *values,
                                    const char *name, size_t *count)
{
    int index = spec_index(values, name);

    *count = values->list_count[index];
    return values->list[index];
}

void options_print_help(FILE *out, const char *usage, const char *summary,
                        const struct option_spec *specs, size_t spec_count)
{
    fprintf(out, "usage: %s\n\n%s\n\noptions:\n", usage, summary);

    for (size_t i = 0; i < spec_count; i++) {
        const struct option_spec *spec = &specs[i];
        char flag[96];

        if (spec->short_name != 0)
            snprintf(flag, sizeof(flag), "-%c, --%s", spec->short_name,
                     spec->name);
        else
            snprintf(flag, sizeof(flag), "    --%s", spec->name);

        if (spec->type == OPTION_FLAG)
            fprintf(out, "  %s\n", flag);
        else
            fprintf(out, "  %s %s\n", flag, spec->value_name);
        fprintf(out, "        %s\n", spec->help);
        if (spec->env != NULL)
            fprintf(out, "        environment: %s\n", spec->env);
        if (spec->type == OPTION_FLAG || spec->type == OPTION_LIST)
            continue;
        if (strstr(spec->help, "(default: ") != NULL)
            continue;
        fprintf(out, "        default: %s\n",
                spec->default_value ? spec->default_value : "none");
    }
    fprintf(out, "  -h, --help\n        print this help and exit\n");
}
