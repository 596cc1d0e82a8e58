#include "osv_record.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cvss.h"

struct parser {
    const struct vulndb_limits *limits;
    struct arena *arena;
    struct osv_record *record;
    bool out_of_memory;
    char *errbuf;
    size_t errbuf_size;
};

/* A list of strings being collected, before it is copied to the arena. */
struct string_list {
    const char **items;
    size_t count;
    size_t capacity;
};

static int fail(struct parser *parser, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct parser *parser, const char *format, ...)
{
    va_list args;

    if (!parser->errbuf || parser->errbuf_size == 0)
        return -1;
    va_start(args, format);
    vsnprintf(parser->errbuf, parser->errbuf_size, format, args);
    va_end(args);
    return -1;
}

static int fail_no_memory(struct parser *parser)
{
    parser->out_of_memory = true;
    return fail(parser, "out of memory");
}

static void *parser_alloc(struct parser *parser, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        fail_no_memory(parser);
        return NULL;
    }
    void *memory = arena_alloc(parser->arena, count * size);
    if (!memory)
        fail_no_memory(parser);
    return memory;
}

/* Copies a JSON string into the arena after checking it: not empty, at
 * most max_string_bytes, no control characters. */
static const char *copy_string(struct parser *parser, const json_t *value,
                               const char *field)
{
    if (!json_is_string(value)) {
        fail(parser, "%s is not a string", field);
        return NULL;
    }

    const char *text = json_string_value(value);
    size_t length = json_string_length(value);
    if (length == 0) {
        fail(parser, "%s is empty", field);
        return NULL;
    }
    if (length > parser->limits->max_string_bytes) {
        fail(parser, "%s is longer than %zu bytes", field,
             parser->limits->max_string_bytes);
        return NULL;
    }
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f) {
            fail(parser, "%s contains a control character", field);
            return NULL;
        }
    }

    char *copy = arena_strndup(parser->arena, text, length);
    if (!copy)
        fail_no_memory(parser);
    return copy;
}

/* Returns member name of object, or NULL when absent or JSON null. */
static json_t *optional_member(const json_t *object, const char *name)
{
    json_t *value = json_object_get(object, name);
    return json_is_null(value) ? NULL : value;
}

static int list_add(struct parser *parser, struct string_list *list,
                    const char *item)
{
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i], item) == 0)
            return 0;
    }
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 8;
        const char **items = realloc(list->items, capacity * sizeof(*items));
        if (!items)
            return fail_no_memory(parser);
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = item;
    return 0;
}

/* Copies the list's pointers into the arena. */
static const char *const *list_finish(struct parser *parser,
                                      const struct string_list *list)
{
    if (list->count == 0)
        return NULL;

    const char **items = parser_alloc(parser, list->count, sizeof(*items));
    if (items)
        memcpy(items, list->items, list->count * sizeof(*items));
    return items;
}

/* Reads an optional array of strings into the arena, at most cap. */
static int string_array(struct parser *parser, const json_t *array,
                        const char *field, size_t cap,
                        const char *const **items, size_t *count)
{
    *items = NULL;
    *count = 0;
    if (!array)
        return 0;
    if (!json_is_array(array))
        return fail(parser, "%s is not an array", field);

    size_t size = json_array_size(array);
    if (size > cap)
        return fail(parser, "%s has more than %zu items", field, cap);
    if (size == 0)
        return 0;

    const char **copies = parser_alloc(parser, size, sizeof(*copies));
    if (!copies)
        return -1;
    for (size_t i = 0; i < size; i++) {
        copies[i] = copy_string(parser, json_array_get(array, i), field);
        if (!copies[i])
            return -1;
    }
    *items = copies;
    *count = size;
    return 0;
}

