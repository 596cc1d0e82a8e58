/*
 * Keeps the worker's vulnerability database current: loads it at start,
 * reloads it on request (SIGHUP) or when its files change, and builds
 * the new index on a thread of its own so scans never wait for a load.
 *
 * The reloader belongs to the worker's scan thread: vulndb_reload_current
 * hands out the database to scan with, and a newly loaded one replaces it
 * only inside that call, between two scans. So a scan in flight always
 * finishes on the database it started with.
 */
#ifndef IMGASSURE_VULNDB_RELOAD_H
#define IMGASSURE_VULNDB_RELOAD_H

#include "vulndb.h"

#include <stddef.h>

struct vulndb_reload;

/*
 * Loads the database named by osv_path (and cve_path, which may be NULL)
 * and returns a reloader that owns it, or NULL with the reason in errbuf.
 * check_interval_s is how often the files are checked for changes (0:
 * never). Free with vulndb_reload_free.
 */
struct vulndb_reload *vulndb_reload_new(const char *osv_path,
                                        const char *cve_path,
                                        long check_interval_s, char *errbuf,
                                        size_t errbuf_size);

/* Waits for a load in progress, then frees every database. NULL is a
 * no-op. */
void vulndb_reload_free(struct vulndb_reload *reload);

/* Starts a load on the reloader's thread unless one is running. */
void vulndb_reload_request(struct vulndb_reload *reload);

/* Swaps in a finished load and, when the check interval has passed and
 * the files changed, starts a load. Call it between scans, often. */
void vulndb_reload_poll(struct vulndb_reload *reload);

/* Starts a load when the check interval has passed and the files
 * changed, without swapping anything in: for a caller whose scans run on
 * other threads and who swaps only while none runs. */
void vulndb_reload_check(struct vulndb_reload *reload);

/* Returns 1 when a finished load waits to be swapped in (or to report its
 * failure) by the next vulndb_reload_current or vulndb_reload_poll. */
int vulndb_reload_ready(struct vulndb_reload *reload);

/*
 * Returns the database to scan with. Swaps in a finished load first and
 * frees the database it replaces. The pointer stays valid until the next
 * call of this function or vulndb_reload_poll.
 */
const struct vulndb *vulndb_reload_current(struct vulndb_reload *reload);

/* Returns the number of loads that failed since the last successful one,
 * and the last failure's reason; the previous database stays in use. */
unsigned vulndb_reload_failures(const struct vulndb_reload *reload,
                                char *errbuf, size_t errbuf_size);

#endif
