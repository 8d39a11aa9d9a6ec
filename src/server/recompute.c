/* recompute.c — recomputation jobs: triggered by the timer or the recompute op, one at a
 * time. The snapshot and the computation run on libuv's thread pool, never on the loop;
 * the new generation is then written by the writer thread in solo transactions of bounded
 * size (so ingest keeps flowing between them), and becomes visible only when the last step
 * flips `generation` in meta. The generation before last is dropped afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "repgraph/evidence.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"

#define ROWS_PER_STEP  20000 /* scores or clusters written per transaction */
#define DROP_PER_STEP  50000 /* old rows deleted per transaction */
#define INDEX_PER_STEP 60000 /* index rows appended per transaction (cheap: at the tree's end) */

/* A row of the member index (key = cluster) or of a ranking (key = the score), sorted on the
 * worker so that publishing only appends. */
typedef struct {
  double value;
  uint64_t cluster, actor;
  uint8_t type;
} index_row_t;

/* What a publishing step writes (a write of the writer's own, not a client's). */
typedef enum {
  PUBLISH_CLEAR, /* delete leftovers of the generation being written */
  PUBLISH_ROWS,  /* write scores and clusters [from, to) */
  PUBLISH_INDEX, /* append member and ranking index rows [from, to), in key order */
  PUBLISH_FLIP,  /* make the generation current */
  PUBLISH_DROP   /* delete the generation before last */
} publish_t;

typedef struct {
  rg_writer_req_t head;
  rg_recompute_t *job;
  publish_t kind;
  uint64_t from, to;
} publish_step_t;

/* A recompute request: answered at once, or (wait) when its job finishes. */
typedef struct {
  rg_write_t base;
  bool started; /* a new job was started for it */
  bool finished;
  rg__recompute_summary_t summary;
} waiter_t;

struct rg_recompute {
  rg_engine_t *engine;
  uv_work_t work;
  uint64_t job, generation;
  int64_t started_at;
  uint64_t started_us, publish_started_us;
  rg_graph_t graph;
  rg_result_t result;
  index_row_t *index; /* [3 n]: members, then the reputation, then the anomaly ranking */
  int rc;
  char err[200];
  double load_ms;
  bool failed; /* writer thread: a publishing step failed */
  atomic_int cancel;
  waiter_t *waiters, *waiters_tail;
  /* the learned model (recompute_model.c) */
  uint8_t *fold;            /* [n] the seeds' folds; NULL when the model cannot train */
  rg_model_result_t model;
  rg_model_eval_t previous; /* the current generation's model record, when have_previous */
  bool have_previous;
};

/* ---- finishing ----------------------------------------------------------------------- */

static void finish(rg_recompute_t *job, int rc) {
  rg_engine_t *e = job->engine;
  rg__recompute_summary_t *s = &e->last;
  memset(s, 0, sizeof *s);
  s->job = job->job;
  s->generation = rc ? 0 : job->generation;
  s->rc = rc;
  snprintf(s->error, sizeof s->error, "%s", rc ? (job->err[0] ? job->err : rg_strerror(rc)) : "");
  s->started_at = job->started_at;
  s->finished_at = rg_clock_now();
  s->vertices = job->graph.n;
  s->edges = job->graph.m;
  s->clusters = job->result.n_clusters;
  s->timing = job->result.timing;
  s->load_ms = job->load_ms;
  s->publish_ms =
      job->publish_started_us ? (double)(rg_clock_mono_us() - job->publish_started_us) / 1000 : 0;
  s->total_ms = (double)(rg_clock_mono_us() - job->started_us) / 1000;
  const double phases[RG_RECOMPUTE_PHASES] = {
      s->load_ms,           s->timing.graph_ms,   s->timing.propagate_ms, s->timing.calibrate_ms,
      s->timing.communities_ms, s->timing.anomaly_ms, s->publish_ms};
  rg_metrics_recompute_done(&e->metrics, rc, s->generation, s->finished_at, s->total_ms, phases);
  atomic_store(&e->metrics.recompute_running, 0);
  s->model = job->model.eval;
  snprintf(s->model_note, sizeof s->model_note, "%s", job->model.note);
  if (rc) {
    e->recomputes_failed++;
    rg_log_error("recompute %llu failed: %s", (unsigned long long)job->job, s->error);
  } else {
    e->recomputes_ok++;
    rg_log_info(
        "recompute %llu: generation %llu, %llu actors, %llu edges, %llu clusters in %.0f ms",
        (unsigned long long)job->job, (unsigned long long)job->generation,
        (unsigned long long)s->vertices, (unsigned long long)s->edges,
        (unsigned long long)s->clusters, s->total_ms);
  }
  e->running = NULL;
  rg__engine_apply_reload(e); /* a SIGHUP while it ran */
  if (!rc && e->on_generation) e->on_generation(e->recompute_hook_ctx, job->generation);
  rg_snapshot_free(&job->graph);
  rg_compute_result_free(&job->result);
  rg_model_result_free(&job->model);
  free(job->fold);
  free(job->index);
  for (waiter_t *w = job->waiters, *next; w; w = next) {
    next = (waiter_t *)w->base.head.next;
    w->base.head.next = NULL;
    w->summary = *s;
    w->finished = true;
    w->base.head.result = rc;
    snprintf(w->base.error, sizeof w->base.error, "%s", s->error);
    w->base.done(&w->base, w->base.ctx);
  }
  free(job);
}

