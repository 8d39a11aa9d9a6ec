/* store.c — LMDB environment, sub-databases, key and record encoding, and the graph
 * mutations. Readers on any thread; one writer thread. Map growth needs every read
 * transaction of this process closed, so readers hold a shared lock and growth an
 * exclusive one (writer-preferring, so a stream of lookups cannot starve it). */
#define _GNU_SOURCE
#include "repgraph/store.h"

#include <errno.h>
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/log.h"

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
static const char *const db_names[DB_COUNT] = {"actor_key", "actor", "out",          "in",
                                               "label",     "meta",  "score",        "cluster",
                                               "member",    "rank",  "cluster_rank", "label_log"};

#define EDGE_KEY_LEN  17 /* u64 id | u8 kind | u64 id */
#define EDGE_VAL_LEN  40 /* count, weight, as_of, first, last */
#define ACTOR_HDR_LEN 52 /* type, kinds, keylen, 6 × 8 bytes */
#define ACTOR_REC_MAX (ACTOR_HDR_LEN + 8 * 255 + RG_ACTOR_KEY_MAX)
#define LABEL_HDR_LEN 24 /* verdict, source, notelen, w, ts, n */

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

/* Translates an LMDB code into an RG_E… code, logging the unexpected ones. */
static int from_mdb(int rc, const char *what) {
  switch (rc) {
    case MDB_SUCCESS: return RG_OK;
    case MDB_NOTFOUND: return RG_ENOT_FOUND;
    case MDB_MAP_FULL: return RG_ESTORAGE_FULL;
    case ENOMEM: return RG_ENOMEM;
    default: rg_log_error("lmdb: %s: %s", what, mdb_strerror(rc)); return RG_EIO;
  }
}

double rg_decay(double w, int64_t from, int64_t to, double h) {
  if (to <= from || h <= 0) return w;
  return w * exp2(-(double)(to - from) / h);
}

/* ---- encoding ---------------------------------------------------------------------- */

static void put_f64(uint8_t *p, double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  rg_put_u64be(p, u);
}

static double get_f64(const uint8_t *p) {
  uint64_t u = rg_get_u64be(p);
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

static void edge_key(uint8_t k[EDGE_KEY_LEN], uint64_t a, rg_edge_kind_t kind, uint64_t b) {
  rg_put_u64be(k, a);
  k[8] = (uint8_t)kind;
  rg_put_u64be(k + 9, b);
}

static void encode_edge(uint8_t v[EDGE_VAL_LEN], const rg_edge_rec_t *e) {
  rg_put_u64be(v, e->count);
  put_f64(v + 8, e->weight);
  rg_put_u64be(v + 16, (uint64_t)e->as_of);
  rg_put_u64be(v + 24, (uint64_t)e->first_seen);
  rg_put_u64be(v + 32, (uint64_t)e->last_seen);
}

static int decode_edge(const MDB_val *v, rg_edge_rec_t *e) {
  if (v->mv_size != EDGE_VAL_LEN) return RG_EIO;
  const uint8_t *p = v->mv_data;
  e->count = rg_get_u64be(p);
  e->weight = get_f64(p + 8);
  e->as_of = (int64_t)rg_get_u64be(p + 16);
  e->first_seen = (int64_t)rg_get_u64be(p + 24);
  e->last_seen = (int64_t)rg_get_u64be(p + 32);
  return RG_OK;
}

static size_t encode_actor(uint8_t *p, const rg_actor_rec_t *r) {
  p[0] = (uint8_t)r->actor.type;
  p[1] = RG_EDGE_KIND_COUNT;
  rg_put_u16be(p + 2, r->actor.len);
  rg_put_u64be(p + 4, (uint64_t)r->first_seen);
  rg_put_u64be(p + 12, (uint64_t)r->last_seen);
  rg_put_u64be(p + 20, r->messages);
  put_f64(p + 28, r->weight_out);
  put_f64(p + 36, r->weight_in);
  rg_put_u64be(p + 44, (uint64_t)r->as_of);
  uint8_t *q = p + ACTOR_HDR_LEN;
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++, q += 8) {
    rg_put_u32be(q, r->out_degree[k]);
    rg_put_u32be(q + 4, r->in_degree[k]);
  }
  memcpy(q, r->actor.key, r->actor.len);
  return (size_t)(q - p) + r->actor.len;
}

static int decode_actor(const MDB_val *v, rg_actor_rec_t *r) {
  const uint8_t *p = v->mv_data;
  if (v->mv_size < ACTOR_HDR_LEN) return RG_EIO;
  unsigned kinds = p[1], keylen = rg_get_u16be(p + 2);
  if (keylen > RG_ACTOR_KEY_MAX || v->mv_size != ACTOR_HDR_LEN + 8u * kinds + keylen) return RG_EIO;
  memset(r, 0, sizeof *r);
  r->actor.type = (rg_actor_type_t)p[0];
  r->actor.len = (uint16_t)keylen;
  r->first_seen = (int64_t)rg_get_u64be(p + 4);
  r->last_seen = (int64_t)rg_get_u64be(p + 12);
  r->messages = rg_get_u64be(p + 20);
  r->weight_out = get_f64(p + 28);
  r->weight_in = get_f64(p + 36);
  r->as_of = (int64_t)rg_get_u64be(p + 44);
  const uint8_t *q = p + ACTOR_HDR_LEN;
  for (unsigned k = 0; k < kinds; k++, q += 8) {
    if (k >= RG_EDGE_KIND_COUNT) continue; /* a kind this build does not know */
    r->out_degree[k] = rg_get_u32be(q);
    r->in_degree[k] = rg_get_u32be(q + 4);
  }
  memcpy(r->actor.key, q, keylen);
  r->actor.key[keylen] = '\0';
  return RG_OK;
}

/* actor_key: type byte followed by the normalised identifier. */
static size_t actor_key(uint8_t *k, const rg_actor_t *a) {
  k[0] = (uint8_t)a->type;
  memcpy(k + 1, a->key, a->len);
  return 1u + a->len;
}

/* ---- meta counters ----------------------------------------------------------------- */

static int meta_get_u64(rg_txn_t *t, const char *name, uint64_t *out) {
  MDB_val k = {strlen(name), (void *)name}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_META], &k, &v);
  if (rc == MDB_NOTFOUND) {
    *out = 0;
    return RG_OK;
  }
  if (rc) return from_mdb(rc, "meta get");
  if (v.mv_size != 8) return RG_EIO;
  *out = rg_get_u64be(v.mv_data);
  return RG_OK;
}

static int meta_put_u64(rg_txn_t *t, const char *name, uint64_t value) {
  uint8_t buf[8];
  rg_put_u64be(buf, value);
  MDB_val k = {strlen(name), (void *)name}, v = {8, buf};
  return from_mdb(mdb_put(t->txn, t->s->dbi[DB_META], &k, &v, 0), "meta put");
}

static int meta_add(rg_txn_t *t, const char *name, int64_t delta) {
  uint64_t v;
  int rc = meta_get_u64(t, name, &v);
  if (rc) return rc;
  return meta_put_u64(t, name, delta < 0 && (uint64_t)-delta > v ? 0 : v + (uint64_t)delta);
}

static void counter_name(char *buf, size_t cap, const char *group, const char *name) {
  snprintf(buf, cap, "count.%s.%s", group, name);
}

/* The meta key of counter i (CNT_…). */
static void counter_key(int i, char *buf, size_t cap) {
  if (i >= CNT_LABELS)
    snprintf(buf, cap, "count.labels");
  else if (i >= CNT_EDGE)
    counter_name(buf, cap, "edge", rg_edge_kind_name(i - CNT_EDGE));
  else
    counter_name(buf, cap, "actor", rg_actor_type_name(i - CNT_ACTOR));
}

static int count_add(rg_txn_t *t, int counter, int64_t delta) {
  t->delta[counter] += delta;
  t->dirty = true;
  return RG_OK;
}

static int count_actor(rg_txn_t *t, rg_actor_type_t type, int64_t delta) {
  return count_add(t, CNT_ACTOR + (int)type, delta);
}

