/* store_expire.c — retention in the store: one bounded slice of a sweep that deletes edges
 * not seen since a cut-off, retracts old labels and deletes the actors left with neither
 * (see rg_store_expire_slice). A slice first walks its phase's sub-database read-only from
 * the sweep's cursor, collecting at most max_deletes candidates among at most max_visits
 * rows, then deletes them with no cursor open. Writer thread (a write transaction). */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "store_codec.h"

#define EDGE_KEY_LEN 17 /* as store_graph.c: src | kind | dst */
#define RETRACT_NOTE "retention.labels"

/* The phase after p that the options turn on (RG_EXPIRE_DONE when none). */
static rg_expire_phase_t next_phase(const rg_expire_opts_t *o, rg_expire_phase_t p) {
  for (int q = (int)p + 1; q < RG_EXPIRE_DONE; q++) {
    if (q == RG_EXPIRE_EDGES && o->edges) return RG_EXPIRE_EDGES;
    if (q == RG_EXPIRE_LABELS && o->labels) return RG_EXPIRE_LABELS;
    if (q == RG_EXPIRE_ACTORS && (o->edges || o->labels)) return RG_EXPIRE_ACTORS;
  }
  return RG_EXPIRE_DONE;
}

/* Candidates a walk collected: whole keys of the phase's sub-database. */
typedef struct {
  uint8_t (*keys)[24];
  uint32_t n, cap;
} picks_t;

/* Decides whether the row (k, v) is to go. */
typedef int (*pick_fn)(rg_txn_t *t, const rg_expire_opts_t *o, const MDB_val *k, const MDB_val *v,
                       bool *take);

static int pick_edge(rg_txn_t *t, const rg_expire_opts_t *o, const MDB_val *k, const MDB_val *v,
                     bool *take) {
  (void)t;
  rg_edge_rec_t e;
  if (k->mv_size != EDGE_KEY_LEN || ((const uint8_t *)k->mv_data)[8] >= RG_EDGE_KIND_COUNT)
    return RG_EIO;
  int rc = rg__edge_decode(v, &e);
  *take = !rc && e.last_seen < o->edges_before;
  return rc;
}

static int pick_label(rg_txn_t *t, const rg_expire_opts_t *o, const MDB_val *k, const MDB_val *v,
                      bool *take) {
  (void)v;
  rg_label_t l;
  if (k->mv_size != 8) return RG_EIO;
  int rc = rg_store_get_label(t, rg_get_u64be(k->mv_data), &l);
  *take = !rc && l.ts < o->labels_before;
  return rc;
}

static int pick_actor(rg_txn_t *t, const rg_expire_opts_t *o, const MDB_val *k, const MDB_val *v,
                      bool *take) {
  (void)o, (void)v;
  if (k->mv_size != 8) return RG_EIO;
  return rg__actor_is_orphan(t, rg_get_u64be(k->mv_data), take);
}

/* Walks dbi from the cursor (exclusive), collecting the rows `pick` takes, until the budget
 * of visits or picks runs out; *end is set when the walk reached the last row. The cursor
 * moves to the last row looked at. */
static int walk(rg_txn_t *t, int dbi, const rg_expire_opts_t *o, pick_fn pick,
                rg_expire_cursor_t *cur, picks_t *p, rg_expire_counts_t *n, bool *end) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  MDB_val k = {cur->key_len, cur->key}, v;
  rc = mdb_cursor_get(c, &k, &v, cur->key_len ? MDB_SET_RANGE : MDB_FIRST);
  if (rc == 0 && cur->key_len && k.mv_size == cur->key_len &&
      memcmp(k.mv_data, cur->key, cur->key_len) == 0)
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT); /* exclusive start */
  int out = RG_OK;
  uint32_t visits = 0;
  *end = false;
  for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size > sizeof cur->key) {
      out = RG_EIO;
      break;
    }
    bool take = false;
    if ((out = pick(t, o, &k, &v, &take))) break;
    memcpy(cur->key, k.mv_data, k.mv_size);
    cur->key_len = (uint8_t)k.mv_size;
    visits++;
    if (take) {
      memset(p->keys[p->n], 0, sizeof p->keys[0]);
      memcpy(p->keys[p->n++], k.mv_data, k.mv_size);
    }
    if (p->n >= p->cap || visits >= o->max_visits) break;
  }
  if (rc == MDB_NOTFOUND) *end = true;
  if (!out && rc && rc != MDB_NOTFOUND) out = rg__from_mdb(rc, "expire walk");
  n->visited += visits;
  mdb_cursor_close(c);
  return out;
}

