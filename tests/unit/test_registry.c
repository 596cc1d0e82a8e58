/*
 * The registry client against real docker-registry processes (Debian's
 * docker-registry 2.8) that this test starts on free 127.0.0.1 ports, all
 * serving one filesystem storage in a temp dir:
 *
 *   open   plain HTTP, no authentication (skopeo pushes tag "multi" here)
 *   basic  htpasswd Basic authentication (skopeo pushes tag "single")
 *   token  Bearer tokens from a token service this test runs and signs
 *   tls    HTTPS with a self-signed certificate
 *   broken a copy of the storage with a layer and a manifest corrupted
 *
 * A small HTTP server in this file plays the token service and the cases
 * docker-registry cannot produce: 503 with Retry-After, redirects to
 * another host, oversized and stalled replies.
 *
 * Needs docker-registry, skopeo, htpasswd and openssl; without them every
 * test is skipped with the reason printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "manifest.h"
#include "registry.h"

#define REPOSITORY "test/app"
#define USERNAME "alice"
#define PASSWORD "wonderland"
#define TOKEN_SERVICE "imgassure-test"
#define TOKEN_ISSUER "imgassure-test-issuer"
#define IDENTITY_TOKEN "refresh-abc"
#define DATA_FILE_SIZE (300 * 1024)
#define PROCESSES_MAX 8
#define DIGEST_SIZE (IMAGE_REF_DIGEST_MAX + 1)

enum registry_name { OPEN, BASIC, TOKEN, TLS, BROKEN, REGISTRY_COUNT };

static const char *const registry_names[] = {"open", "basic", "token", "tls",
                                             "broken"};

/* ---- Test environment ---- */

static const char *skip_reason;
static char temp_dir[64];
static char programs[4][256]; /* docker-registry, skopeo, htpasswd, openssl */
static pid_t processes[PROCESSES_MAX];
static size_t process_count;
static int registry_ports[REGISTRY_COUNT];
static char registry_hosts[REGISTRY_COUNT][32];

/* The image pushed: an index of two manifests sharing one layer. */
static char index_digest[DIGEST_SIZE];
static char amd64_digest[DIGEST_SIZE];
static char arm64_digest[DIGEST_SIZE];
static char config_digest[DIGEST_SIZE];
static char layer_digest[DIGEST_SIZE];
static unsigned char *layer_data;
static size_t layer_size;
static char big_blob_digest[DIGEST_SIZE];

static void kill_processes(void)
{
    for (size_t i = 0; i < process_count; i++) {
        if (processes[i] > 0) {
            kill(processes[i], SIGTERM);
            waitpid(processes[i], NULL, 0);
            processes[i] = 0;
        }
    }
    process_count = 0;
}

static void require_environment(void)
{
    if (skip_reason != NULL) {
        print_message("skipping: %s\n", skip_reason);
        skip();
    }
}

static bool find_program(const char *name, char *out, size_t out_size)
{
    const char *path = getenv("PATH");
    char copy[4096];

    snprintf(copy, sizeof(copy), "%s",
             path ? path : "/usr/local/bin:/usr/bin:/bin");
    for (char *dir = strtok(copy, ":"); dir != NULL; dir = strtok(NULL, ":")) {
        snprintf(out, out_size, "%s/%s", dir, name);
        if (access(out, X_OK) == 0) {
            return true;
        }
    }
    return false;
}

/* Starts argv (argv[0] an absolute path) with stdout and stderr in
 * output_path. The child dies with this process, even if it crashes. */
static pid_t spawn(char *const argv[], const char *output_path)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(output_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int run_command(char *const argv[], const char *output_path)
{
    pid_t pid = spawn(argv, output_path);
    int status = 0;

    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int free_port(void)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    socklen_t length = sizeof(address);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 &&
        bind(fd, (struct sockaddr *)&address, sizeof(address)) == 0 &&
        getsockname(fd, (struct sockaddr *)&address, &length) == 0) {
        port = ntohs(address.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static bool port_accepts(int port)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool connected;

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons((uint16_t)port);
    connected = fd >= 0 &&
                connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return connected;
}

static int write_file(const char *path, const void *data, size_t size)
{
    FILE *file = fopen(path, "wb");
    int status = 0;

    if (file == NULL) {
        return -1;
    }
    if (fwrite(data, 1, size, file) != size) {
        status = -1;
    }
    if (fclose(file) != 0) {
        status = -1;
    }
    return status;
}

static void sha256_digest(const void *data, size_t size, char *out,
                          size_t out_size)
{
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    size_t used;

    EVP_Digest(data, size, hash, &length, EVP_sha256(), NULL);
    used = (size_t)snprintf(out, out_size, "sha256:");
    for (unsigned int i = 0; i < length; i++) {
        used += (size_t)snprintf(out + used, out_size - used, "%02x", hash[i]);
    }
}

/* ---- Building the OCI layout that skopeo pushes ---- */

static int add_tar_file(struct archive *archive, const char *name,
                        const void *data, size_t size)
{
    struct archive_entry *entry = archive_entry_new();
    int status = -1;

    archive_entry_set_pathname(entry, name);
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, (la_int64_t)size);
    archive_entry_set_mtime(entry, 0, 0);
    if (archive_write_header(archive, entry) == ARCHIVE_OK &&
        archive_write_data(archive, data, size) == (la_ssize_t)size) {
        status = 0;
    }
    archive_entry_free(entry);
    return status;
}

/* Builds an uncompressed tar with an os-release and a file of
 * pseudo-random bytes large enough to arrive in many chunks. */
static unsigned char *build_tar(size_t *size)
{
    const char *os_release = "ID=imgassure-test\nVERSION_ID=1\n";
    size_t capacity = DATA_FILE_SIZE + 64 * 1024;
    unsigned char *tar = malloc(capacity);
    unsigned char *random_data = malloc(DATA_FILE_SIZE);
    struct archive *archive = archive_write_new();
    uint32_t state = 2463534242u;
    size_t used = 0;
    int status;

    for (size_t i = 0; i < DATA_FILE_SIZE; i++) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        random_data[i] = (unsigned char)state;
    }
    archive_write_set_format_pax_restricted(archive);
    archive_write_set_bytes_in_last_block(archive, 1);
    status = archive_write_open_memory(archive, tar, capacity, &used);
    if (status == ARCHIVE_OK) {
        status = add_tar_file(archive, "etc/os-release", os_release,
                              strlen(os_release));
    }
    if (status == ARCHIVE_OK) {
        status = add_tar_file(archive, "usr/share/data.bin", random_data,
                              DATA_FILE_SIZE);
    }
    if (archive_write_close(archive) != ARCHIVE_OK) {
        status = -1;
    }
    archive_write_free(archive);
    free(random_data);
    if (status != ARCHIVE_OK) {
        free(tar);
        return NULL;
    }
    *size = used;
    return tar;
}

static unsigned char *gzip_data(const unsigned char *data, size_t size,
                                size_t *out_size)
{
    z_stream stream;
    unsigned char *out;
    size_t capacity;

    memset(&stream, 0, sizeof(stream));
    if (deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        return NULL;
    }
    capacity = deflateBound(&stream, size);
    out = malloc(capacity);
    stream.next_in = (unsigned char *)data;
    stream.avail_in = (uInt)size;
    stream.next_out = out;
    stream.avail_out = (uInt)capacity;
    if (out == NULL || deflate(&stream, Z_FINISH) != Z_STREAM_END) {
        free(out);
        deflateEnd(&stream);
        return NULL;
    }
    *out_size = stream.total_out;
    deflateEnd(&stream);
    return out;
}

static int write_blob(const char *layout, const void *data, size_t size,
                      char *digest, size_t digest_size)
{
    char path[512];

    sha256_digest(data, size, digest, digest_size);
    snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, digest + 7);
    return write_file(path, data, size);
}

/* Writes a config and a manifest for it; *manifest_size gets the size of
 * the manifest. */
static int write_image(const char *layout, const char *config,
                       char *this_config_digest, char *digest,
                       size_t *manifest_size)
{
    char manifest[1024];

    if (write_blob(layout, config, strlen(config), this_config_digest,
                   DIGEST_SIZE) != 0) {
        return -1;
    }
    snprintf(manifest, sizeof(manifest),
             "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
             "\",\"config\":{\"mediaType\":\"" MEDIA_TYPE_OCI_CONFIG
             "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{"
             "\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
             "\"digest\":\"%s\",\"size\":%zu}]}",
             this_config_digest, strlen(config), layer_digest, layer_size);
    *manifest_size = strlen(manifest);
    return write_blob(layout, manifest, strlen(manifest), digest, DIGEST_SIZE);
}

