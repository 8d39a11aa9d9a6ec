/* compute.c — the recomputation (see DESIGN.md "Recomputation"):
 *  1. two directed walk graphs; every edge is walked forward and backward with weights per
 *     kind, so infrastructure (IP, net, domain, HELO) links both ways. In the bad walk each
 *     actor also has a recipient role: mail leads from a sender to its recipients' recipient
 *     roles, and from there only back to the other senders targeting them (sending to the
 *     same victims), so a spammer's victims, their domains and colleagues inherit nothing;
 *  2. personalized PageRank (igraph, PRPACK) on each, restarting at bad resp. good seeds in
 *     proportion to their label weights;
 *  3. an actor's bad mass is what reaches its sender role; its good mass what reaches it
 *     over edges that vouch (not being written to: spammers write to everyone);
 *     reputation = bad / (bad + good), smoothed toward the prior;
 *  3b. calibration: the same walks again with a share of the labelled addresses held out of
 *     the seeds, whose out-of-sample reputations choose check's thresholds (calibrate.h);
 *     with folds (the learned model, opts.fold), instead the masses without each fold's seeds
 *     (propagate_folds), which score every labelled address out of sample;
 *  4. communities: Louvain (igraph_community_multilevel) on the undirected graph — seeded
 *     and deterministic, where 0.10.2's label propagation is neither;
 *  5. anomalies (compute_anomaly.c): robust z-scores of fan-out, IPs per sender, senders
 *     per IP, unanswered mail, OddBall egonet deviation and youth, squashed into [0,1],
 *     with reasons.
 * Serialised by a process-wide lock (Debian's igraph is not thread-safe). */
#include "repgraph/compute.h"

#include <igraph.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/score.h"

static pthread_mutex_t igraph_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int *active_cancel; /* the running computation's cancel flag */

/* igraph calls this on error: free its temporaries and return (never abort). */
static void on_igraph_error(const char *reason, const char *file, int line, igraph_error_t e) {
  IGRAPH_FINALLY_FREE();
  rg_log(e == IGRAPH_INTERRUPTED ? RG_LOG_DEBUG : RG_LOG_ERROR, "igraph: %s: %s (%s:%d)",
         igraph_strerror(e), reason, file, line);
}

/* PRPACK never polls for interruption: check between the stages as well. */
static bool cancelled(const rg_compute_opts_t *o) { return o->cancel && atomic_load(o->cancel); }

#define CHECK_CANCEL()               \
  do {                               \
    if (cancelled(o)) {              \
      rc = RG_ESHUTTING_DOWN;        \
      goto fail;                     \
    }                                \
  } while (0)

static igraph_error_t on_igraph_interrupt(void *data) {
  (void)data;
  return active_cancel && atomic_load(active_cancel) ? IGRAPH_INTERRUPTED : IGRAPH_SUCCESS;
}

static void on_igraph_warning(const char *reason, const char *file, int line) {
  rg_log_debug("igraph warning: %s (%s:%d)", reason, file, line);
}

void rg_compute_opts_init(rg_compute_opts_t *o, const rg_config_t *cfg) {
  memset(o, 0, sizeof *o);
  o->damping = 0.85;
  /* Walk weights per kind. Forward mailed only lets a walk reach a victim so that it can
   * continue to the victim's other senders; the victim's own score ignores that step. */
  static const double fwd[RG_EDGE_KIND_COUNT] = {[RG_EDGE_MAILED] = 0.5, [RG_EDGE_SENT_FROM] = 1,
                                                 [RG_EDGE_IN_NET] = 1, [RG_EDGE_USES_DOMAIN] = 1,
                                                 [RG_EDGE_HELO] = 0.5, [RG_EDGE_RDNS] = 0.5};
  static const double rev[RG_EDGE_KIND_COUNT] = {[RG_EDGE_MAILED] = 0.5, [RG_EDGE_SENT_FROM] = 1,
                                                 [RG_EDGE_IN_NET] = 1, [RG_EDGE_USES_DOMAIN] = 1,
                                                 [RG_EDGE_HELO] = 0.5, [RG_EDGE_RDNS] = 0.5};
  memcpy(o->forward, fwd, sizeof fwd);
  memcpy(o->reverse, rev, sizeof rev);
  o->smoothing = 0.05;
  o->prior = cfg->prior;
  o->seed = cfg->recompute_seed;
  o->min_messages = cfg->min_messages;
  o->min_age_s = (int64_t)cfg->min_age_s;
  o->band_bad = cfg->band_bad;
  o->band_suspicious = cfg->band_suspicious;
  o->band_good = cfg->band_good;
  o->calibrate = (rg_calibrate_opts_t){
      .budget = {cfg->check_tempfail_fpr, cfg->check_quarantine_fpr, cfg->check_reject_fpr},
      .fixed = {cfg->check_tempfail, cfg->check_quarantine, cfg->check_reject},
      .holdout_share = cfg->check_holdout_share,
      .min_holdout = cfg->check_min_holdout};
}

