#!/usr/bin/env python3
"""Splink (DuckDB backend) on the same generated customers as Benchmarks/merge/merge.yaml, with the same fields and
comparable blocking rules. Writes one lineage-like CSV (id, cluster_id) per clustering threshold.
Usage: merge_splink.py PEOPLE.csv OUT_DIR"""
import logging, sys
import pandas as pd
from splink import Linker, SettingsCreator, block_on
import splink.comparison_library as cl
from splink.internals.duckdb.database_api import DuckDBAPI

path, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(path, dtype=str, keep_default_na=False)
df = df.replace({"": None})
df["unique_id"] = df["source"] + ":" + df["record_id"]
# The same normalisation crmflow's clean stage does before its merge: trimmed lower-case text, phone digits.
for c in ["first_name", "last_name", "email", "street", "city"]:
    df[c] = df[c].str.strip().str.lower()
df["phone"] = df["phone"].str.replace(r"[^0-9]", "", regex=True).str[-10:]
cols = ["unique_id", "first_name", "last_name", "email", "phone", "street", "city", "postal_code", "birth_date"]
db = DuckDBAPI()
sdf = db.register(df[cols])
settings = SettingsCreator(
    link_type="dedupe_only",
    blocking_rules_to_generate_predictions=[
        block_on("email"),
        block_on("phone"),
        block_on("substr(last_name, 1, 3)", "postal_code"),
        block_on("first_name", "birth_date"),
        block_on("last_name", "birth_date"),
        block_on("first_name", "last_name", "city"),
    ],
    comparisons=[
        cl.NameComparison("first_name"),
        cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
        cl.EmailComparison("email"),
        cl.ExactMatch("phone"),
        cl.LevenshteinAtThresholds("street", [2, 5]),
        cl.ExactMatch("postal_code"),
        cl.DateOfBirthComparison("birth_date", input_is_string=True),
    ],
)
linker = Linker(sdf, settings, log_level=logging.WARNING)
linker.training.estimate_probability_two_random_records_match([block_on("email"), block_on("phone", "first_name")], recall=0.8)
linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
for rule in [block_on("email"), block_on("phone"), block_on("postal_code")]:
    linker.training.estimate_parameters_using_expectation_maximisation(rule)
pred = linker.inference.predict(threshold_match_probability=0.01)
for t in [0.5, 0.8, 0.9, 0.95, 0.99, 0.999]:
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, t).as_pandas_dataframe()
    clusters.rename(columns={"unique_id": "id"})[["id", "cluster_id"]].to_csv(f"{out}/splink-{t}.csv", index=False)
