/* store_batch.c — a write transaction's batch: a write-back cache of the actor records it
 * read or changed, and the edge additions it has not applied yet (store_graph.c applies
 * them in key order at rg__batch_flush: repeated edges coalesce, neighbouring keys share
 * pages, and each actor record is rewritten once per flush instead of twice per edge).
 * The edge additions sort by a stable radix sort; the batch outlives its transaction as the
 * store's spare, so the next one reuses its arrays. Only data structures here; the store's
 * codecs stay in store_graph.c. Writer thread (whichever thread holds the write transaction). */
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/grow.h"
#include "store_codec.h"

int rg__batch_get(rg_txn_t *t, rg__batch_t **out) {
  if (!t->batch) { /* the store's spare, its arrays already grown (and their pages mapped) */
    t->batch = t->s->spare_batch;
    t->s->spare_batch = NULL;
  }
  if (!t->batch && !(t->batch = calloc(1, sizeof *t->batch))) return RG_ENOMEM;
  *out = t->batch;
  return RG_OK;
}

static void free_batch(rg__batch_t *b) {
  if (!b) return;
  free(b->edges);
  free(b->tmp);
  free(b->actors);
  free(b->slots);
  free(b);
}

void rg__batch_free(rg_txn_t *t) {
  rg__batch_t *b = t->batch;
  if (!b) return;
  t->batch = NULL;
  if (t->s->spare_batch) {
    free_batch(b);
    return;
  }
  b->n_edges = 0;
  rg__batch_clear_actors(b);
  t->s->spare_batch = b;
}

void rg__batch_drop_spare(rg_store_t *s) {
  free_batch(s->spare_batch);
  s->spare_batch = NULL;
}

