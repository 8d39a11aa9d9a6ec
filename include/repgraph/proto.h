/* proto.h — the wire format: frames (4-byte big-endian length + one msgpack map), the op
 * table, request decoding into structs and a response writer. No I/O; msgpack.h stays in
 * proto.c. Protocol as data: schemas/protocol.json. Any thread; no shared state. */
#ifndef RG_PROTO_H
#define RG_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repgraph/buf.h"
#include "repgraph/config.h" /* RG_PROTO_DEPTH_MAX */

#define RG_PROTO_VERSION       1
#define RG_EXPORT_CLUSTERS_MAX 64 /* clusters in one export request */
#define RG_FRAME_HEADER        4

/* Roles, weakest first: a connection may run an op when its role is at least the op's.
 * NONE is what a connection has before it authenticates (when auth is configured). */
#define RG_ROLE_MAP(X) \
  X(NONE, "none")      \
  X(READ, "read")      \
  X(WRITE, "write")    \
  X(ADMIN, "admin")

typedef enum {
#define RG__ROLE_ENUM(name, text) RG_ROLE_##name,
  RG_ROLE_MAP(RG__ROLE_ENUM)
#undef RG__ROLE_ENUM
      RG_ROLE_COUNT
} rg_role_t;

/* Ops: X(NAME, "wire name", writes?, role needed). Write ops go through the writer thread.
 * Every op names the weakest role that may run it (schemas/protocol.json: "role"). */
#define RG_OP_MAP(X)                             \
  X(PING, "ping", false, NONE)                   \
  X(INGEST, "ingest", true, WRITE)               \
  X(LOOKUP, "lookup", false, READ)               \
  X(LABEL, "label", true, WRITE)                 \
  X(FORGET, "forget", true, ADMIN)               \
  X(STATS, "stats", false, READ)                 \
  X(RECOMPUTE, "recompute", false, ADMIN)        \
  X(STATUS, "status", false, READ)               \
  X(CHECK, "check", false, READ)                 \
  X(CLUSTERS, "clusters", false, READ)           \
  X(TOP, "top", false, READ)                     \
  X(NEIGHBORS, "neighbors", false, READ)         \
  X(EXPORT, "export", false, ADMIN)              \
  X(HISTORY, "history", false, READ)             \
  X(LABEL_CLUSTER, "label_cluster", true, WRITE) \
  X(UNLABEL, "unlabel", true, WRITE)             \
  X(AUTH, "auth", false, NONE)                   \
  X(BACKUP, "backup", false, ADMIN)

typedef enum {
#define RG__OP_ENUM(name, text, writes, role) RG_OP_##name,
  RG_OP_MAP(RG__OP_ENUM)
#undef RG__OP_ENUM
      RG_OP_COUNT
} rg_op_t;

/* Wire name of an op, or NULL if out of range. */
const char *rg_op_name(int op);
/* True for ops that go through the writer (ingest, label, forget, label_cluster,
 * unlabel: the ops RG_OP_MAP marks as writes). */
bool rg_op_writes(rg_op_t op);
/* The weakest role allowed to run op (RG_ROLE_ADMIN for ops out of range). */
rg_role_t rg_op_role(rg_op_t op);
/* Wire name of a role ("read", …), or NULL if out of range. */
const char *rg_role_name(int role);

/* A string borrowed from the frame it was decoded from (not NUL-terminated). */
typedef struct {
  const char *ptr;
  uint32_t len;
} rg_str_t;

/* Items of a batch (edges, observations, labels) that the decoder could not read are marked
 * rather than failing the request: `invalid` is the RG_E... code for that item only and `why`
 * a message naming the field (valid UTF-8, client bytes escaped) in memory the request owns
 * (until rg_request_free). The other fields of a marked item are unspecified. */
typedef struct {
  rg_str_t src, dst, kind;
  int64_t ts;     /* 0 = not given (the server's clock is used) */
  double weight;  /* default 1 */
  uint64_t count; /* default 1 */
  int invalid;    /* 0, or why this item is refused (see above) */
  const char *why;
} rg_wire_edge_t;

typedef struct {
  int64_t ts;
  rg_str_t sender, client_ip, helo; /* helo.len == 0 when absent */
  rg_str_t rdns;                    /* the client's verified reverse name; len 0 when absent */
  bool authenticated;               /* an authenticated submission (SMTP AUTH) */
  rg_str_t *recipients;
  uint32_t n_recipients;
  int invalid; /* 0, or why this item is refused (see above) */
  const char *why;
} rg_wire_observation_t;

/* Label weights: a given weight must lie in (0, RG_LABEL_WEIGHT_MAX]; 0 or more is refused for
 * that label only. The bound keeps one write token from planting a seed that outweighs
 * every other label (README "Labels"). */
#define RG_LABEL_WEIGHT_MAX 10.0

typedef struct {
  rg_str_t actor, verdict, source, note;
  double weight; /* < 0 = not given (the source's default) */
  int64_t ts;
  int invalid; /* 0, or why this item is refused (see above) */
  const char *why;
} rg_wire_label_t;

/* A decoded request. Arrays are owned by the request (rg_request_free); strings point into
 * the frame bytes and stay valid only as long as those bytes do. */
