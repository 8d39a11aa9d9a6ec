/* test_server.c — limits, hostile clients and access control of server.c, against the real
 * repgraphd on a temporary store and a free port. Memory is read from the server's
 * /proc/PID/status (VmHWM, the peak resident set) before and after each hostile client;
 * the bounds asserted follow from the configured limits, not from timing. Under
 * AddressSanitizer (shadow memory, quarantine) the numbers are printed but not asserted. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define MEMORY_ASSERTED false
#else
#define MEMORY_ASSERTED true
#endif

#define KiB         1024u
#define MiB         (1024u * 1024u)
#define READ_CHUNK  (64 * KiB) /* server.c: bytes asked of the kernel per read */
#define SLACK       (8 * MiB)  /* allocator, LMDB pages, msgpack zones, logging */
#define WAIT_MS     15000      /* bound on waiting for the server to act */
#define READ_TOKEN  "read-token-4f1c2a9e77d0b35e"
#define WRITE_TOKEN "write-token-93be01c4d7a2f866"
#define ADMIN_TOKEN "admin-token-0a7d55e1c9b24f13"

typedef struct {
  char *dir;
  char keys[512];
  rg_test_server_t srv;
  uint64_t hwm_start_kib;
} fixture_t;

/* ---- helpers ----------------------------------------------------------------------- */

/* A field of /proc/PID/status in KiB ("VmHWM", "VmRSS"). */
static uint64_t proc_kib(pid_t pid, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  uint64_t v = 0;
  size_t n = strlen(field);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') v = strtoull(line + n + 1, NULL, 10);
  fclose(f);
  assert_true(v > 0);
  return v;
}

/* Prints the server's peak memory growth since start and asserts it stays under `bound`
 * bytes (not under sanitizers). */
static void assert_peak_growth(fixture_t *f, const char *what, uint64_t bound) {
  uint64_t hwm = proc_kib(f->srv.pid, "VmHWM"), rss = proc_kib(f->srv.pid, "VmRSS");
  uint64_t growth = (hwm - f->hwm_start_kib) * KiB;
  printf(
      "%s: server VmHWM %.1f MiB (from %.1f MiB at start: +%.1f MiB), VmRSS now %.1f MiB;"
      " bound from the limits +%.1f MiB%s\n",
      what, hwm / 1024.0, f->hwm_start_kib / 1024.0, growth / (double)MiB, rss / 1024.0,
      bound / (double)MiB, MEMORY_ASSERTED ? "" : " (not asserted under sanitizers)");
  if (MEMORY_ASSERTED) assert_true(growth <= bound);
}

static void write_keys(fixture_t *f, mode_t mode) {
  snprintf(f->keys, sizeof f->keys, "%s/keys", f->dir);
  rg_test_write_file(f->keys, mode,
                     "# name role token\nmilter read " READ_TOKEN "\nfeeder write " WRITE_TOKEN
                     "\nops admin " ADMIN_TOKEN "\n");
}

static fixture_t *fixture_new(void) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = rg_test_mkdtemp();
  write_keys(f, 0600);
  return f;
}

static void start(fixture_t *f, const char *const *extra) {
  rg_test_server_start(&f->srv, f->dir, extra);
  f->hwm_start_kib = proc_kib(f->srv.pid, "VmHWM");
}

/* A fixture with the server started with `extra` arguments. */
static int setup_with(void **state, const char *const *extra) {
  fixture_t *f = fixture_new();
  start(f, extra);
  *state = f;
  return 0;
}

static int setup_open(void **state) {
  /* no connection is idle long enough to give way: past the limit, new ones are refused */
  static const char *const extra[] = {"--set", "limits.max_connections=32", "--set",
                                      "limits.evict_idle=1h", NULL};
  return setup_with(state, extra);
}

static int setup_auth(void **state) {
  fixture_t *f = fixture_new();
  char opt[600];
  snprintf(opt, sizeof opt, "auth.key_file=%s", f->keys);
  const char *const extra[] = {"--set", opt, "--set", "auth.timeout=2s", NULL};
  start(f, extra);
  *state = f;
  return 0;
}

static int setup_bare(void **state) {
  *state = fixture_new();
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_test_teardown_server(&f->srv, f->dir);
  free(f);
  return 0;
}

