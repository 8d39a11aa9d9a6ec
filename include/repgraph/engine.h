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

/* A write prepared away from the loop: an ingest validated, normalised and cut into slices
 * on another thread (libuv's pool), so that a large request does not stall every other
 * connection while it is expanded. */
typedef struct {
  rg_op_t op;
  int rc;            /* 0, or why the request is refused as a whole (then write is NULL) */
  rg_write_t *write; /* the prepared write, owned until handed to rg_engine_handle_prepared */
  char msg[200];     /* the refusal's message */
  uint64_t started_us;
} rg_prepared_t;

/* True for the ops rg_engine_prepare takes (ingest). */
bool rg_engine_can_prepare(rg_op_t op);

/* Prepares a request of such an op into *p. Touches neither the store nor the loop: safe on
 * any thread while the engine is open; the request may be freed on return (the write holds
 * copies). */
void rg_engine_prepare(rg_engine_t *e, const rg_request_t *req, rg_prepared_t *p);

/* Queues a prepared write (loop thread), or answers its refusal into `out`: returns and sets
 * *pending as rg_engine_handle does for a write; *p gives up its write. */
int rg_engine_handle_prepared(rg_engine_t *e, const rg_request_t *req, rg_prepared_t *p,
                              rg_buf_t *out, rg_write_done_fn done, void *ctx,
                              rg_write_t **pending);

/* Frees a prepared write that will not be handled (its connection closed). Idempotent. */
void rg_engine_prepared_free(rg_prepared_t *p);

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

/* check's answer about one message, for front doors that are not the msgpack protocol (the
 * Postfix policy listener). Strings are copies or static. */
typedef struct {
  int verdict;            /* 0 accept, 1 tempfail, 2 quarantine, 3 reject (after check.mode) */
  int would_be;           /* the verdict before check.mode */
  double score;           /* [0,1] */
  bool known;             /* some role decided; false: nothing known, the prior */
  bool authenticated;     /* the message was an authenticated submission */
  const char *decided_by; /* the deciding role ("sender", "client_ip", ...), or NULL */
  char reason[160];       /* words an SMTP reply may carry; "" when nothing decided */
  uint64_t generation;    /* the generation it was weighed in; 0 = none yet */
} rg_check_verdict_t;

/* Weighs one message like the check op (sender, client IP, HELO, rdns, recipients, ts of o)
 * into *v. 0; RG_EINVALID_ACTOR (no usable sender or client IP, or a recipient that is not an
 * address) with why in msg; RG_ENOMEM or a store error. Loop thread. */
int rg_engine_check(rg_engine_t *e, const rg_wire_observation_t *o, rg_check_verdict_t *v,
                    char *msg, size_t msglen);

/* "accept", "tempfail", "quarantine" or "reject" for a verdict of rg_check_verdict_t. */
const char *rg_engine_verdict_name(int verdict);

/* ---- cluster mode (cluster.c): writes applied from the replicated log ---------------- */

/* Prepares the write of req (ingest, label, forget, unlabel; taken at req->now when set)
 * without queuing it. 0 with *w owned by the caller (rg_engine_submit_logged, or
 * rg_engine_finish_write to drop it); a request refused as a whole returns its RG_E… code
 * with the reason in msg (*w NULL). Loop thread. */
int rg_engine_write_prepare(rg_engine_t *e, const rg_request_t *req, rg_write_t **w, char *msg,
                            size_t cap);

/* label_cluster (not a dry run) as the plain `label` write the log carries: the guard runs
 * now against the generation this replica serves, and the members it lets through become a
 * `label` request, written into `body` (empty, from rg_buf_init with its cap; the caller frees it) and prepared
 * into *w as rg_engine_write_prepare does, its reply that of label_cluster. `lim` decodes
 * it as the replicas will. 0, or an RG_E… code with the reason in msg (*w NULL). Loop
 * thread. */
int rg_engine_expand_label_cluster(rg_engine_t *e, const rg_request_t *req,
                                   const rg_proto_limits_t *lim, rg_buf_t *body, rg_write_t **w,
                                   char *msg, size_t cap);

/* Queues a prepared write so that the transaction that commits it also records seq as the
 * last log entry applied (rg_store_put_log_seq); done(w, ctx) runs on the loop thread after
 * (or after its failure: the write is undone with its seq). */
void rg_engine_submit_logged(rg_engine_t *e, rg_write_t *w, uint64_t seq, rg_write_done_fn done,
                             void *ctx);

/* Queues a write that only records seq: a log entry that every replica refuses as a whole.
 * done(w, ctx) runs after its commit (finish it with rg_engine_finish_write(w, NULL)).
 * 0 or RG_ENOMEM. */
int rg_engine_skip_logged(rg_engine_t *e, uint64_t seq, rg_write_done_fn done, void *ctx);

/* Marks a prepared write that will not be queued as failed with code and msg (its reply
 * is that error); the caller completes it. */
void rg_engine_write_set_error(rg_write_t *w, int code, const char *msg);

