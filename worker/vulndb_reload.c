/* nftw and FTW_PHYS are XSI extensions. */
#define _XOPEN_SOURCE 700

#include "vulndb_reload.h"

#include "clock.h"
#include "log.h"

#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What the database files look like on disk; a different signature means
 * they changed. */
struct files_signature {
    uint64_t files;
    uint64_t bytes;
    int64_t newest_change_ns;
};

struct vulndb_reload {
    char *osv_path;
    char *cve_path;
    long check_interval_s;
    int64_t next_check_ms;
    struct files_signature loaded_signature;
    struct vulndb *current;

    pthread_mutex_t lock; /* guards the members below */
    pthread_t thread;
    int thread_started; /* a thread exists and was not joined yet */
    int load_done;      /* the thread finished: join it, take its result */
    struct vulndb *loaded;
    struct files_signature loading_signature;
    unsigned failures;
    char last_error[512];
};

/* nftw has no user pointer, so the walk sums into this; only the scan
 * thread walks. */
static struct files_signature *walk_signature;

static int add_to_signature(const char *path, const struct stat *info, int type,
                            struct FTW *position)
{
    int64_t changed =
        (int64_t)info->st_mtim.tv_sec * 1000000000 + info->st_mtim.tv_nsec;

    (void)path;
    (void)position;
    if (type == FTW_F) {
        walk_signature->files++;
        walk_signature->bytes += (uint64_t)info->st_size;
    }
    if (changed > walk_signature->newest_change_ns)
        walk_signature->newest_change_ns = changed;
    return 0;
}

static void read_signature(const struct vulndb_reload *reload,
                           struct files_signature *signature)
{
    memset(signature, 0, sizeof(*signature));
    walk_signature = signature;
    nftw(reload->osv_path, add_to_signature, 16, FTW_PHYS);
    if (reload->cve_path != NULL)
        nftw(reload->cve_path, add_to_signature, 16, FTW_PHYS);
    walk_signature = NULL;
}

static int load(const struct vulndb_reload *reload, struct vulndb **db,
                char *errbuf, size_t errbuf_size)
{
    struct vulndb_config config;

    memset(&config, 0, sizeof(config));
    config.osv_path = reload->osv_path;
    config.cve_path = reload->cve_path;
    vulndb_limits_default(&config.limits);
    return vulndb_load(&config, db, errbuf, errbuf_size);
}

static void log_loaded(const struct vulndb *db, const char *how)
{
    const struct vulndb_stats *stats = vulndb_stats(db);

    log_write(LOG_INFO, "VULNDB",
              "%s vulnerability database version=%s records=%zu "
              "withdrawn=%zu invalid=%zu cve_records=%zu",
              how, vulndb_version(db), stats->records, stats->records_withdrawn,
              stats->records_invalid, stats->cve_records);
    if (stats->first_problem[0] != '\0')
        log_write(LOG_WARNING, "VULNDB", "skipped records, first: %s",
                  stats->first_problem);
}

static void *load_in_background(void *argument)
{
    struct vulndb_reload *reload = argument;
    struct vulndb *db = NULL;
    char errbuf[512];
    int failed = load(reload, &db, errbuf, sizeof(errbuf));

    pthread_mutex_lock(&reload->lock);
    if (failed) {
        reload->failures++;
        snprintf(reload->last_error, sizeof(reload->last_error), "%s", errbuf);
    } else {
        reload->loaded = db;
    }
    reload->load_done = 1;
    pthread_mutex_unlock(&reload->lock);
    return NULL;
}

struct vulndb_reload *vulndb_reload_new(const char *osv_path,
                                        const char *cve_path,
                                        long check_interval_s, char *errbuf,
                                        size_t errbuf_size)
{
    struct vulndb_reload *reload = calloc(1, sizeof(*reload));

    if (reload == NULL)
        goto no_memory;
    pthread_mutex_init(&reload->lock, NULL);
    reload->check_interval_s = check_interval_s;
    reload->osv_path = strdup(osv_path);
    reload->cve_path = cve_path != NULL ? strdup(cve_path) : NULL;
    if (reload->osv_path == NULL || (cve_path != NULL && !reload->cve_path))
        goto no_memory;

    read_signature(reload, &reload->loaded_signature);
    if (load(reload, &reload->current, errbuf, errbuf_size) != 0) {
        vulndb_reload_free(reload);
        return NULL;
    }
    log_loaded(reload->current, "loaded");
    reload->next_check_ms = clock_monotonic_ms() + check_interval_s * 1000;
    return reload;

no_memory:
    snprintf(errbuf, errbuf_size, "out of memory");
    vulndb_reload_free(reload);
    return NULL;
}

