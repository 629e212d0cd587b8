#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check cee-engine's events against what the Linux peers (peer.py) did.

Guards against: lost close events (an open without exactly one closed then
one destroyed), identity confusion when a client port is reused (matching is
by the sequence of opens per remote port, never by address alone), wrong close
reasons, byte counters that disagree with the client's, events emitted by a
shard that does not own the connection, all connections landing on one shard,
gaps in a shard's sseq, and --stats that disagree with the event stream.

Expected per behaviour: fin/halfclose/burst -> peer_fin, rst -> peer_rst,
idle -> idle_timeout, hold -> shutdown; bytes_in == bytes the client sent,
bytes_out == bytes it received (hold: within the last in-flight ping).
"""

import argparse
import collections
import json
import sys

from ceeit import Report, check_contract, conn_summary, load_events, load_stats, main_guard, match_by_port

EXPECTED_REASON = {"fin": "peer_fin", "halfclose": "peer_fin", "burst": "peer_fin", "rst": "peer_rst", "reuse": "peer_rst",
                   "idle": "idle_timeout", "hold": "shutdown"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", required=True)
    p.add_argument("--peer-log", required=True)
    p.add_argument("--stats")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--engine-ip")
    p.add_argument("--peer-ip")
    p.add_argument("--port", type=int)
    p.add_argument("--idle-timeout", type=float, default=2.0)
    p.add_argument("--min-share", type=float, default=0.10, help="least fraction of connections per shard")
    return p.parse_args()


def check_record(rec, s, args, report):
    """Compare one client record with the engine's connection."""
    b = rec["behaviour"]
    who = f"{b} conn lport {rec['lport']} ({s['conn']}, shard {s['shard']})"
    closed = s["closed"]
    if "established" not in s["types"]:
        report.fail(f"{who}: no established event ({s['types']})")
    if closed is None:
        return
    if closed["reason"] != EXPECTED_REASON[b]:
        report.fail(f"{who}: reason {closed['reason']}, expected {EXPECTED_REASON[b]} "
                    f"(client outcome {rec['outcome']}, error {rec['error']})")
    bin_, bout = closed["bytes_in"], closed["bytes_out"]
    if b == "hold":
        if not (rec["recv"] <= bin_ <= rec["sent"] and rec["recv"] <= bout <= bin_):
            report.fail(f"{who}: bytes_in {bin_} bytes_out {bout}, client sent {rec['sent']} "
                        f"received {rec['recv']}")
        if rec["outcome"] != "reset":
            report.fail(f"{who}: client saw '{rec['outcome']}' at shutdown, expected a RST "
                        f"({rec['error']})")
    else:
        if bin_ != rec["sent"] or bout != rec["recv"]:
            report.fail(f"{who}: bytes_in {bin_} bytes_out {bout}, client sent {rec['sent']} "
                        f"received {rec['recv']}")
    if closed["duration_ns"] < 0 or closed["ts_ns"] < s["open"]["ts_ns"]:
        report.fail(f"{who}: closed ts/duration inconsistent: {closed}")
    if args.engine_ip and args.port and s["local"] != f"{args.engine_ip}:{args.port}":
        report.fail(f"{who}: local {s['local']}, expected {args.engine_ip}:{args.port}")
    if args.peer_ip and s["remote_ip"] != args.peer_ip:
        report.fail(f"{who}: remote {s['remote_ip']}, expected {args.peer_ip}")


def check_client(rec, report, args):
    """What the client itself saw, independent of events."""
    b, who = rec["behaviour"], f"{rec['behaviour']} client #{rec['id']} lport {rec['lport']}"
    if not rec["accepted"]:
        report.fail(f"{who}: connect failed: {rec['outcome']} {rec['error']}")
        return
    if rec["echo_ok"] is False:
        report.fail(f"{who}: echo differs from what was sent (sent {rec['sent']}, got {rec['recv']}; "
                    f"outcome {rec['outcome']}, {rec['error']})")
    if b in ("fin", "rst", "halfclose", "reuse", "burst") and rec["outcome"] != "ok":
        report.fail(f"{who}: outcome {rec['outcome']} {rec['error'] or ''}")
    if b == "idle":
        if rec["outcome"] not in ("server_fin", "server_rst"):
            report.fail(f"{who}: server did not close the idle connection: {rec['outcome']} {rec['error'] or ''}")
        elif rec["outcome"] == "server_rst":
            report.warn(f"{who}: idle timeout closed with RST, not FIN")
        wait = rec.get("idle_wait") or 0.0
        # the idle limit, neither early nor late (as tls_check and ws_check
        # bound it): a timer that fires at half or at 10x the limit fails
        # (idle_wait runs from the client's send, before the engine's idle
        # clock starts: a late-scheduled client cannot make it read short)
        if rec["outcome"] in ("server_fin", "server_rst") and not (
                0.8 * args.idle_timeout <= wait <= args.idle_timeout + 5):
            report.fail(f"{who}: closed after {wait:.2f} s idle, idle timeout is {args.idle_timeout} s")


