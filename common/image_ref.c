#include "image_ref.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PORT_DIGITS_MAX 5

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

/* The grammar is ASCII-only, so these avoid <ctype.h>, whose results
 * depend on the locale. */
static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c);
}

static int is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int is_word(char c)
{
    return is_alnum(c) || c == '_';
}

static int is_lower_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

static int is_hex(char c)
{
    return is_lower_hex(c) || (c >= 'A' && c <= 'F');
}

int image_ref_validate_digest(const char *digest)
{
    size_t hex_length;
    const char *hex;

    if (digest == NULL) {
        return -1;
    }
    if (strncmp(digest, "sha256:", 7) == 0) {
        hex_length = 64;
    } else if (strncmp(digest, "sha512:", 7) == 0) {
        hex_length = 128;
    } else {
        return -1;
    }

    hex = digest + 7;
    for (size_t i = 0; i < hex_length; i++) {
        if (!is_lower_hex(hex[i])) {
            return -1;
        }
    }
    return hex[hex_length] == '\0' ? 0 : -1;
}

int image_ref_validate_tag(const char *tag)
{
    size_t length;

    if (tag == NULL || !is_word(tag[0])) {
        return -1;
    }
    length = strnlen(tag, IMAGE_REF_TAG_MAX + 1);
    if (length > IMAGE_REF_TAG_MAX) {
        return -1;
    }
    for (size_t i = 1; i < length; i++) {
        if (!is_word(tag[i]) && tag[i] != '.' && tag[i] != '-') {
            return -1;
        }
    }
    return 0;
}

/* A domain component is [A-Za-z0-9], optionally followed by
 * [A-Za-z0-9-]* and a final [A-Za-z0-9]. */
static int validate_domain_component(const char *text, size_t length)
{
    if (length == 0 || !is_alnum(text[0]) || !is_alnum(text[length - 1])) {
        return -1;
    }
    for (size_t i = 1; i + 1 < length; i++) {
        if (!is_alnum(text[i]) && text[i] != '-') {
            return -1;
        }
    }
    return 0;
}

static int validate_port(const char *text)
{
    size_t length = strlen(text);
    long value = 0;

    if (length == 0 || length > PORT_DIGITS_MAX) {
        return -1;
    }
    for (size_t i = 0; i < length; i++) {
        if (!is_digit(text[i])) {
            return -1;
        }
        value = value * 10 + (text[i] - '0');
    }
    return value >= 1 && value <= 65535 ? 0 : -1;
}

/* Validates "[hex:hex...]" and returns the length of the bracketed part, or
 * 0 when it is not a valid IPv6 literal. */
static size_t ipv6_literal_length(const char *text)
{
    size_t i = 1;

    while (is_hex(text[i]) || text[i] == ':') {
        i++;
    }
    if (i == 1 || text[i] != ']') {
        return 0;
    }
    return i + 1;
}

static int validate_host(const char *host, size_t length)
{
    size_t start = 0;

    for (size_t i = 0; i <= length; i++) {
        if (i == length || host[i] == '.') {
            if (validate_domain_component(host + start, i - start) != 0) {
                return -1;
            }
            start = i + 1;
        }
    }
    return 0;
}

static int validate_registry(const char *registry, char *errbuf,
                             size_t errbuf_size)
{
    size_t host_length;
    const char *port;

    if (strlen(registry) > IMAGE_REF_REGISTRY_MAX) {
        set_error(errbuf, errbuf_size,
                  "registry name is longer than %d characters",
                  IMAGE_REF_REGISTRY_MAX);
        return -1;
    }

    if (registry[0] == '[') {
        host_length = ipv6_literal_length(registry);
    } else {
        port = strchr(registry, ':');
        host_length = port ? (size_t)(port - registry) : strlen(registry);
        if (validate_host(registry, host_length) != 0) {
            host_length = 0;
        }
    }
    if (host_length == 0) {
        set_error(errbuf, errbuf_size, "invalid registry name \"%s\"",
                  registry);
        return -1;
    }

    port = registry + host_length;
    if (*port != '\0' && (*port != ':' || validate_port(port + 1) != 0)) {
        set_error(errbuf, errbuf_size, "invalid port in registry \"%s\"",
                  registry);
        return -1;
    }
    return 0;
}

