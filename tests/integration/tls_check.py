#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check cee-engine's events (schema v2) for a tls: listener against what the
TLS clients (tls_mix.py, tls_openssl.py) did and saw.

Guards against: lost or duplicated terminal events of TLS connections (an
`open` without exactly one `closed` then one `destroyed`, anything after
`destroyed`); `tls_up` twice, before `established`, or on a handshake that
failed; the wrong close reason, alert number, alert name, alert side or
truncation flag for each way a TLS connection ends; tls_up fields (version,
cipher, SNI, ALPN, resumed, peer subject) that disagree with what the client
negotiated; plaintext byte counters that disagree with the client's; an
alert the engine says it sent that is not the one the client received;
gaps in a shard's sseq (a line covers [xseq or sseq .. sseq]); events from a
shard that does not own the connection; connections not live at the same
time (mix) or not spread over the shards; --stats that disagree.

Expected per client kind (tls_mix.py, tls_openssl.py):
  notify, mtls, s12, s13, s13_alpn   tls_close_notify; s12_resume, s13_resume
                                     too, with resumed true
  fin        peer_fin, tls_truncated true
  rst        peer_rst
  idle       idle_timeout
  tls10, s_tls10   tls_alert 70 protocol_version, by local
  http, badhello   tls_alert by local, or protocol_error (reported)
  stall      handshake_timeout, after --handshake-timeout
  badca, s_badca12, s_badca13   tls_alert 48 unknown_ca or 42 bad_certificate, by peer
  nocert     tls_alert by local: 116 certificate_required (TLS 1.3), 40 or 42 (TLS 1.2)
  badcert    tls_alert 48 unknown_ca, by local
