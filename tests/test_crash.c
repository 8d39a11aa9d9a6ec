/* test_crash.c — crash safety, proven by rounds of: start the real repgraphd on one store,
 * stream pipelined ingest and label requests while recording which were acknowledged,
 * SIGKILL the server at a random moment (after a random number of acknowledgements, plus a
 * random sub-millisecond pause, with requests still in flight), restart it on the same
 * store and verify that every acknowledged edge and label is there and that the counters
 * are at least what was acknowledged. The store must open cleanly after every kill.
 *
 * RG_CRASH_ROUNDS (default 20) and RG_CRASH_SEED (default 1) set the run, RG_CRASH_WAL=1 runs
 * it with wal.enabled (ingest acknowledged from the write-ahead log; ctest's test_crash_wal);
 * the long run is
 *   RG_CRASH_ROUNDS=500 build/test_crash
 * Each round checks its own acknowledged requests one by one and the running totals; the
 * last round (and every 50th) checks every request acknowledged since the first round. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "repgraph/err.h"
#include "repgraph/store.h"
#include "testutil.h"

#define EDGES_PER_INGEST   20 /* each ingest: one fresh sender mails 20 recipients */
#define LABELS_PER_LABEL   5  /* each label request: 5 fresh actors */
#define WINDOW             32 /* requests in flight */
#define MAX_ACKS_PER_ROUND 100
#define LOOKUP_BATCH       100
#define FULL_CHECK_EVERY   50

/* One write request, named by (round, seq); its actors follow from those. */
typedef struct {
  uint32_t round, seq;
  bool label; /* else ingest */
  bool acked;
} req_t;

typedef struct {
  req_t *reqs;
  size_t n, cap;
  uint64_t acked_edges, acked_labels; /* since the first round */
  uint64_t sent_edges, sent_labels;   /* acknowledged or not */
  uint64_t kills, in_flight_at_kill;
  uint32_t rng;
} run_t;

static uint32_t next_rand(run_t *r) {
  r->rng ^= r->rng << 13;
  r->rng ^= r->rng >> 17;
  r->rng ^= r->rng << 5;
  return r->rng;
}

static unsigned env_uint(const char *name, unsigned def) {
  const char *v = getenv(name);
  return v && *v ? (unsigned)strtoul(v, NULL, 10) : def;
}

static void sender_of(const req_t *q, char *buf, size_t cap) {
  snprintf(buf, cap, "address:r%u.s%u@crash.example", q->round, q->seq);
}

static void labelled_of(const req_t *q, unsigned j, char *buf, size_t cap) {
  snprintf(buf, cap, "address:r%u.l%u.%u@label.example", q->round, q->seq, j);
}

static const char *verdict_of(unsigned j) {
  return j % 2 ? "good" : "bad";
}

/* Appends the frame of request q (its id is its index in the run). */
static void frame_of(const run_t *run, const req_t *q, rg_buf_t *frame) {
  char items[4096], actor[128];
  size_t len = 0;
  size_t id = (size_t)(q - run->reqs);
  if (q->label) {
    for (unsigned j = 0; j < LABELS_PER_LABEL; j++) {
      labelled_of(q, j, actor, sizeof actor);
      len += (size_t)snprintf(items + len, sizeof items - len,
                              "%s{\"actor\": \"%s\", \"verdict\": \"%s\", \"source\": \"feed\"}",
                              j ? "," : "", actor, verdict_of(j));
    }
    rg_test_frame_json(frame, "{\"id\": %zu, \"op\": \"label\", \"labels\": [%s]}", id, items);
    return;
  }
  sender_of(q, actor, sizeof actor);
  for (unsigned j = 0; j < EDGES_PER_INGEST; j++)
    len += (size_t)snprintf(items + len, sizeof items - len,
                            "%s{\"src\": \"%s\", \"dst\": \"address:rcpt%u@victim.example\","
                            " \"kind\": \"mailed\"}",
                            j ? "," : "", actor, j);
  rg_test_frame_json(frame, "{\"id\": %zu, \"op\": \"ingest\", \"edges\": [%s]}", id, items);
}

static req_t *new_request(run_t *run, uint32_t round, uint32_t seq) {
  if (run->n == run->cap) {
    run->cap = run->cap ? run->cap * 2 : 1024;
    run->reqs = realloc(run->reqs, run->cap * sizeof *run->reqs);
    assert_non_null(run->reqs);
  }
  req_t *q = &run->reqs[run->n++];
  *q = (req_t){round, seq, next_rand(run) % 4 == 0, false};
  if (q->label)
    run->sent_labels += LABELS_PER_LABEL;
  else
    run->sent_edges += EDGES_PER_INGEST;
  return q;
}

