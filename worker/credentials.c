#include "credentials.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct entry {
    char *host;      /* lowercase; docker.io for every Docker Hub alias */
    char *namespace; /* "" unless the key names a repository namespace */
    bool from_url;   /* the key was a URL such as https://index.docker.io/v1/ */
    char *username;
    char *password;
    char *identity_token;
    struct credential credential; /* points into the strings above */
};

struct credentials {
    struct entry *entries;
    size_t count;
};

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

static void free_secret(char *secret)
{
    if (secret != NULL) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
}

static void clear_entry(struct entry *entry)
{
    free(entry->host);
    free(entry->namespace);
    free_secret(entry->username);
    free_secret(entry->password);
    free_secret(entry->identity_token);
    memset(entry, 0, sizeof(*entry));
}

void credentials_free(struct credentials *credentials)
{
    if (credentials == NULL) {
        return;
    }
    for (size_t i = 0; i < credentials->count; i++) {
        clear_entry(&credentials->entries[i]);
    }
    free(credentials->entries);
    free(credentials);
}

size_t credentials_count(const struct credentials *credentials)
{
    return credentials->count;
}

static const char *canonical_host(const char *host)
{
    static const char *const docker_hub[] = {"docker.io", "index.docker.io",
                                             "registry-1.docker.io",
                                             "registry.hub.docker.com"};

    for (size_t i = 0; i < sizeof(docker_hub) / sizeof(docker_hub[0]); i++) {
        if (strcasecmp(host, docker_hub[i]) == 0) {
            return "docker.io";
        }
    }
    return host;
}