const char *osv_cve_suffix(const char *id)
{
    for (const char *start = strstr(id, "CVE-"); start;
         start = strstr(start + 1, "CVE-")) {
        if (start != id && start[-1] != '-')
            continue;

        const char *cursor = start + 4;
        size_t year_digits = 0;
        while (isdigit((unsigned char)cursor[year_digits]))
            year_digits++;
        if (year_digits != 4 || cursor[4] != '-')
            continue;

        cursor += 5;
        size_t number_digits = 0;
        while (isdigit((unsigned char)cursor[number_digits]))
            number_digits++;
        if (number_digits >= 4 && cursor[number_digits] == '\0')
            return start;
    }
    return NULL;
}

static bool read_digits(const char **cursor, size_t count, int *value)
{
    *value = 0;
    for (size_t i = 0; i < count; i++) {
        if (!isdigit((unsigned char)(*cursor)[i]))
            return false;
        *value = *value * 10 + ((*cursor)[i] - '0');
    }
    *cursor += count;
    return true;
}

static bool expect(const char **cursor, const char *allowed)
{
    if (**cursor == '\0' || !strchr(allowed, **cursor))
        return false;
    (*cursor)++;
    return true;
}

/* Reads ".fff..." into milliseconds, ignoring digits past the third. */
static int64_t read_fraction(const char **cursor)
{
    int64_t ms = 0;
    int digits = 0;

    if (**cursor != '.')
        return 0;
    (*cursor)++;
    while (isdigit((unsigned char)**cursor)) {
        if (digits < 3)
            ms = ms * 10 + (**cursor - '0');
        digits++;
        (*cursor)++;
    }
    for (; digits < 3; digits++)
        ms *= 10;
    return ms;
}

static bool read_offset(const char **cursor, int64_t *offset_ms)
{
    int hours;
    int minutes;

    *offset_ms = 0;
    if (expect(cursor, "Zz"))
        return true;

    char sign = **cursor;
    if (!expect(cursor, "+-") || !read_digits(cursor, 2, &hours) ||
        !expect(cursor, ":") || !read_digits(cursor, 2, &minutes) ||
        hours > 23 || minutes > 59)
        return false;
    *offset_ms = ((int64_t)hours * 60 + minutes) * 60000;
    if (sign == '-')
        *offset_ms = -*offset_ms;
    return true;
}

int osv_time_parse(const char *text, int64_t *ms)
{
    struct tm fields = {0};
    const char *cursor = text;
    int year, month, day, hour, minute, second;

    if (!read_digits(&cursor, 4, &year) || !expect(&cursor, "-") ||
        !read_digits(&cursor, 2, &month) || !expect(&cursor, "-") ||
        !read_digits(&cursor, 2, &day) || !expect(&cursor, "Tt ") ||
        !read_digits(&cursor, 2, &hour) || !expect(&cursor, ":") ||
        !read_digits(&cursor, 2, &minute) || !expect(&cursor, ":") ||
        !read_digits(&cursor, 2, &second))
        return -1;
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
        minute > 59 || second > 60)
        return -1;

    int64_t fraction = read_fraction(&cursor);
    int64_t offset_ms;
    if (!read_offset(&cursor, &offset_ms) || *cursor != '\0')
        return -1;

    fields.tm_year = year - 1900;
    fields.tm_mon = month - 1;
    fields.tm_mday = day;
    fields.tm_hour = hour;
    fields.tm_min = minute;
    fields.tm_sec = second;
    time_t seconds = timegm(&fields);
    *ms = (int64_t)seconds * 1000 + fraction - offset_ms;
    return 0;
}

/* Keeps the higher-scoring of *best and a CVSS_V3 vector. */
static void keep_best_vector(struct parser *parser, const char *vector,
                             const char **best, int *best_tenths)
{
    struct cvss_score score;

    if (cvss_score_vector(vector, &score, NULL, 0) != 0) {
        parser->record->vectors_invalid++;
        return;
    }
    if (!*best || score.base_tenths > *best_tenths) {
        *best = vector;
        *best_tenths = score.base_tenths;
    }
}

