#include "manifest.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MEDIA_TYPE_DOCKER_SCHEMA1                                              \
    "application/vnd.docker.distribution.manifest.v1+json"
#define MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED                                       \
    "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* Room for a field name such as "manifests[999].platform.architecture". */
#define FIELD_NAME_MAX 64

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
{
    va_list args;

    if (errbuf == NULL || errbuf_size == 0) {
        return;
    }
    va_start(args, format);
    vsnprintf(errbuf, errbuf_size, format, args);
    va_end(args);
}

/* Values read from a manifest end up in logs and error messages, so only
 * printable ASCII without spaces is accepted. */
static int is_token_text(const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            return 0;
        }
    }
    return 1;
}

/* Copies the string member key of object into out. A missing member is an
 * error when required, else leaves out empty. */
static int copy_member(const json_t *object, const char *key, bool required,
                       char *out, size_t out_size, const char *where,
                       char *errbuf, size_t errbuf_size)
{
    const json_t *value = json_object_get(object, key);
    const char *text;

    out[0] = '\0';
    if (value == NULL) {
        if (required) {
            set_error(errbuf, errbuf_size, "%s%s is missing", where, key);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(value)) {
        set_error(errbuf, errbuf_size, "%s%s is not a string", where, key);
        return -1;
    }

    text = json_string_value(value);
    if (json_string_length(value) >= out_size) {
        set_error(errbuf, errbuf_size, "%s%s is longer than %zu characters",
                  where, key, out_size - 1);
        return -1;
    }
    if (required && text[0] == '\0') {
        set_error(errbuf, errbuf_size, "%s%s is empty", where, key);
        return -1;
    }
    if (!is_token_text(text)) {
        set_error(errbuf, errbuf_size,
                  "%s%s contains a character other than printable ASCII", where,
                  key);
        return -1;
    }
    snprintf(out, out_size, "%s", text);
    return 0;
}

static int parse_descriptor(const json_t *object, const char *where,
                            struct manifest_descriptor *descriptor,
                            char *errbuf, size_t errbuf_size)
{
    const json_t *size;

    if (!json_is_object(object)) {
        set_error(errbuf, errbuf_size, "%s is not an object", where);
        return -1;
    }
    if (copy_member(object, "mediaType", true, descriptor->media_type,
                    sizeof(descriptor->media_type), where, errbuf,
                    errbuf_size) != 0 ||
        copy_member(object, "digest", true, descriptor->digest,
                    sizeof(descriptor->digest), where, errbuf,
                    errbuf_size) != 0) {
        return -1;
    }
    if (image_ref_validate_digest(descriptor->digest) != 0) {
        set_error(errbuf, errbuf_size,
                  "%sdigest \"%s\" is not sha256:<64 hex digits> or "
                  "sha512:<128 hex digits>",
                  where, descriptor->digest);
        return -1;
    }

    size = json_object_get(object, "size");
    if (size == NULL) {
        set_error(errbuf, errbuf_size, "%ssize is missing", where);
        return -1;
    }
    if (!json_is_integer(size)) {
        set_error(errbuf, errbuf_size, "%ssize is not an integer", where);
        return -1;
    }
    if (json_integer_value(size) < 0) {
        set_error(errbuf, errbuf_size, "%ssize is negative (%lld)", where,
                  (long long)json_integer_value(size));
        return -1;
    }
    descriptor->size = (int64_t)json_integer_value(size);
    return 0;
}

static int parse_platform(const json_t *object, const char *where,
                          struct manifest_platform *platform, char *errbuf,
                          size_t errbuf_size)
{
    if (!json_is_object(object)) {
        set_error(errbuf, errbuf_size, "%s is not an object", where);
        return -1;
    }
    if (copy_member(object, "os", true, platform->os, sizeof(platform->os),
                    where, errbuf, errbuf_size) != 0 ||
        copy_member(object, "architecture", true, platform->architecture,
                    sizeof(platform->architecture), where, errbuf,
                    errbuf_size) != 0 ||
        copy_member(object, "variant", false, platform->variant,
                    sizeof(platform->variant), where, errbuf,
                    errbuf_size) != 0 ||
        copy_member(object, "os.version", false, platform->os_version,
                    sizeof(platform->os_version), where, errbuf,
                    errbuf_size) != 0) {
        return -1;
    }
    return 0;
}

static int parse_layers(const json_t *root, struct manifest *manifest,
                        char *errbuf, size_t errbuf_size)
{
    const json_t *layers = json_object_get(root, "layers");
    size_t count;

    if (layers == NULL) {
        set_error(errbuf, errbuf_size, "layers is missing");
        return -1;
    }
    if (!json_is_array(layers)) {
        set_error(errbuf, errbuf_size, "layers is not an array");
        return -1;
    }
    count = json_array_size(layers);
    if (count > MANIFEST_LAYERS_MAX) {
        set_error(errbuf, errbuf_size,
                  "manifest has %zu layers, more than the limit of %d", count,
                  MANIFEST_LAYERS_MAX);
        return -1;
    }

    manifest->layers = calloc(count ? count : 1, sizeof(*manifest->layers));
    if (manifest->layers == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        char where[FIELD_NAME_MAX];

        snprintf(where, sizeof(where), "layers[%zu].", i);
        if (parse_descriptor(json_array_get(layers, i), where,
                             &manifest->layers[i], errbuf, errbuf_size) != 0) {
            return -1;
        }
        manifest->layer_count++;
    }
    return 0;
}

static int parse_image_manifest(const json_t *root, struct manifest *manifest,
                                char *errbuf, size_t errbuf_size)
{
    const json_t *config;

    if (json_object_get(root, "manifests") != NULL) {
        set_error(errbuf, errbuf_size,
                  "image manifest of type %s has a manifests field, which "
                  "only an index may have",
                  manifest->media_type);
        return -1;
    }

    config = json_object_get(root, "config");
    if (config == NULL) {
        set_error(errbuf, errbuf_size, "config is missing");
        return -1;
    }
    if (parse_descriptor(config, "config.", &manifest->config, errbuf,
                         errbuf_size) != 0) {
        return -1;
    }
    return parse_layers(root, manifest, errbuf, errbuf_size);
}

static int parse_child(const json_t *object, size_t position,
                       struct manifest_child *child, char *errbuf,
                       size_t errbuf_size)
{
    char where[FIELD_NAME_MAX];
    const json_t *platform;

    snprintf(where, sizeof(where), "manifests[%zu].", position);
    if (parse_descriptor(object, where, &child->descriptor, errbuf,
                         errbuf_size) != 0) {
        return -1;
    }

    platform = json_object_get(object, "platform");
    if (platform == NULL) {
        return 0;
    }
    snprintf(where, sizeof(where), "manifests[%zu].platform.", position);
    if (parse_platform(platform, where, &child->platform, errbuf,
                       errbuf_size) != 0) {
        return -1;
    }
    child->has_platform = true;
    return 0;
}

static int parse_index(const json_t *root, struct manifest *manifest,
                       char *errbuf, size_t errbuf_size)
{
    const json_t *children = json_object_get(root, "manifests");
    size_t count;

    if (json_object_get(root, "config") != NULL ||
        json_object_get(root, "layers") != NULL) {
        set_error(errbuf, errbuf_size,
                  "index of type %s has a config or layers field, which only "
                  "an image manifest may have",
                  manifest->media_type);
        return -1;
    }
    if (children == NULL) {
        set_error(errbuf, errbuf_size, "manifests is missing");
        return -1;
    }
    if (!json_is_array(children)) {
        set_error(errbuf, errbuf_size, "manifests is not an array");
        return -1;
    }
    count = json_array_size(children);
    if (count > MANIFEST_CHILDREN_MAX) {
        set_error(errbuf, errbuf_size,
                  "index has %zu manifests, more than the limit of %d", count,
                  MANIFEST_CHILDREN_MAX);
        return -1;
    }

    manifest->children = calloc(count ? count : 1, sizeof(*manifest->children));
    if (manifest->children == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (parse_child(json_array_get(children, i), i, &manifest->children[i],
                        errbuf, errbuf_size) != 0) {
            return -1;
        }
        manifest->child_count++;
    }
    return 0;
}

static int is_schema1_type(const char *media_type)
{
    return strcasecmp(media_type, MEDIA_TYPE_DOCKER_SCHEMA1) == 0 ||
           strcasecmp(media_type, MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED) == 0;
}

/* Returns the canonical spelling of a known manifest media type and its
 * kind, or NULL. */
static const char *known_type(const char *media_type, enum manifest_kind *kind)
{
    static const struct {
        const char *name;
        enum manifest_kind kind;
    } types[] = {
        {MEDIA_TYPE_OCI_MANIFEST, MANIFEST_KIND_MANIFEST},
        {MEDIA_TYPE_DOCKER_MANIFEST, MANIFEST_KIND_MANIFEST},
        {MEDIA_TYPE_OCI_INDEX, MANIFEST_KIND_INDEX},
        {MEDIA_TYPE_DOCKER_MANIFEST_LIST, MANIFEST_KIND_INDEX},
    };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcasecmp(media_type, types[i].name) == 0) {
            *kind = types[i].kind;
            return types[i].name;
        }
    }
    return NULL;
}

