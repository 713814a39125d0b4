#!/usr/bin/env python3
"""The clean benchmark's normalisations in pandas, as a data engineer would write them: vectorised string methods
where pandas has them, `apply` with a Python function where it does not. Usage: clean_pandas.py IN.csv OUT_DIR"""
import re, sys, os
import pandas as pd

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
df = pd.read_csv(src, dtype=str, keep_default_na=False, na_values=[""])

# trim: all (ends, inner runs of white space)
for c in df.columns:
    df[c] = df[c].str.strip().str.replace(r"\s+", " ", regex=True)

# name: split, honorifics off, "Last, First", particles with the last name, name-aware title case
HONORIFICS = {"mr", "mrs", "ms", "dr", "prof"}
PARTICLES = {"van", "von", "der", "den", "de", "del", "di", "da", "du", "la", "le"}
def recase(word):
    def part(p, after_apostrophe, prev):
        if not p or not (p == p.lower() or p == p.upper()) or p.lower() == p.upper(): return p
        if after_apostrophe and (prev is None or len(prev) != 1): return p.lower()
        low = p.lower()
        s = low[0].upper() + low[1:]
        if low.startswith("mc") and len(low) > 3: s = "Mc" + low[2].upper() + low[3:]
        return s
    out = []
    for h in word.split("-"):
        pieces = h.split("'")
        out.append("'".join(part(p, i > 0, pieces[i - 1] if i > 0 else None) for i, p in enumerate(pieces)))
    return "-".join(out)
def title(words):
    res = []
    for i, w in enumerate(words):
        if i < len(words) - 1 and w.lower() in PARTICLES and (w == w.lower() or w == w.upper()): res.append(w.lower())
        else: res.append(recase(w))
    return " ".join(res)
def split_name(s):
    if not isinstance(s, str) or not s: return (None, None, None)
    if "," in s:
        last, first = [x.strip() for x in s.split(",", 1)]
        given, family = first.split(), last.split()
    else:
        given, family = s.split(), []
    while len(given) > 1 and given[0].lower().rstrip(".") in HONORIFICS: given = given[1:]
    if not family and len(given) >= 2:
        start = len(given) - 1
        while start > 1 and given[start - 1].lower() in PARTICLES: start -= 1
        family, given = given[start:], given[:start]
    return (title(given[:1]) or None, title(given[1:]) or None, title(family) or None)
parts = df["full_name"].apply(split_name)
df["first_name"] = parts.str[0]; df["middle_name"] = parts.str[1]; df["last_name"] = parts.str[2]

# email: mailto:, display names, lower case, validation, typo'd domains, provider-aware key
TYPOS = {"gmial.com": "gmail.com", "hotmial.com": "hotmail.com", "gmai.com": "gmail.com", "yaho.com": "yahoo.com"}
e = df["email"].str.replace(r"^mailto:", "", case=False, regex=True).str.extract(r"(?:.*<)?([^<>]*?)>?$", expand=False).str.strip().str.lower()
valid = e.str.fullmatch(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}", na=False)
local = e.str.split("@").str[0]
domain = e.str.split("@").str[1].replace(TYPOS)
df["email"] = local + "@" + domain
PLUS = {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "icloud.com"}
key_local = local.where(~domain.isin(PLUS), local.str.split("+").str[0])
key_local = key_local.where(~domain.isin({"gmail.com", "googlemail.com"}), key_local.str.replace(".", "", regex=False))
df["email_key"] = key_local + "@" + domain.replace({"googlemail.com": "gmail.com"})
rejects = df[~valid]
df = df[valid].copy()

# country: names and aliases to ISO codes
ALIASES = {"united states": "US", "usa": "US", "us": "US", "germany": "DE", "deutschland": "DE", "de": "DE", "united kingdom": "GB",
           "uk": "GB", "gb": "GB", "france": "FR", "fr": "FR", "netherlands": "NL", "nederland": "NL", "holland": "NL"}
df["country"] = df["country"].str.lower().str.replace(".", "", regex=False).str.strip().map(ALIASES)

# phone: E.164 with the row's country, extension apart
PLANS = {"US": ("1", "1", 10, 10), "DE": ("49", "0", 6, 13), "GB": ("44", "0", 9, 10), "FR": ("33", "0", 9, 9), "NL": ("31", "0", 9, 9)}
BY_CODE = {"1": "US", "49": "DE", "44": "GB", "33": "FR", "31": "NL"}
EXT = re.compile(r"(?:\s*(?:ext\.?|extension|x|#)\s*)(\d+)\s*$", re.I)
def phone(text, iso):
    if not isinstance(text, str): return (None, None)
    ext = None
    m = EXT.search(text)
    if m: ext, text = m.group(1), text[:m.start()]
    plus = text.lstrip().startswith("+")
    digits = re.sub(r"\D", "", text)
    if not plus and digits.startswith("00"): digits, plus = digits[2:], True
    if plus:
        for n in (1, 2, 3):
            if digits[:n] in BY_CODE: iso, digits = BY_CODE[digits[:n]], digits[n:]; break
        else: return (None, None)
    if iso not in PLANS: return (None, None)
    cc, trunk, lo, hi = PLANS[iso]
    if digits.startswith(trunk) and len(digits) - len(trunk) >= lo and (trunk.startswith("0") or len(digits) > hi): digits = digits[len(trunk):]
    if not lo <= len(digits) <= hi: return (None, None)
    return ("+" + cc + digits, ext)
ph = [phone(t, c) for t, c in zip(df["phone"], df["country"])]
df["phone"] = [p[0] for p in ph]; df["phone_ext"] = [p[1] for p in ph]

# date: ISO, else day-first
iso = pd.to_datetime(df["created"], format="%Y-%m-%d", errors="coerce")
df["created"] = iso.fillna(pd.to_datetime(df["created"], format="%d/%m/%Y", errors="coerce")).dt.strftime("%Y-%m-%d")

# money: $1,234.50 · 1.234,50 € · EUR 12k · 950 → amount and currency
def money(s):
    if not isinstance(s, str): return (None, None)
    cur, t, mult = "USD", s.strip(), 1
    if t.startswith("$"): t = t[1:]
    elif t.endswith("€"): cur, t = "EUR", t[:-1].strip().replace(".", "").replace(",", ".")
    elif t[:4] == "EUR ": cur, t = "EUR", t[4:]
    if t.lower().endswith("k"): mult, t = 1000, t[:-1]
    try: return (f"{round(float(t.replace(',', '')) * mult, 2):.2f}", cur)
    except ValueError: return (None, None)
mo = df["budget"].apply(money)
df["budget"] = mo.str[0]; df["budget_currency"] = mo.str[1]

# dedupe on (email_key, phone), first row kept; a missing key duplicates nothing
keys = df[["email_key", "phone"]]
dup = df.duplicated(subset=["email_key", "phone"], keep="first") & keys.notna().all(axis=1)
df = df[~dup]
df.to_csv(f"{out}/cleaned.csv", index=False)
rejects.to_csv(f"{out}/rejects.csv", index=False)
print(len(df), len(rejects), int(dup.sum()))
