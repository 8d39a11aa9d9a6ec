/* calibrate.c — held-out labels and the thresholds chosen from them (see calibrate.h).
 * The false-positive bound is exact Clopper-Pearson, computed from the binomial CDF in log
 * space (lgamma), so it holds for any n and needs no tables. Any thread. */
#include "repgraph/calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"

/* splitmix64's finaliser: a fixed, well-mixed permutation of 64-bit values. */
static uint64_t mix64(uint64_t x) {
  x += UINT64_C(0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
  return x ^ (x >> 31);
}

typedef struct {
  uint64_t hash;
  uint32_t v;
} pick_t;

static int cmp_pick(const void *pa, const void *pb) {
  const pick_t *a = pa, *b = pb;
  if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
  return a->v < b->v ? -1 : a->v > b->v;
}

int rg_calibrate_holdout(const rg_graph_t *g, double share, uint32_t seed, uint64_t generation,
                         uint8_t *held, uint32_t *n_good, uint32_t *n_bad) {
  memset(held, 0, g->n);
  *n_good = *n_bad = 0;
  if (!(share > 0)) return RG_OK;
  pick_t *picks = malloc((g->n ? g->n : 1) * sizeof *picks);
  if (!picks) return RG_ENOMEM;
  uint64_t key = mix64(mix64(seed) ^ generation);
  for (int verdict = -1; verdict <= 1; verdict += 2) {
    uint32_t k = 0;
    for (uint32_t v = 0; v < g->n; v++)
      if (g->seed[v] == verdict && g->type[v] == RG_ACTOR_ADDRESS)
        picks[k++] = (pick_t){mix64(g->actor_id[v] ^ key), v};
    qsort(picks, k, sizeof *picks, cmp_pick);
    uint32_t take = (uint32_t)llround(share * k);
    for (uint32_t i = 0; i < take; i++) held[picks[i].v] = 1;
    if (verdict < 0)
      *n_good = take;
    else
      *n_bad = take;
  }
  free(picks);
  return RG_OK;
}

uint32_t rg_calibrate_needed(double budget, double min_holdout) {
  if (!(budget > 0)) return UINT32_MAX;
  double n = ceil(min_holdout / budget - 1e-9); /* 3 / 0.0001 is 29999.999…: still 30000 */
  return n >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* P(X <= k) for X ~ Binomial(n, p), 0 < p < 1, summed in log space. */
static double binom_cdf(uint32_t k, uint32_t n, double p) {
  if (k >= n) return 1;
  double lp = log(p), lq = log1p(-p), lnf = lgamma((double)n + 1), sum = 0;
  for (uint32_t i = 0; i <= k; i++)
    sum += exp(lnf - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) + i * lp + (n - i) * lq);
  return sum < 1 ? sum : 1;
}

double rg_calibrate_upper_bound(uint32_t k, uint32_t n) {
  if (n == 0 || k >= n) return 1;
  double alpha = 1 - RG_CALIBRATE_CONFIDENCE, lo = 0, hi = 1;
  if (k == 0) return 1 - pow(alpha, 1.0 / n); /* closed form */
  for (int i = 0; i < 200 && hi - lo > 1e-15; i++) {
    double mid = (lo + hi) / 2;
    if (binom_cdf(k, n, mid) > alpha)
      lo = mid; /* k is still too likely: the bound is higher */
    else
      hi = mid;
  }
  return hi;
}

static int cmp_desc(const void *pa, const void *pb) {
  double a = *(const double *)pa, b = *(const double *)pb;
  return a > b ? -1 : a < b;
}

/* Of n values sorted descending, how many are >= t. */
static uint32_t count_at_least(const double *desc, uint32_t n, double t) {
  uint32_t lo = 0, hi = n; /* first index whose value is < t */
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (desc[mid] >= t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The lowest threshold whose false-positive bound is within budget, over n >= needed good
 * reputations sorted descending. False when no count of false positives is allowed. */
static bool choose(const double *good, uint32_t n, double budget, double *at) {
  /* The largest k whose Clopper-Pearson bound is <= budget: P(X <= k | n, budget) <= alpha. */
  double alpha = 1 - RG_CALIBRATE_CONFIDENCE, lp = log(budget), lq = log1p(-budget),
         lnf = lgamma((double)n + 1), cdf = 0;
  int64_t k_max = -1;
  for (uint32_t k = 0; k < n; k++) {
    cdf += exp(lnf - lgamma((double)k + 1) - lgamma((double)(n - k) + 1) + k * lp + (n - k) * lq);
    if (cdf > alpha) break;
    k_max = k;
  }
  if (k_max < 0) return false;
  /* Just above the (k_max+1)-th highest good reputation: at most k_max good at or above. */
  *at = nextafter(good[k_max], INFINITY);
  return true;
}

void rg_calibrate_thresholds(const rg_calibrate_opts_t *o, double *good, uint32_t n_good,
                             double *bad, uint32_t n_bad, rg_thresholds_t *out) {
  memset(out, 0, sizeof *out);
  out->held_out_good = n_good;
  out->held_out_bad = n_bad;
  if (n_good) qsort(good, n_good, sizeof *good, cmp_desc); /* may be NULL when empty */
  if (n_bad) qsort(bad, n_bad, sizeof *bad, cmp_desc);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++)
    if (n_good >= rg_calibrate_needed(o->budget[l], o->min_holdout))
      out->derived[l] = choose(good, n_good, o->budget[l], &out->at[l]);
  double at[RG_VERDICT_LEVELS];
  rg_thresholds_effective(out, o->fixed, at);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    out->at[l] = at[l];
    out->fpr[l] = rg_calibrate_upper_bound(count_at_least(good, n_good, at[l]), n_good);
    out->tpr[l] = n_bad ? (double)count_at_least(bad, n_bad, at[l]) / n_bad : 0;
  }
}
