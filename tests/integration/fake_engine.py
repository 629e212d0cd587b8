#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A Linux-socket stand-in for cee-engine, to validate the test harness itself
(peer.py, check_events.py, the shell flow) without the real engine.

lib.sh runs it, when CEE_IT_FAKE_ENGINE=1, in a second namespace that owns the
host veth end with the engine's IP. It accepts the subset of cee-engine's
options the tests use, serves echo listeners, writes the same JSON Lines
events and --stats, prints `cee-engine: ready` and on SIGTERM closes every
live connection with RST (reason shutdown) and exits 0. It is not the engine:
it cannot refuse, count drops or apply backpressure.
"""

import argparse
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time


class Conn:
    def __init__(self, eng, sock, shard, cid):
        self.eng, self.sock, self.shard, self.id = eng, sock, shard, cid
        self.cseq = 0
        self.bytes_in = self.bytes_out = 0
        self.out = bytearray()
        self.peer_fin = False
        self.closed = False
        self.t_open = time.monotonic_ns()
        self.last = time.monotonic()
        self.local = "%s:%d" % sock.getsockname()
        self.remote = "%s:%d" % sock.getpeername()


class Fake:
    def __init__(self, args):
        self.args = args
        self.sel = selectors.DefaultSelector()
        self.sink = open(args.events[0].split(":", 1)[1], "w", buffering=1)
        self.shards = args.shards
        self.sseq = [0] * self.shards
        self.serial = [0] * self.shards
        self.opened = [0] * self.shards
        self.live = {}
        self.events = 0
        self.stop = False

    def emit(self, c, typ, **extra):
        self.sseq[c.shard] += 1
        ev = {"v": 1, "type": typ, "conn": "%016x" % c.id, "shard": c.shard, "sseq": self.sseq[c.shard],
              "cseq": c.cseq, "ts_ns": time.monotonic_ns(), "proto": "tcp", "local": c.local,
              "remote": c.remote}
        ev.update(extra)
        c.cseq += 1
        self.events += 1
        self.sink.write(json.dumps(ev, separators=(",", ":")) + "\n")

    def close(self, c, reason, rst=False):
        if not c.closed:
            c.closed = True
            self.emit(c, "closed", reason=reason, bytes_in=c.bytes_in, bytes_out=c.bytes_out,
                      duration_ns=time.monotonic_ns() - c.t_open)
        if rst:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sel.unregister(c.sock)
        c.sock.close()
        self.emit(c, "destroyed")
        del self.live[c.id]

    def accept(self, ls):
        s, addr = ls.accept()
        s.setblocking(False)
        shard = (addr[1] * 2654435761 >> 7) % self.shards
        self.serial[shard] += 1
        c = Conn(self, s, shard, (shard << 56) | self.serial[shard])
        self.live[c.id] = c
        self.opened[shard] += 1
        self.emit(c, "open")
        self.emit(c, "established")
        self.sel.register(s, selectors.EVENT_READ, c)

    def readable(self, c):
        try:
            data = c.sock.recv(65536)
        except ConnectionResetError:
            self.close(c, "peer_rst")
            return
        c.last = time.monotonic()
        if not data:
            c.peer_fin = True
            if not c.closed:
                c.closed = True
                self.emit(c, "closed", reason="peer_fin", bytes_in=c.bytes_in, bytes_out=c.bytes_out + len(c.out),
                          duration_ns=time.monotonic_ns() - c.t_open)
        c.bytes_in += len(data)
        c.out += data
        self.flush(c)

    def flush(self, c):
        while c.out:
            try:
                n = c.sock.send(c.out)
            except BlockingIOError:
                break
            except OSError:
                self.close(c, "peer_rst")
                return
            c.bytes_out += n
            del c.out[:n]
        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0)
        if c.peer_fin:
            ev &= ~selectors.EVENT_READ
            if not c.out:
                c.sock.shutdown(socket.SHUT_WR)
                self.close(c, "peer_fin")
                return
        self.sel.modify(c.sock, ev or selectors.EVENT_WRITE, c)

    def run(self):
        for spec in self.args.listen:
            _, port, *mode = spec.split(":")
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((self.args.ip.split("/")[0], int(port)))
            ls.listen(1024)
            ls.setblocking(False)
            self.sel.register(ls, selectors.EVENT_READ, None)
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stop", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stop", True))
        print("cee-engine: ready (fake)", file=sys.stderr, flush=True)
        while not self.stop:
            for key, mask in self.sel.select(0.1):
                if key.data is None:
                    self.accept(key.fileobj)
                elif key.data.id in self.live:
                    if mask & selectors.EVENT_READ:
                        self.readable(key.data)
                    if key.data.id in self.live and mask & selectors.EVENT_WRITE:
                        self.flush(key.data)
            now = time.monotonic()
            for c in list(self.live.values()):
                if self.args.idle_timeout and now - c.last > self.args.idle_timeout:
                    self.close(c, "idle_timeout")
        for c in list(self.live.values()):
            self.close(c, "shutdown", rst=True)
        self.sink.close()
        if self.args.stats:
            shards = [{"shard": i, "live": 0, "opened": self.opened[i], "refused": 0, "drops": {}}
                      for i in range(self.shards)]
            with open(self.args.stats, "w") as f:
                json.dump({"shards": shards, "total": {"live": 0, "opened": sum(self.opened), "refused": 0,
                                                       "drops": {}, "events": self.events}}, f)


def main():
    argv = sys.argv[1:]
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    p = argparse.ArgumentParser()
    p.add_argument("--ip", required=True)
    p.add_argument("--listen", action="append", default=[])
    p.add_argument("--events", action="append", default=[])
    p.add_argument("--stats")
    p.add_argument("--idle-timeout", type=float, default=0)
    p.add_argument("--shards", type=int, default=int(os.environ.get("CEE_FAKE_SHARDS", "1")))
    args, _ = p.parse_known_args(argv)
    Fake(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
