/* analyst.c — the analysts' reads: the most suspicious clusters, the worst (or best) actors
 * of a type, an actor's ego network, clusters exported page by page with the edges among
 * their members, and label histories. Loop thread: each request reads one short read
 * transaction and is bounded by limits.max_page_items (rows in a reply),
 * limits.max_scan_edges (edges read per export page, or per step of a neighbors request) and
 * limits.max_scan_clusters (clusters read by a clusters request). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/text.h"

#define DEFAULT_ROWS    20     /* clusters, top */
#define DEFAULT_NODES   100    /* neighbors */
#define DEFAULT_PAGE    1000   /* export: nodes + edges per page */
#define MAX_OFFSET      100000 /* top: a deeper page costs a longer index walk on the loop */
#define MAX_CLUSTER_OFF 10000  /* clusters: offset + limit rows are kept while sorting */
#define HISTORY_MAX     1000   /* history entries per actor in one reply (newest) */
#define STOP            1      /* a visitor's "enough"; never an RG_E… code */

typedef struct {
  rg_engine_t *e;
  rg_txn_t *t;
  const rg_generation_t *gen; /* NULL before the first recomputation */
  int64_t now;
  char *msg;
  size_t cap;
} actx_t;

static int fail(actx_t *a, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(actx_t *a, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->msg, a->cap, fmt, ap);
  va_end(ap);
  return code;
}

static uint32_t page_size(const actx_t *a, uint64_t asked, uint32_t def) {
  uint64_t n = asked ? asked : def;
  return n > a->e->cfg.max_page_items ? a->e->cfg.max_page_items : (uint32_t)n;
}

static int need_generation(actx_t *a) {
  return a->gen ? RG_OK : fail(a, RG_ENOT_FOUND, "no scores yet: run a recomputation first");
}

static int first_cluster(void *ctx, const rg_cluster_t *c) {
  (void)ctx, (void)c;
  return STOP;
}

/* need_generation, and its analyst indexes: a generation published before the store's
 * upgrade to schema 3 has none (they are written by the next recomputation). */
static int need_indexes(actx_t *a) {
  int rc = need_generation(a);
  if (rc || !a->gen->clusters) return rc;
  rc = rg_store_scan_clusters_by_suspicion(a->t, a->gen->generation, 0, first_cluster, NULL);
  if (rc == RG_OK)
    return fail(a, RG_ENOT_FOUND,
                "generation %" PRIu64
                " has no analyst indexes (computed before the store "
                "upgrade): recompute to build analyst indexes",
                a->gen->generation);
  return rc == STOP ? RG_OK : rc;
}

