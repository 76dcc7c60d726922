#!/usr/bin/env bash
# What chat and parties cost the zones, and how fast chat is delivered, under BOTS
# WebSocket bots across two zones. The orchestrator runs meadow and forest as its
# child processes, all pinned to CPU 0; the bot swarm runs on CPU 1. The bots are
# `--behaviour social`: half of them cross into the forest once, then all wander.
# Alternates "quiet" runs (`--chat-every 0s`: the same walk, no chat, no party) and
# "social" runs (one chat message every 5 s per bot on say, zone, party or a whisper
# to a random bot, often in the other zone, and parties of four made in the game),
# ROUNDS times each, each run on a fresh database. Prints, per run, both zones' CPU
# per client per tick (their CPU seconds over their ticks, from /metrics, between the
# end of the ramp and the end) and the chat delivery p99 per channel, then medians.
#
#   cargo build --release --bin zone-server --bin orchestrator --bin arcane-loadtest
#   benches/social-cost.sh [ROUNDS] [BOTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
BOTS=${2:-1000}
SECS=${3:-40}
RAMP=10
BIN=target/release
WORK=$(mktemp -d /tmp/arcane-social-cost.XXXXXX)
PUBLIC=127.0.0.1:7891
INTERNAL=127.0.0.1:7892
ORCH=
trap 'kill "$ORCH" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

zone_metrics() { # prints "cpu_seconds ticks" summed over both zones
    python3 - "$INTERNAL" <<'EOF'
import json, sys, urllib.request
zones = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/v1/zones"))
cpu = ticks = 0.0
for z in zones:
    text = urllib.request.urlopen(z["info"]["admin_endpoint"] + "/metrics").read().decode()
    for line in text.splitlines():
        name = line.split("{")[0].split(" ")[0]
        if name == "process_cpu_seconds_total":
            cpu += float(line.split()[-1])
        elif name == "arcane_ticks_total":
            ticks += float(line.split()[-1])
print(cpu, ticks / max(len(zones), 1), len(zones))
EOF
}

run() { # $1 = label, $2 = seconds between a bot's chat messages (0s: none)
    local behaviour=$1 every=$2 dir="$WORK/$1-$RANDOM"
    mkdir -p "$dir"
    taskset -c 0 "$BIN/orchestrator" --addr "$PUBLIC" --internal-addr "$INTERNAL" \
        --database-url "sqlite://$dir/arcane.db" --run-dir "$dir/run" --zones meadow,forest \
        --start-position 960,520 >"$dir/orchestrator.log" 2>&1 &
    ORCH=$!
    for _ in $(seq 200); do
        [ "$(curl -sf "http://$INTERNAL/v1/zones" | grep -o '"up":true' | wc -l)" -ge 2 ] && break
        sleep 0.2
    done
    taskset -c 1 "$BIN/arcane-loadtest" --orchestrator "http://$PUBLIC" --bots "$BOTS" \
        --behaviour social --chat-every "$every" --duration "${SECS}s" --ramp "${RAMP}s" \
        --report "$dir/report.json" >"$dir/loadtest.log" 2>&1 &
    local bots=$!
    sleep $((RAMP + 3))
    read -r cpu0 ticks0 _ < <(zone_metrics)
    sleep $((SECS - 6))
    read -r cpu1 ticks1 zones < <(zone_metrics)
    wait "$bots" || true
    kill -TERM "$ORCH"
    wait "$ORCH" 2>/dev/null || true
    ORCH=
    python3 - "$behaviour" "$dir/report.json" "$cpu0" "$ticks0" "$cpu1" "$ticks1" "$zones" <<'EOF' | tee -a "$WORK/results"
import json, sys
label, path = sys.argv[1], sys.argv[2]
cpu0, ticks0, cpu1, ticks1, zones = map(float, sys.argv[3:8])
r = json.load(open(path))
# Both zones' CPU per tick of the world, per connected bot.
us = (cpu1 - cpu0) * 1e6 / max(ticks1 - ticks0, 1) / max(r["connected"], 1)
lat = r["social"]["latency_ms"]
p99 = {c: lat[c]["p99"] for c in ("say", "zone", "party", "whisper") if c in lat}
print(label, f"{us:.2f}", r["connected"], r["errors"], r["disconnects"],
      f"{ticks1 - ticks0:.0f}", f'input={r["latency_ms"]["p99"]:.1f}',
      " ".join(f"{c}={v:.1f}" for c, v in p99.items()),
      json.dumps(r["social"]["delivered"], separators=(",", ":")))
EOF
}

echo "run cpu_us_per_client_tick connected errors disconnects ticks p99_ms(input, then chat by channel) delivered"
for _ in $(seq "$ROUNDS"); do
    run quiet 0s
    run social 5s
done
python3 - "$WORK/results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {b: statistics.median(float(r[1]) for r in rows if r[0] == b) for b in ("quiet", "social")}
print(f'median µs/client/tick (both zones): quiet {med["quiet"]:.2f}, social {med["social"]:.2f} '
      f'({100 * (med["social"] / med["quiet"] - 1):+.1f} %)')
chan = {}
for r in rows:
    if r[0] != "social":
        continue
    for kv in r[7:-1]:
        c, v = kv.split("=")
        chan.setdefault(c, []).append(float(v))
inp = statistics.median(float(r[6].split("=")[1]) for r in rows if r[0] == "social")
print("median p99 (ms) in the social runs: input→observed " + f"{inp:.1f}, " +
      ", ".join(f"{c} {statistics.median(v):.1f}" for c, v in sorted(chan.items())))
EOF
