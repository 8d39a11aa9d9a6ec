/* features.c — the feature matrix of a recomputation (model.h, table in features.h).
 * Structure features come from the snapshot's edges through one adjacency list (both
 * directions); propagation features from a "view" of the walks: the served masses for
 * unlabelled actors, fold f's out-of-fold masses for the seeds in fold f — so no row sees its
 * own label, not even through a neighbour's score that its label raised. A view's
 * neighbour judgements (bad: a seed of the view labelled bad, or a score at or above
 * score.band_bad) are counted once per view, so the cost is O(folds × (n + m)). Any thread. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/model.h"
#include "repgraph/score.h"

#define F RG_FEATURE_COUNT

typedef struct {
  uint64_t *off; /* [n + 1] into adj */
  uint32_t *nb;  /* neighbour */
  uint64_t *arc; /* edge << 1 | (1 when v is the edge's dst) */
} adjacency_t;

static void adjacency_free(adjacency_t *a) {
  free(a->off), free(a->nb), free(a->arc);
}

static int adjacency_build(const rg_graph_t *g, adjacency_t *a) {
  memset(a, 0, sizeof *a);
  a->off = calloc((size_t)g->n + 1, sizeof *a->off);
  a->nb = malloc((2 * g->m + 1) * sizeof *a->nb);
  a->arc = malloc((2 * g->m + 1) * sizeof *a->arc);
  if (!a->off || !a->nb || !a->arc) {
    adjacency_free(a);
    return RG_ENOMEM;
  }
  for (uint64_t e = 0; e < g->m; e++) a->off[g->src[e] + 1]++, a->off[g->dst[e] + 1]++;
  for (uint32_t v = 0; v < g->n; v++) a->off[v + 1] += a->off[v];
  uint64_t *pos = malloc(((size_t)g->n + 1) * sizeof *pos);
  if (!pos) {
    adjacency_free(a);
    return RG_ENOMEM;
  }
  memcpy(pos, a->off, ((size_t)g->n + 1) * sizeof *pos);
  for (uint64_t e = 0; e < g->m; e++) {
    uint64_t p = pos[g->src[e]]++;
    a->nb[p] = g->dst[e], a->arc[p] = e << 1;
    p = pos[g->dst[e]]++;
    a->nb[p] = g->src[e], a->arc[p] = e << 1 | 1;
  }
  free(pos);
  return RG_OK;
}

/* One view of the walks: every actor's propagation score and whether it counts as bad or
 * good, and the per-cluster seed counts and score sums in that view. */
typedef struct {
  const double *bad, *good; /* masses */
  double *rep;              /* [n] propagation score, with the view's label pull */
  double *raw;              /* [n] propagation score without any pull */
  uint8_t *is_bad, *is_good, *seed_bad, *seed_good; /* [n] */
  uint32_t *bad_mailers;                   /* [n] senders mailing it that are bad in the view */
  double *c_bad, *c_good, *c_rep, *c_size; /* [clusters + 1] */
} view_t;

static void view_free(view_t *w) {
  free(w->rep), free(w->raw), free(w->is_bad), free(w->is_good), free(w->seed_bad);
  free(w->seed_good), free(w->bad_mailers), free(w->c_bad), free(w->c_good), free(w->c_rep);
  free(w->c_size);
}

static int view_alloc(const rg_graph_t *g, uint64_t clusters, view_t *w) {
  memset(w, 0, sizeof *w);
  size_t n = g->n ? g->n : 1, c = (size_t)clusters + 1;
  w->rep = malloc(n * sizeof *w->rep);
  w->raw = malloc(n * sizeof *w->raw);
  w->is_bad = malloc(n), w->is_good = malloc(n), w->seed_bad = malloc(n), w->seed_good = malloc(n);
  w->bad_mailers = malloc(n * sizeof *w->bad_mailers);
  w->c_bad = malloc(c * sizeof *w->c_bad), w->c_good = malloc(c * sizeof *w->c_good);
  w->c_rep = malloc(c * sizeof *w->c_rep), w->c_size = malloc(c * sizeof *w->c_size);
  if (!w->rep || !w->raw || !w->is_bad || !w->is_good || !w->seed_bad || !w->seed_good ||
      !w->bad_mailers || !w->c_bad || !w->c_good || !w->c_rep || !w->c_size) {
    view_free(w);
    return RG_ENOMEM;
  }
  return RG_OK;
}

