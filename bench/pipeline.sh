#!/usr/bin/env bash
# Issue 5: the ingest pipeline side by side in one run. In-process (one core): (a) serde_json
# parse-only, (b) match-only, (c) native adapter + matcher, matcher memory per IOC, EVTX
# throughput (crates/openti-detect/benches/pipeline.rs); then through HTTP on a release
# server holding the same IOCs: (d) end-to-end ingest with alerts written, and IOC change ->
# effective latency under ingest load (bench/ingest.py).
#
#   bash bench/pipeline.sh                                   # 1M IOCs, 10k definitions, 1M events
#   BENCH_IOCS=100000 BENCH_EVENTS=100000 bash bench/pipeline.sh
#   BENCH_NON_EQUALS=12.25 bash bench/pipeline.sh            # the stress mix (default 5%: the
#                                                            # most the default quotas allow)
#   BENCH_HTTP=0 bash bench/pipeline.sh                      # in process only
#
# Data and the server's store go to target/bench-data/ (kept and reused by later runs).
set -euo pipefail
cd "$(dirname "$0")/.."
iocs=${BENCH_IOCS:-1000000}
defs=${BENCH_DEFS:-10000}
events=${BENCH_EVENTS:-1000000}
non_equals=${BENCH_NON_EQUALS:-5}
rounds=${BENCH_ROUNDS:-5}
out=${BENCH_OUT:-target/bench-data}
data=$out/gen-$iocs-$defs-$events-ne$non_equals
store=${BENCH_STORE:-$out/store-$iocs-$defs-$events-ne$non_equals}
mkdir -p "$out"

python3 bench/gen.py "$data" --defs "$defs" --iocs "$iocs" --events "$events" --non-equals-percent "$non_equals"
if [ -z "${OPENTI_BIN:-}" ]; then
  cargo build --release -p openti --quiet
fi

echo "=== in process (cargo bench -p openti-detect --bench pipeline)"
OPENTI_BENCH_DATA=$(pwd)/$data OPENTI_BENCH_ROUNDS=$rounds OPENTI_BENCH_JSON=$(pwd)/$out/pipeline-ne$non_equals.json \
  cargo bench --quiet -p openti-detect --bench pipeline

if [ "${BENCH_HTTP:-1}" = 0 ]; then
  exit 0
fi

echo
echo "=== through HTTP (bench/ingest.py)"
python3 bench/ingest.py --data "$data" --store "$store" --json "$out/ingest.json" ${BENCH_INGEST_ARGS:-}

python3 - "$out/pipeline-ne$non_equals.json" "$out/ingest.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])); i = json.load(open(sys.argv[2]))
a = p["parse_only_events_s"]
print("\nside by side (events/s): (a) parse-only %.0f | (b) match-only %.0f | (c) parse+match %.0f (%.2f of a) | (d) HTTP end-to-end %s"
      % (a, p["match_only_events_s"], p["parse_match_events_s"], p["ratio_parse_match_to_parse_only"],
         ", ".join("%s conn: %.0f (%.2f of a)" % (k, v["events_s"], v["events_s"] / a) for k, v in sorted(i["ingest"]["runs"].items()))))
PY
