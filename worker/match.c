#include "match.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvss.h"
#include "osv_record.h"
#include "severity.h"

/* Each finding merges a few hits (one to three in the test and fixture
 * data), so this cap stops runaway work well above MATCH_MAX_FINDINGS. */
#define MAX_HITS (MATCH_MAX_FINDINGS * 16)

enum distribution {
    DISTRIBUTION_DEBIAN,
    DISTRIBUTION_UBUNTU,
    DISTRIBUTION_OTHER,
};

/* One record's affected entry that affects one package, for one of the
 * vulnerabilities the record names. */
struct hit {
    size_t package;
    const char *vulnerability;
    const struct vulndb_affected *entry;
    const char *fix; /* NULL: no fix known for this version */
};

struct matcher {
    const struct vulndb *db;
    const char *ecosystem;
    enum version_scheme scheme;
    enum distribution distribution;
    const struct installed_package *packages;
    struct hit *hits;
    size_t hit_count;
    size_t hit_capacity;
    struct finding *findings;
    size_t finding_count;
    size_t finding_capacity;
    char *errbuf;
    size_t errbuf_size;
};

static int fail(struct matcher *matcher, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct matcher *matcher, const char *format, ...)
{
    va_list args;

    if (!matcher->errbuf || matcher->errbuf_size == 0)
        return -1;
    va_start(args, format);
    vsnprintf(matcher->errbuf, matcher->errbuf_size, format, args);
    va_end(args);
    return -1;
}

void match_findings_free(struct finding *findings, size_t count)
{
    if (!findings)
        return;

    for (size_t i = 0; i < count; i++)
        finding_clear(&findings[i]);
    free(findings);
}

/* Compares version v with an event's version, where introduced "0" is
 * below every version and a limit containing '*' above every version. */
static int compare_to_event(enum version_scheme scheme, const char *v,
                            const struct vulndb_event *event)
{
    if (event->kind == VULNDB_EVENT_INTRODUCED &&
        strcmp(event->version, "0") == 0)
        return 1;
    if (event->kind == VULNDB_EVENT_LIMIT && strchr(event->version, '*'))
        return -1;
    return version_compare(scheme, v, event->version);
}

static bool before_limits(enum version_scheme scheme,
                          const struct vulndb_range *range, const char *v)
{
    bool has_limit = false;

    for (size_t i = 0; i < range->event_count; i++) {
        if (range->events[i].kind != VULNDB_EVENT_LIMIT)
            continue;
        has_limit = true;
        if (compare_to_event(scheme, v, &range->events[i]) < 0)
            return true;
    }
    return !has_limit;
}

/* Returns whether the range contains v, and sets *fix to the first fixed
 * version above v, or NULL when the range gives none. */
static bool range_contains(enum version_scheme scheme,
                           const struct vulndb_range *range, const char *v,
                           const char **fix)
{
    bool vulnerable = false;

    *fix = NULL;
    if (!before_limits(scheme, range, v))
        return false;

    for (size_t i = 0; i < range->event_count; i++) {
        const struct vulndb_event *event = &range->events[i];
        int order = compare_to_event(scheme, v, event);
        if (event->kind == VULNDB_EVENT_INTRODUCED && order >= 0)
            vulnerable = true;
        else if (event->kind == VULNDB_EVENT_FIXED && order >= 0)
            vulnerable = false;
        else if (event->kind == VULNDB_EVENT_LAST_AFFECTED && order > 0)
            vulnerable = false;
    }
    if (!vulnerable)
        return false;

    for (size_t i = 0; i < range->event_count; i++) {
        const struct vulndb_event *event = &range->events[i];
        if (event->kind == VULNDB_EVENT_FIXED &&
            compare_to_event(scheme, v, event) < 0) {
            *fix = event->version;
            break;
        }
    }
    return true;
}

/* Returns whether the entry affects v, and sets *fix to the version that
 * clears every range holding v, or NULL when none is known. */
static bool entry_affects(const struct vulndb_affected *entry, const char *v,
                          const char **fix)
{
    bool affected = false;
    bool fix_known = true;
    const char *highest = NULL;

    for (size_t i = 0; i < entry->range_count; i++) {
        const char *range_fix;
        if (!range_contains(entry->scheme, &entry->ranges[i], v, &range_fix))
            continue;
        affected = true;
        if (!range_fix)
            fix_known = false;
        else if (!highest ||
                 version_compare(entry->scheme, range_fix, highest) > 0)
            highest = range_fix;
    }

    for (size_t i = 0; !affected && i < entry->version_count; i++) {
        if (version_compare(entry->scheme, v, entry->versions[i]) == 0) {
            affected = true;
            fix_known = false;
        }
    }

    *fix = affected && fix_known ? highest : NULL;
    return affected;
}

