#include "result_format.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

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

json_t *result_format_json(const struct scan_result *result)
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

static void format_size(char *out, size_t out_size, int64_t bytes)
{
    if (bytes >= 1024 * 1024)
        snprintf(out, out_size, "%.1fMiB", (double)bytes / (1024.0 * 1024));
    else
        snprintf(out, out_size, "%" PRId64 "B", bytes);
}

void result_format_table_header(FILE *out)
{
    fprintf(out, "%-20s %-22s %-40s %-12s %-16s %6s %6s %9s %8s  %s\n",
            "FINISHED", "STATUS", "IMAGE", "DIGEST", "OS", "PKGS", "LAYERS",
            "SIZE", "TIME", "DETAIL");
}

void result_format_table_row(FILE *out, const struct scan_result *result)
{
    const struct image_location *image = &result->image;
    const char *digest =
        result->manifest_digest ? result->manifest_digest : image->digest;
    char when[32], name[512], short_digest[16] = "-", os[64] = "-";
    char size[32], duration[32];

    format_time(when, sizeof(when), result->finished_at_ms);
    snprintf(name, sizeof(name), "%s/%s%s%s", image->registry,
             image->repository, image->tag ? ":" : "",
             image->tag ? image->tag : "");
    if (digest != NULL && strncmp(digest, "sha256:", 7) == 0)
        snprintf(short_digest, sizeof(short_digest), "%.12s", digest + 7);
    if (result->os_id != NULL)
        snprintf(os, sizeof(os), "%s %s", result->os_id,
                 result->os_version_id ? result->os_version_id : "");
    format_size(size, sizeof(size), result->image_size_bytes);
    snprintf(duration, sizeof(duration), "%.1fs",
             (double)(result->finished_at_ms - result->started_at_ms) / 1000.0);

    fprintf(out, "%-20s %-22s %-40s %-12s %-16s %6zu %6d %9s %8s  %s\n", when,
            scan_status_name(result->status), name, short_digest, os,
            result->package_count, (int)result->layer_count, size, duration,
            result->status_detail ? result->status_detail : "");
}
