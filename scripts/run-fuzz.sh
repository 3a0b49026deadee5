#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD/bin for SECONDS each, starting from the seed corpus in
# tests/fuzz/corpus/<target>/ (copied, so seeds stay clean). Fails on the first crash, leak or timeout.
set -euo pipefail
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shopt -s nullglob
targets=("$BUILD"/bin/fuzz_*)
[[ ${#targets[@]} -gt 0 ]] || { echo "no fuzz targets in $BUILD/bin"; exit 1; }
for t in "${targets[@]}"; do
  name=$(basename "$t")
  mkdir -p "$work/$name"
  if [[ -d $ROOT/tests/fuzz/corpus/$name ]]; then cp -r "$ROOT/tests/fuzz/corpus/$name/." "$work/$name/"; fi
  echo "fuzz: $name for ${SECONDS_EACH}s"
  if ! "$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/$name-" "$work/$name" > "$work/$name.log" 2>&1; then
    tail -n 60 "$work/$name.log"
    echo "fuzz: $name FAILED"
    exit 1
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/$name.log" | tail -n 1 || true
done
echo "fuzz: ${#targets[@]} targets passed"
