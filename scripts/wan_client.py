#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Bulk echo clients for scripts/wan.sh: goodput, fairness, stalls, verification.

  wan_client.py --server IP:PORT [--conns N] [--mib M | --bytes B]
                [--timeout S] [--seed N] [--out FILE] [--label TEXT]
                [--tls-ca FILE --tls-name NAME]

Each of N connections sends B bytes of a deterministic pseudo-random pattern
(its own offset into it) from a sender thread, half-closes, and a receiver
thread reads the echo back concurrently and compares every byte; then it
waits for the server's FIN. Per connection: goodput = echoed bytes / time
from the start of connect() to the last echoed byte; the longest time the
receiver went without a byte (from connect to the last byte: a stall); the
client socket's TCP_INFO at the end (retransmissions, smoothed RTT).
Whole set: total = all echoed bytes / wall time from the first connect to
the last byte; Jain's fairness index over the per-connection goodputs.

Prints one JSON object (and writes it to --out). Exit 0 when every
connection got every byte back, unaltered, and the server's FIN; 1
otherwise (wrong byte, reset, timeout: each is listed under "errors"),
never because of a goodput figure. --timeout bounds the whole run.

With --tls-ca, each connection is TLS (Python's ssl, the server verified
against that CA as NAME), driven by one thread (an SSL object is not for
two): it sends while at most --tls-ahead bytes are unechoed, reads and checks
the echo, and closes after the last byte (TLS has no half-close: no
server FIN is awaited).
"""
import argparse
import json
import random
import select
import socket
import ssl
import struct
import sys
import threading
import time

CHUNK = 65536
PATTERN_LEN = (1 << 20) + 4099  # not a multiple of CHUNK: boundaries move
POLL_S = 0.25  # socket timeout: how often threads look at the deadline
# TLS: bytes sent and not yet echoed, at most: a request/answer pace (an
# SBC's), and cee's TLS echo keeps its answers in its send buffer (32 KiB by
# default) and resets a peer that overruns it (no_resources)


class Conn:
    def __init__(self, idx, total, pattern2, deadline):
        self.idx = idx
        self.total = total
        self.pattern2 = pattern2
        self.offset0 = (idx * 7919 * 131) % PATTERN_LEN
        self.deadline = deadline
        self.cc = None  # TCP_CONGESTION, None: the kernel's default
        self.tls_ahead = 16 * 1024  # TLS: unechoed bytes at most
        self.tls = None  # ssl.SSLContext, and the server's name
        self.tls_name = None
        self.sock = None
        self.t_start = None  # before connect()
        self.t_connected = None
        self.t_last = None  # last echoed byte
        self.t_fin = None  # server's FIN
        self.sent = 0
        self.received = 0  # bytes received and verified equal
        self.max_stall = 0.0
        self.error = None
        self.tcp_info = None
        self.done = threading.Event()
        self.lock = threading.Lock()

    def fail(self, msg):
        with self.lock:
            if self.error is None:
                self.error = msg

    def expected(self, off, n):
        start = (self.offset0 + off) % PATTERN_LEN
        return self.pattern2[start:start + n]

    # -- n echoed bytes in buf, arrived at now (the one before at last):
    # checked against the pattern. @return False after a failure
    def take(self, buf, n, now, last):
        if self.received + n > self.total:
            self.fail("%d bytes more than were sent" % (self.received + n - self.total))
            return False
        got = bytes(buf[:n])
        exp = self.expected(self.received, n)
        if got != exp:
            bad = next(i for i in range(n) if got[i] != exp[i])
            self.fail("wrong byte at offset %d: got 0x%02x, expected 0x%02x"
                      % (self.received + bad, got[bad], exp[bad]))
            return False
        self.max_stall = max(self.max_stall, now - last)
        self.received += n
        if self.received == self.total:
            self.t_last = now
        return True

    # -- sender: B bytes of the pattern, then SHUT_WR
    def send_all(self):
        mv = memoryview(self.pattern2)
        try:
            while self.sent < self.total and self.error is None:
                n = min(CHUNK, self.total - self.sent)
                start = (self.offset0 + self.sent) % PATTERN_LEN
                try:
                    self.sent += self.sock.send(mv[start:start + n])
                except socket.timeout:
                    if time.monotonic() > self.deadline:
                        self.fail("timeout while sending (sent %d of %d)" % (self.sent, self.total))
                        return
            if self.error is None:
                self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.fail("send: %s (sent %d of %d)" % (e, self.sent, self.total))

    # -- receiver: verify every byte, track stalls, then wait for EOF
    def receive_all(self):
        buf = bytearray(CHUNK)
        last = self.t_connected
        try:
            while self.error is None:
                try:
                    n = self.sock.recv_into(buf)
                except socket.timeout:
                    now = time.monotonic()
                    if self.received < self.total:
                        self.max_stall = max(self.max_stall, now - last)
                    if now > self.deadline:
                        what = "echo" if self.received < self.total else "server FIN"
                        self.fail("timeout waiting for the %s (received %d of %d)"
                                  % (what, self.received, self.total))
                        return
                    continue
                now = time.monotonic()
                if n == 0:
                    if self.received < self.total:
                        self.fail("EOF after %d of %d bytes" % (self.received, self.total))
                    else:
                        self.t_fin = now
                    return
                if not self.take(buf, n, now, last):
                    return
                last = now
        except OSError as e:
            self.fail("recv: %s (received %d of %d)" % (e, self.received, self.total))

    # -- TLS: one thread sends and receives (non-blocking, select)
    def exchange_tls(self):
        s = self.sock
        mv = memoryview(self.pattern2)
        buf = bytearray(CHUNK)
        last = self.t_connected
        s.setblocking(False)
        while self.received < self.total and self.error is None:
            now = time.monotonic()
            if now > self.deadline:
                self.fail("timeout waiting for the echo (received %d of %d)"
                          % (self.received, self.total))
                return
            ahead = self.tls_ahead
            sending = self.sent < self.total and self.sent - self.received < ahead
            if s.pending() == 0:
                r, w, _ = select.select([s], [s] if sending else [], [], POLL_S)
                if not r and not w:
                    self.max_stall = max(self.max_stall, time.monotonic() - last)
                    continue
            if sending:
                n = min(CHUNK, self.total - self.sent, ahead - (self.sent - self.received))
                start = (self.offset0 + self.sent) % PATTERN_LEN
                try:
                    self.sent += s.send(mv[start:start + n])
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            while self.error is None:
                try:
                    n = s.recv_into(buf)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                now = time.monotonic()
                if n == 0:
                    self.fail("EOF after %d of %d bytes" % (self.received, self.total))
                    return
                if not self.take(buf, n, now, last):
                    return
                last = now

    def read_tcp_info(self):
        try:
            raw = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
            f = struct.unpack("8B24I", raw[:104])
            u = f[8:]
            # u: rto ato snd_mss rcv_mss unacked sacked lost retrans fackets
            #    last_data_sent last_ack_sent last_data_recv last_ack_recv pmtu
            #    rcv_ssthresh rtt rttvar snd_ssthresh snd_cwnd advmss reordering
            #    rcv_rtt rcv_space total_retrans
            self.tcp_info = {"total_retrans": u[23], "rtt_ms": u[15] / 1000.0,
                             "rto_ms": u[0] / 1000.0, "snd_cwnd": u[18]}
        except (OSError, struct.error):
            pass

    def run(self, host, port):
        try:
            self.t_start = time.monotonic()
            try:
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                if self.cc:
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION,
                                         self.cc.encode())
                self.sock.settimeout(max(0.1, self.deadline - self.t_start))
                self.sock.connect((host, port))
            except OSError as e:
                self.fail("connect: %s" % e)
                return
            if self.tls is not None:
                try:
                    self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.tls_name)
                except (OSError, ssl.SSLError) as e:
                    self.fail("TLS handshake: %s" % e)
                    return
                self.t_connected = time.monotonic()
                try:
                    self.exchange_tls()
                except OSError as e:
                    self.fail("TLS: %s (received %d of %d)" % (e, self.received, self.total))
                self.read_tcp_info()
                return
            self.t_connected = time.monotonic()
            self.sock.settimeout(POLL_S)
            sender = threading.Thread(target=self.send_all, daemon=True)
            sender.start()
            self.receive_all()
            sender.join(max(0.0, self.deadline - time.monotonic()))
            if sender.is_alive():
                self.fail("sender did not finish (sent %d of %d)" % (self.sent, self.total))
            self.read_tcp_info()
        finally:
            if self.sock is not None:
                self.sock.close()
            self.done.set()

    def report(self):
        secs = (self.t_last - self.t_start) if self.t_last is not None else None
        mbit = self.received * 8 / secs / 1e6 if secs else 0.0
        return {
            "id": self.idx, "bytes": self.received, "seconds": secs,
            "mbit": round(mbit, 3), "max_stall_s": round(self.max_stall, 4),
            "connect_s": (round(self.t_connected - self.t_start, 4)
                          if self.t_connected is not None else None),
            "fin_after_last_byte_s": (round(self.t_fin - self.t_last, 4)
                                      if self.t_fin is not None and self.t_last is not None
                                      else None),
            "tcp_info": self.tcp_info, "error": self.error,
        }


def jain(xs):
    if not xs or sum(x * x for x in xs) == 0:
        return 0.0
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="IP:PORT")
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--mib", type=float, default=4.0, help="MiB per connection")
    ap.add_argument("--bytes", type=int, help="bytes per connection (instead of --mib)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds for the whole run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--label", default="")
    ap.add_argument("--tls-ca", help="TLS: the CA that signed the server's certificate")
    ap.add_argument("--tls-name", default="server.cee.test", help="TLS: the server's name")
    ap.add_argument("--tls-ahead", type=int, default=16 * 1024,
                    help="TLS: unechoed bytes at most per connection (default 16384)")
    ap.add_argument("--cc", help="TCP congestion control of the client sockets "
                    "(TCP_CONGESTION; default: the kernel's)")
    args = ap.parse_args()
    host, port = args.server.rsplit(":", 1)
    total = args.bytes if args.bytes is not None else int(args.mib * (1 << 20))

    pattern = random.Random(args.seed).randbytes(PATTERN_LEN)
    pattern2 = pattern + pattern[:CHUNK]
    deadline = time.monotonic() + args.timeout
    conns = [Conn(i, total, pattern2, deadline) for i in range(args.conns)]
    tls = None
    if args.tls_ca:
        tls = ssl.create_default_context(cafile=args.tls_ca)
    for c in conns:
        c.cc = args.cc
        c.tls_ahead = args.tls_ahead
        c.tls = tls
        c.tls_name = args.tls_name
    threads = [threading.Thread(target=c.run, args=(host, int(port)), daemon=True)
               for c in conns]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for c in conns:
        c.done.wait(max(0.0, deadline - time.monotonic()) + 2 * POLL_S + 1.0)
    for c in conns:
        if not c.done.is_set():
            c.fail("did not finish within %.0f s (received %d of %d)"
                   % (args.timeout, c.received, c.total))

    reps = [c.report() for c in conns]
    lasts = [c.t_last for c in conns if c.t_last is not None]
    starts = [c.t_start for c in conns if c.t_start is not None]
    received = sum(c.received for c in conns)
    wall = (max(lasts) - min(starts)) if lasts and starts else None
    errors = ["conn %d: %s" % (c.idx, c.error) for c in conns if c.error is not None]
    per = [r["mbit"] for r in reps]
    out = {
        "label": args.label, "server": args.server, "conns": args.conns,
        "cc": args.cc or open("/proc/sys/net/ipv4/tcp_congestion_control").read().strip(),
        "tls": tls is not None,
        "bytes_per_conn": total, "seed": args.seed,
        "mbit_per_conn": per,
        "total_mbit": round(received * 8 / wall / 1e6, 3) if wall else 0.0,
        "wall_s": round(wall, 4) if wall else None,
        "jain": round(jain(per), 4),
        "max_stall_s": round(max(r["max_stall_s"] for r in reps), 4),
        "bytes_verified": received, "bytes_expected": total * args.conns,
        "client_retrans": sum((r["tcp_info"] or {}).get("total_retrans", 0) for r in reps),
        "ok": not errors and received == total * args.conns,
        "errors": errors, "per_conn": reps,
        "run_s": round(time.monotonic() - t0, 4),
    }
    text = json.dumps(out)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text, flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
