/* test_proto_items.c — per-item problems in batches: a bad field of one edge, observation or
 * label marks that item (code + message naming the field) and the rest decodes; label weight
 * bounds; client bytes quoted in messages stay valid UTF-8. */
#include "proto_mp.h"

static void ingest_with_second_edge(mp_t *m, uint64_t id, void (*second)(mp_t *)) {
  req_begin(m, id, "ingest", 1);
  ps(m, "edges");
  parr(m, 2);
  pmap(m, 3);
  kv_s(m, "src", "address:a@x.org");
  kv_s(m, "dst", "address:b@x.org");
  kv_s(m, "kind", "mailed");
  second(m);
}

static void edge_src_int(mp_t *m) {
  pmap(m, 3);
  kv_u(m, "src", 17);
  kv_s(m, "dst", "d");
  kv_s(m, "kind", "mailed");
}
static void edge_no_kind(mp_t *m) {
  pmap(m, 2);
  kv_s(m, "src", "s");
  kv_s(m, "dst", "d");
}
static void edge_negative_weight(mp_t *m) {
  pmap(m, 4);
  kv_s(m, "src", "s");
  kv_s(m, "dst", "d");
  kv_s(m, "kind", "mailed");
  ps(m, "weight"), pd(m, -0.5);
}
static void edge_string_weight(mp_t *m) {
  pmap(m, 4);
  kv_s(m, "src", "s");
  kv_s(m, "dst", "d");
  kv_s(m, "kind", "mailed");
  kv_s(m, "weight", "1");
}
static void edge_zero_count(mp_t *m) {
  pmap(m, 4);
  kv_s(m, "src", "s");
  kv_s(m, "dst", "d");
  kv_s(m, "kind", "mailed");
  kv_u(m, "count", 0);
}
static void edge_float_ts(mp_t *m) {
  pmap(m, 4);
  kv_s(m, "src", "s");
  kv_s(m, "dst", "d");
  kv_s(m, "kind", "mailed");
  ps(m, "ts"), pd(m, 1.5);
}
static void edge_huge_ts(mp_t *m) {
  pmap(m, 4);
  kv_s(m, "src", "s");
  kv_s(m, "dst", "d");
  kv_s(m, "kind", "mailed");
  kv_u(m, "ts", UINT64_C(1) << 62);
}
static void edge_long_src(mp_t *m) {
  char s[302];
  memset(s, 'a', sizeof s - 1);
  s[sizeof s - 1] = '\0';
  pmap(m, 3);
  kv_s(m, "src", s);
  kv_s(m, "dst", "d");
  kv_s(m, "kind", "mailed");
}
static void edge_not_a_map(mp_t *m) {
  ps(m, "address:a@x.org");
}

/* A mistyped or out-of-range field marks its edge (the message names the field) while the
 * good edge before it decodes, and the request as a whole succeeds with its id. */
