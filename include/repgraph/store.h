/* store.h — the graph store over one LMDB environment: actor interning, actor records,
 * out/in edges with decayed weights, labels, counters and the schema version.
 * Key layout: schemas/store.json. Threads: any thread may read (rg_store_read_begin);
 * exactly one thread — the writer — may open write transactions and grow the map. */
#ifndef RG_STORE_H
#define RG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repgraph/actor.h"
#include "repgraph/pseudonym.h"
#include "repgraph/vocab.h" /* verdicts, sources, bands and the records of scores and labels */

/* Version of the key layout in schemas/store.json; a store of another version is refused. */
#define RG_STORE_SCHEMA_VERSION 5 /* 3: member, rank, cluster_rank indexes; label history;
                                     4: scores carry their evidence (users, engaged);
                                     5: actor records may carry a submissions count */

typedef struct rg_store rg_store_t;
typedef struct rg_txn rg_txn_t;

typedef struct {
  const char *dir;    /* environment directory; created if missing */
  uint64_t map_size;  /* initial map size in bytes */
  uint64_t map_max;   /* the map never grows past this */
  double half_life_s; /* edge weight half-life */
  /* store.pseudonymise: identifiers are interned as keyed pseudonyms (borrowed until
   * rg_store_close); NULL keeps them in the clear. Fixed when the store is created. */
  const rg_pseudonym_t *pseudonym;
} rg_store_opts_t;

/* An actor's record. Weights are decayed to `as_of`. */
typedef struct {
  rg_actor_t actor;
  int64_t first_seen, last_seen;
  uint64_t messages;            /* observations/edge events that named it */
  uint64_t submissions;         /* messages it sent as an authenticated submission */
  double weight_out, weight_in; /* sums of its edges' weights, decayed to as_of */
  int64_t as_of;
  uint32_t out_degree[RG_EDGE_KIND_COUNT];
  uint32_t in_degree[RG_EDGE_KIND_COUNT];
} rg_actor_rec_t;

/* One edge's record. `weight` is decayed to `as_of`. */
typedef struct {
  uint64_t count;
  double weight;
  int64_t as_of;
  int64_t first_seen, last_seen;
} rg_edge_rec_t;

/* Counters kept in the meta database. */
typedef struct {
  uint64_t actors[RG_ACTOR_TYPE_MAX + 1]; /* indexed by rg_actor_type_t */
  uint64_t edges[RG_EDGE_KIND_COUNT];
  uint64_t labels;
} rg_store_counts_t;

/* Physical facts about the environment. */
typedef struct {
  uint64_t map_size;   /* current map size, bytes */
  uint64_t map_max;    /* configured maximum, bytes */
  uint64_t used_bytes; /* pages in use × page size */
  uint32_t page_size;
  uint32_t map_grows; /* times the map grew since open */
} rg_store_info_t;

/* Opens (creating if needed) the store in opts->dir and checks its schema version.
 * 0 on success with *out owned by the caller (rg_store_close); RG_ESCHEMA for a store of
 * another version or a foreign file, RG_EIO for file-system errors, RG_ECONFIG for bad
 * options or a pseudonym mode or key other than the store was created with; a message
 * in err (capacity errlen) on any error. */
int rg_store_open(const rg_store_opts_t *opts, rg_store_t **out, char *err, size_t errlen);

/* Closes the environment. No transaction may be open. Accepts NULL. */
void rg_store_close(rg_store_t *s);

/* The configured half-life in seconds. */
double rg_store_half_life(const rg_store_t *s);

/* True when the store interns identifiers as keyed pseudonyms (opts.pseudonym): lookups
 * by plaintext and by pseudonym both find the actor, records hold the pseudonym. */
bool rg_store_pseudonymised(const rg_store_t *s);

/* Decays weight w from time `from` to time `to` (seconds) with half-life h seconds.
 * Returns w unchanged when to <= from. */
double rg_store_decay(double w, int64_t from, int64_t to, double h);

/* Fills *info. Any thread. */
void rg_store_info(rg_store_t *s, rg_store_info_t *info);

