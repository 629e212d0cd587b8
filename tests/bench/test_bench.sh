#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A short cee-bench run must pass its exactly-once audit, on a clean link
# and on one that loses, reorders and duplicates 1% of packets each way.
# The speed is not asserted (benchmarks report figures; tests assert
# behaviour).
#
# Guards against: events lost, duplicated or reordered at churn rates
# (plain TCP, TLS and WebSocket, whose tls_up, ws_up and closed carry
# extension records)
# (fault 3), a `closed` missing for connections that end by RST or by the
# server's FIN, retransmission/reassembly paths that leave connections
# behind (open without destroyed) when the link misbehaves, a bench whose
# audit passes vacuously (no lifecycles, or counts that do not add up), and,
# under a spoofed SYN flood (--syn-flood), spoofed connections in the events
# (with --syn-cookies always, and with auto, where the first --syn-backlog
# spoofed SYNs get a half-open slot before cookies engage: a passive
# connection is announced only when its handshake completes) or a generator
# that answers the SYN-ACKs sent to the spoofed addresses (RSTs would make
# the flood look like real connects).
#
# Usage: test_bench.sh CEE_BENCH PYTHON
set -euo pipefail
BENCH=$1
PY=${2:-/usr/bin/python3}
WORK=$(mktemp -d /tmp/cee-bench-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Two cores: control + engine shard share cpu 1, the generator has cpu 0.
ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then LCORES="0@1,1@1,2@0"; else LCORES="0@0,1@0,2@0"; fi

D2=2 D3=3

run() {
	local name=$1
	shift
	echo "== $name: cee-bench $*"
	local rc=0
	"$BENCH" --no-huge -m 1024 --no-pci --file-prefix "cee-bt-$$-$name" --lcores "$LCORES" \
		--log-level=lib.eal:error -- --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
	tail -n 5 "$WORK/$name.err"
	if [ "$rc" -ne 0 ]; then
		echo "FAIL: $name: cee-bench exited $rc"
		cat "$WORK/$name.err"
		cat "$WORK/$name.json"
		exit 1
	fi
	"$PY" - "$WORK/$name.json" "$name" <<'PYEOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
name = sys.argv[2]
a = r["audit"]
errs = []
def need(cond, what):
    if not cond:
        errs.append(what)
need(a["ok"] is True, "audit not ok")
for k in ("lost", "duplicate", "out_of_order", "gaps"):
    need(a[k] == 0, f"audit {k}={a[k]}")
# enough lifecycles that the audit is not vacuous: a TLS handshake under
# ASan on a loaded 2-CPU machine runs at a few hundred per second (292 in
# the second of an ASan run beside a fuzzer, 356 with the drain's; 362-370
# in CI's): 125 a second of the run is a third of that, ample for the audit
# (the audit's: the measured phase's and the drain's)
floor = 125 * round(r["seconds"]) if "tls" in r else 1000
if name.endswith("_writable"):  # (--conns 300: every one, however long they took)
    floor = 300
done = r["lifecycles"] + r["lifecycles_drained"]
need(done >= floor, f"only {done} lifecycles (floor {floor})")
# Every connection the engine opened was closed and destroyed exactly once,
# and the exported count is exactly four events per connection (open,
# established, closed, destroyed) less the established of any connection
# that never completed its handshake.
need(a["opens"] == a["closes"] == a["destroys"], f"opens/closes/destroys {a['opens']}/{a['closes']}/{a['destroys']}")
need(a["opens"] >= done, "fewer engine opens than client lifecycles")
# exported records: lifecycle events and, with TLS, their extension records
need(r["events"] == a["events"] + a["ext"], "exported != audited")
need(a["ext_bad"] == 0, f"{a['ext_bad']} bad extension groups")
if r.get("layers", "tcp") != "tcp":
    need(a["ext"] >= a["opens"], f"{a['ext']} extension records for {a['opens']} layered connections")
else:
    need(a["ext"] == 0, f"{a['ext']} extension records without TLS")
tls = "tls" in r
# TLS adds tls_up, WebSocket ws_up: [3,4..6] lifecycle events per connection
# (extension records are records of the stream, not events)
top = {"tcp": 4, "tls": 5, "ws": 5, "wss": 6}[r.get("layers", "tcp")]
need(a["events"] <= top * a["opens"] and a["events"] >= 3 * a["opens"],
     f"events per connection not in [3,{top}]")
if tls:
    t = r["tls"]
    need(t["handshakes"] >= r["lifecycles"], f"{t['handshakes']} TLS handshakes for {r['lifecycles']} lifecycles")
    if name == "tls_resume":
        # every handshake but the first wave's (the --concurrency opened
        # before any session existed) resumed; a share (90%) made a slow
        # run fail: 532 of 596 is all but 64
        need(t["resumed"] >= t["handshakes"] - r["concurrency"],
             f"only {t['resumed']} of {t['handshakes']} resumed (concurrency {r['concurrency']})")
    else:
        need(t["resumed"] == 0, f"{t['resumed']} resumed without --tls-resume")
if "monitor" in r:
    # each generator connection watched by id fires exactly once, at its
    # close (none is gone when watched, none fires twice or never)
    mo = r["monitor"]
    need(mo["failed"] == 0 and mo["gone"] == 0, f"monitors not added or gone: {mo}")
    need(mo["fired"] == mo["opened"] and mo["opened"] >= r["lifecycles"], f"monitors fired {mo}")
# every run, lossy ones too: the echo came back byte for byte, and no
# connection was left open after the drain (a stuck one closed with
# `shutdown` at teardown and passed the audit unnoticed)
need(r["echo_mismatch"] == 0, f"{r['echo_mismatch']} echoes differed from what was sent")
need(r["stalled"] == 0, f"{r['stalled']} connections still open after the drain")
if name.endswith("_writable"):
    # a 64 KiB payload through a 20 KiB (WebSocket: 8 KiB) send buffer: sends refused for room
    # (-EAGAIN) and resumed from the writable hook, every lifecycle whole
    need(r["send_waits"] > 0, "no send waited for room: the payload fit after all")
    need(r["lifecycles"] + r["lifecycles_drained"] == 300, "not every lifecycle finished")
if name.endswith("impaired"):
    need(r["link"]["lost"] > 0 and r["link"]["reordered"] > 0 and r["link"]["duplicated"] > 0,
         f"impairment not applied: {r['link']}")
    need(r["retransmits"] > 0, "no retransmissions on a lossy link")
else:
    need(r["errors"] == 0, f"{r['errors']} client errors on a clean link")
f = r["syn_flood"]
if f["pps_offered"] > 0:
    # spoofed SYNs went out, the engine answered them (cookies), the
    # generator dropped the answers to addresses not its own without an RST,
    # and with --syn-cookies always none of them became a connection
    need(f["sent"] > 0, "no spoofed SYN sent")
    # (on a lossy link the generator may RST a late segment of its own
    # connections: only a clean run says the flood was never answered)
    if r["retransmits"] == 0:
        need(f["gen_rst_no_conn"] == 0, f"generator sent {f['gen_rst_no_conn']} RSTs")
    else:  # (said, not silent: the guard did not run this time)
        print(f"{name}: {r['retransmits']} retransmits: the generator's RSTs "
              f"({f['gen_rst_no_conn']}) not held to 0 this run")
    need(f["gen_not_for_us"] > 0, "no SYN-ACK to a spoofed address came back")
    need(f["opens_legit"] + f["opens_spoofed"] == a["opens"], "open events not all classified")
    need(f["opens_spoofed"] == 0, f"{f['opens_spoofed']} spoofed opens with cookies {f['syn_cookies']}")
    if f["syn_cookies"] == "auto":
        # the backlog filled with spoofed half-open connections, then cookies
        need(f["half_open_peak"] >= 1024, f"half-open peak {f['half_open_peak']} below --syn-backlog")
        need(f["cookies_sent"] > 0, "cookies never engaged")
    if f["syn_cookies"] == "always":
        # (the SYNs still on the link at shutdown are not answered)
        need(f["cookies_sent"] >= 0.9 * f["sent"], "fewer cookies than spoofed SYNs")
else:
    need(f["opens_spoofed"] == 0, f"{f['opens_spoofed']} opens from outside the generator")
print(f"{name}: lifecycles={r['lifecycles']} cps={r['cps']} events={r['events']} "
      f"audit ok={a['ok']} errors={r['errors']} link={r['link']}")
if errs:
    print("FAIL: " + "; ".join(errs))
    sys.exit(1)
PYEOF
}

run clean --duration $D2 --concurrency 256
run mix --duration $D2 --concurrency 256 --close mix --monitor
run impaired --duration $D3 --concurrency 256 --close mix --loss 0.01 --reorder 0.01 --dup 0.01
# TLS on both sides: tls_up and closed carry extension records the audit checks
run tls --duration $D2 --concurrency 64 --tls --close mix
run tls_resume --duration $D2 --concurrency 64 --tls-resume
# two 16 KiB records each way: the send buffer was sized for the payload
# alone, a record did not fit, and every connection was aborted with
# no_resources (review of cee-bench, session 32)
run tls_big --duration $D2 --concurrency 64 --tls --payload 32768
# an app's TLS payload bigger than its send buffer (session 33): the room
# (cee_shard_send_room), -EAGAIN without a cut record, and writable when
# ACKs make room; before, a record that did not fit cut the stream and the
# connection was aborted (no_resources)
run tls_writable --conns 300 --concurrency 32 --tls --payload 65535 --gen-sndbuf 20480
# the same through WebSocket, a message per piece (session 34): a ws
# app's -EAGAIN and writable had no test. (The generator bounds the
# messages it takes by its own --ws-max-message, set to 64 KiB here: the
# default follows the send buffer, 4080 at 8 KiB, and refused the echoes.)
run ws_writable --conns 300 --concurrency 32 --ws --payload 65535 --gen-sndbuf 8192
run wss_writable --conns 300 --concurrency 32 --wss --payload 65535 --gen-sndbuf 20480
run tls_impaired --duration $D3 --concurrency 64 --tls --close mix --loss 0.01 --reorder 0.01 --dup 0.01
# WebSocket: upgrade, a message each way, the Close handshake (or RST)
run ws --duration $D2 --concurrency 256 --ws --close mix
run ws_impaired --duration $D3 --concurrency 256 --ws --close mix --loss 0.01 --reorder 0.01 --dup 0.01 --monitor
run wss --duration $D2 --concurrency 64 --wss --close mix
# spoofed SYNs beside the churn: cookies answer them, the events hold only
# the generator's connections. (--max-conns 65536: an event ring of 100 ms
# at these rates, not 26 ms. On 2 CPUs the control thread, whose audit
# takes 2.5 million events a second here, shares the engine shard's CPU; a
# scheduler slice of tens of milliseconds filled the default ring, and the
# shard then refused SYNs by design (its reader stalled): 7,563 client
# errors in CI at 637k lifecycles/s, which this test is not about)
run synflood --duration $D2 --concurrency 256 --syn-flood 50000 --syn-cookies always --max-conns 65536
run synflood_auto --duration $D2 --concurrency 256 --syn-flood 50000 --syn-cookies auto --max-conns 65536
# --hold on 3 shards (128 table entries do not split evenly): every one of
# the 3000 connections is held. Slots sized at the concurrency gave the
# shard with the fewest entries 985 for its 1000: "2985 of 3000 up", and
# connect_fail grew on every poll (review of cee-bench, session 32)
rc=0
"$BENCH" --no-huge -m 1024 --no-pci --file-prefix "cee-bt-$$-hold" \
	--lcores "0@1,1@1,2@1,3@1,4@0,5@0,6@0" --log-level=lib.eal:error -- \
	--json --hold --shards 3 --concurrency 3000 --duration 1 >"$WORK/hold.json" 2>"$WORK/hold.err" || rc=$?
tail -n 3 "$WORK/hold.err"
"$PY" - "$WORK/hold.json" "$rc" <<'PYEOF' || exit 1
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(f"hold: rc {sys.argv[2]}, held {r['hold_established']} of {r['concurrency']}, "
      f"connect_fail {r['connect_fail']}, errors {r['errors']}")
if sys.argv[2] != "0" or r["hold_established"] != 3000 or r["connect_fail"] != 0:
    print("FAIL: hold: not every connection of --concurrency 3000 on 3 shards was held")
    sys.exit(1)
PYEOF
# a set-up that fails (a sink that cannot open) is exit 2, as bad options
# are: it was 1, which says the audit failed (review of the configuration)
rc=0
"$BENCH" --no-huge -m 1024 --no-pci --file-prefix "cee-bt-$$-bad" --lcores "$LCORES" \
	--log-level=lib.eal:error -- --conns 10 --events "binary:$WORK/no-such-dir/e.bin" \
	>"$WORK/bad.out" 2>&1 || rc=$?
if [ "$rc" -ne 2 ]; then
	echo "FAIL: cee-bench with a sink that cannot open exited $rc, not 2"
	cat "$WORK/bad.out"
	exit 1
fi
echo "test_bench: all runs passed their audit"
