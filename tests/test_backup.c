/* test_backup.c — backup and restore end to end, on the real repgraphd: a backup taken
 * while another client ingests continuously is restored with `repgraphd --restore` into a
 * new data directory, a second server started on it has every write acknowledged before the
 * backup started, and its lookups of those actors match the source's; restore refuses a
 * non-empty directory; the backup op checks its path and its role. */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repgraph/err.h"
#include "testutil.h"

enum { N_PRE = 40, PRE_BATCH = 100, BG_BATCH = 50, BG_MAX = 100000 };

typedef rg_test_fixture_t fixture_t;

/* The server on the restored store: stopped by the teardown if a test fails midway. */
static rg_test_server_t restored;
static char *restored_dir;

static int setup(void **state) {
  return rg_test_fixture_start(state, NULL);
}

static int teardown(void **state) {
  if (restored_dir) {
    rg_test_server_kill(&restored);
    rg_test_rmtree(restored_dir);
    free(restored_dir);
    restored_dir = NULL;
  }
  return rg_test_fixture_stop(state);
}

/* Appends batch k of observations (senders u<k>_<i>@<domain>, IPs 10.<net>.<k>.<i>) to a
 * JSON request. */
static char *batch_json(uint64_t id, const char *domain, int net, int k, int n) {
  size_t cap = (size_t)n * 200 + 100, len = 0;
  char *req = malloc(cap);
  len += (size_t)snprintf(req, cap, "{\"id\": %llu, \"op\": \"ingest\", \"observations\": [",
                          (unsigned long long)id);
  for (int i = 0; i < n; i++)
    len += (size_t)snprintf(req + len, cap - len,
                            "%s{\"sender\": \"u%d_%d@%s\", \"client_ip\": \"10.%d.%d.%d\", "
                            "\"recipients\": [\"r%d@rcpt-%s\"]}",
                            i ? ", " : "", k, i, domain, net, k % 250, i + 1, i % 7, domain);
  snprintf(req + len, cap - len, "]}");
  return req;
}

/* The other client: ingests batch after batch until told to stop, and remembers the last
 * batch acknowledged before the backup was asked for. No cmocka asserts off the main
 * thread: failures are counted. */
typedef struct {
  const rg_test_server_t *srv;
  atomic_bool stop, backup_sent, backup_done;
  atomic_int acked;        /* batches acknowledged */
  atomic_int acked_before; /* of them, before the backup request was sent */
  atomic_int acked_during; /* between the request and its reply */
  atomic_int failures;
} writer_t;

static void *writer_main(void *arg) {
  writer_t *w = arg;
  rg_client_t *c;
  char err[200];
  if (rg_client_connect("127.0.0.1", w->srv->port, NULL, 5000, &c, err, sizeof err)) {
    atomic_fetch_add(&w->failures, 1);
    return NULL;
  }
  rg_buf_t frame, body;
  rg_buf_init(&frame, 0);
  rg_buf_init(&body, 0);
  for (int k = 0; k < BG_MAX && !atomic_load(&w->stop); k++) {
    char *req = batch_json((uint64_t)k + 1000, "bg.example", 200, k, BG_BATCH);
    frame.len = 0;
    rg_test_frame_json(&frame, "%s", req);
    free(req);
    msgpack_unpacked r;
    msgpack_unpacked_init(&r);
    size_t off = 0;
    bool ok = rg_client_send(c, frame.data, frame.len) == 0 &&
              rg_client_recv(c, &body, 1 << 20) == 0 &&
              msgpack_unpack_next(&r, (const char *)body.data, body.len, &off) ==
                  MSGPACK_UNPACK_SUCCESS &&
              !rg_test_get(&r.data, "error") && rg_test_get(&r.data, "accepted") &&
              rg_test_get(&r.data, "accepted")->via.u64 == BG_BATCH;
    msgpack_unpacked_destroy(&r);
    if (!ok) {
      atomic_fetch_add(&w->failures, 1);
      break;
    }
    atomic_store(&w->acked, k + 1);
    if (!atomic_load(&w->backup_sent)) atomic_store(&w->acked_before, k + 1);
    if (atomic_load(&w->backup_sent) && !atomic_load(&w->backup_done))
      atomic_fetch_add(&w->acked_during, 1);
  }
  rg_buf_free(&frame);
  rg_buf_free(&body);
  rg_client_close(c);
  return NULL;
}

/* Looks up `actors` (a JSON array's inside) on a server; the reply is the caller's. */
static void lookup(rg_client_t *c, const char *actors, msgpack_unpacked *r) {
  size_t n = strlen(actors) + 64;
  char *req = malloc(n);
  snprintf(req, n, "{\"id\": 5, \"op\": \"lookup\", \"actors\": [%s]}", actors);
  rg_test_call(c, r, "%s", req);
  free(req);
}

