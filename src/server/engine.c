/* engine.c — ops over the store: reads answered on the loop thread from a read
 * transaction; writes normalised on the loop thread, committed in groups by one writer
 * thread, acknowledged on the loop thread (uv_async) only after their commit. */
#include "repgraph/engine.h"

#include "engine_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/actor.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/score.h"

#define REJECTS_REPORTED 1000 /* per request; the count covers the rest */

enum { ITEM_EDGES, ITEM_OBSERVATIONS, ITEM_LABELS, ITEM_ACTORS };
static const char *const item_names[] = {"edges", "observations", "labels", "actors"};

/* An actor named by a write, its identifier packed in the write's key buffer. */
typedef struct job_actor {
  uint32_t key_off;
  uint16_t key_len;
  uint8_t type;
  uint64_t messages;
  int64_t ts, ts_last; /* earliest and latest time the write names it */
  uint64_t id;         /* set by the writer */
} job_actor_t;

typedef struct job_edge {
  uint32_t src, dst; /* indexes into actors */
  rg_edge_kind_t kind;
  int64_t ts;
  double weight;
  uint64_t count;
} job_edge_t;

typedef struct job_label {
  uint32_t actor;
  rg_verdict_t verdict;
  rg_label_source_t source;
  double weight;
  int64_t ts;
  uint32_t note_off;
  uint16_t note_len;
} job_label_t;

typedef struct reject {
  uint8_t item;
  uint32_t index;
  int code;
  char message[160];
} reject_t;

/* ---- building a write on the loop thread ------------------------------------------- */

void rg__write_free(rg_write_t *w) {
  if (!w) return;
  rg_buf_free(&w->keys);
  free(w->actors);
  free(w->actor_slots);
  free(w->edges);
  free(w->labels);
  free(w->rejects);
  free(w);
}

rg_write_t *rg__write_new(rg_engine_t *e, rg_op_t op) {
  rg_write_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->engine = e;
  w->op = op;
  rg_buf_init(&w->keys, UINT32_MAX);
  return w;
}

void rg__engine_enqueue(rg_engine_t *e, rg_write_t *w) {
  w->queued_us = rg_clock_mono_us();
  atomic_fetch_add(&e->metrics.write_queue_depth, 1);
  pthread_mutex_lock(&e->lock);
  if (e->queue_tail)
    e->queue_tail->next = w;
  else
    e->queue_head = w;
  e->queue_tail = w;
  pthread_cond_signal(&e->wake);
  pthread_mutex_unlock(&e->lock);
}

static int grow_array(void **p, uint32_t *cap, uint32_t need, size_t size) {
  if (need <= *cap) return RG_OK;
  uint32_t n = *cap ? *cap : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, (size_t)n * size);
  if (!q) return RG_ENOMEM;
  *p = q;
  *cap = n;
  return RG_OK;
}

/* SipHash (libsodium) under the engine's random key: a client cannot craft actors that
 * all land in one slot of a write's hash and stall the loop thread. */
static uint32_t actor_hash(const rg_engine_t *e, uint8_t type, const uint8_t *key, size_t len) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, key, len, e->actor_hash_key);
  uint64_t v;
  memcpy(&v, h, sizeof v);
  return (uint32_t)((v + type * UINT64_C(0x9E3779B97F4A7C15)) >> 32);
}

/* The slot of the actor (type, key) in the write's hash: its index + 1, or 0 where it
 * would go. */
static uint32_t *actor_slot(rg_write_t *w, uint8_t type, const uint8_t *key, size_t len) {
  uint32_t mask = w->n_slots - 1, i = actor_hash(w->engine, type, key, len) & mask;
  for (;; i = (i + 1) & mask) {
    uint32_t s = w->actor_slots[i];
    if (!s) return &w->actor_slots[i];
    const job_actor_t *ja = &w->actors[s - 1];
    if (ja->type == type && ja->key_len == len && memcmp(w->keys.data + ja->key_off, key, len) == 0)
      return &w->actor_slots[i];
  }
}

/* Keeps the hash at most half full. */
static int grow_slots(rg_write_t *w) {
  if (2 * (w->n_actors + 1) <= w->n_slots) return RG_OK;
  uint32_t n = w->n_slots ? 2 * w->n_slots : 64;
  uint32_t *old = w->actor_slots;
  if (!(w->actor_slots = calloc(n, sizeof *w->actor_slots))) {
    w->actor_slots = old;
    return RG_ENOMEM;
  }
  w->n_slots = n;
  free(old);
  for (uint32_t i = 0; i < w->n_actors; i++) {
    const job_actor_t *ja = &w->actors[i];
    *actor_slot(w, ja->type, w->keys.data + ja->key_off, ja->key_len) = i + 1;
  }
  return RG_OK;
}

/* Adds a normalised actor to the write, once: an actor named again has its messages added
 * and its time span widened, so the writer updates each actor once per write. *index
 * receives its position. */
static int add_actor(rg_write_t *w, const rg_actor_t *a, int64_t ts, uint64_t messages,
                     uint32_t *index) {
  int rc = grow_slots(w);
  if (rc) return rc;
  uint32_t *slot = actor_slot(w, (uint8_t)a->type, (const uint8_t *)a->key, a->len);
  if (*slot) {
    job_actor_t *ja = &w->actors[*slot - 1];
    ja->messages += messages;
    if (ts < ja->ts) ja->ts = ts;
    if (ts > ja->ts_last) ja->ts_last = ts;
    *index = *slot - 1;
    return RG_OK;
  }
  if ((rc = grow_array((void **)&w->actors, &w->cap_actors, w->n_actors + 1, sizeof *w->actors)))
    return rc;
  uint32_t off = (uint32_t)w->keys.len;
  if ((rc = rg_buf_append(&w->keys, a->key, a->len))) return rc;
  w->actors[w->n_actors] = (job_actor_t){off, a->len, (uint8_t)a->type, messages, ts, ts, 0};
  *index = w->n_actors++;
  *slot = w->n_actors;
  return RG_OK;
}

