/*
 * Schema parsing, Parsing Canonical Form, CRC-64-AVRO fingerprints, the
 * single-object header and the schema store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "avro_schema.h"
#include "schema_store.h"

/* One case of the Avro project's schema-tests.txt. */
struct schema_case {
    char id[16];
    char *input;
    char *canonical;
    int has_fingerprint;
    int64_t fingerprint;
};

static char *fixture_path(const char *relative)
{
    const char *root = getenv("IMGASSURE_FIXTURES");
    size_t size;
    char *path;

    if (root == NULL || root[0] == '\0')
        root = "../shared/fixtures";
    size = strlen(root) + 1 + strlen(relative) + 1;
    path = malloc(size);
    assert_non_null(path);
    snprintf(path, size, "%s/%s", root, relative);
    return path;
}

static char *text_append(char *text, const char *piece)
{
    size_t old = text != NULL ? strlen(text) : 0;
    char *grown = realloc(text, old + strlen(piece) + 1);

    assert_non_null(grown);
    strcpy(grown + old, piece);
    return grown;
}

static void line_trim(char *line)
{
    size_t length = strlen(line);

    while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
        line[--length] = '\0';
}

/*
 * Reads the cases: "// NNN" starts one, "<<INPUT text" or a "<<INPUT" line
 * followed by lines up to "INPUT" gives the schema, "<<canonical" and
 * "<<fingerprint" the expected results. Other "//" lines are comments.
 */
static size_t schema_cases_read(FILE *file, struct schema_case *cases,
                                size_t capacity)
{
    char line[4096];
    size_t count = 0;
    struct schema_case *current = NULL;
    int in_input = 0;

    while (fgets(line, sizeof(line), file) != NULL) {
        line_trim(line);
        if (in_input) {
            if (strcmp(line, "INPUT") == 0)
                in_input = 0;
            else
                current->input =
                    text_append(text_append(current->input, line), "\n");
            continue;
        }
        if (strncmp(line, "// ", 3) == 0 && line[3] >= '0' && line[3] <= '9') {
            assert_true(count < capacity);
            current = &cases[count++];
            memset(current, 0, sizeof(*current));
            snprintf(current->id, sizeof(current->id), "%.15s", line + 3);
        } else if (current == NULL) {
            continue;
        } else if (strcmp(line, "<<INPUT") == 0) {
            in_input = 1;
        } else if (strncmp(line, "<<INPUT ", 8) == 0) {
            current->input = text_append(NULL, line + 8);
        } else if (strncmp(line, "<<canonical ", 12) == 0) {
            current->canonical = text_append(NULL, line + 12);
        } else if (strncmp(line, "<<fingerprint ", 14) == 0) {
            current->has_fingerprint = 1;
            current->fingerprint = strtoll(line + 14, NULL, 10);
        }
    }
    return count;
}

static void matches_every_canonical_form_and_fingerprint(void **state)
{
    struct schema_case cases[128];
    char *path = fixture_path("avro/schema-tests.txt");
    FILE *file = fopen(path, "r");
    size_t count;
    size_t fingerprints = 0;

    (void)state;
    if (file == NULL) {
        printf("skipped: %s is missing; set IMGASSURE_FIXTURES to the "
               "fixtures folder\n",
               path);
        free(path);
        skip();
    }
    count = schema_cases_read(file, cases, sizeof(cases) / sizeof(cases[0]));
    fclose(file);
    free(path);
    assert_true(count >= 30);

    for (size_t i = 0; i < count; i++) {
        struct schema_case *c = &cases[i];
        char errbuf[256] = "";
        struct schema *schema;

        if (c->input == NULL || c->canonical == NULL)
            fail_msg("case %s lacks an input or a canonical form", c->id);
        /* Case 026 gives a boolean field the default "true", a string. */
        schema =
            schema_parse(c->input, strlen(c->input), SCHEMA_PARSE_LAX_DEFAULTS,
                         errbuf, sizeof(errbuf));
        if (schema == NULL)
            fail_msg("case %s does not parse: %s", c->id, errbuf);
        if (strcmp(schema_canonical_form(schema), c->canonical) != 0)
            fail_msg("case %s: canonical form %s, expected %s", c->id,
                     schema_canonical_form(schema), c->canonical);
        if (c->has_fingerprint) {
            fingerprints++;
            if ((int64_t)schema_fingerprint(schema) != c->fingerprint)
                fail_msg("case %s: fingerprint %" PRId64 ", expected %" PRId64,
                         c->id, (int64_t)schema_fingerprint(schema),
                         c->fingerprint);
        }
        schema_free(schema);
        free(c->input);
        free(c->canonical);
    }
    assert_true(fingerprints >= 15);
    printf("checked %zu cases, %zu with fingerprints\n", count, fingerprints);
}

