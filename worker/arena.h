/*
 * A bump allocator: many small allocations freed together. The vulnerability
 * database keeps several short strings per record, for tens of thousands of
 * records, for its whole life. One arena frees them in a few calls instead
 * of one free() each.
 *
 * An arena is not thread-safe while it grows. Memory it returned may be read
 * from any thread once no more allocations happen.
 */
#ifndef IMGASSURE_ARENA_H
#define IMGASSURE_ARENA_H

#include <stddef.h>

struct arena;

/* A point to rewind to: everything allocated after it is released. */
struct arena_mark {
    void *chunk;
    size_t used;
};

/* Returns a new empty arena that the caller frees with arena_free(), or
 * NULL when out of memory. */
struct arena *arena_new(void);

/* Frees the arena and everything allocated from it. NULL is a no-op. */
void arena_free(struct arena *arena);

/* Returns size bytes aligned for any type, zeroed, valid until the arena is
 * freed or rewound past them, or NULL when out of memory or when size is
 * so large that rounding it up would overflow. */
void *arena_alloc(struct arena *arena, size_t size);

/* Returns a copy of the first length bytes of text with a NUL added, or
 * NULL when out of memory. */
char *arena_strndup(struct arena *arena, const char *text, size_t length);

/* Returns the arena's current position. */
struct arena_mark arena_mark(const struct arena *arena);

/* Releases everything allocated since mark was taken. */
void arena_rewind(struct arena *arena, struct arena_mark mark);

/* Returns the bytes the arena has obtained from malloc. */
size_t arena_size(const struct arena *arena);

#endif
