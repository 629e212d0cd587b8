#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Blind (off-path) attacks on one live TCP connection, for scripts/blind.sh.

  blind_spray.py attack --server IP:PORT --iface IF --plan PLAN --out FILE
                        [--rate PPS] [--near] [--tail S]
  blind_spray.py report --run FILE [--events FILE --stats FILE] [--json FILE]
  blind_spray.py compare --cee FILE --linux FILE

attack (run in the clients' namespace): a Linux client (a kernel socket)
connects to the server and echoes 1,000 random bytes; then a third party
that knows the connection's 4-tuple but not its sequence numbers sends,
from an AF_PACKET socket on IF with the client's address and port, the
phases of PLAN (comma separated, KIND:COUNT[@PPS]):
  rst:N|full   RSTs whose sequence numbers step through the sequence space
               by the server's advertised window W ('full': 2^32 / W of
               them, the whole space), so that some land in the window
               (RFC 5961 3: challenge ACK) and the rest outside (ignored)
  syn:N        SYNs with random sequence numbers (RFC 5961 4: challenge ACK)
  data:N|full  32-byte segments whose sequence numbers step by W as the
               RSTs do, with random (stale or unsent) ACKs (RFC 5961 5:
               dropped, ACK); one accepted would corrupt the echo
  ack:N        pure ACKs with random sequence and ACK numbers (the ACK flood)
(data:N without 'full' and --near starts its sweep at random: the data
flood of the reflection runs)
Frames are built with scapy (a template per kind, its sequence and ACK
numbers patched with the checksum updated, spot-checked against scapy) and
sent at a fixed rate (PPS, default --rate). --near (the CI slice) steps by
W/8 and sends the N sequence numbers around the receive window instead of a
sweep of the whole space: the in-window hits a full sweep would make, in N
frames. Two guesses a blind attacker could make but that are not the
point, and that would make the result a matter of luck, are left out
(the harness knows the numbers): a RST exactly at RCV.NXT (1 in W of a
sweep; RFC 5961 accepts it by design), and data whose random ACK is within
16 MiB of the server's SND.UNA (the window RFC 5961 5.2 accepts).
For each phase, the frames the server sent to the client's port from the
first attack frame to --tail seconds after the last are counted (a second
AF_PACKET socket, incoming frames only, kernel timestamps); before a phase
the path is quiet (no frame from the server for 0.3 s); after it the client
echoes 1,000 random bytes, compared byte for byte. At the end it echoes
64 KiB, sends its FIN and reads to EOF. --out (JSON): the connection, W,
per phase what was sent, its duration and the frames back (by kind), the
echoes, and CLOCK_MONOTONIC times (the engine's ts_ns clock). Exit 0 when
the run was carried out (the caller judges), 1 when the connection could
not be set up.

report: prints one run's phases (frames back, per attack frame, per
second, the per-connection bound) and judges: every echo whole and equal;
frames back within the bound of each phase (the RFC 5961 7 per-connection
limit: one ACK per 6 ticks of 2^26 ns, at least 402 ms apart, plus one);
with --events: the client's connection has one `open` and one `closed`
(reason peer_fin, after the client's FIN, bytes_in = bytes_out = what the
client sent), and no other connection from the client's address and port
(a spoofed SYN must not open one); with --stats: the RFC 5961 counters
(challenge ACKs called for, throttled; RSTs, SYNs, segments and ACKs
refused) and the ACKs they imply were sent, within the bound of the whole
run. Exit 1 naming each failure. --json writes the figures.