/* Reads a severity[] array: the best CVSS_V3 vector and an "Ubuntu"
 * priority. Other types (CVSS_V2, CVSS_V4) are ignored. */
static int read_severity(struct parser *parser, const json_t *array,
                         const char **vector, const char **rating)
{
    int best_tenths = -1;

    if (!array)
        return 0;
    if (!json_is_array(array))
        return fail(parser, "severity is not an array");
    if (json_array_size(array) > parser->limits->max_ids)
        return fail(parser, "severity has more than %zu items",
                    parser->limits->max_ids);

    for (size_t i = 0; i < json_array_size(array); i++) {
        const json_t *item = json_array_get(array, i);
        if (!json_is_object(item))
            return fail(parser, "severity[%zu] is not an object", i);
        const char *type =
            copy_string(parser, json_object_get(item, "type"), "severity type");
        const char *score = copy_string(parser, json_object_get(item, "score"),
                                        "severity score");
        if (!type || !score)
            return -1;

        if (strcmp(type, "CVSS_V3") == 0)
            keep_best_vector(parser, score, vector, &best_tenths);
        else if (strcmp(type, "Ubuntu") == 0 && !*rating)
            *rating = score;
    }
    return 0;
}

/* Reads "urgency" or "priority" from an ecosystem_specific or
 * database_specific object, when *rating is not set yet. */
static int read_rating(struct parser *parser, const json_t *object,
                       const char **rating)
{
    static const char *const keys[] = {"urgency", "priority"};

    if (*rating || !json_is_object(object))
        return 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *value = optional_member(object, keys[i]);
        if (!value)
            continue;
        *rating = copy_string(parser, value, keys[i]);
        return *rating ? 0 : -1;
    }
    return 0;
}

static int event_rank(enum vulndb_event_kind kind)
{
    return kind == VULNDB_EVENT_INTRODUCED ? 0 : 1;
}

/* Orders events by version: "introduced: 0" first, "limit: *" last, and
 * at equal versions an introduced event before the others. */
static int event_compare(enum version_scheme scheme,
                         const struct vulndb_event *a,
                         const struct vulndb_event *b)
{
    bool a_zero =
        a->kind == VULNDB_EVENT_INTRODUCED && strcmp(a->version, "0") == 0;
    bool b_zero =
        b->kind == VULNDB_EVENT_INTRODUCED && strcmp(b->version, "0") == 0;
    bool a_infinite = a->kind == VULNDB_EVENT_LIMIT && strchr(a->version, '*');
    bool b_infinite = b->kind == VULNDB_EVENT_LIMIT && strchr(b->version, '*');

    int order;
    if (a_zero || b_zero)
        order = (int)b_zero - (int)a_zero;
    else if (a_infinite || b_infinite)
        order = (int)a_infinite - (int)b_infinite;
    else
        order = version_compare(scheme, a->version, b->version);
    if (order != 0)
        return order;
    return event_rank(a->kind) - event_rank(b->kind);
}

/* A stable insertion sort, because ranges contain few events and qsort
 * takes no context for the version scheme. */
static void sort_events(enum version_scheme scheme, struct vulndb_event *events,
                        size_t count)
{
    for (size_t i = 1; i < count; i++) {
        struct vulndb_event current = events[i];
        size_t j = i;
        while (j > 0 && event_compare(scheme, &events[j - 1], &current) > 0) {
            events[j] = events[j - 1];
            j--;
        }
        events[j] = current;
    }
}

static int read_event(struct parser *parser, const json_t *object,
                      struct vulndb_event *event)
{
    static const char *const kinds[] = {"introduced", "fixed", "last_affected",
                                        "limit"};

    if (!json_is_object(object) || json_object_size(object) != 1)
        return fail(parser, "an event must be an object with exactly one of "
                            "introduced, fixed, last_affected and limit");

