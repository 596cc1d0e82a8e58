/*
 * A `docker save` archive as an image source. The archive has no image
 * manifest of its own: manifest.json names the config and the layer tars,
 * and the config's rootfs.diff_ids give each layer's digest. This source
 * describes the image as the Docker v2 manifest those imply, with the
 * layers uncompressed as the archive stores them, and checks every layer
 * against its diff_id while it streams.
 *
 * A tar has no index, so each read walks the archive from its start. A
 * gzip-compressed archive is decompressed on each walk.
 */
#include "image_source.h"
#include "manifest.h"

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAYER_MEDIA_TYPE "application/vnd.docker.image.rootfs.diff.tar"
/* Maximum length of a member name in manifest.json. */
#define ARCHIVE_NAME_MAX 1024

struct archive_layer {
    char name[ARCHIVE_NAME_MAX + 1];
    char digest[IMAGE_REF_DIGEST_MAX + 1]; /* its diff_id */
    int64_t size;                          /* -1 until found */
};

struct docker_archive {
    struct image_source base; /* first, so the two pointers convert */
    char *path;
    char config_name[ARCHIVE_NAME_MAX + 1];
    char *config;
    size_t config_size;
    char config_digest[IMAGE_REF_DIGEST_MAX + 1];
    struct archive_layer *layers;
    size_t layer_count;
    char *manifest; /* the Docker v2 manifest described above */
    size_t manifest_size;
};

static struct docker_archive *docker_archive(struct image_source *source)
{
    return (struct docker_archive *)source;
}

