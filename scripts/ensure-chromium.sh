#!/usr/bin/env bash
# Installs Debian's headless Chromium when no Chromium is on the PATH (the report's PDF format and browser checks use it).
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then exit 0; fi
sudo=$([ "$(id -u)" = 0 ] || echo sudo)
$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium > /dev/null
