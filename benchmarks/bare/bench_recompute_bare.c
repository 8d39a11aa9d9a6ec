/* bench_recompute_bare.c — the recomputation's igraph work without repgraph: reads the
 * NDJSON observations repgraphd ingested and the same labels, expands them into the graph
 * the server stores (one edge per (src, kind, dst), weights decayed to --now), then times
 * exactly the igraph calls src/core/compute.c makes: the two walk graphs (bad walk with a
 * recipient role per actor), two weighted personalized PageRanks (PRPACK), the undirected
 * graph and Louvain, the mailed graph and igraph_is_mutual, simplify + degree + adjacent
 * triangles. Parsing is reported apart and not counted; building the igraph graphs from
 * in-memory arrays is the bare program's whole "load". --edges-out / --seeds-out write the
 * expanded graph as text for the networkx pipeline (bench_networkx.py).
 * Usage: bench_recompute_bare OBS.ndjson LABELS.tsv [--now TS] [--edges-out F] [--seeds-out F]
 * LABELS.tsv: "type:identifier<TAB>bad|good" per line. Single-threaded. */
#include <getopt.h>
#include <igraph.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HALF_LIFE_S (7 * 86400.0)
#define DAMPING     0.85

enum { K_MAILED, K_SENT_FROM, K_IN_NET, K_USES_DOMAIN, K_HELO, N_KINDS };
/* walk weight factors per kind, as rg_compute_opts_init sets them (forward = reverse) */
static const double kind_factor[N_KINDS] = {0.5, 1, 1, 1, 0.5};

static void die(const char *msg) {
  fprintf(stderr, "bench_recompute_bare: %s\n", msg);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) die("out of memory");
  return p;
}

/* ---- open-addressing hash tables: actor name → vertex, edge key → edge ------------------ */

typedef struct {
  char **names;
  uint32_t *slots; /* vertex + 1, 0 = empty */
  size_t cap, n;
} names_t;

typedef struct {
  uint64_t *keys; /* edge key + 1, 0 = empty */
  uint64_t *idx;
  size_t cap, n;
} edges_map_t;

static uint64_t hash_bytes(const char *s) { /* FNV-1a */
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h;
}

static uint64_t hash_u64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

typedef struct {
  names_t names;
  edges_map_t emap;
  uint32_t n;
  uint64_t m, cap_n, cap_m;
  uint8_t *type;
  int8_t *seed;
  double *seed_weight;
  uint32_t *src, *dst;
  uint8_t *kind;
  double *weight;
  double now;
} graph_t;

static uint32_t vertex(graph_t *g, const char *name) {
  names_t *t = &g->names;
  if ((t->n + 1) * 2 > t->cap) { /* grow and rehash */
    size_t cap = t->cap ? t->cap * 2 : 1 << 16;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) die("out of memory");
    for (size_t i = 0; i < t->cap; i++)
      if (t->slots[i]) {
        size_t j = hash_bytes(t->names[t->slots[i] - 1]) & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = t->slots[i];
      }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
  }
  size_t j = hash_bytes(name) & (t->cap - 1);
  while (t->slots[j]) {
    if (strcmp(t->names[t->slots[j] - 1], name) == 0) return t->slots[j] - 1;
    j = (j + 1) & (t->cap - 1);
  }
  if (g->n == g->cap_n) {
    g->cap_n = g->cap_n ? g->cap_n * 2 : 1 << 16;
    t->names = xrealloc(t->names, g->cap_n * sizeof *t->names);
    g->type = xrealloc(g->type, g->cap_n);
    g->seed = xrealloc(g->seed, g->cap_n);
    g->seed_weight = xrealloc(g->seed_weight, g->cap_n * sizeof *g->seed_weight);
  }
  uint32_t v = g->n++;
  t->names[v] = strdup(name);
  if (!t->names[v]) die("out of memory");
  g->seed[v] = 0;
  g->seed_weight[v] = 0;
  t->slots[j] = v + 1;
  t->n++;
  return v;
}

