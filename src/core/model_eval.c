/* model_eval.c — the model's held-out metrics and its calibration (model.h): ROC AUC with
 * ties, average precision, precision at k, recall at a false-positive rate, Brier score,
 * expected calibration error, isotonic regression by pool-adjacent-violators, deciles and the
 * population stability index. Pure arithmetic; any thread. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/model.h"

typedef struct {
  double p;
  uint8_t y;
} pair_t;

static int cmp_desc(const void *pa, const void *pb) {
  const pair_t *a = pa, *b = pb;
  return a->p > b->p ? -1 : a->p < b->p;
}

/* Recall at the largest threshold group whose false-positive share is still <= rate. */
static double recall_at(const pair_t *s, uint32_t n, double bad, double good, double rate) {
  double tp = 0, fp = 0, best = 0;
  for (uint32_t i = 0; i < n;) {
    uint32_t j = i;
    double gtp = 0, gfp = 0;
    while (j < n && s[j].p == s[i].p) gtp += s[j].y, gfp += !s[j].y, j++;
    if ((fp + gfp) / good > rate) break;
    tp += gtp, fp += gfp;
    best = tp / bad;
    i = j;
  }
  return best;
}

int rg_model_quality(const double *p, const uint8_t *y, const uint8_t *use, uint32_t n,
                     rg_model_quality_t *q) {
  memset(q, 0, sizeof *q);
  pair_t *s = malloc((n ? n : 1) * sizeof *s);
  if (!s) return RG_ENOMEM;
  uint32_t m = 0;
  for (uint32_t i = 0; i < n; i++)
    if ((!use || use[i]) && !isnan(p[i])) s[m++] = (pair_t){p[i], y[i] ? 1 : 0};
  double bad = 0, brier = 0;
  for (uint32_t i = 0; i < m; i++) {
    bad += s[i].y;
    brier += (s[i].p - s[i].y) * (s[i].p - s[i].y);
  }
  double good = m - bad;
  q->n = m, q->bad = bad;
  if (m == 0) goto done;
  q->brier = brier / m;
  /* ECE over ten equal-width bins */
  double bn[10] = {0}, bp[10] = {0}, by[10] = {0};
  for (uint32_t i = 0; i < m; i++) {
    int b = (int)(s[i].p * 10);
    b = b < 0 ? 0 : b > 9 ? 9 : b;
    bn[b]++, bp[b] += s[i].p, by[b] += s[i].y;
  }
  for (int b = 0; b < 10; b++)
    if (bn[b] > 0) q->ece += bn[b] / m * fabs(bp[b] / bn[b] - by[b] / bn[b]);
  if (bad == 0 || good == 0) goto done; /* ranking metrics need both classes */
  qsort(s, m, sizeof *s, cmp_desc);
  /* AUC: the share of (bad, good) pairs ranked right, ties counting half. */
  double tp = 0, fp = 0, area = 0, ap = 0;
  for (uint32_t i = 0; i < m;) {
    uint32_t j = i;
    double gtp = 0, gfp = 0;
    while (j < m && s[j].p == s[i].p) gtp += s[j].y, gfp += !s[j].y, j++;
    area += gfp * (tp + gtp / 2);
    tp += gtp, fp += gfp;
    if (gtp > 0) ap += gtp / bad * (tp / (tp + fp)); /* average precision, per tie group */
    i = j;
  }
  q->auc = area / (bad * good);
  q->pr_auc = ap;
  uint32_t k = m < 100 ? m : 100;
  double hits = 0;
  for (uint32_t i = 0; i < k; i++) hits += s[i].y;
  q->k = k;
  q->precision_at_k = k ? hits / k : 0;
  q->recall_at_0_1pct = recall_at(s, m, bad, good, 0.001);
  q->recall_at_1pct = recall_at(s, m, bad, good, 0.01);
done:
  free(s);
  return RG_OK;
}

static int cmp_asc(const void *pa, const void *pb) {
  const pair_t *a = pa, *b = pb;
  return a->p < b->p ? -1 : a->p > b->p;
}

int rg_model_isotonic_fit(const double *p, const uint8_t *y, uint32_t n, double **xs, double **ys,
                          uint32_t *m) {
  *xs = *ys = NULL;
  *m = 0;
  pair_t *s = malloc((n ? n : 1) * sizeof *s);
  double *sum = malloc((n ? n : 1) * sizeof *sum), *cnt = malloc((n ? n : 1) * sizeof *cnt),
         *hi = malloc((n ? n : 1) * sizeof *hi);
  if (!s || !sum || !cnt || !hi) {
    free(s), free(sum), free(cnt), free(hi);
    return RG_ENOMEM;
  }
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++)
    if (!isnan(p[i])) s[k++] = (pair_t){p[i], y[i] ? 1 : 0};
  qsort(s, k, sizeof *s, cmp_asc);
  /* blocks: sum of labels, count, highest score; merged while a block's mean is not above
   * the one before it */
  uint32_t b = 0;
  for (uint32_t i = 0; i < k; i++) {
    sum[b] = s[i].y, cnt[b] = 1, hi[b] = s[i].p;
    b++;
    while (b >= 2 && sum[b - 2] / cnt[b - 2] >= sum[b - 1] / cnt[b - 1]) {
      sum[b - 2] += sum[b - 1], cnt[b - 2] += cnt[b - 1], hi[b - 2] = hi[b - 1];
      b--;
    }
  }
  free(s);
  for (uint32_t i = 0; i < b; i++) sum[i] /= cnt[i];
  free(cnt);
  *xs = hi, *ys = sum, *m = b;
  return RG_OK;
}

double rg_model_isotonic_apply(const double *xs, const double *ys, uint32_t m, double p) {
  if (m == 0 || isnan(p)) return p;
  /* the first block whose highest score is >= p; between two blocks, interpolate */
  uint32_t lo = 0, hi = m;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (xs[mid] < p)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return ys[0];
  if (lo == m) return ys[m - 1];
  double x0 = xs[lo - 1], x1 = xs[lo];
  double t = x1 > x0 ? (p - x0) / (x1 - x0) : 1;
  return ys[lo - 1] + t * (ys[lo] - ys[lo - 1]);
}

void rg_model_deciles(const double *p, const uint8_t *y, uint32_t n, double mean[10],
                      double observed[10], double count[10]) {
  for (int b = 0; b < 10; b++) mean[b] = observed[b] = count[b] = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (isnan(p[i])) continue;
    int b = (int)(p[i] * 10);
    b = b < 0 ? 0 : b > 9 ? 9 : b;
    mean[b] += p[i], observed[b] += y[i] ? 1 : 0, count[b]++;
  }
  for (int b = 0; b < 10; b++)
    if (count[b] > 0) mean[b] /= count[b], observed[b] /= count[b];
}

double rg_model_psi(const double now[10], const double before[10]) {
  double psi = 0;
  for (int b = 0; b < 10; b++) {
    double a = now[b] > 1e-4 ? now[b] : 1e-4, e = before[b] > 1e-4 ? before[b] : 1e-4;
    psi += (a - e) * log(a / e);
  }
  return psi;
}
