#include "registry.h"

#include "auth_challenge.h"
#include "credentials.h"
#include "manifest.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TOKEN_CACHE_SIZE 64
#define TOKEN_MAX 16384
#define TOKEN_RESPONSE_MAX (64 * 1024)
#define TOKEN_LIFETIME_DEFAULT_S 60
#define TOKEN_LIFETIME_MAX_S 86400
/* After a 401 the request is retried with a fresh token. One more refresh
 * is allowed because a token may expire on the way; then the call fails. */
#define TOKEN_FETCHES_MAX 2
#define AUTH_ROUNDS_MAX 4
#define REDIRECTS_MAX 5
#define ERROR_BODY_MAX 4096
#define ERROR_DETAIL_MAX 200
#define INSECURE_REGISTRIES_MAX 64
#define HOST_PORT_MAX 260
#define URL_MAX 2048
#define URL_SHOWN_MAX 512
#define RETRY_DELAY_MAX_MS 30000

#define ACCEPT_MANIFESTS                                                       \
    "Accept: " MEDIA_TYPE_OCI_INDEX ", " MEDIA_TYPE_OCI_MANIFEST               \
    ", " MEDIA_TYPE_DOCKER_MANIFEST_LIST ", " MEDIA_TYPE_DOCKER_MANIFEST

struct cached_auth {
    bool used;
    char registry[IMAGE_REF_REGISTRY_MAX + 1];
    char repository[IMAGE_REF_REPOSITORY_MAX + 1];
    enum auth_scheme scheme;
    char *token;           /* Bearer only */
    int64_t expires_at_ms; /* Bearer only, monotonic clock */
    int64_t last_used_ms;
};

struct registry_client {
    CURL *curl;
    char curl_error[CURL_ERROR_SIZE];
    struct registry_options options; /* the strings below, not the caller's */
    char *user_agent;
    char *ca_file;
    char *insecure[INSECURE_REGISTRIES_MAX];
    size_t insecure_count;
    struct credentials *credentials;
    struct cached_auth cache[TOKEN_CACHE_SIZE];
};

/* Destination of a 200 response's body: memory or a write function. */
struct sink {
    size_t limit; /* memory sink: maximum body size */
    char *data;   /* memory sink: the body so far */
    size_t size;
    size_t capacity;
    registry_write_fn write_fn; /* stream sink; NULL for a memory sink */
    void *userdata;
    EVP_MD_CTX *hash; /* stream sink: digest of the bytes so far */
    int64_t expected_size;
    uint64_t received;
    bool too_large;     /* over limit or over expected_size */
    bool over_expected; /* over expected_size */
    bool aborted;
};

/* Fields of one HTTP response. */
struct response {
    long status; /* 0 until a status line arrives */
    char content_type[REGISTRY_CONTENT_TYPE_MAX + 1];
    char content_digest[IMAGE_REF_DIGEST_MAX + 1];
    char www_authenticate[AUTH_CHALLENGE_HEADER_MAX + 1];
    bool www_authenticate_too_long;
    char retry_after[64];
    char error_body[ERROR_BODY_MAX + 1];
    size_t error_body_size;
};

struct transfer {
    struct response response;
    struct sink *sink;
};

/* One registry call: a manifest or blob fetch, with its retries,
 * authentication rounds and redirects. */
struct operation {
    const char *registry;
    const char *repository;
    char url[URL_MAX];
    const char *accept; /* a full "Accept: ..." header, or NULL */
    struct sink *sink;
    int64_t deadline_ms;
    const char *method; /* method of the request that errors describe */
    char *current_url;  /* malloc'd URL of that request */
    struct transfer transfer;
    bool sent;          /* a request went out */
    bool from_registry; /* the last response came from op->url's origin */
    bool retryable;
    char *errbuf;
    size_t errbuf_size;
};

static pthread_once_t curl_init_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
{
    va_list args;

    if (errbuf == NULL || errbuf_size == 0) {
        return;
    }
    va_start(args, format);
    vsnprintf(errbuf, errbuf_size, format, args);
    va_end(args);
}

static int64_t now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void sleep_ms(int64_t milliseconds)
{
    struct timespec delay = {(time_t)(milliseconds / 1000),
                             (long)(milliseconds % 1000) * 1000000};

    while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
    }
}

static void free_secret(char *secret)
{
    if (secret != NULL) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
}

/* ---- Options and client ---- */

void registry_options_init(struct registry_options *options)
{
    memset(options, 0, sizeof(*options));
    options->user_agent = "imgassure";
    options->connect_timeout_s = 15;
    options->total_timeout_s = 1800;
    options->low_speed_bytes_per_s = 1024;
    options->low_speed_time_s = 60;
    options->max_retries = 3;
    options->retry_delay_ms = 500;
    options->retry_after_max_s = 30;
}

const char *registry_status_name(enum registry_status status)
{
    switch (status) {
    case REGISTRY_OK:
        return "OK";
    case REGISTRY_NETWORK:
        return "NETWORK";
    case REGISTRY_UNAUTHORIZED:
        return "UNAUTHORIZED";
    case REGISTRY_NOT_FOUND:
        return "NOT_FOUND";
    case REGISTRY_TIMEOUT:
        return "TIMEOUT";
    case REGISTRY_INVALID_RESPONSE:
        return "INVALID_RESPONSE";
    case REGISTRY_DIGEST_MISMATCH:
        return "DIGEST_MISMATCH";
    case REGISTRY_ABORTED:
        return "ABORTED";
    case REGISTRY_INTERNAL:
        return "INTERNAL";
    }
    return "UNKNOWN";
}

static int parse_insecure_list(struct registry_client *client, const char *list,
                               char *errbuf, size_t errbuf_size)
{
    const char *cursor = list;

    while (cursor != NULL && *cursor != '\0') {
        size_t length = strcspn(cursor, ",");
        size_t start = 0;

        while (start < length && cursor[start] == ' ') {
            start++;
        }
        while (length > start && cursor[length - 1] == ' ') {
            length--;
        }
        if (length > start) {
            if (length - start > HOST_PORT_MAX ||
                memchr(cursor + start, '/', length - start) != NULL ||
                client->insecure_count == INSECURE_REGISTRIES_MAX) {
                set_error(errbuf, errbuf_size,
                          "invalid insecure registries list: expected at "
                          "most %d comma-separated host:port entries",
                          INSECURE_REGISTRIES_MAX);
                return -1;
            }
            client->insecure[client->insecure_count] =
                strndup(cursor + start, length - start);
            if (client->insecure[client->insecure_count] == NULL) {
                set_error(errbuf, errbuf_size, "out of memory");
                return -1;
            }
            client->insecure_count++;
        }
        cursor += strcspn(cursor, ",");
        if (*cursor == ',') {
            cursor++;
        }
    }
    return 0;
}

