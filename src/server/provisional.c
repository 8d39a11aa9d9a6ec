/* provisional.c — a score for an actor first seen after the current generation, so that a
 * brand-new sender from a known-bad net is not "unknown, neutral" until the next
 * recomputation. It is read, on the loop thread, from the actor's live neighbours that the
 * generation did score:
 *  - an address: the IPs it sent from (an IP the generation has not seen: its net) and its
 *    domain;
 *  - an IP: its net, its HELO and reverse DNS names;
 *  - a domain or a net: the senders (IPs for a net) using it.
 * A neighbour speaks by what it carries: shared infrastructure (check.shared_users senders or
 * more) by the share of its senders that score bad, pulled to the prior by a pseudo-count, so
 * a freemail domain with a few spammers among thousands says little; anything else by its
 * reputation. Only neighbours with enough evidence of their own count (a neighbour that is
 * neutral for lack of evidence says nothing). The provisional reputation is the worst of
 * them, and the one that gave it is the reason. At most PROVISIONAL_SCAN edges are read. */
#include "engine_internal.h"
#include "repgraph/err.h"
#include "repgraph/score.h"

#define PROVISIONAL_SCAN   64   /* edges read per actor (and per IP for its net) */
#define COMPOSITION_PSEUDO 10.0 /* pseudo-count of a shared neighbour's senders at the prior */

typedef struct {
  const rg_engine_t *e;
  rg_txn_t *t;
  const rg_generation_t *gen;
  int64_t now;
  uint32_t seen;
  bool worst_found;
  double worst;
  uint64_t worst_id;
  int rc; /* a store error met while visiting */
} walk_t;

static bool little_evidence(const rg_score_t *s) {
  for (unsigned i = 0; i < s->n_reasons; i++)
    if (s->reasons[i].code == RG_REASON_LITTLE_EVIDENCE) return true;
  return false;
}

/* What a scored neighbour says about the actors next to it, or < 0 for nothing. */
static double neighbour_says(const rg_engine_t *e, const rg_score_t *s) {
  if (little_evidence(s)) return -1;
  if (s->users >= e->cfg.check_shared_users)
    return ((double)s->bad_users + e->cfg.prior * COMPOSITION_PSEUDO) /
           ((double)s->users + COMPOSITION_PSEUDO);
  return s->reputation;
}

static void consider(walk_t *w, uint64_t id, double says) {
  if (says < 0 || (w->worst_found && says <= w->worst)) return;
  w->worst_found = true;
  w->worst = says;
  w->worst_id = id;
}

static int visit_net_of(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                        const rg_edge_rec_t *rec);

/* One live neighbour: its score in the generation, or for an unscored IP its net's. */
static void visit(walk_t *w, uint64_t id, bool ip_hop) {
  rg_score_t s;
  int rc = rg_store_get_score(w->t, w->gen->generation, id, &s);
  if (rc == RG_OK) {
    consider(w, id, neighbour_says(w->e, &s));
  } else if (rc == RG_ENOT_FOUND && ip_hop) {
    rc = rg_store_scan_out(w->t, id, w->now, visit_net_of, w);
    if (rc > 0) rc = RG_OK; /* the visitor's stop */
  }
  if (rc && rc != RG_ENOT_FOUND && !w->rc) w->rc = rc;
}

static int visit_net_of(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                        const rg_edge_rec_t *rec) {
  walk_t *w = ctx;
  (void)src, (void)rec;
  if (kind != RG_EDGE_IN_NET) return RG_OK;
  visit(w, dst, false);
  return 1; /* an IP has one net */
}

static int visit_out(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                     const rg_edge_rec_t *rec) {
  walk_t *w = ctx;
  (void)src, (void)rec;
  if (kind == RG_EDGE_MAILED) return RG_OK; /* recipients say nothing of their sender */
  visit(w, dst, kind == RG_EDGE_SENT_FROM);
  return ++w->seen >= PROVISIONAL_SCAN || w->rc ? 1 : RG_OK;
}

static int visit_in(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                    const rg_edge_rec_t *rec) {
  walk_t *w = ctx;
  (void)dst, (void)rec;
  if (kind != RG_EDGE_USES_DOMAIN && kind != RG_EDGE_IN_NET) return RG_OK;
  visit(w, src, false);
  return ++w->seen >= PROVISIONAL_SCAN || w->rc ? 1 : RG_OK;
}

int rg__provisional_score(const rg_engine_t *e, rg_txn_t *t, const rg_generation_t *gen,
                          uint64_t id, const rg_actor_rec_t *rec, int64_t now, rg_score_t *out) {
  if (!gen) return RG_ENOT_FOUND;
  walk_t w = {.e = e, .t = t, .gen = gen, .now = now};
  bool infrastructure = rec->actor.type == RG_ACTOR_DOMAIN || rec->actor.type == RG_ACTOR_NET;
  int rc = infrastructure ? rg_store_scan_in(t, id, now, visit_in, &w)
                          : rg_store_scan_out(t, id, now, visit_out, &w);
  if (rc > 0) rc = RG_OK;
  if (!rc) rc = w.rc;
  if (rc) return rc;
  if (!w.worst_found) return RG_ENOT_FOUND;
  const rg_config_t *c = &e->cfg;
  *out = (rg_score_t){.reputation = w.worst, .n_reasons = 1};
  /* The evidence is the neighbour's (it had enough): the band follows the reputation. */
  out->band = rg_score_band(w.worst, UINT64_MAX, INT64_MAX, 0, 0, c->band_bad, c->band_suspicious,
                            c->band_good);
  out->reasons[0] = (rg_reason_t){.code = RG_REASON_PROVISIONAL,
                                  .value = w.worst,
                                  .aux = w.worst_id};
  return RG_OK;
}
