/* ingest.c — the writes clients ask for: ingest (edges, observations), label, forget and
 * unlabel (label_cluster is in label_cluster.c). Each request is validated and normalised on the
 * loop thread into a write of its own kind (actors once each, edges, labels, per-item rejects),
 * applied by the writer thread through its apply function, and answered on the loop thread after
 * commit. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "ingest_internal.h"
#include "repgraph/actor.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/grow.h"
#include "repgraph/text.h"

#define REJECTS_REPORTED 1000 /* per request; the count covers the rest */

enum { ITEM_EDGES, ITEM_OBSERVATIONS, ITEM_LABELS, ITEM_ACTORS };
static const char *const item_names[] = {"edges", "observations", "labels", "actors"};

void rg__slice_free(slice_t *s) {
  rg_buf_free(&s->keys);
  free(s->actors);
  free(s->actor_slots);
  free(s->edges);
  free(s->labels);
}

static void ingest_free(rg_write_t *base) {
  ingest_write_t *w = (ingest_write_t *)base;
  for (uint32_t i = 0; i < w->n_slices; i++) rg__slice_free(&w->slices[i]);
  free(w->slices);
  free(w->rejects);
  free(w->rcpts);
  free(w);
}

/* SipHash (libsodium) under the engine's random key: a client cannot craft actors that
 * all land in one slot of a write's hash and stall the loop thread. */
static uint32_t actor_hash(const uint8_t *hash_key, uint8_t type, const uint8_t *key, size_t len) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, key, len, hash_key);
  uint64_t v;
  memcpy(&v, h, sizeof v);
  return (uint32_t)((v + type * UINT64_C(0x9E3779B97F4A7C15)) >> 32);
}

/* The slot of the actor (type, key) in the write's hash: its index + 1, or 0 where it
 * would go. */
static uint32_t *actor_slot(slice_t *s, uint8_t type, const uint8_t *key, size_t len) {
  uint32_t mask = s->n_slots - 1, i = actor_hash(s->hash_key, type, key, len) & mask;
  for (;; i = (i + 1) & mask) {
    uint32_t slot = s->actor_slots[i];
    if (!slot) return &s->actor_slots[i];
    const job_actor_t *ja = &s->actors[slot - 1];
    if (ja->type == type && ja->key_len == len && memcmp(s->keys.data + ja->key_off, key, len) == 0)
      return &s->actor_slots[i];
  }
}

/* Keeps the hash at most half full. */
static int grow_slots(slice_t *s) {
  if (2 * (s->n_actors + 1) <= s->n_slots) return RG_OK;
  uint32_t n = s->n_slots ? 2 * s->n_slots : 64;
  uint32_t *old = s->actor_slots;
  if (!(s->actor_slots = calloc(n, sizeof *s->actor_slots))) {
    s->actor_slots = old;
    return RG_ENOMEM;
  }
  s->n_slots = n;
  free(old);
  for (uint32_t i = 0; i < s->n_actors; i++) {
    const job_actor_t *ja = &s->actors[i];
    *actor_slot(s, ja->type, s->keys.data + ja->key_off, ja->key_len) = i + 1;
  }
  return RG_OK;
}

int rg__slice_add_actor(slice_t *s, const rg_actor_t *a, int64_t ts, uint64_t messages,
                        uint32_t *index) {
  int rc = grow_slots(s);
  if (rc) return rc;
  uint32_t *slot = actor_slot(s, (uint8_t)a->type, (const uint8_t *)a->key, a->len);
  if (*slot) {
    job_actor_t *ja = &s->actors[*slot - 1];
    ja->messages += messages;
    if (ts < ja->ts) ja->ts = ts;
    if (ts > ja->ts_last) ja->ts_last = ts;
    *index = *slot - 1;
    return RG_OK;
  }
  if ((rc = rg_grow((void **)&s->actors, &s->cap_actors, (size_t)s->n_actors + 1,
                    sizeof *s->actors)))
    return rc;
  uint32_t off = (uint32_t)s->keys.len;
  if ((rc = rg_buf_append(&s->keys, a->key, a->len))) return rc;
  s->actors[s->n_actors] =
      (job_actor_t){off, a->len, (uint8_t)a->type, messages, 0, ts, ts, 0, 0};
  *index = s->n_actors++;
  *slot = s->n_actors;
  return RG_OK;
}

