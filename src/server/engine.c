/* engine.c — what the server does with a decoded request: dispatch to the op modules
 * (ingest, lookup, check, stats, analyst, recompute) and the engine's life cycle (store,
 * writer, recompute timer). Loop thread. */
#include "repgraph/engine.h"

#include <stdio.h>
#include <stdlib.h>

#include "engine_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/text.h"

/* ---- writes ------------------------------------------------------------------------- */

/* The request log (log.requests): one line for a sampled share of the requests. Actor
 * identifiers (check's sender and client IP) only where log.actors allows them. */
static void log_request(rg_engine_t *e, rg_op_t op, bool has_id, uint64_t id, int result,
                        uint64_t us, const rg_request_t *req) {
  atomic_fetch_add(&e->metrics.requests_logged, 1);
  rg_log_field_t f[6];
  size_t n = 0;
  char sender[128], ip[64];
  f[n++] = RG_LOG_STR("op", rg_op_name(op));
  f[n++] = has_id ? RG_LOG_INT("id", id) : RG_LOG_STR("id", "");
  f[n++] = RG_LOG_STR("result", result ? rg_err_name(result) : "ok");
  f[n++] = RG_LOG_INT("duration_us", us);
  if (req && op == RG_OP_CHECK && rg_log_actors_allowed(RG_LOG_INFO)) {
    rg_text_escape(sender, sizeof sender, req->check.sender.ptr, req->check.sender.len);
    rg_text_escape(ip, sizeof ip, req->check.client_ip.ptr, req->check.client_ip.len);
    f[n++] = RG_LOG_STR("sender", sender);
    f[n++] = RG_LOG_STR("client_ip", ip);
  }
  rg_log_fields(RG_LOG_INFO, "request", f, n);
}

void rg__engine_complete(rg_write_t *w) {
  rg_engine_t *e = w->engine;
  bool barrier = w->wal_barrier; /* w may be gone after done */
  uint64_t us = rg_clock_mono_us() - w->started_us;
  rg_hist_add(&e->metrics.latency[w->op], us);
  if (rg_log_request_sampled()) log_request(e, w->op, w->has_id, w->id, w->head.result, us, NULL);
  w->done(w, w->ctx);
  rg__wal_completed(e, barrier); /* writes that waited behind it may go */
}

/* Loop thread: a client write has committed (or failed); its owner takes it from here. */
static void on_committed(rg_writer_req_t *head) {
  rg__engine_complete((rg_write_t *)head);
}

void rg__engine_submit(rg_engine_t *e, rg_write_t *w) {
  if (!w->head.done) w->head.done = on_committed;
  rg_writer_submit(e->writer, &w->head);
}

bool rg_engine_write_is_sliced(const rg_write_t *w) {
  return w->sliced;
}

int rg_engine_finish_write(rg_write_t *w, rg_buf_t *out) {
  int rc = RG_OK;
  if (out && w->head.result) {
    rc = rg_proto_write_error(out, w->has_id, w->id, w->head.result, w->error[0] ? w->error : NULL);
    rg_metrics_error(&w->engine->metrics, w->head.result);
  } else if (out) {
    rg_wr_t wr;
    rg_wr_begin(&wr, out);
    w->reply(w, &wr);
    rc = rg_wr_end(&wr);
  }
  w->free(w);
  return rc;
}

/* ---- dispatch ----------------------------------------------------------------------- */

static void handle_ping(const rg_request_t *req, rg_wr_t *wr) {
  rg_wr_reply(wr, req->has_id, req->id, 3);
  rg_wr_str(wr, "pong");
  rg_wr_bool(wr, true);
  rg_wr_str(wr, "version");
  rg_wr_str(wr, RG_VERSION);
  rg_wr_str(wr, "protocol");
  rg_wr_uint(wr, RG_PROTO_VERSION);
}

bool rg_engine_can_prepare(rg_op_t op) {
  return op == RG_OP_INGEST;
}

void rg_engine_prepare(rg_engine_t *e, const rg_request_t *req, rg_prepared_t *p) {
  *p = (rg_prepared_t){.op = req->op, .started_us = rg_clock_mono_us()};
  p->rc = rg__ingest_prepare(e, req, &p->write, p->msg, sizeof p->msg);
}

void rg_engine_prepared_free(rg_prepared_t *p) {
  if (p->write) rg_engine_finish_write(p->write, NULL);
  p->write = NULL;
}

