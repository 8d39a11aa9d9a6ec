/* test_ingest.c — ingest that never loses good lines, end to end: the real repgraphd on a
 * temporary store, fed 1,000 observations of which a handful carry a bad timestamp, address
 * or IP, once as one request and once through `repgraph ingest`. Every good one must be
 * stored; each bad one reported with its index (line) and reason. */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { N_OBS = 1000 };

typedef struct {
  char *dir;
  rg_test_server_t srv;
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = rg_test_mkdtemp();
  rg_test_server_start(&f->srv, f->dir, NULL);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_test_teardown_server(&f->srv, f->dir);
  free(f);
  return 0;
}

/* The bad items: index, the JSON of the observation, the code and a part of the message. */
typedef struct {
  int index;
  const char *json; /* %d: the index, to make the sender unique */
  const char *code, *reason;
} bad_t;

static const bad_t BAD[] = {
    {17,
     "{\"ts\": -5, \"sender\": \"u%d@%s\", \"client_ip\": \"192.0.2.1\", \"recipients\": "
     "[\"r@y.example\"]}",
     "bad_request", "ts: expected a non-negative integer"},
    {123,
     "{\"ts\": \"yesterday\", \"sender\": \"u%d@%s\", \"client_ip\": \"192.0.2.1\", "
     "\"recipients\": [\"r@y.example\"]}",
     "bad_request", "ts: expected a non-negative integer"},
    {250,
     "{\"ts\": 1700000000.5, \"sender\": \"u%d@%s\", \"client_ip\": \"192.0.2.1\", "
     "\"recipients\": [\"r@y.example\"]}",
     "bad_request", "ts: expected a non-negative integer"},
    {404,
     "{\"ts\": 1700000000, \"sender\": \"u%d-no-at-sign.%s\", \"client_ip\": \"192.0.2.1\", "
     "\"recipients\": [\"r@y.example\"]}",
     "invalid_actor", "sender:"},
    {555,
     "{\"ts\": 1700000000, \"sender\": \"u%d@%s\", \"client_ip\": \"999.1.1.1\", "
     "\"recipients\": [\"r@y.example\"]}",
     "invalid_actor", "client_ip:"},
    {678,
     "{\"ts\": 1700000000, \"sender\": \"u%d@%s\", \"client_ip\": \"192.0.2.1\", "
     "\"recipients\": [\"not an address\"]}",
     "invalid_actor", "recipients[0]:"},
    {900,
     "{\"ts\": 1700000000, \"sender\": 42, \"x\": \"u%d@%s\", \"client_ip\": \"192.0.2.1\", "
     "\"recipients\": []}",
     "bad_request", "sender: expected a string"},
    {999,
     "{\"ts\": 4611686018427387904, \"sender\": \"u%d@%s\", \"client_ip\": \"192.0.2.1\", "
     "\"recipients\": [\"r@y.example\"]}",
     "bad_request", "ts: out of range"},
};
#define N_BAD (sizeof BAD / sizeof BAD[0])

static const bad_t *bad_at(int i) {
  for (size_t k = 0; k < N_BAD; k++)
    if (BAD[k].index == i) return &BAD[k];
  return NULL;
}

/* Observation i as one JSON object, senders under `domain`. */
static void observation(char *buf, size_t cap, int i, const char *domain) {
  const bad_t *b = bad_at(i);
  if (b) {
    snprintf(buf, cap, b->json, i, domain);
    return;
  }
  snprintf(buf, cap,
           "{\"ts\": %d, \"sender\": \"u%d@%s\", \"client_ip\": \"10.%d.%d.1\", "
           "\"recipients\": [\"r%d@y.example\"]}",
           1700000000 + i, i, domain, i / 250, i % 250, i % 17);
}

/* Asserts that the senders of every good observation under `domain` are stored with one
 * message each, and that none of the bad ones' senders is. */
static void assert_good_ones_stored(rg_client_t *c, const char *domain) {
  size_t cap = (size_t)N_OBS * 64 + 64, len = 0;
  char *req = malloc(cap);
  len += (size_t)snprintf(req + len, cap - len, "{\"id\": 9, \"op\": \"lookup\", \"actors\": [");
  for (int i = 0; i < N_OBS; i++)
    len += (size_t)snprintf(req + len, cap - len, "%s\"address:u%d@%s\"", i ? ", " : "", i, domain);
  snprintf(req + len, cap - len, "]}");
  msgpack_unpacked r;
  rg_test_call(c, &r, "%s", req);
  free(req);
  for (int i = 0; i < N_OBS; i++) {
    char path[64];
    snprintf(path, sizeof path, "results.%d.known", i);
    bool known = rg_test_get(&r.data, path)->via.boolean;
    if (known == (bad_at(i) != NULL)) print_error("observation %d: known = %d\n", i, known);
    assert_int_equal(known, bad_at(i) == NULL);
    if (!known) continue;
    snprintf(path, sizeof path, "results.%d.messages", i);
    assert_int_equal(rg_test_uint(&r.data, path), 1);
    snprintf(path, sizeof path, "results.%d.first_seen", i);
    assert_int_equal(rg_test_uint(&r.data, path), 1700000000 + i);
  }
  msgpack_unpacked_destroy(&r);
}

