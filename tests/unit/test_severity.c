/*
 * Severity ratings of Debian, Ubuntu and CNAs, the counts and level of a
 * result, and the risk score formula.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "severity.h"

typedef int (*rating_fn)(const char *, enum severity *);

static void assert_maps(rating_fn map, const char *text, enum severity expected)
{
    enum severity severity = SEVERITY_NONE;
    if (map(text, &severity) != 0)
        fail_msg("\"%s\" gave no rating", text);
    assert_int_equal(severity, expected);
}

static void assert_no_rating(rating_fn map, const char *text)
{
    enum severity severity = SEVERITY_CRITICAL;
    if (map(text, &severity) != -1)
        fail_msg("\"%s\" gave a rating", text ? text : "(null)");
    assert_int_equal(severity, SEVERITY_CRITICAL);
}

static void maps_debian_urgencies(void **state)
{
    (void)state;
    rating_fn map = severity_from_debian_urgency;
    assert_maps(map, "unimportant", SEVERITY_NEGLIGIBLE);
    assert_maps(map, "low", SEVERITY_LOW);
    assert_maps(map, "medium", SEVERITY_MEDIUM);
    assert_maps(map, "high", SEVERITY_HIGH);
    assert_maps(map, "low*", SEVERITY_LOW);
    assert_maps(map, "medium**", SEVERITY_MEDIUM);
    assert_no_rating(map, "not yet assigned");
    assert_no_rating(map, "end-of-life");
    assert_no_rating(map, "critical");
    assert_no_rating(map, "**");
    assert_no_rating(map, "");
    assert_no_rating(map, NULL);
}

static void maps_ubuntu_priorities(void **state)
{
    (void)state;
    rating_fn map = severity_from_ubuntu_priority;
    assert_maps(map, "negligible", SEVERITY_NEGLIGIBLE);
    assert_maps(map, "low", SEVERITY_LOW);
    assert_maps(map, "medium", SEVERITY_MEDIUM);
    assert_maps(map, "high", SEVERITY_HIGH);
    assert_maps(map, "critical", SEVERITY_CRITICAL);
    assert_no_rating(map, "untriaged");
    assert_no_rating(map, "unimportant");
    assert_no_rating(map, NULL);
}

static void maps_cna_text_in_any_case(void **state)
{
    (void)state;
    rating_fn map = severity_from_cna_text;
    assert_maps(map, "Critical", SEVERITY_CRITICAL);
    assert_maps(map, "HIGH", SEVERITY_HIGH);
    assert_maps(map, "Important", SEVERITY_HIGH);
    assert_maps(map, "MODERATE", SEVERITY_MEDIUM);
    assert_maps(map, "Moderate", SEVERITY_MEDIUM);
    assert_maps(map, "medium", SEVERITY_MEDIUM);
    assert_maps(map, "Low", SEVERITY_LOW);
    assert_no_rating(map, "unknown");
    assert_no_rating(map, "ssvc");
    assert_no_rating(map, "Lowest");
    assert_no_rating(map, NULL);
}

static void maps_cvss_ratings(void **state)
{
    (void)state;
    assert_int_equal(severity_from_cvss_rating(CVSS_RATING_NONE),
                     SEVERITY_NEGLIGIBLE);
    assert_int_equal(severity_from_cvss_rating(CVSS_RATING_LOW), SEVERITY_LOW);
    assert_int_equal(severity_from_cvss_rating(CVSS_RATING_MEDIUM),
                     SEVERITY_MEDIUM);
    assert_int_equal(severity_from_cvss_rating(CVSS_RATING_HIGH),
                     SEVERITY_HIGH);
    assert_int_equal(severity_from_cvss_rating(CVSS_RATING_CRITICAL),
                     SEVERITY_CRITICAL);
}

/* A finding with only what the summaries read. */
static struct finding make(const char *id, enum severity severity,
                           double cvss_score)
{
    struct finding finding = {0};
    finding.id = (char *)id;
    finding.severity = severity;
    finding.cvss_score = cvss_score;
    return finding;
}

static void counts_and_level(void **state)
{
    (void)state;
    struct finding findings[] = {
        make("CVE-1", SEVERITY_HIGH, 7.5),
        make("CVE-2", SEVERITY_LOW, -1),
        make("CVE-3", SEVERITY_LOW, -1),
        make("CVE-4", SEVERITY_UNKNOWN, -1),
    };
    int32_t counts[SEVERITY_COUNT] = {0};

    severity_count(findings, 4, counts);
    assert_int_equal(counts[SEVERITY_HIGH], 1);
    assert_int_equal(counts[SEVERITY_LOW], 2);
    assert_int_equal(counts[SEVERITY_UNKNOWN], 1);
    assert_int_equal(counts[SEVERITY_NONE], 0);
    assert_int_equal(severity_level(findings, 4), SEVERITY_HIGH);
    assert_int_equal(severity_level(findings + 1, 3), SEVERITY_LOW);
    assert_int_equal(severity_level(NULL, 0), SEVERITY_NONE);
}