/* In the good walk, which arcs vouch for their head: everything but being written to by
 * someone (spammers write to everyone) — forward mailed does vouch: honest people write to
 * honest people. */
static bool arc_vouches(rg_edge_kind_t kind, bool forward) {
  return kind != RG_EDGE_MAILED || forward;
}

static double ms_since(uint64_t t0) { return (double)(rg_clock_mono_us() - t0) / 1000.0; }

/* ---- propagation ------------------------------------------------------------------- */

typedef struct {
  igraph_t walk;            /* its arcs in the order built: IGRAPH_FROM / IGRAPH_TO */
  igraph_vector_int_t ends; /* 2 per arc, only while building */
  igraph_vector_t weight;
  bool *counts; /* the arc's mass counts toward its head's score */
  bool have_walk;
  double *out_strength;
  igraph_integer_t arcs, vertices;
} walk_t;

/* Builds a walk graph. The bad walk splits every actor into a sender role (vertex v) and a
 * recipient role (vertex n + v): mail reaches a victim's recipient role, which leads only
 * back to the other senders that target it (the co-recipient pattern) — never into the
 * victim's own IPs, domain or colleagues. The good walk keeps one vertex per actor. */
static int build_walk(const rg_graph_t *g, const rg_compute_opts_t *o, bool split, walk_t *w,
                      char *err, size_t errlen) {
  int rc = RG_OK;
  igraph_integer_t arcs = 0;
  for (uint64_t e = 0; e < g->m; e++)
    arcs += (o->forward[g->kind[e]] > 0) + (o->reverse[g->kind[e]] > 0);
  w->vertices = split ? 2 * (igraph_integer_t)g->n : (igraph_integer_t)g->n;
  IG(igraph_vector_int_init(&w->ends, 2 * arcs));
  IG(igraph_vector_init(&w->weight, arcs));
  ALLOC(w->counts, arcs);
  ALLOC(w->out_strength, w->vertices);
  igraph_integer_t a = 0;
  for (uint64_t e = 0; e < g->m; e++) {
    rg_edge_kind_t k = (rg_edge_kind_t)g->kind[e];
    double base = g->weight[e] > 1e-9 ? g->weight[e] : 1e-9; /* fully decayed: barely there */
    uint32_t src = g->src[e];
    igraph_integer_t dst = g->dst[e];
    if (split && k == RG_EDGE_MAILED) dst += g->n; /* the recipient role */
    for (int dir = 0; dir < 2; dir++) {
      double f = dir == 0 ? o->forward[k] : o->reverse[k];
      if (f <= 0) continue;
      igraph_integer_t from = dir == 0 ? src : dst, to = dir == 0 ? dst : src;
      VECTOR(w->ends)[2 * a] = from;
      VECTOR(w->ends)[2 * a + 1] = to;
      VECTOR(w->weight)[a] = base * f;
      w->counts[a] = split ? to < (igraph_integer_t)g->n : arc_vouches(k, dir == 0);
      w->out_strength[from] += base * f;
      a++;
    }
  }
  w->arcs = arcs;
  IG(igraph_create(&w->walk, &w->ends, w->vertices, IGRAPH_DIRECTED));
  w->have_walk = true;
  igraph_vector_int_destroy(&w->ends); /* the graph holds its own copy */
  w->ends.stor_begin = NULL;
  return RG_OK;
fail:
  return rc;
}

static void free_walk(walk_t *w) {
  if (w->ends.stor_begin) igraph_vector_int_destroy(&w->ends);
  if (w->weight.stor_begin) igraph_vector_destroy(&w->weight);
  if (w->have_walk) igraph_destroy(&w->walk);
  free(w->counts);
  free(w->out_strength);
}

/* Mass that reached each actor, given the walk's stationary distribution `rank` from the
 * seeds with include[v] set (reset in proportion to their weights, summing to `total`) over
 * the arcs that count for it (see build_walk), in units of the average actor. top_from /
 * top_c (may be NULL) record the neighbour that brought the most. */
