/*
 * Writes the seeds of fuzz_event into a folder: for each event, one small
 * and one full example, each as fuzz_event reads them (a selector byte,
 * then the datum, or 0x80 and the whole message). The examples are
 * encoded at run time, so that they follow the schemas as built.
 *
 * Usage: event_seeds DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_schema.h"
#include "event.h"
#include "schema_store.h"

static const char *output_dir;

static void write_seed(const char *name, const unsigned char *head,
                       size_t head_size, const unsigned char *body,
                       size_t body_size)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", output_dir, name);
    FILE *file = fopen(path, "wb");
    if (file == NULL || fwrite(head, 1, head_size, file) != head_size ||
        fwrite(body, 1, body_size, file) != body_size || fclose(file) != 0) {
        fprintf(stderr, "event_seeds: failed to write %s\n", path);
        exit(1);
    }
}

/* The selector of the family's current version: its index among the
 * embedded schemas, which fuzz_event reads the same way. */
static unsigned char current_selector(const char *family)
{
    const struct schema_version *version;
    char errbuf[512];

    if (schema_store_current(family, &version, errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "event_seeds: %s\n", errbuf);
        exit(1);
    }
    for (size_t i = 0; i < embedded_schema_count; i++)
        if (strcmp(embedded_schemas[i].name, version->name) == 0)
            return (unsigned char)i;
    fprintf(stderr, "event_seeds: %s is not embedded\n", version->name);
    exit(1);
}

static void write_message(const char *name, const char *family, int status,
                          unsigned char *message, size_t size,
                          const char *errbuf)
{
    char raw_name[256];
    unsigned char selector = current_selector(family);
    unsigned char raw = 0x80;

    if (status != 0) {
        fprintf(stderr, "event_seeds: %s: %s\n", name, errbuf);
        exit(1);
    }
    write_seed(name, &selector, 1, message + SCHEMA_FRAME_HEADER_SIZE,
               size - SCHEMA_FRAME_HEADER_SIZE);
    snprintf(raw_name, sizeof(raw_name), "%s-message", name);
    write_seed(raw_name, &raw, 1, message, size);
    free(message);
}

static struct image_location location(int full)
{
    struct image_location image = {
        .account = (char *)"acme",
        .environment_id = (char *)"prod",
        .environment_kind = ENVIRONMENT_KUBERNETES,
        .registry = (char *)"127.0.0.1:5000",
        .repository = (char *)"team/app",
    };

    if (full) {
        image.tag = (char *)"1.0";
        image.digest = (char *)"sha256:0123456789abcdef0123456789abcdef"
                               "0123456789abcdef0123456789abcdef";
        image.platform = (char *)"linux/arm64/v8";
    }
    return image;
}

static void write_image_seen(int full)
{
    struct image_seen event = {
        .event_id = (char *)"e1",
        .image = location(full),
        .activity = ACTIVITY_RUNNING,
        .workload = full ? (char *)"deploy/web" : NULL,
        .seen_at_ms = 1700000000000,
    };
    unsigned char *message;
    size_t size;
    char errbuf[512];

    int status =
        image_seen_encode(&event, &message, &size, errbuf, sizeof(errbuf));
    write_message(full ? "image-seen-full" : "image-seen", "ImageSeen", status,
                  message, size, errbuf);
}

static void write_scan_request(int full)
{
    struct scan_request event = {
        .request_id = (char *)"r1",
        .image = location(full),
        .reason = full ? SCAN_REASON_RETRY_FAILED : SCAN_REASON_NEW_IMAGE,
        .attempt = full ? 3 : 1,
        .not_before_ms = full ? 1700000001000 : 0,
        .requested_at_ms = 1700000000000,
    };
    unsigned char *message;
    size_t size;
    char errbuf[512];

    int status =
        scan_request_encode(&event, &message, &size, errbuf, sizeof(errbuf));
    write_message(full ? "scan-request-full" : "scan-request", "ScanRequest",
                  status, message, size, errbuf);
}

static void write_scan_result(int full)
{
    struct installed_package packages[] = {
        {.name = (char *)"libc6",
         .version = (char *)"2.36-9",
         .architecture = (char *)"amd64",
         .source_name = (char *)"glibc"},
        {.name = (char *)"zlib1g", .version = (char *)"1:1.2.13"},
    };
    char *aliases[] = {(char *)"DSA-9001-1"};
    struct finding findings[] = {{
        .id = (char *)"CVE-2099-1001",
        .aliases = aliases,
        .alias_count = 1,
        .package = (char *)"libc6",
        .installed_version = (char *)"2.36-9",
        .fixed_version = (char *)"2.36-10",
        .severity = SEVERITY_HIGH,
        .severity_source = (char *)"debian",
        .cvss_score = 7.5,
        .cvss_vector = (char *)"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
    }};
    struct scan_result event = {
        .request_id = (char *)"r1",
        .image = location(full),
        .status = full ? SCAN_STATUS_SCANNED : SCAN_STATUS_NETWORK_ERROR,
        .status_detail = (char *)"detail",
        .worker_id = (char *)"w1",
        .attempt = 1,
        .started_at_ms = 1700000000000,
        .finished_at_ms = 1700000001000,
    };
    unsigned char *message;
    size_t size;
    char errbuf[512];

    if (full) {
        event.manifest_digest = location(1).digest;
        event.os_id = (char *)"debian";
        event.os_version_id = (char *)"12";
        event.os_pretty_name = (char *)"Debian GNU/Linux 12 (bookworm)";
        event.packages = packages;
        event.package_count = 2;
        event.layer_count = 1;
        event.image_size_bytes = 30000000;
        event.vulnerabilities_matched = 1;
        event.findings = findings;
        event.finding_count = 1;
        event.severity_counts[SEVERITY_HIGH] = 1;
        event.vulnerability_level = SEVERITY_HIGH;
        event.risk_score = 7.5;
        event.vulnerability_db_version = (char *)"osv-2099-01-01";
        event.vulnerability_db_built_at_ms = 1700000000000;
    }
    int status =
        scan_result_encode(&event, &message, &size, errbuf, sizeof(errbuf));
    write_message(full ? "scan-result-full" : "scan-result", "ScanResult",
                  status, message, size, errbuf);
}

static void write_image_removed(int full)
{
    struct image_removed event = {
        .image = location(full),
        .reason = full ? REMOVAL_DELETED_FROM_REGISTRY : REMOVAL_INACTIVE,
        .last_seen_at_ms = 1700000000000,
        .removed_at_ms = 1700000001000,
    };
    unsigned char *message;
    size_t size;
    char errbuf[512];

    int status =
        image_removed_encode(&event, &message, &size, errbuf, sizeof(errbuf));
    write_message(full ? "image-removed-full" : "image-removed", "ImageRemoved",
                  status, message, size, errbuf);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: event_seeds DIR\n");
        return 2;
    }
    output_dir = argv[1];

    for (int full = 0; full <= 1; full++) {
        write_image_seen(full);
        write_scan_request(full);
        write_scan_result(full);
        write_image_removed(full);
    }
    return 0;
}
