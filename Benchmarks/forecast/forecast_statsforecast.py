#!/usr/bin/env python3
"""The same 12-month forecasts with statsforecast's AutoETS (season 12). Usage: forecast_statsforecast.py DATA_DIR OUT_DIR"""
import sys
import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoETS

data, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(f"{data}/train.csv", parse_dates=["month"]).rename(columns={"series": "unique_id", "month": "ds", "value": "y"})
sf = StatsForecast(models=[AutoETS(season_length=12)], freq="MS", n_jobs=2)
fc = sf.forecast(df=df, h=12).reset_index()
fc.rename(columns={"unique_id": "series", "ds": "period", "AutoETS": "value"})[["series", "period", "value"]].to_csv(f"{out}/forecasts.csv", index=False)
