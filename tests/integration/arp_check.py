#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""ARP against a 2-shard cee-engine from the test namespace (test_arp.sh).

Steps:
  1. --clients echo connections, held open (on both shards);
  2. --noise broadcast ARP requests from the peer for addresses of the
     subnet that are not the engine's (a busy LAN's chatter);
  3. the peer's interface takes a new MAC address and announces it with one
     gratuitous ARP (a gateway's or a host's failover); its entry for the
     engine is made permanent before the announcement, or its kernel asks
     for the engine again after the change (a request every shard would
     learn from);
  4. at once, each held connection echoes again, within --connect-s
     seconds: its segments must go to the new MAC (the peer's kernel drops
     what is sent to the old one), on both shards; then as many new
     connections echo.

Writes one JSON line: noise, before (echoes ok), held (held connections
that echoed after the change), after (new ones that did), failed (why).
Exit 1 when an echo failed.
"""

import argparse
import json
import socket
import subprocess
import sys

from scapy.all import ARP, Ether, conf, sendp  # noqa: E402

import ctlit  # noqa: E402


def echo_on(s, timeout):
    try:
        s.settimeout(timeout)
        return None if ctlit.echo(s, b"arp check\n") else "echo cut short or changed"
    except OSError as e:
        return f"{type(e).__name__}: {e}"


def echo(server, timeout):
    try:
        s = socket.create_connection(server, timeout=timeout)
    except OSError as e:
        return f"connect: {type(e).__name__}: {e}"
    why = echo_on(s, timeout)
    s.close()
    return why


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True, help="IP:PORT (echo)")
    p.add_argument("--iface", required=True, help="the peer's interface")
    p.add_argument("--peer-ip", required=True)
    p.add_argument("--other-prefix", required=True, help="e.g. 10.77.1. : the noise asks for .200-.249")
    p.add_argument("--new-mac", default="02:ce:e0:00:00:42")
    p.add_argument("--noise", type=int, default=200)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--connect-s", type=float, default=3.0)
    a = p.parse_args()
    ip, port = a.server.rsplit(":", 1)
    server = (ip, int(port))
    conf.verb = 0

    held = [socket.create_connection(server, timeout=5) for _ in range(a.clients)]
    before = sum(echo_on(s, 5) is None for s in held)
    old_mac = open(f"/sys/class/net/{a.iface}/address").read().strip()
    noise = [Ether(src=old_mac, dst="ff:ff:ff:ff:ff:ff") /
             ARP(op=1, hwsrc=old_mac, psrc=a.peer_ip, pdst=f"{a.other_prefix}{200 + i % 50}")
             for i in range(a.noise)]
    sendp(noise, iface=a.iface)

    # the peer's kernel would ask for the engine again once its own address
    # changed (a request for the engine, which every shard learns from):
    # a permanent entry keeps it quiet, so only the announcement tells
    neigh = subprocess.run(["ip", "neigh", "show", ip, "dev", a.iface], check=True,
                           capture_output=True, text=True).stdout.split()
    if "lladdr" not in neigh:
        print(f"arp_check: no neighbour entry for {ip}: {neigh}", flush=True)
        sys.exit(1)
    engine_mac = neigh[neigh.index("lladdr") + 1]
    # (after the change: the kernel flushes its entries, permanent ones too,
    # when the address changes)
    subprocess.run(["ip", "link", "set", "dev", a.iface, "address", a.new_mac], check=True)
    subprocess.run(["ip", "neigh", "replace", ip, "lladdr", engine_mac, "dev", a.iface, "nud", "permanent"],
                   check=True)
    sendp(Ether(src=a.new_mac, dst="ff:ff:ff:ff:ff:ff") /
          ARP(op=1, hwsrc=a.new_mac, psrc=a.peer_ip, hwdst="00:00:00:00:00:00", pdst=a.peer_ip),
          iface=a.iface)
    failed = []
    for i, s in enumerate(held):
        why = echo_on(s, a.connect_s)
        if why is not None:
            failed.append({"held": i, "why": why})
    held_ok = a.clients - len(failed)
    for i in range(a.clients):
        why = echo(server, a.connect_s)
        if why is not None:
            failed.append({"new": i, "why": why})
    for s in held:
        s.close()
    out = {"noise": a.noise, "before": before, "held": held_ok,
           "after": a.clients - (len(failed) - (a.clients - held_ok)), "failed": failed}
    print(json.dumps(out), flush=True)
    sys.exit(0 if before == a.clients and not failed else 1)


if __name__ == "__main__":
    main()
