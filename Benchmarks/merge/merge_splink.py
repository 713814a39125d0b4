#!/usr/bin/env python3
"""Splink (DuckDB backend) on the same customers as Benchmarks/merge/merge.yaml (crmflow generate people) or
merge-customers.yaml (crmflow generate customers), configured as Splink's own documentation does it (the
deduplication tutorial and examples): blocking rules on name, birth date, postcode, e-mail and phone pairs;
NameComparison with term-frequency adjustments for both names, EmailComparison, DateOfBirthComparison, exact phone and
postcode, street within 1 or 3 edits; the match prior from deterministic rules; u by random sampling (10 million pairs); m by expectation-
maximisation on two blocking passes (first and last name, then birth date) with term frequencies left out of training.
Writes one lineage-like CSV (id, cluster_id) per clustering threshold.
Usage: merge_splink.py PEOPLE.csv OUT_DIR [people|customers]"""
import logging, sys
import pandas as pd
from splink import Linker, SettingsCreator, block_on
import splink.comparison_library as cl
from splink.internals.duckdb.database_api import DuckDBAPI

path, out = sys.argv[1], sys.argv[2]
kind = sys.argv[3] if len(sys.argv) > 3 else "people"
# Each generator's column names, mapped to one set (the crmflow pipelines adapt the same way).
names = {
    "people": dict(id="record_id", source="source", first_name="first_name", last_name="last_name", email="email",
                   phone="phone", street="street", city="city", postal_code="postal_code", birth_date="birth_date"),
    "customers": dict(id="crm_id", source="system", first_name="given_name", last_name="family_name", email="email_address",
                      phone="phone_number", street="address_line", city="town", postal_code="zip", birth_date="dob"),
}[kind]
raw = pd.read_csv(path, dtype=str, keep_default_na=False)
df = pd.DataFrame({k: raw[v] for k, v in names.items()}).replace({"": None})
df["unique_id"] = df["source"] + ":" + df["id"]
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
        block_on("first_name", "last_name"),
        block_on("last_name", "birth_date"),
        block_on("first_name", "birth_date"),
        block_on("postal_code", "first_name"),
        block_on("email"),
        block_on("phone"),
    ],
    comparisons=[
        cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
        cl.EmailComparison("email"),
        cl.ExactMatch("phone"),
        cl.ExactMatch("postal_code").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("birth_date", input_is_string=True),
        cl.LevenshteinAtThresholds("street", [1, 3]),
    ],
    retain_intermediate_calculation_columns=False,
)
linker = Linker(sdf, settings, log_level=logging.WARNING)
linker.training.estimate_probability_two_random_records_match(
    [block_on("first_name", "last_name", "birth_date"), block_on("email")], recall=0.7)
linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"), estimate_without_term_frequencies=True)
linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"), estimate_without_term_frequencies=True)
pred = linker.inference.predict(threshold_match_probability=0.01)
for t in [0.5, 0.8, 0.9, 0.95, 0.99, 0.999]:
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, t).as_pandas_dataframe()
    clusters.rename(columns={"unique_id": "id"})[["id", "cluster_id"]].to_csv(f"{out}/splink-{t}.csv", index=False)