static void canonical_form_parses_to_itself(void **state)
{
    static const char *const inputs[] = {
        "{\"type\":\"record\",\"name\":\"Node\",\"namespace\":\"t\","
        "\"fields\":[{\"name\":\"next\",\"type\":[\"null\",\"Node\"]},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":"
        "{\"type\":\"fixed\",\"name\":\"Id\",\"size\":4}}},"
        "{\"name\":\"ids\",\"type\":{\"type\":\"array\",\"items\":\"Id\"}}]}",
        "[\"null\",{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}]",
    };
    char errbuf[256];

    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        struct schema *first = schema_parse(inputs[i], strlen(inputs[i]), 0,
                                            errbuf, sizeof(errbuf));
        struct schema *second;

        assert_non_null(first);
        second = schema_parse(schema_canonical_form(first),
                              strlen(schema_canonical_form(first)), 0, errbuf,
                              sizeof(errbuf));
        assert_non_null(second);
        assert_string_equal(schema_canonical_form(second),
                            schema_canonical_form(first));
        assert_true(schema_fingerprint(second) == schema_fingerprint(first));
        schema_free(first);
        schema_free(second);
    }
}

static void recursive_type_is_written_once(void **state)
{
    const char *json =
        "{\"type\":\"record\",\"name\":\"List\",\"namespace\":\"x\","
        "\"fields\":[{\"name\":\"head\",\"type\":\"int\"},"
        "{\"name\":\"tail\",\"type\":[\"null\",\"List\"]}]}";
    char errbuf[256];
    struct schema *schema =
        schema_parse(json, strlen(json), 0, errbuf, sizeof(errbuf));

    (void)state;
    assert_non_null(schema);
    assert_string_equal(schema_canonical_form(schema),
                        "{\"name\":\"x.List\",\"type\":\"record\",\"fields\":"
                        "[{\"name\":\"head\",\"type\":\"int\"},"
                        "{\"name\":\"tail\",\"type\":[\"null\",\"x.List\"]}]}");
    assert_ptr_equal(schema_root(schema)->fields[1].type->branches[1],
                     schema_root(schema));
    schema_free(schema);
}

static void crc64_avro_of_empty_input_is_initial_value(void **state)
{
    (void)state;
    assert_true(schema_crc64_avro("", 0) == UINT64_C(0xc15d213aa4d7a795));
}

static void crc64_avro_of_null_schema_matches_java(void **state)
{
    /* The fingerprint of "null" in the Avro project's schema-tests.txt,
     * which Java's direct implementation checks. */
    (void)state;
    assert_true((int64_t)schema_crc64_avro("\"null\"", 6) ==
                INT64_C(7195948357588979594));
}

struct bad_schema {
    const char *json;
    const char *expected; /* a part of the error message */
};

