/* test_cli.c — the repgraph command-line client's input edge cases, against the real
 * repgraphd: a UTF-8 byte order mark on an input's first line, a line over --max-frame in
 * the middle of a file, a batch the server refuses as a whole (its limits.max_frame_bytes
 * below the client's), a reply that echoes invalid UTF-8, and output that cannot be
 * written. Every run must go on past the bad input, name each line it rejects, print its
 * summary and exit as documented. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/text.h"
#include "repgraph/transcode.h"
#include "testutil.h"

typedef rg_test_fixture_t fixture_t;

static int start(void **state, const char *const *extra) {
  return rg_test_fixture_start(state, extra);
}

static int setup(void **state) {
  return start(state, NULL);
}

/* A server that refuses frames over 64 KiB, far below the client's default 16 MiB. */
static int setup_small_frames(void **state) {
  static const char *const extra[] = {"--set", "limits.max_frame_bytes=64K", NULL};
  return start(state, extra);
}

static int teardown(void **state) {
  return rg_test_fixture_stop(state);
}

typedef struct {
  int rc;
  char *out, *err; /* stdout, stderr (malloc'd) */
} run_t;

/* Runs `repgraph -p PORT ARGS` through the shell; stdout and stderr kept apart. */
static run_t run(const fixture_t *f, const char *args) {
  char cmd[4096], errpath[600];
  snprintf(errpath, sizeof errpath, "%s/stderr.txt", f->dir);
  snprintf(cmd, sizeof cmd, "%s/repgraph -p %u %s 2>%s", RG_BINARY_DIR, f->srv.port, args, errpath);
  run_t r = {0};
  r.rc = rg_test_run(cmd, &r.out);
  size_t len;
  uint8_t *err = rg_test_read_file(errpath, &len);
  r.err = realloc(err, len + 1);
  r.err[len] = '\0';
  return r;
}

static void run_free(run_t *r) {
  free(r->out);
  free(r->err);
}

static rg_json_t *parse(const char *text) {
  rg_json_t *j = NULL;
  char err[200];
  if (rg_json_parse(text, strlen(text), &j, err, sizeof err) != RG_OK)
    fail_msg("not JSON: %s\n%s", err, text);
  return j;
}

/* The --json summary of an ingest: its lines, accepted and rejected counts. */
static void assert_summary(const run_t *r, long long lines, long long accepted,
                           long long rejected) {
  rg_json_t *s = parse(r->out);
  if (rg_json_int(rg_json_get(s, "lines")) != lines ||
      rg_json_int(rg_json_get(s, "accepted")) != accepted ||
      rg_json_int(rg_json_get(s, "rejected")) != rejected)
    fail_msg("summary %s, want lines %lld accepted %lld rejected %lld\nstderr: %.2000s", r->out,
             lines, accepted, rejected, r->err);
  rg_json_free(s);
}

/* Messages of `lookup` for actors: true per actor when the store knows it. */
static void assert_known(const fixture_t *f, const char *actor, bool known) {
  char args[600];
  snprintf(args, sizeof args, "--json lookup %s", actor);
  run_t r = run(f, args);
  assert_int_equal(r.rc, 0);
  rg_json_t *j = parse(r.out);
  const rg_json_t *a = rg_json_at(rg_json_get(j, "results"), 0);
  if ((rg_json_int(rg_json_get(a, "messages")) > 0) != known)
    fail_msg("%s: %s, want %s", actor, r.out, known ? "known" : "unknown");
  rg_json_free(j);
  run_free(&r);
}

static void write_edge(FILE *out, int i, size_t pad) {
  fprintf(out,
          "{\"src\": \"address:a%d@x.example\", \"dst\": \"ip:192.0.2.%d\", \"kind\": "
          "\"sent_from\"",
          i, 1 + i % 250);
  if (pad) {
    fputs(", \"note\": \"", out);
    for (size_t k = 0; k < pad; k++) fputc('x', out);
    fputc('"', out);
  }
  fputs("}\n", out);
}

/* n edge lines to `path`; line i (1-based) carries `pad(i)` bytes of padding. */
static void write_edges(const char *path, int n, size_t (*pad)(int)) {
  FILE *out = fopen(path, "w");
  assert_non_null(out);
  for (int i = 1; i <= n; i++) write_edge(out, i, pad ? pad(i) : 0);
  assert_int_equal(fclose(out), 0);
}

