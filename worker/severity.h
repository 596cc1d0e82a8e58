/*
 * Severity of findings: the distributions' own ratings and CVE records'
 * textual ratings mapped onto enum severity (event.h), and the summary
 * values of a scan result: counts per severity, the vulnerability level
 * and the risk score.
 *
 * All functions are thread-safe and allocate nothing.
 */
#ifndef IMGASSURE_SEVERITY_H
#define IMGASSURE_SEVERITY_H

#include <stddef.h>
#include <stdint.h>

#include "cvss.h"
#include "event.h"

/*
 * Maps a Debian security tracker urgency: "unimportant" is NEGLIGIBLE,
 * "low", "medium" and "high" map to LOW, MEDIUM and HIGH. Trailing '*'
 * characters, which some urgency values carry ("low**"), are ignored.
 * Returns 0 and sets *severity, or -1 when
 * the text gives no rating: "not yet assigned", "end-of-life" or anything
 * else.
 */
int severity_from_debian_urgency(const char *urgency, enum severity *severity);

/*
 * Maps an Ubuntu CVE priority: "negligible", "low", "medium", "high" and
 * "critical". Returns 0 and sets *severity, or -1 for any other text,
 * "untriaged" included.
 */
int severity_from_ubuntu_priority(const char *priority,
                                  enum severity *severity);

/*
 * Maps a textual severity that a CNA gives in a CVE record, in any letter
 * case: "critical"; "high" and Red Hat's "important"; "moderate" and
 * "medium"; "low". Returns 0 and sets *severity, or -1 for anything else.
 */
int severity_from_cna_text(const char *text, enum severity *severity);

/* Maps a CVSS rating: None becomes NEGLIGIBLE, because a finding with a
 * score of 0.0 still exists but has no impact. */
enum severity severity_from_cvss_rating(enum cvss_rating rating);

/* Adds the number of findings of each severity into counts, which the
 * caller zeroes first. */
void severity_count(const struct finding *findings, size_t count,
                    int32_t counts[SEVERITY_COUNT]);

/* Returns the highest severity among the findings, or SEVERITY_NONE when
 * there are none. */
enum severity severity_level(const struct finding *findings, size_t count);

/*
 * Returns the risk score of a set of findings, from 0.0 to 10.0 with one
 * decimal:
 *
 *   risk = min(10, round1(W + n / (n + 4)))
 *
 * W is the largest finding weight. A finding's weight is its CVSS base
 * score clamped into the score band of its severity, or the band's floor
 * when it has no score. The bands are CRITICAL 9.0-10.0, HIGH 7.0-8.9,
 * MEDIUM 4.0-6.9, LOW 0.1-3.9 and NEGLIGIBLE 0.0. UNKNOWN weighs 4.0,
 * the floor of MEDIUM, because an unrated vulnerability is not known to
 * be minor. n is the number of distinct finding ids whose severity is
 * HIGH or CRITICAL, so one CVE in eight binaries of a source package
 * counts once. The term n / (n + 4) grows with n but stays below 1, so
 * more high and critical findings raise the score without passing 10,
 * and one critical finding alone scores at least 9.2. No findings score
 * 0.0. docs/risk-score.md gives worked examples.
 *
 * The findings must be in the order match_inventory() returns: by
 * severity, worst first, then by id. Distinct ids are counted in that
 * order without allocating.
 */
double severity_risk_score(const struct finding *findings, size_t count);

#endif