static int copy_options(struct registry_client *client,
                        const struct registry_options *options, char *errbuf,
                        size_t errbuf_size)
{
    client->options = *options;
    client->user_agent =
        strdup(options->user_agent ? options->user_agent : "imgassure");
    client->ca_file = options->ca_file ? strdup(options->ca_file) : NULL;
    if (client->user_agent == NULL ||
        (options->ca_file != NULL && client->ca_file == NULL)) {
        set_error(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    client->options.user_agent = client->user_agent;
    client->options.ca_file = client->ca_file;
    client->options.credentials_path = NULL;
    client->options.insecure_registries = NULL;

    if (options->connect_timeout_s < 0 || options->total_timeout_s < 0 ||
        options->low_speed_bytes_per_s < 0 || options->low_speed_time_s < 0 ||
        options->max_retries < 0 || options->retry_delay_ms < 0 ||
        options->retry_after_max_s < 0) {
        set_error(errbuf, errbuf_size,
                  "registry options: timeouts, limits and retries must not "
                  "be negative");
        return -1;
    }
    return parse_insecure_list(client, options->insecure_registries, errbuf,
                               errbuf_size);
}

struct registry_client *
registry_client_new(const struct registry_options *options, char *errbuf,
                    size_t errbuf_size)
{
    struct registry_client *client;

    pthread_once(&curl_init_once, init_curl);
    if (curl_init_result != CURLE_OK) {
        set_error(errbuf, errbuf_size, "libcurl initialisation failed: %s",
                  curl_easy_strerror(curl_init_result));
        return NULL;
    }
    client = calloc(1, sizeof(*client));
    if (client == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        return NULL;
    }

    if (copy_options(client, options, errbuf, errbuf_size) != 0 ||
        credentials_load(options->credentials_path, &client->credentials,
                         errbuf, errbuf_size) != 0) {
        goto out_free_client;
    }
    client->curl = curl_easy_init();
    if (client->curl == NULL) {
        set_error(errbuf, errbuf_size, "curl_easy_init failed");
        goto out_free_client;
    }
    return client;

out_free_client:
    registry_client_free(client);
    return NULL;
}

void registry_client_free(struct registry_client *client)
{
    if (client == NULL) {
        return;
    }
    for (size_t i = 0; i < TOKEN_CACHE_SIZE; i++) {
        free_secret(client->cache[i].token);
    }
    for (size_t i = 0; i < client->insecure_count; i++) {
        free(client->insecure[i]);
    }
    if (client->curl != NULL) {
        curl_easy_cleanup(client->curl);
    }
    credentials_free(client->credentials);
    free(client->user_agent);
    free(client->ca_file);
    free(client);
}

static bool is_insecure(const struct registry_client *client,
                        const char *host_port)
{
    for (size_t i = 0; i < client->insecure_count; i++) {
        if (strcasecmp(client->insecure[i], host_port) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- Digests ---- */

static const EVP_MD *digest_algorithm(const char *digest)
{
    if (strncmp(digest, "sha256:", 7) == 0) {
        return EVP_sha256();
    }
    if (strncmp(digest, "sha512:", 7) == 0) {
        return EVP_sha512();
    }
    return NULL;
}

static void format_digest(const EVP_MD *algorithm, const unsigned char *hash,
                          unsigned int length, char *out, size_t out_size)
{
    size_t used = (size_t)snprintf(
        out, out_size, "%s:", algorithm == EVP_sha512() ? "sha512" : "sha256");

    for (unsigned int i = 0; i < length && used + 2 < out_size; i++) {
        used += (size_t)snprintf(out + used, out_size - used, "%02x", hash[i]);
    }
}

/* Hashes data with the algorithm digest names. Returns 0, or -1 when the
 * algorithm is unknown or OpenSSL fails. */
static int compute_digest(const char *digest, const void *data, size_t size,
                          char *out, size_t out_size)
{
    const EVP_MD *algorithm = digest_algorithm(digest);
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int length = 0;

    if (algorithm == NULL ||
        EVP_Digest(data, size, hash, &length, algorithm, NULL) != 1) {
        return -1;
    }
    format_digest(algorithm, hash, length, out, out_size);
    return 0;
}

/* ---- URLs ---- */

/* Copies url without its query and fragment, which may carry signed
 * storage credentials, for error messages. */
static void show_url(const char *url, char *out, size_t out_size)
{
    size_t length = url ? strcspn(url, "?#") : 0;

    if (length >= out_size) {
        length = out_size - 1;
    }
    snprintf(out, out_size, "%.*s", (int)length, url ? url : "");
}

/* Splits url into its lowercase scheme and "host:port". Returns 0, or -1
 * when it is not an absolute http or https URL. */
static int url_origin(const char *url, char *scheme, size_t scheme_size,
                      char *host_port, size_t host_port_size,
                      bool explicit_port)
{
    CURLU *parsed = curl_url();
    char *scheme_part = NULL;
    char *host_part = NULL;
    char *port_part = NULL;
    int status = -1;

    if (parsed == NULL || curl_url_set(parsed, CURLUPART_URL, url, 0) != 0 ||
        curl_url_get(parsed, CURLUPART_SCHEME, &scheme_part, 0) != 0 ||
        curl_url_get(parsed, CURLUPART_HOST, &host_part, 0) != 0) {
        goto out_free;
    }
    curl_url_get(parsed, CURLUPART_PORT, &port_part,
                 explicit_port ? 0 : CURLU_DEFAULT_PORT);
    if (strcasecmp(scheme_part, "http") != 0 &&
        strcasecmp(scheme_part, "https") != 0) {
        goto out_free;
    }
    snprintf(scheme, scheme_size, "%s", scheme_part);
    for (char *p = scheme; *p != '\0'; p++) {
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    }
    snprintf(host_port, host_port_size, "%s%s%s", host_part,
             port_part ? ":" : "", port_part ? port_part : "");
    status = 0;

out_free:
    curl_free(scheme_part);
    curl_free(host_part);
    curl_free(port_part);
    curl_url_cleanup(parsed);
    return status;
}

static bool same_origin(const char *first, const char *second)
{
    char scheme_a[16];
    char scheme_b[16];
    char host_a[HOST_PORT_MAX + 8];
    char host_b[HOST_PORT_MAX + 8];

    if (url_origin(first, scheme_a, sizeof(scheme_a), host_a, sizeof(host_a),
                   false) != 0 ||
        url_origin(second, scheme_b, sizeof(scheme_b), host_b, sizeof(host_b),
                   false) != 0) {
        return false;
    }
    return strcmp(scheme_a, scheme_b) == 0 && strcasecmp(host_a, host_b) == 0;
}

/* ---- Errors ---- */

/* Writes "METHOD URL: HTTP status: detail" (or "no HTTP response") into
 * the operation's errbuf and returns status. */
static enum registry_status
fail(struct operation *op, enum registry_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static enum registry_status
fail(struct operation *op, enum registry_status status, const char *format, ...)
{
    char detail[768];
    char shown[URL_SHOWN_MAX];
    va_list args;

    va_start(args, format);
    vsnprintf(detail, sizeof(detail), format, args);
    va_end(args);
    show_url(op->current_url ? op->current_url : op->url, shown, sizeof(shown));
    if (!op->sent) {
        set_error(op->errbuf, op->errbuf_size, "%s %s: %s", op->method, shown,
                  detail);
    } else if (op->transfer.response.status > 0) {
        set_error(op->errbuf, op->errbuf_size, "%s %s: HTTP %ld: %s",
                  op->method, shown, op->transfer.response.status, detail);
    } else {
        set_error(op->errbuf, op->errbuf_size, "%s %s: no HTTP response: %s",
                  op->method, shown, detail);
    }
    return status;
}

/* Copies the first error of a registry's JSON error body ("CODE:
 * message"), keeping printable ASCII only, into out. */
static void describe_error_body(const struct response *response, char *out,
                                size_t out_size)
{
    json_t *root;
    json_t *first;
    const char *code;
    const char *message;
    size_t used = 0;

    out[0] = '\0';
    root = json_loadb(response->error_body, response->error_body_size, 0, NULL);
    first = json_array_get(json_object_get(root, "errors"), 0);
    code = json_string_value(json_object_get(first, "code"));
    message = json_string_value(json_object_get(first, "message"));
    if (code != NULL || message != NULL) {
        snprintf(out, out_size, "%s%s%s", code ? code : "",
                 code && message ? ": " : "", message ? message : "");
    }
    json_decref(root);

    for (size_t i = 0; out[i] != '\0' && used + 1 < out_size; i++) {
        if (out[i] >= 0x20 && out[i] < 0x7f) {
            out[used++] = out[i];
        }
    }
    out[used] = '\0';
}

static enum registry_status
fail_status(struct operation *op, enum registry_status status, const char *what)
{
    char detail[ERROR_DETAIL_MAX + 1];

    describe_error_body(&op->transfer.response, detail, sizeof(detail));
    return fail(op, status, "%s%s%s", what, detail[0] ? ": " : "", detail);
}

/* ---- Response capture ---- */

static bool header_is(const char *line, size_t length, const char *name)
{
    size_t name_length = strlen(name);

    return length > name_length && line[name_length] == ':' &&
           strncasecmp(line, name, name_length) == 0;
}

/* Copies the value of a header line, trimmed, into out. Returns false when
 * it does not fit. */
static bool copy_header_value(const char *line, size_t length,
                              size_t name_length, char *out, size_t out_size)
{
    size_t start = name_length + 1;
    size_t end = length;

    while (start < end && (line[start] == ' ' || line[start] == '\t')) {
        start++;
    }
    while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
                           line[end - 1] == ' ' || line[end - 1] == '\t')) {
        end--;
    }
    if (end - start >= out_size) {
        return false;
    }
    memcpy(out, line + start, end - start);
    out[end - start] = '\0';
    return true;
}

static void append_challenge(struct response *response, const char *line,
                             size_t length)
{
    char value[AUTH_CHALLENGE_HEADER_MAX + 1];
    size_t used = strlen(response->www_authenticate);
    size_t value_length;

    if (!copy_header_value(line, length, strlen("WWW-Authenticate"), value,
                           sizeof(value))) {
        response->www_authenticate_too_long = true;
        return;
    }
    value_length = strlen(value);
    if (used + 2 + value_length > AUTH_CHALLENGE_HEADER_MAX) {
        response->www_authenticate_too_long = true;
        return;
    }
    /* Several WWW-Authenticate fields combine into one list. */
    if (used > 0) {
        memcpy(response->www_authenticate + used, ", ", 2);
        used += 2;
    }
    memcpy(response->www_authenticate + used, value, value_length + 1);
}

static size_t on_header(char *line, size_t size, size_t count, void *opaque)
{
    struct transfer *transfer = opaque;
    struct response *response = &transfer->response;
    size_t length = size * count;

    if (length > 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *space = memchr(line, ' ', length);

        /* A new status line starts a new response (after 100 Continue). */
        memset(response, 0, sizeof(*response));
        response->status = space ? strtol(space + 1, NULL, 10) : 0;
    } else if (header_is(line, length, "Content-Type")) {
        copy_header_value(line, length, strlen("Content-Type"),
                          response->content_type,
                          sizeof(response->content_type));
    } else if (header_is(line, length, "Docker-Content-Digest")) {
        copy_header_value(line, length, strlen("Docker-Content-Digest"),
                          response->content_digest,
                          sizeof(response->content_digest));
    } else if (header_is(line, length, "WWW-Authenticate")) {
        append_challenge(response, line, length);
    } else if (header_is(line, length, "Retry-After")) {
        copy_header_value(line, length, strlen("Retry-After"),
                          response->retry_after, sizeof(response->retry_after));
    }
    return length;
}

static bool sink_write_memory(struct sink *sink, const char *data,
                              size_t length)
{
    if (length > sink->limit - sink->size) {
        sink->too_large = true;
        return false;
    }
    if (sink->size + length + 1 > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity : 16384;
        char *grown;

        while (capacity < sink->size + length + 1) {
            capacity *= 2;
        }
        grown = realloc(sink->data, capacity);
        if (grown == NULL) {
            return false;
        }
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, data, length);
    sink->size += length;
    sink->data[sink->size] = '\0';
    return true;
}

static bool sink_write(struct sink *sink, const char *data, size_t length)
{
    if (sink->expected_size >= 0 &&
        length > (uint64_t)sink->expected_size - sink->received) {
        sink->too_large = true;
        sink->over_expected = true;
        return false;
    }
    if (sink->write_fn == NULL) {
        if (!sink_write_memory(sink, data, length)) {
            return false;
        }
    } else {
        if (EVP_DigestUpdate(sink->hash, data, length) != 1) {
            return false;
        }
        if (sink->write_fn(data, length, sink->userdata) != 0) {
            sink->aborted = true;
            return false;
        }
    }
    sink->received += length;
    return true;
}

static size_t on_body(char *data, size_t size, size_t count, void *opaque)
{
    struct transfer *transfer = opaque;
    struct response *response = &transfer->response;
    size_t length = size * count;

    if (response->status == 200 && transfer->sink != NULL) {
        return sink_write(transfer->sink, data, length) ? length : 0;
    }

    /* Other bodies are registry errors, so their start is kept for the
     * message. */
    if (response->error_body_size < ERROR_BODY_MAX) {
        size_t room = ERROR_BODY_MAX - response->error_body_size;
        size_t kept = length < room ? length : room;

        memcpy(response->error_body + response->error_body_size, data, kept);
        response->error_body_size += kept;
        response->error_body[response->error_body_size] = '\0';
    }
    return length;
}

/* Empties a sink before a retry. A stream sink that already delivered
 * bytes cannot be emptied, and its caller does not retry. */
static int sink_reset(struct sink *sink, const char *digest)
{
    sink->size = 0;
    sink->received = 0;
    sink->too_large = false;
    sink->over_expected = false;
    sink->aborted = false;
    if (sink->hash == NULL) {
        return 0;
    }
    if (EVP_DigestInit_ex(sink->hash, digest_algorithm(digest), NULL) != 1) {
        return -1;
    }
    return 0;
}

/* ---- One HTTP request ---- */

struct request {
    const char *url;
    const char *accept;        /* full header line, or NULL */
    const char *authorization; /* full header line, or NULL */
    const char *post_fields;   /* form body of a POST, or NULL for GET */
    struct sink *sink;
    int64_t deadline_ms;
};

static void wipe_headers(struct curl_slist *headers)
{
    for (struct curl_slist *item = headers; item != NULL; item = item->next) {
        OPENSSL_cleanse(item->data, strlen(item->data));
    }
    curl_slist_free_all(headers);
}

static void set_transfer_options(struct registry_client *client,
                                 const struct request *request,
                                 struct transfer *transfer,
                                 int64_t remaining_ms)
{
    const struct registry_options *options = &client->options;
    CURL *curl = client->curl;

    curl_easy_setopt(curl, CURLOPT_URL, request->url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (client->ca_file != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, client->ca_file);
    }
    curl_easy_setopt(curl, CURLOPT_USERAGENT, client->user_agent);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options->connect_timeout_s);
    /* 0 turns the timeout off, for a client without a total timeout. */
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)remaining_ms);
    if (options->low_speed_bytes_per_s > 0 && options->low_speed_time_s > 0) {
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT,
                         options->low_speed_bytes_per_s);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
                         options->low_speed_time_s);
    }
    client->curl_error[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, client->curl_error);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, transfer);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, transfer);
    if (request->post_fields != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->post_fields);
    }
}

