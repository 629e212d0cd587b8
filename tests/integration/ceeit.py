# SPDX-License-Identifier: BSD-3-Clause
"""Shared pieces of the integration checkers: reading the engine's JSON Lines
events and --stats JSON, checking the lifecycle contract, and matching
engine connections to the client connections that a peer recorded.

The contract (docs and events/cee_audit.h): per shard, sseq consecutive from
1; per connection, cseq consecutive from 0, `open` first, types in contract
order, exactly one `closed` then exactly one `destroyed`, nothing after; every
event of a connection carries the shard encoded in its id (its owner).
"""

import json
import sys

# Contract order (cee_evt_rank() in events/cee_event.h); schema 3 added
# link_up and link_down, which rank between the milestones and closed, and
# between closed and destroyed.
TYPE_ORDER = ["open", "established", "tls_up", "ws_up", "link_up", "closed", "link_down",
              "destroyed"]
TYPE_RANK = {t: i for i, t in enumerate(TYPE_ORDER)}
REASONS = {"peer_fin", "peer_rst", "local_close", "idle_timeout", "handshake_timeout",
           "retransmit_timeout", "tls_alert", "tls_close_notify", "ws_close",
           "protocol_error", "admin_kill", "port_down", "shutdown", "no_resources",
           "ws_upgrade_failed", "ws_ping_timeout", "keepalive_timeout",
           "zero_window_timeout", "host_unreachable"}
DIRS = ("in", "out")
ID_SHARD_SHIFT = 56


