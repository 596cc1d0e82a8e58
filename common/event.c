/*
 * The four events as Avro messages. Structure members map to schema fields
 * of the same name, with these exceptions. A member ending in _ms is the
 * field without that suffix (a timestamp-millis long). The optional times
 * next_attempt_at_ms and vulnerability_db_built_at_ms are null when 0, and
 * finding.cvss_score is null when -1. severity_counts[] is the record
 * SeverityCounts, whose fields are the lowercase severity names.
 */
#include "event.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "avro_datum.h"
#include "schema_store.h"

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* Symbols in the order of the C enums, which is also the schemas' order. */
static const char *const environment_kind_symbols[] = {
    "KUBERNETES", "CONTAINER_REGISTRY", "ECS",
    "FARGATE",    "SHIFTLEFT",          "UNKNOWN",
};
static const char *const image_activity_symbols[] = {
    "RUNNING",
    "PRESENT",
    "DELETED",
};
static const char *const scan_reason_symbols[] = {
    "NEW_IMAGE", "RESCAN", "ON_DEMAND", "RETRY_FAILED", "RESCHEDULED",
};
static const char *const scan_status_symbols[] = {
    "SCANNED",        "PENDING_SCAN",   "PARTIAL",
    "UNSUPPORTED_OS", "UNMATCHED",      "NOT_AN_IMAGE",
    "NETWORK_ERROR",  "UNAUTHORIZED",   "INSUFFICIENT_RESOURCES",
    "TIMEOUT",        "INTERNAL_ERROR",
};
static const char *const removal_reason_symbols[] = {
    "INACTIVE",
    "DELETED_FROM_REGISTRY",
    "SHIFTLEFT_EXPIRED",
};
static const char *const severity_symbols[] = {
    "NONE", "UNKNOWN", "NEGLIGIBLE", "LOW", "MEDIUM", "HIGH", "CRITICAL",
};

/* Fields of the SeverityCounts record, indexed by enum severity. NONE has
 * no field because no finding has that severity. */
static const char *const severity_count_fields[SEVERITY_COUNT] = {
    NULL, "unknown", "negligible", "low", "medium", "high", "critical",
};

static const char *symbol_name(const char *const *symbols, size_t count,
                               int value)
{
    if (value < 0 || (size_t)value >= count)
        return NULL;
    return symbols[value];
}

static int symbol_parse(const char *const *symbols, size_t count,
                        const char *name, int *value)
{
    for (size_t i = 0; name != NULL && i < count; i++) {
        if (strcmp(symbols[i], name) == 0) {
            *value = (int)i;
            return 0;
        }
    }
    return -1;
}

const char *environment_kind_name(enum environment_kind kind)
{
    return symbol_name(environment_kind_symbols,
                       COUNT_OF(environment_kind_symbols), (int)kind);
}

int environment_kind_parse(const char *name, enum environment_kind *kind)
{
    int value;

    if (symbol_parse(environment_kind_symbols,
                     COUNT_OF(environment_kind_symbols), name, &value) != 0)
        return -1;
    *kind = (enum environment_kind)value;
    return 0;
}

const char *image_activity_name(enum image_activity activity)
{
    return symbol_name(image_activity_symbols, COUNT_OF(image_activity_symbols),
                       (int)activity);
}

int image_activity_parse(const char *name, enum image_activity *activity)
{
    int value;

    if (symbol_parse(image_activity_symbols, COUNT_OF(image_activity_symbols),
                     name, &value) != 0)
        return -1;
    *activity = (enum image_activity)value;
    return 0;
}

const char *scan_reason_name(enum scan_reason reason)
{
    return symbol_name(scan_reason_symbols, COUNT_OF(scan_reason_symbols),
                       (int)reason);
}

int scan_reason_parse(const char *name, enum scan_reason *reason)
{
    int value;

    if (symbol_parse(scan_reason_symbols, COUNT_OF(scan_reason_symbols), name,
                     &value) != 0)
        return -1;
    *reason = (enum scan_reason)value;
    return 0;
}

const char *scan_status_name(enum scan_status status)
{
    return symbol_name(scan_status_symbols, COUNT_OF(scan_status_symbols),
                       (int)status);
}

int scan_status_parse(const char *name, enum scan_status *status)
{
    int value;

    if (symbol_parse(scan_status_symbols, COUNT_OF(scan_status_symbols), name,
                     &value) != 0)
        return -1;
    *status = (enum scan_status)value;
    return 0;
}

const char *removal_reason_name(enum removal_reason reason)
{
    return symbol_name(removal_reason_symbols, COUNT_OF(removal_reason_symbols),
                       (int)reason);
}

int removal_reason_parse(const char *name, enum removal_reason *reason)
{
    int value;

    if (symbol_parse(removal_reason_symbols, COUNT_OF(removal_reason_symbols),
                     name, &value) != 0)
        return -1;
    *reason = (enum removal_reason)value;
    return 0;
}

const char *severity_name(enum severity severity)
{
    return symbol_name(severity_symbols, COUNT_OF(severity_symbols),
                       (int)severity);
}

int severity_parse(const char *name, enum severity *severity)
{
    int value;

    if (symbol_parse(severity_symbols, COUNT_OF(severity_symbols), name,
                     &value) != 0)
        return -1;
    *severity = (enum severity)value;
    return 0;
}

static int score_valid(double score)
{
    return isfinite(score) && score >= 0.0 && score <= 10.0;
}

