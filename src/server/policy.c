/* policy.c — the Postfix SMTPD access policy listener (policy delegation protocol, see
 * policy_proto.h) on the server's libuv loop. Each connection has a bounded parser and an
 * output buffer; requests are answered in order, one `action=…` each:
 *  - RCPT: the `check` verdict (rg_engine_check) of (sender, client_address, helo_name, the
 *    verified client_name, sasl_username, recipient), mapped to
 *    the Postfix action policy.action_<verdict> (or PREPEND only in observe mode);
 *  - policy.record_state (DATA or END-OF-MESSAGE): the message — its recipients collected
 *    per `instance` — becomes one observation queued to the writer; the answer does not
 *    wait for the commit, and past policy.max_queue queued writes it is dropped (counted);
 *  - every other known state: DUNNO.
 * Any internal error, an unknown state or a request that took longer than policy.budget_ms
 * is answered DUNNO (fail open), counted in `stats` (policy) and logged at most
 * LOG_PER_SEC times a second. Bad input (no '=', over a limit) closes that connection only.
 * Loop thread only. */
#include "repgraph/policy.h"

#include <errno.h>
#include <msgpack.h> /* only in reply_uint: reading the writer's replies */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "repgraph/actor.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/sockfile.h"
#include "repgraph/policy_proto.h"

#define READ_CHUNK     (64 * 1024)   /* bytes asked of the kernel per read */
#define OUTPUT_MAX     (1024 * 1024) /* unwritten answer bytes before a connection drops */
#define SWEEP_MS       1000          /* request and idle timeouts are checked this often */
#define LOG_PER_SEC    10            /* fail-open and protocol-error lines logged per second */
#define LISTEN_BACKLOG 511
#define FIELD_MAX      512 /* longest sender, client, helo or instance kept */
#define TEXT_MAX       200 /* longest reason in a reply text */

/* The message a connection is in (one smtpd process talks about one message at a time). */
typedef struct {
  char instance[FIELD_MAX], sender[FIELD_MAX], client[FIELD_MAX], helo[FIELD_MAX];
  char rdns[FIELD_MAX]; /* client_name when Postfix verified it, else "" */
  bool started, authenticated, recorded, prepended, too_long;
  rg_buf_t rcpts; /* per recipient: one flag byte (1 = refused by us), the address, NUL */
  uint32_t n_rcpts;
} message_t;

typedef struct pconn {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  rg_policy_t *p;
  rg_policy_parser_t *parser;
  rg_buf_t out, sending;
  uv_write_t wreq;
  bool writing, closing, close_after_flush;
  uint64_t last_active_ms, request_started_ms;
  message_t msg;
  struct pconn *prev, *next;
} pconn_t;

struct rg_policy {
  rg_config_t cfg;
  uv_loop_t *loop;
  rg_engine_t *engine;
  rg_metrics_t *m;
  rg_policy_limits_t lim;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
  uv_timer_t sweep;
  bool has_tcp, has_pipe, stopping, observe;
  int record_state; /* 0 none, 1 DATA, 2 END-OF-MESSAGE */
  pconn_t *conns;
  rg_log_limit_t log_limit;
  rg_buf_t scratch; /* the engine's replies, read back at once */
  char read_buf[READ_CHUNK];
  char unix_path[RG_CONFIG_PATH_MAX];
};

static void count(rg_policy_t *p, rg_policy_counter_t c) {
  atomic_fetch_add(&p->m->policy[c], 1);
}

static void plog(rg_policy_t *p, const char *what, const char *detail) {
  if (rg_log_limit_take(&p->log_limit, rg_clock_now(), LOG_PER_SEC))
    rg_log_warn("policy: %s: %s (%llu such lines not logged since start)", what, detail,
                (unsigned long long)p->log_limit.suppressed);
}

/* ---- the check and the writer's replies -------------------------------------------- */