/* Sends a request and asserts the error code of its reply ("(no error)" for success). */
static void expect_code(rg_client_t *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect_code(rg_client_t *c, const char *code, const char *fmt, ...) {
  char *text;
  va_list ap;
  va_start(ap, fmt);
  assert_true(vasprintf(&text, fmt, ap) >= 0);
  va_end(ap);
  msgpack_unpacked r;
  rg_test_call(c, &r, "%s", text);
  char buf[64];
  if (strcmp(rg_test_code_of(&r, buf), code) != 0) fail_msg("%s: got %s, want %s", text, buf, code);
  msgpack_unpacked_destroy(&r);
  free(text);
}

/* Reads until the server closes the connection (EOF or reset), at most WAIT_MS. */
static bool closed_by_server(int fd) {
  uint64_t deadline = rg_test_now_ms() + WAIT_MS;
  static char scratch[64 * 1024];
  while (rg_test_now_ms() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)(deadline - rg_test_now_ms())) <= 0) continue;
    ssize_t n = recv(fd, scratch, sizeof scratch, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
  }
  return false;
}

/* Receives one reply, asserts its error code (and that its message contains `message`,
 * unless NULL), then that the server closes. */
static void expect_error_then_close(rg_client_t *c, const char *code, const char *message) {
  msgpack_unpacked r;
  rg_test_recv(c, "?", &r);
  char buf[64];
  assert_string_equal(rg_test_code_of(&r, buf), code);
  const msgpack_object *m = rg_test_get(&r.data, "error.message");
  if (message && !(m && memmem(m->via.str.ptr, m->via.str.size, message, strlen(message))))
    fail_msg("error message lacks '%s'", message);
  msgpack_unpacked_destroy(&r);
  assert_true(closed_by_server(rg_client_fd(c)));
}

/* Connects, sends the frames in `frame` in one write, and expects an error and the close. */
static void send_expect_error_then_close(fixture_t *f, const rg_buf_t *frame, const char *code,
                                         const char *message) {
  rg_client_t *c = rg_test_connect(&f->srv);
  assert_int_equal(rg_client_send(c, frame->data, frame->len), RG_OK);
  expect_error_then_close(c, code, message);
  rg_client_close(c);
}

static void ping(rg_client_t *c, int id) {
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": %d, \"op\": \"ping\"}", id);
  assert_int_equal(rg_test_uint(&r.data, "id"), id);
  msgpack_unpacked_destroy(&r);
}

static uint64_t stat_of(rg_client_t *c, const char *path) {
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 1, \"op\": \"stats\"}");
  uint64_t v = rg_test_uint(&r.data, path);
  msgpack_unpacked_destroy(&r);
  return v;
}

/* Asks for stats until `path` reaches at least `want` (at most WAIT_MS); returns it. */
static uint64_t wait_stat(rg_client_t *c, const char *path, uint64_t want) {
  uint64_t deadline = rg_test_now_ms() + WAIT_MS, v;
  while ((v = stat_of(c, path)) < want && rg_test_now_ms() < deadline) {
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL); /* polling the server's counters, bounded by the deadline */
  }
  return v;
}

/* A TCP connection with a receive buffer of `rcvbuf` bytes (0: the default). */
static int connect_raw(fixture_t *f, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  if (rcvbuf) assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
  struct timeval tv = {WAIT_MS / 1000, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)f->srv.port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  return fd;
}

static bool send_all(int fd, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    b += w;
    n -= (size_t)w;
  }
  return true;
}

/* ---- hostile clients --------------------------------------------------------------- */

static void test_server_flood_of_connections_is_refused_past_the_limit(void **state) {
  fixture_t *f = *state;
  enum { MAX = 32, FLOOD = 400 };
  rg_client_t *good = rg_test_connect(&f->srv);
  ping(good, 1);
  rg_client_t *flood[FLOOD];
  for (int i = 0; i < FLOOD; i++) {
    flood[i] = rg_test_connect(&f->srv);
    if (i % 50 == 0) ping(good, 2 + i); /* the well-behaved client keeps getting answers */
  }
  /* Every flood connection is either refused with busy (and closed) or answers a ping. */
  assert_true(wait_stat(good, "connections.total", FLOOD + 2) >= FLOOD + 2);
  int busy = 0, served = 0;
  for (int i = 0; i < FLOOD; i++) {
    struct pollfd p = {rg_client_fd(flood[i]), POLLIN, 0};
    rg_buf_t frame;
    rg_buf_init(&frame, 0);
    if (poll(&p, 1, 0) == 0) { /* nothing waiting: it was accepted */
      rg_test_frame_json(&frame, "{\"id\": %d, \"op\": \"ping\"}", i);
      assert_int_equal(rg_client_send(flood[i], frame.data, frame.len), RG_OK);
    }
    rg_buf_free(&frame);
    msgpack_unpacked r;
    rg_test_recv(flood[i], "ping", &r);
    char buf[64];
    const char *code = rg_test_code_of(&r, buf);
    if (strcmp(code, "busy") == 0) {
      busy++;
      assert_true(closed_by_server(rg_client_fd(flood[i])));
    } else {
      assert_string_equal(code, "(no error)");
      served++;
    }
    msgpack_unpacked_destroy(&r);
  }
  printf("%d flood connections served, %d refused with busy (limit %d)\n", served, busy, MAX);
  assert_true(served <= MAX - 1); /* the good client holds one slot */
  assert_int_equal(served + busy, FLOOD);
  assert_int_equal(stat_of(good, "connections.refused"), busy);
  ping(good, 9999);
  /* Held: at most MAX connections, each with at most one read chunk of input. */
  assert_peak_growth(f, "flood of 400 connections, limit 32", MAX * (READ_CHUNK + 4 * KiB) + SLACK);
  for (int i = 0; i < FLOOD; i++) rg_client_close(flood[i]);
  rg_client_close(good);
}

