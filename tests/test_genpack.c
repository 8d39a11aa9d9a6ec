/* test_genpack.c — genpack.c: a generation packed, cut into chunks and read back row for row
 * (chunks in any order, repeats harmless), and refused whole when a chunk is missing, cut
 * short, altered, from another generation, or the manifest is forged. Single-threaded
 * cmocka tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/genpack.h"

#define ROWS  500
#define CHUNK 1000

/* A pack of generation 7 at log sequence 42 with ROWS rows of varied sizes, sealed. */
static rg_genpack_t *make(rg_genpack_manifest_t *m) {
  rg_genpack_t *p;
  assert_int_equal(rg_genpack_new(7, 42, 5, &p), RG_OK);
  for (int i = 0; i < ROWS; i++) {
    char key[32], val[200];
    int kl = snprintf(key, sizeof key, "key-%d", i);
    memset(val, 'a' + i % 26, sizeof val);
    assert_int_equal(rg_genpack_add(p, (uint8_t)(i % 7), key, (size_t)kl, val, (size_t)(i % 200)),
                     RG_OK);
  }
  assert_int_equal(rg_genpack_seal(p, CHUNK, m), RG_OK);
  return p;
}

/* A reader of m fed every chunk of p except `skip` (-1: none), last to first. */
static rg_genpack_reader_t *feed(rg_genpack_t *p, const rg_genpack_manifest_t *m, long skip) {
  rg_genpack_reader_t *r;
  assert_int_equal(rg_genpack_reader_new(m, 1 << 24, &r), RG_OK);
  for (long i = (long)m->chunks - 1; i >= 0; i--) {
    const uint8_t *d;
    size_t len;
    assert_int_equal(rg_genpack_chunk(p, (uint32_t)i, &d, &len), RG_OK);
    if (i != skip) assert_int_equal(rg_genpack_reader_add(r, d, len), RG_OK);
  }
  return r;
}

static void test_genpack_round_trip(void **state) {
  (void)state;
  rg_genpack_manifest_t m, m2;
  rg_genpack_t *p = make(&m);
  assert_true(m.chunks > 10);
  assert_int_equal(m.generation, 7);
  uint8_t enc[RG_GENPACK_MANIFEST_LEN];
  m.first_seq = 100, m.last_seq = 100 + m.chunks - 1;
  rg_genpack_manifest_encode(&m, enc);
  assert_int_equal(rg_genpack_manifest_decode(enc, sizeof enc, &m2), RG_OK);
  assert_memory_equal(&m, &m2, sizeof m);
  rg_genpack_reader_t *r = feed(p, &m2, -1);
  const uint8_t *d;
  size_t len;
  assert_int_equal(rg_genpack_chunk(p, 3, &d, &len), RG_OK);
  assert_int_equal(rg_genpack_reader_add(r, d, len), RG_OK); /* a repeat: harmless */
  char err[128] = "";
  assert_int_equal(rg_genpack_reader_verify(r, err, sizeof err), RG_OK);
  for (int pass = 0; pass < 2; pass++) {
    int i = 0;
    uint8_t table;
    const uint8_t *key, *val;
    size_t klen, vlen;
    while (rg_genpack_reader_next(r, &table, &key, &klen, &val, &vlen) == 1) {
      char want[32];
      int kl = snprintf(want, sizeof want, "key-%d", i);
      assert_int_equal(table, i % 7);
      assert_int_equal(klen, (size_t)kl);
      assert_memory_equal(key, want, klen);
      assert_int_equal(vlen, (size_t)(i % 200));
      for (size_t j = 0; j < vlen; j++) assert_int_equal(val[j], 'a' + i % 26);
      i++;
    }
    assert_int_equal(i, ROWS);
    rg_genpack_reader_rewind(r);
  }
  rg_genpack_reader_free(r);
  rg_genpack_free(p);
}

static void test_genpack_missing_chunk_refused(void **state) {
  (void)state;
  rg_genpack_manifest_t m;
  rg_genpack_t *p = make(&m);
  rg_genpack_reader_t *r = feed(p, &m, 4);
  char err[128] = "";
  assert_false(rg_genpack_reader_complete(r));
  assert_int_equal(rg_genpack_reader_verify(r, err, sizeof err), RG_ENOT_FOUND);
  uint8_t table;
  const uint8_t *key, *val;
  size_t klen, vlen;
  assert_int_equal(rg_genpack_reader_next(r, &table, &key, &klen, &val, &vlen), RG_EBAD_REQUEST);
  rg_genpack_reader_free(r);
  rg_genpack_free(p);
}

