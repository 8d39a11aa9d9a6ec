/* log.c — levelled logging to stderr, one line per event, in logfmt or JSON. Any thread: the
 * settings are atomics, a line is built on the stack and written with one fwrite. */
#include "repgraph/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "repgraph/err.h"

#define LINE_MAX_BYTES 2048 /* a longer line is cut (and still ends the object / the line) */

static atomic_int log_level = RG_LOG_INFO;
static atomic_int log_format = RG_LOG_LOGFMT;
static atomic_bool log_actors = false;
static atomic_uint_fast64_t request_threshold = 0; /* a draw below it is sampled */
static atomic_uint_fast64_t request_draws = 0;
static void (*sink_fn)(void *ctx, const char *line, size_t len);
static void *sink_ctx;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void rg_log_set_level(rg_log_level_t level) {
  atomic_store(&log_level, (int)level);
}

bool rg_log_enabled(rg_log_level_t level) {
  return (int)level <= atomic_load(&log_level);
}

int rg_log_level_parse(const char *name, rg_log_level_t *out) {
  for (int i = 0; i <= RG_LOG_DEBUG; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (rg_log_level_t)i;
      return RG_OK;
    }
  }
  return RG_ECONFIG;
}

void rg_log_set_format(rg_log_format_t format) {
  atomic_store(&log_format, (int)format);
}

int rg_log_format_parse(const char *name, rg_log_format_t *out) {
  if (strcmp(name, "logfmt") == 0)
    *out = RG_LOG_LOGFMT;
  else if (strcmp(name, "json") == 0)
    *out = RG_LOG_JSON;
  else
    return RG_ECONFIG;
  return RG_OK;
}

void rg_log_set_actors(bool allowed) {
  atomic_store(&log_actors, allowed);
}

bool rg_log_actors_allowed(rg_log_level_t level) {
  return level >= RG_LOG_DEBUG || atomic_load(&log_actors);
}

const char *rg_log_actor(rg_log_level_t level, const char *id) {
  return rg_log_actors_allowed(level) ? id : "[redacted]";
}

void rg_log_set_request_share(double share) {
  uint64_t t = share <= 0   ? 0
               : share >= 1 ? UINT64_MAX
                            : (uint64_t)(share * 18446744073709551616.0);
  atomic_store(&request_threshold, t);
}

bool rg_log_request_sampled(void) {
  uint64_t t = atomic_load(&request_threshold);
  if (t == 0) return false;
  if (t == UINT64_MAX) return true;
  /* splitmix64 of a shared sequence: evenly spread, no state to lock */
  uint64_t z = atomic_fetch_add(&request_draws, 1) * UINT64_C(0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return (z ^ (z >> 31)) < t;
}

void rg_log_set_sink(void (*fn)(void *ctx, const char *line, size_t len), void *ctx) {
  sink_fn = fn;
  sink_ctx = ctx;
}

/* ---- building a line ------------------------------------------------------------------ */

typedef struct {
  char b[LINE_MAX_BYTES];
  size_t n;
  bool json, full; /* full: a piece did not fit; the rest of the line is dropped */
} line_t;

#define LINE_RESERVE 8 /* a closing quote, "}", the newline and a NUL always fit */

/* Appends a piece whole, or (no room) nothing more of this line: an escape is never cut. */
static void put(line_t *l, const char *s, size_t n) {
  if (l->full || n > sizeof l->b - LINE_RESERVE - l->n) {
    l->full = true;
    return;
  }
  memcpy(l->b + l->n, s, n);
  l->n += n;
}

static void puts_(line_t *l, const char *s) {
  put(l, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1-4), 0 if it is not one. */
static size_t utf8_len(const unsigned char *s, size_t left) {
  size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
  if (n == 0 || n > left || s[0] >= 0xf8) return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  return n;
}

/* A string value: JSON-escaped, or in logfmt bare when it can be, else quoted. */
static void put_value(line_t *l, const char *s) {
  size_t len = strlen(s);
  bool quote = l->json || len == 0 || strpbrk(s, " =\"\\") != NULL;
  for (size_t i = 0; i < len && !quote; i++) quote = (unsigned char)s[i] < 0x20;
  if (quote) put(l, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      put(l, esc, 2);
    } else if (c == '\n') {
      put(l, "\\n", 2);
    } else if (c == '\t') {
      put(l, "\\t", 2);
    } else if (c == '\r') {
      put(l, "\\r", 2);
    } else if (c < 0x20 || c == 0x7f) {
      snprintf(esc, sizeof esc, l->json ? "\\u%04x" : "\\x%02x", c);
      puts_(l, esc);
    } else if (c >= 0x80 && l->json) { /* JSON must be UTF-8: invalid bytes become U+FFFD */
      size_t n = utf8_len((const unsigned char *)s + i, len - i);
      if (n) {
        put(l, s + i, n);
        i += n - 1;
      } else {
        put(l, "\\ufffd", 6);
      }
    } else {
      put(l, (const char *)&c, 1);
    }
  }
  if (quote) l->b[l->n++] = '"'; /* in the reserve: a cut value still ends its string */
}

static void put_key(line_t *l, const char *key) {
  if (l->json) {
    put(l, ",\"", 2);
    puts_(l, key);
    put(l, "\":", 2);
  } else {
    put(l, " ", 1);
    puts_(l, key);
    put(l, "=", 1);
  }
}

static void begin(line_t *l, rg_log_level_t level) {
  struct timespec ts;
  struct tm tm;
  char stamp[40];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);
  l->n = 0;
  l->full = false;
  l->json = atomic_load(&log_format) == RG_LOG_JSON;
  if (l->json) {
    puts_(l, "{\"ts\":\"");
    puts_(l, stamp);
    puts_(l, "\",\"level\":\"");
    puts_(l, level_names[level]);
    put(l, "\"", 1);
  } else {
    puts_(l, "ts=");
    puts_(l, stamp);
    puts_(l, " level=");
    puts_(l, level_names[level]);
  }
}

static void end(line_t *l) {
  if (l->json) l->b[l->n++] = '}';
  if (sink_fn) {
    l->b[l->n] = '\0';
    sink_fn(sink_ctx, l->b, l->n);
    return;
  }
  l->b[l->n++] = '\n';
  fwrite(l->b, 1, l->n, stderr);
}

void rg_log_fields(rg_log_level_t level, const char *msg, const rg_log_field_t *fields, size_t n) {
  if (!rg_log_enabled(level)) return;
  line_t l;
  begin(&l, level);
  put_key(&l, "msg");
  put_value(&l, msg);
  for (size_t i = 0; i < n; i++) {
    put_key(&l, fields[i].key);
    if (fields[i].str) {
      put_value(&l, fields[i].str);
    } else {
      char num[24];
      snprintf(num, sizeof num, "%lld", (long long)fields[i].num);
      puts_(&l, num);
    }
  }
  end(&l);
}

void rg_log(rg_log_level_t level, const char *fmt, ...) {
  if (!rg_log_enabled(level)) return;
  char msg[LINE_MAX_BYTES];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  rg_log_fields(level, msg, NULL, 0);
}

bool rg_log_limit_take(rg_log_limit_t *l, int64_t now_s, uint32_t per_sec) {
  if (now_s != l->second) {
    l->second = now_s;
    l->in_second = 0;
  }
  if (l->in_second < per_sec) {
    l->in_second++;
    return true;
  }
  l->suppressed++;
  return false;
}
