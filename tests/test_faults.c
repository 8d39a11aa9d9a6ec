/* test_faults.c — storage faults, end to end against the real repgraphd: a store at its
 * configured maximum answers ingest with storage_full, keeps serving lookups and every
 * acknowledged write, and takes ingest again once forget has freed space; a store left by
 * a newer schema version, a corrupt data file and another program's LMDB environment are
 * refused at start with a clear message and left byte for byte as they were. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "repgraph/err.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define FILL_EDGES 200 /* edges per ingest while filling: fresh sender → victim i */
#define VICTIMS    FILL_EDGES

typedef struct {
  char *dir;
  char store[300];
  rg_test_server_t srv;
} fixture_t;

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = rg_test_mkdtemp();
  snprintf(f->store, sizeof f->store, "%s/store", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_test_server_kill(&f->srv); /* when a test failed midway */
  rg_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* Sends ingest batch `b` (FILL_EDGES edges from fresh senders). True when acknowledged,
 * false on storage_full; any other answer fails the test. */
static bool ingest_batch(rg_client_t *c, int b) {
  char *edges = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&edges, &len);
  for (int i = 0; i < FILL_EDGES; i++)
    fprintf(m,
            "%s{\"src\": \"address:f%d.%d@fill.example\", \"dst\": "
            "\"address:v%d@victim.example\", \"kind\": \"mailed\"}",
            i ? "," : "", b, i, i);
  fclose(m);
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": %d, \"op\": \"ingest\", \"edges\": [%s]}", b, edges);
  free(edges);
  char code[64];
  const char *error = rg_test_error_code(&r.data, code, sizeof code);
  bool full = error && strcmp(error, "storage_full") == 0;
  if (!full) {
    if (error) fail_msg("ingest batch %d: %s", b, error);
    assert_int_equal(rg_test_uint(&r.data, "accepted"), FILL_EDGES);
  }
  msgpack_unpacked_destroy(&r);
  return !full;
}

/* Every sender of batches [0, batches) is known with its one edge, or with none once
 * its victims were forgotten. */
static void assert_senders_kept(rg_client_t *c, int batches, uint64_t degree) {
  for (int b = 0; b < batches; b++) {
    msgpack_unpacked r;
    rg_test_call(c, &r,
                 "{\"id\": 1, \"op\": \"lookup\", \"actors\": [\"address:f%d.0@fill.example\", "
                 "\"address:f%d.%d@fill.example\"]}",
                 b, b, FILL_EDGES - 1);
    for (int j = 0; j < 2; j++) {
      char path[64];
      snprintf(path, sizeof path, "results.%d.known", j);
      if (!rg_test_get(&r.data, path)->via.boolean) fail_msg("acknowledged batch %d lost", b);
      snprintf(path, sizeof path, "results.%d.out_degree.mailed", j);
      assert_int_equal(rg_test_uint(&r.data, path), degree);
    }
    msgpack_unpacked_destroy(&r);
  }
}

static void test_full_store_serves_reads_and_resumes_after_forget(void **state) {
  fixture_t *f = *state;
  static const char *const extra[] = {"--set", "store.map_size=1M", "--set", "store.map_max=1M",
                                      NULL};
  rg_test_server_start(&f->srv, f->dir, extra);
  rg_client_t *c = rg_test_connect(&f->srv);
  int acked = 0;
  while (ingest_batch(c, acked)) {
    acked++;
    assert_true(acked < 1000); /* 1 MiB cannot hold 200,000 edges */
  }
  assert_true(acked > 0);
  assert_false(ingest_batch(c, acked)); /* still full */
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 2, \"op\": \"stats\"}");
  assert_int_equal(rg_test_uint(&r.data, "edges.mailed"), (uint64_t)acked * FILL_EDGES);
  assert_true(rg_test_uint(&r.data, "errors.storage_full") >= 2);
  assert_int_equal(rg_test_uint(&r.data, "store.map_size"), 1u << 20);
  msgpack_unpacked_destroy(&r);
  assert_senders_kept(c, acked, 1); /* lookups go on, nothing acknowledged is lost */

  /* Forgetting the victims deletes every edge; a few at a time, as an operator would. */
  for (int v = 0; v < VICTIMS; v += 10) {
    char actors[1024];
    size_t len = 0;
    for (int i = v; i < v + 10; i++)
      len += (size_t)snprintf(actors + len, sizeof actors - len, "%s\"address:v%d@victim.example\"",
                              i > v ? "," : "", i);
    rg_test_call(c, &r, "{\"id\": 3, \"op\": \"forget\", \"actors\": [%s]}", actors);
    char code[64];
    if (rg_test_error_code(&r.data, code, sizeof code)) fail_msg("forget: %s", code);
    assert_int_equal(rg_test_uint(&r.data, "forgotten"), 10);
    msgpack_unpacked_destroy(&r);
  }
  rg_test_call(c, &r, "{\"id\": 4, \"op\": \"stats\"}");
  assert_int_equal(rg_test_uint(&r.data, "edges.mailed"), 0);
  msgpack_unpacked_destroy(&r);

  /* The freed pages take new writes: at least half as many batches as before fit. */
  int again = 0;
  while (again < acked / 2 && ingest_batch(c, acked + again)) again++;
  assert_int_equal(again, acked / 2 > 0 ? acked / 2 : 0);
  assert_senders_kept(c, acked, 0);
  rg_client_close(c);
  assert_int_equal(rg_test_server_stop(&f->srv), 0);
}

