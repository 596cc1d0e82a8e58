/*
 * Times layer_walk_fd() applying one layer file to an empty root
 * filesystem model with the default limits, as a scan applies an image's
 * first layer.
 *
 * usage: bench_layer_walk LAYER RUNS
 *
 * Each run of the walk is followed by a run of two in-process baselines
 * that only decompress the file with zlib:
 *   - raw inflate: what libarchive's gzip reader does, which inflates raw
 *     deflate data after parsing the gzip header itself, and skips the
 *     trailer's CRC-32 and length without checking them. Only the first
 *     gzip member is inflated, because image builders write one, and a
 *     file of several fails the size check against the walk;
 *   - gzread(): zlib's own gzip reader, which also computes and checks
 *     the CRC-32.
 * One untimed walk comes first, so that every timed run reads the file
 * from the page cache. Prints one JSON object: the file size, the
 * decompressed size (the inflated bytes, and the tar stream's as the walk
 * counts it), the entry counts, and each side's run times in seconds and
 * their medians. The baselines that are other programs (zcat, igzip,
 * bsdtar) are timed by tests/bench/run.sh.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "harness.h"
#include "layer_walk.h"
#include "rootfs.h"

#define MAX_RUNS 50
/* As large as layer_walk.c's read size. */
#define BLOCK_BYTES (256 * 1024)

/* gzip header flags (RFC 1952, section 2.3.1). */
#define GZIP_FHCRC 0x02
#define GZIP_FEXTRA 0x04
#define GZIP_FNAME 0x08
#define GZIP_FCOMMENT 0x10

enum side {
    SIDE_WALK,
    SIDE_RAW_INFLATE,
    SIDE_GZREAD,
    SIDE_COUNT,
};

static unsigned char block[BLOCK_BYTES];

/* Walks the layer once. Returns the seconds it took, or a negative number
 * when the walk failed. */
static double time_walk(const char *path, struct layer_walk_stats *stats)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        return -1;
    }

    struct rootfs *fs = rootfs_new(NULL);
    if (!fs) {
        fprintf(stderr, "bench_layer_walk: out of memory\n");
        close(fd);
        return -1;
    }

    char errbuf[512];
    double start = harness_now();
    enum layer_walk_result result =
        layer_walk_fd(fs, fd, stats, errbuf, sizeof(errbuf));
    double elapsed = harness_now() - start;
    rootfs_free(fs);
    close(fd);
    if (result != LAYER_WALK_OK) {
        fprintf(stderr, "bench_layer_walk: %s: %s: %s\n", path,
                layer_walk_result_name(result), errbuf);
        return -1;
    }
    return elapsed;
}

/* Skips a zero-terminated header field. Returns its end, past the NUL. */
static size_t skip_string(const unsigned char *data, size_t size, size_t at)
{
    while (at < size && data[at] != 0)
        at++;
    return at + 1;
}

/* Returns the size of the gzip member header at data, or 0 when data does
 * not start with one. */
static size_t gzip_header_size(const unsigned char *data, size_t size)
{
    if (size < 10 || data[0] != 0x1f || data[1] != 0x8b || data[2] != 8)
        return 0;

    int flags = data[3];
    size_t at = 10;
    if (flags & GZIP_FEXTRA) {
        if (at + 2 > size)
            return 0;
        at += 2 + (size_t)(data[at] | data[at + 1] << 8);
    }
    if (flags & GZIP_FNAME)
        at = skip_string(data, size, at);
    if (flags & GZIP_FCOMMENT)
        at = skip_string(data, size, at);
    if (flags & GZIP_FHCRC)
        at += 2;
    return at <= size ? at : 0;
}

/* Reads the file and inflates its gzip member as libarchive's gzip reader
 * does. Returns the seconds it took, or a negative number when it failed.
 * *bytes receives the inflated bytes. */