static int setup_slow_reader(void **state) {
  static const char *const extra[] = {"--set", "limits.max_output_bytes=4M", "--set",
                                      "limits.output_stall=1s", NULL};
  return setup_with(state, extra);
}

/* Counts the lines of the server's log that contain `text`. */
static int log_lines_with(fixture_t *f, const char *text) {
  FILE *log = fopen(f->srv.log, "r");
  assert_non_null(log);
  char line[1024];
  int n = 0;
  while (fgets(line, sizeof line, log)) {
    assert_null(strstr(line, "token-")); /* no token is ever logged */
    n += strstr(line, text) != NULL;
  }
  fclose(log);
  return n;
}

/* Appends a lookup of n unknown addresses to frame (its reply is about 250 bytes each). */
static void lookup_frame(rg_buf_t *frame, int n) {
  char *actors = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&actors, &len);
  for (int i = 0; i < n; i++) fprintf(m, "%s\"address:u%d@slow.example\"", i ? "," : "", i);
  fclose(m);
  rg_test_frame_json(frame, "{\"id\": 1, \"op\": \"lookup\", \"actors\": [%s]}", actors);
  free(actors);
}

static void test_server_slow_reader_is_paused_then_dropped_when_its_output_stalls(void **state) {
  fixture_t *f = *state;
  enum { ACTORS = 2000, REQUESTS = 400 };
  rg_client_t *good = rg_test_connect(&f->srv);
  /* One lookup of ACTORS unknown addresses; measure its reply once. */
  rg_buf_t frame, reply;
  rg_buf_init(&frame, 0);
  rg_buf_init(&reply, 0);
  lookup_frame(&frame, ACTORS);
  assert_int_equal(rg_client_send(good, frame.data, frame.len), RG_OK);
  assert_int_equal(rg_client_recv(good, &reply, 64 * MiB), RG_OK);
  size_t reply_bytes = reply.len + RG_FRAME_HEADER;
  rg_buf_free(&reply);
  printf(
      "one request %zu bytes, its reply %zu bytes; the slow reader asks for %d of them "
      "(%.0f MiB)\n",
      frame.len, reply_bytes, REQUESTS, REQUESTS * (double)reply_bytes / MiB);

  /* The slow reader pipelines and never reads; a tiny receive window makes the kernel hold
   * little for it, so the replies pile up in the server until they pass the soft limit
   * (2 MiB): then the server stops reading it, and drops it limits.output_stall later. */
  int slow = connect_raw(f, 4096);
  int sent = 0;
  while (sent < REQUESTS && send_all(slow, frame.data, frame.len)) {
    if (++sent % 40 == 0) ping(good, sent);
  }
  assert_true(wait_stat(good, "connections.dropped", 1) >= 1);
  printf("the slow reader sent %d requests before the server dropped it\n", sent);
  assert_true(closed_by_server(slow));
  assert_int_equal(log_lines_with(f, "made no progress for limits.output_stall"), 1);
  assert_int_equal(stat_of(good, "connections.dropped"), 1);
  ping(good, 77777);
  /* Held for it: the queued replies (at most the soft limit plus the reply that passed it)
   * and what one read brought into its input buffer. */
  assert_peak_growth(f, "slow reader, limits.max_output_bytes 4 MiB (soft 2 MiB)",
                     2 * MiB + reply_bytes + frame.len + READ_CHUNK + SLACK);
  close(slow);
  /* One reply larger than the hard limit (about 5 MB): dropped at once, read or not. */
  rg_client_t *big = rg_test_connect(&f->srv);
  frame.len = 0;
  lookup_frame(&frame, 10 * ACTORS);
  assert_int_equal(rg_client_send(big, frame.data, frame.len), RG_OK);
  assert_true(closed_by_server(rg_client_fd(big)));
  assert_int_equal(log_lines_with(f, "unread replies passed limits.max_output_bytes"), 1);
  assert_int_equal(stat_of(good, "connections.dropped"), 2);
  ping(good, 88888);
  rg_client_close(big);
  rg_buf_free(&frame);
  rg_client_close(good);
}

