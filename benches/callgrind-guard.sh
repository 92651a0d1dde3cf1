#!/usr/bin/env bash
# Guards breakerbox's hot paths against regressions: counts instructions per call with
# callgrind (see callgrind-common.sh for how) and fails when any case exceeds its budget in
# benches/callgrind-budgets.txt (the figure recorded there plus 10 %, rounded up).
#
# Cases (benches/instructions.rs <impl> <scenario>):
#   breakerbox                 closed_ok     `call`, inlined into the caller's loop
#   breakerbox_outlined        closed_ok     `call` through an #[inline(never)] function
#   breakerbox_permit          closed_ok     `try_acquire` + `Permit::success`, inlined
#   breakerbox_permit_outlined closed_ok     the same, `try_acquire` #[inline(never)]
#   breakerbox(_outlined)      open_reject   a rejection by an open breaker
#   breakerbox(_outlined)      closed_mixed  `call`, one failure in ten
#   breakerbox_coarse          open_reject   a rejection with ClockPrecision::Coarse(1 ms)
#   breakerbox_calls100        closed_ok/mixed  `call` with Window::Calls(100), 50 %, minimum 20
#   breakerbox_time10s         closed_ok/mixed  `call` with Window::Time(10 s), 50 %, minimum 20
#   breakerbox_time10s_coarse  closed_ok/mixed  the same with ClockPrecision::Coarse(1 ms)
#
# Usage:
#   benches/callgrind-guard.sh            check every case against its budget (CI)
#   benches/callgrind-guard.sh --record   measure every case and rewrite the budgets file
#                                         (after a deliberate change; review the diff)
# Installs valgrind with apt-get when it is missing. Run from anywhere in the repository.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
budgets="$root/benches/callgrind-budgets.txt"
n=100000
cases=(
    "breakerbox closed_ok"
    "breakerbox_outlined closed_ok"
    "breakerbox_permit closed_ok"
    "breakerbox_permit_outlined closed_ok"
    "breakerbox open_reject"
    "breakerbox_outlined open_reject"
    "breakerbox closed_mixed"
    "breakerbox_outlined closed_mixed"
    "breakerbox_coarse open_reject"
    "breakerbox_calls100 closed_ok"
    "breakerbox_calls100 closed_mixed"
    "breakerbox_time10s closed_ok"
    "breakerbox_time10s closed_mixed"
    "breakerbox_time10s_coarse closed_ok"
    "breakerbox_time10s_coarse closed_mixed"
)

mode=check
case "${1:-}" in
    "") ;;
    --record) mode=record ;;
    *)
        echo "usage: benches/callgrind-guard.sh [--record]" >&2
        exit 2
        ;;
esac

if ! command -v valgrind >/dev/null; then
    echo "callgrind-guard: valgrind missing; installing it with apt-get" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq valgrind >&2
fi

# shellcheck source=callgrind-common.sh
. "$root/benches/callgrind-common.sh"
build_instructions

rustc_version=$(rustc --version)
valgrind_version=$(valgrind --version)

if [ "$mode" = record ]; then
    tmp=$(mktemp)
    trap 'rm -f "$tmp"' EXIT
    {
        echo "# Instruction budgets per call for benches/callgrind-guard.sh (instructions/call"
        echo "# inside benches/instructions.rs's measured loop, N = $n; loop overhead included)."
        echo "# Columns: impl scenario recorded budget; budget = recorded + 10 %, rounded up."
        echo "# Re-record after a deliberate change: benches/callgrind-guard.sh --record"
        echo "# Recorded $(date -u +%Y-%m-%d) at $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown),"
        echo "# with $rustc_version, $valgrind_version."
    } >"$tmp"
    for c in "${cases[@]}"; do
        read -r imp scenario <<<"$c"
        figure=$(per_call "$imp" "$scenario" "$n")
        budget=$(awk -v f="$figure" 'BEGIN { b = f * 1.1; r = int(b); if (r < b) r++; print r }')
        printf '%-28s %-13s %7s %5s\n' "$imp" "$scenario" "$figure" "$budget" | tee -a "$tmp"
    done
    mv "$tmp" "$budgets"
    trap - EXIT
    echo "callgrind-guard: budgets recorded in ${budgets#"$root"/}"
    exit 0
fi

if [ ! -f "$budgets" ]; then
    echo "callgrind-guard: no $budgets; record it with benches/callgrind-guard.sh --record" >&2
    exit 1
fi
if ! grep -qF "$rustc_version" "$budgets"; then
    echo "callgrind-guard: note: budgets were recorded with another compiler than" \
        "$rustc_version; counts may differ by a few instructions" >&2
fi

status=0
printf '%-28s %-13s %9s %7s  %s\n' case scenario measured budget verdict
for c in "${cases[@]}"; do
    read -r imp scenario <<<"$c"
    budget=$(awk -v i="$imp" -v s="$scenario" '$1 == i && $2 == s { print $4 }' "$budgets")
    if [ -z "$budget" ]; then
        echo "callgrind-guard: no budget for '$imp $scenario' in ${budgets#"$root"/};" \
            "re-record with --record" >&2
        status=1
        continue
    fi
    figure=$(per_call "$imp" "$scenario" "$n")
    if awk -v f="$figure" -v b="$budget" 'BEGIN { exit !(f <= b) }'; then
        verdict=ok
    else
        verdict="OVER BUDGET"
        status=1
    fi
    printf '%-28s %-13s %9s %7s  %s\n' "$imp" "$scenario" "$figure" "$budget" "$verdict"
done
if [ "$status" -ne 0 ]; then
    echo "callgrind-guard: FAILED. If the change is deliberate, re-record the budgets:" \
        "benches/callgrind-guard.sh --record" >&2
fi
exit "$status"
