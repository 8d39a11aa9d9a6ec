/* cluster.c — cluster mode: writes through a NATS JetStream stream (see cluster.h).
 *
 * Threads. The loop thread validates a client's write, queues its log entry to the
 * publisher thread and keeps the prepared write waiting (`pub_t`). The publisher thread
 * publishes entries asynchronously (js_PublishMsgAsync); nats.c's thread calls on_pub_ack
 * with each acknowledgment. The consumer thread connects, creates the stream if missing,
 * (re)creates this node's durable pull consumer at the stored sequence + 1 and fetches
 * entries. Both hand what they got to the loop through one inbox (mutex + uv_async); the
 * loop applies entries strictly in sequence order through the engine's writer, each with
 * its sequence committed in its own transaction (rg_engine_submit_logged). An entry this
 * node published applies its already prepared write, whose reply goes to the waiting
 * client. A gap in the sequence (entries lost in flight when a NATS node dies) makes the
 * consumer thread recreate the consumer after the last sequence the loop took.
 * The NATS side is in cluster_nats.c; what both share in cluster_internal.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cluster_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"

/* ---- the loop side: applying entries ------------------------------------------------ */

static void pub_unlink(rg_replica_t *c, pub_t *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    c->pubs_head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    c->pubs_tail = p->prev;
  p->prev = p->next = NULL;
}

/* A write still waiting for its entry (not yet handed to the writer, not failed). */
static pub_t *pub_find(rg_replica_t *c, uint64_t id) {
  for (pub_t *p = c->pubs_head; p; p = p->next)
    if (p->id == id) return p->submitted || p->finished ? NULL : p;
  return NULL;
}

/* Replies go out in the order the writes came (a connection's replies are in order):
 * finished writes at the head of the list are handed back to their owners. */
static void deliver(rg_replica_t *c) {
  while (c->pubs_head && c->pubs_head->finished) {
    pub_t *p = c->pubs_head;
    pub_unlink(c, p);
    p->done(p->w, p->ctx);
    free(p->entry);
    free(p);
  }
}

/* Ends a waiting write with an error reply; deliver() hands it back in its turn. */
static void pub_fail(pub_t *p, int code, const char *msg) {
  rg_engine_write_set_error(p->w, code, msg);
  p->finished = true;
}

/* An entry committed, or failed: a failure here (storage full, I/O) is this replica's
 * alone, so it stops applying rather than skip the entry (the store refuses every later
 * one anyway: rg_engine_submit_logged); a restart tries again from the stored sequence. */
static void entry_done(rg_replica_t *c, rg_write_t *w) {
  uint64_t seq = rg_engine_write_log_seq(w);
  int rc = rg_engine_write_result(w);
  c->inflight--;
  if (rc) {
    if (!c->halted)
      rg_log_error("cluster: entry %llu failed here (%s); applying stops until a restart",
                   (unsigned long long)seq, rg_strerror(rc));
    c->halted = true;
    atomic_store(&c->halted_flag, true);
    return;
  }
  if (seq > atomic_load(&c->applied)) atomic_store(&c->applied, seq);
  atomic_fetch_add(&c->applied_entries, 1);
  rg__cluster_gen_kick(c); /* a generation waiting for this much of the log */
}

/* Loop thread: another replica's entry (or a refused one) committed. */
static void on_entry_done(rg_write_t *w, void *ctx) {
  entry_done(ctx, w);
  rg_engine_finish_write(w, NULL);
}

/* Loop thread: our own entry committed: its client gets the reply (in order). */
static void on_own_done(rg_write_t *w, void *ctx) {
  pub_t *p = ctx;
  entry_done(p->cluster, w);
  p->finished = true;
  deliver(p->cluster);
}

/* Applies one entry at sequence seq (the next one): our own prepared write, or the
 * request decoded from the entry and prepared now at the publisher's time; an entry that
 * cannot be applied still moves the applied sequence on. */
