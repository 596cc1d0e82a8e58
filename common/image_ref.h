/*
 * Image references as docker/distribution parses them:
 * [registry/]repository[:tag][@digest].
 *
 * The first path component is a registry when it contains '.' or ':' or is
 * "localhost". Otherwise the registry is docker.io, where a one-component
 * repository gets the "library/" prefix. "index.docker.io" is
 * normalised to "docker.io". Digests are sha256 (64 lowercase hex digits)
 * or sha512 (128).
 *
 * Every function here is pure and thread-safe.
 */
#ifndef IMGASSURE_IMAGE_REF_H
#define IMGASSURE_IMAGE_REF_H

#include <stddef.h>

/* docker/distribution caps the whole name (registry, '/', repository) at
 * 255 characters, so a registry has at most 253 (it needs a '/' and a
 * one-character repository after it). */
#define IMAGE_REF_NAME_MAX 255
#define IMAGE_REF_REGISTRY_MAX 253
#define IMAGE_REF_REPOSITORY_MAX 255
#define IMAGE_REF_TAG_MAX 128
/* "sha512:" followed by 128 hex digits. */
#define IMAGE_REF_DIGEST_MAX 135
/* Maximum length of what image_ref_format() writes, without the NUL. */
#define IMAGE_REF_TEXT_MAX                                                     \
    (IMAGE_REF_NAME_MAX + 1 + IMAGE_REF_TAG_MAX + 1 + IMAGE_REF_DIGEST_MAX)

#define IMAGE_REF_DEFAULT_REGISTRY "docker.io"
#define IMAGE_REF_DEFAULT_TAG "latest"

/* A parsed reference. tag and digest are "" when absent. */
struct image_ref {
    char registry[IMAGE_REF_REGISTRY_MAX + 1];
    char repository[IMAGE_REF_REPOSITORY_MAX + 1];
    char tag[IMAGE_REF_TAG_MAX + 1];
    char digest[IMAGE_REF_DIGEST_MAX + 1];
};

/*
 * Parses text into *ref, applying the docker.io defaults. A reference with
 * neither tag nor digest keeps both empty (image_ref_get_reference() then
 * gives "latest"). Returns 0, or -1 with the reason in errbuf; *ref is
 * zeroed on failure.
 */
int image_ref_parse(const char *text, struct image_ref *ref, char *errbuf,
                    size_t errbuf_size);

/*
 * Fills *ref from separate parts, as events carry them, validating each with
 * the same grammar and defaults as image_ref_parse(). registry may be NULL
 * or "" (docker.io); tag and digest may be NULL or "". Returns 0, or -1
 * with the reason in errbuf; *ref is zeroed on failure.
 */
int image_ref_build(struct image_ref *ref, const char *registry,
                    const char *repository, const char *tag, const char *digest,
                    char *errbuf, size_t errbuf_size);

/*
 * Writes "registry/repository[:tag][@digest]" into out. Returns 0, or -1
 * when out_size is too small (out then contains a truncated string).
 * A buffer of IMAGE_REF_TEXT_MAX + 1 bytes is always large enough.
 */
int image_ref_format(const struct image_ref *ref, char *out, size_t out_size);

/*
 * Returns what a registry's manifests endpoint takes for this reference:
 * the digest when there is one, else the tag, else "latest". The pointer is
 * into ref or to a string constant.
 */
const char *image_ref_get_reference(const struct image_ref *ref);

/* Returns 0 when digest is "sha256:" + 64 or "sha512:" + 128 lowercase hex
 * digits, -1 otherwise. */
int image_ref_validate_digest(const char *digest);

/* Returns 0 when tag matches [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, -1
 * otherwise. */
int image_ref_validate_tag(const char *tag);

#endif
