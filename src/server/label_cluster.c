/* label_cluster.c — one verdict for the members of a cluster of the current generation, with
 * a guard so that an analyst does not label innocents wholesale: labelling `bad` skips the
 * members that carry a good label or score below label.cluster_min_reputation (labelling
 * `good`, the mirror image), unless the request says force. A dry run answers, from a read
 * transaction on the loop thread, the cluster's composition and what a real run would
 * label; the real run is a write of its own (one solo transaction on the writer thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "repgraph/actor.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/grow.h"

/* Who is labelled, decided the same way by the dry run and the write. */
typedef struct {
  uint64_t generation, cluster;
  rg_verdict_t verdict;
  bool force;
  double min_reputation; /* bad: skip members scored below it; good: above 1 minus it */
  int64_t now;
} guard_t;

/* What the guard made of a cluster's members. */
typedef struct {
  uint64_t label;
  rg__guard_skips_t skipped;
  uint64_t by_type[RG_ACTOR_TYPE_MAX + 1];
} tally_t;

typedef struct {
  rg_write_t base;
  guard_t guard;
  rg_label_t label; /* what each member gets; its note included */
  tally_t tally;
} cluster_write_t;

enum { MEMBER_LABEL, MEMBER_SKIP_LABELLED, MEMBER_SKIP_REPUTATION, MEMBER_GONE };

/* Classifies one member (and counts it). Read or write transaction. */
static int member_fate(rg_txn_t *t, const guard_t *g, uint64_t id, tally_t *n, int *fate) {
  rg_actor_rec_t rec;
  rg_label_t l;
  rg_score_t sc;
  int rc = rg_store_get_actor(t, id, g->now, &rec);
  if (rc == RG_ENOT_FOUND) { /* forgotten since the recomputation */
    n->skipped.forgotten++;
    *fate = MEMBER_GONE;
    return RG_OK;
  }
  if (rc) return rc;
  n->by_type[rec.actor.type]++;
  *fate = MEMBER_LABEL;
  if (!g->force) {
    rc = rg_store_get_label(t, id, &l);
    if (rc && rc != RG_ENOT_FOUND) return rc;
    if (!rc && l.verdict != g->verdict) *fate = MEMBER_SKIP_LABELLED;
    rc = *fate == MEMBER_LABEL ? rg_store_get_score(t, g->generation, id, &sc) : RG_ENOT_FOUND;
    if (rc && rc != RG_ENOT_FOUND) return rc;
    if (!rc && (g->verdict == RG_VERDICT_BAD ? sc.reputation < g->min_reputation
                                             : sc.reputation > 1 - g->min_reputation))
      *fate = MEMBER_SKIP_REPUTATION;
  }
  n->label += *fate == MEMBER_LABEL;
  n->skipped.labelled += *fate == MEMBER_SKIP_LABELLED;
  n->skipped.reputation += *fate == MEMBER_SKIP_REPUTATION;
  return RG_OK;
}

/* Member ids into a growable array. */
typedef struct {
  uint64_t *ids;
  uint32_t n;
  size_t cap;
} id_list_t;

static int collect_member(void *ctx, uint64_t actor, double value) {
  id_list_t *l = ctx;
  (void)value;
  int rc = rg_grow((void **)&l->ids, &l->cap, (size_t)l->n + 1, sizeof *l->ids);
  if (!rc) l->ids[l->n++] = actor;
  return rc;
}

/* Checks the request against the current generation and fills the guard: the cluster must
 * exist in the current generation (the one the request names, if it names one) and be no
 * larger than limits.max_label_cluster. 0, or RG_EINVALID_LABEL / RG_ENOT_FOUND /
 * RG_ETOO_LARGE with a message, or a store error. */
static int resolve(rg_engine_t *e, rg_txn_t *t, const rg_request_t *req, guard_t *g,
                   rg_cluster_t *c, char *msg, size_t cap) {
  rg_generation_t cur;
  int rc;
  const rg_generation_t *gen = rg__current_generation(t, &cur, &rc);
  if (rc) return rc;
  if (!gen) return rg_fail(msg, cap, RG_ENOT_FOUND, "no clusters yet: recompute first");
  if (req->generation > gen->generation) /* cluster mode: listed on a replica ahead */
    return rg_fail(msg, cap, RG_ENOT_FOUND,
                   "generation %llu is not served here yet (this replica serves %llu): retry "
                   "shortly",
                   (unsigned long long)req->generation, (unsigned long long)gen->generation);
  if (req->generation && req->generation != gen->generation)
    return rg_fail(msg, cap, RG_ENOT_FOUND,
                   "generation %llu is no longer current (now %llu): list clusters again",
                   (unsigned long long)req->generation, (unsigned long long)gen->generation);
  rc = rg_store_get_cluster(t, gen->generation, req->cluster, c);
  if (rc == RG_ENOT_FOUND)
    return rg_fail(msg, cap, rc, "cluster %llu does not exist in generation %llu",
                   (unsigned long long)req->cluster, (unsigned long long)gen->generation);
  if (rc) return rc;
  if (c->size > e->cfg.max_label_cluster)
    return rg_fail(msg, cap, RG_ETOO_LARGE,
                   "cluster %llu has %llu members, more than limits.max_label_cluster (%u): "
                   "export it and label it with `repgraph label --file` in batches",
                   (unsigned long long)req->cluster, (unsigned long long)c->size,
                   e->cfg.max_label_cluster);
  *g = (guard_t){.generation = gen->generation,
                 .cluster = req->cluster,
                 .force = req->force,
                 .now = rg_clock_now(),
                 .min_reputation = req->min_reputation >= 0 ? req->min_reputation
                                                            : e->cfg.cluster_min_reputation};
  if (rg_verdict_parse(req->label.verdict.ptr, req->label.verdict.len, &g->verdict))
    return rg_fail(msg, cap, RG_EINVALID_LABEL, "verdict: expected bad or good");
  return RG_OK;
}

