/*
 * Manifests, indexes and image configs as a registry could send them. The
 * first byte picks the Content-Type the body arrives with, so that the
 * media type rules are reached without a mediaType field. The seeds in
 * fuzz/corpus/manifest/ start with that byte.
 */
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"

static const char *const content_types[] = {
    NULL,
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json; charset=utf-8",
};

#define CONTENT_TYPE_COUNT (sizeof(content_types) / sizeof(content_types[0]))

static void exercise_manifest(const struct manifest *manifest)
{
    char errbuf[512];
    char platform[256];
    const struct manifest_child *child;
    int64_t total;

    if (manifest->kind == MANIFEST_KIND_INDEX) {
        if (manifest_select_platform(manifest, NULL, &child, errbuf,
                                     sizeof(errbuf)) == 0)
            manifest_format_platform(&child->platform, platform,
                                     sizeof(platform));
        manifest_select_platform(manifest, "linux/arm64", &child, errbuf,
                                 sizeof(errbuf));
        manifest_select_platform(manifest, "linux/arm/v7", &child, errbuf,
                                 sizeof(errbuf));
        return;
    }
    manifest_check_image(manifest, errbuf, sizeof(errbuf));
    manifest_sum_layer_sizes(manifest, &total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manifest *manifest = NULL;
    struct manifest_platform platform;
    char errbuf[512];

    if (size == 0)
        return 0;
    const char *content_type = content_types[data[0] % CONTENT_TYPE_COUNT];

    if (manifest_parse(data + 1, size - 1, content_type, &manifest, errbuf,
                       sizeof(errbuf)) == 0) {
        exercise_manifest(manifest);
        manifest_free(manifest);
    }
    manifest_parse_config(data + 1, size - 1, &platform, errbuf,
                          sizeof(errbuf));
    return 0;
}
