#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "image_ref.h"

#define SHA256_A                                                               \
    "sha256:"                                                                  \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA512_A                                                               \
    "sha512:"                                                                  \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"         \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct valid_case {
    const char *text;
    const char *registry;
    const char *repository;
    const char *tag;
    const char *digest;
};

static const struct valid_case valid_cases[] = {
    {"alpine", "docker.io", "library/alpine", "", ""},
    {"alpine:3.19", "docker.io", "library/alpine", "3.19", ""},
    {"library/alpine", "docker.io", "library/alpine", "", ""},
    {"docker.io/alpine", "docker.io", "library/alpine", "", ""},
    {"index.docker.io/library/alpine:latest", "docker.io", "library/alpine",
     "latest", ""},
    {"myorg/app", "docker.io", "myorg/app", "", ""},
    {"localhost/app", "localhost", "app", "", ""},
    {"localhost:5000/team/app:v1", "localhost:5000", "team/app", "v1", ""},
    {"registry.example.com/a/b/c:tag@" SHA256_A, "registry.example.com",
     "a/b/c", "tag", SHA256_A},
    {"quay.io/coreos/etcd@" SHA256_A, "quay.io", "coreos/etcd", "", SHA256_A},
    {"ghcr.io/org/app_name__x-y.z", "ghcr.io", "org/app_name__x-y.z", "", ""},
    {"example.com:443/a---b", "example.com:443", "a---b", "", ""},
    {"[::1]:5000/app:1", "[::1]:5000", "app", "1", ""},
    {"Registry.Example.COM/app", "Registry.Example.COM", "app", "", ""},
    {"my-registry.local:5000/app", "my-registry.local:5000", "app", "", ""},
    /* docker reads a bare "host:port" as repository "host" with a tag. */
    {"localhost:5000", "docker.io", "library/localhost", "5000", ""},
    {"app:Tag_1.0-rc", "docker.io", "library/app", "Tag_1.0-rc", ""},
    {"app@" SHA512_A, "docker.io", "library/app", "", SHA512_A},
    {"app:_underscore_first", "docker.io", "library/app", "_underscore_first",
     ""},
};

struct invalid_case {
    const char *text;
    const char *expected_error; /* a substring of the message */
};

static const struct invalid_case invalid_cases[] = {
    {"", "empty"},
    {"UPPER/app", "lowercase"},
    {"example.com/App", "lowercase"},
    {"app:", "empty tag"},
    {"app@", "empty digest"},
    {"app@sha256:0123", "invalid digest"},
    {"app@md5:0123456789abcdef0123456789abcdef", "invalid digest"},
    {"app@sha256:"
     "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
     "invalid digest"},
    {"app@" SHA256_A "0", "invalid digest"},
    {"app:-bad", "invalid tag"},
    {"app:.bad", "invalid tag"},
    {"a//b", "invalid repository"},
    {"/app", "invalid repository"},
    {"app/", "invalid repository"},
    {"a..b", "invalid repository"},
    {"a___b", "invalid repository"},
    {"a-_b", "invalid repository"},
    {"-app", "invalid repository"},
    {"app-", "invalid repository"},
    {"host:99999/app", "invalid port"},
    {"host:abc/app", "invalid port"},
    {"host:/app", "invalid port"},
    {"-bad.com/app", "invalid registry"},
    {"bad-.com/app", "invalid registry"},
    {"bad..com/app", "invalid registry"},
    {"[::1/app", "invalid registry"},
    {"[]:5000/app", "invalid registry"},
    {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
     "image ID"},
    {"app name", "invalid character"},
    {"app\n", "invalid character"},
    {"app@sha256:x@y", "invalid digest"},
};

static void check_valid(const struct valid_case *c)
{
    struct image_ref ref;
    char errbuf[256] = "";

    if (image_ref_parse(c->text, &ref, errbuf, sizeof(errbuf)) != 0) {
        fail_msg("\"%s\" was rejected: %s", c->text, errbuf);
    }
    if (strcmp(ref.registry, c->registry) != 0) {
        fail_msg("\"%s\": registry \"%s\", expected \"%s\"", c->text,
                 ref.registry, c->registry);
    }
    if (strcmp(ref.repository, c->repository) != 0) {
        fail_msg("\"%s\": repository \"%s\", expected \"%s\"", c->text,
                 ref.repository, c->repository);
    }
    if (strcmp(ref.tag, c->tag) != 0) {
        fail_msg("\"%s\": tag \"%s\", expected \"%s\"", c->text, ref.tag,
                 c->tag);
    }
    if (strcmp(ref.digest, c->digest) != 0) {
        fail_msg("\"%s\": digest \"%s\", expected \"%s\"", c->text, ref.digest,
                 c->digest);
    }
}