/* Fills view f (0: the served walks) of g. */
static void view_fill(const rg_graph_t *g, const rg_result_t *r, const uint8_t *fold, unsigned f,
                      uint64_t clusters, const rg_model_opts_t *o, view_t *w) {
  w->bad = f ? r->fold_bad + (size_t)(f - 1) * g->n : r->bad_mass;
  w->good = f ? r->fold_good + (size_t)(f - 1) * g->n : r->good_mass;
  size_t c = (size_t)clusters + 1;
  memset(w->c_bad, 0, c * sizeof *w->c_bad);
  memset(w->c_good, 0, c * sizeof *w->c_good);
  memset(w->c_rep, 0, c * sizeof *w->c_rep);
  memset(w->c_size, 0, c * sizeof *w->c_size);
  memset(w->bad_mailers, 0, g->n * sizeof *w->bad_mailers);
  for (uint32_t v = 0; v < g->n; v++) {
    double rep = rg_score_reputation(w->bad[v], w->good[v], o->prior, o->smoothing);
    w->raw[v] = rep;
    bool seeded = g->seed[v] && !(f && fold && fold[v] == f);
    w->seed_bad[v] = seeded && g->seed[v] > 0;
    w->seed_good[v] = seeded && g->seed[v] < 0;
    if (seeded) {
      double lw = g->seed_weight[v] > 1 ? 1 : g->seed_weight[v];
      rep = lw * (g->seed[v] > 0 ? 1.0 : 0.0) + (1 - lw) * rep;
    }
    w->rep[v] = rep;
    w->is_bad[v] = w->seed_bad[v] || (!seeded && rep >= o->band_bad);
    w->is_good[v] = w->seed_good[v] || (!seeded && rep <= o->band_good);
    uint64_t cl = r->scores[v].cluster <= clusters ? r->scores[v].cluster : 0;
    w->c_bad[cl] += w->seed_bad[v];
    w->c_good[cl] += w->seed_good[v];
    w->c_rep[cl] += rep;
    w->c_size[cl] += 1;
  }
  for (uint64_t e = 0; e < g->m; e++)
    if (g->kind[e] == RG_EDGE_MAILED && w->is_bad[g->src[e]]) w->bad_mailers[g->dst[e]]++;
}

static bool infrastructure(rg_edge_kind_t k) {
  return k != RG_EDGE_MAILED;
}

/* Per-vertex counts the two-hop features read in O(1): senders per IP (in sent_from) and per
 * domain (in uses_domain), and an IP's net (its in_net edge; net_count > 1 is scanned). */
typedef struct {
  uint32_t *in_mailed, *in_sent_from, *in_uses_domain, *net_first, *net_count;
} hops_t;

static void hops_free(hops_t *h) {
  free(h->in_mailed), free(h->in_sent_from), free(h->in_uses_domain), free(h->net_first);
  free(h->net_count);
}

static int hops_build(const rg_graph_t *g, hops_t *h) {
  size_t n = g->n ? g->n : 1;
  h->in_mailed = calloc(n, sizeof *h->in_mailed);
  h->in_sent_from = calloc(n, sizeof *h->in_sent_from);
  h->in_uses_domain = calloc(n, sizeof *h->in_uses_domain);
  h->net_first = calloc(n, sizeof *h->net_first);
  h->net_count = calloc(n, sizeof *h->net_count);
  if (!h->in_mailed || !h->in_sent_from || !h->in_uses_domain || !h->net_first || !h->net_count) {
    hops_free(h);
    return RG_ENOMEM;
  }
  for (uint64_t e = 0; e < g->m; e++) {
    uint32_t s = g->src[e], d = g->dst[e];
    switch (g->kind[e]) {
      case RG_EDGE_MAILED: h->in_mailed[d]++; break;
      case RG_EDGE_SENT_FROM: h->in_sent_from[d]++; break;
      case RG_EDGE_USES_DOMAIN: h->in_uses_domain[d]++; break;
      case RG_EDGE_IN_NET:
        if (!h->net_count[s]++) h->net_first[s] = d;
        break;
      default: break;
    }
  }
  return RG_OK;
}

