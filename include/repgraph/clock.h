/* clock.h — wall and monotonic time, with a wall clock that tests can pin.
 * Any thread. */
#ifndef RG_CLOCK_H
#define RG_CLOCK_H

#include <stdint.h>

/* Seconds since the Unix epoch (the pinned value if rg_clock_pin was called). */
int64_t rg_clock_now(void);

/* Monotonic microseconds, for durations and latency. */
uint64_t rg_clock_mono_us(void);

/* Pins rg_clock_now to `epoch_s` (tests); 0 returns to the real clock. */
void rg_clock_pin(int64_t epoch_s);

#endif