/* Copies the media type of a Content-Type value, without parameters and
 * surrounding spaces, into out ("" when absent or too long). */
static void strip_content_type(const char *content_type, char *out,
                               size_t out_size)
{
    size_t start = 0;
    size_t end;

    out[0] = '\0';
    if (content_type == NULL) {
        return;
    }
    while (content_type[start] == ' ' || content_type[start] == '\t') {
        start++;
    }
    end = start + strcspn(content_type + start, ";");
    while (end > start &&
           (content_type[end - 1] == ' ' || content_type[end - 1] == '\t')) {
        end--;
    }
    if (end - start < out_size) {
        snprintf(out, out_size, "%.*s", (int)(end - start),
                 content_type + start);
    }
}

static int check_schema_version(const json_t *root, char *errbuf,
                                size_t errbuf_size)
{
    const json_t *version = json_object_get(root, "schemaVersion");

    if (version == NULL) {
        set_error(errbuf, errbuf_size, "schemaVersion is missing");
        return -1;
    }
    if (!json_is_integer(version)) {
        set_error(errbuf, errbuf_size, "schemaVersion is not an integer");
        return -1;
    }
    if (json_integer_value(version) == 1) {
        set_error(errbuf, errbuf_size,
                  "Docker schema 1 manifests are not supported");
        return -1;
    }
    if (json_integer_value(version) != 2) {
        set_error(errbuf, errbuf_size, "schemaVersion %lld is not supported",
                  (long long)json_integer_value(version));
        return -1;
    }
    return 0;
}

