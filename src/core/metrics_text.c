/* metrics_text.c — renders rg_metrics_t and a store view in the Prometheus text format:
 * repgraph_ prefix, base units (seconds, bytes), counters ending in _total, histograms as
 * cumulative _bucket{le=…} lines with _sum and _count. Pure; any thread. */
#include "repgraph/metrics_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "repgraph/actor.h"
#include "repgraph/err.h"
#include "repgraph/proto.h"
#include "repgraph/vocab.h"

/* 2^4, 2^6, … 2^30 µs: 16 µs to about 18 minutes, every fourth power of two. */
const uint64_t rg_metrics_text_bounds_us[RG_METRICS_TEXT_BOUNDS] = {
    UINT64_C(1) << 4,  UINT64_C(1) << 6,  UINT64_C(1) << 8,  UINT64_C(1) << 10, UINT64_C(1) << 12,
    UINT64_C(1) << 14, UINT64_C(1) << 16, UINT64_C(1) << 18, UINT64_C(1) << 20, UINT64_C(1) << 22,
    UINT64_C(1) << 24, UINT64_C(1) << 26, UINT64_C(1) << 28, UINT64_C(1) << 30};

typedef struct {
  rg_buf_t *out;
  int rc;
} r_t;

static void emit(r_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(r_t *r, const char *fmt, ...) {
  if (r->rc) return;
  va_list ap;
  va_start(ap, fmt);
  char small[512];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    r->rc = RG_EINTERNAL;
    return;
  }
  if ((size_t)n < sizeof small) {
    r->rc = rg_buf_append(r->out, small, (size_t)n);
    return;
  }
  if ((r->rc = rg_buf_reserve(r->out, (size_t)n + 1))) return;
  va_start(ap, fmt);
  vsnprintf((char *)r->out->data + r->out->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  r->out->len += (size_t)n;
}

static void family(r_t *r, const char *name, const char *type, const char *help) {
  emit(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the format wants (backslash, double quote, newline). */
static const char *esc(char *buf, size_t cap, const char *v) {
  size_t n = 0;
  for (; *v && n + 3 < cap; v++) {
    if (*v == '\\' || *v == '"' || *v == '\n') buf[n++] = '\\';
    buf[n++] = *v == '\n' ? 'n' : *v;
  }
  buf[n] = '\0';
  return buf;
}

/* name{k="v"} value, or name value when k is NULL. */
static void sample(r_t *r, const char *name, const char *k, const char *v, uint64_t value) {
  char e[128];
  if (k)
    emit(r, "%s{%s=\"%s\"} %llu\n", name, k, esc(e, sizeof e, v), (unsigned long long)value);
  else
    emit(r, "%s %llu\n", name, (unsigned long long)value);
}

static void sample2(r_t *r, const char *name, const char *k1, const char *v1, const char *k2,
                    const char *v2, uint64_t value) {
  char e1[128], e2[128];
  emit(r, "%s{%s=\"%s\",%s=\"%s\"} %llu\n", name, k1, esc(e1, sizeof e1, v1), k2,
       esc(e2, sizeof e2, v2), (unsigned long long)value);
}

/* A float value: whole numbers in full (timestamps, bytes), others to 12 digits. */
static const char *num(char *buf, size_t cap, double x) {
  if (x == (double)(int64_t)x && x > -9e15 && x < 9e15)
    snprintf(buf, cap, "%lld", (long long)x);
  else
    snprintf(buf, cap, "%.12g", x);
  return buf;
}

static void sample_f(r_t *r, const char *name, const char *k, const char *v, double value) {
  char e[128], n[40];
  if (k)
    emit(r, "%s{%s=\"%s\"} %s\n", name, k, esc(e, sizeof e, v), num(n, sizeof n, value));
  else
    emit(r, "%s %s\n", name, num(n, sizeof n, value));
}

static void counter(r_t *r, const char *name, const char *help, const atomic_uint_fast64_t *c) {
  family(r, name, "counter", help);
  sample(r, name, NULL, NULL, atomic_load(c));
}

static void gauge(r_t *r, const char *name, const char *help, double value) {
  family(r, name, "gauge", help);
  sample_f(r, name, NULL, NULL, value);
}

/* The _bucket, _sum and _count lines of one histogram (label k="v", or none). The count is
 * the buckets' own sum, so +Inf and _count agree even while other threads add samples. A
 * latency histogram (seconds) has the bounds rg_metrics_text_bounds_us; a count histogram
 * (seconds false: samples are plain numbers) has 1, 2, 4, … COUNT_BOUND_MAX. */
#define COUNT_BOUND_MAX_LOG2 10
static void hist_of(r_t *r, const char *name, const char *k, const char *v, const rg_hist_t *h,
                    bool seconds) {
  char e[128], lead[160] = "";
  if (k) snprintf(lead, sizeof lead, "%s=\"%s\",", k, esc(e, sizeof e, v));
  uint64_t cum = 0;
  unsigned next = 0;
  for (unsigned b = 0; b < RG_HIST_BUCKETS; b++) {
    cum += atomic_load(&h->buckets[b]);
    uint64_t edge = UINT64_C(1) << b;
    bool bound = seconds ? next < RG_METRICS_TEXT_BOUNDS && edge == rg_metrics_text_bounds_us[next]
                         : b <= COUNT_BOUND_MAX_LOG2;
    if (bound) {
      char n[40];
      emit(r, "%s_bucket{%sle=\"%s\"} %llu\n", name, lead,
           num(n, sizeof n, seconds ? (double)edge / 1e6 : (double)edge), (unsigned long long)cum);
      next++;
    }
  }
  emit(r, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, lead, (unsigned long long)cum);
  const char *brace = k ? "{" : "", *close = k ? "}" : "";
  if (k) lead[strlen(lead) - 1] = '\0'; /* no trailing comma */
  char n[40];
  double sum = (double)atomic_load(&h->sum_us);
  emit(r, "%s_sum%s%s%s %s\n", name, brace, lead, close,
       seconds ? (snprintf(n, sizeof n, "%.6f", sum / 1e6), n) : num(n, sizeof n, sum));
  emit(r, "%s_count%s%s%s %llu\n", name, brace, lead, close, (unsigned long long)cum);
}

static void hist(r_t *r, const char *name, const char *k, const char *v, const rg_hist_t *h) {
  hist_of(r, name, k, v, h, true);
}

static void render_requests(r_t *r, const rg_metrics_t *m) {
  family(r, "repgraph_requests_total", "counter", "Requests decoded, by op.");
  for (int op = 0; op < RG_OP_COUNT; op++)
    sample(r, "repgraph_requests_total", "op", rg_op_name(op), atomic_load(&m->requests[op]));
  family(r, "repgraph_request_duration_seconds", "histogram",
         "Time from a request's decoding to its reply being queued (writes: after commit), by op.");
  for (int op = 0; op < RG_OP_COUNT; op++)
    hist(r, "repgraph_request_duration_seconds", "op", rg_op_name(op), &m->latency[op]);
  family(r, "repgraph_errors_total", "counter", "Error replies, by code.");
  for (int i = 1; i < RG__ERR_END - RG__ERR_FIRST && i < RG_METRICS_SLOTS; i++)
    sample(r, "repgraph_errors_total", "code", rg_err_name(RG__ERR_FIRST + i),
           atomic_load(&m->errors[i]));
}

static void render_connections(r_t *r, const rg_metrics_t *m) {
  family(r, "repgraph_connections", "gauge", "Client connections open now (msgpack listeners).");
  sample(r, "repgraph_connections", NULL, NULL, atomic_load(&m->conns_current));
  counter(r, "repgraph_connections_total", "Client connections accepted.", &m->conns_total);
  counter(r, "repgraph_connections_refused_total", "Connections refused at limits.max_connections.",
          &m->conns_refused);
  counter(r, "repgraph_connections_dropped_total", "Connections ended by a limit or a timeout.",
          &m->conns_dropped);
  counter(r, "repgraph_connections_evicted_total",
          "Idle connections closed to make room at the limit.", &m->conns_evicted);
  counter(r, "repgraph_frames_offloaded_total",
          "Large frames decoded (an ingest prepared) on a pool thread, not the loop.",
          &m->frames_offloaded);
  counter(r, "repgraph_auth_failures_total", "Failed or missing authentications.",
          &m->auth_failures);
  counter(r, "repgraph_tls_failures_total",
          "TLS connections closed by a failed handshake or record.", &m->tls_failures);
}

static void render_ingest(r_t *r, const rg_metrics_t *m) {
  static const char *const items[RG_METRICS_ITEMS] = {"edges", "observations", "labels", "actors"};
  counter(r, "repgraph_ingested_observations_total", "Observations committed.",
          &m->ingested_observations);
  counter(r, "repgraph_ingested_edges_total",
          "Edge updates committed (given directly or expanded from observations).",
          &m->ingested_edges);
  counter(r, "repgraph_ingested_labels_total", "Labels committed.", &m->ingested_labels);
  counter(r, "repgraph_ingest_ts_clamped_total",
          "Item times clamped to the server clock (ingest.max_future_skew).", &m->ts_clamped);
  family(r, "repgraph_ingest_rejects_total", "counter",
         "Items refused inside an accepted request, by item and reason (error code).");
  for (unsigned it = 0; it < RG_METRICS_ITEMS; it++)
    for (int i = 1; i < RG__ERR_END - RG__ERR_FIRST && i < RG_METRICS_SLOTS; i++) {
      uint64_t n = atomic_load(&m->rejects[it][i]);
      if (n)
        sample2(r, "repgraph_ingest_rejects_total", "item", items[it], "reason",
                rg_err_name(RG__ERR_FIRST + i), n);
    }
}

static void render_writer(r_t *r, const rg_metrics_t *m) {
  family(r, "repgraph_writer_queue_depth", "gauge", "Writes queued for the writer thread.");
  sample(r, "repgraph_writer_queue_depth", NULL, NULL, atomic_load(&m->write_queue_depth));
  counter(r, "repgraph_writer_commits_total", "Write transactions committed (group commits).",
          &m->commits);
  counter(r, "repgraph_writer_writes_total",
          "Writes committed; divided by commits, the mean commit size.", &m->committed_writes);
  family(r, "repgraph_writer_commit_duration_seconds", "histogram",
         "Time of one group commit: applying its writes and committing.");
  hist(r, "repgraph_writer_commit_duration_seconds", NULL, NULL, &m->commit_latency);
  family(r, "repgraph_writer_commit_size", "histogram",
         "Writes grouped into one commit (writer.commit_max_requests at most).");
  hist_of(r, "repgraph_writer_commit_size", NULL, NULL, &m->commit_size, false);
  counter(r, "repgraph_wal_appended_total",
          "Ingests made durable in the write-ahead log (wal.enabled).", &m->wal_appended);
  counter(r, "repgraph_wal_merges_total", "Merges of the write-ahead log into the store.",
          &m->wal_merges);
  counter(r, "repgraph_wal_merged_edges_total",
          "Edge updates merged from the write-ahead log into the store.", &m->wal_merged_edges);
  family(r, "repgraph_wal_unmerged_edges", "gauge",
         "Edge updates logged but not merged into the store yet (reads do not see them).");
  sample(r, "repgraph_wal_unmerged_edges", NULL, NULL, atomic_load(&m->wal_unmerged_edges));
}

static void render_store(r_t *r, const rg_metrics_view_t *v) {
  const rg_store_info_t *in = &v->info;
  gauge(r, "repgraph_store_map_size_bytes", "Current LMDB map size.", (double)in->map_size);
  gauge(r, "repgraph_store_map_max_bytes", "Largest map size (store.map_max).",
        (double)in->map_max);
  gauge(r, "repgraph_store_used_bytes", "Bytes of the map in use (pages x page size).",
        (double)in->used_bytes);
  family(r, "repgraph_store_map_growths_total", "counter", "Times the map grew since start.");
  sample(r, "repgraph_store_map_growths_total", NULL, NULL, in->map_grows);
  if (v->store_ok) {
    family(r, "repgraph_actors", "gauge", "Actors in the store, by type.");
    for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX; ty++)
      sample(r, "repgraph_actors", "type", rg_actor_type_name(ty), v->counts.actors[ty]);
    family(r, "repgraph_edges", "gauge", "Edges in the store, by kind.");
    for (int k = 0; k < RG_EDGE_KIND_COUNT; k++)
      sample(r, "repgraph_edges", "kind", rg_edge_kind_name(k), v->counts.edges[k]);
  }
  if (v->labels_ok) {
    family(r, "repgraph_labels", "gauge", "Labels in the store, by source and verdict.");
    for (int s = 1; s < RG_METRICS_SOURCES; s++)
      for (int vd = 1; vd <= 2; vd++)
        if (rg_label_source_name(s))
          sample2(r, "repgraph_labels", "source", rg_label_source_name(s), "verdict",
                  rg_verdict_name(vd), v->labels[s][vd]);
  }
}

static void render_recompute(r_t *r, const rg_metrics_t *m, const rg_metrics_view_t *v) {
  family(r, "repgraph_recompute_runs_total", "counter", "Recomputations finished, by result.");
  sample(r, "repgraph_recompute_runs_total", "result", "ok", atomic_load(&m->recompute_ok));
  sample(r, "repgraph_recompute_runs_total", "result", "failed", atomic_load(&m->recompute_failed));
  gauge(r, "repgraph_recompute_running", "1 while a recomputation runs.",
        (double)atomic_load(&m->recompute_running));
  family(r, "repgraph_recompute_duration_seconds", "histogram",
         "Time of whole recomputations (snapshot to published generation).");
  hist(r, "repgraph_recompute_duration_seconds", NULL, NULL, &m->recompute_duration);
  gauge(r, "repgraph_recompute_last_duration_seconds", "Time of the last recomputation.",
        (double)atomic_load(&m->recompute_last_duration_us) / 1e6);
  family(r, "repgraph_recompute_phase_seconds", "gauge",
         "Time of each phase of the last recomputation.");
  for (int p = 0; p < RG_RECOMPUTE_PHASES; p++)
    sample_f(r, "repgraph_recompute_phase_seconds", "phase", rg_recompute_phase_name(p),
             (double)atomic_load(&m->recompute_phase_us[p]) / 1e6);
  uint64_t ok_at = atomic_load(&m->recompute_last_success_at);
  if (ok_at)
    gauge(r, "repgraph_recompute_last_success_timestamp_seconds",
          "When the last successful recomputation finished (this process).", (double)ok_at);
  if (!v->has_generation) return;
  const rg_generation_t *g = &v->generation;
  gauge(r, "repgraph_generation", "The current generation (scores every lookup reads).",
        (double)g->generation);
  gauge(r, "repgraph_generation_timestamp_seconds", "When the current generation was computed.",
        (double)g->computed_at);
  gauge(r, "repgraph_generation_age_seconds", "Age of the current generation.",
        (double)(v->now > g->computed_at ? v->now - g->computed_at : 0));
  gauge(r, "repgraph_generation_actors", "Actors scored in the current generation.",
        (double)g->vertices);
  gauge(r, "repgraph_generation_edges", "Edges of the graph the current generation scored.",
        (double)g->edges);
  gauge(r, "repgraph_generation_clusters", "Clusters of the current generation.",
        (double)g->clusters);
  family(r, "repgraph_generation_seeds", "gauge", "Labelled seeds of the current generation.");
  sample(r, "repgraph_generation_seeds", "verdict", "bad", g->bad_seeds);
  sample(r, "repgraph_generation_seeds", "verdict", "good", g->good_seeds);
  family(r, "repgraph_check_threshold", "gauge",
         "Combined score from which check gives each verdict, in the current generation.");
  for (int l = 0; l < RG_VERDICT_LEVELS; l++)
    if (rg_level_name(l))
      sample_f(r, "repgraph_check_threshold", "level", rg_level_name(l), g->thresholds.at[l]);
  family(r, "repgraph_check_threshold_derived", "gauge",
         "1 where the threshold was derived from its false-positive budget, 0 where fixed.");
  for (int l = 0; l < RG_VERDICT_LEVELS; l++)
    if (rg_level_name(l))
      sample(r, "repgraph_check_threshold_derived", "level", rg_level_name(l),
             g->thresholds.derived[l] ? 1 : 0);
}

static void render_check(r_t *r, const rg_metrics_t *m) {
  static const char *const verdicts[] = {"accept", "tempfail", "quarantine", "reject"};
  family(r, "repgraph_check_verdicts_total", "counter",
         "check verdicts (before check.mode), by verdict.");
  for (int i = 0; i < 4; i++)
    sample(r, "repgraph_check_verdicts_total", "verdict", verdicts[i],
           atomic_load(&m->check_verdicts[i]));
  family(r, "repgraph_check_decided_total", "counter", "check verdicts by the role that decided.");
  for (int i = 0; i < RG_CHECK_DECIDERS; i++)
    sample(r, "repgraph_check_decided_total", "by", rg_check_decider_names[i],
           atomic_load(&m->check_decided_by[i]));
  counter(r, "repgraph_check_allowlisted_total", "check answers decided by an allowlist label.",
          &m->check_allowlisted);
}

static void render_policy(r_t *r, const rg_metrics_t *m) {
  const atomic_uint_fast64_t *p = m->policy;
  counter(r, "repgraph_policy_requests_total", "Postfix policy requests answered.",
          &p[RG_POLICY_REQUESTS]);
  static const struct {
    int c;
    const char *v;
  } actions[] = {{RG_POLICY_DUNNO, "dunno"},
                 {RG_POLICY_PREPEND, "prepend"},
                 {RG_POLICY_HOLD, "hold"},
                 {RG_POLICY_DEFER, "defer"},
                 {RG_POLICY_REJECT, "reject"}},
    fail_open[] = {{RG_POLICY_FAIL_OPEN_ERROR, "error"},
                   {RG_POLICY_FAIL_OPEN_STATE, "state"},
                   {RG_POLICY_FAIL_OPEN_BUDGET, "budget"}},
    obs[] = {{RG_POLICY_OBS_QUEUED, "queued"},
             {RG_POLICY_OBS_RECORDED, "recorded"},
             {RG_POLICY_OBS_FAILED, "failed"},
             {RG_POLICY_OBS_DROPPED, "dropped"},
             {RG_POLICY_OBS_SKIPPED, "skipped"}};
  family(r, "repgraph_policy_actions_total", "counter", "Policy answers, by action.");
  for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
    sample(r, "repgraph_policy_actions_total", "action", actions[i].v,
           atomic_load(&p[actions[i].c]));
  family(r, "repgraph_policy_fail_open_total", "counter",
         "Policy answers that failed open (DUNNO), by reason.");
  for (size_t i = 0; i < sizeof fail_open / sizeof fail_open[0]; i++)
    sample(r, "repgraph_policy_fail_open_total", "reason", fail_open[i].v,
           atomic_load(&p[fail_open[i].c]));
  counter(r, "repgraph_policy_unchecked_total", "RCPT requests without a usable sender or IP.",
          &p[RG_POLICY_UNCHECKED]);
  family(r, "repgraph_policy_observations_total", "counter",
         "Observations from the policy listener, by what became of them.");
  for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
    sample(r, "repgraph_policy_observations_total", "result", obs[i].v, atomic_load(&p[obs[i].c]));
  counter(r, "repgraph_policy_protocol_errors_total", "Policy connections closed for bad input.",
          &p[RG_POLICY_PROTOCOL_ERRORS]);
  counter(r, "repgraph_policy_timeouts_total", "Policy connections closed mid-request.",
          &p[RG_POLICY_TIMEOUTS]);
  family(r, "repgraph_policy_connections", "gauge", "Policy connections open now.");
  sample(r, "repgraph_policy_connections", NULL, NULL, atomic_load(&p[RG_POLICY_CONNS_CURRENT]));
  counter(r, "repgraph_policy_connections_total", "Policy connections accepted.",
          &p[RG_POLICY_CONNS_TOTAL]);
  counter(r, "repgraph_policy_connections_refused_total",
          "Policy connections refused at policy.max_connections.", &p[RG_POLICY_CONNS_REFUSED]);
  family(r, "repgraph_policy_request_duration_seconds", "histogram",
         "Time from a policy request's last byte to its answer being queued.");
  hist(r, "repgraph_policy_request_duration_seconds", NULL, NULL, &m->policy_latency);
}

static void render_retention(r_t *r, const rg_metrics_t *m) {
  family(r, "repgraph_expired_total", "counter",
         "Removed by the retention sweep since start, by what (edges, labels, actors).");
  sample(r, "repgraph_expired_total", "what", "edges", atomic_load(&m->expired_edges));
  sample(r, "repgraph_expired_total", "what", "labels", atomic_load(&m->expired_labels));
  sample(r, "repgraph_expired_total", "what", "actors", atomic_load(&m->expired_actors));
  counter(r, "repgraph_forgotten_actors_total", "Actors removed by forget since start.",
          &m->forgotten_actors);
  counter(r, "repgraph_retention_passes_total", "Retention sweep passes completed.",
          &m->retention_passes);
  counter(r, "repgraph_retention_slices_total", "Retention sweep slices committed.",
          &m->retention_slices);
  family(r, "repgraph_retention_slice_duration_seconds", "histogram",
         "One retention slice's transaction.");
  hist(r, "repgraph_retention_slice_duration_seconds", NULL, NULL, &m->retention_slice_latency);
  counter(r, "repgraph_backups_total", "Backups completed.", &m->backups_ok);
  counter(r, "repgraph_backup_failures_total", "Backups that failed.", &m->backups_failed);
}

/* Cluster mode's role, position in the log and generation (nothing without cluster mode). */
static void render_cluster(r_t *r, const rg_metrics_t *m) {
  if (!atomic_load(&m->cluster_enabled)) return;
  gauge(r, "repgraph_cluster_leader", "1 while this replica holds the recompute lease.",
        (double)atomic_load(&m->cluster_leader));
  gauge(r, "repgraph_cluster_applied_sequence", "Stream sequence of the last log entry applied.",
        (double)atomic_load(&m->cluster_applied_seq));
  gauge(r, "repgraph_cluster_stream_first_sequence",
        "The stream's first sequence: entries below it are gone (its limits, or a purge).",
        (double)atomic_load(&m->cluster_stream_first_seq));
  gauge(r, "repgraph_cluster_halted",
        "1 while this replica applies nothing until restarted (an entry failed here, or the "
        "entries it needs next are gone from the stream).",
        (double)atomic_load(&m->cluster_halted));
  gauge(r, "repgraph_cluster_lag_messages", "Log entries in the stream not yet applied here.",
        (double)atomic_load(&m->cluster_lag));
  gauge(r, "repgraph_cluster_lag_seconds",
        "With entries waiting: seconds since the last one applied was published; else 0.",
        (double)atomic_load(&m->cluster_lag_seconds));
  family(r, "repgraph_cluster_generation", "gauge",
         "The generation served, by where it came from (local: computed here).");
  sample(r, "repgraph_cluster_generation", "source",
         atomic_load(&m->cluster_generation_adopted) ? "adopted" : "local",
         atomic_load(&m->cluster_generation));
  family(r, "repgraph_cluster_generations_total", "counter",
         "Generations published (as leader), adopted, or refused (never adopted).");
  sample(r, "repgraph_cluster_generations_total", "event", "published",
         atomic_load(&m->cluster_generations_published));
  sample(r, "repgraph_cluster_generations_total", "event", "adopted",
         atomic_load(&m->cluster_generations_adopted));
  sample(r, "repgraph_cluster_generations_total", "event", "refused",
         atomic_load(&m->cluster_generations_refused));
}

int rg_metrics_text_render(const rg_metrics_t *m, const rg_metrics_view_t *v, rg_buf_t *out) {
  r_t r = {out, RG_OK};
  family(&r, "repgraph_build_info", "gauge", "Always 1; the version in a label.");
  sample(&r, "repgraph_build_info", "version", RG_VERSION, 1);
  gauge(&r, "repgraph_start_time_seconds", "When the server started (epoch seconds).",
        (double)m->started_at);
  gauge(&r, "repgraph_ready", "1 when /readyz answers 200.", v->ready ? 1 : 0);
  if (v->loop_heartbeat_age_s >= 0)
    gauge(&r, "repgraph_loop_heartbeat_age_seconds",
          "Since the event loop last ticked (about 1 s when healthy).", v->loop_heartbeat_age_s);
  render_requests(&r, m);
  render_connections(&r, m);
  render_ingest(&r, m);
  render_writer(&r, m);
  render_store(&r, v);
  render_recompute(&r, m, v);
  render_check(&r, m);
  render_policy(&r, m);
  render_retention(&r, m);
  render_cluster(&r, m);
  counter(&r, "repgraph_config_reloads_total", "Configuration reloads (SIGHUP) applied.",
          &m->reloads_ok);
  counter(&r, "repgraph_config_reload_failures_total",
          "Reloads refused (the new configuration did not load or validate).", &m->reloads_failed);
  counter(&r, "repgraph_requests_logged_total",
          "Requests written to the request log (log.requests).", &m->requests_logged);
  return r.rc;
}
