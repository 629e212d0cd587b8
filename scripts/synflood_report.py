#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Figures and checks for scripts/synflood.sh.

  synflood_report.py run --dir DIR --kind cee|linux --cookies MODE --rate R
                         --client-ip IP
      reads one run's files (client.json, check.json, flood.txt, and
      events.jsonl, stats.json, audit.rc or nstat.before/after), writes
      DIR/summary.json. For cee it matches every connection in the events to
      a client: remote = the client namespace's address and a port one of
      the clients connected from (legitimate); any other remote address is
      a spoofed source (counted); the clients' address with a port no client
      used, or a client whose echo completed without its connection in the
      events, is a failure. Exit 1 on such a failure, on cee-audit
      rejecting the events, or when the run left no client results.
  synflood_report.py table --runs RUNS.txt --clients N
      prints the table and judges the goals: every cee run >= 99% of the
      clients succeeded; cee's p99 handshake time (as the clients' kernel
      timed it: synflood_client.py) <= 2 x Linux's at the same rate; no spoofed connection in the events, whatever the
      --syn-cookies mode (a passive connection is announced only when its
      handshake completes: a spoofed SYN answered from a half-open slot
      leaves no event either). Exit 1 naming each goal missed.
"""
import argparse
import json
import socket
import struct
import sys

GOAL_SUCCESS = 0.99
GOAL_P99_RATIO = 2.0


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def kv(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.strip().partition(" ")
                if k:
                    out[k] = v
    except OSError:
        pass
    return out


def split_addr(addr):
    ip, _, port = addr.rpartition(":")
    return ip, int(port)


def flood_figures(d):
    f = kv(d + "/flood.txt")
    try:
        dt = float(f["t_stop"]) - float(f["t_start"])
        # the flood's frames: what left the clients' interface and what the
        # server's took in, less the clients' own TCP segments
        legit = int(f["legit_segs"])
        sent = int(f["cli_tx"]) - legit
        rx = int(f["srv_rx"]) - legit
        hping = int(f["sent"]) if f.get("sent") else None
    except (KeyError, ValueError):
        return None
    if dt <= 0:
        return None
    return {"seconds": dt, "sent": sent, "sent_pps": sent / dt, "srv_rx": rx, "srv_rx_pps": rx / dt,
            "legit_segs": legit, "hping3_count": hping,
            "clients_after_s": float(f["t_warm"]) - float(f["t_start"]) if "t_warm" in f else None}


def pcap_scan(path, client_ip):
    """@return ({client port: [SYN times]}, {client port: first SYN-ACK time})
    from a tcpdump capture (empty when it cannot be read)."""
    syn, synack = {}, {}
    try:
        data = open(path, "rb").read()
    except OSError:
        return syn, synack
    if len(data) < 24:
        return syn, synack
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
    cip = socket.inet_aton(client_ip)
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        t = sec + frac / (1e9 if nano else 1e6)
        if len(pkt) < 14 + 20 or pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 6 or len(ip) < ihl + 14:
            continue
        tcp = ip[ihl:]
        sport, dport = struct.unpack("!HH", tcp[:4])
        flags = tcp[13]
        if flags & 0x12 == 0x02 and ip[12:16] == cip:
            syn.setdefault(sport, []).append(t)
        elif flags & 0x12 == 0x12 and ip[16:20] == cip and dport not in synack:
            synack[dport] = t
    return syn, synack


def pcap_wire(path, client_ip, ports):
    """SYN -> SYN-ACK times of the clients' ports at the client's interface
    (--pcap): the path and the server, without the clients' scheduling.
    @return None without a capture."""
    syn, synack = pcap_scan(path, client_ip)
    if not syn:
        return None
    syn = {p: ts for p, ts in syn.items() if p in ports}
    first, last, retries = [], [], 0
    for port, ts in syn.items():
        if port not in synack:
            continue
        a = synack[port]
        before = [x for x in ts if x <= a]
        if not before:
            continue
        first.append((a - before[0]) * 1e3)
        last.append((a - before[-1]) * 1e3)
        retries += len(before) - 1
    first.sort()
    last.sort()
    return {"ports": len(syn), "answered": len(first), "syn_retransmits": retries,
            "p50": percentile(first, 50), "p99": percentile(first, 99), "max": first[-1] if first else None,
            "turnaround_p99": percentile(last, 99)}


def percentile(xs, p):
    if not xs:
        return None
    return xs[max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))]


def cee_events(d, client_ip, ports, ok_ports, failures):
    """Match the event stream's connections to the clients."""
    conns = {}
    types = {}
    lines = 0
    try:
        fe = open(d + "/events.jsonl", encoding="utf-8", errors="replace")
    except OSError as e:
        failures.append("no events file: %s" % e)
        return None
    with fe:
        for n, line in enumerate(fe, 1):
            if not line.strip():
                continue
            lines += 1
            try:
                e = json.loads(line)
            except ValueError:
                failures.append("events.jsonl:%d: not JSON" % n)
                continue
            t = e.get("type")
            types[t] = types.get(t, 0) + 1
            c = conns.setdefault(e.get("conn"), {"remote": e.get("remote"), "types": [], "reason": None})
            c["types"].append(t)
            if t == "closed":
                c["reason"] = e.get("reason")
    legit, spoofed, stray = {}, [], []
    for cid, c in conns.items():
        try:
            ip, port = split_addr(c["remote"])
        except (AttributeError, ValueError):
            failures.append("connection %s without a remote address" % cid)
            continue
        if ip != client_ip:
            spoofed.append(c)
        elif port in ports:
            legit.setdefault(port, []).append(c)
        else:
            stray.append((cid, c["remote"]))
    for port in sorted(ok_ports):
        cs = legit.get(port, [])
        if not any("established" in c["types"] for c in cs):
            failures.append("client port %d echoed its message but has no established connection "
                            "in the events" % port)
    dups = [p for p, cs in legit.items() if len(cs) > 1]
    if dups:
        failures.append("client ports with more than one connection in the events: %s" % dups[:10])
    if stray:
        failures.append("%d connection(s) from the clients' address on ports no client used: %s"
                        % (len(stray), stray[:5]))

    def reasons(cs):
        r = {}
        for c in cs:
            r[c["reason"]] = r.get(c["reason"], 0) + 1
        return r
    legit_list = [c for cs in legit.values() for c in cs]
    return {
        "lines": lines, "types": types, "conns": len(conns),
        "legit": len(legit_list), "spoofed": len(spoofed),
        "spoofed_established": sum(1 for c in spoofed if "established" in c["types"]),
        "stray": len(stray),
        "legit_reasons": reasons(legit_list), "spoofed_reasons": reasons(spoofed),
    }


