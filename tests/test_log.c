/* test_log.c — log.c: level names and the per-second limit on repeated log lines (the
 * clock is passed in, so seconds are chosen by the test). Single-threaded cmocka tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"

static void test_log_parses_level_names(void **state) {
  (void)state;
  rg_log_level_t l;
  assert_int_equal(rg_log_level_parse("warn", &l), RG_OK);
  assert_int_equal(l, RG_LOG_WARN);
  assert_int_equal(rg_log_level_parse("loud", &l), RG_ECONFIG);
}

static void test_log_limit_counts_the_eleventh_event_of_a_second_without_logging_it(void **state) {
  (void)state;
  rg_log_limit_t lim = {0};
  rg_clock_pin(1800000000); /* the server passes rg_clock_now(); a pinned clock here */
  for (int i = 0; i < 10; i++) assert_true(rg_log_limit_take(&lim, rg_clock_now(), 10));
  assert_int_equal(lim.suppressed, 0);
  assert_false(rg_log_limit_take(&lim, rg_clock_now(), 10)); /* the 11th: counted only */
  assert_int_equal(lim.suppressed, 1);
  assert_false(rg_log_limit_take(&lim, rg_clock_now(), 10));
  assert_int_equal(lim.suppressed, 2);
  rg_clock_pin(1800000001); /* the next second logs again and keeps the count */
  assert_true(rg_log_limit_take(&lim, rg_clock_now(), 10));
  assert_int_equal(lim.suppressed, 2);
  rg_clock_pin(0);
}

static void test_log_limit_of_zero_logs_nothing(void **state) {
  (void)state;
  rg_log_limit_t lim = {0};
  assert_false(rg_log_limit_take(&lim, 5, 0));
  assert_false(rg_log_limit_take(&lim, 6, 0));
  assert_int_equal(lim.suppressed, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_log_parses_level_names),
      cmocka_unit_test(test_log_limit_counts_the_eleventh_event_of_a_second_without_logging_it),
      cmocka_unit_test(test_log_limit_of_zero_logs_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
