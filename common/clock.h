/* The one wall clock every imgassure rule reads. */
#ifndef IMGASSURE_CLOCK_H
#define IMGASSURE_CLOCK_H

#include <stdint.h>

/* Returns milliseconds since the Unix epoch. */
int64_t clock_now_ms(void);

/* Returns a monotonic time in milliseconds, for durations. */
int64_t clock_monotonic_ms(void);

#endif
