# SPDX-License-Identifier: BSD-3-Clause
"""Tables shared by the TLS integration clients and checkers.

TLS alert numbers and names (RFC 8446 section 6, RFC 5246 section 7.2),
OpenSSL's reason codes for a received alert mapped to the alert number (so a
client can say which alert the engine sent), OpenSSL's TLS 1.2 cipher names
mapped to their IANA names (the engine reports IANA names), and a parser of
the TLS records a raw-socket client received (to read an alert off the wire).
"""

ALERT_NAMES = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure",
    41: "no_certificate", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
    90: "user_canceled", 100: "no_renegotiation", 109: "missing_extension",
    110: "unsupported_extension", 111: "certificate_unobtainable", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 114: "bad_certificate_hash_value",
    115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
}

# ssl.SSLError.reason (OpenSSL 3) when the peer sent a fatal alert.
ALERT_BY_OPENSSL_REASON = {
    "SSLV3_ALERT_UNEXPECTED_MESSAGE": 10, "SSLV3_ALERT_BAD_RECORD_MAC": 20,
    "TLSV1_ALERT_DECRYPTION_FAILED": 21, "TLSV1_ALERT_RECORD_OVERFLOW": 22,
    "SSLV3_ALERT_DECOMPRESSION_FAILURE": 30, "SSLV3_ALERT_HANDSHAKE_FAILURE": 40,
    "SSLV3_ALERT_NO_CERTIFICATE": 41, "SSLV3_ALERT_BAD_CERTIFICATE": 42,
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": 43, "SSLV3_ALERT_CERTIFICATE_REVOKED": 44,
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": 45, "SSLV3_ALERT_CERTIFICATE_UNKNOWN": 46,
    "SSLV3_ALERT_ILLEGAL_PARAMETER": 47, "TLSV1_ALERT_UNKNOWN_CA": 48,
    "TLSV1_ALERT_ACCESS_DENIED": 49, "TLSV1_ALERT_DECODE_ERROR": 50,
    "TLSV1_ALERT_DECRYPT_ERROR": 51, "TLSV1_ALERT_EXPORT_RESTRICTION": 60,
    "TLSV1_ALERT_PROTOCOL_VERSION": 70, "TLSV1_ALERT_INSUFFICIENT_SECURITY": 71,
    "TLSV1_ALERT_INTERNAL_ERROR": 80, "TLSV1_ALERT_INAPPROPRIATE_FALLBACK": 86,
    "TLSV1_ALERT_USER_CANCELLED": 90, "TLSV1_ALERT_NO_RENEGOTIATION": 100,
    "TLSV13_ALERT_MISSING_EXTENSION": 109, "TLSV1_UNSUPPORTED_EXTENSION": 110,
    "TLSV1_CERTIFICATE_UNOBTAINABLE": 111, "TLSV1_UNRECOGNIZED_NAME": 112,
    "TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE": 113, "TLSV1_BAD_CERTIFICATE_HASH_VALUE": 114,
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": 116, "TLSV1_ALERT_NO_APPLICATION_PROTOCOL": 120,
}

# OpenSSL names of the TLS 1.2 ECDHE suites a client here may negotiate;
# TLS 1.3 suites already carry their IANA names.
IANA_CIPHER = {
    "ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES128-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "ECDHE-ECDSA-AES256-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "ECDHE-ECDSA-AES128-SHA": "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "ECDHE-ECDSA-AES256-SHA": "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384": "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256": "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384": "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256": "TLS_CHACHA20_POLY1305_SHA256",
}


def iana_cipher(openssl_name):
    """@return the IANA name of an OpenSSL cipher name, or None when unknown."""
    return IANA_CIPHER.get(openssl_name)


def alert_of_ssl_error(err):
    """@return the alert number an ssl.SSLError says the peer sent, or None."""
    return ALERT_BY_OPENSSL_REASON.get(getattr(err, "reason", None) or "")


def wire_alerts(data):
    """Alerts in the plaintext TLS records of @p data (what a raw-socket peer
    received before any key was agreed). @return [(level, description)]."""
    out, off = [], 0
    while off + 5 <= len(data):
        ctype, length = data[off], int.from_bytes(data[off + 3:off + 5], "big")
        body = data[off + 5:off + 5 + length]
        if ctype == 21 and len(body) >= 2:
            out.append((body[0], body[1]))
        off += 5 + length
    return out
