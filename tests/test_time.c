/* test_time.c — time rules end to end, on the real repgraphd: an item's ts far ahead of the
 * server clock is clamped (and counted); future-dated traffic can neither freeze an edge's
 * decay nor make young actors old enough for the evidence rule; a replayed archive scores
 * like the same traffic shifted to today (graph.reference_time = newest); check measures
 * evidence at the request's ts. */
#define _GNU_SOURCE

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define DAY 86400LL

typedef rg_test_fixture_t fixture_t;

static int setup(void **state) {
  return rg_test_fixture_start(state, NULL);
}

static int teardown(void **state) {
  return rg_test_fixture_stop(state);
}

static void call_ok(rg_client_t *c, const char *fmt, long long a, long long b) {
  msgpack_unpacked r;
  char code[64], req[2048];
  snprintf(req, sizeof req, fmt, a, b);
  rg_test_call(c, &r, "%s", req);
  assert_string_equal(rg_test_code_of(&r, code), "(no error)");
  assert_int_equal(rg_test_uint(&r.data, "rejected_count"), 0);
  msgpack_unpacked_destroy(&r);
}

static void recompute(rg_client_t *c) {
  msgpack_unpacked r;
  char code[64];
  rg_test_call(c, &r, "{\"id\": 50, \"op\": \"recompute\", \"wait\": true}");
  assert_string_equal(rg_test_code_of(&r, code), "(no error)");
  msgpack_unpacked_destroy(&r);
}

static const char *const OBS =
    "{\"id\": 1, \"op\": \"ingest\", \"observations\": [{\"ts\": %lld, \"sender\": \"%s\", "
    "\"client_ip\": \"%s\", \"recipients\": [\"%s\"]}]}";

static void observe(rg_client_t *c, long long ts, const char *sender, const char *ip,
                    const char *rcpt) {
  msgpack_unpacked r;
  char code[64];
  rg_test_call(c, &r, OBS, ts, sender, ip, rcpt);
  assert_string_equal(rg_test_code_of(&r, code), "(no error)");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 1);
  msgpack_unpacked_destroy(&r);
}

static void test_time_future_items_are_clamped_and_counted(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  long long now = (long long)time(NULL);
  observe(c, now + 100 * DAY, "far@future.example", "192.0.2.1", "r@y.example");
  observe(c, now + 600, "near@future.example", "192.0.2.2", "r@y.example"); /* within 1 h */
  call_ok(c,
          "{\"id\": 2, \"op\": \"ingest\", \"edges\": [{\"src\": \"address:edge@future.example\", "
          "\"dst\": \"ip:192.0.2.3\", \"kind\": \"sent_from\", \"ts\": %lld}]}%.0lld",
          now + 30 * DAY, 0);
  call_ok(c,
          "{\"id\": 3, \"op\": \"label\", \"labels\": [{\"actor\": \"ip:192.0.2.9\", "
          "\"verdict\": \"bad\", \"ts\": %lld}]}%.0lld",
          now + 365 * DAY, 0);
  long long after = (long long)time(NULL);
  msgpack_unpacked r;
  rg_test_call(c, &r,
               "{\"id\": 4, \"op\": \"lookup\", \"actors\": [\"address:far@future.example\", "
               "\"address:near@future.example\", \"address:edge@future.example\", "
               "\"ip:192.0.2.9\"]}");
  for (int i = 0; i < 3; i += 2) { /* clamped to the server's clock at ingest */
    char path[64];
    snprintf(path, sizeof path, "results.%d.first_seen", i);
    long long first = (long long)rg_test_uint(&r.data, path);
    snprintf(path, sizeof path, "results.%d.last_seen", i);
    long long last = (long long)rg_test_uint(&r.data, path);
    assert_true(first >= now && first <= after);
    assert_true(last >= now && last <= after);
  }
  assert_int_equal(rg_test_uint(&r.data, "results.1.first_seen"), now + 600); /* kept */
  long long label_ts = (long long)rg_test_uint(&r.data, "results.3.label.ts");
  assert_true(label_ts >= now && label_ts <= after);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 5, \"op\": \"stats\"}");
  assert_int_equal(rg_test_uint(&r.data, "ingest.ts_clamped"), 3);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
}

/* Without the clamp, an edge last seen 100 days from now would not decay until then: its old
 * weight would stay hidden behind the future as_of. With it, the old observation (two
 * half-lives ago: 0.25) plus the clamped one (1) is what each of the sender's three edges
 * weighs now. */
