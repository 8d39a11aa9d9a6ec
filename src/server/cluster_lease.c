/* cluster_lease.c — cluster mode's generation thread (see cluster_gen.c for the loop side):
 *
 * The lease. A JetStream key-value bucket `<stream>-lease` with a TTL of cluster.lease_ttl
 * holds one key, `leader`, whose value is the holder's node name. A replica without the
 * lease reads it every third of the TTL (at most every second) and, when it is gone (the
 * holder stopped renewing: the bucket's TTL removed it), takes it with kvStore_Create,
 * which only one replica can win. The holder renews it every third of the TTL with
 * kvStore_Update at the revision it holds (compare-and-set: it fails if anyone else wrote
 * it). A holder that cannot renew for two thirds of the TTL stops calling itself leader
 * before anyone else could take the key over.
 *
 * Publishing. When the leader's recomputation committed a generation, the loop packs it
 * (genpack) and hands it here: its chunks are published to the stream `<stream>-gen`
 * (subject `<stream>.gen.<generation>`), each acknowledged by JetStream, and only then is
 * the manifest (generation, chunk count, total bytes, BLAKE2b, the chunks' stream
 * sequences) written, compare-and-set, to key `generation` of the bucket
 * `<stream>-manifest` — unless that already names a newer generation. Older generations'
 * chunks are then purged from the stream.
 *
 * Adopting. Every GEN_TICK_MS the thread reads the manifest; a new revision naming a
 * generation newer than the one served is fetched chunk by chunk (js_GetMsg over the
 * sequences it names), checked (every chunk, the total, the checksum, each row's framing)
 * and handed to the loop, which adopts it in one transaction. A manifest whose chunks are
 * missing or whose checksum fails is refused, logged and never adopted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"

#define LEASE_KEY    "leader"
#define MANIFEST_KEY "generation"

typedef struct {
  rg_replica_t *c;
  jsCtx *js;
  kvStore *lease, *manifest;
  bool stream_ok;
  uint64_t rev;          /* the lease's revision we hold (leader) */
  uint64_t renewed_ms;   /* when we last wrote it */
  uint64_t next_lease_ms;
  uint64_t seen_rev;     /* the manifest revision last looked at */
  rg_log_limit_t loglim;
} gen_thread_t;

static uint64_t mono_ms(void) {
  return rg_clock_mono_us() / 1000;
}

static void set_holder(rg_replica_t *c, const char *name, size_t len) {
  pthread_mutex_lock(&c->lock);
  if (len >= sizeof c->lease_holder) len = sizeof c->lease_holder - 1;
  memcpy(c->lease_holder, name, len);
  c->lease_holder[len] = '\0';
  pthread_mutex_unlock(&c->lock);
}

/* Binds key-value bucket `name` (History 1, TTL ttl_s seconds, 0 = none), creating it when
 * missing. */
static natsStatus bind_bucket(gen_thread_t *g, const char *name, uint64_t ttl_s, kvStore **kv) {
  kvConfig kc;
  kvConfig_Init(&kc);
  kc.Bucket = name;
  kc.History = 1;
  kc.TTL = (int64_t)ttl_s * 1000000000; /* nanoseconds, as JetStream's max_age */
  kc.Replicas = (int)g->c->cfg.cluster_replicas;
  kc.StorageType = js_FileStorage;
  natsStatus s = js_CreateKeyValue(kv, g->js, &kc);
  return s == NATS_OK ? s : js_KeyValue(kv, g->js, name); /* made by another replica */
}

