#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credentials.h"

#define DATA_DIR "tests/data/registry/"

static char temp_dir[64];

static int make_temp_dir(void **state)
{
    (void)state;
    snprintf(temp_dir, sizeof(temp_dir), "/tmp/test_credentials.XXXXXX");
    return mkdtemp(temp_dir) != NULL ? 0 : -1;
}

static int remove_temp_dir(void **state)
{
    char command[128];

    (void)state;
    snprintf(command, sizeof(command), "rm -rf '%s'", temp_dir);
    return system(command) == 0 ? 0 : -1;
}

/* Writes content to a file in the temp dir and returns its path in a static
 * buffer. */
static const char *write_temp(const char *name, const char *content,
                              size_t size)
{
    static char path[256];
    FILE *file;

    snprintf(path, sizeof(path), "%s/%s", temp_dir, name);
    file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(content, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
    return path;
}

static struct credentials *load(const char *path)
{
    struct credentials *credentials = NULL;
    char errbuf[256] = "";

    if (credentials_load(path, &credentials, errbuf, sizeof(errbuf)) != 0) {
        fail_msg("%s was rejected: %s", path ? path : "(no path)", errbuf);
    }
    assert_non_null(credentials);
    return credentials;
}

static void expect_user(const struct credentials *credentials,
                        const char *registry, const char *repository,
                        const char *username, const char *password)
{
    const struct credential *found =
        credentials_find(credentials, registry, repository);

    if (found == NULL) {
        fail_msg("no credentials for %s %s", registry,
                 repository ? repository : "");
    }
    assert_non_null(found->username);
    if (strcmp(found->username, username) != 0) {
        fail_msg("%s %s: username %s, expected %s", registry,
                 repository ? repository : "", found->username, username);
    }
    assert_string_equal(found->password, password);
}

static void reads_base64_auth_with_colons_in_password(void **state)
{
    struct credentials *credentials = load(DATA_DIR "credentials-forms.json");

    (void)state;
    expect_user(credentials, "registry.example:5000", "app", "alice",
                "s3cret:with:colons");
    assert_null(credentials_find(credentials, "registry.example:5000", "app")
                    ->identity_token);
    credentials_free(credentials);
}

static void reads_username_and_password_members(void **state)
{
    struct credentials *credentials = load(DATA_DIR "credentials-forms.json");

    (void)state;
    expect_user(credentials, "quay.io", "other/app", "bob", "bob-password");
    credentials_free(credentials);
}

static void prefers_longest_matching_namespace(void **state)
{
    struct credentials *credentials = load(DATA_DIR "credentials-forms.json");

    (void)state;
    expect_user(credentials, "quay.io", "team/app", "team", "teampw");
    expect_user(credentials, "quay.io", "team", "team", "teampw");
    /* "team2" only shares a prefix with the namespace "team". */
    expect_user(credentials, "quay.io", "team2/app", "bob", "bob-password");
    expect_user(credentials, "quay.io", NULL, "bob", "bob-password");
    credentials_free(credentials);
}

static void maps_docker_hub_url_keys_to_docker_io(void **state)
{
    struct credentials *credentials = load(DATA_DIR "credentials-forms.json");
    const struct credential *found;

    (void)state;
    found = credentials_find(credentials, "docker.io", "library/alpine");
    assert_non_null(found);
    assert_string_equal(found->identity_token, "refresh-token-value");
    assert_string_equal(found->username,
                        "00000000-0000-0000-0000-000000000000");
    assert_string_equal(found->password, "");
    assert_ptr_equal(credentials_find(credentials, "index.docker.io", NULL),
                     found);
    assert_ptr_equal(
        credentials_find(credentials, "registry-1.docker.io", NULL), found);
    credentials_free(credentials);
}

static void ignores_path_of_url_keys(void **state)
{
    struct credentials *credentials = load(DATA_DIR "credentials-forms.json");

    (void)state;
    /* The key is "http://legacy.example.com/v1/" with unpadded base64. */
    expect_user(credentials, "legacy.example.com", "v1/app", "carol", "pw");
    expect_user(credentials, "legacy.example.com", "other", "carol", "pw");
    credentials_free(credentials);
}

static void reads_identity_token_alone(void **state)
{
    struct credentials *credentials = load(DATA_DIR "credentials-forms.json");
    const struct credential *found;

    (void)state;
    found = credentials_find(credentials, "token-only.example.com", "app");
    assert_non_null(found);
    assert_null(found->username);
    assert_null(found->password);
    assert_string_equal(found->identity_token, "only-a-token");
    credentials_free(credentials);
}

static void skips_entries_without_credentials(void **state)
{
    struct credentials *credentials = load(DATA_DIR "credentials-forms.json");

    (void)state;
    /* Seven keys, of which "ghcr.io": {} contains nothing. */
    assert_int_equal(credentials_count(credentials), 6);
    assert_null(credentials_find(credentials, "ghcr.io", "org/app"));
    assert_null(credentials_find(credentials, "unknown.example.com", "app"));
    assert_null(credentials_find(credentials, "registry.example", "app"));
    assert_null(credentials_find(credentials, NULL, "app"));
    credentials_free(credentials);
}

static void matches_hosts_case_insensitively(void **state)
{
    struct credentials *credentials = load(DATA_DIR "credentials-forms.json");

    (void)state;
    expect_user(credentials, "REGISTRY.example:5000", "app", "alice",
                "s3cret:with:colons");
    credentials_free(credentials);
}

static void prefers_plain_key_over_docker_hub_url(void **state)
{
    struct credentials *credentials =
        load(DATA_DIR "credentials-docker-hub-both-forms.json");

    (void)state;
    expect_user(credentials, "docker.io", "library/alpine", "dave", "pw");
    credentials_free(credentials);
}

static void treats_missing_file_as_anonymous(void **state)
{
    struct credentials *credentials;
    char path[256];

    (void)state;
    snprintf(path, sizeof(path), "%s/does-not-exist.json", temp_dir);
    credentials = load(path);
    assert_int_equal(credentials_count(credentials), 0);
    assert_null(credentials_find(credentials, "docker.io", "library/alpine"));
    credentials_free(credentials);

    credentials = load(NULL);
    assert_int_equal(credentials_count(credentials), 0);
    credentials_free(credentials);
}

static void accepts_file_without_auths(void **state)
{
    const char *json = "{\"credsStore\":\"desktop\"}";
    struct credentials *credentials;

    (void)state;
    credentials = load(write_temp("no-auths.json", json, strlen(json)));
    assert_int_equal(credentials_count(credentials), 0);
    credentials_free(credentials);
}

struct malformed_case {
    const char *json;
    const char *expected_error;
    const char *secret; /* must not appear in the message */
};

static const struct malformed_case malformed_cases[] = {
    {"", "not valid JSON", NULL},
    {"{\"auths\": {\"r.example\": {\"auth\": \"c2VjcmV0OnB3\" x}}}",
     "not valid JSON (error at line 1", "c2VjcmV0OnB3"},
    {"{\"auths\": {\"r.example\": {\"auth\": \"hunter2 }}}", "not valid JSON",
     "hunter2"},
    {"[]", "not a JSON object", NULL},
    {"{\"auths\": []}", "auths is not an object", NULL},
    {"{\"auths\": {\"r.example\": \"dXNlcjpwdw==\"}}",
     "auths[\"r.example\"] is not an object", "dXNlcjpwdw=="},
    {"{\"auths\": {\"r.example\": {\"auth\": 5}}}",
     "auths[\"r.example\"].auth is not a string", NULL},
    {"{\"auths\": {\"r.example\": {\"auth\": \"!!not-base64!!\"}}}",
     "auths[\"r.example\"].auth is not valid base64", "!!not-base64!!"},
    {"{\"auths\": {\"r.example\": {\"auth\": \"dXNlcg== \"}}}",
     "is not valid base64", NULL},
    {"{\"auths\": {\"r.example\": {\"auth\": \"bm9jb2xvbg==\"}}}",
     "does not decode to username:password", "nocolon"},
    {"{\"auths\": {\"r.example\": {\"auth\": \"OnB3\"}}}",
     "does not decode to username:password", NULL},
    {"{\"auths\": {\"r.example\": {\"username\": \"a:b\", \"password\": "
     "\"pw\"}}}",
     "username contains ':'", NULL},
    {"{\"auths\": {\"r.example\": {\"username\": \"u\", \"password\": 7}}}",
     "password is not a string", NULL},
    {"{\"auths\": {\"r.example\": {\"identitytoken\": true}}}",
     "identitytoken is not a string", NULL},
    {"{\"auths\": {\"/path\": {\"auth\": \"ZGF2ZTpwdw==\"}}}",
     "names no registry", NULL},
    {"{\"auths\": {\"https://\": {\"auth\": \"ZGF2ZTpwdw==\"}}}",
     "names no registry", NULL},
};

static void rejects_malformed_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(malformed_cases) / sizeof(malformed_cases[0]);
         i++) {
        const struct malformed_case *c = &malformed_cases[i];
        struct credentials *credentials = NULL;
        char errbuf[512] = "";
        const char *path =
            write_temp("malformed.json", c->json, strlen(c->json));

        if (credentials_load(path, &credentials, errbuf, sizeof(errbuf)) == 0) {
            credentials_free(credentials);
            fail_msg("case %zu was accepted: %s", i, c->json);
        }
        assert_null(credentials);
        if (strstr(errbuf, c->expected_error) == NULL) {
            fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, errbuf,
                     c->expected_error);
        }
        if (strstr(errbuf, path) == NULL) {
            fail_msg("case %zu: \"%s\" does not name the file", i, errbuf);
        }
        if (c->secret != NULL && strstr(errbuf, c->secret) != NULL) {
            fail_msg("case %zu: \"%s\" reveals a secret", i, errbuf);
        }
    }
}

