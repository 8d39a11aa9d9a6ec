/* analyst_graph.c — the analyst reads that walk edges: an actor's ego network (neighbors)
 * and clusters exported page by page with the edges among their members (export). Loop
 * thread; each page is bounded by limits.max_page_items and limits.max_scan_edges. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyst_internal.h"
#include "repgraph/err.h"
#include "repgraph/grow.h"

#define DEFAULT_NODES 100  /* neighbors */
#define DEFAULT_PAGE  1000 /* export: nodes + edges per page */
#define STOP          RG__ANALYST_STOP

/* ---- neighbors: an actor's ego network ------------------------------------------------- */

/* Edges read into a growable array, at most `budget` of them. */
typedef struct {
  edge_t *v;
  uint32_t n;
  size_t cap;
  uint64_t budget;
  bool truncated;
} edges_t;

static int edges_push(edges_t *l, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                      const rg_edge_rec_t *rec) {
  int rc = rg_grow((void **)&l->v, &l->cap, (size_t)l->n + 1, sizeof *l->v);
  if (rc) return rc;
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

int rg__analyst_neighbors(actx_t *a, const rg_request_t *req, rg_wr_t *wr) {
  uint64_t center;
  if (!req->actor.len) return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "actor: missing");
  if (req->depth > 2) return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "depth: 1 or 2");
  int rc = rg__analyst_find_actor(a, req->actor, &center);
  if (rc) return rc;
  ego_t g = {.a = a, .limit = rg__analyst_page_size(a, req->limit, DEFAULT_NODES)};
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
    rg__analyst_actor_text(a, center, text, sizeof text);
    rg_wr_reply(wr, req->has_id, req->id, 5);
    rg_wr_str(wr, "actor"), rg_wr_str(wr, text);
    rg_wr_str(wr, "generation"), a->gen ? rg_wr_uint(wr, a->gen->generation) : rg_wr_nil(wr);
    rg_wr_str(wr, "truncated"), rg_wr_bool(wr, g.truncated);
    rg_wr_str(wr, "nodes");
    rg_wr_array(wr, g.n);
    for (uint32_t i = 0; i < g.n && !rc; i++)
      rc = rg__analyst_write_node(a, g.ids[i], g.depth[i], wr);
    rg_wr_str(wr, "edges");
    if (!rc) rc = rg__analyst_write_edges(a, edges.v, edges.n, wr);
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
    return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "cursor: not one this export handed out");
  if (f[6] != clusters_hash(req))
    return rg_fail(
        a->msg, a->cap, RG_EBAD_REQUEST,
        "cursor: handed out for another list of clusters; pass the same clusters, in the "
        "same order, as the request that returned it");
  *p = (xpos_t){.gen = f[0],
                .ci = (uint32_t)f[1],
                .phase = (uint32_t)f[2],
                .actor = f[3],
                .kind = (uint32_t)f[4],
                .dst = f[5]};
  if (p->gen != a->gen->generation)
    return rg_fail(a->msg, a->cap, RG_ENOT_FOUND,
                   "cursor: generation %" PRIu64 " is no longer current (now %" PRIu64
                   "): start the export again",
                   p->gen, a->gen->generation);
  return RG_OK;
}

int rg__analyst_export(actx_t *a, const rg_request_t *req, rg_wr_t *wr) {
  int rc = rg__analyst_need_indexes(a);
  if (rc) return rc;
  if (!req->n_clusters)
    return rg_fail(a->msg, a->cap, RG_EBAD_REQUEST, "clusters: give at least one cluster id");
  uint64_t gen = a->gen->generation, total = 0;
  if (req->generation && req->generation != gen)
    return rg_fail(a->msg, a->cap, RG_ENOT_FOUND,
                   "generation %" PRIu64 " is no longer current (now %" PRIu64 ")", req->generation,
                   gen);
  for (uint32_t i = 0; i < req->n_clusters; i++) {
    rg_cluster_t c;
    rc = rg_store_get_cluster(a->t, gen, req->clusters[i], &c);
    if (rc == RG_ENOT_FOUND)
      return rg_fail(a->msg, a->cap, rc,
                     "clusters[%u]: cluster %" PRIu64 " is not in generation %" PRIu64, i,
                     req->clusters[i], gen);
    if (rc) return rc;
    total += c.size;
  }
  xscan_t x = {.a = a,
               .req = req,
               .pos = {.gen = gen},
               .limit = rg__analyst_page_size(a, req->limit, DEFAULT_PAGE)};
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
    rc = rg__analyst_write_nodes(a, x.nodes, x.n_nodes, wr);
    rg_wr_str(wr, "edges");
    if (!rc) rc = rg__analyst_write_edges(a, x.edges.v, x.edges.n, wr);
  }
  free(x.nodes);
  free(x.edges.v);
  return rc;
}
