/* analyst.c — the analysts' reads: dispatch, the most suspicious clusters, the worst (or
 * best) actors of a type, and label histories (neighbors and export are in
 * analyst_graph.c). Loop thread: each request reads one short read transaction and is
 * bounded by limits.max_page_items (rows in a reply), limits.max_scan_edges (edges read per
 * export page, or per step of a neighbors request) and limits.max_scan_clusters (clusters
 * read by a clusters request). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyst_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"

#define DEFAULT_ROWS    20     /* clusters, top */
#define MAX_OFFSET      100000 /* top: a deeper page costs a longer index walk on the loop */
#define MAX_CLUSTER_OFF 10000  /* clusters: offset + limit rows are kept while sorting */
#define HISTORY_MAX     1000   /* history entries per actor in one reply (newest) */
#define STOP            RG__ANALYST_STOP

/* ---- clusters: ranked, filtered, sorted, paged ----------------------------------------- */

static const char *const cluster_sorts[] = {"suspicion",       "size",      "bad_seed_share",
                                            "mean_reputation", "last_seen", "first_seen"};
#define N_CLUSTER_SORTS (sizeof cluster_sorts / sizeof cluster_sorts[0])

static double cluster_key(const rg_cluster_t *c, unsigned sort) {
  switch (sort) {
    case 1: return (double)c->size;
    case 2: return c->size ? (double)c->bad_seeds / c->size : 0;
    case 3: return c->mean_reputation;
    case 4: return (double)c->last_seen;
    case 5: return (double)c->first_seen;
    default: return c->suspicion;
  }
}

/* True when a ranks before b (key, then id, descending). */
static bool cluster_before(const rg_cluster_t *a, const rg_cluster_t *b, unsigned sort) {
  double ka = cluster_key(a, sort), kb = cluster_key(b, sort);
  return ka != kb ? ka > kb : a->id > b->id;
}

/* The best `cap` matches so far, as a heap whose root is the worst of them. */
typedef struct {
  const rg_request_t *req;
  int type; /* actor type that must be present, 0 = any */
  unsigned sort;
  rg_cluster_t *heap;
  uint32_t n, cap;
  uint64_t read, max_read; /* clusters read; limits.max_scan_clusters */
  bool truncated;
} cscan_t;

static void sift_down(cscan_t *s, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < s->n && cluster_before(&s->heap[m], &s->heap[l], s->sort)) m = l;
    if (r < s->n && cluster_before(&s->heap[m], &s->heap[r], s->sort)) m = r;
    if (m == i) return;
    rg_cluster_t tmp = s->heap[i];
    s->heap[i] = s->heap[m];
    s->heap[m] = tmp;
    i = m;
  }
}

static void heap_offer(cscan_t *s, const rg_cluster_t *c) {
  if (s->n < s->cap) {
    uint32_t i = s->n++;
    s->heap[i] = *c;
    while (i > 0 && cluster_before(&s->heap[(i - 1) / 2], &s->heap[i], s->sort)) {
      rg_cluster_t tmp = s->heap[i];
      s->heap[i] = s->heap[(i - 1) / 2];
      s->heap[(i - 1) / 2] = tmp;
      i = (i - 1) / 2;
    }
  } else if (cluster_before(c, &s->heap[0], s->sort)) {
    s->heap[0] = *c;
    sift_down(s, 0);
  }
}

static int visit_cluster(void *ctx, const rg_cluster_t *c) {
  cscan_t *s = ctx;
  const rg_request_t *q = s->req;
  if (q->min_suspicion >= 0 && c->suspicion < q->min_suspicion) return STOP; /* ranked */
  if (s->read == s->max_read) {
    s->truncated = true;
    return STOP;
  }
  s->read++;
  if (c->size < q->min_size || (s->type && c->by_type[s->type] == 0) ||
      c->first_seen < q->first_seen_after)
    return RG_OK;
  heap_offer(s, c);
  return s->sort == 0 && s->n == s->cap ? STOP : RG_OK; /* the index is in this order */
}

/* Heapsort in place: the root (the worst) goes last each time, leaving the best first. */
static void heap_sort(cscan_t *s) {
  uint32_t n = s->n;
  while (s->n > 1) {
    rg_cluster_t tmp = s->heap[0];
    s->heap[0] = s->heap[--s->n];
    s->heap[s->n] = tmp;
    sift_down(s, 0);
  }
  s->n = n;
}

