#!/usr/bin/env python3
"""Writes the Excel test workbooks in Tests/Fixtures/xlsx/ with openpyxl (pip install openpyxl), as a legacy CRM
spreadsheet looks: a title row and a blank row above the header, dates as date cells, a timestamp, amounts with a
currency format, ZIP codes and phone numbers stored as text, a numeric column where some numbers are stored as text, a
region merged down several rows, a #N/A error, a boolean, and a second sheet. A copy saved by the 1904 date system.
LibreOffice's copy (legacy-libreoffice.xlsx) is made from it with:
  soffice --headless --convert-to xlsx --outdir /tmp/lo Tests/Fixtures/xlsx/legacy-openpyxl.xlsx
Not run by CI: the workbooks are committed; the tests also convert one live when soffice is installed."""
import datetime, sys
import openpyxl
from openpyxl.styles import Font
from openpyxl.utils.datetime import CALENDAR_MAC_1904

out = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/xlsx"

def build(epoch=None):
    wb = openpyxl.Workbook()
    if epoch is not None:
        wb.epoch = epoch
    ws = wb.active
    ws.title = "Customers"
    ws["A1"] = "Customer list — exported from the old CRM"
    ws["A1"].font = Font(bold=True, size=14)
    header = ["Customer ID", "Name", "Region", "ZIP", "Phone", "Signed", "Last Contact", "Revenue", "Seats", "Active"]
    ws.append([])
    ws.append(header)
    for c in ws[3]:
        c.font = Font(bold=True)
    rows = [
        [101, "Acme, Inc.", "North", "02139", "+1 555 010 1234", datetime.date(2019, 3, 12), datetime.datetime(2024, 1, 5, 10, 30), 1200000.5, 12, True],
        [102, "Globex \"GX\" Ltd", None, "00501", "555-010-2222", datetime.date(1999, 12, 31), datetime.datetime(2024, 2, 7, 8, 0), 850000, "40", False],
        [103, "Initech", None, "94105", "(555) 010-3333", datetime.date(2020, 2, 29), None, 0.1, 7, True],
        [104, "Umbrella Corp.", "South", "10001", "555 010 4444", "#N/A", datetime.datetime(2023, 12, 31, 23, 59, 59), 42, 3, False],
        [105, "Société Générale", "South", "75008", "+33 1 42 14 20 00", datetime.date(1900, 3, 1), datetime.datetime(2024, 6, 1, 12, 0), 3.75, "8", True],
    ]
    for r in rows:
        ws.append(r)
    ws.append([])
    ws.append([106, "Stark Industries", "West", "90210", "555 010 6666", datetime.date(2024, 1, 1), datetime.datetime(2024, 7, 4, 9, 15), 99.99, 1, True])
    ws.merge_cells("C4:C6")  # North, for 101–103
    for row in ws.iter_rows(min_row=4, max_row=ws.max_row):
        row[5].number_format = "dd/mm/yyyy"
        row[6].number_format = "yyyy-mm-dd hh:mm:ss"
        row[7].number_format = '"$"#,##0.00'
    ws["F7"].value = "#N/A"  # an error cell in a date column
    ws["F7"].data_type = "e"
    deals = wb.create_sheet("Deals")
    deals.append(["Deal", "Customer ID", "Amount", "Close"])
    deals.append(["D-1", 101, 5000, datetime.date(2024, 3, 1)])
    deals.append(["D-2", 103, 750.25, datetime.date(2024, 4, 15)])
    for row in deals.iter_rows(min_row=2):
        row[3].number_format = "yyyy-mm-dd"
    return wb

build().save(f"{out}/legacy-openpyxl.xlsx")
build(CALENDAR_MAC_1904).save(f"{out}/legacy-1904.xlsx")
