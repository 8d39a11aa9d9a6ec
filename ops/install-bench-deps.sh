#!/usr/bin/env bash
# Installs what benchmarks/run.sh needs on top of ops/install-deps.sh: the peers it measures
# repgraph against (Redis, networkx with scipy for its PageRank), the Python modules of the
# drivers, gnuplot for the plots, and util-linux's taskset. Idempotent, like install-deps.sh.
set -euo pipefail
PKGS=(redis-server redis-tools python3-networkx python3-scipy python3-msgpack python3-igraph
      python3-numpy gnuplot-nox util-linux)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-bench-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-bench-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
