/*
 * One OSV record, parsed with the default limits into an arena that is
 * rewound after each input, as the database loader does with a record
 * that fails.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "osv_record.h"
#include "vulndb.h"

static struct arena *arena;
static struct vulndb_limits limits;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vulndb_limits_default(&limits);
    arena = arena_new();
    if (arena == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osv_record record;
    char errbuf[512];

    struct arena_mark start = arena_mark(arena);
    enum osv_record_result result =
        osv_record_parse((const char *)data, size, &limits, arena, &record,
                         errbuf, sizeof(errbuf));
    if ((result == OSV_RECORD_OK || result == OSV_RECORD_WITHDRAWN) &&
        record.advisory == NULL)
        abort();
    arena_rewind(arena, start);
    return 0;
}
