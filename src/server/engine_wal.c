/* engine_wal.c — ingest through the write-ahead log (wal.enabled; the log itself is wal.c).
 * An ingest, validated on the loop as always, is encoded (ingest_record.c) and appended to
 * the log; its reply goes out once the log's group commit has fsync'd it. The writer then
 * merges the logged records into the store in large transactions (each recording the log
 * position it merged up to), and merged segments are removed. Everything here runs on the
 * loop thread except apply_merge (writer thread) and the start-up replay (rg__wal_open).
 *
 * Order: client writes are answered in the order they were submitted. An ingest waits
 * (held) while a write of another kind is in the writer; any other write waits until every
 * logged ingest before it is durable, then goes to the writer right behind a merge of them
 * (the writer is first in, first out). Backpressure: past wal.max_unmerged_edges, ingests
 * wait for a merge, held in order, so memory stays bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/wal.h"

#define SEGMENT_BYTES (UINT64_C(64) << 20) /* a log segment is closed past this size */

/* A logged ingest in memory until merged. */
typedef struct rec {
  rg_wal_rec_t log; /* first: the log hands it back */
  struct rec *next; /* the unmerged records, in sequence order */
  rg_write_t *w;    /* the ingest waiting for the fsync; NULL once answered */
  rg_buf_t bytes;
  uint64_t edges, observations;
  bool durable, failed;
} rec_t;

/* Something waiting until every ingest logged before it is merged (rg__wal_when_merged). */
typedef struct waiter {
  struct waiter *next;
  uint64_t seq;
  void (*fn)(void *ctx, bool merged);
  void *ctx;
} waiter_t;

/* One merge of records [first, last] into the store: a write of its own kind. */
typedef struct {
  rg_writer_req_t head;
  struct rg__wal *wal;
  rec_t *first, *last;
  uint64_t edges, observations, records;
} merge_t;

struct rg__wal {
  rg_engine_t *e;
  rg_wal_t *log;
  rec_t *head, *tail;  /* unmerged records */
  rec_t *unsubmitted;  /* the first record no merge holds yet, or NULL */
  rg_write_t *held_head, *held_tail; /* client writes waiting their turn (head.next) */
  rg_write_t *refused; /* writes that could not be logged, answered at the next callback
                        * (never inside the dispatch that submitted them) */
  uint64_t appended_seq, durable_seq, merged_seq;
  uint64_t unmerged_edges;
  unsigned merges_queued, barriers_queued;
  bool resubmit; /* a merge failed: the unmerged records go again once none is queued */
  bool failing;  /* the last merge failed: reads waiting for their merge go on (bounded) */
  bool kick;     /* a read waits for a merge: start one without waiting for size or time */
  bool stopped;  /* rg__wal_stop ran: nothing more is logged */
  bool closed;   /* its last merge is queued: the writer takes no more */
  uv_timer_t timer;
  void (*hook)(void *ctx);
  void *hook_ctx;
  waiter_t *waiters; /* in the order registered */
  /* stats */
  uint64_t merges, merged_records, merged_edges, merge_failures, waits;
  uint64_t replayed_records, replayed_edges, torn_bytes;
};

static void wal_dir(const rg_engine_t *e, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/wal", e->cfg.data_dir);
}

/* ---- merging ------------------------------------------------------------------------ */

/* Writer thread: the records, then the position, in one transaction — only right after the
 * last merged record (a merge after a failed one fails too, so the position never skips). */
static int apply_merge(rg_txn_t *t, rg_writer_req_t *head) {
  merge_t *m = (merge_t *)head;
  uint64_t stored, edges, obs;
  int rc = rg_store_wal_seq(t, &stored);
  if (!rc && stored + 1 != m->first->log.seq) {
    rg_log_error("wal: merge from record %llu does not follow the last merged (%llu)",
                 (unsigned long long)m->first->log.seq, (unsigned long long)stored);
    return RG_EINTERNAL;
  }
  rg__ingest_merge_t *im = NULL;
  if (!rc) rc = rg__ingest_merge_new(m->wal->e->actor_hash_key, &im);
  for (rec_t *r = m->first; !rc; r = r->next) {
    if (!r->failed) rc = rg__ingest_merge_add(im, r->bytes.data, r->bytes.len);
    if (rc == RG_EIO) rg_log_error("wal: record %llu does not decode", (unsigned long long)r->log.seq);
    if (r == m->last) break;
  }
  if (!rc) rc = rg__ingest_merge_apply(t, im, &edges, &obs);
  rg__ingest_merge_free(im);
  return rc ? rc : rg_store_put_wal_seq(t, m->last->log.seq);
}

