/* check.c — a filter's question about one message (sender, client IP, HELO, recipients, ts):
 * its verdict, the score behind it, why in words an SMTP reply may carry, and every actor's
 * scores. Loop thread.
 *
 * The score weighs each actor by how specific its evidence is:
 *  1. an allowlist label (source allowlist, verdict good) on the sender, its domain, the IP
 *     or the net accepts at once; a label on the sender decides; a bad label on the IP, net
 *     or HELO name counts whatever else is known;
 *  2. the sender's own history comes first: with enough evidence (score.min_messages,
 *     score.min_age) its reputation; raised — when its domain is shared (a freemail
 *     provider, a large organisation: accounts there are cheap or can be stolen), and
 *     whatever the sender's age — by how much of its fan-out no one engages with
 *     (recipients who never wrote back and were mailed once: the disposable account's
 *     signature) and by a burst of new recipients against its own rate; lowered to the
 *     neutral prior when this message goes to its usual audience (recipients it mailed
 *     before, or who wrote to it), unless its reputation alone is at the reject level;
 *  3. infrastructure speaks by what it carries, not by its own reputation: an IP, net or
 *     domain used by many senders (check.shared_users) counts as the share of its senders
 *     that score bad (a posterior, so a few do not convict it): a freemail domain or a
 *     provider's outbound IP with a few spammers among thousands of users is *mixed* and
 *     says little, a snowshoe IP used by spammers only says a lot. For a sender without its
 *     own evidence, infrastructure used by few senders counts by its reputation;
 *  4. nothing known: the prior.
 * The verdict is the highest level whose threshold the score reaches: the generation's
 * thresholds where it derived them from held-out labels, else check.tempfail / quarantine /
 * reject. In check.mode = observe every answer is accept and the verdict it would have been
 * is reported and counted. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "repgraph/actor.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/score.h"

#define RCPT_CHECKED_MAX   50   /* recipients looked up for the message's familiarity */
#define FAMILIAR_SHARE     0.5  /* at least this share familiar: the sender's usual audience */
#define UNENGAGED_MIN      10   /* recipients before unengaged fan-out counts */
#define UNENGAGED_PSEUDO   5.0  /* pseudo-count: few recipients say little */
#define COMPOSITION_PSEUDO 10.0 /* pseudo-count of a shared actor's senders at the prior */
#define MIXED_GOOD_SHARE   0.2  /* a shared actor with this share of good senders ... */
#define MIXED_BAD_SHARE    0.02 /* ... and this share of bad ones is mixed */
#define ENGAGED_DISCOUNT   0.5  /* each engaged recipient: unengaged evidence times e^-0.5 */
#define BURST_WINDOW_S     (6 * 3600) /* new recipients counted over the last 6 hours ... */
#define BURST_MIN          10         /* ... at least this many ... */
#define BURST_RATE         10.0       /* ... and this many times the sender's usual rate */
#define BURST_SCAN_MAX     500        /* senders with more recipients are not scanned */
#define BURST_SCORE        0.8        /* what a burst says: quarantine-level unless more is known */

enum {
  ROLE_SENDER,
  ROLE_SENDER_DOMAIN,
  ROLE_CLIENT_IP,
  ROLE_CLIENT_NET,
  ROLE_HELO,
  ROLE_CLIENT_RDNS,
  N_ROLES
};
_Static_assert(N_ROLES + 1 == RG_CHECK_DECIDERS, "a counter per role, and none");
static const char *const *const role_names = rg_check_decider_names; /* the same order */
static const char *const verdict_names[] = {"accept", "tempfail", "quarantine", "reject"};

typedef struct {
  bool present, known, scored, evidence, labelled, shared, mixed;
  rg_actor_t actor;
  uint64_t id;
  rg_actor_rec_t rec;
  rg_score_t score;
  rg_label_t label;
} role_t;

/* What the roles say about the message. */
typedef struct {
  double score;
  int decided_by; /* a role, or -1 */
  int verdict;    /* 0 accept .. 3 reject, before check.mode */
  bool allowlisted;
  double familiar; /* share of the checked recipients the sender knows; < 0 none checked */
  char why[160];   /* words for an SMTP reply: the deciding role and its evidence, no ids */
  uint32_t burst_new, burst_before; /* recipients first mailed in the window / before it */
} decision_t;

