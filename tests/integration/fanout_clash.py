#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Start a command after taking the AF_PACKET fanout group id that DPDK
22.11's net_af_packet will draw in it for IFACE: (pid ^ ifindex) & 0xffff,
with the PMD's mode and flags, on another interface (OTHER) of this network
namespace, as another process's port would hold it. Prints the command's
exit status.

Usage: fanout_clash.py IFACE OTHER COMMAND [ARGS...]
The command is forked first and waits on a pipe until the group is made:
its pid is known before it runs."""
import os
import socket
import struct
import sys

SOL_PACKET = 263
PACKET_FANOUT = 18
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_ROLLOVER = 0x1000
PACKET_FANOUT_FLAG_DEFRAG = 0x8000
ETH_P_ALL = 0x0003


def main():
    iface, other, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        if os.read(r, 1) != b"x":  # the parent failed: not without the group
            os._exit(127)
        os.execv(cmd[0], cmd)
    os.close(r)
    group = (pid ^ socket.if_nametoindex(iface)) & 0xFFFF
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.bind((other, ETH_P_ALL))
    flags = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG | PACKET_FANOUT_FLAG_ROLLOVER
    s.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("I", group | flags << 16))
    print(f"fanout_clash: group {group} held on {other} for pid {pid} on {iface}",
          file=sys.stderr, flush=True)
    os.write(w, b"x")
    _, status = os.waitpid(pid, 0)
    s.close()
    print(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
