/*
 * Matching inventories against the vulnerability database: OSV range
 * evaluation, source and binNMU versions, merging advisories into one
 * finding, severity precedence, ordering and caps. The hand-written
 * records are in tests/data/osv/records and tests/data/cve. The fixture
 * tests match a real Debian 12 status file and the packages of the Alpine
 * 3.10 image against the records under $IMGASSURE_FIXTURES/osv.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "dpkg.h"
#include "match.h"
#include "severity.h"
#include "vulndb.h"

#define RECORDS_DIR "tests/data/osv/records"
#define CVE_DIR "tests/data/cve"

static char errbuf[1024];

static struct vulndb *load(const char *osv_path, const char *cve_path)
{
    struct vulndb_config config = {.osv_path = osv_path, .cve_path = cve_path};
    vulndb_limits_default(&config.limits);
    struct vulndb *db = NULL;
    if (vulndb_load(&config, &db, errbuf, sizeof(errbuf)) != 0)
        fail_msg("loading %s failed: %s", osv_path, errbuf);
    return db;
}

static int setup_records(void **state)
{
    *state = load(RECORDS_DIR, NULL);
    return 0;
}

static int setup_records_with_cves(void **state)
{
    *state = load(RECORDS_DIR, CVE_DIR);
    return 0;
}

static int teardown_db(void **state)
{
    vulndb_free(*state);
    return 0;
}

/* One package: binary name and version, source name and version or NULL. */
static struct installed_package package(const char *name, const char *version,
                                        const char *source_name,
                                        const char *source_version)
{
    struct installed_package result = {
        .name = (char *)name,
        .version = (char *)version,
        .source_name = (char *)source_name,
        .source_version = (char *)source_version,
    };
    return result;
}

struct match {
    struct finding *findings;
    size_t count;
};

static struct match match_all(const struct vulndb *db, const char *ecosystem,
                              const struct installed_package *packages,
                              size_t count)
{
    struct match result = {0};
    if (match_inventory(db, ecosystem, packages, count, &result.findings,
                        &result.count, errbuf, sizeof(errbuf)) != 0)
        fail_msg("matching failed: %s", errbuf);
    return result;
}

static struct match match_one(const struct vulndb *db, const char *ecosystem,
                              struct installed_package single)
{
    return match_all(db, ecosystem, &single, 1);
}

static void assert_optional_string(const char *actual, const char *expected)
{
    if (!expected) {
        if (actual)
            fail_msg("got \"%s\", expected none", actual);
        return;
    }
    if (!actual)
        fail_msg("got none, expected \"%s\"", expected);
    assert_string_equal(actual, expected);
}

/* Checks a finding's identity: id, package, versions and aliases (a
 * comma-separated list, or "" for none). */
static void assert_finding(const struct finding *finding, const char *id,
                           const char *package_name,
                           const char *installed_version,
                           const char *fixed_version, const char *aliases)
{
    char joined[1024] = "";
    for (size_t i = 0; i < finding->alias_count; i++) {
        strcat(joined, i ? "," : "");
        strcat(joined, finding->aliases[i]);
    }

    if (strcmp(finding->id, id) != 0 ||
        strcmp(finding->package, package_name) != 0)
        fail_msg("finding %s %s, expected %s %s", finding->id, finding->package,
                 id, package_name);
    assert_string_equal(finding->installed_version, installed_version);
    assert_optional_string(finding->fixed_version, fixed_version);
    if (strcmp(joined, aliases) != 0)
        fail_msg("%s %s: aliases \"%s\", expected \"%s\"", id, package_name,
                 joined, aliases);
}

/* Checks severity, its source, and the CVSS score in tenths (-1: none). */
static void assert_rating(const struct finding *finding, enum severity severity,
                          const char *source, int score_tenths)
{
    if (finding->severity != severity)
        fail_msg("%s %s: severity %d, expected %d", finding->id,
                 finding->package, finding->severity, severity);
    assert_optional_string(finding->severity_source, source);
    if (score_tenths < 0) {
        assert_true(finding->cvss_score < 0.0);
        assert_null(finding->cvss_vector);
    } else {
        assert_int_equal((int)(finding->cvss_score * 10.0 + 0.5), score_tenths);
        assert_non_null(finding->cvss_vector);
    }
}

static void assert_no_findings(const struct vulndb *db, const char *ecosystem,
                               struct installed_package single)
{
    struct match result = match_one(db, ecosystem, single);
    if (result.count != 0)
        fail_msg("%s %s: %zu findings, expected none (first %s)", single.name,
                 single.version, result.count, result.findings[0].id);
    assert_null(result.findings);
}

/* Returns the one finding for a package, which must be the only one. */
static struct match expect_one(const struct vulndb *db, const char *ecosystem,
                               struct installed_package single)
{
    struct match result = match_one(db, ecosystem, single);
    if (result.count != 1)
        fail_msg("%s %s: %zu findings, expected 1", single.name, single.version,
                 result.count);
    return result;
}

/* Merging ---------------------------------------------------------------- */

