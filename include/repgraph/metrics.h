/* metrics.h — counters and latency histograms for `stats` and /metrics. Every field is atomic: the loop
 * thread and the writer update them, any thread reads them. */
#ifndef RG_METRICS_H
#define RG_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#define RG_METRICS_SLOTS 32 /* ops and error codes are counted by index below this */
#define RG_HIST_BUCKETS  32 /* bucket 0 counts latencies <= 1 µs, bucket i in (2^(i-1), 2^i] µs,
                               the last one everything above 2^30 µs */

/* The roles that may decide a check verdict, in check.c's order, and "none" last. */
#define RG_CHECK_DECIDERS 7
extern const char *const rg_check_decider_names[RG_CHECK_DECIDERS];

typedef struct {
  atomic_uint_fast64_t buckets[RG_HIST_BUCKETS];
  atomic_uint_fast64_t count;
  atomic_uint_fast64_t max_us;
  atomic_uint_fast64_t sum_us; /* for Prometheus' _sum */
} rg_hist_t;

/* Items of an ingest, label or forget request, as its rejects name them (ingest.c). */
#define RG_METRICS_ITEMS 4 /* edges, observations, labels, actors */

/* Phases of a recomputation, timed in the last one (recompute.c → /metrics). */
#define RG_RECOMPUTE_PHASE_MAP(X)                                                        \
  X(LOAD, "load") X(GRAPH, "graph") X(PROPAGATE, "propagate") X(CALIBRATE, "calibrate") \
      X(COMMUNITIES, "communities") X(ANOMALY, "anomaly") X(PUBLISH, "publish")
typedef enum {
#define RG__PHASE_ENUM(name, text) RG_PHASE_##name,
  RG_RECOMPUTE_PHASE_MAP(RG__PHASE_ENUM)
#undef RG__PHASE_ENUM
      RG_RECOMPUTE_PHASES
} rg_recompute_phase_t;

/* Name of a recompute phase ("load", …), or NULL if out of range. */
const char *rg_recompute_phase_name(int phase);

/* Counters of the Postfix policy listener (src/server/policy.c), in `stats` under "policy". */
#define RG_POLICY_COUNTER_MAP(X)                                                          \
  X(REQUESTS, "requests")                 /* requests answered */                         \
  X(DUNNO, "dunno")                       /* answers by action */                         \
  X(PREPEND, "prepend")                                                                   \
  X(HOLD, "hold")                                                                         \
  X(DEFER, "defer")                       /* DEFER and DEFER_IF_PERMIT */                 \
  X(REJECT, "reject")                                                                     \
  X(FAIL_OPEN_ERROR, "fail_open_error")   /* DUNNO after an internal error */             \
  X(FAIL_OPEN_STATE, "fail_open_state")   /* DUNNO for an unknown protocol_state */       \
  X(FAIL_OPEN_BUDGET, "fail_open_budget") /* DUNNO because policy.budget_ms ran out */    \
  X(UNCHECKED, "unchecked")               /* RCPT without a usable sender or client IP */ \
  X(OBS_QUEUED, "observations_queued")    /* handed to the writer */                      \
  X(OBS_RECORDED, "observations_recorded")                                                \
  X(OBS_FAILED, "observations_failed")    /* refused or not committed */                  \
  X(OBS_DROPPED, "observations_dropped")  /* writer queue past policy.max_queue */        \
  X(OBS_SKIPPED, "observations_skipped")  /* null sender, authenticated, no recipient */  \
  X(PROTOCOL_ERRORS, "protocol_errors")   /* connections closed for bad or huge input */  \
  X(TIMEOUTS, "timeouts")                 /* connections closed mid-request */            \
  X(CONNS_TOTAL, "connections_total")                                                     \
  X(CONNS_CURRENT, "connections_current")                                                 \
  X(CONNS_REFUSED, "connections_refused")

typedef enum {
#define RG__POLICY_COUNTER_ENUM(name, text) RG_POLICY_##name,
  RG_POLICY_COUNTER_MAP(RG__POLICY_COUNTER_ENUM)
#undef RG__POLICY_COUNTER_ENUM
      RG_POLICY_COUNTER_COUNT
} rg_policy_counter_t;

/* Wire name of a policy counter, or NULL if out of range. */
const char *rg_policy_counter_name(int counter);

