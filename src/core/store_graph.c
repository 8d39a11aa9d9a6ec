/* store_graph.c — the graph in the store: actor interning and records, edges with
 * decayed weights in the out and in indexes, edge and actor scans, and forget. Reads in any
 * transaction; writes in the writer's. */
#include <lmdb.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "store_codec.h"

#define EDGE_KEY_LEN  17 /* u64 id | u8 kind | u64 id */
#define EDGE_VAL_LEN  40 /* count, weight, as_of, first, last */
#define ACTOR_HDR_LEN 52 /* type, kinds, keylen, 6 × 8 bytes */
#define ACTOR_SUBMISSIONS_LEN 8 /* trailing, only when non-zero (schema 5) */
#define ACTOR_REC_MAX (ACTOR_HDR_LEN + 8 * 255 + RG_ACTOR_KEY_MAX + ACTOR_SUBMISSIONS_LEN)

double rg_store_decay(double w, int64_t from, int64_t to, double h) {
  if (to <= from || h <= 0) return w;
  return w * exp2(-(double)(to - from) / h);
}

/* ---- encoding ---------------------------------------------------------------------- */

static void edge_key(uint8_t k[EDGE_KEY_LEN], uint64_t a, rg_edge_kind_t kind, uint64_t b) {
  rg_put_u64be(k, a);
  k[8] = (uint8_t)kind;
  rg_put_u64be(k + 9, b);
}

static void encode_edge(uint8_t v[EDGE_VAL_LEN], const rg_edge_rec_t *e) {
  rg_put_u64be(v, e->count);
  rg__put_f64(v + 8, e->weight);
  rg_put_u64be(v + 16, (uint64_t)e->as_of);
  rg_put_u64be(v + 24, (uint64_t)e->first_seen);
  rg_put_u64be(v + 32, (uint64_t)e->last_seen);
}

static int decode_edge(const MDB_val *v, rg_edge_rec_t *e) {
  if (v->mv_size != EDGE_VAL_LEN) return RG_EIO;
  const uint8_t *p = v->mv_data;
  e->count = rg_get_u64be(p);
  e->weight = rg__get_f64(p + 8);
  e->as_of = (int64_t)rg_get_u64be(p + 16);
  e->first_seen = (int64_t)rg_get_u64be(p + 24);
  e->last_seen = (int64_t)rg_get_u64be(p + 32);
  return RG_OK;
}

static size_t encode_actor(uint8_t *p, const rg_actor_rec_t *r) {
  p[0] = (uint8_t)r->actor.type;
  p[1] = RG_EDGE_KIND_COUNT;
  rg_put_u16be(p + 2, r->actor.len);
  rg_put_u64be(p + 4, (uint64_t)r->first_seen);
  rg_put_u64be(p + 12, (uint64_t)r->last_seen);
  rg_put_u64be(p + 20, r->messages);
  rg__put_f64(p + 28, r->weight_out);
  rg__put_f64(p + 36, r->weight_in);
  rg_put_u64be(p + 44, (uint64_t)r->as_of);
  uint8_t *q = p + ACTOR_HDR_LEN;
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++, q += 8) {
    rg_put_u32be(q, r->out_degree[k]);
    rg_put_u32be(q + 4, r->in_degree[k]);
  }
  memcpy(q, r->actor.key, r->actor.len);
  q += r->actor.len;
  if (r->submissions) rg_put_u64be(q, r->submissions), q += ACTOR_SUBMISSIONS_LEN;
  return (size_t)(q - p);
}

