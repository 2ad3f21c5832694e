#!/usr/bin/env bash
# Installs what the test suites need beyond the Rust toolchain, on a fresh machine:
# a Python virtualenv for the compatibility suite, npm packages for the $metadata check and
# the portal walk, Debian's Chromium, and cargo-fuzz. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v wrk >/dev/null 2>&1 || apt_packages+=(wrk)
if [ ${#apt_packages[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

if [ -f tests/compat/requirements.txt ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
fi

for dir in tests/compat tests/portal; do
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

if [ -d fuzz ] && ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz >/dev/null
fi