/* Fibonacci hashing of ids: consecutive ids spread over the table. */
static uint32_t slot_of(const rg__batch_t *b, uint64_t id) {
  return (uint32_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (b->n_slots - 1);
}

/* Notes the slot found (id and index) as the last one found, the previous in memo[1]. */
static void remember(rg__batch_t *b, rg__batch_slot_t s) {
  if (b->memo[0].index == s.index) return;
  b->memo[1] = b->memo[0];
  b->memo[0] = s;
}

rg__cached_actor_t *rg__batch_find_actor(rg__batch_t *b, uint64_t id) {
  if (!b || !b->n_slots) return NULL;
  for (int k = 0; k < 2; k++) { /* an edge's ends, or a run of edges from one actor */
    rg__batch_slot_t s = b->memo[k];
    if (s.index && s.id == id) {
      remember(b, s);
      return &b->actors[s.index - 1];
    }
  }
  for (uint32_t i = slot_of(b, id);; i = (i + 1) & (b->n_slots - 1)) {
    rg__batch_slot_t s = b->slots[i];
    if (!s.index) return NULL;
    if (s.id == id) {
      remember(b, s);
      return &b->actors[s.index - 1];
    }
  }
}

/* Keeps the table at most half full. */
static int grow_slots(rg__batch_t *b) {
  if (2 * (b->n_actors + 1) <= b->n_slots) return RG_OK;
  uint32_t n = b->n_slots ? 2 * b->n_slots : 1024;
  rg__batch_slot_t *slots = calloc(n, sizeof *slots);
  if (!slots) return RG_ENOMEM;
  free(b->slots);
  b->slots = slots;
  b->n_slots = n;
  for (uint32_t a = 0; a < b->n_actors; a++) {
    uint32_t i = slot_of(b, b->actors[a].id);
    while (b->slots[i].index) i = (i + 1) & (n - 1);
    b->slots[i] = (rg__batch_slot_t){b->actors[a].id, a + 1};
  }
  return RG_OK;
}

int rg__batch_add_actor(rg__batch_t *b, uint64_t id, const rg_actor_rec_t *r, bool dirty,
                        rg__cached_actor_t **out) {
  int rc = grow_slots(b);
  if (!rc) rc = rg_grow((void **)&b->actors, &b->cap_actors, b->n_actors + 1, sizeof *b->actors);
  if (rc) return rc;
  rg__cached_actor_t *c = &b->actors[b->n_actors++];
  c->id = id;
  c->dirty = dirty;
  c->rec = *r;
  uint32_t i = slot_of(b, id);
  while (b->slots[i].index) i = (i + 1) & (b->n_slots - 1);
  b->slots[i] = (rg__batch_slot_t){id, (uint32_t)b->n_actors};
  *out = c;
  return RG_OK;
}

void rg__batch_clear_actors(rg__batch_t *b) {
  if (!b) return;
  if (8 * b->n_actors >= b->n_slots) {
    if (b->slots) memset(b->slots, 0, (size_t)b->n_slots * sizeof *b->slots);
  } else { /* a few actors in a large (kept) table: empty their slots only */
    for (size_t a = 0; a < b->n_actors; a++) {
      uint32_t i = slot_of(b, b->actors[a].id);
      while (b->slots[i].index != a + 1) i = (i + 1) & (b->n_slots - 1);
      b->slots[i] = (rg__batch_slot_t){0, 0};
    }
  }
  b->n_actors = 0;
  b->memo[0] = b->memo[1] = (rg__batch_slot_t){0, 0};
}

int rg__batch_add_edge(rg__batch_t *b, const rg__edge_add_t *e) {
  int rc = rg_grow((void **)&b->edges, &b->cap_edges, b->n_edges + 1, sizeof *b->edges);
  if (rc) return rc;
  b->edges[b->n_edges++] = *e;
  return RG_OK;
}

#define KEY_BYTES 17 /* src (8), kind (1), dst (8) */

/* Byte d of an addition's key (src, kind, dst) read as one big-endian number: d = 0 is
 * the least significant (dst's lowest byte). */
static inline unsigned key_byte(const rg__edge_add_t *e, unsigned d) {
  if (d < 8) return (unsigned)(e->dst >> (8 * d)) & 0xff;
  if (d == 8) return e->kind;
  return (unsigned)(e->src >> (8 * (d - 9))) & 0xff;
}

/* Least-significant-digit radix sort of a[0..n) by (src, kind, dst), one byte a pass; it is
 * stable, so equal keys keep their order in a. A byte that is the same in every addition
 * (the high bytes of ids, mostly) costs no pass. tmp holds n additions; the result is in a. */
static void radix_sort(rg__edge_add_t *a, rg__edge_add_t *tmp, size_t n) {
  uint32_t count[KEY_BYTES][256] = {{0}}; /* n <= RG__BATCH_EDGES_MAX: 32 bits suffice */
  for (size_t i = 0; i < n; i++)
    for (unsigned d = 0; d < KEY_BYTES; d++) count[d][key_byte(&a[i], d)]++;
  rg__edge_add_t *from = a, *to = tmp;
  for (unsigned d = 0; d < KEY_BYTES && n; d++) {
    uint32_t *c = count[d], sum = 0;
    if (c[key_byte(&from[0], d)] == n) continue;
    for (unsigned v = 0; v < 256; v++) {
      uint32_t k = c[v];
      c[v] = sum;
      sum += k;
    }
    for (size_t i = 0; i < n; i++) to[c[key_byte(&from[i], d)]++] = from[i];
    rg__edge_add_t *x = from;
    from = to, to = x;
  }
  if (from != a) memcpy(a, from, n * sizeof *a);
}

/* Grows the batch's scratch array to n additions. 0 or RG_ENOMEM. */
static int reserve_tmp(rg__batch_t *b, size_t n) {
  return n <= b->cap_tmp ? RG_OK : rg_grow((void **)&b->tmp, &b->cap_tmp, n, sizeof *b->tmp);
}

int rg__batch_sort_edges(rg__batch_t *b) {
  int rc = reserve_tmp(b, b->n_edges);
  if (!rc) radix_sort(b->edges, b->tmp, b->n_edges);
  return rc;
}

int rg__batch_sort_in(rg__batch_t *b, rg__edge_add_t *edges, size_t n) {
  int rc = reserve_tmp(b, n);
  if (!rc) radix_sort(edges, b->tmp, n);
  return rc;
}

static int cmp_actor(const void *x, const void *y) {
  uint64_t a = ((const rg__batch_slot_t *)x)->id, b = ((const rg__batch_slot_t *)y)->id;
  return a < b ? -1 : a > b;
}

void rg__batch_sort_actors(rg__batch_slot_t *actors, size_t n) {
  qsort(actors, n, sizeof *actors, cmp_actor);
}
