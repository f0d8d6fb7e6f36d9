#!/usr/bin/env bash
# Instruction counts of the router's publish path, for comparing two builds on a noisy machine.
#
#   crates/wampd-bench/callgrind.sh [TARGET_DIR] [OUT_DIR]
#
# Runs TARGET_DIR/release/wampd (default: target/release/wampd) under valgrind's callgrind on a
# loopback port, loads it with `wampd-bench latency --subscribers 50 --rate 100 --duration 10s`
# (1,000 publications, 50,000 deliveries), stops it with SIGINT and prints the inclusive
# instruction counts of the publish path per publication and per delivery. Counts, unlike
# seconds, repeat for the same binary and load whatever else the machine does, so two commits
# can be compared by running this once on each (build both with `cargo build --release --bins`).
set -euo pipefail
target="$(cd "${1:-target}" && pwd)"
out="${2:-$(mktemp -d)}"
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }
bench="$target/release/wampd-bench"
router="$target/release/wampd"
port=$((20000 + RANDOM % 20000))
cd "$out"
WEBSOCKET_SERVER_DSN="//127.0.0.1:$port" WEBSOCKET_AUTHORIZATION_DEFAULT=open WEBSOCKET_ORIGIN_CHECK=false \
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "$router" websocket:server --env=prod -v >"$out/router.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q "Launching" "$out/router.log" 2>/dev/null && break; sleep 0.5; done
"$bench" latency --url "ws://127.0.0.1:$port/ws" --subscribers 50 --rate 100 --duration 10s >"$out/bench.json"
kill -INT "$pid"
wait "$pid" || true
trap - EXIT
python3 - "$out" <<'PY'
import json, re, subprocess, sys
out = sys.argv[1]
report = json.load(open(f"{out}/bench.json"))
pubs, deliveries = report["publishes"], report["samples"]
text = subprocess.run(["callgrind_annotate", "--inclusive=yes", f"{out}/callgrind.out"],
                      capture_output=True, text=True, check=True).stdout
def ir(*patterns):
    # The first pattern a line matches (function names change between commits).
    for pattern in patterns:
        for line in text.splitlines():
            if re.search(pattern, line):
                return int(line.split()[0].replace(",", ""))
    return 0
total = ir(r"PROGRAM TOTALS")
print(json.dumps({
    "publishes": pubs, "deliveries": deliveries, "lost": report["lost"],
    "total_ir": total,
    "total_ir_per_delivery": round(total / deliveries),
    "op_publish_ir_per_publication": round(ir(r"op_publish \[") / pubs),
    "broker_publish_ir_per_publication": round(
        ir(r"broker::deliver \[", r"broker::Broker::publish \[") / pubs),
    "fanout_ir_per_delivery": round(
        ir(r"broker::deliver \[", r"broker::Broker::publish::\{\{closure\}\}") / deliveries, 1),
    "push_event_ir_per_delivery": round(ir(r"Outbound::push_event") / deliveries, 1),
    "writer_ir_per_delivery": round(ir(r"transport::writer::run") / deliveries, 1),
}))
PY
