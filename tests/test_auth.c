/* test_auth.c — the key file and token checks of auth.c. Key files are written to a
 * temporary directory with the modes under test. Single-threaded cmocka tests. */
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

#include "repgraph/auth.h"
#include "repgraph/err.h"
#include "testutil.h"

#define READ_TOKEN  "r3ad-t0ken-0123456789abcdef"
#define WRITE_TOKEN "wr1te-t0ken-0123456789abcdef"
#define ADMIN_TOKEN "adm1n-t0ken-0123456789abcdef"

typedef struct {
  char *dir;
  char path[512];
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = rg_test_mkdtemp();
  snprintf(f->path, sizeof f->path, "%s/keys", f->dir);
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

static void write_keys(fixture_t *f, mode_t mode, const char *text) {
  rg_test_write_file(f->path, mode, text);
}

/* Loads text as a key file; asserts the code and that err contains `want` and no token. */
static void expect_load_error(fixture_t *f, mode_t mode, const char *text, int code,
                              const char *want) {
  write_keys(f, mode, text);
  rg_auth_t *a = (rg_auth_t *)1;
  char err[512] = "";
  assert_int_equal(rg_auth_load(f->path, &a, err, sizeof err), code);
  assert_null(a);
  if (!strstr(err, want)) fail_msg("message '%s' lacks '%s'", err, want);
  assert_null(strstr(err, "t0ken"));
}

static const char *const KEYS =
    "# clients of repgraphd\n"
    "\n"
    "milter read " READ_TOKEN
    "\n"
    "  feeder   write\t" WRITE_TOKEN
    "  \n"
    "ops.team@example admin " ADMIN_TOKEN "\n";

static void test_auth_loads_key_file_and_matches_each_token_to_its_role(void **state) {
  fixture_t *f = *state;
  write_keys(f, 0600, KEYS);
  rg_auth_t *a;
  char err[256];
  assert_int_equal(rg_auth_load(f->path, &a, err, sizeof err), RG_OK);
  assert_int_equal(rg_auth_count(a), 3);
  rg_role_t role;
  const char *name;
  assert_int_equal(rg_auth_check(a, READ_TOKEN, strlen(READ_TOKEN), &role, &name), RG_OK);
  assert_int_equal(role, RG_ROLE_READ);
  assert_string_equal(name, "milter");
  assert_int_equal(rg_auth_check(a, WRITE_TOKEN, strlen(WRITE_TOKEN), &role, &name), RG_OK);
  assert_int_equal(role, RG_ROLE_WRITE);
  assert_string_equal(name, "feeder");
  assert_int_equal(rg_auth_check(a, ADMIN_TOKEN, strlen(ADMIN_TOKEN), &role, &name), RG_OK);
  assert_int_equal(role, RG_ROLE_ADMIN);
  assert_string_equal(name, "ops.team@example");
  rg_auth_free(a);
}

static void test_auth_refuses_wrong_prefix_and_extended_tokens(void **state) {
  fixture_t *f = *state;
  write_keys(f, 0640, KEYS); /* group-readable is allowed */
  rg_auth_t *a;
  char err[256];
  assert_int_equal(rg_auth_load(f->path, &a, err, sizeof err), RG_OK);
  rg_role_t role = RG_ROLE_NONE;
  const char *name = NULL;
  const char *wrong[] = {"",
                         "x",
                         "r3ad-t0ken-0123456789abcdeF",
                         READ_TOKEN "x",
                         "r3ad-t0ken-0123456789abcde",
                         "R3AD-T0KEN-0123456789ABCDEF"};
  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
    assert_int_equal(rg_auth_check(a, wrong[i], strlen(wrong[i]), &role, &name), RG_EUNAUTHORIZED);
  assert_int_equal(role, RG_ROLE_NONE); /* untouched on failure */
  assert_null(name);
  /* A token with an embedded NUL is compared by its length, not as a C string. */
  char nul[64];
  memcpy(nul, READ_TOKEN, sizeof READ_TOKEN);
  assert_int_equal(rg_auth_check(a, nul, sizeof READ_TOKEN, &role, &name), RG_EUNAUTHORIZED);
  rg_auth_free(a);
}

static void test_auth_refuses_key_file_others_can_read_or_write(void **state) {
  fixture_t *f = *state;
  expect_load_error(f, 0644, KEYS, RG_ECONFIG, "others may read or write it (mode 0644");
  expect_load_error(f, 0602, KEYS, RG_ECONFIG, "with mode 600, or 640");
}

static void test_auth_refuses_key_file_its_group_can_write_or_execute(void **state) {
  fixture_t *f = *state;
  expect_load_error(f, 0620, KEYS, RG_ECONFIG, "its group may write or execute it (mode 0620");
  expect_load_error(f, 0660, KEYS, RG_ECONFIG, "its group may write or execute it (mode 0660");
  expect_load_error(f, 0610, KEYS, RG_ECONFIG, "its group may write or execute it (mode 0610");
}

static void test_auth_refuses_key_file_of_another_user(void **state) {
  fixture_t *f = *state;
  if (geteuid() != 0) skip(); /* only root can give a file away */
  write_keys(f, 0600, KEYS);
  assert_int_equal(chown(f->path, 65534, 65534), 0);
  rg_auth_t *a = NULL;
  char err[512] = "";
  assert_int_equal(rg_auth_load(f->path, &a, err, sizeof err), RG_ECONFIG);
  assert_null(a);
  assert_non_null(strstr(err, "it belongs to another user (mode 0600, owner uid 65534)"));
  assert_non_null(strstr(err, "the server's user (uid 0) or root"));
}

static void test_auth_rejects_malformed_lines_naming_the_line(void **state) {
  fixture_t *f = *state;
  expect_load_error(f, 0600, "a read\n", RG_ECONFIG, ":1: expected \"name role token\"");
  expect_load_error(f, 0600, "a read " READ_TOKEN " extra\n", RG_ECONFIG, "expected");
  expect_load_error(f, 0600, "\na root " READ_TOKEN "\n", RG_ECONFIG,
                    ":2: role must be read, write or admin");
  expect_load_error(f, 0600, "a none " READ_TOKEN "\n", RG_ECONFIG, "role must be");
  expect_load_error(f, 0600, "a read short-t0ken\n", RG_ECONFIG, "token must be 16-256");
  expect_load_error(f, 0600, "bad/name read " READ_TOKEN "\n", RG_ECONFIG, "name must be");
  expect_load_error(f, 0600, "a read " READ_TOKEN "\nb admin " READ_TOKEN "\n", RG_ECONFIG,
                    ":2: name or token repeats the entry of 'a'");
  expect_load_error(f, 0600, "a read " READ_TOKEN "\na admin " ADMIN_TOKEN "\n", RG_ECONFIG,
                    "repeats the entry of 'a'");
  expect_load_error(f, 0600, "# only a comment\n\n", RG_ECONFIG, "no \"name role token\" lines");
}

static void test_auth_reports_missing_file(void **state) {
  (void)state;
  rg_auth_t *a;
  char err[256];
  assert_int_equal(rg_auth_load("/nonexistent/keys", &a, err, sizeof err), RG_EIO);
  assert_non_null(strstr(err, "/nonexistent/keys: cannot open"));
  rg_auth_free(NULL);
}

static void test_auth_wipe_zeroes_memory(void **state) {
  (void)state;
  char secret[] = "secret-secret";
  rg_auth_wipe(secret, sizeof secret);
  for (size_t i = 0; i < sizeof secret; i++) assert_int_equal(secret[i], 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_auth_loads_key_file_and_matches_each_token_to_its_role,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_refuses_wrong_prefix_and_extended_tokens, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_auth_refuses_key_file_others_can_read_or_write, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_auth_refuses_key_file_its_group_can_write_or_execute,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_refuses_key_file_of_another_user, setup, teardown),
      cmocka_unit_test_setup_teardown(test_auth_rejects_malformed_lines_naming_the_line, setup,
                                      teardown),
      cmocka_unit_test(test_auth_reports_missing_file),
      cmocka_unit_test(test_auth_wipe_zeroes_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