static int setup_no_frame_timeout(void **state) {
  static const char *const extra[] = {
      "--set", "limits.output_stall=1s", "--set", "limits.frame_timeout=0",
      "--set", "limits.idle_timeout=1h", NULL};
  return setup_with(state, extra);
}

static void test_server_closing_connection_that_never_takes_its_last_reply_is_dropped(
    void **state) {
  fixture_t *f = *state;
  rg_client_t *good = rg_test_connect(&f->srv);
  /* A lookup with a 20 MB reply (below the soft limit of 32 MiB, much more than socket
   * buffers hold: Linux's tcp_wmem allows 4 MiB by default), then a frame that is not
   * msgpack: error, close after the replies — which the client, never reading, does not
   * take. No frame timeout, a long idle timeout: output_stall ends it. */
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  lookup_frame(&frame, 80000);
  assert_int_equal(rg_buf_append(&frame, "\x00\x00\x00\x01\xc1", 5), RG_OK);
  int fd = connect_raw(f, 4096);
  assert_true(send_all(fd, frame.data, frame.len));
  assert_true(wait_stat(good, "connections.dropped", 1) >= 1);
  assert_int_equal(log_lines_with(f, "its last reply was not taken"), 1);
  assert_true(closed_by_server(fd));
  ping(good, 1);
  close(fd);
  rg_buf_free(&frame);
  rg_client_close(good);
}

static int setup_half_frames(void **state) {
  static const char *const extra[] = {
      "--set", "limits.max_frame_bytes=256K", "--set", "limits.max_connections=64",
      "--set", "limits.frame_timeout=2s",     NULL};
  return setup_with(state, extra);
}

static void test_server_half_frames_hold_bounded_memory_and_time_out(void **state) {
  fixture_t *f = *state;
  enum { HALF = 60, FRAME = 256 * 1024, SENT = 200 * 1024, STREAM = 300 };
  rg_client_t *good = rg_test_connect(&f->srv);
  ping(good, 1);
  /* HALF connections each promise a whole frame and send most of it, never the rest. */
  char *body = calloc(1, SENT);
  uint8_t hdr[RG_FRAME_HEADER];
  rg_put_u32be(hdr, FRAME);
  int fds[HALF];
  for (int i = 0; i < HALF; i++) {
    fds[i] = connect_raw(f, 0);
    assert_true(send_all(fds[i], hdr, sizeof hdr));
    assert_true(send_all(fds[i], body, SENT));
    if (i % 10 == 0) ping(good, 2 + i);
  }
  /* A stream of others sends a header and a few bytes, then vanishes. (Some find the
   * server at its connection limit, before it has seen the previous one go: refused.) */
  for (int i = 0; i < STREAM; i++) {
    int fd = connect_raw(f, 0);
    if (send_all(fd, hdr, sizeof hdr)) send_all(fd, body, 100);
    close(fd);
    if (i % 50 == 0) ping(good, 1000 + i);
  }
  ping(good, 3);
  /* Every half frame is buffered (each is smaller than the limit): memory follows it. */
  assert_peak_growth(f, "60 half frames of 200 KiB + 300 abandoned, max_frame_bytes 256 KiB",
                     (uint64_t)HALF * (FRAME + RG_FRAME_HEADER + READ_CHUNK) + SLACK);
  /* limits.frame_timeout ends each with a timeout error; the good client is unaffected. */
  static char scratch[512];
  for (int i = 0; i < HALF; i++) {
    ssize_t n = recv(fds[i], scratch, sizeof scratch, 0);
    assert_true(n > RG_FRAME_HEADER);
    assert_non_null(memmem(scratch, (size_t)n, "timeout", 7));
    assert_true(closed_by_server(fds[i]));
    close(fds[i]);
  }
  assert_int_equal(stat_of(good, "errors.timeout"), HALF);
  ping(good, 4);
  free(body);
  rg_client_close(good);
}

static int setup_idle(void **state) {
  static const char *const extra[] = {"--set", "limits.idle_timeout=1s", NULL};
  return setup_with(state, extra);
}

static void test_server_idle_connections_are_closed(void **state) {
  fixture_t *f = *state;
  rg_client_t *idle = rg_test_connect(&f->srv);
  ping(idle, 1); /* active once, then silent */
  assert_true(closed_by_server(rg_client_fd(idle)));
  rg_client_close(idle);
  rg_client_t *c = rg_test_connect(&f->srv);
  ping(c, 2);
  rg_client_close(c);
}


static int setup_evict(void **state) {
  static const char *const extra[] = {"--set", "limits.max_connections=8", "--set",
                                      "limits.evict_idle=0s", NULL};
  return setup_with(state, extra);
}

