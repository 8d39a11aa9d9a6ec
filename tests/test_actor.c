/* test_actor.c — actor type / edge kind tables and the normalisation rules of actor.c for
 * domains, IPs and nets, the text form, derived actors and hostile input (addresses:
 * test_actor_address.c). Single-threaded cmocka tests; everything is pure. */
#include "actor_cases.h"

/* ---- tables ---------------------------------------------------------------------- */

static void test_actor_type_names_roundtrip(void **state) {
  (void)state;
  static const struct {
    rg_actor_type_t type;
    const char *name;
  } want[] = {{RG_ACTOR_ADDRESS, "address"},
              {RG_ACTOR_IP, "ip"},
              {RG_ACTOR_NET, "net"},
              {RG_ACTOR_DOMAIN, "domain"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    assert_string_equal(rg_actor_type_name((int)want[i].type), want[i].name);
    rg_actor_type_t t = 0;
    assert_int_equal(rg_actor_type_parse(want[i].name, strlen(want[i].name), &t), RG_OK);
    assert_int_equal(t, want[i].type);
  }
  /* Stored numbers never change. */
  assert_int_equal(RG_ACTOR_ADDRESS, 1);
  assert_int_equal(RG_ACTOR_IP, 2);
  assert_int_equal(RG_ACTOR_NET, 3);
  assert_int_equal(RG_ACTOR_DOMAIN, 4);
}

static void test_actor_type_min_max_match_table(void **state) {
  (void)state;
  for (int t = RG_ACTOR_TYPE_MIN; t <= RG_ACTOR_TYPE_MAX; t++) {
    assert_non_null(rg_actor_type_name(t));
  }
  assert_null(rg_actor_type_name(RG_ACTOR_TYPE_MIN - 1));
  assert_null(rg_actor_type_name(RG_ACTOR_TYPE_MAX + 1));
  assert_null(rg_actor_type_name(-1));
}

static void test_actor_type_parse_rejects_unknown_and_respects_len(void **state) {
  (void)state;
  rg_actor_type_t t = RG_ACTOR_DOMAIN;
  assert_int_equal(rg_actor_type_parse("Address", 7, &t), RG_EINVALID_ACTOR);
  assert_int_equal(rg_actor_type_parse("addres", 6, &t), RG_EINVALID_ACTOR);
  assert_int_equal(rg_actor_type_parse("addresses", 9, &t), RG_EINVALID_ACTOR);
  assert_int_equal(rg_actor_type_parse("", 0, &t), RG_EINVALID_ACTOR);
  assert_int_equal(rg_actor_type_parse("ip\0", 3, &t), RG_EINVALID_ACTOR);
  assert_int_equal(t, RG_ACTOR_DOMAIN); /* untouched on failure */
  assert_int_equal(rg_actor_type_parse("ipx", 2, &t), RG_OK);
  assert_int_equal(t, RG_ACTOR_IP);
}

static void test_edge_kind_table(void **state) {
  (void)state;
  static const struct {
    rg_edge_kind_t kind;
    const char *name;
    rg_actor_type_t src, dst;
  } want[] = {
      {RG_EDGE_MAILED, "mailed", RG_ACTOR_ADDRESS, RG_ACTOR_ADDRESS},
      {RG_EDGE_SENT_FROM, "sent_from", RG_ACTOR_ADDRESS, RG_ACTOR_IP},
      {RG_EDGE_IN_NET, "in_net", RG_ACTOR_IP, RG_ACTOR_NET},
      {RG_EDGE_USES_DOMAIN, "uses_domain", RG_ACTOR_ADDRESS, RG_ACTOR_DOMAIN},
      {RG_EDGE_HELO, "helo", RG_ACTOR_IP, RG_ACTOR_DOMAIN},
      {RG_EDGE_RDNS, "rdns", RG_ACTOR_IP, RG_ACTOR_DOMAIN},
  };
  assert_int_equal(sizeof want / sizeof want[0], RG_EDGE_KIND_COUNT);
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    assert_int_equal(want[i].kind, (int)i); /* stored numbers never change */
    assert_string_equal(rg_edge_kind_name((int)want[i].kind), want[i].name);
    rg_edge_kind_t k = RG_EDGE_KIND_COUNT;
    assert_int_equal(rg_edge_kind_parse(want[i].name, strlen(want[i].name), &k), RG_OK);
    assert_int_equal(k, want[i].kind);
    /* Exactly one (src, dst) pair fits each kind. */
    for (int s = RG_ACTOR_TYPE_MIN; s <= RG_ACTOR_TYPE_MAX; s++) {
      for (int d = RG_ACTOR_TYPE_MIN; d <= RG_ACTOR_TYPE_MAX; d++) {
        bool fits = rg_edge_kind_fits(want[i].kind, (rg_actor_type_t)s, (rg_actor_type_t)d);
        assert_int_equal(fits, s == (int)want[i].src && d == (int)want[i].dst);
      }
    }
  }
}

