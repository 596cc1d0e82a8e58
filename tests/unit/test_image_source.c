/*
 * The local image sources: docker save archives and OCI image layouts
 * written into a temporary directory, whole and hostile (no manifest.json,
 * member names that leave the archive, huge sizes, tampered blobs). Also
 * checks that the workers' scan entry point never opens a local path that
 * an event names.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "image_source.h"
#include "manifest.h"
#include "scan.h"

static char temp_dir[64];

struct member {
    const char *name;
    const char *data;
    size_t size;
};

static char *path_in_temp(const char *name)
{
    static char path[256];

    snprintf(path, sizeof(path), "%s/%s", temp_dir, name);
    return path;
}

static void write_tar(const char *name, int gzip, const struct member *members,
                      size_t count)
{
    struct archive *archive = archive_write_new();

    archive_write_set_format_pax_restricted(archive);
    if (gzip)
        archive_write_add_filter_gzip(archive);
    assert_int_equal(archive_write_open_filename(archive, path_in_temp(name)),
                     ARCHIVE_OK);
    for (size_t i = 0; i < count; i++) {
        struct archive_entry *entry = archive_entry_new();

        archive_entry_set_pathname(entry, members[i].name);
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_perm(entry, 0644);
        archive_entry_set_size(entry, (la_int64_t)members[i].size);
        assert_int_equal(archive_write_header(archive, entry), ARCHIVE_OK);
        assert_int_equal(
            archive_write_data(archive, members[i].data, members[i].size),
            (la_ssize_t)members[i].size);
        archive_entry_free(entry);
    }
    archive_write_close(archive);
    archive_write_free(archive);
}

static void write_file(const char *name, const void *data, size_t size)
{
    FILE *file = fopen(path_in_temp(name), "wb");

    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, size, file), size);
    fclose(file);
}

static int make_temp_dir(void **state)
{
    (void)state;
    snprintf(temp_dir, sizeof(temp_dir), "/tmp/imgassure-source-XXXXXX");
    return mkdtemp(temp_dir) != NULL ? 0 : -1;
}

static int remove_temp_dir(void **state)
{
    char command[128];

    (void)state;
    snprintf(command, sizeof(command), "rm -rf '%s'", temp_dir);
    return system(command) == 0 ? 0 : -1;
}

/* Collects a streamed blob. */
struct collected {
    char data[256];
    size_t size;
};

static int collect(const void *data, size_t size, void *userdata)
{
    struct collected *collected = userdata;

    if (collected->size + size > sizeof(collected->data))
        return -1;
    memcpy(collected->data + collected->size, data, size);
    collected->size += size;
    return 0;
}

static const char layer_bytes[] = "the bytes of a layer tar";

/* A docker save archive of one image whose layer is layer_bytes; the
 * diff_id names diff_bytes, so different bytes make a tampered layer. */
static void write_docker_archive(const char *name, int gzip,
                                 const char *diff_bytes)
{
    char diff_id[IMAGE_REF_DIGEST_MAX + 1],
        config_digest[IMAGE_REF_DIGEST_MAX + 1];
    char config[512], config_name[160];
    const char *manifest_format =
        "[{\"Config\":\"%s\",\"RepoTags\":[\"registry.test:5000/app:1\"],"
        "\"Layers\":[\"abc/layer.tar\"]}]";
    char manifest[512];

    blob_hash_sha256(diff_bytes, strlen(diff_bytes), diff_id);
    snprintf(config, sizeof(config),
             "{\"os\":\"linux\",\"architecture\":\"amd64\",\"rootfs\":"
             "{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
             diff_id);
    blob_hash_sha256(config, strlen(config), config_digest);
    snprintf(config_name, sizeof(config_name), "%s.json", config_digest + 7);
    snprintf(manifest, sizeof(manifest), manifest_format, config_name);

    const struct member members[] = {
        {config_name, config, strlen(config)},
        {"abc/layer.tar", layer_bytes, strlen(layer_bytes)},
        {"manifest.json", manifest, strlen(manifest)},
    };
    write_tar(name, gzip, members, 3);
}

static struct image_source *open_archive(const char *name, char *errbuf,
                                         size_t errbuf_size)
{
    return image_source_docker_archive_new(path_in_temp(name), errbuf,
                                           errbuf_size);
}

