/* store_batch.c — a write transaction's batch: a write-back cache of the actor records it
 * read or changed, and the edge additions it has not applied yet (store_graph.c applies
 * them in key order at rg__batch_flush: repeated edges coalesce, neighbouring keys share
 * pages, and each actor record is rewritten once per flush instead of twice per edge).
 * Only data structures here; the store's codecs stay in store_graph.c. Writer thread. */
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/grow.h"
#include "store_codec.h"

int rg__batch_get(rg_txn_t *t, rg__batch_t **out) {
  if (!t->batch && !(t->batch = calloc(1, sizeof *t->batch))) return RG_ENOMEM;
  *out = t->batch;
  return RG_OK;
}

void rg__batch_free(rg_txn_t *t) {
  rg__batch_t *b = t->batch;
  if (!b) return;
  free(b->edges);
  free(b->actors);
  free(b->slots);
  free(b);
  t->batch = NULL;
}

/* Fibonacci hashing of ids: consecutive ids spread over the table. */
static uint32_t slot_of(const rg__batch_t *b, uint64_t id) {
  return (uint32_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (b->n_slots - 1);
}

rg__cached_actor_t *rg__batch_find_actor(rg__batch_t *b, uint64_t id) {
  if (!b || !b->n_slots) return NULL;
  for (uint32_t i = slot_of(b, id);; i = (i + 1) & (b->n_slots - 1)) {
    uint32_t s = b->slots[i].index;
    if (!s) return NULL;
    if (b->slots[i].id == id) return &b->actors[s - 1];
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
  b->n_actors = 0;
  if (b->slots) memset(b->slots, 0, (size_t)b->n_slots * sizeof *b->slots);
}

int rg__batch_add_edge(rg__batch_t *b, const rg__edge_add_t *e) {
  int rc = rg_grow((void **)&b->edges, &b->cap_edges, b->n_edges + 1, sizeof *b->edges);
  if (rc) return rc;
  b->edges[b->n_edges] = *e;
  b->edges[b->n_edges].seq = (uint32_t)b->n_edges;
  b->n_edges++;
  return RG_OK;
}

static int cmp_out(const void *x, const void *y) {
  const rg__edge_add_t *a = x, *b = y;
  if (a->src != b->src) return a->src < b->src ? -1 : 1;
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  if (a->dst != b->dst) return a->dst < b->dst ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void rg__batch_sort_edges(rg__batch_t *b) {
  qsort(b->edges, b->n_edges, sizeof *b->edges, cmp_out);
}

static int cmp_in(const void *x, const void *y) {
  const rg__edge_add_t *a = *(rg__edge_add_t *const *)x, *b = *(rg__edge_add_t *const *)y;
  if (a->dst != b->dst) return a->dst < b->dst ? -1 : 1;
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  return a->src < b->src ? -1 : a->src > b->src;
}

void rg__batch_sort_in(rg__edge_add_t **edges, size_t n) {
  qsort(edges, n, sizeof *edges, cmp_in);
}

static int cmp_actor(const void *x, const void *y) {
  uint64_t a = (*(rg__cached_actor_t *const *)x)->id, b = (*(rg__cached_actor_t *const *)y)->id;
  return a < b ? -1 : a > b;
}

void rg__batch_sort_actors(rg__cached_actor_t **actors, size_t n) {
  qsort(actors, n, sizeof *actors, cmp_actor);
}
