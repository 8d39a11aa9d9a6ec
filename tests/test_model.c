/* test_model.c — the learned model (features.c, model.c, model_eval.c, model_serve.c) and the
 * out-of-fold propagation it relies on (compute.c): metrics against hand-computed values,
 * isotonic calibration, PSI, fold walks that add up to the single walk, a labelled actor's
 * row that does not change with its own label, and the whole stage on a generated graph
 * whose bad senders share infrastructure: trained, calibrated, served with reasons, and off
 * with too few labels. Single-threaded cmocka tests on calloc'd graphs (rg_snapshot_free);
 * fixed seeds, no clock. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"

#include "repgraph/compute.h"
#include "repgraph/config.h"
#include "repgraph/err.h"
#include "repgraph/features.h"
#include "repgraph/model.h"
#include "repgraph/score.h"

#define NOW INT64_C(1700000000)
#define DAY INT64_C(86400)

/* ---- metrics ------------------------------------------------------------------------ */

static void test_model_quality_matches_hand_computed_values(void **state) {
  (void)state;
  /* bad: 0.9, 0.7, 0.4; good: 0.8, 0.3, 0.2, 0.1. Pairs ranked right: 0.9 beats 4, 0.7
   * beats 3, 0.4 beats 3 → 10 of 12. */
  const double p[] = {0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1};
  const uint8_t y[] = {1, 0, 1, 1, 0, 0, 0};
  rg_model_quality_t q;
  assert_int_equal(rg_model_quality(p, y, NULL, 7, &q), RG_OK);
  assert_float_equal(q.n, 7, 0);
  assert_float_equal(q.bad, 3, 0);
  assert_float_equal(q.auc, 10.0 / 12, 1e-12);
  /* average precision: (1/1 + 2/3 + 3/4) / 3 */
  assert_float_equal(q.pr_auc, (1 + 2.0 / 3 + 0.75) / 3, 1e-12);
  assert_float_equal(q.k, 7, 0);
  assert_float_equal(q.precision_at_k, 3.0 / 7, 1e-12);
  /* at 0.1% FPR no good may pass: only 0.9 */
  assert_float_equal(q.recall_at_0_1pct, 1.0 / 3, 1e-12);
  double brier = (0.01 + 0.64 + 0.09 + 0.36 + 0.09 + 0.04 + 0.01) / 7;
  assert_float_equal(q.brier, brier, 1e-12);
}

static void test_model_quality_counts_ties_half_and_skips_one_class(void **state) {
  (void)state;
  const double p[] = {0.5, 0.5, 0.5, 0.5};
  const uint8_t y[] = {1, 0, 1, 0}, use[] = {1, 1, 1, 1}, bad_only[] = {1, 0, 1, 0};
  rg_model_quality_t q;
  assert_int_equal(rg_model_quality(p, y, use, 4, &q), RG_OK);
  assert_float_equal(q.auc, 0.5, 1e-12);
  assert_int_equal(rg_model_quality(p, y, bad_only, 4, &q), RG_OK);
  assert_float_equal(q.n, 2, 0);
  assert_float_equal(q.auc, 0, 0); /* one class: not measured */
}

static void test_model_isotonic_is_monotone_and_matches_block_means(void **state) {
  (void)state;
  const double p[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
  const uint8_t y[] = {0, 1, 0, 0, 1, 1}; /* 0.2 and 0.3,0.4 violate: pooled to 1/3 */
  double *xs, *ys;
  uint32_t m;
  assert_int_equal(rg_model_isotonic_fit(p, y, 6, &xs, &ys, &m), RG_OK);
  assert_int_equal(m, 3);
  assert_float_equal(ys[0], 0, 1e-12);
  assert_float_equal(ys[1], 1.0 / 3, 1e-12);
  assert_float_equal(ys[2], 1, 1e-12);
  double last = -1;
  for (double x = 0; x <= 1.0001; x += 0.01) {
    double c = rg_model_isotonic_apply(xs, ys, m, x);
    assert_true(c >= last - 1e-12 && c >= 0 && c <= 1);
    last = c;
  }
  assert_float_equal(rg_model_isotonic_apply(xs, ys, m, 0.05), 0, 1e-12);
  assert_float_equal(rg_model_isotonic_apply(xs, ys, m, 0.95), 1, 1e-12);
  free(xs), free(ys);
}

static void test_model_psi_is_zero_for_the_same_distribution(void **state) {
  (void)state;
  const double a[10] = {0.5, 0.2, 0.1, 0.05, 0.05, 0.03, 0.03, 0.02, 0.01, 0.01};
  const double b[10] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
  assert_float_equal(rg_model_psi(a, a), 0, 1e-12);
  assert_true(rg_model_psi(a, b) > 0.25); /* a large shift by the usual reading */
}

/* ---- a generated graph ---------------------------------------------------------------- */

/* Addresses (honest or spammer), IPs and recipients. Honest senders each use one of many
 * clean IPs and mail a few recipients who write back; spammers share a small pool of IPs
 * and mail many strangers. `labelled` of each class are seeds. */
typedef struct {
  rg_graph_t g;
  uint8_t *bad; /* truth per vertex */
} world_t;

static uint64_t rng_state = 12345;
static uint32_t rnd(uint32_t n) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)((rng_state >> 33) % n);
}

