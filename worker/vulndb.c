#include "vulndb.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "cve_record.h"
#include "osv_record.h"
#include "record_files.h"

struct vulndb {
    struct arena *arena;
    struct vulndb_affected *affected; /* sorted by ecosystem, name, id */
    size_t affected_count;
    struct vulndb_cve *cves; /* sorted by id */
    size_t cve_count;
    struct vulndb_stats stats;
    int64_t built_at_ms;
    char version[64];
};

/* An advisory with the position it was read at, to keep the first of
 * equal candidates after an unstable sort. */
struct loaded_advisory {
    const struct vulndb_advisory *advisory;
    size_t order;
};

struct loader {
    struct vulndb *db;
    const struct vulndb_limits *limits;
    size_t record_files; /* OSV or CVE files offered, against max_records */
    struct loaded_advisory *advisories;
    size_t advisory_count;
    size_t advisory_capacity;
    size_t affected_capacity;
    size_t cve_capacity;
};

void vulndb_limits_default(struct vulndb_limits *limits)
{
    limits->max_file_bytes = 8 * 1024 * 1024;
    limits->max_total_bytes = (uint64_t)4 * 1024 * 1024 * 1024;
    limits->max_files = 2000000;
    limits->max_depth = 16;
    limits->max_records = 1000000;
    limits->max_affected = 10000;
    limits->max_ranges = 256;
    limits->max_events = 1024;
    limits->max_versions = 100000;
    limits->max_ids = 4096;
    limits->max_string_bytes = 4096;
}

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
{
    va_list args;

    if (!errbuf || errbuf_size == 0)
        return;
    va_start(args, format);
    vsnprintf(errbuf, errbuf_size, format, args);
    va_end(args);
}

/* Grows an array of element_size items to hold one more. */
static int grow(void **items, size_t count, size_t *capacity,
                size_t element_size)
{
    if (count < *capacity)
        return 0;

    size_t new_capacity = *capacity ? *capacity * 2 : 256;
    if (new_capacity > SIZE_MAX / element_size)
        return -1;
    void *grown = realloc(*items, new_capacity * element_size);
    if (!grown)
        return -1;
    *items = grown;
    *capacity = new_capacity;
    return 0;
}

/* Keeps the first problem of the load for the stats. */
static void note_problem(struct vulndb *db, const char *name,
                         const char *problem)
{
    if (db->stats.first_problem[0] == '\0')
        snprintf(db->stats.first_problem, sizeof(db->stats.first_problem),
                 "%s: %s", name, problem);
}

static int count_record_file(struct loader *loader, const char *name,
                             char *errbuf, size_t errbuf_size)
{
    if (loader->record_files >= loader->limits->max_records) {
        set_error(errbuf, errbuf_size,
                  "%s: more than %zu records (raise max_records)", name,
                  loader->limits->max_records);
        return -1;
    }
    loader->record_files++;
    return 0;
}

static int keep_advisory(struct loader *loader, const struct osv_record *record)
{
    struct vulndb *db = loader->db;

    if (grow((void **)&loader->advisories, loader->advisory_count,
             &loader->advisory_capacity, sizeof(*loader->advisories)) != 0)
        return -1;
    loader->advisories[loader->advisory_count].advisory = record->advisory;
    loader->advisories[loader->advisory_count].order = loader->advisory_count;
    loader->advisory_count++;

    for (size_t i = 0; i < record->affected_count; i++) {
        if (grow((void **)&db->affected, db->affected_count,
                 &loader->affected_capacity, sizeof(*db->affected)) != 0)
            return -1;
        db->affected[db->affected_count++] = record->affected[i];
    }
    return 0;
}

/* Files a parsed record: counted, indexed or released. */
static int file_osv_record(struct loader *loader, const char *name,
                           enum osv_record_result result,
                           const struct osv_record *record,
                           struct arena_mark mark, const char *reason)
{
    struct vulndb *db = loader->db;

    if (result == OSV_RECORD_INVALID) {
        arena_rewind(db->arena, mark);
        db->stats.records_invalid++;
        note_problem(db, name, reason);
        return 0;
    }

    if (record->advisory->modified_ms > db->built_at_ms)
        db->built_at_ms = record->advisory->modified_ms;
    db->stats.ranges_ignored += record->ranges_ignored;
    db->stats.vectors_invalid += record->vectors_invalid;

    if (result == OSV_RECORD_WITHDRAWN || record->affected_count == 0) {
        if (result == OSV_RECORD_WITHDRAWN)
            db->stats.records_withdrawn++;
        else
            db->stats.records_unsupported++;
        arena_rewind(db->arena, mark);
        return 0;
    }
    return keep_advisory(loader, record);
}

