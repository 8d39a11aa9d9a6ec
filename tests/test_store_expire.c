/* test_store_expire.c — retention in the store (store_expire.c): sweeps in bounded slices
 * that delete edges not seen since a cut-off, retract old labels and delete the actors left
 * with neither; and forget removing an actor from the stored generations (store_gen.c).
 * Single-threaded cmocka tests; each gets a fresh store in a temporary directory
 * (testutil_store.h), with the clock pinned so the edges' times are known. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define NOW      1700000000
#define DAY      86400
#define N_SENDER 400 /* each mails 5 recipients: 2000 edges */

/* Runs a whole sweep pass, one write transaction per slice; returns the totals and checks
 * that no slice deleted more than its budget. */
static rg_expire_counts_t sweep(rg_test_store_t *f, const rg_expire_opts_t *o, uint32_t *slices) {
  rg_expire_cursor_t cur = {0};
  rg_expire_counts_t total = {0};
  *slices = 0;
  while (cur.phase != RG_EXPIRE_DONE) {
    rg_expire_counts_t n = {0};
    rg_txn_t *t = rg_test_wbegin(f);
    assert_int_equal(rg_store_expire_slice(t, o, &cur, &n), RG_OK);
    assert_int_equal(rg_store_commit(t), RG_OK);
    assert_true(n.edges + n.labels <= o->max_deletes);
    assert_true(n.visited <= o->max_visits);
    total.edges += n.edges, total.labels += n.labels, total.actors += n.actors;
    total.visited += n.visited;
    assert_true(++*slices < 100000);
  }
  return total;
}

/* Senders s0..s399 mail r0..r49; the edges of the odd senders were last seen 60 days ago,
 * the even ones' today (with the pinned clock). */
static void build_half_old(rg_test_store_t *f) {
  rg_clock_pin(NOW);
  rg_txn_t *t = rg_test_wbegin(f);
  char key[64];
  for (int i = 0; i < N_SENDER; i++) {
    int64_t ts = i % 2 ? rg_clock_now() - 60 * DAY : rg_clock_now();
    snprintf(key, sizeof key, "s%d@example.org", i);
    uint64_t s = rg_test_upsert(t, RG_ACTOR_ADDRESS, key, ts);
    for (int j = 0; j < 5; j++) {
      snprintf(key, sizeof key, "r%d@example.net", (i + j) % 50); /* shared with evens */
      uint64_t r = rg_test_upsert(t, RG_ACTOR_ADDRESS, key, ts);
      assert_int_equal(rg_store_add_edge(t, s, RG_EDGE_MAILED, r, ts, 1.0, 1), RG_OK);
    }
  }
  assert_int_equal(rg_store_commit(t), RG_OK);
}

static int count_edge(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                      const rg_edge_rec_t *rec) {
  (void)src, (void)kind, (void)dst;
  uint64_t *n = ctx;
  if (rec->last_seen < NOW - 30 * DAY) return -1; /* an expired edge survived */
  (*n)++;
  return RG_OK;
}

typedef struct {
  rg_txn_t *t;
  uint64_t n;
} actor_check_t;

/* Every actor left has an edge, and its degrees match its edges. */
static int check_actor(void *ctx, uint64_t id, const rg_actor_rec_t *rec) {
  actor_check_t *a = ctx;
  rg_test_seen_t out = rg_test_scan_out(a->t, id, NOW), in = rg_test_scan_in(a->t, id, NOW);
  assert_true(out.n + in.n > 0);
  assert_int_equal(rec->out_degree[RG_EDGE_MAILED], out.n);
  assert_int_equal(rec->in_degree[RG_EDGE_MAILED], in.n);
  a->n++;
  return RG_OK;
}

