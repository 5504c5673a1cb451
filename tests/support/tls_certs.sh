#!/usr/bin/env bash
# tests/support/tls_certs.sh DIR — test PKI for Redis over TLS, with openssl:
#   ca.crt/.key          the test CA
#   server.crt/.key      Redis' certificate: CN localhost, SAN localhost +
#                        127.0.0.1, signed by the CA, valid for a day
#   expired.crt/.key     the same names, signed by the CA, expired in 2020
#   client.crt/.key      a client certificate signed by the CA
#   other-ca.crt         an unrelated CA (the "wrong CA" case)
# Keys are EC P-256 (fast). Quiet; exits non-zero when openssl fails.
set -eu
d=$1
mkdir -p "$d"
cd "$d"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }
ca() { # name
        key "$1.key"
        openssl req -x509 -new -key "$1.key" -subj "/CN=bitmon test $1" -days 2 \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
                -out "$1.crt" 2>/dev/null
}
ca ca
ca other-ca
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
printf 'extendedKeyUsage=clientAuth\n' >client.ext
for n in server client expired; do
        key "$n.key"
        cn=localhost
        [ "$n" = client ] && cn=bitmon-client
        openssl req -new -key "$n.key" -subj "/CN=$cn" -out "$n.csr" 2>/dev/null
done
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
        -extfile server.ext -out server.crt 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
        -extfile client.ext -out client.crt 2>/dev/null
# openssl x509 cannot backdate: `openssl ca` with a throwaway database can.
mkdir -p caroot
: >caroot/index.txt
echo 1000 >caroot/serial
cat >caroot/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = caroot/index.txt
serial = caroot/serial
new_certs_dir = caroot
certificate = ca.crt
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
[ext]
subjectAltName = DNS:localhost,IP:127.0.0.1
extendedKeyUsage = serverAuth
CNF
openssl ca -batch -config caroot/ca.cnf -extensions ext -notext \
        -startdate 20200101000000Z -enddate 20200102000000Z \
        -in expired.csr -out expired.crt 2>/dev/null
rm -f ./*.csr ./*.ext ./*.srl