/* Idle connections cannot lock a filter out: at the limit, a new connection closes the one
 * idle longest (with busy), and is served. */
static void test_server_idle_connections_give_way_at_the_limit(void **state) {
  fixture_t *f = *state;
  enum { MAX = 8 };
  rg_client_t *idle[MAX];
  for (int i = 0; i < MAX; i++) {
    idle[i] = rg_test_connect(&f->srv);
    ping(idle[i], i + 1); /* accepted and answered, then silent */
  }
  rg_client_t *filter = rg_test_connect(&f->srv);
  ping(filter, 100);
  /* the oldest idle connection was told why and closed; the others still answer */
  msgpack_unpacked r;
  rg_test_recv(idle[0], "ping", &r);
  char buf[64];
  assert_string_equal(rg_test_code_of(&r, buf), "busy");
  msgpack_unpacked_destroy(&r);
  assert_true(closed_by_server(rg_client_fd(idle[0])));
  for (int i = 2; i < MAX; i++) ping(idle[i], 200 + i);
  assert_int_equal(stat_of(filter, "connections.evicted"), 1);
  assert_int_equal(stat_of(filter, "connections.refused"), 0);
  for (int i = 0; i < MAX; i++) rg_client_close(idle[i]);
  rg_client_close(filter);
}

static int setup_busy(void **state) {
  static const char *const extra[] = {"--set", "limits.max_connections=4", "--set",
                                      "limits.evict_idle=1h", NULL};
  return setup_with(state, extra);
}

/* A flood of refused connections is counted in full but logged at most 10 lines a second. */
static void test_server_busy_refusals_are_rate_limited_in_the_log(void **state) {
  fixture_t *f = *state;
  enum { FLOOD = 300 };
  rg_client_t *good = rg_test_connect(&f->srv);
  ping(good, 1);
  uint64_t t0 = rg_test_now_ms();
  rg_client_t *flood[FLOOD];
  for (int i = 0; i < FLOOD; i++) flood[i] = rg_test_connect(&f->srv);
  assert_true(wait_stat(good, "connections.refused", FLOOD - 3) >= FLOOD - 3);
  uint64_t secs = (rg_test_now_ms() - t0) / 1000 + 2; /* seconds the flood spanned, rounded up */
  int lines = log_lines_with(f, "limits.max_connections reached");
  printf("%d refusals logged in %d lines over at most %llu s\n",
         (int)stat_of(good, "connections.refused"), lines, (unsigned long long)secs);
  assert_true(lines >= 1);
  assert_true((uint64_t)lines <= 10 * secs);
  /* the next event logged after the flood's second says how many were not */
  time_t flood_end = time(NULL);
  while (time(NULL) == flood_end) poll(NULL, 0, 20);
  rg_client_t *late = rg_test_connect(&f->srv);
  assert_true(wait_stat(good, "connections.refused", FLOOD - 2) >= FLOOD - 2);
  assert_int_equal(log_lines_with(f, "not logged since start"), 1);
  rg_client_close(late);
  for (int i = 0; i < FLOOD; i++) rg_client_close(flood[i]);
  rg_client_close(good);
}

/* ---- access control ---------------------------------------------------------------- */

static void test_server_schema_gives_each_op_the_role_of_the_op_table(void **state) {
  (void)state;
  for (int op = 0; op < RG_OP_COUNT; op++) {
    const char *role = rg_test_schema_op_role(rg_op_name(op));
    if (!role || strcmp(role, rg_role_name(rg_op_role(op))) != 0)
      fail_msg("schemas/protocol.json gives %s role %s; RG_OP_MAP says %s", rg_op_name(op),
               role ? role : "(none)", rg_role_name(rg_op_role(op)));
  }
}

/* Runs repgraphd with `args` to completion (it is expected to refuse to start); its
 * output in *out. */
static int run_server_expecting_exit(fixture_t *f, const char *args, char **out) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/repgraphd --data %s/store --port %u --unix none %s 2>&1",
           RG_BINARY_DIR, f->dir, rg_test_free_port(), args);
  return rg_test_run(cmd, out);
}

static void test_server_refuses_non_loopback_address_without_auth(void **state) {
  fixture_t *f = *state;
  char *out;
  assert_int_equal(run_server_expecting_exit(f, "--listen 0.0.0.0", &out), 2);
  printf("%s", out);
  assert_non_null(strstr(out, "0.0.0.0, not a loopback address"));
  assert_non_null(strstr(out, "requires authentication"));
  assert_non_null(strstr(out, "auth.key_file"));
  free(out);
  assert_int_equal(run_server_expecting_exit(f, "--listen ::", &out), 2);
  assert_non_null(strstr(out, "not a loopback address"));
  free(out);
}

