/*
 * Decompresses a layer blob read from a file descriptor into its plain tar
 * stream. The compression is detected from the first bytes, not from the
 * media type, which a docker save archive does not record. gzip is
 * inflated with ISA-L's igzip and zstd with libzstd. Other data (a plain
 * tar, bzip2, xz) passes through unchanged for libarchive's own filters.
 *
 * Memory is two fixed buffers, whatever the size of the layer.
 */
#ifndef IMGASSURE_LAYER_STREAM_H
#define IMGASSURE_LAYER_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum layer_compression {
    LAYER_COMPRESSION_NONE, /* passed through: plain tar, bzip2, xz */
    LAYER_COMPRESSION_GZIP,
    LAYER_COMPRESSION_ZSTD,
};

struct layer_stream;

/* Creates a stream that reads from fd (left open). Returns NULL when out
 * of memory. */
struct layer_stream *layer_stream_new(int fd);

/* Frees the stream. NULL is a no-op. */
void layer_stream_free(struct layer_stream *stream);

/*
 * Sets *data to the next block of decompressed bytes and returns its size.
 * The block is valid until the next call. Returns 0 at the end of the
 * input. Returns -1 on a read error, invalid compressed data, or input
 * that ends inside a compressed frame, and then layer_stream_error()
 * gives the reason. Several gzip members or zstd frames in a row are read
 * as one stream, as gzip -d and zstd -d do.
 */
ssize_t layer_stream_read(struct layer_stream *stream, const void **data);

/* The reason for the last failure of layer_stream_read(). */
const char *layer_stream_error(const struct layer_stream *stream);

/* The detected compression: valid after the first layer_stream_read(). */
enum layer_compression
layer_stream_compression(const struct layer_stream *stream);

/* Returns "none", "gzip" or "zstd". */
const char *layer_compression_name(enum layer_compression compression);

/* Compressed bytes read from fd so far. */
uint64_t layer_stream_bytes_in(const struct layer_stream *stream);

#endif