static int handle_clusters(actx_t *a, const rg_request_t *req, rg_wr_t *wr) {
  int rc = rg__analyst_need_indexes(a);
  if (rc) return rc;
  cscan_t s = {.req = req, .max_read = a->e->cfg.max_scan_clusters};
  rg_actor_type_t type;
  if (req->type.len) {
    if (rg_actor_type_parse(req->type.ptr, req->type.len, &type))
      return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "type: expected address, ip, net or domain");
    s.type = (int)type;
  }
  for (s.sort = 0; req->sort.len && s.sort < N_CLUSTER_SORTS; s.sort++)
    if (rg__analyst_str_is(req->sort, cluster_sorts[s.sort])) break;
  if (s.sort == N_CLUSTER_SORTS)
    return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST,
                   "sort: expected suspicion, size, bad_seed_share, mean_reputation, last_seen or "
                   "first_seen");
  if (req->offset > MAX_CLUSTER_OFF)
    return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "offset: at most %d; narrow the filters",
                   MAX_CLUSTER_OFF);
  uint32_t limit = rg__analyst_page_size(a, req->limit, DEFAULT_ROWS);
  s.cap = (uint32_t)req->offset + limit + 1;
  if (!(s.heap = malloc((size_t)s.cap * sizeof *s.heap))) return RG_ENOMEM;
  if (req->actor.len) { /* the one cluster holding this actor */
    uint64_t id;
    rg_score_t sc;
    rg_cluster_t c;
    rc = rg__analyst_find_actor(a, req->actor, &id);
    if (!rc) rc = rg_store_get_score(a->t, a->gen->generation, id, &sc);
    if (rc == RG_ENOT_FOUND && !a->msg[0])
      rc = rg_fail(a->msg, a->cap, rc, "actor: not scored in this generation");
    if (!rc) rc = rg_store_get_cluster(a->t, a->gen->generation, sc.cluster, &c);
    if (!rc) rc = visit_cluster(&s, &c);
  } else {
    rc = rg_store_scan_clusters_by_suspicion(a->t, a->gen->generation, req->scan_from,
                                             visit_cluster, &s);
  }
  if (rc == STOP) rc = RG_OK;
  if (!rc) {
    heap_sort(&s);
    uint32_t from = s.n < req->offset ? s.n : (uint32_t)req->offset;
    uint32_t rows = s.n - from > limit ? limit : s.n - from;
    rg_wr_reply(wr, req->has_id, req->id, 5);
    rg_wr_str(wr, "generation"), rg_wr_uint(wr, a->gen->generation);
    rg_wr_str(wr, "next_offset");
    s.n > from + rows ? rg_wr_uint(wr, from + rows) : rg_wr_nil(wr);
    rg_wr_str(wr, "truncated"), rg_wr_bool(wr, s.truncated);
    rg_wr_str(wr, "next_scan");
    s.truncated ? rg_wr_uint(wr, req->scan_from + s.read) : rg_wr_nil(wr);
    rg_wr_str(wr, "clusters");
    rg_wr_array(wr, rows);
    for (uint32_t i = 0; i < rows && !rc; i++)
      rc = rg__analyst_write_cluster(a, &s.heap[from + i], wr);
  }
  free(s.heap);
  return rc;
}

/* ---- top: the worst (or best) actors of a type ----------------------------------------- */

typedef struct {
  uint64_t skip;
  uint64_t *ids;
  uint32_t n, cap;
} collect_t;

static int visit_ranked(void *ctx, uint64_t actor, double value) {
  collect_t *c = ctx;
  (void)value;
  if (c->skip) {
    c->skip--;
    return RG_OK;
  }
  c->ids[c->n++] = actor;
  return c->n == c->cap ? STOP : RG_OK;
}

static int handle_top(actx_t *a, const rg_request_t *req, rg_wr_t *wr) {
  int rc = rg__analyst_need_indexes(a);
  if (rc) return rc;
  rg_actor_type_t type;
  if (!req->type.len || rg_actor_type_parse(req->type.ptr, req->type.len, &type))
    return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "type: expected address, ip, net or domain");
  bool anomaly = rg__analyst_str_is(req->metric, "anomaly"),
       best = rg__analyst_str_is(req->order, "best");
  if (req->metric.len && !anomaly && !rg__analyst_str_is(req->metric, "reputation"))
    return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "metric: expected reputation or anomaly");
  if (req->order.len && !best && !rg__analyst_str_is(req->order, "worst"))
    return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "order: expected worst or best");
  if (req->offset > MAX_OFFSET)
    return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "offset: at most %d", MAX_OFFSET);
  uint32_t limit = rg__analyst_page_size(a, req->limit, DEFAULT_ROWS);
  collect_t c = {req->offset, calloc((size_t)limit + 1, sizeof(uint64_t)), 0, limit + 1};
  if (!c.ids) return RG_ENOMEM;
  rc = rg_store_scan_ranking(a->t, a->gen->generation,
                             anomaly ? RG_RANK_ANOMALY : RG_RANK_REPUTATION, type, !best,
                             visit_ranked, &c);
  if (rc == STOP) rc = RG_OK;
  if (!rc) {
    bool more = c.n > limit;
    rg_wr_reply(wr, req->has_id, req->id, 5);
    rg_wr_str(wr, "generation"), rg_wr_uint(wr, a->gen->generation);
    rg_wr_str(wr, "metric"), rg_wr_str(wr, anomaly ? "anomaly" : "reputation");
    rg_wr_str(wr, "order"), rg_wr_str(wr, best ? "best" : "worst");
    rg_wr_str(wr, "next_offset"), more ? rg_wr_uint(wr, req->offset + limit) : rg_wr_nil(wr);
    rg_wr_str(wr, "actors");
    rc = rg__analyst_write_nodes(a, c.ids, more ? limit : c.n, wr);
  }
  free(c.ids);
  return rc;
}

