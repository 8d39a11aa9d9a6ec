/* snapshot.c — store → dense graph arrays, from one read transaction. Any thread. */
#include "repgraph/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/grow.h"

#define NO_VERTEX UINT32_MAX

typedef struct {
  rg_graph_t *g;
  uint32_t *vertex_of; /* actor id → vertex */
  uint64_t max_id;
  size_t cap_n, cap_m; /* capacity of the per-vertex and the per-edge arrays */
} loader_t;

/* Grows parallel arrays that share the capacity *cap so that each holds `need` elements.
 * On failure *cap is unchanged (some arrays may be larger already). */
static int grow_all(void **const arrays[], const size_t sizes[], size_t n, size_t *cap,
                    size_t need) {
  size_t grown = *cap;
  for (size_t i = 0; i < n; i++) {
    grown = *cap;
    int rc = rg_grow(arrays[i], &grown, need, sizes[i]);
    if (rc) return rc;
  }
  *cap = grown;
  return RG_OK;
}

/* Grows the per-vertex arrays to hold `need` vertices. */
static int reserve_vertices(loader_t *L, uint64_t need) {
  rg_graph_t *g = L->g;
  void **const arrays[] = {(void **)&g->actor_id,   (void **)&g->type,      (void **)&g->messages,
                           (void **)&g->first_seen, (void **)&g->last_seen, (void **)&g->seed,
                           (void **)&g->seed_weight, (void **)&g->label_ts};
  const size_t sizes[] = {sizeof *g->actor_id,   sizeof *g->type,      sizeof *g->messages,
                          sizeof *g->first_seen, sizeof *g->last_seen, sizeof *g->seed,
                          sizeof *g->seed_weight, sizeof *g->label_ts};
  return grow_all(arrays, sizes, sizeof sizes / sizeof sizes[0], &L->cap_n, (size_t)need);
}

/* Grows the per-edge arrays to hold `need` edges. */
static int reserve_edges(loader_t *L, uint64_t need) {
  rg_graph_t *g = L->g;
  void **const arrays[] = {(void **)&g->src, (void **)&g->dst, (void **)&g->kind,
                           (void **)&g->weight, (void **)&g->count,
                           (void **)&g->edge_first, (void **)&g->edge_last};
  const size_t sizes[] = {sizeof *g->src, sizeof *g->dst, sizeof *g->kind, sizeof *g->weight,
                          sizeof *g->count, sizeof *g->edge_first, sizeof *g->edge_last};
  return grow_all(arrays, sizes, sizeof sizes / sizeof sizes[0], &L->cap_m, (size_t)need);
}

static int on_actor(void *ctx, uint64_t id, const rg_actor_rec_t *r) {
  loader_t *L = ctx;
  rg_graph_t *g = L->g;
  if (id > L->max_id || g->n == NO_VERTEX) return RG_ETOO_LARGE;
  int rc = reserve_vertices(L, (uint64_t)g->n + 1);
  if (rc) return rc;
  uint32_t v = g->n++;
  L->vertex_of[id] = v;
  g->actor_id[v] = id;
  g->type[v] = (uint8_t)r->actor.type;
  g->messages[v] = r->messages;
  g->first_seen[v] = r->first_seen;
  g->last_seen[v] = r->last_seen;
  g->seed[v] = 0;
  g->seed_weight[v] = 0;
  g->label_ts[v] = 0;
  return RG_OK;
}

static int on_edge(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                   const rg_edge_rec_t *e) {
  loader_t *L = ctx;
  rg_graph_t *g = L->g;
  if (src > L->max_id || dst > L->max_id) return RG_EIO;
  uint32_t s = L->vertex_of[src], d = L->vertex_of[dst];
  if (s == NO_VERTEX || d == NO_VERTEX) return RG_EIO; /* an edge without its actor */
  int rc = reserve_edges(L, g->m + 1);
  if (rc) return rc;
  g->src[g->m] = s;
  g->dst[g->m] = d;
  g->kind[g->m] = (uint8_t)kind;
  g->weight[g->m] = e->weight;
  g->count[g->m] = e->count > UINT32_MAX ? UINT32_MAX : (uint32_t)e->count;
  g->edge_first[g->m] = e->first_seen;
  g->edge_last[g->m] = e->last_seen;
  g->m++;
  return RG_OK;
}

static int on_label(void *ctx, uint64_t id, const rg_label_t *l) {
  loader_t *L = ctx;
  if (id > L->max_id || L->vertex_of[id] == NO_VERTEX) return RG_OK;
  uint32_t v = L->vertex_of[id];
  L->g->seed[v] = l->verdict == RG_VERDICT_BAD ? 1 : -1;
  L->g->seed_weight[v] = l->weight;
  L->g->label_ts[v] = l->ts;
  if (l->verdict == RG_VERDICT_BAD) L->g->bad_seeds++;
  else L->g->good_seeds++;
  return RG_OK;
}

int rg_snapshot_load(rg_store_t *store, int64_t now, rg_graph_t *g) {
  memset(g, 0, sizeof *g);
  g->now = now;
  rg_txn_t *t;
  int rc = rg_store_read_begin(store, &t);
  if (rc) return rc;
  loader_t L = {.g = g};
  rg_store_counts_t counts;
  if ((rc = rg_store_max_actor_id(t, &L.max_id)) || (rc = rg_store_counts(t, &counts))) goto done;
  uint64_t actors = 0, edges = 0;
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX; ty++) actors += counts.actors[ty];
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) edges += counts.edges[k];
  L.vertex_of = malloc((size_t)(L.max_id + 1) * sizeof *L.vertex_of);
  if (!L.vertex_of) {
    rc = RG_ENOMEM;
    goto done;
  }
  memset(L.vertex_of, 0xff, (size_t)(L.max_id + 1) * sizeof *L.vertex_of);
  /* Exact sizes from the counters; the reserve functions still grow if they are off. */
  if ((rc = reserve_vertices(&L, actors ? actors : 1)) || (rc = reserve_edges(&L, edges ? edges : 1)))
    goto done;
  if ((rc = rg_store_scan_actors(t, now, on_actor, &L))) goto done;
  if ((rc = rg_store_scan_out(t, 0, now, on_edge, &L))) goto done;
  rc = rg_store_scan_labels(t, on_label, &L);
done:
  rg_store_end(t);
  free(L.vertex_of);
  if (rc) rg_snapshot_free(g);
  return rc;
}

void rg_snapshot_free(rg_graph_t *g) {
  if (!g) return;
  free(g->actor_id);
  free(g->type);
  free(g->messages);
  free(g->first_seen);
  free(g->last_seen);
  free(g->seed);
  free(g->seed_weight);
  free(g->label_ts);
  free(g->src);
  free(g->dst);
  free(g->kind);
  free(g->weight);
  free(g->count);
  free(g->edge_first);
  free(g->edge_last);
  memset(g, 0, sizeof *g);
}
