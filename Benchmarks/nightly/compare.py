#!/usr/bin/env python3
"""Checks that the three implementations wrote the same results. Usage: compare.py DIR_A DIR_B ...

Numbers are compared as values (revenue to the cent, shares to 4 places), text exactly, rows in file order."""
import csv, sys
from decimal import Decimal

FILES = {
    "revenue_by_owner_month.csv": ["owner", "month", "won_deals", "revenue_usd"],
    "stage_counts.csv": ["stage_name", "deals", "share"],
    "customers_by_country.csv": ["iso2", "customers", "with_phone"],
}

def norm(col, v):
    if col in ("won_deals", "deals", "customers", "with_phone"): return int(v)
    if col == "revenue_usd": return Decimal(v.split()[0]).quantize(Decimal("0.01"))
    if col == "share": return Decimal(v).quantize(Decimal("0.0001"))
    if col == "month": return v[:10]
    return v

def load(d, f, cols):
    with open(f"{d}/{f}", newline="", encoding="utf-8") as fh:
        return [tuple(norm(c, r[c]) for c in cols) for r in csv.DictReader(fh)]

ok = True
for f, cols in FILES.items():
    ref = load(sys.argv[1], f, cols)
    for d in sys.argv[2:]:
        other = load(d, f, cols)
        if other != ref:
            ok = False
            diff = [(i, a, b) for i, (a, b) in enumerate(zip(ref, other)) if a != b][:3]
            print(f"MISMATCH {f}: {sys.argv[1]} has {len(ref)} rows, {d} has {len(other)}; first differences: {diff}")
    print(f"{f}: {len(ref)} rows, {'identical in all' if ok else 'see above'}")
sys.exit(0 if ok else 1)
