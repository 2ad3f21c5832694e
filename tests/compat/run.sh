#!/usr/bin/env bash
# The Python compatibility suite: replays what published clients of the custom TI API v1.0
# do against the real `openti` binary, then checks the $metadata that binary served with
# the OASIS CSDL tools (check_metadata.sh).
#
#   bash tests/compat/run.sh                 # everything
#   bash tests/compat/run.sh -k powershell   # extra arguments go to pytest
#
# The binary is $OPENTI_BIN, else target/release/openti, else target/debug/openti.
# Needs .venv (scripts/setup-test-tools.sh, or: python3 -m venv .venv &&
# .venv/bin/pip install -r tests/compat/requirements.txt) and node for the $metadata check.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

python="${OPENTI_COMPAT_PYTHON:-$repo/.venv/bin/python}"
if [[ ! -x "$python" ]]; then
  echo "run.sh: $python not found; run scripts/setup-test-tools.sh first" >&2
  exit 2
fi

served="$(mktemp -d)"
trap 'rm -rf "$served"' EXIT

OPENTI_COMPAT_METADATA_DIR="$served" "$python" -m pytest -q tests/compat "$@"
pytest_status=$?

# Check what the binary served; without it (the server never started) check the model's own.
if [[ -s "$served/metadata.xml" && -s "$served/metadata.json" ]]; then
  bash "$here/check_metadata.sh" "$served/metadata.xml" "$served/metadata.json"
else
  bash "$here/check_metadata.sh"
fi
metadata_status=$?

if (( pytest_status != 0 || metadata_status != 0 )); then
  echo "compat: pytest exit $pytest_status, \$metadata check exit $metadata_status" >&2
  exit 1
fi
