#!/usr/bin/env bash
# with-spark.sh COMMAND...: runs COMMAND with a real, throw-away Spark Connect server (PyPI's pyspark on Debian's Java 17)
# and CRMFLOW_TEST_SPARK pointing at it; the server is stopped and its folders removed when COMMAND ends.
# The server runs Spark in local[2] mode, listens on 127.0.0.1 only, and keeps its scratch space in a temp folder.
# Without pyspark or java it runs COMMAND without a server (the Spark tests then say they are skipped, and fail when
# CRMFLOW_REQUIRE_SPARK=1, as in CI). `make spark-setup` installs both.
set -euo pipefail
spark_home="${SPARK_HOME:-}"
if [ -z "$spark_home" ]; then
  for py in "${CRMFLOW_SPARK_PYTHON:-}" /opt/crmflow-spark/bin/python3 python3; do
    [ -n "$py" ] || continue
    spark_home="$("$py" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null || true)"
    [ -n "$spark_home" ] && break
  done
fi
if [ -z "$spark_home" ] || [ ! -x "$spark_home/bin/spark-submit" ] || ! command -v java >/dev/null; then
  echo "with-spark: no pyspark or no java (make spark-setup); running without a Spark server" >&2
  exec "$@"
fi
jar="$(ls "$spark_home"/jars/spark-connect_*.jar 2>/dev/null | head -1 || true)"
if [ -z "$jar" ]; then
  echo "with-spark: $spark_home has no Spark Connect jar; running without a Spark server" >&2
  exec "$@"
fi
dir="$(mktemp -d /tmp/crmflow-spark.XXXXXX)"
port="${CRMFLOW_SPARK_PORT:-$((20000 + RANDOM % 20000))}"
pid=""
stop() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap stop EXIT
(cd "$dir" && exec env SPARK_HOME="$spark_home" SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_DIRS="$dir/local" \
  "$spark_home/bin/spark-submit" --class org.apache.spark.sql.connect.service.SparkConnectServer --name crmflow-tests \
  --master 'local[2]' --driver-memory 2g \
  --conf spark.connect.grpc.binding.address=127.0.0.1 --conf spark.connect.grpc.binding.port="$port" \
  --conf spark.ui.enabled=false --conf spark.sql.warehouse.dir="$dir/warehouse" \
  --conf spark.driver.extraJavaOptions="-Dderby.system.home=$dir/derby" \
  spark-internal >"$dir/server.log" 2>&1) &
pid=$!
for _ in $(seq 1 240); do
  if grep -q "Spark Connect server started" "$dir/server.log" 2>/dev/null; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$dir/server.log" >&2; echo "with-spark: the server did not start" >&2; exit 1; fi
  sleep 0.5
done
grep -q "Spark Connect server started" "$dir/server.log" || { tail -50 "$dir/server.log" >&2; echo "with-spark: no server after 120 s" >&2; exit 1; }
echo "with-spark: Spark Connect $(basename "$jar" .jar | sed 's/spark-connect_//') on 127.0.0.1:$port (log in $dir/server.log)" >&2
export CRMFLOW_TEST_SPARK="sc://127.0.0.1:$port"
export CRMFLOW_SPARK_PID="$pid"
status=0
"$@" || status=$?
exit $status