typedef struct {
  rg_op_t op;
  bool has_id;
  uint64_t id;
  rg_wire_edge_t *edges;
  uint32_t n_edges;
  rg_wire_observation_t *observations;
  uint32_t n_observations;
  rg_wire_label_t *labels;
  uint32_t n_labels;
  rg_str_t *actors; /* lookup, forget */
  uint32_t n_actors;
  rg_wire_observation_t check; /* check: the message's sender, client_ip, helo, recipients */
  bool wait;                   /* recompute: reply when done rather than at once */
  bool dry_run;                /* label_cluster: say what it would label, label nothing */
  bool force;                  /* label_cluster: label members the guard would skip */
  double min_reputation;       /* label_cluster: the guard's threshold; < 0 = configured */
  rg_str_t token;              /* auth: the secret presented */
  /* analyst ops (clusters, top, neighbors, export, label_cluster, unlabel); 0 / empty when
   * absent */
  uint64_t limit, offset, min_size, depth, generation, cluster;
  uint64_t scan_from; /* clusters: position in the suspicion order where the scan starts */
  int64_t first_seen_after;
  double min_suspicion; /* < 0 when absent */
  rg_str_t sort, type, metric, order, actor, cursor;
  uint64_t *clusters; /* export */
  uint32_t n_clusters;
  rg_wire_label_t label; /* label_cluster: verdict, source, note, weight, ts; unlabel: note */
  void *mem;             /* decoder state; owned */
  rg_str_t path;         /* backup: the new directory (absolute) on the server's host */
  bool repack;           /* backup: rewrite the rows in key order (pages filled) */
  int64_t now; /* the time writes are taken at (cluster mode: the publisher's); 0 = the clock */
} rg_request_t;

typedef struct {
  uint32_t max_frame_bytes;  /* body bytes */
  uint32_t max_batch_items;  /* edges + observations + labels + actors */
  uint32_t max_recipients;   /* per observation */
  uint32_t max_depth;        /* container nesting; 0 = RG_PROTO_DEPTH_DEFAULT */
  uint32_t max_string_bytes; /* longest string field; 0 = RG_PROTO_STRING_DEFAULT */
} rg_proto_limits_t;

#define RG_PROTO_DEPTH_DEFAULT  16   /* requests nest 4 deep; leave room, refuse abuse */
#define RG_PROTO_STRING_DEFAULT 1024 /* notes and tokens; actors have their own, smaller cap */

/* Reads a frame header. 0 with *len set; RG_ETOO_LARGE if the body exceeds max. */
int rg_proto_frame_length(const uint8_t hdr[RG_FRAME_HEADER], uint32_t max, uint32_t *len);

/* Decodes one frame body into *req (zeroed first). 0 on success. Errors, with a message
 * naming the field in err (capacity errlen; valid UTF-8, client bytes escaped):
 * RG_ENOT_A_MAP (not exactly one msgpack map — the connection should be closed),
 * RG_EBAD_REQUEST (missing or mistyped field of the request itself), RG_EUNKNOWN_OP,
 * RG_ETOO_LARGE (batch over a limit), RG_ENOMEM. A bad field inside one edge, observation
 * or label only marks that item (its `invalid` and `why`) and decoding goes on. When the id
 * could be read it is set even on error, so the reply can echo it. Call rg_request_free in
 * every case. */
int rg_proto_decode_request(const uint8_t *body, size_t len, const rg_proto_limits_t *lim,
                            rg_request_t *req, char *err, size_t errlen);

/* Frees what the decoder allocated. Accepts NULL and zeroed requests. */
void rg_request_free(rg_request_t *req);

/* Checks that msgpack bytes are exactly one well-formed value whose containers declare no
 * more elements than there are bytes left, and nest at most `max_depth` deep — so decoding
 * cannot be made to allocate more than a small multiple of len. 0 or RG_ENOT_A_MAP. */
int rg_proto_check_msgpack(const uint8_t *data, size_t len, unsigned max_depth);

/* ---- response writer --------------------------------------------------------------- */

/* Appends msgpack values to a buffer. Errors (buffer cap, memory) are sticky: the first
 * one is kept and later calls do nothing; rg_wr_end reports it. */
typedef struct {
  rg_buf_t *out;
  size_t frame_start;
  int err;
} rg_wr_t;

/* Starts a frame at the end of `out` (reserving its header). */
void rg_wr_begin(rg_wr_t *w, rg_buf_t *out);
/* Finishes the frame (patching its length). 0, or the first error, in which case the
 * partial frame is removed from the buffer. */
int rg_wr_end(rg_wr_t *w);

/* Starts writing bare values (no frame) at the end of `out`; rg_wr_end is not needed —
 * check w->err. */
void rg_wr_init(rg_wr_t *w, rg_buf_t *out);
/* Appends bytes that are already msgpack (e.g. values written with rg_wr_init). */
void rg_wr_raw(rg_wr_t *w, const void *bytes, size_t n);

void rg_wr_map(rg_wr_t *w, uint32_t n);
void rg_wr_array(rg_wr_t *w, uint32_t n);
void rg_wr_str(rg_wr_t *w, const char *s); /* NUL-terminated; NULL writes nil */
void rg_wr_strn(rg_wr_t *w, const char *s, size_t n);
void rg_wr_uint(rg_wr_t *w, uint64_t v);
void rg_wr_int(rg_wr_t *w, int64_t v);
void rg_wr_double(rg_wr_t *w, double v);
void rg_wr_bool(rg_wr_t *w, bool v);
void rg_wr_nil(rg_wr_t *w);

/* Starts a response map of n_fields + 1 entries, the first being "id" (nil if none). */
void rg_wr_reply(rg_wr_t *w, bool has_id, uint64_t id, uint32_t n_fields);

/* Writes a whole error frame {id, error: {code, message}} to out. 0 or the writer error. */
int rg_proto_write_error(rg_buf_t *out, bool has_id, uint64_t id, int code, const char *message);

#endif