/* Classifies every member of the guard's cluster; with `label`, labels those it lets
 * through; with `passed`, leaves their ids there (the caller frees ->ids). */
static int run(rg_txn_t *t, const guard_t *g, const rg_label_t *label, tally_t *n,
               id_list_t *passed) {
  id_list_t members = {0};
  int rc = rg_store_scan_members(t, g->generation, g->cluster, 0, collect_member, &members);
  uint32_t kept = 0;
  *n = (tally_t){0};
  for (uint32_t i = 0; i < members.n && !rc; i++) {
    int fate;
    rc = member_fate(t, g, members.ids[i], n, &fate);
    if (!rc && label && fate == MEMBER_LABEL) rc = rg_store_put_label(t, members.ids[i], label);
    if (fate == MEMBER_LABEL) members.ids[kept++] = members.ids[i];
  }
  members.n = kept;
  if (passed && !rc)
    *passed = members;
  else
    free(members.ids);
  return rc;
}

void rg__label_cluster_write_skips(rg_wr_t *wr, const rg__guard_skips_t *s) {
  rg_wr_str(wr, "skipped_labelled"), rg_wr_uint(wr, s->labelled);
  rg_wr_str(wr, "skipped_reputation"), rg_wr_uint(wr, s->reputation);
  rg_wr_str(wr, "forgotten"), rg_wr_uint(wr, s->forgotten);
}

/* ---- the write ------------------------------------------------------------------------ */

/* Writer thread: the generation must still be current (a recomputation may have come
 * between the request and its turn). */
static int apply(rg_txn_t *t, rg_writer_req_t *head) {
  cluster_write_t *w = (cluster_write_t *)head;
  rg_generation_t g;
  int rc = rg_store_get_generation(t, &g);
  if (!rc && g.generation != w->guard.generation)
    return rg_fail(w->base.error, sizeof w->base.error, RG_ENOT_FOUND,
                   "generation %llu is no longer current (now %llu): list clusters again",
                   (unsigned long long)w->guard.generation, (unsigned long long)g.generation);
  return rc ? rc : run(t, &w->guard, &w->label, &w->tally, NULL);
}

static void reply(const rg_write_t *base, rg_wr_t *wr) {
  const cluster_write_t *w = (const cluster_write_t *)base;
  rg_wr_reply(wr, base->has_id, base->id, 6);
  rg_wr_str(wr, "accepted"), rg_wr_uint(wr, w->tally.label);
  rg_wr_str(wr, "rejected_count"), rg_wr_uint(wr, 0);
  rg_wr_str(wr, "rejected"), rg_wr_array(wr, 0);
  rg__label_cluster_write_skips(wr, &w->tally.skipped);
}

static void cluster_write_free(rg_write_t *w) {
  free(w);
}

int rg__label_cluster_prepare(rg_engine_t *e, const rg_request_t *req, rg_write_t **out, char *msg,
                              size_t cap) {
  cluster_write_t *w = calloc(1, sizeof *w);
  if (!w) return RG_ENOMEM;
  w->base = (rg_write_t){.engine = e,
                         .op = req->op,
                         .has_id = req->has_id,
                         .id = req->id,
                         .reply = reply,
                         .free = cluster_write_free};
  w->base.head = (rg_writer_req_t){.apply = apply, .name = "label_cluster", .solo = true};
  rg_txn_t *t;
  rg_cluster_t c;
  int rc = rg__label_parse(e, &req->label, rg_clock_now(), &w->label, msg, cap);
  if (!rc) rc = rg_store_read_begin(e->store, &t);
  if (!rc) {
    rc = resolve(e, t, req, &w->guard, &c, msg, cap);
    rg_store_end(t);
  }
  if (rc) {
    free(w);
    return rc;
  }
  w->label.note_len =
      (uint16_t)(req->label.note.len > RG_LABEL_NOTE_MAX ? RG_LABEL_NOTE_MAX : req->label.note.len);
  if (w->label.note_len) memcpy(w->label.note, req->label.note.ptr, w->label.note_len);
  w->label.note[w->label.note_len] = '\0';
  *out = &w->base;
  return RG_OK;
}

/* ---- the dry run ---------------------------------------------------------------------- */

