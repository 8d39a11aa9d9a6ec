/* test_store_pseudonym.c — store_pseudonym.c: a pseudonymised store interns pseudonyms
 * (found by plaintext and by pseudonym alike, records hold the pseudonym), records its mode
 * and key fingerprint at creation and refuses the other mode or another key at open; a
 * store in the clear refuses pseudonyms. Single-threaded cmocka tests over a temporary store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/pseudonym.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define MIB (UINT64_C(1) << 20)

typedef struct {
  char *dir;
  rg_pseudonym_t *key, *other;
  rg_store_t *s;
} fixture_t;

static int open_store(fixture_t *f, const rg_pseudonym_t *p, char *err, size_t cap) {
  rg_store_opts_t o = {
      .dir = f->dir, .map_size = MIB, .map_max = 16 * MIB, .half_life_s = 3600, .pseudonym = p};
  rg_store_close(f->s);
  f->s = NULL;
  return rg_store_open(&o, &f->s, err, cap);
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  unsigned char k[RG_PSEUDONYM_KEY_BYTES] = {7}, k2[RG_PSEUDONYM_KEY_BYTES] = {8};
  f->dir = rg_test_mkdtemp();
  assert_int_equal(rg_pseudonym_new(k, &f->key), RG_OK);
  assert_int_equal(rg_pseudonym_new(k2, &f->other), RG_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_store_close(f->s);
  rg_pseudonym_free(f->key);
  rg_pseudonym_free(f->other);
  rg_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static uint64_t upsert(fixture_t *f, const rg_actor_t *a) {
  rg_txn_t *t;
  uint64_t id;
  assert_int_equal(rg_store_write_begin(f->s, &t), RG_OK);
  assert_int_equal(rg_store_upsert_actor(t, a, 100, 100, 1, &id), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);
  return id;
}

static void test_store_pseudonym_interns_and_finds_by_either_form(void **state) {
  fixture_t *f = *state;
  char err[512] = "";
  assert_int_equal(open_store(f, f->key, err, sizeof err), RG_OK);
  assert_true(rg_store_pseudonymised(f->s));
  rg_actor_t plain = rg_test_actor(RG_ACTOR_ADDRESS, "alice@example.com"), pseudo;
  assert_int_equal(rg_pseudonym_of(f->key, &plain, &pseudo), RG_OK);
  uint64_t id = upsert(f, &plain);
  assert_int_equal(upsert(f, &pseudo), id); /* the same actor */
  rg_txn_t *t;
  uint64_t found;
  rg_actor_rec_t r;
  assert_int_equal(rg_store_read_begin(f->s, &t), RG_OK);
  assert_int_equal(rg_store_find_actor(t, &plain, &found), RG_OK);
  assert_int_equal(found, id);
  assert_int_equal(rg_store_find_actor(t, &pseudo, &found), RG_OK);
  assert_int_equal(found, id);
  assert_int_equal(rg_store_get_actor(t, id, 100, &r), RG_OK);
  assert_int_equal(r.messages, 2);
  assert_int_equal(r.actor.type, RG_ACTOR_ADDRESS);
  assert_string_equal(r.actor.key, pseudo.key); /* the record holds the pseudonym */
  rg_store_end(t);
  /* Reopened with the same key: the same pseudonyms. */
  assert_int_equal(open_store(f, f->key, err, sizeof err), RG_OK);
  assert_int_equal(rg_store_read_begin(f->s, &t), RG_OK);
  assert_int_equal(rg_store_find_actor(t, &plain, &found), RG_OK);
  assert_int_equal(found, id);
  rg_store_end(t);
}

static void test_store_pseudonym_refuses_another_mode_or_key(void **state) {
  fixture_t *f = *state;
  char err[512] = "";
  assert_int_equal(open_store(f, f->key, err, sizeof err), RG_OK);
  rg_actor_t a = rg_test_actor(RG_ACTOR_IP, "192.0.2.1");
  upsert(f, &a);
  assert_int_equal(open_store(f, NULL, err, sizeof err), RG_ECONFIG);
  assert_null(f->s);
  assert_non_null(strstr(err, "store.pseudonymise = 0, but"));
  assert_int_equal(open_store(f, f->other, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "store.pseudonym_key_file: this key"));
  assert_int_equal(open_store(f, f->key, err, sizeof err), RG_OK);
}

static void test_store_pseudonym_mode_is_fixed_in_the_clear_too(void **state) {
  fixture_t *f = *state;
  char err[512] = "";
  assert_int_equal(open_store(f, NULL, err, sizeof err), RG_OK); /* empty, in the clear */
  assert_false(rg_store_pseudonymised(f->s));
  rg_actor_t plain = rg_test_actor(RG_ACTOR_DOMAIN, "example.com"), pseudo;
  assert_int_equal(rg_pseudonym_of(f->key, &plain, &pseudo), RG_OK);
  rg_txn_t *t;
  uint64_t id;
  assert_int_equal(rg_store_write_begin(f->s, &t), RG_OK);
  assert_int_equal(rg_store_upsert_actor(t, &pseudo, 1, 1, 1, &id), RG_EINVALID_ACTOR);
  rg_store_end(t);
  assert_int_equal(open_store(f, f->key, err, sizeof err), RG_ECONFIG); /* even while empty */
  assert_non_null(strstr(err, "store.pseudonymise = 1, but"));
  assert_non_null(strstr(err, "identifiers in the clear (store.pseudonymise = 0)"));
}

/* Deletes the meta record `name` with the LMDB API directly (a store from an earlier release). */
static void delete_meta(const char *dir, const char *name) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
  assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
  MDB_val k = {strlen(name), (void *)name};
  assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

static void test_store_pseudonym_keeps_an_earlier_store_in_the_clear(void **state) {
  fixture_t *f = *state;
  char err[512] = "";
  assert_int_equal(open_store(f, NULL, err, sizeof err), RG_OK);
  rg_actor_t a = rg_test_actor(RG_ACTOR_ADDRESS, "bob@example.org");
  upsert(f, &a);
  rg_store_close(f->s);
  f->s = NULL;
  delete_meta(f->dir, "pseudonymise"); /* as a release before pseudonyms left it */
  assert_int_equal(open_store(f, f->key, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "already holds 1 actors with their identifiers in the clear"));
  assert_int_equal(open_store(f, NULL, err, sizeof err), RG_OK); /* records mode 0 */
  assert_int_equal(open_store(f, f->key, err, sizeof err), RG_ECONFIG);
  assert_non_null(strstr(err, "created with identifiers in the clear"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_store_pseudonym_interns_and_finds_by_either_form, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_store_pseudonym_refuses_another_mode_or_key, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_store_pseudonym_mode_is_fixed_in_the_clear_too, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_store_pseudonym_keeps_an_earlier_store_in_the_clear,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
