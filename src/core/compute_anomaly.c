/* compute_anomaly.c — step 5 of the recomputation (compute.c): per actor, robust z-scores of
 * fan-out, IPs per sender, senders per IP, unanswered mail, OddBall egonet deviation and
 * youth; the weighted worst of them squashed into [0,1] is its anomaly score, and each
 * feature deviating by ANOMALY_Z or more becomes a reason, strongest first. */
#include <igraph.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute_internal.h"
#include "repgraph/err.h"
#include "repgraph/score.h"

enum { F_FANOUT, F_IPS, F_UNANSWERED, F_SENDERS, F_EGONET, F_YOUTH, N_FEATURES };

typedef struct {
  double *value[N_FEATURES]; /* raw feature, NAN where it does not apply */
  double *z[N_FEATURES];
  double median[N_FEATURES];
  uint32_t *fanout, *mutual, *ips, *senders;
  double *ego_edges;
} features_t;

static void free_features(features_t *f) {
  for (int i = 0; i < N_FEATURES; i++) free(f->value[i]), free(f->z[i]);
  free(f->fanout), free(f->mutual), free(f->ips), free(f->senders), free(f->ego_edges);
}

/* z-scores of one feature over the vertices where it applies (others get 0). */
static int zscore(const rg_graph_t *g, features_t *f, int i) {
  double *vals = malloc(g->n * sizeof *vals), *z = malloc(g->n * sizeof *z),
         *scratch = malloc(g->n * sizeof *scratch);
  uint32_t *where = malloc(g->n * sizeof *where);
  int rc = vals && z && scratch && where ? RG_OK : RG_ENOMEM;
  size_t k = 0;
  for (uint32_t v = 0; !rc && v < g->n; v++)
    if (!isnan(f->value[i][v])) where[k] = v, vals[k++] = f->value[i][v];
  if (!rc && k) {
    rg_robust_z(vals, k, z, scratch);
    memcpy(scratch, vals, k * sizeof *vals);
    f->median[i] = rg_score_median(scratch, k);
    for (size_t j = 0; j < k; j++) f->z[i][where[j]] = z[j];
  }
  free(vals), free(z), free(scratch), free(where);
  return rc;
}

/* The raw features, their z-scores, and the egonet measures the model reuses (in r). */
static int measure(const rg_graph_t *g, igraph_t *und, features_t *f, rg_result_t *r, char *err,
                   size_t errlen) {
  int rc = RG_OK;
  igraph_t mailed;
  igraph_vector_int_t deg, mailed_ends;
  igraph_vector_t tri;
  igraph_vector_bool_t mutual;
  bool have_mailed = false, have_deg = false, have_tri = false,
       have_mutual = false, have_ends = false;
  for (int i = 0; i < N_FEATURES; i++) {
    ALLOC(f->value[i], g->n);
    ALLOC(f->z[i], g->n);
    for (uint32_t v = 0; v < g->n; v++) f->value[i][v] = NAN;
  }
  ALLOC(f->fanout, g->n);
  ALLOC(f->mutual, g->n);
  ALLOC(f->ips, g->n);
  ALLOC(f->senders, g->n);
  ALLOC(f->ego_edges, g->n);

  /* Degrees per kind, and which mailed edges are answered (igraph_is_mutual). */
  uint64_t n_mailed = 0;
  for (uint64_t e = 0; e < g->m; e++) {
    if (g->kind[e] == RG_EDGE_MAILED) f->fanout[g->src[e]]++, n_mailed++;
    if (g->kind[e] == RG_EDGE_SENT_FROM) f->ips[g->src[e]]++, f->senders[g->dst[e]]++;
  }
  IG(igraph_vector_int_init(&mailed_ends, 2 * (igraph_integer_t)n_mailed));
  have_ends = true;
  igraph_integer_t j = 0;
  for (uint64_t e = 0; e < g->m; e++)
    if (g->kind[e] == RG_EDGE_MAILED) {
      VECTOR(mailed_ends)[j++] = g->src[e];
      VECTOR(mailed_ends)[j++] = g->dst[e];
    }
  IG(igraph_create(&mailed, &mailed_ends, g->n, IGRAPH_DIRECTED));
  have_mailed = true;
  IG(igraph_vector_bool_init(&mutual, 0));
  have_mutual = true;
  IG(igraph_is_mutual(&mailed, &mutual, igraph_ess_all(IGRAPH_EDGEORDER_ID), false));
  for (igraph_integer_t e = 0; e < (igraph_integer_t)n_mailed; e++)
    if (VECTOR(mutual)[e]) f->mutual[VECTOR(mailed_ends)[2 * e]]++;

  /* Egonets on the simple undirected graph: N = degree + 1, E = degree + triangles (und is
   * simplified in place: nothing needs it after this step) */
  IG(igraph_simplify(und, true, true, NULL));
  IG(igraph_vector_int_init(&deg, 0));
  have_deg = true;
  IG(igraph_degree(und, &deg, igraph_vss_all(), IGRAPH_ALL, false));
  IG(igraph_vector_init(&tri, 0));
  have_tri = true;
  IG(igraph_adjacent_triangles(und, &tri, igraph_vss_all()));
  double *nodes, *oddball;
  ALLOC(r->ego_nodes, g->n);
  ALLOC(r->oddball, g->n);
  ALLOC(r->ego_edges, g->n);
  nodes = r->ego_nodes, oddball = r->oddball; /* kept in the result for the model's features */
  for (uint32_t v = 0; v < g->n; v++) {
    nodes[v] = (double)VECTOR(deg)[v] + 1;
    f->ego_edges[v] = (double)VECTOR(deg)[v] + VECTOR(tri)[v];
  }
  rg_oddball(nodes, f->ego_edges, g->n, oddball);

  for (uint32_t v = 0; v < g->n; v++) {
    bool address = g->type[v] == RG_ACTOR_ADDRESS;
    if (address && f->fanout[v]) {
      f->value[F_FANOUT][v] = log1p(f->fanout[v]);
      f->value[F_UNANSWERED][v] = (1 - (double)f->mutual[v] / f->fanout[v]) * log1p(f->fanout[v]);
    }
    if (address && f->ips[v]) f->value[F_IPS][v] = log1p(f->ips[v]);
    if (g->type[v] == RG_ACTOR_IP && f->senders[v]) f->value[F_SENDERS][v] = log1p(f->senders[v]);
    if (nodes[v] > 2) f->value[F_EGONET][v] = log1p(oddball[v]);
    double age_h = (double)(g->now - g->first_seen[v]) / 3600.0;
    f->value[F_YOUTH][v] = -log1p(age_h > 0 ? age_h : 0);
  }
  memcpy(r->ego_edges, f->ego_edges, g->n * sizeof *r->ego_edges);
  for (int i = 0; i < N_FEATURES && !rc; i++) rc = zscore(g, f, i);
fail:
  if (have_mailed) igraph_destroy(&mailed);
  if (have_deg) igraph_vector_int_destroy(&deg);
  if (have_tri) igraph_vector_destroy(&tri);
  if (have_mutual) igraph_vector_bool_destroy(&mutual);
  if (have_ends) igraph_vector_int_destroy(&mailed_ends);
  return rc;
}

