/*
 * Version order for dpkg, apk and rpm. Each scheme has a table of cases
 * that names the rule it exercises. dpkg and rpm are also checked against
 * the real tools: the scripts in tests/version/ write pairs with the order
 * dpkg and rpm give them into $IMGASSURE_BUILD/version-data/ (default
 * build/), and every pair must match version_compare() both ways round.
 * apk-tools is not packaged in Debian, so its table is derived from the
 * grammar and rules apk-tools documents for package versions.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <cmocka.h>

#include "version.h"

/* Exit status of the tests/version scripts when they skip. */
#define SCRIPT_SKIPPED 77

/* The differential scripts must produce at least this many pairs from
 * the apt lists. */
#define MIN_DPKG_PAIRS 100000

struct order_case {
    const char *a;
    const char *b;
    int expected; /* -1: a is older, 0: equal, 1: a is newer */
    const char *rule;
};

struct valid_case {
    const char *text;
    int expected;
    const char *rule;
};

static int sign(int value)
{
    return (value > 0) - (value < 0);
}

static const char *scheme_name(enum version_scheme scheme)
{
    switch (scheme) {
    case VERSION_SCHEME_DPKG:
        return "dpkg";
    case VERSION_SCHEME_APK:
        return "apk";
    case VERSION_SCHEME_RPM:
        return "rpm";
    }
    return "?";
}

/* Checks every case both ways round and reports all failures at once. */
static void order_cases_check(enum version_scheme scheme,
                              const struct order_case *cases, size_t count)
{
    size_t failures = 0;

    for (size_t i = 0; i < count; i++) {
        const struct order_case *c = &cases[i];
        int forward = sign(version_compare(scheme, c->a, c->b));
        int backward = sign(version_compare(scheme, c->b, c->a));
        if (forward == c->expected && backward == -c->expected)
            continue;
        failures++;
        print_message("%s: \"%s\" vs \"%s\": expected %d, got %d (reverse "
                      "%d); rule: %s\n",
                      scheme_name(scheme), c->a, c->b, c->expected, forward,
                      backward, c->rule);
    }
    assert_int_equal(failures, 0);
}

static void valid_cases_check(enum version_scheme scheme,
                              const struct valid_case *cases, size_t count)
{
    size_t failures = 0;

    for (size_t i = 0; i < count; i++) {
        const struct valid_case *c = &cases[i];
        int actual = version_valid(scheme, c->text);
        if (actual == c->expected)
            continue;
        failures++;
        print_message("%s: version_valid(\"%s\") is %d, expected %d; "
                      "rule: %s\n",
                      scheme_name(scheme), c->text, actual, c->expected,
                      c->rule);
    }
    assert_int_equal(failures, 0);
}

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* ---- dpkg ---------------------------------------------------------- */

static const struct order_case dpkg_cases[] = {
    {"1.0", "1.1", -1, "digit runs compare as numbers"},
    {"1.9", "1.10", -1, "digit runs compare as numbers, not bytes"},
    {"1.01", "1.1", 0, "leading zeros in a digit run do not count"},
    {"1.000", "1.0", 0, "leading zeros in a digit run do not count"},
    {"1.99999999999999999999", "1.100000000000000000000", -1,
     "digit runs of any length compare as numbers"},
    {"1.0~rc1", "1.0", -1, "'~' sorts before the end of the string"},
    {"1.0~~", "1.0~", -1, "'~' sorts before the end of the string"},
    {"1.0~~a", "1.0~", -1, "'~' sorts before everything else"},
    {"1.0~rc1", "1.0~rc2", -1, "after equal '~' the rest decides"},
    {"1.0", "1.0a", -1, "the end of the string sorts before letters"},
    {"1.0a", "1.0+", -1, "letters sort before other characters"},
    {"1.0Z", "1.0a", -1, "letters compare as ASCII bytes"},
    {"1.0", "1.0.0", -1, "a further component is newer"},
    {"1.0+dfsg", "1.0.1", -1, "'+' sorts before '.' by its byte"},
    {"1:0.1", "2.0", 1, "the epoch decides first"},
    {"2:1.0", "10:0.1", -1, "epochs compare as numbers"},
    {"0:1.0", "1.0", 0, "a missing epoch is 0"},
    {"01:1.0", "1:1.0", 0, "an epoch's leading zeros do not count"},
    {"1.0", "1.0-0", 0, "a missing revision equals revision 0"},
    {"1.0-1", "1.0-1+b1", -1, "a binNMU suffix is newer"},
    {"1.0-1~bpo1", "1.0-1", -1, "'~' in a revision sorts first"},
    {"1.0-9", "1.0-10", -1, "revisions compare with the same rules"},
    {"1.0-1", "1.0-1.1", -1, "revisions compare with the same rules"},
    {"1.0-2-3", "1.0-2-4", -1, "the last hyphen starts the revision"},
    {"1.0-2-3", "1.0-3", 1,
     "the upstream version (1.0-2 against 1.0) decides first"},
    {"1:2.66-4+deb12u3+b1", "1:2.66-4+deb12u3", 1,
     "a real binNMU against its source version"},
    {"2.36-9+deb12u14", "2.36-9+deb12u3", 1,
     "real stable updates compare numerically"},
    {"", "", 0, "an empty string equals itself"},
};

