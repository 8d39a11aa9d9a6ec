/* policy_proto.c — incremental parser of Postfix policy delegation requests. Every byte is
 * checked against the limits before it is stored, so a peer cannot make a parser hold more
 * than max_request + max_attrs attribute slots. One owner thread per parser. */
#include "repgraph/policy_proto.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"

struct rg_policy_parser {
  rg_policy_limits_t lim;
  char *buf;            /* max_request + 1 bytes: lines stored as "name\0value\0" */
  size_t len;           /* bytes stored */
  size_t line_start;    /* offset of the line being read */
  size_t request_bytes; /* bytes of the current request seen, newlines included */
  rg_policy_attr_t *attrs;
  uint32_t n_attrs;
  bool done;  /* the last feed returned a request: start afresh */
  int failed; /* sticky error */
  rg_policy_request_t req;
};

int rg_policy_parser_new(const rg_policy_limits_t *lim, rg_policy_parser_t **out) {
  *out = NULL;
  rg_policy_parser_t *p = calloc(1, sizeof *p);
  if (!p) return RG_ENOMEM;
  p->lim.max_line = lim && lim->max_line ? lim->max_line : RG_POLICY_LINE_DEFAULT;
  p->lim.max_attrs = lim && lim->max_attrs ? lim->max_attrs : RG_POLICY_ATTRS_DEFAULT;
  p->lim.max_request = lim && lim->max_request ? lim->max_request : RG_POLICY_REQUEST_DEFAULT;
  p->buf = malloc((size_t)p->lim.max_request + 1);
  p->attrs = calloc(p->lim.max_attrs, sizeof *p->attrs);
  if (!p->buf || !p->attrs) {
    rg_policy_parser_free(p);
    return RG_ENOMEM;
  }
  *out = p;
  return RG_OK;
}

void rg_policy_parser_free(rg_policy_parser_t *p) {
  if (!p) return;
  free(p->buf);
  free(p->attrs);
  free(p);
}

static int fail(rg_policy_parser_t *p, int code, char *err, size_t errlen, const char *fmt,
                unsigned long v) {
  snprintf(err, errlen, fmt, v);
  p->failed = code;
  return code;
}

static bool name_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

/* Ends the line stored at [line_start, len): splits it at '=' into an attribute. */
static int end_line(rg_policy_parser_t *p, char *err, size_t errlen) {
  char *line = p->buf + p->line_start;
  size_t n = p->len - p->line_start;
  if (n && line[n - 1] == '\r') n--, p->len--;
  char *eq = memchr(line, '=', n);
  if (!eq) return fail(p, RG_EBAD_REQUEST, err, errlen, "line %lu has no '='", p->n_attrs + 1ul);
  if (eq == line)
    return fail(p, RG_EBAD_REQUEST, err, errlen, "line %lu has an empty name", p->n_attrs + 1ul);
  for (char *c = line; c < eq; c++)
    if (!name_char((unsigned char)*c))
      return fail(p, RG_EBAD_REQUEST, err, errlen, "line %lu: attribute name is not a word",
                  p->n_attrs + 1ul);
  if (p->n_attrs >= p->lim.max_attrs)
    return fail(p, RG_ETOO_LARGE, err, errlen, "more than %lu attributes in one request",
                p->lim.max_attrs);
  *eq = '\0';
  p->buf[p->len++] = '\0'; /* room: the request cap counts the newline this replaces */
  p->attrs[p->n_attrs].name = line;
  p->attrs[p->n_attrs].value = eq + 1;
  p->n_attrs++;
  p->line_start = p->len;
  return RG_OK;
}

int rg_policy_parser_feed(rg_policy_parser_t *p, const uint8_t *data, size_t n, size_t *used,
                          const rg_policy_request_t **req, char *err, size_t errlen) {
  *used = 0;
  *req = NULL;
  if (p->failed) {
    snprintf(err, errlen, "the connection already failed");
    return p->failed;
  }
  if (p->done) {
    p->len = p->line_start = p->request_bytes = 0;
    p->n_attrs = 0;
    p->done = false;
  }
  for (size_t i = 0; i < n; i++) {
    uint8_t c = data[i];
    if (++p->request_bytes > p->lim.max_request) {
      *used = i + 1;
      return fail(p, RG_ETOO_LARGE, err, errlen, "request longer than %lu bytes",
                  p->lim.max_request);
    }
    if (c == '\n') {
      *used = i + 1;
      size_t line_len = p->len - p->line_start;
      if (line_len == 0 || (line_len == 1 && p->buf[p->line_start] == '\r')) {
        /* an empty line: the request is complete */
        p->req.attrs = p->attrs;
        p->req.n_attrs = p->n_attrs;
        p->done = true;
        *req = &p->req;
        return RG_OK;
      }
      int rc = end_line(p, err, errlen);
      if (rc) return rc;
      continue;
    }
    if (c == '\0') {
      *used = i + 1;
      return fail(p, RG_EBAD_REQUEST, err, errlen, "NUL byte in line %lu", p->n_attrs + 1ul);
    }
    if (p->len - p->line_start >= p->lim.max_line + (size_t)(c == '\r')) {
      *used = i + 1;
      return fail(p, RG_ETOO_LARGE, err, errlen, "line longer than %lu bytes", p->lim.max_line);
    }
    p->buf[p->len++] = (char)c; /* len < request_bytes <= max_request */
  }
  *used = n;
  return RG_OK;
}

int rg_policy_parser_partial(const rg_policy_parser_t *p) {
  return !p->done && p->request_bytes > 0;
}

const char *rg_policy_request_get(const rg_policy_request_t *r, const char *name) {
  for (uint32_t i = 0; i < r->n_attrs; i++)
    if (strcmp(r->attrs[i].name, name) == 0) return r->attrs[i].value;
  return NULL;
}