/* Infers the type of a manifest that names none, from its fields. */
static int infer_type(const json_t *root, struct manifest *manifest,
                      char *errbuf, size_t errbuf_size)
{
    int has_children = json_object_get(root, "manifests") != NULL;
    int has_layers = json_object_get(root, "config") != NULL ||
                     json_object_get(root, "layers") != NULL;

    if (has_children == has_layers) {
        set_error(errbuf, errbuf_size,
                  "manifest has no media type and its fields fit neither an "
                  "image manifest nor an index");
        return -1;
    }
    manifest->kind =
        has_children ? MANIFEST_KIND_INDEX : MANIFEST_KIND_MANIFEST;
    snprintf(manifest->media_type, sizeof(manifest->media_type), "%s",
             has_children ? MEDIA_TYPE_OCI_INDEX : MEDIA_TYPE_OCI_MANIFEST);
    return 0;
}

static int resolve_type(const json_t *root, const char *content_type,
                        struct manifest *manifest, char *errbuf,
                        size_t errbuf_size)
{
    char field[MANIFEST_MEDIA_TYPE_MAX + 1];
    char header[MANIFEST_MEDIA_TYPE_MAX + 1];
    const char *field_type = NULL;
    const char *header_type;
    enum manifest_kind field_kind = MANIFEST_KIND_MANIFEST;
    enum manifest_kind header_kind = MANIFEST_KIND_MANIFEST;

    if (copy_member(root, "mediaType", false, field, sizeof(field), "", errbuf,
                    errbuf_size) != 0) {
        return -1;
    }
    strip_content_type(content_type, header, sizeof(header));
    if (is_schema1_type(field) || is_schema1_type(header)) {
        set_error(errbuf, errbuf_size,
                  "Docker schema 1 manifests are not supported");
        return -1;
    }

    if (field[0] != '\0') {
        field_type = known_type(field, &field_kind);
        if (field_type == NULL) {
            set_error(errbuf, errbuf_size,
                      "media type %s is not a manifest or index type", field);
            return -1;
        }
    }
    header_type = known_type(header, &header_kind);
    if (field_type != NULL && header_type != NULL &&
        field_kind != header_kind) {
        set_error(errbuf, errbuf_size,
                  "mediaType %s contradicts Content-Type %s", field_type,
                  header_type);
        return -1;
    }

    if (field_type == NULL && header_type == NULL) {
        return infer_type(root, manifest, errbuf, errbuf_size);
    }
    manifest->kind = field_type != NULL ? field_kind : header_kind;
    snprintf(manifest->media_type, sizeof(manifest->media_type), "%s",
             field_type != NULL ? field_type : header_type);
    return 0;
}