/* Weighs one recipient of the message with the engine's check (rg_engine_check). 0;
 * RG_EINVALID_ACTOR (no usable sender or client IP); another error for the rest. */
static int check_rcpt(rg_policy_t *p, const message_t *msg, const char *rcpt,
                      rg_check_verdict_t *v) {
  rg_str_t rc_str = {rcpt, (uint32_t)strlen(rcpt)};
  rg_wire_observation_t o = {.sender = {msg->sender, (uint32_t)strlen(msg->sender)},
                             .client_ip = {msg->client, (uint32_t)strlen(msg->client)},
                             .helo = {msg->helo, (uint32_t)strlen(msg->helo)},
                             .rdns = {msg->rdns, (uint32_t)strlen(msg->rdns)},
                             .authenticated = msg->authenticated,
                             .recipients = rc_str.len ? &rc_str : NULL,
                             .n_recipients = rc_str.len ? 1 : 0};
  char why[160];
  return rg_engine_check(p->engine, &o, v, why, sizeof why);
}

static const msgpack_object *mp_get(const msgpack_object *o, const char *key) {
  if (!o || o->type != MSGPACK_OBJECT_MAP) return NULL;
  size_t n = strlen(key);
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, key, n))
      return &o->via.map.ptr[i].val;
  }
  return NULL;
}

/* An unsigned field of a reply frame in p->scratch, or 0. */
static uint64_t reply_uint(rg_policy_t *p, const char *field) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  uint64_t v = 0;
  size_t off = 0;
  if (p->scratch.len > RG_FRAME_HEADER &&
      msgpack_unpack_next(&u, (const char *)p->scratch.data + RG_FRAME_HEADER,
                          p->scratch.len - RG_FRAME_HEADER, &off) == MSGPACK_UNPACK_SUCCESS) {
    const msgpack_object *o = mp_get(&u.data, field);
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) v = o->via.u64;
  }
  msgpack_unpacked_destroy(&u);
  return v;
}

/* ---- recording --------------------------------------------------------------------- */

static void on_observation_done(rg_write_t *w, void *ctx) {
  rg_policy_t *p = ctx;
  p->scratch.len = 0;
  if (rg_engine_finish_write(w, &p->scratch) == RG_OK && reply_uint(p, "accepted") == 1) {
    count(p, RG_POLICY_OBS_RECORDED);
  } else {
    count(p, RG_POLICY_OBS_FAILED);
    plog(p, "observation not recorded", "refused or not committed (see stats errors)");
  }
}

/* Hands the message to the writer as one observation, once: its accepted recipients, and
 * the refused ones with policy.record_rejected. Never waits for the commit. */
static void message_record(rg_policy_t *p, message_t *msg) {
  if (msg->recorded) return;
  msg->recorded = true;
  rg_str_t *rcpts = NULL;
  uint32_t n = 0;
  if (msg->n_rcpts) rcpts = calloc(msg->n_rcpts, sizeof *rcpts);
  for (size_t off = 0; rcpts && off < msg->rcpts.len;) {
    const char *a = (const char *)msg->rcpts.data + off + 1;
    size_t len = strlen(a);
    if (!msg->rcpts.data[off] || p->cfg.policy_record_rejected)
      rcpts[n++] = (rg_str_t){a, (uint32_t)len};
    off += len + 2;
  }
  if (!n || !msg->sender[0] || msg->too_long) {
    count(p, RG_POLICY_OBS_SKIPPED); /* bounces, nothing accepted */
  } else if (atomic_load(&p->m->write_queue_depth) >= p->cfg.policy_max_queue) {
    count(p, RG_POLICY_OBS_DROPPED);
    plog(p, "observation dropped", "the writer queue is past policy.max_queue");
  } else {
    rg_wire_observation_t o = {.ts = 0, /* the server's clock */
                               .sender = {msg->sender, (uint32_t)strlen(msg->sender)},
                               .client_ip = {msg->client, (uint32_t)strlen(msg->client)},
                               .helo = {msg->helo, (uint32_t)strlen(msg->helo)},
                               .rdns = {msg->rdns, (uint32_t)strlen(msg->rdns)},
                               .authenticated = msg->authenticated,
                               .recipients = rcpts,
                               .n_recipients = n};
    rg_request_t req = {.op = RG_OP_INGEST, .observations = &o, .n_observations = 1};
    rg_write_t *pending = NULL;
    p->scratch.len = 0;
    int rc = rg_engine_handle(p->engine, &req, &p->scratch, on_observation_done, p, &pending);
    count(p, !rc && pending ? RG_POLICY_OBS_QUEUED : RG_POLICY_OBS_FAILED);
  }
  free(rcpts);
}

