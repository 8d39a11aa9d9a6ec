/* fuzz_frame.c — libFuzzer target for the server's input path: the input is a byte stream
 * read from a socket, cut into frames (rg_proto_frame_length), each body checked and
 * decoded into a request of any op (rg_proto_decode_request), whose strings are then
 * normalised the way the engine does (actors, edge kinds, verdicts, sources). Errors get
 * an error reply. Checked properties, beyond memory safety (ASan) and UB (UBSan):
 *  - a body that rg_proto_check_msgpack accepts is one msgpack value msgpack-c decodes whole;
 *  - decoded strings lie inside the frame body they borrow from;
 *  - every refusal but out_of_memory carries a message, and its error reply is well formed. */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/actor.h"
#include "repgraph/err.h"
#include "repgraph/proto.h"
#include "repgraph/vocab.h"

#define CHECK(cond)       \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

static const rg_proto_limits_t LIM = {
    .max_frame_bytes = 1 << 20, .max_batch_items = 1000, .max_recipients = 100};

static const uint8_t *body_start;
static size_t body_len;

static void check_str(rg_str_t s) {
  if (!s.len) return;
  CHECK((const uint8_t *)s.ptr >= body_start &&
        (const uint8_t *)s.ptr + s.len <= body_start + body_len);
}

static void normalize(rg_actor_type_t type, rg_str_t s) {
  rg_actor_t a;
  check_str(s);
  (void)rg_actor_normalize(type, s.ptr, s.len, &a, NULL);
}

static void parse_actor(rg_str_t s) {
  rg_actor_t a;
  check_str(s);
  (void)rg_actor_parse(s.ptr, s.len, &a, NULL);
}

static void observation(const rg_wire_observation_t *o) {
  normalize(RG_ACTOR_ADDRESS, o->sender);
  normalize(RG_ACTOR_IP, o->client_ip);
  normalize(RG_ACTOR_DOMAIN, o->helo);
  for (uint32_t i = 0; i < o->n_recipients; i++) normalize(RG_ACTOR_ADDRESS, o->recipients[i]);
}

/* What the engine does with a decoded request before it reaches the store. */
static void use_request(const rg_request_t *r) {
  CHECK(rg_op_name((int)r->op) != NULL);
  for (uint32_t i = 0; i < r->n_edges; i++) {
    rg_edge_kind_t kind;
    parse_actor(r->edges[i].src);
    parse_actor(r->edges[i].dst);
    check_str(r->edges[i].kind);
    (void)rg_edge_kind_parse(r->edges[i].kind.ptr, r->edges[i].kind.len, &kind);
  }
  for (uint32_t i = 0; i < r->n_observations; i++) observation(&r->observations[i]);
  if (r->op == RG_OP_CHECK) observation(&r->check);
  for (uint32_t i = 0; i < r->n_labels; i++) {
    const rg_wire_label_t *l = &r->labels[i];
    rg_verdict_t v;
    rg_label_source_t src;
    parse_actor(l->actor);
    check_str(l->verdict);
    check_str(l->source);
    check_str(l->note);
    (void)rg_verdict_parse(l->verdict.ptr, l->verdict.len, &v);
    (void)rg_label_source_parse(l->source.ptr, l->source.len, &src);
  }
  for (uint32_t i = 0; i < r->n_actors; i++) parse_actor(r->actors[i]);
}

/* rg_proto_check_msgpack's promise, held against msgpack-c itself. */
static void check_structure(const uint8_t *body, size_t len) {
  if (rg_proto_check_msgpack(body, len, 16) != RG_OK) return;
  msgpack_unpacked up;
  size_t off = 0;
  msgpack_unpacked_init(&up);
  msgpack_unpack_return ur = msgpack_unpack_next(&up, (const char *)body, len, &off);
  CHECK(ur == MSGPACK_UNPACK_SUCCESS && off == len);
  msgpack_unpacked_destroy(&up);
}

static void refuse(const rg_request_t *r, int rc, const char *err) {
  CHECK(rc < 0 && rg_err_name(rc) != NULL);
  if (rc != RG_ENOMEM) CHECK(err[0] != '\0');
  rg_buf_t out;
  rg_buf_init(&out, 0);
  CHECK(rg_proto_write_error(&out, r->has_id, r->id, rc, err) == RG_OK);
  CHECK(out.len > RG_FRAME_HEADER && rg_get_u32be(out.data) == out.len - RG_FRAME_HEADER);
  CHECK(rg_proto_check_msgpack(out.data + RG_FRAME_HEADER, out.len - RG_FRAME_HEADER, 16) == RG_OK);
  rg_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0;
  while (size - off >= RG_FRAME_HEADER) {
    uint32_t len;
    if (rg_proto_frame_length(data + off, LIM.max_frame_bytes, &len) != RG_OK) return 0;
    off += RG_FRAME_HEADER;
    if (len > size - off) return 0; /* the rest of the frame never arrives */
    /* Its own allocation, so that reading past the body is an ASan error. */
    uint8_t *body = malloc(len ? len : 1);
    CHECK(body);
    memcpy(body, data + off, len);
    off += len;
    body_start = body;
    body_len = len;
    check_structure(body, len);
    rg_request_t req;
    char err[256] = "";
    int rc = rg_proto_decode_request(body, len, &LIM, &req, err, sizeof err);
    if (rc == RG_OK)
      use_request(&req);
    else
      refuse(&req, rc, err);
    rg_request_free(&req);
    free(body);
    if (rc == RG_ENOT_A_MAP) return 0; /* the server closes the connection */
  }
  return 0;
}