static int write_layout_files(const char *layout, size_t amd64_size,
                              size_t arm64_size)
{
    char index[1024];
    char layout_index[1024];
    char path[512];

    snprintf(index, sizeof(index),
             "{\"schemaVersion\":2,\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX
             "\",\"manifests\":["
             "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
             "\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{"
             "\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"}},"
             "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
             "\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{"
             "\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
             arm64_digest, arm64_size, amd64_digest, amd64_size);
    if (write_blob(layout, index, strlen(index), index_digest,
                   sizeof(index_digest)) != 0) {
        return -1;
    }

    snprintf(layout_index, sizeof(layout_index),
             "{\"schemaVersion\":2,\"manifests\":["
             "{\"mediaType\":\"" MEDIA_TYPE_OCI_INDEX
             "\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{"
             "\"org.opencontainers.image.ref.name\":\"multi\"}},"
             "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST
             "\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{"
             "\"org.opencontainers.image.ref.name\":\"single\"}}]}",
             index_digest, strlen(index), amd64_digest, amd64_size);
    snprintf(path, sizeof(path), "%s/index.json", layout);
    if (write_file(path, layout_index, strlen(layout_index)) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/oci-layout", layout);
    return write_file(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
}

/* Builds an OCI layout holding tag "multi" (an index of linux/amd64 and
 * linux/arm64/v8 sharing one gzip layer) and tag "single" (the amd64
 * manifest). */
static int build_layout(const char *layout)
{
    char path[512];
    char config[512];
    char diff_id[DIGEST_SIZE];
    char arm64_config_digest[DIGEST_SIZE];
    size_t amd64_size = 0;
    size_t arm64_size = 0;
    size_t tar_size = 0;
    unsigned char *tar;

    snprintf(path, sizeof(path), "%s/blobs", layout);
    if (mkdir(layout, 0700) != 0 || mkdir(path, 0700) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/blobs/sha256", layout);
    if (mkdir(path, 0700) != 0) {
        return -1;
    }

    tar = build_tar(&tar_size);
    if (tar == NULL) {
        return -1;
    }
    sha256_digest(tar, tar_size, diff_id, sizeof(diff_id));
    layer_data = gzip_data(tar, tar_size, &layer_size);
    free(tar);
    if (layer_data == NULL ||
        write_blob(layout, layer_data, layer_size, layer_digest,
                   sizeof(layer_digest)) != 0) {
        return -1;
    }

    snprintf(config, sizeof(config),
             "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{"
             "\"type\":\"layers\",\"diff_ids\":[\"%s\"]},\"config\":{}}",
             diff_id);
    if (write_image(layout, config, config_digest, amd64_digest, &amd64_size) !=
        0) {
        return -1;
    }
    snprintf(config, sizeof(config),
             "{\"architecture\":\"arm64\",\"variant\":\"v8\",\"os\":\"linux\","
             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]},"
             "\"config\":{}}",
             diff_id);
    if (write_image(layout, config, arm64_config_digest, arm64_digest,
                    &arm64_size) != 0) {
        return -1;
    }
    return write_layout_files(layout, amd64_size, arm64_size);
}

/* ---- Token signing (RS256 JWTs with the certificate in x5c) ---- */

static EVP_PKEY *signing_key;
static char *signing_certificate; /* base64 DER */
static long token_serial;

static char *encode_base64(const unsigned char *data, size_t size, bool url)
{
    char *out = malloc(4 * ((size + 2) / 3) + 1);
    size_t length;

    if (out == NULL) {
        return NULL;
    }
    EVP_EncodeBlock((unsigned char *)out, data, (int)size);
    if (!url) {
        return out;
    }
    length = strlen(out);
    while (length > 0 && out[length - 1] == '=') {
        out[--length] = '\0';
    }
    for (size_t i = 0; i < length; i++) {
        if (out[i] == '+') {
            out[i] = '-';
        } else if (out[i] == '/') {
            out[i] = '_';
        }
    }
    return out;
}

static int load_signing_material(void)
{
    char path[256];
    FILE *file;
    X509 *certificate;
    unsigned char *der = NULL;
    int der_length;

    snprintf(path, sizeof(path), "%s/key.pem", temp_dir);
    file = fopen(path, "r");
    if (file == NULL) {
        return -1;
    }
    signing_key = PEM_read_PrivateKey(file, NULL, NULL, NULL);
    fclose(file);

    snprintf(path, sizeof(path), "%s/cert.pem", temp_dir);
    file = fopen(path, "r");
    if (file == NULL) {
        return -1;
    }
    certificate = PEM_read_X509(file, NULL, NULL, NULL);
    fclose(file);
    der_length = certificate ? i2d_X509(certificate, &der) : -1;
    X509_free(certificate);
    if (signing_key == NULL || der_length <= 0) {
        OPENSSL_free(der);
        return -1;
    }
    signing_certificate = encode_base64(der, (size_t)der_length, false);
    OPENSSL_free(der);
    return signing_certificate != NULL ? 0 : -1;
}

/* Signs a token granting pull on repository. expired makes it expire well
 * outside docker-registry's 60-second leeway. */
static char *make_token(const char *repository, const char *subject,
                        bool expired)
{
    char header[4096];
    char claims[1024];
    char *input = NULL;
    char *encoded_header = NULL;
    char *encoded_claims = NULL;
    char *encoded_signature = NULL;
    unsigned char signature[1024];
    size_t signature_length = sizeof(signature);
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    long now = (long)time(NULL);
    char *token = NULL;
    size_t size;

    snprintf(header, sizeof(header),
             "{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5c\":[\"%s\"]}",
             signing_certificate);
    snprintf(claims, sizeof(claims),
             "{\"iss\":\"" TOKEN_ISSUER
             "\",\"sub\":\"%s\",\"aud\":\"" TOKEN_SERVICE
             "\",\"exp\":%ld,\"nbf\":%ld,\"iat\":%ld,\"jti\":\"%ld\","
             "\"access\":[{\"type\":\"repository\",\"name\":\"%s\","
             "\"actions\":[\"pull\"]}]}",
             subject, expired ? now - 300 : now + 300, now - 600, now - 600,
             ++token_serial, repository);
    encoded_header =
        encode_base64((unsigned char *)header, strlen(header), true);
    encoded_claims =
        encode_base64((unsigned char *)claims, strlen(claims), true);
    if (context == NULL || encoded_header == NULL || encoded_claims == NULL) {
        goto out_free;
    }
    size = strlen(encoded_header) + strlen(encoded_claims) + 2;
    input = malloc(size);
    snprintf(input, size, "%s.%s", encoded_header, encoded_claims);
    if (EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, signing_key) !=
            1 ||
        EVP_DigestSign(context, signature, &signature_length,
                       (unsigned char *)input, strlen(input)) != 1) {
        goto out_free;
    }
    encoded_signature = encode_base64(signature, signature_length, true);
    size = strlen(input) + strlen(encoded_signature) + 2;
    token = malloc(size);
    snprintf(token, size, "%s.%s", input, encoded_signature);

out_free:
    EVP_MD_CTX_free(context);
    free(input);
    free(encoded_header);
    free(encoded_claims);
    free(encoded_signature);
    return token;
}

/* ---- A small HTTP server for the token service and edge cases ---- */

struct server_request {
    char method[8];
    char target[2048];
    char authorization[2048];
    char body[8192];
    size_t body_size;
};

static struct {
    int fd;
    int port;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    pthread_mutex_t lock;
    /* token service */
    int token_requests;
    char token_method[8];
    char token_target[2048];
    char token_authorization[2048];
    char token_body[8192];
    int expired_tokens_left;
    long expires_in;
    /* /v2/flaky */
    int flaky_failures_left;
    int flaky_requests;
    char retry_after[16];
    /* redirects */
    bool registry_saw_authorization;
    bool storage_saw_authorization;
    int storage_requests;
} server = {.fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static const char small_manifest[] =
    "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MEDIA_TYPE_OCI_CONFIG
    "\",\"digest\":\"sha256:"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
    "\"size\":2},\"layers\":[]}";

static void send_all(int fd, const void *data, size_t size)
{
    const char *cursor = data;

    while (size > 0) {
        ssize_t sent = send(fd, cursor, size, MSG_NOSIGNAL);

        if (sent <= 0) {
            return;
        }
        cursor += sent;
        size -= (size_t)sent;
    }
}

static void respond(int fd, int status, const char *headers, const void *body,
                    size_t size)
{
    char head[2048];

    snprintf(head, sizeof(head),
             "HTTP/1.1 %d Test\r\nConnection: close\r\nContent-Length: "
             "%zu\r\n%s\r\n",
             status, size, headers);
    send_all(fd, head, strlen(head));
    send_all(fd, body, size);
}

static bool read_request(int fd, struct server_request *request)
{
    char buffer[16384];
    size_t used = 0;
    char *end = NULL;
    char *line;
    long content_length = 0;

    memset(request, 0, sizeof(*request));
    while (end == NULL && used < sizeof(buffer) - 1) {
        struct pollfd poller = {fd, POLLIN, 0};
        ssize_t received;

        if (poll(&poller, 1, 2000) <= 0) {
            return false;
        }
        received = recv(fd, buffer + used, sizeof(buffer) - 1 - used, 0);
        if (received <= 0) {
            return false;
        }
        used += (size_t)received;
        buffer[used] = '\0';
        end = strstr(buffer, "\r\n\r\n");
    }
    if (end == NULL ||
        sscanf(buffer, "%7s %2047s", request->method, request->target) != 2) {
        return false;
    }

    *end = '\0';
    for (line = strstr(buffer, "\r\n"); line != NULL;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Authorization: ", 15) == 0) {
            snprintf(request->authorization, sizeof(request->authorization),
                     "%.*s", (int)strcspn(line + 17, "\r"), line + 17);
        } else if (strncasecmp(line + 2, "Content-Length: ", 16) == 0) {
            content_length = strtol(line + 18, NULL, 10);
        }
    }

    request->body_size = used - (size_t)(end + 4 - buffer);
    memcpy(request->body, end + 4, request->body_size);
    while ((long)request->body_size < content_length &&
           request->body_size < sizeof(request->body) - 1) {
        ssize_t received =
            recv(fd, request->body + request->body_size,
                 sizeof(request->body) - 1 - request->body_size, 0);

        if (received <= 0) {
            return false;
        }
        request->body_size += (size_t)received;
    }
    request->body[request->body_size] = '\0';
    return true;
}

