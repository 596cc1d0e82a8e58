#include "cvss.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum base_metric {
    METRIC_AV,
    METRIC_AC,
    METRIC_PR,
    METRIC_UI,
    METRIC_S,
    METRIC_C,
    METRIC_I,
    METRIC_A,
    BASE_METRIC_COUNT,
};

/* Every metric a v3 vector may carry, with the letters its value may take.
 * The first BASE_METRIC_COUNT entries are the base metrics, in the order
 * of enum base_metric. */
static const struct metric {
    const char *name;
    const char *values;
} metrics[] = {
    {"AV", "NALP"},  {"AC", "LH"},    {"PR", "NLH"},    {"UI", "NR"},
    {"S", "UC"},     {"C", "HLN"},    {"I", "HLN"},     {"A", "HLN"},
    {"E", "XUPFH"},  {"RL", "XOTWU"}, {"RC", "XURC"},   {"CR", "XLMH"},
    {"IR", "XLMH"},  {"AR", "XLMH"},  {"MAV", "XNALP"}, {"MAC", "XLH"},
    {"MPR", "XNLH"}, {"MUI", "XNR"},  {"MS", "XUC"},    {"MC", "XNLH"},
    {"MI", "XNLH"},  {"MA", "XNLH"},
};

#define METRIC_COUNT (sizeof(metrics) / sizeof(metrics[0]))

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
{
    va_list args;

    if (!errbuf || errbuf_size == 0)
        return;
    va_start(args, format);
    vsnprintf(errbuf, errbuf_size, format, args);
    va_end(args);
}

int cvss_roundup_tenths(enum cvss_version version, double value)
{
    if (version == CVSS_V3_0)
        return (int)ceil(value * 10.0);

    /* Rounding to hundred-thousandths first drops floating-point error far
     * below 0.00001, so a sum meant to be exactly 4.0 stays 4.0. */
    long hundred_thousandths = lround(value * 100000.0);
    if (hundred_thousandths % 10000 == 0)
        return (int)(hundred_thousandths / 10000);
    return (int)(hundred_thousandths / 10000 + 1);
}

enum cvss_rating cvss_rating_from_tenths(int tenths)
{
    if (tenths <= 0)
        return CVSS_RATING_NONE;
    if (tenths < 40)
        return CVSS_RATING_LOW;
    if (tenths < 70)
        return CVSS_RATING_MEDIUM;
    if (tenths < 90)
        return CVSS_RATING_HIGH;
    return CVSS_RATING_CRITICAL;
}

const char *cvss_rating_name(enum cvss_rating rating)
{
    switch (rating) {
    case CVSS_RATING_NONE:
        return "None";
    case CVSS_RATING_LOW:
        return "Low";
    case CVSS_RATING_MEDIUM:
        return "Medium";
    case CVSS_RATING_HIGH:
        return "High";
    case CVSS_RATING_CRITICAL:
        return "Critical";
    }
    return NULL;
}

static int parse_prefix(const char *vector, enum cvss_version *version,
                        char *errbuf, size_t errbuf_size)
{
    if (strncmp(vector, "CVSS:3.0/", 9) == 0) {
        *version = CVSS_V3_0;
        return 0;
    }
    if (strncmp(vector, "CVSS:3.1/", 9) == 0) {
        *version = CVSS_V3_1;
        return 0;
    }
    set_error(errbuf, errbuf_size,
              "invalid CVSS vector \"%s\": expected the prefix CVSS:3.0/ or "
              "CVSS:3.1/",
              vector);
    return -1;
}

static int find_metric(const char *name, size_t length)
{
    for (size_t i = 0; i < METRIC_COUNT; i++) {
        if (strlen(metrics[i].name) == length &&
            memcmp(metrics[i].name, name, length) == 0)
            return (int)i;
    }
    return -1;
}

