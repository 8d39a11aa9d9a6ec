/* export.c — an exported subgraph, page by page, to GraphML (igraph's writer, with vertex
 * and edge attributes), CSV (nodes.csv + edges.csv) or JSON. CSV and JSON stream to disk as
 * pages arrive; GraphML keeps compact columns (numbers and strings, no JSON objects) until
 * the end. One thread (igraph's attribute table is process-wide). */
#include "repgraph/export.h"

#include <errno.h>
#include <igraph.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/grow.h"

typedef struct {
  const char *name;
  bool numeric;
} column_t;

/* The node and edge fields of the export and neighbors replies (schemas/protocol.json). */
static const column_t node_cols[] = {
    {"actor", false},     {"type", false},       {"reputation", true}, {"anomaly", true},
    {"band", false},      {"propagated", false}, {"cluster", true},    {"messages", true},
    {"first_seen", true}, {"last_seen", true},   {"label", false},     {"label_source", false},
    {"depth", true}};
static const column_t edge_cols[] = {{"src", false},     {"dst", false},  {"kind", false},
                                     {"weight", true},   {"count", true}, {"first_seen", true},
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

/* ---- CSV ------------------------------------------------------------------------------- */

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

/* One attribute column kept for GraphML: numbers, or strings (owned, never NULL). */
typedef struct {
  double *num;
  char **str;
  size_t n, cap;
} col_t;

struct rg_export {
  rg_export_format_t fmt;
  char path[1024], tmp[1040];
  char final[2][1100], part[2][1100]; /* output files (CSV: nodes, edges) and their temp names */
  bool depth, header; /* nodes carry depth (ego networks); the nodes header is written */
  FILE *nodes, *edges;
  size_t n_nodes, n_edges;
  col_t vcol[N_NODE_COLS], ecol[N_EDGE_COLS];
};

static int col_push(col_t *c, const rg_json_t *v, bool numeric) {
  int rc = numeric ? rg_grow((void **)&c->num, &c->cap, c->n + 1, sizeof *c->num)
                   : rg_grow((void **)&c->str, &c->cap, c->n + 1, sizeof *c->str);
  if (rc) return rc;
  if (numeric) {
    c->num[c->n++] = rg_json_num(v);
    return RG_OK;
  }
  if (!(c->str[c->n] = strdup(rg_json_str(v)))) return RG_ENOMEM;
  c->n++;
  return RG_OK;
}

static void col_free(col_t *c) {
  for (size_t i = 0; c->str && i < c->n; i++) free(c->str[i]);
  free(c->str);
  free(c->num);
}

/* ---- CSV and JSON rows ------------------------------------------------------------------- */

static void csv_header(FILE *f, const column_t *cols, size_t n) {
  for (size_t c = 0; c < n; c++) fprintf(f, "%s%s", c ? "," : "", cols[c].name);
  fputc('\n', f);
}

static void csv_row(FILE *f, const rg_json_t *row, const column_t *cols, size_t n) {
  for (size_t c = 0; c < n; c++) {
    if (c) fputc(',', f);
    csv_value(f, rg_json_get(row, cols[c].name), cols[c].numeric);
  }
  fputc('\n', f);
}

static int json_row(FILE *f, const rg_json_t *row, size_t index) {
  rg_buf_t out;
  rg_buf_init(&out, 0);
  int rc = rg_json_dump(row, false, &out);
  if (!rc) {
    if (index) fputc(',', f);
    fwrite(out.data, 1, out.len, f);
  }
  rg_buf_free(&out);
  return rc;
}

static FILE *open_file(const char *path, const char *mode, char *err, size_t errlen) {
  FILE *f = fopen(path, mode);
  if (!f) fail(err, errlen, RG_EIO, "%s: %s", path, strerror(errno));
  return f;
}

int rg_export_open(rg_export_format_t fmt, const char *path, rg_export_t **out, char *err,
                   size_t errlen) {
  rg_export_t *x = calloc(1, sizeof *x);
  if (!x) return fail(err, errlen, RG_ENOMEM, "out of memory");
  x->fmt = fmt;
  snprintf(x->path, sizeof x->path, "%s", path);
  int rc = RG_OK;
  /* Everything is written under temporary names, renamed by a successful finish. */
  for (int i = 0; i < (fmt == RG_EXPORT_CSV ? 2 : 1); i++) {
    const char *name = fmt != RG_EXPORT_CSV ? "" : i ? "/edges.csv" : "/nodes.csv";
    snprintf(x->final[i], sizeof x->final[i], "%s%s", path, name);
    snprintf(x->part[i], sizeof x->part[i], "%s%s.partial", path, name);
  }
  if (fmt == RG_EXPORT_CSV) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
      rc = fail(err, errlen, RG_EIO, "%s: %s", path, strerror(errno));
    if (!rc && !(x->nodes = open_file(x->part[0], "w", err, errlen))) rc = RG_EIO;
    if (!rc && !(x->edges = open_file(x->part[1], "w", err, errlen))) rc = RG_EIO;
    if (!rc) csv_header(x->edges, edge_cols, N_EDGE_COLS);
  } else if (fmt == RG_EXPORT_JSON) { /* edges wait in a temporary file next to the output */
    snprintf(x->tmp, sizeof x->tmp, "%s.edges-XXXXXX", path);
    int fd = mkstemp(x->tmp);
    if (fd < 0 || !(x->edges = fdopen(fd, "w+")))
      rc = fail(err, errlen, RG_EIO, "%s: %s", x->tmp, strerror(errno));
    if (!rc && !(x->nodes = open_file(x->part[0], "w", err, errlen))) rc = RG_EIO;
    if (!rc) fputs("{\"nodes\": [", x->nodes);
  }
  if (rc) {
    rg_export_finish(x, NULL, 0);
    return rc;
  }
  *out = x;
  return RG_OK;
}