static void test_proto_mistyped_edge_fields_mark_that_edge_only(void **state) {
  (void)state;
  static const struct {
    void (*second)(mp_t *);
    const char *want;
  } cases[] = {
      {edge_src_int, "src: expected a string"},
      {edge_no_kind, "kind: missing"},
      {edge_negative_weight, "weight"},
      {edge_string_weight, "weight: expected a number"},
      {edge_zero_count, "count"},
      {edge_float_ts, "ts"},
      {edge_huge_ts, "ts: out of range"},
      {edge_long_src, "src: longer than"},
      {edge_not_a_map, "edges[1]: expected a map"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mp_t m;
    ingest_with_second_edge(&m, 500 + i, cases[i].second);
    rg_request_t req;
    char err[ERRLEN] = "";
    int rc = decode(&m, &LIM, &req, err);
    const char *why = rc == RG_OK && req.n_edges == 2 ? req.edges[1].why : NULL;
    if (rc != RG_OK || !why || !strstr(why, cases[i].want))
      print_error("case %zu: %s '%s' '%s', want '%s'\n", i, rg_err_name(rc), err, why ? why : "",
                  cases[i].want);
    assert_int_equal(rc, RG_OK);
    assert_int_equal(req.edges[1].invalid, RG_EBAD_REQUEST);
    assert_non_null(why);
    assert_non_null(strstr(why, cases[i].want));
    assert_int_equal(req.edges[0].invalid, 0); /* the good edge is intact */
    assert_null(req.edges[0].why);
    assert_str(req.edges[0].src, "address:a@x.org");
    assert_true(req.has_id);
    assert_int_equal(req.id, 500 + i);
    rg_request_free(&req);
    mp_free(&m);
  }
}

static void test_proto_mistyped_observation_fields_mark_that_observation(void **state) {
  (void)state;
  mp_t m;
  /* A recipient that is not a string. */
  req_begin(&m, 1, "ingest", 1);
  ps(&m, "observations");
  parr(&m, 1);
  pmap(&m, 3);
  kv_s(&m, "sender", "a@x.org");
  kv_s(&m, "client_ip", "192.0.2.1");
  ps(&m, "recipients");
  parr(&m, 2);
  ps(&m, "b@x.org");
  pu(&m, 5);
  expect_item_error(&m, 'o', 0, RG_EBAD_REQUEST, "recipients[1]: expected a string");

  /* A missing sender in the second observation. */
  req_begin(&m, 1, "ingest", 1);
  ps(&m, "observations");
  parr(&m, 2);
  pmap(&m, 2);
  kv_s(&m, "sender", "a@x.org");
  kv_s(&m, "client_ip", "192.0.2.1");
  pmap(&m, 1);
  kv_s(&m, "client_ip", "192.0.2.1");
  expect_item_error(&m, 'o', 1, RG_EBAD_REQUEST, "sender: missing");

  /* A helo that is not a string. */
  req_begin(&m, 1, "ingest", 1);
  ps(&m, "observations");
  parr(&m, 1);
  pmap(&m, 3);
  kv_s(&m, "sender", "a@x.org");
  kv_s(&m, "client_ip", "192.0.2.1");
  kv_u(&m, "helo", 1);
  expect_item_error(&m, 'o', 0, RG_EBAD_REQUEST, "helo: expected a string");

  /* Recipients that are not an array. */
  req_begin(&m, 1, "ingest", 1);
  ps(&m, "observations");
  parr(&m, 1);
  pmap(&m, 3);
  kv_s(&m, "sender", "a@x.org");
  kv_s(&m, "client_ip", "192.0.2.1");
  kv_s(&m, "recipients", "b@x.org");
  expect_item_error(&m, 'o', 0, RG_EBAD_REQUEST, "recipients: expected an array");
}

static void test_proto_mistyped_label_fields_mark_the_label_actor_fields_the_request(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 1, "label", 1);
  ps(&m, "labels");
  parr(&m, 1);
  pmap(&m, 2);
  kv_s(&m, "actor", "address:a@x.org");
  kv_u(&m, "verdict", 1);
  expect_item_error(&m, 'l', 0, RG_EBAD_REQUEST, "verdict: expected a string");

  req_begin(&m, 1, "label", 1);
  ps(&m, "labels");
  parr(&m, 1);
  pmap(&m, 3);
  kv_s(&m, "actor", "address:a@x.org");
  kv_s(&m, "verdict", "bad");
  ps(&m, "weight"), pd(&m, 2e9);
  expect_item_error(&m, 'l', 0, RG_EINVALID_LABEL, "weight: 2e+09 is not in (0, 10]");

  req_begin(&m, 1, "lookup", 1);
  ps(&m, "actors");
  parr(&m, 3);
  ps(&m, "address:a@x.org");
  ps(&m, "ip:192.0.2.1");
  pu(&m, 3);
  expect_error(&m, RG_EBAD_REQUEST, "actors[2]");

  req_begin(&m, 1, "lookup", 1);
  kv_s(&m, "actors", "address:a@x.org");
  expect_error(&m, RG_EBAD_REQUEST, "actors: expected an array");

  req_begin(&m, 1, "ingest", 1);
  ps(&m, "edges");
  pmap(&m, 0);
  expect_error(&m, RG_EBAD_REQUEST, "edges: expected an array");
}

/* A request of op with n edges and k actors (each edge and actor one batch item). */

static void observation_with_recipients(mp_t *m, uint32_t n) {
  req_begin(m, 78, "ingest", 1);
  ps(m, "observations");
  parr(m, 1);
  pmap(m, 3);
  kv_s(m, "sender", "a@x.org");
  kv_s(m, "client_ip", "192.0.2.1");
  ps(m, "recipients");
  parr(m, n);
  for (uint32_t i = 0; i < n; i++) {
    char r[32];
    snprintf(r, sizeof r, "r%u@y.org", i);
    ps(m, r);
  }
}

static void test_proto_too_many_recipients_mark_that_observation(void **state) {
  (void)state;
  rg_proto_limits_t lim = LIM;
  lim.max_recipients = 4;
  mp_t m;
  rg_request_t req;
  char err[ERRLEN] = "";
  observation_with_recipients(&m, 4);
  assert_int_equal(decode(&m, &lim, &req, err), RG_OK);
  assert_int_equal(req.observations[0].n_recipients, 4);
  assert_str(req.observations[0].recipients[3], "r3@y.org");
  rg_request_free(&req);
  mp_free(&m);

  observation_with_recipients(&m, 5);
  assert_int_equal(decode(&m, &lim, &req, err), RG_OK);
  assert_int_equal(req.id, 78);
  assert_int_equal(req.observations[0].invalid, RG_ETOO_LARGE);
  assert_non_null(strstr(req.observations[0].why, "recipients: 5 recipients, the limit is 4"));
  rg_request_free(&req);
  mp_free(&m);
}

