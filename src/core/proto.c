/* proto.c — frames and request decoding over msgpack-c (the response writer: proto_write.c).
 * Pure functions over caller buffers; any thread. */
#include "repgraph/proto.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/actor.h"
#include "repgraph/err.h"
#include "repgraph/text.h"

static const char *const op_names[] = {
#define RG__OP_NAME(name, text, writes, role) text,
    RG_OP_MAP(RG__OP_NAME)
#undef RG__OP_NAME
};
static const bool op_writes[] = {
#define RG__OP_WRITES(name, text, writes, role) writes,
    RG_OP_MAP(RG__OP_WRITES)
#undef RG__OP_WRITES
};
static const rg_role_t op_roles[] = {
#define RG__OP_ROLE(name, text, writes, role) RG_ROLE_##role,
    RG_OP_MAP(RG__OP_ROLE)
#undef RG__OP_ROLE
};
static const char *const role_names[] = {
#define RG__ROLE_NAME(name, text) text,
    RG_ROLE_MAP(RG__ROLE_NAME)
#undef RG__ROLE_NAME
};

const char *rg_op_name(int op) {
  return op >= 0 && op < RG_OP_COUNT ? op_names[op] : NULL;
}
bool rg_op_writes(rg_op_t op) {
  return op >= 0 && op < RG_OP_COUNT && op_writes[op];
}
rg_role_t rg_op_role(rg_op_t op) {
  return op >= 0 && op < RG_OP_COUNT ? op_roles[op] : RG_ROLE_ADMIN;
}
const char *rg_role_name(int role) {
  return role >= 0 && role < RG_ROLE_COUNT ? role_names[role] : NULL;
}

int rg_proto_frame_length(const uint8_t hdr[RG_FRAME_HEADER], uint32_t max, uint32_t *len) {
  *len = rg_get_u32be(hdr);
  return *len > max ? RG_ETOO_LARGE : RG_OK;
}

/* ---- structural check before allocation --------------------------------------------- */

/* Reads an n-byte big-endian length at data[*off], advancing *off. -1 if truncated. */
static int64_t read_len(const uint8_t *d, size_t len, size_t *off, unsigned n) {
  if (n > len - *off) return -1;
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v = (v << 8) | d[(*off)++];
  return (int64_t)v;
}

int rg_proto_check_msgpack(const uint8_t *d, size_t len, unsigned max_depth) {
  uint64_t need[RG_PROTO_DEPTH_MAX + 2];
  int top = 0;
  size_t off = 0;
  if (max_depth > RG_PROTO_DEPTH_MAX) max_depth = RG_PROTO_DEPTH_MAX;
  need[0] = 1;
  while (top >= 0) {
    if (need[top] == 0) {
      top--;
      continue;
    }
    need[top]--;
    if (off >= len) return RG_ENOT_A_MAP;
    uint8_t b = d[off++];
    int64_t skip = 0, children = 0;
    if (b <= 0x7f || b >= 0xe0) {
      /* positive or negative fixint */
    } else if ((b & 0xf0) == 0x80) {
      children = 2 * (b & 0x0f);
    } else if ((b & 0xf0) == 0x90) {
      children = b & 0x0f;
    } else if ((b & 0xe0) == 0xa0) {
      skip = b & 0x1f;
    } else {
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3: break;
        case 0xc4:
        case 0xd9: skip = read_len(d, len, &off, 1); break;
        case 0xc5:
        case 0xda: skip = read_len(d, len, &off, 2); break;
        case 0xc6:
        case 0xdb: skip = read_len(d, len, &off, 4); break;
        case 0xc7:
          skip = read_len(d, len, &off, 1);
          skip = skip < 0 ? -1 : skip + 1;
          break;
        case 0xc8:
          skip = read_len(d, len, &off, 2);
          skip = skip < 0 ? -1 : skip + 1;
          break;
        case 0xc9:
          skip = read_len(d, len, &off, 4);
          skip = skip < 0 ? -1 : skip + 1;
          break;
        case 0xcc:
        case 0xd0: skip = 1; break;
        case 0xcd:
        case 0xd1: skip = 2; break;
        case 0xca:
        case 0xce:
        case 0xd2: skip = 4; break;
        case 0xcb:
        case 0xcf:
        case 0xd3: skip = 8; break;
        case 0xd4: skip = 2; break;
        case 0xd5: skip = 3; break;
        case 0xd6: skip = 5; break;
        case 0xd7: skip = 9; break;
        case 0xd8: skip = 17; break;
        case 0xdc: children = read_len(d, len, &off, 2); break;
        case 0xdd: children = read_len(d, len, &off, 4); break;
        case 0xde:
          children = read_len(d, len, &off, 2);
          children = children < 0 ? -1 : 2 * children;
          break;
        case 0xdf:
          children = read_len(d, len, &off, 4);
          children = children < 0 ? -1 : 2 * children;
          break;
        default: return RG_ENOT_A_MAP; /* 0xc1: never used */
      }
    }
    if (skip < 0 || children < 0 || (uint64_t)skip > len - off) return RG_ENOT_A_MAP;
    off += (size_t)skip;
    if (children > 0) {
      if ((uint64_t)children > len - off || (unsigned)top + 1 > max_depth) return RG_ENOT_A_MAP;
      need[++top] = (uint64_t)children;
    }
  }
  return off == len ? RG_OK : RG_ENOT_A_MAP;
}

