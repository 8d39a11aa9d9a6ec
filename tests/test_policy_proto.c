/* test_policy_proto.c — the Postfix policy request parser (policy_proto.c): a table of
 * inputs with the requests or the error they must give, each fed whole and byte by byte,
 * then pipelining, limits and the sticky error. Single-threaded cmocka tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/policy_proto.h"

/* Feeds `in` in chunks of `chunk` bytes (0 = whole); writes every request as
 * "name=value;...|" to out and returns the first error (0 if none). */
static int parse_all(const rg_policy_limits_t *lim, const char *in, size_t len, size_t chunk,
                     char *out, size_t cap) {
  rg_policy_parser_t *p;
  assert_int_equal(rg_policy_parser_new(lim, &p), RG_OK);
  out[0] = '\0';
  size_t off = 0;
  int rc = RG_OK;
  while (off < len && !rc) {
    size_t n = chunk && len - off > chunk ? chunk : len - off;
    size_t pos = 0;
    while (pos < n && !rc) {
      size_t used;
      const rg_policy_request_t *req;
      char err[128];
      rc = rg_policy_parser_feed(p, (const uint8_t *)in + off + pos, n - pos, &used, &req, err,
                                 sizeof err);
      assert_true(used > 0 && used <= n - pos);
      if (rc) assert_true(err[0] != '\0');
      pos += used;
      if (req) {
        for (uint32_t i = 0; i < req->n_attrs; i++)
          snprintf(out + strlen(out), cap - strlen(out), "%s=%s;", req->attrs[i].name,
                   req->attrs[i].value);
        snprintf(out + strlen(out), cap - strlen(out), "|");
      }
    }
    off += n;
  }
  rg_policy_parser_free(p);
  return rc;
}

typedef struct {
  const char *name, *in;
  int rc;
  const char *requests;
} case_t;

static const case_t cases[] = {
    {"one request", "request=smtpd_access_policy\nprotocol_state=RCPT\n\n", 0,
     "request=smtpd_access_policy;protocol_state=RCPT;|"},
    {"two pipelined", "a=1\n\nb=2\nc=\n\n", 0, "a=1;|b=2;c=;|"},
    {"crlf lines", "a=1\r\nb=x y\r\n\r\n", 0, "a=1;b=x y;|"},
    {"value with '='", "sasl=a=b\n\n", 0, "sasl=a=b;|"},
    {"empty request", "\n", 0, "|"},
    {"incomplete request is held back", "a=1\nb=2\n", 0, ""},
    {"line without '='", "a=1\ngarbage\n\n", RG_EBAD_REQUEST, ""},
    {"empty name", "=x\n\n", RG_EBAD_REQUEST, ""},
    {"name with a space", "a b=x\n\n", RG_EBAD_REQUEST, ""},
    {"binary name", "\x01\x02=x\n\n", RG_EBAD_REQUEST, ""},
    {"request before garbage still answered", "a=1\n\n\x16\x03\x01 hello\n", RG_EBAD_REQUEST,
     "a=1;|"},
};

static void test_policy_proto_table_whole_and_bytewise(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (size_t chunk = 0; chunk <= 3; chunk++) {
      char out[1024];
      int rc = parse_all(NULL, cases[i].in, strlen(cases[i].in), chunk, out, sizeof out);
      if (rc != cases[i].rc || strcmp(out, cases[i].requests) != 0)
        fail_msg("case '%s' chunk %zu: rc %d, requests '%s'", cases[i].name, chunk, rc, out);
    }
  }
}

static void test_policy_proto_rejects_nul_byte(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(parse_all(NULL, "a=b\0c\n\n", 7, 0, out, sizeof out), RG_EBAD_REQUEST);
}

static void test_policy_proto_limits_line_length(void **state) {
  (void)state;
  rg_policy_limits_t lim = {.max_line = 8};
  char out[256];
  assert_int_equal(parse_all(&lim, "abc=1234\n\n", 10, 0, out, sizeof out), 0); /* exactly 8 */
  assert_string_equal(out, "abc=1234;|");
  assert_int_equal(parse_all(&lim, "abc=1234\r\n\n", 11, 0, out, sizeof out), 0);
  assert_int_equal(parse_all(&lim, "abc=12345\n\n", 11, 1, out, sizeof out), RG_ETOO_LARGE);
}