static int finding_check(const struct finding *finding, size_t index,
                         char *errbuf, size_t errbuf_size)
{
    if (finding->alias_count > FINDING_MAX_ALIASES) {
        snprintf(errbuf, errbuf_size,
                 "field findings[%zu].aliases has %zu items, more than the "
                 "%zu a finding may carry",
                 index, finding->alias_count, (size_t)FINDING_MAX_ALIASES);
        return -1;
    }
    if (finding->alias_count > 0 && finding->aliases == NULL) {
        snprintf(errbuf, errbuf_size,
                 "findings[%zu].aliases is NULL but alias_count is %zu", index,
                 finding->alias_count);
        return -1;
    }
    if (finding->severity == SEVERITY_NONE) {
        snprintf(errbuf, errbuf_size,
                 "field findings[%zu].severity is NONE, which only "
                 "vulnerability_level may be",
                 index);
        return -1;
    }
    if (finding->cvss_score != -1.0 && !score_valid(finding->cvss_score)) {
        snprintf(errbuf, errbuf_size,
                 "field findings[%zu].cvss_score is %g, which is neither from "
                 "0 to 10 nor -1 for unknown",
                 index, finding->cvss_score);
        return -1;
    }
    return 0;
}

/* Checks the list caps, and that a list pointer exists for its count. */
static int lists_check(const struct scan_result *event, char *errbuf,
                       size_t errbuf_size)
{
    size_t items;

    if (event->package_count > SCAN_RESULT_MAX_PACKAGES) {
        snprintf(errbuf, errbuf_size,
                 "field packages has %zu items, more than the %zu a result "
                 "may carry",
                 event->package_count, (size_t)SCAN_RESULT_MAX_PACKAGES);
        return -1;
    }
    if (event->package_count > 0 && event->packages == NULL) {
        snprintf(errbuf, errbuf_size,
                 "packages is NULL but package_count is %zu",
                 event->package_count);
        return -1;
    }
    if (event->finding_count > SCAN_RESULT_MAX_FINDINGS) {
        snprintf(errbuf, errbuf_size,
                 "field findings has %zu items, more than the %zu a result "
                 "may carry",
                 event->finding_count, (size_t)SCAN_RESULT_MAX_FINDINGS);
        return -1;
    }
    if (event->finding_count > 0 && event->findings == NULL) {
        snprintf(errbuf, errbuf_size,
                 "findings is NULL but finding_count is %zu",
                 event->finding_count);
        return -1;
    }

    /* The capped counts keep this sum far below SIZE_MAX. */
    items = event->package_count + event->finding_count;
    for (size_t i = 0; i < event->finding_count; i++) {
        if (finding_check(&event->findings[i], i, errbuf, errbuf_size) != 0)
            return -1;
        items += event->findings[i].alias_count;
    }
    if (items > DATUM_MAX_ITEMS) {
        snprintf(errbuf, errbuf_size,
                 "the result has %zu packages, findings and aliases, more "
                 "than the %zu array items a reader accepts in one message",
                 items, (size_t)DATUM_MAX_ITEMS);
        return -1;
    }
    return 0;
}

/* Returns the name of the first vulnerability member that is not at its
 * default, or NULL. */
static const char *vulnerability_member_set(const struct scan_result *event)
{
    if (event->finding_count > 0)
        return "findings";
    for (int severity = 0; severity < SEVERITY_COUNT; severity++) {
        if (event->severity_counts[severity] != 0)
            return "severity_counts";
    }
    if (event->vulnerability_level != SEVERITY_NONE)
        return "vulnerability_level";
    if (event->risk_score != 0.0)
        return "risk_score";
    return NULL;
}

static int summary_check(const struct scan_result *event, char *errbuf,
                         size_t errbuf_size)
{
    const char *member = vulnerability_member_set(event);

    if (event->severity_counts[SEVERITY_NONE] != 0) {
        snprintf(errbuf, errbuf_size,
                 "severity_counts[SEVERITY_NONE] is %d, but no finding has "
                 "severity NONE",
                 (int)event->severity_counts[SEVERITY_NONE]);
        return -1;
    }
    for (int severity = 1; severity < SEVERITY_COUNT; severity++) {
        if (event->severity_counts[severity] < 0) {
            snprintf(errbuf, errbuf_size,
                     "field severity_counts.%s is %d, below 0",
                     severity_count_fields[severity],
                     (int)event->severity_counts[severity]);
            return -1;
        }
    }
    if (!score_valid(event->risk_score)) {
        snprintf(errbuf, errbuf_size, "field risk_score is %g, outside 0 to 10",
                 event->risk_score);
        return -1;
    }
    if (!event->vulnerabilities_matched && member != NULL) {
        snprintf(errbuf, errbuf_size,
                 "field %s is set, but vulnerabilities_matched is false",
                 member);
        return -1;
    }
    return 0;
}

/*
 * Checks what the schema cannot express: the list caps, value ranges, and
 * that the vulnerability fields keep their defaults unless
 * vulnerabilities_matched is set. Encoding and decoding both run it, so
 * that a result that decodes also encodes again. Returns 0, or -1 with the
 * reason in errbuf.
 */
static int scan_result_check(const struct scan_result *event, char *errbuf,
                             size_t errbuf_size)
{
    if (lists_check(event, errbuf, errbuf_size) != 0)
        return -1;
    return summary_check(event, errbuf, errbuf_size);
}

/*
 * Encoding fills an avro-c value of the family's current schema. The put_*
 * helpers do nothing once one has failed, so an encoder calls them in a row
 * and checks once at the end, and errbuf keeps the first failure.
 */
struct encoder {
    const struct schema_version *version;
    avro_value_t record;
    int record_ready;
    char prefix[64]; /* "image." while writing the nested location */
    int failed;
    char *errbuf;
    size_t errbuf_size;
};

__attribute__((format(printf, 2, 3))) static void
encoder_fail(struct encoder *encoder, const char *format, ...)
{
    char message[256];
    va_list args;

    if (encoder->failed)
        return;
    encoder->failed = 1;
    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    snprintf(encoder->errbuf, encoder->errbuf_size, "%s: %s",
             encoder->version != NULL ? encoder->version->name : "encoder",
             message);
}

static int encoder_field(struct encoder *encoder, avro_value_t *record,
                         const char *name, avro_value_t *field)
{
    if (encoder->failed)
        return -1;
    if (avro_value_get_by_name(record, name, field, NULL) != 0) {
        encoder_fail(encoder, "the schema has no field %s%s", encoder->prefix,
                     name);
        return -1;
    }
    return 0;
}