static void world_build(world_t *w, uint32_t honest, uint32_t spammers, double labelled) {
  memset(w, 0, sizeof *w);
  rng_state = 12345;
  rg_graph_t *g = &w->g;
  uint32_t clean_ips = honest / 4 + 1, spam_ips = 8, recipients = honest * 2;
  uint32_t n = honest + spammers + clean_ips + spam_ips + recipients;
  uint64_t cap_m = (uint64_t)honest * 12 + (uint64_t)spammers * 50 + n;
  g->now = NOW;
  g->actor_id = calloc(n, sizeof *g->actor_id), g->type = calloc(n, 1);
  g->messages = calloc(n, sizeof *g->messages);
  g->first_seen = calloc(n, sizeof *g->first_seen), g->last_seen = calloc(n, sizeof *g->last_seen);
  g->seed = calloc(n, 1), g->seed_weight = calloc(n, sizeof *g->seed_weight);
  g->label_ts = calloc(n, sizeof *g->label_ts);
  g->src = calloc(cap_m, sizeof *g->src), g->dst = calloc(cap_m, sizeof *g->dst);
  g->kind = calloc(cap_m, 1), g->weight = calloc(cap_m, sizeof *g->weight);
  g->count = calloc(cap_m, sizeof *g->count);
  g->edge_first = calloc(cap_m, sizeof *g->edge_first);
  g->edge_last = calloc(cap_m, sizeof *g->edge_last);
  w->bad = calloc(n, 1);
  assert_non_null(g->edge_last);
  assert_non_null(w->bad);
  g->n = n;
  for (uint32_t v = 0; v < n; v++) {
    g->actor_id[v] = 1000 + v;
    g->type[v] = RG_ACTOR_ADDRESS;
    g->messages[v] = 20;
    g->first_seen[v] = NOW - 20 * DAY;
    g->last_seen[v] = NOW;
  }
  uint32_t ip0 = honest + spammers, sip0 = ip0 + clean_ips, r0 = sip0 + spam_ips;
  for (uint32_t v = ip0; v < r0; v++) g->type[v] = RG_ACTOR_IP;
#define EDGE(s, k, d, c, first)                                                       \
  do {                                                                                \
    g->src[g->m] = (s), g->dst[g->m] = (d), g->kind[g->m] = (k), g->weight[g->m] = 1; \
    g->count[g->m] = (c), g->edge_first[g->m] = (first), g->edge_last[g->m] = NOW;    \
    g->m++;                                                                           \
  } while (0)
  for (uint32_t v = 0; v < honest; v++) {
    EDGE(v, RG_EDGE_SENT_FROM, ip0 + rnd(clean_ips), 5, NOW - 20 * DAY);
    for (int i = 0; i < 4; i++) {
      uint32_t r = r0 + rnd(recipients);
      EDGE(v, RG_EDGE_MAILED, r, 3, NOW - 15 * DAY);
      EDGE(r, RG_EDGE_MAILED, v, 2, NOW - 14 * DAY);
    }
  }
  for (uint32_t v = honest; v < honest + spammers; v++) {
    w->bad[v] = 1;
    g->first_seen[v] = NOW - 2 * DAY;
    EDGE(v, RG_EDGE_SENT_FROM, sip0 + rnd(spam_ips), 30, NOW - 2 * DAY);
    EDGE(v, RG_EDGE_SENT_FROM, sip0 + rnd(spam_ips), 30, NOW - 2 * DAY);
    for (int i = 0; i < 30; i++) EDGE(v, RG_EDGE_MAILED, r0 + rnd(recipients), 1, NOW - DAY / 2);
  }
#undef EDGE
  /* label a share of each class, at two times (so the time split has two sides) */
  for (uint32_t v = 0; v < honest + spammers; v++) {
    if (rnd(1000) >= labelled * 1000) continue;
    g->seed[v] = w->bad[v] ? 1 : -1;
    g->seed_weight[v] = 1;
    g->label_ts[v] = rnd(2) ? NOW - DAY : NOW - 10 * DAY;
    if (w->bad[v])
      g->bad_seeds++;
    else
      g->good_seeds++;
  }
}

