#!/usr/bin/env bash
# What the journal costs a zone under 1,000 WebSocket bots, and how fast its journal
# replays. Runs the meadow zone (pinned to CPU 0) against the bot swarm (CPU 1),
# alternating "no journal, no state digest", "a digest every tick only" and "journal +
# a digest every tick" ROUNDS times each, and prints the zone's CPU per client per tick for every run and the
# medians. Then replays the last journaled run with `arcane replay --verify`.
#
#   cargo build --release --bin zone-server --bin arcane --bin arcane-loadtest
#   benches/journal-cost.sh [ROUNDS] [BOTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
BOTS=${2:-1000}
SECS=${3:-20}
BIN=target/release
WORK=$(mktemp -d /tmp/arcane-journal-cost.XXXXXX)
trap 'kill "$ZONE" 2>/dev/null || true; rm -rf "$WORK"' EXIT
ZONE=

run() { # $1 = label, rest = zone flags
    local label=$1
    shift
    taskset -c 0 "$BIN/zone-server" --ws-addr 127.0.0.1:7791 --admin-addr 127.0.0.1:9191 \
        --quic false --watch-content false --content content --zone meadow "$@" \
        >"$WORK/zone.log" 2>&1 &
    ZONE=$!
    for _ in $(seq 100); do
        curl -sf http://127.0.0.1:9191/readyz >/dev/null 2>&1 && break
        sleep 0.1
    done
    taskset -c 1 "$BIN/arcane-loadtest" --target ws://127.0.0.1:7791 --bots "$BOTS" \
        --duration "${SECS}s" --ramp 5s --metrics http://127.0.0.1:9191/metrics \
        --report "$WORK/report.json" >/dev/null 2>&1 || true
    kill -TERM "$ZONE"
    wait "$ZONE" 2>/dev/null || true
    ZONE=
    python3 - "$label" "$WORK/report.json" <<'EOF' | tee -a "$WORK/results"
import json, sys
r = json.load(open(sys.argv[2]))
s = r["server"]
print(f'{sys.argv[1]} {s["cpu_us_per_client_tick"]:.2f} {s["ticks_per_s"]:.2f} {r["connected"]}')
EOF
}

echo "config cpu_us_per_client_tick ticks_per_s connected"
for _ in $(seq "$ROUNDS"); do
    run off --state-hash-every 0
    run digest --state-hash-every 1
    run journal --journal-dir "$WORK/journal"
done
python3 - "$WORK/results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {c: statistics.median(float(r[1]) for r in rows if r[0] == c)
       for c in ("off", "digest", "journal")}
print(f'median µs/client/tick: off {med["off"]:.2f}, digest only {med["digest"]:.2f} '
      f'({100 * (med["digest"] / med["off"] - 1):+.1f} %), journal {med["journal"]:.2f} '
      f'({100 * (med["journal"] / med["off"] - 1):+.1f} %)')
EOF
RUN=$(ls -d "$WORK"/journal/meadow/* | tail -1)
du -sh "$RUN"
"$BIN/arcane" replay --verify "$RUN" | tee "$WORK/replay.txt"
python3 - "$WORK/replay.txt" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
rate = float(re.search(r'\((\d+) ticks/s\)', t).group(1))
print(f'replay: {rate:.0f} ticks/s = {rate / 20:.1f}x real time at 20 Hz')
EOF
