#!/usr/bin/env python3
"""Seeded generator of CRM contacts for the PostgreSQL load benchmark. Usage: generate.py OUT.csv ROWS SEED
Columns as a CRM export has them: numeric id, names with accents and quotes, e-mail, phone, company names with commas,
country, created date, last activity timestamp, annual revenue (two decimals), lead score, opted-in flag, notes that
are empty for half the rows and hold commas, quotes or line breaks for some."""
import csv, random, sys

out, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
FIRST = ["Ann", "Bob", "María", "Jürgen", "Li", "Chloé", "Sam", "Aiko", "Noah", "Olivia", "Liam", "Zoë", "José", "Wei"]
LAST = ["Smith", "Müller", "van der Berg", "McDonald", "O'Neil", "Garcia", "Tanaka", "Rossi", "Brown", "Dubois"]
COMPANY = ["Acme, Inc.", "Globex GmbH", "Initech", "Umbrella Corp.", "Stark Industries", "Société Générale", "Wayne \"WE\" Enterprises"]
COUNTRY = ["US", "DE", "GB", "FR", "NL", "JP", "BR"]
NOTES = ["", "", "", "call back in Q3", "met at \"Dreamforce\", wants a demo", "prefers e-mail,\nnot phone", "budget approved"]
with open(out, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["contact_id", "first_name", "last_name", "email", "phone", "company", "country", "created", "last_activity",
                "annual_revenue", "lead_score", "opted_in", "notes"])
    for i in range(1, rows + 1):
        fn, ln = rng.choice(FIRST), rng.choice(LAST)
        y, m, d = rng.randrange(2015, 2025), rng.randrange(1, 13), rng.randrange(1, 29)
        w.writerow([i, fn, ln, f"{fn.lower()}.{ln.lower().replace(' ', '')}{i}@example.com", f"+1 555 {rng.randrange(1000000, 9999999)}",
                    rng.choice(COMPANY), rng.choice(COUNTRY), f"{y}-{m:02d}-{d:02d}",
                    f"2024-{m:02d}-{d:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
                    f"{rng.randrange(0, 50_000_000) / 100:.2f}", rng.randrange(0, 101), rng.choice(["true", "false"]), rng.choice(NOTES)])
