/* test_proto_decode.c — request decoding of proto.c: each op's fields, and the requests
 * refused as a whole (unknown or mistyped op and id, frames that are not one map, truncation,
 * batch and nesting limits). Requests are built with msgpack-c's packer (proto_mp.h). */
#include "proto_mp.h"
#include "repgraph/actor.h" /* RG_ACTOR_WIRE_MAX */

/* ---- decoding each op ------------------------------------------------------------ */

static void test_proto_decodes_ping_and_echoes_id(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 7, "ping", 0);
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_int_equal(req.op, RG_OP_PING);
  assert_true(req.has_id);
  assert_int_equal(req.id, 7);
  assert_int_equal(req.n_edges, 0);
  assert_int_equal(req.n_observations, 0);
  assert_int_equal(req.n_labels, 0);
  assert_int_equal(req.n_actors, 0);
  assert_null(req.edges);
  assert_null(req.actors);
  rg_request_free(&req);
  mp_free(&m);
}

static void test_proto_decodes_request_without_id(void **state) {
  (void)state;
  mp_t m;
  mp_init(&m);
  pmap(&m, 1);
  kv_s(&m, "op", "stats");
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_int_equal(req.op, RG_OP_STATS);
  assert_false(req.has_id);
  rg_request_free(&req);
  mp_free(&m);

  /* A nil id is the same as none; the largest id is echoed exactly. */
  mp_init(&m);
  pmap(&m, 2);
  ps(&m, "id"), pnil(&m);
  kv_s(&m, "op", "ping");
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_false(req.has_id);
  rg_request_free(&req);
  mp_free(&m);

  req_begin(&m, UINT64_MAX, "ping", 0);
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_true(req.has_id);
  assert_true(req.id == UINT64_MAX);
  rg_request_free(&req);
  mp_free(&m);
}

static void test_proto_decodes_stats(void **state) {
  (void)state;
  mp_t m;
  mp_init(&m);
  pmap(&m, 2);
  kv_s(&m, "op", "stats"); /* key order does not matter */
  kv_u(&m, "id", 12345);
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_int_equal(req.op, RG_OP_STATS);
  assert_true(req.has_id);
  assert_int_equal(req.id, 12345);
  rg_request_free(&req);
  mp_free(&m);
}

static void test_proto_decodes_ingest_edges_and_observations(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 1, "ingest", 2);
  ps(&m, "edges");
  parr(&m, 2);
  pmap(&m, 6);
  kv_s(&m, "src", "address:a@x.org");
  kv_s(&m, "dst", "address:b@y.org");
  kv_s(&m, "kind", "mailed");
  kv_u(&m, "ts", 1700000000);
  ps(&m, "weight"), pd(&m, 0.5);
  kv_u(&m, "count", 3);
  pmap(&m, 4);
  kv_s(&m, "src", "ip:192.0.2.1");
  kv_s(&m, "dst", "net:192.0.2.0/24");
  kv_s(&m, "kind", "in_net");
  ps(&m, "weight"), pu(&m, 2); /* an integer weight is a number too */
  ps(&m, "observations");
  parr(&m, 2);
  pmap(&m, 5);
  kv_u(&m, "ts", 1700000100);
  kv_s(&m, "sender", "a@x.org");
  kv_s(&m, "client_ip", "192.0.2.1");
  kv_s(&m, "helo", "mx.x.org");
  ps(&m, "recipients");
  parr(&m, 2);
  ps(&m, "b@y.org");
  ps(&m, "c@z.org");
  pmap(&m, 3);
  kv_s(&m, "sender", "d@x.org");
  kv_s(&m, "client_ip", "2001:db8::1");
  ps(&m, "helo"), pnil(&m);

  rg_request_t req;
  char err[ERRLEN] = "";
  int rc = decode(&m, &LIM, &req, err);
  if (rc) print_error("%s\n", err);
  assert_int_equal(rc, RG_OK);
  assert_int_equal(req.op, RG_OP_INGEST);
  assert_int_equal(req.id, 1);
  assert_int_equal(req.n_edges, 2);
  assert_str(req.edges[0].src, "address:a@x.org");
  assert_str(req.edges[0].dst, "address:b@y.org");
  assert_str(req.edges[0].kind, "mailed");
  assert_int_equal(req.edges[0].ts, 1700000000);
  assert_float_equal(req.edges[0].weight, 0.5, 0);
  assert_int_equal(req.edges[0].count, 3);
  assert_str(req.edges[1].src, "ip:192.0.2.1");
  assert_str(req.edges[1].dst, "net:192.0.2.0/24");
  assert_str(req.edges[1].kind, "in_net");
  assert_int_equal(req.edges[1].ts, 0); /* not given */
  assert_float_equal(req.edges[1].weight, 2.0, 0);
  assert_int_equal(req.edges[1].count, 1); /* default */

  assert_int_equal(req.n_observations, 2);
  const rg_wire_observation_t *o = &req.observations[0];
  assert_int_equal(o->ts, 1700000100);
  assert_str(o->sender, "a@x.org");
  assert_str(o->client_ip, "192.0.2.1");
  assert_str(o->helo, "mx.x.org");
  assert_int_equal(o->n_recipients, 2);
  assert_str(o->recipients[0], "b@y.org");
  assert_str(o->recipients[1], "c@z.org");
  o = &req.observations[1];
  assert_int_equal(o->ts, 0);
  assert_str(o->sender, "d@x.org");
  assert_str(o->client_ip, "2001:db8::1");
  assert_int_equal(o->helo.len, 0);
  assert_int_equal(o->n_recipients, 0);

  /* Strings are borrowed from the frame. */
  const char *lo = m.sb.data, *hi = m.sb.data + m.sb.size;
  assert_true(req.edges[0].src.ptr >= lo && req.edges[0].src.ptr < hi);
  assert_true(req.observations[0].recipients[1].ptr >= lo &&
              req.observations[0].recipients[1].ptr < hi);
  rg_request_free(&req);
  assert_null(req.edges);
  assert_null(req.mem);
  mp_free(&m);
}

