/*
 * The vulnerability database: loading OSV records from a directory tree, a
 * zip archive or one file, the caps on each size and count, the index, and
 * CVE records. Hand-written records are in tests/data/osv and
 * tests/data/cve, and real ones under $IMGASSURE_FIXTURES.
 */
#include <dirent.h>
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
#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "osv_record.h"
#include "vulndb.h"

#define RECORDS_DIR "tests/data/osv/records"
#define MALFORMED_DIR "tests/data/osv/malformed"
#define CVE_DIR "tests/data/cve"

static char errbuf[1024];

/* Loading helpers ----------------------------------------------------- */

static struct vulndb_config config_for(const char *osv_path,
                                       const char *cve_path)
{
    struct vulndb_config config = {.osv_path = osv_path, .cve_path = cve_path};
    vulndb_limits_default(&config.limits);
    return config;
}

static struct vulndb *load_config(const struct vulndb_config *config)
{
    struct vulndb *db = NULL;
    if (vulndb_load(config, &db, errbuf, sizeof(errbuf)) != 0)
        fail_msg("loading %s failed: %s", config->osv_path, errbuf);
    assert_non_null(db);
    return db;
}

static struct vulndb *load(const char *osv_path, const char *cve_path)
{
    struct vulndb_config config = config_for(osv_path, cve_path);
    return load_config(&config);
}

static void load_fails(const struct vulndb_config *config, const char *expected)
{
    struct vulndb *db = (struct vulndb *)&db;

    errbuf[0] = '\0';
    assert_int_equal(vulndb_load(config, &db, errbuf, sizeof(errbuf)), -1);
    assert_null(db);
    if (!strstr(errbuf, expected))
        fail_msg("message \"%s\" lacks \"%s\"", errbuf, expected);
}

static const struct vulndb_affected *
find_one(const struct vulndb *db, const char *ecosystem, const char *name)
{
    const struct vulndb_affected *entries;
    size_t count = vulndb_find(db, ecosystem, name, &entries);
    if (count != 1)
        fail_msg("%s %s: %zu entries, expected 1", ecosystem, name, count);
    return entries;
}

/* Temporary trees ----------------------------------------------------- */

static void make_temp_dir(char *path, size_t size)
{
    snprintf(path, size, "/tmp/imgassure-vulndb-XXXXXX");
    assert_non_null(mkdtemp(path));
}

static void write_file(const char *directory, const char *name,
                       const char *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", directory, name);
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
}

static void write_text(const char *directory, const char *name,
                       const char *text)
{
    write_file(directory, name, text, strlen(text));
}

static void remove_tree(const char *path)
{
    struct stat info;
    if (lstat(path, &info) != 0)
        return;
    if (S_ISDIR(info.st_mode)) {
        DIR *directory = opendir(path);
        assert_non_null(directory);
        struct dirent *entry;
        while ((entry = readdir(directory)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 ||
                strcmp(entry->d_name, "..") == 0)
                continue;
            char child[4096];
            snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
            remove_tree(child);
        }
        closedir(directory);
        rmdir(path);
        return;
    }
    unlink(path);
}

struct zip_member {
    const char *name;
    const char *data;
    size_t size;
};

static void write_zip(const char *path, const struct zip_member *members,
                      size_t count)
{
    struct archive *archive = archive_write_new();
    assert_non_null(archive);
    assert_int_equal(archive_write_set_format_zip(archive), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(archive, path), ARCHIVE_OK);

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
    assert_int_equal(archive_write_close(archive), ARCHIVE_OK);
    archive_write_free(archive);
}

static char *read_text(const char *path, size_t *size)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        fail_msg("cannot open %s", path);
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

/* A generated record --------------------------------------------------- */

struct record_shape {
    size_t affected;
    size_t ranges;
    size_t events;
    size_t versions;
    size_t ids;
    size_t name_bytes;
};

/* Returns the JSON text of a record with the given counts, which the
 * caller frees. Its package is "shapesrc" in Debian:12, padded with 'x'
 * to name_bytes. */
static char *record_text(const char *id, const struct record_shape *shape)
{
    json_t *upstream = json_array();
    for (size_t i = 0; i < shape->ids; i++)
        json_array_append_new(upstream,
                              json_sprintf("CVE-2099-%05zu", 10000 + i));

    char *name = calloc(1, shape->name_bytes + 16);
    assert_non_null(name);
    strcpy(name, "shapesrc");
    for (size_t i = strlen(name); i < shape->name_bytes; i++)
        name[i] = 'x';

    json_t *affected = json_array();
    for (size_t a = 0; a < shape->affected; a++) {
        json_t *ranges = json_array();
        for (size_t r = 0; r < shape->ranges; r++) {
            json_t *events = json_array();
            json_array_append_new(events,
                                  json_pack("{s:s}", "introduced", "0"));
            for (size_t e = 1; e < shape->events; e++)
                json_array_append_new(
                    events,
                    json_pack("{s:o}", "fixed", json_sprintf("1.%zu-1", e)));
            json_array_append_new(
                ranges,
                json_pack("{s:s,s:o}", "type", "ECOSYSTEM", "events", events));
        }
        json_t *versions = json_array();
        for (size_t v = 0; v < shape->versions; v++)
            json_array_append_new(versions, json_sprintf("0.%zu-1", v));
        json_array_append_new(
            affected, json_pack("{s:{s:s,s:s},s:o,s:o}", "package", "ecosystem",
                                "Debian:12", "name", name, "ranges", ranges,
                                "versions", versions));
    }

    json_t *record =
        json_pack("{s:s,s:s,s:s,s:o,s:o}", "schema_version", "1.6.0", "id", id,
                  "modified", "2099-01-01T00:00:00Z", "upstream", upstream,
                  "affected", affected);
    assert_non_null(record);
    char *text = json_dumps(record, JSON_COMPACT);
    assert_non_null(text);
    json_decref(record);
    free(name);
    return text;
}

