/* cluster_internal.h — what cluster.c (the loop side: entries applied in order, waiting
 * writes, stats, life cycle), cluster_nats.c (the NATS side: the publisher and consumer
 * threads, and nats.c's publish-ack callback), cluster_lease.c (the generation thread: the
 * lease, publishing and adopting generations), cluster_gen.c (its loop side),
 * cluster_pack.c (packs over JetStream) and cluster_snapshot.c (store snapshots, a new
 * replica's start) share. Not a public header: names are rg__.
 * Fields say which thread owns them; "under lock" ones take rg_replica.lock. */
#ifndef RG_CLUSTER_INTERNAL_H
#define RG_CLUSTER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <nats/nats.h>

#include "repgraph/cluster.h"
#include "repgraph/genpack.h"
#include "repgraph/log.h"

/* Log entry: version byte (1), the publisher's clock (i64 BE, so every replica takes the
 * write at the same time), the publisher's random origin id (u64 BE) and its publication id
 * (u64 BE), then the request's msgpack frame body. */
#define ENTRY_VERSION 1
#define ENTRY_HEAD    25   /* version, now, origin, publication id */
#define FETCH_BATCH   256  /* entries asked for per pull */
#define FETCH_WAIT_MS 250  /* a pull waits this long for entries */
#define MAX_AHEAD     4096 /* entries fetched but not yet applied, at most */
#define RETRY_MS      250  /* pause after a failed connect, stream or consumer set-up */
#define HEAD_FRESH_MS 3000 /* ready needs the stream's head read within this */
#define INFO_EVERY_MS 500  /* the stream's head is read this often */
#define STALL_MS      1000 /* pulls that bring nothing while the stream has more: new consumer */
#define SWEEP_MS      100  /* waiting writes are checked against cluster.read_wait this often */
#define REPUBLISH_MS  200  /* a refused entry is published again after this */
#define MAX_PENDING   (1 << 20) /* async publishes in flight: never stall the publisher */
#define URLS_MAX      16
#define GEN_TICK_MS   200        /* the generation thread looks at the manifest this often */
#define GEN_CHUNK     (256 << 10) /* bytes of a generation per chunk message */
#define GEN_MAX_BYTES (UINT64_C(1) << 34) /* a manifest announcing more is refused */
#define GEN_SCAN_SLACK 4096      /* stream messages a fetch looks at beyond the chunk count */

/* Where a replica's served generation came from. */
enum { GEN_NONE, GEN_LOCAL, GEN_ADOPTED };

/* A client write waiting for the log (loop thread only). */
typedef struct pub {
  struct pub *prev, *next;
  struct rg_replica *cluster;
  uint64_t id, seq; /* seq: from JetStream's ack (0 until then) */
  rg_write_t *w;    /* prepared; applied when its entry comes back */
  rg_write_done_fn done;
  void *ctx;
  uint64_t deadline_ms;
  uint8_t *entry; /* the log entry, kept to publish again (freed once applied) */
  uint32_t entry_len;
  uint64_t retry_at_ms; /* JetStream refused it: publish again then (0 = not due) */
  char why[128];        /* the last refusal */
  bool submitted;       /* its entry is in the writer: it completes from there */
  bool finished;        /* its reply is ready; it waits for the writes before it */
} pub_t;

enum { IN_ENTRY, IN_ACK, IN_FAILED, IN_GENERATION };

/* What a NATS-side thread hands the loop. */
typedef struct in_item {
  struct in_item *next;
  int kind;
  uint64_t seq;    /* IN_ENTRY: stream sequence; IN_ACK: the acked sequence */
  uint64_t pub_id; /* IN_ACK, IN_FAILED */
  char why[128];   /* IN_FAILED */
  struct rg_genpack_reader *reader; /* IN_GENERATION: verified, of generation seq */
  uint64_t log_seq;                 /* IN_GENERATION: adopt once applied up to this */
  uint32_t len;    /* IN_ENTRY: the entry */
  uint8_t data[];
} in_item_t;