static void apply_entry(rg_replica_t *c, uint64_t seq, const uint8_t *d, uint32_t len) {
  rg_engine_t *e = c->engine;
  c->taken = seq;
  c->inflight++;
  if (len >= ENTRY_HEAD) atomic_store(&c->taken_at, (int64_t)rg_get_u64be(d + 1));
  if (len >= ENTRY_HEAD && d[0] == ENTRY_VERSION && rg_get_u64be(d + 9) == c->origin) {
    pub_t *p = pub_find(c, rg_get_u64be(d + 17));
    if (p) {
      p->submitted = true;
      free(p->entry);
      p->entry = NULL;
      rg_engine_submit_logged(e, p->w, seq, on_own_done, p);
      return;
    }
  }
  rg_request_t req;
  rg_write_t *w = NULL;
  char err[256] = "";
  int rc = len >= ENTRY_HEAD && d[0] == ENTRY_VERSION ? RG_OK : RG_EBAD_REQUEST;
  if (rc) snprintf(err, sizeof err, "not a log entry of version %d", ENTRY_VERSION);
  if (!rc) {
    rc = rg_proto_decode_request(d + ENTRY_HEAD, len - ENTRY_HEAD, &c->limits, &req, err,
                                 sizeof err);
    req.now = (int64_t)rg_get_u64be(d + 1);
    if (!rc)
      rc = rg_cluster_takes(&req) && req.op != RG_OP_LABEL_CLUSTER /* carried as labels */
               ? rg_engine_write_prepare(e, &req, &w, err, sizeof err)
               : rg_fail(err, sizeof err, RG_EBAD_REQUEST, "%s is not a write the log carries",
                         rg_op_name(req.op));
    rg_request_free(&req); /* the write holds copies */
  }
  if (!rc) {
    rg_engine_submit_logged(e, w, seq, on_entry_done, c);
    return;
  }
  atomic_fetch_add(&c->refused_entries, 1);
  if (rg_log_limit_take(&c->refuse_log, rg_clock_now(), 10))
    rg_log_warn("cluster: entry %llu refused here (%s: %s); recorded as applied",
                (unsigned long long)seq, rg_err_name(rc), err);
  if (rg_engine_skip_logged(e, seq, on_entry_done, c) != RG_OK) {
    c->inflight--;
    c->taken = seq - 1; /* out of memory: ask for it again */
    atomic_store(&c->reset, true);
  }
}

/* True, once the stream's first sequence is past the entry after the last one taken: that
 * entry was dropped (cluster.stream_max_age / stream_max_bytes, or a purge) and the log can
 * never bring this replica up to date. It stops applying (not ready) and says to restart
 * it: at start it restores the cluster's snapshot (rg_cluster_bootstrap). The store is not
 * swapped under a live server. */
static bool log_gone(rg_replica_t *c) {
  uint64_t first = atomic_load(&c->first);
  if (c->halted || first <= c->taken + 1) return c->halted;
  rg_log_error("cluster: entries %llu to %llu are no longer in stream %s (dropped by its limits, "
               "cluster.stream_max_age / stream_max_bytes, or purged): this replica cannot catch "
               "up from the log and stops applying (not ready); restart it: it then restores "
               "the cluster's snapshot and replays the log after it",
               (unsigned long long)c->taken + 1, (unsigned long long)first - 1,
               c->cfg.cluster_stream);
  c->halted = true;
  atomic_store(&c->halted_flag, true);
  return true;
}

static void on_inbox(uv_async_t *h) {
  rg_replica_t *c = h->data;
  pthread_mutex_lock(&c->lock);
  in_item_t *it = c->in_head;
  c->in_head = c->in_tail = NULL;
  pthread_mutex_unlock(&c->lock);
  bool gap = false;
  for (in_item_t *next; it; it = next) {
    next = it->next;
    pub_t *p;
    if (it->kind == IN_ACK && (p = pub_find(c, it->pub_id))) {
      p->seq = it->seq;
    } else if (it->kind == IN_FAILED && (p = pub_find(c, it->pub_id))) {
      snprintf(p->why, sizeof p->why, "%s", it->why); /* e.g. no stream leader yet */
      p->retry_at_ms = uv_now(c->loop) + REPUBLISH_MS;
    } else if (it->kind == IN_GENERATION) {
      rg__cluster_gen_arrived(c, it); /* takes the reader */
    } else if (it->kind == IN_ENTRY && !c->stopped && !c->halted) {
      if (it->seq == c->taken + 1)
        apply_entry(c, it->seq, it->data, it->len);
      else if (it->seq > c->taken + 1 && !gap && !log_gone(c)) {
        gap = true; /* lost in flight: the consumer starts again after what was taken */
        if (rg_log_limit_take(&c->gap_log, rg_clock_now(), 2))
          rg_log_warn("cluster: entry %llu arrived after %llu: fetching again",
                      (unsigned long long)it->seq, (unsigned long long)c->taken);
      }
    }
    free(it);
  }
  deliver(c);
  if (gap) {
    /* the consumer restarts after `applied`; entries in the writer are skipped as taken */
    atomic_store(&c->reset, true);
  }
}