static void rejects_invalid_schemas(void **state)
{
    static const struct bad_schema cases[] = {
        {"{\"type\":", "invalid JSON"},
        {"\"Missing\"", "unknown type \"Missing\""},
        {"42", "not a number"},
        {"{\"name\":\"r\"}", "no \"type\""},
        {"{\"type\":\"record\",\"name\":\"1r\",\"fields\":[]}",
         "invalid type name"},
        {"{\"type\":\"record\",\"name\":\"r\"}", "\"fields\" array"},
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\","
         "\"type\":\"int\"},{\"name\":\"a\",\"type\":\"int\"}]}",
         "appears twice"},
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\"}]}",
         "has no \"type\""},
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a-b\","
         "\"type\":\"int\"}]}",
         "invalid field name"},
        {"[\"int\",[\"null\"]]", "may not contain a union"},
        {"[\"int\",\"int\"]", "contains int twice"},
        {"{\"type\":\"enum\",\"name\":\"e\",\"symbols\":[\"A\",\"A\"]}",
         "appears twice"},
        {"{\"type\":\"enum\",\"name\":\"e\",\"symbols\":[\"A\"],"
         "\"default\":\"B\"}",
         "not one of its symbols"},
        {"{\"type\":\"enum\",\"name\":\"e\",\"symbols\":[\"A B\"]}",
         "invalid symbol"},
        {"{\"type\":\"fixed\",\"name\":\"f\",\"size\":-1}", "\"size\""},
        {"{\"type\":\"array\"}", "no \"items\""},
        {"{\"type\":\"map\"}", "no \"values\""},
        {"{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}",
         "may not be called \"int\""},
        {"[{\"type\":\"fixed\",\"name\":\"f\",\"size\":1},"
         "{\"type\":\"fixed\",\"name\":\"f\",\"size\":2}]",
         "defined twice"},
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\","
         "\"type\":\"int\",\"default\":\"1\"}]}",
         "default of field r.a"},
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\","
         "\"type\":[\"null\",\"int\"],\"default\":1}]}",
         "default of field r.a"},
        {"{\"type\":\"record\",\"name\":\"r\",\"fields\":[{\"name\":\"a\","
         "\"type\":\"int\",\"default\":2147483648}]}",
         "default of field r.a"},
        {"{\"type\":\"error\",\"name\":\"e\",\"fields\":[]}",
         "only in a protocol"},
    };
    char errbuf[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct schema *schema = schema_parse(
            cases[i].json, strlen(cases[i].json), 0, errbuf, sizeof(errbuf));

        if (schema != NULL)
            fail_msg("accepted %s", cases[i].json);
        if (strstr(errbuf, cases[i].expected) == NULL)
            fail_msg("%s: error \"%s\" lacks \"%s\"", cases[i].json, errbuf,
                     cases[i].expected);
    }
}

/* Nests arrays depth times around "int". */
static char *nested_arrays(int depth)
{
    char *json = NULL;

    for (int i = 0; i < depth; i++)
        json = text_append(json, "{\"type\":\"array\",\"items\":");
    json = text_append(json, "\"int\"");
    for (int i = 0; i < depth; i++)
        json = text_append(json, "}");
    return json;
}

static void rejects_types_nested_beyond_cap(void **state)
{
    char errbuf[256];
    char *deepest = nested_arrays(SCHEMA_MAX_DEPTH - 1);
    char *too_deep = nested_arrays(SCHEMA_MAX_DEPTH);
    struct schema *schema;

    (void)state;
    schema = schema_parse(deepest, strlen(deepest), 0, errbuf, sizeof(errbuf));
    assert_non_null(schema);
    schema_free(schema);

    schema =
        schema_parse(too_deep, strlen(too_deep), 0, errbuf, sizeof(errbuf));
    assert_null(schema);
    assert_non_null(strstr(errbuf, "nested deeper than"));
    free(deepest);
    free(too_deep);
}

static void resolves_short_names_in_enclosing_namespace(void **state)
{
    const char *json =
        "{\"type\":\"record\",\"name\":\"Outer\",\"namespace\":\"a.b\","
        "\"fields\":["
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
        "\"symbols\":[\"X\"]}},"
        "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
        "\"namespace\":\"\",\"size\":1}},"
        "{\"name\":\"g\",\"type\":\"E\"},"
        "{\"name\":\"h\",\"type\":\"F\"},"
        "{\"name\":\"i\",\"type\":\"a.b.E\"}]}";
    char errbuf[256];
    struct schema *schema =
        schema_parse(json, strlen(json), 0, errbuf, sizeof(errbuf));
    const struct schema_node *root;

    (void)state;
    if (schema == NULL)
        fail_msg("%s", errbuf);
    root = schema_root(schema);
    assert_string_equal(root->fields[0].type->fullname, "a.b.E");
    assert_string_equal(root->fields[1].type->fullname, "F");
    assert_ptr_equal(root->fields[2].type, root->fields[0].type);
    assert_ptr_equal(root->fields[3].type, root->fields[1].type);
    assert_ptr_equal(root->fields[4].type, root->fields[0].type);
    schema_free(schema);
}

