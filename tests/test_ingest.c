/* test_ingest.c — ingest end to end, on the real repgraphd and a temporary store: 1,000
 * observations of which a handful carry a bad timestamp, address or IP, once as one request
 * and once through `repgraph ingest` (every good one stored, each bad one reported with its
 * index or line and reason); real-world addresses (null sender, case, IDN, VERP, HELO
 * literals, sub-addressing) becoming one actor each; invalid UTF-8 refused and echoed
 * escaped. */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { N_OBS = 1000 };

typedef rg_test_fixture_t fixture_t;

static int setup(void **state) {
  return rg_test_fixture_start(state, NULL);
}

static int teardown(void **state) {
  return rg_test_fixture_stop(state);
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
  len +=
      (size_t)snprintf(req + len, cap - len, "{\"id\": 1, \"op\": \"ingest\", \"observations\": [");
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
    if (!at || !strstr(at, BAD[k].reason))
      print_error("no '%s…%s' in:\n%s\n", want, BAD[k].reason, out);
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

/* ---- real-world addresses and names --------------------------------------------------- */

static void test_ingest_real_world_addresses_become_one_actor_each(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  char code[64];
  rg_test_call(
      c, &r,
      "{\"id\": 1, \"op\": \"ingest\", \"observations\": ["
      "{\"ts\": 1700000000, \"sender\": \"<>\", \"client_ip\": \"192.0.2.50\", "
      "\"helo\": \"[192.0.2.50]\", \"recipients\": [\"Victim@Example.org\"]},"
      "{\"ts\": 1700000001, \"sender\": \"Alice@Example.com\", \"client_ip\": "
      "\"192.0.2.51\", \"helo\": \"192.0.2.51\", \"recipients\": [\"b@y.example\"]},"
      "{\"ts\": 1700000002, \"sender\": \"alice@example.com\", \"client_ip\": "
      "\"192.0.2.51\", \"recipients\": [\"b@y.example\"]},"
      "{\"ts\": 1700000003, \"sender\": \"u@b\u00fccher.de\", \"client_ip\": "
      "\"192.0.2.52\", \"helo\": \"MX.B\u00dcCHER.de\", \"recipients\": []},"
      "{\"ts\": 1700000004, \"sender\": \"SRS0=HHH=TT=example.org=%s@fwd.example\", "
      "\"client_ip\": \"192.0.2.53\", \"recipients\": []}]}",
      "a-very-long-verp-local-part-that-is-longer-than-sixty-four-octets-as-real-ones-are");
  assert_string_equal(rg_test_code_of(&r, code), "(no error)");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 5);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r,
               "{\"id\": 2, \"op\": \"lookup\", \"actors\": [\"address:<>\", "
               "\"address:ALICE@example.COM\", \"address:u@xn--bcher-kva.de\", "
               "\"domain:192.0.2.51\", \"ip:192.0.2.50\", \"domain:mx.xn--bcher-kva.de\", "
               "\"address:victim@example.org\"]}");
  const msgpack_object *d = &r.data;
  /* the null sender: one actor, sent from its IP and mailing its victim, with no domain */
  assert_true(rg_test_get(d, "results.0.known")->via.boolean);
  assert_true(rg_test_str_is(d, "results.0.actor", "address:<>"));
  assert_int_equal(rg_test_uint(d, "results.0.out_degree.mailed"), 1);
  assert_int_equal(rg_test_uint(d, "results.0.out_degree.sent_from"), 1);
  assert_int_equal(rg_test_uint(d, "results.0.out_degree.uses_domain"), 0);
  /* Alice@ and alice@ are one actor with both messages */
  assert_true(rg_test_str_is(d, "results.1.actor", "address:alice@example.com"));
  assert_int_equal(rg_test_uint(d, "results.1.messages"), 2);
  /* the U-label domain is stored in its A-label form */
  assert_true(rg_test_get(d, "results.2.known")->via.boolean);
  /* a bare-IP HELO is no domain, and an address-literal HELO makes no helo edge */
  assert_false(rg_test_get(d, "results.3.known")->via.boolean);
  assert_int_equal(rg_test_uint(d, "results.4.out_degree.helo"), 0);
  assert_true(rg_test_get(d, "results.5.known")->via.boolean); /* an IDN HELO is a domain */
  assert_true(rg_test_get(d, "results.6.known")->via.boolean);
  msgpack_unpacked_destroy(&r);
  /* the null sender is never a seed */
  rg_test_call(c, &r,
               "{\"id\": 3, \"op\": \"label\", \"labels\": [{\"actor\": \"address:<>\", "
               "\"verdict\": \"bad\"}, {\"actor\": \"ip:192.0.2.50\", \"verdict\": \"bad\"}]}");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 1);
  assert_int_equal(rg_test_uint(&r.data, "rejected.0.index"), 0);
  assert_true(rg_test_str_is(&r.data, "rejected.0.code", "invalid_label"));
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
}