typedef struct {
  atomic_uint_fast64_t requests[RG_METRICS_SLOTS]; /* by rg_op_t */
  atomic_uint_fast64_t errors[RG_METRICS_SLOTS];   /* by -(code - RG__ERR_FIRST) */
  rg_hist_t latency[RG_METRICS_SLOTS];             /* by rg_op_t: decode to reply queued */
  atomic_uint_fast64_t conns_current, conns_total, conns_refused;
  atomic_uint_fast64_t conns_dropped; /* connections ended by a limit or timeout, once each */
  atomic_uint_fast64_t conns_evicted; /* idle ones closed to make room at the limit */
  atomic_uint_fast64_t frames_offloaded; /* large frames decoded off the loop (offload.c) */
  atomic_uint_fast64_t auth_failures; /* wrong or malformed auth requests, other requests
                                         before auth (not silent connections: timeouts) */
  atomic_uint_fast64_t tls_failures;  /* TLS connections closed by a failed handshake or
                                         record: plaintext clients, rejected certificates */
  atomic_uint_fast64_t commits, committed_writes, write_queue_depth;
  /* the write-ahead log of ingest (engine_wal.c; zeros with wal.enabled = 0): records made
   * durable, merges into the store and the edge updates they took, and those waiting */
  atomic_uint_fast64_t wal_appended, wal_merges, wal_merged_edges, wal_unmerged_edges;
  rg_hist_t commit_latency; /* one group commit, µs */
  atomic_uint_fast64_t ts_clamped;
  /* check: verdicts (accept, tempfail, quarantine, reject; before check.mode), the role that
   * decided (sender, sender_domain, client_ip, client_net, helo, none), allowlist hits */
  atomic_uint_fast64_t check_verdicts[4], check_decided_by[RG_CHECK_DECIDERS], check_allowlisted;
  atomic_uint_fast64_t policy[RG_POLICY_COUNTER_COUNT]; /* by rg_policy_counter_t */
  rg_hist_t policy_latency; /* a policy request: its last byte read to its answer queued, µs */
  int64_t started_at;       /* epoch seconds */
  /* ingest (ingest.c): what committed, by kind, and items refused, by item and error code */
  atomic_uint_fast64_t ingested_observations, ingested_edges, ingested_labels;
  atomic_uint_fast64_t rejects[RG_METRICS_ITEMS][RG_METRICS_SLOTS];
  /* recompute (recompute.c): runs, the last one, its phases; times in µs and epoch s */
  atomic_uint_fast64_t recompute_ok, recompute_failed, recompute_running;
  atomic_uint_fast64_t recompute_last_duration_us, recompute_last_finished_at;
  atomic_uint_fast64_t recompute_last_success_at, recompute_last_generation;
  atomic_uint_fast64_t recompute_phase_us[RG_RECOMPUTE_PHASES];
  rg_hist_t recompute_duration; /* whole runs, µs */
  atomic_uint_fast64_t reloads_ok, reloads_failed; /* SIGHUP (server.c) */
  atomic_uint_fast64_t requests_logged;            /* sampled into the request log */
  rg_hist_t commit_size;                           /* writes in one group commit (a count) */
  /* retention sweeps (src/server/retention.c) and forget, since start: edges, actors (with
   * their scores, cluster and index rows) and labels removed; passes and slices run */
  atomic_uint_fast64_t expired_edges, expired_actors, expired_labels, forgotten_actors;
  atomic_uint_fast64_t retention_passes, retention_slices;
  rg_hist_t retention_slice_latency; /* one sweep slice's transaction (apply), µs */
  /* backups (src/server/backup.c): completed and failed since start */
  atomic_uint_fast64_t backups_ok, backups_failed;
  /* cluster mode (src/server/cluster_gen.c keeps them, every 100 ms): all 0 without it */
  atomic_uint_fast64_t cluster_enabled, cluster_leader, cluster_applied_seq, cluster_lag,
      cluster_lag_seconds, cluster_generation, cluster_generation_adopted,
      cluster_stream_first_seq, cluster_halted;
  atomic_uint_fast64_t cluster_generations_published, cluster_generations_adopted,
      cluster_generations_refused;
} rg_metrics_t;

/* Adds one latency sample in microseconds. */
void rg_hist_add(rg_hist_t *h, uint64_t us);

/* The latency (µs, upper bucket bound) below which fraction q (0..1) of samples fall;
 * 0 when empty. */
uint64_t rg_hist_quantile(const rg_hist_t *h, double q);

/* Counts one error reply with code `err` (an RG_E… value). */
void rg_metrics_error(rg_metrics_t *m, int err);

/* Counts one refused item (item: 0 edges, 1 observations, 2 labels, 3 actors) with code err. */
void rg_metrics_reject(rg_metrics_t *m, unsigned item, int err);

/* Records a finished recomputation: rc (0 = published generation `generation`), when it
 * finished (epoch s), how long it took in all and per phase (ms, [RG_RECOMPUTE_PHASES]). */
void rg_metrics_recompute_done(rg_metrics_t *m, int rc, uint64_t generation, int64_t finished_at,
                               double total_ms, const double phase_ms[RG_RECOMPUTE_PHASES]);

#endif
