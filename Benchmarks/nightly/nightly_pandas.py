#!/usr/bin/env python3
"""The reference nightly workload in pandas (same steps and outputs as nightly.yaml). Usage: nightly_pandas.py DATA OUT"""
import sys
import numpy as np
import pandas as pd

data, out = sys.argv[1], sys.argv[2]
FORMATS = ["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%b %d, %Y", "%Y-%m-%dT%H:%M:%SZ"]

def parse_dates(s):
    result = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    for f in FORMATS:
        result = result.fillna(pd.to_datetime(s, format=f, errors="coerce"))
    return result

c = pd.read_csv(f"{data}/contacts.csv", dtype=str, keep_default_na=False)
c["email"] = c["email"].str.strip().str.lower()
c["phone"] = c["phone"].str.replace(r"[^0-9+]", "", regex=True)
c["country_key"] = c["country"].str.strip().str.lower()
c["created"] = parse_dates(c["created"])
c = c.sort_values(["created", "contact_id"], ascending=[False, True], na_position="last", kind="stable")
u = c.drop_duplicates("email", keep="first")[["email", "contact_id", "phone", "country_key"]]

countries = pd.read_csv(f"{data}/countries.csv", dtype=str)
cc = u.merge(countries, on="country_key", how="left")
cc["iso2"] = cc["iso2"].fillna("unknown")
cc["has_phone"] = cc["phone"].str.len() >= 10
(cc.groupby("iso2").agg(customers=("email", "size"), with_phone=("has_phone", "sum")).reset_index()
   .sort_values("iso2").to_csv(f"{out}/customers_by_country.csv", index=False))

d = pd.read_csv(f"{data}/deals.csv", dtype=str, keep_default_na=False)
d["email"] = d["contact_email"].str.strip().str.lower()
d["stage_key"] = d["stage"].str.strip().str.lower()
a = d["amount"]
d["currency"] = np.select([a.str.startswith("$") | a.str.startswith("USD "), a.str.endswith("€") | a.str.startswith("EUR "), a.str.startswith("£")],
                          ["USD", "EUR", "GBP"], default=None)
euro = a.str.endswith("€")
plain = a.str.replace(r"^(\$|USD |EUR |£)", "", regex=True).str.replace(",", "", regex=False)
european = a.str.replace(" €", "", regex=False).str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
d["amount_value"] = np.where(euro, european, plain).astype(float)
d["close_date"] = parse_dates(d["close_date"])
stages = pd.read_csv(f"{data}/stages.csv", dtype={"stage_key": str, "stage_name": str, "stage_order": int})
rates = pd.read_csv(f"{data}/rates.csv")
d = d.merge(u[["email"]], on="email").merge(stages, on="stage_key").merge(rates, on="currency")
# Cents as integers, rounded half away from zero (amounts are positive), so totals are exact.
d["cents"] = np.floor(d["amount_value"] * d["usd_per_unit"] * 100 + 0.5).astype(np.int64)
d["month"] = d["close_date"].dt.to_period("M").dt.to_timestamp().dt.strftime("%Y-%m-%d")

won = d[d["stage_name"] == "Closed Won"]
rev = won.groupby(["owner", "month"]).agg(won_deals=("cents", "size"), cents=("cents", "sum")).reset_index()
rev["revenue_usd"] = rev["cents"].map(lambda x: f"{x // 100}.{x % 100:02d}")
rev.sort_values(["owner", "month"])[["owner", "month", "won_deals", "revenue_usd"]].to_csv(f"{out}/revenue_by_owner_month.csv", index=False)

sc = d.groupby(["stage_order", "stage_name"]).size().reset_index(name="deals").sort_values("stage_order")
sc["share"] = (sc["deals"] / len(d)).round(4)
sc[["stage_name", "deals", "share"]].to_csv(f"{out}/stage_counts.csv", index=False)
