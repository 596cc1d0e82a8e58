/* Scan results as the command line shows them: table rows or JSON. */
#ifndef IMGASSURE_RESULT_FORMAT_H
#define IMGASSURE_RESULT_FORMAT_H

#include "event.h"

#include <jansson.h>
#include <stdio.h>

/* Returns a new JSON object with every field of the result (the caller
 * owns the reference), or NULL when out of memory. */
json_t *result_format_json(const struct scan_result *result);

void result_format_table_header(FILE *out);
void result_format_table_row(FILE *out, const struct scan_result *result);

#endif
