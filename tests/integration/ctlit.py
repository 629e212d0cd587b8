# SPDX-License-Identifier: BSD-3-Clause
"""Shared pieces of the control-plane integration drivers (ctl_*.py): running
cee-ctl and dpdk-telemetry.py, tailing the engine's JSON Lines event file,
waiting on conditions with deadlines (never a bare sleep standing in for
synchronisation), and Linux client sockets.
"""

import errno
import json
import os
import socket
import struct
import subprocess
import sys
import time

ID_SHARD_SHIFT = 56


def conn_shard(conn_hex):
    return int(conn_hex, 16) >> ID_SHARD_SHIFT


class Failed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_until(secs, what, fn, interval=0.02):
    """Poll fn() until it returns a true value (returned) or secs pass (Failed)."""
    deadline = time.monotonic() + secs
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Failed(f"timed out after {secs}s waiting for: {what}")
        time.sleep(interval)


class Ctl:
    """cee-ctl against one engine (by EAL file prefix)."""

    def __init__(self, path, prefix):
        self.path = path
        self.prefix = prefix

    def run(self, *args, json_out=True, timeout=30):
        cmd = [self.path, "--file-prefix", self.prefix] + (["--json"] if json_out else []) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def query(self, *args):
        """Run with --json and expect success. @return the parsed reply."""
        rc, out, err = self.run(*args)
        check(rc == 0, f"cee-ctl {' '.join(args)}: exit {rc}, stderr: {err.strip()}")
        try:
            return json.loads(out)
        except ValueError as e:
            raise Failed(f"cee-ctl {' '.join(args)}: reply is not JSON ({e}): {out[:300]}")


def telemetry(prefix, commands, timeout=30):
    """Run Debian's dpdk-telemetry.py with @p commands on stdin.
    @return one parsed reply per command."""
    # under this interpreter (its "#!/usr/bin/env python3" may find another)
    p = subprocess.run([sys.executable, "/usr/bin/dpdk-telemetry.py", "-f", prefix],
                       input="\n".join(commands) + "\n",
                       capture_output=True, text=True, timeout=timeout)
    check(p.returncode == 0, f"dpdk-telemetry.py exit {p.returncode}: {p.stderr.strip()}")
    replies = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            replies.append(json.loads(line))
    check(len(replies) == len(commands),
          f"dpdk-telemetry.py: {len(replies)} replies to {len(commands)} commands: {p.stdout[:500]}")
    return replies


class EventTail:
    """Incremental reader of the engine's JSON Lines event file."""

    def __init__(self, path):
        self.path = path
        self.off = 0
        self.partial = b""
        self.events = []
        self.max_sseq = {}      # shard -> highest sseq read
        self.by_conn = {}       # conn -> [events]

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return 0
        self.off += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            ev = json.loads(line)
            self.events.append(ev)
            sh = ev["shard"]
            # v2: a line with extension records covers sseq [xseq .. sseq].
            check(ev.get("xseq", ev["sseq"]) == self.max_sseq.get(sh, 0) + 1,
                  f"shard {sh}: sseq {ev['sseq']} after {self.max_sseq.get(sh, 0)} (gap or duplicate)")
            self.max_sseq[sh] = ev["sseq"]
            self.by_conn.setdefault(ev["conn"], []).append(ev)
        return len(lines)

    def reached(self, cuts):
        """True once every shard's stream has reached its cut sseq."""
        self.poll()
        return all(self.max_sseq.get(sh, 0) >= sseq for sh, sseq in cuts.items())

    def live_at(self, shard, cut):
        """Connections of @p shard with an open at or before @p cut and no destroyed at or before it."""
        live = set()
        for ev in self.events:
            if ev["shard"] != shard or ev["sseq"] > cut:
                continue
            if ev["type"] == "open":
                live.add(ev["conn"])
            elif ev["type"] == "destroyed":
                live.discard(ev["conn"])
        return live

    def find(self, pred):
        self.poll()
        return [e for e in self.events if pred(e)]

    def wait_event(self, secs, what, pred):
        return wait_until(secs, what, lambda: self.find(pred))[0]

    def types(self, conn):
        self.poll()
        return [e["type"] for e in self.by_conn.get(conn, [])]


def connect(server, port, src=None, timeout=10):
    """A client socket (optionally from a fixed (ip, port)), connected."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(timeout)
    if src is not None:
        s.bind(src)
    s.connect((server, port))
    return s


def echo(s, payload=b"ping"):
    """Send payload and read the echo. @return True when it came back intact."""
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(len(payload) - len(got))
        if not chunk:
            return False
        got += chunk
    return got == payload


def close_rst(s):
    """Close with RST (SO_LINGER {1, 0}): no TIME_WAIT, the 4-tuple is free at once."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def sees_reset(s, secs=10):
    """Wait (deadline) until the peer reset @p s. @return True on ECONNRESET/EPIPE."""
    s.settimeout(secs)
    try:
        s.recv(1)
        return False  # data or EOF (FIN): not a reset
    except ConnectionResetError:
        return True
    except OSError as e:
        return e.errno in (errno.ECONNRESET, errno.EPIPE)


def local_port(s):
    return s.getsockname()[1]


def conn_of_port(tail, peer_ip, port):
    """The open event whose remote is peer_ip:port, the latest one (by stream order)."""
    want = f"{peer_ip}:{port}"
    opens = [e for e in tail.events if e["type"] == "open" and e["remote"] == want]
    return opens[-1] if opens else None


def env_path(name):
    v = os.environ.get(name)
    check(v, f"{name} not set")
    return v
