#!/usr/bin/env python3
"""Checks that the RFM outputs agree: scores, recency and frequency exactly, monetary to the cent. Usage: compare.py A.csv B.csv ..."""
import csv, sys
from decimal import Decimal
def load(p):
    with open(p, newline="") as f:
        return {r["customer_id"]: (int(r["recency"]), int(r["frequency"]), Decimal(r["monetary"]).quantize(Decimal("0.01")), int(r["r"]), int(r["f"]), int(r["m"])) for r in csv.DictReader(f)}
ref = load(sys.argv[1]); ok = True
for p in sys.argv[2:]:
    other = load(p)
    diff = [k for k in ref if ref[k] != other.get(k)]
    if diff or len(other) != len(ref):
        ok = False; print(f"MISMATCH {p}: {len(diff)} customers differ, e.g. {diff[:1]} {ref.get(diff[0]) if diff else ''} vs {other.get(diff[0]) if diff else ''}")
print(f"rfm: {len(ref):,} customers, {'identical in all' if ok else 'see above'}")
sys.exit(0 if ok else 1)
