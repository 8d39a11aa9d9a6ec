/* timeref.c — the server's two rules for time (README "Time"): an item's ts is clamped to
 * the server clock when it is further ahead than ingest.max_future_skew, and a
 * recomputation measures decay, age and evidence at a reference time that works for live
 * traffic and for replays of old archives (graph.reference_time). */
#include <string.h>

#include "engine_internal.h"

#include "repgraph/err.h"
#include "repgraph/log.h"

int64_t rg__item_ts(rg_engine_t *e, int64_t ts, int64_t now) {
  if (!ts) return now;
  if (ts > now && (uint64_t)(ts - now) > e->cfg.max_future_skew_s) {
    atomic_fetch_add(&e->metrics.ts_clamped, 1);
    return now;
  }
  return ts;
}

int64_t rg__reference_time(rg_engine_t *e, int64_t now) {
  if (strcmp(e->cfg.reference_time, "now") == 0) return now;
  rg_txn_t *t;
  int64_t newest = 0;
  int rc = rg_store_read_begin(e->store, &t);
  if (!rc) {
    rc = rg_store_newest_edge_ts(t, &newest);
    rg_store_end(t);
  }
  if (rc) {
    rg_log_warn("reference time: cannot read the store (%s); using the server clock",
                rg_strerror(rc));
    return now;
  }
  return newest > 0 && newest < now ? newest : now;
}
