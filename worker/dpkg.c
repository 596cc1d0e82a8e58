#include "dpkg.h"

#include "package_list.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STATUS_PATH "var/lib/dpkg/status"
#define STATUS_D_PATH "var/lib/dpkg/status.d"

enum field {
    FIELD_PACKAGE,
    FIELD_VERSION,
    FIELD_ARCHITECTURE,
    FIELD_SOURCE,
    FIELD_STATUS,
    FIELD_COUNT,
    FIELD_OTHER = FIELD_COUNT,
    FIELD_NONE,
};

static const char *const field_names[FIELD_COUNT] = {
    "Package", "Version", "Architecture", "Source", "Status",
};

struct stanza {
    size_t first_line;
    bool present[FIELD_COUNT];
    size_t lengths[FIELD_COUNT];
    char values[FIELD_COUNT][DPKG_MAX_VALUE_BYTES + 1];
};

/* A growable array of packages. */
struct parser {
    const char *cursor;
    const char *end;
    size_t line_number;
    bool missing_status_means_installed;
    bool in_stanza;
    enum field current;
    size_t stanzas;
    struct stanza stanza;
    struct package_list *list;
    char *errbuf;
    size_t errbuf_size;
};

void dpkg_packages_free(struct installed_package *packages, size_t count)
{
    installed_packages_free(packages, count);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int fail(struct parser *parser, size_t line, const char *message)
{
    snprintf(parser->errbuf, parser->errbuf_size, "line %zu: %s", line,
             message);
    return -1;
}

static enum field field_lookup(const char *name, size_t length)
{
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (strlen(field_names[i]) == length &&
            strncasecmp(field_names[i], name, length) == 0)
            return (enum field)i;
    }
    return FIELD_OTHER;
}

/* Appends text to the current field's value, joining folded lines with
 * one space. */
static int value_append(struct parser *parser, const char *text, size_t length)
{
    enum field field = parser->current;
    struct stanza *stanza = &parser->stanza;
    size_t used = stanza->lengths[field];
    size_t extra = length + (used > 0 && length > 0);

    if (used + extra > DPKG_MAX_VALUE_BYTES) {
        char message[128];
        snprintf(message, sizeof(message), "%s is longer than %d bytes",
                 field_names[field], DPKG_MAX_VALUE_BYTES);
        return fail(parser, parser->line_number, message);
    }
    if (length == 0)
        return 0;

    if (used > 0)
        stanza->values[field][used++] = ' ';
    memcpy(stanza->values[field] + used, text, length);
    used += length;
    stanza->values[field][used] = '\0';
    stanza->lengths[field] = used;
    return 0;
}

/* Returns the number of whitespace-separated words in value, copying the
 * third into third (DPKG_MAX_VALUE_BYTES + 1 bytes). */
static int status_words(const char *value, char *third)
{
    int words = 0;

    third[0] = '\0';
    while (*value) {
        while (is_blank(*value))
            value++;
        if (*value == '\0')
            break;

        size_t length = 0;
        while (value[length] && !is_blank(value[length]))
            length++;
        if (++words == 3) {
            memcpy(third, value, length);
            third[length] = '\0';
        }
        value += length;
    }
    return words;
}

static int stanza_installed(struct parser *parser, bool *installed)
{
    struct stanza *stanza = &parser->stanza;

    if (!stanza->present[FIELD_STATUS]) {
        *installed = parser->missing_status_means_installed;
        return 0;
    }

    char state[DPKG_MAX_VALUE_BYTES + 1];
    if (status_words(stanza->values[FIELD_STATUS], state) != 3)
        return fail(parser, stanza->first_line,
                    "Status must have three words (want, flag, state)");

    /* Every state but these two leaves some or all of the package's files
     * on disk: triggers-* packages wait only for trigger processing, and
     * unpacked, half-configured and half-installed ones for an interrupted
     * installation or removal. Their vulnerable code is in the image, so
     * they count as installed, as dpkg-query -W lists them. */
    *installed = strcmp(state, "not-installed") != 0 &&
                 strcmp(state, "config-files") != 0;
    return 0;
}

static bool has_blank(const char *value)
{
    for (; *value; value++) {
        if (is_blank(*value))
            return true;
    }
    return false;
}

/* Splits "name" or "name (version)" into *name and *version (NULL when
 * absent), both malloc'd. */