static const struct record_shape small_shape = {1, 1, 2, 1, 1, 8};

/* Loads a directory holding one generated record under tight limits and
 * returns the database. */
static struct vulndb *load_shape(const struct record_shape *shape,
                                 const struct vulndb_limits *limits)
{
    char directory[64];
    make_temp_dir(directory, sizeof(directory));
    char *text = record_text("DEBIAN-CVE-2099-0001", shape);
    write_text(directory, "record.json", text);
    free(text);

    struct vulndb_config config = config_for(directory, NULL);
    config.limits = *limits;
    struct vulndb *db = load_config(&config);
    remove_tree(directory);
    return db;
}

/* Loading a directory tree -------------------------------------------- */

static void loads_directory_tree_with_counts(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);
    const struct vulndb_stats *stats = vulndb_stats(db);

    assert_int_equal(stats->files, 18);
    assert_int_equal(stats->records, 15);
    assert_int_equal(stats->records_withdrawn, 1);
    assert_int_equal(stats->records_invalid, 0);
    assert_int_equal(stats->records_duplicate, 1);
    assert_int_equal(stats->records_unsupported, 1);
    assert_int_equal(stats->ranges_ignored, 3);
    assert_int_equal(stats->vectors_invalid, 1);
    assert_int_equal(stats->cve_records, 0);
    assert_string_equal(stats->first_problem, "");
    vulndb_free(db);
}

static void indexes_by_ecosystem_and_package(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);
    const struct vulndb_affected *entries;

    assert_int_equal(vulndb_find(db, "Debian:12", "mergesrc", &entries), 2);
    assert_string_equal(entries[0].advisory->id, "DEBIAN-CVE-2099-1001");
    assert_string_equal(entries[1].advisory->id, "DSA-9001-1");
    assert_int_equal(entries[0].scheme, VERSION_SCHEME_DPKG);

    const struct vulndb_affected *old = find_one(db, "Debian:11", "mergesrc");
    assert_string_equal(old->advisory->id, "DSA-9001-1");
    assert_string_equal(old->ranges[0].events[1].version, "1.1-1+deb11u1");

    const struct vulndb_affected *alpine =
        find_one(db, "Alpine:v3.10", "apksrc");
    assert_int_equal(alpine->scheme, VERSION_SCHEME_APK);

    assert_int_equal(vulndb_find(db, "Debian:12", "nosuchsrc", &entries), 0);
    assert_null(entries);
    assert_int_equal(vulndb_find(db, "PyPI", "examplepkg", &entries), 0);
    assert_int_equal(vulndb_find(db, "Debian:13", "mergesrc", &entries), 0);

    assert_true(vulndb_has_ecosystem(db, "Debian:12"));
    assert_true(vulndb_has_ecosystem(db, "Alpine:v3.10"));
    assert_false(vulndb_has_ecosystem(db, "Debian:13"));
    assert_false(vulndb_has_ecosystem(db, "Debian:1"));
    assert_false(vulndb_has_ecosystem(db, "Ubuntu:24.04"));
    assert_false(vulndb_has_ecosystem(db, ""));
    vulndb_free(db);
}

static void sorts_range_events_by_version(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);
    const struct vulndb_affected *entry = find_one(db, "Debian:12", "rangesrc");

    /* The SEMVER range is not kept, the two ECOSYSTEM ranges are. */
    assert_int_equal(entry->range_count, 2);
    const struct vulndb_range *range = &entry->ranges[0];
    assert_int_equal(range->event_count, 4);
    assert_int_equal(range->events[0].kind, VULNDB_EVENT_INTRODUCED);
    assert_string_equal(range->events[0].version, "1.0-1");
    assert_int_equal(range->events[1].kind, VULNDB_EVENT_FIXED);
    assert_string_equal(range->events[1].version, "1.5-1");
    assert_int_equal(range->events[2].kind, VULNDB_EVENT_INTRODUCED);
    assert_string_equal(range->events[2].version, "2.0-1");
    assert_int_equal(range->events[3].kind, VULNDB_EVENT_FIXED);
    assert_string_equal(range->events[3].version, "2.5-1");

    const struct vulndb_affected *limited =
        find_one(db, "Debian:12", "limitsrc");
    assert_int_equal(limited->ranges[0].events[0].kind,
                     VULNDB_EVENT_INTRODUCED);
    assert_int_equal(limited->ranges[0].events[1].kind, VULNDB_EVENT_LIMIT);
    assert_int_equal(limited->ranges[0].events[2].kind, VULNDB_EVENT_FIXED);
    assert_int_equal(limited->ranges[1].events[1].kind, VULNDB_EVENT_LIMIT);
    assert_string_equal(limited->ranges[1].events[1].version, "*");
    vulndb_free(db);
}

