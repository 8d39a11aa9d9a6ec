/* model_serve.c — serving a trained model's result in the recomputation's scores
 * (rg_model_apply, model.h): calibrated reputations with the label pull, bands, model reasons
 * and check's thresholds from the out-of-fold predictions; the served score distribution and
 * its stability against the previous generation. Pure; recompute worker thread. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/model.h"
#include "repgraph/score.h"

/* The reasons that are not the propagation's or the anomalies': kept in front. */
static bool kept(uint8_t code) {
  return code == RG_REASON_LABELLED || code == RG_REASON_LITTLE_EVIDENCE;
}

/* The extrapolation guard: a sender on infrastructure of its own (the only sender on its IPs
 * and its domain) with no bad infrastructure neighbour has nothing in common with any label:
 * what the model says of it is extrapolation (typically from age and fan-out). */
static bool extrapolating(const rg_graph_t *g, const float *x, uint32_t v) {
  if (g->type[v] != RG_ACTOR_ADDRESS || g->seed[v]) return false;
  float ip = x[RG_FEAT_IP_SENDERS_MAX], dom = x[RG_FEAT_DOMAIN_SENDERS], bad = x[RG_FEAT_INFRA_BAD];
  return !(ip > 1) && !(dom > 1) && !(bad > 0);
}

/* Serves a guarded actor the graph's own score (s, as the propagation left it) and keeps
 * what the model said as an `extrapolated` reason in front of the graph's reasons. */
static void serve_graph_score(rg_score_t *s, double model_rep) {
  unsigned n = s->n_reasons < RG_REASONS_MAX ? s->n_reasons : RG_REASONS_MAX - 1;
  memmove(s->reasons + 1, s->reasons, n * sizeof s->reasons[0]);
  s->reasons[0] = (rg_reason_t){.code = RG_REASON_EXTRAPOLATED, .value = model_rep};
  s->n_reasons = (uint8_t)(n + 1);
}

static void serve(const rg_graph_t *g, const rg_model_opts_t *o, rg_model_result_t *m,
                  rg_result_t *r) {
  double *good = malloc((g->n ? g->n : 1) * sizeof *good);
  double *bad = malloc((g->n ? g->n : 1) * sizeof *bad);
  uint32_t n_good = 0, n_bad = 0;
  for (uint32_t v = 0; v < g->n; v++) {
    rg_score_t *s = &r->scores[v];
    double rep = m->reputation[v];
    if (o->guard && rep > s->reputation && extrapolating(g, m->x + (size_t)v * RG_FEATURE_COUNT, v)) {
      serve_graph_score(s, rep); /* its reputation and band stay the graph's */
      m->eval.guarded++;
      continue;
    }
    if (g->seed[v]) {
      double lw = g->seed_weight[v] > 1 ? 1 : g->seed_weight[v];
      rep = lw * (g->seed[v] > 0 ? 1.0 : 0.0) + (1 - lw) * rep;
      if (g->type[v] == RG_ACTOR_ADDRESS && !isnan(m->oof[v])) {
        if (g->seed[v] < 0 && good) good[n_good++] = m->oof[v];
        if (g->seed[v] > 0 && bad) bad[n_bad++] = m->oof[v];
      }
    }
    s->reputation = rep;
    s->band = rg_score_band(rep, g->messages[v], g->now - g->first_seen[v], o->min_messages,
                            o->min_age_s, o->band_bad, o->band_suspicious, o->band_good);
    if (!m->n_reasons[v]) continue; /* no feature pushed it up (e.g. the propagation's
                                        * score won the blend): its own reasons stay */
    rg_reason_t keep[RG_REASONS_MAX];
    unsigned n = 0;
    for (unsigned i = 0; i < s->n_reasons; i++)
      if (kept(s->reasons[i].code)) keep[n++] = s->reasons[i];
    const rg_model_reason_t *mr = m->reasons + (size_t)v * RG_REASONS_MAX;
    for (unsigned i = 0; i < m->n_reasons[v] && n < RG_REASONS_MAX; i++)
      keep[n++] = rg_reason_model(mr[i].feature, mr[i].value, mr[i].companion, mr[i].contribution);
    memcpy(s->reasons, keep, n * sizeof keep[0]);
    s->n_reasons = (uint8_t)n;
  }
  if (good && bad) rg_calibrate_thresholds(&o->calibrate, good, n_good, bad, n_bad, &r->thresholds);
  free(good), free(bad);
}

void rg_model_apply(const rg_graph_t *g, const rg_model_opts_t *o, const rg_model_eval_t *previous,
                    rg_model_result_t *m, rg_result_t *r) {
  if (m->eval.state == RG_MODEL_SERVING && m->reputation) serve(g, o, m, r);
  double *h = m->eval.hist;
  for (int b = 0; b < 10; b++) h[b] = 0;
  for (uint32_t v = 0; v < g->n; v++) {
    int b = (int)(r->scores[v].reputation * 10);
    h[b < 0 ? 0 : b > 9 ? 9 : b]++;
  }
  for (int b = 0; b < 10; b++) h[b] /= g->n ? g->n : 1;
  double before = 0;
  for (int b = 0; previous && b < 10; b++) before += previous->hist[b];
  m->eval.psi = before > 0 ? rg_model_psi(h, previous->hist) : 0;
}