static void test_proto_decodes_edge_weight_float32_and_defaults(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 2, "ingest", 1);
  ps(&m, "edges");
  parr(&m, 1);
  pmap(&m, 5);
  kv_s(&m, "src", "s");
  kv_s(&m, "dst", "d");
  kv_s(&m, "kind", "k");
  ps(&m, "weight"), msgpack_pack_float(&m.pk, 0.25f);
  ps(&m, "count"), pnil(&m);
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_float_equal(req.edges[0].weight, 0.25, 0);
  assert_int_equal(req.edges[0].count, 1);
  rg_request_free(&req);
  mp_free(&m);
}

static void test_proto_decodes_lookup(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 3, "lookup", 1);
  ps(&m, "actors");
  parr(&m, 3);
  ps(&m, "address:a@x.org");
  ps(&m, "ip:192.0.2.1");
  ps(&m, "domain:x.org");
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_int_equal(req.op, RG_OP_LOOKUP);
  assert_int_equal(req.id, 3);
  assert_int_equal(req.n_actors, 3);
  assert_str(req.actors[0], "address:a@x.org");
  assert_str(req.actors[1], "ip:192.0.2.1");
  assert_str(req.actors[2], "domain:x.org");
  assert_int_equal(req.n_edges + req.n_observations + req.n_labels, 0);
  rg_request_free(&req);
  mp_free(&m);
}

/* Decodes raw bytes that must be a lookup with these actors (NULL-terminated) and id (-1:
 * none). */
static void expect_lookup(const void *bytes, size_t n, int64_t id, const char *const *actors) {
  rg_request_t req;
  char err[ERRLEN] = "";
  int rc = decode_bytes(bytes, n, &req, err);
  if (rc) print_error("got %s (%s)\n", rg_err_name(rc), err);
  assert_int_equal(rc, RG_OK);
  assert_int_equal(req.op, RG_OP_LOOKUP);
  assert_int_equal(req.has_id, id >= 0);
  if (id >= 0) assert_int_equal(req.id, (uint64_t)id);
  uint32_t k = 0;
  while (actors[k]) k++;
  assert_int_equal(req.n_actors, k);
  for (uint32_t i = 0; i < k; i++) assert_str(req.actors[i], actors[i]);
  assert_true(req.min_suspicion < 0 && req.min_reputation < 0 && req.label.weight < 0);
  rg_request_free(&req);
}

