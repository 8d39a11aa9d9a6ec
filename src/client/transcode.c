/* transcode.c — JSON (jansson) ⇄ msgpack (msgpack-c) for the client. Pure; any thread. */
#include "repgraph/transcode.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/text.h"

struct rg_json; /* never defined: rg_json_t * is a json_t * */
#define J(p) ((json_t *)(p))

int rg_json_parse(const char *text, size_t len, rg_json_t **out, char *err, size_t errlen) {
  json_error_t je;
  json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &je);
  if (!j) {
    snprintf(err, errlen, "column %d: %s", je.column, je.text);
    return RG_EBAD_REQUEST;
  }
  *out = (rg_json_t *)j;
  return RG_OK;
}

void rg_json_free(rg_json_t *j) {
  if (j) json_decref(J(j));
}

bool rg_json_has(const rg_json_t *j, const char *name) {
  return json_is_object(J(j)) && json_object_get(J(j), name) != NULL;
}

void rg_json_write_msgpack(const rg_json_t *jv, rg_wr_t *w) {
  json_t *j = J(jv);
  switch (json_typeof(j)) {
    case JSON_OBJECT: {
      const char *key;
      json_t *val;
      rg_wr_map(w, (uint32_t)json_object_size(j));
      json_object_foreach(j, key, val) {
        rg_wr_str(w, key);
        rg_json_write_msgpack((rg_json_t *)val, w);
      }
      break;
    }
    case JSON_ARRAY: {
      size_t i;
      json_t *val;
      rg_wr_array(w, (uint32_t)json_array_size(j));
      json_array_foreach(j, i, val) rg_json_write_msgpack((rg_json_t *)val, w);
      break;
    }
    case JSON_STRING: rg_wr_strn(w, json_string_value(j), json_string_length(j)); break;
    case JSON_INTEGER: {
      json_int_t v = json_integer_value(j);
      if (v >= 0)
        rg_wr_uint(w, (uint64_t)v);
      else
        rg_wr_int(w, v);
      break;
    }
    case JSON_REAL: rg_wr_double(w, json_real_value(j)); break;
    case JSON_TRUE: rg_wr_bool(w, true); break;
    case JSON_FALSE: rg_wr_bool(w, false); break;
    case JSON_NULL: rg_wr_nil(w); break;
  }
}

/* ---- msgpack → JSON ----------------------------------------------------------------- */

/* A JSON string of s[0..n): as is when it is valid UTF-8 (msgpack-c leaves ptr NULL for an
 * empty string, which jansson would refuse), else its escaped form (rg_text_escape: bytes
 * that are not UTF-8 become "\xNN"), so that every reply can be printed as JSON. NULL
 * when out of memory. */
static json_t *to_json_str(const char *s, size_t n) {
  if (rg_utf8_valid(s, n)) return json_stringn_nocheck(n ? s : "", n);
  size_t cap = 4 * n + 1; /* at most four characters a byte */
  char *esc = malloc(cap);
  json_t *j = esc ? json_string_nocheck(rg_text_escape(esc, cap, s, n)) : NULL;
  free(esc);
  return j;
}

/* Sets m[key] = v for a key of s[0..n), escaped like values; false when out of memory. */
static bool set_key(json_t *m, const char *s, size_t n, json_t *v) {
  if (rg_utf8_valid(s, n)) return json_object_setn_new_nocheck(m, n ? s : "", n, v) == 0;
  size_t cap = 4 * n + 1;
  char *esc = malloc(cap);
  bool ok = esc && json_object_set_new_nocheck(m, rg_text_escape(esc, cap, s, n), v) == 0;
  if (!esc) json_decref(v);
  free(esc);
  return ok;
}

/* The JSON value of a msgpack object, or NULL when out of memory (a container whose child
 * failed is dropped whole). JSON has no NaN or infinity: they become null. */
