#!/usr/bin/env bash
# A small smoke pass of every benchmark, for CI: tiny sizes, no timing asserted; it proves
# each benchmark command runs end to end and prints its figures. The full runs are described
# in docs/benchmarks.md (bash bench/full.sh).
#
# Expects target/release/openti (or $OPENTI_BIN); scripts/test.sh builds it first.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export OPENTI_BIN=${OPENTI_BIN:-$root/target/release/openti}
out=$(mktemp -d /tmp/openti-bench-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
started=$(date +%s)

echo "--- issue 3: bulk upload and GET by key (bench/api.py)"
python3 bench/api.py --runs 3 --wrk-seconds 2 --connections 16

echo; echo "--- data (bench/gen.py)"
python3 bench/gen.py "$out/gen" --defs 200 --iocs 20000 --events 20000

echo; echo "--- issue 4: OData on the store, cold start (bench/store.py)"
python3 bench/store.py --data "$out/gen" --store "$out/store" --reps 5 --restarts 1

echo; echo "--- issue 5: pipeline in process (benches/pipeline.rs)"
OPENTI_BENCH_DATA=$out/gen OPENTI_BENCH_ROUNDS=2 cargo bench --quiet -p openti-detect --bench pipeline

echo; echo "--- issue 5: HTTP ingest and propagation (bench/ingest.py)"
python3 bench/ingest.py --data "$out/gen" --store "$out/store" --chunk 5000 --loops 20 --reps 1

echo; echo "benchmark smoke pass: done in $(( $(date +%s) - started )) s"
