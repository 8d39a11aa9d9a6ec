/* test_store.c — the LMDB graph store of store.c: open/reopen and schema checks, actor
 * interning, edges with decayed weights, labels, forget, counters and map growth.
 * Single-threaded cmocka tests. Each test gets a fresh store in a temporary directory
 * (mkdtemp under /tmp) that the teardown removes; timestamps are pinned constants. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <lmdb.h>
#include <ftw.h>
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
#define T0  INT64_C(1700000000) /* a fixed "now"; no test reads the wall clock */
#define H   3600.0              /* half-life of the test stores, seconds */
#define HS  INT64_C(3600)
#define EPS 1e-9

/* ---- fixture ---------------------------------------------------------------------- */

typedef struct {
  char dir[64];
  rg_store_t *s;
} fx_t;

static int open_store(fx_t *f, uint64_t map_size, uint64_t map_max) {
  rg_store_opts_t o = {.dir = f->dir, .map_size = map_size, .map_max = map_max, .half_life_s = H};
  char err[512] = "";
  int rc = rg_store_open(&o, &f->s, err, sizeof err);
  if (rc) print_error("rg_store_open(%s): %s: %s\n", f->dir, rg_err_name(rc), err);
  return rc;
}

static void reopen(fx_t *f, uint64_t map_size, uint64_t map_max) {
  rg_store_close(f->s);
  f->s = NULL;
  assert_int_equal(open_store(f, map_size, map_max), RG_OK);
}

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof *f);
  if (!f) return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/rg-test-store-XXXXXX");
  if (!mkdtemp(f->dir)) {
    free(f);
    return -1;
  }
  *state = f;
  return open_store(f, 4 * MiB, 64 * MiB) == RG_OK ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int teardown(void **state) {
  fx_t *f = *state;
  if (!f) return 0;
  rg_store_close(f->s);
  int rc = nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  free(f);
  return rc;
}

/* ---- helpers ---------------------------------------------------------------------- */

static rg_actor_t actor(rg_actor_type_t type, const char *key) {
  rg_actor_t a;
  memset(&a, 0, sizeof a);
  a.type = type;
  a.len = (uint16_t)strlen(key);
  memcpy(a.key, key, a.len);
  return a;
}

static rg_txn_t *wbegin(fx_t *f) {
  rg_txn_t *t = NULL;
  assert_int_equal(rg_store_write_begin(f->s, &t), RG_OK);
  return t;
}

static rg_txn_t *rbegin(fx_t *f) {
  rg_txn_t *t = NULL;
  assert_int_equal(rg_store_read_begin(f->s, &t), RG_OK);
  return t;
}

static uint64_t upsert(rg_txn_t *t, rg_actor_type_t type, const char *key, int64_t ts) {
  rg_actor_t a = actor(type, key);
  uint64_t id = 0;
  assert_int_equal(rg_store_upsert_actor(t, &a, ts, ts, 1, &id), RG_OK);
  assert_true(id != 0);
  return id;
}

static rg_actor_rec_t get_actor(rg_txn_t *t, uint64_t id, int64_t now) {
  rg_actor_rec_t r;
  assert_int_equal(rg_store_get_actor(t, id, now, &r), RG_OK);
  return r;
}

static rg_edge_rec_t get_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                              int64_t now) {
  rg_edge_rec_t e;
  assert_int_equal(rg_store_get_edge(t, src, kind, dst, now, &e), RG_OK);
  return e;
}

static rg_store_counts_t counts(rg_txn_t *t) {
  rg_store_counts_t c;
  assert_int_equal(rg_store_counts(t, &c), RG_OK);
  return c;
}

static uint64_t total_edges(const rg_store_counts_t *c) {
  uint64_t n = 0;
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) n += c->edges[k];
  return n;
}

/* Edges seen by a scan. */
typedef struct {
  size_t n;
  struct {
    uint64_t src, dst;
    rg_edge_kind_t kind;
    rg_edge_rec_t rec;
  } e[32];
} seen_t;

static int collect(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                   const rg_edge_rec_t *rec) {
  seen_t *s = ctx;
  if (s->n >= sizeof s->e / sizeof s->e[0]) return -1;
  s->e[s->n].src = src;
  s->e[s->n].dst = dst;
  s->e[s->n].kind = kind;
  s->e[s->n].rec = *rec;
  s->n++;
  return 0;
}

static seen_t scan_out(rg_txn_t *t, uint64_t id, int64_t now) {
  seen_t s = {0};
  assert_int_equal(rg_store_scan_out(t, id, now, collect, &s), RG_OK);
  return s;
}

static seen_t scan_in(rg_txn_t *t, uint64_t id, int64_t now) {
  seen_t s = {0};
  assert_int_equal(rg_store_scan_in(t, id, now, collect, &s), RG_OK);
  return s;
}