/* Starts a new message when the request's instance differs from the current one (a
 * message left unrecorded, all refused, is recorded first with policy.record_rejected),
 * and takes sender, client and HELO from the request. */
static void message_track(rg_policy_t *p, message_t *msg, const rg_policy_request_t *r) {
  const char *instance = rg_policy_request_get(r, "instance");
  if (!instance) instance = "";
  if (!msg->started || strcmp(instance, msg->instance) != 0) {
    if (msg->n_rcpts && p->cfg.policy_record_rejected) message_record(p, msg);
    rg_buf_t rcpts = msg->rcpts;
    rg_buf_reset(&rcpts, 4096);
    memset(msg, 0, sizeof *msg);
    msg->rcpts = rcpts;
    msg->started = true;
  }
  const char *fields[4] = {instance, rg_policy_request_get(r, "sender"),
                           rg_policy_request_get(r, "client_address"),
                           rg_policy_request_get(r, "helo_name")};
  char *dst[4] = {msg->instance, msg->sender, msg->client, msg->helo};
  msg->too_long = false;
  for (int i = 0; i < 4; i++) {
    const char *v = fields[i] ? fields[i] : "";
    if (strlen(v) >= FIELD_MAX) msg->too_long = true;
    snprintf(dst[i], FIELD_MAX, "%s", strlen(v) >= FIELD_MAX ? "" : v);
  }
  const char *sasl = rg_policy_request_get(r, "sasl_username");
  msg->authenticated = sasl && sasl[0];
  /* Postfix says client_name=unknown unless the reverse name resolves back to the client
   * (forward-confirmed); reverse_client_name is unverified and whoever controls the IP's
   * reverse zone can claim any domain there, so it is not used. */
  const char *name = rg_policy_request_get(r, "client_name");
  bool verified = name && name[0] && strcmp(name, "unknown") != 0 && strlen(name) < FIELD_MAX;
  snprintf(msg->rdns, sizeof msg->rdns, "%s", verified ? name : "");
}

/* Adds a recipient to the message; one that is not an address is left out (it would make
 * the writer refuse the whole observation). */
static void message_add_rcpt(rg_policy_t *p, message_t *msg, const char *rcpt, bool refused) {
  rg_actor_t a;
  if (!rcpt[0] || msg->n_rcpts >= p->cfg.max_recipients ||
      rg_actor_normalize(RG_ACTOR_ADDRESS, rcpt, strlen(rcpt), &a, NULL) != RG_OK)
    return;
  uint8_t flag = refused;
  if (rg_buf_append(&msg->rcpts, &flag, 1) || rg_buf_append(&msg->rcpts, rcpt, strlen(rcpt) + 1))
    return;
  msg->n_rcpts++;
}

/* ---- answering ----------------------------------------------------------------------- */

/* Copies text into buf keeping printable ASCII only (a reply is one line to Postfix). */
static void clean_text(char *buf, size_t cap, const char *text) {
  size_t n = 0;
  for (; *text && n + 1 < cap; text++) buf[n++] = *text >= ' ' && *text <= '~' ? *text : '?';
  buf[n] = '\0';
}

/* The Postfix action for a check result: policy.action_<verdict>, PREPEND in observe mode
 * (once per message: one header, not one per recipient). */
