/* engine_internal.h — what engine.c (ops, the writer) and recompute.c (recomputation)
 * share. Not a public header: names are rg__. */
#ifndef RG_ENGINE_INTERNAL_H
#define RG_ENGINE_INTERNAL_H

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#include "repgraph/compute.h"
#include "repgraph/engine.h"
#include "repgraph/snapshot.h"

typedef struct rg_recompute rg_recompute_t;

/* What a publishing step of a recomputation does (rg_write_t.publish). */
typedef enum {
  RG__PUBLISH_NONE = 0,
  RG__PUBLISH_CLEAR, /* delete leftovers of the generation being written */
  RG__PUBLISH_ROWS,  /* write scores and clusters [from, to) */
  RG__PUBLISH_INDEX, /* append member and ranking index rows [from, to), in key order */
  RG__PUBLISH_FLIP,  /* make the generation current */
  RG__PUBLISH_DROP   /* delete the generation before last */
} rg__publish_t;

/* Outcome of the last finished recomputation, for status and replies. */
typedef struct {
  uint64_t job, generation;
  int rc;
  char error[200];
  int64_t started_at, finished_at;
  uint64_t vertices, edges, clusters;
  rg_compute_timing_t timing;
  double load_ms, publish_ms, total_ms;
} rg__recompute_summary_t;

struct rg_write {
  rg_engine_t *engine;
  rg_op_t op;
  bool has_id;
  uint64_t id;
  rg_buf_t keys; /* packed identifiers and notes */
  struct job_actor *actors;
  uint32_t n_actors, cap_actors;
  uint32_t *actor_slots; /* hash of actors (index + 1, 0 free): each is stored once */
  uint32_t n_slots;
  struct job_edge *edges;
  uint32_t n_edges, cap_edges;
  struct job_label *labels;
  uint32_t n_labels;
  struct reject *rejects;
  uint32_t n_rejects, n_rejected;
  uint32_t accepted;  /* items accepted */
  uint32_t forgotten; /* forget: actors that existed; unlabel: labels retracted */
  uint64_t cluster, generation; /* label_cluster */
  int64_t unlabel_ts;           /* unlabel: time and note of the retraction */
  uint32_t note_off;
  uint16_t note_len;
  int result;         /* commit outcome: 0 or RG_E… */
  uint64_t queued_us;
  bool solo;          /* committed in a transaction of its own (large publishing steps) */
  rg__publish_t publish;
  rg_recompute_t *recompute;
  uint64_t from, to;
  rg__recompute_summary_t summary; /* recompute replies */
  bool started;                    /* recompute reply: a new job was started */
  rg_write_done_fn done;
  void *ctx;
  rg_write_t *next;
};

struct rg_engine {
  rg_config_t cfg;
  uint8_t actor_hash_key[crypto_shorthash_KEYBYTES]; /* random per engine (actor_hash) */
  rg_store_t *store;
  rg_metrics_t metrics;
  uv_loop_t *loop;
  uv_async_t done_async;
  pthread_t writer;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  rg_write_t *queue_head, *queue_tail; /* waiting for the writer */
  rg_write_t *done_head, *done_tail;   /* committed, waiting for the loop */
  bool stopping, stopped, writer_started;
  /* reads between rg_engine_batch_begin and _end share this transaction (loop thread) */
  rg_txn_t *batch_txn;
  unsigned batch_depth;
  /* recomputation (loop thread) */
  uv_timer_t recompute_timer;
  rg_recompute_t *running;
  uint64_t next_job;
  rg__recompute_summary_t last;
  uint64_t recomputes_ok, recomputes_failed;
};

/* A zeroed write of `op` owned by the caller (rg__write_free). NULL on no memory. */
rg_write_t *rg__write_new(rg_engine_t *e, rg_op_t op);
void rg__write_free(rg_write_t *w);

/* Queues a write for the writer thread (loop thread). */
void rg__engine_enqueue(rg_engine_t *e, rg_write_t *w);

/* The server's actor.* options (case folding, sub-address separators), set from the config
 * by rg_engine_open before any request; read by rg__actor_from_wire. One engine per process. */
extern rg_actor_opts_t rg__actor_opts;

/* Normalises a "type:identifier" (typed) or a bare identifier of `type` with rg__actor_opts.
 * 0, or RG_EINVALID_ACTOR with "<field>: <reason>" in msg (client bytes escaped). */
int rg__actor_from_wire(rg_str_t s, bool typed, rg_actor_type_t type, const char *field,
                        rg_actor_t *out, char *msg, size_t cap);

/* The current generation (in *g, returned), or NULL before the first recomputation or on a
 * store error (*rc set). */
const rg_generation_t *rg__current_generation(rg_txn_t *t, rg_generation_t *g, int *rc);

/* timeref.c ------------------------------------------------------------------------- */

/* The time an ingested item (or a check) is taken at: `now` when ts is 0 (not given); ts when
 * it is at most cfg.max_future_skew_s ahead of now; otherwise now, counted in
 * metrics.ts_clamped. Any thread. */
int64_t rg__item_ts(rg_engine_t *e, int64_t ts, int64_t now);

/* The time a recomputation started at `now` decays weights and measures ages to: now with
 * graph.reference_time = now; with newest, the latest time an edge was written at
 * (rg_store_newest_edge_ts: traffic, not labels) when that is older than now (a replayed
 * archive), else now. Store errors are logged and give now. Any thread (own read txn). */
int64_t rg__reference_time(rg_engine_t *e, int64_t now);

/* analyst.c -------------------------------------------------------------------------- */

/* Answers clusters, top, neighbors, export and history into wr from one read transaction.
 * 0, or an error with a message in msg (RG_EBAD_REQUEST, RG_EINVALID_ACTOR, RG_ENOT_FOUND,
 * store errors). */
int rg__analyst_handle(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr, char *msg, size_t cap);

/* recompute.c ------------------------------------------------------------------------ */

/* Sets up the recompute timer (interval from the config; 0 leaves it off). */
int rg__recompute_init(rg_engine_t *e);

/* Cancels a running computation and closes the timer; at engine stop. */
void rg__recompute_stop(rg_engine_t *e);

/* Handles the recompute op: starts a job (or finds the running one); with wait, *pending is
 * a write that completes when the job does. Same contract as rg_engine_handle. */
int rg__recompute_request(rg_engine_t *e, const rg_request_t *req, rg_buf_t *out,
                          rg_write_done_fn done, void *ctx, rg_write_t **pending);

/* Writes the reply of a recompute request into wr. */
void rg__recompute_reply(rg_wr_t *wr, const rg_write_t *w);

/* Writes the status op's reply. */
void rg__recompute_status(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr);

/* Writer thread: applies one publishing step inside transaction t. */
int rg__recompute_apply(rg_txn_t *t, rg_write_t *w);

/* Writer thread: a publishing step failed for good; later steps must not flip. */
void rg__recompute_step_failed(rg_write_t *w);

#endif
