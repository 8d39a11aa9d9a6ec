/* ingest_record.c — an ingest as a write-ahead log record (wal.enabled): the actors and edges
 * ingest.c validated and normalised, encoded compactly, and their application to the store
 * from that encoding (what apply_ingest does from the prepared write), many records at
 * once: a merge upserts each actor the records name once, in key order, then adds their
 * edges (the transaction's batch sorts and folds those). In a pseudonymised
 * store actors are logged by their pseudonyms. Encoding on the loop
 * thread (or the offload pool), applying on the writer thread or at start-up replay.
 *
 * Payload: u8 version (1), varint slices, then per slice: varint observations, actors,
 * edges, zigzag base time; each actor: u8 type, varint key length, key, varint messages,
 * varint submissions, zigzag (first - base), varint (last - first); each edge: u8 kind
 * (| 0x80 when weight 1 and count 1), varint src and dst (indexes of the slice's actors),
 * zigzag (ts - base), and without the 0x80 flag an 8-byte big-endian weight and a varint
 * count. */
#define _GNU_SOURCE /* qsort_r */
#include <stdlib.h>
#include <string.h>

#include "ingest_internal.h"
#include "repgraph/err.h"
#include "repgraph/grow.h"

#define RECORD_VERSION 1
#define EDGE_UNIT      0x80 /* weight 1, count 1: neither is written */