/* ---- publishing (writer thread applies, loop thread queues) ---------------------------- */

static void on_step_done(rg_writer_req_t *head) {
  publish_step_t *step = (publish_step_t *)head;
  rg_recompute_t *job = step->job;
  bool last = step->kind == PUBLISH_DROP;
  free(step);
  if (last) finish(job, job->failed ? (job->rc ? job->rc : RG_ESTORAGE_FULL) : RG_OK);
}

/* Writer thread: a publishing step failed for good; later steps must not flip. */
static void on_step_failed(rg_writer_req_t *head) {
  publish_step_t *step = (publish_step_t *)head;
  rg_recompute_t *job = step->job;
  job->failed = true;
  if (!job->rc) job->rc = head->result;
  snprintf(job->err, sizeof job->err, "publishing generation %llu: %s",
           (unsigned long long)job->generation, rg_strerror(head->result));
}

/* Writer thread: applies one publishing step inside transaction t. */
static int apply_step(rg_txn_t *t, rg_writer_req_t *head) {
  const publish_step_t *step = (const publish_step_t *)head;
  rg_recompute_t *job = step->job;
  const rg_graph_t *g = &job->graph;
  const rg_result_t *r = &job->result;
  int rc = RG_OK;
  bool done = false;
  switch (step->kind) {
    case PUBLISH_CLEAR:
      while (!rc && !done) rc = rg_store_drop_generation(t, job->generation, DROP_PER_STEP, &done);
      return rc;
    case PUBLISH_ROWS:
      if (job->failed) return RG_OK;
      for (uint64_t i = step->from; i < step->to && !rc; i++) {
        if (i < g->n)
          rc = rg_store_put_score(t, job->generation, g->actor_id[i], &r->scores[i]);
        else
          rc = rg_store_put_cluster(t, job->generation, &r->clusters[i - g->n]);
      }
      return rc;
    case PUBLISH_INDEX:
      if (job->failed) return RG_OK;
      for (uint64_t i = step->from; i < step->to && !rc; i++) {
        const index_row_t *x = &job->index[i];
        if (i < g->n)
          rc = rg_store_append_member(t, job->generation, x->cluster, x->actor);
        else
          rc = rg_store_append_rank(t, job->generation,
                                    i < 2 * (uint64_t)g->n ? RG_RANK_REPUTATION : RG_RANK_ANOMALY,
                                    (rg_actor_type_t)x->type, x->value, x->actor);
      }
      return rc;
    case PUBLISH_FLIP: {
      if (job->failed) return RG_OK;
      rg_generation_t cur = {0};
      if (rg_store_get_generation(t, &cur) == RG_OK && cur.generation >= job->generation) {
        job->failed = true; /* cluster mode: a generation adopted meanwhile is newer */
        job->rc = RG_ENOT_LEADER;
        snprintf(job->err, sizeof job->err, "generation %llu was adopted from the cluster first",
                 (unsigned long long)cur.generation);
        return RG_OK;
      }
      rg_generation_t gen = {
          .generation = job->generation,
          .computed_at = job->started_at,
          .duration_ms = (uint64_t)((rg_clock_mono_us() - job->started_us) / 1000),
          .vertices = g->n,
          .edges = g->m,
          .clusters = r->n_clusters,
          .bad_seeds = g->bad_seeds,
          .good_seeds = g->good_seeds,
          .thresholds = r->thresholds};
      int prc = rg_store_publish_generation(t, &gen);
      return prc ? prc : rg_store_put_model(t, &job->model.eval, job->model.note);
    }
    case PUBLISH_DROP:
      if (job->failed || job->generation < 3) return RG_OK;
      while (!rc && !done)
        rc = rg_store_drop_generation(t, job->generation - 2, DROP_PER_STEP, &done);
      return rc;
  }
  return RG_EINTERNAL;
}

