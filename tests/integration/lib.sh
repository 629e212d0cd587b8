# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Helpers shared by the integration test scripts: arguments, skip rules, a
# work directory, the namespace, starting and stopping cee-engine, and
# waiting on a condition with a deadline (never a bare sleep standing in for
# synchronisation).
#
# Arguments every test accepts (meson passes the first three):
#   --engine PATH --audit PATH --python PATH   (defaults: build/apps/..., /usr/bin/python3)
#   --keep       keep the work directory
# Environment: CEE_IT_KEEP=1 same as --keep.

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IT_ROOT=$(cd "$IT_DIR/../.." && pwd)
# shellcheck source=../../scripts/netns.sh
source "$IT_ROOT/scripts/netns.sh"

CEE_ENGINE=${CEE_ENGINE:-}
CEE_AUDIT=${CEE_AUDIT:-}
CEE_PYTHON=${CEE_PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
IT_KEEP=${CEE_IT_KEEP:-0}
IT_ARGS=()       # positional arguments left after the common options
IT_PIDS=()       # background helpers to end at exit (by pid)
ENGINE_PID=
ENGINE_LOG=
ENGINE_SEQ=0
WORK=

it_log() { echo "[$(date +%T.%3N)] $*"; }
it_skip() {
	echo "SKIP: $*"
	exit 77
}
it_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

it_parse_args() {
	while [[ $# -gt 0 ]]; do
		case $1 in
		--engine) CEE_ENGINE=$2 && shift 2 ;;
		--audit) CEE_AUDIT=$2 && shift 2 ;;
		--python) CEE_PYTHON=$2 && shift 2 ;;
		--keep) IT_KEEP=1 && shift ;;
		*) IT_ARGS+=("$1") && shift ;;
		esac
	done
	[[ -z $CEE_ENGINE ]] || CEE_ENGINE=$(realpath "$CEE_ENGINE")
	[[ -z $CEE_AUDIT ]] || CEE_AUDIT=$(realpath "$CEE_AUDIT")
	local b
	for b in "$IT_ROOT/build" "$IT_ROOT/build-it"; do
		[[ -z $CEE_ENGINE && -x $b/apps/cee-engine ]] && CEE_ENGINE=$b/apps/cee-engine
		[[ -z $CEE_AUDIT && -x $b/apps/cee-audit ]] && CEE_AUDIT=$b/apps/cee-audit
	done
	return 0
}

# Skip (77) without root or namespaces; fail when the build or a tool the
# project must install is missing.
it_require() {
	[[ $EUID -eq 0 ]] || it_skip "needs root: creates a network namespace and a veth pair, and cee-engine opens an AF_PACKET socket"
	local t
	for t in ip ethtool sysctl; do
		command -v "$t" >/dev/null || it_fail "'$t' not installed (the project's Debian dependencies must install it: iproute2, ethtool, procps)"
	done
	[[ -x $CEE_PYTHON ]] || it_fail "python interpreter '$CEE_PYTHON' not found"
	[[ ${CEE_IT_FAKE_ENGINE:-0} == 1 || (-n $CEE_ENGINE && -x $CEE_ENGINE) ]] || it_fail "cee-engine not found (pass --engine PATH)"
	[[ -n $CEE_AUDIT && -x $CEE_AUDIT ]] || it_fail "cee-audit not found (pass --audit PATH)"
	ip netns add "cee-it-probe-$$" 2>/dev/null || it_skip "cannot create network namespaces here"
	ip netns del "cee-it-probe-$$"
}

# Work directory, namespace and the exit trap. @1: test name.
it_setup() {
	WORK=$(mktemp -d "/tmp/cee-it-$1-XXXXXX")
	trap it_cleanup EXIT
	trap 'exit 130' INT TERM
	# (it_require proved namespaces can be made: a failure now is the
	# set-up's, not a missing capability, and was reported as a skip)
	netns_up "$$" || it_fail "network namespace setup failed (see above)"
	it_log "netns $NETNS_NAME: engine $NETNS_ENGINE_IP on $NETNS_HOST_IF, peer $NETNS_PEER_IP on $NETNS_PEER_IF; work dir $WORK"
}

it_cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	if [[ -n $ENGINE_PID ]] && kill -0 "$ENGINE_PID" 2>/dev/null; then
		kill -KILL "$ENGINE_PID" 2>/dev/null
		wait "$ENGINE_PID" 2>/dev/null
	fi
	local p
	for p in "${IT_PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -CONT "$p" 2>/dev/null
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	netns_down
	[[ -n ${FAKE_NS:-} ]] && ip netns del "$FAKE_NS" 2>/dev/null
	# the EAL's runtime directories of this test's engines (6-13 MB each
	# in /run, a tmpfs: test.sh swept them only at the end of a pass)
	rm -rf /var/run/dpdk/cee-it-$$-* 2>/dev/null
	if [[ $rc -ne 0 && $rc -ne 77 && -n $ENGINE_LOG && -s $ENGINE_LOG ]]; then
		echo "---- last lines of the engine's stderr ($ENGINE_LOG) ----"
		tail -n 40 "$ENGINE_LOG"
		echo "----"
	fi
	if [[ -n $WORK ]]; then
		if [[ $IT_KEEP == 1 || ($rc -ne 0 && $rc -ne 77) ]]; then
			echo "work directory kept: $WORK"
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$rc"
}

