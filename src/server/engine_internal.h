/* engine_internal.h — what the engine's modules share: the engine itself, a pending reply
 * (rg_write_t), and each module's entry points. Calls point one way:
 *   engine.c (dispatch, life cycle)
 *     → ingest.c, lookup.c, check.c, stats.c, analyst.c, recompute.c (the ops)
 *       → writer.c (the one writer thread) → store
 * where ingest, check and analyst also use lookup.c's read helpers. Not a public header:
 * names are rg__. Everything here runs on the loop thread unless it says otherwise. */
#ifndef RG_ENGINE_INTERNAL_H
#define RG_ENGINE_INTERNAL_H

#include <sodium.h>

#include "repgraph/compute.h"
#include "repgraph/engine.h"
#include "repgraph/pseudonym.h"
#include "repgraph/model.h"
#include "repgraph/lookup_cache.h"
#include "repgraph/writer.h"

typedef struct rg_recompute rg_recompute_t;

/* A reply that completes later: a client write (ingest.c) going through the writer, or a
 * recompute request waiting for its job (recompute.c). Each embeds this first and sets the
 * callbacks; rg_engine_finish_write answers from it and frees it. */
struct rg_write {
  rg_writer_req_t head; /* head.result: 0 or the error the reply reports */
  rg_engine_t *engine;
  rg_op_t op;
  bool has_id;
  uint64_t id;
  uint64_t started_us;
  bool sliced; /* commits in several transactions (rg_engine_write_is_sliced) */
  char error[200]; /* a failure's message; "" for the code's own text */
  rg_write_done_fn done;
  void *ctx;
  void (*reply)(const rg_write_t *w, rg_wr_t *wr); /* the success reply */
  void (*free)(rg_write_t *w);
  /* cluster mode (rg_engine_submit_logged): the log entry's sequence, committed with it,
   * and the write's own apply, which runs first */
  uint64_t log_seq;
  rg_writer_apply_fn log_apply;
  /* wal.enabled (engine_wal.c): the log sequence of an ingest acknowledged from the log (0:
   * not logged), and whether the write goes through the log */
  uint64_t wal_seq;
  bool wal_logged, wal_barrier;
};

/* Outcome of the last finished recomputation, for status and replies. */
typedef struct {
  uint64_t job, generation;
  int rc;
  char error[200];
  int64_t started_at, finished_at;
  uint64_t vertices, edges, clusters;
  rg_compute_timing_t timing;
  double load_ms, publish_ms, total_ms;
  rg_model_eval_t model; /* the job's model stage (state off when it did not run) */
  char model_note[160];
} rg__recompute_summary_t;

struct rg_engine {
  rg_config_t cfg;
  rg_store_t *store;
  rg_metrics_t metrics;
  uv_loop_t *loop;
  rg_writer_t *writer;
  bool stopping, stopped;
  /* ingest.c: random per engine, keys the hash of a write's actors */
  uint8_t actor_hash_key[crypto_shorthash_KEYBYTES];
  rg_actor_opts_t actor_opts; /* actor.*: case folding, sub-address separators */
  /* lookup.c: reads between rg_engine_batch_begin and _end share this transaction */
  rg_txn_t *batch_txn;
  unsigned batch_depth;
  /* recompute.c */
  uv_timer_t recompute_timer;
  rg_recompute_t *running;
  uint64_t next_job;
  rg__recompute_summary_t last;
  uint64_t recomputes_ok, recomputes_failed;
  rg_pseudonym_t *pseudonym; /* store.pseudonymise: the key the store interns with; or NULL */
  rg_config_t *reload_pending; /* rg_engine_reload while a job ran: applied when it ends */
  /* backup.c, retention.c: their state (NULL until their init) */
  struct rg__backup *backup;
  struct rg__retention *retention;
  /* lookup.c: encoded lookup results (NULL: lookup.cache_bytes = 0); before_deliver in
   * engine.c ends those the delivered commits changed (rg_store_take_touched) */
  rg_lookup_cache_t *lookup_cache;
  /* cluster mode: stats' "cluster" section (rg_engine_set_stats_hook); NULL = none */
  void (*stats_hook)(void *ctx, rg_wr_t *wr);
  void *stats_hook_ctx;
  /* engine_wal.c: the write-ahead log of ingest (NULL when wal.enabled = 0) */
  struct rg__wal *wal;
  /* cluster mode: who may recompute, who hears of a new generation (recompute.c) */
  rg_recompute_gate_fn recompute_gate;
  rg_generation_fn on_generation;
  void *recompute_hook_ctx;
  uint64_t generation_floor;
};

