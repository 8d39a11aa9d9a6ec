/* test_pseudonym.c — pseudonym.c: the keyed digests (against BLAKE2b vectors computed
 * independently with Python's hashlib), their text form and how the actor module reads it
 * back, and the key file's form and permissions. Single-threaded cmocka tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repgraph/actor.h"
#include "repgraph/err.h"
#include "repgraph/pseudonym.h"
#include "testutil.h"

/* The key 00 01 02 … 1f. */
#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static rg_pseudonym_t *key_0_to_31(void) {
  unsigned char key[RG_PSEUDONYM_KEY_BYTES];
  for (int i = 0; i < RG_PSEUDONYM_KEY_BYTES; i++) key[i] = (unsigned char)i;
  rg_pseudonym_t *p;
  assert_int_equal(rg_pseudonym_new(key, &p), RG_OK);
  return p;
}

/* The text form of text's pseudonym under p. */
static void pseudonym_text(const rg_pseudonym_t *p, const char *text, char *out, size_t cap) {
  rg_actor_t a, q;
  assert_int_equal(rg_actor_parse(text, strlen(text), &a, NULL), RG_OK);
  assert_int_equal(rg_pseudonym_of(p, &a, &q), RG_OK);
  assert_true(rg_actor_format(&q, out, cap) > 0);
}

/* hashlib.blake2b(b"address:alice@example.com", digest_size=16, key=bytes(range(32))) … */
static void test_pseudonym_is_keyed_blake2b_of_the_typed_text(void **state) {
  (void)state;
  rg_pseudonym_t *p = key_0_to_31();
  char t[RG_ACTOR_TEXT_MAX];
  pseudonym_text(p, "address:Alice@EXAMPLE.com", t, sizeof t); /* normalised first */
  assert_string_equal(t, "address:~6bd8c1df6064640367d7d84250e44544");
  pseudonym_text(p, "domain:example.com", t, sizeof t);
  assert_string_equal(t, "domain:~8fc918407014e2636300a9aa9d84782a");
  pseudonym_text(p, "ip:192.0.2.1", t, sizeof t);
  assert_string_equal(t, "ip:~8675876c8a2200265ff4b6c5ae7f9b1f");
  unsigned char fp[RG_PSEUDONYM_FP_BYTES];
  rg_pseudonym_fingerprint(p, fp);
  static const unsigned char want[RG_PSEUDONYM_FP_BYTES] = {0xfa, 0xde, 0x8d, 0xd2, 0x21, 0xce,
                                                            0x7f, 0xb2, 0xe9, 0x99, 0x24, 0x82,
                                                            0xd4, 0x87, 0x68, 0x01};
  assert_memory_equal(fp, want, sizeof fp);
  rg_pseudonym_free(p);
}

static void test_pseudonym_differs_by_type_and_by_key(void **state) {
  (void)state;
  rg_pseudonym_t *p = key_0_to_31(), *other;
  unsigned char key[RG_PSEUDONYM_KEY_BYTES] = {1};
  assert_int_equal(rg_pseudonym_new(key, &other), RG_OK);
  rg_actor_t dom = {.type = RG_ACTOR_DOMAIN, .len = 9, .key = "192.0.2.1"};
  rg_actor_t ip = {.type = RG_ACTOR_IP, .len = 9, .key = "192.0.2.1"};
  rg_actor_t a, b, c;
  assert_int_equal(rg_pseudonym_of(p, &dom, &a), RG_OK);
  assert_int_equal(rg_pseudonym_of(p, &ip, &b), RG_OK);
  assert_int_equal(rg_pseudonym_of(other, &ip, &c), RG_OK);
  assert_int_equal(a.type, RG_ACTOR_DOMAIN);
  assert_int_equal(b.type, RG_ACTOR_IP);
  assert_string_not_equal(a.key + 1, b.key + 1);
  assert_string_not_equal(b.key, c.key);
  unsigned char f1[RG_PSEUDONYM_FP_BYTES], f2[RG_PSEUDONYM_FP_BYTES];
  rg_pseudonym_fingerprint(p, f1);
  rg_pseudonym_fingerprint(other, f2);
  assert_true(memcmp(f1, f2, sizeof f1) != 0);
  rg_pseudonym_free(p);
  rg_pseudonym_free(other);
}