/* Binds (creating when missing) the buckets and the chunk stream. */
static natsStatus setup(gen_thread_t *g) {
  rg_replica_t *c = g->c;
  natsStatus s = NATS_OK;
  if (!g->lease && (s = bind_bucket(g, c->lease_bucket, c->cfg.cluster_lease_ttl_s, &g->lease)))
    return s;
  if (!g->manifest && (s = bind_bucket(g, c->manifest_bucket, 0, &g->manifest))) return s;
  if (!g->stream_ok) {
    char subject[128], snap[128];
    snprintf(subject, sizeof subject, "%s.gen.>", c->cfg.cluster_stream);
    snprintf(snap, sizeof snap, "%s.snap", c->cfg.cluster_stream);
    g->stream_ok = (s = rg__cluster_ensure_stream(c, g->js, c->gen_stream, subject)) == NATS_OK &&
                   (s = rg__cluster_ensure_stream(c, g->js, c->snap_stream, snap)) == NATS_OK;
  }
  return s;
}

/* ---- the lease -------------------------------------------------------------------------- */

static void lease_step(gen_thread_t *g) {
  rg_replica_t *c = g->c;
  uint64_t now = mono_ms(), ttl = c->cfg.cluster_lease_ttl_s * 1000;
  if (now < g->next_lease_ms) return;
  const char *node = c->cfg.cluster_node;
  int len = (int)strlen(node);
  if (atomic_load(&c->leader)) {
    uint64_t rev = 0;
    natsStatus s = kvStore_Update(&rev, g->lease, LEASE_KEY, node, len, g->rev);
    if (s == NATS_OK) {
      g->rev = rev;
      g->renewed_ms = now;
    } else if (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS && s != NATS_CONNECTION_CLOSED &&
               s != NATS_CONNECTION_DISCONNECTED) {
      atomic_store(&c->leader, false); /* someone else wrote it: not ours any more */
      set_holder(c, "", 0);
      rg_log_warn("cluster: lost the recompute lease (%s)", natsStatus_GetText(s));
    }
    if (atomic_load(&c->leader) && now - g->renewed_ms >= ttl * 2 / 3) {
      atomic_store(&c->leader, false); /* could not renew: another may take it soon */
      set_holder(c, "", 0);
      rg_log_warn("cluster: could not renew the recompute lease for %llu ms: stepping down",
                  (unsigned long long)(now - g->renewed_ms));
    }
    g->next_lease_ms = now + ttl / 3;
    return;
  }
  kvEntry *e = NULL;
  natsStatus s = kvStore_Get(&e, g->lease, LEASE_KEY);
  if (s == NATS_OK && kvEntry_Operation(e) == kvOp_Put) {
    set_holder(c, (const char *)kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
  } else if (s == NATS_OK || s == NATS_NOT_FOUND) {
    uint64_t rev = 0;
    if (kvStore_Create(&rev, g->lease, LEASE_KEY, node, len) == NATS_OK) {
      atomic_store(&c->leader, true);
      g->rev = rev;
      g->renewed_ms = now;
      set_holder(c, node, (size_t)len);
      atomic_fetch_add(&c->lease_taken, 1);
      rg_log_info("cluster: took the recompute lease (%s, TTL %llu s): recomputing here",
                  c->lease_bucket, (unsigned long long)c->cfg.cluster_lease_ttl_s);
    }
  }
  kvEntry_Destroy(e);
  g->next_lease_ms = now + (ttl / 3 < 1000 ? ttl / 3 : 1000);
}

/* ---- publishing the leader's generation --------------------------------------------------- */

/* Writes the manifest unless the bucket names a generation at least as new. */
static natsStatus write_manifest(gen_thread_t *g, const rg_genpack_manifest_t *m, bool *newer) {
  uint8_t enc[RG_GENPACK_MANIFEST_LEN];
  rg_genpack_manifest_encode(m, enc);
  *newer = false;
  for (int attempt = 0; attempt < 3; attempt++) {
    kvEntry *e = NULL;
    natsStatus s = kvStore_Get(&e, g->manifest, MANIFEST_KEY);
    uint64_t rev = 0, last = 0;
    if (s == NATS_OK) {
      rg_genpack_manifest_t cur;
      last = kvEntry_Revision(e);
      /* newer only if verified here: a forged or half-published manifest is replaced */
      if (rg_genpack_manifest_decode(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &cur) ==
              RG_OK &&
          cur.generation >= m->generation && cur.generation <= atomic_load(&g->c->manifest_gen))
        *newer = true;
      kvEntry_Destroy(e);
      if (*newer) return NATS_OK;
      s = kvStore_Update(&rev, g->manifest, MANIFEST_KEY, enc, (int)sizeof enc, last);
    } else if (s == NATS_NOT_FOUND) {
      s = kvStore_Create(&rev, g->manifest, MANIFEST_KEY, enc, (int)sizeof enc);
    }
    if (s == NATS_OK) {
      g->seen_rev = rev; /* our own: nothing to adopt */
      return NATS_OK;
    }
    if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS) return s;
  }
  return NATS_ERR;
}