/* engine.c --------------------------------------------------------------------------- */

/* Queues a prepared client write (w->head.apply set) to the writer. When it has committed,
 * w->head.done runs; left NULL, that completes the write (w->done runs). */
void rg__engine_submit(rg_engine_t *e, rg_write_t *w);

/* Completes a write: counts its latency and hands it to its owner (w->done). */
void rg__engine_complete(rg_write_t *w);

/* Applies a reload that waited for the recomputation (rg_engine_reload); recompute.c calls
 * it when a job ends. */
void rg__engine_apply_reload(rg_engine_t *e);

/* engine_wal.c ----------------------------------------------------------------------- */

/* At open, before the writer starts: replays the records of <data_dir>/wal after the store's
 * merged position (whether or not wal.enabled: a log left by a crash is never skipped),
 * then with wal.enabled opens the log. 0 or an error with a message in err. */
int rg__wal_open(rg_engine_t *e, char *err, size_t errlen);

/* Queues a client write: an ingest goes to the log (acknowledged once durable), any other
 * write to the writer after the logged ingests before it are merged. Without the log,
 * rg__engine_submit. */
void rg__wal_submit(rg_engine_t *e, rg_write_t *w);

/* A client write completed (rg__engine_complete); barrier: it was a write of another kind
 * that logged ingests waited behind (w->wal_barrier). */
void rg__wal_completed(rg_engine_t *e, bool barrier);

/* fn(ctx, true) runs on the loop once every ingest logged so far is merged into the store
 * (a merge starts now); fn(ctx, false) if the engine stops first. Returns 0 (fn will run),
 * 1 when nothing waits (fn does not run: go on at once; also without the log) or
 * RG_ENOMEM. */
int rg__wal_when_merged(rg_engine_t *e, void (*fn)(void *ctx, bool merged), void *ctx);

/* At engine stop, before the writer stops: syncs what is logged, queues a last merge of
 * it, and stops the log. Then rg__wal_free after the loop has turned. */
void rg__wal_stop(rg_engine_t *e);
void rg__wal_free(rg_engine_t *e);

/* Writes the stats op's "wal" value (a map; enabled false and zeros when off). */
void rg__wal_stats(rg_engine_t *e, rg_wr_t *wr);

/* ingest.c --------------------------------------------------------------------------- */

/* Members of a cluster the label_cluster guard did not label. */
typedef struct {
  uint64_t labelled;   /* labelled the other way */
  uint64_t reputation; /* scored on the other side of the threshold */
  uint64_t forgotten;  /* forgotten since the recomputation */
} rg__guard_skips_t;

/* Makes a prepared label write (rg__label_cluster_expand's) reply as label_cluster does:
 * with the members the guard skipped, s. */
void rg__ingest_reply_skips(rg_write_t *w, const rg__guard_skips_t *s);

/* Builds the write of an ingest, label, forget or unlabel request; items that
 * fail validation become rejects in its reply. 0 with *out owned by the caller (submit it,
 * or w->free); a request refused as a whole gets an RG_E… code with its reason in msg. */
int rg__ingest_prepare(rg_engine_t *e, const rg_request_t *req, rg_write_t **out, char *msg,
                       size_t cap);

