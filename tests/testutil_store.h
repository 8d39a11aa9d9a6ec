/* testutil_store.h — helpers of the tests that open stores: stores as other releases and
 * other programs leave them, written with the LMDB API directly. Failures are cmocka
 * assertions. Links LMDB, so only the tests that need it link rg_testutil_store. */
#ifndef RG_TESTUTIL_STORE_H
#define RG_TESTUTIL_STORE_H

#include <stdint.h>

#include "testutil.h"

/* Sets the schema_version meta record of the store in `dir` (deletes it when version is
 * 0) with the LMDB API directly, as another release would have left it. */
void rg_test_set_schema_version(const char *dir, uint64_t version);

/* Creates in `dir` (which must exist) another program's LMDB environment: one record in
 * its main database and no repgraph sub-databases. */
void rg_test_make_foreign_lmdb(const char *dir);

#endif
