/* testutil_store.h — helpers of the tests that open stores: a fixture with a fresh store in
 * a temporary directory, short forms of the store calls that assert success, and stores as
 * other releases and other programs leave them, written with the LMDB API directly.
 * Failures are cmocka assertions. Links LMDB and rg_store, so only the tests that need them
 * link rg_testutil_store. */
#ifndef RG_TESTUTIL_STORE_H
#define RG_TESTUTIL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "repgraph/store.h"
#include "testutil.h"

/* ---- a fresh store per test ---------------------------------------------------------- */

#define RG_TEST_STORE_HALF_LIFE 3600.0 /* half-life of the fixture's stores, seconds */

typedef struct {
  char dir[64];
  rg_store_t *s;
} rg_test_store_t;

/* Opens the store in f->dir with these map sizes and RG_TEST_STORE_HALF_LIFE; prints the
 * error and returns its code on failure. */
int rg_test_store_open(rg_test_store_t *f, uint64_t map_size, uint64_t map_max);

/* Closes f's store and opens it again; fails the test if it cannot. */
void rg_test_store_reopen(rg_test_store_t *f, uint64_t map_size, uint64_t map_max);

/* cmocka setup / teardown: *state becomes an rg_test_store_t with a store (4 MiB map,
 * growing to 64 MiB) in a new directory under /tmp; teardown closes it and removes it. */
int rg_test_store_setup(void **state);
int rg_test_store_teardown(void **state);

/* ---- store calls that must succeed ----------------------------------------------------- */

/* An actor of `type` whose key is the text `key` (taken as already normalised). */
rg_actor_t rg_test_actor(rg_actor_type_t type, const char *key);
rg_txn_t *rg_test_wbegin(rg_test_store_t *f);
rg_txn_t *rg_test_rbegin(rg_test_store_t *f);
/* Upserts the actor seen once at ts; returns its (non-zero) id. */
uint64_t rg_test_upsert(rg_txn_t *t, rg_actor_type_t type, const char *key, int64_t ts);
rg_actor_rec_t rg_test_get_actor(rg_txn_t *t, uint64_t id, int64_t now);
rg_edge_rec_t rg_test_get_edge(rg_txn_t *t, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                               int64_t now);
rg_store_counts_t rg_test_counts(rg_txn_t *t);
/* Edges of every kind in the counters. */
uint64_t rg_test_total_edges(const rg_store_counts_t *c);

/* Edges seen by a scan (at most 32; rg_test_collect stops the scan with -1 past that). */
typedef struct {
  size_t n;
  struct {
    uint64_t src, dst;
    rg_edge_kind_t kind;
    rg_edge_rec_t rec;
  } e[32];
} rg_test_seen_t;

/* An rg_edge_visit_fn that appends to the rg_test_seen_t in ctx. */
int rg_test_collect(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                    const rg_edge_rec_t *rec);
rg_test_seen_t rg_test_scan_out(rg_txn_t *t, uint64_t id, int64_t now);
rg_test_seen_t rg_test_scan_in(rg_txn_t *t, uint64_t id, int64_t now);

/* Asserts the actor's out- and in-degree of every edge kind. */
void rg_test_assert_degrees(const rg_actor_rec_t *r, const uint32_t out[RG_EDGE_KIND_COUNT],
                            const uint32_t in[RG_EDGE_KIND_COUNT]);

/* ---- stores left by others ------------------------------------------------------------ */

/* Sets the schema_version meta record of the store in `dir` (deletes it when version is
 * 0) with the LMDB API directly, as another release would have left it. */
void rg_test_set_schema_version(const char *dir, uint64_t version);

/* Writes the meta record `name` of the store in `dir` as these raw bytes, with the LMDB
 * API directly (e.g. a record in an earlier release's layout). */
void rg_test_put_meta(const char *dir, const char *name, const void *value, size_t len);

/* Creates in `dir` (which must exist) another program's LMDB environment: one record in
 * its main database and no repgraph sub-databases. */
void rg_test_make_foreign_lmdb(const char *dir);

#endif