static void world_free(world_t *w) {
  rg_snapshot_free(&w->g);
  free(w->bad);
}

static void options(rg_compute_opts_t *co, rg_model_opts_t *mo) {
  rg_config_t cfg;
  rg_config_defaults(&cfg);
  rg_compute_opts_init(co, &cfg);
  rg_model_opts_init(mo, &cfg);
  mo->threads = 1;
  mo->rounds = 30;
  mo->min_labels = 10;
  co->generation = mo->generation = 1;
}

static void run_folds(world_t *w, rg_compute_opts_t *co, const rg_model_opts_t *mo, uint8_t *fold,
                      rg_result_t *r) {
  rg_model_folds(&w->g, mo->folds, mo->seed, 1, fold);
  co->fold = fold;
  co->folds = mo->folds;
  char err[200];
  assert_int_equal(rg_compute_run(&w->g, co, r, err, sizeof err), RG_OK);
}

static void test_compute_fold_walks_match_direct_walks_without_the_fold(void **state) {
  (void)state;
  world_t w;
  world_build(&w, 300, 40, 0.3);
  rg_compute_opts_t co;
  rg_model_opts_t mo;
  options(&co, &mo);
  rg_result_t one, folded;
  char err[200];
  assert_int_equal(rg_compute_run(&w.g, &co, &one, err, sizeof err), RG_OK);
  uint8_t *fold = calloc(w.g.n, 1);
  run_folds(&w, &co, &mo, fold, &folded);
  assert_int_equal(folded.folds, mo.folds);
  for (uint32_t v = 0; v < w.g.n; v++) {
    assert_float_equal(folded.bad_mass[v], one.bad_mass[v], 1e-12 * (1 + one.bad_mass[v]));
    assert_float_equal(folded.good_mass[v], one.good_mass[v], 1e-12 * (1 + one.good_mass[v]));
    assert_float_equal(folded.scores[v].reputation, one.scores[v].reputation, 1e-12);
  }
  /* without fold 1's seeds: the walk from the others, as a direct run finds it */
  int8_t *saved = malloc(w.g.n);
  memcpy(saved, w.g.seed, w.g.n);
  for (uint32_t v = 0; v < w.g.n; v++)
    if (fold[v] == 1) w.g.seed[v] = 0;
  rg_compute_opts_t plain;
  rg_model_opts_t unused;
  options(&plain, &unused);
  rg_result_t direct;
  assert_int_equal(rg_compute_run(&w.g, &plain, &direct, err, sizeof err), RG_OK);
  memcpy(w.g.seed, saved, w.g.n);
  double worst = 0, total = 0;
  for (uint32_t v = 0; v < w.g.n; v++) total += direct.bad_mass[v] + direct.good_mass[v];
  for (uint32_t v = 0; v < w.g.n; v++) {
    double db = fabs(folded.fold_bad[v] - direct.bad_mass[v]);
    double dg = fabs(folded.fold_good[v] - direct.good_mass[v]);
    worst += db + dg;
  }
  /* the series is cut after FOLD_STEPS terms: well under 1% of the mass is off */
  print_message("fold walks: %.4f%% of the mass off\n", 100 * worst / total);
  assert_true(worst / total < 0.01);
  for (uint32_t v = 0; v < w.g.n; v++) /* its own label is gone from a seed's masses */
    if (fold[v] == 1 && w.g.seed[v] > 0) assert_true(folded.fold_bad[v] < one.bad_mass[v]);
  rg_compute_result_free(&direct);
  free(saved);
  rg_compute_result_free(&one);
  rg_compute_result_free(&folded);
  free(fold);
  world_free(&w);
}

