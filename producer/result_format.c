#include "result_format.h"

#include <string.h>
#include <time.h>

static json_t *result_format_basic_json(const struct scan_result *result);

static json_t *optional_string(const char *text)
{
    return text != NULL ? json_string(text) : json_null();
}

static json_t *location_to_json(const struct image_location *image)
{
    return json_pack("{s:s?, s:s?, s:s, s:s?, s:s?, s:s?, s:o, s:o}", "account",
                     image->account, "environment_id", image->environment_id,
                     "environment_kind",
                     environment_kind_name(image->environment_kind), "registry",
                     image->registry, "repository", image->repository, "tag",
                     image->tag, "digest", optional_string(image->digest),
                     "platform", optional_string(image->platform));
}

static json_t *packages_to_json(const struct scan_result *result)
{
    json_t *packages = json_array();

    for (size_t i = 0; i < result->package_count; i++) {
        const struct installed_package *package = &result->packages[i];

        json_array_append_new(
            packages,
            json_pack("{s:s?, s:s?, s:o, s:o, s:o}", "name", package->name,
                      "version", package->version, "architecture",
                      optional_string(package->architecture), "source_name",
                      optional_string(package->source_name), "source_version",
                      optional_string(package->source_version)));
    }
    return packages;
}

static json_t *findings_to_json(const struct scan_result *result)
{
    json_t *findings = json_array();

    for (size_t i = 0; i < result->finding_count; i++) {
        const struct finding *finding = &result->findings[i];
        json_t *aliases = json_array();

        for (size_t j = 0; j < finding->alias_count; j++)
            json_array_append_new(aliases, json_string(finding->aliases[j]));
        json_array_append_new(
            findings,
            json_pack("{s:s?, s:o, s:s?, s:s?, s:o, s:s, s:o, s:o, s:o}", "id",
                      finding->id, "aliases", aliases, "package",
                      finding->package, "installed_version",
                      finding->installed_version, "fixed_version",
                      optional_string(finding->fixed_version), "severity",
                      severity_name(finding->severity), "severity_source",
                      optional_string(finding->severity_source), "cvss_score",
                      finding->cvss_score >= 0 ? json_real(finding->cvss_score)
                                               : json_null(),
                      "cvss_vector", optional_string(finding->cvss_vector)));
    }
    return findings;
}

static json_t *counts_to_json(const struct scan_result *result)
{
    json_t *counts = json_object();

    for (int severity = SEVERITY_UNKNOWN; severity < SEVERITY_COUNT; severity++)
        json_object_set_new(counts, severity_name((enum severity)severity),
                            json_integer(result->severity_counts[severity]));
    return counts;
}

/* Adds the vulnerability fields to a result's JSON object. */
static void add_vulnerabilities(json_t *object,
                                const struct scan_result *result)
{
    json_object_set_new(object, "vulnerabilities_matched",
                        json_boolean(result->vulnerabilities_matched));
    json_object_set_new(
        object, "vulnerability_level",
        json_string(severity_name(result->vulnerability_level)));
    json_object_set_new(object, "risk_score", json_real(result->risk_score));
    json_object_set_new(object, "severity_counts", counts_to_json(result));
    json_object_set_new(object, "finding_count",
                        json_integer((json_int_t)result->finding_count));
    json_object_set_new(object, "findings", findings_to_json(result));
    json_object_set_new(object, "vulnerability_db_version",
                        optional_string(result->vulnerability_db_version));
    json_object_set_new(object, "vulnerability_db_built_at_ms",
                        result->vulnerability_db_built_at_ms > 0
                            ? json_integer(result->vulnerability_db_built_at_ms)
                            : json_null());
}

json_t *result_format_json(const struct scan_result *result)
{
    json_t *object = result_format_basic_json(result);

    if (object != NULL)
        add_vulnerabilities(object, result);
    return object;
}

