#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "manifest.h"

#define DATA_DIR "tests/data/registry/"
#define DIGEST_A                                                               \
    "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B                                                               \
    "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* Reads a whole file into a malloc'd, NUL-terminated buffer, or returns
 * NULL. */
static char *read_file(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    char *data = NULL;
    long length;

    if (file == NULL) {
        return NULL;
    }
    if (fseek(file, 0, SEEK_END) == 0 && (length = ftell(file)) >= 0 &&
        fseek(file, 0, SEEK_SET) == 0) {
        data = malloc((size_t)length + 1);
        if (data != NULL &&
            fread(data, 1, (size_t)length, file) != (size_t)length) {
            free(data);
            data = NULL;
        }
        if (data != NULL) {
            data[length] = '\0';
            *size = (size_t)length;
        }
    }
    fclose(file);
    return data;
}

static struct manifest *parse_file(const char *name, const char *content_type)
{
    char path[256];
    char errbuf[256] = "";
    struct manifest *manifest = NULL;
    size_t size = 0;
    char *body;

    snprintf(path, sizeof(path), DATA_DIR "%s", name);
    body = read_file(path, &size);
    if (body == NULL) {
        fail_msg("cannot read %s (run the tests from the repository root)",
                 path);
    }
    if (manifest_parse(body, size, content_type, &manifest, errbuf,
                       sizeof(errbuf)) != 0) {
        free(body);
        fail_msg("%s was rejected: %s", name, errbuf);
    }
    free(body);
    return manifest;
}

/* Parses a file that must be rejected, and checks that the message
 * mentions expected_error. */
static void expect_file_rejected(const char *name, const char *content_type,
                                 const char *expected_error)
{
    char path[256];
    char errbuf[256] = "";
    struct manifest *manifest = NULL;
    size_t size = 0;
    char *body;

    snprintf(path, sizeof(path), DATA_DIR "%s", name);
    body = read_file(path, &size);
    assert_non_null(body);
    assert_int_equal(manifest_parse(body, size, content_type, &manifest, errbuf,
                                    sizeof(errbuf)),
                     -1);
    assert_null(manifest);
    if (strstr(errbuf, expected_error) == NULL) {
        fail_msg("%s: error \"%s\" does not mention \"%s\"", name, errbuf,
                 expected_error);
    }
    free(body);
}

