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

void installed_packages_free(struct installed_package *packages, size_t count)
{
    if (packages == NULL)
        return;

    for (size_t i = 0; i < count; i++)
        installed_package_clear(&packages[i]);
    free(packages);
}