static int put_varint(rg_buf_t *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  do {
    tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return rg_buf_append(b, tmp, n);
}

static int put_zigzag(rg_buf_t *b, int64_t v) {
  return put_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

/* The key an actor is logged under: its pseudonym in a pseudonymised store (so the log, like
 * the store, never holds the identifier in the clear), else itself. */
static int logged_key(const rg_pseudonym_t *p, const slice_t *s, const job_actor_t *ja,
                      rg_actor_t *buf, const uint8_t **key, size_t *len) {
  *key = s->keys.data + ja->key_off;
  *len = ja->key_len;
  if (!p) return RG_OK;
  rg_actor_t a = {.type = (rg_actor_type_t)ja->type, .len = ja->key_len};
  memcpy(a.key, *key, ja->key_len);
  a.key[ja->key_len] = '\0';
  if (rg_actor_is_pseudonym(&a)) return RG_OK;
  int rc = rg_pseudonym_of(p, &a, buf);
  if (!rc) *key = (const uint8_t *)buf->key, *len = buf->len;
  return rc;
}

static int encode_slice(const rg_pseudonym_t *p, const slice_t *s, rg_buf_t *b) {
  int64_t base = s->n_actors ? s->actors[0].ts : 0;
  int rc = put_varint(b, s->n_observations);
  if (!rc) rc = put_varint(b, s->n_actors);
  if (!rc) rc = put_varint(b, s->n_edges);
  if (!rc) rc = put_zigzag(b, base);
  for (uint32_t i = 0; i < s->n_actors && !rc; i++) {
    const job_actor_t *a = &s->actors[i];
    uint8_t type = a->type;
    rg_actor_t pa;
    const uint8_t *key;
    size_t len;
    rc = logged_key(p, s, a, &pa, &key, &len);
    if (!rc) rc = rg_buf_append(b, &type, 1);
    if (!rc) rc = put_varint(b, len);
    if (!rc) rc = rg_buf_append(b, key, len);
    if (!rc) rc = put_varint(b, a->messages);
    if (!rc) rc = put_varint(b, a->submissions);
    if (!rc) rc = put_zigzag(b, a->ts - base);
    if (!rc) rc = put_varint(b, (uint64_t)(a->ts_last - a->ts));
  }
  for (uint32_t i = 0; i < s->n_edges && !rc; i++) {
    const job_edge_t *e = &s->edges[i];
    bool unit = e->weight == 1.0 && e->count == 1;
    uint8_t kind = (uint8_t)(e->kind | (unit ? EDGE_UNIT : 0));
    rc = rg_buf_append(b, &kind, 1);
    if (!rc) rc = put_varint(b, e->src);
    if (!rc) rc = put_varint(b, e->dst);
    if (!rc) rc = put_zigzag(b, e->ts - base);
    if (!rc && !unit) {
      uint8_t w[8];
      uint64_t u;
      memcpy(&u, &e->weight, sizeof u);
      rg_put_u64be(w, u);
      rc = rg_buf_append(b, w, sizeof w);
      if (!rc) rc = put_varint(b, e->count);
    }
  }
  return rc;
}

int rg__ingest_encode(const rg_write_t *base, rg_buf_t *out, uint64_t *edges,
                      uint64_t *observations) {
  const ingest_write_t *w = (const ingest_write_t *)base;
  uint8_t version = RECORD_VERSION;
  *edges = *observations = 0;
  int rc = rg_buf_append(out, &version, 1);
  if (!rc) rc = put_varint(out, w->n_slices);
  for (uint32_t i = 0; i < w->n_slices && !rc; i++) {
    rc = encode_slice(base->engine->pseudonym, &w->slices[i], out);
    *edges += w->slices[i].n_edges;
    *observations += w->slices[i].n_observations;
  }
  return rc;
}

/* ---- decoding ----------------------------------------------------------------------- */

typedef struct {
  const uint8_t *p, *end;
  bool bad;
} reader_t;

static uint64_t get_varint(reader_t *r) {
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end) break;
    uint8_t c = *r->p++;
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
  r->bad = true;
  return 0;
}

static int64_t get_zigzag(reader_t *r) {
  uint64_t u = get_varint(r);
  return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static const uint8_t *get_bytes(reader_t *r, size_t n) {
  if ((size_t)(r->end - r->p) < n) {
    r->bad = true;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  return p;
}

typedef struct {
  uint64_t observations, actors, edges;
  int64_t base;
} slice_head_t;

typedef struct {
  uint8_t type;
  uint16_t len;
  const uint8_t *key;
  uint64_t messages, submissions;
  int64_t first, last;
} rec_actor_t;

typedef struct {
  uint8_t kind;
  uint64_t src, dst, count;
  int64_t ts;
  double weight;
} rec_edge_t;

static bool read_slice_head(reader_t *r, slice_head_t *h) {
  h->observations = get_varint(r);
  h->actors = get_varint(r);
  h->edges = get_varint(r);
  h->base = get_zigzag(r);
  return !r->bad && h->actors <= (size_t)(r->end - r->p) && h->edges <= (size_t)(r->end - r->p);
}

static bool read_actor(reader_t *r, const slice_head_t *h, rec_actor_t *a) {
  const uint8_t *type = get_bytes(r, 1);
  uint64_t len = get_varint(r);
  a->key = r->bad || len > RG_ACTOR_KEY_MAX ? NULL : get_bytes(r, len);
  a->messages = get_varint(r);
  a->submissions = get_varint(r);
  a->first = h->base + get_zigzag(r);
  a->last = a->first + (int64_t)get_varint(r);
  if (!type || !a->key || r->bad) return false;
  a->type = *type;
  a->len = (uint16_t)len;
  return true;
}

static bool read_edge(reader_t *r, const slice_head_t *h, rec_edge_t *e) {
  const uint8_t *kind = get_bytes(r, 1);
  e->src = get_varint(r);
  e->dst = get_varint(r);
  e->ts = h->base + get_zigzag(r);
  e->weight = 1;
  e->count = 1;
  if (kind && !(*kind & EDGE_UNIT)) {
    const uint8_t *w = get_bytes(r, 8);
    if (w) {
      uint64_t u = rg_get_u64be(w);
      memcpy(&e->weight, &u, sizeof e->weight);
    }
    e->count = get_varint(r);
  }
  if (!kind || r->bad || e->src >= h->actors || e->dst >= h->actors ||
      (*kind & ~EDGE_UNIT) >= RG_EDGE_KIND_COUNT)
    return false;
  e->kind = (uint8_t)(*kind & ~EDGE_UNIT);
  return true;
}

/* ---- merging records ---------------------------------------------------------------- */

/* The merge: its actors (a slice of ingest.c's kind: each actor once, keyed by its
 * identifier, every record naming it adding up there), which of them each record slice's
 * actor i is, and the records. */
struct rg__ingest_merge {
  slice_t actors;
  uint32_t *map; /* each record slice's actor i -> merge actor, in the order added */
  size_t n_map, cap_map;
  struct {
    const uint8_t *p;
    size_t len;
  } *recs;
  size_t n_recs, cap_recs;
};

int rg__ingest_merge_new(const uint8_t *hash_key, rg__ingest_merge_t **out) {
  rg__ingest_merge_t *m = calloc(1, sizeof *m);
  if (!m) return RG_ENOMEM;
  m->actors.hash_key = hash_key;
  rg_buf_init(&m->actors.keys, UINT32_MAX);
  *out = m;
  return RG_OK;
}

void rg__ingest_merge_free(rg__ingest_merge_t *m) {
  if (!m) return;
  rg__slice_free(&m->actors);
  free(m->map);
  free(m->recs);
  free(m);
}

/* The merge actor of a, created or widened; its index in *index. */
static int merge_actor(rg__ingest_merge_t *m, const rec_actor_t *ra, uint32_t *index) {
  rg_actor_t a = {.type = (rg_actor_type_t)ra->type, .len = ra->len};
  memcpy(a.key, ra->key, ra->len);
  a.key[ra->len] = '\0';
  int rc = rg__slice_add_actor(&m->actors, &a, ra->first, ra->messages, index);
  if (rc) return rc;
  job_actor_t *ja = &m->actors.actors[*index];
  if (ra->last > ja->ts_last) ja->ts_last = ra->last;
  ja->submissions += ra->submissions;
  return RG_OK;
}

int rg__ingest_merge_add(rg__ingest_merge_t *m, const uint8_t *p, size_t len) {
  reader_t r = {p, p + len, false};
  const uint8_t *version = get_bytes(&r, 1);
  if (!version || *version != RECORD_VERSION) return RG_EIO;
  uint64_t n_slices = get_varint(&r);
  int rc = r.bad ? RG_EIO : RG_OK;
  for (uint64_t i = 0; i < n_slices && !rc; i++) {
    slice_head_t h;
    rec_edge_t e;
    if (!read_slice_head(&r, &h)) return RG_EIO;
    if ((rc = rg_grow((void **)&m->map, &m->cap_map, m->n_map + h.actors, sizeof *m->map)))
      return rc;
    for (uint64_t j = 0; j < h.actors && !rc; j++) {
      rec_actor_t a;
      if (!read_actor(&r, &h, &a)) return RG_EIO;
      rc = merge_actor(m, &a, &m->map[m->n_map++]);
    }
    for (uint64_t j = 0; j < h.edges && !rc; j++)
      if (!read_edge(&r, &h, &e)) return RG_EIO;
  }
  if (!rc && r.p != r.end) rc = RG_EIO;
  if (!rc) rc = rg_grow((void **)&m->recs, &m->cap_recs, m->n_recs + 1, sizeof *m->recs);
  if (!rc) m->recs[m->n_recs].p = p, m->recs[m->n_recs++].len = len;
  return rc;
}

/* A merge actor in the sort: its key's first bytes (type, then up to 7 of the identifier,
 * zero-padded) as a big-endian number, which orders most pairs without reading the key. */
typedef struct {
  uint64_t prefix;
  uint32_t index;
} sort_actor_t;

static uint64_t key_prefix(const slice_t *s, const job_actor_t *a) {
  uint64_t v = a->type;
  for (unsigned i = 0; i < 7; i++) v = v << 8 | (i < a->key_len ? s->keys.data[a->key_off + i] : 0);
  return v;
}

/* Key order of the store's actor_key index (type, then identifier bytes). */
static int cmp_key(const void *x, const void *y, void *ctx) {
  const sort_actor_t *p = x, *q = y;
  if (p->prefix != q->prefix) return p->prefix < q->prefix ? -1 : 1;
  const slice_t *s = ctx;
  const job_actor_t *a = &s->actors[p->index], *b = &s->actors[q->index];
  size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  int c = memcmp(s->keys.data + a->key_off, s->keys.data + b->key_off, n);
  return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* Upserts every merge actor once, in key order (neighbouring keys share pages). */
static int upsert_actors(rg_txn_t *t, slice_t *s) {
  sort_actor_t *order = malloc((s->n_actors ? s->n_actors : 1) * sizeof *order);
  if (!order) return RG_ENOMEM;
  for (uint32_t i = 0; i < s->n_actors; i++)
    order[i] = (sort_actor_t){key_prefix(s, &s->actors[i]), i};
  qsort_r(order, s->n_actors, sizeof *order, cmp_key, s);
  int rc = RG_OK;
  for (uint32_t i = 0; i < s->n_actors && !rc; i++) {
    job_actor_t *ja = &s->actors[order[i].index];
    rg_actor_t a = {.type = (rg_actor_type_t)ja->type, .len = ja->key_len};
    memcpy(a.key, s->keys.data + ja->key_off, ja->key_len);
    a.key[ja->key_len] = '\0';
    rc = rg_store_upsert_actor(t, &a, ja->ts, ja->ts_last, ja->messages, &ja->id);
    if (!rc && ja->submissions) rc = rg_store_add_submissions(t, ja->id, ja->submissions);
  }
  free(order);
  return rc;
}

int rg__ingest_merge_apply(rg_txn_t *t, rg__ingest_merge_t *m, uint64_t *edges,
                           uint64_t *observations) {
  *edges = *observations = 0;
  int rc = upsert_actors(t, &m->actors);
  size_t map = 0;
  for (size_t k = 0; k < m->n_recs && !rc; k++) {
    reader_t r = {m->recs[k].p, m->recs[k].p + m->recs[k].len, false};
    get_bytes(&r, 1);
    uint64_t n_slices = get_varint(&r);
    for (uint64_t i = 0; i < n_slices && !rc; i++) { /* checked by rg__ingest_merge_add */
      slice_head_t h;
      rec_actor_t a;
      rec_edge_t e;
      read_slice_head(&r, &h);
      for (uint64_t j = 0; j < h.actors; j++) read_actor(&r, &h, &a);
      for (uint64_t j = 0; j < h.edges && !rc; j++) {
        read_edge(&r, &h, &e);
        const job_actor_t *ja = m->actors.actors;
        rc = rg_store_add_edge(t, ja[m->map[map + e.src]].id, (rg_edge_kind_t)e.kind,
                               ja[m->map[map + e.dst]].id, e.ts, e.weight, e.count);
      }
      map += h.actors;
      *edges += h.edges;
      *observations += h.observations;
    }
  }
  return rc;
}

int rg__ingest_apply_record(rg_txn_t *t, const uint8_t *hash_key, const uint8_t *p, size_t len,
                            uint64_t *edges, uint64_t *observations) {
  rg__ingest_merge_t *m = NULL;
  int rc = rg__ingest_merge_new(hash_key, &m);
  if (!rc) rc = rg__ingest_merge_add(m, p, len);
  if (!rc) rc = rg__ingest_merge_apply(t, m, edges, observations);
  rg__ingest_merge_free(m);
  return rc;
}
