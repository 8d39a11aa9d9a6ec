/* store_codec.h — private to the store (store_env.c, store_graph.c, store_label.c,
 * store_gen.c): the sub-databases, the store and transaction structs, the big-endian
 * codecs of doubles, and the rg__ functions these files share. Key layout:
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

struct rg_txn {
  rg_store_t *s;
  MDB_txn *txn;
  rg_txn_t *parent; /* of a nested write transaction */
  bool read;        /* holds the shared resize lock */
  bool dirty;       /* has counter deltas or a next actor id to write */
  int64_t delta[CNT_COUNT];
  uint64_t next_id; /* next actor id, 0 until this transaction allocated one */
  int64_t newest;   /* latest edge time this transaction wrote, 0 if none */
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

#endif
