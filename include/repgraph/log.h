/* log.h — levelled logging to stderr, one line per message with a UTC timestamp.
 * Any thread (each line is written with one call). */
#ifndef RG_LOG_H
#define RG_LOG_H

typedef enum { RG_LOG_ERROR = 0, RG_LOG_WARN, RG_LOG_INFO, RG_LOG_DEBUG } rg_log_level_t;

/* Sets the most verbose level that is written (default RG_LOG_INFO). */
void rg_log_set_level(rg_log_level_t level);

/* Parses "error" | "warn" | "info" | "debug". 0 on success, RG_ECONFIG otherwise. */
int rg_log_level_parse(const char *name, rg_log_level_t *out);

/* Writes one line if `level` is enabled. printf-style. */
void rg_log(rg_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rg_log_error(...) rg_log(RG_LOG_ERROR, __VA_ARGS__)
#define rg_log_warn(...)  rg_log(RG_LOG_WARN, __VA_ARGS__)
#define rg_log_info(...)  rg_log(RG_LOG_INFO, __VA_ARGS__)
#define rg_log_debug(...) rg_log(RG_LOG_DEBUG, __VA_ARGS__)

#endif