static int decode_actor(const MDB_val *v, rg_actor_rec_t *r) {
  const uint8_t *p = v->mv_data;
  if (v->mv_size < ACTOR_HDR_LEN) return RG_EIO;
  unsigned kinds = p[1], keylen = rg_get_u16be(p + 2);
  size_t plain = ACTOR_HDR_LEN + 8u * kinds + keylen;
  if (keylen > RG_ACTOR_KEY_MAX ||
      (v->mv_size != plain && v->mv_size != plain + ACTOR_SUBMISSIONS_LEN))
    return RG_EIO;
  memset(r, 0, sizeof *r);
  r->actor.type = (rg_actor_type_t)p[0];
  r->actor.len = (uint16_t)keylen;
  r->first_seen = (int64_t)rg_get_u64be(p + 4);
  r->last_seen = (int64_t)rg_get_u64be(p + 12);
  r->messages = rg_get_u64be(p + 20);
  r->weight_out = rg__get_f64(p + 28);
  r->weight_in = rg__get_f64(p + 36);
  r->as_of = (int64_t)rg_get_u64be(p + 44);
  const uint8_t *q = p + ACTOR_HDR_LEN;
  for (unsigned k = 0; k < kinds; k++, q += 8) {
    if (k >= RG_EDGE_KIND_COUNT) continue; /* a kind this build does not know */
    r->out_degree[k] = rg_get_u32be(q);
    r->in_degree[k] = rg_get_u32be(q + 4);
  }
  memcpy(r->actor.key, q, keylen);
  r->actor.key[keylen] = '\0';
  if (v->mv_size > plain) r->submissions = rg_get_u64be(q + keylen);
  return RG_OK;
}

/* actor_key: type byte followed by the normalised identifier. */
static size_t actor_key(uint8_t *k, const rg_actor_t *a) {
  k[0] = (uint8_t)a->type;
  memcpy(k + 1, a->key, a->len);
  return 1u + a->len;
}

/* ---- actors ------------------------------------------------------------------------ */

int rg_store_find_actor(rg_txn_t *t, const rg_actor_t *a, uint64_t *id) {
  uint8_t kb[1 + RG_ACTOR_KEY_MAX];
  rg_actor_t pa;
  int rc = rg__stored_actor(t, a, &pa, &a); /* its pseudonym in a pseudonymised store */
  if (rc) return rc;
  MDB_val k = {actor_key(kb, a), kb}, v;
  rc = mdb_get(t->txn, t->s->dbi[DB_ACTOR_KEY], &k, &v);
  if (rc) return rg__from_mdb(rc, "find actor");
  if (v.mv_size != 8) return RG_EIO;
  *id = rg_get_u64be(v.mv_data);
  return RG_OK;
}

static int read_actor_db(rg_txn_t *t, uint64_t id, rg_actor_rec_t *r) {
  MDB_val v;
  int rc = rg__get_by_id(t, DB_ACTOR, id, &v, "get actor");
  return rc ? rc : decode_actor(&v, r);
}

static int write_actor_db(MDB_cursor *c, uint64_t id, const rg_actor_rec_t *r) {
  uint8_t kb[8], vb[ACTOR_REC_MAX];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb}, v = {encode_actor(vb, r), vb};
  return rg__from_mdb(mdb_cursor_put(c, &k, &v, 0), "put actor");
}

/* A write transaction's record of actor id, from its batch or read into it (emptying a
 * full cache first when `may_flush`). Borrowed until the next cache call. */
static int cached_actor(rg_txn_t *t, uint64_t id, bool may_flush, rg__cached_actor_t **out) {
  rg__batch_t *b;
  int rc = rg__batch_get(t, &b);
  if (rc) return rc;
  if ((*out = rg__batch_find_actor(b, id))) return RG_OK;
  if (may_flush && b->n_actors >= RG__BATCH_ACTORS_MAX) {
    if ((rc = rg__batch_flush(t))) return rc;
    rg__batch_clear_actors(b);
  }
  rg_actor_rec_t r;
  if ((rc = read_actor_db(t, id, &r))) return rc;
  return rg__batch_add_actor(b, id, &r, false, out);
}

/* Reads an actor's record as the transaction sees it (write transactions: through the
 * batch's cache). */
static int read_actor(rg_txn_t *t, uint64_t id, rg_actor_rec_t *r) {
  if (t->read) return read_actor_db(t, id, r);
  rg__cached_actor_t *c;
  int rc = cached_actor(t, id, true, &c);
  if (!rc) *r = c->rec;
  return rc;
}

