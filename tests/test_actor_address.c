/* test_actor_address.c — how one mailbox becomes one actor (actor.c): trimming and angle
 * brackets, case folding of the local part, quoted and UTF-8 local parts, IDN domains,
 * VERP/SRS lengths, sub-addressing, the null sender, HELO literals, and what is refused.
 * Table-driven; single-threaded cmocka tests, everything pure. */
#include "actor_cases.h"

typedef struct {
  const char *in, *want;
} case_t;

/* Normalises `in` as an address with `o`; asserts success and the exact key. */
static void accept_opts(const rg_actor_opts_t *o, const char *in, const char *want) {
  rg_actor_t a;
  const char *reason = NULL;
  int rc = rg_actor_normalize_opts(RG_ACTOR_ADDRESS, in, strlen(in), o, &a, &reason);
  if (rc != RG_OK) print_error("rejected '%s': %s\n", in, reason ? reason : "(no reason)");
  assert_int_equal(rc, RG_OK);
  if (strcmp(a.key, want) != 0) print_error("'%s' became '%s', want '%s'\n", in, a.key, want);
  assert_string_equal(a.key, want);
  assert_int_equal(a.len, strlen(want));
  /* idempotent: the key normalises to itself with the same options */
  rg_actor_t b;
  assert_int_equal(rg_actor_normalize_opts(RG_ACTOR_ADDRESS, a.key, a.len, o, &b, NULL), RG_OK);
  assert_string_equal(b.key, a.key);
}

static void test_address_accepted_forms_with_default_options(void **state) {
  (void)state;
  static const case_t cases[] = {
      /* the domain and (by default) the local part lower-cased: Alice@ == alice@ */
      {"John.Doe@Example.COM", "john.doe@example.com"},
      {"x@example.com.", "x@example.com"},
      {"a+tag@mail.example.org", "a+tag@mail.example.org"}, /* sub-addresses kept by default */
      {"o'brien@example.ie", "o'brien@example.ie"},
      {"john..doe@example.com", "john..doe@example.com"}, /* real mail has these */
      /* trimmed, one pair of angle brackets removed */
      {"  <Bob@Example.com>\r\n", "bob@example.com"},
      {"\t bob@example.com ", "bob@example.com"},
      {"<bob@example.com>", "bob@example.com"},
      /* quoted local parts: unquoted when plain, else kept quoted with minimal escapes */
      {"\"john\"@example.com", "john@example.com"},
      {"\"John Doe\"@Example.com", "\"john doe\"@example.com"},
      {"\"a@b\"@Example.ORG", "\"a@b\"@example.org"},
      {"\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com"},
      {"\"a\\b\"@example.com", "ab@example.com"}, /* a needless quoted-pair */
      {"\".dot\"@example.com", "\".dot\"@example.com"},
      /* RFC 6531 UTF-8 local parts (ASCII letters folded, the rest kept), IDN domains */
      {"J\xc3\xb6rg@Example.de", "j\xc3\xb6rg@example.de"},
      {"user@b\xc3\xbc"
       "cher.de",
       "user@xn--bcher-kva.de"},
      {"user@xn--bcher-kva.de", "user@xn--bcher-kva.de"},
      {"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example",
       "\xe7\x94\xa8\xe6\x88\xb7@xn--fsqu00a.example"},
      /* VERP and SRS bounce addresses */
      {"list-bounces+alice=example.org@lists.example.net",
       "list-bounces+alice=example.org@lists.example.net"},
      {"SRS0=HHH=TT=example.org=Alice@forwarder.example",
       "srs0=hhh=tt=example.org=alice@forwarder.example"},
      /* the null sender */
      {"<>", "<>"},
      {"  <>\r\n", "<>"},
  };
  rg_actor_opts_t o;
  rg_actor_opts_default(&o);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    accept_opts(&o, cases[i].in, cases[i].want);
    accept(RG_ACTOR_ADDRESS, cases[i].in, cases[i].want); /* the default entry point agrees */
  }
}