static void header_is_marker_and_little_endian_fingerprint(void **state)
{
    unsigned char header[SCHEMA_FRAME_HEADER_SIZE];
    const unsigned char expected[] = {0xc3, 0x01, 0x08, 0x07, 0x06,
                                      0x05, 0x04, 0x03, 0x02, 0x01};
    uint64_t fingerprint = 0;
    char errbuf[256];

    (void)state;
    schema_frame_header_write(UINT64_C(0x0102030405060708), header);
    assert_memory_equal(header, expected, sizeof(expected));
    assert_int_equal(schema_frame_header_read(header, sizeof(header),
                                              &fingerprint, errbuf,
                                              sizeof(errbuf)),
                     0);
    assert_true(fingerprint == UINT64_C(0x0102030405060708));
}

static void header_rejects_short_message(void **state)
{
    const unsigned char message[] = {0xc3, 0x01, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x00};
    uint64_t fingerprint;
    char errbuf[256];

    (void)state;
    assert_int_equal(schema_frame_header_read(message, sizeof(message),
                                              &fingerprint, errbuf,
                                              sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "message of 9 bytes is shorter"));
}

static void header_rejects_bad_marker(void **state)
{
    const unsigned char message[] = {0xc3, 0x02, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x00, 0x00};
    uint64_t fingerprint;
    char errbuf[256];

    (void)state;
    assert_int_equal(schema_frame_header_read(message, sizeof(message),
                                              &fingerprint, errbuf,
                                              sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "starts with C3 02"));
}

/* Fails unless every record, enum and field of the schema has a "doc". */
static void docs_check(const char *name, const json_t *json)
{
    const char *type;
    const json_t *fields;

    if (json_is_array(json)) {
        for (size_t i = 0; i < json_array_size(json); i++)
            docs_check(name, json_array_get(json, i));
        return;
    }
    if (!json_is_object(json))
        return;
    type = json_string_value(json_object_get(json, "type"));
    if (type != NULL &&
        (strcmp(type, "record") == 0 || strcmp(type, "enum") == 0) &&
        !json_is_string(json_object_get(json, "doc")))
        fail_msg("%s: %s %s has no doc", name, type,
                 json_string_value(json_object_get(json, "name")));
    if (type != NULL && strcmp(type, "enum") == 0 &&
        !json_is_string(json_object_get(json, "default")))
        fail_msg("%s: enum %s has no default symbol", name,
                 json_string_value(json_object_get(json, "name")));

    fields = json_object_get(json, "fields");
    for (size_t i = 0; i < json_array_size(fields); i++) {
        const json_t *field = json_array_get(fields, i);

        if (!json_is_string(json_object_get(field, "doc")))
            fail_msg("%s: field %s has no doc", name,
                     json_string_value(json_object_get(field, "name")));
        docs_check(name, json_object_get(field, "type"));
    }
    docs_check(name, json_object_get(json, "items"));
    docs_check(name, json_object_get(json, "values"));
}

static void embedded_schemas_document_every_field(void **state)
{
    (void)state;
    assert_true(embedded_schema_count >= 4);
    for (size_t i = 0; i < embedded_schema_count; i++) {
        json_error_t error;
        json_t *json = json_loads(embedded_schemas[i].json, 0, &error);

        if (json == NULL)
            fail_msg("%s: %s", embedded_schemas[i].name, error.text);
        docs_check(embedded_schemas[i].name, json);
        json_decref(json);
    }
}

static void store_holds_every_embedded_version(void **state)
{
    static const char *const families[] = {"ImageSeen", "ScanRequest",
                                           "ScanResult", "ImageRemoved"};
    const struct schema_version *version;
    const struct schema_version *found;
    char errbuf[512];

    (void)state;
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        if (schema_store_current(families[i], &version, errbuf,
                                 sizeof(errbuf)) != 0)
            fail_msg("%s", errbuf);
        assert_string_equal(version->family, families[i]);
        assert_true(version->version >= 1);
        assert_string_equal(schema_root(version->schema)->fullname + 13,
                            families[i]);
        assert_int_equal(schema_store_find(version->fingerprint, &found, errbuf,
                                           sizeof(errbuf)),
                         0);
        assert_ptr_equal(found, version);
    }
}

