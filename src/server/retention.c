/* retention.c — the retention sweep: every retention.interval a pass walks the store and
 * deletes the edges not seen for retention.edges, retracts the labels older than
 * retention.labels and deletes the actors left with neither (rg_store_expire_slice). A pass
 * is a chain of slices, each a write of its own (a solo transaction on the writer thread,
 * at most retention.slice_rows deletions), queued only after the previous one committed and
 * a pause: client writes queued meanwhile commit between two slices, so ingest and lookup
 * latency stay flat while a pass runs. The cut-offs are fixed when a pass starts, measured
 * from the reference time of the recomputation (rg__reference_time: the clock, or the newest
 * edge of a replayed archive). Loop thread, except apply_slice (the writer thread). */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"

#define VISITS_PER_DELETE 10 /* rows a slice looks at per row it may delete */

/* The one slice in flight: what the writer starts from and what it reports. */
typedef struct {
  rg_writer_req_t head;
  struct rg__retention *r;
  rg_expire_cursor_t start, next; /* next, n, apply_us: the writer's, redone on a retry */
  rg_expire_counts_t n;
  uint64_t apply_us;
} slice_t;

struct rg__retention {
  rg_engine_t *engine;
  uv_timer_t pass_timer, pause_timer;
  bool running;   /* a pass is under way */
  bool in_flight; /* its slice is queued or being applied */
  bool stopped;
  rg_expire_opts_t opts; /* fixed for a pass; the writer reads it while a slice is in flight */
  rg_expire_cursor_t cursor;
  rg_expire_counts_t pass; /* this pass so far */
  uint64_t pass_started_us;
  int64_t pass_started_at;
  struct {
    int64_t finished_at;
    double ms;
    rg_expire_counts_t n;
    int rc;
  } last;
  slice_t slice;
};

/* ---- slices ----------------------------------------------------------------------------- */

/* Writer thread: one bounded slice, from the cursor the loop handed over. */
static int apply_slice(rg_txn_t *t, rg_writer_req_t *head) {
  slice_t *s = (slice_t *)head;
  uint64_t t0 = rg_clock_mono_us();
  s->next = s->start;
  memset(&s->n, 0, sizeof s->n);
  int rc = rg_store_expire_slice(t, &s->r->opts, &s->next, &s->n);
  s->apply_us = rg_clock_mono_us() - t0;
  return rc;
}

static void submit_slice(struct rg__retention *r);

static void end_pass(struct rg__retention *r, int rc) {
  rg_metrics_t *m = &r->engine->metrics;
  r->running = false;
  r->last.finished_at = rg_clock_now();
  r->last.ms = (double)(rg_clock_mono_us() - r->pass_started_us) / 1000;
  r->last.n = r->pass;
  r->last.rc = rc;
  if (rc == RG_ESHUTTING_DOWN) {
    rg_log_info("retention: pass stopped by the shutdown; the next start begins a new one");
    return;
  }
  if (rc) {
    rg_log_error("retention: pass stopped: %s", rg_strerror(rc));
    return;
  }
  atomic_fetch_add(&m->retention_passes, 1);
  rg_log_info(
      "retention: pass done in %.0f ms: %llu edges, %llu labels, %llu actors expired "
      "(%llu rows looked at)",
      r->last.ms, (unsigned long long)r->pass.edges, (unsigned long long)r->pass.labels,
      (unsigned long long)r->pass.actors, (unsigned long long)r->pass.visited);
}

/* Loop thread: a slice committed (or failed). The next one is queued after the pause. */
static void on_slice_done(rg_writer_req_t *head) {
  slice_t *s = (slice_t *)head;
  struct rg__retention *r = s->r;
  rg_metrics_t *m = &r->engine->metrics;
  r->in_flight = false;
  if (head->result) {
    end_pass(r, head->result);
    return;
  }
  r->cursor = s->next;
  r->pass.edges += s->n.edges;
  r->pass.labels += s->n.labels;
  r->pass.actors += s->n.actors;
  r->pass.visited += s->n.visited;
  atomic_fetch_add(&m->expired_edges, s->n.edges);
  atomic_fetch_add(&m->expired_labels, s->n.labels);
  atomic_fetch_add(&m->expired_actors, s->n.actors);
  atomic_fetch_add(&m->retention_slices, 1);
  rg_hist_add(&m->retention_slice_latency, s->apply_us);
  if (r->cursor.phase == RG_EXPIRE_DONE) {
    end_pass(r, RG_OK);
    return;
  }
  if (r->stopped || r->engine->stopping) {
    end_pass(r, RG_ESHUTTING_DOWN);
    return;
  }
  submit_slice(r);
}

static void queue_now(struct rg__retention *r) {
  r->slice.head = (rg_writer_req_t){
      .apply = apply_slice, .done = on_slice_done, .name = "retention slice", .solo = true};
  r->slice.r = r;
  r->slice.start = r->cursor;
  r->in_flight = true;
  rg_writer_submit(r->engine->writer, &r->slice.head);
}

static void on_pause(uv_timer_t *h) {
  struct rg__retention *r = h->data;
  if (r->stopped || r->engine->stopping) {
    end_pass(r, RG_ESHUTTING_DOWN);
    return;
  }
  queue_now(r);
}

/* Queues the next slice, after retention.slice_pause_ms when set. */
static void submit_slice(struct rg__retention *r) {
  uint64_t pause = r->engine->cfg.retention_slice_pause_ms;
  if (pause)
    uv_timer_start(&r->pause_timer, on_pause, pause, 0);
  else
    queue_now(r);
}

/* ---- passes ----------------------------------------------------------------------------- */

