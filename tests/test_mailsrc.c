/* test_mailsrc.c — where messages come from: mbox splitting (mboxrd unquoting, From_ lines
 * in bodies, truncated files, oversized messages), single files, and Maildir walking (new/
 * and cur/, tmp/ and dot files left alone, Maildir++ subfolders with recursion). Fixtures
 * build the sources in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repgraph/err.h"
#include "repgraph/mailsrc.h"
#include "testutil.h"

#define MAX_SEEN 64

typedef struct {
  size_t n;
  char origin[MAX_SEEN][512];
  char *data[MAX_SEEN];
  size_t len[MAX_SEEN];
  rg_mail_skip_t skip[MAX_SEEN];
  char detail[MAX_SEEN][128];
  int64_t ts[MAX_SEEN];
  int stop_after; /* 0 = never */
} seen_t;

static int collect(void *ctx, const rg_mailsrc_msg_t *m) {
  seen_t *s = ctx;
  assert_true(s->n < MAX_SEEN);
  size_t i = s->n++;
  snprintf(s->origin[i], sizeof s->origin[i], "%s", m->origin);
  s->data[i] = m->data ? strndup(m->data, m->len) : NULL;
  s->len[i] = m->len;
  s->skip[i] = m->skip;
  snprintf(s->detail[i], sizeof s->detail[i], "%s", m->detail);
  s->ts[i] = m->from_line_ts;
  return s->stop_after && (int)s->n == s->stop_after ? 42 : 0;
}

static int setup(void **state) {
  *state = rg_test_mkdtemp();
  return 0;
}

static int teardown(void **state) {
  rg_test_rmtree(*state);
  free(*state);
  return 0;
}

static seen_t *walk(const char *path, bool recursive, size_t max, int expect_rc) {
  seen_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  rg_mailsrc_opts_t o = {.recursive = recursive, .max_bytes = max};
  assert_int_equal(rg_mailsrc_walk(path, &o, collect, s), expect_rc);
  return s;
}

static void seen_free(seen_t *s) {
  for (size_t i = 0; i < s->n; i++) free(s->data[i]);
  free(s);
}

/* Index of the message whose data contains `needle`, or fails. */
static size_t find(const seen_t *s, const char *needle) {
  for (size_t i = 0; i < s->n; i++)
    if (s->data[i] && strstr(s->data[i], needle)) return i;
  fail_msg("no message with '%s'", needle);
  return 0;
}

static void test_mbox_splits_on_from_lines_and_unquotes(void **state) {
  char path[512];
  snprintf(path, sizeof path, "%s/box.mbox", (char *)*state);
  rg_test_write_file(path, 0644,
                     "From alice@example.org Tue Mar  5 10:00:00 2024\n"
                     "From: alice@example.org\nSubject: one\n\n"
                     ">From the start, quoted (mboxrd)\n"
                     ">>From twice quoted\n"
                     "From the body, unquoted (mboxo) but not after a blank line\n"
                     "\n"
                     "From MAILER-DAEMON Tue Mar  5 10:00:01 2024\n"
                     "From: two@example.org\nSubject: two\n\nbody two\n\n"
                     "From bob@example.org Tue Mar  5 10:00:02 2024\n"
                     "From: three@example.org\nSubject: three\n\nbody three\n");
  seen_t *s = walk(path, false, 0, RG_OK);
  assert_int_equal(s->n, 3);
  size_t one = find(s, "Subject: one");
  assert_non_null(strstr(s->data[one], "\nFrom the start, quoted"));
  assert_non_null(strstr(s->data[one], "\n>From twice quoted"));
  assert_non_null(strstr(s->data[one], "\nFrom the body, unquoted"));
  assert_int_equal(s->ts[one], 1709632800);
  char want[600];
  snprintf(want, sizeof want, "%s:1", path);
  assert_string_equal(s->origin[one], want);
  size_t two = find(s, "Subject: two");
  assert_string_equal(s->data[two], "From: two@example.org\nSubject: two\n\nbody two\n");
  assert_int_equal(s->ts[two], 1709632801);
  find(s, "Subject: three");
  seen_free(s);
}

static void test_mbox_reports_a_truncated_tail_as_it_is(void **state) {
  char path[512];
  snprintf(path, sizeof path, "%s/cut.mbox", (char *)*state);
  rg_test_write_file(path, 0644,
                     "From a@example.org Tue Mar  5 10:00:00 2024\n"
                     "From: a@example.org\n\nbody\n\n"
                     "From b@example.org Tue Mar  5 10:00:00 2024\n"
                     "From: b@example.org\nTo: c@exa");
  seen_t *s = walk(path, false, 0, RG_OK);
  assert_int_equal(s->n, 2);
  size_t cut = find(s, "From: b@");
  assert_string_equal(s->data[cut], "From: b@example.org\nTo: c@exa"); /* mail.c says truncated */
  seen_free(s);
}

static void test_mbox_passes_over_an_oversized_message(void **state) {
  char path[512];
  snprintf(path, sizeof path, "%s/big.mbox", (char *)*state);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "From a@example.org Tue Mar  5 10:00:00 2024\nFrom: small@example.org\n\nx\n\n");
  fprintf(f, "From b@example.org Tue Mar  5 10:00:00 2024\nFrom: big@example.org\n\n");
  for (int i = 0; i < 2000; i++) fprintf(f, "%0*d\n", 99, i); /* ~200 KB */
  fprintf(f, "\nFrom c@example.org Tue Mar  5 10:00:00 2024\nFrom: after@example.org\n\ny\n");
  fclose(f);
  seen_t *s = walk(path, false, 64 * 1024, RG_OK);
  assert_int_equal(s->n, 3);
  find(s, "small@");
  find(s, "after@");
  int big = -1;
  for (size_t i = 0; i < s->n; i++)
    if (s->skip[i] == RG_MAIL_SKIP_TOO_LARGE) big = (int)i;
  assert_true(big >= 0);
  assert_null(s->data[big]);
  seen_free(s);
}

