/* store_backup.c — backups of the store: a consistent compacted copy (LMDB's
 * mdb_env_copyfd2 with MDB_CP_COMPACT, one read snapshot) written into "<dest>.partial" and
 * renamed into place with its manifest (schema version, generation, counts, the BLAKE2b-256
 * of the copy), the check of a backup, and its restore into an empty data directory.
 * Any thread: a backup reads the live store through its own read snapshot, and holds the
 * store's resize lock shared for the copy's duration (map growth waits for it; readers and
 * the writer's commits do not). The manifest format is in schemas/store.json ("backup"). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "store_codec.h"

#define FORMAT_NAME    "repgraph-backup"
#define FORMAT_VERSION 1
#define IO_CHUNK       (1u << 16)
#define MANIFEST_MAX   (64u << 10) /* a manifest is a few hundred bytes */
#define DIR_MAX        900         /* longest directory name taken */
#define PATH_CAP       (DIR_MAX + 200)

static int failf(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failf(char *err, size_t errlen, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return rc;
}

/* fsyncs a directory, so a rename or a new file in it survives a crash. */
static int sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* The directory part of path ("." when it has none) into buf. */
static void parent_dir(const char *path, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", path);
  char *slash = strrchr(buf, '/');
  if (!slash)
    snprintf(buf, cap, ".");
  else if (slash == buf)
    buf[1] = '\0';
  else
    *slash = '\0';
}

static void to_hex(const unsigned char *h, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) out[2 * i] = digits[h[i] >> 4], out[2 * i + 1] = digits[h[i] & 15];
  out[2 * n] = '\0';
}

/* Reads fd to its end, hashing it (BLAKE2b-256) and, when out >= 0, writing it to out.
 * 0 with hex and *bytes set, or -1 with errno. */
static int hash_copy(int fd, int out, char hex[RG_BACKUP_SUM_HEX + 1], uint64_t *bytes) {
  crypto_generichash_state st;
  unsigned char h[32];
  unsigned char *buf = malloc(IO_CHUNK);
  if (!buf) return -1;
  crypto_generichash_init(&st, NULL, 0, sizeof h);
  *bytes = 0;
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, buf, IO_CHUNK);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      rc = n < 0 ? -1 : 0;
      break;
    }
    crypto_generichash_update(&st, buf, (size_t)n);
    *bytes += (uint64_t)n;
    for (ssize_t off = 0; out >= 0 && off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        rc = -1;
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  crypto_generichash_final(&st, h, sizeof h);
  to_hex(h, sizeof h, hex);
  free(buf);
  return rc;
}

static int hash_file(const char *path, char hex[RG_BACKUP_SUM_HEX + 1], uint64_t *bytes) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  int rc = hash_copy(fd, -1, hex, bytes);
  close(fd);
  return rc;
}

/* ---- reading a copy ------------------------------------------------------------------ */

/* Opens the environment in dir read-only, without a lock file (nobody else uses it), with
 * its sub-databases: 0 with *out_s and *out_t for close_copy, or RG_ENOMEM / RG_ESCHEMA. */
static int open_copy(const char *dir, rg_store_t **out_s, rg_txn_t **out_t, char *err,
                     size_t errlen) {
  *out_s = NULL, *out_t = NULL;
  rg_store_t *s = calloc(1, sizeof *s);
  if (!s) return RG_ENOMEM;
  pthread_rwlock_init(&s->resize_lock, NULL); /* rg_store_close destroys them */
  pthread_mutex_init(&s->spare_lock, NULL);
  *out_s = s;
  rg_txn_t *t = calloc(1, sizeof *t);
  if (!t) return RG_ENOMEM;
  *out_t = t;
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  int mrc = mdb_env_create(&s->env);
  if (!mrc) mrc = mdb_env_set_maxdbs(s->env, DB_COUNT);
  if (!mrc) mrc = mdb_env_open(s->env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0640);
  if (!mrc) mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
  if (mrc)
    return failf(err, errlen, RG_ESCHEMA, "%s: not a readable LMDB copy: %s", dir,
                 mdb_strerror(mrc));
  t->s = s;
  for (int i = 0; i < DB_COUNT; i++)
    if ((mrc = mdb_dbi_open(t->txn, rg__db_names[i], 0, &s->dbi[i])))
      return failf(err, errlen, RG_ESCHEMA, "%s: sub-database %s: %s", dir, rg__db_names[i],
                   mdb_strerror(mrc));
  return RG_OK;
}