# it_wait_until SECONDS WHAT CMD [ARGS...]: run CMD every 50 ms until it
# succeeds (return 0) or SECONDS pass (message, return 1). Fails at once when
# the engine, if one was started, has died.
it_wait_until() {
	local secs=$1 what=$2
	shift 2
	local deadline=$((SECONDS + secs))
	while ! "$@"; do
		if [[ -n $ENGINE_PID ]] && ! kill -0 "$ENGINE_PID" 2>/dev/null; then
			echo "engine exited while waiting for: $what" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			echo "timed out after ${secs}s waiting for: $what" >&2
			return 1
		fi
		sleep 0.05
	done
}

# Count lines matching a fixed string in a file (0 when absent).
# it_count FILE ERE: lines of FILE matching ERE (0 when FILE is absent).
it_count() {
	local n
	n=$(grep -cE -- "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}
# Events of a type, whatever the JSON spacing: it_count FILE "$(it_type_re closed)".
it_type_re() { echo "\"type\": *\"$1\""; }
it_file_has() { [[ -e $1 ]] && grep -qF -- "$2" "$1"; }
it_at_least() { (($(it_count "$1" "$2") >= $3)); }

# it_start_engine SHARDS LOG ENGINE_ARGS...: start cee-engine on the host veth
# end with SHARDS (1 or 2) shards and wait for its ready line.
it_start_engine() {
	local shards=$1 log=$2
	shift 2
	local vdev="net_af_packet0,iface=$NETNS_HOST_IF" lcores
	case $shards in
	1) lcores=(-l "0,1") ;;
	2)
		vdev+=",qpairs=2"
		# lcore 0 control, lcores 1 and 2 shards, on however few cores there are
		lcores=(--lcores "0@0,1@1,2@0")
		;;
	*) it_fail "unsupported shard count $shards" ;;
	esac
	if [[ ${CEE_IT_FAKE_ENGINE:-0} == 1 ]]; then
		ENGINE_LOG=$log
		ENGINE_SEQ=$((ENGINE_SEQ + 1))
		it_start_fake_engine "$shards" "$@"
		it_wait_until 60 "'cee-engine: ready' on the engine's stderr" it_file_has "$ENGINE_LOG" "cee-engine: ready" ||
			it_fail "engine did not become ready"
		return
	fi
	it_launch_engine "$log" -m 512 "--vdev=$vdev" "${lcores[@]}" -- "$@"
}

# it_launch_engine LOG EAL_ARGS... -- ENGINE_ARGS...: start cee-engine in the
# background (ENGINE_PID; stderr in LOG) with --no-huge --no-pci, a
# --file-prefix of its own (cee-it-PID-ENGINE_SEQ) and EAL_ARGS, and wait
# for its ready line.
# it_start_again RC LOG: whether an engine start that ended with status RC
# (log LOG) lost its AF_PACKET fanout group id to another process: exit 75,
# or the PMD's own "could not set PACKET_FANOUT" when the holder had gone
# by the time the engine looked for it (it then exits 2, "need 1..4
# ports": a refusal test took that for its refusal, session 33's CI).
it_start_again() {
	[[ $1 -eq 75 ]] || { [[ $1 -ne 0 ]] && grep -q "could not set PACKET_FANOUT" "$2"; }
}

