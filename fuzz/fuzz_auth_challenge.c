/*
 * WWW-Authenticate values. The header reaches the parser as a C string,
 * so the input is cut at its first NUL, as curl's header callback would
 * hand it over.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_challenge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_challenge challenge;
    char errbuf[512];

    char *header = malloc(size + 1);
    if (header == NULL)
        return 0;
    memcpy(header, data, size);
    header[size] = '\0';

    if (auth_challenge_parse(header, &challenge, errbuf, sizeof(errbuf)) == 0 &&
        challenge.scheme == AUTH_SCHEME_BEARER && challenge.realm[0] == '\0')
        abort(); /* a Bearer challenge without a realm must be rejected */
    free(header);
    return 0;
}