/* Sends one new request of this round. */
static void send_next(run_t *run, rg_client_t *c, uint32_t round, uint32_t *seq) {
  req_t *q = new_request(run, round, (*seq)++);
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  frame_of(run, q, &frame);
  assert_int_equal(rg_client_send(c, frame.data, frame.len), RG_OK);
  rg_buf_free(&frame);
}

/* Receives the reply to reqs[idx] (replies come in request order) and records the ack. */
static void recv_ack(run_t *run, rg_client_t *c, size_t idx) {
  req_t *q = &run->reqs[idx];
  msgpack_unpacked r;
  rg_test_recv(c, q->label ? "label" : "ingest", &r);
  char code[64];
  if (rg_test_error_code(&r.data, code, sizeof code)) fail_msg("request %zu: %s", idx, code);
  assert_int_equal(rg_test_uint(&r.data, "id"), idx);
  assert_int_equal(rg_test_uint(&r.data, "accepted"),
                   q->label ? LABELS_PER_LABEL : EDGES_PER_INGEST);
  msgpack_unpacked_destroy(&r);
  q->acked = true;
  if (q->label)
    run->acked_labels += LABELS_PER_LABEL;
  else
    run->acked_edges += EDGES_PER_INGEST;
}

/* One round: stream writes, then SIGKILL after a random number of acknowledgements. */
static void stream_and_kill(run_t *run, rg_test_server_t *srv, uint32_t round) {
  rg_client_t *c = rg_test_connect(srv);
  uint32_t seq = 0;
  size_t first = run->n;
  unsigned kill_after = next_rand(run) % MAX_ACKS_PER_ROUND;
  for (int i = 0; i < WINDOW; i++) send_next(run, c, round, &seq);
  for (unsigned acks = 0; acks < kill_after; acks++) {
    recv_ack(run, c, first + acks);
    send_next(run, c, round, &seq);
  }
  unsigned pause_us = next_rand(run) % 1000;
  struct timespec ts = {0, (long)pause_us * 1000};
  nanosleep(&ts, NULL); /* the kill lands at a random point of the server's work */
  assert_int_equal(kill(srv->pid, SIGKILL), 0);
  int status;
  assert_int_equal(waitpid(srv->pid, &status, 0), srv->pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  run->kills++;
  run->in_flight_at_kill += run->n - first - kill_after;
  rg_client_close(c);
}

/* Looks up the actors of requests [from, to) that were acknowledged; each must be there
 * whole: the sender with all its edges, or every labelled actor with its verdict. */
static uint64_t verify_acked(run_t *run, rg_client_t *c, size_t from, size_t to) {
  uint64_t checked = 0;
  char actors[LOOKUP_BATCH * 64 + 64], actor[128];
  size_t idx[LOOKUP_BATCH];
  unsigned sub[LOOKUP_BATCH];
  for (size_t i = from; i < to;) {
    size_t len = 0, k = 0;
    for (; i < to && k + LABELS_PER_LABEL <= LOOKUP_BATCH; i++) {
      const req_t *q = &run->reqs[i];
      if (!q->acked) continue;
      for (unsigned j = 0; j < (q->label ? LABELS_PER_LABEL : 1); j++, k++) {
        if (q->label)
          labelled_of(q, j, actor, sizeof actor);
        else
          sender_of(q, actor, sizeof actor);
        len += (size_t)snprintf(actors + len, sizeof actors - len, "%s\"%s\"", k ? "," : "", actor);
        idx[k] = i;
        sub[k] = j;
      }
    }
    if (!k) continue;
    msgpack_unpacked r;
    rg_test_call(c, &r, "{\"id\": 1, \"op\": \"lookup\", \"actors\": [%s]}", actors);
    for (size_t j = 0; j < k; j++) {
      const req_t *q = &run->reqs[idx[j]];
      char path[64];
      snprintf(path, sizeof path, "results.%zu.known", j);
      if (!rg_test_get(&r.data, path)->via.boolean)
        fail_msg("acknowledged request %zu (round %u) lost: actor %zu unknown", idx[j], q->round,
                 j);
      if (q->label) {
        snprintf(path, sizeof path, "results.%zu.label.verdict", j);
        if (!rg_test_str_is(&r.data, path, verdict_of(sub[j])))
          fail_msg("acknowledged label %zu.%u lost", idx[j], sub[j]);
        checked++;
      } else {
        snprintf(path, sizeof path, "results.%zu.out_degree.mailed", j);
        assert_int_equal(rg_test_uint(&r.data, path), EDGES_PER_INGEST);
        checked += EDGES_PER_INGEST;
      }
    }
    msgpack_unpacked_destroy(&r);
  }
  return checked;
}

/* The store's counters hold at least what was acknowledged and at most what was sent. */
static void verify_counts(run_t *run, rg_client_t *c) {
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 2, \"op\": \"stats\"}");
  uint64_t edges = rg_test_uint(&r.data, "edges.mailed"), labels = rg_test_uint(&r.data, "labels");
  msgpack_unpacked_destroy(&r);
  if (edges < run->acked_edges || edges > run->sent_edges)
    fail_msg("edges.mailed %llu outside [%llu acked, %llu sent]", (unsigned long long)edges,
             (unsigned long long)run->acked_edges, (unsigned long long)run->sent_edges);
  if (labels < run->acked_labels || labels > run->sent_labels)
    fail_msg("labels %llu outside [%llu acked, %llu sent]", (unsigned long long)labels,
             (unsigned long long)run->acked_labels, (unsigned long long)run->sent_labels);
}

