/* bench_lmdb_ingest.c — the storage engine's own limit for durable ingest: writes the edges
 * bench_load ingests (edge e: address s(e / 10) → address r(e), mailed) straight into LMDB,
 * in the same sub-databases and key layout repgraph uses (schemas/store.json: actor_key,
 * actor, out, in), committing (with fsync, as repgraphd does) every T edges. Per edge: find
 * or create both actors, read-modify-write the out-edge record, put the in-edge index. It
 * leaves out what repgraph adds on top (actor record updates, degree and weight sums,
 * counters, validation, the protocol). Prints one line of key=value results.
 * Usage: bench_lmdb_ingest DIR [-e EDGES] [-t EDGES_PER_TXN]. Single-threaded. */
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "repgraph/buf.h"

#define FANOUT    10
#define TS_BASE   1800000000
#define MAP_BYTES (64ULL << 30)

enum { DB_ACTOR_KEY, DB_ACTOR, DB_OUT, DB_IN, DB_COUNT };
static const char *const db_names[DB_COUNT] = {"actor_key", "actor", "out", "in"};

typedef struct {
  MDB_env *env;
  MDB_dbi dbi[DB_COUNT];
  uint64_t next_id;
} bare_t;

static void check(int rc, const char *what) {
  if (rc) {
    fprintf(stderr, "bench_lmdb_ingest: %s: %s\n", what, mdb_strerror(rc));
    exit(1);
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The actor's id, created (key → id, id → record) when new. */
static uint64_t actor_id(bare_t *b, MDB_txn *t, const char *ident, int64_t ts) {
  uint8_t kb[256];
  size_t n = strlen(ident);
  kb[0] = 1; /* address */
  memcpy(kb + 1, ident, n);
  MDB_val k = {n + 1, kb}, v;
  int rc = mdb_get(t, b->dbi[DB_ACTOR_KEY], &k, &v);
  if (rc == 0) return rg_get_u64be(v.mv_data);
  check(rc == MDB_NOTFOUND ? 0 : rc, "get actor key");
  uint64_t id = b->next_id++;
  uint8_t ib[8], rec[128] = {0};
  rg_put_u64be(ib, id);
  v = (MDB_val){8, ib};
  check(mdb_put(t, b->dbi[DB_ACTOR_KEY], &k, &v, 0), "put actor key");
  /* the record: type, kinds, key_len, first/last seen, messages, weights, as_of, degrees */
  size_t len = 4 + 6 * 8 + 6 * 8;
  rec[0] = 1;
  rec[1] = 6;
  rg_put_u16be(rec + 2, (uint16_t)n);
  rg_put_u64be(rec + 4, (uint64_t)ts);
  rg_put_u64be(rec + 12, (uint64_t)ts);
  memcpy(rec + len, ident, n);
  MDB_val ak = {8, ib}, av = {len + n, rec};
  check(mdb_put(t, b->dbi[DB_ACTOR], &ak, &av, 0), "put actor");
  return id;
}

static void add_edge(bare_t *b, MDB_txn *t, uint64_t e) {
  char src[64], dst[64];
  int64_t ts = TS_BASE + (int64_t)(e / 1000);
  snprintf(src, sizeof src, "s%" PRIu64 "@bench.example", e / FANOUT);
  snprintf(dst, sizeof dst, "r%" PRIu64 "@bench.example", e);
  uint64_t s = actor_id(b, t, src, ts), d = actor_id(b, t, dst, ts);
  uint8_t kb[17], vb[40];
  rg_put_u64be(kb, s);
  kb[8] = 0; /* mailed */
  rg_put_u64be(kb + 9, d);
  MDB_val k = {17, kb}, v;
  uint64_t count = 0;
  int rc = mdb_get(t, b->dbi[DB_OUT], &k, &v);
  if (rc == 0)
    count = rg_get_u64be(v.mv_data);
  else
    check(rc == MDB_NOTFOUND ? 0 : rc, "get edge");
  rg_put_u64be(vb, count + 1);
  double w = 1;
  uint64_t wbits;
  memcpy(&wbits, &w, 8);
  rg_put_u64be(vb + 8, wbits);
  rg_put_u64be(vb + 16, (uint64_t)ts);
  rg_put_u64be(vb + 24, (uint64_t)ts);
  rg_put_u64be(vb + 32, (uint64_t)ts);
  v = (MDB_val){40, vb};
  check(mdb_put(t, b->dbi[DB_OUT], &k, &v, 0), "put edge");
  if (rc == MDB_NOTFOUND) {
    uint8_t ib[17];
    rg_put_u64be(ib, d);
    ib[8] = 0;
    rg_put_u64be(ib + 9, s);
    MDB_val ik = {17, ib}, iv = {0, NULL};
    check(mdb_put(t, b->dbi[DB_IN], &ik, &iv, 0), "put in-edge");
  }
}

int main(int argc, char **argv) {
  uint64_t edges = 1000000, per_txn = 1000;
  int opt;
  while ((opt = getopt(argc, argv, "e:t:")) != -1) {
    switch (opt) {
      case 'e': edges = strtoull(optarg, NULL, 10); break;
      case 't': per_txn = strtoull(optarg, NULL, 10); break;
      default: goto usage;
    }
  }
  if (optind != argc - 1 || !per_txn) goto usage;
  const char *dir = argv[optind];
  mkdir(dir, 0750);
  bare_t b = {.next_id = 1};
  check(mdb_env_create(&b.env), "env create");
  check(mdb_env_set_maxdbs(b.env, DB_COUNT), "maxdbs");
  check(mdb_env_set_mapsize(b.env, MAP_BYTES), "mapsize");
  check(mdb_env_open(b.env, dir, MDB_NOTLS, 0640), "env open");
  MDB_txn *t;
  check(mdb_txn_begin(b.env, NULL, 0, &t), "begin");
  for (int i = 0; i < DB_COUNT; i++)
    check(mdb_dbi_open(t, db_names[i], MDB_CREATE, &b.dbi[i]), "dbi");
  check(mdb_txn_commit(t), "commit");

  double t0 = now_s();
  uint64_t commits = 0;
  for (uint64_t e = 0; e < edges; e += per_txn) {
    check(mdb_txn_begin(b.env, NULL, 0, &t), "begin");
    for (uint64_t i = e; i < edges && i < e + per_txn; i++) add_edge(&b, t, i);
    check(mdb_txn_commit(t), "commit");
    commits++;
  }
  double secs = now_s() - t0;
  MDB_stat st;
  MDB_envinfo info;
  check(mdb_env_stat(b.env, &st), "stat");
  check(mdb_env_info(b.env, &info), "info");
  printf("edges=%" PRIu64 " per_txn=%" PRIu64 " commits=%" PRIu64
         " seconds=%.3f edges_s=%.0f"
         " used_bytes=%" PRIu64 "\n",
         edges, per_txn, commits, secs, (double)edges / secs,
         (uint64_t)(info.me_last_pgno + 1) * st.ms_psize);
  mdb_env_close(b.env);
  return 0;
usage:
  fprintf(stderr, "usage: bench_lmdb_ingest DIR [-e EDGES] [-t EDGES_PER_TXN]\n");
  return 2;
}
