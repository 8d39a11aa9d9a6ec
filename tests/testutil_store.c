/* testutil_store.c — see testutil_store.h. Test processes only. */
#define _GNU_SOURCE
#include "testutil_store.h"

#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"

#define RG_TEST_MIB (UINT64_C(1) << 20)

/* ---- fixture ---------------------------------------------------------------------- */

int rg_test_store_open(rg_test_store_t *f, uint64_t map_size, uint64_t map_max) {
  rg_store_opts_t o = {.dir = f->dir,
                       .map_size = map_size,
                       .map_max = map_max,
                       .half_life_s = RG_TEST_STORE_HALF_LIFE};
  char err[512] = "";
  int rc = rg_store_open(&o, &f->s, err, sizeof err);
  if (rc) print_error("rg_store_open(%s): %s: %s\n", f->dir, rg_err_name(rc), err);
  return rc;
}

void rg_test_store_reopen(rg_test_store_t *f, uint64_t map_size, uint64_t map_max) {
  rg_store_close(f->s);
  f->s = NULL;
  assert_int_equal(rg_test_store_open(f, map_size, map_max), RG_OK);
}

int rg_test_store_setup(void **state) {
  rg_test_store_t *f = calloc(1, sizeof *f);
  if (!f) return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/rg-test-store-XXXXXX");
  if (!mkdtemp(f->dir)) {
    free(f);
    return -1;
  }
  *state = f;
  return rg_test_store_open(f, 4 * RG_TEST_MIB, 64 * RG_TEST_MIB) == RG_OK ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int rg_test_store_teardown(void **state) {
  rg_test_store_t *f = *state;
  if (!f) return 0;
  rg_store_close(f->s);
  int rc = nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  free(f);
  return rc;
}

/* ---- helpers ---------------------------------------------------------------------- */

rg_actor_t rg_test_actor(rg_actor_type_t type, const char *key) {
  rg_actor_t a;
  memset(&a, 0, sizeof a);
  a.type = type;
  a.len = (uint16_t)strlen(key);
  memcpy(a.key, key, a.len);
  return a;
}

rg_txn_t *rg_test_wbegin(rg_test_store_t *f) {
  rg_txn_t *t = NULL;
  assert_int_equal(rg_store_write_begin(f->s, &t), RG_OK);
  return t;
}

rg_txn_t *rg_test_rbegin(rg_test_store_t *f) {
  rg_txn_t *t = NULL;
  assert_int_equal(rg_store_read_begin(f->s, &t), RG_OK);
  return t;
}

uint64_t rg_test_upsert(rg_txn_t *t, rg_actor_type_t type, const char *key, int64_t ts) {
  rg_actor_t a = rg_test_actor(type, key);
  uint64_t id = 0;
  assert_int_equal(rg_store_upsert_actor(t, &a, ts, ts, 1, &id), RG_OK);
  assert_true(id != 0);
  return id;
}

rg_actor_rec_t rg_test_get_actor(rg_txn_t *t, uint64_t id, int64_t now) {
  rg_actor_rec_t r;
  assert_int_equal(rg_store_get_actor(t, id, now, &r), RG_OK);
  return r;
}

rg_edge_rec_t rg_test_get_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                               int64_t now) {
  rg_edge_rec_t e;
  assert_int_equal(rg_store_get_edge(t, src, kind, dst, now, &e), RG_OK);
  return e;
}

rg_store_counts_t rg_test_counts(rg_txn_t *t) {
  rg_store_counts_t c;
  assert_int_equal(rg_store_counts(t, &c), RG_OK);
  return c;
}

uint64_t rg_test_total_edges(const rg_store_counts_t *c) {
  uint64_t n = 0;
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) n += c->edges[k];
  return n;
}

int rg_test_collect(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                    const rg_edge_rec_t *rec) {
  rg_test_seen_t *s = ctx;
  if (s->n >= sizeof s->e / sizeof s->e[0]) return -1;
  s->e[s->n].src = src;
  s->e[s->n].dst = dst;
  s->e[s->n].kind = kind;
  s->e[s->n].rec = *rec;
  s->n++;
  return 0;
}

rg_test_seen_t rg_test_scan_out(rg_txn_t *t, uint64_t id, int64_t now) {
  rg_test_seen_t s = {0};
  assert_int_equal(rg_store_scan_out(t, id, now, rg_test_collect, &s), RG_OK);
  return s;
}

rg_test_seen_t rg_test_scan_in(rg_txn_t *t, uint64_t id, int64_t now) {
  rg_test_seen_t s = {0};
  assert_int_equal(rg_store_scan_in(t, id, now, rg_test_collect, &s), RG_OK);
  return s;
}

void rg_test_assert_degrees(const rg_actor_rec_t *r, const uint32_t out[RG_EDGE_KIND_COUNT],
                            const uint32_t in[RG_EDGE_KIND_COUNT]) {
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) {
    if (r->out_degree[k] != out[k] || r->in_degree[k] != in[k])
      print_error("%s kind %d: out %u in %u, want %u %u\n", r->actor.key, k, r->out_degree[k],
                  r->in_degree[k], out[k], in[k]);
    assert_int_equal(r->out_degree[k], out[k]);
    assert_int_equal(r->in_degree[k], in[k]);
  }
}

/* ---- stores left by others -------------------------------------------------------- */

void rg_test_set_schema_version(const char *dir, uint64_t version) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
  assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
  uint8_t buf[8];
  rg_put_u64be(buf, version);
  MDB_val k = {strlen("schema_version"), (void *)"schema_version"}, v = {8, buf};
  if (version)
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
  else
    assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

void rg_test_put_meta(const char *dir, const char *name, const void *value, size_t len) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
  assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
  MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)value};
  assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

void rg_test_make_foreign_lmdb(const char *dir) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
  MDB_val k = {5, (void *)"hello"}, v = {5, (void *)"world"};
  assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}
