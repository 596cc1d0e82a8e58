/*
 * A growing array of installed packages, as the package database parsers
 * build their inventories.
 */
#ifndef IMGASSURE_PACKAGE_LIST_H
#define IMGASSURE_PACKAGE_LIST_H

#include "event.h"

#include <stddef.h>

struct package_list {
    struct installed_package *items;
    size_t count;
    size_t capacity;
};

/* Appends a zeroed package and returns it, or NULL when out of memory (the
 * list is then unchanged). */
struct installed_package *package_list_add(struct package_list *list);

/* Sorts packages by name, architecture and version, and frees those that
 * repeat all three. Returns the new count. */
size_t installed_packages_sort_unique(struct installed_package *packages,
                                      size_t count);

/* Frees count packages and the array. NULL is a no-op. */
void installed_packages_free(struct installed_package *packages, size_t count);

#endif
