#!/usr/bin/env python3
"""Compares crmflow's and pandas' cleaned contacts value by value. Usage: compare.py CRMFLOW.csv PANDAS.csv"""
import csv, sys
from decimal import Decimal

COLS = ["email", "email_key", "phone", "phone_ext", "country", "created", "budget", "first_name", "last_name"]
def load(path):
    with open(path, newline="", encoding="utf-8") as f:
        return {r["id"]: r for r in csv.DictReader(f)}
a, b = load(sys.argv[1]), load(sys.argv[2])
def norm(c, v):
    v = (v or "").strip()
    if c == "budget" and v: return str(Decimal(v.split()[0]).quantize(Decimal("0.01")))
    return v
print(f"rows: crmflow {len(a):,}, pandas {len(b):,}, in both {len(a.keys() & b.keys()):,}")
for c in COLS:
    same = sum(1 for k in a.keys() & b.keys() if norm(c, a[k].get(c)) == norm(c, b[k].get(c)))
    total = len(a.keys() & b.keys())
    diff = next((k for k in sorted(a.keys() & b.keys(), key=int) if norm(c, a[k].get(c)) != norm(c, b[k].get(c))), None)
    example = f" (e.g. id {diff}: {a[diff].get(c)!r} vs {b[diff].get(c)!r})" if diff else ""
    print(f"  {c}: {100 * same / max(total, 1):.2f}% equal{example}")
