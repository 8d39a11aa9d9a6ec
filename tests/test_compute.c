/* test_compute.c — one recomputation (compute.c) over small hand-built graphs with known
 * answers: seeded propagation through infrastructure, victims that inherit nothing, edge
 * weights and decay, label weights, communities, anomalies, determinism, cancellation and
 * the empty graph; and the snapshot loader (snapshot.c) over a temporary store.
 * Single-threaded cmocka tests. Graphs are built by hand with calloc'd arrays (freed with
 * rg_snapshot_free); store fixtures live in a fresh temporary directory the teardown removes.
 * Timestamps are pinned constants; random graphs come from a fixed-seed generator. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h" /* cmocka, rg_test_mkdtemp, rg_test_rmtree */

#include "repgraph/actor.h"
#include "repgraph/compute.h"
#include "repgraph/config.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/score.h"
#include "repgraph/snapshot.h"
#include "repgraph/store.h"

#define NOW INT64_C(1700000000) /* a fixed "now"; no test reads the wall clock */
#define DAY INT64_C(86400)
#define HS  INT64_C(3600) /* half-life of the test stores, seconds */
#define EPS 1e-12
/* Hand-built graphs: actor id = ID_BASE + vertex, so ids differ from vertices. */
#define ID_BASE 1000

/* ---- hand-built graphs ---------------------------------------------------------------- */

typedef struct {
  rg_graph_t g;
  uint32_t cap_n;
  uint64_t cap_m;
} tg_t;