static void edge(graph_t *g, uint32_t s, int kind, uint32_t d, double ts) {
  edges_map_t *t = &g->emap;
  if ((t->n + 1) * 2 > t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 1 << 16;
    uint64_t *keys = calloc(cap, sizeof *keys), *idx = malloc(cap * sizeof *idx);
    if (!keys || !idx) die("out of memory");
    for (size_t i = 0; i < t->cap; i++)
      if (t->keys[i]) {
        size_t j = hash_u64(t->keys[i]) & (cap - 1);
        while (keys[j]) j = (j + 1) & (cap - 1);
        keys[j] = t->keys[i];
        idx[j] = t->idx[i];
      }
    free(t->keys), free(t->idx);
    t->keys = keys, t->idx = idx, t->cap = cap;
  }
  uint64_t key = (((uint64_t)s << 35) | ((uint64_t)d << 3) | (uint64_t)kind) + 1;
  double w = pow(2.0, -(g->now - ts) / HALF_LIFE_S);
  size_t j = hash_u64(key) & (t->cap - 1);
  while (t->keys[j]) {
    if (t->keys[j] == key) {
      g->weight[t->idx[j]] += w;
      return;
    }
    j = (j + 1) & (t->cap - 1);
  }
  if (g->m == g->cap_m) {
    g->cap_m = g->cap_m ? g->cap_m * 2 : 1 << 16;
    g->src = xrealloc(g->src, g->cap_m * sizeof *g->src);
    g->dst = xrealloc(g->dst, g->cap_m * sizeof *g->dst);
    g->kind = xrealloc(g->kind, g->cap_m);
    g->weight = xrealloc(g->weight, g->cap_m * sizeof *g->weight);
  }
  t->keys[j] = key;
  t->idx[j] = g->m;
  t->n++;
  g->src[g->m] = s, g->dst[g->m] = d, g->kind[g->m] = (uint8_t)kind, g->weight[g->m] = w;
  g->m++;
}

static uint32_t actor(graph_t *g, const char *type, const char *ident) {
  char name[600];
  snprintf(name, sizeof name, "%s:%s", type, ident);
  uint32_t v = vertex(g, name);
  g->type[v] = type[0];
  return v;
}

/* Expands one observation as repgraphd does (sender→ip, ip→net, sender→domain, ip→helo,
 * sender→each recipient). gen_mail writes normalised IPv4 names already. */
static void observation(graph_t *g, json_t *o) {
  const char *sender = json_string_value(json_object_get(o, "sender"));
  const char *ip = json_string_value(json_object_get(o, "client_ip"));
  const char *helo = json_string_value(json_object_get(o, "helo"));
  json_t *rcpts = json_object_get(o, "recipients");
  double ts = (double)json_integer_value(json_object_get(o, "ts"));
  if (!sender || !ip || !strchr(sender, '@')) die("observation without sender or client_ip");
  char net[64];
  const char *dot = strrchr(ip, '.');
  if (!dot) die("not an IPv4 address");
  snprintf(net, sizeof net, "%.*s.0/24", (int)(dot - ip), ip);
  uint32_t s = actor(g, "address", sender), i = actor(g, "ip", ip);
  edge(g, s, K_SENT_FROM, i, ts);
  edge(g, i, K_IN_NET, actor(g, "net", net), ts);
  edge(g, s, K_USES_DOMAIN, actor(g, "domain", strchr(sender, '@') + 1), ts);
  if (helo && *helo) edge(g, i, K_HELO, actor(g, "domain", helo), ts);
  for (size_t k = 0; k < json_array_size(rcpts); k++)
    edge(g, s, K_MAILED, actor(g, "address", json_string_value(json_array_get(rcpts, k))), ts);
}

static void parse(graph_t *g, const char *obs_path, const char *labels_path) {
  FILE *f = fopen(obs_path, "r");
  if (!f) die(obs_path);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    json_error_t jerr;
    json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
    if (!o) die(jerr.text);
    observation(g, o);
    json_decref(o);
  }
  fclose(f);
  if (!(f = fopen(labels_path, "r"))) die(labels_path);
  while ((len = getline(&line, &cap, f)) > 0) {
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = '\0';
    size_t before = g->n;
    uint32_t v = vertex(g, line);
    if (g->n != before) { /* not in the graph: repgraph would create it; keep it isolated */
      g->type[v] = line[0];
    }
    g->seed[v] = strncmp(tab + 1, "bad", 3) == 0 ? 1 : -1;
    g->seed_weight[v] = 1.0; /* the analyst source's default weight */
  }
  free(line);
  fclose(f);
}

