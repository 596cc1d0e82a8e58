/*
 * When an image is active and when its state is deleted, by environment
 * kind:
 *
 *   KUBERNETES, ECS, FARGATE  active while a workload running it was seen
 *                             within the activity window; deleted the
 *                             Kubernetes TTL after it became inactive.
 *   CONTAINER_REGISTRY        active while a Kubernetes, ECS or Fargate
 *                             workload of the account runs the same digest
 *                             within the window; deleted at the first sweep
 *                             after the registry reported it deleted.
 *   SHIFTLEFT                 active as registry images; deleted the
 *                             ShiftLeft TTL after its last scan.
 *
 * Pure functions of the stored facts and a time, so that producer and
 * worker apply the same rule and tests can cross each boundary.
 */
#ifndef IMGASSURE_LIFETIME_H
#define IMGASSURE_LIFETIME_H

#include "account_settings.h"
#include "event.h"

#include <stdint.h>

#define LIFETIME_NEVER INT64_MAX

struct lifetime_facts {
    enum environment_kind kind;
    /* Newest sighting of a running workload in this environment; 0 none. */
    int64_t last_running_ms;
    /* Newest time any running workload of the account ran this image's
     * digest (from the account's running-digest set); 0 none. */
    int64_t digest_running_ms;
    /* When a registry reported the image deleted; 0 when it has not, or
     * when a later sighting showed it present again. */
    int64_t deleted_at_ms;
    /* When the image's latest scan finished; 0 never. */
    int64_t last_scan_ms;
};

/* Returns 1 when the image is active at now_ms, else 0. */
int lifetime_is_active(const struct lifetime_facts *facts,
                       const struct account_settings *settings, int64_t now_ms);

/* Returns the time from which the image's state may be deleted, or
 * LIFETIME_NEVER while nothing schedules its deletion. */
int64_t lifetime_expires_at_ms(const struct lifetime_facts *facts,
                               const struct account_settings *settings);

#endif