static void test_pseudonym_leaves_pseudonyms_and_the_null_sender_alone(void **state) {
  (void)state;
  rg_pseudonym_t *p = key_0_to_31();
  rg_actor_t a, once, twice, null;
  assert_int_equal(rg_actor_parse("address:bob@example.org", 23, &a, NULL), RG_OK);
  assert_int_equal(rg_pseudonym_of(p, &a, &once), RG_OK);
  assert_true(rg_actor_is_pseudonym(&once));
  assert_false(rg_actor_is_pseudonym(&a));
  assert_int_equal(rg_pseudonym_of(p, &once, &twice), RG_OK);
  assert_int_equal(twice.len, once.len);
  assert_string_equal(twice.key, once.key);
  assert_int_equal(rg_actor_parse("address:<>", 10, &null, NULL), RG_OK);
  assert_int_equal(rg_pseudonym_of(p, &null, &null), RG_OK); /* in place */
  assert_string_equal(null.key, RG_ACTOR_NULL_SENDER);
  rg_pseudonym_free(p);
}

/* The text form reads back (upper-case digits folded) only where pseudonyms are accepted. */
static void test_pseudonym_text_form_parses_back_only_when_accepted(void **state) {
  (void)state;
  rg_pseudonym_t *p = key_0_to_31();
  char t[RG_ACTOR_TEXT_MAX];
  pseudonym_text(p, "address:alice@example.com", t, sizeof t);
  rg_actor_opts_t on, off;
  rg_actor_opts_default(&on);
  rg_actor_opts_default(&off);
  on.pseudonyms = true;
  rg_actor_t a;
  const char *reason = NULL;
  assert_int_equal(rg_actor_parse_opts(t, strlen(t), &off, &a, &reason), RG_EINVALID_ACTOR);
  assert_non_null(strstr(reason, "pseudonym"));
  char upper[RG_ACTOR_TEXT_MAX];
  snprintf(upper, sizeof upper, "address: ~%s ", "6BD8C1DF6064640367D7D84250E44544");
  assert_int_equal(rg_actor_parse_opts(upper, strlen(upper), &on, &a, NULL), RG_OK);
  char back[RG_ACTOR_TEXT_MAX];
  rg_actor_format(&a, back, sizeof back);
  assert_string_equal(back, t);
  assert_true(rg_actor_is_pseudonym(&a));
  /* Near misses stay what they are: '~' is allowed in a local part, not in a domain. */
  assert_int_equal(
      rg_actor_parse_opts("address:~6bd8c1df6064640367d7d84250e44544@x.org", 47, &on, &a, NULL),
      RG_OK);
  assert_false(rg_actor_is_pseudonym(&a));
  assert_int_equal(
      rg_actor_parse_opts("domain:~6bd8c1df6064640367d7d84250e4454", 39, &on, &a, NULL),
      RG_EINVALID_ACTOR); /* one digit short */
  assert_int_equal(
      rg_actor_parse_opts("domain:~6bd8c1df6064640367d7d84250e4454g", 40, &on, &a, NULL),
      RG_EINVALID_ACTOR);
  /* A pseudonym has no domain and no net: derivations happen on the plaintext, before. */
  assert_int_equal(rg_actor_parse_opts(t, strlen(t), &on, &a, NULL), RG_OK);
  rg_actor_t d;
  assert_int_equal(rg_actor_domain_of(&a, &d), RG_EINVALID_ACTOR);
  a.type = RG_ACTOR_IP;
  assert_int_equal(rg_actor_net_of(&a, 24, 64, &d), RG_EINVALID_ACTOR);
  rg_pseudonym_free(p);
}

static void test_pseudonym_key_text_is_64_hex_digits(void **state) {
  (void)state;
  unsigned char key[RG_PSEUDONYM_KEY_BYTES];
  assert_int_equal(rg_pseudonym_parse_key("\n " KEY_HEX "\n", strlen(KEY_HEX) + 3, key), RG_OK);
  assert_int_equal(key[0], 0);
  assert_int_equal(key[31], 31);
  assert_int_equal(rg_pseudonym_parse_key(KEY_HEX, strlen(KEY_HEX) - 1, key), RG_ECONFIG);
  char bad[] = KEY_HEX;
  bad[10] = 'x';
  assert_int_equal(rg_pseudonym_parse_key(bad, strlen(bad), key), RG_ECONFIG);
  assert_int_equal(rg_pseudonym_parse_key(KEY_HEX KEY_HEX, 2 * strlen(KEY_HEX), key), RG_ECONFIG);
  assert_int_equal(rg_pseudonym_parse_key("", 0, key), RG_ECONFIG);
}