static void assert_risk(const struct finding *findings, size_t count,
                        double expected)
{
    double risk = severity_risk_score(findings, count);
    if ((long)(risk * 10.0 + 0.5) != (long)(expected * 10.0 + 0.5))
        fail_msg("risk %.2f, expected %.1f", risk, expected);
    assert_true(risk >= 0.0);
    assert_true(risk <= 10.0);
}

static void scores_single_findings_by_band(void **state)
{
    (void)state;
    struct finding finding;

    assert_risk(NULL, 0, 0.0);
    /* A critical finding alone: at least 9.0 + 1 / 5. */
    finding = make("CVE-1", SEVERITY_CRITICAL, -1);
    assert_risk(&finding, 1, 9.2);
    finding = make("CVE-1", SEVERITY_CRITICAL, 9.1);
    assert_risk(&finding, 1, 9.3);
    finding = make("CVE-1", SEVERITY_CRITICAL, 9.8);
    assert_risk(&finding, 1, 10.0);
    /* Ubuntu rates it critical though its CVSS score is 7.5: the floor. */
    finding = make("CVE-1", SEVERITY_CRITICAL, 7.5);
    assert_risk(&finding, 1, 9.2);
    finding = make("CVE-1", SEVERITY_HIGH, 7.5);
    assert_risk(&finding, 1, 7.7);
    /* Debian rates it medium though its CVSS score is 9.8: the ceiling. */
    finding = make("CVE-1", SEVERITY_MEDIUM, 9.8);
    assert_risk(&finding, 1, 6.9);
    finding = make("CVE-1", SEVERITY_MEDIUM, -1);
    assert_risk(&finding, 1, 4.0);
    finding = make("CVE-1", SEVERITY_LOW, 2.5);
    assert_risk(&finding, 1, 2.5);
    finding = make("CVE-1", SEVERITY_LOW, -1);
    assert_risk(&finding, 1, 0.1);
    finding = make("CVE-1", SEVERITY_NEGLIGIBLE, 9.8);
    assert_risk(&finding, 1, 0.0);
    finding = make("CVE-1", SEVERITY_UNKNOWN, -1);
    assert_risk(&finding, 1, 4.0);
}

static void more_high_findings_raise_score(void **state)
{
    (void)state;
    struct finding findings[] = {
        make("CVE-1", SEVERITY_HIGH, 7.5),
        make("CVE-2", SEVERITY_HIGH, 7.0),
        make("CVE-3", SEVERITY_HIGH, 7.0),
        make("CVE-4", SEVERITY_HIGH, 7.0),
    };

    assert_risk(findings, 1, 7.7); /* 7.5 + 1/5 */
    assert_risk(findings, 2, 7.8); /* 7.5 + 2/6 */
    assert_risk(findings, 3, 7.9); /* 7.5 + 3/7 */
    assert_risk(findings, 4, 8.0); /* 7.5 + 4/8 */
}

static void counts_each_id_once(void **state)
{
    (void)state;
    /* One CVE in eight binaries of one source package, then one more. */
    struct finding findings[10];
    for (size_t i = 0; i < 8; i++)
        findings[i] = make("CVE-2022-0563", SEVERITY_HIGH, 7.5);
    findings[8] = make("CVE-2023-0001", SEVERITY_HIGH, 7.0);
    findings[9] = make("CVE-2023-0002", SEVERITY_MEDIUM, 5.0);

    assert_risk(findings, 8, 7.7);
    assert_risk(findings, 10, 7.8);

    /* An id that is critical in one package and high in another. */
    struct finding mixed[] = {
        make("CVE-2099-1", SEVERITY_CRITICAL, 9.0),
        make("CVE-2099-2", SEVERITY_CRITICAL, 9.0),
        make("CVE-2099-1", SEVERITY_HIGH, 7.5),
        make("CVE-2099-3", SEVERITY_HIGH, 7.5),
    };
    assert_risk(mixed, 4, 9.4); /* n = 3: 9.0 + 3/7 */
}

static void never_passes_ten(void **state)
{
    (void)state;
    size_t count = 1000;
    struct finding *findings = calloc(count, sizeof(*findings));
    char(*ids)[16] = calloc(count, sizeof(*ids));
    assert_non_null(findings);
    assert_non_null(ids);
    for (size_t i = 0; i < count; i++) {
        snprintf(ids[i], sizeof(ids[i]), "CVE-2099-%04zu", i);
        findings[i] = make(ids[i], SEVERITY_CRITICAL, 9.9);
    }

    assert_risk(findings, count, 10.0);
    double previous = 0.0;
    for (size_t n = 1; n <= 4; n++) {
        findings[n - 1].cvss_score = 9.0;
        double risk = severity_risk_score(findings, n);
        assert_true(risk <= 10.0);
        assert_true(risk >= previous);
        previous = risk;
    }
    free(findings);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(maps_debian_urgencies),
        cmocka_unit_test(maps_ubuntu_priorities),
        cmocka_unit_test(maps_cna_text_in_any_case),
        cmocka_unit_test(maps_cvss_ratings),
        cmocka_unit_test(counts_and_level),
        cmocka_unit_test(scores_single_findings_by_band),
        cmocka_unit_test(more_high_findings_raise_score),
        cmocka_unit_test(counts_each_id_once),
        cmocka_unit_test(never_passes_ten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