/* Queues a copy of the write's entry to the publisher thread. 0 or RG_ENOMEM. */
static int publish(rg_replica_t *c, pub_t *p) {
  out_item_t *o = malloc(sizeof *o + p->entry_len);
  if (!o) return RG_ENOMEM;
  o->next = NULL;
  o->len = p->entry_len;
  memcpy(o->data, p->entry, p->entry_len);
  pthread_mutex_lock(&c->lock);
  if (c->out_tail)
    c->out_tail->next = o;
  else
    c->out_head = o;
  c->out_tail = o;
  pthread_cond_broadcast(&c->wake);
  pthread_mutex_unlock(&c->lock);
  return RG_OK;
}

/* Each SWEEP_MS: writes JetStream refused are published again (the same message id: the
 * stream keeps one copy), and those that waited cluster.read_wait end with an error. */
static uint64_t lag_now(rg_replica_t *c, uint64_t *seconds);

static void on_sweep(uv_timer_t *t) {
  rg_replica_t *c = t->data;
  uint64_t now = uv_now(c->loop), behind, lag = lag_now(c, &behind);
  char msg[400];
  rg__cluster_gen_metrics(c, lag, behind);
  /* the stream dropped what comes next while nothing was fetched (no entry shows the gap) */
  if (!c->stopped && atomic_load(&c->fetched) <= c->taken) log_gone(c);
  for (pub_t *p = c->pubs_head, *next; p && p->deadline_ms <= now; p = next) {
    next = p->next;
    if (p->submitted || p->finished) continue;
    atomic_fetch_add(&c->timeouts, 1);
    p->retry_at_ms = 0;
    if (p->seq) {
      snprintf(msg, sizeof msg,
               "in the log as sequence %llu but not applied here within cluster.read_wait; it "
               "will be: do not resend",
               (unsigned long long)p->seq);
      pub_fail(p, RG_ENOT_APPLIED, msg);
    } else {
      snprintf(msg, sizeof msg,
               "JetStream did not acknowledge the write within cluster.read_wait%s%s%s; it "
               "may or may not be in the log: resend it",
               p->why[0] ? " (" : "", p->why, p->why[0] ? ")" : "");
      pub_fail(p, RG_EUNAVAILABLE, msg);
    }
  }
  for (pub_t *p = c->pubs_head; p; p = p->next)
    if (!p->submitted && !p->finished && p->retry_at_ms && p->retry_at_ms <= now &&
        publish(c, p) == RG_OK)
      p->retry_at_ms = 0;
  deliver(c);
}

/* ---- the front: client writes -------------------------------------------------------- */

bool rg_cluster_takes(const rg_request_t *req) {
  switch (req->op) {
    case RG_OP_INGEST:
    case RG_OP_LABEL:
    case RG_OP_FORGET:
    case RG_OP_UNLABEL: return true;
    case RG_OP_LABEL_CLUSTER: return !req->dry_run;
    default: return false;
  }
}

static int refuse(rg_replica_t *c, const rg_request_t *req, rg_buf_t *out, int code,
                  const char *msg) {
  rg_metrics_error(rg_engine_metrics(c->engine), code);
  return rg_proto_write_error(out, req->has_id, req->id, code, msg[0] ? msg : NULL);
}