    for (size_t i = 0; i < 4; i++) {
        json_t *value = json_object_get(object, kinds[i]);
        if (!value)
            continue;
        event->kind = (enum vulndb_event_kind)i;
        event->version = copy_string(parser, value, kinds[i]);
        return event->version ? 0 : -1;
    }
    return fail(parser, "an event has an unknown key");
}

static int read_events(struct parser *parser, const json_t *array,
                       struct vulndb_range *range, enum version_scheme scheme)
{
    if (!json_is_array(array) || json_array_size(array) == 0)
        return fail(parser, "a range has no events array");
    size_t count = json_array_size(array);
    if (count > parser->limits->max_events)
        return fail(parser, "a range has more than %zu events",
                    parser->limits->max_events);

    struct vulndb_event *events = parser_alloc(parser, count, sizeof(*events));
    if (!events)
        return -1;

    bool introduced = false;
    for (size_t i = 0; i < count; i++) {
        if (read_event(parser, json_array_get(array, i), &events[i]) != 0)
            return -1;
        introduced |= events[i].kind == VULNDB_EVENT_INTRODUCED;
    }
    if (!introduced)
        return fail(parser, "a range has no introduced event");

    sort_events(scheme, events, count);
    range->events = events;
    range->event_count = count;
    return 0;
}

static int read_ranges(struct parser *parser, const json_t *array,
                       struct vulndb_affected *affected)
{
    if (!array)
        return 0;
    if (!json_is_array(array))
        return fail(parser, "ranges is not an array");
    size_t count = json_array_size(array);
    if (count > parser->limits->max_ranges)
        return fail(parser, "an affected entry has more than %zu ranges",
                    parser->limits->max_ranges);
    if (count == 0)
        return 0;

    struct vulndb_range *ranges = parser_alloc(parser, count, sizeof(*ranges));
    if (!ranges)
        return -1;

    size_t ecosystem_ranges = 0;
    for (size_t i = 0; i < count; i++) {
        const json_t *range = json_array_get(array, i);
        const json_t *type = json_object_get(range, "type");
        if (!json_is_object(range) || !json_is_string(type))
            return fail(parser, "a range is not an object with a type");
        if (strcmp(json_string_value(type), "ECOSYSTEM") != 0) {
            parser->record->ranges_ignored++;
            continue;
        }
        if (read_events(parser, json_object_get(range, "events"),
                        &ranges[ecosystem_ranges], affected->scheme) != 0)
            return -1;
        ecosystem_ranges++;
    }
    affected->ranges = ranges;
    affected->range_count = ecosystem_ranges;
    return 0;
}

/* Returns the ecosystem as the index names it: Ubuntu's ":LTS" dropped. */
static const char *index_ecosystem(struct parser *parser, const char *name)
{
    size_t length = strlen(name);

    if (strncmp(name, "Ubuntu:", 7) == 0 && length > 4 &&
        strcmp(name + length - 4, ":LTS") == 0) {
        char *copy = arena_strndup(parser->arena, name, length - 4);
        if (!copy)
            fail_no_memory(parser);
        return copy;
    }
    return name;
}

/* Reads the package of an affected entry. Sets *supported to false for an
 * ecosystem the database does not index. */
static int read_package(struct parser *parser, const json_t *entry,
                        struct vulndb_affected *affected, bool *supported)
{
    const json_t *package = json_object_get(entry, "package");
    if (!json_is_object(package))
        return fail(parser, "an affected entry has no package object");

    const char *ecosystem = copy_string(
        parser, json_object_get(package, "ecosystem"), "package ecosystem");
    affected->name =
        copy_string(parser, json_object_get(package, "name"), "package name");
    if (!ecosystem || !affected->name)
        return -1;

    affected->ecosystem = index_ecosystem(parser, ecosystem);
    if (!affected->ecosystem)
        return -1;
    *supported =
        vulndb_ecosystem_scheme(affected->ecosystem, &affected->scheme) == 0;
    return 0;
}

