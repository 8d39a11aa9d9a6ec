/* store_codec.h — private to the store (store_env.c, store_graph.c, store_batch.c,
 * store_label.c, store_gen.c): the sub-databases, the store and transaction structs, the
 * big-endian codecs of doubles, and the rg__ functions these files share. Key layout:
 * schemas/store.json. Threads: as store.h. */
#ifndef RG_STORE_CODEC_H
#define RG_STORE_CODEC_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/store.h"

/* The named sub-databases, in the order of rg__db_names. */
enum {
  DB_ACTOR_KEY,
  DB_ACTOR,
  DB_OUT,
  DB_IN,
  DB_LABEL,
  DB_META,
  DB_SCORE,
  DB_CLUSTER,
  DB_MEMBER,
  DB_RANK,
  DB_CLUSTER_RANK,
  DB_LABEL_LOG,
  DB_COUNT
};
extern const char *const rg__db_names[DB_COUNT];

#define READ_TXN_SPARES 8 /* reset read transactions kept for reuse */

struct rg_store {
  MDB_env *env;
  MDB_dbi dbi[DB_COUNT];
  pthread_rwlock_t resize_lock;
  uint64_t map_size, map_max;
  uint32_t map_grows;
  double half_life_s;
  char dir[512];
  /* Read transactions that ended, kept reset (reader slot held, no snapshot) so the next
   * read renews one instead of taking LMDB's reader-table lock (MDB_NOTLS allows any
   * thread to renew them). Dropped when the map grows and at close. */
  pthread_mutex_t spare_lock;
  rg_txn_t *spare[READ_TXN_SPARES];
  unsigned n_spare;
  const rg_pseudonym_t *pseudonym; /* store.pseudonymise: the key (borrowed); or NULL */
  /* store_touch.c: what commits since the last rg_store_take_touched touched */
  pthread_mutex_t touch_lock;
  uint64_t *touched;
  size_t n_touched, cap_touched;
  bool touch_wide, touch_created;
  struct rg__batch *spare_batch; /* the last write transaction's batch, emptied (store_batch.c) */
};

/* Counters in meta that writes keep as deltas in the transaction and write once, at the
 * top-level commit (a nested commit hands them to its parent, an abort drops them): one
 * meta update per commit instead of one per edge or actor. */
enum {
  CNT_ACTOR = 0,
  CNT_EDGE = CNT_ACTOR + RG_ACTOR_TYPE_MAX + 1,
  CNT_LABELS = CNT_EDGE + RG_EDGE_KIND_COUNT,
  CNT_COUNT
};

typedef struct rg__batch rg__batch_t;

struct rg_txn {
  rg_store_t *s;
  MDB_txn *txn;
  rg_txn_t *parent; /* of a nested write transaction */
  bool read;        /* holds the shared resize lock */
  bool dirty;       /* has counter deltas or a next actor id to write */
  int64_t delta[CNT_COUNT];
  uint64_t next_id; /* next actor id, 0 until this transaction allocated one */
  int64_t newest;   /* latest edge time this transaction wrote, 0 if none */
  /* store_touch.c (top-level write transactions): narrow = its commit reports the actors
   * whose records or labels it rewrote, in touched (owned); else anything may change */
  bool narrow, created;
  uint64_t *touched;
  uint32_t n_touched, cap_touched;
  /* Write transactions: cached actors and pending edges (store_batch.c). */
  rg__batch_t *batch;
};

/* ---- encoding ---------------------------------------------------------------------- */

/* A double as its 8 IEEE bytes, big-endian. */
static inline void rg__put_f64(uint8_t *p, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  rg_put_u64be(p, u);
}

