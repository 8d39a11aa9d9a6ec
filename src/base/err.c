/* err.c — tables behind rg_strerror / rg_err_name. Any thread. */
#include "repgraph/err.h"

#include <stdarg.h>
#include <stdio.h>

#define RG__ERR_INDEX(err) ((err)-RG__ERR_FIRST - 1)
#define RG__ERR_VALID(err) ((err) > RG__ERR_FIRST && (err) < RG__ERR_END)

static const char *const err_names[] = {
#define RG__ERR_NAME(name, wire, msg) wire,
    RG_ERRNO_MAP(RG__ERR_NAME)
#undef RG__ERR_NAME
};

static const char *const err_messages[] = {
#define RG__ERR_MSG(name, wire, msg) msg,
    RG_ERRNO_MAP(RG__ERR_MSG)
#undef RG__ERR_MSG
};

const char *rg_strerror(int err) {
  if (err == RG_OK) return "success";
  return RG__ERR_VALID(err) ? err_messages[RG__ERR_INDEX(err)] : "unknown error";
}

const char *rg_err_name(int err) {
  if (err == RG_OK) return "ok";
  return RG__ERR_VALID(err) ? err_names[RG__ERR_INDEX(err)] : "internal";
}

int rg_fail(char *msg, size_t cap, int err, const char *fmt, ...) {
  if (cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
  }
  return err;
}