/* Copies the URL-decoded value of name from a query or form into out. */
static void form_value(const char *text, const char *name, char *out,
                       size_t out_size)
{
    size_t name_length = strlen(name);
    const char *cursor = text;

    out[0] = '\0';
    while (cursor != NULL && *cursor != '\0') {
        if (strncmp(cursor, name, name_length) == 0 &&
            cursor[name_length] == '=') {
            const char *value = cursor + name_length + 1;
            size_t used = 0;

            for (; *value != '\0' && *value != '&' && used + 1 < out_size;
                 value++) {
                unsigned int byte;

                if (*value == '%' && sscanf(value + 1, "%2x", &byte) == 1) {
                    out[used++] = (char)byte;
                    value += 2;
                } else {
                    out[used++] = *value == '+' ? ' ' : *value;
                }
            }
            out[used] = '\0';
            return;
        }
        cursor = strpbrk(cursor, "?&");
        if (cursor != NULL) {
            cursor++;
        }
    }
}

static bool has_test_credentials(const char *authorization)
{
    char expected[128];
    char *encoded = encode_base64((const unsigned char *)USERNAME ":" PASSWORD,
                                  strlen(USERNAME ":" PASSWORD), false);

    snprintf(expected, sizeof(expected), "Basic %s", encoded);
    free(encoded);
    return strcmp(authorization, expected) == 0;
}

static void handle_token(int fd, const struct server_request *request)
{
    static const char rejected[] =
        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad "
        "credentials\"}]}";
    bool post = strcmp(request->method, "POST") == 0;
    const char *parameters = post ? request->body : request->target;
    char scope[512];
    char refresh_token[256];
    char body[8192];
    char *token;
    bool expired;

    pthread_mutex_lock(&server.lock);
    server.token_requests++;
    snprintf(server.token_method, sizeof(server.token_method), "%s",
             request->method);
    snprintf(server.token_target, sizeof(server.token_target), "%s",
             request->target);
    snprintf(server.token_authorization, sizeof(server.token_authorization),
             "%s", request->authorization);
    snprintf(server.token_body, sizeof(server.token_body), "%s", request->body);
    expired = server.expired_tokens_left > 0;
    if (expired) {
        server.expired_tokens_left--;
    }
    pthread_mutex_unlock(&server.lock);

    form_value(parameters, "refresh_token", refresh_token,
               sizeof(refresh_token));
    if ((request->authorization[0] != '\0' &&
         !has_test_credentials(request->authorization)) ||
        (post && strcmp(refresh_token, IDENTITY_TOKEN) != 0)) {
        respond(fd, 401, "Content-Type: application/json\r\n", rejected,
                strlen(rejected));
        return;
    }

    form_value(parameters, "scope", scope, sizeof(scope));
    if (strncmp(scope, "repository:", 11) != 0 ||
        strrchr(scope, ':') == scope + 10) {
        respond(fd, 400, "", "", 0);
        return;
    }
    *strrchr(scope, ':') = '\0';
    token = make_token(scope + 11, request->authorization[0] ? USERNAME : "",
                       expired);
    snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"expires_in\":%ld}",
             post ? "access_token" : "token", token ? token : "",
             server.expires_in);
    free(token);
    respond(fd, 200, "Content-Type: application/json\r\n", body, strlen(body));
}

static void handle_flaky(int fd)
{
    char headers[128];
    bool fail;

    pthread_mutex_lock(&server.lock);
    server.flaky_requests++;
    fail = server.flaky_failures_left > 0;
    if (fail) {
        server.flaky_failures_left--;
    }
    snprintf(headers, sizeof(headers), "Retry-After: %s\r\n",
             server.retry_after);
    pthread_mutex_unlock(&server.lock);

    if (fail) {
        respond(fd, 503, server.retry_after[0] ? headers : "", "busy", 4);
    } else {
        respond(fd, 200, "Content-Type: " MEDIA_TYPE_OCI_MANIFEST "\r\n",
                small_manifest, strlen(small_manifest));
    }
}

static void handle_redirect(int fd, const struct server_request *request,
                            bool other_host)
{
    char headers[256];

    pthread_mutex_lock(&server.lock);
    server.registry_saw_authorization = request->authorization[0] != '\0';
    pthread_mutex_unlock(&server.lock);
    if (!has_test_credentials(request->authorization)) {
        respond(fd, 401, "WWW-Authenticate: Basic realm=\"test\"\r\n", "", 0);
        return;
    }
    if (other_host) {
        snprintf(headers, sizeof(headers),
                 "Location: http://localhost:%d/storage/layer?X-Signature="
                 "secret-signature\r\n",
                 server.port);
    } else {
        snprintf(headers, sizeof(headers), "Location: /storage/layer\r\n");
    }
    respond(fd, 307, headers, "", 0);
}

static void handle_storage(int fd, const struct server_request *request)
{
    pthread_mutex_lock(&server.lock);
    server.storage_requests++;
    server.storage_saw_authorization = request->authorization[0] != '\0';
    pthread_mutex_unlock(&server.lock);
    respond(fd, 200, "Content-Type: application/octet-stream\r\n", layer_data,
            layer_size);
}

static void handle_big(int fd)
{
    size_t size = REGISTRY_MANIFEST_SIZE_MAX + 1;
    char *body = malloc(size);

    memset(body, ' ', size);
    memcpy(body, small_manifest, strlen(small_manifest));
    respond(fd, 200, "Content-Type: " MEDIA_TYPE_OCI_MANIFEST "\r\n", body,
            size);
    free(body);
}

static void handle_stall(void)
{
    for (int i = 0; i < 30 && !atomic_load(&server.stop); i++) {
        usleep(100 * 1000);
    }
}

static void handle_connection(int fd)
{
    struct server_request request;
    const char *target = request.target;

    if (!read_request(fd, &request)) {
        return;
    }
    if (strncmp(target, "/token", 6) == 0) {
        handle_token(fd, &request);
    } else if (strncmp(target, "/v2/flaky/manifests/", 20) == 0) {
        handle_flaky(fd);
    } else if (strncmp(target, "/v2/redirect/blobs/", 19) == 0) {
        handle_redirect(fd, &request, true);
    } else if (strncmp(target, "/v2/samehost/blobs/", 19) == 0) {
        handle_redirect(fd, &request, false);
    } else if (strncmp(target, "/storage/layer", 14) == 0) {
        handle_storage(fd, &request);
    } else if (strncmp(target, "/v2/big/manifests/", 18) == 0) {
        handle_big(fd);
    } else if (strncmp(target, "/v2/lying/manifests/", 20) == 0) {
        respond(
            fd, 200,
            "Content-Type: " MEDIA_TYPE_OCI_MANIFEST "\r\n"
            "Docker-Content-Digest: sha256:"
            "0000000000000000000000000000000000000000000000000000000000000000"
            "\r\n",
            small_manifest, strlen(small_manifest));
    } else if (strncmp(target, "/v2/stall/", 10) == 0) {
        handle_stall();
    } else {
        respond(fd, 404, "", "", 0);
    }
}

static void *serve(void *unused)
{
    (void)unused;
    while (!atomic_load(&server.stop)) {
        struct pollfd poller = {server.fd, POLLIN, 0};
        int client;

        if (poll(&poller, 1, 100) <= 0) {
            continue;
        }
        client = accept(server.fd, NULL, NULL);
        if (client >= 0) {
            handle_connection(client);
            close(client);
        }
    }
    return NULL;
}

static int bind_server(void)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    socklen_t length = sizeof(address);
    int reuse = 1;

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (server.fd < 0 ||
        setsockopt(server.fd, SOL_SOCKET, SO_REUSEADDR, &reuse,
                   sizeof(reuse)) != 0 ||
        bind(server.fd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        getsockname(server.fd, (struct sockaddr *)&address, &length) != 0 ||
        listen(server.fd, 16) != 0) {
        return -1;
    }
    server.port = ntohs(address.sin_port);
    return 0;
}

static void reset_server(void)
{
    pthread_mutex_lock(&server.lock);
    server.token_requests = 0;
    server.token_method[0] = '\0';
    server.token_target[0] = '\0';
    server.token_authorization[0] = '\0';
    server.token_body[0] = '\0';
    server.expired_tokens_left = 0;
    server.expires_in = 300;
    server.flaky_failures_left = 0;
    server.flaky_requests = 0;
    server.retry_after[0] = '\0';
    server.registry_saw_authorization = false;
    server.storage_saw_authorization = false;
    server.storage_requests = 0;
    pthread_mutex_unlock(&server.lock);
}

static int token_requests(void)
{
    int count;

    pthread_mutex_lock(&server.lock);
    count = server.token_requests;
    pthread_mutex_unlock(&server.lock);
    return count;
}

/* ---- Registries ---- */

enum program { DOCKER_REGISTRY, SKOPEO, HTPASSWD, OPENSSL, PROGRAM_COUNT };

static const char *const program_names[] = {"docker-registry", "skopeo",
                                            "htpasswd", "openssl"};
static char cp_program[256];
static char rm_program[256];