def settled(path, client_ip):
    """Every connection from the clients' address in the events is destroyed."""
    live = set()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    return False  # a line being written
                if not str(e.get("remote", "")).startswith(client_ip + ":"):
                    continue
                if e.get("type") == "destroyed":
                    live.discard(e.get("conn"))
                else:
                    live.add(e.get("conn"))
    except OSError:
        return False
    return not live


def cmd_run(args):
    d = args.dir
    failures = []
    res = {"rate": args.rate, "kind": args.kind, "cookies": args.cookies, "dir": d}
    cl = load(d + "/client.json")
    # the connection before the flood and, with --pcap, the one after it
    # are clients too (they are in the events), not measured ones
    others = [load(d + "/check.json"), load(d + "/marker.json")]
    res["flood"] = flood_figures(d)
    if cl is None:
        failures.append("no client results (client.json)")
    else:
        res["clients"] = {k: cl.get(k) for k in ("clients", "succeeded", "failed", "connect_ms",
                                                 "handshake_ms", "errors", "cpu_wait_ms")}
        res["wire"] = pcap_wire(d + "/legit.pcap", args.client_ip,
                                {c["port"] for c in cl["per_client"] if c["port"] is not None})
    res["sched"] = schedstat(d + "/schedstat.txt")
    try:
        res["server_rc"] = int(open(d + "/server.rc").read().strip())
    except (OSError, ValueError):
        res["server_rc"] = None
    if args.kind == "cee":
        st = load(d + "/stats.json") or {}
        tot = st.get("total", {})
        tcp, drops = tot.get("tcp", {}), tot.get("drops", {})
        res["engine"] = {
            "rx_pkts": tot.get("rx_pkts"), "tx_pkts": tot.get("tx_pkts"),
            "opened": tot.get("opened"), "refused": tot.get("refused"),
            "syncookies_sent": tcp.get("syncookies_sent"), "syncookies_ok": tcp.get("syncookies_ok"),
            "syncookies_bad": drops.get("syncookies_bad"), "retransmits": tcp.get("retransmits"),
            "bad_ip_addr": drops.get("bad_ip_addr"),
            "drops": {k: v for k, v in drops.items() if v},
        }
        try:
            srv_total = int(open(d + "/srv_rx_total").read().strip())
            if tot.get("rx_pkts") is not None:
                # frames the interface took in that the engine never read:
                # its af_packet ring was full
                res["engine"]["not_read"] = srv_total - tot["rx_pkts"]
        except (OSError, ValueError):
            pass
        if not st:
            failures.append("no --stats file")
        ports, ok_ports = set(), set()
        for r in others + [cl]:
            for c in (r or {}).get("per_client", []):
                if c["port"] is not None:
                    ports.add(c["port"])
                    if c["error"] is None:
                        ok_ports.add(c["port"])
        res["events"] = cee_events(d, args.client_ip, ports, ok_ports, failures)
        try:
            arc = int(open(d + "/audit.rc").read().strip())
            res["audit"] = "ok" if arc == 0 else "FAILED"
            if arc != 0:
                failures.append("cee-audit rejected the events (%s/audit.txt)" % d)
        except (OSError, ValueError):
            res["audit"] = "not run"
    else:
        b, a = kv(d + "/nstat.before"), kv(d + "/nstat.after")
        res["linux"] = {k.replace("TcpExt", ""): int(a[k]) - int(b.get(k, 0)) for k in a}
        res["echo"] = load(d + "/echo.json")
    res["failures"] = failures
    with open(d + "/summary.json", "w") as f:
        json.dump(res, f)
    for m in failures:
        print("synflood: %s %s (%s): %s" % (args.rate, args.kind, args.cookies, m), file=sys.stderr)
    return 1 if failures else 0