/* Reads a label's verdict, source, weight (the source's configured default when not given)
 * and time (now when not given) from the wire; not its note. 0 or RG_EINVALID_LABEL with a
 * message in msg. */
int rg__label_parse(rg_engine_t *e, const rg_wire_label_t *wl, int64_t now, rg_label_t *l,
                    char *msg, size_t cap);

/* label_cluster.c -------------------------------------------------------------------- */


/* Builds the write of a label_cluster request (one label for the members of a cluster of
 * the current generation, guarded: see label_cluster.c). Same contract as
 * rg__ingest_prepare. */
int rg__label_cluster_prepare(rg_engine_t *e, const rg_request_t *req, rg_write_t **out, char *msg,
                              size_t cap);

/* Cluster mode: label_cluster as the plain `label` write every replica applies alike,
 * whatever generation it serves when the entry arrives. The guard runs here, on the loop
 * thread, against the generation this replica serves; the members it lets through become
 * a `label` request written into `body` (empty, rg_buf_init; the caller owns it: it is what
 * the log entry carries), decoded with `lim` and prepared into *out, whose reply is that
 * of label_cluster (with what the guard skipped). 0 with *out owned by the caller, or an
 * RG_E… code with the reason in msg (*out NULL). */
int rg__label_cluster_expand(rg_engine_t *e, const rg_request_t *req,
                             const rg_proto_limits_t *lim, rg_buf_t *body, rg_write_t **out,
                             char *msg, size_t cap);

/* Writes the members the guard skipped as the three label_cluster reply fields. */
void rg__label_cluster_write_skips(rg_wr_t *wr, const rg__guard_skips_t *s);

/* Answers a label_cluster dry run into wr: the cluster's composition and what the request
 * would label, from one read transaction. 0, RG_ENOT_FOUND / RG_ETOO_LARGE with a message
 * in msg, or a store error. */
int rg__label_cluster_preview(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr, char *msg,
                              size_t cap);

/* lookup.c --------------------------------------------------------------------------- */

/* A read transaction: the batch's (opened now if needed) or, outside a batch, a new one.
 * End it with rg__read_end. 0 or the store's error. */
int rg__read_begin(rg_engine_t *e, rg_txn_t **t);
void rg__read_end(rg_engine_t *e, rg_txn_t *t);

/* Ends the batch's shared snapshot, so later reads see what committed since. */
void rg__read_drop_batch(rg_engine_t *e);

/* Normalises a "type:identifier" (typed) or a bare identifier of `type` with the engine's
 * actor.* options. 0, or RG_EINVALID_ACTOR with "<field>: <reason>" in msg (client bytes
 * escaped). */
int rg__actor_from_wire(const rg_engine_t *e, rg_str_t s, bool typed, rg_actor_type_t type,
                        const char *field, rg_actor_t *out, char *msg, size_t cap);

/* The current generation (in *g, returned), or NULL before the first recomputation or on a
 * store error (*rc set). */
const rg_generation_t *rg__current_generation(rg_txn_t *t, rg_generation_t *g, int *rc);

/* Reads the actor's score of generation gen (known: the store has the actor). 0 with *sc
 * set, RG_ENOT_FOUND (no generation or no score), or a store error. */
int rg__read_score(rg_txn_t *t, const rg_generation_t *gen, bool known, uint64_t id,
                   rg_score_t *sc);

/* The score fields of a lookup or check entry for actor id (rec: its record, NULL when the
 * store does not have it), from generation gen (NULL before the first recomputation: all
 * nil); an actor the generation did not score gets its provisional score (score.provisional).
 * 0 or a store error. */
#define RG__SCORE_FIELDS 10
int rg__write_score_fields(const rg_engine_t *e, rg_txn_t *t, const rg_generation_t *gen,
                           const rg_actor_rec_t *rec, uint64_t id, int64_t now, rg_wr_t *wr);

