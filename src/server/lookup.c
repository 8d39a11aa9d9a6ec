/* lookup.c — reads on the loop thread: the read snapshot shared by a batch of pipelined
 * requests, the wire form of actors, the current generation, and the lookup op with the
 * score fields that lookup and check both answer with. */
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"
#include "repgraph/actor.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/score.h"
#include "repgraph/text.h"

/* ---- reads: one transaction per batch of requests ---------------------------------- */

void rg__read_drop_batch(rg_engine_t *e) {
  if (!e->batch_txn) return;
  rg_store_end(e->batch_txn);
  e->batch_txn = NULL;
}

void rg_engine_batch_begin(rg_engine_t *e) {
  e->batch_depth++;
}

void rg_engine_batch_end(rg_engine_t *e) {
  if (e->batch_depth && --e->batch_depth == 0) rg__read_drop_batch(e);
}

int rg__read_begin(rg_engine_t *e, rg_txn_t **t) {
  if (!e->batch_depth) return rg_store_read_begin(e->store, t);
  if (!e->batch_txn) {
    int rc = rg_store_read_begin(e->store, &e->batch_txn);
    if (rc) return rc;
  }
  *t = e->batch_txn;
  return RG_OK;
}

void rg__read_end(rg_engine_t *e, rg_txn_t *t) {
  if (t != e->batch_txn) rg_store_end(t);
}

/* ---- actors and generations --------------------------------------------------------- */

int rg__actor_from_wire(const rg_engine_t *e, rg_str_t s, bool typed, rg_actor_type_t type,
                        const char *field, rg_actor_t *out, char *msg, size_t cap) {
  const char *reason = NULL;
  char quoted[96];
  rg_actor_opts_t plain = e->actor_opts;
  plain.pseudonyms = false; /* what a filter saw (observations, check) is never a pseudonym */
  int rc = typed ? rg_actor_parse_opts(s.ptr, s.len, &e->actor_opts, out, &reason)
                 : rg_actor_normalize_opts(type, s.ptr, s.len, &plain, out, &reason);
  if (rc)
    snprintf(msg, cap, "%s: '%s' is not a valid %s: %s", field,
             rg_text_escape(quoted, sizeof quoted, s.ptr, s.len),
             typed ? "actor" : rg_actor_type_name(type), reason ? reason : "invalid");
  return rc;
}

/* ---- lookup -------------------------------------------------------------------------- */

static void write_counts(rg_wr_t *wr, const char *name, const uint32_t *counts) {
  rg_wr_str(wr, name);
  rg_wr_map(wr, RG_EDGE_KIND_COUNT);
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) {
    rg_wr_str(wr, rg_edge_kind_name(k));
    rg_wr_uint(wr, counts[k]);
  }
}

static void write_label(rg_wr_t *wr, const rg_label_t *l) {
  rg_wr_map(wr, 6);
  rg_wr_str(wr, "verdict");
  rg_wr_str(wr, rg_verdict_name(l->verdict));
  rg_wr_str(wr, "source");
  rg_wr_str(wr, rg_label_source_name(l->source));
  rg_wr_str(wr, "weight");
  rg_wr_double(wr, l->weight);
  rg_wr_str(wr, "ts");
  rg_wr_int(wr, l->ts);
  rg_wr_str(wr, "count");
  rg_wr_uint(wr, l->count);
  rg_wr_str(wr, "note");
  rg_wr_strn(wr, l->note, l->note_len);
}

/* The score fields of a lookup or check entry, from generation `gen` (NULL before the
 * first recomputation, or for an unknown actor: all nil). */
static const char *const score_fields[] = {
    "reputation", "band",       "propagated",  "cluster",    "cluster_suspicion",
    "anomaly",    "reasons",    "generation",  "computed_at", "provisional"};
_Static_assert(sizeof score_fields / sizeof score_fields[0] == RG__SCORE_FIELDS,
               "RG__SCORE_FIELDS counts score_fields");
#define N_SCORE_FIELDS RG__SCORE_FIELDS
#define LOOKUP_FIELDS  (14 + N_SCORE_FIELDS)

