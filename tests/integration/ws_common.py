# SPDX-License-Identifier: BSD-3-Clause
"""Pieces shared by the WebSocket integration clients (ws_mix.py,
ws_upgrades.py): RFC 6455 frames built and parsed by hand, the upgrade
request and the check of its answer, and RawConn, an asyncio connection over
a plain non-blocking socket with an optional TLS layer (ssl.SSLObject over
memory BIOs), so that a client can do on the wire what a WebSocket library
never does: an unmasked frame, invalid UTF-8, a reserved opcode, a TCP FIN
without a Close frame (and over TLS with or without close_notify), an RST,
not answering pings.

Guards against (for the tests that use it): a client that cannot tell how
the engine ended a stream (FIN, close_notify then FIN, RST) or what it sent
before (a Close frame and its code and reason, pings, a masked or reserved
frame from a server), so that a wrong end would go unnoticed.
"""

import asyncio
import base64
import hashlib
import os
import socket
import ssl
import struct

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
SNI = "server.cee.test"


def accept_key(key_b64):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key_b64.encode() + WS_GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One frame; masked with a random key unless @p mask is False. @p length
    overrides the payload length field (to announce more than is sent)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + apply_mask(payload, key)


def apply_mask(payload, key):
    """@p payload XOR the 4-byte @p key repeated (RFC 6455 5.3), as one
    big-integer XOR: fast enough for messages of kilobytes in bulk."""
    n = len(payload)
    mask = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(mask, "little")).to_bytes(n, "little")


def close_payload(code=None, reason=""):
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode()


def parse_close(payload):
    """@return (code or None, reason text) of a Close frame's payload."""
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


def upgrade_request(host, path="/", key=None, version="13", subprotocols=None, origin=None,
                    user_agent=None, method="GET", extra=None):
    """An HTTP/1.1 upgrade request; None drops a header (key=False: no key)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade"]
    if key is not False:
        lines.append(f"Sec-WebSocket-Key: {key or new_key()}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if subprotocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(subprotocols))
    if origin:
        lines.append(f"Origin: {origin}")
    if user_agent:
        lines.append(f"User-Agent: {user_agent}")
    lines.extend(extra or [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_response(head):
    """@return (status, {lowercase name: value}) of an HTTP response head."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return status, headers


def valid_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class ProtocolViolation(Exception):
    """The engine sent something RFC 6455 forbids a server to send."""


class RawConn:
    """One TCP connection (optionally TLS) driven with loop.sock_* calls.

    recv() returns b"" at the end of the stream and sets self.end: "eof"
    (TCP FIN; for TLS a FIN without close_notify), "close_notify" (TLS), or
    raises ConnectionResetError ("rst")."""

    def __init__(self, ssl_ctx=None):
        self.loop = asyncio.get_running_loop()
        self.sock = None
        self.ssl_ctx = ssl_ctx
        self.obj = None
        self.inb = self.outb = None
        self.buf = bytearray()  # bytes received, not yet parsed
        self.end = None
        self.lport = None

    async def connect(self, server):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        try:
            await self.loop.sock_connect(self.sock, server)
        except BaseException:
            self.sock.close()
            raise
        self.lport = self.sock.getsockname()[1]

    async def start_tls(self, server_hostname=SNI):
        self.inb, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = self.ssl_ctx.wrap_bio(self.inb, self.outb, server_hostname=server_hostname)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                data = await self.loop.sock_recv(self.sock, 65536)
                if not data:
                    self.inb.write_eof()
                else:
                    self.inb.write(data)
        await self._flush()

    async def _flush(self):
        data = self.outb.read()
        if data:
            await self.loop.sock_sendall(self.sock, data)

    async def send(self, data):
        if self.obj is None:
            await self.loop.sock_sendall(self.sock, data)
        else:
            self.obj.write(data)
            await self._flush()

    async def recv(self):
        if self.obj is None:
            data = await self.loop.sock_recv(self.sock, 65536)
            if not data:
                self.end = "eof"
            return data
        while True:
            try:
                data = self.obj.read(65536)
                if data:
                    return data
                # CPython: b"" once the peer's close_notify came (and we sent none);
                # SSLZeroReturnError when ours went first
                self.end = "close_notify"
                return b""
            except ssl.SSLWantReadError:
                if self.inb.eof:  # no more bytes will come: a FIN without close_notify
                    self.end = "eof"
                    return b""
            except ssl.SSLZeroReturnError:
                self.end = "close_notify"
                return b""
            except ssl.SSLEOFError:
                self.end = "eof"
                return b""
            except ssl.SSLError as e:
                if getattr(e, "reason", None) == "UNEXPECTED_EOF_WHILE_READING":
                    self.end = "eof"
                    return b""
                raise
            await self._flush()  # e.g. a key update answer
            raw = await self.loop.sock_recv(self.sock, 65536)
            if raw:
                self.inb.write(raw)
            else:
                self.inb.write_eof()

    async def fill(self, n):
        """Receive until self.buf holds @p n bytes. @return False at the end."""
        while len(self.buf) < n:
            data = await self.recv()
            if not data:
                return False
            self.buf += data
        return True

    async def read_head(self, limit=65536):
        """The HTTP response head (up to and with CRLFCRLF), or what came before the end."""
        while b"\r\n\r\n" not in self.buf and len(self.buf) < limit:
            data = await self.recv()
            if not data:
                break
            self.buf += data
        i = self.buf.find(b"\r\n\r\n")
        if i < 0:
            head = bytes(self.buf)
            self.buf.clear()
            return head
        head = bytes(self.buf[:i + 4])
        del self.buf[:i + 4]
        return head

    async def read_frame(self):
        """@return (fin, opcode, payload), or None at the end of the stream.
        A masked server frame or reserved bits raise ProtocolViolation."""
        if not await self.fill(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            if not await self.fill(4):
                return None
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            if not await self.fill(10):
                return None
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if b1 & 0x80:
            raise ProtocolViolation("the server sent a masked frame")
        if b0 & 0x70:
            raise ProtocolViolation(f"the server set reserved bits 0x{b0 & 0x70:02x}")
        if not await self.fill(off + n):
            return None
        payload = bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    async def close_notify(self):
        """TLS: send close_notify (nothing else)."""
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        await self._flush()

    def shutdown_write(self):
        """A TCP FIN (no Close frame, no close_notify)."""
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self):
        """Close with SO_LINGER {1, 0}: an RST."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self):
        if self.sock is not None and self.sock.fileno() >= 0:
            self.sock.close()


def client_ssl_context(certs, version=None):
    """Trusts tests/certs/ca.pem, checks server.cee.test, only TLS @p version
    ("1.2", "1.3") when given; a FIN without close_notify raises instead of
    reading like close_notify."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if version is not None:
        v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[version]
        ctx.minimum_version = ctx.maximum_version = v
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    ctx.load_verify_locations(os.path.join(certs, "ca.pem"))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def raise_nofile(n):
    """Raise this process's open-file limit to at least @p n (root may raise
    the hard limit too). @return the new soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return soft
    if hard != resource.RLIM_INFINITY and hard < n:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            return n
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return n