/* Returns the JSON of the "image" field's type in a schema's text, with the
 * namespace it inherits made explicit so that it parses alone. */
static char *image_location_json(const char *schema_json)
{
    json_error_t error;
    json_t *document = json_loads(schema_json, 0, &error);
    json_t *fields = json_object_get(document, "fields");
    char *json = NULL;

    for (size_t i = 0; i < json_array_size(fields); i++) {
        json_t *field = json_array_get(fields, i);
        json_t *type = json_object_get(field, "type");

        if (strcmp(json_string_value(json_object_get(field, "name")),
                   "image") != 0)
            continue;
        json_object_set_new(type, "namespace", json_string("io.imgassure"));
        json = json_dumps(type, 0);
    }
    json_decref(document);
    return json;
}

/* Every schema defines io.imgassure.ImageLocation, and the copies must
 * agree. */
static void image_location_is_identical_in_every_schema(void **state)
{
    char *first = NULL;
    char errbuf[512];

    (void)state;
    for (size_t i = 0; i < embedded_schema_count; i++) {
        char *json = image_location_json(embedded_schemas[i].json);
        struct schema *location;

        if (json == NULL)
            fail_msg("%s has no image field", embedded_schemas[i].name);
        location = schema_parse(json, strlen(json), 0, errbuf, sizeof(errbuf));
        if (location == NULL)
            fail_msg("%s: %s", embedded_schemas[i].name, errbuf);
        assert_string_equal(schema_root(location)->fullname,
                            "io.imgassure.ImageLocation");
        if (first == NULL)
            first = strdup(schema_canonical_form(location));
        else
            assert_string_equal(schema_canonical_form(location), first);
        schema_free(location);
        free(json);
    }
    free(first);
}

/*
 * Checks that a reader of type reader reads every value of type writer
 * under the rules of schemas/README.md, which are stricter than Avro's
 * resolution. Named types keep their names, and a reader field that the
 * writer lacks has a default. Enums only append symbols and keep a default
 * symbol, unions keep their branches, and other types change only by
 * promotion. Returns 0, or -1 with the path of the first violation in
 * errbuf.
 */
static int evolution_check(const char *path, const struct schema_node *writer,
                           const struct schema_node *reader, unsigned depth,
                           char *errbuf, size_t errbuf_size);

static int promotes_to(enum schema_type from, enum schema_type to)
{
    switch (from) {
    case SCHEMA_INT:
        return to == SCHEMA_LONG || to == SCHEMA_FLOAT || to == SCHEMA_DOUBLE;
    case SCHEMA_LONG:
        return to == SCHEMA_FLOAT || to == SCHEMA_DOUBLE;
    case SCHEMA_FLOAT:
        return to == SCHEMA_DOUBLE;
    case SCHEMA_STRING:
        return to == SCHEMA_BYTES;
    case SCHEMA_BYTES:
        return to == SCHEMA_STRING;
    default:
        return 0;
    }
}

static const struct schema_field *field_find(const struct schema_node *record,
                                             const struct schema_field *wanted)
{
    for (size_t i = 0; i < record->field_count; i++) {
        if (strcmp(record->fields[i].name, wanted->name) == 0)
            return &record->fields[i];
    }
    for (size_t i = 0; i < record->field_count; i++) {
        for (size_t k = 0; k < wanted->alias_count; k++) {
            if (strcmp(record->fields[i].name, wanted->aliases[k]) == 0)
                return &record->fields[i];
        }
    }
    return NULL;
}

static int record_evolution_check(const char *path,
                                  const struct schema_node *writer,
                                  const struct schema_node *reader,
                                  unsigned depth, char *errbuf,
                                  size_t errbuf_size)
{
    for (size_t i = 0; i < reader->field_count; i++) {
        const struct schema_field *field = &reader->fields[i];
        const struct schema_field *old = field_find(writer, field);
        char field_path[256];

        snprintf(field_path, sizeof(field_path), "%s.%s", path, field->name);
        if (old == NULL && field->default_value == NULL) {
            snprintf(errbuf, errbuf_size, "%s is new and has no default",
                     field_path);
            return -1;
        }
        if (old != NULL && evolution_check(field_path, old->type, field->type,
                                           depth + 1, errbuf, errbuf_size) != 0)
            return -1;
    }
    return 0;
}

