#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Forge a "CA clone" (tests only): a certificate with the CA's subject and
issuer and the CA certificate's own signature bytes, copied, but another
public key (ca-clone.key) and the server's names (subjectAltName
DNS:server.cee.test ...). Its signature does not verify: any verifier that
checks the chain refuses it.

Why: wolfSSL built with WOLFSSL_TRUST_PEER_CERT and
OPENSSL_COMPATIBLE_DEFAULTS (Debian's libwolfssl 5.5.4) loads the CA file
of wolfSSL_CTX_load_verify_locations() a second time as a "trusted peer";
a certificate that matches a trusted peer by subject and signature bytes
skips chain verification. Anyone holding the public CA certificate could
forge this one and pass as any server of that CA (links) or any client
(mutual TLS). tests/unit/test_tls.c presents it and expects a refusal.

Usage: ca_clone.py CA.pem SELF_SIGNED.pem OUT.pem
SELF_SIGNED.pem: a certificate of ca-clone.key with the names wanted (gen.sh
makes it with openssl); its subject, issuer and signature are replaced.
"""

import base64
import sys


def pem_der(path):
    lines = [l.strip() for l in open(path) if l.strip() and not l.startswith("-----")]
    return base64.b64decode("".join(lines))


def tlv(b, i):
    """The TLV at b[i]: (tag, header length, content length)."""
    tag = b[i]
    n = b[i + 1]
    if n < 0x80:
        return tag, 2, n
    k = n & 0x7F
    return tag, 2 + k, int.from_bytes(b[i + 2:i + 2 + k], "big")


def items(b):
    """The TLVs (whole encodings) of a constructed content."""
    out, i = [], 0
    while i < len(b):
        _, h, n = tlv(b, i)
        out.append(b[i:i + h + n])
        i += h + n
    return out


def enc(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    k = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | k]) + n.to_bytes(k, "big") + content


def content(t):
    _, h, n = tlv(t, 0)
    return t[h:h + n]


def main():
    ca, leaf, out = sys.argv[1:4]
    ca_cert = items(content(pem_der(ca)))          # tbs, sigAlg, sigValue
    ca_tbs = items(content(ca_cert[0]))
    lf = items(content(pem_der(leaf)))
    tbs = items(content(lf[0]))
    # tbs: [0] version, serial, signature, issuer, validity, subject, spki, [3] exts
    assert tbs[0][0] == 0xA0 and ca_tbs[0][0] == 0xA0, "v3 certificates"
    tbs[3] = ca_tbs[3]  # issuer: the CA's
    tbs[5] = ca_tbs[5]  # subject: the CA's (the trusted-peer lookup's key)
    new_tbs = enc(0x30, b"".join(tbs))
    cert = enc(0x30, new_tbs + ca_cert[1] + ca_cert[2])  # the CA's signature bytes
    b64 = base64.b64encode(cert).decode()
    with open(out, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\n")
        for i in range(0, len(b64), 64):
            f.write(b64[i:i + 64] + "\n")
        f.write("-----END CERTIFICATE-----\n")


if __name__ == "__main__":
    main()