static int add_edge(slice_t *s, uint32_t src, rg_edge_kind_t kind, uint32_t dst, int64_t ts,
                    double weight, uint64_t count) {
  int rc = rg_grow((void **)&s->edges, &s->cap_edges, (size_t)s->n_edges + 1, sizeof *s->edges);
  if (rc) return rc;
  s->edges[s->n_edges++] = (job_edge_t){src, dst, kind, ts, weight, count};
  return RG_OK;
}

static void reject(ingest_write_t *w, uint8_t item, uint32_t index, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void reject(ingest_write_t *w, uint8_t item, uint32_t index, int code, const char *fmt,
                   ...) {
  w->n_rejected++;
  rg_metrics_reject(&w->base.engine->metrics, item, code);
  if (w->n_rejects >= REJECTS_REPORTED) return;
  if (!w->rejects && !(w->rejects = calloc(REJECTS_REPORTED, sizeof *w->rejects))) return;
  reject_t *r = &w->rejects[w->n_rejects++];
  r->item = item;
  r->index = index;
  r->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof r->message, fmt, ap);
  va_end(ap);
}

/* The slice items are added to: the last one, or a new one when the last is full (or there
 * is none yet). Items never straddle slices. 0 or RG_ENOMEM. */
static int open_slice(ingest_write_t *w) {
  if (w->n_slices && w->slices[w->n_slices - 1].n_edges < w->base.engine->cfg.write_slice_edges)
    return RG_OK;
  int rc = rg_grow((void **)&w->slices, &w->cap_slices, (size_t)w->n_slices + 1, sizeof *w->slices);
  if (rc) return rc;
  slice_t *s = &w->slices[w->n_slices++];
  *s = (slice_t){.hash_key = w->base.engine->actor_hash_key};
  rg_buf_init(&s->keys, UINT32_MAX);
  return RG_OK;
}

static slice_t *current(ingest_write_t *w) {
  return &w->slices[w->n_slices - 1];
}

static int prepare_edge(rg_engine_t *e, ingest_write_t *w, const rg_wire_edge_t *we, uint32_t i,
                        int64_t now) {
  rg_actor_t src, dst;
  rg_edge_kind_t kind;
  char msg[160];
  if (we->invalid) { /* the decoder could not read this item */
    reject(w, ITEM_EDGES, i, we->invalid, "%s", we->why);
    return RG_OK;
  }
  if (rg_edge_kind_parse(we->kind.ptr, we->kind.len, &kind) != RG_OK) {
    char quoted[64];
    reject(w, ITEM_EDGES, i, RG_EINVALID_EDGE, "kind: unknown edge kind '%s'",
           rg_text_escape(quoted, sizeof quoted, we->kind.ptr, we->kind.len));
    return RG_OK;
  }
  if (rg__actor_from_wire(e, we->src, true, 0, "src", &src, msg, sizeof msg) ||
      rg__actor_from_wire(e, we->dst, true, 0, "dst", &dst, msg, sizeof msg)) {
    reject(w, ITEM_EDGES, i, RG_EINVALID_ACTOR, "%s", msg);
    return RG_OK;
  }
  if (!rg_edge_kind_fits(kind, src.type, dst.type)) {
    reject(w, ITEM_EDGES, i, RG_EINVALID_EDGE, "kind: %s does not connect %s to %s",
           rg_edge_kind_name(kind), rg_actor_type_name(src.type), rg_actor_type_name(dst.type));
    return RG_OK;
  }
  int64_t ts = rg__item_ts(e, we->ts, now);
  uint32_t si, di;
  slice_t *s = current(w);
  int rc = rg__slice_add_actor(s, &src, ts, we->count, &si);
  if (!rc) rc = rg__slice_add_actor(s, &dst, ts, we->count, &di);
  if (!rc) rc = add_edge(s, si, kind, di, ts, we->weight, we->count);
  if (!rc) w->accepted++;
  (void)e;
  return rc;
}

/* A HELO or reverse DNS name as the domain it names: false for an absent, invalid or
 * IP-literal name (which names no domain, so gets no edge). */
static bool name_domain(rg_str_t name, rg_actor_t *out) {
  return name.len > 0 && rg_actor_normalize_helo(name.ptr, name.len, out, NULL) == 0 &&
         out->type == RG_ACTOR_DOMAIN;
}

/* Expands one observation into actors and edges (see DESIGN.md "observation"). An invalid
 * sender, client IP or recipient rejects the observation; an invalid HELO or rdns name only
 * drops its edge (such names are often junk and say little). */
