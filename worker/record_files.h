/*
 * Reads the .json files of a vulnerability data source: a directory tree,
 * a zip archive of one, or a single file. The caps of struct vulndb_limits
 * that concern files apply: max_file_bytes, max_total_bytes, max_files and
 * max_depth.
 */
#ifndef IMGASSURE_RECORD_FILES_H
#define IMGASSURE_RECORD_FILES_H

#include <stddef.h>

#include "vulndb.h"

/*
 * Called once per .json file, in a fixed order: a directory's entries by
 * name (byte order), a zip archive's in archive order. name is the path,
 * or "<archive>:<entry>", for messages. data contains size bytes followed by
 * a NUL, and is valid only during the call. When the file was skipped,
 * data is NULL and problem gives the reason (it is over max_file_bytes).
 * Returns 0 to go on, or -1 with the reason in errbuf to stop.
 */
typedef int (*record_files_fn)(void *context, const char *name,
                               const char *data, size_t size,
                               const char *problem, char *errbuf,
                               size_t errbuf_size);

/*
 * Calls on_file for every .json file under path. In a directory, entries
 * whose names start with '.' are not read, and symbolic links are
 * followed to files but not to directories, so a link cannot make a loop.
 * Returns 0 when every file was offered. Returns -1 with the reason in
 * errbuf when path is not a directory, .zip or .json file, when a file or
 * the archive cannot be read, when a cap is reached, or when on_file
 * stopped the walk.
 */
int record_files_read(const char *path, const struct vulndb_limits *limits,
                      record_files_fn on_file, void *context, char *errbuf,
                      size_t errbuf_size);

#endif