static void registry_sections(enum registry_name name, char *auth,
                              size_t auth_size, char *tls, size_t tls_size)
{
    auth[0] = '\0';
    tls[0] = '\0';
    if (name == BASIC) {
        snprintf(auth, auth_size,
                 "auth:\n  htpasswd:\n    realm: imgassure-test\n"
                 "    path: %s/htpasswd\n",
                 temp_dir);
    } else if (name == TOKEN) {
        snprintf(auth, auth_size,
                 "auth:\n  token:\n    realm: http://127.0.0.1:%d/token\n"
                 "    service: " TOKEN_SERVICE "\n    issuer: " TOKEN_ISSUER
                 "\n    rootcertbundle: %s/cert.pem\n",
                 server.port, temp_dir);
    } else if (name == TLS) {
        snprintf(tls, tls_size,
                 "  tls:\n    certificate: %s/cert.pem\n    key: %s/key.pem\n",
                 temp_dir, temp_dir);
    }
}

static int wait_for_port(pid_t pid, int port, const char *log_path)
{
    for (int i = 0; i < 300; i++) {
        if (port_accepts(port)) {
            return 0;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "a registry exited at start; see %s\n", log_path);
            return -1;
        }
        usleep(50 * 1000);
    }
    fprintf(stderr, "a registry did not listen within 15 s; see %s\n",
            log_path);
    return -1;
}

static int start_registry(enum registry_name name, const char *storage)
{
    const char *label = registry_names[name];
    char config_path[256];
    char log_path[256];
    char config[2048];
    char auth[1024];
    char tls[512];
    int port = free_port();
    char *argv[] = {programs[DOCKER_REGISTRY], "serve", config_path, NULL};
    pid_t pid;

    registry_sections(name, auth, sizeof(auth), tls, sizeof(tls));
    snprintf(config, sizeof(config),
             "version: 0.1\nlog:\n  level: error\n  accesslog:\n"
             "    disabled: true\nstorage:\n  filesystem:\n"
             "    rootdirectory: %s\n  delete:\n    enabled: true\n"
             "  maintenance:\n    uploadpurging:\n      enabled: false\n"
             "%shttp:\n  addr: 127.0.0.1:%d\n  secret: imgassure-test\n%s",
             storage, auth, port, tls);
    snprintf(config_path, sizeof(config_path), "%s/registry-%s.yml", temp_dir,
             label);
    snprintf(log_path, sizeof(log_path), "%s/registry-%s.log", temp_dir, label);
    if (port < 0 || write_file(config_path, config, strlen(config)) != 0 ||
        process_count == PROCESSES_MAX) {
        return -1;
    }

    pid = spawn(argv, log_path);
    if (pid < 0) {
        return -1;
    }
    processes[process_count++] = pid;
    registry_ports[name] = port;
    snprintf(registry_hosts[name], sizeof(registry_hosts[name]), "127.0.0.1:%d",
             port);
    return wait_for_port(pid, port, log_path);
}

static int make_certificate_and_passwords(void)
{
    char key[256];
    char certificate[256];
    char log[256];
    char htpasswd_path[256];
    char *openssl_argv[] = {
        programs[OPENSSL], "req",      "-x509",
        "-newkey",         "rsa:2048", "-nodes",
        "-days",           "2",        "-subj",
        "/CN=127.0.0.1",   "-addext",  "subjectAltName=IP:127.0.0.1",
        "-keyout",         key,        "-out",
        certificate,       NULL};
    char *htpasswd_argv[] = {programs[HTPASSWD], "-Bbn", USERNAME, PASSWORD,
                             NULL};

    snprintf(key, sizeof(key), "%s/key.pem", temp_dir);
    snprintf(certificate, sizeof(certificate), "%s/cert.pem", temp_dir);
    snprintf(log, sizeof(log), "%s/openssl.log", temp_dir);
    snprintf(htpasswd_path, sizeof(htpasswd_path), "%s/htpasswd", temp_dir);
    if (run_command(openssl_argv, log) != 0) {
        fprintf(stderr, "openssl req failed; see %s\n", log);
        return -1;
    }
    return run_command(htpasswd_argv, htpasswd_path) == 0 ? 0 : -1;
}

static int push_image(const char *tag, enum registry_name name,
                      bool credentials)
{
    char source[256];
    char destination[256];
    char log[256];
    char *argv[16] = {
        programs[SKOPEO], "--insecure-policy",  "copy",
        "--all",          "--preserve-digests", "--dest-tls-verify=false"};
    int argc = 6;

    snprintf(source, sizeof(source), "oci:%s/layout:%s", temp_dir, tag);
    snprintf(destination, sizeof(destination), "docker://%s/" REPOSITORY ":%s",
             registry_hosts[name], tag);
    snprintf(log, sizeof(log), "%s/skopeo-%s.log", temp_dir, tag);
    if (credentials) {
        argv[argc++] = "--dest-creds";
        argv[argc++] = USERNAME ":" PASSWORD;
    }
    argv[argc++] = source;
    argv[argc++] = destination;
    argv[argc] = NULL;
    if (run_command(argv, log) != 0) {
        fprintf(stderr, "skopeo copy %s failed; see %s\n", tag, log);
        return -1;
    }
    return 0;
}

static size_t capture_location(char *line, size_t size, size_t count, void *out)
{
    size_t length = size * count;

    if (length > 10 && strncasecmp(line, "Location: ", 10) == 0) {
        snprintf(out, 2048, "%.*s", (int)strcspn(line + 10, "\r\n"), line + 10);
    }
    return length;
}

static size_t discard_body(char *data, size_t size, size_t count, void *unused)
{
    (void)data;
    (void)unused;
    return size * count;
}

/* Uploads data as a blob of REPOSITORY through the registry API. */
static int upload_blob(enum registry_name name, const void *data, size_t size,
                       char *digest, size_t digest_size)
{
    CURL *curl = curl_easy_init();
    char url[512];
    char location[2048] = "";
    char put_url[2600];
    struct curl_slist *headers =
        curl_slist_append(NULL, "Content-Type: application/octet-stream");
    long status = 0;

    sha256_digest(data, size, digest, digest_size);
    snprintf(url, sizeof(url), "http://%s/v2/" REPOSITORY "/blobs/uploads/",
             registry_hosts[name]);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, capture_location);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, location);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    if (status != 202 || location[0] == '\0') {
        goto out_cleanup;
    }

    snprintf(put_url, sizeof(put_url), "%s%s%s%cdigest=%s",
             location[0] == '/' ? "http://" : "",
             location[0] == '/' ? registry_hosts[name] : "", location,
             strchr(location, '?') ? '&' : '?', digest);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, put_url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    status = 0;
    if (curl_easy_perform(curl) == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }

out_cleanup:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return status == 201 ? 0 : -1;
}

static void blob_path(const char *storage, const char *digest, char *out,
                      size_t out_size)
{
    snprintf(out, out_size, "%s/docker/registry/v2/blobs/sha256/%.2s/%s/data",
             storage, digest + 7, digest + 7);
}

/* Changes one byte of a stored blob, keeping its size. For a manifest the
 * byte is a hex digit of the layer digest, so the JSON stays valid. */
static int corrupt_blob(const char *storage, const char *digest, bool keep_json)
{
    char path[512];
    FILE *file;
    char *data;
    long size;
    long offset;

    blob_path(storage, digest, path, sizeof(path));
    file = fopen(path, "r+b");
    if (file == NULL || fseek(file, 0, SEEK_END) != 0 ||
        (size = ftell(file)) <= 0) {
        if (file != NULL) {
            fclose(file);
        }
        return -1;
    }
    data = malloc((size_t)size + 1);
    rewind(file);
    if (fread(data, 1, (size_t)size, file) != (size_t)size) {
        free(data);
        fclose(file);
        return -1;
    }
    data[size] = '\0';

    offset = size / 2;
    if (keep_json) {
        char *layer = strstr(data, layer_digest + 7);

        offset = layer != NULL ? layer - data : -1;
    }
    if (offset >= 0) {
        char original = data[offset];

        if (!keep_json) {
            data[offset] = (char)(original ^ 0x01);
        } else if (original == '0') {
            data[offset] = '1';
        } else {
            data[offset] = '0';
        }
        rewind(file);
        fwrite(data, 1, (size_t)size, file);
    }
    free(data);
    return fclose(file) == 0 && offset >= 0 ? 0 : -1;
}

static int start_broken_registry(const char *storage)
{
    char broken[256];
    char *copy_argv[] = {cp_program, "-a", (char *)storage, broken, NULL};
    char log[256];

    snprintf(broken, sizeof(broken), "%s/storage-broken", temp_dir);
    snprintf(log, sizeof(log), "%s/cp.log", temp_dir);
    if (run_command(copy_argv, log) != 0 ||
        corrupt_blob(broken, layer_digest, false) != 0 ||
        corrupt_blob(broken, amd64_digest, true) != 0) {
        return -1;
    }
    return start_registry(BROKEN, broken);
}

