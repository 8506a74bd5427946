#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine and runs the
# whole suite: lint, types, alert rules, prosody module specs, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: a real redis-server, headless Chromium, prosody and busted
# for the Lua module, promtool for the alert rules, wrk for the HTTP benchmarks,
# nginx (auth_request) in front of the recordings for the protected-playback tests;
# redis-sentinel for the failover tests.
apt_packages=(redis-server redis-sentinel chromium lua5.4 lua-busted lua-cjson prosody prometheus wrk nginx)
commands=(redis-server redis-sentinel chromium busted lua5.4 prosody promtool wrk nginx)
missing=0
for c in "${commands[@]}"; do command -v "$c" >/dev/null 2>&1 || missing=1; done
if [ "$missing" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh: missing system packages; run as root or install: ${apt_packages[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${apt_packages[@]}"
fi

# Python packages (the project and its test extras).
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
