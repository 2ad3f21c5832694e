#!/usr/bin/env bash
# Checks OpenTI's $metadata with the OASIS CSDL tools (odata-csdl, odata-openapi) and fails
# on any error or warning; see check_metadata.mjs for what is checked.
#
#   tests/compat/check_metadata.sh                  # generate from the model, check XML and JSON
#   tests/compat/check_metadata.sh metadata.xml     # check a file (e.g. fetched from a server)
#   tests/compat/check_metadata.sh metadata.xml metadata.json
#
# Needs node (>= 18) and npm; installs the pinned converters from package-lock.json on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [[ ! -d "$here/node_modules/odata-openapi" || ! -d "$here/node_modules/odata-csdl" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ $# -eq 0 ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$repo" && cargo run --quiet -p openti-odata --example service_description -- xml) >"$tmp/metadata.xml"
  (cd "$repo" && cargo run --quiet -p openti-odata --example service_description -- json) >"$tmp/metadata.json"
  set -- "$tmp/metadata.xml" "$tmp/metadata.json"
fi

exec node "$here/check_metadata.mjs" "$@"
