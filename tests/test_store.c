/* test_store.c — the store's environment (store_env.c): open/reopen and schema checks,
 * foreign files, transactions (aborted, nested, snapshots) and map growth. The graph, labels
 * and generations have test_store_graph.c, test_store_label.c and test_store_gen.c.
 * Single-threaded cmocka tests but for one reader thread racing map growth. Each test gets
 * a fresh store in a temporary directory (mkdtemp under /tmp) that the teardown removes;
 * timestamps are pinned constants. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define MiB (UINT64_C(1) << 20)
#define T0  INT64_C(1700000000)     /* a fixed "now"; no test reads the wall clock */
#define H   RG_TEST_STORE_HALF_LIFE /* half-life of the test stores, seconds */
#define EPS 1e-9

static void write_file(const char *path, const void *data, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, n), (ssize_t)n);
  assert_int_equal(close(fd), 0);
}

static size_t read_file(const char *path, void *data, size_t cap) {
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  ssize_t n = read(fd, data, cap);
  assert_true(n >= 0);
  assert_int_equal(close(fd), 0);
  return (size_t)n;
}

/* ---- open, reopen, schema ----------------------------------------------------------- */

static void test_store_reopen_keeps_actors_edges_and_labels(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1.0, 1), RG_OK);
  rg_label_t l = {.verdict = RG_VERDICT_BAD,
                  .source = RG_SOURCE_ANALYST,
                  .weight = 1.0,
                  .ts = T0,
                  .note_len = 2,
                  .note = "hi"};
  assert_int_equal(rg_store_put_label(t, a, &l), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  rg_test_store_reopen(f, 4 * MiB, 64 * MiB);
  t = rg_test_rbegin(f);
  rg_actor_t aa = rg_test_actor(RG_ACTOR_ADDRESS, "a@x.org");
  uint64_t id = 0;
  assert_int_equal(rg_store_find_actor(t, &aa, &id), RG_OK);
  assert_int_equal(id, a);
  rg_actor_rec_t r = rg_test_get_actor(t, b, T0);
  assert_string_equal(r.actor.key, "b@y.org");
  assert_int_equal(r.in_degree[RG_EDGE_MAILED], 1);
  rg_edge_rec_t e = rg_test_get_edge(t, a, RG_EDGE_MAILED, b, T0);
  assert_int_equal(e.count, 1);
  assert_float_equal(e.weight, 1.0, EPS);
  rg_label_t got;
  assert_int_equal(rg_store_get_label(t, a, &got), RG_OK);
  assert_int_equal(got.verdict, RG_VERDICT_BAD);
  assert_string_equal(got.note, "hi");
  rg_store_counts_t c = rg_test_counts(t);
  assert_int_equal(c.actors[RG_ACTOR_ADDRESS], 2);
  assert_int_equal(c.edges[RG_EDGE_MAILED], 1);
  assert_int_equal(c.labels, 1);
  rg_store_end(t);

  /* New ids continue after the old ones. */
  t = rg_test_wbegin(f);
  uint64_t c3 = rg_test_upsert(t, RG_ACTOR_ADDRESS, "c@z.org", T0);
  assert_int_equal(c3, 3);
  assert_int_equal(rg_store_commit(t), RG_OK);
}

static void test_store_open_creates_missing_directory(void **state) {
  rg_test_store_t *f = *state;
  char sub[128];
  snprintf(sub, sizeof sub, "%s/sub", f->dir);
  rg_store_opts_t o = {.dir = sub, .map_size = MiB, .map_max = 2 * MiB, .half_life_s = H};
  rg_store_t *s = NULL;
  char err[256] = "";
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_OK);
  assert_non_null(s);
  struct stat st;
  assert_int_equal(stat(sub, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  char data[160];
  snprintf(data, sizeof data, "%s/data.mdb", sub);
  assert_int_equal(stat(data, &st), 0);
  assert_float_equal(rg_store_half_life(s), H, 0);
  rg_store_info_t info;
  rg_store_info(s, &info);
  assert_true(info.map_size == MiB);
  assert_true(info.map_max == 2 * MiB);
  assert_true(info.page_size >= 512);
  assert_true(info.used_bytes > 0 && info.used_bytes <= info.map_size);
  assert_int_equal(info.map_grows, 0);
  rg_store_close(s);
}

static void test_store_open_rejects_bad_options(void **state) {
  rg_test_store_t *f = *state;
  rg_store_t *s = (rg_store_t *)1;
  char err[256] = "";
  rg_store_opts_t o = {.dir = f->dir, .map_size = 0, .map_max = MiB, .half_life_s = H};
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_ECONFIG);
  assert_null(s);
  assert_true(strlen(err) > 0);
  o.map_size = 2 * MiB;
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_ECONFIG);
  o = (rg_store_opts_t){.dir = "", .map_size = MiB, .map_max = MiB, .half_life_s = H};
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_ECONFIG);
  o.dir = NULL;
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_ECONFIG);
  assert_null(s);
}

