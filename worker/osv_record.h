/*
 * Parses one OSV record (schema 1.x, JSON) into the database's read-only
 * views (vulndb.h), allocated from an arena.
 */
#ifndef IMGASSURE_OSV_RECORD_H
#define IMGASSURE_OSV_RECORD_H

#include <stddef.h>

#include "arena.h"
#include "vulndb.h"

enum osv_record_result {
    OSV_RECORD_OK,
    OSV_RECORD_WITHDRAWN, /* valid, but withdrawn: not to be matched */
    OSV_RECORD_INVALID,   /* errbuf has the reason */
    OSV_RECORD_NO_MEMORY,
};

struct osv_record {
    /* The record. Set for OK and WITHDRAWN. */
    struct vulndb_advisory *advisory;
    /* Its affected entries of supported ecosystems, each pointing back at
     * advisory. affected_count may be 0. */
    struct vulndb_affected *affected;
    size_t affected_count;
    size_t ranges_ignored;  /* SEMVER, GIT and unknown range types */
    size_t vectors_invalid; /* CVSS_V3 scores that do not parse */
};

/*
 * Parses size bytes of text. Everything in *record lives in arena. On
 * INVALID and NO_MEMORY the arena may hold partial data, which the caller
 * releases with arena_rewind(). A record is INVALID for any of these:
 *   - it is not a JSON object, or schema_version is not 1.x,
 *   - id or modified is missing or malformed,
 *   - a field has the wrong JSON type,
 *   - an event object does not contain exactly one of introduced, fixed,
 *     last_affected and limit,
 *   - an ECOSYSTEM range has no introduced event,
 *   - a string or count is over a cap of limits.
 */
enum osv_record_result osv_record_parse(const char *text, size_t size,
                                        const struct vulndb_limits *limits,
                                        struct arena *arena,
                                        struct osv_record *record, char *errbuf,
                                        size_t errbuf_size);

/*
 * Parses an RFC 3339 time ("2024-01-31T12:00:00Z", optional fraction,
 * "Z" or a "+01:00" offset) into milliseconds since the epoch. Returns 0,
 * or -1 when text is not such a time.
 */
int osv_time_parse(const char *text, int64_t *ms);

/* Returns the CVE id that id names, or NULL: id itself when it is a CVE
 * id ("CVE-2023-4911"), or its suffix after a "<prefix>-" database prefix
 * ("DEBIAN-CVE-2023-4911"). The result points into id. */
const char *osv_cve_suffix(const char *id);

#endif
