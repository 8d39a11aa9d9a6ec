/* log.c — levelled stderr logging. Any thread: the level is an atomic. */
#include "repgraph/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "repgraph/err.h"

static atomic_int log_level = RG_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void rg_log_set_level(rg_log_level_t level) {
  atomic_store(&log_level, (int)level);
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

void rg_log(rg_log_level_t level, const char *fmt, ...) {
  if ((int)level > atomic_load(&log_level)) return;
  char line[1024];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
  n += snprintf(line + n, sizeof line - (size_t)n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000,
                level_names[level]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  fwrite(line, 1, len, stderr);
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