static int enum_evolution_check(const char *path,
                                const struct schema_node *writer,
                                const struct schema_node *reader, char *errbuf,
                                size_t errbuf_size)
{
    if (!reader->has_default_symbol) {
        snprintf(errbuf, errbuf_size, "%s: enum %s has no default symbol", path,
                 reader->fullname);
        return -1;
    }
    for (size_t i = 0; i < writer->symbol_count; i++) {
        if (i >= reader->symbol_count ||
            strcmp(writer->symbols[i], reader->symbols[i]) != 0) {
            snprintf(errbuf, errbuf_size,
                     "%s: symbol %zu of enum %s was %s, so symbols were not "
                     "only appended",
                     path, i, reader->fullname, writer->symbols[i]);
            return -1;
        }
    }
    return 0;
}

static int evolution_check(const char *path, const struct schema_node *writer,
                           const struct schema_node *reader, unsigned depth,
                           char *errbuf, size_t errbuf_size)
{
    if (depth > SCHEMA_MAX_DEPTH)
        return 0; /* a recursive type, checked higher up */
    if (writer->type != reader->type) {
        if (promotes_to(writer->type, reader->type))
            return 0;
        snprintf(errbuf, errbuf_size, "%s changed its type", path);
        return -1;
    }
    if (reader->fullname != NULL &&
        strcmp(writer->fullname, reader->fullname) != 0) {
        snprintf(errbuf, errbuf_size, "%s: %s was renamed to %s", path,
                 writer->fullname, reader->fullname);
        return -1;
    }

    switch (reader->type) {
    case SCHEMA_RECORD:
        return record_evolution_check(path, writer, reader, depth, errbuf,
                                      errbuf_size);
    case SCHEMA_ENUM:
        return enum_evolution_check(path, writer, reader, errbuf, errbuf_size);
    case SCHEMA_ARRAY:
    case SCHEMA_MAP:
        return evolution_check(path, writer->items, reader->items, depth + 1,
                               errbuf, errbuf_size);
    case SCHEMA_UNION:
        if (writer->branch_count != reader->branch_count) {
            snprintf(errbuf, errbuf_size, "%s: the union's branches changed",
                     path);
            return -1;
        }
        for (size_t i = 0; i < reader->branch_count; i++) {
            if (evolution_check(path, writer->branches[i], reader->branches[i],
                                depth + 1, errbuf, errbuf_size) != 0)
                return -1;
        }
        return 0;
    case SCHEMA_FIXED:
        if (writer->fixed_size != reader->fixed_size) {
            snprintf(errbuf, errbuf_size, "%s: the fixed size changed", path);
            return -1;
        }
        return 0;
    default:
        return 0;
    }
}

/* Parses an embedded schema and sets its family and version number. */
static struct schema *embedded_parse(size_t index, char *family,
                                     size_t family_size, unsigned *version)
{
    const char *name = embedded_schemas[index].name;
    const char *suffix = strrchr(name, '.');
    struct schema *schema;
    char errbuf[512];

    assert_non_null(suffix);
    assert_int_equal(suffix[1], 'v');
    snprintf(family, family_size, "%.*s", (int)(suffix - name), name);
    *version = (unsigned)strtoul(suffix + 2, NULL, 10);
    schema = schema_parse(embedded_schemas[index].json,
                          strlen(embedded_schemas[index].json), 0, errbuf,
                          sizeof(errbuf));
    if (schema == NULL)
        fail_msg("%s: %s", name, errbuf);
    return schema;
}

