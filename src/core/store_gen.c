/* store_gen.c — generations in the store: per-actor scores, cluster summaries, the current
 * generation record, dropping an old generation in slices, and the analyst indexes of a
 * generation (members, rankings, clusters by suspicion) with their scans. Reads in any
 * transaction; writes in the writer's. */
#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/store.h"
#include "store_codec.h"

/* ---- generations: scores and clusters ------------------------------------------------ */

#define SCORE_HDR_LEN  27 /* reputation, anomaly, cluster, propagated, band, n_reasons */
#define REASON_LEN     17 /* code, value, aux */
#define EVIDENCE_LEN   16 /* users, bad_users, good_users, engaged (absent before schema 4) */
#define CLUSTER_LEN    (8 + 8 + 4 * RG_ACTOR_TYPE_MAX + 4 + 4 + 8 + 8 + 8 + 8 + 1)
#define GEN_V1_LEN     (8 * 8) /* the counters; records written before thresholds */
#define THRESH_LEN     (3 * 8 * RG_VERDICT_LEVELS + 4 + 4 + 1) /* at, fpr, tpr, counts, derived */
#define GENERATION_LEN (GEN_V1_LEN + THRESH_LEN)

static void gen_key(uint8_t k[16], uint64_t gen, uint64_t id) {
  rg_put_u64be(k, gen);
  rg_put_u64be(k + 8, id);
}