static const char *rcpt_action(rg_policy_t *p, message_t *msg, const rg_check_verdict_t *r, char *buf,
                               size_t cap, rg_policy_counter_t *counter) {
  const char *word = p->observe ? "PREPEND" : p->cfg.policy_action[r->verdict];
  char why[TEXT_MAX];
  clean_text(why, sizeof why, r->reason[0] ? r->reason : "poor reputation");
  if (strcmp(word, "PREPEND") == 0 && msg->prepended) word = "DUNNO";
  if (strcmp(word, "PREPEND") == 0) {
    msg->prepended = true;
    *counter = RG_POLICY_PREPEND;
    snprintf(buf, cap, "PREPEND %s: verdict=%s score=%.3f known=%s decided_by=%s",
             p->cfg.policy_header, rg_engine_verdict_name(r->verdict), r->score,
             r->known ? "yes" : "no", r->decided_by ? r->decided_by : "none");
  } else if (strcmp(word, "REJECT") == 0) {
    *counter = RG_POLICY_REJECT;
    snprintf(buf, cap, "REJECT 5.7.1 repgraph: %s", why);
  } else if (strncmp(word, "DEFER", 5) == 0) {
    *counter = RG_POLICY_DEFER;
    snprintf(buf, cap, "%s 4.7.1 repgraph: %s; try again later", word, why);
  } else if (strcmp(word, "HOLD") == 0) {
    *counter = RG_POLICY_HOLD;
    snprintf(buf, cap, "HOLD repgraph: %s", why);
  } else {
    *counter = RG_POLICY_DUNNO;
    snprintf(buf, cap, "DUNNO");
  }
  return buf;
}

static bool is_known_state(const char *s) {
  static const char *const states[] = {"CONNECT", "EHLO",           "HELO", "MAIL", "RCPT",
                                       "DATA",    "END-OF-MESSAGE", "VRFY", "ETRN"};
  for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
    if (strcmp(s, states[i]) == 0) return true;
  return false;
}

/* Answers one request into the connection's output; t0_us is when its bytes were read. */
static int answer(pconn_t *c, const rg_policy_request_t *r, uint64_t t0_us) {
  rg_policy_t *p = c->p;
  char action[512] = "DUNNO";
  rg_policy_counter_t counter = RG_POLICY_DUNNO;
  const char *state = rg_policy_request_get(r, "protocol_state");
  const char *kind = rg_policy_request_get(r, "request");
  count(p, RG_POLICY_REQUESTS);
  if (!state || !kind || strcmp(kind, "smtpd_access_policy") != 0 || !is_known_state(state)) {
    counter = RG_POLICY_FAIL_OPEN_STATE;
    plog(p, "unknown request or protocol_state, answered DUNNO", state ? state : "(none)");
  } else {
    message_track(p, &c->msg, r);
    if (strcmp(state, "RCPT") == 0) {
      const char *rcpt = rg_policy_request_get(r, "recipient");
      rg_check_verdict_t res = {0};
      int rc =
          c->msg.too_long ? RG_EINVALID_ACTOR : check_rcpt(p, &c->msg, rcpt ? rcpt : "", &res);
      if (rc == RG_EINVALID_ACTOR && rcpt && rcpt[0] && !c->msg.too_long)
        rc = check_rcpt(p, &c->msg, "", &res); /* an odd recipient must not hide the sender */
      if (rc == RG_EINVALID_ACTOR) {
        counter = RG_POLICY_UNCHECKED; /* e.g. the null sender of a bounce */
      } else if (rc) {
        counter = RG_POLICY_FAIL_OPEN_ERROR;
        plog(p, "check failed, answered DUNNO", rg_strerror(rc));
      } else {
        rcpt_action(p, &c->msg, &res, action, sizeof action, &counter);
      }
      message_add_rcpt(p, &c->msg, rcpt ? rcpt : "",
                       counter == RG_POLICY_REJECT || counter == RG_POLICY_DEFER);
    } else if ((p->record_state == 1 && strcmp(state, "DATA") == 0) ||
               (p->record_state == 2 && strcmp(state, "END-OF-MESSAGE") == 0)) {
      message_record(p, &c->msg);
    }
  }
  uint64_t took = rg_clock_mono_us() - t0_us;
  if (took > (uint64_t)p->cfg.policy_budget_ms * 1000 && strcmp(action, "DUNNO") != 0) {
    snprintf(action, sizeof action, "DUNNO");
    counter = RG_POLICY_FAIL_OPEN_BUDGET;
    plog(p, "over policy.budget_ms, answered DUNNO", "the verdict came too late");
  }
  count(p, counter);
  if (counter >= RG_POLICY_FAIL_OPEN_ERROR && counter <= RG_POLICY_UNCHECKED)
    count(p, RG_POLICY_DUNNO); /* "dunno" counts every DUNNO answer */
  int rc = rg_buf_append(&c->out, "action=", 7);
  if (!rc) rc = rg_buf_append(&c->out, action, strlen(action));
  if (!rc) rc = rg_buf_append(&c->out, "\n\n", 2);
  rg_hist_add(&p->m->policy_latency, rg_clock_mono_us() - t0_us);
  return rc;
}

