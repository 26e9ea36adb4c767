#!/bin/sh
# Run once by the compose file's postgres-tls service, before TimescaleDB
# starts: a private CA, and a certificate for the server's name
# `timescaledb` signed by it, so every tickflow service connects with
# sslmode=verify-full. Made only when missing; to renew, remove the volumes.
# The CA's key is deleted once it has signed: nothing else can be signed
# with it. For a real deployment, put your own CA's files in the volumes.
#
#   make-certs.sh SERVER_DIR CA_DIR
# SERVER_DIR gets server.crt and server.key (owned by TLS_OWNER, by default
# 70:70, the postgres user of the TimescaleDB image); CA_DIR gets
# postgres-ca.crt, the file the store URL's sslrootcert names.
set -eu
server=${1:?usage: make-certs.sh SERVER_DIR CA_DIR}
ca=${2:?usage: make-certs.sh SERVER_DIR CA_DIR}
if [ -s "$server/server.crt" ] && [ -s "$ca/postgres-ca.crt" ]; then
    echo "PostgreSQL TLS files exist; keeping them."
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
curve="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
# shellcheck disable=SC2086
openssl req -x509 $curve -days 3650 -subj "/CN=tickflow PostgreSQL CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
# shellcheck disable=SC2086
openssl req $curve -subj "/CN=timescaledb" -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:timescaledb,DNS:localhost" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days 825 -extfile "$work/server.ext" -out "$work/server.crt" 2>/dev/null
install -m 0600 "$work/server.key" "$server/server.key"
install -m 0644 "$work/server.crt" "$server/server.crt"
chown "${TLS_OWNER:-70:70}" "$server/server.key" "$server/server.crt"
install -m 0644 "$work/ca.crt" "$ca/postgres-ca.crt"
echo "Made a CA ($ca/postgres-ca.crt) and the certificate of timescaledb ($server/server.crt)."