static json_t *to_json(const msgpack_object *o) {
  switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
      return o->via.u64 > INT64_MAX ? json_real((double)o->via.u64)
                                    : json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
    case MSGPACK_OBJECT_STR: return to_json_str(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: return to_json_str(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY: {
      json_t *a = json_array();
      for (uint32_t i = 0; a && i < o->via.array.size; i++) {
        if (json_array_append_new(a, to_json(&o->via.array.ptr[i]))) {
          json_decref(a);
          a = NULL;
        }
      }
      return a;
    }
    case MSGPACK_OBJECT_MAP: {
      json_t *m = json_object();
      for (uint32_t i = 0; m && i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        char key[16];
        json_t *v = to_json(&o->via.map.ptr[i].val);
        bool ok = v != NULL;
        if (ok && k->type == MSGPACK_OBJECT_STR) { /* whole, however long */
          ok = set_key(m, k->via.str.ptr, k->via.str.size, v);
        } else if (ok) {
          snprintf(key, sizeof key, "#%u", i);
          ok = json_object_set_new(m, key, v) == 0;
        }
        if (!ok) {
          json_decref(m);
          m = NULL;
        }
      }
      return m;
    }
    default: return json_null();
  }
}

int rg_json_from_msgpack(const void *data, size_t len, rg_json_t **out) {
  msgpack_unpacked up;
  size_t off = 0;
  msgpack_unpacked_init(&up);
  int rc =
      msgpack_unpack_next(&up, data, len, &off) == MSGPACK_UNPACK_SUCCESS ? RG_OK : RG_ENOT_A_MAP;
  json_t *j = rc ? NULL : to_json(&up.data);
  msgpack_unpacked_destroy(&up);
  if (rc) return rc;
  if (!j) return RG_ENOMEM;
  *out = (rg_json_t *)j;
  return RG_OK;
}

int rg_json_dump(const rg_json_t *j, bool pretty, rg_buf_t *out) {
  char *text = json_dumps(
      J(j), JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
  if (!text) return RG_ENOMEM;
  int rc = rg_buf_append(out, text, strlen(text));
  free(text);
  return rc;
}

const rg_json_t *rg_json_get(const rg_json_t *obj, const char *key) {
  return (const rg_json_t *)json_object_get(J(obj), key);
}
const rg_json_t *rg_json_at(const rg_json_t *array, size_t i) {
  return (const rg_json_t *)json_array_get(J(array), i);
}
size_t rg_json_size(const rg_json_t *array) {
  return json_array_size(J(array));
}
long long rg_json_int(const rg_json_t *j) {
  return json_is_integer(J(j)) ? json_integer_value(J(j)) : 0;
}
const char *rg_json_str(const rg_json_t *j) {
  const char *s = json_string_value(J(j));
  return s ? s : "";
}
double rg_json_num(const rg_json_t *j) {
  return json_is_number(J(j)) ? json_number_value(J(j)) : NAN;
}
bool rg_json_is_str(const rg_json_t *j) {
  return json_is_string(J(j));
}

bool rg_json_is_true(const rg_json_t *j) {
  return json_is_true(J(j));
}

/* ---- JSON → text for people ---------------------------------------------------------- */

typedef struct {
  rg_buf_t *buf;
  int err; /* the first append's failure */
} text_out_t;

static void putn(text_out_t *t, const char *s, size_t n) {
  if (!t->err) t->err = rg_buf_append(t->buf, s, n);
}

static void put(text_out_t *t, const char *s) {
  putn(t, s, strlen(s));
}

static void text_scalar(json_t *j, text_out_t *out) {
  char tmp[64];
  switch (json_typeof(j)) {
    case JSON_STRING: putn(out, json_string_value(j), json_string_length(j)); return;
    case JSON_INTEGER:
      snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
      break;
    case JSON_REAL: snprintf(tmp, sizeof tmp, "%.6g", json_real_value(j)); break;
    case JSON_TRUE: snprintf(tmp, sizeof tmp, "yes"); break;
    case JSON_FALSE: snprintf(tmp, sizeof tmp, "no"); break;
    case JSON_NULL: snprintf(tmp, sizeof tmp, "-"); break;
    default: snprintf(tmp, sizeof tmp, "(none)"); break;
  }
  put(out, tmp);
}

static bool nonempty_container(json_t *j) {
  return (json_is_object(j) && json_object_size(j)) || (json_is_array(j) && json_array_size(j));
}

static void text_value(json_t *j, int depth, text_out_t *out);

/* One "key: value" or "- value" line; containers continue on the next lines. */
static void text_item(const char *key, json_t *v, int depth, text_out_t *out) {
  for (int i = 0; i < depth; i++) put(out, "  ");
  if (key) {
    put(out, key);
    put(out, ":");
  } else {
    put(out, "-");
  }
  if (nonempty_container(v)) {
    put(out, "\n");
    text_value(v, depth + 1, out);
    return;
  }
  put(out, " ");
  text_scalar(v, out);
  put(out, "\n");
}

static void text_value(json_t *j, int depth, text_out_t *out) {
  const char *key;
  json_t *v;
  size_t i;
  if (json_is_object(j)) {
    json_object_foreach(j, key, v) {
      if (depth == 0 && strcmp(key, "id") == 0) continue; /* a protocol detail */
      text_item(key, v, depth, out);
    }
  } else if (json_is_array(j)) {
    json_array_foreach(j, i, v) text_item(NULL, v, depth, out);
  } else {
    text_item(NULL, j, depth, out);
  }
}

int rg_json_text(const rg_json_t *j, rg_buf_t *out) {
  text_out_t t = {out, RG_OK};
  text_value(J(j), 0, &t);
  return t.err;
}
