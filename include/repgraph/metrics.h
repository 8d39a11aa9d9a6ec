/* metrics.h — counters and latency histograms for `stats`. Every field is atomic: the loop
 * thread and the writer update them, any thread reads them. */
#ifndef RG_METRICS_H
#define RG_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#define RG_METRICS_SLOTS 32 /* ops and error codes are counted by index below this */
#define RG_HIST_BUCKETS  32 /* bucket i counts latencies in [2^(i-1), 2^i) µs */

typedef struct {
  atomic_uint_fast64_t buckets[RG_HIST_BUCKETS];
  atomic_uint_fast64_t count;
  atomic_uint_fast64_t max_us;
} rg_hist_t;

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
  atomic_uint_fast64_t auth_failures; /* wrong or malformed auth requests, other requests
                                         before auth (not silent connections: timeouts) */
  atomic_uint_fast64_t tls_failures;  /* TLS connections closed by a failed handshake or
                                         record: plaintext clients, rejected certificates */
  atomic_uint_fast64_t commits, committed_writes, write_queue_depth;
  rg_hist_t commit_latency; /* one group commit, µs */
  atomic_uint_fast64_t ts_clamped;
  /* check: verdicts (accept, tempfail, quarantine, reject; before check.mode), the role that
   * decided (sender, sender_domain, client_ip, client_net, helo, none), allowlist hits */
  atomic_uint_fast64_t check_verdicts[4], check_decided_by[6], check_allowlisted; /* item times clamped to the server clock (future skew) */
  atomic_uint_fast64_t policy[RG_POLICY_COUNTER_COUNT]; /* by rg_policy_counter_t */
  rg_hist_t policy_latency; /* a policy request: its last byte read to its answer queued, µs */
  int64_t started_at;       /* epoch seconds */
  /* retention sweeps (src/server/retention.c) and forget, since start: edges, actors (with
   * their scores, cluster and index rows) and labels removed; passes and slices run */
  atomic_uint_fast64_t expired_edges, expired_actors, expired_labels, forgotten_actors;
  atomic_uint_fast64_t retention_passes, retention_slices;
  rg_hist_t retention_slice_latency; /* one sweep slice's transaction (apply), µs */
  /* backups (src/server/backup.c): completed and failed since start */
  atomic_uint_fast64_t backups_ok, backups_failed;
} rg_metrics_t;

/* Adds one latency sample in microseconds. */
void rg_hist_add(rg_hist_t *h, uint64_t us);

/* The latency (µs, upper bucket bound) below which fraction q (0..1) of samples fall;
 * 0 when empty. */
uint64_t rg_hist_quantile(const rg_hist_t *h, double q);

/* Counts one error reply with code `err` (an RG_E… value). */
void rg_metrics_error(rg_metrics_t *m, int err);

#endif
