/*
 * Shared parts of the benchmark programs in tests/bench: a monotonic
 * clock, the median of repeated timings, the listing of a folder tree's
 * .json files, and the JSON object each program prints as its result.
 */
#ifndef IMGASSURE_BENCH_HARNESS_H
#define IMGASSURE_BENCH_HARNESS_H

#include <stddef.h>

#include <jansson.h>

/* Returns seconds on CLOCK_MONOTONIC, from an arbitrary start. */
double harness_now(void);

/* Sorts count values (count > 0) and returns their median. */
double harness_median(double *values, size_t count);

/* Returns a new JSON array of count numbers, or NULL when out of memory. */
json_t *harness_json_numbers(const double *values, size_t count);

/*
 * Lists the regular files named *.json under root, in directory order,
 * skipping names that start with '.'. Returns 0 with *paths a malloc'd
 * array of *count malloc'd paths that the caller frees with
 * harness_paths_free(). Returns -1 with the reason in errbuf when a folder
 * cannot be read or memory runs out, and then *paths is NULL.
 */
int harness_list_json(const char *root, char ***paths, size_t *count,
                      char *errbuf, size_t errbuf_size);

/* Frees count paths and the array. NULL is a no-op. */
void harness_paths_free(char **paths, size_t count);

/* Prints result as one line of JSON on stdout and takes its reference.
 * Returns 0, or -1 when it cannot be written. */
int harness_print_result(json_t *result);

#endif