# Exit 75 is started again (twice at most): DPDK 22.11's net_af_packet drew
# the AF_PACKET fanout group id (pid XOR ifindex) of another test's engine
# on another veth end of this namespace (cee_port.h; tests run two at a
# time, scripts/test.sh); another start, another pid, draws another id.
# (it_start_again: so is a start whose PMD said the id was taken.)
it_launch_engine() {
	ENGINE_LOG=$1
	shift
	local eal=()
	while [[ $# -gt 0 && $1 != -- ]]; do
		eal+=("$1")
		shift
	done
	[[ $# -gt 0 ]] && shift
	# (one prefix for every attempt: tests name it from ENGINE_SEQ, and the
	# EAL takes over a prefix whose process has gone)
	ENGINE_SEQ=$((ENGINE_SEQ + 1))
	local attempt rc
	for attempt in 1 2 3; do
		local all=(--no-huge --no-pci --file-prefix "cee-it-$$-$ENGINE_SEQ" "${eal[@]}")
		it_log "engine: $CEE_ENGINE ${all[*]} -- $*"
		"$CEE_ENGINE" "${all[@]}" -- "$@" 2>"$ENGINE_LOG" &
		ENGINE_PID=$!
		if it_wait_until 60 "'cee-engine: ready' on the engine's stderr" \
			it_file_has "$ENGINE_LOG" "cee-engine: ready"; then
			it_log "engine ready (pid $ENGINE_PID)"
			return
		fi
		rc=0
		kill -0 "$ENGINE_PID" 2>/dev/null || { wait "$ENGINE_PID" || rc=$?; }
		it_start_again "$rc" "$ENGINE_LOG" && [[ $attempt -lt 3 ]] ||
			it_fail "engine did not become ready"
		it_log "engine start $attempt: its AF_PACKET fanout group id was taken (exit $rc); starting again"
		mv "$ENGINE_LOG" "$ENGINE_LOG.start$attempt"
		ENGINE_PID=
	done
}

# Harness self-check only (CEE_IT_FAKE_ENGINE=1): fake_engine.py, Linux
# sockets in a second namespace that takes the host veth end and the engine's
# IP, stands in for cee-engine.
it_start_fake_engine() {
	local shards=$1
	shift
	FAKE_NS=$NETNS_NAME-e
	if [[ ! -e /run/netns/$FAKE_NS ]]; then
		ip netns add "$FAKE_NS"
		ip link set "$NETNS_HOST_IF" netns "$FAKE_NS"
		ip netns exec "$FAKE_NS" ip addr add "$NETNS_ENGINE_IP/$NETNS_PREFIX" dev "$NETNS_HOST_IF"
		ip netns exec "$FAKE_NS" ip link set "$NETNS_HOST_IF" up
		ip netns exec "$FAKE_NS" ip link set lo up
	fi
	it_log "FAKE engine (harness self-check): fake_engine.py -- $*"
	CEE_FAKE_SHARDS=$shards ip netns exec "$FAKE_NS" "$CEE_PYTHON" "$IT_DIR/fake_engine.py" -- "$@" 2>"$ENGINE_LOG" &
	ENGINE_PID=$!
}

# Send SIGTERM and wait (deadline) for a clean exit. @return engine's status.
it_stop_engine() {
	[[ -n $ENGINE_PID ]] || return 0
	kill -TERM "$ENGINE_PID" 2>/dev/null
	it_wait_engine
}

# it_wait_engine: wait for the engine to exit (after a SIGTERM the caller
# sent: a second one would cut its wait for the sinks short), killing it
# after 60 s. @return its exit status.
it_wait_engine() {
	[[ -n $ENGINE_PID ]] || return 0
	local pid=$ENGINE_PID
	local deadline=$((SECONDS + 60))
	while kill -0 "$pid" 2>/dev/null; do
		if ((SECONDS >= deadline)); then
			echo "engine did not exit within 60 s of SIGTERM; killing it" >&2
			kill -KILL "$pid"
			break
		fi
		sleep 0.05
	done
	local rc=0
	wait "$pid" || rc=$?
	ENGINE_PID=
	it_log "engine exited with status $rc"
	return "$rc"
}

# Run a command inside the namespace (foreground only: in the background $!
# would be a subshell, not the command).
it_ns() { ip netns exec "$NETNS_NAME" "$@"; }

# it_ns_echo PORT TEXT: a Linux client in the namespace sends TEXT to the
# engine's PORT and prints what comes back (as many bytes, or fewer at the
# stream's end); nothing when it fails.
it_ns_echo() {
	it_ns "$CEE_PYTHON" -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
want = sys.argv[3].encode()
s.sendall(want)
buf = b""
while len(buf) < len(want):
    d = s.recv(64)
    if not d:
        break
    buf += d
s.close()
print(buf.decode())' "$NETNS_ENGINE_IP" "$1" "$2" 2>/dev/null || true
}

# it_ns_shield_ports SPORT LO HI: in the namespace, drop what comes from the
# engine's port SPORT to local ports LO..HI (hand-built connections there,
# from the namespace's own address, as a NAT drops unsolicited segments: the
# kernel would reset them), and keep the kernel's own connections below LO.
it_ns_shield_ports() {
	command -v nft >/dev/null || it_fail "'nft' not installed (scripts/deps.sh installs nftables)"
	it_ns sysctl -qw net.ipv4.ip_local_port_range="30000 $(($2 - 1))"
	it_ns nft -f - <<NFT
table inet cee_it_shield {
	chain in {
		type filter hook input priority 0; policy accept;
		tcp sport $1 tcp dport $2-$3 drop
	}
}
NFT
}

# it_audit FILE [cee-audit options]: run cee-audit; fail the test on error.
it_audit() {
	local f=$1
	shift
	it_log "cee-audit $* $f"
	"$CEE_AUDIT" "$@" "$f" || it_fail "cee-audit rejected $f"
}