/* ---- connections ------------------------------------------------------------------- */

static void pconn_on_closed(uv_handle_t *h) {
  pconn_t *c = h->data;
  rg_policy_t *p = c->p;
  if (c->prev)
    c->prev->next = c->next;
  else
    p->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  atomic_fetch_sub(&p->m->policy[RG_POLICY_CONNS_CURRENT], 1);
  rg_policy_parser_free(c->parser);
  rg_buf_free(&c->out);
  rg_buf_free(&c->sending);
  rg_buf_free(&c->msg.rcpts);
  free(c);
}

static void pconn_close(pconn_t *c) {
  if (c->closing) return;
  c->closing = true;
  if (c->msg.n_rcpts && c->p->cfg.policy_record_rejected) message_record(c->p, &c->msg);
  uv_close(&c->h.handle, pconn_on_closed);
}

static void pconn_flush(pconn_t *c);

static void pconn_on_written(uv_write_t *req, int status) {
  pconn_t *c = req->data;
  c->writing = false;
  c->sending.len = 0;
  if (c->closing) return;
  if (status < 0) {
    pconn_close(c);
    return;
  }
  pconn_flush(c);
}

static void pconn_flush(pconn_t *c) {
  if (c->closing) return;
  if (!c->writing && c->out.len) {
    rg_buf_t t = c->sending;
    c->sending = c->out;
    c->out = t;
    uv_buf_t b = uv_buf_init((char *)c->sending.data, (unsigned)c->sending.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, &c->h.stream, &b, 1, pconn_on_written)) {
      pconn_close(c);
      return;
    }
    c->writing = true;
  }
  if (c->close_after_flush && !c->writing && !c->out.len) pconn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  pconn_t *c = h->data;
  (void)suggested;
  *buf = uv_buf_init(c->p->read_buf, sizeof c->p->read_buf); /* parsed before the next read */
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  pconn_t *c = st->data;
  rg_policy_t *p = c->p;
  if (n < 0) {
    pconn_close(c); /* EOF or reset */
    return;
  }
  uint64_t t0 = rg_clock_mono_us();
  c->last_active_ms = uv_now(p->loop);
  size_t off = 0;
  while (off < (size_t)n && !c->closing && !c->close_after_flush) {
    size_t used;
    const rg_policy_request_t *req;
    char err[160];
    int rc = rg_policy_parser_feed(c->parser, (const uint8_t *)buf->base + off, (size_t)n - off,
                                   &used, &req, err, sizeof err);
    off += used;
    if (rc) {
      count(p, RG_POLICY_PROTOCOL_ERRORS);
      plog(p, "closing a connection on bad input", err);
      c->close_after_flush = true; /* answers to its earlier requests still go out */
      uv_read_stop(&c->h.stream);
    } else if (req && answer(c, req, t0)) {
      pconn_close(c);
      return;
    }
  }
  if (!rg_policy_parser_partial(c->parser))
    c->request_started_ms = 0;
  else if (!c->request_started_ms)
    c->request_started_ms = c->last_active_ms;
  if (c->out.len + c->sending.len > OUTPUT_MAX) {
    plog(p, "closing a connection", "it does not read its answers");
    pconn_close(c);
    return;
  }
  pconn_flush(c);
}

