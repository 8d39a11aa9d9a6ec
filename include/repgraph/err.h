/* err.h — repgraph's error codes: one X-macro list generates the enum, the stable
 * wire names and the human messages. Thread-safe: pure functions over static tables. */
#ifndef RG_ERR_H
#define RG_ERR_H

#include <stddef.h>

/* X(NAME, wire_name, message). Codes are negative ints; 0 is success.
 * Wire names are stable: clients match on them. Append only. */
#define RG_ERRNO_MAP(X)                                                               \
  X(BAD_REQUEST, "bad_request", "request is not well formed")                         \
  X(UNKNOWN_OP, "unknown_op", "unknown operation")                                    \
  X(INVALID_ACTOR, "invalid_actor", "actor identifier is not valid")                  \
  X(INVALID_EDGE, "invalid_edge", "edge kind is unknown or does not fit its actors")  \
  X(INVALID_LABEL, "invalid_label", "label verdict or source is not valid")           \
  X(TOO_LARGE, "too_large", "frame or batch exceeds the configured maximum")          \
  X(NOT_A_MAP, "not_a_map", "frame is not one msgpack map")                           \
  X(STORAGE_FULL, "storage_full", "store reached its configured maximum size")        \
  X(SCHEMA, "schema_mismatch", "store was written by an incompatible schema version") \
  X(SHUTTING_DOWN, "shutting_down", "server is shutting down")                        \
  X(NOMEM, "out_of_memory", "out of memory")                                          \
  X(IO, "io_error", "input/output error")                                             \
  X(CONFIG, "bad_config", "configuration is not valid")                               \
  X(NOT_FOUND, "not_found", "no such item")                                           \
  X(BUSY, "busy", "server is at its connection limit")                                \
  X(INTERNAL, "internal", "internal error")                                           \
  X(UNAUTHORIZED, "unauthorized", "authentication required or failed")                \
  X(FORBIDDEN, "forbidden", "the connection's role does not allow this operation")    \
  X(TIMEOUT, "timeout", "the client took too long")                                   \
  X(UNAVAILABLE, "unavailable", "the replicated log did not acknowledge the write")     \
  X(NOT_APPLIED, "not_applied", "the write is in the log but not yet applied here")       \
  X(NOT_LEADER, "not_leader", "another replica holds the recompute lease")

enum {
  RG_OK = 0,
  RG__ERR_FIRST = -1000,
#define RG__ERR_ENUM(name, wire, msg) RG_E##name,
  RG_ERRNO_MAP(RG__ERR_ENUM)
#undef RG__ERR_ENUM
      RG__ERR_END
};

/* Human message for an error code; never NULL ("unknown error" for foreign codes). */
const char *rg_strerror(int err);

/* Formats an error's message into msg (cap bytes, cut if longer; msg may be NULL when cap
 * is 0) and returns err, so a failing path reads `return rg_fail(msg, cap, RG_E…, "…", …)`. */
int rg_fail(char *msg, size_t cap, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Stable wire name ("bad_request", …) for an error code; never NULL. */
const char *rg_err_name(int err);

#endif
