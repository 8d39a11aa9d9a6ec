/* test_mail.c — one message into one observation (rg_mail, GMime underneath): the sender,
 * recipient and Received rules, encoded words, groups, the time fallbacks, and every skip
 * reason. Single-threaded cmocka tests over in-memory messages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/mail.h"

#define T_2024_03_05_10 1709632800 /* Tue, 5 Mar 2024 10:00:00 +0000 */

static const char *const received_mx =
    "Received: from mx.example.net (mx.example.net [10.0.0.2])\n"
    "\tby store.example.net (Postfix) with LMTP id 1; Tue, 5 Mar 2024 10:00:09 +0000\n"
    "Received: from mail.example.org (mail.example.org [192.0.2.1])\n"
    "\tby mx.example.net (Postfix) with ESMTPS id 2; Tue, 5 Mar 2024 10:00:00 +0000\n";

static rg_mail_obs_t obs;

static int teardown(void **state) {
  (void)state;
  rg_mail_obs_free(&obs);
  return 0;
}

/* Parses `text` with default options (or `o`); returns the skip reason. */
static rg_mail_skip_t parse_with(const char *text, size_t len, const rg_mail_opts_t *o) {
  rg_mail_opts_t defaults = {0};
  rg_mail_skip_t skip = RG_MAIL_SKIP_COUNT;
  assert_int_equal(rg_mail_parse(text, len, o ? o : &defaults, &obs, &skip), RG_OK);
  return skip;
}

static rg_mail_skip_t parse(const char *text) {
  return parse_with(text, strlen(text), NULL);
}

static void want_recipients(const char *const *want, uint32_t n) {
  assert_int_equal(obs.n_recipients, n);
  for (uint32_t i = 0; i < n; i++) assert_string_equal(obs.recipients[i].key, want[i]);
}

static void test_mail_maps_a_delivered_message(void **state) {
  (void)state;
  char msg[2048];
  snprintf(msg, sizeof msg,
           "Return-Path: <Bounce+abc@Example.ORG>\n"
           "Delivered-To: bob@example.net\n"
           "Delivered-To: bob-alias@example.net\n"
           "%s"
           "From: =?utf-8?q?D=C3=B6e=2C_Alice?= <alice@example.org>\n"
           "To: Bob <bob@example.net>, carol@example.net\n"
           "Subject: =?iso-8859-1?q?caf=E9?=\n"
           "Date: Tue, 5 Mar 2024 09:59:00 +0000\n"
           "\n"
           "body\n",
           received_mx);
  assert_int_equal(parse(msg), RG_MAIL_OK);
  assert_true(obs.has_sender);
  assert_string_equal(obs.sender.key, "bounce+abc@example.org"); /* lower-cased (actor.fold_local_case) */
  static const char *const rcpt[] = {"bob@example.net", "bob-alias@example.net"};
  want_recipients(rcpt, 2); /* Delivered-To wins over To */
  assert_true(obs.has_ip);
  assert_string_equal(obs.client_ip.key, "192.0.2.1"); /* 10.0.0.2 is private: trusted */
  assert_true(obs.has_helo);
  assert_string_equal(obs.helo, "mail.example.org");
  assert_int_equal(obs.ts, T_2024_03_05_10); /* when our MX received it, not the Date */
  assert_false(obs.internal);
}

static void test_mail_sender_falls_back_to_sender_then_from(void **state) {
  (void)state;
  char msg[2048];
  snprintf(msg, sizeof msg,
           "%sSender: list-owner@lists.example.org\nFrom: \"Doe, John\" <john@example.org>\n"
           "To: x@example.net\n\nb\n",
           received_mx);
  assert_int_equal(parse(msg), RG_MAIL_OK);
  assert_string_equal(obs.sender.key, "list-owner@lists.example.org");
  snprintf(msg, sizeof msg,
           "%sFrom: =?utf-8?b?Sm9obiwgRG9l?= <john@example.org>, other@example.org\n"
           "To: x@example.net\n\nb\n",
           received_mx);
  assert_int_equal(parse(msg), RG_MAIL_OK);
  assert_string_equal(obs.sender.key, "john@example.org"); /* the first mailbox */
}

static void test_mail_recipients_from_to_and_cc_with_groups(void **state) {
  (void)state;
  char msg[2048];
  snprintf(msg, sizeof msg,
           "%sFrom: a@example.org\n"
           "To: Team: bob@example.net, \"Carol (work)\" <carol@example.net>;, "
           "(comment) dave@example.net\n"
           "Cc: =?utf-8?q?Eve?= <eve@example.net>, bob@example.net, not an address\n"
           "Bcc: hidden@example.net\n\nb\n",
           received_mx);
  assert_int_equal(parse(msg), RG_MAIL_OK);
  static const char *const rcpt[] = {"bob@example.net", "carol@example.net", "dave@example.net",
                                     "eve@example.net"};
  want_recipients(rcpt, 4); /* groups opened, duplicates once, Bcc never */
}

