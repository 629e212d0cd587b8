#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check test_bad_input.sh: drop counters against the frames bad_input.py sent,
and that only the deliberate normal connections produced events.

Guards against: malformed frames that go uncounted or are counted under the
wrong cause, that allocate connection state (an `open` event), and a live
connection whose counters or reason show it accepted injected data or was
killed by a blind RST.
"""

import argparse
import collections
import json

from ceeit import Report, check_contract, conn_summary, load_events, load_stats, main_guard


def run():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", required=True)
    p.add_argument("--stats", required=True)
    p.add_argument("--sent", required=True, help="bad_input.py --out")
    args = p.parse_args()
    rep = Report("check_bad_input")

    with open(args.sent) as f:
        sent = json.load(f)
    for m in sent["failures"]:
        rep.fail(f"on the wire: {m}")
    events = load_events(args.events, rep)
    conns = check_contract(events, rep)
    summaries = [conn_summary(evs) for evs in conns.values()]

    normal = {c["lport"]: c for c in sent["normal"]}
    seen = collections.Counter(s["remote_port"] for s in summaries)
    opens_by_port = collections.Counter(split for split in
                                        (int(e["remote"].rpartition(":")[2]) for e in events if e.get("type") == "open"))
    for port, n in sorted(opens_by_port.items()):
        if port not in normal:
            rep.fail(f"an `open` event for remote port {port}: a malformed frame or a half-open "
                     "connection created events")
        elif n != 1:
            rep.fail(f"remote port {port}: {n} opens for one normal connection")
    for port in normal:
        rep.check(seen.get(port) == 1, f"normal connection from port {port} has no (complete) event history")
    for s in summaries:
        c = normal.get(s["remote_port"])
        if c is None or s["closed"] is None:
            continue
        cl = s["closed"]
        rep.check(cl["reason"] == "peer_fin",
                  f"normal connection {port_str(s)}: reason {cl['reason']}, expected peer_fin")
        rep.check(cl["bytes_in"] == c["sent"] and cl["bytes_out"] == c["recv"],
                  f"normal connection {port_str(s)}: bytes_in {cl['bytes_in']} bytes_out {cl['bytes_out']}, "
                  f"client sent {c['sent']} received {c['recv']} (injected payload accepted?)")

    st = load_stats(args.stats, rep)
    if st is None:
        return rep.finish()
    drops = st["total"].get("drops") or {}
    rep.info("drops: " + json.dumps(drops, sort_keys=True))
    extra = set(sent["extra"])
    need_req, need_all, classes = collections.Counter(), collections.Counter(), collections.defaultdict(list)
    for cls, n in sent["frames"].items():
        counter = sent["expect"][cls]
        need_all[counter] += n
        classes[counter].append(f"{cls}{' (extra)' if cls in extra else ''} x{n}")
        if cls not in extra:
            need_req[counter] += n
    for counter in sorted(need_all):
        have = drops.get(counter)
        line = f"drops.{counter} = {have}, frames sent for it: {need_all[counter]} ({', '.join(classes[counter])})"
        if need_req[counter] and (have is None or have < need_req[counter]):
            rep.fail(line + (" — counter missing" if have is None else ""))
        elif have is None:
            rep.warn(line + " — counter missing")
        elif have < need_all[counter]:
            rep.warn(line)
        else:
            rep.info(line)
    total_req = sum(need_req.values())
    total_drops = sum(v for v in drops.values() if isinstance(v, int))
    rep.check(total_drops >= total_req,
              f"all drop counters add up to {total_drops}, fewer than the {total_req} malformed frames sent")
    tot = st["total"]
    rep.check(tot.get("opened") == len(normal), f"stats total.opened {tot.get('opened')}, expected {len(normal)}")
    # valid SYNs whose SYN-ACK the peer's kernel reset: half open, then
    # gone with no event (a passive connection is announced when established)
    half = sent.get("half_open") or {}
    rep.check(half.get("sent", 0) > 0 and half.get("synacks") == half.get("sent")
              and half.get("rsts") == half.get("sent"),
              f"half-open SYNs: {half} (each answered with a SYN-ACK, and that reset by the peer's kernel)")
    rep.check(tot.get("half_open_ended", 0) >= half.get("sent", 0),
              f"stats total.half_open_ended {tot.get('half_open_ended')}, expected >= {half.get('sent')}")
    rep.check(tot.get("half_open") == 0, f"stats total.half_open {tot.get('half_open')} after shutdown")
    # destroyed counts destroyed events: opened - destroyed is what the stream shows live
    rep.check(tot.get("destroyed") == tot.get("opened"),
              f"stats total.destroyed {tot.get('destroyed')} != opened {tot.get('opened')} after shutdown "
              "(half-open connections counted as destroyed?)")
    rep.check(tot.get("live") == 0, f"stats total.live {tot.get('live')} after shutdown")
    return rep.finish()


def port_str(s):
    return f"{s['conn']} from port {s['remote_port']}"


if __name__ == "__main__":
    main_guard(run)