/* Runs one request without following redirects. Returns CURLE_OK when a
 * response arrived, whatever its status. */
static CURLcode perform(struct registry_client *client,
                        const struct request *request,
                        struct transfer *transfer)
{
    int64_t remaining_ms = request->deadline_ms - now_ms();
    const char *lines[] = {request->accept, request->authorization};
    struct curl_slist *headers = NULL;
    struct curl_slist *grown;
    CURLcode code;

    memset(&transfer->response, 0, sizeof(transfer->response));
    transfer->sink = request->sink;
    if (remaining_ms <= 0) {
        snprintf(client->curl_error, sizeof(client->curl_error),
                 "the total timeout of %ld s was reached before the request",
                 client->options.total_timeout_s);
        return CURLE_OPERATION_TIMEDOUT;
    }

    curl_easy_reset(client->curl);
    set_transfer_options(client, request, transfer,
                         request->deadline_ms == INT64_MAX ? 0 : remaining_ms);
    for (size_t i = 0; i < 2; i++) {
        if (lines[i] == NULL) {
            continue;
        }
        grown = curl_slist_append(headers, lines[i]);
        if (grown == NULL) {
            wipe_headers(headers);
            return CURLE_OUT_OF_MEMORY;
        }
        headers = grown;
    }
    curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, headers);

    code = curl_easy_perform(client->curl);
    curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, NULL);
    wipe_headers(headers);
    return code;
}

