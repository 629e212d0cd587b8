#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The control socket's path (--ctl-socket PATH) and cee-ctl's timeout, with
# cee-engine on net_null (no traffic, no root, no namespace):
#   1. a second engine given the path of a live engine's socket must refuse
#      to start, saying why, and the first must still answer there (and
#      remove its socket when it exits);
#   2. a regular file at the path: the engine refuses it and leaves it;
#   3. a socket left by a dead engine (nobody listens): taken over; one
#      put at the path after the engine's (the engine's own gone) is not
#      removed when the engine exits;
#   (1 also: a request line ended by EOF is answered; conn 0's error names it)
#   4. cee-ctl --timeout 1 against a socket whose listener accepts nothing
#      (its backlog full): exit 1 within the timeout, not a hang in connect().
#   (5-8: long sink specs, sinks refused at start, SIGTERM at start-up, the
#   socket's bounds; 9: telemetry's /cee/stats of 8 shards, truncated)
# Guards against: a second engine silently taking over the first one's
# socket (cee-ctl drain or kill then acting on the wrong engine, the first
# unreachable once the second exits), a file deleted because a path was
# given, a stale socket that blocks every restart, and a cee-ctl that hangs
# when the engine does not accept.
#
# Usage: test_ctl_socket.sh CEE_ENGINE CEE_CTL PYTHON
# Synchronisation: the engine's ready line and exit; the listener's ready
# file; the only deadlines are the bounds under test.
set -euo pipefail
# lib.sh's helpers (no namespace, no root: it_setup is not called)
source "$(dirname "$0")/lib.sh"
ENGINE=$1
CTL=$2
PY=${3:-/usr/bin/python3}
WORK=$(mktemp -d /tmp/cee-ctl-socket.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
log() { it_log "$@"; }
fail() { it_fail "$@"; }
wait_until() { it_wait_until "$@" || it_fail "no $2 within $1 s"; }
has() { it_file_has "$@"; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# engine NAME SOCKET: start cee-engine in the background; its pid in EPID
engine() {
	"$ENGINE" --no-huge -m 512 --no-pci --file-prefix "cee-ctls-$$-$1" --vdev net_null0 -l 0,1 \
		--log-level=lib.eal:error -- --ip 10.9.0.1/24 --listen tcp:7:echo --events null: \
		--ctl-socket "$2" >"$WORK/$1.log" 2>&1 &
	EPID=$!
	PIDS+=("$EPID")
}

SOCK=$WORK/ctl.sock

# 1. a live engine's socket
engine a "$SOCK"
A=$EPID
wait_until 60 "engine a ready" has "$WORK/a.log" "cee-engine: ready"
"$CTL" --socket "$SOCK" --timeout 10 stats >/dev/null || fail "engine a does not answer on $SOCK"
engine b "$SOCK"
B=$EPID
wait_until 60 "engine b's exit" gone "$B"
rc=0
wait "$B" || rc=$?
[[ $rc -ne 0 ]] || fail "engine b started on engine a's socket (exit 0)"
has "$WORK/b.log" "another engine answers on it" || {
	cat "$WORK/b.log"
	fail "engine b did not say why it refused"
}
"$CTL" --socket "$SOCK" --timeout 10 stats >/dev/null ||
	fail "engine a no longer answers on $SOCK after engine b's attempt"
log "1. a second engine refused a live engine's socket (exit $rc); the first still answers"
# a request ended by EOF instead of a newline (printf stats | socat - UNIX:...)
# is answered (it got an empty reply and a silent close); conn 0 names no
# connection and the error says which (the conn field was left out for id 0)
"$PY" - "$SOCK" <<'PY' || fail "requests ended by EOF, or conn 0's error"
import json, socket, sys
def ask(req):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(req)
    s.shutdown(socket.SHUT_WR)
    out = b""
    while (d := s.recv(65536)):
        out += d
    s.close()
    return out
r = ask(b"stats")
assert r.endswith(b"\n") and json.loads(r)["ok"] is True, f"stats ended by EOF: {r[:200]!r}"
r = json.loads(ask(b"conn 0\n"))
assert r == {"ok": False, "error": "no such connection", "conn": "0000000000000000"}, r
print("stats ended by EOF answered; conn 0:", r)
PY
kill -TERM "$A"
rc=0
wait "$A" || rc=$?
[[ $rc -eq 0 ]] || fail "engine a exited $rc at SIGTERM"
[[ ! -e $SOCK ]] || fail "engine a left its socket behind"

# 2. a regular file at the path
echo "keep me" >"$WORK/file"
engine c "$WORK/file"
C=$EPID
wait_until 60 "engine c's exit" gone "$C"
rc=0
wait "$C" || rc=$?
[[ $rc -ne 0 ]] || fail "engine c started on a regular file"
[[ $(cat "$WORK/file") == "keep me" ]] || fail "the regular file at --ctl-socket was removed or changed"
has "$WORK/c.log" "not a socket" || fail "engine c did not say why it refused"
log "2. a regular file at the path: refused (exit $rc), left alone"

# 3. a dead engine's socket: bound, then its listener closed (the file stays)
"$PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); s.close()' "$SOCK"
[[ -S $SOCK ]] || fail "could not leave a stale socket at $SOCK"
engine d "$SOCK"
D=$EPID
wait_until 60 "engine d ready" has "$WORK/d.log" "cee-engine: ready"
"$CTL" --socket "$SOCK" --timeout 10 stats >/dev/null || fail "engine d does not answer on the stale path"
# ... and while it runs, the path is taken over by another socket (as a
# second engine started at the same moment over the stale one would): at
# exit engine d removes only the socket it bound, not the other's
rm -f "$SOCK"
"$PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)' "$SOCK"
[[ -S $SOCK ]] || fail "could not put another socket at $SOCK"
kill -TERM "$D"
wait "$D" || fail "engine d exited non-zero at SIGTERM"
[[ -S $SOCK ]] || fail "engine d removed a socket it did not bind at exit"
rm -f "$SOCK"
log "3. a stale socket: taken over"

# stuck_listener NAME: a Unix socket $WORK/NAME.sock whose listener accepts
# nothing, its backlog full (the next connect waits), in the background
stuck_listener() {
	"$PY" - "$WORK/$1.sock" "$WORK/$1.ready" <<'PYEOF' &
import socket, sys, time
path, ready = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(0)
held = []
while True:  # fill the backlog: the next connect would wait
    c = socket.socket(socket.AF_UNIX)
    c.setblocking(False)
    try:
        c.connect(path)
        held.append(c)
    except BlockingIOError:
        c.close()
        break
open(ready, "w").write(f"{len(held)}\n")
time.sleep(120)
PYEOF
	PIDS+=("$!")
	wait_until 30 "the listener that accepts nothing ($1)" test -e "$WORK/$1.ready"
}

# 4. a listener that accepts nothing, its backlog full
stuck_listener full
t0=$(date +%s%N)
rc=0
timeout 60 "$CTL" --socket "$WORK/full.sock" --timeout 1 stats 2>"$WORK/ctl.err" || rc=$?
dt_ms=$((($(date +%s%N) - t0) / 1000000))
dt=$((dt_ms / 1000)).$(printf %03d $((dt_ms % 1000)))
[[ $rc -eq 1 ]] || fail "cee-ctl --timeout 1 on a listener that accepts nothing: exit $rc after $dt s (expected 1; 124: hung)"
# about 1 s; an ignored --timeout gives up after cee-ctl's default, 10 s
((dt_ms >= 900 && dt_ms <= 3000)) || fail "cee-ctl --timeout 1 gave up after $dt s"
log "4. cee-ctl --timeout 1, backlog full: exit 1 after ${dt} s: $(cat "$WORK/ctl.err")"

# 5. four sinks with the longest specs (255 characters): `sinks` and --stats
# list every one (their 4 KiB buffers must hold them: a list that did not
# fit was answered "no sinks" and left out of --stats); a longer spec is
# refused at once, saying so (it was "File name too long" at its open)
LONG=$WORK/$(printf 'd%.0s' $(seq $((255 - ${#WORK} - 16))))
mkdir -p "$LONG"
rc=0
"$ENGINE" --no-huge -m 512 --no-pci --file-prefix "cee-ctls-$$-f" --vdev net_null0 -l 0,1 \
	--log-level=lib.eal:error -- --ip 10.9.0.1/24 --listen tcp:7:echo \
	--events "jsonl:$LONG/e10.jsonl" >"$WORK/f.log" 2>&1 || rc=$?
[[ $rc -eq 2 ]] && has "$WORK/f.log" "a sink is at most 255 characters" ||
	fail "a 256-character sink spec: exit $rc, $(tail -n 1 "$WORK/f.log")"
"$ENGINE" --no-huge -m 512 --no-pci --file-prefix "cee-ctls-$$-e" --vdev net_null0 -l 0,1 \
	--log-level=lib.eal:error -- --ip 10.9.0.1/24 --listen tcp:7:echo \
	--events "jsonl:$LONG/e1.jsonl" --events "jsonl:$LONG/e2.jsonl" \
	--events "jsonl:$LONG/e3.jsonl" --events "jsonl:$LONG/e4.jsonl" \
	--ctl-socket "$SOCK" --stats "$WORK/stats-e.json" >"$WORK/e.log" 2>&1 &
E=$!
PIDS+=("$E")
wait_until 60 "engine e ready" has "$WORK/e.log" "cee-engine: ready"
"$CTL" --socket "$SOCK" --timeout 10 --json sinks >"$WORK/sinks.json" ||
	fail "cee-ctl sinks with four long specs: exit $? ($(cat "$WORK/sinks.json"))"
# a reply that cannot be written (a full disk): exit 1 and why, as the
# engine's --stats does (cee-ctl exited 0, the listing lost)
for fmt in --json ""; do
	rc=0
	"$CTL" --socket "$SOCK" --timeout 10 $fmt sinks >/dev/full 2>"$WORK/full.err" || rc=$?
	[[ $rc -eq 1 ]] && has "$WORK/full.err" "writing the reply: No space left on device" ||
		fail "cee-ctl ${fmt:-(tables)} sinks into /dev/full: exit $rc, $(cat "$WORK/full.err")"
done
# ... or into a pipe whose reader is gone (cee-ctl conns | head -c 10): exit
# 1 and why, not killed by SIGPIPE (status 141, no message: review of
# session 33). The pipe's read end is closed before cee-ctl starts.
"$PY" - "$CTL" "$SOCK" "$WORK/pipe.err" <<'PY' || fail "cee-ctl into a pipe without a reader"
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
with open(sys.argv[3], "w") as err:
    p = subprocess.run([sys.argv[1], "--socket", sys.argv[2], "--timeout", "10", "--json", "sinks"],
                       stdout=w, stderr=err)  # (SIGPIPE at its default in the child)
os.close(w)
msg = open(sys.argv[3]).read()
assert p.returncode == 1 and "writing the reply: Broken pipe" in msg, (p.returncode, msg)
PY
kill -TERM "$E"
wait "$E" || fail "engine e exited non-zero at SIGTERM"
"$PY" - "$WORK/sinks.json" "$WORK/stats-e.json" "$LONG" <<'PY' || fail "the sinks' lists with long specs"
import json, sys
want = [f"jsonl:{sys.argv[3]}/e{i}.jsonl" for i in range(1, 5)]
assert all(len(w) == 255 for w in want), [len(w) for w in want]
got = [x["spec"] for x in json.load(open(sys.argv[1]))["sinks"]]
assert got == want, f"cee-ctl sinks: {len(got)} specs"
st = json.load(open(sys.argv[2]))
assert [x["spec"] for x in st.get("sinks", [])] == want, "--stats: the sinks list is missing or cut"
print(f"5. four sinks of {len(want[0])} characters each: cee-ctl sinks and --stats list them all")
PY
# 6. a sink that cannot open at start (a broker down), and a fifth sink:
# exit 2, and the message shows the spec with its password and token as
# *** (they were printed in clear: the journal kept a broker's password)
rc=0
"$ENGINE" --no-huge -m 512 --no-pci --file-prefix "cee-ctls-$$-g" --vdev net_null0 -l 0,1 \
	--log-level=lib.eal:error -- --ip 10.9.0.1/24 --listen tcp:7:echo \
	--events "nats://cee:PW-s3cret@127.0.0.1:1/cee?stream=S&token=TK-s3cret" >"$WORK/g.log" 2>&1 || rc=$?
[[ $rc -eq 2 ]] && has "$WORK/g.log" "events sink 'nats://cee:***@127.0.0.1:1" &&
	! has "$WORK/g.log" "s3cret" || fail "a sink that did not open: exit $rc, $(tail -n 2 "$WORK/g.log")"
rc=0
"$ENGINE" --no-huge -m 512 --no-pci --file-prefix "cee-ctls-$$-h" --vdev net_null0 -l 0,1 \
	--log-level=lib.eal:error -- --ip 10.9.0.1/24 --listen tcp:7:echo --events null: \
	--events null: --events null: --events null: \
	--events "nats://127.0.0.1:4222/cee?stream=S&password=PW-s3cret" >"$WORK/h.log" 2>&1 || rc=$?
[[ $rc -eq 2 ]] && has "$WORK/h.log" "password=***" && ! has "$WORK/h.log" "s3cret" ||
	fail "a fifth sink: exit $rc, $(tail -n 2 "$WORK/h.log")"
log "6. sinks refused at start: exit 2, their secrets shown as ***"

# 7. SIGTERM while the engine waits at start-up for a FIFO sink's reader:
# a stop (exit 0), not a failure (the open's EINTR was exit 2, "Interrupted
# system call"). Synchronised on the kernel's wait for the FIFO's reader.
mkfifo "$WORK/fifo"
"$ENGINE" --no-huge -m 512 --no-pci --file-prefix "cee-ctls-$$-i" --vdev net_null0 -l 0,1 \
	--log-level=lib.eal:error -- --ip 10.9.0.1/24 --listen tcp:7:echo \
	--events "jsonl:$WORK/fifo" >"$WORK/i.log" 2>&1 &
I=$!
PIDS+=("$I")
fifo_wait() { grep -q wait_for_partner "/proc/$I/wchan" 2>/dev/null; }
wait_until 60 "the engine waiting for the FIFO's reader" fifo_wait
kill -TERM "$I"
rc=0
wait "$I" || rc=$?
[[ $rc -eq 0 ]] && has "$WORK/i.log" "stopped during start-up" ||
	fail "SIGTERM while waiting for a FIFO's reader: exit $rc, $(tail -n 2 "$WORK/i.log")"
log "7. SIGTERM during start-up (a FIFO sink without its reader): exit 0"
# ... and a jsonl:unix: sink whose reader accepts nothing, its backlog full
# (a wedged control plane): SIGTERM was taken and connect() waited again, for
# ever. Synchronised on the kernel's wait for the listener's room.
stuck_listener stuck
"$ENGINE" --no-huge -m 512 --no-pci --file-prefix "cee-ctls-$$-l" --vdev net_null0 -l 0,1 \
	--log-level=lib.eal:error -- --ip 10.9.0.1/24 --listen tcp:7:echo \
	--events "jsonl:unix:$WORK/stuck.sock" >"$WORK/l.log" 2>&1 &
L=$!
PIDS+=("$L")
peer_wait() { grep -q unix_wait_for_peer "/proc/$L/wchan" 2>/dev/null; }
wait_until 60 "the engine waiting for the socket's reader to accept" peer_wait
kill -TERM "$L"
wait_until 10 "the engine's exit after SIGTERM" gone "$L"
rc=0
wait "$L" || rc=$?
[[ $rc -eq 0 ]] && has "$WORK/l.log" "stopped during start-up" ||
	fail "SIGTERM while connecting to a unix socket's reader: exit $rc, $(tail -n 2 "$WORK/l.log")"
log "7. SIGTERM during start-up (a jsonl:unix: reader that accepts nothing): exit 0"

# 8. the socket's own bounds (docs/control.md): 32 clients at a time, each
# exchange within 10 s. 32 clients that connect and say nothing hold every
# slot: a request waits (cee-ctl --timeout 3 gives up), and is answered once
# their deadline closes them (about 10 s after they came); 31 leave a slot.
# Guards against: silent clients locking the operator out for good (no
# deadline), or a limit other than the documented one.
engine j "$WORK/j.sock"
J=$EPID
wait_until 60 "engine j ready" has "$WORK/j.log" "cee-engine: ready"
"$PY" - "$WORK/j.sock" "$CTL" <<'PY' || fail "8. the socket's bounds: see above"
import socket, subprocess, sys, time
path, ctl = sys.argv[1], sys.argv[2]
def ctl_stats(timeout):
    t0 = time.monotonic()
    r = subprocess.run([ctl, "--socket", path, "--timeout", str(timeout), "stats"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return r.returncode, time.monotonic() - t0
def silent(n):
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        out.append(s)
    return out  # (accepted in turn, before any request that comes after them)
ok = True
def check(c, what):
    global ok
    if not c:
        print("FAIL: 8. " + what)
        ok = False
held = silent(31)
rc, dt = ctl_stats(3)
check(rc == 0, f"31 silent clients: cee-ctl stats exit {rc} after {dt:.1f} s (a slot was left)")
for s in held:
    s.close()
t0 = time.monotonic()
held = silent(32)
rc, dt = ctl_stats(3)
check(rc == 1, f"32 silent clients: cee-ctl --timeout 3 stats exit {rc} after {dt:.1f} s (expected 1: no slot)")
rc, dt = ctl_stats(20)
waited = time.monotonic() - t0
check(rc == 0, f"32 silent clients: cee-ctl --timeout 20 stats exit {rc} (their deadline frees the slots)")
check(8.5 <= waited <= 16, f"answered {waited:.1f} s after the silent clients came (their deadline: 10 s)")
closed = 0
for s in held:
    s.settimeout(5)
    try:
        while s.recv(4096):
            pass
        closed += 1
    except ConnectionResetError:
        closed += 1  # (the engine's RST: closed by it too)
    except OSError:
        pass  # (a timeout: not closed within 5 s)
check(closed == 32, f"{closed} of the 32 silent clients closed by the engine")
print(f"8. 31 silent clients: answered; 32: none until their deadline, {waited:.1f} s; all 32 closed")
sys.exit(0 if ok else 1)
PY
kill -TERM "$J"
wait "$J" || fail "8. engine j: exit status $?"
log "8. 32 clients at a time, each exchange within 10 s"

# 9. telemetry's /cee/stats of 8 shards: more than a 16 KiB reply holds
# (about 4.5 KiB a shard). DPDK's telemetry drops what does not fit without
# a word; the reply must say how many shards it shows ("shards", "shown",
# "truncated"), show whole shards only, and still total every shard.
# Guards against: a total of the shards shown (a control plane reading
# max_conns 24,576 of 65,536), a shard cut in half, or a reply that says
# nothing of what it left out. (net_null without rx: idle shards.)
"$ENGINE" --no-huge -m 1024 --no-pci --file-prefix "cee-ctls-$$-k" --vdev net_null0,no-rx=1 \
	--lcores '0@0,(1-8)@(0,1)' --log-level=lib.eal:error -- --ip 10.9.0.1/24 --listen tcp:7:echo \
	--events null: --poll-idle-us 200 --ctl-socket "$WORK/k.sock" >"$WORK/k.log" 2>&1 &
K=$!
PIDS+=("$K")
wait_until 60 "engine k ready" has "$WORK/k.log" "cee-engine: ready"
"$PY" - "cee-ctls-$$-k" "$IT_DIR" <<'PY' || fail "9. /cee/stats of 8 shards: see above"
import sys
sys.path.insert(0, sys.argv[2])
import ctlit
st = ctlit.telemetry(sys.argv[1], ["/cee/stats"])[0]["/cee/stats"]
shown = sorted(k for k in st if k.startswith("shard_"))
print(f"9. /cee/stats: shards {st.get('shards')} shown {st.get('shown')} truncated {st.get('truncated')}; "
      f"{shown}; total max_conns {st['total'].get('max_conns')}")
assert st["shards"] == 8, st["shards"]
assert st["truncated"] == 1 and 0 < st["shown"] < 8, (st["shown"], st["truncated"])
assert shown == [f"shard_{i}" for i in range(st["shown"])], shown
# whole shards: every shown one has the total's counters
for k in shown:
    assert set(st[k]) == set(st["total"]), f"{k}: {len(st[k])} counters, the total {len(st['total'])}"
    assert st[k]["max_conns"] == 8192, (k, st[k]["max_conns"])
assert st["total"]["max_conns"] == 65536, f"total max_conns {st['total']['max_conns']}: not every shard"
assert st["total"]["ring_capacity"] == 8 * st["shard_0"]["ring_capacity"], st["total"]["ring_capacity"]
PY
kill -TERM "$K"
wait "$K" || fail "9. engine k: exit status $?"
log "9. /cee/stats of 8 shards: truncated, said so, every shard totalled"

log "PASS test_ctl_socket"
