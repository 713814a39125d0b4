#!/usr/bin/env python3
"""sMAPE and MASE (season 12) of forecasts against the held-out year. Usage: accuracy.py DATA_DIR NAME=forecasts.csv ..."""
import sys
import numpy as np
import pandas as pd

data = sys.argv[1]
train = pd.read_csv(f"{data}/train.csv"); test = pd.read_csv(f"{data}/test.csv")
scale = train.groupby("series")["value"].apply(lambda y: np.mean(np.abs(y.values[12:] - y.values[:-12])))
test["k"] = test.groupby("series").cumcount()
for arg in sys.argv[2:]:
    name, path = arg.split("=", 1)
    f = pd.read_csv(path)
    f["k"] = f.groupby("series").cumcount()
    m = test.merge(f, on=["series", "k"], suffixes=("", "_f"))
    smape = np.mean(200 * np.abs(m.value_f - m.value) / (np.abs(m.value_f) + np.abs(m.value)))
    m["ae"] = np.abs(m.value_f - m.value)
    mase = (m.groupby("series")["ae"].mean() / scale).mean()
    print(f"{name}: {m.series.nunique():,} series, sMAPE {smape:.2f}, MASE {mase:.3f}")
