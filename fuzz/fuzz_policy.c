/* fuzz_policy.c — libFuzzer target for the Postfix policy request parser: the input is the
 * byte stream of one policy connection. It is parsed twice, whole and in chunks whose sizes
 * come from the input itself, with small limits so they are reached. Checked properties,
 * beyond memory safety (ASan) and UB (UBSan):
 *  - both feedings give the same requests and the same final error;
 *  - every feed consumes at least one byte, every error has a message;
 *  - attribute names are non-empty words, neither names nor values hold a newline. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/policy_proto.h"

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

static const rg_policy_limits_t LIM = {.max_line = 64, .max_attrs = 16, .max_request = 512};

typedef struct {
  unsigned long hash;
  unsigned requests;
  int rc;
} outcome_t;

static void mix(outcome_t *o, const char *s) {
  for (; *s; s++) o->hash = o->hash * 131 + (unsigned char)*s;
  o->hash = o->hash * 131 + 1;
}

static outcome_t run(const uint8_t *data, size_t size, const uint8_t *chunks, size_t n_chunks) {
  outcome_t o = {0};
  rg_policy_parser_t *p;
  CHECK(rg_policy_parser_new(&LIM, &p) == RG_OK);
  size_t off = 0, k = 0;
  while (off < size && !o.rc) {
    size_t n = size - off;
    if (n_chunks) {
      size_t c = (size_t)chunks[k++ % n_chunks] % 17 + 1;
      if (c < n) n = c;
    }
    size_t pos = 0;
    while (pos < n && !o.rc) {
      size_t used;
      const rg_policy_request_t *req;
      char err[128] = "";
      o.rc = rg_policy_parser_feed(p, data + off + pos, n - pos, &used, &req, err, sizeof err);
      CHECK(used >= 1 && used <= n - pos);
      CHECK(!o.rc || err[0]);
      CHECK(!o.rc || !req);
      pos += used;
      if (!req) continue;
      o.requests++;
      CHECK(req->n_attrs <= LIM.max_attrs);
      for (uint32_t i = 0; i < req->n_attrs; i++) {
        const char *name = req->attrs[i].name, *value = req->attrs[i].value;
        CHECK(name[0] && !strchr(name, '=') && !strchr(name, '\n'));
        CHECK(!strchr(value, '\n') && strlen(name) + 1 + strlen(value) <= LIM.max_line + 1);
        mix(&o, name);
        mix(&o, value);
      }
      mix(&o, "|");
    }
    off += n;
  }
  rg_policy_parser_free(p);
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  outcome_t whole = run(data, size, NULL, 0);
  outcome_t chunked = run(data, size, data, size < 8 ? size : 8);
  CHECK(whole.rc == chunked.rc && whole.requests == chunked.requests && whole.hash == chunked.hash);
  return 0;
}