def run():
    args = parse_args()
    rep = Report("check_events")
    events = load_events(args.events, rep)
    with open(args.peer_log) as f:
        peer = json.load(f)
    records = peer["conns"]
    rep.info(f"{len(events)} events, {len(records)} client connections")
    m = peer["meta"]
    rep.info(f"connections per second (informational, not a threshold): {m['conns_per_s']:.0f} "
             f"({m['completed']} completed in {m['elapsed_s']:.2f} s, concurrency {m['concurrency']}, "
             f"idle ones wait for the {args.idle_timeout:g} s idle timeout)")

    if m.get("burst"):
        # the burst's closes came together: every one of its connections
        # was open when the first was closed (else it was no burst)
        rep.check(m["burst_open"] == m["burst"],
                  f"burst: {m['burst_open']} of {m['burst']} connections open at once")
    conns = check_contract(events, rep)
    summaries = [conn_summary(evs) for evs in conns.values()]
    opens = sum(1 for e in events if e.get("type") == "open")

    for rec in records:
        check_client(rec, rep, args)
    accepted = [r for r in records if r["accepted"]]
    pairs, extra_conns, extra_recs = match_by_port(summaries, accepted, rep)
    for s in extra_conns:
        rep.fail(f"engine connection {s['conn']} from port {s['remote_port']} matches no client connection")
    for r in extra_recs:
        rep.fail(f"client {r['behaviour']} #{r['id']} lport {r['lport']} has no engine connection")
    for rec, s in pairs:
        check_record(rec, s, args, rep)
    ports = collections.Counter(r["lport"] for r in accepted)
    reused = sum(1 for n in ports.values() if n > 1)
    rep.info(f"{reused} client ports carried more than one connection (each matched to its own id)")
    if any(r["behaviour"] == "reuse" for r in accepted):
        rep.check(reused > 0, "reuse connections never shared a port")

    reasons = collections.Counter(s["closed"]["reason"] for s in summaries if s["closed"])
    rep.info("closed by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())))
    behaviours = collections.Counter(r["behaviour"] for r in records)
    rep.info("client behaviours: " + ", ".join(f"{k}={v}" for k, v in sorted(behaviours.items())))

    per_shard = collections.Counter(s["shard"] for s in summaries)
    rep.info("connections per shard: " + ", ".join(f"{k}={v}" for k, v in sorted(per_shard.items())))
    if args.shards > 1 and summaries:
        for sh in range(args.shards):
            share = per_shard.get(sh, 0) / len(summaries)
            rep.check(share >= args.min_share,
                      f"shard {sh} owns {per_shard.get(sh, 0)} of {len(summaries)} connections "
                      f"({share:.0%} < {args.min_share:.0%}): steering does not spread flows")
    unknown = set(per_shard) - set(range(args.shards))
    rep.check(not unknown, f"events from shards {sorted(unknown)} but the engine has {args.shards}")

    if args.stats:
        st = load_stats(args.stats, rep)
        if st is not None:
            tot = st["total"]
            rep.info(f"stats total: {json.dumps(tot, sort_keys=True)}")
            rep.check(tot.get("opened") == opens, f"stats total.opened {tot.get('opened')} != {opens} open events")
            rep.check(tot.get("live") == 0, f"stats total.live {tot.get('live')} after shutdown")
            rep.check(tot.get("refused") == 0, f"stats total.refused {tot.get('refused')}: connections refused")
            rep.check(tot.get("events") == len(events),
                      f"stats total.events {tot.get('events')} != {len(events)} events in the sink")
            rep.check(len(st["shards"]) == args.shards, f"stats lists {len(st['shards'])} shards")
            for sh in st["shards"]:
                n = per_shard.get(sh.get("shard"), 0)
                rep.check(sh.get("opened") == n, f"stats shard {sh.get('shard')} opened {sh.get('opened')} "
                          f"but {n} connections in the events")
    return rep.finish()


if __name__ == "__main__":
    sys.path.insert(0, sys.path[0])
    main_guard(run)