/* Starts a read-only snapshot. 0 on success (*out valid until rg_store_end);
 * RG_EIO/RG_ENOMEM otherwise. Any thread; never waits for the writer. */
int rg_store_read_begin(rg_store_t *s, rg_txn_t **out);

/* Starts the write transaction. Writer thread only. 0, RG_EIO or RG_ENOMEM. */
int rg_store_write_begin(rg_store_t *s, rg_txn_t **out);

/* Starts a transaction nested in the write transaction `parent`, so one request's writes
 * can be undone without losing the batch. Same errors as rg_store_write_begin. */
int rg_store_nested_begin(rg_txn_t *parent, rg_txn_t **out);

/* Commits a write (or nested) transaction and frees it. 0 on success; RG_ESTORAGE_FULL
 * if the map filled (the transaction is gone: grow and redo it); RG_EIO otherwise. */
int rg_store_commit(rg_txn_t *t);

/* Ends a read transaction or aborts a write/nested one, and frees it. Accepts NULL. */
void rg_store_end(rg_txn_t *t);

/* Doubles the map size, capped at map_max. Writer thread only, with no write transaction
 * open. 0 on success; RG_ESTORAGE_FULL when already at map_max; RG_EIO otherwise. */
int rg_store_grow(rg_store_t *s);

/* Adds n authenticated submissions (mail your own users sent after logging in) to an
 * existing actor's record. 0, RG_ENOT_FOUND, RG_ESTORAGE_FULL or RG_EIO. Write transaction. */
int rg_store_add_submissions(rg_txn_t *t, uint64_t id, uint64_t n);

/* Finds or creates the actor, widening first/last seen to cover [first_ts, last_ts] and
 * adding `messages`. 0 with *id set; RG_ESTORAGE_FULL or RG_EIO. Write transaction. */
int rg_store_upsert_actor(rg_txn_t *t, const rg_actor_t *a, int64_t first_ts, int64_t last_ts,
                          uint64_t messages, uint64_t *id);

/* Adds one observation of edge src -kind-> dst at `ts` with weight w and count n:
 * creates it if new, decays and adds its weight, updates both actors' degrees and weight
 * sums. Both actors must exist. 0, RG_ENOT_FOUND (missing actor), RG_ENOMEM, RG_ESTORAGE_FULL,
 * RG_EIO. The addition is queued in the transaction and applied, sorted with the others, by
 * rg_store_commit or the transaction's next read that needs it (edges, scans, counters,
 * rg_store_get_actor), which then return the errors of applying it. */
int rg_store_add_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst, int64_t ts,
                      double w, uint64_t n);

/* Sets the actor's latest label (count incremented). 0, RG_ESTORAGE_FULL, RG_EIO. */
int rg_store_put_label(rg_txn_t *t, uint64_t id, const rg_label_t *label);

/* Deletes the actor, all its edges (updating its neighbours' degrees and weights), its
 * label and its key. 0, RG_ENOT_FOUND, RG_ESTORAGE_FULL, RG_EIO. Write transaction. */
int rg_store_forget(rg_txn_t *t, uint64_t id);

/* Looks up an actor's id. 0, RG_ENOT_FOUND or RG_EIO. Any transaction. */
int rg_store_find_actor(rg_txn_t *t, const rg_actor_t *a, uint64_t *id);

/* Reads an actor's record, decayed to `now`. 0, RG_ENOT_FOUND or RG_EIO. */
int rg_store_get_actor(rg_txn_t *t, uint64_t id, int64_t now, rg_actor_rec_t *rec);

/* Reads an edge, decayed to `now`. 0, RG_ENOT_FOUND or RG_EIO. */
int rg_store_get_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst, int64_t now,
                      rg_edge_rec_t *rec);

/* Reads an actor's latest label. 0, RG_ENOT_FOUND or RG_EIO. */
int rg_store_get_label(rg_txn_t *t, uint64_t id, rg_label_t *label);

/* Called once per edge by the scans, in key order; a non-zero return stops the scan and
 * is returned by it. The record is decayed to the scan's `now`. */
typedef int (*rg_edge_visit_fn)(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                                const rg_edge_rec_t *rec);