/* The senders using a shared actor, as the probability that one of them is bad. */
static double composition(const rg_score_t *s, double prior) {
  return ((double)s->bad_users + prior * COMPOSITION_PSEUDO) /
         ((double)s->users + COMPOSITION_PSEUDO);
}

/* The kind of edge by which senders use an infrastructure role, and the users it has. */
static uint32_t users_of(const role_t *r, int role) {
  static const rg_edge_kind_t via[N_ROLES] = {[ROLE_SENDER_DOMAIN] = RG_EDGE_USES_DOMAIN,
                                              [ROLE_CLIENT_IP] = RG_EDGE_SENT_FROM,
                                              [ROLE_CLIENT_NET] = RG_EDGE_IN_NET,
                                              [ROLE_HELO] = RG_EDGE_HELO,
                                              [ROLE_CLIENT_RDNS] = RG_EDGE_RDNS};
  uint32_t live = r->known && role != ROLE_SENDER ? r->rec.in_degree[via[role]] : 0;
  return r->scored && r->score.users > live ? r->score.users : live;
}

/* Share of the message's first recipients (already normalised, at most RCPT_CHECKED_MAX) the
 * sender mailed before `now`, or that wrote to it: -1 when there are none. */
static int familiarity(rg_txn_t *t, const role_t *sender, const rg_actor_t *rcpts, uint32_t n,
                       int64_t now, double *out) {
  *out = -1;
  if (!sender->known || !n) return RG_OK;
  uint32_t familiar = 0;
  for (uint32_t j = 0; j < n; j++) {
    uint64_t id;
    int rc = rg_store_find_actor(t, &rcpts[j], &id);
    if (rc == RG_ENOT_FOUND) continue;
    if (rc) return rc;
    rg_edge_rec_t er;
    rc = rg_store_get_edge(t, sender->id, RG_EDGE_MAILED, id, now, &er);
    bool knows = rc == RG_OK && er.first_seen < now;
    if (rc && rc != RG_ENOT_FOUND) return rc;
    if (!knows) {
      rc = rg_store_get_edge(t, id, RG_EDGE_MAILED, sender->id, now, &er);
      knows = rc == RG_OK;
      if (rc && rc != RG_ENOT_FOUND) return rc;
    }
    familiar += knows;
  }
  *out = (double)familiar / n;
  return RG_OK;
}

typedef struct {
  int64_t since, now;
  uint32_t fresh, before, seen;
} burst_scan_t;

static int count_fresh(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                       const rg_edge_rec_t *rec) {
  burst_scan_t *b = ctx;
  (void)src, (void)dst;
  if (kind != RG_EDGE_MAILED || rec->first_seen > b->now) return RG_OK; /* a replay's future */
  if (rec->first_seen >= b->since)
    b->fresh += rec->count == 1;
  else
    b->before++;
  return ++b->seen >= BURST_SCAN_MAX ? 1 : RG_OK;
}

/* How many recipients the sender first mailed in the BURST_WINDOW_S before `now` (once, so
 * far) and before that: a stolen account's burst to strangers stands out against its own
 * history. Senders with more than BURST_SCAN_MAX recipients are not scanned. */
static int burst(rg_txn_t *t, const role_t *sender, int64_t now, decision_t *d) {
  if (!sender->known || sender->rec.out_degree[RG_EDGE_MAILED] > BURST_SCAN_MAX) return RG_OK;
  burst_scan_t b = {.since = now - BURST_WINDOW_S, .now = now};
  int rc = rg_store_scan_out(t, sender->id, now, count_fresh, &b);
  if (rc < 0) return rc;
  d->burst_new = b.fresh;
  d->burst_before = b.before;
  return RG_OK;
}

/* Raises d->score to p, recording who said it and why. */
static void consider(decision_t *d, double p, int role, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void consider(decision_t *d, double p, int role, const char *fmt, ...) {
  if (d->decided_by >= 0 && p <= d->score) return;
  d->score = p;
  d->decided_by = role;
  int n = snprintf(d->why, sizeof d->why, "%s: ", role_names[role]);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->why + n, sizeof d->why - (size_t)n, fmt, ap);
  va_end(ap);
}

/* An actor's reputation in words: the number, and its first reason that names no other actor
 * (an SMTP reply must not disclose who else is bad) that says why (an unserved model score
 * does not). Returns buf. */