static bool str_is(rg_str_t s, const char *text) {
  return s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

/* Resolves a wire actor to its id. RG_EINVALID_ACTOR / RG_ENOT_FOUND with a message. */
static int find_actor(actx_t *a, rg_str_t s, uint64_t *id) {
  rg_actor_t actor;
  int rc = rg__actor_from_wire(s, true, 0, "actor", &actor, a->msg, a->cap);
  if (rc) return rc;
  rc = rg_store_find_actor(a->t, &actor, id);
  if (rc == RG_ENOT_FOUND) {
    char quoted[128];
    return fail(a, rc, "actor: %s is not in the store",
                rg_text_escape(quoted, sizeof quoted, s.ptr, s.len));
  }
  return rc;
}

/* The actor's "type:identifier" text into buf; RG_ENOT_FOUND if it was forgotten. */
static int actor_text(actx_t *a, uint64_t id, char *buf, size_t cap) {
  rg_actor_rec_t r;
  int rc = rg_store_get_actor(a->t, id, a->now, &r);
  if (!rc) rg_actor_format(&r.actor, buf, cap);
  return rc;
}

/* Drops ids of actors forgotten since the recomputation (so arrays can be sized first). */
static int keep_existing(actx_t *a, uint64_t *ids, uint32_t *n) {
  uint32_t k = 0;
  char text[RG_ACTOR_TEXT_MAX];
  for (uint32_t i = 0; i < *n; i++) {
    int rc = actor_text(a, ids[i], text, sizeof text);
    if (rc == RG_OK)
      ids[k++] = ids[i];
    else if (rc != RG_ENOT_FOUND)
      return rc;
  }
  *n = k;
  return RG_OK;
}

/* ---- rows ------------------------------------------------------------------------------ */

#define NODE_FIELDS 12

/* Writes an existing actor as a node: identity, activity, latest label and its scores in
 * the current generation (nil before one); `depth` >= 0 adds that field (neighbors). */
static int write_node(actx_t *a, uint64_t id, int depth, rg_wr_t *wr) {
  rg_actor_rec_t r;
  rg_score_t sc;
  rg_label_t l;
  int rc = rg_store_get_actor(a->t, id, a->now, &r);
  if (rc) return rc;
  int src = a->gen ? rg_store_get_score(a->t, a->gen->generation, id, &sc) : RG_ENOT_FOUND;
  if (src && src != RG_ENOT_FOUND) return src;
  int lrc = rg_store_get_label(a->t, id, &l);
  if (lrc && lrc != RG_ENOT_FOUND) return lrc;
  char text[RG_ACTOR_TEXT_MAX];
  rg_actor_format(&r.actor, text, sizeof text);
  rg_wr_map(wr, NODE_FIELDS + (depth >= 0));
  rg_wr_str(wr, "actor"), rg_wr_str(wr, text);
  rg_wr_str(wr, "type"), rg_wr_str(wr, rg_actor_type_name(r.actor.type));
  rg_wr_str(wr, "reputation"), src ? rg_wr_nil(wr) : rg_wr_double(wr, sc.reputation);
  rg_wr_str(wr, "anomaly"), src ? rg_wr_nil(wr) : rg_wr_double(wr, sc.anomaly);
  rg_wr_str(wr, "band"), src ? rg_wr_nil(wr) : rg_wr_str(wr, rg_band_name(sc.band));
  rg_wr_str(wr, "propagated");
  src ? rg_wr_nil(wr) : rg_wr_str(wr, sc.propagated ? rg_verdict_name(sc.propagated) : "none");
  rg_wr_str(wr, "cluster"), src ? rg_wr_nil(wr) : rg_wr_uint(wr, sc.cluster);
  rg_wr_str(wr, "messages"), rg_wr_uint(wr, r.messages);
  rg_wr_str(wr, "first_seen"), rg_wr_int(wr, r.first_seen);
  rg_wr_str(wr, "last_seen"), rg_wr_int(wr, r.last_seen);
  rg_wr_str(wr, "label"), lrc ? rg_wr_nil(wr) : rg_wr_str(wr, rg_verdict_name(l.verdict));
  rg_wr_str(wr, "label_source");
  lrc ? rg_wr_nil(wr) : rg_wr_str(wr, rg_label_source_name(l.source));
  if (depth >= 0) rg_wr_str(wr, "depth"), rg_wr_uint(wr, (uint64_t)depth);
  return RG_OK;
}

static int write_nodes(actx_t *a, uint64_t *ids, uint32_t n, rg_wr_t *wr) {
  int rc = keep_existing(a, ids, &n);
  if (rc) return rc;
  rg_wr_array(wr, n);
  for (uint32_t i = 0; i < n && !rc; i++) rc = write_node(a, ids[i], -1, wr);
  return rc;
}

/* An edge read from the store, kept for a reply. */
typedef struct {
  uint64_t src, dst;
  rg_edge_kind_t kind;
  rg_edge_rec_t rec;
} edge_t;

/* Writes edges whose two ends still exist. */
static int write_edges(actx_t *a, edge_t *v, uint32_t n, rg_wr_t *wr) {
  char s[RG_ACTOR_TEXT_MAX], d[RG_ACTOR_TEXT_MAX];
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    int rc = actor_text(a, v[i].src, s, sizeof s);
    if (!rc) rc = actor_text(a, v[i].dst, d, sizeof d);
    if (rc == RG_OK)
      v[k++] = v[i];
    else if (rc != RG_ENOT_FOUND)
      return rc;
  }
  rg_wr_array(wr, k);
  for (uint32_t i = 0; i < k; i++) {
    actor_text(a, v[i].src, s, sizeof s);
    actor_text(a, v[i].dst, d, sizeof d);
    rg_wr_map(wr, 7);
    rg_wr_str(wr, "src"), rg_wr_str(wr, s);
    rg_wr_str(wr, "dst"), rg_wr_str(wr, d);
    rg_wr_str(wr, "kind"), rg_wr_str(wr, rg_edge_kind_name(v[i].kind));
    rg_wr_str(wr, "weight"), rg_wr_double(wr, v[i].rec.weight);
    rg_wr_str(wr, "count"), rg_wr_uint(wr, v[i].rec.count);
    rg_wr_str(wr, "first_seen"), rg_wr_int(wr, v[i].rec.first_seen);
    rg_wr_str(wr, "last_seen"), rg_wr_int(wr, v[i].rec.last_seen);
  }
  return RG_OK;
}