/* Strings must decode again: valid UTF-8 within the decoder's size cap. */
static int string_check(struct encoder *encoder, const char *name,
                        const char *value)
{
    size_t size = strlen(value);

    if (size > DATUM_MAX_STRING_SIZE) {
        encoder_fail(encoder, "field %s%s is %zu bytes long, more than %zu",
                     encoder->prefix, name, size,
                     (size_t)DATUM_MAX_STRING_SIZE);
        return -1;
    }
    if (!datum_utf8_valid(value, size)) {
        encoder_fail(encoder, "field %s%s is not valid UTF-8", encoder->prefix,
                     name);
        return -1;
    }
    return 0;
}

static void string_set(struct encoder *encoder, avro_value_t *field,
                       const char *name, const char *value)
{
    int status;

    if (string_check(encoder, name, value) != 0)
        return;
    status = avro_value_set_string(field, value);
    if (status != 0)
        encoder_fail(encoder, "cannot set field %s%s: %s", encoder->prefix,
                     name, strerror(status));
}

static void put_string(struct encoder *encoder, avro_value_t *record,
                       const char *name, const char *value)
{
    avro_value_t field;

    if (value == NULL) {
        encoder_fail(encoder, "required field %s%s is NULL", encoder->prefix,
                     name);
        return;
    }
    if (encoder_field(encoder, record, name, &field) == 0)
        string_set(encoder, &field, name, value);
}

static const char *avro_type_label(avro_type_t type)
{
    switch (type) {
    case AVRO_STRING:
        return "string";
    case AVRO_INT64:
        return "long";
    case AVRO_DOUBLE:
        return "double";
    default:
        return "other";
    }
}

/* Selects the null branch of a ["null", T] union, or the T branch when
 * present, and checks that T is type. */
static int branch_select(struct encoder *encoder, avro_value_t *field,
                         const char *name, int present, avro_type_t type,
                         avro_value_t *branch)
{
    int status = avro_value_set_branch(field, present ? 1 : 0, branch);

    if (status != 0 ||
        avro_value_get_type(branch) != (present ? type : AVRO_NULL)) {
        encoder_fail(encoder, "field %s%s is not a [\"null\", %s] union",
                     encoder->prefix, name, avro_type_label(type));
        return -1;
    }
    return 0;
}

static void put_optional_string(struct encoder *encoder, avro_value_t *record,
                                const char *name, const char *value)
{
    avro_value_t field;
    avro_value_t branch;

    if (encoder_field(encoder, record, name, &field) != 0 ||
        branch_select(encoder, &field, name, value != NULL, AVRO_STRING,
                      &branch) != 0)
        return;
    if (value == NULL)
        avro_value_set_null(&branch);
    else
        string_set(encoder, &branch, name, value);
}

static void put_long(struct encoder *encoder, avro_value_t *record,
                     const char *name, int64_t value)
{
    avro_value_t field;

    if (encoder_field(encoder, record, name, &field) != 0)
        return;
    if (avro_value_set_long(&field, value) != 0)
        encoder_fail(encoder, "field %s%s is not a long", encoder->prefix,
                     name);
}

/* Writes 0 as the union's null: the member's "no time" value. */
static void put_optional_long(struct encoder *encoder, avro_value_t *record,
                              const char *name, int64_t value)
{
    avro_value_t field;
    avro_value_t branch;

    if (encoder_field(encoder, record, name, &field) != 0 ||
        branch_select(encoder, &field, name, value != 0, AVRO_INT64, &branch) !=
            0)
        return;
    if (value == 0)
        avro_value_set_null(&branch);
    else
        avro_value_set_long(&branch, value);
}

static void put_int(struct encoder *encoder, avro_value_t *record,
                    const char *name, int32_t value)
{
    avro_value_t field;

    if (encoder_field(encoder, record, name, &field) != 0)
        return;
    if (avro_value_set_int(&field, value) != 0)
        encoder_fail(encoder, "field %s%s is not an int", encoder->prefix,
                     name);
}

static void put_boolean(struct encoder *encoder, avro_value_t *record,
                        const char *name, int value)
{
    avro_value_t field;

    if (encoder_field(encoder, record, name, &field) != 0)
        return;
    if (avro_value_set_boolean(&field, value != 0) != 0)
        encoder_fail(encoder, "field %s%s is not a boolean", encoder->prefix,
                     name);
}

static void put_double(struct encoder *encoder, avro_value_t *record,
                       const char *name, double value)
{
    avro_value_t field;

    if (encoder_field(encoder, record, name, &field) != 0)
        return;
    if (avro_value_set_double(&field, value) != 0)
        encoder_fail(encoder, "field %s%s is not a double", encoder->prefix,
                     name);
}

/* Writes -1 as the union's null: the member's "unknown" value. */
static void put_optional_double(struct encoder *encoder, avro_value_t *record,
                                const char *name, double value)
{
    int present = value != -1.0;
    avro_value_t field;
    avro_value_t branch;

    if (encoder_field(encoder, record, name, &field) != 0 ||
        branch_select(encoder, &field, name, present, AVRO_DOUBLE, &branch) !=
            0)
        return;
    if (present)
        avro_value_set_double(&branch, value);
    else
        avro_value_set_null(&branch);
}

/* Sets an enum by symbol, so the C enum's order need not match the
 * schema's. symbol is NULL when the C value is outside its enum. */
static void put_enum(struct encoder *encoder, avro_value_t *record,
                     const char *name, const char *symbol, int value)
{
    avro_value_t field;
    int index;

    if (encoder_field(encoder, record, name, &field) != 0)
        return;
    if (symbol == NULL) {
        encoder_fail(encoder, "field %s%s has invalid value %d",
                     encoder->prefix, name, value);
        return;
    }
    index = avro_schema_enum_get_by_name(avro_value_get_schema(&field), symbol);
    if (index < 0 || avro_value_set_enum(&field, index) != 0)
        encoder_fail(encoder, "field %s%s has no symbol %s", encoder->prefix,
                     name, symbol);
}