static void test_ingest_and_label_file_skip_a_byte_order_mark(void **state) {
  fixture_t *f = *state;
  char path[600], args[800];
  snprintf(path, sizeof path, "%s/bom.ndjson", f->dir);
  FILE *out = fopen(path, "w");
  fputs("\xef\xbb\xbf", out);
  for (int i = 1; i <= 3; i++) write_edge(out, i, 0);
  fclose(out);
  snprintf(args, sizeof args, "--json ingest %s", path);
  run_t r = run(f, args);
  assert_summary(&r, 3, 3, 0);
  assert_int_equal(r.rc, 0);
  run_free(&r);
  assert_known(f, "address:a1@x.example", true);

  /* label --file: the BOM would also hide the header line. */
  snprintf(path, sizeof path, "%s/bom.csv", f->dir);
  rg_test_write_file(path, 0644,
                     "\xef\xbb\xbf"
                     "actor,verdict\naddress:a1@x.example,bad\n"
                     "address:a2@x.example,good\n");
  snprintf(args, sizeof args, "--json label --file %s", path);
  r = run(f, args);
  if (r.rc != 0) fail_msg("exit %d\n%s%s", r.rc, r.out, r.err);
  rg_json_t *j = parse(r.out);
  assert_int_equal(rg_json_int(rg_json_get(j, "accepted")), 2);
  assert_int_equal(rg_json_int(rg_json_get(j, "rejected")), 0);
  rg_json_free(j);
  run_free(&r);
}

#define BIG_LINE 1000
static size_t pad_big_line(int i) {
  return i == BIG_LINE ? 20u * 1000 * 1000 : 0; /* a 20 MB line, over the default 16 MiB */
}

static void test_ingest_rejects_a_line_over_max_frame_and_goes_on(void **state) {
  fixture_t *f = *state;
  char path[600], args[800], want[700];
  snprintf(path, sizeof path, "%s/big.ndjson", f->dir);
  write_edges(path, 2001, pad_big_line);
  snprintf(args, sizeof args, "--json ingest %s", path);
  run_t r = run(f, args);
  assert_summary(&r, 2001, 2000, 1);
  assert_int_equal(r.rc, 1);
  snprintf(want, sizeof want, "%s:%d: rejected: too_large: line of 200000", path, BIG_LINE);
  const char *at = strstr(r.err, want);
  if (!at) fail_msg("stderr lacks %s\nstderr: %.2000s", want, r.err);
  assert_non_null(strstr(at,
                         " as msgpack) exceeds --max-frame (16 MiB), the server's "
                         "limits.max_frame_bytes\n"));
  const char *first = strstr(r.err, "rejected"); /* that line only */
  assert_ptr_equal(first, strstr(at, "rejected"));
  assert_null(strstr(first + 1, "rejected"));
  run_free(&r);
  assert_known(f, "address:a999@x.example", true);
  assert_known(f, "address:a1000@x.example", false);
  assert_known(f, "address:a1001@x.example", true);
  assert_known(f, "address:a2001@x.example", true);

  /* A smaller --max-frame splits batches (no line is over it): all of them go in. */
  snprintf(path, sizeof path, "%s/small.ndjson", f->dir);
  write_edges(path, 500, NULL);
  snprintf(args, sizeof args, "--json ingest --max-frame 4K %s", path);
  r = run(f, args);
  assert_summary(&r, 500, 500, 0);
  assert_int_equal(r.rc, 0);
  run_free(&r);
  r = run(f, "ingest --max-frame 12 -");
  assert_int_equal(r.rc, 2);
  run_free(&r);
}

/* Lines 201-300 (the third batch of 100) carry 8 KB each every tenth line: that batch's
 * frame is about 86 KB, over the server's 64 KiB, and fits in the sockets' buffers. */
static size_t pad_third_batch(int i) {
  return i > 200 && i <= 300 && i % 10 == 0 ? 8000 : 0;
}

/* Here it is 15 MB, more than loopback buffers hold: the server refuses it after reading
 * its length and closes the connection while the client is still sending it. */
static size_t pad_third_batch_big(int i) {
  return i > 200 && i <= 300 ? 150000 : 0;
}

/* A server with limits.max_frame_bytes=64K refuses the third batch of a 1,000-line file:
 * each of its lines is named, the others are stored once, the summary says so. */
