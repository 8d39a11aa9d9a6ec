/* export.c — an exported subgraph to GraphML (igraph's writer, with vertex and edge
 * attributes), CSV (nodes.csv + edges.csv) or JSON. One thread (igraph's attribute table is
 * process-wide). */
#include "repgraph/export.h"

#include <errno.h>
#include <igraph.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"

typedef struct {
  const char *name;
  bool numeric;
} column_t;

/* The node and edge fields of the export and neighbors replies (schemas/protocol.json). */
static const column_t node_cols[] = {
    {"actor", false},    {"type", false},     {"reputation", true}, {"anomaly", true},
    {"band", false},     {"propagated", false}, {"cluster", true},  {"messages", true},
    {"first_seen", true}, {"last_seen", true}, {"label", false},    {"label_source", false},
    {"depth", true}};
static const column_t edge_cols[] = {{"src", false},  {"dst", false},        {"kind", false},
                                     {"weight", true}, {"count", true},      {"first_seen", true},
                                     {"last_seen", true}};
#define N_NODE_COLS (sizeof node_cols / sizeof node_cols[0])
#define N_EDGE_COLS (sizeof edge_cols / sizeof edge_cols[0])

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return code;
}

int rg_export_format_parse(const char *name, rg_export_format_t *out) {
  static const char *const names[] = {"graphml", "csv", "json"};
  for (int i = 0; i < 3; i++)
    if (strcmp(name, names[i]) == 0) {
      *out = (rg_export_format_t)i;
      return RG_OK;
    }
  return RG_EBAD_REQUEST;
}

/* Node columns in use: "depth" only when the nodes carry it (ego networks). */
static size_t node_columns(const rg_json_t *nodes) {
  return rg_json_has(rg_json_at(nodes, 0), "depth") ? N_NODE_COLS : N_NODE_COLS - 1;
}

/* ---- node index: actor text → vertex --------------------------------------------------- */

typedef struct {
  const char *actor;
  igraph_integer_t v;
} vref_t;

static int cmp_vref(const void *a, const void *b) {
  return strcmp(((const vref_t *)a)->actor, ((const vref_t *)b)->actor);
}

static igraph_integer_t vertex_of(const vref_t *index, size_t n, const char *actor) {
  vref_t key = {actor, 0};
  const vref_t *hit = bsearch(&key, index, n, sizeof *index, cmp_vref);
  return hit ? hit->v : -1;
}

/* ---- CSV -------------------------------------------------------------------------------- */

static void csv_value(FILE *f, const rg_json_t *v, bool numeric) {
  if (numeric) {
    double d = rg_json_num(v);
    if (!isnan(d)) fprintf(f, "%.17g", d);
    return;
  }
  if (!rg_json_is_str(v)) return;
  fputc('"', f);
  for (const char *p = rg_json_str(v); *p; p++) {
    if (*p == '"') fputc('"', f);
    fputc(*p, f);
  }
  fputc('"', f);
}

static int csv_file(const char *dir, const char *name, const rg_json_t *rows,
                    const column_t *cols, size_t n_cols, char *err, size_t errlen) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) return fail(err, errlen, RG_EIO, "%s: %s", path, strerror(errno));
  for (size_t c = 0; c < n_cols; c++) fprintf(f, "%s%s", c ? "," : "", cols[c].name);
  fputc('\n', f);
  for (size_t i = 0; i < rg_json_size(rows); i++) {
    const rg_json_t *row = rg_json_at(rows, i);
    for (size_t c = 0; c < n_cols; c++) {
      if (c) fputc(',', f);
      csv_value(f, rg_json_get(row, cols[c].name), cols[c].numeric);
    }
    fputc('\n', f);
  }
  if (fclose(f) != 0) return fail(err, errlen, RG_EIO, "%s: %s", path, strerror(errno));
  return RG_OK;
}

static int write_csv(const rg_json_t *nodes, const rg_json_t *edges, const char *dir, char *err,
                     size_t errlen) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST)
    return fail(err, errlen, RG_EIO, "%s: %s", dir, strerror(errno));
  int rc = csv_file(dir, "nodes.csv", nodes, node_cols, node_columns(nodes), err, errlen);
  if (!rc) rc = csv_file(dir, "edges.csv", edges, edge_cols, N_EDGE_COLS, err, errlen);
  return rc;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static int write_json(const rg_json_t *nodes, const rg_json_t *edges, const char *path,
                      char *err, size_t errlen) {
  rg_buf_t out;
  rg_buf_init(&out, 0);
  int rc = rg_buf_append(&out, "{\"nodes\": ", 10);
  if (!rc) rc = rg_json_dump(nodes, false, &out);
  if (!rc) rc = rg_buf_append(&out, ", \"edges\": ", 11);
  if (!rc) rc = rg_json_dump(edges, false, &out);
  if (!rc) rc = rg_buf_append(&out, "}\n", 2);
  FILE *f = rc ? NULL : fopen(path, "w");
  if (!rc && !f) rc = fail(err, errlen, RG_EIO, "%s: %s", path, strerror(errno));
  if (f && (fwrite(out.data, 1, out.len, f) != out.len) + (fclose(f) != 0))
    rc = fail(err, errlen, RG_EIO, "%s: write failed", path);
  rg_buf_free(&out);
  if (rc == RG_ENOMEM) snprintf(err, errlen, "out of memory");
  return rc;
}

/* ---- GraphML through igraph -------------------------------------------------------------- */