static int add_edge(rg_write_t *w, uint32_t src, rg_edge_kind_t kind, uint32_t dst, int64_t ts,
                    double weight, uint64_t count) {
  int rc = grow_array((void **)&w->edges, &w->cap_edges, w->n_edges + 1, sizeof *w->edges);
  if (rc) return rc;
  w->edges[w->n_edges++] = (job_edge_t){src, dst, kind, ts, weight, count};
  return RG_OK;
}

static void reject(rg_write_t *w, uint8_t item, uint32_t index, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void reject(rg_write_t *w, uint8_t item, uint32_t index, int code, const char *fmt, ...) {
  w->n_rejected++;
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

/* Normalises a "type:identifier" (typed = false) or a bare identifier of `type`. On failure
 * writes "<field>: <reason>" into msg. */
int rg__actor_from_wire(rg_str_t s, bool typed, rg_actor_type_t type, const char *field,
                        rg_actor_t *out, char *msg, size_t cap) {
  const char *reason = NULL;
  int rc = typed ? rg_actor_parse(s.ptr, s.len, out, &reason)
                 : rg_actor_normalize(type, s.ptr, s.len, out, &reason);
  if (rc)
    snprintf(msg, cap, "%s: '%.*s' is not a valid %s: %s", field, (int)(s.len > 80 ? 80 : s.len),
             s.ptr, typed ? "actor" : rg_actor_type_name(type), reason ? reason : "invalid");
  return rc;
}

static int prepare_edge(rg_engine_t *e, rg_write_t *w, const rg_wire_edge_t *we, uint32_t i,
                        int64_t now) {
  rg_actor_t src, dst;
  rg_edge_kind_t kind;
  char msg[160];
  if (rg_edge_kind_parse(we->kind.ptr, we->kind.len, &kind) != RG_OK) {
    reject(w, ITEM_EDGES, i, RG_EINVALID_EDGE, "kind: unknown edge kind '%.*s'",
           (int)(we->kind.len > 40 ? 40 : we->kind.len), we->kind.ptr);
    return RG_OK;
  }
  if (rg__actor_from_wire(we->src, true, 0, "src", &src, msg, sizeof msg) ||
      rg__actor_from_wire(we->dst, true, 0, "dst", &dst, msg, sizeof msg)) {
    reject(w, ITEM_EDGES, i, RG_EINVALID_ACTOR, "%s", msg);
    return RG_OK;
  }
  if (!rg_edge_kind_fits(kind, src.type, dst.type)) {
    reject(w, ITEM_EDGES, i, RG_EINVALID_EDGE, "kind: %s does not connect %s to %s",
           rg_edge_kind_name(kind), rg_actor_type_name(src.type), rg_actor_type_name(dst.type));
    return RG_OK;
  }
  int64_t ts = we->ts ? we->ts : now;
  uint32_t si, di;
  int rc = add_actor(w, &src, ts, we->count, &si);
  if (!rc) rc = add_actor(w, &dst, ts, we->count, &di);
  if (!rc) rc = add_edge(w, si, kind, di, ts, we->weight, we->count);
  if (!rc) w->accepted++;
  (void)e;
  return rc;
}

/* Expands one observation into actors and edges (see DESIGN.md "observation"). An invalid
 * sender, client IP or recipient rejects the observation; an invalid HELO only drops the
 * helo edge (HELO names are often junk and say little). */
static int prepare_observation(rg_engine_t *e, rg_write_t *w, const rg_wire_observation_t *o,
                               uint32_t i, int64_t now) {
  rg_actor_t sender, ip, net, domain, helo, rcpt;
  char msg[160];
  if (rg__actor_from_wire(o->sender, false, RG_ACTOR_ADDRESS, "sender", &sender, msg, sizeof msg) ||
      rg__actor_from_wire(o->client_ip, false, RG_ACTOR_IP, "client_ip", &ip, msg, sizeof msg)) {
    reject(w, ITEM_OBSERVATIONS, i, RG_EINVALID_ACTOR, "%s", msg);
    return RG_OK;
  }
  for (uint32_t j = 0; j < o->n_recipients; j++) {
    char field[32];
    snprintf(field, sizeof field, "recipients[%u]", j);
    if (rg__actor_from_wire(o->recipients[j], false, RG_ACTOR_ADDRESS, field, &rcpt, msg,
                            sizeof msg)) {
      reject(w, ITEM_OBSERVATIONS, i, RG_EINVALID_ACTOR, "%s", msg);
      return RG_OK;
    }
  }
  if (rg_actor_net_of(&ip, e->cfg.net_prefix_v4, e->cfg.net_prefix_v6, &net) ||
      rg_actor_domain_of(&sender, &domain)) {
    reject(w, ITEM_OBSERVATIONS, i, RG_EINVALID_ACTOR, "sender: cannot derive net or domain");
    return RG_OK;
  }
  bool has_helo = o->helo.len > 0 &&
                  rg_actor_normalize(RG_ACTOR_DOMAIN, o->helo.ptr, o->helo.len, &helo, NULL) == 0;
  int64_t ts = o->ts ? o->ts : now;
  uint32_t si, ii, ni, di, hi = 0, ri;
  int rc = add_actor(w, &sender, ts, 1, &si);
  if (!rc) rc = add_actor(w, &ip, ts, 1, &ii);
  if (!rc) rc = add_actor(w, &net, ts, 1, &ni);
  if (!rc) rc = add_actor(w, &domain, ts, 1, &di);
  if (!rc && has_helo) rc = add_actor(w, &helo, ts, 1, &hi);
  if (!rc) rc = add_edge(w, si, RG_EDGE_SENT_FROM, ii, ts, 1, 1);
  if (!rc) rc = add_edge(w, ii, RG_EDGE_IN_NET, ni, ts, 1, 1);
  if (!rc) rc = add_edge(w, si, RG_EDGE_USES_DOMAIN, di, ts, 1, 1);
  if (!rc && has_helo) rc = add_edge(w, ii, RG_EDGE_HELO, hi, ts, 1, 1);
  for (uint32_t j = 0; j < o->n_recipients && !rc; j++) {
    rg__actor_from_wire(o->recipients[j], false, RG_ACTOR_ADDRESS, "", &rcpt, msg, sizeof msg);
    rc = add_actor(w, &rcpt, ts, 1, &ri);
    if (!rc) rc = add_edge(w, si, RG_EDGE_MAILED, ri, ts, 1, 1);
  }
  if (!rc) w->accepted++;
  return rc;
}

/* Copies a note, cut at RG_LABEL_NOTE_MAX, to the write's key buffer: *off and *len say
 * where. 0 or the buffer's error. */
static int append_note(rg_write_t *w, rg_str_t note, uint32_t *off, uint16_t *len) {
  *off = (uint32_t)w->keys.len;
  *len = (uint16_t)(note.len > RG_LABEL_NOTE_MAX ? RG_LABEL_NOTE_MAX : note.len);
  return rg_buf_append(&w->keys, note.ptr, *len);
}

/* Fills the verdict, source, weight, time and note of a label; the note goes to the write's
 * key buffer. RG_EINVALID_LABEL with a message in msg, or a buffer error. */
static int label_from_wire(rg_engine_t *e, rg_write_t *w, const rg_wire_label_t *wl, int64_t now,
                           job_label_t *l, char *msg, size_t cap) {
  if (rg_verdict_parse(wl->verdict.ptr, wl->verdict.len, &l->verdict)) {
    snprintf(msg, cap, "verdict: expected bad or good");
    return RG_EINVALID_LABEL;
  }
  l->source = RG_SOURCE_ANALYST;
  if (wl->source.len && rg_label_source_parse(wl->source.ptr, wl->source.len, &l->source)) {
    snprintf(msg, cap, "source: expected analyst, user_report, spam_trap, allowlist or feed");
    return RG_EINVALID_LABEL;
  }
  l->weight = wl->weight >= 0 ? wl->weight : e->cfg.label_weight[l->source];
  l->ts = wl->ts ? wl->ts : now;
  return append_note(w, wl->note, &l->note_off, &l->note_len);
}

static int prepare_label(rg_engine_t *e, rg_write_t *w, const rg_wire_label_t *wl, uint32_t i,
                         int64_t now) {
  rg_actor_t a;
  char msg[160];
  job_label_t l = {0};
  if (rg__actor_from_wire(wl->actor, true, 0, "actor", &a, msg, sizeof msg)) {
    reject(w, ITEM_LABELS, i, RG_EINVALID_ACTOR, "%s", msg);
    return RG_OK;
  }
  int rc = label_from_wire(e, w, wl, now, &l, msg, sizeof msg);
  if (rc == RG_EINVALID_LABEL) {
    reject(w, ITEM_LABELS, i, RG_EINVALID_LABEL, "%s", msg);
    return RG_OK;
  }
  if (!rc) rc = add_actor(w, &a, l.ts, 0, &l.actor);
  if (rc) return rc;
  w->labels[w->n_labels++] = l;
  w->accepted++;
  return RG_OK;
}

/* label_cluster: one label for every member of a cluster of the current generation; the
 * writer finds the members. Errors reject the request as a whole, with a message. */
static int prepare_label_cluster(rg_engine_t *e, rg_write_t *w, const rg_request_t *req,
                                 int64_t now, char *msg, size_t cap) {
  job_label_t l = {0};
  int rc = label_from_wire(e, w, &req->label, now, &l, msg, cap);
  if (rc) return rc;
  if (!(w->labels = calloc(1, sizeof *w->labels))) return RG_ENOMEM;
  w->labels[w->n_labels++] = l;
  w->cluster = req->cluster;
  w->generation = req->generation;
  w->solo = true; /* a large cluster makes a large transaction */
  rg_txn_t *t;
  rg_generation_t g;
  rc = rg_store_read_begin(e->store, &t);
  if (rc) return rc;
  const rg_generation_t *gen = rg__current_generation(t, &g, &rc);
  rg_cluster_t c;
  if (!rc && !gen) {
    rc = RG_ENOT_FOUND;
    snprintf(msg, cap, "no clusters yet: recompute first");
  } else if (!rc && req->generation && req->generation != gen->generation) {
    rc = RG_ENOT_FOUND;
    snprintf(msg, cap, "generation %llu is no longer current (now %llu): list clusters again",
             (unsigned long long)req->generation, (unsigned long long)gen->generation);
  } else if (!rc &&
             (rc = rg_store_get_cluster(t, gen->generation, req->cluster, &c)) == RG_ENOT_FOUND) {
    snprintf(msg, cap, "cluster %llu does not exist in generation %llu",
             (unsigned long long)req->cluster, (unsigned long long)gen->generation);
  } else if (!rc && c.size > e->cfg.max_label_cluster) {
    rc = RG_ETOO_LARGE;
    snprintf(msg, cap,
             "cluster %llu has %llu members, more than limits.max_label_cluster (%u): export it "
             "and label it with `repgraph label --file` in batches",
             (unsigned long long)req->cluster, (unsigned long long)c.size,
             e->cfg.max_label_cluster);
  }
  if (!rc) w->generation = gen->generation;
  rg_txn_end(t);
  return rc;
}

static int prepare_forget(rg_write_t *w, rg_str_t s, uint32_t i) {
  rg_actor_t a;
  char msg[160];
  uint32_t index;
  if (rg__actor_from_wire(s, true, 0, "actor", &a, msg, sizeof msg)) {
    reject(w, ITEM_ACTORS, i, RG_EINVALID_ACTOR, "%s", msg);
    return RG_OK;
  }
  int rc = add_actor(w, &a, 0, 0, &index);
  if (!rc) w->accepted++;
  return rc;
}

static int prepare_unlabel(rg_write_t *w, const rg_request_t *req, int64_t now) {
  w->unlabel_ts = req->label.ts ? req->label.ts : now;
  int rc = append_note(w, req->label.note, &w->note_off, &w->note_len);
  for (uint32_t i = 0; i < req->n_actors && !rc; i++) rc = prepare_forget(w, req->actors[i], i);
  return rc;
}

/* Builds the write for a request; items that fail validation are recorded as rejects. A
 * request rejected as a whole gets its reason in msg. */
static int prepare_write(rg_engine_t *e, const rg_request_t *req, rg_write_t **out, char *msg,
                         size_t cap) {
  rg_write_t *w = rg__write_new(e, req->op);
  if (!w) return RG_ENOMEM;
  w->has_id = req->has_id;
  w->id = req->id;
  int64_t now = rg_clock_now();
  int rc = RG_OK;
  if (req->n_labels && !(w->labels = calloc(req->n_labels, sizeof *w->labels))) rc = RG_ENOMEM;
  switch (req->op) {
    case RG_OP_INGEST:
      for (uint32_t i = 0; i < req->n_edges && !rc; i++)
        rc = prepare_edge(e, w, &req->edges[i], i, now);
      for (uint32_t i = 0; i < req->n_observations && !rc; i++)
        rc = prepare_observation(e, w, &req->observations[i], i, now);
      break;
    case RG_OP_LABEL:
      for (uint32_t i = 0; i < req->n_labels && !rc; i++)
        rc = prepare_label(e, w, &req->labels[i], i, now);
      break;
    case RG_OP_FORGET:
      for (uint32_t i = 0; i < req->n_actors && !rc; i++) rc = prepare_forget(w, req->actors[i], i);
      break;
    case RG_OP_LABEL_CLUSTER: rc = prepare_label_cluster(e, w, req, now, msg, cap); break;
    case RG_OP_UNLABEL: rc = prepare_unlabel(w, req, now); break;
    default: rc = RG_EINTERNAL;
  }
  if (rc) {
    rg__write_free(w);
    return rc;
  }
  *out = w;
  return RG_OK;
}

/* ---- applying writes on the writer thread ------------------------------------------ */

static void job_actor(const rg_write_t *w, uint32_t i, rg_actor_t *a) {
  const job_actor_t *ja = &w->actors[i];
  a->type = (rg_actor_type_t)ja->type;
  a->len = ja->key_len;
  memcpy(a->key, w->keys.data + ja->key_off, ja->key_len);
  a->key[ja->key_len] = '\0';
}

/* Collects member ids into a growable array (label_cluster). */
typedef struct {
  uint64_t *ids;
  uint32_t n, cap;
} id_list_t;

static int collect_member(void *ctx, uint64_t actor, double value) {
  id_list_t *l = ctx;
  (void)value;
  int rc = grow_array((void **)&l->ids, &l->cap, l->n + 1, sizeof *l->ids);
  if (!rc) l->ids[l->n++] = actor;
  return rc;
}

/* Labels every member of the cluster; the generation must still be current. */
static int apply_label_cluster(rg_txn_t *t, rg_write_t *w, const rg_label_t *l) {
  rg_generation_t g;
  int rc = rg_store_get_generation(t, &g);
  if (!rc && g.generation != w->generation) { /* a recompute came between */
    rc = RG_ENOT_FOUND;
    snprintf(w->summary.error, sizeof w->summary.error,
             "generation %llu is no longer current (now %llu): list clusters again",
             (unsigned long long)w->generation, (unsigned long long)g.generation);
  }
  id_list_t members = {0};
  if (!rc) rc = rg_store_scan_members(t, g.generation, w->cluster, 0, collect_member, &members);
  w->accepted = 0;
  for (uint32_t i = 0; i < members.n && !rc; i++) {
    rc = rg_store_put_label(t, members.ids[i], l);
    if (rc == RG_ENOT_FOUND)
      rc = RG_OK; /* forgotten since the recomputation */
    else if (!rc)
      w->accepted++;
  }
  free(members.ids);
  return rc;
}

static int apply_write(rg_txn_t *t, rg_write_t *w) {
  if (w->publish) return rg__recompute_apply(t, w);
  rg_actor_t a;
  int rc = RG_OK;
  w->forgotten = 0;
  if (w->op == RG_OP_UNLABEL) {
    for (uint32_t i = 0; i < w->n_actors && !rc; i++) {
      uint64_t id;
      job_actor(w, i, &a);
      rc = rg_store_find_actor(t, &a, &id);
      if (!rc)
        rc = rg_store_unlabel(t, id, w->unlabel_ts, (const char *)w->keys.data + w->note_off,
                              w->note_len);
      if (!rc) w->forgotten++;
      if (rc == RG_ENOT_FOUND) rc = RG_OK; /* unknown or unlabelled: nothing to retract */
    }
    return rc;
  }
  if (w->op == RG_OP_FORGET) {
    for (uint32_t i = 0; i < w->n_actors && !rc; i++) {
      uint64_t id;
      job_actor(w, i, &a);
      rc = rg_store_find_actor(t, &a, &id);
      if (rc == RG_ENOT_FOUND) {
        rc = RG_OK;
        continue;
      }
      if (!rc) rc = rg_store_forget(t, id);
      if (!rc) w->forgotten++;
    }
    return rc;
  }
  for (uint32_t i = 0; i < w->n_actors && !rc; i++) {
    job_actor_t *ja = &w->actors[i];
    job_actor(w, i, &a);
    rc = rg_store_upsert_actor(t, &a, ja->ts, ja->ts_last, ja->messages, &ja->id);
  }
  for (uint32_t i = 0; i < w->n_edges && !rc; i++) {
    const job_edge_t *je = &w->edges[i];
    rc = rg_store_add_edge(t, w->actors[je->src].id, je->kind, w->actors[je->dst].id, je->ts,
                           je->weight, je->count);
  }
  for (uint32_t i = 0; i < w->n_labels && !rc; i++) {
    const job_label_t *jl = &w->labels[i];
    rg_label_t l = {.verdict = jl->verdict,
                    .source = jl->source,
                    .weight = jl->weight,
                    .ts = jl->ts,
                    .note_len = jl->note_len};
    if (jl->note_len)
      memcpy(l.note, w->keys.data + jl->note_off, jl->note_len); /* keys may be empty */
    l.note[jl->note_len] = '\0';
    if (w->op == RG_OP_LABEL_CLUSTER) return apply_label_cluster(t, w, &l);
    rc = rg_store_put_label(t, w->actors[jl->actor].id, &l);
  }
  return rc;
}

/* Applies writes [first..] in one transaction. With `nested`, each write runs in a nested
 * transaction so a failing write is undone alone. Without, all run in the one transaction
 * (nested transactions copy every page they touch: the common case should not pay that);
 * if a write fails other than by a full map, nothing is committed and *redo asks for the
 * nested way. Returns RG_ESTORAGE_FULL if the map filled (nothing committed). */
static int commit_group(rg_engine_t *e, rg_write_t *first, bool nested, bool *redo) {
  rg_txn_t *t, *sub;
  *redo = false;
  int rc = rg_store_write_begin(e->store, &t);
  if (rc) return rc;
  for (rg_write_t *w = first; w; w = w->next) {
    if (!nested) {
      w->result = apply_write(t, w);
      if (w->result == RG_ESTORAGE_FULL)
        rc = RG_ESTORAGE_FULL;
      else if (w->result)
        *redo = true;
      if (w->result) break;
      continue;
    }
    if ((rc = rg_store_nested_begin(t, &sub))) break;
    w->result = apply_write(sub, w);
    if (w->result == RG_OK) {
      w->result = rg_txn_commit(sub);
    } else {
      rg_txn_end(sub);
    }
    if (w->result == RG_ESTORAGE_FULL) {
      rc = RG_ESTORAGE_FULL;
      break;
    }
    if (w->result)
      rg_log_error("writer: %s request failed: %s", rg_op_name(w->op), rg_strerror(w->result));
  }
  if (rc || *redo) {
    rg_txn_end(t);
    return rc;
  }
  return rg_txn_commit(t);
}

/* Commits a group, growing the map when it fills. When the map cannot grow any more, each
 * write is retried alone so the ones that still fit are kept; the rest get storage_full. */
/* One try at a group: the fast way, then the nested way if a write failed. */
static int commit_attempt(rg_engine_t *e, rg_write_t *group) {
  bool redo;
  int rc = commit_group(e, group, false, &redo);
  if (rc == RG_OK && redo) rc = commit_group(e, group, true, &redo);
  return rc;
}

static void commit_with_growth(rg_engine_t *e, rg_write_t *group) {
  int rc;
  while ((rc = commit_attempt(e, group)) == RG_ESTORAGE_FULL) {
    if (rg_store_grow(e->store) == RG_OK) continue;
    if (!group->next) break;
    for (rg_write_t *w = group, *next; w; w = next) {
      next = w->next;
      w->next = NULL;
      commit_with_growth(e, w);
      w->next = next;
    }
    return;
  }
  if (rc) {
    if (rc == RG_ESTORAGE_FULL) rg_log_warn("writer: store is full at store.map_max");
    for (rg_write_t *w = group; w; w = w->next) w->result = rc;
  }
}

static void *writer_main(void *arg) {
  rg_engine_t *e = arg;
  pthread_mutex_lock(&e->lock);
  for (;;) {
    while (!e->queue_head && !e->stopping) pthread_cond_wait(&e->wake, &e->lock);
    if (!e->queue_head) break;
    /* A group: up to commit_max_requests writes; a solo write goes alone. */
    rg_write_t *group = e->queue_head, *last = group;
    uint32_t n = 1;
    while (!last->solo && last->next && !last->next->solo && n < e->cfg.commit_max_requests)
      last = last->next, n++;
    e->queue_head = last->next;
    if (!e->queue_head) e->queue_tail = NULL;
    last->next = NULL;
    pthread_mutex_unlock(&e->lock);

    uint64_t t0 = rg_clock_mono_us();
    commit_with_growth(e, group);
    for (rg_write_t *w = group; w; w = w->next)
      if (w->publish && w->result) rg__recompute_step_failed(w);
    rg_hist_add(&e->metrics.commit_latency, rg_clock_mono_us() - t0);
    atomic_fetch_add(&e->metrics.commits, 1);
    atomic_fetch_add(&e->metrics.committed_writes, n);
    atomic_fetch_sub(&e->metrics.write_queue_depth, n);

    pthread_mutex_lock(&e->lock);
    if (e->done_tail)
      e->done_tail->next = group;
    else
      e->done_head = group;
    e->done_tail = last;
    uv_async_send(&e->done_async);
  }
  pthread_mutex_unlock(&e->lock);
  return NULL;
}

/* ---- reads: one transaction per batch of requests ---------------------------------- */

static void drop_batch_txn(rg_engine_t *e) {
  if (!e->batch_txn) return;
  rg_txn_end(e->batch_txn);
  e->batch_txn = NULL;
}

void rg_engine_batch_begin(rg_engine_t *e) {
  e->batch_depth++;
}

void rg_engine_batch_end(rg_engine_t *e) {
  if (e->batch_depth && --e->batch_depth == 0) drop_batch_txn(e);
}

/* A read transaction: the batch's (opened now if needed) or, outside a batch, a new one.
 * End it with read_end. 0 or the store's error. */
static int read_begin(rg_engine_t *e, rg_txn_t **t) {
  if (!e->batch_depth) return rg_store_read_begin(e->store, t);
  if (!e->batch_txn) {
    int rc = rg_store_read_begin(e->store, &e->batch_txn);
    if (rc) return rc;
  }
  *t = e->batch_txn;
  return RG_OK;
}

static void read_end(rg_engine_t *e, rg_txn_t *t) {
  if (t != e->batch_txn) rg_txn_end(t);
}

/* Loop thread: hands committed writes to their owners, in commit order. */
static void deliver_done(rg_engine_t *e) {
  drop_batch_txn(e); /* reads from now on must see these writes */
  pthread_mutex_lock(&e->lock);
  rg_write_t *w = e->done_head;
  e->done_head = e->done_tail = NULL;
  pthread_mutex_unlock(&e->lock);
  while (w) {
    rg_write_t *next = w->next;
    w->next = NULL;
    rg_hist_add(&e->metrics.latency[w->op], rg_clock_mono_us() - w->queued_us);
    w->done(w, w->ctx);
    w = next;
  }
}

static void on_done_async(uv_async_t *h) {
  deliver_done(h->data);
}

/* ---- replies ------------------------------------------------------------------------ */

static void write_rejects(rg_wr_t *wr, const rg_write_t *w) {
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

int rg_engine_finish_write(rg_write_t *w, rg_buf_t *out) {
  int rc = RG_OK;
  if (out && w->result) {
    rc = rg_proto_write_error(
        out, w->has_id, w->id, w->result,
        w->op == RG_OP_RECOMPUTE || w->summary.error[0] ? w->summary.error : NULL);
  } else if (out && w->op == RG_OP_RECOMPUTE) {
    rg_wr_t wr;
    rg_wr_begin(&wr, out);
    rg__recompute_reply(&wr, w);
    rc = rg_wr_end(&wr);
  } else if (out) {
    rg_wr_t wr;
    rg_wr_begin(&wr, out);
    bool counted = w->op == RG_OP_FORGET || w->op == RG_OP_UNLABEL;
    rg_wr_reply(&wr, w->has_id, w->id, counted ? 4 : 3);
    rg_wr_str(&wr, "accepted");
    rg_wr_uint(&wr, w->accepted);
    rg_wr_str(&wr, "rejected_count");
    rg_wr_uint(&wr, w->n_rejected);
    if (counted) {
      rg_wr_str(&wr, w->op == RG_OP_FORGET ? "forgotten" : "retracted");
      rg_wr_uint(&wr, w->forgotten);
    }
    write_rejects(&wr, w);
    rc = rg_wr_end(&wr);
  }
  if (out && w->result) rg_metrics_error(&w->engine->metrics, w->result);
  rg__write_free(w);
  return rc;
}

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
    "reputation", "band",    "propagated", "cluster",    "cluster_suspicion",
    "anomaly",    "reasons", "generation", "computed_at"};
#define N_SCORE_FIELDS (sizeof score_fields / sizeof score_fields[0])
#define LOOKUP_FIELDS  (12 + N_SCORE_FIELDS)

static void write_reasons(rg_txn_t *t, const rg_score_t *sc, int64_t now, rg_wr_t *wr) {
  rg_wr_array(wr, sc->n_reasons);
  for (unsigned i = 0; i < sc->n_reasons; i++) {
    const rg_reason_t *r = &sc->reasons[i];
    char actor[RG_ACTOR_TEXT_MAX], text[256];
    bool has_actor = false;
    rg_actor_rec_t rec;
    if (r->code == RG_REASON_BAD_NEIGHBOUR && rg_store_get_actor(t, r->aux, now, &rec) == RG_OK)
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
static int read_score(rg_txn_t *t, const rg_generation_t *gen, bool known, uint64_t id,
                      rg_score_t *sc) {
  if (!gen || !known) return RG_ENOT_FOUND;
  return rg_store_get_score(t, gen->generation, id, sc);
}

static int write_scores(rg_txn_t *t, const rg_generation_t *gen, bool known, uint64_t id,
                        int64_t now, rg_wr_t *wr) {
  rg_score_t sc;
  int rc = read_score(t, gen, known, id, &sc);
  if (rc && rc != RG_ENOT_FOUND) return rc;
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
  return RG_OK;
}

static int lookup_one(rg_txn_t *t, const rg_generation_t *gen, rg_str_t s, int64_t now,
                      rg_wr_t *wr) {
  rg_actor_t a;
  char msg[160], text[RG_ACTOR_TEXT_MAX];
  if (rg__actor_from_wire(s, true, 0, "actor", &a, msg, sizeof msg)) {
    rg_wr_map(wr, 2);
    rg_wr_str(wr, "actor");
    rg_wr_strn(wr, s.ptr, s.len);
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
    write_counts(wr, "out_degree", r.out_degree);
    write_counts(wr, "in_degree", r.in_degree);
    rg_wr_str(wr, "weight_out");
    rg_wr_double(wr, r.weight_out);
    rg_wr_str(wr, "weight_in");
    rg_wr_double(wr, r.weight_in);
  } else {
    static const char *const absent[] = {"first_seen", "last_seen",  "messages", "out_degree",
                                         "in_degree",  "weight_out", "weight_in"};
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
  return write_scores(t, gen, known, known ? id : 0, now, wr);
}

const rg_generation_t *rg__current_generation(rg_txn_t *t, rg_generation_t *g, int *rc) {
  *rc = rg_store_get_generation(t, g);
  if (*rc == RG_ENOT_FOUND) {
    *rc = RG_OK;
    return NULL;
  }
  return *rc ? NULL : g;
}

static int handle_lookup(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr) {
  rg_txn_t *t;
  rg_generation_t g;
  int rc = read_begin(e, &t);
  if (rc) return rc;
  const rg_generation_t *gen = rg__current_generation(t, &g, &rc);
  int64_t now = rg_clock_now();
  rg_wr_reply(wr, req->has_id, req->id, 1);
  rg_wr_str(wr, "results");
  rg_wr_array(wr, req->n_actors);
  for (uint32_t i = 0; i < req->n_actors && !rc; i++)
    rc = lookup_one(t, gen, req->actors[i], now, wr);
  read_end(e, t);
  return rc;
}

/* ---- check: a filter's question about one message ---------------------------------- */

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

static int handle_check(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr, char *msg,
                        size_t msglen) {
  const rg_wire_observation_t *o = &req->check;
  role_t roles[N_ROLES] = {{0}};
  if (rg__actor_from_wire(o->sender, false, RG_ACTOR_ADDRESS, "sender", &roles[ROLE_SENDER].actor,
                          msg, msglen) ||
      rg__actor_from_wire(o->client_ip, false, RG_ACTOR_IP, "client_ip",
                          &roles[ROLE_CLIENT_IP].actor, msg, msglen))
    return RG_EINVALID_ACTOR;
  for (uint32_t j = 0; j < o->n_recipients; j++) {
    rg_actor_t rcpt;
    if (rg__actor_from_wire(o->recipients[j], false, RG_ACTOR_ADDRESS, "recipients", &rcpt, msg,
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
      o->helo.len && rg_actor_normalize(RG_ACTOR_DOMAIN, o->helo.ptr, o->helo.len,
                                        &roles[ROLE_HELO].actor, NULL) == RG_OK;

  rg_txn_t *t;
  rg_generation_t g;
  int rc = read_begin(e, &t);
  if (rc) return rc;
  const rg_generation_t *gen = rg__current_generation(t, &g, &rc);
  int64_t now = rg_clock_now();
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
    rc = read_score(t, gen, true, r->id, &r->score);
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
      rg_wr_map(wr, 5 + N_SCORE_FIELDS);
      rg_wr_str(wr, "role"), rg_wr_str(wr, role_names[i]);
      rg_wr_str(wr, "actor"), rg_wr_str(wr, text);
      rg_wr_str(wr, "known"), rg_wr_bool(wr, r->known);
      rg_wr_str(wr, "messages"), r->known ? rg_wr_uint(wr, r->rec.messages) : rg_wr_nil(wr);
      rg_wr_str(wr, "enough_evidence"), rg_wr_bool(wr, r->evidence);
      rc = write_scores(t, gen, r->known, r->id, now, wr);
    }
  }
  read_end(e, t);
  return rc;
}

static void write_hist(rg_wr_t *wr, const rg_hist_t *h) {
  rg_wr_map(wr, 4);
  rg_wr_str(wr, "count");
  rg_wr_uint(wr, atomic_load(&h->count));
  rg_wr_str(wr, "p50_us");
  rg_wr_uint(wr, rg_hist_quantile(h, 0.5));
  rg_wr_str(wr, "p99_us");
  rg_wr_uint(wr, rg_hist_quantile(h, 0.99));
  rg_wr_str(wr, "max_us");
  rg_wr_uint(wr, atomic_load(&h->max_us));
}

static int handle_stats(rg_engine_t *e, const rg_request_t *req, rg_wr_t *wr) {
  rg_txn_t *t;
  rg_store_counts_t c;
  rg_store_info_t info;
  rg_metrics_t *m = &e->metrics;
  int rc = rg_store_read_begin(e->store, &t);
  if (rc) return rc;
  rc = rg_store_counts(t, &c);
  rg_txn_end(t);
  if (rc) return rc;
  rg_store_info(e->store, &info);

  rg_wr_reply(wr, req->has_id, req->id, 11);
  rg_wr_str(wr, "version");
  rg_wr_str(wr, RG_VERSION);
  rg_wr_str(wr, "uptime_s");
  rg_wr_int(wr, rg_clock_now() - m->started_at);
  rg_wr_str(wr, "actors");
  rg_wr_map(wr, RG_ACTOR_TYPE_MAX - RG_ACTOR_TYPE_MIN + 1);
  for (int ty = RG_ACTOR_TYPE_MIN; ty <= RG_ACTOR_TYPE_MAX; ty++) {
    rg_wr_str(wr, rg_actor_type_name(ty));
    rg_wr_uint(wr, c.actors[ty]);
  }
  rg_wr_str(wr, "edges");
  rg_wr_map(wr, RG_EDGE_KIND_COUNT);
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) {
    rg_wr_str(wr, rg_edge_kind_name(k));
    rg_wr_uint(wr, c.edges[k]);
  }
  rg_wr_str(wr, "labels");
  rg_wr_uint(wr, c.labels);
  rg_wr_str(wr, "store");
  rg_wr_map(wr, 5);
  rg_wr_str(wr, "map_size");
  rg_wr_uint(wr, info.map_size);
  rg_wr_str(wr, "map_max");
  rg_wr_uint(wr, info.map_max);
  rg_wr_str(wr, "used_bytes");
  rg_wr_uint(wr, info.used_bytes);
  rg_wr_str(wr, "page_size");
  rg_wr_uint(wr, info.page_size);
  rg_wr_str(wr, "map_grows");
  rg_wr_uint(wr, info.map_grows);

  rg_wr_str(wr, "requests");
  rg_wr_map(wr, RG_OP_COUNT);
  for (int op = 0; op < RG_OP_COUNT; op++) {
    rg_wr_str(wr, rg_op_name(op));
    rg_wr_map(wr, 2);
    rg_wr_str(wr, "count");
    rg_wr_uint(wr, atomic_load(&m->requests[op]));
    rg_wr_str(wr, "latency");
    write_hist(wr, &m->latency[op]);
  }
  uint32_t n_codes = 0;
  for (int i = 1; i < RG__ERR_END - RG__ERR_FIRST && i < RG_METRICS_SLOTS; i++) n_codes++;
  rg_wr_str(wr, "errors");
  rg_wr_map(wr, n_codes);
  for (int i = 1; i <= (int)n_codes; i++) {
    rg_wr_str(wr, rg_err_name(RG__ERR_FIRST + i));
    rg_wr_uint(wr, atomic_load(&m->errors[i]));
  }
  rg_wr_str(wr, "connections");
  rg_wr_map(wr, 5);
  rg_wr_str(wr, "current");
  rg_wr_uint(wr, atomic_load(&m->conns_current));
  rg_wr_str(wr, "total");
  rg_wr_uint(wr, atomic_load(&m->conns_total));
  rg_wr_str(wr, "refused");
  rg_wr_uint(wr, atomic_load(&m->conns_refused));
  rg_wr_str(wr, "dropped");
  rg_wr_uint(wr, atomic_load(&m->conns_dropped));
  rg_wr_str(wr, "auth_failures");
  rg_wr_uint(wr, atomic_load(&m->auth_failures));
  rg_wr_str(wr, "writer");
  rg_wr_map(wr, 4);
  rg_wr_str(wr, "commits");
  rg_wr_uint(wr, atomic_load(&m->commits));
  rg_wr_str(wr, "writes");
  rg_wr_uint(wr, atomic_load(&m->committed_writes));
  rg_wr_str(wr, "queue_depth");
  rg_wr_uint(wr, atomic_load(&m->write_queue_depth));
  rg_wr_str(wr, "commit_latency");
  write_hist(wr, &m->commit_latency);
  rg_wr_str(wr, "policy"); /* the Postfix policy listener (policy.c); zeros when it is off */
  rg_wr_map(wr, RG_POLICY_COUNTER_COUNT + 1);
  for (int i = 0; i < RG_POLICY_COUNTER_COUNT; i++) {
    rg_wr_str(wr, rg_policy_counter_name(i));
    rg_wr_uint(wr, atomic_load(&m->policy[i]));
  }
  rg_wr_str(wr, "latency");
  write_hist(wr, &m->policy_latency);
  return RG_OK;
}

static void handle_ping(const rg_request_t *req, rg_wr_t *wr) {
  rg_wr_reply(wr, req->has_id, req->id, 3);
  rg_wr_str(wr, "pong");
  rg_wr_bool(wr, true);
  rg_wr_str(wr, "version");
  rg_wr_str(wr, RG_VERSION);
  rg_wr_str(wr, "protocol");
  rg_wr_uint(wr, RG_PROTO_VERSION);
}

int rg_engine_handle(rg_engine_t *e, const rg_request_t *req, rg_buf_t *out, rg_write_done_fn done,
                     void *ctx, rg_write_t **pending) {
  *pending = NULL;
  atomic_fetch_add(&e->metrics.requests[req->op], 1);
  uint64_t t0 = rg_clock_mono_us();
  int rc;
  if (rg_op_writes(req->op)) {
    rg_write_t *w = NULL;
    char msg[200] = "";
    rc = e->stopping ? RG_ESHUTTING_DOWN : prepare_write(e, req, &w, msg, sizeof msg);
    if (rc) {
      rg_metrics_error(&e->metrics, rc);
      return rg_proto_write_error(out, req->has_id, req->id, rc, msg[0] ? msg : NULL);
    }
    w->done = done;
    w->ctx = ctx;
    rg__engine_enqueue(e, w);
    w->queued_us = t0;
    *pending = w;
    return RG_OK;
  }
  if (req->op == RG_OP_RECOMPUTE) return rg__recompute_request(e, req, out, done, ctx, pending);
  size_t start = out->len;
  char msg[200] = "";
  rg_wr_t wr;
  rg_wr_begin(&wr, out);
  switch (req->op) {
    case RG_OP_PING:
      handle_ping(req, &wr);
      rc = RG_OK;
      break;
    case RG_OP_LOOKUP: rc = handle_lookup(e, req, &wr); break;
    case RG_OP_STATS: rc = handle_stats(e, req, &wr); break;
    case RG_OP_STATUS:
      rg__recompute_status(e, req, &wr);
      rc = RG_OK;
      break;
    case RG_OP_CHECK: rc = handle_check(e, req, &wr, msg, sizeof msg); break;
    case RG_OP_CLUSTERS:
    case RG_OP_TOP:
    case RG_OP_NEIGHBORS:
    case RG_OP_EXPORT:
    case RG_OP_HISTORY: rc = rg__analyst_handle(e, req, &wr, msg, sizeof msg); break;
    default: rc = RG_EUNKNOWN_OP; break;
  }
  int wrc = rg_wr_end(&wr);
  if (rc || wrc) {
    out->len = start;
    int code = rc ? rc : wrc;
    rg_metrics_error(&e->metrics, code);
    rc = rg_proto_write_error(out, req->has_id, req->id, code,
                              wrc == RG_ETOO_LARGE ? "reply would exceed the output limit" : msg);
  }
  rg_hist_add(&e->metrics.latency[req->op], rg_clock_mono_us() - t0);
  return rc;
}

/* ---- life cycle --------------------------------------------------------------------- */

int rg_engine_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t **out, char *err,
                   size_t errlen) {
  *out = NULL;
  if (sodium_init() < 0) {
    snprintf(err, errlen, "libsodium failed to initialise");
    return RG_EINTERNAL;
  }
  rg_engine_t *e = calloc(1, sizeof *e);
  if (!e) return RG_ENOMEM;
  crypto_shorthash_keygen(e->actor_hash_key);
  e->cfg = *cfg;
  e->loop = loop;
  e->metrics.started_at = rg_clock_now();
  pthread_mutex_init(&e->lock, NULL);
  pthread_cond_init(&e->wake, NULL);
  rg_store_opts_t so = {cfg->data_dir, cfg->map_size_bytes, cfg->map_max_bytes,
                        (double)cfg->half_life_s};
  int rc = rg_store_open(&so, &e->store, err, errlen);
  if (rc) goto fail;
  if ((rc = uv_async_init(loop, &e->done_async, on_done_async))) {
    snprintf(err, errlen, "uv_async_init: %s", uv_strerror(rc));
    rc = RG_EINTERNAL;
    goto fail;
  }
  e->done_async.data = e;
  if ((rc = rg__recompute_init(e))) {
    snprintf(err, errlen, "cannot start the recompute timer");
    uv_close((uv_handle_t *)&e->done_async, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    goto fail;
  }
  if (pthread_create(&e->writer, NULL, writer_main, e) != 0) {
    snprintf(err, errlen, "cannot start the writer thread");
    uv_close((uv_handle_t *)&e->done_async, NULL);
    uv_close((uv_handle_t *)&e->recompute_timer, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    rc = RG_EINTERNAL;
    goto fail;
  }
  e->writer_started = true;
  *out = e;
  return RG_OK;
fail:
  rg_store_close(e->store);
  pthread_mutex_destroy(&e->lock);
  pthread_cond_destroy(&e->wake);
  free(e);
  return rc;
}

void rg_engine_stop(rg_engine_t *e) {
  if (!e || e->stopped) return;
  rg__recompute_stop(e); /* a running computation is cancelled; its steps still commit */
  pthread_mutex_lock(&e->lock);
  e->stopping = true;
  pthread_cond_signal(&e->wake);
  pthread_mutex_unlock(&e->lock);
  pthread_join(e->writer, NULL);
  deliver_done(e);
  uv_close((uv_handle_t *)&e->done_async, NULL);
  e->stopped = true;
}

rg_metrics_t *rg_engine_metrics(rg_engine_t *e) {
  return &e->metrics;
}
rg_store_t *rg_engine_store(rg_engine_t *e) {
  return e->store;
}

void rg_engine_close(rg_engine_t *e) {
  if (!e) return;
  rg_engine_stop(e);
  drop_batch_txn(e);
  rg_store_close(e->store);
  pthread_mutex_destroy(&e->lock);
  pthread_cond_destroy(&e->wake);
  free(e);
}
