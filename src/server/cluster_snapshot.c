/* cluster_snapshot.c — a new replica starts from a snapshot published to the cluster plus
 * the log after it (issue 17, step 3).
 *
 * Publishing. After the leader published a generation, and the last snapshot it published
 * is older than cluster.snapshot_interval, it makes a compacted copy of its store
 * (rg_store_backup: one read snapshot, LMDB's compacting copy, a manifest with the copy's
 * BLAKE2b) on libuv's pool, packs the copy and its manifest (genpack) and hands the pack to
 * the generation thread, which publishes its chunks to the stream `<stream>-snap` and then
 * writes the pack's manifest to key `snapshot` of the bucket `<stream>-manifest`; older
 * snapshots' chunks are purged. The copy holds the log sequence it had applied
 * (cluster_applied_seq), so whoever starts from it resumes the log right after it.
 *
 * Starting from it. rg_cluster_bootstrap runs before the engine opens the data directory.
 * With no store there yet, it reads the snapshot manifest, gathers and verifies the chunks,
 * writes the copy to "<data_dir>.snapshot-in" and restores it from there
 * (rg_store_restore: checksum and read-only open checked again). Without NATS, without a
 * snapshot, or with one that does not verify, the replica starts empty and replays the
 * whole log, as before. With a store whose next entry is no longer in the stream (its
 * applied sequence + 1 below the stream's first: cluster.stream_max_age / stream_max_bytes
 * dropped it, or a purge), the snapshot replaces it when it reaches that far: the old
 * directory is moved aside to "<data_dir>.stale-<epoch seconds>", never deleted. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"

#define SNAP_KEY        "snapshot"
#define SNAP_ROW_BYTES  65536 /* the copy's bytes per pack row */
#define TABLE_MANIFEST  1     /* pack rows: the backup manifest's JSON text */
#define TABLE_DATA      2     /*            data.mdb, in order */
#define PATH_CAP        (RG_CONFIG_PATH_MAX + 64)

static void remove_copy(const char *dir) {
  char path[PATH_CAP + 48];
  snprintf(path, sizeof path, "%s/%s", dir, RG_BACKUP_DATA);
  unlink(path);
  snprintf(path, sizeof path, "%s/%s", dir, RG_BACKUP_MANIFEST);
  unlink(path);
  rmdir(dir);
}

/* Appends file dir/name to the pack as rows of `table`, at most SNAP_ROW_BYTES each. */
static int pack_file(rg_genpack_t *p, const char *dir, const char *name, uint8_t table) {
  char path[PATH_CAP + 48];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return RG_EIO;
  static const char key[] = "";
  uint8_t *buf = malloc(SNAP_ROW_BYTES);
  int rc = buf ? RG_OK : RG_ENOMEM;
  ssize_t n;
  while (!rc && (n = read(fd, buf, SNAP_ROW_BYTES)) > 0)
    rc = rg_genpack_add(p, table, key, 0, buf, (size_t)n);
  if (!rc && n < 0) rc = RG_EIO;
  free(buf);
  close(fd);
  return rc;
}

int rg__cluster_snapshot_make(rg_replica_t *c, rg_genpack_t **out, rg_genpack_manifest_t *m,
                              char *err, size_t errlen) {
  *out = NULL;
  char dir[PATH_CAP], partial[PATH_CAP + 16];
  snprintf(dir, sizeof dir, "%s/cluster-snapshot", c->cfg.data_dir);
  snprintf(partial, sizeof partial, "%s.partial", dir);
  remove_copy(dir); /* leftovers of a run that died */
  remove_copy(partial);
  rg_store_t *s = rg_engine_store(c->engine);
  rg_txn_t *t;
  uint64_t seq = 0;
  int rc = rg_store_read_begin(s, &t);
  if (!rc) {
    rc = rg_store_log_seq(t, &seq); /* the copy holds at least this much of the log */
    rg_store_end(t);
  }
  rg_backup_manifest_t bm;
  if (!rc) rc = rg_store_backup(s, dir, false, &bm, err, errlen);
  else rg_fail(err, errlen, rc, "reading the applied sequence: %s", rg_strerror(rc));
  rg_genpack_t *p = NULL;
  if (!rc) rc = rg_genpack_new(seq, seq, RG_STORE_SCHEMA_VERSION, &p);
  if (!rc && (rc = pack_file(p, dir, RG_BACKUP_MANIFEST, TABLE_MANIFEST)) == RG_OK)
    rc = pack_file(p, dir, RG_BACKUP_DATA, TABLE_DATA);
  if (!rc) rc = rg_genpack_seal(p, GEN_CHUNK, m);
  if (rc && !err[0]) rg_fail(err, errlen, rc, "packing %s: %s", dir, rg_strerror(rc));
  remove_copy(dir);
  if (rc) {
    rg_genpack_free(p);
    return rc;
  }
  *out = p;
  return RG_OK;
}

