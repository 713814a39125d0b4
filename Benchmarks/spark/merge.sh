#!/usr/bin/env bash
# BENCH_ONLY=spark-merge (make bench): the merge per blocking partition on Spark against crmflow's own merge, same data
# (crmflow generate customers: BENCH_MERGE_RECORDS records, a tenth of them duplicates), the merge benchmark's blocking
# rules and comparisons without the clean stage (so the merge's input is on Spark), at 1, 3 and 10 partitions
# (--spark-partition-records); pairwise precision, recall and F1 against the generator's person column (merge_f1.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.build/release/crmflow}
N=${BENCH_MERGE_RECORDS:-30000}
OUT=bench-data/out/spark-merge
: "${CRMFLOW_TEST_SPARK:?run through scripts/with-spark.sh}"
rm -rf "$OUT" && mkdir -p "$OUT"
DATA=$(pwd)/bench-data/merge-customers-$N.csv
[ -f "$DATA" ] || "$BIN" generate customers --rows "$N" --seed 7 --out "$DATA"
# The merge benchmark's pipeline with its clean stage left out (a clean stage would run on Spark too, but its
# normalised e-mails and phones would change what is compared against the same local run).
python3 - "$DATA" "$OUT/merge.yaml" <<'PY'
import sys
src = open("Benchmarks/merge/merge-customers.yaml").read()
i, j = src.index("  people_clean:"), src.index("  customers:")
src = (src[:i] + src[j:]).replace("input: people_clean", "input: people").replace("bench-data/customers.csv", sys.argv[1])
open(sys.argv[2], "w").write(src)
PY
times=$OUT/times.txt
: > "$times"
/usr/bin/time -f "local %e" "$BIN" run "$OUT/merge.yaml" --out "$OUT/local" --quiet 2>> "$times"
lineages=("$OUT/local/customers.lineage.csv")
for per in $N $((N / 3)) $((N / 10)); do
  /usr/bin/time -f "spark-$per %e" "$BIN" run "$OUT/merge.yaml" --out "$OUT/spark-$per" --quiet --engine spark --spark "$CRMFLOW_TEST_SPARK" \
    --spark-partition-records "$per" 2>> "$times"
  lineages+=("$OUT/spark-$per/customers.lineage.csv")
done
cat "$times"
python3 Benchmarks/spark/merge_f1.py "$DATA" crm_id system person "${lineages[@]}"
