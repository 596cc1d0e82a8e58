/*
 * CVSS v3.0 and v3.1 base scores: vectors scored by hand, every v3 score
 * published in the CVE records under $IMGASSURE_FIXTURES/cve, and
 * malformed vectors.
 */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>

#include "cvss.h"

static char errbuf[512];

static void assert_score(const char *vector, int tenths,
                         enum cvss_rating rating)
{
    struct cvss_score score;

    if (cvss_score_vector(vector, &score, errbuf, sizeof(errbuf)) != 0)
        fail_msg("%s: %s", vector, errbuf);
    if (score.base_tenths != tenths)
        fail_msg("%s: score %d.%d, expected %d.%d", vector,
                 score.base_tenths / 10, score.base_tenths % 10, tenths / 10,
                 tenths % 10);
    assert_int_equal(score.rating, rating);
}

/* Expected scores were worked out with the specification's formulas by
 * hand (Impact, Exploitability, Roundup), independently of cvss.c. */
static void scores_vectors_computed_by_hand(void **state)
{
    (void)state;
    assert_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 98,
                 CVSS_RATING_CRITICAL);
    assert_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 100,
                 CVSS_RATING_CRITICAL);
    assert_score("CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 61,
                 CVSS_RATING_MEDIUM);
    assert_score("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 64,
                 CVSS_RATING_MEDIUM);
    assert_score("CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H", 82,
                 CVSS_RATING_HIGH);
    assert_score("CVSS:3.0/AV:N/AC:H/PR:H/UI:R/S:C/C:H/I:H/A:H", 76,
                 CVSS_RATING_HIGH);
    assert_score("CVSS:3.1/AV:A/AC:H/PR:L/UI:R/S:C/C:L/I:N/A:N", 26,
                 CVSS_RATING_LOW);
    assert_score("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 16,
                 CVSS_RATING_LOW);
    assert_score("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:N", 0,
                 CVSS_RATING_NONE);
}

static void accepts_metrics_in_any_order(void **state)
{
    (void)state;
    assert_score("CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N", 98,
                 CVSS_RATING_CRITICAL);
    assert_score("CVSS:3.1/AC:L/AV:N/A:H/C:N/I:N/PR:N/S:U/UI:N", 75,
                 CVSS_RATING_HIGH);
}

static void ignores_temporal_and_environmental_metrics(void **state)
{
    (void)state;
    assert_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N/E:P/RL:W/RC:C",
                 61, CVSS_RATING_MEDIUM);
    assert_score("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X/RL:X/RC:X/"
                 "CR:H/IR:M/AR:L/MAV:L/MAC:H/MPR:H/MUI:R/MS:C/MC:N/MI:L/MA:X",
                 98, CVSS_RATING_CRITICAL);
}

static void assert_rejected(const char *vector, const char *expected)
{
    struct cvss_score score;

    errbuf[0] = '\0';
    if (cvss_score_vector(vector, &score, errbuf, sizeof(errbuf)) != -1)
        fail_msg("accepted \"%s\"", vector ? vector : "(null)");
    if (!strstr(errbuf, expected))
        fail_msg("message \"%s\" lacks \"%s\"", errbuf, expected);
}

