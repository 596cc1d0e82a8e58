#include "cve_record.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cvss.h"
#include "osv_record.h"
#include "severity.h"

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

/* Returns the vector of a cvssV3_x object when it scores, else NULL. */
static const char *scored_vector(const json_t *cvss, size_t max_bytes)
{
    const json_t *vector = json_object_get(cvss, "vectorString");
    struct cvss_score score;

    if (!json_is_string(vector) || json_string_length(vector) > max_bytes)
        return NULL;
    if (cvss_score_vector(json_string_value(vector), &score, NULL, 0) != 0)
        return NULL;
    return json_string_value(vector);
}

static const char *metrics_vector(const json_t *metrics, size_t max_bytes)
{
    static const char *const keys[] = {"cvssV3_1", "cvssV3_0"};

    for (size_t i = 0; i < json_array_size(metrics); i++) {
        const json_t *entry = json_array_get(metrics, i);
        for (size_t k = 0; k < 2; k++) {
            const char *vector =
                scored_vector(json_object_get(entry, keys[k]), max_bytes);
            if (vector)
                return vector;
        }
    }
    return NULL;
}

static const char *metrics_text_severity(const json_t *metrics,
                                         size_t max_bytes)
{
    static const char *const keys[] = {"text", "value"};

    for (size_t i = 0; i < json_array_size(metrics); i++) {
        const json_t *other =
            json_object_get(json_array_get(metrics, i), "other");
        const json_t *content = json_object_get(other, "content");
        for (size_t k = 0; k < 2; k++) {
            const json_t *text = json_object_get(content, keys[k]);
            enum severity severity;
            if (json_is_string(text) && json_string_length(text) <= max_bytes &&
                severity_from_cna_text(json_string_value(text), &severity) == 0)
                return json_string_value(text);
        }
    }
    return NULL;
}

static const char *find_vector(const json_t *containers, size_t max_bytes)
{
    const json_t *cna = json_object_get(containers, "cna");
    const char *vector =
        metrics_vector(json_object_get(cna, "metrics"), max_bytes);
    if (vector)
        return vector;

    const json_t *adp = json_object_get(containers, "adp");
    for (size_t i = 0; i < json_array_size(adp); i++) {
        vector = metrics_vector(
            json_object_get(json_array_get(adp, i), "metrics"), max_bytes);
        if (vector)
            return vector;
    }
    return NULL;
}

/* Copies a string found in the record into the arena. NULL stays NULL. */
static int keep(struct arena *arena, const char *text, const char **copy)
{
    *copy = NULL;
    if (!text)
        return 0;
    *copy = arena_strndup(arena, text, strlen(text));
    return *copy ? 0 : -1;
}

static enum cve_record_result parse_root(const json_t *root,
                                         const struct vulndb_limits *limits,
                                         struct arena *arena,
                                         struct vulndb_cve *cve, char *errbuf,
                                         size_t errbuf_size)
{
    const json_t *metadata = json_object_get(root, "cveMetadata");
    const json_t *id = json_object_get(metadata, "cveId");
    const char *id_text = json_string_value(id);
    if (!id_text || json_string_length(id) > limits->max_string_bytes ||
        osv_cve_suffix(id_text) != id_text) {
        set_error(errbuf, errbuf_size,
                  "cveMetadata.cveId is missing or not a CVE id");
        return CVE_RECORD_INVALID;
    }

    const char *state = json_string_value(json_object_get(metadata, "state"));
    if (state && strcmp(state, "REJECTED") == 0)
        return CVE_RECORD_REJECTED;

    const json_t *containers = json_object_get(root, "containers");
    const json_t *cna_metrics =
        json_object_get(json_object_get(containers, "cna"), "metrics");
    size_t max_bytes = limits->max_string_bytes;
    if (keep(arena, id_text, &cve->id) != 0 ||
        keep(arena, find_vector(containers, max_bytes), &cve->cvss_vector) !=
            0 ||
        keep(arena, metrics_text_severity(cna_metrics, max_bytes),
             &cve->cna_severity) != 0) {
        set_error(errbuf, errbuf_size, "out of memory");
        return CVE_RECORD_NO_MEMORY;
    }
    return CVE_RECORD_OK;
}

enum cve_record_result cve_record_parse(const char *text, size_t size,
                                        const struct vulndb_limits *limits,
                                        struct arena *arena,
                                        struct vulndb_cve *cve, char *errbuf,
                                        size_t errbuf_size)
{
    memset(cve, 0, sizeof(*cve));

    json_error_t error;
    json_t *root = json_loadb(text, size, 0, &error);
    if (!root) {
        set_error(errbuf, errbuf_size, "invalid JSON at line %d column %d: %s",
                  error.line, error.column, error.text);
        return CVE_RECORD_INVALID;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        set_error(errbuf, errbuf_size, "not a JSON object");
        return CVE_RECORD_INVALID;
    }

    enum cve_record_result result =
        parse_root(root, limits, arena, cve, errbuf, errbuf_size);
    json_decref(root);
    return result;
}
