#!/usr/bin/env python3
"""ROC AUC of scored open deals against their true outcome. Usage: auc.py NAME=scored.csv ..."""
import sys
import pandas as pd
from sklearn.metrics import roc_auc_score
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    df = pd.read_csv(path)
    truth = df["truth"].astype(str).str.lower() == "true"
    print(f"{name} AUC {roc_auc_score(truth, df['probability']):.4f} on {len(df):,} open deals")