static int count_edge(rg_txn_t *t, rg_edge_kind_t kind, int64_t delta) {
  return count_add(t, CNT_EDGE + (int)kind, delta);
}

/* The next actor id as this transaction sees it: its own, a parent's, or meta's. */
static int peek_next_id(rg_txn_t *t, uint64_t *next) {
  for (rg_txn_t *p = t; p; p = p->parent)
    if (p->next_id) {
      *next = p->next_id;
      return RG_OK;
    }
  int rc = meta_get_u64(t, "next_actor_id", next);
  if (!rc && !*next) *next = 1;
  return rc;
}

/* Writes the transaction's counter deltas and next actor id: into its parent if nested,
 * else into meta. 0 or the store's error (RG_ESTORAGE_FULL). */
static int flush_counters(rg_txn_t *t) {
  if (!t->dirty) return RG_OK;
  if (t->parent) {
    for (int i = 0; i < CNT_COUNT; i++) t->parent->delta[i] += t->delta[i];
    if (t->next_id) t->parent->next_id = t->next_id;
    if (t->newest > t->parent->newest) t->parent->newest = t->newest;
    t->parent->dirty = true;
    return RG_OK;
  }
  int rc = RG_OK;
  for (int i = 0; i < CNT_COUNT && !rc; i++) {
    char name[64];
    if (!t->delta[i]) continue;
    counter_key(i, name, sizeof name);
    rc = meta_add(t, name, t->delta[i]);
  }
  if (!rc && t->next_id) rc = meta_put_u64(t, "next_actor_id", t->next_id);
  uint64_t newest = 0;
  if (!rc && t->newest > 0 && !(rc = meta_get_u64(t, "newest_edge_ts", &newest)) &&
      (uint64_t)t->newest > newest)
    rc = meta_put_u64(t, "newest_edge_ts", (uint64_t)t->newest);
  return rc;
}

/* ---- open / close ------------------------------------------------------------------ */

static int decode_label(const MDB_val *v, rg_label_t *l);
static void log_key(uint8_t k[12], uint64_t id, uint32_t n);

/* Schema 3 upgrade: each existing label becomes its actor's history entry at the position
 * of its count (so history shows it and the next label counts on). */
static int seed_label_log(rg_txn_t *t) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_LABEL], &c);
  if (rc) return from_mdb(rc, "cursor");
  MDB_val k, v;
  int out = RG_OK;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !out;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    rg_label_t l;
    out = k.mv_size == 8 ? decode_label(&v, &l) : RG_EIO;
    if (out) break;
    uint8_t kb[12];
    log_key(kb, rg_get_u64be(k.mv_data), l.count ? l.count : 1);
    MDB_val lk = {12, kb};
    out = from_mdb(mdb_put(t->txn, t->s->dbi[DB_LABEL_LOG], &lk, &v, 0), "put label log");
  }
  if (!out && rc && rc != MDB_NOTFOUND) out = from_mdb(rc, "label scan");
  mdb_cursor_close(c);
  return out;
}

static int check_schema(rg_txn_t *t, char *err, size_t errlen) {
  uint64_t version;
  int rc = meta_get_u64(t, "schema_version", &version);
  if (rc) {
    snprintf(err, errlen, "%s: meta record schema_version is unreadable", t->s->dir);
    return RG_ESCHEMA;
  }
  if (version == 0) {
    MDB_stat st;
    if (mdb_stat(t->txn, t->s->dbi[DB_ACTOR], &st) != 0 || st.ms_entries != 0) {
      snprintf(err, errlen, "%s: store has actors but no schema version; refusing it", t->s->dir);
      return RG_ESCHEMA;
    }
    return meta_put_u64(t, "schema_version", RG_STORE_SCHEMA_VERSION);
  }
  if (version == 1 || version == 2) { /* 2 and 3 only added sub-databases, created at open */
    int lrc = seed_label_log(t);
    if (lrc) {
      snprintf(err, errlen, "%s: upgrading the label history: %s", t->s->dir, rg_strerror(lrc));
      return lrc;
    }
    rg_log_info(
        "%s: upgrading store schema %llu to %d (analyst indexes fill at the next "
        "recomputation)",
        t->s->dir, (unsigned long long)version, RG_STORE_SCHEMA_VERSION);
    return meta_put_u64(t, "schema_version", RG_STORE_SCHEMA_VERSION);
  }
  if (version != RG_STORE_SCHEMA_VERSION) {
    snprintf(err, errlen,
             "%s: store has schema version %llu but this repgraphd reads version %d; "
             "use a matching release or migrate the store",
             t->s->dir, (unsigned long long)version, RG_STORE_SCHEMA_VERSION);
    return RG_ESCHEMA;
  }
  return RG_OK;
}

int rg_store_open(const rg_store_opts_t *o, rg_store_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (!o->dir || !o->dir[0] || o->map_size == 0 || o->map_size > o->map_max) {
    snprintf(err, errlen, "store: need a directory and 0 < map_size <= map_max");
    return RG_ECONFIG;
  }
  if (mkdir(o->dir, 0750) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "%s: cannot create directory: %s", o->dir, strerror(errno));
    return RG_EIO;
  }
  rg_store_t *s = calloc(1, sizeof *s);
  if (!s) return RG_ENOMEM;
  snprintf(s->dir, sizeof s->dir, "%s", o->dir);
  s->map_max = o->map_max;
  s->half_life_s = o->half_life_s;
  /* Readers first (glibc's default kind): one thread may hold several read transactions
   * (the loop thread's shared snapshot and a stats read, say), and a writer-preferring lock
   * would deadlock it behind a waiting map growth. Growth waits until no read transaction
   * is open, which loop-thread reads never keep for long. */
  pthread_rwlock_init(&s->resize_lock, NULL);
  pthread_mutex_init(&s->spare_lock, NULL);

  int rc = mdb_env_create(&s->env);
  if (rc == 0) rc = mdb_env_set_maxdbs(s->env, DB_COUNT);
  if (rc == 0) rc = mdb_env_set_mapsize(s->env, (size_t)o->map_size);
  if (rc == 0) rc = mdb_env_set_maxreaders(s->env, 256);
  if (rc) {
    snprintf(err, errlen, "%s: %s", o->dir, mdb_strerror(rc));
    goto fail_io;
  }
  rc = mdb_env_open(s->env, o->dir, MDB_NOTLS, 0640);
  if (rc) {
    snprintf(err, errlen, "%s: cannot open store: %s%s", o->dir, mdb_strerror(rc),
             rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH
                 ? " (data.mdb is not an LMDB file of this version; refusing to touch it)"
                 : "");
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
      rg_store_close(s);
      return RG_ESCHEMA;
    }
    goto fail_io;
  }
  MDB_envinfo info;
  mdb_env_info(s->env, &info);
  s->map_size = info.me_mapsize;

  rg_txn_t *t;
  rc = rg_store_write_begin(s, &t);
  if (rc) {
    snprintf(err, errlen, "%s: cannot begin transaction: %s", o->dir, rg_strerror(rc));
    goto fail;
  }
  /* Records in the main database but no meta database: another program's environment. */
  MDB_dbi main_dbi, meta_dbi;
  MDB_stat main_st;
  if (mdb_dbi_open(t->txn, NULL, 0, &main_dbi) == 0 && mdb_stat(t->txn, main_dbi, &main_st) == 0 &&
      main_st.ms_entries > 0 && mdb_dbi_open(t->txn, db_names[DB_META], 0, &meta_dbi) != 0) {
    snprintf(err, errlen, "%s: data.mdb holds another program's databases; refusing to touch it",
             o->dir);
    rg_txn_end(t);
    rc = RG_ESCHEMA;
    goto fail;
  }
  for (int i = 0; i < DB_COUNT && rc == 0; i++)
    rc = mdb_dbi_open(t->txn, db_names[i], MDB_CREATE, &s->dbi[i]);
  if (rc) {
    snprintf(err, errlen, "%s: cannot open sub-database: %s", o->dir, mdb_strerror(rc));
    rg_txn_end(t);
    goto fail_io;
  }
  rc = check_schema(t, err, errlen);
  if (rc) {
    rg_txn_end(t);
    goto fail;
  }
  rc = rg_txn_commit(t);
  if (rc) {
    snprintf(err, errlen, "%s: cannot commit: %s", o->dir, rg_strerror(rc));
    goto fail;
  }
  *out = s;
  return RG_OK;
