#!/usr/bin/env bash
# Every benchmark at full size, in one run, with its output kept in
# target/bench-data/full-<date>.log (figures also as JSON beside it). About 20–40 minutes
# on a 2-core machine, most of it loading 1M IOCs through the API.
#
#   bash bench/full.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-data
mkdir -p "$out"
log=$out/full-$(date +%Y-%m-%d).log
cargo build --release -p openti --quiet
export OPENTI_BIN=$(pwd)/target/release/openti
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r); $(date -u)"
  echo; echo "===== issue 3 (bench/api.py)"
  python3 bench/api.py --json "$out/api.json"
  data=$out/gen-1000000-10000-1000000-ne5
  python3 bench/gen.py "$data" --defs 10000 --iocs 1000000 --events 1000000 --non-equals-percent 5
  echo; echo "===== issue 4 (bench/store.py)"
  python3 bench/store.py --data "$data" --store "$out/store-1000000-10000-1000000-ne5" --json "$out/store.json"
  echo; echo "===== issue 5 (bench/pipeline.sh), the default mix, then the 12% stress mix in process"
  bash bench/pipeline.sh
  BENCH_NON_EQUALS=12.25 BENCH_HTTP=0 bash bench/pipeline.sh
} 2>&1 | tee "$log"
