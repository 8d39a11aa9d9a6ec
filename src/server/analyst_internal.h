/* analyst_internal.h — what the analyst modules share: the request context, the checks
 * every analyst op starts with, and the row writers (nodes, edges, clusters). Loop thread. */
#ifndef RG_ANALYST_INTERNAL_H
#define RG_ANALYST_INTERNAL_H

#include "engine_internal.h"

#define RG__ANALYST_STOP 1 /* a visitor's "enough"; never an RG_E… code */

/* One analyst request: its read transaction and where its error message goes. */
typedef struct {
  rg_engine_t *e;
  rg_txn_t *t;
  const rg_generation_t *gen; /* NULL before the first recomputation */
  int64_t now;
  char *msg;
  size_t cap;
} actx_t;

/* An edge read from the store, kept for a reply. */
typedef struct {
  uint64_t src, dst;
  rg_edge_kind_t kind;
  rg_edge_rec_t rec;
} edge_t;

/* Rows in a page: as asked, def when not, at most limits.max_page_items. */
uint32_t rg__analyst_page_size(const actx_t *a, uint64_t asked, uint32_t def);

/* 0 when a generation exists, else RG_ENOT_FOUND with a message. */
int rg__analyst_need_generation(actx_t *a);

/* need_generation, and its analyst indexes: a generation published before the store's
 * upgrade to schema 3 has none (they are written by the next recomputation). */
int rg__analyst_need_indexes(actx_t *a);

/* Whether the wire string equals text. */
bool rg__analyst_str_is(rg_str_t s, const char *text);

/* Resolves a wire actor to its id. RG_EINVALID_ACTOR / RG_ENOT_FOUND with a message. */
int rg__analyst_find_actor(actx_t *a, rg_str_t s, uint64_t *id);

/* The actor's "type:identifier" text into buf; RG_ENOT_FOUND if it was forgotten. */
int rg__analyst_actor_text(actx_t *a, uint64_t id, char *buf, size_t cap);

/* Drops ids of actors forgotten since the recomputation (so arrays can be sized first). */
int rg__analyst_keep_existing(actx_t *a, uint64_t *ids, uint32_t *n);

/* Writes an existing actor as a node: identity, activity, latest label and its scores in
 * the current generation (nil before one); `depth` >= 0 adds that field (neighbors). */
int rg__analyst_write_node(actx_t *a, uint64_t id, int depth, rg_wr_t *wr);

/* Writes the ids that still exist as an array of nodes (ids is compacted in place). */
int rg__analyst_write_nodes(actx_t *a, uint64_t *ids, uint32_t n, rg_wr_t *wr);

/* Writes edges whose two ends still exist. */
int rg__analyst_write_edges(actx_t *a, edge_t *v, uint32_t n, rg_wr_t *wr);

/* Writes a cluster row: size by type, suspicion, seeds, activity and its top members. */
int rg__analyst_write_cluster(actx_t *a, const rg_cluster_t *c, rg_wr_t *wr);

/* neighbors: an actor's ego network, depth 1-2, heaviest edges first (analyst_graph.c). */
int rg__analyst_neighbors(actx_t *a, const rg_request_t *req, rg_wr_t *wr);

/* export: clusters page by page, their members and the edges among them, with a cursor
 * (analyst_graph.c). */
int rg__analyst_export(actx_t *a, const rg_request_t *req, rg_wr_t *wr);

#endif