static int on_osv_file(void *context, const char *name, const char *data,
                       size_t size, const char *problem, char *errbuf,
                       size_t errbuf_size)
{
    struct loader *loader = context;
    struct vulndb *db = loader->db;

    if (count_record_file(loader, name, errbuf, errbuf_size) != 0)
        return -1;
    if (problem) {
        db->stats.records_invalid++;
        note_problem(db, name, problem);
        return 0;
    }
    db->stats.files++;

    char reason[256] = "";
    struct osv_record record;
    struct arena_mark mark = arena_mark(db->arena);
    enum osv_record_result result = osv_record_parse(
        data, size, loader->limits, db->arena, &record, reason, sizeof(reason));
    if (result == OSV_RECORD_NO_MEMORY ||
        file_osv_record(loader, name, result, &record, mark, reason) != 0) {
        set_error(errbuf, errbuf_size, "%s: out of memory", name);
        return -1;
    }
    return 0;
}

static int on_cve_file(void *context, const char *name, const char *data,
                       size_t size, const char *problem, char *errbuf,
                       size_t errbuf_size)
{
    struct loader *loader = context;
    struct vulndb *db = loader->db;

    if (count_record_file(loader, name, errbuf, errbuf_size) != 0)
        return -1;
    if (problem) {
        db->stats.cve_records_invalid++;
        note_problem(db, name, problem);
        return 0;
    }
    db->stats.files++;

    if (grow((void **)&db->cves, db->cve_count, &loader->cve_capacity,
             sizeof(*db->cves)) != 0)
        goto out_of_memory;

    char reason[256] = "";
    struct arena_mark mark = arena_mark(db->arena);
    switch (cve_record_parse(data, size, loader->limits, db->arena,
                             &db->cves[db->cve_count], reason,
                             sizeof(reason))) {
    case CVE_RECORD_OK:
        db->cve_count++;
        return 0;
    case CVE_RECORD_REJECTED:
        arena_rewind(db->arena, mark);
        return 0;
    case CVE_RECORD_INVALID:
        arena_rewind(db->arena, mark);
        db->stats.cve_records_invalid++;
        note_problem(db, name, reason);
        return 0;
    case CVE_RECORD_NO_MEMORY:
        break;
    }

out_of_memory:
    set_error(errbuf, errbuf_size, "%s: out of memory", name);
    return -1;
}

