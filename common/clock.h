/*
 * The one wall clock every imgassure rule reads (last seen, activity,
 * expiry, rate limits, retry due times).
 *
 * Tests move it: when IMGASSURE_TEST_CLOCK_OFFSET_FILE names a file, its
 * content, a signed number of milliseconds, is added to the real time.
 * The file is read again on every call, so a test that rewrites it moves
 * the clock of running processes too. A missing or unreadable file counts
 * as offset 0. Never set it in production.
 */
#ifndef IMGASSURE_CLOCK_H
#define IMGASSURE_CLOCK_H

#include <stdint.h>

/* Returns milliseconds since the Unix epoch, with the test offset. */
int64_t clock_now_ms(void);

/* Returns a monotonic time in milliseconds, for durations. The test offset
 * does not apply: durations stay real. */
int64_t clock_monotonic_ms(void);

#endif
