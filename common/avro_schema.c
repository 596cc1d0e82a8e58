#include "avro_schema.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct schema {
    json_t *document; /* owns the fields' default values */
    struct schema_node **nodes;
    size_t node_count;
    size_t node_capacity;
    const struct schema_node *root;
    char *canonical_form;
    uint64_t fingerprint;
};

struct parser {
    struct schema *schema;
    unsigned flags;
    unsigned depth;
    char *errbuf;
    size_t errbuf_size;
};

static const struct {
    const char *name;
    enum schema_type type;
} primitive_types[] = {
    {"null", SCHEMA_NULL},   {"boolean", SCHEMA_BOOLEAN},
    {"int", SCHEMA_INT},     {"long", SCHEMA_LONG},
    {"float", SCHEMA_FLOAT}, {"double", SCHEMA_DOUBLE},
    {"bytes", SCHEMA_BYTES}, {"string", SCHEMA_STRING},
};

#define PRIMITIVE_TYPE_COUNT                                                   \
    (sizeof(primitive_types) / sizeof(primitive_types[0]))

static const struct schema_node *
parse_type(struct parser *parser, const json_t *json, const char *namespace);

__attribute__((format(printf, 2, 3))) static void
parser_fail(struct parser *parser, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    vsnprintf(parser->errbuf, parser->errbuf_size, format, args);
    va_end(args);
}

static int primitive_type_find(const char *name, enum schema_type *type)
{
    for (size_t i = 0; i < PRIMITIVE_TYPE_COUNT; i++) {
        if (strcmp(primitive_types[i].name, name) == 0) {
            *type = primitive_types[i].type;
            return 0;
        }
    }
    return -1;
}

static const char *schema_type_name(enum schema_type type)
{
    static const char *const names[] = {
        "null",   "boolean", "int",  "long",  "float", "double", "bytes",
        "string", "record",  "enum", "array", "map",   "union",  "fixed",
    };

    return names[type];
}

/* A name matches [A-Za-z_][A-Za-z0-9_]*, and a full name is names joined by
 * dots. */
static int name_is_valid(const char *name, size_t length)
{
    if (length == 0)
        return 0;
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        int letter =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
        int digit = c >= '0' && c <= '9';

        if (!letter && !(digit && i > 0))
            return 0;
    }
    return 1;
}

static int fullname_is_valid(const char *fullname)
{
    const char *part = fullname;

    for (;;) {
        const char *dot = strchr(part, '.');
        size_t length = dot != NULL ? (size_t)(dot - part) : strlen(part);

        if (!name_is_valid(part, length))
            return 0;
        if (dot == NULL)
            return 1;
        part = dot + 1;
    }
}

/* Returns the full name of name in namespace (NULL or "" for none). */
static char *fullname_make(const char *name, const char *namespace)
{
    char *fullname;
    size_t size;

    if (strchr(name, '.') != NULL || namespace == NULL || namespace[0] == '\0')
        return strdup(name);

    size = strlen(namespace) + 1 + strlen(name) + 1;
    fullname = malloc(size);
    if (fullname != NULL)
        snprintf(fullname, size, "%s.%s", namespace, name);
    return fullname;
}

/* Returns the namespace part of a full name ("" when it has none). */
static char *fullname_namespace(const char *fullname)
{
    const char *dot = strrchr(fullname, '.');

    if (dot == NULL)
        return strdup("");
    return strndup(fullname, (size_t)(dot - fullname));
}

static struct schema_node *node_new(struct parser *parser,
                                    enum schema_type type)
{
    struct schema *schema = parser->schema;
    struct schema_node *node;

    if (schema->node_count == schema->node_capacity) {
        size_t capacity =
            schema->node_capacity ? schema->node_capacity * 2 : 16;
        struct schema_node **nodes =
            realloc(schema->nodes, capacity * sizeof(*nodes));

        if (nodes == NULL)
            goto fail_memory;
        schema->nodes = nodes;
        schema->node_capacity = capacity;
    }

    node = calloc(1, sizeof(*node));
    if (node == NULL)
        goto fail_memory;
    node->type = type;
    schema->nodes[schema->node_count++] = node;
    return node;

fail_memory:
    parser_fail(parser, "out of memory");
    return NULL;
}