static json_t *result_format_basic_json(const struct scan_result *result)
{
    json_t *os = json_null();

    if (result->os_id != NULL)
        os = json_pack("{s:s, s:o, s:o}", "id", result->os_id, "version_id",
                       optional_string(result->os_version_id), "pretty_name",
                       optional_string(result->os_pretty_name));

    return json_pack(
        "{s:s?, s:o, s:o, s:s, s:s?, s:o, s:I, s:o, s:i, s:I, s:i, s:o, "
        "s:s?, s:I, s:I, s:I}",
        "request_id", result->request_id, "image",
        location_to_json(&result->image), "manifest_digest",
        optional_string(result->manifest_digest), "status",
        scan_status_name(result->status), "status_detail",
        result->status_detail, "os", os, "package_count",
        (json_int_t)result->package_count, "packages", packages_to_json(result),
        "layer_count", (int)result->layer_count, "image_size_bytes",
        (json_int_t)result->image_size_bytes, "attempt", (int)result->attempt,
        "next_attempt_at_ms",
        result->next_attempt_at_ms > 0
            ? json_integer(result->next_attempt_at_ms)
            : json_null(),
        "worker_id", result->worker_id, "started_at_ms",
        (json_int_t)result->started_at_ms, "finished_at_ms",
        (json_int_t)result->finished_at_ms, "duration_ms",
        (json_int_t)(result->finished_at_ms - result->started_at_ms));
}

static void format_time(char *out, size_t out_size, int64_t epoch_ms)
{
    time_t seconds = (time_t)(epoch_ms / 1000);
    struct tm parts;

    gmtime_r(&seconds, &parts);
    strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &parts);
}

void result_format_table_header(FILE *out)
{
    fprintf(out, "%-20s %-14s %-40s %-12s %-12s %5s %6s %-10s %5s %8s  %s\n",
            "FINISHED", "STATUS", "IMAGE", "DIGEST", "OS", "PKGS", "VULNS",
            "LEVEL", "RISK", "TIME", "DETAIL");
}

/* The worst findings of a result, printed under its table row. */
#define WORST_FINDINGS_SHOWN 5

static void print_worst_findings(FILE *out, const struct scan_result *result)
{
    size_t shown = result->finding_count < WORST_FINDINGS_SHOWN
                       ? result->finding_count
                       : WORST_FINDINGS_SHOWN;

    if (!result->vulnerabilities_matched || result->finding_count == 0)
        return;
    fprintf(out,
            "    counts: critical %d, high %d, medium %d, low %d, "
            "negligible %d, unknown %d\n",
            result->severity_counts[SEVERITY_CRITICAL],
            result->severity_counts[SEVERITY_HIGH],
            result->severity_counts[SEVERITY_MEDIUM],
            result->severity_counts[SEVERITY_LOW],
            result->severity_counts[SEVERITY_NEGLIGIBLE],
            result->severity_counts[SEVERITY_UNKNOWN]);
    for (size_t i = 0; i < shown; i++) {
        const struct finding *finding = &result->findings[i];

        fprintf(out, "    %-10s %-20s %-24s %s -> %s\n",
                severity_name(finding->severity), finding->id, finding->package,
                finding->installed_version,
                finding->fixed_version ? finding->fixed_version : "(no fix)");
    }
    if (result->finding_count > shown)
        fprintf(out, "    ... %zu more (--json lists every finding)\n",
                result->finding_count - shown);
}

void result_format_table_row(FILE *out, const struct scan_result *result)
{
    const struct image_location *image = &result->image;
    const char *digest =
        result->manifest_digest ? result->manifest_digest : image->digest;
    char when[32], name[512], short_digest[16] = "-", os[64] = "-";
    char duration[32], vulnerabilities[16] = "-", risk[16] = "-";

    format_time(when, sizeof(when), result->finished_at_ms);
    snprintf(name, sizeof(name), "%s/%s%s%s", image->registry,
             image->repository, image->tag ? ":" : "",
             image->tag ? image->tag : "");
    if (digest != NULL && strncmp(digest, "sha256:", 7) == 0)
        snprintf(short_digest, sizeof(short_digest), "%.12s", digest + 7);
    if (result->os_id != NULL)
        snprintf(os, sizeof(os), "%s %s", result->os_id,
                 result->os_version_id ? result->os_version_id : "");
    if (result->vulnerabilities_matched) {
        snprintf(vulnerabilities, sizeof(vulnerabilities), "%zu",
                 result->finding_count);
        snprintf(risk, sizeof(risk), "%.1f", result->risk_score);
    }
    snprintf(duration, sizeof(duration), "%.1fs",
             (double)(result->finished_at_ms - result->started_at_ms) / 1000.0);

    fprintf(out, "%-20s %-14s %-40s %-12s %-12s %5zu %6s %-10s %5s %8s  %s\n",
            when, scan_status_name(result->status), name, short_digest, os,
            result->package_count, vulnerabilities,
            result->vulnerabilities_matched
                ? severity_name(result->vulnerability_level)
                : "-",
            risk, duration, result->status_detail ? result->status_detail : "");
    print_worst_findings(out, result);
}
