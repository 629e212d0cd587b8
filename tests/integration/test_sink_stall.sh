#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Sinks that stall or fail lose nothing and stop nothing but admission
# (issue 14): a jsonl:unix: reader that stops reading, goes away and comes
# back, and one stalled at SIGTERM; beside it a healthy file sink.
#
# Guards against: a stalled Unix-socket reader blocking the engine's control
# thread (and with it every other sink and SIGTERM: the engine hung for
# ever); events dropped or repeated while a reader stalls or reconnects;
# established connections that stop working while admission is stopped;
# admission that never resumes; a failed sink ending the engine (it used to
# shut down when any sink failed); SIGTERM with a stalled reader that
# neither ends within --shutdown-timeout nor says what was not delivered.
#
# Phase 1: sink_reader.py reads the socket into a file; bp_client.py stops
#   it (SIGSTOP), churns until refused, checks the long connections echo and
#   that the file sink is ahead of the stopped reader, resumes it and checks
#   admission resumes. Both sinks then hold the same lines.
# Phase 2: the reader is killed (SIGKILL) and another one started on the
#   same path; new connections' events reach it after the sink reconnects.
# Phase 3: the reader is stopped again, bp_client.py --no-resume churns until
#   refused; SIGTERM must end the engine within --shutdown-timeout (plus
#   slack) with status 1 and a report of what it could not deliver. The file
#   sink has the whole stream (strict audit); the reader's part is a prefix
#   of it (audit --allow-live).
# Phase 4: a second SIGTERM ends the wait for a stalled sink at once.
# Synchronisation: ready files and lines, bp_client.py's exit, counts of
# closed events in the files (polled with deadlines), process exits.

set -euo pipefail
source "$(dirname "$0")/lib.sh"
it_parse_args "$@"
PORT=7
SHUTDOWN_TIMEOUT=3

CEE_CTL=$(dirname "${CEE_ENGINE:-/nonexistent}")/cee-ctl

it_require
[[ -x $CEE_CTL ]] || it_fail "cee-ctl not found beside the engine"
it_setup sink_stall

SOCK=$WORK/events.sock
READER_OUT=$WORK/reader.jsonl
FILE_SINK=$WORK/file.jsonl
FAILED=0
fail() {
	echo "FAIL: $*"
	FAILED=1
}

start_reader() {
	rm -f "$WORK/reader.ready"
	"$CEE_PYTHON" "$IT_DIR/sink_reader.py" --unix "$SOCK" --out "$READER_OUT" \
		--ready "$WORK/reader.ready" --eof "$WORK/reader.eof" &
	READER_PID=$!
	IT_PIDS+=("$READER_PID")
	it_wait_until 20 "the socket reader to listen" it_file_has "$WORK/reader.ready" ready ||
		it_fail "sink_reader.py did not start"
}

closed_re=$(it_type_re closed)
start_reader
it_start_engine 1 "$WORK/engine.log" \
	--ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" --listen "tcp:$PORT:echo" \
	--events "jsonl:unix:$SOCK" --events "jsonl:$FILE_SINK" --event-ring 256 \
	--shutdown-timeout "$SHUTDOWN_TIMEOUT" --idle-timeout 300 --time-wait 100 --poll-idle-us 50

PREFIX="cee-it-$$-$ENGINE_SEQ"
# sink_field IDX KEY: a field of `cee-ctl sinks --json`'s sink IDX.
sink_field() {
	"$CEE_CTL" --file-prefix "$PREFIX" --json sinks |
		"$CEE_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["sinks"][int(sys.argv[1])][sys.argv[2]])' "$1" "$2"
}

# ---- phase 1: a reader that stalls, then reads again ----
it_log "phase 1: the socket reader stalls"
rc=0
it_ns "$CEE_PYTHON" "$IT_DIR/bp_client.py" --server "$NETNS_ENGINE_IP:$PORT" \
	--reader-pid "$READER_PID" --log "$WORK/client1.json" \
	--other-sink "$FILE_SINK" --reader-out "$READER_OUT" || rc=$?