static void write_reasons(rg_txn_t *t, const rg_score_t *sc, int64_t now, rg_wr_t *wr) {
  rg_wr_array(wr, sc->n_reasons);
  for (unsigned i = 0; i < sc->n_reasons; i++) {
    const rg_reason_t *r = &sc->reasons[i];
    char actor[RG_ACTOR_TEXT_MAX], text[256];
    bool has_actor = false;
    rg_actor_rec_t rec;
    bool names_actor = r->code == RG_REASON_BAD_NEIGHBOUR || r->code == RG_REASON_PROVISIONAL;
    if (names_actor && rg_store_get_actor(t, r->aux, now, &rec) == RG_OK)
      has_actor = rg_actor_format(&rec.actor, actor, sizeof actor) > 0;
    rg_wr_map(wr, 4);
    rg_wr_str(wr, "code"), rg_wr_str(wr, rg_reason_name(r->code));
    rg_wr_str(wr, "text"),
        rg_wr_str(wr, rg_reason_text(r, has_actor ? actor : NULL, text, sizeof text));
    rg_wr_str(wr, "value"), rg_wr_double(wr, r->value);
    rg_wr_str(wr, "actor"), has_actor ? rg_wr_str(wr, actor) : rg_wr_nil(wr);
  }
}

/* Reads the actor's score of generation gen. 0 with *sc set, RG_ENOT_FOUND (no score), or
 * a store error. */
int rg__read_score(rg_txn_t *t, const rg_generation_t *gen, bool known, uint64_t id,
                   rg_score_t *sc) {
  if (!gen || !known) return RG_ENOT_FOUND;
  return rg_store_get_score(t, gen->generation, id, sc);
}

/* The fields of a provisional score (provisional.c): no cluster or anomaly of its own yet. */
static void write_provisional(rg_txn_t *t, const rg_generation_t *gen, const rg_score_t *sc,
                              int64_t now, rg_wr_t *wr) {
  rg_wr_str(wr, "reputation"), rg_wr_double(wr, sc->reputation);
  rg_wr_str(wr, "band"), rg_wr_str(wr, rg_band_name(sc->band));
  rg_wr_str(wr, "propagated"), rg_wr_str(wr, "none");
  rg_wr_str(wr, "cluster"), rg_wr_nil(wr);
  rg_wr_str(wr, "cluster_suspicion"), rg_wr_nil(wr);
  rg_wr_str(wr, "anomaly"), rg_wr_nil(wr);
  rg_wr_str(wr, "reasons"), write_reasons(t, sc, now, wr);
  rg_wr_str(wr, "generation"), rg_wr_uint(wr, gen->generation);
  rg_wr_str(wr, "computed_at"), rg_wr_int(wr, gen->computed_at);
  rg_wr_str(wr, "provisional"), rg_wr_bool(wr, true);
}

int rg__write_score_fields(const rg_engine_t *e, rg_txn_t *t, const rg_generation_t *gen,
                           const rg_actor_rec_t *rec, uint64_t id, int64_t now, rg_wr_t *wr) {
  rg_score_t sc;
  int rc = rg__read_score(t, gen, rec != NULL, id, &sc);
  if (rc && rc != RG_ENOT_FOUND) return rc;
  if (rc == RG_ENOT_FOUND && rec && gen && e->cfg.provisional) {
    rc = rg__provisional_score(e, t, gen, id, rec, now, &sc);
    if (rc == RG_OK) write_provisional(t, gen, &sc, now, wr);
    if (rc != RG_ENOT_FOUND) return rc;
  }
  if (rc == RG_ENOT_FOUND) {
    for (size_t i = 0; i < N_SCORE_FIELDS; i++) rg_wr_str(wr, score_fields[i]), rg_wr_nil(wr);
    return RG_OK;
  }
  rg_cluster_t c;
  int crc = rg_store_get_cluster(t, gen->generation, sc.cluster, &c);
  if (crc && crc != RG_ENOT_FOUND) return crc;
  rg_wr_str(wr, "reputation"), rg_wr_double(wr, sc.reputation);
  rg_wr_str(wr, "band"), rg_wr_str(wr, rg_band_name(sc.band));
  rg_wr_str(wr, "propagated"),
      rg_wr_str(wr, sc.propagated ? rg_verdict_name(sc.propagated) : "none");
  rg_wr_str(wr, "cluster"), rg_wr_uint(wr, sc.cluster);
  rg_wr_str(wr, "cluster_suspicion"), crc ? rg_wr_nil(wr) : rg_wr_double(wr, c.suspicion);
  rg_wr_str(wr, "anomaly"), rg_wr_double(wr, sc.anomaly);
  rg_wr_str(wr, "reasons"), write_reasons(t, &sc, now, wr);
  rg_wr_str(wr, "generation"), rg_wr_uint(wr, gen->generation);
  rg_wr_str(wr, "computed_at"), rg_wr_int(wr, gen->computed_at);
  rg_wr_str(wr, "provisional"), rg_wr_bool(wr, false);
  return RG_OK;
}

