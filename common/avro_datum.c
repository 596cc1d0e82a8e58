#include "avro_datum.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct datum_limits datum_default_limits = {
    .max_string_size = DATUM_MAX_STRING_SIZE,
    .max_items = DATUM_MAX_ITEMS,
    .max_depth = DATUM_MAX_DEPTH,
};

struct decoder {
    const unsigned char *data;
    size_t size;
    size_t offset;
    const struct datum_limits *limits;
    size_t items; /* array items and map entries read so far */
    char path[256];
    size_t path_length;
    char *errbuf;
    size_t errbuf_size;
};

enum match_mode {
    MATCH_EXACT,
    MATCH_PROMOTE,
};

static int decode_value(struct decoder *decoder,
                        const struct schema_node *writer,
                        const struct schema_node *reader, struct datum *out,
                        unsigned depth);
static int skip_value(struct decoder *decoder, const struct schema_node *writer,
                      unsigned depth);
static int default_decode(struct decoder *decoder, const json_t *json,
                          const struct schema_node *reader, struct datum *out,
                          unsigned depth);

/* Writes "<path>: <message>" into errbuf, or only the message at the top
 * level. Returns -1 so that callers can return its result. */
__attribute__((format(printf, 2, 3))) static int
decoder_fail(struct decoder *decoder, const char *format, ...)
{
    char message[256];
    va_list args;

    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);

    if (decoder->path_length == 0)
        snprintf(decoder->errbuf, decoder->errbuf_size, "%s", message);
    else
        snprintf(decoder->errbuf, decoder->errbuf_size, "%s: %s", decoder->path,
                 message);
    return -1;
}

/* Appends to the path of the value being decoded and returns the length to
 * restore with path_pop(). A path too long for the buffer is cut short. */
__attribute__((format(printf, 2, 3))) static size_t
path_push(struct decoder *decoder, const char *format, ...)
{
    size_t length = decoder->path_length;
    size_t room = sizeof(decoder->path) - length;
    va_list args;
    int written;

    va_start(args, format);
    written = vsnprintf(decoder->path + length, room, format, args);
    va_end(args);

    if (written < 0)
        decoder->path[length] = '\0';
    else
        decoder->path_length +=
            (size_t)written < room ? (size_t)written : room - 1;
    return length;
}

static void path_pop(struct decoder *decoder, size_t length)
{
    decoder->path_length = length;
    decoder->path[length] = '\0';
}

static size_t path_push_field(struct decoder *decoder, const char *name)
{
    if (decoder->path_length == 0)
        return path_push(decoder, "%s", name);
    return path_push(decoder, ".%s", name);
}

static size_t bytes_left(const struct decoder *decoder)
{
    return decoder->size - decoder->offset;
}

static int read_raw(struct decoder *decoder, size_t size,
                    const unsigned char **bytes)
{
    *bytes = NULL;
    if (size > bytes_left(decoder))
        return decoder_fail(decoder,
                            "datum is truncated: %zu bytes needed, %zu left",
                            size, bytes_left(decoder));
    *bytes = decoder->data + decoder->offset;
    decoder->offset += size;
    return 0;
}

/* Reads a zig-zag varint of at most max_bits bits (32 or 64). */
static int read_varint(struct decoder *decoder, unsigned max_bits,
                       int64_t *value)
{
    uint64_t bits = 0;

    *value = 0;
    for (unsigned shift = 0; shift < max_bits; shift += 7) {
        unsigned char byte;

        if (decoder->offset >= decoder->size)
            return decoder_fail(decoder, "datum is truncated inside a varint");
        byte = decoder->data[decoder->offset++];

        /* The last byte may only carry the bits that are left. */
        if (max_bits - shift < 7 && (byte >> (max_bits - shift)) != 0)
            break;
        bits |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            uint64_t magnitude = bits >> 1;

            *value = (bits & 1) ? -(int64_t)magnitude - 1 : (int64_t)magnitude;
            return 0;
        }
    }
    return decoder_fail(decoder, "varint overflows a %u-bit %s", max_bits,
                        max_bits == 32 ? "int" : "long");
}

static int read_long(struct decoder *decoder, int64_t *value)
{
    return read_varint(decoder, 64, value);
}

static int read_int(struct decoder *decoder, int32_t *value)
{
    int64_t wide;

    if (read_varint(decoder, 32, &wide) != 0)
        return -1;
    *value = (int32_t)wide;
    return 0;
}

/* Reads the length of a string, bytes value or map key, checked against the
 * bytes left before the cap so that a hostile length fails either way. */
static int read_length(struct decoder *decoder, const char *label,
                       size_t *length)
{
    int64_t value;

    *length = 0;
    if (read_long(decoder, &value) != 0)
        return -1;
    if (value < 0)
        return decoder_fail(decoder, "%s has negative length %" PRId64, label,
                            value);
    if ((uint64_t)value > bytes_left(decoder))
        return decoder_fail(decoder,
                            "%s of %" PRId64 " bytes is longer than the %zu "
                            "bytes left in the datum",
                            label, value, bytes_left(decoder));
    if ((uint64_t)value > decoder->limits->max_string_size)
        return decoder_fail(decoder,
                            "%s of %" PRId64 " bytes exceeds the limit of %zu "
                            "bytes",
                            label, value, decoder->limits->max_string_size);
    *length = (size_t)value;
    return 0;
}

