/* testutil_store.c — see testutil_store.h. Test processes only. */
#include "testutil_store.h"

#include <lmdb.h>
#include <string.h>

#include "repgraph/buf.h"

/* ---- stores left by others -------------------------------------------------------- */

void rg_test_set_schema_version(const char *dir, uint64_t version) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
  assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
  uint8_t buf[8];
  rg_put_u64be(buf, version);
  MDB_val k = {strlen("schema_version"), (void *)"schema_version"}, v = {8, buf};
  if (version)
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
  else
    assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

void rg_test_make_foreign_lmdb(const char *dir) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
  MDB_val k = {5, (void *)"hello"}, v = {5, (void *)"world"};
  assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}
