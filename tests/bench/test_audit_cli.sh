#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# cee-audit on small hand-made JSON Lines streams (no engine run, no root):
# what the program does with its input beyond the audit library's checks
# (tests/unit/test_audit.c): several FILEs under --allow-live, events that
# lack fields the writer always puts, close reasons of newer engines.
#
# Guards against (review of cee-audit):
#  - --allow-live leaving out a cut last line or record at the end of every
#    FILE, not only the last: a rotated piece that lost its end passed;
#  - an event without a field its type always carries (proto, local,
#    remote, shard, ts_ns; reason and the counters on closed; dir on a
#    schema 3 open) read as if it had a default value (tcp, 0.0.0.0:0,
#    reason none) instead of refused as bad input (exit 2);
#  - a close reason of a newer engine failing the whole read (exit 2)
#    where docs/events.md (Versioning) says a consumer takes it for a
#    cause it cannot act on: counted (unknown_reason) and reported.
#
# Usage: test_audit_cli.sh CEE_AUDIT PYTHON
set -euo pipefail
AUDIT=$1
PY=${2:-/usr/bin/python3}
WORK=$(mktemp -d /tmp/cee-audit-cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Streams: two clean TCP lifecycles per file (ids 1..4 on shard 0), as the
# jsonl sink writes them; variants of their lines.
"$PY" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
def life(conn, sseq, reason="peer_fin", v=3):
    base = {"v": v, "conn": "%016x" % conn, "shard": 0, "ts_ns": 1000 * conn, "proto": "tcp",
            "local": "10.0.0.1:7", "remote": "10.0.0.2:%d" % (40000 + conn)}
    o = dict(base, type="open", sseq=sseq, cseq=0)
    if v == 3:
        o = {**{k: o[k] for k in ("v", "type", "conn", "shard", "sseq", "cseq", "ts_ns", "proto")},
             "dir": "in", "local": o["local"], "remote": o["remote"]}
    return [o,
            dict(base, type="established", sseq=sseq + 1, cseq=1),
            dict(base, type="closed", sseq=sseq + 2, cseq=2, reason=reason, bytes_in=10,
                 bytes_out=10, duration_ns=5),
            dict(base, type="destroyed", sseq=sseq + 3, cseq=3)]
def text(lines):
    return "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines)
a = life(1, 1) + life(2, 5)
b = life(3, 9) + life(4, 13)
open(f"{w}/a.jsonl", "w").write(text(a))
open(f"{w}/b.jsonl", "w").write(text(b))
# a's last line cut short (no newline): a rotated piece that lost its end
t = text(a)
open(f"{w}/a_cut.jsonl", "w").write(t[:-20])
t = text(b)
open(f"{w}/b_cut.jsonl", "w").write(t[:-20])
PY

FAILED=0
# fail WHAT [NAME]: a check failed; NAME's output ($WORK/NAME.out) shown
fail() {
	[ -z "${2:-}" ] || tail -n 30 "$WORK/$2.out"
	echo "FAIL: $1"
	FAILED=1
}
# run NAME ARGS...: cee-audit ARGS, output in $WORK/NAME.out, exit status in $rc
run() {
	local name=$1
	shift
	rc=0
	"$AUDIT" "$@" >"$WORK/$name.out" 2>&1 || rc=$?
}

run clean "$WORK/a.jsonl" "$WORK/b.jsonl"
[ "$rc" = 0 ] || fail "two clean pieces: exit $rc, not 0" clean

# --allow-live: a cut line is left out at the end of the last FILE only.
run live_last --allow-live "$WORK/a.jsonl" "$WORK/b_cut.jsonl"
[ "$rc" = 0 ] && grep -q "the last line is cut" "$WORK/live_last.out" ||
	fail "--allow-live: the last FILE's cut last line (exit $rc, not 0)" live_last
run live_first --allow-live "$WORK/a_cut.jsonl" "$WORK/b.jsonl"
[ "$rc" = 2 ] && grep -q "a_cut.jsonl:8: .*only the last FILE may end cut short" "$WORK/live_first.out" ||
	fail "--allow-live: a FILE before the last ending cut short (exit $rc, not 2)" live_first
# ... and the binary sink's pieces the same way: a record cut short ends
# only the last FILE
"$PY" - "$WORK" <<'PY'
import struct, sys
w = sys.argv[1]
def rec(sseq, conn, typ, cseq, reason=0):  # struct cee_event, little-endian
    return struct.pack("<QQQQQQIIHHBBBB", sseq, conn, 1000 * conn, 0, 0, 0, 0x0a000001,
                       0x0a000002, 7, 40000 + conn, typ, reason, 0, cseq)
hdr = b"CEEEVT\0\0" + struct.pack("<II", 3, 64)
def life(conn, sseq):
    return b"".join(rec(sseq + i, conn, t, i, 1 if t == 4 else 0) for i, t in enumerate((0, 1, 4, 5)))
open(f"{w}/p1.bin", "wb").write(hdr + life(1, 1) + life(2, 5)[:-24])
open(f"{w}/p2.bin", "wb").write(hdr + life(3, 9))
open(f"{w}/p0.bin", "wb").write(hdr + life(1, 1))
open(f"{w}/p1b.bin", "wb").write(hdr + life(2, 5)[:-24])
PY
run bin_first --allow-live "$WORK/p1.bin" "$WORK/p2.bin"
[ "$rc" = 2 ] && grep -q "truncated last record.*only the last FILE" "$WORK/bin_first.out" ||
	fail "--allow-live: a binary FILE before the last ending cut short (exit $rc, not 2)" bin_first
run bin_last --allow-live "$WORK/p0.bin" "$WORK/p1b.bin"
[ "$rc" = 0 ] && grep -q "the last record is cut" "$WORK/bin_last.out" ||
	fail "--allow-live: the last binary FILE's cut record (exit $rc, not 0)" bin_last

# Events without a field the writer always puts on their type: bad input
# (exit 2) naming the field and the line, not an event with a default
# value (proto tcp, 0.0.0.0:0, reason none) audited as valid, or a
# violation (exit 1) of a close without its cause.
"$PY" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
lines = [json.loads(l) for l in open(f"{w}/a.jsonl")]
# (line index, type, key) of a.jsonl: one lifecycle is open, established,
# closed, destroyed
cases = [(0, "shard"), (0, "dir"), (0, "proto"), (1, "ts_ns"), (1, "proto"), (2, "local"),
         (2, "reason"), (2, "bytes_in"), (2, "bytes_out"), (2, "duration_ns"), (3, "remote"),
         (3, "cseq")]
names = []
for i, key in cases:
    v = [dict(l) for l in lines]
    assert key in v[i], (i, key)
    del v[i][key]
    name = f"miss_{v[i]['type']}_{key}"
    open(f"{w}/{name}.jsonl", "w").write(
        "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in v))
    names.append(f"{name} {i + 1} {key}")
# an "ext" line (a group the sink could not merge) without its shard
ext = {"v": 3, "type": "ext", "of": "tls_up", "conn": "0000000000000009", "sseq": 1, "xseq": 1}
open(f"{w}/miss_ext_shard.jsonl", "w").write(json.dumps(ext, separators=(",", ":")) + "\n")
names.append("miss_ext_shard 1 shard")
# a link_down without its reason (link_down repeats its closed's)
ld = [{"v": 3, "type": "open", "conn": "0000000000000001", "shard": 0, "sseq": 2, "cseq": 0,
       "ts_ns": 1, "proto": "tcp", "dir": "out", "local": "10.0.0.1:49152",
       "remote": "10.0.0.9:5060", "link": "l", "xseq": 1}]
base = {"v": 3, "conn": "0000000000000001", "shard": 0, "ts_ns": 1, "proto": "tcp",
        "local": "10.0.0.1:49152", "remote": "10.0.0.9:5060"}
ld.append(dict(base, type="established", sseq=3, cseq=1))
ld.append(dict(base, type="link_up", sseq=5, cseq=2, link="l", attempt=1, xseq=4))
ld.append(dict(base, type="closed", sseq=6, cseq=3, reason="peer_fin", bytes_in=0, bytes_out=0,
               duration_ns=1))
ld.append(dict(base, type="link_down", sseq=8, cseq=4, link="l", attempt=1, xseq=7))
ld.append(dict(base, type="destroyed", sseq=9, cseq=5))
open(f"{w}/miss_link_down_reason.jsonl", "w").write(
    "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in ld))
names.append("miss_link_down_reason 5 reason")
# ... and the same link stream with it audits clean
ld[4]["reason"] = "peer_fin"
open(f"{w}/link_ok.jsonl", "w").write(
    "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in ld))
open(f"{w}/missing.txt", "w").write("\n".join(names) + "\n")
PY
run link_ok "$WORK/link_ok.jsonl"
[ "$rc" = 0 ] || fail "a link's connection with every field: exit $rc, not 0" link_ok
while read -r name line key; do
	run "$name" "$WORK/$name.jsonl"
	[ "$rc" = 2 ] && grep -q "$name.jsonl:$line: missing field \"$key\"" "$WORK/$name.out" ||
		fail "a line without \"$key\" ($name): exit $rc, not 2 naming the field" "$name"
done <"$WORK/missing.txt"

# A close reason this cee-audit does not know (a newer engine's: reasons
# are appended within a schema version, docs/events.md Versioning): read,
# counted and reported (unknown_reason), not a read error (exit 2, as it
# was) nor a violation. A value that is no reason's name is bad input.
sed 's/"reason":"peer_fin"/"reason":"quantum_teardown"/' "$WORK/a.jsonl" >"$WORK/newreason.jsonl"
run newreason "$WORK/newreason.jsonl"
[ "$rc" = 0 ] && grep -q "^unknown_reason 2$" "$WORK/newreason.out" &&
	grep -q "^  (unknown) *2 " "$WORK/newreason.out" && grep -q "^result: OK" "$WORK/newreason.out" ||
	fail "closes with a reason of a newer engine: exit $rc, not 0 with unknown_reason 2" newreason
run newreason_json --json "$WORK/newreason.jsonl"
[ "$rc" = 0 ] && grep -q '"unknown_reason":2,' "$WORK/newreason_json.out" ||
	fail "--json: closes with a reason of a newer engine: exit $rc, not 0 with \"unknown_reason\":2" newreason_json
sed '0,/"reason":"peer_fin"/s//"reason":"Peer FIN"/' "$WORK/a.jsonl" >"$WORK/badreason.jsonl"
run badreason "$WORK/badreason.jsonl"
[ "$rc" = 2 ] && grep -q "badreason.jsonl:3: bad reason" "$WORK/badreason.out" ||
	fail "a reason that is no reason's name: exit $rc, not 2" badreason


# Lines that are no JSON (RFC 8259), or not the writer's, are bad input
# (exit 2, the line named): they passed, read as something else (review
# of session 33). A raw NUL in a value ("open\0garbage" read "open"; a conn
# with bytes after its 16 digits), a key twice ("sseq":9 then "sseq":4
# read 4, and the gap was hidden), a raw control byte, bytes that are not
# UTF-8 or a bad escape in a value the reader skips, leading zeros in an
# address. The seed stream (tests/fuzz/corpus/audit_reader/events.jsonl)
# carries extension values to spoil.
"$PY" - "$WORK" "$(dirname "$0")/../fuzz/corpus/audit_reader/events.jsonl" >"$WORK/nojson.txt" <<'PY'
import sys
w, seed = sys.argv[1], sys.argv[2]
lines = open(seed, "rb").read().split(b"\n")
def spoil(name, n, old, new):
    l = list(lines)
    assert old in l[n - 1], (name, l[n - 1])
    l[n - 1] = l[n - 1].replace(old, new, 1)
    open(f"{w}/{name}.jsonl", "wb").write(b"\n".join(l))
    print(name, n)
spoil("nul_type", 1, b'"type":"open"', b'"type":"open\x00garbage"')
spoil("nul_conn", 1, b'"conn":"0000000000000001"', b'"conn":"0000000000000001\x00zz"')
spoil("dup_sseq", 2, b'"sseq":2,', b'"sseq":2,"sseq":2,')
spoil("ctl_value", 3, b'"sni":"', b'"sni":"\x09')
spoil("bad_utf8", 3, b'"sni":"', b'"sni":"\xff')
spoil("bad_escape", 3, b'"sni":"', b'"sni":"\\q')
spoil("zero_addr", 1, b'"local":"10.0.0.1:5061"', b'"local":"010.0.0.1:5061"')
spoil("utf8_key", 1, b'"v":3,', b'"v":3,"k\xff":1,')
PY
while read -r name line; do
	run "$name" "$WORK/$name.jsonl"
	[ "$rc" = 2 ] && grep -q "$name.jsonl:$line: " "$WORK/$name.out" ||
		fail "a line that is no JSON or not the writer's ($name): exit $rc, not 2 naming line $line" "$name"
done <"$WORK/nojson.txt"

# Two different unknown reasons, a link's closed and its link_down (which
# repeats it): inconsistent, as in a binary stream (every unknown name was
# one number, 255, and the pair passed: review of session 33). The link
# stream is fuzz_seedgen's (tests/fuzz/corpus/audit_reader/events.jsonl).
SEED=$(dirname "$0")/../fuzz/corpus/audit_reader/events.jsonl
run linkseed "$SEED"
[ "$rc" = 0 ] || fail "the seed stream with a link: exit $rc, not 0" linkseed
sed -e '/"type":"closed","conn":"0000000000000002"/s/"reason":"tls_alert"/"reason":"future_a"/' \
	-e '/"type":"link_down"/s/"reason":"tls_alert"/"reason":"future_b"/' "$SEED" >"$WORK/twounknown.jsonl"
run twounknown "$WORK/twounknown.jsonl"
[ "$rc" = 1 ] && grep -q "^inconsistent *1$" "$WORK/twounknown.out" ||
	fail "closed future_a, its link_down future_b: exit $rc, not 1 with inconsistent 1" twounknown
sed -e '/"type":"closed","conn":"0000000000000002"/s/"reason":"tls_alert"/"reason":"future_a"/' \
	-e '/"type":"link_down"/s/"reason":"tls_alert"/"reason":"future_a"/' "$SEED" >"$WORK/oneunknown.jsonl"
run oneunknown "$WORK/oneunknown.jsonl"
[ "$rc" = 0 ] && grep -q "^unknown_reason 1$" "$WORK/oneunknown.out" ||
	fail "closed and its link_down with one unknown reason: exit $rc, not 0 with unknown_reason 1" oneunknown
# the JSON writers' name for a number they do not know (cee-tail converting
# a newer engine's binary batches): "reason_N", an unknown cause, not bad
# input ("?" was, exit 2)
sed -e '/"type":"closed","conn":"0000000000000002"/s/"reason":"tls_alert"/"reason":"reason_200"/' \
	-e '/"type":"link_down"/s/"reason":"tls_alert"/"reason":"reason_200"/' "$SEED" >"$WORK/reasonn.jsonl"
run reasonn "$WORK/reasonn.jsonl"
[ "$rc" = 0 ] && grep -q "^unknown_reason 1$" "$WORK/reasonn.out" ||
	fail "closed and its link_down with reason_200: exit $rc, not 0 with unknown_reason 1" reasonn

[ "$FAILED" -eq 0 ] || exit 1
echo "PASS test_audit_cli"
