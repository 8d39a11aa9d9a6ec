/* analyst_rows.c — the checks analyst ops start with (a generation, its indexes, an actor
 * that exists) and the rows they answer with: nodes, edges and clusters. Loop thread. */
#include <inttypes.h>
#include <string.h>

#include "analyst_internal.h"
#include "repgraph/err.h"
#include "repgraph/text.h"

#define STOP RG__ANALYST_STOP

uint32_t rg__analyst_page_size(const actx_t *a, uint64_t asked, uint32_t def) {
  uint64_t n = asked ? asked : def;
  return n > a->e->cfg.max_page_items ? a->e->cfg.max_page_items : (uint32_t)n;
}

int rg__analyst_need_generation(actx_t *a) {
  return a->gen
             ? RG_OK
             : rg_fail(a->msg, a->cap, RG_ENOT_FOUND, "no scores yet: run a recomputation first");
}

static int first_cluster(void *ctx, const rg_cluster_t *c) {
  (void)ctx, (void)c;
  return STOP;
}

/* need_generation, and its analyst indexes: a generation published before the store's
 * upgrade to schema 3 has none (they are written by the next recomputation). */
int rg__analyst_need_indexes(actx_t *a) {
  int rc = rg__analyst_need_generation(a);
  if (rc || !a->gen->clusters) return rc;
  rc = rg_store_scan_clusters_by_suspicion(a->t, a->gen->generation, 0, first_cluster, NULL);
  if (rc == RG_OK)
    return rg_fail(a->msg, a->cap, RG_ENOT_FOUND,
                   "generation %" PRIu64
                   " has no analyst indexes (computed before the store "
                   "upgrade): recompute to build analyst indexes",
                   a->gen->generation);
  return rc == STOP ? RG_OK : rc;
}

bool rg__analyst_str_is(rg_str_t s, const char *text) {
  return s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

/* Resolves a wire actor to its id. RG_EINVALID_ACTOR / RG_ENOT_FOUND with a message. */
int rg__analyst_find_actor(actx_t *a, rg_str_t s, uint64_t *id) {
  rg_actor_t actor;
  int rc = rg__actor_from_wire(a->e, s, true, 0, "actor", &actor, a->msg, a->cap);
  if (rc) return rc;
  rc = rg_store_find_actor(a->t, &actor, id);
  if (rc == RG_ENOT_FOUND) {
    char quoted[128];
    return rg_fail(a->msg, a->cap, rc, "actor: %s is not in the store",
                   rg_text_escape(quoted, sizeof quoted, s.ptr, s.len));
  }
  return rc;
}

/* The actor's "type:identifier" text into buf; RG_ENOT_FOUND if it was forgotten. */
int rg__analyst_actor_text(actx_t *a, uint64_t id, char *buf, size_t cap) {
  rg_actor_rec_t r;
  int rc = rg_store_get_actor(a->t, id, a->now, &r);
  if (!rc) rg_actor_format(&r.actor, buf, cap);
  return rc;
}

/* Drops ids of actors forgotten since the recomputation (so arrays can be sized first). */
int rg__analyst_keep_existing(actx_t *a, uint64_t *ids, uint32_t *n) {
  uint32_t k = 0;
  char text[RG_ACTOR_TEXT_MAX];
  for (uint32_t i = 0; i < *n; i++) {
    int rc = rg__analyst_actor_text(a, ids[i], text, sizeof text);
    if (rc == RG_OK)
      ids[k++] = ids[i];
    else if (rc != RG_ENOT_FOUND)
      return rc;
  }
  *n = k;
  return RG_OK;
}

/* ---- rows ------------------------------------------------------------------------------ */

#define NODE_FIELDS 13

/* Writes an existing actor as a node: identity, activity, latest label and its scores in
 * the current generation (nil before one); `depth` >= 0 adds that field (neighbors). */
int rg__analyst_write_node(actx_t *a, uint64_t id, int depth, rg_wr_t *wr) {
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
  rg_wr_str(wr, "reasons"); /* the learned model's (or the propagation's) reasons, as lookup */
  src ? rg_wr_nil(wr) : rg__write_reasons(a->t, &sc, a->now, wr);
  if (depth >= 0) rg_wr_str(wr, "depth"), rg_wr_uint(wr, (uint64_t)depth);
  return RG_OK;
}

int rg__analyst_write_nodes(actx_t *a, uint64_t *ids, uint32_t n, rg_wr_t *wr) {
  int rc = rg__analyst_keep_existing(a, ids, &n);
  if (rc) return rc;
  rg_wr_array(wr, n);
  for (uint32_t i = 0; i < n && !rc; i++) rc = rg__analyst_write_node(a, ids[i], -1, wr);
  return rc;
}

/* Writes edges whose two ends still exist. */
int rg__analyst_write_edges(actx_t *a, edge_t *v, uint32_t n, rg_wr_t *wr) {
  char s[RG_ACTOR_TEXT_MAX], d[RG_ACTOR_TEXT_MAX];
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    int rc = rg__analyst_actor_text(a, v[i].src, s, sizeof s);
    if (!rc) rc = rg__analyst_actor_text(a, v[i].dst, d, sizeof d);
    if (rc == RG_OK)
      v[k++] = v[i];
    else if (rc != RG_ENOT_FOUND)
      return rc;
  }
  rg_wr_array(wr, k);
  for (uint32_t i = 0; i < k; i++) {
    rg__analyst_actor_text(a, v[i].src, s, sizeof s);
    rg__analyst_actor_text(a, v[i].dst, d, sizeof d);
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

int rg__analyst_write_cluster(actx_t *a, const rg_cluster_t *c, rg_wr_t *wr) {
  uint64_t top[RG_CLUSTER_TOP_MAX];
  uint32_t n = c->n_top;
  memcpy(top, c->top, n * sizeof top[0]);
  int rc = rg__analyst_keep_existing(a, top, &n);
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
    rg__analyst_actor_text(a, top[i], text, sizeof text);
    rc = rg_store_get_score(a->t, a->gen->generation, top[i], &sc);
    if (rc) return rc;
    rg_wr_map(wr, 2);
    rg_wr_str(wr, "actor"), rg_wr_str(wr, text);
    rg_wr_str(wr, "reputation"), rg_wr_double(wr, sc.reputation);
  }
  return rc;
}
