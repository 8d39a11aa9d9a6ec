/* cluster.c — cluster mode: writes through a NATS JetStream stream (see cluster.h).
 *
 * Threads. The loop thread validates a client's write, queues its log entry to the
 * publisher thread and keeps the prepared write waiting (`pub_t`). The publisher thread
 * publishes entries asynchronously (js_PublishMsgAsync); nats.c's thread calls on_pub_ack
 * with each acknowledgment. The consumer thread connects, creates the stream if missing,
 * (re)creates this node's durable pull consumer at the stored sequence + 1 and fetches
 * entries. Both hand what they got to the loop through one inbox (mutex + uv_async); the
 * loop applies entries strictly in sequence order through the engine's writer, each with
 * its sequence committed in its own transaction (rg_engine_submit_logged). An entry this
 * node published applies its already prepared write, whose reply goes to the waiting
 * client. A gap in the sequence (entries lost in flight when a NATS node dies) makes the
 * consumer thread recreate the consumer after the last sequence the loop took.
 *
 * Log entry: version byte (1), the publisher's clock (i64 BE, so every replica takes the
 * write at the same time), the publisher's random origin id (u64 BE) and its publication
 * id (u64 BE), then the request's msgpack frame body. */
#include "repgraph/cluster.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
#include <sodium.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"

#define ENTRY_VERSION 1
#define ENTRY_HEAD    25   /* version, now, origin, publication id */
#define FETCH_BATCH   256  /* entries asked for per pull */
#define FETCH_WAIT_MS 250  /* a pull waits this long for entries */
#define MAX_AHEAD     4096 /* entries fetched but not yet applied, at most */
#define RETRY_MS      250  /* pause after a failed connect, stream or consumer set-up */
#define INFO_EVERY_MS 500  /* the stream's head is read this often */
#define STALL_MS      1000 /* pulls that bring nothing while the stream has more: new consumer */
#define SWEEP_MS      100
#define REPUBLISH_MS                                                                            \
  200 /* a refused entry is published again after this */ /* waiting writes are checked against \
                                                             cluster.read_wait this often */
#define MAX_PENDING (1 << 20) /* async publishes in flight: never stall the publisher */
#define URLS_MAX    16

/* A client write waiting for the log (loop thread only). */
typedef struct pub {
  struct pub *prev, *next;
  struct rg_replica *cluster;
  uint64_t id, seq; /* seq: from JetStream's ack (0 until then) */
  rg_write_t *w;    /* prepared; applied when its entry comes back */
  rg_write_done_fn done;
  void *ctx;
  uint64_t deadline_ms;
  uint8_t *entry; /* the log entry, kept to publish again (freed once applied) */
  uint32_t entry_len;
  uint64_t retry_at_ms; /* JetStream refused it: publish again then (0 = not due) */
  char why[128];        /* the last refusal */
  bool submitted;       /* its entry is in the writer: it completes from there */
  bool finished;        /* its reply is ready; it waits for the writes before it */
} pub_t;

enum { IN_ENTRY, IN_ACK, IN_FAILED };

/* What a NATS-side thread hands the loop. */
typedef struct in_item {
  struct in_item *next;
  int kind;
  uint64_t seq;    /* IN_ENTRY: stream sequence; IN_ACK: the acked sequence */
  uint64_t pub_id; /* IN_ACK, IN_FAILED */
  char why[128];   /* IN_FAILED */
  uint32_t len;    /* IN_ENTRY: the entry */
  uint8_t data[];
} in_item_t;

/* An entry for the publisher thread. */
typedef struct out_item {
  struct out_item *next;
  uint32_t len;
  uint8_t data[];
} out_item_t;

struct rg_replica {
  rg_config_t cfg;
  uv_loop_t *loop;
  rg_engine_t *engine;
  rg_proto_limits_t limits;
  char subject[96], durable[80];
  uint64_t origin; /* random per process: which entries are ours */

  /* loop thread */
  pub_t *pubs_head, *pubs_tail;
  uint64_t next_pub;
  uint64_t taken;    /* the last sequence handed to the writer */
  uint32_t inflight; /* entries in the writer */
  uv_async_t async;
  uv_timer_t sweep;
  rg_log_limit_t gap_log; /* gap warnings: a few a second */
  bool stopped;

  /* shared: under lock */
  pthread_mutex_t lock;
  pthread_cond_t wake; /* publisher: out queue; consumer: room ahead, stop */
  in_item_t *in_head, *in_tail;
  out_item_t *out_head, *out_tail;
  bool stopping, js_ready;
  natsConnection *nc;
  jsCtx *js;

