/* test_analyst.c — the analysts' ops end to end against the real repgraphd: ranked and
 * filtered clusters, top actors, ego networks, paged exports (reassembled from small pages,
 * checked against the edges that were ingested), stale cursors, labelling a whole cluster,
 * retracting a label and its history. Every reply is checked against
 * schemas/protocol.json by rg_test_recv. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lmdb.h>

#include "testutil_store.h"

/* ---- the graph: a spam campaign and an honest group ------------------------------------ */

#define N_SPAM    6
#define N_HONEST  4
#define MAX_EDGES 64

typedef struct {
  char src[64], dst[64], kind[16];
} edge_in_t;

typedef struct {
  char *dir;
  rg_test_server_t srv;
  rg_client_t *c;
  edge_in_t edges[MAX_EDGES];
  int n_edges;
} fixture_t;

static void add(fixture_t *f, const char *kind, const char *fmt_src, int i, const char *fmt_dst,
                int j) {
  edge_in_t *e = &f->edges[f->n_edges++];
  snprintf(e->src, sizeof e->src, fmt_src, i);
  snprintf(e->dst, sizeof e->dst, fmt_dst, j);
  snprintf(e->kind, sizeof e->kind, "%s", kind);
}

/* Spammers s0..s5 share one IP (in one net) and a domain and mail two honest users; honest
 * h0..h3 write to each other from their own IP and domain. */
static void build_graph(fixture_t *f) {
  for (int i = 0; i < N_SPAM; i++) {
    add(f, "sent_from", "address:s%d@spam.example", i, "ip:203.0.113.%d", 1 + i % 2);
    add(f, "uses_domain", "address:s%d@spam.example", i, "domain:spam.example", 0);
    add(f, "mailed", "address:s%d@spam.example", i, "address:h%d@good.example", i % 2);
  }
  add(f, "in_net", "ip:203.0.113.%d", 1, "net:203.0.113.0/24", 0);
  add(f, "in_net", "ip:203.0.113.%d", 2, "net:203.0.113.0/24", 0);
  for (int i = 0; i < N_HONEST; i++) {
    add(f, "sent_from", "address:h%d@good.example", i, "ip:198.51.100.%d", 1);
    add(f, "uses_domain", "address:h%d@good.example", i, "domain:good.example", 0);
    for (int j = 0; j < N_HONEST; j++)
      if (j != i) add(f, "mailed", "address:h%d@good.example", i, "address:h%d@good.example", j);
  }
  char *items = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&items, &len);
  long long ts = (long long)time(NULL) - 2 * 86400;
  for (int i = 0; i < f->n_edges; i++)
    fprintf(m, "%s{\"src\": \"%s\", \"dst\": \"%s\", \"kind\": \"%s\", \"ts\": %lld, \"count\": 5}",
            i ? "," : "", f->edges[i].src, f->edges[i].dst, f->edges[i].kind, ts);
  fclose(m);
  msgpack_unpacked r;
  rg_test_call(f->c, &r, "{\"id\": 1, \"op\": \"ingest\", \"edges\": [%s]}", items);
  assert_int_equal(rg_test_uint(&r.data, "accepted"), f->n_edges);
  msgpack_unpacked_destroy(&r);
  free(items);
}

static void recompute(fixture_t *f) {
  msgpack_unpacked r;
  rg_test_call(f->c, &r, "{\"id\": 2, \"op\": \"recompute\", \"wait\": true}");
  assert_true(rg_test_str_is(&r.data, "state", "done"));
  msgpack_unpacked_destroy(&r);
}

/* Starts the server with the extra options (after recompute.interval=0). */
static int start(void **state, const char *set1, const char *set2) {
  fixture_t *f = calloc(1, sizeof *f);
  const char *extra[] = {"--set", "recompute.interval=0", set1 ? "--set" : NULL,
                         set1,    set2 ? "--set" : NULL,  set2,
                         NULL};
  f->dir = rg_test_mkdtemp();
  rg_test_server_start(&f->srv, f->dir, extra);
  f->c = rg_test_connect(&f->srv);
  *state = f;
  return 0;
}

static int setup(void **state) {
  return start(state, NULL, NULL);
}

/* The graph, seeds s0 bad and h3 good, and one recomputation. */
static void score(fixture_t *f) {
  build_graph(f);
  msgpack_unpacked r;
  rg_test_call(
      f->c, &r,
      "{\"id\": 3, \"op\": \"label\", \"labels\": [{\"actor\": \"address:s0@spam.example\", "
      "\"verdict\": \"bad\", \"source\": \"spam_trap\"}, {\"actor\": "
      "\"address:h3@good.example\", \"verdict\": \"good\"}]}");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 2);
  msgpack_unpacked_destroy(&r);
  recompute(f);
}

static int setup_scored(void **state) {
  start(state, NULL, NULL);
  score(*state);
  return 0;
}

/* Label weights from the config; tiny edge budgets (pages end after each edge read). */
static int setup_scored_tight(void **state) {
  start(state, "label.weight_user_report=0.25", "limits.max_scan_edges=1");
  score(*state);
  return 0;
}