static void features_of(world_t *w, uint8_t *fold, float *x) {
  rg_compute_opts_t co;
  rg_model_opts_t mo;
  options(&co, &mo);
  rg_result_t r;
  run_folds(w, &co, &mo, fold, &r);
  assert_int_equal(rg_features_compute(&w->g, &r, fold, mo.folds, &mo, x), RG_OK);
  rg_compute_result_free(&r);
}

static void test_features_of_a_labelled_actor_ignore_its_own_label(void **state) {
  (void)state;
  world_t w;
  world_build(&w, 300, 40, 0.3);
  uint32_t v = 0;
  while (!(w.g.seed[v] > 0)) v++; /* a labelled spammer */
  size_t row = (size_t)w.g.n * RG_FEATURE_COUNT;
  float *a = malloc(row * sizeof *a), *b = malloc(row * sizeof *b);
  uint8_t *fold = calloc(w.g.n, 1);
  features_of(&w, fold, a);
  w.g.seed[v] = -1; /* the same actor, labelled good */
  features_of(&w, fold, b);
  for (int i = 0; i < RG_FEATURE_COUNT; i++) {
    float x = a[(size_t)v * RG_FEATURE_COUNT + i], y = b[(size_t)v * RG_FEATURE_COUNT + i];
    if (isnan(x)) assert_true(isnan(y));
    /* exact but for the fold walks' cut series (compute.c FOLD_STEPS): far below 0.1% */
    else
      assert_float_equal(x, y, 1e-3 * (1 + fabsf(x)));
  }
  /* while the unlabelled neighbours' rows see it: its IP's bad users differ */
  uint32_t ip = 0;
  for (uint64_t e = 0; e < w.g.m; e++)
    if (w.g.src[e] == v && w.g.kind[e] == RG_EDGE_SENT_FROM) ip = w.g.dst[e];
  assert_true(a[(size_t)ip * RG_FEATURE_COUNT + RG_FEAT_SENDERS_BAD] >
              b[(size_t)ip * RG_FEATURE_COUNT + RG_FEAT_SENDERS_BAD]);
  free(a), free(b), free(fold);
  world_free(&w);
}

static void test_features_burst_counts_first_contacts_within_6_hours(void **state) {
  (void)state;
  world_t w;
  world_build(&w, 300, 40, 0.3);
  /* honest sender 0 first mails its recipients a day apart; sender 1 its first two 5 hours
   * apart, the others days later */
  const int64_t offsets[2][4] = {{0, DAY, 2 * DAY, 3 * DAY}, {0, 5 * 3600, 3 * DAY, 4 * DAY}};
  int seen[2] = {0, 0};
  for (uint64_t e = 0; e < w.g.m; e++) {
    uint32_t s = w.g.src[e];
    if (s < 2 && w.g.kind[e] == RG_EDGE_MAILED)
      w.g.edge_first[e] = NOW - 10 * DAY + offsets[s][seen[s]++];
  }
  assert_int_equal(seen[0], 4);
  assert_int_equal(seen[1], 4);
  size_t row = (size_t)w.g.n * RG_FEATURE_COUNT;
  float *x = malloc(row * sizeof *x);
  uint8_t *fold = calloc(w.g.n, 1);
  features_of(&w, fold, x);
  assert_float_equal(x[RG_FEAT_BURST], 1, 0);                                   /* one a day */
  assert_float_equal(x[RG_FEATURE_COUNT + RG_FEAT_BURST], 2, 0);                /* two in 5 h */
  assert_float_equal(x[300 * (size_t)RG_FEATURE_COUNT + RG_FEAT_BURST], 30, 0); /* a spammer */
  uint32_t ip = 0;
  for (uint64_t e = 0; e < w.g.m; e++)
    if (w.g.src[e] == 0 && w.g.kind[e] == RG_EDGE_SENT_FROM) ip = w.g.dst[e];
  assert_true(isnan(x[(size_t)ip * RG_FEATURE_COUNT + RG_FEAT_BURST])); /* it mails no one */
  free(x), free(fold);
  world_free(&w);
}

