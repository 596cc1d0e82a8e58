/*
 * The datum decoder on hand-built binary datums: Avro schema resolution
 * (promotion, enums, unions, defaults, skipped fields, aliases) and the
 * checks and caps that hostile datums meet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "avro_datum.h"
#include "avro_schema.h"

/* A growable byte string holding a datum built by hand. */
struct bytes {
    unsigned char data[4096];
    size_t size;
};

static void put_raw(struct bytes *bytes, const void *data, size_t size)
{
    assert_true(bytes->size + size <= sizeof(bytes->data));
    memcpy(bytes->data + bytes->size, data, size);
    bytes->size += size;
}

/* Appends an Avro int or long: zig-zag, then 7 bits a byte. */
static void put_long(struct bytes *bytes, int64_t value)
{
    uint64_t bits = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    unsigned char byte;

    do {
        byte = bits & 0x7f;
        bits >>= 7;
        if (bits != 0)
            byte |= 0x80;
        put_raw(bytes, &byte, 1);
    } while (bits != 0);
}

static void put_string(struct bytes *bytes, const char *text)
{
    put_long(bytes, (int64_t)strlen(text));
    put_raw(bytes, text, strlen(text));
}

static void put_float(struct bytes *bytes, float value)
{
    unsigned char raw[4];
    uint32_t bits;

    memcpy(&bits, &value, sizeof(bits));
    for (int i = 0; i < 4; i++)
        raw[i] = (unsigned char)(bits >> (8 * i));
    put_raw(bytes, raw, sizeof(raw));
}

static struct schema *parse(const char *json)
{
    char errbuf[256];
    struct schema *schema =
        schema_parse(json, strlen(json), 0, errbuf, sizeof(errbuf));

    if (schema == NULL)
        fail_msg("%s: %s", json, errbuf);
    return schema;
}

/* A decode attempt. The datum points into the reader's nodes, so both
 * schemas live until decoded_free(). */
struct decoded {
    struct schema *writer;
    struct schema *reader;
    struct datum *datum;
    int status;
    char errbuf[256];
};

static void decode(struct decoded *out, const char *writer_json,
                   const char *reader_json, const struct bytes *bytes,
                   const struct datum_limits *limits)
{
    memset(out, 0, sizeof(*out));
    out->writer = parse(writer_json);
    out->reader = parse(reader_json);
    out->status = datum_decode(
        schema_root(out->writer), schema_root(out->reader), bytes->data,
        bytes->size, limits, &out->datum, out->errbuf, sizeof(out->errbuf));
    if (out->status != 0)
        assert_null(out->datum);
}

static void decoded_free(struct decoded *decoded)
{
    datum_free(decoded->datum);
    schema_free(decoded->writer);
    schema_free(decoded->reader);
}

/* Decodes and fails the test with the decoder's message on an error. */
static void decode_ok(struct decoded *out, const char *writer_json,
                      const char *reader_json, const struct bytes *bytes,
                      const struct datum_limits *limits)
{
    decode(out, writer_json, reader_json, bytes, limits);
    if (out->status != 0)
        fail_msg("decode failed: %s", out->errbuf);
}