  /* shared: atomics, for stats and the consumer's restarts */
  atomic_uint_fast64_t applied; /* the last sequence committed here */
  atomic_uint_fast64_t fetched; /* the last sequence the consumer handed over */
  atomic_uint_fast64_t head;    /* the stream's last sequence, as last read */
  atomic_bool connected, reset, have_head;
  atomic_int_fast64_t max_payload; /* NATS's, once connected */
  atomic_uint_fast64_t published, publish_failed, timeouts, resets, applied_entries,
      refused_entries;
  pthread_t consumer, publisher;
  bool threads;
};

/* ---- the inbox (any thread → loop) -------------------------------------------------- */

static void inbox_push(rg_replica_t *c, in_item_t *first, in_item_t *last) {
  pthread_mutex_lock(&c->lock);
  if (c->in_tail)
    c->in_tail->next = first;
  else
    c->in_head = first;
  c->in_tail = last;
  if (!c->stopped) uv_async_send(&c->async);
  pthread_mutex_unlock(&c->lock);
}

static in_item_t *item_new(int kind, uint64_t seq, uint64_t pub_id, const void *data,
                           uint32_t len) {
  in_item_t *it = malloc(sizeof *it + len);
  if (!it) return NULL;
  *it = (in_item_t){.kind = kind, .seq = seq, .pub_id = pub_id, .len = len};
  if (len) memcpy(it->data, data, len);
  return it;
}

/* nats.c's thread: JetStream acknowledged (pa) or refused (pae) an entry we published. */
static void on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure) {
  rg_replica_t *c = closure;
  (void)js;
  const uint8_t *d = (const uint8_t *)natsMsg_GetData(msg);
  uint64_t id = natsMsg_GetDataLength(msg) >= ENTRY_HEAD ? rg_get_u64be(d + 17) : 0;
  in_item_t *it = item_new(pa ? IN_ACK : IN_FAILED, pa ? pa->Sequence : 0, id, NULL, 0);
  if (it && !pa)
    snprintf(it->why, sizeof it->why, "%s", pae && pae->ErrText ? pae->ErrText : "no ack");
  if (it) inbox_push(c, it, it);
  atomic_fetch_add(pa ? &c->published : &c->publish_failed, 1);
  natsMsg_Destroy(msg);
}

/* ---- the publisher thread ----------------------------------------------------------- */

static void *publisher_main(void *arg) {
  rg_replica_t *c = arg;
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = (int64_t)c->cfg.cluster_read_wait_s * 1000;
  pthread_mutex_lock(&c->lock);
  for (;;) {
    while (!c->stopping && (!c->out_head || !c->js_ready)) pthread_cond_wait(&c->wake, &c->lock);
    if (c->stopping) break;
    out_item_t *o = c->out_head;
    c->out_head = o->next;
    if (!c->out_head) c->out_tail = NULL;
    jsCtx *js = c->js;
    pthread_mutex_unlock(&c->lock);

    natsMsg *m = NULL;
    char id[40]; /* JetStream keeps one copy of an id in its duplicate window (2 min) */
    snprintf(id, sizeof id, "%016llx-%llu", (unsigned long long)rg_get_u64be(o->data + 9),
             (unsigned long long)rg_get_u64be(o->data + 17));
    po.MsgId = id;
    natsStatus s = natsMsg_Create(&m, c->subject, NULL, (const char *)o->data, (int)o->len);
    if (s == NATS_OK) s = js_PublishMsgAsync(js, &m, &po);
    natsMsg_Destroy(m); /* NULL once the library took it */
    if (s != NATS_OK) {
      in_item_t *it = item_new(IN_FAILED, 0, rg_get_u64be(o->data + 17), NULL, 0);
      if (it) {
        snprintf(it->why, sizeof it->why, "publish: %s", natsStatus_GetText(s));
        inbox_push(c, it, it);
      }
      atomic_fetch_add(&c->publish_failed, 1);
    }
    free(o);
    pthread_mutex_lock(&c->lock);
  }
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

/* ---- the consumer thread ------------------------------------------------------------ */

/* Sleeps ms unless stopping; true when stopping. */
static bool pause_ms(rg_replica_t *c, int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&c->lock);
  if (!c->stopping) pthread_cond_timedwait(&c->wake, &c->lock, &ts);
  bool stop = c->stopping;
  pthread_mutex_unlock(&c->lock);
  return stop;
}

