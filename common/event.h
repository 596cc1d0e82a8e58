/*
 * The four events imgassure exchanges over Kafka, as C structures, and their
 * Avro single-object encoding (the schemas are in schemas/).
 *
 * Every string member is owned by the structure (malloc'd) and may be NULL
 * where the schema makes the field optional. The *_clear functions free the
 * members and leave the structure zeroed; clearing a zeroed structure is a
 * no-op.
 */
#ifndef IMGASSURE_EVENT_H
#define IMGASSURE_EVENT_H

#include <stddef.h>
#include <stdint.h>

enum environment_kind {
    ENVIRONMENT_KUBERNETES,
    ENVIRONMENT_CONTAINER_REGISTRY,
    ENVIRONMENT_ECS,
    ENVIRONMENT_FARGATE,
    ENVIRONMENT_SHIFTLEFT,
    ENVIRONMENT_UNKNOWN,
};

enum image_activity {
    ACTIVITY_RUNNING,
    ACTIVITY_PRESENT,
    ACTIVITY_DELETED,
};

enum scan_reason {
    SCAN_REASON_NEW_IMAGE,
    SCAN_REASON_RESCAN,
    SCAN_REASON_ON_DEMAND,
    SCAN_REASON_RETRY_FAILED,
    SCAN_REASON_RESCHEDULED,
};

/* The eleven statuses, in the order of the ScanStatus enum's symbols. */
enum scan_status {
    SCAN_STATUS_SCANNED,
    SCAN_STATUS_PENDING_SCAN,
    SCAN_STATUS_PARTIAL,
    SCAN_STATUS_UNSUPPORTED_OS,
    SCAN_STATUS_UNMATCHED,
    SCAN_STATUS_NOT_AN_IMAGE,
    SCAN_STATUS_NETWORK_ERROR,
    SCAN_STATUS_UNAUTHORIZED,
    SCAN_STATUS_INSUFFICIENT_RESOURCES,
    SCAN_STATUS_TIMEOUT,
    SCAN_STATUS_INTERNAL_ERROR,
};

/* Vulnerability severity, lowest first, so that a larger value is worse.
 * SEVERITY_NONE is only a vulnerability level: no finding at all. */
enum severity {
    SEVERITY_NONE,
    SEVERITY_UNKNOWN,
    SEVERITY_NEGLIGIBLE,
    SEVERITY_LOW,
    SEVERITY_MEDIUM,
    SEVERITY_HIGH,
    SEVERITY_CRITICAL,
};

#define SEVERITY_COUNT (SEVERITY_CRITICAL + 1)

enum removal_reason {
    REMOVAL_INACTIVE,
    REMOVAL_DELETED_FROM_REGISTRY,
    REMOVAL_SHIFTLEFT_EXPIRED,
};

/* The place an image was seen and its name there. */
struct image_location {
    char *account;
    char *environment_id;
    enum environment_kind environment_kind;
    char *registry;   /* "registry.example:5000"; never NULL once decoded */
    char *repository; /* "team/app" */
    char *tag;        /* optional */
    char *digest;     /* "sha256:…" the agent saw; optional */
    char *platform;   /* "os/arch[/variant]"; optional */
};

struct image_seen {
    char *event_id;
    struct image_location image;
    enum image_activity activity;
    char *workload; /* optional */
    int64_t seen_at_ms;
};

struct scan_request {
    char *request_id;
    struct image_location image;
    enum scan_reason reason;
    int32_t attempt;
    int64_t not_before_ms;
    int64_t requested_at_ms;
};

struct installed_package {
    char *name;
    char *version;
    char *architecture;   /* optional */
    char *source_name;    /* optional: the binary's name when absent */
    char *source_version; /* optional: the binary's version when absent */
};

/* Caps on the lists of a scan result. Encoding and decoding fail beyond
 * them, and beyond DATUM_MAX_ITEMS (common/avro_datum.h) packages, findings
 * and aliases in all. */
#define SCAN_RESULT_MAX_PACKAGES ((size_t)100000)
#define SCAN_RESULT_MAX_FINDINGS ((size_t)100000)
#define FINDING_MAX_ALIASES ((size_t)64)

/* One vulnerability in one installed package. Advisories about the same
 * CVE and package (a DSA beside the CVE record, aliases) are merged into
 * one finding that lists them. */
struct finding {
    char *id;       /* the CVE id when there is one, else the advisory id */
    char **aliases; /* the other advisory ids merged into this finding */
    size_t alias_count;
    char *package; /* binary package name as installed */
    char *installed_version;
    char *fixed_version;    /* optional: NULL when no fix is known */
    enum severity severity; /* never SEVERITY_NONE */
    char *severity_source;  /* optional: "debian", "cvss_v3", "cna", ... */
    /* CVSS v3 base score from 0 to 10, or -1 when unknown. A zeroed
     * finding has 0, a known score, so set -1 explicitly. */
    double cvss_score;
    char *cvss_vector; /* optional: "CVSS:3.1/AV:N/..." */
};