/* Visits the out-edges of `src` (all edges of the store if src is 0). 0, a visitor's
 * non-zero return, or RG_EIO. */
int rg_store_scan_out(rg_txn_t *t, uint64_t src, int64_t now, rg_edge_visit_fn fn, void *ctx);

/* Visits the in-edges of `dst`, reporting each as (src, kind, dst). Same returns. */
int rg_store_scan_in(rg_txn_t *t, uint64_t dst, int64_t now, rg_edge_visit_fn fn, void *ctx);

/* Reads the counters. 0 or RG_EIO. */
int rg_store_counts(rg_txn_t *t, rg_store_counts_t *out);

/* The latest time any edge was written at (meta "newest_edge_ts", kept by the commits that
 * add edges; forgetting does not lower it), 0 for a store without edges. The reference time
 * of replays. 0 or RG_EIO. */
int rg_store_newest_edge_ts(rg_txn_t *t, int64_t *out);

/* Cluster mode: the stream sequence of the last log entry applied (meta
 * "cluster_applied_seq"; 0 when none), and its update, made in the transaction that applies
 * the entry. 0, RG_EIO, RG_ESTORAGE_FULL (put). */
int rg_store_log_seq(rg_txn_t *t, uint64_t *seq);
int rg_store_put_log_seq(rg_txn_t *t, uint64_t seq);

/* The stored log sequence (as rg_store_log_seq) of the store in directory dir, opened
 * read-only without a lock: nobody may be writing it (a server before it opens its store).
 * 0 with *seq, RG_ENOMEM, RG_ESCHEMA (not a readable store) or RG_EIO, with a message. */
int rg_store_peek_log_seq(const char *dir, uint64_t *seq, char *err, size_t errlen);

/* The write-ahead log (wal.enabled): the sequence of the last logged record merged into the
 * store (meta "wal_merged_seq"; 0 when none), and its update, made in the transaction that
 * merges the record. 0, RG_EIO, RG_ESTORAGE_FULL (put). */
int rg_store_wal_seq(rg_txn_t *t, uint64_t *seq);
int rg_store_put_wal_seq(rg_txn_t *t, uint64_t seq);

/* Visits every actor (id order) with its record decayed to `now`. A non-zero return stops
 * the scan and is returned. 0, the visitor's return, or RG_EIO. */
typedef int (*rg_actor_visit_fn)(void *ctx, uint64_t id, const rg_actor_rec_t *rec);
int rg_store_scan_actors(rg_txn_t *t, int64_t now, rg_actor_visit_fn fn, void *ctx);

/* Visits every label (actor id order). Same returns as rg_store_scan_actors. */
typedef int (*rg_label_visit_fn)(void *ctx, uint64_t id, const rg_label_t *label);
int rg_store_scan_labels(rg_txn_t *t, rg_label_visit_fn fn, void *ctx);

/* ---- what commits touched, for caches of reads (store_touch.c) ---------------------- */

/* What the write transactions committed since the last rg_store_take_touched changed:
 * the actors whose record or label they rewrote (ids, malloc'd, the taker frees; repeats
 * possible), whether one created an actor, and `wide`: some commit may have changed
 * anything (it was not narrow, or noted too many actors) — ids then mean nothing. */
typedef struct {
  uint64_t *ids;
  size_t n;
  bool wide, created;
} rg_store_touched_t;

/* Declares write transaction t (top-level) narrow: all it will change is actor records,
 * edges and labels through this API, and its commit reports which actors. A write
 * transaction not declared narrow reports `wide`. */
void rg_store_set_narrow(rg_txn_t *t);

/* Takes (and clears) what commits touched since the last call; *out as described above
 * (out->ids NULL when none). A commit is included once rg_store_commit returned. Any thread. */
void rg_store_take_touched(rg_store_t *s, rg_store_touched_t *out);

/* The largest actor id ever handed out (0 if none). 0 or RG_EIO. */
int rg_store_max_actor_id(rg_txn_t *t, uint64_t *max_id);

/* Writes / reads an actor's scores in generation `gen`. 0, RG_ENOT_FOUND (get),
 * RG_ESTORAGE_FULL, RG_EIO. */
