/*
 * Input is read in large blocks into one buffer and decompressed into
 * another. The caller reads the output buffer in place, so decompressed
 * bytes are never copied here. Plain data is returned straight from the
 * input buffer.
 */
#include "layer_stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>
#include <zstd.h>

/* Large blocks keep the read(2) calls and the caller's per-block work
 * few; a download pipe delivers what it has, so reads may be shorter. */
#define INPUT_BYTES (1024 * 1024)
#define OUTPUT_BYTES (1024 * 1024)

static const unsigned char GZIP_MAGIC[] = {0x1f, 0x8b};
static const unsigned char ZSTD_MAGIC[] = {0x28, 0xb5, 0x2f, 0xfd};

struct layer_stream {
    int fd;
    enum layer_compression compression;
    bool detected;
    bool input_ended; /* read(2) returned 0 */
    unsigned char *input;
    size_t input_start; /* first unconsumed byte */
    size_t input_end;
    unsigned char *output;
    uint64_t bytes_in;

    struct inflate_state *inflate;
    bool member_finished; /* the last gzip member's trailer was read */

    ZSTD_DStream *zstd;
    bool in_frame; /* a zstd frame was started and not finished */

    char error[256];
};

const char *layer_compression_name(enum layer_compression compression)
{
    switch (compression) {
    case LAYER_COMPRESSION_NONE:
        return "none";
    case LAYER_COMPRESSION_GZIP:
        return "gzip";
    case LAYER_COMPRESSION_ZSTD:
        return "zstd";
    }
    return "unknown";
}

struct layer_stream *layer_stream_new(int fd)
{
    struct layer_stream *stream = calloc(1, sizeof(*stream));
    if (!stream)
        return NULL;

    stream->fd = fd;
    stream->input = malloc(INPUT_BYTES);
    stream->output = malloc(OUTPUT_BYTES);
    if (!stream->input || !stream->output) {
        layer_stream_free(stream);
        return NULL;
    }
    return stream;
}

void layer_stream_free(struct layer_stream *stream)
{
    if (!stream)
        return;
    free(stream->input);
    free(stream->output);
    free(stream->inflate);
    ZSTD_freeDStream(stream->zstd);
    free(stream);
}

const char *layer_stream_error(const struct layer_stream *stream)
{
    return stream->error;
}

enum layer_compression
layer_stream_compression(const struct layer_stream *stream)
{
    return stream->compression;
}

uint64_t layer_stream_bytes_in(const struct layer_stream *stream)
{
    return stream->bytes_in;
}

static size_t input_left(const struct layer_stream *stream)
{
    return stream->input_end - stream->input_start;
}

/* Appends what one read(2) returns to the input buffer, moving unconsumed
 * bytes to its start first. Returns 0 (input_ended is set at the end of
 * the file) or -1 with the reason in stream->error. */
static int fill_input(struct layer_stream *stream)
{
    size_t left = input_left(stream);

    memmove(stream->input, stream->input + stream->input_start, left);
    stream->input_start = 0;
    stream->input_end = left;

    for (;;) {
        ssize_t count =
            read(stream->fd, stream->input + left, INPUT_BYTES - left);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0) {
            snprintf(stream->error, sizeof(stream->error),
                     "reading the layer failed after %llu bytes: %s",
                     (unsigned long long)stream->bytes_in, strerror(errno));
            return -1;
        }
        if (count == 0)
            stream->input_ended = true;
        stream->input_end += (size_t)count;
        stream->bytes_in += (uint64_t)count;
        return 0;
    }
}

static bool starts_with(const struct layer_stream *stream,
                        const unsigned char *magic, size_t size)
{
    return input_left(stream) >= size &&
           memcmp(stream->input + stream->input_start, magic, size) == 0;
}

static int start_gzip_member(struct layer_stream *stream)
{
    if (!stream->inflate) {
        stream->inflate = malloc(sizeof(*stream->inflate));
        if (!stream->inflate) {
            snprintf(stream->error, sizeof(stream->error),
                     "out of memory starting gzip decompression");
            return -1;
        }
        isal_inflate_init(stream->inflate);
    } else {
        isal_inflate_reset(stream->inflate);
    }
    /* The gzip wrapper: header parsed, CRC-32 and size trailer checked. */
    stream->inflate->crc_flag = ISAL_GZIP;
    stream->member_finished = false;
    return 0;
}

/* Reads until the first bytes can tell the compression apart, which needs
 * the four bytes of the zstd magic number (or the end of the input). */
static int detect(struct layer_stream *stream)
{
    while (input_left(stream) < sizeof(ZSTD_MAGIC) && !stream->input_ended) {
        if (fill_input(stream) != 0)
            return -1;
    }

    if (starts_with(stream, GZIP_MAGIC, sizeof(GZIP_MAGIC))) {
        stream->compression = LAYER_COMPRESSION_GZIP;
        if (start_gzip_member(stream) != 0)
            return -1;
    } else if (starts_with(stream, ZSTD_MAGIC, sizeof(ZSTD_MAGIC))) {
        stream->compression = LAYER_COMPRESSION_ZSTD;
        stream->zstd = ZSTD_createDStream();
        if (!stream->zstd) {
            snprintf(stream->error, sizeof(stream->error),
                     "out of memory starting zstd decompression");
            return -1;
        }
    }
    stream->detected = true;
    return 0;
}

