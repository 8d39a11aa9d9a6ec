#!/usr/bin/env bash
# Peak server memory while exporting one very large cluster: writes a store with
# a single cluster of MEMBERS addresses (benchmarks/make_big_cluster), starts repgraphd on
# it, exports the cluster through the paged export op with the CLI (GraphML via igraph and
# CSV), and prints the server's memory before and after, sampled every 20 ms during the
# export. Usage: benchmarks/harness/export_memory.sh [MEMBERS] [PAGE] (defaults 100000, 1000).
# Builds Release into build-bench/.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
members=${1:-100000}
page=${2:-1000}
cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DRG_BUILD_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j2 >/dev/null
bin="$top/build-bench"
dir=$(mktemp -d /tmp/repgraph-export.XXXXXX)
"$bin/benchmarks/make_big_cluster" "$dir/store" "$members" 4
port=$(( 20000 + RANDOM % 20000 ))
"$bin/repgraphd" --data "$dir/store" --port "$port" --unix none --log-level warn \
  --set store.map_size=4G --set store.map_max=4G --set recompute.interval=0 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server; rm -rf "$dir"' EXIT
for _ in $(seq 100); do "$bin/repgraph" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
field() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$server/status"; }
"$bin/repgraph" -p "$port" clusters --limit 1 >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "server before export: VmRSS $(field VmRSS) kB, RssAnon $(field RssAnon) kB, VmHWM $(field VmHWM) kB"
printf '| format | members | nodes + edges | export s | client max RSS kB | server peak RssAnon kB | server VmHWM kB |\n|---|---:|---:|---:|---:|---:|---:|\n'
for fmt in csv graphml; do
  peak_anon=0
  ( while kill -0 $server 2>/dev/null; do
      a=$(field RssAnon); [ "$a" -gt "$peak_anon" ] && peak_anon=$a && echo "$a" > "$dir/anon"
      sleep 0.02; done ) &
  sampler=$!
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$dir/client_rss" "$bin/repgraph" -p "$port" export --cluster 1 \
    --format "$fmt" --page "$page" --out "$dir/out.$fmt" > "$dir/summary"
  end=$(date +%s.%N)
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null || true
  items=$(sed -E 's/exported ([0-9]+) nodes and ([0-9]+) edges.*/\1 + \2/' "$dir/summary")
  printf '| %s | %s | %s | %.2f | %s | %s | %s |\n' "$fmt" "$members" "$items" \
    "$(echo "$end - $start" | bc)" "$(cat "$dir/client_rss")" "$(cat "$dir/anon")" "$(field VmHWM)"
done
echo "(VmHWM counts the LMDB pages the export read, which are file-backed and reclaimable; RssAnon is the server's own memory)"
echo "store on disk: $(du -sh "$dir/store" | cut -f1)"
"$bin/repgraph" -p "$port" --json stats | python3 -c '
import json, sys
h = json.load(sys.stdin)["requests"]["export"]
l = h["latency"]
print("export pages: %d, latency on the loop p50 %d us, p99 %d us, max %d us"
      % (h["count"], l["p50_us"], l["p99_us"], l["max_us"]))'