struct scan_result {
    char *request_id;
    struct image_location image;
    char *manifest_digest; /* the platform manifest scanned; optional */
    enum scan_status status;
    char *status_detail;
    char *os_id;          /* os-release ID; optional */
    char *os_version_id;  /* os-release VERSION_ID; optional */
    char *os_pretty_name; /* os-release PRETTY_NAME; optional */
    struct installed_package *packages;
    size_t package_count;
    int32_t layer_count;
    int64_t image_size_bytes; /* compressed layers, as the manifest lists */
    /* Vulnerability matching: findings are meaningful only when
     * vulnerabilities_matched is non-zero. */
    int vulnerabilities_matched;
    struct finding *findings;
    size_t finding_count;
    int32_t severity_counts[SEVERITY_COUNT]; /* findings per severity */
    enum severity vulnerability_level;       /* highest severity found */
    double risk_score;                       /* 0.0 to 10.0 */
    char *vulnerability_db_version;          /* optional */
    int64_t vulnerability_db_built_at_ms;    /* 0 when unknown */
    int32_t attempt;
    int64_t next_attempt_at_ms; /* 0: no further attempt planned */
    char *worker_id;
    int64_t started_at_ms;
    int64_t finished_at_ms;
};

struct image_removed {
    struct image_location image;
    enum removal_reason reason;
    int64_t last_seen_at_ms;
    int64_t removed_at_ms;
};

/*
 * The *_name functions return the schema's symbol for a value, such as
 * "KUBERNETES", or NULL for a value outside the enum. The *_parse functions
 * set the value of a symbol and return 0, or return -1 for an unknown one.
 */
const char *environment_kind_name(enum environment_kind kind);
int environment_kind_parse(const char *name, enum environment_kind *kind);
const char *image_activity_name(enum image_activity activity);
int image_activity_parse(const char *name, enum image_activity *activity);
const char *scan_reason_name(enum scan_reason reason);
int scan_reason_parse(const char *name, enum scan_reason *reason);
const char *scan_status_name(enum scan_status status);
int scan_status_parse(const char *name, enum scan_status *status);
const char *removal_reason_name(enum removal_reason reason);
int removal_reason_parse(const char *name, enum removal_reason *reason);
const char *severity_name(enum severity severity);
int severity_parse(const char *name, enum severity *severity);

/*
 * Encoders write the Avro single-object encoding of the current schema
 * version into a malloc'd buffer that the caller frees. They return 0, or -1
 * with a message naming the field in errbuf. Encoding fails on a required
 * string left NULL, a string that is not UTF-8 or is longer than
 * DATUM_MAX_STRING_SIZE (common/avro_datum.h), an enum value outside its
 * enum, a list beyond its cap, or when out of memory. A scan result also
 * fails on a finding of severity SEVERITY_NONE, a negative severity count,
 * a score outside 0 to 10 (cvss_score may be -1), or on findings, counts,
 * level or risk score set while vulnerabilities_matched is 0. Encoders and
 * decoders are thread-safe.
 */
int image_seen_encode(const struct image_seen *event, unsigned char **out,
                      size_t *out_size, char *errbuf, size_t errbuf_size);
int scan_request_encode(const struct scan_request *event, unsigned char **out,
                        size_t *out_size, char *errbuf, size_t errbuf_size);
int scan_result_encode(const struct scan_result *event, unsigned char **out,
                       size_t *out_size, char *errbuf, size_t errbuf_size);
int image_removed_encode(const struct image_removed *event, unsigned char **out,
                         size_t *out_size, char *errbuf, size_t errbuf_size);

/*
 * Decoders read a single-object encoded message written with any known
 * version of the event's schema and resolve it to the current version. They
 * return 0 and fill *event (the caller clears it), or -1 with the reason in
 * errbuf. Decoding fails on bad framing, an unknown fingerprint, a version
 * of another event's schema, or a datum that is truncated, beyond a cap of
 * datum_default_limits or otherwise invalid. It also fails when the writer
 * lacks a field that has no default, when a string contains a NUL byte, or
 * when a scan result breaks a rule or cap that its encoder checks, so that
 * every result that decodes also encodes. A ScanResult.v1 message decodes
 * with vulnerabilities_matched 0 and no findings. On failure *event is left
 * zeroed.
 */
int image_seen_decode(const void *data, size_t size, struct image_seen *event,
                      char *errbuf, size_t errbuf_size);
int scan_request_decode(const void *data, size_t size,
                        struct scan_request *event, char *errbuf,
                        size_t errbuf_size);
int scan_result_decode(const void *data, size_t size, struct scan_result *event,
                       char *errbuf, size_t errbuf_size);
int image_removed_decode(const void *data, size_t size,
                         struct image_removed *event, char *errbuf,
                         size_t errbuf_size);

void image_location_clear(struct image_location *image);
void image_seen_clear(struct image_seen *event);
void scan_request_clear(struct scan_request *event);
void installed_package_clear(struct installed_package *package);
void finding_clear(struct finding *finding);
void scan_result_clear(struct scan_result *event);
void image_removed_clear(struct image_removed *event);

/* Copies every string of src into dst (dst is overwritten, not cleared
 * first). Returns 0, or -1 when out of memory (dst then contains what was
 * copied and must be cleared). */
int image_location_copy(struct image_location *dst,
                        const struct image_location *src);

#endif