/* The features that need no view: counts, shares and times from the edges. */
static void structure_row(const rg_graph_t *g, const rg_result_t *r, const adjacency_t *a,
                          const hops_t *h, uint32_t v, const rg_model_opts_t *o, uint32_t *stamp,
                          float *x) {
  static const int out_of[RG_EDGE_KIND_COUNT] = {
      [RG_EDGE_MAILED] = RG_FEAT_OUT_MAILED, [RG_EDGE_SENT_FROM] = RG_FEAT_OUT_SENT_FROM,
      [RG_EDGE_IN_NET] = RG_FEAT_OUT_IN_NET, [RG_EDGE_USES_DOMAIN] = RG_FEAT_OUT_USES_DOMAIN,
      [RG_EDGE_HELO] = RG_FEAT_OUT_HELO,     [RG_EDGE_RDNS] = RG_FEAT_OUT_RDNS};
  for (int i = 0; i < F; i++) x[i] = NAN;
  x[RG_FEAT_TYPE] = g->type[v];
  x[RG_FEAT_MESSAGES] = (float)g->messages[v];
  double age = (double)(g->now - g->first_seen[v]) / 3600,
         active = (double)(g->last_seen[v] - g->first_seen[v]) / 3600;
  x[RG_FEAT_AGE_H] = (float)(age > 0 ? age : 0);
  x[RG_FEAT_ACTIVE_H] = (float)(active > 0 ? active : 0);
  x[RG_FEAT_RATE] = (float)((double)g->messages[v] / (active > 1 ? active : 1));
  double count[RG_EDGE_KIND_COUNT][2] = {{0}}, msgs_out = 0, msgs_in = 0;
  uint32_t stamp_v = v + 1;
  /* mark who mailed v, to find the recipients that wrote back */
  for (uint64_t p = a->off[v]; p < a->off[v + 1]; p++) {
    uint64_t e = a->arc[p] >> 1;
    bool in = a->arc[p] & 1;
    rg_edge_kind_t k = (rg_edge_kind_t)g->kind[e];
    count[k][in]++;
    if (k == RG_EDGE_MAILED) {
      double c = g->count ? g->count[e] : 1;
      if (in)
        msgs_in += c, stamp[a->nb[p]] = stamp_v;
      else
        msgs_out += c;
    }
  }
  for (int k = 0; k < RG_EDGE_KIND_COUNT; k++) {
    x[out_of[k]] = (float)count[k][0];
    x[out_of[k] + 1] = (float)count[k][1]; /* the table puts IN_x right after OUT_x */
  }
  x[RG_FEAT_OUT_MAILED_MSGS] = (float)msgs_out;
  x[RG_FEAT_IN_MAILED_MSGS] = (float)msgs_in;
  double recipients = count[RG_EDGE_MAILED][0], back = 0, repeat = 0, recent = 0, before = 0,
         ip_max = 0, dom_max = 0, infra = 0;
  int64_t period_start = g->now - o->period_s;
  for (uint64_t p = a->off[v]; p < a->off[v + 1]; p++) {
    uint64_t e = a->arc[p] >> 1;
    bool in = a->arc[p] & 1;
    uint32_t u = a->nb[p];
    rg_edge_kind_t k = (rg_edge_kind_t)g->kind[e];
    if (infrastructure(k)) infra++;
    if (k == RG_EDGE_MAILED && !in) {
      back += stamp[u] == stamp_v;
      repeat += g->count && g->count[e] > 1;
      if (g->edge_first && g->edge_last[e] >= period_start) {
        recent++;
        before += g->edge_first[e] < period_start;
      }
    }
    if (k == RG_EDGE_SENT_FROM && !in && h->in_sent_from[u] > ip_max) ip_max = h->in_sent_from[u];
    if (k == RG_EDGE_USES_DOMAIN && !in && h->in_uses_domain[u] > dom_max)
      dom_max = h->in_uses_domain[u];
  }
  x[RG_FEAT_INFRA] = (float)infra;
  if (recipients > 0) {
    x[RG_FEAT_RECIPROCITY] = (float)(back / recipients);
    x[RG_FEAT_REPEAT] = (float)(repeat / recipients);
  }
  if (recent > 0) {
    x[RG_FEAT_AUDIENCE] = (float)(before / recent);
    x[RG_FEAT_FRESH] = (float)(recent - before);
  }
  if (count[RG_EDGE_SENT_FROM][0] > 0) x[RG_FEAT_IP_SENDERS_MAX] = (float)ip_max;
  if (count[RG_EDGE_USES_DOMAIN][0] > 0) x[RG_FEAT_DOMAIN_SENDERS] = (float)dom_max;
  x[RG_FEAT_EGO_NODES] = (float)r->ego_nodes[v];
  x[RG_FEAT_EGO_EDGES] = (float)r->ego_edges[v];
  x[RG_FEAT_ODDBALL] = (float)r->oddball[v];
  x[RG_FEAT_ANOMALY] = (float)r->scores[v].anomaly;
}

