/* metrics.c — histogram arithmetic and the counters' helpers. Lock-free; any thread. */
#include "repgraph/metrics.h"

#include <stddef.h>

#include "repgraph/err.h"

const char *const rg_check_decider_names[RG_CHECK_DECIDERS] = {
    "sender", "sender_domain", "client_ip", "client_net", "helo", "client_rdns", "none"};

void rg_hist_add(rg_hist_t *h, uint64_t us) {
  unsigned b = 0;
  while (b < RG_HIST_BUCKETS - 1 && (UINT64_C(1) << b) < us) b++;
  atomic_fetch_add(&h->buckets[b], 1);
  atomic_fetch_add(&h->count, 1);
  atomic_fetch_add(&h->sum_us, us);
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

void rg_metrics_reject(rg_metrics_t *m, unsigned item, int err) {
  int slot = err - RG__ERR_FIRST;
  if (item < RG_METRICS_ITEMS && slot > 0 && slot < RG_METRICS_SLOTS)
    atomic_fetch_add(&m->rejects[item][slot], 1);
}

static uint64_t ms_to_us(double ms) {
  return ms > 0 ? (uint64_t)(ms * 1000 + 0.5) : 0;
}

void rg_metrics_recompute_done(rg_metrics_t *m, int rc, uint64_t generation, int64_t finished_at,
                               double total_ms, const double phase_ms[RG_RECOMPUTE_PHASES]) {
  atomic_fetch_add(rc ? &m->recompute_failed : &m->recompute_ok, 1);
  atomic_store(&m->recompute_last_duration_us, ms_to_us(total_ms));
  atomic_store(&m->recompute_last_finished_at, (uint64_t)(finished_at > 0 ? finished_at : 0));
  for (int i = 0; i < RG_RECOMPUTE_PHASES; i++)
    atomic_store(&m->recompute_phase_us[i], ms_to_us(phase_ms[i]));
  rg_hist_add(&m->recompute_duration, ms_to_us(total_ms));
  if (!rc) {
    atomic_store(&m->recompute_last_generation, generation);
    atomic_store(&m->recompute_last_success_at, (uint64_t)(finished_at > 0 ? finished_at : 0));
  }
}

const char *rg_recompute_phase_name(int phase) {
  static const char *const names[] = {
#define RG__PHASE_NAME(name, text) text,
      RG_RECOMPUTE_PHASE_MAP(RG__PHASE_NAME)
#undef RG__PHASE_NAME
  };
  return phase >= 0 && phase < RG_RECOMPUTE_PHASES ? names[phase] : NULL;
}