/* Changes an existing actor's record: in the batch, written back at its flush. */
static int write_actor(rg_txn_t *t, uint64_t id, const rg_actor_rec_t *r) {
  rg__cached_actor_t *c;
  int rc = cached_actor(t, id, true, &c);
  if (rc) return rc;
  c->rec = *r;
  c->dirty = true; /* touched (store_touch.c) when written back */
  return RG_OK;
}

int rg_store_get_actor(rg_txn_t *t, uint64_t id, int64_t now, rg_actor_rec_t *r) {
  int rc = t->batch && t->batch->n_edges ? rg__batch_flush(t) : RG_OK; /* degrees, sums */
  if (!rc) rc = read_actor(t, id, r);
  if (rc) return rc;
  r->weight_out = rg_store_decay(r->weight_out, r->as_of, now, t->s->half_life_s);
  r->weight_in = rg_store_decay(r->weight_in, r->as_of, now, t->s->half_life_s);
  if (now > r->as_of) r->as_of = now;
  return RG_OK;
}

int rg_store_add_submissions(rg_txn_t *t, uint64_t id, uint64_t n) {
  rg_actor_rec_t r;
  int rc = read_actor(t, id, &r);
  if (rc) return rc;
  r.submissions += n;
  return write_actor(t, id, &r);
}

int rg_store_upsert_actor(rg_txn_t *t, const rg_actor_t *a, int64_t first_ts, int64_t last_ts,
                          uint64_t messages, uint64_t *id) {
  rg_actor_t pa;
  int rc = rg__stored_actor(t, a, &pa, &a); /* its pseudonym in a pseudonymised store */
  if (rc) return rc;
  rc = rg_store_find_actor(t, a, id);
  rg_actor_rec_t r;
  if (rc == RG_OK) {
    rc = read_actor(t, *id, &r);
    if (rc) return rc;
    if (first_ts < r.first_seen) r.first_seen = first_ts;
    if (last_ts > r.last_seen) r.last_seen = last_ts;
    r.messages += messages;
    return write_actor(t, *id, &r);
  }
  if (rc != RG_ENOT_FOUND) return rc;

  if ((rc = rg__peek_next_id(t, id))) return rc;
  t->next_id = *id + 1;
  t->dirty = true;
  uint8_t kb[1 + RG_ACTOR_KEY_MAX], ib[8];
  rg_put_u64be(ib, *id);
  MDB_val k = {actor_key(kb, a), kb}, v = {8, ib};
  if ((rc = rg__from_mdb(mdb_put(t->txn, t->s->dbi[DB_ACTOR_KEY], &k, &v, 0), "put key")))
    return rc;
  rg__touch_created(t); /* lookups that found no such actor must look again */
  memset(&r, 0, sizeof r);
  r.actor = *a;
  r.first_seen = r.as_of = first_ts;
  r.last_seen = last_ts;
  r.messages = messages;
  /* Created records go to the store at once (ids only grow: an append), so that reads of
   * the actor database itself (labels check the actor exists) see them. */
  MDB_cursor *c;
  if ((rc = rg__from_mdb(mdb_cursor_open(t->txn, t->s->dbi[DB_ACTOR], &c), "cursor"))) return rc;
  rc = write_actor_db(c, *id, &r);
  mdb_cursor_close(c);
  if (rc) return rc;
  rg__batch_t *b;
  rg__cached_actor_t *ca;
  if (!(rc = rg__batch_get(t, &b)) && !rg__batch_find_actor(b, *id))
    rc = rg__batch_add_actor(b, *id, &r, false, &ca);
  if (rc) return rc;
  return rg__count_actor(t, a->type, 1);
}

/* Adds weight w observed at ts to a sum decayed to *as_of (both move to the later time). */
static void add_decayed(double *sum, int64_t *as_of, double w, int64_t ts, double h) {
  if (ts >= *as_of) {
    *sum = rg_store_decay(*sum, *as_of, ts, h) + w;
    *as_of = ts;
  } else {
    *sum += rg_store_decay(w, ts, *as_of, h);
  }
}

