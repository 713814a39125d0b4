#!/usr/bin/env bash
# Renders an HTML report with headless Chromium (Debian's `chromium`, installed when missing) and checks it as the
# browser lays it out (scripts/check-report.py: label overlap, bands, every period present, contrast): a PNG of the
# whole page and, beside it, the page printed to PDF. Usage: scripts/render-report.sh REPORT.html OUT.png
set -euo pipefail
html=$1; png=$2
"$(dirname "$0")/ensure-chromium.sh"
python3 "$(dirname "$0")/check-report.py" "$html" --png "$png" --pdf "${png%.png}.pdf"
