#!/usr/bin/env bash
# Instructions per call, counted by callgrind, for every implementation and scenario of
# examples/instructions.rs.
#
# Each figure is (Ir(2N calls) - Ir(N calls)) / N: start-up, set-up and exit cancel out,
# and costs paid once every K calls (recloser's epoch collection, say) are averaged in.
# The figure includes the measured loop's own counter and branch (about 3 instructions)
# and the `black_box` of the protected operation's value (about 2).
#
# Usage: benches/callgrind.sh [N]      (default N = 200000)
# Needs valgrind. Run from anywhere inside the repository.
set -euo pipefail

n=${1:-200000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cargo build --release --example instructions >&2
bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/instructions

# Total instructions of one run of `instructions <impl> <scenario> <calls>`.
instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$3" 2>&1 \
        | sed -n 's/^==[0-9]*== Collected : \([0-9]*\).*/\1/p'
}

printf '| %-14s | %-11s | %s |\n' implementation scenario 'instructions/call'
printf '| %-14s | %-11s | %s |\n' -------------- ----------- -----------------
for scenario in closed_ok open_reject; do
    for implementation in breakerbox failsafe recloser mutex floor; do
        one=$(instructions "$implementation" "$scenario" "$n")
        two=$(instructions "$implementation" "$scenario" $((2 * n)))
        per_call=$(awk -v a="$one" -v b="$two" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')
        printf '| %-14s | %-11s | %s |\n' "$implementation" "$scenario" "$per_call"
    done
done
