/* test_json.c — JSON ⇄ msgpack transcoding used by the client (src/client/transcode.c). */
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/transcode.h"
#include "testutil.h"

/* JSON text → msgpack (through the writer) → JSON value. */
static rg_json_t *roundtrip(const char *text) {
  rg_json_t *in, *out;
  char err[128];
  assert_int_equal(rg_json_parse(text, strlen(text), &in, err, sizeof err), RG_OK);
  rg_buf_t buf;
  rg_buf_init(&buf, 0);
  rg_wr_t w;
  rg_wr_init(&w, &buf);
  rg_json_write_msgpack(in, &w);
  assert_int_equal(w.err, RG_OK);
  assert_int_equal(rg_json_from_msgpack(buf.data, buf.len, &out), RG_OK);
  rg_json_free(in);
  rg_buf_free(&buf);
  return out;
}

static void test_json_roundtrip_keeps_types_and_order(void **state) {
  (void)state;
  rg_json_t *j =
      roundtrip("{\"b\": 1, \"a\": [-5, 2.5, true, null, \"x\"], \"big\": 1800000000000}");
  rg_buf_t out;
  rg_buf_init(&out, 0);
  assert_int_equal(rg_json_dump(j, false, &out), RG_OK);
  assert_int_equal(rg_buf_append(&out, "", 1), RG_OK);
  assert_string_equal((char *)out.data,
                      "{\"b\":1,\"a\":[-5,2.5,true,null,\"x\"],\"big\":1800000000000}");
  assert_int_equal(rg_json_int(rg_json_get(j, "big")), 1800000000000LL);
  assert_int_equal(rg_json_size(rg_json_get(j, "a")), 5);
  assert_string_equal(rg_json_str(rg_json_at(rg_json_get(j, "a"), 4)), "x");
  rg_buf_free(&out);
  rg_json_free(j);
}

/* Found by fuzz/fuzz_transcode: empty strings vanished (msgpack-c gives them a NULL
 * pointer) and map keys were cut at 255 bytes. */
static void test_json_roundtrip_keeps_empty_strings_and_long_keys(void **state) {
  (void)state;
  char text[1024], key[301];
  memset(key, 'k', 300);
  key[300] = '\0';
  snprintf(text, sizeof text, "{\"note\": \"\", \"a\": [\"\"], \"%s\": 1, \"\": 2}", key);
  rg_json_t *j = roundtrip(text);
  assert_string_equal(rg_json_str(rg_json_get(j, "note")), "");
  assert_non_null(rg_json_get(j, "note"));
  assert_int_equal(rg_json_size(rg_json_get(j, "a")), 1);
  assert_int_equal(rg_json_int(rg_json_get(j, key)), 1);
  assert_int_equal(rg_json_int(rg_json_get(j, "")), 2);
  rg_json_free(j);
  j = roundtrip("\"\"");
  assert_string_equal(rg_json_str(j), "");
  rg_json_free(j);
}

static void test_json_parse_error_names_column(void **state) {
  (void)state;
  rg_json_t *j = NULL;
  char err[128];
  assert_int_equal(rg_json_parse("{\"a\": }", 7, &j, err, sizeof err), RG_EBAD_REQUEST);
  assert_null(j);
  assert_non_null(strstr(err, "column"));
}

static void test_json_has_finds_object_keys_only(void **state) {
  (void)state;
  rg_json_t *j;
  char err[64];
  assert_int_equal(rg_json_parse("{\"src\": \"x\"}", 12, &j, err, sizeof err), RG_OK);
  assert_true(rg_json_has(j, "src"));
  assert_false(rg_json_has(j, "sender"));
  rg_json_free(j);
  assert_int_equal(rg_json_parse("[\"src\"]", 7, &j, err, sizeof err), RG_OK);
  assert_false(rg_json_has(j, "src"));
  rg_json_free(j);
}

static void test_text_output_indents_and_hides_id(void **state) {
  (void)state;
  rg_json_t *j = roundtrip(
      "{\"id\": 7, \"known\": true, \"label\": null, \"deg\": {\"mailed\": 2}, \"r\": [{\"x\": "
      "1}]}");
  rg_buf_t out;
  rg_buf_init(&out, 0);
  assert_int_equal(rg_json_text(j, &out), RG_OK);
  assert_int_equal(rg_buf_append(&out, "", 1), RG_OK);
  assert_string_equal((char *)out.data,
                      "known: yes\nlabel: -\ndeg:\n  mailed: 2\nr:\n  -\n    x: 1\n");
  rg_buf_free(&out);
  rg_json_free(j);
}

static void test_from_msgpack_rejects_garbage(void **state) {
  (void)state;
  rg_json_t *j = NULL;
  assert_int_equal(rg_json_from_msgpack("\xc1", 1, &j), RG_ENOT_A_MAP);
  assert_int_equal(rg_json_from_msgpack("\x92\x01", 2, &j), RG_ENOT_A_MAP); /* truncated */
  assert_null(j);
}

/* A reply can carry bytes that are not UTF-8 (echoed client input) and a NaN: jansson
 * refused to dump such a value, and the CLI printed nothing. */
static void test_from_msgpack_escapes_invalid_utf8_and_nulls_nan(void **state) {
  (void)state;
  /* {"actor": "a\xff\\b", "k\xfe": 1, "ok": "é", "x": NaN} */
  static const char mp[] =
      "\x84\xa5"
      "actor"
      "\xa4"
      "a\xff\\b"
      "\xa2"
      "k\xfe"
      "\x01"
      "\xa2"
      "ok"
      "\xa2\xc3\xa9"
      "\xa1"
      "x"
      "\xcb\x7f\xf8\0\0\0\0\0\0";
  rg_json_t *j = NULL;
  assert_int_equal(rg_json_from_msgpack(mp, sizeof mp - 1, &j), RG_OK);
  rg_buf_t out;
  rg_buf_init(&out, 0);
  assert_int_equal(rg_json_dump(j, false, &out), RG_OK);
  assert_int_equal(rg_buf_append(&out, "", 1), RG_OK);
  assert_string_equal(
      (char *)out.data,
      "{\"actor\":\"a\\\\xff\\\\\\\\b\",\"k\\\\xfe\":1,\"ok\":\"\xc3\xa9\",\"x\":null}");
  out.len = 0;
  assert_int_equal(rg_json_text(j, &out), RG_OK);
  assert_int_equal(rg_buf_append(&out, "", 1), RG_OK);
  assert_string_equal((char *)out.data, "actor: a\\xff\\\\b\nk\\xfe: 1\nok: \xc3\xa9\nx: -\n");
  rg_buf_free(&out);
  rg_json_free(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_roundtrip_keeps_types_and_order),
      cmocka_unit_test(test_json_roundtrip_keeps_empty_strings_and_long_keys),
      cmocka_unit_test(test_json_parse_error_names_column),
      cmocka_unit_test(test_json_has_finds_object_keys_only),
      cmocka_unit_test(test_text_output_indents_and_hides_id),
      cmocka_unit_test(test_from_msgpack_rejects_garbage),
      cmocka_unit_test(test_from_msgpack_escapes_invalid_utf8_and_nulls_nan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
