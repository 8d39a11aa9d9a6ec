/* test_lookup_cache.c — the encoded lookup-result cache: the module alone (hits, epochs,
 * eviction by bytes, limits), then in the engine on a loop of the test's own with a pinned
 * clock: a result answered from the cache is byte for byte the one a fresh read writes, also
 * after the clock moved (as_of and the decayed weights patched), and every kind of write —
 * ingest, label, forget, a recomputation's new generation — is seen by the next lookup
 * after its acknowledgement, with the cache warm before it. */
#define _GNU_SOURCE /* vasprintf */
#include <stdlib.h>
#include <string.h>

#include "repgraph/clock.h"
#include "repgraph/config.h"
#include "repgraph/engine.h"
#include "repgraph/err.h"
#include "repgraph/lookup_cache.h"
#include "repgraph/store.h"
#include "testutil.h"

#define T0 1700000000 /* the pinned clock */

static const uint8_t seed[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static rg_lookup_entry_t entry_of(const char *bytes) {
  return (rg_lookup_entry_t){.bytes = (uint8_t *)bytes, .len = (uint32_t)strlen(bytes), .now = 7};
}

/* ---- the module ------------------------------------------------------------------------ */

static void test_cache_answers_what_was_put_until_the_epoch_ends(void **state) {
  (void)state;
  rg_lookup_cache_t *c;
  assert_int_equal(rg_lookup_cache_open(1 << 20, seed, &c), RG_OK);
  assert_null(rg_lookup_cache_get(c, "address:a@x.example", 19));
  rg_lookup_entry_t e = entry_of("result of a");
  e.off_as_of = 3, e.as_of_len = 5;
  assert_int_equal(rg_lookup_cache_put(c, "address:a@x.example", 19, &e), RG_OK);
  rg_lookup_entry_t *got = rg_lookup_cache_get(c, "address:a@x.example", 19);
  assert_non_null(got);
  assert_int_equal(got->len, e.len);
  assert_memory_equal(got->bytes, "result of a", e.len);
  assert_ptr_not_equal(got->bytes, e.bytes); /* a copy */
  assert_int_equal(got->now, 7);
  assert_int_equal(got->off_as_of, 3);
  assert_null(rg_lookup_cache_get(c, "address:a@x.exampl", 18)); /* a prefix is another key */

  rg_lookup_cache_invalidate(c);
  assert_null(rg_lookup_cache_get(c, "address:a@x.example", 19));
  e = entry_of("a longer result of a, after the write"); /* reuses the key's node, grown */
  assert_int_equal(rg_lookup_cache_put(c, "address:a@x.example", 19, &e), RG_OK);
  got = rg_lookup_cache_get(c, "address:a@x.example", 19);
  assert_non_null(got);
  assert_memory_equal(got->bytes, e.bytes, e.len);

  rg_lookup_cache_stats_t st;
  rg_lookup_cache_stats(c, &st);
  assert_int_equal(st.entries, 1);
  assert_int_equal(st.hits, 2);
  assert_int_equal(st.misses, 3);
  assert_int_equal(st.invalidations, 1);
  assert_true(st.bytes <= st.max_bytes);
  rg_lookup_cache_free(c);
}

static void test_cache_evicts_the_least_recently_used_past_its_bytes(void **state) {
  (void)state;
  rg_lookup_cache_t *c;
  char big[1001];
  memset(big, 'x', 1000);
  big[1000] = '\0';
  rg_lookup_entry_t e = entry_of(big);
  assert_int_equal(rg_lookup_cache_open(64 * 1024, seed, &c), RG_OK); /* table 8 KiB + ~50 */
  char key[32];
  for (int i = 0; i < 100; i++) {
    snprintf(key, sizeof key, "k%d", i);
    assert_int_equal(rg_lookup_cache_put(c, key, strlen(key), &e), RG_OK);
    if (i >= 1) assert_non_null(rg_lookup_cache_get(c, "k0", 2)); /* k0 stays in use */
  }
  rg_lookup_cache_stats_t st;
  rg_lookup_cache_stats(c, &st);
  assert_true(st.bytes <= 64 * 1024);
  assert_true(st.entries >= 40 && st.entries < 64);
  assert_int_equal(st.evictions, 100 - st.entries);
  assert_non_null(rg_lookup_cache_get(c, "k0", 2));
  assert_non_null(rg_lookup_cache_get(c, "k99", 3));
  assert_null(rg_lookup_cache_get(c, "k1", 2)); /* the oldest not used since */
  rg_lookup_cache_free(c);
}

static void test_cache_refuses_what_does_not_fit_and_null_holds_nothing(void **state) {
  (void)state;
  rg_lookup_cache_t *c;
  char *huge = malloc(RG_LOOKUP_ENTRY_MAX + 2);
  assert_non_null(huge);
  memset(huge, 'y', RG_LOOKUP_ENTRY_MAX + 1);
  huge[RG_LOOKUP_ENTRY_MAX + 1] = '\0';
  rg_lookup_entry_t e = entry_of(huge);
  assert_int_equal(rg_lookup_cache_open(1 << 20, seed, &c), RG_OK);
  assert_int_equal(rg_lookup_cache_put(c, "k", 1, &e), RG_ETOO_LARGE);
  assert_null(rg_lookup_cache_get(c, "k", 1));
  rg_lookup_cache_free(c);
  free(huge);

  assert_int_equal(rg_lookup_cache_open(0, seed, &c), RG_OK); /* lookup.cache_bytes = 0 */
  assert_null(c);
  e = entry_of("small");
  assert_int_equal(rg_lookup_cache_put(c, "k", 1, &e), RG_OK);
  assert_null(rg_lookup_cache_get(c, "k", 1));
  rg_lookup_cache_invalidate(c);
  rg_lookup_cache_free(c);
}

/* ---- what commits touched (store_touch.c) ------------------------------------------------ */

static uint64_t upsert(rg_txn_t *t, const char *text) {
  rg_actor_t a;
  const char *why;
  assert_int_equal(rg_actor_parse(text, strlen(text), &a, &why), RG_OK);
  uint64_t id;
  assert_int_equal(rg_store_upsert_actor(t, &a, T0, T0, 1, &id), RG_OK);
  return id;
}

static bool has_id(const rg_store_touched_t *tt, uint64_t id) {
  for (size_t i = 0; i < tt->n; i++)
    if (tt->ids[i] == id) return true;
  return false;
}

/* A narrow commit reports the actors it rewrote and that it created one; any other
 * commit reports wide; an aborted one nothing; taking clears. */
static void test_store_reports_what_commits_touched(void **state) {
  (void)state;
  char *dir = rg_test_mkdtemp(), err[256];
  rg_store_opts_t o = {dir, 1 << 22, 1 << 26, 3600, NULL};
  rg_store_t *s;
  assert_int_equal(rg_store_open(&o, &s, err, sizeof err), RG_OK);
  rg_store_touched_t tt;
  rg_store_take_touched(s, &tt); /* whatever opening wrote */
  free(tt.ids);

  rg_txn_t *t;
  assert_int_equal(rg_store_write_begin(s, &t), RG_OK);
  rg_store_set_narrow(t);
  uint64_t a = upsert(t, "address:a@x.example"), b = upsert(t, "ip:192.0.2.1");
  assert_int_equal(rg_store_commit(t), RG_OK);
  assert_int_equal(rg_store_write_begin(s, &t), RG_OK);
  rg_store_set_narrow(t);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);
  rg_store_take_touched(s, &tt);
  assert_false(tt.wide);
  assert_true(tt.created);
  assert_true(has_id(&tt, a) && has_id(&tt, b));
  free(tt.ids);

  assert_int_equal(rg_store_write_begin(s, &t), RG_OK); /* narrow, edge only: no creation */
  rg_store_set_narrow(t);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, b, T0 + 1, 1, 1), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);
  assert_int_equal(rg_store_write_begin(s, &t), RG_OK); /* aborted: not reported */
  rg_store_set_narrow(t);
  uint64_t c = upsert(t, "address:c@x.example");
  rg_store_end(t);
  rg_store_take_touched(s, &tt);
  assert_false(tt.wide);
  assert_false(tt.created);
  assert_true(has_id(&tt, a) && has_id(&tt, b) && !has_id(&tt, c));
  free(tt.ids);

  assert_int_equal(rg_store_write_begin(s, &t), RG_OK); /* not declared narrow */
  upsert(t, "address:d@x.example");
  assert_int_equal(rg_store_commit(t), RG_OK);
  rg_store_take_touched(s, &tt);
  assert_true(tt.wide);
  assert_null(tt.ids);
  rg_store_take_touched(s, &tt); /* cleared */
  assert_false(tt.wide || tt.created || tt.n);
  rg_store_close(s);
  rg_test_rmtree(dir);
  free(dir);
}