static void test_genpack_corrupt_or_truncated_chunk_refused(void **state) {
  (void)state;
  rg_genpack_manifest_t m;
  rg_genpack_t *p = make(&m);
  const uint8_t *d;
  size_t len;
  assert_int_equal(rg_genpack_chunk(p, 2, &d, &len), RG_OK);
  uint8_t *bad = malloc(len);
  memcpy(bad, d, len);
  bad[len - 1] ^= 1; /* one bit flipped */
  rg_genpack_reader_t *r = feed(p, &m, 2);
  assert_int_equal(rg_genpack_reader_add(r, bad, len), RG_OK);
  char err[128] = "";
  assert_int_equal(rg_genpack_reader_verify(r, err, sizeof err), RG_EBAD_REQUEST);
  assert_non_null(strstr(err, "checksum"));
  rg_genpack_reader_free(r);

  r = feed(p, &m, 2); /* cut short: the reader has a hole, the checksum says so */
  assert_int_equal(rg_genpack_reader_add(r, d, len - 10), RG_OK);
  assert_int_equal(rg_genpack_reader_verify(r, err, sizeof err), RG_EBAD_REQUEST);
  assert_int_equal(rg_genpack_reader_add(r, d, 5), RG_ENOT_FOUND); /* not even a head */
  rg_genpack_reader_free(r);

  r = feed(p, &m, 2); /* a chunk claiming more bytes than the pack has */
  memcpy(bad, d, len);
  bad[17 + 7] = 0xff, bad[17 + 6] = 0xff; /* offset */
  assert_int_equal(rg_genpack_reader_add(r, bad, len), RG_EBAD_REQUEST);
  rg_genpack_reader_free(r);
  free(bad);
  rg_genpack_free(p);
}

static void test_genpack_forged_manifest_refused(void **state) {
  (void)state;
  rg_genpack_manifest_t m;
  rg_genpack_t *p = make(&m);
  rg_genpack_manifest_t forged = m;
  forged.sum[0] ^= 0x80;
  rg_genpack_reader_t *r = feed(p, &forged, -1);
  char err[128] = "";
  assert_int_equal(rg_genpack_reader_verify(r, err, sizeof err), RG_EBAD_REQUEST);
  rg_genpack_reader_free(r);
  forged = m; /* another generation's chunks are not this one's */
  forged.generation = 8;
  assert_int_equal(rg_genpack_reader_new(&forged, 1 << 24, &r), RG_OK);
  const uint8_t *d;
  size_t len;
  assert_int_equal(rg_genpack_chunk(p, 0, &d, &len), RG_OK);
  assert_int_equal(rg_genpack_reader_add(r, d, len), RG_ENOT_FOUND);
  rg_genpack_reader_free(r);
  forged = m; /* too large to be taken, and a manifest of the wrong size */
  assert_int_equal(rg_genpack_reader_new(&forged, m.total - 1, &r), RG_EBAD_REQUEST);
  uint8_t enc[RG_GENPACK_MANIFEST_LEN];
  rg_genpack_manifest_encode(&m, enc);
  assert_int_equal(rg_genpack_manifest_decode(enc, sizeof enc - 1, &forged), RG_EBAD_REQUEST);
  enc[0] = 9;
  assert_int_equal(rg_genpack_manifest_decode(enc, sizeof enc, &forged), RG_EBAD_REQUEST);
  rg_genpack_free(p);
}

static void test_genpack_row_limits(void **state) {
  (void)state;
  rg_genpack_t *p;
  rg_genpack_manifest_t m;
  assert_int_equal(rg_genpack_new(1, 0, 5, &p), RG_OK);
  char key[RG_GENPACK_MAX_KEY + 1] = {0};
  assert_int_equal(rg_genpack_add(p, 1, key, sizeof key, NULL, 0), RG_ETOO_LARGE);
  assert_int_equal(rg_genpack_seal(p, 0, &m), RG_EBAD_REQUEST);
  assert_int_equal(rg_genpack_seal(p, 64, &m), RG_OK); /* an empty pack: one chunk, its head */
  assert_int_equal(m.chunks, 1);
  rg_genpack_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_genpack_round_trip),
      cmocka_unit_test(test_genpack_missing_chunk_refused),
      cmocka_unit_test(test_genpack_corrupt_or_truncated_chunk_refused),
      cmocka_unit_test(test_genpack_forged_manifest_refused),
      cmocka_unit_test(test_genpack_row_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
