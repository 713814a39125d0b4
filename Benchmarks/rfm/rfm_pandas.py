#!/usr/bin/env python3
"""The same RFM in pandas: qcut of rank(method='first') over customers sorted by id. Usage: rfm_pandas.py IN.csv OUT_DIR"""
import sys
import pandas as pd
src, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(src, parse_dates=["date"], dtype={"customer_id": str})
g = df.groupby("customer_id").agg(last=("date", "max"), frequency=("date", "size"), monetary=("amount", "sum")).reset_index().sort_values("customer_id")
g["recency"] = (pd.Timestamp("2024-12-31") - g["last"]).dt.days
g["r"] = pd.qcut(g["recency"].rank(method="first"), 5, labels=[5, 4, 3, 2, 1]).astype(int)
g["f"] = pd.qcut(g["frequency"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
g["m"] = pd.qcut(g["monetary"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
g["monetary"] = g["monetary"].round(2)
g[["customer_id", "recency", "frequency", "monetary", "r", "f", "m"]].to_csv(f"{out}/rfm.csv", index=False)
