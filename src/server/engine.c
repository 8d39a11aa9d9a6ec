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

/* ---- writes ------------------------------------------------------------------------- */

void rg__engine_complete(rg_write_t *w) {
  rg_hist_add(&w->engine->metrics.latency[w->op], rg_clock_mono_us() - w->started_us);
  w->done(w, w->ctx);
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

int rg_engine_handle(rg_engine_t *e, const rg_request_t *req, rg_buf_t *out, rg_write_done_fn done,
                     void *ctx, rg_write_t **pending) {
  *pending = NULL;
  atomic_fetch_add(&e->metrics.requests[req->op], 1);
  uint64_t t0 = rg_clock_mono_us();
  int rc;
  bool preview = req->op == RG_OP_LABEL_CLUSTER && req->dry_run; /* a read */
  if (rg_op_writes(req->op) && !preview) {
    rg_write_t *w = NULL;
    char msg[200] = "";
    if (e->stopping)
      rc = RG_ESHUTTING_DOWN;
    else if (req->op == RG_OP_LABEL_CLUSTER)
      rc = rg__label_cluster_prepare(e, req, &w, msg, sizeof msg);
    else
      rc = rg__ingest_prepare(e, req, &w, msg, sizeof msg);
    if (rc) {
      rg_metrics_error(&e->metrics, rc);
      return rg_proto_write_error(out, req->has_id, req->id, rc, msg[0] ? msg : NULL);
    }
    w->done = done;
    w->ctx = ctx;
    w->started_us = t0;
    rg__engine_submit(e, w);
    *pending = w;
    return RG_OK;
  }
  if (req->op == RG_OP_RECOMPUTE) return rg__recompute_request(e, req, out, done, ctx, pending);
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
  int wrc = rg_wr_end(&wr);
  if (rc || wrc) {
    out->len = start;
    int code = rc ? rc : wrc;
    rg_metrics_error(&e->metrics, code);
    rc = rg_proto_write_error(out, req->has_id, req->id, code,
                              wrc == RG_ETOO_LARGE ? "reply would exceed the output limit" : msg);
  }
  rg_hist_add(&e->metrics.latency[req->op], rg_clock_mono_us() - t0);
  return rc;
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
  rg_actor_opts_default(&e->actor_opts); /* actor.* */
  e->actor_opts.fold_local_case = cfg->fold_local_case != 0;
  snprintf(e->actor_opts.subaddress_sep, sizeof e->actor_opts.subaddress_sep, "%s",
           cfg->subaddress_sep);
  e->loop = loop;
  e->metrics.started_at = rg_clock_now();
  rg_store_opts_t so = {cfg->data_dir, cfg->map_size_bytes, cfg->map_max_bytes,
                        (double)cfg->half_life_s};
  int rc = rg_store_open(&so, &e->store, err, errlen);
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
  *out = e;
  return RG_OK;
fail:
  rg_lookup_cache_free(e->lookup_cache);
  rg_store_close(e->store);
  free(e);
  return rc;
}

void rg_engine_stop(rg_engine_t *e) {
  if (!e || e->stopped) return;
  rg__recompute_stop(e); /* a running computation is cancelled; its steps still commit */
  e->stopping = true;
  rg_writer_stop(e->writer);
  e->stopped = true;
}

rg_metrics_t *rg_engine_metrics(rg_engine_t *e) {
  return &e->metrics;
}

rg_lookup_cache_t *rg_engine_lookup_cache(rg_engine_t *e) {
  return e->lookup_cache;
}

void rg_engine_close(rg_engine_t *e) {
  if (!e) return;
  rg_engine_stop(e);
  rg_writer_free(e->writer);
  rg__read_drop_batch(e);
  rg_lookup_cache_free(e->lookup_cache);
  rg_store_close(e->store);
  free(e);
}
