/* offload.h — a large frame decoded and its write prepared on libuv's thread pool, so that
 * expanding one big ingest (a 15 MB request is about a million edges) does not stall every
 * other connection on the loop. The connection waits for the job, then hands the result to
 * the engine on the loop thread, in order. */
#ifndef RG_OFFLOAD_H
#define RG_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "repgraph/engine.h"
#include "repgraph/proto.h"

typedef struct rg_offload rg_offload_t;

/* Called on the loop thread when the job is done. */
typedef void (*rg_offload_done_fn)(rg_offload_t *job, void *ctx);

/* Copies the frame body (len bytes) and queues its decoding — and, for an op the engine can
 * prepare (rg_engine_can_prepare), its preparation — on the loop's thread pool; done(job,
 * ctx) runs on the loop thread afterwards. The engine and limits must outlive the job.
 * 0 with *out owned by the caller (rg_offload_free, after done); RG_ENOMEM or RG_EINTERNAL. */
int rg_offload_start(uv_loop_t *loop, rg_engine_t *e, const rg_proto_limits_t *limits,
                     const uint8_t *body, size_t len, rg_offload_done_fn done, void *ctx,
                     rg_offload_t **out);

/* The job's outcome, valid until rg_offload_free: the decoder's return code and message,
 * the decoded request, and the prepared write (NULL when the op is not prepared off the loop,
 * or the request did not decode). The caller may take the prepared write (it is freed with
 * the job otherwise). */
int rg_offload_decoded(rg_offload_t *job, rg_request_t **req, const char **err);
rg_prepared_t *rg_offload_prepared(rg_offload_t *job);

/* Frees the job, its copy of the frame, the request and a prepared write not taken. NULL ok. */
void rg_offload_free(rg_offload_t *job);

#endif