fail_io:
  rc = RG_EIO;
fail:
  rg_store_close(s);
  return rc;
}

/* Aborts the spare read transactions. */
static void drop_spares(rg_store_t *s) {
  pthread_mutex_lock(&s->spare_lock);
  while (s->n_spare) {
    rg_txn_t *t = s->spare[--s->n_spare];
    mdb_txn_abort(t->txn);
    free(t);
  }
  pthread_mutex_unlock(&s->spare_lock);
}

void rg_store_close(rg_store_t *s) {
  if (!s) return;
  drop_spares(s);
  if (s->env) mdb_env_close(s->env);
  pthread_rwlock_destroy(&s->resize_lock);
  pthread_mutex_destroy(&s->spare_lock);
  free(s);
}

double rg_store_half_life(const rg_store_t *s) {
  return s->half_life_s;
}

void rg_store_info(rg_store_t *s, rg_store_info_t *info) {
  MDB_envinfo ei;
  MDB_stat st;
  pthread_rwlock_rdlock(&s->resize_lock);
  mdb_env_info(s->env, &ei);
  mdb_env_stat(s->env, &st);
  pthread_rwlock_unlock(&s->resize_lock);
  info->map_size = ei.me_mapsize;
  info->map_max = s->map_max;
  info->page_size = st.ms_psize;
  info->used_bytes = (uint64_t)(ei.me_last_pgno + 1) * st.ms_psize;
  info->map_grows = s->map_grows;
}

int rg_store_grow(rg_store_t *s) {
  if (s->map_size >= s->map_max) return RG_ESTORAGE_FULL;
  uint64_t next = s->map_size * 2 > s->map_max ? s->map_max : s->map_size * 2;
  pthread_rwlock_wrlock(&s->resize_lock);
  drop_spares(s); /* no transaction of this process may outlive the old map */
  int rc = mdb_env_set_mapsize(s->env, (size_t)next);
  pthread_rwlock_unlock(&s->resize_lock);
  if (rc) return from_mdb(rc, "set mapsize");
  rg_log_info("store: map grew from %llu to %llu bytes", (unsigned long long)s->map_size,
              (unsigned long long)next);
  s->map_size = next;
  s->map_grows++;
  return RG_OK;
}

/* ---- transactions ------------------------------------------------------------------ */

static int txn_begin(rg_store_t *s, MDB_txn *parent, unsigned flags, rg_txn_t **out) {
  rg_txn_t *t = calloc(1, sizeof *t);
  if (!t) return RG_ENOMEM;
  t->s = s;
  t->read = (flags & MDB_RDONLY) != 0;
  if (t->read) pthread_rwlock_rdlock(&s->resize_lock);
  int rc = mdb_txn_begin(s->env, parent, flags, &t->txn);
  if (rc) {
    if (t->read) pthread_rwlock_unlock(&s->resize_lock);
    free(t);
    return from_mdb(rc, "txn begin");
  }
  *out = t;
  return RG_OK;
}

int rg_store_read_begin(rg_store_t *s, rg_txn_t **out) {
  pthread_rwlock_rdlock(&s->resize_lock); /* lock order: resize_lock, then spare_lock */
  pthread_mutex_lock(&s->spare_lock);
  rg_txn_t *t = s->n_spare ? s->spare[--s->n_spare] : NULL;
  pthread_mutex_unlock(&s->spare_lock);
  if (!t) {
    pthread_rwlock_unlock(&s->resize_lock);
    return txn_begin(s, NULL, MDB_RDONLY, out);
  }
  int rc = mdb_txn_renew(t->txn);
  if (rc) {
    pthread_rwlock_unlock(&s->resize_lock);
    mdb_txn_abort(t->txn);
    free(t);
    return from_mdb(rc, "txn renew");
  }
  *out = t;
  return RG_OK;
}

int rg_store_write_begin(rg_store_t *s, rg_txn_t **out) {
  return txn_begin(s, NULL, 0, out);
}

int rg_store_nested_begin(rg_txn_t *parent, rg_txn_t **out) {
  int rc = txn_begin(parent->s, parent->txn, 0, out);
  if (!rc) (*out)->parent = parent;
  return rc;
}

int rg_txn_commit(rg_txn_t *t) {
  int frc = t->read || t->parent ? RG_OK : flush_counters(t); /* into meta, before commit */
  if (frc) {
    mdb_txn_abort(t->txn);
    free(t);
    return frc;
  }
  int rc = mdb_txn_commit(t->txn);
  if (rc == MDB_SUCCESS && t->parent) flush_counters(t); /* into the parent, after commit */
  if (t->read) pthread_rwlock_unlock(&t->s->resize_lock);
  free(t);
  return from_mdb(rc, "commit");
}

void rg_txn_end(rg_txn_t *t) {
  if (!t) return;
  if (t->read) {
    rg_store_t *s = t->s;
    mdb_txn_reset(t->txn);
    pthread_mutex_lock(&s->spare_lock);
    bool kept = s->n_spare < READ_TXN_SPARES;
    if (kept) s->spare[s->n_spare++] = t;
    pthread_mutex_unlock(&s->spare_lock);
    pthread_rwlock_unlock(&s->resize_lock);
    if (kept) return;
    mdb_txn_abort(t->txn);
    free(t);
    return;
  }
  mdb_txn_abort(t->txn);
  free(t);
}

/* ---- actors ------------------------------------------------------------------------ */

int rg_store_find_actor(rg_txn_t *t, const rg_actor_t *a, uint64_t *id) {
  uint8_t kb[1 + RG_ACTOR_KEY_MAX];
  MDB_val k = {actor_key(kb, a), kb}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_ACTOR_KEY], &k, &v);
  if (rc) return from_mdb(rc, "find actor");
  if (v.mv_size != 8) return RG_EIO;
  *id = rg_get_u64be(v.mv_data);
  return RG_OK;
}

static int read_actor(rg_txn_t *t, uint64_t id, rg_actor_rec_t *r) {
  uint8_t kb[8];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_ACTOR], &k, &v);
  if (rc) return from_mdb(rc, "get actor");
  return decode_actor(&v, r);
}

static int write_actor(rg_txn_t *t, uint64_t id, const rg_actor_rec_t *r) {
  uint8_t kb[8], vb[ACTOR_REC_MAX];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb}, v = {encode_actor(vb, r), vb};
  return from_mdb(mdb_put(t->txn, t->s->dbi[DB_ACTOR], &k, &v, 0), "put actor");
}

int rg_store_get_actor(rg_txn_t *t, uint64_t id, int64_t now, rg_actor_rec_t *r) {
  int rc = read_actor(t, id, r);
  if (rc) return rc;
  r->weight_out = rg_decay(r->weight_out, r->as_of, now, t->s->half_life_s);
  r->weight_in = rg_decay(r->weight_in, r->as_of, now, t->s->half_life_s);
  if (now > r->as_of) r->as_of = now;
  return RG_OK;
}

int rg_store_upsert_actor(rg_txn_t *t, const rg_actor_t *a, int64_t first_ts, int64_t last_ts,
                          uint64_t messages, uint64_t *id) {
  int rc = rg_store_find_actor(t, a, id);
  rg_actor_rec_t r;
  if (rc == RG_OK) {
    rc = read_actor(t, *id, &r);
    if (rc) return rc;
    if (first_ts < r.first_seen) r.first_seen = first_ts;
    if (last_ts > r.last_seen) r.last_seen = last_ts;
    r.messages += messages;
    return write_actor(t, *id, &r);
  }
  if (rc != RG_ENOT_FOUND) return rc;

  if ((rc = peek_next_id(t, id))) return rc;
  t->next_id = *id + 1;
  t->dirty = true;
  uint8_t kb[1 + RG_ACTOR_KEY_MAX], ib[8];
  rg_put_u64be(ib, *id);
  MDB_val k = {actor_key(kb, a), kb}, v = {8, ib};
  if ((rc = from_mdb(mdb_put(t->txn, t->s->dbi[DB_ACTOR_KEY], &k, &v, 0), "put key"))) return rc;
  memset(&r, 0, sizeof r);
  r.actor = *a;
  r.first_seen = r.as_of = first_ts;
  r.last_seen = last_ts;
  r.messages = messages;
  if ((rc = write_actor(t, *id, &r))) return rc;
  return count_actor(t, a->type, 1);
}