static void test_time_future_traffic_cannot_freeze_an_edge(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  long long now = (long long)time(NULL);
  observe(c, now - 14 * DAY, "s@frozen.example", "192.0.2.10", "r@y.example");
  observe(c, now + 100 * DAY, "s@frozen.example", "192.0.2.10", "r@y.example");
  msgpack_unpacked r;
  rg_test_call(c, &r,
               "{\"id\": 6, \"op\": \"lookup\", \"actors\": [\"address:s@frozen.example\"]}");
  const msgpack_object *w = rg_test_get(&r.data, "results.0.weight_out");
  assert_non_null(w);
  double weight = w->type == MSGPACK_OBJECT_FLOAT64 || w->type == MSGPACK_OBJECT_FLOAT32
                      ? w->via.f64
                      : (double)w->via.u64;
  if (fabs(weight - 3 * 1.25) > 0.01) print_error("weight_out %g, want 3.75\n", weight);
  assert_true(fabs(weight - 3 * 1.25) < 0.01);
  assert_true((long long)rg_test_uint(&r.data, "results.0.last_seen") <= (long long)time(NULL));
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
}

/* The band of address `a` in a lookup reply `r` (index i). */
static bool band_is(const msgpack_unpacked *r, int i, const char *band) {
  char path[64];
  snprintf(path, sizeof path, "results.%d.band", i);
  return rg_test_str_is(&r->data, path, band);
}

/* A young sender (10 minutes, score.min_age is 1 h) on a bad IP stays neutral even when
 * someone else's traffic is dated 100 days ahead: neither the clamp nor the reference time
 * lets the future make it old. An older sender on the same IP is judged (control). */
static void test_time_future_traffic_cannot_disable_the_evidence_rule(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  long long now = (long long)time(NULL);
  for (int i = 0; i < 5; i++) {
    char rcpt[64];
    snprintf(rcpt, sizeof rcpt, "v%d@victims.example", i);
    observe(c, now - 2 * DAY + i * 60, "old@spam.example", "198.51.100.7", rcpt);
    observe(c, now - 600 + i * 60, "young@spam.example", "198.51.100.7", rcpt);
  }
  observe(c, now + 100 * DAY, "someone@else.example", "192.0.2.77", "x@y.example");
  call_ok(c,
          "{\"id\": 7, \"op\": \"label\", \"labels\": [{\"actor\": \"ip:198.51.100.7\", "
          "\"verdict\": \"bad\"}, {\"actor\": \"net:198.51.100.0/24\", \"verdict\": \"bad\"}]}"
          "%.0lld%.0lld",
          0, 0);
  recompute(c);
  msgpack_unpacked r;
  rg_test_call(c, &r,
               "{\"id\": 8, \"op\": \"lookup\", \"actors\": [\"address:young@spam.example\", "
               "\"address:old@spam.example\"]}");
  if (!band_is(&r, 0, "neutral") || band_is(&r, 1, "neutral"))
    print_error("young %s, old %s\n", rg_test_get(&r.data, "results.0.band")->via.str.ptr,
                rg_test_get(&r.data, "results.1.band")->via.str.ptr);
  assert_true(band_is(&r, 0, "neutral"));  /* too young */
  assert_false(band_is(&r, 1, "neutral")); /* the control is judged */
  msgpack_unpacked_destroy(&r);

  /* check at the message's time: the old sender, asked about a message 10 minutes after it
   * was first seen, lacks evidence; asked now, it has it. */
  rg_test_call(c, &r,
               "{\"id\": 9, \"op\": \"check\", \"sender\": \"old@spam.example\", "
               "\"client_ip\": \"198.51.100.7\", \"ts\": %lld}",
               now - 2 * DAY + 600);
  assert_true(rg_test_str_is(&r.data, "actors.0.role", "sender"));
  assert_false(rg_test_get(&r.data, "actors.0.enough_evidence")->via.boolean);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r,
               "{\"id\": 10, \"op\": \"check\", \"sender\": \"old@spam.example\", "
               "\"client_ip\": \"198.51.100.7\"}");
  assert_true(rg_test_get(&r.data, "actors.0.enough_evidence")->via.boolean);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
}

/* ---- replays ------------------------------------------------------------------------ */

typedef struct {
  size_t n;
  char **actors;
  double *rep;
  char (*band)[16];
} scores_t;

static void run_ok(const char *cmd) {
  char *out;
  int rc = rg_test_run(cmd, &out);
  if (rc) print_error("'%s' exited %d:\n%s\n", cmd, rc, out);
  assert_int_equal(rc, 0);
  free(out);
}

/* Starts a server on a fresh directory with `extra` options, ingests `traffic`, labels from
 * `seeds`, recomputes and reads every actor of `truth` into *s. */