static void test_address_options_case_and_subaddress(void **state) {
  (void)state;
  rg_actor_opts_t keep;
  rg_actor_opts_default(&keep);
  keep.fold_local_case = false;
  static const case_t kept[] = {
      {"Alice@Example.com", "Alice@example.com"},
      {"\"John Doe\"@x.org", "\"John Doe\"@x.org"},
      {"J\xc3\xb6rg@Example.de", "J\xc3\xb6rg@example.de"},
  };
  for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
    accept_opts(&keep, kept[i].in, kept[i].want);

  rg_actor_opts_t plus;
  rg_actor_opts_default(&plus);
  strcpy(plus.subaddress_sep, "+");
  static const case_t stripped[] = {
      {"User+Tag@Example.com", "user@example.com"},
      {"a+b+c@x.org", "a@x.org"},
      {"+tag@x.org", "+tag@x.org"}, /* nothing before the separator: kept */
      {"user-list@x.org", "user-list@x.org"},
      {"\"user+tag\"@x.org", "user@x.org"},   /* a plain quoted part is the same mailbox */
      {"\"a b+c\"@x.org", "\"a b+c\"@x.org"}, /* a truly quoted one is left alone */
      {"<>", "<>"},
  };
  for (size_t i = 0; i < sizeof stripped / sizeof stripped[0]; i++)
    accept_opts(&plus, stripped[i].in, stripped[i].want);

  strcpy(plus.subaddress_sep, "+-");
  accept_opts(&plus, "user-list@x.org", "user@x.org");
  accept_opts(&plus, "user+tag@x.org", "user@x.org");
}