static void parses_docker_manifest(void **state)
{
    struct manifest *manifest = parse_file("docker-manifest.json", NULL);
    char errbuf[256];
    int64_t total = 0;

    (void)state;
    assert_int_equal(manifest->kind, MANIFEST_KIND_MANIFEST);
    assert_string_equal(manifest->media_type, MEDIA_TYPE_DOCKER_MANIFEST);
    assert_string_equal(manifest->config.media_type, MEDIA_TYPE_DOCKER_CONFIG);
    assert_string_equal(manifest->config.digest,
                        "sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d79"
                        "7829467780db3dd741");
    assert_int_equal(manifest->config.size, 1472);
    assert_int_equal(manifest->layer_count, 2);
    assert_string_equal(manifest->layers[0].media_type,
                        "application/vnd.docker.image.rootfs.diff.tar.gzip");
    assert_int_equal(manifest->layers[0].size, 3401613);
    assert_int_equal(manifest->layers[1].size, 120);
    assert_string_equal(manifest->artifact_type, "");
    assert_int_equal(manifest_check_image(manifest, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(manifest_sum_layer_sizes(manifest, &total), 0);
    assert_int_equal(total, 3401733);
    manifest_free(manifest);
}

static void parses_docker_manifest_list(void **state)
{
    struct manifest *manifest = parse_file("docker-manifest-list.json", NULL);

    (void)state;
    assert_int_equal(manifest->kind, MANIFEST_KIND_INDEX);
    assert_string_equal(manifest->media_type, MEDIA_TYPE_DOCKER_MANIFEST_LIST);
    assert_int_equal(manifest->child_count, 4);
    assert_true(manifest->children[0].has_platform);
    assert_string_equal(manifest->children[0].platform.os, "linux");
    assert_string_equal(manifest->children[0].platform.architecture, "arm");
    assert_string_equal(manifest->children[0].platform.variant, "v7");
    assert_string_equal(manifest->children[3].platform.os, "windows");
    assert_string_equal(manifest->children[3].platform.os_version,
                        "10.0.17763.5329");
    assert_string_equal(manifest->children[3].platform.variant, "");
    assert_int_equal(manifest->children[3].descriptor.size, 1125);
    manifest_free(manifest);
}

static void parses_oci_index_with_attestations(void **state)
{
    struct manifest *manifest =
        parse_file("oci-index-with-attestations.json", MEDIA_TYPE_OCI_INDEX);

    (void)state;
    assert_int_equal(manifest->kind, MANIFEST_KIND_INDEX);
    assert_string_equal(manifest->media_type, MEDIA_TYPE_OCI_INDEX);
    assert_int_equal(manifest->child_count, 3);
    assert_string_equal(manifest->children[2].platform.os, "unknown");
    manifest_free(manifest);
}

static void infers_index_without_media_type(void **state)
{
    struct manifest *manifest =
        parse_file("oci-index-two-arm-linux.json", NULL);

    (void)state;
    assert_int_equal(manifest->kind, MANIFEST_KIND_INDEX);
    assert_string_equal(manifest->media_type, MEDIA_TYPE_OCI_INDEX);
    manifest_free(manifest);
}

static void takes_type_from_content_type(void **state)
{
    /* The helm manifest has no mediaType field. */
    struct manifest *manifest =
        parse_file("helm-chart-manifest.json",
                   "application/vnd.oci.image.manifest.v1+json; charset=utf-8");

    (void)state;
    assert_int_equal(manifest->kind, MANIFEST_KIND_MANIFEST);
    assert_string_equal(manifest->media_type, MEDIA_TYPE_OCI_MANIFEST);
    manifest_free(manifest);
}

static void ignores_unrelated_content_type(void **state)
{
    struct manifest *manifest =
        parse_file("docker-manifest.json", "application/json");

    (void)state;
    assert_string_equal(manifest->media_type, MEDIA_TYPE_DOCKER_MANIFEST);
    manifest_free(manifest);
}

static void rejects_schema1_manifest(void **state)
{
    (void)state;
    expect_file_rejected("docker-schema1-signed.json", NULL, "schema 1");
    expect_file_rejected(
        "docker-schema1-signed.json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "schema 1");
    expect_file_rejected(
        "docker-manifest.json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "schema 1");
}

static void rejects_type_contradicting_content_type(void **state)
{
    (void)state;
    expect_file_rejected("docker-manifest.json", MEDIA_TYPE_OCI_INDEX,
                         "contradicts Content-Type");
}

static void recognises_artifacts(void **state)
{
    const char *const files[] = {"helm-chart-manifest.json",
                                 "oci-artifact-sbom.json",
                                 "cosign-signature-manifest.json"};
    const char *const reasons[] = {"application/vnd.cncf.helm.config.v1+json",
                                   "application/spdx+json", "not a tar layer"};

    (void)state;
    for (size_t i = 0; i < 3; i++) {
        struct manifest *manifest = parse_file(files[i], NULL);
        char errbuf[256] = "";

        assert_int_equal(manifest_check_image(manifest, errbuf, sizeof(errbuf)),
                         -1);
        if (strstr(errbuf, reasons[i]) == NULL) {
            fail_msg("%s: \"%s\" does not mention \"%s\"", files[i], errbuf,
                     reasons[i]);
        }
        manifest_free(manifest);
    }
}

static void reads_artifact_type(void **state)
{
    struct manifest *manifest = parse_file("oci-artifact-sbom.json", NULL);

    (void)state;
    assert_string_equal(manifest->artifact_type, "application/spdx+json");
    assert_string_equal(manifest->config.media_type,
                        "application/vnd.oci.empty.v1+json");
    manifest_free(manifest);
}

struct invalid_case {
    const char *json;
    const char *expected_error;
};

#define LAYER_OK                                                               \
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","          \
    "\"digest\":\"" DIGEST_A "\",\"size\":10}"
#define CONFIG_OK                                                              \
    "{\"mediaType\":\"" MEDIA_TYPE_OCI_CONFIG "\",\"digest\":\"" DIGEST_B      \
    "\",\"size\":10}"

static const struct invalid_case invalid_cases[] = {
    {"", "empty"},
    {"not json", "not valid JSON"},
    {"[]", "not a JSON object"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK ",\"layers\":[" LAYER_OK
     "],\"config\":" CONFIG_OK "}",
     "duplicate"},
    {"{\"config\":" CONFIG_OK ",\"layers\":[]}", "schemaVersion is missing"},
    {"{\"schemaVersion\":\"2\",\"config\":" CONFIG_OK ",\"layers\":[]}",
     "schemaVersion is not an integer"},
    {"{\"schemaVersion\":3,\"config\":" CONFIG_OK ",\"layers\":[]}",
     "schemaVersion 3"},
    {"{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"layers\":[]}",
     "not a manifest or index type"},
    {"{\"schemaVersion\":2,\"mediaType\":7,\"layers\":[]}",
     "mediaType is not a string"},
    {"{\"schemaVersion\":2}", "fit neither"},
    {"{\"schemaVersion\":2,\"layers\":[],\"manifests\":[]}", "fit neither"},
    {"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
     "\",\"config\":" CONFIG_OK ",\"layers\":[],\"manifests\":[]}",
     "only an index"},
    {"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX
     "\",\"manifests\":[],\"layers\":[]}",
     "only an image manifest"},
    {"{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
     "\",\"layers\":[]}",
     "config is missing"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK "}", "layers is missing"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK ",\"layers\":{}}",
     "layers is not an array"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK ",\"layers\":[7]}",
     "layers[0]. is not an object"},
    {"{\"schemaVersion\":2,\"config\":{\"digest\":\"" DIGEST_A
     "\",\"size\":1},\"layers\":[]}",
     "config.mediaType is missing"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK
     ",\"layers\":[{\"mediaType\":\"x/y\",\"size\":1}]}",
     "layers[0].digest is missing"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK
     ",\"layers\":[{\"mediaType\":\"x/y\",\"digest\":5,\"size\":1}]}",
     "layers[0].digest is not a string"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK
     ",\"layers\":[{\"mediaType\":\"x/y\",\"digest\":\"sha256:1234\","
     "\"size\":1}]}",
     "layers[0].digest \"sha256:1234\" is not"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK
     ",\"layers\":[{\"mediaType\":\"x/y\",\"digest\":\"" DIGEST_A "\"}]}",
     "layers[0].size is missing"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK ",\"layers\":[" LAYER_OK
     ",{\"mediaType\":\"x/y\",\"digest\":\"" DIGEST_A "\",\"size\":-1}]}",
     "layers[1].size is negative (-1)"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK
     ",\"layers\":[{\"mediaType\":\"x/y\",\"digest\":\"" DIGEST_A
     "\",\"size\":1.5}]}",
     "layers[0].size is not an integer"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK
     ",\"layers\":[{\"mediaType\":\"x/y\",\"digest\":\"" DIGEST_A
     "\",\"size\":\"10\"}]}",
     "layers[0].size is not an integer"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK
     ",\"layers\":[{\"mediaType\":\"\",\"digest\":\"" DIGEST_A
     "\",\"size\":1}]}",
     "layers[0].mediaType is empty"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK
     ",\"layers\":[{\"mediaType\":\"a b\",\"digest\":\"" DIGEST_A
     "\",\"size\":1}]}",
     "printable ASCII"},
    {"{\"schemaVersion\":2,\"manifests\":{}}", "manifests is not an array"},
    {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x/y\",\"digest\":"
     "\"" DIGEST_A "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}",
     "manifests[0].platform.architecture is missing"},
    {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x/y\",\"digest\":"
     "\"" DIGEST_A "\",\"size\":1,\"platform\":{\"os\":\"linux\","
     "\"architecture\":\"amd64\",\"variant\":1}}]}",
     "manifests[0].platform.variant is not a string"},
    {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x/y\",\"digest\":"
     "\"" DIGEST_A "\",\"size\":1,\"platform\":\"linux/amd64\"}]}",
     "manifests[0].platform. is not an object"},
    {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x/y\",\"digest\":"
     "\"" DIGEST_A "\",\"size\":-3}]}",
     "manifests[0].size is negative"},
    {"{\"schemaVersion\":2,\"artifactType\":[],\"config\":" CONFIG_OK
     ",\"layers\":[]}",
     "artifactType is not a string"},
    {"{\"schemaVersion\":2,\"config\":" CONFIG_OK
     ",\"layers\":[{\"mediaType\":\"x/y\",\"digest\":\"" DIGEST_A
     "\",\"size\":99999999999999999999999}]}",
     "not valid JSON"},
};

static void rejects_invalid_manifests(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]);
         i++) {
        const struct invalid_case *c = &invalid_cases[i];
        struct manifest *manifest = NULL;
        char errbuf[256] = "";

        if (manifest_parse(c->json, strlen(c->json), NULL, &manifest, errbuf,
                           sizeof(errbuf)) == 0) {
            manifest_free(manifest);
            fail_msg("case %zu was accepted: %s", i, c->json);
        }
        assert_null(manifest);
        if (strstr(errbuf, c->expected_error) == NULL) {
            fail_msg("case %zu: error \"%s\" does not mention \"%s\"", i,
                     errbuf, c->expected_error);
        }
    }
}

/* Builds a manifest with count layers, or an index with count children. */
static char *build_document(int index, size_t count)
{
    const char *item = index ? "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
                               "\",\"digest\":\"" DIGEST_A
                               "\",\"size\":1,\"platform\":{"
                               "\"os\":\"linux\",\"architecture\":\"amd64\"}}"
                             : LAYER_OK;
    size_t capacity = 256 + count * (strlen(item) + 1);
    char *document = malloc(capacity);
    size_t used;

    assert_non_null(document);
    used = (size_t)snprintf(document, capacity,
                            index ? "{\"schemaVersion\":2,\"manifests\":["
                                  : "{\"schemaVersion\":2,\"config\":" CONFIG_OK
                                    ",\"layers\":[");
    for (size_t i = 0; i < count; i++) {
        used += (size_t)snprintf(document + used, capacity - used, "%s%s",
                                 i ? "," : "", item);
    }
    snprintf(document + used, capacity - used, "]}");
    return document;
}

static void caps_layers_at_1000(void **state)
{
    struct manifest *manifest = NULL;
    char errbuf[256] = "";
    char *document;

    (void)state;
    document = build_document(0, MANIFEST_LAYERS_MAX);
    assert_int_equal(manifest_parse(document, strlen(document), NULL, &manifest,
                                    errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(manifest->layer_count, MANIFEST_LAYERS_MAX);
    manifest_free(manifest);
    free(document);

    document = build_document(0, MANIFEST_LAYERS_MAX + 1);
    assert_int_equal(manifest_parse(document, strlen(document), NULL, &manifest,
                                    errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "1001 layers, more than the limit of 1000"));
    free(document);
}

static void caps_index_children_at_1000(void **state)
{
    struct manifest *manifest = NULL;
    char errbuf[256] = "";
    char *document;

    (void)state;
    document = build_document(1, MANIFEST_CHILDREN_MAX);
    assert_int_equal(manifest_parse(document, strlen(document), NULL, &manifest,
                                    errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(manifest->child_count, MANIFEST_CHILDREN_MAX);
    manifest_free(manifest);
    free(document);

    document = build_document(1, MANIFEST_CHILDREN_MAX + 1);
    assert_int_equal(manifest_parse(document, strlen(document), NULL, &manifest,
                                    errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(
        strstr(errbuf, "1001 manifests, more than the limit of 1000"));
    free(document);
}

static void caps_manifest_size_at_4_mib(void **state)
{
    /* Valid JSON padded with spaces up to the cap, then one byte past it. */
    const char *head =
        "{\"schemaVersion\":2,\"config\":" CONFIG_OK ",\"layers\":[]}";
    size_t size = MANIFEST_SIZE_MAX + 1;
    char *document = malloc(size);
    struct manifest *manifest = NULL;
    char errbuf[256] = "";

    (void)state;
    assert_non_null(document);
    memset(document, ' ', size);
    memcpy(document, head, strlen(head));
    assert_int_equal(manifest_parse(document, MANIFEST_SIZE_MAX, NULL,
                                    &manifest, errbuf, sizeof(errbuf)),
                     0);
    manifest_free(manifest);
    assert_int_equal(
        manifest_parse(document, size, NULL, &manifest, errbuf, sizeof(errbuf)),
        -1);
    assert_non_null(strstr(errbuf, "more than the limit of 4194304"));
    free(document);
}

static void caps_media_type_length(void **state)
{
    char media_type[MANIFEST_MEDIA_TYPE_MAX + 2];
    char document[1024];
    struct manifest *manifest = NULL;
    char errbuf[256] = "";

    (void)state;
    memset(media_type, 'm', sizeof(media_type) - 1);
    media_type[MANIFEST_MEDIA_TYPE_MAX] = '\0';
    snprintf(document, sizeof(document),
             "{\"schemaVersion\":2,\"config\":" CONFIG_OK
             ",\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"" DIGEST_A
             "\",\"size\":1}]}",
             media_type);
    assert_int_equal(manifest_parse(document, strlen(document), NULL, &manifest,
                                    errbuf, sizeof(errbuf)),
                     0);
    manifest_free(manifest);

    media_type[MANIFEST_MEDIA_TYPE_MAX] = 'm';
    media_type[MANIFEST_MEDIA_TYPE_MAX + 1] = '\0';
    snprintf(document, sizeof(document),
             "{\"schemaVersion\":2,\"config\":" CONFIG_OK
             ",\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"" DIGEST_A
             "\",\"size\":1}]}",
             media_type);
    assert_int_equal(manifest_parse(document, strlen(document), NULL, &manifest,
                                    errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "longer than 255 characters"));
}

static void caps_platform_field_length(void **state)
{
    char os[MANIFEST_PLATFORM_FIELD_MAX + 2];
    char document[1024];
    struct manifest *manifest = NULL;
    char errbuf[256] = "";

    (void)state;
    memset(os, 'o', sizeof(os) - 1);
    os[sizeof(os) - 1] = '\0';
    snprintf(document, sizeof(document),
             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x/y\","
             "\"digest\":\"" DIGEST_A "\",\"size\":1,\"platform\":{"
             "\"os\":\"%s\",\"architecture\":\"amd64\"}}]}",
             os);
    assert_int_equal(manifest_parse(document, strlen(document), NULL, &manifest,
                                    errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "platform.os is longer than 63"));
}

static void caps_json_nesting_depth(void **state)
{
    size_t depth = 100000;
    char *document = malloc(2 * depth + 1);
    struct manifest *manifest = NULL;
    char errbuf[256] = "";

    (void)state;
    assert_non_null(document);
    memset(document, '[', depth);
    memset(document + depth, ']', depth);
    document[2 * depth] = '\0';
    assert_int_equal(manifest_parse(document, 2 * depth, NULL, &manifest,
                                    errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "not valid JSON"));
    free(document);
}

/* The index the last select_child() call chose from; the group teardown
 * frees the last one. */
static struct manifest *kept;

static int free_kept_index(void **state)
{
    (void)state;
    manifest_free(kept);
    kept = NULL;
    return 0;
}

static const struct manifest_child *select_child(const char *file,
                                                 const char *requested)
{
    const struct manifest_child *child = NULL;
    char errbuf[256] = "";

    manifest_free(kept);
    kept = parse_file(file, NULL);
    if (manifest_select_platform(kept, requested, &child, errbuf,
                                 sizeof(errbuf)) != 0) {
        fail_msg("%s, %s: %s", file, requested ? requested : "default", errbuf);
    }
    return child;
}

static void selects_requested_platform(void **state)
{
    const struct manifest_child *child;

    (void)state;
    child = select_child("docker-manifest-list.json", "linux/arm/v7");
    assert_string_equal(child->descriptor.digest,
                        "sha256:11111111111111111111111111111111111111111111"
                        "11111111111111111111");
    child = select_child("docker-manifest-list.json", "linux/arm64");
    assert_string_equal(child->platform.architecture, "arm64");
    child = select_child("docker-manifest-list.json", "linux/aarch64");
    assert_string_equal(child->platform.architecture, "arm64");
    child = select_child("oci-index-arm64-and-windows.json", "linux/arm64/v8");
    assert_string_equal(child->platform.variant, "v8");
    child = select_child("oci-index-with-attestations.json", "linux/arm64/v8");
    assert_string_equal(child->descriptor.digest, DIGEST_A);
    child = select_child("docker-manifest-list.json", "windows/amd64");
    assert_string_equal(child->platform.os, "windows");
}

static void falls_back_to_linux_amd64(void **state)
{
    const struct manifest_child *child;

    (void)state;
    child = select_child("docker-manifest-list.json", NULL);
    assert_string_equal(child->platform.architecture, "amd64");
    assert_string_equal(child->platform.os, "linux");
    child = select_child("oci-index-with-attestations.json", NULL);
    assert_string_equal(child->descriptor.digest, DIGEST_B);
    child = select_child("oci-index-with-attestations.json", "linux/s390x");
    assert_string_equal(child->descriptor.digest, DIGEST_B);
    child = select_child("docker-manifest-list.json", "linux/arm/v5");
    assert_string_equal(child->platform.architecture, "amd64");
}

static void falls_back_to_only_linux_child(void **state)
{
    const struct manifest_child *child;

    (void)state;
    child = select_child("oci-index-arm64-and-windows.json", NULL);
    assert_string_equal(child->platform.os, "linux");
    assert_string_equal(child->platform.architecture, "arm64");
}

static void expect_no_platform(const char *file, const char *requested,
                               const char *expected_error)
{
    struct manifest *index = parse_file(file, NULL);
    const struct manifest_child *child = NULL;
    char errbuf[512] = "";

    assert_int_equal(manifest_select_platform(index, requested, &child, errbuf,
                                              sizeof(errbuf)),
                     -1);
    assert_null(child);
    if (strcmp(errbuf, expected_error) != 0) {
        fail_msg("%s: \"%s\", expected \"%s\"", file, errbuf, expected_error);
    }
    manifest_free(index);
}

static void rejects_index_with_only_windows_children(void **state)
{
    (void)state;
    expect_no_platform("oci-index-windows-only.json", NULL,
                       "no linux/amd64 image in index (platforms: "
                       "windows/amd64, windows/amd64)");
    expect_no_platform("oci-index-windows-only.json", "linux/arm64",
                       "no linux/arm64 or linux/amd64 image in index "
                       "(platforms: windows/amd64, windows/amd64)");
}

static void rejects_index_with_two_other_linux_children(void **state)
{
    (void)state;
    expect_no_platform("oci-index-two-arm-linux.json", NULL,
                       "no linux/amd64 image in index (platforms: "
                       "linux/arm/v6, linux/arm/v7)");
}

static void rejects_invalid_requested_platform(void **state)
{
    const char *const requested[] = {"linux",        "linux/",  "/amd64",
                                     "linux/amd64/", "a/b/c/d", "linux amd64"};
    struct manifest *index = parse_file("docker-manifest-list.json", NULL);

    (void)state;
    for (size_t i = 0; i < sizeof(requested) / sizeof(requested[0]); i++) {
        const struct manifest_child *child = NULL;
        char errbuf[256] = "";

        assert_int_equal(manifest_select_platform(index, requested[i], &child,
                                                  errbuf, sizeof(errbuf)),
                         -1);
        if (strstr(errbuf, "invalid platform") == NULL) {
            fail_msg("\"%s\": %s", requested[i], errbuf);
        }
    }
    manifest_free(index);
}

static void selects_only_child_without_platform(void **state)
{
    const char *json = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                       "\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" DIGEST_A
                       "\",\"size\":1}]}";
    struct manifest *index = NULL;
    const struct manifest_child *child = NULL;
    char errbuf[256] = "";

    (void)state;
    assert_int_equal(manifest_parse(json, strlen(json), NULL, &index, errbuf,
                                    sizeof(errbuf)),
                     0);
    assert_int_equal(
        manifest_select_platform(index, NULL, &child, errbuf, sizeof(errbuf)),
        0);
    assert_ptr_equal(child, &index->children[0]);
    manifest_free(index);
}

static void rejects_selection_on_image_manifest(void **state)
{
    struct manifest *manifest = parse_file("docker-manifest.json", NULL);
    const struct manifest_child *child = NULL;
    char errbuf[256] = "";

    (void)state;
    assert_int_equal(manifest_select_platform(manifest, NULL, &child, errbuf,
                                              sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "not an index"));
    manifest_free(manifest);
}

static void parses_image_configs(void **state)
{
    struct manifest_platform platform;
    char errbuf[256] = "";
    size_t size = 0;
    char *body;

    (void)state;
    body = read_file(DATA_DIR "config-linux-arm-v7.json", &size);
    assert_non_null(body);
    assert_int_equal(
        manifest_parse_config(body, size, &platform, errbuf, sizeof(errbuf)),
        0);
    assert_string_equal(platform.os, "linux");
    assert_string_equal(platform.architecture, "arm");
    assert_string_equal(platform.variant, "v7");
    assert_string_equal(platform.os_version, "");
    free(body);

    body = read_file(DATA_DIR "config-windows.json", &size);
    assert_non_null(body);
    assert_int_equal(
        manifest_parse_config(body, size, &platform, errbuf, sizeof(errbuf)),
        0);
    assert_string_equal(platform.os, "windows");
    assert_string_equal(platform.os_version, "10.0.17763.5329");
    free(body);
}

static void rejects_invalid_image_configs(void **state)
{
    const struct invalid_case cases[] = {
        {"{}", "image config os is missing"},
        {"{\"os\":\"linux\"}", "image config architecture is missing"},
        {"{\"os\":\"linux\",\"architecture\":5}",
         "image config architecture is not a string"},
        {"{\"os\":\"\",\"architecture\":\"amd64\"}",
         "image config os is empty"},
        {"[1]", "not a JSON object"},
        {"{\"os\":", "not valid JSON"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct manifest_platform platform;
        char errbuf[256] = "";

        assert_int_equal(manifest_parse_config(cases[i].json,
                                               strlen(cases[i].json), &platform,
                                               errbuf, sizeof(errbuf)),
                         -1);
        if (strstr(errbuf, cases[i].expected_error) == NULL) {
            fail_msg("%s: \"%s\" does not mention \"%s\"", cases[i].json,
                     errbuf, cases[i].expected_error);
        }
        assert_string_equal(platform.os, "");
    }
}

static void detects_layer_size_overflow(void **state)
{
    const char *json =
        "{\"schemaVersion\":2,\"config\":" CONFIG_OK
        ",\"layers\":[{\"mediaType\":\"x/y\",\"digest\":\"" DIGEST_A
        "\",\"size\":9223372036854775807},"
        "{\"mediaType\":\"x/y\",\"digest\":\"" DIGEST_A "\",\"size\":1}]}";
    struct manifest *manifest = NULL;
    char errbuf[256] = "";
    int64_t total = 0;

    (void)state;
    assert_int_equal(manifest_parse(json, strlen(json), NULL, &manifest, errbuf,
                                    sizeof(errbuf)),
                     0);
    assert_int_equal(manifest_sum_layer_sizes(manifest, &total), -1);
    manifest_free(manifest);
}

/* ---- Real OCI layouts from $IMGASSURE_FIXTURES ---- */

static const char *fixtures_dir(void)
{
    const char *dir = getenv("IMGASSURE_FIXTURES");

    return dir != NULL && dir[0] != '\0' ? dir : "../shared/fixtures";
}

static char *read_blob(const char *layout, const char *digest, size_t *size)
{
    char path[1024];

    assert_int_equal(strncmp(digest, "sha256:", 7), 0);
    if (snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout,
                 digest + 7) >= (int)sizeof(path)) {
        fail_msg("path too long under %s", layout);
    }
    return read_file(path, size);
}

static void check_blob_digest(const char *data, size_t size,
                              const struct manifest_descriptor *descriptor)
{
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];

    assert_int_equal(EVP_Digest(data, size, hash, &length, EVP_sha256(), NULL),
                     1);
    for (unsigned int i = 0; i < length; i++) {
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    }
    assert_string_equal(hex, descriptor->digest + 7);
    assert_int_equal((int64_t)size, descriptor->size);
}

/* Parses every manifest an index of a layout points to, and their
 * configs. Returns the number of image manifests found. */
static int walk_layout_index(const char *layout, const struct manifest *index,
                             int depth)
{
    int images = 0;

    assert_true(depth < 3);
    for (size_t i = 0; i < index->child_count; i++) {
        const struct manifest_descriptor *child =
            &index->children[i].descriptor;
        struct manifest *manifest = NULL;
        char errbuf[256] = "";
        size_t size = 0;
        char *body = read_blob(layout, child->digest, &size);

        assert_non_null(body);
        check_blob_digest(body, size, child);
        if (manifest_parse(body, size, child->media_type, &manifest, errbuf,
                           sizeof(errbuf)) != 0) {
            fail_msg("%s %s: %s", layout, child->digest, errbuf);
        }
        free(body);

        if (manifest->kind == MANIFEST_KIND_INDEX) {
            images += walk_layout_index(layout, manifest, depth + 1);
        } else {
            struct manifest_platform platform;

            assert_int_equal(
                manifest_check_image(manifest, errbuf, sizeof(errbuf)), 0);
            body = read_blob(layout, manifest->config.digest, &size);
            assert_non_null(body);
            check_blob_digest(body, size, &manifest->config);
            assert_int_equal(manifest_parse_config(body, size, &platform,
                                                   errbuf, sizeof(errbuf)),
                             0);
            assert_string_equal(platform.os, "linux");
            assert_string_equal(platform.architecture, "amd64");
            assert_true(manifest->layer_count >= 1);
            free(body);
            images++;
        }
        manifest_free(manifest);
    }
    return images;
}

static void parses_fixture_oci_layouts(void **state)
{
    char dir_path[1024];
    struct dirent *entry;
    int layouts = 0;
    DIR *dir;

    (void)state;
    snprintf(dir_path, sizeof(dir_path), "%s/images/oci-layout",
             fixtures_dir());
    dir = opendir(dir_path);
    if (dir == NULL) {
        print_message("skipping: no OCI layouts in %s (set "
                      "IMGASSURE_FIXTURES)\n",
                      dir_path);
        skip();
    }
    while ((entry = readdir(dir)) != NULL) {
        char layout[1100];
        char path[1200];
        struct manifest *index = NULL;
        char errbuf[256] = "";
        size_t size = 0;
        char *body;

        if (entry->d_name[0] == '.') {
            continue;
        }
        if (snprintf(layout, sizeof(layout), "%s/%s", dir_path,
                     entry->d_name) >= (int)sizeof(layout) ||
            snprintf(path, sizeof(path), "%s/index.json", layout) >=
                (int)sizeof(path)) {
            fail_msg("path too long under %s", dir_path);
        }
        body = read_file(path, &size);
        if (body == NULL) {
            continue;
        }
        if (manifest_parse(body, size, NULL, &index, errbuf, sizeof(errbuf)) !=
            0) {
            fail_msg("%s: %s", path, errbuf);
        }
        assert_int_equal(index->kind, MANIFEST_KIND_INDEX);
        assert_true(walk_layout_index(layout, index, 0) >= 1);
        manifest_free(index);
        free(body);
        layouts++;
    }
    closedir(dir);
    assert_true(layouts >= 1);
}

static void parses_fixture_nested_indexes(void **state)
{
    char layout[1024];
    char path[1100];
    struct manifest *index = NULL;
    struct manifest *nested = NULL;
    char errbuf[256] = "";
    size_t size = 0;
    char *body;

    (void)state;
    snprintf(layout, sizeof(layout), "%s/images/oci-layout/ggcr-test_index",
             fixtures_dir());
    snprintf(path, sizeof(path), "%s/index.json", layout);
    body = read_file(path, &size);
    if (body == NULL) {
        print_message("skipping: %s is missing (set IMGASSURE_FIXTURES)\n",
                      path);
        skip();
    }
    assert_int_equal(
        manifest_parse(body, size, NULL, &index, errbuf, sizeof(errbuf)), 0);
    free(body);
    assert_int_equal(index->child_count, 4);
    assert_string_equal(index->children[3].descriptor.media_type,
                        MEDIA_TYPE_DOCKER_MANIFEST_LIST);

    /* The manifest list blob has no mediaType field, so only the
     * descriptor's media type, passed as Content-Type, gives its type. */
    body = read_blob(layout, index->children[3].descriptor.digest, &size);
    assert_non_null(body);
    assert_int_equal(
        manifest_parse(body, size, NULL, &nested, errbuf, sizeof(errbuf)), 0);
    assert_string_equal(nested->media_type, MEDIA_TYPE_OCI_INDEX);
    manifest_free(nested);
    assert_int_equal(manifest_parse(body, size, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
                                    &nested, errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(nested->kind, MANIFEST_KIND_INDEX);
    assert_string_equal(nested->media_type, MEDIA_TYPE_DOCKER_MANIFEST_LIST);
    assert_int_equal(nested->child_count, 1);
    free(body);
    manifest_free(nested);
    manifest_free(index);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_docker_manifest),
        cmocka_unit_test(parses_docker_manifest_list),
        cmocka_unit_test(parses_oci_index_with_attestations),
        cmocka_unit_test(infers_index_without_media_type),
        cmocka_unit_test(takes_type_from_content_type),
        cmocka_unit_test(ignores_unrelated_content_type),
        cmocka_unit_test(rejects_schema1_manifest),
        cmocka_unit_test(rejects_type_contradicting_content_type),
        cmocka_unit_test(recognises_artifacts),
        cmocka_unit_test(reads_artifact_type),
        cmocka_unit_test(rejects_invalid_manifests),
        cmocka_unit_test(caps_layers_at_1000),
        cmocka_unit_test(caps_index_children_at_1000),
        cmocka_unit_test(caps_manifest_size_at_4_mib),
        cmocka_unit_test(caps_media_type_length),
        cmocka_unit_test(caps_platform_field_length),
        cmocka_unit_test(caps_json_nesting_depth),
        cmocka_unit_test(selects_requested_platform),
        cmocka_unit_test(falls_back_to_linux_amd64),
        cmocka_unit_test(falls_back_to_only_linux_child),
        cmocka_unit_test(rejects_index_with_only_windows_children),
        cmocka_unit_test(rejects_index_with_two_other_linux_children),
        cmocka_unit_test(rejects_invalid_requested_platform),
        cmocka_unit_test(selects_only_child_without_platform),
        cmocka_unit_test(rejects_selection_on_image_manifest),
        cmocka_unit_test(parses_image_configs),
        cmocka_unit_test(rejects_invalid_image_configs),
        cmocka_unit_test(detects_layer_size_overflow),
        cmocka_unit_test(parses_fixture_oci_layouts),
        cmocka_unit_test(parses_fixture_nested_indexes),
    };

    return cmocka_run_group_tests(tests, NULL, free_kept_index);
}