/* A score in [0,1] as a key part: non-negative doubles sort like their IEEE bits. */
static uint64_t score_bits(double v) {
  if (!(v > 0)) v = 0;
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static double bits_score(const uint8_t *p) {
  return rg__get_f64(p);
}

/* Puts a key with an empty value into an index sub-database (MDB_APPEND: at the end). */
static int put_index(rg_txn_t *t, int dbi, const uint8_t *key, size_t len, unsigned flags) {
  MDB_val k = {len, (void *)key}, v = {0, NULL};
  int rc = mdb_put(t->txn, t->s->dbi[dbi], &k, &v, flags);
  if (rc == MDB_KEYEXIST && (flags & MDB_APPEND)) {
    rg_log_error("store: %s index row appended out of order", rg__db_names[dbi]);
    return RG_EINTERNAL;
  }
  return rg__from_mdb(rc, "put index");
}

#define MEMBER_KEY_LEN 24 /* gen, cluster, actor */
#define RANK_KEY_LEN   26 /* gen, metric, type, score, actor */
#define CRANK_KEY_LEN  24 /* gen, suspicion, cluster */

int rg_store_append_member(rg_txn_t *t, uint64_t gen, uint64_t cluster, uint64_t actor) {
  uint8_t k[MEMBER_KEY_LEN];
  rg_put_u64be(k, gen);
  rg_put_u64be(k + 8, cluster);
  rg_put_u64be(k + 16, actor);
  return put_index(t, DB_MEMBER, k, sizeof k, MDB_APPEND);
}

int rg_store_append_rank(rg_txn_t *t, uint64_t gen, rg_rank_metric_t metric, rg_actor_type_t type,
                         double value, uint64_t actor) {
  uint8_t k[RANK_KEY_LEN];
  rg_put_u64be(k, gen);
  k[8] = (uint8_t)metric;
  k[9] = (uint8_t)type;
  rg_put_u64be(k + 10, score_bits(value));
  rg_put_u64be(k + 18, actor);
  return put_index(t, DB_RANK, k, sizeof k, MDB_APPEND);
}

int rg_store_put_score(rg_txn_t *t, uint64_t gen, uint64_t actor, const rg_score_t *sc) {
  uint8_t kb[16], vb[SCORE_HDR_LEN + REASON_LEN * RG_REASONS_MAX + EVIDENCE_LEN];
  unsigned n = sc->n_reasons > RG_REASONS_MAX ? RG_REASONS_MAX : sc->n_reasons;
  gen_key(kb, gen, actor);
  rg__put_f64(vb, sc->reputation);
  rg__put_f64(vb + 8, sc->anomaly);
  rg_put_u64be(vb + 16, sc->cluster);
  vb[24] = sc->propagated;
  vb[25] = sc->band;
  vb[26] = (uint8_t)n;
  for (unsigned i = 0; i < n; i++) {
    uint8_t *p = vb + SCORE_HDR_LEN + REASON_LEN * i;
    p[0] = sc->reasons[i].code;
    rg__put_f64(p + 1, sc->reasons[i].value);
    rg_put_u64be(p + 9, sc->reasons[i].aux);
  }
  uint8_t *ev = vb + SCORE_HDR_LEN + REASON_LEN * n;
  rg_put_u32be(ev, sc->users);
  rg_put_u32be(ev + 4, sc->bad_users);
  rg_put_u32be(ev + 8, sc->good_users);
  rg_put_u32be(ev + 12, sc->engaged);
  MDB_val k = {16, kb}, v = {SCORE_HDR_LEN + REASON_LEN * n + EVIDENCE_LEN, vb};
  return rg__from_mdb(mdb_put(t->txn, t->s->dbi[DB_SCORE], &k, &v, 0), "put score");
}

/* Reads row (gen, id) of a sub-database keyed by generation. 0, RG_ENOT_FOUND or RG_EIO. */
static int get_gen_row(rg_txn_t *t, int dbi, uint64_t gen, uint64_t id, MDB_val *v,
                       const char *what) {
  uint8_t kb[16];
  gen_key(kb, gen, id);
  MDB_val k = {16, kb};
  return rg__from_mdb(mdb_get(t->txn, t->s->dbi[dbi], &k, v), what);
}

int rg_store_get_score(rg_txn_t *t, uint64_t gen, uint64_t actor, rg_score_t *sc) {
  MDB_val v;
  int rc = get_gen_row(t, DB_SCORE, gen, actor, &v, "get score");
  if (rc) return rc;
  const uint8_t *p = v.mv_data;
  size_t base = SCORE_HDR_LEN + (size_t)REASON_LEN * (v.mv_size < SCORE_HDR_LEN ? 0 : p[26]);
  if (v.mv_size < SCORE_HDR_LEN || p[26] > RG_REASONS_MAX ||
      (v.mv_size != base && v.mv_size != base + EVIDENCE_LEN)) /* a generation before schema 4 */
    return RG_EIO;
  const uint8_t *ev = v.mv_size > base ? p + base : NULL;
  sc->users = ev ? rg_get_u32be(ev) : 0;
  sc->bad_users = ev ? rg_get_u32be(ev + 4) : 0;
  sc->good_users = ev ? rg_get_u32be(ev + 8) : 0;
  sc->engaged = ev ? rg_get_u32be(ev + 12) : 0;
  sc->reputation = rg__get_f64(p);
  sc->anomaly = rg__get_f64(p + 8);
  sc->cluster = rg_get_u64be(p + 16);
  sc->propagated = p[24];
  sc->band = p[25];
  sc->n_reasons = p[26];
  for (unsigned i = 0; i < sc->n_reasons; i++) {
    const uint8_t *r = p + SCORE_HDR_LEN + REASON_LEN * i;
    sc->reasons[i] = (rg_reason_t){r[0], rg__get_f64(r + 1), rg_get_u64be(r + 9)};
  }
  return RG_OK;
}

int rg_store_put_cluster(rg_txn_t *t, uint64_t gen, const rg_cluster_t *c) {
  uint8_t kb[16], vb[CLUSTER_LEN + 8 * RG_CLUSTER_TOP_MAX], *p = vb;
  unsigned n = c->n_top > RG_CLUSTER_TOP_MAX ? RG_CLUSTER_TOP_MAX : c->n_top;
  gen_key(kb, gen, c->id);
  rg_put_u64be(p, c->id), p += 8;
  rg_put_u64be(p, c->size), p += 8;
  for (int ty = 1; ty <= RG_ACTOR_TYPE_MAX; ty++) rg_put_u32be(p, c->by_type[ty]), p += 4;
  rg_put_u32be(p, c->bad_seeds), p += 4;
  rg_put_u32be(p, c->good_seeds), p += 4;
  rg__put_f64(p, c->mean_reputation), p += 8;
  rg__put_f64(p, c->suspicion), p += 8;
  rg_put_u64be(p, (uint64_t)c->first_seen), p += 8;
  rg_put_u64be(p, (uint64_t)c->last_seen), p += 8;
  *p++ = (uint8_t)n;
  for (unsigned i = 0; i < n; i++) rg_put_u64be(p, c->top[i]), p += 8;
  MDB_val k = {16, kb}, v = {(size_t)(p - vb), vb};
  uint8_t rk[CRANK_KEY_LEN];
  rg_put_u64be(rk, gen);
  rg_put_u64be(rk + 8, score_bits(c->suspicion));
  rg_put_u64be(rk + 16, c->id);
  int rc = put_index(t, DB_CLUSTER_RANK, rk, sizeof rk, 0);
  if (rc) return rc;
  return rg__from_mdb(mdb_put(t->txn, t->s->dbi[DB_CLUSTER], &k, &v, 0), "put cluster");
}

int rg_store_get_cluster(rg_txn_t *t, uint64_t gen, uint64_t id, rg_cluster_t *c) {
  MDB_val v;
  int rc = get_gen_row(t, DB_CLUSTER, gen, id, &v, "get cluster");
  if (rc) return rc;
  const uint8_t *p = v.mv_data;
  if (v.mv_size < CLUSTER_LEN || p[CLUSTER_LEN - 1] > RG_CLUSTER_TOP_MAX ||
      v.mv_size != CLUSTER_LEN + 8u * p[CLUSTER_LEN - 1])
    return RG_EIO;
  memset(c, 0, sizeof *c);
  c->id = rg_get_u64be(p), p += 8;
  c->size = rg_get_u64be(p), p += 8;
  for (int ty = 1; ty <= RG_ACTOR_TYPE_MAX; ty++) c->by_type[ty] = rg_get_u32be(p), p += 4;
  c->bad_seeds = rg_get_u32be(p), p += 4;
  c->good_seeds = rg_get_u32be(p), p += 4;
  c->mean_reputation = rg__get_f64(p), p += 8;
  c->suspicion = rg__get_f64(p), p += 8;
  c->first_seen = (int64_t)rg_get_u64be(p), p += 8;
  c->last_seen = (int64_t)rg_get_u64be(p), p += 8;
  c->n_top = *p++;
  for (unsigned i = 0; i < c->n_top; i++) c->top[i] = rg_get_u64be(p), p += 8;
  return RG_OK;
}

int rg_store_get_generation(rg_txn_t *t, rg_generation_t *g) {
  MDB_val k = {10, "generation"}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_META], &k, &v);
  if (rc) return rg__from_mdb(rc, "get generation");
  if (v.mv_size != GENERATION_LEN && v.mv_size != GEN_V1_LEN) return RG_EIO;
  const uint8_t *p = v.mv_data;
  uint64_t f[8];
  for (int i = 0; i < 8; i++) f[i] = rg_get_u64be(p + 8 * i);
  *g = (rg_generation_t){.generation = f[0],
                         .computed_at = (int64_t)f[1],
                         .duration_ms = f[2],
                         .vertices = f[3],
                         .edges = f[4],
                         .clusters = f[5],
                         .bad_seeds = f[6],
                         .good_seeds = f[7]};
  if (v.mv_size == GEN_V1_LEN) return RG_OK; /* no thresholds: none derived */
  rg_thresholds_t *th = &g->thresholds;
  p += GEN_V1_LEN;
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    th->at[l] = rg__get_f64(p + 8 * l);
    th->fpr[l] = rg__get_f64(p + 8 * (RG_VERDICT_LEVELS + l));
    th->tpr[l] = rg__get_f64(p + 8 * (2 * RG_VERDICT_LEVELS + l));
  }
  p += 3 * 8 * RG_VERDICT_LEVELS;
  th->held_out_good = rg_get_u32be(p);
  th->held_out_bad = rg_get_u32be(p + 4);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) th->derived[l] = (p[8] >> l) & 1;
  return RG_OK;
}