/* Moves both of an actor's sums to time ts (if later) and adds w_out / w_in at ts. */
static void actor_add_weight(rg_actor_rec_t *r, double w_out, double w_in, int64_t ts, double h) {
  int64_t as_of = r->as_of;
  add_decayed(&r->weight_out, &as_of, w_out, ts, h);
  as_of = r->as_of;
  add_decayed(&r->weight_in, &as_of, w_in, ts, h);
  r->as_of = as_of;
}

int rg_store_add_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst, int64_t ts,
                      double w, uint64_t n) {
  rg__cached_actor_t *c;
  rg__batch_t *b;
  int rc = cached_actor(t, src, true, &c); /* both must exist (RG_ENOT_FOUND) */
  if (!rc) rc = cached_actor(t, dst, true, &c);
  if (!rc) rc = rg__batch_get(t, &b);
  if (!rc && b->n_edges >= RG__BATCH_EDGES_MAX) rc = rg__batch_flush(t);
  if (rc) return rc;
  if (ts > t->newest) t->newest = ts, t->dirty = true; /* meta newest_edge_ts at commit */
  rg__edge_add_t e = {.src = src, .dst = dst, .ts = ts, .w = w, .n = n, .kind = (uint8_t)kind};
  return rg__batch_add_edge(b, &e);
}

/* Applies the pending additions, sorted by out key: each edge read and written once (its
 * additions folded in arrival order), the new ones' in-index keys put in their own key
 * order, then every actor's degrees and weight sums updated in the cache. */
static int flush_edges(rg_txn_t *t, rg__batch_t *b) {
  double h = t->s->half_life_s;
  rg__edge_add_t *created = NULL; /* the new edges' in-index keys: src and dst swapped */
  size_t n_created = 0;
  MDB_cursor *c;
  int rc = rg__batch_sort_edges(b);
  if (rc) return rc;
  if ((rc = rg__from_mdb(mdb_cursor_open(t->txn, t->s->dbi[DB_OUT], &c), "cursor"))) return rc;
  if (!(created = malloc((b->n_edges ? b->n_edges : 1) * sizeof *created))) rc = RG_ENOMEM;
  for (size_t i = 0, j; i < b->n_edges && !rc; i = j) {
    rg__edge_add_t *first = &b->edges[i];
    uint8_t kb[EDGE_KEY_LEN], vb[EDGE_VAL_LEN];
    edge_key(kb, first->src, first->kind, first->dst);
    MDB_val k = {EDGE_KEY_LEN, kb}, v;
    rg_edge_rec_t e = {0};
    int grc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
    first->created = grc == MDB_NOTFOUND;
    if (first->created)
      e = (rg_edge_rec_t){.as_of = first->ts, .first_seen = first->ts, .last_seen = first->ts};
    else if (grc || (rc = decode_edge(&v, &e)))
      rc = rc ? rc : rg__from_mdb(grc, "get edge");
    for (j = i; j < b->n_edges && !rc && b->edges[j].src == first->src &&
                b->edges[j].kind == first->kind && b->edges[j].dst == first->dst;
         j++) {
      const rg__edge_add_t *a = &b->edges[j];
      e.count += a->n;
      add_decayed(&e.weight, &e.as_of, a->w, a->ts, h);
      if (a->ts < e.first_seen) e.first_seen = a->ts;
      if (a->ts > e.last_seen) e.last_seen = a->ts;
    }
    if (rc) break;
    encode_edge(vb, &e);
    k = (MDB_val){EDGE_KEY_LEN, kb};
    v = (MDB_val){EDGE_VAL_LEN, vb};
    rc = rg__from_mdb(mdb_cursor_put(c, &k, &v, first->created ? 0 : MDB_CURRENT), "put edge");
    if (!rc && first->created) {
      created[n_created] = *first;
      created[n_created].src = first->dst;
      created[n_created++].dst = first->src;
      rc = rg__count_edge(t, first->kind, 1);
    }
  }
  mdb_cursor_close(c);
  if (!rc) rc = rg__from_mdb(mdb_cursor_open(t->txn, t->s->dbi[DB_IN], &c), "cursor");
  if (!rc) {
    rc = rg__batch_sort_in(b, created, n_created);
    for (size_t i = 0; i < n_created && !rc; i++) {
      uint8_t ib[EDGE_KEY_LEN];
      edge_key(ib, created[i].src, created[i].kind, created[i].dst);
      MDB_val ik = {EDGE_KEY_LEN, ib}, iv = {0, NULL};
      rc = rg__from_mdb(mdb_cursor_put(c, &ik, &iv, 0), "put in-edge");
    }
    mdb_cursor_close(c);
  }
  free(created);
  for (size_t i = 0; i < b->n_edges && !rc; i++) {
    const rg__edge_add_t *a = &b->edges[i];
    rg__cached_actor_t *cs, *cd;
    if ((rc = cached_actor(t, a->src, false, &cs))) break;
    if (a->created) cs->rec.out_degree[a->kind]++;
    if (a->src == a->dst) {
      if (a->created) cs->rec.in_degree[a->kind]++;
      actor_add_weight(&cs->rec, a->w, a->w, a->ts, h);
      cs->dirty = true;
      continue;
    }
    actor_add_weight(&cs->rec, a->w, 0, a->ts, h);
    cs->dirty = true;
    if ((rc = cached_actor(t, a->dst, false, &cd))) break;
    if (a->created) cd->rec.in_degree[a->kind]++;
    actor_add_weight(&cd->rec, 0, a->w, a->ts, h);
    cd->dirty = true;
  }
  if (!rc) b->n_edges = 0;
  return rc;
}

