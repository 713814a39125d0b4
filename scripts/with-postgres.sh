#!/usr/bin/env bash
# with-postgres.sh COMMAND...: runs COMMAND with a real, throw-away PostgreSQL server (Debian's packages) and
# CRMFLOW_TEST_POSTGRES_URL pointing at it; the server is stopped and its folder removed when COMMAND ends.
# The cluster is made by initdb in a temp folder as a non-root user (initdb refuses root), listens on 127.0.0.1 only,
# and requires a password (scram-sha-256), so the tests can check that it is never printed.
# Without initdb on the machine it runs COMMAND without a server (the PostgreSQL tests then say they are skipped,
# and fail when CRMFLOW_REQUIRE_POSTGRES=1, as in CI).
set -euo pipefail
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
  echo "with-postgres: no PostgreSQL server binaries (apt-get install postgresql); running without a server" >&2
  exec "$@"
fi
dir="$(mktemp -d /tmp/crmflow-pg.XXXXXX)"
chmod 755 "$dir"
port="${CRMFLOW_PG_PORT:-$((20000 + RANDOM % 20000))}"
password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$password" > "$dir/pwfile"
as_user=()
if [ "$(id -u)" = 0 ]; then
  # NB: initdb and postgres refuse to run as root; Debian's package makes the postgres user.
  id -u postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown -R postgres "$dir"
  as_user=(runuser -u postgres --)
fi
stop() {
  "${as_user[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
"${as_user[@]}" "$pgbin/initdb" -D "$dir/data" -U crmflow --pwfile="$dir/pwfile" --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
"${as_user[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=50" start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
echo "with-postgres: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir)" >&2
export CRMFLOW_TEST_POSTGRES_URL="postgresql://crmflow:$password@127.0.0.1:$port/postgres"
status=0
"$@" || status=$?
exit $status
