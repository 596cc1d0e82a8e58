/*
 * Times match_inventory() per image against a linear matcher written here:
 * one that compares every package with every affected entry of the
 * database, with the same version_compare(), so the ratio is what the
 * index of vulndb_find() saves.
 *
 * usage: bench_match OSV_DIR ECOSYSTEM BATCH_SECONDS LABEL=STATUS_FILE...
 *
 * Each dpkg status file is parsed with dpkg_status_parse() and matched in
 * ECOSYSTEM ("Debian:12"). Each side runs in BATCHES batches of as many
 * matches as fill BATCH_SECONDS, and the time per image is the median
 * batch's time divided by its matches. The linear matcher counts the
 * distinct (package, vulnerability) pairs, which is the number of
 * findings match_inventory() returns. A difference is an error, so the
 * two sides are known to do the same matching.
 *
 * Prints one JSON object: the database size and, per inventory, the
 * package and finding counts and both sides' times per image in seconds.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dpkg.h"
#include "harness.h"
#include "match.h"
#include "version.h"
#include "vulndb.h"

#define BATCHES 5
#define MAX_STATUS_BYTES (64 * 1024 * 1024)

/* Every affected entry of the database in one array, in index order. */
struct linear_db {
    struct vulndb_affected *entries;
    size_t count;
};

struct package_key {
    char *ecosystem;
    char *name;
};

struct inventory {
    char *label;
    struct installed_package *packages;
    size_t count;
};

struct side_timing {
    double runs[BATCHES]; /* seconds per image, one per batch */
    size_t iterations;    /* matches per batch */
    size_t findings;
};

/* ---- The linear matcher ---------------------------------------------- */

/* Orders v against an event's version. An introduced "0" is below every
 * version and a limit containing '*' is above every version. */
static int order_to_event(enum version_scheme scheme, const char *v,
                          const struct vulndb_event *event)
{
    if (event->kind == VULNDB_EVENT_INTRODUCED &&
        strcmp(event->version, "0") == 0)
        return 1;
    if (event->kind == VULNDB_EVENT_LIMIT && strchr(event->version, '*'))
        return -1;
    return version_compare(scheme, v, event->version);
}

/* OSV's evaluation of one ECOSYSTEM range whose events are sorted. */
static bool range_affects(enum version_scheme scheme,
                          const struct vulndb_range *range, const char *v)
{
    bool limited = false;
    bool below_a_limit = false;
    bool vulnerable = false;

    for (size_t i = 0; i < range->event_count; i++) {
        const struct vulndb_event *event = &range->events[i];
        if (event->kind != VULNDB_EVENT_LIMIT)
            continue;
        limited = true;
        if (order_to_event(scheme, v, event) < 0)
            below_a_limit = true;
    }
    if (limited && !below_a_limit)
        return false;

    for (size_t i = 0; i < range->event_count; i++) {
        const struct vulndb_event *event = &range->events[i];
        int order = order_to_event(scheme, v, event);
        if (event->kind == VULNDB_EVENT_INTRODUCED && order >= 0)
            vulnerable = true;
        if (event->kind == VULNDB_EVENT_FIXED && order >= 0)
            vulnerable = false;
        if (event->kind == VULNDB_EVENT_LAST_AFFECTED && order > 0)
            vulnerable = false;
    }
    return vulnerable;
}

static bool entry_affects(const struct vulndb_affected *entry, const char *v)
{
    for (size_t i = 0; i < entry->range_count; i++) {
        if (range_affects(entry->scheme, &entry->ranges[i], v))
            return true;
    }
    for (size_t i = 0; i < entry->version_count; i++) {
        if (version_compare(entry->scheme, v, entry->versions[i]) == 0)
            return true;
    }
    return false;
}

/* Adds id to a package's list of vulnerabilities unless it is there.
 * Returns -1 when out of memory. */
static int note_vulnerability(const char ***ids, size_t *count,
                              size_t *capacity, const char *id)
{
    for (size_t i = 0; i < *count; i++) {
        if (strcmp((*ids)[i], id) == 0)
            return 0;
    }
    if (*count == *capacity) {
        size_t grown = *capacity ? *capacity * 2 : 64;
        const char **larger = realloc(*ids, grown * sizeof(*larger));
        if (!larger)
            return -1;
        *ids = larger;
        *capacity = grown;
    }
    (*ids)[(*count)++] = id;
    return 0;
}