static int write_credentials_files(void)
{
    char *good = encode_base64((const unsigned char *)USERNAME ":" PASSWORD,
                               strlen(USERNAME ":" PASSWORD), false);
    char *wrong =
        encode_base64((const unsigned char *)USERNAME ":wrong-password",
                      strlen(USERNAME ":wrong-password"), false);
    char content[2048];
    char path[256];
    int status = 0;

    for (int i = 0; i < 2; i++) {
        const char *auth = i == 0 ? good : wrong;

        snprintf(content, sizeof(content),
                 "{\"auths\":{\"%s\":{\"auth\":\"%s\"},\"%s\":{\"auth\":"
                 "\"%s\"},\"127.0.0.1:%d\":{\"auth\":\"%s\"}}}",
                 registry_hosts[BASIC], auth, registry_hosts[TOKEN], auth,
                 server.port, auth);
        snprintf(path, sizeof(path), "%s/%s.json", temp_dir,
                 i == 0 ? "good" : "wrong");
        status |= write_file(path, content, strlen(content));
    }
    snprintf(content, sizeof(content),
             "{\"auths\":{\"%s\":{\"identitytoken\":\"" IDENTITY_TOKEN "\"}}}",
             registry_hosts[TOKEN]);
    snprintf(path, sizeof(path), "%s/identity.json", temp_dir);
    status |= write_file(path, content, strlen(content));
    free(good);
    free(wrong);
    return status;
}

static int start_registries(void)
{
    char storage[256];
    char *big = malloc(REGISTRY_BLOB_MEMORY_MAX + 1);
    int status;

    snprintf(storage, sizeof(storage), "%s/storage", temp_dir);
    if (big == NULL || start_registry(OPEN, storage) != 0 ||
        start_registry(BASIC, storage) != 0 ||
        start_registry(TOKEN, storage) != 0 ||
        start_registry(TLS, storage) != 0 ||
        push_image("multi", OPEN, false) != 0 ||
        push_image("single", BASIC, true) != 0) {
        free(big);
        return -1;
    }
    memset(big, '{', REGISTRY_BLOB_MEMORY_MAX + 1);
    status = upload_blob(OPEN, big, REGISTRY_BLOB_MEMORY_MAX + 1,
                         big_blob_digest, sizeof(big_blob_digest));
    free(big);
    if (status != 0) {
        fprintf(stderr, "uploading a blob of %d bytes failed\n",
                REGISTRY_BLOB_MEMORY_MAX + 1);
        return -1;
    }
    return start_broken_registry(storage);
}

static bool find_programs(void)
{
    static char reason[128];

    for (int i = 0; i < PROGRAM_COUNT; i++) {
        if (!find_program(program_names[i], programs[i], sizeof(programs[i]))) {
            snprintf(reason, sizeof(reason),
                     "%s is not installed (Debian packages docker-registry, "
                     "skopeo, apache2-utils, openssl)",
                     program_names[i]);
            skip_reason = reason;
            return false;
        }
    }
    if (!find_program("cp", cp_program, sizeof(cp_program)) ||
        !find_program("rm", rm_program, sizeof(rm_program))) {
        skip_reason = "cp or rm is not on PATH";
        return false;
    }
    return true;
}

static int start_environment(void **state)
{
    char layout[256];

    (void)state;
    if (!find_programs()) {
        return 0;
    }
    /* Every request of this test goes to loopback servers it started. */
    unsetenv("http_proxy");
    unsetenv("https_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("HTTPS_PROXY");
    unsetenv("ALL_PROXY");
    unsetenv("all_proxy");
    atexit(kill_processes);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    snprintf(temp_dir, sizeof(temp_dir), "/tmp/test_registry.XXXXXX");
    snprintf(layout, sizeof(layout), "%s/layout",
             mkdtemp(temp_dir) ? temp_dir : "/nonexistent");
    if (build_layout(layout) != 0 || make_certificate_and_passwords() != 0 ||
        load_signing_material() != 0 || bind_server() != 0 ||
        start_registries() != 0 || write_credentials_files() != 0) {
        fprintf(stderr, "test environment setup failed in %s\n", temp_dir);
        return -1;
    }

    reset_server();
    atomic_store(&server.stop, false);
    if (pthread_create(&server.thread, NULL, serve, NULL) != 0) {
        return -1;
    }
    server.running = true;
    return 0;
}

static int stop_environment(void **state)
{
    char *remove_argv[] = {rm_program, "-rf", temp_dir, NULL};

    (void)state;
    if (server.running) {
        atomic_store(&server.stop, true);
        pthread_join(server.thread, NULL);
        server.running = false;
    }
    if (server.fd >= 0) {
        close(server.fd);
    }
    kill_processes();
    if (temp_dir[0] != '\0' && rm_program[0] != '\0' &&
        getenv("IMGASSURE_KEEP_TEST_DIR") == NULL) {
        run_command(remove_argv, "/dev/null");
    }
    EVP_PKEY_free(signing_key);
    free(signing_certificate);
    free(layer_data);
    return 0;
}

/* ---- Client helpers ---- */

static char insecure_list[512];

static struct registry_client *
new_client_with(const char *credentials_file, const char *ca_file,
                void (*adjust)(struct registry_options *options))
{
    struct registry_options options;
    struct registry_client *client;
    char credentials_path[256];
    char ca_path[256];
    char errbuf[512] = "";

    snprintf(insecure_list, sizeof(insecure_list),
             "%s, %s,%s,%s,127.0.0.1:%d,localhost:%d", registry_hosts[OPEN],
             registry_hosts[BASIC], registry_hosts[TOKEN],
             registry_hosts[BROKEN], server.port, server.port);
    snprintf(credentials_path, sizeof(credentials_path), "%s/%s", temp_dir,
             credentials_file ? credentials_file : "");
    snprintf(ca_path, sizeof(ca_path), "%s/%s", temp_dir,
             ca_file ? ca_file : "");

    registry_options_init(&options);
    options.credentials_path = credentials_file ? credentials_path : NULL;
    options.ca_file = ca_file ? ca_path : NULL;
    options.insecure_registries = insecure_list;
    options.user_agent = "imgassure-test";
    options.connect_timeout_s = 5;
    options.total_timeout_s = 30;
    options.max_retries = 2;
    options.retry_delay_ms = 10;
    if (adjust != NULL) {
        adjust(&options);
    }
    client = registry_client_new(&options, errbuf, sizeof(errbuf));
    if (client == NULL) {
        fail_msg("registry_client_new: %s", errbuf);
    }
    return client;
}

static struct registry_client *new_client(const char *credentials_file)
{
    return new_client_with(credentials_file, NULL, NULL);
}

static void expect_status(enum registry_status actual,
                          enum registry_status expected, const char *errbuf)
{
    if (actual != expected) {
        fail_msg("status %s, expected %s: %s", registry_status_name(actual),
                 registry_status_name(expected), errbuf);
    }
}

static void expect_text(const char *errbuf, const char *expected)
{
    if (strstr(errbuf, expected) == NULL) {
        fail_msg("\"%s\" does not mention \"%s\"", errbuf, expected);
    }
}

static struct manifest *fetch_and_parse(struct registry_client *client,
                                        enum registry_name name,
                                        const char *reference, char *digest)
{
    struct registry_manifest fetched;
    struct manifest *manifest = NULL;
    char errbuf[512] = "";

    expect_status(registry_fetch_manifest(client, registry_hosts[name],
                                          REPOSITORY, reference, &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_OK, errbuf);
    if (manifest_parse(fetched.body, fetched.size, fetched.content_type,
                       &manifest, errbuf, sizeof(errbuf)) != 0) {
        fail_msg("fetched manifest does not parse: %s", errbuf);
    }
    if (digest != NULL) {
        snprintf(digest, DIGEST_SIZE, "%s", fetched.digest);
    }
    registry_manifest_clear(&fetched);
    return manifest;
}

/* Collects a streamed blob; the test keeps it to compare with the source,
 * which the client itself never does. */
struct collected {
    unsigned char *data;
    size_t size;
    size_t chunks;
    size_t stop_after; /* chunks; 0: never stop */
};

static int collect(const void *data, size_t size, void *userdata)
{
    struct collected *collected = userdata;
    unsigned char *grown = realloc(collected->data, collected->size + size);

    if (grown == NULL) {
        return -1;
    }
    collected->data = grown;
    memcpy(collected->data + collected->size, data, size);
    collected->size += size;
    collected->chunks++;
    return collected->stop_after != 0 &&
           collected->chunks >= collected->stop_after;
}

/* ---- Tests: content from the open registry ---- */

static void fetches_index_and_selects_platform(void **state)
{
    struct registry_client *client;
    struct manifest *index;
    struct manifest *image;
    const struct manifest_child *child = NULL;
    char digest[DIGEST_SIZE];
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    index = fetch_and_parse(client, OPEN, "multi", digest);
    assert_int_equal(index->kind, MANIFEST_KIND_INDEX);
    assert_string_equal(index->media_type, MEDIA_TYPE_OCI_INDEX);
    assert_string_equal(digest, index_digest);
    assert_int_equal(index->child_count, 2);

    assert_int_equal(
        manifest_select_platform(index, NULL, &child, errbuf, sizeof(errbuf)),
        0);
    assert_string_equal(child->descriptor.digest, amd64_digest);
    image = fetch_and_parse(client, OPEN, child->descriptor.digest, digest);
    assert_string_equal(digest, amd64_digest);
    assert_int_equal(image->kind, MANIFEST_KIND_MANIFEST);
    assert_int_equal(manifest_check_image(image, errbuf, sizeof(errbuf)), 0);
    assert_string_equal(image->layers[0].digest, layer_digest);
    assert_int_equal(image->layers[0].size, (int64_t)layer_size);

    manifest_free(image);
    assert_int_equal(manifest_select_platform(index, "linux/arm64", &child,
                                              errbuf, sizeof(errbuf)),
                     0);
    image = fetch_and_parse(client, OPEN, child->descriptor.digest, digest);
    assert_string_equal(digest, arm64_digest);
    manifest_free(image);
    manifest_free(index);
    registry_client_free(client);
}

static void fetches_config_blob_into_memory(void **state)
{
    struct registry_client *client;
    struct manifest_platform platform;
    char errbuf[512] = "";
    char *data = NULL;
    size_t size = 0;

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_blob(client, registry_hosts[OPEN], REPOSITORY,
                                      config_digest, -1, &data, &size, errbuf,
                                      sizeof(errbuf)),
                  REGISTRY_OK, errbuf);
    assert_int_equal(
        manifest_parse_config(data, size, &platform, errbuf, sizeof(errbuf)),
        0);
    assert_string_equal(platform.os, "linux");
    assert_string_equal(platform.architecture, "amd64");
    assert_int_equal(data[size], '\0');
    free(data);
    registry_client_free(client);
}

static void streams_layer_in_chunks(void **state)
{
    struct registry_client *client;
    struct collected collected = {0};
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(
        registry_fetch_blob_stream(client, registry_hosts[OPEN], REPOSITORY,
                                   layer_digest, (int64_t)layer_size, collect,
                                   &collected, errbuf, sizeof(errbuf)),
        REGISTRY_OK, errbuf);
    assert_int_equal(collected.size, layer_size);
    assert_memory_equal(collected.data, layer_data, layer_size);
    assert_true(collected.chunks > 1);
    free(collected.data);
    registry_client_free(client);
}

static void stops_stream_when_write_fn_asks(void **state)
{
    struct registry_client *client;
    struct collected collected = {.stop_after = 1};
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_blob_stream(
                      client, registry_hosts[OPEN], REPOSITORY, layer_digest,
                      -1, collect, &collected, errbuf, sizeof(errbuf)),
                  REGISTRY_ABORTED, errbuf);
    assert_int_equal(collected.chunks, 1);
    expect_text(errbuf, "stopped by the write function");
    free(collected.data);
    registry_client_free(client);
}

