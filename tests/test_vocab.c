/* test_vocab.c — the domain's words of vocab.c: verdict, label source and band names, their
 * parsing, and the label sources' default weights. Single-threaded cmocka tests, no store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "repgraph/err.h"
#include "repgraph/vocab.h"

static void test_vocab_names_parse_and_default_weights(void **state) {
  (void)state;
  assert_string_equal(rg_verdict_name(RG_VERDICT_BAD), "bad");
  assert_string_equal(rg_verdict_name(RG_VERDICT_GOOD), "good");
  assert_null(rg_verdict_name(0));
  assert_null(rg_verdict_name(3));
  rg_verdict_t v;
  assert_int_equal(rg_verdict_parse("good", 4, &v), RG_OK);
  assert_int_equal(v, RG_VERDICT_GOOD);
  assert_int_equal(rg_verdict_parse("goo", 3, &v), RG_EINVALID_LABEL);
  assert_int_equal(rg_verdict_parse("goods", 5, &v), RG_EINVALID_LABEL);
  assert_string_equal(rg_label_source_name(RG_SOURCE_USER_REPORT), "user_report");
  assert_null(rg_label_source_name(6));
  rg_label_source_t src;
  assert_int_equal(rg_label_source_parse("spam_trap", 9, &src), RG_OK);
  assert_int_equal(src, RG_SOURCE_SPAM_TRAP);
  assert_int_equal(rg_label_source_parse("Spam_trap", 9, &src), RG_EINVALID_LABEL);
  assert_float_equal(rg_label_source_weight(RG_SOURCE_ANALYST), 1.0, 0);
  assert_float_equal(rg_label_source_weight(RG_SOURCE_USER_REPORT), 0.3, 0);
  assert_float_equal(rg_label_source_weight(RG_SOURCE_FEED), 0.5, 0);
  assert_float_equal(rg_label_source_weight((rg_label_source_t)0), 0, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vocab_names_parse_and_default_weights),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