static void put_image_location(struct encoder *encoder, avro_value_t *record,
                               const struct image_location *image)
{
    avro_value_t location;

    if (encoder_field(encoder, record, "image", &location) != 0)
        return;
    snprintf(encoder->prefix, sizeof(encoder->prefix), "image.");
    put_string(encoder, &location, "account", image->account);
    put_string(encoder, &location, "environment_id", image->environment_id);
    put_enum(encoder, &location, "environment_kind",
             environment_kind_name(image->environment_kind),
             (int)image->environment_kind);
    put_string(encoder, &location, "registry", image->registry);
    put_string(encoder, &location, "repository", image->repository);
    put_optional_string(encoder, &location, "tag", image->tag);
    put_optional_string(encoder, &location, "digest", image->digest);
    put_optional_string(encoder, &location, "platform", image->platform);
    encoder->prefix[0] = '\0';
}

static int encoder_begin(struct encoder *encoder, const char *family,
                         char *errbuf, size_t errbuf_size)
{
    int status;

    memset(encoder, 0, sizeof(*encoder));
    encoder->errbuf = errbuf;
    encoder->errbuf_size = errbuf_size;
    if (schema_store_current(family, &encoder->version, errbuf, errbuf_size) !=
        0) {
        encoder->failed = 1;
        return -1;
    }
    status =
        avro_generic_value_new(encoder->version->avro_class, &encoder->record);
    if (status != 0) {
        encoder_fail(encoder, "avro-c cannot make a value: %s",
                     strerror(status));
        return -1;
    }
    encoder->record_ready = 1;
    return 0;
}

/* Writes the message unless a put_* failed, and releases the value. */
static int encoder_finish(struct encoder *encoder, unsigned char **out,
                          size_t *out_size)
{
    int status = -1;

    *out = NULL;
    *out_size = 0;
    if (!encoder->failed)
        status = datum_message_encode(encoder->version, &encoder->record, out,
                                      out_size, encoder->errbuf,
                                      encoder->errbuf_size);
    if (encoder->record_ready)
        avro_value_decref(&encoder->record);
    return status;
}

int image_seen_encode(const struct image_seen *event, unsigned char **out,
                      size_t *out_size, char *errbuf, size_t errbuf_size)
{
    struct encoder encoder;

    if (encoder_begin(&encoder, "ImageSeen", errbuf, errbuf_size) == 0) {
        avro_value_t *record = &encoder.record;

        put_string(&encoder, record, "event_id", event->event_id);
        put_image_location(&encoder, record, &event->image);
        put_enum(&encoder, record, "activity",
                 image_activity_name(event->activity), (int)event->activity);
        put_optional_string(&encoder, record, "workload", event->workload);
        put_long(&encoder, record, "seen_at", event->seen_at_ms);
    }
    return encoder_finish(&encoder, out, out_size);
}

int scan_request_encode(const struct scan_request *event, unsigned char **out,
                        size_t *out_size, char *errbuf, size_t errbuf_size)
{
    struct encoder encoder;

    if (encoder_begin(&encoder, "ScanRequest", errbuf, errbuf_size) == 0) {
        avro_value_t *record = &encoder.record;

        put_string(&encoder, record, "request_id", event->request_id);
        put_image_location(&encoder, record, &event->image);
        put_enum(&encoder, record, "reason", scan_reason_name(event->reason),
                 (int)event->reason);
        put_int(&encoder, record, "attempt", event->attempt);
        put_long(&encoder, record, "not_before", event->not_before_ms);
        put_long(&encoder, record, "requested_at", event->requested_at_ms);
    }
    return encoder_finish(&encoder, out, out_size);
}

static void put_package(struct encoder *encoder, avro_value_t *packages,
                        size_t index, const struct installed_package *package)
{
    avro_value_t record;

    if (encoder->failed)
        return;
    if (avro_value_append(packages, &record, NULL) != 0) {
        encoder_fail(encoder, "cannot append to packages");
        return;
    }
    snprintf(encoder->prefix, sizeof(encoder->prefix), "packages[%zu].", index);
    put_string(encoder, &record, "name", package->name);
    put_string(encoder, &record, "version", package->version);
    put_optional_string(encoder, &record, "architecture",
                        package->architecture);
    put_optional_string(encoder, &record, "source_name", package->source_name);
    put_optional_string(encoder, &record, "source_version",
                        package->source_version);
    encoder->prefix[0] = '\0';
}

static void put_packages(struct encoder *encoder, avro_value_t *record,
                         const struct installed_package *packages, size_t count)
{
    avro_value_t array;

    /* scan_result_check has checked count and the pointer. */
    if (encoder_field(encoder, record, "packages", &array) != 0)
        return;
    for (size_t i = 0; i < count; i++)
        put_package(encoder, &array, i, &packages[i]);
}

static void put_aliases(struct encoder *encoder, avro_value_t *record,
                        const struct finding *finding)
{
    avro_value_t array;

    if (encoder_field(encoder, record, "aliases", &array) != 0)
        return;
    for (size_t i = 0; i < finding->alias_count && !encoder->failed; i++) {
        avro_value_t item;
        char name[32];

        snprintf(name, sizeof(name), "aliases[%zu]", i);
        if (finding->aliases[i] == NULL) {
            encoder_fail(encoder, "required field %s%s is NULL",
                         encoder->prefix, name);
            return;
        }
        if (avro_value_append(&array, &item, NULL) != 0) {
            encoder_fail(encoder, "cannot append to %saliases",
                         encoder->prefix);
            return;
        }
        string_set(encoder, &item, name, finding->aliases[i]);
    }
}