/* Writes the cached actors that changed back, in id order. */
static int flush_actors(rg_txn_t *t, rg__batch_t *b) {
  size_t n = 0;
  for (size_t i = 0; i < b->n_actors; i++) n += b->actors[i].dirty;
  if (!n) return RG_OK;
  rg__batch_slot_t *dirty = malloc(n * sizeof *dirty); /* id and index + 1: sorted by id */
  if (!dirty) return RG_ENOMEM;
  n = 0;
  for (size_t i = 0; i < b->n_actors; i++)
    if (b->actors[i].dirty) dirty[n++] = (rg__batch_slot_t){b->actors[i].id, (uint32_t)i + 1};
  rg__batch_sort_actors(dirty, n);
  MDB_cursor *c;
  int rc = rg__from_mdb(mdb_cursor_open(t->txn, t->s->dbi[DB_ACTOR], &c), "cursor");
  if (!rc) {
    for (size_t i = 0; i < n && !rc; i++) {
      rg__cached_actor_t *ca = &b->actors[dirty[i].index - 1];
      rc = write_actor_db(c, ca->id, &ca->rec);
      if (!rc) ca->dirty = false;
      if (!rc) rg__touch(t, ca->id); /* for caches of lookups (store_touch.c) */
    }
    mdb_cursor_close(c);
  }
  free(dirty);
  return rc;
}

int rg__batch_flush(rg_txn_t *t) {
  rg__batch_t *b = t->batch;
  if (t->read || !b) return RG_OK;
  int rc = b->n_edges ? flush_edges(t, b) : RG_OK;
  return rc ? rc : flush_actors(t, b);
}

int rg_store_get_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst, int64_t now,
                      rg_edge_rec_t *e) {
  uint8_t kb[EDGE_KEY_LEN];
  edge_key(kb, src, kind, dst);
  MDB_val k = {EDGE_KEY_LEN, kb}, v;
  int rc = rg__batch_flush(t); /* pending edges first (write transactions) */
  if (rc) return rc;
  rc = mdb_get(t->txn, t->s->dbi[DB_OUT], &k, &v);
  if (rc) return rg__from_mdb(rc, "get edge");
  if ((rc = decode_edge(&v, e))) return rc;
  e->weight = rg_store_decay(e->weight, e->as_of, now, t->s->half_life_s);
  if (now > e->as_of) e->as_of = now;
  return RG_OK;
}

/* ---- scans ------------------------------------------------------------------------- */

/* Visits the edges of `id` (all edges when 0) in one index, starting after (kind, after)
 * when `after` is non-zero. */
