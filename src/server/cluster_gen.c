/* cluster_gen.c — cluster mode, the loop's side of "recompute once, adopt everywhere" (the
 * lease and the NATS work are in cluster_lease.c): the engine's recompute gate lets only
 * the lease holder recompute (a follower answers not_leader, naming the holder); after the
 * leader committed a generation it is packed on libuv's pool and handed to the generation
 * thread to publish; a verified generation from the cluster is adopted through the writer
 * once this replica has applied the log up to the sequence it was computed at, unless it
 * serves that generation or a newer one already. Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"
#include "repgraph/err.h"

/* ---- the engine's hooks ----------------------------------------------------------------- */

static int gate(void *ctx, char *msg, size_t cap) {
  rg_replica_t *c = ctx;
  rg_engine_set_generation_floor(c->engine, atomic_load(&c->manifest_gen));
  if (atomic_load(&c->leader)) return RG_OK;
  char holder[sizeof c->lease_holder];
  pthread_mutex_lock(&c->lock);
  snprintf(holder, sizeof holder, "%s", c->lease_holder);
  pthread_mutex_unlock(&c->lock);
  if (holder[0])
    return rg_fail(msg, cap, RG_ENOT_LEADER,
                   "not the leader: %s holds the recompute lease and recomputes; its generations "
                   "are adopted here (send recompute to %s)",
                   holder, holder);
  return rg_fail(msg, cap, RG_ENOT_LEADER,
                 "not the leader: no replica holds the recompute lease yet (NATS unreachable, or "
                 "a takeover within cluster.lease_ttl)");
}

static void pack_work(uv_work_t *req) {
  rg_replica_t *c = req->data;
  rg_genpack_t *p = NULL;
  c->packed_rc = rg_engine_pack_generation(c->engine, c->packed_gen, &p);
  if (!c->packed_rc) {
    rg_genpack_manifest_t m;
    c->packed_rc = rg_genpack_seal(p, GEN_CHUNK, &m);
    if (!c->packed_rc) {
      pthread_mutex_lock(&c->lock);
      rg_genpack_free(c->to_publish); /* an older one not yet out: this one replaces it */
      c->to_publish = p;
      c->to_publish_m = m;
      pthread_cond_broadcast(&c->wake);
      pthread_mutex_unlock(&c->lock);
      p = NULL;
    }
  }
  rg_genpack_free(p);
}

static void pack_done(uv_work_t *req, int status) {
  rg_replica_t *c = req->data;
  c->packing = false;
  if (status || c->packed_rc)
    rg_log_error("cluster: packing generation %llu to publish failed: %s",
                 (unsigned long long)c->packed_gen,
                 status ? "cancelled" : rg_strerror(c->packed_rc));
}

static void snap_work(uv_work_t *req) {
  rg_replica_t *c = req->data;
  rg_genpack_t *p = NULL;
  rg_genpack_manifest_t m;
  c->snap_err[0] = '\0';
  c->snap_rc = rg__cluster_snapshot_make(c, &p, &m, c->snap_err, sizeof c->snap_err);
  if (c->snap_rc) return;
  pthread_mutex_lock(&c->lock);
  rg_genpack_free(c->to_snapshot); /* an older one not yet out: this one replaces it */
  c->to_snapshot = p;
  c->to_snapshot_m = m;
  pthread_mutex_unlock(&c->lock);
}

static void snap_done(uv_work_t *req, int status) {
  rg_replica_t *c = req->data;
  c->snapping = false;
  if (status || c->snap_rc)
    rg_log_error("cluster: snapshot of the store not made: %s",
                 status ? "cancelled" : c->snap_err[0] ? c->snap_err : rg_strerror(c->snap_rc));
}

/* After a generation of the leader's: a snapshot of the store for new replicas, when the
 * last one is older than cluster.snapshot_interval. */