natsStatus rg__cluster_snapshot_publish(rg_replica_t *c, jsCtx *js, kvStore *manifests,
                                        rg_genpack_t *p, rg_genpack_manifest_t *m) {
  char subject[128];
  snprintf(subject, sizeof subject, "%s.snap", c->cfg.cluster_stream);
  natsStatus s = rg__cluster_pack_publish(js, subject, p, m);
  uint8_t enc[RG_GENPACK_MANIFEST_LEN];
  rg_genpack_manifest_encode(m, enc);
  if (s == NATS_OK) s = kvStore_Put(NULL, manifests, SNAP_KEY, enc, (int)sizeof enc);
  if (s != NATS_OK) {
    rg_log_error("cluster: publishing the snapshot at sequence %llu failed: %s",
                 (unsigned long long)m->log_seq, natsStatus_GetText(s));
    return s;
  }
  atomic_fetch_add(&c->snapshots_published, 1);
  rg_log_info("cluster: published a snapshot of the store at sequence %llu (%u chunks, %llu "
              "bytes)",
              (unsigned long long)m->log_seq, m->chunks, (unsigned long long)m->total);
  rg__cluster_pack_purge_before(js, c->snap_stream, m->first_seq);
  return NATS_OK;
}

/* ---- starting from a snapshot ----------------------------------------------------------- */

/* Writes the verified pack's rows back into files in dir (created). 0 or RG_EIO / RG_EBAD_REQUEST. */
static int unpack(rg_genpack_reader_t *r, const char *dir, char *err, size_t errlen) {
  if (mkdir(dir, 0750) != 0)
    return rg_fail(err, errlen, RG_EIO, "%s: %s", dir, strerror(errno));
  char path[2][PATH_CAP + 32];
  snprintf(path[0], sizeof path[0], "%s/%s", dir, RG_BACKUP_MANIFEST);
  snprintf(path[1], sizeof path[1], "%s/%s", dir, RG_BACKUP_DATA);
  int fd[2] = {open(path[0], O_WRONLY | O_CREAT | O_EXCL, 0640),
               open(path[1], O_WRONLY | O_CREAT | O_EXCL, 0640)};
  int rc = fd[0] >= 0 && fd[1] >= 0 ? RG_OK : RG_EIO;
  uint8_t table;
  const uint8_t *key, *val;
  size_t klen, vlen;
  int more = 0;
  while (!rc && (more = rg_genpack_reader_next(r, &table, &key, &klen, &val, &vlen)) == 1) {
    if (table != TABLE_MANIFEST && table != TABLE_DATA) rc = RG_EBAD_REQUEST;
    else if (write(fd[table - 1], val, vlen) != (ssize_t)vlen) rc = RG_EIO;
  }
  if (!rc && more < 0) rc = more;
  for (int i = 0; i < 2; i++)
    if (fd[i] >= 0) close(fd[i]);
  if (rc) rg_fail(err, errlen, rc, "writing the snapshot into %s: %s", dir, rg_strerror(rc));
  return rc;
}

/* Reads the cluster's snapshot manifest into *m: 0, or RG_ENOT_FOUND (none, or NATS could
 * not say). */
