#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# jsonl:unix+ack: a reader killed under load loses nothing. cee-bench exports
# through the sink to ack_reader.py (a consumer that writes each event once
# and acknowledges what it wrote); mid-run the reader is stopped, so that the
# sink holds lines sent and not acknowledged, then killed (SIGKILL) and a new
# one started on the same socket path and files. cee-bench's shutdown waits
# for every line to be acknowledged.
#
# Must hold: the sink says it sent unacknowledged lines again (the path under
# test was taken); cee-bench exits 0 (its in-process audit passed and the
# sink went idle, everything acknowledged); the readers' file passes
# cee-audit (each event once, none missing, in order) and holds as many
# events as cee-bench exported.
#
# Guards against: lines lost in the socket buffer of a reader that went away
# (jsonl:unix: without acknowledgements loses them: the sink cannot know what
# was read), lines acknowledged but sent again as new, a new reader's stream
# starting inside a line, and a shutdown that does not wait for the
# acknowledgements.
#
# Usage: test_sink_ack.sh CEE_BENCH CEE_AUDIT [--keep]. No root needed.
set -euo pipefail
source "$(dirname "$0")/lib.sh" # it_log, it_fail, it_wait_until, it_file_has
log() { it_log "$@"; }
fail() { it_fail "$@"; }
wait_until() { it_wait_until "$@" || exit 1; }
BENCH=$(realpath "$1")
AUDIT=$(realpath "$2")
KEEP=${3:-}
PY=/usr/bin/python3

WORK=$(mktemp -d /tmp/cee-sink-ack.XXXXXX)
READER_PID=
BENCH_PID=
cleanup() {
	local rc=$?
	[[ -z $BENCH_PID ]] || kill "$BENCH_PID" 2>/dev/null || true
	[[ -z $READER_PID ]] || kill -KILL "$READER_PID" 2>/dev/null || true
	if [[ $rc -ne 0 || $KEEP == --keep ]]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
bigger() { [[ -e $1 ]] && (($(stat -c %s "$1") >= $2)); }

SOCK=$WORK/events.sock
start_reader() {
	rm -f "$WORK/ready"
	"$PY" "$IT_DIR/ack_reader.py" --unix "$SOCK" --out "$WORK/out.jsonl" --state "$WORK/state.json" \
		--ready "$WORK/ready" --stats "$WORK/stats.jsonl" 2>>"$WORK/reader.err" &
	READER_PID=$!
	wait_until 20 "the reader to listen" it_file_has "$WORK/ready" ready
}

start_reader
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then LCORES="0@1,1@1,2@0"; else LCORES="0@0,1@0,2@0"; fi
log "cee-bench --events jsonl:unix+ack:$SOCK"
"$BENCH" --no-huge -m 1024 --no-pci --file-prefix "cee-ack-$$" --lcores "$LCORES" \
	--log-level=lib.eal:error -- --json --duration 5 --concurrency 64 --close mix \
	--events "jsonl:unix+ack:$SOCK" >"$WORK/bench.json" 2>"$WORK/bench.err" &
BENCH_PID=$!
wait_until 60 "the reader to have written 20 MB" bigger "$WORK/out.jsonl" 20000000
# stopped first: the sink goes on sending into its socket until the buffer
# and then its window are full, all of it unacknowledged
kill -STOP "$READER_PID"
log "reader stopped at $(stat -c %s "$WORK/out.jsonl") bytes"
# lines sent and not read (so not acknowledged): the stopped reader's end of
# the socket holds them (ss: Recv-Q of the socket on $SOCK). (It waited for
# cee-bench's next once-a-second live line instead: a tick, not the state.)
unread() { ss -xnH 2>/dev/null | awk -v p="$SOCK" 'index($0, p) && $3 > 0 { f = 1 } END { exit !f }'; }
wait_until 30 "the stopped reader's socket to hold unread lines" unread
kill -KILL "$READER_PID"
wait "$READER_PID" 2>/dev/null || true
log "reader killed; another one started"
start_reader
rc=0
wait "$BENCH_PID" || rc=$?
BENCH_PID=
grep -v TELEMETRY "$WORK/bench.err" | tail -n 3
[[ $rc -eq 0 ]] || fail "cee-bench exited $rc (see $WORK/bench.err)"
grep -E "sending again [1-9][0-9]* line" "$WORK/bench.err" ||
	fail "the sink did not send unacknowledged lines again (the path under test was not taken)"
resent=0 # (summed by the shell: bc is not on a fresh Debian install)
for n in $(grep -oE "sending again [0-9]+ line" "$WORK/bench.err" | grep -oE "[0-9]+"); do
	resent=$((resent + n))
done
# the new reader writes its counts when the stream ends (cee-bench gone):
# wait for them before it is stopped (killed at once, it raced that write
# and the duplicate checks below read nothing)
wait_until 30 "the new reader's counts in stats.jsonl" it_file_has "$WORK/stats.jsonl" '"duplicates"'
kill "$READER_PID" 2>/dev/null || true
wait "$READER_PID" 2>/dev/null || true
READER_PID=
want=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["audit"]["events"])' "$WORK/bench.json")
got=$(grep -c . "$WORK/out.jsonl")
log "cee-audit of the readers' file ($got lines; cee-bench exported $want events)"
"$AUDIT" "$WORK/out.jsonl" >"$WORK/audit.txt" 2>&1 || { tail -n 5 "$WORK/audit.txt"; fail "cee-audit rejected the readers' file"; }
tail -n 1 "$WORK/audit.txt"
[[ $got -eq $want ]] || fail "the readers wrote $got events, cee-bench exported $want"
cat "$WORK/stats.jsonl"
# the new reader may have had again only lines the killed one had not
# acknowledged (at most those of its last checkpoint and after it): an
# acknowledged line sent again would be one more
# (checked in Python, its status the verdict: counts read wrong must fail,
# not compare empty)
"$PY" - "$WORK/stats.jsonl" "$resent" <<'PY' || fail "duplicates: see above"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
resent = int(sys.argv[2])
if not r:
    sys.exit("FAIL: no count record in stats.jsonl (the new reader's, one per stream it read)")
dups, bound = sum(x["duplicates"] for x in r), sum(x["unacked_before"] for x in r)
if dups > bound:
    sys.exit(f"FAIL: the new reader had again {dups} lines it had written; the killed one had at most {bound} unacknowledged")
if dups > resent:
    sys.exit(f"FAIL: the new reader had again {dups} lines; the sink said it sent again {resent}")
print(f"sent again {resent} lines; the killed reader had written {dups} of them (at most {bound} unacknowledged)")
PY
log "PASS test_sink_ack"
