/* repgraph_analyst.c — the client's commands for analysts: ranked clusters, worst actors,
 * ego networks, paged exports to GraphML / CSV / JSON (with progress), bulk labels from a
 * CSV file, labelling a whole cluster, retracting labels and label histories. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "repgraph/err.h"
#include "repgraph/export.h"

#define MAX_FIELDS   16
#define LABEL_BATCH  1000 /* labels per request of label --file */
#define MAX_CLUSTERS RG_EXPORT_CLUSTERS_MAX

/* A request's fields, written in order after {id, op}. */
typedef struct {
  const char *key;
  char kind; /* s string, u unsigned, d number, b true, A array of strings, C array of unsigned */
  const char *s;
  uint64_t u;
  double d;
  char **strs;
  const uint64_t *uints;
  uint32_t n;
} field_t;

typedef struct {
  field_t f[MAX_FIELDS];
  unsigned n;
} fields_t;

static void add_str(fields_t *r, const char *key, const char *s) {
  if (s && r->n < MAX_FIELDS) r->f[r->n++] = (field_t){.key = key, .kind = 's', .s = s};
}
static void add_uint(fields_t *r, const char *key, uint64_t u) {
  if (r->n < MAX_FIELDS) r->f[r->n++] = (field_t){.key = key, .kind = 'u', .u = u};
}
static void add_num(fields_t *r, const char *key, double d) {
  if (r->n < MAX_FIELDS) r->f[r->n++] = (field_t){.key = key, .kind = 'd', .d = d};
}
static void add_true(fields_t *r, const char *key) {
  if (r->n < MAX_FIELDS) r->f[r->n++] = (field_t){.key = key, .kind = 'b'};
}

/* Sends {op, fields…} and receives the reply (caller frees). Connects on first use. */
static int call(cli_t *cli, const char *op, const fields_t *r, rg_json_t **reply) {
  rg_buf_t frame;
  rg_wr_t w;
  rg_buf_init(&frame, 0);
  rg__cli_begin(cli, &w, &frame, op, r->n);
  for (unsigned i = 0; i < r->n; i++) {
    const field_t *f = &r->f[i];
    rg_wr_str(&w, f->key);
    switch (f->kind) {
      case 's': rg_wr_str(&w, f->s); break;
      case 'u': rg_wr_uint(&w, f->u); break;
      case 'd': rg_wr_double(&w, f->d); break;
      case 'b': rg_wr_bool(&w, true); break;
      case 'A':
        rg_wr_array(&w, f->n);
        for (uint32_t j = 0; j < f->n; j++) rg_wr_str(&w, f->strs[j]);
        break;
      default:
        rg_wr_array(&w, f->n);
        for (uint32_t j = 0; j < f->n; j++) rg_wr_uint(&w, f->uints[j]);
    }
  }
  int rc = rg_wr_end(&w);
  if (rc) {
    fprintf(stderr, "repgraph: cannot encode request: %s\n", rg_strerror(rc));
    rc = EXIT_USAGE;
  }
  if (!rc) rc = rg__cli_connect(cli);
  if (!rc) rc = rg__cli_roundtrip(cli, &frame, reply);
  rg_buf_free(&frame);
  return rc;
}

/* Prints an error reply (exit code 1) and returns non-zero, or returns 0. */
static int reply_error(const rg_json_t *reply) {
  const rg_json_t *error = rg_json_get(reply, "error");
  if (!error) return 0;
  fprintf(stderr, "repgraph: error %s: %s\n", rg_json_str(rg_json_get(error, "code")),
          rg_json_str(rg_json_get(error, "message")));
  return EXIT_REJECTED;
}

/* Sends the request and prints its reply the generic way. */
static int call_and_print(cli_t *cli, const char *op, const fields_t *r) {
  rg_json_t *reply = NULL;
  int rc = call(cli, op, r, &reply);
  if (!rc) rc = rg__cli_print(cli, reply);
  rg_json_free(reply);
  return rc;
}

static bool parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || *s == '-') return false;
  *out = v;
  return true;
}