static void assert_degrees(const rg_actor_rec_t *r, const uint32_t out[RG_EDGE_KIND_COUNT],
                           const uint32_t in[RG_EDGE_KIND_COUNT]) {
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) {
    if (r->out_degree[k] != out[k] || r->in_degree[k] != in[k])
      print_error("%s kind %d: out %u in %u, want %u %u\n", r->actor.key, k, r->out_degree[k],
                  r->in_degree[k], out[k], in[k]);
    assert_int_equal(r->out_degree[k], out[k]);
    assert_int_equal(r->in_degree[k], in[k]);
  }
}

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
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1.0, 1), RG_OK);
  rg_label_t l = {.verdict = RG_VERDICT_BAD,
                  .source = RG_SOURCE_ANALYST,
                  .weight = 1.0,
                  .ts = T0,
                  .note_len = 2,
                  .note = "hi"};
  assert_int_equal(rg_store_put_label(t, a, &l), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  reopen(f, 4 * MiB, 64 * MiB);
  t = rbegin(f);
  rg_actor_t aa = actor(RG_ACTOR_ADDRESS, "a@x.org");
  uint64_t id = 0;
  assert_int_equal(rg_store_find_actor(t, &aa, &id), RG_OK);
  assert_int_equal(id, a);
  rg_actor_rec_t r = get_actor(t, b, T0);
  assert_string_equal(r.actor.key, "b@y.org");
  assert_int_equal(r.in_degree[RG_EDGE_MAILED], 1);
  rg_edge_rec_t e = get_edge(t, a, RG_EDGE_MAILED, b, T0);
  assert_int_equal(e.count, 1);
  assert_float_equal(e.weight, 1.0, EPS);
  rg_label_t got;
  assert_int_equal(rg_store_get_label(t, a, &got), RG_OK);
  assert_int_equal(got.verdict, RG_VERDICT_BAD);
  assert_string_equal(got.note, "hi");
  rg_store_counts_t c = counts(t);
  assert_int_equal(c.actors[RG_ACTOR_ADDRESS], 2);
  assert_int_equal(c.edges[RG_EDGE_MAILED], 1);
  assert_int_equal(c.labels, 1);
  rg_txn_end(t);

  /* New ids continue after the old ones. */
  t = wbegin(f);
  uint64_t c3 = upsert(t, RG_ACTOR_ADDRESS, "c@z.org", T0);
  assert_int_equal(c3, 3);
  assert_int_equal(rg_txn_commit(t), RG_OK);
}

static void test_store_open_creates_missing_directory(void **state) {
  fx_t *f = *state;
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
  fx_t *f = *state;
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
  fx_t *f = *state;
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
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  assert_int_equal(rg_txn_commit(t), RG_OK);
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
  assert_int_equal(open_store(f, 4 * MiB, 64 * MiB), RG_OK);
  t = rbegin(f);
  rg_actor_t aa = actor(RG_ACTOR_ADDRESS, "a@x.org");
  uint64_t id = 0;
  assert_int_equal(rg_store_find_actor(t, &aa, &id), RG_OK);
  assert_int_equal(id, a);
  rg_txn_end(t);
}

static void test_store_refuses_store_with_actors_but_no_schema_version(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  assert_int_equal(rg_txn_commit(t), RG_OK);
  rg_store_close(f->s);
  f->s = NULL;
  rg_test_set_schema_version(f->dir, 0);
  rg_store_opts_t o = {.dir = f->dir, .map_size = 4 * MiB, .map_max = 64 * MiB, .half_life_s = H};
  rg_store_t *s = NULL;
  char err[512] = "";
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_ESCHEMA);
  assert_null(s);
}

static void foreign_file_is_refused(fx_t *f, const uint8_t *content, size_t n) {
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
  fx_t *f = *state;
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
  fx_t *f = *state;
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

/* ---- actors ------------------------------------------------------------------------- */

static void test_store_upsert_actor_creates_id_once(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  rg_actor_t a = actor(RG_ACTOR_ADDRESS, "a@x.org");
  uint64_t id1 = 0, id2 = 0, id3 = 0;
  assert_int_equal(rg_store_upsert_actor(t, &a, T0, T0, 1, &id1), RG_OK);
  assert_int_equal(id1, 1);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  assert_int_equal(b, 2);
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 + 10, T0 + 10, 1, &id2), RG_OK);
  assert_int_equal(id2, id1);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = wbegin(f);
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 + 20, T0 + 20, 5, &id3), RG_OK);
  assert_int_equal(id3, id1);
  /* The same text under another type is another actor. */
  uint64_t d = upsert(t, RG_ACTOR_DOMAIN, "a@x.org", T0);
  assert_int_equal(d, 3);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  rg_store_counts_t c = counts(t);
  assert_int_equal(c.actors[RG_ACTOR_ADDRESS], 2);
  assert_int_equal(c.actors[RG_ACTOR_DOMAIN], 1);
  assert_int_equal(c.actors[RG_ACTOR_IP], 0);
  rg_actor_rec_t r = get_actor(t, id1, T0 + 20);
  assert_int_equal(r.actor.type, RG_ACTOR_ADDRESS);
  assert_int_equal(r.actor.len, 7);
  assert_string_equal(r.actor.key, "a@x.org");
  assert_int_equal(r.messages, 7);
  rg_txn_end(t);
}

