/* snapshot.h — a consistent copy of the graph for recomputation: one LMDB read
 * transaction is scanned once (actors, edges, labels) into dense arrays, then closed, so
 * the computation never holds the store. Vertex v stands for actor actor_id[v]. Loading is
 * linear in the size of the store and allocates a fixed number of arrays (no per-edge
 * allocation). Any thread; one snapshot per thread. */
#ifndef RG_SNAPSHOT_H
#define RG_SNAPSHOT_H

#include <stdint.h>

#include "repgraph/store.h"

typedef struct {
  int64_t now; /* weights are decayed to this time */
  uint32_t n;  /* vertices */
  uint64_t *actor_id;
  uint8_t *type; /* rg_actor_type_t */
  uint64_t *messages;
  int64_t *first_seen, *last_seen;
  int8_t *seed;        /* +1 labelled bad, -1 labelled good, 0 none */
  double *seed_weight; /* the label's weight (0 when unlabelled) */
  int64_t *label_ts;   /* when the label was given (0 when unlabelled) */
  uint64_t m;          /* edges */
  uint32_t *src, *dst;
  uint8_t *kind;   /* rg_edge_kind_t */
  double *weight;  /* decayed to now */
  uint32_t *count; /* messages behind the edge (saturated at UINT32_MAX) */
  int64_t *edge_first, *edge_last; /* the edge's first and last message, epoch seconds */
  uint64_t bad_seeds, good_seeds;
} rg_graph_t;

/* Loads the whole store into *g (zeroed first) from one read transaction, decaying edge
 * weights to `now`. 0 with *g owned by the caller (rg_snapshot_free); RG_ENOMEM, RG_EIO,
 * RG_ETOO_LARGE (more than 2^32-1 actors) otherwise. */
int rg_snapshot_load(rg_store_t *store, int64_t now, rg_graph_t *g);

/* Frees a snapshot's arrays. Accepts NULL and zeroed graphs. */
void rg_snapshot_free(rg_graph_t *g);

#endif
