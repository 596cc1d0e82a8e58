/*
 * Sliding-window rate limits kept in Redis: a sorted set per limited
 * subject whose members are the accepted requests, scored by acceptance
 * time in milliseconds. One Lua script trims, counts and adds, so that
 * concurrent callers never accept more than the limit between them.
 */
#ifndef IMGASSURE_RATE_LIMIT_H
#define IMGASSURE_RATE_LIMIT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

enum rate_limit_outcome {
    RATE_LIMIT_ACCEPTED,
    RATE_LIMIT_REFUSED,
    RATE_LIMIT_ERROR,
};

struct rate_limit {
    const char *key;   /* the sorted set, e.g. "imgassure:{A}:on-demand" */
    int64_t limit;     /* requests accepted per window */
    int64_t window_ms; /* the window's length */
};

/*
 * Accepts member at now_ms when fewer than limit members were accepted in
 * (now_ms - window_ms, now_ms]. Members at or before now_ms - window_ms
 * are removed first. A refusal adds nothing and stores in *retry_at_ms the
 * time at which the oldest accepted member leaves the window, so the next
 * request is accepted from then on. Returns RATE_LIMIT_ERROR with the
 * reason in errbuf when Redis fails; nothing is accepted then.
 */
enum rate_limit_outcome rate_limit_take(redisContext *redis,
                                        const struct rate_limit *limit,
                                        const char *member, int64_t now_ms,
                                        int64_t *retry_at_ms, char *errbuf,
                                        size_t errbuf_size);

/* Removes a member accepted earlier, so that a request that could not be
 * delivered gives its place back. Returns 0, or -1 with the reason in
 * errbuf. */
int rate_limit_release(redisContext *redis, const struct rate_limit *limit,
                       const char *member, char *errbuf, size_t errbuf_size);

#endif
