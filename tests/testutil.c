/* testutil.c — see testutil.h. Test processes only. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "repgraph/err.h"
#include "repgraph/proto.h"
#include "repgraph/transcode.h"

char *rg_test_mkdtemp(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[512];
  snprintf(tmpl, sizeof tmpl, "%s/repgraph-test-XXXXXX", base && *base ? base : "/tmp");
  char *dir = mkdtemp(tmpl);
  assert_non_null(dir);
  return strdup(dir);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

void rg_test_rmtree(const char *path) {
  nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

unsigned rg_test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd);
  return ntohs(sa.sin_port);
}

uint64_t rg_test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void rg_test_write_file(const char *path, mode_t mode, const char *text) {
  FILE *out = fopen(path, "w");
  assert_non_null(out);
  assert_true(fputs(text, out) >= 0);
  assert_int_equal(fclose(out), 0);
  assert_int_equal(chmod(path, mode), 0);
}

/* Waits up to `ms` for the child to exit; returns its status or -1 if it did not. */
static int wait_exit(pid_t pid, int ms) {
  uint64_t deadline = rg_test_now_ms() + (uint64_t)ms;
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (rg_test_now_ms() > deadline) return -1;
    struct timespec ts = {0, 5 * 1000000};
    nanosleep(&ts, NULL); /* polling a child's exit, bounded by the deadline */
  }
}

void rg_test_server_start(rg_test_server_t *s, const char *dir, const char *const *extra) {
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  snprintf(s->sock, sizeof s->sock, "%s/repgraphd.sock", dir);
  snprintf(s->log, sizeof s->log, "%s/repgraphd.log", dir);
  s->port = rg_test_free_port();
  char port[16], data[300];
  snprintf(port, sizeof port, "%u", s->port);
  snprintf(data, sizeof data, "%s/store", dir);
  const char *argv[64] = {RG_BINARY_DIR "/repgraphd",
                          "--data",
                          data,
                          "--port",
                          port,
                          "--unix",
                          s->sock,
                          "--log-level",
                          "info"};
  size_t n = 9;
  for (size_t i = 0; extra && extra[i] && n < 62; i++) argv[n++] = extra[i];
  argv[n] = NULL;
  s->pid = fork();
  assert_true(s->pid >= 0);
  if (s->pid == 0) {
    int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) dup2(fd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  /* Ready when the TCP port accepts; bounded, and fails fast if the server exits. */
  uint64_t deadline = rg_test_now_ms() + 10000;
  for (;;) {
    rg_client_t *c;
    char err[128];
    if (rg_client_connect("127.0.0.1", s->port, NULL, 1000, &c, err, sizeof err) == RG_OK) {
      rg_client_close(c);
      return;
    }
    int status;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      fprintf(stderr, "repgraphd exited during start-up; see %s\n", s->log);
      fail();
    }
    if (rg_test_now_ms() > deadline) {
      kill(s->pid, SIGKILL);
      fail_msg("repgraphd did not accept connections within 10 s");
    }
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
}

int rg_test_server_stop(rg_test_server_t *s) {
  kill(s->pid, SIGTERM);
  int status = wait_exit(s->pid, 30000);
  if (status < 0) {
    kill(s->pid, SIGKILL);
    wait_exit(s->pid, 5000);
    fail_msg("repgraphd did not stop within 30 s of SIGTERM");
  }
  return status;
}

void rg_test_teardown_server(rg_test_server_t *s, char *dir) {
  if (s->pid) assert_int_equal(rg_test_server_stop(s), 0);
  rg_test_rmtree(dir);
  free(dir);
}

int rg_test_fixture_start(void **state, const char *const *extra) {
  rg_test_fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->dir = rg_test_mkdtemp();
  rg_test_server_start(&f->srv, f->dir, extra);
  *state = f;
  return 0;
}

int rg_test_fixture_stop(void **state) {
  rg_test_fixture_t *f = *state;
  rg_test_teardown_server(&f->srv, f->dir);
  free(f);
  return 0;
}

int rg_test_run(const char *cmd, char **out) {
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t len = 0;
  FILE *m = open_memstream(out, &len);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) fwrite(buf, 1, n, m);
  fclose(m);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void rg_test_server_kill(rg_test_server_t *s) {
  if (s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
  }
}

rg_client_t *rg_test_connect(const rg_test_server_t *s) {
  rg_client_t *c;
  char err[128];
  const char *ms = getenv("RG_TEST_RECV_TIMEOUT_MS"); /* slow builds (TSan) raise it */
  int timeout = ms && *ms ? atoi(ms) : 5000;
  int rc = rg_client_connect("127.0.0.1", s->port, NULL, timeout, &c, err, sizeof err);
  if (rc) fail_msg("%s", err);
  return c;
}

void rg_test_frame_json(rg_buf_t *frame, const char *fmt, ...) {
  char *text;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&text, fmt, ap);
  va_end(ap);
  assert_true(n >= 0);
  rg_json_t *j;
  char err[200];
  if (rg_json_parse(text, (size_t)n, &j, err, sizeof err))
    fail_msg("bad JSON in test: %s: %s", err, text);
  rg_wr_t w;
  rg_wr_begin(&w, frame);
  rg_json_write_msgpack(j, &w);
  assert_int_equal(rg_wr_end(&w), RG_OK);
  rg_json_free(j);
  free(text);
}