static void test_store_upsert_actor_tracks_first_and_last_seen(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  rg_actor_t a = actor(RG_ACTOR_IP, "198.51.100.7");
  uint64_t id = 0;
  assert_int_equal(rg_store_upsert_actor(t, &a, T0, T0, 2, &id), RG_OK);
  rg_actor_rec_t r = get_actor(t, id, T0);
  assert_int_equal(r.first_seen, T0);
  assert_int_equal(r.last_seen, T0);
  assert_int_equal(r.messages, 2);
  assert_int_equal(r.as_of, T0);
  assert_float_equal(r.weight_out, 0, 0);
  assert_float_equal(r.weight_in, 0, 0);
  const uint32_t none[RG_EDGE_KIND_COUNT] = {0};
  assert_degrees(&r, none, none);

  assert_int_equal(rg_store_upsert_actor(t, &a, T0 + 500, T0 + 500, 1, &id), RG_OK);
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 - 300, T0 - 300, 1, &id),
                   RG_OK); /* older news */
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 + 100, T0 + 100, 0, &id), RG_OK);
  r = get_actor(t, id, T0 + 500);
  assert_int_equal(r.first_seen, T0 - 300);
  assert_int_equal(r.last_seen, T0 + 500);
  assert_int_equal(r.messages, 4);
  /* One call for a write that names the actor at several times: the whole span. */
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 - 900, T0 + 900, 3, &id), RG_OK);
  r = get_actor(t, id, T0 + 900);
  assert_int_equal(r.first_seen, T0 - 900);
  assert_int_equal(r.last_seen, T0 + 900);
  assert_int_equal(r.messages, 7);
  assert_int_equal(rg_txn_commit(t), RG_OK);
}

static void test_store_find_unknown_actor_is_not_found(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = rbegin(f);
  rg_actor_t a = actor(RG_ACTOR_NET, "203.0.113.0/24");
  uint64_t id = 77;
  assert_int_equal(rg_store_find_actor(t, &a, &id), RG_ENOT_FOUND);
  rg_actor_rec_t r;
  assert_int_equal(rg_store_get_actor(t, 1, T0, &r), RG_ENOT_FOUND);
  rg_txn_end(t);
}

static void test_store_aborted_write_leaves_nothing(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  rg_txn_end(t);
  t = wbegin(f);
  uint64_t id = upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  assert_int_equal(id, 1); /* the aborted id was never handed out */
  assert_int_equal(rg_txn_commit(t), RG_OK);
  t = rbegin(f);
  assert_int_equal(counts(t).actors[RG_ACTOR_ADDRESS], 1);
  rg_txn_end(t);
}

