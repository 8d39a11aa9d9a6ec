/* model.h — the learned reputation model of a recomputation: per-actor features (the table
 * in features.h), a gradient-boosted tree model (XGBoost's C API) trained on the labelled
 * actors, calibrated on its out-of-fold predictions, evaluated on labels it did not train on
 * (k-fold and a time split), and its per-feature contributions as reasons. Runs on the
 * recompute worker (never on the loop); one run per thread at a time. XGBoost is confined
 * to model.c; the metrics are pure arithmetic in model_eval.c. */
#ifndef RG_MODEL_H
#define RG_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "repgraph/compute.h"
#include "repgraph/config.h"
#include "repgraph/features.h"
#include "repgraph/snapshot.h"
#include "repgraph/vocab.h"

typedef struct {
  bool enabled;
  unsigned folds;       /* k of the out-of-fold propagation and training */
  uint32_t min_labels;  /* per class (bad, good): fewer and the model stays off */
  unsigned rounds;      /* boosting rounds */
  unsigned max_depth;   /* of each tree */
  double eta;           /* learning rate */
  unsigned threads;     /* XGBoost's nthread */
  uint32_t max_train;   /* labelled actors trained on (a deterministic stratified sample) */
  uint32_t explain_max; /* actors whose contributions become reasons (highest scores) */
  double max_auc_drop;  /* held-out AUC below the previous generation's by more: flagged */
  bool block_on_drop;   /* a flagged generation is not published */
  bool guard;           /* the extrapolation guard (model_serve.c): model.guard */
  bool blend;            /* serve the larger of model and calibrated propagation: model.blend */
  bool monotone;        /* monotone constraints on the evidence features: model.monotone */
  uint32_t seed;        /* folds, subsampling, XGBoost */
  uint64_t generation;
  double prior, smoothing, band_bad, band_suspicious, band_good;
  uint64_t min_messages;
  int64_t min_age_s;
  int64_t period_s; /* the "period" of the audience features */
  rg_calibrate_opts_t calibrate;
  atomic_int *cancel;
} rg_model_opts_t;

/* Fills o from the config (model.*, score.*, check.*). */
void rg_model_opts_init(rg_model_opts_t *o, const rg_config_t *cfg);

/* Labelled actors per class, and whether the model can train on them (both >= min_labels). */
bool rg_model_ready(const rg_graph_t *g, const rg_model_opts_t *o, char *why, size_t cap);

/* Puts every seed of g in a fold 1..folds (fold[v], 0 for the unlabelled) by a hash of
 * (actor id, seed, generation): stratified by nothing, deterministic, not client-chosen. */
void rg_model_folds(const rg_graph_t *g, unsigned folds, uint32_t seed, uint64_t generation,
                    uint8_t *fold);

/* The feature matrix of g: x[v × RG_FEATURE_COUNT + i] (row-major floats, NAN = does not
 * apply). r must come from rg_compute_run with the same fold/folds (r->fold_* set when
 * folds >= 2); a seed's propagation features use its fold's masses. 0 or RG_ENOMEM. */
int rg_features_compute(const rg_graph_t *g, const rg_result_t *r, const uint8_t *fold,
                        unsigned folds, const rg_model_opts_t *o, float *x);

/* One model reason: the feature, its value (and its companion's), its contribution to the
 * log-odds of being bad. */
typedef struct {
  int16_t feature;
  float value, companion, contribution;
} rg_model_reason_t;

typedef struct {
  uint32_t n;
  rg_model_eval_t eval;
  char note[160];             /* why off / failed / flagged, in words ("" when serving) */
  double *reputation;         /* [n] calibrated probability of bad; NULL unless serving */
  double *oof;                /* [n] calibrated out-of-fold prediction of seeds, else NAN */
  uint8_t *n_reasons;         /* [n] */
  rg_model_reason_t *reasons; /* [n × RG_REASONS_MAX] */
  float *x;                   /* [n × RG_FEATURE_COUNT] the features trained and served on */
} rg_model_result_t;

/* The model stage: features, k-fold training (out-of-fold predictions), isotonic calibration
 * (blended with the propagation when o->blend), the final model's predictions and
 * contributions, and the evaluation (previous: the last
 * generation's, for PSI and the drop check; may be NULL). Too few labels or disabled: 0 with
 * out->eval.state OFF and no reputation. XGBoost failing: 0 with state FAILED and the error in
 * out->note (the caller serves the propagation). RG_ENOMEM, RG_ESHUTTING_DOWN otherwise. */
int rg_model_run(const rg_graph_t *g, const rg_result_t *r, const uint8_t *fold,
                 const rg_model_opts_t *o, const rg_model_eval_t *previous, rg_model_result_t *out);

/* Serves a SERVING model's result in r: reputations (a label still pulls its actor by its
 * weight), bands, model reasons in place of the propagation's and anomaly's, and check's
 * thresholds from the out-of-fold predictions of the labelled addresses. Also fills
 * m->eval.hist and psi from the served scores. No-op unless serving. */
void rg_model_apply(const rg_graph_t *g, const rg_model_opts_t *o, const rg_model_eval_t *previous,
                    rg_model_result_t *m, rg_result_t *r);

/* Frees a result's arrays. Accepts NULL and zeroed results. */
void rg_model_result_free(rg_model_result_t *m);

/* ---- metrics (model_eval.c) ------------------------------------------------------------ */

/* Quality of scores p[i] against labels y[i] (1 bad, 0 good) over the n entries with
 * use[i] (NULL: all). Sorts nothing in place; allocates scratch (RG_ENOMEM). */
int rg_model_quality(const double *p, const uint8_t *y, const uint8_t *use, uint32_t n,
                     rg_model_quality_t *q);

/* Isotonic regression (pool adjacent violators) of labels on scores: fits a non-decreasing
 * step function; *xs and *ys (owned by the caller, *m steps) map a score to a probability with
 * rg_model_isotonic_apply. 0 or RG_ENOMEM. */
int rg_model_isotonic_fit(const double *p, const uint8_t *y, uint32_t n, double **xs, double **ys,
                          uint32_t *m);
double rg_model_isotonic_apply(const double *xs, const double *ys, uint32_t m, double p);

/* Calibration per decile of the prediction (ten equal-width bins): mean prediction, observed
 * bad share and count per bin. */
void rg_model_deciles(const double *p, const uint8_t *y, uint32_t n, double mean[10],
                      double observed[10], double count[10]);

/* Population stability index between two ten-bin distributions (shares), with empty bins
 * floored at 1e-4. */
double rg_model_psi(const double now[10], const double before[10]);

#endif