static json_t *load_json(const void *body, size_t size, const char *what,
                         char *errbuf, size_t errbuf_size)
{
    json_error_t error;
    json_t *root;

    if (body == NULL || size == 0) {
        set_error(errbuf, errbuf_size, "%s is empty", what);
        return NULL;
    }
    if (size > MANIFEST_SIZE_MAX) {
        set_error(errbuf, errbuf_size,
                  "%s is %zu bytes, more than the limit of %d", what, size,
                  MANIFEST_SIZE_MAX);
        return NULL;
    }

    /* Duplicate keys are rejected because two parsers could otherwise read
     * two different manifests from the same bytes. jansson itself caps
     * nesting depth (JSON_PARSER_MAX_DEPTH, 2048 in jansson 2.14). */
    root = json_loadb(body, size, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL) {
        set_error(errbuf, errbuf_size,
                  "%s is not valid JSON: %s at line %d column %d", what,
                  error.text, error.line, error.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        set_error(errbuf, errbuf_size, "%s is not a JSON object", what);
        json_decref(root);
        return NULL;
    }
    return root;
}

int manifest_parse(const void *body, size_t size, const char *content_type,
                   struct manifest **manifest, char *errbuf, size_t errbuf_size)
{
    struct manifest *parsed;
    json_t *root;
    int status = -1;

    *manifest = NULL;
    root = load_json(body, size, "manifest", errbuf, errbuf_size);
    if (root == NULL) {
        return -1;
    }
    parsed = calloc(1, sizeof(*parsed));
    if (parsed == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        goto out_decref;
    }

    if (check_schema_version(root, errbuf, errbuf_size) != 0 ||
        resolve_type(root, content_type, parsed, errbuf, errbuf_size) != 0 ||
        copy_member(root, "artifactType", false, parsed->artifact_type,
                    sizeof(parsed->artifact_type), "", errbuf,
                    errbuf_size) != 0) {
        goto out_free;
    }
    if (parsed->kind == MANIFEST_KIND_INDEX) {
        status = parse_index(root, parsed, errbuf, errbuf_size);
    } else {
        status = parse_image_manifest(root, parsed, errbuf, errbuf_size);
    }
    if (status == 0) {
        *manifest = parsed;
        parsed = NULL;
    }

out_free:
    manifest_free(parsed);
out_decref:
    json_decref(root);
    return status;
}

void manifest_free(struct manifest *manifest)
{
    if (manifest == NULL) {
        return;
    }
    free(manifest->layers);
    free(manifest->children);
    free(manifest);
}

int manifest_format_platform(const struct manifest_platform *platform,
                             char *out, size_t out_size)
{
    int written;

    written = snprintf(out, out_size, "%s/%s%s%s", platform->os,
                       platform->architecture, platform->variant[0] ? "/" : "",
                       platform->variant);
    return written >= 0 && (size_t)written < out_size ? 0 : -1;
}

/* Splits "os/arch[/variant]" into platform, mapping the architecture names
 * uname and distributions use to the Go names images use. */
static int parse_requested(const char *requested,
                           struct manifest_platform *platform, char *errbuf,
                           size_t errbuf_size)
{
    char copy[3 * (MANIFEST_PLATFORM_FIELD_MAX + 1)];
    char *parts[4] = {NULL, NULL, NULL, NULL};
    size_t count = 0;
    char *cursor;

    memset(platform, 0, sizeof(*platform));
    if (strlen(requested) >= sizeof(copy) || !is_token_text(requested)) {
        set_error(errbuf, errbuf_size,
                  "invalid platform \"%.64s\": expected os/arch[/variant]",
                  requested);
        return -1;
    }
    snprintf(copy, sizeof(copy), "%s", requested);
    cursor = copy;
    while (count < 4) {
        parts[count++] = cursor;
        cursor = strchr(cursor, '/');
        if (cursor == NULL) {
            break;
        }
        *cursor++ = '\0';
    }

    if (count < 2 || count > 3 || parts[0][0] == '\0' || parts[1][0] == '\0' ||
        (count == 3 && parts[2][0] == '\0') ||
        strlen(parts[0]) > MANIFEST_PLATFORM_FIELD_MAX ||
        strlen(parts[1]) > MANIFEST_PLATFORM_FIELD_MAX ||
        (count == 3 && strlen(parts[2]) > MANIFEST_PLATFORM_FIELD_MAX)) {
        set_error(errbuf, errbuf_size,
                  "invalid platform \"%s\": expected os/arch[/variant]",
                  requested);
        return -1;
    }

    if (strcmp(parts[1], "x86_64") == 0 || strcmp(parts[1], "x86-64") == 0) {
        parts[1] = "amd64";
    } else if (strcmp(parts[1], "aarch64") == 0) {
        parts[1] = "arm64";
    }
    snprintf(platform->os, sizeof(platform->os), "%s", parts[0]);
    snprintf(platform->architecture, sizeof(platform->architecture), "%s",
             parts[1]);
    snprintf(platform->variant, sizeof(platform->variant), "%s",
             count == 3 ? parts[2] : "");
    return 0;
}

static int variant_matches(const struct manifest_platform *requested,
                           const struct manifest_platform *offered)
{
    if (requested->variant[0] == '\0' ||
        strcmp(requested->variant, offered->variant) == 0) {
        return 1;
    }
    /* arm64 images usually omit the variant, which then means v8. */
    return strcmp(requested->architecture, "arm64") == 0 &&
           strcmp(requested->variant, "v8") == 0 && offered->variant[0] == '\0';
}

static const struct manifest_child *
find_platform(const struct manifest *index,
              const struct manifest_platform *requested)
{
    for (size_t i = 0; i < index->child_count; i++) {
        const struct manifest_child *child = &index->children[i];

        if (child->has_platform &&
            strcmp(child->platform.os, requested->os) == 0 &&
            strcmp(child->platform.architecture, requested->architecture) ==
                0 &&
            variant_matches(requested, &child->platform)) {
            return child;
        }
    }
    return NULL;
}

static const struct manifest_child *
find_only_linux(const struct manifest *index)
{
    const struct manifest_child *found = NULL;

    for (size_t i = 0; i < index->child_count; i++) {
        const struct manifest_child *child = &index->children[i];

        if (child->has_platform && strcmp(child->platform.os, "linux") == 0) {
            if (found != NULL) {
                return NULL;
            }
            found = child;
        }
    }
    return found;
}

/* Lists the platforms of an index for an error message, truncating with
 * "..." when out is full. */
static void list_platforms(const struct manifest *index, char *out,
                           size_t out_size)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < index->child_count; i++) {
        char name[3 * (MANIFEST_PLATFORM_FIELD_MAX + 1)];
        int written;

        if (index->children[i].has_platform) {
            manifest_format_platform(&index->children[i].platform, name,
                                     sizeof(name));
        } else {
            snprintf(name, sizeof(name), "unknown");
        }
        written = snprintf(out + used, out_size - used, "%s%s",
                           used ? ", " : "", name);
        if (written < 0 || (size_t)written >= out_size - used) {
            snprintf(out + used, out_size - used, ", ...");
            return;
        }
        used += (size_t)written;
    }
    if (used == 0) {
        snprintf(out, out_size, "none");
    }
}

