#!/usr/bin/env bash
# The PostgreSQL benchmark (issue 15), run by make bench inside scripts/with-postgres.sh: 1 M generated contacts
# loaded by crmflow (ingest the CSV, type it, COPY FROM STDIN into a new table in one transaction) against psql's
# \copy of the same file into a table created by hand with the same types (psql's recommended bulk load), then the
# table read back to CSV by crmflow (cursor) against psql's \copy (SELECT ...) TO. Same server, same run; the two
# tables are then compared row for row.
set -euo pipefail
BIN=$1 OUT=$2 ROWS=${3:-1000000}
DATA=bench-data/pg-contacts-$ROWS.csv
[ -f "$DATA" ] || python3 Benchmarks/postgres/generate.py "$DATA" "$ROWS" 42
cat "$DATA" > /dev/null
export DATABASE_URL=$CRMFLOW_TEST_POSTGRES_URL
rm -rf "$OUT/postgres" && mkdir -p "$OUT/postgres"
res=$(mktemp)
t() { local name=$1; shift; /usr/bin/time -f "%e %U %S %M" "$@" > /dev/null 2> "$OUT/postgres/$name.err" || { echo "($name failed)"; cat "$OUT/postgres/$name.err"; }; echo "$name $(tail -1 "$OUT/postgres/$name.err")" >> "$res"; }
psql -X -q "$DATABASE_URL" -c "DROP TABLE IF EXISTS contacts_psql; DROP TABLE IF EXISTS contacts_crmflow"
cat > "$OUT/postgres/psql-load.sql" <<SQL
BEGIN;
CREATE TABLE contacts_psql (contact_id bigint, first_name text, last_name text, email text, phone text, company text,
  country text, created date, last_activity timestamp, annual_revenue numeric, lead_score bigint, opted_in boolean, notes text);
\copy contacts_psql FROM '$DATA' WITH (FORMAT csv, HEADER true)
COMMIT;
SQL
t "psql-copy-load" psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f "$OUT/postgres/psql-load.sql"
t "crmflow-load" "$BIN" run Benchmarks/postgres/load.yaml --var "data=$DATA" --out "$OUT/postgres/crmflow" --quiet
t "psql-copy-read" psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "\\copy (SELECT * FROM contacts_psql) TO '$OUT/postgres/psql-out.csv' WITH (FORMAT csv, HEADER true)"
t "crmflow-read" "$BIN" run Benchmarks/postgres/read.yaml --out "$OUT/postgres/crmflow-read" --quiet
echo "types crmflow chose: $(psql -X -At "$DATABASE_URL" -c "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'contacts_crmflow'")"
# Row for row: the tables hold the same values (compared as text, so a type difference that changes a value shows).
diff=$(psql -X -At "$DATABASE_URL" -c "SELECT count(*) FROM ((SELECT contact_id::text, first_name, last_name, email, phone, company, country, created::text, last_activity::text, annual_revenue::numeric(20,2)::text, lead_score::text, opted_in::text, notes FROM contacts_psql EXCEPT ALL SELECT contact_id::text, first_name, last_name, email, phone, company, country, created::text, last_activity::text, annual_revenue::numeric(20,2)::text, lead_score::text, opted_in::text, notes FROM contacts_crmflow) UNION ALL (SELECT contact_id::text, first_name, last_name, email, phone, company, country, created::text, last_activity::text, annual_revenue::numeric(20,2)::text, lead_score::text, opted_in::text, notes FROM contacts_crmflow EXCEPT ALL SELECT contact_id::text, first_name, last_name, email, phone, company, country, created::text, last_activity::text, annual_revenue::numeric(20,2)::text, lead_score::text, opted_in::text, notes FROM contacts_psql)) d")
echo "rows: psql $(psql -X -At "$DATABASE_URL" -c 'SELECT count(*) FROM contacts_psql'), crmflow $(psql -X -At "$DATABASE_URL" -c 'SELECT count(*) FROM contacts_crmflow'); rows that differ: $diff"
echo "read back: psql $(($(wc -l < "$OUT/postgres/psql-out.csv"))) lines, crmflow $(($(wc -l < "$OUT/postgres/crmflow-read/contacts-from-postgres.csv"))) lines"
grep -E "^psql-copy-load|^crmflow-load" "$res" > "$res.load"
grep -E "^psql-copy-read|^crmflow-read" "$res" > "$res.read"
python3 Benchmarks/table.py "$res.load" psql-copy-load "PostgreSQL load: $ROWS contacts (CSV to a new table, one transaction)"
python3 Benchmarks/table.py "$res.read" psql-copy-read "PostgreSQL read: the $ROWS-row table to CSV"
rm -f "$res" "$res.load" "$res.read"
