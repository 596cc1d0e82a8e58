/*
 * The schema store: every known version of every event schema, looked up by
 * fingerprint when decoding and by family when encoding. Readers keep every
 * version so that a message from an older writer still decodes.
 */
#ifndef IMGASSURE_SCHEMA_STORE_H
#define IMGASSURE_SCHEMA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "avro_schema.h"

/* A schema file compiled into the program. dev/embed-schemas.sh generates
 * the table from schemas/ at build time. */
struct embedded_schema {
    const char *name; /* file name without ".avsc": "ScanResult.v1" */
    const char *json;
};

extern const struct embedded_schema embedded_schemas[];
extern const size_t embedded_schema_count;

/* One published version of an event schema. */
struct schema_version {
    char *name;       /* "ScanResult.v1" */
    char *family;     /* "ScanResult": the root record's unqualified name */
    unsigned version; /* 1 */
    struct schema *schema;
    uint64_t fingerprint;
    /* The same schema as avro-c reads it, for encoding with avro-c.
     * avro_generic_value_new() only reads the class and counts its
     * references with atomic operations (avro-c 1.11.1 generic.c and
     * avro/refcount.h), so threads may share it. */
    avro_schema_t avro_schema;
    avro_value_iface_t *avro_class;
};

/*
 * The schema store contains every version of every event schema: the embedded
 * ones, loaded on first use, and any added with schema_store_add(). Versions
 * are never removed, so the pointers it returns stay valid until the
 * process exits. All functions are thread-safe.
 */

/*
 * Finds the version whose canonical form has this fingerprint. Returns 0, or
 * -1 with the reason in errbuf: no known version has it, or an embedded
 * schema is invalid.
 */
int schema_store_find(uint64_t fingerprint,
                      const struct schema_version **version, char *errbuf,
                      size_t errbuf_size);

/*
 * Finds the highest version of a family ("ScanResult"), which readers
 * resolve every older version to and encoders write. Returns 0, or -1 with
 * the reason in errbuf.
 */
int schema_store_current(const char *family,
                         const struct schema_version **version, char *errbuf,
                         size_t errbuf_size);

/*
 * Adds a version at run time, for tests and tools that write or read
 * versions the program was not built with. name is "<Family>.v<N>", and
 * the schema's root must be a record named <Family>. A version higher than
 * the family's current one becomes current. Returns 0 and the stored
 * version, or -1 with the reason in errbuf (invalid schema, a name or
 * canonical form already stored).
 */
int schema_store_add(const char *name, const char *json, size_t json_size,
                     const struct schema_version **version, char *errbuf,
                     size_t errbuf_size);

#endif