int manifest_select_platform(const struct manifest *index,
                             const char *requested,
                             const struct manifest_child **child, char *errbuf,
                             size_t errbuf_size)
{
    static const struct manifest_platform linux_amd64 = {"linux", "amd64", "",
                                                         ""};
    struct manifest_platform platform;
    char platforms[512];

    *child = NULL;
    if (index->kind != MANIFEST_KIND_INDEX) {
        set_error(errbuf, errbuf_size, "%s is not an index", index->media_type);
        return -1;
    }
    if (requested != NULL &&
        parse_requested(requested, &platform, errbuf, errbuf_size) != 0) {
        return -1;
    }

    if (requested != NULL) {
        *child = find_platform(index, &platform);
    }
    if (*child == NULL) {
        *child = find_platform(index, &linux_amd64);
    }
    if (*child == NULL) {
        *child = find_only_linux(index);
    }
    if (*child == NULL && index->child_count == 1 &&
        !index->children[0].has_platform) {
        *child = &index->children[0];
    }
    if (*child != NULL) {
        return 0;
    }

    list_platforms(index, platforms, sizeof(platforms));
    if (requested != NULL) {
        set_error(errbuf, errbuf_size,
                  "no %s or linux/amd64 image in index (platforms: %s)",
                  requested, platforms);
    } else {
        set_error(errbuf, errbuf_size,
                  "no linux/amd64 image in index (platforms: %s)", platforms);
    }
    return -1;
}