static void test_store_open_reports_unusable_directory(void **state) {
  rg_test_store_t *f = *state;
  char path[128];
  snprintf(path, sizeof path, "%s/plain-file", f->dir);
  write_file(path, "x", 1);
  char sub[160];
  snprintf(sub, sizeof sub, "%s/inside", path); /* a directory under a regular file */
  rg_store_opts_t o = {.dir = sub, .map_size = MiB, .map_max = MiB, .half_life_s = H};
  rg_store_t *s = NULL;
  char err[256] = "";
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_EIO);
  assert_null(s);
  assert_non_null(strstr(err, sub));
}

static void test_store_refuses_other_schema_version(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  assert_int_equal(rg_store_commit(t), RG_OK);
  rg_store_close(f->s);
  f->s = NULL;

  rg_test_set_schema_version(f->dir, RG_STORE_SCHEMA_VERSION + 1);
  rg_store_opts_t o = {.dir = f->dir, .map_size = 4 * MiB, .map_max = 64 * MiB, .half_life_s = H};
  rg_store_t *s = NULL;
  char err[512] = "";
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_ESCHEMA);
  assert_null(s);
  char want[64];
  snprintf(want, sizeof want, "schema version %d", RG_STORE_SCHEMA_VERSION + 1);
  if (!strstr(err, want)) print_error("message: %s\n", err);
  assert_non_null(strstr(err, want));

  /* The refusal changed nothing: with the right version back, the data is there. */
  rg_test_set_schema_version(f->dir, RG_STORE_SCHEMA_VERSION);
  assert_int_equal(rg_test_store_open(f, 4 * MiB, 64 * MiB), RG_OK);
  t = rg_test_rbegin(f);
  rg_actor_t aa = rg_test_actor(RG_ACTOR_ADDRESS, "a@x.org");
  uint64_t id = 0;
  assert_int_equal(rg_store_find_actor(t, &aa, &id), RG_OK);
  assert_int_equal(id, a);
  rg_store_end(t);
}

static void test_store_refuses_store_with_actors_but_no_schema_version(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  rg_test_upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  assert_int_equal(rg_store_commit(t), RG_OK);
  rg_store_close(f->s);
  f->s = NULL;
  rg_test_set_schema_version(f->dir, 0);
  rg_store_opts_t o = {.dir = f->dir, .map_size = 4 * MiB, .map_max = 64 * MiB, .half_life_s = H};
  rg_store_t *s = NULL;
  char err[512] = "";
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_ESCHEMA);
  assert_null(s);
}

static void foreign_file_is_refused(rg_test_store_t *f, const uint8_t *content, size_t n) {
  char sub[128], path[160];
  snprintf(sub, sizeof sub, "%s/foreign-%zu", f->dir, n);
  assert_int_equal(mkdir(sub, 0750), 0);
  snprintf(path, sizeof path, "%s/data.mdb", sub);
  write_file(path, content, n);

  rg_store_opts_t o = {.dir = sub, .map_size = MiB, .map_max = 4 * MiB, .half_life_s = H};
  rg_store_t *s = NULL;
  char err[512] = "";
  int rc = rg_store_open(&o, &s, err, sizeof err);
  if (rc != RG_ESCHEMA) print_error("foreign file of %zu bytes: %s: %s\n", n, rg_err_name(rc), err);
  assert_int_equal(rc, RG_ESCHEMA);
  assert_null(s);
  assert_non_null(strstr(err, sub));

  uint8_t *after = malloc(n + 1);
  assert_non_null(after);
  assert_int_equal(read_file(path, after, n + 1), n);
  assert_memory_equal(after, content, n);
  free(after);
}

