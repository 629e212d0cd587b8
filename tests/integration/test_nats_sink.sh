#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The NATS JetStream sink against a real broker: nats-server -js on a free
# port (nats-server missing is a failure: scripts/deps.sh installs it),
# cee-bench exporting through
# the sink, cee-tail reading the stream back into cee-audit.
#
#   0. hand-made batches (nats_craft) published out of order and twice:
#      cee-tail writes each record once, in order.
#   0c. a reader killed (SIGKILL) while it held batches waiting for an
#      earlier one: the broker delivers them again only after the consumer's
#      ack wait, so the next reader on the same durable must wait for them
#      (the server's unacknowledged count says they are out) rather than
#      give them up as a gap and then skip them as copies of what it wrote.
#   0d. a reader slower than the stream (its output blocked past the reorder
#      wait) with a batch stored after 600 others: the gap waits for it
#      (stream position), rather than skip it.
#   0g. the stream deleted under a reader: it finds its consumer gone and
#      exits 2 (not 0 at --idle-exit, as if it had read the stream whole).
#   0h. SIGTERM to a reader blocked on a stdout nobody reads: it exits.
#   0b. specs the sink must refuse at open, with a message: unknown option,
#      bad prefix, batch_bytes above the server's max_payload, a stream that
#      exists with other subjects, no server on the port.
#   1. jsonl, 100,000+ lifecycles: cee-tail's JSON Lines pass cee-audit
#      (exactly once, gapless, in order per shard) and hold as many events as
#      the sink had acknowledged and cee-bench's in-process audit saw.
#   2. binary with TLS (extension records): the same, converted by cee-tail
#      into lines identical to a jsonl sink's beside it.
#   2b. an engine given its id (--engine-id) started twice into the same
#      streams: the lines carry each start's run, binary ones converted alike,
#      and the stream audits clean per run.
#   2c. two NATS sinks of one engine on one stream at other batch bounds:
#      every batch of both stored (none taken for a copy of the other's).
#   3. the broker killed (SIGKILL) while cee-bench runs and started again on
#      the same store once the sink has reported the failure: every event
#      still reaches the stream once.
#   4. the broker stalled (SIGSTOP) for 3 s while cee-bench runs, then
#      continued: the sink's calls on the control thread (write, flush) never
#      waited on the stalled socket (max_call_us under 100 ms; libnats' socket
#      write deadline is 500 ms), a file sink beside it took every event, and
#      the stream still holds every event once.
#   5. a broker with a password, changed while cee-bench runs (configuration
#      reload) and changed back once the sink has been refused: libnats gives
#      up a connection refused twice, and the sink must make a new one when
#      the password is right again ("connected again"), with every event in
#      the stream once.
#   6. cee-engine (net_null, no traffic) with an idle NATS sink on that
#      broker: the password changed and changed back, then the broker killed
#      and SIGTERM. The sink must connect again and the engine exit 0 at
#      once (libnats 3.4.1 crashes when asked for the pending publishes of a
#      context that never published: the engine crashed at the new
#      connection and at shutdown; and a sink with nothing to deliver but no
#      broker held the shutdown for all of --shutdown-timeout).
#   6b. cee-engine with three NATS sinks holding events while the broker is
#      stalled (SIGSTOP): SIGTERM ends it within --shutdown-timeout (exit 1,
#      the undelivered events reported), not seconds later in the closes.
#   7. cee-tail on a broker that drops it as a slow consumer (max_pending
#      4 MiB, below cee-tail's first fetch): the deliveries lost with the
#      connection come back after the consumer's ack wait, and cee-tail must
#      wait for them rather than skip them as gaps (a 256-message fetch of
#      ~260 KiB batches overran the default 64 MiB once in CI and cee-tail
#      reported a gap in a stream that held every event).
#   8. a broker whose storage is full (max_file_store, most of it taken by
#      another stream): the broker refuses publishes (JetStream error 10023),
#      the sink holds its events and resends with backoff; once room is made
#      (the other stream deleted) every event reaches the stream once.
#
# Guards against: events lost or duplicated between the engine and the
# stream (a batch acknowledged before it was stored, a failed batch not
# resent, a resend stored twice, a resend re-encoded so its dedup id or
# content changed), batches out of order for a consumer, extension groups
# split from their event, binary batches converted wrong, a shutdown that
# exits before the last acknowledgements, a stalled broker holding the
# control thread (and with it every other sink and the control plane) in a
# libnats socket write, a sink that never connects again once libnats
# closed its connection, an idle sink that crashes the engine, and a reader
# that reports deliveries lost on the wire as gaps in the stream, and a
# broker out of storage that costs events, and a reader restarted after a
# crash that skips what its predecessor held, or a slow reader that skips
# what was stored but not yet delivered to it.
#
# Usage: test_nats_sink.sh CEE_BENCH CEE_TAIL CEE_AUDIT NATS_CRAFT [--keep]
# No root needed; no EAL hugepages.
set -euo pipefail
BENCH=$(realpath "$1")
ENGINE=$(dirname "$BENCH")/cee-engine
TAIL=$(realpath "$2")
AUDIT=$(realpath "$3")
CRAFT=$(realpath "$4")
KEEP=${5:-}
PY=/usr/bin/python3

