#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Open N connections to IP:PORT, echo a few bytes on each, keep them all
open until the --stop file appears, then close them (FIN). Writes --ready
when all are established. Used by scripts/bench_hold.sh (a figure, not a test)."""
import argparse, os, resource, socket, time

p = argparse.ArgumentParser()
p.add_argument("--server", required=True)
p.add_argument("--count", type=int, required=True)
p.add_argument("--ready", required=True)
p.add_argument("--stop", required=True)
a = p.parse_args()
host, port = a.server.rsplit(":", 1)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = a.count + 100
if hard != resource.RLIM_INFINITY and want > hard:
    raise SystemExit(f"hold.py: {a.count} sockets exceed the hard open-file limit {hard}")
resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
socks = []
t0 = time.monotonic()
for i in range(a.count):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(b"hi")
    got = b""
    while len(got) < 2:
        got += s.recv(2)
    socks.append(s)
dt = time.monotonic() - t0
with open(a.ready, "w") as f:
    f.write(f"{len(socks)} {dt:.2f}\n")
while not os.path.exists(a.stop):
    time.sleep(0.1)
for s in socks:
    s.close()
