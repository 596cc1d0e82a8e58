/*
 * Matches an image's installed packages against the vulnerability
 * database and returns one finding per binary package and vulnerability.
 *
 * Which name and version are looked up. Debian and Ubuntu records name
 * source packages, and Alpine records name origin packages, which the
 * inventory stores as source_name. A package is looked up by source_name
 * at source_version, else at its own version, because a binNMU such as
 * libcap2 1:2.66-4+deb12u3+b1 is built from source 1:2.66-4+deb12u3 and
 * records give source versions. A package without source_name is looked
 * up by its own name and version.
 *
 * Which records affect a version. OSV's evaluation: a version is affected
 * by an affected entry when the entry's versions list contains an equal
 * version, or when it lies in one of its ECOSYSTEM ranges. In a range,
 * events sorted by version are walked: introduced sets "vulnerable",
 * fixed at or below the version clears it, last_affected below the
 * version clears it, and a range whose limits are all at or below the
 * version does not apply.
 *
 * Merging. Every record names the vulnerabilities it describes
 * (vulndb_advisory.vulnerability_ids, usually CVE ids). For each package,
 * all records that affect it and name the same vulnerability become one
 * finding: DEBIAN-CVE-2023-4911 and DSA-5514-1 for glibc, an Alpine and a
 * GHSA record that alias each other. A DSA that lists three CVEs gives
 * three findings. The finding's id is the CVE id, and its aliases list
 * the merged records' ids and their non-CVE aliases, sorted.
 *
 * Fixed version. The highest fixed version among the merged records,
 * because only that version clears every record that still applies. It
 * is NULL when any merged record gives no fix for the installed version
 * (an open range, last_affected, or a versions list alone), because then
 * no upgrade is known to clear the finding.
 *
 * Severity. The distribution's own rating (Debian urgency or Ubuntu
 * priority, the worst when merged records disagree), else the CVSS v3
 * base rating of the highest-scoring vector in the records' severity
 * fields or, failing that, the CVE record's vector, else the CVE record's
 * CNA text severity, else UNKNOWN. The CVSS score and vector are kept
 * whichever source decided. severity_source is "debian", "ubuntu",
 * "cvss_v3" or "cna", or NULL for UNKNOWN.
 *
 * Findings are sorted by severity (worst first), then id, then package,
 * then installed version.
 */
#ifndef IMGASSURE_MATCH_H
#define IMGASSURE_MATCH_H

#include <stddef.h>

#include "event.h"
#include "vulndb.h"

/* A scan result's findings are encoded as one Avro array, which the
 * encoder caps at DATUM_MAX_ITEMS (common/avro_datum.h). */
#define MATCH_MAX_FINDINGS ((size_t)100000)

/*
 * Matches count packages against db in ecosystem (as
 * vulndb_ecosystem_for_os() writes it). Returns 0 and sets *findings to a
 * malloc'd array of *finding_count findings (NULL when none) that the
 * caller frees with match_findings_free(). Returns -1 with *findings NULL
 * and the reason in errbuf when the ecosystem is not indexed, a package
 * has no name or version, there would be more than MATCH_MAX_FINDINGS
 * findings, or memory runs out. db is only read, so threads may match
 * against one database at once.
 */
int match_inventory(const struct vulndb *db, const char *ecosystem,
                    const struct installed_package *packages, size_t count,
                    struct finding **findings, size_t *finding_count,
                    char *errbuf, size_t errbuf_size);

/* Frees count findings with finding_clear() and then the array. NULL is a
 * no-op. Every string of a finding is malloc'd, so scan_result_clear()
 * frees findings moved into a scan result just as well. */
void match_findings_free(struct finding *findings, size_t count);

#endif