static void close_copy(rg_store_t *s, rg_txn_t *t) {
  if (t && t->txn) mdb_txn_abort(t->txn);
  free(t);
  rg_store_close(s); /* closes the environment */
}

/* Reads what a manifest says about the copy in dir into *m (not the checksum, size or
 * time). */
static int read_copy(const char *dir, rg_backup_manifest_t *m, char *err, size_t errlen) {
  rg_store_t *s;
  rg_txn_t *t;
  int rc = open_copy(dir, &s, &t, err, errlen);
  if (rc) goto fail;
  MDB_val k = {14, "schema_version"}, v;
  int mrc;
  if ((mrc = mdb_get(t->txn, s->dbi[DB_META], &k, &v)) || v.mv_size != 8) {
    rc = failf(err, errlen, RG_ESCHEMA, "%s: no schema version in meta", dir);
    goto fail;
  }
  m->schema_version = rg_get_u64be(v.mv_data);
  rg_generation_t g;
  rc = rg_store_get_generation(t, &g);
  m->generation = rc ? 0 : g.generation;
  if (rc == RG_ENOT_FOUND) rc = RG_OK;
  if (!rc) rc = rg_store_counts(t, &m->counts);
  if (!rc) rc = rg_store_max_actor_id(t, &m->max_actor_id);
  if (!rc) rc = rg_store_newest_edge_ts(t, &m->newest_edge_ts);
  if (rc) rc = failf(err, errlen, RG_ESCHEMA, "%s: meta does not read: %s", dir, rg_strerror(rc));
fail:
  close_copy(s, t);
  return rc;
}

int rg_store_peek_log_seq(const char *dir, uint64_t *seq, char *err, size_t errlen) {
  *seq = 0;
  rg_store_t *s;
  rg_txn_t *t;
  int rc = open_copy(dir, &s, &t, err, errlen);
  if (!rc && (rc = rg_store_log_seq(t, seq)))
    failf(err, errlen, rc, "%s: the applied sequence does not read: %s", dir, rg_strerror(rc));
  close_copy(s, t);
  return rc;
}

/* ---- the manifest -------------------------------------------------------------------- */

size_t rg_store_manifest_format(const rg_backup_manifest_t *m, char *buf, size_t cap) {
  json_t *actors = json_object(), *edges = json_object();
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX; ty++)
    json_object_set_new(actors, rg_actor_type_name(ty),
                        json_integer((json_int_t)m->counts.actors[ty]));
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++)
    json_object_set_new(edges, rg_edge_kind_name(k), json_integer((json_int_t)m->counts.edges[k]));
  json_t *doc = json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:s, s:{s:o, s:o, s:I}}",
                          "format", FORMAT_NAME, "format_version", FORMAT_VERSION, "schema_version",
                          (json_int_t)m->schema_version, "generation", (json_int_t)m->generation,
                          "created_at", (json_int_t)m->created_at, "max_actor_id",
                          (json_int_t)m->max_actor_id, "newest_edge_ts",
                          (json_int_t)m->newest_edge_ts, "data_file", RG_BACKUP_DATA, "data_bytes",
                          (json_int_t)m->data_bytes, "blake2b_256", m->checksum, "counts", "actors",
                          actors, "edges", edges, "labels", (json_int_t)m->counts.labels);
  if (!doc) return 0;
  size_t n = json_dumpb(doc, buf, cap ? cap - 1 : 0, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(doc);
  if (n == 0 || n >= cap) return 0;
  buf[n++] = '\n';
  buf[n] = '\0';
  return n;
}

