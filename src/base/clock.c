/* clock.c — time sources. Any thread: the pinned time is an atomic. */
#include "repgraph/clock.h"

#include <stdatomic.h>
#include <time.h>

static atomic_llong pinned_now;

int64_t rg_clock_now(void) {
  long long p = atomic_load(&pinned_now);
  if (p) return p;
  return (int64_t)time(NULL);
}

uint64_t rg_clock_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void rg_clock_pin(int64_t epoch_s) {
  atomic_store(&pinned_now, (long long)epoch_s);
}