static int scan(rg_txn_t *t, int dbi, uint64_t id, rg_edge_kind_t after_kind, uint64_t after,
                bool reverse, int64_t now, rg_edge_visit_fn fn, void *ctx) {
  MDB_cursor *c;
  int rc = rg__batch_flush(t); /* pending edges first (write transactions) */
  if (rc) return rc;
  rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  uint8_t kb[EDGE_KEY_LEN] = {0}, start[EDGE_KEY_LEN];
  edge_key(start, id, after_kind, after);
  rg_put_u64be(kb, id);
  MDB_val k = {id ? 8 : 0, kb}, v;
  if (id && after) k = (MDB_val){EDGE_KEY_LEN, kb}, memcpy(kb, start, EDGE_KEY_LEN);
  MDB_cursor_op op = id ? MDB_SET_RANGE : MDB_FIRST;
  int out = RG_OK;
  while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
    if (op == MDB_SET_RANGE && after && k.mv_size == EDGE_KEY_LEN &&
        memcmp(k.mv_data, start, EDGE_KEY_LEN) == 0) {
      op = MDB_NEXT; /* exclusive start */
      continue;
    }
    op = MDB_NEXT;
    if (k.mv_size != EDGE_KEY_LEN) {
      out = RG_EIO;
      break;
    }
    const uint8_t *p = k.mv_data;
    uint64_t a = rg_get_u64be(p), b = rg_get_u64be(p + 9);
    if (id && a != id) break;
    if (p[8] >= RG_EDGE_KIND_COUNT) {
      out = RG_EIO; /* a kind this build does not know: written by another schema */
      break;
    }
    rg_edge_kind_t kind = (rg_edge_kind_t)p[8];
    rg_edge_rec_t e;
    uint64_t src = reverse ? b : a, dst = reverse ? a : b;
    out = reverse ? rg_store_get_edge(t, src, kind, dst, now, &e) : decode_edge(&v, &e);
    if (out) break;
    if (!reverse) {
      e.weight = rg_store_decay(e.weight, e.as_of, now, t->s->half_life_s);
      if (now > e.as_of) e.as_of = now;
    }
    if ((out = fn(ctx, src, kind, dst, &e))) break;
  }
  if (!out && rc != MDB_NOTFOUND) out = rg__from_mdb(rc, "scan");
  mdb_cursor_close(c);
  return out;
}

int rg_store_scan_out(rg_txn_t *t, uint64_t src, int64_t now, rg_edge_visit_fn fn, void *ctx) {
  return scan(t, DB_OUT, src, 0, 0, false, now, fn, ctx);
}

int rg_store_scan_out_after(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                            int64_t now, rg_edge_visit_fn fn, void *ctx) {
  return scan(t, DB_OUT, src, kind, dst, false, now, fn, ctx);
}

int rg_store_scan_in(rg_txn_t *t, uint64_t dst, int64_t now, rg_edge_visit_fn fn, void *ctx) {
  return scan(t, DB_IN, dst, 0, 0, true, now, fn, ctx);
}

/* ---- forget ------------------------------------------------------------------------ */

/* Deletes edge src -kind-> dst from both indexes and takes it off the other end's record
 * (`other` is the endpoint that is not being forgotten; for a self-loop there is none). */
