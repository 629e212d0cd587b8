#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Clients of an engine stopped with --shutdown-grace (test_shutdown_grace.sh),
run inside the test namespace: they connect, echo once, tell the test they
are ready (--ready-file), and then only read, recording how the engine ended
each stream.

Guards against (with the test's checks): a shutdown that resets connections
a graceful one would have closed (an SBC restart seen by every client as
an RST, a WebSocket as 1006 abnormal closure, a TLS stream as truncated),
a WebSocket Close other than 1001 "going away" (RFC 6455 7.4.1), a FIN
before the peer's Close, data lost before the FIN, and a grace that does
not end (a peer that never answers holds the engine until the grace is
over, and a second stop signal cuts it short).

Kinds (--mix KIND=N,...):
  tcp     plain TCP echo: expects a FIN (end "eof"), then closes
  tls     TLS echo: expects close_notify (end "close_notify"), then closes
  ws      WebSocket echo: expects a Close frame 1001, answers it, then a FIN
  wss     the same over TLS, then close_notify
  silent  WebSocket echo that never answers the Close: expects the Close
          frame 1001 and then an RST when the grace is over (or cut short)
  silentfin  the same, ended by our FIN: the WebSocket close timeout ran
          out before the grace did
  wssnoup wss whose TLS handshake is done but which sends no upgrade
          request: expects close_notify, then the FIN (it was a bare FIN:
          a truncated TLS stream)
  stuck   plain TCP echo, a small receive buffer, 16 KiB sent and nothing
          read: ready once the engine acknowledged all of it (what it
          echoes waits behind a zero window, and our FIN behind that: the
          close cannot finish); reads nothing until --exit-file appears
          (the engine is gone), then expects an RST
Writes --log: {"conns": [{"kind", "port" (the engine's), "lport", "close_code", "end", "ok",
"error"}, ...]}; --closes-file gets a line once every ws/wss/silent client
has its Close frame and every tcp/tls one its end.
"""

import argparse
import asyncio
import fcntl
import json
import os
import socket
import struct
import sys
import termios

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_common as wc  # noqa: E402

KINDS = ("tcp", "tls", "ws", "wss", "silent", "silentfin", "wssnoup", "stuck")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ip", required=True)
    p.add_argument("--ports", required=True, help="tcp,tls,ws,wss listener ports")
    p.add_argument("--certs", required=True)
    p.add_argument("--mix", required=True)
    p.add_argument("--ready-file", required=True)
    p.add_argument("--closes-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--exit-file", default="/nonexistent", help="(stuck) written once the engine exited")
    p.add_argument("--timeout", type=float, default=120)
    return p.parse_args()


class Client:
    def __init__(self, kind, args, ports):
        self.kind = kind
        self.args = args
        self.port = ports[{"silent": "ws", "silentfin": "ws", "wssnoup": "wss",
                           "stuck": "tcp"}.get(kind, kind)]
        self.tls = kind in ("tls", "wss", "wssnoup")
        self.ws = kind in ("ws", "wss", "silent", "silentfin")
        self.silent = kind in ("silent", "silentfin")
        self.rec = {"kind": kind, "port": self.port, "lport": None, "close_code": None, "end": None, "ok": False, "error": None}
        self.ready = asyncio.Event()
        self.closed_seen = asyncio.Event()  # the Close frame (ws) or the end (tcp, tls)

    async def run(self, ctx):
        c = wc.RawConn(ctx if self.tls else None)
        try:
            if self.kind != "stuck":
                await c.connect((self.args.ip, self.port))
                self.rec["lport"] = c.lport
            if self.tls:
                await c.start_tls()
            if self.kind == "stuck":
                await self.stuck(c)
            elif self.kind == "wssnoup":
                pass  # TLS up, no upgrade request: nothing to echo
            elif self.ws:
                await c.send(wc.upgrade_request(f"{self.args.ip}:{self.port}", user_agent=f"cee-it/{self.kind}"))
                status, _ = wc.parse_response(await c.read_head())
                if status != 101:
                    raise RuntimeError(f"upgrade answered {status}")
                await c.send(wc.frame(wc.OP_TEXT, b"hello"))
                f = await c.read_frame()
                if f is None or f[1] != wc.OP_TEXT or f[2] != b"hello":
                    raise RuntimeError(f"echo: {f!r}")
            else:
                await c.send(b"hello")
                if not await c.fill(5) or bytes(c.buf[:5]) != b"hello":
                    raise RuntimeError("echo lost")
                del c.buf[:5]
            if self.kind != "stuck":
                self.ready.set()
                await self.finish(c)
        except ConnectionResetError:
            self.rec["end"] = "rst"
        except Exception as e:  # noqa: BLE001 (recorded, the checker fails it)
            self.rec["error"] = f"{type(e).__name__}: {e}"
        finally:
            self.ready.set()
            self.closed_seen.set()
            c.close()
        k, r = self.kind, self.rec
        r["ok"] = r["error"] is None and {
            "tcp": r["end"] == "eof",
            "tls": r["end"] == "close_notify",
            "ws": r["close_code"] == 1001 and r["end"] == "eof",
            "wss": r["close_code"] == 1001 and r["end"] == "close_notify",
            "silent": r["close_code"] == 1001 and r["end"] == "rst",
            "silentfin": r["close_code"] == 1001 and r["end"] == "eof",
            "wssnoup": r["end"] == "close_notify",
            "stuck": r["end"] == "rst",
        }[k]

    async def stuck(self, c):
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        c.sock.setblocking(False)
        await c.loop.sock_connect(c.sock, (self.args.ip, self.port))
        self.rec["lport"] = c.sock.getsockname()[1]
        await c.loop.sock_sendall(c.sock, b"s" * 16384)
        while True:  # every byte acknowledged: the engine holds the echo
            outq = struct.unpack("i", fcntl.ioctl(c.sock, termios.TIOCOUTQ, b"\0" * 4))[0]
            if outq == 0:
                break
            await asyncio.sleep(0.01)
        self.ready.set()
        self.closed_seen.set()
        while not os.path.exists(self.args.exit_file):
            await asyncio.sleep(0.05)
        try:
            while await c.loop.sock_recv(c.sock, 65536):
                pass
            self.rec["end"] = "eof"
        except ConnectionResetError:
            self.rec["end"] = "rst"

    async def finish(self, c):
        if not self.ws:
            data = await c.recv()
            while data:  # (an echo client sent nothing more: nothing comes)
                raise RuntimeError(f"unexpected bytes {data[:20]!r}")
            self.rec["end"] = c.end
            self.closed_seen.set()
            return
        f = await c.read_frame()
        if f is None:
            self.rec["end"] = c.end
            return
        if f[1] != wc.OP_CLOSE:
            raise RuntimeError(f"frame opcode {f[1]} before the Close")
        self.rec["close_code"] = struct.unpack("!H", f[2][:2])[0] if len(f[2]) >= 2 else None
        self.closed_seen.set()
        if not self.silent:
            await c.send(wc.frame(wc.OP_CLOSE, wc.close_payload(self.rec["close_code"])))
        while True:
            data = await c.recv()
            if not data:
                self.rec["end"] = c.end
                return
            c.buf += data
            if not self.silent:
                raise RuntimeError(f"bytes after the Close: {bytes(c.buf[:20])!r}")


async def main():
    args = parse_args()
    ip_ports = dict(zip(("tcp", "tls", "ws", "wss"), (int(p) for p in args.ports.split(","))))
    ctx = wc.client_ssl_context(args.certs)
    clients = []
    for item in args.mix.split(","):
        kind, n = item.split("=")
        if kind not in KINDS:
            raise SystemExit(f"unknown kind {kind}")
        clients += [Client(kind, args, ip_ports) for _ in range(int(n))]
    tasks = [asyncio.create_task(cl.run(ctx)) for cl in clients]
    await asyncio.wait_for(asyncio.gather(*(cl.ready.wait() for cl in clients)), args.timeout)
    bad = [cl.rec for cl in clients if cl.rec["error"] or cl.rec["end"]]
    with open(args.ready_file, "w") as f:
        f.write(f"{len(clients) - len(bad)} ready\n")
    await asyncio.wait_for(asyncio.gather(*(cl.closed_seen.wait() for cl in clients)), args.timeout)
    with open(args.closes_file, "w") as f:
        f.write("closes seen\n")
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for t in pending:
        t.cancel()
    for cl in clients:
        if cl.rec["end"] is None and cl.rec["error"] is None:
            cl.rec["error"] = "no end within --timeout"
            cl.rec["ok"] = False
    with open(args.log, "w") as f:
        json.dump({"conns": [cl.rec for cl in clients]}, f, indent=1)
    bad = [cl.rec for cl in clients if not cl.rec["ok"]]
    for r in bad[:10]:
        print(f"shutdown_grace.py: not as expected: {r}", file=sys.stderr)
    by = {}
    for cl in clients:
        by.setdefault(cl.kind, []).append(cl.rec["end"])
    print("shutdown_grace.py: ends " + ", ".join(f"{k}: {sorted(set(v), key=str)}" for k, v in by.items()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
