/*
 * WWW-Authenticate challenges (RFC 7235) as container registries send
 * them: Basic with a realm, or Bearer with realm, service and scope. The
 * parser is pure and thread-safe.
 */
#ifndef IMGASSURE_AUTH_CHALLENGE_H
#define IMGASSURE_AUTH_CHALLENGE_H

#include <stddef.h>

#define AUTH_CHALLENGE_HEADER_MAX 4096
#define AUTH_CHALLENGE_REALM_MAX 1024
#define AUTH_CHALLENGE_SERVICE_MAX 255
#define AUTH_CHALLENGE_SCOPE_MAX 1023
#define AUTH_CHALLENGE_ERROR_MAX 63

enum auth_scheme {
    AUTH_SCHEME_BASIC,
    AUTH_SCHEME_BEARER,
};

/* The chosen challenge. Parameters it lacks are "". */
struct auth_challenge {
    enum auth_scheme scheme;
    char realm[AUTH_CHALLENGE_REALM_MAX + 1];
    char service[AUTH_CHALLENGE_SERVICE_MAX + 1];
    char scope[AUTH_CHALLENGE_SCOPE_MAX + 1];
    /* Bearer error code, e.g. "invalid_token" or "insufficient_scope". */
    char error[AUTH_CHALLENGE_ERROR_MAX + 1];
};

/*
 * Parses a WWW-Authenticate value, which may list several challenges
 * (separated by commas, as when a response carries several
 * WWW-Authenticate fields). Bearer is chosen over Basic; other schemes are
 * skipped. Scheme and parameter names are case-insensitive; values may be
 * tokens or quoted strings. Returns 0, or -1 with the reason in errbuf:
 * malformed syntax, neither Basic nor Bearer offered, a Bearer challenge
 * without a realm, a value over its cap, a control character.
 */
int auth_challenge_parse(const char *header, struct auth_challenge *challenge,
                         char *errbuf, size_t errbuf_size);

#endif