void rg_test_recv(rg_client_t *c, const char *op, msgpack_unpacked *reply) {
  rg_buf_t body;
  rg_buf_init(&body, 0);
  int rc = rg_client_recv(c, &body, 256u << 20);
  if (rc) fail_msg("no reply to %s: %s", op, rg_strerror(rc));
  /* Strings in the decoded object point into the bytes: give them to the zone to keep. */
  msgpack_unpacked_init(reply);
  size_t off = 0;
  char *bytes = (char *)body.data;
  body.data = NULL;
  assert_int_equal(msgpack_unpack_next(reply, bytes, body.len, &off), MSGPACK_UNPACK_SUCCESS);
  assert_true(msgpack_zone_push_finalizer(reply->zone, free, bytes));
  const char *why = rg_test_schema_violation(op, &reply->data);
  if (why) fail_msg("reply to %s breaks schemas/protocol.json: %s", op, why);
  rg_buf_free(&body);
}

void rg_test_call(rg_client_t *c, msgpack_unpacked *reply, const char *fmt, ...) {
  char *text;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&text, fmt, ap);
  va_end(ap);
  assert_true(n >= 0);
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  rg_test_frame_json(&frame, "%s", text);
  json_t *req = json_loads(text, 0, NULL);
  const char *op = json_string_value(json_object_get(req, "op"));
  char opname[32];
  snprintf(opname, sizeof opname, "%s", op ? op : "?");
  json_decref(req);
  free(text);
  assert_int_equal(rg_client_send(c, frame.data, frame.len), RG_OK);
  rg_buf_free(&frame);
  rg_test_recv(c, opname, reply);
}

uint8_t *rg_test_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("%s: %s", path, strerror(errno));
  rg_buf_t b;
  rg_buf_init(&b, 0);
  uint8_t chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    assert_int_equal(rg_buf_append(&b, chunk, n), RG_OK);
  fclose(f);
  *len = b.len;
  return b.data;
}

/* ---- reading replies --------------------------------------------------------------- */