static const struct schema_node *named_node_find(const struct schema *schema,
                                                 const char *fullname)
{
    for (size_t i = 0; i < schema->node_count; i++) {
        const struct schema_node *node = schema->nodes[i];

        if (node->fullname != NULL && strcmp(node->fullname, fullname) == 0)
            return node;
    }
    return NULL;
}

static size_t size_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/*
 * Sets the node's lower bound on encoded size from its children. A child
 * that is a record still being parsed (a recursive reference) counts 0,
 * which keeps the result a lower bound.
 */
static void node_set_min_encoded_size(struct schema_node *node)
{
    size_t size = 0;

    switch (node->type) {
    case SCHEMA_NULL:
        break;
    case SCHEMA_FLOAT:
        size = 4;
        break;
    case SCHEMA_DOUBLE:
        size = 8;
        break;
    case SCHEMA_FIXED:
        size = node->fixed_size;
        break;
    case SCHEMA_RECORD:
        for (size_t i = 0; i < node->field_count; i++)
            size = size_add(size, node->fields[i].type->min_encoded_size);
        break;
    case SCHEMA_UNION:
        size = SIZE_MAX;
        for (size_t i = 0; i < node->branch_count; i++) {
            if (node->branches[i]->min_encoded_size < size)
                size = node->branches[i]->min_encoded_size;
        }
        size = size_add(size, 1);
        break;
    default:
        /* boolean, int, long, bytes, string, enum, and the zero count that
         * ends an array or a map take at least one byte */
        size = 1;
        break;
    }
    node->min_encoded_size = size;
}