Failed handshakes: no tls_up, bytes_in = bytes_out = 0.
"""

import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ceeit import Report, check_addresses, check_handshake_limit, check_contract_v2, load_events, load_stats, main_guard, split_addr  # noqa: E402
from tls_common import ALERT_NAMES, iana_cipher  # noqa: E402

SNI = "server.cee.test"
UP_KINDS = {"notify", "fin", "rst", "idle", "mtls", "s12", "s12_resume", "s13", "s13_resume", "s13_alpn"}
TLS_FIELDS = ("tls_version", "cipher", "sni", "alpn", "resumed", "peer_subject")
CLOSE_TLS_FIELDS = ("alert", "alert_name", "alert_by", "tls_truncated")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", required=True)
    p.add_argument("--clients", required=True, help="the --log of tls_mix.py or tls_openssl.py")
    p.add_argument("--order", action="store_true",
                   help="pair clients with connections by order of open (one connection at a time)")
    p.add_argument("--stats")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--engine-ip")
    p.add_argument("--peer-ip")
    p.add_argument("--port", type=int)
    p.add_argument("--idle-timeout", type=float)
    p.add_argument("--handshake-timeout", type=float)
    p.add_argument("--min-concurrent", type=int, default=0,
                   help="held connections (tls_up) that must be live at once")
    p.add_argument("--min-share", type=float, default=0.10)
    return p.parse_args()


def expected(rec):
    """@return {reason, alerts (set or None), by, up, truncated} for @p rec."""
    k = rec["kind"]
    e = {"up": k in UP_KINDS, "alerts": None, "by": None, "truncated": k == "fin"}
    if k in ("notify", "mtls", "s12", "s12_resume", "s13", "s13_resume", "s13_alpn"):
        e["reason"] = {"tls_close_notify"}
    elif k == "fin":
        e["reason"] = {"peer_fin"}
    elif k == "rst":
        e["reason"] = {"peer_rst"}
    elif k == "idle":
        e["reason"] = {"idle_timeout"}
    elif k in ("tls10", "s_tls10"):
        e.update(reason={"tls_alert"}, alerts={70}, by="local")
    elif k in ("http", "badhello"):
        e.update(reason={"tls_alert", "protocol_error"}, by="local")
    elif k == "stall":
        e["reason"] = {"handshake_timeout"}
    elif k in ("badca", "s_badca12", "s_badca13"):
        e.update(reason={"tls_alert"}, alerts={48, 42}, by="peer")
    elif k == "nocert":
        e.update(reason={"tls_alert"}, alerts={116} if rec["tls_max"] == "1.3" else {40, 42}, by="local")
    elif k == "badcert":
        e.update(reason={"tls_alert"}, alerts={48}, by="local")
    else:
        raise ValueError(f"unknown client kind {k}")
    return e


def check_stream(events, rep):
    """ceeit.check_contract_v2 (schema 2, extensions, per-shard sseq
    coverage with xseq, owner shard, per-connection order and
    exactly-once), then the TLS rules. @return {conn: [events in order]}."""
    good = {}
    for conn, evs in check_contract_v2(events, rep).items():
        types = [e["type"] for e in evs]
        bad = False
        if "tls_up" in types and "established" not in types:
            rep.fail(f"conn {conn}: tls_up without established: {types}")
            bad = True
        if "ws_up" in types:
            rep.fail(f"conn {conn}: ws_up on a tls: echo listener")
            bad = True
        if {e["proto"] for e in evs} != {"tls"}:
            rep.fail(f"conn {conn}: proto {sorted({e['proto'] for e in evs})}, expected tls")
        if not bad:
            good[conn] = evs
    return good


def summary(evs):
    by = {e["type"]: e for e in evs}
    ip, port = split_addr(evs[0]["remote"])
    return {"conn": evs[0]["conn"], "shard": evs[0]["shard"], "open": evs[0], "by": by,
            "closed": by.get("closed"), "tls_up": by.get("tls_up"), "remote_port": port,
            "remote_ip": ip, "local": evs[0]["local"]}


def pair(summaries, recs, by_order, rep):
    """Pair client records with engine connections: by order of open (one at
    a time), or per remote port in order of connect/open (a port can be
    reused after an RST). @return [(rec, summary)]."""
    pairs = []
    if by_order:
        ss = sorted(summaries, key=lambda s: (s["open"]["ts_ns"], s["open"]["sseq"]))
        rs = recs
        if len(ss) != len(rs):
            rep.fail(f"{len(rs)} client connections, engine opened {len(ss)}")
        for r, s in zip(rs, ss):
            if r.get("lport") is not None and r["lport"] != s["remote_port"]:
                rep.fail(f"{r['kind']}: client port {r['lport']}, the engine's connection in its place "
                         f"({s['conn']}) is from port {s['remote_port']}")
            pairs.append((r, s))
        return pairs
    by_port, rec_by_port = {}, {}
    for s in summaries:
        by_port.setdefault(s["remote_port"], []).append(s)
    for r in recs:
        if r.get("connected", True) and r.get("lport") is not None:
            rec_by_port.setdefault(r["lport"], []).append(r)
    for port in set(by_port) | set(rec_by_port):
        ss = sorted(by_port.get(port, []), key=lambda s: (s["open"]["ts_ns"], s["open"]["sseq"]))
        rs = sorted(rec_by_port.get(port, []), key=lambda r: r["t_connect"])
        if len(ss) != len(rs):
            rep.fail(f"remote port {port}: client made {len(rs)} connection(s) "
                     f"({[r['kind'] for r in rs]}), engine opened {len(ss)} ({[s['conn'] for s in ss]})")
        pairs.extend(zip(rs, ss))
    return pairs


def norm_subject(s):
    return s.replace(" ", "").replace("/", ",").strip(",")


def check_pair(rec, s, args, rep, mtls):
    exp = expected(rec)
    who = (f"{rec['kind']} client #{rec['id']} (tls max {rec.get('tls_max')}) lport {s['remote_port']} "
           f"= {s['conn']} shard {s['shard']}")
    closed, up = s["closed"], s["tls_up"]
    if "established" not in s["by"]:
        rep.fail(f"{who}: no established event")
    # how it ended
    reason = closed["reason"]
    if reason not in exp["reason"]:
        rep.fail(f"{who}: reason {reason}, expected {'/'.join(sorted(exp['reason']))} "
                 f"(client: end {rec.get('end')}, alert seen {rec.get('alert_seen')}, error {rec.get('error')})")
    if reason == "tls_alert":
        a, name, by = closed.get("alert"), closed.get("alert_name"), closed.get("alert_by")
        if not isinstance(a, int) or name != ALERT_NAMES.get(a, "unknown") or by not in ("local", "peer"):
            rep.fail(f"{who}: tls_alert with alert {a!r} alert_name {name!r} alert_by {by!r}")
        else:
            if exp["alerts"] is not None and a not in exp["alerts"]:
                rep.fail(f"{who}: alert {a} {name}, expected {sorted(exp['alerts'])}")
            if exp["by"] is not None and by != exp["by"]:
                rep.fail(f"{who}: alert {a} {name} by {by}, expected by {exp['by']}")
            if by == "local" and exp["by"] in (None, "local"):
                if rec.get("alert_seen") is None:
                    rep.fail(f"{who}: the engine says it sent alert {a} {name}; the client received none "
                             f"(end {rec.get('end')}, {rec.get('error')})")
                elif rec["alert_seen"] != a:
                    rep.fail(f"{who}: the engine says it sent alert {a} {name}; the client received "
                             f"{rec['alert_seen']} {ALERT_NAMES.get(rec['alert_seen'])}")
    elif any(k in closed for k in ("alert", "alert_name", "alert_by")):
        rep.fail(f"{who}: reason {reason} with alert fields {[closed.get(k) for k in ('alert', 'alert_name', 'alert_by')]}")
    if bool(closed.get("tls_truncated", False)) != exp["truncated"]:
        rep.fail(f"{who}: reason {reason}, tls_truncated {closed.get('tls_truncated')!r}, "
                 f"expected {'true' if exp['truncated'] else 'absent/false'}")
    # the handshake
    if exp["up"]:
        if up is None:
            rep.fail(f"{who}: no tls_up (client negotiated {rec.get('version')} {rec.get('cipher')})")
        else:
            check_tls_up(rec, up, who, rep, mtls)
        # (a record sent after the engine's close_notify and FIN, before
        # the client's own close_notify, is taken in and counted, not
        # echoed: the engine's TLS awaits the client's answer to its close
        # and reads until it comes (CEE_TCB_O_READS_ON); session 28 reset
        # the connection for it, and with it a client answering
        # close_notify as RFC 8446 6.1 asks)
        sent = rec["sent"] + rec.get("late_sent", 0)
        if closed["bytes_in"] != sent or closed["bytes_out"] != rec["recv"]:
            rep.fail(f"{who}: plaintext bytes_in {closed['bytes_in']} bytes_out {closed['bytes_out']}, "
                     f"client sent {sent} received {rec['recv']}")
    else:
        if up is not None:
            rep.fail(f"{who}: tls_up on a handshake that must fail: {up}")
        if closed["bytes_in"] != 0 or closed["bytes_out"] != 0:
            rep.fail(f"{who}: failed handshake with plaintext bytes_in {closed['bytes_in']} "
                     f"bytes_out {closed['bytes_out']} (expected 0, 0)")
    # what the client saw
    if not rec.get("ok"):
        rep.fail(f"{who}: the client did not see what its kind expects: end {rec.get('end')}, "
                 f"alert seen {rec.get('alert_seen')}, echo {rec.get('echo_ok')}, error {rec.get('error')}"
                 + (f", rc {rec.get('rc')}, stderr {rec.get('stderr_tail')!r}" if "rc" in rec else ""))
    if rec["kind"] in ("badca", "s_badca12", "s_badca13"):
        code = rec.get("verify_code", rec.get("verify_error"))
        if code != 20:
            rep.fail(f"{who}: client's verification error {code}, expected 20 (unable to get local issuer)")
    if rec["kind"] == "idle" and args.idle_timeout:
        # (wait_s runs from the client's last send, before the engine's
        # idle clock starts: a late-scheduled client thread cannot make it
        # read short)
        w = rec.get("wait_s") or 0.0
        if not 0.8 * args.idle_timeout <= w <= args.idle_timeout + 5:
            rep.fail(f"{who}: closed {w:.2f} s after the last exchange; idle timeout {args.idle_timeout} s")
    if rec["kind"] == "stall" and args.handshake_timeout:
        check_handshake_limit(closed, args.handshake_timeout, who, rep)
    check_addresses(s, args, who, rep)


def check_tls_up(rec, up, who, rep, mtls):
    if up.get("tls_version") != rec.get("version"):
        rep.fail(f"{who}: tls_up tls_version {up.get('tls_version')!r}, client negotiated {rec.get('version')!r}")
    want = iana_cipher(rec.get("cipher") or "")
    if not up.get("cipher"):
        rep.fail(f"{who}: tls_up without cipher: {up}")
    elif want is None:
        rep.warn(f"{who}: client cipher {rec.get('cipher')!r} has no IANA name here; engine says {up['cipher']}")
    elif up["cipher"] != want:
        rep.fail(f"{who}: tls_up cipher {up['cipher']!r}, client negotiated {rec.get('cipher')} = {want}")
    if up.get("sni") != SNI:
        rep.fail(f"{who}: tls_up sni {up.get('sni')!r}, client sent {SNI}")
    if (up.get("alpn") or None) != rec.get("alpn"):
        rep.fail(f"{who}: tls_up alpn {up.get('alpn')!r}, client negotiated {rec.get('alpn')!r}")
    # the engine runs with --tls-alpn sip: a client that offered sip gets it
    # (both ends without ALPN agreed, and passed, when --tls-alpn was ignored)
    if rec.get("alpn_offered") == "sip" and rec.get("connected") and up.get("alpn") != "sip":
        rep.fail(f"{who}: offered alpn sip, tls_up alpn {up.get('alpn')!r}")
    want_resumed = bool(rec.get("reused"))
    if up.get("resumed") is not want_resumed:
        rep.fail(f"{who}: tls_up resumed {up.get('resumed')!r}, client {'resumed' if want_resumed else 'did a full handshake'}")
    subj = up.get("peer_subject") or ""
    if mtls and rec["kind"] == "mtls":
        if "CN=client.cee.test" not in norm_subject(subj) or "O=cee" not in norm_subject(subj):
            rep.fail(f"{who}: tls_up peer_subject {subj!r}, expected O=cee, CN=client.cee.test")
    elif subj:
        rep.fail(f"{who}: tls_up peer_subject {subj!r} without a client certificate")


def check_concurrency(pairs, args, rep):
    """Held connections: per shard, every tls_up before any closed."""
    held = [(r, s) for r, s in pairs if r["kind"] in UP_KINDS and s["tls_up"] is not None]
    live = 0
    for sh in sorted({s["shard"] for _, s in held}):
        ups = [s["tls_up"]["sseq"] for r, s in held if s["shard"] == sh]
        closes = [s["closed"]["sseq"] for r, s in held if s["shard"] == sh]
        last_up, first_close = max(ups), min(closes)
        rep.check(last_up < first_close,
                  f"shard {sh}: a held connection closed (sseq {first_close}) before the last one was up "
                  f"(sseq {last_up}): they were not all live at once")
        live += len(ups)
    rep.info(f"{live} held TLS connections up at once (all tls_up before any of their closed, per shard)")
    rep.check(live >= args.min_concurrent, f"only {live} held TLS connections live at once, "
              f"need {args.min_concurrent}")


def check_tls_stats(tls, summaries, rep, answered=0):
    """--stats total.tls against the events: one count per kind of end."""
    if not isinstance(tls, dict):
        rep.fail(f"--stats has no total.tls object: {tls!r}")
        return
    closed = [s["closed"] for s in summaries]
    ups = [s["tls_up"] for s in summaries if s["tls_up"]]
    want = {
        "handshakes": len(ups),
        "resumed": sum(1 for u in ups if u.get("resumed") is True),
        "alerts_sent": sum(1 for c in closed if c["reason"] == "tls_alert" and c.get("alert_by") == "local"),
        "alerts_received": sum(1 for c in closed if c["reason"] == "tls_alert" and c.get("alert_by") == "peer"),
        # the first cause of a close, and the clients' answers to ours
        # (idle clients that answer: read after our FIN, not reset)
        "close_notify_received": sum(1 for c in closed if c["reason"] == "tls_close_notify") + answered,
        "truncated": sum(1 for c in closed if c.get("tls_truncated") is True),
        "no_slot": 0,
    }
    for k, v in want.items():
        rep.check(tls.get(k) == v, f"stats total.tls.{k} {tls.get(k)}, the events say {v}")


def run():
    args = parse_args()
    rep = Report("tls_check")
    events = load_events(args.events, rep)
    with open(args.clients) as f:
        clients = json.load(f)
    recs, meta = clients["conns"], clients["meta"]
    rep.info(f"{len(events)} event lines, {len(recs)} client connections")
    conns = check_stream(events, rep)
    summaries = [summary(evs) for evs in conns.values()]
    opens = sum(1 for e in events if e.get("type") == "open")
    mtls = any(r["kind"] in ("mtls", "nocert", "badcert") for r in recs)

    for r in recs:
        if not r.get("connected", True):
            rep.fail(f"{r['kind']} client #{r['id']}: TCP connect failed: {r.get('error')}")
    pairs = pair(summaries, recs, args.order, rep)
    matched = {s["conn"] for _, s in pairs}
    for s in summaries:
        if s["conn"] not in matched:
            rep.fail(f"engine connection {s['conn']} from port {s['remote_port']} matches no client "
                     f"({[e['type'] for e in conns[s['conn']]]}, reason {s['closed'] and s['closed']['reason']})")
    mrecs = {id(r) for r, _ in pairs}
    for r in recs:
        if id(r) not in mrecs and r.get("connected", True):
            rep.fail(f"{r['kind']} client #{r['id']} lport {r.get('lport')} has no engine connection")
    for r, s in pairs:
        check_pair(r, s, args, rep, mtls)

    if args.min_concurrent:
        rep.check(meta.get("concurrent_established", 0) >= args.min_concurrent,
                  f"client side: {meta.get('concurrent_established')} held connections established at once, "
                  f"need {args.min_concurrent}")
        check_concurrency(pairs, args, rep)

    # what was seen, per client kind
    per_kind = collections.defaultdict(collections.Counter)
    for r, s in pairs:
        c = s["closed"]
        what = c["reason"]
        if c["reason"] == "tls_alert":
            what += f" {c.get('alert')} {c.get('alert_name')} by {c.get('alert_by')}"
        if c.get("tls_truncated"):
            what += " tls_truncated"
        if s["tls_up"] is not None:
            what += f" [TLS {s['tls_up'].get('tls_version')}" + (" resumed" if s["tls_up"].get("resumed") else "") + "]"
        per_kind[r["kind"] + (f" max {r['tls_max']}" if r.get("tls_max") else "")][what] += 1
    for k in sorted(per_kind):
        n = sum(per_kind[k].values())
        rep.info(f"{k:18} {n:4}: " + "; ".join(f"{w} x{c}" for w, c in sorted(per_kind[k].items())))
    client_ends = collections.Counter(f"{r['kind']}:{r.get('end')}" + (f"/alert {r['alert_seen']}" if r.get("alert_seen") is not None else "")
                                      for r in recs)
    rep.info("client saw: " + ", ".join(f"{k}={v}" for k, v in sorted(client_ends.items())))
    idle = [r["wait_s"] for r, _ in pairs if r["kind"] == "idle" and r.get("wait_s") is not None]
    if idle:
        rep.info(f"idle: the engine closed {min(idle):.2f}..{max(idle):.2f} s after the last exchange "
                 f"(--idle-timeout {args.idle_timeout})")
    stall = [s["closed"]["duration_ns"] / 1e9 for r, s in pairs if r["kind"] == "stall"]
    if stall:
        rep.info(f"stall: closed {min(stall):.2f}..{max(stall):.2f} s after open "
                 f"(--handshake-timeout {args.handshake_timeout})")
    reasons = collections.Counter(s["closed"]["reason"] for s in summaries)
    rep.info("closed by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())))
    ciphers = collections.Counter(f"{s['tls_up'].get('tls_version')} {s['tls_up'].get('cipher')}"
                                  for s in summaries if s["tls_up"])
    rep.info("tls_up: " + ", ".join(f"{k} x{v}" for k, v in sorted(ciphers.items())))

    per_shard = collections.Counter(s["shard"] for s in summaries)
    rep.info("connections per shard: " + ", ".join(f"{k}={v}" for k, v in sorted(per_shard.items())))
    if args.shards > 1 and summaries:
        for sh in range(args.shards):
            share = per_shard.get(sh, 0) / len(summaries)
            rep.check(share >= args.min_share, f"shard {sh} owns {per_shard.get(sh, 0)} of {len(summaries)} "
                      f"connections ({share:.0%}): steering does not spread flows")
    rep.check(not set(per_shard) - set(range(args.shards)),
              f"events from shards {sorted(set(per_shard) - set(range(args.shards)))}, engine has {args.shards}")

    if args.stats:
        st = load_stats(args.stats, rep)
        if st is not None:
            tot = st["total"]
            rep.info(f"stats total: {json.dumps(tot, sort_keys=True)}")
            rep.check(tot.get("opened") == opens, f"stats total.opened {tot.get('opened')} != {opens} open events")
            rep.check(tot.get("live") == 0, f"stats total.live {tot.get('live')} after shutdown")
            rep.check(tot.get("refused") == 0, f"stats total.refused {tot.get('refused')}")
            # no echo failed: a record after the engine's close_notify (idle
            # clients send one) is taken in and goes nowhere, not to an
            # echo that would count a send failure
            rep.check(tot.get("layer_send_fail") == 0,
                      f"stats total.layer_send_fail {tot.get('layer_send_fail')}")
            late = sum(1 for r, _ in pairs if r.get("late_sent"))
            if any(r["kind"] == "idle" for r, _ in pairs):
                rep.check(late > 0, "no idle client sent a record after the engine's close_notify")
                # and nothing reset them for it: they still owed their
                # answer to it (tcp.abort_on_data counts such resets)
                aod = (tot.get("tcp") or {}).get("abort_on_data")
                rep.check(aod == 0, f"stats tcp abort_on_data {aod!r}: {late} idle clients wrote "
                          "after our close_notify, before answering it")
                rep.info(f"{late} idle clients sent a record after the engine's close_notify")
            rep.check(len(st["shards"]) == args.shards, f"stats lists {len(st['shards'])} shards")
            check_tls_stats(tot.get("tls"), summaries, rep,
                            answered=sum(1 for r, _ in pairs if r.get("notify_sent")))
    return rep.finish()


if __name__ == "__main__":
    main_guard(run)
