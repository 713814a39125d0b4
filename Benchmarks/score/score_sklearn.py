#!/usr/bin/env python3
"""The same model in scikit-learn: standardised amount and age, one-hot owner / region / source (first level dropped),
L2 with C = 1 (crmflow's l2 = 1). Usage: score_sklearn.py IN.csv OUT_DIR (writes scored.csv: deal_id, probability, truth)."""
import sys
import pandas as pd
from sklearn.linear_model import LogisticRegression

src, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(src, parse_dates=["created"])
df["age"] = (pd.Timestamp("2024-12-31") - df["created"]).dt.days
X = pd.get_dummies(df[["amount", "age", "owner", "region", "source"]], columns=["owner", "region", "source"], drop_first=True, dtype=float)
train = df["is_closed"]
for c in ["amount", "age"]:
    mu, sd = X.loc[train, c].mean(), X.loc[train, c].std()
    X[c] = (X[c] - mu) / sd
model = LogisticRegression(C=1.0, max_iter=1000).fit(X[train], df.loc[train, "won"])
p = model.predict_proba(X[~train])[:, 1]
pd.DataFrame({"deal_id": df.loc[~train, "deal_id"], "probability": p, "truth": df.loc[~train, "truth"]}).to_csv(f"{out}/scored.csv", index=False)
