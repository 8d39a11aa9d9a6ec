/* bench_ingest_lookup.c — a first end-to-end measurement against a running repgraphd:
 * ingests N mailed edges through the socket in pipelined batches, then reads every sender
 * back with pipelined lookups (single actors, then batches) and checks each out-degree.
 * Prints one table. Usage: bench_ingest_lookup [-p PORT] [-u SOCKET] [-n EDGES] [-b BATCH]
 * [-w WINDOW]. Edge i goes from s(i/10) to r(i): every sender has exactly 10 out-edges. */
#include <getopt.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/client.h"
#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/proto.h"

#define FANOUT 10

typedef struct {
  rg_client_t *c;
  unsigned window, inflight;
  uint64_t next_id, errors, checked;
  bool check_degree;
} pipe_t;

static void die(const char *what) {
  fprintf(stderr, "bench_ingest_lookup: %s\n", what);
  exit(1);
}

/* Reads one reply; counts errors and (for lookups) checks every result's out-degree. */
static void collect(pipe_t *p) {
  rg_buf_t body;
  rg_buf_init(&body, 0);
  if (rg_client_recv(p->c, &body, 256u << 20)) die("lost the server");
  msgpack_unpacked up;
  size_t off = 0;
  msgpack_unpacked_init(&up);
  if (msgpack_unpack_next(&up, (const char *)body.data, body.len, &off) != MSGPACK_UNPACK_SUCCESS)
    die("bad reply");
  msgpack_object_map *m = &up.data.via.map;
  for (uint32_t i = 0; i < m->size; i++) {
    msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
    if (k->via.str.size == 5 && memcmp(k->via.str.ptr, "error", 5) == 0) p->errors++;
    if (p->check_degree && k->via.str.size == 7 && memcmp(k->via.str.ptr, "results", 7) == 0) {
      for (uint32_t j = 0; j < v->via.array.size; j++) {
        msgpack_object_map *r = &v->via.array.ptr[j].via.map;
        bool ok = false;
        for (uint32_t f = 0; f < r->size; f++) {
          msgpack_object *fk = &r->ptr[f].key, *fv = &r->ptr[f].val;
          if (fk->via.str.size == 10 && memcmp(fk->via.str.ptr, "out_degree", 10) == 0 &&
              fv->type == MSGPACK_OBJECT_MAP)
            ok = fv->via.map.ptr[0].val.via.u64 == FANOUT; /* "mailed" comes first */
        }
        if (!ok) p->errors++;
        p->checked++;
      }
    }
  }
  msgpack_unpacked_destroy(&up);
  rg_buf_free(&body);
  p->inflight--;
}

static void send_frame(pipe_t *p, rg_buf_t *frame) {
  if (rg_client_send(p->c, frame->data, frame->len)) die("send failed");
  frame->len = 0;
  if (++p->inflight == p->window) collect(p);
}

static void drain(pipe_t *p) {
  while (p->inflight) collect(p);
}

static double ingest(pipe_t *p, uint64_t n, uint32_t batch) {
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  char a[64], b[64];
  uint64_t t0 = rg_clock_mono_us();
  for (uint64_t i = 0; i < n; i += batch) {
    uint32_t k = (uint32_t)(n - i < batch ? n - i : batch);
    rg_wr_t w;
    rg_wr_begin(&w, &frame);
    rg_wr_map(&w, 3);
    rg_wr_str(&w, "id"), rg_wr_uint(&w, ++p->next_id);
    rg_wr_str(&w, "op"), rg_wr_str(&w, "ingest");
    rg_wr_str(&w, "edges");
    rg_wr_array(&w, k);
    for (uint32_t j = 0; j < k; j++) {
      uint64_t e = i + j;
      snprintf(a, sizeof a, "address:s%llu@bench.example", (unsigned long long)(e / FANOUT));
      snprintf(b, sizeof b, "address:r%llu@bench.example", (unsigned long long)e);
      rg_wr_map(&w, 4);
      rg_wr_str(&w, "src"), rg_wr_str(&w, a);
      rg_wr_str(&w, "dst"), rg_wr_str(&w, b);
      rg_wr_str(&w, "kind"), rg_wr_str(&w, "mailed");
      rg_wr_str(&w, "ts"), rg_wr_uint(&w, 1800000000 + e / 1000);
    }
    if (rg_wr_end(&w)) die("encode failed");
    send_frame(p, &frame);
  }
  drain(p);
  rg_buf_free(&frame);
  return (double)(rg_clock_mono_us() - t0) / 1e6;
}