/* Maps a libcurl failure to a status, marking whether a retry may help. */
static enum registry_status fail_transport(struct registry_client *client,
                                           struct operation *op, CURLcode code)
{
    const char *detail =
        client->curl_error[0] ? client->curl_error : curl_easy_strerror(code);
    curl_off_t connect_time = 0;

    op->retryable = false;
    if (op->sink != NULL && op->sink->aborted) {
        return fail(op, REGISTRY_ABORTED, "stopped by the write function");
    }
    if (op->sink != NULL && op->sink->over_expected) {
        return fail(op, REGISTRY_INVALID_RESPONSE,
                    "blob is larger than the %lld bytes the manifest says",
                    (long long)op->sink->expected_size);
    }
    if (op->sink != NULL && op->sink->too_large) {
        return fail(op, REGISTRY_INVALID_RESPONSE,
                    "body is larger than the limit of %zu bytes",
                    op->sink->limit);
    }

    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        curl_easy_getinfo(client->curl, CURLINFO_CONNECT_TIME_T, &connect_time);
        op->retryable = true;
        if (connect_time == 0 && now_ms() < op->deadline_ms) {
            return fail(op, REGISTRY_NETWORK, "%s", detail);
        }
        return fail(op, REGISTRY_TIMEOUT, "%s", detail);
    case CURLE_PEER_FAILED_VERIFICATION:
        return fail(op, REGISTRY_UNAUTHORIZED,
                    "TLS certificate verification failed: %s", detail);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        op->retryable = true;
        return fail(op, REGISTRY_NETWORK, "%s", detail);
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        return fail(op, REGISTRY_INVALID_RESPONSE, "%s", detail);
    default:
        return fail(op, REGISTRY_INTERNAL, "%s", detail);
    }
}

/* ---- Redirects ---- */

static bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 ||
           status == 308;
}

static enum registry_status next_location(struct registry_client *client,
                                          struct operation *op, char **next)
{
    char *location = NULL;
    char scheme[16];
    char old_scheme[16] = "";
    char host_port[HOST_PORT_MAX + 8];

    *next = NULL;
    curl_easy_getinfo(client->curl, CURLINFO_REDIRECT_URL, &location);
    if (location == NULL) {
        return fail(op, REGISTRY_INVALID_RESPONSE,
                    "redirect without a usable Location");
    }
    if (url_origin(location, scheme, sizeof(scheme), host_port,
                   sizeof(host_port), false) != 0) {
        return fail(op, REGISTRY_INVALID_RESPONSE,
                    "redirect to a URL that is not http or https");
    }
    url_origin(op->current_url, old_scheme, sizeof(old_scheme), host_port,
               sizeof(host_port), false);
    if (strcmp(old_scheme, "https") == 0 && strcmp(scheme, "http") == 0) {
        return fail(op, REGISTRY_INVALID_RESPONSE,
                    "refusing a redirect from HTTPS to HTTP");
    }
    *next = strdup(location);
    if (*next == NULL) {
        return fail(op, REGISTRY_INTERNAL, "out of memory");
    }
    return REGISTRY_OK;
}

/* GETs op->url with authorization, following redirects. The header goes
 * only to op->url's own origin. On REGISTRY_OK, op->transfer contains the
 * final response, whatever its status. */
static enum registry_status
get_following_redirects(struct registry_client *client, struct operation *op,
                        const char *authorization)
{
    struct request request = {
        .accept = op->accept, .sink = op->sink, .deadline_ms = op->deadline_ms};

    free(op->current_url);
    op->current_url = strdup(op->url);
    op->method = "GET";
    if (op->current_url == NULL) {
        return fail(op, REGISTRY_INTERNAL, "out of memory");
    }

    for (int hop = 0; hop <= REDIRECTS_MAX; hop++) {
        enum registry_status status;
        CURLcode code;
        char *next;

        op->from_registry = same_origin(op->current_url, op->url);
        request.url = op->current_url;
        request.authorization = op->from_registry ? authorization : NULL;
        op->sent = true;
        code = perform(client, &request, &op->transfer);
        if (code != CURLE_OK) {
            return fail_transport(client, op, code);
        }
        if (!is_redirect(op->transfer.response.status)) {
            return REGISTRY_OK;
        }

        status = next_location(client, op, &next);
        if (status != REGISTRY_OK) {
            return status;
        }
        free(op->current_url);
        op->current_url = next;
    }
    return fail(op, REGISTRY_INVALID_RESPONSE, "more than %d redirects",
                REDIRECTS_MAX);
}