compare: the reflection table, cee against Linux: frames back per attack
frame and per second for each phase, and the ratio.
"""
import argparse
import json
import os
import random
import select
import socket
import struct
import sys
import threading
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
SO_TIMESTAMPNS = 35
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
TICK_S = (1 << 26) / 1e9
# cee's per-connection interval: 500 ms in 2^26 ns ticks (7), and a byte
# clock compared by tick: two ACKs can be 6 ticks and a bit apart
OOW_MIN_GAP_S = 6 * TICK_S
NEAR_STEPS = 8  # --near: step W / 8
ACK_GUARD = 16 << 20
PAYLOAD = b"INJECTED-BY-A-BLIND-ATTACKER!!!!"


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ones_sum(data):
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


class Template:
    """An Ethernet/IPv4/TCP frame built by scapy, whose sequence and ACK
    numbers are patched with the TCP checksum updated."""

    def __init__(self, src_mac, dst_mac, src, dst, sport, dport, flags, payload=b"", options=None,
                 window=65535):
        from scapy.layers.inet import IP, TCP
        from scapy.layers.l2 import Ether

        tcp = TCP(sport=sport, dport=dport, flags=flags, seq=0, ack=0, window=window,
                  options=options or [])
        self.pkt = Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst, id=random.getrandbits(16)) / tcp
        if payload:
            self.pkt = self.pkt / payload
        raw = bytearray(bytes(self.pkt))
        self.l4 = 14 + (raw[14] & 15) * 4
        raw[self.l4 + 16:self.l4 + 18] = b"\0\0"
        seg = bytes(raw[self.l4:])
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(seg))
        self.base = ones_sum(pseudo + seg)
        self.head = bytes(raw[:self.l4 + 4])
        self.mid = bytes(raw[self.l4 + 12:self.l4 + 16])
        self.tail = bytes(raw[self.l4 + 18:])

    def frame(self, seq, ack):
        c = ~fold(self.base + (seq >> 16) + (seq & 0xFFFF) + (ack >> 16) + (ack & 0xFFFF)) & 0xFFFF
        return self.head + struct.pack("!II", seq, ack) + self.mid + struct.pack("!H", c) + self.tail

    def check(self, seq, ack):
        """Does scapy agree with the patched frame's checksums?"""
        from scapy.layers.inet import IP, TCP
        from scapy.layers.l2 import Ether

        f = Ether(self.frame(seq, ack))
        got = f[TCP].chksum
        del f[TCP].chksum
        del f[IP].chksum
        again = Ether(bytes(f))
        return got == again[TCP].chksum and f[TCP].seq == seq and f[TCP].ack == ack


