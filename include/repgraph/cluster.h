/* cluster.h — cluster mode (cluster.enabled): every replica is a full copy fed by one NATS
 * JetStream stream. A write a replica receives is validated, published to the stream (its
 * request bytes and the publisher's clock), and answered once this replica has applied it
 * from the stream; every replica, the publisher included, consumes the stream with its own
 * durable consumer and applies each entry in stream order through the engine's writer, with
 * the entry's sequence committed in the same transaction (so a restart resumes right after
 * it). One replica at a time holds the recompute lease (a key-value bucket with a TTL): it
 * alone recomputes, publishes each generation to the cluster, and now and then a snapshot
 * of its store; the others adopt its generations in one transaction each, and a new
 * replica starts from the snapshot plus the log after it (rg_cluster_bootstrap). NATS runs
 * on threads of its own (consumer, publisher and generation threads, and nats.c's); they
 * hand everything to the loop with uv_async, and the loop never calls NATS. Call
 * everything here from the loop thread. */
#ifndef RG_CLUSTER_H
#define RG_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "repgraph/buf.h"
#include "repgraph/config.h"
#include "repgraph/engine.h"
#include "repgraph/proto.h"

typedef struct rg_replica rg_replica_t;

/* Starts cluster mode for engine e: reads the last applied sequence from the store and
 * starts the threads that connect to cfg->cluster_nats (in the background, retrying: NATS
 * need not be up yet). 0 with *out owned by the caller (rg_cluster_stop, then
 * rg_cluster_free), RG_ENOMEM, RG_EINTERNAL (a thread or handle), or a store error, with a
 * message in err. */
int rg_cluster_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t *e, rg_replica_t **out,
                    char *err, size_t errlen);

/* Before the engine opens cfg->data_dir in cluster mode: when the directory has no store
 * yet, or has one whose next entry the stream no longer holds (its applied sequence + 1
 * below the stream's first), and the cluster has a snapshot (cluster.snapshot_interval)
 * that reaches that far, fetches, verifies and restores it there, so the replica replays
 * only the log after it; an old store is moved aside to <data_dir>.stale-<epoch seconds>.
 * Blocks while it runs. 0 also when there is nothing to restore, NATS is unreachable, or
 * the snapshot does not verify or restore (logged: the replica then starts on what it has);
 * RG_EINTERNAL when the NATS library cannot start, with a message in err. */
int rg_cluster_bootstrap(const rg_config_t *cfg, char *err, size_t errlen);

/* True for a request that goes through the log: ingest, label, forget, unlabel and
 * label_cluster (not its dry run, a read). */
bool rg_cluster_takes(const rg_request_t *req);

/* Handles such a request, whose frame body is body (len bytes): refused at once (an error
 * reply into out, *pending NULL), or published, with *pending the write that completes
 * (done(pending, ctx)) once applied here, or with `unavailable` (no JetStream ack) or
 * `not_applied` (acked, not applied within cluster.read_wait). Same contract as
 * rg_engine_handle: non-zero only if out cannot take the reply. */
int rg_cluster_write(rg_replica_t *c, const uint8_t *body, uint32_t len, const rg_request_t *req,
                     rg_buf_t *out, rg_write_done_fn done, void *ctx, rg_write_t **pending);

/* Stops the threads and the NATS connection, fails the writes still waiting for the log
 * (their done runs now) and starts closing the loop handles. Call before rg_engine_stop
 * (entries already queued to the writer still commit). Idempotent. */
void rg_cluster_stop(rg_replica_t *c);

/* Frees the cluster after rg_cluster_stop, rg_engine_stop and one more turn of the loop.
 * Accepts NULL. */
void rg_cluster_free(rg_replica_t *c);

#endif