static int prepare_observation(rg_engine_t *e, ingest_write_t *w, const rg_wire_observation_t *o,
                               uint32_t i, int64_t now) {
  rg_actor_t sender, ip, net, domain, helo, rdns;
  char msg[160];
  if (o->invalid) { /* the decoder could not read this item */
    reject(w, ITEM_OBSERVATIONS, i, o->invalid, "%s", o->why);
    return RG_OK;
  }
  if (rg__actor_from_wire(e, o->sender, false, RG_ACTOR_ADDRESS, "sender", &sender, msg, sizeof msg) ||
      rg__actor_from_wire(e, o->client_ip, false, RG_ACTOR_IP, "client_ip", &ip, msg, sizeof msg)) {
    reject(w, ITEM_OBSERVATIONS, i, RG_EINVALID_ACTOR, "%s", msg);
    return RG_OK;
  }
  int rc = rg_grow((void **)&w->rcpts, &w->cap_rcpts, o->n_recipients, sizeof *w->rcpts);
  if (rc) return rc;
  for (uint32_t j = 0; j < o->n_recipients; j++) {
    if (!rg__actor_from_wire(e, o->recipients[j], false, RG_ACTOR_ADDRESS, "recipient",
                             &w->rcpts[j], msg, sizeof msg))
      continue;
    char field[32]; /* named by its index only when rejected: no printf per recipient */
    snprintf(field, sizeof field, "recipients[%u]", j);
    (void)rg__actor_from_wire(e, o->recipients[j], false, RG_ACTOR_ADDRESS, field,
                              &w->rcpts[j], msg, sizeof msg); /* fails again, naming it in msg */
    reject(w, ITEM_OBSERVATIONS, i, RG_EINVALID_ACTOR, "%s", msg);
    return RG_OK;
  }
  bool has_domain = !rg_actor_is_null_sender(&sender); /* <> has none */
  if (rg_actor_net_of(&ip, e->cfg.net_prefix_v4, e->cfg.net_prefix_v6, &net) ||
      (has_domain && rg_actor_domain_of(&sender, &domain))) {
    reject(w, ITEM_OBSERVATIONS, i, RG_EINVALID_ACTOR, "sender: cannot derive net or domain");
    return RG_OK;
  }
  bool has_helo = name_domain(o->helo, &helo), has_rdns = name_domain(o->rdns, &rdns);
  int64_t ts = rg__item_ts(e, o->ts, now);
  uint32_t si, ii, ni, di = 0, hi = 0, qi = 0, ri;
  slice_t *s = current(w);
  rc = rg__slice_add_actor(s, &sender, ts, 1, &si);
  if (!rc) rc = rg__slice_add_actor(s, &ip, ts, 1, &ii);
  if (!rc) rc = rg__slice_add_actor(s, &net, ts, 1, &ni);
  if (!rc && has_domain) rc = rg__slice_add_actor(s, &domain, ts, 1, &di);
  if (!rc && has_helo) rc = rg__slice_add_actor(s, &helo, ts, 1, &hi);
  if (!rc && has_rdns) rc = rg__slice_add_actor(s, &rdns, ts, 1, &qi);
  if (!rc && o->authenticated) s->actors[si].submissions++;
  if (!rc) rc = add_edge(s, si, RG_EDGE_SENT_FROM, ii, ts, 1, 1);
  if (!rc) rc = add_edge(s, ii, RG_EDGE_IN_NET, ni, ts, 1, 1);
  if (!rc && has_domain) rc = add_edge(s, si, RG_EDGE_USES_DOMAIN, di, ts, 1, 1);
  if (!rc && has_helo) rc = add_edge(s, ii, RG_EDGE_HELO, hi, ts, 1, 1);
  if (!rc && has_rdns) rc = add_edge(s, ii, RG_EDGE_RDNS, qi, ts, 1, 1);
  uint32_t mark = ++s->mark;
  for (uint32_t j = 0; j < o->n_recipients && !rc; j++) {
    rc = rg__slice_add_actor(s, &w->rcpts[j], ts, 0, &ri);
    if (rc || s->actors[ri].mark == mark) continue; /* named twice in one message: once */
    s->actors[ri].mark = mark;
    s->actors[ri].messages++;
    rc = add_edge(s, si, RG_EDGE_MAILED, ri, ts, 1, 1);
  }
  if (!rc) w->accepted++, s->n_observations++;
  return rc;
}

/* Copies a note, cut at RG_LABEL_NOTE_MAX, to the write's key buffer: *off and *len say
 * where. 0 or the buffer's error. */