static bool stopping(rg_replica_t *c) {
  pthread_mutex_lock(&c->lock);
  bool stop = c->stopping;
  pthread_mutex_unlock(&c->lock);
  return stop;
}

/* Connects (nats.c keeps reconnecting by itself from then on) and makes the JetStream
 * context. NATS_OK or the status. */
static natsStatus nats_connect(rg_replica_t *c, natsConnection **nc, jsCtx **js) {
  char urls[sizeof c->cfg.cluster_nats], *save, *u;
  const char *list[URLS_MAX];
  int n = 0;
  snprintf(urls, sizeof urls, "%s", c->cfg.cluster_nats);
  for (u = strtok_r(urls, ", ", &save); u && n < URLS_MAX; u = strtok_r(NULL, ", ", &save))
    list[n++] = u;
  natsOptions *o = NULL;
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK) s = natsOptions_SetServers(o, list, n);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 100);
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, 1000);
  if (s == NATS_OK) s = natsOptions_SetName(o, c->durable);
  if (s == NATS_OK) s = natsConnection_Connect(nc, o);
  natsOptions_Destroy(o);
  if (s != NATS_OK) return s;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 2000;
  jo.PublishAsync.AckHandler = on_pub_ack;
  jo.PublishAsync.AckHandlerClosure = c;
  jo.PublishAsync.MaxPending = MAX_PENDING;
  s = natsConnection_JetStream(js, *nc, &jo);
  if (s != NATS_OK) {
    natsConnection_Destroy(*nc);
    *nc = NULL;
  }
  return s;
}

/* Creates the stream (R cluster.replicas, file storage) unless it exists. */
static natsStatus ensure_stream(rg_replica_t *c, jsCtx *js) {
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  const char *subjects[1] = {c->subject};
  sc.Name = c->cfg.cluster_stream;
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Replicas = (int64_t)c->cfg.cluster_replicas;
  sc.Storage = js_FileStorage;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_AddStream(&si, js, &sc, NULL, &jerr);
  jsStreamInfo_Destroy(si);
  if (s != NATS_OK && jerr == JSStreamNameExistErr) s = NATS_OK; /* made by another replica */
  return s;
}

/* (Re)creates this node's durable consumer at the sequence after the last one the loop
 * applied: whatever the consumer had acknowledged, the store says where to resume. */
static natsStatus subscribe(rg_replica_t *c, jsCtx *js, natsSubscription **sub) {
  uint64_t from = atomic_load(&c->applied) + 1;
  jsErrCode jerr = 0;
  js_DeleteConsumer(js, c->cfg.cluster_stream, c->durable, NULL, &jerr); /* absent: fine */
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = c->cfg.cluster_stream;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = from;
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.MaxAckPending = MAX_AHEAD * 2;
  natsStatus s = js_PullSubscribe(sub, js, c->subject, c->durable, NULL, &so, &jerr);
  if (s == NATS_OK) {
    atomic_store(&c->fetched, from - 1);
    rg_log_info("cluster: consuming %s from sequence %llu as %s", c->cfg.cluster_stream,
                (unsigned long long)from, c->durable);
  }
  return s;
}

/* Reads the stream's last sequence for stats' lag. */
static void read_head(rg_replica_t *c, jsCtx *js) {
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  if (js_GetStreamInfo(&si, js, c->cfg.cluster_stream, NULL, &jerr) == NATS_OK && si) {
    atomic_store(&c->head, si->State.LastSeq);
    atomic_store(&c->have_head, true);
  }
  jsStreamInfo_Destroy(si);
}

/* Hands a fetched batch to the loop: each entry's sequence and bytes. Acks each (the
 * consumer's own bookkeeping; where to resume comes from the store). */
static void hand_over(rg_replica_t *c, natsMsgList *list) {
  in_item_t *first = NULL, *last = NULL;
  for (int i = 0; i < list->Count; i++) {
    natsMsg *m = list->Msgs[i];
    jsMsgMetaData *md = NULL;
    if (natsMsg_GetMetaData(&md, m) != NATS_OK) continue;
    uint64_t seq = md->Sequence.Stream;
    jsMsgMetaData_Destroy(md);
    in_item_t *it =
        item_new(IN_ENTRY, seq, 0, natsMsg_GetData(m), (uint32_t)natsMsg_GetDataLength(m));
    if (!it) break; /* the gap makes the loop ask for it again */
    if (last)
      last->next = it;
    else
      first = it;
    last = it;
    atomic_store(&c->fetched, seq);
    natsMsg_Ack(m, NULL);
  }
  if (first) inbox_push(c, first, last);
}

