/* compute_internal.h — what the recomputation's files (compute.c, compute_anomaly.c) share:
 * the error macros of their igraph calls and the steps split into files of their own. */
#ifndef RG_COMPUTE_INTERNAL_H
#define RG_COMPUTE_INTERNAL_H

#include <igraph.h>

#include "repgraph/compute.h"

/* In a function with `int rc`, `char *err`, `size_t errlen` and a `fail:` label: an igraph
 * call whose failure sets rc (and err) and jumps to fail. */
#define IG(call)                                                                          \
  do {                                                                                    \
    igraph_error_t e_ = (call);                                                           \
    if (e_ != IGRAPH_SUCCESS) {                                                           \
      rc = e_ == IGRAPH_INTERRUPTED ? RG_ESHUTTING_DOWN                                   \
           : e_ == IGRAPH_ENOMEM    ? RG_ENOMEM                                           \
                                    : RG_EINTERNAL;                                       \
      snprintf(err, errlen, "igraph: %s in %s", igraph_strerror(e_), #call);              \
      goto fail;                                                                          \
    }                                                                                     \
  } while (0)

#define ALLOC(p, n)                                      \
  do {                                                   \
    if (!((p) = calloc((n) ? (size_t)(n) : 1, sizeof *(p)))) { \
      rc = RG_ENOMEM;                                    \
      goto fail;                                         \
    }                                                    \
  } while (0)

/* Appends a reason to a score, past RG_REASONS_MAX dropped. */
static inline void rg__add_reason(rg_score_t *s, rg_reason_t r) {
  if (s->n_reasons < RG_REASONS_MAX) s->reasons[s->n_reasons++] = r;
}

/* Step 5: every vertex's anomaly score and its anomaly reasons (r->scores, which must hold
 * g->n scores), and the egonet measures the model reuses (r->ego_nodes, ego_edges, oddball,
 * owned by r). und: the undirected graph of the communities step, simplified in place
 * (multiple edges and loops removed). 0, RG_ENOMEM, or an
 * igraph failure's code with err set. */
int rg__compute_anomalies(const rg_graph_t *g, igraph_t *und, rg_result_t *r, char *err,
                          size_t errlen);

#endif