static void masses_from_rank(const rg_graph_t *g, const rg_compute_opts_t *o, const walk_t *w,
                             const double *rank, const bool *include, double total, double *mass,
                             uint32_t *top_from, double *top_c) {
  double scale = (double)g->n;
  for (uint32_t v = 0; v < g->n; v++)
    mass[v] = include[v] && g->seed_weight[v] > 0
                  ? (1 - o->damping) * g->seed_weight[v] / total * scale
                  : 0;
  for (igraph_integer_t a = 0; a < w->arcs; a++) {
    if (!w->counts[a]) continue;
    igraph_integer_t u = IGRAPH_FROM(&w->walk, a), v = IGRAPH_TO(&w->walk, a);
    double c = o->damping * rank[u] * VECTOR(w->weight)[a] / w->out_strength[u] * scale;
    mass[v] += c;
    if (top_from && c > top_c[v]) {
      top_c[v] = c;
      top_from[v] = (uint32_t)(u % (igraph_integer_t)g->n); /* a recipient role: that actor */
    }
  }
}

/* Personalized PageRank on walk w restarting at the vertices with include[v] in proportion
 * to their weights (their sum in *total; 0: nothing runs and rank is left zero). */
static int walk_from(const rg_graph_t *g, const rg_compute_opts_t *o, walk_t *w,
                     const bool *include, double *rank, double *total, char *err, size_t errlen) {
  int rc = RG_OK;
  igraph_vector_t reset, out;
  bool have_reset = false, have_out = false;
  *total = 0;
  for (uint32_t v = 0; v < g->n; v++)
    if (include[v] && g->seed_weight[v] > 0) *total += g->seed_weight[v];
  memset(rank, 0, (size_t)w->vertices * sizeof *rank);
  if (*total <= 0) return RG_OK;
  IG(igraph_vector_init(&reset, w->vertices));
  have_reset = true;
  for (uint32_t v = 0; v < g->n; v++)
    if (include[v] && g->seed_weight[v] > 0) VECTOR(reset)[v] = g->seed_weight[v];
  IG(igraph_vector_init(&out, w->vertices));
  have_out = true;
  IG(igraph_personalized_pagerank(&w->walk, IGRAPH_PAGERANK_ALGO_PRPACK, &out, NULL,
                                  igraph_vss_all(), IGRAPH_DIRECTED, o->damping, &reset,
                                  &w->weight, NULL));
  for (igraph_integer_t i = 0; i < w->vertices; i++) rank[i] = VECTOR(out)[i];
fail:
  if (have_reset) igraph_vector_destroy(&reset);
  if (have_out) igraph_vector_destroy(&out);
  return rc;
}

/* Mass that reached each actor from the seeds of one verdict (seed[v] == verdict, normally
 * g->seed); see masses_from_rank. */
static int propagate(const rg_graph_t *g, const rg_compute_opts_t *o, walk_t *w,
                     const int8_t *seed, int8_t verdict, double *mass, uint32_t *top_from,
                     double *top_c, char *err, size_t errlen) {
  int rc = RG_OK;
  bool *include = NULL;
  double *rank = NULL, total = 0;
  ALLOC(include, g->n);
  ALLOC(rank, w->vertices);
  for (uint32_t v = 0; v < g->n; v++) include[v] = seed[v] == verdict;
  if ((rc = walk_from(g, o, w, include, rank, &total, err, errlen))) goto fail;
  if (total > 0) masses_from_rank(g, o, w, rank, include, total, mass, top_from, top_c);
fail:
  free(include);
  free(rank);
  return rc;
}

#define FOLD_STEPS 32 /* terms of the fold walks' series: 0.85^32 < 0.6% of the mass left */

/* The out-of-fold form of propagate: the served masses from the one walk from all seeds (as
 * propagate), and per fold f the masses without its seeds into fold_mass[(f - 1) × n ...].
 * PPR is linear in its reset vector, so the walk without fold f is the full walk less fold
 * f's own walk, reweighted: rank_-f = (W·rank − W_f·rank_f) / (W − W_f). The folds' own
 * walks run together, as FOLD_STEPS terms of the series (1 − d) Σ d^t (Pᵀ)^t reset_f (one
 * pass over the arcs per term for all folds at once) — a fraction of one more solve. */