static int lookup_one(const rg_engine_t *e, rg_txn_t *t, const rg_generation_t *gen, rg_str_t s, int64_t now,
                      rg_wr_t *wr) {
  rg_actor_t a;
  char msg[160], text[RG_ACTOR_TEXT_MAX];
  if (rg__actor_from_wire(e, s, true, 0, "actor", &a, msg, sizeof msg)) {
    char echo[4 * RG_ACTOR_TEXT_MAX]; /* the client's bytes, escaped: a reply is valid UTF-8 */
    rg_wr_map(wr, 2);
    rg_wr_str(wr, "actor");
    rg_wr_str(wr, rg_text_escape(echo, sizeof echo, s.ptr, s.len));
    rg_wr_str(wr, "error");
    rg_wr_map(wr, 2);
    rg_wr_str(wr, "code");
    rg_wr_str(wr, rg_err_name(RG_EINVALID_ACTOR));
    rg_wr_str(wr, "message");
    rg_wr_str(wr, msg);
    return RG_OK;
  }
  uint64_t id;
  rg_actor_rec_t r;
  rg_label_t l;
  int rc = rg_store_find_actor(t, &a, &id);
  if (rc == RG_OK) rc = rg_store_get_actor(t, id, now, &r);
  if (rc && rc != RG_ENOT_FOUND) return rc;
  bool known = rc == RG_OK;
  int lrc = known ? rg_store_get_label(t, id, &l) : RG_ENOT_FOUND;
  if (lrc && lrc != RG_ENOT_FOUND) return lrc;

  rg_actor_format(&a, text, sizeof text);
  rg_wr_map(wr, LOOKUP_FIELDS);
  rg_wr_str(wr, "actor");
  rg_wr_str(wr, text);
  rg_wr_str(wr, "pseudonym"); /* what exports and analyst replies show for it */
  rg_actor_t p;
  if (e->pseudonym && rg_pseudonym_of(e->pseudonym, &a, &p) == RG_OK &&
      rg_actor_format(&p, text, sizeof text) > 0)
    rg_wr_str(wr, text);
  else
    rg_wr_nil(wr);
  rg_wr_str(wr, "type");
  rg_wr_str(wr, rg_actor_type_name(a.type));
  rg_wr_str(wr, "known");
  rg_wr_bool(wr, known);
  if (known) {
    rg_wr_str(wr, "first_seen");
    rg_wr_int(wr, r.first_seen);
    rg_wr_str(wr, "last_seen");
    rg_wr_int(wr, r.last_seen);
    rg_wr_str(wr, "messages");
    rg_wr_uint(wr, r.messages);
    rg_wr_str(wr, "submissions");
    rg_wr_uint(wr, r.submissions);
    write_counts(wr, "out_degree", r.out_degree);
    write_counts(wr, "in_degree", r.in_degree);
    rg_wr_str(wr, "weight_out");
    rg_wr_double(wr, r.weight_out);
    rg_wr_str(wr, "weight_in");
    rg_wr_double(wr, r.weight_in);
  } else {
    static const char *const absent[] = {"first_seen", "last_seen", "messages",  "submissions",
                                         "out_degree", "in_degree", "weight_out", "weight_in"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
      rg_wr_str(wr, absent[i]);
      rg_wr_nil(wr);
    }
  }
  rg_wr_str(wr, "label");
  if (lrc == RG_OK)
    write_label(wr, &l);
  else
    rg_wr_nil(wr);
  rg_wr_str(wr, "as_of");
  rg_wr_int(wr, now);
  return rg__write_score_fields(e, t, gen, known ? &r : NULL, known ? id : 0, now, wr);
}

const rg_generation_t *rg__current_generation(rg_txn_t *t, rg_generation_t *g, int *rc) {
  *rc = rg_store_get_generation(t, g);
  if (*rc == RG_ENOT_FOUND) {
    *rc = RG_OK;
    return NULL;
  }
  return *rc ? NULL : g;
}

int rg__lookup_handle(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr) {
  rg_txn_t *t;
  rg_generation_t g;
  int rc = rg__read_begin(e, &t);
  if (rc) return rc;
  const rg_generation_t *gen = rg__current_generation(t, &g, &rc);
  int64_t now = rg_clock_now();
  rg_wr_reply(wr, req->has_id, req->id, 1);
  rg_wr_str(wr, "results");
  rg_wr_array(wr, req->n_actors);
  for (uint32_t i = 0; i < req->n_actors && !rc; i++)
    rc = lookup_one(e, t, gen, req->actors[i], now, wr);
  rg__read_end(e, t);
  return rc;
}
