#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine and runs the
# whole suite: lint, types, alert rules, prosody module specs, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: a real redis-server, headless Chromium, prosody and busted
# for the Lua module, promtool for the alert rules, wrk for the HTTP benchmarks,
# nginx (auth_request) in front of the recordings for the protected-playback tests;
# redis-sentinel for the failover tests.
# python3-venv: the suite runs in a venv in the project folder (.venv), as the quick start.
apt_packages=(redis-server redis-sentinel chromium lua5.4 lua-busted lua-cjson prosody prometheus wrk nginx
              python3-venv)
commands=(redis-server redis-sentinel chromium busted lua5.4 prosody promtool wrk nginx)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  # Every package, not only the commands: lua-cjson or python3-venv have no command.
  for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
else
  for c in "${commands[@]}"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh: missing system packages; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${apt_packages[@]}"
fi

# Node.js 20 or newer with npm runs the test OpenID provider (Debian 12's apt has 18).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
  echo "scripts/test.sh: needs Node.js >= 20 with npm (found: $(node --version 2>/dev/null || echo none)); install it from https://nodejs.org/en/download or NodeSource's Debian repository (Debian 12's own nodejs is 18), then run this again" >&2
  exit 1
fi

# Python packages (the project and its test extras) in a venv in the project folder,
# as the README's quick start (PEP 668: Debian's own Python refuses pip install).
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
export PATH="$PWD/.venv/bin:$PATH"
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

# The real OpenID provider for the login tests (from the committed lockfile).
(cd tests/op && npm ci --no-audit --no-fund --loglevel=error)

echo "== ruff"
python3 -m ruff check gateway bbb_hooks jitsi_hooks privacy_gateway tests bench
echo "== mypy"
python3 -m mypy
if compgen -G "config/prometheus/*.yml" >/dev/null; then
  echo "== promtool"
  promtool check rules config/prometheus/privacy-gateway-alerts.yml
  promtool test rules config/prometheus/*.test.yml
fi
if [ -d jitsi_hooks/prosody/spec ]; then
  echo "== busted"
  # Debian's busted runs on Lua 5.4 (/usr/bin/lua -> lua5.4); the specs load prosody's
  # own util.* libraries from /usr/lib/prosody, which are built for that Lua.
  (cd jitsi_hooks/prosody && busted --lua=lua5.4 spec)
fi
echo "== pytest"
python3 -m pytest "$@"