static void derives_vulnerability_ids_and_aliases(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);

    const struct vulndb_advisory *dsa =
        find_one(db, "Debian:11", "mergesrc")->advisory;
    assert_int_equal(dsa->vulnerability_id_count, 2);
    assert_string_equal(dsa->vulnerability_ids[0], "CVE-2099-1001");
    assert_string_equal(dsa->vulnerability_ids[1], "CVE-2099-1002");
    assert_int_equal(dsa->alias_count, 0);

    const struct vulndb_affected *entries;
    assert_int_equal(vulndb_find(db, "Ubuntu:22.04", "ubusrc", &entries), 2);
    const struct vulndb_advisory *usn = entries[1].advisory;
    assert_string_equal(usn->id, "USN-9101-1");
    assert_int_equal(usn->vulnerability_id_count, 1);
    assert_string_equal(usn->vulnerability_ids[0], "CVE-2099-1101");

    assert_int_equal(vulndb_find(db, "Debian:12", "aliassrc", &entries), 2);
    const struct vulndb_advisory *osv = entries[1].advisory;
    assert_string_equal(osv->id, "OSV-2099-7");
    assert_int_equal(osv->vulnerability_id_count, 1);
    assert_string_equal(osv->vulnerability_ids[0], "CVE-2099-3001");
    assert_int_equal(osv->alias_count, 1);
    assert_string_equal(osv->aliases[0], "GHSA-aaaa-bbbb-cccc");
    vulndb_free(db);
}

static void keeps_distro_ratings_and_best_vector(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);
    const struct vulndb_affected *entries;

    assert_int_equal(vulndb_find(db, "Debian:12", "mergesrc", &entries), 2);
    assert_string_equal(entries[0].distro_rating, "medium");
    assert_null(entries[1].distro_rating);
    assert_null(entries[1].advisory->distro_rating);

    assert_int_equal(vulndb_find(db, "Debian:12", "aliassrc", &entries), 2);
    assert_string_equal(entries[0].distro_rating, "low**");
    assert_string_equal(entries[1].advisory->cvss_vector,
                        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
    assert_null(entries[1].cvss_vector);

    assert_string_equal(find_one(db, "Debian:12", "dbspecsrc")->distro_rating,
                        "high");
    assert_int_equal(vulndb_find(db, "Ubuntu:22.04", "ubusrc", &entries), 2);
    assert_string_equal(entries[0].advisory->distro_rating, "high");
    vulndb_free(db);
}

static void drops_ubuntu_lts_suffix_and_keeps_pro_apart(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);
    const struct vulndb_affected *entries;

    assert_int_equal(vulndb_find(db, "Ubuntu:22.04", "ubusrc", &entries), 2);
    assert_string_equal(entries[0].ecosystem, "Ubuntu:22.04");
    assert_int_equal(vulndb_find(db, "Ubuntu:22.04:LTS", "ubusrc", &entries),
                     0);
    const struct vulndb_affected *pro =
        find_one(db, "Ubuntu:Pro:22.04", "ubusrc");
    assert_string_equal(pro->advisory->id, "UBUNTU-CVE-2099-1101");
    vulndb_free(db);
}

static void skips_hidden_and_other_files(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);
    const struct vulndb_affected *entries;

    assert_int_equal(vulndb_find(db, "Debian:12", "hiddensrc", &entries), 0);
    vulndb_free(db);
}

static void keeps_newest_of_repeated_ids(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);
    const struct vulndb_affected *entry = find_one(db, "Debian:12", "dupsrc");

    assert_int_equal(entry->ranges[0].event_count, 2);
    assert_string_equal(entry->ranges[0].events[1].version, "1.0-1");
    vulndb_free(db);
}

static void ignores_withdrawn_records(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);
    const struct vulndb_affected *entries;

    assert_int_equal(vulndb_find(db, "Debian:12", "withdrawnsrc", &entries), 0);
    assert_int_equal(vulndb_stats(db)->records_withdrawn, 1);
    vulndb_free(db);
}

static void reports_build_time_and_version(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, NULL);
    struct vulndb *again = load(RECORDS_DIR, NULL);
    struct vulndb *other = load(MALFORMED_DIR, NULL);
    int64_t expected_ms = 0;

    assert_int_equal(osv_time_parse("2099-03-01T00:00:00.123Z", &expected_ms),
                     0);
    assert_int_equal(vulndb_built_at_ms(db), expected_ms);

    const char *version = vulndb_version(db);
    assert_int_equal(strncmp(version, "osv-20990301T000000Z-", 21), 0);
    assert_int_equal(strlen(version), 21 + 12);
    assert_int_equal(strspn(version + 21, "0123456789abcdef"), 12);
    assert_string_equal(vulndb_version(again), version);
    assert_string_not_equal(vulndb_version(other), version);

    vulndb_free(db);
    vulndb_free(again);
    vulndb_free(other);
}

/* Malformed records ---------------------------------------------------- */

static void skips_every_malformed_record(void **state)
{
    (void)state;
    struct vulndb *db = load(MALFORMED_DIR, NULL);
    const struct vulndb_stats *stats = vulndb_stats(db);

    assert_int_equal(stats->records, 1);
    assert_int_equal(stats->records_invalid, 19);
    assert_non_null(strstr(stats->first_problem, "01-truncated-json.json"));
    assert_non_null(strstr(stats->first_problem, "invalid JSON"));
    find_one(db, "Debian:12", "badsrc");
    vulndb_free(db);
}

