#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""`openssl s_client` against cee-engine's tls: echo listener, one
connection at a time, run inside the test namespace (test_tls.sh openssl).
Checked by tls_check.py.

Guards against (with tls_check.py): a TLS 1.2 or 1.3 handshake with a stock
client failing, plaintext not echoed, tls_up reporting the wrong version,
cipher, SNI or ALPN, session tickets not resuming (TLS 1.2 and 1.3), a
client that rejects the server's certificate or offers only TLS 1.0 not
ending in the right alert.

Cases, in this order (the checker pairs them with the engine's connections
in order of their `open` events; there is one connection at a time):
  s12         -tls1_2 -sess_out S12: echo, then stdin EOF (close_notify, FIN)
  s12_resume  -tls1_2 -sess_in S12: must resume
  s13         -tls1_3 -sess_out S13
  s13_resume  -tls1_3 -sess_in S13: must resume
  s13_alpn    -tls1_3 -alpn sip
  s_badca12   -tls1_2 -CAfile other-ca.pem: s_client rejects the server (alert)
  s_badca13   the same with -tls1_3
  s_tls10     -tls1 (@SECLEVEL=0): the engine must refuse it (alert)
s_client runs without -quiet (which would imply -ign_eof): its session
summary ("New"/"Reused", protocol, cipher, ALPN) is read from stdout, the
echo of the line written to it too; closing its stdin makes it send
close_notify and exit.

Writes --log: {"meta": {...}, "conns": [record, ...]}; a record holds id,
kind, lport (from ss while connected, else null), rc, version, cipher,
reused, alpn, sent, recv, echo_ok, alert_seen (an alert s_client reports
receiving), verify_error, ok and the tail of s_client's output.
"""

import argparse
import json
import os
import re
import selectors
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_common import ALERT_BY_OPENSSL_REASON  # noqa: E402

SNI = "server.cee.test"
# OpenSSL's error strings: "tlsv1 alert protocol version" for TLSV1_ALERT_PROTOCOL_VERSION
ALERT_BY_TEXT = {k.lower().replace("_", " "): v for k, v in ALERT_BY_OPENSSL_REASON.items()}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="IP:PORT of the tls: echo listener")
    p.add_argument("--certs", required=True)
    p.add_argument("--work", required=True, help="directory for the session files")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--log", required=True)
    return p.parse_args()


def cases(args):
    s12, s13 = os.path.join(args.work, "s12.sess"), os.path.join(args.work, "s13.sess")
    return [
        ("s12", ["-tls1_2", "-sess_out", s12], True),
        ("s12_resume", ["-tls1_2", "-sess_in", s12], True),
        ("s13", ["-tls1_3", "-sess_out", s13], True),
        ("s13_resume", ["-tls1_3", "-sess_in", s13], True),
        ("s13_alpn", ["-tls1_3", "-alpn", "sip"], True),
        ("s_badca12", ["-tls1_2", "-CAfile", os.path.join(args.certs, "other-ca.pem")], False),
        ("s_badca13", ["-tls1_3", "-CAfile", os.path.join(args.certs, "other-ca.pem")], False),
        ("s_tls10", ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"], False),
    ]


class Pipes:
    """s_client's stdout and stderr, read without blocking, with deadlines."""

    def __init__(self, proc):
        self.proc = proc
        self.sel = selectors.DefaultSelector()
        self.buf = {"out": b"", "err": b""}
        for name, f in (("out", proc.stdout), ("err", proc.stderr)):
            os.set_blocking(f.fileno(), False)
            self.sel.register(f, selectors.EVENT_READ, name)

    def pump(self, until, deadline):
        """Read until until(self) is true, both pipes close or the deadline. @return until(self)."""
        while not until(self) and self.sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in self.sel.select(min(left, 0.2)):
                data = key.fileobj.read()
                if data:
                    self.buf[key.data] += data
                elif data is not None:  # EOF
                    self.sel.unregister(key.fileobj)
        return until(self)

    def text(self, name):
        return self.buf[name].decode("utf-8", "replace")


