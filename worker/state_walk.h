/*
 * A walk over every image the state holds: each account of
 * imgassure:accounts, each environment of its environments hash, each
 * member of the environment's seen set. The walk is cut into pages (one
 * ZSCAN page of one environment) so that its callers, which run in the
 * consume loop, never stall it for long. ZSCAN returns every member that
 * stays in the set for the whole scan, whatever is added or removed.
 */
#ifndef IMGASSURE_STATE_WALK_H
#define IMGASSURE_STATE_WALK_H

#include <hiredis/hiredis.h>
#include <stddef.h>

struct walk_target {
    char *account;
    char *environment;
};

struct state_walk {
    struct walk_target *targets;
    size_t target_count;
    size_t next_target;
    char cursor[32]; /* ZSCAN cursor in the current target, "0" to start */
};

/* Called for each member of a page; member is IMAGE of the state key. */
typedef void (*state_walk_visit)(const struct walk_target *target,
                                 const char *member, void *context);

/* Lists the targets and starts at the first. Returns 0, or -1 with the
 * reason in errbuf (the walk is then empty). */
int state_walk_start(struct state_walk *walk, redisContext *redis, char *errbuf,
                     size_t errbuf_size);

/* Visits one page. Returns 1 while pages remain, 0 once the walk is
 * complete, -1 with the reason in errbuf when Redis failed. */
int state_walk_page(struct state_walk *walk, redisContext *redis,
                    state_walk_visit visit, void *context, char *errbuf,
                    size_t errbuf_size);

/* Frees the targets and leaves the walk empty. */
void state_walk_clear(struct state_walk *walk);

#endif
