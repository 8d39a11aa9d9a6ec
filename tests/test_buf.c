/* test_buf.c — the capped byte buffer and the big-endian helpers of buf.c.
 * Single-threaded cmocka tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"

static void test_buf_init_is_empty_and_zero_max_means_no_cap(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 0);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  assert_true(b.max == SIZE_MAX);
  rg_buf_init(&b, 100);
  assert_int_equal(b.max, 100);
  rg_buf_free(&b);
}

static void test_buf_append_grows_and_keeps_bytes(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 0);
  uint8_t chunk[100];
  uint8_t expect[10000];
  for (size_t i = 0; i < sizeof expect; i++) expect[i] = (uint8_t)(i * 7 + 3);
  size_t prev_cap = 0;
  int grew = 0;
  for (size_t off = 0; off < sizeof expect; off += sizeof chunk) {
    memcpy(chunk, expect + off, sizeof chunk);
    assert_int_equal(rg_buf_append(&b, chunk, sizeof chunk), RG_OK);
    assert_int_equal(b.len, off + sizeof chunk);
    assert_true(b.cap >= b.len);
    if (b.cap != prev_cap) grew++;
    prev_cap = b.cap;
  }
  assert_int_equal(b.len, sizeof expect);
  assert_memory_equal(b.data, expect, sizeof expect);
  /* Capacity doubles: growing to 10000 bytes from 256 takes a handful of reallocations. */
  assert_true(grew >= 2 && grew <= 8);
  rg_buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
}

static void test_buf_append_zero_bytes_succeeds(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 4);
  assert_int_equal(rg_buf_append(&b, NULL, 0), RG_OK);
  assert_int_equal(b.len, 0);
  assert_int_equal(rg_buf_append(&b, "abcd", 4), RG_OK);
  assert_int_equal(rg_buf_append(&b, NULL, 0), RG_OK); /* at the cap, nothing to add */
  assert_int_equal(b.len, 4);
  rg_buf_free(&b);
}

static void test_buf_append_past_cap_fails_and_leaves_buffer_unchanged(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 10);
  assert_int_equal(rg_buf_append(&b, "0123456", 7), RG_OK);
  uint8_t *data = b.data;
  size_t cap = b.cap;
  assert_int_equal(rg_buf_append(&b, "abcd", 4), RG_ETOO_LARGE);
  assert_int_equal(b.len, 7);
  assert_ptr_equal(b.data, data);
  assert_int_equal(b.cap, cap);
  assert_memory_equal(b.data, "0123456", 7);
  /* Exactly up to the cap is allowed; one more byte is not. */
  assert_int_equal(rg_buf_append(&b, "abc", 3), RG_OK);
  assert_int_equal(b.len, 10);
  assert_true(b.cap <= 10);
  assert_int_equal(rg_buf_append(&b, "x", 1), RG_ETOO_LARGE);
  assert_int_equal(b.len, 10);
  assert_memory_equal(b.data, "0123456abc", 10);
  rg_buf_free(&b);
}

static void test_buf_reserve_respects_cap(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 1000);
  assert_int_equal(rg_buf_reserve(&b, 1001), RG_ETOO_LARGE);
  assert_null(b.data);
  assert_int_equal(b.cap, 0);
  assert_int_equal(rg_buf_reserve(&b, SIZE_MAX), RG_ETOO_LARGE);
  assert_int_equal(rg_buf_reserve(&b, 1000), RG_OK);
  assert_int_equal(b.len, 0);
  /* Never allocates past the cap even though doubling from 256 would give 1024. */
  assert_int_equal(b.cap, 1000);
  rg_buf_free(&b);
}

static void test_buf_reserve_without_cap_rejects_overflowing_size(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 0);
  assert_int_equal(rg_buf_append(&b, "ab", 2), RG_OK);
  assert_int_equal(rg_buf_reserve(&b, SIZE_MAX), RG_ETOO_LARGE);
  assert_int_equal(b.len, 2);
  assert_memory_equal(b.data, "ab", 2);
  rg_buf_free(&b);
}

static void test_buf_consume_moves_rest_to_front(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 0);
  assert_int_equal(rg_buf_append(&b, "hello world", 11), RG_OK);
  rg_buf_consume(&b, 0);
  assert_int_equal(b.len, 11);
  rg_buf_consume(&b, 6);
  assert_int_equal(b.len, 5);
  assert_memory_equal(b.data, "world", 5);
  rg_buf_consume(&b, 5);
  assert_int_equal(b.len, 0);
  assert_int_equal(rg_buf_append(&b, "xyz", 3), RG_OK);
  rg_buf_consume(&b, 100); /* more than len empties it */
  assert_int_equal(b.len, 0);
  rg_buf_free(&b);
}

