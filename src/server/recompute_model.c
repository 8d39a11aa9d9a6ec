/* recompute_model.c — the learned model in a recomputation job, on the server's side: the
 * model stage on the worker (after the propagation, before the evidence), the feature table
 * written for reference models (model.features_out), and the model's record in status, stats
 * and the recompute reply. Worker thread for rg__model_stage and the table; loop thread for
 * the writers of replies. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"
#include "repgraph/err.h"
#include "repgraph/log.h"

/* The feature table as TSV: actor, type, label, fold, served reputation, the features. Read
 * names from one read transaction. A failure is logged: the generation still publishes. */
static void write_features(rg_engine_t *e, const rg_graph_t *g, const uint8_t *fold,
                           const rg_model_result_t *m, const rg_result_t *r) {
  char tmp[RG_CONFIG_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", e->cfg.model_features_out);
  FILE *f = fopen(tmp, "w");
  rg_txn_t *t = NULL;
  if (!f || rg_store_read_begin(e->store, &t)) {
    rg_log_warn("model: cannot write the feature table to %s", tmp);
    if (f) fclose(f);
    return;
  }
  fprintf(f, "actor\ttype\tlabel\tfold\treputation");
  for (int i = 0; i < RG_FEATURE_COUNT; i++) fprintf(f, "\t%s", rg_feature_name(i));
  fputc('\n', f);
  for (uint32_t v = 0; v < g->n; v++) {
    rg_actor_rec_t rec;
    char name[RG_ACTOR_TEXT_MAX];
    if (rg_store_get_actor(t, g->actor_id[v], g->now, &rec) != RG_OK ||
        rg_actor_format(&rec.actor, name, sizeof name) <= 0)
      continue;
    fprintf(f, "%s\t%s\t%s\t%u\t%.9g", name, rg_actor_type_name(g->type[v]),
            g->seed[v] > 0   ? "bad"
            : g->seed[v] < 0 ? "good"
                             : "",
            fold ? fold[v] : 0, r->scores[v].reputation);
    for (int i = 0; i < RG_FEATURE_COUNT; i++) {
      float x = m->x[(size_t)v * RG_FEATURE_COUNT + i];
      if (isnan(x))
        fputs("\t", f);
      else
        fprintf(f, "\t%.7g", x);
    }
    fputc('\n', f);
  }
  rg_store_end(t);
  if (fclose(f) != 0 || rename(tmp, e->cfg.model_features_out) != 0)
    rg_log_warn("model: writing the feature table to %s failed", e->cfg.model_features_out);
}

int rg__model_stage(rg_engine_t *e, const rg_graph_t *g, const uint8_t *fold,
                    const rg_model_opts_t *mo, const rg_model_eval_t *previous,
                    rg_model_result_t *m, rg_result_t *r, char *err, size_t errlen) {
  int rc = rg_model_run(g, r, fold, mo, previous, m);
  if (rc) {
    snprintf(err, errlen, "the model: %s", rg_strerror(rc));
    return rc;
  }
  rg_model_apply(g, mo, previous, m, r);
  const rg_model_eval_t *ev = &m->eval;
  if (ev->state == RG_MODEL_SERVING || ev->state == RG_MODEL_HELD_BACK)
    rg_log_info(
        "model: %s; held-out AUC %.4f (propagation %.4f), PR-AUC %.4f, recall %.3f at "
        "0.1%% FPR, Brier %.4f on %.0f labels; PSI %.3f; features %.0f ms, training "
        "%.0f ms, reasons %.0f ms%s%s",
        rg_model_state_name((int)ev->state), ev->oof.auc, ev->propagation.auc, ev->oof.pr_auc,
        ev->oof.recall_at_0_1pct, ev->oof.brier, ev->oof.n, ev->psi, ev->features_ms, ev->train_ms,
        ev->explain_ms, m->note[0] ? "; " : "", m->note);
  else
    rg_log_info("model: %s (%s); serving the propagation", rg_model_state_name((int)ev->state),
                m->note);
  if (ev->state == RG_MODEL_HELD_BACK) {
    snprintf(err, errlen, "generation not published (model.block_on_drop): %s", m->note);
    return RG_EINTERNAL;
  }
  if (e->cfg.model_features_out[0] && m->x) write_features(e, g, fold, m, r);
  rg_model_result_free(m); /* served into r; only the record (eval, note) is kept */
  return RG_OK;
}

static void write_quality(rg_wr_t *wr, const rg_model_quality_t *q) {
  rg_wr_map(wr, 9);
  rg_wr_str(wr, "n"), rg_wr_uint(wr, (uint64_t)q->n);
  rg_wr_str(wr, "bad"), rg_wr_uint(wr, (uint64_t)q->bad);
  rg_wr_str(wr, "auc"), rg_wr_double(wr, q->auc);
  rg_wr_str(wr, "pr_auc"), rg_wr_double(wr, q->pr_auc);
  rg_wr_str(wr, "precision_at_k"), rg_wr_double(wr, q->precision_at_k);
  rg_wr_str(wr, "k"), rg_wr_uint(wr, (uint64_t)q->k);
  rg_wr_str(wr, "recall_at_0_1pct_fpr"), rg_wr_double(wr, q->recall_at_0_1pct);
  rg_wr_str(wr, "recall_at_1pct_fpr"), rg_wr_double(wr, q->recall_at_1pct);
  rg_wr_str(wr, "brier"), rg_wr_double(wr, q->brier);
  /* ece with brier: both calibration measures */
}

void rg__model_write(rg_wr_t *wr, const rg_model_eval_t *ev, const char *note, bool found) {
  if (!found) {
    rg_wr_nil(wr);
    return;
  }
  unsigned top = 0;
  while (top < RG_MODEL_TOP && ev->top_feature[top] >= 0) top++;
  rg_wr_map(wr, 20);
  rg_wr_str(wr, "generation"), rg_wr_uint(wr, (uint64_t)ev->generation);
  rg_wr_str(wr, "state"), rg_wr_str(wr, rg_model_state_name((int)ev->state));
  rg_wr_str(wr, "note"), rg_wr_str(wr, note);
  rg_wr_str(wr, "bad_labels"), rg_wr_uint(wr, (uint64_t)ev->bad_labels);
  rg_wr_str(wr, "good_labels"), rg_wr_uint(wr, (uint64_t)ev->good_labels);
  rg_wr_str(wr, "trained_on"), rg_wr_uint(wr, (uint64_t)ev->trained_on);
  rg_wr_str(wr, "folds"), rg_wr_uint(wr, (uint64_t)ev->folds);
  rg_wr_str(wr, "held_out"), write_quality(wr, &ev->oof);
  rg_wr_str(wr, "ece"), rg_wr_double(wr, ev->oof.ece);
  rg_wr_str(wr, "by_type");
  rg_wr_map(wr, 4);
  for (int t = 1; t <= 4; t++)
    rg_wr_str(wr, rg_actor_type_name(t)), write_quality(wr, &ev->by_type[t - 1]);
  rg_wr_str(wr, "time_split");
  rg_wr_map(wr, 2);
  rg_wr_str(wr, "cutoff"), rg_wr_int(wr, (int64_t)ev->time_cutoff);
  rg_wr_str(wr, "held_out"), write_quality(wr, &ev->time_split);
  rg_wr_str(wr, "propagation_alone"), write_quality(wr, &ev->propagation);
  rg_wr_str(wr, "deciles");
  rg_wr_array(wr, RG_MODEL_DECILES);
  for (int b = 0; b < RG_MODEL_DECILES; b++) {
    rg_wr_map(wr, 3);
    rg_wr_str(wr, "predicted"), rg_wr_double(wr, ev->decile_pred[b]);
    rg_wr_str(wr, "observed"), rg_wr_double(wr, ev->decile_observed[b]);
    rg_wr_str(wr, "n"), rg_wr_uint(wr, (uint64_t)ev->decile_n[b]);
  }
  rg_wr_str(wr, "top_features");
  rg_wr_array(wr, top);
  for (unsigned i = 0; i < top; i++) {
    rg_wr_map(wr, 2);
    rg_wr_str(wr, "feature"), rg_wr_str(wr, rg_feature_name((int)ev->top_feature[i]));
    rg_wr_str(wr, "importance"), rg_wr_double(wr, ev->top_importance[i]);
  }
  rg_wr_str(wr, "psi"), rg_wr_double(wr, ev->psi);
  rg_wr_str(wr, "previous_auc"), rg_wr_double(wr, ev->previous_auc);
  rg_wr_str(wr, "flagged"), rg_wr_bool(wr, ev->flagged != 0);
  rg_wr_str(wr, "phases_ms");
  rg_wr_map(wr, 4);
  rg_wr_str(wr, "folds"), rg_wr_double(wr, ev->folds_ms);
  rg_wr_str(wr, "features"), rg_wr_double(wr, ev->features_ms);
  rg_wr_str(wr, "train"), rg_wr_double(wr, ev->train_ms);
  rg_wr_str(wr, "explain"), rg_wr_double(wr, ev->explain_ms);
  rg_wr_str(wr, "memory_bytes"), rg_wr_uint(wr, (uint64_t)ev->peak_bytes);
  rg_wr_str(wr, "guarded"), rg_wr_uint(wr, (uint64_t)ev->guarded);
}

void rg__model_status(rg_engine_t *e, rg_wr_t *wr) {
  rg_txn_t *t;
  rg_model_eval_t ev;
  char note[256] = "";
  bool found = false;
  if (rg_store_read_begin(e->store, &t) == RG_OK) {
    found = rg_store_get_model(t, &ev, note, sizeof note) == RG_OK;
    rg_store_end(t);
  }
  rg__model_write(wr, &ev, note, found);
}
