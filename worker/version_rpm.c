/*
 * rpm's version order, as rpm 4.18 compares [epoch:]version[-release]
 * strings (rpm.vercmp() in its Lua interpreter, rpmverCmp() in C).
 * Epochs compare first (no epoch is 0), then versions, then releases,
 * each with rpmvercmp(). A string without a release sorts before the same
 * version with any release. tests/version/rpm-differential.sh checks this
 * file against Debian's rpm.
 */
#include "version_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A part of a version string. start is NULL for a missing part. */
struct span {
    const char *start;
    size_t length;
};

struct evr {
    struct span epoch;
    struct span version;
    struct span release;
};

/* rpm's own ASCII-only classes, not the locale's. */
static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(int c)
{
    return is_digit(c) || is_alpha(c);
}

/* The byte at index, or 0 past the end, where rpm reads a NUL. */
static int char_at(struct span part, size_t index)
{
    return index < part.length ? (unsigned char)part.start[index] : 0;
}

static int texts_compare(const char *a, size_t a_length, const char *b,
                         size_t b_length)
{
    size_t common = a_length < b_length ? a_length : b_length;
    int order = memcmp(a, b, common);

    if (order != 0)
        return order < 0 ? -1 : 1;
    return (a_length > b_length) - (a_length < b_length);
}

/* Compares one numeric or alphabetic segment that starts at *i in a and
 * *j in b, moving both past it. Returns 0 when the segments are equal. */
static int segment_compare(struct span a, size_t *i, struct span b, size_t *j)
{
    bool numeric = is_digit(char_at(a, *i));
    bool (*in_segment)(int) = numeric ? is_digit : is_alpha;
    size_t a_start = *i;
    size_t b_start = *j;

    while (in_segment(char_at(a, *i)))
        (*i)++;
    while (in_segment(char_at(b, *j)))
        (*j)++;

    /* b has a segment of the other kind here, and numbers are newer. */
    if (*j == b_start)
        return numeric ? 1 : -1;

    if (numeric) {
        while (a_start < *i && a.start[a_start] == '0')
            a_start++;
        while (b_start < *j && b.start[b_start] == '0')
            b_start++;
        size_t a_digits = *i - a_start;
        size_t b_digits = *j - b_start;
        if (a_digits != b_digits)
            return a_digits > b_digits ? 1 : -1;
    }
    return texts_compare(a.start + a_start, *i - a_start, b.start + b_start,
                         *j - b_start);
}

/* Skips the separators before the next segment, '~' or '^'. */
static void separators_skip(struct span part, size_t *index)
{
    while (*index < part.length) {
        int c = char_at(part, *index);
        if (is_alnum(c) || c == '~' || c == '^')
            break;
        (*index)++;
    }
}

/*
 * rpmvercmp(): splits both strings into numeric and alphabetic segments
 * and compares them in turn. Other characters only separate segments,
 * '~' sorts before everything, even the end of the string, and '^' sorts
 * after the end of the string but before anything else.
 */
static int part_compare(struct span a, struct span b)
{
    size_t i = 0;
    size_t j = 0;

    if (a.length == b.length && memcmp(a.start, b.start, a.length) == 0)
        return 0;

    while (i < a.length || j < b.length) {
        separators_skip(a, &i);
        separators_skip(b, &j);

        if (char_at(a, i) == '~' || char_at(b, j) == '~') {
            if (char_at(a, i) != '~')
                return 1;
            if (char_at(b, j) != '~')
                return -1;
            i++;
            j++;
            continue;
        }

        if (char_at(a, i) == '^' || char_at(b, j) == '^') {
            if (i >= a.length)
                return -1;
            if (j >= b.length)
                return 1;
            if (char_at(a, i) != '^')
                return 1;
            if (char_at(b, j) != '^')
                return -1;
            i++;
            j++;
            continue;
        }

        if (i >= a.length || j >= b.length)
            break;

        int order = segment_compare(a, &i, b, &j);
        if (order != 0)
            return order;
    }

    if (i >= a.length && j >= b.length)
        return 0;
    return i < a.length ? 1 : -1;
}

/*
 * Splits text as rpm does: leading digits followed by ':' are the epoch
 * (an empty one is 0), and whatever follows the last '-' is the release.
 */
static void evr_parse(const char *text, struct evr *evr)
{
    size_t length = strlen(text);
    size_t digits = 0;

    while (is_digit(text[digits]))
        digits++;

    evr->epoch = (struct span){NULL, 0};
    const char *version = text;
    if (text[digits] == ':') {
        evr->epoch = (struct span){text, digits};
        version = text + digits + 1;
    }

    const char *hyphen = strrchr(version, '-');
    const char *end = text + length;
    evr->release = (struct span){NULL, 0};
    if (hyphen != NULL) {
        evr->release = (struct span){hyphen + 1, (size_t)(end - hyphen - 1)};
        end = hyphen;
    }
    evr->version = (struct span){version, (size_t)(end - version)};
}

static struct span epoch_or_zero(struct span epoch)
{
    if (epoch.start == NULL || epoch.length == 0)
        return (struct span){"0", 1};
    return epoch;
}

int version_rpm_compare(const char *a, const char *b)
{
    struct evr left;
    struct evr right;

    evr_parse(a, &left);
    evr_parse(b, &right);

    int order =
        part_compare(epoch_or_zero(left.epoch), epoch_or_zero(right.epoch));
    if (order != 0)
        return order;

    order = part_compare(left.version, right.version);
    if (order != 0)
        return order;

    if (left.release.start != NULL && right.release.start != NULL)
        return part_compare(left.release, right.release);
    if (left.release.start != NULL)
        return 1;
    if (right.release.start != NULL)
        return -1;
    return 0;
}

/* rpmbuild accepts letters, digits and "._+~^" in Version and Release,
 * and rejects "..". */
static bool part_valid(struct span part)
{
    if (part.length == 0)
        return false;

    for (size_t i = 0; i < part.length; i++) {
        char c = part.start[i];
        if (!is_alnum(c) && strchr("._+~^", c) == NULL)
            return false;
        if (c == '.' && i + 1 < part.length && part.start[i + 1] == '.')
            return false;
    }
    return true;
}

int version_rpm_valid(const char *text)
{
    struct evr evr;

    evr_parse(text, &evr);
    if (evr.epoch.start != NULL && evr.epoch.length == 0)
        return 0;
    if (!part_valid(evr.version))
        return 0;
    return evr.release.start == NULL || part_valid(evr.release);
}