class Report:
    """Collects failures and notes; prints the first few of each kind."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.warnings = []

    def fail(self, msg):
        self.failures.append(msg)

    def warn(self, msg):
        self.warnings.append(msg)

    def check(self, cond, msg):
        if not cond:
            self.fail(msg)
        return cond

    def info(self, msg):
        print(f"{self.name}: {msg}")

    def finish(self, limit=40):
        for w in self.warnings[:limit]:
            print(f"{self.name}: WARN {w}")
        if len(self.warnings) > limit:
            print(f"{self.name}: ... {len(self.warnings) - limit} more warnings")
        for f in self.failures[:limit]:
            print(f"{self.name}: FAIL {f}")
        if len(self.failures) > limit:
            print(f"{self.name}: ... {len(self.failures) - limit} more failures")
        if self.failures:
            print(f"{self.name}: {len(self.failures)} failure(s)")
            return 1
        print(f"{self.name}: ok")
        return 0


def conn_shard(conn_hex):
    return int(conn_hex, 16) >> ID_SHARD_SHIFT


def split_addr(addr):
    ip, _, port = addr.rpartition(":")
    return ip, int(port)


def load_events(path, report):
    """@return the events in file order; each gets '_line' (1-based)."""
    events = []
    try:
        f = open(path, "r", encoding="utf-8", errors="replace")
    except OSError as e:
        report.fail(f"events file: {e}")
        return events
    with f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError as e:
                report.fail(f"{path}:{n}: not JSON ({e}): {line[:120]}")
                continue
            if not isinstance(ev, dict):
                report.fail(f"{path}:{n}: not an object")
                continue
            ev["_line"] = n
            events.append(ev)
    return events


def load_stats(path, report):
    try:
        with open(path, "r", encoding="utf-8") as f:
            st = json.load(f)
    except (OSError, ValueError) as e:
        report.fail(f"--stats file {path}: {e}")
        return None
    if not isinstance(st, dict) or "total" not in st or "shards" not in st:
        report.fail(f"--stats file {path} lacks 'total'/'shards': {json.dumps(st)[:300]}")
        return None
    return st


REQUIRED = ("v", "type", "conn", "shard", "sseq", "cseq", "ts_ns", "proto", "local", "remote")
CLOSED_REQUIRED = ("reason", "bytes_in", "bytes_out", "duration_ns")


def check_contract(events, report, allow_live=False):
    """Check the generic lifecycle contract.

    @return {conn: [events in file order]} for connections whose first event
    is an `open` (others are reported).
    """
    next_sseq = {}
    conns = {}
    for ev in events:
        where = f"line {ev['_line']}"
        missing = [k for k in REQUIRED if k not in ev]
        if missing:
            report.fail(f"{where}: missing fields {missing}: {ev}")
            continue
        if ev["v"] not in (1, 2, 3):
            report.fail(f"{where}: schema version {ev['v']} (expected 1, 2 or 3)")
        if ev["v"] == 3 and ev["type"] == "open" and ev.get("dir") not in DIRS:
            report.fail(f"{where}: open without dir in/out: {ev.get('dir')!r}")
        if ev["type"] not in TYPE_RANK:
            report.fail(f"{where}: unknown type {ev['type']!r}")
            continue
        # v2: a line with extension records covers sseq [xseq .. sseq].
        shard, sseq = ev["shard"], ev["sseq"]
        first = ev.get("xseq", sseq)
        exp = next_sseq.get(shard, 1)
        if first != exp:
            report.fail(f"{where}: shard {shard} sseq {first}, expected {exp} "
                        f"({'gap' if first > exp else 'duplicate or reordered'})")
        next_sseq[shard] = sseq + 1
        try:
            owner = conn_shard(ev["conn"])
        except ValueError:
            report.fail(f"{where}: conn {ev['conn']!r} is not hex")
            continue
        if len(ev["conn"]) != 16:
            report.warn(f"{where}: conn {ev['conn']!r} is not 16 hex digits")
        if owner != shard:
            report.fail(f"{where}: event of conn {ev['conn']} (owner shard {owner}) "
                        f"emitted by shard {shard}")
        if ev["type"] == "closed":
            miss = [k for k in CLOSED_REQUIRED if k not in ev]
            if miss:
                report.fail(f"{where}: closed without {miss}")
            elif ev["reason"] not in REASONS:
                report.fail(f"{where}: unknown reason {ev['reason']!r}")
        if ev["type"] == "link_down" and ev.get("reason") not in REASONS:
            report.fail(f"{where}: link_down without a known reason: {ev.get('reason')!r}")
        conns.setdefault(ev["conn"], []).append(ev)

    good = {}
    for conn, evs in conns.items():
        types = [e["type"] for e in evs]
        if types[0] != "open":
            report.fail(f"conn {conn}: first event is {types[0]} (line {evs[0]['_line']}), not open")
            continue
        bad = False
        for i, e in enumerate(evs):
            if e["cseq"] != i:
                report.fail(f"conn {conn}: cseq {e['cseq']} at position {i} (line {e['_line']})")
                bad = True
                break
        for a, b in zip(evs, evs[1:]):
            if TYPE_RANK[b["type"]] <= TYPE_RANK[a["type"]]:
                report.fail(f"conn {conn}: {b['type']} after {a['type']} (line {b['_line']})")
                bad = True
                break
        for t in ("open", "closed", "destroyed"):
            if types.count(t) > 1:
                report.fail(f"conn {conn}: {types.count(t)} '{t}' events")
                bad = True
        if "closed" not in types or "destroyed" not in types:
            if not allow_live:
                report.fail(f"conn {conn}: lost terminal events, has only {types}")
                bad = True
        if {e["remote"] for e in evs} != {evs[0]["remote"]} or \
                {e["local"] for e in evs} != {evs[0]["local"]}:
            report.fail(f"conn {conn}: addresses change between its events")
        if not bad:
            good[conn] = evs
    return good


def check_contract_v2(events, report):
    """Schema 2 or 3 (layered listeners): a standalone "ext" line (extension
    records the sink could not join to their event: a producer fault) and a
    cut extension (ext_truncated) fail; the rest goes through
    check_contract. @return its {conn: [events]}."""
    lifecycle = []
    for ev in events:
        where = f"line {ev['_line']}"
        if ev.get("v") not in (2, 3):
            report.fail(f"{where}: schema version {ev.get('v')} (expected 2 or 3)")
        if ev.get("type") == "ext":
            report.fail(f"{where}: extension records that extend no event: {ev}")
            continue
        if ev.get("ext_truncated"):
            report.fail(f"{where}: ext_truncated: extension fields were cut: {ev}")
        lifecycle.append(ev)
    return check_contract(lifecycle, report)


def check_handshake_limit(closed, limit, who, report):
    """A connection that never finished its handshake closed after
    --handshake-timeout (@p limit seconds), not much later or earlier."""
    d = closed["duration_ns"] / 1e9
    if not 0.9 * limit <= d <= limit + 3:
        report.fail(f"{who}: handshake_timeout after {d:.2f} s; --handshake-timeout {limit} s")


def check_addresses(s, args, who, report):
    """The connection summary @p s is between --engine-ip:--port and --peer-ip."""
    if args.engine_ip and args.port and s["local"] != f"{args.engine_ip}:{args.port}":
        report.fail(f"{who}: local {s['local']}, expected {args.engine_ip}:{args.port}")
    if args.peer_ip and s["remote_ip"] != args.peer_ip:
        report.fail(f"{who}: remote {s['remote_ip']}, expected {args.peer_ip}")


def conn_summary(evs):
    """One dict per connection: open event, closed event (or None), types."""
    by_type = {e["type"]: e for e in evs}
    return {
        "conn": evs[0]["conn"],
        "shard": evs[0]["shard"],
        "open": evs[0],
        "closed": by_type.get("closed"),
        "types": [e["type"] for e in evs],
        "remote_port": split_addr(evs[0]["remote"])[1],
        "remote_ip": split_addr(evs[0]["remote"])[0],
        "local": evs[0]["local"],
    }


def match_by_port(summaries, records, report):
    """Pair engine connections with client records by remote port.

    A port can be reused by a later client connection, so per port the
    engine's connections (ordered by open time, then sseq: one 4-tuple always
    maps to one shard) pair with the client's (ordered by connect time).
    @return (pairs [(record, summary)], unmatched summaries, unmatched records)
    """
    by_port = {}
    for s in summaries:
        by_port.setdefault(s["remote_port"], []).append(s)
    rec_by_port = {}
    for r in records:
        rec_by_port.setdefault(r["lport"], []).append(r)
    pairs, extra_conns, extra_recs = [], [], []
    for port in set(by_port) | set(rec_by_port):
        ss = sorted(by_port.get(port, []), key=lambda s: (s["open"]["ts_ns"], s["open"]["sseq"]))
        rs = sorted(rec_by_port.get(port, []), key=lambda r: r["t_connect"])
        if len(ss) != len(rs):
            report.fail(f"remote port {port}: client made {len(rs)} connection(s) "
                        f"({[r['behaviour'] for r in rs]}), engine opened {len(ss)} "
                        f"({[s['conn'] for s in ss]})")
        pairs.extend(zip(rs, ss))
        extra_conns.extend(ss[len(rs):])
        extra_recs.extend(rs[len(ss):])
    return pairs, extra_conns, extra_recs


def main_guard(fn):
    try:
        sys.exit(fn())
    except KeyboardInterrupt:
        sys.exit(130)