static const char *reputation_words(const rg_score_t *s, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "reputation %.2f", s->reputation);
  for (unsigned i = 0; i < s->n_reasons && n > 0 && (size_t)n < cap; i++) {
    if (s->reasons[i].code == RG_REASON_BAD_NEIGHBOUR || s->reasons[i].code == RG_REASON_PROVISIONAL ||
        s->reasons[i].code == RG_REASON_EXTRAPOLATED)
      continue;
    char text[128];
    snprintf(buf + n, cap - (size_t)n, " (%s)", rg_reason_text(&s->reasons[i], NULL, text, sizeof text));
    break;
  }
  return buf;
}

static bool allowlisted(const role_t *r) {
  return r->labelled && r->label.source == RG_SOURCE_ALLOWLIST &&
         r->label.verdict == RG_VERDICT_GOOD;
}

/* The thresholds of tempfail, quarantine and reject: the generation's where it derived them
 * from held-out labels (rg_thresholds_effective keeps them monotone), but never below the
 * config's: the rates are estimated on senders' reputations, and the message score also
 * holds the prior (unknown senders) and infrastructure, so a derived threshold may only make
 * a level stricter to stay within its budget. Lowering check.* is the operator's choice. */
static void thresholds(const rg_engine_t *e, const rg_generation_t *gen,
                       double at[RG_VERDICT_LEVELS]) {
  const double fixed[RG_VERDICT_LEVELS] = {e->cfg.check_tempfail, e->cfg.check_quarantine,
                                           e->cfg.check_reject};
  rg_thresholds_effective(gen ? &gen->thresholds : NULL, fixed, at);
  for (int l = 0; l < RG_VERDICT_LEVELS; l++)
    if (at[l] < fixed[l]) at[l] = fixed[l];
}

/* Weighs the roles into d (see the file comment). */
static void decide(const rg_engine_t *e, const rg_generation_t *gen, role_t *roles, decision_t *d) {
  double prior = e->cfg.prior, at[RG_VERDICT_LEVELS];
  thresholds(e, gen, at);
  *d = (decision_t){.score = prior,
                    .decided_by = -1,
                    .familiar = d->familiar,
                    .burst_new = d->burst_new,
                    .burst_before = d->burst_before};
  for (int i = ROLE_SENDER; i <= ROLE_CLIENT_NET; i++)
    if (allowlisted(&roles[i])) {
      d->allowlisted = true;
      d->score = 0;
      d->decided_by = i;
      snprintf(d->why, sizeof d->why, "%s: allowlisted", role_names[i]);
      return;
    }
  role_t *s = &roles[ROLE_SENDER];
  bool own = false;
  if (s->labelled) {
    own = true;
    consider(d, s->label.verdict == RG_VERDICT_BAD ? 1.0 : 0.0, ROLE_SENDER, "labelled %s",
             rg_verdict_name(s->label.verdict));
  } else {
    /* Behaviour carries its own evidence (at least UNENGAGED_MIN / BURST_MIN recipients), so
     * it counts for a young sender too; the reputation needs score.min_messages/min_age. */
    own = s->scored && s->evidence;
    char words[128];
    if (own)
      consider(d, s->score.reputation, ROLE_SENDER, "%s",
               reputation_words(&s->score, words, sizeof words));
    uint32_t fanout = s->known ? s->rec.out_degree[RG_EDGE_MAILED] : 0;
    uint32_t engaged = s->score.engaged < fanout ? s->score.engaged : fanout;
    bool shared_domain = roles[ROLE_SENDER_DOMAIN].shared;
    if (s->scored && shared_domain && fanout >= UNENGAGED_MIN)
      consider(
          d, (fanout - engaged) / (fanout + UNENGAGED_PSEUDO) * exp(-ENGAGED_DISCOUNT * engaged),
          ROLE_SENDER, "%u of its %u recipients never engaged with it", fanout - engaged, fanout);
    int64_t age = s->rec.last_seen - s->rec.first_seen;
    double usual = (double)d->burst_before * BURST_WINDOW_S / (double)(age > 86400 ? age : 86400);
    if (shared_domain && d->burst_new >= BURST_MIN &&
        d->burst_new >= BURST_RATE * (usual > 1 ? usual : 1))
      consider(d, BURST_SCORE, ROLE_SENDER,
               "mailed %u new recipients in 6 hours, %.0f times its usual rate", d->burst_new,
               d->burst_new / (usual > 1 ? usual : 1));
    /* An established audience (this message's recipients, or most of the sender's) makes a
     * middling reputation neutral: subscribers mailed issue after issue, correspondents. */
    bool audience = d->familiar >= FAMILIAR_SHARE ||
                    (fanout >= UNENGAGED_MIN && engaged >= FAMILIAR_SHARE * fanout);
    if (own && audience && d->score < at[RG_VERDICT_REJECT] && d->score > prior) {
      d->score = prior;
      snprintf(d->why, sizeof d->why, "sender: writes to its usual audience");
    }
    own = own || d->decided_by == ROLE_SENDER;
  }
  for (int i = ROLE_SENDER_DOMAIN; i < N_ROLES; i++) {
    role_t *r = &roles[i];
    if (r->labelled && r->label.verdict == RG_VERDICT_BAD) consider(d, 1.0, i, "labelled bad");
    if (!r->scored || !r->evidence || r->labelled) continue;
    if (r->shared)
      consider(d, composition(&r->score, prior), i, "%u of its %u senders score bad",
               r->score.bad_users, r->score.users);
    else if (!own) {
      char words[128];
      consider(d, r->score.reputation, i, "%s", reputation_words(&r->score, words, sizeof words));
    }
  }
  if (s->labelled && s->label.verdict == RG_VERDICT_GOOD) { /* the sender's label wins */
    d->score = 0;
    d->decided_by = ROLE_SENDER;
    snprintf(d->why, sizeof d->why, "sender: labelled good");
  }
  d->verdict = 0;
  for (int level = 0; level < RG_VERDICT_LEVELS; level++)
    if (d->score >= at[level]) d->verdict = level + 1;
}

