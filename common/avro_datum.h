/*
 * Avro binary datums: a decoder that reads a datum written with one schema
 * and resolves it to another by the Avro specification's schema resolution
 * rules, and the single-object messages built on it.
 *
 * The decoder is ours, not avro-c's, because avro-c 1.11.1 resolves enums by
 * index, cannot fill reader fields from their defaults, and allocates
 * whatever length a datum claims. This decoder checks every length and count
 * against the bytes left before allocating, caps string size, item count and
 * nesting depth, and rejects trailing bytes. Encoding uses avro-c.
 */
#ifndef IMGASSURE_AVRO_DATUM_H
#define IMGASSURE_AVRO_DATUM_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "avro_schema.h"
#include "schema_store.h"

/* Caps on what one datum may contain. Decoding fails beyond them. */
struct datum_limits {
    size_t max_string_size; /* bytes of one string, bytes value or map key */
    size_t max_items; /* array items and map entries, summed over the datum */
    /* Levels of nested values. Every record, array, map and union counts,
     * and the union of writer and reader each count where both have one:
     * a string in an optional field of a top-level record is at level 4. */
    unsigned max_depth;
};

/* The default caps. A ScanResult of a large image lists a few thousand
 * packages of five short strings each, well below them. */
#define DATUM_MAX_STRING_SIZE ((size_t)1 << 20)
#define DATUM_MAX_ITEMS ((size_t)100000)
#define DATUM_MAX_DEPTH 32u

extern const struct datum_limits datum_default_limits;

/*
 * A decoded value, typed by the reader's schema. A datum owns everything
 * it points to, and datum_free() releases a tree.
 */
struct datum {
    const struct schema_node *schema; /* the reader's type of this value */
    union {
        int boolean;
        int32_t int_value;
        int64_t long_value;
        float float_value;
        double double_value;
        /* string, bytes, fixed: a NUL follows the size bytes of data */
        struct {
            char *data;
            size_t size;
        } bytes;
        size_t symbol; /* enum: index into schema->symbols */
        struct {
            struct datum *items;
            size_t count;
        } array;
        struct {
            char **keys; /* NUL-terminated UTF-8 */
            struct datum *values;
            size_t count;
        } map;
        struct datum *fields; /* record: one per schema field, same order */
        struct {
            size_t index; /* into schema->branches */
            struct datum *value;
        } branch; /* union */
    };
};

/*
 * Decodes the binary datum in data[0..size) written with the writer schema
 * and resolves it to the reader schema by the specification's rules.
 * Record fields match by name or reader alias. Reader fields the writer
 * lacks get their defaults, and writer fields the reader lacks are skipped.
 * Enum symbols match by name, and an unknown one becomes the reader enum's
 * default. Unions resolve by branch, and int, long, float, string and bytes
 * promote as the specification allows. limits may be NULL for
 * datum_default_limits.
 * Returns 0 and a datum that the caller frees with datum_free(), or -1 with
 * the reason and the path of the failing value in errbuf.
 */
int datum_decode(const struct schema_node *writer,
                 const struct schema_node *reader, const void *data,
                 size_t size, const struct datum_limits *limits,
                 struct datum **out, char *errbuf, size_t errbuf_size);

void datum_free(struct datum *datum);

/* Returns the field of a record datum, or NULL when the record's schema has
 * no field of that name. */
const struct datum *datum_field(const struct datum *record, const char *name);

/* Returns nonzero when data[0..size) is valid UTF-8: shortest forms only,
 * no surrogates, nothing above U+10FFFF. */
int datum_utf8_valid(const void *data, size_t size);

/*
 * Decodes a single-object encoded message of the schema family ("ImageSeen"):
 * looks the writer's fingerprint up in the schema store and resolves the
 * datum to the family's current version. *writer, when not NULL, receives
 * the writer's version. Returns 0 and a datum the caller frees with
 * datum_free(), or -1 with the reason in errbuf: bad header, unknown
 * fingerprint, a version of another family, or an invalid datum.
 */
int datum_message_decode(const char *family, const void *message, size_t size,
                         const struct datum_limits *limits, struct datum **out,
                         const struct schema_version **writer, char *errbuf,
                         size_t errbuf_size);

/*
 * Encodes value, an avro-c value of writer->avro_class, as a single-object
 * message into a malloc'd buffer that the caller frees. Returns 0, or -1
 * with the reason in errbuf.
 */
int datum_message_encode(const struct schema_version *writer,
                         avro_value_t *value, unsigned char **out,
                         size_t *out_size, char *errbuf, size_t errbuf_size);

#endif
