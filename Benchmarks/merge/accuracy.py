#!/usr/bin/env python3
"""Pairwise precision, recall and F1 of a merge against the generator's truth.
Usage: accuracy.py PEOPLE.csv LINEAGE.csv (the merge stage's <stage>.lineage.csv: id = source:record_id, cluster_id).
PEOPLE.csv from `crmflow generate people` (truth entity_id) or `crmflow generate customers` (truth person)."""
import csv, sys, collections
truth = {}
for r in csv.DictReader(open(sys.argv[1])):
    if 'entity_id' in r: truth[r['source'] + ':' + r['record_id']] = r['entity_id']
    else: truth[r['system'] + ':' + r['crm_id']] = r['person']
pred = {}
for r in csv.DictReader(open(sys.argv[2])):
    pred[r['id']] = r['cluster_id']
def pairs(labels):
    g = collections.defaultdict(list)
    for k, v in labels.items(): g[v].append(k)
    return g
tp = 0; pp = 0; tpairs = 0
for v, m in pairs(truth).items(): tpairs += len(m)*(len(m)-1)//2
for v, m in pairs(pred).items():
    pp += len(m)*(len(m)-1)//2
    c = collections.Counter(truth[x] for x in m)
    tp += sum(n*(n-1)//2 for n in c.values())
p = tp/pp if pp else 1; r = tp/tpairs if tpairs else 1
print(f"precision {p:.4f} recall {r:.4f} F1 {2*p*r/(p+r):.4f} (true pairs {tpairs}, predicted {pp})")
