/* test_pseudonymise.c — store.pseudonymise end to end, against the real repgraphd: the same
 * traffic (addresses, domains, IPv4 and IPv6 addresses, HELO names, an rDNS edge, labels)
 * goes to a server keeping identifiers in the clear and to a pseudonymised one; the
 * pseudonymised store file and its online backup hold none of them (the plain ones hold
 * them all: the search can fail), scores, clusters and check verdicts are the same, analysts see pseudonyms and may
 * look one up, and a store is refused under the other mode or another key. */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "testutil.h"

#define KEY_A  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B  "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f"
#define N_SPAM 6
#define N_GOOD 8
#define N_VICT 20

/* Every identifier the traffic names, in the normalised form the store would keep. */
static const char *const PLAINTEXT[] = {"s0@spam-sender.test",
                                        "s5@spam-sender.test",
                                        "h0@good-corp.example",
                                        "h7@good-corp.example",
                                        "mixed.case@example.org",
                                        "v0@victims.example",
                                        "v19@victims.example",
                                        "spam-sender.test",
                                        "good-corp.example",
                                        "victims.example",
                                        "example.org",
                                        "203.0.113.1",
                                        "203.0.113.6",
                                        "203.0.113.0/24",
                                        "198.51.100.20",
                                        "198.51.100.0/24",
                                        "2001:db8::42",
                                        "2001:db8::/64",
                                        "bulk.spam-sender.test",
                                        "mx.good-corp.example",
                                        "rdns.spam-host.test"};
#define N_PLAINTEXT (sizeof PLAINTEXT / sizeof PLAINTEXT[0])

/* Actors whose scores the two stores must agree on. */
static const char *const COMPARED[] = {"address:s0@spam-sender.test",
                                       "address:s3@spam-sender.test",
                                       "address:h0@good-corp.example",
                                       "address:h5@good-corp.example",
                                       "address:v4@victims.example",
                                       "address:Mixed.Case@Example.ORG",
                                       "ip:203.0.113.2",
                                       "net:203.0.113.0/24",
                                       "ip:2001:db8::42",
                                       "domain:spam-sender.test",
                                       "domain:good-corp.example",
                                       "domain:bulk.spam-sender.test",
                                       "domain:rdns.spam-host.test"};
#define N_COMPARED (sizeof COMPARED / sizeof COMPARED[0])

typedef struct {
  char *dir;
  char key_a[600], key_b[600], plain_dir[600], pseudo_dir[600];
  rg_test_server_t plain, pseudo;
  rg_client_t *pc, *qc; /* plain, pseudonymised */
} fixture_t;

