/*
 * The four events through their Avro single-object encoding: round trips,
 * encoder checks, hostile and truncated messages, and resolution of older
 * writer versions: the embedded ScanResult.v1 and the test-only versions in
 * tests/data/avro/.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "avro_datum.h"
#include "event.h"
#include "schema_store.h"

#define TEST_DATA "tests/data/avro/"

/* A growable byte string for building messages by hand. */
struct bytes {
    unsigned char *data;
    size_t size;
    size_t capacity;
};

static void bytes_append(struct bytes *bytes, const void *data, size_t size)
{
    if (bytes->size + size > bytes->capacity) {
        size_t capacity = bytes->capacity > 0 ? bytes->capacity : 64;
        unsigned char *grown;

        while (capacity < bytes->size + size)
            capacity *= 2;
        grown = realloc(bytes->data, capacity);
        assert_non_null(grown);
        bytes->data = grown;
        bytes->capacity = capacity;
    }
    memcpy(bytes->data + bytes->size, data, size);
    bytes->size += size;
}

/* Appends an Avro long: zig-zag, then 7 bits a byte, low bits first. */
static void bytes_append_long(struct bytes *bytes, int64_t value)
{
    uint64_t bits = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    unsigned char byte;

    do {
        byte = bits & 0x7f;
        bits >>= 7;
        if (bits != 0)
            byte |= 0x80;
        bytes_append(bytes, &byte, 1);
    } while (bits != 0);
}

static void bytes_append_repeated(struct bytes *bytes, const void *data,
                                  size_t size, size_t times)
{
    for (size_t i = 0; i < times; i++)
        bytes_append(bytes, data, size);
}

static void assert_optional_string_equal(const char *actual,
                                         const char *expected)
{
    if (expected == NULL)
        assert_null(actual);
    else
        assert_string_equal(actual, expected);
}

static void assert_location_equal(const struct image_location *actual,
                                  const struct image_location *expected)
{
    assert_string_equal(actual->account, expected->account);
    assert_string_equal(actual->environment_id, expected->environment_id);
    assert_int_equal(actual->environment_kind, expected->environment_kind);
    assert_string_equal(actual->registry, expected->registry);
    assert_string_equal(actual->repository, expected->repository);
    assert_optional_string_equal(actual->tag, expected->tag);
    assert_optional_string_equal(actual->digest, expected->digest);
    assert_optional_string_equal(actual->platform, expected->platform);
}

/* Test events point at string literals: encoders only read them. */
static struct image_location sample_location(void)
{
    struct image_location image = {
        .account = (char *)"acme",
        .environment_id = (char *)"prod-eu",
        .environment_kind = ENVIRONMENT_FARGATE,
        .registry = (char *)"registry.example:5000",
        .repository = (char *)"team/app",
        .tag = (char *)"1.2.3",
        .digest = (char *)"sha256:"
                          "0123456789abcdef0123456789abcdef"
                          "0123456789abcdef0123456789abcdef",
        .platform = (char *)"linux/arm64/v8",
    };

    return image;
}

static struct image_seen sample_image_seen(void)
{
    struct image_seen event = {
        .event_id = (char *)"4f9c2a4e-8d51-4c1e-9a55-2b8d1c3e6f70",
        .image = sample_location(),
        .activity = ACTIVITY_DELETED,
        .workload = (char *)"shop/deployment/cart",
        .seen_at_ms = INT64_C(1718000000123),
    };

    return event;
}

static struct installed_package sample_packages[] = {
    {(char *)"libc6", (char *)"2.36-9+deb12u14", (char *)"amd64",
     (char *)"glibc", NULL},
    {(char *)"zlib1g", (char *)"1:1.2.13.dfsg-1+deb12u1", NULL, (char *)"zlib",
     (char *)"1:1.2.13.dfsg-1"},
    {(char *)"caf\xc3\xa9", (char *)"1.0", NULL, NULL, NULL},
};

static struct scan_result sample_scan_result(void)
{
    struct scan_result event = {
        .request_id = (char *)"req-7",
        .image = sample_location(),
        .manifest_digest = (char *)"sha256:feed",
        .status = SCAN_STATUS_PARTIAL,
        .status_detail = (char *)"layer 2 is truncated; the scan retries",
        .os_id = (char *)"debian",
        .os_version_id = (char *)"12",
        .os_pretty_name = (char *)"Debian GNU/Linux 12 (bookworm)",
        .packages = sample_packages,
        .package_count = 3,
        .layer_count = 4,
        .image_size_bytes = INT64_C(31457280000),
        .attempt = 2,
        .next_attempt_at_ms = INT64_C(1718000600000),
        .worker_id = (char *)"worker-3",
        .started_at_ms = INT64_C(1718000000000),
        .finished_at_ms = INT64_C(1718000004321),
    };

    return event;
}

static char *sample_aliases[] = {
    (char *)"DSA-5724-1",
    (char *)"DEBIAN-CVE-2024-6387",
};
static char *sample_unicode_alias[] = {(char *)"ADVISORY-caf\xc3\xa9"};

/* One finding of each severity, with and without the optional members:
 * cvss_score -1 is unknown, and 0 is a known score. */
static struct finding sample_findings[] = {
    {(char *)"CVE-2024-6387", sample_aliases, 2, (char *)"openssh-server",
     (char *)"1:9.2p1-2+deb12u2", (char *)"1:9.2p1-2+deb12u3", SEVERITY_HIGH,
     (char *)"debian", 8.1,
     (char *)"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"},
    {(char *)"CVE-2023-4911", NULL, 0, (char *)"libc6", (char *)"2.36-9", NULL,
     SEVERITY_CRITICAL, (char *)"cvss_v3", 10.0, NULL},
    {(char *)"TEMP-0000000-ABCDEF", NULL, 0, (char *)"bash", (char *)"5.2-2",
     NULL, SEVERITY_UNKNOWN, NULL, -1, NULL},
    {(char *)"CVE-2011-3374", sample_unicode_alias, 1, (char *)"apt",
     (char *)"2.6.1", NULL, SEVERITY_NEGLIGIBLE, (char *)"debian", 0.0,
     (char *)"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N"},
    {(char *)"CVE-2022-0563", NULL, 0, (char *)"util-linux",
     (char *)"2.38.1-5+b1", (char *)"2.38.1-5+deb12u1", SEVERITY_LOW,
     (char *)"cna", -1, NULL},
    {(char *)"CVE-2023-50495", NULL, 0, (char *)"libtinfo6", (char *)"6.4-4",
     NULL, SEVERITY_MEDIUM, (char *)"cvss_v3", 6.5,
     (char *)"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"},
};

/* The sample result after a vulnerability match that found
 * sample_findings. */
#define COUNT_OF_SAMPLE_FINDINGS                                               \
    (sizeof(sample_findings) / sizeof(sample_findings[0]))

static struct scan_result sample_matched_result(void)
{
    struct scan_result event = sample_scan_result();

    event.status = SCAN_STATUS_SCANNED;
    event.next_attempt_at_ms = 0;
    event.vulnerabilities_matched = 1;
    event.findings = sample_findings;
    event.finding_count = COUNT_OF_SAMPLE_FINDINGS;
    for (size_t i = 0; i < event.finding_count; i++)
        event.severity_counts[sample_findings[i].severity]++;
    event.vulnerability_level = SEVERITY_CRITICAL;
    event.risk_score = 9.75;
    event.vulnerability_db_version = (char *)"osv-debian 2024-07-01T06:00Z";
    event.vulnerability_db_built_at_ms = INT64_C(1719813600000);
    return event;
}

