/* proto_mp.h — what the proto tests share: requests built with msgpack-c's packer, the
 * decoder called on them, and assertions on whole-request errors and on marked items.
 * Included by tests/test_proto_*.c only; everything is static inline. */
#ifndef RG_TEST_PROTO_MP_H
#define RG_TEST_PROTO_MP_H

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

static const rg_proto_limits_t LIM __attribute__((unused)) = {
    .max_frame_bytes = 1 << 20,
    .max_batch_items = 100,
    .max_recipients = 10,
};

/* ---- msgpack building ------------------------------------------------------------ */

typedef struct {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} mp_t;

static inline void mp_init(mp_t *m) {
  msgpack_sbuffer_init(&m->sb);
  msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static inline void mp_free(mp_t *m) {
  msgpack_sbuffer_destroy(&m->sb);
}

static inline void ps(mp_t *m, const char *s) {
  msgpack_pack_str_with_body(&m->pk, s, strlen(s));
}
static inline void pu(mp_t *m, uint64_t v) {
  msgpack_pack_uint64(&m->pk, v);
}
static inline void pi(mp_t *m, int64_t v) {
  msgpack_pack_int64(&m->pk, v);
}
static inline void pd(mp_t *m, double v) {
  msgpack_pack_double(&m->pk, v);
}
static inline void pmap(mp_t *m, size_t n) {
  msgpack_pack_map(&m->pk, n);
}
static inline void parr(mp_t *m, size_t n) {
  msgpack_pack_array(&m->pk, n);
}
static inline void pnil(mp_t *m) {
  msgpack_pack_nil(&m->pk);
}

/* Key/value shorthands inside a map. */
static inline void kv_s(mp_t *m, const char *k, const char *v) {
  ps(m, k), ps(m, v);
}
static inline void kv_u(mp_t *m, const char *k, uint64_t v) {
  ps(m, k), pu(m, v);
}

/* Starts a request map of n_fields + 2 entries: id and op first. */
static inline void req_begin(mp_t *m, uint64_t id, const char *op, size_t n_fields) {
  mp_init(m);
  pmap(m, n_fields + 2);
  kv_u(m, "id", id);
  kv_s(m, "op", op);
}

static inline int decode(const mp_t *m, const rg_proto_limits_t *lim, rg_request_t *req,
                         char *err) {
  return rg_proto_decode_request((const uint8_t *)m->sb.data, m->sb.size, lim, req, err, ERRLEN);
}

static inline int decode_bytes(const void *p, size_t n, rg_request_t *req, char *err) {
  return rg_proto_decode_request(p, n, &LIM, req, err, ERRLEN);
}

/* Decodes m with lim; asserts `code` and, if given, that the message contains `want`. */
static inline void expect_error_lim(mp_t *m, const rg_proto_limits_t *lim, int code,
                                    const char *want) {
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

static inline void expect_error(mp_t *m, int code, const char *want) {
  expect_error_lim(m, &LIM, code, want);
}

static inline void assert_str(rg_str_t s, const char *want) {
  if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
    print_error("got '%.*s', want '%s'\n", (int)s.len, s.ptr ? s.ptr : "", want);
  assert_int_equal(s.len, strlen(want));
  assert_memory_equal(s.ptr, want, s.len);
}

/* Decodes m with lim, which must succeed, and checks that item `index` of `kind` ('e' edges,
 * 'o' observations, 'l' labels) is marked with `code` and a message containing `want`, and
 * that every other item of that kind is not marked. */
static inline void expect_item_error_lim(mp_t *m, const rg_proto_limits_t *lim, char kind,
                                         uint32_t index, int code, const char *want) {
  rg_request_t req;
  char err[ERRLEN] = "";
  int rc = decode(m, lim, &req, err);
  if (rc) print_error("got %s (%s), want success with a marked item\n", rg_err_name(rc), err);
  assert_int_equal(rc, RG_OK);
  uint32_t n = kind == 'e' ? req.n_edges : kind == 'o' ? req.n_observations : req.n_labels;
  assert_true(index < n);
  for (uint32_t i = 0; i < n; i++) {
    int invalid = kind == 'e'   ? req.edges[i].invalid
                  : kind == 'o' ? req.observations[i].invalid
                                : req.labels[i].invalid;
    const char *why = kind == 'e'   ? req.edges[i].why
                      : kind == 'o' ? req.observations[i].why
                                    : req.labels[i].why;
    if (i != index) {
      assert_int_equal(invalid, 0);
      continue;
    }
    if (invalid != code || !why || !strstr(why, want))
      print_error("item %u: %s '%s', want %s '%s'\n", i, rg_err_name(invalid), why ? why : "",
                  rg_err_name(code), want);
    assert_int_equal(invalid, code);
    assert_non_null(why);
    assert_non_null(strstr(why, want));
  }
  rg_request_free(&req);
  mp_free(m);
}

static inline void expect_item_error(mp_t *m, char kind, uint32_t index, int code,
                                     const char *want) {
  expect_item_error_lim(m, &LIM, kind, index, code, want);
}

#endif
