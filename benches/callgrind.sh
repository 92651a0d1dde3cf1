#!/usr/bin/env bash
# Instructions per call, counted by callgrind, for every implementation and scenario of
# examples/instructions.rs.
#
# Each figure is the instructions executed inside `instructions::run_calls` (the loop of N
# calls; callgrind's --toggle-collect), divided by N. Set-up, start-up and exit are left
# out: they are not constant (quanta calibrates its clock for a time-dependent number of
# iterations), so a difference of two whole runs is not exact. Costs paid once every K calls
# (recloser's epoch collection, say) are averaged in. The figure includes the loop's own
# counter and branch and the `black_box` of the protected operation's value: together
# about 5 instructions, which is most of the floor's figure.
#
# Usage: benches/callgrind.sh [N]      (default N = 200000)
# Needs valgrind. Run from anywhere inside the repository.
set -euo pipefail

n=${1:-200000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cargo build --release --example instructions >&2
bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/instructions

# Instructions inside the measured loop of `instructions <impl> <scenario> <calls>`.
instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        --toggle-collect='instructions::run_calls*' "$bin" "$1" "$2" "$3" 2>&1 \
        | sed -n 's/^==[0-9]*== Collected : \([0-9]*\).*/\1/p'
}

printf '| %-14s | %-11s | %s |\n' implementation scenario 'instructions/call'
printf '| %-14s | %-11s | %s |\n' -------------- ----------- -----------------
for scenario in closed_ok open_reject; do
    for implementation in breakerbox failsafe recloser mutex floor; do
        total=$(instructions "$implementation" "$scenario" "$n")
        per_call=$(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.1f", t / n }')
        printf '| %-14s | %-11s | %s |\n' "$implementation" "$scenario" "$per_call"
    done
done