/* Takes the pack the loop left in *slot (with its manifest), or NULL. */
static rg_genpack_t *take_pack(rg_replica_t *c, rg_genpack_t **slot,
                               const rg_genpack_manifest_t *slot_m, rg_genpack_manifest_t *m) {
  pthread_mutex_lock(&c->lock);
  rg_genpack_t *p = *slot;
  *m = *slot_m;
  *slot = NULL;
  pthread_mutex_unlock(&c->lock);
  return p;
}

static void publish_step(gen_thread_t *g) {
  rg_replica_t *c = g->c;
  rg_genpack_manifest_t m;
  rg_genpack_t *p = take_pack(c, &c->to_publish, &c->to_publish_m, &m);
  if (!p) return;
  char subject[128];
  snprintf(subject, sizeof subject, "%s.gen.%llu", c->cfg.cluster_stream,
           (unsigned long long)m.generation);
  natsStatus s = rg__cluster_pack_publish(g->js, subject, p, &m);
  bool newer = false;
  if (s == NATS_OK) s = write_manifest(g, &m, &newer);
  if (s != NATS_OK) {
    rg_log_error("cluster: publishing generation %llu failed (%s); the next recomputation "
                 "publishes again",
                 (unsigned long long)m.generation, natsStatus_GetText(s));
  } else if (newer) {
    rg_log_warn("cluster: generation %llu not published: the cluster has a newer one",
                (unsigned long long)m.generation);
  } else {
    atomic_fetch_add(&c->gens_published, 1);
    if (m.generation > atomic_load(&c->manifest_gen)) atomic_store(&c->manifest_gen, m.generation);
    rg_log_info("cluster: published generation %llu (%u chunks, %llu bytes, stream sequences "
                "%llu-%llu)",
                (unsigned long long)m.generation, m.chunks, (unsigned long long)m.total,
                (unsigned long long)m.first_seq, (unsigned long long)m.last_seq);
    rg__cluster_pack_purge_before(g->js, c->gen_stream, m.first_seq);
  }
  rg_genpack_free(p);
}

/* A snapshot of the leader's store, after its generation (cluster_snapshot.c). */
static void snapshot_step(gen_thread_t *g) {
  rg_replica_t *c = g->c;
  rg_genpack_manifest_t m;
  rg_genpack_t *p = take_pack(c, &c->to_snapshot, &c->to_snapshot_m, &m);
  if (!p) return;
  rg__cluster_snapshot_publish(c, g->js, g->manifest, p, &m);
  rg_genpack_free(p);
}

/* ---- adopting the cluster's generation ---------------------------------------------------- */

static void refuse(gen_thread_t *g, const rg_genpack_manifest_t *m, uint64_t rev, const char *why) {
  atomic_fetch_add(&g->c->gens_refused, 1);
  rg_log_warn("cluster: manifest revision %llu (generation %llu, %u chunks) refused: %s; not "
              "adopted",
              (unsigned long long)rev, (unsigned long long)m->generation, m->chunks, why);
}