/* ---- in the engine --------------------------------------------------------------------- */

typedef struct {
  uv_loop_t loop;
  rg_engine_t *engine;
  char *dir;
  rg_proto_limits_t limits;
  unsigned done_calls;
  rg_buf_t out;
  msgpack_unpacked reply;
} fixture_t;

static void on_done(rg_write_t *w, void *ctx) {
  fixture_t *f = ctx;
  f->done_calls++;
  f->out.len = 0;
  assert_int_equal(rg_engine_finish_write(w, &f->out), RG_OK);
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  rg_clock_pin(T0);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->dir = rg_test_mkdtemp();
  rg_config_t cfg;
  rg_config_defaults(&cfg);
  snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", f->dir);
  cfg.recompute_interval_s = 0;
  cfg.min_messages = 1;
  cfg.min_age_s = 0;
  char err[256] = "";
  assert_int_equal(rg_engine_open(&cfg, &f->loop, &f->engine, err, sizeof err), RG_OK);
  f->limits =
      (rg_proto_limits_t){cfg.max_frame_bytes, cfg.max_batch_items, cfg.max_recipients, 0, 0};
  rg_buf_init(&f->out, 1 << 24);
  msgpack_unpacked_init(&f->reply);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_engine_stop(f->engine);
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  rg_engine_close(f->engine);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  msgpack_unpacked_destroy(&f->reply);
  rg_buf_free(&f->out);
  rg_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  rg_clock_pin(0);
  return 0;
}

