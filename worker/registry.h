/*
 * An OCI distribution (Docker registry v2) client over libcurl: manifests,
 * blobs in memory and blobs streamed, with anonymous, Basic and Bearer
 * token authentication.
 *
 * A registry_client is not thread-safe, so use one client per thread. Each
 * client has one libcurl handle, so connections are reused, and a cache
 * of tokens per registry and repository.
 *
 * Every registry is reached over HTTPS with certificate verification,
 * except those listed in registry_options.insecure_registries, which are
 * reached over plain HTTP. Credentials are sent only to the registry named
 * in a call and to the token realm it names. An HTTP realm is used only
 * when its host:port is also listed as insecure. A redirect to another
 * scheme, host or port (registries redirect blobs to storage) is followed
 * without the Authorization header, and a redirect from HTTPS to HTTP is
 * refused. Nothing here logs, and no credential or token is ever written
 * to errbuf.
 */
#ifndef IMGASSURE_REGISTRY_H
#define IMGASSURE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "image_ref.h"

/* Largest manifest and largest blob fetched into memory, in bytes. */
#define REGISTRY_MANIFEST_SIZE_MAX (4 * 1024 * 1024)
#define REGISTRY_BLOB_MEMORY_MAX (4 * 1024 * 1024)
#define REGISTRY_CONTENT_TYPE_MAX 255

/* Outcome of an operation, which the scan maps to a result status. */
enum registry_status {
    REGISTRY_OK = 0,
    /* Connection refused, DNS failure, TLS handshake failure other than
     * trust, connect timeout, or HTTP 429 or 5xx after every retry. */
    REGISTRY_NETWORK,
    /* 401 or 403 after authenticating, credentials rejected or missing,
     * or a certificate that failed verification. */
    REGISTRY_UNAUTHORIZED,
    REGISTRY_NOT_FOUND,        /* 404: manifest, blob or repository unknown */
    REGISTRY_TIMEOUT,          /* total timeout or low-speed limit reached */
    REGISTRY_INVALID_RESPONSE, /* malformed, oversized or unexpected reply */
    REGISTRY_DIGEST_MISMATCH,  /* content does not hash to its digest */
    REGISTRY_ABORTED,          /* the write function asked to stop */
    REGISTRY_INTERNAL,         /* out of memory, bad options, libcurl setup */
};

struct registry_options {
    /* containers auth.json or docker config.json; NULL: anonymous. */
    const char *credentials_path;
    /* Comma-separated host[:port] list reached over plain HTTP, as in
     * IMGASSURE_INSECURE_REGISTRIES; NULL: none. */
    const char *insecure_registries;
    /* PEM bundle trusted instead of the system store; NULL: system. */
    const char *ca_file;
    const char *user_agent;
    long connect_timeout_s;
    /* Maximum time one operation may take, retries and authentication
     * included. A streamed blob counts as one operation; 0: no limit. */
    long total_timeout_s;
    /* A transfer slower than low_speed_bytes_per_s for low_speed_time_s
     * seconds times out; 0 in either turns the check off. */
    long low_speed_bytes_per_s;
    long low_speed_time_s;
    /* Retries after a network error or HTTP 429/5xx, with a delay of
     * retry_delay_ms doubled on each retry, or the server's Retry-After
     * when it sends one, capped at retry_after_max_s. */
    int max_retries;
    long retry_delay_ms;
    long retry_after_max_s;
};

/* A manifest as fetched. */
struct registry_manifest {
    char *body; /* NUL-terminated; size excludes the NUL */
    size_t size;
    /* Media type from Content-Type, parameters removed; "" when absent. */
    char content_type[REGISTRY_CONTENT_TYPE_MAX + 1];
    /* The manifest's digest, verified against the body: the requested
     * digest when fetched by digest, else Docker-Content-Digest when sent,
     * else the sha256 of the body. */
    char digest[IMAGE_REF_DIGEST_MAX + 1];
};

/* Called with each chunk of a streamed blob, in order. Returns 0 to go on,
 * anything else to stop the download (the fetch then returns
 * REGISTRY_ABORTED). */
typedef int (*registry_write_fn)(const void *data, size_t size, void *userdata);

/* Fills options with the defaults: no credentials, no insecure registries,
 * system CAs, user agent "imgassure", connect timeout 15 s, total timeout
 * 1800 s, low-speed limit 1024 bytes/s over 60 s, 3 retries from 500 ms,
 * Retry-After capped at 30 s. */
void registry_options_init(struct registry_options *options);

/* Returns the name of a status, e.g. "NOT_FOUND". */
const char *registry_status_name(enum registry_status status);

/*
 * Creates a client. Loads the credentials file (a missing file means
 * anonymous; a malformed one is an error) and checks the options. The
 * first call also initialises libcurl for the process. Returns NULL with
 * the reason in errbuf. Free with registry_client_free().
 */
struct registry_client *
registry_client_new(const struct registry_options *options, char *errbuf,
                    size_t errbuf_size);

/* Frees a client and wipes the tokens it cached. registry_client_free(NULL)
 * is a no-op. */
void registry_client_free(struct registry_client *client);

/*
 * Fetches the manifest or index that reference (a tag or a digest) names
 * in repository on registry ("host[:port]"; docker.io is reached at
 * registry-1.docker.io). Accepts OCI and Docker v2 manifest and index
 * media types. The body is capped at REGISTRY_MANIFEST_SIZE_MAX. When
 * fetched by digest, or when the registry sends a sha256 or sha512
 * Docker-Content-Digest, the body must hash to it or the result is
 * REGISTRY_DIGEST_MISMATCH. On REGISTRY_OK the caller owns *manifest and
 * releases it with registry_manifest_clear(). Otherwise *manifest is
 * zeroed, and errbuf names the failure, the URL and the HTTP status.
 */
enum registry_status registry_fetch_manifest(struct registry_client *client,
                                             const char *registry,
                                             const char *repository,
                                             const char *reference,
                                             struct registry_manifest *manifest,
                                             char *errbuf, size_t errbuf_size);

/* Frees the body of a fetched manifest and zeroes it. */
void registry_manifest_clear(struct registry_manifest *manifest);

/*
 * Fetches a blob (an image config) into memory and checks its digest and,
 * when expected_size is not negative, its size. Blobs over
 * REGISTRY_BLOB_MEMORY_MAX are rejected. On REGISTRY_OK *data is a
 * malloc'd, NUL-terminated buffer the caller frees, and *size its length
 * without the NUL; otherwise *data is NULL.
 */
enum registry_status
registry_fetch_blob(struct registry_client *client, const char *registry,
                    const char *repository, const char *digest,
                    int64_t expected_size, char **data, size_t *size,
                    char *errbuf, size_t errbuf_size);

/*
 * Streams a blob (a layer) to write_fn as it downloads and hashes it on
 * the way. The blob is never held whole in memory or written to disk. When
 * expected_size is not negative, a blob that grows past it is cut off
 * (REGISTRY_INVALID_RESPONSE). Whether the bytes match digest is known
 * only at the end. write_fn may have received all of them before the
 * fetch returns REGISTRY_DIGEST_MISMATCH, so a caller must not trust what
 * it built until REGISTRY_OK. Retries happen only while no byte has
 * reached write_fn.
 * TODO(resume): a connection lost mid-blob fails the fetch; resuming with
 * a Range request would spare large layers a second full download.
 */
enum registry_status
registry_fetch_blob_stream(struct registry_client *client, const char *registry,
                           const char *repository, const char *digest,
                           int64_t expected_size, registry_write_fn write_fn,
                           void *userdata, char *errbuf, size_t errbuf_size);

#endif
