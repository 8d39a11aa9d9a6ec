/* metrics.c — histogram arithmetic. Lock-free; any thread. */
#include "repgraph/metrics.h"

#include <stddef.h>

#include "repgraph/err.h"

void rg_hist_add(rg_hist_t *h, uint64_t us) {
  unsigned b = 0;
  while (b < RG_HIST_BUCKETS - 1 && (UINT64_C(1) << b) <= us) b++;
  atomic_fetch_add(&h->buckets[b], 1);
  atomic_fetch_add(&h->count, 1);
  uint_fast64_t cur = atomic_load(&h->max_us);
  while (us > cur && !atomic_compare_exchange_weak(&h->max_us, &cur, us)) {
  }
}

uint64_t rg_hist_quantile(const rg_hist_t *h, double q) {
  uint64_t n = atomic_load(&h->count);
  if (n == 0) return 0;
  uint64_t want = (uint64_t)(q * (double)n + 0.5), seen = 0;
  if (want == 0) want = 1;
  for (unsigned b = 0; b < RG_HIST_BUCKETS; b++) {
    seen += atomic_load(&h->buckets[b]);
    if (seen >= want) {
      uint64_t upper = UINT64_C(1) << b;
      uint64_t max = atomic_load(&h->max_us);
      return upper < max ? upper : max;
    }
  }
  return atomic_load(&h->max_us);
}

void rg_metrics_error(rg_metrics_t *m, int err) {
  int slot = err - RG__ERR_FIRST;
  if (slot > 0 && slot < RG_METRICS_SLOTS) atomic_fetch_add(&m->errors[slot], 1);
}

const char *rg_policy_counter_name(int counter) {
  static const char *const names[] = {
#define RG__POLICY_COUNTER_NAME(name, text) text,
      RG_POLICY_COUNTER_MAP(RG__POLICY_COUNTER_NAME)
#undef RG__POLICY_COUNTER_NAME
  };
  return counter >= 0 && counter < RG_POLICY_COUNTER_COUNT ? names[counter] : NULL;
}