static void put_finding(struct encoder *encoder, avro_value_t *findings,
                        size_t index, const struct finding *finding)
{
    avro_value_t record;

    if (encoder->failed)
        return;
    if (avro_value_append(findings, &record, NULL) != 0) {
        encoder_fail(encoder, "cannot append to findings");
        return;
    }
    snprintf(encoder->prefix, sizeof(encoder->prefix), "findings[%zu].", index);
    put_string(encoder, &record, "id", finding->id);
    put_aliases(encoder, &record, finding);
    put_string(encoder, &record, "package", finding->package);
    put_string(encoder, &record, "installed_version",
               finding->installed_version);
    put_optional_string(encoder, &record, "fixed_version",
                        finding->fixed_version);
    put_enum(encoder, &record, "severity", severity_name(finding->severity),
             (int)finding->severity);
    put_optional_string(encoder, &record, "severity_source",
                        finding->severity_source);
    put_optional_double(encoder, &record, "cvss_score", finding->cvss_score);
    put_optional_string(encoder, &record, "cvss_vector", finding->cvss_vector);
    encoder->prefix[0] = '\0';
}

static void put_findings(struct encoder *encoder, avro_value_t *record,
                         const struct finding *findings, size_t count)
{
    avro_value_t array;

    /* scan_result_check has checked count and the pointer. */
    if (encoder_field(encoder, record, "findings", &array) != 0)
        return;
    for (size_t i = 0; i < count; i++)
        put_finding(encoder, &array, i, &findings[i]);
}

static void put_severity_counts(struct encoder *encoder, avro_value_t *record,
                                const int32_t counts[SEVERITY_COUNT])
{
    avro_value_t severity_counts;

    if (encoder_field(encoder, record, "severity_counts", &severity_counts) !=
        0)
        return;
    snprintf(encoder->prefix, sizeof(encoder->prefix), "severity_counts.");
    for (int severity = 1; severity < SEVERITY_COUNT; severity++)
        put_int(encoder, &severity_counts, severity_count_fields[severity],
                counts[severity]);
    encoder->prefix[0] = '\0';
}

/* Writes the members that ScanResult.v2 added. */
static void put_vulnerabilities(struct encoder *encoder, avro_value_t *record,
                                const struct scan_result *event)
{
    put_boolean(encoder, record, "vulnerabilities_matched",
                event->vulnerabilities_matched);
    put_findings(encoder, record, event->findings, event->finding_count);
    put_severity_counts(encoder, record, event->severity_counts);
    put_enum(encoder, record, "vulnerability_level",
             severity_name(event->vulnerability_level),
             (int)event->vulnerability_level);
    put_double(encoder, record, "risk_score", event->risk_score);
    put_optional_string(encoder, record, "vulnerability_db_version",
                        event->vulnerability_db_version);
    put_optional_long(encoder, record, "vulnerability_db_built_at",
                      event->vulnerability_db_built_at_ms);
}

int scan_result_encode(const struct scan_result *event, unsigned char **out,
                       size_t *out_size, char *errbuf, size_t errbuf_size)
{
    struct encoder encoder;
    char reason[256];

    if (encoder_begin(&encoder, "ScanResult", errbuf, errbuf_size) == 0) {
        avro_value_t *record = &encoder.record;

        if (scan_result_check(event, reason, sizeof(reason)) != 0)
            encoder_fail(&encoder, "%s", reason);
        put_string(&encoder, record, "request_id", event->request_id);
        put_image_location(&encoder, record, &event->image);
        put_optional_string(&encoder, record, "manifest_digest",
                            event->manifest_digest);
        put_enum(&encoder, record, "status", scan_status_name(event->status),
                 (int)event->status);
        put_string(&encoder, record, "status_detail", event->status_detail);
        put_optional_string(&encoder, record, "os_id", event->os_id);
        put_optional_string(&encoder, record, "os_version_id",
                            event->os_version_id);
        put_optional_string(&encoder, record, "os_pretty_name",
                            event->os_pretty_name);
        put_packages(&encoder, record, event->packages, event->package_count);
        put_int(&encoder, record, "layer_count", event->layer_count);
        put_long(&encoder, record, "image_size_bytes", event->image_size_bytes);
        put_vulnerabilities(&encoder, record, event);
        put_int(&encoder, record, "attempt", event->attempt);
        put_optional_long(&encoder, record, "next_attempt_at",
                          event->next_attempt_at_ms);
        put_string(&encoder, record, "worker_id", event->worker_id);
        put_long(&encoder, record, "started_at", event->started_at_ms);
        put_long(&encoder, record, "finished_at", event->finished_at_ms);
    }
    return encoder_finish(&encoder, out, out_size);
}

int image_removed_encode(const struct image_removed *event, unsigned char **out,
                         size_t *out_size, char *errbuf, size_t errbuf_size)
{
    struct encoder encoder;

    if (encoder_begin(&encoder, "ImageRemoved", errbuf, errbuf_size) == 0) {
        avro_value_t *record = &encoder.record;

        put_image_location(&encoder, record, &event->image);
        put_enum(&encoder, record, "reason", removal_reason_name(event->reason),
                 (int)event->reason);
        put_long(&encoder, record, "last_seen_at", event->last_seen_at_ms);
        put_long(&encoder, record, "removed_at", event->removed_at_ms);
    }
    return encoder_finish(&encoder, out, out_size);
}

/*
 * Decoding: reads the resolved datum of the current schema into a
 * structure. As with encoding, the take_* helpers do nothing after a
 * failure. Their failures mean the code and the current schema disagree,
 * except for strings holding a NUL byte, which a C string cannot carry.
 */
struct reader {
    const char *family;
    char prefix[64];
    int failed;
    char *errbuf;
    size_t errbuf_size;
};

__attribute__((format(printf, 2, 3))) static void
reader_fail(struct reader *reader, const char *format, ...)
{
    char message[256];
    va_list args;

    if (reader->failed)
        return;
    reader->failed = 1;
    va_start(args, format);
    vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    snprintf(reader->errbuf, reader->errbuf_size, "%s: %s", reader->family,
             message);
}

/* Returns the value of a record field, looking through a union to its
 * branch. An optional field's null gives NULL, and any other value whose
 * type is not type fails the reader. */