static int append_note(slice_t *s, rg_str_t note, uint32_t *off, uint16_t *len) {
  *off = (uint32_t)s->keys.len;
  *len = (uint16_t)(note.len > RG_LABEL_NOTE_MAX ? RG_LABEL_NOTE_MAX : note.len);
  return rg_buf_append(&s->keys, note.ptr, *len);
}

int rg__label_parse(rg_engine_t *e, const rg_wire_label_t *wl, int64_t now, rg_label_t *l,
                    char *msg, size_t cap) {
  if (rg_verdict_parse(wl->verdict.ptr, wl->verdict.len, &l->verdict))
    return rg_fail(msg, cap, RG_EINVALID_LABEL, "verdict: expected bad or good");
  l->source = RG_SOURCE_ANALYST;
  if (wl->source.len && rg_label_source_parse(wl->source.ptr, wl->source.len, &l->source))
    return rg_fail(msg, cap, RG_EINVALID_LABEL,
                   "source: expected analyst, user_report, spam_trap, allowlist or feed");
  l->weight = wl->weight >= 0 ? wl->weight : e->cfg.label_weight[l->source];
  l->ts = rg__item_ts(e, wl->ts, now);
  return RG_OK;
}

/* A label of the request, its note in the write's key buffer. RG_EINVALID_LABEL with a
 * message in msg, or a buffer error. */
static int label_from_wire(rg_engine_t *e, ingest_write_t *w, const rg_wire_label_t *wl,
                           int64_t now, job_label_t *jl, char *msg, size_t cap) {
  rg_label_t l;
  int rc = rg__label_parse(e, wl, now, &l, msg, cap);
  if (rc) return rc;
  *jl = (job_label_t){.verdict = l.verdict, .source = l.source, .weight = l.weight, .ts = l.ts};
  return append_note(current(w), wl->note, &jl->note_off, &jl->note_len);
}

static int prepare_label(rg_engine_t *e, ingest_write_t *w, const rg_wire_label_t *wl, uint32_t i,
                         int64_t now) {
  rg_actor_t a;
  char msg[160];
  job_label_t l = {0};
  if (wl->invalid) { /* the decoder could not read this item */
    reject(w, ITEM_LABELS, i, wl->invalid, "%s", wl->why);
    return RG_OK;
  }
  if (rg__actor_from_wire(e, wl->actor, true, 0, "actor", &a, msg, sizeof msg)) {
    reject(w, ITEM_LABELS, i, RG_EINVALID_ACTOR, "%s", msg);
    return RG_OK;
  }
  if (rg_actor_is_null_sender(&a)) { /* it stands for every bouncing MTA: never a seed */
    reject(w, ITEM_LABELS, i, RG_EINVALID_LABEL, "actor: the null sender cannot be labelled");
    return RG_OK;
  }
  int rc = label_from_wire(e, w, wl, now, &l, msg, sizeof msg);
  if (rc == RG_EINVALID_LABEL) {
    reject(w, ITEM_LABELS, i, RG_EINVALID_LABEL, "%s", msg);
    return RG_OK;
  }
  slice_t *s = current(w);
  if (!rc) rc = rg__slice_add_actor(s, &a, l.ts, 0, &l.actor);
  if (rc) return rc;
  s->labels[s->n_labels++] = l;
  w->accepted++;
  return RG_OK;
}

static int prepare_forget(ingest_write_t *w, rg_str_t s, uint32_t i) {
  rg_actor_t a;
  char msg[160];
  uint32_t index;
  if (rg__actor_from_wire(w->base.engine, s, true, 0, "actor", &a, msg, sizeof msg)) {
    reject(w, ITEM_ACTORS, i, RG_EINVALID_ACTOR, "%s", msg);
    return RG_OK;
  }
  int rc = rg__slice_add_actor(current(w), &a, 0, 0, &index);
  if (!rc) w->accepted++;
  return rc;
}

static int prepare_unlabel(ingest_write_t *w, const rg_request_t *req, int64_t now) {
  w->retraction.ts = req->label.ts ? req->label.ts : now;
  int rc =
      append_note(current(w), req->label.note, &w->retraction.note_off, &w->retraction.note_len);
  for (uint32_t i = 0; i < req->n_actors && !rc; i++) rc = prepare_forget(w, req->actors[i], i);
  return rc;
}

/* ---- applying writes on the writer thread ------------------------------------------ */

