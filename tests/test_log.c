/* test_log.c — log.c: level and format names, logfmt and JSON lines (through a test sink),
 * escaping and cutting, actor redaction, request sampling, and the per-second limit on
 * repeated log lines (the clock is passed in, so seconds are chosen by the test).
 * Single-threaded cmocka tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

static char captured[8][4096];
static int n_captured;

static void capture(void *ctx, const char *line, size_t len) {
  (void)ctx;
  if (n_captured < 8) snprintf(captured[n_captured++], sizeof captured[0], "%.*s", (int)len, line);
}

static int with_sink(void **state) {
  (void)state;
  n_captured = 0;
  rg_log_set_sink(capture, NULL);
  rg_log_set_level(RG_LOG_INFO);
  return 0;
}

static int without_sink(void **state) {
  (void)state;
  rg_log_set_sink(NULL, NULL);
  rg_log_set_format(RG_LOG_LOGFMT);
  rg_log_set_actors(false);
  rg_log_set_request_share(0);
  return 0;
}

static void test_log_logfmt_line_has_time_level_and_quoted_message(void **state) {
  (void)state;
  rg_log_set_format(RG_LOG_LOGFMT);
  rg_log_info("listening on %s port %d", "127.0.0.1", 7411);
  rg_log_debug("not written at info");
  assert_int_equal(n_captured, 1);
  assert_true(strncmp(captured[0], "ts=20", 5) == 0);
  assert_non_null(strstr(captured[0], "Z level=info msg=\"listening on 127.0.0.1 port 7411\""));
  const rg_log_field_t f[] = {RG_LOG_STR("op", "check"), RG_LOG_INT("duration_us", 12),
                              RG_LOG_STR("note", "a \"b\"\n"), RG_LOG_STR("empty", "")};
  rg_log_fields(RG_LOG_WARN, "request", f, 4);
  assert_non_null(strstr(captured[1], " level=warn msg=request op=check duration_us=12 "
                                      "note=\"a \\\"b\\\"\\n\" empty=\"\""));
}

static void test_log_json_lines_are_objects_with_escaped_strings(void **state) {
  (void)state;
  rg_log_set_format(RG_LOG_JSON);
  const rg_log_field_t f[] = {RG_LOG_STR("k", "tab\there \x01 \xff bytes"), RG_LOG_INT("n", -3)};
  rg_log_fields(RG_LOG_ERROR, "said \"hi\"", f, 2);
  assert_true(strncmp(captured[0], "{\"ts\":\"20", 8) == 0);
  assert_non_null(strstr(captured[0], "\"level\":\"error\",\"msg\":\"said \\\"hi\\\"\","
                                      "\"k\":\"tab\\there \\u0001 \\ufffd bytes\",\"n\":-3}"));
  assert_int_equal(captured[0][strlen(captured[0]) - 1], '}');
}

static void test_log_cut_json_line_still_closes_its_string_and_object(void **state) {
  (void)state;
  rg_log_set_format(RG_LOG_JSON);
  char big[5000];
  memset(big, '"', sizeof big - 1); /* every byte needs an escape */
  big[sizeof big - 1] = '\0';
  rg_log_info("%s", big);
  size_t n = strlen(captured[0]);
  assert_true(n < 2048);
  assert_string_equal(captured[0] + n - 2, "\"}");
  assert_int_equal(captured[0][n - 3], '"'); /* the last escape is whole: \" then the quote */
  assert_int_equal(captured[0][n - 4], '\\');
}

static void test_log_actors_are_redacted_above_debug_unless_allowed(void **state) {
  (void)state;
  rg_log_set_actors(false);
  assert_string_equal(rg_log_actor(RG_LOG_INFO, "a@b.example"), "[redacted]");
  assert_string_equal(rg_log_actor(RG_LOG_DEBUG, "a@b.example"), "a@b.example");
  rg_log_set_actors(true);
  assert_string_equal(rg_log_actor(RG_LOG_WARN, "a@b.example"), "a@b.example");
  rg_log_set_actors(false);
}

static void test_log_request_sampling_takes_about_the_share(void **state) {
  (void)state;
  rg_log_set_request_share(0);
  for (int i = 0; i < 1000; i++) assert_false(rg_log_request_sampled());
  rg_log_set_request_share(1);
  for (int i = 0; i < 1000; i++) assert_true(rg_log_request_sampled());
  rg_log_set_request_share(0.1);
  int hits = 0;
  for (int i = 0; i < 100000; i++) hits += rg_log_request_sampled();
  assert_true(hits > 9000 && hits < 11000);
  rg_log_set_request_share(0);
}

static void test_log_parses_format_names(void **state) {
  (void)state;
  rg_log_format_t f;
  assert_int_equal(rg_log_format_parse("json", &f), RG_OK);
  assert_int_equal(f, RG_LOG_JSON);
  assert_int_equal(rg_log_format_parse("logfmt", &f), RG_OK);
  assert_int_equal(f, RG_LOG_LOGFMT);
  assert_int_equal(rg_log_format_parse("text", &f), RG_ECONFIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_log_parses_level_names),
      cmocka_unit_test(test_log_limit_counts_the_eleventh_event_of_a_second_without_logging_it),
      cmocka_unit_test(test_log_limit_of_zero_logs_nothing),
      cmocka_unit_test_setup_teardown(test_log_logfmt_line_has_time_level_and_quoted_message,
                                      with_sink, without_sink),
      cmocka_unit_test_setup_teardown(test_log_json_lines_are_objects_with_escaped_strings,
                                      with_sink, without_sink),
      cmocka_unit_test_setup_teardown(test_log_cut_json_line_still_closes_its_string_and_object,
                                      with_sink, without_sink),
      cmocka_unit_test(test_log_actors_are_redacted_above_debug_unless_allowed),
      cmocka_unit_test(test_log_request_sampling_takes_about_the_share),
      cmocka_unit_test(test_log_parses_format_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
