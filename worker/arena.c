#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Large enough that chunk headers are a small overhead, small enough that
 * a tiny database does not reserve much. */
#define CHUNK_BYTES (256 * 1024)

struct chunk {
    struct chunk *previous;
    size_t capacity;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct arena {
    struct chunk *current;
    size_t total;
};

struct arena *arena_new(void)
{
    return calloc(1, sizeof(struct arena));
}

void arena_free(struct arena *arena)
{
    if (!arena)
        return;

    struct chunk *chunk = arena->current;
    while (chunk) {
        struct chunk *previous = chunk->previous;
        free(chunk);
        chunk = previous;
    }
    free(arena);
}

static struct chunk *chunk_add(struct arena *arena, size_t size)
{
    size_t capacity = size > CHUNK_BYTES ? size : CHUNK_BYTES;
    struct chunk *chunk = malloc(sizeof(*chunk) + capacity);
    if (!chunk)
        return NULL;

    chunk->previous = arena->current;
    chunk->capacity = capacity;
    chunk->used = 0;
    arena->current = chunk;
    arena->total += sizeof(*chunk) + capacity;
    return chunk;
}

void *arena_alloc(struct arena *arena, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX - sizeof(struct chunk) - align)
        return NULL;
    size_t rounded = (size + align - 1) & ~(align - 1);

    struct chunk *chunk = arena->current;
    if (!chunk || chunk->capacity - chunk->used < rounded) {
        chunk = chunk_add(arena, rounded);
        if (!chunk)
            return NULL;
    }

    void *memory = chunk->data + chunk->used;
    chunk->used += rounded;
    memset(memory, 0, size);
    return memory;
}

char *arena_strndup(struct arena *arena, const char *text, size_t length)
{
    if (length == SIZE_MAX)
        return NULL;

    char *copy = arena_alloc(arena, length + 1);
    if (!copy)
        return NULL;
    memcpy(copy, text, length);
    copy[length] = '\0';
    return copy;
}

struct arena_mark arena_mark(const struct arena *arena)
{
    struct arena_mark mark = {arena->current,
                              arena->current ? arena->current->used : 0};
    return mark;
}

void arena_rewind(struct arena *arena, struct arena_mark mark)
{
    while (arena->current && (void *)arena->current != mark.chunk) {
        struct chunk *previous = arena->current->previous;
        arena->total -= sizeof(*arena->current) + arena->current->capacity;
        free(arena->current);
        arena->current = previous;
    }
    if (arena->current)
        arena->current->used = mark.used;
}

size_t arena_size(const struct arena *arena)
{
    return arena->total;
}