static void start_pseudonymised(fixture_t *f, const char *key_path) {
  char key_opt[700];
  snprintf(key_opt, sizeof key_opt, "store.pseudonym_key_file=%s", key_path);
  const char *extra[] = {
      "--set", "recompute.interval=0", "--set", "store.pseudonymise=1", "--set", key_opt, NULL};
  rg_test_server_start(&f->pseudo, f->pseudo_dir, extra);
  f->qc = rg_test_connect(&f->pseudo);
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = rg_test_mkdtemp();
  snprintf(f->key_a, sizeof f->key_a, "%s/a.key", f->dir);
  snprintf(f->key_b, sizeof f->key_b, "%s/b.key", f->dir);
  snprintf(f->plain_dir, sizeof f->plain_dir, "%s/plain", f->dir);
  snprintf(f->pseudo_dir, sizeof f->pseudo_dir, "%s/pseudo", f->dir);
  rg_test_write_file(f->key_a, 0600, KEY_A "\n");
  rg_test_write_file(f->key_b, 0600, KEY_B "\n");
  assert_int_equal(mkdir(f->plain_dir, 0750), 0);
  assert_int_equal(mkdir(f->pseudo_dir, 0750), 0);
  const char *extra[] = {"--set", "recompute.interval=0", NULL};
  rg_test_server_start(&f->plain, f->plain_dir, extra);
  f->pc = rg_test_connect(&f->plain);
  start_pseudonymised(f, f->key_a);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_client_close(f->pc);
  rg_client_close(f->qc);
  if (f->pc) assert_int_equal(rg_test_server_stop(&f->plain), 0);
  if (f->qc) assert_int_equal(rg_test_server_stop(&f->pseudo), 0);
  rg_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static void stop_both(fixture_t *f) {
  rg_client_close(f->pc);
  rg_client_close(f->qc);
  f->pc = f->qc = NULL;
  assert_int_equal(rg_test_server_stop(&f->plain), 0);
  assert_int_equal(rg_test_server_stop(&f->pseudo), 0);
}

/* The traffic: spammers on a snowshoe /24 with a bulk HELO mailing victims, a company on
 * IPv4 and IPv6 mailing within itself, one bounce, an rDNS edge and two labels. */
static void send_traffic(rg_client_t *c) {
  char *json = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&json, &len);
  long long ts = (long long)time(NULL) - 2 * 86400;
  fprintf(m, "{\"id\": 1, \"op\": \"ingest\", \"observations\": [");
  int n = 0;
  for (int s = 0; s < N_SPAM; s++)
    for (int k = 0; k < 4; k++, n++) {
      fprintf(m,
              "%s{\"ts\": %lld, \"sender\": \"s%d@spam-sender.test\", \"client_ip\": "
              "\"203.0.113.%d\", \"helo\": \"bulk.spam-sender.test\", \"recipients\": [",
              n ? "," : "", ts + n, s, s + 1);
      for (int v = 0; v < 5; v++)
        fprintf(m, "%s\"v%d@victims.example\"", v ? "," : "", (s * 7 + k * 5 + v) % N_VICT);
      fprintf(m, "]}");
    }
  for (int h = 0; h < N_GOOD; h++)
    for (int k = 0; k < 4; k++, n++)
      fprintf(m,
              ",{\"ts\": %lld, \"sender\": \"h%d@good-corp.example\", \"client_ip\": \"%s\", "
              "\"helo\": \"mx.good-corp.example\", \"recipients\": [\"h%d@good-corp.example\", "
              "\"Mixed.Case@Example.ORG\"]}",
              ts + 100 + n, h, h % 2 ? "2001:DB8::42" : "198.51.100.20", (h + k + 1) % N_GOOD);
  fprintf(m,
          ",{\"ts\": %lld, \"sender\": \"<>\", \"client_ip\": \"198.51.100.20\", \"helo\": "
          "\"[192.0.2.9]\", \"recipients\": [\"s0@spam-sender.test\"]}",
          ts + 500);
  fprintf(m,
          "], \"edges\": [{\"src\": \"ip:203.0.113.1\", \"dst\": \"domain:rdns.spam-host.test\", "
          "\"kind\": \"rdns\", \"ts\": %lld}]}",
          ts + 501);
  fclose(m);
  msgpack_unpacked r;
  rg_test_call(c, &r, "%s", json);
  assert_int_equal(rg_test_uint(&r.data, "rejected_count"), 0);
  assert_int_equal(rg_test_uint(&r.data, "accepted"), N_SPAM * 4 + N_GOOD * 4 + 2);
  msgpack_unpacked_destroy(&r);
  free(json);
  rg_test_call(c, &r,
               "{\"id\": 2, \"op\": \"label\", \"labels\": [{\"actor\": "
               "\"address:s0@spam-sender.test\", \"verdict\": \"bad\", \"source\": \"spam_trap\", "
               "\"note\": \"trap hit\"}, {\"actor\": \"address:h0@good-corp.example\", "
               "\"verdict\": \"good\"}]}");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 2);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"recompute\", \"wait\": true}");
  assert_true(rg_test_str_is(&r.data, "state", "done"));
  msgpack_unpacked_destroy(&r);
}

static double num(const msgpack_object *o, const char *path) {
  const msgpack_object *v = rg_test_get(o, path);
  if (!v) fail_msg("no %s", path);
  if (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32) return v->via.f64;
  if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (double)v->via.u64;
  fail_msg("%s is not a number", path);
  return 0;
}

/* A string field copied into buf ("" when nil or absent). */
static const char *str(const msgpack_object *o, const char *path, char *buf, size_t cap) {
  const msgpack_object *v = rg_test_get(o, path);
  buf[0] = '\0';
  if (v && v->type == MSGPACK_OBJECT_STR)
    snprintf(buf, cap, "%.*s", (int)v->via.str.size, v->via.str.ptr);
  return buf;
}