static void merges_dsa_and_cve_record(void **state)
{
    const struct vulndb *db = *state;
    struct match result = match_one(
        db, "Debian:12", package("mergebin", "1.2-2", "mergesrc", NULL));

    assert_int_equal(result.count, 2);
    assert_finding(&result.findings[0], "CVE-2099-1001", "mergebin", "1.2-2",
                   "1.2-4", "DEBIAN-CVE-2099-1001,DSA-9001-1");
    assert_rating(&result.findings[0], SEVERITY_MEDIUM, "debian", -1);
    assert_finding(&result.findings[1], "CVE-2099-1002", "mergebin", "1.2-2",
                   "1.2-4", "DSA-9001-1");
    assert_rating(&result.findings[1], SEVERITY_UNKNOWN, NULL, -1);
    match_findings_free(result.findings, result.count);
}

static void lists_only_advisories_that_still_apply(void **state)
{
    const struct vulndb *db = *state;
    struct match result = match_one(
        db, "Debian:12", package("mergebin", "1.2-3", "mergesrc", NULL));

    /* DEBIAN-CVE-2099-1001 is fixed in 1.2-3, DSA-9001-1 only in 1.2-4. */
    assert_int_equal(result.count, 2);
    assert_finding(&result.findings[0], "CVE-2099-1001", "mergebin", "1.2-3",
                   "1.2-4", "DSA-9001-1");
    assert_rating(&result.findings[0], SEVERITY_UNKNOWN, NULL, -1);
    match_findings_free(result.findings, result.count);

    assert_no_findings(db, "Debian:12",
                       package("mergebin", "1.2-4", "mergesrc", NULL));
}

static void merges_aliases_and_prefers_distro_rating(void **state)
{
    const struct vulndb *db = *state;
    struct match result = expect_one(
        db, "Debian:12", package("aliasbin", "3.0-1", "aliassrc", "3.0-1"));
    const struct finding *finding = &result.findings[0];

    assert_finding(finding, "CVE-2099-3001", "aliasbin", "3.0-1", NULL,
                   "DEBIAN-CVE-2099-3001,GHSA-aaaa-bbbb-cccc,OSV-2099-7");
    /* Debian's "low**" decides; the record's best vector stays beside. */
    assert_rating(finding, SEVERITY_LOW, "debian", 98);
    assert_string_equal(finding->cvss_vector,
                        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
    match_findings_free(result.findings, result.count);
}

static void merges_ubuntu_notice_with_its_cve_record(void **state)
{
    const struct vulndb *db = *state;
    struct match result =
        expect_one(db, "Ubuntu:22.04",
                   package("ububin", "1.0-0ubuntu1", "ubusrc", "1.0-0ubuntu1"));

    /* The Pro entry (fixed in 1.0-0ubuntu1+esm1) is not matched. */
    assert_finding(&result.findings[0], "CVE-2099-1101", "ububin",
                   "1.0-0ubuntu1", "1.0-0ubuntu2",
                   "UBUNTU-CVE-2099-1101,USN-9101-1");
    assert_rating(&result.findings[0], SEVERITY_HIGH, "ubuntu", -1);
    match_findings_free(result.findings, result.count);

    assert_no_findings(db, "Ubuntu:22.04",
                       package("ububin", "1.0-0ubuntu2", "ubusrc", NULL));
}

/* Writes one record into a new temporary directory. */
static void write_record(char *directory, size_t size, const char *name,
                         const char *text)
{
    snprintf(directory, size, "/tmp/imgassure-match-XXXXXX");
    assert_non_null(mkdtemp(directory));

    char path[256];
    snprintf(path, sizeof(path), "%s/%s", directory, name);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_true(fputs(text, file) >= 0);
    assert_int_equal(fclose(file), 0);
}

static void remove_record(const char *directory, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", directory, name);
    unlink(path);
    rmdir(directory);
}

static void reports_no_fix_when_a_merged_record_has_none(void **state)
{
    (void)state;
    char directory[64];
    write_record(
        directory, sizeof(directory), "records.json",
        "{\"id\": \"DSA-9002-1\", \"modified\": \"2099-01-01T00:00:00Z\","
        " \"upstream\": [\"CVE-2099-7777\"], \"affected\": [{\"package\":"
        " {\"ecosystem\": \"Debian:12\", \"name\": \"opensrc\"}, \"ranges\":"
        " [{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": \"0\"},"
        " {\"fixed\": \"1.0-2\"}]}]},"
        " {\"package\": {\"ecosystem\": \"Debian:12\", \"name\": \"opensrc\"},"
        " \"ranges\": [{\"type\": \"ECOSYSTEM\", \"events\":"
        " [{\"introduced\": \"0\"}]}]}]}");
    struct vulndb *db = load(directory, NULL);
    remove_record(directory, "records.json");

    struct match result = expect_one(
        db, "Debian:12", package("openbin", "1.0-1", "opensrc", NULL));
    assert_finding(&result.findings[0], "CVE-2099-7777", "openbin", "1.0-1",
                   NULL, "DSA-9002-1");
    match_findings_free(result.findings, result.count);

    /* Past the fix, the open entry alone still applies. */
    result = expect_one(db, "Debian:12",
                        package("openbin", "1.0-2", "opensrc", NULL));
    assert_null(result.findings[0].fixed_version);
    match_findings_free(result.findings, result.count);
    vulndb_free(db);
}

static void caps_aliases_of_one_finding(void **state)
{
    (void)state;
    char directory[64], record[8192];
    size_t used = (size_t)snprintf(
        record, sizeof(record),
        "{\"id\": \"DEBIAN-CVE-2099-8888\", \"modified\": "
        "\"2099-01-01T00:00:00Z\", \"upstream\": [\"CVE-2099-8888\"], "
        "\"aliases\": [");
    for (int i = 0; i < 100; i++)
        used += (size_t)snprintf(record + used, sizeof(record) - used,
                                 "%s\"GHSA-%04d-aaaa-bbbb\"", i ? ", " : "", i);
    snprintf(record + used, sizeof(record) - used,
             "], \"affected\": [{\"package\": {\"ecosystem\": "
             "\"Debian:12\", \"name\": \"manysrc\"}, \"ranges\": "
             "[{\"type\": \"ECOSYSTEM\", \"events\": [{\"introduced\": "
             "\"0\"}]}]}]}");
    write_record(directory, sizeof(directory), "records.json", record);
    struct vulndb *db = load(directory, NULL);
    remove_record(directory, "records.json");

    /* The finding stays, with as many ids as a result can carry. */
    struct match result = expect_one(
        db, "Debian:12", package("manybin", "1.0-1", "manysrc", NULL));
    assert_string_equal(result.findings[0].id, "CVE-2099-8888");
    assert_int_equal(result.findings[0].alias_count, FINDING_MAX_ALIASES);
    match_findings_free(result.findings, result.count);
    vulndb_free(db);
}

/* OSV evaluation ---------------------------------------------------------- */

struct version_case {
    const char *version;
    bool affected;
    const char *fixed;
};

static void check_versions(const struct vulndb *db, const char *source,
                           const struct version_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        struct installed_package single =
            package("testbin", cases[i].version, source, NULL);
        struct match result = match_one(db, "Debian:12", single);
        if (result.count != (cases[i].affected ? 1u : 0u))
            fail_msg("%s %s: %zu findings, expected %s", source,
                     cases[i].version, result.count,
                     cases[i].affected ? "one" : "none");
        if (cases[i].affected)
            assert_optional_string(result.findings[0].fixed_version,
                                   cases[i].fixed);
        match_findings_free(result.findings, result.count);
    }
}