/* Finds each present role's record, label and score (and whether it is shared or mixed). */
static int read_roles(rg_engine_t *e, rg_txn_t *t, const rg_generation_t *gen, int64_t now,
                      role_t *roles) {
  int rc = RG_OK;
  for (int i = 0; i < N_ROLES && !rc; i++) {
    role_t *r = &roles[i];
    if (!r->present) continue;
    rc = rg_store_find_actor(t, &r->actor, &r->id);
    if (rc == RG_OK) rc = rg_store_get_actor(t, r->id, now, &r->rec);
    r->known = rc == RG_OK;
    if (rc == RG_ENOT_FOUND) rc = RG_OK;
    if (rc || !r->known) continue;
    rc = rg_store_get_label(t, r->id, &r->label);
    r->labelled = rc == RG_OK;
    if (rc == RG_ENOT_FOUND) rc = RG_OK;
    if (!rc) rc = rg__read_score(t, gen, true, r->id, &r->score);
    r->scored = rc == RG_OK;
    if (rc == RG_ENOT_FOUND) rc = RG_OK;
    r->evidence = r->rec.messages >= e->cfg.min_messages &&
                  now - r->rec.first_seen >= (int64_t)e->cfg.min_age_s;
    uint32_t users = users_of(r, i);
    r->shared = i != ROLE_SENDER && users >= e->cfg.check_shared_users;
    r->mixed = r->shared && r->scored && r->score.users &&
               r->score.good_users >= MIXED_GOOD_SHARE * r->score.users &&
               r->score.bad_users >= MIXED_BAD_SHARE * r->score.users;
  }
  return rc;
}

static void count(rg_engine_t *e, const decision_t *d) {
  rg_metrics_t *m = &e->metrics;
  atomic_fetch_add(&m->check_verdicts[d->verdict], 1);
  atomic_fetch_add(&m->check_decided_by[d->decided_by < 0 ? N_ROLES : d->decided_by], 1);
  if (d->allowlisted) atomic_fetch_add(&m->check_allowlisted, 1);
}