static void test_store_refuses_foreign_data_file_and_leaves_it_unchanged(void **state) {
  rg_test_store_t *f = *state;
  static uint8_t big[16384];
  uint32_t x = 12345; /* fixed-seed pseudo-random bytes */
  for (size_t i = 0; i < sizeof big; i++) {
    x = x * 1103515245u + 12345u;
    big[i] = (uint8_t)(x >> 16);
  }
  foreign_file_is_refused(f, big, sizeof big);
  static const char text[] = "this is somebody's notes file, not a database\n";
  foreign_file_is_refused(f, (const uint8_t *)text, sizeof text - 1);
}

static void test_store_refuses_foreign_lmdb_environment_and_leaves_it_unchanged(void **state) {
  rg_test_store_t *f = *state;
  char sub[128], path[160];
  snprintf(sub, sizeof sub, "%s/other-app", f->dir);
  assert_int_equal(mkdir(sub, 0750), 0);
  rg_test_make_foreign_lmdb(sub);

  snprintf(path, sizeof path, "%s/data.mdb", sub);
  static uint8_t before[1 << 16], after[1 << 16];
  size_t n = read_file(path, before, sizeof before);
  assert_true(n > 0 && n < sizeof before);

  rg_store_opts_t o = {.dir = sub, .map_size = MiB, .map_max = 4 * MiB, .half_life_s = H};
  rg_store_t *s = NULL;
  char err[512] = "";
  int rc = rg_store_open(&o, &s, err, sizeof err);
  if (rc != RG_ESCHEMA) print_error("foreign environment: %s: %s\n", rg_err_name(rc), err);
  rg_store_close(s);
  assert_int_equal(rc, RG_ESCHEMA);
  assert_null(s);
  assert_non_null(strstr(err, sub));
  assert_int_equal(read_file(path, after, sizeof after), n);
  assert_memory_equal(after, before, n);
}

/* ---- transactions -------------------------------------------------------------------- */

static void test_store_aborted_write_leaves_nothing(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  rg_store_end(t);
  t = rg_test_wbegin(f);
  uint64_t id = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  assert_int_equal(id, 1); /* the aborted id was never handed out */
  assert_int_equal(rg_store_commit(t), RG_OK);
  t = rg_test_rbegin(f);
  assert_int_equal(rg_test_counts(t).actors[RG_ACTOR_ADDRESS], 1);
  rg_store_end(t);
}