static void lookup(rg_client_t *c, const char *actor, msgpack_unpacked *r) {
  rg_test_call(c, r, "{\"id\": 4, \"op\": \"lookup\", \"actors\": [\"%s\"]}", actor);
  assert_non_null(rg_test_get(&r->data, "results.0.known"));
  assert_true(rg_test_get(&r->data, "results.0.known")->via.boolean);
}

/* Searches a file under the server's directory (store/data.mdb, repgraphd.log) for each
 * plaintext identifier, ignoring case; returns how many it finds. */
static size_t count_plaintext(const char *server_dir, const char *file, int verbose) {
  char path[700];
  snprintf(path, sizeof path, "%s/%s", server_dir, file);
  size_t len;
  uint8_t *bytes = rg_test_read_file(path, &len);
  for (size_t i = 0; i < len; i++) bytes[i] = (uint8_t)tolower(bytes[i]);
  size_t found = 0;
  for (size_t i = 0; i < N_PLAINTEXT; i++)
    if (memmem(bytes, len, PLAINTEXT[i], strlen(PLAINTEXT[i]))) {
      found++;
      if (verbose) printf("  %s: '%s' is in it (%zu bytes)\n", path, PLAINTEXT[i], len);
    }
  free(bytes);
  return found;
}

static void test_pseudonymised_store_file_holds_none_of_the_identifiers(void **state) {
  fixture_t *f = *state;
  send_traffic(f->pc);
  send_traffic(f->qc);
  msgpack_unpacked r;
  char code[64];
  rg_client_t *clients[2] = {f->pc, f->qc};
  const char *dirs[2] = {f->plain_dir, f->pseudo_dir};
  for (int i = 0; i < 2; i++) { /* an online backup of each, beside its store */
    rg_test_call(clients[i], &r, "{\"id\": 9, \"op\": \"backup\", \"path\": \"%s/backup\"}",
                 dirs[i]);
    assert_string_equal(rg_test_code_of(&r, code), "(no error)");
    msgpack_unpacked_destroy(&r);
  }
  stop_both(f);
  /* rg_test_server_start's store is <dir>/store, its log <dir>/repgraphd.log */
  assert_int_equal(count_plaintext(f->plain_dir, "store/data.mdb", 0), N_PLAINTEXT);
  assert_int_equal(count_plaintext(f->plain_dir, "backup/data.mdb", 0), N_PLAINTEXT);
  assert_int_equal(count_plaintext(f->pseudo_dir, "store/data.mdb", 1), 0);
  assert_int_equal(count_plaintext(f->pseudo_dir, "backup/data.mdb", 1), 0);
  assert_int_equal(count_plaintext(f->pseudo_dir, "backup/manifest.json", 1), 0);
  assert_int_equal(count_plaintext(f->pseudo_dir, "repgraphd.log", 1), 0);
}

static void test_pseudonymised_scores_clusters_and_verdicts_are_unchanged(void **state) {
  fixture_t *f = *state;
  send_traffic(f->pc);
  send_traffic(f->qc);
  for (size_t i = 0; i < N_COMPARED; i++) {
    msgpack_unpacked a, b;
    lookup(f->pc, COMPARED[i], &a);
    lookup(f->qc, COMPARED[i], &b);
    static const char *const fields[] = {"results.0.messages", "results.0.reputation",
                                         "results.0.anomaly", "results.0.cluster",
                                         "results.0.cluster_suspicion"};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
      if (fabs(num(&a.data, fields[k]) - num(&b.data, fields[k])) > 1e-12)
        fail_msg("%s: %s is %g in the clear, %g pseudonymised", COMPARED[i], fields[k],
                 num(&a.data, fields[k]), num(&b.data, fields[k]));
    char ba[32], bb[32];
    assert_string_equal(str(&a.data, "results.0.band", ba, sizeof ba),
                        str(&b.data, "results.0.band", bb, sizeof bb));
    msgpack_unpacked_destroy(&a);
    msgpack_unpacked_destroy(&b);
  }
  /* check derives the sender's domain and the client's net at the door, before hashing. */
  const char *check =
      "{\"id\": 5, \"op\": \"check\", \"sender\": \"s2@spam-sender.test\", \"client_ip\": "
      "\"203.0.113.9\", \"helo\": \"bulk.spam-sender.test\", \"recipients\": "
      "[\"v1@victims.example\"]}";
  msgpack_unpacked a, b;
  rg_test_call(f->pc, &a, "%s", check);
  rg_test_call(f->qc, &b, "%s", check);
  char x[64], y[64];
  assert_string_equal(str(&a.data, "would_be", x, sizeof x), str(&b.data, "would_be", y, sizeof y));
  assert_string_equal(str(&a.data, "reason", x, sizeof x), str(&b.data, "reason", y, sizeof y));
  assert_true(fabs(num(&a.data, "score") - num(&b.data, "score")) < 1e-12);
  for (int i = 0; i < 5; i++) { /* sender, sender_domain, client_ip, client_net, helo */
    char path[32];
    snprintf(path, sizeof path, "actors.%d.known", i);
    assert_true(rg_test_get(&b.data, path)->via.boolean == rg_test_get(&a.data, path)->via.boolean);
  }
  assert_true(rg_test_get(&b.data, "actors.1.known")->via.boolean); /* the domain */
  assert_true(rg_test_get(&b.data, "actors.3.known")->via.boolean); /* the /24 */
  msgpack_unpacked_destroy(&a);
  msgpack_unpacked_destroy(&b);
}

