#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Upgrade requests, good and bad, over raw sockets to cee-engine's ws:
echo listener (test_ws.sh upgrades, an engine with --ws-path /sip and
--ws-origin). Checked by ws_check.py.

Guards against: a refused upgrade answered with the wrong status, or left
open, or not reported (`closed` with reason ws_upgrade_failed and the
http_status the client read; counted in ws.upgrade_failures); a 426 without
`Sec-WebSocket-Version: 13`; an upgrade request never finished (slowloris)
holding its connection past --handshake-timeout, or ending without
handshake_timeout; subprotocol negotiation that picks what the client did
not offer, or refuses a client that offers only another subprotocol;
Sec-WebSocket-Accept computed wrong; a request split across segments not
reassembled; the Origin allow-list not applied.

Kinds (each --each times, all at once):
  good_sip    offers sip, an allowed Origin: 101 with sip; echo; Close 1000
  good_other  offers only xmpp: 101 without a subprotocol; echo; Close 1000
  good_none   offers none, no Origin: 101 without one; echo; Close 1000
  good_split  good_none sent 7 bytes at a time, 10 ms apart: 101; echo; Close 1000
  nokey       no Sec-WebSocket-Key: 400
  badkey      a key that is not 16 bytes in base64: 400
  version     Sec-WebSocket-Version: 8: 426 with Sec-WebSocket-Version: 13
  bigheaders  9000 bytes of headers (limit 8192): 431 or 400
  path        GET /other (served: --path): 404
  origin      an Origin not in the allow-list: 403
  post        POST: 405
  malformed   a request line that is not HTTP: 400
  noupgrade   a plain GET without Upgrade/Connection: 400 or 426
  slowloris   the request line and one header, then one byte every 0.25 s,
              never the blank line: the engine must end it (handshake_timeout)

Kinds against an echo-close listener (--engine-closes; only these run): a
good upgrade and one message, echoed; then the engine's Close 1000 comes
first, and the client
  srv_answer  answers with its Close 1000 and reads to the end
  srv_fin     sends no Close: only its FIN (shutdown), reads to the end
  srv_rst     sends no Close: an RST (SO_LINGER 0)
The engine closed first each time: `closed` must say local_close, with our
ws_code 1000, ws_clean only for srv_answer (a FIN or RST after our Close
was reported as peer_fin or peer_rst).

