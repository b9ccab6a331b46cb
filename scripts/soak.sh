#!/usr/bin/env bash
# `make soak`: every property test with SOAK_CASES cases (default 10000)
# instead of CI's count; prints each one's cases per second and whether it
# failed. A failure prints proptest's shrunk case and is kept in
# tests/proptest-regressions/, so `make test` replays it from then on.
set -uo pipefail
cd "$(dirname "$0")/.."
cases="${SOAK_CASES:-10000}"
# The workspace's test binaries, as `make test` builds them: compiled here,
# once, so that no property's time includes a build.
cargo nextest run --workspace --no-run --cargo-quiet || exit $?
tests=(
  cdc_history_equals_the_model_for_any_split_order_and_repeat
  snapshot_history_equals_the_model_with_deletes_and_the_guard
  long_histories_of_many_small_batches_equal_the_model
  retention_keeps_the_models_recent_versions_and_never_resurrects_expired_ones
  dms::change_seq::tests::normalised_integers_and_lsns_sort_as_the_numbers_they_name
)
failures=0
log=$(mktemp)
echo "soak: $cases cases of each property"
echo "| property | cases | seconds | cases/s | result |"
echo "|---|---:|---:|---:|---|"
for name in "${tests[@]}"; do
  start=$(date +%s%N)
  if PROPTEST_CASES="$cases" cargo nextest run --workspace --profile soak --cargo-quiet \
    -E "test(=$name)" >"$log" 2>&1; then
    result=passed
  else
    result=FAILED; failures=$((failures + 1))
  fi
  awk -v n="${name##*::}" -v c="$cases" -v ns=$(( $(date +%s%N) - start )) -v r="$result" \
    'BEGIN { s = ns / 1e9; printf "| %s | %d | %.0f | %.1f | %s |\n", n, c, s, c / s, r }'
  [ "$result" = passed ] || sed -n '/minimal failing input\|panicked/,+12p' "$log" | head -40
done
rm -f "$log"
echo "failures: $failures"
[ "$failures" -eq 0 ]
