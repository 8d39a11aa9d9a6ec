/* test_received.c — the Received parser against the shapes real MTAs write (a table of
 * header -> ip / helo / rdns / time), dates, trusted networks and the trust walk.
 * Single-threaded cmocka tests; everything is pure. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/netset.h"
#include "repgraph/received.h"

#define T_2024_03_05_10 1709632800 /* Tue, 5 Mar 2024 10:00:00 +0000 */

typedef struct {
  const char *mta, *header, *ip, *helo, *rdns;
  int64_t ts;
  bool auth;
} shape_t;

static const shape_t shapes[] = {
    {"postfix",
     "from mail.example.org (mail.example.org [192.0.2.1])\r\n\tby mx.example.net (Postfix) with "
     "ESMTPS id 4Q1xyz for <bob@example.net>; Tue, 5 Mar 2024 10:00:00 +0000 (UTC)",
     "192.0.2.1", "mail.example.org", "mail.example.org", T_2024_03_05_10, false},
    {"postfix unknown rdns, helo differs",
     "from helo.invalid (unknown [203.0.113.9]) by mx.example.net (Postfix) with SMTP id 1; "
     "Tue, 5 Mar 2024 11:00:00 +0100",
     "203.0.113.9", "helo.invalid", "", T_2024_03_05_10, false},
    {"postfix TLS comment with nested parentheses",
     "from mail.example.org (mail.example.org [192.0.2.1])\n\t(using TLSv1.3 with cipher "
     "TLS_AES_256_GCM_SHA384 (256/256 bits)\n\t key-exchange X25519 server-signature RSA-PSS "
     "(2048 bits))\n\t(No client certificate requested)\n\tby mx.example.net (Postfix) with "
     "ESMTPS id 4Q; Tue, 5 Mar 2024 10:00:00 +0000",
     "192.0.2.1", "mail.example.org", "mail.example.org", T_2024_03_05_10, false},
    {"postfix IPv6",
     "from mail.example.org (mail.example.org [IPv6:2001:DB8:0:0::25]) by mx.example.net "
     "(Postfix) with ESMTPS id 5; Tue, 5 Mar 2024 05:00:00 -0500",
     "2001:db8::25", "mail.example.org", "mail.example.org", T_2024_03_05_10, false},
    {"postfix authenticated submission",
     "from [192.168.1.20] (dsl-1.isp.example [198.51.100.20])\n\t(Authenticated sender: "
     "alice)\n\tby smtp.example.net (Postfix) with ESMTPSA id 6; Tue, 5 Mar 2024 10:00:00 GMT",
     "198.51.100.20", "[192.168.1.20]", "dsl-1.isp.example", T_2024_03_05_10, true},
    {"postfix local pickup (no relay)",
     "by mx.example.net (Postfix, from userid 1000) id 7; Tue, 5 Mar 2024 10:00:00 +0000", NULL, "",
     "", T_2024_03_05_10, false},
    {"sendmail",
     "from helo.example.org (rdns.example.org [192.0.2.7])\n\tby mx.example.net "
     "(8.17.1/8.17.1) with ESMTP id 425A0000123; Tue, 5 Mar 2024 10:00:00 +0000",
     "192.0.2.7", "helo.example.org", "rdns.example.org", T_2024_03_05_10, false},
    {"sendmail ident, may be forged",
     "from helo.example.org (user@rdns.example.org [192.0.2.8] (may be forged)) by "
     "mx.example.net (8.15.2/8.15.2) with ESMTP id x; Tue, 5 Mar 2024 10:00:00 +0000",
     "192.0.2.8", "helo.example.org", "rdns.example.org", T_2024_03_05_10, false},
    {"sendmail no rdns",
     "from helo.example.org ([192.0.2.9]) by mx.example.net (8.15.2/8.15.2) with ESMTP id y; "
     "Tue, 5 Mar 2024 10:00:00 +0000",
     "192.0.2.9", "helo.example.org", "", T_2024_03_05_10, false},
    {"exim, helo differs",
     "from rdns.example.org ([192.0.2.10] helo=helo.example.org)\n\tby mx.example.net with "
     "esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384\n\t(Exim 4.96)\n\t(envelope-from "
     "<a@example.org>)\n\tid 1rhZ-000; Tue, 05 Mar 2024 10:00:00 +0000",
     "192.0.2.10", "helo.example.org", "rdns.example.org", T_2024_03_05_10, false},
    {"exim, no rdns, port",
     "from [192.0.2.11] (port=51234 helo=helo.example.org) by mx.example.net with esmtp (Exim "
     "4.96) (envelope-from <a@example.org>) id 1rhZ-001; Tue, 05 Mar 2024 10:00:00 +0000",
     "192.0.2.11", "helo.example.org", "", T_2024_03_05_10, false},
    {"exim, address with port, helo same as rdns",
     "from mail.example.org ([192.0.2.12]:40000) by mx.example.net with esmtp (Exim 4.94.2) "
     "id 1; Tue, 5 Mar 2024 10:00:00 +0000",
     "192.0.2.12", "mail.example.org", "", T_2024_03_05_10, false},
    {"exim IPv6 without a prefix",
     "from [2001:db8::1] (helo=v6.example.org) by mx.example.net with esmtp (Exim 4.96) id 2; "
     "Tue, 05 Mar 2024 10:00:00 +0000",
     "2001:db8::1", "v6.example.org", "", T_2024_03_05_10, false},
    {"exim local",
     "from alice by host.example.net with local (Exim 4.96) (envelope-from <alice@x.example>) "
     "id 3; Tue, 05 Mar 2024 10:00:00 +0000",
     NULL, "alice", "", T_2024_03_05_10, false},
    {"exchange online",
     "from AM0PR02MB1234.eurprd02.prod.outlook.com (2603:10a6:208:ac::12) by "
     "AM0PR02MB5678.eurprd02.prod.outlook.com (2603:10a6:208:12::34) with Microsoft SMTP Server "
     "(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7339.38; Tue, 5 "
     "Mar 2024 10:00:00 +0000",
     "2603:10a6:208:ac::12", "AM0PR02MB1234.eurprd02.prod.outlook.com", "", T_2024_03_05_10, false},
    {"exchange on premises",
     "from mail.partner.example (192.0.2.13) by EXCH01.corp.local (10.0.0.5) with Microsoft "
     "SMTP Server id 14.3.498.0; Tue, 5 Mar 2024 10:00:00 +0000",
     "192.0.2.13", "mail.partner.example", "", T_2024_03_05_10, false},
    {"exchange 2003",
     "from mail ([192.0.2.14]) by exch.corp.local with Microsoft SMTPSVC(6.0.3790.4675);\n\t "
     "Tue, 5 Mar 2024 10:00:00 +0000",
     "192.0.2.14", "mail", "", T_2024_03_05_10, false},
    {"qmail",
     "from unknown (HELO helo.example.org) (192.0.2.15)\n  by mx.example.net with SMTP; 5 Mar "
     "2024 10:00:00 -0000",
     "192.0.2.15", "helo.example.org", "", T_2024_03_05_10, false},
    {"qmail with rdns and remote info",
     "from rdns.example.org (HELO helo.example.org) (user@192.0.2.16) by mx.example.net with "
     "SMTP; 5 Mar 2024 10:00:00 -0000",
     "192.0.2.16", "helo.example.org", "rdns.example.org", T_2024_03_05_10, false},
    {"qmail helo same as rdns",
     "from rdns.example.org (192.0.2.17) by mx.example.net with SMTP; 5 Mar 2024 10:00:00 -0000",
     "192.0.2.17", "rdns.example.org", "", T_2024_03_05_10, false},
    {"qmail invoked from network", "(qmail 12345 invoked from network); 5 Mar 2024 10:00:00 -0000",
     NULL, "", "", T_2024_03_05_10, false},
    {"gmail mx",
     "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\n        by "
     "mx.google.com with SMTPS id a1-20020a17.2024.03.05.02.00.00\n        for <bob@gmail.com>\n "
     "       (Google Transport Security);\n        Tue, 05 Mar 2024 02:00:00 -0800 (PST)",
     "209.85.220.41", "mail-sor-f41.google.com", "mail-sor-f41.google.com", T_2024_03_05_10, false},
    {"gmail IPv6 mx",
     "from mail-yb1-xb2f.google.com (mail-yb1-xb2f.google.com. [2607:f8b0:4864:20::b2f]) by "
     "mx.example.net (Postfix) with ESMTPS id 8; Tue, 5 Mar 2024 10:00:00 +0000",
     "2607:f8b0:4864:20::b2f", "mail-yb1-xb2f.google.com", "mail-yb1-xb2f.google.com",
     T_2024_03_05_10, false},
    {"gmail internal by-only hop",
     "by 2002:a05:6a10:1234:b0:5a1:2345:6789 with SMTP id abc;\n        Tue, 5 Mar 2024 02:00:00 "
     "-0800 (PST)",
     NULL, "", "", T_2024_03_05_10, false},
    {"gmail submission",
     "from [192.168.1.10] ([203.0.113.5])\n        by smtp.gmail.com with ESMTPSA id x;\n   "
     "     Tue, 05 Mar 2024 02:00:00 -0800 (PST)",
     "203.0.113.5", "[192.168.1.10]", "", T_2024_03_05_10, true},
    {"courier ipv4-mapped",
     "from mail.example.org (mail.example.org [::ffff:192.0.2.18]) by mx.example.net with "
     "ESMTP; Tue, 05 Mar 2024 10:00:00 +0000",
     "192.0.2.18", "mail.example.org", "mail.example.org", T_2024_03_05_10, false},
    {"dovecot lmtp by name",
     "from mx.example.net ([10.0.0.2])\n\tby mail.example.net with LMTP\n\tid "
     "abc\n\t(envelope-from "
     "<a@example.org>)\n\tfor <bob@example.net>; Tue, 05 Mar 2024 10:00:00 +0000",
     "10.0.0.2", "mx.example.net", "", T_2024_03_05_10, false},
    {"missing date", "from a.example (a.example [192.0.2.19]) by mx.example.net", "192.0.2.19",
     "a.example", "a.example", 0, false},
    {"garbled date", "from a.example (a.example [192.0.2.20]) by mx; yesterday at noon",
     "192.0.2.20", "a.example", "a.example", 0, false},
    {"bad address", "from x.example (x.example [999.1.2.3]) by mx; 5 Mar 2024 10:00:00 +0000", NULL,
     "x.example", "", T_2024_03_05_10, false},
    {"truncated", "from mail.example.org (mail.example.org [192.0.2.", NULL, "mail.example.org", "",
     0, false},
    {"empty", "", NULL, "", "", 0, false},
    {"garbage", ")))(((;;;[[[]]]@@@ from from by by", NULL, "", "", 0, false},
};