int rg__label_cluster_preview(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr, char *msg,
                              size_t cap) {
  rg_txn_t *t;
  guard_t g;
  rg_cluster_t c;
  tally_t n;
  int rc = rg__read_begin(e, &t);
  if (rc) return rc;
  rc = resolve(e, t, req, &g, &c, msg, cap);
  if (!rc) rc = run(t, &g, NULL, &n, NULL);
  rg__read_end(e, t);
  if (rc) return rc;
  rg_wr_reply(wr, req->has_id, req->id, 9);
  rg_wr_str(wr, "dry_run"), rg_wr_bool(wr, true);
  rg_wr_str(wr, "generation"), rg_wr_uint(wr, g.generation);
  rg_wr_str(wr, "cluster"), rg_wr_uint(wr, g.cluster);
  rg_wr_str(wr, "by_type");
  rg_wr_map(wr, RG_ACTOR_TYPE_MAX - RG_ACTOR_TYPE_MIN + 1);
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX; ty++)
    rg_wr_str(wr, rg_actor_type_name(ty)), rg_wr_uint(wr, n.by_type[ty]);
  rg_wr_str(wr, "would_label"), rg_wr_uint(wr, n.label);
  rg_wr_str(wr, "min_reputation"), rg_wr_double(wr, g.min_reputation);
  rg__label_cluster_write_skips(wr, &n.skipped);
  return RG_OK;
}

/* ---- cluster mode: the guard at the door ---------------------------------------------- */

/* The members the guard let through, as the body of a plain `label` request: each label
 * complete (verdict, source, weight, time, note) so that every replica applies the same.
 * 0, RG_ETOO_LARGE with a message, or a store / buffer error. */
static int write_labels(rg_txn_t *t, const rg_request_t *req, const rg_label_t *l,
                        const id_list_t *ids, uint32_t max_items, rg_buf_t *body, char *msg,
                        size_t cap) {
  if (ids->n > max_items)
    return rg_fail(msg, cap, RG_ETOO_LARGE,
                   "label_cluster would label %u members, more than limits.max_batch_items "
                   "(%u) in one log entry: export the cluster and label it in batches",
                   ids->n, max_items);
  rg_wr_t wr;
  rg_wr_init(&wr, body);
  rg_wr_map(&wr, 2 + req->has_id);
  rg_wr_str(&wr, "op"), rg_wr_str(&wr, "label");
  if (req->has_id) rg_wr_str(&wr, "id"), rg_wr_uint(&wr, req->id);
  rg_wr_str(&wr, "labels"), rg_wr_array(&wr, ids->n);
  for (uint32_t i = 0; i < ids->n; i++) {
    rg_actor_rec_t rec;
    char text[RG_ACTOR_TEXT_MAX];
    int rc = rg_store_get_actor(t, ids->ids[i], 0, &rec);
    if (!rc && rg_actor_format(&rec.actor, text, sizeof text) < 0) rc = RG_EINTERNAL;
    if (rc) return rc;
    rg_wr_map(&wr, 6);
    rg_wr_str(&wr, "actor"), rg_wr_str(&wr, text);
    rg_wr_str(&wr, "verdict"), rg_wr_str(&wr, rg_verdict_name(l->verdict));
    rg_wr_str(&wr, "source"), rg_wr_str(&wr, rg_label_source_name(l->source));
    rg_wr_str(&wr, "weight"), rg_wr_double(&wr, l->weight);
    rg_wr_str(&wr, "ts"), rg_wr_uint(&wr, (uint64_t)l->ts);
    rg_wr_str(&wr, "note"), rg_wr_strn(&wr, req->label.note.ptr, req->label.note.len);
  }
  if (wr.err == RG_ETOO_LARGE)
    return rg_fail(msg, cap, RG_ETOO_LARGE,
                   "the labels of the %u members label_cluster would label exceed "
                   "limits.max_frame_bytes: export the cluster and label it in batches",
                   ids->n);
  return wr.err;
}

int rg__label_cluster_expand(rg_engine_t *e, const rg_request_t *req,
                             const rg_proto_limits_t *lim, rg_buf_t *body, rg_write_t **out,
                             char *msg, size_t cap) {
  *out = NULL;
  rg_txn_t *t;
  guard_t g;
  rg_cluster_t c;
  tally_t n;
  rg_label_t l;
  id_list_t passed = {0};
  int rc = rg__label_parse(e, &req->label, req->now ? req->now : rg_clock_now(), &l, msg, cap);
  if (!rc) rc = rg__read_begin(e, &t);
  if (rc) return rc;
  rc = resolve(e, t, req, &g, &c, msg, cap);
  if (!rc) rc = run(t, &g, NULL, &n, &passed);
  if (!rc) rc = write_labels(t, req, &l, &passed, lim->max_batch_items, body, msg, cap);
  rg__read_end(e, t);
  free(passed.ids);
  rg_request_t labels = {0};
  if (!rc) rc = rg_proto_decode_request(body->data, body->len, lim, &labels, msg, cap);
  if (!rc) {
    labels.now = req->now;
    rc = rg__ingest_prepare(e, &labels, out, msg, cap);
  }
  if (!rc) rg__ingest_reply_skips(*out, &n.skipped);
  rg_request_free(&labels);
  return rc;
}