static int delete_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                       uint64_t other) {
  uint8_t ob[EDGE_KEY_LEN], ib[EDGE_KEY_LEN];
  edge_key(ob, src, kind, dst);
  edge_key(ib, dst, kind, src);
  MDB_val ok = {EDGE_KEY_LEN, ob}, ik = {EDGE_KEY_LEN, ib}, v;
  rg_edge_rec_t e;
  int rc = rg__from_mdb(mdb_get(t->txn, t->s->dbi[DB_OUT], &ok, &v), "get edge");
  if (rc || (rc = decode_edge(&v, &e))) return rc;
  if ((rc = rg__from_mdb(mdb_del(t->txn, t->s->dbi[DB_OUT], &ok, NULL), "del edge"))) return rc;
  if ((rc = rg__from_mdb(mdb_del(t->txn, t->s->dbi[DB_IN], &ik, NULL), "del in-edge"))) return rc;
  if ((rc = rg__count_edge(t, kind, -1))) return rc;
  if (src == dst) return RG_OK;
  rg_actor_rec_t r;
  if ((rc = read_actor(t, other, &r))) return rc;
  /* Bring the record's sums and the edge's weight to the same time before subtracting. */
  int64_t at = r.as_of > e.as_of ? r.as_of : e.as_of;
  actor_add_weight(&r, 0, 0, at, t->s->half_life_s);
  double w = rg_store_decay(e.weight, e.as_of, at, t->s->half_life_s);
  bool other_is_src = other == src;
  uint32_t *deg = other_is_src ? &r.out_degree[kind] : &r.in_degree[kind];
  double *sum = other_is_src ? &r.weight_out : &r.weight_in;
  if (*deg) (*deg)--;
  *sum = *sum > w ? *sum - w : 0;
  return write_actor(t, other, &r);
}

/* Finds the first edge of `id` in the out (or in) index, as (src, kind, dst). */
static int first_edge(rg_txn_t *t, int dbi, uint64_t id, uint64_t *src, rg_edge_kind_t *kind,
                      uint64_t *dst) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  uint8_t kb[8];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb}, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  int out = rg__from_mdb(rc, "first edge");
  if (out == RG_OK) {
    const uint8_t *p = k.mv_data;
    if (k.mv_size != EDGE_KEY_LEN || rg_get_u64be(p) != id) {
      out = k.mv_size != EDGE_KEY_LEN ? RG_EIO : RG_ENOT_FOUND;
    } else if (p[8] >= RG_EDGE_KIND_COUNT) {
      out = RG_EIO;
    } else {
      uint64_t b = rg_get_u64be(p + 9);
      *kind = (rg_edge_kind_t)p[8];
      *src = dbi == DB_OUT ? id : b;
      *dst = dbi == DB_OUT ? b : id;
    }
  }
  mdb_cursor_close(c);
  return out;
}

int rg_store_forget(rg_txn_t *t, uint64_t id) {
  rg_actor_rec_t r;
  int rc = rg__batch_flush(t); /* the edges below are read from the store */
  if (rc || (rc = read_actor(t, id, &r))) return rc;
  for (int dbi = DB_OUT; dbi <= DB_IN; dbi++) {
    uint64_t src = 0, dst = 0; /* set by first_edge when it returns 0 */
    rg_edge_kind_t kind = 0;
    while ((rc = first_edge(t, dbi, id, &src, &kind, &dst)) == RG_OK) {
      if ((rc = delete_edge(t, src, kind, dst, src == id ? dst : src))) return rc;
    }
    if (rc != RG_ENOT_FOUND) return rc;
  }
  if ((rc = rg__batch_flush(t))) return rc; /* the neighbours' records, then no cached copy */
  rg__batch_clear_actors(t->batch);
  uint8_t ib[8], kb[1 + RG_ACTOR_KEY_MAX];
  rg_put_u64be(ib, id);
  MDB_val idk = {8, ib}, key = {actor_key(kb, &r.actor), kb};
  rg__touch(t, id);
  if ((rc = rg__label_forget(t, id))) return rc;
  if ((rc = rg__gen_forget_actor(t, id, r.actor.type))) return rc; /* past generations too */
  if ((rc = rg__from_mdb(mdb_del(t->txn, t->s->dbi[DB_ACTOR], &idk, NULL), "del actor"))) return rc;
  if ((rc = rg__from_mdb(mdb_del(t->txn, t->s->dbi[DB_ACTOR_KEY], &key, NULL), "del key")))
    return rc;
  return rg__count_actor(t, r.actor.type, -1);
}

/* ---- retention (store_expire.c) ------------------------------------------------------- */

int rg__edge_decode(const MDB_val *v, rg_edge_rec_t *e) {
  return decode_edge(v, e);
}

/* Takes edge e (of `kind`) off actor id's record: as its source (out) and/or its
 * destination (in). */
