#!/usr/bin/env bash
# First end-to-end measurement (issue 2): starts repgraphd on a temporary store, ingests
# EDGES mailed edges through the socket (pipelined), reads every sender back, prints a
# table. Usage: benchmarks/first_measure.sh [EDGES] (default 1000000). Run after the
# README's set-up; builds Release into build-bench/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
edges=${1:-1000000}
cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DRG_BUILD_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j"$(nproc)" >/dev/null
dir=$(mktemp -d /tmp/repgraph-bench.XXXXXX)
port=$(( 20000 + RANDOM % 20000 ))
"$top/build-bench/repgraphd" --data "$dir/store" --port "$port" --unix none --log-level warn &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server; rm -rf "$dir"' EXIT
for _ in $(seq 100); do "$top/build-bench/repgraph" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$top/build-bench/benchmarks/bench_ingest_lookup" -p "$port" -n "$edges"
echo "store on disk: $(du -sh "$dir/store" | cut -f1)"
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2, $3}')"