/*
 * Reads the item count of one block of an array or map, where 0 ends the
 * value.
 * The count is checked against the datum's item cap and against the bytes
 * left at min_item_size bytes per item before anything is allocated.
 */
static int read_block_count(struct decoder *decoder, size_t min_item_size,
                            size_t *count)
{
    int64_t value;
    int64_t block_size;

    *count = 0;
    if (read_long(decoder, &value) != 0)
        return -1;
    if (value == INT64_MIN)
        return decoder_fail(decoder, "block count %" PRId64 " is invalid",
                            value);
    if (value < 0) {
        /* A negative count is followed by the block's size in bytes. */
        value = -value;
        if (read_long(decoder, &block_size) != 0)
            return -1;
        if (block_size < 0 || (uint64_t)block_size > bytes_left(decoder))
            return decoder_fail(decoder,
                                "block size %" PRId64 " does not fit the %zu "
                                "bytes left",
                                block_size, bytes_left(decoder));
    }

    if ((uint64_t)value > decoder->limits->max_items - decoder->items)
        return decoder_fail(decoder,
                            "block of %" PRId64 " items exceeds the limit of "
                            "%zu array items and map entries per datum",
                            value, decoder->limits->max_items);
    if (min_item_size > 0 &&
        (uint64_t)value > bytes_left(decoder) / min_item_size)
        return decoder_fail(decoder,
                            "block of %" PRId64 " items cannot fit the %zu "
                            "bytes left in the datum",
                            value, bytes_left(decoder));
    decoder->items += (size_t)value;
    *count = (size_t)value;
    return 0;
}

int datum_utf8_valid(const void *data, size_t size)
{
    const unsigned char *bytes = data;
    size_t i = 0;

    while (i < size) {
        unsigned char lead = bytes[i];
        size_t extra;
        uint32_t code;
        uint32_t lowest;

        if (lead < 0x80) {
            i++;
            continue;
        }
        if (lead >= 0xc2 && lead <= 0xdf) {
            extra = 1;
            code = lead & 0x1f;
            lowest = 0x80;
        } else if (lead >= 0xe0 && lead <= 0xef) {
            extra = 2;
            code = lead & 0x0f;
            lowest = 0x800;
        } else if (lead >= 0xf0 && lead <= 0xf4) {
            extra = 3;
            code = lead & 0x07;
            lowest = 0x10000;
        } else {
            return 0;
        }
        if (extra > size - i - 1)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((bytes[i + k] & 0xc0) != 0x80)
                return 0;
            code = (code << 6) | (bytes[i + k] & 0x3f);
        }
        if (code < lowest || code > 0x10ffff ||
            (code >= 0xd800 && code <= 0xdfff))
            return 0;
        i += extra + 1;
    }
    return 1;
}

static int copy_bytes(struct decoder *decoder, const unsigned char *bytes,
                      size_t size, struct datum *out)
{
    out->bytes.data = malloc(size + 1);
    if (out->bytes.data == NULL)
        return decoder_fail(decoder, "out of memory");
    memcpy(out->bytes.data, bytes, size);
    out->bytes.data[size] = '\0';
    out->bytes.size = size;
    return 0;
}

static int decode_bytes(struct decoder *decoder,
                        const struct schema_node *reader, struct datum *out)
{
    const char *label = reader->type == SCHEMA_STRING ? "string" : "bytes";
    const unsigned char *bytes;
    size_t size;

    if (read_length(decoder, label, &size) != 0 ||
        read_raw(decoder, size, &bytes) != 0)
        return -1;
    if (reader->type == SCHEMA_STRING && !datum_utf8_valid(bytes, size))
        return decoder_fail(decoder, "string is not valid UTF-8");
    return copy_bytes(decoder, bytes, size, out);
}

static int decode_fixed(struct decoder *decoder,
                        const struct schema_node *reader, struct datum *out)
{
    const unsigned char *bytes;

    if (read_raw(decoder, reader->fixed_size, &bytes) != 0)
        return -1;
    return copy_bytes(decoder, bytes, reader->fixed_size, out);
}

static int decode_boolean(struct decoder *decoder, struct datum *out)
{
    const unsigned char *byte;

    if (read_raw(decoder, 1, &byte) != 0)
        return -1;
    if (*byte > 1)
        return decoder_fail(decoder, "boolean byte is %u, not 0 or 1", *byte);
    out->boolean = *byte;
    return 0;
}

static uint64_t little_endian_read(const unsigned char *bytes, size_t size)
{
    uint64_t value = 0;

    for (size_t i = 0; i < size; i++)
        value |= (uint64_t)bytes[i] << (8 * i);
    return value;
}

static int read_float(struct decoder *decoder, float *value)
{
    const unsigned char *bytes;
    uint32_t bits;

    if (read_raw(decoder, 4, &bytes) != 0)
        return -1;
    bits = (uint32_t)little_endian_read(bytes, 4);
    memcpy(value, &bits, sizeof(*value));
    return 0;
}