/* Writes (CSV, JSON) or keeps (GraphML) one page's rows of nodes or edges; *count is the
 * number of rows so far. */
static int add_rows(rg_export_t *x, const rg_json_t *rows, const column_t *cols, size_t ncols,
                    FILE *f, col_t *kept, size_t *count) {
  int rc = RG_OK;
  for (size_t i = 0; i < rg_json_size(rows) && !rc; i++, (*count)++) {
    const rg_json_t *row = rg_json_at(rows, i);
    if (x->fmt == RG_EXPORT_CSV)
      csv_row(f, row, cols, ncols);
    else if (x->fmt == RG_EXPORT_JSON)
      rc = json_row(f, row, *count);
    for (size_t c = 0; x->fmt == RG_EXPORT_GRAPHML && c < ncols && !rc; c++)
      rc = col_push(&kept[c], rg_json_get(row, cols[c].name), cols[c].numeric);
  }
  return rc;
}

int rg_export_page(rg_export_t *x, const rg_json_t *nodes, const rg_json_t *edges, char *err,
                   size_t errlen) {
  size_t nn = rg_json_size(nodes);
  if (nn && !x->n_nodes) x->depth = rg_json_has(rg_json_at(nodes, 0), "depth");
  size_t ncols = x->depth ? N_NODE_COLS : N_NODE_COLS - 1;
  if (x->fmt == RG_EXPORT_CSV && nn && !x->header) {
    csv_header(x->nodes, node_cols, ncols);
    x->header = true;
  }
  int rc = add_rows(x, nodes, node_cols, ncols, x->nodes, x->vcol, &x->n_nodes);
  if (!rc) rc = add_rows(x, edges, edge_cols, N_EDGE_COLS, x->edges, x->ecol, &x->n_edges);
  if (rc) return fail(err, errlen, rc, "out of memory");
  if ((x->nodes && ferror(x->nodes)) || (x->edges && ferror(x->edges)))
    return fail(err, errlen, RG_EIO, "%s: write failed", x->path);
  return RG_OK;
}

/* ---- GraphML through igraph -------------------------------------------------------------- */

/* Sets a kept column as a vertex (or edge) attribute, rows picked by row_of. */
static igraph_error_t set_column(igraph_t *g, bool vertex, const col_t *col, bool numeric,
                                 const size_t *row_of, igraph_integer_t n, const char *attr) {
  igraph_error_t rc;
  if (numeric) {
    igraph_vector_t v;
    if ((rc = igraph_vector_init(&v, n))) return rc;
    for (igraph_integer_t i = 0; i < n; i++) VECTOR(v)[i] = col->num[row_of[i]];
    rc = vertex ? igraph_cattribute_VAN_setv(g, attr, &v) : igraph_cattribute_EAN_setv(g, attr, &v);
    igraph_vector_destroy(&v);
    return rc;
  }
  igraph_strvector_t sv;
  if ((rc = igraph_strvector_init(&sv, n))) return rc;
  for (igraph_integer_t i = 0; i < n && !rc; i++)
    rc = igraph_strvector_set(&sv, i, col->str[row_of[i]]);
  if (!rc)
    rc = vertex ? igraph_cattribute_VAS_setv(g, attr, &sv)
                : igraph_cattribute_EAS_setv(g, attr, &sv);
  igraph_strvector_destroy(&sv);
  return rc;
}