/* Returns the number of distinct (package, vulnerability) pairs, found by
 * comparing each package with every entry, or -1 when out of memory.
 * Packages are looked up by source name and version as match.h describes. */
static long linear_match(const struct linear_db *db, const char *ecosystem,
                         const struct installed_package *packages, size_t count)
{
    const char **ids = NULL;
    size_t capacity = 0;
    long total = 0;

    for (size_t p = 0; p < count; p++) {
        const struct installed_package *package = &packages[p];
        bool by_source = package->source_name && *package->source_name;
        const char *name = by_source ? package->source_name : package->name;
        const char *version =
            by_source && package->source_version && *package->source_version
                ? package->source_version
                : package->version;

        size_t id_count = 0;
        for (size_t e = 0; e < db->count; e++) {
            const struct vulndb_affected *entry = &db->entries[e];
            if (strcmp(entry->ecosystem, ecosystem) != 0 ||
                strcmp(entry->name, name) != 0 ||
                !entry_affects(entry, version))
                continue;

            const struct vulndb_advisory *advisory = entry->advisory;
            for (size_t k = 0; k < advisory->vulnerability_id_count; k++) {
                if (note_vulnerability(&ids, &id_count, &capacity,
                                       advisory->vulnerability_ids[k]) != 0) {
                    free(ids);
                    return -1;
                }
            }
        }
        total += (long)id_count;
    }
    free(ids);
    return total;
}

/* ---- Building the linear table --------------------------------------- */

static int compare_keys(const void *a, const void *b)
{
    const struct package_key *x = a;
    const struct package_key *y = b;
    int order = strcmp(x->ecosystem, y->ecosystem);

    return order != 0 ? order : strcmp(x->name, y->name);
}

/* The ecosystem as the index names it: without a trailing ":LTS". */
static char *indexed_ecosystem(const char *ecosystem)
{
    size_t length = strlen(ecosystem);

    if (length > 4 && strcmp(ecosystem + length - 4, ":LTS") == 0)
        length -= 4;
    return strndup(ecosystem, length);
}

/* Appends the (ecosystem, name) of every affected entry of one record. */
static int collect_keys(json_t *record, struct package_key **keys,
                        size_t *count, size_t *capacity)
{
    size_t index;
    json_t *affected;

    json_array_foreach(json_object_get(record, "affected"), index, affected)
    {
        json_t *package = json_object_get(affected, "package");
        const char *ecosystem =
            json_string_value(json_object_get(package, "ecosystem"));
        const char *name = json_string_value(json_object_get(package, "name"));
        if (!ecosystem || !name)
            continue;

        if (*count == *capacity) {
            size_t grown = *capacity ? *capacity * 2 : 4096;
            struct package_key *larger =
                realloc(*keys, grown * sizeof(*larger));
            if (!larger)
                return -1;
            *keys = larger;
            *capacity = grown;
        }
        struct package_key *key = &(*keys)[(*count)++];
        key->ecosystem = indexed_ecosystem(ecosystem);
        key->name = strdup(name);
        if (!key->ecosystem || !key->name)
            return -1;
    }
    return 0;
}

static void keys_free(struct package_key *keys, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(keys[i].ecosystem);
        free(keys[i].name);
    }
    free(keys);
}

/* Reads the (ecosystem, name) pairs of every record under root, sorted
 * and without repeats. */
static int read_keys(const char *root, struct package_key **keys, size_t *count)
{
    char errbuf[512];
    char **paths;
    size_t path_count;
    size_t capacity = 0;

    *keys = NULL;
    *count = 0;
    if (harness_list_json(root, &paths, &path_count, errbuf, sizeof(errbuf)) !=
        0) {
        fprintf(stderr, "bench_match: listing failed: %s\n", errbuf);
        return -1;
    }

    int result = 0;
    for (size_t i = 0; i < path_count && result == 0; i++) {
        json_error_t error;
        json_t *record = json_load_file(paths[i], 0, &error);
        if (record)
            result = collect_keys(record, keys, count, &capacity);
        json_decref(record);
    }
    harness_paths_free(paths, path_count);
    if (result != 0) {
        fprintf(stderr, "bench_match: out of memory\n");
        return -1;
    }

    qsort(*keys, *count, sizeof(**keys), compare_keys);
    size_t unique = 0;
    for (size_t i = 0; i < *count; i++) {
        if (unique > 0 &&
            compare_keys(&(*keys)[unique - 1], &(*keys)[i]) == 0) {
            free((*keys)[i].ecosystem);
            free((*keys)[i].name);
            continue;
        }
        (*keys)[unique++] = (*keys)[i];
    }
    *count = unique;
    return 0;
}

