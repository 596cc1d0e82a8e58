/*
 * os-release(5): the operating system's identification, read from an
 * image's etc/os-release, or usr/lib/os-release when the former is
 * missing.
 */
#ifndef IMGASSURE_OS_RELEASE_H
#define IMGASSURE_OS_RELEASE_H

#include <stddef.h>

#include "rootfs.h"

/* os-release files are small (the test samples are all under 1 KiB), so
 * larger input is rejected rather than parsed. */
#define OS_RELEASE_MAX_BYTES (64 * 1024)

/* The fields the scan uses. Each is a malloc'd string, or NULL when the
 * file does not set it. An empty value ("") stays empty. */
struct os_release {
    char *id;
    char *id_like;
    char *version_id;
    char *version_codename;
    char *pretty_name;
    char *name;
    /* Lines that are neither an assignment, a comment nor blank (text in
     * a redhat-release file, a shell prompt pasted in). They are skipped. */
    size_t ignored_lines;
};

enum os_release_result {
    OS_RELEASE_FOUND,
    OS_RELEASE_NOT_FOUND,
    OS_RELEASE_INVALID, /* present but unreadable; errbuf has the reason */
    OS_RELEASE_NO_MEMORY,
};

/*
 * Parses os-release text of size bytes. Lines are KEY=value, with values
 * bare or in single or double quotes. Inside double quotes a backslash
 * escapes \ " $ and `. A bare value runs to the end of its line without
 * trailing blanks, and in it a backslash keeps the character that follows
 * it. Lines starting with '#' and blank lines are
 * skipped, and a repeated key keeps its last value, as a shell sourcing
 * the file would.
 *
 * Returns 0 and fills *out, which the caller releases with
 * os_release_clear(). Returns -1, with *out cleared and the line number
 * and reason in errbuf, for any of these:
 *   - a NUL or other control byte,
 *   - a quote left open at the end of its line,
 *   - text after a closing quote,
 *   - more than OS_RELEASE_MAX_BYTES of input,
 *   - no memory.
 */
int os_release_parse(const char *text, size_t size, struct os_release *out,
                     char *errbuf, size_t errbuf_size);

/*
 * Reads etc/os-release from fs, or usr/lib/os-release when etc/os-release
 * does not resolve to a kept file, following symbolic links inside the
 * image. On OS_RELEASE_FOUND the caller clears *out. Otherwise *out is
 * left cleared. OS_RELEASE_INVALID covers a symbolic link loop and a file
 * os_release_parse() rejects.
 */
enum os_release_result os_release_from_rootfs(const struct rootfs *fs,
                                              struct os_release *out,
                                              char *errbuf, size_t errbuf_size);

/* Frees the strings of release and zeroes it. NULL is a no-op. */
void os_release_clear(struct os_release *release);

#endif
