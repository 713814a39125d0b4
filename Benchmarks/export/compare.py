#!/usr/bin/env python3
"""Checks that crmflow and DuckDB wrote the same export-workload results. Usage: compare.py DIR_A DIR_B

Numbers are compared as values (money to the cent), text exactly, rows in file order."""
import csv, sys
from decimal import Decimal

FILES = {
    "revenue_by_country_quarter.csv": ["iso2", "quarter", "won_deals", "revenue_usd", "longest_days"],
    "pipeline_by_stage_band.csv": ["stage_name", "band", "deals", "amount_usd"],
    "contacts_by_country.csv": ["iso2", "contacts", "valid_emails", "e164_phones", "newest"],
}

def norm(col, v):
    if col in ("won_deals", "deals", "contacts", "valid_emails", "e164_phones", "longest_days"): return int(v) if v else None
    # A sum over no values: crmflow writes 0 (as pandas does), SQL null; both mean "no amount".
    if col in ("revenue_usd", "amount_usd"): return Decimal(v.split()[0] if v else "0").quantize(Decimal("0.01"))
    if col == "quarter": return v[:10]
    return v

def load(d, f, cols):
    with open(f"{d}/{f}", newline="", encoding="utf-8") as fh:
        return [tuple(norm(c, r[c]) for c in cols) for r in csv.DictReader(fh)]

ok = True
for f, cols in FILES.items():
    a, b = load(sys.argv[1], f, cols), load(sys.argv[2], f, cols)
    same = a == b
    ok &= same
    if not same:
        diff = [(i, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y][:3]
        print(f"MISMATCH {f}: {sys.argv[1]} has {len(a)} rows, {sys.argv[2]} has {len(b)}; first differences: {diff}")
    else:
        print(f"{f}: {len(a)} rows, identical")
sys.exit(0 if ok else 1)
