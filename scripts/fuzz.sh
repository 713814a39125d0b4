#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets (CSV reader, JSON reader, pipeline loader, expression language) with
# AddressSanitizer and runs each for SECONDS seconds from a seed corpus made of sample-data/ and pipelines/.
# A crash leaves its input in .build-fuzz/artifacts/<target>/ and fails the run: copy it to
# Tests/Fixtures/fuzz/<target>/ so the tests replay it, then fix the bug.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
scratch=.build-fuzz
export CRMFLOW_FUZZ=1
# NB: each target is linked again with lld from SwiftPM's own list of objects, after all four are built. SwiftPM links
# with gold, which keeps only a fraction of the coverage counters once GRDB's objects are in the link (29,663 of
# 142,228: the fuzzer then explores nothing); passing -Xswiftc -use-ld=lld to the build instead left the Swift objects
# uninstrumented, and so did the first sanitized build in a new scratch folder (the second one rebuilds them).
bin="$(swift build -c debug --scratch-path "$scratch" --show-bin-path)"
names=(FuzzCSV FuzzJSON FuzzPipeline FuzzExpression)
build_all() {
  for name in "${names[@]}"; do
    swift build -c debug --scratch-path "$scratch" --sanitize=fuzzer --sanitize=address --product "$name" 2>&1 | grep -v 'Cannot export local symbol' | tail -1
  done
  for name in "${names[@]}"; do
    swiftc -sanitize=address -sanitize=fuzzer -lstdc++ -L "$bin" -o "$bin/$name" -module-name "$name" -emit-executable \
      -Xlinker '-rpath=$ORIGIN' @"$bin/$name.product/Objects.LinkFileList" -g -use-ld=lld
  done
}
# The coverage counters a target carries (libFuzzer prints them when it starts): the whole of crmflow's code has about
# 140,000; a fraction of that means objects built or linked without instrumentation, and a fuzzer that explores nothing.
counters() {
  local empty="$scratch/empty-corpus"
  mkdir -p "$empty"
  ASAN_OPTIONS=detect_leaks=0 "$bin/$1" -runs=0 "$empty" 2>&1 | sed -nE 's/.*Loaded 1 modules +\(([0-9]+) inline.*/\1/p' | head -1
}
instrumented() {
  local ok=0
  for name in "${names[@]}"; do
    local n; n="$(counters "$name")"
    echo "$name: ${n:-no} coverage counters"
    [ "${n:-0}" -ge 100000 ] || ok=1
  done
  return $ok
}
build_all
if ! instrumented; then
  # Seen in CI on a new clone: the first sanitized build left objects uninstrumented. Build them all again, once.
  echo "fuzz: a target is not fully instrumented; building every object again"
  rm -rf "$scratch/x86_64-unknown-linux-gnu" "$scratch/debug" "$scratch/build.db"
  build_all
  instrumented || { echo "FAILED: the fuzz targets are still not instrumented (see above)"; exit 1; }
fi

corpus="$scratch/corpus"
rm -rf "$corpus"
mkdir -p "$corpus"/{csv,json,pipeline,expression}
find sample-data Tests/Fixtures -name '*.csv' -size -64k -exec cp {} "$corpus/csv/" \; 2>/dev/null || true
find sample-data -name '*.json' -size -64k -exec cp {} "$corpus/json/" \;
cp pipelines/*.yaml "$corpus/pipeline/"
# Expressions: every where:, value: and derived column written in the example pipelines.
n=0
grep -hoE '(where|value): *"[^"]+"' pipelines/*.yaml | sed -E 's/^[a-z]+: *"(.*)"$/\1/' | while IFS= read -r e; do
  n=$((n + 1)); printf '%s' "$e" > "$corpus/expression/seed-$n"
done
for t in csv json pipeline expression; do
  [ -d "Tests/Fixtures/fuzz/$t" ] && cp Tests/Fixtures/fuzz/$t/* "$corpus/$t/" 2>/dev/null || true
done

status=0
for pair in CSV:csv JSON:json Pipeline:pipeline Expression:expression; do
  name="Fuzz${pair%%:*}"; t="${pair##*:}"
  artifacts="$scratch/artifacts/$t/"
  maxlen=65536
  [ "$t" = expression ] && maxlen=4096
  mkdir -p "$artifacts"
  echo "== $name: $seconds s from $(ls "$corpus/$t" | wc -l) seeds"
  # NB: ASan's leak check is off: the readers' caches live for the process, which is not a leak worth a failure here.
  if ! ASAN_OPTIONS=detect_leaks=0 "$bin/$name" "$corpus/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -max_len="$maxlen" -artifact_prefix="$artifacts" -print_final_stats=1 > "$scratch/$t.log" 2>&1; then
    echo "FAILED $name — input kept in $artifacts:"
    tail -30 "$scratch/$t.log"
    status=1
  elif ! grep -q 'DONE   cov:' "$scratch/$t.log"; then
    # A fuzzer that records no coverage explores nothing: that is a broken build, not a pass.
    echo "FAILED $name — no coverage recorded (is the code instrumented?)"
    grep -E 'Loaded|WARNING' "$scratch/$t.log"
    status=1
  else
    grep -E '^stat::number_of_executed_units|^stat::new_units_added|DONE' "$scratch/$t.log" | tr '\n' ' '; echo
  fi
done
exit $status