static void test_edge_kind_rejects_unknown(void **state) {
  (void)state;
  assert_null(rg_edge_kind_name(RG_EDGE_KIND_COUNT));
  assert_null(rg_edge_kind_name(-1));
  rg_edge_kind_t k = RG_EDGE_HELO;
  assert_int_equal(rg_edge_kind_parse("MAILED", 6, &k), RG_EINVALID_EDGE);
  assert_int_equal(rg_edge_kind_parse("mail", 4, &k), RG_EINVALID_EDGE);
  assert_int_equal(rg_edge_kind_parse("", 0, &k), RG_EINVALID_EDGE);
  assert_int_equal(rg_edge_kind_parse("sent-from", 9, &k), RG_EINVALID_EDGE);
  assert_int_equal(k, RG_EDGE_HELO);
  assert_int_equal(rg_edge_kind_parse("rdnsXYZ", 4, &k), RG_OK);
  assert_int_equal(k, RG_EDGE_RDNS);
  assert_false(rg_edge_kind_fits(RG_EDGE_KIND_COUNT, RG_ACTOR_ADDRESS, RG_ACTOR_ADDRESS));
  assert_false(rg_edge_kind_fits(RG_EDGE_MAILED, 0, RG_ACTOR_ADDRESS));
  assert_false(rg_edge_kind_fits(RG_EDGE_MAILED, RG_ACTOR_ADDRESS, RG_ACTOR_IP));
}

/* ---- domain ---------------------------------------------------------------------- */

static void test_domain_lowercases_trims_and_strips_trailing_dot(void **state) {
  (void)state;
  accept(RG_ACTOR_DOMAIN, "  Mail.Example.COM.  ", "mail.example.com");
  accept(RG_ACTOR_DOMAIN, "localhost", "localhost");
  accept(RG_ACTOR_DOMAIN, "EXAMPLE.com", "example.com");
}

static void test_domain_strips_only_one_trailing_dot(void **state) {
  (void)state;
  reject(RG_ACTOR_DOMAIN, "example.com..", "empty domain label");
  reject(RG_ACTOR_DOMAIN, ".", "empty domain");
}

static void test_domain_accepts_digits_hyphens_underscores_and_idna(void **state) {
  (void)state;
  accept(RG_ACTOR_DOMAIN, "_dmarc.Example.com", "_dmarc.example.com");
  accept(RG_ACTOR_DOMAIN, "sel_1._domainkey.example.com", "sel_1._domainkey.example.com");
  accept(RG_ACTOR_DOMAIN, "123.example.com", "123.example.com");
  accept(RG_ACTOR_DOMAIN, "a-b--c.example.com", "a-b--c.example.com");
  accept(RG_ACTOR_DOMAIN, "XN--Bcher-KVA.de", "xn--bcher-kva.de");
  accept(RG_ACTOR_DOMAIN, "a.b", "a.b");
}

/* One form for U-labels and A-labels: the A-label (libidn2, UTS #46 non-transitional). */
static void test_domain_u_labels_become_a_labels(void **state) {
  (void)state;
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"b\xc3\xbc" "cher.de", "xn--bcher-kva.de"},
      {"B\xc3\x9c" "CHER.de.", "xn--bcher-kva.de"},   /* mapped to lower case, dot dropped */
      {"xn--bcher-kva.de", "xn--bcher-kva.de"},          /* the A-label is the same actor */
      {"mail.\xe4\xbe\x8b\xe5\xad\x90.example", "mail.xn--fsqu00a.example"},
      {"fa\xc3\x9f.de", "xn--fa-hia.de"},               /* non-transitional: ß kept */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    accept(RG_ACTOR_DOMAIN, cases[i].in, cases[i].want);
}

static void test_domain_rejects_invalid_utf8_and_bad_idn(void **state) {
  (void)state;
  reject(RG_ACTOR_DOMAIN, "example.c\xff", "invalid UTF-8");
  reject(RG_ACTOR_DOMAIN, "\xc3\xa9\xed\xa0\x80.de", "invalid UTF-8"); /* a surrogate */
  reject(RG_ACTOR_DOMAIN, "\xe2\x80\x8b.de", NULL); /* U+200B alone is no label */
}