static const char *json_type_name(const json_t *json)
{
    switch (json_typeof(json)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static const char *object_get_string(struct parser *parser,
                                     const json_t *object, const char *key,
                                     int required)
{
    const json_t *value = json_object_get(object, key);

    if (value == NULL) {
        if (required)
            parser_fail(parser, "schema object has no \"%s\"", key);
        return NULL;
    }
    if (!json_is_string(value)) {
        parser_fail(parser, "\"%s\" must be a string, not %s", key,
                    json_type_name(value));
        return NULL;
    }
    return json_string_value(value);
}

/* Copies the strings of a JSON array. When namespace is not NULL, each
 * string becomes a full name in it. */
static int string_array_copy(struct parser *parser, const json_t *array,
                             const char *what, const char *namespace,
                             char ***strings, size_t *count)
{
    size_t size = json_array_size(array);

    if (!json_is_array(array)) {
        parser_fail(parser, "%s must be an array, not %s", what,
                    json_type_name(array));
        return -1;
    }
    *strings = calloc(size ? size : 1, sizeof(**strings));
    if (*strings == NULL) {
        parser_fail(parser, "out of memory");
        return -1;
    }
    *count = 0;

    for (size_t i = 0; i < size; i++) {
        const json_t *item = json_array_get(array, i);
        const char *text = json_string_value(item);

        if (text == NULL) {
            parser_fail(parser, "%s must contain only strings", what);
            return -1;
        }
        (*strings)[i] =
            namespace != NULL ? fullname_make(text, namespace) : strdup(text);
        if ((*strings)[i] == NULL) {
            parser_fail(parser, "out of memory");
            return -1;
        }
        *count = i + 1;
    }
    return 0;
}

static const struct schema_node *reference_resolve(struct parser *parser,
                                                   const char *name,
                                                   const char *namespace)
{
    const struct schema_node *node;
    char *fullname = fullname_make(name, namespace);

    if (fullname == NULL) {
        parser_fail(parser, "out of memory");
        return NULL;
    }
    node = named_node_find(parser->schema, fullname);
    free(fullname);

    /* As in Avro's Java parser (Schema.Names.get), a short name that is not
     * defined in the enclosing namespace may name a type of the null
     * namespace. */
    if (node == NULL && strchr(name, '.') == NULL)
        node = named_node_find(parser->schema, name);
    if (node == NULL)
        parser_fail(parser, "unknown type \"%s\"", name);
    return node;
}

static const struct schema_node *
parse_type_name(struct parser *parser, const char *name, const char *namespace)
{
    enum schema_type type;
    struct schema_node *node;

    if (primitive_type_find(name, &type) != 0)
        return reference_resolve(parser, name, namespace);

    node = node_new(parser, type);
    if (node != NULL)
        node_set_min_encoded_size(node);
    return node;
}

/*
 * Creates a named node: its full name from "name", "namespace" and the
 * enclosing namespace, and its aliases. The name is defined from here on,
 * so the type's own fields may refer to it.
 */
static struct schema_node *parse_named(struct parser *parser,
                                       const json_t *json,
                                       enum schema_type type,
                                       const char *enclosing_namespace)
{
    const char *name = object_get_string(parser, json, "name", 1);
    const json_t *namespace_json = json_object_get(json, "namespace");
    const char *namespace = enclosing_namespace;
    const json_t *aliases = json_object_get(json, "aliases");
    struct schema_node *node;
    char *own_namespace;
    enum schema_type primitive;

    if (name == NULL)
        return NULL;
    if (namespace_json != NULL) {
        namespace = json_string_value(namespace_json);
        if (namespace == NULL) {
            parser_fail(parser, "\"namespace\" of %s must be a string", name);
            return NULL;
        }
        if (namespace[0] != '\0' && !fullname_is_valid(namespace)) {
            parser_fail(parser, "invalid namespace \"%s\"", namespace);
            return NULL;
        }
    }
    if (!fullname_is_valid(name)) {
        parser_fail(parser, "invalid type name \"%s\"", name);
        return NULL;
    }

    node = node_new(parser, type);
    if (node == NULL)
        return NULL;
    node->fullname = fullname_make(name, namespace);
    if (node->fullname == NULL) {
        parser_fail(parser, "out of memory");
        return NULL;
    }
    if (primitive_type_find(node->fullname, &primitive) == 0) {
        parser_fail(parser, "a named type may not be called \"%s\"",
                    node->fullname);
        return NULL;
    }
    if (named_node_find(parser->schema, node->fullname) != node) {
        parser_fail(parser, "type \"%s\" is defined twice", node->fullname);
        return NULL;
    }
    node->name = strrchr(node->fullname, '.') != NULL
                     ? strrchr(node->fullname, '.') + 1
                     : node->fullname;

    if (aliases == NULL)
        return node;
    own_namespace = fullname_namespace(node->fullname);
    if (own_namespace == NULL) {
        parser_fail(parser, "out of memory");
        return NULL;
    }
    if (string_array_copy(parser, aliases, "\"aliases\"", own_namespace,
                          &node->aliases, &node->alias_count) != 0)
        node = NULL;
    free(own_namespace);
    return node;
}

static int field_find(const struct schema_node *record, const char *name)
{
    for (size_t i = 0; i < record->field_count; i++) {
        if (strcmp(record->fields[i].name, name) == 0)
            return 1;
    }
    return 0;
}

static int parse_field(struct parser *parser, const json_t *json,
                       const char *namespace, struct schema_node *record)
{
    struct schema_field *field = &record->fields[record->field_count];
    const char *name;
    const json_t *type = json_object_get(json, "type");
    const json_t *aliases = json_object_get(json, "aliases");

    if (!json_is_object(json)) {
        parser_fail(parser, "fields of %s must be objects", record->fullname);
        return -1;
    }
    name = object_get_string(parser, json, "name", 1);
    if (name == NULL)
        return -1;
    if (!name_is_valid(name, strlen(name))) {
        parser_fail(parser, "invalid field name \"%s\" in %s", name,
                    record->fullname);
        return -1;
    }
    if (field_find(record, name)) {
        parser_fail(parser, "field \"%s\" appears twice in %s", name,
                    record->fullname);
        return -1;
    }
    if (type == NULL) {
        parser_fail(parser, "field \"%s\" of %s has no \"type\"", name,
                    record->fullname);
        return -1;
    }

    field->name = strdup(name);
    if (field->name == NULL) {
        parser_fail(parser, "out of memory");
        return -1;
    }
    record->field_count++;
    if (aliases != NULL &&
        string_array_copy(parser, aliases, "\"aliases\" of a field", NULL,
                          &field->aliases, &field->alias_count) != 0)
        return -1;
    field->default_value = json_object_get(json, "default");
    field->type = parse_type(parser, type, namespace);
    return field->type != NULL ? 0 : -1;
}

static const struct schema_node *
parse_record(struct parser *parser, const json_t *json, const char *namespace)
{
    struct schema_node *node =
        parse_named(parser, json, SCHEMA_RECORD, namespace);
    const json_t *fields = json_object_get(json, "fields");
    char *own_namespace;
    int status = 0;

    if (node == NULL)
        return NULL;
    if (!json_is_array(fields)) {
        parser_fail(parser, "record %s must have a \"fields\" array",
                    node->fullname);
        return NULL;
    }
    node->fields = calloc(json_array_size(fields) + 1, sizeof(*node->fields));
    own_namespace = fullname_namespace(node->fullname);
    if (node->fields == NULL || own_namespace == NULL) {
        free(own_namespace);
        parser_fail(parser, "out of memory");
        return NULL;
    }

    for (size_t i = 0; i < json_array_size(fields) && status == 0; i++)
        status =
            parse_field(parser, json_array_get(fields, i), own_namespace, node);
    free(own_namespace);
    if (status != 0)
        return NULL;

    node_set_min_encoded_size(node);
    return node;
}

static int symbol_find(const struct schema_node *node, const char *symbol,
                       size_t *index)
{
    for (size_t i = 0; i < node->symbol_count; i++) {
        if (strcmp(node->symbols[i], symbol) == 0) {
            *index = i;
            return 0;
        }
    }
    return -1;
}

static const struct schema_node *
parse_enum(struct parser *parser, const json_t *json, const char *namespace)
{
    struct schema_node *node =
        parse_named(parser, json, SCHEMA_ENUM, namespace);
    const json_t *symbols = json_object_get(json, "symbols");
    const json_t *default_symbol = json_object_get(json, "default");
    size_t index;

    if (node == NULL)
        return NULL;
    if (symbols == NULL) {
        parser_fail(parser, "enum %s has no \"symbols\"", node->fullname);
        return NULL;
    }
    if (string_array_copy(parser, symbols, "\"symbols\"", NULL, &node->symbols,
                          &node->symbol_count) != 0)
        return NULL;

    for (size_t i = 0; i < node->symbol_count; i++) {
        const char *symbol = node->symbols[i];

        if (!name_is_valid(symbol, strlen(symbol))) {
            parser_fail(parser, "invalid symbol \"%s\" in enum %s", symbol,
                        node->fullname);
            return NULL;
        }
        if (symbol_find(node, symbol, &index) == 0 && index != i) {
            parser_fail(parser, "symbol %s appears twice in enum %s", symbol,
                        node->fullname);
            return NULL;
        }
    }

    if (default_symbol != NULL) {
        if (!json_is_string(default_symbol) ||
            symbol_find(node, json_string_value(default_symbol), &index) != 0) {
            parser_fail(parser,
                        "the default of enum %s is not one of its "
                        "symbols",
                        node->fullname);
            return NULL;
        }
        node->has_default_symbol = 1;
        node->default_symbol = index;
    }

    node_set_min_encoded_size(node);
    return node;
}

static const struct schema_node *
parse_fixed(struct parser *parser, const json_t *json, const char *namespace)
{
    struct schema_node *node =
        parse_named(parser, json, SCHEMA_FIXED, namespace);
    const json_t *size = json_object_get(json, "size");

    if (node == NULL)
        return NULL;
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        json_integer_value(size) > INT32_MAX) {
        parser_fail(parser, "fixed %s needs a \"size\" from 0 to %d",
                    node->fullname, INT32_MAX);
        return NULL;
    }
    node->fixed_size = (size_t)json_integer_value(size);
    node_set_min_encoded_size(node);
    return node;
}

static const struct schema_node *parse_container(struct parser *parser,
                                                 const json_t *json,
                                                 enum schema_type type,
                                                 const char *namespace)
{
    const char *key = type == SCHEMA_ARRAY ? "items" : "values";
    const json_t *child = json_object_get(json, key);
    struct schema_node *node;

    if (child == NULL) {
        parser_fail(parser, "%s schema has no \"%s\"", schema_type_name(type),
                    key);
        return NULL;
    }
    node = node_new(parser, type);
    if (node == NULL)
        return NULL;
    node->items = parse_type(parser, child, namespace);
    if (node->items == NULL)
        return NULL;
    node_set_min_encoded_size(node);
    return node;
}

/* Two branches of a union may not have the same type, unless both are named
 * types with different names. */
static int branches_conflict(const struct schema_node *a,
                             const struct schema_node *b)
{
    if (a->type != b->type)
        return 0;
    if (a->fullname == NULL || b->fullname == NULL)
        return 1;
    return strcmp(a->fullname, b->fullname) == 0;
}

static const struct schema_node *
parse_union(struct parser *parser, const json_t *json, const char *namespace)
{
    struct schema_node *node = node_new(parser, SCHEMA_UNION);
    size_t size = json_array_size(json);

    if (node == NULL)
        return NULL;
    node->branches = calloc(size ? size : 1, sizeof(*node->branches));
    if (node->branches == NULL) {
        parser_fail(parser, "out of memory");
        return NULL;
    }

    for (size_t i = 0; i < size; i++) {
        const struct schema_node *branch =
            parse_type(parser, json_array_get(json, i), namespace);

        if (branch == NULL)
            return NULL;
        if (branch->type == SCHEMA_UNION) {
            parser_fail(parser, "a union may not contain a union");
            return NULL;
        }
        for (size_t j = 0; j < i; j++) {
            if (branches_conflict(node->branches[j], branch)) {
                parser_fail(parser, "a union contains %s twice",
                            branch->fullname != NULL
                                ? branch->fullname
                                : schema_type_name(branch->type));
                return NULL;
            }
        }
        node->branches[i] = branch;
        node->branch_count = i + 1;
    }

    node_set_min_encoded_size(node);
    return node;
}

static const struct schema_node *
parse_object(struct parser *parser, const json_t *json, const char *namespace)
{
    const char *type = object_get_string(parser, json, "type", 1);

    if (type == NULL)
        return NULL;
    if (strcmp(type, "record") == 0)
        return parse_record(parser, json, namespace);
    if (strcmp(type, "enum") == 0)
        return parse_enum(parser, json, namespace);
    if (strcmp(type, "fixed") == 0)
        return parse_fixed(parser, json, namespace);
    if (strcmp(type, "array") == 0)
        return parse_container(parser, json, SCHEMA_ARRAY, namespace);
    if (strcmp(type, "map") == 0)
        return parse_container(parser, json, SCHEMA_MAP, namespace);
    if (strcmp(type, "error") == 0) {
        parser_fail(parser, "type \"error\" is valid only in a protocol");
        return NULL;
    }
    /* A primitive type with attributes such as logicalType, or a name. */
    return parse_type_name(parser, type, namespace);
}

static const struct schema_node *
parse_type(struct parser *parser, const json_t *json, const char *namespace)
{
    const struct schema_node *node = NULL;

    if (parser->depth >= SCHEMA_MAX_DEPTH) {
        parser_fail(parser, "types are nested deeper than %d levels",
                    SCHEMA_MAX_DEPTH);
        return NULL;
    }
    parser->depth++;

    if (json_is_string(json))
        node = parse_type_name(parser, json_string_value(json), namespace);
    else if (json_is_object(json))
        node = parse_object(parser, json, namespace);
    else if (json_is_array(json))
        node = parse_union(parser, json, namespace);
    else
        parser_fail(parser,
                    "a schema must be a string, an object or an "
                    "array, not %s",
                    json_type_name(json));

    parser->depth--;
    return node;
}

/* Decodes one UTF-8 sequence of a string that jansson has validated. */
static uint32_t utf8_next(const unsigned char **cursor)
{
    const unsigned char *s = *cursor;
    uint32_t code;
    int extra;

    if (s[0] < 0x80) {
        code = s[0];
        extra = 0;
    } else if (s[0] < 0xe0) {
        code = s[0] & 0x1f;
        extra = 1;
    } else if (s[0] < 0xf0) {
        code = s[0] & 0x0f;
        extra = 2;
    } else {
        code = s[0] & 0x07;
        extra = 3;
    }
    for (int i = 1; i <= extra; i++)
        code = (code << 6) | (s[i] & 0x3f);
    *cursor = s + 1 + extra;
    return code;
}

/* Returns the byte count of a bytes or fixed default, whose characters are
 * the bytes 0-255, or -1 when a character is above 255. */
static long default_byte_count(const json_t *json)
{
    const unsigned char *cursor =
        (const unsigned char *)json_string_value(json);
    const unsigned char *end = cursor + json_string_length(json);
    long count = 0;

    while (cursor < end) {
        if (utf8_next(&cursor) > 0xff)
            return -1;
        count++;
    }
    return count;
}

static int default_matches(const json_t *json, const struct schema_node *node,
                           unsigned depth);

static int record_default_matches(const json_t *json,
                                  const struct schema_node *node,
                                  unsigned depth)
{
    if (!json_is_object(json))
        return 0;
    for (size_t i = 0; i < node->field_count; i++) {
        const struct schema_field *field = &node->fields[i];
        const json_t *value = json_object_get(json, field->name);

        if (value == NULL && field->default_value == NULL)
            return 0;
        if (value != NULL && !default_matches(value, field->type, depth + 1))
            return 0;
    }
    return 1;
}

static int default_matches(const json_t *json, const struct schema_node *node,
                           unsigned depth)
{
    size_t index;
    const char *key;
    const json_t *value;

    /* Schema JSON is trusted, but a recursive record type with a deep
     * default must still not exhaust the stack. */
    if (depth > SCHEMA_MAX_DEPTH)
        return 0;

    switch (node->type) {
    case SCHEMA_NULL:
        return json_is_null(json);
    case SCHEMA_BOOLEAN:
        return json_is_boolean(json);
    case SCHEMA_INT:
        return json_is_integer(json) && json_integer_value(json) >= INT32_MIN &&
               json_integer_value(json) <= INT32_MAX;
    case SCHEMA_LONG:
        return json_is_integer(json);
    case SCHEMA_FLOAT:
    case SCHEMA_DOUBLE:
        return json_is_number(json);
    case SCHEMA_STRING:
        return json_is_string(json);
    case SCHEMA_BYTES:
        return json_is_string(json) && default_byte_count(json) >= 0;
    case SCHEMA_FIXED:
        return json_is_string(json) &&
               default_byte_count(json) == (long)node->fixed_size;
    case SCHEMA_ENUM:
        return json_is_string(json) &&
               symbol_find(node, json_string_value(json), &index) == 0;
    case SCHEMA_UNION:
        /* A union's default is a value of its first branch. */
        return node->branch_count > 0 &&
               default_matches(json, node->branches[0], depth + 1);
    case SCHEMA_ARRAY:
        if (!json_is_array(json))
            return 0;
        for (size_t i = 0; i < json_array_size(json); i++) {
            if (!default_matches(json_array_get(json, i), node->items,
                                 depth + 1))
                return 0;
        }
        return 1;
    case SCHEMA_MAP:
        if (!json_is_object(json))
            return 0;
        json_object_foreach((json_t *)json, key, value)
        {
            if (!default_matches(value, node->items, depth + 1))
                return 0;
        }
        return 1;
    case SCHEMA_RECORD:
        return record_default_matches(json, node, depth);
    }
    return 0;
}

static int defaults_check(struct parser *parser)
{
    const struct schema *schema = parser->schema;

    for (size_t i = 0; i < schema->node_count; i++) {
        const struct schema_node *node = schema->nodes[i];

        for (size_t j = 0; j < node->field_count; j++) {
            const struct schema_field *field = &node->fields[j];

            if (field->default_value != NULL &&
                !default_matches(field->default_value, field->type, 0)) {
                parser_fail(parser,
                            "the default of field %s.%s does not "
                            "match its type",
                            node->fullname, field->name);
                return -1;
            }
        }
    }
    return 0;
}

struct text {
    char *data;
    size_t length;
    size_t capacity;
    int failed;
};

static void text_append(struct text *text, const char *piece)
{
    size_t length = strlen(piece);

    if (text->failed)
        return;
    if (text->length + length + 1 > text->capacity) {
        size_t capacity = text->capacity ? text->capacity : 256;
        char *data;

        while (text->length + length + 1 > capacity)
            capacity *= 2;
        data = realloc(text->data, capacity);
        if (data == NULL) {
            text->failed = 1;
            return;
        }
        text->data = data;
        text->capacity = capacity;
    }
    memcpy(text->data + text->length, piece, length + 1);
    text->length += length;
}

/* Appends "piece" in quotes. Names and symbols are checked to contain only
 * letters, digits, '_' and '.', so nothing needs escaping. */
static void text_append_quoted(struct text *text, const char *piece)
{
    text_append(text, "\"");
    text_append(text, piece);
    text_append(text, "\"");
}

/* The canonical form being built, and the named types already written in
 * full, whose later uses write only the name. */
struct canonical_writer {
    struct text text;
    const struct schema_node **written;
    size_t written_count;
};

static int canonical_seen(struct canonical_writer *writer,
                          const struct schema_node *node)
{
    for (size_t i = 0; i < writer->written_count; i++) {
        if (writer->written[i] == node)
            return 1;
    }
    writer->written[writer->written_count++] = node;
    return 0;
}

static void canonical_write(struct canonical_writer *writer,
                            const struct schema_node *node);

static void canonical_write_named(struct canonical_writer *writer,
                                  const struct schema_node *node)
{
    struct text *text = &writer->text;
    char size[32];

    text_append(text, "{\"name\":");
    text_append_quoted(text, node->fullname);
    text_append(text, ",\"type\":");
    text_append_quoted(text, schema_type_name(node->type));

    if (node->type == SCHEMA_RECORD) {
        text_append(text, ",\"fields\":[");
        for (size_t i = 0; i < node->field_count; i++) {
            text_append(text, i > 0 ? ",{\"name\":" : "{\"name\":");
            text_append_quoted(text, node->fields[i].name);
            text_append(text, ",\"type\":");
            canonical_write(writer, node->fields[i].type);
            text_append(text, "}");
        }
        text_append(text, "]");
    } else if (node->type == SCHEMA_ENUM) {
        text_append(text, ",\"symbols\":[");
        for (size_t i = 0; i < node->symbol_count; i++) {
            if (i > 0)
                text_append(text, ",");
            text_append_quoted(text, node->symbols[i]);
        }
        text_append(text, "]");
    } else {
        snprintf(size, sizeof(size), ",\"size\":%zu", node->fixed_size);
        text_append(text, size);
    }
    text_append(text, "}");
}

/*
 * Writes the Parsing Canonical Form: full names, only the attributes name,
 * type, fields, symbols, items, values and size in that order, primitive
 * types as bare strings, no whitespace.
 */
static void canonical_write(struct canonical_writer *writer,
                            const struct schema_node *node)
{
    struct text *text = &writer->text;

    switch (node->type) {
    case SCHEMA_RECORD:
    case SCHEMA_ENUM:
    case SCHEMA_FIXED:
        if (canonical_seen(writer, node))
            text_append_quoted(text, node->fullname);
        else
            canonical_write_named(writer, node);
        break;
    case SCHEMA_ARRAY:
        text_append(text, "{\"type\":\"array\",\"items\":");
        canonical_write(writer, node->items);
        text_append(text, "}");
        break;
    case SCHEMA_MAP:
        text_append(text, "{\"type\":\"map\",\"values\":");
        canonical_write(writer, node->items);
        text_append(text, "}");
        break;
    case SCHEMA_UNION:
        text_append(text, "[");
        for (size_t i = 0; i < node->branch_count; i++) {
            if (i > 0)
                text_append(text, ",");
            canonical_write(writer, node->branches[i]);
        }
        text_append(text, "]");
        break;
    default:
        text_append_quoted(text, schema_type_name(node->type));
        break;
    }
}

static int canonical_form_make(struct parser *parser)
{
    struct schema *schema = parser->schema;
    struct canonical_writer writer = {0};

    writer.written = calloc(schema->node_count, sizeof(*writer.written));
    if (writer.written == NULL) {
        parser_fail(parser, "out of memory");
        return -1;
    }
    canonical_write(&writer, schema->root);
    free(writer.written);

    if (writer.text.failed) {
        free(writer.text.data);
        parser_fail(parser, "out of memory");
        return -1;
    }
    schema->canonical_form = writer.text.data;
    schema->fingerprint =
        schema_crc64_avro(writer.text.data, writer.text.length);
    return 0;
}

struct schema *schema_parse(const char *json, size_t json_size, unsigned flags,
                            char *errbuf, size_t errbuf_size)
{
    struct parser parser = {0};
    json_error_t error;

    parser.flags = flags;
    parser.errbuf = errbuf;
    parser.errbuf_size = errbuf_size;
    parser.schema = calloc(1, sizeof(*parser.schema));
    if (parser.schema == NULL) {
        parser_fail(&parser, "out of memory");
        return NULL;
    }

    parser.schema->document = json_loadb(
        json, json_size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &error);
    if (parser.schema->document == NULL) {
        parser_fail(&parser, "invalid JSON at line %d, column %d: %s",
                    error.line, error.column, error.text);
        goto fail_schema;
    }

    parser.schema->root = parse_type(&parser, parser.schema->document, NULL);
    if (parser.schema->root == NULL)
        goto fail_schema;
    if (!(flags & SCHEMA_PARSE_LAX_DEFAULTS) && defaults_check(&parser) != 0)
        goto fail_schema;
    if (canonical_form_make(&parser) != 0)
        goto fail_schema;
    return parser.schema;

fail_schema:
    schema_free(parser.schema);
    return NULL;
}

static void strings_free(char **strings, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(strings[i]);
    free(strings);
}

static void node_free(struct schema_node *node)
{
    for (size_t i = 0; i < node->field_count; i++) {
        free(node->fields[i].name);
        strings_free(node->fields[i].aliases, node->fields[i].alias_count);
    }
    free(node->fields);
    free(node->fullname);
    strings_free(node->aliases, node->alias_count);
    strings_free(node->symbols, node->symbol_count);
    free(node->branches);
    free(node);
}

void schema_free(struct schema *schema)
{
    if (schema == NULL)
        return;
    for (size_t i = 0; i < schema->node_count; i++)
        node_free(schema->nodes[i]);
    free(schema->nodes);
    free(schema->canonical_form);
    json_decref(schema->document);
    free(schema);
}

const struct schema_node *schema_root(const struct schema *schema)
{
    return schema->root;
}

const char *schema_canonical_form(const struct schema *schema)
{
    return schema->canonical_form;
}

uint64_t schema_fingerprint(const struct schema *schema)
{
    return schema->fingerprint;
}

/* The empty-input value of CRC-64-AVRO, which is also its polynomial in
 * the reflected form that the table below is built from. */
#define CRC64_AVRO_EMPTY UINT64_C(0xc15d213aa4d7a795)

static uint64_t crc64_avro_table[256];
static pthread_once_t crc64_avro_once = PTHREAD_ONCE_INIT;

static void crc64_avro_table_fill(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t entry = i;

        for (int bit = 0; bit < 8; bit++)
            entry = (entry >> 1) ^ (CRC64_AVRO_EMPTY & (0 - (entry & 1)));
        crc64_avro_table[i] = entry;
    }
}