static const struct datum *take_field(struct reader *reader,
                                      const struct datum *record,
                                      const char *name, enum schema_type type,
                                      int optional)
{
    const struct datum *value;

    if (reader->failed)
        return NULL;
    value = datum_field(record, name);
    if (value != NULL && value->schema->type == SCHEMA_UNION)
        value = value->branch.value;
    if (value != NULL && optional && value->schema->type == SCHEMA_NULL)
        return NULL;
    if (value == NULL || value->schema->type != type) {
        reader_fail(reader,
                    "the current schema's field %s%s has an "
                    "unexpected type",
                    reader->prefix, name);
        return NULL;
    }
    return value;
}

static void string_take(struct reader *reader, const struct datum *value,
                        const char *name, char **out)
{
    if (memchr(value->bytes.data, '\0', value->bytes.size) != NULL) {
        reader_fail(reader, "field %s%s contains a NUL byte", reader->prefix,
                    name);
        return;
    }
    *out = strdup(value->bytes.data);
    if (*out == NULL)
        reader_fail(reader, "out of memory");
}

static void take_string(struct reader *reader, const struct datum *record,
                        const char *name, char **out)
{
    const struct datum *value =
        take_field(reader, record, name, SCHEMA_STRING, 0);

    if (value != NULL)
        string_take(reader, value, name, out);
}

static void take_optional_string(struct reader *reader,
                                 const struct datum *record, const char *name,
                                 char **out)
{
    const struct datum *value =
        take_field(reader, record, name, SCHEMA_STRING, 1);

    if (value != NULL)
        string_take(reader, value, name, out);
}

static void take_long(struct reader *reader, const struct datum *record,
                      const char *name, int64_t *out)
{
    const struct datum *value =
        take_field(reader, record, name, SCHEMA_LONG, 0);

    if (value != NULL)
        *out = value->long_value;
}

/* Reads a null as 0, the member's "no time" value. */
static void take_optional_long(struct reader *reader,
                               const struct datum *record, const char *name,
                               int64_t *out)
{
    const struct datum *value =
        take_field(reader, record, name, SCHEMA_LONG, 1);

    *out = value != NULL ? value->long_value : 0;
}

static void take_int(struct reader *reader, const struct datum *record,
                     const char *name, int32_t *out)
{
    const struct datum *value = take_field(reader, record, name, SCHEMA_INT, 0);

    if (value != NULL)
        *out = value->int_value;
}

static void take_boolean(struct reader *reader, const struct datum *record,
                         const char *name, int *out)
{
    const struct datum *value =
        take_field(reader, record, name, SCHEMA_BOOLEAN, 0);

    if (value != NULL)
        *out = value->boolean;
}

static void take_double(struct reader *reader, const struct datum *record,
                        const char *name, double *out)
{
    const struct datum *value =
        take_field(reader, record, name, SCHEMA_DOUBLE, 0);

    if (value != NULL)
        *out = value->double_value;
}

/* Reads a null as -1, the member's "unknown" value. */
static void take_optional_double(struct reader *reader,
                                 const struct datum *record, const char *name,
                                 double *out)
{
    const struct datum *value =
        take_field(reader, record, name, SCHEMA_DOUBLE, 1);

    *out = value != NULL ? value->double_value : -1.0;
}

/* Maps the reader schema's symbol to the C enum by name. */
static void take_enum(struct reader *reader, const struct datum *record,
                      const char *name, const char *const *symbols,
                      size_t count, int *out)
{
    const struct datum *value =
        take_field(reader, record, name, SCHEMA_ENUM, 0);
    const char *symbol;

    if (value == NULL)
        return;
    symbol = value->schema->symbols[value->symbol];
    if (symbol_parse(symbols, count, symbol, out) != 0)
        reader_fail(reader,
                    "field %s%s has symbol %s, which the code does "
                    "not know",
                    reader->prefix, name, symbol);
}

static void take_image_location(struct reader *reader,
                                const struct datum *record,
                                struct image_location *image)
{
    const struct datum *location =
        take_field(reader, record, "image", SCHEMA_RECORD, 0);
    int kind = 0;

    if (location == NULL)
        return;
    snprintf(reader->prefix, sizeof(reader->prefix), "image.");
    take_string(reader, location, "account", &image->account);
    take_string(reader, location, "environment_id", &image->environment_id);
    take_enum(reader, location, "environment_kind", environment_kind_symbols,
              COUNT_OF(environment_kind_symbols), &kind);
    image->environment_kind = (enum environment_kind)kind;
    take_string(reader, location, "registry", &image->registry);
    take_string(reader, location, "repository", &image->repository);
    take_optional_string(reader, location, "tag", &image->tag);
    take_optional_string(reader, location, "digest", &image->digest);
    take_optional_string(reader, location, "platform", &image->platform);
    reader->prefix[0] = '\0';
}

static int reader_begin(struct reader *reader, const char *family,
                        const void *data, size_t size, struct datum **root,
                        char *errbuf, size_t errbuf_size)
{
    memset(reader, 0, sizeof(*reader));
    reader->family = family;
    reader->errbuf = errbuf;
    reader->errbuf_size = errbuf_size;
    return datum_message_decode(family, data, size, NULL, root, NULL, errbuf,
                                errbuf_size);
}

int image_seen_decode(const void *data, size_t size, struct image_seen *event,
                      char *errbuf, size_t errbuf_size)
{
    struct reader reader;
    struct datum *root;
    int activity = 0;

    memset(event, 0, sizeof(*event));
    if (reader_begin(&reader, "ImageSeen", data, size, &root, errbuf,
                     errbuf_size) != 0)
        return -1;

    take_string(&reader, root, "event_id", &event->event_id);
    take_image_location(&reader, root, &event->image);
    take_enum(&reader, root, "activity", image_activity_symbols,
              COUNT_OF(image_activity_symbols), &activity);
    event->activity = (enum image_activity)activity;
    take_optional_string(&reader, root, "workload", &event->workload);
    take_long(&reader, root, "seen_at", &event->seen_at_ms);

    datum_free(root);
    if (reader.failed) {
        image_seen_clear(event);
        return -1;
    }
    return 0;
}

