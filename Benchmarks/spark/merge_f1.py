#!/usr/bin/env python3
"""Pairwise precision, recall and F1 of a merge's lineage file against a ground-truth column of its input.

merge_f1.py INPUT.csv ID_COLUMN SOURCE_COLUMN TRUTH_COLUMN LINEAGE.csv [LINEAGE.csv ...]
A pair of records is predicted when the lineage gives both one cluster_id, and true when the truth column gives both one
value. Each lineage file's figures are printed on one line (JSON).
"""
import csv, json, sys
from collections import Counter, defaultdict

def pairs(n):
    return n * (n - 1) // 2

def main():
    src, id_col, source_col, truth_col, *lineages = sys.argv[1:]
    truth = {}
    with open(src, newline="") as f:
        for row in csv.DictReader(f):
            key = (row[source_col] + ":" + row[id_col]) if source_col else row[id_col]
            truth[key] = row[truth_col]
    true_pairs = sum(pairs(n) for n in Counter(truth.values()).values())
    for path in lineages:
        clusters = defaultdict(list)
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                clusters[row["cluster_id"]].append(truth.get(row["id"]))
        predicted = sum(pairs(len(m)) for m in clusters.values())
        tp = sum(sum(pairs(n) for n in Counter(m).values()) for m in clusters.values())
        p = tp / predicted if predicted else 1.0
        r = tp / true_pairs if true_pairs else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        print(json.dumps({"lineage": path, "records": sum(len(m) for m in clusters.values()), "clusters": len(clusters),
                          "true_pairs": true_pairs, "predicted_pairs": predicted, "tp": tp,
                          "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}))

if __name__ == "__main__":
    main()
