/* test_calibrate.c — the verdicts' thresholds from a false-positive budget (calibrate.c) and
 * the held-out propagation that feeds them (compute.c): the Clopper-Pearson bound against
 * values computed independently (exact binomial sums in Python), the rule of three, the
 * choice over known score lists (derived within budget, too few labels keep the fixed values,
 * monotone), the stratified deterministic hold-out, and on a small hand-built mail graph that
 * held-out actors are scored without their own label while the served scores are untouched.
 * Single-threaded cmocka tests; graphs are calloc'd and freed with rg_snapshot_free. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h" /* cmocka */

#include "repgraph/calibrate.h"
#include "repgraph/compute.h"
#include "repgraph/config.h"
#include "repgraph/snapshot.h"

#define NOW     INT64_C(1700000000)
#define ID_BASE 1000

static const rg_calibrate_opts_t default_opts = {.budget = {0.01, 0.001, 0.0001},
                                                 .fixed = {0.6, 0.75, 0.9},
                                                 .holdout_share = 0.2,
                                                 .min_holdout = 3};

/* How many of the n values are >= t. */
static uint32_t at_least(const double *v, uint32_t n, double t) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) k += v[i] >= t;
  return k;
}

/* ---- the bound and the rule of three ------------------------------------------------ */

static void test_calibrate_upper_bound_matches_clopper_pearson(void **state) {
  (void)state;
  /* one-sided 95%: math.comb sums bisected in Python */
  assert_float_equal(rg_calibrate_upper_bound(0, 300), 0.00993608, 1e-7);
  assert_float_equal(rg_calibrate_upper_bound(1, 100), 0.04655981, 1e-7);
  assert_float_equal(rg_calibrate_upper_bound(5, 100), 0.10225338, 1e-7);
  assert_float_equal(rg_calibrate_upper_bound(3, 1000), 0.00773524, 1e-7);
  assert_float_equal(rg_calibrate_upper_bound(20, 2000), 0.01449806, 1e-7);
  assert_float_equal(rg_calibrate_upper_bound(0, 0), 1, 0);
  assert_float_equal(rg_calibrate_upper_bound(7, 7), 1, 0);
  /* large n: still finite and near the point estimate */
  double b = rg_calibrate_upper_bound(1000, 1000000);
  assert_true(b > 0.001 && b < 0.00106);
}

static void test_calibrate_needs_the_rule_of_three(void **state) {
  (void)state;
  assert_int_equal(rg_calibrate_needed(0.01, 3), 300);
  assert_int_equal(rg_calibrate_needed(0.001, 3), 3000);
  assert_int_equal(rg_calibrate_needed(0.0001, 3), 30000);
  assert_int_equal(rg_calibrate_needed(0.01, 10), 1000);
  /* with exactly that many and no false positive, the bound is within the budget */
  assert_true(rg_calibrate_upper_bound(0, 300) <= 0.01);
  assert_true(rg_calibrate_upper_bound(0, 30000) <= 0.0001);
}

/* ---- choosing thresholds over known scores --------------------------------------------- */

/* n good scores spread evenly over [0, top) and n_bad bad ones over [0.5, 1). */
static void spread(double *good, uint32_t n, double top, double *bad, uint32_t n_bad) {
  for (uint32_t i = 0; i < n; i++) good[i] = top * (double)((i * 7919u) % n) / n;
  for (uint32_t i = 0; i < n_bad; i++) bad[i] = 0.5 + 0.5 * (double)i / n_bad;
}

