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
# NB: builds in fresh clones sometimes left crmflow's Swift objects without coverage instrumentation; the cause and the
# fix are at `sanitize` below. The objects are still checked, and rebuilt or compiled directly if ever they are not.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES MAKE_TERMOUT MAKE_TERMERR
# One libFuzzer binary (CRMFlowFuzz) holds the four targets; CRMFLOW_FUZZ_TARGET picks one per run.
# NB: SwiftPM links with gold, which keeps only a fraction of the coverage counters once GRDB's objects are in the link
# (29,663 of about 140,000: the fuzzer then explores nothing), so the binary is linked again with lld from SwiftPM's own
# list of objects. The objects are checked for coverage sections first (see the NB above, and replay_compiles below).
bin="$(swift build -c debug --scratch-path "$scratch" --show-bin-path)"
name=CRMFlowFuzz
# NB: the cause of the uninstrumented objects: SwiftPM writes its two --sanitize flags in a random order (a Set), and the
# Swift driver keeps only the last -sanitize= it is given, so each build description had either fuzzer (coverage) or
# address, never both. One combined flag, passed last, gives the frontend both every time.
sanitize=(--sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=address,fuzzer)
build() {
  swift build -c debug --scratch-path "$scratch" "${sanitize[@]}" --product "$name" 2>&1 | grep -v 'Cannot export local symbol' | tail -1
}
objects_instrumented() {
  local o n
  command -v readelf >/dev/null || return 0  # without binutils, the counter check below still catches it
  for o in CRMFlowCore.build/Table.swift.o CRMFlowIO.build/CSVReader.swift.o CRMFlowPipeline.build/Runner.swift.o; do
    n="$(readelf -S "$bin/$o" 2>/dev/null | grep -c sancov || true)"
    echo "$o: ${n:-0} coverage sections"
    [ "${n:-0}" -gt 0 ] || return 1
  done
}
# The compile commands of crmflow's own modules, as SwiftPM plans them (-v), run again directly with both sanitizers:
# a fallback, should a plan still give the frontend only one of them (see the NB at `sanitize` above).
replay_compiles() {
  find Sources Fuzz -name '*.swift' -exec touch {} +
  swift build -c debug --scratch-path "$scratch" "${sanitize[@]}" --product "$name" -v 2>&1 \
    | grep -E '^/[^ ]*swift-frontend -frontend -c .*CRMFlow(Core|IO|Stages|Pipeline|FuzzTargets)\.build/' \
    | sed -E 's/ -supplementary-output-file-map [^ ]+//' | sort -u > "$scratch/compiles.sh" || true
  # NB: the supplementary outputs (dependency files, diagnostics) went to the driver's temporary folder, gone by now.
  echo "fuzz: replaying $(wc -l < "$scratch/compiles.sh") compile commands, $(grep -vc -- ' -sanitize=address,fuzzer' "$scratch/compiles.sh" || true) of them planned without both sanitizers"
  sed -E 's/ -sanitize=[a-z,]+/ -sanitize=address,fuzzer/' "$scratch/compiles.sh" > "$scratch/compiles-fixed.sh"
  bash -e "$scratch/compiles-fixed.sh"
}
build
[ "${CRMFLOW_FUZZ_FORCE_REPLAY:-}" = 1 ] && replay_compiles
tries=0
until objects_instrumented; do
  tries=$((tries + 1))
  [ $tries -le 2 ] || { echo "FAILED: crmflow's objects are still built without coverage instrumentation"; exit 1; }
  if [ $tries -eq 2 ]; then
    echo "fuzz: still without coverage instrumentation; building everything anew, then replaying ($tries)"
    rm -rf "$scratch/x86_64-unknown-linux-gnu" "$scratch/debug" "$scratch/build.db" "$scratch"/*.yaml
    build
  else
    echo "fuzz: objects without coverage instrumentation; running the compile commands directly ($tries)"
  fi
  replay_compiles
done
swiftc -sanitize=address,fuzzer -lstdc++ -L "$bin" -o "$bin/$name" -module-name "$name" -emit-executable \
  -Xlinker '-rpath=$ORIGIN' @"$bin/$name.product/Objects.LinkFileList" -g -use-ld=lld
# The coverage counters the binary carries (libFuzzer prints them when it starts): the whole of crmflow's code has
# about 140,000.
mkdir -p "$scratch/empty-corpus"
counters="$(CRMFLOW_FUZZ_TARGET=csv ASAN_OPTIONS=detect_leaks=0 "$bin/$name" -runs=0 "$scratch/empty-corpus" 2>&1 | sed -nE 's/.*Loaded 1 modules +\(([0-9]+) inline.*/\1/p' | head -1)"
echo "$name: ${counters:-no} coverage counters"
[ "${counters:-0}" -ge 100000 ] || { echo "FAILED: the fuzz binary carries too few coverage counters (linked without them?)"; exit 1; }