static void cuts_off_blob_larger_than_expected(void **state)
{
    struct registry_client *client;
    struct collected collected = {0};
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_blob_stream(
                      client, registry_hosts[OPEN], REPOSITORY, layer_digest,
                      1000, collect, &collected, errbuf, sizeof(errbuf)),
                  REGISTRY_INVALID_RESPONSE, errbuf);
    assert_true(collected.size <= 1000);
    expect_text(errbuf, "larger than the 1000 bytes the manifest says");
    free(collected.data);
    registry_client_free(client);
}

static void reports_blob_shorter_than_expected(void **state)
{
    struct registry_client *client;
    struct collected collected = {0};
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(
        registry_fetch_blob_stream(client, registry_hosts[OPEN], REPOSITORY,
                                   layer_digest, (int64_t)layer_size + 1,
                                   collect, &collected, errbuf, sizeof(errbuf)),
        REGISTRY_INVALID_RESPONSE, errbuf);
    expect_text(errbuf, "but the manifest says");
    free(collected.data);
    registry_client_free(client);
}

static void reports_unknown_manifest_as_not_found(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";
    char url[128];

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_manifest(client, registry_hosts[OPEN],
                                          REPOSITORY, "no-such-tag", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_NOT_FOUND, errbuf);
    snprintf(url, sizeof(url),
             "GET http://%s/v2/" REPOSITORY "/manifests/no-such-tag",
             registry_hosts[OPEN]);
    expect_text(errbuf, url);
    expect_text(errbuf, "HTTP 404");
    expect_text(errbuf, "MANIFEST_UNKNOWN");
    assert_null(fetched.body);
    registry_client_free(client);
}

static void reports_unknown_blob_as_not_found(void **state)
{
    struct registry_client *client;
    char errbuf[512] = "";
    char *data = NULL;
    size_t size = 0;

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(
        registry_fetch_blob(client, registry_hosts[OPEN], REPOSITORY,
                            "sha256:0123456789abcdef0123456789abcdef0123456789"
                            "abcdef0123456789abcdef",
                            -1, &data, &size, errbuf, sizeof(errbuf)),
        REGISTRY_NOT_FOUND, errbuf);
    expect_text(errbuf, "HTTP 404");
    expect_text(errbuf, "BLOB_UNKNOWN");
    assert_null(data);
    registry_client_free(client);
}

static void rejects_blob_over_memory_cap(void **state)
{
    struct registry_client *client;
    char errbuf[512] = "";
    char *data = NULL;
    size_t size = 0;

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_blob(client, registry_hosts[OPEN], REPOSITORY,
                                      big_blob_digest, -1, &data, &size, errbuf,
                                      sizeof(errbuf)),
                  REGISTRY_INVALID_RESPONSE, errbuf);
    expect_text(errbuf, "larger than the limit of 4194304 bytes");
    assert_null(data);

    expect_status(registry_fetch_blob(client, registry_hosts[OPEN], REPOSITORY,
                                      big_blob_digest,
                                      REGISTRY_BLOB_MEMORY_MAX + 1, &data,
                                      &size, errbuf, sizeof(errbuf)),
                  REGISTRY_INVALID_RESPONSE, errbuf);
    expect_text(errbuf, "over the 4194304-byte limit");
    registry_client_free(client);
}

static void rejects_invalid_arguments(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    struct collected collected = {0};
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_manifest(client, registry_hosts[OPEN],
                                          "Bad/Name", "tag", &fetched, errbuf,
                                          sizeof(errbuf)),
                  REGISTRY_INTERNAL, errbuf);
    expect_text(errbuf, "lowercase");
    expect_status(registry_fetch_manifest(client, registry_hosts[OPEN],
                                          REPOSITORY, "../../x", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_INTERNAL, errbuf);
    expect_text(errbuf, "invalid tag");
    expect_status(registry_fetch_blob_stream(
                      client, registry_hosts[OPEN], REPOSITORY, "sha256:1234",
                      -1, collect, &collected, errbuf, sizeof(errbuf)),
                  REGISTRY_INTERNAL, errbuf);
    expect_text(errbuf, "invalid blob digest");
    assert_int_equal(collected.chunks, 0);
    registry_client_free(client);
}

/* ---- Tests: Basic authentication ---- */

static void authenticates_with_basic_credentials(void **state)
{
    struct registry_client *client;
    struct manifest *manifest;
    struct collected collected = {0};
    char digest[DIGEST_SIZE];
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client("good.json");
    manifest = fetch_and_parse(client, BASIC, "single", digest);
    assert_string_equal(digest, amd64_digest);
    manifest_free(manifest);
    /* The second call starts with the Basic header it learned. */
    expect_status(
        registry_fetch_blob_stream(client, registry_hosts[BASIC], REPOSITORY,
                                   layer_digest, (int64_t)layer_size, collect,
                                   &collected, errbuf, sizeof(errbuf)),
        REGISTRY_OK, errbuf);
    assert_int_equal(collected.size, layer_size);
    free(collected.data);
    registry_client_free(client);
}

static void rejects_missing_basic_credentials(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_manifest(client, registry_hosts[BASIC],
                                          REPOSITORY, "single", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_UNAUTHORIZED, errbuf);
    expect_text(errbuf, "requires credentials and none are configured");
    expect_text(errbuf, "HTTP 401");
    registry_client_free(client);
}