/* Deletes the actor if nothing holds it any more (as rg_store_forget). */
static int drop_if_orphan(rg_txn_t *t, uint64_t id, rg_expire_counts_t *n) {
  bool orphan;
  int rc = rg__actor_is_orphan(t, id, &orphan);
  if (rc == RG_ENOT_FOUND) return RG_OK; /* gone already */
  if (rc || !orphan) return rc;
  if ((rc = rg_store_forget(t, id))) return rc;
  n->actors++;
  return RG_OK;
}

/* Deletes (or retracts) the picked rows of a phase. */
static int apply_picks(rg_txn_t *t, const rg_expire_opts_t *o, rg_expire_phase_t phase,
                       const picks_t *p, rg_expire_counts_t *n) {
  int rc = RG_OK;
  for (uint32_t i = 0; i < p->n && !rc; i++) {
    const uint8_t *k = p->keys[i];
    uint64_t a = rg_get_u64be(k);
    switch (phase) {
      case RG_EXPIRE_EDGES: {
        uint64_t b = rg_get_u64be(k + 9);
        if ((rc = rg__edge_expire(t, a, (rg_edge_kind_t)k[8], b))) break;
        n->edges++;
        if (!(rc = drop_if_orphan(t, a, n)) && b != a) rc = drop_if_orphan(t, b, n);
        break;
      }
      case RG_EXPIRE_LABELS:
        if ((rc = rg_store_unlabel(t, a, o->now, RETRACT_NOTE, sizeof RETRACT_NOTE - 1))) break;
        n->labels++;
        rc = drop_if_orphan(t, a, n);
        break;
      case RG_EXPIRE_ACTORS: rc = drop_if_orphan(t, a, n); break;
      case RG_EXPIRE_DONE: break;
    }
  }
  return rc;
}

int rg_store_expire_slice(rg_txn_t *t, const rg_expire_opts_t *o, rg_expire_cursor_t *cur,
                          rg_expire_counts_t *n) {
  static const int dbs[] = {
      [RG_EXPIRE_EDGES] = DB_OUT, [RG_EXPIRE_LABELS] = DB_LABEL, [RG_EXPIRE_ACTORS] = DB_ACTOR};
  static const pick_fn picks[] = {[RG_EXPIRE_EDGES] = pick_edge,
                                  [RG_EXPIRE_LABELS] = pick_label,
                                  [RG_EXPIRE_ACTORS] = pick_actor};
  bool on = cur->phase == RG_EXPIRE_EDGES    ? o->edges
            : cur->phase == RG_EXPIRE_LABELS ? o->labels
                                             : o->edges || o->labels;
  if (cur->phase < RG_EXPIRE_DONE && !on) {
    cur->phase = next_phase(o, cur->phase);
    cur->key_len = 0;
  }
  if (cur->phase >= RG_EXPIRE_DONE) return RG_OK;
  picks_t p = {NULL, 0, o->max_deletes ? o->max_deletes : 1};
  if (!(p.keys = calloc(p.cap, sizeof *p.keys))) return RG_ENOMEM;
  bool end;
  rg_expire_phase_t phase = cur->phase;
  int rc = walk(t, dbs[phase], o, picks[phase], cur, &p, n, &end);
  if (!rc) rc = apply_picks(t, o, phase, &p, n);
  if (!rc && end) {
    cur->phase = next_phase(o, phase);
    cur->key_len = 0;
  }
  free(p.keys);
  return rc;
}
