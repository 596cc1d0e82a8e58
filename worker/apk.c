#include "apk.h"

#include "package_list.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INSTALLED_PATH "lib/apk/db/installed"
#define USR_INSTALLED_PATH "usr/lib/apk/db/installed"

enum field {
    FIELD_NAME,
    FIELD_VERSION,
    FIELD_ARCHITECTURE,
    FIELD_ORIGIN,
    FIELD_COUNT,
};

static const char field_keys[FIELD_COUNT] = {'P', 'V', 'A', 'o'};

/* The values of the current stanza point into the parsed text. */
struct stanza {
    size_t first_line;
    bool present[FIELD_COUNT];
    const char *values[FIELD_COUNT];
    size_t lengths[FIELD_COUNT];
};

/* A growable array of packages. */
enum parse_status {
    PARSE_OK,
    PARSE_INVALID,
    PARSE_NO_MEMORY,
};

struct parser {
    size_t line_number;
    size_t stanzas;
    bool in_stanza;
    struct stanza stanza;
    struct package_list list;
    char *errbuf;
    size_t errbuf_size;
};

void apk_packages_free(struct installed_package *packages, size_t count)
{
    installed_packages_free(packages, count);
}

static enum parse_status fail(struct parser *parser, size_t line,
                              const char *message)
{
    snprintf(parser->errbuf, parser->errbuf_size, "line %zu: %s", line,
             message);
    return PARSE_INVALID;
}

static enum parse_status no_memory(struct parser *parser)
{
    snprintf(parser->errbuf, parser->errbuf_size, "line %zu: out of memory",
             parser->line_number);
    return PARSE_NO_MEMORY;
}

static int field_lookup(char key)
{
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (field_keys[i] == key)
            return i;
    }
    return -1;
}

static char *value_copy(const struct stanza *stanza, enum field field)
{
    return strndup(stanza->values[field], stanza->lengths[field]);
}

static bool value_empty(const struct stanza *stanza, enum field field)
{
    return !stanza->present[field] || stanza->lengths[field] == 0;
}

static enum parse_status stanza_check(struct parser *parser)
{
    const struct stanza *stanza = &parser->stanza;

    if (value_empty(stanza, FIELD_NAME))
        return fail(parser, stanza->first_line,
                    "package has no name (no P: line)");
    if (value_empty(stanza, FIELD_VERSION)) {
        char message[APK_MAX_VALUE_BYTES + 64];
        snprintf(message, sizeof(message),
                 "package %.*s has no version (no V: line)",
                 (int)stanza->lengths[FIELD_NAME], stanza->values[FIELD_NAME]);
        return fail(parser, stanza->first_line, message);
    }
    return PARSE_OK;
}

static enum parse_status stanza_finish(struct parser *parser)
{
    const struct stanza *stanza = &parser->stanza;

    parser->in_stanza = false;
    if (stanza_check(parser) != PARSE_OK)
        return PARSE_INVALID;

    struct installed_package *package = package_list_add(&parser->list);
    if (!package)
        return no_memory(parser);

    package->name = value_copy(stanza, FIELD_NAME);
    package->version = value_copy(stanza, FIELD_VERSION);
    if (!package->name || !package->version)
        return no_memory(parser);

    if (!value_empty(stanza, FIELD_ARCHITECTURE)) {
        package->architecture = value_copy(stanza, FIELD_ARCHITECTURE);
        if (!package->architecture)
            return no_memory(parser);
    }
    if (!value_empty(stanza, FIELD_ORIGIN)) {
        package->source_name = value_copy(stanza, FIELD_ORIGIN);
        package->source_version = value_copy(stanza, FIELD_VERSION);
        if (!package->source_name || !package->source_version)
            return no_memory(parser);
    }
    return PARSE_OK;
}

static enum parse_status stanza_start(struct parser *parser)
{
    if (parser->stanzas >= APK_MAX_STANZAS) {
        char message[64];
        snprintf(message, sizeof(message),
                 "more than %zu stanzas (APK_MAX_STANZAS)", APK_MAX_STANZAS);
        return fail(parser, parser->line_number, message);
    }

    parser->stanzas++;
    parser->in_stanza = true;
    memset(&parser->stanza, 0, sizeof(parser->stanza));
    parser->stanza.first_line = parser->line_number;
    return PARSE_OK;
}

/* Checks a P, V, A or o value: one word of printable bytes. */
static enum parse_status value_check(struct parser *parser, char key,
                                     const char *value, size_t length)
{
    char message[96];

    if (length > APK_MAX_VALUE_BYTES) {
        snprintf(message, sizeof(message), "%c: value is longer than %d bytes",
                 key, APK_MAX_VALUE_BYTES);
        return fail(parser, parser->line_number, message);
    }
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c <= ' ' || c == 0x7f) {
            snprintf(message, sizeof(message),
                     "%c: value contains a blank or control byte 0x%02x", key,
                     c);
            return fail(parser, parser->line_number, message);
        }
    }
    return PARSE_OK;
}

