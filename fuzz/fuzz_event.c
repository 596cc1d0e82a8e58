/*
 * Avro decoding of the four events. The first byte chooses what the rest
 * is. Below 0x80, it is the datum of one embedded schema version, and the
 * harness adds that version's single-object header, so that the fuzzer
 * spends its time on datums instead of guessing 64-bit fingerprints. From
 * 0x80, it is a whole message, header included, given to every decoder.
 *
 * Every event that decodes must encode again (event.h promises it), and
 * the encoding must decode.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "avro_schema.h"
#include "event.h"
#include "schema_store.h"

#define VERSIONS_MAX 32

struct version {
    char family[64];
    uint64_t fingerprint;
};

static struct version versions[VERSIONS_MAX];
static size_t version_count;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char errbuf[512];
    (void)argc;
    (void)argv;

    for (size_t i = 0; i < embedded_schema_count && i < VERSIONS_MAX; i++) {
        const struct embedded_schema *embedded = &embedded_schemas[i];
        struct schema *schema = schema_parse(
            embedded->json, strlen(embedded->json), 0, errbuf, sizeof(errbuf));
        if (schema == NULL)
            abort();
        struct version *version = &versions[version_count++];
        version->fingerprint = schema_fingerprint(schema);
        size_t family_length = strcspn(embedded->name, ".");
        if (family_length >= sizeof(version->family))
            abort();
        memcpy(version->family, embedded->name, family_length);
        schema_free(schema);
    }
    return 0;
}

/* Decodes as one event type, and when that works, checks the round
 * trip. */
#define ROUND_TRIP(type, message, size)                                        \
    do {                                                                       \
        struct type event, again;                                              \
        unsigned char *encoded;                                                \
        size_t encoded_size;                                                   \
        char errbuf[512];                                                      \
        if (type##_decode(message, size, &event, errbuf, sizeof(errbuf)) != 0) \
            break;                                                             \
        if (type##_encode(&event, &encoded, &encoded_size, errbuf,             \
                          sizeof(errbuf)) != 0)                                \
            abort();                                                           \
        if (type##_decode(encoded, encoded_size, &again, errbuf,               \
                          sizeof(errbuf)) != 0)                                \
            abort();                                                           \
        free(encoded);                                                         \
        type##_clear(&again);                                                  \
        type##_clear(&event);                                                  \
    } while (0)

static void decode_as(const char *family, const void *message, size_t size)
{
    if (family == NULL || strcmp(family, "ImageSeen") == 0)
        ROUND_TRIP(image_seen, message, size);
    if (family == NULL || strcmp(family, "ScanRequest") == 0)
        ROUND_TRIP(scan_request, message, size);
    if (family == NULL || strcmp(family, "ScanResult") == 0)
        ROUND_TRIP(scan_result, message, size);
    if (family == NULL || strcmp(family, "ImageRemoved") == 0)
        ROUND_TRIP(image_removed, message, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || version_count == 0)
        return 0;
    if (data[0] >= 0x80) {
        decode_as(NULL, data + 1, size - 1);
        return 0;
    }

    const struct version *version = &versions[data[0] % version_count];
    unsigned char *message = malloc(SCHEMA_FRAME_HEADER_SIZE + size - 1);
    if (message == NULL)
        return 0;
    schema_frame_header_write(version->fingerprint, message);
    memcpy(message + SCHEMA_FRAME_HEADER_SIZE, data + 1, size - 1);
    decode_as(version->family, message, SCHEMA_FRAME_HEADER_SIZE + size - 1);
    free(message);
    return 0;
}
