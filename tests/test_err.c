/* test_err.c — the error table of err.c: every code has a distinct wire name and a
 * message, success and foreign codes are handled. Single-threaded cmocka tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "repgraph/err.h"

/* Every code of RG_ERRNO_MAP with the strings the table declares for it. */
typedef struct {
  int code;
  const char *wire;
  const char *msg;
} err_row_t;

static const err_row_t rows[] = {
#define ROW(name, wire, msg) {RG_E##name, wire, msg},
    RG_ERRNO_MAP(ROW)
#undef ROW
};
#define N_ROWS (sizeof rows / sizeof rows[0])

static void test_err_codes_are_negative_and_contiguous(void **state) {
  (void)state;
  assert_true(N_ROWS > 0);
  assert_int_equal(N_ROWS, (size_t)(RG__ERR_END - RG__ERR_FIRST - 1));
  for (size_t i = 0; i < N_ROWS; i++) {
    assert_true(rows[i].code < 0);
    assert_int_equal(rows[i].code, RG__ERR_FIRST + 1 + (int)i);
  }
}

static void test_err_every_code_has_its_wire_name_and_message(void **state) {
  (void)state;
  for (size_t i = 0; i < N_ROWS; i++) {
    const char *name = rg_err_name(rows[i].code);
    const char *msg = rg_strerror(rows[i].code);
    assert_non_null(name);
    assert_non_null(msg);
    assert_true(strlen(name) > 0);
    assert_true(strlen(msg) > 0);
    assert_string_equal(name, rows[i].wire);
    assert_string_equal(msg, rows[i].msg);
  }
}

static void test_err_wire_names_and_messages_are_distinct(void **state) {
  (void)state;
  for (size_t i = 0; i < N_ROWS; i++) {
    for (size_t j = i + 1; j < N_ROWS; j++) {
      assert_string_not_equal(rg_err_name(rows[i].code), rg_err_name(rows[j].code));
      assert_string_not_equal(rg_strerror(rows[i].code), rg_strerror(rows[j].code));
    }
  }
}

static void test_err_wire_names_are_lowercase_identifiers(void **state) {
  (void)state;
  /* Clients match on these: keep them to [a-z_]. */
  for (size_t i = 0; i < N_ROWS; i++) {
    for (const char *p = rg_err_name(rows[i].code); *p; p++)
      assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
  }
}

static void test_err_known_codes_map_to_documented_names(void **state) {
  (void)state;
  assert_string_equal(rg_err_name(RG_EBAD_REQUEST), "bad_request");
  assert_string_equal(rg_err_name(RG_ETOO_LARGE), "too_large");
  assert_string_equal(rg_err_name(RG_ESCHEMA), "schema_mismatch");
  assert_string_equal(rg_err_name(RG_ENOMEM), "out_of_memory");
  assert_string_equal(rg_err_name(RG_EINTERNAL), "internal");
  assert_string_equal(rg_strerror(RG_ESTORAGE_FULL), "store reached its configured maximum size");
}

static void test_err_ok_is_success(void **state) {
  (void)state;
  assert_int_equal(RG_OK, 0);
  assert_string_equal(rg_err_name(RG_OK), "ok");
  assert_string_equal(rg_strerror(RG_OK), "success");
}

static void test_err_unknown_codes_are_handled(void **state) {
  (void)state;
  const int unknown[] = {RG__ERR_FIRST,     RG__ERR_END,     RG__ERR_END + 1, -1, -22, 1, 42,
                         RG__ERR_FIRST - 1, -2147483647 - 1, 2147483647};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    const char *name = rg_err_name(unknown[i]);
    const char *msg = rg_strerror(unknown[i]);
    assert_non_null(name);
    assert_non_null(msg);
    assert_string_equal(name, "internal");
    assert_string_equal(msg, "unknown error");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_err_codes_are_negative_and_contiguous),
      cmocka_unit_test(test_err_every_code_has_its_wire_name_and_message),
      cmocka_unit_test(test_err_wire_names_and_messages_are_distinct),
      cmocka_unit_test(test_err_wire_names_are_lowercase_identifiers),
      cmocka_unit_test(test_err_known_codes_map_to_documented_names),
      cmocka_unit_test(test_err_ok_is_success),
      cmocka_unit_test(test_err_unknown_codes_are_handled),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