/* Decodes, expects a failure whose message contains expected, and frees. */
static void decode_fails(const char *writer_json, const char *reader_json,
                         const struct bytes *bytes,
                         const struct datum_limits *limits,
                         const char *expected)
{
    struct decoded decoded;

    decode(&decoded, writer_json, reader_json, bytes, limits);
    if (decoded.status == 0)
        fail_msg("decoded, expected an error with \"%s\"", expected);
    if (strstr(decoded.errbuf, expected) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", decoded.errbuf, expected);
    decoded_free(&decoded);
}

static void promotes_numbers_to_wider_types(void **state)
{
    struct bytes int_bytes = {0};
    struct bytes long_bytes = {0};
    struct bytes float_bytes = {0};
    struct decoded d;

    (void)state;
    put_long(&int_bytes, -7);
    put_long(&long_bytes, INT64_C(1) << 40);
    put_float(&float_bytes, 1.5f);

    decode_ok(&d, "\"int\"", "\"long\"", &int_bytes, NULL);
    assert_true(d.datum->long_value == -7);
    decoded_free(&d);
    decode_ok(&d, "\"int\"", "\"float\"", &int_bytes, NULL);
    assert_true(d.datum->float_value == -7.0f);
    decoded_free(&d);
    decode_ok(&d, "\"int\"", "\"double\"", &int_bytes, NULL);
    assert_true(d.datum->double_value == -7.0);
    decoded_free(&d);
    decode_ok(&d, "\"long\"", "\"double\"", &long_bytes, NULL);
    assert_true(d.datum->double_value == 1099511627776.0);
    decoded_free(&d);
    decode_ok(&d, "\"long\"", "\"float\"", &long_bytes, NULL);
    assert_true(d.datum->float_value == 1099511627776.0f);
    decoded_free(&d);
    decode_ok(&d, "\"float\"", "\"double\"", &float_bytes, NULL);
    assert_true(d.datum->double_value == 1.5);
    decoded_free(&d);
}

static void rejects_narrowing_and_unrelated_types(void **state)
{
    struct bytes bytes = {0};

    (void)state;
    put_long(&bytes, 1);
    decode_fails("\"long\"", "\"int\"", &bytes, NULL,
                 "the writer's long cannot be read as the reader's int");
    decode_fails("\"double\"", "\"float\"", &bytes, NULL,
                 "cannot be read as the reader's float");
    decode_fails("\"int\"", "\"string\"", &bytes, NULL,
                 "cannot be read as the reader's string");
}

static void converts_between_string_and_bytes(void **state)
{
    struct bytes text = {0};
    struct bytes binary = {0};
    struct decoded d;

    (void)state;
    put_string(&text, "caf\xc3\xa9");
    put_long(&binary, 2);
    put_raw(&binary, "\xff\x00", 2);

    decode_ok(&d, "\"string\"", "\"bytes\"", &text, NULL);
    assert_int_equal(d.datum->bytes.size, 5);
    assert_memory_equal(d.datum->bytes.data, "caf\xc3\xa9", 5);
    decoded_free(&d);

    decode_ok(&d, "\"bytes\"", "\"bytes\"", &binary, NULL);
    assert_int_equal(d.datum->bytes.size, 2);
    assert_memory_equal(d.datum->bytes.data, "\xff\x00", 2);
    decoded_free(&d);

    /* Bytes read as a string must still be UTF-8. */
    decode_fails("\"bytes\"", "\"string\"", &binary, NULL,
                 "string is not valid UTF-8");
}

static void resolves_enum_symbols_by_name(void **state)
{
    const char *writer = "{\"type\":\"enum\",\"name\":\"E\","
                         "\"symbols\":[\"A\",\"B\",\"C\"]}";
    const char *reader = "{\"type\":\"enum\",\"name\":\"E\","
                         "\"symbols\":[\"C\",\"A\",\"Z\"],"
                         "\"default\":\"Z\"}";
    const char *strict = "{\"type\":\"enum\",\"name\":\"E\","
                         "\"symbols\":[\"C\",\"A\"]}";
    struct bytes c = {0};
    struct bytes b = {0};
    struct bytes out_of_range = {0};
    struct decoded d;

    (void)state;
    put_long(&c, 2);
    put_long(&b, 1);
    put_long(&out_of_range, 3);

    decode_ok(&d, writer, reader, &c, NULL);
    assert_int_equal(d.datum->symbol, 0);
    decoded_free(&d);

    /* B is not in the reader's symbols: the reader's default Z. */
    decode_ok(&d, writer, reader, &b, NULL);
    assert_string_equal(d.datum->schema->symbols[d.datum->symbol], "Z");
    decoded_free(&d);

    decode_fails(writer, strict, &b, NULL,
                 "symbol B is not in the reader's E, which has no default");
    decode_fails(writer, reader, &out_of_range, NULL,
                 "enum index 3 is not below the 3 symbols of E");
}

static const char *const skip_writer =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
    "{\"name\":\"a\",\"type\":\"int\"},"
    "{\"name\":\"extra\",\"type\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"record\",\"name\":\"X\",\"fields\":["
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
    "\"size\":2}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"double\"]},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"S\","
    "\"symbols\":[\"P\",\"Q\"]}},"
    "{\"name\":\"t\",\"type\":\"boolean\"},"
    "{\"name\":\"g\",\"type\":\"float\"}]}}},"
    "{\"name\":\"b\",\"type\":\"string\"}]}";

static const char *const skip_reader =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
    "{\"name\":\"b\",\"type\":\"string\"},"
    "{\"name\":\"a\",\"type\":\"long\"}]}";

/* One R: a = 5, extra = two X items in two blocks (the second with a
 * byte size), b = "end". */
static void skip_datum_build(struct bytes *bytes)
{
    put_long(bytes, 5);

    put_long(bytes, 1); /* block of one X */
    put_long(bytes, 1); /* m: one entry */
    put_string(bytes, "k");
    put_string(bytes, "v");
    put_long(bytes, 0);
    put_raw(bytes, "\x01\x02", 2);             /* f */
    put_long(bytes, 1);                        /* u: double */
    put_raw(bytes, "\0\0\0\0\0\0\xf0\x3f", 8); /* 1.0 */
    put_long(bytes, 1);                        /* e: Q */
    put_raw(bytes, "\x01", 1);                 /* t */
    put_float(bytes, 2.0f);                    /* g */

    put_long(bytes, -1); /* block of one X, 11 bytes */
    put_long(bytes, 11);
    put_long(bytes, 0);        /* m: empty */
    put_raw(bytes, "ab", 2);   /* f */
    put_long(bytes, 0);        /* u: null */
    put_long(bytes, 0);        /* e: P */
    put_raw(bytes, "\x00", 1); /* t */
    put_float(bytes, 0.5f);    /* g */
    put_long(bytes, 0);        /* end of extra */

    put_string(bytes, "end");
}

static void skips_writer_fields_reader_lacks(void **state)
{
    struct bytes bytes = {0};
    struct decoded d;

    (void)state;
    skip_datum_build(&bytes);
    decode_ok(&d, skip_writer, skip_reader, &bytes, NULL);
    assert_string_equal(datum_field(d.datum, "b")->bytes.data, "end");
    assert_true(datum_field(d.datum, "a")->long_value == 5);
    assert_null(datum_field(d.datum, "extra"));
    decoded_free(&d);
}

static void rejects_every_truncation_of_skipped_fields(void **state)
{
    struct bytes bytes = {0};

    (void)state;
    skip_datum_build(&bytes);
    for (size_t length = 0; length < bytes.size; length++) {
        struct bytes prefix = {0};
        struct decoded d;

        put_raw(&prefix, bytes.data, length);
        decode(&d, skip_writer, skip_reader, &prefix, NULL);
        if (d.status == 0)
            fail_msg("a prefix of %zu of %zu bytes decoded", length,
                     bytes.size);
        decoded_free(&d);
    }
}

static void fills_reader_defaults_of_every_type(void **state)
{
    const char *writer = "{\"type\":\"record\",\"name\":\"R\","
                         "\"fields\":[]}";
    const char *reader =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"n\",\"type\":\"null\",\"default\":null},"
        "{\"name\":\"t\",\"type\":\"boolean\",\"default\":true},"
        "{\"name\":\"i\",\"type\":\"int\",\"default\":-5},"
        "{\"name\":\"l\",\"type\":\"long\",\"default\":1099511627776},"
        "{\"name\":\"f\",\"type\":\"float\",\"default\":1.5},"
        "{\"name\":\"d\",\"type\":\"double\",\"default\":2},"
        "{\"name\":\"b\",\"type\":\"bytes\",\"default\":\"\\u00ff\\u0001\"},"
        "{\"name\":\"s\",\"type\":\"string\",\"default\":\"h\\u00e9\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
        "\"symbols\":[\"A\",\"B\"]},\"default\":\"B\"},"
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"int\"},"
        "\"default\":[1,2]},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"},"
        "\"default\":{\"k\":\"v\"}},"
        "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"S\","
        "\"fields\":[{\"name\":\"x\",\"type\":\"int\"},"
        "{\"name\":\"y\",\"type\":\"int\",\"default\":2}]},"
        "\"default\":{\"x\":1}},"
        "{\"name\":\"u\",\"type\":[\"null\",\"int\"],\"default\":null},"
        "{\"name\":\"v\",\"type\":[\"string\",\"null\"],\"default\":\"s\"},"
        "{\"name\":\"x\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
        "\"size\":2},\"default\":\"ab\"}]}";
    struct bytes bytes = {0};
    struct decoded d;
    const struct datum *r;
    const struct datum *value;

    (void)state;
    decode_ok(&d, writer, reader, &bytes, NULL);
    r = d.datum;
    assert_int_equal(datum_field(r, "n")->schema->type, SCHEMA_NULL);
    assert_int_equal(datum_field(r, "t")->boolean, 1);
    assert_int_equal(datum_field(r, "i")->int_value, -5);
    assert_true(datum_field(r, "l")->long_value == INT64_C(1099511627776));
    assert_true(datum_field(r, "f")->float_value == 1.5f);
    assert_true(datum_field(r, "d")->double_value == 2.0);
    assert_int_equal(datum_field(r, "b")->bytes.size, 2);
    assert_memory_equal(datum_field(r, "b")->bytes.data, "\xff\x01", 2);
    assert_string_equal(datum_field(r, "s")->bytes.data, "h\xc3\xa9");
    assert_int_equal(datum_field(r, "e")->symbol, 1);

    value = datum_field(r, "a");
    assert_int_equal(value->array.count, 2);
    assert_int_equal(value->array.items[1].int_value, 2);
    value = datum_field(r, "m");
    assert_int_equal(value->map.count, 1);
    assert_string_equal(value->map.keys[0], "k");
    assert_string_equal(value->map.values[0].bytes.data, "v");
    value = datum_field(r, "r");
    assert_int_equal(datum_field(value, "x")->int_value, 1);
    assert_int_equal(datum_field(value, "y")->int_value, 2);

    value = datum_field(r, "u");
    assert_int_equal(value->branch.index, 0);
    assert_int_equal(value->branch.value->schema->type, SCHEMA_NULL);
    value = datum_field(r, "v");
    assert_int_equal(value->branch.index, 0);
    assert_string_equal(value->branch.value->bytes.data, "s");
    assert_memory_equal(datum_field(r, "x")->bytes.data, "ab", 2);
    decoded_free(&d);
}