# scripts/deps.sh installs it: missing is a broken set-up, not a skip
command -v nats-server >/dev/null || {
	echo "FAIL: nats-server not installed (scripts/deps.sh installs Debian's nats-server)" >&2
	exit 1
}
WORK=$(mktemp -d /tmp/cee-nats-test.XXXXXX)
SERVER_PID=
AUTH_PID=
FULL_PID=
BENCH_PID=
ENGINE_PID=
cleanup() {
	local rc=$?
	[[ -z $BENCH_PID ]] || kill "$BENCH_PID" 2>/dev/null || true
	[[ -z $AUTH_PID ]] || kill "$AUTH_PID" 2>/dev/null || true
	[[ -z $FULL_PID ]] || kill "$FULL_PID" 2>/dev/null || true
	[[ -z $ENGINE_PID ]] || kill -KILL "$ENGINE_PID" 2>/dev/null || true
	[[ -z $SERVER_PID || -z ${STOPPED:-} ]] || kill -CONT "$SERVER_PID" 2>/dev/null || true
	[[ -z $SERVER_PID ]] || kill "$SERVER_PID" 2>/dev/null || true
	[[ -z $SERVER_PID ]] || wait "$SERVER_PID" 2>/dev/null || true
	if [[ $rc -ne 0 || $KEEP == --keep ]]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

log() { echo "[$(date +%T.%3N)] $*"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
# wait_until SECONDS WHAT CMD...: CMD every 50 ms until it succeeds (a bounded
# poll on a condition, not a sleep standing in for synchronisation)
wait_until() {
	local limit=$1 what=$2
	shift 2
	local end=$((SECONDS + limit))
	until "$@"; do
		((SECONDS < end)) || fail "timed out after ${limit}s waiting for $what"
		sleep 0.05
	done
}
has() { [[ -e $1 ]] && grep -qF -- "$2" "$1"; }

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_server() { # [nats-server options]
	local n
	n=$(grep -c "Server is ready" "$WORK/server.log" 2>/dev/null || true)
	nats-server "$@" -js -sd "$WORK/js" -a 127.0.0.1 -p "$PORT" >>"$WORK/server.log" 2>&1 &
	SERVER_PID=$!
	wait_until 20 "nats-server ready on port $PORT" \
		eval '(( $(grep -c "Server is ready" "$WORK/server.log") > n ))'
}

# broker_whole STREAM NAME: after a SIGKILL and restart, the broker must give
# consumers the whole stream. nats-server 2.9.10 sometimes recovers it with
# its first messages hidden (nats_js.py's docstring): they are on its disk
# and counted, acknowledged, and never delivered, which read as batches cee
# lost. That mark alone (nothing cee does makes it) gets the broker a clean
# restart, which recovers them; the read-back's checks are unchanged after.
broker_whole() {
	local rc=0 state
	state=$("$PY" "$(dirname "$0")/nats_js.py" "127.0.0.1:$PORT" whole "$1") || rc=$?
	((rc == 0)) && return 0
	((rc == 3)) || fail "$2: stream $1 not whole after the restart: $state"
	log "NOTE $2: nats-server recovered $1 with its first messages hidden ($state; its fault before 2.9.17): restarting it cleanly"
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	start_server
	rc=0
	state=$("$PY" "$(dirname "$0")/nats_js.py" "127.0.0.1:$PORT" whole "$1") || rc=$?
	((rc == 0)) || fail "$2: stream $1 still not whole after a clean restart of the broker: $state"
	log "$2: after the clean restart: $state"
}

ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then LCORES="0@1,1@1,2@0"; else LCORES="0@0,1@0,2@0"; fi
bench() { # NAME ARGS...: cee-bench in the background, report in NAME.json
	local name=$1
	shift
	log "cee-bench $*"
	"$BENCH" --no-huge -m 1024 --no-pci --file-prefix "cee-nats-$$-$name" --lcores "$LCORES" \
		--log-level=lib.eal:error -- --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" &
	BENCH_PID=$!
}
bench_wait() {
	local name=$1 rc=0
	wait "$BENCH_PID" || rc=$?
	BENCH_PID=
	grep -v TELEMETRY "$WORK/$name.err" | tail -n 4
	[[ $rc -eq 0 ]] || fail "$name: cee-bench exited $rc (see $WORK/$name.err)"
}
# NAME SUBJECT-PREFIX STREAM: read the stream back, audit it, compare counts
tail_and_audit() {
	local name=$1 prefix=$2 stream=$3 want
	want=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["audit"]["events"])' "$WORK/$name.json")
	log "$name: cee-tail | cee-audit - ($want events expected)"
	local rc=0
	"$TAIL" "nats://127.0.0.1:$PORT/$prefix?stream=$stream&durable=check${TAIL_OPTS:-}" --from-start \
		--count "$want" --idle-exit 20000 2>"$WORK/$name.tail.err" |
		tee "$WORK/$name.jsonl" | "$AUDIT" - >"$WORK/$name.audit" 2>&1 || rc=$?
	cat "$WORK/$name.tail.err"
	tail -n 2 "$WORK/$name.audit"
	[[ $rc -eq 0 ]] || fail "$name: cee-audit rejected the stream read back (see $WORK/$name.audit)"
	"$PY" - "$WORK/$name.json" "$WORK/$name.tail.err" "$name" "${4:-}" <<'PYEOF'
import json, re, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
tail = open(sys.argv[2]).read()
name, failover, full = sys.argv[3], sys.argv[4] == "failover", sys.argv[4] == "full"
errs = []
def need(c, what):
    if not c:
        errs.append(what)
m = re.search(r"cee-tail: (\d+) messages, (\d+) events, (\d+) duplicates skipped, (\d+) reordered, (\d+) gaps", tail)
need(m is not None, "no cee-tail summary")
a, n = r["audit"], r["nats"][0]
need(a["ok"], "cee-bench's own audit failed")
if m:
    msgs, events, dups, reord, gaps = map(int, m.groups())
    need(events == a["events"], f"stream has {events} events, cee-bench exported {a['events']}")
    need(gaps == 0, f"{gaps} gaps")
    need(msgs == n["end"]["messages"] + dups, f"{msgs} messages read, sink acknowledged {n['end']['messages']} (+{dups} duplicates)")
need(n["end"]["events"] == a["events"], f"sink acknowledged {n['end']['events']} events of {a['events']}")
need(n["end"]["idle_after_s"] >= 0, "cee-bench gave up waiting for the acknowledgements")
need(n["end"]["inflight"] == 0 and n["end"]["sealed"] == 0, "sink not idle at the end")
if failover:
    need(n["end"]["disconnects"] >= 1, "the broker was not seen to go")
elif full:
    need(n["end"]["fail"]["api"] >= 1, "the broker never refused a publish")
else:
    done = r["lifecycles"] + r.get("lifecycles_drained", 0)  # all the audit saw
    need(done >= 100000 or name != "jsonl", f"only {done} lifecycles")
    need(sum(n["end"]["fail"].values()) == 0, f"failures on a healthy broker: {n['end']['fail']}")
print(f"{name}: {a['events']} events, {n['end']['messages']} messages, republished {n['end']['republished']}, "
      f"failures {n['end']['fail']}, duplicates acknowledged {n['end']['duplicates']}, sink {n['events_per_s']} events/s")
if errs:
    print("FAIL: " + "; ".join(errs))
    sys.exit(1)
PYEOF
}

start_server
log "nats-server on 127.0.0.1:$PORT, store $WORK/js"

# 0. cee-tail: reordering and duplicates, on batches made by hand
"$CRAFT" "nats://127.0.0.1:$PORT" craft TC || fail "nats_craft could not publish"
"$TAIL" "nats://127.0.0.1:$PORT/craft?stream=TC" --from-start --count 240 --idle-exit 10000 \
	--reorder-wait 5000 2>"$WORK/craft.tail.err" >"$WORK/craft.jsonl" || fail "craft: cee-tail failed"
cat "$WORK/craft.tail.err"
grep -q "15 messages, 240 events, 3 duplicates skipped, 3 reordered, 0 gaps" "$WORK/craft.tail.err" ||
	fail "craft: cee-tail's counts are not those of the batches published"
"$AUDIT" "$WORK/craft.jsonl" >"$WORK/craft.audit" 2>&1 || fail "craft: cee-audit rejected cee-tail's output"
"$PY" - "$WORK/craft.jsonl" <<'PYEOF' || fail "craft: records not in sseq order"
import json, sys
seq = [json.loads(l)["sseq"] for l in open(sys.argv[1])]
assert seq == list(range(1, 241)), seq[:50]
PYEOF
# the same durable again without --from-start (a restart with other flags):
# it resumes where it stopped (libnats refused a deliver policy other than
# the consumer's: exit 2)
rc=0
"$TAIL" "nats://127.0.0.1:$PORT/craft?stream=TC" --idle-exit 500 >"$WORK/craft2.jsonl" 2>"$WORK/craft2.err" || rc=$?
[[ $rc -eq 0 && ! -s $WORK/craft2.jsonl ]] || {
	cat "$WORK/craft2.err"
	fail "craft: cee-tail restarted without --from-start on its durable: exit $rc, $(grep -c . "$WORK/craft2.jsonl") lines"
}

# 0c. a reader killed while it held batches 2-5 (waiting for batch 1): the
# next one, on the same durable, must wait the ack wait for them
"$CRAFT" "nats://127.0.0.1:$PORT" crash TK 0,2,3,4,5 || fail "nats_craft could not publish"
CRASH_URL="nats://127.0.0.1:$PORT/crash?stream=TK&durable=crash"
"$TAIL" "$CRASH_URL" --from-start --reorder-wait 3000 --ack-wait 6000 \
	>"$WORK/crash1.jsonl" 2>"$WORK/crash1.err" &
CRASH_PID=$!
# the first reader killed once the server has it acknowledging batch 0
# (stream sequence 1) and holding batches 2-5 (sequences 2-5) unacknowledged
crash_state=
for ((i = 0; i < 200; i++)); do
	crash_state=$("$CRAFT" "nats://127.0.0.1:$PORT" --consumer TK crash 2>/dev/null) || true
	[[ $crash_state != "ack_pending 4 ack_floor 1" ]] || break
	kill -0 "$CRASH_PID" 2>/dev/null || break
	sleep 0.05
done
kill -KILL "$CRASH_PID" 2>/dev/null || true
wait "$CRASH_PID" 2>/dev/null || true
[[ $crash_state == "ack_pending 4 ack_floor 1" && $(grep -c . "$WORK/crash1.jsonl") -eq 20 ]] || {
	cat "$WORK/crash1.err"
	fail "crash: the first reader did not write batch 0 alone and hold 2-5 (server: $crash_state)"
}
"$CRAFT" "nats://127.0.0.1:$PORT" crash TK 1,6 || fail "nats_craft could not publish"
rc=0
"$TAIL" "$CRASH_URL" --from-start --reorder-wait 1000 --ack-wait 6000 --count 120 --idle-exit 30000 \
	>"$WORK/crash2.jsonl" 2>"$WORK/crash2.err" || rc=$?
cat "$WORK/crash2.err"
[[ $rc -eq 0 ]] || fail "crash: the second reader failed ($rc)"
# (its own held batches may come twice: they wait longer than the ack wait)
grep -q "[0-9]* messages, 120 events, [0-9]* duplicates skipped, [0-9]* reordered, 0 gaps" "$WORK/crash2.err" ||
	fail "crash: the second reader skipped batches its predecessor held, or miscounted"
grep -q "gaps wait for the rest" "$WORK/crash2.err" ||
	fail "crash: the second reader did not see its predecessor's batches unacknowledged at the server"
cat "$WORK/crash1.jsonl" "$WORK/crash2.jsonl" >"$WORK/crash.jsonl"
"$AUDIT" "$WORK/crash.jsonl" >"$WORK/crash.audit" 2>&1 || fail "crash: cee-audit rejected the two readers' output"
"$PY" - "$WORK/crash.jsonl" <<'PYEOF' || fail "crash: records not in sseq order"
import json, sys
seq = [json.loads(l)["sseq"] for l in open(sys.argv[1])]
assert seq == list(range(1, 141)), seq[:50]
PYEOF
log "crash: the restarted reader waited for its predecessor's batches"

# 0d. a reader slower than the stream: 800 batches, batch 200 stored last
# (as if resent). The first fetch (256 messages) writes 0-199, 800 KiB of
# lines, into a pipe its reader leaves unread for 3 s, and holds 201-255
# behind the gap (reorder wait 1 s); the next fetch comes after the wait.
# Batch 200 is stored but not yet delivered: the gap must wait for it, not
# be given up (the old reader skipped sseq 4001-4020, then took batch 200
# for a copy of what it had written)
"$CRAFT" "nats://127.0.0.1:$PORT" slowread TSR late:800:200 || fail "nats_craft could not publish"
rc=0
"$TAIL" "nats://127.0.0.1:$PORT/slowread?stream=TSR" --from-start --count 16000 --idle-exit 10000 \
	--reorder-wait 1000 2>"$WORK/slowread.err" | (sleep 3 && cat) >"$WORK/slowread.jsonl" || rc=$?
cat "$WORK/slowread.err"
[[ $rc -eq 0 ]] || fail "slow reader: cee-tail failed ($rc)"
grep -q "800 messages, 16000 events, 0 duplicates skipped, [0-9]* reordered, 0 gaps" "$WORK/slowread.err" ||
	fail "slow reader: cee-tail gave up a batch that was stored and not yet delivered"
"$AUDIT" "$WORK/slowread.jsonl" >"$WORK/slowread.audit" 2>&1 || fail "slow reader: cee-audit rejected cee-tail's output"
log "slow reader: the gap waited for the batch stored behind 600 others"

# 0e. a reader that joined a shard's stream mid-stream (its first batch
# stored is batch 1) and started it there after --reorder-wait; batch 0 is
# stored after that. Its events cannot be written in order any more: the
# old reader counted it as a copy of what it had written and exited 0,
# 20 events lost without a word. Now said and exit 1.
"$CRAFT" "nats://127.0.0.1:$PORT" joinlate TJ 1,2 || fail "nats_craft could not publish"
"$TAIL" "nats://127.0.0.1:$PORT/joinlate?stream=TJ" --from-start --reorder-wait 300 \
	--idle-exit 4000 >"$WORK/joinlate.jsonl" 2>"$WORK/joinlate.err" &
JL_PID=$!
for ((i = 0; i < 400; i++)); do # until batches 1 and 2 are written
	[[ $(grep -c . "$WORK/joinlate.jsonl") -lt 40 ]] || break
	kill -0 "$JL_PID" 2>/dev/null || break
	sleep 0.05
done
[[ $(grep -c . "$WORK/joinlate.jsonl") -eq 40 ]] || {
	cat "$WORK/joinlate.err"
	fail "join late: the reader did not start the shard at batch 1"
}
"$CRAFT" "nats://127.0.0.1:$PORT" joinlate TJ 0 || fail "nats_craft could not publish"
rc=0
wait "$JL_PID" || rc=$?
cat "$WORK/joinlate.err"
[[ $rc -eq 1 ]] || fail "join late: cee-tail exit $rc with a batch it could not write in order"
grep -q "sseq 1..20 came after this reader had started the shard at 21" "$WORK/joinlate.err" ||
	fail "join late: cee-tail did not say which batch came too late"
grep -q " 0 duplicates skipped, [0-9]* reordered, 0 gaps, 1 late" "$WORK/joinlate.err" ||
	fail "join late: counted as something else"
log "join late: a batch stored after the reader started past it is reported (exit 1)"

# 0g. the stream deleted under a reader that has read all it held: no more
# messages come (a stream the sink makes again is another consumer's). The
# old reader ran on until --idle-exit and exited 0, as if it had read the
# stream whole. Now it finds its consumer gone (5 s without a message) and
# exits 2, saying so; 2 still after a malformed batch (x, counted before
# the consumer went: its exit 1 overwrote the 2, review of session 33).
"$CRAFT" "nats://127.0.0.1:$PORT" gone TG 0,x || fail "nats_craft could not publish"
"$TAIL" "nats://127.0.0.1:$PORT/gone?stream=TG" --from-start --reorder-wait 300 \
	--idle-exit 60000 >"$WORK/gone.jsonl" 2>"$WORK/gone.err" &
GONE_PID=$!
for ((i = 0; i < 400; i++)); do # until batch 0 is written: the reader is in its loop
	[[ $(grep -c . "$WORK/gone.jsonl") -lt 20 ]] || break
	kill -0 "$GONE_PID" 2>/dev/null || break
	sleep 0.05
done
[[ $(grep -c . "$WORK/gone.jsonl") -eq 20 ]] || fail "gone: the reader did not write batch 0"
"$PY" "$(dirname "$0")/nats_js.py" "127.0.0.1:$PORT" delete TG >/dev/null || fail "gone: the stream could not be deleted"
rc=0
for ((i = 0; i < 300; i++)); do # 15 s: the 5 s check and its answer
	kill -0 "$GONE_PID" 2>/dev/null || break
	sleep 0.05
done
if kill -0 "$GONE_PID" 2>/dev/null; then
	kill "$GONE_PID"
	wait "$GONE_PID" || true
	cat "$WORK/gone.err"
	fail "gone: cee-tail still running 15 s after its stream was deleted"
else
	wait "$GONE_PID" || rc=$?
	cat "$WORK/gone.err"
	[[ $rc -eq 2 ]] || fail "gone: cee-tail exit $rc after its stream was deleted"
	grep -q "consumer 'cee-tail' on stream 'TG' is gone" "$WORK/gone.err" ||
		fail "gone: cee-tail did not say its consumer was gone"
fi
log "gone: a reader whose stream was deleted says so and exits 2"

# 0h. SIGTERM to a reader whose own stdout reader has stalled (a FIFO
# nobody reads: 16,000 events fill it). The old reader stayed blocked in
# write() for ever: libnats' threads took the signal, and an interrupted
# write that had moved some bytes was carried on by stdio. Now it exits
# within a few seconds, saying what it could not write.
"$CRAFT" "nats://127.0.0.1:$PORT" stall TSt late:800:100 >/dev/null || fail "nats_craft could not publish"
mkfifo "$WORK/stall.fifo"
exec {STALL_FD}<>"$WORK/stall.fifo" # open, never read
"$TAIL" "nats://127.0.0.1:$PORT/stall?stream=TSt" --from-start --reorder-wait 300 \
	--idle-exit 60000 >"$WORK/stall.fifo" 2>"$WORK/stall.err" &
ST_PID=$!
for ((i = 0; i < 400; i++)); do # until it is blocked writing into the full FIFO
	grep -q pipe_write "/proc/$ST_PID/wchan" 2>/dev/null && break
	kill -0 "$ST_PID" 2>/dev/null || break
	sleep 0.05
done
grep -q pipe_write "/proc/$ST_PID/wchan" 2>/dev/null || fail "stall: cee-tail never blocked on its stdout"
kill -TERM "$ST_PID"
for ((i = 0; i < 200; i++)); do # 10 s
	kill -0 "$ST_PID" 2>/dev/null || break
	sleep 0.05
done
if kill -0 "$ST_PID" 2>/dev/null; then
	kill -KILL "$ST_PID"
	wait "$ST_PID" || true
	fail "stall: cee-tail still blocked on its stdout 10 s after SIGTERM"
else
	rc=0
	wait "$ST_PID" || rc=$?
	cat "$WORK/stall.err"
	[[ $rc -eq 1 ]] || fail "stall: cee-tail exit $rc after SIGTERM with its output unwritten"
fi
exec {STALL_FD}<&-
log "stall: SIGTERM ends a reader blocked on its stalled stdout"

# 0b. refused at open
refused() { # SPEC WHAT: cee-bench must fail at start-up, saying WHAT
	local rc=0
	"$BENCH" --no-huge -m 1024 --no-pci --file-prefix "cee-nats-$$-bad" --lcores "$LCORES" \
		--log-level=lib.eal:error -- --duration 1 --events "$1" >/dev/null 2>"$WORK/bad.err" || rc=$?
	[[ $rc -ne 0 ]] || fail "spec '$1' was accepted"
	grep -qF -- "$2" "$WORK/bad.err" || { cat "$WORK/bad.err"; fail "spec '$1': no message '$2'"; }
	grep -qF "Invalid argument" "$WORK/bad.err" || [[ $3 == any ]] || { cat "$WORK/bad.err"; fail "spec '$1': not EINVAL"; }
}
refused "nats://127.0.0.1:$PORT/cee?stream=T&colour=blue" "unknown option 'colour'"
refused "nats://127.0.0.1:$PORT/cee.*" "bad subject prefix"
refused "nats://127.0.0.1:$PORT/cee?window=0" "bad value for window"
refused "nats://127.0.0.1:$PORT/cee?batch_bytes=1048576" "does not fit the server's max_payload"
refused "nats://127.0.0.1:$PORT/other?stream=TC" "exists on nats://127.0.0.1:$PORT without subject 'other.>'"
# a stream an operator made with messages of at most 64 KiB: the default
# batches (256 KiB) were refused by the server on every resend, for ever,
# while the small ones sealed by age were stored (holes for consumers)
"$PY" "$(dirname "$0")/nats_js.py" "127.0.0.1:$PORT" create TMS "small.>" 65536 >/dev/null ||
	fail "nats_js.py could not create stream TMS"
refused "nats://127.0.0.1:$PORT/small?stream=TMS" "takes messages of at most 65536 bytes (max_msg_size)"
CLOSED=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
refused "nats://127.0.0.1:$CLOSED/cee" "cannot connect to nats://127.0.0.1:$CLOSED" any
log "bad specs refused at open"

# 1. jsonl, 100,000 lifecycles
bench jsonl --conns 100000 --concurrency 256 --close mix \
	--events "nats://127.0.0.1:$PORT/cee?stream=T"
bench_wait jsonl
tail_and_audit jsonl cee T

# 2. binary, TLS: extension records (tls_up, closed) in binary batches; the
# same events through a jsonl sink beside it: cee-tail's conversion of the
# binary batches must give the very lines the engine's encoder wrote
bench binary --duration 2 --concurrency 64 --tls --close mix \
	--events "nats://127.0.0.1:$PORT/bin?stream=TB&format=binary&batch_bytes=65536" \
	--events "nats://127.0.0.1:$PORT/txt?stream=TT"
bench_wait binary
tail_and_audit binary bin TB
"$TAIL" "nats://127.0.0.1:$PORT/txt?stream=TT" --from-start --count "$(grep -c . "$WORK/binary.jsonl")" \
	--idle-exit 20000 2>/dev/null | sort >"$WORK/binary.jsonl.sorted.txt"
sort "$WORK/binary.jsonl" | cmp - "$WORK/binary.jsonl.sorted.txt" ||
	fail "binary: cee-tail's lines differ from the jsonl sink's"
log "binary: converted lines identical to the jsonl sink's"

# 2b. an engine given its id, started twice into the same streams (a
# restart: connection ids and sseq start again): every line carries its run
# (binary batches converted to those very lines), and the stream audits
# clean per run (before: one engine's ids and sseq twice, no run to tell)
for i in 1 2; do
	bench restart$i --conns 3000 --concurrency 64 --engine-id sbc-r \
		--events "nats://127.0.0.1:$PORT/rb?stream=TRB&format=binary" \
		--events "nats://127.0.0.1:$PORT/rt?stream=TRT"
	bench_wait restart$i
done
want=$("$PY" -c 'import json,sys; print(sum(json.loads(open(f).read().splitlines()[-1])["audit"]["events"] for f in sys.argv[1:]))' \
	"$WORK/restart1.json" "$WORK/restart2.json")
"$TAIL" "nats://127.0.0.1:$PORT/rb?stream=TRB" --from-start --count "$want" --idle-exit 20000 \
	2>"$WORK/restart.tail.err" | tee "$WORK/restart.jsonl" | "$AUDIT" - >"$WORK/restart.audit" 2>&1 ||
	fail "restart: the stream of two runs of one --engine-id does not audit (see $WORK/restart.audit)"
[[ $(grep -c '^engine sbc-r/r[0-9a-f]\{12\} .*OK$' "$WORK/restart.audit") == 2 ]] ||
	fail "restart: cee-audit does not report two runs of sbc-r (see $WORK/restart.audit)"
"$TAIL" "nats://127.0.0.1:$PORT/rt?stream=TRT" --from-start --count "$want" --idle-exit 20000 \
	2>/dev/null | sort >"$WORK/restart.txt.sorted"
sort "$WORK/restart.jsonl" | cmp - "$WORK/restart.txt.sorted" ||
	fail "restart: cee-tail's lines of binary batches differ from the jsonl sink's"
log "restart: two runs of sbc-r, $want events, audited per run; binary lines identical to jsonl"

# 2c. two NATS sinks of one engine on one stream, batching at other bounds
# (docs/nats.md allows it; cee-tail takes the overlaps): every batch of both
# must be stored. Before, the de-duplication id had no last sseq: a batch of
# one sink was dropped as a copy of the other's from the same sseq, and its
# sink counted it delivered (acknowledged as a duplicate) though the stream
# held only the shorter batch.
bench twosinks --conns 3000 --concurrency 64 \
	--events "nats://127.0.0.1:$PORT/two?stream=T2&batch_bytes=4096" \
	--events "nats://127.0.0.1:$PORT/two?stream=T2"
bench_wait twosinks
"$PY" - "$WORK/twosinks.json" <<'PYEOF' || fail "twosinks: a batch of one sink was taken for a copy of the other's"
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
ends = [n["end"] for n in r["nats"]]
print("twosinks: messages %s, duplicates %s, events %s of %d" % (
    [e["messages"] for e in ends], [e["duplicates"] for e in ends],
    [e["events"] for e in ends], r["audit"]["events"]))
assert all(e["events"] == r["audit"]["events"] for e in ends)
assert all(e["duplicates"] == 0 for e in ends)
PYEOF
stored=$("$PY" "$(dirname "$0")/nats_js.py" "127.0.0.1:$PORT" info T2 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["state"]["messages"])') ||
	fail "twosinks: no stream info"
sent=$("$PY" -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(sum(n["end"]["messages"] for n in r["nats"]))' "$WORK/twosinks.json")
[[ $stored == "$sent" ]] || fail "twosinks: the stream holds $stored messages of the $sent both sinks had acknowledged"
want=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["audit"]["events"])' "$WORK/twosinks.json")
"$TAIL" "nats://127.0.0.1:$PORT/two?stream=T2" --from-start --count "$want" --idle-exit 20000 \
	2>"$WORK/twosinks.tail.err" | "$AUDIT" - >"$WORK/twosinks.audit" 2>&1 ||
	fail "twosinks: the stream read back does not audit (see $WORK/twosinks.audit)"
tail -n 1 "$WORK/twosinks.tail.err"
log "twosinks: both sinks' $sent batches stored; $want events read back and audited"

# 3. the broker killed under load and started again on its store
bench failover --duration 6 --concurrency 256 \
	--events "nats://127.0.0.1:$PORT/fo?stream=TF&ack_wait_ms=1000"
wait_until 60 "cee-bench's first live line" has "$WORK/failover.err" "cee-bench: t="
log "killing nats-server (SIGKILL)"
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
wait_until 30 "the sink to report the lost connection" has "$WORK/failover.err" "disconnected from"
start_server
log "nats-server back"
bench_wait failover
has "$WORK/failover.err" "reconnected to" || fail "failover: the sink did not report reconnecting"
broker_whole TF failover
tail_and_audit failover fo TF failover

# 4. the broker stalled: SIGSTOP, not a crash (its sockets stay open)
bench stall --duration 6 --concurrency 256 \
	--events "nats://127.0.0.1:$PORT/st?stream=TS&ack_wait_ms=1000" \
	--events "jsonl:$WORK/stall.file.jsonl"
wait_until 60 "cee-bench's first live line" has "$WORK/stall.err" "cee-bench: t="
log "stopping nats-server (SIGSTOP) for 3 s"
kill -STOP "$SERVER_PID"
# (the stall itself is the condition under test: its length is not a
# synchronisation; the sink must be seen to lose the broker meanwhile)
sleep 3
kill -CONT "$SERVER_PID"
log "nats-server continued"
bench_wait stall
tail_and_audit stall st TS failover
"$PY" - "$WORK/stall.json" "$WORK/stall.file.jsonl" <<'PYEOF' || fail "stall: the control thread waited on the stalled broker"
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
n = r["nats"][0]["end"]
lines = sum(1 for l in open(sys.argv[2]) if '"type":"ext"' not in l)
print(f"stall: longest sink call on the control thread {n['max_call_us']:.0f} us, "
      f"calls over 1 ms {n['calls_over_1ms']}, file sink {lines} events of {r['audit']['events']}")
assert lines == r["audit"]["events"], "the file sink beside the stalled one lost events"
assert n["max_call_us"] < 100000, f"a sink call took {n['max_call_us']:.0f} us"
# the stall happened to the sink (its acks stopped: ack waits ran out, or
# the window filled), or the bound above held for nothing
felt = n["fail"]["timeout"] + n["window_full"] + n["republished"]
print(f"stall: ack timeouts {n['fail']['timeout']}, window full {n['window_full']}, "
      f"republished {n['republished']}")
assert felt > 0, "the sink never waited on the stopped broker"
PYEOF

# 5. authorisation refused, then accepted again: a second broker, configured
# with a password that is changed and reloaded under load
APORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
auth_conf() { # PASSWORD
	printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s" }\nauthorization { user: cee, password: %s }\n' \
		"$APORT" "$WORK/js-auth" "$1" >"$WORK/auth.conf"
}
auth_conf one
nats-server -c "$WORK/auth.conf" >"$WORK/auth-server.log" 2>&1 &
AUTH_PID=$!
wait_until 20 "the password broker ready" has "$WORK/auth-server.log" "Server is ready"
bench auth --duration 8 --concurrency 64 \
	--events "nats://127.0.0.1:$APORT/au?stream=TA&user=cee&password=one"
wait_until 60 "cee-bench's first live line" has "$WORK/auth.err" "cee-bench: t="
log "password changed on the broker (reload)"
auth_conf two
kill -HUP "$AUTH_PID"
wait_until 30 "the sink to be refused" has "$WORK/auth.err" "Authorization Violation"
log "password changed back"
auth_conf one
kill -HUP "$AUTH_PID"
bench_wait auth
has "$WORK/auth.err" "connected again" || fail "auth: the sink did not connect again"
PORT=$APORT TAIL_OPTS="&user=cee&password=one" tail_and_audit auth au TA failover

# 6. an idle sink: never published, its connection closed, then shut down
log "cee-engine, no traffic, NATS sink on the password broker"
"$ENGINE" --no-huge -m 512 --no-pci --file-prefix "cee-nats-$$-idle" --vdev net_null0 -l 0,1 \
	--log-level=lib.eal:error -- --ip 10.9.0.1/24 --listen tcp:7:echo --ctl-socket none \
	--shutdown-timeout 60 \
	--events "nats://127.0.0.1:$APORT/idle?stream=TI&user=cee&password=one" >"$WORK/idle.log" 2>&1 &
ENGINE_PID=$!
wait_until 30 "the engine ready" has "$WORK/idle.log" "cee-engine: ready"
auth_conf two
kill -HUP "$AUTH_PID"
wait_until 30 "the idle sink to be refused" has "$WORK/idle.log" "Authorization Violation"
auth_conf one
kill -HUP "$AUTH_PID"
wait_until 30 "the idle sink to connect again" has "$WORK/idle.log" "connected again"
# then the broker goes (SIGKILL) with nothing pending: SIGTERM must not wait
# out --shutdown-timeout (60 s) for a sink that has nothing to deliver
kill -KILL "$AUTH_PID"
wait "$AUTH_PID" 2>/dev/null || true
AUTH_PID=
wait_until 30 "the idle sink to see the broker gone" has "$WORK/idle.log" "disconnected from"
t_term=$SECONDS
kill -TERM "$ENGINE_PID"
rc=0
wait "$ENGINE_PID" || rc=$?
ENGINE_PID=
[[ $rc -eq 0 ]] || { tail -n 5 "$WORK/idle.log"; fail "idle: cee-engine exited $rc at SIGTERM"; }
((SECONDS - t_term < 30)) ||
	fail "idle: SIGTERM took $((SECONDS - t_term)) s with the broker down and nothing to deliver (--shutdown-timeout 60)"
log "idle: connected again; broker gone, nothing pending: exit 0 at SIGTERM in $((SECONDS - t_term)) s"

# 6b. SIGTERM with events held by three NATS sinks whose broker stalled
# (SIGSTOP): the engine must end within --shutdown-timeout (reporting what
# was not delivered), not wait more in the sinks' closes. Before, each sink
# waited a second more for acknowledgements and half a second in libnats'
# connection teardown (its write deadline), one sink after the other: 2 s
# became 6.5 s. The events: 20 links whose attempts end host_unreachable
# (no neighbour on net_null, about 3 s after the start), after the stall.
log "cee-engine, three NATS sinks, broker stalled, SIGTERM"
links=()
for i in $(seq 11 30); do links+=(--connect "l$i=tcp:10.9.0.$i:80"); done
"$ENGINE" --no-huge -m 512 --no-pci --file-prefix "cee-nats-$$-term" --vdev net_null0 -l 0,1 \
	--log-level=lib.eal:error -- --ip 10.9.0.1/24 --ctl-socket none --shutdown-timeout 2 \
	"${links[@]}" --events "jsonl:$WORK/term.jsonl" \
	--events "nats://127.0.0.1:$PORT/ta?stream=TTA" --events "nats://127.0.0.1:$PORT/tb?stream=TTB" \
	--events "nats://127.0.0.1:$PORT/tc?stream=TTC" >"$WORK/term.log" 2>&1 &
ENGINE_PID=$!
wait_until 30 "the engine ready" has "$WORK/term.log" "cee-engine: ready"
kill -STOP "$SERVER_PID"
STOPPED=1
wait_until 30 "link attempts to end after the broker stalled" has "$WORK/term.jsonl" '"host_unreachable"'
t_term=$(date +%s%N)
kill -TERM "$ENGINE_PID"
rc=0
wait "$ENGINE_PID" || rc=$?
ENGINE_PID=
ms=$((($(date +%s%N) - t_term) / 1000000))
kill -CONT "$SERVER_PID"
STOPPED=
grep -E "shutdown timeout|not acknowledged" "$WORK/term.log" | head -n 4
[[ $rc -eq 1 ]] || fail "term: cee-engine exited $rc at SIGTERM with events undelivered (expected 1)"
has "$WORK/term.log" "did not deliver" || fail "term: the undelivered events were not reported"
((ms < 3000)) || fail "term: SIGTERM took $ms ms with --shutdown-timeout 2 (three NATS sinks, broker stalled)"
log "term: exit 1 ${ms} ms after SIGTERM (--shutdown-timeout 2), undelivered events reported"

# 7. a reader the broker drops as a slow consumer: the main broker started
# again with a 4 MiB buffer per client (max_pending), below what cee-tail
# first asks for in one fetch (8 MiB), on stream T of phase 1 (~250 KiB
# messages). The deliveries lost with the connection come back only when the
# consumer's ack wait (5 s) runs out; gaps wait for them (reorder wait 1 s)
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
printf 'max_pending: 4MB\n' >"$WORK/slow.conf"
start_server -c "$WORK/slow.conf"
want=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["audit"]["events"])' "$WORK/jsonl.json")
slow_before=$(grep -c "Slow Consumer Detected" "$WORK/server.log" || true)
log "slow: cee-tail on a broker with max_pending 4 MiB ($want events expected)"
rc=0
"$TAIL" "nats://127.0.0.1:$PORT/cee?stream=T&durable=slow" --from-start --count "$want" \
	--idle-exit 20000 --reorder-wait 1000 --ack-wait 5000 2>"$WORK/slow.tail.err" |
	"$AUDIT" - >"$WORK/slow.audit" 2>&1 || rc=$?
