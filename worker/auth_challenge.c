#include "auth_challenge.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct parser {
    const char *text;
    size_t position;
    char *errbuf;
    size_t errbuf_size;
};

/* A challenge of a scheme we use, while it is being read. */
struct candidate {
    bool seen;
    struct auth_challenge challenge;
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

static int is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/* RFC 9110 token characters. */
static int is_tchar(char c)
{
    return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int is_token68_char(char c)
{
    return is_alnum(c) || (c != '\0' && strchr("-._~+/", c) != NULL);
}

static char current(const struct parser *parser)
{
    return parser->text[parser->position];
}

static void skip_spaces(struct parser *parser)
{
    while (current(parser) == ' ' || current(parser) == '\t') {
        parser->position++;
    }
}

static size_t read_token(struct parser *parser)
{
    size_t start = parser->position;

    while (is_tchar(current(parser))) {
        parser->position++;
    }
    return parser->position - start;
}

static int fail_syntax(struct parser *parser, const char *reason)
{
    set_error(parser->errbuf, parser->errbuf_size,
              "malformed WWW-Authenticate value: %s at offset %zu", reason,
              parser->position);
    return -1;
}

/* Reads an unquoted value. RFC 7235 allows only a token here, and a URL is
 * not one. Taking every visible character except ',' and '"' lets an
 * unquoted realm URL through. */
static size_t read_bare_value(struct parser *parser)
{
    size_t start = parser->position;

    while (current(parser) > 0x20 && current(parser) < 0x7f &&
           current(parser) != ',' && current(parser) != '"') {
        parser->position++;
    }
    return parser->position - start;
}

/* Skips a token68 credential ("Negotiate abc==") when one follows the
 * scheme. Returns 1 when it did. */
static int skip_token68(struct parser *parser)
{
    size_t start = parser->position;
    size_t end;

    while (is_token68_char(current(parser))) {
        parser->position++;
    }
    while (current(parser) == '=') {
        parser->position++;
    }
    end = parser->position;
    skip_spaces(parser);
    if (end > start && (current(parser) == '\0' || current(parser) == ',')) {
        return 1;
    }
    parser->position = start;
    return 0;
}

/* Reads a token or quoted-string value into out (out_size includes the
 * NUL). */
static int read_value(struct parser *parser, const char *name,
                      size_t name_length, char *out, size_t out_size)
{
    size_t length = 0;
    bool too_long = false;

    if (current(parser) != '"') {
        size_t start = parser->position;

        length = read_bare_value(parser);
        if (length == 0) {
            return fail_syntax(parser, "missing parameter value");
        }
        too_long = length >= out_size;
        if (!too_long) {
            memcpy(out, parser->text + start, length);
        }
    } else {
        parser->position++;
        while (current(parser) != '"') {
            char c = current(parser);

            if (c == '\\') {
                parser->position++;
                c = current(parser);
            }
            if (c == '\0') {
                return fail_syntax(parser, "unterminated quoted string");
            }
            if (((unsigned char)c < 0x20 && c != '\t') || c == 0x7f) {
                return fail_syntax(parser, "control character");
            }
            if (length + 1 < out_size) {
                out[length] = c;
            } else {
                too_long = true;
            }
            length++;
            parser->position++;
        }
        parser->position++;
    }

    if (too_long) {
        set_error(parser->errbuf, parser->errbuf_size,
                  "WWW-Authenticate parameter %.*s is longer than %zu "
                  "characters",
                  (int)name_length, name, out_size - 1);
        return -1;
    }
    out[length] = '\0';
    return 0;
}

/* Returns where a parameter of the challenge goes, or NULL for parameters
 * we do not use. */
static char *parameter_slot(struct auth_challenge *challenge, const char *name,
                            size_t length, size_t *slot_size)
{
    static const char *const names[] = {"realm", "service", "scope", "error"};
    char *slots[] = {challenge->realm, challenge->service, challenge->scope,
                     challenge->error};
    size_t sizes[] = {sizeof(challenge->realm), sizeof(challenge->service),
                      sizeof(challenge->scope), sizeof(challenge->error)};

    for (size_t i = 0; i < 4; i++) {
        if (strlen(names[i]) == length &&
            strncasecmp(name, names[i], length) == 0) {
            *slot_size = sizes[i];
            return slots[i];
        }
    }
    return NULL;
}

/* Reads the auth-params of one challenge into target (NULL to discard
 * them), stopping before the next challenge's scheme. */
static int read_parameters(struct parser *parser, struct auth_challenge *target)
{
    for (;;) {
        size_t mark = parser->position;
        char discard[AUTH_CHALLENGE_HEADER_MAX + 1];
        const char *name;
        size_t name_length;
        size_t slot_size = sizeof(discard);
        char *slot = NULL;

        skip_spaces(parser);
        name = parser->text + parser->position;
        name_length = read_token(parser);
        if (name_length == 0) {
            return 0;
        }
        skip_spaces(parser);
        if (current(parser) != '=') {
            /* A token without "=" is the next challenge's scheme. */
            parser->position = mark;
            return 0;
        }
        parser->position++;
        skip_spaces(parser);

        if (target != NULL) {
            slot = parameter_slot(target, name, name_length, &slot_size);
        }
        if (read_value(parser, name, name_length, slot ? slot : discard,
                       slot_size) != 0) {
            return -1;
        }

        skip_spaces(parser);
        if (current(parser) == ',') {
            parser->position++;
        } else if (current(parser) != '\0') {
            return fail_syntax(parser, "expected ',' after a parameter");
        }
    }
}

static int read_challenges(struct parser *parser, struct candidate *basic,
                           struct candidate *bearer)
{
    for (;;) {
        struct candidate *target = NULL;
        const char *scheme;
        size_t length;

        while (current(parser) == ' ' || current(parser) == '\t' ||
               current(parser) == ',') {
            parser->position++;
        }
        if (current(parser) == '\0') {
            return 0;
        }

        scheme = parser->text + parser->position;
        length = read_token(parser);
        if (length == 0) {
            return fail_syntax(parser, "expected an authentication scheme");
        }
        if (length == 5 && strncasecmp(scheme, "Basic", 5) == 0) {
            target = basic;
        } else if (length == 6 && strncasecmp(scheme, "Bearer", 6) == 0) {
            target = bearer;
        }
        if (target != NULL && target->seen) {
            target = NULL; /* the first challenge of a scheme wins */
        }

        skip_spaces(parser);
        /* Basic and Bearer challenges carry parameters, never token68. */
        if (target == NULL && skip_token68(parser)) {
            continue;
        }
        if (read_parameters(parser, target ? &target->challenge : NULL) != 0) {
            return -1;
        }
        if (target != NULL) {
            target->seen = true;
        }
    }
}

int auth_challenge_parse(const char *header, struct auth_challenge *challenge,
                         char *errbuf, size_t errbuf_size)
{
    struct parser parser = {header, 0, errbuf, errbuf_size};
    struct candidate basic;
    struct candidate bearer;

    memset(challenge, 0, sizeof(*challenge));
    memset(&basic, 0, sizeof(basic));
    memset(&bearer, 0, sizeof(bearer));
    basic.challenge.scheme = AUTH_SCHEME_BASIC;
    bearer.challenge.scheme = AUTH_SCHEME_BEARER;

    if (header == NULL || header[0] == '\0') {
        set_error(errbuf, errbuf_size, "WWW-Authenticate is missing");
        return -1;
    }
    if (strnlen(header, AUTH_CHALLENGE_HEADER_MAX + 1) >
        AUTH_CHALLENGE_HEADER_MAX) {
        set_error(errbuf, errbuf_size,
                  "WWW-Authenticate is longer than %d characters",
                  AUTH_CHALLENGE_HEADER_MAX);
        return -1;
    }
    if (read_challenges(&parser, &basic, &bearer) != 0) {
        return -1;
    }

    if (bearer.seen) {
        if (bearer.challenge.realm[0] == '\0') {
            set_error(errbuf, errbuf_size,
                      "WWW-Authenticate Bearer challenge has no realm");
            return -1;
        }
        *challenge = bearer.challenge;
        return 0;
    }
    if (basic.seen) {
        *challenge = basic.challenge;
        return 0;
    }
    set_error(errbuf, errbuf_size,
              "WWW-Authenticate offers neither Basic nor Bearer "
              "authentication");
    return -1;
}