static void tg_init(tg_t *t, uint32_t cap_n, uint64_t cap_m) {
  memset(t, 0, sizeof *t);
  t->cap_n = cap_n;
  t->cap_m = cap_m;
  size_t n = cap_n ? cap_n : 1, m = cap_m ? (size_t)cap_m : 1;
  rg_graph_t *g = &t->g;
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

/* A vertex with plenty of evidence: 10 messages, first seen 30 days ago. */
static uint32_t vtx(tg_t *t, rg_actor_type_t type) {
  rg_graph_t *g = &t->g;
  assert_true(g->n < t->cap_n);
  uint32_t v = g->n++;
  g->actor_id[v] = ID_BASE + v;
  g->type[v] = (uint8_t)type;
  g->messages[v] = 10;
  g->first_seen[v] = NOW - 30 * DAY;
  g->last_seen[v] = NOW;
  return v;
}

static void label(tg_t *t, uint32_t v, int8_t verdict, double weight) {
  rg_graph_t *g = &t->g;
  assert_true(g->seed[v] == 0);
  g->seed[v] = verdict;
  g->seed_weight[v] = weight;
  if (verdict > 0)
    g->bad_seeds++;
  else
    g->good_seeds++;
}

static void edge(tg_t *t, uint32_t src, rg_edge_kind_t kind, uint32_t dst, double w) {
  rg_graph_t *g = &t->g;
  assert_true(g->m < t->cap_m);
  assert_true(src < g->n && dst < g->n);
  g->src[g->m] = src;
  g->dst[g->m] = dst;
  g->kind[g->m] = (uint8_t)kind;
  g->weight[g->m] = w;
  g->m++;
}

/* ---- running ---------------------------------------------------------------------------- */

static rg_compute_opts_t default_opts(void) {
  rg_config_t cfg;
  rg_config_defaults(&cfg);
  rg_compute_opts_t o;
  rg_compute_opts_init(&o, &cfg);
  return o;
}

/* Invariants every successful result satisfies. */
static void check_result(const rg_graph_t *g, const rg_result_t *r) {
  assert_int_equal(r->n, g->n);
  uint64_t members = 0;
  for (uint32_t c = 0; c < r->n_clusters; c++) {
    assert_int_equal(r->clusters[c].id, c + 1);
    members += r->clusters[c].size;
    assert_true(r->clusters[c].n_top <= RG_CLUSTER_TOP_MAX);
    assert_true(r->clusters[c].suspicion >= 0 && r->clusters[c].suspicion <= 1);
  }
  assert_int_equal(members, g->n);
  for (uint32_t v = 0; v < g->n; v++) {
    const rg_score_t *s = &r->scores[v];
    if (!(s->reputation >= 0 && s->reputation <= 1) || !(s->anomaly >= 0 && s->anomaly <= 1))
      print_error("vertex %u: reputation %g anomaly %g\n", v, s->reputation, s->anomaly);
    assert_true(s->reputation >= 0 && s->reputation <= 1);
    assert_true(s->anomaly >= 0 && s->anomaly <= 1);
    assert_true(isfinite(r->bad_mass[v]) && r->bad_mass[v] >= 0);
    assert_true(isfinite(r->good_mass[v]) && r->good_mass[v] >= 0);
    assert_true(s->band >= RG_BAND_GOOD && s->band <= RG_BAND_BAD);
    assert_true(s->propagated == 0 || s->propagated == RG_VERDICT_BAD ||
                s->propagated == RG_VERDICT_GOOD);
    assert_true(s->cluster >= 1 && s->cluster <= r->n_clusters);
    assert_true(s->n_reasons <= RG_REASONS_MAX);
    for (unsigned i = 0; i < s->n_reasons; i++) assert_non_null(rg_reason_name(s->reasons[i].code));
  }
}

static void run_with(const rg_graph_t *g, const rg_compute_opts_t *o, rg_result_t *r) {
  char err[256] = "";
  int rc = rg_compute_run(g, o, r, err, sizeof err);
  if (rc) print_error("rg_compute_run: %s: %s\n", rg_err_name(rc), err);
  assert_int_equal(rc, RG_OK);
  check_result(g, r);
}

static void run(const rg_graph_t *g, rg_result_t *r) {
  rg_compute_opts_t o = default_opts();
  run_with(g, &o, r);
}

static double rep(const rg_result_t *r, uint32_t v) {
  return r->scores[v].reputation;
}

static const rg_reason_t *find_reason(const rg_score_t *s, int code) {
  for (unsigned i = 0; i < s->n_reasons; i++)
    if (s->reasons[i].code == code) return &s->reasons[i];
  return NULL;
}

/* ---- propagation ------------------------------------------------------------------------ */

static void test_compute_bad_seed_taints_shared_infrastructure(void **state) {
  (void)state;
  tg_t t;
  tg_init(&t, 8, 8);
  uint32_t s1 = vtx(&t, RG_ACTOR_ADDRESS), s2 = vtx(&t, RG_ACTOR_ADDRESS);
  uint32_t ip1 = vtx(&t, RG_ACTOR_IP);
  uint32_t h = vtx(&t, RG_ACTOR_ADDRESS), ip2 = vtx(&t, RG_ACTOR_IP);
  label(&t, s1, +1, 1.0);
  label(&t, ip2, -1, 1.0);
  edge(&t, s1, RG_EDGE_SENT_FROM, ip1, 1);
  edge(&t, s2, RG_EDGE_SENT_FROM, ip1, 1);
  edge(&t, h, RG_EDGE_SENT_FROM, ip2, 1);
  rg_result_t r;
  run(&t.g, &r);

  assert_true(rep(&r, s2) > 0.5);
  assert_true(rep(&r, ip1) > 0.5);
  assert_true(rep(&r, h) < 0.5);
  assert_true(rep(&r, s2) > rep(&r, h));
  assert_true(rep(&r, ip1) > rep(&r, h));
  assert_float_equal(rep(&r, s1), 1.0, EPS); /* a full-weight label decides */
  assert_float_equal(rep(&r, ip2), 0.0, EPS);
  assert_int_equal(r.scores[s2].propagated, RG_VERDICT_BAD);
  assert_int_equal(r.scores[ip1].propagated, RG_VERDICT_BAD);
  assert_int_equal(r.scores[h].propagated, RG_VERDICT_GOOD);
  assert_int_equal(r.scores[s2].band, RG_BAND_BAD);
  assert_int_equal(r.scores[h].band, RG_BAND_GOOD);
  /* No path between the two components: no cross-contamination. */
  assert_float_equal(r.good_mass[s2], 0, 0);
  assert_float_equal(r.bad_mass[h], 0, 0);

  /* Reasons: all of s2's bad mass came through ip1, which is bad. */
  const rg_reason_t *top = find_reason(&r.scores[s2], RG_REASON_BAD_NEIGHBOUR);
  assert_non_null(top);
  assert_int_equal(top->aux, t.g.actor_id[ip1]);
  assert_float_equal(top->value, 1.0, 1e-9);
  const rg_reason_t *many = find_reason(&r.scores[s2], RG_REASON_BAD_NEIGHBOURS);
  assert_non_null(many);
  assert_float_equal(many->value, 1, 0);
  assert_int_equal(many->aux, ((uint64_t)RG_EDGE_SENT_FROM << 32) | 1);
  const rg_reason_t *lab = find_reason(&r.scores[s1], RG_REASON_LABELLED);
  assert_non_null(lab);
  assert_int_equal(lab->aux, RG_VERDICT_BAD);
  assert_float_equal(lab->value, 1.0, 0);
  assert_null(find_reason(&r.scores[h], RG_REASON_BAD_NEIGHBOUR));
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

#define VICTIMS 5

static void test_compute_victims_are_not_accomplices(void **state) {
  (void)state;
  tg_t t;
  tg_init(&t, 1 + VICTIMS, VICTIMS);
  uint32_t s = vtx(&t, RG_ACTOR_ADDRESS), v[VICTIMS];
  label(&t, s, +1, 1.0);
  for (int i = 0; i < VICTIMS; i++) {
    v[i] = vtx(&t, RG_ACTOR_ADDRESS);
    edge(&t, s, RG_EDGE_MAILED, v[i], 1);
  }
  rg_result_t r;
  run(&t.g, &r);
  rg_compute_opts_t o = default_opts();
  for (int i = 0; i < VICTIMS; i++) {
    assert_float_equal(r.bad_mass[v[i]], 0, 0);
    assert_float_equal(rep(&r, v[i]), o.prior, EPS);
    assert_int_equal(r.scores[v[i]].propagated, 0);
    assert_int_equal(r.scores[v[i]].band, RG_BAND_NEUTRAL);
    assert_null(find_reason(&r.scores[v[i]], RG_REASON_BAD_NEIGHBOUR));
    assert_null(find_reason(&r.scores[v[i]], RG_REASON_BAD_NEIGHBOURS));
  }
  assert_float_equal(rep(&r, s), 1.0, EPS);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

static void test_compute_co_recipients_of_a_spammer_get_bad_mass(void **state) {
  (void)state;
  tg_t t;
  tg_init(&t, 2 + VICTIMS, 2 * VICTIMS);
  uint32_t s = vtx(&t, RG_ACTOR_ADDRESS), s2 = vtx(&t, RG_ACTOR_ADDRESS), v[VICTIMS];
  label(&t, s, +1, 1.0);
  for (int i = 0; i < VICTIMS; i++) {
    v[i] = vtx(&t, RG_ACTOR_ADDRESS);
    edge(&t, s, RG_EDGE_MAILED, v[i], 1);
    edge(&t, s2, RG_EDGE_MAILED, v[i], 1);
  }
  rg_result_t r;
  run(&t.g, &r);
  assert_true(r.bad_mass[s2] > 0);
  assert_true(rep(&r, s2) > 0.5);
  assert_int_equal(r.scores[s2].propagated, RG_VERDICT_BAD);
  /* the victims themselves still inherit nothing */
  for (int i = 0; i < VICTIMS; i++) assert_float_equal(r.bad_mass[v[i]], 0, 0);
  /* s2's bad mass came through one of the shared recipients */
  const rg_reason_t *top = find_reason(&r.scores[s2], RG_REASON_BAD_NEIGHBOUR);
  assert_non_null(top);
  assert_true(top->aux >= t.g.actor_id[v[0]] && top->aux <= t.g.actor_id[v[VICTIMS - 1]]);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

static void test_compute_disconnected_actor_gets_the_prior(void **state) {
  (void)state;
  tg_t t;
  tg_init(&t, 8, 8);
  uint32_t b = vtx(&t, RG_ACTOR_ADDRESS), ip = vtx(&t, RG_ACTOR_IP);
  uint32_t g = vtx(&t, RG_ACTOR_ADDRESS), ip2 = vtx(&t, RG_ACTOR_IP);
  uint32_t lone = vtx(&t, RG_ACTOR_DOMAIN);
  uint32_t x = vtx(&t, RG_ACTOR_ADDRESS), y = vtx(&t, RG_ACTOR_ADDRESS); /* unlabelled pair */
  label(&t, b, +1, 1.0);
  label(&t, g, -1, 1.0);
  edge(&t, b, RG_EDGE_SENT_FROM, ip, 1);
  edge(&t, g, RG_EDGE_SENT_FROM, ip2, 1);
  edge(&t, x, RG_EDGE_MAILED, y, 1);
  edge(&t, y, RG_EDGE_MAILED, x, 1);
  rg_result_t r;
  run(&t.g, &r);
  rg_compute_opts_t o = default_opts();
  const uint32_t alone[] = {lone, x, y};
  for (int i = 0; i < 3; i++) {
    uint32_t v = alone[i];
    assert_true(isfinite(rep(&r, v)));
    assert_float_equal(rep(&r, v), o.prior, EPS);
    assert_int_equal(r.scores[v].propagated, 0);
    assert_float_equal(r.bad_mass[v], 0, 0);
    assert_float_equal(r.good_mass[v], 0, 0);
    assert_true(isfinite(r.scores[v].anomaly));
  }
  assert_true(r.scores[lone].cluster != r.scores[b].cluster);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

/* An address between a bad-seed IP and a good-seed IP, with the two edge weights given. */
static double between(double w_bad, double w_good) {
  tg_t t;
  tg_init(&t, 3, 2);
  uint32_t a = vtx(&t, RG_ACTOR_ADDRESS), ipb = vtx(&t, RG_ACTOR_IP), ipg = vtx(&t, RG_ACTOR_IP);
  label(&t, ipb, +1, 1.0);
  label(&t, ipg, -1, 1.0);
  edge(&t, a, RG_EDGE_SENT_FROM, ipb, w_bad);
  edge(&t, a, RG_EDGE_SENT_FROM, ipg, w_good);
  rg_result_t r;
  run(&t.g, &r);
  double out = rep(&r, a);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
  return out;
}

/* Symmetry: between a bad and a good seed of equal weight and equal edges, it is undecided.
 * (Its own edge weights do not tip it: reputation measures what reaches an actor from its
 * neighbours' side; test_compute_edge_weights_steer_shared_ips shows where weights act.) */
static void test_compute_actor_between_opposite_seeds_is_undecided(void **state) {
  (void)state;
  assert_float_equal(between(1, 1), 0.5, 1e-9);
  assert_float_equal(between(3, 3), 0.5, 1e-9);
}

/* Two addresses a and b share a bad-seed IP and a good-seed IP with crossed weights:
 * a sits mostly on the bad IP, b mostly on the good one. */
static void crossed(double w_heavy, double w_light, double *rep_a, double *rep_b) {
  tg_t t;
  tg_init(&t, 4, 4);
  uint32_t a = vtx(&t, RG_ACTOR_ADDRESS), b = vtx(&t, RG_ACTOR_ADDRESS);
  uint32_t ipb = vtx(&t, RG_ACTOR_IP), ipg = vtx(&t, RG_ACTOR_IP);
  label(&t, ipb, +1, 1.0);
  label(&t, ipg, -1, 1.0);
  edge(&t, a, RG_EDGE_SENT_FROM, ipb, w_heavy);
  edge(&t, a, RG_EDGE_SENT_FROM, ipg, w_light);
  edge(&t, b, RG_EDGE_SENT_FROM, ipb, w_light);
  edge(&t, b, RG_EDGE_SENT_FROM, ipg, w_heavy);
  rg_result_t r;
  run(&t.g, &r);
  *rep_a = rep(&r, a);
  *rep_b = rep(&r, b);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

static void test_compute_edge_weights_steer_shared_ips(void **state) {
  (void)state;
  double a, b;
  crossed(10, 1, &a, &b);
  assert_true(a > 0.5);
  assert_true(b < 0.5);
  assert_float_equal(a, 1 - b, 1e-9); /* the picture is symmetric */
  double a_swapped, b_swapped;
  crossed(1, 10, &a_swapped, &b_swapped);
  assert_true(a_swapped < 0.5);
  assert_true(b_swapped > 0.5);
  assert_float_equal(a_swapped, b, 1e-9);
  double a_even, b_even;
  crossed(1, 1, &a_even, &b_even);
  assert_float_equal(a_even, 0.5, 1e-9);
  assert_float_equal(b_even, 0.5, 1e-9);
}

static void test_compute_label_weight_is_honoured(void **state) {
  (void)state;
  const double weights[] = {1.0, 0.3, 2.0};
  double got[3];
  for (int i = 0; i < 3; i++) {
    tg_t t;
    tg_init(&t, 4, 3);
    uint32_t s = vtx(&t, RG_ACTOR_ADDRESS), ip = vtx(&t, RG_ACTOR_IP);
    uint32_t g = vtx(&t, RG_ACTOR_ADDRESS), ip2 = vtx(&t, RG_ACTOR_IP);
    label(&t, s, +1, weights[i]);
    label(&t, g, -1, weights[i]);
    edge(&t, s, RG_EDGE_SENT_FROM, ip, 1);
    edge(&t, g, RG_EDGE_SENT_FROM, ip2, 1);
    edge(&t, g, RG_EDGE_SENT_FROM, ip, 0.1); /* some good mass reaches s too */
    rg_result_t r;
    run(&t.g, &r);
    got[i] = rep(&r, s);
    const rg_reason_t *lab = find_reason(&r.scores[s], RG_REASON_LABELLED);
    assert_non_null(lab);
    assert_float_equal(lab->value, weights[i], 0);
    assert_int_equal(lab->aux, RG_VERDICT_BAD);
    if (weights[i] >= 1)
      assert_float_equal(rep(&r, g), 0.0, EPS);
    else
      assert_true(rep(&r, g) > 0 && rep(&r, g) < 0.5);
    rg_compute_result_free(&r);
    rg_snapshot_free(&t.g);
  }
  assert_float_equal(got[0], 1.0, EPS);
  assert_true(got[1] < 1.0 && got[1] > 0.5);
  assert_float_equal(got[2], 1.0, EPS); /* weights above 1 are capped */
}

/* ---- communities ------------------------------------------------------------------------ */

#define GROUP 5

/* Two groups of GROUP addresses that all mail each other and share one IP per group,
 * joined by one mailed edge; every edge has weight w. */
static void two_groups(double w) {
  tg_t t;
  tg_init(&t, 2 * (GROUP + 1), 2 * (GROUP * (GROUP - 1) / 2 + GROUP) + 1);
  uint32_t a[GROUP], b[GROUP];
  for (int i = 0; i < GROUP; i++) a[i] = vtx(&t, RG_ACTOR_ADDRESS);
  uint32_t ipa = vtx(&t, RG_ACTOR_IP);
  for (int i = 0; i < GROUP; i++) b[i] = vtx(&t, RG_ACTOR_ADDRESS);
  uint32_t ipb = vtx(&t, RG_ACTOR_IP);
  for (int i = 0; i < GROUP; i++) {
    for (int j = i + 1; j < GROUP; j++) {
      edge(&t, a[i], RG_EDGE_MAILED, a[j], w);
      edge(&t, b[i], RG_EDGE_MAILED, b[j], w);
    }
    edge(&t, a[i], RG_EDGE_SENT_FROM, ipa, w);
    edge(&t, b[i], RG_EDGE_SENT_FROM, ipb, w);
  }
  edge(&t, a[0], RG_EDGE_MAILED, b[0], w); /* the one bridge */
  label(&t, a[1], +1, 1.0);
  label(&t, b[1], -1, 1.0);
  t.g.first_seen[a[3]] = NOW - 90 * DAY;
  t.g.last_seen[b[4]] = NOW + 5;
  rg_result_t r;
  run(&t.g, &r);

  assert_int_equal(r.n_clusters, 2);
  uint64_t ca = r.scores[a[0]].cluster, cb = r.scores[b[0]].cluster;
  assert_true(ca != cb);
  for (int i = 0; i < GROUP; i++) {
    assert_int_equal(r.scores[a[i]].cluster, ca);
    assert_int_equal(r.scores[b[i]].cluster, cb);
  }
  assert_int_equal(r.scores[ipa].cluster, ca);
  assert_int_equal(r.scores[ipb].cluster, cb);

  const rg_cluster_t *A = &r.clusters[ca - 1], *B = &r.clusters[cb - 1];
  assert_int_equal(A->id, ca);
  assert_int_equal(B->id, cb);
  assert_int_equal(A->size, GROUP + 1);
  assert_int_equal(B->size, GROUP + 1);
  assert_int_equal(A->by_type[RG_ACTOR_ADDRESS], GROUP);
  assert_int_equal(A->by_type[RG_ACTOR_IP], 1);
  assert_int_equal(A->by_type[RG_ACTOR_DOMAIN], 0);
  assert_int_equal(B->by_type[RG_ACTOR_ADDRESS], GROUP);
  assert_int_equal(B->by_type[RG_ACTOR_IP], 1);
  assert_int_equal(A->bad_seeds, 1);
  assert_int_equal(A->good_seeds, 0);
  assert_int_equal(B->bad_seeds, 0);
  assert_int_equal(B->good_seeds, 1);
  assert_true(A->mean_reputation > B->mean_reputation);
  assert_true(A->suspicion > B->suspicion);
  assert_int_equal(A->first_seen, NOW - 90 * DAY);
  assert_int_equal(A->last_seen, NOW);
  assert_int_equal(B->first_seen, NOW - 30 * DAY);
  assert_int_equal(B->last_seen, NOW + 5);
  /* Top members: actor ids, most suspicious first; the bad seed (reputation 1) leads. */
  assert_int_equal(A->n_top, GROUP + 1);
  assert_int_equal(A->top[0], t.g.actor_id[a[1]]);
  for (unsigned i = 1; i < A->n_top; i++) {
    uint32_t prev = (uint32_t)(A->top[i - 1] - ID_BASE), cur = (uint32_t)(A->top[i] - ID_BASE);
    assert_true(rep(&r, prev) >= rep(&r, cur));
  }
  assert_int_equal(B->top[B->n_top - 1], t.g.actor_id[b[1]]); /* the good seed comes last */
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

static void test_compute_two_dense_groups_make_two_clusters(void **state) {
  (void)state;
  two_groups(1.0);
}

/* Decayed weights are mostly far below 1: communities must not depend on the scale
 * (igraph 0.10.2's weighted label propagation ignores edges lighter than 1; Louvain does not). */
static void test_compute_clusters_survive_decayed_weights(void **state) {
  (void)state;
  two_groups(0.001);
  two_groups(1e-7);
}

static void test_compute_cluster_keeps_only_the_top_members(void **state) {
  (void)state;
  /* One star of 20 addresses on one IP: a single cluster whose top list is full and sorted. */
  tg_t t;
  tg_init(&t, 21, 20);
  uint32_t ip = vtx(&t, RG_ACTOR_IP), a[20];
  for (int i = 0; i < 20; i++) {
    a[i] = vtx(&t, RG_ACTOR_ADDRESS);
    edge(&t, a[i], RG_EDGE_SENT_FROM, ip, 1);
  }
  label(&t, a[7], +1, 1.0);
  label(&t, a[3], -1, 0.9);
  rg_result_t r;
  run(&t.g, &r);
  assert_int_equal(r.n_clusters, 1);
  const rg_cluster_t *c = &r.clusters[0];
  assert_int_equal(c->size, 21);
  assert_int_equal(c->n_top, RG_CLUSTER_TOP_MAX);
  assert_int_equal(c->top[0], t.g.actor_id[a[7]]);
  for (unsigned i = 1; i < c->n_top; i++)
    assert_true(rep(&r, (uint32_t)(c->top[i - 1] - ID_BASE)) >=
                rep(&r, (uint32_t)(c->top[i] - ID_BASE)));
  /* nobody outside the list is more suspicious than its last member */
  double last = rep(&r, (uint32_t)(c->top[c->n_top - 1] - ID_BASE));
  for (uint32_t v = 0; v < t.g.n; v++) {
    bool listed = false;
    for (unsigned i = 0; i < c->n_top; i++) listed |= c->top[i] == t.g.actor_id[v];
    if (!listed) assert_true(rep(&r, v) <= last);
  }
  for (unsigned i = 0; i < c->n_top; i++) assert_true(c->top[i] != t.g.actor_id[a[3]]);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

/* ---- anomalies -------------------------------------------------------------------------- */

#define NORMAL  50
#define BLASTED 200

static void test_compute_mass_mailer_without_replies_is_most_anomalous(void **state) {
  (void)state;
  tg_t t;
  tg_init(&t, NORMAL * 3 + 1 + BLASTED, NORMAL * 4 + BLASTED);
  /* 50 ordinary senders, each mails 2 recipients who write back */
  for (int i = 0; i < NORMAL; i++) {
    uint32_t s = vtx(&t, RG_ACTOR_ADDRESS);
    for (int k = 0; k < 2; k++) {
      uint32_t rc = vtx(&t, RG_ACTOR_ADDRESS);
      edge(&t, s, RG_EDGE_MAILED, rc, 1);
      edge(&t, rc, RG_EDGE_MAILED, s, 1);
    }
  }
  /* one sender mails 200 recipients who never answer */
  uint32_t x = vtx(&t, RG_ACTOR_ADDRESS);
  for (int k = 0; k < BLASTED; k++) edge(&t, x, RG_EDGE_MAILED, vtx(&t, RG_ACTOR_ADDRESS), 1);
  rg_result_t r;
  run(&t.g, &r);

  for (uint32_t v = 0; v < t.g.n; v++)
    if (v != x && !(r.scores[x].anomaly > r.scores[v].anomaly))
      print_error("vertex %u anomaly %g >= mass mailer's %g\n", v, r.scores[v].anomaly,
                  r.scores[x].anomaly);
  for (uint32_t v = 0; v < t.g.n; v++)
    if (v != x) assert_true(r.scores[x].anomaly > r.scores[v].anomaly);
  assert_true(r.scores[x].anomaly > 0.9);

  const rg_reason_t *fan = find_reason(&r.scores[x], RG_REASON_FANOUT);
  const rg_reason_t *recip = find_reason(&r.scores[x], RG_REASON_LOW_RECIPROCITY);
  assert_true(fan || recip);
  if (fan) {
    assert_float_equal(fan->value, BLASTED, 0);
    print_message("      fanout reason: %g recipients, typical %llu\n", fan->value,
                  (unsigned long long)fan->aux);
  }
  if (recip) {
    assert_float_equal(recip->value, 0, 0); /* nobody wrote back */
    assert_int_equal(recip->aux, BLASTED);
  }
  /* An ordinary sender gets no anomaly reason. */
  for (unsigned i = 0; i < r.scores[0].n_reasons; i++) {
    int code = r.scores[0].reasons[i].code;
    assert_true(code != RG_REASON_FANOUT && code != RG_REASON_LOW_RECIPROCITY);
  }
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

/* Anomaly reasons report the population's typical count (aux) as an integer: with every
 * ordinary sender mailing exactly 2 recipients, "typical" must read 2 (compute.c must round
 * expm1(median) rather than truncate it: expm1(log1p(2)) is 1.9999999999999996). */
#define TRIANGLES 20

static void test_compute_fanout_reason_reports_the_typical_count(void **state) {
  (void)state;
  tg_t t;
  tg_init(&t, 3 * TRIANGLES + 1 + BLASTED, 6 * TRIANGLES + BLASTED);
  for (int i = 0; i < TRIANGLES; i++) { /* three friends who all write to each other */
    uint32_t a = vtx(&t, RG_ACTOR_ADDRESS), b = vtx(&t, RG_ACTOR_ADDRESS),
             c = vtx(&t, RG_ACTOR_ADDRESS);
    edge(&t, a, RG_EDGE_MAILED, b, 1), edge(&t, b, RG_EDGE_MAILED, a, 1);
    edge(&t, b, RG_EDGE_MAILED, c, 1), edge(&t, c, RG_EDGE_MAILED, b, 1);
    edge(&t, a, RG_EDGE_MAILED, c, 1), edge(&t, c, RG_EDGE_MAILED, a, 1);
  }
  uint32_t x = vtx(&t, RG_ACTOR_ADDRESS);
  for (int k = 0; k < BLASTED; k++) edge(&t, x, RG_EDGE_MAILED, vtx(&t, RG_ACTOR_ADDRESS), 1);
  rg_result_t r;
  run(&t.g, &r);
  const rg_reason_t *found = find_reason(&r.scores[x], RG_REASON_FANOUT);
  rg_reason_t fan = found ? *found : (rg_reason_t){0, 0, 0};
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
  assert_int_equal(fan.code, RG_REASON_FANOUT);
  assert_float_equal(fan.value, BLASTED, 0);
  if (fan.aux != 2)
    print_error("typical fan-out reported as %llu, want 2\n", (unsigned long long)fan.aux);
  assert_int_equal(fan.aux, 2);
}

#define MANY_IPS 40

static void test_compute_many_ips_reason_reports_the_typical_count(void **state) {
  (void)state;
  tg_t t;
  tg_init(&t, 3 * TRIANGLES + 1 + MANY_IPS, 2 * TRIANGLES + MANY_IPS);
  for (int i = 0; i < TRIANGLES; i++) { /* ordinary senders use two IPs each */
    uint32_t a = vtx(&t, RG_ACTOR_ADDRESS);
    edge(&t, a, RG_EDGE_SENT_FROM, vtx(&t, RG_ACTOR_IP), 1);
    edge(&t, a, RG_EDGE_SENT_FROM, vtx(&t, RG_ACTOR_IP), 1);
  }
  uint32_t x = vtx(&t, RG_ACTOR_ADDRESS);
  for (int k = 0; k < MANY_IPS; k++) edge(&t, x, RG_EDGE_SENT_FROM, vtx(&t, RG_ACTOR_IP), 1);
  rg_result_t r;
  run(&t.g, &r);
  const rg_reason_t *found = find_reason(&r.scores[x], RG_REASON_MANY_IPS);
  rg_reason_t ips = found ? *found : (rg_reason_t){0, 0, 0};
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
  assert_int_equal(ips.code, RG_REASON_MANY_IPS);
  assert_float_equal(ips.value, MANY_IPS, 0);
  if (ips.aux != 2)
    print_error("typical IP count reported as %llu, want 2\n", (unsigned long long)ips.aux);
  assert_int_equal(ips.aux, 2);
}

static void test_compute_little_evidence_is_neutral_with_a_reason(void **state) {
  (void)state;
  tg_t t;
  tg_init(&t, 3, 2);
  uint32_t s = vtx(&t, RG_ACTOR_ADDRESS), ip = vtx(&t, RG_ACTOR_IP), n = vtx(&t, RG_ACTOR_ADDRESS);
  label(&t, s, +1, 1.0);
  edge(&t, s, RG_EDGE_SENT_FROM, ip, 1);
  edge(&t, n, RG_EDGE_SENT_FROM, ip, 1);
  t.g.messages[n] = 1;
  t.g.first_seen[n] = NOW - 2 * HS;
  rg_result_t r;
  run(&t.g, &r);
  assert_true(rep(&r, n) > 0.8);
  assert_int_equal(r.scores[n].band, RG_BAND_NEUTRAL);
  const rg_reason_t *le = find_reason(&r.scores[n], RG_REASON_LITTLE_EVIDENCE);
  assert_non_null(le);
  assert_float_equal(le->value, 1, 0);
  assert_int_equal(le->aux, 2);
  assert_int_equal(r.scores[s].band, RG_BAND_BAD);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

/* ---- determinism, cancellation, edge cases ---------------------------------------------- */

static uint64_t lcg_state;
static uint32_t lcg(uint32_t bound) {
  lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)((lcg_state >> 33) % bound);
}

/* A random mail graph: `n_addr` addresses, n_addr/4 IPs, n_addr/8 domains, `m` edges of
 * mixed kinds, a few labels. Fixed seed. */
static void random_graph(tg_t *t, uint32_t n_addr, uint64_t m, uint64_t seed) {
  lcg_state = seed;
  uint32_t n_ip = n_addr / 4 + 1, n_dom = n_addr / 8 + 1;
  tg_init(t, n_addr + n_ip + n_dom, m);
  for (uint32_t i = 0; i < n_addr; i++) vtx(t, RG_ACTOR_ADDRESS);
  for (uint32_t i = 0; i < n_ip; i++) vtx(t, RG_ACTOR_IP);
  for (uint32_t i = 0; i < n_dom; i++) vtx(t, RG_ACTOR_DOMAIN);
  for (uint32_t v = 0; v < t->g.n; v++) t->g.first_seen[v] = NOW - (int64_t)lcg(60 * 24) * HS;
  for (uint64_t e = 0; e < m; e++) {
    uint32_t s = lcg(n_addr), k = lcg(10);
    double w = 0.1 + lcg(1000) / 100.0;
    if (k < 6)
      edge(t, s, RG_EDGE_MAILED, lcg(n_addr), w);
    else if (k < 9)
      edge(t, s, RG_EDGE_SENT_FROM, n_addr + lcg(n_ip), w);
    else
      edge(t, s, RG_EDGE_USES_DOMAIN, n_addr + n_ip + lcg(n_dom), w);
  }
  for (uint32_t i = 0; i < n_addr / 50 + 2; i++) {
    uint32_t v = lcg(t->g.n);
    if (!t->g.seed[v]) label(t, v, i % 3 ? -1 : +1, 0.3 + lcg(8) / 10.0);
  }
}

/* a and b agree to a relative 1e-9 (see test_compute_is_deterministic). */
static void assert_close(double a, double b) {
  if (!(fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b)) + 1e-15))
    print_error("%.17g and %.17g differ\n", a, b);
  assert_true(fabs(a - b) <= 1e-9 * (fabs(a) + fabs(b)) + 1e-15);
}

static void test_compute_is_deterministic(void **state) {
  (void)state;
  tg_t t;
  random_graph(&t, 400, 1500, 42);
  rg_result_t r1, r2;
  run(&t.g, &r1);
  run(&t.g, &r2);
  /* Communities and anomalies are exactly reproducible. */
  assert_int_equal(r1.n_clusters, r2.n_clusters);
  assert_true(r1.n_clusters > 1);
  for (uint32_t v = 0; v < t.g.n; v++) {
    assert_int_equal(r1.scores[v].cluster, r2.scores[v].cluster);
    assert_true(r1.scores[v].anomaly == r2.scores[v].anomaly);
    assert_int_equal(r1.scores[v].band, r2.scores[v].band);
    assert_int_equal(r1.scores[v].propagated, r2.scores[v].propagated);
    assert_int_equal(r1.scores[v].n_reasons, r2.scores[v].n_reasons);
    for (unsigned i = 0; i < r1.scores[v].n_reasons; i++) {
      assert_int_equal(r1.scores[v].reasons[i].code, r2.scores[v].reasons[i].code);
      assert_close(r1.scores[v].reasons[i].value, r2.scores[v].reasons[i].value);
    }
    /* Reputations and masses come from igraph's PRPACK, which Debian builds with OpenMP:
     * run to run they agree to ~1e-13, not bit for bit, when more than one thread runs. */
    assert_close(r1.scores[v].reputation, r2.scores[v].reputation);
    assert_close(r1.bad_mass[v], r2.bad_mass[v]);
    assert_close(r1.good_mass[v], r2.good_mass[v]);
  }
  for (uint32_t c = 0; c < r1.n_clusters; c++) {
    assert_int_equal(r1.clusters[c].size, r2.clusters[c].size);
    assert_int_equal(r1.clusters[c].bad_seeds, r2.clusters[c].bad_seeds);
    assert_close(r1.clusters[c].suspicion, r2.clusters[c].suspicion);
  }
  rg_compute_result_free(&r1);
  rg_compute_result_free(&r2);
  rg_snapshot_free(&t.g);
}

#define CANCEL_ADDRS 2000

/* igraph 0.10.2 checks interruption in Louvain on every level, even on 2 vertices, so a set
 * flag always stops the run there (PRPACK never checks: propagation runs to the end). */
static void test_compute_cancelled_run_stops(void **state) {
  (void)state;
  tg_t t;
  random_graph(&t, CANCEL_ADDRS, 4 * CANCEL_ADDRS, 7);
  atomic_int cancel;
  atomic_init(&cancel, 1);
  rg_compute_opts_t o = default_opts();
  o.cancel = &cancel;
  rg_result_t r;
  memset(&r, 0xab, sizeof r);
  char err[256] = "";
  int rc = rg_compute_run(&t.g, &o, &r, err, sizeof err);
  assert_int_equal(rc, RG_ESHUTTING_DOWN);
  assert_true(strlen(err) > 0);
  assert_null(r.scores); /* nothing left for the caller to free */
  assert_null(r.clusters);
  assert_int_equal(r.n, 0);
  rg_compute_result_free(&r);

  /* The flag belongs to that run only: the next run without it completes. */
  atomic_store(&cancel, 0);
  run_with(&t.g, &o, &r);
  rg_compute_result_free(&r);
  o.cancel = NULL;
  run_with(&t.g, &o, &r);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

static void test_compute_empty_graph(void **state) {
  (void)state;
  rg_graph_t g;
  memset(&g, 0, sizeof g);
  g.now = NOW;
  rg_result_t r;
  run(&g, &r);
  assert_int_equal(r.n, 0);
  assert_int_equal(r.n_clusters, 0);
  rg_compute_result_free(&r);
  rg_compute_result_free(&r); /* a freed (zeroed) result may be freed again */
  rg_compute_result_free(NULL);

  /* allocated but empty arrays, as a snapshot of an empty store has */
  tg_t t;
  tg_init(&t, 0, 0);
  run(&t.g, &r);
  assert_int_equal(r.n, 0);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

static void test_compute_single_isolated_seed(void **state) {
  (void)state;
  tg_t t;
  tg_init(&t, 1, 0);
  uint32_t s = vtx(&t, RG_ACTOR_ADDRESS);
  label(&t, s, +1, 0.5);
  rg_result_t r;
  run(&t.g, &r);
  assert_true(rep(&r, s) > 0.5 && rep(&r, s) < 1);
  assert_int_equal(r.n_clusters, 1);
  rg_compute_result_free(&r);
  rg_snapshot_free(&t.g);
}

/* ---- snapshots from a store --------------------------------------------------------------- */

typedef struct {
  char *dir;
  rg_store_t *s;
} fx_t;

static int setup_store(void **state) {
  fx_t *f = calloc(1, sizeof *f);
  if (!f) return -1;
  f->dir = rg_test_mkdtemp();
  rg_store_opts_t o = {.dir = f->dir,
                       .map_size = UINT64_C(4) << 20,
                       .map_max = UINT64_C(64) << 20,
                       .half_life_s = (double)HS};
  char err[256] = "";
  int rc = rg_store_open(&o, &f->s, err, sizeof err);
  if (rc) print_error("rg_store_open(%s): %s: %s\n", f->dir, rg_err_name(rc), err);
  *state = f;
  return rc ? -1 : 0;
}

static int teardown_store(void **state) {
  fx_t *f = *state;
  if (!f) return 0;
  rg_store_close(f->s);
  rg_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static rg_txn_t *wbegin(fx_t *f) {
  rg_txn_t *t = NULL;
  assert_int_equal(rg_store_write_begin(f->s, &t), RG_OK);
  return t;
}

static uint64_t upsert(rg_txn_t *t, rg_actor_type_t type, const char *raw, int64_t ts) {
  rg_actor_t a;
  assert_int_equal(rg_actor_normalize(type, raw, strlen(raw), &a, NULL), RG_OK);
  uint64_t id = 0;
  assert_int_equal(rg_store_upsert_actor(t, &a, ts, ts, 1, &id), RG_OK);
  return id;
}

static void put_label(rg_txn_t *t, uint64_t id, rg_verdict_t verdict, rg_label_source_t src,
                      double weight) {
  rg_label_t l;
  memset(&l, 0, sizeof l);
  l.verdict = verdict;
  l.source = src;
  l.weight = weight;
  l.ts = NOW;
  assert_int_equal(rg_store_put_label(t, id, &l), RG_OK);
}

static uint32_t vertex_of(const rg_graph_t *g, uint64_t id) {
  for (uint32_t v = 0; v < g->n; v++)
    if (g->actor_id[v] == id) return v;
  fail_msg("actor %llu is not in the snapshot", (unsigned long long)id);
  return UINT32_MAX;
}

/* The weight of edge src -kind-> dst in the snapshot (fails if absent or repeated). */
static double snap_weight(const rg_graph_t *g, uint64_t src, rg_edge_kind_t kind, uint64_t dst) {
  int found = 0;
  double w = 0;
  for (uint64_t e = 0; e < g->m; e++)
    if (g->actor_id[g->src[e]] == src && g->actor_id[g->dst[e]] == dst && g->kind[e] == kind)
      found++, w = g->weight[e];
  assert_int_equal(found, 1);
  return w;
}

static void test_snapshot_maps_ids_and_copies_labels_as_seeds(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", NOW - DAY);
  uint64_t gone = upsert(t, RG_ACTOR_ADDRESS, "gone@x.org", NOW - DAY);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", NOW - 2 * DAY);
  uint64_t ip = upsert(t, RG_ACTOR_IP, "192.0.2.1", NOW);
  uint64_t dom = upsert(t, RG_ACTOR_DOMAIN, "x.org", NOW);
  upsert(t, RG_ACTOR_ADDRESS, "a@x.org", NOW); /* a second message from a */
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, NOW, 2.0, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, NOW, 1.0, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_USES_DOMAIN, dom, NOW, 0.5, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, gone, RG_EDGE_MAILED, b, NOW, 1.0, 1), RG_OK);
  put_label(t, a, RG_VERDICT_BAD, RG_SOURCE_ANALYST, 1.0);
  put_label(t, ip, RG_VERDICT_GOOD, RG_SOURCE_ALLOWLIST, 0.7);
  put_label(t, dom, RG_VERDICT_BAD, RG_SOURCE_FEED, 0.5);
  put_label(t, gone, RG_VERDICT_BAD, RG_SOURCE_ANALYST, 1.0);
  assert_int_equal(rg_store_commit(t), RG_OK);
  t = wbegin(f);
  assert_int_equal(rg_store_forget(t, gone), RG_OK); /* leaves a hole in the ids */
  assert_int_equal(rg_store_commit(t), RG_OK);

  rg_graph_t g;
  assert_int_equal(rg_snapshot_load(f->s, NOW, &g), RG_OK);
  assert_int_equal(g.now, NOW);
  assert_int_equal(g.n, 4);
  assert_int_equal(g.m, 3);
  /* dense vertices, each actor once */
  uint32_t va = vertex_of(&g, a), vb = vertex_of(&g, b), vip = vertex_of(&g, ip),
           vdom = vertex_of(&g, dom);
  assert_true(va != vb && va != vip && va != vdom && vb != vip && vb != vdom && vip != vdom);
  for (uint32_t v = 0; v < g.n; v++) assert_true(g.actor_id[v] != gone);
  assert_int_equal(g.type[va], RG_ACTOR_ADDRESS);
  assert_int_equal(g.type[vip], RG_ACTOR_IP);
  assert_int_equal(g.type[vdom], RG_ACTOR_DOMAIN);
  assert_int_equal(g.first_seen[va], NOW - DAY);
  assert_int_equal(g.last_seen[va], NOW);
  assert_int_equal(g.first_seen[vb], NOW - 2 * DAY);
  assert_true(g.messages[va] >= 2);
  for (uint64_t e = 0; e < g.m; e++) assert_true(g.src[e] < g.n && g.dst[e] < g.n);
  assert_float_equal(snap_weight(&g, a, RG_EDGE_MAILED, b), 2.0, 1e-9);
  assert_float_equal(snap_weight(&g, a, RG_EDGE_SENT_FROM, ip), 1.0, 1e-9);
  assert_float_equal(snap_weight(&g, a, RG_EDGE_USES_DOMAIN, dom), 0.5, 1e-9);
  /* labels become seeds */
  assert_int_equal(g.seed[va], 1);
  assert_float_equal(g.seed_weight[va], 1.0, 0);
  assert_int_equal(g.seed[vip], -1);
  assert_float_equal(g.seed_weight[vip], 0.7, 0);
  assert_int_equal(g.seed[vdom], 1);
  assert_float_equal(g.seed_weight[vdom], 0.5, 0);
  assert_int_equal(g.seed[vb], 0);
  assert_float_equal(g.seed_weight[vb], 0, 0);
  assert_int_equal(g.bad_seeds, 2);
  assert_int_equal(g.good_seeds, 1);

  /* and the snapshot computes */
  rg_result_t r;
  run(&g, &r);
  assert_true(r.scores[va].reputation > 0.99);
  rg_compute_result_free(&r);
  rg_snapshot_free(&g);
  rg_snapshot_free(&g); /* zeroed by the first free */
  rg_snapshot_free(NULL);
}

static void test_snapshot_decays_old_edges(void **state) {
  fx_t *f = *state;
  const int64_t old = NOW - 100 * HS; /* a hundred half-lives ago */
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", old);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", old);
  uint64_t ipb = upsert(t, RG_ACTOR_IP, "192.0.2.1", old);
  uint64_t ipg = upsert(t, RG_ACTOR_IP, "198.51.100.1", old);
  /* a is on the bad IP now and was on the good IP long ago; b the other way round */
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ipb, NOW, 1.0, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ipg, old, 1.0, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, b, RG_EDGE_SENT_FROM, ipg, NOW, 1.0, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, b, RG_EDGE_SENT_FROM, ipb, old, 1.0, 1), RG_OK);
  put_label(t, ipb, RG_VERDICT_BAD, RG_SOURCE_ANALYST, 1.0);
  put_label(t, ipg, RG_VERDICT_GOOD, RG_SOURCE_ANALYST, 1.0);
  assert_int_equal(rg_store_commit(t), RG_OK);

  rg_graph_t g;
  assert_int_equal(rg_snapshot_load(f->s, NOW, &g), RG_OK);
  double fresh = snap_weight(&g, a, RG_EDGE_SENT_FROM, ipb);
  double stale = snap_weight(&g, a, RG_EDGE_SENT_FROM, ipg);
  assert_float_equal(fresh, 1.0, 1e-9);
  assert_true(stale >= 0 && stale < 1e-20 * fresh);
  assert_float_equal(stale, ldexp(1.0, -100), 1e-40);

  rg_result_t r;
  run(&g, &r);
  double ra = r.scores[vertex_of(&g, a)].reputation, rb = r.scores[vertex_of(&g, b)].reputation;
  assert_true(ra > 0.9);
  assert_true(rb < 0.1);
  rg_compute_result_free(&r);
  rg_snapshot_free(&g);

  /* Loaded ten half-lives later, the fresh edge has halved ten times. */
  assert_int_equal(rg_snapshot_load(f->s, NOW + 10 * HS, &g), RG_OK);
  assert_float_equal(snap_weight(&g, a, RG_EDGE_SENT_FROM, ipb), ldexp(1.0, -10), 1e-12);
  rg_snapshot_free(&g);
}

static void test_snapshot_of_empty_store_computes(void **state) {
  fx_t *f = *state;
  rg_graph_t g;
  assert_int_equal(rg_snapshot_load(f->s, NOW, &g), RG_OK);
  assert_int_equal(g.n, 0);
  assert_int_equal(g.m, 0);
  assert_int_equal(g.bad_seeds + g.good_seeds, 0);
  rg_result_t r;
  run(&g, &r);
  assert_int_equal(r.n, 0);
  rg_compute_result_free(&r);
  rg_snapshot_free(&g);
}

int main(void) {
  rg_log_set_level(RG_LOG_WARN);
#define S(name) cmocka_unit_test_setup_teardown(name, setup_store, teardown_store)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_compute_bad_seed_taints_shared_infrastructure),
      cmocka_unit_test(test_compute_victims_are_not_accomplices),
      cmocka_unit_test(test_compute_co_recipients_of_a_spammer_get_bad_mass),
      cmocka_unit_test(test_compute_disconnected_actor_gets_the_prior),
      cmocka_unit_test(test_compute_actor_between_opposite_seeds_is_undecided),
      cmocka_unit_test(test_compute_edge_weights_steer_shared_ips),
      cmocka_unit_test(test_compute_label_weight_is_honoured),
      cmocka_unit_test(test_compute_two_dense_groups_make_two_clusters),
      cmocka_unit_test(test_compute_clusters_survive_decayed_weights),
      cmocka_unit_test(test_compute_cluster_keeps_only_the_top_members),
      cmocka_unit_test(test_compute_mass_mailer_without_replies_is_most_anomalous),
      cmocka_unit_test(test_compute_fanout_reason_reports_the_typical_count),
      cmocka_unit_test(test_compute_many_ips_reason_reports_the_typical_count),
      cmocka_unit_test(test_compute_little_evidence_is_neutral_with_a_reason),
      cmocka_unit_test(test_compute_is_deterministic),
      cmocka_unit_test(test_compute_cancelled_run_stops),
      cmocka_unit_test(test_compute_empty_graph),
      cmocka_unit_test(test_compute_single_isolated_seed),
      S(test_snapshot_maps_ids_and_copies_labels_as_seeds),
      S(test_snapshot_decays_old_edges),
      S(test_snapshot_of_empty_store_computes),
  };
#undef S
  return cmocka_run_group_tests(tests, NULL, NULL);
}