/* ---- request decoding --------------------------------------------------------------- */

typedef struct {
  msgpack_unpacked up;
  rg_str_t *recipients; /* one pool for all observations */
  char **whys;          /* messages of marked items, each malloc'ed */
  uint32_t n_whys, cap_whys;
} decoder_mem_t;

typedef struct {
  char *err;
  size_t errlen;
  const rg_proto_limits_t *lim;
  uint32_t max_string; /* lim->max_string_bytes, or its default */
  decoder_mem_t *mem;
} dctx_t;

static int fail(dctx_t *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(dctx_t *c, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, c->errlen, fmt, ap);
  va_end(ap);
  return code;
}

static bool key_is(const msgpack_object *k, const char *name) {
  size_t n = strlen(name);
  return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
         memcmp(k->via.str.ptr, name, n) == 0;
}

static const msgpack_object *field(const msgpack_object *map, const char *name) {
  for (uint32_t i = 0; i < map->via.map.size; i++)
    if (key_is(&map->via.map.ptr[i].key, name)) return &map->via.map.ptr[i].val;
  return NULL;
}

/* Reads a string field. Absent: error if required, else leaves *out empty. */
static int get_str(dctx_t *c, const msgpack_object *map, const char *path, const char *name,
                   bool required, uint32_t max, rg_str_t *out) {
  const msgpack_object *v = field(map, name);
  *out = (rg_str_t){NULL, 0};
  if (!v || v->type == MSGPACK_OBJECT_NIL) {
    return required ? fail(c, RG_EBAD_REQUEST, "%s.%s: missing", path, name) : RG_OK;
  }
  if (v->type != MSGPACK_OBJECT_STR)
    return fail(c, RG_EBAD_REQUEST, "%s.%s: expected a string", path, name);
  if (max > c->max_string) max = c->max_string;
  if (v->via.str.size > max)
    return fail(c, RG_EBAD_REQUEST, "%s.%s: longer than %u bytes", path, name, max);
  *out = (rg_str_t){v->via.str.ptr, v->via.str.size};
  return RG_OK;
}

/* Reads an integer field >= 0 (absent leaves *out at its default). */
static int get_uint(dctx_t *c, const msgpack_object *map, const char *path, const char *name,
                    uint64_t *out) {
  const msgpack_object *v = field(map, name);
  if (!v || v->type == MSGPACK_OBJECT_NIL) return RG_OK;
  if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
    return fail(c, RG_EBAD_REQUEST, "%s.%s: expected a non-negative integer", path, name);
  *out = v->via.u64;
  return RG_OK;
}

/* Reads a timestamp in seconds (positive integer below 2^62). */
static int get_ts(dctx_t *c, const msgpack_object *map, const char *path, int64_t *out) {
  uint64_t v = 0;
  int rc = get_uint(c, map, path, "ts", &v);
  if (rc) return rc;
  if (v >= (UINT64_C(1) << 62)) return fail(c, RG_EBAD_REQUEST, "%s.ts: out of range", path);
  *out = (int64_t)v;
  return RG_OK;
}