static int read_double(struct decoder *decoder, double *value)
{
    const unsigned char *bytes;
    uint64_t bits;

    if (read_raw(decoder, 8, &bytes) != 0)
        return -1;
    bits = little_endian_read(bytes, 8);
    memcpy(value, &bits, sizeof(*value));
    return 0;
}

/* Reads a writer int, long, float or double as a double, which represents
 * every value of the narrower types exactly. */
static int read_number(struct decoder *decoder, enum schema_type writer,
                       double *value)
{
    int32_t int_value;
    int64_t long_value;
    float float_value;

    switch (writer) {
    case SCHEMA_INT:
        if (read_int(decoder, &int_value) != 0)
            return -1;
        *value = int_value;
        return 0;
    case SCHEMA_LONG:
        if (read_long(decoder, &long_value) != 0)
            return -1;
        *value = (double)long_value;
        return 0;
    case SCHEMA_FLOAT:
        if (read_float(decoder, &float_value) != 0)
            return -1;
        *value = float_value;
        return 0;
    default:
        return read_double(decoder, value);
    }
}

static int decode_number(struct decoder *decoder,
                         const struct schema_node *writer,
                         const struct schema_node *reader, struct datum *out)
{
    int32_t int_value;
    int64_t long_value;
    double number;

    switch (reader->type) {
    case SCHEMA_INT:
        return read_int(decoder, &out->int_value);
    case SCHEMA_LONG:
        if (writer->type == SCHEMA_LONG)
            return read_long(decoder, &out->long_value);
        if (read_int(decoder, &int_value) != 0)
            return -1;
        out->long_value = int_value;
        return 0;
    case SCHEMA_FLOAT:
        if (writer->type == SCHEMA_FLOAT)
            return read_float(decoder, &out->float_value);
        if (writer->type == SCHEMA_LONG) {
            /* Converted directly: a double in between could round twice. */
            if (read_long(decoder, &long_value) != 0)
                return -1;
            out->float_value = (float)long_value;
            return 0;
        }
        if (read_number(decoder, writer->type, &number) != 0)
            return -1;
        out->float_value = (float)number;
        return 0;
    default:
        return read_number(decoder, writer->type, &out->double_value);
    }
}

static int decode_enum(struct decoder *decoder,
                       const struct schema_node *writer,
                       const struct schema_node *reader, struct datum *out)
{
    int32_t index;
    const char *symbol;

    if (read_int(decoder, &index) != 0)
        return -1;
    if (index < 0 || (size_t)index >= writer->symbol_count)
        return decoder_fail(decoder,
                            "enum index %" PRId32 " is not below the %zu "
                            "symbols of %s",
                            index, writer->symbol_count, writer->fullname);

    symbol = writer->symbols[index];
    for (size_t i = 0; i < reader->symbol_count; i++) {
        if (strcmp(reader->symbols[i], symbol) == 0) {
            out->symbol = i;
            return 0;
        }
    }
    if (!reader->has_default_symbol)
        return decoder_fail(decoder,
                            "symbol %s is not in the reader's %s, which has "
                            "no default symbol",
                            symbol, reader->fullname);
    out->symbol = reader->default_symbol;
    return 0;
}

/* Grows an array of datums from count to count + more, zeroing the new
 * ones so that a failure part way leaves a tree datum_free() can release. */
static int datums_grow(struct decoder *decoder, struct datum **datums,
                       size_t count, size_t more)
{
    struct datum *grown = realloc(*datums, (count + more) * sizeof(*grown));

    if (grown == NULL)
        return decoder_fail(decoder, "out of memory");
    memset(grown + count, 0, more * sizeof(*grown));
    *datums = grown;
    return 0;
}

static int decode_array(struct decoder *decoder,
                        const struct schema_node *writer,
                        const struct schema_node *reader, struct datum *out,
                        unsigned depth)
{
    size_t count;

    for (;;) {
        if (read_block_count(decoder, writer->items->min_encoded_size,
                             &count) != 0)
            return -1;
        if (count == 0)
            return 0;
        if (datums_grow(decoder, &out->array.items, out->array.count, count) !=
            0)
            return -1;

        for (size_t i = 0; i < count; i++) {
            size_t index = out->array.count++;
            size_t mark = path_push(decoder, "[%zu]", index);

            if (decode_value(decoder, writer->items, reader->items,
                             &out->array.items[index], depth + 1) != 0)
                return -1;
            path_pop(decoder, mark);
        }
    }
}

static int decode_map_key(struct decoder *decoder, char **key)
{
    const unsigned char *bytes;
    size_t size;

    if (read_length(decoder, "map key", &size) != 0 ||
        read_raw(decoder, size, &bytes) != 0)
        return -1;
    if (!datum_utf8_valid(bytes, size))
        return decoder_fail(decoder, "map key is not valid UTF-8");
    *key = strndup((const char *)bytes, size);
    if (*key == NULL)
        return decoder_fail(decoder, "out of memory");
    return 0;
}

