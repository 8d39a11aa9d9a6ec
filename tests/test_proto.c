/* test_proto.c — frames, the structural msgpack check, request decoding and the response
 * writer of proto.c. Requests are built here with msgpack-c's packer; replies are read
 * back with msgpack_unpack_next. Single-threaded cmocka tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/proto.h"

#define ERRLEN 256

static const rg_proto_limits_t LIM = {
    .max_frame_bytes = 1 << 20,
    .max_batch_items = 100,
    .max_recipients = 10,
};

/* ---- msgpack building ------------------------------------------------------------ */

typedef struct {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} mp_t;

static void mp_init(mp_t *m) {
  msgpack_sbuffer_init(&m->sb);
  msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void mp_free(mp_t *m) {
  msgpack_sbuffer_destroy(&m->sb);
}

static void ps(mp_t *m, const char *s) {
  msgpack_pack_str_with_body(&m->pk, s, strlen(s));
}
static void pu(mp_t *m, uint64_t v) {
  msgpack_pack_uint64(&m->pk, v);
}
static void pi(mp_t *m, int64_t v) {
  msgpack_pack_int64(&m->pk, v);
}
static void pd(mp_t *m, double v) {
  msgpack_pack_double(&m->pk, v);
}
static void pmap(mp_t *m, size_t n) {
  msgpack_pack_map(&m->pk, n);
}
static void parr(mp_t *m, size_t n) {
  msgpack_pack_array(&m->pk, n);
}
static void pnil(mp_t *m) {
  msgpack_pack_nil(&m->pk);
}

/* Key/value shorthands inside a map. */
static void kv_s(mp_t *m, const char *k, const char *v) {
  ps(m, k), ps(m, v);
}
static void kv_u(mp_t *m, const char *k, uint64_t v) {
  ps(m, k), pu(m, v);
}

/* Starts a request map of n_fields + 2 entries: id and op first. */
static void req_begin(mp_t *m, uint64_t id, const char *op, size_t n_fields) {
  mp_init(m);
  pmap(m, n_fields + 2);
  kv_u(m, "id", id);
  kv_s(m, "op", op);
}

static int decode(const mp_t *m, const rg_proto_limits_t *lim, rg_request_t *req, char *err) {
  return rg_proto_decode_request((const uint8_t *)m->sb.data, m->sb.size, lim, req, err, ERRLEN);
}

static int decode_bytes(const void *p, size_t n, rg_request_t *req, char *err) {
  return rg_proto_decode_request(p, n, &LIM, req, err, ERRLEN);
}

/* Decodes m with lim; asserts `code` and, if given, that the message contains `want`. */
static void expect_error_lim(mp_t *m, const rg_proto_limits_t *lim, int code, const char *want) {
  rg_request_t req;
  char err[ERRLEN] = "";
  int rc = decode(m, lim, &req, err);
  if (rc != code) print_error("got %s (%s), want %s\n", rg_err_name(rc), err, rg_err_name(code));
  assert_int_equal(rc, code);
  if (want && !strstr(err, want)) print_error("message '%s' lacks '%s'\n", err, want);
  if (want) assert_non_null(strstr(err, want));
  rg_request_free(&req);
  mp_free(m);
}

static void expect_error(mp_t *m, int code, const char *want) {
  expect_error_lim(m, &LIM, code, want);
}

static void assert_str(rg_str_t s, const char *want) {
  if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
    print_error("got '%.*s', want '%s'\n", (int)s.len, s.ptr ? s.ptr : "", want);
  assert_int_equal(s.len, strlen(want));
  assert_memory_equal(s.ptr, want, s.len);
}

/* ---- frames and ops -------------------------------------------------------------- */

static void test_proto_frame_length_reads_big_endian_header(void **state) {
  (void)state;
  const uint8_t hdr[RG_FRAME_HEADER] = {0x00, 0x01, 0x02, 0x03};
  uint32_t len = 0;
  assert_int_equal(rg_proto_frame_length(hdr, 0x010203, &len), RG_OK);
  assert_int_equal(len, 0x010203);
  const uint8_t zero[RG_FRAME_HEADER] = {0, 0, 0, 0};
  assert_int_equal(rg_proto_frame_length(zero, 0, &len), RG_OK);
  assert_int_equal(len, 0);
}

static void test_proto_rejects_oversized_frame_header(void **state) {
  (void)state;
  const uint8_t hdr[RG_FRAME_HEADER] = {0x00, 0x01, 0x02, 0x04};
  uint32_t len = 0;
  assert_int_equal(rg_proto_frame_length(hdr, 0x010203, &len), RG_ETOO_LARGE);
  assert_int_equal(len, 0x010204);
  const uint8_t huge[RG_FRAME_HEADER] = {0xff, 0xff, 0xff, 0xff};
  assert_int_equal(rg_proto_frame_length(huge, 16u << 20, &len), RG_ETOO_LARGE);
  assert_int_equal(len, 0xffffffffu);
}

static void test_proto_op_table(void **state) {
  (void)state;
  assert_string_equal(rg_op_name(RG_OP_PING), "ping");
  assert_string_equal(rg_op_name(RG_OP_INGEST), "ingest");
  assert_string_equal(rg_op_name(RG_OP_LOOKUP), "lookup");
  assert_string_equal(rg_op_name(RG_OP_LABEL), "label");
  assert_string_equal(rg_op_name(RG_OP_FORGET), "forget");
  assert_string_equal(rg_op_name(RG_OP_STATS), "stats");
  assert_null(rg_op_name(-1));
  assert_null(rg_op_name(RG_OP_COUNT));
  assert_false(rg_op_writes(RG_OP_PING));
  assert_true(rg_op_writes(RG_OP_INGEST));
  assert_false(rg_op_writes(RG_OP_LOOKUP));
  assert_true(rg_op_writes(RG_OP_LABEL));
  assert_true(rg_op_writes(RG_OP_FORGET));
  assert_false(rg_op_writes(RG_OP_STATS));
  assert_false(rg_op_writes(RG_OP_COUNT));
}

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

static void test_proto_mistyped_edge_fields_name_their_path(void **state) {
  (void)state;
  static const struct {
    void (*second)(mp_t *);
    const char *want;
  } cases[] = {
      {edge_src_int, "edges[1].src: expected a string"},
      {edge_no_kind, "edges[1].kind: missing"},
      {edge_negative_weight, "edges[1].weight"},
      {edge_string_weight, "edges[1].weight: expected a number"},
      {edge_zero_count, "edges[1].count"},
      {edge_float_ts, "edges[1].ts"},
      {edge_huge_ts, "edges[1].ts: out of range"},
      {edge_long_src, "edges[1].src: longer than"},
      {edge_not_a_map, "edges[1]: expected a map"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mp_t m;
    ingest_with_second_edge(&m, 500 + i, cases[i].second);
    rg_request_t req;
    char err[ERRLEN] = "";
    int rc = decode(&m, &LIM, &req, err);
    if (rc != RG_EBAD_REQUEST || !strstr(err, cases[i].want))
      print_error("case %zu: %s '%s', want '%s'\n", i, rg_err_name(rc), err, cases[i].want);
    assert_int_equal(rc, RG_EBAD_REQUEST);
    assert_non_null(strstr(err, cases[i].want));
    /* The id is echoed even though the body was refused. */
    assert_true(req.has_id);
    assert_int_equal(req.id, 500 + i);
    rg_request_free(&req);
    mp_free(&m);
  }
}

static void test_proto_mistyped_observation_fields_name_their_path(void **state) {
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
  expect_error(&m, RG_EBAD_REQUEST, "observations[0].recipients[1]");

  /* A missing sender in the second observation. */
  req_begin(&m, 1, "ingest", 1);
  ps(&m, "observations");
  parr(&m, 2);
  pmap(&m, 2);
  kv_s(&m, "sender", "a@x.org");
  kv_s(&m, "client_ip", "192.0.2.1");
  pmap(&m, 1);
  kv_s(&m, "client_ip", "192.0.2.1");
  expect_error(&m, RG_EBAD_REQUEST, "observations[1].sender: missing");

  /* A helo that is not a string. */
  req_begin(&m, 1, "ingest", 1);
  ps(&m, "observations");
  parr(&m, 1);
  pmap(&m, 3);
  kv_s(&m, "sender", "a@x.org");
  kv_s(&m, "client_ip", "192.0.2.1");
  kv_u(&m, "helo", 1);
  expect_error(&m, RG_EBAD_REQUEST, "observations[0].helo");

  /* Recipients that are not an array. */
  req_begin(&m, 1, "ingest", 1);
  ps(&m, "observations");
  parr(&m, 1);
  pmap(&m, 3);
  kv_s(&m, "sender", "a@x.org");
  kv_s(&m, "client_ip", "192.0.2.1");
  kv_s(&m, "recipients", "b@x.org");
  expect_error(&m, RG_EBAD_REQUEST, "observations[0].recipients: expected an array");
}

static void test_proto_mistyped_label_and_actor_fields_name_their_path(void **state) {
  (void)state;
  mp_t m;
  req_begin(&m, 1, "label", 1);
  ps(&m, "labels");
  parr(&m, 1);
  pmap(&m, 2);
  kv_s(&m, "actor", "address:a@x.org");
  kv_u(&m, "verdict", 1);
  expect_error(&m, RG_EBAD_REQUEST, "labels[0].verdict: expected a string");

  req_begin(&m, 1, "label", 1);
  ps(&m, "labels");
  parr(&m, 1);
  pmap(&m, 3);
  kv_s(&m, "actor", "address:a@x.org");
  kv_s(&m, "verdict", "bad");
  ps(&m, "weight"), pd(&m, 2e9);
  expect_error(&m, RG_EBAD_REQUEST, "labels[0].weight");

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

static void test_proto_rejects_too_many_recipients(void **state) {
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
  assert_int_equal(decode(&m, &lim, &req, err), RG_ETOO_LARGE);
  assert_int_equal(req.id, 78);
  assert_non_null(strstr(err, "observations[0].recipients"));
  rg_request_free(&req);
  mp_free(&m);
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

static void test_proto_op_roles_rise_from_none_to_admin(void **state) {
  (void)state;
  assert_int_equal(rg_op_role(RG_OP_PING), RG_ROLE_NONE);
  assert_int_equal(rg_op_role(RG_OP_AUTH), RG_ROLE_NONE);
  assert_int_equal(rg_op_role(RG_OP_LOOKUP), RG_ROLE_READ);
  assert_int_equal(rg_op_role(RG_OP_CHECK), RG_ROLE_READ);
  assert_int_equal(rg_op_role(RG_OP_INGEST), RG_ROLE_WRITE);
  assert_int_equal(rg_op_role(RG_OP_LABEL), RG_ROLE_WRITE);
  assert_int_equal(rg_op_role(RG_OP_FORGET), RG_ROLE_ADMIN);
  assert_int_equal(rg_op_role(RG_OP_RECOMPUTE), RG_ROLE_ADMIN);
  assert_int_equal(rg_op_role(RG_OP_COUNT), RG_ROLE_ADMIN); /* unknown: the strongest */
  assert_true(RG_ROLE_NONE < RG_ROLE_READ && RG_ROLE_READ < RG_ROLE_WRITE &&
              RG_ROLE_WRITE < RG_ROLE_ADMIN);
  assert_string_equal(rg_role_name(RG_ROLE_WRITE), "write");
  assert_null(rg_role_name(RG_ROLE_COUNT));
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
  expect_error_lim(&m, &lim, RG_EBAD_REQUEST, "labels[0].note: longer than 1024 bytes");
  lim.max_string_bytes = 100;
  label_with_note(&m, 101);
  expect_error_lim(&m, &lim, RG_EBAD_REQUEST, "labels[0].note: longer than 100 bytes");
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

/* ---- structural check ------------------------------------------------------------ */

static void test_proto_check_rejects_huge_declared_array(void **state) {
  (void)state;
  const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(rg_proto_check_msgpack(arr32, sizeof arr32, 16), RG_ENOT_A_MAP);
  const uint8_t arr16[] = {0xdc, 0xff, 0xff};
  assert_int_equal(rg_proto_check_msgpack(arr16, sizeof arr16, 16), RG_ENOT_A_MAP);
  const uint8_t map32[] = {0xdf, 0x7f, 0xff, 0xff, 0xff};
  assert_int_equal(rg_proto_check_msgpack(map32, sizeof map32, 16), RG_ENOT_A_MAP);
  const uint8_t bin32[] = {0xc6, 0xff, 0xff, 0xff, 0xff};
  assert_int_equal(rg_proto_check_msgpack(bin32, sizeof bin32, 16), RG_ENOT_A_MAP);
  const uint8_t ext32[] = {0xc9, 0x00, 0x00, 0x00, 0x01};
  assert_int_equal(rg_proto_check_msgpack(ext32, sizeof ext32, 16), RG_ENOT_A_MAP);
  /* A map of 2 entries needs 4 values after it; 3 are there. */
  const uint8_t map_short[] = {0x82, 0x01, 0x02, 0x03};
  assert_int_equal(rg_proto_check_msgpack(map_short, sizeof map_short, 16), RG_ENOT_A_MAP);
  const uint8_t map_ok[] = {0x82, 0x01, 0x02, 0x03, 0x04};
  assert_int_equal(rg_proto_check_msgpack(map_ok, sizeof map_ok, 16), RG_OK);
  const uint8_t empty_arr32[] = {0xdd, 0x00, 0x00, 0x00, 0x00};
  assert_int_equal(rg_proto_check_msgpack(empty_arr32, sizeof empty_arr32, 16), RG_OK);
}

static void test_proto_check_limits_nesting_depth(void **state) {
  (void)state;
  uint8_t d[RG_PROTO_DEPTH_MAX + 8];
  for (unsigned depth = 1; depth <= RG_PROTO_DEPTH_MAX + 4; depth++) {
    memset(d, 0x91, depth); /* [[[…]]] */
    d[depth] = 0x01;
    int want = depth <= 16 ? RG_OK : RG_ENOT_A_MAP;
    assert_int_equal(rg_proto_check_msgpack(d, depth + 1, 16), want);
    /* A depth above the built-in maximum is clamped to it. */
    assert_int_equal(rg_proto_check_msgpack(d, depth + 1, 1000),
                     depth <= RG_PROTO_DEPTH_MAX ? RG_OK : RG_ENOT_A_MAP);
    assert_int_equal(rg_proto_check_msgpack(d, depth + 1, 3), depth <= 3 ? RG_OK : RG_ENOT_A_MAP);
  }
  /* Empty containers add no depth. */
  const uint8_t flat[] = {0x92, 0x90, 0x80};
  assert_int_equal(rg_proto_check_msgpack(flat, sizeof flat, 1), RG_OK);
}

static void test_proto_check_accepts_every_msgpack_type_and_no_prefix(void **state) {
  (void)state;
  mp_t m;
  mp_init(&m);
  parr(&m, 26);
  pnil(&m);
  msgpack_pack_true(&m.pk);
  msgpack_pack_false(&m.pk);
  pu(&m, 5);
  pu(&m, 200);
  pu(&m, 60000);
  pu(&m, 4000000000u);
  pu(&m, UINT64_MAX);
  pi(&m, -5);
  pi(&m, -100);
  pi(&m, -30000);
  pi(&m, -2000000000);
  pi(&m, INT64_MIN);
  msgpack_pack_float(&m.pk, 1.5f);
  pd(&m, 2.5);
  char text[300];
  memset(text, 'x', sizeof text);
  msgpack_pack_str_with_body(&m.pk, text, 40);  /* str8 */
  msgpack_pack_str_with_body(&m.pk, text, 300); /* str16 */
  msgpack_pack_bin_with_body(&m.pk, text, 3);
  static const size_t ext_sizes[] = {1, 2, 4, 8, 16, 3};
  for (size_t i = 0; i < 6; i++) {
    msgpack_pack_ext(&m.pk, ext_sizes[i], 7);
    msgpack_pack_ext_body(&m.pk, text, ext_sizes[i]);
  }
  parr(&m, 20); /* array16 */
  for (int i = 0; i < 20; i++) pu(&m, (uint64_t)i);
  pmap(&m, 0);
  const uint8_t *d = (const uint8_t *)m.sb.data;
  assert_int_equal(rg_proto_check_msgpack(d, m.sb.size, 16), RG_OK);
  for (size_t n = 0; n < m.sb.size; n++)
    assert_int_equal(rg_proto_check_msgpack(d, n, 16), RG_ENOT_A_MAP);
  mp_free(&m);
}

/* ---- response writer ------------------------------------------------------------- */

static const msgpack_object *map_get(const msgpack_object *map, const char *key) {
  assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
  for (uint32_t i = 0; i < map->via.map.size; i++) {
    const msgpack_object *k = &map->via.map.ptr[i].key;
    if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
        memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
      return &map->via.map.ptr[i].val;
  }
  print_error("no key '%s'\n", key);
  fail();
  return NULL;
}

static void assert_obj_str(const msgpack_object *o, const char *want) {
  assert_int_equal(o->type, MSGPACK_OBJECT_STR);
  assert_int_equal(o->via.str.size, strlen(want));
  assert_memory_equal(o->via.str.ptr, want, o->via.str.size);
}

/* Reads the frame at b->data + off: checks its header against the bytes that follow and
 * unpacks its body into *up. Returns the offset after the frame. */
static size_t read_frame(const rg_buf_t *b, size_t off, msgpack_unpacked *up) {
  assert_true(b->len - off >= RG_FRAME_HEADER);
  uint32_t body = 0;
  assert_int_equal(rg_proto_frame_length(b->data + off, UINT32_MAX, &body), RG_OK);
  assert_true(body <= b->len - off - RG_FRAME_HEADER);
  size_t used = 0;
  msgpack_unpacked_init(up);
  assert_int_equal(
      msgpack_unpack_next(up, (const char *)b->data + off + RG_FRAME_HEADER, body, &used),
      MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(used, body);
  return off + RG_FRAME_HEADER + body;
}

static void test_proto_writer_produces_a_decodable_reply(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 0);
  rg_wr_t w;
  rg_wr_begin(&w, &b);
  rg_wr_reply(&w, true, 42, 8);
  rg_wr_str(&w, "ok");
  rg_wr_bool(&w, true);
  rg_wr_str(&w, "n");
  rg_wr_uint(&w, UINT64_MAX);
  rg_wr_str(&w, "neg");
  rg_wr_int(&w, -5);
  rg_wr_str(&w, "score");
  rg_wr_double(&w, 0.125);
  rg_wr_str(&w, "none");
  rg_wr_nil(&w);
  rg_wr_str(&w, "null_str");
  rg_wr_str(&w, NULL);
  rg_wr_str(&w, "bytes");
  rg_wr_strn(&w, "a\0b", 3);
  rg_wr_str(&w, "list");
  rg_wr_array(&w, 2);
  rg_wr_str(&w, "x");
  rg_wr_bool(&w, false);
  assert_int_equal(rg_wr_end(&w), RG_OK);

  msgpack_unpacked up;
  assert_int_equal(read_frame(&b, 0, &up), b.len);
  const msgpack_object *root = &up.data;
  assert_int_equal(root->type, MSGPACK_OBJECT_MAP);
  assert_int_equal(root->via.map.size, 9);
  assert_obj_str(&root->via.map.ptr[0].key, "id"); /* id comes first */
  const msgpack_object *o = map_get(root, "id");
  assert_int_equal(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
  assert_int_equal(o->via.u64, 42);
  o = map_get(root, "ok");
  assert_int_equal(o->type, MSGPACK_OBJECT_BOOLEAN);
  assert_true(o->via.boolean);
  o = map_get(root, "n");
  assert_int_equal(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
  assert_true(o->via.u64 == UINT64_MAX);
  o = map_get(root, "neg");
  assert_int_equal(o->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
  assert_int_equal(o->via.i64, -5);
  o = map_get(root, "score");
  assert_int_equal(o->type, MSGPACK_OBJECT_FLOAT64);
  assert_float_equal(o->via.f64, 0.125, 0);
  assert_int_equal(map_get(root, "none")->type, MSGPACK_OBJECT_NIL);
  assert_int_equal(map_get(root, "null_str")->type, MSGPACK_OBJECT_NIL);
  o = map_get(root, "bytes");
  assert_int_equal(o->type, MSGPACK_OBJECT_STR);
  assert_int_equal(o->via.str.size, 3);
  assert_memory_equal(o->via.str.ptr, "a\0b", 3);
  o = map_get(root, "list");
  assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(o->via.array.size, 2);
  assert_obj_str(&o->via.array.ptr[0], "x");
  assert_int_equal(o->via.array.ptr[1].type, MSGPACK_OBJECT_BOOLEAN);
  assert_false(o->via.array.ptr[1].via.boolean);
  msgpack_unpacked_destroy(&up);
  rg_buf_free(&b);
}

static void test_proto_writer_appends_frames_after_existing_bytes(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 0);
  assert_int_equal(rg_buf_append(&b, "\x00\x00\x00\x00", 4), RG_OK); /* an older frame */
  rg_wr_t w;
  rg_wr_begin(&w, &b);
  rg_wr_reply(&w, false, 0, 0);
  assert_int_equal(rg_wr_end(&w), RG_OK);
  rg_wr_begin(&w, &b);
  rg_wr_reply(&w, true, 3, 1);
  rg_wr_str(&w, "pong");
  rg_wr_bool(&w, true);
  assert_int_equal(rg_wr_end(&w), RG_OK);

  msgpack_unpacked up;
  size_t off = read_frame(&b, 4, &up);
  assert_int_equal(up.data.via.map.size, 1);
  assert_int_equal(map_get(&up.data, "id")->type, MSGPACK_OBJECT_NIL);
  msgpack_unpacked_destroy(&up);
  assert_int_equal(read_frame(&b, off, &up), b.len);
  assert_int_equal(map_get(&up.data, "id")->via.u64, 3);
  assert_true(map_get(&up.data, "pong")->via.boolean);
  msgpack_unpacked_destroy(&up);
  rg_buf_free(&b);
}

static void test_proto_write_error_frame(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 0);
  assert_int_equal(rg_proto_write_error(&b, true, 9, RG_ETOO_LARGE, "batch of 7 items"), RG_OK);
  size_t first_end = b.len;
  assert_int_equal(rg_proto_write_error(&b, false, 0, RG_EUNKNOWN_OP, NULL), RG_OK);
  assert_int_equal(rg_proto_write_error(&b, false, 0, RG_EBAD_REQUEST, ""), RG_OK);

  msgpack_unpacked up;
  size_t off = read_frame(&b, 0, &up);
  assert_int_equal(off, first_end);
  assert_int_equal(up.data.via.map.size, 2);
  assert_int_equal(map_get(&up.data, "id")->via.u64, 9);
  const msgpack_object *e = map_get(&up.data, "error");
  assert_int_equal(e->type, MSGPACK_OBJECT_MAP);
  assert_int_equal(e->via.map.size, 2);
  assert_obj_str(map_get(e, "code"), "too_large");
  assert_obj_str(map_get(e, "message"), "batch of 7 items");
  msgpack_unpacked_destroy(&up);

  off = read_frame(&b, off, &up);
  assert_int_equal(map_get(&up.data, "id")->type, MSGPACK_OBJECT_NIL);
  e = map_get(&up.data, "error");
  assert_obj_str(map_get(e, "code"), "unknown_op");
  assert_obj_str(map_get(e, "message"), rg_strerror(RG_EUNKNOWN_OP));
  msgpack_unpacked_destroy(&up);

  assert_int_equal(read_frame(&b, off, &up), b.len);
  e = map_get(&up.data, "error");
  assert_obj_str(map_get(e, "code"), "bad_request");
  assert_obj_str(map_get(e, "message"), rg_strerror(RG_EBAD_REQUEST));
  msgpack_unpacked_destroy(&up);
  rg_buf_free(&b);
}

static void test_proto_writer_over_cap_leaves_buffer_as_before(void **state) {
  (void)state;
  char big[200];
  memset(big, 'b', sizeof big);
  /* Cap at several points: before the header fits, inside the body, at the last byte. */
  rg_buf_t probe;
  rg_buf_init(&probe, 0);
  rg_wr_t w;
  rg_wr_begin(&w, &probe);
  rg_wr_reply(&w, true, 1, 1);
  rg_wr_str(&w, "big");
  rg_wr_strn(&w, big, sizeof big);
  assert_int_equal(rg_wr_end(&w), RG_OK);
  const size_t frame = probe.len;
  rg_buf_free(&probe);

  const size_t prefix = 5;
  const size_t caps[] = {prefix, prefix + 2, prefix + RG_FRAME_HEADER, prefix + 10,
                         prefix + frame - 1};
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
    rg_buf_t b;
    rg_buf_init(&b, caps[i]);
    assert_int_equal(rg_buf_append(&b, "hello", prefix), RG_OK);
    rg_wr_begin(&w, &b);
    rg_wr_reply(&w, true, 1, 1);
    rg_wr_str(&w, "big");
    rg_wr_strn(&w, big, sizeof big);
    size_t len_after_error = b.len;
    rg_wr_str(&w, "more"); /* the error is sticky: nothing more is written */
    assert_int_equal(b.len, len_after_error);
    assert_int_equal(w.err, RG_ETOO_LARGE);
    assert_int_equal(rg_wr_end(&w), RG_ETOO_LARGE);
    assert_int_equal(b.len, prefix);
    assert_memory_equal(b.data, "hello", prefix);
    rg_buf_free(&b);
  }

  /* With room to spare the same frame fits exactly. */
  rg_buf_t b;
  rg_buf_init(&b, prefix + frame);
  assert_int_equal(rg_buf_append(&b, "hello", prefix), RG_OK);
  rg_wr_begin(&w, &b);
  rg_wr_reply(&w, true, 1, 1);
  rg_wr_str(&w, "big");
  rg_wr_strn(&w, big, sizeof big);
  assert_int_equal(rg_wr_end(&w), RG_OK);
  assert_int_equal(b.len, prefix + frame);
  msgpack_unpacked up;
  assert_int_equal(read_frame(&b, prefix, &up), b.len);
  assert_int_equal(map_get(&up.data, "big")->via.str.size, sizeof big);
  msgpack_unpacked_destroy(&up);
  rg_buf_free(&b);
}

static void test_proto_write_error_over_cap_leaves_buffer_as_before(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 24);
  assert_int_equal(rg_buf_append(&b, "abc", 3), RG_OK);
  assert_int_equal(
      rg_proto_write_error(&b, true, 1, RG_EBAD_REQUEST, "edges[1].src: expected a string"),
      RG_ETOO_LARGE);
  assert_int_equal(b.len, 3);
  assert_memory_equal(b.data, "abc", 3);
  rg_buf_free(&b);
}

static void test_proto_decoded_reply_round_trips_through_decoder_check(void **state) {
  (void)state;
  /* What the writer emits passes the same structural check requests go through. */
  rg_buf_t b;
  rg_buf_init(&b, 0);
  assert_int_equal(rg_proto_write_error(&b, true, 5, RG_ENOT_A_MAP, "x"), RG_OK);
  uint32_t body = 0;
  assert_int_equal(rg_proto_frame_length(b.data, 1 << 20, &body), RG_OK);
  assert_int_equal(body + RG_FRAME_HEADER, b.len);
  assert_int_equal(rg_proto_check_msgpack(b.data + RG_FRAME_HEADER, body, 16), RG_OK);
  rg_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_proto_frame_length_reads_big_endian_header),
      cmocka_unit_test(test_proto_rejects_oversized_frame_header),
      cmocka_unit_test(test_proto_op_table),
      cmocka_unit_test(test_proto_decodes_ping_and_echoes_id),
      cmocka_unit_test(test_proto_decodes_request_without_id),
      cmocka_unit_test(test_proto_decodes_stats),
      cmocka_unit_test(test_proto_decodes_ingest_edges_and_observations),
      cmocka_unit_test(test_proto_decodes_edge_weight_float32_and_defaults),
      cmocka_unit_test(test_proto_decodes_lookup),
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
      cmocka_unit_test(test_proto_mistyped_edge_fields_name_their_path),
      cmocka_unit_test(test_proto_mistyped_observation_fields_name_their_path),
      cmocka_unit_test(test_proto_mistyped_label_and_actor_fields_name_their_path),
      cmocka_unit_test(test_proto_rejects_oversized_batch),
      cmocka_unit_test(test_proto_rejects_too_many_recipients),
      cmocka_unit_test(test_proto_rejects_deeply_nested_request),
      cmocka_unit_test(test_proto_op_roles_rise_from_none_to_admin),
      cmocka_unit_test(test_proto_decodes_auth_token),
      cmocka_unit_test(test_proto_string_limit_is_configurable),
      cmocka_unit_test(test_proto_nesting_limit_is_configurable),
      cmocka_unit_test(test_proto_check_rejects_huge_declared_array),
      cmocka_unit_test(test_proto_check_limits_nesting_depth),
      cmocka_unit_test(test_proto_check_accepts_every_msgpack_type_and_no_prefix),
      cmocka_unit_test(test_proto_writer_produces_a_decodable_reply),
      cmocka_unit_test(test_proto_writer_appends_frames_after_existing_bytes),
      cmocka_unit_test(test_proto_write_error_frame),
      cmocka_unit_test(test_proto_writer_over_cap_leaves_buffer_as_before),
      cmocka_unit_test(test_proto_write_error_over_cap_leaves_buffer_as_before),
      cmocka_unit_test(test_proto_decoded_reply_round_trips_through_decoder_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