/* Adds weight w observed at ts to a sum decayed to *as_of (both move to the later time). */
static void add_decayed(double *sum, int64_t *as_of, double w, int64_t ts, double h) {
  if (ts >= *as_of) {
    *sum = rg_decay(*sum, *as_of, ts, h) + w;
    *as_of = ts;
  } else {
    *sum += rg_decay(w, ts, *as_of, h);
  }
}

/* Moves both of an actor's sums to time ts (if later) and adds w_out / w_in at ts. */
static void actor_add_weight(rg_actor_rec_t *r, double w_out, double w_in, int64_t ts, double h) {
  int64_t as_of = r->as_of;
  add_decayed(&r->weight_out, &as_of, w_out, ts, h);
  as_of = r->as_of;
  add_decayed(&r->weight_in, &as_of, w_in, ts, h);
  r->as_of = as_of;
}

int rg_store_add_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst, int64_t ts,
                      double w, uint64_t n) {
  double h = t->s->half_life_s;
  uint8_t kb[EDGE_KEY_LEN], vb[EDGE_VAL_LEN];
  edge_key(kb, src, kind, dst);
  MDB_val k = {EDGE_KEY_LEN, kb}, v;
  rg_edge_rec_t e;
  int rc = mdb_get(t->txn, t->s->dbi[DB_OUT], &k, &v);
  bool created = rc == MDB_NOTFOUND;
  if (created) {
    e = (rg_edge_rec_t){.count = 0, .weight = 0, .as_of = ts, .first_seen = ts, .last_seen = ts};
  } else if (rc) {
    return from_mdb(rc, "get edge");
  } else if ((rc = decode_edge(&v, &e))) {
    return rc;
  }

  rg_actor_rec_t rs, rd;
  if ((rc = read_actor(t, src, &rs))) return rc;
  if ((rc = read_actor(t, dst, &rd))) return rc;

  e.count += n;
  add_decayed(&e.weight, &e.as_of, w, ts, h);
  if (ts < e.first_seen) e.first_seen = ts;
  if (ts > e.last_seen) e.last_seen = ts;
  if (ts > t->newest) t->newest = ts, t->dirty = true; /* meta newest_edge_ts at commit */
  encode_edge(vb, &e);
  v = (MDB_val){EDGE_VAL_LEN, vb};
  if ((rc = from_mdb(mdb_put(t->txn, t->s->dbi[DB_OUT], &k, &v, 0), "put edge"))) return rc;

  if (created) {
    uint8_t ib[EDGE_KEY_LEN];
    edge_key(ib, dst, kind, src);
    MDB_val ik = {EDGE_KEY_LEN, ib}, iv = {0, NULL};
    if ((rc = from_mdb(mdb_put(t->txn, t->s->dbi[DB_IN], &ik, &iv, 0), "put in-edge"))) return rc;
    if ((rc = count_edge(t, kind, 1))) return rc;
    rs.out_degree[kind]++;
    if (src == dst)
      rs.in_degree[kind]++;
    else
      rd.in_degree[kind]++;
  }
  if (src == dst) {
    actor_add_weight(&rs, w, w, ts, h);
    return write_actor(t, src, &rs);
  }
  actor_add_weight(&rs, w, 0, ts, h);
  actor_add_weight(&rd, 0, w, ts, h);
  if ((rc = write_actor(t, src, &rs))) return rc;
  return write_actor(t, dst, &rd);
}

int rg_store_get_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst, int64_t now,
                      rg_edge_rec_t *e) {
  uint8_t kb[EDGE_KEY_LEN];
  edge_key(kb, src, kind, dst);
  MDB_val k = {EDGE_KEY_LEN, kb}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_OUT], &k, &v);
  if (rc) return from_mdb(rc, "get edge");
  if ((rc = decode_edge(&v, e))) return rc;
  e->weight = rg_decay(e->weight, e->as_of, now, t->s->half_life_s);
  if (now > e->as_of) e->as_of = now;
  return RG_OK;
}

/* ---- scans ------------------------------------------------------------------------- */

/* Visits the edges of `id` (all edges when 0) in one index, starting after (kind, after)
 * when `after` is non-zero. */
static int scan(rg_txn_t *t, int dbi, uint64_t id, rg_edge_kind_t after_kind, uint64_t after,
                bool reverse, int64_t now, rg_edge_visit_fn fn, void *ctx) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return from_mdb(rc, "cursor");
  uint8_t kb[EDGE_KEY_LEN] = {0}, start[EDGE_KEY_LEN];
  edge_key(start, id, after_kind, after);
  rg_put_u64be(kb, id);
  MDB_val k = {id ? 8 : 0, kb}, v;
  if (id && after) k = (MDB_val){EDGE_KEY_LEN, kb}, memcpy(kb, start, EDGE_KEY_LEN);
  MDB_cursor_op op = id ? MDB_SET_RANGE : MDB_FIRST;
  int out = RG_OK;
  while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
    if (op == MDB_SET_RANGE && after && k.mv_size == EDGE_KEY_LEN &&
        memcmp(k.mv_data, start, EDGE_KEY_LEN) == 0) {
      op = MDB_NEXT; /* exclusive start */
      continue;
    }
    op = MDB_NEXT;
    if (k.mv_size != EDGE_KEY_LEN) {
      out = RG_EIO;
      break;
    }
    const uint8_t *p = k.mv_data;
    uint64_t a = rg_get_u64be(p), b = rg_get_u64be(p + 9);
    if (id && a != id) break;
    if (p[8] >= RG_EDGE_KIND_COUNT) {
      out = RG_EIO; /* a kind this build does not know: written by another schema */
      break;
    }
    rg_edge_kind_t kind = (rg_edge_kind_t)p[8];
    rg_edge_rec_t e;
    uint64_t src = reverse ? b : a, dst = reverse ? a : b;
    out = reverse ? rg_store_get_edge(t, src, kind, dst, now, &e) : decode_edge(&v, &e);
    if (out) break;
    if (!reverse) {
      e.weight = rg_decay(e.weight, e.as_of, now, t->s->half_life_s);
      if (now > e.as_of) e.as_of = now;
    }
    if ((out = fn(ctx, src, kind, dst, &e))) break;
  }
  if (!out && rc != MDB_NOTFOUND) out = from_mdb(rc, "scan");
  mdb_cursor_close(c);
  return out;
}

int rg_store_scan_out(rg_txn_t *t, uint64_t src, int64_t now, rg_edge_visit_fn fn, void *ctx) {
  return scan(t, DB_OUT, src, 0, 0, false, now, fn, ctx);
}

int rg_store_scan_out_after(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                            int64_t now, rg_edge_visit_fn fn, void *ctx) {
  return scan(t, DB_OUT, src, kind, dst, false, now, fn, ctx);
}

int rg_store_scan_in(rg_txn_t *t, uint64_t dst, int64_t now, rg_edge_visit_fn fn, void *ctx) {
  return scan(t, DB_IN, dst, 0, 0, true, now, fn, ctx);
}

/* ---- forget ------------------------------------------------------------------------ */

/* Deletes edge src -kind-> dst from both indexes and takes it off the other end's record
 * (`other` is the endpoint that is not being forgotten; for a self-loop there is none). */