int rg_store_put_score(rg_txn_t *t, uint64_t gen, uint64_t actor, const rg_score_t *s);
int rg_store_get_score(rg_txn_t *t, uint64_t gen, uint64_t actor, rg_score_t *s);

/* Writes / reads a cluster summary of generation `gen` (writing also ranks it by
 * suspicion). Same returns. */
int rg_store_put_cluster(rg_txn_t *t, uint64_t gen, const rg_cluster_t *c);
int rg_store_get_cluster(rg_txn_t *t, uint64_t gen, uint64_t id, rg_cluster_t *c);

/* The current (last published) generation. 0, RG_ENOT_FOUND before the first, RG_EIO. */
int rg_store_get_generation(rg_txn_t *t, rg_generation_t *g);

/* Makes g the current generation: its scores must be written already. 0 or errors. */
int rg_store_publish_generation(rg_txn_t *t, const rg_generation_t *g);

/* The learned model's record (meta "model"): the evaluation and note of the generation it
 * was written with (in the same transaction as rg_store_publish_generation). put: 0 or
 * errors; get: 0, RG_ENOT_FOUND (no record yet), RG_EIO (malformed). note gets at most cap - 1
 * bytes and a NUL. */
int rg_store_put_model(rg_txn_t *t, const rg_model_eval_t *e, const char *note);
int rg_store_get_model(rg_txn_t *t, rg_model_eval_t *e, char *note, size_t cap);

/* Deletes at most `max_rows` score and cluster rows of generation `gen`; *done is set when
 * none are left. Lets a large generation be dropped in several short transactions. */
int rg_store_drop_generation(rg_txn_t *t, uint64_t gen, uint64_t max_rows, bool *done);

/* ---- a generation's rows as stored, to copy it to another replica (store_genrows.c) -- */

/* Which sub-database (or meta record) a row of rg_store_scan_generation_rows comes from. */
typedef enum {
  RG_GENROW_SCORE = 1,
  RG_GENROW_CLUSTER,
  RG_GENROW_MEMBER,
  RG_GENROW_RANK,
  RG_GENROW_CLUSTER_RANK,
  RG_GENROW_GENERATION, /* meta "generation": the generation record (the flip) */
  RG_GENROW_MODEL,      /* meta "model": the model record */
  RG_GENROW_MAX = RG_GENROW_MODEL
} rg_genrow_t;

/* Called with each row; key and val are valid until the visitor returns. Non-zero stops the
 * scan and is returned. */
typedef int (*rg_genrow_visit_fn)(void *ctx, rg_genrow_t table, const uint8_t *key, size_t klen,
                                  const uint8_t *val, size_t vlen);

/* Visits every row of generation gen, which must be the current one: its scores, clusters
 * and index rows, then the model record (when there is one) and last the generation record.
 * 0, RG_ENOT_FOUND (gen is not current), the visitor's return, RG_EIO. */
int rg_store_scan_generation_rows(rg_txn_t *t, uint64_t gen, rg_genrow_visit_fn fn, void *ctx);

/* Writes one row such a scan gave, of generation gen: a key of the table's length that
 * starts with gen; the generation record must be of generation gen (writing it makes gen
 * current). 0, RG_EBAD_REQUEST (a row that does not fit the table), RG_ESTORAGE_FULL,
 * RG_EIO. */
int rg_store_put_generation_row(rg_txn_t *t, uint64_t gen, rg_genrow_t table, const uint8_t *key,
                                size_t klen, const uint8_t *val, size_t vlen);

/* Deletes every score, cluster and index row of the generations below `below`. 0 or
 * RG_EIO. */
int rg_store_drop_generations_below(rg_txn_t *t, uint64_t below);

/* Removes the actor's label (it is no longer a seed) and appends a retraction with `ts` and
 * `note` to its history. 0, RG_ENOT_FOUND (no label), RG_ESTORAGE_FULL, RG_EIO. */
int rg_store_unlabel(rg_txn_t *t, uint64_t id, int64_t ts, const char *note, uint16_t note_len);

/* Visits an actor's label history, newest first (verdict 0 = a retraction; `count` is the
 * entry's 1-based position). A non-zero return stops the scan and is returned. */