static void test_received_parses_real_world_shapes(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const shape_t *s = &shapes[i];
    rg_received_t r;
    int rc = rg_received_parse(s->header, strlen(s->header), &r);
    if ((rc == RG_OK) != (s->ip != NULL) || (s->ip && strcmp(r.ip, s->ip)) ||
        strcmp(r.helo, s->helo) || strcmp(r.rdns, s->rdns) || r.ts != s->ts || r.auth != s->auth)
      fail_msg(
          "%s: got rc %d ip '%s' helo '%s' rdns '%s' ts %lld auth %d; want ip '%s' helo "
          "'%s' rdns '%s' ts %lld auth %d",
          s->mta, rc, r.ip, r.helo, r.rdns, (long long)r.ts, r.auth, s->ip ? s->ip : "(none)",
          s->helo, s->rdns, (long long)s->ts, s->auth);
  }
}

static void test_received_records_the_receiving_relay(void **state) {
  (void)state;
  rg_received_t r;
  const char *h = shapes[0].header;
  assert_int_equal(rg_received_parse(h, strlen(h), &r), RG_OK);
  assert_string_equal(r.by, "mx.example.net");
}

static void test_received_never_reads_past_its_length(void **state) {
  (void)state;
  /* The bytes after len would complete the address: they must not be seen. */
  const char *h = "from a (a [192.0.2.1]) by mx";
  rg_received_t r;
  assert_int_equal(rg_received_parse(h, strlen("from a (a [192.0.2"), &r), RG_ENOT_FOUND);
  assert_string_equal(r.ip, "");
}

