/* check.c — a filter's question about one message (sender, client IP, HELO, recipients):
 * the verdict, the score behind it and every actor's scores. Loop thread. */
#include <stdio.h>

#include "engine_internal.h"
#include "repgraph/actor.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"

enum { ROLE_SENDER, ROLE_SENDER_DOMAIN, ROLE_CLIENT_IP, ROLE_CLIENT_NET, ROLE_HELO, N_ROLES };
static const char *const role_names[N_ROLES] = {"sender", "sender_domain", "client_ip",
                                                "client_net", "helo"};

typedef struct {
  bool present, known, scored, evidence;
  rg_actor_t actor;
  uint64_t id;
  rg_actor_rec_t rec;
  rg_score_t score;
} role_t;

static const char *verdict_for(const rg_config_t *c, double score) {
  if (score >= c->check_reject) return "reject";
  if (score >= c->check_quarantine) return "quarantine";
  if (score >= c->check_tempfail) return "tempfail";
  return "accept";
}

int rg__check_handle(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr, char *msg,
                     size_t msglen) {
  const rg_wire_observation_t *o = &req->check;
  role_t roles[N_ROLES] = {{0}};
  if (rg__actor_from_wire(e, o->sender, false, RG_ACTOR_ADDRESS, "sender", &roles[ROLE_SENDER].actor,
                          msg, msglen) ||
      rg__actor_from_wire(e, o->client_ip, false, RG_ACTOR_IP, "client_ip",
                          &roles[ROLE_CLIENT_IP].actor, msg, msglen))
    return RG_EINVALID_ACTOR;
  for (uint32_t j = 0; j < o->n_recipients; j++) {
    rg_actor_t rcpt;
    if (rg__actor_from_wire(e, o->recipients[j], false, RG_ACTOR_ADDRESS, "recipients", &rcpt, msg,
                            msglen))
      return RG_EINVALID_ACTOR;
  }
  roles[ROLE_SENDER].present = roles[ROLE_CLIENT_IP].present = true;
  roles[ROLE_SENDER_DOMAIN].present =
      rg_actor_domain_of(&roles[ROLE_SENDER].actor, &roles[ROLE_SENDER_DOMAIN].actor) == RG_OK;
  roles[ROLE_CLIENT_NET].present =
      rg_actor_net_of(&roles[ROLE_CLIENT_IP].actor, e->cfg.net_prefix_v4, e->cfg.net_prefix_v6,
                      &roles[ROLE_CLIENT_NET].actor) == RG_OK;
  roles[ROLE_HELO].present =
      o->helo.len &&
      rg_actor_normalize_helo(o->helo.ptr, o->helo.len, &roles[ROLE_HELO].actor, NULL) == RG_OK;

  rg_txn_t *t;
  rg_generation_t g;
  int rc = rg__read_begin(e, &t);
  if (rc) return rc;
  const rg_generation_t *gen = rg__current_generation(t, &g, &rc);
  int64_t now = rg__item_ts(e, o->ts, rg_clock_now()); /* the message's time when given */
  /* The message's score: the worst actor with enough evidence; none → the prior. */
  double combined = e->cfg.prior;
  int decided_by = -1;
  uint32_t n_present = 0;
  for (int i = 0; i < N_ROLES && !rc; i++) {
    role_t *r = &roles[i];
    if (!r->present) continue;
    n_present++;
    rc = rg_store_find_actor(t, &r->actor, &r->id);
    if (rc == RG_OK) rc = rg_store_get_actor(t, r->id, now, &r->rec);
    r->known = rc == RG_OK;
    if (rc == RG_ENOT_FOUND) rc = RG_OK;
    if (rc || !r->known) continue;
    rc = rg__read_score(t, gen, true, r->id, &r->score);
    r->scored = rc == RG_OK;
    if (rc == RG_ENOT_FOUND) rc = RG_OK;
    r->evidence = r->rec.messages >= e->cfg.min_messages &&
                  now - r->rec.first_seen >= (int64_t)e->cfg.min_age_s;
    if (r->scored && r->evidence && (decided_by < 0 || r->score.reputation > combined)) {
      combined = r->score.reputation;
      decided_by = i;
    }
  }
  if (!rc) {
    rg_wr_reply(wr, req->has_id, req->id, 6);
    rg_wr_str(wr, "verdict"), rg_wr_str(wr, verdict_for(&e->cfg, combined));
    rg_wr_str(wr, "score"), rg_wr_double(wr, combined);
    rg_wr_str(wr, "known"), rg_wr_bool(wr, decided_by >= 0);
    rg_wr_str(wr, "decided_by"),
        decided_by >= 0 ? rg_wr_str(wr, role_names[decided_by]) : rg_wr_nil(wr);
    rg_wr_str(wr, "generation"), gen ? rg_wr_uint(wr, gen->generation) : rg_wr_nil(wr);
    rg_wr_str(wr, "actors");
    rg_wr_array(wr, n_present);
    for (int i = 0; i < N_ROLES && !rc; i++) {
      role_t *r = &roles[i];
      if (!r->present) continue;
      char text[RG_ACTOR_TEXT_MAX];
      rg_actor_format(&r->actor, text, sizeof text);
      rg_wr_map(wr, 5 + RG__SCORE_FIELDS);
      rg_wr_str(wr, "role"), rg_wr_str(wr, role_names[i]);
      rg_wr_str(wr, "actor"), rg_wr_str(wr, text);
      rg_wr_str(wr, "known"), rg_wr_bool(wr, r->known);
      rg_wr_str(wr, "messages"), r->known ? rg_wr_uint(wr, r->rec.messages) : rg_wr_nil(wr);
      rg_wr_str(wr, "enough_evidence"), rg_wr_bool(wr, r->evidence);
      rc = rg__write_score_fields(t, gen, r->known, r->id, now, wr);
    }
  }
  rg__read_end(e, t);
  return rc;
}