static int setup_scored_capped(void **state) {
  start(state, "limits.max_label_cluster=2", "limits.max_scan_clusters=1");
  score(*state);
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_client_close(f->c);
  assert_int_equal(rg_test_server_stop(&f->srv), 0);
  rg_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* ---- reply helpers ----------------------------------------------------------------------- */

static double num(const msgpack_object *o, const char *path) {
  const msgpack_object *v = rg_test_get(o, path);
  if (v && v->type == MSGPACK_OBJECT_FLOAT64) return v->via.f64;
  if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (double)v->via.u64;
  fail_msg("%s: not a number", path);
  return 0;
}

static const msgpack_object *array(const msgpack_object *o, const char *path) {
  const msgpack_object *v = rg_test_get(o, path);
  if (!v || v->type != MSGPACK_OBJECT_ARRAY) fail_msg("%s: not an array", path);
  return v;
}

/* Copies a string field into buf ("" when absent or nil). */
static const char *str(const msgpack_object *o, const char *path, char *buf, size_t cap) {
  const msgpack_object *v = rg_test_get(o, path);
  if (v && v->type == MSGPACK_OBJECT_STR)
    snprintf(buf, cap, "%.*s", (int)v->via.str.size, v->via.str.ptr);
  else
    buf[0] = '\0';
  return buf;
}

static void expect_error(fixture_t *f, const char *code, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void expect_error(fixture_t *f, const char *code, const char *want, const char *fmt, ...) {
  char req[1024], buf[64], msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(req, sizeof req, fmt, ap);
  va_end(ap);
  msgpack_unpacked r;
  rg_test_call(f->c, &r, "%s", req);
  const char *got = rg_test_error_code(&r.data, buf, sizeof buf);
  if (!got || strcmp(got, code) != 0) fail_msg("%s: got %s, want %s", req, got ? got : "ok", code);
  str(&r.data, "error.message", msg, sizeof msg);
  if (want && !strstr(msg, want)) fail_msg("%s: message '%s' lacks '%s'", req, msg, want);
  msgpack_unpacked_destroy(&r);
}

/* A number from the lookup of one actor, e.g. "results.0.cluster". */
static double looked_up(fixture_t *f, const char *actor, const char *path) {
  msgpack_unpacked r;
  rg_test_call(f->c, &r, "{\"id\": 4, \"op\": \"lookup\", \"actors\": [\"%s\"]}", actor);
  double v = num(&r.data, path);
  msgpack_unpacked_destroy(&r);
  return v;
}

static uint64_t cluster_of(fixture_t *f, const char *actor) {
  return (uint64_t)looked_up(f, actor, "results.0.cluster");
}

/* ---- clusters, top, neighbors ------------------------------------------------------------- */

static void test_analyst_reads_need_a_generation(void **state) {
  fixture_t *f = *state;
  build_graph(f);
  expect_error(f, "not_found", "recomput", "{\"id\": 5, \"op\": \"clusters\"}");
  expect_error(f, "not_found", "recomput", "{\"id\": 5, \"op\": \"top\", \"type\": \"ip\"}");
  expect_error(f, "not_found", "recomput", "{\"id\": 5, \"op\": \"export\", \"clusters\": [1]}");
  expect_error(f, "not_found", "recomput",
               "{\"id\": 5, \"op\": \"label_cluster\", \"cluster\": 1, \"verdict\": \"bad\"}");
  /* neighbors works without scores: the score fields are null */
  msgpack_unpacked r;
  rg_test_call(f->c, &r, "{\"id\": 6, \"op\": \"neighbors\", \"actor\": \"ip:203.0.113.1\"}");
  assert_int_equal(rg_test_get(&r.data, "nodes.0.reputation")->type, MSGPACK_OBJECT_NIL);
  assert_int_equal(array(&r.data, "nodes")->via.array.size, 1 + N_SPAM / 2 + 1);
  msgpack_unpacked_destroy(&r);
}

static void test_clusters_pages_cover_every_actor_once_in_suspicion_order(void **state) {
  fixture_t *f = *state;
  uint64_t sizes = 0, offset = 0, pages = 0;
  double last = 2;
  for (;;) {
    msgpack_unpacked r;
    rg_test_call(f->c, &r, "{\"id\": 7, \"op\": \"clusters\", \"limit\": 1, \"offset\": %llu}",
                 (unsigned long long)offset);
    const msgpack_object *rows = array(&r.data, "clusters");
    assert_true(rows->via.array.size <= 1);
    if (rows->via.array.size) {
      double s = num(&r.data, "clusters.0.suspicion");
      assert_true(s <= last);
      last = s;
      sizes += rg_test_uint(&r.data, "clusters.0.size");
      pages++;
    }
    const msgpack_object *next = rg_test_get(&r.data, "next_offset");
    bool more = next->type != MSGPACK_OBJECT_NIL;
    if (more) offset = next->via.u64;
    msgpack_unpacked_destroy(&r);
    if (!more) break;
  }
  /* 6 spammers, 2 IPs, 1 net, 1 domain; 4 honest, 1 IP, 1 domain */
  assert_int_equal(sizes, N_SPAM + 2 + 1 + 1 + N_HONEST + 1 + 1);
  assert_true(pages >= 2);
}

static void test_clusters_filter_and_sort(void **state) {
  fixture_t *f = *state;
  msgpack_unpacked r;
  char buf[128];
  uint64_t spam = cluster_of(f, "address:s0@spam.example");
  rg_test_call(f->c, &r,
               "{\"id\": 8, \"op\": \"clusters\", \"actor\": \"address:s0@spam.example\"}");
  assert_int_equal(array(&r.data, "clusters")->via.array.size, 1);
  assert_int_equal(rg_test_uint(&r.data, "clusters.0.id"), spam);
  assert_true(rg_test_uint(&r.data, "clusters.0.bad_seeds") >= 1);
  assert_true(num(&r.data, "clusters.0.bad_seed_share") > 0);
  assert_true(strlen(str(&r.data, "clusters.0.top.0.actor", buf, sizeof buf)) > 0);
  msgpack_unpacked_destroy(&r);

  rg_test_call(f->c, &r, "{\"id\": 9, \"op\": \"clusters\", \"type\": \"net\", \"limit\": 100}");
  const msgpack_object *rows = array(&r.data, "clusters");
  assert_int_equal(rows->via.array.size, 1); /* one net in the graph */
  assert_int_equal(rg_test_uint(&rows->via.array.ptr[0], "by_type.net"), 1);
  msgpack_unpacked_destroy(&r);

  rg_test_call(f->c, &r, "{\"id\": 10, \"op\": \"clusters\", \"min_suspicion\": 0.6}");
  rows = array(&r.data, "clusters");
  for (uint32_t i = 0; i < rows->via.array.size; i++)
    assert_true(num(&rows->via.array.ptr[i], "suspicion") >= 0.6);
  msgpack_unpacked_destroy(&r);

  rg_test_call(f->c, &r, "{\"id\": 11, \"op\": \"clusters\", \"sort\": \"size\", \"min_size\": 2}");
  rows = array(&r.data, "clusters");
  assert_true(rows->via.array.size >= 1);
  for (uint32_t i = 0; i < rows->via.array.size; i++) {
    assert_true(rg_test_uint(&rows->via.array.ptr[i], "size") >= 2);
    if (i)
      assert_true(rg_test_uint(&rows->via.array.ptr[i], "size") <=
                  rg_test_uint(&rows->via.array.ptr[i - 1], "size"));
  }
  msgpack_unpacked_destroy(&r);

  rg_test_call(f->c, &r, "{\"id\": 12, \"op\": \"clusters\", \"first_seen_after\": %lld}",
               (long long)time(NULL) + 86400);
  assert_int_equal(array(&r.data, "clusters")->via.array.size, 0);
  msgpack_unpacked_destroy(&r);

  expect_error(f, "bad_request", "sort: expected",
               "{\"id\": 13, \"op\": \"clusters\", \"sort\": \"x\"}");
  expect_error(f, "bad_request", "type: expected",
               "{\"id\": 13, \"op\": \"clusters\", \"type\": \"x\"}");
  expect_error(f, "not_found", "not in the store",
               "{\"id\": 13, \"op\": \"clusters\", \"actor\": \"ip:192.0.2.99\"}");
}

/* A scan capped at one cluster per request: each reply reads one, says truncated and where
 * to go on; walking scan_from to the end finds every cluster once, and the one net. */
static void test_clusters_scan_is_capped_and_continues(void **state) {
  fixture_t *f = *state; /* limits.max_scan_clusters=1 */
  uint64_t sizes = 0, from = 0, replies = 0, nets = 0;
  for (;;) {
    msgpack_unpacked r;
    uint64_t cur = from;
    rg_test_call(f->c, &r,
                 "{\"id\": 14, \"op\": \"clusters\", \"sort\": \"size\", \"scan_from\": %llu}",
                 (unsigned long long)cur);
    const msgpack_object *rows = array(&r.data, "clusters");
    assert_true(rows->via.array.size <= 1);
    if (rows->via.array.size) sizes += rg_test_uint(&r.data, "clusters.0.size");
    const msgpack_object *next = rg_test_get(&r.data, "next_scan");
    bool more = next->type != MSGPACK_OBJECT_NIL;
    assert_int_equal(rg_test_get(&r.data, "truncated")->via.boolean, more);
    if (more) assert_int_equal(next->via.u64, cur + 1);
    if (more) from = next->via.u64;
    replies++;
    msgpack_unpacked_destroy(&r);
    rg_test_call(f->c, &r,
                 "{\"id\": 15, \"op\": \"clusters\", \"type\": \"net\", \"scan_from\": %llu}",
                 (unsigned long long)cur);
    nets += array(&r.data, "clusters")->via.array.size;
    msgpack_unpacked_destroy(&r);
    if (!more) break;
  }
  assert_int_equal(sizes, N_SPAM + 2 + 1 + 1 + N_HONEST + 1 + 1);
  assert_true(replies >= 2);
  assert_int_equal(nets, 1);
}

/* A generation computed before the store's upgrade to schema 3 has no analyst indexes: the
 * reads say so rather than answering empty, and a recomputation builds them. */
static void test_reads_of_a_generation_without_indexes_ask_for_a_recompute(void **state) {
  fixture_t *f = *state;
  rg_client_close(f->c);
  assert_int_equal(rg_test_server_stop(&f->srv), 0);
  MDB_env *env; /* what the schema 2 store had: generations, no index rows */
  MDB_txn *txn;
  MDB_dbi dbi;
  char store[512];
  snprintf(store, sizeof store, "%s/store", f->dir);
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
  assert_int_equal(mdb_env_open(env, store, 0, 0640), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  static const char *const indexes[] = {"member", "rank", "cluster_rank"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(mdb_dbi_open(txn, indexes[i], 0, &dbi), 0);
    assert_int_equal(mdb_drop(txn, dbi, 0), 0);
  }
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  rg_test_set_schema_version(store, 2);
  const char *extra[] = {"--set", "recompute.interval=0", NULL};
  rg_test_server_start(&f->srv, f->dir, extra);
  f->c = rg_test_connect(&f->srv);
  expect_error(f, "not_found", "recompute to build analyst indexes",
               "{\"id\": 16, \"op\": \"clusters\"}");
  expect_error(f, "not_found", "recompute to build analyst indexes",
               "{\"id\": 16, \"op\": \"top\", \"type\": \"address\"}");
  expect_error(f, "not_found", "recompute to build analyst indexes",
               "{\"id\": 16, \"op\": \"export\", \"clusters\": [1]}");
  recompute(f);
  msgpack_unpacked r;
  rg_test_call(f->c, &r, "{\"id\": 17, \"op\": \"clusters\"}");
  assert_true(array(&r.data, "clusters")->via.array.size > 0);
  msgpack_unpacked_destroy(&r);
}

static void test_top_ranks_actors_of_one_type_and_pages(void **state) {
  fixture_t *f = *state;
  msgpack_unpacked r;
  char buf[128];
  double prev = 2;
  rg_test_call(f->c, &r, "{\"id\": 14, \"op\": \"top\", \"type\": \"address\", \"limit\": 3}");
  const msgpack_object *rows = array(&r.data, "actors");
  assert_int_equal(rows->via.array.size, 3);
  assert_int_equal(rg_test_uint(&r.data, "next_offset"), 3);
  for (uint32_t i = 0; i < 3; i++) {
    double rep = num(&rows->via.array.ptr[i], "reputation");
    assert_true(rep <= prev);
    prev = rep;
    assert_true(rg_test_str_is(&rows->via.array.ptr[i], "type", "address"));
  }
  assert_true(strstr(str(&r.data, "actors.0.actor", buf, sizeof buf), "spam.example") != NULL);
  msgpack_unpacked_destroy(&r);
  rg_test_call(
      f->c, &r,
      "{\"id\": 15, \"op\": \"top\", \"type\": \"address\", \"offset\": 3, \"limit\": 100}");
  rows = array(&r.data, "actors");
  assert_int_equal(rows->via.array.size, N_SPAM + N_HONEST - 3);
  assert_true(num(&rows->via.array.ptr[0], "reputation") <= prev);
  assert_int_equal(rg_test_get(&r.data, "next_offset")->type, MSGPACK_OBJECT_NIL);
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->c, &r,
               "{\"id\": 16, \"op\": \"top\", \"type\": \"ip\", \"order\": \"best\", \"metric\": "
               "\"anomaly\"}");
  rows = array(&r.data, "actors");
  assert_int_equal(rows->via.array.size, 3);
  for (uint32_t i = 1; i < rows->via.array.size; i++)
    assert_true(num(&rows->via.array.ptr[i], "anomaly") >=
                num(&rows->via.array.ptr[i - 1], "anomaly"));
  msgpack_unpacked_destroy(&r);
  expect_error(f, "bad_request", "type", "{\"id\": 17, \"op\": \"top\"}");
  expect_error(f, "bad_request", "metric",
               "{\"id\": 17, \"op\": \"top\", \"type\": \"ip\", \"metric\": \"x\"}");
}

/* Index of a node by actor in a nodes array, or -1. */
static int node_index(const msgpack_object *nodes, const char *actor) {
  char buf[128];
  for (uint32_t i = 0; i < nodes->via.array.size; i++)
    if (strcmp(str(&nodes->via.array.ptr[i], "actor", buf, sizeof buf), actor) == 0) return (int)i;
  return -1;
}

static void test_neighbors_heaviest_first_with_limits_and_depth(void **state) {
  fixture_t *f = *state;
  msgpack_unpacked r;
  char a[128], b[128];
  rg_test_call(f->c, &r,
               "{\"id\": 18, \"op\": \"neighbors\", \"actor\": \"address:s0@spam.example\"}");
  const msgpack_object *nodes = array(&r.data, "nodes"), *edges = array(&r.data, "edges");
  assert_int_equal(nodes->via.array.size, 4); /* itself, its IP, its domain, h0 */
  assert_true(rg_test_str_is(&r.data, "nodes.0.actor", "address:s0@spam.example"));
  assert_int_equal(rg_test_uint(&r.data, "nodes.0.depth"), 0);
  assert_int_equal(rg_test_uint(&r.data, "nodes.1.depth"), 1);
  assert_true(node_index(nodes, "ip:203.0.113.1") > 0);
  assert_false(rg_test_get(&r.data, "truncated")->via.boolean);
  assert_int_equal(edges->via.array.size, 3);
  for (uint32_t i = 0; i < edges->via.array.size; i++) {
    assert_true(node_index(nodes, str(&edges->via.array.ptr[i], "src", a, sizeof a)) >= 0);
    assert_true(node_index(nodes, str(&edges->via.array.ptr[i], "dst", b, sizeof b)) >= 0);
  }
  msgpack_unpacked_destroy(&r);

  rg_test_call(f->c, &r,
               "{\"id\": 19, \"op\": \"neighbors\", \"actor\": \"ip:203.0.113.1\", \"limit\": 2}");
  assert_int_equal(array(&r.data, "nodes")->via.array.size, 2);
  assert_true(rg_test_get(&r.data, "truncated")->via.boolean);
  msgpack_unpacked_destroy(&r);

  rg_test_call(f->c, &r,
               "{\"id\": 20, \"op\": \"neighbors\", \"actor\": \"address:s0@spam.example\", "
               "\"depth\": 2, \"limit\": 100}");
  nodes = array(&r.data, "nodes");
  int s2 = node_index(nodes, "address:s2@spam.example"); /* shares s0's IP */
  assert_true(s2 > 0);
  assert_int_equal(rg_test_uint(&nodes->via.array.ptr[s2], "depth"), 2);
  assert_true(node_index(nodes, "net:203.0.113.0/24") > 0);
  msgpack_unpacked_destroy(&r);

  expect_error(f, "not_found", "not in the store",
               "{\"id\": 21, \"op\": \"neighbors\", \"actor\": \"ip:192.0.2.200\"}");
  expect_error(f, "invalid_actor", NULL,
               "{\"id\": 21, \"op\": \"neighbors\", \"actor\": \"ip:999\"}");
  expect_error(f, "bad_request", "depth",
               "{\"id\": 21, \"op\": \"neighbors\", \"actor\": \"ip:203.0.113.1\", \"depth\": 3}");
}

/* ---- export ---------------------------------------------------------------------------------- */

typedef struct {
  char actor[64][64];
  int n_nodes;
  char edge[MAX_EDGES][160];
  int n_edges;
  uint64_t pages, total;
} export_t;

/* Exports the clusters in pages of `limit` items, following the cursor. */
static void export_all(fixture_t *f, const char *clusters, unsigned limit, export_t *x) {
  char cursor[256] = "", a[64], b[64], k[16];
  memset(x, 0, sizeof *x);
  do {
    msgpack_unpacked r;
    char cur[300] = "";
    if (cursor[0]) snprintf(cur, sizeof cur, ", \"cursor\": \"%s\"", cursor);
    rg_test_call(f->c, &r, "{\"id\": 22, \"op\": \"export\", \"clusters\": [%s], \"limit\": %u%s}",
                 clusters, limit, cur);
    const msgpack_object *nodes = array(&r.data, "nodes"), *edges = array(&r.data, "edges");
    assert_true(nodes->via.array.size + edges->via.array.size <= limit);
    for (uint32_t i = 0; i < nodes->via.array.size; i++)
      str(&nodes->via.array.ptr[i], "actor", x->actor[x->n_nodes++], 64);
    for (uint32_t i = 0; i < edges->via.array.size; i++) {
      const msgpack_object *e = &edges->via.array.ptr[i];
      snprintf(x->edge[x->n_edges++], 160, "%s %s %s", str(e, "src", a, sizeof a),
               str(e, "kind", k, sizeof k), str(e, "dst", b, sizeof b));
    }
    x->total = rg_test_uint(&r.data, "total_nodes");
    str(&r.data, "cursor", cursor, sizeof cursor);
    x->pages++;
    msgpack_unpacked_destroy(&r);
    assert_true(x->pages < 200);
  } while (cursor[0]);
}

static bool has(char (*list)[64], int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (strcmp(list[i], s) == 0) return true;
  return false;
}

static void test_export_pages_reassemble_members_and_the_edges_among_them(void **state) {
  fixture_t *f = *state;
  uint64_t spam = cluster_of(f, "address:s0@spam.example");
  char ids[32];
  snprintf(ids, sizeof ids, "%llu", (unsigned long long)spam);
  export_t whole, paged;
  export_all(f, ids, 1000, &whole);
  assert_int_equal(whole.pages, 1);
  assert_int_equal(whole.n_nodes, whole.total);
  export_all(f, ids, 2, &paged);
  assert_true(paged.pages > 3);
  assert_int_equal(paged.n_nodes, whole.n_nodes);
  assert_int_equal(paged.n_edges, whole.n_edges);
  for (int i = 0; i < whole.n_nodes; i++)
    assert_true(has(paged.actor, paged.n_nodes, whole.actor[i]));
  for (int i = 0; i < whole.n_edges; i++) assert_string_equal(paged.edge[i], whole.edge[i]);
  /* Every node is in the cluster; the edges are exactly the ingested ones among them. */
  for (int i = 0; i < whole.n_nodes; i++) assert_int_equal(cluster_of(f, whole.actor[i]), spam);
  int among = 0;
  for (int i = 0; i < f->n_edges; i++)
    among += has(whole.actor, whole.n_nodes, f->edges[i].src) &&
             has(whole.actor, whole.n_nodes, f->edges[i].dst);
  assert_int_equal(whole.n_edges, among);
  assert_true(among > 0);

  /* Two clusters at once: their members, and edges between them too. */
  uint64_t honest = cluster_of(f, "address:h3@good.example");
  assert_true(honest != spam);
  char both[64];
  snprintf(both, sizeof both, "%llu, %llu", (unsigned long long)spam, (unsigned long long)honest);
  export_t two;
  export_all(f, both, 3, &two);
  assert_true(two.n_nodes > whole.n_nodes);
  assert_int_equal(two.n_nodes, two.total);
  assert_true(two.n_edges > whole.n_edges);
  expect_error(f, "not_found", "is not in generation",
               "{\"id\": 23, \"op\": \"export\", \"clusters\": [987654]}");
  expect_error(f, "bad_request", "cursor",
               "{\"id\": 23, \"op\": \"export\", \"clusters\": [%s], \"cursor\": \"x\"}", ids);
  /* a handed-out cursor: refused when tampered with or passed with other clusters */
  msgpack_unpacked r;
  char cur[256], bad[300];
  rg_test_call(f->c, &r, "{\"id\": 23, \"op\": \"export\", \"clusters\": [%s], \"limit\": 1}",
               both);
  str(&r.data, "cursor", cur, sizeof cur);
  msgpack_unpacked_destroy(&r);
  assert_true(strlen(cur) > 0);
  expect_error(f, "bad_request", "another list of clusters",
               "{\"id\": 23, \"op\": \"export\", \"clusters\": [%s], \"cursor\": \"%s\"}", ids,
               cur);
  snprintf(bad, sizeof bad, "%s ", cur); /* trailing space */
  expect_error(f, "bad_request", "not one this export handed out",
               "{\"id\": 23, \"op\": \"export\", \"clusters\": [%s], \"cursor\": \"%s\"}", both,
               bad);
  snprintf(bad, sizeof bad, "99999999999999999999999%s", cur); /* overflows the generation */
  expect_error(f, "bad_request", "not one this export handed out",
               "{\"id\": 23, \"op\": \"export\", \"clusters\": [%s], \"cursor\": \"%s\"}", both,
               bad);
  snprintf(bad, sizeof bad, "-%s", cur);
  expect_error(f, "bad_request", "not one this export handed out",
               "{\"id\": 23, \"op\": \"export\", \"clusters\": [%s], \"cursor\": \"%s\"}", both,
               bad);
}

static void test_export_cursor_of_a_replaced_generation_is_refused(void **state) {
  fixture_t *f = *state;
  uint64_t spam = cluster_of(f, "address:s0@spam.example");
  msgpack_unpacked r;
  char cursor[256];
  rg_test_call(f->c, &r, "{\"id\": 24, \"op\": \"export\", \"clusters\": [%llu], \"limit\": 1}",
               (unsigned long long)spam);
  assert_true(strlen(str(&r.data, "cursor", cursor, sizeof cursor)) > 0);
  msgpack_unpacked_destroy(&r);
  recompute(f);
  expect_error(f, "not_found", "start the export again",
               "{\"id\": 25, \"op\": \"export\", \"clusters\": [%llu], \"cursor\": \"%s\"}",
               (unsigned long long)spam, cursor);
}

/* ---- verdicts back -------------------------------------------------------------------------- */

static double reputation(fixture_t *f, const char *actor) {
  return looked_up(f, actor, "results.0.reputation");
}

static void test_label_cluster_then_recompute_raises_members_reputation(void **state) {
  fixture_t *f = *state;
  uint64_t spam = cluster_of(f, "address:s0@spam.example");
  char ids[32];
  snprintf(ids, sizeof ids, "%llu", (unsigned long long)spam);
  export_t x;
  export_all(f, ids, 1000, &x);
  double before[64];
  for (int i = 0; i < x.n_nodes; i++) before[i] = reputation(f, x.actor[i]);

  msgpack_unpacked r;
  rg_test_call(f->c, &r, "{\"id\": 27, \"op\": \"status\"}");
  uint64_t gen = rg_test_uint(&r.data, "generation.generation");
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->c, &r,
               "{\"id\": 28, \"op\": \"label_cluster\", \"cluster\": %s, \"verdict\": \"bad\", "
               "\"note\": \"campaign\", \"generation\": %llu}",
               ids, (unsigned long long)gen);
  assert_int_equal(rg_test_uint(&r.data, "accepted"), x.n_nodes);
  msgpack_unpacked_destroy(&r);
  recompute(f);
  int rose = 0;
  for (int i = 0; i < x.n_nodes; i++) {
    double after = reputation(f, x.actor[i]);
    assert_true(after >= before[i] - 1e-9);
    rose += after > before[i] + 1e-6;
  }
  assert_true(rose > 0);
  /* the old generation's cluster ids are refused */
  expect_error(f, "not_found", "no longer current",
               "{\"id\": 29, \"op\": \"label_cluster\", \"cluster\": %s, \"verdict\": \"bad\", "
               "\"generation\": %llu}",
               ids, (unsigned long long)gen);
  expect_error(
      f, "not_found", "does not exist",
      "{\"id\": 29, \"op\": \"label_cluster\", \"cluster\": 987654, \"verdict\": \"bad\"}");
  expect_error(f, "invalid_label", "verdict",
               "{\"id\": 29, \"op\": \"label_cluster\", \"cluster\": %s, \"verdict\": \"meh\"}",
               ids);
}

static uint64_t stats_labels(fixture_t *f) {
  msgpack_unpacked r;
  rg_test_call(f->c, &r, "{\"id\": 26, \"op\": \"stats\"}");
  uint64_t n = rg_test_uint(&r.data, "labels");
  msgpack_unpacked_destroy(&r);
  return n;
}

static void test_label_cluster_skips_members_forgotten_since_the_recomputation(void **state) {
  fixture_t *f = *state;
  uint64_t spam = cluster_of(f, "address:s0@spam.example");
  assert_int_equal(cluster_of(f, "address:s1@spam.example"), spam);
  char ids[32];
  snprintf(ids, sizeof ids, "%llu", (unsigned long long)spam);
  export_t x;
  export_all(f, ids, 1000, &x);
  int unlabelled = 0; /* members that will get their first label */
  msgpack_unpacked r;
  for (int i = 0; i < x.n_nodes; i++) {
    rg_test_call(f->c, &r, "{\"id\": 4, \"op\": \"lookup\", \"actors\": [\"%s\"]}", x.actor[i]);
    unlabelled += strcmp(x.actor[i], "address:s1@spam.example") != 0 &&
                  rg_test_get(&r.data, "results.0.label")->type == MSGPACK_OBJECT_NIL;
    msgpack_unpacked_destroy(&r);
  }
  rg_test_call(f->c, &r,
               "{\"id\": 27, \"op\": \"forget\", \"actors\": [\"address:s1@spam.example\"]}");
  assert_int_equal(rg_test_uint(&r.data, "forgotten"), 1);
  msgpack_unpacked_destroy(&r);
  uint64_t before = stats_labels(f);
  rg_test_call(f->c, &r,
               "{\"id\": 28, \"op\": \"label_cluster\", \"cluster\": %s, \"verdict\": \"bad\"}",
               ids);
  assert_int_equal(rg_test_uint(&r.data, "accepted"), x.n_nodes - 1);
  msgpack_unpacked_destroy(&r);
  assert_int_equal(stats_labels(f), before + (uint64_t)unlabelled);
}

/* The guard: labelling a cluster bad skips a member labelled good, says so in a dry run
 * first (labelling nothing), and labels it only with force. */
static void test_label_cluster_skips_members_labelled_good_unless_forced(void **state) {
  fixture_t *f = *state;
  uint64_t spam = cluster_of(f, "address:s0@spam.example");
  assert_int_equal(cluster_of(f, "address:s2@spam.example"), spam);
  char ids[32];
  snprintf(ids, sizeof ids, "%llu", (unsigned long long)spam);
  export_t x;
  export_all(f, ids, 1000, &x);
  msgpack_unpacked r;
  rg_test_call(f->c, &r,
               "{\"id\": 40, \"op\": \"label\", \"labels\": [{\"actor\": "
               "\"address:s2@spam.example\", \"verdict\": \"good\", \"note\": \"a customer\"}]}");
  msgpack_unpacked_destroy(&r);
  uint64_t before = stats_labels(f);
  rg_test_call(f->c, &r,
               "{\"id\": 41, \"op\": \"label_cluster\", \"cluster\": %s, \"verdict\": \"bad\", "
               "\"dry_run\": true}",
               ids);
  assert_true(rg_test_get(&r.data, "dry_run")->via.boolean);
  assert_int_equal(rg_test_uint(&r.data, "skipped_labelled"), 1);
  uint64_t would = rg_test_uint(&r.data, "would_label");
  assert_int_equal(would + 1 + rg_test_uint(&r.data, "skipped_reputation"), x.n_nodes);
  assert_int_equal(rg_test_uint(&r.data, "by_type.address") + rg_test_uint(&r.data, "by_type.ip") +
                       rg_test_uint(&r.data, "by_type.net") +
                       rg_test_uint(&r.data, "by_type.domain"),
                   x.n_nodes);
  msgpack_unpacked_destroy(&r);
  assert_int_equal(stats_labels(f), before); /* a dry run labels nothing */
  rg_test_call(f->c, &r,
               "{\"id\": 42, \"op\": \"label_cluster\", \"cluster\": %s, \"verdict\": \"bad\"}",
               ids);
  assert_int_equal(rg_test_uint(&r.data, "accepted"), would);
  assert_int_equal(rg_test_uint(&r.data, "skipped_labelled"), 1);
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->c, &r,
               "{\"id\": 43, \"op\": \"lookup\", \"actors\": [\"address:s2@spam.example\"]}");
  assert_true(rg_test_str_is(&r.data, "results.0.label.verdict", "good"));
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->c, &r,
               "{\"id\": 44, \"op\": \"label_cluster\", \"cluster\": %s, \"verdict\": \"bad\", "
               "\"force\": true}",
               ids);
  assert_int_equal(rg_test_uint(&r.data, "accepted"), x.n_nodes);
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->c, &r,
               "{\"id\": 45, \"op\": \"lookup\", \"actors\": [\"address:s2@spam.example\"]}");
  assert_true(rg_test_str_is(&r.data, "results.0.label.verdict", "bad"));
  msgpack_unpacked_destroy(&r);
}