static void dpkg_orders_documented_cases(void **state)
{
    (void)state;
    order_cases_check(VERSION_SCHEME_DPKG, dpkg_cases, COUNT(dpkg_cases));
}

static const struct valid_case dpkg_valid_cases[] = {
    {"1.0", 1, "a plain upstream version"},
    {"1:2.66-4+deb12u3+b1", 1, "epoch, upstream version and revision"},
    {"1:1.0:2-3", 1, "colons may follow an epoch in the upstream version"},
    {"1.0-1-1", 1, "hyphens may appear in the upstream version"},
    {" 1.0", 1, "blanks around the version are ignored"},
    {"", 0, "empty"},
    {"1.0 1", 0, "embedded blank"},
    {":1.0", 0, "empty epoch"},
    {"a:1.0", 0, "epoch is not a number"},
    {"2147483648:1", 0, "epoch over INT_MAX"},
    {"1:", 0, "nothing after the epoch"},
    {"1.0-", 0, "empty revision"},
    {"-1", 0, "empty upstream version"},
    {"a1.0", 0, "dpkg warns: upstream version must start with a digit"},
    {"1.0_1", 0, "dpkg warns: '_' is not allowed in a version"},
    {"1.0-1_1", 0, "dpkg warns: '_' is not allowed in a revision"},
};

static void dpkg_validates_documented_cases(void **state)
{
    (void)state;
    valid_cases_check(VERSION_SCHEME_DPKG, dpkg_valid_cases,
                      COUNT(dpkg_valid_cases));
}

/* ---- apk ----------------------------------------------------------- */