def schedstat(path):
    """{thread name: [ms on a CPU, ms runnable waiting for one]} of the
    server's threads."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) >= 4:
                    o = out.setdefault(w[0], [0.0, 0.0])
                    o[0] += int(w[1]) / 1e6
                    o[1] += int(w[2]) / 1e6
    except (OSError, ValueError):
        pass
    return out


def fmt(x, spec):
    return spec % x if x is not None else "-"


def cmd_table(args):
    runs = []
    with open(args.runs) as f:
        for line in f:
            rate, kind, cookies, d = line.split()
            s = load(d + "/summary.json") or {"rate": rate, "kind": kind, "cookies": cookies, "dir": d}
            runs.append(s)
    # the judged latency: the handshake as the clients' kernel timed it
    # (synflood_client.py handshake_ms), not the clients' own wake-ups
    linux_p99 = {}
    for s in runs:
        if s["kind"] == "linux" and s.get("clients") and s["clients"].get("handshake_ms"):
            linux_p99[s["rate"]] = s["clients"]["handshake_ms"]["p99"]
    hdr = "%-6s %-11s %9s %9s %8s %7s %8s %7s %7s %7s %6s %6s %7s %-20s" % (
        "rate", "server", "sent pps", "at if pps", "clients", "p50 ms", "p99 ms", "hs99 ms", "hs99 x",
        "wire99", "events", "legit", "spoofed", "cookies sent/ok/bad")
    out = [hdr]
    details = []
    notes = []
    misses = []
    for s in runs:
        name = "cee " + s["cookies"] if s["kind"] == "cee" else "Linux"
        fl = s.get("flood") or {}
        cl = s.get("clients")
        p50 = p99 = hs99 = None
        okn = "-"
        if cl:
            p50, p99 = cl["connect_ms"]["p50"], cl["connect_ms"]["p99"]
            hs99 = (cl.get("handshake_ms") or {}).get("p99")
            okn = "%d/%d" % (cl["succeeded"], cl["clients"])
        ratio = None
        if s["kind"] == "cee" and hs99 is not None and linux_p99.get(s["rate"]):
            ratio = hs99 / linux_p99[s["rate"]]
        ev = s.get("events") or {}
        if s["kind"] == "cee":
            e = s.get("engine") or {}
            cookies = "%s/%s/%s" % (e.get("syncookies_sent", "-"), e.get("syncookies_ok", "-"),
                                    e.get("syncookies_bad", "-"))
        else:
            lx = s.get("linux") or {}
            cookies = "%s/%s/%s" % (lx.get("SyncookiesSent", "-"), lx.get("SyncookiesRecv", "-"),
                                    lx.get("SyncookiesFailed", "-"))
        out.append("%-6s %-11s %9s %9s %8s %7s %8s %7s %7s %7s %6s %6s %7s %-20s" % (
            s["rate"], name, fmt(fl.get("sent_pps"), "%.0f"), fmt(fl.get("srv_rx_pps"), "%.0f"), okn,
            fmt(p50, "%.2f"), fmt(p99, "%.2f"), fmt(hs99, "%.3f"), fmt(ratio, "%.2f"),
            fmt((s.get("wire") or {}).get("p99"), "%.3f"),
            fmt(ev.get("lines"), "%d"), fmt(ev.get("legit"), "%d"), fmt(ev.get("spoofed"), "%d"),
            cookies))
        # details
        dl = ["  %s %s:" % (s["rate"], name)]
        if fl:
            dl.append("flood %.1f s: %d frames sent, %d at the server's interface (hping3 counted %s),"
                      " clients from +%.2f s;"
                      % (fl["seconds"], fl["sent"], fl["srv_rx"],
                         fl["hping3_count"] if fl.get("hping3_count") else "nothing: no exit on SIGINT",
                         fl.get("clients_after_s") or 0))
        if cl:
            dl.append("connect max %s ms; the clients waited %s ms for a CPU;"
                      % (fmt(cl["connect_ms"]["max"], "%.1f"), fmt(cl.get("cpu_wait_ms"), "%.0f")))
        if s.get("sched"):
            dl.append("server threads, ms on a CPU/waiting for one: %s;" % ", ".join(
                "%s %.0f/%.0f" % (k, v[0], v[1]) for k, v in sorted(s["sched"].items()) if v[0] >= 1))
            w = s.get("wire")
            if w:
                dl.append("at the client's interface (tcpdump): SYN to SYN-ACK p50 %s p99 %s max %s ms"
                          " (%d SYN retransmits; p99 from the last SYN sent %s ms);"
                          % (fmt(w["p50"], "%.2f"), fmt(w["p99"], "%.2f"), fmt(w["max"], "%.2f"),
                             w["syn_retransmits"], fmt(w["turnaround_p99"], "%.2f")))
            if cl["errors"]:
                dl.append("client errors: %s;" % "; ".join(cl["errors"][:3]))
        if s["kind"] == "cee":
            e = s.get("engine") or {}
            dl.append("engine read %s frames (%s never read: af_packet ring full), opened %s, refused %s,"
                      " SYN-ACK retransmits %s; events %s; legit closed %s; spoofed closed %s"
                      " (established %s); cee-audit %s"
                      % (e.get("rx_pkts"), e.get("not_read", "-"), e.get("opened"), e.get("refused"),
                         e.get("retransmits"), json.dumps(ev.get("types", {})),
                         json.dumps(ev.get("legit_reasons", {})), json.dumps(ev.get("spoofed_reasons", {})),
                         ev.get("spoofed_established"), s.get("audit")))
        else:
            dl.append("kernel: %s; echo server %s" % (
                " ".join("%s=%d" % kv_ for kv_ in sorted((s.get("linux") or {}).items())),
                json.dumps(s.get("echo"))))
        if s.get("failures"):
            dl.append("FAILURES: %s" % "; ".join(s["failures"]))
        details.append(" ".join(dl))

        # goals (cee only; Linux's figures are the reference)
        if s["kind"] != "cee":
            if cl and cl["succeeded"] < GOAL_SUCCESS * cl["clients"]:
                notes.append("synflood: note: Linux itself: %s clients succeeded at %s" % (okn, s["rate"]))
            continue
        tag = "%s cee --syn-cookies %s" % (s["rate"], s["cookies"])
        if not cl:
            misses.append("%s: no client results" % tag)
            continue
        if cl["succeeded"] < GOAL_SUCCESS * cl["clients"]:
            misses.append("%s: %s clients succeeded (goal >= %d%%)" % (tag, okn, GOAL_SUCCESS * 100))
        if ratio is None:
            misses.append("%s: no p99 ratio (Linux run missing at this rate)" % tag)
        elif ratio > GOAL_P99_RATIO and not args.latency_goal:
            notes.append("synflood: note: %s: handshake p99 %.2f x Linux's (goal <= %.0f x; not judged:"
                         " --no-latency-goal)" % (tag, ratio, GOAL_P99_RATIO))
        elif ratio > GOAL_P99_RATIO:
            misses.append("%s: handshake p99 %.3f ms = %.2f x Linux's %.3f ms (goal <= %.0f x)"
                          % (tag, hs99, ratio, linux_p99[s["rate"]], GOAL_P99_RATIO))
        if (ev.get("spoofed") or 0) > 0:
            misses.append("%s: %d spoofed connection(s) in the events (goal: none)" % (tag, ev["spoofed"]))
    print("== SYN flood (hping3 --rand-source) while %d clients connect, echo, close: cee-engine vs Linux ==" %
          args.clients)
    print("\n".join(out))
    print("(sent pps: flood frames that left the clients' interface per second, from the flood's start to"
          " the last client's end; at if pps: those the server's interface took in (both less the clients'"
          " TCP segments); clients: succeeded (connect + echo within 12 s); p50/p99: connect latency measured by"
          " the clients (wall clock: their own waits for a CPU included); hs99: p99 of the handshake as the"
          " clients' kernel timed it (SYN sent to SYN-ACK received, TCP_INFO rtt; the judged figure);"
          " hs99 x: cee's / Linux's at the same rate; wire99: p99 of SYN -> SYN-ACK at the"
          " clients' interface (--pcap); events: lines in cee's stream; legit:"
          " connections matched to a client's port (with the check connection made before the flood); spoofed: connections from spoofed sources; cookies:"
          " cee tcp.syncookies_sent/syncookies_ok/drops.syncookies_bad, Linux TcpExt"
          " SyncookiesSent/Recv/Failed)")
    print("\n".join(details + notes))
    if misses:
        for m in misses:
            print("synflood: GOAL MISSED: %s" % m)
        return 1
    print("synflood: goals met (>= 99%% of clients at every rate, %sno spoofed connection in the"
          " events)" % ("cee handshake p99 <= 2 x Linux, " if args.latency_goal else ""))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--dir", required=True)
    r.add_argument("--kind", choices=("cee", "linux"), required=True)
    r.add_argument("--cookies", required=True)
    r.add_argument("--rate", required=True)
    r.add_argument("--client-ip", required=True)
    w = sub.add_parser("settled")
    w.add_argument("--events", required=True)
    w.add_argument("--client-ip", required=True)
    h = sub.add_parser("pcap-has")
    h.add_argument("--pcap", required=True)
    h.add_argument("--client-ip", required=True)
    h.add_argument("--port", type=int, required=True)
    t = sub.add_parser("table")
    t.add_argument("--runs", required=True)
    t.add_argument("--clients", type=int, required=True)
    t.add_argument("--latency-goal", type=int, default=1, help="0: print the p99 ratio, do not judge it")
    args = ap.parse_args()
    if args.cmd == "settled":
        return 0 if settled(args.events, args.client_ip) else 1
    if args.cmd == "pcap-has":
        return 0 if args.port in pcap_scan(args.pcap, args.client_ip)[1] else 1
    return cmd_run(args) if args.cmd == "run" else cmd_table(args)


if __name__ == "__main__":
    sys.exit(main())