/* provisional.c: a score for an actor first seen after generation gen, from its live
 * neighbours that gen scored (see the file comment). 0 with *out set (one PROVISIONAL
 * reason); RG_ENOT_FOUND when no neighbour says anything; a store error. */
int rg__provisional_score(const rg_engine_t *e, rg_txn_t *t, const rg_generation_t *gen,
                          uint64_t id, const rg_actor_rec_t *rec, int64_t now, rg_score_t *out);

/* Answers a lookup into wr. 0 or a store error. */
int rg__lookup_handle(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr);

/* check.c ---------------------------------------------------------------------------- */

/* Answers a check (a filter's question about one message) into wr. 0, RG_EINVALID_ACTOR with
 * a message in msg, or a store error. */
int rg__check_handle(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr, char *msg, size_t cap);

/* stats.c ---------------------------------------------------------------------------- */

/* Answers stats into wr. 0 or a store error. */
int rg__stats_handle(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr);

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
 * a reply that completes when the job does. Same contract as rg_engine_handle. */
int rg__recompute_request(rg_engine_t *e, const rg_request_t *req, rg_buf_t *out,
                          rg_write_done_fn done, void *ctx, rg_write_t **pending);

/* Writes the status op's reply. */
void rg__recompute_status(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr);

/* backup.c -------------------------------------------------------------------------- */

/* Sets up the backup thread's completion handle. 0 or RG_EINTERNAL / RG_ENOMEM. */
int rg__backup_init(rg_engine_t *e);

/* Handles the backup op: checks the path, starts the copy on a thread of its own and sets
 * *pending to a reply that completes when the copy is in place (or failed); a second backup
 * while one runs is refused (busy). Same contract as rg_engine_handle. */
int rg__backup_request(rg_engine_t *e, const rg_request_t *req, rg_buf_t *out,
                       rg_write_done_fn done, void *ctx, rg_write_t **pending);

/* Waits for a running copy (replying to it) and closes the handle; at engine stop. Then
 * rg__backup_free after the loop has turned. */
void rg__backup_stop(rg_engine_t *e);
void rg__backup_free(rg_engine_t *e);

/* Writes the stats op's "backup" value. */
void rg__backup_stats(rg_engine_t *e, rg_wr_t *wr);

/* retention.c ----------------------------------------------------------------------- */

/* Starts the sweep timer when retention.edges or retention.labels is set. 0 or
 * RG_EINTERNAL / RG_ENOMEM. */
int rg__retention_init(rg_engine_t *e);

/* Stops the timer (a queued slice still commits; no more are queued); at engine stop,
 * before the writer stops. Then rg__retention_free after the loop has turned. */
void rg__retention_stop(rg_engine_t *e);
void rg__retention_free(rg_engine_t *e);

/* Writes the stats op's "retention" value. */
void rg__retention_stats(rg_engine_t *e, rg_wr_t *wr);

/* lookup.c: writes a score's reasons as an array of reason maps (schemas "reason"). */
void rg__write_reasons(rg_txn_t *t, const rg_score_t *sc, int64_t now, rg_wr_t *wr);

/* recompute_model.c ------------------------------------------------------------------ */

/* The model stage of a job (worker thread): trains, evaluates and serves the model into r,
 * and writes model.features_out. 0 (also when the model is off or failed: r keeps the
 * propagation); RG_ENOMEM, RG_ESHUTTING_DOWN, RG_EINTERNAL (held back by
 * model.block_on_drop), with a message in err. */
int rg__model_stage(rg_engine_t *e, const rg_graph_t *g, const uint8_t *fold,
                    const rg_model_opts_t *mo, const rg_model_eval_t *previous,
                    rg_model_result_t *m, rg_result_t *r, char *err, size_t errlen);

/* Writes a model record as a map (nil when !found). */
void rg__model_write(rg_wr_t *wr, const rg_model_eval_t *ev, const char *note, bool found);

/* Writes the current generation's model record from the store (nil before the first). */
void rg__model_status(rg_engine_t *e, rg_wr_t *wr);

#endif