static void test_model_learns_serves_and_explains(void **state) {
  (void)state;
  world_t w;
  world_build(&w, 600, 80, 0.3);
  rg_compute_opts_t co;
  rg_model_opts_t mo;
  options(&co, &mo);
  rg_result_t r;
  uint8_t *fold = calloc(w.g.n, 1);
  run_folds(&w, &co, &mo, fold, &r);
  rg_model_result_t m;
  assert_int_equal(rg_model_run(&w.g, &r, fold, &mo, NULL, &m), RG_OK);
  if (m.eval.state != RG_MODEL_SERVING) fail_msg("model not serving: %s", m.note);
  assert_true(m.eval.oof.n == m.eval.bad_labels + m.eval.good_labels);
  assert_true(m.eval.oof.auc > 0.95);
  assert_true(m.eval.time_split.n > 0); /* labels at two times */
  assert_true(m.eval.top_feature[0] >= 0);
  rg_model_apply(&w.g, &mo, NULL, &m, &r);
  /* unlabelled spammers score high, unlabelled honest senders low */
  double bad_sum = 0, good_sum = 0, nb = 0, ng = 0;
  unsigned explained = 0;
  for (uint32_t v = 0; v < w.g.n; v++) {
    assert_true(r.scores[v].reputation >= 0 && r.scores[v].reputation <= 1);
    if (w.g.seed[v] || w.g.type[v] != RG_ACTOR_ADDRESS || v >= 680) continue;
    if (w.bad[v])
      bad_sum += r.scores[v].reputation, nb++;
    else
      good_sum += r.scores[v].reputation, ng++;
    for (unsigned i = 0; i < r.scores[v].n_reasons; i++)
      if (r.scores[v].reasons[i].code == RG_REASON_MODEL) {
        explained++;
        int f;
        double companion, contribution;
        rg_reason_model_unpack(&r.scores[v].reasons[i], &f, &companion, &contribution);
        assert_true(f >= 0 && f < RG_FEATURE_COUNT && contribution > 0);
        char text[200];
        rg_reason_text(&r.scores[v].reasons[i], NULL, text, sizeof text);
        assert_true(strlen(text) > 5);
      }
  }
  assert_true(bad_sum / nb > 0.8);
  assert_true(good_sum / ng < 0.2);
  assert_true(explained > 0);
  double hist = 0;
  for (int b = 0; b < 10; b++) hist += m.eval.hist[b];
  assert_float_equal(hist, 1, 1e-9);
  rg_model_result_free(&m);
  rg_compute_result_free(&r);
  free(fold);
  world_free(&w);
}

/* The extrapolation guard: a sender the model scores high but that is alone on its IPs and
 * domain with nothing bad around it is served the graph's own score, with what the model said
 * as an `extrapolated` reason; without the guard the model's score is served. */
static void test_model_guard_serves_the_graph_score_where_the_model_extrapolates(void **state) {
  (void)state;
  world_t w;
  world_build(&w, 600, 80, 0.3);
  rg_compute_opts_t co;
  rg_model_opts_t mo;
  options(&co, &mo);
  uint8_t *fold = calloc(w.g.n, 1);
  for (int guard = 1; guard >= 0; guard--) {
    rg_result_t r;
    run_folds(&w, &co, &mo, fold, &r);
    rg_model_result_t m;
    assert_int_equal(rg_model_run(&w.g, &r, fold, &mo, NULL, &m), RG_OK);
    if (m.eval.state != RG_MODEL_SERVING) fail_msg("model not serving: %s", m.note);
    uint32_t v = 600; /* the first unlabelled spammer the model scores above its graph score */
    while (v < 680 && (w.g.seed[v] || !(m.reputation[v] > r.scores[v].reputation + 0.05))) v++;
    assert_true(v < 680);
    float *x = m.x + (size_t)v * RG_FEATURE_COUNT;
    x[RG_FEAT_IP_SENDERS_MAX] = 1, x[RG_FEAT_DOMAIN_SENDERS] = 1, x[RG_FEAT_INFRA_BAD] = 0;
    rg_score_t graph = r.scores[v];
    double model = m.reputation[v];
    mo.guard = guard;
    rg_model_apply(&w.g, &mo, NULL, &m, &r);
    const rg_score_t *s = &r.scores[v];
    if (guard) {
      assert_float_equal(s->reputation, graph.reputation, 0);
      assert_int_equal(s->band, graph.band);
      assert_int_equal(s->reasons[0].code, RG_REASON_EXTRAPOLATED);
      assert_float_equal(s->reasons[0].value, model, 0);
      assert_true(m.eval.guarded >= 1);
    } else {
      assert_true(s->reputation > graph.reputation);
      assert_int_equal(m.eval.guarded, 0);
    }
    rg_model_result_free(&m);
    rg_compute_result_free(&r);
  }
  free(fold);
  world_free(&w);
}

