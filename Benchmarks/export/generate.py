#!/usr/bin/env python3
"""Seeded generator for the second nightly workload (issue 17): a CRM export the way a hosted CRM writes it, not the
way crmflow's own generator does. Every field quoted, CRLF line ends, a UTF-8 byte order mark, headers with spaces and
slashes ("Record ID", "Country/Region"), numeric record ids, amounts as plain decimals with the currency in its own
column, close dates in five formats, create dates as timestamps in three formats (so "keep the most recently created"
needs the time of day: duplicates share the day), phones written nine ways, internal stage ids beside their labels,
countries as names, codes and misspellings. Usage: generate.py OUTDIR CONTACTS DEALS SEED"""
import csv, os, random, sys

out, n_contacts, n_deals, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
os.makedirs(out, exist_ok=True)

FIRST = ["Emma", "Lucas", "Mia", "Noah", "Léa", "Hugo", "Sofia", "Mateo", "Hanna", "Elias", "Aino", "Oskar", "Nora", "Finn"]
LAST = ["Schmidt", "Martin", "Rossi", "Jansen", "Virtanen", "Novak", "Silva", "Fischer", "Moreau", "Berg", "Costa", "Weber"]
DOMAINS = ["example.com", "mail.de", "corp.fr", "firma.nl", "yritys.fi", "empresa.es", "azienda.it"]
COUNTRY_TEXT = {"DE": ["Germany", "DE", "germany", "Deutschland", "Germany "], "FR": ["France", "FR", "france", "Frankreich"],
                "NL": ["Netherlands", "The Netherlands", "NL", "Holland"], "FI": ["Finland", "FI", "Suomi"],
                "ES": ["Spain", "ES", "spain", "España"], "IT": ["Italy", "IT", "Italia"], "US": ["United States", "USA", "US"]}
STAGES = [("appointmentscheduled", "Appointment Scheduled"), ("qualifiedtobuy", "Qualified To Buy"),
          ("presentationscheduled", "Presentation Scheduled"), ("decisionmakerboughtin", "Decision Maker Bought-In"),
          ("contractsent", "Contract Sent"), ("closedwon", "Closed Won"), ("closedlost", "Closed Lost")]
STAGE_WEIGHTS = [14, 12, 10, 8, 8, 28, 20]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "USD", "GBP", "SEK", "CHF"]
OWNERS = [f"{f} {l}" for f, l in zip(FIRST, LAST)]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

def close_text(y, m, d):
    k = rng.randrange(5)
    if k == 0: return f"{y:04d}-{m:02d}-{d:02d}"
    if k == 1: return f"{d:02d}/{m:02d}/{y:04d}"
    if k == 2: return f"{y:04d}/{m:02d}/{d:02d}"
    if k == 3: return f"{d:02d}-{MONTHS[m - 1]}-{y:04d}"
    return f"{y:04d}{m:02d}{d:02d}"

def stamp_text(y, m, d, h, mi, s):
    k = rng.randrange(3)
    if k == 0: return f"{y:04d}-{m:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}"
    if k == 1: return f"{d:02d}/{m:02d}/{y:04d} {h:02d}:{mi:02d}:{s:02d}"
    return f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z"

def phone(iso):
    n = str(rng.randrange(10**9, 10**10))
    k = rng.randrange(9)
    if k == 0: return f"+49 {n[:3]} {n[3:]}"
    if k == 1: return f"0049 {n[:3]} {n[3:]}"
    if k == 2: return f"+1 ({n[:3]}) {n[3:6]}-{n[6:]}"
    if k == 3: return f"({n[:3]}) {n[3:6]}-{n[6:]}"
    if k == 4: return f"{n[:3]}.{n[3:6]}.{n[6:]}"
    if k == 5: return f"+33 {n[0]} {n[1:3]} {n[3:5]} {n[5:7]} {n[7:9]}"
    if k == 6: return f"tel: +31 {n[:2]} {n[2:]}"
    if k == 7: return n[:6]          # too short to be a number
    return ""

def email_variant(e):
    k = rng.randrange(6)
    if k == 0: return e.upper()
    if k == 1: return f"  {e}"
    if k == 2: return e.title()
    return e

class Export:
    def __init__(self, path, header):
        self.f = open(path, "w", newline="", encoding="utf-8-sig")
        self.w = csv.writer(self.f, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        self.w.writerow(header)

contacts = Export(os.path.join(out, "contacts.csv"),
                  ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Country/Region", "Create Date", "Lifecycle Stage"])
emails = []
rid = 51_000_000
for i in range(n_contacts):
    fn, ln = rng.choice(FIRST), rng.choice(LAST)
    email = f"{fn.lower()}.{ln.lower()}.{i}@{rng.choice(DOMAINS)}"
    if rng.random() < 0.02:
        email = rng.choice(["n/a", f"{fn.lower()} at {rng.choice(DOMAINS)}", f"{fn.lower()}@", "-"])
    emails.append(email)
    iso = rng.choice(list(COUNTRY_TEXT))
    y, m, d = rng.choice([2022, 2023, 2024]), rng.randrange(1, 13), rng.randrange(1, 29)
    h, mi, s = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    copies = 1 + (rng.random() < 0.10) + (rng.random() < 0.02)
    for c in range(copies):
        rid += rng.randrange(1, 40)
        # A re-imported copy: the same day, another time (so the day alone cannot pick the newest), another spelling.
        hh = (h + 7 * c) % 24
        contacts.w.writerow([rid, fn, ln, email_variant(email) if c else email, phone(iso),
                             rng.choice(COUNTRY_TEXT[iso]) if rng.random() > 0.03 else "", stamp_text(y, m, d, hh, mi, s),
                             rng.choice(["lead", "subscriber", "marketingqualifiedlead", "opportunity", "customer"])])
contacts.f.close()

deals = Export(os.path.join(out, "deals.csv"),
               ["Deal ID", "Deal Name", "Associated Contact Email", "Deal Stage", "Amount", "Currency", "Close Date",
                "Create Date", "Pipeline", "Deal Owner"])
for i in range(n_deals):
    stage_id, label = rng.choices(STAGES, STAGE_WEIGHTS)[0]
    stage_text = rng.choice([stage_id, label, label.lower(), label.upper()])
    email = rng.choice(emails) if rng.random() > 0.03 else f"unknown{i}@nowhere.example"
    amount = "" if rng.random() < 0.04 else f"{rng.lognormvariate(9, 1.3):.2f}"
    y, m, d = rng.choice([2023, 2024, 2025]), rng.randrange(1, 13), rng.randrange(1, 29)
    cy = y - 1 if m < 4 else y
    cm = (m - 3 - 1) % 12 + 1
    deals.w.writerow([100_000_000 + i, f"{rng.choice(['Renewal', 'New business', 'Upsell'])} – {i}", email_variant(email), stage_text,
                      amount, rng.choice(CURRENCIES), close_text(y, m, d),
                      stamp_text(cy, cm, rng.randrange(1, 29), rng.randrange(24), rng.randrange(60), rng.randrange(60)),
                      "default", rng.choice(OWNERS)])
deals.f.close()
