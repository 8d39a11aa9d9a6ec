/* lookup.c — reads on the loop thread: the read snapshot shared by a batch of pipelined
 * requests, the wire form of actors, the current generation, and the lookup op with the
 * score fields that lookup and check both answer with. */
#include <stdio.h>
#include <string.h>

#include "engine_internal.h"
#include "repgraph/features.h"
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

/* A string literal, its length known at compile time (no strlen per field). */
#define WR_LIT(wr, lit) rg_wr_strn((wr), (lit), sizeof(lit) - 1)

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
  WR_LIT(wr, "verdict");
  rg_wr_str(wr, rg_verdict_name(l->verdict));
  WR_LIT(wr, "source");
  rg_wr_str(wr, rg_label_source_name(l->source));
  WR_LIT(wr, "weight");
  rg_wr_double(wr, l->weight);
  WR_LIT(wr, "ts");
  rg_wr_int(wr, l->ts);
  WR_LIT(wr, "count");
  rg_wr_uint(wr, l->count);
  WR_LIT(wr, "note");
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

void rg__write_reasons(rg_txn_t *t, const rg_score_t *sc, int64_t now, rg_wr_t *wr) {
  rg_wr_array(wr, sc->n_reasons);
  for (unsigned i = 0; i < sc->n_reasons; i++) {
    const rg_reason_t *r = &sc->reasons[i];
    char actor[RG_ACTOR_TEXT_MAX], text[256];
    bool has_actor = false;
    rg_actor_rec_t rec;
    bool names_actor = r->code == RG_REASON_BAD_NEIGHBOUR || r->code == RG_REASON_PROVISIONAL;
    if (names_actor && rg_store_get_actor(t, r->aux, now, &rec) == RG_OK)
      has_actor = rg_actor_format(&rec.actor, actor, sizeof actor) > 0;
    bool model = r->code == RG_REASON_MODEL;
    rg_wr_map(wr, model ? 6 : 4);
    rg_wr_str(wr, "code"), rg_wr_str(wr, rg_reason_name(r->code));
    rg_wr_str(wr, "text"),
        rg_wr_str(wr, rg_reason_text(r, has_actor ? actor : NULL, text, sizeof text));
    rg_wr_str(wr, "value"), rg_wr_double(wr, r->value);
    rg_wr_str(wr, "actor"), has_actor ? rg_wr_str(wr, actor) : rg_wr_nil(wr);
    if (model) { /* the learned model's reason: which feature, and how much it weighed */
      int feature;
      double companion, contribution;
      rg_reason_model_unpack(r, &feature, &companion, &contribution);
      const char *name = rg_feature_name(feature);
      rg_wr_str(wr, "feature"), rg_wr_str(wr, name ? name : "?");
      rg_wr_str(wr, "contribution"), rg_wr_double(wr, contribution);
    }
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
  rg_wr_str(wr, "reasons"), rg__write_reasons(t, sc, now, wr);
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
  WR_LIT(wr, "reputation"), rg_wr_double(wr, sc.reputation);
  WR_LIT(wr, "band"), rg_wr_str(wr, rg_band_name(sc.band));
  WR_LIT(wr, "propagated"),
      rg_wr_str(wr, sc.propagated ? rg_verdict_name(sc.propagated) : "none");
  rg_wr_str(wr, "cluster"), rg_wr_uint(wr, sc.cluster);
  rg_wr_str(wr, "cluster_suspicion"), crc ? rg_wr_nil(wr) : rg_wr_double(wr, c.suspicion);
  rg_wr_str(wr, "anomaly"), rg_wr_double(wr, sc.anomaly);
  rg_wr_str(wr, "reasons"), rg__write_reasons(t, &sc, now, wr);
  rg_wr_str(wr, "generation"), rg_wr_uint(wr, gen->generation);
  rg_wr_str(wr, "computed_at"), rg_wr_int(wr, gen->computed_at);
  rg_wr_str(wr, "provisional"), rg_wr_bool(wr, false);
  return RG_OK;
}

/* What the lookups of one request share: the time, and the read snapshot with the current
 * generation, opened at the first actor the cache does not answer. */
typedef struct {
  rg_engine_t *e;
  rg_txn_t *t; /* NULL until needed */
  rg_generation_t g;
  const rg_generation_t *gen;
  int64_t now;
} lookup_ctx_t;

static int ctx_open(lookup_ctx_t *x) {
  if (x->t) return RG_OK;
  int rc = rg__read_begin(x->e, &x->t);
  if (rc) return rc;
  x->gen = rg__current_generation(x->t, &x->g, &rc);
  return rc;
}

/* Rewrites the value at `at` (len bytes, as written before) with what writing it now gives;
 * false when the new encoding has another length. */
static bool patch_value(uint8_t *at, uint32_t len, bool is_double, double d, int64_t i) {
  uint8_t tmp[16];
  rg_buf_t b = {tmp, 0, sizeof tmp, sizeof tmp};
  rg_wr_t w;
  rg_wr_init(&w, &b);
  if (is_double)
    rg_wr_double(&w, d);
  else
    rg_wr_int(&w, i);
  if (w.err || b.len != len) return false;
  memcpy(at, tmp, len);
  return true;
}

#define DOUBLE_LEN 9 /* a msgpack float64: 0xcb and 8 bytes */

/* Brings a cached result to time `now`: as_of, and the weights decayed as rg_store_get_actor
 * decays them. False when it cannot be patched (as_of's encoding changes length). */
static bool entry_refresh(const rg_engine_t *e, rg_lookup_entry_t *ce, int64_t now) {
  double h = (double)e->cfg.half_life_s;
  if (!patch_value(ce->bytes + ce->off_as_of, ce->as_of_len, false, 0, now)) return false;
  if (ce->off_weight_out &&
      (!patch_value(ce->bytes + ce->off_weight_out, DOUBLE_LEN, true,
                    rg_store_decay(ce->weight_out, ce->rec_as_of, now, h), 0) ||
       !patch_value(ce->bytes + ce->off_weight_in, DOUBLE_LEN, true,
                    rg_store_decay(ce->weight_in, ce->rec_as_of, now, h), 0)))
    return false;
  ce->now = now;
  return true;
}

static uint32_t wr_offset(const rg_wr_t *wr, size_t start) {
  return (uint32_t)(wr->out->len - start);
}

static int lookup_one(lookup_ctx_t *x, rg_str_t s, rg_wr_t *wr) {
  rg_engine_t *e = x->e;
  int64_t now = x->now;
  rg_lookup_entry_t *ce = rg_lookup_cache_get(e->lookup_cache, s.ptr, s.len);
  if (ce && (ce->now == now || entry_refresh(e, ce, now))) {
    rg_wr_raw(wr, ce->bytes, ce->len);
    return RG_OK;
  }
  rg_actor_t a;
  char msg[160], text[RG_ACTOR_TEXT_MAX];
  if (rg__actor_from_wire(e, s, true, 0, "actor", &a, msg, sizeof msg)) {
    char echo[4 * RG_ACTOR_TEXT_MAX]; /* the client's bytes, escaped: a reply is valid UTF-8 */
    rg_wr_map(wr, 2);
    WR_LIT(wr, "actor");
    rg_wr_str(wr, rg_text_escape(echo, sizeof echo, s.ptr, s.len));
    WR_LIT(wr, "error");
    rg_wr_map(wr, 2);
    WR_LIT(wr, "code");
    rg_wr_str(wr, rg_err_name(RG_EINVALID_ACTOR));
    WR_LIT(wr, "message");
    rg_wr_str(wr, msg);
    return RG_OK;
  }
  int rc = ctx_open(x);
  if (rc) return rc;
  rg_txn_t *t = x->t;
  uint64_t id;
  rg_actor_rec_t r;
  rg_label_t l;
  rc = rg_store_find_actor(t, &a, &id);
  if (rc == RG_OK) rc = rg_store_get_actor(t, id, 0, &r); /* as stored: decayed below */
  if (rc && rc != RG_ENOT_FOUND) return rc;
  bool known = rc == RG_OK;
  int lrc = known ? rg_store_get_label(t, id, &l) : RG_ENOT_FOUND;
  if (lrc && lrc != RG_ENOT_FOUND) return lrc;

  size_t start = wr->out->len;
  rg_lookup_entry_t ne = {.now = now, .actor_id = known ? id : 0};
  rg_actor_format(&a, text, sizeof text);
  rg_wr_map(wr, LOOKUP_FIELDS);
  WR_LIT(wr, "actor");
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
  WR_LIT(wr, "known");
  rg_wr_bool(wr, known);
  if (known) {
    double h = (double)e->cfg.half_life_s;
    ne.weight_out = r.weight_out, ne.weight_in = r.weight_in, ne.rec_as_of = r.as_of;
    WR_LIT(wr, "first_seen");
    rg_wr_int(wr, r.first_seen);
    WR_LIT(wr, "last_seen");
    rg_wr_int(wr, r.last_seen);
    WR_LIT(wr, "messages");
    rg_wr_uint(wr, r.messages);
    rg_wr_str(wr, "submissions");
    rg_wr_uint(wr, r.submissions);
    write_counts(wr, "out_degree", r.out_degree);
    write_counts(wr, "in_degree", r.in_degree);
    WR_LIT(wr, "weight_out");
    ne.off_weight_out = wr_offset(wr, start);
    rg_wr_double(wr, rg_store_decay(r.weight_out, r.as_of, now, h));
    WR_LIT(wr, "weight_in");
    ne.off_weight_in = wr_offset(wr, start);
    rg_wr_double(wr, rg_store_decay(r.weight_in, r.as_of, now, h));
  } else {
    static const char *const absent[] = {"first_seen", "last_seen", "messages",  "submissions",
                                         "out_degree", "in_degree", "weight_out", "weight_in"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
      rg_wr_str(wr, absent[i]);
      rg_wr_nil(wr);
    }
  }
  WR_LIT(wr, "label");
  if (lrc == RG_OK)
    write_label(wr, &l);
  else
    rg_wr_nil(wr);
  WR_LIT(wr, "as_of");
  ne.off_as_of = wr_offset(wr, start);
  rg_wr_int(wr, now);
  ne.as_of_len = wr_offset(wr, start) - ne.off_as_of;
  rc = rg__write_score_fields(e, t, x->gen, known ? &r : NULL, known ? id : 0, now, wr);
  if (rc || wr->err) return rc;
  ne.bytes = wr->out->data + start;
  ne.len = wr_offset(wr, start);
  (void)rg_lookup_cache_put(e->lookup_cache, s.ptr, s.len, &ne); /* not kept: answered anyway */
  return RG_OK;
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
  lookup_ctx_t x = {.e = e, .now = rg_clock_now()};
  int rc = RG_OK;
  rg_wr_reply(wr, req->has_id, req->id, 1);
  WR_LIT(wr, "results");
  rg_wr_array(wr, req->n_actors);
  for (uint32_t i = 0; i < req->n_actors && !rc; i++) rc = lookup_one(&x, req->actors[i], wr);
  if (x.t) rg__read_end(e, x.t);
  return rc;
}
