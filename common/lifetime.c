#include "lifetime.h"

static int within_window(int64_t seen_ms, const struct account_settings *s,
                         int64_t now_ms)
{
    return seen_ms > 0 && now_ms - seen_ms <= s->activity_window_s * 1000;
}

int lifetime_is_active(const struct lifetime_facts *facts,
                       const struct account_settings *settings, int64_t now_ms)
{
    switch (facts->kind) {
    case ENVIRONMENT_KUBERNETES:
    case ENVIRONMENT_ECS:
    case ENVIRONMENT_FARGATE:
        return within_window(facts->last_running_ms, settings, now_ms);
    case ENVIRONMENT_CONTAINER_REGISTRY:
        if (facts->deleted_at_ms > 0)
            return 0;
        return within_window(facts->digest_running_ms, settings, now_ms);
    case ENVIRONMENT_SHIFTLEFT:
        return within_window(facts->digest_running_ms, settings, now_ms);
    case ENVIRONMENT_UNKNOWN:
        break;
    }
    return 0;
}

/* Saturates instead of overflowing on huge stored times. */
static int64_t add_seconds(int64_t base_ms, int64_t seconds)
{
    int64_t span_ms = seconds * 1000;

    if (base_ms > LIFETIME_NEVER - span_ms)
        return LIFETIME_NEVER;
    return base_ms + span_ms;
}

int64_t lifetime_expires_at_ms(const struct lifetime_facts *facts,
                               const struct account_settings *settings)
{
    switch (facts->kind) {
    case ENVIRONMENT_KUBERNETES:
    case ENVIRONMENT_ECS:
    case ENVIRONMENT_FARGATE:
        if (facts->last_running_ms <= 0)
            return LIFETIME_NEVER;
        return add_seconds(
            add_seconds(facts->last_running_ms, settings->activity_window_s),
            settings->kubernetes_ttl_s);
    case ENVIRONMENT_CONTAINER_REGISTRY:
        return facts->deleted_at_ms > 0 ? facts->deleted_at_ms : LIFETIME_NEVER;
    case ENVIRONMENT_SHIFTLEFT:
        if (facts->last_scan_ms <= 0)
            return LIFETIME_NEVER;
        return add_seconds(facts->last_scan_ms, settings->shiftleft_ttl_s);
    case ENVIRONMENT_UNKNOWN:
        break;
    }
    return LIFETIME_NEVER;
}
