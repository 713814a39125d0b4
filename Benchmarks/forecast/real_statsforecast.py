#!/usr/bin/env python3
"""statsforecast's AutoETS, AutoTheta and AutoARIMA (season 12, defaults as its documentation shows them), 18 months
ahead. Usage: real_statsforecast.py DATA_DIR OUT_DIR MODEL; writes OUT_DIR/MODEL.csv and prints the seconds taken."""
import sys
import time

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

data, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
model = {"autoets": AutoETS, "autotheta": AutoTheta, "autoarima": AutoARIMA}[name](season_length=12)
df = pd.read_csv(f"{data}/train.csv", parse_dates=["month"]).rename(columns={"series": "unique_id", "month": "ds", "value": "y"})
sf = StatsForecast(models=[model], freq="MS", n_jobs=2)
fc = sf.forecast(df=df, h=18).reset_index()
column = [c for c in fc.columns if c not in ("unique_id", "ds", "index")][0]
fc.rename(columns={"unique_id": "series", "ds": "period", column: "value"})[["series", "period", "value"]].to_csv(f"{out}/{name}.csv", index=False)