static void parses_valid_references(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        check_valid(&valid_cases[i]);
    }
}

static void rejects_invalid_references(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]);
         i++) {
        const struct invalid_case *c = &invalid_cases[i];
        struct image_ref ref;
        char errbuf[256] = "";

        if (image_ref_parse(c->text, &ref, errbuf, sizeof(errbuf)) == 0) {
            fail_msg("\"%s\" was accepted as %s/%s", c->text, ref.registry,
                     ref.repository);
        }
        if (strstr(errbuf, c->expected_error) == NULL) {
            fail_msg("\"%s\": error \"%s\" does not mention \"%s\"", c->text,
                     errbuf, c->expected_error);
        }
        assert_string_equal(ref.repository, "");
    }
}

static void rejects_null_reference(void **state)
{
    struct image_ref ref;
    char errbuf[128] = "";

    (void)state;
    assert_int_equal(image_ref_parse(NULL, &ref, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "missing"));
}

static void fill(char *out, char c, size_t count)
{
    memset(out, c, count);
    out[count] = '\0';
}

static void caps_tag_at_128_characters(void **state)
{
    char tag[IMAGE_REF_TAG_MAX + 2];
    char text[IMAGE_REF_TAG_MAX + 16];
    struct image_ref ref;
    char errbuf[256];

    (void)state;
    fill(tag, 't', IMAGE_REF_TAG_MAX);
    snprintf(text, sizeof(text), "app:%s", tag);
    assert_int_equal(image_ref_parse(text, &ref, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(strlen(ref.tag), IMAGE_REF_TAG_MAX);

    fill(tag, 't', IMAGE_REF_TAG_MAX + 1);
    snprintf(text, sizeof(text), "app:%s", tag);
    assert_int_equal(image_ref_parse(text, &ref, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "invalid tag"));
}

static void caps_name_at_255_characters(void **state)
{
    /* "example.com/" is 12 characters, so 243 more reach the cap. */
    char repository[256];
    char text[300];
    struct image_ref ref;
    char errbuf[256];

    (void)state;
    fill(repository, 'r', 243);
    snprintf(text, sizeof(text), "example.com/%s", repository);
    assert_int_equal(image_ref_parse(text, &ref, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(strlen(ref.repository), 243);

    fill(repository, 'r', 244);
    snprintf(text, sizeof(text), "example.com/%s", repository);
    assert_int_equal(image_ref_parse(text, &ref, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "longer than 255"));
}

static void counts_library_prefix_in_name_cap(void **state)
{
    /* "docker.io/library/" is 18 characters, so 237 more reach the cap. */
    char text[300];
    struct image_ref ref;
    char errbuf[256];

    (void)state;
    fill(text, 'a', 237);
    assert_int_equal(image_ref_parse(text, &ref, errbuf, sizeof(errbuf)), 0);
    fill(text, 'a', 238);
    assert_int_equal(image_ref_parse(text, &ref, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "longer than 255"));
}

static void caps_reference_text_length(void **state)
{
    char text[IMAGE_REF_TEXT_MAX + 2];
    struct image_ref ref;
    char errbuf[256];

    (void)state;
    fill(text, 'a', IMAGE_REF_TEXT_MAX + 1);
    assert_int_equal(image_ref_parse(text, &ref, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "image reference is longer than"));
}

static void caps_registry_length(void **state)
{
    char registry[IMAGE_REF_REGISTRY_MAX + 2];
    struct image_ref ref;
    char errbuf[256];

    (void)state;
    fill(registry, 'h', IMAGE_REF_REGISTRY_MAX + 1);
    assert_int_equal(image_ref_build(&ref, registry, "app", NULL, NULL, errbuf,
                                     sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "registry name is longer than"));
}

static void formats_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        struct image_ref first;
        struct image_ref second;
        char text[IMAGE_REF_TEXT_MAX + 1];
        char errbuf[256] = "";

        assert_int_equal(image_ref_parse(valid_cases[i].text, &first, errbuf,
                                         sizeof(errbuf)),
                         0);
        assert_int_equal(image_ref_format(&first, text, sizeof(text)), 0);
        if (image_ref_parse(text, &second, errbuf, sizeof(errbuf)) != 0) {
            fail_msg("formatted \"%s\" does not parse: %s", text, errbuf);
        }
        assert_memory_equal(&first, &second, sizeof(first));
    }
}

static void formats_full_reference(void **state)
{
    struct image_ref ref;
    char text[IMAGE_REF_TEXT_MAX + 1];
    char small[10];
    char errbuf[256];

    (void)state;
    assert_int_equal(
        image_ref_parse("alpine:3@" SHA256_A, &ref, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(image_ref_format(&ref, text, sizeof(text)), 0);
    assert_string_equal(text, "docker.io/library/alpine:3@" SHA256_A);
    assert_int_equal(image_ref_format(&ref, small, sizeof(small)), -1);
}

static void builds_reference_from_event_parts(void **state)
{
    struct image_ref ref;
    char errbuf[256] = "";

    (void)state;
    assert_int_equal(image_ref_build(&ref, "docker.io", "alpine", "3", NULL,
                                     errbuf, sizeof(errbuf)),
                     0);
    assert_string_equal(ref.registry, "docker.io");
    assert_string_equal(ref.repository, "library/alpine");
    assert_string_equal(ref.tag, "3");
    assert_string_equal(ref.digest, "");

    assert_int_equal(image_ref_build(&ref, NULL, "team/app", "", SHA256_A,
                                     errbuf, sizeof(errbuf)),
                     0);
    assert_string_equal(ref.registry, "docker.io");
    assert_string_equal(ref.repository, "team/app");
    assert_string_equal(ref.digest, SHA256_A);

    assert_int_equal(image_ref_build(&ref, "registry.local:5000", "app", NULL,
                                     NULL, errbuf, sizeof(errbuf)),
                     0);
    assert_string_equal(ref.repository, "app");
}

static void build_rejects_invalid_parts(void **state)
{
    struct image_ref ref;
    char errbuf[256] = "";

    (void)state;
    assert_int_equal(image_ref_build(&ref, "docker.io", "Team/App", NULL, NULL,
                                     errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "lowercase"));
    assert_int_equal(image_ref_build(&ref, "bad host", "app", NULL, NULL,
                                     errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "invalid registry"));
    assert_int_equal(image_ref_build(&ref, "example.com", "app", "bad tag",
                                     NULL, errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "invalid tag"));
    assert_int_equal(image_ref_build(&ref, "example.com", "app", NULL,
                                     "sha256:abc", errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "invalid digest"));
    assert_int_equal(image_ref_build(&ref, "example.com", NULL, NULL, NULL,
                                     errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "missing"));
    assert_int_equal(image_ref_build(&ref, "example.com/x", "app", NULL, NULL,
                                     errbuf, sizeof(errbuf)),
                     -1);
    assert_string_equal(ref.registry, "");
}

static void picks_digest_then_tag_then_latest(void **state)
{
    struct image_ref ref;
    char errbuf[256];

    (void)state;
    assert_int_equal(
        image_ref_parse("app:1@" SHA256_A, &ref, errbuf, sizeof(errbuf)), 0);
    assert_string_equal(image_ref_get_reference(&ref), SHA256_A);
    assert_int_equal(image_ref_parse("app:1", &ref, errbuf, sizeof(errbuf)), 0);
    assert_string_equal(image_ref_get_reference(&ref), "1");
    assert_int_equal(image_ref_parse("app", &ref, errbuf, sizeof(errbuf)), 0);
    assert_string_equal(image_ref_get_reference(&ref), "latest");
}

static void validates_digests(void **state)
{
    (void)state;
    assert_int_equal(image_ref_validate_digest(SHA256_A), 0);
    assert_int_equal(image_ref_validate_digest(SHA512_A), 0);
    assert_int_equal(image_ref_validate_digest(NULL), -1);
    assert_int_equal(image_ref_validate_digest("sha256:"), -1);
    assert_int_equal(image_ref_validate_digest(SHA256_A "00"), -1);
    assert_int_equal(image_ref_validate_digest("sha384:"
                                               "0123456789abcdef"),
                     -1);
    assert_int_equal(
        image_ref_validate_digest(
            "sha256:"
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg"),
        -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_valid_references),
        cmocka_unit_test(rejects_invalid_references),
        cmocka_unit_test(rejects_null_reference),
        cmocka_unit_test(caps_tag_at_128_characters),
        cmocka_unit_test(caps_name_at_255_characters),
        cmocka_unit_test(counts_library_prefix_in_name_cap),
        cmocka_unit_test(caps_reference_text_length),
        cmocka_unit_test(caps_registry_length),
        cmocka_unit_test(formats_round_trip),
        cmocka_unit_test(formats_full_reference),
        cmocka_unit_test(builds_reference_from_event_parts),
        cmocka_unit_test(build_rejects_invalid_parts),
        cmocka_unit_test(picks_digest_then_tag_then_latest),
        cmocka_unit_test(validates_digests),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