/* The common lookup is decoded straight from its bytes; every other spelling of a lookup
 * (keys in another order, other integer and string encodings, extra or repeated keys) and
 * every wrong one gives what the general decoder gives. */
static void test_proto_decodes_lookup_in_every_spelling(void **state) {
  (void)state;
  static const char *const one[] = {"ip:192.0.2.1", NULL}, *const none[] = {NULL};
  /* {"actors": ["ip:192.0.2.1"], "op": "lookup", "id": 5}: any order */
  static const uint8_t reordered[] = "\x83\xa6" "actors" "\x91\xac" "ip:192.0.2.1"
                                     "\xa2op\xa6lookup\xa2id\x05";
  expect_lookup(reordered, sizeof reordered - 1, 5, one);
  /* id as uint16, uint64, nil, and as a positive int8 (msgpack-c reads it as positive) */
  static const uint8_t id16[] = "\x83\xa2id\xcd\x01\x00\xa2op\xa6lookup\xa6" "actors" "\x90";
  expect_lookup(id16, sizeof id16 - 1, 256, none);
  static const uint8_t id64[] = "\x83\xa2id\xcf\x7f\xff\xff\xff\xff\xff\xff\xff"
                                "\xa2op\xa6lookup\xa6" "actors" "\x90";
  expect_lookup(id64, sizeof id64 - 1, INT64_MAX, none);
  static const uint8_t idnil[] = "\x83\xa2id\xc0\xa2op\xa6lookup\xa6" "actors" "\x90";
  expect_lookup(idnil, sizeof idnil - 1, -1, none);
  static const uint8_t id8[] = "\x83\xa2id\xd0\x07\xa2op\xa6lookup\xa6" "actors" "\x90";
  expect_lookup(id8, sizeof id8 - 1, 7, none);
  /* op and actors as str8 / str16, actors in an array16 */
  static const uint8_t wide[] = "\x83\xa2id\x01\xa2op\xd9\x06lookup\xa6" "actors"
                                "\xdc\x00\x01\xda\x00\x0c" "ip:192.0.2.1";
  expect_lookup(wide, sizeof wide - 1, 1, one);
  /* an extra key, and a repeated one (the first counts) */
  static const uint8_t extra[] = "\x84\xa2id\x01\xa2op\xa6lookup\xa6" "actors" "\x91\xac"
                                 "ip:192.0.2.1\xa5" "extra\xc3";
  expect_lookup(extra, sizeof extra - 1, 1, one);
  static const uint8_t twice[] = "\x84\xa2id\x01\xa2op\xa6lookup\xa6" "actors" "\x91\xac"
                                 "ip:192.0.2.1\xa6" "actors" "\x90";
  expect_lookup(twice, sizeof twice - 1, 1, one);
  /* no actors at all: an empty lookup */
  static const uint8_t bare[] = "\x82\xa2id\x01\xa2op\xa6lookup";
  expect_lookup(bare, sizeof bare - 1, 1, none);

  /* wrong ones */
  rg_request_t req;
  char err[ERRLEN] = "";
  static const uint8_t not_str[] = "\x83\xa2id\x01\xa2op\xa6lookup\xa6" "actors" "\x91\x07";
  assert_int_equal(decode_bytes(not_str, sizeof not_str - 1, &req, err), RG_EBAD_REQUEST);
  assert_non_null(strstr(err, "actors[0]"));
  rg_request_free(&req);
  static const uint8_t negative[] = "\x83\xa2id\xff\xa2op\xa6lookup\xa6" "actors" "\x90";
  assert_int_equal(decode_bytes(negative, sizeof negative - 1, &req, err), RG_EBAD_REQUEST);
  rg_request_free(&req);
  static const uint8_t short_op[] = "\x83\xa2id\x01\xa2op\xa5looku\xa6" "actors" "\x90";
  assert_int_equal(decode_bytes(short_op, sizeof short_op - 1, &req, err), RG_EUNKNOWN_OP);
  rg_request_free(&req);

  mp_t m;
  char long_actor[RG_ACTOR_WIRE_MAX + 2];
  memset(long_actor, 'a', sizeof long_actor - 1);
  long_actor[sizeof long_actor - 1] = '\0';
  req_begin(&m, 1, "lookup", 1);
  ps(&m, "actors"), parr(&m, 1), ps(&m, long_actor);
  expect_error(&m, RG_EBAD_REQUEST, "actors[0]");
  req_begin(&m, 1, "lookup", 1);
  ps(&m, "actors"), parr(&m, LIM.max_batch_items + 1);
  for (uint32_t i = 0; i <= LIM.max_batch_items; i++) ps(&m, "ip:192.0.2.1");
  expect_error(&m, RG_ETOO_LARGE, "limit");
}