static rg_test_server_t srv;

static int teardown(void **state) {
  (void)state;
  rg_test_server_kill(&srv); /* when the test failed midway */
  return 0;
}

static void test_acknowledged_writes_survive_sigkill(void **state) {
  (void)state;
  unsigned rounds = env_uint("RG_CRASH_ROUNDS", 20);
  run_t run = {.rng = env_uint("RG_CRASH_SEED", 1) * 2654435761u | 1u};
  char *dir = rg_test_mkdtemp();
  uint64_t verified = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  static const char *const wal_args[] = {"--set", "wal.enabled=1", NULL};
  const char *const *extra = env_uint("RG_CRASH_WAL", 0) ? wal_args : NULL;
  rg_test_server_start(&srv, dir, extra);
  for (uint32_t round = 1; round <= rounds; round++) {
    size_t first = run.n;
    stream_and_kill(&run, &srv, round);
    rg_test_server_start(&srv, dir, extra); /* fails the test if the store does not open */
    rg_client_t *c = rg_test_connect(&srv);
    bool full = round == rounds || round % FULL_CHECK_EVERY == 0;
    verified += verify_acked(&run, c, full ? 0 : first, run.n);
    verify_counts(&run, c);
    rg_client_close(c);
  }
  assert_int_equal(rg_test_server_stop(&srv), 0);

  /* After the last clean stop the store opens in-process with the right schema and the
   * same counters. */
  char store_dir[300], err[256];
  snprintf(store_dir, sizeof store_dir, "%s/store", dir);
  rg_store_opts_t o = {store_dir, 1 << 20, UINT64_C(1) << 34, 604800, NULL};
  rg_store_t *s;
  if (rg_store_open(&o, &s, err, sizeof err) != RG_OK) fail_msg("%s", err);
  rg_txn_t *t;
  rg_store_counts_t counts;
  assert_int_equal(rg_store_read_begin(s, &t), RG_OK);
  assert_int_equal(rg_store_counts(t, &counts), RG_OK);
  rg_store_end(t);
  rg_store_close(s);
  assert_true(counts.edges[RG_EDGE_MAILED] >= run.acked_edges);
  assert_true(counts.labels >= run.acked_labels);

  clock_gettime(CLOCK_MONOTONIC, &t1);
  size_t acked = 0;
  for (size_t i = 0; i < run.n; i++) acked += run.reqs[i].acked;
  printf(
      "crash safety: %u rounds, %llu SIGKILLs, %zu requests sent, %zu acknowledged, "
      "%llu in flight at the kills; acknowledged %llu edges and %llu labels all present "
      "(%llu edge/label checks by lookup; store has %llu edges, %llu labels) in %.1f s\n",
      rounds, (unsigned long long)run.kills, run.n, acked,
      (unsigned long long)run.in_flight_at_kill, (unsigned long long)run.acked_edges,
      (unsigned long long)run.acked_labels, (unsigned long long)verified,
      (unsigned long long)counts.edges[RG_EDGE_MAILED], (unsigned long long)counts.labels,
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  assert_true(run.acked_edges > 0 && run.acked_labels > 0);
  free(run.reqs);
  rg_test_rmtree(dir);
  free(dir);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_acknowledged_writes_survive_sigkill, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