static void test_model_stays_off_with_too_few_labels(void **state) {
  (void)state;
  world_t w;
  world_build(&w, 300, 40, 0.02); /* a bad label or so: below model.min_labels */
  rg_compute_opts_t co;
  rg_model_opts_t mo;
  options(&co, &mo);
  char why[160];
  assert_false(rg_model_ready(&w.g, &mo, why, sizeof why));
  assert_non_null(strstr(why, "too few labels"));
  rg_result_t r;
  char err[200];
  assert_int_equal(rg_compute_run(&w.g, &co, &r, err, sizeof err), RG_OK);
  double before = r.scores[5].reputation;
  rg_model_result_t m;
  assert_int_equal(rg_model_run(&w.g, &r, NULL, &mo, NULL, &m), RG_OK);
  assert_int_equal((int)m.eval.state, RG_MODEL_OFF);
  assert_null(m.reputation);
  rg_model_apply(&w.g, &mo, NULL, &m, &r);
  assert_float_equal(r.scores[5].reputation, before, 0); /* the propagation is served */
  rg_model_result_free(&m);
  rg_compute_result_free(&r);
  world_free(&w);
}

static void test_reason_model_round_trips(void **state) {
  (void)state;
  rg_reason_t r = rg_reason_model(RG_FEAT_IPS_BAD, 3, 4, 1.25);
  int f;
  double companion, contribution;
  rg_reason_model_unpack(&r, &f, &companion, &contribution);
  assert_int_equal(f, RG_FEAT_IPS_BAD);
  assert_float_equal(companion, 4, 0);
  assert_float_equal(contribution, 1.25, 0);
  char text[200];
  assert_string_equal(rg_reason_text(&r, NULL, text, sizeof text), "3 of its 4 IPs are bad");
  r = rg_reason_model(RG_FEAT_AUDIENCE, 0.03, NAN, 0.5);
  assert_string_equal(rg_reason_text(&r, NULL, text, sizeof text),
                      "3% of its recent recipients were mailed before");
  assert_string_equal(rg_reason_name(RG_REASON_MODEL), "model");
}

static void test_features_schema_lists_the_table(void **state) {
  (void)state;
  json_error_t jerr;
  json_t *doc = json_load_file(RG_SOURCE_DIR "/schemas/features.json", 0, &jerr);
  if (!doc) fail_msg("schemas/features.json: %s", jerr.text);
  json_t *list = json_object_get(doc, "features");
  assert_int_equal(json_array_size(list), RG_FEATURE_COUNT);
  for (int i = 0; i < RG_FEATURE_COUNT; i++) {
    json_t *f = json_array_get(list, (size_t)i);
    assert_string_equal(json_string_value(json_object_get(f, "name")), rg_feature_name(i));
    assert_string_equal(json_string_value(json_object_get(f, "unit")), rg_feature_unit(i));
    assert_string_equal(json_string_value(json_object_get(f, "meaning")), rg_feature_meaning(i));
  }
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model_quality_matches_hand_computed_values),
      cmocka_unit_test(test_model_quality_counts_ties_half_and_skips_one_class),
      cmocka_unit_test(test_model_isotonic_is_monotone_and_matches_block_means),
      cmocka_unit_test(test_model_psi_is_zero_for_the_same_distribution),
      cmocka_unit_test(test_compute_fold_walks_match_direct_walks_without_the_fold),
      cmocka_unit_test(test_features_of_a_labelled_actor_ignore_its_own_label),
      cmocka_unit_test(test_features_burst_counts_first_contacts_within_6_hours),
      cmocka_unit_test(test_model_learns_serves_and_explains),
      cmocka_unit_test(test_model_guard_serves_the_graph_score_where_the_model_extrapolates),
      cmocka_unit_test(test_model_stays_off_with_too_few_labels),
      cmocka_unit_test(test_reason_model_round_trips),
      cmocka_unit_test(test_features_schema_lists_the_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