static char *lowercase_copy(const char *text, size_t length)
{
    char *copy = malloc(length + 1);

    if (copy == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < length; i++) {
        char c = text[i];

        copy[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    copy[length] = '\0';
    return copy;
}

/* Splits a key into its host and namespace. A URL key keeps only its
 * host, because docker writes "https://index.docker.io/v1/" for Docker
 * Hub. */
static int split_key(const char *key, struct entry *entry, char *errbuf,
                     size_t errbuf_size)
{
    const char *host = key;
    size_t host_length;
    char *lower;

    if (strncasecmp(host, "https://", 8) == 0) {
        host += 8;
        entry->from_url = true;
    } else if (strncasecmp(host, "http://", 7) == 0) {
        host += 7;
        entry->from_url = true;
    }
    host_length = strcspn(host, "/");
    if (host_length == 0) {
        set_error(errbuf, errbuf_size, "auths key \"%s\" names no registry",
                  key);
        return -1;
    }

    lower = lowercase_copy(host, host_length);
    if (lower == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    entry->host = strdup(canonical_host(lower));
    free(lower);
    entry->namespace = strdup(entry->from_url || host[host_length] == '\0'
                                  ? ""
                                  : host + host_length + 1);
    if (entry->host == NULL || entry->namespace == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    return 0;
}

/* Reads an optional string member, which must fit CREDENTIALS_SECRET_MAX.
 * *value is NULL when the member is absent. */
static int get_string(const json_t *object, const char *member, const char *key,
                      const char **value, char *errbuf, size_t errbuf_size)
{
    const json_t *field = json_object_get(object, member);

    *value = NULL;
    if (field == NULL) {
        return 0;
    }
    if (!json_is_string(field)) {
        set_error(errbuf, errbuf_size, "auths[\"%s\"].%s is not a string", key,
                  member);
        return -1;
    }
    if (json_string_length(field) > CREDENTIALS_SECRET_MAX) {
        set_error(errbuf, errbuf_size,
                  "auths[\"%s\"].%s is longer than %d bytes", key, member,
                  CREDENTIALS_SECRET_MAX);
        return -1;
    }
    *value = json_string_value(field);
    return 0;
}

/* Decodes standard base64, padding optional, into a NUL-terminated
 * malloc'd string. Returns NULL when the text is not base64 or the result
 * contains a NUL byte. */
static char *decode_base64(const char *text)
{
    size_t length = strlen(text);
    size_t padded_length = (length + 3) / 4 * 4;
    size_t padding = 0;
    unsigned char *padded;
    unsigned char *decoded;
    int decoded_length;

    padded = malloc(padded_length + 1);
    decoded = malloc(padded_length / 4 * 3 + 1);
    if (padded == NULL || decoded == NULL) {
        free(padded);
        free(decoded);
        return NULL;
    }
    memcpy(padded, text, length);
    memset(padded + length, '=', padded_length - length);
    padded[padded_length] = '\0';
    for (size_t i = padded_length; i > 0 && padded[i - 1] == '='; i--) {
        padding++;
    }

    decoded_length = EVP_DecodeBlock(decoded, padded, (int)padded_length);
    OPENSSL_cleanse(padded, padded_length);
    free(padded);
    /* EVP_DecodeBlock counts padding as zero bytes and skips whitespace
     * around the text, so the alphabet is checked here as well. */
    if (decoded_length < 0 || padding > 2 || (size_t)decoded_length < padding ||
        strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789+/=") != length) {
        OPENSSL_cleanse(decoded, padded_length / 4 * 3 + 1);
        free(decoded);
        return NULL;
    }
    decoded_length -= (int)padding;
    decoded[decoded_length] = '\0';
    if (memchr(decoded, '\0', (size_t)decoded_length) != NULL) {
        OPENSSL_cleanse(decoded, (size_t)decoded_length);
        free(decoded);
        return NULL;
    }
    return (char *)decoded;
}

/* Fills username and password from an "auth" member. */
static int read_auth_member(const char *auth, const char *key,
                            struct entry *entry, char *errbuf,
                            size_t errbuf_size)
{
    char *decoded = decode_base64(auth);
    char *colon;

    if (decoded == NULL) {
        set_error(errbuf, errbuf_size, "auths[\"%s\"].auth is not valid base64",
                  key);
        return -1;
    }
    colon = strchr(decoded, ':');
    if (colon == NULL || colon == decoded) {
        OPENSSL_cleanse(decoded, strlen(decoded));
        free(decoded);
        set_error(errbuf, errbuf_size,
                  "auths[\"%s\"].auth does not decode to username:password",
                  key);
        return -1;
    }

    *colon = '\0';
    entry->username = strdup(decoded);
    entry->password = strdup(colon + 1);
    OPENSSL_cleanse(colon + 1, strlen(colon + 1));
    OPENSSL_cleanse(decoded, strlen(decoded));
    free(decoded);
    if (entry->username == NULL || entry->password == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    return 0;
}

static int read_username_members(const char *username, const char *password,
                                 const char *key, struct entry *entry,
                                 char *errbuf, size_t errbuf_size)
{
    if (strchr(username, ':') != NULL) {
        set_error(errbuf, errbuf_size,
                  "auths[\"%s\"].username contains ':', which Basic "
                  "authentication cannot carry",
                  key);
        return -1;
    }
    entry->username = strdup(username);
    entry->password = strdup(password ? password : "");
    if (entry->username == NULL || entry->password == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    return 0;
}

/* Reads one "auths" member. Sets *usable to false when it contains no
 * credentials at all. */
static int read_entry(const char *key, const json_t *value, struct entry *entry,
                      bool *usable, char *errbuf, size_t errbuf_size)
{
    const char *auth;
    const char *username;
    const char *password;
    const char *token;

    *usable = false;
    if (!json_is_object(value)) {
        set_error(errbuf, errbuf_size, "auths[\"%s\"] is not an object", key);
        return -1;
    }
    if (get_string(value, "auth", key, &auth, errbuf, errbuf_size) != 0 ||
        get_string(value, "username", key, &username, errbuf, errbuf_size) !=
            0 ||
        get_string(value, "password", key, &password, errbuf, errbuf_size) !=
            0 ||
        get_string(value, "identitytoken", key, &token, errbuf, errbuf_size) !=
            0 ||
        split_key(key, entry, errbuf, errbuf_size) != 0) {
        return -1;
    }

    if (auth != NULL && auth[0] != '\0') {
        if (read_auth_member(auth, key, entry, errbuf, errbuf_size) != 0) {
            return -1;
        }
    } else if (username != NULL && username[0] != '\0') {
        if (read_username_members(username, password, key, entry, errbuf,
                                  errbuf_size) != 0) {
            return -1;
        }
    }
    if (token != NULL && token[0] != '\0') {
        entry->identity_token = strdup(token);
        if (entry->identity_token == NULL) {
            set_error(errbuf, errbuf_size, "out of memory");
            return -1;
        }
    }

    entry->credential.username = entry->username;
    entry->credential.password = entry->password;
    entry->credential.identity_token = entry->identity_token;
    *usable = entry->username != NULL || entry->identity_token != NULL;
    return 0;
}

static int read_auths(const json_t *auths, struct credentials *credentials,
                      const char *path, char *errbuf, size_t errbuf_size)
{
    const char *key;
    const json_t *value;
    size_t count = json_object_size(auths);

    if (count > CREDENTIALS_ENTRIES_MAX) {
        set_error(errbuf, errbuf_size,
                  "%s: auths has %zu entries, more than the limit of %d", path,
                  count, CREDENTIALS_ENTRIES_MAX);
        return -1;
    }
    credentials->entries = calloc(count ? count : 1, sizeof(struct entry));
    if (credentials->entries == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        return -1;
    }

    json_object_foreach((json_t *)auths, key, value)
    {
        struct entry *entry = &credentials->entries[credentials->count];
        char reason[512];
        bool usable;

        if (strlen(key) > CREDENTIALS_KEY_MAX) {
            set_error(errbuf, errbuf_size,
                      "%s: an auths key is longer than %d characters", path,
                      CREDENTIALS_KEY_MAX);
            return -1;
        }
        if (read_entry(key, value, entry, &usable, reason, sizeof(reason)) !=
            0) {
            clear_entry(entry);
            set_error(errbuf, errbuf_size, "%s: %s", path, reason);
            return -1;
        }
        if (usable) {
            credentials->count++;
        } else {
            clear_entry(entry);
        }
    }
    return 0;
}

/* Reads the file into a malloc'd buffer. Sets *missing when it does not
 * exist. */
static char *read_file(const char *path, size_t *size, bool *missing,
                       char *errbuf, size_t errbuf_size)
{
    FILE *file = fopen(path, "rb");
    struct stat info;
    char *data;

    *missing = false;
    if (file == NULL) {
        *missing = errno == ENOENT;
        if (!*missing) {
            set_error(errbuf, errbuf_size, "cannot open %s: %s", path,
                      strerror(errno));
        }
        return NULL;
    }
    if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode) ||
        info.st_size > CREDENTIALS_FILE_SIZE_MAX) {
        set_error(errbuf, errbuf_size,
                  "%s is not a regular file of at most %d bytes", path,
                  CREDENTIALS_FILE_SIZE_MAX);
        fclose(file);
        return NULL;
    }

    data = malloc((size_t)info.st_size + 1);
    if (data == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        fclose(file);
        return NULL;
    }
    *size = fread(data, 1, (size_t)info.st_size, file);
    if (ferror(file)) {
        set_error(errbuf, errbuf_size, "cannot read %s", path);
        free(data);
        data = NULL;
    }
    fclose(file);
    return data;
}

static int parse_document(const char *data, size_t size, const char *path,
                          struct credentials *credentials, char *errbuf,
                          size_t errbuf_size)
{
    json_error_t error;
    const json_t *auths;
    json_t *root;
    int status = -1;

    root = json_loadb(data, size, 0, &error);
    if (root == NULL) {
        /* error.text quotes the input near the error, which may be a
         * secret, so only the position is reported. */
        set_error(errbuf, errbuf_size,
                  "%s is not valid JSON (error at line %d column %d)", path,
                  error.line, error.column);
        return -1;
    }
    if (!json_is_object(root)) {
        set_error(errbuf, errbuf_size, "%s is not a JSON object", path);
        goto out_decref;
    }

    auths = json_object_get(root, "auths");
    if (auths == NULL) {
        status = 0;
    } else if (!json_is_object(auths)) {
        set_error(errbuf, errbuf_size, "%s: auths is not an object", path);
    } else {
        status = read_auths(auths, credentials, path, errbuf, errbuf_size);
    }

out_decref:
    json_decref(root);
    return status;
}

int credentials_load(const char *path, struct credentials **credentials,
                     char *errbuf, size_t errbuf_size)
{
    struct credentials *store;
    size_t size = 0;
    bool missing;
    char *data;

    *credentials = NULL;
    store = calloc(1, sizeof(*store));
    if (store == NULL) {
        set_error(errbuf, errbuf_size, "out of memory");
        return -1;
    }
    if (path == NULL || path[0] == '\0') {
        *credentials = store;
        return 0;
    }

    data = read_file(path, &size, &missing, errbuf, errbuf_size);
    if (data == NULL) {
        if (missing) {
            *credentials = store;
            return 0;
        }
        credentials_free(store);
        return -1;
    }
    if (parse_document(data, size, path, store, errbuf, errbuf_size) != 0) {
        credentials_free(store);
        store = NULL;
    }
    OPENSSL_cleanse(data, size);
    free(data);

    *credentials = store;
    return store != NULL ? 0 : -1;
}

/* Returns how closely entry matches: -1 not at all, else a larger number
 * for a more specific key. */
static int match_score(const struct entry *entry, const char *host,
                       const char *repository)
{
    size_t length = strlen(entry->namespace);

    if (strcmp(entry->host, host) != 0) {
        return -1;
    }
    if (length == 0) {
        return entry->from_url ? 0 : 1;
    }
    if (repository == NULL ||
        strncmp(repository, entry->namespace, length) != 0 ||
        (repository[length] != '\0' && repository[length] != '/')) {
        return -1;
    }
    return 2 + (int)length;
}

const struct credential *credentials_find(const struct credentials *credentials,
                                          const char *registry,
                                          const char *repository)
{
    const struct entry *best = NULL;
    int best_score = -1;
    char *host;

    if (registry == NULL || credentials->count == 0) {
        return NULL;
    }
    host = lowercase_copy(registry, strlen(registry));
    if (host == NULL) {
        return NULL;
    }

    for (size_t i = 0; i < credentials->count; i++) {
        int score = match_score(&credentials->entries[i], canonical_host(host),
                                repository);

        if (score > best_score) {
            best_score = score;
            best = &credentials->entries[i];
        }
    }
    free(host);
    return best != NULL ? &best->credential : NULL;
}

int credentials_choose_file(const char *account_dir, const char *account,
                            const char *shared_path, char *out, size_t out_size,
                            char *errbuf, size_t errbuf_size)
{
    struct stat info;
    int length;

    if (account_dir != NULL && account_dir[0] != '\0') {
        /* The name becomes part of a path, so it must stay one component. */
        if (account == NULL || account[0] == '\0' ||
            strchr(account, '/') != NULL) {
            set_error(errbuf, errbuf_size,
                      "account \"%.128s\" cannot name a credentials file",
                      account ? account : "");
            return -1;
        }
        length = snprintf(out, out_size, "%s/%s.json", account_dir, account);
        if (length < 0 || (size_t)length >= out_size) {
            set_error(errbuf, errbuf_size,
                      "credentials path for account %.128s is too long",
                      account);
            return -1;
        }
        if (stat(out, &info) == 0) {
            if (S_ISREG(info.st_mode))
                return 0;
            set_error(errbuf, errbuf_size, "%s is not a regular file", out);
            return -1;
        }
        if (errno != ENOENT) {
            set_error(errbuf, errbuf_size, "cannot examine %s: %s", out,
                      strerror(errno));
            return -1;
        }
    }

    length = snprintf(out, out_size, "%s", shared_path ? shared_path : "");
    if (length < 0 || (size_t)length >= out_size) {
        set_error(errbuf, errbuf_size, "credentials path is too long");
        return -1;
    }
    return 0;
}