void vulndb_reload_free(struct vulndb_reload *reload)
{
    if (reload == NULL)
        return;
    if (reload->thread_started)
        pthread_join(reload->thread, NULL);
    vulndb_free(reload->loaded);
    vulndb_free(reload->current);
    pthread_mutex_destroy(&reload->lock);
    free(reload->osv_path);
    free(reload->cve_path);
    free(reload);
}

void vulndb_reload_request(struct vulndb_reload *reload)
{
    if (reload->thread_started)
        return;

    read_signature(reload, &reload->loading_signature);
    reload->load_done = 0;
    if (pthread_create(&reload->thread, NULL, load_in_background, reload) !=
        0) {
        log_write(LOG_ERR, "VULNDB", "cannot start the reload thread");
        return;
    }
    reload->thread_started = 1;
    log_write(LOG_INFO, "VULNDB",
              "reloading the vulnerability database "
              "from %s",
              reload->osv_path);
}

/* Takes a finished load's result: the new database, or its failure. */
static void finish_load(struct vulndb_reload *reload)
{
    struct vulndb *replaced = NULL;
    int done;

    pthread_mutex_lock(&reload->lock);
    done = reload->load_done;
    if (done && reload->loaded != NULL) {
        replaced = reload->current;
        reload->current = reload->loaded;
        reload->loaded = NULL;
        reload->failures = 0;
        reload->loaded_signature = reload->loading_signature;
    }
    pthread_mutex_unlock(&reload->lock);
    if (!done)
        return;

    pthread_join(reload->thread, NULL);
    reload->thread_started = 0;
    if (replaced != NULL) {
        log_loaded(reload->current, "reloaded");
        vulndb_free(replaced);
    } else {
        log_write(LOG_ERR, "VULNDB",
                  "reload failed, still using version=%s: %s",
                  vulndb_version(reload->current), reload->last_error);
    }
}

static int files_changed(struct vulndb_reload *reload)
{
    struct files_signature now;

    if (reload->check_interval_s <= 0 ||
        clock_monotonic_ms() < reload->next_check_ms)
        return 0;
    reload->next_check_ms =
        clock_monotonic_ms() + reload->check_interval_s * 1000;

    read_signature(reload, &now);
    return memcmp(&now, &reload->loaded_signature, sizeof(now)) != 0;
}

void vulndb_reload_poll(struct vulndb_reload *reload)
{
    if (reload->thread_started)
        finish_load(reload);
    if (!reload->thread_started && files_changed(reload))
        vulndb_reload_request(reload);
}

void vulndb_reload_check(struct vulndb_reload *reload)
{
    if (!reload->thread_started && files_changed(reload))
        vulndb_reload_request(reload);
}

int vulndb_reload_ready(struct vulndb_reload *reload)
{
    int done;

    pthread_mutex_lock(&reload->lock);
    done = reload->load_done;
    pthread_mutex_unlock(&reload->lock);
    return reload->thread_started && done;
}

const struct vulndb *vulndb_reload_current(struct vulndb_reload *reload)
{
    if (reload->thread_started)
        finish_load(reload);
    return reload->current;
}

unsigned vulndb_reload_failures(const struct vulndb_reload *reload,
                                char *errbuf, size_t errbuf_size)
{
    struct vulndb_reload *mutable_reload = (struct vulndb_reload *)reload;
    unsigned failures;

    pthread_mutex_lock(&mutable_reload->lock);
    failures = reload->failures;
    snprintf(errbuf, errbuf_size, "%s", reload->last_error);
    pthread_mutex_unlock(&mutable_reload->lock);
    return failures;
}
