/* vocab.h — the domain's words, with no storage in them: label verdicts and sources, bands,
 * and the score, cluster, generation and label records that the store, the scoring and the
 * protocol all speak. Every table is an X-macro stored as numbers (append only); vocab.c
 * turns them into names and back. Any thread. */
#ifndef RG_VOCAB_H
#define RG_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repgraph/actor.h"

/* Label verdicts. Stored as numbers: append only. */
#define RG_VERDICT_MAP(X) X(BAD, 1, "bad") X(GOOD, 2, "good")
typedef enum {
#define RG__VERDICT_ENUM(name, num, text) RG_VERDICT_##name = num,
  RG_VERDICT_MAP(RG__VERDICT_ENUM)
#undef RG__VERDICT_ENUM
} rg_verdict_t;

/* Label sources with their default weight. Stored as numbers: append only. */
#define RG_LABEL_SOURCE_MAP(X)          \
  X(ANALYST, 1, "analyst", 1.0)         \
  X(USER_REPORT, 2, "user_report", 0.3) \
  X(SPAM_TRAP, 3, "spam_trap", 0.8)     \
  X(ALLOWLIST, 4, "allowlist", 1.0)     \
  X(FEED, 5, "feed", 0.5)
typedef enum {
#define RG__SOURCE_ENUM(name, num, text, weight) RG_SOURCE_##name = num,
  RG_LABEL_SOURCE_MAP(RG__SOURCE_ENUM)
#undef RG__SOURCE_ENUM
} rg_label_source_t;

#define RG_LABEL_NOTE_MAX 1024

/* Reputation bands for people and filters. Stored as numbers: append only. */
#define RG_BAND_MAP(X) \
  X(GOOD, 1, "good") X(NEUTRAL, 2, "neutral") X(SUSPICIOUS, 3, "suspicious") X(BAD, 4, "bad")
typedef enum {
#define RG__BAND_ENUM(name, num, text) RG_BAND_##name = num,
  RG_BAND_MAP(RG__BAND_ENUM)
#undef RG__BAND_ENUM
} rg_band_t;

/* One reason behind a score: a code (see score.h), a value and a second number (a count,
 * a median or an actor id, depending on the code). */
typedef struct {
  uint8_t code;
  double value;
  uint64_t aux;
} rg_reason_t;

#define RG_REASONS_MAX     4
#define RG_CLUSTER_TOP_MAX 8

/* An actor's scores in one generation. */
typedef struct {
  double reputation;  /* [0,1], 1 = certainly abusive */
  double anomaly;     /* [0,1] */
  uint64_t cluster;   /* community id within the generation */
  uint8_t propagated; /* 0 = no path to a seed, else the rg_verdict_t it converged to */
  uint8_t band;       /* rg_band_t */
  uint8_t n_reasons;
  rg_reason_t reasons[RG_REASONS_MAX];
  /* Evidence behind the score (evidence.c). Infrastructure (ip, net, domain): the senders
   * (address, or for a net its IPs' sender pairs) using it, and how many of them score bad
   * or good (a mixed actor carries both). Address: its recipients that engaged (wrote back,
   * or were mailed again): legitimate mail has an audience, spam has strangers. */
  uint32_t users, bad_users, good_users;
  uint32_t engaged;
} rg_score_t;

/* A community's summary in one generation. */
typedef struct {
  uint64_t id;
  uint64_t size;
  uint32_t by_type[RG_ACTOR_TYPE_MAX + 1];
  uint32_t bad_seeds, good_seeds;
  double mean_reputation;
  double suspicion; /* [0,1] */
  int64_t first_seen, last_seen;
  uint8_t n_top;
  uint64_t top[RG_CLUSTER_TOP_MAX]; /* most suspicious members, actor ids */
} rg_cluster_t;

/* The operating points of check's verdicts in one generation: a message scoring at least
 * at[RG_VERDICT_TEMPFAIL] (resp. QUARANTINE, REJECT) gets that verdict. A level that is
 * `derived` was chosen at the recomputation from labels held out of the propagation (see
 * calibrate.h), so that the estimated share of legitimate (good-labelled) senders at or above
 * it is within its budget (check.*_fpr in the config); one that is not keeps the fixed
 * check.tempfail / quarantine / reject of the config (too few held-out labels to estimate its
 * rate). at[] is ascending. fpr is the one-sided 95% upper bound of the held-out good share at
 * or above at[] (1 with none held out), tpr the held-out bad share at or above it. A record
 * written before thresholds existed decodes as all zero: nothing derived. */
typedef enum {
  RG_VERDICT_TEMPFAIL,
  RG_VERDICT_QUARANTINE,
  RG_VERDICT_REJECT,
  RG_VERDICT_LEVELS
} rg_level_t;
typedef struct {
  double at[RG_VERDICT_LEVELS];         /* score thresholds, ascending */
  double fpr[RG_VERDICT_LEVELS];        /* estimated false-positive rate at each (held-out good) */
  double tpr[RG_VERDICT_LEVELS];        /* estimated share of held-out bad at or above each */
  uint32_t held_out_good, held_out_bad; /* labelled addresses held out of the propagation */
  bool derived[RG_VERDICT_LEVELS];      /* chosen from the budget, else the fixed value */
} rg_thresholds_t;

