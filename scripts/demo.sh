#!/usr/bin/env bash
# The demo: builds repgraph, starts repgraphd on its default store (./repgraph-data under
# the current directory), ingests a generated sample of mail traffic with planted spam,
# records a few verdicts, recomputes reputation, shows lookups, a filter's check, the most
# suspicious clusters and stats,
# and stops the server. RG_PORT overrides the port (default 7411).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
port=${RG_PORT:-7411}
cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$top/build" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
bin="$top/build"
rg() { "$bin/repgraph" -p "$port" "$@"; }

"$bin/repgraphd" --data ./repgraph-data --port "$port" --log-level warn --set recompute.interval=0 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server' EXIT
for _ in $(seq 100); do rg ping >/dev/null 2>&1 && break; sleep 0.1; done
rg ping >/dev/null

sample=$(mktemp /tmp/repgraph-sample.XXXXXX.ndjson)
"$bin/benchmarks/gen_mail" --messages 20000 --start-ts "$(date +%s)" > "$sample"
echo "== ingest $(wc -l < "$sample") observations"
rg ingest "$sample"
rm -f "$sample"

echo "== verdicts: spam-trap hits, an analyst's verdict, allowlisted senders and domains"
rg label address:promo18@deals4.example bad --source spam_trap --note "trap hit" >/dev/null
rg label address:promo7@freemail1.example bad --source spam_trap >/dev/null
rg label ip:172.16.101.8 bad --source analyst --note "botnet" >/dev/null
for u in 1 2 3 4 6 7 8 9 11 12; do rg label "address:user$u@org$u.example" good --source allowlist >/dev/null; done
rg label domain:org1.example good --source allowlist >/dev/null

echo "== recompute"
rg recompute --wait | sed -n '1,/phases_ms/p' | sed '$d'

echo "== lookup: an unlabelled spammer, a compromised account, an honest user"
rg lookup address:promo15@deals1.example address:user13@org13.example address:user21@org21.example |
  grep -E '^  -|actor:|reputation:|band:|anomaly:|text:'

echo "== check: a filter asks about the next message of the spammer, then of the honest user"
rg check promo15@deals1.example 172.16.101.11 --rcpt user2@org2.example | sed -n '1,4p'
rg check user21@org21.example 10.1.21.25 --rcpt user2@org2.example | sed -n '1,4p'

echo "== clusters: the three most suspicious communities, for an analyst"
rg clusters --limit 3 --min-size 5

echo "== stats"
rg stats | sed -n '1,/^requests:/p' | sed '$d'
