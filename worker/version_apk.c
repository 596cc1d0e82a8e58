/*
 * apk-tools' version order. A version is
 *   number{.number}...{letter}{_suffix{number}}...{~hash}{-rN}
 * and two versions compare token by token:
 *   - The first number and the suffix and -r numbers compare as numbers.
 *   - A later .number compares as a number too, unless either side starts
 *     with '0', because then the digit strings compare byte by byte.
 *   - A letter (one of a-z) compares by its byte.
 *   - Suffixes rank _alpha < _beta < _pre < _rc < (none) < _cvs < _svn <
 *     _git < _hg < _p.
 *   - A ~hash (lowercase hex digits) compares byte by byte.
 * When one version runs out of tokens first, the other is newer, unless
 * its next token is a pre-release suffix (alpha to rc). When both have
 * tokens of different kinds, the kind that comes earlier in the grammar
 * is newer ("1.0.1" > "1.0-r5"). A character the grammar does not allow
 * there ranks below the end of the string, so strings apk rejects still
 * have a place in the order.
 *
 * This follows the tokenizer of current apk-tools (the one that accepts
 * ~hash). NOTE: older apk-tools 2.x releases rank a .number with leading
 * zeros by its count of zeros instead, so "1.010" and "1.02" sort the
 * other way there.
 */
#include "version_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Token kinds in the order the grammar allows them. The comparison relies
 * on this order. */
enum token_kind {
    TOKEN_INITIAL_DIGIT,
    TOKEN_DIGIT,
    TOKEN_LETTER,
    TOKEN_SUFFIX,
    TOKEN_SUFFIX_NUMBER,
    TOKEN_COMMIT_HASH,
    TOKEN_REVISION,
    TOKEN_END,
    TOKEN_INVALID,
};

/* Suffix ranks. SUFFIX_NONE, a version without a suffix, sits between the
 * pre-release and the post-release suffixes. */
enum suffix {
    SUFFIX_INVALID,
    SUFFIX_ALPHA,
    SUFFIX_BETA,
    SUFFIX_PRE,
    SUFFIX_RC,
    SUFFIX_NONE,
    SUFFIX_CVS,
    SUFFIX_SVN,
    SUFFIX_GIT,
    SUFFIX_HG,
    SUFFIX_P,
};

struct token {
    enum token_kind kind;
    enum suffix suffix;
    /* Digits read as apk-tools reads them: into a uint64_t that wraps
     * silently past 2^64 - 1. */
    uint64_t number;
    const char *value; /* the token's text, for byte comparisons */
    size_t length;
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_lower_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f');
}

static enum suffix suffix_lookup(const char *name, size_t length)
{
    static const struct {
        const char *name;
        enum suffix suffix;
    } suffixes[] = {
        {"alpha", SUFFIX_ALPHA}, {"beta", SUFFIX_BETA}, {"pre", SUFFIX_PRE},
        {"rc", SUFFIX_RC},       {"cvs", SUFFIX_CVS},   {"svn", SUFFIX_SVN},
        {"git", SUFFIX_GIT},     {"hg", SUFFIX_HG},     {"p", SUFFIX_P},
    };

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        if (strlen(suffixes[i].name) == length &&
            memcmp(suffixes[i].name, name, length) == 0)
            return suffixes[i].suffix;
    }
    return SUFFIX_INVALID;
}

/* Reads a run of digits into token. No digit at all is invalid. */
static void digits_read(struct token *token, const char **cursor)
{
    const char *start = *cursor;
    uint64_t number = 0;

    while (is_digit(**cursor)) {
        number = number * 10 + (uint64_t)(**cursor - '0');
        (*cursor)++;
    }
    token->number = number;
    token->value = start;
    token->length = (size_t)(*cursor - start);
    if (token->length == 0)
        token->kind = TOKEN_INVALID;
}

static void token_first(struct token *token, const char **cursor)
{
    token->kind = TOKEN_INITIAL_DIGIT;
    digits_read(token, cursor);
}

/* Reads the run of characters that match accept into the token's value. */
static void run_read(struct token *token, const char **cursor,
                     bool (*accept)(char))
{
    token->value = *cursor;
    while (accept(**cursor))
        (*cursor)++;
    token->length = (size_t)(*cursor - token->value);
}

static void number_after(struct token *token, const char **cursor)
{
    if (token->kind == TOKEN_INITIAL_DIGIT || token->kind == TOKEN_DIGIT)
        token->kind = TOKEN_DIGIT;
    else if (token->kind == TOKEN_SUFFIX)
        token->kind = TOKEN_SUFFIX_NUMBER;
    else {
        token->kind = TOKEN_INVALID;
        return;
    }
    digits_read(token, cursor);
}