static void test_proto_decodes_label(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 4, "label", 1);
  ps(&m, "labels");
  parr(&m, 2);
  pmap(&m, 6);
  kv_s(&m, "actor", "address:a@x.org");
  kv_s(&m, "verdict", "bad");
  kv_s(&m, "source", "analyst");
  kv_s(&m, "note", "phishing kit");
  ps(&m, "weight"), pd(&m, 0.9);
  kv_u(&m, "ts", 1700000200);
  pmap(&m, 2);
  kv_s(&m, "actor", "ip:192.0.2.1");
  kv_s(&m, "verdict", "good");
  rg_request_t req;
  char err[ERRLEN] = "";
  int rc = decode(&m, &LIM, &req, err);
  if (rc) print_error("%s\n", err);
  assert_int_equal(rc, RG_OK);
  assert_int_equal(req.op, RG_OP_LABEL);
  assert_int_equal(req.n_labels, 2);
  assert_str(req.labels[0].actor, "address:a@x.org");
  assert_str(req.labels[0].verdict, "bad");
  assert_str(req.labels[0].source, "analyst");
  assert_str(req.labels[0].note, "phishing kit");
  assert_float_equal(req.labels[0].weight, 0.9, 0);
  assert_int_equal(req.labels[0].ts, 1700000200);
  assert_str(req.labels[1].actor, "ip:192.0.2.1");
  assert_str(req.labels[1].verdict, "good");
  assert_int_equal(req.labels[1].source.len, 0);
  assert_int_equal(req.labels[1].note.len, 0);
  assert_float_equal(req.labels[1].weight, -1, 0); /* not given */
  assert_int_equal(req.labels[1].ts, 0);
  rg_request_free(&req);
  mp_free(&m);
}

static void test_proto_decodes_forget(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 5, "forget", 1);
  ps(&m, "actors");
  parr(&m, 1);
  ps(&m, "address:gone@x.org");
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_int_equal(req.op, RG_OP_FORGET);
  assert_int_equal(req.id, 5);
  assert_int_equal(req.n_actors, 1);
  assert_str(req.actors[0], "address:gone@x.org");
  rg_request_free(&req);
  mp_free(&m);
}

static void test_proto_decodes_analyst_fields(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 6, "clusters", 7);
  kv_u(&m, "limit", 25);
  kv_u(&m, "offset", 50);
  kv_u(&m, "min_size", 3);
  ps(&m, "min_suspicion"), pd(&m, 0.75);
  kv_s(&m, "type", "ip");
  kv_u(&m, "first_seen_after", 1800000000);
  kv_s(&m, "sort", "size");
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_int_equal(req.op, RG_OP_CLUSTERS);
  assert_int_equal(req.limit, 25);
  assert_int_equal(req.offset, 50);
  assert_int_equal(req.min_size, 3);
  assert_float_equal(req.min_suspicion, 0.75, 1e-12);
  assert_str(req.type, "ip");
  assert_int_equal(req.first_seen_after, 1800000000);
  assert_str(req.sort, "size");
  assert_int_equal(req.actor.len, 0);
  rg_request_free(&req);
  mp_free(&m);

  req_begin(&m, 7, "export", 3); /* absent optional fields keep their "not given" values */
  ps(&m, "clusters");
  parr(&m, 2);
  pu(&m, 4), pu(&m, 9);
  kv_s(&m, "cursor", "1.0.0.5.0.0");
  kv_u(&m, "limit", 100);
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_int_equal(req.n_clusters, 2);
  assert_int_equal(req.clusters[1], 9);
  assert_str(req.cursor, "1.0.0.5.0.0");
  assert_true(req.min_suspicion < 0);
  assert_true(req.label.weight < 0);
  rg_request_free(&req);
  mp_free(&m);

  req_begin(&m, 8, "label_cluster", 4);
  kv_u(&m, "cluster", 12);
  kv_s(&m, "verdict", "bad");
  kv_s(&m, "source", "user_report");
  kv_s(&m, "note", "Junk folder");
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_true(rg_op_writes(req.op));
  assert_int_equal(req.cluster, 12);
  assert_str(req.label.verdict, "bad");
  assert_str(req.label.source, "user_report");
  assert_str(req.label.note, "Junk folder");
  rg_request_free(&req);
  mp_free(&m);
}