#define BURST_WINDOW_S (6 * 3600)

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* A sender's burst: the most recipients it mailed for the first time within any 6 hours (a
 * compromised account's spree from its usual server; an honest sender adds contacts slowly).
 * when is scratch for v's out-degree first-contact times. */
static void burst_row(const rg_graph_t *g, const adjacency_t *a, uint32_t v, int64_t *when,
                      float *x) {
  if (!g->edge_first) return;
  uint64_t n = 0;
  for (uint64_t p = a->off[v]; p < a->off[v + 1]; p++) {
    uint64_t e = a->arc[p] >> 1;
    if (!(a->arc[p] & 1) && g->kind[e] == RG_EDGE_MAILED) when[n++] = g->edge_first[e];
  }
  if (n == 0) return;
  qsort(when, n, sizeof *when, cmp_i64);
  uint64_t peak = 0;
  for (uint64_t lo = 0, hi = 0; hi < n; hi++) {
    while (when[hi] - when[lo] >= BURST_WINDOW_S) lo++;
    if (hi - lo + 1 > peak) peak = hi - lo + 1;
  }
  x[RG_FEAT_BURST] = (float)peak;
}

/* Co-senders and nets need a second hop: counted with the stamp array. */
static void two_hop_row(const rg_graph_t *g, const adjacency_t *a, const hops_t *h, uint32_t v,
                        uint32_t *stamp, float *x) {
  const uint32_t *in_mailed = h->in_mailed;
  double co = 0, recipients = 0;
  uint32_t nets = 0, mark = v + 1 + g->n; /* distinct from structure_row's stamps */
  for (uint64_t p = a->off[v]; p < a->off[v + 1]; p++) {
    uint64_t e = a->arc[p] >> 1;
    if (a->arc[p] & 1) continue;
    uint32_t u = a->nb[p];
    if (g->kind[e] == RG_EDGE_MAILED) {
      co += in_mailed[u] > 0 ? in_mailed[u] - 1 : 0;
      recipients++;
    } else if (g->kind[e] == RG_EDGE_SENT_FROM && h->net_count[u] == 1) {
      uint32_t net = h->net_first[u];
      if (stamp[net] != mark) stamp[net] = mark, nets++;
    } else if (g->kind[e] == RG_EDGE_SENT_FROM && h->net_count[u] > 1) { /* rare: scan it */
      for (uint64_t q = a->off[u]; q < a->off[u + 1]; q++) {
        if (g->kind[a->arc[q] >> 1] != RG_EDGE_IN_NET || (a->arc[q] & 1)) continue;
        uint32_t net = a->nb[q];
        if (stamp[net] != mark) stamp[net] = mark, nets++;
      }
    }
  }
  if (recipients > 0) x[RG_FEAT_CO_SENDERS] = (float)(co / recipients);
  if (g->type[v] == RG_ACTOR_ADDRESS) x[RG_FEAT_NETS] = (float)nets;
}