static void expect_archive_error(const char *name, const char *reason)
{
    char errbuf[512] = "";
    struct image_source *source = open_archive(name, errbuf, sizeof(errbuf));

    assert_null(source);
    if (strstr(errbuf, reason) == NULL)
        fail_msg("expected '%s' in: %s", reason, errbuf);
}

static void test_docker_archive_reads_manifest_config_and_layer(void **state)
{
    struct registry_manifest fetched;
    struct manifest *manifest = NULL;
    struct collected collected = {0};
    char errbuf[512] = "", *config = NULL;
    size_t config_size;
    struct image_source *source;

    (void)state;
    write_docker_archive("good.tar", 0, layer_bytes);
    source = open_archive("good.tar", errbuf, sizeof(errbuf));
    assert_non_null(source);
    assert_string_equal(source->name, "registry.test:5000/app:1");

    assert_int_equal(source->ops->fetch_manifest(source, source->reference,
                                                 &fetched, errbuf,
                                                 sizeof(errbuf)),
                     REGISTRY_OK);
    assert_int_equal(manifest_parse(fetched.body, fetched.size,
                                    fetched.content_type, &manifest, errbuf,
                                    sizeof(errbuf)),
                     0);
    assert_int_equal(manifest_check_image(manifest, errbuf, sizeof(errbuf)), 0);
    assert_int_equal(manifest->layer_count, 1);
    assert_int_equal(manifest->layers[0].size, strlen(layer_bytes));

    assert_int_equal(source->ops->fetch_blob(
                         source, manifest->config.digest, manifest->config.size,
                         &config, &config_size, errbuf, sizeof(errbuf)),
                     REGISTRY_OK);
    assert_non_null(strstr(config, "diff_ids"));
    assert_int_equal(
        source->ops->stream_blob(source, manifest->layers[0].digest,
                                 manifest->layers[0].size, collect, &collected,
                                 errbuf, sizeof(errbuf)),
        REGISTRY_OK);
    assert_memory_equal(collected.data, layer_bytes, strlen(layer_bytes));

    free(config);
    manifest_free(manifest);
    registry_manifest_clear(&fetched);
    image_source_free(source);
}

static void test_docker_archive_gzipped(void **state)
{
    char errbuf[512] = "";
    struct image_source *source;

    (void)state;
    write_docker_archive("good.tar.gz", 1, layer_bytes);
    source = open_archive("good.tar.gz", errbuf, sizeof(errbuf));
    if (source == NULL)
        fail_msg("%s", errbuf);
    image_source_free(source);
}