int rg_engine_handle_prepared(rg_engine_t *e, const rg_request_t *req, rg_prepared_t *p,
                              rg_buf_t *out, rg_write_done_fn done, void *ctx,
                              rg_write_t **pending) {
  *pending = NULL;
  atomic_fetch_add(&e->metrics.requests[req->op], 1);
  int rc = p->rc ? p->rc : e->stopping ? RG_ESHUTTING_DOWN : RG_OK;
  if (rc) {
    rg_engine_prepared_free(p);
    rg_metrics_error(&e->metrics, rc);
    if (rg_log_request_sampled())
      log_request(e, req->op, req->has_id, req->id, rc, rg_clock_mono_us() - p->started_us, req);
    return rg_proto_write_error(out, req->has_id, req->id, rc, p->msg[0] ? p->msg : NULL);
  }
  rg_write_t *w = p->write;
  p->write = NULL;
  w->done = done;
  w->ctx = ctx;
  w->started_us = p->started_us;
  *pending = w;
  rg__wal_submit(e, w); /* the log for an ingest with wal.enabled; else the writer */
  return RG_OK;
}

int rg_engine_handle(rg_engine_t *e, const rg_request_t *req, rg_buf_t *out, rg_write_done_fn done,
                     void *ctx, rg_write_t **pending) {
  *pending = NULL;
  bool preview = req->op == RG_OP_LABEL_CLUSTER && req->dry_run; /* a read */
  if (rg_op_writes(req->op) && !preview) {
    rg_prepared_t p = {.op = req->op, .started_us = rg_clock_mono_us()};
    if (e->stopping)
      p.rc = RG_ESHUTTING_DOWN;
    else if (req->op == RG_OP_LABEL_CLUSTER)
      p.rc = rg__label_cluster_prepare(e, req, &p.write, p.msg, sizeof p.msg);
    else
      p.rc = rg__ingest_prepare(e, req, &p.write, p.msg, sizeof p.msg);
    return rg_engine_handle_prepared(e, req, &p, out, done, ctx, pending);
  }
  atomic_fetch_add(&e->metrics.requests[req->op], 1);
  uint64_t t0 = rg_clock_mono_us();
  int rc;
  if (req->op == RG_OP_RECOMPUTE) return rg__recompute_request(e, req, out, done, ctx, pending);
  if (req->op == RG_OP_BACKUP) return rg__backup_request(e, req, out, done, ctx, pending);
  size_t start = out->len;
  char msg[200] = "";
  rg_wr_t wr;
  rg_wr_begin(&wr, out);
  switch (req->op) {
    case RG_OP_PING:
      handle_ping(req, &wr);
      rc = RG_OK;
      break;
    case RG_OP_LOOKUP: rc = rg__lookup_handle(e, req, &wr); break;
    case RG_OP_STATS: rc = rg__stats_handle(e, req, &wr); break;
    case RG_OP_STATUS:
      rg__recompute_status(e, req, &wr);
      rc = RG_OK;
      break;
    case RG_OP_CHECK: rc = rg__check_handle(e, req, &wr, msg, sizeof msg); break;
    case RG_OP_LABEL_CLUSTER: rc = rg__label_cluster_preview(e, req, &wr, msg, sizeof msg); break;
    case RG_OP_CLUSTERS:
    case RG_OP_TOP:
    case RG_OP_NEIGHBORS:
    case RG_OP_EXPORT:
    case RG_OP_HISTORY: rc = rg__analyst_handle(e, req, &wr, msg, sizeof msg); break;
    default: rc = RG_EUNKNOWN_OP; break;
  }
  int wrc = rg_wr_end(&wr), result = rc ? rc : wrc;
  if (rc || wrc) {
    out->len = start;
    int code = result;
    rg_metrics_error(&e->metrics, code);
    rc = rg_proto_write_error(out, req->has_id, req->id, code,
                              wrc == RG_ETOO_LARGE ? "reply would exceed the output limit" : msg);
  }
  uint64_t us = rg_clock_mono_us() - t0;
  rg_hist_add(&e->metrics.latency[req->op], us);
  if (rg_log_request_sampled()) log_request(e, req->op, req->has_id, req->id, result, us, req);
  return rc;
}

/* ---- cluster mode: writes applied from the log ------------------------------------- */

int rg_engine_write_prepare(rg_engine_t *e, const rg_request_t *req, rg_write_t **w, char *msg,
                            size_t cap) {
  *w = NULL;
  msg[0] = '\0';
  if (e->stopping) return RG_ESHUTTING_DOWN;
  int rc = rg__ingest_prepare(e, req, w, msg, cap);
  if (!rc) (*w)->started_us = rg_clock_mono_us();
  return rc;
}

