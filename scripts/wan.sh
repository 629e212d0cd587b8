#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# cee-engine's echo against the Linux kernel's TCP over the SAME impaired path
# (delay, loss, a bottleneck with a tail-drop FIFO), real Linux TCP clients,
# one invocation. For each profile and connection count it runs cee, then the
# kernel, each behind a fresh cee-impair with the same seed, and prints
# goodput, the ratio, fairness, stalls and whether every byte came back.
# docs/wan.md explains the topology, the model and the figures.
#
#   scripts/wan.sh [--quick] [--profile NAME]... [--conns N] [--mib M]
#                  [--seed N] [--timeout S] [--keep] [--pcap] [--linux-cc NAME]
#                  [--tls [--tls-ahead BYTES]] [-- cee-engine options]
#
# Profiles (both directions): delay20 (20 ms each way; 1 and 8 connections),
# loss1 (20 ms + 1% loss; 1 and 8), bottleneck (50 Mbit/s, 250 KB FIFO,
# 20 ms; 8). Default: all three. none (no impairment; 1 and 8) is the
# forwarder's ceiling, on request only. --quick: 5 ms + 1% loss, 2 connections x
# 1 MiB, for CI. Exit 1 when a byte comes back wrong, a connection does not
# finish or the engine does not exit cleanly; never because of a figure.
# Exit 77 without root. Options after -- are appended to cee-engine's.
# --linux-cc NAME: the congestion control of the Linux sockets, clients'
# and kernel echo server's (TCP_CONGESTION; default cubic, cee's default,
# so the two TCPs are compared with the same algorithm; "default" keeps the
# kernel's, which on some kernels is bbr). Recorded in linux-tcp.txt.
# --tls: TLS on every connection (cee's tls: listener, the kernel's echo
# behind Python's ssl; tests/certs), each client on one thread with at
# most 16 KiB unechoed (no half-close under TLS; wan_client.py); --tls-ahead
# BYTES: that many instead (whole 16 KiB records when it allows them).
# --pcap: each run's cee-impair writes the frames it delivers to path.pcap
# and those it drops to drops.pcap (first 128 bytes of each, both
# directions) in the run's directory.
# The engine's af_packet port gets framecnt=4096 (the PMD's default ring of
# 512 frames overflowed at 8 x 25 Mbit/s on this 2-CPU VM: 1,228 segments
# lost before TCP, 8,043 client retransmissions); $CEE_WAN_VDEV_ARGS
# replaces ",framecnt=4096".
# --engine PATH --impair PATH [--audit PATH] --python PATH use given
# binaries (no build). cee-engine writes its events to the run's
# events.jsonl; cee-audit (when found) checks them: a rejected stream fails
# the run.
set -euo pipefail
CALLER_PWD=$PWD # --engine/--impair/--audit/--python paths are relative to it
cd "$(dirname "$0")/.."

usage() { sed -n '/^#   scripts\/wan.sh/,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; }

QUICK=0
PROFILES=()
CONNS=
MIB=
SEED=1
TIMEOUT=
KEEP=0
PCAP=0
ENGINE=
IMPAIR=
AUDIT=
PYTHON=/usr/bin/python3
LINUX_CC=cubic
TLS=0
TLS_AHEAD=16384
EXTRA=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) QUICK=1 && shift ;;
	--profile) PROFILES+=("$2") && shift 2 ;;
	--conns) CONNS=$2 && shift 2 ;;
	--mib) MIB=$2 && shift 2 ;;
	--seed) SEED=$2 && shift 2 ;;
	--timeout) TIMEOUT=$2 && shift 2 ;;
	--keep) KEEP=1 && shift ;;
	--pcap) PCAP=1 && shift ;;
	--linux-cc) LINUX_CC=$2 && shift 2 ;;
	--tls) TLS=1 && shift ;;
	--tls-ahead) TLS_AHEAD=$2 && shift 2 ;;
	--engine) ENGINE=$2 && shift 2 ;;
	--impair) IMPAIR=$2 && shift 2 ;;
	--audit) AUDIT=$2 && shift 2 ;;
	--python) PYTHON=$2 && shift 2 ;;
	--)
		shift
		EXTRA=("$@")
		break
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "wan.sh: unknown argument '$1'" >&2
		usage
		exit 2
		;;
	esac
