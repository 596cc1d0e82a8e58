/*
 * Registry credentials from a containers auth.json or a docker
 * config.json:
 *
 *   {"auths": {"registry.example:5000": {"auth": "<base64 user:password>"},
 *              "quay.io/team": {"username": "u", "password": "p"},
 *              "https://index.docker.io/v1/": {"identitytoken": "..."}}}
 *
 * Keys are a registry host[:port], a host followed by a repository
 * namespace (containers auth.json), or a URL whose path is ignored (docker
 * config.json). index.docker.io, registry-1.docker.io and the Docker Hub
 * URLs all mean docker.io.
 *
 * NOTE: credential helpers (credsStore, credHelpers) are not run, so a
 * registry whose credentials only a helper provides is reached
 * anonymously.
 *
 * A loaded store is read-only, so any number of threads may search it at
 * the same time.
 */
#ifndef IMGASSURE_CREDENTIALS_H
#define IMGASSURE_CREDENTIALS_H

#include <stddef.h>

#define CREDENTIALS_FILE_SIZE_MAX (1024 * 1024)
#define CREDENTIALS_ENTRIES_MAX 1000
#define CREDENTIALS_KEY_MAX 512
/* Identity tokens are JWTs of a few kilobytes; passwords are shorter. */
#define CREDENTIALS_SECRET_MAX 16384

struct credentials;

/* One registry's credentials. username and password are both set or both
 * NULL; identity_token, an OAuth2 refresh token for the registry's token
 * service, may be set with or without them. */
struct credential {
    const char *username;
    const char *password;
    const char *identity_token;
};

/*
 * Loads the file at path. A NULL or empty path, or a file that does not
 * exist, gives an empty store: every registry is then reached
 * anonymously. Entries without a username or identity token (as docker
 * writes for registries a helper serves) are skipped. Returns 0 and a store
 * the caller frees with credentials_free(), or -1 with the reason in errbuf
 * (unreadable file, invalid JSON, a malformed entry, a cap exceeded). No
 * secret is ever written to errbuf.
 */
int credentials_load(const char *path, struct credentials **credentials,
                     char *errbuf, size_t errbuf_size);

/* Frees a store and wipes the secrets it holds. credentials_free(NULL) is
 * a no-op. */
void credentials_free(struct credentials *credentials);

/*
 * Finds the credentials for repository (may be NULL) on registry
 * ("host[:port]"). A key naming a namespace that contains repository wins
 * over the registry's own key, and the longest such namespace wins. Returns
 * NULL when none apply; the result lives as long as the store.
 */
const struct credential *credentials_find(const struct credentials *credentials,
                                          const char *registry,
                                          const char *repository);

/*
 * Chooses the credentials file for a scan of account. When account_dir is
 * set and contains ACCOUNT.json, that file is used, and the shared file not at
 * all, so one account's scans never use another's secrets. Otherwise
 * shared_path is used; it may be NULL (anonymous pulls), and then out is
 * "". Writes the path into out. Returns 0, or -1 with the reason in errbuf
 * when account is not a plain file name, the path does not fit in out, or
 * ACCOUNT.json exists but cannot be examined or is not a regular file.
 */
int credentials_choose_file(const char *account_dir, const char *account,
                            const char *shared_path, char *out, size_t out_size,
                            char *errbuf, size_t errbuf_size);

/* Returns how many entries the store holds. */
size_t credentials_count(const struct credentials *credentials);

#endif