def local_port(pid, server):
    """The local port of s_client @p pid's connection to @p server, from ss."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", "dst", server],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if f"pid={pid}," in line:
            m = re.search(r"(\d+\.\d+\.\d+\.\d+):(\d+)\s+\S+\s+users", line)
            if m:
                return int(m.group(2))
    return None


def run_case(args, idx, kind, extra, expect_ok):
    line = f"hello cee {kind} {os.urandom(6).hex()}\n".encode()
    tls_max = {"-tls1_2": "1.2", "-tls1_3": "1.3", "-tls1": "1.0"}.get(extra[0])
    rec = {"id": idx, "kind": kind, "tls_max": tls_max, "args": extra, "lport": None, "rc": None, "version": None,
           "cipher": None, "reused": None, "alpn": None, "sent": 0, "recv": 0, "echo_ok": None,
           "alert_seen": None, "verify_error": None, "ok": False, "error": None,
           "t_connect": time.monotonic()}
    cmd = ["openssl", "s_client", "-connect", args.server, "-servername", SNI,
           "-CAfile", os.path.join(args.certs, "ca.pem"), "-verify_return_error",
           "-verify_hostname", SNI] + extra
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pipes = Pipes(proc)
    deadline = time.monotonic() + args.timeout
    summary = re.compile(rb"^(New|Reused), (TLSv[\d.]+), Cipher is (\S+)", re.M)
    failed = proc.poll
    if pipes.pump(lambda p: summary.search(p.buf["out"]) or failed() is not None, deadline) and \
            summary.search(pipes.buf["out"]):
        m = summary.search(pipes.buf["out"])
        rec["reused"] = m.group(1) == b"Reused"
        rec["version"] = m.group(2).decode().replace("TLSv", "")
        rec["cipher"] = m.group(3).decode()
        a = re.search(rb"^ALPN protocol: (\S+)", pipes.buf["out"], re.M)
        rec["alpn"] = a.group(1).decode() if a else None
    if rec["version"] is not None and failed() is None:
        rec["lport"] = local_port(proc.pid, args.server)
        try:
            proc.stdin.write(line)
            proc.stdin.flush()
            rec["sent"] = len(line)
        except BrokenPipeError:
            rec["error"] = "s_client's stdin closed before the line was written"
        pipes.pump(lambda p: line in p.buf["out"] or failed() is not None, deadline)
        rec["echo_ok"] = line in pipes.buf["out"]
        rec["recv"] = len(line) if rec["echo_ok"] else 0
    try:
        proc.stdin.close()  # EOF: s_client sends close_notify and exits
    except BrokenPipeError:
        pass
    pipes.pump(lambda p: False, deadline)  # to EOF on both pipes
    try:
        rec["rc"] = proc.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        rec["rc"] = proc.wait()
        rec["error"] = f"s_client did not exit within {args.timeout:g} s"
    out, err = pipes.text("out"), pipes.text("err")
    for text, num in ALERT_BY_TEXT.items():
        if text in err:
            rec["alert_seen"] = num
    v = re.search(r"verify error:num=(\d+)", err)
    rec["verify_error"] = int(v.group(1)) if v else None
    rec["stdout_tail"] = out[-600:]
    rec["stderr_tail"] = err[-600:]
    if expect_ok:
        # a resumption case must resume, the ALPN case must get sip (the
        # checker only compared the engine with the client: tickets broken
        # on both ends, or --tls-alpn ignored, passed)
        rec["ok"] = (rec["rc"] == 0 and rec["echo_ok"] is True and rec["error"] is None and
                     (not kind.endswith("_resume") or rec["reused"] is True) and
                     (kind != "s13_alpn" or rec["alpn"] == "sip"))
    else:
        rec["ok"] = rec["rc"] != 0 and not rec["echo_ok"]
    return rec


def main():
    args = parse_args()
    recs = []
    t0 = time.monotonic()
    for i, (kind, extra, expect_ok) in enumerate(cases(args)):
        rec = run_case(args, i, kind, extra, expect_ok)
        recs.append(rec)
        print(f"tls_openssl: {kind}: rc {rec['rc']} version {rec['version']} cipher {rec['cipher']} "
              f"reused {rec['reused']} alpn {rec['alpn']} echo {rec['echo_ok']} lport {rec['lport']} "
              f"alert_seen {rec['alert_seen']} verify_error {rec['verify_error']}"
              f"{'' if rec['ok'] else ' -- NOT AS EXPECTED'}", flush=True)
        if not rec["ok"]:
            print(f"tls_openssl: {kind} stderr: {rec['stderr_tail']!r}", flush=True)
    meta = {"server": args.server, "count": len(recs), "elapsed_s": time.monotonic() - t0}
    tmp = args.log + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"meta": meta, "conns": recs}, f)
    os.rename(tmp, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