/* An entry for the publisher thread. */
typedef struct out_item {
  struct out_item *next;
  uint32_t len;
  uint8_t data[];
} out_item_t;

struct rg_replica {
  rg_config_t cfg;
  uv_loop_t *loop;
  rg_engine_t *engine;
  rg_proto_limits_t limits;
  char subject[96], durable[80];
  uint64_t origin; /* random per process: which entries are ours */

  /* loop thread */
  pub_t *pubs_head, *pubs_tail;
  uint64_t next_pub;
  uint64_t taken;    /* the last sequence handed to the writer */
  uint32_t inflight; /* entries in the writer */
  uv_async_t async;
  uv_timer_t sweep;
  rg_log_limit_t gap_log;    /* gap warnings: a few a second */
  rg_log_limit_t refuse_log; /* refused entries: a few a second (anyone may publish junk) */
  bool halted;               /* an entry failed here: nothing more is applied until a restart */
  bool stopped;

  /* shared: under lock */
  pthread_mutex_t lock;
  pthread_cond_t wake; /* publisher: out queue; consumer: room ahead, stop */
  in_item_t *in_head, *in_tail;
  out_item_t *out_head, *out_tail;
  bool stopping, js_ready;
  natsConnection *nc;
  jsCtx *js;

  /* shared: atomics, for stats and the consumer's restarts */
  atomic_uint_fast64_t applied; /* the last sequence committed here */
  atomic_uint_fast64_t fetched; /* the last sequence the consumer handed over */
  atomic_uint_fast64_t head;    /* the stream's last sequence, as last read */
  atomic_uint_fast64_t first;   /* the stream's first sequence, as last read */
  atomic_bool connected, consuming, reset, have_head,
      halted_flag;                 /* halted_flag: halted, for the consumer */
  atomic_int_fast64_t max_payload; /* NATS's, once connected */
  atomic_uint_fast64_t head_at_ms; /* when the head was last read (monotonic ms) */
  atomic_uint_fast64_t published, publish_failed, timeouts, resets, applied_entries,
      refused_entries;
  atomic_int_fast64_t taken_at; /* the publisher's clock of the last entry taken (lag, s) */
  pthread_t consumer, publisher, generations;

  /* generations (cluster_gen.c on the loop, cluster_lease.c on the generation thread) */
  char lease_bucket[96], manifest_bucket[96], gen_stream[96], snap_stream[96];
  struct rg_genpack *to_publish;     /* under lock: the leader's sealed pack, for the thread */
  rg_genpack_manifest_t to_publish_m; /* under lock */
  char lease_holder[64];              /* under lock: "" = unknown or none */
  struct rg_genpack *to_snapshot;     /* under lock: a sealed snapshot pack, for the thread */
  rg_genpack_manifest_t to_snapshot_m; /* under lock */
  atomic_uint_fast64_t snapshots_published;
  atomic_bool leader;                 /* this replica holds the lease (generation thread) */
  atomic_uint_fast64_t manifest_gen;  /* the newest manifest's generation seen */
  atomic_uint_fast64_t served_gen;    /* loop writes: the generation this replica serves */
  atomic_int served_source;           /* GEN_NONE, GEN_LOCAL, GEN_ADOPTED */
  atomic_uint_fast64_t gens_published, gens_adopted, gens_refused, lease_taken;
  /* loop thread */
  struct rg_genpack_reader *pending;  /* verified, waiting for applied >= pending_seq */
  uint64_t pending_gen, pending_seq;
  bool adopting, packing, snapping;
  uint64_t snapped_at_ms; /* when the last snapshot was started (uv_now), 0 = never */
  uv_work_t pack_work, snap_work;
  int snap_rc;
  char snap_err[200];
  struct rg_genpack *packed; /* pack_work's result */
  uint64_t packed_gen;
  int packed_rc;
};

/* The publisher and consumer threads (cluster_nats.c); arg is the rg_replica_t. Both run
 * until `stopping` is set under lock and the condition signalled. */
