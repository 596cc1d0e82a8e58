/*
 * The dpkg database: the installed packages listed in var/lib/dpkg/status
 * and, in distroless images, in one file per package under
 * var/lib/dpkg/status.d/.
 *
 * Both use deb822 stanzas: "Field: value" lines, continuation lines that
 * start with a space or tab, stanzas separated by blank lines. Field names
 * are case-insensitive. Package, Version, Architecture, Source and Status
 * are read; the other fields are skipped.
 */
#ifndef IMGASSURE_DPKG_H
#define IMGASSURE_DPKG_H

#include <stddef.h>

#include "event.h"
#include "rootfs.h"

/* Caps on what one file may hold. Real status files have lines of a few
 * kilobytes and a few thousand stanzas. */
#define DPKG_MAX_LINE_BYTES (256 * 1024)
#define DPKG_MAX_STANZAS 200000
#define DPKG_MAX_VALUE_BYTES 1024 /* Package, Version, Architecture, Source */
/* Installed packages in one file and in all files together: a scan result
 * carries no more. */
#define DPKG_MAX_PACKAGES SCAN_RESULT_MAX_PACKAGES

enum dpkg_inventory_result {
    DPKG_INVENTORY_OK,
    DPKG_INVENTORY_NOT_FOUND,  /* no dpkg database in the image at all */
    DPKG_INVENTORY_UNREADABLE, /* a database file is present but invalid */
    DPKG_INVENTORY_NO_MEMORY,
};

/*
 * Parses the text of a dpkg status file (size bytes). Only stanzas whose
 * Status states that the package's files are on disk and configured count.
 * Their third Status word is "installed", "triggers-awaited" or
 * "triggers-pending". Stanzas without a Status, and not-installed,
 * config-files, half-installed, unpacked and half-configured ones, are
 * skipped.
 *
 * Returns 0 with *packages a malloc'd array of *count packages (NULL when
 * none), in file order, that the caller frees with dpkg_packages_free().
 * Returns -1, with *packages NULL and the line number and reason in
 * errbuf, for any of these:
 *   - an installed stanza without Package or Version,
 *   - a malformed line or field,
 *   - a NUL or other control byte,
 *   - a line longer than DPKG_MAX_LINE_BYTES,
 *   - more than DPKG_MAX_STANZAS stanzas,
 *   - more than DPKG_MAX_PACKAGES installed packages,
 *   - no memory.
 */
int dpkg_status_parse(const char *text, size_t size,
                      struct installed_package **packages, size_t *count,
                      char *errbuf, size_t errbuf_size);

/*
 * Parses one file of a status.d folder as dpkg_status_parse() does, except
 * that a stanza without a Status field is an installed package, because
 * distroless images write no Status there.
 */
int dpkg_status_d_parse(const char *text, size_t size,
                        struct installed_package **packages, size_t *count,
                        char *errbuf, size_t errbuf_size);

/*
 * Reads var/lib/dpkg/status and every file in var/lib/dpkg/status.d/
 * except *.md5sums from fs, following symbolic links inside the image. It
 * returns the packages of all of them sorted by name, then architecture,
 * then version, with exact repeats removed.
 *
 * DPKG_INVENTORY_NOT_FOUND means that neither is present.
 * DPKG_INVENTORY_UNREADABLE means that a file failed to parse or resolve,
 * for example through a symbolic link loop or a link to a file the model
 * does not keep. errbuf then names the first such file, and *packages
 * still contains the packages of the files that were read. In every case
 * the caller frees *packages with dpkg_packages_free().
 */
enum dpkg_inventory_result
dpkg_inventory_from_rootfs(const struct rootfs *fs,
                           struct installed_package **packages, size_t *count,
                           char *errbuf, size_t errbuf_size);

/* Frees count packages and the array. NULL is a no-op. */
void dpkg_packages_free(struct installed_package *packages, size_t count);

#endif