/* Feature weight in the combined anomaly (youth alone says little). */
static const double feature_weight[N_FEATURES] = {1, 1, 1, 1, 0.7, 0.5};
#define ANOMALY_Z 3.0 /* a feature deviating this much becomes a reason */

static rg_reason_t feature_reason(const features_t *f, int i, uint32_t v, const rg_graph_t *g) {
  rg_reason_t r = {0, 0, 0};
  switch (i) {
    case F_FANOUT: r = (rg_reason_t){RG_REASON_FANOUT, f->fanout[v], (uint64_t)llround(expm1(f->median[i]))}; break;
    case F_IPS: r = (rg_reason_t){RG_REASON_MANY_IPS, f->ips[v], (uint64_t)llround(expm1(f->median[i]))}; break;
    case F_UNANSWERED:
      r = (rg_reason_t){RG_REASON_LOW_RECIPROCITY, (double)f->mutual[v] / f->fanout[v], f->fanout[v]};
      break;
    case F_SENDERS: r = (rg_reason_t){RG_REASON_MANY_SENDERS, f->senders[v], (uint64_t)llround(expm1(f->median[i]))}; break;
    case F_EGONET: r = (rg_reason_t){RG_REASON_EGONET, f->z[i][v], (uint64_t)f->ego_edges[v]}; break;
    case F_YOUTH: r = (rg_reason_t){RG_REASON_YOUNG, (double)(g->now - g->first_seen[v]) / 3600.0, 0}; break;
  }
  return r;
}

int rg__compute_anomalies(const rg_graph_t *g, igraph_t *und, rg_result_t *r, char *err,
                          size_t errlen) {
  features_t f = {0};
  int rc = measure(g, und, &f, r, err, errlen);
  for (uint32_t v = 0; !rc && v < g->n; v++) {
    double worst = 0;
    int order[N_FEATURES], n_dev = 0;
    for (int i = 0; i < N_FEATURES; i++) {
      double z = f.z[i][v] * feature_weight[i];
      if (z > worst) worst = z;
      if (f.z[i][v] >= ANOMALY_Z && !isnan(f.value[i][v])) order[n_dev++] = i;
    }
    r->scores[v].anomaly = rg_squash(worst, 6.0);
    /* strongest deviations first */
    for (int a = 1; a < n_dev; a++)
      for (int b = a; b > 0 && f.z[order[b]][v] > f.z[order[b - 1]][v]; b--) {
        int tmp = order[b];
        order[b] = order[b - 1];
        order[b - 1] = tmp;
      }
    for (int a = 0; a < n_dev; a++) rg__add_reason(&r->scores[v], feature_reason(&f, order[a], v, g));
  }
  free_features(&f);
  return rc;
}