static void test_pseudonymised_analysts_see_pseudonyms_and_can_look_one_up(void **state) {
  fixture_t *f = *state;
  send_traffic(f->qc);
  msgpack_unpacked r;
  lookup(f->qc, "address:S0@spam-sender.test", &r);
  char pseudonym[128], text[128];
  str(&r.data, "results.0.pseudonym", pseudonym, sizeof pseudonym);
  assert_int_equal(strlen(pseudonym), strlen("address:") + 33);
  assert_memory_equal(pseudonym, "address:~", 9);
  assert_string_equal(str(&r.data, "results.0.actor", text, sizeof text),
                      "address:s0@spam-sender.test"); /* as asked */
  uint64_t messages = rg_test_uint(&r.data, "results.0.messages");
  msgpack_unpacked_destroy(&r);

  /* The worst addresses are listed by pseudonym; the spam trap's among them. */
  rg_test_call(f->qc, &r, "{\"id\": 6, \"op\": \"top\", \"type\": \"address\", \"limit\": 50}");
  const msgpack_object *actors = rg_test_get(&r.data, "actors");
  assert_non_null(actors);
  bool listed = false;
  for (uint32_t i = 0; i < actors->via.array.size; i++) {
    str(&actors->via.array.ptr[i], "actor", text, sizeof text);
    if (!strstr(text, ":~") && strcmp(text, "address:<>") != 0) fail_msg("top shows %s", text);
    listed = listed || strcmp(text, pseudonym) == 0;
  }
  assert_true(listed);
  msgpack_unpacked_destroy(&r);

  /* An export (the command-line client's JSON) names nodes and edges by pseudonym only. */
  char cmd[1200], out_path[700], *out;
  snprintf(out_path, sizeof out_path, "%s/ego.json", f->dir);
  snprintf(cmd, sizeof cmd,
           "%s/repgraph -p %u export -a address:s0@spam-sender.test -d 2 -f json "
           "-o %s 2>&1",
           RG_BINARY_DIR, f->pseudo.port, out_path);
  int rc = rg_test_run(cmd, &out);
  if (rc) fail_msg("%s: exit %d: %s", cmd, rc, out);
  free(out);
  size_t len;
  char *json = (char *)rg_test_read_file(out_path, &len);
  json = realloc(json, len + 1);
  json[len] = '\0';
  assert_non_null(strstr(json, pseudonym));
  for (size_t i = 0; i < N_PLAINTEXT; i++)
    if (strstr(json, PLAINTEXT[i])) fail_msg("the export shows %s", PLAINTEXT[i]);
  free(json);

  /* Pasted back, the pseudonym finds the same actor; labels and edges may name it too. */
  lookup(f->qc, pseudonym, &r);
  assert_int_equal(rg_test_uint(&r.data, "results.0.messages"), messages);
  assert_string_equal(str(&r.data, "results.0.actor", text, sizeof text), pseudonym);
  assert_string_equal(str(&r.data, "results.0.pseudonym", text, sizeof text), pseudonym);
  assert_true(rg_test_str_is(&r.data, "results.0.label.verdict", "bad"));
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->qc, &r, "{\"id\": 7, \"op\": \"lookup\", \"actors\": [\"%s\"]}", pseudonym);
  msgpack_unpacked_destroy(&r);
  /* A filter's observation is plaintext: a pseudonym there is refused. */
  rg_test_call(f->qc, &r,
               "{\"id\": 8, \"op\": \"ingest\", \"observations\": [{\"sender\": \"%s\", "
               "\"client_ip\": \"192.0.2.1\", \"recipients\": []}]}",
               pseudonym + strlen("address:"));
  assert_int_equal(rg_test_uint(&r.data, "rejected_count"), 1);
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->qc, &r, "{\"id\": 10, \"op\": \"stats\"}");
  assert_true(rg_test_get(&r.data, "store.pseudonymised")->via.boolean);
  msgpack_unpacked_destroy(&r);
  rg_test_call(f->pc, &r, "{\"id\": 10, \"op\": \"stats\"}");
  assert_false(rg_test_get(&r.data, "store.pseudonymised")->via.boolean);
  msgpack_unpacked_destroy(&r);
  /* The store in the clear knows no pseudonyms, and says so. */
  rg_test_call(f->pc, &r, "{\"id\": 9, \"op\": \"lookup\", \"actors\": [\"%s\"]}", pseudonym);
  str(&r.data, "results.0.error.message", text, sizeof text);
  assert_non_null(strstr(text, "pseudonym"));
  assert_null(rg_test_get(&r.data, "results.0.known"));
  msgpack_unpacked_destroy(&r);
}

