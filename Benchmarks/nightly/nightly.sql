-- The reference nightly workload in DuckDB SQL (same steps and outputs as nightly.yaml). ${data} and ${out} are
-- replaced by bench.sh.
CREATE TEMP TABLE contacts_norm AS
SELECT contact_id,
       lower(trim(email)) AS email,
       regexp_replace(phone, '[^0-9+]', '', 'g') AS phone,
       lower(trim(country)) AS country_key,
       coalesce(try_strptime(created, '%Y-%m-%d'), try_strptime(created, '%m/%d/%Y'), try_strptime(created, '%d.%m.%Y'),
                try_strptime(created, '%b %d, %Y'), try_strptime(created, '%Y-%m-%dT%H:%M:%SZ'))::DATE AS created
FROM read_csv('${data}/contacts.csv', all_varchar = true, header = true);

CREATE TEMP TABLE contacts_unique AS
SELECT email, contact_id, phone, country_key FROM (
  SELECT *, row_number() OVER (PARTITION BY email ORDER BY created DESC NULLS LAST, contact_id) AS rn FROM contacts_norm
) WHERE rn = 1;

COPY (
  SELECT coalesce(c.iso2, 'unknown') AS iso2, count(*) AS customers, count(*) FILTER (WHERE length(u.phone) >= 10) AS with_phone
  FROM contacts_unique u LEFT JOIN read_csv('${data}/countries.csv', all_varchar = true) c ON u.country_key = c.country_key
  GROUP BY 1 ORDER BY 1
) TO '${out}/customers_by_country.csv' (HEADER);

CREATE TEMP TABLE deals_final AS
WITH d AS (
  SELECT owner,
         lower(trim(contact_email)) AS email,
         lower(trim(stage)) AS stage_key,
         CASE WHEN amount LIKE '$%' THEN 'USD' WHEN amount LIKE 'USD %' THEN 'USD' WHEN amount LIKE '%€' THEN 'EUR'
              WHEN amount LIKE 'EUR %' THEN 'EUR' WHEN amount LIKE '£%' THEN 'GBP' END AS currency,
         CASE WHEN amount LIKE '%€' THEN replace(replace(replace(amount, ' €', ''), '.', ''), ',', '.')
              ELSE replace(regexp_replace(amount, '^(\$|USD |EUR |£)', ''), ',', '') END::DOUBLE AS amount,
         coalesce(try_strptime(close_date, '%Y-%m-%d'), try_strptime(close_date, '%m/%d/%Y'), try_strptime(close_date, '%d.%m.%Y'),
                  try_strptime(close_date, '%b %d, %Y'), try_strptime(close_date, '%Y-%m-%dT%H:%M:%SZ'))::DATE AS close_date
  FROM read_csv('${data}/deals.csv', all_varchar = true, header = true)
)
SELECT d.owner, s.stage_name, s.stage_order::INTEGER AS stage_order,
       CAST(round(d.amount * r.usd_per_unit * 100) AS BIGINT) AS cents,
       date_trunc('month', d.close_date) AS month
FROM d
JOIN (SELECT email FROM contacts_unique) u ON d.email = u.email
JOIN read_csv('${data}/stages.csv', all_varchar = true) s ON d.stage_key = s.stage_key
JOIN read_csv('${data}/rates.csv') r ON d.currency = r.currency;

COPY (
  SELECT owner, month, count(*) AS won_deals, (sum(cents)::DECIMAL(38, 0) / 100)::DECIMAL(18, 2) AS revenue_usd
  FROM deals_final WHERE stage_name = 'Closed Won' GROUP BY owner, month ORDER BY owner, month
) TO '${out}/revenue_by_owner_month.csv' (HEADER);

COPY (
  SELECT stage_name, count(*) AS deals, round(count(*) / (SELECT count(*) FROM deals_final), 4) AS share
  FROM deals_final GROUP BY stage_order, stage_name ORDER BY stage_order
) TO '${out}/stage_counts.csv' (HEADER);