static void label_with_note(mp_t *m, size_t n) {
  char *note = malloc(n + 1);
  memset(note, 'n', n);
  note[n] = '\0';
  req_begin(m, 3, "label", 1);
  ps(m, "labels");
  parr(m, 1);
  pmap(m, 3);
  kv_s(m, "actor", "ip:192.0.2.1");
  kv_s(m, "verdict", "bad");
  kv_s(m, "note", note);
  free(note);
}

static void test_proto_string_limit_is_configurable(void **state) {
  (void)state;
  rg_proto_limits_t lim = LIM;
  mp_t m;
  rg_request_t req;
  char err[ERRLEN] = "";
  label_with_note(&m, RG_PROTO_STRING_DEFAULT); /* the default limit when 0 */
  assert_int_equal(decode(&m, &lim, &req, err), RG_OK);
  rg_request_free(&req);
  mp_free(&m);
  label_with_note(&m, RG_PROTO_STRING_DEFAULT + 1);
  expect_item_error_lim(&m, &lim, 'l', 0, RG_EBAD_REQUEST, "note: longer than 1024 bytes");
  lim.max_string_bytes = 100;
  label_with_note(&m, 101);
  expect_item_error_lim(&m, &lim, 'l', 0, RG_EBAD_REQUEST, "note: longer than 100 bytes");
  req_begin(&m, 4, "auth", 1);
  ps(&m, "token");
  char token[102];
  memset(token, 't', 101);
  token[101] = '\0';
  ps(&m, token);
  expect_error_lim(&m, &lim, RG_EBAD_REQUEST, "request.token: longer than 100 bytes");
  /* Actors keep their own, smaller cap whatever the configured one. */
  lim.max_string_bytes = 1u << 20;
  req_begin(&m, 5, "lookup", 1);
  ps(&m, "actors");
  parr(&m, 1);
  char actor[400];
  memset(actor, 'a', sizeof actor - 1);
  actor[sizeof actor - 1] = '\0';
  ps(&m, actor);
  expect_error_lim(&m, &lim, RG_EBAD_REQUEST, "actors[0]");
}

/* A label weight must lie in (0, RG_LABEL_WEIGHT_MAX]: outside, that label alone is refused
 * with its index and the range; the labels around it decode. */
static void test_proto_label_weight_outside_its_range_marks_that_label(void **state) {
  (void)state;
  static const struct {
    double weight;
    int code; /* 0 = accepted */
  } cases[] = {
      {0.5, 0},
      {RG_LABEL_WEIGHT_MAX, 0},
      {1e-6, 0},
      {0, RG_EINVALID_LABEL},
      {10.000001, RG_EINVALID_LABEL},
      {1e9, RG_EINVALID_LABEL},
      {-1, RG_EBAD_REQUEST},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mp_t m;
    req_begin(&m, 1, "label", 1);
    ps(&m, "labels");
    parr(&m, 3);
    for (int j = 0; j < 3; j++) {
      pmap(&m, 3);
      kv_s(&m, "actor", "ip:192.0.2.1");
      kv_s(&m, "verdict", "bad");
      ps(&m, "weight"), pd(&m, j == 1 ? cases[i].weight : 1.0);
    }
    if (cases[i].code) {
      expect_item_error(&m, 'l', 1, cases[i].code, "weight");
      continue;
    }
    rg_request_t req;
    char err[ERRLEN] = "";
    assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
    for (int j = 0; j < 3; j++) assert_int_equal(req.labels[j].invalid, 0);
    assert_float_equal(req.labels[1].weight, cases[i].weight, 0);
    rg_request_free(&req);
    mp_free(&m);
  }
  /* label_cluster's one label is the request: out of range refuses it whole. */
  mp_t m;
  req_begin(&m, 1, "label_cluster", 4);
  kv_u(&m, "generation", 1);
  kv_u(&m, "cluster", 2);
  kv_s(&m, "verdict", "bad");
  ps(&m, "weight"), pd(&m, 11);
  expect_error(&m, RG_EINVALID_LABEL, "request.weight: 11 is not in (0, 10]");
}

/* Many bad items in one batch: each is marked with its own message, none is lost, and the
 * good ones between them decode. */
