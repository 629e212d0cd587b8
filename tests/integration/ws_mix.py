#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""WebSocket clients (asyncio, one process) for cee-engine's ws: and wss:
echo listeners, run inside the test namespace (test_ws.sh mix and wss).
Checked by ws_check.py.

Guards against (with ws_check.py): lost `closed` events for WebSocket
connections that end without a Close frame (TCP FIN only, RST, timeouts) --
the fault cee exists to prevent: a widely deployed SIP proxy ran its
WebSocket `closed` only on a Close frame and reported none of 3,000 such
closes; identity confusion (each client names itself in its User-Agent and
its close reason, and the checker finds them on the engine connection of
its port); wrong reasons, close codes, clean flags or close reasons; echo
that changes a message or its type; byte counters that disagree with the
client; connections that are not all live at once.

Held kinds: connect (at most --connect-concurrency upgrades at a time),
upgrade (wss: TLS 1.2 and 1.3 alternately; offering sip, sip among others, only another subprotocol, or none;
an Origin on a third of them; User-Agent "cee-it/KIND/ID"), echo a text
message (non-ASCII UTF-8) and a binary one (1 in 100 clients: --max-message - 16 bytes,
reassembled from many segments) checking content and type, then echo a
short text message every --keepalive seconds (so neither the idle timeout
nor a server ping can fire) until every held client is at that point (a
barrier); then all end at once, each as its kind says:
  close1000  websockets library: Close 1000, no reason; the engine's Close back, then its FIN
  close4k    websockets library: Close 4000-4999 with a reason naming the client
  closeempty raw: a Close frame without a code (the engine's Close back, empty too)
  fin        raw: TCP FIN without a Close frame (ws: shutdown(SHUT_WR); wss:
             the same under TLS, without close_notify), then read to the end
  notify     raw, wss only: TLS close_notify then FIN, without a Close frame
  rst        raw: SO_LINGER {1, 0} and close: RST
  idle       raw: silent, answers nothing, reads until the engine closes
             (its Close 1001 then FIN)
  idle_answer raw: silent until the engine's Close 1001 (and its FIN, sent
             with it), which it answers with a Close echoing its code, as
             RFC 6455 5.5.1 asks, then reads to the end: a FIN, no RST
             (the answer comes after the engine's FIN: a reset for it was
             data after a full close, ws_clean false)
  idle_chatter raw: after the engine's Close 1001 (and its FIN), a text
             frame every 0.5 s and never a Close: reset once the engine's
             wait for an answer (5 s) is over (it was held to FIN-WAIT-2's
             60 s limit)
  close_chatter raw, wss: Close 1000, then after the engine's Close (and its
             close_notify and FIN) a text frame every 0.5 s, never
             close_notify: reset once the engine's wait for it (5 s) is
             over (the wait's bound was cleared as the layer closed: held
             to FIN-WAIT-2's 60 s)
  unmasked   raw: a text frame without a mask: Close 1002 expected
  badutf8    raw: a masked text frame with invalid UTF-8: Close 1007 expected
  badop      raw: a frame with reserved opcode 0x3: Close 1002 expected
  toobig     raw: a binary frame of --max-message + 1 bytes: Close 1009 expected
             (protocol errors: odd ids answer the engine's Close with theirs,
             as RFC 6455 5.5.1 asks, after its FIN; ws: read, not reset:
             tcp.abort_on_data, ws_check.py. The engine's layer ended with
             its Close: the answer is not counted, close_answered)
Unheld kinds (an engine with --ws-ping): after the echo they go silent at once:
  pingto     raw: never answers the engine's pings; reads until the engine
             resets it (a FIN kept a vanished peer's closed back for minutes)
  pong       raw: answers every ping with a pong for --hold seconds (longer
             than ping + pong timeout), then Close 1000 "done"; odd ids
             then wait for the next ping and send their Close before its
             Pong (a ping that crossed the Close: RFC 6455 5.5.1 forbids
             data frames after a Close, not a Pong; read by the engine,
             not reset, tcp.abort_on_data 0: a browser answers pings
             itself, and the reset could cost it our Close)

Writes --log: {"meta": {...}, "conns": [record, ...]}; a record holds id,
kind, proto, lport, t_connect (CLOCK_MONOTONIC s), connected, up,
subprotocols_offered, subprotocol (the one the 101 chose), origin,
user_agent, sent/recv (data payload bytes), msgs_sent/msgs_recv (data
messages), echo_ok, ready, pings_recv, pongs_sent, close_sent [code,
reason], close_recv [code, reason] (the engine's Close frame), end (eof,
close_notify, rst, timeout, rst_sent, ...), wait_s, tls_version, ok (the
client saw what its kind expects) and error.
"""

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_common as wc  # noqa: E402

import websockets  # noqa: E402  (Debian python3-websockets)
import websockets.exceptions  # noqa: E402

LIB_KINDS = ("close1000", "close4k")
HELD = ("close1000", "close4k", "closeempty", "fin", "notify", "rst", "idle", "idle_answer", "idle_chatter",
        "close_chatter", "unmasked", "badutf8", "badop", "toobig")
UNHELD = ("pingto", "pong")
PROTO_ERR = {"unmasked": 1002, "badutf8": 1007, "badop": 1002, "toobig": 1009}
TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 <>&\"\\/éüß€中文😀"
ORIGIN = "https://sip.example.test"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="IP:PORT of the ws:/wss: echo listener")
    p.add_argument("--proto", choices=("ws", "wss"), default="ws")
    p.add_argument("--certs", help="tests/certs (wss)")
    p.add_argument("--mix", required=True, help="kind=count,... (kinds above)")
    p.add_argument("--idle-timeout", type=float, default=0, help="the engine's, seconds")
    p.add_argument("--ping", type=float, default=0, help="the engine's --ws-ping, seconds")
    p.add_argument("--pong-timeout", type=float, default=0, help="the engine's --ws-pong-timeout")
    p.add_argument("--max-message", type=int, default=65536, help="the engine's --ws-max-message")
    p.add_argument("--keepalive", type=float, default=1.0, help="held clients echo this often until release")
    p.add_argument("--hold", type=float, default=6.0, help="pong clients answer pings this long")
    p.add_argument("--connect-concurrency", type=int, default=128)
    p.add_argument("--establish-deadline", type=float, default=150.0)
    p.add_argument("--timeout", type=float, default=30.0, help="per operation")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--log", required=True)
    return p.parse_args()


class Barrier:
    """Held clients check in once up and echoing (or failed); main releases
    them all together when every one has checked in."""

    def __init__(self, n):
        self.n = n
        self.arrived = 0
        self.established = 0
        self.all_in = asyncio.Event()
        self.release = asyncio.Event()
        if n == 0:
            self.all_in.set()

    def arrive(self, established):
        self.arrived += 1
        self.established += 1 if established else 0
        if self.arrived >= self.n:
            self.all_in.set()


class EngineClosed(Exception):
    """The engine sent a Close frame or ended the stream where the client expected data."""


class Client:
    def __init__(self, args, idx, kind, barrier, sem, ssl_ctx):
        self.args, self.barrier, self.sem, self.ssl_ctx = args, barrier, sem, ssl_ctx
        host, _, port = args.server.rpartition(":")
        self.host, self.port = host, int(port)
        self.rng = random.Random(args.seed_base + idx)
        sp = [["sip"], ["xmpp", "sip"], ["chat"], None][idx % 4]
        self.rec = {"id": idx, "kind": kind, "behaviour": kind, "proto": args.proto, "lport": None,
                    "t_connect": None, "connected": False, "up": False, "subprotocols_offered": sp,
                    "subprotocol": None, "origin": ORIGIN if idx % 3 == 0 else None,
                    "user_agent": f"cee-it/{kind}/{idx}", "sent": 0, "recv": 0, "msgs_sent": 0,
                    "msgs_recv": 0, "echo_ok": None, "ready": False, "pings_recv": 0, "pongs_sent": 0,
                    "close_sent": None, "close_recv": None, "end": None, "wait_s": None,
                    "tls_version": None, "ok": False, "error": None}
        self.t_last_in = self.t_last_out = None
        self.conn = None
        self.ws = None

    def fail(self, msg):
        self.rec["error"] = (self.rec["error"] + "; " if self.rec["error"] else "") + msg

    # ---- messages ----

    def text_payload(self, n):
        return "".join(self.rng.choice(TEXT_ALPHABET) for _ in range(n))

    def first_messages(self):
        big = self.rec["id"] % 100 == 7
        return (self.text_payload(self.rng.randint(1, 300)),
                self.rng.randbytes(self.args.max_message - 16 if big else self.rng.randint(1, 4000)))

    def keepalive_text(self, n):
        return f"keepalive {self.rec['id']} {n} é"

    def check_echo(self, msg, back):
        same_type = isinstance(back, type(msg))
        if not same_type or back != msg:
            self.rec["echo_ok"] = False
            raise RuntimeError(f"echo of a {type(msg).__name__} of {len(msg)} came back as a "
                               f"{type(back).__name__} of {len(back)}" + (" (different)" if same_type else ""))
        if self.rec["echo_ok"] is None:
            self.rec["echo_ok"] = True

    def count_out(self, msg):
        self.rec["sent"] += len(msg.encode() if isinstance(msg, str) else msg)
        self.rec["msgs_sent"] += 1
        self.t_last_out = time.monotonic()

    def count_in(self, msg):
        self.rec["recv"] += len(msg.encode() if isinstance(msg, str) else msg)
        self.rec["msgs_recv"] += 1
        self.t_last_in = time.monotonic()

    # ---- the websockets library (well-behaved clients) ----

    async def lib_open(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        self.rec["t_connect"] = time.monotonic()
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (self.host, self.port)),
                               self.args.timeout)
        self.rec["lport"] = sock.getsockname()[1]
        self.rec["connected"] = True
        scheme = "wss" if self.ssl_ctx else "ws"
        kw = {"ssl": self.ssl_ctx, "server_hostname": wc.SNI} if self.ssl_ctx else {}
        self.ws = await websockets.connect(
            f"{scheme}://{wc.SNI}:{self.port}/", sock=sock, compression=None, ping_interval=None,
            open_timeout=self.args.timeout, close_timeout=self.args.timeout,
            max_size=1 << 20, subprotocols=self.rec["subprotocols_offered"],
            origin=self.rec["origin"], user_agent_header=self.rec["user_agent"], **kw)
        self.rec["up"] = True
        self.rec["subprotocol"] = self.ws.subprotocol
        if self.ssl_ctx:
            sslobj = self.ws.transport.get_extra_info("ssl_object")
            self.rec["tls_version"] = sslobj.version() if sslobj else None

    async def lib_echo(self, msg):
        self.count_out(msg)
        await self.ws.send(msg)
        back = await asyncio.wait_for(self.ws.recv(), self.args.timeout)
        self.count_in(back)
        self.check_echo(msg, back)

    async def lib_end(self):
        kind = self.rec["kind"]
        if kind == "close1000":
            code, reason = 1000, ""
        else:
            code, reason = self.rng.randint(4000, 4999), f"bye {self.rec['id']} ✓"
        self.rec["close_sent"] = [code, reason]
        t0 = time.monotonic()
        await self.ws.close(code, reason)  # waits for the engine's Close, then its TCP close
        self.rec["wait_s"] = time.monotonic() - t0
        rc = self.ws.close_code
        self.rec["close_recv"] = None if rc in (None, 1005, 1006) else [rc, self.ws.close_reason]
        self.rec["end"] = "closed"
        # the engine echoes the code; it closed TCP itself, well before our close_timeout
        self.rec["ok"] = (self.rec["close_recv"] is not None and self.rec["close_recv"][0] == code
                          and self.rec["wait_s"] < self.args.timeout / 2)

    # ---- raw clients ----

    async def raw_open(self):
        c = self.conn = wc.RawConn(self.ssl_ctx)
        self.rec["t_connect"] = time.monotonic()
        await asyncio.wait_for(c.connect((self.host, self.port)), self.args.timeout)
        self.rec["lport"] = c.lport
        self.rec["connected"] = True
        if self.ssl_ctx:
            await asyncio.wait_for(c.start_tls(), self.args.timeout)
            self.rec["tls_version"] = c.obj.version()
        key = wc.new_key()
        await c.send(wc.upgrade_request(f"{wc.SNI}:{self.port}", "/", key=key,
                                        subprotocols=self.rec["subprotocols_offered"],
                                        origin=self.rec["origin"], user_agent=self.rec["user_agent"]))
        head = await asyncio.wait_for(c.read_head(), self.args.timeout)
        status, headers = wc.parse_response(head)
        if status != 101:
            raise RuntimeError(f"upgrade answered {status}: {head[:200]!r}")
        if headers.get("sec-websocket-accept") != wc.accept_key(key):
            raise RuntimeError(f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}, "
                               f"expected {wc.accept_key(key)!r}")
        self.rec["up"] = True
        self.rec["subprotocol"] = headers.get("sec-websocket-protocol")

    async def raw_message(self, answer_pings=True):
        """The next data message (str or bytes); pings answered (or not)."""
        parts, op = [], None
        while True:
            f = await self.conn.read_frame()
            if f is None:
                self.rec["end"] = self.conn.end
                raise EngineClosed(f"stream ended ({self.conn.end}) while a message was awaited")
            fin, opcode, payload = f
            self.t_last_in = time.monotonic()
            if opcode == wc.OP_PING:
                self.rec["pings_recv"] += 1
                if answer_pings:
                    await self.conn.send(wc.frame(wc.OP_PONG, payload))
                    self.rec["pongs_sent"] += 1
                continue
            if opcode == wc.OP_PONG:
                continue
            if opcode == wc.OP_CLOSE:
                self.rec["close_recv"] = list(wc.parse_close(payload))
                raise EngineClosed(f"the engine sent Close {self.rec['close_recv']}")
            if opcode in (wc.OP_TEXT, wc.OP_BINARY):
                if op is not None:
                    raise wc.ProtocolViolation("a new data frame inside a fragmented message")
                op = opcode
            elif opcode != wc.OP_CONT or op is None:
                raise wc.ProtocolViolation(f"unexpected opcode {opcode}")
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if op == wc.OP_TEXT:
                    if not wc.valid_utf8(data):
                        raise wc.ProtocolViolation("a text message that is not UTF-8")
                    return data.decode()
                return data

    async def raw_echo(self, msg):
        self.count_out(msg)
        if isinstance(msg, str):
            await self.conn.send(wc.frame(wc.OP_TEXT, msg.encode()))
        else:
            await self.conn.send(wc.frame(wc.OP_BINARY, msg))
        back = await asyncio.wait_for(self.raw_message(), self.args.timeout)
        self.count_in(back)
        self.check_echo(msg, back)

    async def on_frame(self, f, answer_pings, answer_close=False):
        """A frame read while no message is awaited: Close recorded (and
        answered, echoing its code), pings counted (and answered), anything
        else recorded as unexpected."""
        _, opcode, payload = f
        if opcode == wc.OP_CLOSE:
            if self.rec["close_recv"] is not None:
                self.fail(f"a second Close frame {list(wc.parse_close(payload))}")
            self.rec["close_recv"] = list(wc.parse_close(payload))
            if answer_close:
                await self.conn.send(wc.frame(wc.OP_CLOSE, payload[:2]))
                self.rec["close_sent"] = [self.rec["close_recv"][0], ""]
        elif opcode == wc.OP_PING:
            self.rec["pings_recv"] += 1
            if answer_pings:
                await self.conn.send(wc.frame(wc.OP_PONG, payload))
                self.rec["pongs_sent"] += 1
        elif self.rec["close_recv"] is not None:
            self.fail(f"opcode {opcode} after the engine's Close frame")
        else:
            self.rec["unexpected"] = self.rec.get("unexpected", 0) + 1

    async def ended(self, timeout, body):
        """Run the coroutine function @p body within @p timeout: its end, or
        how the stream ended under it (timeout, rst; ProtocolViolation
        recorded: violation)."""
        try:
            async with asyncio.timeout(timeout):
                return await body()
        except TimeoutError:
            return "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return "rst"
        except wc.ProtocolViolation as e:
            self.fail(f"ProtocolViolation: {e}")
            return "violation"

    async def read_to_end(self, timeout, answer_pings=False, pending=None, answer_close=False):
        """Read frames until the engine ends the stream: record its Close
        frame and pings; for TLS, what follows close_notify too. @p pending:
        a read_frame task already under way. @return end (eof, close_notify,
        rst, timeout); ProtocolViolation recorded."""
        c = self.conn

        async def body():
            nonlocal pending
            while True:
                f = await (pending if pending is not None else c.read_frame())
                pending = None
                if f is None:
                    break
                await self.on_frame(f, answer_pings, answer_close)
            end = c.end
            if end == "close_notify":  # then the TCP end
                while await c.loop.sock_recv(c.sock, 65536):
                    pass
                end = "close_notify+eof"
            return end

        return await self.ended(timeout, body)

    async def chatter_after_close(self, timeout):
        """Read until the engine's Close, then write a text frame every 0.5 s
        (never a Close) until the engine resets the connection. @return end
        (rst, timeout, violation); reset_after_s: from its Close."""
        c = self.conn

        async def body():
            while self.rec["close_recv"] is None:
                f = await c.read_frame()
                if f is None:
                    return c.end or "eof"
                await self.on_frame(f, False)
            t0 = time.monotonic()
            try:
                while True:
                    await c.send(wc.frame(wc.OP_TEXT, b"still here"))
                    await asyncio.sleep(0.5)
            except (ConnectionResetError, BrokenPipeError):
                self.rec["reset_after_s"] = time.monotonic() - t0
                return "rst"

        return await self.ended(timeout, body)

    def tls_end_ok(self, end):
        """How the engine's side must end: ws: FIN; wss: close_notify then FIN."""
        return end == ("close_notify+eof" if self.ssl_ctx else "eof")

    async def raw_end(self):
        kind, c, a = self.rec["kind"], self.conn, self.args
        if kind == "closeempty":
            self.rec["close_sent"] = [None, ""]
            await c.send(wc.frame(wc.OP_CLOSE, b""))
            self.rec["end"] = await self.read_to_end(a.timeout)
            # an empty Close answers an empty Close (RFC 6455 5.5.1)
            self.rec["ok"] = self.rec["close_recv"] == [None, ""] and self.tls_end_ok(self.rec["end"])
        elif kind == "fin":
            c.shutdown_write()  # under TLS too: a FIN without close_notify
            self.rec["end"] = await self.read_to_end(a.timeout)
            self.rec["ok"] = self.tls_end_ok(self.rec["end"])
        elif kind == "notify":
            await c.close_notify()
            c.shutdown_write()
            self.rec["end"] = await self.read_to_end(a.timeout)
            self.rec["ok"] = self.rec["end"] == "close_notify+eof"
        elif kind == "rst":
            c.reset()
            self.rec["end"] = "rst_sent"
            self.rec["ok"] = True
        elif kind == "idle_chatter":
            self.rec["end"] = await self.chatter_after_close(a.idle_timeout + a.timeout)
            cr = self.rec["close_recv"]
            w = self.rec.get("reset_after_s")
            self.rec["ok"] = (cr is not None and cr[0] == 1001 and self.rec["end"] == "rst"
                              and w is not None and w <= 9)
        elif kind == "close_chatter":
            self.rec["close_sent"] = [1000, ""]
            await c.send(wc.frame(wc.OP_CLOSE, wc.close_payload(1000)))
            self.rec["end"] = await self.chatter_after_close(a.timeout + 10)
            cr = self.rec["close_recv"]
            w = self.rec.get("reset_after_s")
            self.rec["ok"] = (cr is not None and cr[0] == 1000 and self.rec["end"] == "rst"
                              and w is not None and w <= 9)
        elif kind in ("idle", "idle_answer"):
            self.rec["end"] = await self.read_to_end(a.idle_timeout + a.timeout,
                                                     answer_close=kind == "idle_answer")
            # from the client's last send: the engine's idle clock starts
            # later (at the ACK of its echo, which this kernel sends at
            # once), so this never reads short; the echo's arrival, taken
            # when this loop got to it, read 4.6 s for a 6 s timeout on a
            # loaded run
            self.rec["wait_s"] = time.monotonic() - self.t_last_out
            cr = self.rec["close_recv"]
            self.rec["ok"] = cr is not None and cr[0] == 1001 and self.tls_end_ok(self.rec["end"])
        elif kind in PROTO_ERR:
            send = asyncio.ensure_future(c.send(self.bad_frame(kind)))
            answer = self.rec["id"] % 2 == 1
            self.rec["end"] = await self.read_to_end(a.timeout, answer_close=answer)
            if answer and self.rec["close_sent"] is not None:
                self.rec["close_answered"] = self.rec.pop("close_sent")
                self.rec["close_sent"] = None
            if not send.done():
                send.cancel()
            elif send.exception() is not None:
                self.rec["send_error"] = repr(send.exception())
            cr = self.rec["close_recv"]
            self.rec["ok"] = cr is not None and cr[0] == PROTO_ERR[kind] and self.tls_end_ok(self.rec["end"])

    def bad_frame(self, kind):
        if kind == "unmasked":
            return wc.frame(wc.OP_TEXT, f"unmasked {self.rec['id']}".encode(), mask=False)
        if kind == "badutf8":
            return wc.frame(wc.OP_TEXT, b"caf\xc3\x28 \xff\xfe bad")
        if kind == "badop":
            return wc.frame(0x3, b"reserved opcode")
        return wc.frame(wc.OP_BINARY, self.rng.randbytes(self.args.max_message + 1))

    async def unheld_end(self):
        kind, a = self.rec["kind"], self.args
        if kind == "pingto":
            self.rec["end"] = await self.read_to_end(a.ping + a.pong_timeout + a.timeout, answer_pings=False)
            self.rec["wait_s"] = time.monotonic() - self.t_last_out  # the engine hears nothing after this
            # reset: a peer that answers no ping is taken for gone; a FIN
            # (close_notify) to one that had vanished waited minutes for the
            # retransmission timeout before the engine said closed
            self.rec["ok"] = self.rec["pings_recv"] >= 1 and self.rec["end"] == "rst"
            return
        # pong: answer pings for --hold seconds, then a Close handshake. The
        # read under way at the deadline is not cancelled (a cancelled read
        # can lose what it had received): the Close goes out beside it.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + a.hold
        pending = None
        while loop.time() < deadline:
            pending = pending or asyncio.ensure_future(self.conn.read_frame())
            done, _ = await asyncio.wait({pending}, timeout=deadline - loop.time())
            if not done:
                break
            f, pending = pending.result(), None
            if f is None:
                self.rec["end"] = self.conn.end
                self.fail("the engine ended the connection while the client answered its pings")
                return
            await self.on_frame(f, answer_pings=True)
            if self.rec["close_recv"] is not None:
                self.fail(f"the engine sent Close {self.rec['close_recv']} while the client answered its pings")
        crossing = None
        if self.rec["id"] % 2 == 1:
            # the next ping, answered only after our Close
            while crossing is None:
                f = await asyncio.wait_for(pending or self.conn.read_frame(), a.ping + a.timeout)
                pending = None
                if f is None:
                    self.rec["end"] = self.conn.end
                    self.fail("the engine ended the connection while the client waited for a ping")
                    return
                if f[1] == wc.OP_PING:
                    self.rec["pings_recv"] += 1
                    crossing = f[2]
                else:
                    await self.on_frame(f, answer_pings=True)
        self.rec["close_sent"] = [1000, "done"]
        await self.conn.send(wc.frame(wc.OP_CLOSE, wc.close_payload(1000, "done")))
        if crossing is not None:
            await self.conn.send(wc.frame(wc.OP_PONG, crossing))
            self.rec["pongs_sent"] += 1
            self.rec["pong_after_close"] = True
        self.rec["end"] = await self.read_to_end(a.timeout, answer_pings=True, pending=pending)
        cr = self.rec["close_recv"]
        self.rec["ok"] = (self.rec["pings_recv"] >= 2 and self.rec["pongs_sent"] == self.rec["pings_recv"]
                          and cr is not None and cr[0] == 1000 and self.tls_end_ok(self.rec["end"]))

    # ---- one client ----

    async def run(self):
        kind = self.rec["kind"]
        lib = kind in LIB_KINDS
        stage = "connect and upgrade"
        try:
            async with self.sem:
                await (self.lib_open() if lib else self.raw_open())
                for msg in self.first_messages():
                    stage = f"echo of a {type(msg).__name__} message of {len(msg)}"
                    await (self.lib_echo(msg) if lib else self.raw_echo(msg))
            stage = "end"
            if kind in UNHELD:
                await self.unheld_end()
                return
            self.rec["ready"] = True
            self.barrier.arrive(True)
            n = 0
            stage = "keepalive echoes before release"
            while not self.barrier.release.is_set():
                try:
                    await asyncio.wait_for(self.barrier.release.wait(),
                                           self.args.keepalive * self.rng.uniform(0.8, 1.2))
                except TimeoutError:
                    n += 1
                    msg = self.keepalive_text(n)
                    await (self.lib_echo(msg) if lib else self.raw_echo(msg))
            stage = "end"
            await (self.lib_end() if lib else self.raw_end())
        except Exception as e:  # noqa: BLE001 -- recorded for the checker
            self.rec["ok"] = False
            self.fail(f"during the {stage}: {type(e).__name__}: {e}")
        finally:
            if kind in HELD and not self.rec["ready"]:
                self.barrier.arrive(False)
            if self.conn is not None:
                self.conn.close()
            if self.ws is not None and kind in LIB_KINDS and self.rec["end"] is None:
                self.ws.transport.abort()


async def amain(args):
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    args.seed_base = seed * 1000003
    rng = random.Random(seed)
    specs = []
    for part in args.mix.split(","):
        kind, _, n = part.partition("=")
        if kind not in HELD + UNHELD:
            sys.exit(f"ws_mix: unknown kind {kind!r}")
        if kind == "notify" and args.proto != "wss":
            sys.exit("ws_mix: notify needs --proto wss")
        specs.extend([kind] * int(n))
    rng.shuffle(specs)
    # one socket per client, plus what the interpreter holds
    nofile = wc.raise_nofile(len(specs) + 1024)
    if nofile < len(specs) + 64:
        sys.exit(f"ws_mix: the open-file limit {nofile} is too low for {len(specs)} sockets "
                 f"(hard limit; raise it with ulimit -Hn as root)")
    # wss: TLS 1.2 and 1.3 alternately
    ctxs = [None, None]
    if args.proto == "wss":
        ctxs = [wc.client_ssl_context(args.certs, v) for v in ("1.2", "1.3")]
    held = sum(1 for k in specs if k in HELD)
    barrier = Barrier(held)
    sem = asyncio.Semaphore(args.connect_concurrency)
    clients = [Client(args, i, k, barrier, sem, ctxs[i % 2]) for i, k in enumerate(specs)]
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(c.run()) for c in clients]
    try:
        await asyncio.wait_for(barrier.all_in.wait(), args.establish_deadline)
    except TimeoutError:
        print(f"ws_mix: only {barrier.arrived} of {held} held clients checked in within "
              f"{args.establish_deadline:g} s", file=sys.stderr)
    t_est = time.monotonic() - t0
    concurrent = barrier.established
    print(f"ws_mix: {concurrent} of {held} held {args.proto} connections up and echoing at once after "
          f"{t_est:.2f} s; releasing them", flush=True)
    barrier.release.set()
    t_rel = time.monotonic()
    end_budget = max(args.idle_timeout, args.ping + args.pong_timeout, args.hold) + 2 * args.timeout
    done, pending = await asyncio.wait(tasks, timeout=end_budget)
    for t in pending:
        t.cancel()
    elapsed = time.monotonic() - t0
    recs = [c.rec for c in clients]
    for c in clients:
        if c.rec["end"] is None and not c.rec["error"]:
            c.fail("still running at the end")
    meta = {"server": args.server, "proto": args.proto, "seed": seed, "count": len(recs), "held": held,
            "concurrent_established": concurrent, "establish_s": t_est, "release_to_end_s": time.monotonic() - t_rel,
            "elapsed_s": elapsed, "hung": len(pending), "idle_timeout": args.idle_timeout,
            "ping": args.ping, "pong_timeout": args.pong_timeout, "nofile": nofile}
    tmp = args.log + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"meta": meta, "conns": recs}, f)
    os.rename(tmp, args.log)
    bad = [r for r in recs if not r["ok"]]
    print(f"ws_mix: {len(recs) - len(bad)}/{len(recs)} clients saw what their kind expects in "
          f"{elapsed:.2f} s (seed {seed}); {len(pending)} still running", flush=True)
    for r in bad[:10]:
        print(f"ws_mix: {r['kind']} #{r['id']} lport {r['lport']}: end {r['end']}, close_recv "
              f"{r['close_recv']}, error {r['error']}", flush=True)
    return 0


def main():
    args = parse_args()
    if args.proto == "wss" and not args.certs:
        sys.exit("ws_mix: --proto wss needs --certs")
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