static void image_seen_round_trips_every_field(void **state)
{
    struct image_seen event = sample_image_seen();
    struct image_seen decoded;
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    if (image_seen_encode(&event, &message, &size, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    assert_int_equal(message[0], 0xc3);
    assert_int_equal(message[1], 0x01);
    if (image_seen_decode(message, size, &decoded, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);

    assert_string_equal(decoded.event_id, event.event_id);
    assert_location_equal(&decoded.image, &event.image);
    assert_int_equal(decoded.activity, ACTIVITY_DELETED);
    assert_string_equal(decoded.workload, event.workload);
    assert_true(decoded.seen_at_ms == event.seen_at_ms);
    image_seen_clear(&decoded);
    free(message);
}

static void image_seen_round_trips_without_optional_fields(void **state)
{
    struct image_seen event = sample_image_seen();
    struct image_seen decoded;
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    event.image.tag = NULL;
    event.image.digest = NULL;
    event.image.platform = NULL;
    event.workload = NULL;
    event.seen_at_ms = -1;
    event.activity = ACTIVITY_RUNNING;
    event.image.environment_kind = ENVIRONMENT_KUBERNETES;
    if (image_seen_encode(&event, &message, &size, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    if (image_seen_decode(message, size, &decoded, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);

    assert_location_equal(&decoded.image, &event.image);
    assert_null(decoded.workload);
    assert_int_equal(decoded.activity, ACTIVITY_RUNNING);
    assert_true(decoded.seen_at_ms == -1);
    image_seen_clear(&decoded);
    free(message);
}

static void scan_request_round_trips_every_field(void **state)
{
    struct scan_request event = {
        .request_id = (char *)"req-1",
        .image = sample_location(),
        .reason = SCAN_REASON_RESCHEDULED,
        .attempt = INT32_MAX,
        .not_before_ms = INT64_MAX,
        .requested_at_ms = INT64_MIN,
    };
    struct scan_request decoded;
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    event.image.digest = NULL;
    if (scan_request_encode(&event, &message, &size, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    if (scan_request_decode(message, size, &decoded, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);

    assert_string_equal(decoded.request_id, "req-1");
    assert_location_equal(&decoded.image, &event.image);
    assert_int_equal(decoded.reason, SCAN_REASON_RESCHEDULED);
    assert_int_equal(decoded.attempt, INT32_MAX);
    assert_true(decoded.not_before_ms == INT64_MAX);
    assert_true(decoded.requested_at_ms == INT64_MIN);
    scan_request_clear(&decoded);
    free(message);
}

static void assert_packages_equal(const struct scan_result *actual,
                                  const struct scan_result *expected)
{
    assert_int_equal(actual->package_count, expected->package_count);
    for (size_t i = 0; i < expected->package_count; i++) {
        const struct installed_package *a = &actual->packages[i];
        const struct installed_package *e = &expected->packages[i];

        assert_string_equal(a->name, e->name);
        assert_string_equal(a->version, e->version);
        assert_optional_string_equal(a->architecture, e->architecture);
        assert_optional_string_equal(a->source_name, e->source_name);
        assert_optional_string_equal(a->source_version, e->source_version);
    }
}

static void scan_result_round_trips_every_field(void **state)
{
    struct scan_result event = sample_scan_result();
    struct scan_result decoded;
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    if (scan_result_encode(&event, &message, &size, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    if (scan_result_decode(message, size, &decoded, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);

    assert_string_equal(decoded.request_id, event.request_id);
    assert_location_equal(&decoded.image, &event.image);
    assert_string_equal(decoded.manifest_digest, event.manifest_digest);
    assert_int_equal(decoded.status, SCAN_STATUS_PARTIAL);
    assert_string_equal(decoded.status_detail, event.status_detail);
    assert_string_equal(decoded.os_id, "debian");
    assert_string_equal(decoded.os_version_id, "12");
    assert_string_equal(decoded.os_pretty_name, event.os_pretty_name);
    assert_packages_equal(&decoded, &event);
    assert_int_equal(decoded.layer_count, 4);
    assert_true(decoded.image_size_bytes == event.image_size_bytes);
    assert_int_equal(decoded.attempt, 2);
    assert_true(decoded.next_attempt_at_ms == event.next_attempt_at_ms);
    assert_string_equal(decoded.worker_id, "worker-3");
    assert_true(decoded.started_at_ms == event.started_at_ms);
    assert_true(decoded.finished_at_ms == event.finished_at_ms);
    scan_result_clear(&decoded);
    free(message);
}

static void scan_result_round_trips_without_optional_fields(void **state)
{
    struct scan_result event = sample_scan_result();
    struct scan_result decoded;
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    event.image.tag = NULL;
    event.manifest_digest = NULL;
    event.status = SCAN_STATUS_INTERNAL_ERROR;
    event.status_detail = (char *)"";
    event.os_id = NULL;
    event.os_version_id = NULL;
    event.os_pretty_name = NULL;
    event.packages = NULL;
    event.package_count = 0;
    event.next_attempt_at_ms = 0;
    if (scan_result_encode(&event, &message, &size, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    if (scan_result_decode(message, size, &decoded, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);

    assert_location_equal(&decoded.image, &event.image);
    assert_null(decoded.manifest_digest);
    assert_int_equal(decoded.status, SCAN_STATUS_INTERNAL_ERROR);
    assert_string_equal(decoded.status_detail, "");
    assert_null(decoded.os_id);
    assert_null(decoded.os_version_id);
    assert_null(decoded.os_pretty_name);
    assert_null(decoded.packages);
    assert_int_equal(decoded.package_count, 0);
    assert_true(decoded.next_attempt_at_ms == 0);
    scan_result_clear(&decoded);
    free(message);
}

static void scan_result_round_trips_every_status(void **state)
{
    struct scan_result event = sample_scan_result();
    char errbuf[512];

    (void)state;
    for (int status = SCAN_STATUS_SCANNED; status <= SCAN_STATUS_INTERNAL_ERROR;
         status++) {
        struct scan_result decoded;
        unsigned char *message;
        size_t size;

        event.status = (enum scan_status)status;
        if (scan_result_encode(&event, &message, &size, errbuf,
                               sizeof(errbuf)) != 0 ||
            scan_result_decode(message, size, &decoded, errbuf,
                               sizeof(errbuf)) != 0)
            fail_msg("status %d: %s", status, errbuf);
        assert_int_equal(decoded.status, status);
        scan_result_clear(&decoded);
        free(message);
    }
}

static void assert_findings_equal(const struct scan_result *actual,
                                  const struct scan_result *expected)
{
    assert_int_equal(actual->finding_count, expected->finding_count);
    for (size_t i = 0; i < expected->finding_count; i++) {
        const struct finding *a = &actual->findings[i];
        const struct finding *e = &expected->findings[i];

        assert_string_equal(a->id, e->id);
        assert_int_equal(a->alias_count, e->alias_count);
        for (size_t k = 0; k < e->alias_count; k++)
            assert_string_equal(a->aliases[k], e->aliases[k]);
        if (e->alias_count == 0)
            assert_null(a->aliases);
        assert_string_equal(a->package, e->package);
        assert_string_equal(a->installed_version, e->installed_version);
        assert_optional_string_equal(a->fixed_version, e->fixed_version);
        assert_int_equal(a->severity, e->severity);
        assert_optional_string_equal(a->severity_source, e->severity_source);
        assert_true(a->cvss_score == e->cvss_score);
        assert_optional_string_equal(a->cvss_vector, e->cvss_vector);
    }
}

static void scan_result_round_trips_findings(void **state)
{
    struct scan_result event = sample_matched_result();
    struct scan_result decoded;
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    if (scan_result_encode(&event, &message, &size, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    if (scan_result_decode(message, size, &decoded, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);

    assert_int_equal(decoded.vulnerabilities_matched, 1);
    assert_findings_equal(&decoded, &event);
    assert_true(decoded.findings[2].cvss_score == -1);
    assert_null(decoded.findings[2].fixed_version);
    assert_true(decoded.findings[3].cvss_score == 0.0);
    assert_string_equal(decoded.findings[3].aliases[0], "ADVISORY-caf\xc3\xa9");
    assert_int_equal(decoded.severity_counts[SEVERITY_NONE], 0);
    for (int severity = SEVERITY_UNKNOWN; severity <= SEVERITY_CRITICAL;
         severity++)
        assert_int_equal(decoded.severity_counts[severity], 1);
    assert_int_equal(decoded.vulnerability_level, SEVERITY_CRITICAL);
    assert_true(decoded.risk_score == 9.75);
    assert_string_equal(decoded.vulnerability_db_version,
                        event.vulnerability_db_version);
    assert_true(decoded.vulnerability_db_built_at_ms ==
                event.vulnerability_db_built_at_ms);
    assert_packages_equal(&decoded, &event);
    assert_string_equal(decoded.worker_id, "worker-3");
    assert_true(decoded.finished_at_ms == event.finished_at_ms);
    scan_result_clear(&decoded);
    assert_null(decoded.findings);
    assert_int_equal(decoded.finding_count, 0);
    free(message);
}

static void scan_result_round_trips_matched_without_findings(void **state)
{
    struct scan_result event = sample_scan_result();
    struct scan_result decoded;
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    event.vulnerabilities_matched = 1;
    if (scan_result_encode(&event, &message, &size, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    if (scan_result_decode(message, size, &decoded, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);

    assert_int_equal(decoded.vulnerabilities_matched, 1);
    assert_null(decoded.findings);
    assert_int_equal(decoded.finding_count, 0);
    assert_int_equal(decoded.vulnerability_level, SEVERITY_NONE);
    assert_true(decoded.risk_score == 0.0);
    assert_null(decoded.vulnerability_db_version);
    assert_true(decoded.vulnerability_db_built_at_ms == 0);
    scan_result_clear(&decoded);
    free(message);
}

static void scan_result_round_trips_every_vulnerability_level(void **state)
{
    struct scan_result event = sample_matched_result();
    char errbuf[512];

    (void)state;
    for (int level = SEVERITY_NONE; level <= SEVERITY_CRITICAL; level++) {
        struct scan_result decoded;
        unsigned char *message;
        size_t size;

        event.vulnerability_level = (enum severity)level;
        if (scan_result_encode(&event, &message, &size, errbuf,
                               sizeof(errbuf)) != 0 ||
            scan_result_decode(message, size, &decoded, errbuf,
                               sizeof(errbuf)) != 0)
            fail_msg("level %d: %s", level, errbuf);
        assert_int_equal(decoded.vulnerability_level, level);
        scan_result_clear(&decoded);
        free(message);
    }
}

static void image_removed_round_trips_every_reason(void **state)
{
    struct image_removed event = {
        .image = sample_location(),
        .last_seen_at_ms = 1000,
        .removed_at_ms = 2000,
    };
    char errbuf[512];

    (void)state;
    for (int reason = REMOVAL_INACTIVE; reason <= REMOVAL_SHIFTLEFT_EXPIRED;
         reason++) {
        struct image_removed decoded;
        unsigned char *message;
        size_t size;

        event.reason = (enum removal_reason)reason;
        if (image_removed_encode(&event, &message, &size, errbuf,
                                 sizeof(errbuf)) != 0 ||
            image_removed_decode(message, size, &decoded, errbuf,
                                 sizeof(errbuf)) != 0)
            fail_msg("reason %d: %s", reason, errbuf);
        assert_location_equal(&decoded.image, &event.image);
        assert_int_equal(decoded.reason, reason);
        assert_true(decoded.last_seen_at_ms == 1000);
        assert_true(decoded.removed_at_ms == 2000);
        image_removed_clear(&decoded);
        free(message);
    }
}

static void enum_names_parse_back(void **state)
{
    enum environment_kind kind;
    enum image_activity activity;
    enum scan_reason reason;
    enum scan_status status;
    enum removal_reason removal;
    enum severity severity;

    (void)state;
    for (int i = 0; i <= ENVIRONMENT_UNKNOWN; i++) {
        assert_int_equal(
            environment_kind_parse(
                environment_kind_name((enum environment_kind)i), &kind),
            0);
        assert_int_equal(kind, i);
    }
    for (int i = 0; i <= ACTIVITY_DELETED; i++) {
        assert_int_equal(
            image_activity_parse(image_activity_name((enum image_activity)i),
                                 &activity),
            0);
        assert_int_equal(activity, i);
    }
    for (int i = 0; i <= SCAN_REASON_RESCHEDULED; i++) {
        assert_int_equal(
            scan_reason_parse(scan_reason_name((enum scan_reason)i), &reason),
            0);
        assert_int_equal(reason, i);
    }
    for (int i = 0; i <= SCAN_STATUS_INTERNAL_ERROR; i++) {
        assert_int_equal(
            scan_status_parse(scan_status_name((enum scan_status)i), &status),
            0);
        assert_int_equal(status, i);
    }
    for (int i = 0; i <= REMOVAL_SHIFTLEFT_EXPIRED; i++) {
        assert_int_equal(
            removal_reason_parse(removal_reason_name((enum removal_reason)i),
                                 &removal),
            0);
        assert_int_equal(removal, i);
    }
    for (int i = 0; i < SEVERITY_COUNT; i++) {
        assert_int_equal(
            severity_parse(severity_name((enum severity)i), &severity), 0);
        assert_int_equal(severity, i);
    }
    assert_string_equal(severity_name(SEVERITY_NONE), "NONE");
    assert_string_equal(severity_name(SEVERITY_NEGLIGIBLE), "NEGLIGIBLE");
    assert_null(severity_name((enum severity)SEVERITY_COUNT));
    assert_int_equal(severity_parse("critical", &severity), -1);
    assert_int_equal(severity_parse(NULL, &severity), -1);
    assert_string_equal(scan_status_name(SCAN_STATUS_INSUFFICIENT_RESOURCES),
                        "INSUFFICIENT_RESOURCES");
    assert_null(scan_status_name((enum scan_status)11));
    assert_null(environment_kind_name((enum environment_kind) - 1));
    assert_int_equal(scan_status_parse("scanned", &status), -1);
    assert_int_equal(environment_kind_parse(NULL, &kind), -1);
}

/* Encodes event with one change and expects an error naming the field. */
static void assert_scan_result_rejected(const struct scan_result *event,
                                        const char *expected)
{
    unsigned char *message = (unsigned char *)"unchanged";
    size_t size = 1;
    char errbuf[512] = "";

    assert_int_equal(
        scan_result_encode(event, &message, &size, errbuf, sizeof(errbuf)), -1);
    assert_null(message);
    assert_int_equal(size, 0);
    if (strstr(errbuf, expected) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", errbuf, expected);
}

static void encode_rejects_missing_required_strings(void **state)
{
    struct installed_package packages[2];
    struct scan_result event = sample_scan_result();

    (void)state;
    event.request_id = NULL;
    assert_scan_result_rejected(&event, "required field request_id is NULL");

    event = sample_scan_result();
    event.image.registry = NULL;
    assert_scan_result_rejected(&event,
                                "required field image.registry is NULL");

    event = sample_scan_result();
    event.status_detail = NULL;
    assert_scan_result_rejected(&event, "required field status_detail is NULL");

    event = sample_scan_result();
    event.worker_id = NULL;
    assert_scan_result_rejected(&event, "required field worker_id is NULL");

    event = sample_scan_result();
    memcpy(packages, sample_packages, sizeof(packages));
    packages[1].version = NULL;
    event.packages = packages;
    event.package_count = 2;
    assert_scan_result_rejected(&event,
                                "required field packages[1].version is NULL");
}

static void encode_rejects_other_events_missing_strings(void **state)
{
    struct image_seen seen = sample_image_seen();
    struct scan_request request = {.request_id = (char *)"r",
                                   .image = sample_location()};
    struct image_removed removed = {.image = sample_location()};
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    seen.event_id = NULL;
    assert_int_equal(
        image_seen_encode(&seen, &message, &size, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "ImageSeen.v1: required field event_id"));

    request.image.account = NULL;
    assert_int_equal(
        scan_request_encode(&request, &message, &size, errbuf, sizeof(errbuf)),
        -1);
    assert_non_null(strstr(errbuf, "required field image.account"));

    removed.image.repository = NULL;
    assert_int_equal(
        image_removed_encode(&removed, &message, &size, errbuf, sizeof(errbuf)),
        -1);
    assert_non_null(strstr(errbuf, "required field image.repository"));
}

static void encode_rejects_invalid_values(void **state)
{
    struct scan_result event = sample_scan_result();

    (void)state;
    event.status = (enum scan_status)42;
    assert_scan_result_rejected(&event, "field status has invalid value 42");

    event = sample_scan_result();
    event.image.environment_kind = (enum environment_kind) - 3;
    assert_scan_result_rejected(
        &event, "field image.environment_kind has invalid value -3");

    event = sample_scan_result();
    event.os_pretty_name = (char *)"bad \xff byte";
    assert_scan_result_rejected(&event, "field os_pretty_name is not valid");

    event = sample_scan_result();
    event.packages = NULL;
    assert_scan_result_rejected(&event, "packages is NULL but package_count");
}

/* Returns the matched sample result with its findings copied into
 * findings, which a test then changes. */
static struct scan_result
matched_result_with(struct finding findings[COUNT_OF_SAMPLE_FINDINGS])
{
    struct scan_result event = sample_matched_result();

    memcpy(findings, sample_findings, sizeof(sample_findings));
    event.findings = findings;
    return event;
}

static void encode_rejects_invalid_finding_strings(void **state)
{
    struct finding findings[COUNT_OF_SAMPLE_FINDINGS];
    char *aliases[] = {(char *)"DSA-1", NULL};
    char *bad_aliases[] = {(char *)"DSA-\xc0\xaf"};
    struct scan_result event;

    (void)state;
    event = matched_result_with(findings);
    findings[1].id = NULL;
    assert_scan_result_rejected(&event,
                                "required field findings[1].id is NULL");

    event = matched_result_with(findings);
    findings[0].package = NULL;
    assert_scan_result_rejected(&event,
                                "required field findings[0].package is NULL");

    event = matched_result_with(findings);
    findings[4].installed_version = NULL;
    assert_scan_result_rejected(
        &event, "required field findings[4].installed_version is NULL");

    event = matched_result_with(findings);
    findings[0].aliases = aliases;
    assert_scan_result_rejected(
        &event, "required field findings[0].aliases[1] is NULL");

    event = matched_result_with(findings);
    findings[2].id = (char *)"CVE-\xff";
    assert_scan_result_rejected(&event,
                                "field findings[2].id is not valid UTF-8");

    event = matched_result_with(findings);
    findings[0].aliases = bad_aliases;
    findings[0].alias_count = 1;
    assert_scan_result_rejected(
        &event, "field findings[0].aliases[0] is not valid UTF-8");

    event = matched_result_with(findings);
    findings[0].fixed_version = (char *)"1.0\xed\xa0\x80";
    assert_scan_result_rejected(
        &event, "field findings[0].fixed_version is not valid UTF-8");

    event = matched_result_with(findings);
    findings[3].severity_source = (char *)"\xf5";
    assert_scan_result_rejected(
        &event, "field findings[3].severity_source is not valid UTF-8");

    event = matched_result_with(findings);
    findings[5].cvss_vector = (char *)"CVSS:3.1/\x80";
    assert_scan_result_rejected(
        &event, "field findings[5].cvss_vector is not valid UTF-8");

    event = matched_result_with(findings);
    event.vulnerability_db_version = (char *)"v\xc3";
    assert_scan_result_rejected(
        &event, "field vulnerability_db_version is not valid UTF-8");
}

static void encode_rejects_invalid_finding_values(void **state)
{
    struct finding findings[COUNT_OF_SAMPLE_FINDINGS];
    struct scan_result event;

    (void)state;
    event = matched_result_with(findings);
    findings[0].aliases = NULL;
    assert_scan_result_rejected(
        &event, "findings[0].aliases is NULL but alias_count is 2");

    event = matched_result_with(findings);
    event.findings = NULL;
    assert_scan_result_rejected(&event, "findings is NULL but finding_count");

    event = matched_result_with(findings);
    findings[5].severity = SEVERITY_NONE;
    assert_scan_result_rejected(&event,
                                "field findings[5].severity is NONE, which "
                                "only vulnerability_level may be");

    event = matched_result_with(findings);
    findings[5].severity = (enum severity)42;
    assert_scan_result_rejected(&event,
                                "field findings[5].severity has invalid value "
                                "42");

    event = matched_result_with(findings);
    findings[1].cvss_score = 10.5;
    assert_scan_result_rejected(&event, "field findings[1].cvss_score is 10.5, "
                                        "which is neither from 0 to 10 nor -1");

    event = matched_result_with(findings);
    findings[1].cvss_score = -0.5;
    assert_scan_result_rejected(&event, "field findings[1].cvss_score is -0.5");

    event = matched_result_with(findings);
    findings[1].cvss_score = NAN;
    assert_scan_result_rejected(&event, "field findings[1].cvss_score is ");

    event = matched_result_with(findings);
    event.vulnerability_level = (enum severity)SEVERITY_COUNT;
    assert_scan_result_rejected(
        &event, "field vulnerability_level has invalid value 7");

    event = matched_result_with(findings);
    event.risk_score = 10.25;
    assert_scan_result_rejected(&event,
                                "field risk_score is 10.25, outside 0 to 10");

    event = matched_result_with(findings);
    event.risk_score = INFINITY;
    assert_scan_result_rejected(&event, "field risk_score is inf");

    event = matched_result_with(findings);
    event.severity_counts[SEVERITY_HIGH] = -1;
    assert_scan_result_rejected(&event,
                                "field severity_counts.high is -1, below 0");

    event = matched_result_with(findings);
    event.severity_counts[SEVERITY_NONE] = 2;
    assert_scan_result_rejected(&event, "severity_counts[SEVERITY_NONE] is 2");
}

static void encode_rejects_vulnerabilities_while_unmatched(void **state)
{
    struct scan_result event = sample_matched_result();
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    event.vulnerabilities_matched = 0;
    assert_scan_result_rejected(
        &event, "field findings is set, but vulnerabilities_matched is false");

    event.findings = NULL;
    event.finding_count = 0;
    assert_scan_result_rejected(&event, "field severity_counts is set");

    memset(event.severity_counts, 0, sizeof(event.severity_counts));
    assert_scan_result_rejected(&event, "field vulnerability_level is set");

    event.vulnerability_level = SEVERITY_NONE;
    assert_scan_result_rejected(&event, "field risk_score is set");

    /* The database's identity may be known without a match. */
    event.risk_score = 0.0;
    if (scan_result_encode(&event, &message, &size, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    free(message);
}

/* Returns count copies of a small valid finding, which the caller frees. */
static struct finding *findings_new(size_t count)
{
    struct finding finding = {
        .id = (char *)"a",
        .package = (char *)"p",
        .installed_version = (char *)"1",
        .severity = SEVERITY_LOW,
        .cvss_score = -1,
    };
    struct finding *findings = calloc(count ? count : 1, sizeof(*findings));

    assert_non_null(findings);
    for (size_t i = 0; i < count; i++)
        findings[i] = finding;
    return findings;
}

static void encode_rejects_lists_over_caps(void **state)
{
    struct scan_result event = sample_matched_result();
    struct finding *findings = findings_new(SCAN_RESULT_MAX_FINDINGS + 1);
    struct installed_package *packages =
        calloc(SCAN_RESULT_MAX_PACKAGES + 1, sizeof(*packages));
    char *aliases[FINDING_MAX_ALIASES + 1];

    (void)state;
    assert_non_null(packages);
    for (size_t i = 0; i <= SCAN_RESULT_MAX_PACKAGES; i++)
        packages[i] = sample_packages[0];
    for (size_t i = 0; i <= FINDING_MAX_ALIASES; i++)
        aliases[i] = (char *)"DSA-1";

    event.findings = findings;
    event.finding_count = SCAN_RESULT_MAX_FINDINGS + 1;
    assert_scan_result_rejected(&event, "field findings has 100001 items, "
                                        "more than the 100000 a result may "
                                        "carry");

    event = sample_scan_result();
    event.packages = packages;
    event.package_count = SCAN_RESULT_MAX_PACKAGES + 1;
    assert_scan_result_rejected(&event, "field packages has 100001 items, "
                                        "more than the 100000 a result may "
                                        "carry");

    event = sample_matched_result();
    event.findings = findings;
    event.finding_count = 1;
    findings[0].aliases = aliases;
    findings[0].alias_count = FINDING_MAX_ALIASES + 1;
    assert_scan_result_rejected(&event, "field findings[0].aliases has 65 "
                                        "items, more than the 64 a finding "
                                        "may carry");

    /* Each list within its cap, but more items than one datum may hold. */
    findings[0].alias_count = 1;
    event.finding_count = DATUM_MAX_ITEMS / 2;
    event.packages = packages;
    event.package_count = DATUM_MAX_ITEMS / 2;
    assert_scan_result_rejected(&event, "the result has 100001 packages, "
                                        "findings and aliases, more than the "
                                        "100000 array items a reader accepts");
    free(findings);
    free(packages);
}

static void encode_rejects_string_over_cap(void **state)
{
    struct image_seen event = sample_image_seen();
    char *long_id = malloc(DATUM_MAX_STRING_SIZE + 2);
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    assert_non_null(long_id);
    memset(long_id, 'a', DATUM_MAX_STRING_SIZE + 1);
    long_id[DATUM_MAX_STRING_SIZE + 1] = '\0';
    event.event_id = long_id;
    assert_int_equal(
        image_seen_encode(&event, &message, &size, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "field event_id is 1048577 bytes long"));
    free(long_id);
}

static struct bytes encode_image_seen(const struct image_seen *event)
{
    struct bytes bytes = {0};
    char errbuf[512];

    if (image_seen_encode(event, &bytes.data, &bytes.size, errbuf,
                          sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    return bytes;
}

static void decode_rejects_other_event_family(void **state)
{
    struct scan_result result = sample_scan_result();
    struct image_seen decoded;
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    if (scan_result_encode(&result, &message, &size, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    memset(&decoded, 0xa5, sizeof(decoded));
    assert_int_equal(
        image_seen_decode(message, size, &decoded, errbuf, sizeof(errbuf)), -1);
    assert_string_equal(errbuf, "message is a ScanResult.v2, not a version of "
                                "ImageSeen");
    assert_null(decoded.event_id);
    assert_null(decoded.image.account);
    free(message);
}

static void decode_rejects_unknown_fingerprint(void **state)
{
    struct image_seen event = sample_image_seen();
    struct bytes message = encode_image_seen(&event);
    struct image_seen decoded;
    char errbuf[512];

    (void)state;
    message.data[2] ^= 0xff;
    assert_int_equal(image_seen_decode(message.data, message.size, &decoded,
                                       errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "unknown writer schema fingerprint"));
    free(message.data);
}

static void decode_rejects_bad_magic(void **state)
{
    struct image_seen event = sample_image_seen();
    struct bytes message = encode_image_seen(&event);
    struct image_seen decoded;
    char errbuf[512];

    (void)state;
    message.data[0] = 0x4f;
    assert_int_equal(image_seen_decode(message.data, message.size, &decoded,
                                       errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "not with the Avro single-object marker"));
    free(message.data);
}

static void decode_rejects_trailing_garbage(void **state)
{
    struct image_seen event = sample_image_seen();
    struct bytes message = encode_image_seen(&event);
    struct image_seen decoded;
    char errbuf[512];

    (void)state;
    bytes_append(&message, "\x00\x01", 2);
    assert_int_equal(image_seen_decode(message.data, message.size, &decoded,
                                       errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "2 bytes follow the end of the datum"));
    free(message.data);
}

typedef int (*decode_function)(const void *data, size_t size, void *event,
                               char *errbuf, size_t errbuf_size);

static int decode_image_seen(const void *data, size_t size, void *event,
                             char *errbuf, size_t errbuf_size)
{
    return image_seen_decode(data, size, event, errbuf, errbuf_size);
}

static int decode_scan_request(const void *data, size_t size, void *event,
                               char *errbuf, size_t errbuf_size)
{
    return scan_request_decode(data, size, event, errbuf, errbuf_size);
}

static int decode_scan_result(const void *data, size_t size, void *event,
                              char *errbuf, size_t errbuf_size)
{
    return scan_result_decode(data, size, event, errbuf, errbuf_size);
}

static int decode_image_removed(const void *data, size_t size, void *event,
                                char *errbuf, size_t errbuf_size)
{
    return image_removed_decode(data, size, event, errbuf, errbuf_size);
}

/* Every proper prefix must fail. Each is copied into a buffer of exactly
 * its size so that AddressSanitizer detects a read past its end. */
static void assert_every_prefix_rejected(const unsigned char *message,
                                         size_t size, decode_function decode,
                                         size_t event_size)
{
    void *event = malloc(event_size);
    static const unsigned char zero[sizeof(struct scan_result)];
    char errbuf[512];

    assert_non_null(event);
    assert_true(event_size <= sizeof(zero));
    for (size_t length = 0; length < size; length++) {
        unsigned char *prefix = malloc(length ? length : 1);

        assert_non_null(prefix);
        memcpy(prefix, message, length);
        errbuf[0] = '\0';
        if (decode(prefix, length, event, errbuf, sizeof(errbuf)) != -1)
            fail_msg("a prefix of %zu of %zu bytes decoded", length, size);
        assert_true(errbuf[0] != '\0');
        assert_memory_equal(event, zero, event_size);
        free(prefix);
    }
    free(event);
}

static void decode_rejects_every_truncation(void **state)
{
    struct image_seen seen = sample_image_seen();
    struct scan_request request = {
        .request_id = (char *)"r", .image = sample_location(), .attempt = 1};
    struct scan_result result = sample_matched_result();
    struct image_removed removed = {.image = sample_location()};
    unsigned char *message;
    size_t size;
    char errbuf[512];

    (void)state;
    assert_int_equal(
        image_seen_encode(&seen, &message, &size, errbuf, sizeof(errbuf)), 0);
    assert_every_prefix_rejected(message, size, decode_image_seen,
                                 sizeof(struct image_seen));
    free(message);

    assert_int_equal(
        scan_request_encode(&request, &message, &size, errbuf, sizeof(errbuf)),
        0);
    assert_every_prefix_rejected(message, size, decode_scan_request,
                                 sizeof(struct scan_request));
    free(message);

    assert_int_equal(
        scan_result_encode(&result, &message, &size, errbuf, sizeof(errbuf)),
        0);
    assert_every_prefix_rejected(message, size, decode_scan_result,
                                 sizeof(struct scan_result));
    free(message);

    assert_int_equal(
        image_removed_encode(&removed, &message, &size, errbuf, sizeof(errbuf)),
        0);
    assert_every_prefix_rejected(message, size, decode_image_removed,
                                 sizeof(struct image_removed));
    free(message);
}

static void decode_rejects_2gib_string_in_20_bytes(void **state)
{
    struct image_seen event = sample_image_seen();
    struct bytes valid = encode_image_seen(&event);
    struct bytes message = {0};
    struct image_seen decoded;
    char errbuf[512];

    (void)state;
    bytes_append(&message, valid.data, SCHEMA_FRAME_HEADER_SIZE);
    bytes_append_long(&message, INT64_C(2147483648)); /* event_id length */
    bytes_append_repeated(&message, "a", 1, 20 - message.size);
    assert_int_equal(message.size, 20);

    assert_int_equal(image_seen_decode(message.data, message.size, &decoded,
                                       errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "event_id: string of 2147483648 bytes is "
                                   "longer than the 5 bytes left"));
    free(message.data);
    free(valid.data);
}

/* Returns the offset where two encodings first differ. */
static size_t first_difference(const struct bytes *a, const struct bytes *b)
{
    size_t i = 0;

    while (i < a->size && i < b->size && a->data[i] == b->data[i])
        i++;
    return i;
}

/* Encodes the sample result with count copies of one small package. */
static struct bytes encode_result_with_packages(size_t count)
{
    struct scan_result event = sample_scan_result();
    struct installed_package package = {(char *)"a", (char *)"1", NULL, NULL,
                                        NULL};
    struct installed_package *packages =
        calloc(count ? count : 1, sizeof(*packages));
    struct bytes bytes = {0};
    char errbuf[512];

    assert_non_null(packages);
    for (size_t i = 0; i < count; i++)
        packages[i] = package;
    event.packages = packages;
    event.package_count = count;
    if (scan_result_encode(&event, &bytes.data, &bytes.size, errbuf,
                           sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    free(packages);
    return bytes;
}

/* Builds a message from empty, whose array at offset is empty (the single
 * byte 0), with that array claiming count items and containing present
 * copies of item. */
static struct bytes splice_items(const struct bytes *empty, size_t offset,
                                 int64_t count, const void *item,
                                 size_t item_size, size_t present)
{
    struct bytes message = {0};

    assert_int_equal(empty->data[offset], 0x00);
    bytes_append(&message, empty->data, offset);
    bytes_append_long(&message, count);
    bytes_append_repeated(&message, item, item_size, present);
    bytes_append(&message, empty->data + offset, empty->size - offset);
    return message;
}

/*
 * Builds a ScanResult whose packages array claims count items and contains
 * present copies of the package "a" 1 (7 bytes each). It starts from the
 * encoding without packages, where the array is the single 0 byte at offset.
 */
static struct bytes splice_packages(const struct bytes *empty, size_t offset,
                                    int64_t count, size_t present)
{
    static const unsigned char package[] = {0x02, 'a', 0x02, '1', 0, 0, 0};

    return splice_items(empty, offset, count, package, sizeof(package),
                        present);
}

static void decode_rejects_huge_array_counts(void **state)
{
    struct bytes empty = encode_result_with_packages(0);
    struct bytes one = encode_result_with_packages(1);
    size_t offset = first_difference(&empty, &one);
    struct scan_result decoded;
    struct bytes message;
    char errbuf[512];

    (void)state;
    assert_int_equal(empty.data[offset], 0x00);
    assert_int_equal(one.data[offset], 0x02);

    message = splice_packages(&empty, offset, INT64_C(1) << 40, 0);
    assert_int_equal(scan_result_decode(message.data, message.size, &decoded,
                                        errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "packages: block of 1099511627776 items "
                                   "exceeds the limit"));
    free(message.data);

    message = splice_packages(&empty, offset, 50000, 0);
    assert_int_equal(scan_result_decode(message.data, message.size, &decoded,
                                        errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "block of 50000 items cannot fit"));
    free(message.data);

    /* A negative count is followed by the block's size in bytes. */
    message = (struct bytes){0};
    bytes_append(&message, empty.data, offset);
    bytes_append_long(&message, -3);
    bytes_append_long(&message, INT64_C(1) << 30);
    bytes_append(&message, empty.data + offset, empty.size - offset);
    assert_int_equal(scan_result_decode(message.data, message.size, &decoded,
                                        errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "block size 1073741824 does not fit"));
    free(message.data);

    free(empty.data);
    free(one.data);
}

static void decode_accepts_packages_up_to_item_cap(void **state)
{
    struct bytes empty = encode_result_with_packages(0);
    struct bytes one = encode_result_with_packages(1);
    struct bytes full = encode_result_with_packages(DATUM_MAX_ITEMS);
    size_t offset = first_difference(&empty, &one);
    struct scan_result decoded;
    struct bytes message;
    char errbuf[512];

    (void)state;
    if (scan_result_decode(full.data, full.size, &decoded, errbuf,
                           sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    assert_int_equal(decoded.package_count, DATUM_MAX_ITEMS);
    assert_string_equal(decoded.packages[DATUM_MAX_ITEMS - 1].name, "a");
    scan_result_clear(&decoded);

    message = splice_packages(&empty, offset, DATUM_MAX_ITEMS + 1,
                              DATUM_MAX_ITEMS + 1);
    assert_int_equal(scan_result_decode(message.data, message.size, &decoded,
                                        errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "block of 100001 items exceeds the limit "
                                   "of 100000"));
    free(message.data);
    free(full.data);
    free(empty.data);
    free(one.data);
}

/* Encodes the matched sample result with count copies of the finding of
 * findings_new(), each with alias_count aliases "a". */
static struct bytes encode_result_with_findings(size_t count,
                                                size_t alias_count)
{
    struct scan_result event = sample_matched_result();
    struct finding *findings = findings_new(count);
    char *aliases[FINDING_MAX_ALIASES];
    struct bytes bytes = {0};
    char errbuf[512];

    assert_true(alias_count <= FINDING_MAX_ALIASES);
    for (size_t i = 0; i < alias_count; i++)
        aliases[i] = (char *)"a";
    for (size_t i = 0; i < count; i++) {
        findings[i].aliases = aliases;
        findings[i].alias_count = alias_count;
    }
    event.packages = NULL;
    event.package_count = 0;
    event.findings = findings;
    event.finding_count = count;
    if (scan_result_encode(&event, &bytes.data, &bytes.size, errbuf,
                           sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    free(findings);
    return bytes;
}

static void decode_accepts_findings_up_to_cap(void **state)
{
    /* The finding of findings_new(): id "a", no aliases, package "p",
     * version "1", no fix, LOW, then three nulls. */
    static const unsigned char finding[] = {0x02, 'a',  0x00, 0x02, 'p',  0x02,
                                            '1',  0x00, 0x06, 0x00, 0x00, 0x00};
    struct bytes empty = encode_result_with_findings(0, 0);
    struct bytes one = encode_result_with_findings(1, 0);
    struct bytes full =
        encode_result_with_findings(SCAN_RESULT_MAX_FINDINGS, 0);
    size_t offset = first_difference(&empty, &one);
    struct scan_result decoded;
    struct bytes message;
    char errbuf[512];

    (void)state;
    message = splice_items(&empty, offset, 1, finding, sizeof(finding), 1);
    assert_int_equal(message.size, one.size);
    assert_memory_equal(message.data, one.data, one.size);
    free(message.data);

    if (scan_result_decode(full.data, full.size, &decoded, errbuf,
                           sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    assert_int_equal(decoded.finding_count, SCAN_RESULT_MAX_FINDINGS);
    assert_string_equal(
        decoded.findings[SCAN_RESULT_MAX_FINDINGS - 1].installed_version, "1");
    scan_result_clear(&decoded);

    message =
        splice_items(&empty, offset, SCAN_RESULT_MAX_FINDINGS + 1, finding,
                     sizeof(finding), SCAN_RESULT_MAX_FINDINGS + 1);
    assert_int_equal(scan_result_decode(message.data, message.size, &decoded,
                                        errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "findings: block of 100001 items exceeds "
                                   "the limit of 100000"));
    free(message.data);

    message = splice_items(&empty, offset, INT64_C(1) << 40, finding,
                           sizeof(finding), 0);
    assert_int_equal(scan_result_decode(message.data, message.size, &decoded,
                                        errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "findings: block of 1099511627776 items "
                                   "exceeds the limit"));
    free(message.data);
    free(full.data);
    free(empty.data);
    free(one.data);
}

static void decode_accepts_aliases_up_to_cap(void **state)
{
    static const unsigned char alias[] = {0x02, 'a'};
    struct bytes none = encode_result_with_findings(1, 0);
    struct bytes one = encode_result_with_findings(1, 1);
    struct bytes full = encode_result_with_findings(1, FINDING_MAX_ALIASES);
    size_t offset = first_difference(&none, &one);
    struct scan_result decoded;
    struct bytes message;
    char errbuf[512];

    (void)state;
    if (scan_result_decode(full.data, full.size, &decoded, errbuf,
                           sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    assert_int_equal(decoded.findings[0].alias_count, FINDING_MAX_ALIASES);
    assert_string_equal(decoded.findings[0].aliases[FINDING_MAX_ALIASES - 1],
                        "a");
    scan_result_clear(&decoded);

    message = splice_items(&none, offset, FINDING_MAX_ALIASES, alias,
                           sizeof(alias), FINDING_MAX_ALIASES);
    assert_int_equal(message.size, full.size);
    assert_memory_equal(message.data, full.data, full.size);
    free(message.data);

    message = splice_items(&none, offset, FINDING_MAX_ALIASES + 1, alias,
                           sizeof(alias), FINDING_MAX_ALIASES + 1);
    memset(&decoded, 0xa5, sizeof(decoded));
    assert_int_equal(scan_result_decode(message.data, message.size, &decoded,
                                        errbuf, sizeof(errbuf)),
                     -1);
    assert_string_equal(errbuf, "ScanResult: field findings[0].aliases has 65 "
                                "items, more than the 64 a finding may carry");
    assert_null(decoded.findings);
    assert_int_equal(decoded.finding_count, 0);
    free(message.data);

    message =
        splice_items(&none, offset, INT64_C(1) << 40, alias, sizeof(alias), 0);
    assert_int_equal(scan_result_decode(message.data, message.size, &decoded,
                                        errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "findings[0].aliases: block of "
                                   "1099511627776 items exceeds the limit"));
    free(message.data);
    free(full.data);
    free(none.data);
    free(one.data);
}

/* Replaces the 1-byte event "x" at the start of the datum with size bytes. */
static struct bytes splice_event_id(const struct bytes *valid, size_t size)
{
    struct bytes message = {0};

    assert_int_equal(valid->data[SCHEMA_FRAME_HEADER_SIZE], 0x02);
    assert_int_equal(valid->data[SCHEMA_FRAME_HEADER_SIZE + 1], 'x');
    bytes_append(&message, valid->data, SCHEMA_FRAME_HEADER_SIZE);
    bytes_append_long(&message, (int64_t)size);
    bytes_append_repeated(&message, "b", 1, size);
    bytes_append(&message, valid->data + SCHEMA_FRAME_HEADER_SIZE + 2,
                 valid->size - SCHEMA_FRAME_HEADER_SIZE - 2);
    return message;
}

static void decode_accepts_strings_up_to_size_cap(void **state)
{
    struct image_seen event = sample_image_seen();
    struct bytes valid;
    struct bytes message;
    struct image_seen decoded;
    char errbuf[512];

    (void)state;
    event.event_id = (char *)"x";
    valid = encode_image_seen(&event);

    message = splice_event_id(&valid, DATUM_MAX_STRING_SIZE);
    if (image_seen_decode(message.data, message.size, &decoded, errbuf,
                          sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    assert_int_equal(strlen(decoded.event_id), DATUM_MAX_STRING_SIZE);
    image_seen_clear(&decoded);
    free(message.data);

    message = splice_event_id(&valid, DATUM_MAX_STRING_SIZE + 1);
    assert_int_equal(image_seen_decode(message.data, message.size, &decoded,
                                       errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "string of 1048577 bytes exceeds the limit "
                                   "of 1048576 bytes"));
    free(message.data);
    free(valid.data);
}

static void decode_rejects_bad_strings(void **state)
{
    struct image_seen event = sample_image_seen();
    struct bytes message;
    struct image_seen decoded;
    size_t at = SCHEMA_FRAME_HEADER_SIZE + 2;
    char errbuf[512];

    (void)state;
    event.event_id = (char *)"xyz";
    message = encode_image_seen(&event);
    assert_int_equal(message.data[at], 'y');

    message.data[at] = '\0';
    assert_int_equal(image_seen_decode(message.data, message.size, &decoded,
                                       errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "field event_id contains a NUL byte"));

    message.data[at] = 0xc0; /* an overlong form's lead byte */
    assert_int_equal(image_seen_decode(message.data, message.size, &decoded,
                                       errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "event_id: string is not valid UTF-8"));
    free(message.data);
}

static void decode_rejects_overflowing_varint(void **state)
{
    struct image_seen event = sample_image_seen();
    struct bytes valid;
    struct bytes message = {0};
    struct image_seen decoded;
    char errbuf[512];

    (void)state;
    event.event_id = (char *)"x";
    valid = encode_image_seen(&event);
    bytes_append(&message, valid.data, SCHEMA_FRAME_HEADER_SIZE);
    bytes_append_repeated(&message, "\xff", 1, 10);
    bytes_append(&message, "\x01", 1);
    bytes_append(&message, valid.data + SCHEMA_FRAME_HEADER_SIZE + 2,
                 valid.size - SCHEMA_FRAME_HEADER_SIZE - 2);

    assert_int_equal(image_seen_decode(message.data, message.size, &decoded,
                                       errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "varint overflows a 64-bit long"));
    free(message.data);
    free(valid.data);
}

static char *file_read(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    char *text;
    long length;

    if (file == NULL)
        fail_msg("cannot open %s; run the test from the repository root", path);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    length = ftell(file);
    assert_true(length > 0);
    rewind(file);
    text = malloc((size_t)length + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)length, file), (size_t)length);
    text[length] = '\0';
    fclose(file);
    *size = (size_t)length;
    return text;
}

static const struct schema_version *old_version_add(const char *name)
{
    char path[256];
    const struct schema_version *version;
    char errbuf[512];
    size_t size;
    char *json;

    snprintf(path, sizeof(path), TEST_DATA "%s.avsc", name);
    json = file_read(path, &size);
    if (schema_store_add(name, json, size, &version, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    free(json);
    return version;
}

static void field_set_string(avro_value_t *record, const char *name,
                             const char *value)
{
    avro_value_t field;

    assert_int_equal(avro_value_get_by_name(record, name, &field, NULL), 0);
    assert_int_equal(avro_value_set_string(&field, value), 0);
}

static void field_set_enum(avro_value_t *record, const char *name,
                           const char *symbol)
{
    avro_value_t field;
    int index;

    assert_int_equal(avro_value_get_by_name(record, name, &field, NULL), 0);
    index = avro_schema_enum_get_by_name(avro_value_get_schema(&field), symbol);
    assert_true(index >= 0);
    assert_int_equal(avro_value_set_enum(&field, index), 0);
}

static void field_set_long(avro_value_t *record, const char *name,
                           int64_t value)
{
    avro_value_t field;

    assert_int_equal(avro_value_get_by_name(record, name, &field, NULL), 0);
    assert_int_equal(avro_value_set_long(&field, value), 0);
}

static void field_set_branch_string(avro_value_t *record, const char *name,
                                    const char *value)
{
    avro_value_t field;
    avro_value_t branch;

    assert_int_equal(avro_value_get_by_name(record, name, &field, NULL), 0);
    assert_int_equal(avro_value_set_branch(&field, 1, &branch), 0);
    assert_int_equal(avro_value_set_string(&branch, value), 0);
}

/* Fills the v0 image location: no platform, and its own EnvironmentKind. */
static void old_location_fill(avro_value_t *record, const char *kind)
{
    avro_value_t image;

    assert_int_equal(avro_value_get_by_name(record, "image", &image, NULL), 0);
    field_set_string(&image, "account", "acme");
    field_set_string(&image, "environment_id", "ecs-1");
    field_set_enum(&image, "environment_kind", kind);
    field_set_string(&image, "registry", "registry.example");
    field_set_string(&image, "repository", "team/app");
    field_set_branch_string(&image, "tag", "v1");
    field_set_branch_string(&image, "digest", "sha256:abc");
}

static struct bytes old_message_encode(const struct schema_version *version,
                                       avro_value_t *record)
{
    struct bytes message = {0};
    char errbuf[512];

    if (datum_message_encode(version, record, &message.data, &message.size,
                             errbuf, sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    avro_value_decref(record);
    return message;
}

static void decode_resolves_older_writer_with_defaults(void **state)
{
    const struct schema_version *v0 = old_version_add("ImageSeen.v0");
    avro_value_t record;
    struct bytes message;
    struct image_seen decoded;
    char errbuf[512];

    (void)state;
    assert_int_equal(avro_generic_value_new(v0->avro_class, &record), 0);
    field_set_string(&record, "event_id", "old-1");
    field_set_string(&record, "agent_version", "0.9.1");
    old_location_fill(&record, "ECS");
    field_set_long(&record, "seen_at", 1234);
    message = old_message_encode(v0, &record);

    if (image_seen_decode(message.data, message.size, &decoded, errbuf,
                          sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    assert_string_equal(decoded.event_id, "old-1");
    assert_string_equal(decoded.image.account, "acme");
    assert_string_equal(decoded.image.environment_id, "ecs-1");
    /* ECS is symbol 1 in v0 and 2 in v1: resolved by name, not index. */
    assert_int_equal(decoded.image.environment_kind, ENVIRONMENT_ECS);
    assert_string_equal(decoded.image.registry, "registry.example");
    assert_string_equal(decoded.image.repository, "team/app");
    assert_string_equal(decoded.image.tag, "v1");
    assert_string_equal(decoded.image.digest, "sha256:abc");
    assert_null(decoded.image.platform);
    assert_int_equal(decoded.activity, ACTIVITY_RUNNING);
    assert_null(decoded.workload);
    assert_true(decoded.seen_at_ms == 1234);
    image_seen_clear(&decoded);

    assert_every_prefix_rejected(message.data, message.size, decode_image_seen,
                                 sizeof(struct image_seen));
    free(message.data);
}

static void decode_maps_unknown_symbol_to_enum_default(void **state)
{
    const struct schema_version *v0 = old_version_add("ImageRemoved.v0");
    static const struct {
        const char *symbol;
        enum removal_reason expected;
    } cases[] = {
        {"MANUAL", REMOVAL_INACTIVE},
        {"DELETED_FROM_REGISTRY", REMOVAL_DELETED_FROM_REGISTRY},
        {"INACTIVE", REMOVAL_INACTIVE},
    };
    char errbuf[512];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        avro_value_t record;
        avro_value_t image;
        struct bytes message;
        struct image_removed decoded;

        assert_int_equal(avro_generic_value_new(v0->avro_class, &record), 0);
        old_location_fill(&record, "FARGATE");
        assert_int_equal(avro_value_get_by_name(&record, "image", &image, NULL),
                         0);
        field_set_branch_string(&image, "platform", "linux/amd64");
        field_set_enum(&record, "reason", cases[i].symbol);
        field_set_long(&record, "last_seen_at", 10);
        field_set_long(&record, "removed_at", 20);
        message = old_message_encode(v0, &record);

        if (image_removed_decode(message.data, message.size, &decoded, errbuf,
                                 sizeof(errbuf)) != 0)
            fail_msg("%s: %s", cases[i].symbol, errbuf);
        assert_int_equal(decoded.reason, cases[i].expected);
        assert_int_equal(decoded.image.environment_kind, ENVIRONMENT_FARGATE);
        assert_string_equal(decoded.image.platform, "linux/amd64");
        assert_true(decoded.last_seen_at_ms == 10);
        assert_true(decoded.removed_at_ms == 20);
        image_removed_clear(&decoded);
        free(message.data);
    }
}

/*
 * The test hook for writing ScanResult messages of any version, including
 * results that scan_result_encode rejects. It fills an avro-c value from a
 * struct scan_result field by field and checks nothing, and it skips every
 * field that the value's schema lacks.
 */

/* Finds a field and, for a ["null", T] union, selects the T branch when
 * present or sets the null branch. Returns 1 when the caller sets *target,
 * or 0 when the field is null or the writer version lacks it. */
static int hook_field(avro_value_t *record, const char *name, int present,
                      avro_value_t *target)
{
    avro_value_t field;

    if (avro_value_get_by_name(record, name, &field, NULL) != 0)
        return 0;
    if (avro_value_get_type(&field) != AVRO_UNION) {
        *target = field;
        return 1;
    }
    assert_int_equal(avro_value_set_branch(&field, present ? 1 : 0, target), 0);
    if (!present) {
        assert_int_equal(avro_value_set_null(target), 0);
        return 0;
    }
    return 1;
}

static void hook_string(avro_value_t *record, const char *name,
                        const char *value)
{
    avro_value_t target;

    if (hook_field(record, name, value != NULL, &target))
        assert_int_equal(avro_value_set_string(&target, value), 0);
}

/* Writes 0 as null when the field is optional. */
static void hook_long(avro_value_t *record, const char *name, int64_t value)
{
    avro_value_t target;

    if (hook_field(record, name, value != 0, &target))
        assert_int_equal(avro_value_set_long(&target, value), 0);
}

static void hook_int(avro_value_t *record, const char *name, int32_t value)
{
    avro_value_t target;

    if (hook_field(record, name, 1, &target))
        assert_int_equal(avro_value_set_int(&target, value), 0);
}

/* Writes -1 as null when the field is optional. */
static void hook_double(avro_value_t *record, const char *name, double value)
{
    avro_value_t target;

    if (hook_field(record, name, value != -1.0, &target))
        assert_int_equal(avro_value_set_double(&target, value), 0);
}

static void hook_boolean(avro_value_t *record, const char *name, int value)
{
    avro_value_t target;

    if (hook_field(record, name, 1, &target))
        assert_int_equal(avro_value_set_boolean(&target, value), 0);
}

static void hook_enum(avro_value_t *record, const char *name,
                      const char *symbol)
{
    avro_value_t target;

    if (hook_field(record, name, 1, &target))
        field_set_enum(record, name, symbol);
}

static void hook_location(avro_value_t *record,
                          const struct image_location *image)
{
    avro_value_t location;

    assert_true(hook_field(record, "image", 1, &location));
    hook_string(&location, "account", image->account);
    hook_string(&location, "environment_id", image->environment_id);
    hook_enum(&location, "environment_kind",
              environment_kind_name(image->environment_kind));
    hook_string(&location, "registry", image->registry);
    hook_string(&location, "repository", image->repository);
    hook_string(&location, "tag", image->tag);
    hook_string(&location, "digest", image->digest);
    hook_string(&location, "platform", image->platform);
}

static void hook_packages(avro_value_t *record, const struct scan_result *event)
{
    avro_value_t array;

    assert_true(hook_field(record, "packages", 1, &array));
    for (size_t i = 0; i < event->package_count; i++) {
        const struct installed_package *package = &event->packages[i];
        avro_value_t item;

        assert_int_equal(avro_value_append(&array, &item, NULL), 0);
        hook_string(&item, "name", package->name);
        hook_string(&item, "version", package->version);
        hook_string(&item, "architecture", package->architecture);
        hook_string(&item, "source_name", package->source_name);
        hook_string(&item, "source_version", package->source_version);
    }
}

static void hook_finding(avro_value_t *item, const struct finding *finding)
{
    avro_value_t aliases;

    hook_string(item, "id", finding->id);
    assert_true(hook_field(item, "aliases", 1, &aliases));
    for (size_t i = 0; i < finding->alias_count; i++) {
        avro_value_t alias;

        assert_int_equal(avro_value_append(&aliases, &alias, NULL), 0);
        assert_int_equal(avro_value_set_string(&alias, finding->aliases[i]), 0);
    }
    hook_string(item, "package", finding->package);
    hook_string(item, "installed_version", finding->installed_version);
    hook_string(item, "fixed_version", finding->fixed_version);
    hook_enum(item, "severity", severity_name(finding->severity));
    hook_string(item, "severity_source", finding->severity_source);
    hook_double(item, "cvss_score", finding->cvss_score);
    hook_string(item, "cvss_vector", finding->cvss_vector);
}

static void hook_vulnerabilities(avro_value_t *record,
                                 const struct scan_result *event)
{
    static const char *const count_fields[SEVERITY_COUNT] = {
        NULL, "unknown", "negligible", "low", "medium", "high", "critical",
    };
    avro_value_t findings;
    avro_value_t counts;

    hook_boolean(record, "vulnerabilities_matched",
                 event->vulnerabilities_matched);
    if (hook_field(record, "findings", 1, &findings)) {
        for (size_t i = 0; i < event->finding_count; i++) {
            avro_value_t item;

            assert_int_equal(avro_value_append(&findings, &item, NULL), 0);
            hook_finding(&item, &event->findings[i]);
        }
    }
    if (hook_field(record, "severity_counts", 1, &counts)) {
        for (int severity = 1; severity < SEVERITY_COUNT; severity++)
            hook_int(&counts, count_fields[severity],
                     event->severity_counts[severity]);
    }
    hook_enum(record, "vulnerability_level",
              severity_name(event->vulnerability_level));
    hook_double(record, "risk_score", event->risk_score);
    hook_string(record, "vulnerability_db_version",
                event->vulnerability_db_version);
    hook_long(record, "vulnerability_db_built_at",
              event->vulnerability_db_built_at_ms);
}

/* Writes event as a message of version, with the fields it has. */
static struct bytes hook_encode(const struct schema_version *version,
                                const struct scan_result *event)
{
    avro_value_t record;

    assert_int_equal(avro_generic_value_new(version->avro_class, &record), 0);
    hook_string(&record, "request_id", event->request_id);
    hook_location(&record, &event->image);
    hook_string(&record, "manifest_digest", event->manifest_digest);
    hook_enum(&record, "status", scan_status_name(event->status));
    hook_string(&record, "status_detail", event->status_detail);
    hook_string(&record, "os_id", event->os_id);
    hook_string(&record, "os_version_id", event->os_version_id);
    hook_string(&record, "os_pretty_name", event->os_pretty_name);
    hook_packages(&record, event);
    hook_int(&record, "layer_count", event->layer_count);
    hook_long(&record, "image_size_bytes", event->image_size_bytes);
    hook_vulnerabilities(&record, event);
    hook_int(&record, "attempt", event->attempt);
    hook_long(&record, "next_attempt_at", event->next_attempt_at_ms);
    hook_string(&record, "worker_id", event->worker_id);
    hook_long(&record, "started_at", event->started_at_ms);
    hook_long(&record, "finished_at", event->finished_at_ms);
    return old_message_encode(version, &record);
}

/* Returns the stored version of an embedded schema file ("ScanResult.v1"),
 * found by its fingerprint. */
static const struct schema_version *embedded_version(const char *name)
{
    for (size_t i = 0; i < embedded_schema_count; i++) {
        const struct schema_version *version;
        struct schema *schema;
        char errbuf[512];

        if (strcmp(embedded_schemas[i].name, name) != 0)
            continue;
        schema = schema_parse(embedded_schemas[i].json,
                              strlen(embedded_schemas[i].json), 0, errbuf,
                              sizeof(errbuf));
        if (schema == NULL)
            fail_msg("%s: %s", name, errbuf);
        if (schema_store_find(schema_fingerprint(schema), &version, errbuf,
                              sizeof(errbuf)) != 0)
            fail_msg("%s: %s", name, errbuf);
        schema_free(schema);
        return version;
    }
    fail_msg("no embedded schema is named %s", name);
    return NULL;
}

static const struct schema_version *current_scan_result_version(void)
{
    const struct schema_version *version;
    char errbuf[512];

    if (schema_store_current("ScanResult", &version, errbuf, sizeof(errbuf)))
        fail_msg("%s", errbuf);
    return version;
}

static void hook_encodes_like_the_encoder(void **state)
{
    struct scan_result event = sample_matched_result();
    struct bytes hooked;
    struct bytes encoded = {0};
    char errbuf[512];

    (void)state;
    hooked = hook_encode(current_scan_result_version(), &event);
    if (scan_result_encode(&event, &encoded.data, &encoded.size, errbuf,
                           sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    assert_int_equal(hooked.size, encoded.size);
    assert_memory_equal(hooked.data, encoded.data, encoded.size);
    free(hooked.data);
    free(encoded.data);
}

static void decode_reads_v1_result_with_v2_defaults(void **state)
{
    const struct schema_version *v1 = embedded_version("ScanResult.v1");
    struct scan_result event = sample_matched_result();
    struct scan_result decoded;
    struct bytes message;
    unsigned char *again;
    size_t again_size;
    char errbuf[512];

    (void)state;
    assert_ptr_not_equal(v1, current_scan_result_version());
    event.status = SCAN_STATUS_PARTIAL;
    event.next_attempt_at_ms = INT64_C(1718000600000);
    message = hook_encode(v1, &event);

    if (scan_result_decode(message.data, message.size, &decoded, errbuf,
                           sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    assert_string_equal(decoded.request_id, event.request_id);
    assert_location_equal(&decoded.image, &event.image);
    assert_string_equal(decoded.manifest_digest, event.manifest_digest);
    assert_int_equal(decoded.status, SCAN_STATUS_PARTIAL);
    assert_string_equal(decoded.status_detail, event.status_detail);
    assert_string_equal(decoded.os_pretty_name, event.os_pretty_name);
    assert_packages_equal(&decoded, &event);
    assert_int_equal(decoded.layer_count, 4);
    assert_true(decoded.image_size_bytes == event.image_size_bytes);
    assert_int_equal(decoded.attempt, 2);
    assert_true(decoded.next_attempt_at_ms == event.next_attempt_at_ms);
    assert_string_equal(decoded.worker_id, "worker-3");
    assert_true(decoded.started_at_ms == event.started_at_ms);
    assert_true(decoded.finished_at_ms == event.finished_at_ms);

    /* v1 has no vulnerability fields, so they read as v2's defaults. */
    assert_int_equal(decoded.vulnerabilities_matched, 0);
    assert_null(decoded.findings);
    assert_int_equal(decoded.finding_count, 0);
    for (int severity = 0; severity < SEVERITY_COUNT; severity++)
        assert_int_equal(decoded.severity_counts[severity], 0);
    assert_int_equal(decoded.vulnerability_level, SEVERITY_NONE);
    assert_true(decoded.risk_score == 0.0);
    assert_null(decoded.vulnerability_db_version);
    assert_true(decoded.vulnerability_db_built_at_ms == 0);

    /* A v1 result read now is published again as v2. */
    if (scan_result_encode(&decoded, &again, &again_size, errbuf,
                           sizeof(errbuf)) != 0)
        fail_msg("%s", errbuf);
    free(again);
    scan_result_clear(&decoded);

    assert_every_prefix_rejected(message.data, message.size, decode_scan_result,
                                 sizeof(struct scan_result));
    free(message.data);
}

/* Writes event with the hook, bypassing the encoder's checks, and expects
 * the decoder to reject it with the encoder's message. */
static void assert_both_reject(const struct scan_result *event,
                               const char *expected)
{
    struct bytes message = hook_encode(current_scan_result_version(), event);
    struct scan_result decoded;
    char errbuf[512] = "";

    assert_scan_result_rejected(event, expected);
    memset(&decoded, 0xa5, sizeof(decoded));
    assert_int_equal(scan_result_decode(message.data, message.size, &decoded,
                                        errbuf, sizeof(errbuf)),
                     -1);
    if (strstr(errbuf, expected) == NULL)
        fail_msg("decode error \"%s\" lacks \"%s\"", errbuf, expected);
    assert_null(decoded.findings);
    assert_null(decoded.request_id);
    free(message.data);
}

static void decode_rejects_what_encoder_rejects(void **state)
{
    struct finding findings[COUNT_OF_SAMPLE_FINDINGS];
    char *aliases[FINDING_MAX_ALIASES + 1];
    struct scan_result event;

    (void)state;
    for (size_t i = 0; i <= FINDING_MAX_ALIASES; i++)
        aliases[i] = (char *)"DSA-1";

    event = matched_result_with(findings);
    findings[4].severity = SEVERITY_NONE;
    assert_both_reject(&event, "field findings[4].severity is NONE");

    event = matched_result_with(findings);
    findings[0].cvss_score = 12.0;
    assert_both_reject(&event, "field findings[0].cvss_score is 12, which is "
                               "neither from 0 to 10 nor -1 for unknown");

    event = matched_result_with(findings);
    findings[0].cvss_score = NAN;
    assert_both_reject(&event, "field findings[0].cvss_score is ");

    event = matched_result_with(findings);
    findings[1].aliases = aliases;
    findings[1].alias_count = FINDING_MAX_ALIASES + 1;
    assert_both_reject(&event, "field findings[1].aliases has 65 items");

    event = matched_result_with(findings);
    event.risk_score = -0.25;
    assert_both_reject(&event, "field risk_score is -0.25, outside 0 to 10");

    event = matched_result_with(findings);
    event.severity_counts[SEVERITY_CRITICAL] = INT32_MIN;
    assert_both_reject(&event, "field severity_counts.critical is -2147483648");

    event = matched_result_with(findings);
    event.vulnerabilities_matched = 0;
    assert_both_reject(&event, "field findings is set, but "
                               "vulnerabilities_matched is false");
}

static void finding_clear_frees_and_zeroes(void **state)
{
    struct finding finding = {
        .id = strdup("CVE-2024-0001"),
        .aliases = calloc(2, sizeof(char *)),
        .alias_count = 2,
        .package = strdup("zlib1g"),
        .installed_version = strdup("1:1.2.13"),
        .fixed_version = strdup("1:1.2.14"),
        .severity = SEVERITY_MEDIUM,
        .severity_source = strdup("debian"),
        .cvss_score = 5.5,
        .cvss_vector = strdup("CVSS:3.1/AV:L"),
    };
    static const struct finding zero;

    (void)state;
    assert_non_null(finding.aliases);
    finding.aliases[0] = strdup("DSA-1");
    finding.aliases[1] = strdup("DLA-2");
    finding_clear(&finding);
    assert_memory_equal(&finding, &zero, sizeof(finding));
    finding_clear(&finding);
    assert_memory_equal(&finding, &zero, sizeof(finding));
}

static void location_copy_duplicates_every_string(void **state)
{
    struct image_location source = sample_location();
    struct image_location copy;

    (void)state;
    source.tag = NULL;
    assert_int_equal(image_location_copy(&copy, &source), 0);
    assert_location_equal(&copy, &source);
    assert_ptr_not_equal(copy.account, source.account);
    image_location_clear(&copy);
    assert_null(copy.account);
    image_location_clear(&copy);
}

/* Encodes and decodes results on one thread. Returns NULL, or a malloc'd
 * message on failure. */
static void *round_trips_on_thread(void *argument)
{
    struct scan_result event = sample_matched_result();
    int64_t base = (int64_t)(intptr_t)argument * 1000;

    for (int64_t i = 0; i < 300; i++) {
        struct scan_result decoded;
        unsigned char *message;
        size_t size;
        char errbuf[512];

        event.started_at_ms = base + i;
        if (scan_result_encode(&event, &message, &size, errbuf,
                               sizeof(errbuf)) != 0 ||
            scan_result_decode(message, size, &decoded, errbuf,
                               sizeof(errbuf)) != 0) {
            return strdup(errbuf);
        }
        free(message);
        if (decoded.started_at_ms != base + i ||
            decoded.package_count != event.package_count ||
            decoded.finding_count != event.finding_count) {
            scan_result_clear(&decoded);
            return strdup("decoded a different result");
        }
        scan_result_clear(&decoded);
    }
    return NULL;
}

static void encodes_and_decodes_on_many_threads(void **state)
{
    pthread_t threads[8];
    void *failure;

    (void)state;
    for (intptr_t i = 0; i < 8; i++)
        assert_int_equal(
            pthread_create(&threads[i], NULL, round_trips_on_thread, (void *)i),
            0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(threads[i], &failure), 0);
        if (failure != NULL)
            fail_msg("thread %d: %s", i, (const char *)failure);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(image_seen_round_trips_every_field),
        cmocka_unit_test(image_seen_round_trips_without_optional_fields),
        cmocka_unit_test(scan_request_round_trips_every_field),
        cmocka_unit_test(scan_result_round_trips_every_field),
        cmocka_unit_test(scan_result_round_trips_without_optional_fields),
        cmocka_unit_test(scan_result_round_trips_every_status),
        cmocka_unit_test(scan_result_round_trips_findings),
        cmocka_unit_test(scan_result_round_trips_matched_without_findings),
        cmocka_unit_test(scan_result_round_trips_every_vulnerability_level),
        cmocka_unit_test(image_removed_round_trips_every_reason),
        cmocka_unit_test(enum_names_parse_back),
        cmocka_unit_test(encode_rejects_missing_required_strings),
        cmocka_unit_test(encode_rejects_other_events_missing_strings),
        cmocka_unit_test(encode_rejects_invalid_values),
        cmocka_unit_test(encode_rejects_invalid_finding_strings),
        cmocka_unit_test(encode_rejects_invalid_finding_values),
        cmocka_unit_test(encode_rejects_vulnerabilities_while_unmatched),
        cmocka_unit_test(encode_rejects_lists_over_caps),
        cmocka_unit_test(encode_rejects_string_over_cap),
        cmocka_unit_test(decode_rejects_other_event_family),
        cmocka_unit_test(decode_rejects_unknown_fingerprint),
        cmocka_unit_test(decode_rejects_bad_magic),
        cmocka_unit_test(decode_rejects_trailing_garbage),
        cmocka_unit_test(decode_rejects_every_truncation),
        cmocka_unit_test(decode_rejects_2gib_string_in_20_bytes),
        cmocka_unit_test(decode_rejects_huge_array_counts),
        cmocka_unit_test(decode_accepts_packages_up_to_item_cap),
        cmocka_unit_test(decode_accepts_findings_up_to_cap),
        cmocka_unit_test(decode_accepts_aliases_up_to_cap),
        cmocka_unit_test(decode_accepts_strings_up_to_size_cap),
        cmocka_unit_test(decode_rejects_bad_strings),
        cmocka_unit_test(decode_rejects_overflowing_varint),
        cmocka_unit_test(decode_resolves_older_writer_with_defaults),
        cmocka_unit_test(decode_maps_unknown_symbol_to_enum_default),
        cmocka_unit_test(hook_encodes_like_the_encoder),
        cmocka_unit_test(decode_reads_v1_result_with_v2_defaults),
        cmocka_unit_test(decode_rejects_what_encoder_rejects),
        cmocka_unit_test(finding_clear_frees_and_zeroes),
        cmocka_unit_test(location_copy_duplicates_every_string),
        cmocka_unit_test(encodes_and_decodes_on_many_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