static int write_cluster(actx_t *a, const rg_cluster_t *c, rg_wr_t *wr) {
  uint64_t top[RG_CLUSTER_TOP_MAX];
  uint32_t n = c->n_top;
  memcpy(top, c->top, n * sizeof top[0]);
  int rc = keep_existing(a, top, &n);
  if (rc) return rc;
  rg_wr_map(wr, 11);
  rg_wr_str(wr, "id"), rg_wr_uint(wr, c->id);
  rg_wr_str(wr, "size"), rg_wr_uint(wr, c->size);
  rg_wr_str(wr, "by_type");
  rg_wr_map(wr, RG_ACTOR_TYPE_MAX - RG_ACTOR_TYPE_MIN + 1);
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX; ty++)
    rg_wr_str(wr, rg_actor_type_name(ty)), rg_wr_uint(wr, c->by_type[ty]);
  rg_wr_str(wr, "suspicion"), rg_wr_double(wr, c->suspicion);
  rg_wr_str(wr, "bad_seeds"), rg_wr_uint(wr, c->bad_seeds);
  rg_wr_str(wr, "good_seeds"), rg_wr_uint(wr, c->good_seeds);
  rg_wr_str(wr, "bad_seed_share"), rg_wr_double(wr, c->size ? (double)c->bad_seeds / c->size : 0);
  rg_wr_str(wr, "mean_reputation"), rg_wr_double(wr, c->mean_reputation);
  rg_wr_str(wr, "first_seen"), rg_wr_int(wr, c->first_seen);
  rg_wr_str(wr, "last_seen"), rg_wr_int(wr, c->last_seen);
  rg_wr_str(wr, "top");
  rg_wr_array(wr, n);
  for (uint32_t i = 0; i < n && !rc; i++) {
    char text[RG_ACTOR_TEXT_MAX];
    rg_score_t sc;
    actor_text(a, top[i], text, sizeof text);
    rc = rg_store_get_score(a->t, a->gen->generation, top[i], &sc);
    if (rc) return rc;
    rg_wr_map(wr, 2);
    rg_wr_str(wr, "actor"), rg_wr_str(wr, text);
    rg_wr_str(wr, "reputation"), rg_wr_double(wr, sc.reputation);
  }
  return rc;
}

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
  int rc = need_indexes(a);
  if (rc) return rc;
  cscan_t s = {.req = req, .max_read = a->e->cfg.max_scan_clusters};
  rg_actor_type_t type;
  if (req->type.len) {
    if (rg_actor_type_parse(req->type.ptr, req->type.len, &type))
      return fail(a, RG_EBAD_REQUEST, "type: expected address, ip, net or domain");
    s.type = (int)type;
  }
  for (s.sort = 0; req->sort.len && s.sort < N_CLUSTER_SORTS; s.sort++)
    if (str_is(req->sort, cluster_sorts[s.sort])) break;
  if (s.sort == N_CLUSTER_SORTS)
    return fail(a, RG_EBAD_REQUEST,
                "sort: expected suspicion, size, bad_seed_share, mean_reputation, last_seen or "
                "first_seen");
  if (req->offset > MAX_CLUSTER_OFF)
    return fail(a, RG_EBAD_REQUEST, "offset: at most %d; narrow the filters", MAX_CLUSTER_OFF);
  uint32_t limit = page_size(a, req->limit, DEFAULT_ROWS);
  s.cap = (uint32_t)req->offset + limit + 1;
  if (!(s.heap = malloc((size_t)s.cap * sizeof *s.heap))) return RG_ENOMEM;
  if (req->actor.len) { /* the one cluster holding this actor */
    uint64_t id;
    rg_score_t sc;
    rg_cluster_t c;
    rc = find_actor(a, req->actor, &id);
    if (!rc) rc = rg_store_get_score(a->t, a->gen->generation, id, &sc);
    if (rc == RG_ENOT_FOUND && !a->msg[0]) rc = fail(a, rc, "actor: not scored in this generation");
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
    for (uint32_t i = 0; i < rows && !rc; i++) rc = write_cluster(a, &s.heap[from + i], wr);
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
  int rc = need_indexes(a);
  if (rc) return rc;
  rg_actor_type_t type;
  if (!req->type.len || rg_actor_type_parse(req->type.ptr, req->type.len, &type))
    return fail(a, RG_EBAD_REQUEST, "type: expected address, ip, net or domain");
  bool anomaly = str_is(req->metric, "anomaly"), best = str_is(req->order, "best");
  if (req->metric.len && !anomaly && !str_is(req->metric, "reputation"))
    return fail(a, RG_EBAD_REQUEST, "metric: expected reputation or anomaly");
  if (req->order.len && !best && !str_is(req->order, "worst"))
    return fail(a, RG_EBAD_REQUEST, "order: expected worst or best");
  if (req->offset > MAX_OFFSET) return fail(a, RG_EBAD_REQUEST, "offset: at most %d", MAX_OFFSET);
  uint32_t limit = page_size(a, req->limit, DEFAULT_ROWS);
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
    rc = write_nodes(a, c.ids, more ? limit : c.n, wr);
  }
  free(c.ids);
  return rc;
}