static void names_the_reason_for_each_malformed_record(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        const char *reason;
    } cases[] = {
        {"01-truncated-json.json", "invalid JSON"},
        {"02-array-root.json", "not a JSON object"},
        {"03-missing-id.json", "id is not a string"},
        {"04-missing-modified.json", "modified is not a string"},
        {"05-modified-not-a-time.json", "is not an RFC 3339 time"},
        {"06-schema-version-2.json", "is not 1.x"},
        {"07-event-with-two-kinds.json", "exactly one of"},
        {"08-range-without-introduced.json", "no introduced event"},
        {"09-affected-without-package.json", "no package object"},
        {"10-aliases-not-array.json", "aliases is not an array"},
        {"11-control-character-in-id.json", "control character"},
        {"12-empty-id.json", "id is empty"},
        {"13-unknown-event-key.json", "unknown key"},
        {"14-empty-events.json", "no events array"},
        {"15-version-not-a-string.json", "introduced is not a string"},
        {"16-binary-garbage.json", "invalid JSON"},
        {"17-withdrawn-not-a-time.json", "withdrawn is not"},
        {"18-empty-file.json", "invalid JSON"},
        {"19-range-without-type.json", "not an object with a type"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", MALFORMED_DIR, cases[i].file);
        struct vulndb *db = load(path, NULL);
        const struct vulndb_stats *stats = vulndb_stats(db);
        if (stats->records_invalid != 1 || stats->records != 0)
            fail_msg("%s: %zu invalid, %zu loaded", cases[i].file,
                     stats->records_invalid, stats->records);
        if (!strstr(stats->first_problem, cases[i].reason))
            fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].file,
                     stats->first_problem, cases[i].reason);
        vulndb_free(db);
    }
}

/* jansson stops at 2048 levels, so deep nesting fails as one record. */
static void skips_deeply_nested_json(void **state)
{
    (void)state;
    char directory[64];
    size_t depth = 1000000;
    char *text = malloc(depth);
    assert_non_null(text);
    memset(text, '[', depth);
    make_temp_dir(directory, sizeof(directory));
    write_file(directory, "deep.json", text, depth);
    free(text);

    struct vulndb *db = load(directory, NULL);
    assert_int_equal(vulndb_stats(db)->records_invalid, 1);
    assert_non_null(strstr(vulndb_stats(db)->first_problem, "depth"));
    vulndb_free(db);
    remove_tree(directory);
}

static void rejects_paths_it_cannot_read(void **state)
{
    (void)state;
    struct vulndb_config config =
        config_for("tests/data/osv/no-such-dir", NULL);
    load_fails(&config, "No such file or directory");

    config = config_for(RECORDS_DIR "/README.txt", NULL);
    load_fails(&config, "expected a directory, a .zip or a .json file");

    config = config_for(RECORDS_DIR, "tests/data/no-such-cve-dir");
    load_fails(&config, "no-such-cve-dir");

    config = config_for(NULL, NULL);
    load_fails(&config, "osv_path is missing");

    config = config_for(RECORDS_DIR, NULL);
    config.limits.max_records = 0;
    load_fails(&config, "a limit is zero");
}

/* Zip archives ---------------------------------------------------------- */

/* Reads the non-hidden .json files of the records tree, as zip members. */
static size_t records_as_members(struct zip_member *members, size_t capacity)
{
    static const char *const names[] = {
        "ALPINE-CVE-2099-1301.json",
        "DEBIAN-CVE-2099-1001.json",
        "DEBIAN-CVE-2099-1202.json",
        "DEBIAN-CVE-2099-1401.json",
        "DEBIAN-CVE-2099-3001.json",
        "DEBIAN-CVE-2099-4001.json",
        "DEBIAN-CVE-2099-5001.json",
        "DEBIAN-CVE-2099-6001.json",
        "DEBIAN-CVE-2099-7001.json",
        "DEBIAN-CVE-2099-8001.json",
        "DEBIAN-CVE-2099-9001.json",
        "DSA-9001-1.json",
        "OSV-2099-7.json",
        "PYSEC-2099-1.json",
        "UBUNTU-CVE-2099-1101.json",
        "USN-9101-1.json",
        "b/DEBIAN-CVE-2099-1501.json",
        "a/DEBIAN-CVE-2099-1501.json",
    };
    size_t count = sizeof(names) / sizeof(names[0]);
    assert_true(count <= capacity);

    for (size_t i = 0; i < count; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", RECORDS_DIR, names[i]);
        members[i].name = names[i];
        members[i].data = read_text(path, &members[i].size);
    }
    return count;
}

static void free_members(struct zip_member *members, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free((char *)members[i].data);
}

static void zip_loads_like_its_directory(void **state)
{
    (void)state;
    char directory[64];
    char zip_path[128];
    struct zip_member members[32];
    make_temp_dir(directory, sizeof(directory));
    snprintf(zip_path, sizeof(zip_path), "%s/all.zip", directory);
    size_t count = records_as_members(members, 32);
    write_zip(zip_path, members, count);
    free_members(members, count);

    struct vulndb *from_zip = load(zip_path, NULL);
    struct vulndb *from_tree = load(RECORDS_DIR, NULL);
    const struct vulndb_stats *stats = vulndb_stats(from_zip);
    assert_int_equal(stats->files, 18);
    assert_int_equal(stats->records, 15);
    assert_int_equal(stats->records_duplicate, 1);
    assert_string_equal(vulndb_version(from_zip), vulndb_version(from_tree));
    assert_int_equal(
        find_one(from_zip, "Debian:12", "dupsrc")->ranges[0].event_count, 2);

    vulndb_free(from_zip);
    vulndb_free(from_tree);
    remove_tree(directory);
}