static void evaluates_several_ranges_and_pairs(void **state)
{
    static const struct version_case cases[] = {
        {"0.5-1", false, NULL},   {"1.0-1", true, "1.5-1"},
        {"1.2-1", true, "1.5-1"}, {"1.5-1", false, NULL},
        {"1.7-1", false, NULL},   {"2.1-1", true, "2.5-1"},
        {"2.5-1", false, NULL},   {"3.0-1", false, NULL},
        {"4.0-1", true, NULL},    {"4.5-1", true, NULL},
    };
    check_versions(*state, "rangesrc", cases, sizeof(cases) / sizeof(cases[0]));
}

static void last_affected_includes_that_version(void **state)
{
    static const struct version_case cases[] = {
        {"1.0-1", true, NULL},
        {"2.0-1", true, NULL},
        {"2.0-1+b1", false, NULL},
        {"2.0-2", false, NULL},
    };
    check_versions(*state, "lastsrc", cases, sizeof(cases) / sizeof(cases[0]));
}

static void limit_ends_a_range(void **state)
{
    static const struct version_case cases[] = {
        {"2.5-1", true, "9.0-1"}, {"3.0-1", false, NULL},
        {"3.5-1", false, NULL},   {"6.0-1", false, NULL},
        {"7.0-1", true, NULL},    {"99.0-1", true, NULL},
    };
    check_versions(*state, "limitsrc", cases, sizeof(cases) / sizeof(cases[0]));
}

static void versions_list_matches_equal_versions(void **state)
{
    static const struct version_case cases[] = {
        {"5.0-1", true, NULL},   {"0:5.0-1", true, NULL},
        {"1:5.0-2", true, NULL}, {"5.0-2", false, NULL},
        {"5.0-3", false, NULL},
    };
    check_versions(*state, "versionsrc", cases,
                   sizeof(cases) / sizeof(cases[0]));
}

static void ignores_withdrawn_and_non_ecosystem_ranges(void **state)
{
    const struct vulndb *db = *state;

    assert_no_findings(db, "Debian:12",
                       package("withdrawnbin", "1.0-1", "withdrawnsrc", NULL));
    assert_no_findings(db, "Debian:12",
                       package("gitbin", "0.1-1", "gitsrc", NULL));
}

static void duplicate_id_uses_newest_record(void **state)
{
    const struct vulndb *db = *state;

    assert_no_findings(db, "Debian:12", package("dupsrc", "1.0-2", NULL, NULL));
    struct match result =
        expect_one(db, "Debian:12", package("dupsrc", "0.9-1", NULL, NULL));
    assert_string_equal(result.findings[0].fixed_version, "1.0-1");
    match_findings_free(result.findings, result.count);
}

/* Which name and version are looked up ------------------------------------ */

static void binnmu_matches_on_source_version(void **state)
{
    const struct vulndb *db = *state;

    /* last_affected is the source version 1:1.0-1; the binary is +b1. */
    struct match result =
        expect_one(db, "Debian:12",
                   package("binnmubin", "1:1.0-1+b1", "binnmusrc", "1:1.0-1"));
    assert_finding(&result.findings[0], "CVE-2099-9001", "binnmubin",
                   "1:1.0-1+b1", NULL, "DEBIAN-CVE-2099-9001");
    match_findings_free(result.findings, result.count);

    /* Without Source's version the binary's own version is compared. */
    assert_no_findings(db, "Debian:12",
                       package("binnmubin", "1:1.0-1+b1", "binnmusrc", NULL));
}

