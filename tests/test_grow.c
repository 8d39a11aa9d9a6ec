/* test_grow.c — the array growth rule of grow.c: doubling from RG_GROW_FIRST, elements kept,
 * nothing done when the room is there, and overflow refused with the array left as it was.
 * Single-threaded cmocka tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "repgraph/err.h"
#include "repgraph/grow.h"

static void test_grow_empty_array_gets_first_capacity(void **state) {
  (void)state;
  uint32_t *v = NULL;
  size_t cap = 0;
  assert_int_equal(rg_grow((void **)&v, &cap, 1, sizeof *v), RG_OK);
  assert_non_null(v);
  assert_int_equal(cap, RG_GROW_FIRST);
  v[RG_GROW_FIRST - 1] = 7; /* the whole capacity is usable (ASan checks) */
  free(v);
}

static void test_grow_doubles_until_need_fits(void **state) {
  (void)state;
  uint64_t *v = NULL;
  size_t cap = 0;
  assert_int_equal(rg_grow((void **)&v, &cap, 1000, sizeof *v), RG_OK);
  assert_int_equal(cap, 1024); /* 16 doubled six times */
  assert_int_equal(rg_grow((void **)&v, &cap, 1025, sizeof *v), RG_OK);
  assert_int_equal(cap, 2048);
  assert_int_equal(rg_grow((void **)&v, &cap, 5000, sizeof *v), RG_OK);
  assert_int_equal(cap, 8192);
  v[cap - 1] = 1;
  free(v);
}

static void test_grow_one_at_a_time_keeps_elements(void **state) {
  (void)state;
  uint32_t *v = NULL;
  size_t cap = 0, reallocs = 0;
  for (uint32_t i = 0; i < 10000; i++) {
    size_t before = cap;
    assert_int_equal(rg_grow((void **)&v, &cap, (size_t)i + 1, sizeof *v), RG_OK);
    if (cap != before) reallocs++;
    assert_true(cap >= (size_t)i + 1);
    v[i] = i * 3u + 1;
  }
  for (uint32_t i = 0; i < 10000; i++) assert_int_equal(v[i], i * 3u + 1);
  assert_int_equal(reallocs, 11); /* 16, 32, …, 16384: amortised, not one per element */
  free(v);
}

static void test_grow_does_nothing_when_room_is_there(void **state) {
  (void)state;
  char *v = NULL;
  size_t cap = 0;
  assert_int_equal(rg_grow((void **)&v, &cap, 20, 1), RG_OK);
  char *before = v;
  assert_int_equal(cap, 32);
  assert_int_equal(rg_grow((void **)&v, &cap, 32, 1), RG_OK);
  assert_int_equal(rg_grow((void **)&v, &cap, 0, 1), RG_OK);
  assert_ptr_equal(v, before);
  assert_int_equal(cap, 32);
  free(v);
}

static void test_grow_refuses_overflow_and_leaves_array(void **state) {
  (void)state;
  uint64_t *v = NULL;
  size_t cap = 0;
  assert_int_equal(rg_grow((void **)&v, &cap, 3, sizeof *v), RG_OK);
  v[0] = 42;
  uint64_t *before = v;
  /* need × elem_size passes SIZE_MAX: refused before any allocation. */
  assert_int_equal(rg_grow((void **)&v, &cap, SIZE_MAX / sizeof *v + 1, sizeof *v), RG_ENOMEM);
  assert_ptr_equal(v, before);
  assert_int_equal(cap, RG_GROW_FIRST);
  assert_int_equal(v[0], 42);
  /* Doubling would pass SIZE_MAX: the rule falls back to need itself, which still overflows
   * the byte count here. */
  assert_int_equal(rg_grow((void **)&v, &cap, SIZE_MAX, 2), RG_ENOMEM);
  assert_ptr_equal(v, before);
  assert_int_equal(cap, RG_GROW_FIRST);
  free(v);
}

static void test_grow_refuses_zero_element_size(void **state) {
  (void)state;
  void *v = NULL;
  size_t cap = 0;
  assert_int_equal(rg_grow(&v, &cap, 1, 0), RG_EINTERNAL);
  assert_null(v);
  assert_int_equal(cap, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grow_empty_array_gets_first_capacity),
      cmocka_unit_test(test_grow_doubles_until_need_fits),
      cmocka_unit_test(test_grow_one_at_a_time_keeps_elements),
      cmocka_unit_test(test_grow_does_nothing_when_room_is_there),
      cmocka_unit_test(test_grow_refuses_overflow_and_leaves_array),
      cmocka_unit_test(test_grow_refuses_zero_element_size),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