/* A member of 16 MiB of blanks deflates to a few kilobytes. */
static char *blank_bytes(size_t size)
{
    char *data = malloc(size);
    assert_non_null(data);
    memset(data, ' ', size);
    return data;
}

static void zip_skips_member_over_file_cap(void **state)
{
    (void)state;
    char directory[64];
    char zip_path[128];
    make_temp_dir(directory, sizeof(directory));
    snprintf(zip_path, sizeof(zip_path), "%s/bomb.zip", directory);

    size_t big = 16 * 1024 * 1024;
    char *blanks = blank_bytes(big);
    char *good = record_text("DEBIAN-CVE-2099-0001", &small_shape);
    struct zip_member members[] = {
        {"bomb.json", blanks, big},
        {"good.json", good, strlen(good)},
    };
    write_zip(zip_path, members, 2);
    free(blanks);
    free(good);

    struct vulndb_config config = config_for(zip_path, NULL);
    config.limits.max_file_bytes = 1024 * 1024;
    struct vulndb *db = load_config(&config);
    assert_int_equal(vulndb_stats(db)->records_invalid, 1);
    assert_int_equal(vulndb_stats(db)->records, 1);
    assert_non_null(strstr(vulndb_stats(db)->first_problem,
                           "bomb.zip:bomb.json: larger than max_file_bytes"));
    vulndb_free(db);
    remove_tree(directory);
}

static void zip_bomb_stops_at_total_cap(void **state)
{
    (void)state;
    char directory[64];
    char zip_path[128];
    make_temp_dir(directory, sizeof(directory));
    snprintf(zip_path, sizeof(zip_path), "%s/bomb.zip", directory);

    size_t each = 3 * 1024 * 1024;
    char *blanks = blank_bytes(each);
    struct zip_member members[] = {
        {"one.json", blanks, each},
        {"two.json", blanks, each},
        {"three.json", blanks, each},
    };
    write_zip(zip_path, members, 3);
    free(blanks);

    struct vulndb_config config = config_for(zip_path, NULL);
    config.limits.max_total_bytes = 8 * 1024 * 1024;
    load_fails(&config, "more than 8388608 bytes of data after decompression");
    remove_tree(directory);
}

static void zip_stops_at_entry_cap(void **state)
{
    (void)state;
    char directory[64];
    char zip_path[128];
    make_temp_dir(directory, sizeof(directory));
    snprintf(zip_path, sizeof(zip_path), "%s/many.zip", directory);

    struct zip_member members[6];
    char names[6][32];
    for (size_t i = 0; i < 6; i++) {
        snprintf(names[i], sizeof(names[i]), "notes-%zu.txt", i);
        members[i].name = names[i];
        members[i].data = "x";
        members[i].size = 1;
    }
    write_zip(zip_path, members, 6);

    struct vulndb_config config = config_for(zip_path, NULL);
    config.limits.max_files = 5;
    load_fails(&config, "more than 5 files and entries");
    config.limits.max_files = 6;
    vulndb_free(load_config(&config));
    remove_tree(directory);
}

static void rejects_corrupt_zip(void **state)
{
    (void)state;
    char directory[64];
    char zip_path[128];
    make_temp_dir(directory, sizeof(directory));
    write_text(directory, "broken.zip", "PK\003\004 this is not a zip archive");
    snprintf(zip_path, sizeof(zip_path), "%s/broken.zip", directory);

    struct vulndb_config config = config_for(zip_path, NULL);
    load_fails(&config, "broken.zip");
    remove_tree(directory);
}

/* Caps ------------------------------------------------------------------ */

static void skips_file_over_size_cap(void **state)
{
    (void)state;
    struct vulndb_config config = config_for(RECORDS_DIR, NULL);
    config.limits.max_file_bytes = 400;
    struct vulndb *db = load_config(&config);

    /* Eight of the tree's files are over 400 bytes. */
    assert_int_equal(vulndb_stats(db)->records_invalid, 8);
    assert_non_null(strstr(vulndb_stats(db)->first_problem,
                           "larger than max_file_bytes (400)"));
    vulndb_free(db);
}

static void stops_at_total_bytes_cap(void **state)
{
    (void)state;
    struct vulndb_config config = config_for(RECORDS_DIR, NULL);
    config.limits.max_total_bytes = 2000;
    load_fails(&config, "more than 2000 bytes of data");
}

static void stops_at_file_count_cap(void **state)
{
    (void)state;
    struct vulndb_config config = config_for(RECORDS_DIR, NULL);
    config.limits.max_files = 10;
    load_fails(&config, "more than 10 files and entries");
}

static void stops_at_directory_depth_cap(void **state)
{
    (void)state;
    struct vulndb_config config = config_for(RECORDS_DIR, NULL);
    config.limits.max_depth = 0;
    load_fails(&config, "nested deeper than 0 levels");
    config.limits.max_depth = 1;
    vulndb_free(load_config(&config));
}

static void stops_at_record_count_cap(void **state)
{
    (void)state;
    struct vulndb_config config = config_for(RECORDS_DIR, NULL);
    config.limits.max_records = 17;
    load_fails(&config, "more than 17 records");
    config.limits.max_records = 18;
    vulndb_free(load_config(&config));
}