static void write_actor(const rg_engine_t *e, rg_txn_t *t, const rg_generation_t *gen, int64_t now, int i,
                        const role_t *r, rg_wr_t *wr, int *rc) {
  char text[RG_ACTOR_TEXT_MAX];
  rg_actor_format(&r->actor, text, sizeof text);
  rg_wr_map(wr, 10 + RG__SCORE_FIELDS);
  rg_wr_str(wr, "role"), rg_wr_str(wr, role_names[i]);
  rg_wr_str(wr, "actor"), rg_wr_str(wr, text);
  rg_wr_str(wr, "known"), rg_wr_bool(wr, r->known);
  rg_wr_str(wr, "messages"), r->known ? rg_wr_uint(wr, r->rec.messages) : rg_wr_nil(wr);
  rg_wr_str(wr, "submissions"), r->known ? rg_wr_uint(wr, r->rec.submissions) : rg_wr_nil(wr);
  rg_wr_str(wr, "enough_evidence"), rg_wr_bool(wr, r->evidence);
  rg_wr_str(wr, "users"), r->scored ? rg_wr_uint(wr, r->score.users) : rg_wr_nil(wr);
  rg_wr_str(wr, "bad_users"), r->scored ? rg_wr_uint(wr, r->score.bad_users) : rg_wr_nil(wr);
  rg_wr_str(wr, "engaged"), r->scored ? rg_wr_uint(wr, r->score.engaged) : rg_wr_nil(wr);
  rg_wr_str(wr, "mixed"), rg_wr_bool(wr, r->mixed);
  *rc = rg__write_score_fields(e, t, gen, r->known ? &r->rec : NULL, r->id, now, wr);
}

/* A message's roles parsed from the wire, and what they say once weighed. */
typedef struct {
  role_t roles[N_ROLES];
  rg_actor_t rcpts[RCPT_CHECKED_MAX]; /* the first recipients, kept for familiarity */
  uint32_t n_rcpts;
  rg_generation_t g;
  const rg_generation_t *gen; /* &g, or NULL before the first recomputation */
  int64_t now;
  decision_t d;
} assessment_t;

/* Parses the message's actors into a (sender and client IP required; recipients must be
 * addresses; an invalid HELO or rdns name is left out). 0 or RG_EINVALID_ACTOR with msg. */
static int parse_roles(rg_engine_t *e, const rg_wire_observation_t *o, assessment_t *a, char *msg,
                       size_t msglen) {
  role_t *roles = a->roles;
  if (rg__actor_from_wire(e, o->sender, false, RG_ACTOR_ADDRESS, "sender",
                          &roles[ROLE_SENDER].actor, msg, msglen) ||
      rg__actor_from_wire(e, o->client_ip, false, RG_ACTOR_IP, "client_ip",
                          &roles[ROLE_CLIENT_IP].actor, msg, msglen))
    return RG_EINVALID_ACTOR;
  rg_actor_t spare;
  a->n_rcpts = o->n_recipients < RCPT_CHECKED_MAX ? o->n_recipients : RCPT_CHECKED_MAX;
  for (uint32_t j = 0; j < o->n_recipients; j++)
    if (rg__actor_from_wire(e, o->recipients[j], false, RG_ACTOR_ADDRESS, "recipients",
                            j < a->n_rcpts ? &a->rcpts[j] : &spare, msg, msglen))
      return RG_EINVALID_ACTOR;
  roles[ROLE_SENDER].present = roles[ROLE_CLIENT_IP].present = true;
  roles[ROLE_SENDER_DOMAIN].present =
      rg_actor_domain_of(&roles[ROLE_SENDER].actor, &roles[ROLE_SENDER_DOMAIN].actor) == RG_OK;
  roles[ROLE_CLIENT_NET].present =
      rg_actor_net_of(&roles[ROLE_CLIENT_IP].actor, e->cfg.net_prefix_v4, e->cfg.net_prefix_v6,
                      &roles[ROLE_CLIENT_NET].actor) == RG_OK;
  const rg_str_t *names[] = {[ROLE_HELO] = &o->helo, [ROLE_CLIENT_RDNS] = &o->rdns};
  for (int i = ROLE_HELO; i <= ROLE_CLIENT_RDNS; i++)
    roles[i].present = names[i]->len && rg_actor_normalize_helo(names[i]->ptr, names[i]->len,
                                                                &roles[i].actor, NULL) == RG_OK;
  return RG_OK;
}