/* ---- neighbors: an actor's ego network ------------------------------------------------- */

/* Edges read into a growable array, at most `budget` of them. */
typedef struct {
  edge_t *v;
  uint32_t n, cap;
  uint64_t budget;
  bool truncated;
} edges_t;

static int edges_push(edges_t *l, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                      const rg_edge_rec_t *rec) {
  if (l->n == l->cap) {
    uint32_t cap = l->cap ? l->cap * 2 : 64;
    edge_t *v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) return RG_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = (edge_t){src, dst, kind, *rec};
  return RG_OK;
}

static int collect_edge(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                        const rg_edge_rec_t *rec) {
  edges_t *l = ctx;
  if (l->n >= l->budget) {
    l->truncated = true;
    return STOP;
  }
  return edges_push(l, src, kind, dst, rec);
}

static int cmp_weight_desc(const void *x, const void *y) {
  const edge_t *a = x, *b = y;
  return a->rec.weight < b->rec.weight ? 1 : a->rec.weight > b->rec.weight ? -1 : 0;
}

/* A set of actor ids (open addressing; ids are never 0). */
typedef struct {
  uint64_t *slot;
  uint32_t mask;
} idset_t;

static int idset_init(idset_t *s, uint32_t n) {
  uint32_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  s->mask = cap - 1;
  return (s->slot = calloc(cap, sizeof *s->slot)) ? RG_OK : RG_ENOMEM;
}