static void test_policy_proto_overlong_line_fails_before_newline(void **state) {
  (void)state;
  rg_policy_parser_t *p;
  rg_policy_limits_t lim = {.max_line = 100};
  assert_int_equal(rg_policy_parser_new(&lim, &p), RG_OK);
  char line[1000];
  memset(line, 'x', sizeof line);
  size_t used;
  const rg_policy_request_t *req;
  char err[128];
  assert_int_equal(
      rg_policy_parser_feed(p, (uint8_t *)line, sizeof line, &used, &req, err, sizeof err),
      RG_ETOO_LARGE);
  assert_int_equal(used, 101);
  assert_null(req);
  /* the error is sticky */
  assert_int_equal(rg_policy_parser_feed(p, (uint8_t *)"\n\n", 2, &used, &req, err, sizeof err),
                   RG_ETOO_LARGE);
  rg_policy_parser_free(p);
}

static void test_policy_proto_limits_attribute_count(void **state) {
  (void)state;
  size_t cap = 10000 * 8 + 2;
  char *in = malloc(cap), out[64];
  size_t len = 0;
  for (int i = 0; i < 10000; i++) len += (size_t)snprintf(in + len, cap - len, "a%d=1\n", i % 10);
  in[len++] = '\n';
  rg_policy_limits_t lim = {.max_request = 1 << 20};
  assert_int_equal(parse_all(&lim, in, len, 0, out, sizeof out), RG_ETOO_LARGE);
  lim.max_attrs = 10000;
  char *big = malloc(200000);
  assert_int_equal(parse_all(&lim, in, len, 0, big, 200000), 0);
  free(big);
  free(in);
}

static void test_policy_proto_limits_request_size(void **state) {
  (void)state;
  rg_policy_limits_t lim = {.max_request = 12};
  char out[64];
  assert_int_equal(parse_all(&lim, "a=1\nb=2\nc=3\n\n", 13, 0, out, sizeof out), RG_ETOO_LARGE);
  assert_int_equal(parse_all(&lim, "a=1\nb=2\nc=\n\n", 12, 0, out, sizeof out), 0);
  /* the limit is per request: many small pipelined requests are fine */
  assert_int_equal(parse_all(&lim, "a=1\n\na=2\n\na=3\n\na=4\n\n", 20, 0, out, sizeof out), 0);
  assert_string_equal(out, "a=1;|a=2;|a=3;|a=4;|");
}

static void test_policy_proto_get_and_partial(void **state) {
  (void)state;
  rg_policy_parser_t *p;
  assert_int_equal(rg_policy_parser_new(NULL, &p), RG_OK);
  assert_false(rg_policy_parser_partial(p));
  const char *in = "sender=a@x.example\nsender=b@x.example\nrecipient=c@y.example\n";
  size_t used;
  const rg_policy_request_t *req;
  char err[128];
  assert_int_equal(
      rg_policy_parser_feed(p, (const uint8_t *)in, strlen(in), &used, &req, err, sizeof err),
      RG_OK);
  assert_null(req);
  assert_true(rg_policy_parser_partial(p));
  assert_int_equal(rg_policy_parser_feed(p, (const uint8_t *)"\n", 1, &used, &req, err, sizeof err),
                   RG_OK);
  assert_non_null(req);
  assert_false(rg_policy_parser_partial(p));
  assert_string_equal(rg_policy_request_get(req, "sender"), "a@x.example"); /* first wins */
  assert_string_equal(rg_policy_request_get(req, "recipient"), "c@y.example");
  assert_null(rg_policy_request_get(req, "instance"));
  rg_policy_parser_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_proto_table_whole_and_bytewise),
      cmocka_unit_test(test_policy_proto_rejects_nul_byte),
      cmocka_unit_test(test_policy_proto_limits_line_length),
      cmocka_unit_test(test_policy_proto_overlong_line_fails_before_newline),
      cmocka_unit_test(test_policy_proto_limits_attribute_count),
      cmocka_unit_test(test_policy_proto_limits_request_size),
      cmocka_unit_test(test_policy_proto_get_and_partial),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
