/*
 * Image manifests and indexes: OCI image manifest and index, Docker v2
 * schema 2 manifest and manifest list. Docker schema 1 is rejected.
 *
 * A parsed manifest is a plain, read-only structure, so any number of
 * threads may read one at the same time. Every count and length read from the
 * JSON is capped by the constants below.
 */
#ifndef IMGASSURE_MANIFEST_H
#define IMGASSURE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image_ref.h"

#define MEDIA_TYPE_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_TYPE_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_DOCKER_MANIFEST                                             \
    "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_TYPE_DOCKER_MANIFEST_LIST                                        \
    "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_TYPE_DOCKER_CONFIG                                               \
    "application/vnd.docker.container.image.v1+json"

/* Largest manifest, index or image config accepted, in bytes. */
#define MANIFEST_SIZE_MAX (4 * 1024 * 1024)
#define MANIFEST_LAYERS_MAX 1000
#define MANIFEST_CHILDREN_MAX 1000
/* RFC 6838 allows 127 characters for each half of "type/subtype". */
#define MANIFEST_MEDIA_TYPE_MAX 255
#define MANIFEST_PLATFORM_FIELD_MAX 63

enum manifest_kind {
    MANIFEST_KIND_MANIFEST, /* an image manifest: config and layers */
    MANIFEST_KIND_INDEX,    /* an index or manifest list: children */
};

struct manifest_descriptor {
    char media_type[MANIFEST_MEDIA_TYPE_MAX + 1];
    char digest[IMAGE_REF_DIGEST_MAX + 1];
    int64_t size; /* bytes, never negative */
};

/* A platform as an index or an image config states it. variant and
 * os_version are "" when absent. */
struct manifest_platform {
    char os[MANIFEST_PLATFORM_FIELD_MAX + 1];
    char architecture[MANIFEST_PLATFORM_FIELD_MAX + 1];
    char variant[MANIFEST_PLATFORM_FIELD_MAX + 1];
    char os_version[MANIFEST_PLATFORM_FIELD_MAX + 1];
};

struct manifest_child {
    struct manifest_descriptor descriptor;
    bool has_platform;
    struct manifest_platform platform; /* zeroed when has_platform is false */
};

struct manifest {
    enum manifest_kind kind;
    /* The media type the manifest was parsed as: its mediaType field, else
     * the Content-Type, else the OCI type its fields imply. */
    char media_type[MANIFEST_MEDIA_TYPE_MAX + 1];
    char artifact_type[MANIFEST_MEDIA_TYPE_MAX + 1]; /* "" when absent */

    /* MANIFEST_KIND_MANIFEST only. */
    struct manifest_descriptor config;
    struct manifest_descriptor *layers;
    size_t layer_count;

    /* MANIFEST_KIND_INDEX only. */
    struct manifest_child *children;
    size_t child_count;
};

/*
 * Parses a manifest or index. content_type is the HTTP Content-Type (its
 * parameters are ignored) or NULL; the mediaType field wins when both name
 * a manifest type, and the two must then agree on manifest or index.
 * Rejects schema 1, unknown media types, schemaVersion other than 2,
 * missing or mistyped fields, negative sizes, invalid digests and more than
 * MANIFEST_LAYERS_MAX layers or MANIFEST_CHILDREN_MAX children. Returns 0
 * and a manifest the caller frees with manifest_free(), or -1 with the
 * reason in errbuf.
 */
int manifest_parse(const void *body, size_t size, const char *content_type,
                   struct manifest **manifest, char *errbuf,
                   size_t errbuf_size);

/* Frees a manifest from manifest_parse(). manifest_free(NULL) is a no-op. */
void manifest_free(struct manifest *manifest);

/*
 * Chooses the child of an index to scan: the requested platform
 * ("os/arch[/variant]", or NULL), else linux/amd64, else the only linux
 * child. Without a variant in requested, the first child of that os and
 * architecture is chosen; arm64 and arm64/v8 are the same platform. An
 * index whose only child declares no platform (as an OCI layout's
 * index.json often does) gives that child, and its image config then
 * gives the platform. Returns 0 and points *child into index, or -1 with
 * "no linux/amd64 image in index (platforms: ...)" or another reason in
 * errbuf.
 */
int manifest_select_platform(const struct manifest *index,
                             const char *requested,
                             const struct manifest_child **child, char *errbuf,
                             size_t errbuf_size);

/*
 * Reads os, architecture, variant and os.version from an image config
 * blob. os and architecture are required. Returns 0, or -1 with the reason
 * in errbuf (platform is then zeroed).
 */
int manifest_parse_config(const void *body, size_t size,
                          struct manifest_platform *platform, char *errbuf,
                          size_t errbuf_size);

/*
 * Checks that a parsed manifest describes a container image: an image
 * manifest whose config is an OCI or Docker image config, with no
 * artifactType, and whose layers are all tar layers. Helm charts,
 * signatures, SBOMs and other artifacts fail. Returns 0, or -1 with what
 * the manifest is instead in errbuf.
 */
int manifest_check_image(const struct manifest *manifest, char *errbuf,
                         size_t errbuf_size);

/* Sums the layer sizes into *total. Returns 0, or -1 when the sum does not
 * fit in an int64_t. */
int manifest_sum_layer_sizes(const struct manifest *manifest, int64_t *total);

/* Formats a platform as "os/arch[/variant]" into out. Returns 0, or -1 when
 * out_size is too small. */
int manifest_format_platform(const struct manifest_platform *platform,
                             char *out, size_t out_size);

#endif