static void test_store_nested_transaction_undoes_only_its_writes(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  rg_txn_t *n = NULL;
  assert_int_equal(rg_store_nested_begin(t, &n), RG_OK);
  uint64_t b = upsert(n, RG_ACTOR_ADDRESS, "b@x.org", T0);
  assert_int_equal(rg_store_add_edge(n, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  rg_txn_end(n); /* undo this request */
  assert_int_equal(rg_store_nested_begin(t, &n), RG_OK);
  uint64_t c = upsert(n, RG_ACTOR_ADDRESS, "c@x.org", T0);
  assert_int_equal(c, 2);
  assert_int_equal(rg_txn_commit(n), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  rg_actor_t bb = actor(RG_ACTOR_ADDRESS, "b@x.org");
  uint64_t id;
  assert_int_equal(rg_store_find_actor(t, &bb, &id), RG_ENOT_FOUND);
  rg_store_counts_t cn = counts(t);
  assert_int_equal(cn.actors[RG_ACTOR_ADDRESS], 2);
  assert_int_equal(total_edges(&cn), 0);
  assert_int_equal(get_actor(t, a, T0).out_degree[RG_EDGE_MAILED], 0);
  rg_txn_end(t);
}

static void test_store_read_snapshot_does_not_see_later_commits(void **state) {
  fx_t *f = *state;
  rg_txn_t *r = rbegin(f);
  rg_txn_t *t = wbegin(f);
  upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  assert_int_equal(rg_txn_commit(t), RG_OK);
  assert_int_equal(counts(r).actors[RG_ACTOR_ADDRESS], 0);
  rg_txn_end(r);
  r = rbegin(f);
  assert_int_equal(counts(r).actors[RG_ACTOR_ADDRESS], 1);
  rg_txn_end(r);
}

/* ---- edges -------------------------------------------------------------------------- */

static void test_store_add_edge_creates_out_and_in_entries(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 0.75, 3), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  seen_t s = scan_out(t, a, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, a);
  assert_int_equal(s.e[0].kind, RG_EDGE_MAILED);
  assert_int_equal(s.e[0].dst, b);
  assert_int_equal(s.e[0].rec.count, 3);
  assert_float_equal(s.e[0].rec.weight, 0.75, EPS);
  s = scan_in(t, b, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, a);
  assert_int_equal(s.e[0].kind, RG_EDGE_MAILED);
  assert_int_equal(s.e[0].dst, b);
  assert_int_equal(s.e[0].rec.count, 3);
  assert_float_equal(s.e[0].rec.weight, 0.75, EPS);
  assert_int_equal(scan_out(t, b, T0).n, 0);
  assert_int_equal(scan_in(t, a, T0).n, 0);

  rg_edge_rec_t e = get_edge(t, a, RG_EDGE_MAILED, b, T0);
  assert_int_equal(e.count, 3);
  assert_int_equal(e.first_seen, T0);
  assert_int_equal(e.last_seen, T0);
  assert_int_equal(e.as_of, T0);
  assert_int_equal(rg_store_get_edge(t, b, RG_EDGE_MAILED, a, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_edge(t, a, RG_EDGE_SENT_FROM, b, T0, &e), RG_ENOT_FOUND);

  rg_store_counts_t c = counts(t);
  assert_int_equal(c.edges[RG_EDGE_MAILED], 1);
  assert_int_equal(total_edges(&c), 1);
  rg_actor_rec_t ra = get_actor(t, a, T0), rb = get_actor(t, b, T0);
  const uint32_t none[RG_EDGE_KIND_COUNT] = {0};
  uint32_t one_mailed[RG_EDGE_KIND_COUNT] = {0};
  one_mailed[RG_EDGE_MAILED] = 1;
  assert_degrees(&ra, one_mailed, none);
  assert_degrees(&rb, none, one_mailed);
  assert_float_equal(ra.weight_out, 0.75, EPS);
  assert_float_equal(ra.weight_in, 0, EPS);
  assert_float_equal(rb.weight_out, 0, EPS);
  assert_float_equal(rb.weight_in, 0.75, EPS);
  rg_txn_end(t);
}

static void test_store_repeated_edge_adds_count_not_degree(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  uint64_t ip = upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 2, 4), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, 0.5, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, b, RG_EDGE_MAILED, a, T0, 0.25, 1), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  rg_edge_rec_t e = get_edge(t, a, RG_EDGE_MAILED, b, T0);
  assert_int_equal(e.count, 5);
  assert_float_equal(e.weight, 3.0, EPS);
  rg_store_counts_t c = counts(t);
  assert_int_equal(c.edges[RG_EDGE_MAILED], 2);
  assert_int_equal(c.edges[RG_EDGE_SENT_FROM], 1);
  assert_int_equal(total_edges(&c), 3);

  uint32_t out[RG_EDGE_KIND_COUNT] = {0}, in[RG_EDGE_KIND_COUNT] = {0};
  out[RG_EDGE_MAILED] = 1, out[RG_EDGE_SENT_FROM] = 1, in[RG_EDGE_MAILED] = 1;
  rg_actor_rec_t ra = get_actor(t, a, T0);
  assert_degrees(&ra, out, in);
  assert_float_equal(ra.weight_out, 3.5, EPS);
  assert_float_equal(ra.weight_in, 0.25, EPS);
  memset(out, 0, sizeof out), memset(in, 0, sizeof in);
  out[RG_EDGE_MAILED] = 1, in[RG_EDGE_MAILED] = 1;
  rg_actor_rec_t rb = get_actor(t, b, T0);
  assert_degrees(&rb, out, in);
  assert_float_equal(rb.weight_out, 0.25, EPS);
  assert_float_equal(rb.weight_in, 3.0, EPS);
  memset(out, 0, sizeof out), memset(in, 0, sizeof in);
  in[RG_EDGE_SENT_FROM] = 1;
  rg_actor_rec_t ri = get_actor(t, ip, T0);
  assert_degrees(&ri, out, in);
  assert_float_equal(ri.weight_in, 0.5, EPS);

  /* Scans: a has two out-edges in key order (kind, then dst); all edges scan with id 0. */
  seen_t s = scan_out(t, a, T0);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.e[0].kind, RG_EDGE_MAILED);
  assert_int_equal(s.e[1].kind, RG_EDGE_SENT_FROM);
  assert_int_equal(s.e[1].dst, ip);
  assert_int_equal(scan_out(t, 0, T0).n, 3);
  assert_int_equal(scan_in(t, 0, T0).n, 3);
  assert_int_equal(scan_in(t, a, T0).n, 1);
  rg_txn_end(t);
}

static int stop_after_first(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                            const rg_edge_rec_t *rec) {
  (void)src, (void)kind, (void)dst, (void)rec;
  (*(int *)ctx)++;
  return 42;
}

static void test_store_scan_stops_on_visitor_return(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  for (int i = 0; i < 5; i++) {
    char key[32];
    snprintf(key, sizeof key, "r%d@y.org", i);
    uint64_t r = upsert(t, RG_ACTOR_ADDRESS, key, T0);
    assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, r, T0, 1, 1), RG_OK);
  }
  int calls = 0;
  assert_int_equal(rg_store_scan_out(t, a, T0, stop_after_first, &calls), 42);
  assert_int_equal(calls, 1);
  assert_int_equal(scan_out(t, a, T0).n, 5);
  assert_int_equal(rg_txn_commit(t), RG_OK);
}

