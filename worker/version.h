/*
 * Version ordering of the package managers imgassure reads, each exactly as
 * the package manager itself orders versions.
 */
#ifndef IMGASSURE_VERSION_H
#define IMGASSURE_VERSION_H

enum version_scheme {
    VERSION_SCHEME_DPKG, /* Debian, Ubuntu: epoch:upstream-revision, '~' */
    VERSION_SCHEME_APK,  /* Alpine: apk-tools order, suffixes and -rN */
    VERSION_SCHEME_RPM,  /* rpmvercmp with epoch and release, '~' and '^' */
};

/*
 * Compares two version strings under a scheme. Returns a negative number,
 * zero or a positive number when a sorts before, equal to or after b.
 * Neither may be NULL.
 *
 * Never fails. A string that is not a valid version still gets a place in
 * the order. rpm compares any non-empty string, and here an empty one
 * compares as an empty version. apk-tools ranks a character its grammar does
 * not allow below the end of the string. dpkg warns about some strings but
 * compares them, and rejects others (embedded blanks, a bad epoch, an empty
 * part). Those compare by dpkg's rules after a lenient split, in which a
 * rejected epoch stays part of the upstream version and embedded blanks stay
 * in the text.
 */
int version_compare(enum version_scheme scheme, const char *a, const char *b);

/*
 * Returns 1 when text is a valid version under the scheme, 0 otherwise
 * (also for NULL):
 *   - dpkg: dpkg parses it without an error or a warning;
 *   - apk: apk-tools' grammar, number{.number}...{letter}
 *     {_suffix{number}}...{~hash}{-rN}, matches all of it;
 *   - rpm: [epoch:]version[-release] with a numeric epoch and a version
 *     and release made of letters, digits and "._+~^" without "..", the
 *     characters rpmbuild accepts.
 */
int version_valid(enum version_scheme scheme, const char *text);

#endif