static int source_split(struct parser *parser, char **name, char **version)
{
    const char *value = parser->stanza.values[FIELD_SOURCE];
    size_t name_length = strcspn(value, " \t(");
    const char *rest = value + name_length;

    while (is_blank(*rest))
        rest++;

    const char *open = NULL;
    size_t version_length = 0;
    if (*rest != '\0') {
        size_t rest_length = strlen(rest);
        const char *close = rest + rest_length - 1;
        if (rest_length < 3 || rest[0] != '(' || *close != ')')
            return fail(parser, parser->stanza.first_line,
                        "Source must be \"name\" or \"name (version)\"");

        open = rest + 1;
        while (open < close && is_blank(*open))
            open++;
        const char *stop = close;
        while (stop > open && is_blank(stop[-1]))
            stop--;
        version_length = (size_t)(stop - open);
        if (version_length == 0 || strcspn(open, " \t()") < version_length)
            return fail(parser, parser->stanza.first_line,
                        "Source version must be one word in parentheses");
    }
    if (name_length == 0)
        return fail(parser, parser->stanza.first_line,
                    "Source has an empty name");

    *name = strndup(value, name_length);
    *version = open ? strndup(open, version_length) : NULL;
    if (!*name || (open && !*version))
        return fail(parser, parser->stanza.first_line, "out of memory");
    return 0;
}

static int stanza_check(struct parser *parser)
{
    struct stanza *stanza = &parser->stanza;

    if (!stanza->present[FIELD_PACKAGE] || stanza->lengths[FIELD_PACKAGE] == 0)
        return fail(parser, stanza->first_line,
                    "installed package has no Package name");
    if (!stanza->present[FIELD_VERSION] ||
        stanza->lengths[FIELD_VERSION] == 0) {
        char message[DPKG_MAX_VALUE_BYTES + 64];
        snprintf(message, sizeof(message),
                 "installed package %s has no Version",
                 stanza->values[FIELD_PACKAGE]);
        return fail(parser, stanza->first_line, message);
    }

    static const enum field single_words[] = {FIELD_PACKAGE, FIELD_VERSION,
                                              FIELD_ARCHITECTURE};
    for (size_t i = 0; i < 3; i++) {
        enum field field = single_words[i];
        if (stanza->present[field] && has_blank(stanza->values[field])) {
            char message[64];
            snprintf(message, sizeof(message), "%s must be a single word",
                     field_names[field]);
            return fail(parser, stanza->first_line, message);
        }
    }
    return 0;
}

static char *value_copy(const struct stanza *stanza, enum field field)
{
    if (!stanza->present[field] || stanza->lengths[field] == 0)
        return NULL;
    return strdup(stanza->values[field]);
}

static int stanza_finish(struct parser *parser)
{
    struct stanza *stanza = &parser->stanza;
    bool installed = false;

    parser->in_stanza = false;
    parser->current = FIELD_NONE;
    if (stanza_installed(parser, &installed) != 0)
        return -1;
    if (!installed)
        return 0;
    if (stanza_check(parser) != 0)
        return -1;
    if (parser->list->count >= DPKG_MAX_PACKAGES) {
        char message[80];
        snprintf(message, sizeof(message),
                 "more than %zu installed packages (DPKG_MAX_PACKAGES)",
                 DPKG_MAX_PACKAGES);
        return fail(parser, stanza->first_line, message);
    }

    struct installed_package *package = package_list_add(parser->list);
    if (!package)
        return fail(parser, stanza->first_line, "out of memory");

    package->name = value_copy(stanza, FIELD_PACKAGE);
    package->version = value_copy(stanza, FIELD_VERSION);
    package->architecture = value_copy(stanza, FIELD_ARCHITECTURE);
    if (!package->name || !package->version ||
        (stanza->lengths[FIELD_ARCHITECTURE] > 0 && !package->architecture))
        return fail(parser, stanza->first_line, "out of memory");

    if (stanza->present[FIELD_SOURCE] && stanza->lengths[FIELD_SOURCE] > 0)
        return source_split(parser, &package->source_name,
                            &package->source_version);
    return 0;
}

static int stanza_start(struct parser *parser)
{
    if (parser->stanzas >= DPKG_MAX_STANZAS) {
        char message[64];
        snprintf(message, sizeof(message), "more than %d stanzas",
                 DPKG_MAX_STANZAS);
        return fail(parser, parser->line_number, message);
    }

    parser->stanzas++;
    parser->in_stanza = true;
    memset(parser->stanza.present, 0, sizeof(parser->stanza.present));
    memset(parser->stanza.lengths, 0, sizeof(parser->stanza.lengths));
    parser->stanza.first_line = parser->line_number;
    return 0;
}