static void test_received_dates(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int64_t want; /* -1: rejected */
  } dates[] = {
      {"Tue, 5 Mar 2024 10:00:00 +0000", T_2024_03_05_10},
      {"5 Mar 2024 10:00 +0000", T_2024_03_05_10},
      {"Tue, 05 Mar 24 10:00:00 GMT", T_2024_03_05_10},
      {"Tue, 5 Mar 2024 05:00:00 EST", T_2024_03_05_10},
      {"Tue,  5 Mar 2024 10:00:00 +0000 (UTC)", T_2024_03_05_10},
      {"tue, 5 MAR 2024 12:00:00 +0200", T_2024_03_05_10},
      {"5 Mar 2024 10:00:00 +0000 (Coordinated (Universal) Time)", T_2024_03_05_10},
      {"Tue Mar  5 10:00:00 2024", T_2024_03_05_10},
      {"Tue Mar 5 10:00:00 UTC 2024", T_2024_03_05_10},
      {"Thu, 1 Jan 1970 00:00:00 +0000", 0},
      {"Wed, 29 Feb 2028 23:59:60 +0000", 1835481599},
      {"Tue, 5 Mar 2024 10:00:00 +9999", T_2024_03_05_10}, /* unreadable zone: UT */
      {"Wed, 31 Dec 1969 23:59:59 +0000", -1},
      {"Tue, 5 Foo 2024 10:00:00 +0000", -1},
      {"Tue, 5 Mar 2024 25:00:00 +0000", -1},
      {"Tue, 5 Mar 2024", -1},
      {"", -1},
      {"2024-03-05T10:00:00Z", -1},
  };
  for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
    int64_t t = -1;
    int rc = rg_received_parse_date(dates[i].text, strlen(dates[i].text), &t);
    if (dates[i].want < 0 ? rc == RG_OK : rc != RG_OK || t != dates[i].want)
      fail_msg("'%s': rc %d t %lld, want %lld", dates[i].text, rc, (long long)t,
               (long long)dates[i].want);
  }
}

