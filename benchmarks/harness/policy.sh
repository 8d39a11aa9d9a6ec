#!/usr/bin/env bash
# The Postfix policy listener against the check op over msgpack, on one store in one run:
# starts repgraphd (policy.listen on a free loopback port) on a temporary directory,
# preloads it with bench_load (senders s0..s(K-1) known), recomputes, then alternates 3
# times: bench_load --mix 0:0:1 (check over msgpack) and bench_policy (RCPT requests for
# the same senders), each with CONNS connections, DEPTH requests in flight, SECS seconds.
# Prints requests/s and p50/p99 per round and the median ratio policy / check.
#   bash benchmarks/harness/policy.sh [BUILD_DIR]        # e.g. build-bench (Release)
#   SECS=1 bash benchmarks/harness/policy.sh build       # smoke run
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
secs=${SECS:-5} conns=${CONNS:-16} depth=${DEPTH:-4} keys=${KEYS:-1000} rounds=3
tmp=$(mktemp -d)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) pport=$(free_port)
"$build/repgraphd" --data "$tmp/store" --port "$port" --unix none --log-level warn \
  --set "policy.listen=127.0.0.1:$pport" --set recompute.interval=0 2>"$tmp/repgraphd.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 200); do # bounded wait for the socket (10 s)
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/repgraphd.log"; exit 1; }
  sleep 0.05
done
"$build/benchmarks/bench_load" -p "$port" -e $((keys * 10)) -b 100 -c 4 -d 4 >/dev/null
"$build/repgraph" -p "$port" recompute --wait >/dev/null
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
printf '%-6s %-8s %12s %10s %10s\n' round side req_s p50_us p99_us
ratios=()
for r in $(seq $rounds); do
  check=$("$build/benchmarks/bench_load" -p "$port" --mix 0:0:1 -c "$conns" -d "$depth" -k "$keys" -t "$secs" -s "$r")
  policy=$("$build/benchmarks/bench_policy" -p "$pport" -c "$conns" -d "$depth" -k "$keys" -t "$secs" -s "$r")
  for side in check policy; do
    line=${!side}
    printf '%-6s %-8s %12s %10s %10s\n' "$r" "$side" "$(field req_s <<<"$line")" \
      "$(field p50_us <<<"$line")" "$(field p99_us <<<"$line")"
  done
  ratios+=("$(awk -v a="$(field req_s <<<"$policy")" -v b="$(field req_s <<<"$check")" 'BEGIN {printf "%.3f", a / b}')")
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n 2p)
echo "conns=$conns depth=$depth secs=$secs keys=$keys: policy/check requests/s ratios ${ratios[*]}, median $median"
"$build/repgraph" -p "$port" --json stats | /usr/bin/python3 -c \
  'import json,sys; p=json.load(sys.stdin)["policy"]; print("server policy stats:", {k: p[k] for k in ("requests","dunno","fail_open_error","fail_open_budget","protocol_errors")}, "latency", p["latency"])'
