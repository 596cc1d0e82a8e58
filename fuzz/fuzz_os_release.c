/* os-release text, as etc/os-release contains it. */
#include <stddef.h>
#include <stdint.h>

#include "os_release.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct os_release release;
    char errbuf[512];

    if (os_release_parse((const char *)data, size, &release, errbuf,
                         sizeof(errbuf)) == 0)
        os_release_clear(&release);
    return 0;
}