int rg_cluster_write(rg_replica_t *c, const uint8_t *body, uint32_t len, const rg_request_t *req,
                     rg_buf_t *out, rg_write_done_fn done, void *ctx, rg_write_t **pending) {
  *pending = NULL;
  char msg[200] = "";
  atomic_fetch_add(&rg_engine_metrics(c->engine)->requests[req->op], 1);
  if (c->stopped) return refuse(c, req, out, RG_ESHUTTING_DOWN, "");
  rg_request_t r = *req;
  r.now = rg_clock_now();
  rg_write_t *w;
  /* label_cluster goes into the log as the label write it comes to here (the guard run on
   * the generation this replica serves): the others may serve another generation yet */
  rg_buf_t labels;
  rg_buf_init(&labels, c->limits.max_frame_bytes); /* as a client's frame */
  int rc = req->op == RG_OP_LABEL_CLUSTER
               ? rg_engine_expand_label_cluster(c->engine, &r, &c->limits, &labels, &w, msg,
                                                sizeof msg)
               : rg_engine_write_prepare(c->engine, &r, &w, msg, sizeof msg);
  if (!rc && req->op == RG_OP_LABEL_CLUSTER) {
    body = labels.data;
    len = (uint32_t)labels.len;
  }
  int64_t max = atomic_load(&c->max_payload);
  if (max <= 0) max = 1 << 20; /* NATS's default, until connected */
  if (!rc && (int64_t)len + ENTRY_HEAD > max) {
    rg_engine_finish_write(w, NULL);
    rc = RG_ETOO_LARGE;
    snprintf(msg, sizeof msg, "the write (%u bytes%s) exceeds NATS's max_payload (%lld)", len,
             req->op == RG_OP_LABEL_CLUSTER ? " as the labels of the cluster's members" : "",
             (long long)max);
  }
  if (rc) {
    rg_buf_free(&labels);
    return refuse(c, req, out, rc, msg);
  }
  pub_t *p = calloc(1, sizeof *p);
  uint8_t *entry = malloc(ENTRY_HEAD + (size_t)len);
  if (!p || !entry) {
    rg_buf_free(&labels);
    free(p);
    free(entry);
    rg_engine_finish_write(w, NULL);
    return refuse(c, req, out, RG_ENOMEM, "");
  }
  *p = (pub_t){.cluster = c,
               .id = ++c->next_pub,
               .w = w,
               .done = done,
               .ctx = ctx,
               .deadline_ms = uv_now(c->loop) + c->cfg.cluster_read_wait_s * 1000,
               .entry = entry,
               .entry_len = ENTRY_HEAD + len};
  entry[0] = ENTRY_VERSION;
  rg_put_u64be(entry + 1, (uint64_t)r.now);
  rg_put_u64be(entry + 9, c->origin);
  rg_put_u64be(entry + 17, p->id);
  memcpy(entry + ENTRY_HEAD, body, len);
  rg_buf_free(&labels);
  if (publish(c, p) != RG_OK) {
    rg_engine_finish_write(w, NULL);
    free(entry);
    free(p);
    return refuse(c, req, out, RG_ENOMEM, "");
  }
  p->prev = c->pubs_tail;
  if (c->pubs_tail)
    c->pubs_tail->next = p;
  else
    c->pubs_head = p;
  c->pubs_tail = p;
  *pending = w;
  return RG_OK;
}

/* ---- stats ---------------------------------------------------------------------------- */

/* Entries in the stream not applied here, and with some: seconds since the last one taken
 * was published. */
static uint64_t lag_now(rg_replica_t *c, uint64_t *seconds) {
  uint64_t applied = atomic_load(&c->applied), head = atomic_load(&c->head);
  uint64_t lag = head > applied ? head - applied : 0;
  int64_t behind = lag ? rg_clock_now() - atomic_load(&c->taken_at) : 0;
  *seconds = behind > 0 ? (uint64_t)behind : 0;
  return lag;
}