static int queue_step(rg_recompute_t *job, publish_t kind, uint64_t from, uint64_t to) {
  publish_step_t *step = calloc(1, sizeof *step);
  if (!step) return RG_ENOMEM;
  step->head = (rg_writer_req_t){.apply = apply_step,
                                 .on_failed = on_step_failed,
                                 .done = on_step_done,
                                 .name = "recompute publish",
                                 .solo = true};
  step->job = job;
  step->kind = kind;
  step->from = from;
  step->to = to;
  rg_writer_submit(job->engine->writer, &step->head);
  return RG_OK;
}

/* ---- the computation (thread pool) ---------------------------------------------------- */

static int cmp_index_row(const void *pa, const void *pb) {
  const index_row_t *a = pa, *b = pb;
  if (a->cluster != b->cluster) return a->cluster < b->cluster ? -1 : 1;
  if (a->type != b->type) return a->type < b->type ? -1 : 1;
  if (a->value != b->value) return a->value < b->value ? -1 : 1;
  return a->actor < b->actor ? -1 : a->actor > b->actor;
}

/* Builds the index rows of the result in the store's key order (worker thread). */
static int build_index(rg_recompute_t *job) {
  const rg_graph_t *g = &job->graph;
  if (!(job->index = calloc(3 * (size_t)g->n + 1, sizeof *job->index))) return RG_ENOMEM;
  for (uint32_t v = 0; v < g->n; v++) {
    const rg_score_t *sc = &job->result.scores[v];
    double rep = sc->reputation > 0 ? sc->reputation : 0, anom = sc->anomaly > 0 ? sc->anomaly : 0;
    job->index[v] = (index_row_t){0, sc->cluster, g->actor_id[v], 0};
    job->index[g->n + v] = (index_row_t){rep, 0, g->actor_id[v], g->type[v]};
    job->index[2 * (size_t)g->n + v] = (index_row_t){anom, 0, g->actor_id[v], g->type[v]};
  }
  for (int part = 0; part < 3; part++)
    qsort(job->index + (size_t)part * g->n, g->n, sizeof *job->index, cmp_index_row);
  return RG_OK;
}

static void work(uv_work_t *req) {
  rg_recompute_t *job = req->data;
  rg_engine_t *e = job->engine;
  uint64_t t0 = rg_clock_mono_us();
  job->rc = rg_snapshot_load(e->store, rg__reference_time(e, job->started_at), &job->graph);
  job->load_ms = (double)(rg_clock_mono_us() - t0) / 1000;
  if (job->rc) {
    snprintf(job->err, sizeof job->err, "loading the snapshot: %s", rg_strerror(job->rc));
    return;
  }
  rg_compute_opts_t opts;
  rg_compute_opts_init(&opts, &e->cfg);
  opts.generation = job->generation;
  opts.cancel = &job->cancel;
  rg_model_opts_t mo;
  rg_model_opts_init(&mo, &e->cfg);
  mo.generation = job->generation;
  mo.cancel = &job->cancel;
  rg_txn_t *t;
  if (rg_store_read_begin(e->store, &t) == RG_OK) {
    job->have_previous = rg_store_get_model(t, &job->previous, NULL, 0) == RG_OK;
    rg_store_end(t);
  }
  char why[160];
  if (rg_model_ready(&job->graph, &mo, why, sizeof why)) {
    if (!(job->fold = malloc(job->graph.n ? job->graph.n : 1))) {
      job->rc = RG_ENOMEM;
      return;
    }
    rg_model_folds(&job->graph, mo.folds, mo.seed, job->generation, job->fold);
    opts.fold = job->fold;
    opts.folds = mo.folds;
  }
  job->rc = rg_compute_run(&job->graph, &opts, &job->result, job->err, sizeof job->err);
  if (!job->rc)
    job->rc = rg__model_stage(e, &job->graph, job->fold, &mo,
                              job->have_previous ? &job->previous : NULL, &job->model,
                              &job->result, job->err, sizeof job->err);
  if (!job->rc && (job->rc = rg_evidence_fill(&job->graph, e->cfg.band_bad, e->cfg.band_good,
                                              job->result.scores)))
    snprintf(job->err, sizeof job->err, "counting the evidence: %s", rg_strerror(job->rc));
  if (!job->rc && (job->rc = build_index(job)))
    snprintf(job->err, sizeof job->err, "sorting the index rows: %s", rg_strerror(job->rc));
}