/* Validates one path component: [a-z0-9]+ runs joined by the separators
 * ".", "_", "__" or one or more "-". Returns 0 or -1. */
static int validate_path_component(const char *text, size_t length)
{
    size_t i = 0;

    for (;;) {
        size_t run = i;

        while (i < length && is_lower_alnum(text[i])) {
            i++;
        }
        if (i == run) {
            return -1;
        }
        if (i == length) {
            return 0;
        }

        if (text[i] == '.') {
            i++;
        } else if (text[i] == '_') {
            i += (i + 1 < length && text[i + 1] == '_') ? 2 : 1;
        } else if (text[i] == '-') {
            while (i < length && text[i] == '-') {
                i++;
            }
        } else {
            return -1;
        }
    }
}

static int validate_repository(const char *repository, char *errbuf,
                               size_t errbuf_size)
{
    size_t length = strlen(repository);
    size_t start = 0;

    if (length == 0) {
        set_error(errbuf, errbuf_size, "repository name is empty");
        return -1;
    }
    for (size_t i = 0; i < length; i++) {
        if (repository[i] >= 'A' && repository[i] <= 'Z') {
            set_error(errbuf, errbuf_size,
                      "repository name \"%s\" must be lowercase", repository);
            return -1;
        }
    }

    for (size_t i = 0; i <= length; i++) {
        if (i < length && repository[i] != '/') {
            continue;
        }
        if (validate_path_component(repository + start, i - start) != 0) {
            set_error(errbuf, errbuf_size, "invalid repository name \"%s\"",
                      repository);
            return -1;
        }
        start = i + 1;
    }
    return 0;
}

/* Validates the parts, applies the docker.io defaults and copies them into
 * ref. Shared by image_ref_parse() and image_ref_build(). */
static int fill_ref(struct image_ref *ref, const char *registry,
                    const char *repository, const char *tag, const char *digest,
                    char *errbuf, size_t errbuf_size)
{
    int docker_hub;
    const char *prefix;

    if (registry == NULL || registry[0] == '\0' ||
        strcmp(registry, "index.docker.io") == 0) {
        registry = IMAGE_REF_DEFAULT_REGISTRY;
    }
    if (validate_registry(registry, errbuf, errbuf_size) != 0) {
        return -1;
    }
    if (repository == NULL) {
        set_error(errbuf, errbuf_size, "repository name is missing");
        return -1;
    }
    if (validate_repository(repository, errbuf, errbuf_size) != 0) {
        return -1;
    }

    docker_hub = strcmp(registry, IMAGE_REF_DEFAULT_REGISTRY) == 0;
    prefix = docker_hub && strchr(repository, '/') == NULL ? "library/" : "";
    if (strlen(registry) + 1 + strlen(prefix) + strlen(repository) >
        IMAGE_REF_NAME_MAX) {
        set_error(errbuf, errbuf_size,
                  "image name is longer than %d characters",
                  IMAGE_REF_NAME_MAX);
        return -1;
    }

    if (tag != NULL && tag[0] != '\0' && image_ref_validate_tag(tag) != 0) {
        set_error(errbuf, errbuf_size,
                  "invalid tag \"%.*s\": expected [A-Za-z0-9_][A-Za-z0-9_.-]* "
                  "of at most %d characters",
                  IMAGE_REF_TAG_MAX + 1, tag, IMAGE_REF_TAG_MAX);
        return -1;
    }
    if (digest != NULL && digest[0] != '\0' &&
        image_ref_validate_digest(digest) != 0) {
        set_error(errbuf, errbuf_size,
                  "invalid digest \"%.*s\": expected sha256:<64 hex digits> "
                  "or sha512:<128 hex digits>",
                  IMAGE_REF_DIGEST_MAX + 1, digest);
        return -1;
    }

    snprintf(ref->registry, sizeof(ref->registry), "%s", registry);
    snprintf(ref->repository, sizeof(ref->repository), "%s%s", prefix,
             repository);
    snprintf(ref->tag, sizeof(ref->tag), "%s", tag ? tag : "");
    snprintf(ref->digest, sizeof(ref->digest), "%s", digest ? digest : "");
    return 0;
}

