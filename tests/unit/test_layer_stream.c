/*
 * Compressed inputs are made in memory with zlib and libzstd, written to
 * an unlinked temporary file, and read back through layer_stream_read().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <zlib.h>
#include <zstd.h>

#include "layer_stream.h"

/* Larger than layer_stream.c's buffers, so blocks and refills repeat. */
#define PAYLOAD_BYTES (3 * 1024 * 1024 + 123)

struct bytes {
    unsigned char *data;
    size_t size;
};

static void bytes_append(struct bytes *bytes, const void *data, size_t size)
{
    bytes->data = realloc(bytes->data, bytes->size + size);
    assert_non_null(bytes->data);
    memcpy(bytes->data + bytes->size, data, size);
    bytes->size += size;
}

/* Text that compresses but not to nothing: numbered lines. */
static struct bytes make_payload(size_t size, unsigned seed)
{
    struct bytes payload = {malloc(size), size};
    assert_non_null(payload.data);

    size_t at = 0;
    for (unsigned line = 0; at < size; line++) {
        char text[64];
        int length = snprintf(text, sizeof(text), "line %u of seed %u\n",
                              line * 2654435761u, seed);
        size_t take = (size_t)length < size - at ? (size_t)length : size - at;
        memcpy(payload.data + at, text, take);
        at += take;
    }
    return payload;
}

static void gzip_append(struct bytes *out, const struct bytes *in)
{
    z_stream stream = {0};
    assert_int_equal(deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
                                  Z_DEFAULT_STRATEGY),
                     Z_OK);

    size_t bound = deflateBound(&stream, in->size);
    unsigned char *buffer = malloc(bound);
    assert_non_null(buffer);
    stream.next_in = in->data;
    stream.avail_in = (uInt)in->size;
    stream.next_out = buffer;
    stream.avail_out = (uInt)bound;
    assert_int_equal(deflate(&stream, Z_FINISH), Z_STREAM_END);
    bytes_append(out, buffer, bound - stream.avail_out);
    deflateEnd(&stream);
    free(buffer);
}

static void zstd_append(struct bytes *out, const struct bytes *in)
{
    size_t bound = ZSTD_compressBound(in->size);
    unsigned char *buffer = malloc(bound);
    assert_non_null(buffer);

    size_t size = ZSTD_compress(buffer, bound, in->data, in->size, 3);
    assert_false(ZSTD_isError(size));
    bytes_append(out, buffer, size);
    free(buffer);
}