int rg_store_publish_generation(rg_txn_t *t, const rg_generation_t *g) {
  uint64_t f[8] = {g->generation,  (uint64_t)g->computed_at,
                   g->duration_ms, g->vertices,
                   g->edges,       g->clusters,
                   g->bad_seeds,   g->good_seeds};
  uint8_t vb[GENERATION_LEN], *p = vb + GEN_V1_LEN;
  for (int i = 0; i < 8; i++) rg_put_u64be(vb + 8 * i, f[i]);
  const rg_thresholds_t *th = &g->thresholds;
  uint8_t derived = 0;
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    rg__put_f64(p + 8 * l, th->at[l]);
    rg__put_f64(p + 8 * (RG_VERDICT_LEVELS + l), th->fpr[l]);
    rg__put_f64(p + 8 * (2 * RG_VERDICT_LEVELS + l), th->tpr[l]);
    if (th->derived[l]) derived |= (uint8_t)(1u << l);
  }
  p += 3 * 8 * RG_VERDICT_LEVELS;
  rg_put_u32be(p, th->held_out_good);
  rg_put_u32be(p + 4, th->held_out_bad);
  p[8] = derived;
  MDB_val k = {10, "generation"}, v = {GENERATION_LEN, vb};
  return rg__from_mdb(mdb_put(t->txn, t->s->dbi[DB_META], &k, &v, 0), "put generation");
}