static int delete_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                       uint64_t other) {
  uint8_t ob[EDGE_KEY_LEN], ib[EDGE_KEY_LEN];
  edge_key(ob, src, kind, dst);
  edge_key(ib, dst, kind, src);
  MDB_val ok = {EDGE_KEY_LEN, ob}, ik = {EDGE_KEY_LEN, ib}, v;
  rg_edge_rec_t e;
  int rc = from_mdb(mdb_get(t->txn, t->s->dbi[DB_OUT], &ok, &v), "get edge");
  if (rc || (rc = decode_edge(&v, &e))) return rc;
  if ((rc = from_mdb(mdb_del(t->txn, t->s->dbi[DB_OUT], &ok, NULL), "del edge"))) return rc;
  if ((rc = from_mdb(mdb_del(t->txn, t->s->dbi[DB_IN], &ik, NULL), "del in-edge"))) return rc;
  if ((rc = count_edge(t, kind, -1))) return rc;
  if (src == dst) return RG_OK;
  rg_actor_rec_t r;
  if ((rc = read_actor(t, other, &r))) return rc;
  /* Bring the record's sums and the edge's weight to the same time before subtracting. */
  int64_t at = r.as_of > e.as_of ? r.as_of : e.as_of;
  actor_add_weight(&r, 0, 0, at, t->s->half_life_s);
  double w = rg_decay(e.weight, e.as_of, at, t->s->half_life_s);
  bool other_is_src = other == src;
  uint32_t *deg = other_is_src ? &r.out_degree[kind] : &r.in_degree[kind];
  double *sum = other_is_src ? &r.weight_out : &r.weight_in;
  if (*deg) (*deg)--;
  *sum = *sum > w ? *sum - w : 0;
  return write_actor(t, other, &r);
}

/* Finds the first edge of `id` in the out (or in) index, as (src, kind, dst). */
static int first_edge(rg_txn_t *t, int dbi, uint64_t id, uint64_t *src, rg_edge_kind_t *kind,
                      uint64_t *dst) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return from_mdb(rc, "cursor");
  uint8_t kb[8];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb}, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  int out = from_mdb(rc, "first edge");
  if (out == RG_OK) {
    const uint8_t *p = k.mv_data;
    if (k.mv_size != EDGE_KEY_LEN || rg_get_u64be(p) != id) {
      out = k.mv_size != EDGE_KEY_LEN ? RG_EIO : RG_ENOT_FOUND;
    } else if (p[8] >= RG_EDGE_KIND_COUNT) {
      out = RG_EIO;
    } else {
      uint64_t b = rg_get_u64be(p + 9);
      *kind = (rg_edge_kind_t)p[8];
      *src = dbi == DB_OUT ? id : b;
      *dst = dbi == DB_OUT ? b : id;
    }
  }
  mdb_cursor_close(c);
  return out;
}

static int log_delete(rg_txn_t *t, uint64_t id);

int rg_store_forget(rg_txn_t *t, uint64_t id) {
  rg_actor_rec_t r;
  int rc = read_actor(t, id, &r);
  if (rc) return rc;
  for (int dbi = DB_OUT; dbi <= DB_IN; dbi++) {
    uint64_t src, dst;
    rg_edge_kind_t kind;
    while ((rc = first_edge(t, dbi, id, &src, &kind, &dst)) == RG_OK) {
      if ((rc = delete_edge(t, src, kind, dst, src == id ? dst : src))) return rc;
    }
    if (rc != RG_ENOT_FOUND) return rc;
  }
  uint8_t ib[8], kb[1 + RG_ACTOR_KEY_MAX];
  rg_put_u64be(ib, id);
  MDB_val idk = {8, ib}, key = {actor_key(kb, &r.actor), kb};
  rc = mdb_del(t->txn, t->s->dbi[DB_LABEL], &idk, NULL);
  if (rc == 0 && (rc = count_add(t, CNT_LABELS, -1))) return rc;
  if (rc && rc != MDB_NOTFOUND) return from_mdb(rc, "del label");
  if ((rc = log_delete(t, id))) return rc;
  if ((rc = from_mdb(mdb_del(t->txn, t->s->dbi[DB_ACTOR], &idk, NULL), "del actor"))) return rc;
  if ((rc = from_mdb(mdb_del(t->txn, t->s->dbi[DB_ACTOR_KEY], &key, NULL), "del key"))) return rc;
  return count_actor(t, r.actor.type, -1);
}

/* ---- labels ------------------------------------------------------------------------ */

static int decode_label(const MDB_val *v, rg_label_t *l) {
  const uint8_t *p = v->mv_data;
  if (v->mv_size < LABEL_HDR_LEN) return RG_EIO;
  uint16_t note_len = rg_get_u16be(p + 2);
  if (note_len > RG_LABEL_NOTE_MAX || v->mv_size != LABEL_HDR_LEN + (size_t)note_len) return RG_EIO;
  l->verdict = (rg_verdict_t)p[0];
  l->source = (rg_label_source_t)p[1];
  l->note_len = note_len;
  l->weight = get_f64(p + 4);
  l->ts = (int64_t)rg_get_u64be(p + 12);
  l->count = rg_get_u32be(p + 20);
  memcpy(l->note, p + LABEL_HDR_LEN, note_len);
  l->note[note_len] = '\0';
  return RG_OK;
}

int rg_store_get_label(rg_txn_t *t, uint64_t id, rg_label_t *l) {
  uint8_t kb[8];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_LABEL], &k, &v);
  if (rc) return from_mdb(rc, "get label");
  return decode_label(&v, l);
}

static size_t encode_label(uint8_t *vb, const rg_label_t *l, uint32_t count) {
  uint16_t note_len = l->note_len > RG_LABEL_NOTE_MAX ? RG_LABEL_NOTE_MAX : l->note_len;
  vb[0] = (uint8_t)l->verdict;
  vb[1] = (uint8_t)l->source;
  rg_put_u16be(vb + 2, note_len);
  put_f64(vb + 4, l->weight);
  rg_put_u64be(vb + 12, (uint64_t)l->ts);
  rg_put_u32be(vb + 20, count);
  memcpy(vb + LABEL_HDR_LEN, l->note, note_len);
  return LABEL_HDR_LEN + (size_t)note_len;
}

/* label_log key: actor id, then the entry's 1-based position. */
static void log_key(uint8_t k[12], uint64_t id, uint32_t n) {
  rg_put_u64be(k, id);
  rg_put_u32be(k + 8, n);
}

/* Number of entries in an actor's label history (the position of its last one). */
static int log_length(rg_txn_t *t, uint64_t id, uint32_t *n) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_LABEL_LOG], &c);
  if (rc) return from_mdb(rc, "cursor");
  uint8_t kb[12];
  log_key(kb, id, UINT32_MAX);
  MDB_val k = {12, kb}, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  rc = mdb_cursor_get(c, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
  *n = 0;
  if (rc == 0 && k.mv_size == 12 && rg_get_u64be(k.mv_data) == id)
    *n = rg_get_u32be((const uint8_t *)k.mv_data + 8);
  mdb_cursor_close(c);
  return rc == 0 || rc == MDB_NOTFOUND ? RG_OK : from_mdb(rc, "label log");
}

/* Appends l to the actor's history; *count receives its position. */
static int log_append(rg_txn_t *t, uint64_t id, const rg_label_t *l, uint32_t *count) {
  uint32_t n;
  int rc = log_length(t, id, &n);
  if (rc) return rc;
  uint8_t kb[12], vb[LABEL_HDR_LEN + RG_LABEL_NOTE_MAX];
  *count = n + 1;
  log_key(kb, id, *count);
  MDB_val k = {12, kb}, v = {encode_label(vb, l, *count), vb};
  return from_mdb(mdb_put(t->txn, t->s->dbi[DB_LABEL_LOG], &k, &v, 0), "put label log");
}

int rg_store_put_label(rg_txn_t *t, uint64_t id, const rg_label_t *l) {
  rg_label_t old;
  uint8_t ak[8];
  rg_put_u64be(ak, id);
  MDB_val akey = {8, ak}, aval;
  int rc = from_mdb(mdb_get(t->txn, t->s->dbi[DB_ACTOR], &akey, &aval), "get actor");
  if (rc) return rc; /* RG_ENOT_FOUND: no such actor (forgotten) */
  rc = rg_store_get_label(t, id, &old);
  if (rc && rc != RG_ENOT_FOUND) return rc;
  if (rc == RG_ENOT_FOUND && (rc = count_add(t, CNT_LABELS, 1))) return rc;
  uint32_t count;
  if ((rc = log_append(t, id, l, &count))) return rc;
  uint8_t kb[8], vb[LABEL_HDR_LEN + RG_LABEL_NOTE_MAX];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb}, v = {encode_label(vb, l, count), vb};
  return from_mdb(mdb_put(t->txn, t->s->dbi[DB_LABEL], &k, &v, 0), "put label");
}

