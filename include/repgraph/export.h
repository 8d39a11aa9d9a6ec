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

/* Writes the arrays `nodes` (objects with an "actor" key and the node fields) and `edges`
 * (objects with "src" and "dst" naming nodes' actors) to `path`: a file for GraphML and
 * JSON, a directory (created if missing) holding nodes.csv and edges.csv for CSV. Edges
 * whose ends are not among the nodes are left out. 0, or RG_EIO / RG_ENOMEM / RG_EINTERNAL
 * with a message in err (capacity errlen). */
int rg_export_write(rg_export_format_t fmt, const rg_json_t *nodes, const rg_json_t *edges,
                    const char *path, char *err, size_t errlen);

#endif
