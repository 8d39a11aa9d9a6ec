/* test_wal_server.c — ingest through the write-ahead log (wal.enabled) with the real
 * repgraphd: an acknowledged ingest is seen by a lookup on the same connection (which waits
 * for its merge) while other connections go on; a SIGKILL before any merge loses nothing
 * (start-up replays the log); writes of other kinds apply after the logged ingests before
 * them; past wal.max_unmerged_edges ingests wait for a merge instead of piling up; a clean
 * stop merges everything. Merges by size and time are switched off (wal.merge_edges and
 * wal.merge_ms at their largest) so the tests decide when a merge is needed. */
#define _GNU_SOURCE /* memmem */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "repgraph/err.h"
#include "testutil.h"

static const char *const wal_args[] = {"--set", "wal.enabled=1", "--set",
                                       "wal.merge_edges=100000000", "--set",
                                       "wal.merge_ms=3600000", NULL};

static int setup(void **state) {
  return rg_test_fixture_start(state, wal_args);
}

static int setup_small_log(void **state) {
  static const char *const extra[] = {"--set", "wal.enabled=1", "--set",
                                      "wal.merge_edges=100000000", "--set",
                                      "wal.merge_ms=3600000", "--set",
                                      "wal.max_unmerged_edges=1000", NULL};
  return rg_test_fixture_start(state, extra);
}

#define PSEUDONYM_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* wal.enabled in a pseudonymised store: the key file is written before the server starts. */
static void start_pseudonymised(rg_test_fixture_t *f) {
  static char key_opt[400];
  char key_path[300];
  snprintf(key_path, sizeof key_path, "%s/pseudonym.key", f->dir);
  rg_test_write_file(key_path, 0600, PSEUDONYM_KEY "\n");
  snprintf(key_opt, sizeof key_opt, "store.pseudonym_key_file=%s", key_path);
  const char *const extra[] = {"--set", "wal.enabled=1", "--set", "wal.merge_edges=100000000",
                               "--set", "wal.merge_ms=3600000", "--set", "store.pseudonymise=1",
                               "--set", key_opt, NULL};
  rg_test_server_start(&f->srv, f->dir, extra);
}

static int setup_pseudonymised(void **state) {
  rg_test_fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->dir = rg_test_mkdtemp();
  start_pseudonymised(f);
  *state = f;
  return 0;
}

static int setup_full_map(void **state) {
  static const char *const extra[] = {"--set", "wal.enabled=1", "--set",
                                      "wal.merge_edges=100000000", "--set",
                                      "wal.merge_ms=3600000", "--set", "store.map_size=1M",
                                      "--set", "store.map_max=1M", NULL};
  return rg_test_fixture_start(state, extra);
}

static int teardown(void **state) {
  return rg_test_fixture_stop(state);
}

static unsigned rcpt_base; /* recipients are r<rcpt_base + i>@victim.example */

/* Sends the ingest of one observation from sender@wal.example to n recipients, at a fixed
 * time (so two servers store the same first and last seen). */
static void ingest(rg_client_t *c, const char *sender, unsigned n) {
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  char rcpts[16384];
  size_t len = 0;
  for (unsigned i = 0; i < n; i++)
    len += (size_t)snprintf(rcpts + len, sizeof rcpts - len, "%s\"r%u@victim.example\"",
                            i ? "," : "", rcpt_base + i);
  rg_test_frame_json(&frame,
                     "{\"id\": 1, \"op\": \"ingest\", \"observations\": [{\"ts\": 1700000000, "
                     "\"sender\": \"%s@wal.example\", \"recipients\": [%s], "
                     "\"client_ip\": \"192.0.2.9\"}]}",
                     sender, rcpts);
  assert_int_equal(rg_client_send(c, frame.data, frame.len), RG_OK);
  rg_buf_free(&frame);
}

static void expect_ack(rg_client_t *c) {
  msgpack_unpacked r;
  char code[64];
  rg_test_recv(c, "ingest", &r);
  if (rg_test_error_code(&r.data, code, sizeof code)) fail_msg("ingest: %s", code);
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 1);
  msgpack_unpacked_destroy(&r);
}