uint64_t schema_crc64_avro(const void *data, size_t size)
{
    const unsigned char *bytes = data;
    uint64_t fingerprint = CRC64_AVRO_EMPTY;

    pthread_once(&crc64_avro_once, crc64_avro_table_fill);
    for (size_t i = 0; i < size; i++) {
        unsigned index = (unsigned)((fingerprint ^ bytes[i]) & 0xff);

        fingerprint = (fingerprint >> 8) ^ crc64_avro_table[index];
    }
    return fingerprint;
}

void schema_frame_header_write(uint64_t fingerprint,
                               unsigned char header[SCHEMA_FRAME_HEADER_SIZE])
{
    header[0] = 0xc3;
    header[1] = 0x01;
    for (int i = 0; i < 8; i++)
        header[2 + i] = (unsigned char)(fingerprint >> (8 * i));
}

int schema_frame_header_read(const void *message, size_t size,
                             uint64_t *fingerprint, char *errbuf,
                             size_t errbuf_size)
{
    const unsigned char *bytes = message;

    if (size < SCHEMA_FRAME_HEADER_SIZE) {
        snprintf(errbuf, errbuf_size,
                 "message of %zu bytes is shorter than the %d-byte Avro "
                 "single-object header",
                 size, SCHEMA_FRAME_HEADER_SIZE);
        return -1;
    }
    if (bytes[0] != 0xc3 || bytes[1] != 0x01) {
        snprintf(errbuf, errbuf_size,
                 "message starts with %02X %02X, not with the Avro "
                 "single-object marker C3 01",
                 bytes[0], bytes[1]);
        return -1;
    }

    *fingerprint = 0;
    for (int i = 0; i < 8; i++)
        *fingerprint |= (uint64_t)bytes[2 + i] << (8 * i);
    return 0;
}
