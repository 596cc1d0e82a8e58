/*
 * The activity and expiry rules per environment kind, each checked on both
 * sides of its boundary, the settings' validation, and the test clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "account_settings.h"
#include "clock.h"
#include "lifetime.h"

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)
#define T0 (1700000000000LL)

static struct account_settings defaults(void)
{
    struct account_settings settings;

    account_settings_defaults(&settings);
    return settings;
}

static void kubernetes_active_within_window(void **state)
{
    struct account_settings settings = defaults();
    struct lifetime_facts facts = {.kind = ENVIRONMENT_KUBERNETES,
                                   .last_running_ms = T0};
    (void)state;

    assert_true(lifetime_is_active(&facts, &settings, T0));
    assert_true(lifetime_is_active(&facts, &settings, T0 + HOUR_MS));
    assert_false(lifetime_is_active(&facts, &settings, T0 + HOUR_MS + 1));
}

static void kubernetes_expires_ttl_after_inactive(void **state)
{
    struct account_settings settings = defaults();
    struct lifetime_facts facts = {.kind = ENVIRONMENT_KUBERNETES,
                                   .last_running_ms = T0};
    (void)state;

    assert_int_equal(lifetime_expires_at_ms(&facts, &settings),
                     T0 + HOUR_MS + 7 * DAY_MS);

    settings.kubernetes_ttl_s = 3600;
    assert_int_equal(lifetime_expires_at_ms(&facts, &settings),
                     T0 + 2 * HOUR_MS);
}

static void ecs_and_fargate_follow_kubernetes(void **state)
{
    struct account_settings settings = defaults();
    enum environment_kind kinds[] = {ENVIRONMENT_ECS, ENVIRONMENT_FARGATE};
    (void)state;

    for (size_t i = 0; i < 2; i++) {
        struct lifetime_facts facts = {.kind = kinds[i], .last_running_ms = T0};

        assert_true(lifetime_is_active(&facts, &settings, T0 + HOUR_MS));
        assert_false(lifetime_is_active(&facts, &settings, T0 + HOUR_MS + 1));
        assert_int_equal(lifetime_expires_at_ms(&facts, &settings),
                         T0 + HOUR_MS + 7 * DAY_MS);
    }
}

static void registry_active_while_digest_runs(void **state)
{
    struct account_settings settings = defaults();
    struct lifetime_facts facts = {.kind = ENVIRONMENT_CONTAINER_REGISTRY};
    (void)state;

    assert_false(lifetime_is_active(&facts, &settings, T0));

    facts.digest_running_ms = T0;
    assert_true(lifetime_is_active(&facts, &settings, T0 + HOUR_MS));
    assert_false(lifetime_is_active(&facts, &settings, T0 + HOUR_MS + 1));
    assert_int_equal(lifetime_expires_at_ms(&facts, &settings), LIFETIME_NEVER);
}

static void registry_deleted_expires_at_report(void **state)
{
    struct account_settings settings = defaults();
    struct lifetime_facts facts = {.kind = ENVIRONMENT_CONTAINER_REGISTRY,
                                   .digest_running_ms = T0,
                                   .deleted_at_ms = T0 + 5};
    (void)state;

    assert_false(lifetime_is_active(&facts, &settings, T0 + 10));
    assert_int_equal(lifetime_expires_at_ms(&facts, &settings), T0 + 5);
}

static void shiftleft_expires_ttl_after_scan(void **state)
{
    struct account_settings settings = defaults();
    struct lifetime_facts facts = {.kind = ENVIRONMENT_SHIFTLEFT,
                                   .last_scan_ms = T0};
    (void)state;

    assert_false(lifetime_is_active(&facts, &settings, T0));
    assert_int_equal(lifetime_expires_at_ms(&facts, &settings),
                     T0 + 30 * DAY_MS);

    facts.digest_running_ms = T0;
    assert_true(lifetime_is_active(&facts, &settings, T0 + 1));
}

static void never_seen_never_expires(void **state)
{
    struct account_settings settings = defaults();
    struct lifetime_facts kubernetes = {.kind = ENVIRONMENT_KUBERNETES};
    struct lifetime_facts shiftleft = {.kind = ENVIRONMENT_SHIFTLEFT};
    (void)state;

    assert_int_equal(lifetime_expires_at_ms(&kubernetes, &settings),
                     LIFETIME_NEVER);
    assert_int_equal(lifetime_expires_at_ms(&shiftleft, &settings),
                     LIFETIME_NEVER);
}

static void huge_times_saturate(void **state)
{
    struct account_settings settings = defaults();
    struct lifetime_facts facts = {.kind = ENVIRONMENT_KUBERNETES,
                                   .last_running_ms = INT64_MAX - 10};
    (void)state;

    assert_int_equal(lifetime_expires_at_ms(&facts, &settings), LIFETIME_NEVER);
}

static void settings_parse_bounds(void **state)
{
    char errbuf[256];
    int64_t seconds = 0;
    (void)state;

    assert_int_equal(account_setting_parse("kubernetes_ttl_s", "86400",
                                           &seconds, errbuf, sizeof(errbuf)),
                     0);
    assert_int_equal(seconds, 86400);
    assert_int_equal(account_setting_parse("kubernetes_ttl_s", "59", &seconds,
                                           errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "kubernetes_ttl_s"));
    assert_int_equal(account_setting_parse("shiftleft_ttl_s", "1d", &seconds,
                                           errbuf, sizeof(errbuf)),
                     -1);
    assert_int_equal(account_setting_parse("shiftleft_ttl_s", "", &seconds,
                                           errbuf, sizeof(errbuf)),
                     -1);
    assert_int_equal(account_setting_parse("retention", "3600", &seconds,
                                           errbuf, sizeof(errbuf)),
                     -1);
    assert_non_null(strstr(errbuf, "unknown setting"));
}

static void clock_reads_offset_file(void **state)
{
    char path[] = "/tmp/imgassure-clock-XXXXXX";
    int fd = mkstemp(path);
    int64_t real_ms;
    int64_t moved_ms;
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "86400000\n", 9), 9);
    close(fd);

    real_ms = clock_now_ms();
    setenv("IMGASSURE_TEST_CLOCK_OFFSET_FILE", path, 1);
    moved_ms = clock_now_ms();
    unlink(path);
    unsetenv("IMGASSURE_TEST_CLOCK_OFFSET_FILE");

    assert_true(moved_ms - real_ms >= DAY_MS);
    assert_true(moved_ms - real_ms < DAY_MS + 60 * 1000);
    assert_true(clock_now_ms() - real_ms < 60 * 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kubernetes_active_within_window),
        cmocka_unit_test(kubernetes_expires_ttl_after_inactive),
        cmocka_unit_test(ecs_and_fargate_follow_kubernetes),
        cmocka_unit_test(registry_active_while_digest_runs),
        cmocka_unit_test(registry_deleted_expires_at_report),
        cmocka_unit_test(shiftleft_expires_ttl_after_scan),
        cmocka_unit_test(never_seen_never_expires),
        cmocka_unit_test(huge_times_saturate),
        cmocka_unit_test(settings_parse_bounds),
        cmocka_unit_test(clock_reads_offset_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