static void rejects_directory(void **state)
{
    struct credentials *credentials = NULL;
    char errbuf[256] = "";

    (void)state;
    assert_int_equal(
        credentials_load(temp_dir, &credentials, errbuf, sizeof(errbuf)), -1);
    assert_non_null(strstr(errbuf, "not a regular file"));
}

/* Builds an auths object with count entries; the caller frees it. */
static char *build_many_entries(size_t count)
{
    size_t capacity = 64 * (count + 1);
    char *json = malloc(capacity);
    size_t used;

    assert_non_null(json);
    used = (size_t)snprintf(json, capacity, "{\"auths\":{");
    for (size_t i = 0; i < count; i++) {
        used += (size_t)snprintf(json + used, capacity - used,
                                 "%s\"r%zu.example\":{\"auth\":"
                                 "\"ZGF2ZTpwdw==\"}",
                                 i ? "," : "", i);
    }
    snprintf(json + used, capacity - used, "}}");
    return json;
}

static void caps_entries_at_1000(void **state)
{
    struct credentials *credentials = NULL;
    char errbuf[256] = "";
    char *json;

    (void)state;
    json = build_many_entries(CREDENTIALS_ENTRIES_MAX);
    credentials = load(write_temp("many.json", json, strlen(json)));
    assert_int_equal(credentials_count(credentials), CREDENTIALS_ENTRIES_MAX);
    expect_user(credentials, "r999.example", "app", "dave", "pw");
    credentials_free(credentials);
    free(json);

    credentials = NULL;
    json = build_many_entries(CREDENTIALS_ENTRIES_MAX + 1);
    assert_int_equal(
        credentials_load(write_temp("many.json", json, strlen(json)),
                         &credentials, errbuf, sizeof(errbuf)),
        -1);
    assert_null(credentials);
    assert_non_null(
        strstr(errbuf, "1001 entries, more than the limit of 1000"));
    free(json);
}