/* Starts repgraphd on the fixture's store expecting it to refuse: it must exit non-zero
 * within 10 s and say `why` on stderr. */
static void assert_start_refused(fixture_t *f, const char *why) {
  char log[320], sock[320];
  snprintf(log, sizeof log, "%s/refused.log", f->dir);
  snprintf(sock, sizeof sock, "%s/refused.sock", f->dir);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 2);
    execl(RG_BINARY_DIR "/repgraphd", "repgraphd", "--data", f->store, "--port", "0", "--unix",
          sock, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  for (int waited = 0; waitpid(pid, &status, WNOHANG) != pid; waited += 10) {
    if (waited > 10000) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      fail_msg("repgraphd started on a store it should refuse");
    }
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL); /* polling a child's exit, bounded */
  }
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  size_t n;
  char *text = (char *)rg_test_read_file(log, &n);
  text = realloc(text, n + 1);
  text[n] = '\0';
  if (!strstr(text, why)) fail_msg("expected \"%s\" in repgraphd's message: %s", why, text);
  free(text);
}

/* Reads the store's data.mdb. */
static uint8_t *data_file(fixture_t *f, size_t *len) {
  char path[400];
  snprintf(path, sizeof path, "%s/data.mdb", f->store);
  return rg_test_read_file(path, len);
}

static void assert_data_file_is(fixture_t *f, const uint8_t *before, size_t len) {
  size_t n;
  uint8_t *after = data_file(f, &n);
  assert_int_equal(n, len);
  assert_memory_equal(after, before, len);
  free(after);
}

static void test_store_of_newer_schema_is_refused_and_left_untouched(void **state) {
  fixture_t *f = *state;
  rg_test_server_start(&f->srv, f->dir, NULL);
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  rg_test_call(c, &r,
               "{\"id\": 1, \"op\": \"label\", \"labels\": [{\"actor\": \"ip:192.0.2.9\", "
               "\"verdict\": \"bad\"}]}");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 1);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  assert_int_equal(rg_test_server_stop(&f->srv), 0);

  rg_test_set_schema_version(f->store, RG_STORE_SCHEMA_VERSION + 1);
  size_t len;
  uint8_t *before = data_file(f, &len);
  char why[160];
  snprintf(why, sizeof why, "store has schema version %d but this repgraphd reads version %d",
           RG_STORE_SCHEMA_VERSION + 1, RG_STORE_SCHEMA_VERSION);
  assert_start_refused(f, why);
  assert_data_file_is(f, before, len);
  free(before);

  /* Nothing was lost: with the version back, the label is there. */
  rg_test_set_schema_version(f->store, RG_STORE_SCHEMA_VERSION);
  rg_test_server_start(&f->srv, f->dir, NULL);
  c = rg_test_connect(&f->srv);
  rg_test_call(c, &r, "{\"id\": 2, \"op\": \"lookup\", \"actors\": [\"ip:192.0.2.9\"]}");
  assert_true(rg_test_str_is(&r.data, "results.0.label.verdict", "bad"));
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  assert_int_equal(rg_test_server_stop(&f->srv), 0);
}

static void test_corrupt_data_file_is_refused_and_left_untouched(void **state) {
  fixture_t *f = *state;
  assert_int_equal(mkdir(f->store, 0750), 0);
  char path[400];
  snprintf(path, sizeof path, "%s/data.mdb", f->store);
  static uint8_t garbage[1 << 16];
  uint32_t x = 2463534242u; /* fixed-seed pseudo-random bytes */
  for (size_t i = 0; i < sizeof garbage; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    garbage[i] = (uint8_t)x;
  }
  FILE *out = fopen(path, "wb");
  assert_non_null(out);
  assert_int_equal(fwrite(garbage, 1, sizeof garbage, out), sizeof garbage);
  assert_int_equal(fclose(out), 0);
  assert_start_refused(f, "data.mdb is not an LMDB file of this version; refusing to touch it");
  assert_data_file_is(f, garbage, sizeof garbage);
}

static void test_foreign_lmdb_environment_is_refused_and_left_untouched(void **state) {
  fixture_t *f = *state;
  assert_int_equal(mkdir(f->store, 0750), 0);
  rg_test_make_foreign_lmdb(f->store);
  size_t len;
  uint8_t *before = data_file(f, &len);
  assert_start_refused(f, "data.mdb holds another program's databases; refusing to touch it");
  assert_data_file_is(f, before, len);
  free(before);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_full_store_serves_reads_and_resumes_after_forget, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_store_of_newer_schema_is_refused_and_left_untouched,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_data_file_is_refused_and_left_untouched, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_foreign_lmdb_environment_is_refused_and_left_untouched,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