static void falls_back_to_binary_name(void **state)
{
    const struct vulndb *db = *state;

    struct match result =
        expect_one(db, "Debian:12", package("lastsrc", "1.0-1", NULL, NULL));
    assert_string_equal(result.findings[0].package, "lastsrc");
    match_findings_free(result.findings, result.count);

    result = expect_one(db, "Debian:12", package("lastsrc", "1.0-1", "", NULL));
    match_findings_free(result.findings, result.count);
}

static void alpine_matches_origin_with_apk_order(void **state)
{
    const struct vulndb *db = *state;

    struct match result = expect_one(
        db, "Alpine:v3.10", package("apkbin", "1.0-r1", "apksrc", NULL));
    assert_finding(&result.findings[0], "CVE-2099-1301", "apkbin", "1.0-r1",
                   "1.0-r2", "ALPINE-CVE-2099-1301");
    match_findings_free(result.findings, result.count);

    assert_no_findings(db, "Alpine:v3.10",
                       package("apkbin", "1.0-r2", "apksrc", NULL));
    assert_no_findings(db, "Alpine:v3.10",
                       package("apkbin", "1.0-r10", "apksrc", NULL));
    assert_no_findings(db, "Alpine:v3.11",
                       package("apkbin", "1.0-r1", "apksrc", NULL));
}

/* Severity ---------------------------------------------------------------- */

static void reads_urgency_from_database_specific(void **state)
{
    const struct vulndb *db = *state;
    struct match result =
        expect_one(db, "Debian:12", package("dbspecsrc", "1-1", NULL, NULL));

    assert_rating(&result.findings[0], SEVERITY_HIGH, "debian", -1);
    match_findings_free(result.findings, result.count);
}

static void uses_cve_record_when_distro_gives_no_rating(void **state)
{
    const struct vulndb *db = *state;

    /* Only DSA-9001-1 applies; CVE-2099-1001's vector is in an ADP. */
    struct match result = match_one(
        db, "Debian:12", package("mergebin", "1.2-3", "mergesrc", NULL));
    assert_int_equal(result.count, 2);
    assert_finding(&result.findings[0], "CVE-2099-1001", "mergebin", "1.2-3",
                   "1.2-4", "DSA-9001-1");
    assert_rating(&result.findings[0], SEVERITY_HIGH, "cvss_v3", 78);
    assert_finding(&result.findings[1], "CVE-2099-1002", "mergebin", "1.2-3",
                   "1.2-4", "DSA-9001-1");
    assert_rating(&result.findings[1], SEVERITY_MEDIUM, "cvss_v3", 61);
    match_findings_free(result.findings, result.count);

    /* Debian's own "medium" wins over the CVE record's High vector. */
    result = match_one(db, "Debian:12",
                       package("mergebin", "1.2-2", "mergesrc", NULL));
    assert_rating(&result.findings[0], SEVERITY_MEDIUM, "debian", 78);
    match_findings_free(result.findings, result.count);
}

static void uses_cna_text_when_no_vector(void **state)
{
    const struct vulndb *db = *state;

    /* "not yet assigned" is no rating, so the CNA's "MODERATE" decides. */
    struct match result = expect_one(
        db, "Debian:12", package("lastbin", "2.0-1", "lastsrc", NULL));
    assert_rating(&result.findings[0], SEVERITY_MEDIUM, "cna", -1);
    match_findings_free(result.findings, result.count);
}

static void keeps_cve_score_beside_ubuntu_priority(void **state)
{
    const struct vulndb *db = *state;
    struct match result = expect_one(
        db, "Ubuntu:22.04", package("ububin", "1.0-0ubuntu1", "ubusrc", NULL));

    assert_rating(&result.findings[0], SEVERITY_HIGH, "ubuntu", 75);
    match_findings_free(result.findings, result.count);
}

/* Order, errors and caps -------------------------------------------------- */

static void sorts_by_severity_then_id_then_package(void **state)
{
    const struct vulndb *db = *state;
    struct installed_package packages[] = {
        package("zz-last", "1.0-1", "lastsrc", NULL),
        package("mergebin", "1.2-2", "mergesrc", NULL),
        package("dbspecsrc", "1-1", NULL, NULL),
        package("aa-last", "1.0-1", "lastsrc", NULL),
        package("aliasbin", "1-1", "aliassrc", NULL),
    };
    struct match result = match_all(db, "Debian:12", packages, 5);

    assert_int_equal(result.count, 6);
    assert_finding(&result.findings[0], "CVE-2099-1401", "dbspecsrc", "1-1",
                   NULL, "DEBIAN-CVE-2099-1401");
    assert_finding(&result.findings[1], "CVE-2099-1001", "mergebin", "1.2-2",
                   "1.2-4", "DEBIAN-CVE-2099-1001,DSA-9001-1");
    assert_finding(&result.findings[2], "CVE-2099-1002", "mergebin", "1.2-2",
                   "1.2-4", "DSA-9001-1");
    assert_finding(&result.findings[3], "CVE-2099-5001", "aa-last", "1.0-1",
                   NULL, "DEBIAN-CVE-2099-5001");
    assert_finding(&result.findings[4], "CVE-2099-5001", "zz-last", "1.0-1",
                   NULL, "DEBIAN-CVE-2099-5001");
    assert_finding(&result.findings[5], "CVE-2099-3001", "aliasbin", "1-1",
                   NULL, "DEBIAN-CVE-2099-3001,GHSA-aaaa-bbbb-cccc,OSV-2099-7");
    match_findings_free(result.findings, result.count);
}

