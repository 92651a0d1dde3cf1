# Sourced by callgrind.sh and callgrind-guard.sh: builds benches/instructions.rs and counts
# the instructions inside its measured loop under callgrind.
#
# Each figure is the instructions executed inside `instructions::run_calls` (the loop of N
# calls; callgrind's --toggle-collect), divided by N. Set-up, start-up and exit are left
# out: they are not constant (quanta calibrates its clock for a time-dependent number of
# iterations), so a difference of two whole runs is not exact. Costs paid once every K calls
# (recloser's epoch collection, say) are averaged in. The figure includes the loop's own
# counter and branch and the `black_box` of the protected operation's value: together
# about 5 instructions, which is most of the floor's figure.

# Needs: $root (the repository). Sets $instructions_bin.
build_instructions() {
    local json
    # A bench target (see benches/Cargo.toml), built with the bench profile; cargo prints
    # the binary's path (it has a hash in its name) in its JSON messages.
    json=$(cd "$root" && cargo bench -p breakerbox-benches --bench instructions --no-run \
        --message-format=json-render-diagnostics)
    instructions_bin=$(printf '%s\n' "$json" \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
    if [ -z "$instructions_bin" ] || [ ! -x "$instructions_bin" ]; then
        echo "callgrind: could not find the instructions binary in cargo's output" >&2
        return 1
    fi
}

# per_call IMPL SCENARIO N: instructions per call, one decimal.
per_call() {
    local out total
    out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        --toggle-collect='instructions::run_calls*' "$instructions_bin" "$1" "$2" "$3" 2>&1) || {
        printf '%s\n' "$out" >&2
        echo "callgrind: instructions $1 $2 $3 failed" >&2
        return 1
    }
    total=$(printf '%s\n' "$out" | sed -n 's/^==[0-9]*== Collected : \([0-9]*\).*/\1/p')
    if [ -z "$total" ]; then
        printf '%s\n' "$out" >&2
        echo "callgrind: no instruction count for $1 $2" >&2
        return 1
    fi
    awk -v t="$total" -v n="$3" 'BEGIN { printf "%.1f", t / n }'
}