static void rejects_missing_field_without_default(void **state)
{
    struct bytes bytes = {0};

    (void)state;
    decode_fails("{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}",
                 "{\"type\":\"record\",\"name\":\"R\",\"fields\":"
                 "[{\"name\":\"need\",\"type\":\"int\"}]}",
                 &bytes, NULL,
                 "need: the writer's R has no such field and the reader's "
                 "has no default");
}

static void matches_fields_and_records_by_alias(void **state)
{
    const char *writer = "{\"type\":\"record\",\"name\":\"Old\","
                         "\"fields\":[{\"name\":\"before\",\"type\":\"int\"}]}";
    const char *reader = "{\"type\":\"record\",\"name\":\"New\","
                         "\"aliases\":[\"Old\"],\"fields\":["
                         "{\"name\":\"after\",\"aliases\":[\"before\"],"
                         "\"type\":\"int\"}]}";
    const char *unrelated = "{\"type\":\"record\",\"name\":\"New\","
                            "\"fields\":[{\"name\":\"after\","
                            "\"type\":\"int\",\"default\":0}]}";
    struct bytes bytes = {0};
    struct decoded d;

    (void)state;
    put_long(&bytes, 42);
    decode_ok(&d, writer, reader, &bytes, NULL);
    assert_int_equal(datum_field(d.datum, "after")->int_value, 42);
    decoded_free(&d);
    decode_fails(writer, unrelated, &bytes, NULL,
                 "the writer's Old cannot be read as the reader's New");
}