const msgpack_object *rg_test_get(const msgpack_object *o, const char *path) {
  char part[64];
  while (o && *path) {
    size_t n = strcspn(path, ".");
    snprintf(part, sizeof part, "%.*s", (int)n, path);
    path += n + (path[n] == '.');
    if (o->type == MSGPACK_OBJECT_ARRAY) {
      char *end;
      unsigned long i = strtoul(part, &end, 10);
      o = *end == '\0' && i < o->via.array.size ? &o->via.array.ptr[i] : NULL;
      continue;
    }
    const msgpack_object *found = NULL;
    for (uint32_t i = 0; o->type == MSGPACK_OBJECT_MAP && i < o->via.map.size; i++) {
      const msgpack_object *k = &o->via.map.ptr[i].key;
      if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(part) &&
          memcmp(k->via.str.ptr, part, k->via.str.size) == 0)
        found = &o->via.map.ptr[i].val;
    }
    o = found;
  }
  return o;
}

uint64_t rg_test_uint(const msgpack_object *o, const char *path) {
  const msgpack_object *v = rg_test_get(o, path);
  if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    fail_msg("%s: not an unsigned integer", path);
  return v->via.u64;
}

bool rg_test_str_is(const msgpack_object *o, const char *path, const char *s) {
  const msgpack_object *v = rg_test_get(o, path);
  return v && v->type == MSGPACK_OBJECT_STR && v->via.str.size == strlen(s) &&
         memcmp(v->via.str.ptr, s, v->via.str.size) == 0;
}

const char *rg_test_error_code(const msgpack_object *reply, char *buf, size_t cap) {
  const msgpack_object *code = rg_test_get(reply, "error.code");
  if (!code || code->type != MSGPACK_OBJECT_STR) return NULL;
  snprintf(buf, cap, "%.*s", (int)code->via.str.size, code->via.str.ptr);
  return buf;
}

const char *rg_test_code_of(const msgpack_unpacked *r, char *buf) {
  const char *c = rg_test_error_code(&r->data, buf, 64);
  return c ? c : "(no error)";
}

/* ---- schema ------------------------------------------------------------------------ */

static json_t *schema(void) {
  static json_t *doc;
  if (!doc) {
    json_error_t je;
    doc = json_load_file(RG_SOURCE_DIR "/schemas/protocol.json", 0, &je);
    if (!doc) fail_msg("schemas/protocol.json: line %d: %s", je.line, je.text);
  }
  return doc;
}

static char violation[512];

static bool violate(const char *path, const char *what) {
  snprintf(violation, sizeof violation, "%s: %s", path[0] ? path : "reply", what);
  return false;
}

static bool str_in(const msgpack_object *o, json_t *names, bool keys) {
  char s[256];
  snprintf(s, sizeof s, "%.*s", (int)o->via.str.size, o->via.str.ptr);
  if (keys) return json_object_get(names, s) != NULL;
  size_t i;
  json_t *v;
  json_array_foreach(names, i, v) if (strcmp(json_string_value(v), s) == 0) return true;
  return false;
}

static bool check(json_t *spec, const msgpack_object *o, const char *path);

static bool check_map(json_t *spec, const msgpack_object *o, const char *path) {
  json_t *fields = json_object_get(spec, "fields"), *values = json_object_get(spec, "values");
  json_t *optional = json_object_get(spec, "optional");
  char sub[256], key[128];
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    const msgpack_object *k = &o->via.map.ptr[i].key;
    if (k->type != MSGPACK_OBJECT_STR) return violate(path, "non-string key");
    snprintf(key, sizeof key, "%.*s", (int)k->via.str.size, k->via.str.ptr);
    snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
    json_t *fs = fields ? json_object_get(fields, key) : values;
    if (!fs) return violate(sub, "field not declared in the schema");
    if (!check(fs, &o->via.map.ptr[i].val, sub)) return false;
  }
  const char *name;
  json_t *fs;
  json_object_foreach(fields, name, fs) {
    bool opt = false;
    size_t j;
    json_t *v;
    json_array_foreach(optional, j, v) opt |= strcmp(json_string_value(v), name) == 0;
    snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", name);
    if (!opt && !rg_test_get(o, name)) return violate(sub, "required field missing");
  }
  return true;
}