static const struct order_case apk_cases[] = {
    {"1.0", "1.1", -1, "numbers compare as numbers"},
    {"1.2", "1.10", -1, "numbers compare as numbers, not bytes"},
    {"2", "10", -1, "the first number compares as a number"},
    {"1.0", "1.0", 0, "identical versions are equal"},
    {"1.0", "1.0.0", -1, "a further number is newer than the end"},
    {"006", "1.0.0", 1, "the first number ignores leading zeros"},
    {"06", "6", 0, "the first number ignores leading zeros"},
    {"1.01", "1.1", -1, "a later number with a leading zero compares as bytes"},
    {"1.010", "1.02", -1,
     "a later number with a leading zero compares as bytes"},
    {"1.0", "1.00", -1, "as bytes, a shorter prefix sorts first"},
    {"1.2.3", "1.2.03", 1, "bytes when either side has a leading zero"},
    {"1.0a", "1.0", 1, "a letter is newer than the end"},
    {"1.0a", "1.0b", -1, "letters compare by their byte"},
    {"1.0z", "1.0.1", -1, "a further number is newer than a letter"},
    {"1.0a", "1.0_p1", 1,
     "a letter comes before a suffix in the grammar, so it is newer"},
    {"1.0_alpha", "1.0_beta", -1, "_alpha < _beta"},
    {"1.0_beta", "1.0_pre", -1, "_beta < _pre"},
    {"1.0_pre", "1.0_rc", -1, "_pre < _rc"},
    {"1.0_rc", "1.0", -1, "_rc < no suffix"},
    {"1.0", "1.0_cvs", -1, "no suffix < _cvs"},
    {"1.0_cvs", "1.0_svn", -1, "_cvs < _svn"},
    {"1.0_svn", "1.0_git", -1, "_svn < _git"},
    {"1.0_git", "1.0_hg", -1, "_git < _hg"},
    {"1.0_hg", "1.0_p", -1, "_hg < _p"},
    {"1.0_alpha1", "1.0_alpha2", -1, "suffix numbers compare as numbers"},
    {"1.0_alpha9", "1.0_alpha10", -1, "suffix numbers compare as numbers"},
    {"1.0_alpha", "1.0_alpha1", -1, "a suffix number is newer than none"},
    {"1.0_rc1", "1.0", -1, "a pre-release suffix is older than the end"},
    {"1.0_p1", "1.0", 1, "a post-release suffix is newer than the end"},
    {"1.0_beta_pre", "1.0_beta", -1,
     "a second pre-release suffix is older than the end"},
    {"1.0_beta_p", "1.0_beta", 1,
     "a second post-release suffix is newer than the end"},
    {"1.0_rc1", "1.0.1", -1, "a pre-release suffix is older than a number"},
    {"1.0_p1", "1.0.1", -1, "a further number is newer than a suffix"},
    {"1.2.4_git20230717-r4", "1.2.4-r5", 1,
     "a post-release suffix is newer than any revision without it"},
    {"1.2.4_pre1-r0", "1.2.4-r0", -1,
     "a pre-release suffix is older than the release"},
    {"1.0-r1", "1.0-r2", -1, "revisions compare as numbers"},
    {"1.0-r9", "1.0-r10", -1, "revisions compare as numbers"},
    {"1.0", "1.0-r0", -1, "a revision is newer than none"},
    {"1.0-r5", "1.0.1", -1, "the version decides before the revision"},
    {"1.0~abc", "1.0", 1, "a commit hash is newer than the end"},
    {"1.0~abc", "1.0~abd", -1, "commit hashes compare as bytes"},
    {"1.0~ab", "1.0~abc", -1, "as bytes, a shorter prefix sorts first"},
    {"1.0~1234-r1", "1.0~1234-r2", -1, "after equal hashes, the revision"},
    {"1.0~abc", "1.0-r1", 1,
     "a commit hash comes before the revision in the grammar"},
    {"1.1.1d-r2", "1.1.1d-r2", 0, "a real openssl version equals itself"},
    {"1.1.1d-r2", "1.1.1d-r3", -1, "real openssl revisions"},
    {"1.1.1d-r3", "1.1.1e-r0", -1, "the letter decides before the revision"},
    {"1.1.1k-r0", "1.1.1d-r10", 1, "the letter decides before the revision"},
    {"1.1.22-r3", "1.1.22-r4", -1, "real musl revisions"},
    {"1.35.0-r17", "1.35.0-r5", 1, "real busybox revisions are numbers"},
    {"20220614-r0", "20211016-r0", 1, "date versions compare as numbers"},
    {"2.9.11_pre20061021-r2", "2.9.11_pre20051101-r3", 1,
     "the suffix number decides before the revision"},
    {"1.0bc", "1.0", 1,
     "invalid: the letter b is newer than the end before 'c' is read"},
    {"1.0-foo", "1.0", -1, "invalid: a bad character ranks below the end"},
    {"", "0", -1, "invalid: no first number ranks below any version"},
    {"", "", 0, "invalid: both fail at the same token, so they are equal"},
    {"1.0_foo", "1.0_bar", 0,
     "invalid: both fail at the same token, so they are equal"},
    {"23_foo", "4_beta", 1,
     "invalid: the first number decides before the bad suffix is read"},
};

static void apk_orders_documented_cases(void **state)
{
    (void)state;
    order_cases_check(VERSION_SCHEME_APK, apk_cases, COUNT(apk_cases));
}