int rg_store_unlabel(rg_txn_t *t, uint64_t id, int64_t ts, const char *note, uint16_t note_len) {
  rg_label_t l;
  int rc = rg_store_get_label(t, id, &l);
  if (rc) return rc;
  uint8_t kb[8];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb};
  if ((rc = from_mdb(mdb_del(t->txn, t->s->dbi[DB_LABEL], &k, NULL), "del label"))) return rc;
  if ((rc = count_add(t, CNT_LABELS, -1))) return rc;
  l.verdict = RG_VERDICT_RETRACTED;
  l.ts = ts;
  l.note_len = note_len > RG_LABEL_NOTE_MAX ? RG_LABEL_NOTE_MAX : note_len;
  memcpy(l.note, note, l.note_len);
  uint32_t count;
  return log_append(t, id, &l, &count);
}

int rg_store_scan_label_history(rg_txn_t *t, uint64_t id, rg_label_visit_fn fn, void *ctx) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[DB_LABEL_LOG], &c);
  if (rc) return from_mdb(rc, "cursor");
  uint8_t kb[12];
  log_key(kb, id, UINT32_MAX);
  MDB_val k = {12, kb}, v;
  int out = RG_OK;
  rg_label_t l;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); /* past the actor's newest entry */
  for (rc = mdb_cursor_get(c, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV); rc == 0 && !out;
       rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
    if (k.mv_size != 12 || rg_get_u64be(k.mv_data) != id) break;
    if (!(out = decode_label(&v, &l))) out = fn(ctx, id, &l);
  }
  if (!out && rc && rc != MDB_NOTFOUND) out = from_mdb(rc, "label log");
  mdb_cursor_close(c);
  return out;
}

/* Deletes an actor's whole label history (forget). */
static int log_delete(rg_txn_t *t, uint64_t id) {
  uint32_t n;
  int rc = log_length(t, id, &n);
  for (uint32_t i = 1; i <= n && !rc; i++) {
    uint8_t kb[12];
    log_key(kb, id, i);
    MDB_val k = {12, kb};
    rc = mdb_del(t->txn, t->s->dbi[DB_LABEL_LOG], &k, NULL);
    rc = rc == MDB_NOTFOUND ? RG_OK : from_mdb(rc, "del label log");
  }
  return rc;
}

/* Counter i as transaction t sees it: meta plus the deltas of t and its parents. */
static int counter_get(rg_txn_t *t, int i, uint64_t *out) {
  char name[64];
  counter_key(i, name, sizeof name);
  int rc = meta_get_u64(t, name, out);
  int64_t delta = 0;
  for (rg_txn_t *p = t; p; p = p->parent) delta += p->delta[i];
  *out = delta < 0 && (uint64_t)-delta > *out ? 0 : *out + (uint64_t)delta;
  return rc;
}

int rg_store_counts(rg_txn_t *t, rg_store_counts_t *out) {
  memset(out, 0, sizeof *out);
  int rc = RG_OK;
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX && !rc; ty++)
    rc = counter_get(t, CNT_ACTOR + ty, &out->actors[ty]);
  for (int k = 0; k < RG_EDGE_KIND_COUNT && !rc; k++)
    rc = counter_get(t, CNT_EDGE + k, &out->edges[k]);
  if (!rc) rc = counter_get(t, CNT_LABELS, &out->labels);
  return rc;
}

int rg_store_newest_edge_ts(rg_txn_t *t, int64_t *out) {
  uint64_t v = 0;
  int rc = meta_get_u64(t, "newest_edge_ts", &v);
  *out = rc ? 0 : (int64_t)v;
  return rc;
}

/* ---- whole-store scans -------------------------------------------------------------- */

/* Walks a sub-database keyed by an 8-byte id, decoding each value with `decode`. */
static int scan_by_id(rg_txn_t *t, int dbi, int (*visit)(void *, uint64_t, const MDB_val *),
                      void *ctx) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return from_mdb(rc, "cursor");
  MDB_val k, v;
  MDB_cursor_op op = MDB_FIRST;
  int out = RG_OK;
  while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
    op = MDB_NEXT;
    if (k.mv_size != 8) {
      out = RG_EIO;
      break;
    }
    if ((out = visit(ctx, rg_get_u64be(k.mv_data), &v))) break;
  }
  if (!out && rc != MDB_NOTFOUND) out = from_mdb(rc, "scan");
  mdb_cursor_close(c);
  return out;
}

typedef struct {
  rg_actor_visit_fn fn;
  void *ctx;
  int64_t now;
  double h;
} actor_scan_t;

static int visit_actor(void *ctx, uint64_t id, const MDB_val *v) {
  actor_scan_t *a = ctx;
  rg_actor_rec_t r;
  int rc = decode_actor(v, &r);
  if (rc) return rc;
  r.weight_out = rg_decay(r.weight_out, r.as_of, a->now, a->h);
  r.weight_in = rg_decay(r.weight_in, r.as_of, a->now, a->h);
  if (a->now > r.as_of) r.as_of = a->now;
  return a->fn(a->ctx, id, &r);
}

int rg_store_scan_actors(rg_txn_t *t, int64_t now, rg_actor_visit_fn fn, void *ctx) {
  actor_scan_t a = {fn, ctx, now, t->s->half_life_s};
  return scan_by_id(t, DB_ACTOR, visit_actor, &a);
}

typedef struct {
  rg_label_visit_fn fn;
  void *ctx;
} label_scan_t;

static int visit_label(void *ctx, uint64_t id, const MDB_val *v) {
  label_scan_t *a = ctx;
  rg_label_t l;
  int rc = decode_label(v, &l);
  return rc ? rc : a->fn(a->ctx, id, &l);
}

int rg_store_scan_labels(rg_txn_t *t, rg_label_visit_fn fn, void *ctx) {
  label_scan_t a = {fn, ctx};
  return scan_by_id(t, DB_LABEL, visit_label, &a);
}

int rg_store_max_actor_id(rg_txn_t *t, uint64_t *max_id) {
  uint64_t next;
  int rc = peek_next_id(t, &next);
  if (rc) return rc;
  *max_id = next - 1;
  return RG_OK;
}

/* ---- generations: scores and clusters ------------------------------------------------ */

#define SCORE_HDR_LEN  27 /* reputation, anomaly, cluster, propagated, band, n_reasons */
#define REASON_LEN     17 /* code, value, aux */
#define CLUSTER_LEN    (8 + 8 + 4 * RG_ACTOR_TYPE_MAX + 4 + 4 + 8 + 8 + 8 + 8 + 1)
#define GENERATION_LEN (8 * 8)

static void gen_key(uint8_t k[16], uint64_t gen, uint64_t id) {
  rg_put_u64be(k, gen);
  rg_put_u64be(k + 8, id);
}

