/* model.c — the learned model (model.h): training, out-of-fold prediction, calibration,
 * evaluation and contributions with XGBoost's C API, and serving its result into the
 * recomputation's scores. Training is bounded: at most model.max_train labelled actors (a
 * deterministic stratified sample), model.rounds rounds of trees of depth model.max_depth on
 * model.threads threads, folds + 2 trainings (k folds, the time split, the final model).
 * Recompute worker thread only; one run at a time (XGBoost's error text is per thread). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/model.h"
#include "repgraph/score.h"

#define F            RG_FEATURE_COUNT
#define TIME_SPLIT_Q 0.8 /* labels older than this quantile of label times train the split */

void rg_model_opts_init(rg_model_opts_t *o, const rg_config_t *cfg) {
  memset(o, 0, sizeof *o);
  o->enabled = cfg->model_enabled != 0;
  o->folds = cfg->model_folds;
  o->min_labels = cfg->model_min_labels;
  o->rounds = cfg->model_rounds;
  o->max_depth = cfg->model_max_depth;
  o->eta = cfg->model_eta;
  o->threads = cfg->model_threads;
  o->max_train = cfg->model_max_train;
  o->explain_max = cfg->model_explain_max;
  o->max_auc_drop = cfg->model_max_auc_drop;
  o->block_on_drop = cfg->model_block_on_drop != 0;
  o->guard = cfg->model_guard != 0;
  o->monotone = cfg->model_monotone != 0;
  o->blend = cfg->model_blend != 0;
  o->seed = cfg->recompute_seed;
  o->prior = cfg->prior;
  o->smoothing = 0.05; /* compute.c's */
  o->band_bad = cfg->band_bad;
  o->band_suspicious = cfg->band_suspicious;
  o->band_good = cfg->band_good;
  o->min_messages = cfg->min_messages;
  o->min_age_s = (int64_t)cfg->min_age_s;
  o->period_s = 86400;
  o->calibrate = (rg_calibrate_opts_t){
      .budget = {cfg->check_tempfail_fpr, cfg->check_quarantine_fpr, cfg->check_reject_fpr},
      .fixed = {cfg->check_tempfail, cfg->check_quarantine, cfg->check_reject},
      .holdout_share = cfg->check_holdout_share,
      .min_holdout = cfg->check_min_holdout};
}

bool rg_model_ready(const rg_graph_t *g, const rg_model_opts_t *o, char *why, size_t cap) {
  uint64_t bad = 0, good = 0;
  for (uint32_t v = 0; v < g->n; v++) bad += g->seed[v] > 0, good += g->seed[v] < 0;
  if (!o->enabled) {
    snprintf(why, cap, "model.enabled is off");
    return false;
  }
  if (o->folds < 2) {
    snprintf(why, cap, "model.folds is below 2");
    return false;
  }
  if (bad < o->min_labels || good < o->min_labels) {
    snprintf(why, cap, "too few labels: %llu bad and %llu good, model.min_labels is %u per class",
             (unsigned long long)bad, (unsigned long long)good, o->min_labels);
    return false;
  }
  why[0] = '\0';
  return true;
}