static void caps_file_size_at_1_mib(void **state)
{
    size_t size = CREDENTIALS_FILE_SIZE_MAX + 1;
    char *json = malloc(size);
    struct credentials *credentials = NULL;
    char errbuf[256] = "";

    (void)state;
    assert_non_null(json);
    memset(json, ' ', size);
    memcpy(json, "{}", 2);
    credentials = load(write_temp("big.json", json, size - 1));
    credentials_free(credentials);
    credentials = NULL;
    assert_int_equal(credentials_load(write_temp("big.json", json, size),
                                      &credentials, errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "at most 1048576 bytes"));
    free(json);
}

static void caps_secret_length(void **state)
{
    static char token[CREDENTIALS_SECRET_MAX + 2];
    static char json[CREDENTIALS_SECRET_MAX + 128];
    struct credentials *credentials = NULL;
    char errbuf[256] = "";

    (void)state;
    memset(token, 't', CREDENTIALS_SECRET_MAX);
    token[CREDENTIALS_SECRET_MAX] = '\0';
    snprintf(json, sizeof(json),
             "{\"auths\":{\"r.example\":{\"identitytoken\":\"%s\"}}}", token);
    credentials = load(write_temp("secret.json", json, strlen(json)));
    credentials_free(credentials);
    credentials = NULL;

    token[CREDENTIALS_SECRET_MAX] = 't';
    snprintf(json, sizeof(json),
             "{\"auths\":{\"r.example\":{\"identitytoken\":\"%s\"}}}", token);
    assert_int_equal(
        credentials_load(write_temp("secret.json", json, strlen(json)),
                         &credentials, errbuf, sizeof(errbuf)),
        -1);
    assert_non_null(strstr(errbuf, "identitytoken is longer than 16384"));
}