static int decode_map(struct decoder *decoder, const struct schema_node *writer,
                      const struct schema_node *reader, struct datum *out,
                      unsigned depth)
{
    size_t entry_size = 1 + writer->items->min_encoded_size;
    size_t count;

    for (;;) {
        size_t total = out->map.count;
        char **keys;

        if (read_block_count(decoder, entry_size, &count) != 0)
            return -1;
        if (count == 0)
            return 0;
        keys = realloc(out->map.keys, (total + count) * sizeof(*keys));
        if (keys == NULL)
            return decoder_fail(decoder, "out of memory");
        memset(keys + total, 0, count * sizeof(*keys));
        out->map.keys = keys;
        if (datums_grow(decoder, &out->map.values, total, count) != 0)
            return -1;
        out->map.count = total + count;

        for (size_t i = total; i < total + count; i++) {
            size_t mark = path_push(decoder, "[%zu]", i);

            if (decode_map_key(decoder, &out->map.keys[i]) != 0 ||
                decode_value(decoder, writer->items, reader->items,
                             &out->map.values[i], depth + 1) != 0)
                return -1;
            path_pop(decoder, mark);
        }
    }
}

static int alias_names(const char *alias, const char *name)
{
    const char *dot = strrchr(alias, '.');

    return strcmp(dot != NULL ? dot + 1 : alias, name) == 0;
}

/* Named types match by unqualified name or by one of the reader's
 * aliases, as the specification's resolution rules define. */
static int names_match(const struct schema_node *writer,
                       const struct schema_node *reader)
{
    if (strcmp(writer->name, reader->name) == 0)
        return 1;
    for (size_t i = 0; i < reader->alias_count; i++) {
        if (alias_names(reader->aliases[i], writer->name))
            return 1;
    }
    return 0;
}

static int types_match(const struct schema_node *writer,
                       const struct schema_node *reader, enum match_mode mode)
{
    enum schema_type w = writer->type;
    enum schema_type r = reader->type;

    if (w == r) {
        if (w == SCHEMA_RECORD || w == SCHEMA_ENUM)
            return names_match(writer, reader);
        if (w == SCHEMA_FIXED)
            return names_match(writer, reader) &&
                   writer->fixed_size == reader->fixed_size;
        return 1;
    }
    if (mode == MATCH_EXACT)
        return 0;

    switch (w) {
    case SCHEMA_INT:
        return r == SCHEMA_LONG || r == SCHEMA_FLOAT || r == SCHEMA_DOUBLE;
    case SCHEMA_LONG:
        return r == SCHEMA_FLOAT || r == SCHEMA_DOUBLE;
    case SCHEMA_FLOAT:
        return r == SCHEMA_DOUBLE;
    case SCHEMA_STRING:
        return r == SCHEMA_BYTES;
    case SCHEMA_BYTES:
        return r == SCHEMA_STRING;
    default:
        return 0;
    }
}

static const char *type_label(const struct schema_node *node)
{
    static const char *const names[] = {
        "null",   "boolean", "int",  "long",  "float", "double", "bytes",
        "string", "record",  "enum", "array", "map",   "union",  "fixed",
    };

    return node->fullname != NULL ? node->fullname : names[node->type];
}

/* Finds the reader field that a writer field fills: same name first, then
 * a reader field alias. */
static const struct schema_field *
reader_field_find(const struct schema_node *reader, const char *name,
                  size_t *index)
{
    for (size_t i = 0; i < reader->field_count; i++) {
        if (strcmp(reader->fields[i].name, name) == 0) {
            *index = i;
            return &reader->fields[i];
        }
    }
    for (size_t i = 0; i < reader->field_count; i++) {
        for (size_t j = 0; j < reader->fields[i].alias_count; j++) {
            if (strcmp(reader->fields[i].aliases[j], name) == 0) {
                *index = i;
                return &reader->fields[i];
            }
        }
    }
    return NULL;
}

static int decode_record_field(struct decoder *decoder,
                               const struct schema_field *field,
                               const struct schema_node *reader,
                               struct datum *out, unsigned depth)
{
    size_t index;
    const struct schema_field *target =
        reader_field_find(reader, field->name, &index);
    size_t mark = path_push_field(decoder, field->name);

    /* A second writer field aimed at a filled reader field (one by name,
     * one by alias) is skipped, as a field the reader lacks. */
    if (target == NULL || out->fields[index].schema != NULL) {
        if (skip_value(decoder, field->type, depth + 1) != 0)
            return -1;
    } else if (decode_value(decoder, field->type, target->type,
                            &out->fields[index], depth + 1) != 0) {
        return -1;
    }
    path_pop(decoder, mark);
    return 0;
}

