#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check test_backpressure.sh's events, --stats and bp_client.py log.

Guards against: events dropped while the consumer stalled (gaps, opens
without closed/destroyed), refused connections that still produced events,
accepted connections without events, refusals not counted, byte counters
or reasons wrong for connections admitted under pressure.
"""

import argparse
import json

from ceeit import Report, check_contract, conn_summary, load_events, load_stats, main_guard, match_by_port


def run():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", required=True)
    p.add_argument("--client-log", required=True)
    p.add_argument("--stats", required=True)
    args = p.parse_args()
    rep = Report("check_backpressure")

    events = load_events(args.events, rep)
    with open(args.client_log) as f:
        log = json.load(f)
    recs, summary = log["conns"], log["summary"]
    accepted = [r for r in recs if r["accepted"]]
    refused = [r for r in recs if r["outcome"] == "refused"]
    rep.info(f"client: {len(accepted)} accepted, {len(refused)} refused; {json.dumps(summary)}")
    for m in summary.get("failures", []):
        rep.fail(f"client: {m}")

    conns = check_contract(events, rep)
    summaries = [conn_summary(evs) for evs in conns.values()]
    opens = sum(1 for e in events if e.get("type") == "open")
    rep.info(f"{len(events)} events, {opens} opens")
    rep.check(opens == len(accepted), f"{opens} open events but the clients saw {len(accepted)} connections accepted")

    pairs, extra_conns, extra_recs = match_by_port(summaries, accepted, rep)
    for s in extra_conns:
        rep.fail(f"engine connection {s['conn']} (port {s['remote_port']}) matches no accepted client connection")
    for r in extra_recs:
        rep.fail(f"accepted client connection lport {r['lport']} ({r['phase']}) has no events")
    for r, s in pairs:
        c = s["closed"]
        if c is None:
            continue
        if c["reason"] != "peer_fin":
            rep.fail(f"{r['behaviour']} conn lport {r['lport']} ({r['phase']}): reason {c['reason']}, expected peer_fin")
        if c["bytes_in"] != r["sent"] or c["bytes_out"] != r["recv"]:
            rep.fail(f"{r['behaviour']} conn lport {r['lport']} ({r['phase']}): bytes_in {c['bytes_in']} "
                     f"bytes_out {c['bytes_out']}, client sent {r['sent']} received {r['recv']}")

    st = load_stats(args.stats, rep)
    if st is not None:
        tot = st["total"]
        rep.info(f"stats total: {json.dumps(tot, sort_keys=True)}")
        rep.check((tot.get("refused") or 0) > 0, f"stats total.refused is {tot.get('refused')}: no refusal counted")
        # every refusal a client saw is counted (a counter bumped once per
        # stall, not per RST'd SYN, fails); more is only a warning: a SYN
        # the client sent again before the RST came back is refused twice
        rep.check((tot.get("refused") or 0) >= len(refused),
                  f"stats total.refused {tot.get('refused')} < {len(refused)} refusals the clients saw")
        if (tot.get("refused") or 0) > len(refused):
            rep.warn(f"stats total.refused {tot.get('refused')} > {len(refused)} refusals the clients saw")
        rep.check(tot.get("opened") == opens, f"stats total.opened {tot.get('opened')} != {opens} open events")
        rep.check(tot.get("events") == len(events), f"stats total.events {tot.get('events')} != {len(events)} in the sink")
        rep.check(tot.get("live") == 0, f"stats total.live {tot.get('live')} after shutdown")
    return rep.finish()


if __name__ == "__main__":
    main_guard(run)