static void maybe_snapshot(rg_replica_t *c) {
  uint64_t every = c->cfg.cluster_snapshot_interval_s * 1000, now = uv_now(c->loop);
  if (!every || c->snapping || (c->snapped_at_ms && now - c->snapped_at_ms < every)) return;
  c->snapping = true;
  c->snapped_at_ms = now;
  c->snap_work.data = c;
  if (uv_queue_work(c->loop, &c->snap_work, snap_work, snap_done) != 0) {
    c->snapping = false;
    rg_log_error("cluster: cannot queue a snapshot of the store");
  }
}

static void computed(void *ctx, uint64_t gen) {
  rg_replica_t *c = ctx;
  atomic_store(&c->served_gen, gen);
  atomic_store(&c->served_source, GEN_LOCAL);
  if (c->stopped) return;
  maybe_snapshot(c);
  if (c->packing) return; /* one at a time: the next recomputation publishes */
  c->packing = true;
  c->packed_gen = gen;
  c->pack_work.data = c;
  if (uv_queue_work(c->loop, &c->pack_work, pack_work, pack_done) != 0) {
    c->packing = false;
    rg_log_error("cluster: cannot queue the packing of generation %llu",
                 (unsigned long long)gen);
  }
}

/* ---- adopting ---------------------------------------------------------------------------- */

bool rg__cluster_gen_wanted(rg_replica_t *c, uint64_t gen) {
  uint64_t served = atomic_load(&c->served_gen);
  return gen > served || (gen == served && atomic_load(&c->served_source) == GEN_LOCAL &&
                          !atomic_load(&c->leader));
}

static void adopted(void *ctx, uint64_t gen, int rc) {
  rg_replica_t *c = ctx;
  c->adopting = false;
  if (rc == RG_OK) {
    atomic_store(&c->served_gen, gen);
    atomic_store(&c->served_source, GEN_ADOPTED);
    atomic_fetch_add(&c->gens_adopted, 1);
    rg_log_info("cluster: adopted generation %llu", (unsigned long long)gen);
  } else if (rc != RG_ENOT_FOUND) {
    atomic_fetch_add(&c->gens_refused, 1);
    rg_log_error("cluster: generation %llu not adopted: %s", (unsigned long long)gen,
                 rg_strerror(rc));
  }
  rg__cluster_gen_kick(c);
}

void rg__cluster_gen_kick(rg_replica_t *c) {
  if (!c->pending || c->adopting || c->stopped || c->halted) return;
  if (!rg__cluster_gen_wanted(c, c->pending_gen)) { /* overtaken meanwhile */
    rg_genpack_reader_free(c->pending);
    c->pending = NULL;
    return;
  }
  if (atomic_load(&c->applied) < c->pending_seq) return; /* the data it was computed on first */
  rg_genpack_reader_t *r = c->pending;
  c->pending = NULL;
  c->adopting = true;
  bool replace = c->pending_gen == atomic_load(&c->served_gen);
  if (rg_engine_adopt_generation(c->engine, c->pending_gen, r, replace, adopted, c) != RG_OK) {
    c->adopting = false;
    rg_log_error("cluster: out of memory adopting generation %llu",
                 (unsigned long long)c->pending_gen);
  }
}

void rg__cluster_gen_arrived(rg_replica_t *c, in_item_t *it) {
  if (c->stopped || !rg__cluster_gen_wanted(c, it->seq) ||
      (c->pending && it->seq <= c->pending_gen)) {
    rg_genpack_reader_free(it->reader);
    return;
  }
  rg_genpack_reader_free(c->pending); /* a newer one replaces a waiting one */
  c->pending = it->reader;
  c->pending_gen = it->seq;
  c->pending_seq = it->log_seq;
  rg__cluster_gen_kick(c);
}

/* ---- set-up, stats, end ------------------------------------------------------------------ */