static void test_calibrate_enough_labels_derive_thresholds_within_budget(void **state) {
  (void)state;
  uint32_t n = 40000, n_bad = 1000;
  double *good = malloc(n * sizeof *good), *bad = malloc(n_bad * sizeof *bad);
  double *copy = malloc(n * sizeof *copy);
  assert_non_null(good), assert_non_null(bad), assert_non_null(copy);
  spread(good, n, 0.8, bad, n_bad);
  memcpy(copy, good, n * sizeof *good);
  rg_thresholds_t th;
  rg_calibrate_thresholds(&default_opts, good, n, bad, n_bad, &th);
  assert_int_equal(th.held_out_good, n);
  assert_int_equal(th.held_out_bad, n_bad);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    assert_true(th.derived[l]);
    uint32_t k = at_least(copy, n, th.at[l]);
    assert_true(th.fpr[l] <= default_opts.budget[l]);
    assert_float_equal(th.fpr[l], rg_calibrate_upper_bound(k, n), 1e-15);
    /* the lowest such threshold: one step lower lets in a good score too many */
    double lower = nextafter(th.at[l], 0);
    assert_true(rg_calibrate_upper_bound(at_least(copy, n, lower), n) > default_opts.budget[l]);
    assert_float_equal(th.tpr[l], (double)at_least(bad, n_bad, th.at[l]) / n_bad, 1e-15);
    if (l) assert_true(th.at[l] >= th.at[l - 1]);
  }
  /* good scores run to 0.8: tempfail near the top 1% of them, reject above nearly all */
  assert_true(th.at[RG_VERDICT_TEMPFAIL] > 0.78 && th.at[RG_VERDICT_TEMPFAIL] < 0.8);
  assert_true(th.at[RG_VERDICT_REJECT] > 0.7999 && th.at[RG_VERDICT_REJECT] <= 0.8);
  free(good), free(bad), free(copy);
}

static void test_calibrate_too_few_labels_keep_the_fixed_thresholds(void **state) {
  (void)state;
  uint32_t n = 1000, n_bad = 100; /* enough for tempfail (300), not quarantine (3000) */
  double good[1000], bad[100];
  spread(good, n, 0.4, bad, n_bad);
  rg_thresholds_t th;
  rg_calibrate_thresholds(&default_opts, good, n, bad, n_bad, &th);
  assert_true(th.derived[RG_VERDICT_TEMPFAIL]);
  assert_false(th.derived[RG_VERDICT_QUARANTINE]);
  assert_false(th.derived[RG_VERDICT_REJECT]);
  assert_true(th.at[RG_VERDICT_TEMPFAIL] < 0.4); /* derived below the fixed 0.6 */
  assert_float_equal(th.at[RG_VERDICT_QUARANTINE], 0.75, 0);
  assert_float_equal(th.at[RG_VERDICT_REJECT], 0.9, 0);
  assert_float_equal(th.fpr[RG_VERDICT_QUARANTINE], rg_calibrate_upper_bound(0, n), 1e-15);

  rg_calibrate_thresholds(&default_opts, good, 299, bad, n_bad, &th); /* one short */
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    assert_false(th.derived[l]);
    assert_float_equal(th.at[l], default_opts.fixed[l], 0);
  }
  rg_calibrate_thresholds(&default_opts, NULL, 0, NULL, 0, &th); /* nothing held out */
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    assert_false(th.derived[l]);
    assert_float_equal(th.at[l], default_opts.fixed[l], 0);
    assert_float_equal(th.fpr[l], 1, 0);
    assert_float_equal(th.tpr[l], 0, 0);
  }
}

static void test_calibrate_thresholds_stay_monotone(void **state) {
  (void)state;
  /* Good scores up to 0.95: tempfail is derived above the fixed quarantine and reject,
   * which are raised to it rather than left below. */
  uint32_t n = 1000;
  double good[1000], bad[10];
  spread(good, n, 0.95, bad, 10);
  rg_thresholds_t th;
  rg_calibrate_thresholds(&default_opts, good, n, bad, 10, &th);
  assert_true(th.derived[RG_VERDICT_TEMPFAIL]);
  assert_true(th.at[RG_VERDICT_TEMPFAIL] > 0.9);
  assert_false(th.derived[RG_VERDICT_QUARANTINE]);
  assert_float_equal(th.at[RG_VERDICT_QUARANTINE], th.at[RG_VERDICT_TEMPFAIL], 0);
  assert_float_equal(th.at[RG_VERDICT_REJECT], th.at[RG_VERDICT_TEMPFAIL], 0);
  /* and the effective thresholds check uses agree with the record */
  double at[RG_VERDICT_LEVELS];
  rg_thresholds_effective(&th, default_opts.fixed, at);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) assert_float_equal(at[l], th.at[l], 0);
  rg_thresholds_effective(NULL, default_opts.fixed, at);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) assert_float_equal(at[l], default_opts.fixed[l], 0);
}

