/* store_genrows.c — a generation's rows exactly as stored, for cluster mode: the leader
 * scans them to publish the generation (genpack), a follower writes them back in one
 * transaction, so its copy is the leader's byte for byte and flips at once. Key layout:
 * schemas/store.json. Reads in any transaction; writes in the writer's. */
#include <errno.h>
#include <lmdb.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "store_codec.h"

/* The generation-keyed sub-databases, by rg_genrow_t, with their key lengths. */
static const struct {
  int dbi;
  size_t klen;
} TABLES[] = {
    [RG_GENROW_SCORE] = {DB_SCORE, 16},          [RG_GENROW_CLUSTER] = {DB_CLUSTER, 16},
    [RG_GENROW_MEMBER] = {DB_MEMBER, 24},        [RG_GENROW_RANK] = {DB_RANK, 26},
    [RG_GENROW_CLUSTER_RANK] = {DB_CLUSTER_RANK, 24},
};

static int scan_table(rg_txn_t *t, rg_genrow_t table, uint64_t gen, rg_genrow_visit_fn fn,
                      void *ctx) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[TABLES[table].dbi], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  uint8_t kb[8];
  rg_put_u64be(kb, gen);
  MDB_val k = {8, kb}, v;
  int out = RG_OK;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= 8 && rg_get_u64be(k.mv_data) == gen) {
    if ((out = fn(ctx, table, k.mv_data, k.mv_size, v.mv_data, v.mv_size))) break;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  if (out) return out;
  return rc == MDB_NOTFOUND ? RG_OK : rg__from_mdb(rc, "scan generation");
}

static int meta_row(rg_txn_t *t, rg_genrow_t table, const char *name, rg_genrow_visit_fn fn,
                    void *ctx) {
  MDB_val k = {strlen(name), (void *)name}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_META], &k, &v);
  if (rc == MDB_NOTFOUND) return RG_OK;
  if (rc) return rg__from_mdb(rc, "get meta");
  return fn(ctx, table, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
}

int rg_store_scan_generation_rows(rg_txn_t *t, uint64_t gen, rg_genrow_visit_fn fn, void *ctx) {
  rg_generation_t g;
  int rc = rg_store_get_generation(t, &g);
  if (rc) return rc;
  if (g.generation != gen) return RG_ENOT_FOUND;
  for (int table = RG_GENROW_SCORE; table <= RG_GENROW_CLUSTER_RANK && !rc; table++)
    rc = scan_table(t, (rg_genrow_t)table, gen, fn, ctx);
  if (!rc) rc = meta_row(t, RG_GENROW_MODEL, "model", fn, ctx);
  if (!rc) rc = meta_row(t, RG_GENROW_GENERATION, "generation", fn, ctx);
  return rc;
}

int rg_store_put_generation_row(rg_txn_t *t, uint64_t gen, rg_genrow_t table, const uint8_t *key,
                                size_t klen, const uint8_t *val, size_t vlen) {
  const char *name = table == RG_GENROW_GENERATION ? "generation"
                     : table == RG_GENROW_MODEL    ? "model"
                                                   : NULL;
  MDB_val v = {vlen, (void *)val};
  int dbi;
  if (name) {
    if (klen != strlen(name) || memcmp(key, name, klen) != 0 || vlen < 8) return RG_EBAD_REQUEST;
    if (table == RG_GENROW_GENERATION && rg_get_u64be(val) != gen) return RG_EBAD_REQUEST;
    dbi = DB_META;
  } else {
    if (table < RG_GENROW_SCORE || table > RG_GENROW_CLUSTER_RANK ||
        klen != TABLES[table].klen || rg_get_u64be(key) != gen)
      return RG_EBAD_REQUEST;
    dbi = TABLES[table].dbi;
  }
  MDB_val k = {klen, (void *)key};
  int rc = rg__from_mdb(mdb_put(t->txn, t->s->dbi[dbi], &k, &v, 0), "put generation row");
  if (rc || table != RG_GENROW_GENERATION) return rc;
  rg_generation_t g; /* the record must read back as one */
  rc = rg_store_get_generation(t, &g);
  return rc == RG_EIO ? RG_EBAD_REQUEST : rc;
}

int rg_store_drop_generations_below(rg_txn_t *t, uint64_t below) {
  for (int table = RG_GENROW_SCORE; table <= RG_GENROW_CLUSTER_RANK; table++) {
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->s->dbi[TABLES[table].dbi], &c);
    if (rc) return rg__from_mdb(rc, "cursor");
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0 && k.mv_size >= 8 && rg_get_u64be(k.mv_data) < below) {
      if ((rc = mdb_cursor_del(c, 0))) break;
      rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(c);
    if (rc == EINVAL || rc == MDB_NOTFOUND) rc = 0; /* the last row went */
    if (rc) return rg__from_mdb(rc, "drop generations");
  }
  return RG_OK;
}
