/*
 * An OCI image layout directory as an image source: index.json names the
 * images, and blobs/<algorithm>/<hex> contains manifests, configs and layers.
 */
#include "image_source.h"
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REF_NAME_ANNOTATION "org.opencontainers.image.ref.name"
/* Indexes inside indexes are followed this deep, and no more descriptors
 * than this are looked at in all, so a hostile layout cannot loop. */
#define OCI_LAYOUT_INDEX_DEPTH_MAX 4
#define OCI_LAYOUT_DESCRIPTORS_MAX 4096

struct oci_layout {
    struct image_source base; /* first, so the two pointers convert */
    int dir_fd;
    int64_t image_size; /* the size index.json gives base.reference */
};

/* The image a tag search found, and how far the search went. */
struct tag_search {
    const char *tag;
    size_t visited;
    size_t found_count;
    char digest[IMAGE_REF_DIGEST_MAX + 1];
    int64_t size; /* -1 when the descriptor gives none */
    char name[IMAGE_REF_TEXT_MAX + 1];
    char names[512]; /* the names seen, for the error message */
};

static struct oci_layout *oci_layout(struct image_source *source)
{
    return (struct oci_layout *)source;
}

static int is_index_type(const char *media_type)
{
    return strcmp(media_type, MEDIA_TYPE_OCI_INDEX) == 0 ||
           strcmp(media_type, MEDIA_TYPE_DOCKER_MANIFEST_LIST) == 0;
}

/* Opens blobs/<algorithm>/<hex>; the digest was validated, so the path
 * cannot leave the layout. */