static const char *date_text(const rg_json_t *ts, char *buf, size_t cap) {
  time_t t = (time_t)rg_json_int(ts);
  struct tm tm;
  if (!t || !gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M", &tm))
    snprintf(buf, cap, "-");
  return buf;
}

/* ---- clusters ---------------------------------------------------------------------------- */

static void print_clusters(const rg_json_t *reply) {
  const rg_json_t *rows = rg_json_get(reply, "clusters");
  printf("generation %lld\n", rg_json_int(rg_json_get(reply, "generation")));
  printf("%-8s %7s %7s %5s %4s %6s %9s %9s %8s  %-16s  %-16s  %s\n", "cluster", "size", "address",
         "ip", "net", "domain", "suspicion", "bad_share", "mean_rep", "first_seen", "last_seen",
         "top members");
  for (size_t i = 0; i < rg_json_size(rows); i++) {
    const rg_json_t *c = rg_json_at(rows, i), *by = rg_json_get(c, "by_type"),
                    *top = rg_json_get(c, "top");
    char first[32], last[32];
    printf("%-8lld %7lld %7lld %5lld %4lld %6lld %9.3f %9.3f %8.3f  %-16s  %-16s ",
           rg_json_int(rg_json_get(c, "id")), rg_json_int(rg_json_get(c, "size")),
           rg_json_int(rg_json_get(by, "address")), rg_json_int(rg_json_get(by, "ip")),
           rg_json_int(rg_json_get(by, "net")), rg_json_int(rg_json_get(by, "domain")),
           rg_json_num(rg_json_get(c, "suspicion")), rg_json_num(rg_json_get(c, "bad_seed_share")),
           rg_json_num(rg_json_get(c, "mean_reputation")),
           date_text(rg_json_get(c, "first_seen"), first, sizeof first),
           date_text(rg_json_get(c, "last_seen"), last, sizeof last));
    for (size_t j = 0; j < rg_json_size(top) && j < 3; j++)
      printf(" %s", rg_json_str(rg_json_get(rg_json_at(top, j), "actor")));
    printf("\n");
  }
  const rg_json_t *next = rg_json_get(reply, "next_offset"),
                  *scan = rg_json_get(reply, "next_scan");
  if (rg_json_int(next)) printf("more: --offset %lld\n", rg_json_int(next));
  if (rg_json_int(scan))
    printf("scan cut at limits.max_scan_clusters (rows: the best of the clusters read); "
           "more: --scan-from %lld\n",
           rg_json_int(scan));
}

int rg__cmd_clusters(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                       {"offset", required_argument, NULL, 'o'},
                                       {"min-size", required_argument, NULL, 'm'},
                                       {"min-suspicion", required_argument, NULL, 's'},
                                       {"type", required_argument, NULL, 't'},
                                       {"after", required_argument, NULL, 'a'},
                                       {"actor", required_argument, NULL, 'c'},
                                       {"sort", required_argument, NULL, 'S'},
                                       {"scan-from", required_argument, NULL, 'F'},
                                       {NULL, 0, NULL, 0}};
  fields_t r = {0};
  int opt;
  uint64_t u;
  optind = 0;
  while ((opt = getopt_long(argc, argv, "l:o:m:s:t:a:c:S:F:", opts, NULL)) != -1) {
    const char *key = opt == 'l'   ? "limit"
                      : opt == 'o' ? "offset"
                      : opt == 'm' ? "min_size"
                      : opt == 'a' ? "first_seen_after"
                      : opt == 'F' ? "scan_from"
                                   : NULL;
    if (key) {
      if (!parse_u64(optarg, &u)) return EXIT_USAGE;
      add_uint(&r, key, u);
    } else if (opt == 's') {
      add_num(&r, "min_suspicion", strtod(optarg, NULL));
    } else if (opt == 't' || opt == 'c' || opt == 'S') {
      add_str(&r, opt == 't' ? "type" : opt == 'c' ? "actor" : "sort", optarg);
    } else {
      return EXIT_USAGE;
    }
  }
  if (optind != argc) return EXIT_USAGE;
  rg_json_t *reply = NULL;
  int rc = call(cli, "clusters", &r, &reply);
  if (!rc && (cli->json || reply_error(reply)))
    rc = rg__cli_print(cli, reply);
  else if (!rc)
    print_clusters(reply);
  rg_json_free(reply);
  return rc;
}

/* ---- top ----------------------------------------------------------------------------------- */