static void test_proto_rejects_bad_analyst_fields(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 1, "label_cluster", 1); /* a verdict is required */
  kv_u(&m, "cluster", 1);
  expect_error(&m, RG_EBAD_REQUEST, "request.verdict: missing");
  req_begin(&m, 1, "clusters", 1);
  ps(&m, "min_suspicion"), pd(&m, 1.5);
  expect_error(&m, RG_EBAD_REQUEST, "min_suspicion: not in [0, 1]");
  req_begin(&m, 1, "top", 1);
  kv_s(&m, "limit", "ten");
  expect_error(&m, RG_EBAD_REQUEST, "request.limit: expected a non-negative integer");
  req_begin(&m, 1, "export", 1);
  ps(&m, "clusters");
  parr(&m, 1);
  ps(&m, "seven");
  expect_error(&m, RG_EBAD_REQUEST, "clusters[0]: expected a cluster id");
  req_begin(&m, 1, "export", 1);
  ps(&m, "clusters");
  parr(&m, RG_EXPORT_CLUSTERS_MAX + 1);
  for (int i = 0; i <= RG_EXPORT_CLUSTERS_MAX; i++) pu(&m, (uint64_t)i);
  expect_error(&m, RG_ETOO_LARGE, "the limit is 64");
}

static void test_proto_request_free_accepts_null_and_zeroed(void **state) {
  (void)state;
  rg_request_free(NULL);
  rg_request_t req;
  memset(&req, 0, sizeof req);
  rg_request_free(&req);
  assert_null(req.mem);
}

/* ---- decode errors --------------------------------------------------------------- */

static void test_proto_unknown_op_keeps_id(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 99, "explode", 0);
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_EUNKNOWN_OP);
  assert_true(req.has_id);
  assert_int_equal(req.id, 99);
  assert_non_null(strstr(err, "explode"));
  rg_request_free(&req);
  mp_free(&m);

  /* Case matters, and a prefix of a real op is not that op. */
  req_begin(&m, 1, "PING", 0);
  expect_error(&m, RG_EUNKNOWN_OP, "PING");
  req_begin(&m, 1, "pin", 0);
  expect_error(&m, RG_EUNKNOWN_OP, "pin");
  req_begin(&m, 1, "pingx", 0);
  expect_error(&m, RG_EUNKNOWN_OP, "pingx");
}

static void test_proto_rejects_missing_or_mistyped_op(void **state) {
  (void)state;
  mp_t m;
  mp_init(&m);
  pmap(&m, 1);
  kv_u(&m, "id", 8);
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_EBAD_REQUEST);
  assert_true(req.has_id);
  assert_int_equal(req.id, 8);
  assert_non_null(strstr(err, "op"));
  rg_request_free(&req);
  mp_free(&m);

  mp_init(&m);
  pmap(&m, 1);
  kv_u(&m, "op", 1);
  expect_error(&m, RG_EBAD_REQUEST, "op:");
}

static void test_proto_rejects_mistyped_id(void **state) {
  (void)state;
  mp_t m;
  mp_init(&m);
  pmap(&m, 2);
  ps(&m, "id"), pi(&m, -3);
  kv_s(&m, "op", "ping");
  expect_error(&m, RG_EBAD_REQUEST, "id:");
  mp_init(&m);
  pmap(&m, 2);
  kv_s(&m, "id", "7");
  kv_s(&m, "op", "ping");
  expect_error(&m, RG_EBAD_REQUEST, "id:");
}

