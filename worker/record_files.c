#include "record_files.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct walk {
    const struct vulndb_limits *limits;
    record_files_fn on_file;
    void *context;
    size_t files_seen;
    uint64_t bytes_read;
    char *buffer; /* max_file_bytes + 2: one byte to detect excess, a NUL */
    char *errbuf;
    size_t errbuf_size;
};

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errbuf_size, const char *format, ...)
{
    va_list args;

    if (!errbuf || errbuf_size == 0)
        return;
    va_start(args, format);
    vsnprintf(errbuf, errbuf_size, format, args);
    va_end(args);
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t name_length = strlen(name);
    size_t suffix_length = strlen(suffix);

    return name_length >= suffix_length &&
           strcasecmp(name + name_length - suffix_length, suffix) == 0;
}

static int count_file(struct walk *walk, const char *name)
{
    if (walk->files_seen >= walk->limits->max_files) {
        set_error(walk->errbuf, walk->errbuf_size,
                  "%s: more than %zu files and entries (raise max_files)", name,
                  walk->limits->max_files);
        return -1;
    }
    walk->files_seen++;
    return 0;
}

static int count_bytes(struct walk *walk, const char *name, size_t bytes)
{
    walk->bytes_read += bytes;
    if (walk->bytes_read > walk->limits->max_total_bytes) {
        set_error(walk->errbuf, walk->errbuf_size,
                  "%s: more than %llu bytes of data after decompression "
                  "(raise max_total_bytes)",
                  name, (unsigned long long)walk->limits->max_total_bytes);
        return -1;
    }
    return 0;
}

static int offer_oversized(struct walk *walk, const char *name)
{
    char problem[96];

    snprintf(problem, sizeof(problem), "larger than max_file_bytes (%zu)",
             walk->limits->max_file_bytes);
    return walk->on_file(walk->context, name, NULL, 0, problem, walk->errbuf,
                         walk->errbuf_size);
}

static int offer(struct walk *walk, const char *name, size_t size)
{
    walk->buffer[size] = '\0';
    return walk->on_file(walk->context, name, walk->buffer, size, NULL,
                         walk->errbuf, walk->errbuf_size);
}

/* Reads a plain file into the buffer and offers it. */
static int read_plain_file(struct walk *walk, const char *path)
{
    size_t cap = walk->limits->max_file_bytes;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_error(walk->errbuf, walk->errbuf_size, "%s: cannot open: %s", path,
                  strerror(errno));
        return -1;
    }

    size_t size = 0;
    while (size <= cap) {
        ssize_t got = read(fd, walk->buffer + size, cap + 1 - size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            set_error(walk->errbuf, walk->errbuf_size, "%s: read failed: %s",
                      path, strerror(errno));
            close(fd);
            return -1;
        }
        if (got == 0)
            break;
        size += (size_t)got;
    }
    close(fd);

    if (count_bytes(walk, path, size) != 0)
        return -1;
    if (size > cap)
        return offer_oversized(walk, path);
    return offer(walk, path, size);
}

static int walk_path(struct walk *walk, const char *path, size_t depth);

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* Lists a directory's entries, without "." names, sorted. */
static int list_directory(struct walk *walk, const char *path, char ***names,
                          size_t *count)
{
    DIR *directory = opendir(path);
    if (!directory) {
        set_error(walk->errbuf, walk->errbuf_size, "%s: cannot open: %s", path,
                  strerror(errno));
        return -1;
    }

    size_t capacity = 0;
    *names = NULL;
    *count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        if (count_file(walk, path) != 0)
            goto fail;
        if (*count == capacity) {
            capacity = capacity ? capacity * 2 : 64;
            char **grown = realloc(*names, capacity * sizeof(*grown));
            if (!grown)
                goto out_of_memory;
            *names = grown;
        }
        (*names)[*count] = strdup(entry->d_name);
        if (!(*names)[*count])
            goto out_of_memory;
        (*count)++;
    }
    closedir(directory);
    if (*count > 0)
        qsort(*names, *count, sizeof(**names), compare_names);
    return 0;

out_of_memory:
    set_error(walk->errbuf, walk->errbuf_size, "%s: out of memory", path);
fail:
    closedir(directory);
    free_names(*names, *count);
    *names = NULL;
    *count = 0;
    return -1;
}

static int walk_directory(struct walk *walk, const char *path, size_t depth)
{
    if (depth > walk->limits->max_depth) {
        set_error(walk->errbuf, walk->errbuf_size,
                  "%s: directories nested deeper than %zu levels (raise "
                  "max_depth)",
                  path, walk->limits->max_depth);
        return -1;
    }

    char **names;
    size_t count;
    if (list_directory(walk, path, &names, &count) != 0)
        return -1;

    int result = 0;
    for (size_t i = 0; i < count && result == 0; i++) {
        size_t length = strlen(path) + strlen(names[i]) + 2;
        char *child = malloc(length);
        if (!child) {
            set_error(walk->errbuf, walk->errbuf_size, "%s: out of memory",
                      path);
            result = -1;
            break;
        }
        snprintf(child, length, "%s/%s", path, names[i]);
        result = walk_path(walk, child, depth + 1);
        free(child);
    }
    free_names(names, count);
    return result;
}