int rg__cmd_top(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                       {"offset", required_argument, NULL, 'o'},
                                       {"metric", required_argument, NULL, 'm'},
                                       {"best", no_argument, NULL, 'b'},
                                       {NULL, 0, NULL, 0}};
  fields_t r = {0};
  int opt;
  uint64_t u;
  optind = 0;
  while ((opt = getopt_long(argc, argv, "l:o:m:b", opts, NULL)) != -1) {
    if (opt == 'l' || opt == 'o') {
      if (!parse_u64(optarg, &u)) return EXIT_USAGE;
      add_uint(&r, opt == 'l' ? "limit" : "offset", u);
    } else if (opt == 'm') {
      add_str(&r, "metric", optarg);
    } else if (opt == 'b') {
      add_str(&r, "order", "best");
    } else {
      return EXIT_USAGE;
    }
  }
  if (argc - optind != 1) return EXIT_USAGE;
  add_str(&r, "type", argv[optind]);
  rg_json_t *reply = NULL;
  int rc = call(cli, "top", &r, &reply);
  if (!rc && (cli->json || reply_error(reply))) {
    rc = rg__cli_print(cli, reply);
  } else if (!rc) {
    const rg_json_t *rows = rg_json_get(reply, "actors");
    printf("%-40s %10s %8s %-10s %8s %8s  %s\n", "actor", "reputation", "anomaly", "band",
           "cluster", "messages", "label");
    for (size_t i = 0; i < rg_json_size(rows); i++) {
      const rg_json_t *a = rg_json_at(rows, i);
      const char *label = rg_json_str(rg_json_get(a, "label"));
      printf("%-40s %10.3f %8.3f %-10s %8lld %8lld  %s\n", rg_json_str(rg_json_get(a, "actor")),
             rg_json_num(rg_json_get(a, "reputation")), rg_json_num(rg_json_get(a, "anomaly")),
             rg_json_str(rg_json_get(a, "band")), rg_json_int(rg_json_get(a, "cluster")),
             rg_json_int(rg_json_get(a, "messages")), *label ? label : "-");
    }
    if (rg_json_int(rg_json_get(reply, "next_offset")))
      printf("more: --offset %lld\n", rg_json_int(rg_json_get(reply, "next_offset")));
  }
  rg_json_free(reply);
  return rc;
}

/* ---- neighbors ----------------------------------------------------------------------------- */

/* Reads --depth / --limit into r. 0, or EXIT_USAGE. */
static int ego_options(fields_t *r, int opt) {
  uint64_t u;
  if ((opt != 'd' && opt != 'l') || !parse_u64(optarg, &u)) return EXIT_USAGE;
  add_uint(r, opt == 'd' ? "depth" : "limit", u);
  return 0;
}

int rg__cmd_neighbors(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"depth", required_argument, NULL, 'd'},
                                       {"limit", required_argument, NULL, 'l'},
                                       {NULL, 0, NULL, 0}};
  fields_t r = {0};
  int opt;
  optind = 0;
  while ((opt = getopt_long(argc, argv, "d:l:", opts, NULL)) != -1)
    if (ego_options(&r, opt)) return EXIT_USAGE;
  if (argc - optind != 1) return EXIT_USAGE;
  add_str(&r, "actor", argv[optind]);
  return call_and_print(cli, "neighbors", &r);
}

/* ---- export -------------------------------------------------------------------------------- */

typedef struct {
  rg_export_t *out;
  size_t nodes, edges;
  uint64_t total;
  bool progress;
} graph_t;

/* Writes a reply's nodes and edges to the export. */
static int take_page(graph_t *g, const rg_json_t *reply) {
  const rg_json_t *nodes = rg_json_get(reply, "nodes"), *edges = rg_json_get(reply, "edges");
  char err[512];
  if (rg_export_page(g->out, nodes, edges, err, sizeof err) != RG_OK) {
    fprintf(stderr, "repgraph: %s\n", err);
    return EXIT_REJECTED;
  }
  g->nodes += rg_json_size(nodes);
  g->edges += rg_json_size(edges);
  if (g->progress)
    fprintf(stderr, "\rexport: %zu of %llu nodes, %zu edges", g->nodes,
            (unsigned long long)g->total, g->edges);
  return 0;
}

