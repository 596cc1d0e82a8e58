/*
 * The apk database of installed packages, lib/apk/db/installed.
 *
 * One stanza per package, stanzas separated by blank lines. Each line is
 * "K:value", K being one character: P is the package name, V its version,
 * A its architecture and o its origin (the source package it was built
 * from). The other keys (files, checksums, dependencies, ...) are
 * skipped.
 */
#ifndef IMGASSURE_APK_H
#define IMGASSURE_APK_H

#include <stddef.h>

#include "event.h"
#include "rootfs.h"

/* Caps on what one database may hold. Real databases have lines of a few
 * kilobytes (long dependency and provides lists), a few thousand
 * packages, and three to four lines per file a package owns. */
#define APK_MAX_LINE_BYTES (256 * 1024)
#define APK_MAX_LINES 10000000
/* Each stanza is one package, and a scan result carries no more. */
#define APK_MAX_STANZAS SCAN_RESULT_MAX_PACKAGES
#define APK_MAX_VALUE_BYTES 1024 /* P, V, A and o */

enum apk_inventory_result {
    APK_INVENTORY_OK,
    APK_INVENTORY_NOT_FOUND,  /* no apk database in the image */
    APK_INVENTORY_UNREADABLE, /* the database is present but invalid */
    APK_INVENTORY_NO_MEMORY,
};

/*
 * Parses the text of an installed database, size bytes that need no NUL
 * at the end. A package gets name P, version V, architecture A (NULL when
 * absent), and, when the stanza has an o line, source_name o and
 * source_version V. The last stanza needs no blank line after it, and a
 * "\r" before a line's "\n" is ignored.
 *
 * Returns 0 with *packages a malloc'd array of *count packages (NULL when
 * none), in file order, that the caller frees with apk_packages_free().
 * Returns -1, with *packages NULL and the line number and reason in
 * errbuf, for any of these:
 *   - a stanza without P or V, or with one of P, V, A, o twice,
 *   - a line that is neither blank nor "K:value",
 *   - a P, V, A or o value with a blank or control byte, or longer than
 *     APK_MAX_VALUE_BYTES,
 *   - a NUL byte anywhere,
 *   - a line longer than APK_MAX_LINE_BYTES, more than APK_MAX_LINES
 *     lines or more than APK_MAX_STANZAS stanzas,
 *   - no memory.
 * Like apk-tools, which refuses to open such a database, it fails the
 * whole file rather than skip a broken stanza.
 */
int apk_installed_parse(const char *text, size_t size,
                        struct installed_package **packages, size_t *count,
                        char *errbuf, size_t errbuf_size);

/*
 * Reads lib/apk/db/installed from fs, or usr/lib/apk/db/installed when
 * the first is absent (images built by apko, such as Wolfi's, keep it
 * there), following symbolic links inside the image. Returns the packages
 * sorted by name, then architecture, then version, with exact repeats
 * removed.
 *
 * APK_INVENTORY_NOT_FOUND means that neither file is present.
 * APK_INVENTORY_UNREADABLE means that the file failed to parse or
 * resolve, for example through a symbolic link loop. errbuf then names
 * the file and the reason. In every case the caller frees *packages with
 * apk_packages_free(). It is NULL unless the result is APK_INVENTORY_OK.
 */
enum apk_inventory_result
apk_inventory_from_rootfs(const struct rootfs *fs,
                          struct installed_package **packages, size_t *count,
                          char *errbuf, size_t errbuf_size);

/* Frees count packages and the array. NULL is a no-op. */
void apk_packages_free(struct installed_package *packages, size_t count);

#endif
