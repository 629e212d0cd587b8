#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A few JetStream API requests over the NATS text protocol, for test_nats.sh
(there is no `nats` CLI here). Prints the server's JSON answer.

  nats_js.py HOST:PORT ready              exit 0 once $JS.API.INFO answers
                                          without error (JetStream up, and in
                                          a cluster a metadata leader elected)
  nats_js.py HOST:PORT info STREAM        $JS.API.STREAM.INFO.STREAM
  nats_js.py HOST:PORT leader STREAM      the stream's leader (server name)
  nats_js.py HOST:PORT stepdown STREAM    ask the stream's leader to step down
  nats_js.py HOST:PORT delete STREAM      delete the stream
  nats_js.py HOST:PORT create STREAM SUBJECT MAX_MSG_SIZE
                                          a file stream as an operator might
                                          make it, its messages at most
                                          MAX_MSG_SIZE bytes
  nats_js.py HOST:PORT whole STREAM       exit 0 when the stream's state is
                                          whole (first_seq 1, messages =
                                          last_seq), 3 when it shows
                                          nats-server's recovery fault below
Exit 1 when the request fails or is answered with an error.

nats-server before 2.9.17 (Debian 12 has 2.9.10) can recover a stream that
was SIGKILLed just after it began a new message block with too high a
first sequence (filestore.go recoverMsgs: an empty block read as sequence 0,
blocks taken in name order; fixed upstream by 3602ff514). The messages below
it stay on disk and counted, but no consumer is given them: acknowledged
batches look lost. Its mark, on a fresh stream with no limits (cee never
deletes from a stream): first_seq > 1 with more messages than
last_seq - first_seq + 1. A clean restart after later writes recovers them.
"""

import json
import socket
import sys


def request(hostport, subject, payload=b"", timeout=3.0):
    host, _, port = hostport.rpartition(":")
    s = socket.create_connection((host, int(port)), timeout=timeout)
    f = s.makefile("rb")
    try:
        info = f.readline()
        if not info.startswith(b"INFO "):
            raise OSError(f"no INFO from {hostport}: {info[:80]!r}")
        inbox = "_INBOX.ceeit%d" % id(s)
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"lang":"python","version":"0"}\r\n'
                  + b"SUB %s 1\r\n" % inbox.encode()
                  + b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), inbox.encode(), len(payload), payload)
                  + b"PING\r\n")
        while True:
            line = f.readline()
            if not line:
                raise OSError("connection closed before the answer")
            if line.startswith(b"MSG "):
                n = int(line.split()[-1])
                body = f.read(n + 2)[:n]
                return json.loads(body)
            if line.startswith(b"-ERR"):
                raise OSError(line.decode().strip())
            if line.startswith(b"PING"):
                s.sendall(b"PONG\r\n")
    finally:
        f.close()
        s.close()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    hp, cmd = sys.argv[1], sys.argv[2]
    try:
        if cmd == "ready":
            r = request(hp, "$JS.API.INFO")
        elif cmd in ("info", "leader", "whole"):
            r = request(hp, "$JS.API.STREAM.INFO." + sys.argv[3])
        elif cmd == "stepdown":
            r = request(hp, "$JS.API.STREAM.LEADER.STEPDOWN." + sys.argv[3])
        elif cmd == "delete":
            r = request(hp, "$JS.API.STREAM.DELETE." + sys.argv[3])
        elif cmd == "create":
            cfg = {"name": sys.argv[3], "subjects": [sys.argv[4]], "storage": "file",
                   "num_replicas": 1, "max_msg_size": int(sys.argv[5])}
            r = request(hp, "$JS.API.STREAM.CREATE." + sys.argv[3], json.dumps(cfg).encode())
        else:
            sys.exit(__doc__)
    except (OSError, ValueError) as e:
        print(f"nats_js: {cmd}: {e}", file=sys.stderr)
        return 1
    if "error" in r:
        print(json.dumps(r))
        return 1
    if cmd == "whole":
        st = r.get("state", {})
        m, f, l = st.get("messages", 0), st.get("first_seq", 0), st.get("last_seq", 0)
        print(f"messages {m} first_seq {f} last_seq {l}")
        if f <= 1 and m == l:
            return 0
        return 3 if f > 1 and m > l - f + 1 else 1
    if cmd == "leader":
        leader = r.get("cluster", {}).get("leader")
        if not leader:
            return 1
        print(leader)
    else:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