/* Reads a finite number in [0, max] (integer or float); absent leaves *out unchanged. */
static int get_number(dctx_t *c, const msgpack_object *map, const char *path, const char *name,
                      double max, double *out) {
  const msgpack_object *v = field(map, name);
  if (!v || v->type == MSGPACK_OBJECT_NIL) return RG_OK;
  double w;
  if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    w = (double)v->via.u64;
  else if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64)
    w = v->via.f64;
  else
    return fail(c, RG_EBAD_REQUEST, "%s.%s: expected a number", path, name);
  if (!(w >= 0 && w <= max))
    return fail(c, RG_EBAD_REQUEST, "%s.%s: not in [0, %g]", path, name, max);
  *out = w;
  return RG_OK;
}

static int get_weight(dctx_t *c, const msgpack_object *map, const char *path, double *out) {
  return get_number(c, map, path, "weight", 1e9, out);
}

/* A label's weight: absent leaves *out; otherwise in (0, RG_LABEL_WEIGHT_MAX] or
 * RG_EINVALID_LABEL. */
static int get_label_weight(dctx_t *c, const msgpack_object *map, const char *path, double *out) {
  double w = -1;
  int rc = get_number(c, map, path, "weight", 1e300, &w);
  if (rc || w < 0) return rc;
  if (!(w > 0 && w <= RG_LABEL_WEIGHT_MAX))
    return fail(c, RG_EINVALID_LABEL, "%s.weight: %g is not in (0, %g]", path, w,
                RG_LABEL_WEIGHT_MAX);
  *out = w;
  return RG_OK;
}

/* After an item at `path` failed with rc: a problem of that item alone (a missing, mistyped
 * or out-of-range field, too many recipients) marks it — code in *invalid, the message without
 * its "path." prefix in *why — clears the request error and returns 0; anything else (memory)
 * is returned. */
static int mark_item(dctx_t *c, int rc, const char *path, int *invalid, const char **why) {
  if (rc != RG_EBAD_REQUEST && rc != RG_EINVALID_LABEL && rc != RG_ETOO_LARGE) return rc;
  decoder_mem_t *mem = c->mem;
  if (mem->n_whys == mem->cap_whys) {
    uint32_t cap = mem->cap_whys ? 2 * mem->cap_whys : 16;
    char **p = realloc(mem->whys, cap * sizeof *p);
    if (!p) return RG_ENOMEM;
    mem->whys = p;
    mem->cap_whys = cap;
  }
  size_t skip = strlen(path);
  const char *text = c->err;
  if (strncmp(text, path, skip) == 0 && text[skip] == '.') text += skip + 1;
  char *copy = strdup(text);
  if (!copy) return RG_ENOMEM;
  mem->whys[mem->n_whys++] = copy;
  *invalid = rc;
  *why = copy;
  c->err[0] = '\0';
  return RG_OK;
}

/* Finds an optional array field of the map at `path` (NULL at the top level); *n = 0 when
 * absent. */
static int get_array(dctx_t *c, const msgpack_object *map, const char *path, const char *name,
                     const msgpack_object **items, uint32_t *n) {
  const msgpack_object *v = field(map, name);
  *items = NULL;
  *n = 0;
  if (!v || v->type == MSGPACK_OBJECT_NIL) return RG_OK;
  if (v->type != MSGPACK_OBJECT_ARRAY)
    return fail(c, RG_EBAD_REQUEST, "%s%s%s: expected an array", path ? path : "", path ? "." : "",
                name);
  *items = v->via.array.ptr;
  *n = v->via.array.size;
  return RG_OK;
}

static int expect_map(dctx_t *c, const msgpack_object *o, const char *path) {
  return o->type == MSGPACK_OBJECT_MAP ? RG_OK
                                       : fail(c, RG_EBAD_REQUEST, "%s: expected a map", path);
}