/* The sender's out_degree.mailed, or -1 when the store does not know it. */
static long mailed_of(rg_client_t *c, const char *sender) {
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 2, \"op\": \"lookup\", \"actors\": [\"address:%s@wal.example\"]}",
               sender);
  long out = rg_test_get(&r.data, "results.0.known")->via.boolean
                 ? (long)rg_test_uint(&r.data, "results.0.out_degree.mailed")
                 : -1;
  msgpack_unpacked_destroy(&r);
  return out;
}

static uint64_t wal_stat(rg_client_t *c, const char *field) {
  msgpack_unpacked r;
  char path[64];
  snprintf(path, sizeof path, "wal.%s", field);
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"stats\"}");
  uint64_t v = rg_test_uint(&r.data, path);
  msgpack_unpacked_destroy(&r);
  return v;
}

static void test_wal_read_on_the_same_connection_sees_its_ingest(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *a = rg_test_connect(&f->srv), *b = rg_test_connect(&f->srv);
  ingest(a, "first", 2);
  expect_ack(a);
  /* acknowledged from the log, not merged: another connection neither waits nor sees it */
  assert_int_equal(wal_stat(b, "unmerged_records"), 1);
  assert_int_equal(mailed_of(b, "first"), -1);
  assert_int_equal(mailed_of(a, "first"), 2); /* waits for the merge its read starts */
  assert_int_equal(wal_stat(b, "unmerged_records"), 0);
  assert_true(wal_stat(b, "merges") >= 1);
  assert_int_equal(wal_stat(b, "appended"), 1);
  rg_client_close(a);
  rg_client_close(b);
}

static void test_wal_sigkill_before_a_merge_loses_nothing(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *a = rg_test_connect(&f->srv);
  for (int i = 0; i < 3; i++) ingest(a, i == 0 ? "k0" : i == 1 ? "k1" : "k2", 3);
  for (int i = 0; i < 3; i++) expect_ack(a);
  rg_client_close(a);
  assert_int_equal(kill(f->srv.pid, SIGKILL), 0);
  int status;
  assert_int_equal(waitpid(f->srv.pid, &status, 0), f->srv.pid);
  rg_test_server_start(&f->srv, f->dir, wal_args);
  rg_client_t *c = rg_test_connect(&f->srv);
  assert_int_equal(wal_stat(c, "replayed_records"), 3); /* before it answered anything */
  assert_int_equal(mailed_of(c, "k0"), 3);
  assert_int_equal(mailed_of(c, "k2"), 3);
  rg_client_close(c);
}

/* A log left by a crash is replayed even when the server comes back with wal.enabled=0. */
static void test_wal_log_is_replayed_with_the_log_turned_off(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *a = rg_test_connect(&f->srv);
  ingest(a, "off", 2);
  expect_ack(a);
  rg_client_close(a);
  assert_int_equal(kill(f->srv.pid, SIGKILL), 0);
  int status;
  assert_int_equal(waitpid(f->srv.pid, &status, 0), f->srv.pid);
  rg_test_server_start(&f->srv, f->dir, NULL);
  rg_client_t *c = rg_test_connect(&f->srv);
  assert_int_equal(mailed_of(c, "off"), 2);
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"stats\"}");
  assert_false(rg_test_get(&r.data, "wal.enabled")->via.boolean);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  char path[400];
  snprintf(path, sizeof path, "%s/store/wal/%020u.wal", f->dir, 1);
  assert_int_not_equal(access(path, F_OK), 0); /* merged, so removed */
}

static void test_wal_other_writes_apply_after_the_ingests_before_them(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *a = rg_test_connect(&f->srv);
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  ingest(a, "gone", 2); /* pipelined: the forget is sent before the ingest is acknowledged */
  rg_test_frame_json(&frame,
                     "{\"id\": 5, \"op\": \"forget\", \"actors\": [\"address:gone@wal.example\"]}");
  assert_int_equal(rg_client_send(a, frame.data, frame.len), RG_OK);
  ingest(a, "after", 1);
  expect_ack(a);
  msgpack_unpacked r;
  rg_test_recv(a, "forget", &r);
  assert_int_equal(rg_test_uint(&r.data, "forgotten"), 1); /* the ingest was merged first */
  msgpack_unpacked_destroy(&r);
  expect_ack(a); /* replies in request order */
  assert_int_equal(mailed_of(a, "gone"), -1);
  assert_int_equal(mailed_of(a, "after"), 1);
  rg_buf_free(&frame);
  rg_client_close(a);
}