/* Loads the shape under limits and checks that the record was skipped
 * for the expected reason, or kept when within the limits. */
static void check_record_cap(const struct record_shape *shape,
                             const struct vulndb_limits *limits, bool kept,
                             const char *reason)
{
    struct vulndb *db = load_shape(shape, limits);
    const struct vulndb_stats *stats = vulndb_stats(db);

    if (kept) {
        if (stats->records != 1)
            fail_msg("record skipped: %s", stats->first_problem);
    } else {
        assert_int_equal(stats->records, 0);
        assert_int_equal(stats->records_invalid, 1);
        if (!strstr(stats->first_problem, reason))
            fail_msg("\"%s\" lacks \"%s\"", stats->first_problem, reason);
    }
    vulndb_free(db);
}

static void skips_record_over_each_cap(void **state)
{
    (void)state;
    struct vulndb_limits limits;
    vulndb_limits_default(&limits);
    limits.max_affected = 3;
    limits.max_ranges = 3;
    limits.max_events = 3;
    limits.max_versions = 3;
    limits.max_ids = 3;
    limits.max_string_bytes = 32;

    struct record_shape at_limits = {3, 3, 3, 3, 3, 32};
    check_record_cap(&at_limits, &limits, true, NULL);

    struct record_shape shape = at_limits;
    shape.affected = 4;
    check_record_cap(&shape, &limits, false, "affected has more than 3");
    shape = at_limits;
    shape.ranges = 4;
    check_record_cap(&shape, &limits, false, "more than 3 ranges");
    shape = at_limits;
    shape.events = 4;
    check_record_cap(&shape, &limits, false, "more than 3 events");
    shape = at_limits;
    shape.versions = 4;
    check_record_cap(&shape, &limits, false, "versions has more than 3");
    shape = at_limits;
    shape.ids = 4;
    check_record_cap(&shape, &limits, false, "upstream has more than 3");
    shape = at_limits;
    shape.name_bytes = 33;
    check_record_cap(&shape, &limits, false,
                     "package name is longer than 32 bytes");
}

static void caps_aliases_and_upstream_together(void **state)
{
    (void)state;
    char directory[64];
    make_temp_dir(directory, sizeof(directory));
    write_text(
        directory, "ids.json",
        "{\"id\": \"OSV-2099-1\", \"modified\": \"2099-01-01T00:00:00Z\","
        " \"aliases\": [\"CVE-2099-0001\", \"CVE-2099-0002\"],"
        " \"upstream\": [\"CVE-2099-0003\", \"CVE-2099-0004\"],"
        " \"affected\": [{\"package\": {\"ecosystem\": \"Debian:12\","
        " \"name\": \"idsrc\"}, \"versions\": [\"1.0-1\"]}]}");

    struct vulndb_config config = config_for(directory, NULL);
    config.limits.max_ids = 3;
    struct vulndb *db = load_config(&config);
    assert_int_equal(vulndb_stats(db)->records_invalid, 1);
    assert_non_null(strstr(vulndb_stats(db)->first_problem,
                           "aliases and upstream have more than 3 ids"));
    vulndb_free(db);

    config.limits.max_ids = 4;
    db = load_config(&config);
    assert_int_equal(vulndb_stats(db)->records, 1);
    vulndb_free(db);
    remove_tree(directory);
}

/* Ecosystems, times and ids --------------------------------------------- */

static void assert_ecosystem(const char *os_id, const char *version_id,
                             const char *expected)
{
    char out[64];
    int result = vulndb_ecosystem_for_os(os_id, version_id, out, sizeof(out));

    if (!expected) {
        if (result != -1)
            fail_msg("%s %s gave %s", os_id ? os_id : "-",
                     version_id ? version_id : "-", out);
        return;
    }
    if (result != 0)
        fail_msg("%s %s gave no ecosystem", os_id ? os_id : "-",
                 version_id ? version_id : "-");
    assert_string_equal(out, expected);
}

static void names_ecosystem_for_os_release(void **state)
{
    (void)state;
    assert_ecosystem("debian", "12", "Debian:12");
    assert_ecosystem("debian", "9", "Debian:9");
    assert_ecosystem("debian", NULL, NULL);
    assert_ecosystem("debian", "", NULL);
    assert_ecosystem("debian", "12abc", NULL);
    assert_ecosystem("ubuntu", "22.04", "Ubuntu:22.04");
    assert_ecosystem("ubuntu", "16.10", "Ubuntu:16.10");
    assert_ecosystem("ubuntu", "22", NULL);
    assert_ecosystem("ubuntu", "22.04.3", NULL);
    assert_ecosystem("alpine", "3.10.4", "Alpine:v3.10");
    assert_ecosystem("alpine", "3.21.0", "Alpine:v3.21");
    assert_ecosystem("alpine", "3.21_alpha20240923", "Alpine:v3.21");
    assert_ecosystem("alpine", "3", NULL);
    assert_ecosystem("alpine", "edge", NULL);
    assert_ecosystem("fedora", "39", NULL);
    assert_ecosystem(NULL, "12", NULL);

    char small[8];
    assert_int_equal(
        vulndb_ecosystem_for_os("ubuntu", "22.04", small, sizeof(small)), -1);
}

