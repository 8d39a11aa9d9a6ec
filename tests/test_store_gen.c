/* test_store_gen.c — generations in the store (store_gen.c): scores, cluster summaries and
 * the analyst indexes of a generation (members, rankings, clusters by suspicion), scanned
 * and dropped. Single-threaded cmocka tests; each gets a fresh store in a temporary
 * directory (testutil_store.h) and pinned timestamps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define EPS 1e-9

/* ---- generation indexes: members, rankings, clusters by suspicion ---------------------- */

typedef struct {
  uint64_t id[16];
  double value[16];
  int n, stop_after;
} ids_t;

static int collect_member(void *ctx, uint64_t actor, double value) {
  ids_t *c = ctx;
  if (c->n < 16) c->id[c->n] = actor, c->value[c->n++] = value;
  return c->stop_after && c->n == c->stop_after ? 7 : RG_OK;
}

static int collect_cluster(void *ctx, const rg_cluster_t *cl) {
  return collect_member(ctx, cl->id, cl->suspicion);
}

/* Generation gen: actors 1..4 (address, address, ip, address) in clusters 10 and 20, with
 * their index rows appended in key order as recomputation publishes them. */
static void put_generation(rg_txn_t *t, uint64_t gen) {
  static const double rep[] = {0.9, 0.2, 0.7, 0.5}, anom[] = {0.1, 0.8, 0.3, 0.2};
  static const uint64_t cl[] = {10, 20, 10, 10};
  for (int i = 0; i < 4; i++) {
    rg_score_t sc = {.reputation = rep[i], .anomaly = anom[i], .cluster = cl[i]};
    assert_int_equal(rg_store_put_score(t, gen, (uint64_t)i + 1, &sc), RG_OK);
  }
  static const uint64_t members[][2] = {{10, 1}, {10, 3}, {10, 4}, {20, 2}};
  for (int i = 0; i < 4; i++)
    assert_int_equal(rg_store_append_member(t, gen, members[i][0], members[i][1]), RG_OK);
  static const struct {
    rg_rank_metric_t m;
    rg_actor_type_t type;
    double value;
    uint64_t actor;
  } ranks[] = {{RG_RANK_REPUTATION, RG_ACTOR_ADDRESS, 0.2, 2},
               {RG_RANK_REPUTATION, RG_ACTOR_ADDRESS, 0.5, 4},
               {RG_RANK_REPUTATION, RG_ACTOR_ADDRESS, 0.9, 1},
               {RG_RANK_REPUTATION, RG_ACTOR_IP, 0.7, 3},
               {RG_RANK_ANOMALY, RG_ACTOR_ADDRESS, 0.1, 1},
               {RG_RANK_ANOMALY, RG_ACTOR_ADDRESS, 0.2, 4},
               {RG_RANK_ANOMALY, RG_ACTOR_ADDRESS, 0.8, 2},
               {RG_RANK_ANOMALY, RG_ACTOR_IP, 0.3, 3}};
  for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++)
    assert_int_equal(
        rg_store_append_rank(t, gen, ranks[i].m, ranks[i].type, ranks[i].value, ranks[i].actor),
        RG_OK);
  rg_cluster_t a = {.id = 10, .size = 3, .suspicion = 0.7},
               b = {.id = 20, .size = 1, .suspicion = 0.2};
  assert_int_equal(rg_store_put_cluster(t, gen, &b), RG_OK);
  assert_int_equal(rg_store_put_cluster(t, gen, &a), RG_OK);
}

