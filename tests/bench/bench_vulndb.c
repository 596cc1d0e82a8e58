/*
 * Times vulndb_load() on a folder tree of OSV records against the floor
 * for any loader of the same files: listing them and parsing each with
 * jansson's json_load_file(), keeping nothing.
 *
 * usage: bench_vulndb OSV_DIR RUNS
 *
 * One untimed parse of every file comes first, so that both sides read
 * from the page cache. Then the two sides take turns, RUNS times each.
 * Prints one JSON object: the file and record counts, each side's run
 * times in seconds and their medians.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"
#include "vulndb.h"

#define MAX_RUNS 50

struct parse_count {
    size_t files;
    size_t invalid;
};

/* The baseline: list the files and parse each one, as any loader must. */
static int parse_all(const char *root, struct parse_count *count)
{
    char errbuf[512];
    char **paths;
    size_t path_count;

    if (harness_list_json(root, &paths, &path_count, errbuf, sizeof(errbuf)) !=
        0) {
        fprintf(stderr, "bench_vulndb: listing failed: %s\n", errbuf);
        return -1;
    }

    count->files = path_count;
    count->invalid = 0;
    for (size_t i = 0; i < path_count; i++) {
        json_error_t error;
        json_t *record = json_load_file(paths[i], 0, &error);
        if (!record)
            count->invalid++;
        json_decref(record);
    }
    harness_paths_free(paths, path_count);
    return 0;
}

/* Loads the database once and returns the seconds vulndb_load() took,
 * or a negative number when it failed. stats receives the load's
 * statistics. */
static double time_load(const char *root, struct vulndb_stats *stats)
{
    struct vulndb_config config = {.osv_path = root};
    struct vulndb *db = NULL;
    char errbuf[512];

    vulndb_limits_default(&config.limits);
    double start = harness_now();
    int status = vulndb_load(&config, &db, errbuf, sizeof(errbuf));
    double elapsed = harness_now() - start;
    if (status != 0) {
        fprintf(stderr, "bench_vulndb: vulndb_load failed: %s\n", errbuf);
        return -1;
    }

    *stats = *vulndb_stats(db);
    vulndb_free(db);
    return elapsed;
}

static json_t *result_json(const struct vulndb_stats *stats,
                           const struct parse_count *parsed, double *load_runs,
                           double *parse_runs, size_t runs)
{
    json_t *result = json_object();
    if (!result)
        return NULL;

    json_object_set_new(result, "files",
                        json_integer((json_int_t)parsed->files));
    json_object_set_new(result, "json_invalid",
                        json_integer((json_int_t)parsed->invalid));
    json_object_set_new(result, "records",
                        json_integer((json_int_t)stats->records));
    json_object_set_new(result, "records_invalid",
                        json_integer((json_int_t)stats->records_invalid));
    json_object_set_new(result, "load_runs_s",
                        harness_json_numbers(load_runs, runs));
    json_object_set_new(result, "json_parse_runs_s",
                        harness_json_numbers(parse_runs, runs));
    json_object_set_new(result, "load_s",
                        json_real(harness_median(load_runs, runs)));
    json_object_set_new(result, "json_parse_s",
                        json_real(harness_median(parse_runs, runs)));
    return result;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_vulndb OSV_DIR RUNS\n");
        return 2;
    }
    const char *root = argv[1];
    int runs = atoi(argv[2]);
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench_vulndb: RUNS must be 1 to %d, not %s\n",
                MAX_RUNS, argv[2]);
        return 2;
    }

    struct parse_count parsed;
    if (parse_all(root, &parsed) != 0)
        return 1;

    double load_runs[MAX_RUNS];
    double parse_runs[MAX_RUNS];
    struct vulndb_stats stats = {0};
    for (int i = 0; i < runs; i++) {
        load_runs[i] = time_load(root, &stats);
        if (load_runs[i] < 0)
            return 1;

        double start = harness_now();
        if (parse_all(root, &parsed) != 0)
            return 1;
        parse_runs[i] = harness_now() - start;
    }

    json_t *result =
        result_json(&stats, &parsed, load_runs, parse_runs, (size_t)runs);
    return harness_print_result(result) == 0 ? 0 : 1;
}
