#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check cee-engine's events for persistent outbound links (--connect)
against what the server in the namespace did (links_server.py's log).

Guards against: identity confusion (fault 1) between a link's old
connection, still in TIME-WAIT, and its new one: the old id's late
`destroyed` must not end the new connection nor hide its drop (every
late-destroy sequence, old `destroyed` after the next id's `link_up`, is
counted, every ending where the engine closed first must produce one, and
the next connection's own `link_down` must still come); lost or doubled
link events (per link, link_up and link_down alternate from link_up, each
link_down names the connection of the link_up before it, right after that
connection's `closed` and with its reason); a link that does not come back
after a drop, or comes back on another shard or to another server; a
drop reported under the wrong reason (by how the server ended it);
reconnect delays outside the backoff the spec gives (a drop after less time
up than the longest wait so far counts as a failure: docs/events.md);
lost close events of
link connections (exactly one closed and one destroyed per open); byte
counters or TLS facts (version, truncation) that disagree with the server.

Schema 3 is checked here on its own (cee-audit checks it too): per shard
sseq coverage with xseq, per connection cseq from 0 and the contract order
open, established, tls_up, ws_up, link_up, closed, link_down, destroyed.

Expected reason per server ending (links_server.py): notify, notify_hold
-> tls_close_notify; fin, restart -> peer_fin (TLS: tls_truncated true);
rst -> peer_rst; idle -> idle_timeout; blackhole -> keepalive_timeout or
retransmit_timeout; the final (held) connection -> shutdown, whose link_down
has no next_attempt_ms.
"""

import argparse
import json

from ceeit import REASONS, Report, load_events, load_stats, main_guard

ORDER = ["open", "established", "tls_up", "ws_up", "link_up", "closed", "link_down", "destroyed"]
RANK = {t: i for i, t in enumerate(ORDER)}
ALL_REASONS = REASONS | {"keepalive_timeout"}
EXPECTED = {"notify": {"tls_close_notify"}, "notify_hold": {"tls_close_notify"}, "fin": {"peer_fin"},
            "restart": {"peer_fin"}, "rst": {"peer_rst"}, "idle": {"idle_timeout"},
            "blackhole": {"keepalive_timeout", "retransmit_timeout"}, "hold": {"shutdown"}}
ENGINE_FIRST = {"notify_hold", "idle"}
# reasons of attempts that never came up: refused (RST), no answer, the TLS handshake
FAILED_ATTEMPT_REASONS = {"peer_rst", "handshake_timeout", "retransmit_timeout", "tls_alert"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", required=True)
    p.add_argument("--server-log", required=True)
    p.add_argument("--stats")
    p.add_argument("--proto", choices=("tcp", "tls"), required=True)
    p.add_argument("--server", required=True, help="IP:PORT the links connect to")
    p.add_argument("--engine-ip", required=True)
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--drops", type=int, required=True, help="drops per link before the final connection")
    p.add_argument("--reconnect", default="100:30000", help="the engine's --reconnect MIN_MS:MAX_MS")
    p.add_argument("--idle-timeout", type=float, default=2.0)
    p.add_argument("--min-late", type=int, default=1,
                   help="late-destroy sequences required over all links")
    p.add_argument("--min-late-strong", type=int, default=1,
                   help="of them, those where the next connection's link_down came before the old destroyed")
    p.add_argument("--delay-slack-ms", type=float, default=1000.0,
                   help="reconnect delay: lateness allowed beyond the drawn delay (scheduling on a "
                        "shared 2-CPU machine: threads there were seen to stall for up to 1.3 s); "
                        "never early")
    p.add_argument("--sni", default="server.cee.test")
    p.add_argument("--require-ctl", action="store_true",
                   help="the server must have checked cee-ctl links, watch and a stale watch")
    return p.parse_args()


def contract(events, rep):
    """Schema 3 stream rules. @return {conn: [events in stream order]} for
    every connection whose first event is its open (those that broke a rule
    too: the per-link checks still place them)."""
    next_sseq = {}
    conns = {}
    for ev in events:
        where = f"line {ev['_line']}"
        if ev.get("v") != 3:
            rep.fail(f"{where}: schema version {ev.get('v')!r}, expected 3")
        if ev.get("type") not in RANK:
            rep.fail(f"{where}: type {ev.get('type')!r} is not a lifecycle or link event: {ev}")
            continue
        if ev.get("ext_truncated"):
            rep.fail(f"{where}: ext_truncated: {ev}")
        shard, sseq = ev["shard"], ev["sseq"]
        first = ev.get("xseq", sseq)
        exp = next_sseq.get(shard, 1)
        if first != exp:
            rep.fail(f"{where}: shard {shard} sseq {first}, expected {exp}")
        next_sseq[shard] = sseq + 1
        if int(ev["conn"], 16) >> 56 != shard:
            rep.fail(f"{where}: conn {ev['conn']} emitted by shard {shard}, not its owner")
        conns.setdefault(ev["conn"], []).append(ev)
    good = {}
    for conn, evs in conns.items():
        types = [e["type"] for e in evs]
        if types[0] != "open":
            rep.fail(f"conn {conn}: first event {types[0]}")
            continue
        for i, e in enumerate(evs):
            if e["cseq"] != i:
                rep.fail(f"conn {conn}: cseq {e['cseq']} at position {i} (line {e['_line']})")
                break
        for x, y in zip(evs, evs[1:]):
            if RANK[y["type"]] <= RANK[x["type"]]:
                rep.fail(f"conn {conn}: {y['type']} after {x['type']} (line {y['_line']})")
                break
        if "closed" not in types or "destroyed" not in types:
            rep.fail(f"conn {conn}: lost terminal events, has only {types}")
        by = {e["type"]: e for e in evs}
        op = evs[0]
        if op.get("dir") not in ("in", "out"):
            rep.fail(f"conn {conn}: open without dir in/out: {op}")
        if "closed" in by:
            cl = by["closed"]
            if cl.get("reason") not in ALL_REASONS:
                rep.fail(f"conn {conn}: unknown reason {cl.get('reason')!r}")
        if "link_up" in by:
            up = by["link_up"]
            if op.get("dir") != "out" or "link" not in op:
                rep.fail(f"conn {conn}: link_up on a connection whose open has dir {op.get('dir')!r}, "
                         f"link {op.get('link')!r}")
            if up.get("link") != op.get("link"):
                rep.fail(f"conn {conn}: link_up names link {up.get('link')!r}, its open {op.get('link')!r}")
            need = "tls_up" if op.get("proto") == "tls" else "established"
            if need not in by:
                rep.fail(f"conn {conn}: link_up without {need}: {types}")
        if "link_down" in by:
            dn = by["link_down"]
            if "link_up" not in by:
                rep.fail(f"conn {conn}: link_down without link_up: {types}")
            cl = by.get("closed")
            if cl is None or dn["cseq"] != cl["cseq"] + 1:
                rep.fail(f"conn {conn}: link_down not right after closed: {types}")
            elif dn.get("reason") != cl["reason"]:
                rep.fail(f"conn {conn}: link_down reason {dn.get('reason')!r}, closed {cl['reason']!r}")
            if dn.get("link") != op.get("link"):
                rep.fail(f"conn {conn}: link_down names link {dn.get('link')!r}, its open {op.get('link')!r}")
        for t in ("open", "established", "tls_up", "link_up", "closed", "link_down", "destroyed"):
            if types.count(t) > 1:
                rep.fail(f"conn {conn}: {types.count(t)} {t} events")
        good[conn] = evs
    return good


def backoff_range(k, lo_ms, hi_ms):
    """[low, high] of the delay after k failed attempts since the link was last up."""
    b = min(hi_ms, lo_ms * 2 ** (k + 1))
    return max(lo_ms, b / 2), b


def load_server(path, rep):
    try:
        with open(path, encoding="utf-8") as f:
            recs = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        rep.fail(f"server log {path}: {e}")
        return []
    return recs


def main():
    a = parse_args()
    rep = Report("links_check")
    lo_ms, hi_ms = (float(x) for x in a.reconnect.split(":"))
    events = load_events(a.events, rep)
    conns = contract(events, rep)
    slog = load_server(a.server_log, rep)
    meta = next((r for r in slog if r["type"] == "meta"), None)
    if meta is None:
        rep.fail("server log has no meta record")
        return rep.finish()
    links = meta["links"]
    for r in slog:
        if r["type"] == "fail":
            rep.fail(f"server: {r['msg']}")
    if not any(r["type"] == "done" for r in slog):
        rep.fail("server log: the links never all came back after the last round (no done record)")
    srv_conns = {}
    for r in slog:
        if r["type"] == "conn" and r.get("id"):
            srv_conns.setdefault(r["id"], r)
            if r.get("end") == "held":
                srv_conns[r["id"]] = r

    first = {c: evs[0] for c, evs in conns.items()}
    inbound = [c for c, o in first.items() if o.get("dir") != "out"]
    if inbound:
        rep.fail(f"{len(inbound)} connection(s) not made by a link (dir in): {inbound[:5]}")

    totals = {"late": 0, "late_strong": 0, "failed_attempts": {}, "reasons": {}, "blackhole_s": [],
              "max_late_ms": 0.0, "short_ups": 0}
    for li, name in enumerate(links):
        check_link(a, rep, li, name, conns, srv_conns, lo_ms, hi_ms, totals)

    # a link whose next hop answers no ARP: each time the resolver gives
    # up (three requests a second apart, then 5 s of hold-down), one
    # attempt, closed at once host_unreachable: open, closed, destroyed
    unresolved = meta.get("unresolved") or ""
    if unresolved:
        mine = [evs for evs in conns.values() if evs[0].get("link") == unresolved]
        if not mine:
            rep.fail(f"{unresolved}: no attempt (host_unreachable) at all")
        for evs in mine:
            types = [e["type"] for e in evs]
            reason = next((e.get("reason") for e in evs if e["type"] == "closed"), None)
            if types != ["open", "closed", "destroyed"] or reason != "host_unreachable":
                rep.fail(f"{unresolved}: conn {evs[0]['conn']}: {types}, reason {reason!r}; expected "
                         "open, closed (host_unreachable), destroyed")
        # once per round of the resolver (about 8 s), not at every retry
        if len(mine) > 1:
            ts = sorted(evs[0]["ts_ns"] for evs in mine)
            gap = min(b - x for x, b in zip(ts, ts[1:])) / 1e9
            if gap < 5.0:
                rep.fail(f"{unresolved}: attempts {gap:.2f} s apart: one per failure of the resolver expected")
        links = links + [unresolved]
    strays = [c for c, o in first.items() if o.get("dir") == "out" and o.get("link") not in links]
    if strays:
        rep.fail(f"connections of unknown links: {strays[:5]}")

    # the control-plane checks the server made (it fails itself on a mismatch)
    n_links = sum(1 for r in slog if r["type"] == "ctl_links")
    watches = [r for r in slog if r["type"] == "watch"]
    stale = [r for r in slog if r["type"] == "watch_stale"]
    seen = []
    for w in watches:
        try:
            got = json.loads(w["stdout"])["closed"]
        except (ValueError, KeyError, TypeError):
            rep.fail(f"cee-ctl watch {w['id']}: exit {w['rc']}, {w['stdout']!r} {w['stderr']!r}")
            continue
        seen.append(got.get("reason"))
        cl = next((e for e in conns.get(w["id"], []) if e["type"] == "closed"), None)
        if cl is None or got.get("reason") != cl["reason"] or got.get("bytes_in") != cl["bytes_in"] \
                or got.get("bytes_out") != cl["bytes_out"]:
            rep.fail(f"cee-ctl watch {w['id']} printed {got}, the stream's closed is {cl}")
        if got.get("reason") not in EXPECTED.get(w["kind"], set()):
            rep.fail(f"cee-ctl watch {w['id']}: reason {got.get('reason')}, the server ended it by {w['kind']}")
    for r in stale:
        if r["rc"] != 1 or "no such connection" not in r["stdout"] + r["stderr"]:
            rep.fail(f"cee-ctl watch {r['id']} (stale): exit {r['rc']}, {r['stdout']!r} {r['stderr']!r}")
    if a.require_ctl and (n_links == 0 or not watches or not stale):
        rep.fail(f"control-plane checks missing: {n_links} links, {len(watches)} watch, {len(stale)} stale watch")
    rep.info(f"control plane: {n_links} cee-ctl links check(s) with every link up, {len(watches)} watch(es) "
             f"printing closed {seen}, {len(stale)} stale-id watch(es) answered no such connection")
    for r in slog:
        if r["type"] == "badcert":
            for n, i in (r.get("ids") or {}).items():
                evs = conns.get(i, [])
                by = {e["type"]: e for e in evs}
                cl = by.get("closed", {})
                if "tls_up" in by or "link_up" in by or cl.get("reason") != "tls_alert" \
                        or cl.get("alert_by") != "local":
                    rep.fail(f"{n}: attempt {i} on the server of another CA: {[e['type'] for e in evs]}, "
                             f"closed {cl}")
            rep.info(f"server of another CA: {len(r.get('ids') or {})} link(s) refused it "
                     f"(alerts {sorted({e.get('alert_name') for i in (r.get('ids') or {}).values() for e in conns.get(i, []) if e['type'] == 'closed'})})")

    if a.stats:
        st = load_stats(a.stats, rep)
        if st:
            t = st["total"]
            n_open = sum(1 for e in events if e.get("type") == "open")
            n_destroyed = sum(1 for e in events if e.get("type") == "destroyed")
            if t.get("opened") != n_open or t.get("destroyed") != n_destroyed or t.get("live") != 0:
                rep.fail(f"--stats total opened {t.get('opened')} destroyed {t.get('destroyed')} "
                         f"live {t.get('live')}; events: {n_open} open, {n_destroyed} destroyed")
    if totals["late"] < a.min_late:
        rep.fail(f"late-destroy sequences: {totals['late']}, expected at least {a.min_late}")
    if totals["late_strong"] < a.min_late_strong:
        rep.fail(f"late-destroy sequences where the new connection dropped before the old one was destroyed: "
                 f"{totals['late_strong']}, expected at least {a.min_late_strong}")
    rep.info(f"{len(links)} link(s), {len(conns)} connections; drop reasons {dict(sorted(totals['reasons'].items()))}; "
             f"failed attempts {dict(sorted(totals['failed_attempts'].items()))}; late destroys "
             f"{totals['late']} ({totals['late_strong']} after the new connection's own drop); drops after a short "
             f"time up (backed off as failures) {totals['short_ups']}; reconnects at most "
             f"{totals['max_late_ms']:.0f} ms after their drawn delay"
             + (f"; blackhole: every link closed within {min(totals['blackhole_s']):.2f}-"
                f"{max(totals['blackhole_s']):.2f} s of the route" if totals["blackhole_s"] else ""))
    return rep.finish()


def check_link(a, rep, li, name, conns, srv_conns, lo_ms, hi_ms, totals):
    shard = li % a.shards
    mine = sorted((evs for evs in conns.values() if evs[0].get("link") == name),
                  key=lambda evs: evs[0]["sseq"])
    if not mine:
        rep.fail(f"{name}: no connection at all")
        return
    by = {evs[0]["conn"]: {e["type"]: e for e in evs} for evs in mine}
    for evs in mine:
        o = evs[0]
        if o["shard"] != shard:
            rep.fail(f"{name}: conn {o['conn']} on shard {o['shard']}, link {li} belongs to shard {shard}")
        if o["remote"] != a.server or o["proto"] != a.proto or not o["local"].startswith(a.engine_ip + ":"):
            rep.fail(f"{name}: conn {o['conn']}: {o['proto']} {o['local']} -> {o['remote']}, "
                     f"expected {a.proto} {a.engine_ip} -> {a.server}")
    # link events in stream order (one shard: sseq order)
    seq = sorted((e for evs in mine for e in evs if e["type"] in ("link_up", "link_down")),
                 key=lambda e: e["sseq"])
    state, cur = "down", None
    ups, downs = [], []
    for e in seq:
        if e["type"] == "link_up":
            if state == "up":
                rep.fail(f"{name}: link_up of {e['conn']} while {cur} is up (line {e['_line']})")
            state, cur = "up", e["conn"]
            ups.append(e)
        else:
            if state != "up":
                rep.fail(f"{name}: link_down of {e['conn']} while the link is down (line {e['_line']})")
            elif e["conn"] != cur:
                rep.fail(f"{name}: link_down names {e['conn']}, the link_up before it was {cur} (line {e['_line']})")
            state = "down"
            downs.append(e)
    drops = downs[:-1] if downs and downs[-1].get("reason") == "shutdown" else downs
    if len(drops) != a.drops or len(ups) != a.drops + 1:
        rep.fail(f"{name}: {len(drops)} link_down before shutdown and {len(ups)} link_up, expected "
                 f"{a.drops} and {a.drops + 1}")
    if not downs or downs[-1].get("reason") != "shutdown" or len(downs) != len(ups):
        rep.fail(f"{name}: the last connection's link_down with reason shutdown is missing "
                 f"(last: {downs[-1] if downs else None})")
    elif "next_attempt_ms" in downs[-1]:
        rep.fail(f"{name}: the shutdown link_down has next_attempt_ms: {downs[-1]}")
    # The engine's backoff, replayed: each attempt that failed counts one
    # failure; a drop after the link was up at least as long as the longest
    # wait at its failures so far is stable and starts over (the first
    # retry 100-200 ms with 100:30000), a drop after less counts one more
    # failure (a server that drops each connection at once is retried ever
    # more slowly, not every 100-200 ms for ever). Up times within 2 ms of
    # the bound may go either way (the event clock against the engine's).
    lo0, hi0 = backoff_range(0, lo_ms, hi_ms)
    ordinal = {evs[0]["conn"]: i + 1 for i, evs in enumerate(mine)}
    for e in ups + downs:
        if e.get("attempt") != ordinal[e["conn"]]:
            rep.fail(f"{name}: {e['type']} of {e['conn']}: attempt {e.get('attempt')!r}, it is the link's "
                     f"connection number {ordinal[e['conn']]}")
    fails = 0
    ever_up = False
    prev, prev_ranges = None, None
    for evs in mine:
        c = evs[0]["conn"]
        b = by[c]
        if prev is not None and prev_ranges is not None:
            pb = by[prev]
            n = pb.get("link_down", {}).get("next_attempt_ms")
            t_end = pb["link_down"]["ts_ns"] if "link_down" in pb else pb["closed"]["ts_ns"]
            ranges = [(n, n)] if isinstance(n, int) else prev_ranges
            d_ms = (b["open"]["ts_ns"] - t_end) / 1e6
            hi = max(r[1] for r in ranges)
            totals["max_late_ms"] = max(totals["max_late_ms"], d_ms - hi)
            if not any(lo - 1 <= d_ms <= h + a.delay_slack_ms for lo, h in ranges):
                rep.fail(f"{name}: attempt {ordinal[c]} ({c}) {d_ms:.1f} ms after the previous one ended; "
                         f"expected {' or '.join(f'{lo:g}..{h:g}' for lo, h in ranges)} ms "
                         f"(+{a.delay_slack_ms:g} slack)")
        prev_ranges = None
        if "link_up" in b:
            ever_up = True
            d = b.get("link_down")
            if d is not None and d.get("reason") != "shutdown":
                up_ms = (d["ts_ns"] - b["link_up"]["ts_ns"]) / 1e6
                bound = backoff_range(fails, lo_ms, hi_ms)[1]
                ks = []
                if up_ms >= bound - 2:
                    ks.append(0)
                if up_ms < bound + 2:
                    ks.append(fails + 1)
                fails = 0 if up_ms >= bound else fails + 1
                prev_ranges = [backoff_range(k, lo_ms, hi_ms) for k in ks]
                n = d.get("next_attempt_ms")
                if not isinstance(n, int) or not any(lo <= n <= h for lo, h in prev_ranges):
                    rep.fail(f"{name}: link_down of {c} after {up_ms:.1f} ms up: next_attempt_ms {n!r}, "
                             f"expected {' or '.join(f'{lo:g}..{h:g}' for lo, h in prev_ranges)}")
                totals["reasons"][d["reason"]] = totals["reasons"].get(d["reason"], 0) + 1
                totals["short_ups"] += fails > 0
        elif "closed" in b:
            fails += 1
            lo, h = backoff_range(fails, lo_ms, hi_ms)
            if not ever_up:  # never up: the first retry may count as k = 0
                lo = backoff_range(max(0, fails - 1), lo_ms, hi_ms)[0]
            prev_ranges = [(lo, h)]
            r = b["closed"]["reason"]
            totals["failed_attempts"][r] = totals["failed_attempts"].get(r, 0) + 1
            if r not in FAILED_ATTEMPT_REASONS or (r == "tls_alert" and a.proto != "tls"):
                rep.fail(f"{name}: attempt {ordinal[c]} ({c}) failed with reason {r}")
        prev = c

    # the server's view: one record per link_up, in order, and the reasons
    recs = sorted((r for r in srv_conns.values() if r.get("link") == name), key=lambda r: r["round"])
    if [r["id"] for r in recs] != [u["conn"] for u in ups]:
        rep.fail(f"{name}: the server served {[r['id'] for r in recs]}, the links came up as "
                 f"{[u['conn'] for u in ups]}")
    if [r["round"] for r in recs] != list(range(len(recs))):
        rep.fail(f"{name}: server rounds {[r['round'] for r in recs]}")
    for r in recs:
        b = by.get(r["id"])
        if b is None or "closed" not in b:
            continue
        cl, k = b["closed"], r["kind"]
        who = f"{name} round {r['round']} {k} ({r['id']})"
        if cl["reason"] not in EXPECTED[k]:
            rep.fail(f"{who}: reason {cl['reason']}, expected {'/'.join(sorted(EXPECTED[k]))} "
                     f"(server saw end {r.get('end')})")
        if a.proto == "tls":
            trunc = k in ("fin", "restart")
            if bool(cl.get("tls_truncated", False)) != trunc:
                rep.fail(f"{who}: tls_truncated {cl.get('tls_truncated')!r}, expected {trunc}")
            up = b.get("tls_up", {})
            if up.get("tls_version") != r.get("version"):
                rep.fail(f"{who}: tls_up version {up.get('tls_version')!r}, the server negotiated {r.get('version')!r}")
            if r.get("sni") != a.sni:
                rep.fail(f"{who}: the server saw SNI {r.get('sni')!r}, expected {a.sni}")
            if k in ("notify", "notify_hold", "fin", "idle") and not r.get("engine_close_notify"):
                rep.fail(f"{who}: the engine did not end its side with close_notify (server: {r.get('end')}, "
                         f"{r.get('tls_error')})")
        if k in ("notify", "notify_hold", "fin", "idle") and r.get("end") != "eof":
            rep.fail(f"{who}: the server saw the engine end with {r.get('end')}, expected its FIN")
        if r.get("unexpected_bytes"):
            rep.fail(f"{who}: the engine sent {r['unexpected_bytes']} bytes after the server's ending")
        if k != "hold" and (cl["bytes_in"] != r["sent"] or cl["bytes_out"] != r["recv"]):
            rep.fail(f"{who}: bytes_in {cl['bytes_in']} bytes_out {cl['bytes_out']}, server sent {r['sent']} "
                     f"received {r['recv']}")
        if k == "idle":
            # wait_s runs from the server's last send (before the engine's
            # idle clock starts); 0.5 s of slack still fails a close by
            # the listeners' shorter --idle-timeout (1 s, test_links.sh)
            w = r.get("wait_s")
            if w is None or not a.idle_timeout - 0.5 <= w <= a.idle_timeout + 1.5:
                rep.fail(f"{who}: the engine closed {w} s after the last echo, --link-idle-timeout {a.idle_timeout:g}")
        if k == "blackhole" and "detect_s" in r:
            totals["blackhole_s"].append(r["detect_s"])

    # late destroys: the old id's destroyed after the next id's link_up
    kinds = {r["id"]: r["kind"] for r in recs}
    for u0, u1 in zip(ups, ups[1:]):
        old, new = u0["conn"], u1["conn"]
        d_old = by[old].get("destroyed")
        if d_old is None:
            continue
        late = d_old["sseq"] > u1["sseq"]
        if late:
            totals["late"] += 1
            dn_new = by[new].get("link_down")
            if dn_new is None:
                rep.fail(f"{name}: {new} came up before {old} was destroyed and its drop was never reported")
            elif dn_new["sseq"] < d_old["sseq"]:
                totals["late_strong"] += 1
        elif kinds.get(old) in ENGINE_FIRST:
            rep.fail(f"{name}: {old} (ended by {kinds[old]}: the engine closed first, TIME-WAIT) was destroyed "
                     f"before the next connection {new} came up: no late-destroy sequence")


if __name__ == "__main__":
    main_guard(main)