static void resolves_union_branches(void **state)
{
    const char *writer = "[\"null\",\"int\",\"string\"]";
    struct bytes string_branch = {0};
    struct bytes int_branch = {0};
    struct bytes null_branch = {0};
    struct bytes plain_long = {0};
    struct bytes bad_index = {0};
    struct decoded d;

    (void)state;
    put_long(&string_branch, 2);
    put_string(&string_branch, "hi");
    put_long(&int_branch, 1);
    put_long(&int_branch, 9);
    put_long(&null_branch, 0);
    put_long(&plain_long, 3);
    put_long(&bad_index, 3);

    /* Both unions: the reader's branch of the same type. */
    decode_ok(&d, writer, "[\"string\",\"null\"]", &string_branch, NULL);
    assert_int_equal(d.datum->branch.index, 0);
    assert_string_equal(d.datum->branch.value->bytes.data, "hi");
    decoded_free(&d);

    /* Writer union, reader not: the branch must match the reader. */
    decode_ok(&d, writer, "\"long\"", &int_branch, NULL);
    assert_true(d.datum->long_value == 9);
    decoded_free(&d);
    decode_fails(writer, "\"long\"", &null_branch, NULL,
                 "the writer's null cannot be read as the reader's long");

    /* Reader union, writer not: an exact branch wins over a promotion. */
    decode_ok(&d, "\"long\"", "[\"double\",\"long\"]", &plain_long, NULL);
    assert_int_equal(d.datum->branch.index, 1);
    assert_true(d.datum->branch.value->long_value == 3);
    decoded_free(&d);
    decode_ok(&d, "\"long\"", "[\"null\",\"double\"]", &plain_long, NULL);
    assert_int_equal(d.datum->branch.index, 1);
    assert_true(d.datum->branch.value->double_value == 3.0);
    decoded_free(&d);
    decode_fails("\"long\"", "[\"null\",\"string\"]", &plain_long, NULL,
                 "the writer's long matches no branch of the reader's union");

    decode_fails(writer, writer, &bad_index, NULL,
                 "union branch 3 is not below the 3 branches");
}

