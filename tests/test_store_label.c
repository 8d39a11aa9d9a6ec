/* test_store_label.c — labels in the store (store_label.c): the latest label with its note
 * and counters, the history with retractions, and the schema 2 upgrade that gives existing
 * labels a history. Single-threaded cmocka tests; each gets a fresh store in a temporary
 * directory (testutil_store.h) and pinned timestamps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lmdb.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define MiB (UINT64_C(1) << 20)
#define T0  INT64_C(1700000000) /* a fixed "now"; no test reads the wall clock */

/* ---- labels ------------------------------------------------------------------------- */

static void test_store_label_put_get_counts_and_note(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  rg_label_t l;
  assert_int_equal(rg_store_get_label(t, a, &l), RG_ENOT_FOUND);
  memset(&l, 0, sizeof l);
  l.verdict = RG_VERDICT_BAD;
  l.source = RG_SOURCE_SPAM_TRAP;
  l.weight = 0.8;
  l.ts = T0;
  strcpy(l.note, "trap hit");
  l.note_len = (uint16_t)strlen(l.note);
  assert_int_equal(rg_store_put_label(t, a, &l), RG_OK);

  rg_label_t got;
  assert_int_equal(rg_store_get_label(t, a, &got), RG_OK);
  assert_int_equal(got.verdict, RG_VERDICT_BAD);
  assert_int_equal(got.source, RG_SOURCE_SPAM_TRAP);
  assert_float_equal(got.weight, 0.8, 0);
  assert_int_equal(got.ts, T0);
  assert_int_equal(got.count, 1);
  assert_int_equal(got.note_len, 8);
  assert_string_equal(got.note, "trap hit");

  memset(&l, 0, sizeof l);
  l.verdict = RG_VERDICT_GOOD;
  l.source = RG_SOURCE_ALLOWLIST;
  l.weight = 1.0;
  l.ts = T0 + 60;
  assert_int_equal(rg_store_put_label(t, a, &l), RG_OK);
  assert_int_equal(rg_store_put_label(t, a, &l), RG_OK);
  assert_int_equal(rg_store_get_label(t, a, &got), RG_OK);
  assert_int_equal(got.verdict, RG_VERDICT_GOOD);
  assert_int_equal(got.source, RG_SOURCE_ALLOWLIST);
  assert_int_equal(got.ts, T0 + 60);
  assert_int_equal(got.count, 3);
  assert_int_equal(got.note_len, 0);
  assert_string_equal(got.note, "");

  /* A note of the maximum length round-trips. */
  memset(&l, 0, sizeof l);
  l.verdict = RG_VERDICT_BAD;
  l.source = RG_SOURCE_FEED;
  memset(l.note, 'n', RG_LABEL_NOTE_MAX);
  l.note_len = RG_LABEL_NOTE_MAX;
  assert_int_equal(rg_store_put_label(t, b, &l), RG_OK);
  assert_int_equal(rg_store_get_label(t, b, &got), RG_OK);
  assert_int_equal(got.note_len, RG_LABEL_NOTE_MAX);
  assert_int_equal(strlen(got.note), RG_LABEL_NOTE_MAX);
  assert_int_equal(got.count, 1);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  assert_int_equal(rg_test_counts(t).labels, 2); /* labelled actors, not label events */
  rg_store_end(t);
}

/* ---- label history and unlabel ------------------------------------------------------- */

typedef struct {
  rg_label_t v[8];
  int n;
} hist_t;

static int collect_label(void *ctx, uint64_t id, const rg_label_t *l) {
  hist_t *h = ctx;
  (void)id;
  if (h->n < 8) h->v[h->n++] = *l;
  return RG_OK;
}

static rg_label_t make_label(rg_verdict_t v, rg_label_source_t src, int64_t ts, const char *note) {
  rg_label_t l = {.verdict = v, .source = src, .weight = 0.5, .ts = ts};
  l.note_len = (uint16_t)strlen(note);
  memcpy(l.note, note, l.note_len);
  return l;
}

