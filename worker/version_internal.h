/*
 * The per-scheme halves of version.h, one file each: version_dpkg.c,
 * version_apk.c and version_rpm.c. Only version.c calls them. Arguments
 * are never NULL.
 */
#ifndef IMGASSURE_VERSION_INTERNAL_H
#define IMGASSURE_VERSION_INTERNAL_H

/* Each returns -1, 0 or 1 as a sorts before, equal to or after b. */
int version_dpkg_compare(const char *a, const char *b);
int version_apk_compare(const char *a, const char *b);
int version_rpm_compare(const char *a, const char *b);

/* Each returns 1 when text is a valid version, 0 otherwise. */
int version_dpkg_valid(const char *text);
int version_apk_valid(const char *text);
int version_rpm_valid(const char *text);

#endif
