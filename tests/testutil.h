/* testutil.h — helpers shared by the cmocka tests: temporary directories, the real
 * repgraphd started on a free port, requests written as JSON, and a checker that holds
 * every reply against schemas/protocol.json. Failures are cmocka assertions. */
#ifndef RG_TESTUTIL_H
#define RG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <msgpack.h>
#include <sys/types.h>

#include "repgraph/buf.h"
#include "repgraph/client.h"

/* Creates a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *rg_test_mkdtemp(void);

/* Removes a directory tree (rm -rf). */
void rg_test_rmtree(const char *path);

/* Monotonic milliseconds, for the tests' bounded waits. */
uint64_t rg_test_now_ms(void);

/* Writes `text` to a new or truncated file at `path`, then sets its mode (chmod, so the
 * umask does not apply). Fails the test on error. */
void rg_test_write_file(const char *path, mode_t mode, const char *text);

/* A TCP port that was free a moment ago. */
unsigned rg_test_free_port(void);

typedef struct {
  pid_t pid;
  unsigned port;
  char dir[256];
  char sock[320];
  char log[320];
} rg_test_server_t;

/* Starts build/repgraphd on `dir` (its store, socket and log live there) and a free port,
 * with extra arguments (NULL-terminated list, may be NULL), and waits — at most 10 s — until
 * it accepts connections. Fails the test if it exits or never answers. */
void rg_test_server_start(rg_test_server_t *s, const char *dir, const char *const *extra);

/* Sends SIGTERM and waits at most 30 s; returns the exit status (fails the test on timeout). */
int rg_test_server_stop(rg_test_server_t *s);

/* The common fixture of the end-to-end tests: a fresh temporary directory and the real
 * server started on it. */
typedef struct {
  char *dir;
  rg_test_server_t srv;
} rg_test_fixture_t;

/* cmocka setup: a new fixture in *state, its server started with `extra` arguments
 * (NULL-terminated, may be NULL). Fails the test if the server does not start. */
int rg_test_fixture_start(void **state, const char *const *extra);

/* cmocka teardown of rg_test_fixture_start: stops the server (asserting a clean exit),
 * removes the directory, frees the fixture. */
int rg_test_fixture_stop(void **state);

/* Fixture teardown: stops the server if it was started (asserting a clean exit on
 * SIGTERM), removes `dir` and frees it. */
void rg_test_teardown_server(rg_test_server_t *s, char *dir);

/* Runs a shell command to completion; its stdout (and whatever the command redirects
 * there) goes to *out (malloc'd, NUL-terminated). Returns its exit code, -1 if killed. */
int rg_test_run(const char *cmd, char **out);

/* Kills the server with SIGKILL and reaps it if it still runs (teardowns of tests that
 * failed midway). */
void rg_test_server_kill(rg_test_server_t *s);

/* Connects to the server over TCP (5 s receive timeout, or $RG_TEST_RECV_TIMEOUT_MS). */
rg_client_t *rg_test_connect(const rg_test_server_t *s);

/* Appends one request frame written as JSON text (e.g. {"id":1,"op":"ping"}) to frame. */
void rg_test_frame_json(rg_buf_t *frame, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Receives one reply, decodes it into *reply (destroy with msgpack_unpacked_destroy) and
 * checks it against the schema of `op` (an error reply against error_reply). */
void rg_test_recv(rg_client_t *c, const char *op, msgpack_unpacked *reply);

/* Sends a JSON-written request and receives its checked reply. */
void rg_test_call(rg_client_t *c, msgpack_unpacked *reply, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Map field by key, or NULL. Path form: "a.b.c" walks nested maps; "results.0.x" indexes. */
const msgpack_object *rg_test_get(const msgpack_object *o, const char *path);
/* Field as an unsigned integer (fails the test if absent or of another type). */
uint64_t rg_test_uint(const msgpack_object *o, const char *path);
/* True when the field is a string equal to s. */
bool rg_test_str_is(const msgpack_object *o, const char *path, const char *s);
/* The error code of an error reply, or NULL when the reply is not an error. */
const char *rg_test_error_code(const msgpack_object *reply, char *buf, size_t cap);
/* The error code of a reply, or "(no error)": for comparisons and failure messages. buf
 * holds at least 64 bytes. */
const char *rg_test_code_of(const msgpack_unpacked *r, char *buf);

/* Checks a decoded reply against schemas/protocol.json; returns NULL when valid or a
 * description of the first violation (static buffer). */
const char *rg_test_schema_violation(const char *op, const msgpack_object *reply);

/* Reads a whole file into a malloc'd buffer (*len set); fails the test if unreadable. */
uint8_t *rg_test_read_file(const char *path, size_t *len);

/* The ops and error codes listed in the schema (for drift tests). */
size_t rg_test_schema_ops(const char **names, size_t cap);
bool rg_test_schema_has_error(const char *code);
/* The role the schema gives an op ("read", …), or NULL if it gives none. */
const char *rg_test_schema_op_role(const char *op);

#endif