static void write_stats(void *ctx, rg_wr_t *wr) {
  rg_replica_t *c = ctx;
  uint64_t applied = atomic_load(&c->applied), head = atomic_load(&c->head);
  bool connected = atomic_load(&c->connected);
  /* the head as read lately: without a stream leader (no NATS quorum) it cannot be read */
  bool have_head = atomic_load(&c->have_head) &&
                   rg_clock_mono_us() / 1000 - atomic_load(&c->head_at_ms) <= HEAD_FRESH_MS;
  uint64_t behind, lag = lag_now(c, &behind);
  rg_wr_map(wr, 17 + RG__CLUSTER_GEN_STATS);
  rg__cluster_gen_stats(c, wr);
  rg_wr_str(wr, "node"), rg_wr_str(wr, c->cfg.cluster_node);
  rg_wr_str(wr, "stream"), rg_wr_str(wr, c->cfg.cluster_stream);
  rg_wr_str(wr, "connected"), rg_wr_bool(wr, connected);
  rg_wr_str(wr, "applied_seq"), rg_wr_uint(wr, applied);
  rg_wr_str(wr, "stream_first_seq"), rg_wr_uint(wr, atomic_load(&c->first));
  rg_wr_str(wr, "stream_last_seq"), rg_wr_uint(wr, head);
  rg_wr_str(wr, "lag"), rg_wr_uint(wr, lag);
  rg_wr_str(wr, "lag_seconds"), rg_wr_uint(wr, behind);
  rg_wr_str(wr, "ready");
  rg_wr_bool(wr, connected && have_head && atomic_load(&c->consuming) && !c->halted &&
                     lag <= c->cfg.cluster_max_lag);
  rg_wr_str(wr, "halted"), rg_wr_bool(wr, c->halted);
  rg_wr_str(wr, "waiting_writes");
  uint64_t waiting = 0;
  for (pub_t *p = c->pubs_head; p; p = p->next) waiting++;
  rg_wr_uint(wr, waiting);
  rg_wr_str(wr, "published"), rg_wr_uint(wr, atomic_load(&c->published));
  rg_wr_str(wr, "publish_failed"), rg_wr_uint(wr, atomic_load(&c->publish_failed));
  rg_wr_str(wr, "timeouts"), rg_wr_uint(wr, atomic_load(&c->timeouts));
  rg_wr_str(wr, "entries_applied"), rg_wr_uint(wr, atomic_load(&c->applied_entries));
  rg_wr_str(wr, "entries_refused"), rg_wr_uint(wr, atomic_load(&c->refused_entries));
  rg_wr_str(wr, "consumer_starts"), rg_wr_uint(wr, atomic_load(&c->resets));
}

/* ---- life cycle ----------------------------------------------------------------------- */

int rg_cluster_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t *e, rg_replica_t **out,
                    char *err, size_t errlen) {
  *out = NULL;
  rg_replica_t *c = calloc(1, sizeof *c);
  if (!c) return RG_ENOMEM;
  c->cfg = *cfg;
  c->loop = loop;
  c->engine = e;
  c->limits = (rg_proto_limits_t){cfg->max_frame_bytes, cfg->max_batch_items, cfg->max_recipients,
                                  cfg->max_depth, cfg->max_string_bytes};
  snprintf(c->subject, sizeof c->subject, "%s.writes", cfg->cluster_stream);
  snprintf(c->durable, sizeof c->durable, "rg-%s", cfg->cluster_node);
  randombytes_buf(&c->origin, sizeof c->origin);
  uint64_t seq;
  int rc = rg_engine_log_seq(e, &seq);
  if (rc) {
    snprintf(err, errlen, "cannot read the applied log sequence: %s", rg_strerror(rc));
    free(c);
    return rc;
  }
  c->taken = seq;
  atomic_store(&c->applied, seq);
  atomic_store(&c->fetched, seq);
  atomic_store(&c->taken_at, rg_clock_now()); /* lag_seconds before the first entry: since start */
  if ((rc = rg__cluster_gen_open(c, err, errlen))) {
    free(c);
    return rc;
  }
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->wake, NULL);
  if (nats_Open(-1) != NATS_OK) {
    snprintf(err, errlen, "cannot initialise the NATS library");
    goto fail;
  }
  uv_async_init(loop, &c->async, on_inbox);
  uv_timer_init(loop, &c->sweep);
  c->async.data = c->sweep.data = c;
  uv_timer_start(&c->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  bool pub_ok = pthread_create(&c->publisher, NULL, rg__cluster_publisher_main, c) == 0;
  bool con_ok = pub_ok && pthread_create(&c->consumer, NULL, rg__cluster_consumer_main, c) == 0;
  bool gen_ok =
      con_ok && pthread_create(&c->generations, NULL, rg__cluster_generations_main, c) == 0;
  if (!gen_ok) {
    if (pub_ok) {
      pthread_mutex_lock(&c->lock);
      c->stopping = true;
      pthread_cond_broadcast(&c->wake);
      pthread_mutex_unlock(&c->lock);
      pthread_join(c->publisher, NULL);
      if (con_ok) pthread_join(c->consumer, NULL);
    }
    rg_engine_set_recompute_hooks(e, NULL, NULL, NULL);
    c->stopped = true;
    uv_close((uv_handle_t *)&c->async, NULL);
    uv_close((uv_handle_t *)&c->sweep, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    nats_Close();
    snprintf(err, errlen, "cannot start the cluster threads");
    goto fail;
  }
  rg_engine_set_stats_hook(e, write_stats, c);
  rg_log_info("cluster: node %s, stream %s (R%u) on %s; applied up to sequence %llu",
              cfg->cluster_node, cfg->cluster_stream, cfg->cluster_replicas, cfg->cluster_nats,
              (unsigned long long)seq);
  if ((cfg->cluster_stream_max_age_s || cfg->cluster_stream_max_bytes) &&
      (!cfg->recompute_interval_s || (cfg->cluster_stream_max_age_s &&
                                      cfg->recompute_interval_s >= cfg->cluster_stream_max_age_s)))
    rg_log_warn("cluster: the stream drops entries (cluster.stream_max_age %llus, "
                "stream_max_bytes %llu) and snapshots follow the leader's generations, but "
                "recompute.interval is %llus: recompute (e.g. a scheduled repgraph recompute) "
                "more often than the age limit, or a replica that falls behind cannot catch up",
                (unsigned long long)cfg->cluster_stream_max_age_s,
                (unsigned long long)cfg->cluster_stream_max_bytes,
                (unsigned long long)cfg->recompute_interval_s);
  *out = c;
  return RG_OK;
fail:
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->wake);
  free(c);
  return RG_EINTERNAL;
}