static void after_work(uv_work_t *req, int status) {
  rg_recompute_t *job = req->data;
  rg_engine_t *e = job->engine;
  int rc = status ? RG_ESHUTTING_DOWN : job->rc;
  if (!rc && e->stopping) rc = RG_ESHUTTING_DOWN;
  if (rc) {
    finish(job, rc);
    return;
  }
  job->publish_started_us = rg_clock_mono_us();
  uint64_t rows = (uint64_t)job->graph.n + job->result.n_clusters;
  rc = queue_step(job, PUBLISH_CLEAR, 0, 0);
  for (uint64_t from = 0; !rc && from < rows; from += ROWS_PER_STEP)
    rc = queue_step(job, PUBLISH_ROWS, from,
                    from + ROWS_PER_STEP < rows ? from + ROWS_PER_STEP : rows);
  uint64_t index_rows = 3 * (uint64_t)job->graph.n;
  for (uint64_t from = 0; !rc && from < index_rows; from += INDEX_PER_STEP)
    rc = queue_step(job, PUBLISH_INDEX, from,
                    from + INDEX_PER_STEP < index_rows ? from + INDEX_PER_STEP : index_rows);
  if (!rc) rc = queue_step(job, PUBLISH_FLIP, 0, 0);
  if (!rc) rc = queue_step(job, PUBLISH_DROP, 0, 0);
  if (rc) { /* out of memory mid-way: the queued steps still run; make them no-ops */
    job->failed = true;
    job->rc = rc;
    queue_step(job, PUBLISH_DROP, 0, 0);
  }
}

/* Starts a job unless one is running. Returns the running or new job, NULL on failure (*rc
 * set; a refusal of the recompute gate has its reason in msg). */
static rg_recompute_t *start(rg_engine_t *e, bool *started, int *rc, char *msg, size_t cap) {
  *started = false;
  *rc = RG_OK;
  msg[0] = '\0';
  if (e->running) return e->running;
  if (e->stopping) {
    *rc = RG_ESHUTTING_DOWN;
    return NULL;
  }
  if (e->recompute_gate && (*rc = e->recompute_gate(e->recompute_hook_ctx, msg, cap)))
    return NULL; /* cluster mode: another replica holds the lease */
  rg_recompute_t *job = calloc(1, sizeof *job);
  if (!job) {
    *rc = RG_ENOMEM;
    return NULL;
  }
  rg_txn_t *t;
  rg_generation_t cur = {0};
  if ((*rc = rg_store_read_begin(e->store, &t)) == RG_OK) {
    *rc = rg_store_get_generation(t, &cur);
    if (*rc == RG_ENOT_FOUND) *rc = RG_OK;
    rg_store_end(t);
  }
  if (*rc) {
    free(job);
    return NULL;
  }
  job->engine = e;
  job->job = ++e->next_job;
  job->generation =
      (cur.generation > e->generation_floor ? cur.generation : e->generation_floor) + 1;
  job->started_at = rg_clock_now();
  job->started_us = rg_clock_mono_us();
  job->work.data = job;
  if ((*rc = uv_queue_work(e->loop, &job->work, work, after_work)) != 0) {
    free(job);
    *rc = RG_EINTERNAL;
    return NULL;
  }
  e->running = job;
  atomic_store(&e->metrics.recompute_running, 1);
  *started = true;
  rg_log_info("recompute %llu started (generation %llu)", (unsigned long long)job->job,
              (unsigned long long)job->generation);
  return job;
}

static void on_timer(uv_timer_t *t) {
  bool started;
  int rc;
  char msg[200];
  start(t->data, &started, &rc, msg, sizeof msg);
  if (rc == RG_ENOT_LEADER)
    rg_log_debug("scheduled recompute left to the leader: %s", msg);
  else if (rc)
    rg_log_warn("scheduled recompute not started: %s", rg_strerror(rc));
}

int rg__recompute_init(rg_engine_t *e) {
  int rc = uv_timer_init(e->loop, &e->recompute_timer);
  if (rc) return RG_EINTERNAL;
  e->recompute_timer.data = e;
  uint64_t ms = e->cfg.recompute_interval_s * 1000;
  if (ms) uv_timer_start(&e->recompute_timer, on_timer, ms, ms);
  return RG_OK;
}

