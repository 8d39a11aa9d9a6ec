/* test_store_genrows.c — a generation's rows as stored (store_genrows.c), for cluster
 * adoption: scanned from one store and written into another they give the same scores,
 * clusters, indexes, model and generation records; rows that do not fit their table or
 * generation are refused; older generations are dropped. Single-threaded cmocka tests; each
 * gets two fresh stores in temporary directories (testutil_store.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define MAX_ROWS 32

typedef struct {
  int n;
  struct {
    rg_genrow_t table;
    uint8_t key[64], val[4096];
    size_t klen, vlen;
  } row[MAX_ROWS];
} rows_t;

static int collect(void *ctx, rg_genrow_t table, const uint8_t *key, size_t klen,
                   const uint8_t *val, size_t vlen) {
  rows_t *r = ctx;
  assert_true(r->n < MAX_ROWS && klen <= 64 && vlen <= 4096);
  r->row[r->n].table = table;
  memcpy(r->row[r->n].key, key, klen);
  memcpy(r->row[r->n].val, val, vlen);
  r->row[r->n].klen = klen;
  r->row[r->n].vlen = vlen;
  r->n++;
  return RG_OK;
}

/* Generation gen with actors 1 and 2 in cluster 7, their index rows, and (publish) the
 * generation and model records. */
static void put_generation(rg_txn_t *t, uint64_t gen, bool publish) {
  for (uint64_t a = 1; a <= 2; a++) {
    rg_score_t sc = {.reputation = 0.4 * (double)a, .anomaly = 0.1, .cluster = 7, .band = 2};
    assert_int_equal(rg_store_put_score(t, gen, a, &sc), RG_OK);
    assert_int_equal(rg_store_append_member(t, gen, 7, a), RG_OK);
  }
  for (uint64_t a = 1; a <= 2; a++)
    assert_int_equal(rg_store_append_rank(t, gen, RG_RANK_REPUTATION, RG_ACTOR_ADDRESS,
                                          0.4 * (double)a, a),
                     RG_OK);
  rg_cluster_t c = {.id = 7, .size = 2, .suspicion = 0.6, .n_top = 1, .top = {2}};
  assert_int_equal(rg_store_put_cluster(t, gen, &c), RG_OK);
  if (!publish) return;
  rg_generation_t g = {.generation = gen, .computed_at = 1700000000, .vertices = 2, .clusters = 1};
  g.thresholds.at[0] = 0.55;
  assert_int_equal(rg_store_publish_generation(t, &g), RG_OK);
  rg_model_eval_t ev = {0};
  memset(&ev, 0, sizeof ev);
  assert_int_equal(rg_store_put_model(t, &ev, "model of the test"), RG_OK);
}