int rg_store_scan_label_history(rg_txn_t *t, uint64_t id, rg_label_visit_fn fn, void *ctx);

/* ---- indexes of a generation, for analysts ------------------------------------------ */

/* Rankings kept per generation and actor type. */
typedef enum { RG_RANK_REPUTATION = 0, RG_RANK_ANOMALY = 1 } rg_rank_metric_t;

/* Appends a row to generation gen's member index (cluster → actor) or ranking (actors of a
 * type by a metric; value in [0,1], negative and NaN count as 0). Rows must come in key
 * order — members by (cluster, actor), rankings by (metric, type, value, actor) — after
 * every row of earlier generations, which makes each append a cheap write at the end of the
 * tree. 0, RG_EINTERNAL for a row out of order, RG_ESTORAGE_FULL, RG_EIO. */
int rg_store_append_member(rg_txn_t *t, uint64_t gen, uint64_t cluster, uint64_t actor);
int rg_store_append_rank(rg_txn_t *t, uint64_t gen, rg_rank_metric_t metric, rg_actor_type_t type,
                         double value, uint64_t actor);

/* Called with each cluster of a ranking scan; non-zero stops the scan and is returned. */
typedef int (*rg_cluster_visit_fn)(void *ctx, const rg_cluster_t *c);
/* Called with each actor of a member or ranking scan (value: the ranking's score, or 0). */
typedef int (*rg_member_visit_fn)(void *ctx, uint64_t actor, double value);

/* Visits the clusters of generation gen, most suspicious first (ties: higher id first),
 * passing over the first `skip` of them (index rows only, no cluster read).
 * 0, the visitor's return, or RG_EIO. */
int rg_store_scan_clusters_by_suspicion(rg_txn_t *t, uint64_t gen, uint64_t skip,
                                        rg_cluster_visit_fn fn, void *ctx);

/* Visits the actors of `type` in generation gen ranked by `metric`, highest first when
 * worst_first, else lowest first. Same returns. */
int rg_store_scan_ranking(rg_txn_t *t, uint64_t gen, rg_rank_metric_t metric, rg_actor_type_t type,
                          bool worst_first, rg_member_visit_fn fn, void *ctx);

/* Visits the members of cluster `cluster` of generation gen with ids above `after` (0 =
 * from the first), in id order. Same returns. */
int rg_store_scan_members(rg_txn_t *t, uint64_t gen, uint64_t cluster, uint64_t after,
                          rg_member_visit_fn fn, void *ctx);

/* Visits the out-edges of `src` that come after (kind, dst) in key order — all of them when
 * dst is 0. Same returns as rg_store_scan_out. */
int rg_store_scan_out_after(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                            int64_t now, rg_edge_visit_fn fn, void *ctx);

/* ---- backups (store_backup.c) ------------------------------------------------------------ */

#define RG_BACKUP_DATA     "data.mdb"      /* the compacted copy, in the backup directory */
#define RG_BACKUP_MANIFEST "manifest.json" /* what it holds, written after the copy */
#define RG_BACKUP_SUM_HEX  64              /* hex digits of the copy's BLAKE2b-256 */

/* What a backup holds: read from the copy itself once it is written. */
typedef struct {
  uint64_t schema_version;
  uint64_t generation; /* current generation in the copy, 0 before the first */
  uint64_t max_actor_id;
  int64_t newest_edge_ts;
  int64_t created_at; /* epoch seconds (the clock) when the copy started */
  uint64_t data_bytes;
  char checksum[RG_BACKUP_SUM_HEX + 1]; /* BLAKE2b-256 of data.mdb, lower-case hex */
  rg_store_counts_t counts;
} rg_backup_manifest_t;

/* Writes a consistent, compacted copy of the store (LMDB's mdb_env_copyfd2 with
 * MDB_CP_COMPACT, one read snapshot; with `repack`, every row rewritten in key order into a
 * new environment, so that part-full pages are filled) into the new directory `dest`: first into
 * "<dest>.partial", which gets data.mdb and its manifest, both fsynced, and is then renamed
 * to dest. Any thread; writers go on meanwhile (map growth waits for the copy). 0 with *m
 * filled; RG_EIO (dest or dest.partial exists, file-system errors), RG_ESCHEMA (the copy does
 * not read back), RG_ENOMEM; a message in err. On failure dest.partial is removed. */
