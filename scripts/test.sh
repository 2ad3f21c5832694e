#!/usr/bin/env bash
# Runs every test of OpenTI: the Rust suites (unit, property, end-to-end against the real
# binary), the Python compatibility suite, the $metadata conformance check, the portal's
# browser walk, bounded fuzzing and a benchmark smoke pass. One release build serves all.
#
#   bash scripts/test.sh           # everything
#   SKIP_SETUP=1 bash scripts/test.sh   # assume Python/Node/Chromium tools are installed
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n=== %s\n' "$*"; }

if [ -z "${SKIP_SETUP:-}" ]; then
  step "setup: test tools"
  bash scripts/setup-test-tools.sh
fi

step "build (release, locked)"
cargo build --release --locked --workspace --all-targets

export OPENTI_BIN="$root/target/release/openti"
export OPENTI_SHARED_DATA="${OPENTI_SHARED_DATA:-$root/../shared/data}"

step "Rust tests (unit, property, end-to-end)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --release --locked --workspace --no-fail-fast
else
  cargo test --release --locked --workspace --no-fail-fast
fi

for suite in tests/compat/run.sh tests/portal/run.sh fuzz/run.sh bench/smoke.sh; do
  if [ -f "$suite" ]; then
    step "$suite"
    bash "$suite"
  fi
done

step "all test suites passed"
