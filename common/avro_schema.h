/*
 * Avro schemas: a parsed schema tree, its Parsing Canonical Form and
 * CRC-64-AVRO fingerprint, and the single-object encoding header.
 *
 * Names start with schema_ and not avro_schema_ because avro-c owns that
 * prefix, and this module is ours, not a wrapper of avro-c's schemas.
 */
#ifndef IMGASSURE_AVRO_SCHEMA_H
#define IMGASSURE_AVRO_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum schema_type {
    SCHEMA_NULL,
    SCHEMA_BOOLEAN,
    SCHEMA_INT,
    SCHEMA_LONG,
    SCHEMA_FLOAT,
    SCHEMA_DOUBLE,
    SCHEMA_BYTES,
    SCHEMA_STRING,
    SCHEMA_RECORD,
    SCHEMA_ENUM,
    SCHEMA_ARRAY,
    SCHEMA_MAP,
    SCHEMA_UNION,
    SCHEMA_FIXED,
};

struct schema_node;

/* A record field. Field names are never namespaced. */
struct schema_field {
    char *name;
    char **aliases;
    size_t alias_count;
    const struct schema_node *type;
    const json_t *default_value; /* NULL when the field has no default */
};

/*
 * One type of a parsed schema. A named type (record, enum, fixed) has one
 * node, and every reference to its name points to that node, so the tree of
 * a recursive type has cycles. Nodes are read-only once parsed.
 */
struct schema_node {
    enum schema_type type;
    char *fullname;   /* named types: "io.imgassure.ScanResult" */
    const char *name; /* named types: the part after the last dot */
    char **aliases;   /* named types: full names */
    size_t alias_count;
    struct schema_field *fields; /* record */
    size_t field_count;
    char **symbols; /* enum */
    size_t symbol_count;
    int has_default_symbol;              /* enum */
    size_t default_symbol;               /* enum: index into symbols */
    const struct schema_node *items;     /* array items, map values */
    const struct schema_node **branches; /* union */
    size_t branch_count;
    size_t fixed_size; /* fixed */
    /* A lower bound on the encoded size of any value of this type, so that a
     * decoder can reject an array count that the bytes left cannot hold. */
    size_t min_encoded_size;
};

/* A parsed schema: the node tree, its canonical form and fingerprint. */
struct schema;

/* The deepest nesting of types that schema_parse accepts. */
#define SCHEMA_MAX_DEPTH 64

/* Accepts field defaults that do not match the field's type, as the Avro
 * project's canonical-form test cases need. A decoder that must fill such a
 * field fails then. */
#define SCHEMA_PARSE_LAX_DEFAULTS 1u

/*
 * Parses the JSON text of a schema (a .avsc file) as the Avro specification
 * 1.11 defines it: named types and references to them, namespaces, aliases,
 * field defaults (checked against the field's type unless flags has
 * SCHEMA_PARSE_LAX_DEFAULTS) and enum defaults.
 * Attributes the specification does not define, such as logicalType and
 * doc, are accepted and ignored. Returns a schema that the caller frees with
 * schema_free(), or NULL with the reason in errbuf.
 */
struct schema *schema_parse(const char *json, size_t json_size, unsigned flags,
                            char *errbuf, size_t errbuf_size);

void schema_free(struct schema *schema);

const struct schema_node *schema_root(const struct schema *schema);

/* Returns the Parsing Canonical Form, owned by the schema. */
const char *schema_canonical_form(const struct schema *schema);

/* Returns the CRC-64-AVRO fingerprint of the Parsing Canonical Form. */
uint64_t schema_fingerprint(const struct schema *schema);

/* Computes the CRC-64-AVRO (Rabin) fingerprint of size bytes. */
uint64_t schema_crc64_avro(const void *data, size_t size);

/*
 * Single-object encoding: the marker C3 01, the writer schema's fingerprint
 * as 8 little-endian bytes, then the binary datum.
 */
#define SCHEMA_FRAME_HEADER_SIZE 10

void schema_frame_header_write(uint64_t fingerprint,
                               unsigned char header[SCHEMA_FRAME_HEADER_SIZE]);

/* Reads the header at the start of message. Returns 0 and the writer
 * schema's fingerprint, or -1 with the reason in errbuf (too short, or no
 * C3 01 marker). */
int schema_frame_header_read(const void *message, size_t size,
                             uint64_t *fingerprint, char *errbuf,
                             size_t errbuf_size);

#endif
