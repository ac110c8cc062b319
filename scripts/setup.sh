#!/usr/bin/env bash
# Installs whatever the product or its tests need and is missing: Debian packages (PostgreSQL
# server, and for tests Chromium with its driver), the virtualenv with pinned Python packages,
# and the frontend's npm packages. Idempotent and quick when nothing changed.
#   scripts/setup.sh          # what the product needs
#   scripts/setup.sh --test   # plus what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
# The PDF reports embed DejaVu Sans: a TrueType font with every Vietnamese diacritic.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ $want_test = 1 ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt_install "${missing[@]}"
fi

stamp_dir=.ioc/stamps
mkdir -p "$stamp_dir"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
py_hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp_dir/python" 2>/dev/null)" != "$py_hash" ]; then
  echo "setup: installing Python packages"
  # This machine's pip configuration names index folders that may not exist; hide that noise only.
  quiet() { "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }; return "${PIPESTATUS[0]}"; }
  quiet .venv/bin/pip install -q --upgrade pip
  quiet .venv/bin/pip install -q -e '.[dev]'
  echo "$py_hash" > "$stamp_dir/python"
fi
npm_hash=$(sha256sum frontend/package-lock.json | cut -d' ' -f1)
if [ ! -d frontend/node_modules ] || [ "$(cat "$stamp_dir/npm" 2>/dev/null)" != "$npm_hash" ]; then
  echo "setup: installing frontend packages (npm ci)"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
  echo "$npm_hash" > "$stamp_dir/npm"
fi
