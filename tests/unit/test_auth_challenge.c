#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_challenge.h"

static struct auth_challenge parse_ok(const char *header)
{
    struct auth_challenge challenge;
    char errbuf[256] = "";

    if (auth_challenge_parse(header, &challenge, errbuf, sizeof(errbuf)) != 0) {
        fail_msg("\"%s\" was rejected: %s", header, errbuf);
    }
    return challenge;
}

static void expect_rejected(const char *header, const char *expected_error)
{
    struct auth_challenge challenge;
    char errbuf[256] = "";

    if (auth_challenge_parse(header, &challenge, errbuf, sizeof(errbuf)) == 0) {
        fail_msg("\"%s\" was accepted", header ? header : "(null)");
    }
    if (strstr(errbuf, expected_error) == NULL) {
        fail_msg("\"%s\": \"%s\" does not mention \"%s\"",
                 header ? header : "(null)", errbuf, expected_error);
    }
}

static void parses_docker_hub_bearer_challenge(void **state)
{
    struct auth_challenge challenge =
        parse_ok("Bearer realm=\"https://auth.docker.io/token\","
                 "service=\"registry.docker.io\","
                 "scope=\"repository:library/alpine:pull\"");

    (void)state;
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "https://auth.docker.io/token");
    assert_string_equal(challenge.service, "registry.docker.io");
    assert_string_equal(challenge.scope, "repository:library/alpine:pull");
    assert_string_equal(challenge.error, "");
}

static void parses_basic_challenge(void **state)
{
    struct auth_challenge challenge =
        parse_ok("Basic realm=\"Registry Realm\"");

    (void)state;
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BASIC);
    assert_string_equal(challenge.realm, "Registry Realm");

    challenge = parse_ok("Basic");
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BASIC);
    assert_string_equal(challenge.realm, "");
}

static void ignores_case_of_names(void **state)
{
    struct auth_challenge challenge =
        parse_ok("bEARER REALM=https://t.example/token,Service=svc");

    (void)state;
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "https://t.example/token");
    assert_string_equal(challenge.service, "svc");
}

static void prefers_bearer_over_basic(void **state)
{
    struct auth_challenge challenge =
        parse_ok("Basic realm=\"basic\", Bearer realm=\"https://t/token\","
                 "service=s");

    (void)state;
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "https://t/token");
    assert_string_equal(challenge.service, "s");
}

static void reads_bearer_error_code(void **state)
{
    struct auth_challenge challenge =
        parse_ok("Bearer realm=\"https://t/token\",service=\"s\","
                 "scope=\"repository:a:pull\",error=\"insufficient_scope\"");

    (void)state;
    assert_string_equal(challenge.error, "insufficient_scope");
    assert_string_equal(challenge.scope, "repository:a:pull");
}

static void unescapes_quoted_strings(void **state)
{
    struct auth_challenge challenge =
        parse_ok("Bearer realm=\"https://t/\\\"q\\\"/token\\\\x\"");

    (void)state;
    assert_string_equal(challenge.realm, "https://t/\"q\"/token\\x");
}

static void accepts_spaces_around_equals_and_commas(void **state)
{
    struct auth_challenge challenge =
        parse_ok("  Bearer  realm = \"r\" ,\tservice =\"s\" , , ");

    (void)state;
    assert_string_equal(challenge.realm, "r");
    assert_string_equal(challenge.service, "s");
}

static void skips_other_schemes(void **state)
{
    struct auth_challenge challenge =
        parse_ok("Negotiate abc==, Basic realm=\"r\"");

    (void)state;
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BASIC);
    assert_string_equal(challenge.realm, "r");

    challenge = parse_ok("Negotiate, Digest realm=\"d\", nonce=\"n\", "
                         "Bearer realm=\"b\"");
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "b");
}

static void keeps_first_challenge_of_a_scheme(void **state)
{
    struct auth_challenge challenge =
        parse_ok("Bearer realm=\"first\", Bearer realm=\"second\"");

    (void)state;
    assert_string_equal(challenge.realm, "first");
}

static void rejects_malformed_challenges(void **state)
{
    (void)state;
    expect_rejected(NULL, "missing");
    expect_rejected("", "missing");
    expect_rejected("Digest realm=\"x\", nonce=\"y\"",
                    "neither Basic nor Bearer");
    expect_rejected("Bearer service=\"s\"", "has no realm");
    expect_rejected("Bearer realm=\"unterminated",
                    "unterminated quoted string");
    expect_rejected("Bearer realm=\"a\x01b\"", "control character");
    expect_rejected("Bearer realm=\"x\" service=\"y\"", "expected ','");
    expect_rejected("Bearer realm=", "missing parameter value");
    expect_rejected("=realm", "expected an authentication scheme");
    expect_rejected("Bearer realm=\"x\", \"y\"", "expected an authentication");
}

static void caps_header_length(void **state)
{
    char header[AUTH_CHALLENGE_HEADER_MAX + 2];
    const char *prefix = "Basic realm=\"";
    struct auth_challenge challenge;
    char errbuf[256];

    (void)state;
    memset(header, ' ', sizeof(header) - 1);
    header[sizeof(header) - 1] = '\0';
    memcpy(header, prefix, strlen(prefix));
    header[strlen(prefix) + 10] = '"';
    assert_int_equal(
        auth_challenge_parse(header, &challenge, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "longer than 4096"));

    header[AUTH_CHALLENGE_HEADER_MAX] = '\0';
    assert_int_equal(
        auth_challenge_parse(header, &challenge, errbuf, sizeof(errbuf)), 0);
}

static void caps_realm_length(void **state)
{
    char header[AUTH_CHALLENGE_REALM_MAX + 64];
    char realm[AUTH_CHALLENGE_REALM_MAX + 2];
    struct auth_challenge challenge;
    char errbuf[256];

    (void)state;
    memset(realm, 'r', AUTH_CHALLENGE_REALM_MAX);
    realm[AUTH_CHALLENGE_REALM_MAX] = '\0';
    snprintf(header, sizeof(header), "Bearer realm=\"%s\"", realm);
    assert_int_equal(
        auth_challenge_parse(header, &challenge, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(strlen(challenge.realm), AUTH_CHALLENGE_REALM_MAX);

    realm[AUTH_CHALLENGE_REALM_MAX] = 'r';
    realm[AUTH_CHALLENGE_REALM_MAX + 1] = '\0';
    snprintf(header, sizeof(header), "Bearer realm=%s", realm);
    assert_int_equal(
        auth_challenge_parse(header, &challenge, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "parameter realm is longer than 1024"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_docker_hub_bearer_challenge),
        cmocka_unit_test(parses_basic_challenge),
        cmocka_unit_test(ignores_case_of_names),
        cmocka_unit_test(prefers_bearer_over_basic),
        cmocka_unit_test(reads_bearer_error_code),
        cmocka_unit_test(unescapes_quoted_strings),
        cmocka_unit_test(accepts_spaces_around_equals_and_commas),
        cmocka_unit_test(skips_other_schemes),
        cmocka_unit_test(keeps_first_challenge_of_a_scheme),
        cmocka_unit_test(rejects_malformed_challenges),
        cmocka_unit_test(caps_header_length),
        cmocka_unit_test(caps_realm_length),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
