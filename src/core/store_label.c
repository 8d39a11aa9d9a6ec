/* store_label.c — labels in the store: an actor's latest label (the seed), its history
 * with retractions, the label scan, and the history's part in the schema 3 upgrade and in
 * forget. Reads in any transaction; writes in the writer's. */
#include <lmdb.h>
#include <stdint.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "store_codec.h"

#define LABEL_HDR_LEN 24 /* verdict, source, notelen, w, ts, n */

/* ---- labels ------------------------------------------------------------------------ */

static int decode_label(const MDB_val *v, rg_label_t *l) {
  const uint8_t *p = v->mv_data;
  if (v->mv_size < LABEL_HDR_LEN) return RG_EIO;
  uint16_t note_len = rg_get_u16be(p + 2);
  if (note_len > RG_LABEL_NOTE_MAX || v->mv_size != LABEL_HDR_LEN + (size_t)note_len) return RG_EIO;
  l->verdict = (rg_verdict_t)p[0];
  l->source = (rg_label_source_t)p[1];
  l->note_len = note_len;
  l->weight = rg__get_f64(p + 4);
  l->ts = (int64_t)rg_get_u64be(p + 12);
  l->count = rg_get_u32be(p + 20);
  memcpy(l->note, p + LABEL_HDR_LEN, note_len);
  l->note[note_len] = '\0';
  return RG_OK;
}

int rg_store_get_label(rg_txn_t *t, uint64_t id, rg_label_t *l) {
  MDB_val v;
  int rc = rg__get_by_id(t, DB_LABEL, id, &v, "get label");
  return rc ? rc : decode_label(&v, l);
}

static size_t encode_label(uint8_t *vb, const rg_label_t *l, uint32_t count) {
  uint16_t note_len = l->note_len > RG_LABEL_NOTE_MAX ? RG_LABEL_NOTE_MAX : l->note_len;
  vb[0] = (uint8_t)l->verdict;
  vb[1] = (uint8_t)l->source;
  rg_put_u16be(vb + 2, note_len);
  rg__put_f64(vb + 4, l->weight);
  rg_put_u64be(vb + 12, (uint64_t)l->ts);
  rg_put_u32be(vb + 20, count);
  memcpy(vb + LABEL_HDR_LEN, l->note, note_len);
  return LABEL_HDR_LEN + (size_t)note_len;
}

/* label_log key: actor id, then the entry's 1-based position. */
static void log_key(uint8_t k[12], uint64_t id, uint32_t n) {
  rg_put_u64be(k, id);
  rg_put_u32be(k + 8, n);
}

/* Moves c to the actor's newest history entry: the entry before the first key past the
 * actor's (which may be another actor's: callers check the id). An mdb_cursor_get code. */
static int log_seek_newest(MDB_cursor *c, uint64_t id, MDB_val *k, MDB_val *v) {
  uint8_t kb[12];
  log_key(kb, id, UINT32_MAX);
  *k = (MDB_val){12, kb};
  int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE); /* past the actor's newest entry */
  return mdb_cursor_get(c, k, v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
}

/* Number of entries in an actor's label history (the position of its last one). */
static int log_length(rg_txn_t *t, uint64_t id, uint32_t *n) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_LABEL_LOG], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  MDB_val k, v;
  rc = log_seek_newest(c, id, &k, &v);
  *n = 0;
  if (rc == 0 && k.mv_size == 12 && rg_get_u64be(k.mv_data) == id)
    *n = rg_get_u32be((const uint8_t *)k.mv_data + 8);
  mdb_cursor_close(c);
  return rc == 0 || rc == MDB_NOTFOUND ? RG_OK : rg__from_mdb(rc, "label log");
}

/* Appends l to the actor's history; *count receives its position. */
static int log_append(rg_txn_t *t, uint64_t id, const rg_label_t *l, uint32_t *count) {
  uint32_t n;
  int rc = log_length(t, id, &n);
  if (rc) return rc;
  uint8_t kb[12], vb[LABEL_HDR_LEN + RG_LABEL_NOTE_MAX];
  *count = n + 1;
  log_key(kb, id, *count);
  MDB_val k = {12, kb}, v = {encode_label(vb, l, *count), vb};
  return rg__from_mdb(mdb_put(t->txn, t->s->dbi[DB_LABEL_LOG], &k, &v, 0), "put label log");
}