int rg_engine_expand_label_cluster(rg_engine_t *e, const rg_request_t *req,
                                   const rg_proto_limits_t *lim, rg_buf_t *body, rg_write_t **w,
                                   char *msg, size_t cap) {
  *w = NULL;
  msg[0] = '\0';
  if (e->stopping) return RG_ESHUTTING_DOWN;
  int rc = rg__label_cluster_expand(e, req, lim, body, w, msg, cap);
  if (!rc) (*w)->started_us = rg_clock_mono_us();
  return rc;
}

/* Writer thread: the write, then the log position in the same transaction — only right
 * after the entry before it: after a failed entry (undone), every later one fails too, so a
 * replica never records a position past an entry it did not apply. */
static int apply_logged(rg_txn_t *t, rg_writer_req_t *head) {
  rg_write_t *w = (rg_write_t *)head;
  uint64_t last;
  int rc = rg_store_log_seq(t, &last);
  if (!rc && last + 1 != w->log_seq)
    return rg_fail(w->error, sizeof w->error, RG_EINTERNAL,
                   "log entry %llu does not follow the last one applied here (%llu)",
                   (unsigned long long)w->log_seq, (unsigned long long)last);
  if (!rc && w->log_apply) rc = w->log_apply(t, head);
  return rc ? rc : rg_store_put_log_seq(t, w->log_seq);
}

void rg_engine_submit_logged(rg_engine_t *e, rg_write_t *w, uint64_t seq, rg_write_done_fn done,
                             void *ctx) {
  w->log_seq = seq;
  w->log_apply = w->head.apply;
  w->head.apply = apply_logged;
  w->done = done;
  w->ctx = ctx;
  if (!w->started_us) w->started_us = rg_clock_mono_us();
  rg__engine_submit(e, w);
}

static void skip_reply(const rg_write_t *w, rg_wr_t *wr) {
  rg_wr_reply(wr, w->has_id, w->id, 0);
}

static void skip_free(rg_write_t *w) {
  free(w);
}

int rg_engine_skip_logged(rg_engine_t *e, uint64_t seq, rg_write_done_fn done, void *ctx) {
  rg_write_t *w = calloc(1, sizeof *w);
  if (!w) return RG_ENOMEM;
  *w = (rg_write_t){.engine = e, .op = RG_OP_PING, .reply = skip_reply, .free = skip_free};
  w->head.name = "log_skip";
  rg_engine_submit_logged(e, w, seq, done, ctx);
  return RG_OK;
}

void rg_engine_write_set_error(rg_write_t *w, int code, const char *msg) {
  w->head.result = code;
  snprintf(w->error, sizeof w->error, "%s", msg ? msg : "");
}

int rg_engine_write_result(const rg_write_t *w) {
  return w->head.result;
}

uint64_t rg_engine_write_log_seq(const rg_write_t *w) {
  return w->log_seq;
}

int rg_engine_log_seq(rg_engine_t *e, uint64_t *seq) {
  rg_txn_t *t;
  *seq = 0;
  int rc = rg_store_read_begin(e->store, &t);
  if (rc) return rc;
  rc = rg_store_log_seq(t, seq);
  rg_store_end(t);
  return rc;
}

void rg_engine_set_stats_hook(rg_engine_t *e, void (*fn)(void *ctx, rg_wr_t *wr), void *ctx) {
  e->stats_hook = fn;
  e->stats_hook_ctx = ctx;
}

/* ---- life cycle --------------------------------------------------------------------- */

static void before_deliver(void *ctx) {
  rg_engine_t *e = ctx;
  rg__read_drop_batch(e); /* reads from now on must see these writes */
  /* and so must cached lookup results: those of the actors the commits changed, or all */
  rg_store_touched_t tt;
  rg_store_take_touched(e->store, &tt);
  if (tt.wide) {
    rg_lookup_cache_invalidate(e->lookup_cache);
  } else {
    for (size_t i = 0; i < tt.n; i++) rg_lookup_cache_invalidate_actor(e->lookup_cache, tt.ids[i]);
    if (tt.created) rg_lookup_cache_invalidate_unknown(e->lookup_cache);
  }
  free(tt.ids);
}