static void test_domain_rejects_empty_and_empty_labels(void **state) {
  (void)state;
  reject(RG_ACTOR_DOMAIN, "", "empty identifier");
  reject(RG_ACTOR_DOMAIN, "   ", "empty identifier");
  reject_n(RG_ACTOR_DOMAIN, NULL, 0, NULL);
  reject(RG_ACTOR_DOMAIN, ".example.com", "empty domain label");
  reject(RG_ACTOR_DOMAIN, "example..com", "empty domain label");
}

static void test_domain_rejects_bad_hyphens(void **state) {
  (void)state;
  reject(RG_ACTOR_DOMAIN, "-example.com", "domain label starts or ends with '-'");
  reject(RG_ACTOR_DOMAIN, "example-.com", "domain label starts or ends with '-'");
  reject(RG_ACTOR_DOMAIN, "example.com-", "domain label starts or ends with '-'");
  reject(RG_ACTOR_DOMAIN, "example.-com", "domain label starts or ends with '-'");
  reject(RG_ACTOR_DOMAIN, "-", "domain label starts or ends with '-'");
}

static void test_domain_rejects_bad_characters(void **state) {
  (void)state;
  reject(RG_ACTOR_DOMAIN, "exa mple.com", "control or space character");
  reject(RG_ACTOR_DOMAIN, "exa\tmple.com", "control or space character");
  reject(RG_ACTOR_DOMAIN, "exa!mple.com", "invalid character in domain");
  reject(RG_ACTOR_DOMAIN, "example.com/path", "invalid character in domain");
  reject(RG_ACTOR_DOMAIN, "user@example.com", "invalid character in domain");
  reject(RG_ACTOR_DOMAIN, "[192.0.2.1]", "invalid character in domain");
}

static void test_domain_label_at_most_63_bytes(void **state) {
  (void)state;
  char in[128], want[128];
  memset(in, 'A', 63);
  strcpy(in + 63, ".com");
  memset(want, 'a', 63);
  strcpy(want + 63, ".com");
  accept(RG_ACTOR_DOMAIN, in, want);
  memset(in, 'a', 64);
  strcpy(in + 64, ".com");
  reject(RG_ACTOR_DOMAIN, in, "domain label longer than 63 bytes");
  memcpy(in, "com.", 4);
  memset(in + 4, 'a', 64);
  in[68] = '\0';
  reject(RG_ACTOR_DOMAIN, in, "domain label longer than 63 bytes");
}

static void test_domain_at_most_253_bytes(void **state) {
  (void)state;
  char in[300];
  make_domain(in, 253);
  accept(RG_ACTOR_DOMAIN, in, in);
  char dotted[300];
  strcpy(dotted, in);
  strcat(dotted, ".");
  accept(RG_ACTOR_DOMAIN, dotted, in); /* 254 with the trailing dot */
  make_domain(in, 254);
  reject(RG_ACTOR_DOMAIN, in, "domain longer than 253 bytes");
  make_domain(in, 255);
  reject(RG_ACTOR_DOMAIN, in, "domain longer than 253 bytes");
}

/* ---- ip -------------------------------------------------------------------------- */

static void test_ipv4_canonical_form(void **state) {
  (void)state;
  accept(RG_ACTOR_IP, "192.0.2.1", "192.0.2.1");
  accept(RG_ACTOR_IP, " 192.0.2.1\r\n", "192.0.2.1");
  accept(RG_ACTOR_IP, "[192.0.2.1]", "192.0.2.1");
  accept(RG_ACTOR_IP, "0.0.0.0", "0.0.0.0");
  accept(RG_ACTOR_IP, "255.255.255.255", "255.255.255.255");
}

static void test_ipv6_canonical_form(void **state) {
  (void)state;
  accept(RG_ACTOR_IP, "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1");
  accept(RG_ACTOR_IP, "[2001:db8::1]", "2001:db8::1");
  accept(RG_ACTOR_IP, "  2001:DB8::1 ", "2001:db8::1");
  accept(RG_ACTOR_IP, "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1");
  accept(RG_ACTOR_IP, "2001:db8:0:0:0:0:2:1", "2001:db8::2:1");
  accept(RG_ACTOR_IP, "FE80::", "fe80::");
  accept(RG_ACTOR_IP, "::1", "::1");
  accept(RG_ACTOR_IP, "::", "::");
}