/* Runs repgraphd on dir with `args` to completion (it is expected to refuse the store). */
static int run_server_expecting_exit(const char *dir, const char *args, char **out) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "%s/repgraphd --data %s/store --port %u --unix none %s 2>&1",
           RG_BINARY_DIR, dir, rg_test_free_port(), args);
  return rg_test_run(cmd, out);
}

static void test_pseudonymised_store_refuses_another_mode_or_key(void **state) {
  fixture_t *f = *state;
  send_traffic(f->pc);
  send_traffic(f->qc);
  stop_both(f);
  char args[1400], *out;
  /* Opened in the clear. */
  assert_int_not_equal(run_server_expecting_exit(f->pseudo_dir, "", &out), 0);
  if (!strstr(out, "store.pseudonymise = 0, but") || !strstr(out, "pseudonymised identifiers"))
    fail_msg("%s", out);
  free(out);
  /* With another key: named by fingerprint, never by value. */
  snprintf(args, sizeof args, "--set store.pseudonymise=1 --set store.pseudonym_key_file=%s",
           f->key_b);
  assert_int_not_equal(run_server_expecting_exit(f->pseudo_dir, args, &out), 0);
  if (!strstr(out, "store.pseudonym_key_file: this key (fingerprint") || strstr(out, "f0e1d2"))
    fail_msg("%s", out);
  free(out);
  /* A store kept in the clear is not pseudonymised afterwards. */
  assert_int_not_equal(run_server_expecting_exit(f->plain_dir, args, &out), 0);
  if (!strstr(out, "store.pseudonymise = 1, but") || !strstr(out, "in the clear"))
    fail_msg("%s", out);
  free(out);
  /* The option without its key, and a key others may read. */
  assert_int_not_equal(run_server_expecting_exit(f->pseudo_dir, "--set store.pseudonymise=1", &out),
                       0);
  assert_non_null(strstr(out, "needs store.pseudonym_key_file"));
  free(out);
  assert_int_equal(chmod(f->key_a, 0644), 0);
  snprintf(args, sizeof args, "--set store.pseudonymise=1 --set store.pseudonym_key_file=%s",
           f->key_a);
  assert_int_not_equal(run_server_expecting_exit(f->pseudo_dir, args, &out), 0);
  assert_non_null(strstr(out, "others may read"));
  free(out);
  /* The right key opens it again, and the actors are there. */
  assert_int_equal(chmod(f->key_a, 0600), 0);
  start_pseudonymised(f, f->key_a);
  msgpack_unpacked r;
  lookup(f->qc, "address:h3@good-corp.example", &r);
  msgpack_unpacked_destroy(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_pseudonymised_store_file_holds_none_of_the_identifiers,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_pseudonymised_scores_clusters_and_verdicts_are_unchanged,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_pseudonymised_analysts_see_pseudonyms_and_can_look_one_up, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pseudonymised_store_refuses_another_mode_or_key, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
