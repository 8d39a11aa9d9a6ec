/* cluster_nats.c — cluster mode's NATS side (see cluster.c for the whole): the publisher
 * thread publishes log entries asynchronously, nats.c's own thread reports each publish
 * acknowledgment (on_pub_ack), and the consumer thread connects, creates the stream when
 * missing, (re)creates this node's durable pull consumer after the last applied sequence
 * and fetches entries. Everything goes to the loop through the inbox; nothing here touches
 * the engine or the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_internal.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"

/* ---- the inbox (any thread → loop) -------------------------------------------------- */

void rg__cluster_inbox_push(rg_replica_t *c, in_item_t *first, in_item_t *last) {
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
  if (it) rg__cluster_inbox_push(c, it, it);
  atomic_fetch_add(pa ? &c->published : &c->publish_failed, 1);
  natsMsg_Destroy(msg);
}

/* ---- the publisher thread ----------------------------------------------------------- */

void *rg__cluster_publisher_main(void *arg) {
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
        rg__cluster_inbox_push(c, it, it);
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

bool rg__cluster_pause_ms(rg_replica_t *c, int ms) {
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

natsStatus rg__cluster_connect(const rg_config_t *cfg, const char *name, natsConnection **nc) {
  char urls[sizeof cfg->cluster_nats], *save, *u;
  const char *list[URLS_MAX];
  int n = 0;
  snprintf(urls, sizeof urls, "%s", cfg->cluster_nats);
  for (u = strtok_r(urls, ", ", &save); u && n < URLS_MAX; u = strtok_r(NULL, ", ", &save))
    list[n++] = u;
  natsOptions *o = NULL;
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK) s = natsOptions_SetServers(o, list, n);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 100);
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, 1000);
  if (s == NATS_OK) s = natsOptions_SetName(o, name);
  if (s == NATS_OK) s = natsConnection_Connect(nc, o);
  natsOptions_Destroy(o);
  return s;
}

/* Connects (nats.c keeps reconnecting by itself from then on) and makes the JetStream
 * context. NATS_OK or the status. */
