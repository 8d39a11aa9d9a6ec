/* snapshot.c — store → dense graph arrays, from one read transaction. Any thread. */
#include "repgraph/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"

#define NO_VERTEX UINT32_MAX

typedef struct {
  rg_graph_t *g;
  uint32_t *vertex_of; /* actor id → vertex */
  uint64_t max_id;
  uint64_t cap_n, cap_m;
} loader_t;

/* Grows the per-vertex arrays to hold `need` vertices. */
static int reserve_vertices(loader_t *L, uint64_t need) {
  if (need <= L->cap_n) return RG_OK;
  uint64_t cap = L->cap_n ? L->cap_n * 2 : 1024;
  while (cap < need) cap *= 2;
  rg_graph_t *g = L->g;
#define GROW(field)                                              \
  do {                                                           \
    void *p = realloc(g->field, (size_t)cap * sizeof *g->field); \
    if (!p) return RG_ENOMEM;                                    \
    g->field = p;                                                \
  } while (0)
  GROW(actor_id);
  GROW(type);
  GROW(messages);
  GROW(first_seen);
  GROW(last_seen);
  GROW(seed);
  GROW(seed_weight);
  L->cap_n = cap;
  return RG_OK;
}

static int reserve_edges(loader_t *L, uint64_t need) {
  if (need <= L->cap_m) return RG_OK;
  uint64_t cap = L->cap_m ? L->cap_m * 2 : 4096;
  while (cap < need) cap *= 2;
  rg_graph_t *g = L->g;
  GROW(src);
  GROW(dst);
  GROW(kind);
  GROW(weight);
#undef GROW
  L->cap_m = cap;
  return RG_OK;
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
  g->m++;
  return RG_OK;
}

static int on_label(void *ctx, uint64_t id, const rg_label_t *l) {
  loader_t *L = ctx;
  if (id > L->max_id || L->vertex_of[id] == NO_VERTEX) return RG_OK;
  uint32_t v = L->vertex_of[id];
  L->g->seed[v] = l->verdict == RG_VERDICT_BAD ? 1 : -1;
  L->g->seed_weight[v] = l->weight;
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
  rg_txn_end(t);
  free(L.vertex_of);
  if (rc) rg_graph_free(g);
  return rc;
}

void rg_graph_free(rg_graph_t *g) {
  if (!g) return;
  free(g->actor_id);
  free(g->type);
  free(g->messages);
  free(g->first_seen);
  free(g->last_seen);
  free(g->seed);
  free(g->seed_weight);
  free(g->src);
  free(g->dst);
  free(g->kind);
  free(g->weight);
  memset(g, 0, sizeof *g);
}