static int write_graphml(rg_export_t *x, char *err, size_t errlen) {
  igraph_set_error_handler(igraph_error_handler_printignore);
  igraph_set_attribute_table(&igraph_cattribute_table);
  size_t n = x->n_nodes, m = 0, ncols = x->depth ? N_NODE_COLS : N_NODE_COLS - 1;
  vref_t *index = calloc(n ? n : 1, sizeof *index);
  size_t *node_row = calloc(n ? n : 1, sizeof *node_row);
  size_t *edge_row = calloc(x->n_edges ? x->n_edges : 1, sizeof *edge_row);
  igraph_vector_int_t ends;
  igraph_t g;
  bool have_graph = false, have_ends = false;
  int rc = RG_OK;
  if (!index || !node_row || !edge_row) {
    rc = fail(err, errlen, RG_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    index[i] = (vref_t){x->vcol[0].str[i], (igraph_integer_t)i};
    node_row[i] = i;
  }
  qsort(index, n, sizeof *index, cmp_vref);
  if (igraph_vector_int_init(&ends, 0)) goto igraph_failed;
  have_ends = true;
  for (size_t i = 0; i < x->n_edges; i++) {
    igraph_integer_t s = vertex_of(index, n, x->ecol[0].str[i]);
    igraph_integer_t d = vertex_of(index, n, x->ecol[1].str[i]);
    if (s < 0 || d < 0) continue;
    if (igraph_vector_int_push_back(&ends, s) || igraph_vector_int_push_back(&ends, d))
      goto igraph_failed;
    edge_row[m++] = i;
  }
  if (igraph_empty(&g, (igraph_integer_t)n, IGRAPH_DIRECTED)) goto igraph_failed;
  have_graph = true;
  if (igraph_add_edges(&g, &ends, NULL)) goto igraph_failed;
  for (size_t c = 0; n && c < ncols; c++) /* the actor is the vertex's "name" */
    if (set_column(&g, true, &x->vcol[c], node_cols[c].numeric, node_row, (igraph_integer_t)n,
                   c ? node_cols[c].name : "name"))
      goto igraph_failed;
  for (size_t c = 2; m && c < N_EDGE_COLS; c++) /* src and dst are the edge itself */
    if (set_column(&g, false, &x->ecol[c], edge_cols[c].numeric, edge_row, (igraph_integer_t)m,
                   edge_cols[c].name))
      goto igraph_failed;
  FILE *f = fopen(x->part[0], "w");
  if (!f) {
    rc = fail(err, errlen, RG_EIO, "%s: %s", x->part[0], strerror(errno));
    goto done;
  }
  igraph_error_t wrc =
      igraph_write_graph_graphml(&g, f, true); /* v_ / e_ key ids: both have first_seen */
  if ((fclose(f) != 0) | (wrc != IGRAPH_SUCCESS))
    rc = fail(err, errlen, RG_EIO, "%s: writing GraphML failed", x->path);
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

/* Closes a stream; a write error (now or before) is reported once. */
static int close_file(FILE *f, const char *path, int rc, char *err, size_t errlen) {
  if (!f) return rc;
  bool bad = ferror(f) != 0;
  if ((fclose(f) != 0 || bad) && !rc) rc = fail(err, errlen, RG_EIO, "%s: write failed", path);
  return rc;
}

/* JSON: appends the edges kept in the temporary file and closes the object. */
static int finish_json(rg_export_t *x) {
  char buf[65536];
  size_t n;
  fputs("], \"edges\": [", x->nodes);
  rewind(x->edges);
  while ((n = fread(buf, 1, sizeof buf, x->edges)) > 0) fwrite(buf, 1, n, x->nodes);
  fputs("]}\n", x->nodes);
  return ferror(x->edges) ? RG_EIO : RG_OK;
}

int rg_export_finish(rg_export_t *x, char *err, size_t errlen) {
  if (!x) return RG_OK;
  int rc = RG_OK;
  if (err && x->fmt == RG_EXPORT_CSV && x->nodes && !x->header)
    csv_header(x->nodes, node_cols, N_NODE_COLS - 1); /* no nodes at all */
  if (err && x->fmt == RG_EXPORT_JSON && x->nodes && x->edges && finish_json(x))
    rc = fail(err, errlen, RG_EIO, "%s: write failed", x->tmp);
  if (err && x->fmt == RG_EXPORT_GRAPHML) rc = write_graphml(x, err, errlen);
  rc = close_file(x->nodes, x->part[0], rc, err, errlen);
  rc = close_file(x->edges, x->tmp[0] ? x->tmp : x->part[1], rc, err, errlen);
  if (x->tmp[0]) unlink(x->tmp);
  for (int i = 0; i < 2; i++) { /* complete: the real names; failed or abandoned: nothing */
    if (!x->part[i][0]) continue;
    if (err && !rc && rename(x->part[i], x->final[i]) != 0)
      rc = fail(err, errlen, RG_EIO, "%s: %s", x->final[i], strerror(errno));
    if (!err || rc) unlink(x->part[i]);
  }
  for (size_t c = 0; c < N_NODE_COLS; c++) col_free(&x->vcol[c]);
  for (size_t c = 0; c < N_EDGE_COLS; c++) col_free(&x->ecol[c]);
  free(x);
  return rc;
}