/* Reads an optional boolean field (absent or nil leaves *out as it is). */
static int get_bool(dctx_t *c, const msgpack_object *map, const char *path, const char *name,
                    bool *out) {
  const msgpack_object *v = field(map, name);
  if (!v || v->type == MSGPACK_OBJECT_NIL) return RG_OK;
  if (v->type != MSGPACK_OBJECT_BOOLEAN)
    return fail(c, RG_EBAD_REQUEST, "%s.%s: expected a boolean", path, name);
  *out = v->via.boolean;
  return RG_OK;
}

/* Writes "<name>[<i>]" into path (the item's name in error messages), without printf:
 * it runs once per item of every request. path holds at least strlen(name) + 13 bytes. */
static void item_path(char *path, const char *name, uint32_t i) {
  char digits[10], *q = digits + sizeof digits;
  do *--q = (char)('0' + i % 10);
  while (i /= 10);
  size_t n = strlen(name), d = (size_t)(digits + sizeof digits - q);
  memcpy(path, name, n);
  path[n] = '[';
  memcpy(path + n + 1, q, d);
  path[n + 1 + d] = ']';
  path[n + 2 + d] = '\0';
}

static int decode_edges(dctx_t *c, const msgpack_object *items, rg_request_t *r) {
  for (uint32_t i = 0; i < r->n_edges; i++) {
    char path[32];
    item_path(path, "edges", i);
    rg_wire_edge_t *e = &r->edges[i];
    const msgpack_object *m = &items[i];
    e->weight = 1;
    e->count = 1;
    int rc = expect_map(c, m, path);
    if (!rc) rc = get_str(c, m, path, "src", true, RG_ACTOR_WIRE_MAX, &e->src);
    if (!rc) rc = get_str(c, m, path, "dst", true, RG_ACTOR_WIRE_MAX, &e->dst);
    if (!rc) rc = get_str(c, m, path, "kind", true, 64, &e->kind);
    if (!rc) rc = get_ts(c, m, path, &e->ts);
    if (!rc) rc = get_weight(c, m, path, &e->weight);
    if (!rc) rc = get_uint(c, m, path, "count", &e->count);
    if (!rc && (e->count == 0 || e->count > 1000000000))
      rc = fail(c, RG_EBAD_REQUEST, "%s.count: not in [1, 1e9]", path);
    if (rc && (rc = mark_item(c, rc, path, &e->invalid, &e->why))) return rc;
  }
  return RG_OK;
}

/* Decodes one observation map at `path`; its recipients go to *pool, which advances. */
static int decode_observation(dctx_t *c, const msgpack_object *m, const char *path,
                              rg_wire_observation_t *o, rg_str_t **pool) {
  const msgpack_object *rcpts;
  int rc = expect_map(c, m, path);
  if (!rc) rc = get_ts(c, m, path, &o->ts);
  if (!rc) rc = get_str(c, m, path, "sender", true, RG_ACTOR_WIRE_MAX, &o->sender);
  if (!rc) rc = get_str(c, m, path, "client_ip", true, RG_ACTOR_WIRE_MAX, &o->client_ip);
  if (!rc) rc = get_str(c, m, path, "helo", false, RG_ACTOR_WIRE_MAX, &o->helo);
  if (!rc) rc = get_str(c, m, path, "rdns", false, RG_ACTOR_WIRE_MAX, &o->rdns);
  if (!rc) rc = get_bool(c, m, path, "authenticated", &o->authenticated);
  if (!rc) rc = get_array(c, m, path, "recipients", &rcpts, &o->n_recipients);
  if (rc) return rc;
  if (o->n_recipients > c->lim->max_recipients)
    return fail(c, RG_ETOO_LARGE, "%s.recipients: %u recipients, the limit is %u", path,
                o->n_recipients, c->lim->max_recipients);
  o->recipients = *pool;
  if (o->n_recipients) *pool += o->n_recipients; /* (the pool is NULL when empty) */
  for (uint32_t j = 0; j < o->n_recipients; j++) {
    if (rcpts[j].type != MSGPACK_OBJECT_STR || rcpts[j].via.str.size > RG_ACTOR_WIRE_MAX)
      return fail(c, RG_EBAD_REQUEST, "%s.recipients[%u]: expected a string of at most %u bytes",
                  path, j, RG_ACTOR_WIRE_MAX);
    o->recipients[j] = (rg_str_t){rcpts[j].via.str.ptr, rcpts[j].via.str.size};
  }
  return RG_OK;
}

