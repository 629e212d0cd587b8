#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Churn for the control-plane tests, run inside the test namespace: Linux
TCP clients that keep opening connections to the engine's echo port, echo a
few bytes, hold them a random while (0..--hold-max s) and close them with FIN
or RST, until the --stop file appears. Also keeps --idle connections open and
idle throughout (connections that stay live across many snapshots).
Writes --ready (JSON) once the idle connections are up and --warm
connections have completed; at the end prints a summary. With --raw-iface
and --raw-src-ip, also half-open connections from that address
(half_open.py): completed (announced late) or abandoned.

Exit 1 when a connection failed (an error, an echo that differs from what
was sent), or an idle connection did not echo once more at the end: the
snapshots must not cost live connections anything.
"""

import argparse
import json
import os
import random
import resource
import socket
import struct
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--server", required=True, help="IP:PORT of the echo listener")
    p.add_argument("--workers", type=int, default=24)
    p.add_argument("--idle", type=int, default=20)
    p.add_argument("--warm", type=int, default=100)
    p.add_argument("--hold-max", type=float, default=0.3)
    p.add_argument("--ready", required=True)
    p.add_argument("--stop", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--raw-iface", help="also make half-open connections through this interface")
    p.add_argument("--raw-src-ip", help="... from this address, which no host holds")
    return p.parse_args()


def main():
    a = parse_args()
    host, port = a.server.rsplit(":", 1)
    port = int(port)
    lock = threading.Lock()
    done = {"n": 0, "fin": 0, "rst": 0, "errors": 0, "bad_echo": 0}
    stop = threading.Event()

    # Idle connections: in child processes of at most PER sockets each (the
    # open-file limit may be 20000 and not raisable).
    PER = 15000
    children = []
    idle = []
    left = a.idle
    while left > 0:
        n = min(left, PER)
        left -= n
        r, w = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 0
            try:
                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                if soft != resource.RLIM_INFINITY and soft < n + 100:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (min(n + 100, hard), hard))
                socks = []
                for _ in range(n):
                    s = socket.create_connection((host, port), timeout=10)
                    s.sendall(b"idle")
                    got = b""
                    while len(got) < 4:
                        got += s.recv(4 - len(got))
                    socks.append(s)
                os.write(w, b"1")
                # Until the stop file, or the parent is gone (test killed).
                while not os.path.exists(a.stop) and os.getppid() == parent:
                    time.sleep(0.1)
                # still live and served after every snapshot: one more echo
                for s in socks:
                    s.sendall(b"again")
                for s in socks:
                    got = b""
                    while len(got) < 5:
                        chunk = s.recv(5 - len(got))
                        if not chunk:
                            break
                        got += chunk
                    if got != b"again":
                        print(f"ctl_churn: idle holder: echo at the end {got!r}", file=sys.stderr, flush=True)
                        code = 1
                for s in socks:
                    s.close()
            except OSError as e:
                print(f"ctl_churn: idle holder: {e}", file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        os.close(w)
        children.append((pid, r, n))
    for pid, r, n in children:
        if os.read(r, 1) != b"1":
            print("ctl_churn: an idle holder failed", file=sys.stderr)
            return 1
        os.close(r)
        idle.append(n)

    def worker(k):
        rnd = random.Random(a.seed * 1000 + k)
        while not stop.is_set():
            try:
                s = socket.create_connection((host, port), timeout=10)
                payload = os.urandom(rnd.randint(1, 2000))
                s.sendall(payload)
                got = b""
                while len(got) < len(payload):
                    chunk = s.recv(len(payload) - len(got))
                    if not chunk:
                        break
                    got += chunk
                if got != payload:
                    with lock:
                        done["bad_echo"] += 1
                time.sleep(rnd.random() * a.hold_max)
                if rnd.random() < 0.3:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    kind = "rst"
                else:
                    kind = "fin"
                s.close()
                with lock:
                    done["n"] += 1
                    done[kind] += 1
            except OSError:
                with lock:
                    done["errors"] += 1
                time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(a.workers)]
    opener = None
    if a.raw_iface:
        from half_open import HalfOpener
        opener = HalfOpener(a.raw_iface, a.raw_src_ip, host, port, seed=a.seed)
        threads.append(threading.Thread(target=opener.run, args=(stop, a.hold_max), daemon=True))
    for t in threads:
        t.start()
    while True:
        with lock:
            if done["n"] >= a.warm:
                break
        time.sleep(0.02)
    with open(a.ready + ".tmp", "w") as f:
        json.dump({"idle": sum(idle)}, f)
    os.rename(a.ready + ".tmp", a.ready)
    while not os.path.exists(a.stop):
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    holders_failed = 0
    for pid, _, _ in children:
        _, status = os.waitpid(pid, 0)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            holders_failed += 1
    print(f"ctl_churn: {done['n']} connections ({done['fin']} FIN, {done['rst']} RST), "
          f"{done['errors']} errors, {done['bad_echo']} wrong echoes, {sum(idle)} idle held, "
          f"{holders_failed} idle holders failed", flush=True)
    if opener is not None:
        print("ctl_churn: half-open " + " ".join(f"{k}={v}" for k, v in opener.stats.items()), flush=True)
    return 1 if done["errors"] or done["bad_echo"] or holders_failed else 0


if __name__ == "__main__":
    sys.exit(main())
