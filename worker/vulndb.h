/*
 * The vulnerability database: OSV records (schema 1.x) of the Debian,
 * Ubuntu and Alpine ecosystems, indexed by ecosystem and package name, and
 * optional CVE JSON 5 records that add CVSS vectors and CNA severities.
 *
 * A loaded database is immutable. Any number of threads may read it at
 * once without locks. To reload, load a new database, publish the pointer
 * to it where the readers take it from, and free the old one after the
 * last reader is done with it. This module keeps no reference count, so
 * the owner of the pointer decides when that is.
 *
 * Ecosystems. Records name source packages (Alpine: origin packages) in
 * "Debian:<major>", "Alpine:v<major>.<minor>" and "Ubuntu:<YY.MM>" with an
 * optional ":LTS". The index drops ":LTS", so "Ubuntu:22.04:LTS" is found
 * as "Ubuntu:22.04". "Ubuntu:Pro:<YY.MM>[:LTS]" records, which describe
 * fixes shipped only to Ubuntu Pro (ESM) subscribers, are indexed under
 * "Ubuntu:Pro:<YY.MM>". vulndb_ecosystem_for_os() never returns that
 * name, because os-release does not tell whether an image has Pro
 * enabled. Debian and Ubuntu versions order as dpkg does, Alpine versions
 * as apk does. Records of other ecosystems are counted and skipped.
 */
#ifndef IMGASSURE_VULNDB_H
#define IMGASSURE_VULNDB_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

/* Caps on what a database may hold. Each record-level cap skips the
 * record, and each load-level cap fails the load. */
struct vulndb_limits {
    /* Load level. */
    size_t max_file_bytes;    /* one .json file or zip entry; larger ones
                                 are skipped and counted as invalid */
    uint64_t max_total_bytes; /* all files read, after decompression */
    size_t max_files;         /* directory and zip entries looked at */
    size_t max_depth;         /* directory levels below the root */
    size_t max_records;       /* OSV records, and CVE records separately */
    /* Record level. */
    size_t max_affected;     /* affected[] entries */
    size_t max_ranges;       /* ranges per affected entry */
    size_t max_events;       /* events per range */
    size_t max_versions;     /* versions[] per affected entry */
    size_t max_ids;          /* aliases + upstream; severity[] entries */
    size_t max_string_bytes; /* any id, name, version or vector */
};

/* Fills limits with the defaults.
 * NOTE: the defaults are estimates, not measured against osv.dev's full
 * exports, which were not at hand. They allow a million records, files of
 * 8 MiB (the largest test record is 5 KiB) and 4 GiB of data in all. */
void vulndb_limits_default(struct vulndb_limits *limits);

struct vulndb_config {
    /* A directory tree of .json OSV records, a .zip of them (osv.dev's
     * <Ecosystem>/all.zip) or one .json file. */
    const char *osv_path;
    /* Optional: CVE JSON 5 records (cvelistV5 layout) in the same forms,
     * or NULL. imgassure-worker takes it from IMGASSURE_CVE_DB. */
    const char *cve_path;
    struct vulndb_limits limits;
};

/* Load statistics: the files and records read, and those skipped. */
struct vulndb_stats {
    size_t files;               /* .json files and entries read */
    size_t records;             /* OSV records indexed */
    size_t records_withdrawn;   /* with a "withdrawn" time: ignored */
    size_t records_invalid;     /* not valid JSON or OSV, or over a cap */
    size_t records_duplicate;   /* an id seen before: the newest kept */
    size_t records_unsupported; /* no Debian, Ubuntu or Alpine entry */
    size_t ranges_ignored;      /* SEMVER and GIT ranges: not distro data */
    size_t vectors_invalid;     /* CVSS_V3 severity that does not parse */
    size_t cve_records;         /* CVE records kept */
    size_t cve_records_invalid;
    /* The first skipped file or record and why, or "" when none. */
    char first_problem[512];
};

struct vulndb;

/*
 * Loads a database. Returns 0 and sets *db, which the caller frees with
 * vulndb_free(). A record that is not valid JSON or OSV, or is over a
 * record-level cap, is skipped and counted in the stats, and the load
 * goes on. Returns -1 with *db NULL and the reason in errbuf when a path
 * cannot be read, a zip archive is corrupt, a load-level cap is reached
 * (a zip bomb stops at max_total_bytes) or memory runs out.
 */
int vulndb_load(const struct vulndb_config *config, struct vulndb **db,
                char *errbuf, size_t errbuf_size);

/* Frees a database. NULL is a no-op. */
void vulndb_free(struct vulndb *db);

/* Returns the load's statistics, valid as long as db. */
const struct vulndb_stats *vulndb_stats(const struct vulndb *db);