static size_t count_recipients(const msgpack_object *m) {
  const msgpack_object *r = m->type == MSGPACK_OBJECT_MAP ? field(m, "recipients") : NULL;
  return r && r->type == MSGPACK_OBJECT_ARRAY ? r->via.array.size : 0;
}

/* Decodes the observations of an ingest, or the one message of a check (the request map
 * itself, fields at its top level). One pool holds every recipient. */
static int decode_observations(dctx_t *c, const msgpack_object *root, const msgpack_object *items,
                               rg_request_t *r, decoder_mem_t *mem) {
  bool check = r->op == RG_OP_CHECK;
  size_t total = check ? count_recipients(root) : 0;
  for (uint32_t i = 0; i < r->n_observations; i++) total += count_recipients(&items[i]);
  if (total && !(mem->recipients = calloc(total, sizeof(rg_str_t)))) return RG_ENOMEM;
  rg_str_t *pool = mem->recipients;
  for (uint32_t i = 0; i < r->n_observations; i++) {
    char path[40];
    item_path(path, "observations", i);
    rg_wire_observation_t *o = &r->observations[i];
    int rc = decode_observation(c, &items[i], path, o, &pool);
    if (rc && (rc = mark_item(c, rc, path, &o->invalid, &o->why))) return rc;
  }
  return check ? decode_observation(c, root, "request", &r->check, &pool) : RG_OK;
}

static int decode_labels(dctx_t *c, const msgpack_object *items, rg_request_t *r) {
  for (uint32_t i = 0; i < r->n_labels; i++) {
    char path[32];
    item_path(path, "labels", i);
    rg_wire_label_t *l = &r->labels[i];
    const msgpack_object *m = &items[i];
    l->weight = -1;
    int rc = expect_map(c, m, path);
    if (!rc) rc = get_str(c, m, path, "actor", true, RG_ACTOR_WIRE_MAX, &l->actor);
    if (!rc) rc = get_str(c, m, path, "verdict", true, 32, &l->verdict);
    if (!rc) rc = get_str(c, m, path, "source", false, 32, &l->source);
    if (!rc) rc = get_str(c, m, path, "note", false, UINT32_MAX, &l->note);
    if (!rc) rc = get_label_weight(c, m, path, &l->weight);
    if (!rc) rc = get_ts(c, m, path, &l->ts);
    if (rc && (rc = mark_item(c, rc, path, &l->invalid, &l->why))) return rc;
  }
  return RG_OK;
}

