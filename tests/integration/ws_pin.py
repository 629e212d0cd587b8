#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Reassembly-buffer pinning against cee-engine's ws: echo listener
(test_ws.sh upgrades, phase 3).

Guards against: peers that begin a message and stop holding every one of a
shard's few reassembly buffers until --ws-message-timeout, so that every
other connection's message split across segments got Close 1013 meanwhile
(session 18's note). The engine now takes the buffer held longest back
(held 1 s or more): that pinner gets Close 1013, and the newcomer's message
is echoed. Over wss (--certs), also: that Close 1013 (a no_resources end)
left without a close_notify after it, a truncation to a TLS client.

Steps:
  1. pinners, one after another: upgrade, then a text frame announcing
     --announce bytes with only 10 of them sent; until one of them gets a
     Close (the pool ran out: a newcomer refused, or after 1 s an older
     pinner's buffer taken back), at most --max-pinners;
  2. 1.5 s of quiet, so that every buffer held is older than 1 s;
  3. --legit clients, one at a time: upgrade, a 64-byte text message sent
     in two segments 150 ms apart (the engine buffers the first half),
     which must come back whole; then Close 1000 and the engine's Close;
  4. every pinner's Close so far is read (code 1013); over wss each of
     those pinners then reads on to the end of the stream, which must be a
     close_notify (then EOF), not a bare FIN; then all are reset.

Writes --log (JSON): pinners, pinners_closed (by code), legit_ok,
legit_failed (with why), ends (wss: how each closed pinner's stream
ended: notify, ragged, rst, timeout); exits 1 when a legit client failed or no pinner
filled the pool.
"""

import argparse
import json
import os
import select
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ws_common import SNI, client_ssl_context, OP_CLOSE, OP_TEXT, close_payload, frame, parse_close, parse_response, raise_nofile, upgrade_request  # noqa: E402


TLS = None  # the client context over wss


def readable(sock, timeout):
    """Bytes to read: decrypted ones already held (TLS), or on the socket."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending() > 0:
        return True
    r, _, _ = select.select([sock], [], [], timeout)
    return bool(r)


def read_until(sock, end, limit, timeout):
    buf = b""
    deadline = time.monotonic() + timeout
    while end not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or len(buf) > limit:
            raise TimeoutError(f"no {end!r} within {timeout} s (got {buf[:80]!r})")
        if readable(sock, left):
            b = sock.recv(65536)
            if not b:
                raise ConnectionError(f"EOF before {end!r} (got {buf[:80]!r})")
            buf += b
    return buf


def upgrade(addr, path):
    s = socket.create_connection(addr, timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if TLS is not None:
        s = TLS.wrap_socket(s, server_hostname=SNI, suppress_ragged_eofs=False)
    s.sendall(upgrade_request(f"{addr[0]}:{addr[1]}", path))
    buf = read_until(s, b"\r\n\r\n", 16384, 5)
    head, _, rest = buf.partition(b"\r\n\r\n")
    status, _ = parse_response(head)
    if status != 101:
        raise RuntimeError(f"upgrade answered {status}")
    return s, rest


def next_frame(buf):
    """@return (opcode, payload, rest) of a server frame at the start of
    @p buf, or None when it is not whole yet."""
    if len(buf) < 2:
        return None
    n, h = buf[1] & 0x7F, 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, h = struct.unpack("!H", buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, h = struct.unpack("!Q", buf[2:10])[0], 10
    if len(buf) < h + n:
        return None
    return buf[0] & 0x0F, buf[h:h + n], buf[h + n:]


def read_frame(sock, buf, timeout):
    deadline = time.monotonic() + timeout
    while True:
        f = next_frame(buf)
        if f is not None:
            return f
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no frame")
        if readable(sock, left):
            b = sock.recv(65536)
            if not b:
                raise ConnectionError("EOF before a frame")
            buf += b


def close_code_waiting(sock):
    """A pinner's Close code if one came (None: nothing yet)."""
    if not readable(sock, 0):
        return None
    try:
        b = sock.recv(65536)
    except (OSError, ssl.SSLError):
        return -1
    f = next_frame(b)
    if f is None or f[0] != OP_CLOSE:
        return -1
    code, _ = parse_close(f[1])
    return code if code is not None else 0


def collect(pinners, closed, quiet=0.3):
    """Read the Close each pinner got, until none comes for @p quiet s
    (select on every open pinner: the engine's last answers may still be on
    their way)."""
    while True:
        open_ = [q for i, q in enumerate(pinners) if i not in closed]
        ready = [q for q in open_ if isinstance(q, ssl.SSLSocket) and q.pending() > 0]
        if not ready and open_:
            ready, _, _ = select.select(open_, [], [], quiet)
        if not ready:
            return
        for q in ready:
            c = close_code_waiting(q)
            if c is not None:
                closed[pinners.index(q)] = c


def stream_end(sock, timeout=3):
    """How a stream ends after the Close that was read: close_notify then
    EOF ("notify"), a FIN without it ("ragged"), an RST, or nothing."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if readable(sock, left):
                if not sock.recv(65536):
                    return "notify" if isinstance(sock, ssl.SSLSocket) else "eof"
    except ssl.SSLEOFError:
        return "ragged"
    except ConnectionResetError:
        return "rst"
    except (OSError, ssl.SSLError) as e:
        if "UNEXPECTED_EOF" in str(e):  # (OpenSSL 3 raises this, not SSLEOFError)
            return "ragged"
        return f"error {type(e).__name__}: {e}"


def legit(addr, path, idx):
    s, rest = upgrade(addr, path)
    try:
        msg = (f"legit {idx} " * 16).encode()[:64]
        w = frame(OP_TEXT, msg)
        s.sendall(w[:len(w) // 2])
        time.sleep(0.15)
        s.sendall(w[len(w) // 2:])
        op, payload, rest = read_frame(s, rest, 5)
        if op == OP_CLOSE:
            code, reason = parse_close(payload)
            return f"Close {code} {reason!r} instead of the echo"
        if op != OP_TEXT or payload != msg:
            return f"echo opcode {op} payload {payload[:20]!r}"
        s.sendall(frame(OP_CLOSE, close_payload(1000)))
        op, payload, rest = read_frame(s, rest, 5)
        if op != OP_CLOSE:
            return f"opcode {op} instead of the Close"
        return None
    finally:
        s.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True, help="IP:PORT")
    p.add_argument("--path", default="/")
    p.add_argument("--max-pinners", type=int, default=3000)
    p.add_argument("--announce", type=int, default=1000)
    p.add_argument("--legit", type=int, default=10)
    p.add_argument("--certs", help="wss: tests/certs (trusts its ca.pem)")
    p.add_argument("--log", required=True)
    a = p.parse_args()
    global TLS
    if a.certs:
        TLS = client_ssl_context(a.certs)
    ip, port = a.server.rsplit(":", 1)
    addr = (ip, int(port))
    raise_nofile(a.max_pinners + 64)

    pinners, closed = [], {}
    filled = False
    head = 2 + (0 if a.announce < 126 else 2 if a.announce < 65536 else 8) + 4  # with the mask
    part = frame(OP_TEXT, b"x" * a.announce)[:head + 10]
    while len(pinners) < a.max_pinners and not filled:
        s, _ = upgrade(addr, a.path)
        s.sendall(part)
        pinners.append(s)
        time.sleep(0.005)
        for i, q in enumerate(pinners):
            if i in closed:
                continue
            c = close_code_waiting(q)
            if c is not None:
                closed[i] = c
                filled = True
    collect(pinners, closed)
    print(f"ws_pin: {len(pinners)} pinners, {len(closed)} closed before the legit clients "
          f"(pool {'full' if filled else 'never full'})", flush=True)
    before = len(closed)
    time.sleep(1.5)

    failed = []
    ok = 0
    for i in range(a.legit):
        try:
            why = legit(addr, a.path, i)
        except (OSError, ssl.SSLError, RuntimeError, TimeoutError) as e:
            why = f"{type(e).__name__}: {e}"
        if why is None:
            ok += 1
        else:
            failed.append({"client": i, "why": why})
    collect(pinners, closed)
    ends = {}
    if TLS is not None:
        for i, c in closed.items():
            if c == 1013:
                e = stream_end(pinners[i])
                ends[e] = ends.get(e, 0) + 1
    for q in pinners:
        try:
            q.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            q.close()
        except OSError:
            pass
    codes = {}
    for c in closed.values():
        codes[str(c)] = codes.get(str(c), 0) + 1
    out = {"pinners": len(pinners), "filled": filled, "closed_before_legit": before,
           "pinners_closed": codes, "closed_during_legit": len(closed) - before,
           "legit_ok": ok, "legit_failed": failed, "ends": ends}
    with open(a.log, "w") as f:
        json.dump(out, f)
    print("ws_pin: " + json.dumps(out), flush=True)
    bad_ends = {k: v for k, v in ends.items() if k != "notify"}
    if bad_ends:
        print(f"ws_pin: over wss a Close 1013 was not followed by close_notify: {bad_ends}", flush=True)
    if failed or not filled or bad_ends:
        sys.exit(1)


if __name__ == "__main__":
    main()