/* A non-negative integer field of o into *out. */
static int get_count(json_t *o, const char *name, uint64_t *out, char *err, size_t errlen) {
  json_t *v = json_object_get(o, name);
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return failf(err, errlen, RG_ESCHEMA, "manifest: %s: expected a non-negative integer", name);
  *out = (uint64_t)json_integer_value(v);
  return RG_OK;
}

int rg_store_manifest_parse(const char *text, size_t len, rg_backup_manifest_t *m, char *err,
                            size_t errlen) {
  memset(m, 0, sizeof *m);
  json_error_t je;
  json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!doc) return failf(err, errlen, RG_ESCHEMA, "manifest: line %d: %s", je.line, je.text);
  int rc = RG_OK;
  uint64_t version = 0, created = 0, newest = 0;
  json_t *format = json_object_get(doc, "format"), *sum = json_object_get(doc, "blake2b_256");
  json_t *data = json_object_get(doc, "data_file"), *counts = json_object_get(doc, "counts");
  if (!json_is_object(doc) || !json_is_string(format) ||
      strcmp(json_string_value(format), FORMAT_NAME) != 0) {
    rc = failf(err, errlen, RG_ESCHEMA, "manifest: not a %s manifest", FORMAT_NAME);
    goto out;
  }
  if ((rc = get_count(doc, "format_version", &version, err, errlen))) goto out;
  if (version != FORMAT_VERSION) {
    rc = failf(err, errlen, RG_ESCHEMA, "manifest: format_version %" PRIu64 ", this build reads %d",
               version, FORMAT_VERSION);
    goto out;
  }
  if ((rc = get_count(doc, "schema_version", &m->schema_version, err, errlen)) ||
      (rc = get_count(doc, "generation", &m->generation, err, errlen)) ||
      (rc = get_count(doc, "created_at", &created, err, errlen)) ||
      (rc = get_count(doc, "max_actor_id", &m->max_actor_id, err, errlen)) ||
      (rc = get_count(doc, "newest_edge_ts", &newest, err, errlen)) ||
      (rc = get_count(doc, "data_bytes", &m->data_bytes, err, errlen)))
    goto out;
  m->created_at = (int64_t)created;
  m->newest_edge_ts = (int64_t)newest;
  if (!json_is_string(data) || strcmp(json_string_value(data), RG_BACKUP_DATA) != 0) {
    rc = failf(err, errlen, RG_ESCHEMA, "manifest: data_file must be \"%s\"", RG_BACKUP_DATA);
    goto out;
  }
  const char *hex = json_is_string(sum) ? json_string_value(sum) : "";
  bool hex_ok = strlen(hex) == RG_BACKUP_SUM_HEX;
  for (size_t i = 0; hex_ok && hex[i]; i++) hex_ok = strchr("0123456789abcdef", hex[i]) != NULL;
  if (!hex_ok) {
    rc = failf(err, errlen, RG_ESCHEMA, "manifest: blake2b_256: expected %d hex digits",
               RG_BACKUP_SUM_HEX);
    goto out;
  }
  memcpy(m->checksum, hex, RG_BACKUP_SUM_HEX + 1);
  json_t *actors = json_object_get(counts, "actors"), *edges = json_object_get(counts, "edges");
  if (!json_is_object(counts) || !json_is_object(actors) || !json_is_object(edges)) {
    rc = failf(err, errlen, RG_ESCHEMA, "manifest: counts: expected actors, edges and labels");
    goto out;
  }
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX && !rc; ty++)
    rc = get_count(actors, rg_actor_type_name(ty), &m->counts.actors[ty], err, errlen);
  for (int k = 0; k < RG_EDGE_KIND_COUNT && !rc; k++)
    rc = get_count(edges, rg_edge_kind_name(k), &m->counts.edges[k], err, errlen);
  if (!rc) rc = get_count(counts, "labels", &m->counts.labels, err, errlen);
out:
  json_decref(doc);
  return rc;
}

