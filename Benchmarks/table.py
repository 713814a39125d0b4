#!/usr/bin/env python3
"""Prints a benchmark's results as a Markdown table against a reference tool.
Usage: table.py RESULTS REFERENCE TITLE, where RESULTS has lines `name wall user sys peak_kb` (from /usr/bin/time)."""
import sys
path, reference, title = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [(n, float(w), float(u) + float(s), int(k) / 1024) for n, w, u, s, k in (l.split() for l in open(path))]
ref = {n: (w, c, m) for n, w, c, m in rows}[reference]
print(f"\n{title}\n")
print(f"| tool | wall s | CPU s | peak MiB | wall vs {reference} | {reference} ÷ tool (wall) | peak vs {reference} |")
print("|---|---:|---:|---:|---:|---:|---:|")
for n, w, c, m in rows:
    print(f"| {n} | {w:.2f} | {c:.2f} | {m:.0f} | {w / ref[0]:.2f} | {ref[0] / w:.1f}x | {m / ref[2]:.2f} |")
