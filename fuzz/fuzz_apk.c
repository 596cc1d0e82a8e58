/*
 * apk's lib/apk/db/installed text. Every package a successful parse
 * returns must have a name and a version.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "apk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct installed_package *packages = NULL;
    size_t count = 0;
    char errbuf[512];

    if (apk_installed_parse((const char *)data, size, &packages, &count, errbuf,
                            sizeof(errbuf)) != 0) {
        if (packages != NULL)
            abort();
        return 0;
    }
    for (size_t i = 0; i < count; i++)
        if (packages[i].name == NULL || packages[i].version == NULL)
            abort();
    apk_packages_free(packages, count);
    return 0;
}