static double time_raw_inflate(const char *path, unsigned long long *bytes)
{
    static unsigned char input[BLOCK_BYTES];

    double start = harness_now();
    int fd = open(path, O_RDONLY);
    ssize_t count = fd >= 0 ? read(fd, input, sizeof(input)) : -1;
    size_t header = count > 0 ? gzip_header_size(input, (size_t)count) : 0;
    z_stream stream = {0};
    if (header == 0 || inflateInit2(&stream, -MAX_WBITS) != Z_OK) {
        fprintf(stderr, "bench_layer_walk: %s: not a gzip file\n", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }

    int status = Z_OK;
    stream.next_in = input + header;
    stream.avail_in = (uInt)((size_t)count - header);
    *bytes = 0;
    while (status == Z_OK) {
        if (stream.avail_in == 0) {
            count = read(fd, input, sizeof(input));
            if (count <= 0)
                break;
            stream.next_in = input;
            stream.avail_in = (uInt)count;
        }
        stream.next_out = block;
        stream.avail_out = sizeof(block);
        status = inflate(&stream, Z_NO_FLUSH);
        *bytes += sizeof(block) - stream.avail_out;
    }
    inflateEnd(&stream);
    close(fd);
    if (status != Z_STREAM_END) {
        fprintf(stderr,
                "bench_layer_walk: %s: invalid or truncated gzip "
                "data\n",
                path);
        return -1;
    }
    return harness_now() - start;
}

/* Reads the whole file through gzread(). Returns the seconds it took, or
 * a negative number when it failed. *bytes receives the bytes read. */
static double time_gzread(const char *path, unsigned long long *bytes)
{
    double start = harness_now();
    gzFile file = gzopen(path, "rb");
    if (!file) {
        perror(path);
        return -1;
    }
    gzbuffer(file, BLOCK_BYTES);

    int count;
    *bytes = 0;
    while ((count = gzread(file, block, sizeof(block))) > 0)
        *bytes += (unsigned long long)count;
    if (count < 0) {
        int error;
        fprintf(stderr, "bench_layer_walk: %s: gzread failed: %s\n", path,
                gzerror(file, &error));
        gzclose(file);
        return -1;
    }
    gzclose(file);
    return harness_now() - start;
}

/* Runs one side once. Returns its seconds, or a negative number when it
 * failed. */
static double time_side(enum side side, const char *path,
                        struct layer_walk_stats *stats,
                        unsigned long long *inflated)
{
    switch (side) {
    case SIDE_WALK:
        return time_walk(path, stats);
    case SIDE_RAW_INFLATE:
        return time_raw_inflate(path, inflated);
    case SIDE_GZREAD:
        return time_gzread(path, inflated);
    case SIDE_COUNT:
        break;
    }
    return -1;
}

static void set_side(json_t *result, const char *name, double *runs,
                     size_t run_count)
{
    char key[64];

    snprintf(key, sizeof(key), "%s_runs_s", name);
    json_object_set_new(result, key, harness_json_numbers(runs, run_count));
    snprintf(key, sizeof(key), "%s_s", name);
    json_object_set_new(result, key,
                        json_real(harness_median(runs, run_count)));
}

static json_t *result_json(const struct stat *file,
                           const struct layer_walk_stats *stats,
                           unsigned long long inflated,
                           double runs[SIDE_COUNT][MAX_RUNS], size_t run_count)
{
    json_t *result = json_object();
    if (!result)
        return NULL;

    json_object_set_new(result, "bytes_compressed",
                        json_integer((json_int_t)file->st_size));
    json_object_set_new(result, "bytes_uncompressed",
                        json_integer((json_int_t)stats->bytes_uncompressed));
    json_object_set_new(result, "bytes_inflated",
                        json_integer((json_int_t)inflated));
    json_object_set_new(result, "entries",
                        json_integer((json_int_t)stats->entries));
    json_object_set_new(result, "kept_files",
                        json_integer((json_int_t)stats->kept_files));
    json_object_set_new(result, "symlinks",
                        json_integer((json_int_t)stats->symlinks));
    set_side(result, "walk", runs[SIDE_WALK], run_count);
    set_side(result, "raw_inflate", runs[SIDE_RAW_INFLATE], run_count);
    set_side(result, "gzread", runs[SIDE_GZREAD], run_count);
    return result;
}

/* Checks that a baseline inflated the stream the walk read. The walk
 * stops at the tar end marker, before the padding that may follow it, so
 * it may count fewer bytes but never more. */
static int check_inflated(const char *path, enum side side,
                          unsigned long long inflated,
                          const struct layer_walk_stats *stats)
{
    if (side == SIDE_WALK || inflated >= stats->bytes_uncompressed)
        return 0;

    fprintf(stderr,
            "bench_layer_walk: %s: a baseline inflated %llu bytes but the "
            "walk read %llu\n",
            path, inflated, (unsigned long long)stats->bytes_uncompressed);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_layer_walk LAYER RUNS\n");
        return 2;
    }
    int runs = atoi(argv[2]);
    if (runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench_layer_walk: RUNS must be 1 to %d, not %s\n",
                MAX_RUNS, argv[2]);
        return 2;
    }

    struct stat file;
    if (stat(argv[1], &file) != 0) {
        perror(argv[1]);
        return 1;
    }

    struct layer_walk_stats stats;
    if (time_walk(argv[1], &stats) < 0)
        return 1;

    static double times[SIDE_COUNT][MAX_RUNS];
    unsigned long long inflated = 0;
    for (int i = 0; i < runs; i++) {
        for (int side = 0; side < SIDE_COUNT; side++) {
            times[side][i] = time_side(side, argv[1], &stats, &inflated);
            if (times[side][i] < 0 ||
                check_inflated(argv[1], side, inflated, &stats) != 0)
                return 1;
        }
    }

    json_t *result = result_json(&file, &stats, inflated, times, (size_t)runs);
    return harness_print_result(result) == 0 ? 0 : 1;
}