static void test_server_refuses_a_key_file_others_can_read(void **state) {
  fixture_t *f = *state;
  write_keys(f, 0644);
  char args[700], *out;
  snprintf(args, sizeof args, "--set auth.key_file=%s", f->keys);
  assert_int_equal(run_server_expecting_exit(f, args, &out), 1);
  assert_non_null(strstr(out, "others may read or write it (mode 0644"));
  assert_null(strstr(out, "token-"));
  free(out);
  write_keys(f, 0660); /* the group could replace the tokens */
  assert_int_equal(run_server_expecting_exit(f, args, &out), 1);
  assert_non_null(strstr(out, "its group may write or execute it (mode 0660"));
  free(out);
}

static void test_server_listens_beyond_loopback_with_auth(void **state) {
  fixture_t *f = *state;
  char opt[600];
  snprintf(opt, sizeof opt, "auth.key_file=%s", f->keys);
  const char *const extra[] = {"--listen", "0.0.0.0", "--set", opt, NULL};
  start(f, extra);
  rg_client_t *c = rg_test_connect(&f->srv);
  expect_code(c, "(no error)", "{\"id\": 1, \"op\": \"auth\", \"token\": \"%s\"}", READ_TOKEN);
  expect_code(c, "(no error)", "{\"id\": 2, \"op\": \"ping\"}");
  rg_client_close(c);
}

/* Connects and authenticates with `token`, asserting the role the server grants. */
static rg_client_t *connect_as(fixture_t *f, const char *token, const char *role) {
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 1, \"op\": \"auth\", \"token\": \"%s\"}", token);
  assert_true(rg_test_str_is(&r.data, "role", role));
  msgpack_unpacked_destroy(&r);
  return c;
}

static void test_server_requires_auth_as_the_first_request(void **state) {
  fixture_t *f = *state;
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  /* Any other first request: unauthorized, closed. */
  rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"ping\"}");
  send_expect_error_then_close(f, &frame, "unauthorized", "the first request must be auth");
  /* An unknown op first: the same. */
  frame.len = 0;
  rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"explode\"}");
  send_expect_error_then_close(f, &frame, "unauthorized", "the first request must be auth");
  /* An auth request without a token: said to be malformed. */
  frame.len = 0;
  rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"auth\", \"tokn\": \"%s\"}", ADMIN_TOKEN);
  send_expect_error_then_close(f, &frame, "bad_request", "malformed auth request: ");
  /* A wrong token: unauthorized, closed; the requests pipelined after it are not run. */
  frame.len = 0;
  rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"auth\", \"token\": \"%sX\"}", ADMIN_TOKEN);
  rg_test_frame_json(&frame, "{\"id\": 2, \"op\": \"forget\", \"actors\": [\"ip:192.0.2.1\"]}");
  send_expect_error_then_close(f, &frame, "unauthorized", "wrong token");
  /* Before auth a frame may not be large: a 64 KiB header is refused at once. */
  send_expect_error_then_close(f, &(rg_buf_t){(uint8_t *)"\x00\x01\x00\x00", 4, 4, 4}, "too_large",
                               "the limit before auth");
  /* Silence, or half an auth frame: after auth.timeout (2 s; limits.frame_timeout is 30 s),
   * a timeout error and the end of the connection (an unauthenticated client cannot hold
   * a connection slot for long). */
  send_expect_error_then_close(f, &(rg_buf_t){(uint8_t *)"", 0, 0, 0}, "timeout",
                               "no auth request within auth.timeout (2 s)");
  frame.len = 0;
  rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"auth\", \"token\": \"%s\"}", ADMIN_TOKEN);
  frame.len -= 8;
  send_expect_error_then_close(f, &frame, "timeout", "auth.timeout");
  rg_buf_free(&frame);

  rg_client_t *c = connect_as(f, ADMIN_TOKEN, "admin");
  assert_int_equal(stat_of(c, "connections.auth_failures"), 4);
  assert_int_equal(stat_of(c, "errors.unauthorized"), 3);
  assert_int_equal(stat_of(c, "errors.bad_request"), 1);
  assert_int_equal(stat_of(c, "connections.dropped"), 2); /* the two timeouts */
  rg_client_close(c);
  /* Failures are logged with the peer, never with the token; so are successes. */
  assert_int_equal(log_lines_with(f, "authentication failed from 127.0.0.1"), 4);
  assert_int_equal(log_lines_with(f, "authenticated ops (role admin) from 127.0.0.1 port"), 1);
}

