/* policy_proto.h — the Postfix SMTPD access policy delegation protocol
 * (http://www.postfix.org/SMTPD_POLICY_README.html) as an incremental, bounded parser:
 * feed it the bytes of a connection as they arrive, get whole requests (`name=value`
 * lines ended by an empty line) back one at a time. No I/O; one parser per connection,
 * one thread at a time. */
#ifndef RG_POLICY_PROTO_H
#define RG_POLICY_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define RG_POLICY_LINE_DEFAULT    2048  /* bytes of one name=value line, without the newline */
#define RG_POLICY_ATTRS_DEFAULT   128   /* attributes in one request (Postfix 3.7 sends ~40) */
#define RG_POLICY_REQUEST_DEFAULT 16384 /* bytes of one request, newlines included */

typedef struct {
  uint32_t max_line;    /* 0 = RG_POLICY_LINE_DEFAULT */
  uint32_t max_attrs;   /* 0 = RG_POLICY_ATTRS_DEFAULT */
  uint32_t max_request; /* 0 = RG_POLICY_REQUEST_DEFAULT */
} rg_policy_limits_t;

typedef struct {
  const char *name, *value; /* NUL-terminated, owned by the parser */
} rg_policy_attr_t;

/* One complete request. Valid until the next rg_policy_parser_feed or _free. */
typedef struct {
  const rg_policy_attr_t *attrs;
  uint32_t n_attrs;
} rg_policy_request_t;

typedef struct rg_policy_parser rg_policy_parser_t;

/* A parser with the given limits (NULL = defaults). 0 with *out owned by the caller
 * (rg_policy_parser_free), or RG_ENOMEM. Memory is bounded by the limits. */
int rg_policy_parser_new(const rg_policy_limits_t *lim, rg_policy_parser_t **out);

/* Frees the parser. Accepts NULL. */
void rg_policy_parser_free(rg_policy_parser_t *p);

/* Consumes bytes of data[0..n) until a request is complete or the bytes run out: *used says
 * how many were taken, *req is the complete request or NULL (more bytes needed). Call again
 * with the rest while *used < n. Errors (the connection should be closed; the parser stays
 * in error): RG_ETOO_LARGE (a line, the attribute count or the request over its limit),
 * RG_EBAD_REQUEST (a line without '=', an empty or non-printable name, a NUL byte), with a
 * message in err (capacity errlen). A line may end in "\n" or "\r\n". */
int rg_policy_parser_feed(rg_policy_parser_t *p, const uint8_t *data, size_t n, size_t *used,
                          const rg_policy_request_t **req, char *err, size_t errlen);

/* True while a request has begun but is not complete (bytes are buffered). */
int rg_policy_parser_partial(const rg_policy_parser_t *p);

/* The value of the first attribute called `name`, or NULL. Borrowed from the request. */
const char *rg_policy_request_get(const rg_policy_request_t *r, const char *name);

#endif