/* The features that depend on the view: masses, neighbours judged bad, community shares. */
static void view_row(const rg_graph_t *g, const rg_result_t *r, const adjacency_t *a,
                     const view_t *w, uint64_t clusters, uint32_t v, const uint32_t *in_mailed,
                     float *x) {
  x[RG_FEAT_BAD_MASS] = (float)w->bad[v];
  x[RG_FEAT_GOOD_MASS] = (float)w->good[v];
  x[RG_FEAT_PROPAGATED] = (float)w->raw[v];
  double infra = 0, infra_bad = 0, infra_good = 0, infra_rep = 0, ips_bad = 0, users = 0,
         users_bad = 0, rec = 0, rec_rep = 0, mailers = 0, mailers_bad = 0, co_bad = 0, co_n = 0;
  for (uint64_t p = a->off[v]; p < a->off[v + 1]; p++) {
    uint64_t e = a->arc[p] >> 1;
    bool in = a->arc[p] & 1;
    uint32_t u = a->nb[p];
    rg_edge_kind_t k = (rg_edge_kind_t)g->kind[e];
    if (infrastructure(k)) {
      infra++;
      infra_bad += w->is_bad[u];
      infra_good += w->is_good[u];
      infra_rep += w->rep[u];
      if (k == RG_EDGE_SENT_FROM && !in) ips_bad += w->is_bad[u];
      if ((k == RG_EDGE_SENT_FROM || k == RG_EDGE_USES_DOMAIN) && in) {
        users++;
        users_bad += w->is_bad[u];
      }
    } else if (!in) { /* a recipient */
      rec++;
      rec_rep += w->rep[u];
      uint32_t others = in_mailed[u] > 0 ? in_mailed[u] - 1 : 0;
      if (others > 0) {
        uint32_t bad_others = w->bad_mailers[u] - (w->is_bad[v] && w->bad_mailers[u] ? 1 : 0);
        co_bad += (double)bad_others / others;
        co_n++;
      }
    } else { /* a sender mailing v */
      mailers++;
      mailers_bad += w->is_bad[u];
    }
  }
  if (infra > 0) {
    x[RG_FEAT_INFRA_BAD] = (float)infra_bad;
    x[RG_FEAT_INFRA_GOOD] = (float)infra_good;
    x[RG_FEAT_INFRA_REP] = (float)(infra_rep / infra);
  }
  if (g->type[v] == RG_ACTOR_ADDRESS) x[RG_FEAT_IPS_BAD] = (float)ips_bad;
  if (users > 0) x[RG_FEAT_SENDERS_BAD] = (float)users_bad;
  if (rec > 0) x[RG_FEAT_RECIPIENT_REP] = (float)(rec_rep / rec);
  if (mailers > 0) x[RG_FEAT_MAILER_BAD] = (float)(mailers_bad / mailers);
  if (co_n > 0) x[RG_FEAT_CO_SENDER_BAD] = (float)(co_bad / co_n);
  uint64_t cl = r->scores[v].cluster <= clusters ? r->scores[v].cluster : 0;
  double size = w->c_size[cl] - 1; /* not itself: its own label or score stays out */
  x[RG_FEAT_COMMUNITY_SIZE] = (float)w->c_size[cl];
  if (size > 0) {
    x[RG_FEAT_COMMUNITY_BAD] = (float)((w->c_bad[cl] - w->seed_bad[v]) / size);
    x[RG_FEAT_COMMUNITY_GOOD] = (float)((w->c_good[cl] - w->seed_good[v]) / size);
    x[RG_FEAT_COMMUNITY_REP] = (float)((w->c_rep[cl] - w->rep[v]) / size);
  }
}

int rg_features_compute(const rg_graph_t *g, const rg_result_t *r, const uint8_t *fold,
                        unsigned folds, const rg_model_opts_t *o, float *x) {
  adjacency_t a;
  view_t w;
  int rc = adjacency_build(g, &a);
  if (rc) return rc;
  uint64_t clusters = r->n_clusters;
  hops_t h = {0};
  uint32_t *stamp = calloc(g->n ? 2 * (size_t)g->n : 1, sizeof *stamp);
  uint64_t degree_max = 1;
  for (uint32_t v = 0; v < g->n; v++)
    if (a.off[v + 1] - a.off[v] > degree_max) degree_max = a.off[v + 1] - a.off[v];
  int64_t *when = malloc(degree_max * sizeof *when);
  if (!stamp || !when || (rc = hops_build(g, &h)) || (rc = view_alloc(g, clusters, &w))) {
    free(stamp), free(when), hops_free(&h), adjacency_free(&a);
    return rc ? rc : RG_ENOMEM;
  }
  const uint32_t *in_mailed = h.in_mailed;
  for (uint32_t v = 0; v < g->n; v++) {
    structure_row(g, r, &a, &h, v, o, stamp, x + (size_t)v * F);
    two_hop_row(g, &a, &h, v, stamp, x + (size_t)v * F);
    burst_row(g, &a, v, when, x + (size_t)v * F);
  }
  free(when);
  bool have_folds = folds >= 2 && fold && r->fold_bad && r->fold_good;
  for (unsigned f = 0; f <= (have_folds ? folds : 0); f++) {
    view_fill(g, r, have_folds ? fold : NULL, f, clusters, o, &w);
    for (uint32_t v = 0; v < g->n; v++) {
      unsigned vf = have_folds && g->seed[v] && fold[v] <= folds ? fold[v] : 0;
      if (vf == f) view_row(g, r, &a, &w, clusters, v, in_mailed, x + (size_t)v * F);
    }
  }
  view_free(&w);
  free(stamp);
  hops_free(&h);
  adjacency_free(&a);
  return RG_OK;
}