static int propagate_folds(const rg_graph_t *g, const rg_compute_opts_t *o, walk_t *w,
                           int8_t verdict, double *mass, uint32_t *top_from, double *top_c,
                           double *fold_mass, char *err, size_t errlen) {
  int rc = RG_OK;
  unsigned k = o->folds;
  bool *include = NULL;
  double *rank = NULL, *x = NULL, *y = NULL, *r0 = NULL, *coef = NULL, *weight = NULL, *part = NULL,
         all = 0;
  uint64_t *head_off = NULL;
  uint32_t *tail = NULL;
  if (k > RG_FOLDS_MAX) return RG_EINTERNAL;
  size_t nv = (size_t)w->vertices, nk = nv * k;
  ALLOC(include, g->n);
  ALLOC(rank, nv);
  ALLOC(x, nk);
  ALLOC(y, nk);
  ALLOC(r0, nk);
  ALLOC(coef, w->arcs);
  ALLOC(weight, k + 1);
  ALLOC(part, nv);
  for (uint32_t v = 0; v < g->n; v++) include[v] = g->seed[v] == verdict;
  if ((rc = walk_from(g, o, w, include, rank, &all, err, errlen))) goto fail;
  if (all <= 0) goto fail; /* no seeds of this verdict: no mass anywhere */
  masses_from_rank(g, o, w, rank, include, all, mass, top_from, top_c);
  CHECK_CANCEL();
  for (uint32_t v = 0; v < g->n; v++) {
    unsigned f = o->fold[v];
    if (g->seed[v] != verdict || !(g->seed_weight[v] > 0) || f < 1 || f > k) continue;
    weight[f] += g->seed_weight[v];
  }
  for (uint32_t v = 0; v < g->n; v++) {
    unsigned f = o->fold[v];
    if (g->seed[v] != verdict || !(g->seed_weight[v] > 0) || f < 1 || f > k) continue;
    r0[(size_t)v * k + (f - 1)] = (1 - o->damping) * g->seed_weight[v] / weight[f];
  }
  /* the arcs by head (CSC), so each term writes every vertex once and reads its tails */
  ALLOC(head_off, nv + 1);
  ALLOC(tail, w->arcs);
  for (igraph_integer_t a = 0; a < w->arcs; a++) head_off[IGRAPH_TO(&w->walk, a) + 1]++;
  for (size_t i = 0; i < nv; i++) head_off[i + 1] += head_off[i];
  {
    uint64_t *pos;
    ALLOC(pos, nv);
    for (size_t i = 0; i < nv; i++) pos[i] = head_off[i];
    for (igraph_integer_t a = 0; a < w->arcs; a++) {
      igraph_integer_t u = IGRAPH_FROM(&w->walk, a), v = IGRAPH_TO(&w->walk, a);
      uint64_t p = pos[v]++;
      tail[p] = (uint32_t)u;
      coef[p] = o->damping * VECTOR(w->weight)[a] / w->out_strength[u];
    }
    free(pos);
  }
  memcpy(x, r0, nk * sizeof *x);
  for (int step = 0; step < FOLD_STEPS; step++) {
    for (size_t v = 0; v < nv; v++) {
      double acc[RG_FOLDS_MAX];
      for (unsigned f = 0; f < k; f++) acc[f] = r0[v * k + f];
      for (uint64_t p = head_off[v]; p < head_off[v + 1]; p++) {
        const double *from = x + (size_t)tail[p] * k, c = coef[p];
        for (unsigned f = 0; f < k; f++) acc[f] += c * from[f];
      }
      for (unsigned f = 0; f < k; f++) y[v * k + f] = acc[f];
    }
    double *t = x;
    x = y, y = t;
    if (step % 8 == 7) CHECK_CANCEL();
  }
  for (unsigned f = 1; f <= k; f++) {
    double rest = all - weight[f];
    if (rest <= 0) continue; /* every seed of this verdict is in fold f: none is left */
    for (size_t i = 0; i < nv; i++) {
      double p = (all * rank[i] - weight[f] * x[i * k + (f - 1)]) / rest;
      part[i] = p > 0 ? p : 0;
    }
    for (uint32_t v = 0; v < g->n; v++) include[v] = g->seed[v] == verdict && o->fold[v] != f;
    masses_from_rank(g, o, w, part, include, rest, fold_mass + (size_t)(f - 1) * g->n, NULL,
                     NULL);
  }
fail:
  free(include), free(rank), free(x), free(y), free(r0), free(coef), free(weight), free(part);
  free(head_off), free(tail);
  return rc;
}

/* ---- calibration ------------------------------------------------------------------- */

/* The verdicts' thresholds are chosen from out-of-sample reputations of labelled addresses.
 * Without folds, a held-out share of them — the walks again (propagate_side), with those
 * labels taken out of the seeds and no label pull; without held-out labels (too few, or
 * holdout_share 0) no walk runs. With folds, every labelled address is out of sample in its
 * own fold's masses: no walk. */