/* The optional fields of the analyst ops, all at the top level of the request. */
static int decode_analyst(dctx_t *c, const msgpack_object *root, rg_request_t *r) {
  static const char *const p = "request";
  const msgpack_object *ids;
  uint32_t n = 0;
  r->min_suspicion = -1;
  r->min_reputation = -1;
  r->label.weight = -1;
  int rc = get_uint(c, root, p, "limit", &r->limit);
  if (!rc) rc = get_uint(c, root, p, "offset", &r->offset);
  if (!rc) rc = get_uint(c, root, p, "min_size", &r->min_size);
  if (!rc) rc = get_uint(c, root, p, "depth", &r->depth);
  if (!rc) rc = get_uint(c, root, p, "generation", &r->generation);
  if (!rc) rc = get_uint(c, root, p, "cluster", &r->cluster);
  if (!rc) rc = get_uint(c, root, p, "scan_from", &r->scan_from);
  uint64_t after = 0;
  if (!rc) rc = get_uint(c, root, p, "first_seen_after", &after);
  if (!rc && after >= (UINT64_C(1) << 62))
    rc = fail(c, RG_EBAD_REQUEST, "request.first_seen_after: out of range");
  r->first_seen_after = (int64_t)after;
  if (!rc) rc = get_number(c, root, p, "min_suspicion", 1, &r->min_suspicion);
  if (!rc) rc = get_number(c, root, p, "min_reputation", 1, &r->min_reputation);
  if (!rc) rc = get_bool(c, root, p, "dry_run", &r->dry_run);
  if (!rc) rc = get_bool(c, root, p, "force", &r->force);
  if (!rc) rc = get_str(c, root, p, "sort", false, 32, &r->sort);
  if (!rc) rc = get_str(c, root, p, "type", false, 32, &r->type);
  if (!rc) rc = get_str(c, root, p, "metric", false, 32, &r->metric);
  if (!rc) rc = get_str(c, root, p, "order", false, 32, &r->order);
  if (!rc) rc = get_str(c, root, p, "actor", false, RG_ACTOR_WIRE_MAX, &r->actor);
  if (!rc) rc = get_str(c, root, p, "cursor", false, 256, &r->cursor);
  if (!rc) rc = get_str(c, root, p, "verdict", r->op == RG_OP_LABEL_CLUSTER, 32, &r->label.verdict);
  if (!rc) rc = get_str(c, root, p, "source", false, 32, &r->label.source);
  if (!rc) rc = get_str(c, root, p, "note", false, 1024, &r->label.note);
  if (!rc) rc = get_label_weight(c, root, p, &r->label.weight);
  if (!rc) rc = get_ts(c, root, p, &r->label.ts);
  if (!rc) rc = get_array(c, root, NULL, "clusters", &ids, &n);
  if (rc) return rc;
  if (n > RG_EXPORT_CLUSTERS_MAX)
    return fail(c, RG_ETOO_LARGE, "clusters: %u clusters, the limit is %u", n,
                RG_EXPORT_CLUSTERS_MAX);
  if (n && !(r->clusters = calloc(n, sizeof *r->clusters))) return RG_ENOMEM;
  r->n_clusters = n;
  for (uint32_t i = 0; i < n; i++) {
    if (ids[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
      return fail(c, RG_EBAD_REQUEST, "clusters[%u]: expected a cluster id", i);
    r->clusters[i] = ids[i].via.u64;
  }
  return RG_OK;
}

static int decode_actors(dctx_t *c, const msgpack_object *items, rg_request_t *r) {
  for (uint32_t i = 0; i < r->n_actors; i++) {
    if (items[i].type != MSGPACK_OBJECT_STR || items[i].via.str.size > RG_ACTOR_WIRE_MAX)
      return fail(c, RG_EBAD_REQUEST, "actors[%u]: expected a \"type:identifier\" string", i);
    r->actors[i] = (rg_str_t){items[i].via.str.ptr, items[i].via.str.size};
  }
  return RG_OK;
}

/* Allocates a zeroed array of n elements (NULL and success when n is 0). */
static int alloc_items(void **p, uint32_t n, size_t size) {
  *p = NULL;
  if (n && !(*p = calloc(n, size))) return RG_ENOMEM;
  return RG_OK;
}

static int decode_body(dctx_t *c, const msgpack_object *root, rg_request_t *r, decoder_mem_t *mem) {
  const msgpack_object *id = field(root, "id"), *op = field(root, "op");
  if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
    r->has_id = true;
    r->id = id->via.u64;
  } else if (id && id->type != MSGPACK_OBJECT_NIL) {
    return fail(c, RG_EBAD_REQUEST, "id: expected a non-negative integer");
  }
  if (!op || op->type != MSGPACK_OBJECT_STR)
    return fail(c, RG_EBAD_REQUEST, "op: missing or not a string");
  int found = -1;
  for (int i = 0; i < RG_OP_COUNT; i++)
    if (key_is(op, op_names[i])) found = i;
  if (found < 0) {
    char quoted[96];
    return fail(c, RG_EUNKNOWN_OP, "unknown op '%s'",
                rg_text_escape(quoted, sizeof quoted, op->via.str.ptr, op->via.str.size));
  }
  r->op = (rg_op_t)found;

  const msgpack_object *edges, *obs, *labels, *actors;
  int rc = get_array(c, root, NULL, "edges", &edges, &r->n_edges);
  if (!rc) rc = get_array(c, root, NULL, "observations", &obs, &r->n_observations);
  if (!rc) rc = get_array(c, root, NULL, "labels", &labels, &r->n_labels);
  if (!rc) rc = get_array(c, root, NULL, "actors", &actors, &r->n_actors);
  if (rc) return rc;
  uint64_t items = (uint64_t)r->n_edges + r->n_observations + r->n_labels + r->n_actors;
  if (items > c->lim->max_batch_items)
    return fail(c, RG_ETOO_LARGE, "%llu items in one request, the limit is %u",
                (unsigned long long)items, c->lim->max_batch_items);
  if ((rc = alloc_items((void **)&r->edges, r->n_edges, sizeof *r->edges)) ||
      (rc = alloc_items((void **)&r->observations, r->n_observations, sizeof *r->observations)) ||
      (rc = alloc_items((void **)&r->labels, r->n_labels, sizeof *r->labels)) ||
      (rc = alloc_items((void **)&r->actors, r->n_actors, sizeof *r->actors)))
    return rc;
  if (!rc) rc = decode_edges(c, edges, r);
  if (!rc) rc = decode_observations(c, root, obs, r, mem);
  if (!rc && r->op == RG_OP_RECOMPUTE) rc = get_bool(c, root, "request", "wait", &r->wait);
  if (!rc && r->op == RG_OP_AUTH)
    rc = get_str(c, root, "request", "token", true, UINT32_MAX, &r->token);
  if (!rc && r->op == RG_OP_BACKUP) rc = get_str(c, root, "request", "path", true, 900, &r->path);
  if (!rc && r->op == RG_OP_BACKUP) rc = get_bool(c, root, "request", "repack", &r->repack);
  if (!rc) rc = decode_labels(c, labels, r);
  if (!rc) rc = decode_actors(c, actors, r);
  if (!rc) rc = decode_analyst(c, root, r);
  return rc;
}

/* ---- the lookup fast path ------------------------------------------------------------ */

/* The common lookup, {"id": <uint>, "op": "lookup", "actors": [<str>...]} with fixstr keys,
 * each once, in any order, decoded straight from the bytes: no msgpack zone, no field scans.
 * It decodes exactly what decode_body would from the same frame. Anything else — another
 * key, type or encoding, a limit passed, bytes left over — is left to the general decoder
 * (false, *req untouched). True with *req filled, or false with *rc = RG_ENOMEM. */
static bool str_at(const uint8_t *d, size_t len, size_t *off, const uint8_t **s, uint32_t *n) {
  if (*off >= len) return false;
  uint8_t b = d[(*off)++];
  int64_t l;
  if ((b & 0xe0) == 0xa0)
    l = b & 0x1f;
  else if (b == 0xd9)
    l = read_len(d, len, off, 1);
  else if (b == 0xda)
    l = read_len(d, len, off, 2);
  else
    return false;
  if (l < 0 || (uint64_t)l > len - *off) return false;
  *s = d + *off;
  *n = (uint32_t)l;
  *off += (size_t)l;
  return true;
}

static bool decode_lookup_fast(const uint8_t *d, size_t len, const rg_proto_limits_t *lim,
                               rg_request_t *req, int *rc) {
  static const char lookup[] = "lookup";
  size_t off = 1, actors_at = 0;
  uint32_t n_actors = 0;
  bool has_id = false, seen_id = false, seen_op = false;
  uint64_t id = 0;
  *rc = RG_OK;
  if (len < 1 || (d[0] & 0xf0) != 0x80) return false;
  for (unsigned i = 0, n = d[0] & 0x0f; i < n; i++) {
    if (off >= len || (d[off] & 0xe0) != 0xa0) return false; /* keys: fixstr only */
    unsigned kl = d[off] & 0x1f;
    const uint8_t *k = d + off + 1;
    if (kl > len - off - 1) return false;
    off += 1 + kl;
    if (off >= len) return false;
    if (kl == 2 && memcmp(k, "id", 2) == 0 && !seen_id) {
      seen_id = true;
      uint8_t b = d[off++];
      if (b == 0xc0) continue; /* nil: no id */
      if (b > 0x7f && (b < 0xcc || b > 0xcf)) return false; /* signed, or not an integer */
      unsigned w = b <= 0x7f ? 0 : 1u << (b - 0xcc);
      if (w > len - off) return false;
      id = w ? 0 : b;
      for (unsigned j = 0; j < w; j++) id = (id << 8) | d[off++];
      has_id = true;
    } else if (kl == 2 && memcmp(k, "op", 2) == 0 && !seen_op) {
      const uint8_t *s;
      uint32_t sl;
      if (!str_at(d, len, &off, &s, &sl) || sl != sizeof lookup - 1 || memcmp(s, lookup, sl) != 0)
        return false;
      seen_op = true;
    } else if (kl == 6 && memcmp(k, "actors", 6) == 0 && !actors_at) {
      uint8_t b = d[off++];
      if ((b & 0xf0) == 0x90) {
        n_actors = b & 0x0f;
      } else if (b == 0xdc) {
        int64_t l = read_len(d, len, &off, 2);
        if (l < 0) return false;
        n_actors = (uint32_t)l;
      } else {
        return false;
      }
      actors_at = off;
      for (uint32_t j = 0; j < n_actors; j++) {
        const uint8_t *s;
        uint32_t sl;
        if (!str_at(d, len, &off, &s, &sl) || sl > RG_ACTOR_WIRE_MAX) return false;
      }
    } else {
      return false;
    }
  }
  if (off != len || !seen_op || !actors_at || n_actors > lim->max_batch_items) return false;
  rg_str_t *actors = NULL;
  if (n_actors && !(actors = malloc(n_actors * sizeof *actors))) {
    *rc = RG_ENOMEM;
    return false;
  }
  off = actors_at;
  for (uint32_t j = 0; j < n_actors; j++) {
    const uint8_t *s;
    uint32_t sl;
    (void)str_at(d, len, &off, &s, &sl); /* checked above */
    actors[j] = (rg_str_t){(const char *)s, sl};
  }
  req->op = RG_OP_LOOKUP;
  req->has_id = has_id;
  req->id = id;
  req->actors = actors;
  req->n_actors = n_actors;
  req->min_suspicion = -1; /* as decode_analyst leaves them */
  req->min_reputation = -1;
  req->label.weight = -1;
  return true;
}

int rg_proto_decode_request(const uint8_t *body, size_t len, const rg_proto_limits_t *lim,
                            rg_request_t *req, char *err, size_t errlen) {
  memset(req, 0, sizeof *req);
  dctx_t c = {err, errlen, lim,
              lim->max_string_bytes ? lim->max_string_bytes : RG_PROTO_STRING_DEFAULT, NULL};
  unsigned depth = lim->max_depth ? lim->max_depth : RG_PROTO_DEPTH_DEFAULT;
  if (len > lim->max_frame_bytes)
    return fail(&c, RG_ETOO_LARGE, "frame of %zu bytes, the limit is %u", len,
                lim->max_frame_bytes);
  int rc;
  if (decode_lookup_fast(body, len, lim, req, &rc)) return RG_OK;
  if (rc) return fail(&c, rc, "out of memory decoding frame");
  if (len == 0 || rg_proto_check_msgpack(body, len, depth) != RG_OK)
    return fail(&c, RG_ENOT_A_MAP,
                "frame is not one well-formed msgpack value nested at most %u deep", depth);
  decoder_mem_t *mem = calloc(1, sizeof *mem);
  if (!mem) return RG_ENOMEM;
  req->mem = mem;
  c.mem = mem;
  msgpack_unpacked_init(&mem->up);
  size_t off = 0;
  msgpack_unpack_return ur = msgpack_unpack_next(&mem->up, (const char *)body, len, &off);
  if (ur == MSGPACK_UNPACK_NOMEM_ERROR) return fail(&c, RG_ENOMEM, "out of memory decoding frame");
  if (ur != MSGPACK_UNPACK_SUCCESS || off != len || mem->up.data.type != MSGPACK_OBJECT_MAP)
    return fail(&c, RG_ENOT_A_MAP, "frame is not one msgpack map");
  return decode_body(&c, &mem->up.data, req, mem);
}

void rg_request_free(rg_request_t *req) {
  if (!req) return;
  decoder_mem_t *mem = req->mem;
  if (mem) {
    msgpack_unpacked_destroy(&mem->up);
    free(mem->recipients);
    for (uint32_t i = 0; i < mem->n_whys; i++) free(mem->whys[i]);
    free(mem->whys);
    free(mem);
  }
  free(req->edges);
  free(req->observations);
  free(req->labels);
  free(req->actors);
  free(req->clusters);
  memset(req, 0, sizeof *req);
}
