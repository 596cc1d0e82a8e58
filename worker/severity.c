#include "severity.h"

#include <math.h>
#include <string.h>
#include <strings.h>

struct rating_name {
    const char *name;
    enum severity severity;
};

static int lookup(const struct rating_name *table, size_t table_size,
                  const char *text, size_t length, enum severity *severity)
{
    for (size_t i = 0; i < table_size; i++) {
        if (strlen(table[i].name) == length &&
            strncasecmp(table[i].name, text, length) == 0) {
            *severity = table[i].severity;
            return 0;
        }
    }
    return -1;
}

int severity_from_debian_urgency(const char *urgency, enum severity *severity)
{
    static const struct rating_name table[] = {
        {"unimportant", SEVERITY_NEGLIGIBLE},
        {"low", SEVERITY_LOW},
        {"medium", SEVERITY_MEDIUM},
        {"high", SEVERITY_HIGH},
    };

    if (!urgency)
        return -1;
    size_t length = strlen(urgency);
    while (length > 0 && urgency[length - 1] == '*')
        length--;
    return lookup(table, sizeof(table) / sizeof(table[0]), urgency, length,
                  severity);
}

int severity_from_ubuntu_priority(const char *priority, enum severity *severity)
{
    static const struct rating_name table[] = {
        {"negligible", SEVERITY_NEGLIGIBLE}, {"low", SEVERITY_LOW},
        {"medium", SEVERITY_MEDIUM},         {"high", SEVERITY_HIGH},
        {"critical", SEVERITY_CRITICAL},
    };

    if (!priority)
        return -1;
    return lookup(table, sizeof(table) / sizeof(table[0]), priority,
                  strlen(priority), severity);
}

int severity_from_cna_text(const char *text, enum severity *severity)
{
    static const struct rating_name table[] = {
        {"critical", SEVERITY_CRITICAL}, {"high", SEVERITY_HIGH},
        {"important", SEVERITY_HIGH},    {"moderate", SEVERITY_MEDIUM},
        {"medium", SEVERITY_MEDIUM},     {"low", SEVERITY_LOW},
    };

    if (!text)
        return -1;
    return lookup(table, sizeof(table) / sizeof(table[0]), text, strlen(text),
                  severity);
}

enum severity severity_from_cvss_rating(enum cvss_rating rating)
{
    switch (rating) {
    case CVSS_RATING_NONE:
        return SEVERITY_NEGLIGIBLE;
    case CVSS_RATING_LOW:
        return SEVERITY_LOW;
    case CVSS_RATING_MEDIUM:
        return SEVERITY_MEDIUM;
    case CVSS_RATING_HIGH:
        return SEVERITY_HIGH;
    case CVSS_RATING_CRITICAL:
        return SEVERITY_CRITICAL;
    }
    return SEVERITY_UNKNOWN;
}

void severity_count(const struct finding *findings, size_t count,
                    int32_t counts[SEVERITY_COUNT])
{
    for (size_t i = 0; i < count; i++) {
        enum severity severity = findings[i].severity;
        if ((unsigned)severity < SEVERITY_COUNT)
            counts[severity]++;
    }
}

enum severity severity_level(const struct finding *findings, size_t count)
{
    enum severity level = SEVERITY_NONE;

    for (size_t i = 0; i < count; i++) {
        if (findings[i].severity > level)
            level = findings[i].severity;
    }
    return level;
}

/* Returns a finding's weight in risk_score's formula. */
static double finding_weight(const struct finding *finding)
{
    static const struct {
        double floor;
        double ceiling;
    } bands[SEVERITY_COUNT] = {
        [SEVERITY_NONE] = {0.0, 0.0},       [SEVERITY_UNKNOWN] = {4.0, 4.0},
        [SEVERITY_NEGLIGIBLE] = {0.0, 0.0}, [SEVERITY_LOW] = {0.1, 3.9},
        [SEVERITY_MEDIUM] = {4.0, 6.9},     [SEVERITY_HIGH] = {7.0, 8.9},
        [SEVERITY_CRITICAL] = {9.0, 10.0},
    };

    if ((unsigned)finding->severity >= SEVERITY_COUNT)
        return 0.0;
    double floor = bands[finding->severity].floor;
    double ceiling = bands[finding->severity].ceiling;
    double score = finding->cvss_score;
    if (score < 0.0)
        return floor;
    if (score < floor)
        return floor;
    if (score > ceiling)
        return ceiling;
    return score;
}

static int id_compare(const struct finding *a, const struct finding *b)
{
    return strcmp(a->id ? a->id : "", b->id ? b->id : "");
}

/* Counts distinct ids in [begin, end), a run sorted by id. */
static size_t distinct_ids(const struct finding *findings, size_t begin,
                           size_t end)
{
    size_t distinct = 0;

    for (size_t i = begin; i < end; i++) {
        if (i == begin || id_compare(&findings[i - 1], &findings[i]) != 0)
            distinct++;
    }
    return distinct;
}

/* Counts ids present in both sorted runs [a, a_end) and [b, b_end). */
static size_t shared_ids(const struct finding *findings, size_t a, size_t a_end,
                         size_t b, size_t b_end)
{
    size_t shared = 0;

    while (a < a_end && b < b_end) {
        int order = id_compare(&findings[a], &findings[b]);
        if (order == 0)
            shared++;
        if (order <= 0) {
            size_t next = a + 1;
            while (next < a_end &&
                   id_compare(&findings[next - 1], &findings[next]) == 0)
                next++;
            a = next;
        }
        if (order >= 0) {
            size_t next = b + 1;
            while (next < b_end &&
                   id_compare(&findings[next - 1], &findings[next]) == 0)
                next++;
            b = next;
        }
    }
    return shared;
}

/* Returns n of the formula: distinct ids among HIGH and CRITICAL
 * findings, which lead the sorted array (criticals first). */
static size_t high_and_critical_ids(const struct finding *findings,
                                    size_t count)
{
    size_t critical_end = 0;
    while (critical_end < count &&
           findings[critical_end].severity == SEVERITY_CRITICAL)
        critical_end++;

    size_t high_end = critical_end;
    while (high_end < count && findings[high_end].severity == SEVERITY_HIGH)
        high_end++;

    return distinct_ids(findings, 0, critical_end) +
           distinct_ids(findings, critical_end, high_end) -
           shared_ids(findings, 0, critical_end, critical_end, high_end);
}

double severity_risk_score(const struct finding *findings, size_t count)
{
    if (count == 0)
        return 0.0;

    double weight = 0.0;
    for (size_t i = 0; i < count; i++) {
        double candidate = finding_weight(&findings[i]);
        if (candidate > weight)
            weight = candidate;
    }

    double n = (double)high_and_critical_ids(findings, count);
    double risk = round((weight + n / (n + 4.0)) * 10.0) / 10.0;
    return risk > 10.0 ? 10.0 : risk;
}