int rg__cluster_gen_open(rg_replica_t *c, char *err, size_t errlen) {
  const char *s = c->cfg.cluster_stream;
  snprintf(c->lease_bucket, sizeof c->lease_bucket, "%s-lease", s);
  snprintf(c->manifest_bucket, sizeof c->manifest_bucket, "%s-manifest", s);
  snprintf(c->gen_stream, sizeof c->gen_stream, "%s-gen", s);
  snprintf(c->snap_stream, sizeof c->snap_stream, "%s-snap", s);
  rg_txn_t *t;
  rg_generation_t g = {0};
  int rc = rg_store_read_begin(rg_engine_store(c->engine), &t);
  if (!rc) {
    rc = rg_store_get_generation(t, &g);
    rg_store_end(t);
  }
  if (rc && rc != RG_ENOT_FOUND)
    return rg_fail(err, errlen, rc, "cannot read the current generation: %s", rg_strerror(rc));
  atomic_store(&c->served_gen, g.generation);
  atomic_store(&c->served_source, g.generation ? GEN_LOCAL : GEN_NONE);
  rg_engine_set_recompute_hooks(c->engine, gate, computed, c);
  return RG_OK;
}

void rg__cluster_gen_stats(rg_replica_t *c, rg_wr_t *wr) {
  static const char *const source[] = {"none", "local", "adopted"};
  char holder[sizeof c->lease_holder];
  pthread_mutex_lock(&c->lock);
  snprintf(holder, sizeof holder, "%s", c->lease_holder);
  pthread_mutex_unlock(&c->lock);
  rg_wr_str(wr, "role"), rg_wr_str(wr, atomic_load(&c->leader) ? "leader" : "follower");
  rg_wr_str(wr, "lease_holder"), holder[0] ? rg_wr_str(wr, holder) : rg_wr_nil(wr);
  rg_wr_str(wr, "generation"), rg_wr_uint(wr, atomic_load(&c->served_gen));
  rg_wr_str(wr, "generation_source"), rg_wr_str(wr, source[atomic_load(&c->served_source)]);
  rg_wr_str(wr, "generations_published"), rg_wr_uint(wr, atomic_load(&c->gens_published));
  rg_wr_str(wr, "generations_adopted"), rg_wr_uint(wr, atomic_load(&c->gens_adopted));
  rg_wr_str(wr, "generations_refused"), rg_wr_uint(wr, atomic_load(&c->gens_refused));
  rg_wr_str(wr, "lease_taken"), rg_wr_uint(wr, atomic_load(&c->lease_taken));
  rg_wr_str(wr, "snapshots_published"), rg_wr_uint(wr, atomic_load(&c->snapshots_published));
}

void rg__cluster_gen_metrics(rg_replica_t *c, uint64_t lag, uint64_t lag_seconds) {
  rg_metrics_t *m = rg_engine_metrics(c->engine);
  atomic_store(&m->cluster_enabled, 1);
  atomic_store(&m->cluster_leader, atomic_load(&c->leader) ? 1 : 0);
  atomic_store(&m->cluster_applied_seq, atomic_load(&c->applied));
  atomic_store(&m->cluster_stream_first_seq, atomic_load(&c->first));
  atomic_store(&m->cluster_halted, atomic_load(&c->halted_flag) ? 1 : 0);
  atomic_store(&m->cluster_lag, lag);
  atomic_store(&m->cluster_lag_seconds, lag_seconds);
  atomic_store(&m->cluster_generation, atomic_load(&c->served_gen));
  atomic_store(&m->cluster_generation_adopted, atomic_load(&c->served_source) == GEN_ADOPTED);
  atomic_store(&m->cluster_generations_published, atomic_load(&c->gens_published));
  atomic_store(&m->cluster_generations_adopted, atomic_load(&c->gens_adopted));
  atomic_store(&m->cluster_generations_refused, atomic_load(&c->gens_refused));
}

void rg__cluster_gen_close(rg_replica_t *c) {
  rg_genpack_reader_free(c->pending);
  c->pending = NULL;
  rg_genpack_free(c->to_publish);
  c->to_publish = NULL;
  rg_genpack_free(c->to_snapshot);
  c->to_snapshot = NULL;
}
