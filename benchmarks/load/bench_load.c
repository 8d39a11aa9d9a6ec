/* bench_load.c — load generator for repgraphd and, as its peer, Redis (RESP). N connections
 * over TCP or a Unix socket, each keeping up to D requests in flight (pipelining); an op mix
 * of lookups (B actors per request; GET / MGET of B keys for Redis), ingests (B edges per
 * request; SET / MSET for Redis, used to preload it) and checks; a fixed duration or request
 * count; an optional target rate (open loop, latency counted from each request's due time).
 * Deterministic for a seed. Prints one line of key=value results: throughput and latency
 * percentiles (p50, p99, p99.9, max) per op from a log-linear histogram (< 2% error), after
 * an optional warm-up whose requests are not counted (-w).
 * Actor i is "address:s<i>@bench.example"; ingest edge e goes from s(e / 10) to r(e), so
 * ingesting E edges makes senders s0 .. s(E/10 - 1) known. Single-threaded (one libuv loop). */
#define _GNU_SOURCE /* memmem */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "repgraph/buf.h"
#include "repgraph/proto.h"

#define FANOUT      10 /* ingest edges per sender */
#define SUB_BITS    6  /* histogram: 2^6 sub-buckets per power of two */
#define HIST_SIZE   (64 << SUB_BITS)
#define READ_CHUNK  (256 * 1024)
#define TS_BASE     1700000000
#define MAX_PENDING 4096

enum { OP_LOOKUP, OP_INGEST, OP_CHECK, N_OPS };
static const char *const op_names[N_OPS] = {"lookup", "ingest", "check"};

typedef struct {
  uint64_t counts[HIST_SIZE];
  uint64_t n, max, sum;
} hist_t;

typedef struct {
  hist_t lat;
  uint64_t requests, items, errors, misses, bytes_in;
} op_stats_t;

typedef struct bench bench_t;

typedef struct conn {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  uv_connect_t creq;
  uv_write_t wreq;
  bench_t *b;
  rg_buf_t in, out, sending;
  bool writing, closed;
  uint64_t rng, next_id, expect_id;
  /* requests in flight, oldest first (replies come in order) */
  uint64_t sent_ns[MAX_PENDING];
  uint8_t op[MAX_PENDING];
  uint32_t items[MAX_PENDING];
  unsigned head, count;
} conn_t;

struct bench {
  uv_loop_t *loop;
  uv_timer_t stop_timer, warm_timer;
  uv_idle_t pacer;
  bool resp, stopping, started;
  const char *host, *unix_path;
  unsigned port, conns, depth, batch, value_size;
  unsigned mix[N_OPS], mix_total;
  uint64_t requests, items_max, keys, seed, connected;
  double duration, rate, warmup;
  uint64_t issued, seq, t_start, t_end, next_due;
  conn_t *c;
  op_stats_t st[N_OPS];
  char *value;
};

static uint64_t now_ns(void) {
  return uv_hrtime();
}

static void die(const char *msg) {
  fprintf(stderr, "bench_load: %s\n", msg);
  exit(1);
}