static void test_store_nested_transaction_undoes_only_its_writes(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  rg_txn_t *n = NULL;
  assert_int_equal(rg_store_nested_begin(t, &n), RG_OK);
  uint64_t b = rg_test_upsert(n, RG_ACTOR_ADDRESS, "b@x.org", T0);
  assert_int_equal(rg_store_add_edge(n, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  rg_store_end(n); /* undo this request */
  assert_int_equal(rg_store_nested_begin(t, &n), RG_OK);
  uint64_t c = rg_test_upsert(n, RG_ACTOR_ADDRESS, "c@x.org", T0);
  assert_int_equal(c, 2);
  assert_int_equal(rg_store_commit(n), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  rg_actor_t bb = rg_test_actor(RG_ACTOR_ADDRESS, "b@x.org");
  uint64_t id;
  assert_int_equal(rg_store_find_actor(t, &bb, &id), RG_ENOT_FOUND);
  rg_store_counts_t cn = rg_test_counts(t);
  assert_int_equal(cn.actors[RG_ACTOR_ADDRESS], 2);
  assert_int_equal(rg_test_total_edges(&cn), 0);
  assert_int_equal(rg_test_get_actor(t, a, T0).out_degree[RG_EDGE_MAILED], 0);
  rg_store_end(t);
}

static void test_store_read_snapshot_does_not_see_later_commits(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *r = rg_test_rbegin(f);
  rg_txn_t *t = rg_test_wbegin(f);
  rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  assert_int_equal(rg_store_commit(t), RG_OK);
  assert_int_equal(rg_test_counts(r).actors[RG_ACTOR_ADDRESS], 0);
  rg_store_end(r);
  r = rg_test_rbegin(f);
  assert_int_equal(rg_test_counts(r).actors[RG_ACTOR_ADDRESS], 1);
  rg_store_end(r);
}

/* ---- map growth --------------------------------------------------------------------- */

#define GROW_ACTORS 20000
#define GROW_BATCH  500

/* Writes actors [from, to) in one transaction. RG_OK, or the error after cleaning up. */
static int write_batch(rg_test_store_t *f, int from, int to) {
  rg_txn_t *t = NULL;
  int rc = rg_store_write_begin(f->s, &t);
  if (rc) return rc;
  for (int i = from; i < to; i++) {
    char key[64];
    snprintf(key, sizeof key, "user%06d@a-rather-long-domain-name.example.org", i);
    rg_actor_t a = rg_test_actor(RG_ACTOR_ADDRESS, key);
    uint64_t id;
    rc = rg_store_upsert_actor(t, &a, T0 + i, T0 + i, 1, &id);
    if (rc) {
      rg_store_end(t);
      return rc;
    }
  }
  return rg_store_commit(t); /* frees t in every case */
}

static void test_store_grows_map_when_full_and_keeps_data(void **state) {
  rg_test_store_t *f = *state;
  rg_test_store_reopen(f, MiB, 64 * MiB);
  rg_store_info_t info;
  rg_store_info(f->s, &info);
  assert_true(info.map_size == MiB);
  int full = 0;
  for (int from = 0; from < GROW_ACTORS; from += GROW_BATCH) {
    int rc;
    while ((rc = write_batch(f, from, from + GROW_BATCH)) == RG_ESTORAGE_FULL) {
      full++;
      assert_int_equal(rg_store_grow(f->s), RG_OK);
    }
    assert_int_equal(rc, RG_OK);
  }
  rg_store_info(f->s, &info);
  assert_true(full > 0);
  assert_int_equal(info.map_grows, full);
  assert_true(info.map_size > MiB);
  assert_true(info.map_size <= 64 * MiB);
  assert_true(info.used_bytes <= info.map_size);

  rg_txn_t *t = rg_test_rbegin(f);
  assert_int_equal(rg_test_counts(t).actors[RG_ACTOR_ADDRESS], GROW_ACTORS);
  for (int i = 0; i < GROW_ACTORS; i += 997) {
    char key[64];
    snprintf(key, sizeof key, "user%06d@a-rather-long-domain-name.example.org", i);
    rg_actor_t a = rg_test_actor(RG_ACTOR_ADDRESS, key);
    uint64_t id = 0;
    assert_int_equal(rg_store_find_actor(t, &a, &id), RG_OK);
    assert_int_equal(id, (uint64_t)i + 1); /* failed batches handed out no ids */
    rg_actor_rec_t r = rg_test_get_actor(t, id, T0);
    assert_string_equal(r.actor.key, key);
    assert_int_equal(r.first_seen, T0 + i);
  }
  rg_store_end(t);

  /* Reopening with the original small map size still finds everything. */
  rg_test_store_reopen(f, MiB, 64 * MiB);
  t = rg_test_rbegin(f);
  assert_int_equal(rg_test_counts(t).actors[RG_ACTOR_ADDRESS], GROW_ACTORS);
  rg_store_end(t);
}

static void test_store_grow_is_capped_at_map_max(void **state) {
  rg_test_store_t *f = *state;
  rg_test_store_reopen(f, MiB, 3 * MiB);
  rg_store_info_t info;
  assert_int_equal(rg_store_grow(f->s), RG_OK);
  rg_store_info(f->s, &info);
  assert_true(info.map_size == 2 * MiB);
  assert_int_equal(rg_store_grow(f->s), RG_OK);
  rg_store_info(f->s, &info);
  assert_true(info.map_size == 3 * MiB);
  assert_int_equal(rg_store_grow(f->s), RG_ESTORAGE_FULL);
  rg_store_info(f->s, &info);
  assert_true(info.map_size == 3 * MiB);
  assert_int_equal(info.map_grows, 2);
}

static void test_store_full_at_map_max_refuses_growth_and_keeps_committed_data(void **state) {
  rg_test_store_t *f = *state;
  rg_test_store_reopen(f, MiB, MiB);
  assert_int_equal(rg_store_grow(f->s), RG_ESTORAGE_FULL);
  int committed = 0, rc = RG_OK;
  for (int from = 0; from < GROW_ACTORS && rc == RG_OK; from += 100) {
    rc = write_batch(f, from, from + 100);
    if (rc == RG_OK) committed = from + 100;
  }
  assert_int_equal(rc, RG_ESTORAGE_FULL);
  assert_true(committed > 0);
  assert_int_equal(rg_store_grow(f->s), RG_ESTORAGE_FULL);
  rg_store_info_t info;
  rg_store_info(f->s, &info);
  assert_true(info.map_size == MiB);
  assert_int_equal(info.map_grows, 0);

  rg_txn_t *t = rg_test_rbegin(f);
  assert_int_equal(rg_test_counts(t).actors[RG_ACTOR_ADDRESS], committed);
  rg_store_end(t);
}

typedef struct {
  rg_store_t *s;
  atomic_int started;
  int rc;
} grower_t;

static void *grow_map(void *arg) {
  grower_t *g = arg;
  atomic_store(&g->started, 1);
  g->rc = rg_store_grow(g->s); /* waits until no read transaction is open */
  return NULL;
}

/* The loop thread holds a shared read snapshot and may open another read (stats) while the
 * writer waits to grow the map: the second read must not queue behind the growth — with a
 * writer-preferring lock it did, and the server froze. A watchdog turns a hang into a
 * failure of this program instead of a ctest timeout. */
static void test_store_nested_read_does_not_wait_behind_map_growth(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *outer;
  assert_int_equal(rg_store_read_begin(f->s, &outer), RG_OK);
  grower_t g = {.s = f->s};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, grow_map, &g), 0);
  while (!atomic_load(&g.started)) sched_yield();
  alarm(10);
  for (int i = 0; i < 2000; i++) { /* the grower is soon waiting for the write side */
    rg_txn_t *inner;
    assert_int_equal(rg_store_read_begin(f->s, &inner), RG_OK);
    rg_store_info_t info;
    rg_store_info(f->s, &info);
    assert_int_equal(info.map_grows, 0); /* no growth while `outer` is open */
    rg_store_end(inner);
  }
  rg_store_end(outer);
  assert_int_equal(pthread_join(th, NULL), 0);
  alarm(0);
  assert_int_equal(g.rc, RG_OK);
  rg_store_info_t info;
  rg_store_info(f->s, &info);
  assert_int_equal(info.map_grows, 1);
  assert_true(info.map_size == 8 * MiB);
}

int main(void) {
  rg_log_set_level(RG_LOG_WARN); /* map growth logs at info */
#define T(name) cmocka_unit_test_setup_teardown(name, rg_test_store_setup, rg_test_store_teardown)
  const struct CMUnitTest tests[] = {
      T(test_store_reopen_keeps_actors_edges_and_labels),
      T(test_store_nested_read_does_not_wait_behind_map_growth),
      T(test_store_open_creates_missing_directory),
      T(test_store_open_rejects_bad_options),
      T(test_store_open_reports_unusable_directory),
      T(test_store_refuses_other_schema_version),
      T(test_store_refuses_store_with_actors_but_no_schema_version),
      T(test_store_refuses_foreign_data_file_and_leaves_it_unchanged),
      T(test_store_refuses_foreign_lmdb_environment_and_leaves_it_unchanged),
      T(test_store_aborted_write_leaves_nothing),
      T(test_store_nested_transaction_undoes_only_its_writes),
      T(test_store_read_snapshot_does_not_see_later_commits),
      T(test_store_grows_map_when_full_and_keeps_data),
      T(test_store_grow_is_capped_at_map_max),
      T(test_store_full_at_map_max_refuses_growth_and_keeps_committed_data),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