static void merge_done(rg_writer_req_t *head);

/* Queues a merge of the durable records no merge holds yet. With `all`, whatever waits;
 * otherwise only once wal.merge_edges wait, or `now` (the timer, a waiting read, a full log).
 * One merge at a time unless `all` (a write of another kind must follow its ingests). */
static void maybe_merge(struct rg__wal *l, bool all, bool now) {
  if (l->closed || l->resubmit || !l->unsubmitted || !l->unsubmitted->durable) return;
  if (!all && l->merges_queued) return;
  uint64_t edges = 0, records = 0;
  rec_t *last = NULL;
  for (rec_t *r = l->unsubmitted; r && r->durable; r = r->next) edges += r->edges, last = r, records++;
  bool full = l->unmerged_edges >= l->e->cfg.wal_max_unmerged_edges;
  bool asked = l->kick || l->waiters;
  if (!all && !now && !asked && !full && edges < l->e->cfg.wal_merge_edges) return;
  merge_t *m = calloc(1, sizeof *m);
  if (!m) {
    rg_log_error("wal: out of memory for a merge; retried at the next tick");
    return;
  }
  m->head = (rg_writer_req_t){.apply = apply_merge, .done = merge_done, .name = "wal_merge",
                              .solo = true, .narrow = true};
  m->wal = l;
  m->first = l->unsubmitted;
  m->last = last;
  m->edges = edges;
  m->records = records;
  for (rec_t *r = m->first;; r = r->next) {
    m->observations += r->observations;
    if (r == last) break;
  }
  l->unsubmitted = last->next;
  l->merges_queued++;
  l->kick = false;
  rg_writer_submit(l->e->writer, &m->head);
}

static void drain_held(struct rg__wal *l);

/* Runs the waiters whose ingests are merged (all of them, merged false, at a stop). */
static void run_waiters(struct rg__wal *l, bool stopping) {
  while (l->waiters && (stopping || l->waiters->seq <= l->merged_seq)) {
    waiter_t *wt = l->waiters;
    l->waiters = wt->next;
    wt->fn(wt->ctx, !stopping);
    free(wt);
  }
}

int rg__wal_when_merged(rg_engine_t *e, void (*fn)(void *ctx, bool merged), void *ctx) {
  struct rg__wal *l = e->wal;
  if (!l || l->merged_seq >= l->appended_seq) return 1;
  waiter_t *wt = calloc(1, sizeof *wt), **tail = &l->waiters;
  if (!wt) return RG_ENOMEM;
  *wt = (waiter_t){NULL, l->appended_seq, fn, ctx};
  while (*tail) tail = &(*tail)->next;
  *tail = wt;
  maybe_merge(l, false, true);
  return 0;
}

/* Loop thread: a merge committed (or failed). */
static void merge_done(rg_writer_req_t *head) {
  merge_t *m = (merge_t *)head;
  struct rg__wal *l = m->wal;
  rg_engine_t *e = l->e;
  l->merges_queued--;
  l->failing = head->result != RG_OK;
  if (head->result == RG_OK) {
    l->merged_seq = m->last->log.seq; /* before the records go */
    for (rec_t *r = l->head, *next; r; r = next) {
      next = r->next;
      bool end = r == m->last;
      rg_buf_free(&r->bytes);
      free(r);
      l->head = next;
      if (end) break;
    }
    if (!l->head) l->tail = NULL;
    l->unmerged_edges -= m->edges;
    l->merges++;
    l->merged_records += m->records;
    l->merged_edges += m->edges;
    atomic_fetch_add(&e->metrics.wal_merges, 1);
    atomic_fetch_add(&e->metrics.wal_merged_edges, m->edges);
    atomic_store(&e->metrics.wal_unmerged_edges, l->unmerged_edges);
    atomic_fetch_add(&e->metrics.ingested_observations, m->observations);
    atomic_fetch_add(&e->metrics.ingested_edges, m->edges);
    if (l->log) rg_wal_release(l->log, l->merged_seq);
  } else {
    l->merge_failures++;
    l->resubmit = true;
    rg_log_error("wal: merging records %llu..%llu into the store failed: %s (retried; they "
                 "stay in the log)",
                 (unsigned long long)m->first->log.seq, (unsigned long long)m->last->log.seq,
                 rg_strerror(head->result));
  }
  free(m);
  if (l->resubmit && !l->merges_queued) { /* from the first unmerged record, at the next tick */
    l->unsubmitted = l->head;
    l->resubmit = false;
  } else {
    maybe_merge(l, false, false);
  }
  drain_held(l);
  run_waiters(l, false);
  if (l->hook) l->hook(l->hook_ctx);
}