static void test_buf_consume_frees_room_under_cap(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 8);
  assert_int_equal(rg_buf_append(&b, "abcdefgh", 8), RG_OK);
  assert_int_equal(rg_buf_append(&b, "i", 1), RG_ETOO_LARGE);
  rg_buf_consume(&b, 3);
  assert_int_equal(rg_buf_append(&b, "ijk", 3), RG_OK);
  assert_int_equal(b.len, 8);
  assert_memory_equal(b.data, "defghijk", 8);
  rg_buf_free(&b);
}

static void test_buf_reset_keeps_small_storage_and_frees_large(void **state) {
  (void)state;
  rg_buf_t b;
  rg_buf_init(&b, 0);
  assert_int_equal(rg_buf_append(&b, "abc", 3), RG_OK);
  size_t cap = b.cap;
  uint8_t *data = b.data;
  rg_buf_reset(&b, 4096);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, cap);
  assert_ptr_equal(b.data, data);

  uint8_t big[5000];
  memset(big, 'z', sizeof big);
  assert_int_equal(rg_buf_append(&b, big, sizeof big), RG_OK);
  assert_true(b.cap > 4096);
  rg_buf_reset(&b, 4096);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  assert_null(b.data);
  /* Still usable, and the cap is kept. */
  assert_int_equal(rg_buf_append(&b, "q", 1), RG_OK);
  assert_int_equal(b.len, 1);
  assert_true(b.max == SIZE_MAX);
  rg_buf_free(&b);
}

static void test_buf_free_accepts_null_and_leaves_buffer_reusable(void **state) {
  (void)state;
  rg_buf_free(NULL);
  rg_buf_t b;
  rg_buf_init(&b, 16);
  rg_buf_free(&b); /* never allocated */
  assert_int_equal(rg_buf_append(&b, "0123456789abcdef", 16), RG_OK);
  rg_buf_free(&b);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.max, 16);
  assert_int_equal(rg_buf_append(&b, "0123456789abcdefg", 17), RG_ETOO_LARGE);
  rg_buf_free(&b);
}

static void test_buf_big_endian_helpers_write_network_order(void **state) {
  (void)state;
  uint8_t p[8];
  rg_put_u16be(p, 0x1234);
  assert_memory_equal(p, "\x12\x34", 2);
  rg_put_u32be(p, 0x89abcdefu);
  assert_memory_equal(p, "\x89\xab\xcd\xef", 4);
  rg_put_u64be(p, UINT64_C(0x0102030405060708));
  assert_memory_equal(p, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  const uint8_t q[8] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
  assert_int_equal(rg_get_u16be(q), 0xfedc);
  assert_int_equal(rg_get_u32be(q), 0xfedcba98u);
  assert_true(rg_get_u64be(q) == UINT64_C(0xfedcba9876543210));
}

static void test_buf_big_endian_helpers_round_trip(void **state) {
  (void)state;
  const uint64_t values[] = {0,
                             1,
                             0x7f,
                             0x80,
                             0xff,
                             0x100,
                             0xffff,
                             0x10000,
                             0x7fffffff,
                             0x80000000,
                             0xffffffff,
                             UINT64_C(0x100000000),
                             UINT64_C(0x8000000000000000),
                             UINT64_MAX};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    uint8_t p[8];
    uint64_t v = values[i];
    rg_put_u16be(p, (uint16_t)v);
    assert_int_equal(rg_get_u16be(p), (uint16_t)v);
    rg_put_u32be(p, (uint32_t)v);
    assert_int_equal(rg_get_u32be(p), (uint32_t)v);
    rg_put_u64be(p, v);
    assert_true(rg_get_u64be(p) == v);
  }
  /* Big-endian keys sort like the numbers they encode. */
  uint8_t a[8], b[8];
  rg_put_u64be(a, 255);
  rg_put_u64be(b, 256);
  assert_true(memcmp(a, b, 8) < 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buf_init_is_empty_and_zero_max_means_no_cap),
      cmocka_unit_test(test_buf_append_grows_and_keeps_bytes),
      cmocka_unit_test(test_buf_append_zero_bytes_succeeds),
      cmocka_unit_test(test_buf_append_past_cap_fails_and_leaves_buffer_unchanged),
      cmocka_unit_test(test_buf_reserve_respects_cap),
      cmocka_unit_test(test_buf_reserve_without_cap_rejects_overflowing_size),
      cmocka_unit_test(test_buf_consume_moves_rest_to_front),
      cmocka_unit_test(test_buf_consume_frees_room_under_cap),
      cmocka_unit_test(test_buf_reset_keeps_small_storage_and_frees_large),
      cmocka_unit_test(test_buf_free_accepts_null_and_leaves_buffer_reusable),
      cmocka_unit_test(test_buf_big_endian_helpers_write_network_order),
      cmocka_unit_test(test_buf_big_endian_helpers_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
