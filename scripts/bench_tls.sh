#!/usr/bin/env bash
# TLS figures, in one invocation on this machine:
#  - the crypto bound: the server's public-key work per full handshake timed
#    with wolfCrypt alone, and the whole server side of a handshake through
#    tls/ in memory (bench/cee-tlscrypto);
#  - cee-bench --tls: full handshakes with a P-256 ECDSA and an RSA-2048
#    certificate, resumed handshakes (tickets), each as lifecycles per second
#    of engine-shard busy time and as a fraction of the bound; handshake
#    latency at a moderate rate; memory per idle TLS connection (--hold).
#   scripts/bench_tls.sh [--duration S] [--quick]
# The engine shard gets a CPU of its own (the control thread and the
# generator share the other): its busy time is then its own work. The
# generator (TLS clients verifying the engine's certificate) is the
# bottleneck of the rate on 2 CPUs, so the rate per busy second is the
# engine's figure, not lifecycles per wall-clock second.
# Results: $CEE_BENCH_OUT (default build-bench/bench-tls.json).
# Exit status 0; 1 when a run fails or its audit does; 2 on bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3 # Debian's; the first python3 on PATH may be another one
OUT=${CEE_BENCH_OUT:-$PWD/build-bench/bench-tls.json}
DURATION=5
HOLD=2000
while [[ $# -gt 0 ]]; do
	case $1 in
	--duration)
		DURATION=$2
		shift 2
		;;
	--quick)
		DURATION=1
		HOLD=200
		shift
		;;
	-h | --help)
		sed -n '2,17s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "bench_tls.sh: unknown argument $1" >&2
		exit 2
		;;
	esac
done

scripts/deps.sh
if [[ ! -e build-bench/build.ninja ]]; then
	meson setup build-bench -Dbuildtype=release
fi
ninja -C build-bench apps/cee-bench bench/cee-tlscrypto

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cee-bench-tls.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT
if [[ $(nproc) -ge 2 ]]; then LCORES="0@0,1@1,2@0"; else LCORES="0@0,1@0,2@0"; fi
CERTS=$PWD/tests/certs

echo "== cee-tlscrypto (wolfCrypt alone, and tls/ in memory)" >&2
build-bench/bench/cee-tlscrypto --json --handshakes $((DURATION > 1 ? 300 : 50)) >"$WORK/crypto.json"

run() {
	local name=$1
	shift
	echo "== cee-bench $name: $*" >&2
	build-bench/apps/cee-bench --no-huge -m 1024 --no-pci --lcores "$LCORES" \
		--file-prefix "cee-btls-$$" --log-level=lib.eal:error -- --json "$@" \
		>"$WORK/$name.json" 2>"$WORK/$name.err" || {
		cat "$WORK/$name.err" >&2
		echo "bench_tls.sh: cee-bench $name failed" >&2
		exit 1
	}
}
run ecdsa --tls --duration "$DURATION" --concurrency 64
run rsa --tls --duration "$DURATION" --concurrency 16 \
	--tls-cert "$CERTS/server-rsa.pem" --tls-key "$CERTS/server-rsa.key"
run resumed --tls-resume --duration "$DURATION" --concurrency 64
# latency: well below the generator's limit, so queueing does not dominate
run latency --tls --duration "$DURATION" --concurrency 64 --rate 300
run hold --tls --hold --duration 1 --concurrency "$HOLD"

"$PY" - "$WORK" "$OUT" <<'PYEOF'
import json, sys, os
work, out = sys.argv[1], sys.argv[2]
def load(n):
    return json.loads(open(os.path.join(work, n + ".json")).read().strip().splitlines()[-1])
c = load("crypto")
runs = {n: load(n) for n in ("ecdsa", "rsa", "resumed", "latency", "hold")}
bad = [n for n, r in runs.items() if not r["audit"]["ok"]]
bound = {"ecdsa": c["bound_hs_per_s_ecdsa"], "rsa": c["bound_hs_per_s_rsa"],
         "resumed": c["bound_hs_per_s_resumed"]}
wolf = {"ecdsa": 1e9 / c["server_hs_ns_ecdsa"], "rsa": 1e9 / c["server_hs_ns_rsa"],
        "resumed": 1e9 / c["server_hs_ns_resumed"]}
print(f"wolfSSL {c['wolfssl']}; server public-key work per handshake: "
      f"X25519 {c['ecdhe_x25519_ns']/1e3:.0f} us, ECDSA P-256 sign {c['sign_ecdsa_p256_ns']/1e3:.0f} us, "
      f"RSA-2048 sign {c['sign_rsa2048_ns']/1e3:.0f} us")
print(f"{'':10} {'bound/s':>9} {'tls/ mem/s':>10} {'engine/s':>9} {'of bound':>9} {'of tls/':>8} "
      f"{'TLS us/hs':>9} {'wall/s':>7} {'resumed':>8}")
summary = {"crypto": c, "runs": runs, "rows": {}}
for n in ("ecdsa", "rsa", "resumed"):
    r = runs[n]; t = r["tls"]
    eng = t["per_engine_busy_s"]
    row = {"bound": bound[n], "tls_mem": wolf[n], "engine": eng,
           "of_bound": eng / bound[n], "of_tls_mem": eng / wolf[n],
           "tls_us": t["engine_tls_us_per_hs"], "cps": r["cps"], "resumed": t["resumed"],
           "handshakes": t["handshakes"]}
    summary["rows"][n] = row
    print(f"{n:10} {bound[n]:9.0f} {wolf[n]:10.0f} {eng:9.0f} {100*eng/bound[n]:8.0f}% "
          f"{100*eng/wolf[n]:7.0f}% {row['tls_us']:9.1f} {r['cps']:7.0f} {t['resumed']:8d}")
l = runs["latency"]
print(f"handshake latency at {l['cps']:.0f}/s (TCP + TLS, generator's view): "
      f"p50 {l['handshake_ns']['p50']/1e3:.0f} us, p99 {l['handshake_ns']['p99']/1e3:.0f} us; "
      f"engine: longest TLS input {l['tls']['max_stall_us']:.0f} us "
      f"({l['tls']['inputs_over_1ms']} of {l['tls']['handshakes']} handshakes had an input over 1 ms), "
      f"longest poll {l['tls']['poll_max_us']:.0f} us")
h = runs["hold"]
print(f"idle TLS connections: {h['conns_peak']} ends live (engine + generator), "
      f"{h['hold_established']} of {h['concurrency']} connections up, RSS "
      f"{h['bytes_per_conn']} B per end, wolfSSL heap {h['tls']['heap_per_conn_end']:.0f} B per end")
if h["hold_established"] < h["concurrency"] or h["errors"]:
    bad.append("hold (not every connection up and held: the figures mix idle and half-done handshakes)")
json.dump(summary, open(out, "w"), indent=1)
print(f"(saved to {out})")
if bad:
    print("bench_tls.sh: audit failed in " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PYEOF