static void start_pass(struct rg__retention *r) {
  rg_engine_t *e = r->engine;
  if (r->running || r->stopped || e->stopping) return;
  int64_t now = rg_clock_now(), ref = rg__reference_time(e, now);
  const rg_config_t *c = &e->cfg;
  r->opts = (rg_expire_opts_t){.edges = c->retention_edges_s > 0,
                               .edges_before = ref - (int64_t)c->retention_edges_s,
                               .labels = c->retention_labels_s > 0,
                               .labels_before = ref - (int64_t)c->retention_labels_s,
                               .now = now,
                               .max_deletes = c->retention_slice_rows,
                               .max_visits = c->retention_slice_rows * VISITS_PER_DELETE};
  memset(&r->cursor, 0, sizeof r->cursor);
  memset(&r->pass, 0, sizeof r->pass);
  r->running = true;
  r->pass_started_at = now;
  r->pass_started_us = rg_clock_mono_us();
  rg_log_debug("retention: pass started (edges before %lld, labels before %lld)",
               (long long)r->opts.edges_before, (long long)r->opts.labels_before);
  queue_now(r);
}

static void on_pass_timer(uv_timer_t *h) {
  start_pass(h->data);
}

int rg__retention_init(rg_engine_t *e) {
  struct rg__retention *r = calloc(1, sizeof *r);
  if (!r) return RG_ENOMEM;
  r->engine = e;
  if (uv_timer_init(e->loop, &r->pass_timer)) {
    free(r);
    return RG_EINTERNAL;
  }
  if (uv_timer_init(e->loop, &r->pause_timer)) {
    uv_close((uv_handle_t *)&r->pass_timer, NULL);
    uv_run(e->loop, UV_RUN_NOWAIT);
    free(r);
    return RG_EINTERNAL;
  }
  r->pass_timer.data = r->pause_timer.data = r;
  e->retention = r;
  uint64_t ms = e->cfg.retention_interval_s * 1000;
  if (e->cfg.retention_edges_s || e->cfg.retention_labels_s)
    uv_timer_start(&r->pass_timer, on_pass_timer, ms, ms);
  return RG_OK;
}

void rg__retention_stop(rg_engine_t *e) {
  struct rg__retention *r = e->retention;
  if (!r || r->stopped) return;
  r->stopped = true;
  uv_timer_stop(&r->pass_timer);
  uv_timer_stop(&r->pause_timer);
  if (r->running && !r->in_flight) end_pass(r, RG_ESHUTTING_DOWN); /* waiting on the pause */
  uv_close((uv_handle_t *)&r->pass_timer, NULL);
  uv_close((uv_handle_t *)&r->pause_timer, NULL);
}

void rg__retention_free(rg_engine_t *e) {
  free(e->retention);
  e->retention = NULL;
}

/* ---- stats ------------------------------------------------------------------------------ */

static void write_counts(rg_wr_t *wr, const rg_expire_counts_t *n) {
  rg_wr_map(wr, 4);
  rg_wr_str(wr, "edges"), rg_wr_uint(wr, n->edges);
  rg_wr_str(wr, "labels"), rg_wr_uint(wr, n->labels);
  rg_wr_str(wr, "actors"), rg_wr_uint(wr, n->actors);
  rg_wr_str(wr, "visited"), rg_wr_uint(wr, n->visited);
}

void rg__retention_stats(rg_engine_t *e, rg_wr_t *wr) {
  const struct rg__retention *r = e->retention;
  const rg_metrics_t *m = &e->metrics;
  rg_wr_map(wr, 10);
  rg_wr_str(wr, "edges_s"), rg_wr_uint(wr, e->cfg.retention_edges_s);
  rg_wr_str(wr, "labels_s"), rg_wr_uint(wr, e->cfg.retention_labels_s);
  rg_wr_str(wr, "expired");
  rg_wr_map(wr, 3);
  rg_wr_str(wr, "edges"), rg_wr_uint(wr, atomic_load(&m->expired_edges));
  rg_wr_str(wr, "labels"), rg_wr_uint(wr, atomic_load(&m->expired_labels));
  rg_wr_str(wr, "actors"), rg_wr_uint(wr, atomic_load(&m->expired_actors));
  rg_wr_str(wr, "forgotten"), rg_wr_uint(wr, atomic_load(&m->forgotten_actors));
  rg_wr_str(wr, "passes"), rg_wr_uint(wr, atomic_load(&m->retention_passes));
  rg_wr_str(wr, "slices"), rg_wr_uint(wr, atomic_load(&m->retention_slices));
  rg_wr_str(wr, "slice_latency");
  rg_wr_map(wr, 3);
  rg_wr_str(wr, "count"), rg_wr_uint(wr, atomic_load(&m->retention_slice_latency.count));
  rg_wr_str(wr, "p99_us"), rg_wr_uint(wr, rg_hist_quantile(&m->retention_slice_latency, 0.99));
  rg_wr_str(wr, "max_us"), rg_wr_uint(wr, atomic_load(&m->retention_slice_latency.max_us));
  rg_wr_str(wr, "running"), rg_wr_bool(wr, r && r->running);
  rg_wr_str(wr, "pass");
  if (r && r->running)
    write_counts(wr, &r->pass);
  else
    rg_wr_nil(wr);
  rg_wr_str(wr, "last");
  if (r && r->last.finished_at) {
    rg_wr_map(wr, 4);
    rg_wr_str(wr, "finished_at"), rg_wr_int(wr, r->last.finished_at);
    rg_wr_str(wr, "ms"), rg_wr_double(wr, r->last.ms);
    rg_wr_str(wr, "ok"), rg_wr_bool(wr, r->last.rc == 0);
    rg_wr_str(wr, "expired"), write_counts(wr, &r->last.n);
  } else {
    rg_wr_nil(wr);
  }
}
