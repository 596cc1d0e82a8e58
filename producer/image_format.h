/* The images list as the command line shows it: a table or JSON. */
#ifndef IMGASSURE_IMAGE_FORMAT_H
#define IMGASSURE_IMAGE_FORMAT_H

#include "image_list.h"

#include <jansson.h>
#include <stdio.h>

/* Returns a new JSON object describing one image (the caller owns the
 * reference), or NULL when out of memory. */
json_t *image_format_json(const char *account, const struct image_entry *entry);

/* Prints a table of the entries, columns as wide as their widest cell,
 * and a note under it when a level comes from an earlier scan. */
void image_format_table(FILE *out, const struct image_entry *entries,
                        size_t count);

#endif
