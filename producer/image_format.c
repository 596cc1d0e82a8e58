#include "image_format.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COLUMN_COUNT 10
#define CELL_SIZE 256
#define SHORT_DIGEST_HEX 12

static const char *const column_titles[COLUMN_COUNT] = {
    "REPOSITORY", "TAG",   "DIGEST", "ENVIRONMENT", "KIND",
    "STATUS",     "LEVEL", "RISK",   "LAST SEEN",   "ACTIVE",
};

/* An image without a recorded result was seen and waits for its scan. */
static const char *status_text(const struct image_entry *entry)
{
    return entry->has_status ? scan_status_name(entry->status)
                             : scan_status_name(SCAN_STATUS_PENDING_SCAN);
}

static void format_time(char *out, size_t out_size, int64_t epoch_ms)
{
    time_t seconds = (time_t)(epoch_ms / 1000);
    struct tm parts;

    if (epoch_ms <= 0 || gmtime_r(&seconds, &parts) == NULL) {
        snprintf(out, out_size, "-");
        return;
    }
    strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &parts);
}

/* "sha256:0123456789ab", the way registries' web pages shorten digests. */
static void short_digest(char *out, size_t out_size, const char *digest)
{
    const char *colon = digest ? strchr(digest, ':') : NULL;

    if (colon == NULL) {
        snprintf(out, out_size, "-");
        return;
    }
    snprintf(out, out_size, "%.*s%.*s", (int)(colon - digest + 1), digest,
             SHORT_DIGEST_HEX, colon + 1);
}

static void fill_cells(char cells[COLUMN_COUNT][CELL_SIZE],
                       const struct image_entry *entry)
{
    const char *marker = entry->from_earlier_scan ? "*" : "";

    snprintf(cells[0], CELL_SIZE, "%s/%s",
             entry->registry ? entry->registry : "",
             entry->repository ? entry->repository : "");
    snprintf(cells[1], CELL_SIZE, "%s", entry->tag ? entry->tag : "-");
    short_digest(cells[2], CELL_SIZE,
                 entry->digest ? entry->digest : entry->manifest_digest);
    snprintf(cells[3], CELL_SIZE, "%s", entry->environment_id);
    snprintf(cells[4], CELL_SIZE, "%s", environment_kind_name(entry->kind));
    snprintf(cells[5], CELL_SIZE, "%s", status_text(entry));
    if (entry->has_vulnerabilities) {
        snprintf(cells[6], CELL_SIZE, "%s%s",
                 severity_name(entry->vulnerability_level), marker);
        snprintf(cells[7], CELL_SIZE, "%.1f%s", entry->risk_score, marker);
    } else if (entry->not_matched) {
        snprintf(cells[6], CELL_SIZE, "not matched");
        snprintf(cells[7], CELL_SIZE, "-");
    } else {
        snprintf(cells[6], CELL_SIZE, "-");
        snprintf(cells[7], CELL_SIZE, "-");
    }
    format_time(cells[8], CELL_SIZE, entry->last_seen_ms);
    snprintf(cells[9], CELL_SIZE, "%s", entry->active ? "yes" : "no");
}

static void print_row(FILE *out, char cells[COLUMN_COUNT][CELL_SIZE],
                      const int *widths)
{
    for (int column = 0; column < COLUMN_COUNT; column++) {
        if (column == COLUMN_COUNT - 1)
            fprintf(out, "%s\n", cells[column]);
        else
            fprintf(out, "%-*s  ", widths[column], cells[column]);
    }
}

void image_format_table(FILE *out, const struct image_entry *entries,
                        size_t count)
{
    char(*rows)[COLUMN_COUNT][CELL_SIZE] = calloc(count + 1, sizeof(*rows));
    int widths[COLUMN_COUNT] = {0};
    int earlier = 0;

    if (rows == NULL) {
        fprintf(out, "out of memory\n");
        return;
    }
    for (int column = 0; column < COLUMN_COUNT; column++)
        snprintf(rows[0][column], CELL_SIZE, "%s", column_titles[column]);
    for (size_t i = 0; i < count; i++) {
        fill_cells(rows[i + 1], &entries[i]);
        earlier |= entries[i].from_earlier_scan;
    }

    for (size_t row = 0; row <= count; row++)
        for (int column = 0; column < COLUMN_COUNT; column++) {
            int width = (int)strlen(rows[row][column]);

            if (width > widths[column])
                widths[column] = width;
        }
    for (size_t row = 0; row <= count; row++)
        print_row(out, rows[row], widths);
    if (earlier)
        fprintf(out, "* from the last SCANNED result: the latest scan "
                     "failed\n");
    free(rows);
}

static json_t *optional_string(const char *text)
{
    return text != NULL ? json_string(text) : json_null();
}

static json_t *optional_time(int64_t ms)
{
    return ms > 0 ? json_integer((json_int_t)ms) : json_null();
}

json_t *image_format_json(const char *account, const struct image_entry *entry)
{
    char last_seen[32];

    format_time(last_seen, sizeof(last_seen), entry->last_seen_ms);
    return json_pack(
        "{s:s, s:s, s:s, s:s?, s:s?, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:b, "
        "s:o, s:I, s:s, s:o, s:o, s:b}",
        "account", account, "environment_id", entry->environment_id,
        "environment_kind", environment_kind_name(entry->kind), "registry",
        entry->registry, "repository", entry->repository, "tag",
        optional_string(entry->tag), "digest", optional_string(entry->digest),
        "manifest_digest", optional_string(entry->manifest_digest), "platform",
        optional_string(entry->platform), "status", status_text(entry),
        "vulnerability_level",
        entry->has_vulnerabilities
            ? json_string(severity_name(entry->vulnerability_level))
            : json_null(),
        "risk_score",
        entry->has_vulnerabilities ? json_real(entry->risk_score) : json_null(),
        "from_earlier_scan", entry->from_earlier_scan,
        "vulnerabilities_matched",
        entry->has_vulnerabilities ? json_true()
        : entry->not_matched       ? json_false()
                                   : json_null(),
        "last_seen_ms", (json_int_t)entry->last_seen_ms, "last_seen", last_seen,
        "last_running_ms", optional_time(entry->last_running_ms),
        "last_scanned_at_ms", optional_time(entry->last_scanned_at_ms),
        "active", entry->active);
}