static void rejects_bad_requests(void **state)
{
    const struct vulndb *db = *state;
    struct finding *findings = (struct finding *)&findings;
    size_t count = 7;
    struct installed_package good = package("x", "1", NULL, NULL);
    struct installed_package no_version = package("x", NULL, NULL, NULL);
    struct installed_package no_name = package("", "1", NULL, NULL);

    assert_int_equal(match_inventory(db, "Fedora:39", &good, 1, &findings,
                                     &count, errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "ecosystem \"Fedora:39\" is not one"));
    assert_null(findings);
    assert_int_equal(count, 0);

    assert_int_equal(match_inventory(db, NULL, &good, 1, &findings, &count,
                                     errbuf, sizeof(errbuf)),
                     -1);
    assert_int_equal(match_inventory(db, "Debian:12", &no_version, 1, &findings,
                                     &count, errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "package 0 has no name or version"));
    assert_int_equal(match_inventory(db, "Debian:12", &no_name, 1, &findings,
                                     &count, errbuf, sizeof(errbuf)),
                     -1);

    assert_int_equal(match_inventory(db, "Debian:12", NULL, 0, &findings,
                                     &count, errbuf, sizeof(errbuf)),
                     0);
    assert_null(findings);
    assert_int_equal(count, 0);
    match_findings_free(NULL, 0);
}

/* Builds n packages built from source "manysrc" with distinct names. */
static struct installed_package *many_packages(size_t n, char (**names)[24])
{
    struct installed_package *packages = calloc(n, sizeof(*packages));
    *names = calloc(n, sizeof(**names));
    assert_non_null(packages);
    assert_non_null(*names);
    for (size_t i = 0; i < n; i++) {
        snprintf((*names)[i], sizeof((*names)[i]), "bin%07zu", i);
        packages[i] = package((*names)[i], "1.0-1", "manysrc", NULL);
    }
    return packages;
}

static struct vulndb *load_manysrc(size_t cve_count)
{
    size_t size = 512 + cve_count * 20;
    char *text = malloc(size);
    assert_non_null(text);
    size_t length = (size_t)snprintf(
        text, size,
        "{\"id\": \"DSA-9003-1\", \"modified\": \"2099-01-01T00:00:00Z\","
        " \"upstream\": [");
    for (size_t i = 0; i < cve_count; i++)
        length +=
            (size_t)snprintf(text + length, size - length,
                             "%s\"CVE-2099-%05zu\"", i ? ", " : "", 10000 + i);
    snprintf(text + length, size - length,
             "], \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\","
             " \"name\": \"manysrc\"}, \"ranges\": [{\"type\": \"ECOSYSTEM\","
             " \"events\": [{\"introduced\": \"0\"}]}]}]}");

    char directory[64];
    write_record(directory, sizeof(directory), "many.json", text);
    free(text);
    struct vulndb *db = load(directory, NULL);
    remove_record(directory, "many.json");
    return db;
}

