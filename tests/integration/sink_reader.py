#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""An event consumer on a Unix stream socket, for test_sink_stall.sh.

Listens on --unix PATH (unlinking a stale one), accepts the engine's
jsonl:unix: sink, and appends everything it reads to --out. It is stopped
and resumed by the test with SIGSTOP/SIGCONT (a reader that stalls) and
killed with SIGKILL (a reader that goes away), then started again on the
same path. Writes --ready once listening. Accepts again after an EOF.
"""

import argparse
import os
import socket


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--unix", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--rcvbuf", type=int, default=0)
    p.add_argument("--eof", help="a line is appended here at each end of stream")
    args = p.parse_args()
    try:
        os.unlink(args.unix)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(args.unix)
    ls.listen(4)
    with open(args.ready, "w") as f:
        f.write("ready\n")
    with open(args.out, "ab", buffering=0) as out:
        while True:
            s, _ = ls.accept()
            if args.rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out.write(b)
            s.close()
            if args.eof:
                with open(args.eof, "a") as f:
                    f.write("eof\n")


if __name__ == "__main__":
    main()
