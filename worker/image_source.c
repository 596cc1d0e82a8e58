#include "image_source.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct registry_source {
    struct image_source base; /* first, so the two pointers convert */
    struct registry_client *client;
};

static struct registry_source *registry_source(struct image_source *source)
{
    return (struct registry_source *)source;
}

static enum registry_status
registry_source_manifest(struct image_source *source, const char *reference,
                         struct registry_manifest *manifest, char *errbuf,
                         size_t errbuf_size)
{
    struct registry_source *self = registry_source(source);

    return registry_fetch_manifest(self->client, source->ref.registry,
                                   source->ref.repository, reference, manifest,
                                   errbuf, errbuf_size);
}

static enum registry_status
registry_source_blob(struct image_source *source, const char *digest,
                     int64_t expected_size, char **data, size_t *size,
                     char *errbuf, size_t errbuf_size)
{
    struct registry_source *self = registry_source(source);

    return registry_fetch_blob(self->client, source->ref.registry,
                               source->ref.repository, digest, expected_size,
                               data, size, errbuf, errbuf_size);
}

static enum registry_status
registry_source_stream(struct image_source *source, const char *digest,
                       int64_t expected_size, registry_write_fn write_fn,
                       void *userdata, char *errbuf, size_t errbuf_size)
{
    struct registry_source *self = registry_source(source);

    return registry_fetch_blob_stream(
        self->client, source->ref.registry, source->ref.repository, digest,
        expected_size, write_fn, userdata, errbuf, errbuf_size);
}

static void registry_source_free(struct image_source *source)
{
    struct registry_source *self = registry_source(source);

    registry_client_free(self->client);
    free(self);
}

static const struct image_source_ops registry_source_ops = {
    registry_source_manifest,
    registry_source_blob,
    registry_source_stream,
    registry_source_free,
};

struct image_source *
image_source_registry_new(const struct registry_options *options,
                          const struct image_ref *ref, char *errbuf,
                          size_t errbuf_size)
{
    struct registry_source *self = calloc(1, sizeof(*self));

    if (self == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    self->client = registry_client_new(options, errbuf, errbuf_size);
    if (self->client == NULL) {
        free(self);
        return NULL;
    }
    self->base.ops = &registry_source_ops;
    self->base.kind = IMAGE_SOURCE_REGISTRY;
    self->base.ref = *ref;
    snprintf(self->base.reference, sizeof(self->base.reference), "%s",
             image_ref_get_reference(ref));
    return &self->base;
}

void image_source_free(struct image_source *source)
{
    if (source != NULL)
        source->ops->free(source);
}

struct blob_hash {
    EVP_MD_CTX *context;
};

static const EVP_MD *digest_algorithm(const char *digest)
{
    if (strncmp(digest, "sha256:", 7) == 0)
        return EVP_sha256();
    if (strncmp(digest, "sha512:", 7) == 0)
        return EVP_sha512();
    return NULL;
}

static void format_digest(const EVP_MD *algorithm, const unsigned char *hash,
                          unsigned int length, char *out, size_t out_size)
{
    size_t used = (size_t)snprintf(
        out, out_size, "%s:", algorithm == EVP_sha512() ? "sha512" : "sha256");

    for (unsigned int i = 0; i < length && used + 2 < out_size; i++)
        used += (size_t)snprintf(out + used, out_size - used, "%02x", hash[i]);
}

struct blob_hash *blob_hash_new(const char *digest)
{
    const EVP_MD *algorithm = digest_algorithm(digest);
    struct blob_hash *hash;

    if (algorithm == NULL)
        return NULL;
    hash = calloc(1, sizeof(*hash));
    if (hash == NULL)
        return NULL;
    hash->context = EVP_MD_CTX_new();
    if (hash->context == NULL ||
        EVP_DigestInit_ex(hash->context, algorithm, NULL) != 1) {
        EVP_MD_CTX_free(hash->context);
        free(hash);
        return NULL;
    }
    return hash;
}

int blob_hash_update(struct blob_hash *hash, const void *data, size_t size)
{
    return EVP_DigestUpdate(hash->context, data, size) == 1 ? 0 : -1;
}

int blob_hash_finish(struct blob_hash *hash, const char *digest, char *errbuf,
                     size_t errbuf_size)
{
    unsigned char value[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    char actual[IMAGE_REF_DIGEST_MAX + 1] = "";
    int ok;

    ok = EVP_DigestFinal_ex(hash->context, value, &length) == 1;
    if (ok)
        format_digest(EVP_MD_CTX_get0_md(hash->context), value, length, actual,
                      sizeof(actual));
    EVP_MD_CTX_free(hash->context);
    free(hash);
    if (ok && strcmp(actual, digest) == 0)
        return 0;
    snprintf(errbuf, errbuf_size, "content hashes to %s, not %s",
             ok ? actual : "(hash failed)", digest);
    return -1;
}

int blob_hash_check(const void *data, size_t size, const char *digest,
                    char *errbuf, size_t errbuf_size)
{
    struct blob_hash *hash = blob_hash_new(digest);

    if (hash == NULL) {
        snprintf(errbuf, errbuf_size, "cannot hash with the algorithm of %s",
                 digest);
        return -1;
    }
    blob_hash_update(hash, data, size);
    return blob_hash_finish(hash, digest, errbuf, errbuf_size);
}

void blob_hash_sha256(const void *data, size_t size,
                      char out[IMAGE_REF_DIGEST_MAX + 1])
{
    unsigned char value[EVP_MAX_MD_SIZE];
    unsigned int length = 0;

    out[0] = '\0';
    if (EVP_Digest(data, size, value, &length, EVP_sha256(), NULL) == 1)
        format_digest(EVP_sha256(), value, length, out,
                      IMAGE_REF_DIGEST_MAX + 1);
}