static void caps_finding_count(void **state)
{
    (void)state;
    struct vulndb *db = load_manysrc(1);
    char(*names)[24];
    struct installed_package *packages =
        many_packages(MATCH_MAX_FINDINGS + 1, &names);
    struct finding *findings = NULL;
    size_t count = 0;

    assert_int_equal(match_inventory(db, "Debian:12", packages,
                                     MATCH_MAX_FINDINGS, &findings, &count,
                                     errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(count, MATCH_MAX_FINDINGS);
    match_findings_free(findings, count);

    assert_int_equal(match_inventory(db, "Debian:12", packages,
                                     MATCH_MAX_FINDINGS + 1, &findings, &count,
                                     errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "more than 100000 findings"));
    assert_null(findings);

    free(packages);
    free(names);
    vulndb_free(db);
}

static void caps_advisory_matches(void **state)
{
    (void)state;
    /* 4096 CVEs in one record: 391 packages give 1601536 matches, one
     * batch of 4096 more than the cap of 1600000 allows. */
    struct vulndb *db = load_manysrc(4096);
    char(*names)[24];
    struct installed_package *packages = many_packages(391, &names);
    struct finding *findings = NULL;
    size_t count = 0;

    assert_int_equal(match_inventory(db, "Debian:12", packages, 391, &findings,
                                     &count, errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "more than 1600000 advisory matches"));

    /* 390 packages stay under that cap and stop at the findings cap. */
    assert_int_equal(match_inventory(db, "Debian:12", packages, 390, &findings,
                                     &count, errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "more than 100000 findings"));

    free(packages);
    free(names);
    vulndb_free(db);
}

/* Threads ------------------------------------------------------------------ */

struct thread_job {
    const struct vulndb *db;
    size_t finding_count;
    char first_id[64];
};

static void *match_in_thread(void *argument)
{
    struct thread_job *job = argument;
    struct installed_package packages[] = {
        package("mergebin", "1.2-2", "mergesrc", NULL),
        package("aliasbin", "1-1", "aliassrc", NULL),
    };
    char message[256];

    for (int round = 0; round < 200; round++) {
        struct finding *findings = NULL;
        size_t count = 0;
        if (match_inventory(job->db, "Debian:12", packages, 2, &findings,
                            &count, message, sizeof(message)) != 0)
            return NULL;
        job->finding_count = count;
        snprintf(job->first_id, sizeof(job->first_id), "%s", findings[0].id);
        match_findings_free(findings, count);
    }
    return job;
}

static void threads_share_one_database(void **state)
{
    struct thread_job jobs[4];
    pthread_t threads[4];

    for (size_t i = 0; i < 4; i++) {
        memset(&jobs[i], 0, sizeof(jobs[i]));
        jobs[i].db = *state;
        assert_int_equal(
            pthread_create(&threads[i], NULL, match_in_thread, &jobs[i]), 0);
    }
    for (size_t i = 0; i < 4; i++) {
        void *result = NULL;
        assert_int_equal(pthread_join(threads[i], &result), 0);
        assert_ptr_equal(result, &jobs[i]);
        assert_int_equal(jobs[i].finding_count, 3);
        assert_string_equal(jobs[i].first_id, "CVE-2099-1001");
    }
}

/* Fixtures ------------------------------------------------------------------
 */

static bool fixture_path(const char *relative, char *path, size_t size)
{
    const char *root = getenv("IMGASSURE_FIXTURES");
    if (!root || !*root)
        root = "../shared/fixtures";
    snprintf(path, size, "%s/%s", root, relative);

    struct stat info;
    if (stat(path, &info) == 0)
        return true;
    print_message("skipped: fixture %s not found (set IMGASSURE_FIXTURES to "
                  "the fixtures folder)\n",
                  path);
    return false;
}

static char *read_file(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long length = ftell(file);
    assert_true(length >= 0);
    rewind(file);
    char *data = malloc((size_t)length + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)length, file), (size_t)length);
    data[length] = '\0';
    fclose(file);
    *size = (size_t)length;
    return data;
}

struct expected_finding {
    const char *id;
    const char *package;
    const char *installed_version;
    const char *fixed_version;
    enum severity severity;
    const char *source;
    int score_tenths;
};

static void assert_findings(const struct match *result,
                            const struct expected_finding *expected,
                            size_t count, const char *alias_prefix)
{
    for (size_t i = 0; i < result->count && i < count; i++) {
        char alias[64];
        snprintf(alias, sizeof(alias), "%s%s", alias_prefix, expected[i].id);
        assert_finding(&result->findings[i], expected[i].id,
                       expected[i].package, expected[i].installed_version,
                       expected[i].fixed_version, alias);
        assert_rating(&result->findings[i], expected[i].severity,
                      expected[i].source, expected[i].score_tenths);
    }
    if (result->count != count)
        fail_msg("%zu findings, expected %zu", result->count, count);
}

#define NEGLIGIBLE(id, package, version)                                       \
    {                                                                          \
        id, package, version, NULL, SEVERITY_NEGLIGIBLE, "debian", -1          \
    }

/* The Debian 12 minbase status file against osv/Debian and cve/: every
 * finding. Not listed, because their bookworm fixes are older than what
 * is installed: glibc's CVE-2023-4911 and DSA-5611-1, DSA-5673-1 and
 * DSA-5678-1, util-linux's DSA-5650-1, gnutls28's CVE-2024-0553 and
 * libcap2's CVE-2023-2603 (fixed in 1:2.66-4, the binNMU is built from
 * 1:2.66-4+deb12u3). openssl and webkit2gtk are not installed. */