def parse(frame):
    """@return dict for an IPv4/TCP frame, else None."""
    if len(frame) < 54 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    if ip[9] != 6 or len(ip) < ihl + 20:
        return None
    tl = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:tl]
    sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", tcp[:16])
    hl = (off >> 4) * 4
    wscale = None
    opts = tcp[20:hl]
    i = 0
    while i < len(opts):
        k = opts[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        if k == 3 and opts[i + 1] == 3:
            wscale = opts[i + 2]
        i += opts[i + 1]
    return {"src": socket.inet_ntoa(ip[12:16]), "dst": socket.inet_ntoa(ip[16:20]), "sport": sport,
            "dport": dport, "seq": seq, "ack": ack, "flags": flags, "win": win, "len": len(tcp) - hl,
            "wscale": wscale}


def kind_of(p):
    f = p["flags"]
    if f & RST:
        return "rst"
    if f & SYN:
        return "synack" if f & ACK else "syn"
    if p["len"] > 0 or f & FIN:
        return "data"
    return "ack"


class Capture(threading.Thread):
    """Incoming frames from the server to one port, with kernel timestamps
    (CLOCK_REALTIME)."""

    def __init__(self, iface, server_ip, server_port):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self.s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.s.bind((iface, ETH_P_IP))
        self.server_ip, self.server_port = server_ip, server_port
        self.port = None  # the client's, once known; frames to others are kept aside
        self.frames = []  # (t_real, parsed) to the client's port
        self.mac = None
        self.lock = threading.Lock()
        self.stop = False

    def run(self):
        while not self.stop:
            r, _, _ = select.select([self.s], [], [], 0.1)
            if not r:
                continue
            data, anc, _, _ = self.s.recvmsg(65535, 256)
            t = None
            for lvl, typ, val in anc:
                if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", val[:16])
                    t = sec + nsec / 1e9
            if t is None:
                t = time.time()
            p = parse(data)
            if p is None or p["src"] != self.server_ip or p["sport"] != self.server_port:
                continue
            with self.lock:
                if self.mac is None:
                    self.mac = data[6:12]
                self.frames.append((t, p))

    def since(self, t0, t1=None, port=None, with_t=False):
        with self.lock:
            return [(t, p) if with_t else p for t, p in self.frames
                    if t >= t0 and (t1 is None or t <= t1) and p["dport"] == (port or self.port)]

    def last_t(self, port):
        with self.lock:
            ts = [t for t, p in self.frames if p["dport"] == port]
        return ts[-1] if ts else None


class Client:
    def __init__(self, server, timeout):
        self.s = socket.create_connection(server, timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = self.s.getsockname()[1]
        self.ip = self.s.getsockname()[0]
        self.sent = self.recv = 0
        self.echoes = []

    def echo(self, n, what):
        data = os.urandom(n)
        err = None
        got = bytearray()
        t0 = time.monotonic()
        try:
            self.s.sendall(data)
            self.sent += n
            while len(got) < n:
                chunk = self.s.recv(n - len(got))
                if not chunk:
                    err = "EOF"
                    break
                got += chunk
        except OSError as e:
            err = repr(e)
        self.recv += len(got)
        if err is None and bytes(got) != data:
            err = f"echo of {n} bytes came back different"
        elif err is not None:
            err = f"{err} after {len(got)} of {n} echoed bytes"
        self.echoes.append({"after": what, "bytes": n, "ok": err is None, "error": err,
                            "ms": (time.monotonic() - t0) * 1e3})
        return err

    def finish(self):
        """FIN, then read to EOF (the server's echo of nothing and its FIN)."""
        err = None
        try:
            self.s.shutdown(socket.SHUT_WR)
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    break
                self.recv += len(chunk)
                err = f"{len(chunk)} unexpected bytes after the FIN"
        except OSError as e:
            err = repr(e)
        self.s.close()
        return err


def learn_arp(ip):
    with open("/proc/net/arp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[0] == ip and cols[3] != "00:00:00:00:00:00":
                return bytes.fromhex(cols[3].replace(":", ""))
    return None


def mac_str(b):
    return ":".join(f"{x:02x}" for x in b)


def parse_plan(plan, rate):
    out = []
    for tok in plan.split(","):
        tok = tok.strip()
        if not tok:
            continue
        kind, _, rest = tok.partition(":")
        cnt, _, pps = rest.partition("@")
        if kind not in ("rst", "syn", "data", "ack") or not cnt:
            raise SystemExit(f"blind_spray: bad plan item '{tok}' (KIND:COUNT[@PPS])")
        if cnt == "full" and kind not in ("rst", "data"):
            raise SystemExit(f"blind_spray: 'full' is for rst and data, not {kind}")
        out.append((kind, cnt if cnt == "full" else int(cnt), float(pps) if pps else rate))
    return out


def paced_send(sock, frames, rate):
    """Send @frames at @rate per second. @return (t_first, t_last) CLOCK_REALTIME, sent."""
    n = len(frames)
    send = sock.send
    i = 0
    t0m = time.monotonic()
    t_first = time.time()
    errors = 0
    while i < n:
        due = min(n, int((time.monotonic() - t0m) * rate) + 1)
        while i < due:
            try:
                send(frames[i])
                i += 1
            except OSError:  # ENOBUFS: the device queue is full; retry shortly
                errors += 1
                time.sleep(0.0002)
        if i < n:
            d = t0m + i / rate - time.monotonic()
            if d > 0.0002:
                time.sleep(d)
    return t_first, time.time(), i, errors


def attack(args):
    host, _, port = args.server.rpartition(":")
    server = (host, int(port))
    cap = Capture(args.iface, server[0], server[1])
    cap.start()
    try:
        cli = Client(server, args.timeout)
    except OSError as e:
        print(f"blind_spray: cannot connect to {args.server}: {e}", file=sys.stderr)
        return 1
    cap.port = cli.port
    err = cli.echo(1000, "connect")
    if err:
        print(f"blind_spray: the connection does not echo before the attack: {err}", file=sys.stderr)
        return 1
    # what the harness (not the attacker) learns from the capture: the
    # server's window (and scale), its RCV.NXT and SND.UNA
    deadline = time.time() + 2
    while time.time() < deadline:
        fr = cap.since(0)
        if any(p["flags"] & SYN for p in fr) and any(p["len"] > 0 for p in fr):
            break
        time.sleep(0.01)
    fr = cap.since(0)
    synack = [p for p in fr if p["flags"] & SYN]
    if not synack or not any(p["len"] > 0 for p in fr):
        print("blind_spray: the server's SYN-ACK or echo was not captured", file=sys.stderr)
        return 1
    wscale = synack[0]["wscale"] or 0
    later = [p for p in fr if not p["flags"] & SYN]
    window = max(p["win"] for p in later) << wscale
    my_mac = bytes.fromhex(open(f"/sys/class/net/{args.iface}/address").read().strip().replace(":", ""))
    srv_mac = learn_arp(server[0]) or cap.mac
    step = window if not args.near else max(1, window // NEAR_STEPS)

    def state():
        last = [p for p in cap.since(0) if p["flags"] & ACK][-1]
        return last["ack"], (last["seq"] + last["len"]) & 0xFFFFFFFF  # RCV.NXT, SND.NXT (= SND.UNA at rest)

    out = {"server": args.server, "client": f"{cli.ip}:{cli.port}", "client_port": cli.port,
           "window": window, "wscale": wscale, "step": step, "near": args.near, "tail_s": args.tail,
           "mono_minus_real": time.monotonic() - time.time(), "phases": [], "echoes": cli.echoes,
           "baseline": None, "failures": []}
    tmpl = {
        "rst": Template(my_mac, srv_mac, cli.ip, server[0], cli.port, server[1], "R", window=0),
        "syn": Template(my_mac, srv_mac, cli.ip, server[0], cli.port, server[1], "S",
                        options=[("MSS", 1460), ("SAckOK", b""), ("WScale", 7)], window=64240),
        "data": Template(my_mac, srv_mac, cli.ip, server[0], cli.port, server[1], "PA", payload=PAYLOAD),
        "ack": Template(my_mac, srv_mac, cli.ip, server[0], cli.port, server[1], "A"),
    }
    for k, t in tmpl.items():
        for _ in range(3):
            if not t.check(random.getrandbits(32), random.getrandbits(32)):
                print(f"blind_spray: the patched {k} frame's checksum does not match scapy's", file=sys.stderr)
                return 1
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    tx.bind((args.iface, ETH_P_ALL))

    def quiet(secs=0.3, limit=3.0):
        end = time.time() + limit
        while time.time() < end:
            t = cap.last_t(cli.port)
            if t is None or time.time() - t >= secs:
                return True
            time.sleep(0.05)
        return False

    def rand_ack(snd_una):
        while True:
            a = random.getrandbits(32)
            if ((a - snd_una) & 0xFFFFFFFF) > ACK_GUARD and ((snd_una - a) & 0xFFFFFFFF) > ACK_GUARD:
                return a

    def sweep(n, rcv_nxt):
        """Sequence numbers by @step: the whole space, or --near the n around RCV.NXT;
        never RCV.NXT itself."""
        off = random.randrange(1, step) if step > 1 else 0
        if n == "full":
            count = (1 << 32) // step
            start = (rcv_nxt + off + random.randrange(count) * step) & 0xFFFFFFFF
        elif args.near:
            count = n
            start = (rcv_nxt + off - (n // 2) * step) & 0xFFFFFFFF
        else:
            count = n
            start = random.getrandbits(32)
        seqs = [(start + k * step) & 0xFFFFFFFF for k in range(count)]
        return [s if s != rcv_nxt else (s + 1) & 0xFFFFFFFF for s in seqs]

    quiet()
    t = time.time()
    time.sleep(0.5)
    out["baseline"] = {"seconds": 0.5, "frames": len(cap.since(t, time.time()))}
    for kind, n, pps in parse_plan(args.plan, args.rate):
        if not quiet():
            out["failures"].append(f"before {kind}: the server kept sending to the client for 3 s")
        rcv_nxt, snd_una = state()
        t_mk = time.monotonic()
        tp = tmpl[kind]
        if kind == "rst":
            frames = [tp.frame(s, 0) for s in sweep(n, rcv_nxt)]
        elif kind == "data":
            frames = [tp.frame(s, rand_ack(snd_una)) for s in sweep(n, rcv_nxt)]
        elif kind == "syn":
            frames = [tp.frame(random.getrandbits(32), 0) for _ in range(n)]
        else:
            frames = [tp.frame(random.getrandbits(32), rand_ack(snd_una)) for _ in range(n)]
        build_s = time.monotonic() - t_mk
        t_first, t_last, sent, enobufs = paced_send(tx, frames, pps)
        time.sleep(args.tail)
        back = cap.since(t_first, t_last + args.tail)
        by = {}
        for p in back:
            by[kind_of(p)] = by.get(kind_of(p), 0) + 1
        times = [t for t, _ in cap.since(t_first, t_last + args.tail, with_t=True)]
        ph = {"kind": kind, "count": n if n != "full" else "full", "sent": sent, "rate_asked": pps,
              "seconds": t_last - t_first, "window_s": t_last - t_first + args.tail,
              "pps": sent / max(t_last - t_first, 1e-9), "enobufs": enobufs, "build_s": build_s,
              "frames_back": len(back), "back_by_kind": by,
              "back_gaps_ms": [round((b - a) * 1e3, 1) for a, b in zip(times, times[1:])],
              "t_first_mono": t_first + out["mono_minus_real"], "t_last_mono": t_last + out["mono_minus_real"],
              "rcv_nxt": rcv_nxt}
        e = cli.echo(1000, kind)
        ph["echo_ok"] = e is None
        out["phases"].append(ph)
        if e:
            out["failures"].append(f"after {kind}: {e}")
            break
        print(f"blind_spray: {kind}: {sent} frames in {ph['seconds']:.2f} s, {len(back)} back", file=sys.stderr)
    if not out["failures"]:
        e = cli.echo(65536, "end")
        if e:
            out["failures"].append(f"final 64 KiB echo: {e}")
    out["t_fin_mono"] = time.monotonic()
    e = cli.finish()
    if e:
        out["failures"].append(f"close: {e}")
    out["client_sent"], out["client_recv"] = cli.sent, cli.recv
    cap.stop = True
    with open(args.out + ".tmp", "w") as f:
        json.dump(out, f, indent=1)
    os.rename(args.out + ".tmp", args.out)
    return 0


# ---- report ------------------------------------------------------------------------------------

def bound(window_s):
    """Most ACKs the per-connection RFC 5961 7 limit lets out in @window_s."""
    return int(window_s / OOW_MIN_GAP_S) + 1


def report(args):
    with open(args.run) as f:
        r = json.load(f)
    fails = list(r["failures"])
    name = r.get("label") or args.label
    print(f"{name}: connection {r['client']} -> {r['server']}, window {r['window']} "
          f"(scale {r['wscale']}), step {r['step']}{' (near RCV.NXT)' if r['near'] else ''}; "
          f"baseline {r['baseline']['frames']} frames back in {r['baseline']['seconds']} s")
    print(f"  {'phase':6} {'sent':>8} {'s':>6} {'pps':>8} {'back':>5} {'/attack':>9} {'/s':>6} "
          f"{'bound':>5}  kinds back")
    total_bound = 0
    figures = {"phases": []}
    for ph in r["phases"]:
        b = bound(ph["window_s"])
        total_bound += b
        per = ph["frames_back"] / ph["sent"] if ph["sent"] else 0.0
        per_s = ph["frames_back"] / ph["window_s"]
        print(f"  {ph['kind']:6} {ph['sent']:8d} {ph['seconds']:6.2f} {ph['pps']:8.0f} {ph['frames_back']:5d} "
              f"{per:9.5f} {per_s:6.2f} {b:5d}  {ph['back_by_kind']}"
              f"{'' if ph['echo_ok'] else '  ECHO FAILED'}")
        figures["phases"].append({"kind": ph["kind"], "sent": ph["sent"], "seconds": ph["seconds"],
                                  "pps": ph["pps"], "frames_back": ph["frames_back"], "per_attack": per,
                                  "per_s": per_s, "bound": b})
        if args.judge and ph["frames_back"] > b:
            fails.append(f"{ph['kind']}: {ph['frames_back']} frames back in {ph['window_s']:.2f} s, over the "
                         f"per-connection bound {b} (one per >= {OOW_MIN_GAP_S * 1e3:.0f} ms)")
        if ph["enobufs"]:
            print(f"    ({ph['enobufs']} sends retried after ENOBUFS)")
    echoes = r["echoes"]
    bad = [e for e in echoes if not e["ok"]]
    print(f"  echoes: {len(echoes) - len(bad)}/{len(echoes)} whole and equal; client sent {r.get('client_sent')} "
          f"bytes, read {r.get('client_recv')}")
    if bad:
        fails += [f"echo after {e['after']}: {e['error']}" for e in bad]
    if r.get("client_sent") != r.get("client_recv"):
        fails.append(f"client sent {r.get('client_sent')} bytes and read {r.get('client_recv')}")
    if args.events:
        fails += check_events(args.events, r)
    if args.stats:
        f2, st = check_stats(args.stats, r, total_bound, args.judge)
        fails += f2
        figures["stats"] = st
    figures["failures"] = fails
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    for m in fails:
        print(f"  FAIL {m}")
    return 1 if fails else 0


def check_events(path, r):
    fails = []
    cip, _, cport = r["client"].rpartition(":")
    mine = {}
    others = 0
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if "remote" not in e:
                continue
            rip, _, rport = e["remote"].rpartition(":")
            if rip != cip:
                continue
            if rport == cport:
                mine.setdefault(e["conn"], []).append(e)
            elif e["type"] == "open":
                others += 1
    if len(mine) != 1:
        fails.append(f"{len(mine)} connections from the client's address and port in the events (1 expected:"
                     f" a spoofed SYN must not open one)")
    for cid, evs in mine.items():
        closed = [e for e in evs if e["type"] == "closed"]
        if len(closed) != 1:
            fails.append(f"connection {cid}: {len(closed)} closed events")
            continue
        c = closed[0]
        # ts_ns is the engine's clock: CLOCK_MONOTONIC at its start, then the
        # TSC (a few ms apart after seconds); the spray ended >= --tail before
        # the client's last echo and FIN
        t_close = c["ts_ns"] / 1e9
        t_spray = max((ph["t_last_mono"] for ph in r["phases"]), default=r["t_fin_mono"])
        print(f"  events: connection {cid} closed {c['reason']}, bytes in {c['bytes_in']} out {c['bytes_out']}, "
              f"{t_close - t_spray:+.3f} s after the last attack frame, {t_close - r['t_fin_mono']:+.3f} s from "
              f"the client's FIN")
        if c["reason"] != "peer_fin":
            fails.append(f"connection {cid} closed with {c['reason']} (peer_fin expected: the client's FIN)")
        if t_close < t_spray + 0.05:
            fails.append(f"connection {cid} closed {t_spray - t_close:+.3f} s after the last attack frame, "
                         f"during the attack")
        if c["bytes_in"] != r["client_sent"] or c["bytes_out"] != r["client_sent"]:
            fails.append(f"connection {cid}: bytes_in {c['bytes_in']}, bytes_out {c['bytes_out']}, the client "
                         f"sent {r['client_sent']} (injected data?)")
    return fails


def check_stats(path, r, total_bound, judge):
    with open(path) as f:
        st = json.load(f)["total"]
    d, t = st["drops"], st["tcp"]
    called = d["challenge_ack"] + d["out_of_window"] + d["bad_ack"]
    sent_acks = called - d["acks_throttled"]
    fig = {k: d[k] for k in ("challenge_ack", "acks_throttled", "bad_rst", "bad_syn", "out_of_window",
                             "bad_ack")}
    fig.update(segs_in=t["segs_in"], segs_out=t["segs_out"], rst_out=t["rst_out"], rx_pkts=st["rx_pkts"],
               implied_acks_sent=sent_acks)
    attack = sum(ph["sent"] for ph in r["phases"])
    back = sum(ph["frames_back"] for ph in r["phases"])
    print(f"  stats: challenge_ack {d['challenge_ack']} (bad_syn {d['bad_syn']}), bad_rst {d['bad_rst']}, "
          f"out_of_window {d['out_of_window']}, bad_ack {d['bad_ack']}, acks_throttled {d['acks_throttled']}"
          f" -> ACKs sent for them {sent_acks}; frames captured in the phases {back}")
    lost = attack - t["segs_in"]
    print(f"  stats: attack frames {attack}, the engine's segs_in {t['segs_in']}, segs_out {t['segs_out']}, "
          f"rst_out {t['rst_out']}" + (f" (at least {lost} attack frames never reached it: its af_packet ring "
                                       f"was full)" if lost > 0 else ""))
    fig["attack_frames"], fig["lost_before_engine_min"] = attack, max(0, lost)
    fails = []
    if judge:
        kinds = {ph["kind"] for ph in r["phases"]}
        if kinds & {"rst", "syn"} and d["challenge_ack"] == 0:
            fails.append("no challenge ACK called for: no in-window RST or SYN reached the check")
        if sent_acks > total_bound + 2:
            fails.append(f"the counters imply {sent_acks} ACKs sent, over the bound {total_bound} of the phases")
        if t["rst_out"]:
            fails.append(f"the engine sent {t['rst_out']} RSTs (on a live connection's tuple: none expected)")
    return fails, fig


def compare(args):
    with open(args.cee) as f:
        cee = json.load(f)
    with open(args.linux) as f:
        lin = json.load(f)
    lp = {ph["kind"]: ph for ph in lin["phases"]}
    print("reflection: frames the server sent back to the live tuple per blind attack frame")
    print(f"  {'phase':6} {'N':>7} {'pps':>7} {'cee back':>8} {'cee/pkt':>9} {'cee/s':>6} {'linux back':>10} "
          f"{'linux/pkt':>9} {'linux/s':>7} {'cee/linux':>9}")
    for ph in cee["phases"]:
        other = lp.get(ph["kind"])
        if other is None:
            continue
        ca = ph["frames_back"] / ph["sent"]
        la = other["frames_back"] / other["sent"]
        ratio = f"{ca / la:9.2f}" if la else ("      inf" if ca else "        -")
        print(f"  {ph['kind']:6} {ph['sent']:7d} {ph['pps']:7.0f} {ph['frames_back']:8d} {ca:9.5f} "
              f"{ph['frames_back'] / ph['window_s']:6.2f} {other['frames_back']:10d} {la:9.5f} "
              f"{other['frames_back'] / other['window_s']:7.2f} {ratio}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("attack")
    a.add_argument("--server", required=True)
    a.add_argument("--iface", required=True)
    a.add_argument("--plan", required=True)
    a.add_argument("--rate", type=float, default=20000)
    a.add_argument("--near", action="store_true")
    a.add_argument("--tail", type=float, default=0.5)
    a.add_argument("--timeout", type=float, default=20, help="the client's socket timeout")
    a.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--run", required=True)
    r.add_argument("--label", default="run")
    r.add_argument("--events")
    r.add_argument("--stats")
    r.add_argument("--judge", type=int, default=1, help="0: print only (Linux)")
    r.add_argument("--json")
    c = sub.add_parser("compare")
    c.add_argument("--cee", required=True)
    c.add_argument("--linux", required=True)
    args = ap.parse_args()
    if args.cmd == "attack":
        return attack(args)
    if args.cmd == "report":
        return report(args)
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