static natsStatus nats_connect(rg_replica_t *c, natsConnection **nc, jsCtx **js) {
  natsStatus s = rg__cluster_connect(&c->cfg, c->durable, nc);
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

/* Creates stream `name` taking `subject` (R cluster.replicas, file storage) with MaxAge
 * age_ns (0 = none) and MaxBytes bytes (-1 = none). NATS_OK, or the status with *jerr
 * (JSStreamNameExistErr: it exists with another configuration). */
static natsStatus add_stream(rg_replica_t *c, jsCtx *js, const char *name, const char *subject,
                             int64_t age_ns, int64_t bytes, jsErrCode *jerr) {
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  const char *subjects[1] = {subject};
  sc.Name = name;
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Replicas = (int64_t)c->cfg.cluster_replicas;
  sc.Storage = js_FileStorage;
  sc.MaxAge = age_ns;
  sc.MaxBytes = bytes;
  jsStreamInfo *si = NULL;
  *jerr = 0;
  natsStatus s = js_AddStream(&si, js, &sc, NULL, jerr);
  jsStreamInfo_Destroy(si);
  return s;
}

natsStatus rg__cluster_ensure_stream(rg_replica_t *c, jsCtx *js, const char *name,
                                     const char *subject) {
  jsErrCode jerr;
  natsStatus s = add_stream(c, js, name, subject, 0, -1, &jerr);
  if (s != NATS_OK && jerr == JSStreamNameExistErr) s = NATS_OK; /* made by another replica */
  return s;
}

/* The writes stream's limits as JetStream takes them: MaxAge in ns (0 = none), MaxBytes
 * (-1 = none). */
static void writes_limits(const rg_config_t *cfg, int64_t *age_ns, int64_t *bytes) {
  *age_ns = (int64_t)cfg->cluster_stream_max_age_s * INT64_C(1000000000);
  *bytes = cfg->cluster_stream_max_bytes ? (int64_t)cfg->cluster_stream_max_bytes : -1;
}

/* Creates the writes stream with cluster.stream_max_age / stream_max_bytes, or, when it
 * exists with other limits, updates it to these (its other settings kept). NATS_OK (also
 * when JetStream refuses the update: logged, the stream is used as it is) or the status. */
static natsStatus ensure_writes(rg_replica_t *c, jsCtx *js) {
  const char *name = c->cfg.cluster_stream;
  int64_t want_age, want_bytes;
  writes_limits(&c->cfg, &want_age, &want_bytes);
  jsErrCode jerr;
  natsStatus s = add_stream(c, js, name, c->subject, want_age, want_bytes, &jerr);
  if (s == NATS_OK || jerr != JSStreamNameExistErr) return s;
  jsStreamInfo *si = NULL;
  if ((s = js_GetStreamInfo(&si, js, name, NULL, &jerr)) != NATS_OK || !si || !si->Config) {
    jsStreamInfo_Destroy(si);
    return s == NATS_OK ? NATS_ERR : s;
  }
  int64_t age = si->Config->MaxAge > 0 ? si->Config->MaxAge : 0;
  int64_t bytes = si->Config->MaxBytes > 0 ? si->Config->MaxBytes : -1;
  if (age != want_age || bytes != want_bytes) {
    jsStreamConfig up = *si->Config; /* its subjects, replicas and the rest as they are */
    up.MaxAge = want_age;
    up.MaxBytes = want_bytes;
    jsStreamInfo *ui = NULL;
    jerr = 0;
    s = js_UpdateStream(&ui, js, &up, NULL, &jerr);
    jsStreamInfo_Destroy(ui);
    if (s == NATS_OK)
      rg_log_info("cluster: stream %s: limits set to max_age %llds, max_bytes %lld (were %llds, "
                  "%lld; 0 and -1 = none)",
                  name, (long long)(want_age / 1000000000), (long long)want_bytes,
                  (long long)(age / 1000000000), (long long)bytes);
    else if (jerr)
      rg_log_error("cluster: stream %s: JetStream refused its new limits (%s, error %d): it "
                   "keeps max_age %llds, max_bytes %lld",
                   name, natsStatus_GetText(s), (int)jerr, (long long)(age / 1000000000),
                   (long long)bytes);
    if (jerr) s = NATS_OK;
  }
  jsStreamInfo_Destroy(si);
  return s;
}

/* Reads the stream's first and last sequences (stats, lag, and whether the entries this
 * replica needs are still there). */
static void read_head(rg_replica_t *c, jsCtx *js) {
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  if (js_GetStreamInfo(&si, js, c->cfg.cluster_stream, NULL, &jerr) == NATS_OK && si) {
    atomic_store(&c->first, si->State.FirstSeq);
    atomic_store(&c->head, si->State.LastSeq);
    atomic_store(&c->head_at_ms, rg_clock_mono_us() / 1000);
    atomic_store(&c->have_head, true);
  }
  jsStreamInfo_Destroy(si);
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
  read_head(c, js); /* the loop sees at once whether entry `from` is still in the stream */
  natsStatus s = js_PullSubscribe(sub, js, c->subject, c->durable, NULL, &so, &jerr);
  if (s == NATS_OK) {
    atomic_store(&c->fetched, from - 1);
    rg_log_info("cluster: consuming %s from sequence %llu as %s", c->cfg.cluster_stream,
                (unsigned long long)from, c->durable);
  }
  return s;
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
  if (first) rg__cluster_inbox_push(c, first, last);
}

void *rg__cluster_consumer_main(void *arg) {
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
      stream_ok = (s = ensure_writes(c, js)) == NATS_OK;
    } else if (!sub || atomic_exchange(&c->reset, false)) {
      what = "create consumer";
      natsSubscription_Destroy(sub);
      atomic_store(&c->consuming, false);
      sub = NULL;
      if ((s = subscribe(c, js, &sub)) != NATS_OK) sub = NULL;
      if (s == NATS_OK) atomic_fetch_add(&c->resets, 1);
      atomic_store(&c->consuming, s == NATS_OK);
    } else if (atomic_load(&c->halted_flag)) {
      rg__cluster_pause_ms(c, RETRY_MS); /* an entry failed here: nothing more until a restart */
      continue;
    } else if (atomic_load(&c->fetched) > atomic_load(&c->applied) &&
               atomic_load(&c->fetched) - atomic_load(&c->applied) >= MAX_AHEAD) {
      rg__cluster_pause_ms(c, 5); /* the writer is behind: let it catch up */
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
        atomic_store(&c->consuming, false);
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
      if (rg__cluster_pause_ms(c, RETRY_MS)) break;
    }
  }
  natsSubscription_Destroy(sub);
  atomic_store(&c->consuming, false);
  pthread_mutex_lock(&c->lock);
  c->js_ready = false;
  pthread_mutex_unlock(&c->lock);
  return NULL;
}
