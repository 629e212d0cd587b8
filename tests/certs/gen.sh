#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Test-only PKI for tests/unit/test_tls.c and bench/cee-tlscrypto (see
# README.md). Regenerates every file in this directory; the outputs are
# committed so that builds do not need openssl. Keys are unencrypted.
set -eu
cd "$(dirname "$0")"

DAYS=36500
SAN="subjectAltName=DNS:server.cee.test,DNS:localhost,IP:10.77.0.1,IP:127.0.0.1"

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-pkeyopt ec_param_enc:named_curve -out "$1"; }

# ca_cert NAME CN: a self-signed CA
ca_cert() {
	ec_key "$1.key"
	openssl req -new -x509 -key "$1.key" -out "$1.pem" -days "$DAYS" -sha256 \
		-subj "/O=cee/CN=$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
}

# leaf_subj NAME CA SUBJECT EKU [SAN]: a certificate for NAME.key signed
# by CA (SUBJECT in openssl's -subj form, UTF-8)
leaf_subj() {
	name=$1 ca=$2 subj=$3 eku=$4 san=${5:-}
	ext=$(mktemp)
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$eku"
		[ -n "$san" ] && echo "$san"
	} >"$ext"
	openssl req -new -utf8 -key "$name.key" -subj "$subj" -out "$name.csr"
	openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" \
		-CAcreateserial -CAserial "$ca.srl" -days "$DAYS" -sha256 \
		-extfile "$ext" -out "$name.pem"
	rm -f "$name.csr" "$ext"
}

# leaf NAME CA CN EKU [SAN]: the same, subject /O=cee/CN=CN
leaf() {
	leaf_subj "$1" "$2" "/O=cee/CN=$3" "$4" "${5:-}"
}

ca_cert ca "cee test CA"
ca_cert other-ca "cee other test CA"

ec_key server.key
leaf server ca server.cee.test serverAuth "$SAN"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out server-rsa.key
leaf server-rsa ca server.cee.test serverAuth "$SAN"

ec_key client.key
leaf client ca client.cee.test clientAuth

ec_key other-client.key
leaf other-client other-ca client.cee.test clientAuth

# a client whose subject holds what a one-line subject must escape: a CN
# that reads like a second attribute, a control byte and a backslash
ec_key tricky-client.key
leaf_subj tricky-client ca "/O=cee/OU=a$(printf '\a')b\\\\c/CN=x\/CN=admin" clientAuth

# a client whose one-line subject is too long for peer_subject (255 bytes),
# padded so that a cut within a value would end the line "/CN=admin"
ec_key long-client.key
pad() { printf "%0${1}d" 0 | tr 0 "$2"; }
leaf_subj long-client ca \
	"/O=cee/OU=$(pad 56 a)/OU=$(pad 56 b)/OU=$(pad 56 c)/OU=$(pad 56 d)/CN=adminEVIL" clientAuth

# a forged "CA clone": the CA's subject and signature bytes, another key,
# the server's names (ca_clone.py says why; test_tls.c expects refusals)
ec_key ca-clone.key
openssl req -new -x509 -key ca-clone.key -out ca-clone-self.pem -days "$DAYS" -sha256 \
	-subj "/O=cee/CN=cee test CA" \
	-addext "basicConstraints=critical,CA:FALSE" \
	-addext "keyUsage=critical,digitalSignature" \
	-addext "extendedKeyUsage=serverAuth,clientAuth" -addext "$SAN"
python3 ./ca_clone.py ca.pem ca-clone-self.pem ca-clone.pem
rm -f ca-clone-self.pem

rm -f ca.srl other-ca.srl
chmod 0644 ./*.key ./*.pem