static void rejects_malformed_vectors(void **state)
{
    (void)state;
    assert_rejected("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
                    "base metric A is missing");
    assert_rejected("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/C:H/I:H/A:H",
                    "base metric S is missing");
    assert_rejected("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:L",
                    "metric A appears twice");
    assert_rejected("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/E:P",
                    "metric E appears twice");
    assert_rejected("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "AV:X is not a valid value");
    assert_rejected("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MAV:Q",
                    "MAV:Q is not a valid value");
    assert_rejected("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:N",
                    "unknown metric \"ZZ\"");
    assert_rejected("CVSS:3.1/AV:NN/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "one-letter value");
    assert_rejected("CVSS:3.1/AV/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "one-letter value");
    assert_rejected("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",
                    "empty component");
    assert_rejected("CVSS:3.1/AV:N//AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "empty component");
    assert_rejected("CVSS:3.1/", "empty component");
    assert_rejected("cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "expected the prefix");
    assert_rejected("CVSS:3.2/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "expected the prefix");
    assert_rejected("AV:N/AC:L/Au:N/C:P/I:P/A:P", "expected the prefix");
    assert_rejected("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/"
                    "SI:N/SA:N",
                    "expected the prefix");
    assert_rejected("", "expected the prefix");
    assert_rejected(NULL, "missing");
}

static void rejects_vector_over_length_cap(void **state)
{
    (void)state;
    char vector[CVSS_MAX_VECTOR_BYTES + 64];
    size_t length =
        (size_t)snprintf(vector, sizeof(vector), "%s",
                         "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
    while (length + 4 < CVSS_MAX_VECTOR_BYTES + 8)
        length +=
            (size_t)snprintf(vector + length, sizeof(vector) - length, "/E:X");
    assert_true(length > CVSS_MAX_VECTOR_BYTES);
    assert_rejected(vector, "longer than 256 bytes");
}

static void roundup_follows_each_version(void **state)
{
    (void)state;
    assert_int_equal(cvss_roundup_tenths(CVSS_V3_1, 4.0), 40);
    assert_int_equal(cvss_roundup_tenths(CVSS_V3_1, 4.02), 41);
    assert_int_equal(cvss_roundup_tenths(CVSS_V3_1, 4.000000000000001), 40);
    assert_int_equal(cvss_roundup_tenths(CVSS_V3_0, 4.0), 40);
    assert_int_equal(cvss_roundup_tenths(CVSS_V3_0, 4.02), 41);
    assert_int_equal(cvss_roundup_tenths(CVSS_V3_0, 4.000000000000001), 41);
    assert_int_equal(cvss_roundup_tenths(CVSS_V3_1, 9.760161495), 98);
}

/* Both versions share the base formulas, and their Roundups agree on
 * every base vector, so all 2592 combinations score alike. */
static void versions_agree_on_every_base_vector(void **state)
{
    (void)state;
    const char *av = "NALP", *ac = "LH", *pr = "NLH", *ui = "NR", *s = "UC";
    const char *cia = "HLN";
    size_t checked = 0;

    for (const char *a = av; *a; a++)
        for (const char *b = ac; *b; b++)
            for (const char *p = pr; *p; p++)
                for (const char *u = ui; *u; u++)
                    for (const char *sc = s; *sc; sc++)
                        for (int impact = 0; impact < 27; impact++) {
                            char v30[96], v31[96];
                            const char *tail = "AV:%c/AC:%c/PR:%c/UI:%c/"
                                               "S:%c/C:%c/I:%c/A:%c";
                            char metrics[64];
                            snprintf(metrics, sizeof(metrics), tail, *a, *b, *p,
                                     *u, *sc, cia[impact / 9],
                                     cia[impact / 3 % 3], cia[impact % 3]);
                            snprintf(v30, sizeof(v30), "CVSS:3.0/%s", metrics);
                            snprintf(v31, sizeof(v31), "CVSS:3.1/%s", metrics);
                            struct cvss_score x, y;
                            assert_int_equal(
                                cvss_score_vector(v30, &x, NULL, 0), 0);
                            assert_int_equal(
                                cvss_score_vector(v31, &y, NULL, 0), 0);
                            if (x.base_tenths != y.base_tenths)
                                fail_msg("%s: 3.0 gives %d, 3.1 gives %d",
                                         metrics, x.base_tenths, y.base_tenths);
                            checked++;
                        }
    assert_int_equal(checked, 2592);
}

static void rating_bands_match_specification(void **state)
{
    (void)state;
    assert_int_equal(cvss_rating_from_tenths(0), CVSS_RATING_NONE);
    assert_int_equal(cvss_rating_from_tenths(1), CVSS_RATING_LOW);
    assert_int_equal(cvss_rating_from_tenths(39), CVSS_RATING_LOW);
    assert_int_equal(cvss_rating_from_tenths(40), CVSS_RATING_MEDIUM);
    assert_int_equal(cvss_rating_from_tenths(69), CVSS_RATING_MEDIUM);
    assert_int_equal(cvss_rating_from_tenths(70), CVSS_RATING_HIGH);
    assert_int_equal(cvss_rating_from_tenths(89), CVSS_RATING_HIGH);
    assert_int_equal(cvss_rating_from_tenths(90), CVSS_RATING_CRITICAL);
    assert_int_equal(cvss_rating_from_tenths(100), CVSS_RATING_CRITICAL);
    assert_string_equal(cvss_rating_name(CVSS_RATING_MEDIUM), "Medium");
    assert_null(cvss_rating_name((enum cvss_rating)42));
}

/* Fixtures ------------------------------------------------------------ */

static const char *fixture_root(void)
{
    const char *root = getenv("IMGASSURE_FIXTURES");
    return root && *root ? root : "../shared/fixtures";
}

/* Checks every cvssV3_x entry of one metrics array. Returns how many. */
static size_t check_metrics(const char *file, const json_t *metrics)
{
    static const char *const keys[] = {"cvssV3_0", "cvssV3_1"};
    size_t checked = 0;

    for (size_t i = 0; i < json_array_size(metrics); i++) {
        for (size_t k = 0; k < 2; k++) {
            const json_t *cvss =
                json_object_get(json_array_get(metrics, i), keys[k]);
            const char *vector =
                json_string_value(json_object_get(cvss, "vectorString"));
            const json_t *published = json_object_get(cvss, "baseScore");
            const char *severity =
                json_string_value(json_object_get(cvss, "baseSeverity"));
            if (!vector || !json_is_number(published))
                continue;

            struct cvss_score score;
            if (cvss_score_vector(vector, &score, errbuf, sizeof(errbuf)) != 0)
                fail_msg("%s: %s", file, errbuf);
            int expected = (int)lround(json_number_value(published) * 10.0);
            if (score.base_tenths != expected)
                fail_msg("%s: %s scores %d tenths, the record says %d", file,
                         vector, score.base_tenths, expected);
            if (severity &&
                strcasecmp(severity, cvss_rating_name(score.rating)) != 0)
                fail_msg("%s: %s rated %s, the record says %s", file, vector,
                         cvss_rating_name(score.rating), severity);
            checked++;
        }
    }
    return checked;
}

static size_t check_record(const char *path, const char *name)
{
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    if (!root)
        fail_msg("%s: %s", name, error.text);

    const json_t *containers = json_object_get(root, "containers");
    size_t checked = check_metrics(
        name, json_object_get(json_object_get(containers, "cna"), "metrics"));
    const json_t *adp = json_object_get(containers, "adp");
    for (size_t i = 0; i < json_array_size(adp); i++)
        checked += check_metrics(
            name, json_object_get(json_array_get(adp, i), "metrics"));
    json_decref(root);
    return checked;
}

/* Counts the INDEX.tsv rows that list a v3 vector. */
static size_t index_records_with_v3(const char *directory)
{
    char path[8192];
    snprintf(path, sizeof(path), "%s/INDEX.tsv", directory);
    FILE *file = fopen(path, "r");
    assert_non_null(file);

    char line[1024];
    size_t count = 0;
    while (fgets(line, sizeof(line), file)) {
        char *tab = strchr(line, '\t');
        if (tab && strncmp(tab + 1, "yes\t", 4) == 0)
            count++;
    }
    fclose(file);
    return count;
}

static void matches_every_published_fixture_score(void **state)
{
    (void)state;
    char directory[4096];
    snprintf(directory, sizeof(directory), "%s/cve", fixture_root());
    DIR *listing = opendir(directory);
    if (!listing) {
        print_message("skipped: %s not found (set IMGASSURE_FIXTURES to the "
                      "fixtures folder)\n",
                      directory);
        skip();
    }

    size_t scores = 0;
    size_t records = 0;
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (length < 6 || strcmp(entry->d_name + length - 5, ".json") != 0)
            continue;
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", directory, entry->d_name);
        size_t checked = check_record(path, entry->d_name);
        scores += checked;
        records += checked > 0;
    }
    closedir(listing);

    print_message("checked %zu published v3 scores in %zu records\n", scores,
                  records);
    assert_int_equal(records, index_records_with_v3(directory));
    assert_true(scores >= records);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scores_vectors_computed_by_hand),
        cmocka_unit_test(accepts_metrics_in_any_order),
        cmocka_unit_test(ignores_temporal_and_environmental_metrics),
        cmocka_unit_test(rejects_malformed_vectors),
        cmocka_unit_test(rejects_vector_over_length_cap),
        cmocka_unit_test(roundup_follows_each_version),
        cmocka_unit_test(versions_agree_on_every_base_vector),
        cmocka_unit_test(rating_bands_match_specification),
        cmocka_unit_test(matches_every_published_fixture_score),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