static void test_store_label_history_keeps_every_verdict_and_retraction(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  rg_label_t bad = make_label(RG_VERDICT_BAD, RG_SOURCE_USER_REPORT, T0, "junk");
  rg_label_t good = make_label(RG_VERDICT_GOOD, RG_SOURCE_ANALYST, T0 + 10, "not junk");
  assert_int_equal(rg_store_put_label(t, a, &bad), RG_OK);
  assert_int_equal(rg_store_put_label(t, b, &bad), RG_OK); /* b's history is separate */
  assert_int_equal(rg_store_put_label(t, 987654, &bad), RG_ENOT_FOUND); /* no such actor */
  assert_int_equal(rg_store_put_label(t, a, &good), RG_OK);
  assert_int_equal(rg_store_unlabel(t, a, T0 + 20, "wrong", 5), RG_OK);
  assert_int_equal(rg_store_unlabel(t, a, T0 + 30, "", 0), RG_ENOT_FOUND); /* nothing left */
  rg_label_t got;
  assert_int_equal(rg_store_get_label(t, a, &got), RG_ENOT_FOUND); /* no longer a seed */
  assert_int_equal(rg_test_counts(t).labels, 1);                   /* only b */
  hist_t h = {.n = 0};
  assert_int_equal(rg_store_scan_label_history(t, a, collect_label, &h), RG_OK);
  assert_int_equal(h.n, 3); /* newest first */
  assert_int_equal(h.v[2].verdict, RG_VERDICT_BAD);
  assert_int_equal(h.v[2].source, RG_SOURCE_USER_REPORT);
  assert_string_equal(h.v[2].note, "junk");
  assert_int_equal(h.v[1].verdict, RG_VERDICT_GOOD);
  assert_int_equal(h.v[1].count, 2);
  assert_int_equal(h.v[0].verdict, RG_VERDICT_RETRACTED);
  assert_int_equal(h.v[0].ts, T0 + 20);
  assert_string_equal(h.v[0].note, "wrong");
  /* A new verdict after the retraction counts on from the history. */
  assert_int_equal(rg_store_put_label(t, a, &bad), RG_OK);
  assert_int_equal(rg_store_get_label(t, a, &got), RG_OK);
  assert_int_equal(got.count, 4);
  /* forget takes the history with the actor. */
  assert_int_equal(rg_store_forget(t, a), RG_OK);
  h.n = 0;
  assert_int_equal(rg_store_scan_label_history(t, a, collect_label, &h), RG_OK);
  assert_int_equal(h.n, 0);
  h.n = 0;
  assert_int_equal(rg_store_scan_label_history(t, b, collect_label, &h), RG_OK);
  assert_int_equal(h.n, 1);
  assert_int_equal(rg_store_commit(t), RG_OK);
}

/* A schema 2 store had labels but no label history: the upgrade gives each label a history
 * entry at its count, so history shows it and the next label counts on. */
static void test_store_upgrade_from_schema_2_keeps_labels_in_history(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  rg_label_t bad = make_label(RG_VERDICT_BAD, RG_SOURCE_USER_REPORT, T0, "junk");
  rg_label_t good = make_label(RG_VERDICT_GOOD, RG_SOURCE_ANALYST, T0 + 10, "not junk");
  assert_int_equal(rg_store_put_label(t, a, &bad), RG_OK);
  assert_int_equal(rg_store_put_label(t, a, &good), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);
  rg_store_close(f->s);
  f->s = NULL;
  /* what schema 2 had: the label (count 2), no history */
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
  assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "label_log", 0, &dbi), 0);
  assert_int_equal(mdb_drop(txn, dbi, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  rg_test_set_schema_version(f->dir, 2);

  assert_int_equal(rg_test_store_open(f, 4 * MiB, 64 * MiB), RG_OK);
  t = rg_test_wbegin(f);
  hist_t h = {.n = 0};
  assert_int_equal(rg_store_scan_label_history(t, a, collect_label, &h), RG_OK);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.v[0].verdict, RG_VERDICT_GOOD);
  assert_int_equal(h.v[0].count, 2);
  assert_int_equal(rg_store_put_label(t, a, &bad), RG_OK);
  rg_label_t got;
  assert_int_equal(rg_store_get_label(t, a, &got), RG_OK);
  assert_int_equal(got.count, 3); /* counts on, never backwards */
  assert_int_equal(rg_test_counts(t).labels, 1);
  assert_int_equal(rg_store_commit(t), RG_OK);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, rg_test_store_setup, rg_test_store_teardown)
  const struct CMUnitTest tests[] = {
      T(test_store_upgrade_from_schema_2_keeps_labels_in_history),
      T(test_store_label_put_get_counts_and_note),
      T(test_store_label_history_keeps_every_verdict_and_retraction),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