int scan_request_decode(const void *data, size_t size,
                        struct scan_request *event, char *errbuf,
                        size_t errbuf_size)
{
    struct reader reader;
    struct datum *root;
    int reason = 0;

    memset(event, 0, sizeof(*event));
    if (reader_begin(&reader, "ScanRequest", data, size, &root, errbuf,
                     errbuf_size) != 0)
        return -1;

    take_string(&reader, root, "request_id", &event->request_id);
    take_image_location(&reader, root, &event->image);
    take_enum(&reader, root, "reason", scan_reason_symbols,
              COUNT_OF(scan_reason_symbols), &reason);
    event->reason = (enum scan_reason)reason;
    take_int(&reader, root, "attempt", &event->attempt);
    take_long(&reader, root, "not_before", &event->not_before_ms);
    take_long(&reader, root, "requested_at", &event->requested_at_ms);

    datum_free(root);
    if (reader.failed) {
        scan_request_clear(event);
        return -1;
    }
    return 0;
}

static void take_packages(struct reader *reader, const struct datum *record,
                          struct scan_result *event)
{
    const struct datum *array =
        take_field(reader, record, "packages", SCHEMA_ARRAY, 0);

    if (array == NULL || array->array.count == 0)
        return;
    event->packages = calloc(array->array.count, sizeof(*event->packages));
    if (event->packages == NULL) {
        reader_fail(reader, "out of memory");
        return;
    }
    event->package_count = array->array.count;

    for (size_t i = 0; i < array->array.count && !reader->failed; i++) {
        const struct datum *item = &array->array.items[i];
        struct installed_package *package = &event->packages[i];

        snprintf(reader->prefix, sizeof(reader->prefix), "packages[%zu].", i);
        take_string(reader, item, "name", &package->name);
        take_string(reader, item, "version", &package->version);
        take_optional_string(reader, item, "architecture",
                             &package->architecture);
        take_optional_string(reader, item, "source_name",
                             &package->source_name);
        take_optional_string(reader, item, "source_version",
                             &package->source_version);
    }
    reader->prefix[0] = '\0';
}

static void take_aliases(struct reader *reader, const struct datum *record,
                         struct finding *finding)
{
    const struct datum *array =
        take_field(reader, record, "aliases", SCHEMA_ARRAY, 0);

    if (array == NULL || array->array.count == 0)
        return;
    finding->aliases = calloc(array->array.count, sizeof(*finding->aliases));
    if (finding->aliases == NULL) {
        reader_fail(reader, "out of memory");
        return;
    }
    finding->alias_count = array->array.count;

    for (size_t i = 0; i < array->array.count && !reader->failed; i++) {
        const struct datum *item = &array->array.items[i];
        char name[32];

        snprintf(name, sizeof(name), "aliases[%zu]", i);
        if (item->schema->type != SCHEMA_STRING)
            reader_fail(reader,
                        "the current schema's field %s%s has an "
                        "unexpected type",
                        reader->prefix, name);
        else
            string_take(reader, item, name, &finding->aliases[i]);
    }
}

static void take_finding(struct reader *reader, const struct datum *record,
                         struct finding *finding)
{
    int severity = 0;

    take_string(reader, record, "id", &finding->id);
    take_aliases(reader, record, finding);
    take_string(reader, record, "package", &finding->package);
    take_string(reader, record, "installed_version",
                &finding->installed_version);
    take_optional_string(reader, record, "fixed_version",
                         &finding->fixed_version);
    take_enum(reader, record, "severity", severity_symbols,
              COUNT_OF(severity_symbols), &severity);
    finding->severity = (enum severity)severity;
    take_optional_string(reader, record, "severity_source",
                         &finding->severity_source);
    take_optional_double(reader, record, "cvss_score", &finding->cvss_score);
    take_optional_string(reader, record, "cvss_vector", &finding->cvss_vector);
}

static void take_findings(struct reader *reader, const struct datum *record,
                          struct scan_result *event)
{
    const struct datum *array =
        take_field(reader, record, "findings", SCHEMA_ARRAY, 0);

    if (array == NULL || array->array.count == 0)
        return;
    event->findings = calloc(array->array.count, sizeof(*event->findings));
    if (event->findings == NULL) {
        reader_fail(reader, "out of memory");
        return;
    }
    event->finding_count = array->array.count;

    for (size_t i = 0; i < array->array.count && !reader->failed; i++) {
        snprintf(reader->prefix, sizeof(reader->prefix), "findings[%zu].", i);
        take_finding(reader, &array->array.items[i], &event->findings[i]);
    }
    reader->prefix[0] = '\0';
}

static void take_severity_counts(struct reader *reader,
                                 const struct datum *record,
                                 int32_t counts[SEVERITY_COUNT])
{
    const struct datum *severity_counts =
        take_field(reader, record, "severity_counts", SCHEMA_RECORD, 0);

    if (severity_counts == NULL)
        return;
    snprintf(reader->prefix, sizeof(reader->prefix), "severity_counts.");
    for (int severity = 1; severity < SEVERITY_COUNT; severity++)
        take_int(reader, severity_counts, severity_count_fields[severity],
                 &counts[severity]);
    reader->prefix[0] = '\0';
}

/* Reads the members that ScanResult.v2 added. A v1 message has them at
 * their schema defaults: not matched, no findings. */
static void take_vulnerabilities(struct reader *reader,
                                 const struct datum *record,
                                 struct scan_result *event)
{
    int level = 0;