static void score_corpus(const char *traffic, const char *seeds, const char *truth,
                         const char *const *extra, scores_t *s) {
  char *dir = rg_test_mkdtemp();
  rg_test_server_t srv;
  rg_test_server_start(&srv, dir, extra);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s/repgraph -p %u ingest %s >/dev/null", RG_BINARY_DIR, srv.port,
           traffic);
  run_ok(cmd);
  snprintf(cmd, sizeof cmd, "%s/repgraph -p %u label --file %s >/dev/null", RG_BINARY_DIR, srv.port,
           seeds);
  run_ok(cmd);
  rg_client_t *c = rg_test_connect(&srv);
  recompute(c);
  FILE *fp = fopen(truth, "r");
  assert_non_null(fp);
  char line[256];
  size_t cap = 1 << 20, len = 0;
  char *req = malloc(cap);
  len += (size_t)snprintf(req, cap, "{\"id\": 11, \"op\": \"lookup\", \"actors\": [");
  memset(s, 0, sizeof *s);
  s->actors = calloc(4096, sizeof *s->actors);
  while (fgets(line, sizeof line, fp) && s->n < 4096) {
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    s->actors[s->n] = strdup(line);
    len += (size_t)snprintf(req + len, cap - len, "%s\"%s\"", s->n ? ", " : "", line);
    s->n++;
  }
  fclose(fp);
  snprintf(req + len, cap - len, "]}");
  msgpack_unpacked r;
  rg_test_call(c, &r, "%s", req);
  free(req);
  s->rep = calloc(s->n, sizeof *s->rep);
  s->band = calloc(s->n, sizeof *s->band);
  for (size_t i = 0; i < s->n; i++) {
    char path[64];
    snprintf(path, sizeof path, "results.%zu.reputation", i);
    const msgpack_object *o = rg_test_get(&r.data, path);
    s->rep[i] = o && o->type == MSGPACK_OBJECT_FLOAT64 ? o->via.f64 : -1;
    snprintf(path, sizeof path, "results.%zu.band", i);
    o = rg_test_get(&r.data, path);
    if (o && o->type == MSGPACK_OBJECT_STR)
      snprintf(s->band[i], sizeof s->band[i], "%.*s", (int)o->via.str.size, o->via.str.ptr);
  }
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  rg_test_teardown_server(&srv, dir);
}

static void scores_free(scores_t *s) {
  for (size_t i = 0; i < s->n; i++) free(s->actors[i]);
  free(s->actors);
  free(s->rep);
  free(s->band);
}

/* Actors whose band differs or whose reputation differs by more than tol. */
static size_t differences(const scores_t *a, const scores_t *b, double tol) {
  size_t d = 0;
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++)
    if (fabs(a->rep[i] - b->rep[i]) > tol || strcmp(a->band[i], b->band[i]) != 0) d++;
  return d;
}

static void test_time_replayed_archive_scores_like_the_same_traffic_today(void **state) {
  fixture_t *f = *state;
  long long today = (long long)time(NULL) - 120, old = 1500000000; /* July 2017 */
  char gen[4096], old_path[600], new_path[600], truth[600], seeds[600];
  snprintf(old_path, sizeof old_path, "%s/old.ndjson", f->dir);
  snprintf(new_path, sizeof new_path, "%s/today.ndjson", f->dir);
  snprintf(truth, sizeof truth, "%s/truth.tsv", f->dir);
  snprintf(seeds, sizeof seeds, "%s/seeds.csv", f->dir);
  static const char *const shape =
      "--messages 4000 --users 500 --communities 10 --spammers 40 --spam-ips 16";
  snprintf(gen, sizeof gen, "%s/benchmarks/gen_mail %s --start-ts %lld --truth %s > %s",
           RG_BINARY_DIR, shape, old, truth, old_path);
  run_ok(gen);
  snprintf(gen, sizeof gen, "%s/benchmarks/gen_mail %s --start-ts %lld > %s", RG_BINARY_DIR, shape,
           today, new_path);
  run_ok(gen);
  /* every 10th truth line of each verdict as a seed, as the README walkthrough does */
  snprintf(gen, sizeof gen,
           "awk -F'\\t' 'BEGIN {print \"actor,verdict,source\"} {n[$2]++} n[$2] %% 10 == 1 "
           "{print $1 \",\" $2 \",analyst\"}' %s > %s",
           truth, seeds);
  run_ok(gen);

  scores_t replay, live, naive;
  score_corpus(old_path, seeds, truth, NULL, &replay);
  score_corpus(new_path, seeds, truth, NULL, &live);
  static const char *const now_ref[] = {"--set", "graph.reference_time=now", NULL};
  score_corpus(old_path, seeds, truth, now_ref, &naive);
  assert_true(replay.n > 500);
  size_t scored = 0;
  for (size_t i = 0; i < live.n; i++) scored += live.rep[i] >= 0;
  assert_true(scored > live.n / 2);
  size_t d = differences(&replay, &live, 1e-6);
  if (d) print_error("%zu of %zu actors score differently replayed\n", d, live.n);
  assert_int_equal(d, 0);
  /* the test can fail: decayed against today's clock, the same archive scores otherwise */
  size_t dn = differences(&naive, &live, 1e-6);
  print_message("replayed = today for all %zu actors; with reference_time=now %zu differ\n", live.n,
                dn);
  assert_true(dn > live.n / 20);
  scores_free(&replay);
  scores_free(&live);
  scores_free(&naive);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_time_future_items_are_clamped_and_counted, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_time_future_traffic_cannot_freeze_an_edge, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_time_future_traffic_cannot_disable_the_evidence_rule,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_time_replayed_archive_scores_like_the_same_traffic_today,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
