#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A connection whose handshake completes during --shutdown-grace
(test_shutdown_grace.sh phase "late"), played frame by frame on an AF_PACKET
socket from an address of the namespace's subnet that no host holds (the
kernel drops what the engine sends it: no RST from it).

  1. SYN; the engine's SYN-ACK: the connection is half open;
  2. writes --ready-file, waits for --go-file (the test writes it once the
     engine said it is closing its connections: its first walk is over,
     and skipped this one, half open then);
  3. the ACK: the handshake completes, the connection is announced;
  4. expects the engine's FIN (it was never closed: it held the grace to
     its end, and was reset then), answers it with ACK and FIN, and
     writes --result: "fin" or what came instead.

Guards against: a connection whose handshake completes during the grace
left open (served, never closed), holding the shutdown to the grace's end.
"""

import argparse
import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bad_input import ACK, FIN, RST, SYN, parse  # noqa: E402
from half_open import HalfOpener, resolve_engine  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iface", required=True)
    p.add_argument("--src-ip", required=True, help="an address of the subnet no host holds")
    p.add_argument("--engine-ip", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ready-file", required=True)
    p.add_argument("--go-file", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    if not resolve_engine(a.engine_ip):
        sys.exit("grace_late: the engine's MAC never resolved")
    h = HalfOpener(a.iface, a.src_ip, a.engine_ip, a.port)
    sport, iss = 45123, 0x10203040
    h._send(sport, iss, 0, SYN)
    got = [s for s in h._synacks(5.0) if s[0] == sport]
    if not got:
        sys.exit("grace_late: no SYN-ACK")
    srv = got[0][1]
    with open(a.ready_file, "w") as f:
        f.write("half open\n")
    deadline = time.monotonic() + a.timeout
    while not os.path.exists(a.go_file):
        if time.monotonic() > deadline:
            sys.exit("grace_late: no go file")
        time.sleep(0.01)
    h._send(sport, iss + 1, srv + 1, ACK)
    result = "nothing"
    while time.monotonic() < deadline:
        r, _, _ = select.select([h.s], [], [], 0.5)
        if not r:
            continue
        fr = parse(h.s.recv(65535))
        if fr is None or fr["dst"] != a.src_ip or fr["dport"] != sport:
            continue
        if fr["flags"] & RST:
            result = "rst"
            break
        if fr["flags"] & FIN:
            # its FIN: ours back, acknowledging it
            h._send(sport, iss + 1, (fr["seq"] + fr["len"] + 1) & 0xFFFFFFFF, ACK | FIN)
            result = "fin"
            break
    with open(a.result, "w") as f:
        f.write(result + "\n")
    print(f"grace_late: the engine ended the late connection with: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