done
LINUX_CC_ARG=()
[[ $LINUX_CC == default ]] || LINUX_CC_ARG=(--cc "$LINUX_CC")
abs() { [[ -z $1 || $1 == /* ]] && echo "$1" || echo "$CALLER_PWD/$1"; }
ENGINE=$(abs "$ENGINE")
IMPAIR=$(abs "$IMPAIR")
AUDIT=$(abs "$AUDIT")
[[ $PYTHON == */* ]] && PYTHON=$(abs "$PYTHON")
if [[ $EUID -ne 0 ]]; then
	echo "wan.sh: needs root (network namespaces, veth pairs, AF_PACKET sockets); skipped" >&2
	exit 77
fi
for p in "${PROFILES[@]}"; do
	case $p in
	delay20 | loss1 | bottleneck | none) ;;
	*) echo "wan.sh: unknown profile '$p' (delay20, loss1, bottleneck, none)" >&2 && exit 2 ;;
	esac
done
if [[ $QUICK == 1 ]]; then
	[[ ${#PROFILES[@]} -eq 0 ]] || {
		echo "wan.sh: --quick takes no --profile" >&2
		exit 2
	}
	PROFILES=(quick)
elif [[ ${#PROFILES[@]} -eq 0 ]]; then
	PROFILES=(delay20 loss1 bottleneck)
fi

scripts/deps.sh
if [[ -z $ENGINE || -z $IMPAIR ]]; then
	[ -f build-run/build.ninja ] || meson setup build-run --buildtype=release >/dev/null
	ninja -C build-run apps/cee-engine apps/cee-audit bench/cee-impair >/dev/null
	if [[ -z $ENGINE ]]; then
		ENGINE=build-run/apps/cee-engine
		# read-only: no index refresh (another git process may be at work)
		ENGINE_SRC="built from this tree: $(git --no-optional-locks rev-parse --short HEAD 2>/dev/null || echo '?')"
		git --no-optional-locks diff --quiet HEAD -- dataplane apps events 2>/dev/null ||
			ENGINE_SRC+=" + uncommitted changes in dataplane/apps/events"
	fi
	IMPAIR=${IMPAIR:-build-run/bench/cee-impair}
fi
ENGINE_SRC=${ENGINE_SRC:-given with --engine}
ENGINE=$(realpath "$ENGINE")
[[ -n $AUDIT || ! -x $(dirname "$ENGINE")/cee-audit ]] || AUDIT=$(dirname "$ENGINE")/cee-audit
[[ -z $AUDIT ]] || AUDIT=$(realpath "$AUDIT")
IMPAIR=$(realpath "$IMPAIR")
# log, wait_for, has_line, alive_or_has, stop_pid, forget_pid, twons_tools
# (not its two-namespace set-up: this path has three)
# shellcheck source=twons.sh
source scripts/twons.sh # (the working directory is the repository root)
twons_tools wan.sh

# ---- names (from $$: runs can coexist) ----
ID=$$
X=$((ID % 200 + 20))
NS_CLI=cee-wan-$ID-c
NS_MID=cee-wan-$ID-m
NS_SRV=cee-wan-$ID-s
IF_CLI=wc$ID  # in CLI, paired with IF_MC
IF_MC=wmc$ID  # in MID
IF_MS=wms$ID  # in MID, paired with IF_SRV
IF_SRV=ws$ID  # in SRV: the kernel's 10.88.X.3 and cee-engine's af_packet
CLI_IP=10.88.$X.2
CEE_IP=10.88.$X.1
LINUX_IP=10.88.$X.3
PORT=7
OFFLOADS=(rx off tx off tso off gso off gro off)
WORK=$(mktemp -d "/tmp/cee-wan-XXXXXX")
PIDS=() # background processes we started (by pid)
PREFIXES=()

cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	local p
	for p in "${PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || continue
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		local n=0
		while kill -0 "$p" 2>/dev/null && ((n < 40)); do
			sleep 0.05
			n=$((n + 1))
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ip netns del "$NS_CLI" 2>/dev/null
	ip netns del "$NS_MID" 2>/dev/null
	ip netns del "$NS_SRV" 2>/dev/null
	for p in "${PREFIXES[@]}"; do
		rm -rf "/var/run/dpdk/$p"
	done
	if [[ $KEEP == 1 || $QUICK == 0 || $rc -ne 0 ]]; then
		echo "work directory: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- topology: CLI --veth-- MID (cee-impair) --veth-- SRV ----
# (each step says its own failure: set -e is off under `if !`)
setup_ns() {
	local ns
	for ns in "$NS_CLI" "$NS_MID" "$NS_SRV"; do
		ip netns add "$ns" || return 1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || return 1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 || return 1
		ip netns exec "$ns" ip link set lo up || return 1
	done
	ip link add "$IF_CLI" netns "$NS_CLI" type veth peer name "$IF_MC" netns "$NS_MID" || return 1
	ip link add "$IF_SRV" netns "$NS_SRV" type veth peer name "$IF_MS" netns "$NS_MID" || return 1
	local pair
	for pair in "$NS_CLI:$IF_CLI" "$NS_MID:$IF_MC" "$NS_MID:$IF_MS" "$NS_SRV:$IF_SRV"; do
		ns=${pair%%:*}
		local dev=${pair#*:}
		ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" || return 1
		ip netns exec "$ns" ip link set "$dev" mtu 1500 || return 1
		ip netns exec "$ns" ethtool -K "$dev" "${OFFLOADS[@]}" >/dev/null || return 1
		ip netns exec "$ns" ip link set "$dev" up || return 1
	done
	ip netns exec "$NS_CLI" ip addr add "$CLI_IP/24" dev "$IF_CLI" || return 1
	ip netns exec "$NS_SRV" ip addr add "$LINUX_IP/24" dev "$IF_SRV" || return 1
}
if ! setup_ns 2>"$WORK/setup.err"; then
	cat "$WORK/setup.err" >&2
	echo "wan.sh: namespace/veth setup failed (offloads: ethtool -K ${OFFLOADS[*]})" >&2
	exit 1
fi
{
	echo "kernel $(uname -r)"
	for ns in "$NS_CLI" "$NS_SRV"; do
		echo "$ns: $(ip netns exec "$ns" sysctl -n net.ipv4.tcp_congestion_control)" \
			"rmem [$(ip netns exec "$ns" sysctl -n net.ipv4.tcp_rmem)]" \
			"wmem [$(ip netns exec "$ns" sysctl -n net.ipv4.tcp_wmem)]"
	done
	echo "Linux sockets (clients, kernel echo server): --linux-cc $LINUX_CC"
} >"$WORK/linux-tcp.txt"

# Stop every process still running (a run that failed half-way).
stop_all() {
	local p
	for p in "${PIDS[@]}"; do
		stop_pid "$p" 10
	done
}

# The path must not wait for the endpoints: on a small machine the clients,
# the servers and the engine compete for the CPUs, and a forwarder that
# runs late adds delay the profile does not ask for (max_late_us in
# impair.json). It runs SCHED_FIFO where allowed (it sleeps in ppoll
# between frames), else at a higher nice priority.
if chrt -f 10 true 2>/dev/null; then
	IMPAIR_PRIO=(chrt -f 10)
else
	IMPAIR_PRIO=(nice -n -10)
fi

# ---- the runs ----
ENGINE_OPTS=(--ip "$CEE_IP/24" --listen "tcp:$PORT:echo" --poll-idle-us 20)
ECHO_TLS=()
CLIENT_TLS=()
if [[ $TLS == 1 ]]; then
	ENGINE_OPTS=(--ip "$CEE_IP/24" --listen "tls:$PORT:echo" --tls-cert tests/certs/server.pem
		--tls-key tests/certs/server.key --poll-idle-us 20)
	ECHO_TLS=(--tls-cert tests/certs/server.pem --tls-key tests/certs/server.key)
	CLIENT_TLS=(--tls-ca tests/certs/ca.pem --tls-name server.cee.test --tls-ahead "$TLS_AHEAD")
fi
RUN_N=0
FAILED=0

# profile NAME: sets DELAY LOSS RATE QUEUE CONN_LIST RUN_MIB RUN_TIMEOUT
profile() {
	DELAY=20 LOSS=0 RATE=0 QUEUE=0 RUN_MIB=4 RUN_TIMEOUT=120
	case $1 in
	delay20) CONN_LIST=(1 8) ;;
	loss1) LOSS=0.01 CONN_LIST=(1 8) ;;
	bottleneck) RATE=50 QUEUE=250000 CONN_LIST=(8) ;;
	none) DELAY=0 CONN_LIST=(1 8) ;;
	quick) DELAY=5 LOSS=0.01 CONN_LIST=(2) RUN_MIB=1 RUN_TIMEOUT=20 ;;
	esac
	[[ -z $CONNS ]] || CONN_LIST=("$CONNS")
	[[ -z $MIB ]] || RUN_MIB=$MIB
	[[ -z $TIMEOUT ]] || RUN_TIMEOUT=$TIMEOUT
}

# client OUT ARGS...: wan_client.py in CLI; in the background and waited
# for, so that SIGTERM/SIGINT reach the trap at once (bash runs a trap only
# after the foreground command ends). @return the client's exit status.
client() {
	local out=$1
	shift
	ip netns exec "$NS_CLI" "$PYTHON" scripts/wan_client.py --seed "$SEED" --out "$out" "${LINUX_CC_ARG[@]}" \
		"${CLIENT_TLS[@]}" "$@" >/dev/null &
	local pid=$!
	PIDS+=("$pid")
	local crc=0
	wait "$pid" || crc=$?
	forget_pid "$pid"
	return "$crc"
}

# one_run DIR SERVER_KIND(cee|linux) CONNS: forwarder, server, check, clients.
# Leaves DIR/client.json, impair.json, and stats.json/engine.log or echo.json.
one_run() {
	local dir=$1 kind=$2 conns=$3
	mkdir -p "$dir"
	local impair_args=(--a "$IF_MC" --b "$IF_MS" --delay "$DELAY" --loss "$LOSS" --rate "$RATE"
		--queue "$QUEUE" --seed "$SEED")
	[[ $PCAP == 0 ]] || impair_args+=(--pcap "$dir/path.pcap" --pcap-drops "$dir/drops.pcap")
	echo "${impair_args[*]}" >"$dir/impair.args"
	ip netns exec "$NS_MID" "${IMPAIR_PRIO[@]}" "$IMPAIR" "${impair_args[@]}" >"$dir/impair.json" 2>"$dir/impair.log" &
	local ipid=$!
	PIDS+=("$ipid")
	if ! { wait_for 10 "cee-impair ready" alive_or_has "$ipid" "$dir/impair.log" "cee-impair: ready" &&
		kill -0 "$ipid" 2>/dev/null; }; then
		cat "$dir/impair.log" >&2
		stop_all
		return 1
	fi

	local spid server
	if [[ $kind == cee ]]; then
		RUN_N=$((RUN_N + 1))
		local prefix=wan$ID-$RUN_N
		PREFIXES+=("$prefix")
		local eal=(--no-huge -m 512 --no-pci --file-prefix "$prefix" "--vdev=net_af_packet0,iface=$IF_SRV${CEE_WAN_VDEV_ARGS-,framecnt=4096}" -l "0,1")
		local run_opts=(--events "jsonl:$dir/events.jsonl" --stats "$dir/stats.json")
		echo "$ENGINE ${eal[*]} -- ${ENGINE_OPTS[*]} ${run_opts[*]} ${EXTRA[*]}" >"$dir/engine.cmd"
		ip netns exec "$NS_SRV" "$ENGINE" "${eal[@]}" -- "${ENGINE_OPTS[@]}" "${run_opts[@]}" \
			"${EXTRA[@]}" >"$dir/engine.out" 2>"$dir/engine.log" &
		spid=$!
		PIDS+=("$spid")
		server=$CEE_IP:$PORT
		if ! { wait_for 60 "cee-engine ready" alive_or_has "$spid" "$dir/engine.log" "cee-engine: ready" &&
			kill -0 "$spid" 2>/dev/null; }; then
			tail -n 20 "$dir/engine.log" >&2
			stop_all
			return 1
		fi
	else
		ip netns exec "$NS_SRV" "$PYTHON" scripts/wan_echo.py --bind "$LINUX_IP" --port "$PORT" "${LINUX_CC_ARG[@]}" \
			"${ECHO_TLS[@]}" --ready "$dir/echo.ready" >"$dir/echo.json" 2>"$dir/echo.log" &
		spid=$!
		PIDS+=("$spid")
		server=$LINUX_IP:$PORT
		if ! { wait_for 20 "wan_echo.py ready" alive_or_has "$spid" "$dir/echo.ready" "ready" &&
			kill -0 "$spid" 2>/dev/null; }; then
			cat "$dir/echo.log" >&2
			stop_all
			return 1
		fi
	fi

	# does it answer? (also resolves ARP before the measured run)
	local rc=0
	client "$dir/check.json" --server "$server" --conns 1 --bytes 1000 --timeout 15 || rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "wan.sh: $kind server $server does not answer (see $dir/check.json)" >&2
		: >"$dir/client.json"
	else
		# the kernels' TCP counters around the measured run (SRV: the Linux
		# server's side, CLI: the clients'), to see which mechanisms acted
		ip netns exec "$NS_SRV" nstat -asz >"$dir/nstat-srv.before" 2>/dev/null || true
		ip netns exec "$NS_CLI" nstat -asz >"$dir/nstat-cli.before" 2>/dev/null || true
		client "$dir/client.json" --server "$server" --conns "$conns" --mib "$RUN_MIB" \
			--timeout "$RUN_TIMEOUT" --label "$kind" || rc=$?
		ip netns exec "$NS_SRV" nstat -asz >"$dir/nstat-srv.after" 2>/dev/null || true
		ip netns exec "$NS_CLI" nstat -asz >"$dir/nstat-cli.after" 2>/dev/null || true
	fi

	stop_pid "$spid" 60
	local src=$STOP_RC
	echo "$src" >"$dir/server.rc"
	stop_pid "$ipid" 10
	echo "$STOP_RC" >"$dir/impair.rc"
	if [[ $kind == cee && -n $AUDIT && -e $dir/events.jsonl ]]; then
		local arc=0
		"$AUDIT" "$dir/events.jsonl" >"$dir/audit.txt" 2>&1 || arc=$?
		echo "$arc" >"$dir/audit.rc"
		# a broken event stream under loss is a failed run, not a footnote
		if [[ $arc -ne 0 ]]; then
			echo "wan.sh: cee-audit rejected $dir/events.jsonl (see audit.txt)" >&2
			return 1
		fi
	fi
	[[ $rc -eq 0 ]] || return 1
	if [[ $src -ne 0 ]]; then
		echo "wan.sh: $kind server exit status $src after SIGTERM" >&2
		return 1
	fi
	return 0
}

# The table: one row per profile/conns from the two runs' JSON; appends the
# row to $WORK/summary.jsonl.
row() {
	"$PYTHON" - "$@" <<'EOF'
import json, sys
name, conns, cdir, ldir, out = sys.argv[1:6]
def load(p):
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
c, l = load(cdir + "/client.json"), load(ldir + "/client.json")
stats = load(cdir + "/stats.json") or {}
imp = {"cee": load(cdir + "/impair.json"), "linux": load(ldir + "/impair.json")}
def f(r, k, fmt):
    return fmt % r[k] if r else "-"
def ok(r):
    return "ok" if r and r["ok"] else "NOT"
def mbit(r):
    # a set where some connection did not finish has no goodput: say how many did
    if r and not r["ok"]:
        done = sum(1 for x in r["per_conn"] if x["error"] is None)
        return "%d/%d done" % (done, r["conns"])
    return f(r, "total_mbit", "%.2f")
ratio = (c["total_mbit"] / l["total_mbit"]) if c and l and c["ok"] and l["ok"] else None
tot = stats.get("total", {})
tcp = tot.get("tcp", {})
print("%-10s %5s %10s %12s %7s %13s %17s %9s" % (
    name, conns, mbit(c), mbit(l),
    "%.3f" % ratio if ratio is not None else "-",
    "%s/%s" % (f(c, "jain", "%.2f"), f(l, "jain", "%.2f")),
    "%s/%s" % (f(c, "max_stall_s", "%.2f"), f(l, "max_stall_s", "%.2f")),
    "%s/%s" % (ok(c), ok(l))))
keys = ["segs_in", "segs_out", "retransmits", "rto_timeouts"]
eng = {k: v for k, v in tcp.items() if v or k in keys}  # whatever counters this engine has
eng["drops"] = {k: v for k, v in tot.get("drops", {}).items() if v}
rec = {"profile": name, "conns": int(conns), "cee": c, "linux": l, "ratio": ratio,
       "cee_engine": eng, "impair": imp, "cee_dir": cdir, "linux_dir": ldir}
# frames the profile did not drop but the forwarder lost: its socket's
# buffer overflowed (kernel_drops), its delay line was full (overflow), a
# frame too long for a slot (oversize), or the kernel kept refusing the
# send (tx_dropped). Such a run had more loss than its profile: its ratio
# was printed as if both runs had the same path (review, session 26)
def extra_drops(j):
    return sum(j[d].get(k, 0) for d in ("a_to_b", "b_to_a")
               for k in ("kernel_drops", "overflow", "oversize", "tx_dropped")) if j else 0
extra = {"cee": extra_drops(imp["cee"]), "linux": extra_drops(imp["linux"])}
rec["forwarder_extra_drops"] = extra
with open(out, "a") as fo:
    fo.write(json.dumps(rec) + "\n")
# frames the engine counted as sent that never reached the wire (the kernel
# refuses af_packet frames longer than the veth's MTU + 18: dmesg "af_packet:
# packet size is too long"); the SRV kernel sends nothing during a cee run
i = imp["cee"]
if i and "tx_pkts" in tot:
    eng["tx_not_on_wire"] = tot["tx_pkts"] - i["b_to_a"]["rx"]
    eng["largest_frame"] = i["b_to_a"].get("max_frame")
def fwd(j):
    if not j:
        return "-"
    return " ".join("%s %d/%d/%d" % (d, j[d]["forwarded"], j[d]["lost"], j[d]["tail_dropped"])
                    for d in ("a_to_b", "b_to_a"))
reasons = {}
try:
    with open(cdir + "/events.jsonl") as fe:
        for line in fe:
            e = json.loads(line)
            if e.get("type") == "closed":
                reasons[e.get("reason")] = reasons.get(e.get("reason"), 0) + 1
except (OSError, ValueError):
    pass
try:
    audit = "ok" if open(cdir + "/audit.rc").read().strip() == "0" else "FAILED (audit.txt)"
except OSError:
    audit = "not run"
eng["closed"] = reasons
with open(cdir + "/engine.summary", "w") as fo:
    fo.write("      cee counters: %s; drops %s; client retransmits %s\n" % (
        " ".join("%s=%s" % (k, v) for k, v in eng.items() if k not in ("drops", "closed")),
        json.dumps(eng["drops"]), c["client_retrans"] if c else "-"))
    fo.write("      cee events: closed %s; cee-audit %s\n" % (json.dumps(reasons), audit))
    fo.write("      Linux: client retransmits %s; echo server %s\n" % (
        l["client_retrans"] if l else "-", (load(ldir + "/echo.json") or "-")))
    fo.write("      forwarded/lost/tail-dropped: cee run %s; Linux run %s\n" % (
        fwd(imp["cee"]), fwd(imp["linux"])))
    if extra["cee"] or extra["linux"]:
        fo.write("      WARNING: the forwarder dropped frames beyond the profile (cee run %d, "
                 "Linux run %d): not the same path, do not quote this ratio\n" % (
                     extra["cee"], extra["linux"]))
    # how faithful the path was: the forwarder's worst lateness against the
    # model, and the RTT the clients' kernel measured (2 x delay expected)
    def late(j):
        return "%.1f" % (max(j[d]["max_late_us"] for d in ("a_to_b", "b_to_a")) / 1000) if j else "-"
    def srtt(r):
        xs = [x["tcp_info"]["rtt_ms"] for x in (r or {}).get("per_conn", []) if x.get("tcp_info")]
        return "%.1f" % (sum(xs) / len(xs)) if xs else "-"
    fo.write("      path: forwarder max lateness cee run %s ms, Linux run %s ms; client srtt cee %s ms, Linux %s ms\n" % (
        late(imp["cee"]), late(imp["linux"]), srtt(c), srtt(l)))
EOF
}

log "topology: $NS_CLI ($IF_CLI $CLI_IP) -- $NS_MID ($IF_MC cee-impair $IF_MS) -- $NS_SRV ($IF_SRV: Linux $LINUX_IP, cee $CEE_IP)"
log "engine: $ENGINE ($ENGINE_SRC)"
log "engine options: ${ENGINE_OPTS[*]}${EXTRA[*]:+ ${EXTRA[*]}}; the rest at their defaults:"
"$ENGINE" --help >"$WORK/engine-help.txt" 2>&1 || true
grep -E -- '^ +--(sndbuf|sndbuf-max|sndbufs-max|cc|rto-min) ' "$WORK/engine-help.txt" | sed 's/^ */    /' || true
log "Linux sockets' congestion control (clients and kernel echo): $LINUX_CC (--linux-cc);" \
	"the kernel's default is $(sysctl -n net.ipv4.tcp_congestion_control)"
log "work directory: $WORK"
log "cee-impair runs under: ${IMPAIR_PRIO[*]}"
HEADER=$(printf "%-10s %5s %10s %12s %7s %13s %17s %9s" profile conns "cee Mbit/s" "Linux Mbit/s" ratio \
	"Jain cee/Lx" "max stall s c/Lx" "bytes")
TABLE=()
for name in "${PROFILES[@]}"; do
	profile "$name"
	for conns in "${CONN_LIST[@]}"; do
		log "$name: delay ${DELAY} ms, loss $LOSS, rate ${RATE} Mbit/s, queue ${QUEUE} B (each way); $conns x $RUN_MIB MiB"
		base=$WORK/$name-c$conns
		for kind in cee linux; do
			if ! one_run "$base-$kind" "$kind" "$conns"; then
				FAILED=1
				log "$name/$conns/$kind: FAILED ($(cat "$base-$kind/client.json" 2>/dev/null |
					"$PYTHON" -c 'import json,sys; print("; ".join(json.load(sys.stdin)["errors"][:3]))' 2>/dev/null || echo "see $base-$kind"))"
			fi
		done
		line=$(row "$name" "$conns" "$base-cee" "$base-linux" "$WORK/summary.jsonl")
		TABLE+=("$line")
		echo "$HEADER"
		echo "$line"
		cat "$base-cee/engine.summary"
	done
done

echo
echo "== cee-engine vs Linux kernel TCP, echo$([[ $TLS == 0 ]] || echo ' over TLS') over the same impaired path (seed $SEED) =="
echo "$HEADER"
printf '%s\n' "${TABLE[@]}"
echo "(Mbit/s: echoed bytes x 8 / wall time of the whole set; ratio: cee/Linux; per-run JSON: $WORK/summary.jsonl$(
	[[ $QUICK == 0 || $KEEP == 1 ]] || echo ', removed at exit on success: --keep keeps it'))"
echo "$ENGINE_SRC" >"$WORK/engine-source.txt"
if [[ $FAILED -ne 0 ]]; then
	echo "wan.sh: FAILED: a connection did not finish, a byte came back wrong, or a server did not exit cleanly" >&2
	exit 1
fi