static void test_proto_every_bad_item_of_a_batch_is_marked_alone(void **state) {
  (void)state;
  enum { N = 90 }; /* LIM allows 100 items */
  mp_t m;
  req_begin(&m, 7, "ingest", 1);
  ps(&m, "observations");
  parr(&m, N);
  for (int i = 0; i < N; i++) {
    pmap(&m, 4);
    if (i % 7 == 3)
      ps(&m, "ts"), pi(&m, -5); /* negative */
    else if (i % 7 == 5)
      ps(&m, "ts"), pd(&m, 1.7e9); /* not an integer */
    else
      kv_u(&m, "ts", 1700000000 + (uint64_t)i);
    kv_s(&m, "sender", "a@x.org");
    kv_s(&m, "client_ip", "192.0.2.1");
    ps(&m, "recipients");
    parr(&m, 1);
    ps(&m, "b@x.org");
  }
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_int_equal(req.n_observations, N);
  for (int i = 0; i < N; i++) {
    const rg_wire_observation_t *o = &req.observations[i];
    if (i % 7 == 3 || i % 7 == 5) {
      assert_int_equal(o->invalid, RG_EBAD_REQUEST);
      assert_string_equal(o->why, "ts: expected a non-negative integer");
    } else {
      assert_int_equal(o->invalid, 0);
      assert_int_equal(o->ts, 1700000000 + i);
      assert_int_equal(o->n_recipients, 1);
      assert_str(o->recipients[0], "b@x.org");
    }
  }
  rg_request_free(&req);
  mp_free(&m);
}

/* The one message of a check is the request: a bad field refuses it whole. */
static void test_proto_bad_check_field_refuses_the_request(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 1, "check", 3);
  kv_s(&m, "sender", "a@x.org");
  kv_s(&m, "client_ip", "192.0.2.1");
  ps(&m, "ts"), pi(&m, -1);
  expect_error(&m, RG_EBAD_REQUEST, "request.ts: expected a non-negative integer");
}

/* ---- client bytes quoted in messages ----------------------------------------------- */

/* True when s[0..n) is well-formed UTF-8 without NUL bytes (what a strict client needs). */
static int strict_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; p[i];) {
    size_t k = p[i] < 0x80             ? 1
               : (p[i] & 0xe0) == 0xc0 ? 2
               : (p[i] & 0xf0) == 0xe0 ? 3
               : (p[i] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (!k) return 0;
    for (size_t j = 1; j < k; j++)
      if ((p[i + j] & 0xc0) != 0x80) return 0;
    i += k;
  }
  return 1;
}

static void unknown_op_says(const char *op, size_t op_len, const char *want) {
  mp_t m;
  mp_init(&m);
  pmap(&m, 2);
  kv_u(&m, "id", 5);
  ps(&m, "op");
  msgpack_pack_str_with_body(&m.pk, op, op_len);
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_EUNKNOWN_OP);
  if (!strstr(err, want)) print_error("message '%s' lacks '%s'\n", err, want);
  assert_non_null(strstr(err, want));
  assert_true(strict_utf8(err));
  /* and the error frame built from it is a str msgpack can read back */
  rg_buf_t out;
  rg_buf_init(&out, 0);
  assert_int_equal(rg_proto_write_error(&out, true, 5, RG_EUNKNOWN_OP, err), RG_OK);
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&up, (const char *)out.data + RG_FRAME_HEADER,
                                       out.len - RG_FRAME_HEADER, &off),
                   MSGPACK_UNPACK_SUCCESS);
  msgpack_unpacked_destroy(&up);
  rg_buf_free(&out);
  rg_request_free(&req);
  mp_free(&m);
}

/* An op with an embedded NUL is not reported as the op before the NUL, and invalid UTF-8 in
 * an unknown op is hexed so the reply stays valid UTF-8. */
static void test_proto_unknown_op_message_escapes_nul_and_invalid_utf8(void **state) {
  (void)state;
  unknown_op_says("ping\0x", 6, "unknown op 'ping\\x00x'");
  unknown_op_says("\xff\xfeop", 4, "unknown op '\\xff\\xfeop'");
  unknown_op_says("p\xc3\xa9ng", 5, "unknown op 'p\xc3\xa9ng'"); /* valid UTF-8 is kept */
  unknown_op_says("a\\b", 3, "unknown op 'a\\\\b'");             /* a backslash is doubled */
  unknown_op_says("\xed\xa0\x80", 3, "'\\xed\\xa0\\x80'");       /* a surrogate is not UTF-8 */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_proto_mistyped_edge_fields_mark_that_edge_only),
      cmocka_unit_test(test_proto_mistyped_observation_fields_mark_that_observation),
      cmocka_unit_test(test_proto_mistyped_label_fields_mark_the_label_actor_fields_the_request),
      cmocka_unit_test(test_proto_too_many_recipients_mark_that_observation),
      cmocka_unit_test(test_proto_string_limit_is_configurable),
      cmocka_unit_test(test_proto_label_weight_outside_its_range_marks_that_label),
      cmocka_unit_test(test_proto_every_bad_item_of_a_batch_is_marked_alone),
      cmocka_unit_test(test_proto_bad_check_field_refuses_the_request),
      cmocka_unit_test(test_proto_unknown_op_message_escapes_nul_and_invalid_utf8),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
