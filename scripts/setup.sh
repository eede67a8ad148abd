#!/usr/bin/env bash
# Set-up for a fresh machine: Python venv with the project, Debian packages the project needs.
# Idempotent: each step checks before it installs. Runs as root (apt-get) or with sudo rights.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

need_apt=()
apt_missing() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$1"); }
# PostgreSQL 15 + PostGIS 3 for the embedded local cluster; gdal-bin for the ogr2ogr benchmark
# peer; LibreOffice (Writer, Calc)/poppler render DOCX/XLSX/PDF pages in tests; chromium drives
# the browser tests.
for p in postgresql-15 postgresql-15-postgis-3 gdal-bin fonts-noto-cjk libreoffice-writer libreoffice-calc poppler-utils chromium ${EXTRA_APT:-}; do apt_missing "$p"; done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi
# Python dependencies come from requirements.lock (exact versions, SHA-256 hashes), which must
# describe pyproject.toml: scripts/lock.sh regenerates it, scripts/check_lock.py names any
# disagreement and stops here.
"$VENV/bin/python" scripts/check_lock.py
stamp="$VENV/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python dependencies (pip, requirements.lock with hashes)"
  "$VENV/bin/pip" install -q --require-hashes -r requirements.lock
  "$VENV/bin/pip" install -q --no-deps -e .
  touch "$stamp"
fi
# Leaflet and the map plugins from the npm registry (served locally; never from a CDN)
./scripts/install_web_assets.sh
echo "setup: done"