/* ---- history: the labels an actor was given, newest first ------------------------------- */

typedef struct {
  rg_label_t *v;
  uint32_t n, limit;
  bool truncated;
} history_t;

static int visit_history(void *ctx, uint64_t id, const rg_label_t *l) {
  history_t *h = ctx;
  (void)id;
  if (h->n == h->limit) {
    h->truncated = true;
    return STOP;
  }
  h->v[h->n++] = *l;
  return RG_OK;
}

static int handle_history(actx_t *a, const rg_request_t *req, rg_wr_t *wr) {
  uint32_t limit = req->limit && req->limit < HISTORY_MAX ? (uint32_t)req->limit : HISTORY_MAX;
  history_t h = {malloc(limit * sizeof(rg_label_t)), 0, limit, false};
  if (!h.v) return RG_ENOMEM;
  int rc = RG_OK;
  rg_wr_reply(wr, req->has_id, req->id, 1);
  rg_wr_str(wr, "results");
  rg_wr_array(wr, req->n_actors);
  for (uint32_t i = 0; i < req->n_actors && !rc; i++) {
    uint64_t id;
    h.n = 0;
    h.truncated = false;
    a->msg[0] = '\0';
    rc = rg__analyst_find_actor(a, req->actors[i], &id);
    if (rc == RG_OK) rc = rg_store_scan_label_history(a->t, id, visit_history, &h);
    if (rc == STOP || rc == RG_ENOT_FOUND) rc = RG_OK;
    if (rc) break;
    rg_wr_map(wr, 3);
    rg_wr_str(wr, "actor"), rg_wr_strn(wr, req->actors[i].ptr, req->actors[i].len);
    rg_wr_str(wr, "truncated"), rg_wr_bool(wr, h.truncated);
    rg_wr_str(wr, "labels");
    rg_wr_array(wr, h.n);
    for (uint32_t j = 0; j < h.n; j++) {
      const rg_label_t *l = &h.v[j];
      rg_wr_map(wr, 5);
      rg_wr_str(wr, "verdict");
      rg_wr_str(wr, l->verdict == RG_VERDICT_RETRACTED ? "retracted" : rg_verdict_name(l->verdict));
      rg_wr_str(wr, "source"), rg_wr_str(wr, rg_label_source_name(l->source));
      rg_wr_str(wr, "weight"), rg_wr_double(wr, l->weight);
      rg_wr_str(wr, "ts"), rg_wr_int(wr, l->ts);
      rg_wr_str(wr, "note"), rg_wr_strn(wr, l->note, l->note_len);
    }
  }
  free(h.v);
  return rc;
}

int rg__analyst_handle(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr, char *msg,
                       size_t cap) {
  rg_txn_t *t;
  rg_generation_t g;
  int rc = rg_store_read_begin(e->store, &t);
  if (rc) return rc;
  actx_t a = {e, t, NULL, rg_clock_now(), msg, cap};
  a.gen = rg__current_generation(t, &g, &rc);
  if (!rc) {
    switch (req->op) {
      case RG_OP_CLUSTERS: rc = handle_clusters(&a, req, wr); break;
      case RG_OP_TOP: rc = handle_top(&a, req, wr); break;
      case RG_OP_NEIGHBORS: rc = rg__analyst_neighbors(&a, req, wr); break;
      case RG_OP_EXPORT: rc = rg__analyst_export(&a, req, wr); break;
      case RG_OP_HISTORY: rc = handle_history(&a, req, wr); break;
      default: rc = RG_EINTERNAL;
    }
  }
  rg_store_end(t);
  return rc;
}