static inline double rg__get_f64(const uint8_t *p) {
  uint64_t u = rg_get_u64be(p);
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* ---- shared by the store's files (store_env.c unless said otherwise) ------------------ */

/* Translates an LMDB code into an RG_E… code, logging the unexpected ones. */
int rg__from_mdb(int rc, const char *what);

/* Adds delta to counter CNT_… (or an actor type's / an edge kind's) in the transaction;
 * written to meta at the top-level commit. Return 0. */
int rg__count_add(rg_txn_t *t, int counter, int64_t delta);
int rg__count_actor(rg_txn_t *t, rg_actor_type_t type, int64_t delta);
int rg__count_edge(rg_txn_t *t, rg_edge_kind_t kind, int64_t delta);

/* The next actor id as this transaction sees it: its own, a parent's, or meta's. */
int rg__peek_next_id(rg_txn_t *t, uint64_t *next);

/* Reads the value of `id` in a sub-database keyed by 8-byte ids (valid until the transaction
 * ends or writes there). 0, RG_ENOT_FOUND or RG_EIO; `what` names the read in the log. */
int rg__get_by_id(rg_txn_t *t, int dbi, uint64_t id, MDB_val *v, const char *what);

/* Walks a sub-database keyed by an 8-byte id, calling visit with each id and value. 0, a
 * visit's non-zero return, or RG_EIO. */
int rg__scan_by_id(rg_txn_t *t, int dbi, int (*visit)(void *, uint64_t, const MDB_val *),
                   void *ctx);

/* store_label.c: the schema 3 upgrade (each label becomes the first entry of its
 * actor's history), and deleting an actor's label and history (forget). */
/* store_touch.c: notes that t rewrote actor id's record or label / created an actor (on
 * its top-level transaction; a narrow one that cannot note it turns wide). */
void rg__touch(rg_txn_t *t, uint64_t id);
void rg__touch_created(rg_txn_t *t);
/* After t's top-level commit succeeded: hands what it touched to the store. */
void rg__touch_publish(rg_txn_t *t);

int rg__label_log_seed(rg_txn_t *t);
int rg__label_forget(rg_txn_t *t, uint64_t id);

/* store_pseudonym.c: the form an actor is interned in — *out is `a`, or its pseudonym
 * written into buf in a pseudonymised store (a pseudonym given stays itself). 0;
 * RG_EINVALID_ACTOR for a pseudonym in a store in the clear; RG_EINTERNAL. */
int rg__stored_actor(const rg_txn_t *t, const rg_actor_t *a, rg_actor_t *buf,
                     const rg_actor_t **out);
/* At open, in its write transaction: records the mode (and key fingerprint) of a new store
 * in meta, or checks them. 0; RG_ECONFIG (another mode or key) or RG_ESCHEMA with err. */
int rg__pseudonym_check(rg_txn_t *t, char *err, size_t errlen);

/* store_gen.c: deletes actor id (of `type`) from every stored generation: its scores, its
 * member and ranking rows, and its place in its cluster's summary (forget, retention). */
int rg__gen_forget_actor(rg_txn_t *t, uint64_t id, rg_actor_type_t type);

/* store_graph.c, for retention (store_expire.c): decodes an out-edge value (0 or RG_EIO);
 * deletes edge src -kind-> dst from both indexes and takes it off both actors' records
 * (RG_ENOT_FOUND if there is no such edge); tells whether actor id has no edge in either
 * direction and no label (RG_ENOT_FOUND if there is no such actor). */
int rg__edge_decode(const MDB_val *v, rg_edge_rec_t *e);
int rg__edge_expire(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst);
int rg__actor_is_orphan(rg_txn_t *t, uint64_t id, bool *orphan);
/* ---- store_batch.c: a write transaction's batch ---------------------------------------- */

/* An edge addition not yet applied (rg_store_add_edge queues them; rg__batch_flush
 * applies them in key order). */
typedef struct {
  uint64_t src, dst;
  int64_t ts;
  double w;
  uint64_t n;
  uint8_t kind;
  bool created; /* set at flush on the first addition of an edge the store lacked */
} rg__edge_add_t;

/* An actor record as the transaction sees it; `dirty` until written back. */
typedef struct {
  uint64_t id;
  bool dirty;
  rg_actor_rec_t rec;
} rg__cached_actor_t;

#define RG__BATCH_ACTORS_MAX (1u << 18) /* cached actors before a flush empties the cache */
#define RG__BATCH_EDGES_MAX  (1u << 20) /* pending edges before they are applied */

typedef struct {
  uint64_t id;
  uint32_t index; /* into actors, + 1; 0: a free slot */
} rg__batch_slot_t;

struct rg__batch {
  rg__edge_add_t *edges; /* in order of arrival until sorted */
  size_t n_edges, cap_edges;
  rg__edge_add_t *tmp; /* the sorts' scratch, kept for the next flush */
  size_t cap_tmp;
  rg__cached_actor_t *actors;
  size_t n_actors, cap_actors;
  rg__batch_slot_t *slots; /* open addressing on the id (the id kept here: one probe, one line) */
  uint32_t n_slots;
  rg__batch_slot_t memo[2]; /* the two actors found last (index 0: none), tried first */
};

/* The transaction's batch, created on first use. 0 or RG_ENOMEM. */
int rg__batch_get(rg_txn_t *t, rg__batch_t **out);
/* Ends the transaction's batch (what was not flushed is dropped): it becomes the store's
 * spare, emptied, for the next write transaction (at most one is kept; its arrays stay at
 * their largest size, bounded by RG__BATCH_ACTORS_MAX and RG__BATCH_EDGES_MAX). */
void rg__batch_free(rg_txn_t *t);
/* Frees the store's spare batch, if any (at close). */
void rg__batch_drop_spare(rg_store_t *s);
/* The cached record of actor id, or NULL; valid until the next add or clear. */
rg__cached_actor_t *rg__batch_find_actor(rg__batch_t *b, uint64_t id);
/* Caches a copy of *r for id (not already cached). 0 with *out set, or RG_ENOMEM. */
int rg__batch_add_actor(rg__batch_t *b, uint64_t id, const rg_actor_rec_t *r, bool dirty,
                        rg__cached_actor_t **out);
/* Forgets every cached actor (call after writing the dirty ones back). NULL is fine. */
void rg__batch_clear_actors(rg__batch_t *b);
/* Queues an edge addition. 0 or RG_ENOMEM. */
int rg__batch_add_edge(rg__batch_t *b, const rg__edge_add_t *e);
/* Sorts the pending additions by (src, kind, dst), additions of one edge in arrival order
 * (a stable radix sort). 0 or RG_ENOMEM (for its scratch array; nothing is sorted then). */
int rg__batch_sort_edges(rg__batch_t *b);
/* Sorts edges[0..n) the same way, with the batch's scratch array (it is not b->edges: the
 * in-index keys, as additions with src and dst swapped). 0 or RG_ENOMEM. */
int rg__batch_sort_in(rg__batch_t *b, rg__edge_add_t *edges, size_t n);
/* Sorts (id, index) pairs of cached actors by id (the ids in the array: no record read). */
void rg__batch_sort_actors(rg__batch_slot_t *actors, size_t n);

/* store_graph.c: applies the pending edges (in key order) and writes the dirty actors
 * back, also for the nested-transaction and commit paths of store_env.c. 0,
 * RG_ESTORAGE_FULL, RG_ENOMEM or RG_EIO. No-op for read transactions. */
int rg__batch_flush(rg_txn_t *t);

#endif
