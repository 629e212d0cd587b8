#!/usr/bin/env bash
# The main job: cee-bench's default scenario on the built-in in-memory link.
# One engine shard and one generator lcore run the same dataplane (TCP,
# steering, timers, exporter) over two net_ring ports; every event goes
# through the exporter into an in-process audit. Prints a live line per
# second, then the report: lifecycles, connections/s, events/s, handshake and
# event latency, memory, and the exactly-once audit (exit 1 if it fails, if an echo differs or a connection stalls).
#   scripts/run.sh [cee-bench options...]     e.g. --duration 10 --close mix
# EAL arguments: $CEE_BENCH_EAL (default: --no-huge, 2 cores as below).
# Real Linux TCP peers over a veth pair: scripts/run-linux-peers.sh (root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh >/dev/null
if [[ ! -f build-bench/build.ninja ]]; then
	meson setup build-bench -Dbuildtype=release >/dev/null
fi
ninja -C build-bench apps/cee-bench >/dev/null
# Control thread beside the engine shard on cpu 1, the generator alone on cpu 0.
if [[ $(nproc) -ge 2 ]]; then LCORES=0@1,1@1,2@0; else LCORES=0@0,1@0,2@0; fi
read -r -a EAL <<<"${CEE_BENCH_EAL:---no-huge -m 1024 --no-pci --file-prefix cee-run-$$ --lcores $LCORES --log-level=lib.eal:error}"
exec build-bench/apps/cee-bench "${EAL[@]}" -- "$@"