static const struct expected_finding debian_12_findings[] = {
    {"CVE-2023-4641", "login", "1:4.13+dfsg1-1+deb12u2", NULL, SEVERITY_MEDIUM,
     "cvss_v3", 47},
    {"CVE-2023-4641", "passwd", "1:4.13+dfsg1-1+deb12u2", NULL, SEVERITY_MEDIUM,
     "cvss_v3", 47},
    NEGLIGIBLE("CVE-2005-2541", "tar", "1.34+dfsg-1.2+deb12u1"),
    NEGLIGIBLE("CVE-2011-3374", "apt", "2.6.2"),
    NEGLIGIBLE("CVE-2011-3374", "libapt-pkg6.0", "2.6.2"),
    NEGLIGIBLE("CVE-2011-4116", "libperl5.36", "5.36.0-7+deb12u4"),
    NEGLIGIBLE("CVE-2011-4116", "perl", "5.36.0-7+deb12u4"),
    NEGLIGIBLE("CVE-2011-4116", "perl-base", "5.36.0-7+deb12u4"),
    NEGLIGIBLE("CVE-2011-4116", "perl-modules-5.36", "5.36.0-7+deb12u4"),
    NEGLIGIBLE("CVE-2013-4392", "libsystemd0", "252.39-1~deb12u2"),
    NEGLIGIBLE("CVE-2013-4392", "libudev1", "252.39-1~deb12u2"),
    NEGLIGIBLE("CVE-2018-6829", "libgcrypt20", "1.10.1-3+deb12u1"),
    NEGLIGIBLE("CVE-2019-1010022", "libc-bin", "2.36-9+deb12u14"),
    NEGLIGIBLE("CVE-2019-1010022", "libc6", "2.36-9+deb12u14"),
    {"CVE-2022-0563", "bsdutils", "1:2.38.1-5+deb12u3", NULL,
     SEVERITY_NEGLIGIBLE, "debian", 55},
    {"CVE-2022-0563", "libblkid1", "2.38.1-5+deb12u3", NULL,
     SEVERITY_NEGLIGIBLE, "debian", 55},
    {"CVE-2022-0563", "libmount1", "2.38.1-5+deb12u3", NULL,
     SEVERITY_NEGLIGIBLE, "debian", 55},
    {"CVE-2022-0563", "libsmartcols1", "2.38.1-5+deb12u3", NULL,
     SEVERITY_NEGLIGIBLE, "debian", 55},
    {"CVE-2022-0563", "libuuid1", "2.38.1-5+deb12u3", NULL, SEVERITY_NEGLIGIBLE,
     "debian", 55},
    {"CVE-2022-0563", "mount", "2.38.1-5+deb12u3", NULL, SEVERITY_NEGLIGIBLE,
     "debian", 55},
    {"CVE-2022-0563", "util-linux", "2.38.1-5+deb12u3", NULL,
     SEVERITY_NEGLIGIBLE, "debian", 55},
    {"CVE-2022-0563", "util-linux-extra", "2.38.1-5+deb12u3", NULL,
     SEVERITY_NEGLIGIBLE, "debian", 55},
    {"CVE-2016-2781", "coreutils", "9.1-1", NULL, SEVERITY_UNKNOWN, NULL, -1},
    {"CVE-2023-39804", "tar", "1.34+dfsg-1.2+deb12u1", NULL, SEVERITY_UNKNOWN,
     NULL, -1},
    {"CVE-2023-45853", "zlib1g", "1:1.2.13.dfsg-1+deb12u1", "1:1.3.dfsg-2",
     SEVERITY_UNKNOWN, NULL, -1},
    {"CVE-2023-50495", "libtinfo6", "6.4-4", NULL, SEVERITY_UNKNOWN, NULL, -1},
    {"CVE-2023-50495", "ncurses-base", "6.4-4", NULL, SEVERITY_UNKNOWN, NULL,
     -1},
    {"CVE-2023-50495", "ncurses-bin", "6.4-4", NULL, SEVERITY_UNKNOWN, NULL,
     -1},
};

static void debian_12_minbase_matches_exactly(void **state)
{
    (void)state;
    char osv[4096], cve[4096], status[4096];
    if (!fixture_path("osv/Debian", osv, sizeof(osv)) ||
        !fixture_path("cve", cve, sizeof(cve)) ||
        !fixture_path("rootfs/debian-12-minbase-mmdebstrap/var/lib/dpkg/status",
                      status, sizeof(status)))
        skip();

    size_t size;
    char *text = read_file(status, &size);
    struct installed_package *packages = NULL;
    size_t package_count = 0;
    if (dpkg_status_parse(text, size, &packages, &package_count, errbuf,
                          sizeof(errbuf)) != 0)
        fail_msg("status: %s", errbuf);
    free(text);
    assert_int_equal(package_count, 96);

    char ecosystem[32];
    assert_int_equal(
        vulndb_ecosystem_for_os("debian", "12", ecosystem, sizeof(ecosystem)),
        0);
    struct vulndb *db = load(osv, cve);
    struct match result = match_all(db, ecosystem, packages, package_count);
    assert_findings(&result, debian_12_findings,
                    sizeof(debian_12_findings) / sizeof(debian_12_findings[0]),
                    "DEBIAN-");

    int32_t counts[SEVERITY_COUNT] = {0};
    severity_count(result.findings, result.count, counts);
    assert_int_equal(counts[SEVERITY_MEDIUM], 2);
    assert_int_equal(counts[SEVERITY_NEGLIGIBLE], 20);
    assert_int_equal(counts[SEVERITY_UNKNOWN], 6);
    assert_int_equal(severity_level(result.findings, result.count),
                     SEVERITY_MEDIUM);
    /* W = 4.7 (CVE-2023-4641), no high or critical finding. */
    assert_true(severity_risk_score(result.findings, result.count) == 4.7);

    match_findings_free(result.findings, result.count);
    dpkg_packages_free(packages, package_count);
    vulndb_free(db);
}

#define OPENSSL(id, fixed, severity, source, score)                            \
    {id, "libcrypto1.1", "1.1.1d-r2", fixed, severity, source, score},         \
    {                                                                          \
        id, "libssl1.1", "1.1.1d-r2", fixed, severity, source, score           \
    }

/* The Alpine 3.10 image's packages against osv/Alpine and cve/. Not
 * listed: CVE-2019-1551 (fixed in exactly 1.1.1d-r2), CVE-2019-14697
 * (fixed in exactly 1.1.22-r3), busybox's CVE-2019-5747 (fixed in
 * 1.30.1-r2) and the older fixes of every package. */