static void test_ingest_bad_items_rejected_alone_with_index_and_reason(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  size_t cap = (size_t)N_OBS * 256, len = 0;
  char *req = malloc(cap), obs[256];
  len += (size_t)snprintf(req + len, cap - len,
                          "{\"id\": 1, \"op\": \"ingest\", \"observations\": [");
  for (int i = 0; i < N_OBS; i++) {
    observation(obs, sizeof obs, i, "one.example");
    len += (size_t)snprintf(req + len, cap - len, "%s%s", i ? ", " : "", obs);
  }
  snprintf(req + len, cap - len, "]}");
  msgpack_unpacked r;
  char code[64];
  rg_test_call(c, &r, "%s", req);
  free(req);
  assert_string_equal(rg_test_code_of(&r, code), "(no error)");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), N_OBS - N_BAD);
  assert_int_equal(rg_test_uint(&r.data, "rejected_count"), N_BAD);
  for (size_t k = 0; k < N_BAD; k++) { /* in item order, each with its index and reason */
    char path[64];
    snprintf(path, sizeof path, "rejected.%zu.index", k);
    assert_int_equal(rg_test_uint(&r.data, path), BAD[k].index);
    snprintf(path, sizeof path, "rejected.%zu.item", k);
    assert_true(rg_test_str_is(&r.data, path, "observations"));
    snprintf(path, sizeof path, "rejected.%zu.code", k);
    if (!rg_test_str_is(&r.data, path, BAD[k].code)) print_error("item %d\n", BAD[k].index);
    assert_true(rg_test_str_is(&r.data, path, BAD[k].code));
    snprintf(path, sizeof path, "rejected.%zu.message", k);
    const msgpack_object *m = rg_test_get(&r.data, path);
    if (!memmem(m->via.str.ptr, m->via.str.size, BAD[k].reason, strlen(BAD[k].reason)))
      print_error("item %d: '%.*s' lacks '%s'\n", BAD[k].index, (int)m->via.str.size,
                  m->via.str.ptr, BAD[k].reason);
    assert_non_null(memmem(m->via.str.ptr, m->via.str.size, BAD[k].reason, strlen(BAD[k].reason)));
  }
  msgpack_unpacked_destroy(&r);
  assert_good_ones_stored(c, "one.example");
  rg_client_close(c);
}

static void test_ingest_cli_reports_bad_lines_and_keeps_the_rest(void **state) {
  fixture_t *f = *state;
  char path[600], cmd[1400], obs[256];
  snprintf(path, sizeof path, "%s/mixed.ndjson", f->dir);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  for (int i = 0; i < N_OBS; i++) {
    observation(obs, sizeof obs, i, "two.example");
    fprintf(fp, "%s\n", obs);
  }
  fclose(fp);
  /* small batches: the bad lines fall into several batches, each must still be named */
  snprintf(cmd, sizeof cmd, "%s/repgraph -p %u ingest --batch 64 %s 2>&1", RG_BINARY_DIR,
           f->srv.port, path);
  char *out;
  int rc = rg_test_run(cmd, &out);
  if (rc != 1) print_error("exit %d, output:\n%s\n", rc, out);
  assert_int_equal(rc, 1); /* rejected input */
  for (size_t k = 0; k < N_BAD; k++) {
    char want[700];
    snprintf(want, sizeof want, "%s:%d: rejected: %s: ", path, BAD[k].index + 1, BAD[k].code);
    const char *at = strstr(out, want);
    if (!at || !strstr(at, BAD[k].reason)) print_error("no '%s…%s' in:\n%s\n", want, BAD[k].reason, out);
    assert_non_null(at);
    assert_non_null(strstr(at, BAD[k].reason));
  }
  assert_null(strstr(out, "batch of"));
  char summary[128];
  snprintf(summary, sizeof summary, "ingested %d of %d lines (%d rejected)", N_OBS - (int)N_BAD,
           N_OBS, (int)N_BAD);
  assert_non_null(strstr(out, summary));
  free(out);
  rg_client_t *c = rg_test_connect(&f->srv);
  assert_good_ones_stored(c, "two.example");
  rg_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ingest_bad_items_rejected_alone_with_index_and_reason,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_ingest_cli_reports_bad_lines_and_keeps_the_rest, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