static void rejects_wrong_basic_credentials(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";
    char *encoded =
        encode_base64((const unsigned char *)USERNAME ":wrong-password",
                      strlen(USERNAME ":wrong-password"), false);

    (void)state;
    require_environment();
    client = new_client("wrong.json");
    expect_status(registry_fetch_manifest(client, registry_hosts[BASIC],
                                          REPOSITORY, "single", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_UNAUTHORIZED, errbuf);
    expect_text(errbuf, "rejected the credentials");
    expect_text(errbuf, "HTTP 401");
    assert_null(strstr(errbuf, "wrong-password"));
    assert_null(strstr(errbuf, encoded));
    free(encoded);
    registry_client_free(client);
}

/* ---- Tests: Bearer tokens ---- */

static void authenticates_with_anonymous_token(void **state)
{
    struct registry_client *client;
    struct manifest *manifest;
    char target[2048];

    (void)state;
    require_environment();
    reset_server();
    client = new_client(NULL);
    manifest = fetch_and_parse(client, TOKEN, "multi", NULL);
    assert_int_equal(manifest->kind, MANIFEST_KIND_INDEX);
    manifest_free(manifest);

    assert_int_equal(token_requests(), 1);
    pthread_mutex_lock(&server.lock);
    snprintf(target, sizeof(target), "%s", server.token_target);
    assert_string_equal(server.token_method, "GET");
    assert_string_equal(server.token_authorization, "");
    pthread_mutex_unlock(&server.lock);
    expect_text(target, "service=" TOKEN_SERVICE);
    expect_text(target, "scope=repository%3Atest%2Fapp%3Apull");
    registry_client_free(client);
}

static void reuses_cached_token_per_repository(void **state)
{
    struct registry_client *client;
    struct manifest *manifest;
    struct registry_manifest fetched;
    char errbuf[512] = "";

    (void)state;
    require_environment();
    reset_server();
    client = new_client(NULL);
    manifest = fetch_and_parse(client, TOKEN, "multi", NULL);
    manifest_free(manifest);
    manifest = fetch_and_parse(client, TOKEN, amd64_digest, NULL);
    manifest_free(manifest);
    assert_int_equal(token_requests(), 1);

    /* Another repository needs its own token. */
    expect_status(registry_fetch_manifest(client, registry_hosts[TOKEN],
                                          "test/other", "latest", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_NOT_FOUND, errbuf);
    assert_int_equal(token_requests(), 2);
    registry_client_free(client);
}

static void sends_credentials_to_token_realm(void **state)
{
    struct registry_client *client;
    struct manifest *manifest;

    (void)state;
    require_environment();
    reset_server();
    client = new_client("good.json");
    manifest = fetch_and_parse(client, TOKEN, "single", NULL);
    manifest_free(manifest);
    assert_int_equal(token_requests(), 1);
    pthread_mutex_lock(&server.lock);
    assert_true(has_test_credentials(server.token_authorization));
    pthread_mutex_unlock(&server.lock);
    registry_client_free(client);
}

static void refreshes_token_the_registry_rejects(void **state)
{
    struct registry_client *client;
    struct manifest *manifest;

    (void)state;
    require_environment();
    reset_server();
    pthread_mutex_lock(&server.lock);
    server.expired_tokens_left = 1;
    pthread_mutex_unlock(&server.lock);
    client = new_client(NULL);
    manifest = fetch_and_parse(client, TOKEN, "single", NULL);
    manifest_free(manifest);
    assert_int_equal(token_requests(), 2);
    registry_client_free(client);
}

static void gives_up_after_second_rejected_token(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";

    (void)state;
    require_environment();
    reset_server();
    pthread_mutex_lock(&server.lock);
    server.expired_tokens_left = 10;
    pthread_mutex_unlock(&server.lock);
    client = new_client(NULL);
    expect_status(registry_fetch_manifest(client, registry_hosts[TOKEN],
                                          REPOSITORY, "single", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_UNAUTHORIZED, errbuf);
    expect_text(errbuf, "rejected a fresh token");
    expect_text(errbuf, "HTTP 401");
    assert_int_equal(token_requests(), 2);
    registry_client_free(client);
}

static void renews_token_after_expires_in(void **state)
{
    struct registry_client *client;
    struct manifest *manifest;

    (void)state;
    require_environment();
    reset_server();
    pthread_mutex_lock(&server.lock);
    server.expires_in = 1;
    pthread_mutex_unlock(&server.lock);
    client = new_client(NULL);
    manifest = fetch_and_parse(client, TOKEN, "single", NULL);
    manifest_free(manifest);
    manifest = fetch_and_parse(client, TOKEN, "single", NULL);
    manifest_free(manifest);
    assert_int_equal(token_requests(), 1);

    usleep(1100 * 1000);
    manifest = fetch_and_parse(client, TOKEN, "single", NULL);
    manifest_free(manifest);
    assert_int_equal(token_requests(), 2);
    registry_client_free(client);
}

static void exchanges_identity_token_with_post(void **state)
{
    struct registry_client *client;
    struct manifest *manifest;
    char body[8192];

    (void)state;
    require_environment();
    reset_server();
    client = new_client("identity.json");
    manifest = fetch_and_parse(client, TOKEN, "single", NULL);
    manifest_free(manifest);
    assert_int_equal(token_requests(), 1);
    pthread_mutex_lock(&server.lock);
    assert_string_equal(server.token_method, "POST");
    assert_string_equal(server.token_authorization, "");
    snprintf(body, sizeof(body), "%s", server.token_body);
    pthread_mutex_unlock(&server.lock);
    expect_text(body, "grant_type=refresh_token");
    expect_text(body, "refresh_token=" IDENTITY_TOKEN);
    expect_text(body, "scope=repository%3Atest%2Fapp%3Apull");
    registry_client_free(client);
}

static void rejects_wrong_credentials_at_token_service(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";
    char url[128];

    (void)state;
    require_environment();
    reset_server();
    client = new_client("wrong.json");
    expect_status(registry_fetch_manifest(client, registry_hosts[TOKEN],
                                          REPOSITORY, "single", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_UNAUTHORIZED, errbuf);
    expect_text(errbuf, "token service rejected the credentials");
    snprintf(url, sizeof(url), "GET http://127.0.0.1:%d/token:", server.port);
    expect_text(errbuf, url);
    assert_null(strstr(errbuf, "wrong-password"));
    registry_client_free(client);
}

static void without_token_server_listed(struct registry_options *options)
{
    snprintf(insecure_list, sizeof(insecure_list), "%s", registry_hosts[TOKEN]);
    options->insecure_registries = insecure_list;
}

static void rejects_plain_http_realm_not_listed(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";

    (void)state;
    require_environment();
    reset_server();
    client = new_client_with("good.json", NULL, without_token_server_listed);
    expect_status(registry_fetch_manifest(client, registry_hosts[TOKEN],
                                          REPOSITORY, "single", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_UNAUTHORIZED, errbuf);
    expect_text(errbuf, "is not listed as an insecure registry");
    assert_int_equal(token_requests(), 0);
    registry_client_free(client);
}

/* ---- Tests: TLS and network failures ---- */

static void rejects_untrusted_certificate(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_manifest(client, registry_hosts[TLS],
                                          REPOSITORY, "multi", &fetched, errbuf,
                                          sizeof(errbuf)),
                  REGISTRY_UNAUTHORIZED, errbuf);
    expect_text(errbuf, "certificate verification failed");
    expect_text(errbuf, "GET https://");
    expect_text(errbuf, "no HTTP response");
    registry_client_free(client);
}

static void trusts_certificate_from_ca_file(void **state)
{
    struct registry_client *client;
    struct manifest *manifest;
    char digest[DIGEST_SIZE];

    (void)state;
    require_environment();
    client = new_client_with(NULL, "cert.pem", NULL);
    manifest = fetch_and_parse(client, TLS, "multi", digest);
    assert_string_equal(digest, index_digest);
    manifest_free(manifest);
    registry_client_free(client);
}

static int closed_port;

static void with_closed_port(struct registry_options *options)
{
    snprintf(insecure_list, sizeof(insecure_list), "127.0.0.1:%d", closed_port);
    options->insecure_registries = insecure_list;
    options->max_retries = 1;
}

static void reports_closed_port_as_network_error(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";
    char host[32];

    (void)state;
    require_environment();
    closed_port = free_port();
    snprintf(host, sizeof(host), "127.0.0.1:%d", closed_port);
    client = new_client_with(NULL, NULL, with_closed_port);
    expect_status(registry_fetch_manifest(client, host, REPOSITORY, "multi",
                                          &fetched, errbuf, sizeof(errbuf)),
                  REGISTRY_NETWORK, errbuf);
    expect_text(errbuf, "no HTTP response");
    expect_text(errbuf, host);
    registry_client_free(client);
}

static void with_short_timeout(struct registry_options *options)
{
    options->total_timeout_s = 1;
    options->max_retries = 0;
}

static void times_out_on_stalled_registry(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";
    char host[32];
    int64_t started;

    (void)state;
    require_environment();
    snprintf(host, sizeof(host), "127.0.0.1:%d", server.port);
    client = new_client_with(NULL, NULL, with_short_timeout);
    started = (int64_t)time(NULL);
    expect_status(registry_fetch_manifest(client, host, "stall", "x", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_TIMEOUT, errbuf);
    assert_true((int64_t)time(NULL) - started <= 3);
    registry_client_free(client);
    /* Let the server finish stalling before the next test talks to it. */
    sleep(3);
}

/* ---- Tests: corrupted content ---- */

static void detects_corrupted_layer_while_streaming(void **state)
{
    struct registry_client *client;
    struct collected collected = {0};
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(
        registry_fetch_blob_stream(client, registry_hosts[BROKEN], REPOSITORY,
                                   layer_digest, (int64_t)layer_size, collect,
                                   &collected, errbuf, sizeof(errbuf)),
        REGISTRY_DIGEST_MISMATCH, errbuf);
    /* Every byte arrived: the mismatch is only known at the end. */
    assert_int_equal(collected.size, layer_size);
    expect_text(errbuf, "blob hashes to sha256:");
    expect_text(errbuf, layer_digest);
    expect_text(errbuf, "HTTP 200");
    free(collected.data);
    registry_client_free(client);
}

static void detects_corrupted_blob_in_memory(void **state)
{
    struct registry_client *client;
    char errbuf[512] = "";
    char *data = NULL;
    size_t size = 0;

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_blob(client, registry_hosts[BROKEN],
                                      REPOSITORY, layer_digest, -1, &data,
                                      &size, errbuf, sizeof(errbuf)),
                  REGISTRY_DIGEST_MISMATCH, errbuf);
    assert_null(data);
    registry_client_free(client);
}

static void detects_corrupted_manifest(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";

    (void)state;
    require_environment();
    client = new_client(NULL);
    expect_status(registry_fetch_manifest(client, registry_hosts[BROKEN],
                                          REPOSITORY, amd64_digest, &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_DIGEST_MISMATCH, errbuf);
    expect_text(errbuf, "not the requested");
    assert_null(fetched.body);

    /* By tag, the registry's Docker-Content-Digest gives it away. */
    expect_status(registry_fetch_manifest(client, registry_hosts[BROKEN],
                                          REPOSITORY, "single", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_DIGEST_MISMATCH, errbuf);
    expect_text(errbuf, "Docker-Content-Digest");
    registry_client_free(client);
}

/* ---- Tests: retries, redirects and caps against the test server ---- */

static void retries_after_503_honouring_retry_after(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";
    char host[32];
    struct timespec start;
    struct timespec end;
    long elapsed_ms;

    (void)state;
    require_environment();
    reset_server();
    pthread_mutex_lock(&server.lock);
    server.flaky_failures_left = 1;
    snprintf(server.retry_after, sizeof(server.retry_after), "1");
    pthread_mutex_unlock(&server.lock);
    snprintf(host, sizeof(host), "127.0.0.1:%d", server.port);
    client = new_client(NULL);

    clock_gettime(CLOCK_MONOTONIC, &start);
    expect_status(registry_fetch_manifest(client, host, "flaky", "x", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_OK, errbuf);
    clock_gettime(CLOCK_MONOTONIC, &end);
    elapsed_ms = (end.tv_sec - start.tv_sec) * 1000 +
                 (end.tv_nsec - start.tv_nsec) / 1000000;
    /* The retry delay is 10 ms, so waiting a second means Retry-After. */
    assert_true(elapsed_ms >= 1000);
    assert_int_equal(server.flaky_requests, 2);
    assert_string_equal(fetched.body, small_manifest);
    registry_manifest_clear(&fetched);
    registry_client_free(client);
}

static void gives_up_after_retries(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";
    char host[32];

    (void)state;
    require_environment();
    reset_server();
    pthread_mutex_lock(&server.lock);
    server.flaky_failures_left = 10;
    pthread_mutex_unlock(&server.lock);
    snprintf(host, sizeof(host), "127.0.0.1:%d", server.port);
    client = new_client(NULL);
    expect_status(registry_fetch_manifest(client, host, "flaky", "x", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_NETWORK, errbuf);
    expect_text(errbuf, "HTTP 503");
    expect_text(errbuf, "(3 attempts)");
    pthread_mutex_lock(&server.lock);
    assert_int_equal(server.flaky_requests, 3);
    pthread_mutex_unlock(&server.lock);
    registry_client_free(client);
}

static void drops_authorization_on_redirect_to_other_host(void **state)
{
    struct registry_client *client;
    struct collected collected = {0};
    char errbuf[512] = "";
    char host[32];

    (void)state;
    require_environment();
    reset_server();
    snprintf(host, sizeof(host), "127.0.0.1:%d", server.port);
    client = new_client("good.json");
    expect_status(registry_fetch_blob_stream(client, host, "redirect",
                                             layer_digest, (int64_t)layer_size,
                                             collect, &collected, errbuf,
                                             sizeof(errbuf)),
                  REGISTRY_OK, errbuf);
    assert_int_equal(collected.size, layer_size);
    pthread_mutex_lock(&server.lock);
    assert_true(server.registry_saw_authorization);
    assert_int_equal(server.storage_requests, 1);
    assert_false(server.storage_saw_authorization);
    pthread_mutex_unlock(&server.lock);
    free(collected.data);
    registry_client_free(client);
}

static void keeps_authorization_on_same_host_redirect(void **state)
{
    struct registry_client *client;
    struct collected collected = {0};
    char errbuf[512] = "";
    char host[32];

    (void)state;
    require_environment();
    reset_server();
    snprintf(host, sizeof(host), "127.0.0.1:%d", server.port);
    client = new_client("good.json");
    expect_status(registry_fetch_blob_stream(client, host, "samehost",
                                             layer_digest, (int64_t)layer_size,
                                             collect, &collected, errbuf,
                                             sizeof(errbuf)),
                  REGISTRY_OK, errbuf);
    pthread_mutex_lock(&server.lock);
    assert_int_equal(server.storage_requests, 1);
    assert_true(server.storage_saw_authorization);
    pthread_mutex_unlock(&server.lock);
    free(collected.data);
    registry_client_free(client);
}

static void hides_query_of_redirect_url_in_errors(void **state)
{
    struct registry_client *client;
    struct collected collected = {0};
    char errbuf[512] = "";
    char host[32];

    (void)state;
    require_environment();
    reset_server();
    snprintf(host, sizeof(host), "127.0.0.1:%d", server.port);
    client = new_client("good.json");
    /* The storage URL carries a signature; the wrong digest makes the
     * fetch fail there. */
    expect_status(registry_fetch_blob_stream(
                      client, host, "redirect",
                      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
                      "0123456789abcdef",
                      -1, collect, &collected, errbuf, sizeof(errbuf)),
                  REGISTRY_DIGEST_MISMATCH, errbuf);
    expect_text(errbuf, "/storage/layer:");
    assert_null(strstr(errbuf, "secret-signature"));
    free(collected.data);
    registry_client_free(client);
}

static void rejects_manifest_over_4_mib(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";
    char host[32];

    (void)state;
    require_environment();
    snprintf(host, sizeof(host), "127.0.0.1:%d", server.port);
    client = new_client(NULL);
    expect_status(registry_fetch_manifest(client, host, "big", "x", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_INVALID_RESPONSE, errbuf);
    expect_text(errbuf, "larger than the limit of 4194304 bytes");
    assert_null(fetched.body);
    registry_client_free(client);
}

static void detects_lying_content_digest_header(void **state)
{
    struct registry_client *client;
    struct registry_manifest fetched;
    char errbuf[512] = "";
    char host[32];

    (void)state;
    require_environment();
    snprintf(host, sizeof(host), "127.0.0.1:%d", server.port);
    client = new_client(NULL);
    expect_status(registry_fetch_manifest(client, host, "lying", "x", &fetched,
                                          errbuf, sizeof(errbuf)),
                  REGISTRY_DIGEST_MISMATCH, errbuf);
    expect_text(errbuf, "Docker-Content-Digest");
    registry_client_free(client);
}

static void names_every_status(void **state)
{
    (void)state;
    assert_string_equal(registry_status_name(REGISTRY_OK), "OK");
    assert_string_equal(registry_status_name(REGISTRY_NETWORK), "NETWORK");
    assert_string_equal(registry_status_name(REGISTRY_UNAUTHORIZED),
                        "UNAUTHORIZED");
    assert_string_equal(registry_status_name(REGISTRY_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(registry_status_name(REGISTRY_TIMEOUT), "TIMEOUT");
    assert_string_equal(registry_status_name(REGISTRY_INVALID_RESPONSE),
                        "INVALID_RESPONSE");
    assert_string_equal(registry_status_name(REGISTRY_DIGEST_MISMATCH),
                        "DIGEST_MISMATCH");
    assert_string_equal(registry_status_name(REGISTRY_ABORTED), "ABORTED");
    assert_string_equal(registry_status_name(REGISTRY_INTERNAL), "INTERNAL");
}

static void rejects_invalid_options(void **state)
{
    struct registry_options options;
    char errbuf[256] = "";

    (void)state;
    registry_options_init(&options);
    options.insecure_registries = "ok:5000,bad/host";
    assert_null(registry_client_new(&options, errbuf, sizeof(errbuf)));
    expect_text(errbuf, "invalid insecure registries list");

    registry_options_init(&options);
    options.max_retries = -1;
    assert_null(registry_client_new(&options, errbuf, sizeof(errbuf)));
    expect_text(errbuf, "must not be negative");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_every_status),
        cmocka_unit_test(rejects_invalid_options),
        cmocka_unit_test(fetches_index_and_selects_platform),
        cmocka_unit_test(fetches_config_blob_into_memory),
        cmocka_unit_test(streams_layer_in_chunks),
        cmocka_unit_test(stops_stream_when_write_fn_asks),
        cmocka_unit_test(cuts_off_blob_larger_than_expected),
        cmocka_unit_test(reports_blob_shorter_than_expected),
        cmocka_unit_test(reports_unknown_manifest_as_not_found),
        cmocka_unit_test(reports_unknown_blob_as_not_found),
        cmocka_unit_test(rejects_blob_over_memory_cap),
        cmocka_unit_test(rejects_invalid_arguments),
        cmocka_unit_test(authenticates_with_basic_credentials),
        cmocka_unit_test(rejects_missing_basic_credentials),
        cmocka_unit_test(rejects_wrong_basic_credentials),
        cmocka_unit_test(authenticates_with_anonymous_token),
        cmocka_unit_test(reuses_cached_token_per_repository),
        cmocka_unit_test(sends_credentials_to_token_realm),
        cmocka_unit_test(refreshes_token_the_registry_rejects),
        cmocka_unit_test(gives_up_after_second_rejected_token),
        cmocka_unit_test(renews_token_after_expires_in),
        cmocka_unit_test(exchanges_identity_token_with_post),
        cmocka_unit_test(rejects_wrong_credentials_at_token_service),
        cmocka_unit_test(rejects_plain_http_realm_not_listed),
        cmocka_unit_test(rejects_untrusted_certificate),
        cmocka_unit_test(trusts_certificate_from_ca_file),
        cmocka_unit_test(reports_closed_port_as_network_error),
        cmocka_unit_test(detects_corrupted_layer_while_streaming),
        cmocka_unit_test(detects_corrupted_blob_in_memory),
        cmocka_unit_test(detects_corrupted_manifest),
        cmocka_unit_test(retries_after_503_honouring_retry_after),
        cmocka_unit_test(gives_up_after_retries),
        cmocka_unit_test(drops_authorization_on_redirect_to_other_host),
        cmocka_unit_test(keeps_authorization_on_same_host_redirect),
        cmocka_unit_test(hides_query_of_redirect_url_in_errors),
        cmocka_unit_test(rejects_manifest_over_4_mib),
        cmocka_unit_test(detects_lying_content_digest_header),
        cmocka_unit_test(times_out_on_stalled_registry),
    };

    return cmocka_run_group_tests(tests, start_environment, stop_environment);
}
