/* make_big_cluster.c — writes a store holding one generation with a single cluster of N
 * members, for measuring exports of very large clusters (benchmarks/harness/export_memory.sh).
 * Louvain does not put 100k generated actors into one community, so the generation is
 * written directly through the store API, exactly as recomputation publishes one:
 * N addresses (cluster 1), each sending from one of N/1000 IPs and mailing K other members.
 * Usage: make_big_cluster DIR [N] [K]   (defaults 100000, 4; fixed seed) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "repgraph/err.h"
#include "repgraph/store.h"

#define BATCH 5000 /* actors per write transaction */

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) { /* xorshift64: a fixed sequence */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static int check(int rc, const char *what) {
  if (rc) fprintf(stderr, "make_big_cluster: %s: %s\n", what, rg_strerror(rc));
  return rc;
}

static rg_actor_t address(uint64_t i) {
  rg_actor_t a = {.type = RG_ACTOR_ADDRESS};
  a.len = (uint16_t)snprintf(a.key, sizeof a.key, "m%" PRIu64 "@big.example", i);
  return a;
}

static rg_actor_t ip(uint64_t i) {
  rg_actor_t a = {.type = RG_ACTOR_IP};
  a.len = (uint16_t)snprintf(a.key, sizeof a.key, "10.%u.%u.%u", (unsigned)(i >> 16) & 255,
                             (unsigned)(i >> 8) & 255, (unsigned)i & 255);
  return a;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: make_big_cluster DIR [MEMBERS] [EDGES_PER_MEMBER]\n");
    return 2;
  }
  uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000,
           k = argc > 3 ? strtoull(argv[3], NULL, 10) : 4;
  uint64_t n_ips = n / 1000 + 1, ts = 1700000000;
  rg_store_opts_t o = {argv[1], UINT64_C(4) << 30, UINT64_C(4) << 30, 7 * 86400.0, NULL};
  char err[512];
  rg_store_t *s;
  if (rg_store_open(&o, &s, err, sizeof err)) {
    fprintf(stderr, "make_big_cluster: %s\n", err);
    return 1;
  }
  uint64_t *ids = malloc((n + n_ips) * sizeof *ids);
  rg_txn_t *t = NULL;
  int rc = ids ? RG_OK : RG_ENOMEM;
  /* actors: ids[0..n) addresses, ids[n..n+n_ips) IPs */
  for (uint64_t i = 0; i < n + n_ips && !rc; i++) {
    if (i % BATCH == 0 && (rc = check(rg_store_write_begin(s, &t), "begin"))) break;
    rg_actor_t a = i < n ? address(i) : ip(i - n);
    rc = check(rg_store_upsert_actor(t, &a, (int64_t)ts, (int64_t)ts, 1, &ids[i]), "actor");
    if (!rc && (i % BATCH == BATCH - 1 || i == n + n_ips - 1))
      rc = check(rg_store_commit(t), "commit"), t = NULL;
  }
  /* edges and scores, member by member */
  for (uint64_t i = 0; i < n && !rc; i++) {
    if (i % BATCH == 0 && (rc = check(rg_store_write_begin(s, &t), "begin"))) break;
    rc = rg_store_add_edge(t, ids[i], RG_EDGE_SENT_FROM, ids[n + i % n_ips], (int64_t)ts, 1, 1);
    for (uint64_t j = 0; j < k && !rc; j++) {
      uint64_t other = next_rand() % n;
      if (other != i)
        rc = rg_store_add_edge(t, ids[i], RG_EDGE_MAILED, ids[other], (int64_t)ts, 1, 1);
    }
    rg_score_t sc = {.reputation = (double)(next_rand() % 1000) / 1000,
                     .anomaly = 0.1,
                     .cluster = 1,
                     .propagated = RG_VERDICT_BAD,
                     .band = RG_BAND_SUSPICIOUS};
    if (!rc) rc = rg_store_put_score(t, 1, ids[i], &sc);
    if (i < n_ips && !rc) rc = rg_store_put_score(t, 1, ids[n + i], &sc);
    check(rc, "edges and scores");
    if (!rc && (i % BATCH == BATCH - 1 || i == n - 1))
      rc = check(rg_store_commit(t), "commit"), t = NULL;
  }
  /* the member index, in id order (ids were handed out in order); no rankings: not exported */
  for (uint64_t i = 0; i < n + n_ips && !rc; i++) {
    if (i % BATCH == 0 && (rc = check(rg_store_write_begin(s, &t), "begin"))) break;
    rc = check(rg_store_append_member(t, 1, 1, ids[i]), "member");
    if (!rc && (i % BATCH == BATCH - 1 || i == n + n_ips - 1))
      rc = check(rg_store_commit(t), "commit"), t = NULL;
  }
  if (!rc) rc = check(rg_store_write_begin(s, &t), "begin");
  if (!rc) {
    rg_cluster_t c = {.id = 1,
                      .size = n + n_ips,
                      .suspicion = 0.9,
                      .mean_reputation = 0.5,
                      .first_seen = (int64_t)ts,
                      .last_seen = (int64_t)ts};
    c.by_type[RG_ACTOR_ADDRESS] = (uint32_t)n;
    c.by_type[RG_ACTOR_IP] = (uint32_t)n_ips;
    rg_generation_t g = {.generation = 1,
                         .computed_at = (int64_t)ts,
                         .vertices = n + n_ips,
                         .edges = n * (k + 1),
                         .clusters = 1};
    rc = check(rg_store_put_cluster(t, 1, &c), "cluster");
    if (!rc) rc = check(rg_store_publish_generation(t, &g), "publish");
    if (!rc) rc = check(rg_store_commit(t), "commit"), t = NULL;
  }
  rg_store_end(t); /* left open only by an error */
  free(ids);
  rg_store_close(s);
  if (!rc) printf("make_big_cluster: cluster 1 of generation 1: %" PRIu64 " members\n", n + n_ips);
  return rc ? 1 : 0;
}
