/*
 * Image sources: a registry, an OCI image layout directory or a
 * `docker save` archive, from which a scan reads an image. Each source
 * offers the same three operations (a manifest by tag or digest, a small blob
 * in memory, a layer streamed), so the scan pipeline resolves manifests, checks
 * sizes and walks layers the same way whichever source it reads.
 *
 * Every source checks that what it hands out hashes to the digest asked
 * for, and reports failures with the registry client's statuses: a local
 * blob that does not match is REGISTRY_DIGEST_MISMATCH, a missing one
 * REGISTRY_NOT_FOUND, a malformed or oversized one
 * REGISTRY_INVALID_RESPONSE. Workers only ever build registry sources:
 * local sources exist for `imgassure scan` alone.
 */
#ifndef IMGASSURE_IMAGE_SOURCE_H
#define IMGASSURE_IMAGE_SOURCE_H

#include "registry.h"

#include <stddef.h>
#include <stdint.h>

enum image_source_kind {
    IMAGE_SOURCE_REGISTRY,
    IMAGE_SOURCE_OCI_LAYOUT,
    IMAGE_SOURCE_DOCKER_ARCHIVE,
};

struct image_source;

struct image_source_ops {
    /* As registry_fetch_manifest(): reference is a tag or a digest. */
    enum registry_status (*fetch_manifest)(struct image_source *source,
                                           const char *reference,
                                           struct registry_manifest *manifest,
                                           char *errbuf, size_t errbuf_size);
    /* As registry_fetch_blob(). */
    enum registry_status (*fetch_blob)(struct image_source *source,
                                       const char *digest,
                                       int64_t expected_size, char **data,
                                       size_t *size, char *errbuf,
                                       size_t errbuf_size);
    /* As registry_fetch_blob_stream(). */
    enum registry_status (*stream_blob)(struct image_source *source,
                                        const char *digest,
                                        int64_t expected_size,
                                        registry_write_fn write_fn,
                                        void *userdata, char *errbuf,
                                        size_t errbuf_size);
    void (*free)(struct image_source *source);
};

struct image_source {
    const struct image_source_ops *ops;
    enum image_source_kind kind;
    /* The reference the scan resolves first: a tag or a digest. */
    char reference[IMAGE_REF_DIGEST_MAX + 1];
    /* Registry sources only: where the image is pulled from. */
    struct image_ref ref;
    /* Local sources: the first RepoTags entry of a docker archive or the
     * ref.name of an OCI layout's image; "" when the source names none. */
    char name[IMAGE_REF_TEXT_MAX + 1];
};

/*
 * Opens a registry source for ref with the client's options. Returns NULL
 * with the reason in errbuf.
 */
struct image_source *
image_source_registry_new(const struct registry_options *options,
                          const struct image_ref *ref, char *errbuf,
                          size_t errbuf_size);

/*
 * Opens an OCI image layout: dir contains oci-layout, index.json and
 * blobs/<algorithm>/<hex>. tag (NULL: the layout's only image) is matched
 * against the org.opencontainers.image.ref.name annotation in index.json
 * and the indexes it names. Returns NULL with the reason in errbuf when
 * the layout is not readable or the tag names no image.
 */
struct image_source *image_source_oci_layout_new(const char *dir,
                                                 const char *tag, char *errbuf,
                                                 size_t errbuf_size);

/*
 * Opens a `docker save` archive, gzip-compressed or not. Reads
 * manifest.json and the image config, and describes the image as a Docker
 * v2 manifest whose layers are the archive's layer tars, named by their
 * diff_ids from the config. Returns NULL with the reason in errbuf when
 * the archive contains no single readable image.
 */
struct image_source *image_source_docker_archive_new(const char *path,
                                                     char *errbuf,
                                                     size_t errbuf_size);

/* Frees a source. NULL is a no-op. */
void image_source_free(struct image_source *source);

/*
 * Blob hashing for local sources: a running digest of the algorithm that
 * digest names, compared at the end.
 */
struct blob_hash;

struct blob_hash *blob_hash_new(const char *digest);
int blob_hash_update(struct blob_hash *hash, const void *data, size_t size);
/* Returns 0 when the bytes hashed to digest, else -1 with the digest they
 * had in errbuf. Frees hash. */
int blob_hash_finish(struct blob_hash *hash, const char *digest, char *errbuf,
                     size_t errbuf_size);
/* Returns 0 when data hashes to digest, else -1 with the reason in
 * errbuf. */
int blob_hash_check(const void *data, size_t size, const char *digest,
                    char *errbuf, size_t errbuf_size);
/* Writes the sha256 digest of data into out ("sha256:" + 64 hex). */
void blob_hash_sha256(const void *data, size_t size,
                      char out[IMAGE_REF_DIGEST_MAX + 1]);

#endif