static void *consumer_main(void *arg) {
  rg_replica_t *c = arg;
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  natsSubscription *sub = NULL;
  bool stream_ok = false;
  uint64_t next_info = 0, stalled_since = 0;
  rg_log_limit_t loglim = {0};
  while (!stopping(c)) {
    natsStatus s = NATS_OK;
    const char *what = "";
    if (!nc) {
      what = "connect";
      if ((s = nats_connect(c, &nc, &js)) == NATS_OK) {
        pthread_mutex_lock(&c->lock);
        c->nc = nc, c->js = js, c->js_ready = true;
        atomic_store(&c->max_payload, natsConnection_GetMaxPayload(nc));
        pthread_cond_broadcast(&c->wake);
        pthread_mutex_unlock(&c->lock);
      }
    } else if (!stream_ok) {
      what = "create stream";
      stream_ok = (s = ensure_stream(c, js)) == NATS_OK;
    } else if (!sub || atomic_exchange(&c->reset, false)) {
      what = "create consumer";
      natsSubscription_Destroy(sub);
      sub = NULL;
      if ((s = subscribe(c, js, &sub)) != NATS_OK) sub = NULL;
      if (s == NATS_OK) atomic_fetch_add(&c->resets, 1);
    } else if (atomic_load(&c->fetched) > atomic_load(&c->applied) &&
               atomic_load(&c->fetched) - atomic_load(&c->applied) >= MAX_AHEAD) {
      pause_ms(c, 5); /* the writer is behind: let it catch up */
      continue;
    } else {
      natsMsgList list = {0};
      jsErrCode jerr = 0;
      what = "fetch";
      s = natsSubscription_Fetch(&list, sub, FETCH_BATCH, FETCH_WAIT_MS, &jerr);
      if (s == NATS_OK) hand_over(c, &list);
      natsMsgList_Destroy(&list);
      uint64_t now = rg_clock_mono_us() / 1000;
      if (s != NATS_TIMEOUT || atomic_load(&c->head) <= atomic_load(&c->fetched))
        stalled_since = 0;
      else if (!stalled_since)
        stalled_since = now;
      if (s == NATS_TIMEOUT) s = NATS_OK;
      if (stalled_since && now - stalled_since >= STALL_MS) {
        /* entries wait in the stream but none come: the consumer's leader was on a NATS
         * node that went away; a new consumer gets a leader among the live ones */
        rg_log_warn("cluster: no entries for %d ms with %llu in the stream: new consumer", STALL_MS,
                    (unsigned long long)(atomic_load(&c->head) - atomic_load(&c->fetched)));
        stalled_since = 0;
        s = NATS_ERR;
      }
      if (s != NATS_OK) { /* the consumer may be gone with its NATS node: make it again */
        natsSubscription_Destroy(sub);
        sub = NULL;
      }
    }
    atomic_store(&c->connected, nc && natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED);
    uint64_t now = rg_clock_mono_us() / 1000;
    if (js && now >= next_info) {
      read_head(c, js);
      next_info = now + INFO_EVERY_MS;
    }
    if (s != NATS_OK) {
      if (rg_log_limit_take(&loglim, rg_clock_now(), 1))
        rg_log_warn("cluster: %s: %s (retrying)", what, natsStatus_GetText(s));
      if (pause_ms(c, RETRY_MS)) break;
    }
  }
  natsSubscription_Destroy(sub);
  pthread_mutex_lock(&c->lock);
  c->js_ready = false;
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

/* ---- the loop side: applying entries ------------------------------------------------ */

static void pub_unlink(rg_replica_t *c, pub_t *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    c->pubs_head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    c->pubs_tail = p->prev;
  p->prev = p->next = NULL;
}

/* A write still waiting for its entry (not yet handed to the writer, not failed). */
static pub_t *pub_find(rg_replica_t *c, uint64_t id) {
  for (pub_t *p = c->pubs_head; p; p = p->next)
    if (p->id == id) return p->submitted || p->finished ? NULL : p;
  return NULL;
}

/* Replies go out in the order the writes came (a connection's replies are in order):
 * finished writes at the head of the list are handed back to their owners. */
static void deliver(rg_replica_t *c) {
  while (c->pubs_head && c->pubs_head->finished) {
    pub_t *p = c->pubs_head;
    pub_unlink(c, p);
    p->done(p->w, p->ctx);
    free(p->entry);
    free(p);
  }
}

/* Ends a waiting write with an error reply; deliver() hands it back in its turn. */
static void pub_fail(pub_t *p, int code, const char *msg) {
  rg_engine_write_set_error(p->w, code, msg);
  p->finished = true;
}

static void entry_done(rg_replica_t *c, rg_write_t *w) {
  uint64_t seq = rg_engine_write_log_seq(w);
  if (seq > atomic_load(&c->applied)) atomic_store(&c->applied, seq);
  c->inflight--;
  atomic_fetch_add(&c->applied_entries, 1);
  if (rg_engine_write_result(w))
    rg_log_error("cluster: entry %llu failed here: %s", (unsigned long long)seq,
                 rg_strerror(rg_engine_write_result(w)));
}

/* Loop thread: another replica's entry (or a refused one) committed. */
static void on_entry_done(rg_write_t *w, void *ctx) {
  entry_done(ctx, w);
  rg_engine_finish_write(w, NULL);
}

/* Loop thread: our own entry committed: its client gets the reply (in order). */
static void on_own_done(rg_write_t *w, void *ctx) {
  pub_t *p = ctx;
  entry_done(p->cluster, w);
  p->finished = true;
  deliver(p->cluster);
}

/* Applies one entry at sequence seq (the next one): our own prepared write, or the
 * request decoded from the entry and prepared now at the publisher's time; an entry that
 * cannot be applied still moves the applied sequence on. */
static void apply_entry(rg_replica_t *c, uint64_t seq, const uint8_t *d, uint32_t len) {
  rg_engine_t *e = c->engine;
  c->taken = seq;
  c->inflight++;
  if (len >= ENTRY_HEAD && d[0] == ENTRY_VERSION && rg_get_u64be(d + 9) == c->origin) {
    pub_t *p = pub_find(c, rg_get_u64be(d + 17));
    if (p) {
      p->submitted = true;
      free(p->entry);
      p->entry = NULL;
      rg_engine_submit_logged(e, p->w, seq, on_own_done, p);
      return;
    }
  }
  rg_request_t req;
  rg_write_t *w = NULL;
  char err[256] = "";
  int rc = len >= ENTRY_HEAD && d[0] == ENTRY_VERSION ? RG_OK : RG_EBAD_REQUEST;
  if (!rc) {
    rc = rg_proto_decode_request(d + ENTRY_HEAD, len - ENTRY_HEAD, &c->limits, &req, err,
                                 sizeof err);
    req.now = (int64_t)rg_get_u64be(d + 1);
    if (!rc)
      rc = rg_cluster_takes(&req) ? rg_engine_write_prepare(e, &req, &w, err, sizeof err)
                                  : RG_EBAD_REQUEST;
    rg_request_free(&req); /* the write holds copies */
  }
  if (!rc) {
    rg_engine_submit_logged(e, w, seq, on_entry_done, c);
    return;
  }
  atomic_fetch_add(&c->refused_entries, 1);
  rg_log_warn("cluster: entry %llu refused here (%s: %s); recorded as applied",
              (unsigned long long)seq, rg_err_name(rc), err);
  if (rg_engine_skip_logged(e, seq, on_entry_done, c) != RG_OK) {
    c->inflight--;
    c->taken = seq - 1; /* out of memory: ask for it again */
    atomic_store(&c->reset, true);
  }
}

static void on_inbox(uv_async_t *h) {
  rg_replica_t *c = h->data;
  pthread_mutex_lock(&c->lock);
  in_item_t *it = c->in_head;
  c->in_head = c->in_tail = NULL;
  pthread_mutex_unlock(&c->lock);
  bool gap = false;
  for (in_item_t *next; it; it = next) {
    next = it->next;
    pub_t *p;
    if (it->kind == IN_ACK && (p = pub_find(c, it->pub_id))) {
      p->seq = it->seq;
    } else if (it->kind == IN_FAILED && (p = pub_find(c, it->pub_id))) {
      snprintf(p->why, sizeof p->why, "%s", it->why); /* e.g. no stream leader yet */
      p->retry_at_ms = uv_now(c->loop) + REPUBLISH_MS;
    } else if (it->kind == IN_ENTRY && !c->stopped) {
      if (it->seq == c->taken + 1)
        apply_entry(c, it->seq, it->data, it->len);
      else if (it->seq > c->taken + 1 && !gap) {
        gap = true; /* lost in flight: the consumer starts again after what was taken */
        if (rg_log_limit_take(&c->gap_log, rg_clock_now(), 2))
          rg_log_warn("cluster: entry %llu arrived after %llu: fetching again",
                      (unsigned long long)it->seq, (unsigned long long)c->taken);
      }
    }
    free(it);
  }
  deliver(c);
  if (gap) {
    /* the consumer restarts after `applied`; entries in the writer are skipped as taken */
    atomic_store(&c->reset, true);
  }
}

/* Queues a copy of the write's entry to the publisher thread. 0 or RG_ENOMEM. */
static int publish(rg_replica_t *c, pub_t *p) {
  out_item_t *o = malloc(sizeof *o + p->entry_len);
  if (!o) return RG_ENOMEM;
  o->next = NULL;
  o->len = p->entry_len;
  memcpy(o->data, p->entry, p->entry_len);
  pthread_mutex_lock(&c->lock);
  if (c->out_tail)
    c->out_tail->next = o;
  else
    c->out_head = o;
  c->out_tail = o;
  pthread_cond_broadcast(&c->wake);
  pthread_mutex_unlock(&c->lock);
  return RG_OK;
}

/* Each SWEEP_MS: writes JetStream refused are published again (the same message id: the
 * stream keeps one copy), and those that waited cluster.read_wait end with an error. */
static void on_sweep(uv_timer_t *t) {
  rg_replica_t *c = t->data;
  uint64_t now = uv_now(c->loop);
  char msg[400];
  for (pub_t *p = c->pubs_head, *next; p && p->deadline_ms <= now; p = next) {
    next = p->next;
    if (p->submitted || p->finished) continue;
    atomic_fetch_add(&c->timeouts, 1);
    p->retry_at_ms = 0;
    if (p->seq) {
      snprintf(msg, sizeof msg,
               "in the log as sequence %llu but not applied here within cluster.read_wait; it "
               "will be: do not resend",
               (unsigned long long)p->seq);
      pub_fail(p, RG_ENOT_APPLIED, msg);
    } else {
      snprintf(msg, sizeof msg,
               "JetStream did not acknowledge the write within cluster.read_wait%s%s%s; it "
               "may or may not be in the log: resend it",
               p->why[0] ? " (" : "", p->why, p->why[0] ? ")" : "");
      pub_fail(p, RG_EUNAVAILABLE, msg);
    }
  }
  for (pub_t *p = c->pubs_head; p; p = p->next)
    if (!p->submitted && !p->finished && p->retry_at_ms && p->retry_at_ms <= now &&
        publish(c, p) == RG_OK)
      p->retry_at_ms = 0;
  deliver(c);
}

/* ---- the front: client writes -------------------------------------------------------- */

bool rg_cluster_takes(const rg_request_t *req) {
  switch (req->op) {
    case RG_OP_INGEST:
    case RG_OP_LABEL:
    case RG_OP_FORGET:
    case RG_OP_UNLABEL: return true;
    case RG_OP_LABEL_CLUSTER: return !req->dry_run;
    default: return false;
  }
}

static int refuse(rg_replica_t *c, const rg_request_t *req, rg_buf_t *out, int code,
                  const char *msg) {
  rg_metrics_error(rg_engine_metrics(c->engine), code);
  return rg_proto_write_error(out, req->has_id, req->id, code, msg[0] ? msg : NULL);
}

int rg_cluster_write(rg_replica_t *c, const uint8_t *body, uint32_t len, const rg_request_t *req,
                     rg_buf_t *out, rg_write_done_fn done, void *ctx, rg_write_t **pending) {
  *pending = NULL;
  char msg[200] = "";
  atomic_fetch_add(&rg_engine_metrics(c->engine)->requests[req->op], 1);
  if (req->op == RG_OP_LABEL_CLUSTER)
    return refuse(c, req, out, RG_EBAD_REQUEST,
                  "label_cluster is not available in cluster mode yet (replicas do not share "
                  "generations): export the cluster and label its members with label");
  if (c->stopped) return refuse(c, req, out, RG_ESHUTTING_DOWN, "");
  int64_t max = atomic_load(&c->max_payload);
  if (max <= 0) max = 1 << 20; /* NATS's default, until connected */
  if ((int64_t)len + ENTRY_HEAD > max) {
    snprintf(msg, sizeof msg, "the write (%u bytes) exceeds NATS's max_payload (%lld)", len,
             (long long)max);
    return refuse(c, req, out, RG_ETOO_LARGE, msg);
  }
  rg_request_t r = *req;
  r.now = rg_clock_now();
  rg_write_t *w;
  int rc = rg_engine_write_prepare(c->engine, &r, &w, msg, sizeof msg);
  if (rc) return refuse(c, req, out, rc, msg);
  pub_t *p = calloc(1, sizeof *p);
  uint8_t *entry = malloc(ENTRY_HEAD + (size_t)len);
  if (!p || !entry) {
    free(p);
    free(entry);
    rg_engine_finish_write(w, NULL);
    return refuse(c, req, out, RG_ENOMEM, "");
  }
  *p = (pub_t){.cluster = c,
               .id = ++c->next_pub,
               .w = w,
               .done = done,
               .ctx = ctx,
               .deadline_ms = uv_now(c->loop) + c->cfg.cluster_read_wait_s * 1000,
               .entry = entry,
               .entry_len = ENTRY_HEAD + len};
  entry[0] = ENTRY_VERSION;
  rg_put_u64be(entry + 1, (uint64_t)r.now);
  rg_put_u64be(entry + 9, c->origin);
  rg_put_u64be(entry + 17, p->id);
  memcpy(entry + ENTRY_HEAD, body, len);
  if (publish(c, p) != RG_OK) {
    rg_engine_finish_write(w, NULL);
    free(entry);
    free(p);
    return refuse(c, req, out, RG_ENOMEM, "");
  }
  p->prev = c->pubs_tail;
  if (c->pubs_tail)
    c->pubs_tail->next = p;
  else
    c->pubs_head = p;
  c->pubs_tail = p;
  *pending = w;
  return RG_OK;
}

/* ---- stats ---------------------------------------------------------------------------- */

static void write_stats(void *ctx, rg_wr_t *wr) {
  rg_replica_t *c = ctx;
  uint64_t applied = atomic_load(&c->applied), head = atomic_load(&c->head);
  bool have_head = atomic_load(&c->have_head), connected = atomic_load(&c->connected);
  uint64_t lag = head > applied ? head - applied : 0;
  rg_wr_map(wr, 15);
  rg_wr_str(wr, "role"), rg_wr_str(wr, "replica");
  rg_wr_str(wr, "node"), rg_wr_str(wr, c->cfg.cluster_node);
  rg_wr_str(wr, "stream"), rg_wr_str(wr, c->cfg.cluster_stream);
  rg_wr_str(wr, "connected"), rg_wr_bool(wr, connected);
  rg_wr_str(wr, "applied_seq"), rg_wr_uint(wr, applied);
  rg_wr_str(wr, "stream_last_seq"), rg_wr_uint(wr, head);
  rg_wr_str(wr, "lag"), rg_wr_uint(wr, lag);
  rg_wr_str(wr, "ready"), rg_wr_bool(wr, connected && have_head && lag <= c->cfg.cluster_max_lag);
  rg_wr_str(wr, "waiting_writes");
  uint64_t waiting = 0;
  for (pub_t *p = c->pubs_head; p; p = p->next) waiting++;
  rg_wr_uint(wr, waiting);
  rg_wr_str(wr, "published"), rg_wr_uint(wr, atomic_load(&c->published));
  rg_wr_str(wr, "publish_failed"), rg_wr_uint(wr, atomic_load(&c->publish_failed));
  rg_wr_str(wr, "timeouts"), rg_wr_uint(wr, atomic_load(&c->timeouts));
  rg_wr_str(wr, "entries_applied"), rg_wr_uint(wr, atomic_load(&c->applied_entries));
  rg_wr_str(wr, "entries_refused"), rg_wr_uint(wr, atomic_load(&c->refused_entries));
  rg_wr_str(wr, "consumer_starts"), rg_wr_uint(wr, atomic_load(&c->resets));
}

/* ---- life cycle ----------------------------------------------------------------------- */

int rg_cluster_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t *e, rg_replica_t **out,
                    char *err, size_t errlen) {
  *out = NULL;
  rg_replica_t *c = calloc(1, sizeof *c);
  if (!c) return RG_ENOMEM;
  c->cfg = *cfg;
  c->loop = loop;
  c->engine = e;
  c->limits = (rg_proto_limits_t){cfg->max_frame_bytes, cfg->max_batch_items, cfg->max_recipients,
                                  cfg->max_depth, cfg->max_string_bytes};
  snprintf(c->subject, sizeof c->subject, "%s.writes", cfg->cluster_stream);
  snprintf(c->durable, sizeof c->durable, "rg-%s", cfg->cluster_node);
  randombytes_buf(&c->origin, sizeof c->origin);
  uint64_t seq;
  int rc = rg_engine_log_seq(e, &seq);
  if (rc) {
    snprintf(err, errlen, "cannot read the applied log sequence: %s", rg_strerror(rc));
    free(c);
    return rc;
  }
  c->taken = seq;
  atomic_store(&c->applied, seq);
  atomic_store(&c->fetched, seq);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->wake, NULL);
  if (nats_Open(-1) != NATS_OK) {
    snprintf(err, errlen, "cannot initialise the NATS library");
    goto fail;
  }
  uv_async_init(loop, &c->async, on_inbox);
  uv_timer_init(loop, &c->sweep);
  c->async.data = c->sweep.data = c;
  uv_timer_start(&c->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  bool pub_ok = pthread_create(&c->publisher, NULL, publisher_main, c) == 0;
  bool con_ok = pub_ok && pthread_create(&c->consumer, NULL, consumer_main, c) == 0;
  if (!con_ok) {
    if (pub_ok) {
      pthread_mutex_lock(&c->lock);
      c->stopping = true;
      pthread_cond_broadcast(&c->wake);
      pthread_mutex_unlock(&c->lock);
      pthread_join(c->publisher, NULL);
    }
    c->stopped = true;
    uv_close((uv_handle_t *)&c->async, NULL);
    uv_close((uv_handle_t *)&c->sweep, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    nats_Close();
    snprintf(err, errlen, "cannot start the cluster threads");
    goto fail;
  }
  c->threads = true;
  rg_engine_set_stats_hook(e, write_stats, c);
  rg_log_info("cluster: node %s, stream %s (R%u) on %s; applied up to sequence %llu",
              cfg->cluster_node, cfg->cluster_stream, cfg->cluster_replicas, cfg->cluster_nats,
              (unsigned long long)seq);
  *out = c;
  return RG_OK;
fail:
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->wake);
  free(c);
  return RG_EINTERNAL;
}

