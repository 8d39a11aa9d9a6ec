/* score.c — pure scoring functions. Any thread. */
#include "repgraph/score.h"

#include "repgraph/features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rg_reason_name(int code) {
  switch (code) {
#define RG__REASON_NAME(name, num, wire, doc) \
  case RG_REASON_##name: return wire;
    RG_REASON_MAP(RG__REASON_NAME)
#undef RG__REASON_NAME
    default: return NULL;
  }
}

const char *rg_reason_text(const rg_reason_t *r, const char *actor_text, char *buf, size_t cap) {
  unsigned long long aux = (unsigned long long)r->aux;
  switch (r->code) {
    case RG_REASON_LABELLED:
      snprintf(buf, cap, "labelled %s (weight %.2g)",
               rg_verdict_name((int)aux) ? rg_verdict_name((int)aux) : "?", r->value);
      break;
    case RG_REASON_BAD_NEIGHBOUR:
      snprintf(buf, cap, "%.0f%% of its bad reputation comes through %s", 100 * r->value,
               actor_text ? actor_text : "a forgotten actor");
      break;
    case RG_REASON_BAD_NEIGHBOURS: {
      const char *kind = rg_edge_kind_name((int)(aux >> 32));
      snprintf(buf, cap, "%.0f of its %llu %s neighbours are bad", r->value, aux & 0xffffffffu,
               kind ? kind : "?");
      break;
    }
    case RG_REASON_FANOUT:
      snprintf(buf, cap, "mailed %.0f recipients (typical: %llu)", r->value, aux);
      break;
    case RG_REASON_LOW_RECIPROCITY:
      snprintf(buf, cap, "only %.0f%% of its %llu recipients ever wrote back", 100 * r->value, aux);
      break;
    case RG_REASON_MANY_IPS:
      snprintf(buf, cap, "sends from %.0f IPs (typical: %llu)", r->value, aux);
      break;
    case RG_REASON_MANY_SENDERS:
      snprintf(buf, cap, "%.0f senders use this IP (typical: %llu)", r->value, aux);
      break;
    case RG_REASON_EGONET:
      snprintf(buf, cap, "its neighbourhood (%llu edges) is unusually %s for its size", aux,
               r->value > 0 ? "dense or sparse" : "shaped");
      break;
    case RG_REASON_YOUNG: snprintf(buf, cap, "first seen %.0f hours ago", r->value); break;
    case RG_REASON_CLUSTER:
      snprintf(buf, cap, "member of a community of %llu actors with suspicion %.2f", aux, r->value);
      break;
    case RG_REASON_LITTLE_EVIDENCE:
      snprintf(buf, cap, "too little evidence (%.0f messages, %llu hours old): neutral", r->value,
               aux);
      break;
    case RG_REASON_PROVISIONAL:
      snprintf(buf, cap, "new since the last recomputation: %s next to it says %.2f",
               actor_text ? actor_text : "a neighbour", r->value);
      break;
    case RG_REASON_EXTRAPOLATED:
      snprintf(buf, cap, "the model says %.2f but extrapolates: alone on its infrastructure", r->value);
      break;
    case RG_REASON_MODEL: {
      int f;
      double companion, contribution;
      rg_reason_model_unpack(r, &f, &companion, &contribution);
      rg_feature_words(f, r->value, companion, buf, cap);
      break;
    }
    default: snprintf(buf, cap, "reason %u", r->code); break;
  }
  return buf;
}

#define COMPANION_NONE 0xffffffu

rg_reason_t rg_reason_model(int feature, double value, double companion, double contribution) {
  uint64_t c = COMPANION_NONE;
  if (!isnan(companion)) c = companion < 0 ? 0 : companion >= COMPANION_NONE - 1 ? COMPANION_NONE - 1 : (uint64_t)llround(companion);
  float fc = (float)contribution;
  uint32_t bits;
  memcpy(&bits, &fc, sizeof bits);
  return (rg_reason_t){RG_REASON_MODEL, value,
                       ((uint64_t)(feature & 0xff) << 56) | (c << 32) | bits};
}

void rg_reason_model_unpack(const rg_reason_t *r, int *feature, double *companion,
                            double *contribution) {
  *feature = (int)(r->aux >> 56);
  uint64_t c = (r->aux >> 32) & COMPANION_NONE;
  *companion = c == COMPANION_NONE ? NAN : (double)c;
  uint32_t bits = (uint32_t)r->aux;
  float fc;
  memcpy(&fc, &bits, sizeof fc);
  *contribution = fc;
}

double rg_score_reputation(double bad, double good, double prior, double smoothing) {
  if (!(bad >= 0)) bad = 0; /* also catches NaN */
  if (!(good >= 0)) good = 0;
  double total = bad + good + smoothing;
  if (total <= 0) return prior;
  double r = (bad + smoothing * prior) / total;
  return r < 0 ? 0 : r > 1 ? 1 : r;
}

rg_band_t rg_score_band(double reputation, uint64_t messages, int64_t age_s, uint64_t min_messages,
                        int64_t min_age_s, double band_bad, double band_suspicious,
                        double band_good) {
  if (messages < min_messages || age_s < min_age_s) return RG_BAND_NEUTRAL;
  if (reputation >= band_bad) return RG_BAND_BAD;
  if (reputation >= band_suspicious) return RG_BAND_SUSPICIOUS;
  if (reputation <= band_good) return RG_BAND_GOOD;
  return RG_BAND_NEUTRAL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double rg_score_median(double *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void rg_robust_z(const double *x, size_t n, double *z, double *scratch) {
  if (n == 0) return;
  memcpy(scratch, x, n * sizeof *x);
  double med = rg_score_median(scratch, n), mean_abs = 0;
  for (size_t i = 0; i < n; i++) {
    scratch[i] = fabs(x[i] - med);
    mean_abs += scratch[i] / (double)n;
  }
  double scale = 1.4826 * rg_score_median(scratch, n);
  if (scale <= 0) scale = 1.2533 * mean_abs; /* MAD of 0: most values equal the median */
  if (scale <= 0) scale = 1;
  for (size_t i = 0; i < n; i++) z[i] = (x[i] - med) / scale;
}

void rg_oddball(const double *nodes, const double *edges, size_t n, double *out) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (nodes[i] <= 1 || edges[i] <= 0) continue;
    double x = log(nodes[i]), y = log(edges[i]);
    sx += x, sy += y, sxx += x * x, sxy += x * y, k++;
  }
  double alpha = 1, logc = 0;
  if (k >= 2 && k * sxx - sx * sx > 1e-12) {
    alpha = ((double)k * sxy - sx * sy) / ((double)k * sxx - sx * sx);
    logc = (sy - alpha * sx) / (double)k;
  }
  for (size_t i = 0; i < n; i++) {
    if (nodes[i] <= 1 || edges[i] <= 0) {
      out[i] = 0;
      continue;
    }
    double expect = exp(logc + alpha * log(nodes[i])), e = edges[i];
    double hi = e > expect ? e : expect, lo = e > expect ? expect : e;
    out[i] = hi / lo * log(fabs(e - expect) + 1);
  }
}

double rg_squash(double x, double scale) {
  return x <= 0 ? 0 : 1 - exp(-x / scale);
}
