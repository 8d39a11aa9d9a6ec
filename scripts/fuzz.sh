#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs each for SECONDS (default 30): first the inputs of fuzz/regressions/<target>/ (every
# crash ever found), then fuzzing from build-fuzz/corpus/<target>/, which starts from the seeds
# generated out of fuzz/seeds/ and keeps what the fuzzer finds across runs. Prints executions
# per target; a crash leaves its input in build-fuzz/artifacts/ and fails the run.
#   bash scripts/fuzz.sh            # CI: 30 s per target
#   bash scripts/fuzz.sh 3600       # long run: an hour per target
#   bash scripts/fuzz.sh 600 frame  # one target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(frame transcode actor config received mail policy manifest genpack)
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build fuzz targets (clang, ASan + UBSan + libFuzzer)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRG_WERROR=ON -DRG_FUZZ=ON \
      -DRG_BUILD_TESTS=OFF -DRG_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz
corpus=build-fuzz/corpus
mkdir -p build-fuzz/artifacts "$corpus"/{frame,transcode,actor,config,received,mail,policy,manifest,genpack}
build-fuzz/fuzz/make_seeds fuzz/seeds "$corpus"
cp ops/repgraphd.conf.example "$corpus/config/seed-example.ini"
cp fuzz/seeds/mail/*.eml "$corpus/mail/"
cp fuzz/seeds/policy/* "$corpus/policy/"
cp fuzz/seeds/manifest/* "$corpus/manifest/"

# fast_unwind_on_malloc=0: whole allocation stacks through GLib and GMime (built without frame
# pointers), so that a suppression can name the function that allocated.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Leaks inside libraries we cannot fix, each explained in the file (a GMime GString leak).
export LSAN_OPTIONS="suppressions=$(pwd)/fuzz/lsan.supp"
table=() failed=0
for t in "${targets[@]}"; do
  bin=build-fuzz/fuzz/fuzz_$t
  regress=(fuzz/regressions/"$t"/*)
  if [ -e "${regress[0]}" ]; then
    echo "== fuzz_$t: ${#regress[@]} regression input(s)"
    "$bin" "${regress[@]}" >"build-fuzz/fuzz_$t.regress.log" 2>&1 ||
      { echo "fuzz_$t: a regression input fails again"; tail -40 "build-fuzz/fuzz_$t.regress.log"; failed=1; }
  fi
  echo "== fuzz_$t: ${seconds} s"
  log=build-fuzz/fuzz_$t.log
  if "$bin" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="build-fuzz/artifacts/$t-" "$corpus/$t" >"$log" 2>&1; then
    status=ok
  else
    status=CRASH failed=1
    grep -E "ERROR|SUMMARY|^    #[0-9]" "$log" | head -30
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/.*exec\/s: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  table+=("$(printf '%-16s %8s s %12s execs %9s /s %7s corpus  %s' "fuzz_$t" "$seconds" \
    "${execs:-?}" "${rate:-?}" "$(ls "$corpus/$t" | wc -l)" "$status")")
done
echo "== fuzz results"
printf '%s\n' "${table[@]}"
exit "$failed"