static int snapshot_manifest(const rg_config_t *cfg, jsCtx *js, rg_genpack_manifest_t *m) {
  char bucket[96];
  snprintf(bucket, sizeof bucket, "%s-manifest", cfg->cluster_stream);
  kvStore *kv = NULL;
  kvEntry *e = NULL;
  int rc = js_KeyValue(&kv, js, bucket) == NATS_OK && kvStore_Get(&e, kv, SNAP_KEY) == NATS_OK &&
                   rg_genpack_manifest_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e),
                                              m) == RG_OK
               ? RG_OK
               : RG_ENOT_FOUND;
  kvEntry_Destroy(e);
  kvStore_Destroy(kv);
  return rc;
}

/* Fetches and verifies the snapshot manifest m announces and writes the copy into the new
 * directory dir. 0, or an error with why. */
static int fetch_copy(const rg_config_t *cfg, jsCtx *js, const rg_genpack_manifest_t *m,
                      const char *dir, char *why, size_t cap) {
  char stream[96], subject[128];
  snprintf(stream, sizeof stream, "%s-snap", cfg->cluster_stream);
  snprintf(subject, sizeof subject, "%s.snap", cfg->cluster_stream);
  rg_genpack_reader_t *r = NULL;
  int rc = rg__cluster_pack_fetch(js, stream, subject, m, &r, why, cap);
  if (rc) return rc;
  remove_copy(dir);
  rc = unpack(r, dir, why, cap);
  rg_genpack_reader_free(r);
  return rc;
}

/* A new replica (no store yet): restores the cluster's snapshot, if any, into
 * cfg->data_dir; when there is none or it cannot be used, says why (it starts empty).
 * first: the writes stream's first sequence (0 when unknown), to say when the snapshot
 * does not reach the log the stream still holds (the replica will halt). */
static void restore_new(const rg_config_t *cfg, jsCtx *js, uint64_t first) {
  char dir[PATH_CAP], why[300] = "";
  rg_genpack_manifest_t m;
  bool found = snapshot_manifest(cfg, js, &m) == RG_OK;
  if (first > 1 && (!found || m.log_seq + 1 < first))
    rg_log_error("cluster: stream %s now starts at %llu and the cluster has no snapshot "
                 "reaching %llu: this new replica cannot catch up (it will halt); wait for "
                 "the leader's next snapshot and restart it",
                 cfg->cluster_stream, (unsigned long long)first, (unsigned long long)first - 1);
  if (!found) {
    rg_log_info("cluster: no snapshot in %s-manifest: starting empty, the whole log is replayed",
                cfg->cluster_stream);
    return;
  }
  snprintf(dir, sizeof dir, "%s.snapshot-in", cfg->data_dir);
  rg_backup_manifest_t bm;
  int rc = fetch_copy(cfg, js, &m, dir, why, sizeof why);
  if (!rc) rc = rg_store_restore(dir, cfg->data_dir, &bm, why, sizeof why);
  remove_copy(dir);
  if (rc) { /* the replica can still start empty and replay the whole log */
    rg_log_error("cluster: the snapshot at sequence %llu not restored (%s): starting empty, the "
                 "whole log is replayed",
                 (unsigned long long)m.log_seq, why);
    return;
  }
  rg_log_info("cluster: restored the snapshot at sequence %llu (generation %llu, %llu bytes) into "
              "%s: the log is replayed from there",
              (unsigned long long)m.log_seq, (unsigned long long)bm.generation,
              (unsigned long long)bm.data_bytes, cfg->data_dir);
}

/* A replica whose store applied up to `applied` while the stream now starts at `first`
 * (> applied + 1: the entries between are gone): the cluster's snapshot, if it reaches
 * first - 1, replaces the store, which is moved aside to <data_dir>.stale-<time> (moved
 * back if the restore fails). Otherwise the store stays as it is and the replica halts
 * once running (cluster.c). */