static void decodes_maps_in_blocks(void **state)
{
    struct bytes bytes = {0};
    struct decoded d;

    (void)state;
    put_long(&bytes, 1);
    put_string(&bytes, "a");
    put_long(&bytes, 1);
    put_long(&bytes, -1);
    put_long(&bytes, 3);
    put_string(&bytes, "b");
    put_long(&bytes, 2);
    put_long(&bytes, 0);
    decode_ok(&d, "{\"type\":\"map\",\"values\":\"int\"}",
              "{\"type\":\"map\",\"values\":\"long\"}", &bytes, NULL);
    assert_int_equal(d.datum->map.count, 2);
    assert_string_equal(d.datum->map.keys[0], "a");
    assert_true(d.datum->map.values[0].long_value == 1);
    assert_string_equal(d.datum->map.keys[1], "b");
    assert_true(d.datum->map.values[1].long_value == 2);
    decoded_free(&d);
}

static void decodes_varint_limits_and_rejects_overflow(void **state)
{
    struct bytes largest = {0};
    struct bytes smallest = {0};
    struct bytes int_max = {0};
    struct bytes long_too_long = {0};
    struct bytes int_too_long = {0};
    struct decoded d;

    (void)state;
    put_long(&largest, INT64_MAX);
    put_long(&smallest, INT64_MIN);
    put_long(&int_max, INT32_MAX);
    put_raw(&long_too_long, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10);
    put_raw(&int_too_long, "\xff\xff\xff\xff\x10", 5);

    decode_ok(&d, "\"long\"", "\"long\"", &largest, NULL);
    assert_true(d.datum->long_value == INT64_MAX);
    decoded_free(&d);
    decode_ok(&d, "\"long\"", "\"long\"", &smallest, NULL);
    assert_true(d.datum->long_value == INT64_MIN);
    decoded_free(&d);
    decode_ok(&d, "\"int\"", "\"int\"", &int_max, NULL);
    assert_int_equal(d.datum->int_value, INT32_MAX);
    decoded_free(&d);

    decode_fails("\"long\"", "\"long\"", &long_too_long, NULL,
                 "varint overflows a 64-bit long");
    decode_fails("\"int\"", "\"int\"", &int_too_long, NULL,
                 "varint overflows a 32-bit int");
    /* A long too large for an int is not silently cut. */
    decode_fails("\"int\"", "\"long\"", &largest, NULL,
                 "varint overflows a 32-bit int");
}