/* Pages through an export of the clusters, following the cursor until it is null. */
static int fetch_clusters(cli_t *cli, const uint64_t *ids, uint32_t n, uint64_t page, graph_t *g) {
  char cursor[256] = "";
  int rc = 0;
  do {
    fields_t r = {0};
    r.f[r.n++] = (field_t){.key = "clusters", .kind = 'C', .uints = ids, .n = n};
    if (page) add_uint(&r, "limit", page);
    if (cursor[0]) add_str(&r, "cursor", cursor);
    rg_json_t *reply = NULL;
    rc = call(cli, "export", &r, &reply);
    if (!rc) rc = reply_error(reply);
    if (!rc) {
      g->total = (uint64_t)rg_json_int(rg_json_get(reply, "total_nodes"));
      rc = take_page(g, reply);
      snprintf(cursor, sizeof cursor, "%s", rg_json_str(rg_json_get(reply, "cursor")));
    }
    rg_json_free(reply);
  } while (!rc && cursor[0]);
  return rc;
}

int rg__cmd_export(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"cluster", required_argument, NULL, 'c'},
                                       {"actor", required_argument, NULL, 'a'},
                                       {"depth", required_argument, NULL, 'd'},
                                       {"limit", required_argument, NULL, 'l'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"out", required_argument, NULL, 'o'},
                                       {"page", required_argument, NULL, 'P'},
                                       {"progress", no_argument, NULL, 'p'},
                                       {NULL, 0, NULL, 0}};
  uint64_t ids[MAX_CLUSTERS], page = 0;
  uint32_t n_ids = 0;
  const char *actor = NULL, *out = NULL;
  rg_export_format_t fmt = RG_EXPORT_GRAPHML;
  fields_t ego = {0};
  graph_t g = {.progress = isatty(STDERR_FILENO)};
  int opt;
  optind = 0;
  while ((opt = getopt_long(argc, argv, "c:a:d:l:f:o:P:p", opts, NULL)) != -1) {
    if (opt == 'c' && n_ids < MAX_CLUSTERS && parse_u64(optarg, &ids[n_ids]))
      n_ids++;
    else if (opt == 'a')
      actor = optarg;
    else if (opt == 'f' && rg_export_format_parse(optarg, &fmt) == RG_OK)
      continue;
    else if (opt == 'o')
      out = optarg;
    else if (opt == 'P' && parse_u64(optarg, &page))
      continue;
    else if (opt == 'p')
      g.progress = true;
    else if (opt != 'd' && opt != 'l')
      return EXIT_USAGE;
    else if (ego_options(&ego, opt))
      return EXIT_USAGE;
  }
  if (optind != argc || !out || (n_ids == 0) == (actor == NULL)) return EXIT_USAGE;
  char err[512];
  if (rg_export_open(fmt, out, &g.out, err, sizeof err) != RG_OK) {
    fprintf(stderr, "repgraph: %s\n", err);
    return EXIT_REJECTED;
  }
  int rc = 0;
  if (actor) { /* an ego network: one bounded neighbors reply */
    rg_json_t *reply = NULL;
    add_str(&ego, "actor", actor);
    rc = call(cli, "neighbors", &ego, &reply);
    if (!rc) rc = reply_error(reply);
    if (!rc) rc = take_page(&g, reply);
    rg_json_free(reply);
  } else {
    rc = fetch_clusters(cli, ids, n_ids, page, &g);
  }
  if (g.progress) fprintf(stderr, "\n");
  if (rg_export_finish(g.out, rc ? NULL : err, sizeof err) != RG_OK && !rc) {
    fprintf(stderr, "repgraph: %s\n", err);
    rc = EXIT_REJECTED;
  }
  if (!rc && cli->json)
    printf("{\"nodes\":%zu,\"edges\":%zu,\"path\":\"%s\"}\n", g.nodes, g.edges, out);
  else if (!rc)
    printf("exported %zu nodes and %zu edges to %s\n", g.nodes, g.edges, out);
  return rc;
}

/* ---- labels ---------------------------------------------------------------------------------- */

/* Splits one CSV line into at most max fields (double quotes quote, "" is a quote) in place.
 * Returns the number of fields, or -1 for an unterminated quote. */
static int csv_split(char *line, char **fields, int max) {
  int n = 0;
  char *p = line;
  for (;;) {
    char *start = p, *w = p;
    if (*p == '"') {
      for (p++;; p++) {
        if (!*p) return -1;
        if (*p == '"' && p[1] == '"')
          *w++ = '"', p++;
        else if (*p == '"')
          break;
        else
          *w++ = *p;
      }
      p++;
    } else {
      while (*p && *p != ',') *w++ = *p++;
    }
    bool more = *p == ',';
    if (*p && *p != ',') return -1; /* text after a closing quote */
    *w = '\0';
    if (n < max) fields[n] = start;
    n++;
    if (!more) return n;
    p++;
  }
}