static void test_wal_ingests_wait_past_max_unmerged_edges(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *a = rg_test_connect(&f->srv), *b = rg_test_connect(&f->srv);
  char name[16];
  for (int i = 0; i < 10; i++) {
    snprintf(name, sizeof name, "bp%d", i);
    ingest(a, name, 300); /* ~303 edges each: the log holds at most ~4 such unmerged */
  }
  for (int i = 0; i < 10; i++) expect_ack(a);
  assert_true(wal_stat(b, "waits") >= 1);
  assert_true(wal_stat(b, "merges") >= 2);
  assert_true(wal_stat(b, "unmerged_edges") <= 1000 + 310);
  for (int i = 0; i < 10; i++) {
    snprintf(name, sizeof name, "bp%d", i);
    assert_int_equal(mailed_of(a, name), 300);
  }
  rg_client_close(a);
  rg_client_close(b);
}

static void test_wal_clean_stop_merges_everything(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *a = rg_test_connect(&f->srv);
  ingest(a, "stop", 4);
  expect_ack(a);
  rg_client_close(a);
  assert_int_equal(rg_test_server_stop(&f->srv), 0);
  rg_test_server_start(&f->srv, f->dir, wal_args);
  rg_client_t *c = rg_test_connect(&f->srv);
  assert_int_equal(wal_stat(c, "replayed_records"), 0); /* merged at the stop */
  assert_int_equal(mailed_of(c, "stop"), 4);
  rg_client_close(c);
}

/* A merge that cannot fit the store (storage_full) keeps its records logged, and the read
 * that waits for it goes on instead of waiting for ever. */
static void test_wal_failed_merge_does_not_hold_reads_for_ever(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *a = rg_test_connect(&f->srv), *b = rg_test_connect(&f->srv);
  char name[16];
  for (int i = 0; i < 10; i++) {
    snprintf(name, sizeof name, "full%d", i);
    rcpt_base = 1000 * (unsigned)i; /* 5,000 distinct edges: more than a 1 MiB map holds */
    ingest(a, name, 500);
  }
  rcpt_base = 0;
  for (int i = 0; i < 10; i++) expect_ack(a); /* durable in the log */
  msgpack_unpacked r;
  rg_test_call(a, &r, "{\"id\": 2, \"op\": \"lookup\", \"actors\": [\"address:full9@wal.example\"]}");
  msgpack_unpacked_destroy(&r); /* answered: the merge it waited for failed */
  assert_true(wal_stat(b, "merge_failures") >= 1);
  assert_int_equal(wal_stat(b, "unmerged_records"), 10); /* still logged, not lost */
  rg_client_close(a);
  rg_client_close(b);
}

/* A backup holds every ingest acknowledged before it, merged or not when it was asked. */
static void test_wal_backup_holds_acknowledged_unmerged_ingests(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *a = rg_test_connect(&f->srv), *b = rg_test_connect(&f->srv);
  ingest(a, "backedup", 3);
  expect_ack(a);
  assert_int_equal(wal_stat(b, "unmerged_records"), 1);
  char dest[400], code[64];
  snprintf(dest, sizeof dest, "%s/backup-wal", f->dir);
  msgpack_unpacked r;
  rg_test_call(b, &r, "{\"id\": 6, \"op\": \"backup\", \"path\": \"%s\"}", dest);
  assert_string_equal(rg_test_code_of(&r, code), "(no error)");
  assert_int_equal(rg_test_uint(&r.data, "manifest.edges.mailed"), 3);
  msgpack_unpacked_destroy(&r);
  rg_client_close(a);
  rg_client_close(b);
}

/* The store the log merges into is the one the writer's own path builds: the same
 * observations through both give the same actor records. */