static void rejects_malformed_values(void **state)
{
    struct bytes boolean = {0};
    struct bytes negative = {0};
    struct bytes trailing = {0};
    struct bytes fixed = {0};

    (void)state;
    put_raw(&boolean, "\x02", 1);
    decode_fails("\"boolean\"", "\"boolean\"", &boolean, NULL,
                 "boolean byte is 2, not 0 or 1");

    put_long(&negative, -4);
    decode_fails("\"string\"", "\"string\"", &negative, NULL,
                 "string has negative length -4");

    put_long(&trailing, 1);
    put_raw(&trailing, "\x00\x00\x00", 3);
    decode_fails("\"int\"", "\"int\"", &trailing, NULL,
                 "3 bytes follow the end of the datum");

    put_raw(&fixed, "ab", 2);
    decode_fails("{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}",
                 "{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}", &fixed, NULL,
                 "the writer's F cannot be read as the reader's F");
}

static void caps_string_and_map_key_size(void **state)
{
    const struct datum_limits limits = {
        .max_string_size = 3, .max_items = 10, .max_depth = 8};
    const char *map = "{\"type\":\"map\",\"values\":\"null\"}";
    struct bytes three = {0};
    struct bytes four = {0};
    struct bytes long_key = {0};
    struct decoded d;

    (void)state;
    put_string(&three, "abc");
    put_string(&four, "abcd");
    put_long(&long_key, 1);
    put_string(&long_key, "abcd");
    put_long(&long_key, 0);

    decode_ok(&d, "\"string\"", "\"string\"", &three, &limits);
    assert_string_equal(d.datum->bytes.data, "abc");
    decoded_free(&d);
    decode_fails("\"string\"", "\"string\"", &four, &limits,
                 "string of 4 bytes exceeds the limit of 3 bytes");
    decode_fails(map, map, &long_key, &limits,
                 "map key of 4 bytes exceeds the limit of 3 bytes");
}

static void caps_items_summed_over_datum(void **state)
{
    const struct datum_limits limits = {
        .max_string_size = 16, .max_items = 4, .max_depth = 8};
    const char *nested = "{\"type\":\"array\",\"items\":"
                         "{\"type\":\"array\",\"items\":\"null\"}}";
    struct bytes four = {0};
    struct bytes five = {0};
    struct decoded d;

    (void)state;
    /* Outer array of 2 inner arrays of 1 null each: 4 items in all. */
    put_long(&four, 2);
    put_long(&four, 1);
    put_long(&four, 0);
    put_long(&four, 1);
    put_long(&four, 0);
    put_long(&four, 0);
    decode_ok(&d, nested, nested, &four, &limits);
    assert_int_equal(d.datum->array.count, 2);
    decoded_free(&d);

    /* Outer 2, then inner 1 and 2: 5 items. */
    put_long(&five, 2);
    put_long(&five, 1);
    put_long(&five, 0);
    put_long(&five, 2);
    put_long(&five, 0);
    put_long(&five, 0);
    decode_fails(nested, nested, &five, &limits,
                 "[1]: block of 2 items exceeds the limit of 4");
}

static void caps_zero_byte_items(void **state)
{
    const struct datum_limits limits = {
        .max_string_size = 16, .max_items = 1000, .max_depth = 8};
    const char *nulls = "{\"type\":\"array\",\"items\":\"null\"}";
    struct bytes thousand = {0};
    struct bytes more = {0};
    struct bytes ints = {0};
    struct decoded d;

    (void)state;
    /* Nulls take no bytes, so only the item cap bounds them. */
    put_long(&thousand, 1000);
    put_long(&thousand, 0);
    decode_ok(&d, nulls, nulls, &thousand, &limits);
    assert_int_equal(d.datum->array.count, 1000);
    decoded_free(&d);

    put_long(&more, 1001);
    put_long(&more, 0);
    decode_fails(nulls, nulls, &more, &limits,
                 "block of 1001 items exceeds the limit of 1000");

    /* Ints take a byte each: 900 cannot fit in what is left. */
    put_long(&ints, 900);
    put_raw(&ints, "\x02\x02\x00", 3);
    decode_fails("{\"type\":\"array\",\"items\":\"int\"}",
                 "{\"type\":\"array\",\"items\":\"int\"}", &ints, &limits,
                 "block of 900 items cannot fit the 3 bytes left");
}

static const char *const list_schema =
    "{\"type\":\"record\",\"name\":\"List\",\"fields\":["
    "{\"name\":\"value\",\"type\":\"int\"},"
    "{\"name\":\"next\",\"type\":[\"null\",\"List\"]}]}";