/* Answers the writes that could not be logged. */
static void answer_refused(struct rg__wal *l) {
  while (l->refused) {
    rg_write_t *w = l->refused;
    l->refused = (rg_write_t *)w->head.next;
    w->head.next = NULL;
    rg__engine_complete(w);
  }
}

static void on_timer(uv_timer_t *t) {
  answer_refused(t->data);
  maybe_merge(t->data, false, true);
  drain_held(t->data);
}

/* ---- the log's side ----------------------------------------------------------------- */

/* Loop thread: records the log made durable (or failed): their ingests are answered. */
static void on_durable(void *ctx, rg_wal_rec_t *first) {
  struct rg__wal *l = ctx;
  for (rg_wal_rec_t *lr = first, *next; lr; lr = next) {
    next = lr->next;
    rec_t *r = lr->ctx;
    rg_write_t *w = r->w;
    r->w = NULL;
    r->durable = true;
    l->durable_seq = lr->seq;
    if (lr->result) {
      r->failed = true; /* never answered with success: it is not merged */
      l->unmerged_edges -= r->edges;
      r->edges = r->observations = 0;
      rg_engine_write_set_error(w, RG_EIO, "the write-ahead log could not be written");
    } else {
      w->wal_seq = lr->seq;
      atomic_fetch_add(&l->e->metrics.wal_appended, 1);
    }
    atomic_store(&l->e->metrics.wal_unmerged_edges, l->unmerged_edges);
    rg__engine_complete(w);
  }
  answer_refused(l);
  maybe_merge(l, false, false);
  drain_held(l);
}

/* Appends ingest w to the log; a write that cannot be encoded is answered with the error. */
static void append(struct rg__wal *l, rg_write_t *w) {
  rec_t *r = calloc(1, sizeof *r);
  int rc = r ? RG_OK : RG_ENOMEM;
  if (r) {
    rg_buf_init(&r->bytes, RG_WAL_RECORD_MAX);
    rc = rg__ingest_encode(w, &r->bytes, &r->edges, &r->observations);
  }
  if (rc) {
    if (r) rg_buf_free(&r->bytes);
    free(r);
    w->head.result = rc;
    w->head.next = l->refused ? &l->refused->head : NULL;
    l->refused = w;
    return;
  }
  r->w = w;
  r->log.data = r->bytes.data;
  r->log.len = r->bytes.len;
  r->log.ctx = r;
  if (l->tail)
    l->tail->next = r;
  else
    l->head = r;
  l->tail = r;
  if (!l->unsubmitted) l->unsubmitted = r;
  l->unmerged_edges += r->edges;
  atomic_store(&l->e->metrics.wal_unmerged_edges, l->unmerged_edges);
  rg_wal_append(l->log, &r->log);
  l->appended_seq = r->log.seq;
}

/* Lets write w go if its turn has come (see the file comment); false: it must wait. */
static bool try_pass(struct rg__wal *l, rg_write_t *w) {
  rg_engine_t *e = l->e;
  if (w->wal_logged) {
    if (l->barriers_queued || l->stopped) return false; /* (at a stop: answered shutting_down) */
    if (l->unmerged_edges && l->unmerged_edges >= e->cfg.wal_max_unmerged_edges) {
      maybe_merge(l, false, true);
      return false;
    }
    append(l, w);
    return true;
  }
  if (l->durable_seq != l->appended_seq || l->resubmit) return false;
  maybe_merge(l, true, true);
  if (l->unsubmitted) return false; /* could not queue the merge: try again later */
  w->wal_barrier = true;
  l->barriers_queued++;
  rg__engine_submit(e, w);
  return true;
}

/* Lets the held writes go, in order, as far as their turn has come. */
static void drain_held(struct rg__wal *l) {
  while (l->held_head) {
    rg_write_t *w = l->held_head;
    rg_writer_req_t *next = w->head.next;
    if (!try_pass(l, w)) break;
    l->held_head = (rg_write_t *)next;
    if (!l->held_head) l->held_tail = NULL;
  }
}