static void test_ipv4_mapped_ipv6_becomes_ipv4(void **state) {
  (void)state;
  accept(RG_ACTOR_IP, "::ffff:192.0.2.1", "192.0.2.1");
  accept(RG_ACTOR_IP, "::FFFF:c000:0201", "192.0.2.1");
  accept(RG_ACTOR_IP, "[::ffff:10.0.0.1]", "10.0.0.1");
  accept(RG_ACTOR_IP, "0:0:0:0:0:ffff:7f00:1", "127.0.0.1");
  /* Not mapped: stays IPv6. */
  accept(RG_ACTOR_IP, "::fffe:c000:201", "::fffe:c000:201");
  accept(RG_ACTOR_IP, "1::ffff:c000:201", "1::ffff:c000:201");
}

static void test_ip_rejects_non_addresses(void **state) {
  (void)state;
  static const char *const bad[] = {
      "1.2.3",          "01.2.3.4",     "256.1.1.1", "1.2.3.4.5",  "example.com",
      "1.2.3.4/24",     "fe80::1%eth0", "[1.2.3.4",  "1.2.3.4]",   "[[1.2.3.4]]",
      "2001:db8::1::2", "2001:db8:::1", "12345::",   ":::",        "1.2.3.4 5",
      "0x7f.0.0.1",     "[]",           "-1.2.3.4",  "1.2.3.4:25",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    reject(RG_ACTOR_IP, bad[i], "not an IPv4 or IPv6 address");
  }
  reject(RG_ACTOR_IP, "", "empty identifier");
  char longer[200];
  memset(longer, '1', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  reject(RG_ACTOR_IP, longer, "not an IPv4 or IPv6 address");
}

/* ---- net ------------------------------------------------------------------------- */

static void test_net_clears_host_bits(void **state) {
  (void)state;
  accept(RG_ACTOR_NET, "10.1.2.3/24", "10.1.2.0/24");
  accept(RG_ACTOR_NET, " 10.1.2.3/24\n", "10.1.2.0/24");
  accept(RG_ACTOR_NET, "10.1.255.3/17", "10.1.128.0/17");
  accept(RG_ACTOR_NET, "10.1.2.3/32", "10.1.2.3/32");
  accept(RG_ACTOR_NET, "10.1.2.3/31", "10.1.2.2/31");
  accept(RG_ACTOR_NET, "10.1.2.3/0", "0.0.0.0/0");
  accept(RG_ACTOR_NET, "255.255.255.255/1", "128.0.0.0/1");
  accept(RG_ACTOR_NET, "2001:DB8:1:2:3:4:5:6/64", "2001:db8:1:2::/64");
  accept(RG_ACTOR_NET, "2001:db8:ffff::/33", "2001:db8:8000::/33");
  accept(RG_ACTOR_NET, "2001:db8::1/128", "2001:db8::1/128");
  accept(RG_ACTOR_NET, "2001:db8::1/0", "::/0");
  accept(RG_ACTOR_NET, "[2001:db8::1]/48", "2001:db8::/48");
  accept(RG_ACTOR_NET, "10.0.0.0/08", "10.0.0.0/8");
}

static void test_net_ipv4_mapped_with_long_prefix_becomes_ipv4(void **state) {
  (void)state;
  accept(RG_ACTOR_NET, "::ffff:10.1.2.3/120", "10.1.2.0/24");
  accept(RG_ACTOR_NET, "::ffff:10.1.2.3/128", "10.1.2.3/32");
  accept(RG_ACTOR_NET, "::ffff:10.1.2.3/96", "0.0.0.0/0");
  /* A shorter prefix covers more than IPv4-mapped space: stays IPv6. */
  accept(RG_ACTOR_NET, "::ffff:10.1.2.3/80", "::/80");
  accept(RG_ACTOR_NET, "::ffff:10.1.2.3/88", "::ff00:0:0/88");
}

static void test_net_rejects_missing_or_bad_prefix(void **state) {
  (void)state;
  reject(RG_ACTOR_NET, "10.0.0.0", "missing '/prefix'");
  reject(RG_ACTOR_NET, "2001:db8::", "missing '/prefix'");
  reject(RG_ACTOR_NET, "10.0.0.0/", "missing '/prefix'");
  reject(RG_ACTOR_NET, "10.0.0.0/-1", "prefix length is not a number");
  reject(RG_ACTOR_NET, "10.0.0.0/+8", "prefix length is not a number");
  reject(RG_ACTOR_NET, "10.0.0.0/ 8", "prefix length is not a number");
  reject(RG_ACTOR_NET, "10.0.0.0/8/8", "prefix length is not a number");
  reject(RG_ACTOR_NET, "10.0.0.0/0x8", "prefix length is not a number");
  reject(RG_ACTOR_NET, "10.0.0.0/33", "prefix length out of range");
  reject(RG_ACTOR_NET, "10.0.0.0/99999999999999999999999", "prefix length out of range");
  reject(RG_ACTOR_NET, "2001:db8::/129", "prefix length out of range");
  reject(RG_ACTOR_NET, "::ffff:10.0.0.0/129", "prefix length out of range");
}

static void test_net_rejects_bad_address(void **state) {
  (void)state;
  reject(RG_ACTOR_NET, "/24", "not an IPv4 or IPv6 address");
  reject(RG_ACTOR_NET, "example.com/24", "not an IPv4 or IPv6 address");
  reject(RG_ACTOR_NET, "10.0.0/24", "not an IPv4 or IPv6 address");
  reject(RG_ACTOR_NET, "10.0.0.0 /24", "not an IPv4 or IPv6 address");
}

/* ---- parse and format ------------------------------------------------------------ */

static void test_parse_splits_at_first_colon(void **state) {
  (void)state;
  rg_actor_t a = must_parse("ip:2001:DB8::1");
  assert_int_equal(a.type, RG_ACTOR_IP);
  assert_string_equal(a.key, "2001:db8::1");
  a = must_parse("net:2001:db8::1/32");
  assert_int_equal(a.type, RG_ACTOR_NET);
  assert_string_equal(a.key, "2001:db8::/32");
  a = must_parse("address:Bob@Example.com");
  assert_int_equal(a.type, RG_ACTOR_ADDRESS);
  assert_string_equal(a.key, "bob@example.com");
  a = must_parse("domain:Example.COM.");
  assert_int_equal(a.type, RG_ACTOR_DOMAIN);
  assert_string_equal(a.key, "example.com");
  a = must_parse("address:\"a:b\"@example.com");
  assert_string_equal(a.key, "\"a:b\"@example.com");
  assert_int_equal(a.len, strlen("\"a:b\"@example.com"));
}

static void test_parse_rejects_unknown_type(void **state) {
  (void)state;
  static const char *const bad[] = {"user:bob", "IP:192.0.2.1", ":192.0.2.1", " ip:192.0.2.1",
                                    "ip :192.0.2.1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rg_actor_t a;
    const char *reason = NULL;
    assert_int_equal(rg_actor_parse(bad[i], strlen(bad[i]), &a, &reason), RG_EINVALID_ACTOR);
    assert_non_null(reason);
    assert_string_equal(reason, "unknown actor type");
  }
}

static void test_parse_rejects_missing_colon_and_bad_identifier(void **state) {
  (void)state;
  static const char *const bad[] = {
      "192.0.2.1", "", "ip", "ip:", "ip:999.1.1.1", "domain:-x.com", "net:10.0.0.0", "address:bob"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rg_actor_t a;
    const char *reason = NULL;
    assert_int_equal(rg_actor_parse(bad[i], strlen(bad[i]), &a, &reason), RG_EINVALID_ACTOR);
    assert_non_null(reason);
  }
  rg_actor_t a;
  assert_int_equal(rg_actor_parse(NULL, 0, &a, NULL), RG_EINVALID_ACTOR);
}

static void test_parse_reads_only_len_bytes(void **state) {
  (void)state;
  /* The identifier ends at len, not at a NUL; the heap copy lets ASan catch over-reads. */
  const char *text = "domain:Example.comX";
  size_t n = strlen(text);
  char *exact = malloc(n);
  assert_non_null(exact);
  memcpy(exact, text, n);
  rg_actor_t a;
  const char *reason = NULL;
  assert_int_equal(rg_actor_parse(exact, n - 1, &a, &reason), RG_OK);
  assert_string_equal(a.key, "example.com");
  assert_int_equal(rg_actor_parse(exact, n, &a, &reason), RG_OK);
  assert_string_equal(a.key, "example.comx");
  assert_int_equal(rg_actor_parse(exact, 6, &a, &reason), RG_EINVALID_ACTOR); /* "domain" */
  assert_non_null(reason);
  free(exact);
}

static void test_format_roundtrip(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"address:<Bob@Example.COM>", "address:bob@example.com"},
      {"address:<>", "address:<>"},
      {"address:\"J. Doe\"@B\xc3\xbc" "cher.de", "address:\"j. doe\"@xn--bcher-kva.de"},
      {"ip: ::FFFF:192.0.2.1 ", "ip:192.0.2.1"},
      {"ip:[2001:DB8::0:1]", "ip:2001:db8::1"},
      {"net:192.0.2.77/24", "net:192.0.2.0/24"},
      {"net:2001:db8::1/64", "net:2001:db8::/64"},
      {"domain:Mail.Example.ORG.", "domain:mail.example.org"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rg_actor_t a = must_parse(cases[i].in);
    char buf[RG_ACTOR_TEXT_MAX];
    int n = rg_actor_format(&a, buf, sizeof buf);
    assert_int_equal(n, strlen(cases[i].out));
    assert_string_equal(buf, cases[i].out);
    /* Formatting a normalised actor and parsing it back is the identity. */
    rg_actor_t b = must_parse(buf);
    assert_int_equal(b.type, a.type);
    assert_int_equal(b.len, a.len);
    assert_string_equal(b.key, a.key);
  }
}