static void test_docker_archive_tampered_layer(void **state)
{
    struct registry_manifest fetched;
    struct manifest *manifest = NULL;
    struct collected collected = {0};
    char errbuf[512] = "";
    struct image_source *source;

    (void)state;
    write_docker_archive("tampered.tar", 0, "the bytes the config hashed");
    source = open_archive("tampered.tar", errbuf, sizeof(errbuf));
    assert_non_null(source);
    assert_int_equal(source->ops->fetch_manifest(source, source->reference,
                                                 &fetched, errbuf,
                                                 sizeof(errbuf)),
                     REGISTRY_OK);
    assert_int_equal(manifest_parse(fetched.body, fetched.size, NULL, &manifest,
                                    errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(
        source->ops->stream_blob(source, manifest->layers[0].digest,
                                 manifest->layers[0].size, collect, &collected,
                                 errbuf, sizeof(errbuf)),
        REGISTRY_DIGEST_MISMATCH);
    assert_non_null(strstr(errbuf, "hashes to"));

    manifest_free(manifest);
    registry_manifest_clear(&fetched);
    image_source_free(source);
}

static void test_docker_archive_without_manifest_json(void **state)
{
    const struct member members[] = {
        {"abc/layer.tar", layer_bytes, strlen(layer_bytes)},
    };

    (void)state;
    write_tar("no-manifest.tar", 0, members, 1);
    expect_archive_error("no-manifest.tar", "has no manifest.json");
    write_file("not-a-tar.tar", "plain text", 10);
    expect_archive_error("not-a-tar.tar", "not a readable tar archive");
}

static void test_docker_archive_rejects_names_outside(void **state)
{
    static const char *const layers[] = {
        "../../etc/passwd",
        "/etc/passwd",
        "abc/../../escape.tar",
        "..",
    };
    char manifest[256];

    (void)state;
    for (size_t i = 0; i < sizeof(layers) / sizeof(layers[0]); i++) {
        snprintf(manifest, sizeof(manifest),
                 "[{\"Config\":\"c.json\",\"Layers\":[\"%s\"]}]", layers[i]);
        const struct member members[] = {
            {"manifest.json", manifest, strlen(manifest)},
        };
        write_tar("traversal.tar", 0, members, 1);
        expect_archive_error("traversal.tar", "not a plain member name");
    }
}

static void test_docker_archive_rejects_huge_and_odd_manifests(void **state)
{
    size_t huge_size = MANIFEST_SIZE_MAX + 1;
    char *huge = malloc(huge_size);
    const char *two = "[{\"Config\":\"a.json\",\"Layers\":[\"a.tar\"]},"
                      "{\"Config\":\"b.json\",\"Layers\":[\"b.tar\"]}]";
    const char *missing = "[{\"Config\":\"a.json\",\"Layers\":[\"a.tar\"]}]";

    (void)state;
    assert_non_null(huge);
    memset(huge, ' ', huge_size);
    const struct member huge_members[] = {{"manifest.json", huge, huge_size}};
    write_tar("huge.tar", 0, huge_members, 1);
    expect_archive_error("huge.tar", "over the limit");
    free(huge);

    const struct member two_members[] = {{"manifest.json", two, strlen(two)}};
    write_tar("two.tar", 0, two_members, 1);
    expect_archive_error("two.tar", "exactly one image");

    const struct member missing_members[] = {
        {"manifest.json", missing, strlen(missing)}};
    write_tar("missing.tar", 0, missing_members, 1);
    expect_archive_error("missing.tar", "not in the archive");
}

static void test_docker_archive_config_changed_after_save(void **state)
{
    const char *config = "{\"rootfs\":{\"diff_ids\":[]}}";
    char manifest[256];
    char name[80];

    (void)state;
    snprintf(name, sizeof(name), "%064d.json", 0);
    snprintf(manifest, sizeof(manifest),
             "[{\"Config\":\"%s\",\"Layers\":[\"a.tar\"]}]", name);
    const struct member members[] = {
        {name, config, strlen(config)},
        {"a.tar", layer_bytes, strlen(layer_bytes)},
        {"manifest.json", manifest, strlen(manifest)},
    };
    write_tar("changed.tar", 0, members, 3);
    expect_archive_error("changed.tar", "changed after the image was saved");
}

/* Writes data as a blob of the layout at dir and returns its digest. */
static const char *write_blob(const char *dir, const char *data,
                              char digest[IMAGE_REF_DIGEST_MAX + 1])
{
    char name[512];

    blob_hash_sha256(data, strlen(data), digest);
    snprintf(name, sizeof(name), "%s/blobs/sha256/%s", dir, digest + 7);
    write_file(name, data, strlen(data));
    return digest;
}

static void make_layout_dirs(const char *dir)
{
    char name[512];

    snprintf(name, sizeof(name), "%s", path_in_temp(dir));
    mkdir(name, 0755);
    snprintf(name, sizeof(name), "%s/blobs", path_in_temp(dir));
    mkdir(name, 0755);
    snprintf(name, sizeof(name), "%s/blobs/sha256", path_in_temp(dir));
    mkdir(name, 0755);
    snprintf(name, sizeof(name), "%s/oci-layout", dir);
    write_file(name, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
}

/* A layout whose index.json names an index that names a manifest tagged
 * v1; *manifest_digest receives the manifest's digest. */
static void write_nested_layout(const char *dir,
                                char manifest_digest[IMAGE_REF_DIGEST_MAX + 1])
{
    char index_digest[IMAGE_REF_DIGEST_MAX + 1], body[1024], name[256];
    const char *manifest = "{\"schemaVersion\":2,\"mediaType\":"
                           "\"application/vnd.oci.image.manifest.v1+json\","
                           "\"config\":{},\"layers\":[]}";

    make_layout_dirs(dir);
    write_blob(dir, manifest, manifest_digest);
    snprintf(body, sizeof(body),
             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
             "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"%s\":"
             "\"v1\"}}]}",
             MEDIA_TYPE_OCI_MANIFEST, manifest_digest, strlen(manifest),
             "org.opencontainers.image.ref.name");
    write_blob(dir, body, index_digest);
    snprintf(name, sizeof(name), "%s/index.json", dir);
    snprintf(body, sizeof(body),
             "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\","
             "\"digest\":\"%s\",\"size\":%zu}]}",
             MEDIA_TYPE_OCI_INDEX, index_digest, strlen(body));
    write_file(name, body, strlen(body));
}

static struct image_source *open_layout(const char *dir, const char *tag,
                                        char *errbuf, size_t errbuf_size)
{
    return image_source_oci_layout_new(path_in_temp(dir), tag, errbuf,
                                       errbuf_size);
}

static void test_oci_layout_finds_tag_in_nested_index(void **state)
{
    char digest[IMAGE_REF_DIGEST_MAX + 1], errbuf[512] = "";
    struct registry_manifest fetched;
    struct image_source *source;

    (void)state;
    write_nested_layout("nested", digest);
    source = open_layout("nested", "v1", errbuf, sizeof(errbuf));
    if (source == NULL)
        fail_msg("%s", errbuf);
    assert_string_equal(source->reference, digest);
    assert_int_equal(source->ops->fetch_manifest(source, digest, &fetched,
                                                 errbuf, sizeof(errbuf)),
                     REGISTRY_OK);
    assert_non_null(strstr(fetched.body, "layers"));
    registry_manifest_clear(&fetched);
    image_source_free(source);

    assert_null(open_layout("nested", "v2", errbuf, sizeof(errbuf)));
    assert_non_null(strstr(errbuf, "no images are named 'v2'"));
    assert_non_null(strstr(errbuf, "v1"));
}

static void test_oci_layout_hostile_blobs(void **state)
{
    char digest[IMAGE_REF_DIGEST_MAX + 1], errbuf[512] = "", name[256];
    struct collected collected = {0};
    struct image_source *source;
    char *data = NULL;
    size_t size;

    (void)state;
    write_nested_layout("hostile", digest);
    source = open_layout("hostile", NULL, errbuf, sizeof(errbuf));
    assert_non_null(source);

    /* A size no file has: refused before anything is read. */
    assert_int_equal(source->ops->fetch_blob(source, digest, INT64_C(1) << 60,
                                             &data, &size, errbuf,
                                             sizeof(errbuf)),
                     REGISTRY_INVALID_RESPONSE);
    assert_int_equal(source->ops->stream_blob(source, digest, INT64_C(1) << 60,
                                              collect, &collected, errbuf,
                                              sizeof(errbuf)),
                     REGISTRY_INVALID_RESPONSE);
    assert_int_equal(collected.size, 0);
    /* A digest is a file name only once it is validated. */
    assert_int_equal(source->ops->fetch_blob(source, "sha256:../../oci-layout",
                                             -1, &data, &size, errbuf,
                                             sizeof(errbuf)),
                     REGISTRY_INVALID_RESPONSE);
    /* Bytes changed in place. */
    snprintf(name, sizeof(name), "hostile/blobs/sha256/%s", digest + 7);
    write_file(name, "{\"tampered\":true}", 17);
    assert_int_equal(source->ops->fetch_blob(source, digest, -1, &data, &size,
                                             errbuf, sizeof(errbuf)),
                     REGISTRY_DIGEST_MISMATCH);
    assert_null(data);
    image_source_free(source);
}

static void test_oci_layout_hostile_index(void **state)
{
    char errbuf[512] = "", name[256];
    int fd;

    (void)state;
    mkdir(path_in_temp("no-marker"), 0755);
    assert_null(open_layout("no-marker", NULL, errbuf, sizeof(errbuf)));
    assert_non_null(strstr(errbuf, "no oci-layout file"));

    /* A sparse index.json over the limit is refused unread. */
    make_layout_dirs("huge-index");
    snprintf(name, sizeof(name), "%s/huge-index/index.json", temp_dir);
    fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)1 << 40), 0);
    close(fd);
    assert_null(open_layout("huge-index", NULL, errbuf, sizeof(errbuf)));
    assert_non_null(strstr(errbuf, "over"));

    /* index.json gives a size no file has: the manifest is not read. */
    char digest[IMAGE_REF_DIGEST_MAX + 1], body[512];
    struct registry_manifest fetched;
    struct image_source *source;
    make_layout_dirs("lying-size");
    write_blob("lying-size", "{\"schemaVersion\":2}", digest);
    snprintf(body, sizeof(body),
             "{\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
             "\"size\":1125899906842624}]}",
             MEDIA_TYPE_OCI_MANIFEST, digest);
    write_file("lying-size/index.json", body, strlen(body));
    source = open_layout("lying-size", NULL, errbuf, sizeof(errbuf));
    assert_non_null(source);
    assert_int_equal(source->ops->fetch_manifest(source, source->reference,
                                                 &fetched, errbuf,
                                                 sizeof(errbuf)),
                     REGISTRY_INVALID_RESPONSE);
    assert_null(fetched.body);
    image_source_free(source);

    make_layout_dirs("two");
    write_file("two/index.json",
               "{\"manifests\":[{\"digest\":\"sha256:a\"},{}]}", 40);
    assert_null(open_layout("two", NULL, errbuf, sizeof(errbuf)));
    assert_non_null(strstr(errbuf, "name one as oci:DIR:TAG"));
}