/* Visits one directory entry below the root. */
static int walk_path(struct walk *walk, const char *path, size_t depth)
{
    struct stat info;
    if (lstat(path, &info) != 0) {
        set_error(walk->errbuf, walk->errbuf_size, "%s: %s", path,
                  strerror(errno));
        return -1;
    }

    if (S_ISDIR(info.st_mode))
        return walk_directory(walk, path, depth);
    if (!has_suffix(path, ".json"))
        return 0;
    if (S_ISLNK(info.st_mode) && stat(path, &info) != 0)
        return 0; /* a dangling link contains no record */
    if (!S_ISREG(info.st_mode))
        return 0;
    if ((uint64_t)info.st_size > walk->limits->max_file_bytes)
        return offer_oversized(walk, path);
    return read_plain_file(walk, path);
}

/* Reads the current zip entry into the buffer, up to one byte past the
 * cap, and offers it. */
static int read_zip_entry(struct walk *walk, struct archive *archive,
                          const char *name)
{
    size_t cap = walk->limits->max_file_bytes;
    size_t size = 0;

    while (size <= cap) {
        la_ssize_t got =
            archive_read_data(archive, walk->buffer + size, cap + 1 - size);
        if (got < 0) {
            set_error(walk->errbuf, walk->errbuf_size, "%s: %s", name,
                      archive_error_string(archive));
            return -1;
        }
        if (got == 0)
            break;
        if (count_bytes(walk, name, (size_t)got) != 0)
            return -1;
        size += (size_t)got;
    }

    if (size > cap)
        return offer_oversized(walk, name);
    return offer(walk, name, size);
}

static int walk_zip_entry(struct walk *walk, struct archive *archive,
                          struct archive_entry *entry, const char *path)
{
    const char *entry_name = archive_entry_pathname(entry);
    char name[1024];
    snprintf(name, sizeof(name), "%s:%s", path,
             entry_name ? entry_name : "(unnamed)");

    if (count_file(walk, name) != 0)
        return -1;
    if (archive_entry_filetype(entry) != AE_IFREG || !entry_name ||
        !has_suffix(entry_name, ".json"))
        return 0;

    /* The size in the header may lie, so the read below is capped too. */
    if (archive_entry_size_is_set(entry) &&
        (uint64_t)archive_entry_size(entry) > walk->limits->max_file_bytes)
        return offer_oversized(walk, name);
    return read_zip_entry(walk, archive, name);
}

static int walk_zip(struct walk *walk, const char *path)
{
    struct archive *archive = archive_read_new();
    if (!archive) {
        set_error(walk->errbuf, walk->errbuf_size, "%s: out of memory", path);
        return -1;
    }
    archive_read_support_format_zip(archive);

    int result = -1;
    if (archive_read_open_filename(archive, path, 64 * 1024) != ARCHIVE_OK) {
        set_error(walk->errbuf, walk->errbuf_size, "%s: %s", path,
                  archive_error_string(archive));
        goto out_free_archive;
    }

    for (;;) {
        struct archive_entry *entry;
        int status = archive_read_next_header(archive, &entry);
        if (status == ARCHIVE_EOF)
            break;
        if (status < ARCHIVE_WARN) {
            set_error(walk->errbuf, walk->errbuf_size, "%s: %s", path,
                      archive_error_string(archive));
            goto out_free_archive;
        }
        if (walk_zip_entry(walk, archive, entry, path) != 0)
            goto out_free_archive;
    }
    result = 0;

out_free_archive:
    archive_read_free(archive);
    return result;
}

int record_files_read(const char *path, const struct vulndb_limits *limits,
                      record_files_fn on_file, void *context, char *errbuf,
                      size_t errbuf_size)
{
    struct walk walk = {
        .limits = limits,
        .on_file = on_file,
        .context = context,
        .errbuf = errbuf,
        .errbuf_size = errbuf_size,
    };

    struct stat info;
    if (stat(path, &info) != 0) {
        set_error(errbuf, errbuf_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(info.st_mode) &&
        !(S_ISREG(info.st_mode) &&
          (has_suffix(path, ".zip") || has_suffix(path, ".json")))) {
        set_error(errbuf, errbuf_size,
                  "%s: expected a directory, a .zip or a .json file", path);
        return -1;
    }
    if (limits->max_file_bytes > SIZE_MAX - 2) {
        set_error(errbuf, errbuf_size, "max_file_bytes is too large");
        return -1;
    }

    walk.buffer = malloc(limits->max_file_bytes + 2);
    if (!walk.buffer) {
        set_error(errbuf, errbuf_size, "%s: out of memory", path);
        return -1;
    }

    int result;
    if (S_ISDIR(info.st_mode))
        result = walk_directory(&walk, path, 0);
    else if (has_suffix(path, ".zip"))
        result = walk_zip(&walk, path);
    else if ((uint64_t)info.st_size > limits->max_file_bytes)
        result = offer_oversized(&walk, path);
    else
        result = read_plain_file(&walk, path);

    free(walk.buffer);
    return result;
}
