#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A ClientHello sent with the client's FIN, while the engine's handshake
budget is spent (test_tls.sh openssl, an engine with --tls-budget-us 1):
QUEUED (150) connections each send a ClientHello (the engine defers all but one
per poll iteration, and each iteration's staged handshake spends the budget
before the frames are read), then one more sends its ClientHello and its FIN
in one segment (TCP_CORK). The handshake can never complete (no Finished can
follow the FIN): the engine must not run it past the budget. It used to,
at once (a FIN runs staged and new bytes first, for the close's cause):
its answer, the server's first flight, came back before its FIN.

Then (--iface, --src) the same queue, and a ClientHello followed by an RST
at a wrong sequence number (spoofed through an AF_PACKET socket, as a blind
attacker's or a stale one): TCP rejects that RST, so it must not decide the
handshake either: the client's handshake must complete. (A first version of
the rule dropped the staged ClientHello for it: TCP had acknowledged the
hello, nothing answered it, and the handshake timed out.)

Last, the same queue and a ClientHello padded past a staging buffer (4 KiB):
its handshake must complete (the engine leaves what it cannot stage to the
client's retransmission; test_tls.sh checks the counters).

Prints one JSON line; exit 1 when the engine answered the FIN'd hello, the
handshake behind the rejected RST failed, or the padded one did not echo.
"""

import argparse
import json
import os
import select
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def client():
    """A TLS client in memory, its ClientHello written: (obj, incoming, outgoing)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="server.cee.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return obj, inc, out


def client_hello():
    return client()[2].read()


def handshake_behind_bad_rst(a, addr, out):
    """The queue, then a ClientHello and a spoofed RST at a wrong sequence
    number on its 4-tuple; @return True when the handshake completed."""
    from bad_input import RST
    from half_open import HalfOpener
    queued = [socket.create_connection(addr, timeout=10) for _ in range(a.queued)]
    s = socket.create_connection(addr, timeout=10)
    lport = s.getsockname()[1]
    # ready before the queue starts: the RST must come while the hello waits
    h = HalfOpener(a.iface, a.src, addr[0], addr[1])
    for q in queued:
        q.sendall(client_hello())
    obj, inc, outb = client()
    s.sendall(outb.read())
    h._send(lport, 0x5a5a5a5a, 0, RST)  # not RCV.NXT: TCP must reject it
    done = False
    deadline = time.monotonic() + 8
    while not done and time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            d = s.recv(65536)
            if not d:
                break
            inc.write(d)
        try:
            obj.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as e:
            out["bad_rst_error"] = str(e)
            break
        pending = outb.read()
        if pending:
            s.sendall(pending)
    pending = outb.read()
    if pending:
        s.sendall(pending)
    out["bad_rst_handshake"] = done
    s.close()
    for q in queued:
        q.close()
    return done


def hello_fin_on_handshake_ack(a, addr, out):
    """The queue, then a ClientHello and a FIN on the ACK that completes
    TCP's handshake (a spoofed address of the subnet, through AF_PACKET):
    the layers start inside that segment, after the FIN rule was asked.
    @return the engine's payload bytes on that tuple (its server flight).

    Guards against (session 18 review): the staged hello then ran when the
    connection closed, past the budget, for a handshake that could not be
    answered; its answer failed on the closed connection, which ended the
    handshake as no_resources and so reported no tls_truncated (the test
    checks the event; stats count tls_unanswered)."""
    from bad_input import ACK, FIN, PSH, SYN, parse
    from half_open import HalfOpener
    spoof = ".".join(a.src.split(".")[:3] + ["200"])
    queued = [socket.create_connection(addr, timeout=10) for _ in range(a.queued)]
    h = HalfOpener(a.iface, spoof, addr[0], addr[1])
    # the hellos made first, then sent back to back (made one by one
    # between the sends, a key pair each, they came slower than the
    # engine answered them: no queue built), the frame right after them
    hellos = [client_hello() for _ in range(len(queued) + 1)]
    hello = hellos.pop()
    sport, iss = 45001, 0x10000000
    h._send(sport, iss, 0, SYN)
    srv = []
    deadline = time.monotonic() + 3
    while not srv and time.monotonic() < deadline:
        srv = [seq for dport, seq in h._synacks(0.05) if dport == sport]
    if not srv:
        out["hello_fin_ack"] = "no SYN-ACK"
        return -1
    for q, m in zip(queued, hellos):
        q.sendall(m)
    h._send(sport, iss + 1, srv[0] + 1, ACK | PSH | FIN, payload=hello)
    got, fin_seen = 0, False
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not fin_seen:
        r, _, _ = select.select([h.s], [], [], 0.2)
        if not r:
            continue
        p = parse(h.s.recvfrom(65535)[0])
        if p is None or p["dst"] != spoof or p["dport"] != sport or p["sport"] != addr[1]:
            continue
        got += p["len"]
        if p["flags"] & FIN:  # the engine's FIN: acknowledged, the tuple ends
            fin_seen = True
            h._send(sport, (iss + 2 + len(hello)) & 0xFFFFFFFF, (p["seq"] + p["len"] + 1)
                    & 0xFFFFFFFF, ACK)
    for q in queued:
        q.close()
    out["hello_fin_ack"] = {"spoof": f"{spoof}:{sport}", "answer_bytes": got, "fin": fin_seen}
    return got


def padded_hello(a, addr, out):
    """The queue, then a client whose ClientHello is padded past the 4 KiB
    a staging buffer holds (a long ALPN list, RFC 7685 padding's effect):
    its handshake must complete and echo. @return True when it did.

    Guards against (session 20): an input that found no staging room ran at
    once, past the budget (tls_over_budget), so a client bought unbounded
    handshake work per poll iteration by padding its hello; now TCP does not
    take the segment (tls_held_back) and the client sends it again
    (test_tls.sh checks both counters)."""
    queued = [socket.create_connection(addr, timeout=10) for _ in range(a.queued)]
    hellos = [client_hello() for _ in range(len(queued))]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([f"x{i:02d}" + "p" * 250 for i in range(24)])  # 6 KiB
    inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outb, server_hostname="server.cee.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outb.read()
    out["padded_hello_bytes"] = len(hello)
    s = socket.create_connection(addr, timeout=10)
    for q, m in zip(queued, hellos):
        q.sendall(m)
    s.sendall(hello)
    done, echoed = False, b""
    t0 = time.monotonic()
    deadline = t0 + 10
    while time.monotonic() < deadline and len(echoed) < 4:
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            d = s.recv(65536)
            if not d:
                break
            inc.write(d)
        try:
            if not done:
                obj.do_handshake()
                done = True
                out["padded_handshake_s"] = round(time.monotonic() - t0, 3)
                obj.write(b"ping")
            else:
                echoed += obj.read(4 - len(echoed))
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as e:
            out["padded_error"] = str(e)
            break
        pending = outb.read()
        if pending:
            s.sendall(pending)
    out["padded_echo"] = echoed.decode(errors="replace")
    s.close()
    for q in queued:
        q.close()
    return len(hello) > 4096 and echoed == b"ping"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True, help="IP:PORT of a tls: listener")
    ap.add_argument("--queued", type=int, default=150)
    ap.add_argument("--iface", help="the namespace's interface (the spoofed RST)")
    ap.add_argument("--src", help="the namespace's address")
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    addr = (host, int(port))

    queued = [socket.create_connection(addr, timeout=10) for _ in range(a.queued)]
    fin = socket.create_connection(addr, timeout=10)
    hellos = [client_hello() for _ in range(a.queued + 1)]
    for s, h in zip(queued, hellos):
        s.sendall(h)
    fin.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    fin.sendall(hellos[-1])
    fin.shutdown(socket.SHUT_WR)  # the FIN rides on the corked segment
    fin.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    got = b""
    try:
        while True:
            d = fin.recv(65536)
            if not d:
                break
            got += d
    except (ConnectionResetError, socket.timeout):
        pass
    fin.close()
    # the queued ones were answered (their server flights), then go
    answered = 0
    for s in queued:
        try:
            answered += len(s.recv(65536)) > 0
        except OSError:  # (socket.timeout too)
            pass
        s.close()
    out = {"fin_hello_answer_bytes": len(got), "queued_answered": answered}
    ok_rst, hello_ack = True, 0
    if a.iface:
        ok_rst = handshake_behind_bad_rst(a, addr, out)
        hello_ack = hello_fin_on_handshake_ack(a, addr, out)
    ok_padded = padded_hello(a, addr, out)
    print(json.dumps(out))
    if not ok_padded:
        print("tls_fin_hello: FAIL: the padded ClientHello's handshake did not complete and echo",
              file=sys.stderr)
        sys.exit(1)
    if hello_ack != 0:
        print("tls_fin_hello: FAIL: the hello and FIN on the handshake's ACK: "
              f"{out['hello_fin_ack']}", file=sys.stderr)
        sys.exit(1)
    if not ok_rst:
        print("tls_fin_hello: FAIL: a rejected RST (wrong sequence number) ended the handshake "
              "behind it", file=sys.stderr)
        sys.exit(1)
    if got:
        print(f"tls_fin_hello: FAIL: the engine answered a ClientHello that came with the "
              f"client's FIN over budget ({len(got)} bytes)", file=sys.stderr)
        sys.exit(1)
    if answered == 0:
        print("tls_fin_hello: FAIL: no queued handshake was answered (the check cannot fail)",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