/* The fields of a lookup entry that do not move with the clock (weights decay). */
static const char *const STABLE[] = {"actor",      "known",      "first_seen", "last_seen",
                                     "messages",   "out_degree", "in_degree",  "label",
                                     "reputation", "band",       "propagated", "cluster",
                                     "anomaly",    "generation", "computed_at"};

static void assert_lookups_match(const msgpack_object *a, const msgpack_object *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (size_t f = 0; f < sizeof STABLE / sizeof STABLE[0]; f++) {
      char path[64];
      snprintf(path, sizeof path, "results.%zu.%s", i, STABLE[f]);
      const msgpack_object *x = rg_test_get(a, path), *y = rg_test_get(b, path);
      assert_non_null(x);
      assert_non_null(y);
      if (!msgpack_object_equal(*x, *y)) fail_msg("%s differs between source and restore", path);
    }
}

static void test_backup_under_ingest_restores_every_acknowledged_write(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  char code[64];
  for (int k = 0; k < N_PRE; k++) { /* 4,000 observations, all acknowledged */
    char *req = batch_json((uint64_t)k + 1, "pre.example", 1, k, PRE_BATCH);
    rg_test_call(c, &r, "%s", req);
    free(req);
    assert_string_equal(rg_test_code_of(&r, code), "(no error)");
    msgpack_unpacked_destroy(&r);
  }
  rg_test_call(c, &r,
               "{\"id\": 2, \"op\": \"label\", \"labels\": [{\"actor\": "
               "\"address:u0_0@pre.example\", \"verdict\": \"bad\"}]}");
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"recompute\", \"wait\": true}");
  assert_true(rg_test_str_is(&r.data, "state", "done"));
  msgpack_unpacked_destroy(&r);

  writer_t w = {.srv = &f->srv};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
  uint64_t t0 = rg_test_now_ms();
  while (atomic_load(&w.acked) < 5 && !atomic_load(&w.failures) && rg_test_now_ms() - t0 < 20000)
    rg_test_call(c, &r, "{\"id\": 4, \"op\": \"ping\"}"), msgpack_unpacked_destroy(&r);
  assert_true(atomic_load(&w.acked) >= 5);

  char dest[600];
  snprintf(dest, sizeof dest, "%s/backup-1", f->dir);
  atomic_store(&w.backup_sent, true);
  rg_test_call(c, &r, "{\"id\": 6, \"op\": \"backup\", \"path\": \"%s\"}", dest);
  atomic_store(&w.backup_done, true);
  assert_string_equal(rg_test_code_of(&r, code), "(no error)");
  int before = atomic_load(&w.acked_before), acked_at_reply = atomic_load(&w.acked);
  uint64_t labels = rg_test_uint(&r.data, "manifest.labels");
  assert_int_equal(labels, 1);
  assert_true(rg_test_uint(&r.data, "manifest.generation") >= 1);
  print_message(
      "backup of %llu bytes in %.1f ms; the other client had %d batches "
      "acknowledged before it, %d while it ran\n",
      (unsigned long long)rg_test_uint(&r.data, "manifest.data_bytes"),
      rg_test_get(&r.data, "ms")->via.f64, before, atomic_load(&w.acked_during));
  msgpack_unpacked_destroy(&r);
  /* ingest goes on after the backup too */
  t0 = rg_test_now_ms();
  while (atomic_load(&w.acked) < acked_at_reply + 3 && !atomic_load(&w.failures) &&
         rg_test_now_ms() - t0 < 20000)
    rg_test_call(c, &r, "{\"id\": 4, \"op\": \"ping\"}"), msgpack_unpacked_destroy(&r);
  atomic_store(&w.stop, true);
  pthread_join(th, NULL);
  assert_int_equal(atomic_load(&w.failures), 0);

  /* restore into a new directory and serve it */
  char *dir2 = restored_dir = rg_test_mkdtemp(), cmd[2000], *out;
  snprintf(cmd, sizeof cmd, "%s/repgraphd --restore %s -d %s/store 2>&1", RG_BINARY_DIR, dest,
           dir2); /* where rg_test_server_start keeps the store */
  int rc = rg_test_run(cmd, &out);
  if (rc) print_error("%s\n", out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "restored"));
  free(out);
  rg_test_server_t *s2 = &restored;
  rg_test_server_start(s2, dir2, NULL);
  rg_client_t *c2 = rg_test_connect(s2);

  /* every batch the other client had acknowledged before the backup started is there */
  for (int k = 0; k < before; k++) {
    char actors[256];
    snprintf(actors, sizeof actors, "\"address:u%d_0@bg.example\", \"address:u%d_%d@bg.example\"",
             k, k, BG_BATCH - 1);
    lookup(c2, actors, &r);
    if (!rg_test_get(&r.data, "results.0.known")->via.boolean ||
        !rg_test_get(&r.data, "results.1.known")->via.boolean)
      fail_msg("batch %d was acknowledged before the backup but is not in it", k);
    msgpack_unpacked_destroy(&r);
  }
  /* and the actors written before it look the same on both servers, scores included */
  size_t cap = (size_t)N_PRE * 10 * 40, len = 0, n = 0;
  char *actors = malloc(cap);
  for (int k = 0; k < N_PRE; k++)
    for (int i = 0; i < PRE_BATCH; i += 10, n++)
      len += (size_t)snprintf(actors + len, cap - len, "%s\"address:u%d_%d@pre.example\"",
                              n ? ", " : "", k, i);
  len += (size_t)snprintf(actors + len, cap - len, ", \"domain:pre.example\", \"ip:10.1.3.7\"");
  n += 2;
  msgpack_unpacked r1, r2;
  lookup(c, actors, &r1);
  lookup(c2, actors, &r2);
  assert_true(rg_test_get(&r1.data, "results.0.known")->via.boolean);
  assert_true(rg_test_get(&r1.data, "results.0.reputation")->type == MSGPACK_OBJECT_FLOAT64);
  assert_lookups_match(&r1.data, &r2.data, n);
  msgpack_unpacked_destroy(&r1);
  msgpack_unpacked_destroy(&r2);
  free(actors);
  rg_client_close(c2);
  restored_dir = NULL;
  rg_test_teardown_server(s2, dir2); /* frees dir2 */

  /* restoring over a store is refused, and the store is left alone */
  snprintf(cmd, sizeof cmd, "%s/repgraphd --restore %s -d %s/store 2>&1", RG_BINARY_DIR, dest,
           f->dir);
  rc = rg_test_run(cmd, &out);
  assert_int_equal(rc, 1);
  assert_non_null(strstr(out, "not empty"));
  free(out);
  rg_client_close(c);
}

