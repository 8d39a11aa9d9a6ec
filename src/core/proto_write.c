/* proto_write.c — the response writer (rg_wr_*, proto.h): msgpack values appended to a
 * caller's buffer, small ones written directly, the rest through msgpack-c's packer, and
 * whole error frames. Pure functions over caller buffers; any thread. */
#include <msgpack.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/proto.h"

static int wr_write(void *data, const char *buf, size_t len) {
  rg_wr_t *w = data;
  if (w->err) return -1;
  rg_buf_t *b = w->out;
  if (b->data &&
      len <= b->cap - b->len) { /* fast path: fits (cap never exceeds the buffer's max) */
    memcpy(b->data + b->len, buf, len);
    b->len += len;
    return 0;
  }
  int rc = rg_buf_append(w->out, buf, len);
  if (rc) w->err = rc;
  return rc ? -1 : 0;
}

#define WITH_PACKER(w, call)                 \
  do {                                       \
    msgpack_packer pk;                       \
    msgpack_packer_init(&pk, (w), wr_write); \
    if (!(w)->err) (void)(call);             \
  } while (0)

void rg_wr_begin(rg_wr_t *w, rg_buf_t *out) {
  w->out = out;
  w->frame_start = out->len;
  w->err = 0;
  static const uint8_t hdr[RG_FRAME_HEADER] = {0};
  w->err = rg_buf_append(out, hdr, sizeof hdr);
}

void rg_wr_init(rg_wr_t *w, rg_buf_t *out) {
  w->out = out;
  w->frame_start = out->len;
  w->err = 0;
}

void rg_wr_raw(rg_wr_t *w, const void *bytes, size_t n) {
  if (!w->err) w->err = rg_buf_append(w->out, bytes, n);
}

int rg_wr_end(rg_wr_t *w) {
  if (w->err) {
    if (w->out->len > w->frame_start) w->out->len = w->frame_start;
    return w->err;
  }
  size_t body = w->out->len - w->frame_start - RG_FRAME_HEADER;
  rg_put_u32be(w->out->data + w->frame_start, (uint32_t)body);
  return RG_OK;
}

/* Lookup replies are mostly small maps, short strings and small integers: those are
 * written as their one-byte msgpack header (+ body) in one step; the rest go through
 * msgpack's packer. */
static void wr_small(rg_wr_t *w, uint8_t header, const char *body, size_t n) {
  rg_buf_t *b = w->out;
  if (w->err) return;
  if (!b->data || n + 1 > b->cap - b->len) {
    if ((w->err = rg_buf_reserve(b, n + 1))) return;
  }
  b->data[b->len] = header;
  if (n) memcpy(b->data + b->len + 1, body, n);
  b->len += n + 1;
}

void rg_wr_map(rg_wr_t *w, uint32_t n) {
  if (n < 16)
    wr_small(w, (uint8_t)(0x80 | n), NULL, 0); /* fixmap */
  else
    WITH_PACKER(w, msgpack_pack_map(&pk, n));
}
void rg_wr_array(rg_wr_t *w, uint32_t n) {
  if (n < 16)
    wr_small(w, (uint8_t)(0x90 | n), NULL, 0); /* fixarray */
  else
    WITH_PACKER(w, msgpack_pack_array(&pk, n));
}
void rg_wr_strn(rg_wr_t *w, const char *s, size_t n) {
  if (n < 32)
    wr_small(w, (uint8_t)(0xa0 | n), s, n); /* fixstr */
  else
    WITH_PACKER(w, msgpack_pack_str_with_body(&pk, s, n));
}
void rg_wr_str(rg_wr_t *w, const char *s) {
  if (s)
    rg_wr_strn(w, s, strlen(s));
  else
    rg_wr_nil(w);
}
void rg_wr_uint(rg_wr_t *w, uint64_t v) {
  if (v < 128)
    wr_small(w, (uint8_t)v, NULL, 0); /* positive fixint */
  else
    WITH_PACKER(w, msgpack_pack_uint64(&pk, v));
}
void rg_wr_int(rg_wr_t *w, int64_t v) {
  WITH_PACKER(w, msgpack_pack_int64(&pk, v));
}
void rg_wr_double(rg_wr_t *w, double v) {
  WITH_PACKER(w, msgpack_pack_double(&pk, v));
}
void rg_wr_bool(rg_wr_t *w, bool v) {
  wr_small(w, v ? 0xc3 : 0xc2, NULL, 0);
}
void rg_wr_nil(rg_wr_t *w) {
  wr_small(w, 0xc0, NULL, 0);
}

void rg_wr_reply(rg_wr_t *w, bool has_id, uint64_t id, uint32_t n_fields) {
  rg_wr_map(w, n_fields + 1);
  rg_wr_str(w, "id");
  if (has_id)
    rg_wr_uint(w, id);
  else
    rg_wr_nil(w);
}

int rg_proto_write_error(rg_buf_t *out, bool has_id, uint64_t id, int code, const char *message) {
  rg_wr_t w;
  rg_wr_begin(&w, out);
  rg_wr_reply(&w, has_id, id, 1);
  rg_wr_str(&w, "error");
  rg_wr_map(&w, 2);
  rg_wr_str(&w, "code");
  rg_wr_str(&w, rg_err_name(code));
  rg_wr_str(&w, "message");
  rg_wr_str(&w, message && message[0] ? message : rg_strerror(code));
  return rg_wr_end(&w);
}
