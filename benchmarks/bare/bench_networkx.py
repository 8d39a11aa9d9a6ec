#!/usr/bin/python3
"""The recomputation as an analyst would write it by hand with networkx: on the graph
bench_recompute_bare expands (--edges-out / --seeds-out), the same steps repgraph runs —
the two walk graphs (the bad walk with a recipient role per actor), weighted personalized
PageRank from the bad and from the good seeds, communities, and the anomaly features
(unanswered mail via reciprocated edges, degree and triangles of the simple undirected
graph). Communities use networkx's label propagation (asyn_lpa_communities, weighted,
seeded): cheaper than the Louvain repgraph runs, so the comparison favours networkx.
Prints one line of key=value timings (seconds).
Usage: /usr/bin/python3 benchmarks/bare/bench_networkx.py EDGES.txt SEEDS.txt
"""
import sys, time

import networkx as nx

FACTOR = [0.5, 1, 1, 1, 0.5]  # walk weight per kind: mailed, sent_from, in_net, uses_domain, helo
MAILED = 0


def load(edges_path, seeds_path):
    with open(edges_path) as f:
        n, _m = map(int, f.readline().split())
        edges = [(int(s), int(d), int(k), float(w)) for s, d, k, w in (line.split() for line in f)]
    with open(seeds_path) as f:
        seeds = [(int(v), int(x), float(w)) for v, x, w in (line.split() for line in f)]
    return n, edges, seeds


def walk(n, edges, split):
    g = nx.DiGraph()
    g.add_nodes_from(range(2 * n if split else n))
    arcs = []
    for s, d, k, w in edges:
        w = max(w, 1e-9) * FACTOR[k]
        if split and k == MAILED:
            d += n
        arcs.append((s, d, w))
        arcs.append((d, s, w))
    g.add_weighted_edges_from(arcs)
    return g


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    t = {}
    t0 = time.perf_counter()
    n, edges, seeds = load(sys.argv[1], sys.argv[2])
    bad_walk, good_walk = walk(n, edges, True), walk(n, edges, False)
    t["load_s"] = time.perf_counter() - t0

    s = time.perf_counter()
    for g, verdict in ((bad_walk, 1), (good_walk, -1)):
        reset = {v: w for v, x, w in seeds if x == verdict}
        nx.pagerank(g, alpha=0.85, personalization=reset, weight="weight", max_iter=1000, tol=1e-10)
    t["ppr_s"] = time.perf_counter() - s

    s = time.perf_counter()
    und = nx.Graph()
    und.add_nodes_from(range(n))
    und.add_weighted_edges_from((a, b, max(w, 1e-9)) for a, b, _k, w in edges)
    communities = list(nx.community.asyn_lpa_communities(und, weight="weight", seed=1))
    t["communities_s"] = time.perf_counter() - s

    s = time.perf_counter()
    mailed = nx.DiGraph()
    mailed.add_nodes_from(range(n))
    mailed.add_edges_from((a, b) for a, b, k, _w in edges if k == MAILED)
    answered = sum(1 for a, b in mailed.edges() if mailed.has_edge(b, a))
    und.remove_edges_from(list(nx.selfloop_edges(und)))
    degree = dict(und.degree())
    triangles = nx.triangles(und)
    t["features_s"] = time.perf_counter() - s
    t["total_s"] = time.perf_counter() - t0
    print(" ".join(f"{k}={v:.3f}" for k, v in t.items()) +
          f" vertices={n} edges={len(edges)} communities={len(communities)} answered={answered}"
          f" triangles={sum(triangles.values()) // 3} max_degree={max(degree.values())}")


if __name__ == "__main__":
    main()