void rg_cluster_stop(rg_replica_t *c) {
  if (!c || c->stopped) return;
  pthread_mutex_lock(&c->lock);
  c->stopping = true;
  pthread_cond_broadcast(&c->wake);
  pthread_mutex_unlock(&c->lock);
  pthread_join(c->publisher, NULL);
  pthread_join(c->consumer, NULL);
  pthread_mutex_lock(&c->lock);
  natsConnection *nc = c->nc;
  jsCtx *js = c->js;
  c->nc = NULL, c->js = NULL;
  pthread_mutex_unlock(&c->lock);
  if (nc) natsConnection_Close(nc); /* acks in flight are not waited for */
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  nats_CloseAndWait(2000); /* no nats.c thread calls on_pub_ack after this */
  on_inbox(&c->async);     /* the acks that came: a waiting write knows its sequence */
  pthread_mutex_lock(&c->lock);
  c->stopped = true;
  pthread_mutex_unlock(&c->lock);
  for (pub_t *p = c->pubs_head, *next; p; p = next) {
    next = p->next;
    if (p->submitted || p->finished) continue;
    char msg[200];
    if (p->seq)
      snprintf(msg, sizeof msg,
               "in the log as sequence %llu; this replica stops before applying it (it will "
               "at its next start): do not resend",
               (unsigned long long)p->seq);
    pub_fail(p, p->seq ? RG_ENOT_APPLIED : RG_ESHUTTING_DOWN,
             p->seq ? msg : "shutting down before JetStream acknowledged the write: resend it");
  }
  deliver(c);
  for (out_item_t *o = c->out_head, *next; o; o = next) next = o->next, free(o);
  c->out_head = c->out_tail = NULL;
  uv_timer_stop(&c->sweep);
  uv_close((uv_handle_t *)&c->async, NULL);
  uv_close((uv_handle_t *)&c->sweep, NULL);
  rg_engine_set_stats_hook(c->engine, NULL, NULL);
}

void rg_cluster_free(rg_replica_t *c) {
  if (!c) return;
  for (in_item_t *it = c->in_head, *next; it; it = next) next = it->next, free(it);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->wake);
  free(c);
}