static void test_server_roles_allow_their_ops_and_forbid_the_rest(void **state) {
  fixture_t *f = *state;
  const char *ingest =
      "{\"id\": 2, \"op\": \"ingest\", \"edges\": [{\"src\": "
      "\"address:a@x.example\", \"dst\": \"ip:192.0.2.1\", \"kind\": "
      "\"sent_from\"}]}";
  const char *lookup = "{\"id\": 3, \"op\": \"lookup\", \"actors\": [\"ip:192.0.2.1\"]}";
  const char *label =
      "{\"id\": 4, \"op\": \"label\", \"labels\": [{\"actor\": "
      "\"ip:192.0.2.1\", \"verdict\": \"bad\"}]}";
  const char *forget = "{\"id\": 5, \"op\": \"forget\", \"actors\": [\"address:a@x.example\"]}";
  const char *check =
      "{\"id\": 6, \"op\": \"check\", \"sender\": \"a@x.example\", "
      "\"client_ip\": \"192.0.2.1\"}";

  rg_client_t *r = connect_as(f, READ_TOKEN, "read");
  expect_code(r, "forbidden", "%s", ingest);
  expect_code(r, "forbidden", "%s", label);
  expect_code(r, "forbidden", "%s", forget);
  expect_code(r, "forbidden", "{\"id\": 7, \"op\": \"recompute\"}");
  expect_code(r, "(no error)", "%s", lookup); /* the connection stays open */
  expect_code(r, "(no error)", "%s", check);
  expect_code(r, "(no error)", "{\"id\": 8, \"op\": \"status\"}");
  expect_code(r, "(no error)", "{\"id\": 9, \"op\": \"ping\"}");

  rg_client_t *w = connect_as(f, WRITE_TOKEN, "write");
  expect_code(w, "(no error)", "%s", ingest);
  expect_code(w, "(no error)", "%s", label);
  expect_code(w, "(no error)", "%s", lookup);
  expect_code(w, "forbidden", "%s", forget);
  expect_code(w, "forbidden", "{\"id\": 7, \"op\": \"recompute\"}");
  expect_code(w, "forbidden", "{\"id\": 10, \"op\": \"backup\", \"path\": \"/nonexistent/b\"}");

  rg_client_t *a = connect_as(f, ADMIN_TOKEN, "admin");
  expect_code(a, "(no error)", "%s", forget);
  expect_code(a, "(no error)", "%s", lookup);
  assert_int_equal(stat_of(a, "errors.forbidden"), 7);
  assert_int_equal(stat_of(a, "connections.auth_failures"), 0);
  /* Authenticating again replaces the role. */
  msgpack_unpacked reply;
  rg_test_call(a, &reply, "{\"id\": 1, \"op\": \"auth\", \"token\": \"%s\"}", READ_TOKEN);
  assert_true(rg_test_str_is(&reply.data, "role", "read"));
  assert_true(rg_test_str_is(&reply.data, "name", "milter"));
  msgpack_unpacked_destroy(&reply);
  expect_code(a, "forbidden", "%s", forget);
  /* A wrong token on an authenticated connection: unauthorized, and the connection ends
   * (it keeps no role: each guess costs a connection, as before auth). */
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"auth\", \"token\": \"%sX\"}", ADMIN_TOKEN);
  assert_int_equal(rg_client_send(a, frame.data, frame.len), RG_OK);
  expect_error_then_close(a, "unauthorized", "wrong token");
  /* A good auth and an op above its role in the same write: the op is forbidden, and the
   * connection goes on. */
  rg_client_t *p = rg_test_connect(&f->srv);
  frame.len = 0;
  rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"auth\", \"token\": \"%s\"}", WRITE_TOKEN);
  rg_test_frame_json(&frame, "%s", forget);
  assert_int_equal(rg_client_send(p, frame.data, frame.len), RG_OK);
  msgpack_unpacked m;
  rg_test_recv(p, "auth", &m);
  assert_true(rg_test_str_is(&m.data, "role", "write"));
  msgpack_unpacked_destroy(&m);
  rg_test_recv(p, "forget", &m);
  char buf[64];
  assert_string_equal(rg_test_code_of(&m, buf), "forbidden");
  assert_int_equal(rg_test_uint(&m.data, "id"), 5);
  msgpack_unpacked_destroy(&m);
  expect_code(p, "(no error)", "%s", lookup);
  rg_buf_free(&frame);
  rg_client_close(p);
  rg_client_close(r);
  rg_client_close(w);
  rg_client_close(a);
}