static void test_address_refused_forms(void **state) {
  (void)state;
  static const case_t cases[] = {/* want: the reason, or NULL for any */
                                 {"<<bob@example.com>>", NULL},
                                 {"< bob@example.com>", "control or space character"},
                                 {"bob.example.com", "missing '@'"},
                                 {"bob", "missing '@'"},
                                 {"<>x", "missing '@'"},
                                 {"a@b@", "invalid character in local part"},
                                 {"@example.com", "empty local part"},
                                 {"<@example.com>", "empty local part"},
                                 {"\"\"@example.com", "empty local part"},
                                 {"bob@", "empty domain"},
                                 {"bob@.", "empty domain"},
                                 {"", NULL},
                                 {" \t\r\n", NULL},
                                 {"bob smith@example.com", "control or space character"},
                                 {"bob\tsmith@example.com", "control or space character"},
                                 {"bob\x01@example.com", "control or space character"},
                                 {"bob\x7f@example.com", "control or space character"},
                                 {"bob,smith@example.com", "invalid character in local part"},
                                 {"bob(c)@example.com", "invalid character in local part"},
                                 {"\"unbalanced@example.com", "unbalanced quote in local part"},
                                 {"\"a\"b\"@example.com", "unescaped quote in local part"},
                                 {"\"a\x01\"@example.com", "control character"},
                                 {"bob\xff@example.com", "invalid UTF-8"},
                                 {"bob\xc0\xaf@example.com", "invalid UTF-8"}, /* overlong */
                                 {"bob@example.c\xff", "invalid UTF-8"},
                                 {"bob@[192.0.2.1]", "address literal domain not accepted"},
                                 {"bob@[IPv6:2001:db8::1]", "address literal domain not accepted"},
                                 {"bob@-example.com", "domain label starts or ends with '-'"},
                                 {"bob@exa mple.com", "control or space character"},
                                 {"bob@ example.com", "control or space character"},
                                 {"bob@example..com", "empty domain label"},
                                 {"bob@exa!mple.com", "invalid character in domain"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    reject(RG_ACTOR_ADDRESS, cases[i].in, cases[i].want);
}

/* VERP/SRS local parts pass 64 octets; the whole address is bounded by the identifier cap. */
static void test_address_lengths(void **state) {
  (void)state;
  char in[400], want[400];
  memset(in, 'L', 200);
  strcpy(in + 200, "@Example.com");
  memset(want, 'l', 200);
  strcpy(want + 200, "@example.com");
  accept(RG_ACTOR_ADDRESS, in, want);

  memset(in, 'l', 250);
  strcpy(in + 250, "@a.bc"); /* 255 bytes */
  accept(RG_ACTOR_ADDRESS, in, in);
  memset(in, 'l', 251);
  strcpy(in + 251, "@a.bc"); /* 256 bytes */
  reject(RG_ACTOR_ADDRESS, in, "identifier longer than 255 bytes");

  memset(in, 'l', 64);
  in[64] = '@';
  make_domain(in + 65, 190); /* 64 + 1 + 190 = 255 */
  memcpy(want, in, sizeof in);
  in[65] = 'A'; /* still lower-cased at the limit */
  accept(RG_ACTOR_ADDRESS, in, want);
}

static void test_address_null_sender_is_one_domainless_actor(void **state) {
  (void)state;
  rg_actor_t a = must_parse("address:<>"), b, d;
  assert_true(rg_actor_is_null_sender(&a));
  assert_int_equal(rg_actor_normalize(RG_ACTOR_ADDRESS, " <> ", 4, &b, NULL), RG_OK);
  assert_true(rg_actor_is_null_sender(&b));
  assert_int_equal(rg_actor_domain_of(&a, &d), RG_EINVALID_ACTOR);
  char text[RG_ACTOR_TEXT_MAX];
  assert_int_equal(rg_actor_format(&a, text, sizeof text), 10);
  assert_string_equal(text, "address:<>");
  rg_actor_t bob = must_parse("address:bob@example.com");
  assert_false(rg_actor_is_null_sender(&bob));
  rg_actor_t dom = must_parse("domain:example.com");
  assert_false(rg_actor_is_null_sender(&dom));
  assert_false(rg_actor_is_null_sender(NULL));
}

static void test_helo_is_what_it_is(void **state) {
  (void)state;
  static const struct {
    const char *in;
    rg_actor_type_t type;
    const char *want;
  } cases[] = {
      {"[192.0.2.1]", RG_ACTOR_IP, "192.0.2.1"},
      {" [IPv6:2001:DB8::1] ", RG_ACTOR_IP, "2001:db8::1"},
      {"[ipv6:::ffff:192.0.2.7]", RG_ACTOR_IP, "192.0.2.7"},
      {"192.0.2.1", RG_ACTOR_IP, "192.0.2.1"},
      {"2001:db8::5", RG_ACTOR_IP, "2001:db8::5"},
      {"Mail.Example.COM.", RG_ACTOR_DOMAIN, "mail.example.com"},
      {"mx.b\xc3\xbc"
       "cher.de",
       RG_ACTOR_DOMAIN, "mx.xn--bcher-kva.de"},
      {"unknown", RG_ACTOR_DOMAIN, "unknown"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rg_actor_t a;
    const char *reason = NULL;
    int rc = rg_actor_normalize_helo(cases[i].in, strlen(cases[i].in), &a, &reason);
    if (rc) print_error("'%s': %s\n", cases[i].in, reason);
    assert_int_equal(rc, RG_OK);
    assert_int_equal(a.type, cases[i].type);
    assert_string_equal(a.key, cases[i].want);
  }
  static const char *const bad[] = {"[not an ip]", "[192.0.2.1", "", "bad_helo!", "\xff"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rg_actor_t a;
    const char *reason = NULL;
    assert_int_equal(rg_actor_normalize_helo(bad[i], strlen(bad[i]), &a, &reason),
                     RG_EINVALID_ACTOR);
    assert_non_null(reason);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_address_accepted_forms_with_default_options),
      cmocka_unit_test(test_address_options_case_and_subaddress),
      cmocka_unit_test(test_address_refused_forms),
      cmocka_unit_test(test_address_lengths),
      cmocka_unit_test(test_address_null_sender_is_one_domainless_actor),
      cmocka_unit_test(test_helo_is_what_it_is),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