static rg_netset_t *netset(const char *list) {
  char err[200];
  rg_netset_t *s = rg_netset_new();
  assert_non_null(s);
  assert_int_equal(rg_netset_add(s, list, err, sizeof err), RG_OK);
  return s;
}

static void test_netset_matches_like_trusted_networks(void **state) {
  (void)state;
  rg_netset_t *s = netset(
      "192.168. 10.0.1/24 !10.0.1.5, 212.17.35.15 [2001:db8::]/32 "
      "!2001:db8:1::/64 2001:db8:1::1");
  assert_true(rg_netset_contains(s, "192.168.200.1"));
  assert_false(rg_netset_contains(s, "192.169.0.1"));
  assert_true(rg_netset_contains(s, "10.0.1.4"));
  assert_false(rg_netset_contains(s, "10.0.1.5")); /* the more specific exclusion wins */
  assert_true(rg_netset_contains(s, "212.17.35.15"));
  assert_false(rg_netset_contains(s, "212.17.35.16"));
  assert_true(rg_netset_contains(s, "2001:db8:ffff::1"));
  assert_false(rg_netset_contains(s, "2001:db8:1::2"));
  assert_true(rg_netset_contains(s, "2001:db8:1::1"));
  assert_true(rg_netset_contains(s, "::ffff:10.0.1.9")); /* mapped IPv4 */
  assert_false(rg_netset_contains(s, "not an ip"));
  assert_int_equal(rg_netset_count(s), 7);
  rg_netset_free(s);
}

static void test_netset_refuses_bad_entries_whole(void **state) {
  (void)state;
  char err[200] = "";
  rg_netset_t *s = rg_netset_new();
  static const char *const bad[] = {"10.0.0.0/33", "300.1.1.1", "10.0.0.0/", "example.com",
                                    "1.2.3.4.",    "::1/129",   "!",         "10.0.0.1/-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char list[64];
    snprintf(list, sizeof list, "192.0.2.0/24 %s", bad[i]);
    assert_int_equal(rg_netset_add(s, list, err, sizeof err), RG_ECONFIG);
    assert_non_null(strstr(err, bad[i]));
    assert_int_equal(rg_netset_count(s), 0); /* nothing of a refused list is kept */
  }
  rg_netset_free(s);
}

/* Parses a chain of headers, newest first. */
static size_t chain(const char *const *headers, rg_received_t *hops) {
  size_t n = 0;
  for (; headers[n]; n++) rg_received_parse(headers[n], strlen(headers[n]), &hops[n]);
  return n;
}

static const char *const forwarded[] = {
    "from mx2.example.net (mx2.example.net [198.51.100.2]) by mail.example.net with LMTP; "
    "Tue, 5 Mar 2024 10:00:03 +0000",
    "by mx2.example.net (Postfix, from userid 0) id 9; Tue, 5 Mar 2024 10:00:02 +0000",
    "from friend.example.com (friend.example.com [212.17.35.14]) by mx2.example.net (Postfix) "
    "with ESMTP id 8; Tue, 5 Mar 2024 10:00:01 +0000",
    "from notrust.example.com (notrust.example.com [193.120.149.226]) by friend.example.com "
    "with SMTP; Tue, 5 Mar 2024 10:00:00 +0000",
    "from loser.example.org (loser.example.org [61.119.13.18]) by notrust.example.com with "
    "SMTP; Tue, 5 Mar 2024 09:59:00 +0000",
    NULL};