static void restore_stale(const rg_config_t *cfg, jsCtx *js, uint64_t applied, uint64_t first) {
  char dir[PATH_CAP], stale[PATH_CAP + 32], why[300] = "";
  rg_genpack_manifest_t m;
  if (snapshot_manifest(cfg, js, &m) != RG_OK || m.log_seq + 1 < first) {
    rg_log_error("cluster: this store applied the log up to %llu but stream %s now starts at "
                 "%llu, and the cluster has no snapshot reaching %llu: the replica cannot catch "
                 "up (it will halt); wait for the leader's next snapshot and restart it",
                 (unsigned long long)applied, cfg->cluster_stream, (unsigned long long)first,
                 (unsigned long long)first - 1);
    return;
  }
  snprintf(dir, sizeof dir, "%s.snapshot-in", cfg->data_dir);
  size_t n = strlen(cfg->data_dir);
  while (n > 1 && cfg->data_dir[n - 1] == '/') n--; /* "data/" is moved beside, not into, itself */
  snprintf(stale, sizeof stale, "%.*s.stale-%lld", (int)n, cfg->data_dir,
           (long long)rg_clock_now());
  rg_backup_manifest_t bm;
  int rc = fetch_copy(cfg, js, &m, dir, why, sizeof why);
  bool moved = false;
  if (!rc && rename(cfg->data_dir, stale) != 0)
    rc = rg_fail(why, sizeof why, RG_EIO, "moving %s aside to %s: %s", cfg->data_dir, stale,
                 strerror(errno));
  moved = !rc;
  if (!rc) rc = rg_store_restore(dir, cfg->data_dir, &bm, why, sizeof why);
  remove_copy(dir);
  if (rc && moved) { /* put the old store back: the replica starts on it (and halts) */
    remove_copy(cfg->data_dir);
    if (rename(stale, cfg->data_dir) != 0)
      rg_log_error("cluster: moving %s back to %s failed: %s", stale, cfg->data_dir,
                   strerror(errno));
  }
  if (rc) {
    rg_log_error("cluster: the snapshot at sequence %llu not restored (%s): starting on the "
                 "store as it is (applied up to %llu; it will halt)",
                 (unsigned long long)m.log_seq, why, (unsigned long long)applied);
    return;
  }
  rg_log_info("cluster: this store applied the log up to %llu, the stream now starts at %llu: "
              "moved it aside to %s and restored the snapshot at sequence %llu (generation "
              "%llu, %llu bytes) into %s: the log is replayed from there",
              (unsigned long long)applied, (unsigned long long)first, stale,
              (unsigned long long)m.log_seq, (unsigned long long)bm.generation,
              (unsigned long long)bm.data_bytes, cfg->data_dir);
}

/* The writes stream's first sequence: 0 with *first, or an error (NATS could not say). */
static int stream_first(const rg_config_t *cfg, jsCtx *js, uint64_t *first) {
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetStreamInfo(&si, js, cfg->cluster_stream, NULL, &jerr);
  if (s == NATS_OK && si) *first = si->State.FirstSeq;
  jsStreamInfo_Destroy(si);
  return s == NATS_OK ? RG_OK : RG_EUNAVAILABLE;
}

int rg_cluster_bootstrap(const rg_config_t *cfg, char *err, size_t errlen) {
  char path[PATH_CAP], why[300] = "";
  struct stat st;
  uint64_t applied = 0, first = 0;
  if (!cfg->cluster_enabled) return RG_OK;
  snprintf(path, sizeof path, "%s/%s", cfg->data_dir, RG_BACKUP_DATA);
  bool have = stat(path, &st) == 0;
  if (have && rg_store_peek_log_seq(cfg->data_dir, &applied, why, sizeof why) != RG_OK) {
    rg_log_warn("cluster: %s: the store is opened as it is", why);
    return RG_OK; /* opening it says what is wrong */
  }
  if (nats_Open(-1) != NATS_OK)
    return rg_fail(err, errlen, RG_EINTERNAL, "cannot initialise the NATS library");
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  char name[96];
  snprintf(name, sizeof name, "rg-%s-bootstrap", cfg->cluster_node);
  natsStatus s = rg__cluster_connect(cfg, name, &nc);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 5000;
  if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, &jo);
  if (s != NATS_OK) {
    rg_log_warn("cluster: no snapshot fetched (NATS: %s): %s", natsStatus_GetText(s),
                have ? "starting on the store as it is"
                     : "starting empty, the whole log is replayed");
  } else {
    if (stream_first(cfg, js, &first) != RG_OK)
      first = 0; /* no stream yet, or no answer: an old store is opened as it is */
    if (!have)
      restore_new(cfg, js, first);
    else if (first > applied + 1)
      restore_stale(cfg, js, applied, first);
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return RG_OK;
}