/* ---- hand-built graphs ----------------------------------------------------------------- */

static void graph_alloc(rg_graph_t *g, uint32_t n, uint64_t m) {
  memset(g, 0, sizeof *g);
  g->now = NOW;
  g->actor_id = calloc(n, sizeof *g->actor_id);
  g->type = calloc(n, sizeof *g->type);
  g->messages = calloc(n, sizeof *g->messages);
  g->first_seen = calloc(n, sizeof *g->first_seen);
  g->last_seen = calloc(n, sizeof *g->last_seen);
  g->seed = calloc(n, sizeof *g->seed);
  g->seed_weight = calloc(n, sizeof *g->seed_weight);
  g->src = calloc(m, sizeof *g->src);
  g->dst = calloc(m, sizeof *g->dst);
  g->kind = calloc(m, sizeof *g->kind);
  g->weight = calloc(m, sizeof *g->weight);
  assert_true(g->actor_id && g->type && g->messages && g->first_seen && g->last_seen && g->seed &&
              g->seed_weight && g->src && g->dst && g->kind && g->weight);
}

static uint32_t vtx(rg_graph_t *g, rg_actor_type_t type, int8_t seed) {
  uint32_t v = g->n++;
  g->actor_id[v] = ID_BASE + v;
  g->type[v] = (uint8_t)type;
  g->messages[v] = 10;
  g->first_seen[v] = NOW - 30 * 86400;
  g->last_seen[v] = NOW;
  g->seed[v] = seed;
  g->seed_weight[v] = seed ? 1 : 0;
  if (seed > 0) g->bad_seeds++;
  if (seed < 0) g->good_seeds++;
  return v;
}

static void edge(rg_graph_t *g, uint32_t src, rg_edge_kind_t kind, uint32_t dst) {
  g->src[g->m] = src;
  g->dst[g->m] = dst;
  g->kind[g->m] = (uint8_t)kind;
  g->weight[g->m] = 1;
  g->m++;
}

#define N_GOOD_IPS 20
#define N_BAD_IPS  5

/* n_good good-labelled senders on an honest domain and IPs, writing to each other; n_bad
 * bad-labelled ones on a spam domain and IPs; every tenth good sender is a compromised
 * account that sends from the spam IPs and domain only. Also labelled IPs, which are never
 * held out. */
static void mail_world(rg_graph_t *g, uint32_t n_good, uint32_t n_bad) {
  graph_alloc(g, n_good + n_bad + N_GOOD_IPS + N_BAD_IPS + 4, 4 * (uint64_t)(n_good + n_bad));
  uint32_t honest = vtx(g, RG_ACTOR_DOMAIN, 0), spam = vtx(g, RG_ACTOR_DOMAIN, 0);
  uint32_t good_ip[N_GOOD_IPS], bad_ip[N_BAD_IPS];
  for (int i = 0; i < N_GOOD_IPS; i++) good_ip[i] = vtx(g, RG_ACTOR_IP, i == 0 ? -1 : 0);
  for (int i = 0; i < N_BAD_IPS; i++) bad_ip[i] = vtx(g, RG_ACTOR_IP, i == 0 ? 1 : 0);
  uint32_t first_good = g->n;
  for (uint32_t i = 0; i < n_good; i++) {
    uint32_t v = vtx(g, RG_ACTOR_ADDRESS, -1);
    bool compromised = i % 10 == 9;
    edge(g, v, RG_EDGE_SENT_FROM, compromised ? bad_ip[i % N_BAD_IPS] : good_ip[i % N_GOOD_IPS]);
    edge(g, v, RG_EDGE_USES_DOMAIN, compromised ? spam : honest);
    if (i) edge(g, v, RG_EDGE_MAILED, first_good + (i * 31) % i);
  }
  for (uint32_t i = 0; i < n_bad; i++) {
    uint32_t v = vtx(g, RG_ACTOR_ADDRESS, 1);
    edge(g, v, RG_EDGE_SENT_FROM, bad_ip[i % N_BAD_IPS]);
    edge(g, v, RG_EDGE_USES_DOMAIN, spam);
    edge(g, v, RG_EDGE_MAILED, first_good + i % n_good);
  }
}