static void check_refused_batch(fixture_t *f, size_t (*pad)(int)) {
  char path[600], args[800], want[700];
  snprintf(path, sizeof path, "%s/mid.ndjson", f->dir);
  write_edges(path, 1000, pad);
  snprintf(args, sizeof args, "--json ingest --batch 100 %s", path);
  run_t r = run(f, args);
  assert_summary(&r, 1000, 900, 100);
  assert_int_equal(r.rc, 1);
  for (int line = 201; line <= 300; line++) {
    snprintf(want, sizeof want, "%s:%d: rejected: too_large: frame of ", path, line);
    if (!strstr(r.err, want)) fail_msg("stderr lacks line %d\n%.3000s", line, r.err);
  }
  snprintf(want, sizeof want, "%s:200: rejected", path);
  assert_null(strstr(r.err, want));
  snprintf(want, sizeof want, "%s:301: rejected", path);
  assert_null(strstr(r.err, want));
  assert_non_null(strstr(r.err, "pass --max-frame"));
  run_free(&r);
  assert_known(f, "address:a200@x.example", true);
  assert_known(f, "address:a201@x.example", false);
  assert_known(f, "address:a301@x.example", true);
  assert_known(f, "address:a1000@x.example", true);
  /* The batches acknowledged before the refusal were not sent twice. */
  run_t l = run(f, "--json lookup address:a1@x.example address:a1000@x.example");
  rg_json_t *j = parse(l.out);
  for (size_t i = 0; i < 2; i++)
    assert_int_equal(rg_json_int(rg_json_get(rg_json_at(rg_json_get(j, "results"), i), "messages")),
                     1);
  rg_json_free(j);
  run_free(&l);
}

static void test_ingest_names_each_line_of_a_batch_the_server_refuses(void **state) {
  fixture_t *f = *state;
  check_refused_batch(f, pad_third_batch);
  /* With --max-frame at the server's limit the same file goes in whole. */
  char args[800];
  snprintf(args, sizeof args, "--json ingest --batch 100 --max-frame 64K %s/mid.ndjson", f->dir);
  run_t r = run(f, args);
  assert_summary(&r, 1000, 1000, 0);
  assert_int_equal(r.rc, 0);
  run_free(&r);
}

static void test_ingest_recovers_when_the_server_refuses_a_batch_mid_send(void **state) {
  check_refused_batch(*state, pad_third_batch_big);
}

static void test_lookup_of_invalid_utf8_prints_valid_json_and_escaped_text(void **state) {
  fixture_t *f = *state;
  /* printf(1) writes the byte 0xff: the shell is sh, without $'…'. */
  run_t r = run(f, "--json lookup \"$(printf 'address:\\377@x.example')\" address:ok@x.example");
  assert_true(rg_utf8_valid(r.out, strlen(r.out)));
  rg_json_t *j = parse(r.out);
  const rg_json_t *results = rg_json_get(j, "results");
  assert_int_equal(rg_json_size(results), 2);
  const rg_json_t *bad = rg_json_at(results, 0);
  assert_string_equal(rg_json_str(rg_json_get(bad, "actor")), "address:\\xff@x.example");
  assert_string_equal(rg_json_str(rg_json_get(rg_json_get(bad, "error"), "code")), "invalid_actor");
  assert_string_equal(rg_json_str(rg_json_get(rg_json_at(results, 1), "actor")),
                      "address:ok@x.example");
  rg_json_free(j);
  assert_int_equal(r.rc, 0); /* the reply, errors per actor included, was printed */
  run_free(&r);

  r = run(f, "lookup \"$(printf 'address:\\377@x.example')\"");
  assert_int_equal(r.rc, 0);
  assert_true(rg_utf8_valid(r.out, strlen(r.out)));
  assert_non_null(strstr(r.out, "actor: address:\\xff@x.example\n"));
  run_free(&r);
}

static void test_output_that_cannot_be_written_exits_non_zero(void **state) {
  fixture_t *f = *state;
  static const char *const cmds[] = {"ping >/dev/full", "--json ping >/dev/full",
                                     "--json lookup address:a@x.example >/dev/full",
                                     "--json ingest - </dev/null >/dev/full"};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    run_t r = run(f, cmds[i]);
    if (r.rc != 1 || !strstr(r.err, "No space left on device"))
      fail_msg("repgraph %s: exit %d, stderr: %s", cmds[i], r.rc, r.err);
    run_free(&r);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ingest_and_label_file_skip_a_byte_order_mark, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ingest_rejects_a_line_over_max_frame_and_goes_on, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ingest_names_each_line_of_a_batch_the_server_refuses,
                                      setup_small_frames, teardown),
      cmocka_unit_test_setup_teardown(test_ingest_recovers_when_the_server_refuses_a_batch_mid_send,
                                      setup_small_frames, teardown),
      cmocka_unit_test_setup_teardown(
          test_lookup_of_invalid_utf8_prints_valid_json_and_escaped_text, setup, teardown),
      cmocka_unit_test_setup_teardown(test_output_that_cannot_be_written_exits_non_zero, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