static int calibrate_folds(const rg_graph_t *g, const rg_compute_opts_t *o, rg_result_t *r) {
  int rc = RG_OK;
  double *rep_good = NULL, *rep_bad = NULL;
  uint32_t n_good = 0, n_bad = 0;
  ALLOC(r->held_out, g->n);
  ALLOC(r->oos_reputation, g->n);
  ALLOC(rep_good, g->n);
  ALLOC(rep_bad, g->n);
  for (uint32_t v = 0; v < g->n; v++) {
    unsigned f = o->fold[v];
    double b = r->bad_mass[v], gd = r->good_mass[v];
    if (f >= 1 && f <= o->folds) {
      b = r->fold_bad[(size_t)(f - 1) * g->n + v];
      gd = r->fold_good[(size_t)(f - 1) * g->n + v];
    }
    double rep = rg_score_reputation(b, gd, o->prior, o->smoothing);
    r->oos_reputation[v] = rep;
    if (!g->seed[v] || f < 1 || f > o->folds || g->type[v] != RG_ACTOR_ADDRESS) continue;
    r->held_out[v] = 1;
    if (g->seed[v] < 0) rep_good[n_good++] = rep;
    else rep_bad[n_bad++] = rep;
  }
  rg_calibrate_thresholds(&o->calibrate, rep_good, n_good, rep_bad, n_bad, &r->thresholds);
fail:
  free(rep_good), free(rep_bad);
  return rc;
}

/* Without folds: the labelled addresses held out for calibration (rg_calibrate_holdout),
 * and, when there are any, the seeds without them (*seed, NULL otherwise; both owned by the
 * caller), for the walks of propagate_side. */
static int calibrate_holdout(const rg_graph_t *g, const rg_compute_opts_t *o, uint8_t **held,
                             int8_t **seed, uint32_t *n_good, uint32_t *n_bad) {
  int rc = RG_OK;
  *seed = NULL;
  ALLOC(*held, g->n);
  if ((rc = rg_calibrate_holdout(g, o->calibrate.holdout_share, o->seed, o->generation, *held,
                                 n_good, n_bad)))
    goto fail;
  if (*n_good + *n_bad > 0) {
    ALLOC(*seed, g->n);
    for (uint32_t v = 0; v < g->n; v++) (*seed)[v] = (*held)[v] ? 0 : g->seed[v];
  }
fail:
  return rc;
}

/* The held-out labels' out-of-sample reputations, from the masses without them (bad, good;
 * NULL when nothing was held out), and the thresholds chosen from them. Takes `held`. */
static int calibrate(const rg_graph_t *g, const rg_compute_opts_t *o, uint8_t *held,
                     uint32_t n_good, uint32_t n_bad, const double *bad, const double *good,
                     rg_result_t *r) {
  int rc = RG_OK;
  double *rep = NULL, *rep_good = NULL, *rep_bad = NULL;
  uint32_t ig = 0, ib = 0;
  ALLOC(rep_good, n_good);
  ALLOC(rep_bad, n_bad);
  if (bad && good) {
    ALLOC(rep, g->n);
    for (uint32_t v = 0; v < g->n; v++) {
      rep[v] = rg_score_reputation(bad[v], good[v], o->prior, o->smoothing);
      if (held[v] && g->seed[v] < 0) rep_good[ig++] = rep[v];
      if (held[v] && g->seed[v] > 0) rep_bad[ib++] = rep[v];
    }
    r->held_out = held, held = NULL;
    r->oos_reputation = rep, rep = NULL;
  }
  rg_calibrate_thresholds(&o->calibrate, rep_good, n_good, rep_bad, n_bad, &r->thresholds);
fail:
  free(held), free(rep), free(rep_good), free(rep_bad);
  return rc;
}

/* ---- one side of the propagation ------------------------------------------------------ */

/* The masses of one verdict's seeds (1: the bad walk, split into roles; -1: the good walk):
 * its walk built, the served masses (top_from / top_c: see masses_from_rank), with folds
 * also each fold's masses (fold_mass), else with cal_seed the masses from those seeds
 * (cal_mass) — and the walk freed, so one walk graph is in memory at a time. */