static bool check(json_t *spec, const msgpack_object *o, const char *path) {
  json_t *ref = json_object_get(spec, "ref"), *one_of = json_object_get(spec, "one_of");
  if (ref) spec = json_object_get(json_object_get(schema(), "types"), json_string_value(ref));
  if (!spec) return violate(path, "schema refers to an unknown type");
  if (one_of) {
    size_t i;
    json_t *alt;
    json_array_foreach(one_of, i, alt) if (check(alt, o, path)) return true;
    return violate(path, "matches none of one_of");
  }
  if (o->type == MSGPACK_OBJECT_NIL)
    return json_is_true(json_object_get(spec, "nullable")) ? true
                                                           : violate(path, "nil but not nullable");
  const char *type = json_string_value(json_object_get(spec, "type"));
  if (!type) return violate(path, "schema entry has no type");
  if (strcmp(type, "map") == 0)
    return o->type == MSGPACK_OBJECT_MAP ? check_map(spec, o, path)
                                         : violate(path, "expected a map");
  if (strcmp(type, "array") == 0) {
    if (o->type != MSGPACK_OBJECT_ARRAY) return violate(path, "expected an array");
    char sub[256];
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      snprintf(sub, sizeof sub, "%s.%u", path, i);
      if (!check(json_object_get(spec, "items"), &o->via.array.ptr[i], sub)) return false;
    }
    return true;
  }
  if (strcmp(type, "string") == 0) {
    if (o->type != MSGPACK_OBJECT_STR) return violate(path, "expected a string");
    json_t *en = json_object_get(spec, "enum"), *from = json_object_get(spec, "enum_from");
    if (en && !str_in(o, en, false)) return violate(path, "string not in enum");
    if (from && !str_in(o, json_object_get(schema(), json_string_value(from)), true))
      return violate(path, "string not among the schema's names");
    return true;
  }
  if (strcmp(type, "uint") == 0)
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? true : violate(path, "expected uint");
  if (strcmp(type, "int") == 0)
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER
               ? true
               : violate(path, "expected int");
  if (strcmp(type, "number") == 0)
    return o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32 ||
                   o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                   o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER
               ? true
               : violate(path, "expected a number");
  if (strcmp(type, "bool") == 0)
    return o->type == MSGPACK_OBJECT_BOOLEAN ? true : violate(path, "expected bool");
  return violate(path, "schema has an unknown type");
}

const char *rg_test_schema_violation(const char *op, const msgpack_object *reply) {
  json_t *spec;
  if (rg_test_get(reply, "error")) {
    spec = json_object_get(json_object_get(schema(), "types"), "error_reply");
    return check(spec, reply, "") ? NULL : violation;
  }
  json_t *ops = json_object_get(schema(), "ops");
  spec = json_object_get(json_object_get(ops, op), "reply");
  if (!spec) return "op not in the schema";
  /* Every reply also carries the request id (each alternative of a one_of reply). */
  json_t *with_id = json_deep_copy(spec), *alts = json_object_get(with_id, "one_of"), *alt;
  size_t i;
  if (!alts) alts = json_pack("[O]", with_id);
  else json_incref(alts);
  json_array_foreach(alts, i, alt)
    json_object_set_new(json_object_get(alt, "fields"), "id",
                        json_pack("{s:s, s:b}", "type", "uint", "nullable", 1));
  json_decref(alts);
  bool ok = check(with_id, reply, "");
  json_decref(with_id);
  return ok ? NULL : violation;
}

size_t rg_test_schema_ops(const char **names, size_t cap) {
  size_t n = 0;
  const char *name;
  json_t *v;
  json_object_foreach(json_object_get(schema(), "ops"), name, v) if (n < cap) names[n++] = name;
  return n;
}

bool rg_test_schema_has_error(const char *code) {
  return json_object_get(json_object_get(schema(), "errors"), code) != NULL;
}

const char *rg_test_schema_op_role(const char *op) {
  json_t *spec = json_object_get(json_object_get(schema(), "ops"), op);
  return json_string_value(json_object_get(spec, "role"));
}
