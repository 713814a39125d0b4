#!/usr/bin/env python3
"""Seeded generator for the reference nightly workload: contacts with ~8% near-duplicates and deals.

Messy on purpose: quoted commas and newlines in company names, five date formats, accents, formatted amounts in three
currencies, stage-name variants, country aliases, phone formats. Usage: generate.py OUTDIR CONTACTS DEALS SEED
"""
import csv, os, random, sys

out, n_contacts, n_deals, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
os.makedirs(out, exist_ok=True)

FIRST = ["José", "Zoë", "Łukasz", "Ana", "Jürgen", "Chloé", "Liam", "Aiko", "Wei", "Olivia", "Noah", "María", "Søren", "Ines", "Bob"]
LAST = ["Müller", "O'Neil", "García", "Smith", "Nguyen", "Dubois", "Rossi", "Khan", "Tanaka", "Brown", "Ærø", "Kowalski"]
DOMAINS = ["acme.com", "globex.de", "initech.com", "umbrella.co.uk", "hooli.io", "société.fr", "stark.com"]
COMPANIES = ["Acme, Inc.", "Globex GmbH", "Initech\n(Austin office)", "Umbrella Corp", "Hooli", "Société Générale", "Stark \"Industries\""]
COUNTRIES = {"US": ["United States", "USA", "US", "u.s.", " united states "], "DE": ["Germany", "Deutschland", "DE", "germany"],
             "FR": ["France", "FR", "france "], "GB": ["United Kingdom", "UK", "GB", "Great Britain"], "ES": ["Spain", "España", "ES"],
             "JP": ["Japan", "JP"]}
ALIASES = [(a.strip().lower(), iso) for iso, names in COUNTRIES.items() for a in names]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

def date_text(y, m, d):
    k = rng.randrange(5)
    if k == 0: return f"{y:04d}-{m:02d}-{d:02d}"
    if k == 1: return f"{m:02d}/{d:02d}/{y:04d}"
    if k == 2: return f"{d:02d}.{m:02d}.{y:04d}"
    if k == 3: return f"{MONTHS[m - 1]} {d:02d}, {y:04d}"
    return f"{y:04d}-{m:02d}-{d:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"

def phone():
    n = rng.randrange(10**9, 10**10)
    s = str(n)
    k = rng.randrange(5)
    if k == 0: return f"+1 {s[:3]} {s[3:6]} {s[6:]}"
    if k == 1: return f"({s[:3]}) {s[3:6]}-{s[6:]}"
    if k == 2: return f"{s[:3]}.{s[3:6]}.{s[6:]}"
    if k == 3: return f"+44 {s[:2]} {s[2:6]} {s[6:]}"
    return "" if rng.random() < 0.5 else "n/a"

emails = []
with open(os.path.join(out, "contacts.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["contact_id", "first_name", "last_name", "email", "phone", "company", "country", "created"])
    cid = 0
    for i in range(n_contacts):
        fn, ln = rng.choice(FIRST), rng.choice(LAST)
        email = f"{fn.lower()}.{ln.lower().replace(chr(39), '')}{i}@{rng.choice(DOMAINS)}"
        emails.append(email)
        iso = rng.choice(list(COUNTRIES))
        y, m, d = rng.choice([2021, 2022, 2023]), rng.randrange(1, 13), rng.randrange(1, 29)
        cid += 1
        w.writerow([f"C{cid:08d}", fn, ln, email, phone(), rng.choice(COMPANIES), rng.choice(COUNTRIES[iso]), date_text(y, m, d)])
        if rng.random() < 0.08:
            # A near-duplicate: same person, email in another case and with spaces, a later (distinct) date, another country alias.
            cid += 1
            variant = rng.choice([email.upper(), " " + email, email.capitalize() + " "])
            w.writerow([f"C{cid:08d}", fn, ln, variant, phone(), rng.choice(COMPANIES), rng.choice(COUNTRIES[rng.choice(list(COUNTRIES))]),
                        date_text(2024, rng.randrange(1, 13), rng.randrange(1, 29))])

STAGES = [("Prospecting", 1, ["Prospecting", "prospecting "]), ("Qualification", 2, ["Qualification", "Qualified"]),
          ("Proposal", 3, ["Proposal/Price Quote", "Proposal"]), ("Negotiation", 4, ["Negotiation/Review", "negotiation"]),
          ("Closed Won", 5, ["Closed Won", "closed won", "Won", "CLOSED WON"]), ("Closed Lost", 6, ["Closed Lost", "Closed - Lost", "lost"])]
OWNERS = [f"{rng.choice(FIRST)} {rng.choice(LAST)} {k}" for k in range(20)]

def amount_text(cents):
    whole, frac = divmod(cents, 100)
    k = rng.randrange(5)
    if k == 0: return "USD", f"${whole:,}.{frac:02d}"
    if k == 1: return "USD", f"USD {whole}.{frac:02d}"
    if k == 2: return "EUR", f"{whole:,}".replace(",", ".") + f",{frac:02d} €"
    if k == 3: return "EUR", f"EUR {whole}.{frac:02d}"
    return "GBP", f"£{whole:,}.{frac:02d}"

with open(os.path.join(out, "deals.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["deal_id", "deal_name", "contact_email", "owner", "stage", "amount", "close_date"])
    for i in range(n_deals):
        e = rng.choice(emails) if rng.random() > 0.03 else f"nobody{i}@nowhere.net"
        e = rng.choice([e, e.upper(), f" {e}"])
        stage = rng.choice(STAGES)
        _, text = amount_text(rng.randrange(50_000, 50_000_000))
        w.writerow([f"D{i:09d}", f"Deal {i}, {rng.choice(['renewal', 'new', 'upsell'])}", e, rng.choice(OWNERS), rng.choice(stage[2]), text,
                    date_text(2024, rng.randrange(1, 13), rng.randrange(1, 29))])

with open(os.path.join(out, "countries.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["country_key", "iso2"])
    w.writerows(sorted(set(ALIASES)))
with open(os.path.join(out, "stages.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["stage_key", "stage_name", "stage_order"])
    rows = {(v.strip().lower(), name, order) for name, order, variants in STAGES for v in variants}
    w.writerows(sorted(rows))
with open(os.path.join(out, "rates.csv"), "w", newline="", encoding="utf-8") as f:
    f.write("currency,usd_per_unit\nUSD,1.0\nEUR,1.08\nGBP,1.27\n")
