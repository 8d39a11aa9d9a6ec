/* evidence.c — what stands behind a score, for the message verdict (check.c) to weigh:
 *  - for an address, its engaged recipients: those who wrote back to it, or whom it mailed
 *    more than once. Legitimate mail has an audience (correspondents, subscribers mailed
 *    issue after issue); spam goes to strangers once.
 *  - for infrastructure (an IP, a sender domain, a net), the senders using it and how many
 *    of them the propagation scores bad or good: a freemail domain or a provider's outbound
 *    IP carries both (mixed), a snowshoe IP only bad ones.
 * Pure arithmetic over the snapshot and the computed scores, linear in the edges (plus a
 * sort of the mailed edges). Any thread. */
#include "repgraph/evidence.h"

#include <stdlib.h>

#include "repgraph/err.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static bool has_pair(const uint64_t *pairs, size_t n, uint32_t src, uint32_t dst) {
  uint64_t key = (uint64_t)src << 32 | dst;
  return bsearch(&key, pairs, n, sizeof *pairs, cmp_u64) != NULL;
}

static uint32_t add_sat(uint32_t a, uint32_t b) {
  return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

/* Engaged recipients of every address: a mailed edge counts when it was used more than once
 * or its reverse exists. */
static int engaged_recipients(const rg_graph_t *g, rg_score_t *scores) {
  size_t n = 0;
  for (uint64_t e = 0; e < g->m; e++) n += g->kind[e] == RG_EDGE_MAILED;
  uint64_t *pairs = malloc((n ? n : 1) * sizeof *pairs);
  if (!pairs) return RG_ENOMEM;
  size_t k = 0;
  for (uint64_t e = 0; e < g->m; e++)
    if (g->kind[e] == RG_EDGE_MAILED) pairs[k++] = (uint64_t)g->src[e] << 32 | g->dst[e];
  qsort(pairs, k, sizeof *pairs, cmp_u64);
  for (uint64_t e = 0; e < g->m; e++) {
    if (g->kind[e] != RG_EDGE_MAILED) continue;
    if (g->count[e] >= 2 || has_pair(pairs, k, g->dst[e], g->src[e]))
      scores[g->src[e]].engaged = add_sat(scores[g->src[e]].engaged, 1);
  }
  free(pairs);
  return RG_OK;
}

/* Counts user u (of class bad / good / neither) on infrastructure vertex v. */
static void count_user(rg_score_t *v, int cls, uint32_t weight) {
  v->users = add_sat(v->users, weight);
  if (cls > 0) v->bad_users = add_sat(v->bad_users, weight);
  if (cls < 0) v->good_users = add_sat(v->good_users, weight);
}

int rg_evidence_fill(const rg_graph_t *g, double band_bad, double band_good, rg_score_t *scores) {
  for (uint32_t v = 0; v < g->n; v++)
    scores[v].users = scores[v].bad_users = scores[v].good_users = scores[v].engaged = 0;
  int rc = engaged_recipients(g, scores);
  if (rc) return rc;
  /* An address is bad when labelled bad or scored at the bad band, good when labelled good
   * or scored at the good band; the rest neither. */
  int8_t *cls = malloc((g->n ? g->n : 1) * sizeof *cls);
  if (!cls) return RG_ENOMEM;
  for (uint32_t v = 0; v < g->n; v++) {
    double r = scores[v].reputation;
    cls[v] = g->seed[v] ? g->seed[v] : r >= band_bad ? 1 : r <= band_good ? -1 : 0;
  }
  for (uint64_t e = 0; e < g->m; e++)
    if (g->kind[e] == RG_EDGE_SENT_FROM || g->kind[e] == RG_EDGE_USES_DOMAIN)
      count_user(&scores[g->dst[e]], cls[g->src[e]], 1);
  /* A net's users are its IPs' (sender, IP) pairs, by the senders' classes. */
  for (uint64_t e = 0; e < g->m; e++) {
    if (g->kind[e] != RG_EDGE_IN_NET) continue;
    const rg_score_t *ip = &scores[g->src[e]];
    rg_score_t *net = &scores[g->dst[e]];
    net->users = add_sat(net->users, ip->users);
    net->bad_users = add_sat(net->bad_users, ip->bad_users);
    net->good_users = add_sat(net->good_users, ip->good_users);
  }
  free(cls);
  return RG_OK;
}