typedef struct {
  cli_t *cli;
  const char *path, *source;
  char **actor, **verdict, **src, **note; /* one batch of fields (owned copies) */
  size_t *line_of;
  uint32_t n;
  size_t accepted, rejected, lines;
} label_file_t;

static void batch_free(label_file_t *L) {
  for (uint32_t i = 0; i < L->n; i++) {
    free(L->actor[i]);
    free(L->verdict[i]);
    free(L->src[i]);
    free(L->note[i]);
  }
  L->n = 0;
}

/* Sends the batch as one label request and reports each rejected line. */
static int send_labels(label_file_t *L) {
  if (!L->n) return 0;
  rg_buf_t frame;
  rg_wr_t w;
  rg_json_t *reply = NULL;
  rg_buf_init(&frame, 0);
  rg__cli_begin(L->cli, &w, &frame, "label", 1);
  rg_wr_str(&w, "labels");
  rg_wr_array(&w, L->n);
  for (uint32_t i = 0; i < L->n; i++) {
    rg_wr_map(&w, 2 + (L->src[i] != NULL) + (L->note[i] != NULL));
    rg_wr_str(&w, "actor"), rg_wr_str(&w, L->actor[i]);
    rg_wr_str(&w, "verdict"), rg_wr_str(&w, L->verdict[i]);
    if (L->src[i]) rg_wr_str(&w, "source"), rg_wr_str(&w, L->src[i]);
    if (L->note[i]) rg_wr_str(&w, "note"), rg_wr_str(&w, L->note[i]);
  }
  int rc = rg_wr_end(&w) ? EXIT_USAGE : 0;
  if (!rc) rc = rg__cli_connect(L->cli);
  if (!rc) rc = rg__cli_roundtrip(L->cli, &frame, &reply);
  if (!rc) rc = reply_error(reply);
  if (rc) /* the whole batch failed: nothing of it is committed, the batches before are */
    fprintf(stderr,
            "%s: lines %zu-%zu were not labelled (their batch failed as a whole); the lines "
            "before %zu are labelled: fix and resume from line %zu (tail -n +%zu)\n",
            L->path, L->line_of[0], L->line_of[L->n - 1], L->line_of[0], L->line_of[0],
            L->line_of[0]);
  if (!rc) {
    const rg_json_t *rejected = rg_json_get(reply, "rejected");
    L->accepted += (size_t)rg_json_int(rg_json_get(reply, "accepted"));
    L->rejected += (size_t)rg_json_int(rg_json_get(reply, "rejected_count"));
    for (size_t i = 0; i < rg_json_size(rejected); i++) {
      const rg_json_t *x = rg_json_at(rejected, i);
      size_t index = (size_t)rg_json_int(rg_json_get(x, "index"));
      fprintf(stderr, "%s:%zu: rejected: %s: %s\n", L->path, index < L->n ? L->line_of[index] : 0,
              rg_json_str(rg_json_get(x, "code")), rg_json_str(rg_json_get(x, "message")));
    }
  }
  rg_json_free(reply);
  rg_buf_free(&frame);
  batch_free(L);
  return rc;
}

static char *dup_or_null(const char *s) {
  return s && *s ? strdup(s) : NULL;
}

