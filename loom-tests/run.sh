#!/usr/bin/env bash
# Runs breakerbox's loom models (loom-tests/tests/*.rs) against the crate's real code.
#
# Usage: loom-tests/run.sh [cargo test args] [-- test binary args]
#   e.g. loom-tests/run.sh --test stale            (one file)
#        loom-tests/run.sh -- --skip probe_admission (all but the two heaviest models)
# Environment: LOOM_MAX_PREEMPTIONS (default 2); LOOM_LOG=trace and LOOM_LOCATION=1 print
# the failing interleaving; CARGO_TARGET_DIR (default <repo>/target/loom, kept apart from
# the normal build because `--cfg loom` changes every crate's fingerprint).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export RUSTFLAGS="--cfg loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/loom}"
# Release speed with the crate's debug_assert!s still checked.
export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true

cargo_args=()
test_args=()
while [ "$#" -gt 0 ]; do
    if [ "$1" = "--" ]; then
        shift
        test_args=("$@")
        break
    fi
    cargo_args+=("$1")
    shift
done

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "loom: LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS, target dir $CARGO_TARGET_DIR"
start=$(date +%s)
status=0
cargo test --release --no-fail-fast -p breakerbox-loom-tests ${cargo_args[@]+"${cargo_args[@]}"} \
    -- --nocapture ${test_args[@]+"${test_args[@]}"} 2>&1 | tee "$log" || status=$?
elapsed=$(( $(date +%s) - start ))

passed=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(sed -n 's/^test result: .* \([0-9]*\) failed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
echo "loom: $passed models passed, $failed failed, in ${elapsed}s (build included)"
if [ "$status" -ne 0 ]; then
    echo "loom: FAILED (cargo exit status $status)" >&2
fi
exit "$status"