static int decode_record(struct decoder *decoder,
                         const struct schema_node *writer,
                         const struct schema_node *reader, struct datum *out,
                         unsigned depth)
{
    out->fields = calloc(reader->field_count ? reader->field_count : 1,
                         sizeof(*out->fields));
    if (out->fields == NULL)
        return decoder_fail(decoder, "out of memory");

    for (size_t i = 0; i < writer->field_count; i++) {
        if (decode_record_field(decoder, &writer->fields[i], reader, out,
                                depth) != 0)
            return -1;
    }

    for (size_t i = 0; i < reader->field_count; i++) {
        const struct schema_field *field = &reader->fields[i];
        size_t mark;

        if (out->fields[i].schema != NULL)
            continue;
        mark = path_push_field(decoder, field->name);
        if (field->default_value == NULL)
            return decoder_fail(decoder,
                                "the writer's %s has no such field and the "
                                "reader's has no default for it",
                                writer->fullname);
        if (default_decode(decoder, field->default_value, field->type,
                           &out->fields[i], depth + 1) != 0)
            return -1;
        path_pop(decoder, mark);
    }
    return 0;
}

/* Decodes a value whose writer and reader types are neither unions. */
static int decode_resolved(struct decoder *decoder,
                           const struct schema_node *writer,
                           const struct schema_node *reader, struct datum *out,
                           unsigned depth)
{
    if (!types_match(writer, reader, MATCH_PROMOTE))
        return decoder_fail(decoder,
                            "the writer's %s cannot be read as the reader's %s",
                            type_label(writer), type_label(reader));
    out->schema = reader;

    switch (reader->type) {
    case SCHEMA_NULL:
        return 0;
    case SCHEMA_BOOLEAN:
        return decode_boolean(decoder, out);
    case SCHEMA_INT:
    case SCHEMA_LONG:
    case SCHEMA_FLOAT:
    case SCHEMA_DOUBLE:
        return decode_number(decoder, writer, reader, out);
    case SCHEMA_STRING:
    case SCHEMA_BYTES:
        return decode_bytes(decoder, reader, out);
    case SCHEMA_FIXED:
        return decode_fixed(decoder, reader, out);
    case SCHEMA_ENUM:
        return decode_enum(decoder, writer, reader, out);
    case SCHEMA_ARRAY:
        return decode_array(decoder, writer, reader, out, depth);
    case SCHEMA_MAP:
        return decode_map(decoder, writer, reader, out, depth);
    case SCHEMA_RECORD:
        return decode_record(decoder, writer, reader, out, depth);
    case SCHEMA_UNION:
        break;
    }
    return decoder_fail(decoder, "internal error: unexpected union");
}

static int read_union_index(struct decoder *decoder,
                            const struct schema_node *writer, size_t *index)
{
    int64_t value;

    *index = 0;
    if (read_long(decoder, &value) != 0)
        return -1;
    if (value < 0 || (uint64_t)value >= writer->branch_count)
        return decoder_fail(decoder,
                            "union branch %" PRId64 " is not below the %zu "
                            "branches of the writer's union",
                            value, writer->branch_count);
    *index = (size_t)value;
    return 0;
}

/* Picks the reader union branch for a writer type: the first of the same
 * type, else the first the writer type promotes to. */
static int reader_branch_find(const struct schema_node *writer,
                              const struct schema_node *reader, size_t *index)
{
    *index = 0;
    for (size_t i = 0; i < reader->branch_count; i++) {
        if (types_match(writer, reader->branches[i], MATCH_EXACT)) {
            *index = i;
            return 0;
        }
    }
    for (size_t i = 0; i < reader->branch_count; i++) {
        if (types_match(writer, reader->branches[i], MATCH_PROMOTE)) {
            *index = i;
            return 0;
        }
    }
    return -1;
}

static int decode_value(struct decoder *decoder,
                        const struct schema_node *writer,
                        const struct schema_node *reader, struct datum *out,
                        unsigned depth)
{
    size_t index;

    if (depth >= decoder->limits->max_depth)
        return decoder_fail(decoder, "values are nested deeper than %u levels",
                            decoder->limits->max_depth);

    if (writer->type == SCHEMA_UNION) {
        if (read_union_index(decoder, writer, &index) != 0)
            return -1;
        return decode_value(decoder, writer->branches[index], reader, out,
                            depth + 1);
    }
    if (reader->type != SCHEMA_UNION)
        return decode_resolved(decoder, writer, reader, out, depth);

    if (reader_branch_find(writer, reader, &index) != 0)
        return decoder_fail(decoder,
                            "the writer's %s matches no branch of the "
                            "reader's union",
                            type_label(writer));
    out->schema = reader;
    out->branch.index = index;
    out->branch.value = calloc(1, sizeof(*out->branch.value));
    if (out->branch.value == NULL)
        return decoder_fail(decoder, "out of memory");
    return decode_value(decoder, writer, reader->branches[index],
                        out->branch.value, depth + 1);
}

static int skip_bytes(struct decoder *decoder, const char *label)
{
    const unsigned char *bytes;
    size_t size;

    if (read_length(decoder, label, &size) != 0)
        return -1;
    return read_raw(decoder, size, &bytes);
}

static int skip_blocks(struct decoder *decoder,
                       const struct schema_node *writer, unsigned depth)
{
    int map = writer->type == SCHEMA_MAP;
    size_t item_size = writer->items->min_encoded_size + (map ? 1 : 0);
    size_t count;

    for (;;) {
        if (read_block_count(decoder, item_size, &count) != 0)
            return -1;
        if (count == 0)
            return 0;
        for (size_t i = 0; i < count; i++) {
            if (map && skip_bytes(decoder, "map key") != 0)
                return -1;
            if (skip_value(decoder, writer->items, depth + 1) != 0)
                return -1;
        }
    }
}