/* Deletes up to *budget rows whose key starts with `gen` from one sub-database. */
static int drop_prefix(rg_txn_t *t, int dbi, uint64_t gen, uint64_t *budget, bool *done) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  uint8_t kb[8];
  rg_put_u64be(kb, gen);
  MDB_val k = {8, kb}, v;
  *done = false;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= 16 && rg_get_u64be(k.mv_data) == gen) {
    if (*budget == 0) break;
    if ((rc = mdb_cursor_del(c, 0))) break;
    (*budget)--;
    rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
  }
  if (rc == MDB_NOTFOUND || rc == EINVAL ||
      (rc == 0 && (k.mv_size < 16 || rg_get_u64be(k.mv_data) != gen))) {
    *done = true;
    rc = 0;
  }
  mdb_cursor_close(c);
  return rg__from_mdb(rc, "drop generation");
}

int rg_store_drop_generation(rg_txn_t *t, uint64_t gen, uint64_t max_rows, bool *done) {
  static const int dbs[] = {DB_SCORE, DB_CLUSTER, DB_MEMBER, DB_RANK, DB_CLUSTER_RANK};
  int rc = RG_OK;
  *done = true;
  for (size_t i = 0; i < sizeof dbs / sizeof dbs[0] && !rc && *done; i++)
    rc = drop_prefix(t, dbs[i], gen, &max_rows, done);
  return rc;
}

/* ---- index scans ---------------------------------------------------------------------- */

/* Visits the keys of sub-database dbi that start with prefix[0..plen), in key order from
 * the first key at or after from[0..flen) (from = NULL: from the first with the prefix) or in
 * reverse from the last; visit gets each whole key. Keys are at most 32 bytes. */
static int scan_prefix(rg_txn_t *t, int dbi, const uint8_t *prefix, size_t plen,
                       const uint8_t *from, size_t flen, bool reverse,
                       int (*visit)(void *, const uint8_t *, size_t), void *ctx) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  uint8_t kb[32];
  memcpy(kb, prefix, plen);
  memset(kb + plen, 0xff, sizeof kb - plen); /* past every key with the prefix */
  MDB_val k = {reverse ? sizeof kb : plen, kb}, v;
  if (from) memcpy(kb, from, flen), k.mv_size = flen;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (reverse) rc = mdb_cursor_get(c, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
  int out = RG_OK;
  while (rc == 0 && !out) {
    if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) break;
    out = visit(ctx, k.mv_data, k.mv_size);
    if (!out) rc = mdb_cursor_get(c, &k, &v, reverse ? MDB_PREV : MDB_NEXT);
  }
  if (!out && rc && rc != MDB_NOTFOUND) out = rg__from_mdb(rc, "index scan");
  mdb_cursor_close(c);
  return out;
}