static void test_store_add_edge_requires_both_actors(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, 999, T0, 1, 1), RG_ENOT_FOUND);
  assert_int_equal(rg_store_add_edge(t, 999, RG_EDGE_MAILED, a, T0, 1, 1), RG_ENOT_FOUND);
  rg_edge_rec_t e;
  assert_int_equal(rg_store_get_edge(t, a, RG_EDGE_MAILED, 999, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(scan_out(t, 0, T0).n, 0);
  rg_store_counts_t c = counts(t);
  assert_int_equal(total_edges(&c), 0);
  assert_int_equal(get_actor(t, a, T0).out_degree[RG_EDGE_MAILED], 0);
  rg_txn_end(t);
}

/* ---- decay -------------------------------------------------------------------------- */

static void test_store_decay_halves_at_one_half_life(void **state) {
  (void)state;
  assert_float_equal(rg_decay(8, T0, T0 + HS, H), 4, EPS);
  assert_float_equal(rg_decay(8, T0, T0 + 2 * HS, H), 2, EPS);
  assert_float_equal(rg_decay(8, T0, T0 + HS / 2, H), 8 / 1.4142135623730951, EPS);
  assert_float_equal(rg_decay(1, 0, 604800, 604800), 0.5, EPS);
  /* No decay backwards, at the same time, or without a half-life. */
  assert_float_equal(rg_decay(8, T0, T0, H), 8, 0);
  assert_float_equal(rg_decay(8, T0, T0 - HS, H), 8, 0);
  assert_float_equal(rg_decay(8, T0, T0 + HS, 0), 8, 0);
  assert_float_equal(rg_decay(0, T0, T0 + HS, H), 0, 0);
}

static void test_store_edge_weight_decays_between_observations(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);
  t = wbegin(f);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0 + HS, 1, 1), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  rg_edge_rec_t e = get_edge(t, a, RG_EDGE_MAILED, b, T0 + HS);
  assert_float_equal(e.weight, 1 * 0.5 + 1, EPS);
  assert_int_equal(e.count, 2);
  assert_int_equal(e.first_seen, T0);
  assert_int_equal(e.last_seen, T0 + HS);
  assert_int_equal(e.as_of, T0 + HS);
  e = get_edge(t, a, RG_EDGE_MAILED, b, T0 + 3 * HS);
  assert_float_equal(e.weight, 1.5 / 4, EPS);
  assert_int_equal(e.as_of, T0 + 3 * HS);
  /* Asking about an earlier time does not undo decay. */
  e = get_edge(t, a, RG_EDGE_MAILED, b, T0);
  assert_float_equal(e.weight, 1.5, EPS);
  assert_int_equal(e.as_of, T0 + HS);

  rg_actor_rec_t ra = get_actor(t, a, T0 + HS), rb = get_actor(t, b, T0 + HS);
  assert_float_equal(ra.weight_out, 1.5, EPS);
  assert_float_equal(rb.weight_in, 1.5, EPS);
  assert_int_equal(ra.as_of, T0 + HS);
  ra = get_actor(t, a, T0 + 2 * HS);
  assert_float_equal(ra.weight_out, 0.75, EPS);
  assert_int_equal(ra.as_of, T0 + 2 * HS);
  /* Scans report weights decayed to their `now` as well. */
  seen_t s = scan_out(t, a, T0 + 2 * HS);
  assert_float_equal(s.e[0].rec.weight, 0.75, EPS);
  s = scan_in(t, b, T0 + 2 * HS);
  assert_float_equal(s.e[0].rec.weight, 0.75, EPS);
  rg_txn_end(t);
}

static void test_store_out_of_order_observation_decays_to_latest(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0 + HS);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0 + HS);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0 + HS, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK); /* late */
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  rg_edge_rec_t e = get_edge(t, a, RG_EDGE_MAILED, b, T0 + HS);
  assert_float_equal(e.weight, 1 + 0.5, EPS);
  assert_int_equal(e.first_seen, T0);
  assert_int_equal(e.last_seen, T0 + HS);
  assert_int_equal(e.as_of, T0 + HS);
  assert_int_equal(e.count, 2);
  rg_actor_rec_t ra = get_actor(t, a, T0 + HS), rb = get_actor(t, b, T0 + HS);
  assert_float_equal(ra.weight_out, 1.5, EPS);
  assert_float_equal(rb.weight_in, 1.5, EPS);
  assert_int_equal(ra.as_of, T0 + HS);
  rg_txn_end(t);
}