static struct archive *open_archive(const char *path, char *errbuf,
                                    size_t errbuf_size)
{
    struct archive *archive = archive_read_new();

    if (archive == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    archive_read_support_filter_gzip(archive);
    archive_read_support_format_tar(archive);
    if (archive_read_open_filename(archive, path, 65536) != ARCHIVE_OK) {
        snprintf(errbuf, errbuf_size, "%s is not a readable tar archive: %s",
                 path, archive_error_string(archive));
        archive_read_free(archive);
        return NULL;
    }
    return archive;
}

/* Reads the current member, at most max_size bytes, into memory. */
static char *read_member(struct archive *archive, struct archive_entry *entry,
                         size_t max_size, size_t *size, char *errbuf,
                         size_t errbuf_size)
{
    la_int64_t length = archive_entry_size(entry);
    char *data;

    if (length < 0 || (uint64_t)length > max_size) {
        snprintf(errbuf, errbuf_size, "%s is %lld bytes, over the limit of %zu",
                 archive_entry_pathname(entry), (long long)length, max_size);
        return NULL;
    }
    data = malloc((size_t)length + 1);
    if (data == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    if (archive_read_data(archive, data, (size_t)length) != length) {
        snprintf(errbuf, errbuf_size, "%s is truncated: %s",
                 archive_entry_pathname(entry), archive_error_string(archive));
        free(data);
        return NULL;
    }
    data[length] = '\0';
    *size = (size_t)length;
    return data;
}

/* A member name must stay inside the archive: manifest.json is input like
 * any other, and a name such as ../etc/passwd is a sign of tampering. */
static int name_is_safe(const char *name)
{
    const char *part = name;

    if (name[0] == '\0' || name[0] == '/' || strlen(name) > ARCHIVE_NAME_MAX)
        return 0;
    while (part != NULL) {
        if (strncmp(part, "..", 2) == 0 && (part[2] == '/' || part[2] == '\0'))
            return 0;
        part = strchr(part, '/');
        if (part != NULL)
            part++;
    }
    return 1;
}

static char *read_manifest_json(const char *path, size_t *size, char *errbuf,
                                size_t errbuf_size)
{
    struct archive *archive = open_archive(path, errbuf, errbuf_size);
    struct archive_entry *entry;
    char *body = NULL;
    int found = 0, status;

    if (archive == NULL)
        return NULL;
    while ((status = archive_read_next_header(archive, &entry)) == ARCHIVE_OK) {
        if (strcmp(archive_entry_pathname(entry), "manifest.json") == 0) {
            found = 1;
            body = read_member(archive, entry, MANIFEST_SIZE_MAX, size, errbuf,
                               errbuf_size);
            break;
        }
    }
    if (!found && status != ARCHIVE_EOF)
        snprintf(errbuf, errbuf_size, "%s is not a readable tar archive: %s",
                 path, archive_error_string(archive));
    else if (!found)
        snprintf(errbuf, errbuf_size,
                 "%s has no manifest.json, so it is not a docker save archive",
                 path);
    archive_read_free(archive);
    return body;
}

static int copy_name(char *out, const char *name, const char *what,
                     char *errbuf, size_t errbuf_size)
{
    if (name == NULL || !name_is_safe(name)) {
        snprintf(errbuf, errbuf_size,
                 "manifest.json names %s '%.100s', which is not a plain "
                 "member name inside the archive",
                 what, name ? name : "(none)");
        return -1;
    }
    snprintf(out, ARCHIVE_NAME_MAX + 1, "%s", name);
    return 0;
}

/* Takes the config and layer names of the archive's only image. */
static int parse_manifest_json(struct docker_archive *self, const char *body,
                               size_t size, char *errbuf, size_t errbuf_size)
{
    json_t *root = json_loadb(body, size, 0, NULL);
    json_t *image = json_array_get(root, 0);
    json_t *layers = json_object_get(image, "Layers");
    const char *tag = json_string_value(
        json_array_get(json_object_get(image, "RepoTags"), 0));
    int outcome = -1;

    if (!json_is_array(root) || json_array_size(root) != 1 ||
        !json_is_array(layers)) {
        snprintf(errbuf, errbuf_size,
                 "manifest.json must list exactly one image with its Config "
                 "and Layers (docker save one image per archive)");
        goto out;
    }
    if (json_array_size(layers) == 0 ||
        json_array_size(layers) > MANIFEST_LAYERS_MAX) {
        snprintf(errbuf, errbuf_size,
                 "manifest.json lists %zu layers; 1 to %d are accepted",
                 json_array_size(layers), MANIFEST_LAYERS_MAX);
        goto out;
    }
    if (copy_name(self->config_name,
                  json_string_value(json_object_get(image, "Config")),
                  "the config", errbuf, errbuf_size) != 0)
        goto out;

    self->layer_count = json_array_size(layers);
    self->layers = calloc(self->layer_count, sizeof(*self->layers));
    if (self->layers == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < self->layer_count; i++) {
        self->layers[i].size = -1;
        if (copy_name(self->layers[i].name,
                      json_string_value(json_array_get(layers, i)), "a layer",
                      errbuf, errbuf_size) != 0)
            goto out;
    }
    if (tag != NULL)
        snprintf(self->base.name, sizeof(self->base.name), "%s", tag);
    outcome = 0;

out:
    json_decref(root);
    return outcome;
}

static void note_layer_sizes(struct docker_archive *self,
                             struct archive_entry *entry)
{
    const char *name = archive_entry_pathname(entry);

    for (size_t i = 0; i < self->layer_count; i++) {
        if (strcmp(self->layers[i].name, name) == 0 &&
            archive_entry_filetype(entry) == AE_IFREG)
            self->layers[i].size = archive_entry_size(entry);
    }
}

/* One walk reads the config and notes every layer's size. */
static int read_config_and_sizes(struct docker_archive *self, char *errbuf,
                                 size_t errbuf_size)
{
    struct archive *archive = open_archive(self->path, errbuf, errbuf_size);
    struct archive_entry *entry;
    int status;

    if (archive == NULL)
        return -1;
    while ((status = archive_read_next_header(archive, &entry)) == ARCHIVE_OK) {
        note_layer_sizes(self, entry);
        if (self->config == NULL &&
            strcmp(archive_entry_pathname(entry), self->config_name) == 0) {
            self->config = read_member(archive, entry, MANIFEST_SIZE_MAX,
                                       &self->config_size, errbuf, errbuf_size);
            if (self->config == NULL)
                break;
        }
    }
    if (status != ARCHIVE_EOF && status != ARCHIVE_OK)
        snprintf(errbuf, errbuf_size, "%s is damaged: %s", self->path,
                 archive_error_string(archive));
    archive_read_free(archive);
    if (status != ARCHIVE_EOF)
        return -1;

    if (self->config == NULL) {
        snprintf(errbuf, errbuf_size, "the config %s is not in the archive",
                 self->config_name);
        return -1;
    }
    for (size_t i = 0; i < self->layer_count; i++) {
        if (self->layers[i].size < 0) {
            snprintf(errbuf, errbuf_size,
                     "layer %s is not a regular file in the archive",
                     self->layers[i].name);
            return -1;
        }
    }
    return 0;
}

/* A config named by its digest (<hex>.json, blobs/sha256/<hex>) must
 * hash to that name, as a registry blob must. */
static int check_config_name(struct docker_archive *self, char *errbuf,
                             size_t errbuf_size)
{
    const char *base = strrchr(self->config_name, '/');
    char named[IMAGE_REF_DIGEST_MAX + 1];

    base = base ? base + 1 : self->config_name;
    snprintf(named, sizeof(named), "sha256:%.64s", base);
    if (image_ref_validate_digest(named) != 0)
        return 0;
    if (strcmp(named, self->config_digest) != 0) {
        snprintf(errbuf, errbuf_size,
                 "the config %s hashes to %s: it was changed after the "
                 "image was saved",
                 self->config_name, self->config_digest);
        return -1;
    }
    return 0;
}

static int read_diff_ids(struct docker_archive *self, char *errbuf,
                         size_t errbuf_size)
{
    json_t *root = json_loadb(self->config, self->config_size, 0, NULL);
    json_t *diff_ids =
        json_object_get(json_object_get(root, "rootfs"), "diff_ids");
    int outcome = -1;

    if (json_array_size(diff_ids) != self->layer_count) {
        snprintf(errbuf, errbuf_size,
                 "the config lists %zu diff_ids for %zu layers",
                 json_array_size(diff_ids), self->layer_count);
        goto out;
    }
    for (size_t i = 0; i < self->layer_count; i++) {
        const char *digest = json_string_value(json_array_get(diff_ids, i));

        if (digest == NULL || image_ref_validate_digest(digest) != 0) {
            snprintf(errbuf, errbuf_size,
                     "diff_id %zu of the config is not a digest", i + 1);
            goto out;
        }
        snprintf(self->layers[i].digest, sizeof(self->layers[i].digest), "%s",
                 digest);
    }
    outcome = 0;

out:
    json_decref(root);
    return outcome;
}

static json_t *descriptor_json(const char *media_type, const char *digest,
                               int64_t size)
{
    return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest",
                     digest, "size", (json_int_t)size);
}

static int describe_manifest(struct docker_archive *self, char *errbuf,
                             size_t errbuf_size)
{
    json_t *layers = json_array();
    json_t *manifest;

    for (size_t i = 0; i < self->layer_count; i++)
        json_array_append_new(layers, descriptor_json(LAYER_MEDIA_TYPE,
                                                      self->layers[i].digest,
                                                      self->layers[i].size));
    manifest =
        json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
                  MEDIA_TYPE_DOCKER_MANIFEST, "config",
                  descriptor_json(MEDIA_TYPE_DOCKER_CONFIG, self->config_digest,
                                  (int64_t)self->config_size),
                  "layers", layers);
    self->manifest = manifest ? json_dumps(manifest, JSON_COMPACT) : NULL;
    json_decref(manifest);
    if (self->manifest == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    self->manifest_size = strlen(self->manifest);
    blob_hash_sha256(self->manifest, self->manifest_size, self->base.reference);
    return 0;
}

static enum registry_status
docker_archive_manifest(struct image_source *source, const char *reference,
                        struct registry_manifest *manifest, char *errbuf,
                        size_t errbuf_size)
{
    struct docker_archive *self = docker_archive(source);

    memset(manifest, 0, sizeof(*manifest));
    if (strcmp(reference, source->reference) != 0) {
        snprintf(errbuf, errbuf_size, "the archive has no manifest %s",
                 reference);
        return REGISTRY_NOT_FOUND;
    }
    manifest->body = strdup(self->manifest);
    if (manifest->body == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return REGISTRY_INTERNAL;
    }
    manifest->size = self->manifest_size;
    snprintf(manifest->content_type, sizeof(manifest->content_type), "%s",
             MEDIA_TYPE_DOCKER_MANIFEST);
    snprintf(manifest->digest, sizeof(manifest->digest), "%s", reference);
    return REGISTRY_OK;
}

static enum registry_status
docker_archive_blob(struct image_source *source, const char *digest,
                    int64_t expected_size, char **data, size_t *size,
                    char *errbuf, size_t errbuf_size)
{
    struct docker_archive *self = docker_archive(source);

    (void)expected_size;
    *data = NULL;
    if (strcmp(digest, self->config_digest) != 0) {
        snprintf(errbuf, errbuf_size, "the archive has no config %s", digest);
        return REGISTRY_NOT_FOUND;
    }
    *data = malloc(self->config_size + 1);
    if (*data == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return REGISTRY_INTERNAL;
    }
    memcpy(*data, self->config, self->config_size + 1);
    *size = self->config_size;
    return REGISTRY_OK;
}

/* Copies the current member to write_fn and checks it against digest. */
static enum registry_status stream_member(struct archive *archive,
                                          const char *digest,
                                          registry_write_fn write_fn,
                                          void *userdata, char *errbuf,
                                          size_t errbuf_size)
{
    struct blob_hash *hash = blob_hash_new(digest);
    char buffer[65536];
    la_ssize_t got;

    if (hash == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return REGISTRY_INTERNAL;
    }
    while ((got = archive_read_data(archive, buffer, sizeof(buffer))) > 0) {
        blob_hash_update(hash, buffer, (size_t)got);
        if (write_fn(buffer, (size_t)got, userdata) != 0) {
            blob_hash_finish(hash, digest, NULL, 0);
            snprintf(errbuf, errbuf_size, "reading layer %s stopped", digest);
            return REGISTRY_ABORTED;
        }
    }
    if (got < 0) {
        blob_hash_finish(hash, digest, NULL, 0);
        snprintf(errbuf, errbuf_size, "the archive is damaged: %s",
                 archive_error_string(archive));
        return REGISTRY_INVALID_RESPONSE;
    }
    if (blob_hash_finish(hash, digest, errbuf, errbuf_size) != 0)
        return REGISTRY_DIGEST_MISMATCH;
    return REGISTRY_OK;
}

static enum registry_status
docker_archive_stream(struct image_source *source, const char *digest,
                      int64_t expected_size, registry_write_fn write_fn,
                      void *userdata, char *errbuf, size_t errbuf_size)
{
    struct docker_archive *self = docker_archive(source);
    const struct archive_layer *layer = NULL;
    struct archive_entry *entry;
    struct archive *archive;
    enum registry_status status = REGISTRY_NOT_FOUND;

    for (size_t i = 0; i < self->layer_count && layer == NULL; i++) {
        if (strcmp(self->layers[i].digest, digest) == 0)
            layer = &self->layers[i];
    }
    if (layer == NULL || (expected_size >= 0 && layer->size != expected_size)) {
        snprintf(errbuf, errbuf_size, "the archive has no layer %s", digest);
        return REGISTRY_NOT_FOUND;
    }
    archive = open_archive(self->path, errbuf, errbuf_size);
    if (archive == NULL)
        return REGISTRY_INVALID_RESPONSE;

    snprintf(errbuf, errbuf_size, "layer %s is no longer in the archive",
             layer->name);
    while (archive_read_next_header(archive, &entry) == ARCHIVE_OK) {
        if (strcmp(archive_entry_pathname(entry), layer->name) == 0 &&
            archive_entry_size(entry) == layer->size) {
            status = stream_member(archive, digest, write_fn, userdata, errbuf,
                                   errbuf_size);
            break;
        }
    }
    archive_read_free(archive);
    return status;
}

static void docker_archive_free(struct image_source *source)
{
    struct docker_archive *self = docker_archive(source);

    free(self->path);
    free(self->config);
    free(self->layers);
    free(self->manifest);
    free(self);
}

static const struct image_source_ops docker_archive_ops = {
    docker_archive_manifest,
    docker_archive_blob,
    docker_archive_stream,
    docker_archive_free,
};

static int describe_archive(struct docker_archive *self, char *errbuf,
                            size_t errbuf_size)
{
    size_t size = 0;
    char *body = read_manifest_json(self->path, &size, errbuf, errbuf_size);
    int outcome;

    if (body == NULL)
        return -1;
    outcome = parse_manifest_json(self, body, size, errbuf, errbuf_size);
    free(body);
    if (outcome != 0 || read_config_and_sizes(self, errbuf, errbuf_size) != 0)
        return -1;
    blob_hash_sha256(self->config, self->config_size, self->config_digest);
    if (check_config_name(self, errbuf, errbuf_size) != 0 ||
        read_diff_ids(self, errbuf, errbuf_size) != 0)
        return -1;
    return describe_manifest(self, errbuf, errbuf_size);
}

struct image_source *image_source_docker_archive_new(const char *path,
                                                     char *errbuf,
                                                     size_t errbuf_size)
{
    struct docker_archive *self = calloc(1, sizeof(*self));

    if (self == NULL || (self->path = strdup(path)) == NULL) {
        free(self);
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    self->base.ops = &docker_archive_ops;
    self->base.kind = IMAGE_SOURCE_DOCKER_ARCHIVE;
    if (describe_archive(self, errbuf, errbuf_size) != 0) {
        docker_archive_free(&self->base);
        return NULL;
    }
    return &self->base;
}