static void job_actor(const slice_t *s, uint32_t i, rg_actor_t *a) {
  const job_actor_t *ja = &s->actors[i];
  a->type = (rg_actor_type_t)ja->type;
  a->len = ja->key_len;
  memcpy(a->key, s->keys.data + ja->key_off, ja->key_len);
  a->key[ja->key_len] = '\0';
}

/* The store's form of a prepared label, its note copied out of the write's key buffer. */
static void job_label(const slice_t *s, const job_label_t *jl, rg_label_t *l) {
  *l = (rg_label_t){.verdict = jl->verdict,
                    .source = jl->source,
                    .weight = jl->weight,
                    .ts = jl->ts,
                    .note_len = jl->note_len};
  if (jl->note_len)
    memcpy(l->note, s->keys.data + jl->note_off, jl->note_len); /* keys may be empty */
  l->note[jl->note_len] = '\0';
}

/* ingest and label: every actor upserted once, then the edges, then the labels. */
static int apply_ingest(rg_txn_t *t, rg_writer_req_t *head) {
  ingest_write_t *w = (ingest_write_t *)head;
  slice_t *s = &w->slices[w->cur];
  rg_actor_t a;
  int rc = RG_OK;
  for (uint32_t i = 0; i < s->n_actors && !rc; i++) {
    job_actor_t *ja = &s->actors[i];
    job_actor(s, i, &a);
    rc = rg_store_upsert_actor(t, &a, ja->ts, ja->ts_last, ja->messages, &ja->id);
    if (!rc && ja->submissions) rc = rg_store_add_submissions(t, ja->id, ja->submissions);
  }
  for (uint32_t i = 0; i < s->n_edges && !rc; i++) {
    const job_edge_t *je = &s->edges[i];
    rc = rg_store_add_edge(t, s->actors[je->src].id, je->kind, s->actors[je->dst].id, je->ts,
                           je->weight, je->count);
  }
  for (uint32_t i = 0; i < s->n_labels && !rc; i++) {
    rg_label_t l;
    job_label(s, &s->labels[i], &l);
    rc = rg_store_put_label(t, s->actors[s->labels[i].actor].id, &l);
  }
  return rc;
}

/* forget and unlabel: each named actor the store has is forgotten (its edges, labels and
 * scores go) or has its current label retracted (kept in its history); unknown actors, and
 * for unlabel unlabelled ones, are skipped. */
static int apply_to_stored(rg_txn_t *t, rg_writer_req_t *head) {
  ingest_write_t *w = (ingest_write_t *)head;
  slice_t *s = &w->slices[w->cur];
  rg_actor_t a;
  int rc = RG_OK;
  w->forgotten = 0;
  for (uint32_t i = 0; i < s->n_actors && !rc; i++) {
    uint64_t id;
    job_actor(s, i, &a);
    rc = rg_store_find_actor(t, &a, &id);
    if (!rc && w->base.op == RG_OP_FORGET)
      rc = rg_store_forget(t, id);
    else if (!rc)
      rc = rg_store_unlabel(t, id, w->retraction.ts,
                            (const char *)s->keys.data + w->retraction.note_off,
                            w->retraction.note_len);
    if (!rc) w->forgotten++;
    if (rc == RG_ENOT_FOUND) rc = RG_OK;
  }
  return rc;
}

/* ---- replies ------------------------------------------------------------------------ */

static void write_rejects(rg_wr_t *wr, const ingest_write_t *w) {
  rg_wr_str(wr, "rejected");
  rg_wr_array(wr, w->n_rejects);
  for (uint32_t i = 0; i < w->n_rejects; i++) {
    const reject_t *r = &w->rejects[i];
    rg_wr_map(wr, 4);
    rg_wr_str(wr, "item");
    rg_wr_str(wr, item_names[r->item]);
    rg_wr_str(wr, "index");
    rg_wr_uint(wr, r->index);
    rg_wr_str(wr, "code");
    rg_wr_str(wr, rg_err_name(r->code));
    rg_wr_str(wr, "message");
    rg_wr_str(wr, r->message);
  }
}