static int compare_loaded(const void *a, const void *b)
{
    const struct loaded_advisory *x = a;
    const struct loaded_advisory *y = b;

    int order = strcmp(x->advisory->id, y->advisory->id);
    if (order != 0)
        return order;
    /* Newest first, then the one read first. */
    if (x->advisory->modified_ms != y->advisory->modified_ms)
        return x->advisory->modified_ms > y->advisory->modified_ms ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int compare_pointers(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (const void *const *)a;
    uintptr_t y = (uintptr_t) * (const void *const *)b;
    return x < y ? -1 : x > y;
}

/* Drops the affected entries of every advisory whose id was read again
 * with a newer or equal modified time, and sorts the advisories by id. */
static int drop_duplicates(struct loader *loader)
{
    struct vulndb *db = loader->db;
    const void **dropped = NULL;
    size_t dropped_count = 0;
    size_t dropped_capacity = 0;

    if (loader->advisory_count > 1)
        qsort(loader->advisories, loader->advisory_count,
              sizeof(*loader->advisories), compare_loaded);

    size_t unique = 0;
    for (size_t i = 0; i < loader->advisory_count; i++) {
        if (unique > 0 && strcmp(loader->advisories[unique - 1].advisory->id,
                                 loader->advisories[i].advisory->id) == 0) {
            if (grow((void **)&dropped, dropped_count, &dropped_capacity,
                     sizeof(*dropped)) != 0) {
                free(dropped);
                return -1;
            }
            dropped[dropped_count++] = loader->advisories[i].advisory;
            continue;
        }
        loader->advisories[unique++] = loader->advisories[i];
    }
    db->stats.records_duplicate = dropped_count;
    db->stats.records = unique;
    loader->advisory_count = unique;
    if (dropped_count == 0)
        return 0;

    qsort(dropped, dropped_count, sizeof(*dropped), compare_pointers);
    size_t remaining = 0;
    for (size_t i = 0; i < db->affected_count; i++) {
        const void *advisory = db->affected[i].advisory;
        if (!bsearch(&advisory, dropped, dropped_count, sizeof(*dropped),
                     compare_pointers))
            db->affected[remaining++] = db->affected[i];
    }
    db->affected_count = remaining;
    free(dropped);
    return 0;
}

static int compare_affected(const void *a, const void *b)
{
    const struct vulndb_affected *x = a;
    const struct vulndb_affected *y = b;

    int order = strcmp(x->ecosystem, y->ecosystem);
    if (order == 0)
        order = strcmp(x->name, y->name);
    if (order == 0)
        order = strcmp(x->advisory->id, y->advisory->id);
    return order;
}

/* A CVE record with the position it was read at. */
struct loaded_cve {
    struct vulndb_cve cve;
    size_t order;
};

static int compare_cves(const void *a, const void *b)
{
    const struct loaded_cve *x = a;
    const struct loaded_cve *y = b;

    int order = strcmp(x->cve.id, y->cve.id);
    if (order != 0)
        return order;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorts the CVE records by id and keeps the first read of each id. */
static int sort_cves(struct vulndb *db)
{
    if (db->cve_count == 0)
        return 0;

    struct loaded_cve *loaded = calloc(db->cve_count, sizeof(*loaded));
    if (!loaded)
        return -1;
    for (size_t i = 0; i < db->cve_count; i++) {
        loaded[i].cve = db->cves[i];
        loaded[i].order = i;
    }
    qsort(loaded, db->cve_count, sizeof(*loaded), compare_cves);

    size_t unique = 0;
    for (size_t i = 0; i < db->cve_count; i++) {
        if (unique > 0 &&
            strcmp(db->cves[unique - 1].id, loaded[i].cve.id) == 0)
            continue;
        db->cves[unique++] = loaded[i].cve;
    }
    free(loaded);
    db->cve_count = unique;
    db->stats.cve_records = unique;
    return 0;
}

static void digest_string(EVP_MD_CTX *context, const char *text)
{
    const char *value = text ? text : "";
    EVP_DigestUpdate(context, value, strlen(value) + 1);
}

/* Writes db->version from the built time and a digest of what matching
 * reads. */
static int make_version(struct vulndb *db, const struct loader *loader)
{
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;

    if (!context || EVP_DigestInit_ex(context, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(context);
        return -1;
    }
    for (size_t i = 0; i < loader->advisory_count; i++) {
        char modified[32];
        snprintf(modified, sizeof(modified), "%" PRId64,
                 loader->advisories[i].advisory->modified_ms);
        digest_string(context, loader->advisories[i].advisory->id);
        digest_string(context, modified);
    }
    for (size_t i = 0; i < db->cve_count; i++) {
        digest_string(context, db->cves[i].id);
        digest_string(context, db->cves[i].cvss_vector);
        digest_string(context, db->cves[i].cna_severity);
    }
    int ok = EVP_DigestFinal_ex(context, digest, &digest_size);
    EVP_MD_CTX_free(context);
    if (ok != 1 || digest_size < 6)
        return -1;

    char built[32] = "none";
    time_t seconds = (time_t)(db->built_at_ms / 1000);
    struct tm fields;
    if (db->built_at_ms > 0 && gmtime_r(&seconds, &fields))
        strftime(built, sizeof(built), "%Y%m%dT%H%M%SZ", &fields);
    snprintf(db->version, sizeof(db->version),
             "osv-%s-%02x%02x%02x%02x%02x%02x", built, digest[0], digest[1],
             digest[2], digest[3], digest[4], digest[5]);
    return 0;
}

static int finish(struct loader *loader)
{
    struct vulndb *db = loader->db;

    if (drop_duplicates(loader) != 0)
        return -1;
    if (db->affected_count > 1)
        qsort(db->affected, db->affected_count, sizeof(*db->affected),
              compare_affected);
    if (sort_cves(db) != 0)
        return -1;
    return make_version(db, loader);
}

static bool limits_valid(const struct vulndb_limits *limits)
{
    return limits->max_file_bytes > 0 && limits->max_total_bytes > 0 &&
           limits->max_files > 0 && limits->max_records > 0 &&
           limits->max_string_bytes > 0;
}

static int read_sources(const struct vulndb_config *config,
                        struct loader *loader, char *errbuf, size_t errbuf_size)
{
    if (record_files_read(config->osv_path, &config->limits, on_osv_file,
                          loader, errbuf, errbuf_size) != 0)
        return -1;
    if (!config->cve_path)
        return 0;

    loader->record_files = 0;
    return record_files_read(config->cve_path, &config->limits, on_cve_file,
                             loader, errbuf, errbuf_size);
}

int vulndb_load(const struct vulndb_config *config, struct vulndb **db,
                char *errbuf, size_t errbuf_size)
{
    *db = NULL;
    if (!config || !config->osv_path || !limits_valid(&config->limits)) {
        set_error(errbuf, errbuf_size,
                  "invalid configuration: osv_path is missing or a limit "
                  "is zero");
        return -1;
    }

    struct loader loader = {.limits = &config->limits};
    loader.db = calloc(1, sizeof(*loader.db));
    if (loader.db)
        loader.db->arena = arena_new();
    if (!loader.db || !loader.db->arena) {
        set_error(errbuf, errbuf_size, "out of memory");
        goto out_free_db;
    }

    if (read_sources(config, &loader, errbuf, errbuf_size) != 0)
        goto out_free_db;
    if (finish(&loader) != 0) {
        set_error(errbuf, errbuf_size, "out of memory");
        goto out_free_db;
    }

    free(loader.advisories);
    *db = loader.db;
    return 0;

out_free_db:
    free(loader.advisories);
    vulndb_free(loader.db);
    return -1;
}

void vulndb_free(struct vulndb *db)
{
    if (!db)
        return;

    arena_free(db->arena);
    free(db->affected);
    free(db->cves);
    free(db);
}

const struct vulndb_stats *vulndb_stats(const struct vulndb *db)
{
    return &db->stats;
}

const char *vulndb_version(const struct vulndb *db)
{
    return db->version;
}

int64_t vulndb_built_at_ms(const struct vulndb *db)
{
    return db->built_at_ms;
}

/* Reads a run of 1 to 4 digits at *cursor into *value. */
static bool read_number(const char **cursor, unsigned *value)
{
    size_t digits = 0;

    *value = 0;
    while (isdigit((unsigned char)(*cursor)[digits]) && digits < 5) {
        *value = *value * 10 + (unsigned)((*cursor)[digits] - '0');
        digits++;
    }
    *cursor += digits;
    return digits > 0 && digits < 5;
}

static int write_ecosystem(char *out, size_t out_size, const char *format,
                           unsigned major, unsigned minor)
{
    int length = snprintf(out, out_size, format, major, minor);
    return length > 0 && (size_t)length < out_size ? 0 : -1;
}

int vulndb_ecosystem_for_os(const char *os_id, const char *version_id,
                            char *out, size_t out_size)
{
    const char *cursor = version_id;
    unsigned major;
    unsigned minor = 0;

    if (!os_id || !version_id || !out || !read_number(&cursor, &major))
        return -1;

    if (strcmp(os_id, "debian") == 0 && (*cursor == '\0' || *cursor == '.'))
        return write_ecosystem(out, out_size, "Debian:%u", major, minor);

    if (*cursor++ != '.' || !read_number(&cursor, &minor))
        return -1;
    if (strcmp(os_id, "ubuntu") == 0 && *cursor == '\0')
        return write_ecosystem(out, out_size, "Ubuntu:%u.%02u", major, minor);
    if (strcmp(os_id, "alpine") == 0 &&
        (*cursor == '\0' || *cursor == '.' || *cursor == '_'))
        return write_ecosystem(out, out_size, "Alpine:v%u.%u", major, minor);
    return -1;
}

int vulndb_ecosystem_scheme(const char *ecosystem, enum version_scheme *scheme)
{
    static const struct {
        const char *prefix;
        enum version_scheme scheme;
    } families[] = {
        {"Debian:", VERSION_SCHEME_DPKG},
        {"Ubuntu:", VERSION_SCHEME_DPKG},
        {"Alpine:", VERSION_SCHEME_APK},
    };

    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        size_t length = strlen(families[i].prefix);
        if (strncmp(ecosystem, families[i].prefix, length) == 0 &&
            ecosystem[length] != '\0') {
            *scheme = families[i].scheme;
            return 0;
        }
    }
    return -1;
}

static int compare_key(const char *ecosystem, const char *name,
                       const struct vulndb_affected *entry)
{
    int order = strcmp(ecosystem, entry->ecosystem);
    return order != 0 ? order : strcmp(name, entry->name);
}

size_t vulndb_find(const struct vulndb *db, const char *ecosystem,
                   const char *name, const struct vulndb_affected **entries)
{
    size_t low = 0;
    size_t high = db->affected_count;

    /* The first entry not below the key. */
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (compare_key(ecosystem, name, &db->affected[middle]) > 0)
            low = middle + 1;
        else
            high = middle;
    }

    size_t end = low;
    while (end < db->affected_count &&
           compare_key(ecosystem, name, &db->affected[end]) == 0)
        end++;
    *entries = end > low ? &db->affected[low] : NULL;
    return end - low;
}

int vulndb_has_ecosystem(const struct vulndb *db, const char *ecosystem)
{
    size_t low = 0;
    size_t high = db->affected_count;

    /* The first entry whose ecosystem is not below the one wanted. */
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (strcmp(ecosystem, db->affected[middle].ecosystem) > 0)
            low = middle + 1;
        else
            high = middle;
    }
    return low < db->affected_count &&
           strcmp(ecosystem, db->affected[low].ecosystem) == 0;
}

static int compare_cve_id(const void *key, const void *element)
{
    return strcmp(key, ((const struct vulndb_cve *)element)->id);
}

const struct vulndb_cve *vulndb_find_cve(const struct vulndb *db,
                                         const char *cve_id)
{
    if (db->cve_count == 0)
        return NULL;
    return bsearch(cve_id, db->cves, db->cve_count, sizeof(*db->cves),
                   compare_cve_id);
}