/* Handles one JSON-written request, waiting for its reply if it is a write; the reply's
 * frame is left in f->out and returned decoded (checked against the schema of op). */
static const msgpack_object *call(fixture_t *f, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const msgpack_object *call(fixture_t *f, const char *op, const char *fmt, ...) {
  char *json;
  va_list ap;
  va_start(ap, fmt);
  assert_true(vasprintf(&json, fmt, ap) >= 0);
  va_end(ap);
  rg_buf_t frame;
  rg_buf_init(&frame, 1 << 24);
  rg_test_frame_json(&frame, "%s", json);
  rg_request_t req;
  char err[256] = "";
  assert_int_equal(rg_proto_decode_request(frame.data + RG_FRAME_HEADER, frame.len - RG_FRAME_HEADER,
                                           &f->limits, &req, err, sizeof err),
                   RG_OK);
  f->out.len = 0;
  rg_write_t *pending = NULL;
  unsigned before = f->done_calls;
  assert_int_equal(rg_engine_handle(f->engine, &req, &f->out, on_done, f, &pending), RG_OK);
  rg_request_free(&req);
  rg_buf_free(&frame);
  free(json);
  while (pending && f->done_calls == before) assert_true(uv_run(&f->loop, UV_RUN_ONCE) >= 0);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&f->reply, (const char *)f->out.data + RG_FRAME_HEADER,
                                       f->out.len - RG_FRAME_HEADER, &off),
                   MSGPACK_UNPACK_SUCCESS);
  const char *violation = rg_test_schema_violation(op, &f->reply.data);
  if (violation) fail_msg("%s reply: %s", op, violation);
  return &f->reply.data;
}

/* The lookup frame of `actors_json` as the engine writes it now (a copy, to free). */
static rg_buf_t lookup_frame(fixture_t *f, const char *actors_json) {
  call(f, "lookup", "{\"id\":9,\"op\":\"lookup\",\"actors\":%s}", actors_json);
  rg_buf_t copy;
  rg_buf_init(&copy, 0);
  assert_int_equal(rg_buf_append(&copy, f->out.data, f->out.len), RG_OK);
  return copy;
}

static void assert_same_frame(const rg_buf_t *a, const rg_buf_t *b) {
  assert_int_equal(a->len, b->len);
  assert_memory_equal(a->data, b->data, a->len);
}

static uint64_t cache_hits(fixture_t *f) {
  rg_lookup_cache_stats_t st;
  rg_lookup_cache_stats(rg_engine_lookup_cache(f->engine), &st);
  return st.hits;
}

static void ingest_graph(fixture_t *f) {
  char obs[4096];
  int n = snprintf(obs, sizeof obs, "{\"id\":1,\"op\":\"ingest\",\"observations\":[");
  for (int i = 0; i < 6; i++)
    n += snprintf(obs + n, sizeof obs - n,
                  "%s{\"ts\":%d,\"sender\":\"spam%d@bad.example\",\"recipients\":"
                  "[\"v%d@victim.example\"],\"client_ip\":\"203.0.113.5\"},"
                  "{\"ts\":%d,\"sender\":\"ok%d@good.example\",\"recipients\":"
                  "[\"friend%d@peer.example\"],\"client_ip\":\"192.0.2.%d\"}",
                  i ? "," : "", T0 - 3600, i, i, T0 - 3600, i, i, 10 + i);
  snprintf(obs + n, sizeof obs - n, "]}");
  assert_int_equal(rg_test_uint(call(f, "ingest", "%s", obs), "accepted"), 12);
}