grep -v "may have been lost" "$WORK/slow.tail.err" || true
tail -n 1 "$WORK/slow.audit"
(($(grep -c "Slow Consumer Detected" "$WORK/server.log") > slow_before)) ||
	fail "slow: the broker never dropped the reader (the path under test was not taken)"
has "$WORK/slow.tail.err" "deliveries may have been lost" ||
	fail "slow: cee-tail did not see its connection lost"
[[ $rc -eq 0 ]] || fail "slow: cee-audit rejected the stream read back (see $WORK/slow.audit)"
grep -q "messages, $want events, [0-9]* duplicates skipped, [0-9]* reordered, 0 gaps" "$WORK/slow.tail.err" ||
	fail "slow: cee-tail skipped a gap or miscounted (see $WORK/slow.tail.err)"
log "slow: dropped $(($(grep -c "Slow Consumer Detected" "$WORK/server.log") - slow_before)) time(s), every event read once"

# 8. the broker's storage full: a third broker with max_file_store 64 MB,
# 51 MB of it taken by another stream; the sink's stream fills the rest
# (26 MB of binary batches to come), the broker refuses publishes (JetStream
# error 10023) and the sink holds its events and resends; once it has said
# so, the other stream is deleted, and every event must reach the stream
FPORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s", max_file_store: 64MB }\n' \
	"$FPORT" "$WORK/js-full" >"$WORK/full.conf"
nats-server -c "$WORK/full.conf" >"$WORK/full-server.log" 2>&1 &
FULL_PID=$!
wait_until 20 "the small broker ready" has "$WORK/full-server.log" "Server is ready"
bench filler --conns 200000 --concurrency 64 \
	--events "nats://127.0.0.1:$FPORT/fill?stream=FILL&format=binary"
bench_wait filler
bench full --conns 100000 --concurrency 64 \
	--events "nats://127.0.0.1:$FPORT/full?stream=TFULL&format=binary"
wait_until 60 "the broker to refuse for want of storage" has "$WORK/full.err" "storage is full"
log "storage full; deleting stream FILL"
"$PY" "$(dirname "$0")/nats_js.py" "127.0.0.1:$FPORT" delete FILL >"$WORK/full-delete.json" ||
	fail "full: could not delete stream FILL: $(cat "$WORK/full-delete.json")"
bench_wait full
PORT=$FPORT tail_and_audit full full TFULL full
kill "$FULL_PID"
wait "$FULL_PID" 2>/dev/null || true
FULL_PID=

log "test_nats_sink: all phases passed"