static void test_genrows_copy_a_generation_to_another_store(void **state) {
  rg_test_store_t *a = *state;
  void *bs = NULL; /* the second store, the adopting replica's */
  assert_int_equal(rg_test_store_setup(&bs), 0);
  rg_txn_t *t = rg_test_wbegin(a);
  put_generation(t, 3, true);
  assert_int_equal(rg_store_commit(t), RG_OK);

  rows_t rows = {0};
  t = rg_test_rbegin(a);
  assert_int_equal(rg_store_scan_generation_rows(t, 2, collect, &rows), RG_ENOT_FOUND);
  assert_int_equal(rg_store_scan_generation_rows(t, 3, collect, &rows), RG_OK);
  rg_store_end(t);
  /* 2 scores, 1 cluster, 2 members, 2 rankings, 1 cluster ranking, the model, then the flip */
  assert_int_equal(rows.n, 10);
  assert_int_equal(rows.row[rows.n - 1].table, RG_GENROW_GENERATION);
  assert_int_equal(rows.row[rows.n - 2].table, RG_GENROW_MODEL);

  t = rg_test_wbegin(bs);
  put_generation(t, 1, false); /* older generations the adoption drops, keeping the last */
  put_generation(t, 2, true);
  for (int i = 0; i < rows.n; i++)
    assert_int_equal(rg_store_put_generation_row(t, 3, rows.row[i].table, rows.row[i].key,
                                                 rows.row[i].klen, rows.row[i].val,
                                                 rows.row[i].vlen),
                     RG_OK);
  assert_int_equal(rg_store_drop_generations_below(t, 2), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  rg_txn_t *ta = rg_test_rbegin(a), *tb = rg_test_rbegin(bs);
  rg_generation_t ga, gb;
  assert_int_equal(rg_store_get_generation(ta, &ga), RG_OK);
  assert_int_equal(rg_store_get_generation(tb, &gb), RG_OK);
  assert_int_equal(gb.generation, 3);
  assert_memory_equal(&ga, &gb, sizeof ga);
  rg_score_t x, y;
  assert_int_equal(rg_store_get_score(ta, 3, 2, &x), RG_OK);
  assert_int_equal(rg_store_get_score(tb, 3, 2, &y), RG_OK);
  assert_memory_equal(&x, &y, sizeof x);
  rg_cluster_t ca, cb;
  assert_int_equal(rg_store_get_cluster(tb, 3, 7, &cb), RG_OK);
  assert_int_equal(rg_store_get_cluster(ta, 3, 7, &ca), RG_OK);
  assert_memory_equal(&ca, &cb, sizeof ca);
  char note[64];
  rg_model_eval_t ev;
  assert_int_equal(rg_store_get_model(tb, &ev, note, sizeof note), RG_OK);
  assert_string_equal(note, "model of the test");
  assert_int_equal(rg_store_get_score(tb, 1, 1, &y), RG_ENOT_FOUND); /* dropped */
  assert_int_equal(rg_store_get_score(tb, 2, 1, &y), RG_OK);         /* kept */
  rows_t again = {0};
  assert_int_equal(rg_store_scan_generation_rows(tb, 3, collect, &again), RG_OK);
  assert_int_equal(again.n, rows.n);
  rg_store_end(ta);
  rg_store_end(tb);
  assert_int_equal(rg_test_store_teardown(&bs), 0);
}

static void test_genrows_refuses_rows_that_do_not_fit(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  put_generation(t, 4, true);
  rows_t rows = {0};
  assert_int_equal(rg_store_scan_generation_rows(t, 4, collect, &rows), RG_OK);
  const uint8_t *k = rows.row[0].key, *v = rows.row[0].val;
  size_t kl = rows.row[0].klen, vl = rows.row[0].vlen;
  assert_int_equal(rows.row[0].table, RG_GENROW_SCORE);
  /* a key of generation 4 offered as generation 5's, a short key, an unknown table */
  assert_int_equal(rg_store_put_generation_row(t, 5, RG_GENROW_SCORE, k, kl, v, vl),
                   RG_EBAD_REQUEST);
  assert_int_equal(rg_store_put_generation_row(t, 4, RG_GENROW_SCORE, k, kl - 1, v, vl),
                   RG_EBAD_REQUEST);
  assert_int_equal(rg_store_put_generation_row(t, 4, (rg_genrow_t)99, k, kl, v, vl),
                   RG_EBAD_REQUEST);
  const int last = rows.n - 1; /* the generation record of 4 offered as 5's, or cut short */
  assert_int_equal(rg_store_put_generation_row(t, 5, RG_GENROW_GENERATION, rows.row[last].key,
                                               rows.row[last].klen, rows.row[last].val,
                                               rows.row[last].vlen),
                   RG_EBAD_REQUEST);
  assert_int_equal(rg_store_put_generation_row(t, 4, RG_GENROW_GENERATION, rows.row[last].key,
                                               rows.row[last].klen, rows.row[last].val, 20),
                   RG_EBAD_REQUEST);
  rg_store_end(t); /* aborts */
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, rg_test_store_setup, rg_test_store_teardown)
  const struct CMUnitTest tests[] = {
      T(test_genrows_copy_a_generation_to_another_store),
      T(test_genrows_refuses_rows_that_do_not_fit),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
