/* store_env.c — the store's LMDB environment: open and close, the schema check and its
 * upgrades, transactions (with the reset read transactions kept for reuse), map growth, and
 * the meta counters that writes keep as deltas. Readers on any thread; one writer thread.
 * Map growth needs every read transaction of this process closed, so readers hold a shared
 * lock and growth an exclusive one. The lock is reader-first (glibc's default kind): one
 * thread may hold several read transactions at once, which a writer-preferring lock would
 * deadlock behind a waiting growth; growth waits until no read transaction is open. */
#define _GNU_SOURCE
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/store.h"
#include "store_codec.h"

const char *const rg__db_names[DB_COUNT] = {"actor_key", "actor", "out",          "in",
                                            "label",     "meta",  "score",        "cluster",
                                            "member",    "rank",  "cluster_rank", "label_log"};

/* Translates an LMDB code into an RG_E… code, logging the unexpected ones. */
int rg__from_mdb(int rc, const char *what) {
  switch (rc) {
    case MDB_SUCCESS: return RG_OK;
    case MDB_NOTFOUND: return RG_ENOT_FOUND;
    case MDB_MAP_FULL: return RG_ESTORAGE_FULL;
    case ENOMEM: return RG_ENOMEM;
    default: rg_log_error("lmdb: %s: %s", what, mdb_strerror(rc)); return RG_EIO;
  }
}

/* ---- meta counters ----------------------------------------------------------------- */

static int meta_get_u64(rg_txn_t *t, const char *name, uint64_t *out) {
  MDB_val k = {strlen(name), (void *)name}, v;
  int rc = mdb_get(t->txn, t->s->dbi[DB_META], &k, &v);
  if (rc == MDB_NOTFOUND) {
    *out = 0;
    return RG_OK;
  }
  if (rc) return rg__from_mdb(rc, "meta get");
  if (v.mv_size != 8) return RG_EIO;
  *out = rg_get_u64be(v.mv_data);
  return RG_OK;
}