static int add_hit(struct matcher *matcher, size_t package,
                   const char *vulnerability,
                   const struct vulndb_affected *entry, const char *fix)
{
    if (matcher->hit_count == matcher->hit_capacity) {
        if (matcher->hit_capacity >= MAX_HITS)
            return fail(matcher,
                        "more than %zu advisory matches; the inventory or "
                        "database is too large to match",
                        (size_t)MAX_HITS);
        size_t capacity =
            matcher->hit_capacity ? matcher->hit_capacity * 2 : 64;
        if (capacity > MAX_HITS)
            capacity = MAX_HITS;
        struct hit *hits = realloc(matcher->hits, capacity * sizeof(*hits));
        if (!hits)
            return fail(matcher, "out of memory");
        matcher->hits = hits;
        matcher->hit_capacity = capacity;
    }

    struct hit *hit = &matcher->hits[matcher->hit_count++];
    hit->package = package;
    hit->vulnerability = vulnerability;
    hit->entry = entry;
    hit->fix = fix;
    return 0;
}

static bool present(const char *text)
{
    return text && *text;
}

/* Collects the hits of one package. */
static int match_package(struct matcher *matcher, size_t index)
{
    const struct installed_package *package = &matcher->packages[index];
    if (!present(package->name) || !present(package->version))
        return fail(matcher, "package %zu has no name or version", index);

    bool by_source = present(package->source_name);
    const char *name = by_source ? package->source_name : package->name;
    const char *version = by_source && present(package->source_version)
                              ? package->source_version
                              : package->version;

    const struct vulndb_affected *entries;
    size_t count = vulndb_find(matcher->db, matcher->ecosystem, name, &entries);
    for (size_t i = 0; i < count; i++) {
        const char *fix;
        if (!entry_affects(&entries[i], version, &fix))
            continue;

        const struct vulndb_advisory *advisory = entries[i].advisory;
        for (size_t k = 0; k < advisory->vulnerability_id_count; k++) {
            if (add_hit(matcher, index, advisory->vulnerability_ids[k],
                        &entries[i], fix) != 0)
                return -1;
        }
    }
    return 0;
}