int manifest_parse_config(const void *body, size_t size,
                          struct manifest_platform *platform, char *errbuf,
                          size_t errbuf_size)
{
    json_t *root;
    int status = 0;

    memset(platform, 0, sizeof(*platform));
    root = load_json(body, size, "image config", errbuf, errbuf_size);
    if (root == NULL) {
        return -1;
    }
    if (copy_member(root, "os", true, platform->os, sizeof(platform->os),
                    "image config ", errbuf, errbuf_size) != 0 ||
        copy_member(root, "architecture", true, platform->architecture,
                    sizeof(platform->architecture), "image config ", errbuf,
                    errbuf_size) != 0 ||
        copy_member(root, "variant", false, platform->variant,
                    sizeof(platform->variant), "image config ", errbuf,
                    errbuf_size) != 0 ||
        copy_member(root, "os.version", false, platform->os_version,
                    sizeof(platform->os_version), "image config ", errbuf,
                    errbuf_size) != 0) {
        memset(platform, 0, sizeof(*platform));
        status = -1;
    }
    json_decref(root);
    return status;
}

static int is_tar_layer(const char *media_type)
{
    static const char *const types[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        /* containerd's name for zstd under the Docker media types */
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    };

    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcasecmp(media_type, types[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

int manifest_check_image(const struct manifest *manifest, char *errbuf,
                         size_t errbuf_size)
{
    if (manifest->kind != MANIFEST_KIND_MANIFEST) {
        set_error(errbuf, errbuf_size, "%s is an index, not an image manifest",
                  manifest->media_type);
        return -1;
    }
    if (manifest->artifact_type[0] != '\0') {
        set_error(errbuf, errbuf_size,
                  "artifact of type %s, not a container image",
                  manifest->artifact_type);
        return -1;
    }
    if (strcasecmp(manifest->config.media_type, MEDIA_TYPE_OCI_CONFIG) != 0 &&
        strcasecmp(manifest->config.media_type, MEDIA_TYPE_DOCKER_CONFIG) !=
            0) {
        set_error(errbuf, errbuf_size,
                  "artifact with config of type %s, not a container image",
                  manifest->config.media_type);
        return -1;
    }
    for (size_t i = 0; i < manifest->layer_count; i++) {
        if (!is_tar_layer(manifest->layers[i].media_type)) {
            set_error(errbuf, errbuf_size,
                      "layer %zu has media type %s, which is not a tar "
                      "layer, so this is not a container image",
                      i, manifest->layers[i].media_type);
            return -1;
        }
    }
    return 0;
}

int manifest_sum_layer_sizes(const struct manifest *manifest, int64_t *total)
{
    int64_t sum = 0;

    for (size_t i = 0; i < manifest->layer_count; i++) {
        if (manifest->layers[i].size > INT64_MAX - sum) {
            return -1;
        }
        sum += manifest->layers[i].size;
    }
    *total = sum;
    return 0;
}
