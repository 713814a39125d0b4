#!/usr/bin/env python3
"""Writes the sample sources that are not text files, from the CSVs beside them (committed; not run by CI):
  sample-data/surveys/surveys.db      SQLite: table responses, from surveys/csat_nps.csv (the survey tool's export)
  sample-data/legacy/contacts_legacy.xlsx  Excel (openpyxl): the legacy contact sheet, as a user keeps it — a title row,
                                       a blank row, a bold header, dates as date cells, a note in a merged cell
Usage: python3 scripts/make-sample-sources.py"""
import csv, datetime, os, sqlite3
import openpyxl
from openpyxl.styles import Font

rows = list(csv.DictReader(open("sample-data/surveys/csat_nps.csv", encoding="utf-8")))
db = "sample-data/surveys/surveys.db"
if os.path.exists(db):
    os.remove(db)
con = sqlite3.connect(db)
con.execute("CREATE TABLE responses (response_id TEXT PRIMARY KEY, answered_at TEXT NOT NULL, owner TEXT, csat INTEGER, nps INTEGER, comment TEXT)")
con.executemany("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                [(r["response_id"], r["answered_at"], r["owner"], int(r["csat"]) if r["csat"] else None, int(r["nps"]) if r["nps"] else None,
                  r["comment"] or None) for r in rows])
con.commit()
con.execute("VACUUM")
con.close()

legacy = list(csv.reader(open("sample-data/legacy/contacts_legacy.csv", encoding="utf-8")))
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Contacts"
ws["A1"] = "Legacy contact list (Access export, last edited 2022)"
ws["A1"].font = Font(bold=True, size=13)
ws.merge_cells("A1:G1")
ws.append([])
ws.append(legacy[0])
for c in ws[3]:
    c.font = Font(bold=True)
for r in legacy[1:]:
    r = list(r)
    r[6] = datetime.datetime.strptime(r[6], "%Y-%m-%d").date()
    ws.append([v if v != "" else None for v in r])
for row in ws.iter_rows(min_row=4):
    row[6].number_format = "dd/mm/yyyy"
wb.save("sample-data/legacy/contacts_legacy.xlsx")