/* Sets one attribute column on all vertices (or edges) from the rows' field. */
static igraph_error_t set_column(igraph_t *g, bool vertex, const rg_json_t *rows,
                                 const igraph_integer_t *row_of, igraph_integer_t n,
                                 const column_t *col, const char *attr) {
  igraph_error_t rc;
  if (col->numeric) {
    igraph_vector_t v;
    if ((rc = igraph_vector_init(&v, n))) return rc;
    for (igraph_integer_t i = 0; i < n; i++)
      VECTOR(v)[i] = rg_json_num(rg_json_get(rg_json_at(rows, (size_t)row_of[i]), col->name));
    rc = vertex ? igraph_cattribute_VAN_setv(g, attr, &v) : igraph_cattribute_EAN_setv(g, attr, &v);
    igraph_vector_destroy(&v);
    return rc;
  }
  igraph_strvector_t sv;
  if ((rc = igraph_strvector_init(&sv, n))) return rc;
  for (igraph_integer_t i = 0; i < n && !rc; i++)
    rc = igraph_strvector_set(&sv, i, rg_json_str(rg_json_get(rg_json_at(rows, (size_t)row_of[i]), col->name)));
  if (!rc)
    rc = vertex ? igraph_cattribute_VAS_setv(g, attr, &sv) : igraph_cattribute_EAS_setv(g, attr, &sv);
  igraph_strvector_destroy(&sv);
  return rc;
}

static int write_graphml(const rg_json_t *nodes, const rg_json_t *edges, const char *path,
                         char *err, size_t errlen) {
  igraph_set_error_handler(igraph_error_handler_printignore);
  igraph_set_attribute_table(&igraph_cattribute_table);
  size_t n = rg_json_size(nodes), m_all = rg_json_size(edges), m = 0;
  vref_t *index = calloc(n ? n : 1, sizeof *index);
  igraph_integer_t *node_row = calloc(n ? n : 1, sizeof *node_row);
  igraph_integer_t *edge_row = calloc(m_all ? m_all : 1, sizeof *edge_row);
  igraph_vector_int_t ends;
  igraph_t g;
  bool have_graph = false, have_ends = false;
  int rc = RG_OK;
  if (!index || !node_row || !edge_row) {
    rc = fail(err, errlen, RG_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    index[i] = (vref_t){rg_json_str(rg_json_get(rg_json_at(nodes, i), "actor")), (igraph_integer_t)i};
    node_row[i] = (igraph_integer_t)i;
  }
  qsort(index, n, sizeof *index, cmp_vref);
  if (igraph_vector_int_init(&ends, 0)) goto igraph_failed;
  have_ends = true;
  for (size_t i = 0; i < m_all; i++) {
    const rg_json_t *e = rg_json_at(edges, i);
    igraph_integer_t s = vertex_of(index, n, rg_json_str(rg_json_get(e, "src")));
    igraph_integer_t d = vertex_of(index, n, rg_json_str(rg_json_get(e, "dst")));
    if (s < 0 || d < 0) continue;
    if (igraph_vector_int_push_back(&ends, s) || igraph_vector_int_push_back(&ends, d))
      goto igraph_failed;
    edge_row[m++] = (igraph_integer_t)i;
  }
  if (igraph_empty(&g, (igraph_integer_t)n, IGRAPH_DIRECTED)) goto igraph_failed;
  have_graph = true;
  if (igraph_add_edges(&g, &ends, NULL)) goto igraph_failed;
  if (n && set_column(&g, true, nodes, node_row, (igraph_integer_t)n, &node_cols[0], "name"))
    goto igraph_failed;
  for (size_t c = 1; n && c < node_columns(nodes); c++)
    if (set_column(&g, true, nodes, node_row, (igraph_integer_t)n, &node_cols[c], node_cols[c].name))
      goto igraph_failed;
  for (size_t c = 2; m && c < N_EDGE_COLS; c++) /* src and dst are the edge itself */
    if (set_column(&g, false, edges, edge_row, (igraph_integer_t)m, &edge_cols[c], edge_cols[c].name))
      goto igraph_failed;
  FILE *f = fopen(path, "w");
  if (!f) {
    rc = fail(err, errlen, RG_EIO, "%s: %s", path, strerror(errno));
    goto done;
  }
  igraph_error_t wrc = igraph_write_graph_graphml(&g, f, true) /* v_ / e_ key ids: both have first_seen */;
  if ((fclose(f) != 0) | (wrc != IGRAPH_SUCCESS))
    rc = fail(err, errlen, RG_EIO, "%s: writing GraphML failed", path);
  goto done;
igraph_failed:
  rc = fail(err, errlen, RG_EINTERNAL, "igraph could not build the graph (out of memory?)");
done:
  if (have_graph) igraph_destroy(&g);
  if (have_ends) igraph_vector_int_destroy(&ends);
  free(index);
  free(node_row);
  free(edge_row);
  return rc;
}

int rg_export_write(rg_export_format_t fmt, const rg_json_t *nodes, const rg_json_t *edges,
                    const char *path, char *err, size_t errlen) {
  switch (fmt) {
    case RG_EXPORT_GRAPHML: return write_graphml(nodes, edges, path, err, errlen);
    case RG_EXPORT_CSV: return write_csv(nodes, edges, path, err, errlen);
    case RG_EXPORT_JSON: return write_json(nodes, edges, path, err, errlen);
  }
  return fail(err, errlen, RG_EINTERNAL, "unknown export format");
}