/* What the cache answers is what a fresh read writes, byte for byte: right away, an hour
 * later (as_of and the decayed weights brought to the new time), and with a generation's
 * scores and reasons, a label, an unknown and an invalid actor in the same batch. */
static void test_cached_results_are_the_bytes_a_fresh_read_writes(void **state) {
  fixture_t *f = *state;
  ingest_graph(f);
  call(f, "label",
       "{\"id\":2,\"op\":\"label\",\"labels\":["
       "{\"actor\":\"address:spam0@bad.example\",\"verdict\":\"bad\",\"note\":\"trap\"},"
       "{\"actor\":\"address:ok0@good.example\",\"verdict\":\"good\"}]}");
  assert_true(rg_test_get(call(f, "recompute", "{\"id\":3,\"op\":\"recompute\",\"wait\":true}"),
                          "result.ok")
                  ->via.boolean);
  const char *actors =
      "[\"address:spam0@bad.example\",\"address:spam3@bad.example\",\"ip:203.0.113.5\","
      "\"address:ok2@good.example\",\"address:nobody@nowhere.example\",\"address:nonsense\"]";
  uint64_t hits = cache_hits(f);
  rg_buf_t fresh = lookup_frame(f, actors);
  assert_int_equal(cache_hits(f), hits); /* all read from the store */
  assert_int_equal(rg_test_uint(&f->reply.data, "results.1.generation"), 1);
  assert_true(rg_test_get(&f->reply.data, "results.0.label") != NULL);
  rg_buf_t cached = lookup_frame(f, actors);
  assert_int_equal(cache_hits(f), hits + 5); /* all but the invalid actor */
  assert_same_frame(&fresh, &cached);

  rg_clock_pin(T0 + 3600); /* an hour later: the weights have decayed by half again */
  rg_buf_t later = lookup_frame(f, actors);
  assert_int_equal(cache_hits(f), hits + 10);
  assert_int_equal(rg_test_uint(&f->reply.data, "results.0.as_of"), T0 + 3600);
  double w = rg_test_get(&f->reply.data, "results.1.weight_out")->via.f64;
  assert_true(w > 0);
  /* a write that does not say which actors it changed (forget: others' reasons may name
   * the forgotten) ends the epoch: the next read is a fresh one */
  call(f, "forget", "{\"id\":4,\"op\":\"forget\",\"actors\":[\"address:x@else.example\"]}");
  rg_buf_t later_fresh = lookup_frame(f, actors);
  assert_int_equal(cache_hits(f), hits + 10);
  assert_same_frame(&later, &later_fresh);
  assert_true(fresh.len == later.len && memcmp(fresh.data, later.data, fresh.len) != 0);
  const msgpack_object *st = call(f, "stats", "{\"id\":5,\"op\":\"stats\"}");
  assert_int_equal(rg_test_uint(st, "lookup_cache.hits"), hits + 10);
  assert_true(rg_test_uint(st, "lookup_cache.invalidations") >= 3);
  assert_int_equal(rg_test_uint(st, "lookup_cache.max_bytes"), 64 << 20);
  rg_buf_free(&fresh);
  rg_buf_free(&cached);
  rg_buf_free(&later);
  rg_buf_free(&later_fresh);
}