corpus="$scratch/corpus"
rm -rf "$corpus"
mkdir -p "$corpus"/{csv,json,pipeline,expression,xml,ics,mail}
# The Excel reader's XML parts, from the test workbooks (openpyxl's and LibreOffice's); calendars and mailboxes.
for book in Tests/Fixtures/xlsx/*.xlsx sample-data/legacy/*.xlsx; do
  python3 - "$book" "$corpus/xml" <<'PY'
import sys, zipfile, os
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.endswith('.xml') and n.startswith('xl/'):
        open(os.path.join(sys.argv[2], os.path.basename(sys.argv[1]) + '-' + n.replace('/', '_')), 'wb').write(z.read(n)[:65536])
PY
done
cp sample-data/activities/*.ics "$corpus/ics/"
cp sample-data/activities/*.mbox "$corpus/mail/"
find sample-data Tests/Fixtures -name '*.csv' -size -64k -exec cp {} "$corpus/csv/" \; 2>/dev/null || true
find sample-data -name '*.json' -size -64k -exec cp {} "$corpus/json/" \;
cp pipelines/*.yaml "$corpus/pipeline/"
# Expressions: every where:, value: and derived column written in the example pipelines.
n=0
grep -hoE '(where|value): *"[^"]+"' pipelines/*.yaml | sed -E 's/^[a-z]+: *"(.*)"$/\1/' | while IFS= read -r e; do
  n=$((n + 1)); printf '%s' "$e" > "$corpus/expression/seed-$n"
done
for t in csv json pipeline expression xml ics mail; do
  [ -d "Tests/Fixtures/fuzz/$t" ] && cp Tests/Fixtures/fuzz/$t/* "$corpus/$t/" 2>/dev/null || true
done

status=0
# The four targets the trust issue named run SECONDS each; the Excel XML, calendar and mail readers half that.
for t in csv json pipeline expression xml ics mail; do
  budget=$seconds
  case $t in xml|ics|mail) budget=$(( (seconds + 1) / 2 )) ;; esac
  artifacts="$scratch/artifacts/$t/"
  maxlen=65536
  [ "$t" = expression ] && maxlen=4096
  mkdir -p "$artifacts"
  echo "== $t: $budget s from $(ls "$corpus/$t" | wc -l) seeds"
  # NB: ASan's leak check is off: the readers' caches live for the process, which is not a leak worth a failure here.
  if ! CRMFLOW_FUZZ_TARGET=$t ASAN_OPTIONS=detect_leaks=0 "$bin/$name" "$corpus/$t" -max_total_time="$budget" -timeout=20 -rss_limit_mb=4096 \
      -max_len="$maxlen" -artifact_prefix="$artifacts" -print_final_stats=1 > "$scratch/$t.log" 2>&1; then
    echo "FAILED $t — input kept in $artifacts:"
    tail -30 "$scratch/$t.log"
    status=1
  elif ! grep -q 'DONE   cov:' "$scratch/$t.log"; then
    # A fuzzer that records no coverage explores nothing: that is a broken build, not a pass.
    echo "FAILED $t — no coverage recorded (is the code instrumented?)"
    grep -E 'Loaded|WARNING' "$scratch/$t.log"
    status=1
  else
    grep -E '^stat::number_of_executed_units|^stat::new_units_added|DONE' "$scratch/$t.log" | tr '\n' ' '; echo
  fi
done
exit $status