static const struct valid_case apk_valid_cases[] = {
    {"1", 1, "one number"},
    {"0", 1, "zero is a number"},
    {"006", 1, "leading zeros are digits"},
    {"1.2.3.4.5", 1, "any count of .numbers"},
    {"1.0a", 1, "one letter after the numbers"},
    {"1.0_alpha", 1, "a suffix without a number"},
    {"1.0_alpha1", 1, "a suffix with a number"},
    {"1.0_alpha_beta2", 1, "several suffixes"},
    {"1.0_p1_rc2", 1, "a suffix after a suffix number"},
    {"1.0~abc", 1, "a lowercase hex commit hash"},
    {"1.0~0123456789abcdef-r1", 1, "a commit hash, then a revision"},
    {"1.0-r0", 1, "a revision"},
    {"1.0a_rc1~ff-r99", 1, "every part of the grammar in order"},
    {"1.2.4_git20230717-r4", 1, "a real musl version"},
    {"", 0, "no first number"},
    {"a", 0, "no first number"},
    {"v1.0", 0, "no first number"},
    {".1", 0, "no first number"},
    {"1.", 0, "'.' must be followed by a number"},
    {"1..0", 0, "'.' must be followed by a number"},
    {"1.0bc", 0, "only one letter"},
    {"1.0a1", 0, "no number after the letter"},
    {"1.0a.1", 0, "no .number after the letter"},
    {"1.0A", 0, "the letter must be lowercase"},
    {"1_0", 0, "'_' must be followed by a known suffix"},
    {"1.0_", 0, "'_' must be followed by a known suffix"},
    {"1.0_foo", 0, "'_' must be followed by a known suffix"},
    {"1.0_Alpha", 0, "suffixes are lowercase"},
    {"1.0_alpha.1", 0, "no .number after a suffix"},
    {"1.0~", 0, "'~' must be followed by hex digits"},
    {"1.0~xyz", 0, "'~' must be followed by hex digits"},
    {"1.0~ABC", 0, "hex digits are lowercase"},
    {"1.0~abc~def", 0, "only one commit hash"},
    {"1.0-r", 0, "-r must be followed by a number"},
    {"1.0-1", 0, "'-' must be followed by r"},
    {"1.0-r1a", 0, "nothing may follow the revision"},
    {"1.0-r1-r2", 0, "only one revision"},
    {"1.0-r1~abc", 0, "the commit hash comes before the revision"},
    {"1.0-r1_p1", 0, "suffixes come before the revision"},
    {"1.0 ", 0, "no blanks"},
    {" 1.0", 0, "no blanks"},
    {"1.0+1", 0, "'+' is not in the grammar"},
    {"1:1.0", 0, "apk has no epochs"},
};

static void apk_validates_documented_cases(void **state)
{
    (void)state;
    valid_cases_check(VERSION_SCHEME_APK, apk_valid_cases,
                      COUNT(apk_valid_cases));
}

/* ---- rpm ----------------------------------------------------------- */

static const struct order_case rpm_cases[] = {
    {"1.0", "1.1", -1, "numeric segments compare as numbers"},
    {"1.9", "1.10", -1, "numeric segments compare as numbers, not bytes"},
    {"1.01", "1.1", 0, "leading zeros do not count"},
    {"1.0", "1.0.0", -1, "a further segment is newer"},
    {"1a", "1b", -1, "alphabetic segments compare as bytes"},
    {"1.0a", "1.0.1", -1, "a numeric segment is newer than an alphabetic"},
    {"a", "1", -1, "a numeric segment is newer than an alphabetic"},
    {"1..0", "1.0", 0, "separators only separate: empty segments vanish"},
    {"1.0_1", "1.0.1", 0, "separators only separate: any one will do"},
    {"1.0a", "1.0.a", 0, "separators only separate"},
    {"1.0~rc1", "1.0", -1, "'~' sorts before the end of the string"},
    {"1.0~", "1.0", -1, "'~' sorts before the end of the string"},
    {"1.0~rc1", "1.0~rc2", -1, "after equal '~' the rest decides"},
    {"1.0^git1", "1.0", 1, "'^' sorts after the end of the string"},
    {"1.0^git1", "1.0.1", -1, "'^' sorts before any further segment"},
    {"1.0^", "1.0~", 1, "'^' sorts after '~'"},
    {"1.0^a", "1.0a", -1, "'^' sorts before a segment"},
    {"99999999999999999999", "99999999999999999998", 1,
     "numbers of any length compare as numbers"},
    {"1:1.0", "2.0", 1, "the epoch decides first"},
    {"0:1.0", "1.0", 0, "a missing epoch is 0"},
    {":1.0", "1.0", 0, "an empty epoch is 0"},
    {"1.0", "1.0-1", -1, "a version without release is older"},
    {"1.0-", "1.0", 1, "an empty release is still a release"},
    {"1.0-", "1.0-0", -1, "an empty release is older than any other"},
    {"1.0-1", "1.0-2", -1, "releases compare as versions do"},
    {"1.0-1.el8", "1.0-1.el8_8", -1, "real RHEL releases"},
    {"1.0~rc1-1", "1.0-1", -1, "the version decides before the release"},
    {"1.0--1", "1.0-1", 0, "the last hyphen starts the release"},
    {"a:1.0", "1.0", -1, "a non-numeric epoch is part of the version"},
};

