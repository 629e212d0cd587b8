#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# cee-audit audits a stream several engines share (issue 14: a JetStream
# stream), per engine: two cee-bench runs (two engine instances, each with
# its own random engine id, and the same connection ids and sseq) written
# as JSON Lines and interleaved line by line must audit clean; the same
# lines without their "engine" key must not (they collide); a line repeated
# within one engine must not. Both runs also append to one binary file
# (version 4: a run record before each run's records): it must audit clean
# per run, and not without the second run record; a second run under the
# same engine id is audited on its own ("ID#2").
#
# An engine given its id (--engine-id) keeps it across restarts, while its
# connection ids and sseq start again: two runs of cee-bench --engine-id
# sbc-1 appended to one JSON Lines file must carry distinct "run" ids and
# audit clean per run; the same lines without "run" must not.
#
# Also a binary file of 300 runs (one appended by each restart): audited run
# by run, with a damaged run named.
#
# Guards against: an audit keyed by shard alone reporting another engine's
# events as duplicates or gaps (or, worse, passing a real duplicate of one
# engine because the other engine's copy "explains" it), and JSON events
# without the engine id, and a restart under the same --engine-id whose
# JSON events (connection 1 again, sseq 1 again) a consumer keyed by engine
# and id takes for the last run's, and a binary file two runs appended to that cannot
# be audited (sseq and connection ids start again with each run), and a
# file of more runs than cee-audit could keep audits of at once.
#
# Usage: test_audit_engines.sh CEE_BENCH CEE_AUDIT PYTHON
set -euo pipefail
BENCH=$1
AUDIT=$2
PY=${3:-/usr/bin/python3}
WORK=$(mktemp -d /tmp/cee-audit-engines.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then LCORES="0@1,1@1,2@0"; else LCORES="0@0,1@0,2@0"; fi

for i in 1 2; do
	"$BENCH" --no-huge -m 1024 --no-pci --file-prefix "cee-ae-$$-$i" --lcores "$LCORES" \
		--log-level=lib.eal:error -- --conns 3000 --events "jsonl:$WORK/e$i.jsonl" \
		--events "binary:$WORK/both.bin" \
		>"$WORK/b$i.out" 2>"$WORK/b$i.err" || {
		cat "$WORK/b$i.err"
		echo "FAIL: cee-bench run $i"
		exit 1
	}
done

for i in 3 4; do
	"$BENCH" --no-huge -m 1024 --no-pci --file-prefix "cee-ae-$$-$i" --lcores "$LCORES" \
		--log-level=lib.eal:error -- --conns 1000 --engine-id sbc-1 \
		--events "jsonl:$WORK/same.jsonl" >"$WORK/b$i.out" 2>"$WORK/b$i.err" || {
		cat "$WORK/b$i.err"
		echo "FAIL: cee-bench run $i"
		exit 1
	}
done

"$PY" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
s = [json.loads(l) for l in open(f"{w}/same.jsonl")]
runs = sorted({(d["engine"], d.get("run")) for d in s})
assert len(runs) == 2 and all(e == "sbc-1" and r for e, r in runs), f"runs {runs}: sbc-1 twice, each with its run"
def strip(d):
    d = dict(d); del d["run"]; return json.dumps(d, separators=(",", ":"))
open(f"{w}/same_norun.jsonl", "w").write("\n".join(strip(d) for d in s) + "\n")
print(f"same.jsonl: {len(s)} lines of runs {runs[0][1]} and {runs[1][1]} of sbc-1")
PY

"$PY" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
a = open(f"{w}/e1.jsonl").read().splitlines()
b = open(f"{w}/e2.jsonl").read().splitlines()
ea = {json.loads(l)["engine"] for l in a}
eb = {json.loads(l)["engine"] for l in b}
assert len(ea) == 1 and len(eb) == 1 and ea != eb, f"engine ids {ea} {eb}: one per run, distinct"
assert len(a) >= 12000 and len(b) >= 12000, (len(a), len(b))
mixed = [x for pair in zip(a, b) for x in pair] + a[len(b):] + b[len(a):]
open(f"{w}/mixed.jsonl", "w").write("\n".join(mixed) + "\n")
def strip(l):
    d = json.loads(l); del d["engine"]; return json.dumps(d, separators=(",", ":"))
open(f"{w}/noengine.jsonl", "w").write("\n".join(strip(l) for l in mixed) + "\n")
dup = mixed[:]
dup.insert(len(dup) // 2, a[len(a) // 3])   # one engine's line twice
open(f"{w}/dup.jsonl", "w").write("\n".join(dup) + "\n")
print(f"engines {ea.pop()} and {eb.pop()}: {len(a)} + {len(b)} lines")
PY

FAILED=0
# fail WHAT [REPORT]: a check failed (REPORT, a cee-audit report, shown)
fail() {
	[ -z "${2:-}" ] || tail -n 40 "$WORK/$2.out"
	echo "FAIL: $1"
	FAILED=1
}
# audits NAME: cee-audit passes $WORK/NAME; its report in $WORK/NAME.out
audits() { "$AUDIT" "$WORK/$1" >"$WORK/$1.out"; }
# violates NAME: cee-audit finds violations in $WORK/NAME (exit 1 and a
# VIOLATIONS report; not a usage or read error, exit 2, or a crash)
violates() {
	local rc=0
	"$AUDIT" "$WORK/$1" >"$WORK/$1.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] && grep -q "VIOLATIONS" "$WORK/$1.out"
}
# engines NAME PATTERN: how many of NAME's report lines match ^engine PATTERN
engines() { grep -c "^engine ${2:-}" "$WORK/$1.out" || true; }

audits mixed.jsonl || fail "two engines interleaved do not audit" mixed.jsonl
[ "$(engines mixed.jsonl)" = 2 ] || fail "cee-audit does not report two engines" mixed.jsonl
violates noengine.jsonl || fail "the same lines without engine ids audit clean (the check cannot fail)"
violates dup.jsonl || fail "a duplicate within one engine passed"
audits same.jsonl || fail "two runs of one --engine-id do not audit" same.jsonl
[ "$(engines same.jsonl 'sbc-1/r[0-9a-f]\{12\} .*OK$')" = 2 ] ||
	fail "cee-audit does not report the two runs of sbc-1" same.jsonl
violates same_norun.jsonl || fail "two runs of one id without \"run\" audit clean (the check cannot fail)"
# The binary file both runs appended to.
"$PY" - "$WORK" <<'PY' || FAILED=1
import json, struct, sys
w = sys.argv[1]
data = open(f"{w}/both.bin", "rb").read()
magic, version, size = struct.unpack_from("<8sII", data, 0)
assert magic == b"CEEEVT\0\0" and version == 4 and size == 64, (magic, version, size)
recs = [data[i:i + 64] for i in range(16, len(data), 64)]
runs = [i for i, r in enumerate(recs) if r[60] == 0x1e]
ids = [recs[i][8:40].rstrip(b"\0").decode() for i in runs]
want = [json.loads(open(f"{w}/e{k}.jsonl").readline())["engine"] for k in (1, 2)]
assert runs[0] == 0 and len(runs) == 2 and ids == want, (runs, ids, want)
# without the second run record: run 2's sseq start again inside run 1
open(f"{w}/norun.bin", "wb").write(data[:16] + b"".join(r for i, r in enumerate(recs) if i != runs[1]))
# the second run under the first one's id
same = bytearray(data)
off = 16 + runs[1] * 64 + 8
same[off:off + 32] = recs[0][8:40]
open(f"{w}/sameid.bin", "wb").write(same)
print(f"both.bin: runs of {ids[0]} and {ids[1]}, {len(recs) - 2} records")
PY
audits both.bin || fail "a binary file two runs appended to does not audit" both.bin
[ "$(engines both.bin '.*OK')" = 2 ] || fail "cee-audit does not report the binary file's two runs" both.bin
violates norun.bin || fail "the binary file without its second run record audits clean (the check cannot fail)"
audits sameid.bin && [ "$(engines sameid.bin '.*#2 .*OK')" = 1 ] ||
	fail "a second run under the same engine id is not audited on its own" sameid.bin
# A binary file rotated at SIGHUP: the new file starts with its header and
# the run's record again, and goes on with the run (docs/configuration.md).
# Run 1 of both.bin cut so: `cee-audit piece1 piece2` is one clean run (it
# was two: the first's open connections lost, the second's ghosts; `cat`
# put a header mid-stream and read every record after it askew), and
# piece2 alone is not.
"$PY" - "$WORK" <<'PY' || FAILED=1
import sys
w = sys.argv[1]
data = open(f"{w}/both.bin", "rb").read()
head, recs = data[:16], [data[i:i + 64] for i in range(16, len(data), 64)]
run2 = next(i for i in range(1, len(recs)) if recs[i][60] == 0x1e)
cut = run2 // 2
open(f"{w}/piece1.bin", "wb").write(head + b"".join(recs[:cut]))
open(f"{w}/piece2.bin", "wb").write(head + recs[0] + b"".join(recs[cut:run2]))
print(f"run 1 of both.bin in two pieces: {cut - 1} and {run2 - cut} records")
PY
"$AUDIT" "$WORK/piece1.bin" "$WORK/piece2.bin" >"$WORK/pieces.out" ||
	fail "the two pieces of a rotated binary file do not audit as one stream" pieces
violates piece2.bin || fail "the second piece alone audits clean (the check cannot fail)"
# Many runs: a binary file every restart appends to. 300 runs (the fuzz
# seed's one run, 16 events with TLS and WebSocket extension records, each
# after its own run record under one id) must audit clean run by run; one
# record taken out of run 200 must fail that run and no other. (cee-audit
# kept every run's audit to the end and refused more than 256 runs.)
SEED=$(dirname "$0")/../fuzz/corpus/audit_reader/events.bin
"$PY" - "$SEED" "$WORK" <<'PY' || FAILED=1
import sys
seed, w = sys.argv[1], sys.argv[2]
d = open(seed, "rb").read()
head, run = d[:16], d[16:]
assert run[60] == 0x1e and (len(run) // 64) > 4, "the seed is one version 4 run"
open(f"{w}/many.bin", "wb").write(head + run * 300)
k = len(run) // 64
drop = 16 + (199 * k + k // 2) * 64  # a record in the middle of run 200
many = head + run * 300
open(f"{w}/many_bad.bin", "wb").write(many[:drop] + many[drop + 64:])
PY
audits many.bin || fail "a binary file of 300 runs does not audit" many.bin
[ "$(engines many.bin 'seed-1\(#[0-9]*\)\? .*events 16  OK$')" = 300 ] ||
	fail "cee-audit does not report 300 clean runs of 16 events" many.bin
! audits many_bad.bin || fail "a run with a record missing passed"
[ "$(engines many_bad.bin '.*VIOLATIONS$')" = 1 ] && [ "$(engines many_bad.bin 'seed-1#200 .*VIOLATIONS$')" = 1 ] ||
	fail "the run with a record missing is not the one (and only one) reported" many_bad.bin
# Many runs of one --engine-id in JSON Lines (a NATS stream read back by
# cee-tail, an engine restarted 300 times): each run audited on its own,
# a run finished when a later one needs its room (it stopped at 256 runs:
# "more than 256 engines"); one line taken out of run 200 fails that run.
JSEED=$(dirname "$0")/../fuzz/corpus/audit_reader/events.jsonl
"$PY" - "$JSEED" "$WORK" <<'PY' || FAILED=1
import json, sys
seed, w = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in open(seed) if l.strip()]
def runs(drop=None, ids=False):
    out = []
    for k in range(300):
        for i, d in enumerate(lines):
            if (k, i) == drop:
                continue
            # ids: an engine id of its own per run, no run id (the default,
            # random at each start: a file sink appended to by restarts)
            e = {"v": d["v"], "engine": "e%03d" % k} if ids else \
                {"v": d["v"], "engine": "sbc-9", "run": "r%012x" % k}
            e.update((x, y) for x, y in d.items() if x != "v")
            out.append(json.dumps(e, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(out) + "\n"
open(f"{w}/runs.jsonl", "w").write(runs())
open(f"{w}/runs_bad.jsonl", "w").write(runs(drop=(199, len(lines) // 2)))
open(f"{w}/ids.jsonl", "w").write(runs(ids=True))
PY
# (review of cee-audit: 300 engine ids without run ids exited 2, "more
# than 256 engines"; the one seen longest ago with nothing open finishes)
audits ids.jsonl || fail "a JSON Lines stream of 300 engine ids, one run each, does not audit" ids.jsonl
[ "$(engines ids.jsonl 'e[0-9]* .*OK$')" = 300 ] ||
	fail "cee-audit does not report 300 clean engines" ids.jsonl
audits runs.jsonl || fail "a JSON Lines stream of 300 runs of one engine does not audit" runs.jsonl
[ "$(engines runs.jsonl 'sbc-9/r[0-9a-f]* .*OK$')" = 300 ] ||
	fail "cee-audit does not report 300 clean runs of sbc-9" runs.jsonl
! audits runs_bad.jsonl || fail "a run of 300 with a line missing passed"
[ "$(engines runs_bad.jsonl '.*VIOLATIONS$')" = 1 ] && [ "$(engines runs_bad.jsonl 'sbc-9/r0000000000c7 .*VIOLATIONS$')" = 1 ] ||
	fail "the run with a line missing is not the one (and only one) reported" runs_bad.jsonl
# A stream read while the engine writes it (session 18 review): its last
# line cut short is left out with --allow-live (it aborted the audit, exit
# 2); without --allow-live it still is a read error (exit 2).
head -c "$(($(stat -c %s "$WORK/e1.jsonl") - 40))" "$WORK/e1.jsonl" >"$WORK/cut.jsonl"
rc=0
"$AUDIT" --allow-live "$WORK/cut.jsonl" >"$WORK/cut.out" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q "the last line is cut" "$WORK/cut.out" ||
	fail "--allow-live: a stream whose last line is being written (exit $rc)" cut
rc=0
"$AUDIT" "$WORK/cut.jsonl" >"$WORK/cut2.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a cut last line without --allow-live: exit $rc, not 2" cut2
# ... and a binary file's last record cut short: the same (it stopped with
# "truncated last record" under --allow-live too)
head -c "$(($(stat -c %s "$WORK/both.bin") - 40))" "$WORK/both.bin" >"$WORK/cut.bin"
rc=0
"$AUDIT" --allow-live "$WORK/cut.bin" >"$WORK/cutb.out" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q "the last record is cut" "$WORK/cutb.out" ||
	fail "--allow-live: a binary file whose last record is being written (exit $rc)" cutb
# --allow-live excuses the open connections of each engine's last run only
# (review of cee-audit): a run that another run of its engine followed has
# ended, and its connections still open lost their closed for good (an
# engine that crashed and restarted); it passed under --allow-live.
"$PY" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
lines = open(f"{w}/same.jsonl").read().splitlines()
runs = []
for l in lines:
    r = json.loads(l)["run"]
    if not runs or runs[-1][0] != r:
        runs.append((r, []))
    runs[-1][1].append(l)
assert len(runs) == 2, [r for r, _ in runs]
(r1, a), (r2, b) = runs
# the last line of a run, cut: a connection's last event (destroyed) missing
assert json.loads(a[-1])["type"] == "destroyed" and json.loads(b[-1])["type"] == "destroyed"
open(f"{w}/crashed.jsonl", "w").write("\n".join(a[:-1] + b) + "\n")
open(f"{w}/running.jsonl", "w").write("\n".join(a + b[:-1]) + "\n")
PY
rc=0
"$AUDIT" --allow-live "$WORK/crashed.jsonl" >"$WORK/crashed.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "VIOLATIONS" "$WORK/crashed.out" ||
	fail "--allow-live: a run ended by the next run of its engine, a connection left open, passed (exit $rc)" crashed
rc=0
"$AUDIT" --allow-live "$WORK/running.jsonl" >"$WORK/running.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "--allow-live: the last run's open connection not excused (exit $rc)" running
violates running.jsonl || fail "without --allow-live: the last run's open connection passed"
# A version 4 file whose first run is engine "" (records before any run
# record, or a run record naming none), another run after it, then a
# version 3 file (review of cee-audit): the old file's records went to the
# finished audit of "", whose state was freed (a crash)
"$PY" - "$WORK" <<'PY'
import struct, sys
w = sys.argv[1]
def run(engine):  # struct cee_evbin_run: sseq, engine[32], ts_ns, reserved, type 0x1e
    return struct.pack("<Q32sQ12sB3s", 0, engine, 1, b"", 0x1E, b"")
hdr = lambda v: b"CEEEVT\0\0" + struct.pack("<II", v, 64)
assert len(run(b"")) == 64
open(f"{w}/runs_a.bin", "wb").write(hdr(4) + run(b"") + run(b"x1"))
open(f"{w}/runs_b.bin", "wb").write(hdr(3))
PY
rc=0
"$AUDIT" "$WORK/runs_a.bin" "$WORK/runs_b.bin" >"$WORK/runs_ab.out" 2>&1 || rc=$?
# (no events anywhere: the verdict is OK, exit 0, each run listed; any
# exit status up to 2 passed, so only a crash failed it)
[ "$rc" = 0 ] && grep -q "^result: OK" "$WORK/runs_ab.out" &&
	[ "$(grep -c "^engine " "$WORK/runs_ab.out")" = 3 ] ||
	fail "a version 4 file's run of engine \"\", then a version 3 file: exit $rc, not OK with 3 runs" runs_ab
# An accepted connection that ended in its handshake, as engines before
# session 13 wrote it (open at the SYN): schema 2 audits as it is (those
# engines wrote no other), schema 3 only with --open-at-syn
for v in 2 3; do
	"$PY" - "$WORK/atsyn$v.jsonl" "$v" <<'PY'
import json, sys
v = int(sys.argv[2])
base = {"v": v, "conn": "0000000000000001", "shard": 0, "ts_ns": 1, "proto": "tcp",
        "local": "10.0.0.1:7", "remote": "10.0.0.2:40000"}
lines = [dict(base, type="open", sseq=1, cseq=0),
         dict(base, type="closed", sseq=2, cseq=1, reason="handshake_timeout", bytes_in=0,
              bytes_out=0, duration_ns=1),
         dict(base, type="destroyed", sseq=3, cseq=2)]
if v == 3:
    lines[0]["dir"] = "in"
open(sys.argv[1], "w").write("".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines))
PY
done
audits atsyn2.jsonl || fail "a schema 2 stream of an engine before session 13 does not audit" atsyn2.jsonl
violates atsyn3.jsonl || fail "schema 3: an accepted connection's open not followed by established passed"
"$AUDIT" --open-at-syn "$WORK/atsyn3.jsonl" >"$WORK/atsyn3o.out" ||
	fail "schema 3 with --open-at-syn does not audit" atsyn3o
# The reader takes only what the writer could have written (review: each
# of these passed, exit 0, as the same stream): a short or upper-case conn
# id, a number with a leading zero, a bare word for a key it does not know,
# a line of another schema in an engine's stream (it switched the whole
# audit to the open-at-SYN rules of old engines), a line longer than any
# writer's (read whole into memory). Each: exit 2, saying which line.
cp "$WORK/e1.jsonl" "$WORK/strict.jsonl"
"$PY" - "$WORK" <<'PY'
import re, sys
w = sys.argv[1]
lines = open(f"{w}/strict.jsonl").read().splitlines()
def variant(name, i, fn):
    v = lines[:]
    v[i] = fn(v[i])
    assert v[i] != lines[i], name
    open(f"{w}/strict_{name}.jsonl", "w").write("\n".join(v) + "\n")
variant("shortconn", 5, lambda l: re.sub(r'"conn":"0*([0-9a-f]+)"', r'"conn":"\1"', l, count=1))
variant("upperconn", next(i for i, l in enumerate(lines) if re.search(r'"conn":"[0-9a-f]*[a-f]', l)), lambda l: re.sub(r'"conn":"([0-9a-f]+)"', lambda m: '"conn":"%s"' % m.group(1).upper(), l, count=1))
variant("leadzero", 7, lambda l: l.replace('"cseq":', '"cseq":0', 1))
variant("bareword", 9, lambda l: l[:-1] + ',"x":some words}')
variant("schema", 11, lambda l: l.replace('"v":3,', '"v":2,', 1))
variant("longline", 13, lambda l: l[:-1] + ',"x":"' + "y" * (2 << 20) + '"}')
PY
for v in shortconn upperconn leadzero bareword schema longline; do
	rc=0
	"$AUDIT" "$WORK/strict_$v.jsonl" >"$WORK/strict_$v.out" 2>&1 || rc=$?
	[ "$rc" = 2 ] && grep -q "strict_$v.jsonl:[0-9]*: " "$WORK/strict_$v.out" ||
		fail "a line the writer could not have made ($v): exit $rc" "strict_$v"
done
[ "$FAILED" -eq 0 ] || exit 1
echo "PASS test_audit_engines"