/* Copies every entry that vulndb_find() returns for the database's
 * package names into one array. */
static int linear_db_build(const struct vulndb *db, const char *root,
                           struct linear_db *linear)
{
    struct package_key *keys;
    size_t key_count;
    size_t capacity = 0;

    linear->entries = NULL;
    linear->count = 0;
    if (read_keys(root, &keys, &key_count) != 0)
        return -1;

    int result = 0;
    for (size_t i = 0; i < key_count && result == 0; i++) {
        const struct vulndb_affected *found;
        size_t found_count =
            vulndb_find(db, keys[i].ecosystem, keys[i].name, &found);
        if (linear->count + found_count > capacity) {
            size_t grown = capacity ? capacity * 2 : 4096;
            while (grown < linear->count + found_count)
                grown *= 2;
            struct vulndb_affected *larger =
                realloc(linear->entries, grown * sizeof(*larger));
            if (!larger) {
                result = -1;
                break;
            }
            linear->entries = larger;
            capacity = grown;
        }
        memcpy(linear->entries + linear->count, found,
               found_count * sizeof(*found));
        linear->count += found_count;
    }
    keys_free(keys, key_count);
    if (result != 0)
        fprintf(stderr, "bench_match: out of memory\n");
    return result;
}

/* ---- Inventories and timing ------------------------------------------ */

static char *read_text(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        perror(path);
        return NULL;
    }

    char *text = malloc(MAX_STATUS_BYTES + 1);
    *size = text ? fread(text, 1, MAX_STATUS_BYTES + 1, file) : 0;
    int failed = !text || ferror(file) || *size > MAX_STATUS_BYTES;
    fclose(file);
    if (failed) {
        fprintf(stderr, "bench_match: %s: unreadable or over %d bytes\n", path,
                MAX_STATUS_BYTES);
        free(text);
        return NULL;
    }
    text[*size] = '\0';
    return text;
}

static int inventory_read(const char *argument, struct inventory *inventory)
{
    const char *equals = strchr(argument, '=');
    if (!equals || equals == argument) {
        fprintf(stderr, "bench_match: expected LABEL=STATUS_FILE, not %s\n",
                argument);
        return -1;
    }

    size_t size;
    char *text = read_text(equals + 1, &size);
    if (!text)
        return -1;

    char errbuf[512];
    int status = dpkg_status_parse(text, size, &inventory->packages,
                                   &inventory->count, errbuf, sizeof(errbuf));
    free(text);
    if (status != 0) {
        fprintf(stderr, "bench_match: %s: %s\n", equals + 1, errbuf);
        return -1;
    }

    inventory->label = strndup(argument, (size_t)(equals - argument));
    if (!inventory->label) {
        dpkg_packages_free(inventory->packages, inventory->count);
        return -1;
    }
    return 0;
}

/* Runs match_inventory() once and frees its findings. Returns the finding
 * count, or -1 when it failed. */
static long index_match(const struct vulndb *db, const char *ecosystem,
                        const struct inventory *inventory)
{
    struct finding *findings;
    size_t count;
    char errbuf[512];

    if (match_inventory(db, ecosystem, inventory->packages, inventory->count,
                        &findings, &count, errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "bench_match: match_inventory failed: %s\n", errbuf);
        return -1;
    }
    match_findings_free(findings, count);
    return (long)count;
}

struct run_context {
    const struct vulndb *db;
    const struct linear_db *linear;
    const char *ecosystem;
    const struct inventory *inventory;
};

static long run_side(const struct run_context *context, bool linear)
{
    if (linear)
        return linear_match(context->linear, context->ecosystem,
                            context->inventory->packages,
                            context->inventory->count);
    return index_match(context->db, context->ecosystem, context->inventory);
}

/* Times one side in BATCHES batches of about batch_seconds each. A
 * warm-up run first sets how many matches a batch needs. */
