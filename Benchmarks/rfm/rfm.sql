-- The same RFM in DuckDB: scores by quintiles of first ranks (ties by customer id), as pandas qcut of rank(method='first').
COPY (
  WITH c AS (
    SELECT customer_id, DATE '2024-12-31' - max(date) AS recency, count(*) AS frequency, sum(amount) AS monetary
    FROM read_csv('${data}') GROUP BY customer_id
  ), r AS (
    SELECT *, count(*) OVER () AS n,
      row_number() OVER (ORDER BY recency, customer_id) AS rr,
      row_number() OVER (ORDER BY frequency, customer_id) AS fr,
      row_number() OVER (ORDER BY monetary, customer_id) AS mr
    FROM c
  )
  SELECT customer_id, recency, frequency, round(monetary, 2) AS monetary,
    6 - least(5, greatest(1, ceil((rr - 1) * 5.0 / (n - 1)))::INT) AS r,
    least(5, greatest(1, ceil((fr - 1) * 5.0 / (n - 1)))::INT) AS f,
    least(5, greatest(1, ceil((mr - 1) * 5.0 / (n - 1)))::INT) AS m
  FROM r ORDER BY customer_id
) TO '${out}/rfm.csv' (HEADER);
