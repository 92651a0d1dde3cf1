#!/usr/bin/env bash
# Instructions per call, counted by callgrind, for every implementation and scenario of
# benches/instructions.rs: the table in benches/README.md. How a figure is counted: see
# callgrind-common.sh. callgrind-guard.sh checks breakerbox's figures against budgets.
#
# Usage: benches/callgrind.sh [N]      (default N = 200000)
# Needs valgrind. Run from anywhere inside the repository.
set -euo pipefail

n=${1:-200000}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=callgrind-common.sh
. "$root/benches/callgrind-common.sh"
build_instructions

printf '| %-26s | %-12s | %s |\n' implementation scenario 'instructions/call'
printf '| %-26s | %-12s | %s |\n' -------------------------- ------------ -----------------
for scenario in closed_ok closed_mixed open_reject; do
    for implementation in breakerbox breakerbox_outlined breakerbox_coarse breakerbox_calls100 \
        breakerbox_time10s breakerbox_time10s_coarse breakerbox_permit \
        breakerbox_permit_outlined failsafe failsafe_outlined recloser recloser_outlined \
        mutex mutex_outlined floor floor_outlined; do
        printf '| %-26s | %-12s | %s |\n' "$implementation" "$scenario" \
            "$(per_call "$implementation" "$scenario" "$n")"
    done
done