static void test_trust_walk_stops_at_the_first_untrusted_relay(void **state) {
  (void)state;
  rg_received_t hops[8];
  size_t n = chain(forwarded, hops), at = 99;
  bool internal = true;
  /* Our MX relays and the friend are trusted: notrust is the client, not loser (its header
   * was written by an untrusted host and could be forged). */
  rg_netset_t *s = netset("198.51.100.0/24 212.17.35.14");
  assert_int_equal(rg_received_client(hops, n, s, &at, &internal), RG_OK);
  assert_int_equal(at, 3);
  assert_false(internal);
  assert_string_equal(hops[at].ip, "193.120.149.226");
  assert_string_equal(hops[at].helo, "notrust.example.com");
  rg_netset_free(s);
  /* Trusting only our MX: the friend is the client. */
  s = netset("198.51.100.2");
  assert_int_equal(rg_received_client(hops, n, s, &at, &internal), RG_OK);
  assert_int_equal(at, 2);
  rg_netset_free(s);
  /* Trusting nothing configured and no private hops: the topmost relay is the client. */
  assert_int_equal(rg_received_client(hops, n, NULL, &at, &internal), RG_OK);
  assert_int_equal(at, 0);
}

static void test_trust_walk_infers_private_and_authenticated_hops(void **state) {
  (void)state;
  static const char *const headers[] = {
      "from mx.corp.example (mx.corp.example [10.1.0.2]) by store.corp.example with LMTP; "
      "Tue, 5 Mar 2024 10:00:02 +0000",
      "from [172.16.4.4] (vpn.example [172.16.4.4]) by mx.corp.example with ESMTPSA; "
      "Tue, 5 Mar 2024 10:00:01 +0000",
      "from laptop (dsl.isp.example [198.51.100.77]) by relay.example with ESMTPA; "
      "Tue, 5 Mar 2024 10:00:00 +0000",
      "from evil (evil.example [203.0.113.66]) by laptop with SMTP; Tue, 5 Mar 2024 09:00:00 "
      "+0000",
      NULL};
  rg_received_t hops[8];
  size_t n = chain(headers, hops), at;
  bool internal;
  assert_int_equal(rg_received_client(hops, n, NULL, &at, &internal), RG_OK);
  assert_int_equal(at, 3); /* private, private, authenticated, then untrusted */
  assert_false(internal);
  /* With a configured set the inference is off: the authenticated hop is the client. */
  rg_netset_t *s = netset("10.0.0.0/8 172.16.0.0/12");
  assert_int_equal(rg_received_client(hops, n, s, &at, &internal), RG_OK);
  assert_int_equal(at, 2);
  rg_netset_free(s);
}

static void test_trust_walk_with_every_relay_trusted_takes_the_oldest(void **state) {
  (void)state;
  static const char *const headers[] = {
      "from localhost (localhost [127.0.0.1]) by mx.example with ESMTP; 5 Mar 2024 10:00:01 "
      "+0000",
      "from ws1.corp (ws1.corp [10.2.3.4]) by mx.example with ESMTP; 5 Mar 2024 10:00:00 "
      "+0000",
      "(qmail 1 invoked by uid 89); 5 Mar 2024 09:59:00 +0000", NULL};
  rg_received_t hops[8];
  size_t n = chain(headers, hops), at;
  bool internal;
  rg_netset_t *s = netset("10.0.0.0/8");
  assert_int_equal(rg_received_client(hops, n, s, &at, &internal), RG_OK);
  assert_int_equal(at, 1);
  assert_true(internal);
  rg_netset_free(s);
}

static void test_trust_walk_without_relays_finds_nothing(void **state) {
  (void)state;
  static const char *const headers[] = {
      "by mx.example.net (Postfix, from userid 1000) id 7; Tue, 5 Mar 2024 10:00:00 +0000",
      "garbage", NULL};
  rg_received_t hops[4];
  size_t n = chain(headers, hops), at;
  bool internal;
  assert_int_equal(rg_received_client(hops, n, NULL, &at, &internal), RG_ENOT_FOUND);
  assert_int_equal(rg_received_client(hops, 0, NULL, &at, &internal), RG_ENOT_FOUND);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_received_parses_real_world_shapes),
      cmocka_unit_test(test_received_records_the_receiving_relay),
      cmocka_unit_test(test_received_never_reads_past_its_length),
      cmocka_unit_test(test_received_dates),
      cmocka_unit_test(test_netset_matches_like_trusted_networks),
      cmocka_unit_test(test_netset_refuses_bad_entries_whole),
      cmocka_unit_test(test_trust_walk_stops_at_the_first_untrusted_relay),
      cmocka_unit_test(test_trust_walk_infers_private_and_authenticated_hops),
      cmocka_unit_test(test_trust_walk_with_every_relay_trusted_takes_the_oldest),
      cmocka_unit_test(test_trust_walk_without_relays_finds_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