static const struct expected_finding alpine_310_findings[] = {
    OPENSSL("CVE-2020-1967", "1.1.1g-r0", SEVERITY_HIGH, "cna", -1),
    OPENSSL("CVE-2020-1971", "1.1.1i-r0", SEVERITY_HIGH, "cna", -1),
    OPENSSL("CVE-2021-23840", "1.1.1j-r0", SEVERITY_HIGH, "cvss_v3", 75),
    {"CVE-2021-28831", "busybox", "1.30.1-r3", "1.30.1-r5", SEVERITY_HIGH,
     "cvss_v3", 75},
    OPENSSL("CVE-2021-3449", "1.1.1k-r0", SEVERITY_HIGH, "cna", -1),
    OPENSSL("CVE-2021-3450", "1.1.1k-r0", SEVERITY_HIGH, "cna", -1),
    OPENSSL("CVE-2021-23841", "1.1.1j-r0", SEVERITY_MEDIUM, "cna", -1),
    OPENSSL("CVE-2021-23839", "1.1.1j-r0", SEVERITY_LOW, "cna", -1),
    {"CVE-2020-28928", "musl", "1.1.22-r3", "1.1.22-r4", SEVERITY_UNKNOWN, NULL,
     -1},
    {"CVE-2021-30139", "apk-tools", "2.10.4-r2", "2.10.6-r0", SEVERITY_UNKNOWN,
     NULL, -1},
    {"CVE-2021-36159", "apk-tools", "2.10.4-r2", "2.10.7-r0", SEVERITY_UNKNOWN,
     NULL, -1},
};

static void alpine_310_matches_exactly(void **state)
{
    (void)state;
    char osv[4096], cve[4096];
    if (!fixture_path("osv/Alpine", osv, sizeof(osv)) ||
        !fixture_path("cve", cve, sizeof(cve)))
        skip();

    /* Read by hand from the image's lib/apk/db/installed (P:, V:, o:). */
    struct installed_package packages[] = {
        package("musl", "1.1.22-r3", "musl", NULL),
        package("busybox", "1.30.1-r3", "busybox", NULL),
        package("libcrypto1.1", "1.1.1d-r2", "openssl", NULL),
        package("libssl1.1", "1.1.1d-r2", "openssl", NULL),
        package("zlib", "1.2.11-r1", "zlib", NULL),
        package("apk-tools", "2.10.4-r2", "apk-tools", NULL),
    };
    char ecosystem[32];
    assert_int_equal(vulndb_ecosystem_for_os("alpine", "3.10.4", ecosystem,
                                             sizeof(ecosystem)),
                     0);
    struct vulndb *db = load(osv, cve);
    struct match result = match_all(db, ecosystem, packages, 6);
    assert_findings(&result, alpine_310_findings,
                    sizeof(alpine_310_findings) /
                        sizeof(alpine_310_findings[0]),
                    "ALPINE-");

    assert_int_equal(severity_level(result.findings, result.count),
                     SEVERITY_HIGH);
    /* W = 7.5, six distinct high ids: 7.5 + 6 / 10 = 8.1. */
    assert_true(severity_risk_score(result.findings, result.count) == 8.1);
    match_findings_free(result.findings, result.count);
    vulndb_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(merges_dsa_and_cve_record,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(lists_only_advisories_that_still_apply,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(
            merges_aliases_and_prefers_distro_rating, setup_records,
            teardown_db),
        cmocka_unit_test_setup_teardown(
            merges_ubuntu_notice_with_its_cve_record, setup_records,
            teardown_db),
        cmocka_unit_test(reports_no_fix_when_a_merged_record_has_none),
        cmocka_unit_test(caps_aliases_of_one_finding),
        cmocka_unit_test_setup_teardown(evaluates_several_ranges_and_pairs,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(last_affected_includes_that_version,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(limit_ends_a_range, setup_records,
                                        teardown_db),
        cmocka_unit_test_setup_teardown(versions_list_matches_equal_versions,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(
            ignores_withdrawn_and_non_ecosystem_ranges, setup_records,
            teardown_db),
        cmocka_unit_test_setup_teardown(duplicate_id_uses_newest_record,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(binnmu_matches_on_source_version,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(falls_back_to_binary_name,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(alpine_matches_origin_with_apk_order,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(reads_urgency_from_database_specific,
                                        setup_records, teardown_db),
        cmocka_unit_test_setup_teardown(
            uses_cve_record_when_distro_gives_no_rating,
            setup_records_with_cves, teardown_db),
        cmocka_unit_test_setup_teardown(uses_cna_text_when_no_vector,
                                        setup_records_with_cves, teardown_db),
        cmocka_unit_test_setup_teardown(keeps_cve_score_beside_ubuntu_priority,
                                        setup_records_with_cves, teardown_db),
        cmocka_unit_test_setup_teardown(sorts_by_severity_then_id_then_package,
                                        setup_records_with_cves, teardown_db),
        cmocka_unit_test_setup_teardown(rejects_bad_requests, setup_records,
                                        teardown_db),
        cmocka_unit_test(caps_finding_count),
        cmocka_unit_test(caps_advisory_matches),
        cmocka_unit_test_setup_teardown(threads_share_one_database,
                                        setup_records, teardown_db),
        cmocka_unit_test(debian_12_minbase_matches_exactly),
        cmocka_unit_test(alpine_310_matches_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