static void test_format_fits_longest_actor_in_text_max(void **state) {
  (void)state;
  char in[300];
  memset(in, 'l', 64);
  in[64] = '@';
  make_domain(in + 65, 190); /* the longest address: 255 bytes */
  rg_actor_t a;
  assert_int_equal(rg_actor_normalize(RG_ACTOR_ADDRESS, in, strlen(in), &a, NULL), RG_OK);
  char buf[RG_ACTOR_TEXT_MAX];
  assert_int_equal(rg_actor_format(&a, buf, sizeof buf), 8 + 255);
  assert_memory_equal(buf, "address:", 8);
  assert_string_equal(buf + 8, in);
}

static void test_format_returns_minus_one_when_buffer_too_small(void **state) {
  (void)state;
  rg_actor_t a = must_parse("ip:192.0.2.1"); /* "ip:192.0.2.1" is 12 bytes */
  char buf[32];
  memset(buf, 'x', sizeof buf);
  assert_int_equal(rg_actor_format(&a, buf, 12), -1);
  assert_int_equal(rg_actor_format(&a, buf, 0), -1);
  assert_int_equal(rg_actor_format(&a, buf, 13), 12);
  assert_string_equal(buf, "ip:192.0.2.1");
  a.type = (rg_actor_type_t)0;
  assert_int_equal(rg_actor_format(&a, buf, sizeof buf), -1);
  a.type = RG_ACTOR_IP;
  a.len = RG_ACTOR_KEY_MAX + 1;
  assert_int_equal(rg_actor_format(&a, buf, sizeof buf), -1);
}