int rg__cmd_label_file(cli_t *cli, const char *path, const char *source) {
  FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!in) {
    fprintf(stderr, "repgraph: %s: %s\n", path, strerror(errno));
    return EXIT_USAGE;
  }
  label_file_t L = {.cli = cli, .path = path, .source = source};
  L.actor = calloc(LABEL_BATCH, sizeof(char *));
  L.verdict = calloc(LABEL_BATCH, sizeof(char *));
  L.src = calloc(LABEL_BATCH, sizeof(char *));
  L.note = calloc(LABEL_BATCH, sizeof(char *));
  L.line_of = calloc(LABEL_BATCH, sizeof(size_t));
  int rc = L.actor && L.verdict && L.src && L.note && L.line_of ? 0 : EXIT_REJECTED;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while (!rc && (len = getline(&line, &cap, in)) >= 0) {
    L.lines++;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    char *text = line + (L.lines == 1 ? rg__cli_bom_len(line, (size_t)len) : 0);
    if (!*text || text[0] == '#' || (L.lines == 1 && strncmp(text, "actor,", 6) == 0)) continue;
    char *f[4] = {NULL, NULL, NULL, NULL};
    int n = csv_split(text, f, 4);
    if (n < 2 || n > 4 || !*f[0] || !*f[1]) {
      fprintf(stderr, "%s:%zu: rejected: bad_request: expected actor,verdict[,source[,note]]\n",
              path, L.lines);
      L.rejected++;
      continue;
    }
    const char *src = n > 2 && *f[2] ? f[2] : source, *note = n > 3 ? f[3] : NULL;
    L.actor[L.n] = strdup(f[0]);
    L.verdict[L.n] = strdup(f[1]);
    L.src[L.n] = dup_or_null(src);
    L.note[L.n] = dup_or_null(note);
    L.line_of[L.n++] = L.lines;
    if (!L.actor[L.n - 1] || !L.verdict[L.n - 1] || (src && *src && !L.src[L.n - 1]) ||
        (note && *note && !L.note[L.n - 1])) {
      fprintf(stderr, "repgraph: out of memory at %s:%zu\n", path, L.lines);
      rc = EXIT_REJECTED;
    } else if (L.n == LABEL_BATCH) {
      rc = send_labels(&L);
    }
  }
  if (!rc) rc = send_labels(&L);
  batch_free(&L);
  free(line);
  free(L.actor), free(L.verdict), free(L.src), free(L.note), free(L.line_of);
  if (in != stdin) fclose(in);
  if (rc) return rc;
  if (cli->json)
    printf("{\"lines\":%zu,\"accepted\":%zu,\"rejected\":%zu}\n", L.lines, L.accepted, L.rejected);
  else
    printf("labelled %zu actors from %zu lines (%zu rejected)\n", L.accepted, L.lines, L.rejected);
  return L.rejected ? EXIT_REJECTED : 0;
}

int rg__cmd_label_cluster(cli_t *cli, int argc, char **argv) {
  static const struct option opts[] = {{"source", required_argument, NULL, 's'},
                                       {"note", required_argument, NULL, 'n'},
                                       {"weight", required_argument, NULL, 'w'},
                                       {"generation", required_argument, NULL, 'g'},
                                       {"dry-run", no_argument, NULL, 'D'},
                                       {"force", no_argument, NULL, 'F'},
                                       {"min-reputation", required_argument, NULL, 'm'},
                                       {NULL, 0, NULL, 0}};
  fields_t r = {0};
  uint64_t cluster, gen;
  int opt;
  optind = 0;
  while ((opt = getopt_long(argc, argv, "s:n:w:g:DFm:", opts, NULL)) != -1) {
    if (opt == 's' || opt == 'n')
      add_str(&r, opt == 's' ? "source" : "note", optarg);
    else if (opt == 'w' || opt == 'm')
      add_num(&r, opt == 'w' ? "weight" : "min_reputation", strtod(optarg, NULL));
    else if (opt == 'D' || opt == 'F')
      add_true(&r, opt == 'D' ? "dry_run" : "force");
    else if (opt == 'g' && parse_u64(optarg, &gen))
      add_uint(&r, "generation", gen);
    else
      return EXIT_USAGE;
  }
  if (argc - optind != 2 || !parse_u64(argv[optind], &cluster)) return EXIT_USAGE;
  add_uint(&r, "cluster", cluster);
  add_str(&r, "verdict", argv[optind + 1]);
  return call_and_print(cli, "label_cluster", &r);
}

/* Sends {op, actors: the remaining arguments, note?}. */
static int actors_request(cli_t *cli, const char *op, int argc, char **argv) {
  static const struct option opts[] = {{"note", required_argument, NULL, 'n'}, {NULL, 0, NULL, 0}};
  fields_t r = {0};
  int opt;
  optind = 0;
  while ((opt = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
    if (opt != 'n') return EXIT_USAGE;
    add_str(&r, "note", optarg);
  }
  if (optind >= argc) return EXIT_USAGE;
  r.f[r.n++] = (field_t){
      .key = "actors", .kind = 'A', .strs = argv + optind, .n = (uint32_t)(argc - optind)};
  return call_and_print(cli, op, &r);
}

int rg__cmd_unlabel(cli_t *cli, int argc, char **argv) {
  return actors_request(cli, "unlabel", argc, argv);
}

int rg__cmd_history(cli_t *cli, int argc, char **argv) {
  return actors_request(cli, "history", argc, argv);
}