static void test_mail_recipient_headers_are_configurable(void **state) {
  (void)state;
  char msg[2048];
  snprintf(msg, sizeof msg,
           "Delivered-To: final@example.net\nX-Original-To: orig@example.net\n%s"
           "From: a@example.org\nTo: to@example.net\n\nb\n",
           received_mx);
  static const char *const order[] = {"X-Original-To", "Delivered-To"};
  rg_mail_opts_t o = {.rcpt_headers = order, .n_rcpt_headers = 2};
  assert_int_equal(parse_with(msg, strlen(msg), &o), RG_MAIL_OK);
  static const char *const want[] = {"orig@example.net"};
  want_recipients(want, 1);
  static const char *const none[] = {"Envelope-To"};
  rg_mail_opts_t o2 = {.rcpt_headers = none, .n_rcpt_headers = 1};
  assert_int_equal(parse_with(msg, strlen(msg), &o2), RG_MAIL_OK);
  static const char *const to[] = {"to@example.net"};
  want_recipients(to, 1); /* none of the list present: To/Cc */
}

static void test_mail_trusted_networks_move_the_client(void **state) {
  (void)state;
  char msg[2048], err[100];
  snprintf(msg, sizeof msg, "%sFrom: a@example.org\nTo: b@example.net\n\nb\n", received_mx);
  rg_netset_t *t = rg_netset_new();
  assert_int_equal(rg_netset_add(t, "192.0.2.0/24", err, sizeof err), RG_OK);
  rg_mail_opts_t o = {.trusted = t}; /* 10.0.0.2 is no longer trusted by inference */
  assert_int_equal(parse_with(msg, strlen(msg), &o), RG_MAIL_OK);
  assert_string_equal(obs.client_ip.key, "10.0.0.2");
  assert_string_equal(obs.helo, "mx.example.net");
  rg_netset_free(t);
}

static void test_mail_time_falls_back_to_date_then_the_caller(void **state) {
  (void)state;
  const char *msg =
      "Received: from a.example (a.example [192.0.2.1]) by mx.example\n"
      "From: a@example.org\nTo: b@example.net\n"
      "Date: Tue, 05 Mar 2024 11:00:00 +0100\n\nb\n";
  assert_int_equal(parse(msg), RG_MAIL_OK);
  assert_int_equal(obs.ts, T_2024_03_05_10);
  msg =
      "Received: from a.example (a.example [192.0.2.1]) by mx.example\n"
      "From: a@example.org\nTo: b@example.net\nDate: someday\n\nb\n";
  rg_mail_opts_t o = {.fallback_ts = 12345};
  assert_int_equal(parse_with(msg, strlen(msg), &o), RG_MAIL_OK);
  assert_int_equal(obs.ts, 12345);
  assert_int_equal(parse(msg), RG_MAIL_OK);
  assert_int_equal(obs.ts, 0); /* the server's clock will apply */
}

static void test_mail_helo_literals_pass_and_junk_helos_drop(void **state) {
  (void)state;
  const char *msg =
      "Received: from [192.168.1.10] ([203.0.113.5]) by smtp.example with "
      "ESMTP; 5 Mar 2024 10:00:00 +0000\nFrom: a@example.org\nTo: b@example.net\n\n";
  assert_int_equal(parse(msg), RG_MAIL_OK);
  assert_true(obs.has_helo);
  assert_string_equal(obs.helo, "[192.168.1.10]");
  msg =
      "Received: from !!bad helo!! ([203.0.113.5]) by smtp.example with ESMTP; 5 Mar 2024 "
      "10:00:00 +0000\nFrom: a@example.org\nTo: b@example.net\n\n";
  assert_int_equal(parse(msg), RG_MAIL_OK);
  assert_false(obs.has_helo);
  assert_string_equal(obs.client_ip.key, "203.0.113.5");
}