/* ---- derived actors -------------------------------------------------------------- */

static void test_net_of_default_prefixes(void **state) {
  (void)state;
  rg_actor_t ip = must_parse("ip:192.0.2.77"), net;
  assert_int_equal(rg_actor_net_of(&ip, 24, 64, &net), RG_OK);
  assert_int_equal(net.type, RG_ACTOR_NET);
  assert_string_equal(net.key, "192.0.2.0/24");
  assert_int_equal(net.len, strlen("192.0.2.0/24"));

  ip = must_parse("ip:2001:db8:1:2:3:4:5:6");
  assert_int_equal(rg_actor_net_of(&ip, 24, 64, &net), RG_OK);
  assert_int_equal(net.type, RG_ACTOR_NET);
  assert_string_equal(net.key, "2001:db8:1:2::/64");

  /* Same block as parsing "net:…" directly. */
  rg_actor_t direct = must_parse("net:2001:db8:1:2:ffff::/64");
  assert_string_equal(direct.key, net.key);
}

static void test_net_of_full_and_zero_prefixes(void **state) {
  (void)state;
  rg_actor_t ip = must_parse("ip:192.0.2.77"), net;
  assert_int_equal(rg_actor_net_of(&ip, 32, 0, &net), RG_OK);
  assert_string_equal(net.key, "192.0.2.77/32");
  assert_int_equal(rg_actor_net_of(&ip, 0, 128, &net), RG_OK);
  assert_string_equal(net.key, "0.0.0.0/0");
  ip = must_parse("ip:2001:db8::1");
  assert_int_equal(rg_actor_net_of(&ip, 0, 128, &net), RG_OK);
  assert_string_equal(net.key, "2001:db8::1/128");
  assert_int_equal(rg_actor_net_of(&ip, 32, 0, &net), RG_OK);
  assert_string_equal(net.key, "::/0");
}

