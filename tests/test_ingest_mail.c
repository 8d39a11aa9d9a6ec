/* test_ingest_mail.c — `repgraph ingest-mail` and `repgraph feedback` against the real
 * repgraphd: a generated Maildir and mbox with good messages, binary junk, a truncated
 * tail, null senders, and 50 MB messages give a summary that matches what was generated,
 * the observations and labels are in the store, and the run never stops. */
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
#include "repgraph/transcode.h"
#include "testutil.h"

#define GOOD_MAILDIR 40
#define GOOD_MBOX    25

typedef rg_test_fixture_t fixture_t;

static int setup(void **state) {
  return rg_test_fixture_start(state, NULL);
}

static int teardown(void **state) {
  return rg_test_fixture_stop(state);
}

/* A message from sender i, relayed in one of four MTA shapes, to two recipients. */
static void write_message(FILE *out, int i) {
  static const char *const shapes[] = {
      "from mail%d.example.org (mail%d.example.org [192.0.2.%d]) by mx.example.net (Postfix) "
      "with ESMTPS id A%d",
      "from rdns%d.example.org ([192.0.2.%d] helo=mail%d.example.org) by mx.example.net with "
      "esmtp (Exim 4.96) id B%d",
      "from unknown (HELO mail%d.example.org) (192.0.2.%d) by mx.example.net with SMTP id C%d",
      "from mail%d.example.org ([192.0.2.%d]) by mx.example.net with Microsoft SMTP Server id %d"};
  int s = i % 4, ip = 1 + i % 200;
  fprintf(out, "Return-Path: <sender%d@example.org>\nDelivered-To: user%d@example.net\n", i, i % 7);
  fprintf(out, "Received: ");
  if (s == 0)
    fprintf(out, shapes[0], i, i, ip, i);
  else if (s == 1)
    fprintf(out, shapes[1], i, ip, i, i);
  else
    fprintf(out, shapes[s], i, ip, i);
  fprintf(out, ";\n\tTue, 5 Mar 2024 10:%02d:00 +0000\n", i % 60);
  fprintf(out,
          "From: =?utf-8?q?S=C3=A9nder_%d?= <sender%d@example.org>\nTo: user%d@example.net\n"
          "Subject: message %d\n\nHello %d.\n",
          i, i, i % 7, i, i);
}

static void write_path(const char *path, void (*fill)(FILE *, int), int arg) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fill(f, arg);
  assert_int_equal(fclose(f), 0);
}

static void write_junk(FILE *f, int seed) {
  srand((unsigned)seed);
  for (int i = 0; i < 4096; i++) fputc(rand() & 0xff, f);
}

static void write_null_sender(FILE *f, int i) {
  fprintf(f,
          "Return-Path: <>\nReceived: from mx.example.org (mx.example.org [198.51.100.%d]) "
          "by mx.example.net with ESMTP; Tue, 5 Mar 2024 10:00:00 +0000\n"
          "From: MAILER-DAEMON@example.org\nTo: user1@example.net\nSubject: bounce\n\nx\n",
          i);
}

static void write_big_body(FILE *f, size_t bytes) {
  static char line[1000];
  memset(line, 'A', sizeof line - 1);
  line[sizeof line - 1] = '\n';
  for (size_t n = 0; n < bytes; n += sizeof line) fwrite(line, 1, sizeof line, f);
}

/* The Maildir: good messages in new/ and cur/, binary junk, a cut file, a bounce, a 50 MB
 * message; and an mbox with good messages, a 50 MB one in the middle and a cut tail. */
static void generate(const char *dir, char *maildir, char *mbox, size_t cap) {
  snprintf(maildir, cap, "%s/Maildir", dir);
  char p[800];
  static const char *const subs[] = {"", "/new", "/cur", "/tmp"};
  for (int i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s%s", maildir, subs[i]);
    assert_int_equal(mkdir(p, 0755), 0);
  }
  for (int i = 0; i < GOOD_MAILDIR; i++) {
    snprintf(p, sizeof p, "%s/%s/%d.gen:2,S", maildir, i % 2 ? "cur" : "new", i);
    write_path(p, write_message, i);
  }
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/cur/junk%d", maildir, i);
    write_path(p, write_junk, i);
  }
  snprintf(p, sizeof p, "%s/new/cut", maildir);
  rg_test_write_file(p, 0644, "Return-Path: <cut@example.org>\nReceived: from a (a [192.0.2.");
  snprintf(p, sizeof p, "%s/new/bounce", maildir);
  write_path(p, write_null_sender, 1);
  snprintf(p, sizeof p, "%s/new/huge", maildir);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  write_message(f, 999);
  write_big_body(f, 50u * 1000 * 1000);
  fclose(f);

  snprintf(mbox, cap, "%s/archive.mbox", dir);
  f = fopen(mbox, "w");
  assert_non_null(f);
  for (int i = 0; i < GOOD_MBOX; i++) {
    fprintf(f, "From sender%d@example.org Tue Mar  5 10:00:00 2024\n", 1000 + i);
    write_message(f, 1000 + i);
    fprintf(f, "\n");
    if (i == 10) { /* a 50 MB message in the middle */
      fprintf(f, "From big@example.org Tue Mar  5 10:00:00 2024\n");
      write_message(f, 5000);
      write_big_body(f, 50u * 1000 * 1000);
      fprintf(f, "\n");
    }
  }
  fprintf(f, "From MAILER-DAEMON Tue Mar  5 10:00:00 2024\n");
  write_null_sender(f, 2);
  fprintf(f,
          "\nFrom cut@example.org Tue Mar  5 10:00:00 2024\nReturn-Path: <cut@example.org>\n"
          "Delivered-To: user1@exa");
  fclose(f);
}

