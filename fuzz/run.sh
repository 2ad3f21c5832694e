#!/usr/bin/env bash
# Bounded fuzzing, as CI runs it: builds every cargo-fuzz target once (libFuzzer with
# AddressSanitizer), seeds the corpora from the shared test data, then runs each target for
# FUZZ_SECONDS (default 7; 9 targets ≈ 90 s with start-up). Any crash, panic, leak or timeout fails the run;
# the input that caused it is left in fuzz/artifacts/<target>/ and the command to replay it is
# printed.
#
#   bash fuzz/run.sh                       # every target, 7 s each
#   FUZZ_SECONDS=300 bash fuzz/run.sh odata_query   # one target, longer
#
# Only a stable toolchain is assumed. cargo-fuzz passes nightly-only rustc flags
# (-Zsanitizer=address and friends); RUSTC_BOOTSTRAP=1 lets the stable compiler accept them.
# The fuzz crate is not part of the main workspace and has its own Cargo.lock and target/.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-7}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install --locked cargo-fuzz" >&2
  exit 1
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

bash seed.sh >/dev/null
echo "building ${#targets[@]} fuzz targets (release, debug assertions, ASan)…"
build_started=$(date +%s)
# Build all targets in one cargo invocation (shared dependencies), with exactly the flags
# `cargo fuzz run` uses below, so that the runs do not rebuild.
if [ $# -gt 0 ]; then
  for t in "${targets[@]}"; do cargo fuzz build --debug-assertions "$t"; done
else
  cargo fuzz build --debug-assertions
fi
echo "built in $(( $(date +%s) - build_started )) s"

failed=()
for t in "${targets[@]}"; do
  printf '\n--- %s (%s s)\n' "$t" "$seconds"
  log=$(mktemp)
  # -timeout: one input taking longer than 10 s is a hang; -rss_limit_mb bounds memory;
  # libFuzzer's own leak detection stays on.
  if cargo fuzz run --debug-assertions "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|stat::new_units_added)|^Done ' "$log" | tr '\n' ' '
    echo
  else
    tail -n 60 "$log"
    failed+=("$t")
  fi
  rm -f "$log"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "fuzzing FAILED for: ${failed[*]}"
  echo "replay a crash:  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions TARGET artifacts/TARGET/crash-…)"
  exit 1
fi
echo
echo "fuzzing: ${#targets[@]} passed, 0 failed"
