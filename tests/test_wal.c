/* test_wal.c — the write-ahead log (wal.c) on a libuv loop of the test's own: records
 * appended come back durable in order and replay in order after a given position; a torn or
 * damaged last record is dropped (and cut off the file), damage before the end of the log is
 * an error; merged segments are removed. And the store's merged position (meta
 * wal_merged_seq) commits, or not, with the data of its transaction. No sleeps: the loop
 * runs until the durable callbacks have come. */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repgraph/err.h"
#include "repgraph/store.h"
#include "repgraph/wal.h"
#include "testutil.h"

#define MAX_RECS 64

typedef struct {
  uv_loop_t loop;
  char *dir;
  rg_wal_t *wal;
  rg_wal_rec_t recs[MAX_RECS];
  char payload[MAX_RECS][32];
  unsigned n, durable, failed;
  uint64_t last_seq;
  /* replay */
  uint64_t seqs[MAX_RECS];
  char seen[MAX_RECS][32];
  unsigned replayed;
} fixture_t;

static void on_durable(void *ctx, rg_wal_rec_t *first) {
  fixture_t *f = ctx;
  for (rg_wal_rec_t *r = first; r; r = r->next) {
    assert_true(r->seq > f->last_seq); /* in order */
    f->last_seq = r->seq;
    if (r->result)
      f->failed++;
    else
      f->durable++;
  }
}

static void open_log(fixture_t *f, uint64_t next_seq, uint64_t segment_bytes) {
  char err[256] = "";
  rg_wal_opts_t o = {f->dir, next_seq, segment_bytes, on_durable, f};
  if (rg_wal_open(&o, &f->loop, &f->wal, err, sizeof err) != RG_OK) fail_msg("%s", err);
}

static void close_log(fixture_t *f) {
  rg_wal_stop(f->wal);
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0); /* its handle closed */
  rg_wal_free(f->wal);
  f->wal = NULL;
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  char *base = rg_test_mkdtemp();
  assert_true(asprintf(&f->dir, "%s/wal", base) > 0);
  free(base);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  if (f->wal) close_log(f);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  char *base = strdup(f->dir);
  base[strlen(base) - 4] = '\0';
  rg_test_rmtree(base);
  free(base);
  free(f->dir);
  free(f);
  return 0;
}

/* Appends `n` records "record <i>" and runs the loop until they are durable. */
static void append_records(fixture_t *f, unsigned n) {
  unsigned want = f->durable + n;
  for (unsigned i = 0; i < n; i++) {
    rg_wal_rec_t *r = &f->recs[f->n];
    snprintf(f->payload[f->n], sizeof f->payload[0], "record %u", f->n);
    *r = (rg_wal_rec_t){.data = (const uint8_t *)f->payload[f->n],
                        .len = strlen(f->payload[f->n])};
    rg_wal_append(f->wal, r);
    f->n++;
  }
  while (f->durable + f->failed < want) assert_true(uv_run(&f->loop, UV_RUN_ONCE) >= 0);
  assert_int_equal(f->failed, 0);
}

static int on_replay(void *ctx, uint64_t seq, const uint8_t *data, size_t len) {
  fixture_t *f = ctx;
  assert_true(f->replayed < MAX_RECS && len < sizeof f->seen[0]);
  f->seqs[f->replayed] = seq;
  memcpy(f->seen[f->replayed], data, len);
  f->seen[f->replayed][len] = '\0';
  f->replayed++;
  return 0;
}

/* Replays the log after `after`; returns the result, *last and *dropped set. */
static int replay(fixture_t *f, uint64_t after, uint64_t *last, uint64_t *dropped) {
  char err[256] = "";
  f->replayed = 0;
  return rg_wal_replay(f->dir, after, on_replay, f, last, dropped, err, sizeof err);
}

/* The only segment's path (the log was opened at sequence 1). */
static void first_segment(const fixture_t *f, char *buf, size_t cap) {
  snprintf(buf, cap, "%s/%020u.wal", f->dir, 1);
}

static off_t file_size(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_size;
}

static void test_wal_records_replay_in_order_after_a_position(void **state) {
  fixture_t *f = *state;
  open_log(f, 1, 1 << 20);
  append_records(f, 3);
  append_records(f, 2);
  rg_wal_stats_t st;
  rg_wal_stats(f->wal, &st);
  assert_int_equal(st.appended, 5);
  assert_true(st.fsyncs >= 2 && st.fsyncs <= 5); /* group commits: at most one per record */
  close_log(f);
  uint64_t last, dropped;
  assert_int_equal(replay(f, 0, &last, &dropped), RG_OK);
  assert_int_equal(f->replayed, 5);
  assert_int_equal(last, 5);
  assert_int_equal(dropped, 0);
  for (unsigned i = 0; i < 5; i++) {
    assert_int_equal(f->seqs[i], i + 1);
    assert_string_equal(f->seen[i], f->payload[i]);
  }
  assert_int_equal(replay(f, 3, &last, &dropped), RG_OK); /* merged up to 3: two left */
  assert_int_equal(f->replayed, 2);
  assert_int_equal(f->seqs[0], 4);
  assert_int_equal(last, 5);
}

static void test_wal_torn_last_record_is_dropped_and_cut_off(void **state) {
  fixture_t *f = *state;
  open_log(f, 1, 1 << 20);
  append_records(f, 3);
  close_log(f);
  char path[600];
  first_segment(f, path, sizeof path);
  off_t size = file_size(path);
  assert_int_equal(truncate(path, size - 3), 0); /* a crash in the middle of the last append */
  uint64_t last, dropped;
  assert_int_equal(replay(f, 0, &last, &dropped), RG_OK);
  assert_int_equal(f->replayed, 2);
  assert_int_equal(last, 2);
  assert_int_equal(dropped, RG_WAL_RECORD_HEADER + strlen(f->payload[2]) - 3);
  assert_int_equal(replay(f, 0, &last, &dropped), RG_OK); /* the file was cut: clean now */
  assert_int_equal(f->replayed, 2);
  assert_int_equal(dropped, 0);
}