static void test_label_cluster_refuses_a_cluster_above_the_cap(void **state) {
  fixture_t *f = *state; /* limits.max_label_cluster=2 */
  uint64_t spam = cluster_of(f, "address:s0@spam.example");
  uint64_t before = stats_labels(f);
  expect_error(f, "too_large", "repgraph label --file",
               "{\"id\": 29, \"op\": \"label_cluster\", \"cluster\": %llu, \"verdict\": \"bad\"}",
               (unsigned long long)spam);
  assert_int_equal(stats_labels(f), before);
}

static void test_unlabel_retracts_and_history_keeps_every_verdict(void **state) {
  fixture_t *f = *state;
  msgpack_unpacked r;
  rg_test_call(
      f->c, &r,
      "{\"id\": 30, \"op\": \"label\", \"labels\": [{\"actor\": \"address:s0@spam.example\", "
      "\"verdict\": \"good\", \"source\": \"user_report\", \"note\": \"Not-Junk\"}]}");
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->c, &r,
               "{\"id\": 31, \"op\": \"unlabel\", \"actors\": [\"address:s0@spam.example\", "
               "\"address:h0@good.example\", \"ip:192.0.2.77\"], \"note\": \"wrong\"}");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 3);
  assert_int_equal(rg_test_uint(&r.data, "retracted"), 1); /* h0 had none, the IP is unknown */
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->c, &r,
               "{\"id\": 32, \"op\": \"lookup\", \"actors\": [\"address:s0@spam.example\"]}");
  assert_int_equal(rg_test_get(&r.data, "results.0.label")->type, MSGPACK_OBJECT_NIL);
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->c, &r,
               "{\"id\": 33, \"op\": \"history\", \"actors\": [\"address:s0@spam.example\", "
               "\"address:h0@good.example\"]}");
  assert_int_equal(array(&r.data, "results.0.labels")->via.array.size, 3); /* newest first */
  assert_false(rg_test_get(&r.data, "results.0.truncated")->via.boolean);
  assert_true(rg_test_str_is(&r.data, "results.0.labels.2.verdict", "bad"));
  assert_true(rg_test_str_is(&r.data, "results.0.labels.2.source", "spam_trap"));
  assert_true(rg_test_str_is(&r.data, "results.0.labels.1.source", "user_report"));
  assert_true(rg_test_str_is(&r.data, "results.0.labels.1.note", "Not-Junk"));
  assert_true(rg_test_str_is(&r.data, "results.0.labels.0.verdict", "retracted"));
  assert_true(rg_test_str_is(&r.data, "results.0.labels.0.note", "wrong"));
  assert_int_equal(array(&r.data, "results.1.labels")->via.array.size, 0);
  msgpack_unpacked_destroy(&r);
  /* a limit keeps the newest entries and says older ones exist */
  rg_test_call(f->c, &r,
               "{\"id\": 33, \"op\": \"history\", \"actors\": [\"address:s0@spam.example\"], "
               "\"limit\": 2}");
  assert_int_equal(array(&r.data, "results.0.labels")->via.array.size, 2);
  assert_true(rg_test_get(&r.data, "results.0.truncated")->via.boolean);
  assert_true(rg_test_str_is(&r.data, "results.0.labels.0.verdict", "retracted"));
  assert_true(rg_test_str_is(&r.data, "results.0.labels.1.note", "Not-Junk"));
  msgpack_unpacked_destroy(&r);
  /* a label's weight defaults to its source's configured weight */
  rg_test_call(
      f->c, &r,
      "{\"id\": 34, \"op\": \"label\", \"labels\": [{\"actor\": \"address:h1@good.example\", "
      "\"verdict\": \"good\", \"source\": \"user_report\"}]}");
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->c, &r,
               "{\"id\": 35, \"op\": \"lookup\", \"actors\": [\"address:h1@good.example\"]}");
  assert_float_equal(num(&r.data, "results.0.label.weight"), 0.25, 1e-12);
  msgpack_unpacked_destroy(&r);
}

