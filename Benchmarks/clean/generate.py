#!/usr/bin/env python3
"""Seeded generator of messy contacts for the clean benchmark. Usage: generate.py OUT.csv ROWS SEED

Every value has one right answer that crmflow's clean stage and the pandas script must both find: spaces and case,
display names and mailto: in e-mails, misspelt webmail domains, phones in national and international notations with
extensions, countries in several languages, day-first and ISO dates, amounts in three notations, ~10% duplicates."""
import csv, random, sys, unicodedata

out, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
FIRST = ["ann", "BOB", "María", "jürgen", "Li", "Chloé", "Sam", "Aiko", "Noah", "Olivia", "Liam", "Zoë", "José", "Wei"]
LAST = ["smith", "MÜLLER", "van der berg", "McDonald", "O'NEIL-smith", "Wei", "Garcia", "Tanaka", "Rossi", "Brown", "Dubois"]
HONORIFIC = ["", "", "", "Dr. ", "Mr. ", "Ms. "]
DOMAINS = ["gmail.com", "GMIAL.COM", "acme.com", "example.co.uk", "hotmial.com", "globex.de", "outlook.com"]
# country: (spellings, calling code, national prefix, national number length)
COUNTRIES = {"US": (["United States", "USA", "US", "u.s.a."], "1", "1", 10), "DE": (["Germany", "Deutschland", "DE"], "49", "0", 10),
             "GB": (["United Kingdom", "UK", "GB"], "44", "0", 10), "FR": (["France", "FR", "france"], "33", "0", 9),
             "NL": (["Netherlands", "Nederland", "Holland"], "31", "0", 9)}

def phone(iso):
    _, cc, trunk, n = COUNTRIES[iso]
    digits = str(rng.randrange(2, 10)) + "".join(str(rng.randrange(10)) for _ in range(n - 1))
    k = rng.randrange(4)
    if k == 0: text = f"+{cc} {digits[:3]} {digits[3:6]} {digits[6:]}"
    elif k == 1 and iso == "US": text = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    elif k == 1: text = f"{trunk}{digits[:3]} {digits[3:]}"
    elif k == 2: text = f"00{cc} {digits[:2]} {digits[2:]}" if iso != "US" else f"1-{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    else: text = f"{trunk}{digits}".replace("11", "1 1", 1) if iso != "US" else f"{digits[:3]}.{digits[3:6]}.{digits[6:]}"
    if rng.random() < 0.1: text += f" ext. {rng.randrange(1, 999)}"
    return text

with open(out, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["id", "full_name", "email", "phone", "country", "created", "budget"])
    previous = []
    for i in range(rows):
        if previous and rng.random() < 0.1:
            row = list(rng.choice(previous)); row[0] = str(i)
            w.writerow(row); continue
        first, last = rng.choice(FIRST), rng.choice(LAST)
        name = f"{rng.choice(HONORIFIC)}{first} {last}" if rng.random() < 0.8 else f"{last}, {first}"
        if rng.random() < 0.2: name = f"  {name} "
        local = (first + "." + last.replace(" ", "").replace("'", "").replace("-", "")).lower() + str(rng.randrange(100000))
        local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode()
        email = f"{local}@{rng.choice(DOMAINS)}"
        k = rng.random()
        if k < 0.05: email = f"\"{first} {last}\" <{email}>"
        elif k < 0.08: email = f"mailto:{email}"
        elif k < 0.10: email = "not-an-email"
        elif k < 0.2: email = f" {email.upper()} "
        iso = rng.choice(list(COUNTRIES))
        y, m, d = rng.randrange(2015, 2025), rng.randrange(1, 13), rng.randrange(1, 29)
        created = f"{d:02d}/{m:02d}/{y}" if rng.random() < 0.6 else f"{y}-{m:02d}-{d:02d}"
        amount = rng.randrange(100, 5_000_000) / 100
        k = rng.randrange(4)
        budget = (f"${amount:,.2f}" if k == 0 else f"{amount:,.2f} €".replace(",", "X").replace(".", ",").replace("X", ".") if k == 1
                  else f"EUR {int(amount) // 1000}k" if k == 2 else f"{amount:.2f}")
        row = [str(i), name, email, phone(iso), rng.choice(COUNTRIES[iso][0]), created, budget]
        w.writerow(row)
        if len(previous) < 5000: previous.append(row)
        elif rng.random() < 0.01: previous[rng.randrange(5000)] = row