static void test_wal_checksum_mismatch_ends_the_log(void **state) {
  fixture_t *f = *state;
  open_log(f, 1, 1 << 20);
  append_records(f, 3);
  close_log(f);
  char path[600];
  first_segment(f, path, sizeof path);
  FILE *fp = fopen(path, "r+b");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, -1, SEEK_END), 0); /* the last byte of the last payload */
  assert_int_equal(fputc('X', fp), 'X');
  assert_int_equal(fclose(fp), 0);
  uint64_t last, dropped;
  assert_int_equal(replay(f, 0, &last, &dropped), RG_OK);
  assert_int_equal(f->replayed, 2);
  assert_true(dropped > 0);
}

static void test_wal_damage_before_the_end_is_an_error(void **state) {
  fixture_t *f = *state;
  open_log(f, 1, 64); /* every group past 64 bytes starts a new segment */
  append_records(f, 1);
  append_records(f, 1);
  append_records(f, 1);
  rg_wal_stats_t st;
  rg_wal_stats(f->wal, &st);
  assert_true(st.segments >= 2);
  close_log(f);
  char path[600];
  first_segment(f, path, sizeof path);
  FILE *fp = fopen(path, "r+b");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, 8 + RG_WAL_RECORD_HEADER, SEEK_SET), 0); /* first payload */
  assert_int_equal(fputc('X', fp), 'X');
  assert_int_equal(fclose(fp), 0);
  uint64_t last, dropped;
  assert_int_equal(replay(f, 0, &last, &dropped), RG_EIO); /* never silently skipped */
}

static void test_wal_release_removes_merged_segments(void **state) {
  fixture_t *f = *state;
  open_log(f, 1, 64); /* two records of 28 bytes fill a segment */
  for (int i = 0; i < 6; i++) append_records(f, 1);
  rg_wal_stats_t st;
  rg_wal_stats(f->wal, &st);
  assert_int_equal(st.segments, 3); /* 1-2, 3-4, 5-6 */
  rg_wal_release(f->wal, 4);
  append_records(f, 1); /* the log's thread releases before it writes the next group */
  rg_wal_stats(f->wal, &st);
  assert_int_equal(st.segments, 2); /* 5-6 and the new 7 */
  close_log(f);
  uint64_t last, dropped;
  assert_int_equal(replay(f, 0, &last, &dropped), RG_OK); /* what is left: 5, 6, 7 */
  assert_int_equal(f->replayed, 3);
  assert_int_equal(f->seqs[0], 5);
  assert_int_equal(last, 7);
}

static void test_wal_reopen_continues_the_sequence(void **state) {
  fixture_t *f = *state;
  open_log(f, 1, 1 << 20);
  append_records(f, 2);
  close_log(f);
  open_log(f, 3, 1 << 20); /* the caller merged 1 and 2: their segment goes */
  append_records(f, 1);
  close_log(f);
  uint64_t last, dropped;
  assert_int_equal(replay(f, 0, &last, &dropped), RG_OK);
  assert_int_equal(f->replayed, 1);
  assert_int_equal(f->seqs[0], 3);
}

/* The merged position is in the transaction that merges: it commits with the data or not
 * at all. */
static void test_wal_merge_position_commits_with_its_data(void **state) {
  fixture_t *f = *state;
  rg_store_opts_t o = {f->dir, 1 << 20, UINT64_C(1) << 30, 604800, NULL};
  rg_store_t *s;
  char err[256];
  if (rg_store_open(&o, &s, err, sizeof err) != RG_OK) fail_msg("%s", err);
  rg_actor_t a = {.type = RG_ACTOR_ADDRESS, .len = 11};
  memcpy(a.key, "a@x.example", 12);
  rg_txn_t *t;
  uint64_t id, seq;
  assert_int_equal(rg_store_write_begin(s, &t), RG_OK);
  assert_int_equal(rg_store_upsert_actor(t, &a, 1, 1, 1, &id), RG_OK);
  assert_int_equal(rg_store_put_wal_seq(t, 7), RG_OK);
  rg_store_end(t); /* aborted: neither */
  assert_int_equal(rg_store_read_begin(s, &t), RG_OK);
  assert_int_equal(rg_store_wal_seq(t, &seq), RG_OK);
  assert_int_equal(seq, 0);
  assert_int_equal(rg_store_find_actor(t, &a, &id), RG_ENOT_FOUND);
  rg_store_end(t);
  assert_int_equal(rg_store_write_begin(s, &t), RG_OK);
  assert_int_equal(rg_store_upsert_actor(t, &a, 1, 1, 1, &id), RG_OK);
  assert_int_equal(rg_store_put_wal_seq(t, 7), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);
  assert_int_equal(rg_store_read_begin(s, &t), RG_OK);
  assert_int_equal(rg_store_wal_seq(t, &seq), RG_OK);
  assert_int_equal(seq, 7);
  assert_int_equal(rg_store_find_actor(t, &a, &id), RG_OK);
  rg_store_end(t);
  rg_store_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_wal_records_replay_in_order_after_a_position, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wal_torn_last_record_is_dropped_and_cut_off, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wal_checksum_mismatch_ends_the_log, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_damage_before_the_end_is_an_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wal_release_removes_merged_segments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_reopen_continues_the_sequence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wal_merge_position_commits_with_its_data, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
