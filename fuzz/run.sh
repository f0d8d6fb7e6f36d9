#!/usr/bin/env bash
# Runs fuzz targets with cargo fuzz (libFuzzer) until each has done RUNS executions or TIME
# seconds have passed, whichever comes first, and prints one summary line per target.
# Usage: fuzz/run.sh [target ...]   (default: every target). Needs the nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`). Crashes land in fuzz/artifacts/<target>/.
set -uo pipefail
cd "$(dirname "$0")"
RUNS="${RUNS:-10000000}"
TIME="${TIME:-1800}"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
mkdir -p logs
for target in "${targets[@]}"; do
    log="logs/$target.log"
    cargo +nightly fuzz run -O "$target" -- -runs="$RUNS" -max_total_time="$TIME" \
        -print_final_stats=1 >"$log" 2>&1
    status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1)
    secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -n1)
    crashes=$(find "artifacts/$target" -type f 2>/dev/null | wc -l)
    echo "$target: ${runs:-?} executions in ${secs:-?} s, exit $status, $crashes artifacts"
done