/* Reads past a value of a writer field that the reader does not have, with
 * the same checks as decoding it. */
static int skip_value(struct decoder *decoder, const struct schema_node *writer,
                      unsigned depth)
{
    struct datum scratch = {0};
    const unsigned char *bytes;
    size_t index;

    if (depth >= decoder->limits->max_depth)
        return decoder_fail(decoder, "values are nested deeper than %u levels",
                            decoder->limits->max_depth);

    switch (writer->type) {
    case SCHEMA_NULL:
        return 0;
    case SCHEMA_BOOLEAN:
        return decode_boolean(decoder, &scratch);
    case SCHEMA_INT:
    case SCHEMA_LONG:
    case SCHEMA_FLOAT:
    case SCHEMA_DOUBLE:
        return decode_number(decoder, writer, writer, &scratch);
    case SCHEMA_ENUM:
        return decode_enum(decoder, writer, writer, &scratch);
    case SCHEMA_STRING:
    case SCHEMA_BYTES:
        return skip_bytes(decoder,
                          writer->type == SCHEMA_STRING ? "string" : "bytes");
    case SCHEMA_FIXED:
        return read_raw(decoder, writer->fixed_size, &bytes);
    case SCHEMA_ARRAY:
    case SCHEMA_MAP:
        return skip_blocks(decoder, writer, depth);
    case SCHEMA_RECORD:
        for (size_t i = 0; i < writer->field_count; i++) {
            if (skip_value(decoder, writer->fields[i].type, depth + 1) != 0)
                return -1;
        }
        return 0;
    case SCHEMA_UNION:
        if (read_union_index(decoder, writer, &index) != 0)
            return -1;
        return skip_value(decoder, writer->branches[index], depth + 1);
    }
    return 0;
}

static int default_mismatch(struct decoder *decoder,
                            const struct schema_node *reader)
{
    return decoder_fail(decoder, "the reader's default is not a valid %s",
                        type_label(reader));
}

/* Converts a bytes or fixed default, whose characters are the bytes 0-255
 * written as UTF-8 by jansson, into raw bytes. */
static int default_decode_bytes(struct decoder *decoder, const json_t *json,
                                const struct schema_node *reader,
                                struct datum *out)
{
    const unsigned char *text = (const unsigned char *)json_string_value(json);
    size_t length = json_string_length(json);
    size_t size = 0;

    out->bytes.data = malloc(length + 1);
    if (out->bytes.data == NULL)
        return decoder_fail(decoder, "out of memory");
    for (size_t i = 0; i < length; i++) {
        if (text[i] < 0x80) {
            out->bytes.data[size++] = (char)text[i];
        } else if ((text[i] == 0xc2 || text[i] == 0xc3) && i + 1 < length) {
            out->bytes.data[size++] =
                (char)(((text[i] & 0x03) << 6) | (text[i + 1] & 0x3f));
            i++;
        } else {
            return default_mismatch(decoder, reader);
        }
    }
    out->bytes.data[size] = '\0';
    out->bytes.size = size;
    if (reader->type == SCHEMA_FIXED && size != reader->fixed_size)
        return default_mismatch(decoder, reader);
    return 0;
}

static int default_decode_array(struct decoder *decoder, const json_t *json,
                                const struct schema_node *reader,
                                struct datum *out, unsigned depth)
{
    size_t count = json_array_size(json);

    if (!json_is_array(json))
        return default_mismatch(decoder, reader);
    if (count == 0)
        return 0;
    if (datums_grow(decoder, &out->array.items, 0, count) != 0)
        return -1;
    out->array.count = count;
    for (size_t i = 0; i < count; i++) {
        if (default_decode(decoder, json_array_get(json, i), reader->items,
                           &out->array.items[i], depth + 1) != 0)
            return -1;
    }
    return 0;
}

static int default_decode_map(struct decoder *decoder, const json_t *json,
                              const struct schema_node *reader,
                              struct datum *out, unsigned depth)
{
    size_t count = json_object_size(json);
    const char *key;
    json_t *value;
    size_t i = 0;

    if (!json_is_object(json))
        return default_mismatch(decoder, reader);
    if (count == 0)
        return 0;
    out->map.keys = calloc(count, sizeof(*out->map.keys));
    if (out->map.keys == NULL ||
        datums_grow(decoder, &out->map.values, 0, count) != 0)
        return decoder_fail(decoder, "out of memory");
    out->map.count = count;

    json_object_foreach((json_t *)json, key, value)
    {
        out->map.keys[i] = strdup(key);
        if (out->map.keys[i] == NULL)
            return decoder_fail(decoder, "out of memory");
        if (default_decode(decoder, value, reader->items, &out->map.values[i],
                           depth + 1) != 0)
            return -1;
        i++;
    }
    return 0;
}