static void test_expire_sweep_halves_a_store_with_half_its_edges_old(void **state) {
  rg_test_store_t *f = *state;
  build_half_old(f);
  rg_txn_t *t = rg_test_rbegin(f);
  rg_store_counts_t before = rg_test_counts(t);
  rg_store_end(t);
  assert_int_equal(rg_test_total_edges(&before), N_SENDER * 5);
  assert_int_equal(before.actors[RG_ACTOR_ADDRESS], N_SENDER + 50);

  rg_expire_opts_t o = {.edges = true,
                        .edges_before = rg_clock_now() - 30 * DAY,
                        .now = rg_clock_now(),
                        .max_deletes = 64,
                        .max_visits = 640};
  uint32_t slices;
  rg_expire_counts_t n = sweep(f, &o, &slices);
  assert_int_equal(n.edges, N_SENDER * 5 / 2);
  assert_int_equal(n.actors, N_SENDER / 2); /* the odd senders; every recipient kept one */
  assert_true(slices >= n.edges / o.max_deletes);

  t = rg_test_rbegin(f);
  rg_store_counts_t after = rg_test_counts(t);
  assert_int_equal(rg_test_total_edges(&after), N_SENDER * 5 / 2);
  assert_int_equal(after.actors[RG_ACTOR_ADDRESS], N_SENDER / 2 + 50);
  uint64_t edges = 0;
  assert_int_equal(rg_store_scan_out(t, 0, NOW, count_edge, &edges), RG_OK);
  assert_int_equal(edges, N_SENDER * 5 / 2);
  actor_check_t ac = {t, 0};
  assert_int_equal(rg_store_scan_actors(t, NOW, check_actor, &ac), RG_OK);
  assert_int_equal(ac.n, N_SENDER / 2 + 50);
  uint64_t id;
  rg_actor_t odd = rg_test_actor(RG_ACTOR_ADDRESS, "s1@example.org");
  rg_actor_t even = rg_test_actor(RG_ACTOR_ADDRESS, "s2@example.org");
  assert_int_equal(rg_store_find_actor(t, &odd, &id), RG_ENOT_FOUND);
  assert_int_equal(rg_store_find_actor(t, &even, &id), RG_OK);
  rg_store_end(t);

  n = sweep(f, &o, &slices); /* a second pass finds nothing more */
  assert_int_equal(n.edges + n.actors, 0);
  rg_clock_pin(0);
}

static void test_expire_keeps_labelled_actors_and_retracts_old_labels(void **state) {
  rg_test_store_t *f = *state;
  build_half_old(f);
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t s1, s3, s5;
  rg_actor_t a1 = rg_test_actor(RG_ACTOR_ADDRESS, "s1@example.org");
  rg_actor_t a3 = rg_test_actor(RG_ACTOR_ADDRESS, "s3@example.org");
  rg_actor_t a5 = rg_test_actor(RG_ACTOR_ADDRESS, "s5@example.org");
  assert_int_equal(rg_store_find_actor(t, &a1, &s1), RG_OK);
  assert_int_equal(rg_store_find_actor(t, &a3, &s3), RG_OK);
  assert_int_equal(rg_store_find_actor(t, &a5, &s5), RG_OK);
  rg_label_t recent = {
      .verdict = RG_VERDICT_BAD, .source = RG_SOURCE_ANALYST, .weight = 1, .ts = NOW - DAY};
  rg_label_t old = recent;
  old.ts = NOW - 400 * DAY;
  assert_int_equal(rg_store_put_label(t, s1, &recent), RG_OK); /* old edges, recent label */
  assert_int_equal(rg_store_put_label(t, s3, &old), RG_OK);    /* old edges, old label */
  assert_int_equal(rg_store_commit(t), RG_OK);

  /* Edges only: both labelled actors stay (s1's and s3's labels hold them), s5 goes. */
  rg_expire_opts_t o = {.edges = true,
                        .edges_before = NOW - 30 * DAY,
                        .now = NOW,
                        .max_deletes = 50,
                        .max_visits = 500};
  uint32_t slices;
  rg_expire_counts_t n = sweep(f, &o, &slices);
  assert_int_equal(n.actors, N_SENDER / 2 - 2);
  uint64_t id;
  t = rg_test_rbegin(f);
  assert_int_equal(rg_store_find_actor(t, &a1, &id), RG_OK);
  assert_int_equal(rg_store_find_actor(t, &a3, &id), RG_OK);
  assert_int_equal(rg_store_find_actor(t, &a5, &id), RG_ENOT_FOUND);
  rg_test_seen_t out = rg_test_scan_out(t, s1, NOW);
  assert_int_equal(out.n, 0);
  rg_store_end(t);

  /* Labels after 365 days: s3's label is retracted, and s3, left with nothing, goes. */
  o = (rg_expire_opts_t){.labels = true,
                         .labels_before = NOW - 365 * DAY,
                         .now = NOW,
                         .max_deletes = 50,
                         .max_visits = 500};
  n = sweep(f, &o, &slices);
  assert_int_equal(n.labels, 1);
  assert_int_equal(n.actors, 1);
  assert_int_equal(n.edges, 0);
  t = rg_test_rbegin(f);
  rg_label_t l;
  assert_int_equal(rg_store_find_actor(t, &a1, &id), RG_OK);
  assert_int_equal(rg_store_get_label(t, s1, &l), RG_OK);
  assert_int_equal(rg_store_find_actor(t, &a3, &id), RG_ENOT_FOUND);
  assert_int_equal(rg_test_counts(t).labels, 1);
  rg_store_end(t);
  rg_clock_pin(0);
}

