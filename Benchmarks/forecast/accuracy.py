#!/usr/bin/env python3
"""sMAPE and MASE (season 12) of forecasts against the held-out periods.
Usage: accuracy.py DATA_DIR [--reference NAME] NAME=forecasts.csv ...; with --reference, each line also gives the ratios
to that forecast's sMAPE and MASE."""
import sys
import numpy as np
import pandas as pd

data = sys.argv[1]
train = pd.read_csv(f"{data}/train.csv"); test = pd.read_csv(f"{data}/test.csv")
scale = train.groupby("series")["value"].apply(lambda y: np.mean(np.abs(y.values[12:] - y.values[:-12])))
test["k"] = test.groupby("series").cumcount()
args = sys.argv[2:]
reference = None
if args[:1] == ["--reference"]:
    reference, args = args[1], args[2:]
scores = {}
for arg in args:
    name, path = arg.split("=", 1)
    f = pd.read_csv(path)
    f["k"] = f.groupby("series").cumcount()
    m = test.merge(f, on=["series", "k"], suffixes=("", "_f"))
    smape = np.mean(200 * np.abs(m.value_f - m.value) / (np.abs(m.value_f) + np.abs(m.value)))
    m["ae"] = np.abs(m.value_f - m.value)
    mase = (m.groupby("series")["ae"].mean() / scale).mean()
    scores[name] = (m.series.nunique(), smape, mase)
for name, (n, smape, mase) in scores.items():
    line = f"{name}: {n:,} series, sMAPE {smape:.2f}, MASE {mase:.3f}"
    if reference in scores:
        line += f" (sMAPE {smape / scores[reference][1]:.2f}x, MASE {mase / scores[reference][2]:.2f}x {reference}'s)"
    print(line)