static void test_store_actor_sums_match_edges_across_times(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  uint64_t c = upsert(t, RG_ACTOR_ADDRESS, "c@z.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 4, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, c, T0 + 2 * HS, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_MAILED, a, T0 + HS, 2, 1), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  int64_t now = T0 + 3 * HS;
  rg_actor_rec_t ra = get_actor(t, a, now);
  /* out: 4 from T0 (3 half-lives) + 1 from T0+2h (1 half-life) */
  assert_float_equal(ra.weight_out, 4.0 / 8 + 1.0 / 2, EPS);
  /* in: 2 from T0+h (2 half-lives) */
  assert_float_equal(ra.weight_in, 2.0 / 4, EPS);
  double sum = 0;
  seen_t s = scan_out(t, a, now);
  for (size_t i = 0; i < s.n; i++) sum += s.e[i].rec.weight;
  assert_float_equal(sum, ra.weight_out, EPS);
  rg_txn_end(t);
}

/* ---- labels ------------------------------------------------------------------------- */

static void test_store_label_put_get_counts_and_note(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
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
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  assert_int_equal(counts(t).labels, 2); /* labelled actors, not label events */
  rg_txn_end(t);
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
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
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
  assert_int_equal(counts(t).labels, 1);                           /* only b */
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
  assert_int_equal(rg_txn_commit(t), RG_OK);
}

/* A schema 2 store had labels but no label history: the upgrade gives each label a history
 * entry at its count, so history shows it and the next label counts on. */
static void test_store_upgrade_from_schema_2_keeps_labels_in_history(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  rg_label_t bad = make_label(RG_VERDICT_BAD, RG_SOURCE_USER_REPORT, T0, "junk");
  rg_label_t good = make_label(RG_VERDICT_GOOD, RG_SOURCE_ANALYST, T0 + 10, "not junk");
  assert_int_equal(rg_store_put_label(t, a, &bad), RG_OK);
  assert_int_equal(rg_store_put_label(t, a, &good), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);
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

  assert_int_equal(open_store(f, 4 * MiB, 64 * MiB), RG_OK);
  t = wbegin(f);
  hist_t h = {.n = 0};
  assert_int_equal(rg_store_scan_label_history(t, a, collect_label, &h), RG_OK);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.v[0].verdict, RG_VERDICT_GOOD);
  assert_int_equal(h.v[0].count, 2);
  assert_int_equal(rg_store_put_label(t, a, &bad), RG_OK);
  rg_label_t got;
  assert_int_equal(rg_store_get_label(t, a, &got), RG_OK);
  assert_int_equal(got.count, 3); /* counts on, never backwards */
  assert_int_equal(counts(t).labels, 1);
  assert_int_equal(rg_txn_commit(t), RG_OK);
}

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
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
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
  assert_int_equal(rg_txn_commit(t), RG_OK);
}

static void test_store_scan_out_after_resumes_exclusively(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  uint64_t c = upsert(t, RG_ACTOR_ADDRESS, "c@x.org", T0);
  uint64_t ip = upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, c, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, b, RG_EDGE_MAILED, a, T0, 1, 1), RG_OK);
  seen_t all = scan_out(t, a, T0);
  assert_int_equal(all.n, 3);
  seen_t s = {0};
  assert_int_equal(rg_store_scan_out_after(t, a, RG_EDGE_MAILED, b, T0, collect, &s), RG_OK);
  assert_int_equal(s.n, 2); /* (mailed, c) and (sent_from, ip); b's own edge is not a's */
  assert_int_equal(s.e[0].dst, c);
  assert_int_equal(s.e[1].dst, ip);
  s.n = 0;
  assert_int_equal(rg_store_scan_out_after(t, a, RG_EDGE_SENT_FROM, ip, T0, collect, &s), RG_OK);
  assert_int_equal(s.n, 0);
  s.n = 0;
  assert_int_equal(rg_store_scan_out_after(t, a, RG_EDGE_MAILED, 0, T0, collect, &s), RG_OK);
  assert_int_equal(s.n, 3); /* dst 0: from the start */
  assert_int_equal(rg_txn_commit(t), RG_OK);
}

/* ---- forget ------------------------------------------------------------------------- */