void rg__recompute_stop(rg_engine_t *e) {
  uv_timer_stop(&e->recompute_timer);
  uv_close((uv_handle_t *)&e->recompute_timer, NULL);
  if (e->running) atomic_store(&e->running->cancel, 1);
}

/* ---- the ops --------------------------------------------------------------------------- */

static void waiter_free(rg_write_t *w) {
  free(w);
}

static void waiter_reply(const rg_write_t *base, rg_wr_t *wr);

int rg__recompute_request(rg_engine_t *e, const rg_request_t *req, rg_buf_t *out,
                          rg_write_done_fn done, void *ctx, rg_write_t **pending) {
  bool started;
  int rc;
  char msg[200];
  rg_recompute_t *job = start(e, &started, &rc, msg, sizeof msg);
  if (!job) return rg_proto_write_error(out, req->has_id, req->id, rc, msg[0] ? msg : NULL);
  waiter_t *w = calloc(1, sizeof *w);
  if (!w) return rg_proto_write_error(out, req->has_id, req->id, RG_ENOMEM, NULL);
  w->base = (rg_write_t){.engine = e,
                         .op = RG_OP_RECOMPUTE,
                         .has_id = req->has_id,
                         .id = req->id,
                         .reply = waiter_reply,
                         .free = waiter_free};
  w->started = started;
  w->summary.job = job->job;
  w->summary.generation = job->generation;
  w->summary.started_at = job->started_at;
  if (!req->wait) /* answer now: started, or already running */
    return rg_engine_finish_write(&w->base, out);
  w->base.done = done;
  w->base.ctx = ctx;
  if (job->waiters_tail)
    job->waiters_tail->base.head.next = &w->base.head;
  else
    job->waiters = w;
  job->waiters_tail = w;
  *pending = &w->base;
  return RG_OK;
}

static void write_summary(rg_wr_t *wr, const rg__recompute_summary_t *s) {
  rg_wr_map(wr, 13);
  rg_wr_str(wr, "job"), rg_wr_uint(wr, s->job);
  rg_wr_str(wr, "generation"), rg_wr_uint(wr, s->generation);
  rg_wr_str(wr, "ok"), rg_wr_bool(wr, s->rc == 0);
  rg_wr_str(wr, "error"), s->rc ? rg_wr_str(wr, s->error) : rg_wr_nil(wr);
  rg_wr_str(wr, "started_at"), rg_wr_int(wr, s->started_at);
  rg_wr_str(wr, "finished_at"), rg_wr_int(wr, s->finished_at);
  rg_wr_str(wr, "actors"), rg_wr_uint(wr, s->vertices);
  rg_wr_str(wr, "edges"), rg_wr_uint(wr, s->edges);
  rg_wr_str(wr, "clusters"), rg_wr_uint(wr, s->clusters);
  rg_wr_str(wr, "total_ms"), rg_wr_double(wr, s->total_ms);
  rg_wr_str(wr, "load_ms"), rg_wr_double(wr, s->load_ms);
  rg_wr_str(wr, "model"), rg__model_write(wr, &s->model, s->model_note, s->rc == 0);
  rg_wr_str(wr, "phases_ms");
  rg_wr_map(wr, 10);
  rg_wr_str(wr, "graph"), rg_wr_double(wr, s->timing.graph_ms);
  rg_wr_str(wr, "propagate"), rg_wr_double(wr, s->timing.propagate_ms);
  rg_wr_str(wr, "calibrate"), rg_wr_double(wr, s->timing.calibrate_ms);
  rg_wr_str(wr, "communities"), rg_wr_double(wr, s->timing.communities_ms);
  rg_wr_str(wr, "anomaly"), rg_wr_double(wr, s->timing.anomaly_ms);
  rg_wr_str(wr, "publish"), rg_wr_double(wr, s->publish_ms);
  rg_wr_str(wr, "folds"), rg_wr_double(wr, s->model.folds_ms);
  rg_wr_str(wr, "features"), rg_wr_double(wr, s->model.features_ms);
  rg_wr_str(wr, "train"), rg_wr_double(wr, s->model.train_ms);
  rg_wr_str(wr, "explain"), rg_wr_double(wr, s->model.explain_ms);
}