/* A score in [0,1] as a key part: non-negative doubles sort like their IEEE bits. */
static uint64_t score_bits(double v) {
  if (!(v > 0)) v = 0;
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static double bits_score(const uint8_t *p) {
  return get_f64(p);
}

/* Puts a key with an empty value into an index sub-database (MDB_APPEND: at the end). */
static int put_index(rg_txn_t *t, int dbi, const uint8_t *key, size_t len, unsigned flags) {
  MDB_val k = {len, (void *)key}, v = {0, NULL};
  int rc = mdb_put(t->txn, t->s->dbi[dbi], &k, &v, flags);
  if (rc == MDB_KEYEXIST && (flags & MDB_APPEND)) {
    rg_log_error("store: %s index row appended out of order", db_names[dbi]);
    return RG_EINTERNAL;
  }
  return from_mdb(rc, "put index");
}

#define MEMBER_KEY_LEN 24 /* gen, cluster, actor */
#define RANK_KEY_LEN   26 /* gen, metric, type, score, actor */
#define CRANK_KEY_LEN  24 /* gen, suspicion, cluster */

int rg_store_append_member(rg_txn_t *t, uint64_t gen, uint64_t cluster, uint64_t actor) {
  uint8_t k[MEMBER_KEY_LEN];
  rg_put_u64be(k, gen);
  rg_put_u64be(k + 8, cluster);
  rg_put_u64be(k + 16, actor);
  return put_index(t, DB_MEMBER, k, sizeof k, MDB_APPEND);
}

int rg_store_append_rank(rg_txn_t *t, uint64_t gen, rg_rank_metric_t metric, rg_actor_type_t type,
                         double value, uint64_t actor) {
  uint8_t k[RANK_KEY_LEN];
  rg_put_u64be(k, gen);
  k[8] = (uint8_t)metric;
  k[9] = (uint8_t)type;
  rg_put_u64be(k + 10, score_bits(value));
  rg_put_u64be(k + 18, actor);
  return put_index(t, DB_RANK, k, sizeof k, MDB_APPEND);
}

int rg_store_put_score(rg_txn_t *t, uint64_t gen, uint64_t actor, const rg_score_t *sc) {
  uint8_t kb[16], vb[SCORE_HDR_LEN + REASON_LEN * RG_REASONS_MAX];
  unsigned n = sc->n_reasons > RG_REASONS_MAX ? RG_REASONS_MAX : sc->n_reasons;
  gen_key(kb, gen, actor);
  put_f64(vb, sc->reputation);
  put_f64(vb + 8, sc->anomaly);
  rg_put_u64be(vb + 16, sc->cluster);
  vb[24] = sc->propagated;
  vb[25] = sc->band;
  vb[26] = (uint8_t)n;
  for (unsigned i = 0; i < n; i++) {
    uint8_t *p = vb + SCORE_HDR_LEN + REASON_LEN * i;
    p[0] = sc->reasons[i].code;
    put_f64(p + 1, sc->reasons[i].value);
    rg_put_u64be(p + 9, sc->reasons[i].aux);
  }
  MDB_val k = {16, kb}, v = {SCORE_HDR_LEN + REASON_LEN * n, vb};
  return from_mdb(mdb_put(t->txn, t->s->dbi[DB_SCORE], &k, &v, 0), "put score");
}

int rg_store_get_score(rg_txn_t *t, uint64_t gen, uint64_t actor, rg_score_t *sc) {
  uint8_t kb[16];
  gen_key(kb, gen, actor);
  MDB_val k = {16, kb}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_SCORE], &k, &v);
  if (rc) return from_mdb(rc, "get score");
  const uint8_t *p = v.mv_data;
  if (v.mv_size < SCORE_HDR_LEN || p[26] > RG_REASONS_MAX ||
      v.mv_size != SCORE_HDR_LEN + (size_t)REASON_LEN * p[26])
    return RG_EIO;
  sc->reputation = get_f64(p);
  sc->anomaly = get_f64(p + 8);
  sc->cluster = rg_get_u64be(p + 16);
  sc->propagated = p[24];
  sc->band = p[25];
  sc->n_reasons = p[26];
  for (unsigned i = 0; i < sc->n_reasons; i++) {
    const uint8_t *r = p + SCORE_HDR_LEN + REASON_LEN * i;
    sc->reasons[i] = (rg_reason_t){r[0], get_f64(r + 1), rg_get_u64be(r + 9)};
  }
  return RG_OK;
}

int rg_store_put_cluster(rg_txn_t *t, uint64_t gen, const rg_cluster_t *c) {
  uint8_t kb[16], vb[CLUSTER_LEN + 8 * RG_CLUSTER_TOP_MAX], *p = vb;
  unsigned n = c->n_top > RG_CLUSTER_TOP_MAX ? RG_CLUSTER_TOP_MAX : c->n_top;
  gen_key(kb, gen, c->id);
  rg_put_u64be(p, c->id), p += 8;
  rg_put_u64be(p, c->size), p += 8;
  for (int ty = 1; ty <= RG_ACTOR_TYPE_MAX; ty++) rg_put_u32be(p, c->by_type[ty]), p += 4;
  rg_put_u32be(p, c->bad_seeds), p += 4;
  rg_put_u32be(p, c->good_seeds), p += 4;
  put_f64(p, c->mean_reputation), p += 8;
  put_f64(p, c->suspicion), p += 8;
  rg_put_u64be(p, (uint64_t)c->first_seen), p += 8;
  rg_put_u64be(p, (uint64_t)c->last_seen), p += 8;
  *p++ = (uint8_t)n;
  for (unsigned i = 0; i < n; i++) rg_put_u64be(p, c->top[i]), p += 8;
  MDB_val k = {16, kb}, v = {(size_t)(p - vb), vb};
  uint8_t rk[CRANK_KEY_LEN];
  rg_put_u64be(rk, gen);
  rg_put_u64be(rk + 8, score_bits(c->suspicion));
  rg_put_u64be(rk + 16, c->id);
  int rc = put_index(t, DB_CLUSTER_RANK, rk, sizeof rk, 0);
  if (rc) return rc;
  return from_mdb(mdb_put(t->txn, t->s->dbi[DB_CLUSTER], &k, &v, 0), "put cluster");
}

int rg_store_get_cluster(rg_txn_t *t, uint64_t gen, uint64_t id, rg_cluster_t *c) {
  uint8_t kb[16];
  gen_key(kb, gen, id);
  MDB_val k = {16, kb}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_CLUSTER], &k, &v);
  if (rc) return from_mdb(rc, "get cluster");
  const uint8_t *p = v.mv_data;
  if (v.mv_size < CLUSTER_LEN || p[CLUSTER_LEN - 1] > RG_CLUSTER_TOP_MAX ||
      v.mv_size != CLUSTER_LEN + 8u * p[CLUSTER_LEN - 1])
    return RG_EIO;
  memset(c, 0, sizeof *c);
  c->id = rg_get_u64be(p), p += 8;
  c->size = rg_get_u64be(p), p += 8;
  for (int ty = 1; ty <= RG_ACTOR_TYPE_MAX; ty++) c->by_type[ty] = rg_get_u32be(p), p += 4;
  c->bad_seeds = rg_get_u32be(p), p += 4;
  c->good_seeds = rg_get_u32be(p), p += 4;
  c->mean_reputation = get_f64(p), p += 8;
  c->suspicion = get_f64(p), p += 8;
  c->first_seen = (int64_t)rg_get_u64be(p), p += 8;
  c->last_seen = (int64_t)rg_get_u64be(p), p += 8;
  c->n_top = *p++;
  for (unsigned i = 0; i < c->n_top; i++) c->top[i] = rg_get_u64be(p), p += 8;
  return RG_OK;
}

int rg_store_get_generation(rg_txn_t *t, rg_generation_t *g) {
  MDB_val k = {10, "generation"}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_META], &k, &v);
  if (rc) return from_mdb(rc, "get generation");
  if (v.mv_size != GENERATION_LEN) return RG_EIO;
  const uint8_t *p = v.mv_data;
  uint64_t f[8];
  for (int i = 0; i < 8; i++) f[i] = rg_get_u64be(p + 8 * i);
  *g = (rg_generation_t){f[0], (int64_t)f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
  return RG_OK;
}

int rg_store_publish_generation(rg_txn_t *t, const rg_generation_t *g) {
  uint64_t f[8] = {g->generation,  (uint64_t)g->computed_at,
                   g->duration_ms, g->vertices,
                   g->edges,       g->clusters,
                   g->bad_seeds,   g->good_seeds};
  uint8_t vb[GENERATION_LEN];
  for (int i = 0; i < 8; i++) rg_put_u64be(vb + 8 * i, f[i]);
  MDB_val k = {10, "generation"}, v = {GENERATION_LEN, vb};
  return from_mdb(mdb_put(t->txn, t->s->dbi[DB_META], &k, &v, 0), "put generation");
}