Writes --log: {"meta": {...}, "conns": [record, ...]}; a record holds id,
kind, lport, t_connect, connected, status, headers (lowercase names),
expect_status, up, subprotocol, sent/recv (data payload bytes),
msgs_sent/msgs_recv, close_sent, close_recv, end (eof, rst, timeout),
wait_s (slowloris: from the connect to the end), ok and error.
"""

import argparse
import asyncio
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_common as wc  # noqa: E402

EXPECT = {"nokey": [400], "badkey": [400], "version": [426], "bigheaders": [431, 400], "path": [404],
          "origin": [403], "post": [405], "malformed": [400], "noupgrade": [400, 426],
          "good_sip": [101], "good_other": [101], "good_none": [101], "good_split": [101],
          "slowloris": [], "srv_answer": [101], "srv_fin": [101], "srv_rst": [101]}
SRV_KINDS = ("srv_answer", "srv_fin", "srv_rst")
KINDS = tuple(k for k in EXPECT if k not in SRV_KINDS)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="IP:PORT of the ws: echo listener")
    p.add_argument("--path", required=True, help="the engine's --ws-path")
    p.add_argument("--origin-ok", required=True, help="an Origin in the engine's --ws-origin")
    p.add_argument("--origin-bad", required=True, help="an Origin not in it")
    p.add_argument("--handshake-timeout", type=float, required=True)
    p.add_argument("--each", type=int, default=3)
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--log", required=True)
    p.add_argument("--engine-closes", action="store_true",
                   help="the listener is echo-close: run the srv_* kinds only")
    return p.parse_args()


class Upgrade:
    def __init__(self, args, idx, kind):
        self.args = args
        host, _, port = args.server.rpartition(":")
        self.server = (host, int(port))
        self.hosthdr = f"{wc.SNI}:{port}"
        self.rec = {"id": idx, "kind": kind, "behaviour": kind, "proto": "ws", "lport": None,
                    "t_connect": None, "connected": False, "status": None, "headers": None,
                    "expect_status": EXPECT[kind], "up": False, "subprotocols_offered": None,
                    "subprotocol": None, "origin": None, "user_agent": f"cee-it/{kind}/{idx}",
                    "sent": 0, "recv": 0, "msgs_sent": 0, "msgs_recv": 0, "pings_recv": 0,
                    "close_sent": None, "close_recv": None, "end": None, "wait_s": None,
                    "ok": False, "error": None}
        self.conn = None
        self.key = None

    def request(self):
        k, a, r = self.rec["kind"], self.args, self.rec
        ua = r["user_agent"]
        if k == "good_sip":
            r["subprotocols_offered"], r["origin"] = ["sip"], a.origin_ok
        elif k == "good_other":
            r["subprotocols_offered"] = ["xmpp"]
        if k.startswith("good_") or k in SRV_KINDS:
            self.key = wc.new_key()
            return wc.upgrade_request(self.hosthdr, a.path, key=self.key,
                                      subprotocols=r["subprotocols_offered"], origin=r["origin"],
                                      user_agent=ua)
        if k == "nokey":
            return wc.upgrade_request(self.hosthdr, a.path, key=False, user_agent=ua)
        if k == "badkey":
            return wc.upgrade_request(self.hosthdr, a.path, key="dG9vIHNob3J0", user_agent=ua)
        if k == "version":
            return wc.upgrade_request(self.hosthdr, a.path, version="8", user_agent=ua)
        if k == "bigheaders":
            pad = [f"X-Pad-{i}: " + "p" * 80 for i in range(100)]  # ~9000 bytes
            return wc.upgrade_request(self.hosthdr, a.path, user_agent=ua, extra=pad)
        if k == "path":
            return wc.upgrade_request(self.hosthdr, "/other", user_agent=ua)
        if k == "origin":
            r["origin"] = a.origin_bad
            return wc.upgrade_request(self.hosthdr, a.path, origin=a.origin_bad, user_agent=ua)
        if k == "post":
            return wc.upgrade_request(self.hosthdr, a.path, method="POST", user_agent=ua)
        if k == "malformed":
            return b"HELLO THERE\r\n\r\n"
        if k == "noupgrade":
            return (f"GET {a.path} HTTP/1.1\r\nHost: {self.hosthdr}\r\nUser-Agent: {ua}\r\n\r\n").encode()
        raise ValueError(k)

    async def read_all(self, timeout):
        """Read what the engine sends until it ends the connection. @return end."""
        c = self.conn
        try:
            async with asyncio.timeout(timeout):
                while True:
                    data = await c.recv()
                    if not data:
                        return "eof"
                    c.buf += data
        except TimeoutError:
            return "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return "rst"

    async def run(self):
        k, a, r = self.rec["kind"], self.args, self.rec
        c = self.conn = wc.RawConn()
        try:
            r["t_connect"] = time.monotonic()
            await asyncio.wait_for(c.connect(self.server), a.timeout)
            r["lport"], r["connected"] = c.lport, True
            if k == "slowloris":
                await self.slowloris()
                return
            req = self.request()
            if k == "good_split":
                for i in range(0, len(req), 7):
                    await c.send(req[i:i + 7])
                    await asyncio.sleep(0.01)  # the split is the behaviour under test, not a wait
            else:
                await c.send(req)
            head = await asyncio.wait_for(c.read_head(), a.timeout)
            r["status"], r["headers"] = wc.parse_response(head)
            if r["status"] == 101:
                await self.good()
            else:
                r["end"] = await self.read_all(a.timeout)
                r["body_bytes"] = len(c.buf)
                r["ok"] = r["status"] in r["expect_status"] and r["end"] in ("eof", "rst")
                if k == "version" and r["headers"].get("sec-websocket-version") != "13":
                    r["ok"] = False
                    r["error"] = f"426 with Sec-WebSocket-Version {r['headers'].get('sec-websocket-version')!r}"
        except Exception as e:  # noqa: BLE001 -- recorded for the checker
            r["ok"] = False
            r["error"] = f"{type(e).__name__}: {e}"
        finally:
            c.close()

    async def good(self):
        r, c, a = self.rec, self.conn, self.args
        h = r["headers"]
        r["up"] = True
        r["subprotocol"] = h.get("sec-websocket-protocol")
        errors = []
        if h.get("sec-websocket-accept") != wc.accept_key(self.key):
            errors.append(f"Sec-WebSocket-Accept {h.get('sec-websocket-accept')!r}")
        want_sp = "sip" if r["subprotocols_offered"] and "sip" in r["subprotocols_offered"] else None
        if r["subprotocol"] != want_sp:
            errors.append(f"subprotocol {r['subprotocol']!r}, expected {want_sp!r}")
        msg = f"hello from {r['kind']} {r['id']} ✓".encode()
        await c.send(wc.frame(wc.OP_TEXT, msg))
        r["sent"] += len(msg)
        r["msgs_sent"] += 1
        f = await asyncio.wait_for(c.read_frame(), a.timeout)
        if f is None or f[1] != wc.OP_TEXT or f[2] != msg:
            errors.append(f"echo: {f!r:.80}")
        else:
            r["recv"] += len(f[2])
            r["msgs_recv"] += 1
        if r["kind"] in SRV_KINDS:
            await self.engine_closes(errors)
        else:
            r["close_sent"] = [1000, ""]
            await c.send(wc.frame(wc.OP_CLOSE, wc.close_payload(1000)))
            f = await asyncio.wait_for(c.read_frame(), a.timeout)
            if f is not None and f[1] == wc.OP_CLOSE:
                r["close_recv"] = list(wc.parse_close(f[2]))
            else:
                errors.append(f"expected the engine's Close, got {f!r:.80}")
            r["end"] = await self.read_all(a.timeout)
            if r["close_recv"] is None or r["close_recv"][0] != 1000 or r["end"] != "eof":
                errors.append(f"close: got {r['close_recv']}, end {r['end']}")
        r["ok"] = not errors
        if errors:
            r["error"] = "; ".join(errors)

    async def engine_closes(self, errors):
        """The echo-close listener's Close comes first; then this kind's answer."""
        r, c, a = self.rec, self.conn, self.args
        f = await asyncio.wait_for(c.read_frame(), a.timeout)
        if f is None or f[1] != wc.OP_CLOSE:
            errors.append(f"expected the engine's Close first, got {f!r:.80}")
            return
        r["close_recv"] = list(wc.parse_close(f[2]))
        if r["close_recv"][0] != 1000:
            errors.append(f"the engine's Close {r['close_recv']}, expected 1000")
        if r["kind"] == "srv_answer":
            r["close_sent"] = [1000, ""]
            await c.send(wc.frame(wc.OP_CLOSE, wc.close_payload(1000)))
        elif r["kind"] == "srv_fin":
            c.sock.shutdown(socket.SHUT_WR)
        else:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.sock.close()
            r["end"] = "rst_sent"
            return
        r["end"] = await self.read_all(a.timeout)
        if r["end"] != "eof":
            errors.append(f"end {r['end']}, expected the engine's FIN")

    async def slowloris(self):
        r, c, a = self.rec, self.conn, self.args
        t0 = time.monotonic()
        reader = asyncio.ensure_future(self.read_all(a.handshake_timeout + a.timeout))
        await c.send(f"GET {a.path} HTTP/1.1\r\nHost: {self.hosthdr}\r\nX-Slow: ".encode())
        sent = 0
        try:
            while not reader.done():
                try:
                    await asyncio.wait_for(asyncio.shield(reader), 0.25)  # the trickle's pace
                except TimeoutError:
                    await c.send(b"a")
                    sent += 1
        except (ConnectionResetError, BrokenPipeError) as e:
            r["send_error"] = type(e).__name__
        r["end"] = await reader
        r["wait_s"] = time.monotonic() - t0
        r["trickled"] = sent
        r["response_bytes"] = len(c.buf)
        r["ok"] = r["end"] in ("eof", "rst") and not c.buf


async def amain(args):
    kinds = SRV_KINDS if args.engine_closes else KINDS
    ups = [Upgrade(args, i, k) for i, k in enumerate(k for k in kinds for _ in range(args.each))]
    t0 = time.monotonic()
    await asyncio.gather(*(u.run() for u in ups))
    recs = [u.rec for u in ups]
    meta = {"server": args.server, "count": len(recs), "elapsed_s": time.monotonic() - t0,
            "handshake_timeout": args.handshake_timeout, "path": args.path}
    tmp = args.log + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"meta": meta, "conns": recs}, f)
    os.rename(tmp, args.log)
    bad = [r for r in recs if not r["ok"]]
    print(f"ws_upgrades: {len(recs) - len(bad)}/{len(recs)} clients saw what their kind expects "
          f"in {meta['elapsed_s']:.2f} s", flush=True)
    for r in recs:
        print(f"ws_upgrades: {r['kind']:10} #{r['id']:<3} status {r['status']} end {r['end']}"
              + (f" wait {r['wait_s']:.2f} s" if r["wait_s"] is not None else "")
              + (f" error {r['error']}" if r["error"] else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(amain(parse_args())))