/* True if id is in the set; with add, inserts it (and still returns whether it was there). */
static bool idset_has(idset_t *s, uint64_t id, bool add) {
  uint32_t i = (uint32_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & s->mask;
  while (s->slot[i] && s->slot[i] != id) i = (i + 1) & s->mask;
  if (s->slot[i]) return true;
  if (add) s->slot[i] = id;
  return false;
}

typedef struct {
  actx_t *a;
  idset_t set;
  uint64_t *ids;
  uint8_t *depth;
  uint32_t n, limit;
  bool truncated;
} ego_t;

/* Adds the neighbours of `id` at `depth`, heaviest edges first, until the node limit. */
static int expand(ego_t *g, uint64_t id, uint8_t depth, uint64_t budget) {
  edges_t l = {.budget = budget};
  int rc = rg_store_scan_out(g->a->t, id, g->a->now, collect_edge, &l);
  if (rc == STOP) rc = RG_OK;
  if (!rc) rc = rg_store_scan_in(g->a->t, id, g->a->now, collect_edge, &l);
  if (rc == STOP) rc = RG_OK;
  if (!rc) {
    g->truncated |= l.truncated;
    qsort(l.v, l.n, sizeof *l.v, cmp_weight_desc);
    for (uint32_t i = 0; i < l.n; i++) {
      uint64_t other = l.v[i].src == id ? l.v[i].dst : l.v[i].src;
      if (idset_has(&g->set, other, false)) continue;
      if (g->n == g->limit) {
        g->truncated = true;
        break;
      }
      idset_has(&g->set, other, true);
      g->ids[g->n] = other;
      g->depth[g->n++] = depth;
    }
  }
  free(l.v);
  return rc;
}

/* Keeps the edges that end inside the ego network; reads at most `budget` per node. */
typedef struct {
  idset_t *set;
  edges_t *out;
  uint64_t read, budget;
  bool truncated;
} among_t;

static int edge_among(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                      const rg_edge_rec_t *rec) {
  among_t *m = ctx;
  if (m->read++ == m->budget) {
    m->truncated = true;
    return STOP;
  }
  if (!idset_has(m->set, dst, false)) return RG_OK;
  int rc = collect_edge(m->out, src, kind, dst, rec);
  m->truncated |= m->out->truncated;
  return rc;
}

static int handle_neighbors(actx_t *a, const rg_request_t *req, rg_wr_t *wr) {
  uint64_t center;
  if (!req->actor.len) return fail(a, RG_EBAD_REQUEST, "actor: missing");
  if (req->depth > 2) return fail(a, RG_EBAD_REQUEST, "depth: 1 or 2");
  int rc = find_actor(a, req->actor, &center);
  if (rc) return rc;
  ego_t g = {.a = a, .limit = page_size(a, req->limit, DEFAULT_NODES)};
  edges_t edges = {.budget = a->e->cfg.max_page_items};
  g.ids = malloc((size_t)g.limit * sizeof *g.ids);
  g.depth = malloc(g.limit);
  if (!g.ids || !g.depth || idset_init(&g.set, g.limit) != RG_OK) {
    rc = RG_ENOMEM;
    goto done;
  }
  idset_has(&g.set, center, true);
  g.ids[0] = center;
  g.depth[0] = 0;
  g.n = 1;
  /* Edges read: the actor's up to max_scan_edges; at depth 2 as many again, shared by its
   * neighbours; as many again for the edges among the nodes, shared by them. */
  uint64_t budget = a->e->cfg.max_scan_edges;
  rc = expand(&g, center, 1, budget);
  for (uint32_t i = 1, n1 = g.n; !rc && req->depth == 2 && i < n1 && g.n < g.limit; i++)
    rc = expand(&g, g.ids[i], 2, budget / (n1 - 1) + 1);
  among_t m = {&g.set, &edges, 0, budget / g.n + 1, false};
  for (uint32_t i = 0; i < g.n && !rc && !edges.truncated; i++) {
    m.read = 0;
    rc = rg_store_scan_out(a->t, g.ids[i], a->now, edge_among, &m);
    if (rc == STOP) rc = RG_OK;
  }
  g.truncated |= m.truncated;
  if (!rc) {
    char text[RG_ACTOR_TEXT_MAX];
    actor_text(a, center, text, sizeof text);
    rg_wr_reply(wr, req->has_id, req->id, 5);
    rg_wr_str(wr, "actor"), rg_wr_str(wr, text);
    rg_wr_str(wr, "generation"), a->gen ? rg_wr_uint(wr, a->gen->generation) : rg_wr_nil(wr);
    rg_wr_str(wr, "truncated"), rg_wr_bool(wr, g.truncated);
    rg_wr_str(wr, "nodes");
    rg_wr_array(wr, g.n);
    for (uint32_t i = 0; i < g.n && !rc; i++) rc = write_node(a, g.ids[i], g.depth[i], wr);
    rg_wr_str(wr, "edges");
    if (!rc) rc = write_edges(a, edges.v, edges.n, wr);
  }
done:
  free(g.ids);
  free(g.depth);
  free(g.set.slot);
  free(edges.v);
  return rc;
}

/* ---- export: clusters page by page ---------------------------------------------------- */

/* Where an export stands: nodes of every cluster (phase 0), then the edges among them
 * (phase 1), each in member id order; within a member, out-edges in key order. */
typedef struct {
  uint64_t gen;
  uint32_t ci, phase;
  uint64_t actor, dst;
  uint32_t kind;
} xpos_t;

typedef struct {
  actx_t *a;
  const rg_request_t *req;
  xpos_t pos;
  uint64_t resume; /* phase 1: the member whose edges resume after (kind, dst) */
  uint32_t items, limit;
  uint64_t examined;
  bool paused;
  uint64_t *nodes;
  uint32_t n_nodes;
  edges_t edges;
} xscan_t;

static int export_node(void *ctx, uint64_t actor, double value) {
  xscan_t *x = ctx;
  (void)value;
  if (x->items == x->limit) {
    x->paused = true;
    return STOP;
  }
  x->nodes[x->n_nodes++] = actor;
  x->pos.actor = actor;
  x->items++;
  return RG_OK;
}

static int in_export(xscan_t *x, uint64_t id, bool *in) {
  rg_score_t sc;
  int rc = rg_store_get_score(x->a->t, x->pos.gen, id, &sc);
  *in = false;
  if (rc == RG_ENOT_FOUND) return RG_OK; /* an actor newer than the generation */
  for (uint32_t i = 0; i < x->req->n_clusters && !rc; i++) *in |= x->req->clusters[i] == sc.cluster;
  return rc;
}

static int export_edge(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                       const rg_edge_rec_t *rec) {
  xscan_t *x = ctx;
  if (x->items == x->limit || x->examined >= x->a->e->cfg.max_scan_edges) {
    x->paused = true;
    return STOP;
  }
  x->examined++;
  x->pos.kind = kind;
  x->pos.dst = dst;
  bool in;
  int rc = in_export(x, dst, &in);
  if (rc || !in) return rc;
  x->items++;
  return edges_push(&x->edges, src, kind, dst, rec);
}

static int export_member_edges(void *ctx, uint64_t actor, double value) {
  xscan_t *x = ctx;
  (void)value;
  bool resume = actor == x->resume;
  if (!resume) { /* each member visited counts as an edge read: no free walk of edgeless ones */
    if (x->examined >= x->a->e->cfg.max_scan_edges) {
      x->pos = (xpos_t){.gen = x->pos.gen, .ci = x->pos.ci, .phase = 1, .actor = actor};
      x->paused = true;
      return STOP;
    }
    x->examined++;
  }
  x->pos.actor = actor;
  x->pos.kind = resume ? x->pos.kind : 0;
  x->pos.dst = resume ? x->pos.dst : 0;
  return rg_store_scan_out_after(x->a->t, actor, (rg_edge_kind_t)x->pos.kind, x->pos.dst, x->a->now,
                                 export_edge, x);
}

/* FNV-1a of the requested cluster ids: ties a cursor to its export's cluster list. */
static uint64_t clusters_hash(const rg_request_t *req) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (uint32_t i = 0; i < req->n_clusters; i++)
    for (int b = 0; b < 64; b += 8)
      h = (h ^ ((req->clusters[i] >> b) & 0xff)) * UINT64_C(0x100000001b3);
  return h;
}

