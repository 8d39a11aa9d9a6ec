/* test_text.c — UTF-8 validation and the escaper for client bytes quoted in messages
 * (src/base/text.c). Table-driven; pure functions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "repgraph/text.h"

static void test_text_utf8_validity(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t n;
    bool valid;
  } cases[] = {
      {"", 0, true},
      {"plain ascii", 11, true},
      {"a\0b", 3, true},              /* NUL is U+0000; refused elsewhere */
      {"\xc3\xa9", 2, true},          /* é */
      {"\xe2\x82\xac", 3, true},      /* € */
      {"\xf0\x9f\x98\x80", 4, true},  /* U+1F600 */
      {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF */
      {"\xff", 1, false},             /* never valid */
      {"\xc3", 1, false},             /* truncated */
      {"\xc0\xaf", 2, false},         /* overlong '/' */
      {"\xe0\x80\xaf", 3, false},     /* overlong */
      {"\xed\xa0\x80", 3, false},     /* a surrogate */
      {"\xf4\x90\x80\x80", 4, false}, /* above U+10FFFF */
      {"\xe2\x82", 2, false},         /* truncated € */
      {"ok\x80", 3, false},           /* a stray continuation byte */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    if (rg_utf8_valid(cases[i].s, cases[i].n) != cases[i].valid) print_error("case %zu\n", i);
    assert_int_equal(rg_utf8_valid(cases[i].s, cases[i].n), cases[i].valid);
  }
}

static void test_text_escape_makes_printable_utf8(void **state) {
  (void)state;
  static const struct {
    const char *s;
    size_t n;
    const char *want;
  } cases[] = {
      {"ping", 4, "ping"},
      {"ping\0x", 6, "ping\\x00x"},
      {"\xff\xfe", 2, "\\xff\\xfe"},
      {"a\\b", 3, "a\\\\b"},
      {"tab\there\n", 9, "tab\\x09here\\x0a"},
      {"del\x7f", 4, "del\\x7f"},
      {"caf\xc3\xa9", 5, "caf\xc3\xa9"},      /* valid UTF-8 kept */
      {"\xed\xa0\x80", 3, "\\xed\\xa0\\x80"}, /* a surrogate is hexed byte by byte */
      {"\xc3", 1, "\\xc3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[64];
    assert_ptr_equal(rg_text_escape(out, sizeof out, cases[i].s, cases[i].n), out);
    assert_string_equal(out, cases[i].want);
    assert_true(rg_utf8_valid(out, strlen(out)));
  }
}

static void test_text_escape_truncates_whole_characters(void **state) {
  (void)state;
  char out[8];
  rg_text_escape(out, sizeof out, "abcdefghij", 10);
  assert_string_equal(out, "abcd...");
  rg_text_escape(out, sizeof out, "abcdefg", 7); /* fits exactly */
  assert_string_equal(out, "abcdefg");
  rg_text_escape(out, sizeof out, "\xff\xff\xff", 3); /* never half an escape */
  assert_string_equal(out, "\\xff...");
  rg_text_escape(out, sizeof out, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac", 9);
  assert_string_equal(out, "\xe2\x82\xac...");
  char one[1];
  rg_text_escape(one, sizeof one, "abc", 3);
  assert_string_equal(one, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_utf8_validity),
      cmocka_unit_test(test_text_escape_makes_printable_utf8),
      cmocka_unit_test(test_text_escape_truncates_whole_characters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