/* splitmix64 */
static uint64_t rnd(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* ---- histogram ---------------------------------------------------------------------- */

static unsigned hist_index(uint64_t v) {
  if (v < (1u << SUB_BITS)) return (unsigned)v;
  unsigned e = 63 - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
  return ((e - SUB_BITS + 1) << SUB_BITS) +
         (unsigned)((v >> (e - SUB_BITS)) & ((1u << SUB_BITS) - 1));
}

static uint64_t hist_value(unsigned i) { /* middle of bucket i */
  if (i < (1u << SUB_BITS)) return i;
  unsigned e = (i >> SUB_BITS) + SUB_BITS - 1;
  uint64_t lo = ((uint64_t)((i & ((1u << SUB_BITS) - 1)) | (1u << SUB_BITS))) << (e - SUB_BITS);
  return lo + ((UINT64_C(1) << (e - SUB_BITS)) >> 1);
}

static void hist_add(hist_t *h, uint64_t v) {
  h->counts[hist_index(v)]++;
  h->n++;
  h->sum += v;
  if (v > h->max) h->max = v;
}

static uint64_t hist_quantile(const hist_t *h, double q) {
  if (!h->n) return 0;
  uint64_t want = (uint64_t)(q * (double)h->n), seen = 0;
  if (want >= h->n) want = h->n - 1;
  for (unsigned i = 0; i < HIST_SIZE; i++) {
    seen += h->counts[i];
    if (seen > want) {
      uint64_t v = hist_value(i);
      return v < h->max ? v : h->max;
    }
  }
  return h->max;
}

/* ---- requests ------------------------------------------------------------------------- */

static void key_name(char *buf, size_t cap, uint64_t k) {
  snprintf(buf, cap, "address:s%" PRIu64 "@bench.example", k);
}

static void resp_bulk(rg_buf_t *o, const char *s, size_t n) {
  char hdr[32];
  int h = snprintf(hdr, sizeof hdr, "$%zu\r\n", n);
  if (rg_buf_append(o, hdr, (size_t)h) || rg_buf_append(o, s, n) || rg_buf_append(o, "\r\n", 2))
    die("out of memory");
}

static void resp_array(rg_buf_t *o, unsigned n) {
  char hdr[32];
  int h = snprintf(hdr, sizeof hdr, "*%u\r\n", n);
  if (rg_buf_append(o, hdr, (size_t)h)) die("out of memory");
}

/* Appends one request of kind `op` with up to `batch` items; returns the item count. */
static uint32_t build(bench_t *b, conn_t *c, int op) {
  char key[96], dst[96];
  uint32_t n = b->batch;
  if (op == OP_INGEST) {
    if (b->seq >= b->items_max) return 0;
    if (b->items_max - b->seq < n) n = (uint32_t)(b->items_max - b->seq);
  }
  if (b->resp) {
    if (op == OP_LOOKUP) {
      resp_array(&c->out, n + 1);
      resp_bulk(&c->out, n == 1 ? "GET" : "MGET", n == 1 ? 3 : 4);
      for (uint32_t i = 0; i < n; i++) {
        key_name(key, sizeof key, rnd(&c->rng) % b->keys);
        resp_bulk(&c->out, key, strlen(key));
      }
    } else { /* preload: keys in order, as ingest makes senders known in order */
      resp_array(&c->out, 2 * n + 1);
      resp_bulk(&c->out, n == 1 ? "SET" : "MSET", n == 1 ? 3 : 4);
      for (uint32_t i = 0; i < n; i++) {
        key_name(key, sizeof key, b->seq++);
        resp_bulk(&c->out, key, strlen(key));
        resp_bulk(&c->out, b->value, b->value_size);
      }
    }
    return n;
  }
  rg_wr_t w;
  rg_wr_begin(&w, &c->out);
  rg_wr_map(&w, op == OP_CHECK ? 4 : 3);
  rg_wr_str(&w, "id"), rg_wr_uint(&w, c->next_id++);
  rg_wr_str(&w, "op"), rg_wr_str(&w, op_names[op]);
  if (op == OP_LOOKUP) {
    rg_wr_str(&w, "actors"), rg_wr_array(&w, n);
    for (uint32_t i = 0; i < n; i++) {
      key_name(key, sizeof key, rnd(&c->rng) % b->keys);
      rg_wr_str(&w, key);
    }
  } else if (op == OP_INGEST) {
    rg_wr_str(&w, "edges"), rg_wr_array(&w, n);
    for (uint32_t i = 0; i < n; i++) {
      uint64_t e = b->seq++;
      key_name(key, sizeof key, e / FANOUT);
      snprintf(dst, sizeof dst, "address:r%" PRIu64 "@bench.example", e);
      rg_wr_map(&w, 4);
      rg_wr_str(&w, "src"), rg_wr_str(&w, key);
      rg_wr_str(&w, "dst"), rg_wr_str(&w, dst);
      rg_wr_str(&w, "kind"), rg_wr_str(&w, "mailed");
      rg_wr_str(&w, "ts"), rg_wr_uint(&w, TS_BASE + e / 1000);
    }
  } else {
    uint64_t k = rnd(&c->rng) % b->keys;
    snprintf(key, sizeof key, "s%" PRIu64 "@bench.example", k);
    snprintf(dst, sizeof dst, "10.%u.%u.%u", (unsigned)(k >> 16) & 255, (unsigned)(k >> 8) & 255,
             (unsigned)k & 255);
    rg_wr_str(&w, "sender"), rg_wr_str(&w, key);
    rg_wr_str(&w, "client_ip"), rg_wr_str(&w, dst);
  }
  if (rg_wr_end(&w)) die("encoding failed");
  return n;
}

/* ---- replies -------------------------------------------------------------------------- */

/* Length of one complete RESP reply at p (0 if incomplete); counts errors and nil bulks. */
static size_t resp_reply(const uint8_t *p, size_t len, uint64_t *errors, uint64_t *misses) {
  const uint8_t *eol = memchr(p, '\n', len);
  if (!eol || len < 3) return 0;
  size_t line = (size_t)(eol - p) + 1;
  long long n = strtoll((const char *)p + 1, NULL, 10);
  switch (p[0]) {
    case '+':
    case ':': return line;
    case '-': ++*errors; return line;
    case '$':
      if (n < 0) {
        ++*misses;
        return line;
      }
      return len >= line + (size_t)n + 2 ? line + (size_t)n + 2 : 0;
    case '*': {
      size_t off = line;
      for (long long i = 0; i < n; i++) {
        size_t r = resp_reply(p + off, len - off, errors, misses);
        if (!r) return 0;
        off += r;
      }
      return off;
    }
    default: die("unexpected RESP reply"); return 0;
  }
}

/* Checks a repgraph reply: its id (in order), error or not, unknown actors. */
static void check_reply(conn_t *c, const uint8_t *p, size_t n, op_stats_t *s) {
  /* {"id": <uint>, "<first field>": …}: fixmap or map16, then "id" */
  size_t off = p[0] == 0xde ? 3 : 1;
  if (n < off + 4 || memcmp(p + off, "\xa2id", 3) != 0) die("reply without an id");
  off += 3;
  uint64_t id = 0;
  uint8_t t = p[off++];
  if (t < 0x80)
    id = t;
  else if (t == 0xcc)
    id = p[off], off += 1;
  else if (t == 0xcd)
    id = rg_get_u16be(p + off), off += 2;
  else if (t == 0xce)
    id = rg_get_u32be(p + off), off += 4;
  else if (t == 0xcf)
    id = rg_get_u64be(p + off), off += 8;
  if (id != c->expect_id++) die("reply out of order");
  if (off + 6 <= n && memcmp(p + off,
                             "\xa5"
                             "error",
                             6) == 0)
    s->errors++;
  static const char unknown[] = "\xa5known\xc2";
  for (const uint8_t *q = p + off; (q = memmem(q, n - (size_t)(q - p), unknown, 7)); q += 7)
    s->misses++;
}

static void fill(conn_t *c);

static void on_written(uv_write_t *req, int status) {
  conn_t *c = req->data;
  c->writing = false;
  c->sending.len = 0;
  if (c->closed) return;
  if (status < 0) die(uv_strerror(status));
  fill(c);
}

static void flush(conn_t *c) {
  if (c->writing || !c->out.len) return;
  rg_buf_t t = c->sending;
  c->sending = c->out;
  c->out = t;
  uv_buf_t buf = uv_buf_init((char *)c->sending.data, (unsigned)c->sending.len);
  c->wreq.data = c;
  if (uv_write(&c->wreq, &c->h.stream, &buf, 1, on_written)) die("uv_write failed");
  c->writing = true;
}

static int pick_op(bench_t *b, conn_t *c) {
  if (b->mix_total == b->mix[OP_LOOKUP]) return OP_LOOKUP;
  uint64_t r = rnd(&c->rng) % b->mix_total;
  for (int op = 0; op < N_OPS; op++) {
    if (r < b->mix[op]) return op;
    r -= b->mix[op];
  }
  return OP_LOOKUP;
}

static void maybe_finish(bench_t *b) {
  if (!b->stopping) return;
  for (unsigned i = 0; i < b->conns; i++)
    if (b->c[i].count) return;
  if (!b->t_end) b->t_end = now_ns();
  for (unsigned i = 0; i < b->conns; i++)
    if (!b->c[i].closed) {
      b->c[i].closed = true;
      uv_close(&b->c[i].h.handle, NULL);
    }
  if (!uv_is_closing((uv_handle_t *)&b->stop_timer)) uv_close((uv_handle_t *)&b->stop_timer, NULL);
  if (!uv_is_closing((uv_handle_t *)&b->warm_timer)) uv_close((uv_handle_t *)&b->warm_timer, NULL);
  if (!uv_is_closing((uv_handle_t *)&b->pacer)) uv_close((uv_handle_t *)&b->pacer, NULL);
}

/* Issues requests until the pipeline is full, the run is over, or (paced) none is due. */
static void fill(conn_t *c) {
  bench_t *b = c->b;
  if (c->closed) return;
  uint64_t t = now_ns();
  while (!b->stopping && c->count < b->depth) {
    if (b->requests && b->issued >= b->requests) {
      b->stopping = true;
      break;
    }
    uint64_t sent = t;
    if (b->rate > 0) {
      if (t < b->next_due) break;
      sent = b->next_due; /* open loop: latency counts from when it was due */
      b->next_due += (uint64_t)(1e9 / b->rate);
    }
    int op = pick_op(b, c);
    uint32_t n = build(b, c, op);
    if (!n) { /* every edge ingested */
      b->stopping = true;
      break;
    }
    unsigned slot = (c->head + c->count) % MAX_PENDING;
    c->sent_ns[slot] = sent;
    c->op[slot] = (uint8_t)op;
    c->items[slot] = n;
    c->count++;
    b->issued++;
  }
  flush(c);
  maybe_finish(b);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = h->data;
  (void)suggested;
  if (rg_buf_reserve(&c->in, READ_CHUNK)) die("out of memory");
  *buf = uv_buf_init((char *)c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = st->data;
  bench_t *b = c->b;
  (void)buf;
  if (nread < 0) die(nread == UV_EOF ? "the server closed a connection" : uv_strerror((int)nread));
  c->in.len += (size_t)nread;
  uint64_t t = now_ns();
  size_t off = 0;
  while (c->count) {
    op_stats_t *s = &b->st[c->op[c->head]];
    size_t n;
    if (b->resp) {
      n = resp_reply(c->in.data + off, c->in.len - off, &s->errors, &s->misses);
      if (!n) break;
    } else {
      if (c->in.len - off < 4) break;
      uint32_t len = rg_get_u32be(c->in.data + off);
      if (c->in.len - off < 4 + (size_t)len) break;
      check_reply(c, c->in.data + off + 4, len, s);
      n = 4 + (size_t)len;
    }
    off += n;
    s->bytes_in += n;
    s->requests++;
    s->items += c->items[c->head];
    hist_add(&s->lat, t > c->sent_ns[c->head] ? t - c->sent_ns[c->head] : 0);
    c->head = (c->head + 1) % MAX_PENDING;
    c->count--;
  }
  rg_buf_consume(&c->in, off);
  fill(c);
}

static void on_pacer(uv_idle_t *h) {
  bench_t *b = h->data;
  for (unsigned i = 0; i < b->conns; i++) fill(&b->c[i]);
}

static void on_stop(uv_timer_t *t) {
  bench_t *b = t->data;
  b->stopping = true;
  maybe_finish(b);
}

/* The measured run: from now, for the duration. */
static void start_measuring(bench_t *b) {
  b->t_start = now_ns();
  if (b->duration > 0) uv_timer_start(&b->stop_timer, on_stop, (uint64_t)(b->duration * 1000), 0);
}

/* The warm-up is over: what it did is forgotten (replies still due count in the run). */
static void on_warm(uv_timer_t *t) {
  bench_t *b = t->data;
  memset(b->st, 0, sizeof b->st);
  start_measuring(b);
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  bench_t *b = c->b;
  if (status < 0) die(uv_strerror(status));
  if (uv_read_start(&c->h.stream, on_alloc, on_read)) die("uv_read_start failed");
  if (++b->connected < b->conns) return;
  b->next_due = now_ns();
  if (b->warmup > 0)
    uv_timer_start(&b->warm_timer, on_warm, (uint64_t)(b->warmup * 1000), 0);
  else
    start_measuring(b);
  if (b->rate > 0) uv_idle_start(&b->pacer, on_pacer);
  for (unsigned i = 0; i < b->conns; i++) fill(&b->c[i]);
}

/* ---- main ----------------------------------------------------------------------------- */

static void usage(void) {
  fputs(
      "usage: bench_load [options]\n"
      "  -h HOST -p PORT | -u SOCKET   target (default 127.0.0.1:7411)\n"
      "  --resp                        speak RESP to Redis: lookup = GET/MGET, ingest = SET/MSET\n"
      "  -c N   connections (default 16)      -d D   requests in flight per connection (1)\n"
      "  -b B   items per request (1)         --mix L:I:C  weights of lookup, ingest, check "
      "(1:0:0)\n"
      "  -n N   requests in all               -t S   seconds (default 5 when -n and -e unset)\n"
      "  -e E   ingest E items in all (edges; keys for --resp), then stop\n"
      "  -k K   lookups pick actors s0..s(K-1) (default 1000)\n"
      "  -r R   target requests per second in all (open loop; 0 = as fast as possible)\n"
      "  -s S   seed (1)                      -v V   value bytes for --resp SET (400)\n"
      "  -w S   warm-up seconds before -t, not counted (0)\n",
      stderr);
  exit(2);
}

int main(int argc, char **argv) {
  static bench_t b = {.host = "127.0.0.1",
                      .port = 7411,
                      .conns = 16,
                      .depth = 1,
                      .batch = 1,
                      .keys = 1000,
                      .seed = 1,
                      .value_size = 400,
                      .mix = {1, 0, 0}};
  static const struct option longopts[] = {{"resp", no_argument, NULL, 'R'},
                                           {"mix", required_argument, NULL, 'm'},
                                           {"help", no_argument, NULL, '?'},
                                           {NULL, 0, NULL, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "h:p:u:c:d:b:n:t:e:k:r:s:v:w:", longopts, NULL)) != -1) {
    switch (opt) {
      case 'h': b.host = optarg; break;
      case 'p': b.port = (unsigned)atoi(optarg); break;
      case 'u': b.unix_path = optarg; break;
      case 'R': b.resp = true; break;
      case 'c': b.conns = (unsigned)atoi(optarg); break;
      case 'd': b.depth = (unsigned)atoi(optarg); break;
      case 'b': b.batch = (unsigned)atoi(optarg); break;
      case 'n': b.requests = strtoull(optarg, NULL, 10); break;
      case 't': b.duration = atof(optarg); break;
      case 'e': b.items_max = strtoull(optarg, NULL, 10); break;
      case 'k': b.keys = strtoull(optarg, NULL, 10); break;
      case 'r': b.rate = atof(optarg); break;
      case 's': b.seed = strtoull(optarg, NULL, 10); break;
      case 'v': b.value_size = (unsigned)atoi(optarg); break;
      case 'w': b.warmup = atof(optarg); break;
      case 'm':
        if (sscanf(optarg, "%u:%u:%u", &b.mix[0], &b.mix[1], &b.mix[2]) != 3) usage();
        break;
      default: usage();
    }
  }
  b.mix_total = b.mix[0] + b.mix[1] + b.mix[2];
  if (b.items_max && b.mix_total == b.mix[OP_LOOKUP]) b.mix[OP_LOOKUP] = 0, b.mix[OP_INGEST] = 1;
  b.mix_total = b.mix[0] + b.mix[1] + b.mix[2];
  if (!b.conns || !b.depth || b.depth > MAX_PENDING || !b.batch || !b.keys || !b.mix_total) usage();
  if (b.mix[OP_INGEST] && !b.items_max) b.items_max = UINT64_MAX;
  if (b.resp && b.mix[OP_CHECK]) die("--resp has no check");
  if (!b.requests && !b.duration && b.items_max == 0) b.duration = 5;
  b.value = malloc(b.value_size + 1);
  if (!b.value) die("out of memory");
  memset(b.value, 'v', b.value_size);

  b.loop = uv_default_loop();
  uv_timer_init(b.loop, &b.stop_timer);
  uv_timer_init(b.loop, &b.warm_timer);
  uv_idle_init(b.loop, &b.pacer);
  b.stop_timer.data = b.warm_timer.data = b.pacer.data = &b;
  b.c = calloc(b.conns, sizeof *b.c);
  if (!b.c) die("out of memory");
  struct sockaddr_in addr;
  if (!b.unix_path && uv_ip4_addr(b.host, (int)b.port, &addr)) die("bad host");
  for (unsigned i = 0; i < b.conns; i++) {
    conn_t *c = &b.c[i];
    c->b = &b;
    c->rng = b.seed * 1000003u + i;
    c->next_id = c->expect_id = 1;
    rg_buf_init(&c->in, 0);
    rg_buf_init(&c->out, 0);
    rg_buf_init(&c->sending, 0);
    c->h.handle.data = c;
    c->creq.data = c;
    if (b.unix_path) {
      uv_pipe_init(b.loop, &c->h.pipe, 0);
      uv_pipe_connect(&c->creq, &c->h.pipe, b.unix_path, on_connect);
    } else {
      uv_tcp_init(b.loop, &c->h.tcp);
      uv_tcp_nodelay(&c->h.tcp, 1);
      if (uv_tcp_connect(&c->creq, &c->h.tcp, (struct sockaddr *)&addr, on_connect))
        die("uv_tcp_connect failed");
    }
  }
  uv_run(b.loop, UV_RUN_DEFAULT);

  double secs = (double)(b.t_end - b.t_start) / 1e9;
  uint64_t reqs = 0, items = 0, errors = 0;
  hist_t *all = calloc(1, sizeof *all);
  if (!all) die("out of memory");
  for (int op = 0; op < N_OPS; op++) {
    op_stats_t *s = &b.st[op];
    reqs += s->requests, items += s->items, errors += s->errors;
    for (unsigned i = 0; i < HIST_SIZE; i++) all->counts[i] += s->lat.counts[i];
    all->n += s->lat.n;
    if (s->lat.max > all->max) all->max = s->lat.max;
  }
  printf(
      "proto=%s conns=%u depth=%u batch=%u seconds=%.3f requests=%" PRIu64 " items=%" PRIu64
      " req_s=%.0f items_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%" PRIu64,
      b.resp ? "resp" : "repgraph", b.conns, b.depth, b.batch, secs, reqs, items, reqs / secs,
      items / secs, hist_quantile(all, 0.5) / 1e3, hist_quantile(all, 0.99) / 1e3,
      hist_quantile(all, 0.999) / 1e3, all->max / 1e3, errors);
  for (int op = 0; op < N_OPS; op++) {
    op_stats_t *s = &b.st[op];
    if (!s->requests) continue;
    printf(" %s_requests=%" PRIu64 " %s_items=%" PRIu64
           " %s_p50_us=%.1f %s_p99_us=%.1f"
           " %s_misses=%" PRIu64 " %s_reply_bytes=%.0f",
           op_names[op], s->requests, op_names[op], s->items, op_names[op],
           hist_quantile(&s->lat, 0.5) / 1e3, op_names[op], hist_quantile(&s->lat, 0.99) / 1e3,
           op_names[op], s->misses, op_names[op], (double)s->bytes_in / (double)s->items);
  }
  printf("\n");
  for (unsigned i = 0; i < b.conns; i++) {
    rg_buf_free(&b.c[i].in);
    rg_buf_free(&b.c[i].out);
    rg_buf_free(&b.c[i].sending);
  }
  free(b.c);
  free(all);
  free(b.value);
  uv_loop_close(b.loop);
  return errors ? 1 : 0;
}