void rg_cluster_stop(rg_replica_t *c) {
  if (!c || c->stopped) return;
  pthread_mutex_lock(&c->lock);
  c->stopping = true;
  pthread_cond_broadcast(&c->wake);
  pthread_mutex_unlock(&c->lock);
  pthread_join(c->publisher, NULL);
  pthread_join(c->consumer, NULL);
  pthread_join(c->generations, NULL);
  rg_engine_set_recompute_hooks(c->engine, NULL, NULL, NULL);
  if (c->packing) uv_cancel((uv_req_t *)&c->pack_work); /* running: it ends on the pool */
  if (c->snapping) uv_cancel((uv_req_t *)&c->snap_work);
  pthread_mutex_lock(&c->lock);
  natsConnection *nc = c->nc;
  jsCtx *js = c->js;
  c->nc = NULL, c->js = NULL;
  pthread_mutex_unlock(&c->lock);
  if (nc) natsConnection_Close(nc); /* acks in flight are not waited for */
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  nats_CloseAndWait(2000); /* no nats.c thread calls on_pub_ack after this */
  on_inbox(&c->async);     /* the acks that came: a waiting write knows its sequence */
  pthread_mutex_lock(&c->lock);
  c->stopped = true;
  pthread_mutex_unlock(&c->lock);
  for (pub_t *p = c->pubs_head, *next; p; p = next) {
    next = p->next;
    if (p->submitted || p->finished) continue;
    char msg[200];
    if (p->seq)
      snprintf(msg, sizeof msg,
               "in the log as sequence %llu; this replica stops before applying it (it will "
               "at its next start): do not resend",
               (unsigned long long)p->seq);
    pub_fail(p, p->seq ? RG_ENOT_APPLIED : RG_ESHUTTING_DOWN,
             p->seq ? msg : "shutting down before JetStream acknowledged the write: resend it");
  }
  deliver(c);
  for (out_item_t *o = c->out_head, *next; o; o = next) next = o->next, free(o);
  c->out_head = c->out_tail = NULL;
  uv_timer_stop(&c->sweep);
  uv_close((uv_handle_t *)&c->async, NULL);
  uv_close((uv_handle_t *)&c->sweep, NULL);
  rg_engine_set_stats_hook(c->engine, NULL, NULL);
}

void rg_cluster_free(rg_replica_t *c) {
  if (!c) return;
  for (in_item_t *it = c->in_head, *next; it; it = next) {
    next = it->next;
    if (it->kind == IN_GENERATION) rg_genpack_reader_free(it->reader);
    free(it);
  }
  rg__cluster_gen_close(c);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->wake);
  free(c);
}
