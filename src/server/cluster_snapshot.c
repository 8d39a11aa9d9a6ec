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
 * Starting from it. rg_cluster_bootstrap runs before the engine opens a data directory
 * that has no store yet: it reads the snapshot manifest, gathers and verifies the chunks,
 * writes the copy to "<data_dir>.snapshot-in" and restores it from there
 * (rg_store_restore: checksum and read-only open checked again). Without NATS, without a
 * snapshot, or with one that does not verify, the replica starts empty and replays the
 * whole log, as before. */
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

/* Fetches and restores the snapshot the cluster has, if any, into cfg->data_dir; when there
 * is none or it cannot be used, says why in the log (the replica then starts empty). */
static void restore(const rg_config_t *cfg, jsCtx *js) {
  char bucket[96], stream[96], subject[128], why[200] = "", err[300] = "";
  snprintf(bucket, sizeof bucket, "%s-manifest", cfg->cluster_stream);
  snprintf(stream, sizeof stream, "%s-snap", cfg->cluster_stream);
  snprintf(subject, sizeof subject, "%s.snap", cfg->cluster_stream);
  kvStore *kv = NULL;
  kvEntry *e = NULL;
  rg_genpack_manifest_t m;
  if (js_KeyValue(&kv, js, bucket) != NATS_OK || kvStore_Get(&e, kv, SNAP_KEY) != NATS_OK ||
      rg_genpack_manifest_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &m) != RG_OK) {
    kvEntry_Destroy(e);
    kvStore_Destroy(kv);
    rg_log_info("cluster: no snapshot in %s: starting empty, the whole log is replayed", bucket);
    return;
  }
  kvEntry_Destroy(e);
  kvStore_Destroy(kv);
  rg_genpack_reader_t *r = NULL;
  if (rg__cluster_pack_fetch(js, stream, subject, &m, &r, why, sizeof why) != RG_OK) {
    rg_log_warn("cluster: the snapshot at sequence %llu is not usable (%s): starting empty, the "
                "whole log is replayed",
                (unsigned long long)m.log_seq, why);
    return;
  }
  char dir[PATH_CAP];
  snprintf(dir, sizeof dir, "%s.snapshot-in", cfg->data_dir);
  remove_copy(dir);
  rg_backup_manifest_t bm;
  int rc = unpack(r, dir, err, sizeof err);
  rg_genpack_reader_free(r);
  if (!rc) rc = rg_store_restore(dir, cfg->data_dir, &bm, err, sizeof err);
  remove_copy(dir);
  if (rc) { /* the replica can still start empty and replay the whole log */
    rg_log_error("cluster: the snapshot at sequence %llu not restored (%s): starting without it",
                 (unsigned long long)m.log_seq, err);
    return;
  }
  rg_log_info("cluster: restored the snapshot at sequence %llu (generation %llu, %llu bytes) into "
              "%s: the log is replayed from there",
              (unsigned long long)m.log_seq, (unsigned long long)bm.generation,
              (unsigned long long)bm.data_bytes, cfg->data_dir);
}

int rg_cluster_bootstrap(const rg_config_t *cfg, char *err, size_t errlen) {
  char path[PATH_CAP];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", cfg->data_dir, RG_BACKUP_DATA);
  if (!cfg->cluster_enabled || stat(path, &st) == 0) return RG_OK; /* a store already */
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
  if (s != NATS_OK)
    rg_log_warn("cluster: no snapshot fetched (NATS: %s): starting empty, the whole log is "
                "replayed",
                natsStatus_GetText(s));
  else
    restore(cfg, js);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return RG_OK;
}