typedef struct {
  char *dir;
  char path[512];
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = rg_test_mkdtemp();
  snprintf(f->path, sizeof f->path, "%s/pseudonym.key", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* Loads text written with `mode`; asserts the code, that err holds `want` and the option's
 * name, and never the key. */
static void expect_load_error(fixture_t *f, mode_t mode, const char *text, int code,
                              const char *want) {
  rg_test_write_file(f->path, mode, text);
  rg_pseudonym_t *p = (rg_pseudonym_t *)1;
  char err[512] = "";
  assert_int_equal(rg_pseudonym_load(f->path, &p, err, sizeof err), code);
  assert_null(p);
  if (!strstr(err, want) || !strstr(err, "store.pseudonym_key_file"))
    fail_msg("message '%s' lacks '%s' or the option's name", err, want);
  assert_null(strstr(err, "0a0b0c"));
}

static void test_pseudonym_loads_a_private_key_file(void **state) {
  fixture_t *f = *state;
  rg_pseudonym_t *from_file, *direct = key_0_to_31();
  char err[256] = "";
  for (int i = 0; i < 2; i++) {
    rg_test_write_file(f->path, i ? 0640 : 0600, KEY_HEX "\n");
    assert_int_equal(rg_pseudonym_load(f->path, &from_file, err, sizeof err), RG_OK);
    char a[RG_ACTOR_TEXT_MAX], b[RG_ACTOR_TEXT_MAX];
    pseudonym_text(from_file, "address:carol@example.net", a, sizeof a);
    pseudonym_text(direct, "address:carol@example.net", b, sizeof b);
    assert_string_equal(a, b);
    rg_pseudonym_free(from_file);
  }
  rg_pseudonym_free(direct);
  rg_pseudonym_free(NULL);
}

static void test_pseudonym_refuses_key_files_others_may_read(void **state) {
  fixture_t *f = *state;
  expect_load_error(f, 0644, KEY_HEX, RG_ECONFIG, "others may read");
  expect_load_error(f, 0604, KEY_HEX, RG_ECONFIG, "others may read");
  expect_load_error(f, 0660, KEY_HEX, RG_ECONFIG, "its group may write");
}

static void test_pseudonym_refuses_malformed_and_missing_key_files(void **state) {
  fixture_t *f = *state;
  expect_load_error(f, 0600, "not a key\n", RG_ECONFIG, "64 hex digits");
  expect_load_error(f, 0600, "", RG_ECONFIG, "64 hex digits");
  char big[RG_PSEUDONYM_FILE_MAX + 10];
  memset(big, ' ', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  expect_load_error(f, 0600, big, RG_ECONFIG, "longer than");
  rg_pseudonym_t *p;
  char err[256] = "", missing[600];
  snprintf(missing, sizeof missing, "%s/none", f->dir);
  assert_int_equal(rg_pseudonym_load(missing, &p, err, sizeof err), RG_EIO);
  assert_non_null(strstr(err, "cannot open"));
  assert_int_equal(rg_pseudonym_load(f->dir, &p, err, sizeof err), RG_ECONFIG); /* a directory */
  assert_non_null(strstr(err, "not a regular file"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pseudonym_is_keyed_blake2b_of_the_typed_text),
      cmocka_unit_test(test_pseudonym_differs_by_type_and_by_key),
      cmocka_unit_test(test_pseudonym_leaves_pseudonyms_and_the_null_sender_alone),
      cmocka_unit_test(test_pseudonym_text_form_parses_back_only_when_accepted),
      cmocka_unit_test(test_pseudonym_key_text_is_64_hex_digits),
      cmocka_unit_test_setup_teardown(test_pseudonym_loads_a_private_key_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pseudonym_refuses_key_files_others_may_read, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pseudonym_refuses_malformed_and_missing_key_files, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