kill -CONT "$READER_PID" 2>/dev/null || true
[[ $rc -eq 0 ]] || fail "bp_client.py (phase 1) exit status $rc"
ACC1=$("$CEE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["accepted"])' "$WORK/client1.json")
it_wait_until 60 "$ACC1 closed events from the reader" it_at_least "$READER_OUT" "$closed_re" "$ACC1" ||
	fail "the reader got $(it_count "$READER_OUT" "$closed_re") closed events of $ACC1"
it_wait_until 30 "$ACC1 closed events in the file sink" it_at_least "$FILE_SINK" "$closed_re" "$ACC1" ||
	fail "the file sink got $(it_count "$FILE_SINK" "$closed_re") closed events of $ACC1"
# polled: the closed events are in both, the last destroyed (TIME-WAIT,
# 100 ms later) may still be on its way to one of them
it_wait_until 10 "the reader's stream to equal the file sink's" cmp -s "$READER_OUT" "$FILE_SINK" ||
	fail "the stalled reader's stream differs from the file sink's"

# ---- phase 2: the reader goes away, another comes ----
it_log "phase 2: the socket reader is killed and replaced"
kill -KILL "$READER_PID"
wait "$READER_PID" 2>/dev/null || true
cp "$READER_OUT" "$WORK/reader1.jsonl"
: >"$READER_OUT"
start_reader
it_ns "$CEE_PYTHON" - "$NETNS_ENGINE_IP" "$PORT" <<'PY' || fail "phase 2 clients"
import socket, sys
ok = 0
for i in range(20):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.sendall(b"phase2 %d" % i)
    want = len(b"phase2 %d" % i)
    got = b""
    while len(got) < want:
        b = s.recv(100)
        if not b:
            break
        got += b
    s.close()
    ok += got == b"phase2 %d" % i
sys.exit(0 if ok == 20 else 1)
PY
WANT2=$((ACC1 + 20))
it_wait_until 30 "$WANT2 closed events in the file sink" it_at_least "$FILE_SINK" "$closed_re" "$WANT2" ||
	fail "the file sink got $(it_count "$FILE_SINK" "$closed_re") closed events of $WANT2"
it_wait_until 30 "20 closed events from the new reader" it_at_least "$READER_OUT" "$closed_re" 20 ||
	fail "the new reader got $(it_count "$READER_OUT" "$closed_re") closed events of 20"
it_file_has "$WORK/engine.log" "recovered" || fail "the engine log does not say the sink recovered"
"$CEE_CTL" --file-prefix "$PREFIX" sinks
[[ $(sink_field 0 state) == ok && $(sink_field 0 failures) -ge 1 && $(sink_field 0 retries) -ge 1 ]] ||
	fail "cee-ctl sinks does not show the socket sink's failure and recovery"
[[ $(sink_field 1 failures) -eq 0 ]] || fail "the file sink failed"
# (bad_ext, a producer's fault, was kept by the sink and shown nowhere)
[[ $(sink_field 0 bad_ext) == 0 && $(sink_field 1 bad_ext) == 0 ]] ||
	fail "cee-ctl sinks: bad_ext missing or not 0"
# The old reader had read everything when it was killed: the two readers
# together hold the file sink's stream, once each (polled, as in phase 1:
# the last destroyed events may still be on their way)
readers_equal() { cat "$WORK/reader1.jsonl" "$READER_OUT" | cmp -s - "$FILE_SINK"; }
it_wait_until 10 "old + new reader to equal the file sink" readers_equal ||
	fail "old + new reader differ from the file sink"

# ---- phase 3: a reader stalled at SIGTERM ----
it_log "phase 3: the socket reader stalls at SIGTERM"
rc=0
it_ns "$CEE_PYTHON" "$IT_DIR/bp_client.py" --server "$NETNS_ENGINE_IP:$PORT" \
	--reader-pid "$READER_PID" --log "$WORK/client3.json" --no-resume --long 2 || rc=$?
[[ $rc -eq 0 ]] || fail "bp_client.py (phase 3) exit status $rc"
ACC3=$("$CEE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["accepted"])' "$WORK/client3.json")
WANT3=$((WANT2 + ACC3))
it_wait_until 30 "$WANT3 closed events in the file sink" it_at_least "$FILE_SINK" "$closed_re" "$WANT3" ||
	fail "the file sink got $(it_count "$FILE_SINK" "$closed_re") closed events of $WANT3"
"$CEE_CTL" --file-prefix "$PREFIX" sinks
held=$(sink_field 0 held)
behind=$(sink_field 0 behind)
((held + behind > 0)) || fail "cee-ctl sinks shows nothing held or behind for the stalled reader"
T0=$(date +%s.%N)
kill -TERM "$ENGINE_PID"
# While the engine waits for the stalled reader (up to 3 s), cee-ctl is
# answered (the shards' "stopping", or counters): the control socket was
# not served after SIGTERM, and a request waited in the backlog until exit.
# (3 s, not 1.5: cee-ctl's own start on a loaded machine; a request left in
# the backlog gets no answer at all, so it still fails)
t_ctl=$(date +%s%N)
"$CEE_CTL" --file-prefix "$PREFIX" --timeout 3 stats >"$WORK/ctl-stopping.out" 2>&1 || true
ctl_ms=$((($(date +%s%N) - t_ctl) / 1000000))
it_log "cee-ctl stats during shutdown, after $ctl_ms ms: $(head -c 200 "$WORK/ctl-stopping.out")"
((ctl_ms < 3000)) && grep -qE "stopping|\"total\"" "$WORK/ctl-stopping.out" ||
	fail "cee-ctl stats during shutdown not answered (after $ctl_ms ms)"
ENGINE_RC=0
it_wait_engine || ENGINE_RC=$? # (it_stop_engine's SIGTERM would be a second one)
T1=$(date +%s.%N)
took=$("$CEE_PYTHON" -c "print(round($T1 - $T0, 2))")
it_log "SIGTERM with the reader stalled: exit status $ENGINE_RC after $took s"
# Within --shutdown-timeout (3 s) and a margin still under the engine's
# default of 10 s: an ignored --shutdown-timeout (exit after over 10 s)
# fails. (+6, not +3: the shards' closes before the timeout starts, on a
# loaded machine; +10 would pass the ignored option)
"$CEE_PYTHON" -c "import sys; sys.exit(0 if $took <= $SHUTDOWN_TIMEOUT + 6 else 1)" ||
	fail "the engine took $took s to exit (--shutdown-timeout $SHUTDOWN_TIMEOUT)"
[[ $ENGINE_RC -eq 1 ]] || fail "engine exit status $ENGINE_RC with events undelivered (expected 1)"
it_file_has "$WORK/engine.log" "did not get" || fail "the engine did not report what it could not deliver"
grep -E "shutdown timeout|not delivered" "$WORK/engine.log" || true
kill -CONT "$READER_PID" 2>/dev/null || true
it_wait_until 30 "the reader to read to the end of the stream" it_file_has "$WORK/reader.eof" eof ||
	fail "the reader saw no end of stream after the engine exited"

# The healthy sink has all of it; the readers' part is a prefix of it.
it_audit "$FILE_SINK"
cat "$WORK/reader1.jsonl" "$READER_OUT" >"$WORK/readers.jsonl"
RL=$(wc -c <"$WORK/readers.jsonl")
FL=$(wc -c <"$FILE_SINK")
((RL < FL)) || fail "the stalled reader got everything ($RL bytes of $FL): nothing was held back"
head -c "$RL" "$FILE_SINK" | cmp -s - "$WORK/readers.jsonl" || fail "the readers' stream is not a prefix of the file sink's"
# It may end inside a line (the sink had written part of it when the engine
# stopped): the whole lines must audit.
"$CEE_PYTHON" -c 'import sys; b = open(sys.argv[1], "rb").read(); open(sys.argv[2], "wb").write(b[:b.rfind(b"\n") + 1])' \
	"$WORK/readers.jsonl" "$WORK/readers.lines.jsonl"
it_log "cee-audit --allow-live of the readers' part ($RL of $FL bytes)"
"$CEE_AUDIT" --allow-live "$WORK/readers.lines.jsonl" >/dev/null || fail "the readers' part does not audit"

# ---- phase 4: a second SIGTERM cuts the wait short ----
# A FIFO whose reader (this shell: opened, never read) stalls, and a
# --shutdown-timeout of 60 s: the first SIGTERM closes every connection and
# waits for the sink; the second ends the wait at once, reporting what is
# left, as the timeout does. Guards against: only SIGKILL could end the
# wait (up to a day's --shutdown-timeout), and it lost --stats.
it_log "phase 4: a second SIGTERM while the engine waits for a stalled FIFO reader"
FIFO=$WORK/events.fifo
mkfifo "$FIFO"
exec 7<>"$FIFO" # a reader that never reads: the 64 KiB pipe fills
it_start_engine 1 "$WORK/engine-second.log" --ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" \
	--listen "tcp:$PORT:echo" --events "jsonl:$FIFO" --events "jsonl:$WORK/second.jsonl" \
	--shutdown-timeout 60 --stats "$WORK/stats-second.json" --poll-idle-us 50
PREFIX="cee-it-$$-$ENGINE_SEQ"
it_ns "$CEE_PYTHON" - "$NETNS_ENGINE_IP" "$PORT" <<'PY' || fail "phase 4: the clients failed"
import socket, sys
for _ in range(400):  # about 4 events of 250 bytes each: well past 64 KiB
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
    s.sendall(b"x" * 16)
    assert s.recv(64) == b"x" * 16
    s.close()
PY
held_behind() { (($(sink_field 0 held) + $(sink_field 0 behind) > 0)); }
it_wait_until 20 "the FIFO sink to hold events" held_behind ||
	fail "phase 4: nothing held for the stalled FIFO reader"
PID=$ENGINE_PID
kill -TERM "$PID"
stopping() {
	local out
	out=$("$CEE_CTL" --file-prefix "$PREFIX" --timeout 2 stats 2>&1 || true)
	[[ $out == *stopping* ]]
}
it_wait_until 20 "the engine to take the first SIGTERM (cee-ctl: stopping)" stopping ||
	fail "phase 4: the engine did not say it was stopping"
T0=$(date +%s.%N)
kill -TERM "$PID"
ENGINE_RC=0
it_wait_engine || ENGINE_RC=$?
took=$("$CEE_PYTHON" -c "print(round($(date +%s.%N) - $T0, 2))")
exec 7<&-
it_log "second SIGTERM: exit status $ENGINE_RC after $took s (--shutdown-timeout 60)"
"$CEE_PYTHON" -c "import sys; sys.exit(0 if $took <= 10 else 1)" ||
	fail "phase 4: the engine took $took s after the second SIGTERM"
[[ $ENGINE_RC -eq 1 ]] || fail "phase 4: exit status $ENGINE_RC with events undelivered (expected 1)"
it_file_has "$WORK/engine-second.log" "a second stop signal" &&
	it_file_has "$WORK/engine-second.log" "did not get" ||
	fail "phase 4: the engine did not report the cut wait and what it left"
[[ -s $WORK/stats-second.json ]] || fail "phase 4: --stats not written"
it_audit "$WORK/second.jsonl"

# The counters at exit, on a full disk: said, and exit 1 (they were lost
# with exit 0). /dev/full opens, and every write to it fails with ENOSPC.
it_start_engine 1 "$WORK/engine-full.log" --ip "$NETNS_ENGINE_IP/$NETNS_PREFIX" \
	--listen "tcp:$PORT:echo" --events "jsonl:$WORK/full.jsonl" --stats /dev/full --poll-idle-us 50
ENGINE_RC=0
it_stop_engine || ENGINE_RC=$?
[[ $ENGINE_RC -eq 1 ]] || fail "--stats /dev/full: exit status $ENGINE_RC (expected 1: the counters were lost)"
it_file_has "$WORK/engine-full.log" "the counters were not written" ||
	fail "--stats /dev/full: the engine did not say the counters were lost"

[[ $FAILED -eq 0 ]] || it_fail "test_sink_stall failed"
it_log "PASS test_sink_stall"