static ssize_t read_plain(struct layer_stream *stream, const void **data)
{
    if (input_left(stream) == 0 && !stream->input_ended) {
        if (fill_input(stream) != 0)
            return -1;
    }

    size_t size = input_left(stream);
    *data = stream->input + stream->input_start;
    stream->input_start = stream->input_end;
    return (ssize_t)size;
}

static const char *isal_error_name(int status)
{
    switch (status) {
    case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
        return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
        return "invalid back-reference distance";
    case ISAL_INVALID_WRAPPER:
        return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD:
        return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM:
        return "CRC-32 or size in the gzip trailer does not match the data";
    }
    return "decompression failed";
}

/* After a member's trailer, another member may follow (pigz and some
 * layer builders write several). Anything else ends the stream, as
 * gzip -d ignores trailing zeros. Returns 1 when a member follows, 0 at
 * the end, -1 on a read error. */
static int next_gzip_member(struct layer_stream *stream)
{
    while (input_left(stream) < sizeof(GZIP_MAGIC) && !stream->input_ended) {
        if (fill_input(stream) != 0)
            return -1;
    }
    if (!starts_with(stream, GZIP_MAGIC, sizeof(GZIP_MAGIC)))
        return 0;
    return start_gzip_member(stream) == 0 ? 1 : -1;
}

static ssize_t read_gzip(struct layer_stream *stream, const void **data)
{
    struct inflate_state *state = stream->inflate;

    for (;;) {
        if (stream->member_finished) {
            int next = next_gzip_member(stream);
            if (next <= 0)
                return next;
        }
        if (input_left(stream) == 0 && !stream->input_ended) {
            if (fill_input(stream) != 0)
                return -1;
        }

        unsigned char *in = stream->input + stream->input_start;
        state->next_in = in;
        state->avail_in = (uint32_t)input_left(stream);
        state->next_out = stream->output;
        state->avail_out = OUTPUT_BYTES;
        int status = isal_inflate(state);
        stream->input_start += (size_t)(state->next_in - in);
        if (status < 0) {
            snprintf(
                stream->error, sizeof(stream->error),
                "gzip data is invalid near compressed byte %llu: %s",
                (unsigned long long)(stream->bytes_in - input_left(stream)),
                isal_error_name(status));
            return -1;
        }

        size_t produced = OUTPUT_BYTES - state->avail_out;
        if (state->block_state == ISAL_BLOCK_FINISH)
            stream->member_finished = true;
        if (produced > 0) {
            *data = stream->output;
            return (ssize_t)produced;
        }
        if (!stream->member_finished && state->next_in == in &&
            input_left(stream) > 0) {
            snprintf(
                stream->error, sizeof(stream->error),
                "gzip decompression made no progress at compressed "
                "byte %llu",
                (unsigned long long)(stream->bytes_in - input_left(stream)));
            return -1;
        }
        if (!stream->member_finished && input_left(stream) == 0 &&
            stream->input_ended) {
            snprintf(stream->error, sizeof(stream->error),
                     "gzip data is truncated: the input ended after %llu "
                     "bytes inside a member",
                     (unsigned long long)stream->bytes_in);
            return -1;
        }
    }
}

static ssize_t read_zstd(struct layer_stream *stream, const void **data)
{
    for (;;) {
        if (input_left(stream) == 0 && !stream->input_ended) {
            if (fill_input(stream) != 0)
                return -1;
        }
        if (input_left(stream) == 0 && stream->input_ended && !stream->in_frame)
            return 0;

        ZSTD_inBuffer in = {stream->input, stream->input_end,
                            stream->input_start};
        ZSTD_outBuffer out = {stream->output, OUTPUT_BYTES, 0};
        size_t hint = ZSTD_decompressStream(stream->zstd, &out, &in);
        stream->input_start = in.pos;
        if (ZSTD_isError(hint)) {
            snprintf(
                stream->error, sizeof(stream->error),
                "zstd data is invalid near compressed byte %llu: %s",
                (unsigned long long)(stream->bytes_in - input_left(stream)),
                ZSTD_getErrorName(hint));
            return -1;
        }

        /* 0 means a frame just ended; another may follow. */
        stream->in_frame = hint != 0;
        if (out.pos > 0) {
            *data = stream->output;
            return (ssize_t)out.pos;
        }
        if (stream->in_frame && input_left(stream) == 0 &&
            stream->input_ended) {
            snprintf(stream->error, sizeof(stream->error),
                     "zstd data is truncated: the input ended after %llu "
                     "bytes inside a frame",
                     (unsigned long long)stream->bytes_in);
            return -1;
        }
    }
}

ssize_t layer_stream_read(struct layer_stream *stream, const void **data)
{
    stream->error[0] = '\0';
    if (!stream->detected && detect(stream) != 0)
        return -1;

    switch (stream->compression) {
    case LAYER_COMPRESSION_GZIP:
        return read_gzip(stream, data);
    case LAYER_COMPRESSION_ZSTD:
        return read_zstd(stream, data);
    case LAYER_COMPRESSION_NONE:
        break;
    }
    return read_plain(stream, data);
}