/* Deletes up to *budget rows whose key starts with `gen` from one sub-database. */
static int drop_prefix(rg_txn_t *t, int dbi, uint64_t gen, uint64_t *budget, bool *done) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return from_mdb(rc, "cursor");
  uint8_t kb[8];
  rg_put_u64be(kb, gen);
  MDB_val k = {8, kb}, v;
  *done = false;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= 16 && rg_get_u64be(k.mv_data) == gen) {
    if (*budget == 0) break;
    if ((rc = mdb_cursor_del(c, 0))) break;
    (*budget)--;
    rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
  }
  if (rc == MDB_NOTFOUND || rc == EINVAL ||
      (rc == 0 && (k.mv_size < 16 || rg_get_u64be(k.mv_data) != gen))) {
    *done = true;
    rc = 0;
  }
  mdb_cursor_close(c);
  return from_mdb(rc, "drop generation");
}

int rg_store_drop_generation(rg_txn_t *t, uint64_t gen, uint64_t max_rows, bool *done) {
  static const int dbs[] = {DB_SCORE, DB_CLUSTER, DB_MEMBER, DB_RANK, DB_CLUSTER_RANK};
  int rc = RG_OK;
  *done = true;
  for (size_t i = 0; i < sizeof dbs / sizeof dbs[0] && !rc && *done; i++)
    rc = drop_prefix(t, dbs[i], gen, &max_rows, done);
  return rc;
}

/* ---- index scans ---------------------------------------------------------------------- */

/* Visits the keys of sub-database dbi that start with prefix[0..plen), in key order from
 * the first key at or after from[0..flen) (from = NULL: from the first with the prefix) or in
 * reverse from the last; visit gets each whole key. Keys are at most 32 bytes. */
static int scan_prefix(rg_txn_t *t, int dbi, const uint8_t *prefix, size_t plen,
                       const uint8_t *from, size_t flen, bool reverse,
                       int (*visit)(void *, const uint8_t *, size_t), void *ctx) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return from_mdb(rc, "cursor");
  uint8_t kb[32];
  memcpy(kb, prefix, plen);
  memset(kb + plen, 0xff, sizeof kb - plen); /* past every key with the prefix */
  MDB_val k = {reverse ? sizeof kb : plen, kb}, v;
  if (from) memcpy(kb, from, flen), k.mv_size = flen;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (reverse) rc = mdb_cursor_get(c, &k, &v, rc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
  int out = RG_OK;
  while (rc == 0 && !out) {
    if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) break;
    out = visit(ctx, k.mv_data, k.mv_size);
    if (!out) rc = mdb_cursor_get(c, &k, &v, reverse ? MDB_PREV : MDB_NEXT);
  }
  if (!out && rc && rc != MDB_NOTFOUND) out = from_mdb(rc, "index scan");
  mdb_cursor_close(c);
  return out;
}

typedef struct {
  rg_txn_t *t;
  uint64_t gen;
  rg_cluster_visit_fn cluster_fn;
  rg_member_visit_fn member_fn;
  void *ctx;
  uint64_t skip; /* index rows passed over before the first visit */
} index_scan_t;

static int visit_cluster_rank(void *ctx, const uint8_t *k, size_t len) {
  index_scan_t *a = ctx;
  rg_cluster_t c;
  if (len != CRANK_KEY_LEN) return RG_EIO;
  if (a->skip) {
    a->skip--;
    return RG_OK;
  }
  int rc = rg_store_get_cluster(a->t, a->gen, rg_get_u64be(k + 16), &c);
  return rc ? rc : a->cluster_fn(a->ctx, &c);
}

int rg_store_scan_clusters_by_suspicion(rg_txn_t *t, uint64_t gen, uint64_t skip,
                                        rg_cluster_visit_fn fn, void *ctx) {
  index_scan_t a = {t, gen, fn, NULL, ctx, skip};
  uint8_t p[8];
  rg_put_u64be(p, gen);
  return scan_prefix(t, DB_CLUSTER_RANK, p, sizeof p, NULL, 0, true, visit_cluster_rank, &a);
}

static int visit_rank(void *ctx, const uint8_t *k, size_t len) {
  index_scan_t *a = ctx;
  if (len != RANK_KEY_LEN) return RG_EIO;
  return a->member_fn(a->ctx, rg_get_u64be(k + 18), bits_score(k + 10));
}

int rg_store_scan_ranking(rg_txn_t *t, uint64_t gen, rg_rank_metric_t metric, rg_actor_type_t type,
                          bool worst_first, rg_member_visit_fn fn, void *ctx) {
  index_scan_t a = {t, gen, NULL, fn, ctx, 0};
  uint8_t p[10];
  rg_put_u64be(p, gen);
  p[8] = (uint8_t)metric;
  p[9] = (uint8_t)type;
  return scan_prefix(t, DB_RANK, p, sizeof p, NULL, 0, worst_first, visit_rank, &a);
}

static int visit_member(void *ctx, const uint8_t *k, size_t len) {
  index_scan_t *a = ctx;
  if (len != MEMBER_KEY_LEN) return RG_EIO;
  return a->member_fn(a->ctx, rg_get_u64be(k + 16), 0);
}

int rg_store_scan_members(rg_txn_t *t, uint64_t gen, uint64_t cluster, uint64_t after,
                          rg_member_visit_fn fn, void *ctx) {
  index_scan_t a = {t, gen, NULL, fn, ctx, 0};
  uint8_t p[MEMBER_KEY_LEN];
  rg_put_u64be(p, gen);
  rg_put_u64be(p + 8, cluster);
  if (!after) return scan_prefix(t, DB_MEMBER, p, 16, NULL, 0, false, visit_member, &a);
  if (after == UINT64_MAX) return RG_OK; /* nothing can follow */
  rg_put_u64be(p + 16, after + 1);       /* resume just past `after` */
  return scan_prefix(t, DB_MEMBER, p, 16, p, sizeof p, false, visit_member, &a);
}

/* ---- label vocabulary -------------------------------------------------------------- */

static int parse_name(const char *s, size_t len, const char *name) {
  return name && strlen(name) == len && memcmp(s, name, len) == 0;
}

const char *rg_verdict_name(int v) {
  switch (v) {
#define RG__VERDICT_CASE(name, num, text) \
  case num: return text;
    RG_VERDICT_MAP(RG__VERDICT_CASE)
#undef RG__VERDICT_CASE
    default: return NULL;
  }
}

int rg_verdict_parse(const char *s, size_t len, rg_verdict_t *out) {
#define RG__VERDICT_PARSE(name, num, text) \
  if (parse_name(s, len, text)) {          \
    *out = RG_VERDICT_##name;              \
    return RG_OK;                          \
  }
  RG_VERDICT_MAP(RG__VERDICT_PARSE)
#undef RG__VERDICT_PARSE
  return RG_EINVALID_LABEL;
}

const char *rg_label_source_name(int src) {
  switch (src) {
#define RG__SOURCE_CASE(name, num, text, weight) \
  case num: return text;
    RG_LABEL_SOURCE_MAP(RG__SOURCE_CASE)
#undef RG__SOURCE_CASE
    default: return NULL;
  }
}

int rg_label_source_parse(const char *s, size_t len, rg_label_source_t *out) {
#define RG__SOURCE_PARSE(name, num, text, weight) \
  if (parse_name(s, len, text)) {                 \
    *out = RG_SOURCE_##name;                      \
    return RG_OK;                                 \
  }
  RG_LABEL_SOURCE_MAP(RG__SOURCE_PARSE)
#undef RG__SOURCE_PARSE
  return RG_EINVALID_LABEL;
}

const char *rg_band_name(int band) {
  switch (band) {
#define RG__BAND_CASE(name, num, text) \
  case num: return text;
    RG_BAND_MAP(RG__BAND_CASE)
#undef RG__BAND_CASE
    default: return NULL;
  }
}

double rg_label_source_weight(rg_label_source_t src) {
  switch (src) {
#define RG__SOURCE_WEIGHT(name, num, text, weight) \
  case num: return weight;
    RG_LABEL_SOURCE_MAP(RG__SOURCE_WEIGHT)
#undef RG__SOURCE_WEIGHT
    default: return 0;
  }
}