/* The write's result: 0, or the error its reply reports. */
int rg_engine_write_result(const rg_write_t *w);

/* The log sequence a write of rg_engine_submit_logged records (0 for other writes). */
uint64_t rg_engine_write_log_seq(const rg_write_t *w);

/* The last log entry applied to the store (0: none). 0 or a store error. */
int rg_engine_log_seq(rg_engine_t *e, uint64_t *seq);

/* Lets stats carry a "cluster" section: fn writes its value (one msgpack object) into wr.
 * Loop thread; fn NULL removes it. */
void rg_engine_set_stats_hook(rg_engine_t *e, void (*fn)(void *ctx, rg_wr_t *wr), void *ctx);

/* ---- cluster mode (cluster.c): one leased replica recomputes, the others adopt -------- */

/* Asked before a recomputation starts (the timer's or a request's): 0 lets it run, an RG_E…
 * code (RG_ENOT_LEADER) refuses it with msg as the request's error. */
typedef int (*rg_recompute_gate_fn)(void *ctx, char *msg, size_t cap);
/* Told after a recomputation of this engine committed generation gen. */
typedef void (*rg_generation_fn)(void *ctx, uint64_t gen);

/* Sets (or, with NULLs, removes) both. Loop thread. */
void rg_engine_set_recompute_hooks(rg_engine_t *e, rg_recompute_gate_fn gate,
                                   rg_generation_fn computed, void *ctx);

/* A recomputation numbers its generation above both the store's current one and `floor`
 * (the newest published to the cluster). Loop thread. */
void rg_engine_set_generation_floor(rg_engine_t *e, uint64_t floor);

struct rg_genpack;
struct rg_genpack_reader;

/* Packs the current generation, if it is gen, with every row as stored (genshare.c): on any
 * thread (its own read transaction). 0 with *out owned by the caller (rg_genpack_free, not
 * sealed), RG_ENOT_FOUND (gen is no longer current), RG_ENOMEM, RG_EIO. */
int rg_engine_pack_generation(rg_engine_t *e, uint64_t gen, struct rg_genpack **out);

/* Called on the loop thread when an adoption committed: rc 0 (gen is served now), or why
 * not (RG_EBAD_REQUEST: a row that does not fit; RG_ENOT_FOUND: not newer than the one
 * served, nothing written). */
typedef void (*rg_adopt_done_fn)(void *ctx, uint64_t gen, int rc);

/* Queues the adoption of the verified generation in r (rg_genpack_reader_verify; the engine
 * owns r from now and frees it): one write transaction that writes its rows, makes it current
 * and drops the generations before the one it replaces, unless the store already serves a
 * newer one, or gen itself and !replace (replace: a generation of the same number computed
 * here is replaced by the cluster's). done runs after. 0 or RG_ENOMEM (r freed, done not
 * called). Loop thread. */
int rg_engine_adopt_generation(rg_engine_t *e, uint64_t gen, struct rg_genpack_reader *r,
                               bool replace, rg_adopt_done_fn done, void *ctx);

/* The engine's metrics, for the server to count connections and requests. */
rg_metrics_t *rg_engine_metrics(rg_engine_t *e);

/* The engine's store, for readers on other threads (/metrics: read transactions only).
 * Valid until rg_engine_close. */
rg_store_t *rg_engine_store(rg_engine_t *e);

/* Takes the options of cfg that may change while serving (rg_config_reload: check.*,
 * score.*, label.*, log.*): at once, or, while a recomputation runs (its worker reads them),
 * when it finishes. Loop thread. (An ingest prepared on the pool, offload.c, reads none of
 * them: labels are prepared on the loop.) */
void rg_engine_reload(rg_engine_t *e, const rg_config_t *cfg);

/* The engine's cache of encoded lookup results (NULL when lookup.cache_bytes is 0), for its
 * counters; valid until rg_engine_close. */
rg_lookup_cache_t *rg_engine_lookup_cache(rg_engine_t *e);

/* ---- the write-ahead log of ingest (wal.enabled; engine_wal.c) ---------------------- */

/* The log sequence of an ingest acknowledged from the write-ahead log (0 for other writes:
 * they were in the store when acknowledged). Loop thread. */
uint64_t rg_engine_write_wal_seq(const rg_write_t *w);

/* True when the logged write `seq` (rg_engine_write_wal_seq) is merged into the store, so
 * reads see it; 0 is always merged; also true while merges fail (storage_full, say: a read
 * must not wait for ever). When not, a merge of what is logged starts now and the hook of
 * rg_engine_set_wal_hook runs when it (or any merge) completes. Loop thread. */
bool rg_engine_wal_merged(rg_engine_t *e, uint64_t seq);

/* fn(ctx) runs on the loop thread after each merge of the log into the store (the server
 * wakes the connections whose reads wait for their writes). fn NULL removes it. */
void rg_engine_set_wal_hook(rg_engine_t *e, void (*fn)(void *ctx), void *ctx);

#endif