static void maps_ecosystems_to_version_schemes(void **state)
{
    (void)state;
    enum version_scheme scheme;

    assert_int_equal(vulndb_ecosystem_scheme("Debian:12", &scheme), 0);
    assert_int_equal(scheme, VERSION_SCHEME_DPKG);
    assert_int_equal(vulndb_ecosystem_scheme("Ubuntu:22.04", &scheme), 0);
    assert_int_equal(scheme, VERSION_SCHEME_DPKG);
    assert_int_equal(vulndb_ecosystem_scheme("Alpine:v3.18", &scheme), 0);
    assert_int_equal(scheme, VERSION_SCHEME_APK);
    assert_int_equal(vulndb_ecosystem_scheme("Debian", &scheme), -1);
    assert_int_equal(vulndb_ecosystem_scheme("Debian:", &scheme), -1);
    assert_int_equal(vulndb_ecosystem_scheme("PyPI", &scheme), -1);
    assert_int_equal(vulndb_ecosystem_scheme("Red Hat:rhel_aus:8.4", &scheme),
                     -1);
}

static void parses_rfc3339_times(void **state)
{
    (void)state;
    int64_t ms = 0;

    assert_int_equal(osv_time_parse("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(osv_time_parse("2026-12-04T00:00:00Z", &ms), 0);
    assert_int_equal(ms, INT64_C(1796342400000));
    assert_int_equal(osv_time_parse("2025-10-13T15:48:05.749899Z", &ms), 0);
    assert_int_equal(ms % 1000, 749);
    assert_int_equal(osv_time_parse("1970-01-01T02:00:00+02:00", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(osv_time_parse("1970-01-01t00:00:01.5z", &ms), 0);
    assert_int_equal(ms, 1500);

    assert_int_equal(osv_time_parse("2026-12-04", &ms), -1);
    assert_int_equal(osv_time_parse("2026-13-04T00:00:00Z", &ms), -1);
    assert_int_equal(osv_time_parse("2026-12-04T00:00:00", &ms), -1);
    assert_int_equal(osv_time_parse("2026-12-04T00:00:00Zjunk", &ms), -1);
    assert_int_equal(osv_time_parse("2026-12-04T24:00:00Z", &ms), -1);
    assert_int_equal(osv_time_parse("", &ms), -1);
}

static void finds_cve_ids_in_advisory_ids(void **state)
{
    (void)state;
    const char *debian = "DEBIAN-CVE-2023-4911";

    assert_string_equal(osv_cve_suffix("CVE-2023-4911"), "CVE-2023-4911");
    assert_ptr_equal(osv_cve_suffix(debian), debian + 7);
    assert_string_equal(osv_cve_suffix("UBUNTU-CVE-2019-1010022"),
                        "CVE-2019-1010022");
    assert_null(osv_cve_suffix("DSA-5514-1"));
    assert_null(osv_cve_suffix("USN-6409-1"));
    assert_null(osv_cve_suffix("XCVE-2023-4911"));
    assert_null(osv_cve_suffix("CVE-2023-49"));
    assert_null(osv_cve_suffix("CVE-23-4911"));
    assert_null(osv_cve_suffix("CVE-2023-4911-1"));
    assert_null(osv_cve_suffix("cve-2023-4911"));
}

/* CVE records ------------------------------------------------------------ */

static void loads_cve_records(void **state)
{
    (void)state;
    struct vulndb *db = load(RECORDS_DIR, CVE_DIR);
    const struct vulndb_stats *stats = vulndb_stats(db);

    assert_int_equal(stats->cve_records, 4);
    assert_int_equal(stats->cve_records_invalid, 1);
    assert_non_null(strstr(stats->first_problem, "broken-id.json"));

    const struct vulndb_cve *cve = vulndb_find_cve(db, "CVE-2099-1001");
    assert_non_null(cve);
    assert_string_equal(cve->cvss_vector,
                        "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H");
    assert_null(cve->cna_severity);

    cve = vulndb_find_cve(db, "CVE-2099-1101");
    assert_non_null(cve);
    assert_string_equal(cve->cvss_vector,
                        "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N");

    cve = vulndb_find_cve(db, "CVE-2099-5001");
    assert_non_null(cve);
    assert_null(cve->cvss_vector);
    assert_string_equal(cve->cna_severity, "MODERATE");

    assert_null(vulndb_find_cve(db, "CVE-2099-9999"));
    assert_null(vulndb_find_cve(db, "CVE-2099-0000"));

    struct vulndb *without = load(RECORDS_DIR, NULL);
    assert_string_not_equal(vulndb_version(db), vulndb_version(without));
    vulndb_free(without);
    vulndb_free(db);
}

/* Fixtures ---------------------------------------------------------------- */

static const char *fixture_path(const char *relative, char *path, size_t size)
{
    const char *root = getenv("IMGASSURE_FIXTURES");
    if (!root || !*root)
        root = "../shared/fixtures";
    snprintf(path, size, "%s/%s", root, relative);

    struct stat info;
    if (stat(path, &info) != 0) {
        print_message("skipped: fixture %s not found (set IMGASSURE_FIXTURES "
                      "to the fixtures folder)\n",
                      path);
        skip();
    }
    return path;
}

static void loads_fixture_osv_databases(void **state)
{
    (void)state;
    char debian[4096];
    char alpine[4096];
    fixture_path("osv/Debian", debian, sizeof(debian));
    fixture_path("osv/Alpine", alpine, sizeof(alpine));

    struct vulndb *db = load(debian, NULL);
    assert_int_equal(vulndb_stats(db)->records, 24);
    assert_int_equal(vulndb_stats(db)->records_invalid, 0);
    const struct vulndb_affected *entries;
    assert_int_equal(vulndb_find(db, "Debian:12", "glibc", &entries), 6);
    vulndb_free(db);

    db = load(alpine, NULL);
    assert_int_equal(vulndb_stats(db)->records, 330);
    assert_int_equal(vulndb_stats(db)->records_invalid, 0);
    const struct vulndb_affected *openssl = NULL;
    size_t count = vulndb_find(db, "Alpine:v3.10", "openssl", &openssl);
    assert_int_equal(count, 14);
    int64_t expected_ms;
    assert_int_equal(osv_time_parse("2026-12-04T00:00:00Z", &expected_ms), 0);
    assert_int_equal(vulndb_built_at_ms(db), expected_ms);
    vulndb_free(db);
}

/* Every vector INDEX.tsv lists is the one the loader picks. */
static void picks_fixture_cve_vectors_as_index_lists(void **state)
{
    (void)state;
    char directory[4096];
    char index_path[4200];
    fixture_path("cve", directory, sizeof(directory));
    snprintf(index_path, sizeof(index_path), "%s/INDEX.tsv", directory);

    struct vulndb *db = load(RECORDS_DIR, directory);
    assert_int_equal(vulndb_stats(db)->cve_records, 121);
    assert_int_equal(vulndb_stats(db)->cve_records_invalid, 0);

    FILE *index = fopen(index_path, "r");
    assert_non_null(index);
    char line[2048];
    size_t with_vector = 0;
    while (fgets(line, sizeof(line), index)) {
        char *fields[6] = {0};
        char *cursor = line;
        for (size_t i = 0; i < 6 && cursor; i++) {
            fields[i] = cursor;
            cursor = strchr(cursor, '\t');
            if (cursor)
                *cursor++ = '\0';
        }
        if (strncmp(line, "CVE-", 4) != 0)
            continue;
        const struct vulndb_cve *cve = vulndb_find_cve(db, fields[0]);
        if (!cve)
            fail_msg("%s is not loaded", fields[0]);
        if (strcmp(fields[1], "yes") == 0) {
            if (!cve->cvss_vector || strcmp(cve->cvss_vector, fields[2]) != 0)
                fail_msg("%s: vector %s, INDEX.tsv lists %s", fields[0],
                         cve->cvss_vector ? cve->cvss_vector : "none",
                         fields[2]);
            with_vector++;
        } else if (cve->cvss_vector) {
            fail_msg("%s: vector %s, INDEX.tsv lists none", fields[0],
                     cve->cvss_vector);
        }
    }
    fclose(index);
    assert_int_equal(with_vector, 34);

    assert_string_equal(vulndb_find_cve(db, "CVE-2021-23841")->cna_severity,
                        "Moderate");
    assert_string_equal(vulndb_find_cve(db, "CVE-2022-4304")->cna_severity,
                        "MODERATE");
    assert_string_equal(vulndb_find_cve(db, "CVE-2023-4911")->cna_severity,
                        "Important");
    assert_null(vulndb_find_cve(db, "CVE-2017-16544")->cna_severity);
    assert_null(vulndb_find_cve(db, "CVE-2025-31115")->cvss_vector);
    vulndb_free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_directory_tree_with_counts),
        cmocka_unit_test(indexes_by_ecosystem_and_package),
        cmocka_unit_test(sorts_range_events_by_version),
        cmocka_unit_test(derives_vulnerability_ids_and_aliases),
        cmocka_unit_test(keeps_distro_ratings_and_best_vector),
        cmocka_unit_test(drops_ubuntu_lts_suffix_and_keeps_pro_apart),
        cmocka_unit_test(skips_hidden_and_other_files),
        cmocka_unit_test(keeps_newest_of_repeated_ids),
        cmocka_unit_test(ignores_withdrawn_records),
        cmocka_unit_test(reports_build_time_and_version),
        cmocka_unit_test(skips_every_malformed_record),
        cmocka_unit_test(names_the_reason_for_each_malformed_record),
        cmocka_unit_test(skips_deeply_nested_json),
        cmocka_unit_test(rejects_paths_it_cannot_read),
        cmocka_unit_test(zip_loads_like_its_directory),
        cmocka_unit_test(zip_skips_member_over_file_cap),
        cmocka_unit_test(zip_bomb_stops_at_total_cap),
        cmocka_unit_test(zip_stops_at_entry_cap),
        cmocka_unit_test(rejects_corrupt_zip),
        cmocka_unit_test(skips_file_over_size_cap),
        cmocka_unit_test(stops_at_total_bytes_cap),
        cmocka_unit_test(stops_at_file_count_cap),
        cmocka_unit_test(stops_at_directory_depth_cap),
        cmocka_unit_test(stops_at_record_count_cap),
        cmocka_unit_test(skips_record_over_each_cap),
        cmocka_unit_test(caps_aliases_and_upstream_together),
        cmocka_unit_test(names_ecosystem_for_os_release),
        cmocka_unit_test(maps_ecosystems_to_version_schemes),
        cmocka_unit_test(parses_rfc3339_times),
        cmocka_unit_test(finds_cve_ids_in_advisory_ids),
        cmocka_unit_test(loads_cve_records),
        cmocka_unit_test(loads_fixture_osv_databases),
        cmocka_unit_test(picks_fixture_cve_vectors_as_index_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
