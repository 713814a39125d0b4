#!/usr/bin/env bash
# BENCH_ONLY=spark (make bench): the nightly workload on crmflow's own engine, on crmflow --engine spark and as
# PySpark written by hand, the last two on one Spark Connect server (local[2], started by scripts/with-spark.sh),
# in the same run; then crmflow --engine spark with 1, 2 and 4 shuffle partitions.
# /usr/bin/time sees only the client: the server's CPU (its JVM and the crmflow workers it starts) is read from
# /proc before and after each run, and its resident memory after it.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.build/release/crmflow
PY=${CRMFLOW_SPARK_PYTHON:-/opt/crmflow-spark/bin/python3}
CONTACTS=${BENCH_CONTACTS:-1000000}
DEALS=${BENCH_DEALS:-3000000}
NIGHTLY=bench-data/nightly-$CONTACTS-$DEALS
OUT=bench-data/out/spark
: "${CRMFLOW_TEST_SPARK:?run through scripts/with-spark.sh}"
"$PY" -c 'import pyarrow, grpc' 2>/dev/null || "$PY" -m pip install --quiet "pyspark[connect]==$("$PY" -c 'import pyspark; print(pyspark.__version__)')"
[ -f "$NIGHTLY/deals.csv" ] || python3 Benchmarks/nightly/generate.py "$NIGHTLY" "$CONTACTS" "$DEALS" 42
cat "$NIGHTLY"/*.csv > /dev/null
rm -rf "$OUT" && mkdir -p "$OUT"
results=$OUT/results.txt
: > "$results"
server_cpu() { awk '{printf "%.2f", ($14 + $15 + $16 + $17) / 100}' "/proc/$CRMFLOW_SPARK_PID/stat"; }
server_rss() { awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$CRMFLOW_SPARK_PID/status"; }
run() {  # NAME command...: appends `NAME wall client_cpu client_peak_mib server_cpu server_rss_mib`
  local name=$1; shift
  local before after
  before=$(server_cpu)
  /usr/bin/time -f "%e %U %S %M" "$@" > /dev/null 2> "$OUT/$name.err" || echo "  ($name failed: see $OUT/$name.err)" >&2
  after=$(server_cpu)
  read -r wall user sys peak < <(tail -1 "$OUT/$name.err")
  echo "$name $wall $(echo "$user + $sys" | bc) $((peak / 1024)) $(echo "$after - $before" | bc) $(server_rss)" >> "$results"
}
# A first query warms the server (class loading, code generation), as a long-running service would be.
"$PY" -c "from pyspark.sql import SparkSession; s = SparkSession.builder.remote('$CRMFLOW_TEST_SPARK').getOrCreate(); s.range(10).count()" > /dev/null
run crmflow-local "$BIN" run Benchmarks/nightly/nightly.yaml --var "data=$NIGHTLY" --out "$OUT/local" --quiet
run crmflow-on-spark "$BIN" run Benchmarks/nightly/nightly.yaml --var "data=$NIGHTLY" --out "$OUT/spark" --quiet --engine spark --spark "$CRMFLOW_TEST_SPARK"
run pyspark-by-hand "$PY" Benchmarks/spark/nightly_pyspark.py "$CRMFLOW_TEST_SPARK" "$NIGHTLY" "$OUT/pyspark"
run pyspark-by-hand-4-partitions "$PY" Benchmarks/spark/nightly_pyspark.py "$CRMFLOW_TEST_SPARK" "$NIGHTLY" "$OUT/pyspark-4" 4
python3 Benchmarks/nightly/compare.py "$OUT/local" "$OUT/spark" "$OUT/pyspark" "$OUT/pyspark-4"
for p in 1 2 4; do
  run "crmflow-on-spark-$p-partitions" "$BIN" run Benchmarks/nightly/nightly.yaml --var "data=$NIGHTLY" --out "$OUT/spark-$p" --quiet \
    --engine spark --spark "$CRMFLOW_TEST_SPARK" --spark-conf "spark.sql.shuffle.partitions=$p" --spark-conf "spark.sql.files.maxPartitionBytes=$((256 / p))m"
done
echo
echo "nightly workload on Spark: $CONTACTS contacts, $DEALS deals (server local[2]; CPU = client + server)"
echo
echo "| run | wall s | client CPU s | server CPU s | client peak MiB | server RSS after MiB | wall vs crmflow-local |"
echo "|---|---:|---:|---:|---:|---:|---:|"
ref=$(awk 'NR == 1 {print $2}' "$results")
while read -r name wall cpu peak scpu rss; do
  printf '| %s | %.2f | %.2f | %.2f | %d | %d | %.2f |\n' "$name" "$wall" "$cpu" "$scpu" "$peak" "$rss" "$(echo "$wall / $ref" | bc -l)"
done < "$results"