/* ---- forget and the stored generations ------------------------------------------------- */

static int collect_id(void *ctx, uint64_t actor, double value) {
  (void)value;
  uint64_t *ids = ctx;
  if (ids[0] < 15) ids[++ids[0]] = actor;
  return RG_OK;
}

static bool has(const uint64_t *ids, uint64_t id) {
  for (uint64_t i = 1; i <= ids[0]; i++)
    if (ids[i] == id) return true;
  return false;
}

static void test_forget_removes_the_actor_from_every_stored_generation(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@example.org", NOW);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@example.org", NOW);
  uint64_t ip = rg_test_upsert(t, RG_ACTOR_IP, "192.0.2.1", NOW);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, NOW, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, b, RG_EDGE_SENT_FROM, ip, NOW, 1, 1), RG_OK);
  for (uint64_t gen = 1; gen <= 2; gen++) { /* the generation before last and the current */
    const uint64_t ids[] = {a, b, ip};
    const double rep[] = {0.9, 0.3, 0.7};
    for (int i = 0; i < 3; i++) {
      rg_score_t sc = {.reputation = rep[i], .anomaly = rep[i] / 2, .cluster = 7};
      assert_int_equal(rg_store_put_score(t, gen, ids[i], &sc), RG_OK);
    }
    rg_cluster_t c = {.id = 7, .size = 3, .suspicion = 0.8, .n_top = 2, .top = {a, ip}};
    c.by_type[RG_ACTOR_ADDRESS] = 2, c.by_type[RG_ACTOR_IP] = 1;
    assert_int_equal(rg_store_put_cluster(t, gen, &c), RG_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(rg_store_append_member(t, gen, 7, ids[i]), RG_OK);
    assert_int_equal(rg_store_append_rank(t, gen, RG_RANK_REPUTATION, RG_ACTOR_ADDRESS, 0.3, b),
                     RG_OK);
    assert_int_equal(rg_store_append_rank(t, gen, RG_RANK_REPUTATION, RG_ACTOR_ADDRESS, 0.9, a),
                     RG_OK);
    assert_int_equal(rg_store_append_rank(t, gen, RG_RANK_ANOMALY, RG_ACTOR_ADDRESS, 0.15, b),
                     RG_OK);
    assert_int_equal(rg_store_append_rank(t, gen, RG_RANK_ANOMALY, RG_ACTOR_ADDRESS, 0.45, a),
                     RG_OK);
  }
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_wbegin(f);
  assert_int_equal(rg_store_forget(t, a), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  for (uint64_t gen = 1; gen <= 2; gen++) {
    rg_score_t sc;
    rg_cluster_t c;
    uint64_t ids[16] = {0};
    assert_int_equal(rg_store_get_score(t, gen, a, &sc), RG_ENOT_FOUND);
    assert_int_equal(rg_store_get_score(t, gen, b, &sc), RG_OK);
    assert_int_equal(rg_store_scan_members(t, gen, 7, 0, collect_id, ids), RG_OK);
    assert_int_equal(ids[0], 2);
    assert_false(has(ids, a));
    assert_true(has(ids, b) && has(ids, ip));
    for (int m = RG_RANK_REPUTATION; m <= RG_RANK_ANOMALY; m++) {
      memset(ids, 0, sizeof ids);
      assert_int_equal(rg_store_scan_ranking(t, gen, m, RG_ACTOR_ADDRESS, true, collect_id, ids),
                       RG_OK);
      assert_int_equal(ids[0], 1);
      assert_int_equal(ids[1], b);
    }
    assert_int_equal(rg_store_get_cluster(t, gen, 7, &c), RG_OK);
    assert_int_equal(c.size, 2);
    assert_int_equal(c.by_type[RG_ACTOR_ADDRESS], 1);
    assert_int_equal(c.n_top, 1);
    assert_int_equal(c.top[0], ip);
  }
  rg_store_end(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_expire_sweep_halves_a_store_with_half_its_edges_old,
                                      rg_test_store_setup, rg_test_store_teardown),
      cmocka_unit_test_setup_teardown(test_expire_keeps_labelled_actors_and_retracts_old_labels,
                                      rg_test_store_setup, rg_test_store_teardown),
      cmocka_unit_test_setup_teardown(test_forget_removes_the_actor_from_every_stored_generation,
                                      rg_test_store_setup, rg_test_store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
