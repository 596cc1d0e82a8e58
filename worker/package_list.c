#include "package_list.h"

#include <stdlib.h>
#include <string.h>

struct installed_package *package_list_add(struct package_list *list)
{
    struct installed_package *package;

    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        struct installed_package *items =
            realloc(list->items, capacity * sizeof(*items));

        if (items == NULL)
            return NULL;
        list->items = items;
        list->capacity = capacity;
    }

    package = &list->items[list->count++];
    memset(package, 0, sizeof(*package));
    return package;
}

static int compare_optional(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int compare_packages(const void *left, const void *right)
{
    const struct installed_package *a = left;
    const struct installed_package *b = right;
    int order = strcmp(a->name, b->name);

    if (order == 0)
        order = compare_optional(a->architecture, b->architecture);
    if (order == 0)
        order = strcmp(a->version, b->version);
    return order;
}

size_t installed_packages_sort_unique(struct installed_package *packages,
                                      size_t count)
{
    size_t unique = 1;

    if (count == 0)
        return 0;
    qsort(packages, count, sizeof(*packages), compare_packages);

    for (size_t i = 1; i < count; i++) {
        if (compare_packages(&packages[unique - 1], &packages[i]) == 0) {
            installed_package_clear(&packages[i]);
            continue;
        }
        packages[unique++] = packages[i];
    }
    return unique;
}

void installed_packages_free(struct installed_package *packages, size_t count)
{
    if (packages == NULL)
        return;

    for (size_t i = 0; i < count; i++)
        installed_package_clear(&packages[i]);
    free(packages);
}