static double lookups(pipe_t *p, uint64_t senders, uint32_t per_request) {
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  char a[64];
  p->check_degree = true;
  uint64_t t0 = rg_clock_mono_us();
  for (uint64_t s = 0; s < senders; s += per_request) {
    uint32_t k = (uint32_t)(senders - s < per_request ? senders - s : per_request);
    rg_wr_t w;
    rg_wr_begin(&w, &frame);
    rg_wr_map(&w, 3);
    rg_wr_str(&w, "id"), rg_wr_uint(&w, ++p->next_id);
    rg_wr_str(&w, "op"), rg_wr_str(&w, "lookup");
    rg_wr_str(&w, "actors");
    rg_wr_array(&w, k);
    for (uint32_t j = 0; j < k; j++) {
      snprintf(a, sizeof a, "address:s%llu@bench.example", (unsigned long long)(s + j));
      rg_wr_str(&w, a);
    }
    if (rg_wr_end(&w)) die("encode failed");
    send_frame(p, &frame);
  }
  drain(p);
  p->check_degree = false;
  rg_buf_free(&frame);
  return (double)(rg_clock_mono_us() - t0) / 1e6;
}

int main(int argc, char **argv) {
  unsigned port = 7411, window = 16;
  const char *unix_path = NULL;
  uint64_t n = 1000000;
  uint32_t batch = 1000;
  int opt;
  while ((opt = getopt(argc, argv, "p:u:n:b:w:")) != -1) {
    switch (opt) {
      case 'p': port = (unsigned)atoi(optarg); break;
      case 'u': unix_path = optarg; break;
      case 'n': n = strtoull(optarg, NULL, 10); break;
      case 'b': batch = (uint32_t)atoi(optarg); break;
      case 'w': window = (unsigned)atoi(optarg); break;
      default:
        die("usage: bench_ingest_lookup [-p PORT] [-u SOCKET] [-n EDGES] [-b BATCH] [-w WINDOW]");
    }
  }
  char err[256];
  pipe_t p = {.window = window};
  if (rg_client_connect("127.0.0.1", port, unix_path, 120000, &p.c, err, sizeof err)) die(err);
  uint64_t senders = (n + FANOUT - 1) / FANOUT;

  double t_ingest = ingest(&p, n, batch);
  uint64_t ingest_errors = p.errors;
  p.errors = 0;
  double t_single = lookups(&p, senders, 1);
  double t_batch = lookups(&p, senders, 16);

  printf("| phase | requests | items | seconds | items/s |\n|---|---:|---:|---:|---:|\n");
  printf("| ingest (batches of %u, window %u) | %llu | %llu edges | %.2f | %.0f |\n", batch, window,
         (unsigned long long)((n + batch - 1) / batch), (unsigned long long)n, t_ingest,
         (double)n / t_ingest);
  printf("| lookup, 1 actor per request (window %u) | %llu | %llu | %.2f | %.0f |\n", window,
         (unsigned long long)senders, (unsigned long long)senders, t_single,
         (double)senders / t_single);
  printf("| lookup, 16 actors per request (window %u) | %llu | %llu | %.2f | %.0f |\n", window,
         (unsigned long long)((senders + 15) / 16), (unsigned long long)senders, t_batch,
         (double)senders / t_batch);
  printf(
      "\nread back: %llu sender lookups checked, %llu wrong out-degree or error; %llu ingest "
      "errors\n",
      (unsigned long long)p.checked, (unsigned long long)p.errors,
      (unsigned long long)ingest_errors);
  rg_client_close(p.c);
  return p.errors || ingest_errors ? 1 : 0;
}