static void free_handle(uv_handle_t *h) {
  free(h); /* the handle is the first member of its pconn_t */
}

static void on_connection(uv_stream_t *listener, int status) {
  rg_policy_t *p = listener->data;
  if (status < 0) {
    plog(p, "accept", uv_strerror(status));
    return;
  }
  pconn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->p = p;
  int rc = listener == (uv_stream_t *)&p->tcp ? uv_tcp_init(p->loop, &c->h.tcp)
                                              : uv_pipe_init(p->loop, &c->h.pipe, 0);
  if (rc || rg_policy_parser_new(&p->lim, &c->parser)) {
    if (rc)
      free(c);
    else
      uv_close(&c->h.handle, free_handle);
    return;
  }
  c->h.handle.data = c;
  rg_buf_init(&c->out, 0);
  rg_buf_init(&c->sending, 0);
  rg_buf_init(&c->msg.rcpts, 0);
  c->next = p->conns;
  if (p->conns) p->conns->prev = c;
  p->conns = c;
  count(p, RG_POLICY_CONNS_TOTAL);
  count(p, RG_POLICY_CONNS_CURRENT);
  c->last_active_ms = uv_now(p->loop);
  if (uv_accept(listener, &c->h.stream) != 0) {
    pconn_close(c);
    return;
  }
  if (atomic_load(&p->m->policy[RG_POLICY_CONNS_CURRENT]) > p->cfg.policy_max_connections) {
    count(p, RG_POLICY_CONNS_REFUSED);
    plog(p, "refusing a connection", "policy.max_connections reached");
    pconn_close(c); /* Postfix falls back to default_action */
    return;
  }
  if (listener == (uv_stream_t *)&p->tcp) uv_tcp_nodelay(&c->h.tcp, 1);
  uv_read_start(&c->h.stream, on_alloc, on_read);
}

/* Each SWEEP_MS: closes connections whose request has been arriving for longer than
 * policy.request_timeout, and those idle for policy.idle_timeout. */
static void on_sweep(uv_timer_t *t) {
  rg_policy_t *p = t->data;
  uint64_t now = uv_now(p->loop), limit = p->cfg.policy_request_timeout_s * 1000;
  uint64_t idle = p->cfg.policy_idle_timeout_s * 1000;
  for (pconn_t *c = p->conns, *next; c; c = next) {
    next = c->next;
    if (c->closing) continue;
    if (c->request_started_ms && now - c->request_started_ms >= limit) {
      count(p, RG_POLICY_TIMEOUTS);
      plog(p, "closing a connection", "request not complete within policy.request_timeout");
      pconn_close(c);
    } else if (idle && now - c->last_active_ms >= idle && !c->writing) {
      pconn_close(c);
    }
  }
}

/* ---- listeners ----------------------------------------------------------------------- */

