#!/usr/bin/env bash
# Builds repgraph with warnings as errors and runs the whole test suite (ctest, including the
# 20-round crash-safety test), then:
#   - builds and runs it again under AddressSanitizer + UndefinedBehaviorSanitizer (with
#     LeakSanitizer);
#   - builds it under ThreadSanitizer and runs the tests that involve the writer and
#     recompute threads (store, compute, end to end, crash, faults, the metrics listener and
#     a real Prometheus scraping it),
#     the server itself sanitized;
#   - builds the libFuzzer targets and fuzzes each for RG_FUZZ_SECONDS (default 30).
# RG_SKIP_SANITIZERS=1 skips all three; RG_SKIP_TSAN=1 or RG_SKIP_FUZZ=1 one of them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRG_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs")

if [ "${RG_SKIP_SANITIZERS:-0}" = 1 ]; then exit 0; fi

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRG_WERROR=ON -DRG_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 RG_TEST_RECV_TIMEOUT_MS=60000 ctest --output-on-failure -j"$jobs")

if [ "${RG_SKIP_TSAN:-0}" != 1 ]; then
  echo "== build (TSan)"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRG_WERROR=ON -DRG_TSAN=ON >/dev/null
  cmake --build build-tsan -j"$jobs"
  echo "== threaded tests under TSan"
  rm -f build-tsan/tsan-report.*
  # Reports of the tests and of every repgraphd they start go to build-tsan/tsan-report.PID.
  # No suppressions: libuv, LMDB and igraph synchronise through pthreads, which TSan sees.
  # TSan slows the server about 5x: longer reply timeouts, 5 crash rounds instead of 20.
  status=0
  (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 \
     log_path=$root/build-tsan/tsan-report" RG_TEST_RECV_TIMEOUT_MS=120000 RG_CRASH_ROUNDS=5 \
     ctest --output-on-failure -j"$jobs" -R '^test_(store|store_graph|store_label|store_gen|compute|engine|e2e|crash|crash_wal|wal|wal_server|faults|http_metrics|prometheus|backup|retention|cluster)$') || status=$?
  if compgen -G "build-tsan/tsan-report.*" >/dev/null; then
    cat build-tsan/tsan-report.*
    status=1
  fi
  [ "$status" = 0 ] || { echo "TSan pass failed"; exit 1; }
fi

if [ "${RG_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzzing (${RG_FUZZ_SECONDS:-30} s per target)"
  bash scripts/fuzz.sh "${RG_FUZZ_SECONDS:-30}"
fi