static rg_compute_opts_t world_opts(double share, uint64_t generation) {
  rg_config_t cfg;
  rg_config_defaults(&cfg);
  rg_compute_opts_t o;
  rg_compute_opts_init(&o, &cfg);
  o.calibrate.holdout_share = share;
  o.calibrate.budget[RG_VERDICT_TEMPFAIL] = 0.1;    /* needs 30 held-out good */
  o.calibrate.budget[RG_VERDICT_QUARANTINE] = 0.05; /* 60 */
  o.generation = generation;
  return o;
}

static void test_calibrate_holdout_is_stratified_and_deterministic(void **state) {
  (void)state;
  rg_graph_t g;
  mail_world(&g, 400, 100);
  uint8_t *a = malloc(g.n), *b = malloc(g.n);
  uint32_t n_good, n_bad;
  assert_int_equal(rg_calibrate_holdout(&g, 0.2, 1, 7, a, &n_good, &n_bad), 0);
  assert_int_equal(n_good, 80);
  assert_int_equal(n_bad, 20);
  uint32_t marked_good = 0, marked_bad = 0;
  for (uint32_t v = 0; v < g.n; v++) {
    if (!a[v]) continue;
    assert_int_equal(g.type[v], RG_ACTOR_ADDRESS); /* labelled IPs stay seeds */
    assert_true(g.seed[v] != 0);
    if (g.seed[v] < 0)
      marked_good++;
    else
      marked_bad++;
  }
  assert_int_equal(marked_good, 80);
  assert_int_equal(marked_bad, 20);
  assert_int_equal(rg_calibrate_holdout(&g, 0.2, 1, 7, b, &n_good, &n_bad), 0);
  assert_memory_equal(a, b, g.n); /* same seed and generation: same set */
  assert_int_equal(rg_calibrate_holdout(&g, 0.2, 1, 8, b, &n_good, &n_bad), 0);
  assert_int_equal(n_good, 80);
  assert_true(memcmp(a, b, g.n) != 0); /* the next generation holds out others */
  assert_int_equal(rg_calibrate_holdout(&g, 0, 1, 7, b, &n_good, &n_bad), 0);
  assert_int_equal(n_good + n_bad, 0);
  free(a), free(b);
  rg_snapshot_free(&g);
}

static void test_calibrate_held_out_actors_are_scored_without_their_label(void **state) {
  (void)state;
  rg_graph_t g;
  mail_world(&g, 400, 100);
  rg_compute_opts_t o = world_opts(0.25, 1);
  rg_result_t r;
  char err[256];
  assert_int_equal(rg_compute_run(&g, &o, &r, err, sizeof err), 0);
  assert_non_null(r.held_out);
  assert_non_null(r.oos_reputation);
  uint32_t compromised = 0, honest = 0, spammers = 0;
  for (uint32_t v = 0; v < g.n; v++) {
    if (!r.held_out[v]) continue;
    double served = r.scores[v].reputation, oos = r.oos_reputation[v];
    if (g.seed[v] > 0) { /* a spammer: bad either way */
      assert_true(oos > 0.7);
      spammers++;
      continue;
    }
    assert_true(served < 0.05); /* its good label pins the served score */
    bool on_spam_ip = false;
    for (uint64_t e = 0; e < g.m; e++)
      if (g.src[e] == v && g.kind[e] == RG_EDGE_SENT_FROM && g.dst[e] >= 2 + N_GOOD_IPS)
        on_spam_ip = true;
    if (on_spam_ip) { /* out of sample, a compromised account looks like its spam infra */
      assert_true(oos > 0.6);
      compromised++;
    } else {
      assert_true(oos < 0.3);
      honest++;
    }
  }
  assert_int_equal(honest + compromised, 100);
  assert_int_equal(spammers, 25);
  assert_true(compromised > 0 && honest > 0);
  /* Thresholds: tempfail (10%) and quarantine (5%) derived, reject (needs 30000) not. About
   * a tenth of the held-out good are compromised and score like spammers: tempfail may let
   * some of them in, quarantine must sit above nearly all. */
  const rg_thresholds_t *th = &r.thresholds;
  assert_int_equal(th->held_out_good, 100);
  assert_int_equal(th->held_out_bad, 25);
  assert_true(th->derived[RG_VERDICT_TEMPFAIL] && th->derived[RG_VERDICT_QUARANTINE]);
  assert_false(th->derived[RG_VERDICT_REJECT]);
  assert_true(th->fpr[RG_VERDICT_TEMPFAIL] <= 0.1 && th->fpr[RG_VERDICT_QUARANTINE] <= 0.05);
  assert_true(th->at[RG_VERDICT_TEMPFAIL] <= th->at[RG_VERDICT_QUARANTINE]);
  assert_true(th->at[RG_VERDICT_QUARANTINE] <= th->at[RG_VERDICT_REJECT]);
  printf(
      "held out %u good (%u compromised), %u bad; tempfail %.4f (fpr <= %.4f, tpr %.2f), "
      "quarantine %.4f (fpr <= %.4f, tpr %.2f), reject %.2f fixed; calibrate %.2f ms\n",
      th->held_out_good, compromised, th->held_out_bad, th->at[0], th->fpr[0], th->tpr[0],
      th->at[1], th->fpr[1], th->tpr[1], th->at[2], r.timing.calibrate_ms);
  rg_compute_result_free(&r);
  rg_snapshot_free(&g);
}