static void test_net_of_rejects_bad_prefix_or_non_ip(void **state) {
  (void)state;
  rg_actor_t ip = must_parse("ip:192.0.2.77"), net;
  memset(&net, 0x5a, sizeof net);
  rg_actor_t before = net;
  assert_int_equal(rg_actor_net_of(&ip, 33, 64, &net), RG_EINVALID_ACTOR);
  assert_int_equal(rg_actor_net_of(&ip, 24, 129, &net), RG_EINVALID_ACTOR);
  ip = must_parse("ip:2001:db8::1");
  assert_int_equal(rg_actor_net_of(&ip, 24, 129, &net), RG_EINVALID_ACTOR);
  assert_int_equal(rg_actor_net_of(&ip, 33, 64, &net), RG_EINVALID_ACTOR);
  rg_actor_t dom = must_parse("domain:example.com");
  assert_int_equal(rg_actor_net_of(&dom, 24, 64, &net), RG_EINVALID_ACTOR);
  rg_actor_t n24 = must_parse("net:192.0.2.0/24");
  assert_int_equal(rg_actor_net_of(&n24, 24, 64, &net), RG_EINVALID_ACTOR);
  assert_memory_equal(&net, &before, sizeof net);
}

static void test_domain_of(void **state) {
  (void)state;
  rg_actor_t addr = must_parse("address:Bob@Mail.Example.COM"), dom;
  assert_int_equal(rg_actor_domain_of(&addr, &dom), RG_OK);
  assert_int_equal(dom.type, RG_ACTOR_DOMAIN);
  assert_string_equal(dom.key, "mail.example.com");
  assert_int_equal(dom.len, strlen("mail.example.com"));

  addr = must_parse("address:\"x@y\"@example.org");
  assert_int_equal(rg_actor_domain_of(&addr, &dom), RG_OK);
  assert_string_equal(dom.key, "example.org");

  rg_actor_t ip = must_parse("ip:192.0.2.1");
  assert_int_equal(rg_actor_domain_of(&ip, &dom), RG_EINVALID_ACTOR);
  rg_actor_t d = must_parse("domain:example.org");
  assert_int_equal(rg_actor_domain_of(&d, &dom), RG_EINVALID_ACTOR);
}

/* ---- hostile input --------------------------------------------------------------- */

static void test_rejects_embedded_nul(void **state) {
  (void)state;
  static const struct {
    rg_actor_type_t type;
    const char *in;
    size_t len;
  } cases[] = {
      {RG_ACTOR_ADDRESS, "bob\0@example.com", 16}, {RG_ACTOR_ADDRESS, "bob@example.com\0", 16},
      {RG_ACTOR_DOMAIN, "example\0.com", 12},      {RG_ACTOR_DOMAIN, "\0example.com", 12},
      {RG_ACTOR_DOMAIN, "example.com \0 ", 14},    {RG_ACTOR_IP, "192.0.2.1\0", 10},
      {RG_ACTOR_IP, "192.0.2.1\0garbage", 17},     {RG_ACTOR_NET, "10.0.0.0/8\0", 11},
      {RG_ACTOR_NET, "10.0.0.0\0/8", 11},          {RG_ACTOR_DOMAIN, "\0", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    reject_n(cases[i].type, cases[i].in, cases[i].len, "embedded NUL byte");
  }
  rg_actor_t a;
  const char *reason = NULL;
  assert_int_equal(rg_actor_parse("ip:192.0.2.1\0", 13, &a, &reason), RG_EINVALID_ACTOR);
  assert_non_null(reason);
}

static void test_rejects_overlong(void **state) {
  (void)state;
  static const rg_actor_type_t types[] = {RG_ACTOR_ADDRESS, RG_ACTOR_IP, RG_ACTOR_NET,
                                          RG_ACTOR_DOMAIN};
  size_t big = 100000;
  char *in = malloc(big);
  assert_non_null(in);
  memset(in, 'a', big);
  in[10] = '@';
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    reject_n(types[i], in, 256, "identifier longer than 255 bytes");
    reject_n(types[i], in, big, "identifier longer than 255 bytes");
  }
  /* Trimming happens first: surrounding whitespace does not count. */
  char padded[600];
  memset(padded, ' ', sizeof padded);
  memcpy(padded + 300, "Example.com", 11);
  accept_n(RG_ACTOR_DOMAIN, padded, sizeof padded, "example.com");
  free(in);
}