/* Returns a file descriptor reading data from its start. */
static int open_bytes(const unsigned char *data, size_t size)
{
    char path[] = "/tmp/test_layer_stream.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);

    size_t done = 0;
    while (done < size) {
        ssize_t written = write(fd, data + done, size - done);
        assert_true(written > 0);
        done += (size_t)written;
    }
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Reads the whole stream into *out. Returns the last read's result: 0 at
 * a clean end, -1 on an error. */
static ssize_t read_all(const unsigned char *data, size_t size,
                        struct bytes *out, enum layer_compression *detected,
                        char *error, size_t error_size)
{
    int fd = open_bytes(data, size);
    struct layer_stream *stream = layer_stream_new(fd);
    assert_non_null(stream);

    ssize_t count;
    const void *block;
    while ((count = layer_stream_read(stream, &block)) > 0)
        bytes_append(out, block, (size_t)count);
    *detected = layer_stream_compression(stream);
    snprintf(error, error_size, "%s", layer_stream_error(stream));
    assert_int_equal(layer_stream_bytes_in(stream), size);

    layer_stream_free(stream);
    close(fd);
    return count;
}

static void assert_same(const struct bytes *actual, const struct bytes *first,
                        const struct bytes *second)
{
    size_t expected = first->size + (second ? second->size : 0);
    assert_int_equal(actual->size, expected);
    assert_memory_equal(actual->data, first->data, first->size);
    if (second)
        assert_memory_equal(actual->data + first->size, second->data,
                            second->size);
}

static void stream_plain_passes_through(void **state)
{
    (void)state;
    struct bytes payload = make_payload(PAYLOAD_BYTES, 1);
    struct bytes out = {0};
    enum layer_compression detected;
    char error[256];

    assert_int_equal(read_all(payload.data, payload.size, &out, &detected,
                              error, sizeof(error)),
                     0);
    assert_int_equal(detected, LAYER_COMPRESSION_NONE);
    assert_same(&out, &payload, NULL);
    free(out.data);
    free(payload.data);
}

static void stream_gzip_multi_member(void **state)
{
    (void)state;
    struct bytes first = make_payload(PAYLOAD_BYTES, 1);
    struct bytes second = make_payload(1000, 2);
    struct bytes compressed = {0}, out = {0};
    enum layer_compression detected;
    char error[256];

    gzip_append(&compressed, &first);
    gzip_append(&compressed, &second);
    assert_int_equal(read_all(compressed.data, compressed.size, &out, &detected,
                              error, sizeof(error)),
                     0);
    assert_int_equal(detected, LAYER_COMPRESSION_GZIP);
    assert_same(&out, &first, &second);
    free(out.data);
    free(compressed.data);
    free(second.data);
    free(first.data);
}

/* Block padding after the last member, as some tar writers leave. */
static void stream_gzip_trailing_zeros_end(void **state)
{
    (void)state;
    struct bytes payload = make_payload(5000, 3);
    struct bytes compressed = {0}, out = {0};
    unsigned char zeros[512] = {0};
    enum layer_compression detected;
    char error[256];

    gzip_append(&compressed, &payload);
    bytes_append(&compressed, zeros, sizeof(zeros));
    assert_int_equal(read_all(compressed.data, compressed.size, &out, &detected,
                              error, sizeof(error)),
                     0);
    assert_same(&out, &payload, NULL);
    free(out.data);
    free(compressed.data);
    free(payload.data);
}

static void stream_zstd_two_frames(void **state)
{
    (void)state;
    struct bytes first = make_payload(PAYLOAD_BYTES, 4);
    struct bytes second = make_payload(777, 5);
    struct bytes compressed = {0}, out = {0};
    enum layer_compression detected;
    char error[256];

    zstd_append(&compressed, &first);
    zstd_append(&compressed, &second);
    assert_int_equal(read_all(compressed.data, compressed.size, &out, &detected,
                              error, sizeof(error)),
                     0);
    assert_int_equal(detected, LAYER_COMPRESSION_ZSTD);
    assert_same(&out, &first, &second);
    free(out.data);
    free(compressed.data);
    free(second.data);
    free(first.data);
}

static void stream_gzip_truncated_fails(void **state)
{
    (void)state;
    struct bytes payload = make_payload(PAYLOAD_BYTES, 6);
    struct bytes compressed = {0}, out = {0};
    enum layer_compression detected;
    char error[256];

    gzip_append(&compressed, &payload);
    assert_int_equal(read_all(compressed.data, compressed.size / 2, &out,
                              &detected, error, sizeof(error)),
                     -1);
    assert_non_null(strstr(error, "gzip data is truncated"));
    assert_true(out.size < payload.size);
    free(out.data);
    free(compressed.data);
    free(payload.data);
}

/* Cut inside the 8-byte trailer: all data inflates, the check cannot. */
static void stream_gzip_cut_trailer_fails(void **state)
{
    (void)state;
    struct bytes payload = make_payload(5000, 7);
    struct bytes compressed = {0}, out = {0};
    enum layer_compression detected;
    char error[256];

    gzip_append(&compressed, &payload);
    assert_int_equal(read_all(compressed.data, compressed.size - 3, &out,
                              &detected, error, sizeof(error)),
                     -1);
    assert_non_null(strstr(error, "truncated"));
    free(out.data);
    free(compressed.data);
    free(payload.data);
}

static void stream_gzip_bad_crc_fails(void **state)
{
    (void)state;
    struct bytes payload = make_payload(5000, 8);
    struct bytes compressed = {0}, out = {0};
    enum layer_compression detected;
    char error[256];

    gzip_append(&compressed, &payload);
    compressed.data[compressed.size - 8] ^= 0xff;
    assert_int_equal(read_all(compressed.data, compressed.size, &out, &detected,
                              error, sizeof(error)),
                     -1);
    assert_non_null(strstr(error, "CRC-32"));
    free(out.data);
    free(compressed.data);
    free(payload.data);
}

static void stream_zstd_truncated_fails(void **state)
{
    (void)state;
    struct bytes payload = make_payload(PAYLOAD_BYTES, 9);
    struct bytes compressed = {0}, out = {0};
    enum layer_compression detected;
    char error[256];

    zstd_append(&compressed, &payload);
    assert_int_equal(read_all(compressed.data, compressed.size - 10, &out,
                              &detected, error, sizeof(error)),
                     -1);
    assert_non_null(strstr(error, "zstd data is truncated"));
    free(out.data);
    free(compressed.data);
    free(payload.data);
}

static void stream_zstd_corrupt_fails(void **state)
{
    (void)state;
    struct bytes payload = make_payload(PAYLOAD_BYTES, 10);
    struct bytes compressed = {0}, out = {0};
    enum layer_compression detected;
    char error[256];

    zstd_append(&compressed, &payload);
    memset(compressed.data + 20, 0xa5, 64);
    assert_int_equal(read_all(compressed.data, compressed.size, &out, &detected,
                              error, sizeof(error)),
                     -1);
    assert_non_null(strstr(error, "zstd data is invalid"));
    free(out.data);
    free(compressed.data);
    free(payload.data);
}

static void stream_empty_input_ends(void **state)
{
    (void)state;
    struct bytes out = {0};
    enum layer_compression detected;
    char error[256];

    assert_int_equal(read_all((const unsigned char *)"", 0, &out, &detected,
                              error, sizeof(error)),
                     0);
    assert_int_equal(out.size, 0);
    assert_int_equal(detected, LAYER_COMPRESSION_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_plain_passes_through),
        cmocka_unit_test(stream_gzip_multi_member),
        cmocka_unit_test(stream_gzip_trailing_zeros_end),
        cmocka_unit_test(stream_zstd_two_frames),
        cmocka_unit_test(stream_gzip_truncated_fails),
        cmocka_unit_test(stream_gzip_cut_trailer_fails),
        cmocka_unit_test(stream_gzip_bad_crc_fails),
        cmocka_unit_test(stream_zstd_truncated_fails),
        cmocka_unit_test(stream_zstd_corrupt_fails),
        cmocka_unit_test(stream_empty_input_ends),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