void *rg__cluster_publisher_main(void *arg);
void *rg__cluster_consumer_main(void *arg);

/* The generation thread (cluster_lease.c): takes and renews the recompute lease, publishes
 * the leader's generations, watches the manifest and hands verified generations to the loop
 * (IN_GENERATION). Runs until `stopping`, like the others. */
void *rg__cluster_generations_main(void *arg);

/* Hands items to the loop (cluster_nats.c): any thread. */
void rg__cluster_inbox_push(rg_replica_t *c, in_item_t *first, in_item_t *last);

/* Creates stream `name` taking `subject` (R cluster.replicas, file storage) unless it
 * exists (cluster_nats.c). NATS_OK or the status. */
natsStatus rg__cluster_ensure_stream(rg_replica_t *c, jsCtx *js, const char *name,
                                     const char *subject);

/* cluster_pack.c (NATS threads): publishes pack p's chunks to subject, each acknowledged,
 * setting m's first_seq / last_seq; NATS_OK or the status. */
natsStatus rg__cluster_pack_publish(jsCtx *js, const char *subject, rg_genpack_t *p,
                                    rg_genpack_manifest_t *m);

/* Gathers the chunks of the pack manifest m announces from `stream` (the messages of
 * `subject` among the sequences it names) and verifies them: 0 with *out owned by the
 * caller, or an error with why (schema, sequences that do not fit, chunks missing, checksum,
 * NATS unreachable: RG_EUNAVAILABLE). */
int rg__cluster_pack_fetch(jsCtx *js, const char *stream, const char *subject,
                           const rg_genpack_manifest_t *m, rg_genpack_reader_t **out, char *why,
                           size_t cap);

/* Purges the stream's messages before sequence seq (older packs). */
void rg__cluster_pack_purge_before(jsCtx *js, const char *stream, uint64_t seq);

/* Connects to cfg->cluster_nats as `name` (nats.c reconnects for ever after). NATS_OK or the
 * status (cluster_nats.c). */
natsStatus rg__cluster_connect(const rg_config_t *cfg, const char *name, natsConnection **nc);

/* cluster_snapshot.c: a compacted copy of the store packed to publish (pool thread; the
 * copy is made under <data_dir>/cluster-snapshot and removed). 0 with *out owned by the
 * caller, or an error with a message. */
int rg__cluster_snapshot_make(rg_replica_t *c, rg_genpack_t **out, rg_genpack_manifest_t *m,
                              char *err, size_t errlen);

/* Publishes a snapshot pack and its manifest (generation thread). NATS_OK or the status. */
natsStatus rg__cluster_snapshot_publish(rg_replica_t *c, jsCtx *js, kvStore *manifests,
                                        rg_genpack_t *p, rg_genpack_manifest_t *m);

/* Sleeps ms unless stopping; true when stopping (cluster_nats.c). */
bool rg__cluster_pause_ms(rg_replica_t *c, int ms);

/* cluster_gen.c (loop thread): set-up at open (reads the served generation, sets the
 * engine's recompute hooks), a verified generation from the thread, an entry applied (a
 * waiting adoption may go), stats fields, and the end (frees what is left). */
int rg__cluster_gen_open(rg_replica_t *c, char *err, size_t errlen);
void rg__cluster_gen_arrived(rg_replica_t *c, in_item_t *it);
void rg__cluster_gen_kick(rg_replica_t *c);
/* True when generation gen from the cluster should be adopted: newer than the one served,
 * or the same number computed here while another replica leads. Any thread. */
bool rg__cluster_gen_wanted(rg_replica_t *c, uint64_t gen);
void rg__cluster_gen_stats(rg_replica_t *c, rg_wr_t *wr);
#define RG__CLUSTER_GEN_STATS 9 /* fields rg__cluster_gen_stats writes */
void rg__cluster_gen_close(rg_replica_t *c);
/* Copies role, position, lag and generation into the engine's metrics (for /metrics). */
void rg__cluster_gen_metrics(rg_replica_t *c, uint64_t lag, uint64_t lag_seconds);

#endif