/* True when the string object is well-formed UTF-8 without NUL bytes. */
static bool strict_utf8(const msgpack_object *o) {
  const unsigned char *p = (const unsigned char *)o->via.str.ptr;
  size_t n = o->via.str.size;
  for (size_t i = 0; i < n;) {
    size_t k = p[i] == 0               ? 0
               : p[i] < 0x80           ? 1
               : (p[i] & 0xe0) == 0xc0 ? 2
               : (p[i] & 0xf0) == 0xe0 ? 3
               : (p[i] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (!k || i + k > n) return false;
    for (size_t j = 1; j < k; j++)
      if ((p[i + j] & 0xc0) != 0x80) return false;
    i += k;
  }
  return true;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n) {
  msgpack_pack_str_with_body(pk, s, n);
}

/* Sends a frame built with msgpack-c (bytes JSON cannot carry) and receives the reply. */
static void call_raw(rg_client_t *c, const msgpack_sbuffer *sb, const char *op,
                     msgpack_unpacked *r) {
  uint8_t hdr[4] = {(uint8_t)(sb->size >> 24), (uint8_t)(sb->size >> 16), (uint8_t)(sb->size >> 8),
                    (uint8_t)sb->size};
  assert_int_equal(rg_client_send(c, hdr, 4), 0);
  assert_int_equal(rg_client_send(c, sb->data, sb->size), 0);
  rg_test_recv(c, op, r);
}

static void test_ingest_invalid_utf8_refused_at_the_door_and_echoed_escaped(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  pack_str(&pk, "id", 2), msgpack_pack_uint64(&pk, 1);
  pack_str(&pk, "op", 2), pack_str(&pk, "ingest", 6);
  pack_str(&pk, "observations", 12);
  msgpack_pack_array(&pk, 2);
  for (int i = 0; i < 2; i++) {
    msgpack_pack_map(&pk, 3);
    pack_str(&pk, "sender", 6);
    if (i == 0)
      pack_str(&pk, "bad\xff@x.org", 10);
    else
      pack_str(&pk, "good@x.org", 10);
    pack_str(&pk, "client_ip", 9), pack_str(&pk, "192.0.2.1", 9);
    pack_str(&pk, "recipients", 10);
    msgpack_pack_array(&pk, 0);
  }
  msgpack_unpacked r;
  call_raw(c, &sb, "ingest", &r);
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 1);
  assert_true(rg_test_str_is(&r.data, "rejected.0.code", "invalid_actor"));
  const msgpack_object *m = rg_test_get(&r.data, "rejected.0.message");
  assert_true(strict_utf8(m));
  assert_non_null(memmem(m->via.str.ptr, m->via.str.size, "'bad\\xff@x.org'", 15));
  assert_non_null(memmem(m->via.str.ptr, m->via.str.size, "invalid UTF-8", 13));
  msgpack_unpacked_destroy(&r);

  /* an unknown op with a NUL and invalid UTF-8: the error names it escaped */
  msgpack_sbuffer_clear(&sb);
  msgpack_pack_map(&pk, 2);
  pack_str(&pk, "id", 2), msgpack_pack_uint64(&pk, 2);
  pack_str(&pk, "op", 2), pack_str(&pk, "ping\0x\xc3", 7);
  call_raw(c, &sb, "error_reply", &r);
  char code[64];
  assert_string_equal(rg_test_code_of(&r, code), "unknown_op");
  m = rg_test_get(&r.data, "error.message");
  assert_true(strict_utf8(m));
  assert_non_null(memmem(m->via.str.ptr, m->via.str.size, "'ping\\x00x\\xc3'", 15));
  msgpack_unpacked_destroy(&r);
  msgpack_sbuffer_destroy(&sb);
  rg_client_close(c);
}

static int setup_subaddress(void **state) {
  static const char *const extra[] = {"--set", "actor.subaddress_separators=+", "--set",
                                      "actor.fold_local_case=0", NULL};
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = rg_test_mkdtemp();
  rg_test_server_start(&f->srv, f->dir, extra);
  *state = f;
  return 0;
}

static void test_ingest_address_options_reach_the_server(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  rg_test_call(
      c, &r,
      "{\"id\": 1, \"op\": \"ingest\", \"observations\": ["
      "{\"sender\": \"Bob+news@x.org\", \"client_ip\": \"192.0.2.1\", \"recipients\": []},"
      "{\"sender\": \"Bob+shop@x.org\", \"client_ip\": \"192.0.2.1\", \"recipients\": []}]}");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 2);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r,
               "{\"id\": 2, \"op\": \"lookup\", \"actors\": [\"address:Bob@x.org\", "
               "\"address:bob@x.org\", \"address:Bob+other@x.org\"]}");
  assert_int_equal(rg_test_uint(&r.data, "results.0.messages"), 2);
  assert_false(rg_test_get(&r.data, "results.1.known")->via.boolean); /* case kept */
  assert_true(rg_test_str_is(&r.data, "results.2.actor", "address:Bob@x.org"));
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ingest_bad_items_rejected_alone_with_index_and_reason,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_ingest_cli_reports_bad_lines_and_keeps_the_rest, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ingest_real_world_addresses_become_one_actor_each, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_ingest_invalid_utf8_refused_at_the_door_and_echoed_escaped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ingest_address_options_reach_the_server,
                                      setup_subaddress, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
