/* log.h — levelled logging to stderr, one line per message with a UTC timestamp.
 * Any thread (each line is written with one call). */
#ifndef RG_LOG_H
#define RG_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { RG_LOG_ERROR = 0, RG_LOG_WARN, RG_LOG_INFO, RG_LOG_DEBUG } rg_log_level_t;

/* Sets the most verbose level that is written (default RG_LOG_INFO). */
void rg_log_set_level(rg_log_level_t level);

/* Parses "error" | "warn" | "info" | "debug". 0 on success, RG_ECONFIG otherwise. */
int rg_log_level_parse(const char *name, rg_log_level_t *out);

/* Writes one line if `level` is enabled. printf-style. */
void rg_log(rg_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