static int meta_put_u64(rg_txn_t *t, const char *name, uint64_t value) {
  uint8_t buf[8];
  rg_put_u64be(buf, value);
  MDB_val k = {strlen(name), (void *)name}, v = {8, buf};
  return rg__from_mdb(mdb_put(t->txn, t->s->dbi[DB_META], &k, &v, 0), "meta put");
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

int rg__count_add(rg_txn_t *t, int counter, int64_t delta) {
  t->delta[counter] += delta;
  t->dirty = true;
  return RG_OK;
}

int rg__count_actor(rg_txn_t *t, rg_actor_type_t type, int64_t delta) {
  return rg__count_add(t, CNT_ACTOR + (int)type, delta);
}

int rg__count_edge(rg_txn_t *t, rg_edge_kind_t kind, int64_t delta) {
  return rg__count_add(t, CNT_EDGE + (int)kind, delta);
}

/* The next actor id as this transaction sees it: its own, a parent's, or meta's. */
int rg__peek_next_id(rg_txn_t *t, uint64_t *next) {
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
    int lrc = rg__label_log_seed(t);
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
  if (version == 3 || version == 4) { /* 4 appends the evidence to new score rows, 5 a
                                        * submissions count to actor rows; older rows read */
    rg_log_info("%s: upgrading store schema %llu to %d (scores gain their evidence at the next "
                "recomputation; submissions are counted from now on)",
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
  s->pseudonym = o->pseudonym;
  /* Readers first (glibc's default kind): one thread may hold several read transactions
   * (the loop thread's shared snapshot and a stats read, say), and a writer-preferring lock
   * would deadlock it behind a waiting map growth. Growth waits until no read transaction
   * is open, which loop-thread reads never keep for long. */
  pthread_rwlock_init(&s->resize_lock, NULL);
  pthread_mutex_init(&s->spare_lock, NULL);
  pthread_mutex_init(&s->touch_lock, NULL);

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
      main_st.ms_entries > 0 && mdb_dbi_open(t->txn, rg__db_names[DB_META], 0, &meta_dbi) != 0) {
    snprintf(err, errlen, "%s: data.mdb holds another program's databases; refusing to touch it",
             o->dir);
    rg_store_end(t);
    rc = RG_ESCHEMA;
    goto fail;
  }
  for (int i = 0; i < DB_COUNT && rc == 0; i++)
    rc = mdb_dbi_open(t->txn, rg__db_names[i], MDB_CREATE, &s->dbi[i]);
  if (rc) {
    snprintf(err, errlen, "%s: cannot open sub-database: %s", o->dir, mdb_strerror(rc));
    rg_store_end(t);
    goto fail_io;
  }
  rc = check_schema(t, err, errlen);
  if (!rc) rc = rg__pseudonym_check(t, err, errlen);
  if (rc) {
    rg_store_end(t);
    goto fail;
  }
  rc = rg_store_commit(t);
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
  rg__batch_drop_spare(s);
  if (s->env) mdb_env_close(s->env);
  pthread_rwlock_destroy(&s->resize_lock);
  pthread_mutex_destroy(&s->spare_lock);
  pthread_mutex_destroy(&s->touch_lock);
  free(s->touched);
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
  info->map_grows = s->map_grows; /* written under the write lock (rg_store_grow) */
  pthread_rwlock_unlock(&s->resize_lock);
  info->map_size = ei.me_mapsize;
  info->map_max = s->map_max;
  info->page_size = st.ms_psize;
  info->used_bytes = (uint64_t)(ei.me_last_pgno + 1) * st.ms_psize;
}

int rg_store_grow(rg_store_t *s) {
  if (s->map_size >= s->map_max) return RG_ESTORAGE_FULL;
  uint64_t next = s->map_size * 2 > s->map_max ? s->map_max : s->map_size * 2;
  pthread_rwlock_wrlock(&s->resize_lock);
  drop_spares(s); /* no transaction of this process may outlive the old map */
  int rc = mdb_env_set_mapsize(s->env, (size_t)next);
  if (!rc) s->map_grows++; /* under the lock: rg_store_info may read it on another thread */
  pthread_rwlock_unlock(&s->resize_lock);
  if (rc) return rg__from_mdb(rc, "set mapsize");
  rg_log_info("store: map grew from %llu to %llu bytes", (unsigned long long)s->map_size,
              (unsigned long long)next);
  s->map_size = next;
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
    return rg__from_mdb(rc, "txn begin");
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
    return rg__from_mdb(rc, "txn renew");
  }
  *out = t;
  return RG_OK;
}

int rg_store_write_begin(rg_store_t *s, rg_txn_t **out) {
  return txn_begin(s, NULL, 0, out);
}

int rg_store_nested_begin(rg_txn_t *parent, rg_txn_t **out) {
  /* The child reads the store: the parent's batch goes there first, and its cached actors
   * would be stale after the child commits. */
  int rc = rg__batch_flush(parent);
  if (rc) return rc;
  rg__batch_clear_actors(parent->batch);
  rc = txn_begin(parent->s, parent->txn, 0, out);
  if (!rc) (*out)->parent = parent;
  return rc;
}

int rg_store_commit(rg_txn_t *t) {
  int frc = rg__batch_flush(t); /* pending edges and cached actors */
  rg__batch_free(t);
  if (!frc && !t->read && !t->parent) frc = flush_counters(t); /* into meta, before commit */
  if (frc) {
    mdb_txn_abort(t->txn);
    free(t->touched);
    if (t->read) pthread_rwlock_unlock(&t->s->resize_lock);
    free(t);
    return frc;
  }
  int rc = mdb_txn_commit(t->txn);
  if (rc == MDB_SUCCESS && t->parent) flush_counters(t); /* into the parent, after commit */
  if (rc == MDB_SUCCESS && !t->parent && !t->read) rg__touch_publish(t);
  if (t->read) pthread_rwlock_unlock(&t->s->resize_lock);
  free(t->touched);
  free(t);
  return rg__from_mdb(rc, "commit");
}

void rg_store_end(rg_txn_t *t) {
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
  rg__batch_free(t);
  mdb_txn_abort(t->txn);
  free(t->touched);
  free(t);
}

/* ---- counters read back ------------------------------------------------------------- */

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

int rg_store_newest_edge_ts(rg_txn_t *t, int64_t *out) {
  uint64_t v = 0;
  int rc = meta_get_u64(t, "newest_edge_ts", &v);
  *out = rc ? 0 : (int64_t)v;
  return rc;
}

int rg_store_log_seq(rg_txn_t *t, uint64_t *seq) {
  return meta_get_u64(t, "cluster_applied_seq", seq);
}

int rg_store_put_log_seq(rg_txn_t *t, uint64_t seq) {
  return meta_put_u64(t, "cluster_applied_seq", seq);
}

int rg_store_wal_seq(rg_txn_t *t, uint64_t *seq) {
  return meta_get_u64(t, "wal_merged_seq", seq);
}

int rg_store_put_wal_seq(rg_txn_t *t, uint64_t seq) {
  return meta_put_u64(t, "wal_merged_seq", seq);
}

int rg_store_counts(rg_txn_t *t, rg_store_counts_t *out) {
  memset(out, 0, sizeof *out);
  int rc = rg__batch_flush(t); /* pending edges count when applied */
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX && !rc; ty++)
    rc = counter_get(t, CNT_ACTOR + ty, &out->actors[ty]);
  for (int k = 0; k < RG_EDGE_KIND_COUNT && !rc; k++)
    rc = counter_get(t, CNT_EDGE + k, &out->edges[k]);
  if (!rc) rc = counter_get(t, CNT_LABELS, &out->labels);
  return rc;
}

int rg_store_max_actor_id(rg_txn_t *t, uint64_t *max_id) {
  uint64_t next;
  int rc = rg__peek_next_id(t, &next);
  if (rc) return rc;
  *max_id = next - 1;
  return RG_OK;
}

/* ---- reads shared by the store's files ------------------------------------------------- */

int rg__get_by_id(rg_txn_t *t, int dbi, uint64_t id, MDB_val *v, const char *what) {
  uint8_t kb[8];
  rg_put_u64be(kb, id);
  MDB_val k = {8, kb};
  return rg__from_mdb(mdb_get(t->txn, t->s->dbi[dbi], &k, v), what);
}

/* Walks a sub-database keyed by an 8-byte id, handing each id and value to `visit`. */
int rg__scan_by_id(rg_txn_t *t, int dbi, int (*visit)(void *, uint64_t, const MDB_val *),
                   void *ctx) {
  MDB_cursor *c;
  int rc = mdb_cursor_open(t->txn, t->s->dbi[dbi], &c);
  if (rc) return rg__from_mdb(rc, "cursor");
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
  if (!out && rc != MDB_NOTFOUND) out = rg__from_mdb(rc, "scan");
  mdb_cursor_close(c);
  return out;
}