static void test_server_unix_socket_needs_auth_too_and_has_mode_0660(void **state) {
  fixture_t *f = *state;
  struct stat st;
  assert_int_equal(stat(f->srv.sock, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0660);
  rg_client_t *c;
  char err[128];
  assert_int_equal(rg_client_connect(NULL, 0, f->srv.sock, 5000, &c, err, sizeof err), RG_OK);
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"lookup\", \"actors\": [\"ip:192.0.2.1\"]}");
  assert_int_equal(rg_client_send(c, frame.data, frame.len), RG_OK);
  expect_error_then_close(c, "unauthorized", NULL);
  rg_client_close(c);
  assert_int_equal(rg_client_connect(NULL, 0, f->srv.sock, 5000, &c, err, sizeof err), RG_OK);
  expect_code(c, "(no error)", "{\"id\": 1, \"op\": \"auth\", \"token\": \"%s\"}", READ_TOKEN);
  expect_code(c, "(no error)", "{\"id\": 2, \"op\": \"lookup\", \"actors\": [\"ip:192.0.2.1\"]}");
  rg_client_close(c);
  rg_buf_free(&frame);
}

static void test_server_unix_socket_mode_is_configurable(void **state) {
  fixture_t *f = *state;
  static const char *const extra[] = {"--set", "server.unix_mode=0600", NULL};
  start(f, extra);
  struct stat st;
  assert_int_equal(stat(f->srv.sock, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
}

/* Runs the repgraph client with RG_TOKEN=env (if non-NULL); returns its exit code. */
static int run_cli(fixture_t *f, const char *env, const char *args, char **out) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s%s%s%s/repgraph -p %u %s 2>&1", env ? "RG_TOKEN=" : "",
           env ? env : "", env ? " " : "", RG_BINARY_DIR, f->srv.port, args);
  return rg_test_run(cmd, out);
}

static void test_server_cli_authenticates_with_a_token(void **state) {
  fixture_t *f = *state;
  char *out, args[700], tokfile[600];
  snprintf(tokfile, sizeof tokfile, "%s/read.token", f->dir);
  rg_test_write_file(tokfile, 0600, READ_TOKEN "\n");

  assert_int_equal(run_cli(f, NULL, "ping", &out), 1); /* no token */
  assert_non_null(strstr(out, "unauthorized"));
  free(out);
  assert_int_equal(run_cli(f, "wrong-token-wrong-token", "ping", &out), 1);
  assert_non_null(strstr(out, "authentication refused: unauthorized"));
  free(out);
  snprintf(args, sizeof args, "--token-file %s lookup ip:192.0.2.1", tokfile);
  assert_int_equal(run_cli(f, NULL, args, &out), 0);
  free(out);
  snprintf(args, sizeof args, "--token-file %s forget ip:192.0.2.1", tokfile);
  assert_int_equal(run_cli(f, NULL, args, &out), 1);
  assert_non_null(strstr(out, "forbidden: forget needs role admin"));
  free(out);
  assert_int_equal(run_cli(f, WRITE_TOKEN, "label ip:192.0.2.1 bad", &out), 0);
  free(out);
  snprintf(args, sizeof args, "--token %s stats", ADMIN_TOKEN);
  assert_int_equal(run_cli(f, NULL, args, &out), 0);
  assert_non_null(strstr(out, "auth_failures: 2"));
  free(out);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_server_schema_gives_each_op_the_role_of_the_op_table),
      cmocka_unit_test_setup_teardown(test_server_flood_of_connections_is_refused_past_the_limit,
                                      setup_open, teardown),
      cmocka_unit_test_setup_teardown(
          test_server_slow_reader_is_paused_then_dropped_when_its_output_stalls, setup_slow_reader,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_server_closing_connection_that_never_takes_its_last_reply_is_dropped,
          setup_no_frame_timeout, teardown),
      cmocka_unit_test_setup_teardown(test_server_half_frames_hold_bounded_memory_and_time_out,
                                      setup_half_frames, teardown),
      cmocka_unit_test_setup_teardown(test_server_idle_connections_are_closed, setup_idle,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_server_idle_connections_give_way_at_the_limit,
                                      setup_evict, teardown),
      cmocka_unit_test_setup_teardown(test_server_busy_refusals_are_rate_limited_in_the_log,
                                      setup_busy, teardown),
      cmocka_unit_test_setup_teardown(test_server_refuses_non_loopback_address_without_auth,
                                      setup_bare, teardown),
      cmocka_unit_test_setup_teardown(test_server_refuses_a_key_file_others_can_read, setup_bare,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_server_listens_beyond_loopback_with_auth, setup_bare,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_server_requires_auth_as_the_first_request, setup_auth,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_server_roles_allow_their_ops_and_forbid_the_rest,
                                      setup_auth, teardown),
      cmocka_unit_test_setup_teardown(test_server_unix_socket_needs_auth_too_and_has_mode_0660,
                                      setup_auth, teardown),
      cmocka_unit_test_setup_teardown(test_server_unix_socket_mode_is_configurable, setup_bare,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_server_cli_authenticates_with_a_token, setup_auth,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
