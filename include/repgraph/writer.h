/* writer.h — the one thread that commits. Writes are queued from the loop thread; the writer
 * thread takes them in groups, applies each through its own `apply` callback inside one LMDB
 * write transaction (group commit), redoes a group write by write in nested transactions
 * when one of them fails, grows the map when it fills, and hands the committed writes back
 * to the loop thread (uv_async), where each write's `done` runs. The writer knows no op:
 * what a write does is in its callbacks (the libuv way: a request struct whose head is this
 * one, embedded first in the caller's own struct). */
#ifndef RG_WRITER_H
#define RG_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "repgraph/metrics.h"
#include "repgraph/store.h"

typedef struct rg_writer rg_writer_t;
typedef struct rg_writer_req rg_writer_req_t;

/* Writer thread: applies the write inside t. 0, or an error that undoes this write alone
 * (RG_ESTORAGE_FULL makes the writer grow the map and retry). */
typedef int (*rg_writer_apply_fn)(rg_txn_t *t, rg_writer_req_t *req);
/* Writer thread: the write failed for good (req->result says why); may be NULL. */
typedef void (*rg_writer_failed_fn)(rg_writer_req_t *req);
/* Loop thread: the write committed (req->result 0) or failed; the request is the caller's
 * again. */
typedef void (*rg_writer_done_fn)(rg_writer_req_t *req);

/* The head of a queued write. Fill apply, done, name (and on_failed, solo, data) before
 * rg_writer_submit; the writer owns the rest. */
struct rg_writer_req {
  rg_writer_apply_fn apply;
  rg_writer_failed_fn on_failed;
  rg_writer_done_fn done;
  const char *name; /* for the log, e.g. "ingest" */
  void *data;       /* the caller's */
  bool solo;        /* commit in a transaction of its own (large writes) */
  bool narrow;      /* apply changes only actor records, edges and labels (rg_store_set_narrow) */
  int result;       /* set by the writer: 0 or RG_E… */
  uint64_t queued_us;
  rg_writer_req_t *next; /* the writer's */
};

typedef struct {
  uint32_t max_group;    /* writes per commit at most (>= 1) */
  rg_metrics_t *metrics; /* commits, writes, queue depth, commit latency; may be NULL */
  /* Loop thread, before a batch of completions is delivered (e.g. to drop a read snapshot
   * so later reads see the commits); may be NULL. */
  void (*before_deliver)(void *ctx);
  void *ctx;
} rg_writer_opts_t;

/* Starts the writer thread for `store`; completions are delivered on `loop`. 0 with *out
 * owned by the caller (rg_writer_stop, then rg_writer_free), RG_EINTERNAL if the thread or
 * the loop handle cannot start, RG_ENOMEM. */
int rg_writer_open(rg_store_t *store, uv_loop_t *loop, const rg_writer_opts_t *opts,
                   rg_writer_t **out);

/* Queues a write (loop thread). The writer owns req until its done callback. */
void rg_writer_submit(rg_writer_t *w, rg_writer_req_t *req);

/* Commits everything queued, stops the thread, delivers the last completions (their done
 * callbacks run now) and starts closing the loop handle. Idempotent. */
void rg_writer_stop(rg_writer_t *w);

/* Frees the writer after rg_writer_stop and one more turn of the loop. Accepts NULL. */
void rg_writer_free(rg_writer_t *w);

#endif