static void test_normalize_reads_only_len_bytes(void **state) {
  (void)state;
  static const struct {
    rg_actor_type_t type;
    const char *in, *want;
  } cases[] = {
      {RG_ACTOR_ADDRESS, "bob@Example.com", "bob@example.com"},
      {RG_ACTOR_IP, "2001:db8::1", "2001:db8::1"},
      {RG_ACTOR_NET, "10.0.0.0/8", "10.0.0.0/8"},
      {RG_ACTOR_DOMAIN, "Example.com", "example.com"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = strlen(cases[i].in);
    char *exact = malloc(n); /* no terminating NUL: ASan flags any over-read */
    assert_non_null(exact);
    memcpy(exact, cases[i].in, n);
    accept_n(cases[i].type, exact, n, cases[i].want);
    free(exact);
  }
  accept_n(RG_ACTOR_DOMAIN, "example.comX", 11, "example.com");
  accept_n(RG_ACTOR_IP, "192.0.2.15", 9, "192.0.2.1");
}

static void test_normalize_rejects_unknown_type_and_null(void **state) {
  (void)state;
  reject((rg_actor_type_t)0, "example.com", "unknown actor type");
  reject((rg_actor_type_t)(RG_ACTOR_TYPE_MAX + 1), "example.com", "unknown actor type");
  const char *reason = NULL;
  assert_int_equal(rg_actor_normalize(RG_ACTOR_DOMAIN, NULL, 5, NULL, &reason), RG_EINVALID_ACTOR);
  assert_non_null(reason);
  rg_actor_t a;
  reason = NULL;
  assert_int_equal(rg_actor_normalize(RG_ACTOR_DOMAIN, NULL, 5, &a, &reason), RG_EINVALID_ACTOR);
  assert_non_null(reason);
}

static void test_reason_may_be_null(void **state) {
  (void)state;
  rg_actor_t a;
  assert_int_equal(rg_actor_normalize(RG_ACTOR_IP, "nope", 4, &a, NULL), RG_EINVALID_ACTOR);
  assert_int_equal(rg_actor_normalize(RG_ACTOR_ADDRESS, "nope", 4, &a, NULL), RG_EINVALID_ACTOR);
  assert_int_equal(rg_actor_parse("nope:x", 6, &a, NULL), RG_EINVALID_ACTOR);
  assert_int_equal(rg_actor_normalize(RG_ACTOR_IP, "192.0.2.1", 9, &a, NULL), RG_OK);
  assert_string_equal(a.key, "192.0.2.1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_actor_type_names_roundtrip),
      cmocka_unit_test(test_actor_type_min_max_match_table),
      cmocka_unit_test(test_actor_type_parse_rejects_unknown_and_respects_len),
      cmocka_unit_test(test_edge_kind_table),
      cmocka_unit_test(test_edge_kind_rejects_unknown),
      cmocka_unit_test(test_domain_lowercases_trims_and_strips_trailing_dot),
      cmocka_unit_test(test_domain_strips_only_one_trailing_dot),
      cmocka_unit_test(test_domain_accepts_digits_hyphens_underscores_and_idna),
      cmocka_unit_test(test_domain_u_labels_become_a_labels),
      cmocka_unit_test(test_domain_rejects_invalid_utf8_and_bad_idn),
      cmocka_unit_test(test_domain_rejects_empty_and_empty_labels),
      cmocka_unit_test(test_domain_rejects_bad_hyphens),
      cmocka_unit_test(test_domain_rejects_bad_characters),
      cmocka_unit_test(test_domain_label_at_most_63_bytes),
      cmocka_unit_test(test_domain_at_most_253_bytes),
      cmocka_unit_test(test_ipv4_canonical_form),
      cmocka_unit_test(test_ipv6_canonical_form),
      cmocka_unit_test(test_ipv4_mapped_ipv6_becomes_ipv4),
      cmocka_unit_test(test_ip_rejects_non_addresses),
      cmocka_unit_test(test_net_clears_host_bits),
      cmocka_unit_test(test_net_ipv4_mapped_with_long_prefix_becomes_ipv4),
      cmocka_unit_test(test_net_rejects_missing_or_bad_prefix),
      cmocka_unit_test(test_net_rejects_bad_address),
      cmocka_unit_test(test_parse_splits_at_first_colon),
      cmocka_unit_test(test_parse_rejects_unknown_type),
      cmocka_unit_test(test_parse_rejects_missing_colon_and_bad_identifier),
      cmocka_unit_test(test_parse_reads_only_len_bytes),
      cmocka_unit_test(test_format_roundtrip),
      cmocka_unit_test(test_format_fits_longest_actor_in_text_max),
      cmocka_unit_test(test_format_returns_minus_one_when_buffer_too_small),
      cmocka_unit_test(test_net_of_default_prefixes),
      cmocka_unit_test(test_net_of_full_and_zero_prefixes),
      cmocka_unit_test(test_net_of_rejects_bad_prefix_or_non_ip),
      cmocka_unit_test(test_domain_of),
      cmocka_unit_test(test_rejects_embedded_nul),
      cmocka_unit_test(test_rejects_overlong),
      cmocka_unit_test(test_normalize_reads_only_len_bytes),
      cmocka_unit_test(test_normalize_rejects_unknown_type_and_null),
      cmocka_unit_test(test_reason_may_be_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

