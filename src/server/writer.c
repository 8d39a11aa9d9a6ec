/* writer.c — the one writer thread: a queue, group commit, nested-transaction redo and map
 * growth (see writer.h). rg_writer_submit runs on the loop thread, apply and on_failed on
 * the writer thread, done on the loop thread again. */
#include "repgraph/writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"

struct rg_writer {
  rg_store_t *store;
  rg_writer_opts_t opts;
  uv_async_t done_async;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  rg_writer_req_t *queue_head, *queue_tail; /* waiting for the writer */
  rg_writer_req_t *done_head, *done_tail;   /* committed, waiting for the loop */
  bool stopping, stopped;
};

void rg_writer_submit(rg_writer_t *w, rg_writer_req_t *req) {
  req->queued_us = rg_clock_mono_us();
  req->result = RG_OK;
  req->next = NULL;
  if (w->opts.metrics) atomic_fetch_add(&w->opts.metrics->write_queue_depth, 1);
  pthread_mutex_lock(&w->lock);
  if (w->queue_tail)
    w->queue_tail->next = req;
  else
    w->queue_head = req;
  w->queue_tail = req;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
}

/* Applies writes [first..] in one transaction. With `nested`, each write runs in a nested
 * transaction so a failing write is undone alone. Without, all run in the one transaction
 * (nested transactions copy every page they touch: the common case should not pay that);
 * if a write fails other than by a full map, nothing is committed and *redo asks for the
 * nested way. Returns RG_ESTORAGE_FULL if the map filled (nothing committed). */
static int commit_group(rg_writer_t *w, rg_writer_req_t *first, bool nested, bool *redo) {
  rg_txn_t *t, *sub;
  *redo = false;
  int rc = rg_store_write_begin(w->store, &t);
  if (rc) return rc;
  for (rg_writer_req_t *r = first; r; r = r->next) {
    if (!nested) {
      r->result = r->apply(t, r);
      if (r->result == RG_ESTORAGE_FULL)
        rc = RG_ESTORAGE_FULL;
      else if (r->result)
        *redo = true;
      if (r->result) break;
      continue;
    }
    if ((rc = rg_store_nested_begin(t, &sub))) break;
    r->result = r->apply(sub, r);
    if (r->result == RG_OK)
      r->result = rg_store_commit(sub);
    else
      rg_store_end(sub);
    if (r->result == RG_ESTORAGE_FULL) {
      rc = RG_ESTORAGE_FULL;
      break;
    }
    if (r->result) rg_log_error("writer: %s failed: %s", r->name, rg_strerror(r->result));
  }
  if (rc || *redo) {
    rg_store_end(t);
    return rc;
  }
  return rg_store_commit(t);
}

/* One try at a group: the fast way, then the nested way if a write failed. */
static int commit_attempt(rg_writer_t *w, rg_writer_req_t *group) {
  bool redo;
  int rc = commit_group(w, group, false, &redo);
  if (rc == RG_OK && redo) rc = commit_group(w, group, true, &redo);
  return rc;
}

/* Commits a group, growing the map when it fills. When the map cannot grow any more, each
 * write is retried alone so the ones that still fit are kept; the rest get storage_full. */
static void commit_with_growth(rg_writer_t *w, rg_writer_req_t *group) {
  int rc;
  while ((rc = commit_attempt(w, group)) == RG_ESTORAGE_FULL) {
    if (rg_store_grow(w->store) == RG_OK) continue;
    if (!group->next) break;
    for (rg_writer_req_t *r = group, *next; r; r = next) {
      next = r->next;
      r->next = NULL;
      commit_with_growth(w, r);
      r->next = next;
    }
    return;
  }
  if (rc) {
    if (rc == RG_ESTORAGE_FULL) rg_log_warn("writer: store is full at store.map_max");
    for (rg_writer_req_t *r = group; r; r = r->next) r->result = rc;
  }
}

/* Takes the next group off the queue (lock held): up to max_group writes, a solo write
 * alone. Returns its last write; *n counts them. */
static rg_writer_req_t *take_group(rg_writer_t *w, uint32_t *n) {
  rg_writer_req_t *last = w->queue_head;
  *n = 1;
  while (!last->solo && last->next && !last->next->solo && *n < w->opts.max_group)
    last = last->next, (*n)++;
  w->queue_head = last->next;
  if (!w->queue_head) w->queue_tail = NULL;
  last->next = NULL;
  return last;
}

static void *writer_main(void *arg) {
  rg_writer_t *w = arg;
  rg_metrics_t *m = w->opts.metrics;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (!w->queue_head && !w->stopping) pthread_cond_wait(&w->wake, &w->lock);
    if (!w->queue_head) break;
    uint32_t n;
    rg_writer_req_t *group = w->queue_head, *last = take_group(w, &n);
    pthread_mutex_unlock(&w->lock);

    uint64_t t0 = rg_clock_mono_us();
    commit_with_growth(w, group);
    for (rg_writer_req_t *r = group; r; r = r->next)
      if (r->result && r->on_failed) r->on_failed(r);
    if (m) {
      rg_hist_add(&m->commit_latency, rg_clock_mono_us() - t0);
      atomic_fetch_add(&m->commits, 1);
      atomic_fetch_add(&m->committed_writes, n);
      rg_hist_add(&m->commit_size, n); /* writes in the group, for /metrics */
      atomic_fetch_sub(&m->write_queue_depth, n);
    }

    pthread_mutex_lock(&w->lock);
    if (w->done_tail)
      w->done_tail->next = group;
    else
      w->done_head = group;
    w->done_tail = last;
    uv_async_send(&w->done_async);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

/* Loop thread: hands committed writes back to their owners, in commit order. */
static void deliver_done(rg_writer_t *w) {
  pthread_mutex_lock(&w->lock);
  rg_writer_req_t *r = w->done_head;
  w->done_head = w->done_tail = NULL;
  pthread_mutex_unlock(&w->lock);
  if (r && w->opts.before_deliver) w->opts.before_deliver(w->opts.ctx);
  while (r) {
    rg_writer_req_t *next = r->next;
    r->next = NULL;
    r->done(r);
    r = next;
  }
}

static void on_done_async(uv_async_t *h) {
  deliver_done(h->data);
}

int rg_writer_open(rg_store_t *store, uv_loop_t *loop, const rg_writer_opts_t *opts,
                   rg_writer_t **out) {
  *out = NULL;
  rg_writer_t *w = calloc(1, sizeof *w);
  if (!w) return RG_ENOMEM;
  w->store = store;
  w->opts = *opts;
  if (!w->opts.max_group) w->opts.max_group = 1;
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->wake, NULL);
  if (uv_async_init(loop, &w->done_async, on_done_async)) goto fail;
  w->done_async.data = w;
  if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
    uv_close((uv_handle_t *)&w->done_async, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    goto fail;
  }
  *out = w;
  return RG_OK;
fail:
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->wake);
  free(w);
  return RG_EINTERNAL;
}

void rg_writer_stop(rg_writer_t *w) {
  if (!w || w->stopped) return;
  pthread_mutex_lock(&w->lock);
  w->stopping = true;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  deliver_done(w);
  uv_close((uv_handle_t *)&w->done_async, NULL);
  w->stopped = true;
}

void rg_writer_free(rg_writer_t *w) {
  if (!w) return;
  pthread_mutex_destroy(&w->lock);
  pthread_cond_destroy(&w->wake);
  free(w);
}