static int compare_hits(const void *a, const void *b)
{
    const struct hit *x = a;
    const struct hit *y = b;

    if (x->package != y->package)
        return x->package < y->package ? -1 : 1;
    int order = strcmp(x->vulnerability, y->vulnerability);
    if (order != 0)
        return order;
    return strcmp(x->entry->advisory->id, y->entry->advisory->id);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds an id to a list of candidate aliases unless it is the finding's
 * own id. */
static void alias_add(const char **aliases, size_t *count, const char *id,
                      const char *finding_id)
{
    if (strcmp(id, finding_id) != 0)
        aliases[(*count)++] = id;
}

/* Fills finding->aliases from the hits [first, end): the records' ids and
 * their non-CVE aliases, sorted, without repeats. */
static int merge_aliases(struct matcher *matcher, size_t first, size_t end,
                         struct finding *finding)
{
    size_t capacity = 0;
    for (size_t i = first; i < end; i++)
        capacity += 1 + matcher->hits[i].entry->advisory->alias_count;

    const char **aliases = malloc(capacity * sizeof(*aliases));
    if (!aliases)
        return fail(matcher, "out of memory");
    size_t count = 0;
    for (size_t i = first; i < end; i++) {
        const struct vulndb_advisory *advisory =
            matcher->hits[i].entry->advisory;
        alias_add(aliases, &count, advisory->id, finding->id);
        for (size_t k = 0; k < advisory->alias_count; k++)
            alias_add(aliases, &count, advisory->aliases[k], finding->id);
    }
    if (count > 1)
        qsort(aliases, count, sizeof(*aliases), compare_strings);

    int result = 0;
    if (count > 0) {
        finding->aliases = calloc(count, sizeof(*finding->aliases));
        result = finding->aliases ? 0 : -1;
    }
    /* A result carries at most FINDING_MAX_ALIASES ids per finding; past
     * that, ids are dropped (in sorted order) rather than the result. The
     * finding itself, its CVE and its rating stay. */
    for (size_t i = 0;
         i < count && result == 0 && finding->alias_count < FINDING_MAX_ALIASES;
         i++) {
        if (i > 0 && strcmp(aliases[i - 1], aliases[i]) == 0)
            continue;
        finding->aliases[finding->alias_count] = strdup(aliases[i]);
        if (!finding->aliases[finding->alias_count])
            result = -1;
        else
            finding->alias_count++;
    }
    free(aliases);
    return result == 0 ? 0 : fail(matcher, "out of memory");
}

/* Returns the fix that clears every hit in [first, end), or NULL. */
static const char *merge_fix(const struct matcher *matcher, size_t first,
                             size_t end)
{
    const char *highest = NULL;

    for (size_t i = first; i < end; i++) {
        const char *fix = matcher->hits[i].fix;
        if (!fix)
            return NULL;
        if (!highest || version_compare(matcher->scheme, fix, highest) > 0)
            highest = fix;
    }
    return highest;
}

static int distro_severity(const struct matcher *matcher, const char *rating,
                           enum severity *severity)
{
    if (!rating)
        return -1;
    if (matcher->distribution == DISTRIBUTION_DEBIAN)
        return severity_from_debian_urgency(rating, severity);
    if (matcher->distribution == DISTRIBUTION_UBUNTU)
        return severity_from_ubuntu_priority(rating, severity);
    return -1;
}

/* Finds the worst distribution rating among the hits' entries and
 * records. Returns 0 and sets *severity, or -1 when none rates. */
static int merge_distro_rating(const struct matcher *matcher, size_t first,
                               size_t end, enum severity *severity)
{
    bool found = false;

    for (size_t i = first; i < end; i++) {
        const struct vulndb_affected *entry = matcher->hits[i].entry;
        const char *rating = entry->distro_rating
                                 ? entry->distro_rating
                                 : entry->advisory->distro_rating;
        enum severity candidate;
        if (distro_severity(matcher, rating, &candidate) != 0)
            continue;
        if (!found || candidate > *severity)
            *severity = candidate;
        found = true;
    }
    return found ? 0 : -1;
}

static void keep_better_vector(const char *vector, const char **best,
                               struct cvss_score *best_score)
{
    struct cvss_score score;

    if (!vector || cvss_score_vector(vector, &score, NULL, 0) != 0)
        return;
    if (!*best || score.base_tenths > best_score->base_tenths) {
        *best = vector;
        *best_score = score;
    }
}

/* Picks the CVSS vector of a finding: the highest-scoring one of the
 * merged records, else the CVE record's. */
static const char *merge_vector(const struct matcher *matcher, size_t first,
                                size_t end, const struct vulndb_cve *cve,
                                struct cvss_score *score)
{
    const char *best = NULL;

    for (size_t i = first; i < end; i++) {
        const struct vulndb_affected *entry = matcher->hits[i].entry;
        keep_better_vector(entry->cvss_vector, &best, score);
        keep_better_vector(entry->advisory->cvss_vector, &best, score);
    }
    if (!best && cve)
        keep_better_vector(cve->cvss_vector, &best, score);
    return best;
}

static const char *distribution_name(enum distribution distribution)
{
    return distribution == DISTRIBUTION_DEBIAN ? "debian" : "ubuntu";
}

/* Sets severity, its source, the score and the vector of a finding. */
static int rate_finding(struct matcher *matcher, size_t first, size_t end,
                        struct finding *finding)
{
    const struct vulndb_cve *cve = NULL;
    if (osv_cve_suffix(finding->id) == finding->id)
        cve = vulndb_find_cve(matcher->db, finding->id);

    struct cvss_score score;
    const char *vector = merge_vector(matcher, first, end, cve, &score);
    const char *source = NULL;
    enum severity severity = SEVERITY_UNKNOWN;
    enum severity cna_severity;

    finding->cvss_score = -1.0;
    if (vector) {
        finding->cvss_score = score.base_tenths / 10.0;
        finding->cvss_vector = strdup(vector);
        if (!finding->cvss_vector)
            return fail(matcher, "out of memory");
    }

    if (merge_distro_rating(matcher, first, end, &severity) == 0) {
        source = distribution_name(matcher->distribution);
    } else if (vector) {
        severity = severity_from_cvss_rating(score.rating);
        source = "cvss_v3";
    } else if (cve &&
               severity_from_cna_text(cve->cna_severity, &cna_severity) == 0) {
        severity = cna_severity;
        source = "cna";
    }

    finding->severity = severity;
    if (source) {
        finding->severity_source = strdup(source);
        if (!finding->severity_source)
            return fail(matcher, "out of memory");
    }
    return 0;
}

static struct finding *finding_add(struct matcher *matcher)
{
    if (matcher->finding_count == matcher->finding_capacity) {
        if (matcher->finding_capacity >= MATCH_MAX_FINDINGS) {
            fail(matcher, "more than %zu findings", MATCH_MAX_FINDINGS);
            return NULL;
        }
        size_t capacity =
            matcher->finding_capacity ? matcher->finding_capacity * 2 : 64;
        if (capacity > MATCH_MAX_FINDINGS)
            capacity = MATCH_MAX_FINDINGS;
        struct finding *findings =
            realloc(matcher->findings, capacity * sizeof(*findings));
        if (!findings) {
            fail(matcher, "out of memory");
            return NULL;
        }
        matcher->findings = findings;
        matcher->finding_capacity = capacity;
    }

    struct finding *finding = &matcher->findings[matcher->finding_count++];
    memset(finding, 0, sizeof(*finding));
    return finding;
}

/* Builds one finding from the hits [first, end), which share a package
 * and a vulnerability. */
static int build_finding(struct matcher *matcher, size_t first, size_t end)
{
    const struct hit *hit = &matcher->hits[first];
    const struct installed_package *package = &matcher->packages[hit->package];
    struct finding *finding = finding_add(matcher);
    if (!finding)
        return -1;

    const char *fix = merge_fix(matcher, first, end);
    finding->id = strdup(hit->vulnerability);
    finding->package = strdup(package->name);
    finding->installed_version = strdup(package->version);
    finding->fixed_version = fix ? strdup(fix) : NULL;
    if (!finding->id || !finding->package || !finding->installed_version ||
        (fix && !finding->fixed_version))
        return fail(matcher, "out of memory");

    if (merge_aliases(matcher, first, end, finding) != 0)
        return -1;
    return rate_finding(matcher, first, end, finding);
}

static int build_findings(struct matcher *matcher)
{
    if (matcher->hit_count > 1)
        qsort(matcher->hits, matcher->hit_count, sizeof(*matcher->hits),
              compare_hits);

    size_t first = 0;
    while (first < matcher->hit_count) {
        size_t end = first + 1;
        while (end < matcher->hit_count &&
               matcher->hits[end].package == matcher->hits[first].package &&
               strcmp(matcher->hits[end].vulnerability,
                      matcher->hits[first].vulnerability) == 0)
            end++;
        if (build_finding(matcher, first, end) != 0)
            return -1;
        first = end;
    }
    return 0;
}

static int compare_findings(const void *a, const void *b)
{
    const struct finding *x = a;
    const struct finding *y = b;

    if (x->severity != y->severity)
        return x->severity > y->severity ? -1 : 1;
    int order = strcmp(x->id, y->id);
    if (order == 0)
        order = strcmp(x->package, y->package);
    if (order == 0)
        order = strcmp(x->installed_version, y->installed_version);
    return order;
}

static enum distribution distribution_of(const char *ecosystem)
{
    if (strncmp(ecosystem, "Debian:", 7) == 0)
        return DISTRIBUTION_DEBIAN;
    if (strncmp(ecosystem, "Ubuntu:", 7) == 0)
        return DISTRIBUTION_UBUNTU;
    return DISTRIBUTION_OTHER;
}

int match_inventory(const struct vulndb *db, const char *ecosystem,
                    const struct installed_package *packages, size_t count,
                    struct finding **findings, size_t *finding_count,
                    char *errbuf, size_t errbuf_size)
{
    struct matcher matcher = {
        .db = db,
        .ecosystem = ecosystem,
        .packages = packages,
        .errbuf = errbuf,
        .errbuf_size = errbuf_size,
    };

    *findings = NULL;
    *finding_count = 0;
    if (!ecosystem ||
        vulndb_ecosystem_scheme(ecosystem, &matcher.scheme) != 0) {
        fail(&matcher, "ecosystem \"%s\" is not one the database indexes",
             ecosystem ? ecosystem : "(null)");
        return -1;
    }
    matcher.distribution = distribution_of(ecosystem);

    int result = 0;
    for (size_t i = 0; i < count && result == 0; i++)
        result = match_package(&matcher, i);
    if (result == 0)
        result = build_findings(&matcher);
    free(matcher.hits);
    if (result != 0) {
        match_findings_free(matcher.findings, matcher.finding_count);
        return -1;
    }

    if (matcher.finding_count > 1)
        qsort(matcher.findings, matcher.finding_count,
              sizeof(*matcher.findings), compare_findings);
    *findings = matcher.findings;
    *finding_count = matcher.finding_count;
    return 0;
}