int rg_store_put_label(rg_txn_t *t, uint64_t id, const rg_label_t *l) {
  rg_label_t old;
  MDB_val aval;
  int rc = rg__get_by_id(t, DB_ACTOR, id, &aval, "get actor");
  if (rc) return rc; /* RG_ENOT_FOUND: no such actor (forgotten) */
  rc = rg_store_get_label(t, id, &old);
  if (rc && rc != RG_ENOT_FOUND) return rc;
  if (rc == RG_ENOT_FOUND && (rc = rg__count_add(t, CNT_LABELS, 1))) return rc;
  uint32_t count;
  if ((rc = log_append(t, id, l, &count))) return rc;
  uint8_t kb[8], vb[LABEL_HDR_LEN + RG_LABEL_NOTE_MAX];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb}, v = {encode_label(vb, l, count), vb};
  rg__touch(t, id);
  return rg__from_mdb(mdb_put(t->txn, t->s->dbi[DB_LABEL], &k, &v, 0), "put label");
}

int rg_store_unlabel(rg_txn_t *t, uint64_t id, int64_t ts, const char *note, uint16_t note_len) {
  rg_label_t l;
  int rc = rg_store_get_label(t, id, &l);
  if (rc) return rc;
  uint8_t kb[8];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb};
  rg__touch(t, id);
  if ((rc = rg__from_mdb(mdb_del(t->txn, t->s->dbi[DB_LABEL], &k, NULL), "del label"))) return rc;
  if ((rc = rg__count_add(t, CNT_LABELS, -1))) return rc;
  l.verdict = RG_VERDICT_RETRACTED;
  l.ts = ts;
  l.note_len = note_len > RG_LABEL_NOTE_MAX ? RG_LABEL_NOTE_MAX : note_len;
  memcpy(l.note, note, l.note_len);
  uint32_t count;
  return log_append(t, id, &l, &count);
}

int rg_store_scan_label_history(rg_txn_t *t, uint64_t id, rg_label_visit_fn fn, void *ctx) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_LABEL_LOG], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  MDB_val k, v;
  int out = RG_OK;
  rg_label_t l;
  for (rc = log_seek_newest(c, id, &k, &v); rc == 0 && !out;
       rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
    if (k.mv_size != 12 || rg_get_u64be(k.mv_data) != id) break;
    if (!(out = decode_label(&v, &l))) out = fn(ctx, id, &l);
  }
  if (!out && rc && rc != MDB_NOTFOUND) out = rg__from_mdb(rc, "label log");
  mdb_cursor_close(c);
  return out;
}

/* Deletes an actor's whole label history (forget). */
static int log_delete(rg_txn_t *t, uint64_t id) {
  uint32_t n;
  int rc = log_length(t, id, &n);
  for (uint32_t i = 1; i <= n && !rc; i++) {
    uint8_t kb[12];
    log_key(kb, id, i);
    MDB_val k = {12, kb};
    rc = mdb_del(t->txn, t->s->dbi[DB_LABEL_LOG], &k, NULL);
    rc = rc == MDB_NOTFOUND ? RG_OK : rg__from_mdb(rc, "del label log");
  }
  return rc;
}

typedef struct {
  rg_label_visit_fn fn;
  void *ctx;
} label_scan_t;

static int visit_label(void *ctx, uint64_t id, const MDB_val *v) {
  label_scan_t *a = ctx;
  rg_label_t l;
  int rc = decode_label(v, &l);
  return rc ? rc : a->fn(a->ctx, id, &l);
}

int rg_store_scan_labels(rg_txn_t *t, rg_label_visit_fn fn, void *ctx) {
  label_scan_t a = {fn, ctx};
  return rg__scan_by_id(t, DB_LABEL, visit_label, &a);
}

/* ---- schema upgrade and forget ------------------------------------------------------- */

/* Schema 3 upgrade: each existing label becomes its actor's history entry at the position
 * of its count (so history shows it and the next label counts on). */
int rg__label_log_seed(rg_txn_t *t) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_LABEL], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
  MDB_val k, v;
  int out = RG_OK;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !out;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    rg_label_t l;
    out = k.mv_size == 8 ? decode_label(&v, &l) : RG_EIO;
    if (out) break;
    uint8_t kb[12];
    log_key(kb, rg_get_u64be(k.mv_data), l.count ? l.count : 1);
    MDB_val lk = {12, kb};
    out = rg__from_mdb(mdb_put(t->txn, t->s->dbi[DB_LABEL_LOG], &lk, &v, 0), "put label log");
  }
  if (!out && rc && rc != MDB_NOTFOUND) out = rg__from_mdb(rc, "label scan");
  mdb_cursor_close(c);
  return out;
}

/* Deletes the actor's label (if any) and its whole history. */
int rg__label_forget(rg_txn_t *t, uint64_t id) {
  uint8_t ib[8];
  rg_put_u64be(ib, id);
  MDB_val idk = {8, ib};
  rg__touch(t, id);
  int rc = mdb_del(t->txn, t->s->dbi[DB_LABEL], &idk, NULL);
  if (rc == 0 && (rc = rg__count_add(t, CNT_LABELS, -1))) return rc;
  if (rc && rc != MDB_NOTFOUND) return rg__from_mdb(rc, "del label");
  return log_delete(t, id);
}
