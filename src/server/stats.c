/* stats.c — the stats op: store counts and sizes, requests and latencies per op, errors by
 * code, connections, the writer. Loop thread. */
#include "engine_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"

static void write_hist(rg_wr_t *wr, const rg_hist_t *h) {
  rg_wr_map(wr, 4);
  rg_wr_str(wr, "count");
  rg_wr_uint(wr, atomic_load(&h->count));
  rg_wr_str(wr, "p50_us");
  rg_wr_uint(wr, rg_hist_quantile(h, 0.5));
  rg_wr_str(wr, "p99_us");
  rg_wr_uint(wr, rg_hist_quantile(h, 0.99));
  rg_wr_str(wr, "max_us");
  rg_wr_uint(wr, atomic_load(&h->max_us));
}

int rg__stats_handle(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr) {
  rg_txn_t *t;
  rg_store_counts_t c;
  rg_store_info_t info;
  rg_metrics_t *m = &e->metrics;
  int rc = rg_store_read_begin(e->store, &t);
  if (rc) return rc;
  rc = rg_store_counts(t, &c);
  rg_store_end(t);
  if (rc) return rc;
  rg_store_info(e->store, &info);

  rg_wr_reply(wr, req->has_id, req->id, 18 + (e->stats_hook != NULL));
  rg_wr_str(wr, "ingest");
  rg_wr_map(wr, 1);
  rg_wr_str(wr, "ts_clamped");
  rg_wr_uint(wr, atomic_load(&m->ts_clamped));
  rg_wr_str(wr, "version");
  rg_wr_str(wr, RG_VERSION);
  rg_wr_str(wr, "uptime_s");
  rg_wr_int(wr, rg_clock_now() - m->started_at);
  rg_wr_str(wr, "actors");
  rg_wr_map(wr, RG_ACTOR_TYPE_MAX - RG_ACTOR_TYPE_MIN + 1);
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX; ty++) {
    rg_wr_str(wr, rg_actor_type_name(ty));
    rg_wr_uint(wr, c.actors[ty]);
  }
  rg_wr_str(wr, "edges");
  rg_wr_map(wr, RG_EDGE_KIND_COUNT);
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) {
    rg_wr_str(wr, rg_edge_kind_name(k));
    rg_wr_uint(wr, c.edges[k]);
  }
  rg_wr_str(wr, "labels");
  rg_wr_uint(wr, c.labels);
  rg_wr_str(wr, "store");
  rg_wr_map(wr, 6);
  rg_wr_str(wr, "map_size");
  rg_wr_uint(wr, info.map_size);
  rg_wr_str(wr, "map_max");
  rg_wr_uint(wr, info.map_max);
  rg_wr_str(wr, "used_bytes");
  rg_wr_uint(wr, info.used_bytes);
  rg_wr_str(wr, "page_size");
  rg_wr_uint(wr, info.page_size);
  rg_wr_str(wr, "map_grows");
  rg_wr_uint(wr, info.map_grows);
  rg_wr_str(wr, "pseudonymised");
  rg_wr_bool(wr, rg_store_pseudonymised(e->store));

  rg_wr_str(wr, "requests");
  rg_wr_map(wr, RG_OP_COUNT);
  for (int op = 0; op < RG_OP_COUNT; op++) {
    rg_wr_str(wr, rg_op_name(op));
    rg_wr_map(wr, 2);
    rg_wr_str(wr, "count");
    rg_wr_uint(wr, atomic_load(&m->requests[op]));
    rg_wr_str(wr, "latency");
    write_hist(wr, &m->latency[op]);
  }
  uint32_t n_codes = 0;
  for (int i = 1; i < RG__ERR_END - RG__ERR_FIRST && i < RG_METRICS_SLOTS; i++) n_codes++;
  rg_wr_str(wr, "errors");
  rg_wr_map(wr, n_codes);
  for (int i = 1; i <= (int)n_codes; i++) {
    rg_wr_str(wr, rg_err_name(RG__ERR_FIRST + i));
    rg_wr_uint(wr, atomic_load(&m->errors[i]));
  }
  rg_wr_str(wr, "connections");
  rg_wr_map(wr, 8);
  rg_wr_str(wr, "current");
  rg_wr_uint(wr, atomic_load(&m->conns_current));
  rg_wr_str(wr, "total");
  rg_wr_uint(wr, atomic_load(&m->conns_total));
  rg_wr_str(wr, "refused");
  rg_wr_uint(wr, atomic_load(&m->conns_refused));
  rg_wr_str(wr, "dropped");
  rg_wr_uint(wr, atomic_load(&m->conns_dropped));
  rg_wr_str(wr, "evicted");
  rg_wr_uint(wr, atomic_load(&m->conns_evicted));
  rg_wr_str(wr, "offloaded");
  rg_wr_uint(wr, atomic_load(&m->frames_offloaded));
  rg_wr_str(wr, "auth_failures");
  rg_wr_uint(wr, atomic_load(&m->auth_failures));
  rg_wr_str(wr, "tls_failures");
  rg_wr_uint(wr, atomic_load(&m->tls_failures));
  rg_wr_str(wr, "writer");
  rg_wr_map(wr, 4);
  rg_wr_str(wr, "commits");
  rg_wr_uint(wr, atomic_load(&m->commits));
  rg_wr_str(wr, "writes");
  rg_wr_uint(wr, atomic_load(&m->committed_writes));
  rg_wr_str(wr, "queue_depth");
  rg_wr_uint(wr, atomic_load(&m->write_queue_depth));
  rg_wr_str(wr, "commit_latency");
  write_hist(wr, &m->commit_latency);
  static const char *const verdicts[] = {"accept", "tempfail", "quarantine", "reject"};
  rg_wr_str(wr, "check"); /* verdicts before check.mode, and who decided them */
  rg_wr_map(wr, 4);
  rg_wr_str(wr, "mode"), rg_wr_str(wr, e->cfg.check_mode);
  rg_wr_str(wr, "verdicts"), rg_wr_map(wr, 4);
  for (int i = 0; i < 4; i++)
    rg_wr_str(wr, verdicts[i]), rg_wr_uint(wr, atomic_load(&m->check_verdicts[i]));
  rg_wr_str(wr, "decided_by"), rg_wr_map(wr, RG_CHECK_DECIDERS);
  for (int i = 0; i < RG_CHECK_DECIDERS; i++)
    rg_wr_str(wr, rg_check_decider_names[i]),
        rg_wr_uint(wr, atomic_load(&m->check_decided_by[i]));
  rg_wr_str(wr, "allowlisted"), rg_wr_uint(wr, atomic_load(&m->check_allowlisted));
  rg_wr_str(wr, "policy"); /* the Postfix policy listener (policy.c); zeros when it is off */
  rg_wr_map(wr, RG_POLICY_COUNTER_COUNT + 1);
  for (int i = 0; i < RG_POLICY_COUNTER_COUNT; i++) {
    rg_wr_str(wr, rg_policy_counter_name(i));
    rg_wr_uint(wr, atomic_load(&m->policy[i]));
  }
  rg_wr_str(wr, "latency");
  write_hist(wr, &m->policy_latency);
  rg_wr_str(wr, "retention"), rg__retention_stats(e, wr); /* retention.c */
  rg_wr_str(wr, "backup"), rg__backup_stats(e, wr);       /* backup.c */
  rg_wr_str(wr, "model"), rg__model_status(e, wr); /* the current generation's learned model */
  rg_lookup_cache_stats_t lc; /* the encoded lookup results (lookup_cache.h); zeros when off */
  rg_lookup_cache_stats(e->lookup_cache, &lc);
  const uint64_t lcv[] = {lc.entries, lc.bytes, lc.max_bytes, lc.hits, lc.misses,
                          lc.evictions, lc.invalidations, lc.refused};
  static const char *const lcn[] = {"entries", "bytes",     "max_bytes",     "hits",
                                    "misses",  "evictions", "invalidations", "refused"};
  rg_wr_str(wr, "lookup_cache");
  rg_wr_map(wr, 8);
  for (int i = 0; i < 8; i++) rg_wr_str(wr, lcn[i]), rg_wr_uint(wr, lcv[i]);
  rg_wr_str(wr, "wal"), rg__wal_stats(e, wr); /* the write-ahead log of ingest (engine_wal.c) */
  if (e->stats_hook) { /* cluster mode (cluster.c) */
    rg_wr_str(wr, "cluster");
    e->stats_hook(e->stats_hook_ctx, wr);
  }
  return RG_OK;
}
