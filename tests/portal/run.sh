#!/usr/bin/env bash
# The portal's browser walks: starts the real `openti` binary on a temporary data directory,
# creates two tenants and their portal users with the CLI, and drives Debian's Chromium
# through the portal with playwright-core under node's test runner. Screenshots of every
# page go to docs/screenshots/.
#
#   bash tests/portal/run.sh                    # every walk
#   bash tests/portal/run.sh tests/portal/import.test.js   # one file
#
# The binary is $OPENTI_BIN, else target/release/openti, else target/debug/openti.
# Needs node >= 20, `npm ci` in tests/portal and /usr/bin/chromium
# (scripts/setup-test-tools.sh installs them).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

bin="${OPENTI_BIN:-}"
if [[ -z "$bin" ]]; then
  if [[ -x target/release/openti ]]; then bin="$repo/target/release/openti"; else bin="$repo/target/debug/openti"; fi
fi
if [[ ! -x "$bin" ]]; then
  echo "run.sh: $bin not found; build it with: cargo build --release -p openti" >&2
  exit 2
fi
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
  echo "run.sh: playwright-core is not installed; run: (cd tests/portal && npm ci)" >&2
  exit 2
fi
export PORTAL_CHROMIUM="${PORTAL_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$PORTAL_CHROMIUM" ]]; then
  echo "run.sh: $PORTAL_CHROMIUM not found; install Debian's chromium (apt-get install chromium)" >&2
  exit 2
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

data="$work/data"
mkdir -p "$data"
openti() { "$bin" --data-dir "$data" "$@"; }

# The first start creates the `default` tenant; the walks use tenants of their own, whose
# custom TI application is not enabled yet, so the walk can enable it in the portal.
OPENTI_LOG=warn "$bin" --data-dir "$data" serve --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 300); do
  url="$(sed -n 's/^OpenTI is listening on //p' "$work/server.out" | head -n1)"
  [[ -n "$url" ]] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [[ -z "$url" ]]; then
  echo "run.sh: the server did not start:" >&2
  cat "$work/server.out" "$work/server.log" >&2
  exit 1
fi
echo "portal walk: server at $url"

openti tenant create acme >/dev/null
openti tenant create globex >/dev/null

export PORTAL_ADMIN_EMAIL="admin@acme.example"
export PORTAL_ADMIN_PASSWORD="acme admin passphrase 1"
export PORTAL_ANALYST_EMAIL="analyst@acme.example"
export PORTAL_ANALYST_PASSWORD="acme analyst passphrase 1"
export PORTAL_OTHER_EMAIL="admin@globex.example"
export PORTAL_OTHER_PASSWORD="globex admin passphrase 1"
printf '%s\n' "$PORTAL_ADMIN_PASSWORD" | openti user create --tenant acme --email "$PORTAL_ADMIN_EMAIL" --role admin --password-stdin >/dev/null
printf '%s\n' "$PORTAL_ANALYST_PASSWORD" | openti user create --tenant acme --email "$PORTAL_ANALYST_EMAIL" --role analyst --password-stdin >/dev/null
printf '%s\n' "$PORTAL_OTHER_PASSWORD" | openti user create --tenant globex --email "$PORTAL_OTHER_EMAIL" --role admin --password-stdin >/dev/null
# A user with a one-time password, for the first sign-in walk.
export PORTAL_NEWCOMER_EMAIL="newcomer@acme.example"
export PORTAL_NEWCOMER_PASSWORD="$(openti user create --tenant acme --email "$PORTAL_NEWCOMER_EMAIL" --role analyst --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["OneTimePassword"])')"

export PORTAL_URL="$url"
export PORTAL_TENANT="acme"
export OPENTI_BIN="$bin"
export OPENTI_DATA_DIR="$data"
export PORTAL_WORK="$work"
export PORTAL_SCREENSHOTS="${PORTAL_SCREENSHOTS:-$repo/docs/screenshots}"
mkdir -p "$PORTAL_SCREENSHOTS"

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  # Each walk makes what it needs; they share the tenant, so counts are compared, not assumed.
  files=("$here/import.test.js" "$here/security.test.js" "$here/walk.test.js")
fi

status=0
node --test --test-concurrency=1 "${files[@]}" || status=$?
if (( status != 0 )); then
  echo "--- server log (last 80 lines) ---" >&2
  tail -n 80 "$work/server.log" >&2 || true
fi
exit "$status"