static int take_off(rg_txn_t *t, uint64_t id, rg_edge_kind_t kind, bool out, bool in,
                    const rg_edge_rec_t *e) {
  rg_actor_rec_t r;
  int rc = read_actor(t, id, &r);
  if (rc) return rc;
  int64_t at = r.as_of > e->as_of ? r.as_of : e->as_of;
  actor_add_weight(&r, 0, 0, at, t->s->half_life_s);
  double w = rg_store_decay(e->weight, e->as_of, at, t->s->half_life_s);
  if (out) {
    if (r.out_degree[kind]) r.out_degree[kind]--;
    r.weight_out = r.weight_out > w ? r.weight_out - w : 0;
  }
  if (in) {
    if (r.in_degree[kind]) r.in_degree[kind]--;
    r.weight_in = r.weight_in > w ? r.weight_in - w : 0;
  }
  return write_actor(t, id, &r);
}

int rg__edge_expire(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst) {
  uint8_t ob[EDGE_KEY_LEN], ib[EDGE_KEY_LEN];
  edge_key(ob, src, kind, dst);
  edge_key(ib, dst, kind, src);
  MDB_val ok = {EDGE_KEY_LEN, ob}, ik = {EDGE_KEY_LEN, ib}, v;
  rg_edge_rec_t e;
  int rc = rg__batch_flush(t); /* edges queued in this transaction are read from the store */
  if (!rc) rc = rg__from_mdb(mdb_get(t->txn, t->s->dbi[DB_OUT], &ok, &v), "get edge");
  if (rc || (rc = decode_edge(&v, &e))) return rc;
  if ((rc = rg__from_mdb(mdb_del(t->txn, t->s->dbi[DB_OUT], &ok, NULL), "del edge"))) return rc;
  if ((rc = rg__from_mdb(mdb_del(t->txn, t->s->dbi[DB_IN], &ik, NULL), "del in-edge"))) return rc;
  if ((rc = rg__count_edge(t, kind, -1))) return rc;
  if (src == dst) return take_off(t, src, kind, true, true, &e);
  if ((rc = take_off(t, src, kind, true, false, &e))) return rc;
  return take_off(t, dst, kind, false, true, &e);
}

int rg__actor_is_orphan(rg_txn_t *t, uint64_t id, bool *orphan) {
  MDB_val v;
  uint64_t src, dst;
  rg_edge_kind_t kind;
  *orphan = false;
  int rc = rg__batch_flush(t); /* its queued edges count */
  if (!rc) rc = rg__get_by_id(t, DB_ACTOR, id, &v, "get actor");
  if (rc) return rc;
  for (int dbi = DB_OUT; dbi <= DB_IN; dbi++) {
    rc = first_edge(t, dbi, id, &src, &kind, &dst);
    if (rc != RG_ENOT_FOUND) return rc; /* 0: it has an edge */
  }
  rc = rg__get_by_id(t, DB_LABEL, id, &v, "get label");
  if (rc != RG_ENOT_FOUND) return rc;
  *orphan = true;
  return RG_OK;
}

/* ---- whole-store scans -------------------------------------------------------------- */

typedef struct {
  rg_actor_visit_fn fn;
  void *ctx;
  int64_t now;
  double h;
} actor_scan_t;

static int visit_actor(void *ctx, uint64_t id, const MDB_val *v) {
  actor_scan_t *a = ctx;
  rg_actor_rec_t r;
  int rc = decode_actor(v, &r);
  if (rc) return rc;
  r.weight_out = rg_store_decay(r.weight_out, r.as_of, a->now, a->h);
  r.weight_in = rg_store_decay(r.weight_in, r.as_of, a->now, a->h);
  if (a->now > r.as_of) r.as_of = a->now;
  return a->fn(a->ctx, id, &r);
}

int rg_store_scan_actors(rg_txn_t *t, int64_t now, rg_actor_visit_fn fn, void *ctx) {
  actor_scan_t a = {fn, ctx, now, t->s->half_life_s};
  int rc = rg__batch_flush(t); /* the scan reads the store */
  if (rc) return rc;
  return rg__scan_by_id(t, DB_ACTOR, visit_actor, &a);
}
