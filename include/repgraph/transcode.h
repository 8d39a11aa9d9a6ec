/* transcode.h — JSON ⇄ msgpack for the command-line client and tools: NDJSON input lines
 * become msgpack values, replies become JSON or readable text. jansson lives here (and
 * msgpack.h, for reading replies). Pure functions; any thread. */
#ifndef RG_TRANSCODE_H
#define RG_TRANSCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "repgraph/buf.h"
#include "repgraph/proto.h"

/* A parsed JSON value (opaque jansson json_t). */
typedef struct rg_json rg_json_t;

/* Parses one JSON text of len bytes. 0 with *out owned by the caller (rg_json_free);
 * RG_EBAD_REQUEST with "line:column: reason" in err otherwise. */
int rg_json_parse(const char *text, size_t len, rg_json_t **out, char *err, size_t errlen);

/* Frees a parsed value. Accepts NULL. */
void rg_json_free(rg_json_t *j);

/* True when j is an object that has the key `name`. */
bool rg_json_has(const rg_json_t *j, const char *name);

/* Appends j as msgpack through the writer (integers stay integers, objects become maps).
 * Errors are the writer's (w->err). */
void rg_json_write_msgpack(const rg_json_t *j, rg_wr_t *w);

/* Decodes msgpack bytes (one value) into a JSON value; maps become objects (non-string
 * keys are written "#i"), strings and keys that are not valid UTF-8 their rg_text_escape
 * form ("\\xNN" for such bytes), NaN and infinities null: the result always dumps. 0 with
 * *out owned by the caller; RG_ENOT_A_MAP, RG_ENOMEM. */
int rg_json_from_msgpack(const void *data, size_t len, rg_json_t **out);

/* Appends j as JSON text, on one line or indented if pretty. 0 or RG_ENOMEM. */
int rg_json_dump(const rg_json_t *j, bool pretty, rg_buf_t *out);

/* Appends j as indented "key: value" lines for people (null shows as "-"; a top-level
 * "id", the protocol's request id, is left out). 0 or RG_ENOMEM. */
int rg_json_text(const rg_json_t *j, rg_buf_t *out);

/* Accessors. Each returns NULL / 0 / "" when the value is absent or of another type;
 * returned pointers are borrowed from j and live as long as it does. */
const rg_json_t *rg_json_get(const rg_json_t *obj, const char *key);
const rg_json_t *rg_json_at(const rg_json_t *array, size_t i);
size_t rg_json_size(const rg_json_t *array);
long long rg_json_int(const rg_json_t *j);
const char *rg_json_str(const rg_json_t *j);
/* A number's value (integer or real); NAN when j is not a number (e.g. null). */
double rg_json_num(const rg_json_t *j);
bool rg_json_is_str(const rg_json_t *j);
/* True when j is the JSON value true. */
bool rg_json_is_true(const rg_json_t *j);

#endif
