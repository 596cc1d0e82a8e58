/*
 * dpkg's version order: [epoch:]upstream[-revision]. Epochs compare as
 * numbers, then the upstream versions, then the revisions, each with
 * dpkg's character order. tests/version/dpkg-differential.sh checks this
 * file against dpkg 1.21 (Debian 12) and python3-apt on the versions in
 * the apt lists.
 */
#include "version_internal.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A part of a version string. */
struct span {
    const char *start;
    size_t length;
};

struct dpkg_version {
    long epoch;
    struct span upstream;
    struct span revision; /* length 0 when there is no revision */
};

/* The verdict of dpkg's parser on a string. dpkg --compare-versions
 * compares a string with warnings but rejects one with errors. */
enum parse_status {
    PARSE_OK,
    PARSE_WARNING, /* dpkg prints a warning and compares it anyway */
    PARSE_ERROR,   /* dpkg rejects it */
};

/* Character classes by hand, because <ctype.h> depends on the locale and
 * dpkg uses its own ASCII-only classes. */
static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* The characters strtol() skips before a number in the C locale. */
static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

/*
 * Reads the epoch in [start, colon) as dpkg does with strtol(): optional
 * white space, an optional sign, then digits up to the colon. Returns
 * false where dpkg reports an empty, non-numeric, negative or too big
 * (over INT_MAX) epoch.
 */
static bool epoch_parse(const char *start, const char *colon, long *epoch)
{
    const char *cursor = start;
    bool negative = false;
    long value = 0;

    while (cursor < colon && is_space(*cursor))
        cursor++;
    if (cursor < colon && (*cursor == '+' || *cursor == '-')) {
        negative = *cursor == '-';
        cursor++;
    }
    if (cursor == colon)
        return false;

    for (; cursor < colon; cursor++) {
        if (!is_digit(*cursor))
            return false;
        int digit = *cursor - '0';
        if (value > (INT_MAX - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    if (negative && value != 0)
        return false;

    *epoch = value;
    return true;
}

/* Finds the version's text, ignoring blanks around it. Embedded blanks
 * are an error for dpkg, so the comparison then uses everything up to the
 * last non-blank. */
static enum parse_status text_bounds(const char *text, const char **start,
                                     const char **end)
{
    enum parse_status status = PARSE_OK;
    const char *first = text;

    while (is_blank(*first))
        first++;
    const char *last = first;
    while (*last != '\0' && !is_blank(*last))
        last++;
    const char *after = last;
    while (is_blank(*after))
        after++;

    if (*after != '\0') {
        status = PARSE_ERROR;
        last = after + strlen(after);
        while (last > first && is_blank(last[-1]))
            last--;
    }
    if (last == first)
        status = PARSE_ERROR;

    *start = first;
    *end = last;
    return status;
}

static bool all_in(struct span part, const char *allowed)
{
    for (size_t i = 0; i < part.length; i++) {
        char c = part.start[i];
        if (!is_digit(c) && !is_alpha(c) && strchr(allowed, c) == NULL)
            return false;
    }
    return true;
}

/* The checks dpkg only warns about. */
static enum parse_status characters_check(const struct dpkg_version *version)
{
    if (!is_digit(version->upstream.start[0]))
        return PARSE_WARNING;
    if (!all_in(version->upstream, ".-+~:"))
        return PARSE_WARNING;
    if (!all_in(version->revision, ".+~"))
        return PARSE_WARNING;
    return PARSE_OK;
}

/*
 * Splits text into epoch, upstream version and revision. The parts are
 * always filled, even for a string dpkg rejects. An epoch dpkg rejects
 * then counts as no epoch, so the whole string is the version.
 */
static enum parse_status version_parse(const char *text,
                                       struct dpkg_version *version)
{
    const char *start = NULL;
    const char *end = NULL;
    enum parse_status status = text_bounds(text, &start, &end);

    version->epoch = 0;
    const char *colon = memchr(start, ':', (size_t)(end - start));
    if (colon != NULL) {
        if (epoch_parse(start, colon, &version->epoch))
            start = colon + 1;
        else
            status = PARSE_ERROR;
        if (start == end)
            status = PARSE_ERROR;
    }

    const char *hyphen = NULL;
    for (const char *c = start; c < end; c++) {
        if (*c == '-')
            hyphen = c;
    }
    const char *upstream_end = hyphen != NULL ? hyphen : end;
    version->upstream = (struct span){start, (size_t)(upstream_end - start)};
    version->revision = (struct span){end, 0};
    if (hyphen != NULL) {
        version->revision =
            (struct span){hyphen + 1, (size_t)(end - hyphen - 1)};
        if (version->revision.length == 0)
            status = PARSE_ERROR;
    }
    if (version->upstream.length == 0)
        status = PARSE_ERROR;

    if (status == PARSE_OK)
        status = characters_check(version);
    return status;
}

/* The byte at index as dpkg reads it: a plain char, which is signed on
 * x86, so bytes over 0x7f are negative. 0 past the end. */
static int char_at(struct span part, size_t index)
{
    if (index >= part.length)
        return 0;
    return (signed char)part.start[index];
}

/* dpkg's weight of a non-digit: '~' before the end of the string, the end
 * before letters, letters before every other character. */
static int order(int c)
{
    if (is_digit(c))
        return 0;
    if (is_alpha(c))
        return c;
    if (c == '~')
        return -1;
    if (c != 0)
        return c + 256;
    return 0;
}

/*
 * Compares two upstream versions or two revisions: alternately a run of
 * non-digits, compared character by character with order(), and a run of
 * digits, compared as a number of any length.
 */
static int part_compare(struct span a, struct span b)
{
    size_t i = 0;
    size_t j = 0;

    while (i < a.length || j < b.length) {
        while ((i < a.length && !is_digit(char_at(a, i))) ||
               (j < b.length && !is_digit(char_at(b, j)))) {
            int a_weight = order(char_at(a, i));
            int b_weight = order(char_at(b, j));
            if (a_weight != b_weight)
                return a_weight - b_weight;
            i++;
            j++;
        }

        while (char_at(a, i) == '0')
            i++;
        while (char_at(b, j) == '0')
            j++;

        int first_difference = 0;
        while (is_digit(char_at(a, i)) && is_digit(char_at(b, j))) {
            if (first_difference == 0)
                first_difference = char_at(a, i) - char_at(b, j);
            i++;
            j++;
        }
        if (is_digit(char_at(a, i)))
            return 1;
        if (is_digit(char_at(b, j)))
            return -1;
        if (first_difference != 0)
            return first_difference;
    }
    return 0;
}

static int sign(long value)
{
    return (value > 0) - (value < 0);
}

int version_dpkg_compare(const char *a, const char *b)
{
    struct dpkg_version left;
    struct dpkg_version right;

    version_parse(a, &left);
    version_parse(b, &right);

    if (left.epoch != right.epoch)
        return sign(left.epoch - right.epoch);

    int order_of_upstream = part_compare(left.upstream, right.upstream);
    if (order_of_upstream != 0)
        return sign(order_of_upstream);
    return sign(part_compare(left.revision, right.revision));
}

int version_dpkg_valid(const char *text)
{
    struct dpkg_version version;

    return version_parse(text, &version) == PARSE_OK;
}