/* Returns the database version, valid as long as db. It reads
 * "osv-<built at, YYYYMMDDTHHMMSSZ>-<12 hex digits>". The digits start
 * the SHA-256 of the indexed records' ids and modified times and of the
 * CVE records' ids, vectors and CNA severities, so any change to the
 * data that matching reads gives another version. */
const char *vulndb_version(const struct vulndb *db);

/* Returns the newest "modified" time among the valid OSV records read,
 * withdrawn ones included, in milliseconds since the epoch, or 0 when
 * there were none. */
int64_t vulndb_built_at_ms(const struct vulndb *db);

/*
 * Writes the ecosystem whose records apply to an image with the given
 * os-release ID and VERSION_ID: debian "12" gives "Debian:12", ubuntu
 * "22.04" gives "Ubuntu:22.04", alpine "3.10.4" gives "Alpine:v3.10".
 * Returns 0, or -1 when the OS is not one of those three, the version is
 * missing (Debian testing and unstable set none) or malformed, or out is
 * too small.
 */
int vulndb_ecosystem_for_os(const char *os_id, const char *version_id,
                            char *out, size_t out_size);

/* Sets the version scheme of an ecosystem as the index names it. Returns
 * 0, or -1 for an ecosystem the database does not index. */
int vulndb_ecosystem_scheme(const char *ecosystem, enum version_scheme *scheme);

/* Read-only views of the loaded data. Strings are never NULL unless their
 * comment allows it, and all of it lives as long as the database. */

enum vulndb_event_kind {
    VULNDB_EVENT_INTRODUCED, /* version "0" sorts before every version */
    VULNDB_EVENT_FIXED,
    VULNDB_EVENT_LAST_AFFECTED,
    VULNDB_EVENT_LIMIT, /* version "*" sorts after every version */
};

struct vulndb_event {
    enum vulndb_event_kind kind;
    const char *version;
};

/* An ECOSYSTEM range. Its events are sorted by version, and at equal
 * versions "introduced" comes first, as OSV's evaluation expects. */
struct vulndb_range {
    const struct vulndb_event *events;
    size_t event_count;
};

/* One OSV record. */
struct vulndb_advisory {
    const char *id;
    /* The vulnerabilities the record describes. These are the CVE ids
     * among its id, aliases and upstream, where "DEBIAN-CVE-2023-4911"
     * and "UBUNTU-CVE-2023-4911" name CVE-2023-4911. A record that names
     * no CVE has one id here, the smallest of its id and aliases, which
     * records that alias each other share. */
    const char *const *vulnerability_ids;
    size_t vulnerability_id_count;
    /* aliases that are not CVE ids (GHSA-..., another database's id). */
    const char *const *aliases;
    size_t alias_count;
    int64_t modified_ms;
    /* The highest-scoring valid CVSS_V3 vector of the record's severity
     * field, or NULL. */
    const char *cvss_vector;
    /* The distribution's own rating for the record, or NULL: a severity
     * of type "Ubuntu", or database_specific's "urgency" or "priority". */
    const char *distro_rating;
};

/* One affected[] entry, for one package in one ecosystem. */
struct vulndb_affected {
    const struct vulndb_advisory *advisory;
    const char *ecosystem; /* as indexed: ":LTS" dropped */
    const char *name;
    enum version_scheme scheme;
    const struct vulndb_range *ranges; /* ECOSYSTEM ranges only */
    size_t range_count;
    const char *const *versions;
    size_t version_count;
    /* This entry's own rating (ecosystem_specific or database_specific
     * "urgency" or "priority", or a severity of type "Ubuntu"), or NULL. */
    const char *distro_rating;
    /* The highest-scoring valid CVSS_V3 vector of the entry's severity
     * field, or NULL. */
    const char *cvss_vector;
};

/* The data a CVE record adds to findings. */
struct vulndb_cve {
    const char *id;
    /* The first valid cvssV3_1 or cvssV3_0 vector in the CNA's metrics,
     * else in the ADP containers' metrics in order, or NULL. */
    const char *cvss_vector;
    /* The CNA's first textual severity that severity_from_cna_text()
     * maps ("MODERATE", "Low", "Important"), or NULL. */
    const char *cna_severity;
};

/*
 * Finds the affected entries for a package name in an ecosystem as the
 * index names it. Returns their count and points *entries at the first.
 * The entries are contiguous. Returns 0 when there are none.
 */
size_t vulndb_find(const struct vulndb *db, const char *ecosystem,
                   const char *name, const struct vulndb_affected **entries);

/* Returns 1 when the database contains an affected entry in ecosystem (for
 * example "Debian:12"), else 0. A database without the image's ecosystem
 * cannot tell that the image has no vulnerabilities. */
int vulndb_has_ecosystem(const struct vulndb *db, const char *ecosystem);

/* Returns the CVE record for a CVE id, or NULL. */
const struct vulndb_cve *vulndb_find_cve(const struct vulndb *db,
                                         const char *cve_id);

#endif