static void rpm_orders_documented_cases(void **state)
{
    (void)state;
    order_cases_check(VERSION_SCHEME_RPM, rpm_cases, COUNT(rpm_cases));
}

static const struct valid_case rpm_valid_cases[] = {
    {"1.0", 1, "a version alone"},
    {"1:1.0-1", 1, "epoch, version and release"},
    {"0:2.32.1-42.el8_8", 1, "a real RHEL EVR"},
    {"1.0~rc1^git2-1", 1, "'~' and '^' are allowed"},
    {"1.0+x_y-1", 1, "'+' and '_' are allowed"},
    {"", 0, "empty"},
    {":1.0", 0, "empty epoch"},
    {"1:", 0, "empty version"},
    {"1.0-", 0, "empty release"},
    {"-1", 0, "empty version"},
    {"1.0-1-2", 0, "a version may not contain '-'"},
    {"a:1.0", 0, "':' only ends a numeric epoch"},
    {"1..0", 0, "rpmbuild rejects \"..\""},
    {"1.0 1", 0, "no blanks"},
    {"1.0\xc3\xa9", 0, "ASCII only"},
};

static void rpm_validates_documented_cases(void **state)
{
    (void)state;
    valid_cases_check(VERSION_SCHEME_RPM, rpm_valid_cases,
                      COUNT(rpm_valid_cases));
}

/* ---- differential tests -------------------------------------------- */

static void data_dir(char *out, size_t size)
{
    const char *build = getenv("IMGASSURE_BUILD");

    if (build == NULL || build[0] == '\0')
        build = "build";
    snprintf(out, size, "%s/version-data", build);
}

/* A tests/version script, run at most once per test program because the
 * dpkg one takes seconds and feeds two tests. */
struct script {
    const char *name;
    bool ran;
    int status;
};

static struct script dpkg_script = {.name = "dpkg-differential.sh"};
static struct script rpm_script = {.name = "rpm-differential.sh"};

/* Runs script, which writes into dir, unless it ran already. Skips the
 * test when the script reports that it cannot run here. */
static void script_run(struct script *script, const char *dir)
{
    char command[4096];

    snprintf(command, sizeof(command), "tests/version/%s '%s'", script->name,
             dir);
    if (!script->ran) {
        script->status = system(command);
        script->ran = true;
    }

    int status = script->status;
    if (status == -1)
        fail_msg("cannot run %s", command);
    if (WIFEXITED(status) && WEXITSTATUS(status) == SCRIPT_SKIPPED)
        skip();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s failed with status %d", command, status);
}

/* Splits a TSV line in place into fields and returns their count. */
static size_t fields_split(char *line, char **fields, size_t max_fields)
{
    size_t count = 0;

    line[strcspn(line, "\n")] = '\0';
    fields[count++] = line;
    for (char *c = line; *c != '\0' && count < max_fields; c++) {
        if (*c == '\t') {
            *c = '\0';
            fields[count++] = c + 1;
        }
    }
    return count;
}

/* Compares every "A <tab> B <tab> order" line of path with
 * version_compare(), in both directions. Returns the count of pairs. */