static enum registry_status open_blob(struct oci_layout *self,
                                      const char *digest, int64_t expected_size,
                                      int64_t max_size, int *fd, int64_t *size,
                                      char *errbuf, size_t errbuf_size)
{
    char path[IMAGE_REF_DIGEST_MAX + 16];
    struct stat info;

    if (image_ref_validate_digest(digest) != 0) {
        snprintf(errbuf, errbuf_size, "invalid digest '%.80s'", digest);
        return REGISTRY_INVALID_RESPONSE;
    }
    snprintf(path, sizeof(path), "blobs/%.6s/%s", digest,
             strchr(digest, ':') + 1);
    *fd = openat(self->dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (*fd < 0) {
        snprintf(errbuf, errbuf_size, "blob %s: %s", path, strerror(errno));
        return errno == ENOENT ? REGISTRY_NOT_FOUND : REGISTRY_INVALID_RESPONSE;
    }
    if (fstat(*fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        snprintf(errbuf, errbuf_size, "blob %s is not a regular file", path);
        close(*fd);
        return REGISTRY_INVALID_RESPONSE;
    }
    *size = (int64_t)info.st_size;
    if ((expected_size >= 0 && *size != expected_size) ||
        (max_size > 0 && *size > max_size)) {
        snprintf(errbuf, errbuf_size,
                 "blob %s is %lld bytes, but %lld were expected (at most "
                 "%lld)",
                 path, (long long)*size, (long long)expected_size,
                 (long long)max_size);
        close(*fd);
        return REGISTRY_INVALID_RESPONSE;
    }
    return REGISTRY_OK;
}

/* Reads a whole file of known size, which fstat bounded. */
static int read_all(int fd, char *data, size_t size)
{
    size_t done = 0;

    while (done < size) {
        ssize_t got = read(fd, data + done, size - done);

        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        done += (size_t)got;
    }
    return 0;
}

static enum registry_status read_blob(struct oci_layout *self,
                                      const char *digest, int64_t expected_size,
                                      char **data, size_t *size, char *errbuf,
                                      size_t errbuf_size)
{
    enum registry_status status;
    int64_t length;
    int fd;

    *data = NULL;
    status = open_blob(self, digest, expected_size, MANIFEST_SIZE_MAX, &fd,
                       &length, errbuf, errbuf_size);
    if (status != REGISTRY_OK)
        return status;
    *data = malloc((size_t)length + 1);
    if (*data == NULL || read_all(fd, *data, (size_t)length) != 0) {
        snprintf(errbuf, errbuf_size, "cannot read blob %s", digest);
        free(*data);
        *data = NULL;
        close(fd);
        return REGISTRY_INTERNAL;
    }
    close(fd);

    (*data)[length] = '\0';
    *size = (size_t)length;
    if (blob_hash_check(*data, *size, digest, errbuf, errbuf_size) != 0) {
        free(*data);
        *data = NULL;
        return REGISTRY_DIGEST_MISMATCH;
    }
    return REGISTRY_OK;
}

static enum registry_status oci_layout_blob(struct image_source *source,
                                            const char *digest,
                                            int64_t expected_size, char **data,
                                            size_t *size, char *errbuf,
                                            size_t errbuf_size)
{
    return read_blob(oci_layout(source), digest, expected_size, data, size,
                     errbuf, errbuf_size);
}

static enum registry_status
oci_layout_manifest(struct image_source *source, const char *reference,
                    struct registry_manifest *manifest, char *errbuf,
                    size_t errbuf_size)
{
    struct oci_layout *self = oci_layout(source);
    int64_t expected_size =
        strcmp(reference, source->reference) == 0 ? self->image_size : -1;
    enum registry_status status;

    memset(manifest, 0, sizeof(*manifest));
    status = read_blob(self, reference, expected_size, &manifest->body,
                       &manifest->size, errbuf, errbuf_size);
    if (status == REGISTRY_OK)
        snprintf(manifest->digest, sizeof(manifest->digest), "%s", reference);
    return status;
}

static enum registry_status
oci_layout_stream(struct image_source *source, const char *digest,
                  int64_t expected_size, registry_write_fn write_fn,
                  void *userdata, char *errbuf, size_t errbuf_size)
{
    struct blob_hash *hash;
    enum registry_status status;
    char buffer[65536];
    int64_t length;
    int fd;

    status = open_blob(oci_layout(source), digest, expected_size, 0, &fd,
                       &length, errbuf, errbuf_size);
    if (status != REGISTRY_OK)
        return status;
    hash = blob_hash_new(digest);
    if (hash == NULL) {
        close(fd);
        snprintf(errbuf, errbuf_size, "out of memory");
        return REGISTRY_INTERNAL;
    }

    for (;;) {
        ssize_t got = read(fd, buffer, sizeof(buffer));

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(errbuf, errbuf_size, "reading blob %s: %s", digest,
                     strerror(errno));
            status = REGISTRY_INVALID_RESPONSE;
            break;
        }
        if (got == 0)
            break;
        blob_hash_update(hash, buffer, (size_t)got);
        if (write_fn(buffer, (size_t)got, userdata) != 0) {
            snprintf(errbuf, errbuf_size, "reading blob %s stopped", digest);
            status = REGISTRY_ABORTED;
            break;
        }
    }
    close(fd);
    if (blob_hash_finish(hash, digest, status == REGISTRY_OK ? errbuf : NULL,
                         status == REGISTRY_OK ? errbuf_size : 0) != 0 &&
        status == REGISTRY_OK)
        status = REGISTRY_DIGEST_MISMATCH;
    return status;
}

static void oci_layout_free(struct image_source *source)
{
    struct oci_layout *self = oci_layout(source);

    if (self->dir_fd >= 0)
        close(self->dir_fd);
    free(self);
}

static const struct image_source_ops oci_layout_ops = {
    oci_layout_manifest,
    oci_layout_blob,
    oci_layout_stream,
    oci_layout_free,
};

/* A ref.name matches a tag when it is the tag, or a full reference whose
 * tag is the tag (containerd writes those). */
static int name_matches(const char *name, const char *tag)
{
    const char *colon = strrchr(name, ':');

    if (strcmp(name, tag) == 0)
        return 1;
    return colon != NULL && strchr(colon, '/') == NULL &&
           strcmp(colon + 1, tag) == 0;
}

static void note_name(struct tag_search *search, const char *name)
{
    size_t used = strlen(search->names);

    if (used + strlen(name) + 3 < sizeof(search->names))
        snprintf(search->names + used, sizeof(search->names) - used, "%s%s",
                 used ? ", " : "", name);
}

static int search_index(struct oci_layout *self, json_t *index, int depth,
                        struct tag_search *search, char *errbuf,
                        size_t errbuf_size);

static int64_t descriptor_size(json_t *descriptor)
{
    json_t *size = json_object_get(descriptor, "size");

    return json_is_integer(size) ? (int64_t)json_integer_value(size) : -1;
}

/* Looks at one descriptor of an index: a match, or an index to enter. */
static int search_descriptor(struct oci_layout *self, json_t *descriptor,
                             int depth, struct tag_search *search, char *errbuf,
                             size_t errbuf_size)
{
    const char *media_type =
        json_string_value(json_object_get(descriptor, "mediaType"));
    const char *digest =
        json_string_value(json_object_get(descriptor, "digest"));
    const char *name = json_string_value(json_object_get(
        json_object_get(descriptor, "annotations"), REF_NAME_ANNOTATION));
    int64_t size = descriptor_size(descriptor);
    char *body = NULL;
    size_t body_size;
    json_t *nested;
    int outcome;

    if (digest == NULL || media_type == NULL)
        return 0;
    if (name != NULL)
        note_name(search, name);
    if (name != NULL && name_matches(name, search->tag)) {
        if (search->found_count++ == 0) {
            snprintf(search->digest, sizeof(search->digest), "%s", digest);
            search->size = size;
            snprintf(search->name, sizeof(search->name), "%s", name);
        }
        return 0;
    }
    if (!is_index_type(media_type) || depth >= OCI_LAYOUT_INDEX_DEPTH_MAX)
        return 0;

    if (read_blob(self, digest, size, &body, &body_size, errbuf, errbuf_size) !=
        REGISTRY_OK)
        return -1;
    nested = json_loadb(body, body_size, 0, NULL);
    free(body);
    outcome =
        search_index(self, nested, depth + 1, search, errbuf, errbuf_size);
    json_decref(nested);
    return outcome;
}

static int search_index(struct oci_layout *self, json_t *index, int depth,
                        struct tag_search *search, char *errbuf,
                        size_t errbuf_size)
{
    json_t *descriptors = json_object_get(index, "manifests");
    size_t i;
    json_t *descriptor;

    if (!json_is_array(descriptors)) {
        snprintf(errbuf, errbuf_size, "an index has no manifests array");
        return -1;
    }
    json_array_foreach(descriptors, i, descriptor)
    {
        if (++search->visited > OCI_LAYOUT_DESCRIPTORS_MAX) {
            snprintf(errbuf, errbuf_size,
                     "the layout's indexes list over %d descriptors",
                     OCI_LAYOUT_DESCRIPTORS_MAX);
            return -1;
        }
        if (search_descriptor(self, descriptor, depth, search, errbuf,
                              errbuf_size) != 0)
            return -1;
    }
    return 0;
}

/* Reads index.json, which names every image of the layout. */
static json_t *read_top_index(struct oci_layout *self, char *errbuf,
                              size_t errbuf_size)
{
    struct stat info;
    json_error_t error;
    json_t *index;
    char *body;
    int fd;

    if (faccessat(self->dir_fd, "oci-layout", F_OK, 0) != 0) {
        snprintf(errbuf, errbuf_size,
                 "not an OCI image layout: it has no oci-layout file");
        return NULL;
    }
    fd = openat(self->dir_fd, "index.json", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
        info.st_size > MANIFEST_SIZE_MAX) {
        snprintf(errbuf, errbuf_size,
                 "index.json is missing, not a file or over %d bytes",
                 MANIFEST_SIZE_MAX);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    body = malloc((size_t)info.st_size + 1);
    if (body == NULL || read_all(fd, body, (size_t)info.st_size) != 0) {
        snprintf(errbuf, errbuf_size, "cannot read index.json");
        free(body);
        close(fd);
        return NULL;
    }
    close(fd);
    index = json_loadb(body, (size_t)info.st_size, 0, &error);
    free(body);
    if (index == NULL)
        snprintf(errbuf, errbuf_size, "index.json is not JSON: %s (line %d)",
                 error.text, error.line);
    return index;
}

/* Without a tag, the layout must hold one image. */
static int only_image(json_t *index, struct tag_search *search, char *errbuf,
                      size_t errbuf_size)
{
    json_t *descriptors = json_object_get(index, "manifests");
    json_t *descriptor = json_array_get(descriptors, 0);
    const char *digest =
        json_string_value(json_object_get(descriptor, "digest"));
    const char *name = json_string_value(json_object_get(
        json_object_get(descriptor, "annotations"), REF_NAME_ANNOTATION));

    if (json_array_size(descriptors) != 1 || digest == NULL) {
        snprintf(errbuf, errbuf_size,
                 "index.json lists %zu images; name one as oci:DIR:TAG",
                 json_array_size(descriptors));
        return -1;
    }
    snprintf(search->digest, sizeof(search->digest), "%s", digest);
    search->size = descriptor_size(descriptor);
    snprintf(search->name, sizeof(search->name), "%s", name ? name : "");
    return 0;
}

static int find_image(struct oci_layout *self, const char *tag,
                      struct tag_search *search, char *errbuf,
                      size_t errbuf_size)
{
    json_t *index = read_top_index(self, errbuf, errbuf_size);
    int outcome;

    if (index == NULL)
        return -1;
    memset(search, 0, sizeof(*search));
    search->tag = tag;
    if (tag == NULL)
        outcome = only_image(index, search, errbuf, errbuf_size);
    else
        outcome = search_index(self, index, 0, search, errbuf, errbuf_size);
    json_decref(index);
    if (outcome != 0)
        return -1;
    if (tag != NULL && search->found_count != 1) {
        snprintf(errbuf, errbuf_size,
                 "%s images are named '%s' in the layout (names: %s)",
                 search->found_count ? "several" : "no", tag,
                 search->names[0] ? search->names : "none");
        return -1;
    }
    if (image_ref_validate_digest(search->digest) != 0) {
        snprintf(errbuf, errbuf_size, "index.json names an invalid digest");
        return -1;
    }
    return 0;
}

struct image_source *image_source_oci_layout_new(const char *dir,
                                                 const char *tag, char *errbuf,
                                                 size_t errbuf_size)
{
    struct oci_layout *self = calloc(1, sizeof(*self));
    struct tag_search search;

    if (self == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    self->base.ops = &oci_layout_ops;
    self->base.kind = IMAGE_SOURCE_OCI_LAYOUT;
    self->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (self->dir_fd < 0) {
        snprintf(errbuf, errbuf_size, "cannot open %s: %s", dir,
                 strerror(errno));
        oci_layout_free(&self->base);
        return NULL;
    }
    if (find_image(self, tag, &search, errbuf, errbuf_size) != 0) {
        oci_layout_free(&self->base);
        return NULL;
    }
    snprintf(self->base.reference, sizeof(self->base.reference), "%s",
             search.digest);
    self->image_size = search.size;
    /* Only a full reference can name the image elsewhere. */
    if (strchr(search.name, '/') != NULL)
        snprintf(self->base.name, sizeof(self->base.name), "%s", search.name);
    return &self->base;
}