void rg__wal_submit(rg_engine_t *e, rg_write_t *w) {
  struct rg__wal *l = e->wal;
  if (!l) {
    rg__engine_submit(e, w);
    return;
  }
  w->wal_logged = w->op == RG_OP_INGEST;
  if (w->wal_logged) w->sliced = false; /* one record, answered at once: nothing to wait for */
  w->head.next = NULL;
  if (l->stopped) { /* not reached: the engine refuses writes once stopping */
    w->head.result = RG_ESHUTTING_DOWN;
    w->head.next = l->refused ? &l->refused->head : NULL;
    l->refused = w;
    return;
  }
  if (!l->held_head && try_pass(l, w)) return;
  if (w->wal_logged) l->waits++;
  if (l->held_tail)
    l->held_tail->head.next = &w->head;
  else
    l->held_head = w;
  l->held_tail = w;
}

void rg__wal_completed(rg_engine_t *e, bool barrier) {
  struct rg__wal *l = e->wal;
  if (!l || !barrier) return;
  l->barriers_queued--;
  drain_held(l);
}

/* ---- reads and stats ---------------------------------------------------------------- */

uint64_t rg_engine_write_wal_seq(const rg_write_t *w) {
  return w->wal_seq;
}

bool rg_engine_wal_merged(rg_engine_t *e, uint64_t seq) {
  struct rg__wal *l = e->wal;
  if (!l || seq <= l->merged_seq || l->failing) return true; /* (failing: do not wait forever) */
  l->kick = true;
  maybe_merge(l, false, true);
  return false;
}

void rg_engine_set_wal_hook(rg_engine_t *e, void (*fn)(void *ctx), void *ctx) {
  if (!e->wal) return;
  e->wal->hook = fn;
  e->wal->hook_ctx = ctx;
}

void rg__wal_stats(rg_engine_t *e, rg_wr_t *wr) {
  struct rg__wal *l = e->wal;
  rg_wal_stats_t ls = {0};
  if (l) rg_wal_stats(l->log, &ls);
  uint64_t unmerged_records = 0;
  for (rec_t *r = l ? l->head : NULL; r; r = r->next) unmerged_records++;
  static const char *const names[] = {
      "appended",       "fsyncs",           "log_bytes",        "segments",
      "merges",         "merged_records",   "merged_edges",     "unmerged_records",
      "unmerged_edges", "merge_failures",   "waits",            "replayed_records",
      "replayed_edges", "torn_bytes_dropped"};
  const uint64_t v[] = {ls.appended,
                        ls.fsyncs,
                        ls.bytes,
                        ls.segments,
                        l ? l->merges : 0,
                        l ? l->merged_records : 0,
                        l ? l->merged_edges : 0,
                        unmerged_records,
                        l ? l->unmerged_edges : 0,
                        l ? l->merge_failures : 0,
                        l ? l->waits : 0,
                        l ? l->replayed_records : 0,
                        l ? l->replayed_edges : 0,
                        l ? l->torn_bytes : 0};
  size_t n = sizeof v / sizeof v[0];
  rg_wr_map(wr, (uint32_t)n + 2);
  rg_wr_str(wr, "enabled");
  rg_wr_bool(wr, l != NULL);
  rg_wr_str(wr, "failed");
  rg_wr_bool(wr, ls.failed);
  for (size_t i = 0; i < n; i++) rg_wr_str(wr, names[i]), rg_wr_uint(wr, v[i]);
}

/* ---- start-up replay and life cycle ------------------------------------------------- */

typedef struct {
  rg_engine_t *e;
  rg_txn_t *t;
  uint64_t seq, edges_in_txn, records, edges;
} replay_t;

/* Commits the replay's transaction with the position it reached. */
static int replay_commit(replay_t *r) {
  if (!r->t) return RG_OK;
  int rc = rg_store_put_wal_seq(r->t, r->seq);
  rg_txn_t *t = r->t;
  r->t = NULL;
  r->edges_in_txn = 0;
  if (rc) {
    rg_store_end(t);
    return rc;
  }
  return rg_store_commit(t);
}