static void caps_key_length(void **state)
{
    char key[CREDENTIALS_KEY_MAX + 2];
    char json[CREDENTIALS_KEY_MAX + 128];
    struct credentials *credentials = NULL;
    char errbuf[256] = "";

    (void)state;
    memset(key, 'k', CREDENTIALS_KEY_MAX + 1);
    key[CREDENTIALS_KEY_MAX + 1] = '\0';
    snprintf(json, sizeof(json),
             "{\"auths\":{\"%s\":{\"auth\":\"ZGF2ZTpwdw==\"}}}", key);
    assert_int_equal(
        credentials_load(write_temp("key.json", json, strlen(json)),
                         &credentials, errbuf, sizeof(errbuf)),
        -1);
    assert_non_null(strstr(errbuf, "longer than 512 characters"));

    key[CREDENTIALS_KEY_MAX] = '\0';
    snprintf(json, sizeof(json),
             "{\"auths\":{\"%s\":{\"auth\":\"ZGF2ZTpwdw==\"}}}", key);
    credentials = load(write_temp("key.json", json, strlen(json)));
    credentials_free(credentials);
}

/* An account with a file of its own uses it, and not the shared file. */
static void account_file_wins_over_shared_file(void **state)
{
    char path[512], errbuf[256], expected[512];

    (void)state;
    write_temp("acme.json", "{}", 2);
    assert_int_equal(credentials_choose_file(temp_dir, "acme", "/shared.json",
                                             path, sizeof(path), errbuf,
                                             sizeof(errbuf)),
                     0);
    snprintf(expected, sizeof(expected), "%s/acme.json", temp_dir);
    assert_string_equal(path, expected);
}

static void account_without_file_falls_back(void **state)
{
    char path[512], errbuf[256];

    (void)state;
    assert_int_equal(credentials_choose_file(temp_dir, "globex", "/shared.json",
                                             path, sizeof(path), errbuf,
                                             sizeof(errbuf)),
                     0);
    assert_string_equal(path, "/shared.json");

    /* Without a shared file, the account pulls anonymously. */
    assert_int_equal(credentials_choose_file(temp_dir, "globex", NULL, path,
                                             sizeof(path), errbuf,
                                             sizeof(errbuf)),
                     0);
    assert_string_equal(path, "");

    assert_int_equal(credentials_choose_file(NULL, "acme", "/shared.json", path,
                                             sizeof(path), errbuf,
                                             sizeof(errbuf)),
                     0);
    assert_string_equal(path, "/shared.json");
}

static void account_not_a_file_name_is_rejected(void **state)
{
    char path[512], errbuf[256];

    (void)state;
    assert_int_equal(credentials_choose_file(temp_dir, "../acme", NULL, path,
                                             sizeof(path), errbuf,
                                             sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "cannot name a credentials file"));
    assert_int_equal(credentials_choose_file(temp_dir, "", NULL, path,
                                             sizeof(path), errbuf,
                                             sizeof(errbuf)),
                     -1);
}

/* A folder where the file should be is a mistake to report, not a reason
 * to fall back to the shared secrets. */
static void account_path_folder_is_rejected(void **state)
{
    char path[512], errbuf[256], folder[512];

    (void)state;
    snprintf(folder, sizeof(folder), "%s/initech.json", temp_dir);
    assert_int_equal(mkdir(folder, 0700), 0);
    assert_int_equal(credentials_choose_file(temp_dir, "initech",
                                             "/shared.json", path, sizeof(path),
                                             errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "not a regular file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_base64_auth_with_colons_in_password),
        cmocka_unit_test(reads_username_and_password_members),
        cmocka_unit_test(prefers_longest_matching_namespace),
        cmocka_unit_test(maps_docker_hub_url_keys_to_docker_io),
        cmocka_unit_test(ignores_path_of_url_keys),
        cmocka_unit_test(reads_identity_token_alone),
        cmocka_unit_test(skips_entries_without_credentials),
        cmocka_unit_test(matches_hosts_case_insensitively),
        cmocka_unit_test(prefers_plain_key_over_docker_hub_url),
        cmocka_unit_test(treats_missing_file_as_anonymous),
        cmocka_unit_test(accepts_file_without_auths),
        cmocka_unit_test(rejects_malformed_files),
        cmocka_unit_test(rejects_directory),
        cmocka_unit_test(caps_entries_at_1000),
        cmocka_unit_test(caps_file_size_at_1_mib),
        cmocka_unit_test(caps_secret_length),
        cmocka_unit_test(caps_key_length),
        cmocka_unit_test(account_file_wins_over_shared_file),
        cmocka_unit_test(account_without_file_falls_back),
        cmocka_unit_test(account_not_a_file_name_is_rejected),
        cmocka_unit_test(account_path_folder_is_rejected),
    };

    return cmocka_run_group_tests(tests, make_temp_dir, remove_temp_dir);
}