static rg_json_t *run_json(const fixture_t *f, const char *args, int want_rc) {
  char cmd[4096], *out = NULL, err[200];
  snprintf(cmd, sizeof cmd, "%s/repgraph --json -p %u %s 2>%s/stderr.txt", RG_BINARY_DIR,
           f->srv.port, args, f->dir);
  int rc = rg_test_run(cmd, &out);
  if (rc != want_rc) fail_msg("%s: exit %d, want %d\n%s", cmd, rc, want_rc, out);
  rg_json_t *j = NULL;
  if (rg_json_parse(out, strlen(out), &j, err, sizeof err) != RG_OK)
    fail_msg("%s: not JSON: %s\n%s", cmd, err, out);
  free(out);
  return j;
}

static long long skips(const rg_json_t *summary, const char *reason) {
  return rg_json_int(rg_json_get(rg_json_get(summary, "skips"), reason));
}

static void test_ingest_mail_summary_matches_what_was_generated(void **state) {
  fixture_t *f = *state;
  char maildir[600], mbox[600], args[1400];
  generate(f->dir, maildir, mbox, sizeof maildir);
  snprintf(args, sizeof args, "ingest-mail --label bad --label-ip --source spam_trap %s %s",
           maildir, mbox);
  rg_json_t *s = run_json(f, args, 0);
  int good = GOOD_MAILDIR + GOOD_MBOX;
  /* Maildir: good + 2 junk + cut + bounce + huge; mbox: good + huge + bounce + cut. */
  assert_int_equal(rg_json_int(rg_json_get(s, "messages")), good + 5 + 3);
  /* the two bounces are stored with the null sender (never labelled) */
  assert_int_equal(rg_json_int(rg_json_get(s, "queued")), good + 2);
  assert_int_equal(rg_json_int(rg_json_get(s, "accepted")), good + 2);
  assert_int_equal(rg_json_int(rg_json_get(s, "rejected")), 0);
  assert_int_equal(rg_json_int(rg_json_get(s, "skipped")), 6);
  assert_int_equal(skips(s, "over the size cap"), 2);
  assert_int_equal(skips(s, "truncated in the header section"), 2);
  long long junk = skips(s, "not a message") + skips(s, "binary data in the header section");
  assert_int_equal(junk, 2);
  /* Every distinct sender and client IP labelled once: senders are distinct; the mbox's IPs
   * (192.0.2.1-25) are among the Maildir's (192.0.2.1-40). */
  assert_int_equal(rg_json_int(rg_json_get(s, "labels_accepted")), good + GOOD_MAILDIR);
  rg_json_free(s);

  /* The store has them: a Maildir sender (Exim shape) and an mbox one (Postfix shape). */
  rg_json_t *l = run_json(f,
                          "lookup address:sender5@example.org address:sender1000@example.org "
                          "ip:192.0.2.6",
                          0);
  const rg_json_t *r = rg_json_get(l, "results");
  for (size_t i = 0; i < 3; i++) {
    const rg_json_t *a = rg_json_at(r, i);
    assert_true(rg_json_int(rg_json_get(a, "messages")) >= 1);
    assert_string_equal(rg_json_str(rg_json_get(rg_json_get(a, "label"), "verdict")), "bad");
    assert_string_equal(rg_json_str(rg_json_get(rg_json_get(a, "label"), "source")), "spam_trap");
  }
  /* The time is the client hop's, not the server's clock. */
  assert_int_equal(rg_json_int(rg_json_get(rg_json_at(r, 0), "first_seen")), 1709632800 + 5 * 60);
  rg_json_free(l);
}

static void test_feedback_labels_sender_and_client_ip(void **state) {
  fixture_t *f = *state;
  char path[600], args[1400];
  snprintf(path, sizeof path, "%s/spam.eml", f->dir);
  write_path(path, write_message, 7);
  snprintf(args, sizeof args, "feedback --spam --note 'moved into Junk' %s", path);
  rg_json_free(run_json(f, args, 0));
  snprintf(args, sizeof args, "feedback --ham --source analyst - < %s", path);
  rg_json_free(run_json(f, args, 0));
  rg_json_t *h = run_json(f, "history address:sender7@example.org ip:192.0.2.8", 0);
  for (size_t i = 0; i < 2; i++) {
    const rg_json_t *labels = rg_json_get(rg_json_at(rg_json_get(h, "results"), i), "labels");
    assert_int_equal(rg_json_size(labels), 2);
    const rg_json_t *newest = rg_json_at(labels, 0), *older = rg_json_at(labels, 1);
    assert_string_equal(rg_json_str(rg_json_get(newest, "verdict")), "good");
    assert_string_equal(rg_json_str(rg_json_get(newest, "source")), "analyst");
    assert_string_equal(rg_json_str(rg_json_get(older, "verdict")), "bad");
    assert_string_equal(rg_json_str(rg_json_get(older, "source")), "user_report");
    assert_string_equal(rg_json_str(rg_json_get(older, "note")), "moved into Junk");
  }
  rg_json_free(h);
  /* A bounce has no sender to label: exit 1, nothing written. */
  snprintf(path, sizeof path, "%s/bounce.eml", f->dir);
  write_path(path, write_null_sender, 3);
  char cmd[1400], *out = NULL;
  snprintf(cmd, sizeof cmd, "%s/repgraph -p %u feedback --spam %s 2>&1", RG_BINARY_DIR, f->srv.port,
           path);
  assert_int_equal(rg_test_run(cmd, &out), 1);
  assert_non_null(strstr(out, "null sender"));
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ingest_mail_summary_matches_what_was_generated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_feedback_labels_sender_and_client_ip, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