static int default_decode_record(struct decoder *decoder, const json_t *json,
                                 const struct schema_node *reader,
                                 struct datum *out, unsigned depth)
{
    if (!json_is_object(json))
        return default_mismatch(decoder, reader);
    out->fields = calloc(reader->field_count ? reader->field_count : 1,
                         sizeof(*out->fields));
    if (out->fields == NULL)
        return decoder_fail(decoder, "out of memory");

    for (size_t i = 0; i < reader->field_count; i++) {
        const struct schema_field *field = &reader->fields[i];
        const json_t *value = json_object_get(json, field->name);

        if (value == NULL)
            value = field->default_value;
        if (value == NULL)
            return default_mismatch(decoder, reader);
        if (default_decode(decoder, value, field->type, &out->fields[i],
                           depth + 1) != 0)
            return -1;
    }
    return 0;
}

static int default_decode_scalar(struct decoder *decoder, const json_t *json,
                                 const struct schema_node *reader,
                                 struct datum *out)
{
    size_t index;

    switch (reader->type) {
    case SCHEMA_NULL:
        return json_is_null(json) ? 0 : default_mismatch(decoder, reader);
    case SCHEMA_BOOLEAN:
        if (!json_is_boolean(json))
            return default_mismatch(decoder, reader);
        out->boolean = json_is_true(json);
        return 0;
    case SCHEMA_INT:
        if (!json_is_integer(json) || json_integer_value(json) < INT32_MIN ||
            json_integer_value(json) > INT32_MAX)
            return default_mismatch(decoder, reader);
        out->int_value = (int32_t)json_integer_value(json);
        return 0;
    case SCHEMA_LONG:
        if (!json_is_integer(json))
            return default_mismatch(decoder, reader);
        out->long_value = json_integer_value(json);
        return 0;
    case SCHEMA_FLOAT:
    case SCHEMA_DOUBLE:
        if (!json_is_number(json))
            return default_mismatch(decoder, reader);
        if (reader->type == SCHEMA_FLOAT)
            out->float_value = (float)json_number_value(json);
        else
            out->double_value = json_number_value(json);
        return 0;
    case SCHEMA_ENUM:
        for (index = 0; index < reader->symbol_count; index++) {
            if (json_is_string(json) &&
                strcmp(reader->symbols[index], json_string_value(json)) == 0) {
                out->symbol = index;
                return 0;
            }
        }
        return default_mismatch(decoder, reader);
    default:
        return decoder_fail(decoder, "internal error: %s is not a scalar",
                            type_label(reader));
    }
}

/*
 * Builds the datum of a reader field's default from its JSON form. The
 * store's schemas have every default checked when parsed, and this checks
 * again for schemas parsed with SCHEMA_PARSE_LAX_DEFAULTS.
 */
static int default_decode(struct decoder *decoder, const json_t *json,
                          const struct schema_node *reader, struct datum *out,
                          unsigned depth)
{
    if (depth >= decoder->limits->max_depth)
        return decoder_fail(decoder, "values are nested deeper than %u levels",
                            decoder->limits->max_depth);
    out->schema = reader;

    switch (reader->type) {
    case SCHEMA_UNION:
        /* A union's default is a value of its first branch. */
        if (reader->branch_count == 0)
            return default_mismatch(decoder, reader);
        out->branch.index = 0;
        out->branch.value = calloc(1, sizeof(*out->branch.value));
        if (out->branch.value == NULL)
            return decoder_fail(decoder, "out of memory");
        return default_decode(decoder, json, reader->branches[0],
                              out->branch.value, depth + 1);
    case SCHEMA_STRING:
        if (!json_is_string(json))
            return default_mismatch(decoder, reader);
        return copy_bytes(decoder,
                          (const unsigned char *)json_string_value(json),
                          json_string_length(json), out);
    case SCHEMA_BYTES:
    case SCHEMA_FIXED:
        if (!json_is_string(json))
            return default_mismatch(decoder, reader);
        return default_decode_bytes(decoder, json, reader, out);
    case SCHEMA_ARRAY:
        return default_decode_array(decoder, json, reader, out, depth);
    case SCHEMA_MAP:
        return default_decode_map(decoder, json, reader, out, depth);
    case SCHEMA_RECORD:
        return default_decode_record(decoder, json, reader, out, depth);
    default:
        return default_decode_scalar(decoder, json, reader, out);
    }
}

/* Frees what a datum points to, but not the datum itself. A datum whose
 * schema is NULL was never filled. */
static void datum_clear(struct datum *datum)
{
    const struct schema_node *schema = datum->schema;

    if (schema == NULL)
        return;

    switch (schema->type) {
    case SCHEMA_STRING:
    case SCHEMA_BYTES:
    case SCHEMA_FIXED:
        free(datum->bytes.data);
        break;
    case SCHEMA_ARRAY:
        for (size_t i = 0; i < datum->array.count; i++)
            datum_clear(&datum->array.items[i]);
        free(datum->array.items);
        break;
    case SCHEMA_MAP:
        for (size_t i = 0; i < datum->map.count; i++) {
            free(datum->map.keys[i]);
            datum_clear(&datum->map.values[i]);
        }
        free(datum->map.keys);
        free(datum->map.values);
        break;
    case SCHEMA_RECORD:
        for (size_t i = 0; datum->fields != NULL && i < schema->field_count;
             i++)
            datum_clear(&datum->fields[i]);
        free(datum->fields);
        break;
    case SCHEMA_UNION:
        if (datum->branch.value != NULL)
            datum_clear(datum->branch.value);
        free(datum->branch.value);
        break;
    default:
        break;
    }
    memset(datum, 0, sizeof(*datum));
}

