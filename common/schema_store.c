#include "schema_store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The highest version number a schema file name may carry. */
#define VERSION_MAX 999999u

/* Every access to versions holds lock. avro-c keeps its last error in one
 * buffer for the whole process, because Debian 12's libavro 1.11.1 is built
 * without THREADSAFE (it links no pthread function). So the lock also
 * serialises the avro-c calls here that may fail. */
static struct {
    pthread_mutex_t lock;
    struct schema_version **versions;
    size_t count;
    size_t capacity;
    int load_status;
    char load_error[640];
} store = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t store_once = PTHREAD_ONCE_INIT;

static void version_free(struct schema_version *version)
{
    if (version == NULL)
        return;
    if (version->avro_class != NULL)
        avro_value_iface_decref(version->avro_class);
    if (version->avro_schema != NULL)
        avro_schema_decref(version->avro_schema);
    schema_free(version->schema);
    free(version->name);
    free(version->family);
    free(version);
}

/* Splits "ScanResult.v1" into its family and version number. */
static int version_name_parse(struct schema_version *version, const char *name,
                              char *errbuf, size_t errbuf_size)
{
    const char *suffix = strrchr(name, '.');
    unsigned long number;
    char *end;

    if (suffix == NULL || suffix == name || suffix[1] != 'v' ||
        suffix[2] < '0' || suffix[2] > '9')
        goto fail_name;
    number = strtoul(suffix + 2, &end, 10);
    if (*end != '\0' || number > VERSION_MAX)
        goto fail_name;

    version->family = strndup(name, (size_t)(suffix - name));
    version->name = strdup(name);
    if (version->family == NULL || version->name == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    version->version = (unsigned)number;
    return 0;

fail_name:
    snprintf(errbuf, errbuf_size,
             "schema version name \"%s\" is not <Family>.v<N> with N from 0 "
             "to %u",
             name, VERSION_MAX);
    return -1;
}

static int version_avro_load(struct schema_version *version, const char *json,
                             size_t json_size, char *errbuf, size_t errbuf_size)
{
    if (avro_schema_from_json_length(json, json_size, &version->avro_schema) !=
        0) {
        version->avro_schema = NULL;
        snprintf(errbuf, errbuf_size, "%s: avro-c cannot read the schema: %s",
                 version->name, avro_strerror());
        return -1;
    }
    version->avro_class = avro_generic_class_from_schema(version->avro_schema);
    if (version->avro_class == NULL) {
        snprintf(errbuf, errbuf_size,
                 "%s: avro-c cannot make a value class: %s", version->name,
                 avro_strerror());
        return -1;
    }
    return 0;
}

static struct schema_version *version_new(const char *name, const char *json,
                                          size_t json_size, char *errbuf,
                                          size_t errbuf_size)
{
    struct schema_version *version = calloc(1, sizeof(*version));
    const struct schema_node *root;
    char reason[512];

    if (version == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return NULL;
    }
    if (version_name_parse(version, name, errbuf, errbuf_size) != 0)
        goto fail_version;

    version->schema = schema_parse(json, json_size, 0, reason, sizeof(reason));
    if (version->schema == NULL) {
        snprintf(errbuf, errbuf_size, "%s: %s", name, reason);
        goto fail_version;
    }
    root = schema_root(version->schema);
    if (root->type != SCHEMA_RECORD ||
        strcmp(root->name, version->family) != 0) {
        snprintf(errbuf, errbuf_size,
                 "%s: the schema's root must be a record named %s", name,
                 version->family);
        goto fail_version;
    }
    version->fingerprint = schema_fingerprint(version->schema);

    if (version_avro_load(version, json, json_size, errbuf, errbuf_size) != 0)
        goto fail_version;
    return version;

fail_version:
    version_free(version);
    return NULL;
}

/* Appends a version. The caller holds the lock. */
static int versions_append(struct schema_version *version, char *errbuf,
                           size_t errbuf_size)
{
    for (size_t i = 0; i < store.count; i++) {
        const struct schema_version *other = store.versions[i];

        if (strcmp(other->family, version->family) == 0 &&
            other->version == version->version) {
            snprintf(errbuf, errbuf_size,
                     "schema version %s is already known as %s", version->name,
                     other->name);
            return -1;
        }
        if (other->fingerprint == version->fingerprint) {
            snprintf(errbuf, errbuf_size,
                     "%s has the same canonical form as %s, so a reader "
                     "could not tell them apart",
                     version->name, other->name);
            return -1;
        }
    }

    if (store.count == store.capacity) {
        size_t capacity = store.capacity ? store.capacity * 2 : 8;
        struct schema_version **versions =
            realloc(store.versions, capacity * sizeof(*versions));

        if (versions == NULL) {
            snprintf(errbuf, errbuf_size, "out of memory");
            return -1;
        }
        store.versions = versions;
        store.capacity = capacity;
    }
    store.versions[store.count++] = version;
    return 0;
}

/* Parses and appends a version. The caller holds the lock. */
static int version_add(const char *name, const char *json, size_t json_size,
                       const struct schema_version **added, char *errbuf,
                       size_t errbuf_size)
{
    struct schema_version *version =
        version_new(name, json, json_size, errbuf, errbuf_size);

    if (version == NULL)
        return -1;
    if (versions_append(version, errbuf, errbuf_size) != 0) {
        version_free(version);
        return -1;
    }
    if (added != NULL)
        *added = version;
    return 0;
}

static void store_load(void)
{
    char reason[512];

    pthread_mutex_lock(&store.lock);
    for (size_t i = 0; i < embedded_schema_count; i++) {
        const struct embedded_schema *embedded = &embedded_schemas[i];

        if (version_add(embedded->name, embedded->json, strlen(embedded->json),
                        NULL, reason, sizeof(reason)) != 0) {
            snprintf(store.load_error, sizeof(store.load_error),
                     "embedded schema %s is invalid: %s", embedded->name,
                     reason);
            store.load_status = -1;
            break;
        }
    }
    pthread_mutex_unlock(&store.lock);
}

/* Loads the embedded schemas on first use and returns the outcome, which
 * is the same for every later call. */
static int store_ready(char *errbuf, size_t errbuf_size)
{
    pthread_once(&store_once, store_load);
    if (store.load_status != 0) {
        snprintf(errbuf, errbuf_size, "%s", store.load_error);
        return -1;
    }
    return 0;
}

int schema_store_find(uint64_t fingerprint,
                      const struct schema_version **version, char *errbuf,
                      size_t errbuf_size)
{
    *version = NULL;
    if (store_ready(errbuf, errbuf_size) != 0)
        return -1;

    pthread_mutex_lock(&store.lock);
    for (size_t i = 0; i < store.count; i++) {
        if (store.versions[i]->fingerprint == fingerprint) {
            *version = store.versions[i];
            break;
        }
    }
    pthread_mutex_unlock(&store.lock);

    if (*version == NULL) {
        snprintf(errbuf, errbuf_size,
                 "unknown writer schema fingerprint %016" PRIx64
                 ": no known version of any event schema has it",
                 fingerprint);
        return -1;
    }
    return 0;
}

int schema_store_current(const char *family,
                         const struct schema_version **version, char *errbuf,
                         size_t errbuf_size)
{
    *version = NULL;
    if (store_ready(errbuf, errbuf_size) != 0)
        return -1;

    pthread_mutex_lock(&store.lock);
    for (size_t i = 0; i < store.count; i++) {
        const struct schema_version *candidate = store.versions[i];

        if (strcmp(candidate->family, family) == 0 &&
            (*version == NULL || candidate->version > (*version)->version))
            *version = candidate;
    }
    pthread_mutex_unlock(&store.lock);

    if (*version == NULL) {
        snprintf(errbuf, errbuf_size, "no version of schema %s is known",
                 family);
        return -1;
    }
    return 0;
}

int schema_store_add(const char *name, const char *json, size_t json_size,
                     const struct schema_version **version, char *errbuf,
                     size_t errbuf_size)
{
    int status;

    if (version != NULL)
        *version = NULL;
    if (store_ready(errbuf, errbuf_size) != 0)
        return -1;

    pthread_mutex_lock(&store.lock);
    status = version_add(name, json, json_size, version, errbuf, errbuf_size);
    pthread_mutex_unlock(&store.lock);
    return status;
}