static void test_store_indexes_members_rankings_and_clusters_of_a_generation(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  put_generation(t, 5);
  put_generation(t, 6); /* another generation must not leak into scans of 5 */
  ids_t c = {.n = 0};
  assert_int_equal(rg_store_scan_members(t, 5, 10, 0, collect_member, &c), RG_OK);
  assert_int_equal(c.n, 3);
  assert_int_equal(c.id[0], 1), assert_int_equal(c.id[1], 3), assert_int_equal(c.id[2], 4);
  c.n = 0; /* resuming after a member */
  assert_int_equal(rg_store_scan_members(t, 5, 10, 1, collect_member, &c), RG_OK);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.id[0], 3);
  c.n = 0;
  assert_int_equal(rg_store_scan_members(t, 5, 10, 4, collect_member, &c), RG_OK);
  assert_int_equal(c.n, 0);

  c.n = 0; /* worst addresses by reputation: 1 (0.9), 4 (0.5), 2 (0.2); the ip is elsewhere */
  assert_int_equal(
      rg_store_scan_ranking(t, 5, RG_RANK_REPUTATION, RG_ACTOR_ADDRESS, true, collect_member, &c),
      RG_OK);
  assert_int_equal(c.n, 3);
  assert_int_equal(c.id[0], 1), assert_int_equal(c.id[1], 4), assert_int_equal(c.id[2], 2);
  assert_float_equal(c.value[0], 0.9, EPS);
  c.n = 0; /* best first by anomaly, stopped by the visitor after one */
  c.stop_after = 1;
  assert_int_equal(
      rg_store_scan_ranking(t, 5, RG_RANK_ANOMALY, RG_ACTOR_ADDRESS, false, collect_member, &c), 7);
  assert_int_equal(c.id[0], 1);
  c = (ids_t){.n = 0};
  assert_int_equal(
      rg_store_scan_ranking(t, 5, RG_RANK_REPUTATION, RG_ACTOR_IP, true, collect_member, &c),
      RG_OK);
  assert_int_equal(c.n, 1);
  assert_int_equal(c.id[0], 3);

  c.n = 0;
  assert_int_equal(rg_store_scan_clusters_by_suspicion(t, 5, 0, collect_cluster, &c), RG_OK);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.id[0], 10), assert_int_equal(c.id[1], 20);

  bool done = false; /* dropping generation 5 takes its indexes, in small steps */
  for (int steps = 0; !done; steps++) {
    assert_true(steps < 100);
    assert_int_equal(rg_store_drop_generation(t, 5, 3, &done), RG_OK);
  }
  c.n = 0;
  assert_int_equal(rg_store_scan_members(t, 5, 10, 0, collect_member, &c), RG_OK);
  assert_int_equal(
      rg_store_scan_ranking(t, 5, RG_RANK_REPUTATION, RG_ACTOR_ADDRESS, true, collect_member, &c),
      RG_OK);
  assert_int_equal(rg_store_scan_clusters_by_suspicion(t, 5, 0, collect_cluster, &c), RG_OK);
  assert_int_equal(c.n, 0);
  assert_int_equal(rg_store_scan_members(t, 6, 10, 0, collect_member, &c), RG_OK);
  assert_int_equal(c.n, 3); /* generation 6 untouched */
  /* Appends must come in key order: behind generation 6, a row of 5 is refused. */
  assert_int_equal(rg_store_append_member(t, 5, 10, 9), RG_EINTERNAL);
  assert_int_equal(rg_store_append_rank(t, 6, RG_RANK_REPUTATION, RG_ACTOR_ADDRESS, 0.1, 9),
                   RG_EINTERNAL);
  assert_int_equal(rg_store_commit(t), RG_OK);
}

/* ---- the generation record ---------------------------------------------------------- */

static void test_store_generation_keeps_its_thresholds(void **state) {
  rg_test_store_t *f = *state;
  rg_generation_t g = {.generation = 4,
                       .computed_at = 1700000000,
                       .vertices = 10,
                       .edges = 20,
                       .good_seeds = 3,
                       .thresholds = {.at = {0.31, 0.75, 0.9},
                                      .fpr = {0.009, 0.002, 0.0001},
                                      .tpr = {0.97, 0.5, 0.25},
                                      .held_out_good = 4000,
                                      .held_out_bad = 123,
                                      .derived = {true, false, true}}};
  rg_txn_t *t = rg_test_wbegin(f);
  assert_int_equal(rg_store_publish_generation(t, &g), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);
  rg_test_store_reopen(f, 4 << 20, 64 << 20);
  rg_generation_t back;
  t = rg_test_rbegin(f);
  assert_int_equal(rg_store_get_generation(t, &back), RG_OK);
  rg_store_end(t);
  assert_int_equal(back.generation, 4);
  assert_int_equal(back.good_seeds, 3);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    assert_float_equal(back.thresholds.at[l], g.thresholds.at[l], 0);
    assert_float_equal(back.thresholds.fpr[l], g.thresholds.fpr[l], 0);
    assert_float_equal(back.thresholds.tpr[l], g.thresholds.tpr[l], 0);
    assert_int_equal(back.thresholds.derived[l], g.thresholds.derived[l]);
  }
  assert_int_equal(back.thresholds.held_out_good, 4000);
  assert_int_equal(back.thresholds.held_out_bad, 123);
}

static void test_store_reads_a_generation_written_before_thresholds(void **state) {
  rg_test_store_t *f = *state;
  rg_store_close(f->s);
  f->s = NULL;
  uint8_t old[64]; /* the 8 counters of the first layout, nothing after them */
  for (int i = 0; i < 8; i++) rg_put_u64be(old + 8 * i, (uint64_t)i + 7);
  rg_test_put_meta(f->dir, "generation", old, sizeof old);
  rg_test_store_reopen(f, 4 << 20, 64 << 20);
  rg_generation_t g;
  rg_txn_t *t = rg_test_rbegin(f);
  assert_int_equal(rg_store_get_generation(t, &g), RG_OK);
  assert_int_equal(g.generation, 7);
  assert_int_equal(g.good_seeds, 14);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    assert_false(g.thresholds.derived[l]);
    assert_float_equal(g.thresholds.at[l], 0, 0);
  }
  assert_int_equal(g.thresholds.held_out_good, 0);
  /* a record of any other length is corruption */
  rg_store_end(t);
  rg_store_close(f->s);
  f->s = NULL;
  rg_test_put_meta(f->dir, "generation", old, 63);
  rg_test_store_reopen(f, 4 << 20, 64 << 20);
  t = rg_test_rbegin(f);
  assert_int_equal(rg_store_get_generation(t, &g), RG_EIO);
  rg_store_end(t);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, rg_test_store_setup, rg_test_store_teardown)
  const struct CMUnitTest tests[] = {
      T(test_store_indexes_members_rankings_and_clusters_of_a_generation),
      T(test_store_generation_keeps_its_thresholds),
      T(test_store_reads_a_generation_written_before_thresholds),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