static uint64_t mix64(uint64_t x) { /* splitmix64's finaliser */
  x += UINT64_C(0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
  return x ^ (x >> 31);
}

void rg_model_folds(const rg_graph_t *g, unsigned folds, uint32_t seed, uint64_t generation,
                    uint8_t *fold) {
  uint64_t key = mix64(mix64((uint64_t)seed ^ UINT64_C(0x6d6f64656c)) ^ generation);
  for (uint32_t v = 0; v < g->n; v++)
    fold[v] = g->seed[v] && folds >= 2 ? (uint8_t)(1 + mix64(g->actor_id[v] ^ key) % folds) : 0;
}

/* ---- XGBoost ------------------------------------------------------------------------ */

typedef struct {
  const rg_model_opts_t *o;
  const float *x;
  char *note;
  size_t note_cap;
} trainer_t;

#define XGB(call)                                                                    \
  do {                                                                               \
    if ((call) != 0) {                                                               \
      snprintf(t->note, t->note_cap, "xgboost: %s in %s", XGBGetLastError(), #call); \
      rc = RG_EINTERNAL;                                                             \
      goto fail;                                                                     \
    }                                                                                \
  } while (0)

/* A DMatrix of the given rows (labels and weights when y is not NULL). */
static int matrix(trainer_t *t, const uint32_t *rows, uint32_t n, const float *y, const float *w,
                  DMatrixHandle *out) {
  int rc = RG_OK;
  *out = NULL;
  float *buf = malloc((size_t)(n ? n : 1) * F * sizeof *buf);
  if (!buf) return RG_ENOMEM;
  for (uint32_t i = 0; i < n; i++)
    memcpy(buf + (size_t)i * F, t->x + (size_t)rows[i] * F, F * sizeof *buf);
  XGB(XGDMatrixCreateFromMat(buf, n, F, NAN, out));
  if (y) XGB(XGDMatrixSetFloatInfo(*out, "label", y, n));
  if (w) XGB(XGDMatrixSetFloatInfo(*out, "weight", w, n));
fail:
  free(buf);
  if (rc && *out) XGDMatrixFree(*out), *out = NULL;
  return rc;
}

/* Domain knowledge as monotone constraints: evidence of badness (a higher propagation score,
 * more bad neighbours, a larger bad mass) never lowers the score, evidence of goodness never
 * raises it. Everything else is the data's to decide. */
static int direction(int f) {
  switch (f) {
    case RG_FEAT_PROPAGATED:
    case RG_FEAT_BAD_MASS:
    case RG_FEAT_INFRA_BAD:
    case RG_FEAT_INFRA_REP:
    case RG_FEAT_IPS_BAD:
    case RG_FEAT_SENDERS_BAD:
    case RG_FEAT_COMMUNITY_BAD:
    case RG_FEAT_CO_SENDER_BAD: return 1;
    case RG_FEAT_GOOD_MASS:
    case RG_FEAT_INFRA_GOOD:
    case RG_FEAT_COMMUNITY_GOOD:
    case RG_FEAT_RECIPROCITY: return -1;
    default: return 0;
  }
}

/* Trains a booster on rows[0..n) with labels y and weights w. */
static int train(trainer_t *t, const uint32_t *rows, uint32_t n, const float *y, const float *w,
                 BoosterHandle *out) {
  int rc;
  DMatrixHandle dm = NULL;
  *out = NULL;
  char depth[16], eta[32], threads[16], seed[16];
  snprintf(depth, sizeof depth, "%u", t->o->max_depth);
  snprintf(eta, sizeof eta, "%g", t->o->eta);
  snprintf(threads, sizeof threads, "%u", t->o->threads);
  snprintf(seed, sizeof seed, "%u", t->o->seed);
  const char *params[][2] = {{"objective", "binary:logistic"},
                             {"tree_method", "hist"},
                             {"max_depth", depth},
                             {"eta", eta},
                             {"nthread", threads},
                             {"seed", seed},
                             {"subsample", "0.8"},
                             {"colsample_bytree", "1"},
                             {"min_child_weight", "1"},
                             {"max_bin", "128"},
                             {"verbosity", "0"}};
  char mono[4 * F + 4], *m = mono;
  *m++ = '(';
  for (int f = 0; f < F; f++)
    m += sprintf(m, "%s%d", f ? "," : "", t->o->monotone ? direction(f) : 0);
  *m++ = ')', *m = '\0';
  if ((rc = matrix(t, rows, n, y, w, &dm))) return rc;
  XGB(XGBoosterCreate(&dm, 1, out));
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
    XGB(XGBoosterSetParam(*out, params[i][0], params[i][1]));
  XGB(XGBoosterSetParam(*out, "monotone_constraints", mono));
  for (unsigned it = 0; it < t->o->rounds; it++) {
    XGB(XGBoosterUpdateOneIter(*out, (int)it, dm));
    if (t->o->cancel && atomic_load(t->o->cancel)) {
      rc = RG_ESHUTTING_DOWN;
      goto fail;
    }
  }
fail:
  if (dm) XGDMatrixFree(dm);
  if (rc && *out) XGBoosterFree(*out), *out = NULL;
  return rc;
}

/* Predicts rows[0..n) with b: probabilities (type 0) into p[i], or contributions (type 2,
 * (F + 1) per row, the bias last) into p[i × (F + 1) + j]. */
static int predict(trainer_t *t, BoosterHandle b, const uint32_t *rows, uint32_t n, int type,
                   float *p) {
  int rc;
  DMatrixHandle dm = NULL;
  if (n == 0) return RG_OK;
  if ((rc = matrix(t, rows, n, NULL, NULL, &dm))) return rc;
  char config[128];
  snprintf(config, sizeof config,
           "{\"type\": %d, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
           "\"strict_shape\": false}",
           type);
  const bst_ulong *shape;
  bst_ulong dim;
  const float *res;
  XGB(XGBoosterPredictFromDMatrix(b, dm, config, &shape, &dim, &res));
  size_t want = (size_t)n * (type == 2 ? F + 1 : 1), got = 1;
  for (bst_ulong i = 0; i < dim; i++) got *= shape[i];
  if (got != want) {
    snprintf(t->note, t->note_cap, "xgboost: prediction of %zu values, %zu expected", got, want);
    rc = RG_EINTERNAL;
    goto fail;
  }
  memcpy(p, res, want * sizeof *p);
fail:
  XGDMatrixFree(dm);
  return rc;
}

/* The top features of b by total gain into eval->top_*. */
static int importance(trainer_t *t, BoosterHandle b, rg_model_eval_t *e) {
  int rc = RG_OK;
  bst_ulong n_features, dim;
  const char **names;
  const bst_ulong *shape;
  const float *scores;
  for (int i = 0; i < RG_MODEL_TOP; i++) e->top_feature[i] = -1, e->top_importance[i] = 0;
  XGB(XGBoosterFeatureScore(b, "{\"importance_type\": \"total_gain\"}", &n_features, &names, &dim,
                            &shape, &scores));
  double total = 0;
  for (bst_ulong i = 0; i < n_features; i++) total += scores[i];
  for (bst_ulong i = 0; i < n_features; i++) {
    int f = names[i][0] == 'f' ? atoi(names[i] + 1) : -1; /* unnamed features are "f<i>" */
    double s = total > 0 ? scores[i] / total : 0;
    if (f < 0 || f >= F) continue;
    int pos = RG_MODEL_TOP;
    while (pos > 0 && (e->top_feature[pos - 1] < 0 || e->top_importance[pos - 1] < s)) pos--;
    if (pos >= RG_MODEL_TOP) continue;
    memmove(&e->top_feature[pos + 1], &e->top_feature[pos],
            (RG_MODEL_TOP - 1 - pos) * sizeof e->top_feature[0]);
    memmove(&e->top_importance[pos + 1], &e->top_importance[pos],
            (RG_MODEL_TOP - 1 - pos) * sizeof e->top_importance[0]);
    e->top_feature[pos] = f, e->top_importance[pos] = s;
  }
fail:
  return rc;
}

/* ---- the run ------------------------------------------------------------------------ */

#define PREDICT_CHUNK 65536 /* rows per prediction matrix: bounds the copy */

typedef struct {
  uint32_t *rows; /* labelled vertices */
  float *y, *w;
  uint8_t *yb, *sampled;
  uint32_t n;
} labelled_t;

static void labelled_free(labelled_t *l) {
  free(l->rows), free(l->y), free(l->w), free(l->yb), free(l->sampled);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* The labelled vertices, their labels and weights, and the stratified training sample: per
 * class, the max_train × share of the class with the smallest hash. */
static int labelled_collect(const rg_graph_t *g, const rg_model_opts_t *o, labelled_t *l) {
  memset(l, 0, sizeof *l);
  uint32_t n = 0, bad = 0;
  for (uint32_t v = 0; v < g->n; v++) n += g->seed[v] != 0, bad += g->seed[v] > 0;
  size_t cap = n ? n : 1;
  l->rows = malloc(cap * sizeof *l->rows), l->y = malloc(cap * sizeof *l->y);
  l->w = malloc(cap * sizeof *l->w), l->yb = malloc(cap), l->sampled = malloc(cap);
  uint64_t *h = malloc(cap * sizeof *h), *sorted = malloc(cap * sizeof *sorted);
  if (!l->rows || !l->y || !l->w || !l->yb || !l->sampled || !h || !sorted) {
    free(h), free(sorted), labelled_free(l);
    return RG_ENOMEM;
  }
  uint64_t key = mix64((uint64_t)o->seed ^ UINT64_C(0x73616d706c65) ^ o->generation);
  for (uint32_t v = 0; v < g->n; v++) {
    if (!g->seed[v]) continue;
    double w = g->seed_weight[v];
    l->rows[l->n] = v;
    l->yb[l->n] = g->seed[v] > 0;
    l->y[l->n] = g->seed[v] > 0 ? 1.0f : 0.0f;
    l->w[l->n] = (float)(w > 1 ? 1 : w < 0.05 ? 0.05 : w);
    h[l->n] = mix64(g->actor_id[v] ^ key);
    l->n++;
  }
  /* per class, the hash below which max_train × share of it falls */
  for (int cls = 0; cls <= 1; cls++) {
    uint32_t k = 0, of = cls ? bad : n - bad;
    for (uint32_t i = 0; i < l->n; i++)
      if (l->yb[i] == cls) sorted[k++] = h[i];
    uint64_t take = n <= o->max_train ? of : (uint64_t)of * o->max_train / n;
    if (take < 1 && of) take = 1;
    uint64_t limit = UINT64_MAX;
    if (take < of) { /* a partial selection: below the take-th smallest hash */
      qsort(sorted, k, sizeof *sorted, cmp_u64);
      limit = sorted[take - 1];
    }
    for (uint32_t i = 0; i < l->n; i++)
      if (l->yb[i] == cls) l->sampled[i] = h[i] <= limit;
  }
  free(h), free(sorted);
  return RG_OK;
}

static double ms_since(uint64_t t0) {
  return (double)(rg_clock_mono_us() - t0) / 1000.0;
}

/* Trains on the sampled labelled rows with pick(i) and predicts the labelled rows with
 * test(i) into raw[i] (left as is elsewhere). Skipped (0) when the training rows lack a
 * class. */
static int train_predict(trainer_t *t, const labelled_t *l, const uint8_t *train_mask,
                         const uint8_t *test_mask, float *raw) {
  int rc = RG_OK;
  uint32_t *rows = malloc((l->n ? l->n : 1) * sizeof *rows), nt = 0, ne = 0;
  float *y = malloc((l->n ? l->n : 1) * sizeof *y), *w = malloc((l->n ? l->n : 1) * sizeof *w);
  uint32_t *test = malloc((l->n ? l->n : 1) * sizeof *test),
           *test_i = malloc((l->n ? l->n : 1) * sizeof *test_i);
  float *p = malloc((l->n ? l->n : 1) * sizeof *p);
  BoosterHandle b = NULL;
  if (!rows || !y || !w || !test || !test_i || !p) {
    rc = RG_ENOMEM;
    goto done;
  }
  uint32_t classes[2] = {0, 0};
  for (uint32_t i = 0; i < l->n; i++) {
    if (train_mask[i] && l->sampled[i]) {
      rows[nt] = l->rows[i], y[nt] = l->y[i], w[nt] = l->w[i], nt++;
      classes[l->yb[i]]++;
    }
    if (test_mask[i]) test[ne] = l->rows[i], test_i[ne] = i, ne++;
  }
  if (!classes[0] || !classes[1] || !ne) goto done;
  if ((rc = train(t, rows, nt, y, w, &b))) goto done;
  if ((rc = predict(t, b, test, ne, 0, p))) goto done;
  for (uint32_t j = 0; j < ne; j++) raw[test_i[j]] = p[j];
done:
  if (b) XGBoosterFree(b);
  free(rows), free(y), free(w), free(test), free(test_i), free(p);
  return rc;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* The calibration: the model's isotonic map, and with model.blend the propagation's own
 * isotonic map and a last isotonic map of the larger of the two probabilities (the served
 * score is then the better-evidenced of the two, recalibrated). All fitted on out-of-fold
 * predictions of the labelled actors. */
typedef struct {
  double *mx, *my, *px, *py, *bx, *by;
  uint32_t m, p, b;
  bool blend;
} calib_t;

static void calib_free(calib_t *c) {
  free(c->mx), free(c->my), free(c->px), free(c->py), free(c->bx), free(c->by);
}

static double blend_in(const calib_t *c, double raw, double prop) {
  double a = rg_model_isotonic_apply(c->mx, c->my, c->m, raw);
  if (!c->blend) return a;
  double b = isnan(prop) ? 0 : rg_model_isotonic_apply(c->px, c->py, c->p, prop);
  return a > b ? a : b;
}

static double calibrated(const calib_t *c, double raw, double prop) {
  if (isnan(raw)) return NAN;
  double x = blend_in(c, raw, prop);
  return c->blend ? rg_model_isotonic_apply(c->bx, c->by, c->b, x) : x;
}

/* Fits c from the out-of-fold raw predictions and propagation scores of the labels. */
static int calib_fit(calib_t *c, const double *raw, const double *prop, const uint8_t *y,
                     uint32_t n) {
  int rc = rg_model_isotonic_fit(raw, y, n, &c->mx, &c->my, &c->m);
  if (rc || !c->blend) return rc;
  if ((rc = rg_model_isotonic_fit(prop, y, n, &c->px, &c->py, &c->p))) return rc;
  double *x = malloc((n ? n : 1) * sizeof *x);
  if (!x) return RG_ENOMEM;
  for (uint32_t i = 0; i < n; i++) x[i] = isnan(raw[i]) ? NAN : blend_in(c, raw[i], prop[i]);
  rc = rg_model_isotonic_fit(x, y, n, &c->bx, &c->by, &c->b);
  free(x);
  return rc;
}

/* The time split: trained on labels older than the TIME_SPLIT_Q quantile of label times,
 * measured (calibrated by the out-of-fold isotonic map) on the newer ones. */
static int time_split(trainer_t *t, const rg_graph_t *g, const labelled_t *l, const calib_t *c,
                      const double *prop, rg_model_eval_t *e) {
  int rc = RG_OK;
  if (!g->label_ts || l->n < 4) return RG_OK;
  int64_t *ts = malloc(l->n * sizeof *ts);
  uint8_t *older = malloc(l->n), *newer = malloc(l->n);
  float *raw = malloc(l->n * sizeof *raw);
  double *p = malloc(l->n * sizeof *p);
  if (!ts || !older || !newer || !raw || !p) {
    rc = RG_ENOMEM;
    goto done;
  }
  for (uint32_t i = 0; i < l->n; i++) ts[i] = g->label_ts[l->rows[i]];
  qsort(ts, l->n, sizeof *ts, cmp_i64);
  int64_t cutoff = ts[(uint32_t)(TIME_SPLIT_Q * (l->n - 1))];
  if (cutoff <= ts[0]) cutoff = ts[0] + 1; /* all older labels at one time: split after it */
  uint32_t n_new = 0;
  for (uint32_t i = 0; i < l->n; i++) {
    older[i] = g->label_ts[l->rows[i]] < cutoff;
    newer[i] = !older[i];
    n_new += newer[i];
    raw[i] = NAN;
  }
  e->time_cutoff = (double)cutoff;
  if (n_new == 0 || n_new == l->n) goto done; /* every label at one time: not measured */
  if ((rc = train_predict(t, l, older, newer, raw))) goto done;
  for (uint32_t i = 0; i < l->n; i++)
    p[i] = calibrated(c, raw[i], prop[i]);
  rc = rg_model_quality(p, l->yb, newer, l->n, &e->time_split);
done:
  free(ts), free(older), free(newer), free(raw), free(p);
  return rc;
}

typedef struct {
  uint32_t v;
  double rep;
} ranked_t;

static int cmp_ranked(const void *pa, const void *pb) {
  const ranked_t *a = pa, *b = pb;
  if (a->rep != b->rep) return a->rep > b->rep ? -1 : 1;
  return a->v < b->v ? -1 : a->v > b->v;
}

/* Contributions of the explain_max highest-scoring actors at or above band_suspicious: their
 * strongest pushes toward bad become reasons. */
static int explain(trainer_t *t, BoosterHandle b, const rg_graph_t *g, const rg_model_opts_t *o,
                   rg_model_result_t *out) {
  int rc = RG_OK;
  ranked_t *pick = malloc((g->n ? g->n : 1) * sizeof *pick);
  uint32_t *rows = malloc(PREDICT_CHUNK * sizeof *rows), k = 0;
  float *c = malloc((size_t)PREDICT_CHUNK * (F + 1) * sizeof *c);
  if (!pick || !rows || !c) {
    rc = RG_ENOMEM;
    goto done;
  }
  for (uint32_t v = 0; v < g->n; v++)
    if (out->reputation[v] >= o->band_suspicious) pick[k++] = (ranked_t){v, out->reputation[v]};
  qsort(pick, k, sizeof *pick, cmp_ranked);
  if (k > o->explain_max) k = o->explain_max;
  for (uint32_t from = 0; from < k; from += PREDICT_CHUNK) {
    uint32_t m = k - from < PREDICT_CHUNK ? k - from : PREDICT_CHUNK;
    for (uint32_t i = 0; i < m; i++) rows[i] = pick[from + i].v;
    if ((rc = predict(t, b, rows, m, 2, c))) goto done;
    for (uint32_t i = 0; i < m; i++) {
      uint32_t v = rows[i];
      const float *row = c + (size_t)i * (F + 1), *x = out->x + (size_t)v * F;
      rg_model_reason_t *rs = out->reasons + (size_t)v * RG_REASONS_MAX;
      unsigned n = 0;
      for (int f = 0; f < F; f++) {
        if (!(row[f] > 0.05f)) continue; /* pushes toward bad by a noticeable margin */
        unsigned pos = n < RG_REASONS_MAX ? n : RG_REASONS_MAX;
        while (pos > 0 && rs[pos - 1].contribution < row[f]) pos--;
        if (pos >= RG_REASONS_MAX) continue;
        unsigned last = n < RG_REASONS_MAX ? n : RG_REASONS_MAX - 1;
        memmove(&rs[pos + 1], &rs[pos], (last - pos) * sizeof *rs);
        int comp = rg_feature_companion(f);
        rs[pos] = (rg_model_reason_t){(int16_t)f, x[f], comp >= 0 ? x[comp] : NAN, row[f]};
        if (n < RG_REASONS_MAX) n++;
      }
      out->n_reasons[v] = (uint8_t)n;
    }
  }
done:
  free(pick), free(rows), free(c);
  return rc;
}

int rg_model_run(const rg_graph_t *g, const rg_result_t *r, const uint8_t *fold,
                 const rg_model_opts_t *o, const rg_model_eval_t *previous,
                 rg_model_result_t *out) {
  memset(out, 0, sizeof *out);
  out->n = g->n;
  rg_model_eval_t *e = &out->eval;
  e->generation = (double)o->generation;
  e->folds = o->folds, e->rounds = o->rounds, e->features = F;
  e->folds_ms = r->timing.folds_ms;
  for (int i = 0; i < RG_MODEL_TOP; i++) e->top_feature[i] = -1;
  for (uint32_t v = 0; v < g->n; v++)
    e->bad_labels += g->seed[v] > 0, e->good_labels += g->seed[v] < 0;
  if (previous) e->previous_auc = previous->oof.auc;
  if (!rg_model_ready(g, o, out->note, sizeof out->note)) {
    e->state = RG_MODEL_OFF;
    return RG_OK;
  }
  int rc = RG_OK;
  labelled_t l = {0};
  float *raw = NULL, *p = NULL;
  double *oof = NULL, *prop = NULL;
  calib_t cal = {.blend = o->blend};
  uint8_t *mask_train = NULL, *mask_test = NULL, *is_type = NULL;
  uint32_t *chunk = NULL;
  BoosterHandle final = NULL;
  trainer_t t = {o, NULL, out->note, sizeof out->note};
  uint64_t t0 = rg_clock_mono_us();
  size_t cells = (size_t)g->n * F;
  if (!(out->x = malloc((cells ? cells : 1) * sizeof *out->x))) goto nomem;
  if ((rc = rg_features_compute(g, r, fold, o->folds, o, out->x))) goto fail;
  t.x = out->x;
  e->features_ms = ms_since(t0);

  t0 = rg_clock_mono_us();
  if ((rc = labelled_collect(g, o, &l))) goto fail;
  size_t ln = l.n ? l.n : 1;
  raw = malloc(ln * sizeof *raw), oof = malloc(ln * sizeof *oof), prop = malloc(ln * sizeof *prop);
  mask_train = malloc(ln), mask_test = malloc(ln), is_type = malloc(ln);
  if (!raw || !oof || !prop || !mask_train || !mask_test || !is_type) goto nomem;
  for (uint32_t i = 0; i < l.n; i++) {
    raw[i] = NAN;
    prop[i] = out->x[(size_t)l.rows[i] * F + RG_FEAT_PROPAGATED];
    e->trained_on += l.sampled[i];
  }
  for (unsigned f = 1; f <= o->folds; f++) {
    for (uint32_t i = 0; i < l.n; i++) {
      mask_test[i] = fold[l.rows[i]] == f;
      mask_train[i] = !mask_test[i];
    }
    if ((rc = train_predict(&t, &l, mask_train, mask_test, raw))) goto xgb;
  }
  for (uint32_t i = 0; i < l.n; i++) oof[i] = raw[i];
  if ((rc = calib_fit(&cal, oof, prop, l.yb, l.n))) goto fail;
  if (!(out->oof = malloc((g->n ? g->n : 1) * sizeof *out->oof))) goto nomem;
  for (uint32_t v = 0; v < g->n; v++) out->oof[v] = NAN;
  for (uint32_t i = 0; i < l.n; i++) {
    oof[i] = calibrated(&cal, oof[i], prop[i]);
    out->oof[l.rows[i]] = oof[i];
  }
  if ((rc = rg_model_quality(oof, l.yb, NULL, l.n, &e->oof)) ||
      (rc = rg_model_quality(prop, l.yb, NULL, l.n, &e->propagation)))
    goto fail;
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX && ty <= 4; ty++) {
    for (uint32_t i = 0; i < l.n; i++) is_type[i] = g->type[l.rows[i]] == ty;
    if ((rc = rg_model_quality(oof, l.yb, is_type, l.n, &e->by_type[ty - 1]))) goto fail;
  }
  rg_model_deciles(oof, l.yb, l.n, e->decile_pred, e->decile_observed, e->decile_n);
  if ((rc = time_split(&t, g, &l, &cal, prop, e))) goto xgb;

  /* the final model, on every sampled label; its predictions for every actor */
  for (uint32_t i = 0; i < l.n; i++) mask_train[i] = 1, mask_test[i] = 0;
  {
    uint32_t nt = 0;
    uint32_t *rows = malloc(ln * sizeof *rows);
    float *y = malloc(ln * sizeof *y), *w = malloc(ln * sizeof *w);
    if (!rows || !y || !w) {
      free(rows), free(y), free(w);
      goto nomem;
    }
    for (uint32_t i = 0; i < l.n; i++)
      if (l.sampled[i]) rows[nt] = l.rows[i], y[nt] = l.y[i], w[nt] = l.w[i], nt++;
    rc = train(&t, rows, nt, y, w, &final);
    free(rows), free(y), free(w);
    if (rc) goto xgb;
  }
  if (!(out->reputation = malloc((g->n ? g->n : 1) * sizeof *out->reputation))) goto nomem;
  if (!(chunk = malloc(PREDICT_CHUNK * sizeof *chunk)) || !(p = malloc(PREDICT_CHUNK * sizeof *p)))
    goto nomem;
  for (uint32_t from = 0; from < g->n; from += PREDICT_CHUNK) {
    uint32_t m = g->n - from < PREDICT_CHUNK ? g->n - from : PREDICT_CHUNK;
    for (uint32_t i = 0; i < m; i++) chunk[i] = from + i;
    if ((rc = predict(&t, final, chunk, m, 0, p))) goto xgb;
    for (uint32_t i = 0; i < m; i++)
      out->reputation[from + i] =
          calibrated(&cal, p[i], out->x[(size_t)(from + i) * F + RG_FEAT_PROPAGATED]);
  }
  if ((rc = importance(&t, final, e))) goto xgb;
  e->train_ms = ms_since(t0);

  t0 = rg_clock_mono_us();
  out->n_reasons = calloc(g->n ? g->n : 1, 1);
  out->reasons = calloc((size_t)(g->n ? g->n : 1) * RG_REASONS_MAX, sizeof *out->reasons);
  if (!out->n_reasons || !out->reasons) goto nomem;
  if ((rc = explain(&t, final, g, o, out))) goto xgb;
  e->explain_ms = ms_since(t0);

  /* features, one training matrix at a time, the predictions and the reasons */
  e->peak_bytes = (double)cells * sizeof(float) * 2 + (double)g->n * (2 * sizeof(double) + 1) +
                  (double)g->n * RG_REASONS_MAX * sizeof(rg_model_reason_t) +
                  (double)PREDICT_CHUNK * (F + 1) * sizeof(float) * 2;
  e->state = RG_MODEL_SERVING;
  if (previous && previous->state == RG_MODEL_SERVING && previous->oof.n > 0 &&
      previous->oof.auc - e->oof.auc > o->max_auc_drop) {
    e->flagged = 1;
    snprintf(out->note, sizeof out->note,
             "held-out AUC fell from %.4f to %.4f (model.max_auc_drop %g)", previous->oof.auc,
             e->oof.auc, o->max_auc_drop);
    if (o->block_on_drop) e->state = RG_MODEL_HELD_BACK;
  }
  goto done;

xgb: /* XGBoost failed (note says why) or the run was cancelled */
  if (rc == RG_EINTERNAL) {
    rg_log_error("model: %s; serving the propagation", out->note);
    e->state = RG_MODEL_FAILED;
    free(out->reputation), out->reputation = NULL;
    rc = RG_OK;
  }
  goto done;
nomem:
  rc = RG_ENOMEM;
fail:
done:
  if (final) XGBoosterFree(final);
  labelled_free(&l);
  free(raw), free(oof), free(prop), free(mask_train), free(mask_test), free(is_type);
  calib_free(&cal);
  free(chunk), free(p);
  if (rc) {
    rg_model_result_free(out);
    out->n = g->n;
  }
  return rc;
}

void rg_model_result_free(rg_model_result_t *m) {
  if (!m) return;
  free(m->reputation), free(m->oof), free(m->n_reasons), free(m->reasons), free(m->x);
  m->reputation = m->oof = NULL, m->n_reasons = NULL, m->reasons = NULL, m->x = NULL;
}
