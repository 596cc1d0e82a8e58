/*
 * Reads what a CVE JSON 5 record (the CVE Program's format, as in the
 * cvelistV5 repository) adds to a finding: a CVSS v3 vector and the CNA's
 * textual severity.
 */
#ifndef IMGASSURE_CVE_RECORD_H
#define IMGASSURE_CVE_RECORD_H

#include <stddef.h>

#include "arena.h"
#include "vulndb.h"

enum cve_record_result {
    CVE_RECORD_OK,
    CVE_RECORD_REJECTED, /* cveMetadata.state is "REJECTED": nothing to add */
    CVE_RECORD_INVALID,  /* errbuf has the reason */
    CVE_RECORD_NO_MEMORY,
};

/*
 * Parses size bytes of text into *cve, whose strings live in arena.
 * cvss_vector is the first cvssV3_1 or cvssV3_0 vectorString that
 * cvss_score_vector() accepts, looking through containers.cna.metrics in
 * order and then through each containers.adp[i].metrics in order. In one
 * metrics entry, cvssV3_1 is read before cvssV3_0. cna_severity is the
 * first metrics[].other.content "text" or "value" of the CNA container
 * that severity_from_cna_text() maps, so SSVC and KEV entries are passed
 * over. Either may be NULL. A record is INVALID when it is not a JSON
 * object, has no cveMetadata.cveId of the form CVE-YYYY-NNNN, or a string
 * that is read is over limits->max_string_bytes.
 */
enum cve_record_result cve_record_parse(const char *text, size_t size,
                                        const struct vulndb_limits *limits,
                                        struct arena *arena,
                                        struct vulndb_cve *cve, char *errbuf,
                                        size_t errbuf_size);

#endif
