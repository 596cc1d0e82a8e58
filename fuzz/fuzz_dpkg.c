/*
 * dpkg status text, read both as var/lib/dpkg/status and as a status.d
 * file. Every package a successful parse returns must have a name and a
 * version.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dpkg.h"

static void parse_one(int (*parse)(const char *, size_t,
                                   struct installed_package **, size_t *,
                                   char *, size_t),
                      const uint8_t *data, size_t size)
{
    struct installed_package *packages = NULL;
    size_t count = 0;
    char errbuf[512];

    if (parse((const char *)data, size, &packages, &count, errbuf,
              sizeof(errbuf)) != 0) {
        if (packages != NULL)
            abort();
        return;
    }
    for (size_t i = 0; i < count; i++)
        if (packages[i].name == NULL || packages[i].version == NULL)
            abort();
    dpkg_packages_free(packages, count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_one(dpkg_status_parse, data, size);
    parse_one(dpkg_status_d_parse, data, size);
    return 0;
}