static int listen_tcp(rg_policy_t *p, char *err, size_t errlen) {
  char host[80];
  unsigned port;
  struct sockaddr_storage addr;
  int rc = rg_config_split_host_port(p->cfg.policy_listen, host, sizeof host, &port);
  if (!rc)
    rc = strchr(host, ':') ? uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&addr)
                           : uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&addr);
  if (rc) {
    snprintf(err, errlen, "policy.listen: '%s' is not IP:port", p->cfg.policy_listen);
    return RG_ECONFIG;
  }
  uv_tcp_init(p->loop, &p->tcp);
  p->tcp.data = p;
  p->has_tcp = true;
  if ((rc = uv_tcp_bind(&p->tcp, (struct sockaddr *)&addr, 0)) == 0)
    rc = uv_listen((uv_stream_t *)&p->tcp, LISTEN_BACKLOG, on_connection);
  if (rc) {
    snprintf(err, errlen, "policy: cannot listen on %s: %s", p->cfg.policy_listen, uv_strerror(rc));
    return RG_EIO;
  }
  rg_log_info("policy: listening on %s", p->cfg.policy_listen);
  return RG_OK;
}

static int listen_unix(rg_policy_t *p, char *err, size_t errlen) {
  const char *path = p->cfg.policy_unix;
  int rc = rg_sockfile_claim(path, "policy.unix", err, errlen);
  if (rc) return rc;
  uv_pipe_init(p->loop, &p->pipe, 0);
  p->pipe.data = p;
  p->has_pipe = true;
  rc = uv_pipe_bind(&p->pipe, path);
  if (!rc) {
    snprintf(p->unix_path, sizeof p->unix_path, "%s", path);
    if (chmod(path, p->cfg.unix_mode)) rc = uv_translate_sys_error(errno);
  }
  if (!rc) rc = uv_listen((uv_stream_t *)&p->pipe, LISTEN_BACKLOG, on_connection);
  if (rc) {
    snprintf(err, errlen, "policy: cannot listen on %s: %s", path, uv_strerror(rc));
    return RG_EIO;
  }
  rg_log_info("policy: listening on %s", path);
  return RG_OK;
}

int rg_policy_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t *engine, rg_policy_t **out,
                   char *err, size_t errlen) {
  *out = NULL;
  if (!cfg->policy_listen[0] && !cfg->policy_unix[0]) return RG_OK;
  rg_policy_t *p = calloc(1, sizeof *p);
  if (!p) return RG_ENOMEM;
  p->cfg = *cfg;
  p->loop = loop;
  p->engine = engine;
  p->m = rg_engine_metrics(engine);
  p->lim = (rg_policy_limits_t){cfg->policy_max_line, cfg->policy_max_attributes,
                                cfg->policy_max_request};
  p->observe = strcmp(cfg->policy_mode, "observe") == 0;
  p->record_state = strcmp(cfg->policy_record_state, "DATA") == 0             ? 1
                    : strcmp(cfg->policy_record_state, "END-OF-MESSAGE") == 0 ? 2
                                                                              : 0;
  rg_buf_init(&p->scratch, 0);
  uv_timer_init(loop, &p->sweep);
  p->sweep.data = p;
  int rc = cfg->policy_unix[0] ? listen_unix(p, err, errlen) : RG_OK;
  if (!rc && cfg->policy_listen[0]) rc = listen_tcp(p, err, errlen);
  if (rc) {
    rg_policy_shutdown(p);
    uv_run(loop, UV_RUN_NOWAIT); /* the close callbacks */
    rg_policy_close(p);
    return rc;
  }
  uv_timer_start(&p->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
  rg_log_info("policy: mode %s, budget %u ms, recording at %s", cfg->policy_mode,
              cfg->policy_budget_ms, cfg->policy_record_state);
  *out = p;
  return RG_OK;
}

void rg_policy_shutdown(rg_policy_t *p) {
  if (!p || p->stopping) return;
  p->stopping = true;
  if (p->has_tcp) uv_close((uv_handle_t *)&p->tcp, NULL);
  if (p->has_pipe) uv_close((uv_handle_t *)&p->pipe, NULL);
  uv_close((uv_handle_t *)&p->sweep, NULL);
  for (pconn_t *c = p->conns; c; c = c->next) pconn_close(c);
}

void rg_policy_close(rg_policy_t *p) {
  if (!p) return;
  if (p->unix_path[0]) unlink(p->unix_path);
  rg_buf_free(&p->scratch);
  free(p);
}
