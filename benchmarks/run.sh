#!/usr/bin/env bash
# The performance suite in one command: builds Release into build-bench/, then runs
# benchmarks/harness/suite.py, which starts repgraphd, redis-server and the bare programs itself on
# loopback and prints one Markdown table with ratios (also written with plots to
# benchmarks/results/). Every comparison runs in alternating pairs (A B A B A B, --pairs 3)
# and is marked noisy when the pairs disagree or the machine is busy (see suite.py --help).
# Options go to suite.py (--help); --big adds the 10M-edge recompute.
# --scale runs benchmarks/harness/scale.py instead (scale curves at 1M, 3M, 10M edges; its
# options after --scale, see scale.py --help). --cluster runs benchmarks/harness/cluster_bench.py
# (a 3-node NATS cluster and 3 replicas: ingest through the log vs a single node, lookups
# over 1-3 replicas, replication lag; see cluster_bench.py --help).
# Needs `bash scripts/install-deps.sh --bench` first, and 2 CPUs (taskset pins
# the servers to CPU 1, the load generators to CPU 0).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DRG_BUILD_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j"$(nproc)" >/dev/null
if [ "${1:-}" = "--scale" ]; then
  shift
  exec /usr/bin/python3 "$top/benchmarks/harness/scale.py" --build "$top/build-bench" "$@"
fi
if [ "${1:-}" = "--cluster" ]; then
  shift
  exec /usr/bin/python3 "$top/benchmarks/harness/cluster_bench.py" --build "$top/build-bench" "$@"
fi
exec /usr/bin/python3 "$top/benchmarks/harness/suite.py" --build "$top/build-bench" "$@"