static void test_proto_rejects_non_map_frames(void **state) {
  (void)state;
  mp_t m;
  mp_init(&m);
  parr(&m, 2);
  ps(&m, "op");
  ps(&m, "ping");
  expect_error(&m, RG_ENOT_A_MAP, NULL);
  mp_init(&m);
  ps(&m, "ping");
  expect_error(&m, RG_ENOT_A_MAP, NULL);
  mp_init(&m);
  pu(&m, 1);
  expect_error(&m, RG_ENOT_A_MAP, NULL);
  mp_init(&m);
  pnil(&m);
  expect_error(&m, RG_ENOT_A_MAP, NULL);

  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode_bytes("", 0, &req, err), RG_ENOT_A_MAP);
  rg_request_free(&req);
}

static void test_proto_rejects_every_truncation_of_a_valid_request(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 10, "lookup", 1);
  ps(&m, "actors");
  parr(&m, 2);
  ps(&m, "address:a@x.org");
  ps(&m, "domain:x.org");
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  rg_request_free(&req);
  for (size_t n = 0; n < m.sb.size; n++) {
    int rc = decode_bytes(m.sb.data, n, &req, err);
    if (rc != RG_ENOT_A_MAP) print_error("prefix of %zu bytes gave %s\n", n, rg_err_name(rc));
    assert_int_equal(rc, RG_ENOT_A_MAP);
    rg_request_free(&req);
  }
  mp_free(&m);
}

static void test_proto_rejects_trailing_bytes(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 11, "ping", 0);
  pnil(&m); /* one extra byte */
  expect_error(&m, RG_ENOT_A_MAP, NULL);
  req_begin(&m, 11, "ping", 0);
  pmap(&m, 2); /* a second request in the same frame */
  kv_u(&m, "id", 12);
  kv_s(&m, "op", "ping");
  expect_error(&m, RG_ENOT_A_MAP, NULL);
}

static void test_proto_rejects_invalid_bytes(void **state) {
  (void)state;
  rg_request_t req;
  char err[ERRLEN] = "";
  const uint8_t never_used[] = {0x81, 0xa2, 'o', 'p', 0xc1};
  assert_int_equal(decode_bytes(never_used, sizeof never_used, &req, err), RG_ENOT_A_MAP);
  rg_request_free(&req);
  const uint8_t bare[] = {0xc1};
  assert_int_equal(decode_bytes(bare, sizeof bare, &req, err), RG_ENOT_A_MAP);
  rg_request_free(&req);
  /* A map declaring more entries than there are bytes. */
  const uint8_t short_map[] = {0x8f, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g'};
  assert_int_equal(decode_bytes(short_map, sizeof short_map, &req, err), RG_ENOT_A_MAP);
  rg_request_free(&req);
  /* A string whose declared length runs past the end. */
  const uint8_t long_str[] = {0x81, 0xa2, 'o', 'p', 0xdb, 0xff, 0xff, 0xff, 0xff, 'p'};
  assert_int_equal(decode_bytes(long_str, sizeof long_str, &req, err), RG_ENOT_A_MAP);
  rg_request_free(&req);
}

static void test_proto_rejects_oversized_frame_body(void **state) {
  (void)state;
  rg_proto_limits_t lim = LIM;
  mp_t m;
  req_begin(&m, 1, "ping", 0);
  lim.max_frame_bytes = (uint32_t)m.sb.size;
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &lim, &req, err), RG_OK);
  rg_request_free(&req);
  lim.max_frame_bytes = (uint32_t)m.sb.size - 1;
  expect_error_lim(&m, &lim, RG_ETOO_LARGE, NULL);
}

/* An ingest request with two edges, the second one built by `second`. */

static void batch(mp_t *m, uint32_t n_edges, uint32_t n_actors) {
  req_begin(m, 77, "ingest", 2);
  ps(m, "edges");
  parr(m, n_edges);
  for (uint32_t i = 0; i < n_edges; i++) {
    pmap(m, 3);
    kv_s(m, "src", "s");
    kv_s(m, "dst", "d");
    kv_s(m, "kind", "mailed");
  }
  ps(m, "actors");
  parr(m, n_actors);
  for (uint32_t i = 0; i < n_actors; i++) ps(m, "a");
}

