#!/usr/bin/env python3
"""Seeded transactions for the RFM benchmark: customer_id, date, amount. Usage: generate.py OUT.csv ROWS SEED
Customers follow a skewed purchase count (many buy once), dates over three years, amounts log-normal."""
import sys
import numpy as np

out, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
customers = max(1000, rows // 8)
ids = rng.zipf(1.6, rows) % customers
days = rng.integers(0, 3 * 365, rows)
amounts = np.round(rng.lognormal(4, 1, rows), 2)
start = np.datetime64("2022-01-01")
with open(out, "w") as f:
    f.write("customer_id,date,amount\n")
    chunk = 1_000_000
    for i in range(0, rows, chunk):
        c = ids[i:i + chunk]; d = (start + days[i:i + chunk]).astype(str); a = amounts[i:i + chunk]
        f.write("".join(f"C{x:07d},{y},{z:.2f}\n" for x, y, z in zip(c, d, a)))