/* The workers' entry point builds registry sources only: an event whose
 * image names a local archive or layout must not make it open either.
 * Every name here is invalid as a registry reference, so no test reaches
 * for a network host. */
static void test_worker_scan_never_opens_local_paths(void **state)
{
    char digest[IMAGE_REF_DIGEST_MAX + 1], archive[512], layout[512];
    char events[4096];
    struct scan_options options;
    int watcher;

    (void)state;
    write_docker_archive("event.tar", 0, layer_bytes);
    write_nested_layout("event-layout", digest);
    snprintf(archive, sizeof(archive), "%s", path_in_temp("event.tar"));
    snprintf(layout, sizeof(layout), "%s", path_in_temp("event-layout"));
    watcher = inotify_init1(IN_NONBLOCK);
    assert_true(watcher >= 0);
    assert_true(inotify_add_watch(watcher, archive, IN_OPEN | IN_ACCESS) >= 0);
    assert_true(inotify_add_watch(watcher, layout, IN_OPEN | IN_ACCESS) >= 0);

    char docker_source[600], oci_source[600];
    snprintf(docker_source, sizeof(docker_source), "docker-archive:%s",
             archive);
    snprintf(oci_source, sizeof(oci_source), "oci:%s", layout);
    struct {
        char *registry, *repository;
    } events_named[] = {
        {NULL, docker_source},
        {NULL, oci_source},
        {docker_source, "app"},
        {oci_source, "app"},
    };

    memset(&options, 0, sizeof(options));
    for (size_t i = 0; i < sizeof(events_named) / sizeof(events_named[0]);
         i++) {
        struct scan_request request;
        struct scan_result result;

        memset(&request, 0, sizeof(request));
        memset(&result, 0, sizeof(result));
        request.image.registry = events_named[i].registry;
        request.image.repository = events_named[i].repository;
        assert_int_equal(scan_image(&options, &request, &result), 0);
        assert_int_not_equal(result.status, SCAN_STATUS_SCANNED);
        free(result.status_detail);
    }
    if (read(watcher, events, sizeof(events)) > 0)
        fail_msg("a scan of an event opened a local path");
    close(watcher);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_archive_reads_manifest_config_and_layer),
        cmocka_unit_test(test_docker_archive_gzipped),
        cmocka_unit_test(test_docker_archive_tampered_layer),
        cmocka_unit_test(test_docker_archive_without_manifest_json),
        cmocka_unit_test(test_docker_archive_rejects_names_outside),
        cmocka_unit_test(test_docker_archive_rejects_huge_and_odd_manifests),
        cmocka_unit_test(test_docker_archive_config_changed_after_save),
        cmocka_unit_test(test_oci_layout_finds_tag_in_nested_index),
        cmocka_unit_test(test_oci_layout_hostile_blobs),
        cmocka_unit_test(test_oci_layout_hostile_index),
        cmocka_unit_test(test_worker_scan_never_opens_local_paths),
    };

    return cmocka_run_group_tests(tests, make_temp_dir, remove_temp_dir);
}