static void suffix_after(struct token *token, const char **cursor)
{
    if (token->kind > TOKEN_SUFFIX_NUMBER) {
        token->kind = TOKEN_INVALID;
        return;
    }
    (*cursor)++;
    run_read(token, cursor, is_lower);
    token->suffix = suffix_lookup(token->value, token->length);
    token->kind =
        token->suffix == SUFFIX_INVALID ? TOKEN_INVALID : TOKEN_SUFFIX;
}

static void hash_after(struct token *token, const char **cursor)
{
    if (token->kind >= TOKEN_COMMIT_HASH) {
        token->kind = TOKEN_INVALID;
        return;
    }
    (*cursor)++;
    run_read(token, cursor, is_lower_hex);
    token->kind = token->length == 0 ? TOKEN_INVALID : TOKEN_COMMIT_HASH;
}

static void revision_after(struct token *token, const char **cursor)
{
    if (token->kind >= TOKEN_REVISION || (*cursor)[1] != 'r') {
        token->kind = TOKEN_INVALID;
        return;
    }
    *cursor += 2;
    token->kind = TOKEN_REVISION;
    digits_read(token, cursor);
}

/* Reads the token after the current one, which token still describes,
 * because what may follow depends on it. */
static void token_next(struct token *token, const char **cursor)
{
    char c = **cursor;

    if (c == '\0') {
        token->kind = TOKEN_END;
    } else if (is_lower(c)) {
        if (token->kind > TOKEN_DIGIT) {
            token->kind = TOKEN_INVALID;
            return;
        }
        token->kind = TOKEN_LETTER;
        token->value = *cursor;
        token->length = 1;
        (*cursor)++;
    } else if (c == '.') {
        if (token->kind > TOKEN_DIGIT) {
            token->kind = TOKEN_INVALID;
            return;
        }
        (*cursor)++;
        number_after(token, cursor);
    } else if (is_digit(c)) {
        number_after(token, cursor);
    } else if (c == '_') {
        suffix_after(token, cursor);
    } else if (c == '~') {
        hash_after(token, cursor);
    } else if (c == '-') {
        revision_after(token, cursor);
    } else {
        token->kind = TOKEN_INVALID;
    }
}

static int bytes_compare(const struct token *a, const struct token *b)
{
    size_t common = a->length < b->length ? a->length : b->length;
    int order = memcmp(a->value, b->value, common);

    if (order != 0)
        return order < 0 ? -1 : 1;
    if (a->length != b->length)
        return a->length < b->length ? -1 : 1;
    return 0;
}

static int numbers_compare(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

/* Compares two tokens of the same kind. */
static int token_compare(const struct token *a, const struct token *b)
{
    switch (a->kind) {
    case TOKEN_DIGIT:
        /* A leading zero makes the component a string, as in Gentoo's
         * version rules that apk's grammar comes from. */
        if (a->value[0] == '0' || b->value[0] == '0')
            return bytes_compare(a, b);
        return numbers_compare(a->number, b->number);
    case TOKEN_INITIAL_DIGIT:
    case TOKEN_SUFFIX_NUMBER:
    case TOKEN_REVISION:
        return numbers_compare(a->number, b->number);
    case TOKEN_LETTER:
        return numbers_compare((unsigned char)a->value[0],
                               (unsigned char)b->value[0]);
    case TOKEN_SUFFIX:
        return numbers_compare(a->suffix, b->suffix);
    default:
        return bytes_compare(a, b);
    }
}

int version_apk_compare(const char *a, const char *b)
{
    struct token left = {0};
    struct token right = {0};
    const char *left_cursor = a;
    const char *right_cursor = b;

    token_first(&left, &left_cursor);
    token_first(&right, &right_cursor);
    while (left.kind == right.kind && left.kind < TOKEN_END) {
        int order = token_compare(&left, &right);
        if (order != 0)
            return order;
        token_next(&left, &left_cursor);
        token_next(&right, &right_cursor);
    }

    /* Both ended, or both hit an invalid character at the same token. */
    if (left.kind == right.kind)
        return 0;

    if (left.kind == TOKEN_SUFFIX && left.suffix < SUFFIX_NONE)
        return -1;
    if (right.kind == TOKEN_SUFFIX && right.suffix < SUFFIX_NONE)
        return 1;
    if (left.kind > right.kind)
        return -1;
    if (right.kind > left.kind)
        return 1;
    return 0;
}

int version_apk_valid(const char *text)
{
    struct token token = {0};
    const char *cursor = text;

    token_first(&token, &cursor);
    while (token.kind < TOKEN_END)
        token_next(&token, &cursor);
    return token.kind == TOKEN_END;
}