/* Reads one "NAME:V" component of length bytes into values[]. */
static int parse_component(const char *vector, const char *component,
                           size_t length, char values[METRIC_COUNT],
                           char *errbuf, size_t errbuf_size)
{
    const char *colon = memchr(component, ':', length);
    if (!colon || colon == component ||
        (size_t)(colon - component) + 2 != length) {
        set_error(errbuf, errbuf_size,
                  "invalid CVSS vector \"%s\": component \"%.*s\" is not "
                  "METRIC:VALUE with a one-letter value",
                  vector, (int)length, component);
        return -1;
    }

    int index = find_metric(component, (size_t)(colon - component));
    if (index < 0) {
        set_error(errbuf, errbuf_size,
                  "invalid CVSS vector \"%s\": unknown metric \"%.*s\"", vector,
                  (int)(colon - component), component);
        return -1;
    }

    char value = colon[1];
    if (values[index]) {
        set_error(errbuf, errbuf_size,
                  "invalid CVSS vector \"%s\": metric %s appears twice", vector,
                  metrics[index].name);
        return -1;
    }
    if (value == '\0' || !strchr(metrics[index].values, value)) {
        set_error(errbuf, errbuf_size,
                  "invalid CVSS vector \"%s\": %s:%c is not a valid value "
                  "(expected one of %s)",
                  vector, metrics[index].name, value, metrics[index].values);
        return -1;
    }
    values[index] = value;
    return 0;
}

static int parse_metrics(const char *vector, const char *text,
                         char values[METRIC_COUNT], char *errbuf,
                         size_t errbuf_size)
{
    const char *cursor = text;
    for (;;) {
        const char *slash = strchr(cursor, '/');
        size_t length = slash ? (size_t)(slash - cursor) : strlen(cursor);
        if (length == 0) {
            set_error(errbuf, errbuf_size,
                      "invalid CVSS vector \"%s\": empty component", vector);
            return -1;
        }
        if (parse_component(vector, cursor, length, values, errbuf,
                            errbuf_size) != 0)
            return -1;
        if (!slash)
            break;
        cursor = slash + 1;
    }

    for (size_t i = 0; i < BASE_METRIC_COUNT; i++) {
        if (!values[i]) {
            set_error(errbuf, errbuf_size,
                      "invalid CVSS vector \"%s\": base metric %s is missing",
                      vector, metrics[i].name);
            return -1;
        }
    }
    return 0;
}

static double impact_weight(char value)
{
    if (value == 'H')
        return 0.56;
    if (value == 'L')
        return 0.22;
    return 0.0;
}

static double privileges_weight(char value, bool scope_changed)
{
    if (value == 'N')
        return 0.85;
    if (value == 'L')
        return scope_changed ? 0.68 : 0.62;
    return scope_changed ? 0.50 : 0.27;
}

static double exploitability(const char values[METRIC_COUNT],
                             bool scope_changed)
{
    static const double attack_vector[] = {0.85, 0.62, 0.55, 0.2}; /* NALP */
    const char *av = strchr(metrics[METRIC_AV].values, values[METRIC_AV]);
    double av_weight = attack_vector[av - metrics[METRIC_AV].values];
    double ac_weight = values[METRIC_AC] == 'L' ? 0.77 : 0.44;
    double ui_weight = values[METRIC_UI] == 'N' ? 0.85 : 0.62;

    return 8.22 * av_weight * ac_weight *
           privileges_weight(values[METRIC_PR], scope_changed) * ui_weight;
}

static int base_tenths(enum cvss_version version,
                       const char values[METRIC_COUNT])
{
    bool scope_changed = values[METRIC_S] == 'C';
    double iss = 1.0 - (1.0 - impact_weight(values[METRIC_C])) *
                           (1.0 - impact_weight(values[METRIC_I])) *
                           (1.0 - impact_weight(values[METRIC_A]));

    double impact = scope_changed
                        ? 7.52 * (iss - 0.029) - 3.25 * pow(iss - 0.02, 15)
                        : 6.42 * iss;
    if (impact <= 0.0)
        return 0;

    double sum = impact + exploitability(values, scope_changed);
    if (scope_changed)
        sum *= 1.08;
    return cvss_roundup_tenths(version, sum < 10.0 ? sum : 10.0);
}

int cvss_score_vector(const char *vector, struct cvss_score *score,
                      char *errbuf, size_t errbuf_size)
{
    char values[METRIC_COUNT] = {0};

    if (!vector ||
        strnlen(vector, CVSS_MAX_VECTOR_BYTES + 1) > CVSS_MAX_VECTOR_BYTES) {
        set_error(errbuf, errbuf_size,
                  "invalid CVSS vector: missing or longer than %d bytes",
                  CVSS_MAX_VECTOR_BYTES);
        return -1;
    }

    enum cvss_version version;
    if (parse_prefix(vector, &version, errbuf, errbuf_size) != 0)
        return -1;
    if (parse_metrics(vector, vector + 9, values, errbuf, errbuf_size) != 0)
        return -1;

    score->version = version;
    score->base_tenths = base_tenths(version, values);
    score->rating = cvss_rating_from_tenths(score->base_tenths);
    return 0;
}
