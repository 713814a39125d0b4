-- The second nightly workload (issue 17) in DuckDB SQL, written the way DuckDB's documentation reads a CSV file
-- (read_csv with its sniffer: header, quoting, types detected) and parses dates (try_strptime with a list of formats).
-- Same steps and outputs as export.yaml. ${data} and ${out} are replaced by bench.sh.
CREATE TEMP TABLE countries(country_key VARCHAR, iso2 VARCHAR);
INSERT INTO countries VALUES ('germany', 'DE'), ('de', 'DE'), ('deutschland', 'DE'), ('france', 'FR'), ('fr', 'FR'),
  ('frankreich', 'FR'), ('netherlands', 'NL'), ('the netherlands', 'NL'), ('nl', 'NL'), ('holland', 'NL'),
  ('finland', 'FI'), ('fi', 'FI'), ('suomi', 'FI'), ('spain', 'ES'), ('es', 'ES'), ('españa', 'ES'), ('italy', 'IT'),
  ('it', 'IT'), ('italia', 'IT'), ('united states', 'US'), ('usa', 'US'), ('us', 'US');
CREATE TEMP TABLE stage_names(stage_key VARCHAR, stage_name VARCHAR, stage_order INTEGER);
INSERT INTO stage_names VALUES ('appointmentscheduled', 'Appointment Scheduled', 1), ('appointment scheduled', 'Appointment Scheduled', 1),
  ('qualifiedtobuy', 'Qualified To Buy', 2), ('qualified to buy', 'Qualified To Buy', 2),
  ('presentationscheduled', 'Presentation Scheduled', 3), ('presentation scheduled', 'Presentation Scheduled', 3),
  ('decisionmakerboughtin', 'Decision Maker Bought-In', 4), ('decision maker bought-in', 'Decision Maker Bought-In', 4),
  ('contractsent', 'Contract Sent', 5), ('contract sent', 'Contract Sent', 5), ('closedwon', 'Closed Won', 6),
  ('closed won', 'Closed Won', 6), ('closedlost', 'Closed Lost', 7), ('closed lost', 'Closed Lost', 7);
CREATE TEMP TABLE fx(currency VARCHAR, usd_per_unit DOUBLE);
INSERT INTO fx VALUES ('USD', 1.0), ('EUR', 1.0842), ('GBP', 1.2671), ('SEK', 0.0953), ('CHF', 1.1327);

CREATE TEMP TABLE contacts AS
WITH c AS (
  SELECT "Record ID" AS record_id, lower(trim("Email")) AS email, "Phone Number" AS phone,
         regexp_replace("Phone Number", '\D', '', 'g') AS digits, lower(trim("Country/Region")) AS country_key,
         try_strptime("Create Date", ['%Y-%m-%d %H:%M:%S', '%d/%m/%Y %H:%M:%S', '%Y-%m-%dT%H:%M:%SZ']) AS created
  FROM read_csv('${data}/contacts.csv')
)
SELECT c.record_id, c.email, c.created,
       CASE WHEN starts_with(trim(c.phone), '+') OR starts_with(lower(trim(c.phone)), 'tel: +') THEN '+' || c.digits
            WHEN starts_with(c.digits, '00') THEN '+' || substr(c.digits, 3)
            WHEN length(c.digits) = 10 THEN '+1' || c.digits END AS e164,
       regexp_matches(c.email, '^[\w.+-]+@[\w-]+(\.[\w-]+)+$') AS valid_email,
       coalesce(k.iso2, 'unknown') AS iso2
FROM c LEFT JOIN countries k ON c.country_key = k.country_key
WHERE c.email IS NOT NULL AND c.email <> ''
QUALIFY row_number() OVER (PARTITION BY c.email ORDER BY c.created DESC NULLS LAST, c.record_id) = 1;

COPY (
  SELECT iso2, count(*) AS contacts, count(*) FILTER (WHERE valid_email) AS valid_emails, count(e164) AS e164_phones,
         strftime(max(created), '%Y-%m-%d %H:%M:%S') AS newest
  FROM contacts GROUP BY iso2 ORDER BY iso2
) TO '${out}/contacts_by_country.csv' (HEADER);

CREATE TEMP TABLE deals AS
WITH d AS (
  SELECT lower(trim("Associated Contact Email")) AS email, lower(trim("Deal Stage")) AS stage_key, "Amount" AS amount,
         "Currency" AS currency,
         try_strptime("Close Date", ['%Y-%m-%d', '%d/%m/%Y', '%Y/%m/%d', '%d-%b-%Y', '%Y%m%d'])::DATE AS close_date,
         try_strptime("Create Date", ['%Y-%m-%d %H:%M:%S', '%d/%m/%Y %H:%M:%S', '%Y-%m-%dT%H:%M:%SZ']) AS created
  FROM read_csv('${data}/deals.csv')
)
SELECT c.iso2, s.stage_name, s.stage_order,
       CAST(round(d.amount * f.usd_per_unit * 100) AS BIGINT) AS cents,
       date_trunc('quarter', d.close_date) AS quarter,
       date_diff('day', d.created::DATE, d.close_date) AS days_to_close
FROM d
JOIN contacts c ON d.email = c.email
JOIN stage_names s ON d.stage_key = s.stage_key
JOIN fx f ON d.currency = f.currency;

COPY (
  SELECT iso2, quarter, count(*) AS won_deals, (sum(cents)::DECIMAL(38, 0) / 100)::DECIMAL(18, 2) AS revenue_usd,
         max(days_to_close) AS longest_days
  FROM deals WHERE stage_name = 'Closed Won' GROUP BY iso2, quarter ORDER BY iso2, quarter
) TO '${out}/revenue_by_country_quarter.csv' (HEADER);

COPY (
  SELECT stage_name,
         CASE WHEN cents IS NULL THEN 'unknown' WHEN cents >= 10000000 THEN 'enterprise' WHEN cents >= 2500000 THEN 'large'
              WHEN cents >= 500000 THEN 'mid' ELSE 'small' END AS band,
         count(*) AS deals, (sum(cents)::DECIMAL(38, 0) / 100)::DECIMAL(18, 2) AS amount_usd
  FROM deals GROUP BY stage_order, stage_name, band ORDER BY stage_order, band
) TO '${out}/pipeline_by_stage_band.csv' (HEADER);
