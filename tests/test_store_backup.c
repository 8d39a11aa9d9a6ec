/* test_store_backup.c — backups of the store (store_backup.c): the compacted copy with its
 * manifest, renamed into place; its check (a damaged copy, a wrong manifest); its restore
 * (into a new directory only); the manifest parser on bad input. Single-threaded cmocka
 * tests on a fresh store in a temporary directory (testutil_store.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repgraph/err.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define NOW 1700000000

/* 300 actors, 299 edges, one label. */
static void fill(rg_test_store_t *f) {
  rg_txn_t *t = rg_test_wbegin(f);
  char key[64];
  uint64_t prev = 0;
  for (int i = 0; i < 300; i++) {
    snprintf(key, sizeof key, "u%d@example.org", i);
    uint64_t id = rg_test_upsert(t, RG_ACTOR_ADDRESS, key, NOW + i);
    if (prev)
      assert_int_equal(rg_store_add_edge(t, prev, RG_EDGE_MAILED, id, NOW + i, 1, 1), RG_OK);
    prev = id;
  }
  rg_label_t l = {.verdict = RG_VERDICT_BAD, .source = RG_SOURCE_ANALYST, .weight = 1, .ts = NOW};
  assert_int_equal(rg_store_put_label(t, prev, &l), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);
}

static char *path_in(const rg_test_store_t *f, const char *name) {
  char *p = malloc(strlen(f->dir) + strlen(name) + 2);
  sprintf(p, "%s/%s", f->dir, name);
  return p;
}

static void test_backup_writes_a_copy_with_its_manifest_and_restores_it(void **state) {
  rg_test_store_t *f = *state;
  fill(f);
  char err[512], *dest = path_in(f, "backup1"), *partial = path_in(f, "backup1.partial");
  char *restored = path_in(f, "restored");
  rg_backup_manifest_t m, v, r;
  assert_int_equal(rg_store_backup(f->s, dest, false, &m, err, sizeof err), RG_OK);
  struct stat st;
  assert_int_equal(stat(partial, &st), -1); /* renamed away */
  assert_int_equal(m.schema_version, RG_STORE_SCHEMA_VERSION);
  assert_int_equal(m.counts.actors[RG_ACTOR_ADDRESS], 300);
  assert_int_equal(m.counts.edges[RG_EDGE_MAILED], 299);
  assert_int_equal(m.counts.labels, 1);
  assert_int_equal(m.max_actor_id, 300);
  assert_int_equal(m.newest_edge_ts, NOW + 299);
  assert_int_equal(strlen(m.checksum), RG_BACKUP_SUM_HEX);

  assert_int_equal(rg_store_backup_verify(dest, &v, err, sizeof err), RG_OK);
  assert_string_equal(v.checksum, m.checksum);
  assert_memory_equal(&v.counts, &m.counts, sizeof m.counts);
  /* a second backup to the same place is refused: backups go to new directories */
  assert_int_equal(rg_store_backup(f->s, dest, false, &v, err, sizeof err), RG_EIO);

  assert_int_equal(rg_store_restore(dest, restored, &r, err, sizeof err), RG_OK);
  rg_test_store_t g;
  snprintf(g.dir, sizeof g.dir, "%s", restored);
  assert_int_equal(rg_test_store_open(&g, 1 << 22, 1 << 26), RG_OK);
  rg_txn_t *t = rg_test_rbegin(&g);
  rg_store_counts_t c = rg_test_counts(t);
  assert_memory_equal(&c, &m.counts, sizeof c);
  uint64_t id;
  rg_actor_t a = rg_test_actor(RG_ACTOR_ADDRESS, "u299@example.org");
  assert_int_equal(rg_store_find_actor(t, &a, &id), RG_OK);
  rg_label_t l;
  assert_int_equal(rg_store_get_label(t, id, &l), RG_OK);
  rg_store_end(t);
  rg_store_close(g.s);

  /* restoring over a directory that holds anything is refused */
  assert_int_equal(rg_store_restore(dest, restored, &r, err, sizeof err), RG_EIO);
  assert_non_null(strstr(err, "not empty"));
  free(dest), free(partial), free(restored);
}

/* Flips one byte of a file in place. */
static void flip_byte(const char *path, off_t at) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  unsigned char b;
  assert_int_equal(pread(fd, &b, 1, at), 1);
  b ^= 0x5a;
  assert_int_equal(pwrite(fd, &b, 1, at), 1);
  close(fd);
}

static void test_backup_verify_refuses_a_damaged_copy_and_restore_leaves_no_store(void **state) {
  rg_test_store_t *f = *state;
  fill(f);
  char err[512], *dest = path_in(f, "b"), *restored = path_in(f, "r");
  char data[600];
  rg_backup_manifest_t m;
  assert_int_equal(rg_store_backup(f->s, dest, false, &m, err, sizeof err), RG_OK);
  snprintf(data, sizeof data, "%s/%s", dest, RG_BACKUP_DATA);
  flip_byte(data, 4096 + 100);
  assert_int_equal(rg_store_backup_verify(dest, &m, err, sizeof err), RG_ESCHEMA);
  assert_non_null(strstr(err, "damaged"));
  assert_int_equal(rg_store_restore(dest, restored, &m, err, sizeof err), RG_ESCHEMA);
  struct stat st;
  assert_int_equal(stat(restored, &st), -1); /* nothing was created */
  free(dest), free(restored);
}