void datum_free(struct datum *datum)
{
    if (datum == NULL)
        return;
    datum_clear(datum);
    free(datum);
}

int datum_decode(const struct schema_node *writer,
                 const struct schema_node *reader, const void *data,
                 size_t size, const struct datum_limits *limits,
                 struct datum **out, char *errbuf, size_t errbuf_size)
{
    struct decoder decoder = {0};
    struct datum *root;

    *out = NULL;
    decoder.data = data;
    decoder.size = size;
    decoder.limits = limits != NULL ? limits : &datum_default_limits;
    decoder.errbuf = errbuf;
    decoder.errbuf_size = errbuf_size;

    root = calloc(1, sizeof(*root));
    if (root == NULL)
        return decoder_fail(&decoder, "out of memory");
    if (decode_value(&decoder, writer, reader, root, 0) != 0)
        goto fail_root;
    if (decoder.offset != size) {
        decoder_fail(&decoder, "%zu bytes follow the end of the datum",
                     size - decoder.offset);
        goto fail_root;
    }

    *out = root;
    return 0;

fail_root:
    datum_free(root);
    return -1;
}

const struct datum *datum_field(const struct datum *record, const char *name)
{
    const struct schema_node *schema = record->schema;

    if (schema == NULL || schema->type != SCHEMA_RECORD)
        return NULL;
    for (size_t i = 0; i < schema->field_count; i++) {
        if (strcmp(schema->fields[i].name, name) == 0)
            return &record->fields[i];
    }
    return NULL;
}

int datum_message_decode(const char *family, const void *message, size_t size,
                         const struct datum_limits *limits, struct datum **out,
                         const struct schema_version **writer, char *errbuf,
                         size_t errbuf_size)
{
    const struct schema_version *written_with;
    const struct schema_version *reader;
    uint64_t fingerprint;
    char reason[512];

    *out = NULL;
    if (writer != NULL)
        *writer = NULL;
    if (schema_frame_header_read(message, size, &fingerprint, errbuf,
                                 errbuf_size) != 0 ||
        schema_store_find(fingerprint, &written_with, errbuf, errbuf_size) != 0)
        return -1;
    if (strcmp(written_with->family, family) != 0) {
        snprintf(errbuf, errbuf_size, "message is a %s, not a version of %s",
                 written_with->name, family);
        return -1;
    }
    if (schema_store_current(family, &reader, errbuf, errbuf_size) != 0)
        return -1;

    if (datum_decode(schema_root(written_with->schema),
                     schema_root(reader->schema),
                     (const unsigned char *)message + SCHEMA_FRAME_HEADER_SIZE,
                     size - SCHEMA_FRAME_HEADER_SIZE, limits, out, reason,
                     sizeof(reason)) != 0) {
        snprintf(errbuf, errbuf_size, "invalid %s datum: %s",
                 written_with->name, reason);
        return -1;
    }
    if (writer != NULL)
        *writer = written_with;
    return 0;
}

/*
 * avro-c reports failures through one process-wide message buffer that
 * another thread may overwrite, because Debian 12's libavro 1.11.1 is built
 * without THREADSAFE. So messages here use the returned error code.
 */
int datum_message_encode(const struct schema_version *writer,
                         avro_value_t *value, unsigned char **out,
                         size_t *out_size, char *errbuf, size_t errbuf_size)
{
    unsigned char *buffer;
    avro_writer_t memory;
    size_t datum_size;
    int status;

    *out = NULL;
    *out_size = 0;

    /* avro_value_sizeof computes the exact size, so one allocation contains
     * the header and the datum and no buffer has to grow. */
    status = avro_value_sizeof(value, &datum_size);
    if (status != 0) {
        snprintf(errbuf, errbuf_size, "%s: avro-c cannot size the datum: %s",
                 writer->name, strerror(status));
        return -1;
    }
    buffer = malloc(SCHEMA_FRAME_HEADER_SIZE + datum_size);
    if (buffer == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    schema_frame_header_write(writer->fingerprint, buffer);

    memory = avro_writer_memory((const char *)buffer + SCHEMA_FRAME_HEADER_SIZE,
                                (int64_t)datum_size);
    if (memory == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        goto fail_buffer;
    }
    status = avro_value_write(memory, value);
    if (status == 0 && avro_writer_tell(memory) != (int64_t)datum_size)
        status = EIO;
    avro_writer_free(memory);
    if (status != 0) {
        snprintf(errbuf, errbuf_size, "%s: avro-c cannot write the datum: %s",
                 writer->name, strerror(status));
        goto fail_buffer;
    }

    *out = buffer;
    *out_size = SCHEMA_FRAME_HEADER_SIZE + datum_size;
    return 0;

fail_buffer:
    free(buffer);
    return -1;
}