static int read_manifest(const char *dir, rg_backup_manifest_t *m, char *err, size_t errlen) {
  char path[PATH_CAP];
  snprintf(path, sizeof path, "%s/%s", dir, RG_BACKUP_MANIFEST);
  FILE *f = fopen(path, "r");
  if (!f) return failf(err, errlen, RG_EIO, "%s: %s", path, strerror(errno));
  char *buf = malloc(MANIFEST_MAX);
  size_t n = buf ? fread(buf, 1, MANIFEST_MAX, f) : 0;
  bool bad = ferror(f) || n == MANIFEST_MAX;
  fclose(f);
  int rc = !buf  ? RG_ENOMEM
           : bad ? failf(err, errlen, RG_EIO, "%s: unreadable or over %u bytes", path, MANIFEST_MAX)
                 : rg_store_manifest_parse(buf, n, m, err, errlen);
  free(buf);
  return rc;
}

/* Writes the manifest into dir, fsynced. */
static int write_manifest(const char *dir, const rg_backup_manifest_t *m, char *err,
                          size_t errlen) {
  char path[PATH_CAP], text[4096];
  snprintf(path, sizeof path, "%s/%s", dir, RG_BACKUP_MANIFEST);
  size_t n = rg_store_manifest_format(m, text, sizeof text);
  if (!n) return failf(err, errlen, RG_ENOMEM, "manifest: cannot format it");
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
  if (fd < 0) return failf(err, errlen, RG_EIO, "%s: %s", path, strerror(errno));
  bool ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
  int e = errno;
  close(fd);
  return ok ? RG_OK : failf(err, errlen, RG_EIO, "%s: %s", path, strerror(e));
}

/* ---- backup ---------------------------------------------------------------------------- */

/* Removes what a failed backup left in its partial directory. */
#define REPACK_TXN_PUTS 100000 /* rows one transaction of a repacking copy writes */

/* Copies the store's rows, one read snapshot, into a new environment in `dir`, each
 * sub-database in key order with MDB_APPEND: every page filled, so a store thinned by
 * retention (whose pages stay part-full: LMDB merges a page only below a quarter full, and a
 * compacting copy keeps pages as they are) shrinks to what its rows need. The caller holds
 * the resize lock shared. 0 or RG_EIO / RG_ENOMEM with err. */
static int repack_copy(rg_store_t *s, const char *dir, char *err, size_t errlen) {
  MDB_env *out = NULL;
  MDB_txn *rt = NULL, *wt = NULL;
  MDB_cursor *cur = NULL;
  MDB_envinfo info;
  MDB_dbi dst[DB_COUNT];
  const char *what = "open";
  int mrc = mdb_env_info(s->env, &info);
  if (!mrc) mrc = mdb_env_create(&out);
  if (!mrc) mrc = mdb_env_set_maxdbs(out, DB_COUNT);
  if (!mrc) mrc = mdb_env_set_mapsize(out, info.me_mapsize);
  if (!mrc) mrc = mdb_env_open(out, dir, MDB_NOSYNC, 0640);
  if (!mrc) mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &rt);
  if (!mrc) mrc = mdb_txn_begin(out, NULL, 0, &wt);
  for (int i = 0; i < DB_COUNT && !mrc; i++)
    mrc = mdb_dbi_open(wt, rg__db_names[i], MDB_CREATE, &dst[i]);
  what = "copy";
  uint64_t puts = 0;
  for (int i = 0; i < DB_COUNT && !mrc; i++) {
    MDB_val k, v;
    mrc = mdb_cursor_open(rt, s->dbi[i], &cur);
    for (int op = MDB_FIRST; !mrc && (mrc = mdb_cursor_get(cur, &k, &v, op)) == 0; op = MDB_NEXT) {
      mrc = mdb_put(wt, dst[i], &k, &v, MDB_APPEND);
      if (!mrc && ++puts % REPACK_TXN_PUTS == 0) { /* bounded transactions */
        mrc = mdb_txn_commit(wt);
        wt = NULL; /* freed by the commit, whatever it returned */
        if (!mrc) mrc = mdb_txn_begin(out, NULL, 0, &wt);
      }
    }
    if (mrc == MDB_NOTFOUND) mrc = 0;
    mdb_cursor_close(cur);
    cur = NULL;
  }
  what = "commit";
  if (!mrc) {
    mrc = mdb_txn_commit(wt);
    wt = NULL;
  }
  if (!mrc) mrc = mdb_env_sync(out, 1);
  if (wt) mdb_txn_abort(wt);
  if (rt) mdb_txn_abort(rt);
  if (out) mdb_env_close(out);
  char lock[PATH_CAP];
  snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
  unlink(lock); /* a backup is the data file alone */
  if (mrc) return failf(err, errlen, mrc == ENOMEM ? RG_ENOMEM : RG_EIO, "%s: repacking copy (%s): %s",
                        dir, what, mdb_strerror(mrc));
  return RG_OK;
}