/* ---- Authentication ---- */

static struct cached_auth *cache_find(struct registry_client *client,
                                      const char *registry,
                                      const char *repository)
{
    for (size_t i = 0; i < TOKEN_CACHE_SIZE; i++) {
        struct cached_auth *entry = &client->cache[i];

        if (entry->used && strcmp(entry->registry, registry) == 0 &&
            strcmp(entry->repository, repository) == 0) {
            return entry;
        }
    }
    return NULL;
}

static void cache_drop(struct cached_auth *entry)
{
    free_secret(entry->token);
    memset(entry, 0, sizeof(*entry));
}

/* Stores the scheme, and for Bearer the token, that registry uses for
 * repository. Replaces the least recently used entry when the cache is
 * full, and takes ownership of token. */
static void cache_store(struct registry_client *client, const char *registry,
                        const char *repository, enum auth_scheme scheme,
                        char *token, long lifetime_s)
{
    struct cached_auth *entry = cache_find(client, registry, repository);
    int64_t now = now_ms();

    for (size_t i = 0; entry == NULL && i < TOKEN_CACHE_SIZE; i++) {
        if (!client->cache[i].used) {
            entry = &client->cache[i];
        }
    }
    if (entry == NULL) {
        entry = &client->cache[0];
        for (size_t i = 1; i < TOKEN_CACHE_SIZE; i++) {
            if (client->cache[i].last_used_ms < entry->last_used_ms) {
                entry = &client->cache[i];
            }
        }
    }

    cache_drop(entry);
    entry->used = true;
    snprintf(entry->registry, sizeof(entry->registry), "%s", registry);
    snprintf(entry->repository, sizeof(entry->repository), "%s", repository);
    entry->scheme = scheme;
    entry->token = token;
    /* Renewing at nine tenths of the lifetime keeps a token from expiring
     * between the check and its use. */
    entry->expires_at_ms = now + (int64_t)lifetime_s * 900;
    entry->last_used_ms = now;
}

/* Builds "Authorization: Basic base64(user:password)". The caller frees it
 * with free_secret(). */
static char *basic_header(const struct credential *credential)
{
    size_t plain_length =
        strlen(credential->username) + 1 + strlen(credential->password);
    size_t encoded_size = 4 * ((plain_length + 2) / 3) + 1;
    const char *prefix = "Authorization: Basic ";
    char *plain = malloc(plain_length + 1);
    char *header = malloc(strlen(prefix) + encoded_size);

    if (plain == NULL || header == NULL) {
        free(plain);
        free(header);
        return NULL;
    }
    snprintf(plain, plain_length + 1, "%s:%s", credential->username,
             credential->password);
    strcpy(header, prefix);
    EVP_EncodeBlock((unsigned char *)header + strlen(prefix),
                    (const unsigned char *)plain, (int)plain_length);
    OPENSSL_cleanse(plain, plain_length);
    free(plain);
    return header;
}

static char *bearer_header(const char *token)
{
    const char *prefix = "Authorization: Bearer ";
    size_t size = strlen(prefix) + strlen(token) + 1;
    char *header = malloc(size);

    if (header != NULL) {
        snprintf(header, size, "%s%s", prefix, token);
    }
    return header;
}

/* Returns the Authorization header cached for the operation's repository,
 * or NULL to start anonymously. */
static char *cached_header(struct registry_client *client, struct operation *op)
{
    struct cached_auth *entry =
        cache_find(client, op->registry, op->repository);
    const struct credential *credential;

    if (entry == NULL) {
        return NULL;
    }
    entry->last_used_ms = now_ms();
    if (entry->scheme == AUTH_SCHEME_BEARER) {
        if (entry->last_used_ms >= entry->expires_at_ms) {
            cache_drop(entry);
            return NULL;
        }
        return bearer_header(entry->token);
    }
    credential =
        credentials_find(client->credentials, op->registry, op->repository);
    return credential != NULL && credential->username != NULL
               ? basic_header(credential)
               : NULL;
}

/* Checks that the token realm may be used: https, or http on a host:port
 * listed as insecure. */
static enum registry_status check_realm(struct registry_client *client,
                                        struct operation *op, const char *realm)
{
    char scheme[16];
    char host_port[HOST_PORT_MAX + 8];

    if (url_origin(realm, scheme, sizeof(scheme), host_port, sizeof(host_port),
                   true) != 0) {
        return fail(op, REGISTRY_UNAUTHORIZED,
                    "token realm \"%.200s\" is not an http or https URL",
                    realm);
    }
    if (strcmp(scheme, "http") == 0 && !is_insecure(client, host_port)) {
        return fail(op, REGISTRY_UNAUTHORIZED,
                    "token realm %s uses plain HTTP but %s is not listed "
                    "as an insecure registry",
                    host_port, host_port);
    }
    return REGISTRY_OK;
}

/* Appends "&name=escaped value" (without "&" when first) to out. */
static int append_parameter(struct registry_client *client, char *out,
                            size_t out_size, const char *name,
                            const char *value)
{
    char *escaped = curl_easy_escape(client->curl, value, 0);
    size_t used = strlen(out);
    int written;

    if (escaped == NULL) {
        return -1;
    }
    written = snprintf(out + used, out_size - used, "%s%s=%s", used ? "&" : "",
                       name, escaped);
    OPENSSL_cleanse(escaped, strlen(escaped));
    curl_free(escaped);
    return written >= 0 && (size_t)written < out_size - used ? 0 : -1;
}

/* Builds the token request: a GET of realm?service=...&scope=..., or for
 * an identity token an OAuth2 refresh-token POST. */
static int build_token_request(struct registry_client *client,
                               const struct auth_challenge *challenge,
                               const char *scope,
                               const struct credential *credential, char *url,
                               size_t url_size, char *form, size_t form_size)
{
    char query[URL_MAX];

    query[0] = '\0';
    form[0] = '\0';
    if ((challenge->service[0] != '\0' &&
         append_parameter(client, query, sizeof(query), "service",
                          challenge->service) != 0) ||
        append_parameter(client, query, sizeof(query), "scope", scope) != 0) {
        return -1;
    }

    if (credential != NULL && credential->identity_token != NULL) {
        size_t used;

        snprintf(url, url_size, "%s", challenge->realm);
        if (append_parameter(client, form, form_size, "grant_type",
                             "refresh_token") != 0 ||
            append_parameter(client, form, form_size, "client_id",
                             "imgassure") != 0 ||
            append_parameter(client, form, form_size, "refresh_token",
                             credential->identity_token) != 0) {
            return -1;
        }
        used = strlen(form);
        if (snprintf(form + used, form_size - used, "&%s", query) >=
            (int)(form_size - used)) {
            return -1;
        }
        return 0;
    }

    if (snprintf(url, url_size, "%s%c%s", challenge->realm,
                 strchr(challenge->realm, '?') ? '&' : '?',
                 query) >= (int)url_size) {
        return -1;
    }
    return 0;
}