typedef struct {
  rg_txn_t *t;
  uint64_t gen;
  rg_cluster_visit_fn cluster_fn;
  rg_member_visit_fn member_fn;
  void *ctx;
  uint64_t skip; /* index rows passed over before the first visit */
} index_scan_t;

static int visit_cluster_rank(void *ctx, const uint8_t *k, size_t len) {
  index_scan_t *a = ctx;
  rg_cluster_t c;
  if (len != CRANK_KEY_LEN) return RG_EIO;
  if (a->skip) {
    a->skip--;
    return RG_OK;
  }
  int rc = rg_store_get_cluster(a->t, a->gen, rg_get_u64be(k + 16), &c);
  return rc ? rc : a->cluster_fn(a->ctx, &c);
}

int rg_store_scan_clusters_by_suspicion(rg_txn_t *t, uint64_t gen, uint64_t skip,
                                        rg_cluster_visit_fn fn, void *ctx) {
  index_scan_t a = {t, gen, fn, NULL, ctx, skip};
  uint8_t p[8];
  rg_put_u64be(p, gen);
  return scan_prefix(t, DB_CLUSTER_RANK, p, sizeof p, NULL, 0, true, visit_cluster_rank, &a);
}

static int visit_rank(void *ctx, const uint8_t *k, size_t len) {
  index_scan_t *a = ctx;
  if (len != RANK_KEY_LEN) return RG_EIO;
  return a->member_fn(a->ctx, rg_get_u64be(k + 18), bits_score(k + 10));
}

int rg_store_scan_ranking(rg_txn_t *t, uint64_t gen, rg_rank_metric_t metric, rg_actor_type_t type,
                          bool worst_first, rg_member_visit_fn fn, void *ctx) {
  index_scan_t a = {t, gen, NULL, fn, ctx, 0};
  uint8_t p[10];
  rg_put_u64be(p, gen);
  p[8] = (uint8_t)metric;
  p[9] = (uint8_t)type;
  return scan_prefix(t, DB_RANK, p, sizeof p, NULL, 0, worst_first, visit_rank, &a);
}

static int visit_member(void *ctx, const uint8_t *k, size_t len) {
  index_scan_t *a = ctx;
  if (len != MEMBER_KEY_LEN) return RG_EIO;
  return a->member_fn(a->ctx, rg_get_u64be(k + 16), 0);
}

int rg_store_scan_members(rg_txn_t *t, uint64_t gen, uint64_t cluster, uint64_t after,
                          rg_member_visit_fn fn, void *ctx) {
  index_scan_t a = {t, gen, NULL, fn, ctx, 0};
  uint8_t p[MEMBER_KEY_LEN];
  rg_put_u64be(p, gen);
  rg_put_u64be(p + 8, cluster);
  if (!after) return scan_prefix(t, DB_MEMBER, p, 16, NULL, 0, false, visit_member, &a);
  if (after == UINT64_MAX) return RG_OK; /* nothing can follow */
  rg_put_u64be(p + 16, after + 1);       /* resume just past `after` */
  return scan_prefix(t, DB_MEMBER, p, 16, p, sizeof p, false, visit_member, &a);
}

/* ---- forget: an actor's rows in every generation still stored ------------------------- */

/* The first generation with score rows at or after `from`, in *gen; RG_ENOT_FOUND past the
 * last. */
static int next_generation(rg_txn_t *t, uint64_t from, uint64_t *gen) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_SCORE], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  uint8_t kb[16];
  gen_key(kb, from, 0);
  MDB_val k = {16, kb}, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && k.mv_size != 16) rc = MDB_CORRUPTED;
  if (rc == 0) *gen = rg_get_u64be(k.mv_data);
  mdb_cursor_close(c);
  return rg__from_mdb(rc, "next generation");
}

