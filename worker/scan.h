/*
 * The scan pipeline: registry → manifest → layers → file facts →
 * inventory. One call scans one image and fills a result.
 */
#ifndef IMGASSURE_SCAN_H
#define IMGASSURE_SCAN_H

#include "event.h"

#include <signal.h>

struct scan_options {
    const char *credentials_file;    /* auth.json / config.json, or NULL */
    const char *insecure_registries; /* comma-separated host:port, or NULL */
    long connect_timeout_s;
    long pull_timeout_s;
    const volatile sig_atomic_t *abort_requested; /* may be NULL */
};

/*
 * Scans request->image and fills the scan-specific fields of result:
 * status, status_detail, manifest_digest, platform, OS, packages, layer
 * count and size. The caller fills identity, ids and timings. Returns 0,
 * or -1 when *abort_requested became non-zero and the scan was abandoned
 * (result is then incomplete and must not be published).
 */
int scan_image(const struct scan_options *options,
               const struct scan_request *request, struct scan_result *result);

#endif