static bool is_token_text(const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            return false;
        }
    }
    return true;
}

/* Reads "token" (or "access_token") and "expires_in" from a token
 * service's JSON reply. */
static enum registry_status parse_token(struct operation *op,
                                        const struct sink *sink, char **token,
                                        long *lifetime_s)
{
    json_t *root =
        json_loadb(sink->data ? sink->data : "", sink->size, 0, NULL);
    const char *value = json_string_value(json_object_get(root, "token"));
    json_t *expires = json_object_get(root, "expires_in");

    if (value == NULL || value[0] == '\0') {
        value = json_string_value(json_object_get(root, "access_token"));
    }
    if (value == NULL || value[0] == '\0' || strlen(value) > TOKEN_MAX ||
        !is_token_text(value)) {
        json_decref(root);
        return fail(op, REGISTRY_INVALID_RESPONSE,
                    "token service reply has no usable token");
    }

    *lifetime_s = TOKEN_LIFETIME_DEFAULT_S;
    if (json_is_integer(expires) && json_integer_value(expires) > 0) {
        json_int_t seconds = json_integer_value(expires);

        *lifetime_s = seconds < TOKEN_LIFETIME_MAX_S ? (long)seconds
                                                     : TOKEN_LIFETIME_MAX_S;
    }
    *token = strdup(value);
    json_decref(root);
    if (*token == NULL) {
        return fail(op, REGISTRY_INTERNAL, "out of memory");
    }
    return REGISTRY_OK;
}

static enum registry_status check_token_status(struct operation *op,
                                               const struct credential *cred)
{
    long status = op->transfer.response.status;

    if (status == 200) {
        return REGISTRY_OK;
    }
    if (status == 401 || status == 403) {
        return fail_status(op, REGISTRY_UNAUTHORIZED,
                           cred ? "token service rejected the credentials"
                                : "token service refused anonymous access");
    }
    if (status == 429 || (status >= 500 && status != 501)) {
        op->retryable = true;
        return fail_status(op, REGISTRY_NETWORK, "token service unavailable");
    }
    return fail_status(op, REGISTRY_INVALID_RESPONSE,
                       "unexpected status from the token service");
}

/* Gets a token from the challenge's realm, for pulling op->repository. */
static enum registry_status fetch_token(struct registry_client *client,
                                        struct operation *op,
                                        const struct auth_challenge *challenge,
                                        char **token, long *lifetime_s)
{
    const struct credential *cred =
        credentials_find(client->credentials, op->registry, op->repository);
    struct sink sink = {.limit = TOKEN_RESPONSE_MAX, .expected_size = -1};
    struct request request = {.accept = "Accept: application/json",
                              .sink = &sink,
                              .deadline_ms = op->deadline_ms};
    char scope[IMAGE_REF_REPOSITORY_MAX + 32];
    char url[URL_MAX];
    char form[URL_MAX + TOKEN_MAX];
    char *authorization = NULL;
    enum registry_status status;
    CURLcode code;

    status = check_realm(client, op, challenge->realm);
    if (status != REGISTRY_OK) {
        return status;
    }
    snprintf(scope, sizeof(scope), "repository:%s:pull", op->repository);
    if (build_token_request(client, challenge, scope, cred, url, sizeof(url),
                            form, sizeof(form)) != 0) {
        OPENSSL_cleanse(form, sizeof(form));
        return fail(op, REGISTRY_INVALID_RESPONSE,
                    "token request for realm %.200s is too long",
                    challenge->realm);
    }

    if (form[0] != '\0') {
        request.post_fields = form;
    } else if (cred != NULL && cred->username != NULL) {
        authorization = basic_header(cred);
        if (authorization == NULL) {
            return fail(op, REGISTRY_INTERNAL, "out of memory");
        }
    }
    request.url = url;
    request.authorization = authorization;
    free(op->current_url);
    op->current_url = strdup(url);
    op->method = form[0] != '\0' ? "POST" : "GET";

    op->sent = true;
    code = perform(client, &request, &op->transfer);
    OPENSSL_cleanse(form, sizeof(form));
    free_secret(authorization);
    if (code != CURLE_OK) {
        struct sink *operation_sink = op->sink;

        op->sink = &sink;
        status = fail_transport(client, op, code);
        op->sink = operation_sink;
    } else {
        status = check_token_status(op, cred);
    }
    if (status == REGISTRY_OK) {
        status = parse_token(op, &sink, token, lifetime_s);
    }
    if (sink.data != NULL) {
        OPENSSL_cleanse(sink.data, sink.size);
        free(sink.data);
    }
    return status;
}

/* ---- Operations ---- */

static enum registry_status check_final_status(struct operation *op)
{
    long status = op->transfer.response.status;

    if (status == 200) {
        return REGISTRY_OK;
    }
    if (status == 404) {
        return fail_status(op, REGISTRY_NOT_FOUND, "not found");
    }
    if (status == 401 || status == 403) {
        return fail_status(op, REGISTRY_UNAUTHORIZED, "access denied");
    }
    if (status == 429 || (status >= 500 && status != 501)) {
        op->retryable = true;
        return fail_status(op, REGISTRY_NETWORK, "registry unavailable");
    }
    if (status >= 400) {
        return fail_status(op, REGISTRY_INTERNAL, "request refused");
    }
    return fail_status(op, REGISTRY_INVALID_RESPONSE, "unexpected status");
}

/* Handles a 401 by choosing the credentials, or fetching the token, that
 * the challenge requests. */
static enum registry_status answer_challenge(struct registry_client *client,
                                             struct operation *op,
                                             char **authorization,
                                             int *token_fetches)
{
    struct auth_challenge challenge;
    const struct credential *credential;
    char reason[256];
    char *token = NULL;
    long lifetime_s = 0;
    enum registry_status status;

    if (op->transfer.response.www_authenticate_too_long ||
        auth_challenge_parse(op->transfer.response.www_authenticate, &challenge,
                             reason, sizeof(reason)) != 0) {
        return fail(op, REGISTRY_UNAUTHORIZED, "%s",
                    op->transfer.response.www_authenticate_too_long
                        ? "WWW-Authenticate is too long"
                        : reason);
    }

    if (challenge.scheme == AUTH_SCHEME_BASIC) {
        credential =
            credentials_find(client->credentials, op->registry, op->repository);
        if (*authorization != NULL) {
            return fail_status(op, REGISTRY_UNAUTHORIZED,
                               "the registry rejected the credentials");
        }
        if (credential == NULL || credential->username == NULL) {
            return fail(op, REGISTRY_UNAUTHORIZED,
                        "the registry requires credentials and none are "
                        "configured for %s",
                        op->registry);
        }
        *authorization = basic_header(credential);
        cache_store(client, op->registry, op->repository, AUTH_SCHEME_BASIC,
                    NULL, 0);
        return *authorization ? REGISTRY_OK
                              : fail(op, REGISTRY_INTERNAL, "out of memory");
    }

    if (*token_fetches == TOKEN_FETCHES_MAX) {
        return fail_status(op, REGISTRY_UNAUTHORIZED,
                           "the registry rejected a fresh token");
    }
    (*token_fetches)++;
    status = fetch_token(client, op, &challenge, &token, &lifetime_s);
    if (status != REGISTRY_OK) {
        return status;
    }
    free_secret(*authorization);
    *authorization = bearer_header(token);
    cache_store(client, op->registry, op->repository, AUTH_SCHEME_BEARER, token,
                lifetime_s);
    return *authorization ? REGISTRY_OK
                          : fail(op, REGISTRY_INTERNAL, "out of memory");
}

