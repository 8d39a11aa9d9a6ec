/* compute.h — one recomputation over a snapshot: seeded reputation propagation, the
 * converged label, communities and anomaly scores, with reasons. igraph lives here.
 * Debian's igraph 0.10.2 is built without thread safety, so calls are serialised by a
 * process-wide lock: any thread may call, one runs at a time. */
#ifndef RG_COMPUTE_H
#define RG_COMPUTE_H

#include <stdatomic.h>
#include <stdint.h>

#include "repgraph/calibrate.h"
#include "repgraph/config.h"
#include "repgraph/snapshot.h"
#include "repgraph/store.h"

typedef struct {
  double damping;                   /* random-walk continuation probability */
  double forward[RG_EDGE_KIND_COUNT]; /* walk weight along an edge, src → dst */
  double reverse[RG_EDGE_KIND_COUNT]; /* walk weight against it, dst → src */
  double prior, smoothing;          /* reputation with no evidence; its weight in mass units */
  uint32_t seed;                    /* RNG seed (communities) */
  uint64_t min_messages;
  int64_t min_age_s;
  double band_bad, band_suspicious, band_good;
  rg_calibrate_opts_t calibrate;    /* the verdicts' thresholds (holdout_share 0: fixed) */
  uint64_t generation;              /* the generation computed: picks the held-out labels */
  atomic_int *cancel;               /* when non-NULL and set, the run stops: RG_ESHUTTING_DOWN */
  /* Out-of-fold propagation (the learned model's leakage guard): with folds >= 2, fold[v] in
   * 1..folds puts each seed in a fold (0: in none, always a seed). Each fold's seeds walk on
   * their own; the served masses are the weighted sum of those walks (personalized PageRank
   * is linear in its reset vector) and, per fold, the masses without that fold's seeds go to
   * r->fold_bad / fold_good. The calibration then scores every labelled address out of
   * its fold instead of running the hold-out pass. NULL / 0: one walk per verdict. */
  const uint8_t *fold;
  unsigned folds; /* at most RG_FOLDS_MAX */
} rg_compute_opts_t;

#define RG_FOLDS_MAX 10

/* Fills opts with the built-in walk weights, the config's thresholds and calibration
 * (generation 0: set it to the generation being computed). */
void rg_compute_opts_init(rg_compute_opts_t *opts, const rg_config_t *cfg);

/* Timings of one run, milliseconds. */
typedef struct {
  double graph_ms, propagate_ms, calibrate_ms, communities_ms, anomaly_ms, total_ms;
  double folds_ms; /* of propagate_ms: the out-of-fold walks and their masses */
} rg_compute_timing_t;

typedef struct {
  uint32_t n;
  rg_score_t *scores; /* [n], scores[v] for vertex v */
  double *bad_mass, *good_mass; /* [n], the masses behind the reputation (× n) */
  uint32_t n_clusters;
  rg_cluster_t *clusters; /* [n_clusters]; clusters[i].id == i + 1 */
  rg_thresholds_t thresholds; /* the verdicts' operating points (calibrate.h) */
  /* The calibration's propagation, NULL when nothing was held out: held_out[v] marks the
   * labelled addresses taken out of the seeds, oos_reputation[v] every actor's reputation in
   * that run (no label pulls; out of sample for the held-out ones). [n] each. */
  uint8_t *held_out;
  double *oos_reputation;
  rg_compute_timing_t timing;
  /* With opts.folds >= 2: [folds × n] each, fold_bad[(f - 1) × n + v] is v's bad mass when
   * fold f's seeds are left out (likewise good); NULL otherwise. */
  unsigned folds;
  double *fold_bad, *fold_good;
  /* Egonets on the simple undirected graph (vertices, edges) and their OddBall score. [n] */
  double *ego_nodes, *ego_edges, *oddball;
} rg_result_t;

/* Runs the whole computation on g. 0 with *r owned by the caller (rg_compute_result_free);
 * RG_ENOMEM, RG_EINTERNAL (igraph failed: message in err), RG_ESHUTTING_DOWN (cancelled). */
int rg_compute_run(const rg_graph_t *g, const rg_compute_opts_t *opts, rg_result_t *r,
                   char *err, size_t errlen);

/* Frees a result. Accepts NULL and zeroed results. */
void rg_compute_result_free(rg_result_t *r);

#endif