static void test_single_files_and_their_size_cap(void **state) {
  char path[512];
  snprintf(path, sizeof path, "%s/one.eml", (char *)*state);
  rg_test_write_file(path, 0644, "From: a@example.org\n\nhello\n");
  seen_t *s = walk(path, false, 0, RG_OK);
  assert_int_equal(s->n, 1);
  assert_int_equal(s->skip[0], RG_MAIL_OK);
  assert_string_equal(s->data[0], "From: a@example.org\n\nhello\n");
  seen_free(s);
  /* A 50 MB message (sparse: never read) against the default 25 MiB cap. */
  snprintf(path, sizeof path, "%s/huge.eml", (char *)*state);
  rg_test_write_file(path, 0644, "From: a@example.org\n\n");
  assert_int_equal(truncate(path, 50 * 1000 * 1000), 0);
  s = walk(path, false, 0, RG_OK);
  assert_int_equal(s->n, 1);
  assert_int_equal(s->skip[0], RG_MAIL_SKIP_TOO_LARGE);
  seen_free(s);
  snprintf(path, sizeof path, "%s/missing.eml", (char *)*state);
  s = walk(path, false, 0, RG_OK);
  assert_int_equal(s->n, 1);
  assert_int_equal(s->skip[0], RG_MAIL_SKIP_UNREADABLE);
  assert_non_null(strstr(s->detail[0], "No such file"));
  seen_free(s);
}

static void mkdirs(const char *base, const char *const *dirs) {
  char p[512];
  for (; *dirs; dirs++) {
    snprintf(p, sizeof p, "%s/%s", base, *dirs);
    assert_int_equal(mkdir(p, 0755), 0);
  }
}

static void put(const char *base, const char *rel, const char *text) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", base, rel);
  rg_test_write_file(p, 0644, text);
}

static void test_maildir_walks_new_and_cur_and_subfolders(void **state) {
  const char *d = *state;
  static const char *const dirs[] = {"md",           "md/new",       "md/cur",
                                     "md/tmp",       "md/.Junk",     "md/.Junk/new",
                                     "md/.Junk/cur", "md/.Junk/tmp", NULL};
  mkdirs(d, dirs);
  put(d, "md/new/1.host", "From: new@example.org\n\n");
  put(d, "md/cur/2.host:2,S", "From: cur@example.org\n\n");
  put(d, "md/tmp/3.host", "From: tmp@example.org\n\n");     /* being delivered */
  put(d, "md/cur/.hidden", "From: hidden@example.org\n\n"); /* not a message file */
  put(d, "md/dovecot-uidlist", "3 V1 N2\n");                /* index, not mail */
  put(d, "md/.Junk/cur/4.host:2,", "From: junk@example.org\n\n");
  char md[512];
  snprintf(md, sizeof md, "%s/md", d);
  seen_t *s = walk(md, false, 0, RG_OK);
  assert_int_equal(s->n, 2);
  find(s, "new@");
  find(s, "cur@");
  seen_free(s);
  s = walk(md, true, 0, RG_OK);
  assert_int_equal(s->n, 3);
  find(s, "junk@");
  seen_free(s);
}

static void test_plain_directories_need_recursion(void **state) {
  const char *d = *state;
  static const char *const dirs[] = {"archive",          "archive/2023",         "archive/2024",
                                     "archive/2024/box", "archive/2024/box/cur", NULL};
  mkdirs(d, dirs);
  put(d, "archive/2023/a.eml", "From: a@example.org\n\n");
  put(d, "archive/2024/list.mbox",
      "From x Tue Mar  5 10:00:00 2024\nFrom: b@example.org\n\n\n"
      "From y Tue Mar  5 10:00:00 2024\nFrom: c@example.org\n\n");
  put(d, "archive/2024/box/cur/1", "From: d@example.org\n\n");
  char root[512];
  snprintf(root, sizeof root, "%s/archive", d);
  seen_t *s = walk(root, false, 0, RG_OK);
  assert_int_equal(s->n, 1);
  assert_int_equal(s->skip[0], RG_MAIL_SKIP_UNREADABLE);
  assert_non_null(strstr(s->detail[0], "not a Maildir"));
  seen_free(s);
  s = walk(root, true, 0, RG_OK);
  assert_int_equal(s->n, 4);
  find(s, "a@"), find(s, "b@"), find(s, "c@"), find(s, "d@");
  seen_free(s);
}

static void test_a_callback_stops_the_walk(void **state) {
  const char *d = *state;
  static const char *const dirs[] = {"m", "m/cur", NULL};
  mkdirs(d, dirs);
  put(d, "m/cur/1", "From: a@example.org\n\n");
  put(d, "m/cur/2", "From: b@example.org\n\n");
  put(d, "m/cur/3", "From: c@example.org\n\n");
  char md[512];
  snprintf(md, sizeof md, "%s/m", d);
  seen_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  s->stop_after = 2;
  rg_mailsrc_opts_t o = {0};
  assert_int_equal(rg_mailsrc_walk(md, &o, collect, s), 42);
  assert_int_equal(s->n, 2);
  seen_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_mbox_splits_on_from_lines_and_unquotes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mbox_reports_a_truncated_tail_as_it_is, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mbox_passes_over_an_oversized_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_single_files_and_their_size_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_maildir_walks_new_and_cur_and_subfolders, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_plain_directories_need_recursion, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_callback_stops_the_walk, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