static int time_side(const struct run_context *context, bool linear,
                     double batch_seconds, struct side_timing *timing)
{
    double start = harness_now();
    long findings = run_side(context, linear);
    double once = harness_now() - start;
    if (findings < 0)
        return -1;

    timing->findings = (size_t)findings;
    timing->iterations = 1;
    if (once > 0 && once < batch_seconds)
        timing->iterations = (size_t)(batch_seconds / once) + 1;

    for (size_t batch = 0; batch < BATCHES; batch++) {
        start = harness_now();
        for (size_t i = 0; i < timing->iterations; i++) {
            if (run_side(context, linear) != findings)
                return -1;
        }
        timing->runs[batch] =
            (harness_now() - start) / (double)timing->iterations;
    }
    return 0;
}

static json_t *side_json(struct side_timing *timing)
{
    json_t *side = json_object();
    if (!side)
        return NULL;

    json_object_set_new(side, "runs_s",
                        harness_json_numbers(timing->runs, BATCHES));
    json_object_set_new(side, "iterations_per_run",
                        json_integer((json_int_t)timing->iterations));
    json_object_set_new(side, "per_image_s",
                        json_real(harness_median(timing->runs, BATCHES)));
    return side;
}

static json_t *inventory_json(const struct inventory *inventory,
                              struct side_timing *index,
                              struct side_timing *linear)
{
    json_t *entry = json_object();
    if (!entry)
        return NULL;

    json_object_set_new(entry, "label", json_string(inventory->label));
    json_object_set_new(entry, "packages",
                        json_integer((json_int_t)inventory->count));
    json_object_set_new(entry, "findings",
                        json_integer((json_int_t)index->findings));
    json_object_set_new(entry, "match", side_json(index));
    json_object_set_new(entry, "linear", side_json(linear));
    return entry;
}

static json_t *bench_inventory(const struct run_context *context,
                               double batch_seconds)
{
    struct side_timing index;
    struct side_timing linear;

    if (time_side(context, false, batch_seconds, &index) != 0 ||
        time_side(context, true, batch_seconds, &linear) != 0) {
        fprintf(stderr, "bench_match: %s: matching failed\n",
                context->inventory->label);
        return NULL;
    }
    if (index.findings != linear.findings) {
        fprintf(stderr,
                "bench_match: %s: match_inventory found %zu findings but "
                "the linear matcher %zu; the two disagree\n",
                context->inventory->label, index.findings, linear.findings);
        return NULL;
    }
    return inventory_json(context->inventory, &index, &linear);
}

static struct vulndb *load_db(const char *root)
{
    struct vulndb_config config = {.osv_path = root};
    struct vulndb *db = NULL;
    char errbuf[512];

    vulndb_limits_default(&config.limits);
    if (vulndb_load(&config, &db, errbuf, sizeof(errbuf)) != 0)
        fprintf(stderr, "bench_match: vulndb_load failed: %s\n", errbuf);
    return db;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_match OSV_DIR ECOSYSTEM BATCH_SECONDS "
                        "LABEL=STATUS_FILE...\n");
        return 2;
    }
    double batch_seconds = atof(argv[3]);
    if (batch_seconds <= 0 || batch_seconds > 60) {
        fprintf(stderr,
                "bench_match: BATCH_SECONDS must be above 0 and at "
                "most 60, not %s\n",
                argv[3]);
        return 2;
    }

    struct vulndb *db = load_db(argv[1]);
    struct linear_db linear;
    if (!db || linear_db_build(db, argv[1], &linear) != 0)
        return 1;

    json_t *result = json_object();
    json_t *inventories = json_array();
    json_object_set_new(result, "records",
                        json_integer((json_int_t)vulndb_stats(db)->records));
    json_object_set_new(result, "affected_entries",
                        json_integer((json_int_t)linear.count));
    json_object_set(result, "inventories", inventories);

    int status = 0;
    for (int i = 4; i < argc && status == 0; i++) {
        struct inventory inventory;
        if (inventory_read(argv[i], &inventory) != 0) {
            status = 1;
            break;
        }
        struct run_context context = {db, &linear, argv[2], &inventory};
        json_t *entry = bench_inventory(&context, batch_seconds);
        if (!entry || json_array_append_new(inventories, entry) != 0)
            status = 1;
        dpkg_packages_free(inventory.packages, inventory.count);
        free(inventory.label);
    }

    json_decref(inventories);
    free(linear.entries);
    vulndb_free(db);
    if (status != 0) {
        json_decref(result);
        return status;
    }
    return harness_print_result(result) == 0 ? 0 : 1;
}