/* Every version of an event reads all its older versions. */
static void embedded_versions_follow_evolution_rules(void **state)
{
    size_t pairs = 0;

    (void)state;
    for (size_t newest = 0; newest < embedded_schema_count; newest++) {
        char family[64];
        unsigned version;
        struct schema *reader =
            embedded_parse(newest, family, sizeof(family), &version);

        for (size_t older = 0; older < embedded_schema_count; older++) {
            char older_family[64];
            unsigned older_version;
            struct schema *writer = embedded_parse(
                older, older_family, sizeof(older_family), &older_version);
            char errbuf[512];

            if (strcmp(family, older_family) == 0 && older_version < version) {
                if (evolution_check(family, schema_root(writer),
                                    schema_root(reader), 0, errbuf,
                                    sizeof(errbuf)) != 0)
                    fail_msg("%s read as %s: %s", embedded_schemas[older].name,
                             embedded_schemas[newest].name, errbuf);
                pairs++;
            }
            schema_free(writer);
        }
        schema_free(reader);
    }
    /* At least ScanResult.v1 read as ScanResult.v2. */
    assert_true(pairs >= 1);
}

/* The evolution check itself rejects each kind of breaking change. */
static void evolution_check_rejects_breaking_changes(void **state)
{
    static const struct {
        const char *writer;
        const char *reader;
        const char *expected;
    } cases[] = {
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
         "{\"name\":\"a\",\"type\":\"int\"}]}",
         "R.a is new and has no default"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":["
         "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
         "\"symbols\":[\"A\",\"B\"],\"default\":\"A\"}}]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
         "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
         "\"symbols\":[\"A\",\"C\",\"B\"],\"default\":\"A\"}}]}",
         "R.e: symbol 1 of enum E was B"},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}",
         "enum E has no default symbol"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":["
         "{\"name\":\"a\",\"type\":\"long\"}]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
         "{\"name\":\"a\",\"type\":\"int\"}]}",
         "R.a changed its type"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":["
         "{\"name\":\"a\",\"type\":[\"null\",\"int\"]}]}",
         "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
         "{\"name\":\"a\",\"type\":[\"null\",\"int\",\"string\"]}]}",
         "R.a: the union's branches changed"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}",
         "{\"type\":\"record\",\"name\":\"S\",\"fields\":[]}",
         "R: R was renamed to S"},
    };
    char errbuf[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct schema *writer =
            schema_parse(cases[i].writer, strlen(cases[i].writer), 0, errbuf,
                         sizeof(errbuf));
        struct schema *reader =
            schema_parse(cases[i].reader, strlen(cases[i].reader), 0, errbuf,
                         sizeof(errbuf));

        assert_non_null(writer);
        assert_non_null(reader);
        errbuf[0] = '\0';
        assert_int_equal(evolution_check("R", schema_root(writer),
                                         schema_root(reader), 0, errbuf,
                                         sizeof(errbuf)),
                         -1);
        if (strstr(errbuf, cases[i].expected) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, errbuf,
                     cases[i].expected);
        schema_free(writer);
        schema_free(reader);
    }
}

