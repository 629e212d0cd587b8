#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check cee-engine's events (schema v2) for a ws: or wss: listener against
what the WebSocket clients (ws_mix.py, ws_upgrades.py) did and saw.

Guards against: lost or duplicated terminal events of WebSocket connections
(an `open` without exactly one `closed` then one `destroyed`), above all for
connections that end without a Close frame (FIN, RST, timeouts: the SIP
proxy fault cee exists to prevent); identity confusion (each engine
connection is paired with the client of its port, and its ws_up must carry
that client's User-Agent, Origin and subprotocol, its closed that client's
close code and reason); the wrong reason, ws_code, ws_clean or ws_reason for
each way a WebSocket connection ends; ws_up missing, doubled, out of order
or on a refused upgrade; a refused upgrade without ws_upgrade_failed and the
http_status the client read; message payload byte counters that disagree
with the client; gaps in a shard's sseq (ceeit.check_contract: a line covers
[xseq or sseq .. sseq]); connections not all live at once (mix); --stats
(total, ws, tls) that disagree with the events and the clients.

Expected per client kind:
  close1000      ws_close, ws_code 1000, ws_clean true, no ws_reason
  close_chatter  (wss) the same; the client, writing on after the engine's
                 Close without its close_notify, is reset within 9 s (5 s
                 wait; before, FIN-WAIT-2's 60 s)
  close4k, pong  ws_close, the client's code and reason, ws_clean true
  closeempty     ws_close, ws_code 1005 (a Close without a code), ws_clean true
  good_*         ws_close 1000, ws_clean true (ws_upgrades.py)
  srv_answer     (echo-close: the engine's Close 1000 first) local_close, ws_code 1000,
                 ws_clean true
  srv_fin, srv_rst  (the same, the client answers FIN or RST only) local_close,
                 ws_code 1000, ws_clean false
  fin            peer_fin, ws_code 1006, ws_clean false; wss: tls_truncated true
  notify         tls_close_notify (wss), ws_code 1006, ws_clean false
  rst            peer_rst, ws_code 1006, ws_clean false
  idle           idle_timeout, ws_code 1001 (a close the engine started, docs/events.md),
                 ws_clean false (the client answers no Close), ws_reason = the reason
                 text of the engine's Close; the client got that Close 1001
                 --idle-timeout after the last exchange
  idle_answer    the same, but ws_clean true: the client answered the engine's
                 Close (after the engine's FIN, sent with it), and the answer
                 was read, not reset (tcp.abort_on_data: ws_clean false)
  idle_chatter   the same as idle; the client, writing on without a Close, is
                 reset within 9 s of the engine's Close (its 5 s wait for an
                 answer; before, FIN-WAIT-2's 60 s)
  unmasked, badop   protocol_error, ws_code 1002, ws_clean false
  badutf8        protocol_error, ws_code 1007, ws_clean false
  toobig         protocol_error, ws_code 1009, ws_clean false
                 (protocol errors: ws_reason = the reason text of the engine's
                 Close frame, absent when it had none)
  pingto         ws_ping_timeout, ws_code 1006, ws_clean false, no ws_reason,
                 --ws-ping + --ws-pong-timeout after the client's last frame
  refused upgrades (nokey ...)   ws_upgrade_failed with the http_status the
                 client read; no ws_up, no ws_code, no message bytes
  slowloris      handshake_timeout after --handshake-timeout, no ws_up, no http_status
"""

import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ceeit import Report, check_addresses, check_handshake_limit, check_contract_v2, conn_summary, load_events, load_stats, main_guard, match_by_port  # noqa: E402

PROTO_ERR = {"unmasked": 1002, "badutf8": 1007, "badop": 1002, "toobig": 1009}
HELD = ("close1000", "close4k", "closeempty", "fin", "notify", "rst", "idle", "idle_answer", "idle_chatter",
        "close_chatter", "unmasked", "badutf8", "badop", "toobig")
GOOD = ("good_sip", "good_other", "good_none", "good_split")
REFUSED = ("nokey", "badkey", "version", "bigheaders", "path", "origin", "post", "malformed", "noupgrade")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", required=True)
    p.add_argument("--clients", required=True, help="the --log of ws_mix.py or ws_upgrades.py")
    p.add_argument("--proto", choices=("ws", "wss"), default="ws")
    p.add_argument("--stats")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--engine-ip")
    p.add_argument("--peer-ip")
    p.add_argument("--port", type=int)
    p.add_argument("--path", default="/", help="the engine's --ws-path")
    p.add_argument("--idle-timeout", type=float, default=0)
    p.add_argument("--handshake-timeout", type=float, default=0)
    p.add_argument("--ping", type=float, default=0)
    p.add_argument("--pong-timeout", type=float, default=0)
    p.add_argument("--min-concurrent", type=int, default=0,
                   help="held connections (ws_up) that must be live at once")
    p.add_argument("--min-share", type=float, default=0.10)
    return p.parse_args()


def expected(rec, proto):
    """@return {reason, code, clean, ws_reason, up, truncated, http} for @p rec
    (a value of None for code/ws_reason: the key must be absent)."""
    k = rec["kind"]
    e = {"up": True, "code": 1006, "clean": False, "ws_reason": None, "truncated": False, "http": None}
    if k in ("close1000", "close4k", "pong", "close_chatter") or k in GOOD:
        # a client that failed before its Close: the reason check reports it
        code, text = rec["close_sent"] or ("its own", "")
        e.update(reason="ws_close", code=code, clean=True, ws_reason=text or None)
    elif k in ("srv_answer", "srv_fin", "srv_rst"):
        # the engine's Close went first (echo-close): it closed first, however
        # the peer answered (docs/events.md, local_close); the code is ours
        e.update(reason="local_close", code=1000, clean=k == "srv_answer")
    elif k == "closeempty":
        e.update(reason="ws_close", code=1005, clean=True)
    elif k == "fin":
        e.update(reason="peer_fin", truncated=proto == "wss")
    elif k == "notify":
        e.update(reason="tls_close_notify")
    elif k == "rst":
        e.update(reason="peer_rst")
    elif k in ("idle", "idle_answer", "idle_chatter"):
        # docs/events.md: ws_code is ours for a close we started (1001), with
        # the reason text our Close frame carried; clean when the client
        # answered it
        cr = rec.get("close_recv")
        e.update(reason="idle_timeout", code=1001, ws_reason=(cr[1] or None) if cr else None,
                 clean=k == "idle_answer")
    elif k in PROTO_ERR:
        cr = rec.get("close_recv")
        e.update(reason="protocol_error", code=PROTO_ERR[k], ws_reason=(cr[1] or None) if cr else None)
    elif k == "pingto":
        e.update(reason="ws_ping_timeout")
    elif k in REFUSED:
        e.update(reason="ws_upgrade_failed", up=False, code=None, http=rec.get("status"))
    elif k == "slowloris":
        e.update(reason="handshake_timeout", up=False, code=None)
    else:
        raise ValueError(f"unknown client kind {k}")
    return e


def code_class(code):
    """A close code for the summaries: 4000-4999 (the clients' own) as 4xxx."""
    return "4xxx" if isinstance(code, int) and 4000 <= code <= 4999 else str(code)


def check_stream(events, proto, rep):
    """ceeit.check_contract_v2, then the WebSocket order rules.
    @return {conn: [events]}."""
    good = {}
    for conn, evs in check_contract_v2(events, rep).items():
        types = [e["type"] for e in evs]
        if {e["proto"] for e in evs} != {proto}:
            rep.fail(f"conn {conn}: proto {sorted({e['proto'] for e in evs})}, expected {proto}")
        if "ws_up" in types and "established" not in types:
            rep.fail(f"conn {conn}: ws_up without established: {types}")
        if proto == "wss" and "ws_up" in types and "tls_up" not in types:
            rep.fail(f"conn {conn}: wss ws_up without tls_up: {types}")
        if proto == "ws" and "tls_up" in types:
            rep.fail(f"conn {conn}: tls_up on a ws: listener")
        good[conn] = evs
    return good


def summary(evs):
    s = conn_summary(evs)
    by = {e["type"]: e for e in evs}
    s.update(by=by, ws_up=by.get("ws_up"), tls_up=by.get("tls_up"))
    return s


def check_pair(rec, s, args, rep):
    exp = expected(rec, args.proto)
    who = f"{rec['kind']} client #{rec['id']} lport {s['remote_port']} = {s['conn']} shard {s['shard']}"
    closed, up = s["closed"], s["ws_up"]
    if "established" not in s["by"]:
        rep.fail(f"{who}: no established event")
    reason = closed["reason"]
    if reason != exp["reason"]:
        rep.fail(f"{who}: reason {reason}, expected {exp['reason']} (client: end {rec.get('end')}, "
                 f"close_recv {rec.get('close_recv')}, error {rec.get('error')})")
    # the WebSocket outcome
    if exp["code"] is None:
        for k in ("ws_code", "ws_clean", "ws_reason"):
            if k in closed:
                rep.fail(f"{who}: {k} {closed[k]!r} on a connection that must not get ws_up"
                         + ("" if up is None else " (it got one)"))
    else:
        if closed.get("ws_code") != exp["code"]:
            rep.fail(f"{who}: reason {reason} ws_code {closed.get('ws_code')!r}, expected {exp['code']} "
                     f"(client sent Close {rec.get('close_sent')}, received {rec.get('close_recv')})")
        if closed.get("ws_clean") is not exp["clean"]:
            rep.fail(f"{who}: reason {reason} ws_clean {closed.get('ws_clean')!r}, expected {exp['clean']}")
        if closed.get("ws_reason") != exp["ws_reason"]:
            rep.fail(f"{who}: reason {reason} ws_reason {closed.get('ws_reason')!r}, expected "
                     f"{exp['ws_reason']!r}")
    if closed.get("http_status") != exp["http"]:
        rep.fail(f"{who}: http_status {closed.get('http_status')!r}, expected {exp['http']!r} "
                 f"(the status the client read)")
    if exp["http"] is not None and exp["http"] not in rec["expect_status"]:
        rep.fail(f"{who}: the client read status {exp['http']}, expected {rec['expect_status']}")
    if args.proto == "wss":
        if bool(closed.get("tls_truncated", False)) != exp["truncated"]:
            rep.fail(f"{who}: reason {reason} tls_truncated {closed.get('tls_truncated')!r}, expected "
                     f"{'true' if exp['truncated'] else 'absent/false'}")
        if any(k in closed for k in ("alert", "alert_name", "alert_by")):
            rep.fail(f"{who}: alert fields on a connection without an alert: {closed}")
        if s["tls_up"] is None:
            rep.fail(f"{who}: no tls_up")
        elif s["tls_up"].get("sni") != "server.cee.test":
            rep.fail(f"{who}: tls_up sni {s['tls_up'].get('sni')!r}, the client sent server.cee.test")
        elif s["tls_up"].get("tls_version") != {"TLSv1.2": "1.2", "TLSv1.3": "1.3"}.get(rec.get("tls_version")):
            rep.fail(f"{who}: tls_up tls_version {s['tls_up'].get('tls_version')!r}, client negotiated "
                     f"{rec.get('tls_version')}")
    # the upgrade
    if exp["up"]:
        if up is None:
            rep.fail(f"{who}: no ws_up (the client got 101: {rec.get('up')})")
        else:
            check_ws_up(rec, up, who, args, rep)
    elif up is not None:
        rep.fail(f"{who}: ws_up on an upgrade that must fail: {up}")
    # message payload bytes, both ways
    if closed["bytes_in"] != rec["sent"] or closed["bytes_out"] != rec["recv"]:
        rep.fail(f"{who}: bytes_in {closed['bytes_in']} bytes_out {closed['bytes_out']}, client sent "
                 f"{rec['sent']} received {rec['recv']} message payload bytes")
    # what the client saw
    if not rec.get("ok"):
        rep.fail(f"{who}: the client did not see what its kind expects: end {rec.get('end')}, status "
                 f"{rec.get('status')}, close_recv {rec.get('close_recv')}, pings {rec.get('pings_recv')}, "
                 f"echo {rec.get('echo_ok')}, error {rec.get('error')}")
    if rec["kind"] in ("idle", "idle_answer") and args.idle_timeout:
        w = rec.get("wait_s") or 0.0
        if not 0.8 * args.idle_timeout <= w <= args.idle_timeout + 5:
            rep.fail(f"{who}: closed {w:.2f} s after the last exchange; --idle-timeout {args.idle_timeout} s")
    if rec["kind"] == "pingto" and args.ping:
        w, want = rec.get("wait_s") or 0.0, args.ping + args.pong_timeout
        if not 0.8 * want <= w <= want + 3:
            rep.fail(f"{who}: closed {w:.2f} s after its last frame; --ws-ping {args.ping} + "
                     f"--ws-pong-timeout {args.pong_timeout} = {want} s")
    if rec["kind"] == "slowloris" and args.handshake_timeout:
        check_handshake_limit(closed, args.handshake_timeout, who, rep)
    check_addresses(s, args, who, rep)


def check_ws_up(rec, up, who, args, rep):
    want = {"path": args.path, "subprotocol": rec.get("subprotocol"), "origin": rec.get("origin"),
            "user_agent": rec.get("user_agent")}
    for k, v in want.items():
        if up.get(k) != v:
            rep.fail(f"{who}: ws_up {k} {up.get(k)!r}, the client's is {v!r}")
    offered = rec.get("subprotocols_offered") or []
    if rec.get("subprotocol") != ("sip" if "sip" in offered else None):
        rep.fail(f"{who}: offered {offered}, the 101 chose {rec.get('subprotocol')!r} (expected "
                 f"{'sip' if 'sip' in offered else 'none'})")


def check_concurrency(pairs, args, rep):
    """Held connections: per shard, every ws_up before any of their closed."""
    # clients that reached the barrier (one that failed earlier is reported by itself)
    held = [(r, s) for r, s in pairs if r["kind"] in HELD and r.get("ready") and s["ws_up"] is not None]
    live = 0
    for sh in sorted({s["shard"] for _, s in held}):
        ups = [s["ws_up"]["sseq"] for r, s in held if s["shard"] == sh]
        closes = [s["closed"]["sseq"] for r, s in held if s["shard"] == sh]
        rep.check(max(ups) < min(closes),
                  f"shard {sh}: a held connection closed (sseq {min(closes)}) before the last one was up "
                  f"(sseq {max(ups)}): they were not all live at once")
        live += len(ups)
    rep.info(f"{live} held WebSocket connections up at once (all ws_up before any of their closed, per shard)")
    rep.check(live >= args.min_concurrent, f"only {live} held connections live at once, need {args.min_concurrent}")


def check_stats(st, opens, summaries, recs, pairs, args, rep):
    tot = st["total"]
    rep.info(f"stats total: {json.dumps({k: v for k, v in tot.items() if not isinstance(v, dict)}, sort_keys=True)}")
    rep.check(tot.get("opened") == opens, f"stats total.opened {tot.get('opened')} != {opens} open events")
    rep.check(tot.get("destroyed") == opens, f"stats total.destroyed {tot.get('destroyed')} != {opens} opens")
    rep.check(tot.get("live") == 0, f"stats total.live {tot.get('live')} after shutdown")
    rep.check(tot.get("refused") == 0, f"stats total.refused {tot.get('refused')}")
    rep.check(len(st["shards"]) == args.shards, f"stats lists {len(st['shards'])} shards")
    ws = tot.get("ws")
    if not isinstance(ws, dict):
        rep.fail(f"--stats has no total.ws object: {ws!r}")
        return
    rep.info(f"stats total.ws: {json.dumps(ws, sort_keys=True)}")
    reasons = collections.Counter(s["closed"]["reason"] for s in summaries)
    matched = [r for r, _ in pairs]
    want = {
        "upgrades": sum(1 for s in summaries if s["ws_up"] is not None),
        # "refused (4xx) or cut off": every connection that never got ws_up
        "upgrade_failures": sum(1 for s in summaries if s["ws_up"] is None),
        "messages_in": sum(r["msgs_sent"] for r in matched),
        "messages_out": sum(r["msgs_recv"] for r in matched),
        "pings_sent": sum(r.get("pings_recv", 0) for r in matched),
        "ping_timeouts": reasons["ws_ping_timeout"],
        "closes_received": sum(1 for r in matched if r.get("close_sent")),
        "closes_sent": sum(1 for r in matched if r.get("close_recv")),
        "protocol_errors": reasons["protocol_error"],
        "no_buffer": 0,
        "buffer_reclaims": 0,
        "no_slot": 0,
    }
    for k, v in want.items():
        rep.check(ws.get(k) == v, f"stats total.ws.{k} {ws.get(k)}, the events and clients say {v}")
    # data after our FIN is reset only when no answer to our close is due:
    # the chatter kinds, past the 5 s wait; never a peer's answer (its Close
    # to our idle or error Close, its close_notify), nor the rest of a
    # message too big (toobig) that was on its way
    # (a little more allowed, 1 in 100 clients, at least 2: an answer that a
    # loaded machine sent past the engine's 5 s wait is reset by design;
    # the faults this guards against reset 17 to 310 of them)
    chatter = sum(1 for r in matched if r["kind"] in ("idle_chatter", "close_chatter"))
    slack = max(2, len(matched) // 100)
    aod = tot.get("tcp", {}).get("abort_on_data")
    rep.check(aod is not None and chatter <= aod <= chatter + slack,
              f"stats total.tcp.abort_on_data {aod}, the chatter clients {chatter} (+{slack} allowed)")
    if args.proto == "wss":
        check_wss_tls_stats(tot.get("tls"), summaries, rep)


def check_wss_tls_stats(tls, summaries, rep):
    """--stats total.tls against the events. close_notify_received counts
    every close_notify that came, also the one a websockets client sends
    after a Close handshake (reason ws_close): between the tls_close_notify
    closes and those plus the ws_close ones."""
    if not isinstance(tls, dict):
        rep.fail(f"--stats has no total.tls object: {tls!r}")
        return
    rep.info(f"stats total.tls: {json.dumps(tls, sort_keys=True)}")
    closed = [s["closed"] for s in summaries]
    exact = {
        "handshakes": sum(1 for s in summaries if s["tls_up"] is not None),
        "resumed": 0,
        "alerts_sent": 0,
        "alerts_received": 0,
        "truncated": sum(1 for c in closed if c.get("tls_truncated") is True),
        "no_slot": 0,
        "handshake_failures": 0,
    }
    for k, v in exact.items():
        rep.check(tls.get(k) == v, f"stats total.tls.{k} {tls.get(k)}, the events say {v}")
    lo = sum(1 for c in closed if c["reason"] == "tls_close_notify")
    hi = lo + sum(1 for c in closed if c["reason"] == "ws_close")
    n = tls.get("close_notify_received")
    rep.check(isinstance(n, int) and lo <= n <= hi,
              f"stats total.tls.close_notify_received {n}, the events say {lo}..{hi}")


def run():
    args = parse_args()
    rep = Report("ws_check")
    events = load_events(args.events, rep)
    with open(args.clients) as f:
        clients = json.load(f)
    recs, meta = clients["conns"], clients["meta"]
    rep.info(f"{len(events)} event lines, {len(recs)} client connections")
    conns = check_stream(events, args.proto, rep)
    summaries = [summary(evs) for evs in conns.values()]
    opens = sum(1 for e in events if e.get("type") == "open")
    for s in summaries:
        if s["closed"] is None:
            rep.fail(f"conn {s['conn']} from port {s['remote_port']}: no closed event ({s['types']})")
    summaries = [s for s in summaries if s["closed"] is not None]

    for r in recs:
        if not r.get("connected"):
            rep.fail(f"{r['kind']} client #{r['id']}: TCP connect failed: {r.get('error')}")
    pairs, extra_conns, extra_recs = match_by_port(summaries, [r for r in recs if r.get("connected")], rep)
    for s in extra_conns:
        rep.fail(f"engine connection {s['conn']} from port {s['remote_port']} matches no client "
                 f"({s['types']}, reason {s['closed']['reason']})")
    for r in extra_recs:
        rep.fail(f"{r['kind']} client #{r['id']} lport {r.get('lport')} has no engine connection "
                 f"(client: end {r.get('end')}, error {r.get('error')})")
    for r, s in pairs:
        check_pair(r, s, args, rep)

    if args.min_concurrent:
        rep.check(meta.get("concurrent_established", 0) >= args.min_concurrent,
                  f"client side: {meta.get('concurrent_established')} held connections up at once, "
                  f"need {args.min_concurrent}")
        check_concurrency(pairs, args, rep)

    # what was seen, per client kind
    per_kind = collections.defaultdict(collections.Counter)
    for r, s in pairs:
        c = s["closed"]
        what = c["reason"]
        if "ws_code" in c:
            what += f" {code_class(c['ws_code'])}" + (" clean" if c.get("ws_clean") else " unclean")
        if c.get("ws_reason"):
            what += " +ws_reason" if r["kind"] == "close4k" else f" ws_reason {c['ws_reason']!r}"
        if "http_status" in c:
            what += f" http {c['http_status']}"
        if c.get("tls_truncated"):
            what += " tls_truncated"
        per_kind[r["kind"]][what] += 1
    for k in sorted(per_kind):
        n = sum(per_kind[k].values())
        rep.info(f"{k:11} {n:5}: " + "; ".join(f"{w} x{c}" for w, c in sorted(per_kind[k].items())))
    saw = collections.Counter(f"{r['kind']}:{r.get('end')}"
                              + (f"/Close {code_class(r['close_recv'][0])}" if r.get("close_recv") else "")
                              + (f"/status {r['status']}" if r.get("status") else "") for r in recs)
    rep.info("clients saw: " + ", ".join(f"{k}={v}" for k, v in sorted(saw.items())))
    for kind, what in (("idle", "the engine closed {} s after the last exchange (--idle-timeout %g)" % args.idle_timeout),
                       ("pingto", "the engine closed {} s after the client's last frame (ping %g + pong timeout %g)"
                        % (args.ping, args.pong_timeout)),
                       ("slowloris", "the engine ended it {} s after the connect (--handshake-timeout %g)"
                        % args.handshake_timeout)):
        w = [r["wait_s"] for r, _ in pairs if r["kind"] == kind and r.get("wait_s") is not None]
        if w:
            rep.info(f"{kind}: " + what.format(f"{min(w):.2f}..{max(w):.2f}"))
    pings = [r["pings_recv"] for r, _ in pairs if r["kind"] == "pong"]
    if pings:
        rep.info(f"pong: {min(pings)}..{max(pings)} pings answered per client")
    reasons = collections.Counter(s["closed"]["reason"] for s in summaries)
    rep.info("closed by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())))
    codes = collections.Counter(code_class(s["closed"]["ws_code"]) for s in summaries if "ws_code" in s["closed"])
    rep.info("ws_code: " + ", ".join(f"{k}={v}" for k, v in sorted(codes.items())))

    per_shard = collections.Counter(s["shard"] for s in summaries)
    if args.proto == "wss":
        vers = collections.Counter(s["tls_up"].get("tls_version") for s in summaries if s["tls_up"])
        rep.info("tls_up: " + ", ".join(f"TLS {k} x{v}" for k, v in sorted(vers.items(), key=str)))
    rep.info("connections per shard: " + ", ".join(f"{k}={v}" for k, v in sorted(per_shard.items())))
    if args.shards > 1 and summaries:
        for sh in range(args.shards):
            share = per_shard.get(sh, 0) / len(summaries)
            rep.check(share >= args.min_share, f"shard {sh} owns {per_shard.get(sh, 0)} of {len(summaries)} "
                      f"connections ({share:.0%}): steering does not spread flows")
    rep.check(not set(per_shard) - set(range(args.shards)),
              f"events from shards {sorted(set(per_shard) - set(range(args.shards)))}, engine has {args.shards}")
    rep.check(opens == len(recs) - sum(1 for r in recs if not r.get("connected")),
              f"{opens} open events for {len(recs)} client connections")
    closed_n = sum(1 for e in events if e.get("type") == "closed")
    destroyed_n = sum(1 for e in events if e.get("type") == "destroyed")
    rep.info(f"{opens} open, {closed_n} closed, {destroyed_n} destroyed")
    rep.check(closed_n == opens and destroyed_n == opens,
              f"{opens} open but {closed_n} closed and {destroyed_n} destroyed events")

    if args.stats:
        st = load_stats(args.stats, rep)
        if st is not None:
            check_stats(st, opens, summaries, recs, pairs, args, rep)
    return rep.finish()


if __name__ == "__main__":
    main_guard(run)
