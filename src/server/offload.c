/* offload.c — decoding and preparing a large frame on libuv's thread pool (offload.h).
 * The pool thread touches only the job, the engine's read-only configuration and the
 * prepare path (rg_engine_prepare), never the store, the loop or the connection. */
#include "repgraph/offload.h"

#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"

struct rg_offload {
  uv_work_t work;
  rg_engine_t *engine;
  const rg_proto_limits_t *limits;
  uint8_t *body; /* the copy the request's strings point into */
  size_t len;
  rg_request_t req;
  int rc;
  char err[256];
  bool prepared_some;
  rg_prepared_t prepared;
  rg_offload_done_fn done;
  void *ctx;
};

static void offload_work(uv_work_t *w) {
  rg_offload_t *j = w->data;
  j->rc = rg_proto_decode_request(j->body, j->len, j->limits, &j->req, j->err, sizeof j->err);
  if (j->rc == RG_OK && rg_engine_can_prepare(j->req.op)) {
    rg_engine_prepare(j->engine, &j->req, &j->prepared);
    j->prepared_some = true;
  }
}

static void offload_after(uv_work_t *w, int status) {
  rg_offload_t *j = w->data;
  if (status) { /* cancelled: never ran */
    j->rc = RG_EINTERNAL;
    snprintf(j->err, sizeof j->err, "the request's preparation was cancelled");
  }
  j->done(j, j->ctx);
}

int rg_offload_start(uv_loop_t *loop, rg_engine_t *e, const rg_proto_limits_t *limits,
                     const uint8_t *body, size_t len, rg_offload_done_fn done, void *ctx,
                     rg_offload_t **out) {
  *out = NULL;
  rg_offload_t *j = calloc(1, sizeof *j);
  if (!j || !(j->body = malloc(len ? len : 1))) {
    free(j);
    return RG_ENOMEM;
  }
  memcpy(j->body, body, len);
  j->len = len;
  j->engine = e;
  j->limits = limits;
  j->done = done;
  j->ctx = ctx;
  j->work.data = j;
  if (uv_queue_work(loop, &j->work, offload_work, offload_after) != 0) {
    free(j->body);
    free(j);
    return RG_EINTERNAL;
  }
  *out = j;
  return RG_OK;
}

int rg_offload_decoded(rg_offload_t *j, rg_request_t **req, const char **err) {
  *req = &j->req;
  *err = j->err;
  return j->rc;
}

rg_prepared_t *rg_offload_prepared(rg_offload_t *j) {
  return j->prepared_some ? &j->prepared : NULL;
}

void rg_offload_free(rg_offload_t *j) {
  if (!j) return;
  if (j->prepared_some) rg_engine_prepared_free(&j->prepared);
  rg_request_free(&j->req);
  free(j->body);
  free(j);
}