static void remove_partial(const char *partial) {
  char path[PATH_CAP];
  snprintf(path, sizeof path, "%s/%s", partial, RG_BACKUP_DATA);
  unlink(path);
  snprintf(path, sizeof path, "%s/%s", partial, RG_BACKUP_MANIFEST);
  unlink(path);
  rmdir(partial);
}

int rg_store_backup(rg_store_t *s, const char *dest, bool repack, rg_backup_manifest_t *m,
                    char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  char partial[DIR_MAX + 16], data[PATH_CAP], parent[DIR_MAX + 16];
  struct stat st;
  if (!dest[0] || strlen(dest) > DIR_MAX)
    return failf(err, errlen, RG_EIO, "backup: bad destination");
  if (stat(dest, &st) == 0)
    return failf(err, errlen, RG_EIO, "%s: already exists; a backup goes to a new directory", dest);
  if (errno != ENOENT) return failf(err, errlen, RG_EIO, "%s: %s", dest, strerror(errno));
  snprintf(partial, sizeof partial, "%s.partial", dest);
  if (mkdir(partial, 0750) != 0)
    return failf(
        err, errlen, RG_EIO, "%s: %s%s", partial, strerror(errno),
        errno == EEXIST ? " (another backup is writing it, or one failed: remove it)" : "");
  snprintf(data, sizeof data, "%s/%s", partial, RG_BACKUP_DATA);
  int rc = RG_OK;
  m->created_at = rg_clock_now();
  if (repack) {
    pthread_rwlock_rdlock(&s->resize_lock); /* the map must not move under the copy */
    rc = repack_copy(s, partial, err, errlen);
    pthread_rwlock_unlock(&s->resize_lock);
    if (rc) goto fail;
  } else {
    int fd = open(data, O_WRONLY | O_CREAT | O_EXCL, 0640);
    if (fd < 0) {
      rc = failf(err, errlen, RG_EIO, "%s: %s", data, strerror(errno));
      goto fail;
    }
    pthread_rwlock_rdlock(&s->resize_lock);
    int mrc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    pthread_rwlock_unlock(&s->resize_lock);
    if (!mrc && fsync(fd) != 0) mrc = errno;
    close(fd);
    if (mrc) {
      rc = failf(err, errlen, RG_EIO, "%s: copy failed: %s", data, mdb_strerror(mrc));
      goto fail;
    }
  }
  int64_t created = m->created_at;
  if ((rc = read_copy(partial, m, err, errlen))) goto fail;
  m->created_at = created;
  if (hash_file(data, m->checksum, &m->data_bytes) != 0) {
    rc = failf(err, errlen, RG_EIO, "%s: %s", data, strerror(errno));
    goto fail;
  }
  if ((rc = write_manifest(partial, m, err, errlen))) goto fail;
  parent_dir(dest, parent, sizeof parent);
  if (sync_dir(partial) != 0 || rename(partial, dest) != 0 || sync_dir(parent) != 0) {
    rc = failf(err, errlen, RG_EIO, "%s: cannot move into place: %s", dest, strerror(errno));
    goto fail;
  }
  return RG_OK;
fail:
  remove_partial(partial);
  return rc;
}

/* ---- verify and restore ------------------------------------------------------------------- */

static bool counts_equal(const rg_store_counts_t *a, const rg_store_counts_t *b) {
  return memcmp(a, b, sizeof *a) == 0;
}