/* Handles "Name: value". */
static int field_line(struct parser *parser, const char *line, size_t length)
{
    const char *colon = memchr(line, ':', length);
    if (!colon || colon == line)
        return fail(parser, parser->line_number,
                    "expected \"Field: value\" or a blank line");

    size_t name_length = (size_t)(colon - line);
    for (size_t i = 0; i < name_length; i++) {
        if (is_blank(line[i]))
            return fail(parser, parser->line_number,
                        "field name contains a space");
    }

    if (!parser->in_stanza && stanza_start(parser) != 0)
        return -1;

    enum field field = field_lookup(line, name_length);
    parser->current = field;
    if (field == FIELD_OTHER)
        return 0;
    if (parser->stanza.present[field]) {
        char message[64];
        snprintf(message, sizeof(message), "%s appears twice in one stanza",
                 field_names[field]);
        return fail(parser, parser->line_number, message);
    }
    parser->stanza.present[field] = true;
    parser->stanza.values[field][0] = '\0';

    const char *value = colon + 1;
    const char *end = line + length;
    while (value < end && is_blank(*value))
        value++;
    while (end > value && is_blank(end[-1]))
        end--;
    return value_append(parser, value, (size_t)(end - value));
}

static int line_handle(struct parser *parser, const char *line, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            char message[96];
            snprintf(message, sizeof(message),
                     "control byte 0x%02x; this is not a dpkg status file", c);
            return fail(parser, parser->line_number, message);
        }
    }

    size_t text = 0;
    while (text < length && is_blank(line[text]))
        text++;
    if (text == length)
        return parser->in_stanza ? stanza_finish(parser) : 0;
    if (line[0] == '#')
        return 0;

    if (text > 0) {
        if (!parser->in_stanza)
            return fail(parser, parser->line_number,
                        "continuation line outside a stanza");
        if (parser->current >= FIELD_COUNT)
            return 0;
        while (length > text && is_blank(line[length - 1]))
            length--;
        return value_append(parser, line + text, length - text);
    }
    return field_line(parser, line, length);
}

static int parse(struct parser *parser, const char *text, size_t size)
{
    parser->cursor = text;
    parser->end = text + size;
    parser->current = FIELD_NONE;

    while (parser->cursor < parser->end) {
        size_t left = (size_t)(parser->end - parser->cursor);
        const char *newline = memchr(parser->cursor, '\n', left);
        size_t length = newline ? (size_t)(newline - parser->cursor) : left;
        parser->line_number++;

        if (length > DPKG_MAX_LINE_BYTES) {
            char message[64];
            snprintf(message, sizeof(message), "longer than %d bytes",
                     DPKG_MAX_LINE_BYTES);
            return fail(parser, parser->line_number, message);
        }
        if (length > 0 && parser->cursor[length - 1] == '\r')
            length--;

        if (line_handle(parser, parser->cursor, length) != 0)
            return -1;
        parser->cursor = newline ? newline + 1 : parser->end;
    }
    return parser->in_stanza ? stanza_finish(parser) : 0;
}

static int parse_text(const char *text, size_t size, bool status_d,
                      struct installed_package **packages, size_t *count,
                      char *errbuf, size_t errbuf_size)
{
    struct package_list list = {0};
    struct parser *parser = calloc(1, sizeof(*parser));

    *packages = NULL;
    *count = 0;
    if (!parser) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    parser->missing_status_means_installed = status_d;
    parser->list = &list;
    parser->errbuf = errbuf;
    parser->errbuf_size = errbuf_size;

    int result = parse(parser, text, size);
    free(parser);
    if (result != 0) {
        dpkg_packages_free(list.items, list.count);
        return -1;
    }

    *packages = list.items;
    *count = list.count;
    return 0;
}

int dpkg_status_parse(const char *text, size_t size,
                      struct installed_package **packages, size_t *count,
                      char *errbuf, size_t errbuf_size)
{
    return parse_text(text, size, false, packages, count, errbuf, errbuf_size);
}

int dpkg_status_d_parse(const char *text, size_t size,
                        struct installed_package **packages, size_t *count,
                        char *errbuf, size_t errbuf_size)
{
    return parse_text(text, size, true, packages, count, errbuf, errbuf_size);
}

/* Packages and problems found while reading the database. */
struct inventory {
    struct package_list list;
    bool present;
    bool unreadable;
    bool no_memory;
    char *errbuf;
    size_t errbuf_size;
};

/* Records the first problem; later ones would only repeat the cause. */
static void inventory_problem(struct inventory *inventory, const char *path,
                              const char *reason)
{
    if (!inventory->unreadable)
        snprintf(inventory->errbuf, inventory->errbuf_size, "%s: %s", path,
                 reason);
    inventory->unreadable = true;
}

static void inventory_take(struct inventory *inventory, const char *path,
                           struct installed_package *packages, size_t count)
{
    size_t i = 0;