static void test_store_forget_removes_actor_key_label_and_edges(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  uint64_t c = upsert(t, RG_ACTOR_ADDRESS, "c@z.org", T0);
  uint64_t ip = upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_MAILED, a, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, b, RG_EDGE_MAILED, c, T0, 1, 1), RG_OK);
  rg_label_t l = {.verdict = RG_VERDICT_BAD, .source = RG_SOURCE_ANALYST, .weight = 1};
  assert_int_equal(rg_store_put_label(t, a, &l), RG_OK);
  assert_int_equal(rg_store_put_label(t, b, &l), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = wbegin(f);
  assert_int_equal(rg_store_forget(t, a), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  rg_actor_t aa = actor(RG_ACTOR_ADDRESS, "a@x.org");
  uint64_t id;
  rg_actor_rec_t r;
  rg_label_t got;
  rg_edge_rec_t e;
  assert_int_equal(rg_store_find_actor(t, &aa, &id), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_actor(t, a, T0, &r), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_label(t, a, &got), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_label(t, b, &got), RG_OK);
  assert_int_equal(rg_store_get_edge(t, a, RG_EDGE_MAILED, b, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_edge(t, c, RG_EDGE_MAILED, a, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(scan_out(t, a, T0).n, 0);
  assert_int_equal(scan_in(t, a, T0).n, 0);
  assert_int_equal(scan_in(t, b, T0).n, 0);
  assert_int_equal(scan_in(t, ip, T0).n, 0);
  /* The edge between the neighbours stays, in both indexes. */
  seen_t s = scan_out(t, 0, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, b);
  assert_int_equal(s.e[0].dst, c);
  s = scan_in(t, 0, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, b);
  assert_int_equal(s.e[0].dst, c);

  rg_store_counts_t cn = counts(t);
  assert_int_equal(cn.actors[RG_ACTOR_ADDRESS], 2);
  assert_int_equal(cn.actors[RG_ACTOR_IP], 1);
  assert_int_equal(cn.edges[RG_EDGE_MAILED], 1);
  assert_int_equal(cn.edges[RG_EDGE_SENT_FROM], 0);
  assert_int_equal(cn.labels, 1);
  rg_txn_end(t);

  t = wbegin(f);
  assert_int_equal(rg_store_forget(t, a), RG_ENOT_FOUND);
  /* Ids are not reused. */
  assert_int_equal(upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0), ip + 1);
  assert_int_equal(rg_txn_commit(t), RG_OK);
}

static void test_store_forget_fixes_neighbour_degrees_and_weights(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  uint64_t c = upsert(t, RG_ACTOR_ADDRESS, "c@z.org", T0);
  uint64_t ip = upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  /* b receives from a (1 at T0) and from c (2 at T0+h); c sends to a and b. */
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_MAILED, b, T0 + HS, 2, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_MAILED, a, T0, 4, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_SENT_FROM, ip, T0, 3, 1), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  int64_t now = T0 + HS;
  rg_actor_rec_t rb = get_actor(t, b, now), rc = get_actor(t, c, now);
  assert_float_equal(rb.weight_in, 0.5 + 2, EPS);
  assert_float_equal(rc.weight_out, 2 + 4 * 0.5 + 3 * 0.5, EPS);
  rg_txn_end(t);

  t = wbegin(f);
  assert_int_equal(rg_store_forget(t, a), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  const uint32_t none[RG_EDGE_KIND_COUNT] = {0};
  uint32_t out[RG_EDGE_KIND_COUNT] = {0}, in[RG_EDGE_KIND_COUNT] = {0};
  rb = get_actor(t, b, now);
  in[RG_EDGE_MAILED] = 1;
  assert_degrees(&rb, none, in);
  assert_float_equal(rb.weight_in, 2, EPS);
  assert_float_equal(rb.weight_out, 0, EPS);
  rc = get_actor(t, c, now);
  out[RG_EDGE_MAILED] = 1, out[RG_EDGE_SENT_FROM] = 1;
  assert_degrees(&rc, out, none);
  assert_float_equal(rc.weight_out, 2 + 3 * 0.5, EPS);
  rg_actor_rec_t ri = get_actor(t, ip, now);
  memset(in, 0, sizeof in);
  in[RG_EDGE_SENT_FROM] = 1;
  assert_degrees(&ri, none, in);
  assert_float_equal(ri.weight_in, 3 * 0.5, EPS);
  /* What is left matches the remaining edges exactly. */
  double sum = 0;
  seen_t s = scan_out(t, c, now);
  assert_int_equal(s.n, 2);
  for (size_t i = 0; i < s.n; i++) sum += s.e[i].rec.weight;
  assert_float_equal(sum, rc.weight_out, EPS);
  rg_store_counts_t cn = counts(t);
  assert_int_equal(cn.edges[RG_EDGE_MAILED], 1);
  assert_int_equal(cn.edges[RG_EDGE_SENT_FROM], 1);
  assert_int_equal(cn.actors[RG_ACTOR_ADDRESS], 2);
  rg_txn_end(t);
}

static void test_store_forget_self_loop(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t a = upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, a, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, a, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  rg_actor_rec_t ra = get_actor(t, a, T0);
  assert_int_equal(ra.out_degree[RG_EDGE_MAILED], 2);
  assert_int_equal(ra.in_degree[RG_EDGE_MAILED], 1);
  assert_float_equal(ra.weight_out, 3, EPS);
  assert_float_equal(ra.weight_in, 2, EPS);
  seen_t s = scan_in(t, a, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, a);
  assert_int_equal(s.e[0].rec.count, 2);
  assert_int_equal(counts(t).edges[RG_EDGE_MAILED], 2);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = wbegin(f);
  assert_int_equal(rg_store_forget(t, a), RG_OK);
  assert_int_equal(rg_txn_commit(t), RG_OK);

  t = rbegin(f);
  assert_int_equal(scan_out(t, 0, T0).n, 0);
  assert_int_equal(scan_in(t, 0, T0).n, 0);
  rg_store_counts_t cn = counts(t);
  assert_int_equal(total_edges(&cn), 0);
  assert_int_equal(cn.actors[RG_ACTOR_ADDRESS], 1);
  rg_actor_rec_t rb = get_actor(t, b, T0);
  assert_int_equal(rb.in_degree[RG_EDGE_MAILED], 0);
  assert_float_equal(rb.weight_in, 0, EPS);
  rg_txn_end(t);
}

static void test_store_forget_lone_actor_updates_counters(void **state) {
  fx_t *f = *state;
  rg_txn_t *t = wbegin(f);
  uint64_t d = upsert(t, RG_ACTOR_DOMAIN, "x.org", T0);
  assert_int_equal(counts(t).actors[RG_ACTOR_DOMAIN], 1);
  assert_int_equal(rg_store_forget(t, d), RG_OK);
  rg_store_counts_t cn = counts(t);
  assert_int_equal(cn.actors[RG_ACTOR_DOMAIN], 0);
  assert_int_equal(cn.labels, 0);
  assert_int_equal(rg_store_forget(t, d), RG_ENOT_FOUND);
  assert_int_equal(rg_txn_commit(t), RG_OK);
}

/* ---- map growth --------------------------------------------------------------------- */

#define GROW_ACTORS 20000
#define GROW_BATCH  500

/* Writes actors [from, to) in one transaction. RG_OK, or the error after cleaning up. */
static int write_batch(fx_t *f, int from, int to) {
  rg_txn_t *t = NULL;
  int rc = rg_store_write_begin(f->s, &t);
  if (rc) return rc;
  for (int i = from; i < to; i++) {
    char key[64];
    snprintf(key, sizeof key, "user%06d@a-rather-long-domain-name.example.org", i);
    rg_actor_t a = actor(RG_ACTOR_ADDRESS, key);
    uint64_t id;
    rc = rg_store_upsert_actor(t, &a, T0 + i, T0 + i, 1, &id);
    if (rc) {
      rg_txn_end(t);
      return rc;
    }
  }
  return rg_txn_commit(t); /* frees t in every case */
}

static void test_store_grows_map_when_full_and_keeps_data(void **state) {
  fx_t *f = *state;
  reopen(f, MiB, 64 * MiB);
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

  rg_txn_t *t = rbegin(f);
  assert_int_equal(counts(t).actors[RG_ACTOR_ADDRESS], GROW_ACTORS);
  for (int i = 0; i < GROW_ACTORS; i += 997) {
    char key[64];
    snprintf(key, sizeof key, "user%06d@a-rather-long-domain-name.example.org", i);
    rg_actor_t a = actor(RG_ACTOR_ADDRESS, key);
    uint64_t id = 0;
    assert_int_equal(rg_store_find_actor(t, &a, &id), RG_OK);
    assert_int_equal(id, (uint64_t)i + 1); /* failed batches handed out no ids */
    rg_actor_rec_t r = get_actor(t, id, T0);
    assert_string_equal(r.actor.key, key);
    assert_int_equal(r.first_seen, T0 + i);
  }
  rg_txn_end(t);

  /* Reopening with the original small map size still finds everything. */
  reopen(f, MiB, 64 * MiB);
  t = rbegin(f);
  assert_int_equal(counts(t).actors[RG_ACTOR_ADDRESS], GROW_ACTORS);
  rg_txn_end(t);
}

static void test_store_grow_is_capped_at_map_max(void **state) {
  fx_t *f = *state;
  reopen(f, MiB, 3 * MiB);
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
  fx_t *f = *state;
  reopen(f, MiB, MiB);
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

  rg_txn_t *t = rbegin(f);
  assert_int_equal(counts(t).actors[RG_ACTOR_ADDRESS], committed);
  rg_txn_end(t);
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
  fx_t *f = *state;
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
    rg_txn_end(inner);
  }
  rg_txn_end(outer);
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
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_store_reopen_keeps_actors_edges_and_labels),
      T(test_store_nested_read_does_not_wait_behind_map_growth),
      T(test_store_open_creates_missing_directory),
      T(test_store_open_rejects_bad_options),
      T(test_store_open_reports_unusable_directory),
      T(test_store_refuses_other_schema_version),
      T(test_store_refuses_store_with_actors_but_no_schema_version),
      T(test_store_upgrade_from_schema_2_keeps_labels_in_history),
      T(test_store_refuses_foreign_data_file_and_leaves_it_unchanged),
      T(test_store_refuses_foreign_lmdb_environment_and_leaves_it_unchanged),
      T(test_store_upsert_actor_creates_id_once),
      T(test_store_upsert_actor_tracks_first_and_last_seen),
      T(test_store_find_unknown_actor_is_not_found),
      T(test_store_aborted_write_leaves_nothing),
      T(test_store_nested_transaction_undoes_only_its_writes),
      T(test_store_read_snapshot_does_not_see_later_commits),
      T(test_store_add_edge_creates_out_and_in_entries),
      T(test_store_repeated_edge_adds_count_not_degree),
      T(test_store_scan_stops_on_visitor_return),
      T(test_store_add_edge_requires_both_actors),
      cmocka_unit_test(test_store_decay_halves_at_one_half_life),
      T(test_store_edge_weight_decays_between_observations),
      T(test_store_out_of_order_observation_decays_to_latest),
      T(test_store_actor_sums_match_edges_across_times),
      T(test_store_label_put_get_counts_and_note),
      T(test_store_label_history_keeps_every_verdict_and_retraction),
      T(test_store_indexes_members_rankings_and_clusters_of_a_generation),
      T(test_store_scan_out_after_resumes_exclusively),
      T(test_store_forget_removes_actor_key_label_and_edges),
      T(test_store_forget_fixes_neighbour_degrees_and_weights),
      T(test_store_forget_self_loop),
      T(test_store_forget_lone_actor_updates_counters),
      T(test_store_grows_map_when_full_and_keeps_data),
      T(test_store_grow_is_capped_at_map_max),
      T(test_store_full_at_map_max_refuses_growth_and_keeps_committed_data),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