static int propagate_side(const rg_graph_t *g, const rg_compute_opts_t *o, int8_t verdict,
                          double *mass, uint32_t *top_from, double *top_c, double *fold_mass,
                          const int8_t *cal_seed, double *cal_mass, rg_compute_timing_t *tm,
                          char *err, size_t errlen) {
  walk_t w = {0};
  uint64_t t = rg_clock_mono_us();
  int rc = build_walk(g, o, verdict > 0, &w, err, errlen);
  tm->graph_ms += ms_since(t);
  if (rc || (rc = cancelled(o) ? RG_ESHUTTING_DOWN : RG_OK)) goto fail;
  t = rg_clock_mono_us();
  rc = fold_mass ? propagate_folds(g, o, &w, verdict, mass, top_from, top_c, fold_mass, err, errlen)
                 : propagate(g, o, &w, g->seed, verdict, mass, top_from, top_c, err, errlen);
  tm->propagate_ms += ms_since(t);
  if (fold_mass) tm->folds_ms += ms_since(t);
  if (rc || !cal_seed) goto fail;
  t = rg_clock_mono_us();
  rc = propagate(g, o, &w, cal_seed, verdict, cal_mass, NULL, NULL, err, errlen);
  tm->calibrate_ms += ms_since(t);
fail:
  free_walk(&w);
  return rc;
}

/* ---- communities ------------------------------------------------------------------- */

static int communities(const rg_graph_t *g, const rg_compute_opts_t *o, igraph_t *und,
                       bool *have_und, igraph_vector_int_t *membership, char *err, size_t errlen) {
  int rc = RG_OK;
  igraph_vector_int_t ends;
  igraph_vector_t weight;
  bool have_ends = false, have_weight = false;
  IG(igraph_vector_int_init(&ends, 2 * (igraph_integer_t)g->m));
  have_ends = true;
  IG(igraph_vector_init(&weight, (igraph_integer_t)g->m));
  have_weight = true;
  for (uint64_t e = 0; e < g->m; e++) {
    VECTOR(ends)[2 * e] = g->src[e];
    VECTOR(ends)[2 * e + 1] = g->dst[e];
    VECTOR(weight)[e] = g->weight[e] > 1e-9 ? g->weight[e] : 1e-9;
  }
  IG(igraph_create(und, &ends, g->n, IGRAPH_UNDIRECTED));
  *have_und = true;
  igraph_vector_int_destroy(&ends); /* the graph holds its own copy: not kept during Louvain */
  have_ends = false;
  igraph_rng_seed(igraph_rng_default(), o->seed);
  IG(igraph_community_multilevel(und, &weight, 1.0, membership, NULL, NULL));
fail:
  if (have_ends) igraph_vector_int_destroy(&ends);
  if (have_weight) igraph_vector_destroy(&weight);
  return rc;
}

/* ---- assembling scores ------------------------------------------------------------- */

/* Per vertex: which infrastructure kind has the most bad neighbours (for a reason). */
static int bad_neighbour_reasons(const rg_graph_t *g, const rg_compute_opts_t *o, rg_result_t *r) {
  uint32_t *bad = calloc((size_t)g->n * RG_EDGE_KIND_COUNT, sizeof *bad);
  uint32_t *all = calloc((size_t)g->n * RG_EDGE_KIND_COUNT, sizeof *all);
  if (!bad || !all) {
    free(bad), free(all);
    return RG_ENOMEM;
  }
  for (uint64_t e = 0; e < g->m; e++) {
    if (g->kind[e] == RG_EDGE_MAILED) continue; /* victims are not evidence */
    uint32_t ends[2] = {g->src[e], g->dst[e]};
    for (int i = 0; i < 2; i++) {
      uint32_t v = ends[i], u = ends[1 - i];
      size_t slot = (size_t)v * RG_EDGE_KIND_COUNT + g->kind[e];
      all[slot]++;
      if (g->seed[u] > 0 || r->scores[u].reputation >= o->band_bad) bad[slot]++;
    }
  }
  for (uint32_t v = 0; v < g->n; v++) {
    if (r->scores[v].reputation < o->band_suspicious) continue;
    int best = -1;
    for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) {
      size_t slot = (size_t)v * RG_EDGE_KIND_COUNT + k;
      if (bad[slot] && (best < 0 || bad[slot] > bad[(size_t)v * RG_EDGE_KIND_COUNT + best])) best = k;
    }
    if (best >= 0) {
      size_t slot = (size_t)v * RG_EDGE_KIND_COUNT + best;
      rg__add_reason(&r->scores[v], (rg_reason_t){RG_REASON_BAD_NEIGHBOURS, bad[slot],
                                              ((uint64_t)best << 32) | all[slot]});
    }
  }
  free(bad), free(all);
  return RG_OK;
}

