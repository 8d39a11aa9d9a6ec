/* metrics_text.h — the Prometheus text exposition format (version 0.0.4) of the server's
 * counters (rg_metrics_t) and of a view of the store read at scrape time. Pure: no I/O, no
 * clock; any thread (the counters are atomics, the view is the caller's). */
#ifndef RG_METRICS_TEXT_H
#define RG_METRICS_TEXT_H

#include <stdbool.h>

#include "repgraph/buf.h"
#include "repgraph/metrics.h"
#include "repgraph/store.h"

#define RG_METRICS_SOURCES 8 /* label sources by number (RG_LABEL_SOURCE_MAP); 0 unused */

/* What a scrape reads besides the counters. Fields whose _ok flag is false are left out. */
typedef struct {
  int64_t now; /* epoch seconds of the scrape (ages are measured to it) */
  bool store_ok;
  rg_store_counts_t counts; /* actors by type, edges by kind, labels */
  rg_store_info_t info;     /* map size, used bytes, growths */
  bool labels_ok;
  uint64_t labels[RG_METRICS_SOURCES][3]; /* [source][verdict: 1 bad, 2 good] */
  bool has_generation;
  rg_generation_t generation;  /* the current one */
  double loop_heartbeat_age_s; /* since the loop thread last ticked; < 0 = unknown */
  bool ready;                  /* what /readyz answers */
} rg_metrics_view_t;

/* The bucket bounds of every histogram, in microseconds (exact sums of the power-of-two
 * buckets of rg_hist_t), ascending; +Inf follows them. */
#define RG_METRICS_TEXT_BOUNDS 14
extern const uint64_t rg_metrics_text_bounds_us[RG_METRICS_TEXT_BOUNDS];

/* Appends the whole exposition of m and v to out: HELP and TYPE lines, then the samples of
 * each family. 0, or RG_ENOMEM / RG_ETOO_LARGE from the buffer (out then holds a prefix). */
int rg_metrics_text_render(const rg_metrics_t *m, const rg_metrics_view_t *v, rg_buf_t *out);

#endif