static void test_backup_refuses_relative_existing_and_concurrent_paths(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  char code[64];
  rg_test_call(c, &r, "{\"id\": 1, \"op\": \"backup\", \"path\": \"relative/dir\"}");
  assert_string_equal(rg_test_code_of(&r, code), "bad_request");
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 2, \"op\": \"backup\", \"path\": \"%s/../x\"}", f->dir);
  assert_string_equal(rg_test_code_of(&r, code), "bad_request");
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"backup\"}");
  assert_string_equal(rg_test_code_of(&r, code), "bad_request");
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 4, \"op\": \"backup\", \"path\": \"%s\"}", f->dir); /* exists */
  assert_string_equal(rg_test_code_of(&r, code), "io_error");
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 5, \"op\": \"stats\"}");
  assert_int_equal(rg_test_uint(&r.data, "backup.failed"), 1);
  assert_int_equal(rg_test_uint(&r.data, "backup.completed"), 0);
  msgpack_unpacked_destroy(&r);

  /* two backups pipelined on one connection: the second is refused while the first runs,
   * or (if the first was already done) written as well; both never share a directory */
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  rg_test_frame_json(&frame, "{\"id\": 6, \"op\": \"backup\", \"path\": \"%s/b1\"}", f->dir);
  rg_test_frame_json(&frame, "{\"id\": 7, \"op\": \"backup\", \"path\": \"%s/b2\"}", f->dir);
  assert_int_equal(rg_client_send(c, frame.data, frame.len), 0);
  rg_buf_free(&frame);
  msgpack_unpacked r6, r7;
  rg_test_recv(c, "backup", &r6);
  rg_test_recv(c, "backup", &r7);
  assert_int_equal(rg_test_uint(&r6.data, "id"), 6);
  assert_string_equal(rg_test_code_of(&r6, code), "(no error)");
  const char *second = rg_test_code_of(&r7, code);
  assert_true(strcmp(second, "(no error)") == 0 || strcmp(second, "busy") == 0);
  msgpack_unpacked_destroy(&r6);
  msgpack_unpacked_destroy(&r7);
  char path[600];
  struct stat st;
  snprintf(path, sizeof path, "%s/b1/manifest.json", f->dir);
  assert_int_equal(stat(path, &st), 0);
  snprintf(path, sizeof path, "%s/b1.partial", f->dir);
  assert_int_equal(stat(path, &st), -1);
  rg_client_close(c);

  /* the client: a relative DEST is made absolute against its own directory */
  char cmd[1400], *out;
  snprintf(cmd, sizeof cmd, "cd %s && %s/repgraph -p %u --json backup by-cli 2>&1", f->dir,
           RG_BINARY_DIR, f->srv.port);
  int rc = rg_test_run(cmd, &out);
  if (rc) print_error("%s\n", out);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(out, "\"blake2b_256\""));
  free(out);
  snprintf(path, sizeof path, "%s/by-cli/data.mdb", f->dir);
  assert_int_equal(stat(path, &st), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_backup_under_ingest_restores_every_acknowledged_write,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_backup_refuses_relative_existing_and_concurrent_paths,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
