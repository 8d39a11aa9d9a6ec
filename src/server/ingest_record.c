/* ingest_record.c — an ingest as a write-ahead log record (wal.enabled): the actors and edges
 * ingest.c validated and normalised, encoded compactly, and their application to the store
 * from that encoding (what apply_ingest does from the prepared write). In a pseudonymised
 * store actors are logged by their pseudonyms. Encoding on the loop
 * thread (or the offload pool), applying on the writer thread or at start-up replay.
 *
 * Payload: u8 version (1), varint slices, then per slice: varint observations, actors,
 * edges, zigzag base time; each actor: u8 type, varint key length, key, varint messages,
 * varint submissions, zigzag (first - base), varint (last - first); each edge: u8 kind
 * (| 0x80 when weight 1 and count 1), varint src and dst (indexes of the slice's actors),
 * zigzag (ts - base), and without the 0x80 flag an 8-byte big-endian weight and a varint
 * count. */
#include <stdlib.h>
#include <string.h>

#include "ingest_internal.h"
#include "repgraph/err.h"

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

/* Applies one slice: every actor upserted once, then the edges. */
static int apply_slice(rg_txn_t *t, reader_t *r, uint64_t **ids, size_t *cap, uint64_t *edges,
                       uint64_t *observations) {
  uint64_t n_obs = get_varint(r), n_actors = get_varint(r), n_edges = get_varint(r);
  int64_t base = get_zigzag(r);
  if (r->bad || n_actors > (size_t)(r->end - r->p) || n_edges > (size_t)(r->end - r->p))
    return RG_EIO;
  if (n_actors > *cap) {
    uint64_t *p = realloc(*ids, n_actors * sizeof *p);
    if (!p) return RG_ENOMEM;
    *ids = p;
    *cap = n_actors;
  }
  int rc = RG_OK;
  for (uint64_t i = 0; i < n_actors && !rc; i++) {
    rg_actor_t a;
    const uint8_t *type = get_bytes(r, 1);
    uint64_t len = get_varint(r);
    const uint8_t *key = r->bad || len > RG_ACTOR_KEY_MAX ? NULL : get_bytes(r, len);
    uint64_t messages = get_varint(r), submissions = get_varint(r);
    int64_t first = base + get_zigzag(r);
    int64_t last = first + (int64_t)get_varint(r);
    if (!type || !key || r->bad) return RG_EIO;
    a.type = (rg_actor_type_t)*type;
    a.len = (uint16_t)len;
    memcpy(a.key, key, len);
    a.key[len] = '\0';
    rc = rg_store_upsert_actor(t, &a, first, last, messages, &(*ids)[i]);
    if (!rc && submissions) rc = rg_store_add_submissions(t, (*ids)[i], submissions);
  }
  for (uint64_t i = 0; i < n_edges && !rc; i++) {
    const uint8_t *kind = get_bytes(r, 1);
    uint64_t src = get_varint(r), dst = get_varint(r);
    int64_t ts = base + get_zigzag(r);
    double weight = 1;
    uint64_t count = 1;
    if (kind && !(*kind & EDGE_UNIT)) {
      const uint8_t *w = get_bytes(r, 8);
      if (w) {
        uint64_t u = rg_get_u64be(w);
        memcpy(&weight, &u, sizeof weight);
      }
      count = get_varint(r);
    }
    if (!kind || r->bad || src >= n_actors || dst >= n_actors ||
        (*kind & ~EDGE_UNIT) >= RG_EDGE_KIND_COUNT)
      return RG_EIO;
    rc = rg_store_add_edge(t, (*ids)[src], (rg_edge_kind_t)(*kind & ~EDGE_UNIT), (*ids)[dst], ts,
                           weight, count);
  }
  if (!rc) *edges += n_edges, *observations += n_obs;
  return rc;
}

int rg__ingest_apply_record(rg_txn_t *t, const uint8_t *p, size_t len, uint64_t *edges,
                            uint64_t *observations) {
  reader_t r = {p, p + len, false};
  *edges = *observations = 0;
  const uint8_t *version = get_bytes(&r, 1);
  if (!version || *version != RECORD_VERSION) return RG_EIO;
  uint64_t n_slices = get_varint(&r);
  uint64_t *ids = NULL;
  size_t cap = 0;
  int rc = r.bad ? RG_EIO : RG_OK;
  for (uint64_t i = 0; i < n_slices && !rc; i++)
    rc = apply_slice(t, &r, &ids, &cap, edges, observations);
  free(ids);
  if (!rc && r.p != r.end) rc = RG_EIO;
  return rc;
}