/* An image ID (64 hex digits alone) is not a repository name: docker
 * rejects it so that "docker pull <id>" cannot be misread. */
static int is_bare_identifier(const char *text)
{
    size_t i = 0;

    while (is_lower_hex(text[i])) {
        i++;
    }
    return i == 64 && text[i] == '\0';
}

static int check_characters(const char *text, char *errbuf, size_t errbuf_size)
{
    size_t length = strnlen(text, IMAGE_REF_TEXT_MAX + 1);

    if (length == 0) {
        set_error(errbuf, errbuf_size, "image reference is empty");
        return -1;
    }
    if (length > IMAGE_REF_TEXT_MAX) {
        set_error(errbuf, errbuf_size,
                  "image reference is longer than %d characters",
                  IMAGE_REF_TEXT_MAX);
        return -1;
    }
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c <= 0x20 || c >= 0x7f) {
            set_error(errbuf, errbuf_size,
                      "image reference has an invalid character at offset "
                      "%zu",
                      i);
            return -1;
        }
    }
    return 0;
}

static int is_registry_component(const char *text, size_t length)
{
    if (length == 9 && strncmp(text, "localhost", 9) == 0) {
        return 1;
    }
    return memchr(text, '.', length) != NULL ||
           memchr(text, ':', length) != NULL;
}

int image_ref_parse(const char *text, struct image_ref *ref, char *errbuf,
                    size_t errbuf_size)
{
    char buffer[IMAGE_REF_TEXT_MAX + 1];
    char *name = buffer;
    char *registry = NULL;
    char *tag = NULL;
    char *digest = NULL;
    char *at;
    char *colon;
    char *slash;

    memset(ref, 0, sizeof(*ref));
    if (text == NULL) {
        set_error(errbuf, errbuf_size, "image reference is missing");
        return -1;
    }
    if (check_characters(text, errbuf, errbuf_size) != 0) {
        return -1;
    }
    if (is_bare_identifier(text)) {
        set_error(errbuf, errbuf_size,
                  "a string of 64 hexadecimal digits is an image ID, not a "
                  "repository name");
        return -1;
    }
    snprintf(buffer, sizeof(buffer), "%s", text);

    at = strchr(name, '@');
    if (at != NULL) {
        *at = '\0';
        digest = at + 1;
    }
    colon = strrchr(name, ':');
    slash = strrchr(name, '/');
    if (colon != NULL && (slash == NULL || colon > slash)) {
        *colon = '\0';
        tag = colon + 1;
        if (tag[0] == '\0') {
            set_error(errbuf, errbuf_size, "empty tag after ':'");
            return -1;
        }
    }
    if (digest != NULL && digest[0] == '\0') {
        set_error(errbuf, errbuf_size, "empty digest after '@'");
        return -1;
    }

    slash = strchr(name, '/');
    if (slash != NULL && is_registry_component(name, (size_t)(slash - name))) {
        *slash = '\0';
        registry = name;
        name = slash + 1;
    }

    if (fill_ref(ref, registry, name, tag, digest, errbuf, errbuf_size) != 0) {
        memset(ref, 0, sizeof(*ref));
        return -1;
    }
    return 0;
}

int image_ref_build(struct image_ref *ref, const char *registry,
                    const char *repository, const char *tag, const char *digest,
                    char *errbuf, size_t errbuf_size)
{
    memset(ref, 0, sizeof(*ref));
    if (fill_ref(ref, registry, repository, tag, digest, errbuf, errbuf_size) !=
        0) {
        memset(ref, 0, sizeof(*ref));
        return -1;
    }
    return 0;
}

int image_ref_format(const struct image_ref *ref, char *out, size_t out_size)
{
    int written;

    written = snprintf(out, out_size, "%s/%s%s%s%s%s", ref->registry,
                       ref->repository, ref->tag[0] ? ":" : "", ref->tag,
                       ref->digest[0] ? "@" : "", ref->digest);
    if (written < 0 || (size_t)written >= out_size) {
        return -1;
    }
    return 0;
}

const char *image_ref_get_reference(const struct image_ref *ref)
{
    if (ref->digest[0] != '\0') {
        return ref->digest;
    }
    if (ref->tag[0] != '\0') {
        return ref->tag;
    }
    return IMAGE_REF_DEFAULT_TAG;
}