static int replay_one(void *ctx, uint64_t seq, const uint8_t *data, size_t len) {
  replay_t *r = ctx;
  uint64_t edges, obs;
  int rc = r->t ? RG_OK : rg_store_write_begin(r->e->store, &r->t);
  if (!rc) rc = rg__ingest_apply_record(r->t, r->e->actor_hash_key, data, len, &edges, &obs);
  if (rc) return rc;
  r->seq = seq;
  r->records++;
  r->edges += edges;
  r->edges_in_txn += edges;
  return r->edges_in_txn >= r->e->cfg.wal_merge_edges ? replay_commit(r) : RG_OK;
}

/* Replays the log after the store's merged position, growing the map as needed. */
static int replay(rg_engine_t *e, const char *dir, uint64_t *merged, uint64_t *last,
                  replay_t *out, uint64_t *torn, char *err, size_t errlen) {
  for (;;) {
    rg_txn_t *t;
    int rc = rg_store_read_begin(e->store, &t);
    if (!rc) rc = rg_store_wal_seq(t, merged);
    rg_store_end(t);
    if (rc) return rg_fail(err, errlen, rc, "wal: cannot read the merged position");
    replay_t r = {.e = e};
    rc = rg_wal_replay(dir, *merged, replay_one, &r, last, torn, err, errlen);
    if (!rc) rc = replay_commit(&r);
    if (r.t) rg_store_end(r.t);
    out->records += r.records;
    out->edges += r.edges;
    if (r.records) *merged = r.seq;
    if (rc == RG_ESTORAGE_FULL && rg_store_grow(e->store) == RG_OK) continue;
    if (rc && !err[0]) rg_fail(err, errlen, rc, "wal: replaying %s: %s", dir, rg_strerror(rc));
    return rc;
  }
}

int rg__wal_open(rg_engine_t *e, char *err, size_t errlen) {
  char dir[RG_CONFIG_PATH_MAX + 8];
  uint64_t merged, last, torn;
  replay_t done = {0};
  wal_dir(e, dir, sizeof dir);
  err[0] = '\0';
  int rc = replay(e, dir, &merged, &last, &done, &torn, err, errlen);
  if (rc) return rc;
  if (done.records)
    rg_log_info("wal: replayed %llu logged ingests (%llu edges) into the store",
                (unsigned long long)done.records, (unsigned long long)done.edges);
  if (!e->cfg.wal_enabled) return rg_wal_remove_all(dir, err, errlen);
  struct rg__wal *l = calloc(1, sizeof *l);
  if (!l) return RG_ENOMEM;
  l->e = e;
  l->merged_seq = l->appended_seq = l->durable_seq = merged > last ? merged : last;
  l->replayed_records = done.records;
  l->replayed_edges = done.edges;
  l->torn_bytes = torn;
  rg_wal_opts_t o = {dir, l->merged_seq + 1, SEGMENT_BYTES, on_durable, l};
  if ((rc = rg_wal_open(&o, e->loop, &l->log, err, errlen))) {
    free(l);
    return rc;
  }
  uv_timer_init(e->loop, &l->timer);
  l->timer.data = l;
  uv_timer_start(&l->timer, on_timer, e->cfg.wal_merge_ms, e->cfg.wal_merge_ms);
  e->wal = l;
  return RG_OK;
}

void rg__wal_stop(rg_engine_t *e) {
  struct rg__wal *l = e->wal;
  if (!l || l->stopped) return;
  l->stopped = true;
  run_waiters(l, true); /* what waits for a merge is not started any more */
  uv_timer_stop(&l->timer);
  uv_close((uv_handle_t *)&l->timer, NULL);
  rg_wal_stop(l->log); /* what is queued becomes durable and is answered */
  maybe_merge(l, true, true); /* the writer commits it before it stops */
  l->closed = true;
  for (rg_write_t *w = l->held_head, *next; w; w = next) {
    next = (rg_write_t *)w->head.next;
    w->head.next = NULL;
    w->head.result = RG_ESHUTTING_DOWN;
    rg__engine_complete(w);
  }
  l->held_head = l->held_tail = NULL;
  answer_refused(l);
}

void rg__wal_free(rg_engine_t *e) {
  struct rg__wal *l = e->wal;
  if (!l) return;
  for (rec_t *r = l->head, *next; r; r = next) { /* a failed last merge: they stay logged */
    next = r->next;
    rg_buf_free(&r->bytes);
    free(r);
  }
  rg_wal_free(l->log);
  free(l);
  e->wal = NULL;
}
