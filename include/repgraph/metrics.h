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
  atomic_uint_fast64_t ts_clamped; /* item times clamped to the server clock (future skew) */
  int64_t started_at;       /* epoch seconds */
} rg_metrics_t;

/* Adds one latency sample in microseconds. */
void rg_hist_add(rg_hist_t *h, uint64_t us);

/* The latency (µs, upper bucket bound) below which fraction q (0..1) of samples fall;
 * 0 when empty. */
uint64_t rg_hist_quantile(const rg_hist_t *h, double q);

/* Counts one error reply with code `err` (an RG_E… value). */
void rg_metrics_error(rg_metrics_t *m, int err);

#endif
