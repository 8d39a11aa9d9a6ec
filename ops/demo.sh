#!/usr/bin/env bash
# The demo: builds repgraph, starts repgraphd on its default store (./repgraph-data under
# the current directory), ingests a generated sample of mail traffic, records two verdicts,
# shows lookups and stats, and stops the server. RG_PORT overrides the port (default 7411).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
port=${RG_PORT:-7411}
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$top/build" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
bin="$top/build"
rg() { "$bin/repgraph" -p "$port" "$@"; }

"$bin/repgraphd" --data ./repgraph-data --port "$port" --log-level warn &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server' EXIT
for _ in $(seq 100); do rg ping >/dev/null 2>&1 && break; sleep 0.1; done
rg ping >/dev/null

sample=$(mktemp /tmp/repgraph-sample.XXXXXX.ndjson)
"$bin/benchmarks/gen_mail" --messages 20000 --start-ts "$(date +%s)" > "$sample"
echo "== ingest $(wc -l < "$sample") observations"
rg ingest "$sample"
rm -f "$sample"

echo "== verdicts: a spam-trap hit and an allowlisted domain"
rg label address:promo0@deals0.example bad --source spam_trap --note "trap hit" >/dev/null
rg label domain:org1.example good --source allowlist >/dev/null

echo "== lookup: a spammer, its snowshoe IP block, an honest user"
rg lookup address:promo0@deals0.example net:172.16.100.0/24 address:user1@org1.example

echo "== stats"
rg stats | sed -n '1,/^requests:/p' | sed '$d'
