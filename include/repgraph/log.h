/* log.h — levelled logging to stderr (journald keeps it), one line per event with a UTC
 * timestamp, in logfmt (ts=… level=… msg="…" key=value) or JSON (one object a line).
 * Any thread: settings are atomics and each line is written with one call. */
#ifndef RG_LOG_H
#define RG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { RG_LOG_ERROR = 0, RG_LOG_WARN, RG_LOG_INFO, RG_LOG_DEBUG } rg_log_level_t;
typedef enum { RG_LOG_LOGFMT = 0, RG_LOG_JSON } rg_log_format_t;

/* Sets the most verbose level that is written (default RG_LOG_INFO). */
void rg_log_set_level(rg_log_level_t level);

/* True when a line of `level` would be written. */
bool rg_log_enabled(rg_log_level_t level);

/* Parses "error" | "warn" | "info" | "debug". 0 on success, RG_ECONFIG otherwise. */
int rg_log_level_parse(const char *name, rg_log_level_t *out);

/* Sets the line format (default RG_LOG_LOGFMT). */
void rg_log_set_format(rg_log_format_t format);

/* Parses "logfmt" | "json". 0 on success, RG_ECONFIG otherwise. */
int rg_log_format_parse(const char *name, rg_log_format_t *out);

/* Whether actor identifiers may appear in lines above debug level (log.actors; default no:
 * privacy). Debug lines, written only when someone asked for them, may always carry them. */
void rg_log_set_actors(bool allowed);

/* True when a line of `level` may name actors (debug, or log.actors). */
bool rg_log_actors_allowed(rg_log_level_t level);

/* `id` when a line of `level` may name actors (see rg_log_set_actors), else "[redacted]".
 * Call sites pass every address, IP or domain they log through this. */
const char *rg_log_actor(rg_log_level_t level, const char *id);

/* Sets the share (0..1) of requests the request log samples (log.requests; default 0). */
void rg_log_set_request_share(double share);

/* One draw: true for about `share` of the calls. Lock-free; any thread. */
bool rg_log_request_sampled(void);

/* Writes one line if `level` is enabled, the message printf-style (msg=… / "msg":…). */
void rg_log(rg_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A key=value of a structured line: a string (str non-NULL) or an integer. */
typedef struct {
  const char *key;
  const char *str;
  int64_t num;
} rg_log_field_t;
#define RG_LOG_STR(k, v) ((rg_log_field_t){(k), (v), 0}) /* v non-NULL */
#define RG_LOG_INT(k, v) ((rg_log_field_t){(k), NULL, (int64_t)(v)})

/* Writes one line with a fixed message and n fields after it, if `level` is enabled. */
void rg_log_fields(rg_log_level_t level, const char *msg, const rg_log_field_t *fields, size_t n);

/* Sends lines to fn (each without its newline, valid during the call) instead of stderr;
 * NULL restores stderr. For tests; set it before other threads log. */
void rg_log_set_sink(void (*fn)(void *ctx, const char *line, size_t len), void *ctx);

/* A limit on how many lines of one kind are written per second (e.g. failed logins), so
 * that a flood of events cannot flood the log. Zero-initialise; one owner (not atomic). */
typedef struct {
  int64_t second;      /* the second being counted */
  uint32_t in_second;  /* events seen in it */
  uint64_t suppressed; /* events not logged since the start */
} rg_log_limit_t;

/* Counts one event at time now_s (seconds, from the caller's clock: rg_clock_now, or a
 * test's); true when it may be logged (the first per_sec of its second), false when it
 * should only be counted (then l->suppressed grows by one). */
bool rg_log_limit_take(rg_log_limit_t *l, int64_t now_s, uint32_t per_sec);

#define rg_log_error(...) rg_log(RG_LOG_ERROR, __VA_ARGS__)
#define rg_log_warn(...)  rg_log(RG_LOG_WARN, __VA_ARGS__)
#define rg_log_info(...)  rg_log(RG_LOG_INFO, __VA_ARGS__)
#define rg_log_debug(...) rg_log(RG_LOG_DEBUG, __VA_ARGS__)

#endif
