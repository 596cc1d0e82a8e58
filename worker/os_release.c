#include "os_release.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line being parsed, for messages. */
struct line {
    const char *start;
    size_t length;
    size_t number;
};

void os_release_clear(struct os_release *release)
{
    if (!release)
        return;

    free(release->id);
    free(release->id_like);
    free(release->version_id);
    free(release->version_codename);
    free(release->pretty_name);
    free(release->name);
    memset(release, 0, sizeof(*release));
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Shell variable names; compared by hand because isalpha() depends on the
 * locale. */
static bool is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

/* Returns the field of release that key names, or NULL for a key the scan
 * does not use. */
static char **field_for(struct os_release *release, const char *key,
                        size_t length)
{
    static const struct {
        const char *key;
        size_t offset;
    } fields[] = {
        {"ID", offsetof(struct os_release, id)},
        {"ID_LIKE", offsetof(struct os_release, id_like)},
        {"VERSION_ID", offsetof(struct os_release, version_id)},
        {"VERSION_CODENAME", offsetof(struct os_release, version_codename)},
        {"PRETTY_NAME", offsetof(struct os_release, pretty_name)},
        {"NAME", offsetof(struct os_release, name)},
    };

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strlen(fields[i].key) == length &&
            memcmp(fields[i].key, key, length) == 0)
            return (char **)((char *)release + fields[i].offset);
    }
    return NULL;
}

/*
 * Decodes the value that starts at value and runs to the end of line into
 * out (at least as large as the value). Bare values run to the end of the
 * line without trailing blanks, a backslash keeping the next character.
 * Returns 0, or -1 with the reason in errbuf.
 */
static int value_decode(const struct line *line, const char *value, char *out,
                        char *errbuf, size_t errbuf_size)
{
    const char *end = line->start + line->length;
    size_t used = 0;

    if (value < end && (*value == '"' || *value == '\'')) {
        char quote = *value++;
        for (;;) {
            if (value == end) {
                snprintf(errbuf, errbuf_size,
                         "line %zu: the %s quote is not closed", line->number,
                         quote == '"' ? "double" : "single");
                return -1;
            }
            char c = *value++;
            if (c == quote)
                break;
            if (quote == '"' && c == '\\' && value < end &&
                strchr("\\\"$`", *value) != NULL)
                c = *value++;
            out[used++] = c;
        }

        while (value < end && is_blank(*value))
            value++;
        if (value < end && *value != '#') {
            snprintf(errbuf, errbuf_size,
                     "line %zu: text after the closing quote (os-release "
                     "values cannot be concatenated)",
                     line->number);
            return -1;
        }
        out[used] = '\0';
        return 0;
    }

    size_t kept = 0;
    while (value < end) {
        char c = *value++;
        if (c == '\\' && value < end)
            c = *value++;
        else if (is_blank(c)) {
            out[used++] = c;
            continue;
        }
        out[used++] = c;
        kept = used;
    }
    out[kept] = '\0';
    return 0;
}

/* Parses one line into release. Returns 0, or -1 with errbuf set. */
static int line_parse(const struct line *line, struct os_release *release,
                      char *errbuf, size_t errbuf_size)
{
    const char *p = line->start;
    const char *end = line->start + line->length;

    while (p < end && is_blank(*p))
        p++;
    if (p == end || *p == '#')
        return 0;

    const char *key = p;
    if (!is_name_start(*p)) {
        release->ignored_lines++;
        return 0;
    }
    while (p < end && is_name_char(*p))
        p++;
    if (p == end || *p != '=') {
        release->ignored_lines++;
        return 0;
    }
    size_t key_length = (size_t)(p - key);
    p++;

    char *value = malloc((size_t)(end - p) + 1);
    if (!value) {
        snprintf(errbuf, errbuf_size, "line %zu: out of memory", line->number);
        return -1;
    }
    if (value_decode(line, p, value, errbuf, errbuf_size) != 0) {
        free(value);
        return -1;
    }

    char **field = field_for(release, key, key_length);
    if (!field) {
        free(value);
        return 0;
    }
    free(*field);
    *field = value;
    return 0;
}

/* Rejects bytes no text file has; tab and CR are allowed. */
static int line_check(const struct line *line, char *errbuf, size_t errbuf_size)
{
    for (size_t i = 0; i < line->length; i++) {
        unsigned char c = (unsigned char)line->start[i];
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
            snprintf(errbuf, errbuf_size,
                     "line %zu: control byte 0x%02x; this is not an "
                     "os-release text file",
                     line->number, c);
            return -1;
        }
    }
    return 0;
}

int os_release_parse(const char *text, size_t size, struct os_release *out,
                     char *errbuf, size_t errbuf_size)
{
    memset(out, 0, sizeof(*out));

    if (size > OS_RELEASE_MAX_BYTES) {
        snprintf(errbuf, errbuf_size,
                 "os-release is %zu bytes, over the limit of %d bytes", size,
                 OS_RELEASE_MAX_BYTES);
        return -1;
    }

    struct line line = {.start = text, .number = 0};
    const char *end = text + size;
    while (line.start < end) {
        const char *newline =
            memchr(line.start, '\n', (size_t)(end - line.start));
        const char *stop = newline ? newline : end;
        line.length = (size_t)(stop - line.start);
        line.number++;
        if (line.length > 0 && line.start[line.length - 1] == '\r')
            line.length--;

        if (line_check(&line, errbuf, errbuf_size) != 0 ||
            line_parse(&line, out, errbuf, errbuf_size) != 0) {
            os_release_clear(out);
            return -1;
        }
        line.start = newline ? newline + 1 : end;
    }
    return 0;
}

static enum os_release_result read_candidate(const struct rootfs *fs,
                                             const char *path,
                                             struct os_release *out,
                                             char *errbuf, size_t errbuf_size)
{
    const struct rootfs_file *file = NULL;
    enum rootfs_lookup lookup = rootfs_resolve(fs, path, &file);

    if (lookup == ROOTFS_LOOKUP_NOT_FOUND)
        return OS_RELEASE_NOT_FOUND;
    if (lookup == ROOTFS_LOOKUP_NO_MEMORY) {
        snprintf(errbuf, errbuf_size, "%s: out of memory", path);
        return OS_RELEASE_NO_MEMORY;
    }
    if (lookup == ROOTFS_LOOKUP_LOOP) {
        snprintf(errbuf, errbuf_size,
                 "%s: more than %d symbolic links to follow (a loop?)", path,
                 ROOTFS_MAX_SYMLINK_HOPS);
        return OS_RELEASE_INVALID;
    }

    char detail[256];
    if (os_release_parse(file->data, file->size, out, detail, sizeof(detail)) !=
        0) {
        snprintf(errbuf, errbuf_size, "%s: %s", path, detail);
        return OS_RELEASE_INVALID;
    }
    return OS_RELEASE_FOUND;
}

enum os_release_result os_release_from_rootfs(const struct rootfs *fs,
                                              struct os_release *out,
                                              char *errbuf, size_t errbuf_size)
{
    memset(out, 0, sizeof(*out));

    enum os_release_result result =
        read_candidate(fs, "etc/os-release", out, errbuf, errbuf_size);
    if (result != OS_RELEASE_NOT_FOUND)
        return result;

    result = read_candidate(fs, "usr/lib/os-release", out, errbuf, errbuf_size);
    if (result == OS_RELEASE_NOT_FOUND)
        snprintf(errbuf, errbuf_size,
                 "neither etc/os-release nor usr/lib/os-release is in the "
                 "image");
    return result;
}