static void test_calibrate_leaves_the_served_scores_alone(void **state) {
  (void)state;
  rg_graph_t g;
  mail_world(&g, 200, 50);
  rg_compute_opts_t with = world_opts(0.5, 3), without = world_opts(0, 3);
  rg_result_t a, b;
  char err[256];
  assert_int_equal(rg_compute_run(&g, &with, &a, err, sizeof err), 0);
  assert_int_equal(rg_compute_run(&g, &without, &b, err, sizeof err), 0);
  for (uint32_t v = 0; v < g.n; v++) {
    assert_float_equal(a.scores[v].reputation, b.scores[v].reputation, 0);
    assert_int_equal(a.scores[v].band, b.scores[v].band);
  }
  assert_true(a.thresholds.derived[RG_VERDICT_TEMPFAIL]);
  /* nothing held out: no second propagation, fixed thresholds */
  assert_null(b.held_out);
  assert_null(b.oos_reputation);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    assert_false(b.thresholds.derived[l]);
    assert_float_equal(b.thresholds.at[l], without.calibrate.fixed[l], 0);
  }
  rg_compute_result_free(&a);
  rg_compute_result_free(&b);
  rg_snapshot_free(&g);
}

static void test_calibrate_with_too_few_labels_keeps_fixed_and_says_so(void **state) {
  (void)state;
  rg_graph_t g;
  mail_world(&g, 40, 10); /* 10 good held out, tempfail needs 30 */
  rg_compute_opts_t o = world_opts(0.25, 1);
  rg_result_t r;
  char err[256];
  assert_int_equal(rg_compute_run(&g, &o, &r, err, sizeof err), 0);
  assert_int_equal(r.thresholds.held_out_good, 10);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    assert_false(r.thresholds.derived[l]);
    assert_float_equal(r.thresholds.at[l], o.calibrate.fixed[l], 0);
    assert_true(r.thresholds.fpr[l] > 0 && r.thresholds.fpr[l] <= 1);
  }
  rg_compute_result_free(&r);
  rg_snapshot_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_calibrate_upper_bound_matches_clopper_pearson),
      cmocka_unit_test(test_calibrate_needs_the_rule_of_three),
      cmocka_unit_test(test_calibrate_enough_labels_derive_thresholds_within_budget),
      cmocka_unit_test(test_calibrate_too_few_labels_keep_the_fixed_thresholds),
      cmocka_unit_test(test_calibrate_thresholds_stay_monotone),
      cmocka_unit_test(test_calibrate_holdout_is_stratified_and_deterministic),
      cmocka_unit_test(test_calibrate_held_out_actors_are_scored_without_their_label),
      cmocka_unit_test(test_calibrate_leaves_the_served_scores_alone),
      cmocka_unit_test(test_calibrate_with_too_few_labels_keeps_fixed_and_says_so),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