static int read_affected_entry(struct parser *parser, const json_t *entry,
                               struct vulndb_affected *affected,
                               bool *supported)
{
    if (!json_is_object(entry))
        return fail(parser, "an affected entry is not an object");
    if (read_package(parser, entry, affected, supported) != 0)
        return -1;
    if (!*supported)
        return 0;

    affected->advisory = parser->record->advisory;
    if (read_ranges(parser, optional_member(entry, "ranges"), affected) != 0)
        return -1;
    if (string_array(parser, optional_member(entry, "versions"), "versions",
                     parser->limits->max_versions, &affected->versions,
                     &affected->version_count) != 0)
        return -1;
    if (read_severity(parser, optional_member(entry, "severity"),
                      &affected->cvss_vector, &affected->distro_rating) != 0)
        return -1;
    if (read_rating(parser, optional_member(entry, "ecosystem_specific"),
                    &affected->distro_rating) != 0)
        return -1;
    return read_rating(parser, optional_member(entry, "database_specific"),
                       &affected->distro_rating);
}

static int read_affected(struct parser *parser, const json_t *array)
{
    if (!array)
        return 0;
    if (!json_is_array(array))
        return fail(parser, "affected is not an array");
    size_t count = json_array_size(array);
    if (count > parser->limits->max_affected)
        return fail(parser, "affected has more than %zu entries",
                    parser->limits->max_affected);
    if (count == 0)
        return 0;

    struct vulndb_affected *entries =
        parser_alloc(parser, count, sizeof(*entries));
    if (!entries)
        return -1;

    size_t supported_count = 0;
    for (size_t i = 0; i < count; i++) {
        bool supported = false;
        struct vulndb_affected *entry = &entries[supported_count];
        memset(entry, 0, sizeof(*entry));
        if (read_affected_entry(parser, json_array_get(array, i), entry,
                                &supported) != 0)
            return -1;
        if (supported)
            supported_count++;
    }
    parser->record->affected = entries;
    parser->record->affected_count = supported_count;
    return 0;
}

/* Collects the CVE ids that the record's ids name. */
static int collect_cves(struct parser *parser, struct string_list *cves,
                        const char *const *ids, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const char *cve = osv_cve_suffix(ids[i]);
        if (cve && list_add(parser, cves, cve) != 0)
            return -1;
    }
    return 0;
}

/* Fills vulnerability_ids and aliases from the id, aliases and upstream
 * lists already read. */
static int derive_ids(struct parser *parser, const char *const *aliases,
                      size_t alias_count, const char *const *upstream,
                      size_t upstream_count)
{
    struct vulndb_advisory *advisory = parser->record->advisory;
    struct string_list cves = {0};
    struct string_list others = {0};
    int result = -1;

    if (collect_cves(parser, &cves, &advisory->id, 1) != 0 ||
        collect_cves(parser, &cves, aliases, alias_count) != 0 ||
        collect_cves(parser, &cves, upstream, upstream_count) != 0)
        goto out_free_lists;

    const char *group = advisory->id;
    for (size_t i = 0; i < alias_count; i++) {
        if (strcmp(aliases[i], group) < 0)
            group = aliases[i];
        if (osv_cve_suffix(aliases[i]) != aliases[i] &&
            list_add(parser, &others, aliases[i]) != 0)
            goto out_free_lists;
    }
    if (cves.count == 0 && list_add(parser, &cves, group) != 0)
        goto out_free_lists;

    advisory->vulnerability_ids = list_finish(parser, &cves);
    advisory->vulnerability_id_count = cves.count;
    advisory->aliases = list_finish(parser, &others);
    advisory->alias_count = others.count;
    if (!advisory->vulnerability_ids ||
        (others.count > 0 && !advisory->aliases))
        goto out_free_lists;
    result = 0;

out_free_lists:
    free(cves.items);
    free(others.items);
    return result;
}