/* One decimal field of a cursor, digits only, at most max; advances *s past it and a '.'
 * (none after the last field). False if malformed. */
static bool cursor_field(const char **s, uint64_t max, bool last, uint64_t *out) {
  const char *p = *s;
  if (*p < '0' || *p > '9') return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(p, &end, 10);
  if (errno || v > max || (last ? *end != '\0' : *end != '.')) return false;
  *out = v;
  *s = last ? end : end + 1;
  return true;
}

static int parse_cursor(actx_t *a, const rg_request_t *req, xpos_t *p) {
  char buf[257];
  memcpy(buf, req->cursor.ptr, req->cursor.len);
  buf[req->cursor.len] = '\0';
  const char *s = buf;
  uint64_t f[7];
  static const uint64_t max[7] = {UINT64_MAX, UINT32_MAX, 1, UINT64_MAX, RG_EDGE_KIND_COUNT - 1,
                                  UINT64_MAX, UINT64_MAX};
  bool ok = true;
  for (int i = 0; i < 7 && ok; i++) ok = cursor_field(&s, max[i], i == 6, &f[i]);
  if (!ok || f[1] >= req->n_clusters)
    return fail(a, RG_EBAD_REQUEST, "cursor: not one this export handed out");
  if (f[6] != clusters_hash(req))
    return fail(a, RG_EBAD_REQUEST,
                "cursor: handed out for another list of clusters; pass the same clusters, in the "
                "same order, as the request that returned it");
  *p = (xpos_t){.gen = f[0],
                .ci = (uint32_t)f[1],
                .phase = (uint32_t)f[2],
                .actor = f[3],
                .kind = (uint32_t)f[4],
                .dst = f[5]};
  if (p->gen != a->gen->generation)
    return fail(a, RG_ENOT_FOUND,
                "cursor: generation %" PRIu64 " is no longer current (now %" PRIu64
                "): start the export again",
                p->gen, a->gen->generation);
  return RG_OK;
}

