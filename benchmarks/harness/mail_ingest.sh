#!/usr/bin/env bash
# Mail ingestion throughput: `repgraph ingest-mail` of a generated Maildir against
# `repgraph ingest` of the same observations as NDJSON, through the real server. Generates
# MESSAGES messages (benchmarks/gen/gen_maildir.py: several MTAs' Received shapes, forwarded
# and list mail, encoded words) and their observations, then runs the two sides ROUNDS times,
# alternating which goes first, each into a fresh store, and prints messages/s per run and
# the median ratio ingest-mail / NDJSON. Each run checks that every message was accepted.
# Usage: benchmarks/harness/mail_ingest.sh [MESSAGES] [ROUNDS] (defaults 10000, 3).
# Builds Release into build-bench/. Run it on a quiet machine.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
messages=${1:-10000}
rounds=${2:-3}
cmake -S "$top" -B "$top/build-bench" -DCMAKE_BUILD_TYPE=Release -DRG_BUILD_TESTS=OFF >/dev/null
cmake --build "$top/build-bench" -j2 --target repgraph repgraphd >/dev/null
bin="$top/build-bench"
dir=$(mktemp -d /tmp/repgraph-mail.XXXXXX)
server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
/usr/bin/python3 "$top/benchmarks/gen/gen_maildir.py" "$dir/corpus" --messages "$messages" >/dev/null
echo "corpus: $messages messages, $(du -sh "$dir/corpus/Maildir" | cut -f1) Maildir," \
  "$(du -sh "$dir/corpus/observations.ndjson" | cut -f1) NDJSON"
cat "$dir/corpus/Maildir"/new/* "$dir/corpus/Maildir"/cur/* >/dev/null  # warm the page cache

start_server() {
  port=$(( 20000 + RANDOM % 20000 ))
  rm -rf "$dir/store"
  "$bin/repgraphd" --data "$dir/store" --port "$port" --unix none --log-level warn \
    --set recompute.interval=0 &
  server=$!
  for _ in $(seq 200); do "$bin/repgraph" -p "$port" ping >/dev/null 2>&1 && return; sleep 0.05; done
  echo "repgraphd did not start" >&2
  exit 1
}
stop_server() { kill -TERM "$server"; wait "$server" || true; server=""; }

# Runs one side into a fresh store; prints messages/s. $1: mail | ndjson
run_side() {
  start_server
  local t0 t1 out
  t0=$(date +%s.%N)
  if [ "$1" = mail ]; then
    out=$("$bin/repgraph" -p "$port" --json ingest-mail "$dir/corpus/Maildir" 2>"$dir/err")
    accepted=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted"])')
  else
    out=$("$bin/repgraph" -p "$port" --json ingest "$dir/corpus/observations.ndjson" 2>"$dir/err")
    accepted=$(echo "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted"])')
  fi
  t1=$(date +%s.%N)
  stop_server
  if [ "$accepted" != "$messages" ]; then
    echo "$1: accepted $accepted of $messages" >&2; head "$dir/err" >&2; exit 1
  fi
  echo "$messages / ($t1 - $t0)" | bc -l
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '| round | ingest-mail msg/s | NDJSON ingest msg/s | ratio |\n|---:|---:|---:|---:|\n'
ratios=()
for r in $(seq "$rounds"); do
  if (( r % 2 )); then m=$(run_side mail); n=$(run_side ndjson)
  else n=$(run_side ndjson); m=$(run_side mail); fi
  ratio=$(echo "$m / $n" | bc -l)
  ratios+=("$ratio")
  printf '| %d | %.0f | %.0f | %.3f |\n' "$r" "$m" "$n" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
printf 'median ratio ingest-mail / NDJSON ingest over %d rounds: %.3f\n' "$rounds" "$median"
