#!/usr/bin/env bash
# Installs the Debian 12 packages repgraph needs to build, test and run. Idempotent: when
# everything is installed already it changes nothing; otherwise `apt-get update` first.
# With --bench, also what benchmarks/run.sh needs: the peers it measures repgraph against
# (Redis; networkx, with scipy for its PageRank), the drivers' Python modules, gnuplot.
set -euo pipefail
PKGS=(build-essential cmake pkg-config
      liblmdb-dev lmdb-utils libigraph-dev libuv1-dev libmsgpack-dev libinih-dev libjansson-dev
      libcmocka-dev libsodium-dev libidn2-dev  # libidn2: IDN domains in one (A-label) form
      libxxhash-dev  # the lookup cache's hash
      libssl-dev openssl  # TLS; the openssl CLI makes test_tls's CA
      libgmime-3.0-dev dovecot-imapd dovecot-sieve  # ingest-mail / feedback, test_dovecot
      clang libclang-rt-14-dev  # libFuzzer and the sanitizer runtimes for scripts/fuzz.sh
      python3-msgpack python3-networkx python3-igraph  # the analyst walkthrough and example
      libxgboost-dev  # the learned model (src/core/model.c)
      postfix  # tests/test_postfix.py starts its own throw-away instance
      libmicrohttpd-dev prometheus  # /metrics; tests/test_prometheus.py scrapes it (+ promtool)
      systemd  # systemd-analyze verify of ops/*.service in tests/test_units.py
      nats-server libnats-dev)  # cluster mode (JetStream); tests/test_cluster.py runs 3 NATS nodes
if [ "${1:-}" = "--bench" ]; then
  PKGS+=(redis-server redis-tools python3-scipy python3-numpy gnuplot-nox util-linux
        python3-sklearn  # the reference model of benchmarks/harness/verdicts.py
        valgrind  # benchmarks/harness/lookup_profile.py counts instructions with callgrind
        python3-matplotlib)  # the plot of benchmarks/harness/scale.py (run.sh --scale)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
# Postfix is installed unconfigured: the tests run their own instances, not the system one.
echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