static void evolution_check_accepts_promotion_and_defaults(void **state)
{
    static const char *const original =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"int\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
        "\"symbols\":[\"A\"],\"default\":\"A\"}}]}";
    static const char *const evolved =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"long\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
        "\"symbols\":[\"A\",\"B\"],\"default\":\"A\"}},"
        "{\"name\":\"b\",\"type\":\"int\",\"default\":0}]}";
    struct schema *writer;
    struct schema *reader;
    char errbuf[512];

    (void)state;
    writer =
        schema_parse(original, strlen(original), 0, errbuf, sizeof(errbuf));
    reader = schema_parse(evolved, strlen(evolved), 0, errbuf, sizeof(errbuf));
    assert_non_null(writer);
    assert_non_null(reader);
    if (evolution_check("R", schema_root(writer), schema_root(reader), 0,
                        errbuf, sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    schema_free(writer);
    schema_free(reader);
}

static void store_add_rejects_bad_versions(void **state)
{
    static const struct {
        const char *name;
        const char *json;
        const char *expected;
    } cases[] = {
        {"StoreTest",
         "{\"type\":\"record\",\"name\":\"StoreTest\","
         "\"fields\":[]}",
         "is not <Family>.v<N>"},
        {"StoreTest.vx",
         "{\"type\":\"record\",\"name\":\"StoreTest\","
         "\"fields\":[]}",
         "is not <Family>.v<N>"},
        {"StoreTest.v1",
         "{\"type\":\"record\",\"name\":\"Other\","
         "\"fields\":[]}",
         "must be a record named StoreTest"},
        {"StoreTest.v1", "\"int\"", "must be a record named StoreTest"},
        {"StoreTest.v1", "{\"type\":\"record\",\"name\":\"StoreTest\"}",
         "\"fields\" array"},
    };
    char errbuf[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct schema_version *version;

        assert_int_equal(schema_store_add(cases[i].name, cases[i].json,
                                          strlen(cases[i].json), &version,
                                          errbuf, sizeof(errbuf)),
                         -1);
        assert_null(version);
        if (strstr(errbuf, cases[i].expected) == NULL)
            fail_msg("%s: error \"%s\" lacks \"%s\"", cases[i].name, errbuf,
                     cases[i].expected);
    }
}

static void store_add_rejects_duplicates(void **state)
{
    const char *v1 = "{\"type\":\"record\",\"name\":\"Twin\",\"fields\":"
                     "[{\"name\":\"a\",\"type\":\"int\"}]}";
    const char *v2 = "{\"type\":\"record\",\"name\":\"Twin\",\"doc\":\"x\","
                     "\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}";
    const char *v3 = "{\"type\":\"record\",\"name\":\"Twin\",\"fields\":"
                     "[{\"name\":\"a\",\"type\":\"long\"}]}";
    const struct schema_version *version;
    const struct schema_version *current;
    char errbuf[512];

    (void)state;
    assert_int_equal(schema_store_add("Twin.v1", v1, strlen(v1), &version,
                                      errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(schema_store_add("Twin.v01", v3, strlen(v3), &version,
                                      errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "already known as Twin.v1"));
    assert_int_equal(schema_store_add("Twin.v2", v2, strlen(v2), &version,
                                      errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "same canonical form as Twin.v1"));

    assert_int_equal(schema_store_add("Twin.v3", v3, strlen(v3), &version,
                                      errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(
        schema_store_current("Twin", &current, errbuf, sizeof(errbuf)), 0);
    assert_ptr_equal(current, version);
}

static void store_reports_unknown_fingerprint_and_family(void **state)
{
    const struct schema_version *version;
    char errbuf[512];

    (void)state;
    assert_int_equal(schema_store_find(UINT64_C(0x1122334455667788), &version,
                                       errbuf, sizeof(errbuf)),
                     -1);
    assert_null(version);
    assert_non_null(
        strstr(errbuf, "unknown writer schema fingerprint 1122334455667788"));
    assert_int_equal(
        schema_store_current("NoSuchEvent", &version, errbuf, sizeof(errbuf)),
        -1);
    assert_non_null(strstr(errbuf, "NoSuchEvent"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_every_canonical_form_and_fingerprint),
        cmocka_unit_test(canonical_form_parses_to_itself),
        cmocka_unit_test(recursive_type_is_written_once),
        cmocka_unit_test(crc64_avro_of_empty_input_is_initial_value),
        cmocka_unit_test(crc64_avro_of_null_schema_matches_java),
        cmocka_unit_test(rejects_invalid_schemas),
        cmocka_unit_test(rejects_types_nested_beyond_cap),
        cmocka_unit_test(resolves_short_names_in_enclosing_namespace),
        cmocka_unit_test(header_is_marker_and_little_endian_fingerprint),
        cmocka_unit_test(header_rejects_short_message),
        cmocka_unit_test(header_rejects_bad_marker),
        cmocka_unit_test(embedded_schemas_document_every_field),
        cmocka_unit_test(store_holds_every_embedded_version),
        cmocka_unit_test(image_location_is_identical_in_every_schema),
        cmocka_unit_test(embedded_versions_follow_evolution_rules),
        cmocka_unit_test(evolution_check_rejects_breaking_changes),
        cmocka_unit_test(evolution_check_accepts_promotion_and_defaults),
        cmocka_unit_test(store_add_rejects_bad_versions),
        cmocka_unit_test(store_add_rejects_duplicates),
        cmocka_unit_test(store_reports_unknown_fingerprint_and_family),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