/* Deletes a key from an index sub-database; a missing one is no error. */
static int del_index(rg_txn_t *t, int dbi, const uint8_t *key, size_t len) {
  MDB_val k = {len, (void *)key};
  int rc = mdb_del(t->txn, t->s->dbi[dbi], &k, NULL);
  return rc == MDB_NOTFOUND ? RG_OK : rg__from_mdb(rc, "del index");
}

/* Takes the actor out of its cluster's summary (size, type count, top members); a cluster
 * left empty goes, with its suspicion index row. */
static int leave_cluster(rg_txn_t *t, uint64_t gen, uint64_t cluster, uint64_t id,
                         rg_actor_type_t type) {
  rg_cluster_t c;
  int rc = rg_store_get_cluster(t, gen, cluster, &c);
  if (rc) return rc == RG_ENOT_FOUND ? RG_OK : rc;
  if (c.size) c.size--;
  if (type >= RG_ACTOR_TYPE_MIN && type <= RG_ACTOR_TYPE_MAX && c.by_type[type]) c.by_type[type]--;
  unsigned kept = 0;
  for (unsigned i = 0; i < c.n_top; i++)
    if (c.top[i] != id) c.top[kept++] = c.top[i];
  c.n_top = (uint8_t)kept;
  if (c.size) return rg_store_put_cluster(t, gen, &c); /* same suspicion: same index row */
  uint8_t kb[16], rk[CRANK_KEY_LEN];
  gen_key(kb, gen, cluster);
  rg_put_u64be(rk, gen);
  rg_put_u64be(rk + 8, score_bits(c.suspicion));
  rg_put_u64be(rk + 16, cluster);
  if ((rc = del_index(t, DB_CLUSTER_RANK, rk, sizeof rk))) return rc;
  return del_index(t, DB_CLUSTER, kb, sizeof kb);
}

/* Deletes actor id's score in generation gen and every row the score put in the indexes:
 * its member row, its rows in both rankings (keyed by the score's values, as
 * rg_store_append_rank wrote them), and its place in its cluster's summary. */
static int forget_in_generation(rg_txn_t *t, uint64_t gen, uint64_t id, rg_actor_type_t type) {
  rg_score_t sc;
  int rc = rg_store_get_score(t, gen, id, &sc);
  if (rc) return rc == RG_ENOT_FOUND ? RG_OK : rc;
  uint8_t kb[16], mk[MEMBER_KEY_LEN], rk[RANK_KEY_LEN];
  gen_key(kb, gen, id);
  if ((rc = del_index(t, DB_SCORE, kb, sizeof kb))) return rc;
  rg_put_u64be(mk, gen);
  rg_put_u64be(mk + 8, sc.cluster);
  rg_put_u64be(mk + 16, id);
  if ((rc = del_index(t, DB_MEMBER, mk, sizeof mk))) return rc;
  const double value[2] = {sc.reputation, sc.anomaly};
  const rg_rank_metric_t metric[2] = {RG_RANK_REPUTATION, RG_RANK_ANOMALY};
  for (int i = 0; i < 2 && !rc; i++) {
    rg_put_u64be(rk, gen);
    rk[8] = (uint8_t)metric[i];
    rk[9] = (uint8_t)type;
    rg_put_u64be(rk + 10, score_bits(value[i]));
    rg_put_u64be(rk + 18, id);
    rc = del_index(t, DB_RANK, rk, sizeof rk);
  }
  return rc ? rc : leave_cluster(t, gen, sc.cluster, id, type);
}

int rg__gen_forget_actor(rg_txn_t *t, uint64_t id, rg_actor_type_t type) {
  uint64_t gen = 0;
  int rc;
  while ((rc = next_generation(t, gen, &gen)) == RG_OK) {
    if ((rc = forget_in_generation(t, gen, id, type))) return rc;
    if (gen == UINT64_MAX) return RG_OK;
    gen++;
  }
  return rc == RG_ENOT_FOUND ? RG_OK : rc;
}
