# SPDX-License-Identifier: BSD-3-Clause
"""Bulk echo through the layers: clients that keep a lot unechoed.

Each connection (TLS, WebSocket, or WebSocket over TLS) writes --bytes in
units as large as the layer allows (16 KiB TLS records; WebSocket binary
messages of --ws-message bytes, each one frame) while up to --ahead bytes
are unechoed, reads the echo concurrently and checks every byte, then ends
cleanly: close_notify (tls), a Close 1000 answered by the engine's (ws,
wss: then close_notify over TLS).

Guards against: an echo layer that runs out of send buffer when the peer
writes ahead (the receive window offered only the send buffer's free room
while a partial record or message already held up to 16 KiB more: every
such client was reset, reason no_resources, though it kept to the window
it was given); bytes lost, reordered or altered under that load.

Prints one JSON object (and writes it to --log): per connection the bytes
echoed, the end seen, the error if any. Exit 0 only when every connection
got every byte back and ended cleanly.
"""

import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_common  # noqa: E402

PATTERN_LEN = 1 << 20
TLS_UNIT = 16384


def pattern(seed):
    """@return PATTERN_LEN pseudo-random bytes (the same for one seed)."""
    out, x = bytearray(), seed * 2654435761 + 1
    while len(out) < PATTERN_LEN:
        x = (x * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)
        out += x.to_bytes(8, "little")
    return bytes(out[:PATTERN_LEN])


class Conn:
    def __init__(self, idx, args, pat):
        self.idx, self.args, self.pat = idx, args, pat
        self.off0 = (idx * 7919 * 4096) % PATTERN_LEN
        self.sent = self.received = 0
        self.more = asyncio.Event()
        self.error = None
        self.end = None
        self.lport = None

    def expect(self, start, n):
        out = bytearray()
        while n > 0:
            p = (self.off0 + start) % PATTERN_LEN
            k = min(n, PATTERN_LEN - p)
            out += self.pat[p:p + k]
            start += k
            n -= k
        return bytes(out)

    def unit(self):
        size = self.args.ws_message if self.args.proto != "tls" else TLS_UNIT
        return min(size, self.args.bytes - self.sent)

    async def sender(self, rc):
        while self.sent < self.args.bytes:
            n = self.unit()
            while self.sent + n - self.received > self.args.ahead:
                self.more.clear()
                await self.more.wait()
            data = self.expect(self.sent, n)
            await rc.send(ws_common.frame(ws_common.OP_BINARY, data)
                          if self.args.proto != "tls" else data)
            self.sent += n

    def take(self, data):
        want = self.expect(self.received, len(data))
        if data != want:
            i = next(k for k in range(len(data)) if data[k] != want[k])
            raise ValueError("byte %d of the echo differs" % (self.received + i))
        self.received += len(data)
        self.more.set()

    async def receiver(self, rc):
        while self.received < self.args.bytes:
            if self.args.proto == "tls":
                data = await rc.recv()
                if not data:
                    raise ConnectionError("end of stream (%s) after %d of %d bytes"
                                          % (rc.end, self.received, self.args.bytes))
                self.take(data)
                continue
            f = await rc.read_frame()
            if f is None:
                raise ConnectionError("end of stream (%s) after %d of %d bytes"
                                      % (rc.end, self.received, self.args.bytes))
            fin, op, payload = f
            if op == ws_common.OP_CLOSE:
                code, reason = ws_common.parse_close(payload)
                raise ConnectionError("Close %s %r after %d of %d bytes"
                                      % (code, reason, self.received, self.args.bytes))
            if op != ws_common.OP_BINARY or not fin:
                raise ValueError("echo frame opcode %d fin %s" % (op, fin))
            self.take(payload)

    async def run(self, ssl_ctx):
        rc = ws_common.RawConn(ssl_ctx if self.args.proto in ("tls", "wss") else None)
        host, port = self.args.server.rsplit(":", 1)
        try:
            await rc.connect((host, int(port)))
            self.lport = rc.lport
            if rc.ssl_ctx is not None:
                await rc.start_tls()
            if self.args.proto != "tls":
                await rc.send(ws_common.upgrade_request(host))
                status, _ = ws_common.parse_response(await rc.read_head())
                if status != 101:
                    raise ConnectionError("upgrade answered %s" % status)
            send = asyncio.ensure_future(self.sender(rc))
            try:
                await self.receiver(rc)
            finally:
                if not send.done():
                    send.cancel()
            await send
            if self.args.proto == "tls":
                await rc.close_notify()
                if await rc.recv() != b"" or rc.end != "close_notify":
                    raise ConnectionError("no close_notify back (end %s)" % rc.end)
            else:
                await rc.send(ws_common.frame(ws_common.OP_CLOSE, ws_common.close_payload(1000)))
                f = await rc.read_frame()
                if f is None or f[1] != ws_common.OP_CLOSE:
                    raise ConnectionError("no Close back: %r" % (f,))
                if ws_common.parse_close(f[2])[0] != 1000:
                    raise ConnectionError("Close back %r" % (ws_common.parse_close(f[2]),))
            self.end = "clean"
        except (OSError, ValueError, ConnectionError, ws_common.ProtocolViolation) as e:
            self.error = "%s: %s" % (type(e).__name__, e)
        finally:
            rc.close()

    def report(self):
        return {"conn": self.idx, "lport": self.lport, "sent": self.sent,
                "echoed": self.received, "end": self.end, "error": self.error}


async def main_async(args):
    ssl_ctx = ws_common.client_ssl_context(args.certs) if args.proto in ("tls", "wss") else None
    pat = pattern(args.seed)
    conns = [Conn(i, args, pat) for i in range(args.conns)]
    try:
        await asyncio.wait_for(asyncio.gather(*(c.run(ssl_ctx) for c in conns)), args.timeout)
    except asyncio.TimeoutError:
        for c in conns:
            if c.end is None and c.error is None:
                c.error = "timeout after %d of %d bytes echoed" % (c.received, args.bytes)
    return conns


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="IP:PORT")
    ap.add_argument("--proto", choices=("tls", "ws", "wss"), required=True)
    ap.add_argument("--certs", help="tests/certs (tls, wss)")
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--bytes", type=int, default=2 << 20, help="per connection")
    ap.add_argument("--ahead", type=int, default=256 << 10, help="unechoed bytes at most")
    ap.add_argument("--ws-message", type=int, default=16000, help="WebSocket message size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--log")
    args = ap.parse_args()
    conns = asyncio.run(main_async(args))
    out = {"proto": args.proto, "conns": [c.report() for c in conns],
           "ok": sum(1 for c in conns if c.end == "clean")}
    text = json.dumps(out, indent=1)
    print(text)
    if args.log:
        with open(args.log, "w") as f:
            f.write(text + "\n")
    return 0 if out["ok"] == args.conns else 1


if __name__ == "__main__":
    sys.exit(main())