static size_t pairs_check(enum version_scheme scheme, const char *path)
{
    FILE *file = fopen(path, "r");
    char *line = NULL;
    size_t capacity = 0;
    size_t pairs = 0;
    size_t disagreements = 0;

    if (file == NULL)
        fail_msg("cannot open %s", path);
    while (getline(&line, &capacity, file) > 0) {
        char *fields[3];
        if (fields_split(line, fields, 3) != 3)
            fail_msg("%s: malformed line %zu", path, pairs + 1);
        if (strcmp(fields[2], "-1") != 0 && strcmp(fields[2], "0") != 0 &&
            strcmp(fields[2], "1") != 0)
            fail_msg("%s: the reference rejected \"%s\" vs \"%s\": %s", path,
                     fields[0], fields[1], fields[2]);

        int expected = atoi(fields[2]);
        int forward = sign(version_compare(scheme, fields[0], fields[1]));
        int backward = sign(version_compare(scheme, fields[1], fields[0]));
        pairs++;
        if (forward == expected && backward == -expected)
            continue;
        if (++disagreements <= 20)
            print_message("%s: \"%s\" vs \"%s\": reference %d, ours %d "
                          "(reverse %d)\n",
                          scheme_name(scheme), fields[0], fields[1], expected,
                          forward, backward);
    }
    free(line);
    fclose(file);

    print_message("%s: %zu pairs, %zu disagreements\n", scheme_name(scheme),
                  pairs, disagreements);
    assert_int_equal(disagreements, 0);
    return pairs;
}

static void dpkg_matches_dpkg_on_apt_lists(void **state)
{
    char dir[2048];
    char path[4096];

    (void)state;
    data_dir(dir, sizeof(dir));
    script_run(&dpkg_script, dir);

    snprintf(path, sizeof(path), "%s/dpkg-pairs.tsv", dir);
    assert_true(pairs_check(VERSION_SCHEME_DPKG, path) >= MIN_DPKG_PAIRS);
}

/* dpkg-differential.sh also records dpkg's verdict on each string of
 * tests/version/dpkg-validity.txt: only "valid" is a valid version. */
static void dpkg_validity_matches_dpkg(void **state)
{
    char dir[2048];
    char path[4096];
    char *line = NULL;
    size_t capacity = 0;
    size_t strings = 0;
    size_t disagreements = 0;

    (void)state;
    data_dir(dir, sizeof(dir));
    script_run(&dpkg_script, dir);
    snprintf(path, sizeof(path), "%s/dpkg-validity.tsv", dir);

    FILE *file = fopen(path, "r");
    if (file == NULL)
        fail_msg("cannot open %s", path);
    while (getline(&line, &capacity, file) > 0) {
        char *fields[2];
        if (fields_split(line, fields, 2) != 2)
            fail_msg("%s: malformed line %zu", path, strings + 1);
        int expected = strcmp(fields[1], "valid") == 0;
        strings++;
        if (version_valid(VERSION_SCHEME_DPKG, fields[0]) == expected)
            continue;
        disagreements++;
        print_message("dpkg: \"%s\": dpkg says %s\n", fields[0], fields[1]);
    }
    free(line);
    fclose(file);

    assert_true(strings > 0);
    assert_int_equal(disagreements, 0);
}

static void rpm_matches_rpm_on_fixture_versions(void **state)
{
    char dir[2048];
    char path[4096];

    (void)state;
    data_dir(dir, sizeof(dir));
    script_run(&rpm_script, dir);

    snprintf(path, sizeof(path), "%s/rpm-pairs.tsv", dir);
    assert_true(pairs_check(VERSION_SCHEME_RPM, path) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dpkg_orders_documented_cases),
        cmocka_unit_test(dpkg_validates_documented_cases),
        cmocka_unit_test(dpkg_matches_dpkg_on_apt_lists),
        cmocka_unit_test(dpkg_validity_matches_dpkg),
        cmocka_unit_test(apk_orders_documented_cases),
        cmocka_unit_test(apk_validates_documented_cases),
        cmocka_unit_test(rpm_orders_documented_cases),
        cmocka_unit_test(rpm_validates_documented_cases),
        cmocka_unit_test(rpm_matches_rpm_on_fixture_versions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