int rg_store_backup_verify(const char *dir, rg_backup_manifest_t *m, char *err, size_t errlen) {
  char data[PATH_CAP], hex[RG_BACKUP_SUM_HEX + 1];
  uint64_t bytes;
  if (strlen(dir) > DIR_MAX) return failf(err, errlen, RG_EIO, "backup: directory name too long");
  int rc = read_manifest(dir, m, err, errlen);
  if (rc) return rc;
  if (m->schema_version > RG_STORE_SCHEMA_VERSION)
    return failf(err, errlen, RG_ESCHEMA,
                 "%s: backup of store schema %" PRIu64 "; this build reads up to %d", dir,
                 m->schema_version, RG_STORE_SCHEMA_VERSION);
  snprintf(data, sizeof data, "%s/%s", dir, RG_BACKUP_DATA);
  if (hash_file(data, hex, &bytes) != 0)
    return failf(err, errlen, RG_EIO, "%s: %s", data, strerror(errno));
  if (bytes != m->data_bytes || strcmp(hex, m->checksum) != 0)
    return failf(err, errlen, RG_ESCHEMA,
                 "%s: %" PRIu64 " bytes with BLAKE2b-256 %s, the manifest says %" PRIu64
                 " bytes with %s: the backup is damaged",
                 data, bytes, hex, m->data_bytes, m->checksum);
  rg_backup_manifest_t copy;
  if ((rc = read_copy(dir, &copy, err, errlen))) return rc;
  if (copy.schema_version != m->schema_version || copy.generation != m->generation ||
      copy.max_actor_id != m->max_actor_id || !counts_equal(&copy.counts, &m->counts))
    return failf(err, errlen, RG_ESCHEMA,
                 "%s: the copy's schema version, generation or counts differ from the manifest",
                 dir);
  return RG_OK;
}

/* 0 when dir is missing (it is created) or an empty directory; RG_EIO otherwise. */
static int empty_dir(const char *dir, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (!d && errno == ENOENT) {
    if (mkdir(dir, 0750) == 0) return RG_OK;
    return failf(err, errlen, RG_EIO, "%s: %s", dir, strerror(errno));
  }
  if (!d) return failf(err, errlen, RG_EIO, "%s: %s", dir, strerror(errno));
  struct dirent *e;
  int rc = RG_OK;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      rc = failf(err, errlen, RG_EIO,
                 "%s is not empty (it holds %s); restore into a new or empty directory", dir,
                 e->d_name);
      break;
    }
  closedir(d);
  return rc;
}

int rg_store_restore(const char *from, const char *data_dir, rg_backup_manifest_t *m, char *err,
                     size_t errlen) {
  char src[PATH_CAP], tmp[PATH_CAP], dst[PATH_CAP], hex[RG_BACKUP_SUM_HEX + 1];
  uint64_t bytes;
  if (strlen(data_dir) > DIR_MAX)
    return failf(err, errlen, RG_EIO, "restore: directory name too long");
  int rc = rg_store_backup_verify(from, m, err, errlen);
  if (rc) return rc;
  if ((rc = empty_dir(data_dir, err, errlen))) return rc;
  snprintf(src, sizeof src, "%s/%s", from, RG_BACKUP_DATA);
  snprintf(tmp, sizeof tmp, "%s/%s.partial", data_dir, RG_BACKUP_DATA);
  snprintf(dst, sizeof dst, "%s/%s", data_dir, RG_BACKUP_DATA);
  int in = open(src, O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0640);
  bool ok = in >= 0 && out >= 0 && hash_copy(in, out, hex, &bytes) == 0 && fsync(out) == 0;
  int e = errno;
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  if (!ok) rc = failf(err, errlen, RG_EIO, "copying %s to %s: %s", src, tmp, strerror(e));
  if (!rc && (bytes != m->data_bytes || strcmp(hex, m->checksum) != 0))
    rc = failf(err, errlen, RG_EIO, "%s changed while it was copied", src);
  if (!rc && (rename(tmp, dst) != 0 || sync_dir(data_dir) != 0))
    rc = failf(err, errlen, RG_EIO, "%s: %s", dst, strerror(errno));
  if (rc) unlink(tmp);
  return rc;
}
