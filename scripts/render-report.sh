#!/usr/bin/env bash
# Renders an HTML report with headless Chromium (Debian's `chromium`, installed when missing) to a PNG, then checks that
# it rendered: the expected size and not blank. Usage: scripts/render-report.sh REPORT.html OUT.png
set -euo pipefail
html=$(realpath "$1"); png=$2
if ! command -v chromium >/dev/null; then
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium > /dev/null
fi
tmp=$(mktemp -d)
# --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
timeout 120 chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$tmp" \
  --window-size=1100,2600 --screenshot="$tmp/shot.png" "file://$html" > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
python3 "$(dirname "$0")/check-png.py" "$tmp/shot.png" 1100 2600
mv "$tmp/shot.png" "$png"
rm -rf "$tmp"
echo "rendered $html to $png"
