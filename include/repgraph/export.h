/* export.h — writes an exported subgraph (the nodes and edges of clusters or of an ego
 * network, as the export and neighbors replies list them) in the formats analysts load:
 * GraphML through igraph's writer (Gephi, Cytoscape, networkx), CSV (nodes.csv +
 * edges.csv, for pandas) and JSON. igraph.h stays in export.c. Not thread-safe (igraph's
 * attribute table is global): call from one thread. */
#ifndef RG_EXPORT_H
#define RG_EXPORT_H

#include <stddef.h>
#include <stdio.h>

#include "repgraph/transcode.h"

typedef enum { RG_EXPORT_GRAPHML, RG_EXPORT_CSV, RG_EXPORT_JSON } rg_export_format_t;

/* Parses "graphml", "csv" or "json". 0 or RG_EBAD_REQUEST. */
int rg_export_format_parse(const char *name, rg_export_format_t *out);

typedef struct rg_export rg_export_t;

/* Starts an export to `path`: a file for GraphML and JSON, a directory (created if missing)
 * holding nodes.csv and edges.csv for CSV. 0 with *out owned by the caller (finish it with
 * rg_export_finish); RG_EIO / RG_ENOMEM with a message in err (capacity errlen). */
int rg_export_open(rg_export_format_t fmt, const char *path, rg_export_t **out, char *err,
                   size_t errlen);

/* Adds one page: the arrays `nodes` (objects with an "actor" key and the node fields of the
 * export and neighbors replies) and `edges` (objects with "src" and "dst" naming nodes'
 * actors). CSV and JSON are written at once; GraphML keeps compact columns until the end.
 * 0, or RG_EIO / RG_ENOMEM with a message. */
int rg_export_page(rg_export_t *x, const rg_json_t *nodes, const rg_json_t *edges, char *err,
                   size_t errlen);

/* Completes the files (GraphML: builds the graph with igraph and writes it; edges whose
 * ends are not among the nodes are left out) and frees x, also on error. Files are written
 * as NAME.partial and renamed only when complete. With err NULL it abandons the export
 * (after an error): closes and removes the partial files. 0, or RG_EIO / RG_ENOMEM /
 * RG_EINTERNAL with a message. Accepts NULL. */
int rg_export_finish(rg_export_t *x, char *err, size_t errlen);

#endif