/* With the cache warm, each acknowledged write shows in the next lookup. */
static void test_lookup_after_each_write_sees_it_with_the_cache_warm(void **state) {
  fixture_t *f = *state;
  const char *q = "{\"id\":5,\"op\":\"lookup\",\"actors\":[\"address:spam1@bad.example\"]}";
  const msgpack_object *r = call(f, "lookup", "%s", q);
  assert_false(rg_test_get(r, "results.0.known")->via.boolean); /* unknown, cached */
  r = call(f, "lookup", "%s", q);
  assert_false(rg_test_get(r, "results.0.known")->via.boolean);

  ingest_graph(f); /* now it is known */
  r = call(f, "lookup", "%s", q);
  assert_true(rg_test_get(r, "results.0.known")->via.boolean);
  assert_int_equal(rg_test_uint(r, "results.0.out_degree.mailed"), 1);
  call(f, "lookup", "%s", q); /* warm again */
  call(f, "ingest",
       "{\"id\":6,\"op\":\"ingest\",\"edges\":[{\"src\":\"address:spam1@bad.example\","
       "\"dst\":\"address:new@victim.example\",\"kind\":\"mailed\",\"ts\":%d}]}",
       T0 - 60);
  r = call(f, "lookup", "%s", q);
  assert_int_equal(rg_test_uint(r, "results.0.out_degree.mailed"), 2);

  assert_true(rg_test_get(r, "results.0.label")->type == MSGPACK_OBJECT_NIL);
  call(f, "label",
       "{\"id\":7,\"op\":\"label\",\"labels\":[{\"actor\":\"address:spam1@bad.example\","
       "\"verdict\":\"bad\"},{\"actor\":\"address:ok1@good.example\",\"verdict\":\"good\"}]}");
  r = call(f, "lookup", "%s", q);
  assert_true(rg_test_str_is(r, "results.0.label.verdict", "bad"));
  assert_true(rg_test_get(r, "results.0.generation")->type == MSGPACK_OBJECT_NIL);

  call(f, "lookup", "%s", q);
  call(f, "recompute", "{\"id\":8,\"op\":\"recompute\",\"wait\":true}"); /* generation 1 */
  r = call(f, "lookup", "%s", q);
  assert_int_equal(rg_test_uint(r, "results.0.generation"), 1);
  call(f, "recompute", "{\"id\":9,\"op\":\"recompute\",\"wait\":true}"); /* and 2 */
  r = call(f, "lookup", "%s", q);
  assert_int_equal(rg_test_uint(r, "results.0.generation"), 2);

  call(f, "forget", "{\"id\":10,\"op\":\"forget\",\"actors\":[\"address:spam1@bad.example\"]}");
  r = call(f, "lookup", "%s", q);
  assert_false(rg_test_get(r, "results.0.known")->via.boolean);
  assert_true(rg_test_get(r, "results.0.label")->type == MSGPACK_OBJECT_NIL);
}

/* An ingest or a label ends the entries of the actors it changed, and of the actors that
 * were unknown when it created one; the others' entries keep answering. */
static void test_writes_end_only_the_entries_of_the_actors_they_change(void **state) {
  fixture_t *f = *state;
  ingest_graph(f);
  const char *a = "\"address:spam1@bad.example\"", *b = "\"address:ok1@good.example\"",
             *u = "\"address:later@victim.example\"";
  char q[256];
  snprintf(q, sizeof q, "{\"id\":5,\"op\":\"lookup\",\"actors\":[%s,%s,%s]}", a, b, u);
  call(f, "lookup", "%s", q);
  uint64_t hits = cache_hits(f);
  const msgpack_object *r = call(f, "lookup", "%s", q);
  assert_int_equal(cache_hits(f), hits + 3);
  assert_false(rg_test_get(r, "results.2.known")->via.boolean);

  /* spam1 mails a new recipient: spam1 changes, later@ (unknown until now) is created */
  call(f, "ingest",
       "{\"id\":6,\"op\":\"ingest\",\"edges\":[{\"src\":%s,\"dst\":%s,\"kind\":\"mailed\","
       "\"ts\":%d}]}",
       a, u, T0 - 60);
  r = call(f, "lookup", "%s", q);
  assert_int_equal(cache_hits(f), hits + 4); /* only ok1 from the cache */
  assert_int_equal(rg_test_uint(r, "results.0.out_degree.mailed"), 2);
  assert_true(rg_test_get(r, "results.2.known")->via.boolean);
  assert_int_equal(rg_test_uint(r, "results.2.in_degree.mailed"), 1);

  /* a label on ok1: only ok1 is read again */
  call(f, "label",
       "{\"id\":7,\"op\":\"label\",\"labels\":[{\"actor\":%s,\"verdict\":\"good\"}]}", b);
  r = call(f, "lookup", "%s", q);
  assert_int_equal(cache_hits(f), hits + 6);
  assert_true(rg_test_str_is(r, "results.1.label.verdict", "good"));

  /* a generation ends them all */
  call(f, "recompute", "{\"id\":8,\"op\":\"recompute\",\"wait\":true}");
  r = call(f, "lookup", "%s", q);
  assert_int_equal(cache_hits(f), hits + 6);
  assert_int_equal(rg_test_uint(r, "results.0.generation"), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_answers_what_was_put_until_the_epoch_ends),
      cmocka_unit_test(test_cache_evicts_the_least_recently_used_past_its_bytes),
      cmocka_unit_test(test_cache_refuses_what_does_not_fit_and_null_holds_nothing),
      cmocka_unit_test(test_store_reports_what_commits_touched),
      cmocka_unit_test_setup_teardown(test_cached_results_are_the_bytes_a_fresh_read_writes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_lookup_after_each_write_sees_it_with_the_cache_warm,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_writes_end_only_the_entries_of_the_actors_they_change,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