static void test_wal_merged_store_equals_the_direct_one(void **state) {
  rg_test_fixture_t *f = *state;
  char *dir = rg_test_mkdtemp();
  rg_test_server_t direct;
  rg_test_server_start(&direct, dir, NULL);
  rg_client_t *c[2] = {rg_test_connect(&f->srv), rg_test_connect(&direct)};
  char sender[16];
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < 6; i++) { /* senders share recipients and the IP: records overlap */
      snprintf(sender, sizeof sender, "eq%d", i % 3);
      ingest(c[k], sender, 2 + (unsigned)i);
      expect_ack(c[k]);
    }
  static const char *const actors[] = {"address:eq0@wal.example", "address:eq2@wal.example",
                                       "address:r0@victim.example", "ip:192.0.2.9",
                                       "net:192.0.2.0/24", "domain:wal.example"};
  static const char *const fields[] = {"messages", "out_degree.mailed", "in_degree.mailed",
                                       "out_degree.sent_from", "in_degree.sent_from",
                                       "first_seen", "last_seen"};
  for (size_t i = 0; i < sizeof actors / sizeof actors[0]; i++) {
    msgpack_unpacked r[2];
    for (int k = 0; k < 2; k++)
      rg_test_call(c[k], &r[k], "{\"id\": 4, \"op\": \"lookup\", \"actors\": [\"%s\"]}",
                   actors[i]);
    assert_true(rg_test_get(&r[0].data, "results.0.known")->via.boolean);
    for (size_t j = 0; j < sizeof fields / sizeof fields[0]; j++) {
      char path[64];
      snprintf(path, sizeof path, "results.0.%s", fields[j]);
      const msgpack_object *a = rg_test_get(&r[0].data, path), *b = rg_test_get(&r[1].data, path);
      if (!a && !b) continue;
      assert_non_null(a);
      assert_non_null(b);
      if (a->via.u64 != b->via.u64) fail_msg("%s %s: %llu through the log, %llu direct",
                                             actors[i], fields[j], (unsigned long long)a->via.u64,
                                             (unsigned long long)b->via.u64);
    }
    for (int k = 0; k < 2; k++) msgpack_unpacked_destroy(&r[k]);
  }
  for (int k = 0; k < 2; k++) rg_client_close(c[k]);
  rg_test_teardown_server(&direct, dir);
}

/* The log, like the store, holds only pseudonyms: the sender's name is not in its bytes. */
static void test_wal_log_holds_pseudonyms_in_a_pseudonymised_store(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *a = rg_test_connect(&f->srv);
  ingest(a, "secretsender", 2);
  expect_ack(a);
  rg_client_close(a);
  assert_int_equal(kill(f->srv.pid, SIGKILL), 0); /* before any merge: only the log has it */
  int status;
  assert_int_equal(waitpid(f->srv.pid, &status, 0), f->srv.pid);
  char path[400];
  snprintf(path, sizeof path, "%s/store/wal/%020u.wal", f->dir, 1);
  size_t len;
  uint8_t *bytes = rg_test_read_file(path, &len);
  assert_true(len > 8 + 20);
  assert_null(memmem(bytes, len, "secretsender", 12));
  assert_null(memmem(bytes, len, "victim.example", 14));
  free(bytes);
  start_pseudonymised(f);
  rg_client_t *c = rg_test_connect(&f->srv);
  assert_int_equal(wal_stat(c, "replayed_records"), 1);
  assert_int_equal(mailed_of(c, "secretsender"), 2); /* found by its plaintext */
  rg_client_close(c);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_wal_read_on_the_same_connection_sees_its_ingest, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wal_sigkill_before_a_merge_loses_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wal_log_is_replayed_with_the_log_turned_off, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wal_other_writes_apply_after_the_ingests_before_them,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_ingests_wait_past_max_unmerged_edges,
                                      setup_small_log, teardown),
      cmocka_unit_test_setup_teardown(test_wal_clean_stop_merges_everything, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_merged_store_equals_the_direct_one, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wal_backup_holds_acknowledged_unmerged_ingests, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wal_failed_merge_does_not_hold_reads_for_ever,
                                      setup_full_map, teardown),
      cmocka_unit_test_setup_teardown(test_wal_log_holds_pseudonyms_in_a_pseudonymised_store,
                                      setup_pseudonymised, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