static void waiter_reply(const rg_write_t *base, rg_wr_t *wr) {
  const waiter_t *w = (const waiter_t *)base;
  rg_wr_reply(wr, base->has_id, base->id, 3);
  rg_wr_str(wr, "job"), rg_wr_uint(wr, w->summary.job);
  rg_wr_str(wr, "state");
  rg_wr_str(wr, w->finished ? "done" : w->started ? "started" : "running");
  rg_wr_str(wr, "result");
  if (w->finished)
    write_summary(wr, &w->summary);
  else
    rg_wr_nil(wr);
}

/* The generation's verdict thresholds: per level where it stands, the estimated rates and
 * whether it was derived from the budget; a level not derived shows the config's value. */
static void write_thresholds(rg_wr_t *wr, const rg_thresholds_t *th, const rg_config_t *cfg) {
  const double fixed[RG_VERDICT_LEVELS] = {cfg->check_tempfail, cfg->check_quarantine,
                                           cfg->check_reject};
  const double budget[RG_VERDICT_LEVELS] = {cfg->check_tempfail_fpr, cfg->check_quarantine_fpr,
                                            cfg->check_reject_fpr};
  double at[RG_VERDICT_LEVELS];
  rg_thresholds_effective(th, fixed, at);
  rg_wr_map(wr, RG_VERDICT_LEVELS + 2);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++) {
    rg_wr_str(wr, rg_level_name(l));
    rg_wr_map(wr, 6);
    rg_wr_str(wr, "at"), rg_wr_double(wr, at[l]);
    rg_wr_str(wr, "derived"), rg_wr_bool(wr, th->derived[l]);
    rg_wr_str(wr, "fpr_budget"), rg_wr_double(wr, budget[l]);
    rg_wr_str(wr, "estimated_fpr"), rg_wr_double(wr, th->fpr[l]);
    rg_wr_str(wr, "estimated_tpr"), rg_wr_double(wr, th->tpr[l]);
    rg_wr_str(wr, "needs_held_out_good"),
        rg_wr_uint(wr, rg_calibrate_needed(budget[l], cfg->check_min_holdout));
  }
  rg_wr_str(wr, "held_out_good"), rg_wr_uint(wr, th->held_out_good);
  rg_wr_str(wr, "held_out_bad"), rg_wr_uint(wr, th->held_out_bad);
}

void rg__recompute_status(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr) {
  rg_txn_t *t;
  rg_generation_t g;
  int grc = rg_store_read_begin(e->store, &t);
  if (grc == RG_OK) {
    grc = rg_store_get_generation(t, &g);
    rg_store_end(t);
  }
  rg_wr_reply(wr, req->has_id, req->id, 6);
  rg_wr_str(wr, "model"), rg__model_status(e, wr);
  rg_wr_str(wr, "generation");
  if (grc == RG_OK) {
    rg_wr_map(wr, 9);
    rg_wr_str(wr, "generation"), rg_wr_uint(wr, g.generation);
    rg_wr_str(wr, "computed_at"), rg_wr_int(wr, g.computed_at);
    rg_wr_str(wr, "duration_ms"), rg_wr_uint(wr, g.duration_ms);
    rg_wr_str(wr, "actors"), rg_wr_uint(wr, g.vertices);
    rg_wr_str(wr, "edges"), rg_wr_uint(wr, g.edges);
    rg_wr_str(wr, "clusters"), rg_wr_uint(wr, g.clusters);
    rg_wr_str(wr, "bad_seeds"), rg_wr_uint(wr, g.bad_seeds);
    rg_wr_str(wr, "good_seeds"), rg_wr_uint(wr, g.good_seeds);
    rg_wr_str(wr, "thresholds"), write_thresholds(wr, &g.thresholds, &e->cfg);
  } else {
    rg_wr_nil(wr);
  }
  rg_wr_str(wr, "running");
  if (e->running) {
    rg_wr_map(wr, 3);
    rg_wr_str(wr, "job"), rg_wr_uint(wr, e->running->job);
    rg_wr_str(wr, "generation"), rg_wr_uint(wr, e->running->generation);
    rg_wr_str(wr, "started_at"), rg_wr_int(wr, e->running->started_at);
  } else {
    rg_wr_nil(wr);
  }
  rg_wr_str(wr, "last");
  if (e->last.job)
    write_summary(wr, &e->last);
  else
    rg_wr_nil(wr);
  rg_wr_str(wr, "completed"), rg_wr_uint(wr, e->recomputes_ok);
  rg_wr_str(wr, "failed"), rg_wr_uint(wr, e->recomputes_failed);
}