int rg_store_backup(rg_store_t *s, const char *dest, bool repack, rg_backup_manifest_t *m,
                    char *err, size_t errlen);

/* Checks the backup in directory `dir`: its manifest parses, data.mdb has the manifest's size
 * and checksum, and opened read-only it has the manifest's schema version, generation and
 * counts. 0 with *m filled; RG_EIO (unreadable), RG_ESCHEMA (mismatch, or another schema
 * version than this build reads), with a message in err. Any thread. */
int rg_store_backup_verify(const char *dir, rg_backup_manifest_t *m, char *err, size_t errlen);

/* Restores the verified backup `from` into data directory `data_dir`, which must be missing
 * or empty: data.mdb is copied to "data.mdb.partial" there, fsynced, checked against the
 * manifest's checksum again and renamed. 0 with *m filled; RG_EIO (data_dir not empty,
 * file-system errors) or rg_store_backup_verify's errors, with a message in err. */
int rg_store_restore(const char *from, const char *data_dir, rg_backup_manifest_t *m, char *err,
                     size_t errlen);

/* Parses a manifest's JSON text. 0 or RG_ESCHEMA with a message (a field missing, of the
 * wrong type or out of range). The parser of the restore path's outside input (fuzzed). */
int rg_store_manifest_parse(const char *text, size_t len, rg_backup_manifest_t *m, char *err,
                            size_t errlen);

/* Writes *m as JSON into buf (capacity cap). Returns the length, or 0 if it does not fit. */
size_t rg_store_manifest_format(const rg_backup_manifest_t *m, char *buf, size_t cap);

/* ---- retention (store_expire.c) ---------------------------------------------------------- */

/* Where a retention sweep stands: its phase and the last key it looked at there. */
typedef enum {
  RG_EXPIRE_EDGES = 0, /* out-edges last seen before edges_before */
  RG_EXPIRE_LABELS,    /* labels given before labels_before */
  RG_EXPIRE_ACTORS,    /* actors left with no edge and no label */
  RG_EXPIRE_DONE
} rg_expire_phase_t;

typedef struct {
  rg_expire_phase_t phase;
  uint8_t key[24]; /* resume after this key of the phase's sub-database */
  uint8_t key_len; /* 0: from the phase's first key */
} rg_expire_cursor_t;

typedef struct {
  bool edges; /* expire edges last seen before edges_before */
  int64_t edges_before;
  bool labels; /* retract labels given before labels_before */
  int64_t labels_before;
  int64_t now;          /* the time a retraction is recorded at */
  uint32_t max_deletes; /* edges, labels or actors picked by one slice at most (>= 1) */
  uint32_t max_visits;  /* rows looked at by one slice at most (>= max_deletes) */
} rg_expire_opts_t;

typedef struct {
  uint64_t edges, labels, actors; /* deleted, retracted, deleted (as by rg_store_forget) */
  uint64_t visited;               /* rows looked at */
} rg_expire_counts_t;

/* One bounded slice of a retention sweep in write transaction t, from *cur: deletes the
 * edges last seen before o->edges_before (taking them off both actors' records), retracts
 * labels given before o->labels_before (the history keeps the retraction) and deletes actors
 * left with no edge and no label, with their label history and their rows in every stored
 * generation (as rg_store_forget). At most o->max_deletes edges or labels (or, in the actor
 * phase, actors) go, with at most two actors per edge they held, and o->max_visits rows are
 * looked at; *cur moves on (phase RG_EXPIRE_DONE at the end of a pass) and *n adds what was
 * done. The phases whose option is off are passed over; the actor phase runs when either is
 * on. 0, RG_ESTORAGE_FULL, RG_ENOMEM or RG_EIO. Writer thread. */
int rg_store_expire_slice(rg_txn_t *t, const rg_expire_opts_t *o, rg_expire_cursor_t *cur,
                          rg_expire_counts_t *n);

#endif
