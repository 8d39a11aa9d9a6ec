/* engine.h — what the server does with a decoded request: reads are answered at once from
 * an LMDB read transaction; writes are validated and normalised on the loop thread, then
 * handed to the one writer thread, which commits them in groups (group commit) and only
 * then reports them done on the loop thread. Call everything from the loop thread, except
 * where noted. */
#ifndef RG_ENGINE_H
#define RG_ENGINE_H

#include <uv.h>

#include "repgraph/buf.h"
#include "repgraph/config.h"
#include "repgraph/lookup_cache.h"
#include "repgraph/metrics.h"
#include "repgraph/proto.h"
#include "repgraph/store.h"

typedef struct rg_engine rg_engine_t;
/* A reply that completes later: a write waiting for its commit, or a recompute request
 * waiting for its job. */
typedef struct rg_write rg_write_t;

/* Called on the loop thread once a pending reply is ready (a write committed or failed, a
 * recomputation finished). */
typedef void (*rg_write_done_fn)(rg_write_t *w, void *ctx);

/* Opens the store and starts the writer thread; completions are delivered on `loop`.
 * 0 with *out owned by the caller (rg_engine_close); the store's errors otherwise, with a
 * message in err. */
int rg_engine_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t **out, char *err,
                   size_t errlen);

/* Lets the writer commit everything queued, stops it, delivers the last completions (their
 * done callbacks run now) and starts closing the engine's loop handle. Later writes are
 * refused with RG_ESHUTTING_DOWN. Idempotent. */
void rg_engine_stop(rg_engine_t *e);

/* Closes the store and frees the engine. Call after rg_engine_stop and after the loop has
 * run once more (to close the handle). Accepts NULL. */
void rg_engine_close(rg_engine_t *e);

/* Handles one request. A read (or a request rejected as a whole) is answered into `out`
 * at once: returns 0 with *pending NULL. A write is queued: returns 0 with *pending set,
 * and done(pending, ctx) runs on the loop thread after its commit; then the caller passes
 * it to rg_engine_finish_write. Returns non-zero only if `out` could not take the reply
 * (RG_ETOO_LARGE / RG_ENOMEM from the buffer). The request may be freed on return. */
int rg_engine_handle(rg_engine_t *e, const rg_request_t *req, rg_buf_t *out, rg_write_done_fn done,
                     void *ctx, rg_write_t **pending);

/* Lets the reads handled until the matching rg_engine_batch_end share one LMDB read
 * transaction (one snapshot), opened at the first read: the server brackets the requests
 * it decodes from one read of a connection. Committed writes delivered meanwhile end the
 * shared snapshot, so a read after a write still sees it. Calls may nest. */
void rg_engine_batch_begin(rg_engine_t *e);
void rg_engine_batch_end(rg_engine_t *e);

/* True for a write that commits in several transactions (a large ingest, in slices that other
 * clients' writes commit between). Requests after it on the same connection must wait for
 * it to complete, or they could commit between its slices. */
bool rg_engine_write_is_sliced(const rg_write_t *w);

/* Writes the reply of a completed write into `out` (if non-NULL) and frees it. Returns 0 or
 * the buffer's error. */
int rg_engine_finish_write(rg_write_t *w, rg_buf_t *out);

/* The engine's metrics, for the server to count connections and requests. */
rg_metrics_t *rg_engine_metrics(rg_engine_t *e);

/* The engine's cache of encoded lookup results (NULL when lookup.cache_bytes is 0), for its
 * counters; valid until rg_engine_close. */
rg_lookup_cache_t *rg_engine_lookup_cache(rg_engine_t *e);

#endif
