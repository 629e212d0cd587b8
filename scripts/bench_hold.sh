#!/usr/bin/env bash
# Figure: engine memory per idle established connection, and how many it
# holds. Real Linux clients in a namespace open N connections (default
# 20000), exchange 2 bytes each and stay idle; the engine's resident memory
# is read before and while they are held. Needs root.
#   scripts/bench_hold.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
source scripts/engine-env.sh hold
sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" 2>/dev/null || true
MAX=$((N * 2))
it_start_engine 1 "$WORK/engine.log" --ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen tcp:7:echo \
	--events "binary:$WORK/events.bin" --stats "$WORK/stats.json" --max-conns "$MAX" --time-wait 100 --poll-idle-us 20
rss() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$ENGINE_PID/status"; }
R0=$(rss)
ip netns exec "$NETNS_NAME" sysctl -q -w net.ipv4.ip_local_port_range="1024 65000"
# One holder process per 15000 sockets (the open-file limit may be 20000).
PER=15000
NPROC=$(((N + PER - 1) / PER))
T0=$SECONDS
for ((k = 0; k < NPROC; k++)); do
	n=$((k < NPROC - 1 ? PER : N - PER * (NPROC - 1)))
	it_ns "$CEE_PYTHON" "$IT_DIR/hold.py" --server "$NETNS_ENGINE_IP:7" --count "$n" \
		--ready "$WORK/ready.$k" --stop "$WORK/stop" &
	IT_PIDS+=($!)
done
all_ready() { [[ $(ls "$WORK"/ready.* 2>/dev/null | wc -l) -eq $NPROC ]]; }
it_wait_until 900 "$N connections held" all_ready || it_fail "holders failed"
SECS=$((SECONDS - T0))
R1=$(rss)
HELD=$(cat "$WORK"/ready.* | awk '{s += $1} END {print s}')
touch "$WORK/stop"
for p in "${IT_PIDS[@]}"; do wait "$p" || true; done
it_stop_engine
"$CEE_AUDIT" "$WORK/events.bin" >/dev/null || it_fail "audit failed"
echo "held: $HELD idle established connections (--max-conns $MAX), opened in ${SECS}s"
echo "engine RSS before: $R0 B, while holding: $R1 B"
echo "bytes per idle established connection (RSS delta / held): $(((R1 - R0) / HELD))"
echo "preallocated per --max-conns slot (see stats conn_bytes): $(grep -o '"conn_bytes":[0-9]*' "$WORK/stats.json")"
