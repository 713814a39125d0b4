#!/usr/bin/env python3
"""Monthly series for the forecasting benchmark: trend, seasonality, noise and level shifts, 3 to 10 years each; the last
12 months of each are held out (test.csv) and the rest is the history (train.csv). Usage: generate.py OUT_DIR SERIES SEED"""
import os, sys
import numpy as np

out, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(seed)
with open(f"{out}/train.csv", "w") as tr, open(f"{out}/test.csv", "w") as te:
    tr.write("series,month,value\n"); te.write("series,month,value\n")
    for s in range(count):
        n = int(rng.integers(36, 121))
        t = np.arange(n)
        level = rng.uniform(100, 1000)
        trend = rng.normal(0, level * 0.004)
        amp = rng.uniform(0, 0.3) * level
        phase = rng.uniform(0, 2 * np.pi)
        y = level + trend * t + amp * np.sin(2 * np.pi * t / 12 + phase) + rng.normal(0, level * rng.uniform(0.02, 0.1), n)
        if rng.random() < 0.3:
            y[int(rng.integers(n // 3, n)):] += rng.normal(0, level * 0.2)
        y = np.maximum(y, 1)
        start = 2024 * 12 - n
        lines = [f"S{s:05d},{(start + i) // 12:04d}-{(start + i) % 12 + 1:02d}-01,{y[i]:.2f}\n" for i in range(n)]
        tr.writelines(lines[:-12]); te.writelines(lines[-12:])