/* Bounces become observations of the null sender; the rest is skipped with its reason. */
static void test_mail_skips_with_reasons(void **state) {
  (void)state;
  char msg[2048];
  snprintf(msg, sizeof msg,
           "Return-Path: <>\n%sFrom: MAILER-DAEMON@example.org\nTo: b@x.example\n\n", received_mx);
  assert_int_equal(parse(msg), RG_MAIL_OK); /* a bounce: the null sender */
  assert_true(rg_actor_is_null_sender(&obs.sender));
  snprintf(msg, sizeof msg, "Return-Path: < (bounce) >\n%sTo: b@x.example\n\n", received_mx);
  assert_int_equal(parse(msg), RG_MAIL_OK);
  assert_true(rg_actor_is_null_sender(&obs.sender));
  snprintf(msg, sizeof msg, "%sTo: b@x.example\nSubject: no sender\n\n", received_mx);
  assert_int_equal(parse(msg), RG_MAIL_SKIP_NO_SENDER);
  snprintf(msg, sizeof msg, "%sFrom: nobody-at-all\nTo: b@x.example\n\n", received_mx);
  assert_int_equal(parse(msg), RG_MAIL_SKIP_BAD_SENDER);
  assert_non_null(strstr(obs.detail, "From"));
  snprintf(msg, sizeof msg, "%sFrom: a@example.org\nTo: undisclosed-recipients:;\n\n", received_mx);
  assert_int_equal(parse(msg), RG_MAIL_SKIP_NO_RECIPIENTS);
  assert_int_equal(parse("From: a@example.org\nTo: b@example.net\n\nno Received\n"),
                   RG_MAIL_SKIP_NO_CLIENT_IP);
  assert_true(obs.has_sender); /* feedback can still label the sender */
  assert_int_equal(parse("From: a@example.org\nTo: b@example.net\n"
                         "Received: by mx.example (Postfix, from userid 0) id 1; 5 Mar 2024 "
                         "10:00:00 +0000\n\n"),
                   RG_MAIL_SKIP_NO_CLIENT_IP);
  assert_int_equal(parse("Hello, this is not a message\nat all\n"), RG_MAIL_SKIP_NOT_MESSAGE);
  assert_int_equal(parse(""), RG_MAIL_SKIP_NOT_MESSAGE);
  assert_int_equal(parse("\n\nFrom: a@example.org\n"), RG_MAIL_SKIP_NOT_MESSAGE);
  static const char binary[] = "From: a@example.org\nTo: \0\x01\x02\xff\n\nx";
  assert_int_equal(parse_with(binary, sizeof binary - 1, NULL), RG_MAIL_SKIP_BINARY);
  assert_int_equal(parse("From: a@example.org\nTo: b@exam"), RG_MAIL_SKIP_TRUNCATED);
  /* A cut in the body is no loss: the header section is whole. */
  snprintf(msg, sizeof msg, "%sFrom: a@example.org\nTo: b@example.net\n\nbody cut he", received_mx);
  assert_int_equal(parse(msg), RG_MAIL_OK);
}

static void test_mail_skips_an_oversized_header_section(void **state) {
  (void)state;
  size_t n = RG_MAIL_HEADER_MAX + 4096;
  char *big = malloc(n + 256); /* room for the last 72-byte line and the end */
  assert_non_null(big);
  size_t len = (size_t)sprintf(big, "From: a@example.org\nX-Junk: ");
  while (len < n) {
    memset(big + len, 'x', 70);
    len += 70;
    memcpy(big + len, "\n ", 2);
    len += 2;
  }
  memcpy(big + len, "\n\nbody\n", 7);
  assert_int_equal(parse_with(big, len + 7, NULL), RG_MAIL_SKIP_HEADER_TOO_LARGE);
  free(big);
}

static void test_mail_caps_recipients(void **state) {
  (void)state;
  size_t cap = 64 * (RG_MAIL_RECIPIENTS_MAX + 10) + 1024;
  char *msg = malloc(cap);
  assert_non_null(msg);
  size_t len = (size_t)snprintf(msg, cap, "%sFrom: a@example.org\nTo: ", received_mx);
  for (unsigned i = 0; i < RG_MAIL_RECIPIENTS_MAX + 10; i++)
    len += (size_t)snprintf(msg + len, cap - len, "%su%u@example.net", i ? ", " : "", i);
  len += (size_t)snprintf(msg + len, cap - len, "\n\nb\n");
  assert_int_equal(parse_with(msg, len, NULL), RG_MAIL_OK);
  assert_int_equal(obs.n_recipients, RG_MAIL_RECIPIENTS_MAX);
  assert_int_equal(obs.dropped_recipients, 10);
  free(msg);
}

static void test_mail_skip_names_are_distinct(void **state) {
  (void)state;
  assert_string_equal(rg_mail_skip_name(RG_MAIL_OK), "");
  assert_string_equal(rg_mail_skip_name(RG_MAIL_SKIP_NO_SENDER), "no sender");
  assert_string_equal(rg_mail_skip_name(-1), "?");
  for (int a = 1; a < RG_MAIL_SKIP_COUNT; a++)
    for (int b = a + 1; b < RG_MAIL_SKIP_COUNT; b++)
      assert_string_not_equal(rg_mail_skip_name(a), rg_mail_skip_name(b));
}

int main(void) {
  rg_mail_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_mail_maps_a_delivered_message, teardown),
      cmocka_unit_test_teardown(test_mail_sender_falls_back_to_sender_then_from, teardown),
      cmocka_unit_test_teardown(test_mail_recipients_from_to_and_cc_with_groups, teardown),
      cmocka_unit_test_teardown(test_mail_recipient_headers_are_configurable, teardown),
      cmocka_unit_test_teardown(test_mail_trusted_networks_move_the_client, teardown),
      cmocka_unit_test_teardown(test_mail_time_falls_back_to_date_then_the_caller, teardown),
      cmocka_unit_test_teardown(test_mail_helo_literals_pass_and_junk_helos_drop, teardown),
      cmocka_unit_test_teardown(test_mail_skips_with_reasons, teardown),
      cmocka_unit_test_teardown(test_mail_skips_an_oversized_header_section, teardown),
      cmocka_unit_test_teardown(test_mail_caps_recipients, teardown),
      cmocka_unit_test(test_mail_skip_names_are_distinct),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