/* ---- the igraph work -------------------------------------------------------------------- */

#define IG(call)                                                  \
  do {                                                            \
    if ((call) != IGRAPH_SUCCESS) die("igraph failed in " #call); \
  } while (0)

typedef struct {
  igraph_t graph;
  igraph_vector_t weight;
} walk_t;

static void build_walk(const graph_t *g, bool split, walk_t *w) {
  igraph_integer_t arcs = 2 * (igraph_integer_t)g->m, a = 0;
  igraph_vector_int_t ends;
  IG(igraph_vector_int_init(&ends, 2 * arcs));
  IG(igraph_vector_init(&w->weight, arcs));
  for (uint64_t e = 0; e < g->m; e++) {
    double base = (g->weight[e] > 1e-9 ? g->weight[e] : 1e-9) * kind_factor[g->kind[e]];
    igraph_integer_t s = g->src[e], d = g->dst[e];
    if (split && g->kind[e] == K_MAILED) d += g->n;
    VECTOR(ends)[2 * a] = s, VECTOR(ends)[2 * a + 1] = d, VECTOR(w->weight)[a++] = base;
    VECTOR(ends)[2 * a] = d, VECTOR(ends)[2 * a + 1] = s, VECTOR(w->weight)[a++] = base;
  }
  IG(igraph_create(&w->graph, &ends, split ? 2 * (igraph_integer_t)g->n : g->n, IGRAPH_DIRECTED));
  igraph_vector_int_destroy(&ends);
}

static void ppr(const graph_t *g, walk_t *w, int8_t verdict) {
  igraph_vector_t reset, rank;
  IG(igraph_vector_init(&reset, igraph_vcount(&w->graph)));
  for (uint32_t v = 0; v < g->n; v++)
    if (g->seed[v] == verdict) VECTOR(reset)[v] = g->seed_weight[v];
  IG(igraph_vector_init(&rank, 0));
  IG(igraph_personalized_pagerank(&w->graph, IGRAPH_PAGERANK_ALGO_PRPACK, &rank, NULL,
                                  igraph_vss_all(), IGRAPH_DIRECTED, DAMPING, &reset, &w->weight,
                                  NULL));
  igraph_vector_destroy(&reset);
  igraph_vector_destroy(&rank);
}

static void write_text(const graph_t *g, const char *edges_path, const char *seeds_path) {
  FILE *f = fopen(edges_path, "w");
  if (!f) die(edges_path);
  fprintf(f, "%" PRIu32 " %" PRIu64 "\n", g->n, g->m);
  for (uint64_t e = 0; e < g->m; e++)
    fprintf(f, "%" PRIu32 " %" PRIu32 " %u %.9g\n", g->src[e], g->dst[e], g->kind[e], g->weight[e]);
  fclose(f);
  if (!(f = fopen(seeds_path, "w"))) die(seeds_path);
  for (uint32_t v = 0; v < g->n; v++)
    if (g->seed[v]) fprintf(f, "%" PRIu32 " %d %g\n", v, g->seed[v], g->seed_weight[v]);
  fclose(f);
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {{"now", 1, NULL, 'n'},
                                           {"edges-out", 1, NULL, 'e'},
                                           {"seeds-out", 1, NULL, 's'},
                                           {NULL, 0, NULL, 0}};
  graph_t g = {0};
  const char *edges_out = NULL, *seeds_out = NULL;
  g.now = 1800000000;
  int opt;
  while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (opt) {
      case 'n': g.now = atof(optarg); break;
      case 'e': edges_out = optarg; break;
      case 's': seeds_out = optarg; break;
      default: goto usage;
    }
  }
  if (optind != argc - 2) goto usage;
  double t = now_s();
  parse(&g, argv[optind], argv[optind + 1]);
  double parse_s = now_s() - t;
  if (edges_out && seeds_out) write_text(&g, edges_out, seeds_out);

  double t0 = now_s(), t_graph, t_ppr, t_louvain, t_features;
  walk_t bad, good;
  build_walk(&g, true, &bad);
  build_walk(&g, false, &good);
  t_graph = now_s() - t0;

  t = now_s();
  ppr(&g, &bad, 1);
  ppr(&g, &good, -1);
  t_ppr = now_s() - t;

  t = now_s();
  igraph_vector_int_t ends, membership;
  igraph_vector_t weight;
  igraph_t und;
  IG(igraph_vector_int_init(&ends, 2 * (igraph_integer_t)g.m));
  IG(igraph_vector_init(&weight, (igraph_integer_t)g.m));
  for (uint64_t e = 0; e < g.m; e++) {
    VECTOR(ends)[2 * e] = g.src[e], VECTOR(ends)[2 * e + 1] = g.dst[e];
    VECTOR(weight)[e] = g.weight[e] > 1e-9 ? g.weight[e] : 1e-9;
  }
  IG(igraph_create(&und, &ends, g.n, IGRAPH_UNDIRECTED));
  igraph_rng_seed(igraph_rng_default(), 1);
  IG(igraph_vector_int_init(&membership, 0));
  IG(igraph_community_multilevel(&und, &weight, 1.0, &membership, NULL, NULL));
  t_louvain = now_s() - t;

  t = now_s();
  igraph_vector_int_t mailed_ends, deg;
  igraph_vector_bool_t mutual;
  igraph_vector_t tri;
  igraph_t mailed, simple;
  igraph_integer_t j = 0;
  for (uint64_t e = 0; e < g.m; e++) j += g.kind[e] == K_MAILED;
  IG(igraph_vector_int_init(&mailed_ends, 2 * j));
  j = 0;
  for (uint64_t e = 0; e < g.m; e++)
    if (g.kind[e] == K_MAILED) {
      VECTOR(mailed_ends)[2 * j] = g.src[e];
      VECTOR(mailed_ends)[2 * j + 1] = g.dst[e];
      j++;
    }
  IG(igraph_create(&mailed, &mailed_ends, g.n, IGRAPH_DIRECTED));
  IG(igraph_vector_bool_init(&mutual, 0));
  IG(igraph_is_mutual(&mailed, &mutual, igraph_ess_all(IGRAPH_EDGEORDER_ID), false));
  IG(igraph_copy(&simple, &und));
  IG(igraph_simplify(&simple, true, true, NULL));
  IG(igraph_vector_int_init(&deg, 0));
  IG(igraph_degree(&simple, &deg, igraph_vss_all(), IGRAPH_ALL, false));
  IG(igraph_vector_init(&tri, 0));
  IG(igraph_adjacent_triangles(&simple, &tri, igraph_vss_all()));
  t_features = now_s() - t;
  double total = now_s() - t0;

  uint32_t seeds = 0;
  for (uint32_t v = 0; v < g.n; v++) seeds += g.seed[v] != 0;
  printf("vertices=%" PRIu32 " edges=%" PRIu64 " seeds=%" PRIu32
         " parse_s=%.3f graph_s=%.3f"
         " ppr_s=%.3f louvain_s=%.3f features_s=%.3f total_s=%.3f mailed=%" PRId64 "\n",
         g.n, g.m, seeds, parse_s, t_graph, t_ppr, t_louvain, t_features, total, (int64_t)j);

  igraph_destroy(&bad.graph), igraph_vector_destroy(&bad.weight);
  igraph_destroy(&good.graph), igraph_vector_destroy(&good.weight);
  igraph_destroy(&und), igraph_destroy(&mailed), igraph_destroy(&simple);
  igraph_vector_int_destroy(&ends), igraph_vector_int_destroy(&membership);
  igraph_vector_destroy(&weight), igraph_vector_int_destroy(&mailed_ends);
  igraph_vector_int_destroy(&deg), igraph_vector_bool_destroy(&mutual);
  igraph_vector_destroy(&tri);
  return 0;
usage:
  fprintf(stderr,
          "usage: bench_recompute_bare OBS.ndjson LABELS.tsv [--now TS] [--edges-out F --seeds-out "
          "F]\n");
  return 2;
}