/* Runs one try of an operation: request, authenticate on a 401, request
 * again. */
static enum registry_status run_attempt(struct registry_client *client,
                                        struct operation *op)
{
    char *authorization = cached_header(client, op);
    int token_fetches = 0;
    enum registry_status status;
    int round = 0;

    op->retryable = false;
    for (;;) {
        status = get_following_redirects(client, op, authorization);
        if (status != REGISTRY_OK) {
            break;
        }
        /* A 401 from storage that a redirect led to gets no credentials,
         * because they are only for the registry and the realm it names. */
        if (op->transfer.response.status != 401 || !op->from_registry) {
            status = check_final_status(op);
            break;
        }
        if (++round > AUTH_ROUNDS_MAX) {
            status = fail_status(op, REGISTRY_UNAUTHORIZED,
                                 "authentication did not succeed");
            break;
        }
        status = answer_challenge(client, op, &authorization, &token_fetches);
        if (status != REGISTRY_OK) {
            break;
        }
    }
    free_secret(authorization);
    return status;
}

/* Returns how long to wait before retry number attempt + 1. */
static int64_t retry_delay_ms(const struct registry_client *client,
                              const struct response *response, int attempt)
{
    const char *retry_after = response->retry_after;
    int64_t cap_ms = (int64_t)client->options.retry_after_max_s * 1000;
    int64_t delay = client->options.retry_delay_ms;

    if (retry_after[0] != '\0') {
        char *end;
        long long seconds = strtoll(retry_after, &end, 10);

        if (*end != '\0') {
            time_t when = curl_getdate(retry_after, NULL);

            seconds = when > 0 ? (long long)(when - time(NULL)) : -1;
        }
        if (seconds >= 0) {
            return seconds * 1000 < cap_ms ? seconds * 1000 : cap_ms;
        }
    }
    for (int i = 0; i < attempt && delay < RETRY_DELAY_MAX_MS; i++) {
        delay *= 2;
    }
    return delay < RETRY_DELAY_MAX_MS ? delay : RETRY_DELAY_MAX_MS;
}

static enum registry_status run_operation(struct registry_client *client,
                                          struct operation *op,
                                          const char *digest)
{
    int64_t total_ms = (int64_t)client->options.total_timeout_s * 1000;
    enum registry_status status;
    int attempts = 0;

    op->deadline_ms = total_ms > 0 ? now_ms() + total_ms : INT64_MAX;
    for (;;) {
        int64_t delay;

        if (op->errbuf != NULL && op->errbuf_size > 0) {
            op->errbuf[0] = '\0';
        }
        if (sink_reset(op->sink, digest) != 0) {
            return fail(op, REGISTRY_INTERNAL, "cannot start the digest");
        }
        status = run_attempt(client, op);
        attempts++;
        if (status == REGISTRY_OK || !op->retryable ||
            attempts > client->options.max_retries ||
            (op->sink->write_fn != NULL && op->sink->received > 0)) {
            break;
        }
        delay = retry_delay_ms(client, &op->transfer.response, attempts - 1);
        if (now_ms() + delay >= op->deadline_ms) {
            break;
        }
        sleep_ms(delay);
    }

    if (status != REGISTRY_OK && attempts > 1 && op->errbuf != NULL &&
        op->errbuf_size > 0) {
        size_t used = strlen(op->errbuf);

        snprintf(op->errbuf + used, op->errbuf_size - used, " (%d attempts)",
                 attempts);
    }
    return status;
}

/* Validates the names a caller passed and fills op's URL. */
static enum registry_status prepare(struct registry_client *client,
                                    struct operation *op, const char *registry,
                                    const char *repository, const char *kind,
                                    const char *reference,
                                    struct image_ref *ref)
{
    bool by_digest = image_ref_validate_digest(reference) == 0;
    const char *host;

    op->method = "GET";
    if (image_ref_build(ref, registry, repository, by_digest ? NULL : reference,
                        by_digest ? reference : NULL, op->errbuf,
                        op->errbuf_size) != 0) {
        return REGISTRY_INTERNAL;
    }
    if (!by_digest && ref->tag[0] == '\0') {
        set_error(op->errbuf, op->errbuf_size,
                  "manifest reference (tag or digest) is empty");
        return REGISTRY_INTERNAL;
    }

    op->registry = ref->registry;
    op->repository = ref->repository;
    /* Docker Hub serves its API from a host other than its name. */
    host = strcmp(ref->registry, "docker.io") == 0 ? "registry-1.docker.io"
                                                   : ref->registry;
    snprintf(op->url, sizeof(op->url), "%s://%s/v2/%s/%s/%s",
             is_insecure(client, ref->registry) ? "http" : "https", host,
             ref->repository, kind, reference);
    return REGISTRY_OK;
}

static void finish_operation(struct operation *op)
{
    free(op->current_url);
    op->current_url = NULL;
}

/* ---- Manifests ---- */

static void strip_parameters(const char *content_type, char *out,
                             size_t out_size)
{
    size_t length = strcspn(content_type, ";");

    while (length > 0 && (content_type[length - 1] == ' ' ||
                          content_type[length - 1] == '\t')) {
        length--;
    }
    snprintf(out, out_size, "%.*s", (int)length, content_type);
}

/* Checks the body against the requested digest and Docker-Content-Digest,
 * and picks the digest to report. */
static enum registry_status verify_manifest(struct operation *op,
                                            const char *reference,
                                            struct registry_manifest *manifest)
{
    const char *header = op->transfer.response.content_digest;
    bool by_digest = image_ref_validate_digest(reference) == 0;
    char computed[IMAGE_REF_DIGEST_MAX + 1];

    if (by_digest) {
        compute_digest(reference, manifest->body, manifest->size, computed,
                       sizeof(computed));
        if (strcmp(computed, reference) != 0) {
            return fail(op, REGISTRY_DIGEST_MISMATCH,
                        "manifest hashes to %s, not the requested %s", computed,
                        reference);
        }
    }
    if (image_ref_validate_digest(header) == 0) {
        compute_digest(header, manifest->body, manifest->size, computed,
                       sizeof(computed));
        if (strcmp(computed, header) != 0) {
            return fail(op, REGISTRY_DIGEST_MISMATCH,
                        "manifest hashes to %s, not %s as "
                        "Docker-Content-Digest says",
                        computed, header);
        }
    }

