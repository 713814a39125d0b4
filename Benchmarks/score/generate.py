#!/usr/bin/env python3
"""Deals for the scoring benchmark: CLOSED closed deals to learn from and OPEN open ones to score, outcomes drawn from a
known logistic model (the open deals' outcome is kept in `truth`, never a feature). Usage: generate.py OUT.csv CLOSED OPEN SEED"""
import sys
import numpy as np

out, closed, open_, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
n = closed + open_
rng = np.random.default_rng(seed)
owners = np.array([f"Rep {i:02d}" for i in range(40)]); regions = np.array(["EMEA", "NA", "LATAM", "APAC", "ANZ", "DACH"])
sources = np.array(["Web", "Referral", "Partner", "Event", "Cold call", "Inbound"])
owner = rng.integers(0, 40, n); region = rng.integers(0, 6, n); source = rng.integers(0, 6, n)
amount = np.round(rng.lognormal(9, 1, n), 2)
age = rng.integers(1, 400, n)
owner_effect = rng.normal(0, 0.5, 40); region_effect = np.array([0.2, 0.1, -0.3, 0.0, -0.1, 0.3]); source_effect = np.array([-0.2, 0.6, 0.3, 0.1, -0.7, 0.2])
logit = -0.2 - 0.5 * (np.log(amount) - 9) + owner_effect[owner] + region_effect[region] + source_effect[source] - 0.003 * (age - 200)
won = rng.random(n) < 1 / (1 + np.exp(-logit))
created = (np.datetime64("2024-12-31") - age).astype(str)
with open(out, "w") as f:
    f.write("deal_id,amount,owner,region,source,created,is_closed,won,truth\n")
    for i in range(0, n, 500_000):
        j = slice(i, min(n, i + 500_000))
        rows = zip(range(j.start, j.stop), amount[j], owners[owner[j]], regions[region[j]], sources[source[j]], created[j], won[j])
        f.write("".join(f"D{k:08d},{a:.2f},{o},{r},{s},{c},{'true' if k < closed else 'false'},{'true' if w and k < closed else 'false'},{'true' if w else 'false'}\n"
                        for k, a, o, r, s, c, w in rows))