static void ingest_reply(const rg_write_t *base, rg_wr_t *wr) {
  const ingest_write_t *w = (const ingest_write_t *)base;
  bool counted = base->op == RG_OP_FORGET || base->op == RG_OP_UNLABEL;
  rg_wr_reply(wr, base->has_id, base->id, w->guarded ? 6 : counted ? 4 : 3);
  rg_wr_str(wr, "accepted");
  rg_wr_uint(wr, w->accepted);
  rg_wr_str(wr, "rejected_count");
  rg_wr_uint(wr, w->n_rejected);
  if (counted) {
    rg_wr_str(wr, base->op == RG_OP_FORGET ? "forgotten" : "retracted");
    rg_wr_uint(wr, w->forgotten);
  }
  write_rejects(wr, w);
  if (w->guarded) rg__label_cluster_write_skips(wr, &w->skips);
}

void rg__ingest_reply_skips(rg_write_t *base, const rg__guard_skips_t *s) {
  ingest_write_t *w = (ingest_write_t *)base;
  w->guarded = true;
  w->skips = *s;
}

/* ---- the entry point ---------------------------------------------------------------- */

/* Counts what a committed slice wrote, for /metrics. */
static void count_committed(rg_metrics_t *m, const slice_t *s) {
  atomic_fetch_add(&m->ingested_observations, s->n_observations);
  atomic_fetch_add(&m->ingested_edges, s->n_edges);
  atomic_fetch_add(&m->ingested_labels, s->n_labels);
}

/* Loop thread: a slice committed. The next one is queued behind whatever other clients
 * queued meanwhile; after the last (or a failure, or at shutdown) the write is complete. A
 * write that fails after some of its slices committed keeps those (it was not
 * acknowledged; its reply is the error). */
static void on_slice_done(rg_writer_req_t *head) {
  ingest_write_t *w = (ingest_write_t *)head;
  if (!head->result) count_committed(&w->base.engine->metrics, &w->slices[w->cur]);
  if (!head->result && w->base.op == RG_OP_FORGET) /* stats retention.forgotten */
    atomic_fetch_add(&w->base.engine->metrics.forgotten_actors, w->forgotten);
  if (!head->result && w->cur + 1 < w->n_slices) {
    if (!w->base.engine->stopping) {
      w->cur++;
      rg__engine_submit(w->base.engine, &w->base);
      return;
    }
    head->result = RG_ESHUTTING_DOWN;
  }
  rg__engine_complete(&w->base);
}

int rg__ingest_prepare(rg_engine_t *e, const rg_request_t *req, rg_write_t **out, char *msg,
                       size_t cap) {
  ingest_write_t *w = calloc(1, sizeof *w);
  if (!w) return RG_ENOMEM;
  w->base = (rg_write_t){.engine = e,
                         .op = req->op,
                         .has_id = req->has_id,
                         .id = req->id,
                         .reply = ingest_reply,
                         .free = ingest_free};
  w->base.head.name = rg_op_name(req->op);
  w->base.head.done = on_slice_done;
  int64_t now = req->now ? req->now : rg_clock_now();
  int rc = open_slice(w);
  slice_t *first = rc ? NULL : current(w);
  if (!rc && req->n_labels && !(first->labels = calloc(req->n_labels, sizeof *first->labels)))
    rc = RG_ENOMEM;
  switch (req->op) {
    case RG_OP_INGEST:
      w->base.head.apply = apply_ingest;
      for (uint32_t i = 0; i < req->n_edges && !rc; i++)
        if (!(rc = open_slice(w))) rc = prepare_edge(e, w, &req->edges[i], i, now);
      for (uint32_t i = 0; i < req->n_observations && !rc; i++)
        if (!(rc = open_slice(w))) rc = prepare_observation(e, w, &req->observations[i], i, now);
      break;
    case RG_OP_LABEL:
      w->base.head.apply = apply_ingest;
      for (uint32_t i = 0; i < req->n_labels && !rc; i++)
        rc = prepare_label(e, w, &req->labels[i], i, now);
      break;
    case RG_OP_FORGET:
      w->base.head.apply = apply_to_stored;
      for (uint32_t i = 0; i < req->n_actors && !rc; i++) rc = prepare_forget(w, req->actors[i], i);
      break;
    case RG_OP_UNLABEL:
      w->base.head.apply = apply_to_stored;
      rc = prepare_unlabel(w, req, now);
      break;
    default: rc = RG_EINTERNAL;
  }
  if (rc) {
    ingest_free(&w->base);
    return rc;
  }
  /* these change only actor records, edges and labels: the store says which actors, and
   * cached lookups of the others stay (forget also changes what others' reasons name) */
  w->base.head.narrow = req->op != RG_OP_FORGET;
  w->base.sliced = w->n_slices > 1;
  *out = &w->base;
  return RG_OK;
}