/* Handles a "K:value" line. */
static enum parse_status field_line(struct parser *parser, const char *line,
                                    size_t length)
{
    if (length < 2 || line[1] != ':')
        return fail(parser, parser->line_number,
                    "expected \"K:value\" or a blank line");

    if (!parser->in_stanza && stanza_start(parser) != PARSE_OK)
        return PARSE_INVALID;

    int field = field_lookup(line[0]);
    if (field < 0)
        return PARSE_OK;

    struct stanza *stanza = &parser->stanza;
    if (stanza->present[field]) {
        char message[64];
        snprintf(message, sizeof(message), "%c: appears twice in one stanza",
                 line[0]);
        return fail(parser, parser->line_number, message);
    }
    if (value_check(parser, line[0], line + 2, length - 2) != PARSE_OK)
        return PARSE_INVALID;

    stanza->present[field] = true;
    stanza->values[field] = line + 2;
    stanza->lengths[field] = length - 2;
    return PARSE_OK;
}

static enum parse_status line_handle(struct parser *parser, const char *line,
                                     size_t length)
{
    if (memchr(line, '\0', length) != NULL)
        return fail(parser, parser->line_number,
                    "NUL byte; this is not an apk database");

    if (length == 0)
        return parser->in_stanza ? stanza_finish(parser) : PARSE_OK;
    return field_line(parser, line, length);
}

/* Reads the text line by line, enforcing the caps on lines. */
static enum parse_status parse(struct parser *parser, const char *text,
                               size_t size)
{
    const char *cursor = text;
    const char *end = text + size;

    while (cursor < end) {
        size_t left = (size_t)(end - cursor);
        const char *newline = memchr(cursor, '\n', left);
        size_t length = newline ? (size_t)(newline - cursor) : left;
        char message[64];

        if (++parser->line_number > APK_MAX_LINES) {
            snprintf(message, sizeof(message), "more than %d lines",
                     APK_MAX_LINES);
            return fail(parser, parser->line_number, message);
        }
        if (length > APK_MAX_LINE_BYTES) {
            snprintf(message, sizeof(message), "longer than %d bytes",
                     APK_MAX_LINE_BYTES);
            return fail(parser, parser->line_number, message);
        }
        if (length > 0 && cursor[length - 1] == '\r')
            length--;

        enum parse_status status = line_handle(parser, cursor, length);
        if (status != PARSE_OK)
            return status;
        cursor = newline ? newline + 1 : end;
    }
    return parser->in_stanza ? stanza_finish(parser) : PARSE_OK;
}

static enum parse_status parse_text(const char *text, size_t size,
                                    struct installed_package **packages,
                                    size_t *count, char *errbuf,
                                    size_t errbuf_size)
{
    struct parser parser = {
        .errbuf = errbuf,
        .errbuf_size = errbuf_size,
    };

    *packages = NULL;
    *count = 0;
    enum parse_status status = parse(&parser, text, size);
    if (status != PARSE_OK) {
        apk_packages_free(parser.list.items, parser.list.count);
        return status;
    }

    *packages = parser.list.items;
    *count = parser.list.count;
    return PARSE_OK;
}

int apk_installed_parse(const char *text, size_t size,
                        struct installed_package **packages, size_t *count,
                        char *errbuf, size_t errbuf_size)
{
    enum parse_status status =
        parse_text(text, size, packages, count, errbuf, errbuf_size);

    return status == PARSE_OK ? 0 : -1;
}

/* Finds the database file. *path is set to the path that was looked up
 * last, for messages. */
static enum rootfs_lookup database_find(const struct rootfs *fs,
                                        const char **path,
                                        const struct rootfs_file **file)
{
    *path = INSTALLED_PATH;
    enum rootfs_lookup lookup = rootfs_resolve(fs, *path, file);
    if (lookup != ROOTFS_LOOKUP_NOT_FOUND)
        return lookup;

    *path = USR_INSTALLED_PATH;
    return rootfs_resolve(fs, *path, file);
}

enum apk_inventory_result
apk_inventory_from_rootfs(const struct rootfs *fs,
                          struct installed_package **packages, size_t *count,
                          char *errbuf, size_t errbuf_size)
{
    const char *path = NULL;
    const struct rootfs_file *file = NULL;

    *packages = NULL;
    *count = 0;
    switch (database_find(fs, &path, &file)) {
    case ROOTFS_LOOKUP_FOUND:
        break;
    case ROOTFS_LOOKUP_NOT_FOUND:
        snprintf(errbuf, errbuf_size, "no apk database: neither %s nor %s",
                 INSTALLED_PATH, USR_INSTALLED_PATH);
        return APK_INVENTORY_NOT_FOUND;
    case ROOTFS_LOOKUP_LOOP:
        snprintf(errbuf, errbuf_size, "%s: symbolic link loop", path);
        return APK_INVENTORY_UNREADABLE;
    case ROOTFS_LOOKUP_NO_MEMORY:
        snprintf(errbuf, errbuf_size, "out of memory reading %s", path);
        return APK_INVENTORY_NO_MEMORY;
    }

    char reason[512];
    enum parse_status status = parse_text(file->data, file->size, packages,
                                          count, reason, sizeof(reason));
    if (status != PARSE_OK) {
        snprintf(errbuf, errbuf_size, "%s: %s", path, reason);
        return status == PARSE_NO_MEMORY ? APK_INVENTORY_NO_MEMORY
                                         : APK_INVENTORY_UNREADABLE;
    }

    *count = installed_packages_sort_unique(*packages, *count);
    return APK_INVENTORY_OK;
}