    for (; i < count; i++) {
        if (inventory->list.count >= DPKG_MAX_PACKAGES) {
            char reason[80];
            snprintf(reason, sizeof(reason),
                     "more than %zu installed packages in all "
                     "(DPKG_MAX_PACKAGES)",
                     DPKG_MAX_PACKAGES);
            inventory_problem(inventory, path, reason);
            break;
        }
        struct installed_package *slot = package_list_add(&inventory->list);
        if (!slot) {
            inventory->no_memory = true;
            break;
        }
        *slot = packages[i];
        memset(&packages[i], 0, sizeof(packages[i]));
    }
    dpkg_packages_free(packages, count);
}

static void inventory_read(struct inventory *inventory, const struct rootfs *fs,
                           const char *path, bool status_d)
{
    const struct rootfs_file *file = NULL;
    enum rootfs_lookup lookup = rootfs_resolve(fs, path, &file);

    if (lookup == ROOTFS_LOOKUP_NO_MEMORY) {
        inventory->no_memory = true;
        return;
    }
    if (lookup == ROOTFS_LOOKUP_NOT_FOUND && !status_d)
        return;

    inventory->present = true;
    if (lookup == ROOTFS_LOOKUP_LOOP) {
        inventory_problem(inventory, path, "symbolic link loop");
        return;
    }
    if (lookup == ROOTFS_LOOKUP_NOT_FOUND) {
        inventory_problem(inventory, path,
                          "symbolic link to a file outside the package "
                          "database");
        return;
    }

    struct installed_package *packages = NULL;
    size_t count = 0;
    char reason[256];
    int result = status_d
                     ? dpkg_status_d_parse(file->data, file->size, &packages,
                                           &count, reason, sizeof(reason))
                     : dpkg_status_parse(file->data, file->size, &packages,
                                         &count, reason, sizeof(reason));
    if (result != 0) {
        inventory_problem(inventory, path, reason);
        return;
    }
    inventory_take(inventory, path, packages, count);
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t length = strlen(name);
    size_t suffix_length = strlen(suffix);

    return length >= suffix_length &&
           strcmp(name + length - suffix_length, suffix) == 0;
}

static void inventory_read_status_d(struct inventory *inventory,
                                    const struct rootfs *fs)
{
    char **names = NULL;
    size_t count = 0;
    enum rootfs_lookup lookup =
        rootfs_list_dir(fs, STATUS_D_PATH, &names, &count);

    if (lookup == ROOTFS_LOOKUP_NO_MEMORY) {
        inventory->no_memory = true;
        return;
    }
    if (lookup == ROOTFS_LOOKUP_LOOP) {
        inventory->present = true;
        inventory_problem(inventory, STATUS_D_PATH, "symbolic link loop");
        return;
    }

    for (size_t i = 0; i < count && !inventory->no_memory; i++) {
        if (has_suffix(names[i], ".md5sums"))
            continue;

        size_t length = strlen(STATUS_D_PATH) + 1 + strlen(names[i]) + 1;
        char *path = malloc(length);
        if (!path) {
            inventory->no_memory = true;
            break;
        }
        snprintf(path, length, "%s/%s", STATUS_D_PATH, names[i]);
        inventory_read(inventory, fs, path, true);
        free(path);
    }
    rootfs_names_free(names, count);
}

enum dpkg_inventory_result
dpkg_inventory_from_rootfs(const struct rootfs *fs,
                           struct installed_package **packages, size_t *count,
                           char *errbuf, size_t errbuf_size)
{
    struct inventory inventory = {
        .errbuf = errbuf,
        .errbuf_size = errbuf_size,
    };

    *packages = NULL;
    *count = 0;
    inventory_read(&inventory, fs, STATUS_PATH, false);
    if (!inventory.no_memory)
        inventory_read_status_d(&inventory, fs);

    if (inventory.no_memory) {
        dpkg_packages_free(inventory.list.items, inventory.list.count);
        snprintf(errbuf, errbuf_size,
                 "out of memory reading the dpkg database");
        return DPKG_INVENTORY_NO_MEMORY;
    }

    /* A package listed in both status and status.d appears once. */
    inventory.list.count = installed_packages_sort_unique(inventory.list.items,
                                                          inventory.list.count);
    *packages = inventory.list.items;
    *count = inventory.list.count;
    if (inventory.unreadable)
        return DPKG_INVENTORY_UNREADABLE;
    if (!inventory.present) {
        snprintf(errbuf, errbuf_size,
                 "no dpkg database: neither %s nor files in %s/", STATUS_PATH,
                 STATUS_D_PATH);
        return DPKG_INVENTORY_NOT_FOUND;
    }
    return DPKG_INVENTORY_OK;
}