    if (by_digest) {
        snprintf(manifest->digest, sizeof(manifest->digest), "%s", reference);
    } else if (image_ref_validate_digest(header) == 0) {
        snprintf(manifest->digest, sizeof(manifest->digest), "%s", header);
    } else {
        compute_digest("sha256:", manifest->body, manifest->size,
                       manifest->digest, sizeof(manifest->digest));
    }
    strip_parameters(op->transfer.response.content_type, manifest->content_type,
                     sizeof(manifest->content_type));
    return REGISTRY_OK;
}

enum registry_status registry_fetch_manifest(struct registry_client *client,
                                             const char *registry,
                                             const char *repository,
                                             const char *reference,
                                             struct registry_manifest *manifest,
                                             char *errbuf, size_t errbuf_size)
{
    struct sink sink = {.limit = REGISTRY_MANIFEST_SIZE_MAX,
                        .expected_size = -1};
    struct operation op;
    struct image_ref ref;
    enum registry_status status;

    memset(manifest, 0, sizeof(*manifest));
    memset(&op, 0, sizeof(op));
    op.errbuf = errbuf;
    op.errbuf_size = errbuf_size;
    op.accept = ACCEPT_MANIFESTS;
    op.sink = &sink;
    status = prepare(client, &op, registry, repository, "manifests",
                     reference ? reference : "", &ref);
    if (status != REGISTRY_OK) {
        return status;
    }

    status = run_operation(client, &op, NULL);
    if (status == REGISTRY_OK) {
        manifest->body = sink.data ? sink.data : strdup("");
        manifest->size = sink.size;
        sink.data = NULL;
        status = manifest->body ? verify_manifest(&op, reference, manifest)
                                : fail(&op, REGISTRY_INTERNAL, "out of memory");
    }
    if (status != REGISTRY_OK) {
        registry_manifest_clear(manifest);
    }
    free(sink.data);
    finish_operation(&op);
    return status;
}

void registry_manifest_clear(struct registry_manifest *manifest)
{
    free(manifest->body);
    memset(manifest, 0, sizeof(*manifest));
}

/* ---- Blobs ---- */

static enum registry_status verify_blob(struct operation *op,
                                        const char *digest,
                                        const char *computed, uint64_t received,
                                        int64_t expected_size)
{
    if (strcmp(computed, digest) != 0) {
        if (expected_size >= 0 && received != (uint64_t)expected_size) {
            return fail(op, REGISTRY_DIGEST_MISMATCH,
                        "blob hashes to %s, not %s, after %llu of %lld "
                        "bytes",
                        computed, digest, (unsigned long long)received,
                        (long long)expected_size);
        }
        return fail(op, REGISTRY_DIGEST_MISMATCH, "blob hashes to %s, not %s",
                    computed, digest);
    }
    if (expected_size >= 0 && received != (uint64_t)expected_size) {
        return fail(op, REGISTRY_INVALID_RESPONSE,
                    "blob is %llu bytes but the manifest says %lld",
                    (unsigned long long)received, (long long)expected_size);
    }
    return REGISTRY_OK;
}

static enum registry_status
start_blob(struct registry_client *client, struct operation *op,
           const char *registry, const char *repository, const char *digest,
           struct image_ref *ref)
{
    op->method = "GET";
    if (digest == NULL || image_ref_validate_digest(digest) != 0) {
        set_error(op->errbuf, op->errbuf_size,
                  "invalid blob digest \"%.135s\": expected sha256:<64 hex "
                  "digits> or sha512:<128 hex digits>",
                  digest ? digest : "");
        return REGISTRY_INTERNAL;
    }
    return prepare(client, op, registry, repository, "blobs", digest, ref);
}

enum registry_status
registry_fetch_blob(struct registry_client *client, const char *registry,
                    const char *repository, const char *digest,
                    int64_t expected_size, char **data, size_t *size,
                    char *errbuf, size_t errbuf_size)
{
    struct sink sink = {.limit = REGISTRY_BLOB_MEMORY_MAX,
                        .expected_size = expected_size};
    char computed[IMAGE_REF_DIGEST_MAX + 1];
    struct operation op;
    struct image_ref ref;
    enum registry_status status;

    *data = NULL;
    *size = 0;
    memset(&op, 0, sizeof(op));
    op.errbuf = errbuf;
    op.errbuf_size = errbuf_size;
    op.sink = &sink;
    status = start_blob(client, &op, registry, repository, digest, &ref);
    if (status != REGISTRY_OK) {
        return status;
    }
    if (expected_size > REGISTRY_BLOB_MEMORY_MAX) {
        return fail(&op, REGISTRY_INVALID_RESPONSE,
                    "blob of %lld bytes is over the %d-byte limit for blobs "
                    "read into memory",
                    (long long)expected_size, REGISTRY_BLOB_MEMORY_MAX);
    }

    status = run_operation(client, &op, digest);
    if (status == REGISTRY_OK) {
        compute_digest(digest, sink.data ? sink.data : "", sink.size, computed,
                       sizeof(computed));
        status = verify_blob(&op, digest, computed, sink.size, expected_size);
    }
    if (status == REGISTRY_OK) {
        *data = sink.data ? sink.data : strdup("");
        *size = sink.size;
        sink.data = NULL;
        if (*data == NULL) {
            status = fail(&op, REGISTRY_INTERNAL, "out of memory");
        }
    }
    free(sink.data);
    finish_operation(&op);
    return status;
}

enum registry_status
registry_fetch_blob_stream(struct registry_client *client, const char *registry,
                           const char *repository, const char *digest,
                           int64_t expected_size, registry_write_fn write_fn,
                           void *userdata, char *errbuf, size_t errbuf_size)
{
    struct sink sink = {.write_fn = write_fn,
                        .userdata = userdata,
                        .expected_size = expected_size};
    char computed[IMAGE_REF_DIGEST_MAX + 1];
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    struct operation op;
    struct image_ref ref;
    enum registry_status status;

    memset(&op, 0, sizeof(op));
    op.errbuf = errbuf;
    op.errbuf_size = errbuf_size;
    op.sink = &sink;
    status = start_blob(client, &op, registry, repository, digest, &ref);
    if (status != REGISTRY_OK) {
        return status;
    }
    if (write_fn == NULL) {
        return fail(&op, REGISTRY_INTERNAL, "no write function given");
    }
    sink.hash = EVP_MD_CTX_new();
    if (sink.hash == NULL) {
        return fail(&op, REGISTRY_INTERNAL, "out of memory");
    }

    status = run_operation(client, &op, digest);
    if (status == REGISTRY_OK) {
        if (EVP_DigestFinal_ex(sink.hash, hash, &length) != 1) {
            status = fail(&op, REGISTRY_INTERNAL, "cannot finish the digest");
        } else {
            format_digest(digest_algorithm(digest), hash, length, computed,
                          sizeof(computed));
            status = verify_blob(&op, digest, computed, sink.received,
                                 expected_size);
        }
    }
    EVP_MD_CTX_free(sink.hash);
    finish_operation(&op);
    return status;
}