int rg_engine_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t **out, char *err,
                   size_t errlen) {
  *out = NULL;
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium failed to initialise");
    return RG_EINTERNAL;
  }
  rg_engine_t *e = calloc(1, sizeof *e);
  if (!e) return RG_ENOMEM;
  crypto_shorthash_keygen(e->actor_hash_key);
  e->cfg = *cfg;
  if (cfg->cluster_enabled) e->cfg.write_slice_edges = UINT32_MAX; /* one log entry, one commit */
  rg_actor_opts_default(&e->actor_opts); /* actor.* */
  e->actor_opts.fold_local_case = cfg->fold_local_case != 0;
  snprintf(e->actor_opts.subaddress_sep, sizeof e->actor_opts.subaddress_sep, "%s",
           cfg->subaddress_sep);
  e->loop = loop;
  e->metrics.started_at = rg_clock_now();
  rg_store_opts_t so = {cfg->data_dir, cfg->map_size_bytes, cfg->map_max_bytes,
                        (double)cfg->half_life_s, NULL};
  int rc = RG_OK;
  if (cfg->pseudonymise) { /* store.pseudonymise: the store hashes what it is asked */
    if ((rc = rg_pseudonym_load(cfg->pseudonym_key_file, &e->pseudonym, err, errlen))) goto fail;
    so.pseudonym = e->pseudonym;
    e->actor_opts.pseudonyms = true; /* an analyst may paste a pseudonym from an export */
  }
  rc = rg_store_open(&so, &e->store, err, errlen);
  if (rc) goto fail;
  uint8_t cache_key[crypto_shorthash_KEYBYTES];
  crypto_shorthash_keygen(cache_key);
  if ((rc = rg_lookup_cache_open(cfg->lookup_cache_bytes, cache_key, &e->lookup_cache))) {
    snprintf(err, errlen, "cannot allocate the lookup cache");
    goto fail;
  }
  if ((rc = rg__recompute_init(e))) {
    snprintf(err, errlen, "cannot start the recompute timer");
    goto fail;
  }
  rg_writer_opts_t wo = {cfg->commit_max_requests, &e->metrics, before_deliver, e};
  if ((rc = rg_writer_open(e->store, loop, &wo, &e->writer))) {
    snprintf(err, errlen, "cannot start the writer thread");
    uv_close((uv_handle_t *)&e->recompute_timer, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    goto fail;
  }
  if ((rc = rg__backup_init(e)) || (rc = rg__retention_init(e))) {
    snprintf(err, errlen, "cannot start the backup or retention handles");
    rg_engine_stop(e);
    uv_run(loop, UV_RUN_NOWAIT); /* the closed handles' callbacks, before e goes */
    rg_engine_close(e);
    return rc;
  }
  if ((rc = rg__wal_open(e, err, errlen))) { /* replays a log left behind, then opens it */
    rg_engine_stop(e);
    uv_run(loop, UV_RUN_NOWAIT); /* the closed handles' callbacks, before e goes */
    rg_engine_close(e);
    return rc;
  }
  *out = e;
  return RG_OK;
fail:
  rg_lookup_cache_free(e->lookup_cache);
  rg_store_close(e->store);
  rg_pseudonym_free(e->pseudonym);
  free(e);
  return rc;
}

void rg_engine_stop(rg_engine_t *e) {
  if (!e || e->stopped) return;
  rg__recompute_stop(e); /* a running computation is cancelled; its steps still commit */
  e->stopping = true;
  rg__retention_stop(e); /* no more sweep slices; a queued one still commits */
  rg__backup_stop(e);    /* waits for a running copy */
  rg__wal_stop(e);       /* logged ingests answered; their last merge queued */
  rg_writer_stop(e->writer);
  e->stopped = true;
}

rg_metrics_t *rg_engine_metrics(rg_engine_t *e) {
  return &e->metrics;
}

rg_store_t *rg_engine_store(rg_engine_t *e) {
  return e->store;
}

void rg_engine_reload(rg_engine_t *e, const rg_config_t *cfg) {
  if (!e->reload_pending && !(e->reload_pending = malloc(sizeof *e->reload_pending))) {
    rg_log_error("reload: out of memory; configuration unchanged");
    return;
  }
  *e->reload_pending = *cfg;
  if (!e->running) rg__engine_apply_reload(e);
}

void rg__engine_apply_reload(rg_engine_t *e) {
  if (!e->reload_pending) return;
  char applied[8], ignored[8]; /* the server has logged the names */
  rg_config_reload(&e->cfg, e->reload_pending, applied, sizeof applied, ignored, sizeof ignored);
  free(e->reload_pending);
  e->reload_pending = NULL;
}

rg_lookup_cache_t *rg_engine_lookup_cache(rg_engine_t *e) {
  return e->lookup_cache;
}

void rg_engine_close(rg_engine_t *e) {
  if (!e) return;
  rg_engine_stop(e);
  rg_writer_free(e->writer);
  rg__wal_free(e);
  rg__backup_free(e);
  rg__retention_free(e);
  rg__read_drop_batch(e);
  rg_lookup_cache_free(e->lookup_cache);
  rg_store_close(e->store);
  rg_pseudonym_free(e->pseudonym);
  free(e->reload_pending);
  free(e);
}