static void test_proto_rejects_oversized_batch(void **state) {
  (void)state;
  rg_proto_limits_t lim = LIM;
  lim.max_batch_items = 5;
  mp_t m;
  rg_request_t req;
  char err[ERRLEN] = "";
  batch(&m, 3, 2); /* exactly at the limit */
  assert_int_equal(decode(&m, &lim, &req, err), RG_OK);
  assert_int_equal(req.n_edges, 3);
  assert_int_equal(req.n_actors, 2);
  rg_request_free(&req);
  mp_free(&m);

  batch(&m, 3, 3);
  assert_int_equal(decode(&m, &lim, &req, err), RG_ETOO_LARGE);
  assert_true(req.has_id);
  assert_int_equal(req.id, 77);
  assert_non_null(strstr(err, "6 items"));
  assert_null(req.edges); /* refused before allocating */
  rg_request_free(&req);
  mp_free(&m);
}

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

static void test_proto_rejects_deeply_nested_request(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 1, "ping", 1);
  ps(&m, "junk");
  for (int i = 0; i < 40; i++) parr(&m, 1);
  pnil(&m);
  expect_error(&m, RG_ENOT_A_MAP, NULL);
}

static void test_proto_decodes_auth_token(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 9, "auth", 1);
  kv_s(&m, "token", "s3cret-s3cret-s3cret");
  rg_request_t req;
  char err[ERRLEN] = "";
  assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
  assert_int_equal(req.op, RG_OP_AUTH);
  assert_str(req.token, "s3cret-s3cret-s3cret");
  rg_request_free(&req);
  mp_free(&m);
  req_begin(&m, 9, "auth", 0);
  expect_error(&m, RG_EBAD_REQUEST, "request.token: missing");
}

/* A label whose note is n bytes long. */

static void test_proto_nesting_limit_is_configurable(void **state) {
  (void)state;
  rg_proto_limits_t lim = LIM;
  lim.max_depth = 4; /* request > observations > observation > recipients: exactly 4 */
  mp_t m;
  rg_request_t req;
  char err[ERRLEN] = "";
  observation_with_recipients(&m, 2);
  assert_int_equal(decode(&m, &lim, &req, err), RG_OK);
  rg_request_free(&req);
  mp_free(&m);
  /* An ignored field nested 5 deep is refused at depth 4, accepted by the default 16. */
  for (int pass = 0; pass < 2; pass++) {
    req_begin(&m, 1, "ping", 1);
    ps(&m, "extra");
    for (int i = 0; i < 4; i++) parr(&m, 1);
    pnil(&m);
    if (pass == 0) {
      expect_error_lim(&m, &lim, RG_ENOT_A_MAP, "nested at most 4 deep");
    } else {
      assert_int_equal(decode(&m, &LIM, &req, err), RG_OK);
      rg_request_free(&req);
      mp_free(&m);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_proto_decodes_ping_and_echoes_id),
      cmocka_unit_test(test_proto_decodes_request_without_id),
      cmocka_unit_test(test_proto_decodes_stats),
      cmocka_unit_test(test_proto_decodes_ingest_edges_and_observations),
      cmocka_unit_test(test_proto_decodes_edge_weight_float32_and_defaults),
      cmocka_unit_test(test_proto_decodes_lookup),
      cmocka_unit_test(test_proto_decodes_lookup_in_every_spelling),
      cmocka_unit_test(test_proto_decodes_label),
      cmocka_unit_test(test_proto_decodes_forget),
      cmocka_unit_test(test_proto_decodes_analyst_fields),
      cmocka_unit_test(test_proto_rejects_bad_analyst_fields),
      cmocka_unit_test(test_proto_request_free_accepts_null_and_zeroed),
      cmocka_unit_test(test_proto_unknown_op_keeps_id),
      cmocka_unit_test(test_proto_rejects_missing_or_mistyped_op),
      cmocka_unit_test(test_proto_rejects_mistyped_id),
      cmocka_unit_test(test_proto_rejects_non_map_frames),
      cmocka_unit_test(test_proto_rejects_every_truncation_of_a_valid_request),
      cmocka_unit_test(test_proto_rejects_trailing_bytes),
      cmocka_unit_test(test_proto_rejects_invalid_bytes),
      cmocka_unit_test(test_proto_rejects_oversized_frame_body),
      cmocka_unit_test(test_proto_rejects_oversized_batch),
      cmocka_unit_test(test_proto_rejects_deeply_nested_request),
      cmocka_unit_test(test_proto_decodes_auth_token),
      cmocka_unit_test(test_proto_nesting_limit_is_configurable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