static int handle_export(actx_t *a, const rg_request_t *req, rg_wr_t *wr) {
  int rc = need_indexes(a);
  if (rc) return rc;
  if (!req->n_clusters) return fail(a, RG_EBAD_REQUEST, "clusters: give at least one cluster id");
  uint64_t gen = a->gen->generation, total = 0;
  if (req->generation && req->generation != gen)
    return fail(a, RG_ENOT_FOUND, "generation %" PRIu64 " is no longer current (now %" PRIu64 ")",
                req->generation, gen);
  for (uint32_t i = 0; i < req->n_clusters; i++) {
    rg_cluster_t c;
    rc = rg_store_get_cluster(a->t, gen, req->clusters[i], &c);
    if (rc == RG_ENOT_FOUND)
      return fail(a, rc, "clusters[%u]: cluster %" PRIu64 " is not in generation %" PRIu64, i,
                  req->clusters[i], gen);
    if (rc) return rc;
    total += c.size;
  }
  xscan_t x = {
      .a = a, .req = req, .pos = {.gen = gen}, .limit = page_size(a, req->limit, DEFAULT_PAGE)};
  if (req->cursor.len && (rc = parse_cursor(a, req, &x.pos))) return rc;
  x.edges.budget = x.limit;
  if (!(x.nodes = malloc((size_t)x.limit * sizeof *x.nodes))) return RG_ENOMEM;
  while (!rc && !x.paused) {
    if (x.pos.ci == req->n_clusters) {
      if (x.pos.phase == 1) break;
      x.pos = (xpos_t){.gen = gen, .phase = 1};
      continue;
    }
    uint64_t cluster = req->clusters[x.pos.ci];
    if (x.pos.phase == 0) {
      rc = rg_store_scan_members(a->t, gen, cluster, x.pos.actor, export_node, &x);
    } else {
      x.resume = x.pos.actor; /* that member's edges resume after (kind, dst) */
      rc = rg_store_scan_members(a->t, gen, cluster, x.resume ? x.resume - 1 : 0,
                                 export_member_edges, &x);
    }
    if (rc == STOP) rc = RG_OK;
    if (!rc && !x.paused) x.pos = (xpos_t){.gen = gen, .ci = x.pos.ci + 1, .phase = x.pos.phase};
  }
  if (!rc) {
    rg_wr_reply(wr, req->has_id, req->id, 6);
    rg_wr_str(wr, "generation"), rg_wr_uint(wr, gen);
    rg_wr_str(wr, "total_nodes"), rg_wr_uint(wr, total);
    rg_wr_str(wr, "cursor");
    if (x.paused) {
      char cur[160];
      snprintf(cur, sizeof cur,
               "%" PRIu64 ".%" PRIu32 ".%" PRIu32 ".%" PRIu64 ".%" PRIu32 ".%" PRIu64 ".%" PRIu64,
               x.pos.gen, x.pos.ci, x.pos.phase, x.pos.actor, x.pos.kind, x.pos.dst,
               clusters_hash(req));
      rg_wr_str(wr, cur);
    } else {
      rg_wr_nil(wr);
    }
    rg_wr_str(wr, "phase"), rg_wr_str(wr, x.pos.phase ? "edges" : "nodes");
    rg_wr_str(wr, "nodes");
    rc = write_nodes(a, x.nodes, x.n_nodes, wr);
    rg_wr_str(wr, "edges");
    if (!rc) rc = write_edges(a, x.edges.v, x.edges.n, wr);
  }
  free(x.nodes);
  free(x.edges.v);
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
    rc = find_actor(a, req->actors[i], &id);
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
      case RG_OP_NEIGHBORS: rc = handle_neighbors(&a, req, wr); break;
      case RG_OP_EXPORT: rc = handle_export(&a, req, wr); break;
      case RG_OP_HISTORY: rc = handle_history(&a, req, wr); break;
      default: rc = RG_EINTERNAL;
    }
  }
  rg_txn_end(t);
  return rc;
}