/* A list of count nodes. Each node is three levels below the one before
 * (record, writer union, reader union), and the last one's null another
 * three, so count nodes need 3 * count + 1 levels. */
static void list_build(struct bytes *bytes, int count)
{
    for (int i = 0; i < count; i++) {
        put_long(bytes, i);
        put_long(bytes, i + 1 < count ? 1 : 0);
    }
}

static void caps_nesting_depth(void **state)
{
    const struct datum_limits limits = {
        .max_string_size = 16, .max_items = 16, .max_depth = 13};
    const char *skipper = "{\"type\":\"record\",\"name\":\"Outer\","
                          "\"fields\":[]}";
    const char *holder =
        "{\"type\":\"record\",\"name\":\"Outer\",\"fields\":["
        "{\"name\":\"list\",\"type\":{\"type\":\"record\",\"name\":"
        "\"List\",\"fields\":[{\"name\":\"value\",\"type\":\"int\"},"
        "{\"name\":\"next\",\"type\":[\"null\",\"List\"]}]}}]}";
    struct bytes four = {0};
    struct bytes five = {0};
    struct bytes eight = {0};
    struct decoded d;

    (void)state;
    list_build(&four, 4);
    list_build(&five, 5);
    list_build(&eight, 8);

    /* Four nodes need 13 levels, five need 16. */
    decode_ok(&d, list_schema, list_schema, &four, &limits);
    assert_int_equal(datum_field(d.datum, "value")->int_value, 0);
    decoded_free(&d);
    decode_fails(list_schema, list_schema, &five, &limits,
                 "values are nested deeper than 13 levels");

    /* Skipping a field the reader lacks is capped too. A skipped node is
     * two levels below the one before (record, writer union), so eight
     * nodes inside Outer need 18 levels. */
    decode_fails(holder, skipper, &eight, &limits,
                 "values are nested deeper than 13 levels");

    /* The default cap leaves room for ordinary nesting. */
    decode_ok(&d, list_schema, list_schema, &five, NULL);
    decoded_free(&d);
}

static void utf8_check_rejects_invalid_forms(void **state)
{
    (void)state;
    assert_true(datum_utf8_valid("", 0));
    assert_true(datum_utf8_valid("plain", 5));
    assert_true(datum_utf8_valid("\xc3\xa9", 2));
    assert_true(datum_utf8_valid("\xe2\x82\xac", 3));
    assert_true(datum_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_true(datum_utf8_valid("\xf4\x8f\xbf\xbf", 4));

    assert_false(datum_utf8_valid("\xc0\x80", 2));         /* overlong NUL */
    assert_false(datum_utf8_valid("\xe0\x80\xaf", 3));     /* overlong / */
    assert_false(datum_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(datum_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(datum_utf8_valid("\xc3", 1));             /* cut short */
    assert_false(datum_utf8_valid("\xe2\x82", 2));         /* cut short */
    assert_false(datum_utf8_valid("\x80", 1));             /* lone tail */
    assert_false(datum_utf8_valid("\xc3\x28", 2));         /* bad tail */
    assert_false(datum_utf8_valid("\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(promotes_numbers_to_wider_types),
        cmocka_unit_test(rejects_narrowing_and_unrelated_types),
        cmocka_unit_test(converts_between_string_and_bytes),
        cmocka_unit_test(resolves_enum_symbols_by_name),
        cmocka_unit_test(skips_writer_fields_reader_lacks),
        cmocka_unit_test(rejects_every_truncation_of_skipped_fields),
        cmocka_unit_test(fills_reader_defaults_of_every_type),
        cmocka_unit_test(rejects_missing_field_without_default),
        cmocka_unit_test(matches_fields_and_records_by_alias),
        cmocka_unit_test(resolves_union_branches),
        cmocka_unit_test(decodes_maps_in_blocks),
        cmocka_unit_test(decodes_varint_limits_and_rejects_overflow),
        cmocka_unit_test(rejects_malformed_values),
        cmocka_unit_test(caps_string_and_map_key_size),
        cmocka_unit_test(caps_items_summed_over_datum),
        cmocka_unit_test(caps_zero_byte_items),
        cmocka_unit_test(caps_nesting_depth),
        cmocka_unit_test(utf8_check_rejects_invalid_forms),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
