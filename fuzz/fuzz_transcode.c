/* fuzz_transcode.c — libFuzzer target for the client's NDJSON input path: each input line
 * is parsed as JSON and written as msgpack (what `repgraph ingest` sends), and replies go
 * the other way (msgpack → JSON → text). Checked properties: what the writer produces is
 * one well-formed msgpack value; when it nests no deeper than the server accepts, decoding
 * it back gives the same JSON text. The whole input is also taken as a reply (one msgpack
 * value, whatever its strings hold): it always prints, as valid UTF-8 JSON that parses
 * back, and as text. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/proto.h"
#include "repgraph/text.h"
#include "repgraph/transcode.h"

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

static void dump(const rg_json_t *j, rg_buf_t *out) {
  rg_buf_init(out, 0);
  CHECK(rg_json_dump(j, false, out) == RG_OK);
}

static void line(const char *text, size_t len) {
  rg_json_t *j, *back;
  char err[200];
  if (rg_json_parse(text, len, &j, err, sizeof err) != RG_OK) {
    CHECK(err[0] != '\0');
    return;
  }
  rg_buf_t mp, a, b, people;
  rg_buf_init(&mp, 0);
  rg_wr_t w;
  rg_wr_init(&w, &mp);
  rg_json_write_msgpack(j, &w);
  CHECK(w.err == RG_OK);
  if (rg_proto_check_msgpack(mp.data, mp.len, 16) == RG_OK) {
    CHECK(rg_json_from_msgpack(mp.data, mp.len, &back) == RG_OK);
    dump(j, &a);
    dump(back, &b);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    rg_buf_init(&people, 0);
    CHECK(rg_json_text(back, &people) == RG_OK);
    rg_buf_free(&people);
    rg_buf_free(&a);
    rg_buf_free(&b);
    rg_json_free(back);
  }
  rg_buf_free(&mp);
  rg_json_free(j);
}

/* A reply as the CLI prints it (--json and text). */
static void reply(const uint8_t *data, size_t size) {
  rg_json_t *j, *back;
  char err[200];
  if (rg_proto_check_msgpack(data, size, 16) != RG_OK) return;
  if (rg_json_from_msgpack(data, size, &j) != RG_OK) return;
  rg_buf_t a, people;
  dump(j, &a);
  CHECK(rg_utf8_valid((const char *)a.data, a.len));
  /* jansson's parser (without JSON_ALLOW_NUL) refuses "\u0000", valid JSON all the same */
  bool nul = false;
  for (size_t i = 0; !nul && i + 6 <= a.len; i++) nul = memcmp(a.data + i, "\\u0000", 6) == 0;
  if (!nul) {
    CHECK(rg_json_parse((const char *)a.data, a.len, &back, err, sizeof err) == RG_OK);
    rg_json_free(back);
  }
  rg_buf_init(&people, 0);
  CHECK(rg_json_text(j, &people) == RG_OK);
  rg_buf_free(&people);
  rg_buf_free(&a);
  rg_json_free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reply(data, size);
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    line(p, n);
    p += n + 1;
  }
  return 0;
}