static void test_edge_budgets_end_pages_early_without_losing_edges(void **state) {
  fixture_t *f = *state; /* limits.max_scan_edges=1 */
  uint64_t spam = cluster_of(f, "address:s0@spam.example");
  char ids[32];
  snprintf(ids, sizeof ids, "%llu", (unsigned long long)spam);
  export_t x;
  export_all(f, ids, 1000, &x); /* one edge read per page: resumes inside every member */
  assert_int_equal(x.n_nodes, x.total);
  int among = 0;
  for (int i = 0; i < f->n_edges; i++)
    among += has(x.actor, x.n_nodes, f->edges[i].src) && has(x.actor, x.n_nodes, f->edges[i].dst);
  assert_int_equal(x.n_edges, among);
  /* Every member visited counts as an edge read too: the members with no out-edges (the
   * domain, the net) each end a page as well, so a cluster of edgeless members still pages. */
  int out = 0, edgeless = 0;
  for (int i = 0; i < f->n_edges; i++) out += has(x.actor, x.n_nodes, f->edges[i].src);
  for (int i = 0; i < x.n_nodes; i++) {
    int n = 0;
    for (int j = 0; j < f->n_edges; j++) n += strcmp(f->edges[j].src, x.actor[i]) == 0;
    edgeless += n == 0;
  }
  assert_true(edgeless >= 2);
  assert_true(x.pages >= (uint64_t)(1 + out + edgeless));
  msgpack_unpacked r; /* neighbors: reads 1 edge of the IP, so one neighbour and truncated */
  rg_test_call(f->c, &r, "{\"id\": 40, \"op\": \"neighbors\", \"actor\": \"ip:203.0.113.1\"}");
  assert_int_equal(array(&r.data, "nodes")->via.array.size, 2);
  assert_true(rg_test_get(&r.data, "truncated")->via.boolean);
  msgpack_unpacked_destroy(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_analyst_reads_need_a_generation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_clusters_pages_cover_every_actor_once_in_suspicion_order,
                                      setup_scored, teardown),
      cmocka_unit_test_setup_teardown(test_clusters_filter_and_sort, setup_scored, teardown),
      cmocka_unit_test_setup_teardown(
          test_reads_of_a_generation_without_indexes_ask_for_a_recompute, setup_scored, teardown),
      cmocka_unit_test_setup_teardown(test_clusters_scan_is_capped_and_continues,
                                      setup_scored_capped, teardown),
      cmocka_unit_test_setup_teardown(test_top_ranks_actors_of_one_type_and_pages, setup_scored,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_neighbors_heaviest_first_with_limits_and_depth,
                                      setup_scored, teardown),
      cmocka_unit_test_setup_teardown(test_export_pages_reassemble_members_and_the_edges_among_them,
                                      setup_scored, teardown),
      cmocka_unit_test_setup_teardown(test_export_cursor_of_a_replaced_generation_is_refused,
                                      setup_scored, teardown),
      cmocka_unit_test_setup_teardown(test_label_cluster_then_recompute_raises_members_reputation,
                                      setup_scored, teardown),
      cmocka_unit_test_setup_teardown(
          test_label_cluster_skips_members_forgotten_since_the_recomputation, setup_scored,
          teardown),
      cmocka_unit_test_setup_teardown(test_label_cluster_skips_members_labelled_good_unless_forced,
                                      setup_scored, teardown),
      cmocka_unit_test_setup_teardown(test_label_cluster_refuses_a_cluster_above_the_cap,
                                      setup_scored_capped, teardown),
      cmocka_unit_test_setup_teardown(test_edge_budgets_end_pages_early_without_losing_edges,
                                      setup_scored_tight, teardown),
      cmocka_unit_test_setup_teardown(test_unlabel_retracts_and_history_keeps_every_verdict,
                                      setup_scored_tight, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
