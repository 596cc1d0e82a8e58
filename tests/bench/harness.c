#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The generated databases are two levels deep. The cap stops a link loop
 * that a hand-made tree might contain. */
#define MAX_DEPTH 16

struct path_list {
    char **paths;
    size_t count;
    size_t capacity;
};

double harness_now(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

double harness_median(double *values, size_t count)
{
    qsort(values, count, sizeof(*values), compare_doubles);
    if (count % 2 == 1)
        return values[count / 2];
    return (values[count / 2 - 1] + values[count / 2]) / 2;
}

json_t *harness_json_numbers(const double *values, size_t count)
{
    json_t *array = json_array();

    for (size_t i = 0; array && i < count; i++) {
        if (json_array_append_new(array, json_real(values[i])) != 0) {
            json_decref(array);
            return NULL;
        }
    }
    return array;
}

static int list_add(struct path_list *list, char *path)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 1024;
        char **paths = realloc(list->paths, capacity * sizeof(*paths));
        if (!paths)
            return -1;
        list->paths = paths;
        list->capacity = capacity;
    }
    list->paths[list->count++] = path;
    return 0;
}

static int has_json_suffix(const char *name)
{
    size_t length = strlen(name);

    return length > 5 && strcmp(name + length - 5, ".json") == 0;
}

/* Returns a malloc'd "folder/name", or NULL when out of memory. */
static char *join_path(const char *folder, const char *name)
{
    size_t size = strlen(folder) + 1 + strlen(name) + 1;
    char *path = malloc(size);

    if (path)
        snprintf(path, size, "%s/%s", folder, name);
    return path;
}

/* Returns the entry's type as d_type gives it, asking lstat() when the
 * file system leaves d_type unknown. */
static unsigned char entry_type(const char *path, unsigned char d_type)
{
    struct stat info;

    if (d_type != DT_UNKNOWN)
        return d_type;
    if (lstat(path, &info) != 0)
        return DT_UNKNOWN;
    if (S_ISDIR(info.st_mode))
        return DT_DIR;
    return S_ISREG(info.st_mode) ? DT_REG : DT_UNKNOWN;
}

static int list_folder(const char *folder, size_t depth, struct path_list *list,
                       char *errbuf, size_t errbuf_size)
{
    if (depth > MAX_DEPTH) {
        snprintf(errbuf, errbuf_size, "%s: more than %d folder levels", folder,
                 MAX_DEPTH);
        return -1;
    }

    DIR *dir = opendir(folder);
    if (!dir) {
        snprintf(errbuf, errbuf_size, "%s: %s", folder, strerror(errno));
        return -1;
    }

    int result = 0;
    struct dirent *entry;
    while (result == 0 && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;

        char *path = join_path(folder, entry->d_name);
        if (!path) {
            snprintf(errbuf, errbuf_size, "out of memory");
            result = -1;
            break;
        }

        unsigned char type = entry_type(path, entry->d_type);
        if (type == DT_DIR)
            result = list_folder(path, depth + 1, list, errbuf, errbuf_size);
        if (type == DT_REG && has_json_suffix(entry->d_name)) {
            if (list_add(list, path) == 0)
                continue;
            snprintf(errbuf, errbuf_size, "out of memory");
            result = -1;
        }
        free(path);
    }
    closedir(dir);
    return result;
}

int harness_list_json(const char *root, char ***paths, size_t *count,
                      char *errbuf, size_t errbuf_size)
{
    struct path_list list = {0};

    *paths = NULL;
    *count = 0;
    if (list_folder(root, 0, &list, errbuf, errbuf_size) != 0) {
        harness_paths_free(list.paths, list.count);
        return -1;
    }

    *paths = list.paths;
    *count = list.count;
    return 0;
}

void harness_paths_free(char **paths, size_t count)
{
    if (!paths)
        return;

    for (size_t i = 0; i < count; i++)
        free(paths[i]);
    free(paths);
}

int harness_print_result(json_t *result)
{
    if (!result)
        return -1;

    int status =
        json_dumpf(result, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(result);
    if (status != 0 || putchar('\n') == EOF || fflush(stdout) != 0)
        return -1;
    return 0;
}