static int read_schema_version(struct parser *parser, const json_t *root)
{
    const json_t *value = optional_member(root, "schema_version");
    if (!value)
        return 0;
    if (!json_is_string(value))
        return fail(parser, "schema_version is not a string");

    const char *text = json_string_value(value);
    if (strcmp(text, "1") != 0 && strncmp(text, "1.", 2) != 0)
        return fail(parser, "schema_version \"%.32s\" is not 1.x", text);
    return 0;
}

/* Reads id, modified and the id lists. */
static int read_identity(struct parser *parser, const json_t *root)
{
    struct vulndb_advisory *advisory = parser->record->advisory;

    advisory->id = copy_string(parser, json_object_get(root, "id"), "id");
    if (!advisory->id)
        return -1;

    const char *modified =
        copy_string(parser, json_object_get(root, "modified"), "modified");
    if (!modified)
        return -1;
    if (osv_time_parse(modified, &advisory->modified_ms) != 0)
        return fail(parser, "modified \"%s\" is not an RFC 3339 time",
                    modified);

    const char *const *aliases;
    const char *const *upstream;
    size_t alias_count;
    size_t upstream_count;
    if (string_array(parser, optional_member(root, "aliases"), "aliases",
                     parser->limits->max_ids, &aliases, &alias_count) != 0 ||
        string_array(parser, optional_member(root, "upstream"), "upstream",
                     parser->limits->max_ids, &upstream, &upstream_count) != 0)
        return -1;
    if (alias_count + upstream_count > parser->limits->max_ids)
        return fail(parser, "aliases and upstream have more than %zu ids",
                    parser->limits->max_ids);
    return derive_ids(parser, aliases, alias_count, upstream, upstream_count);
}

static enum osv_record_result parse_root(struct parser *parser,
                                         const json_t *root)
{
    struct vulndb_advisory *advisory = parser->record->advisory;

    if (!json_is_object(root)) {
        fail(parser, "not a JSON object");
        return OSV_RECORD_INVALID;
    }
    if (read_schema_version(parser, root) != 0 ||
        read_identity(parser, root) != 0)
        goto failed;

    const json_t *withdrawn = optional_member(root, "withdrawn");
    if (withdrawn) {
        int64_t withdrawn_ms;
        if (!json_is_string(withdrawn) ||
            osv_time_parse(json_string_value(withdrawn), &withdrawn_ms) != 0) {
            fail(parser, "withdrawn is not an RFC 3339 time");
            goto failed;
        }
        return OSV_RECORD_WITHDRAWN;
    }

    if (read_severity(parser, optional_member(root, "severity"),
                      &advisory->cvss_vector, &advisory->distro_rating) != 0 ||
        read_rating(parser, optional_member(root, "database_specific"),
                    &advisory->distro_rating) != 0 ||
        read_affected(parser, optional_member(root, "affected")) != 0)
        goto failed;
    return OSV_RECORD_OK;

failed:
    return parser->out_of_memory ? OSV_RECORD_NO_MEMORY : OSV_RECORD_INVALID;
}

enum osv_record_result osv_record_parse(const char *text, size_t size,
                                        const struct vulndb_limits *limits,
                                        struct arena *arena,
                                        struct osv_record *record, char *errbuf,
                                        size_t errbuf_size)
{
    struct parser parser = {
        .limits = limits,
        .arena = arena,
        .record = record,
        .errbuf = errbuf,
        .errbuf_size = errbuf_size,
    };

    memset(record, 0, sizeof(*record));
    json_error_t error;
    json_t *root = json_loadb(text, size, 0, &error);
    if (!root) {
        fail(&parser, "invalid JSON at line %d column %d: %s", error.line,
             error.column, error.text);
        return OSV_RECORD_INVALID;
    }

    record->advisory = parser_alloc(&parser, 1, sizeof(*record->advisory));
    enum osv_record_result result =
        record->advisory ? parse_root(&parser, root) : OSV_RECORD_NO_MEMORY;
    json_decref(root);
    return result;
}