static int summarise_clusters(const rg_graph_t *g, const rg_compute_opts_t *o,
                              const igraph_vector_int_t *membership, rg_result_t *r) {
  uint32_t k = 0;
  for (uint32_t v = 0; v < g->n; v++)
    if ((uint32_t)VECTOR(*membership)[v] + 1 > k) k = (uint32_t)VECTOR(*membership)[v] + 1;
  r->clusters = calloc(k ? k : 1, sizeof *r->clusters);
  if (!r->clusters) return RG_ENOMEM;
  r->n_clusters = k;
  for (uint32_t c = 0; c < k; c++) {
    r->clusters[c].id = c + 1;
    r->clusters[c].first_seen = INT64_MAX;
  }
  for (uint32_t v = 0; v < g->n; v++) {
    rg_cluster_t *c = &r->clusters[VECTOR(*membership)[v]];
    rg_score_t *s = &r->scores[v];
    s->cluster = c->id;
    c->size++;
    c->by_type[g->type[v] <= RG_ACTOR_TYPE_MAX ? g->type[v] : 0]++;
    if (g->seed[v] > 0) c->bad_seeds++;
    if (g->seed[v] < 0) c->good_seeds++;
    c->mean_reputation += s->reputation;
    if (g->first_seen[v] < c->first_seen) c->first_seen = g->first_seen[v];
    if (g->last_seen[v] > c->last_seen) c->last_seen = g->last_seen[v];
    /* keep the most suspicious members, insertion-sorted by reputation */
    unsigned pos = c->n_top;
    while (pos > 0 && r->scores[c->top[pos - 1]].reputation < s->reputation) pos--;
    if (pos < RG_CLUSTER_TOP_MAX) {
      unsigned last = c->n_top < RG_CLUSTER_TOP_MAX ? c->n_top : RG_CLUSTER_TOP_MAX - 1;
      memmove(&c->top[pos + 1], &c->top[pos], (last - pos) * sizeof c->top[0]);
      c->top[pos] = v; /* a vertex for now; mapped to actor ids below */
      if (c->n_top < RG_CLUSTER_TOP_MAX) c->n_top++;
    }
  }
  for (uint32_t i = 0; i < k; i++) {
    rg_cluster_t *c = &r->clusters[i];
    if (c->size) c->mean_reputation /= (double)c->size;
    /* Suspicion: the members' mean reputation, with labelled seeds counting twice. */
    double seeds = c->bad_seeds + c->good_seeds;
    c->suspicion = (c->mean_reputation * (double)c->size + 2 * c->bad_seeds) / ((double)c->size + 2 * seeds);
    for (unsigned t = 0; t < c->n_top; t++) c->top[t] = g->actor_id[c->top[t]];
  }
  for (uint32_t v = 0; v < g->n; v++) {
    const rg_cluster_t *c = &r->clusters[VECTOR(*membership)[v]];
    if (c->size >= 3 && c->suspicion >= o->band_suspicious)
      rg__add_reason(&r->scores[v], (rg_reason_t){RG_REASON_CLUSTER, c->suspicion, c->size});
  }
  return RG_OK;
}

