/*
 * Connecting to Redis from a URL: redis://[[user]:password@]host[:port][/db].
 */
#ifndef IMGASSURE_REDIS_CONN_H
#define IMGASSURE_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

/*
 * Connects, authenticates when the URL carries a password and selects the
 * database. Commands time out after timeout_ms. Returns a context the
 * caller frees with redisFree, or NULL with the reason in errbuf (the
 * password is never written there).
 */
redisContext *redis_connect_url(const char *url, int timeout_ms, char *errbuf,
                                size_t errbuf_size);

#endif