/* Reads what the store knows of the parsed roles in t and weighs them into a->d. */
static int assess(rg_engine_t *e, rg_txn_t *t, const rg_wire_observation_t *o, assessment_t *a) {
  int rc;
  a->gen = rg__current_generation(t, &a->g, &rc);
  a->now = rg__item_ts(e, o->ts, rg_clock_now()); /* the message's time when given */
  if (!rc) rc = read_roles(e, t, a->gen, a->now, a->roles);
  if (!rc) rc = familiarity(t, &a->roles[ROLE_SENDER], a->rcpts, a->n_rcpts, a->now, &a->d.familiar);
  if (!rc && a->roles[ROLE_SENDER].known && a->roles[ROLE_SENDER_DOMAIN].shared)
    rc = burst(t, &a->roles[ROLE_SENDER], a->now, &a->d); /* only weighed there (decide) */
  if (rc) return rc;
  decide(e, a->gen, a->roles, &a->d);
  count(e, &a->d);
  return RG_OK;
}

static bool observe_mode(const rg_engine_t *e) {
  return strcmp(e->cfg.check_mode, "observe") == 0;
}

int rg_engine_check(rg_engine_t *e, const rg_wire_observation_t *o, rg_check_verdict_t *v,
                    char *msg, size_t msglen) {
  assessment_t *a = calloc(1, sizeof *a); /* recipients make it large for a stack */
  if (!a) return RG_ENOMEM;
  *v = (rg_check_verdict_t){0};
  rg_txn_t *t = NULL;
  int rc = parse_roles(e, o, a, msg, msglen);
  if (!rc) rc = rg__read_begin(e, &t);
  if (!rc) rc = assess(e, t, o, a);
  if (t) rg__read_end(e, t);
  if (!rc) {
    v->would_be = a->d.verdict;
    v->verdict = observe_mode(e) ? 0 : a->d.verdict;
    v->score = a->d.score;
    v->known = a->d.decided_by >= 0;
    v->authenticated = o->authenticated;
    v->decided_by = v->known ? role_names[a->d.decided_by] : NULL;
    snprintf(v->reason, sizeof v->reason, "%s", v->known ? a->d.why : "");
    v->generation = a->gen ? a->gen->generation : 0;
  }
  free(a);
  return rc;
}

const char *rg_engine_verdict_name(int verdict) {
  return verdict >= 0 && verdict <= RG_VERDICT_LEVELS ? verdict_names[verdict] : "accept";
}

int rg__check_handle(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr, char *msg,
                     size_t msglen) {
  const rg_wire_observation_t *o = &req->check;
  assessment_t *a = calloc(1, sizeof *a);
  if (!a) return RG_ENOMEM;
  rg_txn_t *t = NULL;
  int rc = parse_roles(e, o, a, msg, msglen);
  if (!rc) rc = rg__read_begin(e, &t);
  if (!rc) rc = assess(e, t, o, a);
  if (!rc) {
    const decision_t *d = &a->d;
    bool observe = observe_mode(e);
    uint32_t n_present = 0;
    for (int i = 0; i < N_ROLES; i++) n_present += a->roles[i].present;
    rg_wr_reply(wr, req->has_id, req->id, 11);
    rg_wr_str(wr, "verdict"), rg_wr_str(wr, verdict_names[observe ? 0 : d->verdict]);
    rg_wr_str(wr, "would_be"), rg_wr_str(wr, verdict_names[d->verdict]);
    rg_wr_str(wr, "mode"), rg_wr_str(wr, observe ? "observe" : "enforce");
    rg_wr_str(wr, "score"), rg_wr_double(wr, d->score);
    rg_wr_str(wr, "known"), rg_wr_bool(wr, d->decided_by >= 0);
    rg_wr_str(wr, "decided_by"),
        d->decided_by >= 0 ? rg_wr_str(wr, role_names[d->decided_by]) : rg_wr_nil(wr);
    rg_wr_str(wr, "reason"), d->decided_by >= 0 ? rg_wr_str(wr, d->why) : rg_wr_nil(wr);
    rg_wr_str(wr, "authenticated"), rg_wr_bool(wr, o->authenticated);
    rg_wr_str(wr, "familiar"), d->familiar >= 0 ? rg_wr_double(wr, d->familiar) : rg_wr_nil(wr);
    rg_wr_str(wr, "generation"), a->gen ? rg_wr_uint(wr, a->gen->generation) : rg_wr_nil(wr);
    rg_wr_str(wr, "actors");
    rg_wr_array(wr, n_present);
    for (int i = 0; i < N_ROLES && !rc; i++)
      if (a->roles[i].present) write_actor(e, t, a->gen, a->now, i, &a->roles[i], wr, &rc);
  }
  if (t) rg__read_end(e, t);
  free(a);
  return rc;
}