static void test_backup_manifest_round_trips_and_rejects_bad_fields(void **state) {
  (void)state;
  rg_backup_manifest_t m;
  memset(&m, 0, sizeof m); /* padding too: compared whole below */
  m.schema_version = 4, m.generation = 9, m.max_actor_id = 77;
  m.newest_edge_ts = NOW, m.created_at = NOW + 5, m.data_bytes = 8192;
  memset(m.checksum, 'a', RG_BACKUP_SUM_HEX);
  m.counts.actors[RG_ACTOR_IP] = 3;
  m.counts.edges[RG_EDGE_HELO] = 4;
  m.counts.labels = 2;
  char text[4096], err[256];
  size_t n = rg_store_manifest_format(&m, text, sizeof text);
  assert_true(n > 0);
  rg_backup_manifest_t back;
  assert_int_equal(rg_store_manifest_parse(text, n, &back, err, sizeof err), RG_OK);
  assert_memory_equal(&back, &m, sizeof m);
  assert_int_equal(rg_store_manifest_format(&m, text, 64), 0); /* does not fit */

  static const char *const bad[] = {
      "",
      "[]",
      "{\"format\":\"other\"}",
      "{\"format\":\"repgraph-backup\",\"format_version\":2}",
      "{\"format\":\"repgraph-backup\",\"format_version\":1,\"schema_version\":-1}",
      "{\"format\":\"repgraph-backup\",\"format_version\":1,\"format\":\"repgraph-backup\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(rg_store_manifest_parse(bad[i], strlen(bad[i]), &back, err, sizeof err),
                     RG_ESCHEMA);
  /* a wrong checksum field, and a missing count */
  n = rg_store_manifest_format(&m, text, sizeof text);
  char *sum = strstr(text, "aaaa");
  sum[0] = 'Z';
  assert_int_equal(rg_store_manifest_parse(text, n, &back, err, sizeof err), RG_ESCHEMA);
  n = rg_store_manifest_format(&m, text, sizeof text);
  char *labels = strstr(text, "\"labels\"");
  memcpy(labels, "\"lab3ls\"", 8);
  assert_int_equal(rg_store_manifest_parse(text, n, &back, err, sizeof err), RG_ESCHEMA);
}

/* A store thinned by deletions keeps its part-full pages in a compacting copy; a repacking
 * one fills them: the same rows, verified, in a smaller file that restores. */
static void test_backup_repack_fills_pages_a_thinned_store_left_part_full(void **state) {
  rg_test_store_t *f = *state;
  enum { N = 6000 }; /* fits the test store's 4 MiB map */
  static uint64_t ids[N];
  rg_txn_t *t = rg_test_wbegin(f);
  char key[64];
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "user%05d@thinned.example", i);
    ids[i] = rg_test_upsert(t, RG_ACTOR_ADDRESS, key, NOW);
    if (i) assert_int_equal(rg_store_add_edge(t, ids[i - 1], RG_EDGE_MAILED, ids[i], NOW, 1, 1), RG_OK);
  }
  assert_int_equal(rg_store_commit(t), RG_OK);
  t = rg_test_wbegin(f);
  for (int i = 0; i < N; i += 2) assert_int_equal(rg_store_forget(t, ids[i]), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);
  char err[512], *compact = path_in(f, "compact"), *repack = path_in(f, "repack");
  char *restored = path_in(f, "restored");
  rg_backup_manifest_t mc, mr, v;
  assert_int_equal(rg_store_backup(f->s, compact, false, &mc, err, sizeof err), RG_OK);
  assert_int_equal(rg_store_backup(f->s, repack, true, &mr, err, sizeof err), RG_OK);
  assert_memory_equal(&mc.counts, &mr.counts, sizeof mc.counts);
  assert_int_equal(mr.counts.actors[RG_ACTOR_ADDRESS], N / 2);
  print_message("compacting copy %llu bytes, repacking copy %llu bytes\n",
                (unsigned long long)mc.data_bytes, (unsigned long long)mr.data_bytes);
  assert_true(mr.data_bytes * 10 < mc.data_bytes * 8); /* at least a fifth smaller */
  assert_int_equal(rg_store_backup_verify(repack, &v, err, sizeof err), RG_OK);
  assert_int_equal(rg_store_restore(repack, restored, &v, err, sizeof err), RG_OK);
  char lock[700];
  snprintf(lock, sizeof lock, "%s/lock.mdb", repack);
  assert_int_equal(access(lock, F_OK), -1); /* a backup is its data file and manifest */
  free(compact), free(repack), free(restored);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_backup_writes_a_copy_with_its_manifest_and_restores_it,
                                      rg_test_store_setup, rg_test_store_teardown),
      cmocka_unit_test_setup_teardown(
          test_backup_verify_refuses_a_damaged_copy_and_restore_leaves_no_store,
          rg_test_store_setup, rg_test_store_teardown),
      cmocka_unit_test_setup_teardown(test_backup_repack_fills_pages_a_thinned_store_left_part_full,
                                      rg_test_store_setup, rg_test_store_teardown),
      cmocka_unit_test(test_backup_manifest_round_trips_and_rejects_bad_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