    take_boolean(reader, record, "vulnerabilities_matched",
                 &event->vulnerabilities_matched);
    take_findings(reader, record, event);
    take_severity_counts(reader, record, event->severity_counts);
    take_enum(reader, record, "vulnerability_level", severity_symbols,
              COUNT_OF(severity_symbols), &level);
    event->vulnerability_level = (enum severity)level;
    take_double(reader, record, "risk_score", &event->risk_score);
    take_optional_string(reader, record, "vulnerability_db_version",
                         &event->vulnerability_db_version);
    take_optional_long(reader, record, "vulnerability_db_built_at",
                       &event->vulnerability_db_built_at_ms);
}

int scan_result_decode(const void *data, size_t size, struct scan_result *event,
                       char *errbuf, size_t errbuf_size)
{
    struct reader reader;
    struct datum *root;
    int status = 0;
    char reason[256];

    memset(event, 0, sizeof(*event));
    if (reader_begin(&reader, "ScanResult", data, size, &root, errbuf,
                     errbuf_size) != 0)
        return -1;

    take_string(&reader, root, "request_id", &event->request_id);
    take_image_location(&reader, root, &event->image);
    take_optional_string(&reader, root, "manifest_digest",
                         &event->manifest_digest);
    take_enum(&reader, root, "status", scan_status_symbols,
              COUNT_OF(scan_status_symbols), &status);
    event->status = (enum scan_status)status;
    take_string(&reader, root, "status_detail", &event->status_detail);
    take_optional_string(&reader, root, "os_id", &event->os_id);
    take_optional_string(&reader, root, "os_version_id", &event->os_version_id);
    take_optional_string(&reader, root, "os_pretty_name",
                         &event->os_pretty_name);
    take_packages(&reader, root, event);
    take_int(&reader, root, "layer_count", &event->layer_count);
    take_long(&reader, root, "image_size_bytes", &event->image_size_bytes);
    take_vulnerabilities(&reader, root, event);
    take_int(&reader, root, "attempt", &event->attempt);
    take_optional_long(&reader, root, "next_attempt_at",
                       &event->next_attempt_at_ms);
    take_string(&reader, root, "worker_id", &event->worker_id);
    take_long(&reader, root, "started_at", &event->started_at_ms);
    take_long(&reader, root, "finished_at", &event->finished_at_ms);
    if (!reader.failed && scan_result_check(event, reason, sizeof(reason)) != 0)
        reader_fail(&reader, "%s", reason);

    datum_free(root);
    if (reader.failed) {
        scan_result_clear(event);
        return -1;
    }
    return 0;
}

int image_removed_decode(const void *data, size_t size,
                         struct image_removed *event, char *errbuf,
                         size_t errbuf_size)
{
    struct reader reader;
    struct datum *root;
    int reason = 0;

    memset(event, 0, sizeof(*event));
    if (reader_begin(&reader, "ImageRemoved", data, size, &root, errbuf,
                     errbuf_size) != 0)
        return -1;

    take_image_location(&reader, root, &event->image);
    take_enum(&reader, root, "reason", removal_reason_symbols,
              COUNT_OF(removal_reason_symbols), &reason);
    event->reason = (enum removal_reason)reason;
    take_long(&reader, root, "last_seen_at", &event->last_seen_at_ms);
    take_long(&reader, root, "removed_at", &event->removed_at_ms);

    datum_free(root);
    if (reader.failed) {
        image_removed_clear(event);
        return -1;
    }
    return 0;
}

void image_location_clear(struct image_location *image)
{
    free(image->account);
    free(image->environment_id);
    free(image->registry);
    free(image->repository);
    free(image->tag);
    free(image->digest);
    free(image->platform);
    memset(image, 0, sizeof(*image));
}

void image_seen_clear(struct image_seen *event)
{
    free(event->event_id);
    image_location_clear(&event->image);
    free(event->workload);
    memset(event, 0, sizeof(*event));
}

void scan_request_clear(struct scan_request *event)
{
    free(event->request_id);
    image_location_clear(&event->image);
    memset(event, 0, sizeof(*event));
}

void installed_package_clear(struct installed_package *package)
{
    free(package->name);
    free(package->version);
    free(package->architecture);
    free(package->source_name);
    free(package->source_version);
    memset(package, 0, sizeof(*package));
}

void finding_clear(struct finding *finding)
{
    free(finding->id);
    for (size_t i = 0; finding->aliases != NULL && i < finding->alias_count;
         i++)
        free(finding->aliases[i]);
    free(finding->aliases);
    free(finding->package);
    free(finding->installed_version);
    free(finding->fixed_version);
    free(finding->severity_source);
    free(finding->cvss_vector);
    memset(finding, 0, sizeof(*finding));
}

void scan_result_clear(struct scan_result *event)
{
    free(event->request_id);
    image_location_clear(&event->image);
    free(event->manifest_digest);
    free(event->status_detail);
    free(event->os_id);
    free(event->os_version_id);
    free(event->os_pretty_name);
    for (size_t i = 0; event->packages != NULL && i < event->package_count; i++)
        installed_package_clear(&event->packages[i]);
    free(event->packages);
    for (size_t i = 0; event->findings != NULL && i < event->finding_count; i++)
        finding_clear(&event->findings[i]);
    free(event->findings);
    free(event->vulnerability_db_version);
    free(event->worker_id);
    memset(event, 0, sizeof(*event));
}

void image_removed_clear(struct image_removed *event)
{
    image_location_clear(&event->image);
    memset(event, 0, sizeof(*event));
}

/* Copies one optional string. Returns -1 only when out of memory. */
static int string_copy(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst != NULL ? 0 : -1;
}

int image_location_copy(struct image_location *dst,
                        const struct image_location *src)
{
    int status = 0;

    memset(dst, 0, sizeof(*dst));
    dst->environment_kind = src->environment_kind;
    status |= string_copy(&dst->account, src->account);
    status |= string_copy(&dst->environment_id, src->environment_id);
    status |= string_copy(&dst->registry, src->registry);
    status |= string_copy(&dst->repository, src->repository);
    status |= string_copy(&dst->tag, src->tag);
    status |= string_copy(&dst->digest, src->digest);
    status |= string_copy(&dst->platform, src->platform);
    return status != 0 ? -1 : 0;
}