/* Gathers the chunks of m from the stream: a verified reader, or NULL (refused, logged). */
static rg_genpack_reader_t *fetch(gen_thread_t *g, const rg_genpack_manifest_t *m, uint64_t rev) {
  rg_replica_t *c = g->c;
  rg_genpack_reader_t *r = NULL;
  char why[200] = "", subject[128];
  snprintf(subject, sizeof subject, "%s.gen.%llu", c->cfg.cluster_stream,
           (unsigned long long)m->generation);
  int rc = rg__cluster_pack_fetch(g->js, c->gen_stream, subject, m, &r, why, sizeof why);
  if (rc == RG_EUNAVAILABLE) {
    g->seen_rev = 0; /* NATS, not the manifest: look at it again next time */
    if (rg_log_limit_take(&g->loglim, rg_clock_now(), 1))
      rg_log_warn("cluster: fetching generation %llu: %s (retrying)",
                  (unsigned long long)m->generation, why);
  } else if (rc) {
    refuse(g, m, rev, why);
  }
  return r;
}

static void watch_step(gen_thread_t *g) {
  rg_replica_t *c = g->c;
  kvEntry *e = NULL;
  if (kvStore_Get(&e, g->manifest, MANIFEST_KEY) != NATS_OK) return;
  uint64_t rev = kvEntry_Revision(e);
  rg_genpack_manifest_t m;
  int rc = rev == g->seen_rev ? RG_EINTERNAL
                              : rg_genpack_manifest_decode(kvEntry_Value(e),
                                                           (size_t)kvEntry_ValueLen(e), &m);
  kvEntry_Destroy(e);
  if (rev == g->seen_rev) return;
  g->seen_rev = rev; /* looked at once: a refused revision is not tried again */
  if (rc) {
    atomic_fetch_add(&c->gens_refused, 1);
    rg_log_warn("cluster: manifest revision %llu is not a manifest of version %d; ignored",
                (unsigned long long)rev, RG_GENPACK_VERSION);
    return;
  }
  if (!rg__cluster_gen_wanted(c, m.generation)) return; /* ours, or not newer than served */
  rg_genpack_reader_t *r = fetch(g, &m, rev);
  if (!r) return;
  if (m.generation > atomic_load(&c->manifest_gen)) atomic_store(&c->manifest_gen, m.generation);
  in_item_t *it = calloc(1, sizeof *it);
  if (!it) {
    rg_genpack_reader_free(r);
    g->seen_rev = 0; /* try it again */
    return;
  }
  *it = (in_item_t){.kind = IN_GENERATION, .seq = m.generation, .reader = r, .log_seq = m.log_seq};
  rg__cluster_inbox_push(c, it, it);
}

void *rg__cluster_generations_main(void *arg) {
  gen_thread_t g = {.c = arg};
  rg_replica_t *c = g.c;
  for (;;) {
    pthread_mutex_lock(&c->lock);
    bool stop = c->stopping;
    if (!g.js && c->js_ready) g.js = c->js; /* the consumer thread connects */
    pthread_mutex_unlock(&c->lock);
    if (stop) break;
    natsStatus s = g.js ? setup(&g) : NATS_OK;
    if (g.js && s != NATS_OK) {
      if (rg_log_limit_take(&g.loglim, rg_clock_now(), 1))
        rg_log_warn("cluster: lease and generation buckets: %s (retrying)", natsStatus_GetText(s));
    } else if (g.js) {
      lease_step(&g);
      publish_step(&g);
      snapshot_step(&g);
      watch_step(&g);
    }
    if (rg__cluster_pause_ms(c, GEN_TICK_MS)) break;
  }
  if (atomic_load(&c->leader) && g.lease) /* hand the lease on at once */
    kvStore_Delete(g.lease, LEASE_KEY);
  atomic_store(&c->leader, false);
  kvStore_Destroy(g.lease);
  kvStore_Destroy(g.manifest);
  return NULL;
}
