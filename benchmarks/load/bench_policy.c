/* bench_policy.c — load generator for repgraphd's Postfix policy listener: N TCP
 * connections, each keeping up to D policy requests in flight (pipelined, as many smtpd
 * processes sharing one policy server would in aggregate), for a fixed duration. Requests
 * are protocol_state=RCPT for sender s<k>@bench.example from client 10.x.y.z (k random in
 * 0..K-1: the same actors bench_load's check op asks about, so both measure one store);
 * with -E every message also sends END-OF-MESSAGE, which records an observation. Prints one
 * line of key=value results: requests/s and latency percentiles (exact, from every sample),
 * and the answers by action. Deterministic for a seed. Single-threaded (poll). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEPTH 1024
#define IN_CAP    (256 * 1024)

typedef struct {
  int fd;
  uint64_t rng, msg;
  uint64_t sent_ns[MAX_DEPTH];
  unsigned head, count;
  char in[IN_CAP];
  size_t in_len;
  char *out;
  size_t out_len, out_cap;
} conn_t;

static void die(const char *msg) {
  fprintf(stderr, "bench_policy: %s\n", msg);
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s) { /* xorshift64* */
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

static void append(conn_t *c, const char *s, size_t n) {
  if (c->out_len + n > c->out_cap) {
    c->out_cap = (c->out_len + n) * 2;
    c->out = realloc(c->out, c->out_cap);
    if (!c->out) die("out of memory");
  }
  memcpy(c->out + c->out_len, s, n);
  c->out_len += n;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void usage(void) {
  fputs(
      "usage: bench_policy -p PORT [-h HOST] [-c CONNS (16)] [-d DEPTH (1)] [-t SECONDS (5)]\n"
      "                    [-k K senders (1000)] [-s SEED (1)] [-E: END-OF-MESSAGE too]\n",
      stderr);
  exit(2);
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  unsigned port = 0, conns = 16, depth = 1;
  double seconds = 5;
  uint64_t keys = 1000, seed = 1;
  bool eom = false;
  int opt;
  while ((opt = getopt(argc, argv, "h:p:c:d:t:k:s:E")) != -1) {
    switch (opt) {
      case 'h': host = optarg; break;
      case 'p': port = (unsigned)atoi(optarg); break;
      case 'c': conns = (unsigned)atoi(optarg); break;
      case 'd': depth = (unsigned)atoi(optarg); break;
      case 't': seconds = atof(optarg); break;
      case 'k': keys = strtoull(optarg, NULL, 10); break;
      case 's': seed = strtoull(optarg, NULL, 10); break;
      case 'E': eom = true; break;
      default: usage();
    }
  }
  if (!port || !conns || !depth || depth > MAX_DEPTH || !keys || seconds <= 0) usage();
  conn_t *c = calloc(conns, sizeof *c);
  struct pollfd *pfd = calloc(conns, sizeof *pfd);
  size_t lat_cap = 1 << 20, n_lat = 0;
  uint64_t *lat = malloc(lat_cap * sizeof *lat);
  if (!c || !pfd || !lat) die("out of memory");
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("bad host");
  for (unsigned i = 0; i < conns; i++) {
    c[i].fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c[i].fd < 0 || connect(c[i].fd, (struct sockaddr *)&sa, sizeof sa)) die(strerror(errno));
    int one = 1;
    setsockopt(c[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c[i].rng = seed * 1000003u + i + 1;
  }
  uint64_t answers[6] = {0}; /* DUNNO PREPEND HOLD DEFER REJECT other */
  static const char *const actions[5] = {"DUNNO", "PREPEND", "HOLD", "DEFER", "REJECT"};
  uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), t_last = t0;
  bool stopping = false;
  unsigned open_conns = conns;
  while (open_conns) {
    uint64_t t = now_ns();
    if (t >= end) stopping = true;
    open_conns = 0;
    for (unsigned i = 0; i < conns; i++) {
      conn_t *k = &c[i];
      while (!stopping && k->count < depth) { /* one RCPT (+ END-OF-MESSAGE) per message */
        char req[768];
        uint64_t s = rnd(&k->rng) % keys;
        k->msg++;
        const char *states[2] = {"RCPT", "END-OF-MESSAGE"};
        for (int st = 0; st < (eom ? 2 : 1) && k->count < depth; st++) {
          int n = snprintf(req, sizeof req,
                           "request=smtpd_access_policy\nprotocol_state=%s\nprotocol_name=ESMTP\n"
                           "client_address=10.%u.%u.%u\nclient_name=unknown\n"
                           "helo_name=mx%" PRIu64 ".bench.example\nsender=s%" PRIu64
                           "@bench.example\nrecipient=%s\nrecipient_count=%d\ninstance=%u.%" PRIu64
                           "\nsize=0\nsasl_username=\n\n",
                           states[st], (unsigned)(s >> 16) & 255, (unsigned)(s >> 8) & 255,
                           (unsigned)s & 255, s, s, st ? "" : "r@bench.example", st, i, k->msg);
          append(k, req, (size_t)n);
          k->sent_ns[(k->head + k->count) % MAX_DEPTH] = t;
          k->count++;
        }
      }
      if (k->out_len) {
        ssize_t n = send(k->fd, k->out, k->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN) die("send failed: the server closed a connection");
        if (n > 0) memmove(k->out, k->out + n, k->out_len - (size_t)n), k->out_len -= (size_t)n;
      }
      pfd[i].fd = k->count ? k->fd : -1;
      pfd[i].events = POLLIN | (k->out_len ? POLLOUT : 0);
      if (k->count) open_conns++;
    }
    if (!open_conns) break;
    if (poll(pfd, conns, 1000) < 0 && errno != EINTR) die("poll failed");
    t = now_ns();
    for (unsigned i = 0; i < conns; i++) {
      conn_t *k = &c[i];
      if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = recv(k->fd, k->in + k->in_len, IN_CAP - k->in_len, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN)) die("the server closed a connection");
      if (n < 0) continue;
      k->in_len += (size_t)n;
      char *p = k->in, *stop = k->in + k->in_len, *e;
      while ((e = memmem(p, (size_t)(stop - p), "\n\n", 2))) {
        if (strncmp(p, "action=", 7) != 0) die("answer without action=");
        int a = 5;
        for (int j = 0; j < 5; j++)
          if (strncmp(p + 7, actions[j], strlen(actions[j])) == 0) a = j;
        answers[a]++;
        if (n_lat == lat_cap) {
          lat = realloc(lat, (lat_cap *= 2) * sizeof *lat);
          if (!lat) die("out of memory");
        }
        lat[n_lat++] = t - k->sent_ns[k->head];
        k->head = (k->head + 1) % MAX_DEPTH;
        k->count--;
        p = e + 2;
      }
      k->in_len = (size_t)(stop - p);
      memmove(k->in, p, k->in_len);
      t_last = t;
    }
  }
  qsort(lat, n_lat, sizeof *lat, cmp_u64);
  double secs = (double)(t_last - t0) / 1e9;
#define Q(q) (n_lat ? lat[(size_t)((double)(n_lat - 1) * (q))] / 1e3 : 0)
  printf(
      "proto=policy conns=%u depth=%u eom=%d seconds=%.3f requests=%zu req_s=%.0f "
      "p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f dunno=%" PRIu64 " prepend=%" PRIu64
      " hold=%" PRIu64 " defer=%" PRIu64 " reject=%" PRIu64 " other=%" PRIu64 "\n",
      conns, depth, eom, secs, n_lat, (double)n_lat / secs, Q(0.5), Q(0.99), Q(0.999),
      n_lat ? lat[n_lat - 1] / 1e3 : 0, answers[0], answers[1], answers[2], answers[3], answers[4],
      answers[5]);
  for (unsigned i = 0; i < conns; i++) close(c[i].fd), free(c[i].out);
  free(c);
  free(pfd);
  free(lat);
  return answers[5] ? 1 : 0;
}