int rg_compute_run(const rg_graph_t *g, const rg_compute_opts_t *o, rg_result_t *r, char *err,
                   size_t errlen) {
  memset(r, 0, sizeof *r);
  err[0] = '\0';
  int rc = RG_OK;
  uint8_t *held = NULL; /* without folds: calibration's held-out labels, */
  int8_t *cal_seed = NULL; /* the seeds without them, */
  double *cal_bad = NULL, *cal_good = NULL; /* and the masses from those seeds */
  uint32_t n_held_good = 0, n_held_bad = 0;
  igraph_t und = {0};
  igraph_vector_int_t membership;
  bool have_und = false, have_membership = false;
  uint32_t *top_from = NULL;
  double *top_c = NULL;
  uint64_t t0 = rg_clock_mono_us(), t;

  pthread_mutex_lock(&igraph_lock);
  igraph_set_error_handler(on_igraph_error);
  igraph_set_warning_handler(on_igraph_warning);
  igraph_set_interruption_handler(on_igraph_interrupt);
  active_cancel = o->cancel;

  r->n = g->n;
  ALLOC(r->scores, g->n);
  ALLOC(r->bad_mass, g->n);
  ALLOC(r->good_mass, g->n);
  ALLOC(top_from, g->n);
  ALLOC(top_c, g->n);

  /* the bad side, then the good: one walk graph at a time */
  if (o->folds >= 2 && o->fold) {
    r->folds = o->folds;
    size_t nfold = (size_t)o->folds * g->n;
    ALLOC(r->fold_bad, nfold);
    ALLOC(r->fold_good, nfold);
  } else {
    if ((rc = calibrate_holdout(g, o, &held, &cal_seed, &n_held_good, &n_held_bad))) goto fail;
    if (cal_seed) {
      ALLOC(cal_bad, g->n);
      ALLOC(cal_good, g->n);
    }
  }
  if ((rc = propagate_side(g, o, 1, r->bad_mass, top_from, top_c, r->fold_bad, cal_seed, cal_bad,
                           &r->timing, err, errlen)))
    goto fail;
  CHECK_CANCEL();
  if ((rc = propagate_side(g, o, -1, r->good_mass, NULL, NULL, r->fold_good, cal_seed, cal_good,
                           &r->timing, err, errlen)))
    goto fail;
  CHECK_CANCEL();

  t = rg_clock_mono_us();
  for (uint32_t v = 0; v < g->n; v++) {
    rg_score_t *s = &r->scores[v];
    double rep = rg_score_reputation(r->bad_mass[v], r->good_mass[v], o->prior, o->smoothing);
    if (g->seed[v]) { /* a label pulls its actor toward the verdict by its weight */
      double lw = g->seed_weight[v] > 1 ? 1 : g->seed_weight[v];
      rep = lw * (g->seed[v] > 0 ? 1.0 : 0.0) + (1 - lw) * rep;
    }
    s->reputation = rep;
    double b = r->bad_mass[v], gd = r->good_mass[v];
    s->propagated = b + gd < 1e-9 ? 0 : b > gd ? RG_VERDICT_BAD : RG_VERDICT_GOOD;
    int64_t age = g->now - g->first_seen[v];
    s->band = rg_score_band(rep, g->messages[v], age, o->min_messages, o->min_age_s, o->band_bad,
                            o->band_suspicious, o->band_good);
    if (g->seed[v])
      rg__add_reason(s, (rg_reason_t){RG_REASON_LABELLED, g->seed_weight[v],
                                  g->seed[v] > 0 ? RG_VERDICT_BAD : RG_VERDICT_GOOD});
    if (g->messages[v] < o->min_messages || age < o->min_age_s)
      rg__add_reason(s, (rg_reason_t){RG_REASON_LITTLE_EVIDENCE, (double)g->messages[v],
                                  (uint64_t)(age > 0 ? age / 3600 : 0)});
    if (!g->seed[v] && rep >= o->band_suspicious && top_c[v] > 0 && b > 0)
      rg__add_reason(s, (rg_reason_t){RG_REASON_BAD_NEIGHBOUR, top_c[v] / b, g->actor_id[top_from[v]]});
  }
  if ((rc = bad_neighbour_reasons(g, o, r))) goto fail;
  r->timing.propagate_ms += ms_since(t);
  CHECK_CANCEL();

  t = rg_clock_mono_us();
  rc = r->folds ? calibrate_folds(g, o, r)
                : calibrate(g, o, held, n_held_good, n_held_bad, cal_bad, cal_good, r);
  held = NULL; /* calibrate took it */
  if (rc) goto fail;
  r->timing.calibrate_ms += ms_since(t);
  CHECK_CANCEL();

  t = rg_clock_mono_us();
  IG(igraph_vector_int_init(&membership, 0));
  have_membership = true;
  if ((rc = communities(g, o, &und, &have_und, &membership, err, errlen))) goto fail;
  if ((rc = summarise_clusters(g, o, &membership, r))) goto fail;
  r->timing.communities_ms = ms_since(t);
  CHECK_CANCEL();

  t = rg_clock_mono_us();
  if ((rc = rg__compute_anomalies(g, &und, r, err, errlen))) goto fail;
  r->timing.anomaly_ms = ms_since(t);
  r->timing.total_ms = ms_since(t0);

fail:
  if (rc && !err[0]) snprintf(err, errlen, "%s", rg_strerror(rc));
  free(top_from);
  free(top_c);
  if (have_membership) igraph_vector_int_destroy(&membership);
  if (have_und) igraph_destroy(&und);
  free(held), free(cal_seed), free(cal_bad), free(cal_good);
  active_cancel = NULL;
  pthread_mutex_unlock(&igraph_lock);
  if (rc) rg_compute_result_free(r);
  return rc;
}

void rg_compute_result_free(rg_result_t *r) {
  if (!r) return;
  free(r->scores);
  free(r->bad_mass);
  free(r->good_mass);
  free(r->clusters);
  free(r->held_out);
  free(r->oos_reputation);
  free(r->fold_bad);
  free(r->fold_good);
  free(r->ego_nodes);
  free(r->ego_edges);
  free(r->oddball);
  memset(r, 0, sizeof *r);
}