/* A completed recomputation. */
typedef struct {
  uint64_t generation;
  int64_t computed_at; /* epoch seconds */
  uint64_t duration_ms;
  uint64_t vertices, edges, clusters, bad_seeds, good_seeds;
  rg_thresholds_t thresholds; /* the verdicts' operating points, chosen at recomputation */
} rg_generation_t;

/* The learned model's held-out quality on one set of labels (model.c): every number is a
 * double so the record is a flat array (store_gen.c). n, bad: labels measured; auc: ROC AUC;
 * pr_auc: average precision; precision_at_k at k = min(100, n); recall at 0.1% and 1% false
 * positives; brier: mean squared error of the calibrated probability; ece: expected
 * calibration error over 10 equal-width bins. All 0 when not measured (n = 0). */
typedef struct {
  double n, bad, auc, pr_auc, precision_at_k, k, recall_at_0_1pct, recall_at_1pct, brier, ece;
} rg_model_quality_t;

#define RG_MODEL_DECILES 10
#define RG_MODEL_TOP     8
#define RG_MODEL_STATES(X) \
  X(OFF, 0, "off") X(SERVING, 1, "serving") X(FAILED, 2, "failed") X(HELD_BACK, 3, "held_back")
typedef enum {
#define RG__MODEL_STATE_ENUM(name, num, text) RG_MODEL_##name = num,
  RG_MODEL_STATES(RG__MODEL_STATE_ENUM)
#undef RG__MODEL_STATE_ENUM
} rg_model_state_t;

/* Name of a model state ("off", "serving", "failed", "held_back") or NULL. */
const char *rg_model_state_name(int state);

/* What a generation's model did and how well it did it on labels it did not train on.
 * state: rg_model_state_t (off: too few labels or disabled, the propagation is served; held
 * back: its quality fell and model.block_on_drop kept the generation from publishing). oof:
 * k-fold out-of-fold quality; by_type[t - 1] the same per actor type; time_split: trained on
 * labels older than time_cutoff, measured on the newer ones; propagation: the out-of-fold
 * propagation score alone on the same labels. Deciles: calibrated prediction bins (mean
 * prediction, observed bad share, count). hist: shares of all actors' served reputation in
 * ten bins; psi: population stability index against the previous generation's hist. */
typedef struct {
  double generation, state, bad_labels, good_labels, trained_on, folds, rounds, features;
  rg_model_quality_t oof, by_type[4], time_split, propagation;
  double time_cutoff;
  double decile_pred[RG_MODEL_DECILES], decile_observed[RG_MODEL_DECILES],
      decile_n[RG_MODEL_DECILES];
  double top_feature[RG_MODEL_TOP], top_importance[RG_MODEL_TOP]; /* feature -1: none */
  double hist[10];
  double psi, previous_auc, flagged;
  double features_ms, train_ms, explain_ms, peak_bytes, folds_ms;
  double guarded; /* senders the extrapolation guard served the graph's score, not the model's */
} rg_model_eval_t;

/* The latest label of an actor and how many entries its history holds. In the history a
 * verdict of 0 (RG_VERDICT_RETRACTED) records an unlabel. */
#define RG_VERDICT_RETRACTED 0
typedef struct {
  rg_verdict_t verdict;
  rg_label_source_t source;
  double weight;
  int64_t ts;
  uint32_t count;
  uint16_t note_len;
  char note[RG_LABEL_NOTE_MAX + 1];
} rg_label_t;

/* Vocabulary of labels: names and parsing. Name functions return NULL when out of range;
 * parse functions return 0 or RG_EINVALID_LABEL. */
const char *rg_verdict_name(int v);
int rg_verdict_parse(const char *s, size_t len, rg_verdict_t *out);
const char *rg_label_source_name(int src);
int rg_label_source_parse(const char *s, size_t len, rg_label_source_t *out);
/* Default weight of a label source from RG_LABEL_SOURCE_MAP, 0 for an unknown one (the
 * server seeds with the config's label.weight_<source>, whose defaults are the same). */
double rg_label_source_weight(rg_label_source_t src);

/* Name of a band ("good", …) or NULL. */
const char *rg_band_name(int band);

/* Name of a verdict level ("tempfail", "quarantine", "reject") or NULL. */
const char *rg_level_name(int level);

/* The thresholds in effect: at[l] of each derived level of t, fixed[l] (the config's
 * check.tempfail, quarantine, reject) for the others or when t is NULL; then made ascending by
 * raising a level to the one below it when lower. Writes out[RG_VERDICT_LEVELS]. */
void rg_thresholds_effective(const rg_thresholds_t *t, const double fixed[RG_VERDICT_LEVELS],
                             double out[RG_VERDICT_LEVELS]);

#endif
