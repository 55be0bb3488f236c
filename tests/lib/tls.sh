# A throwaway test PKI for TLS tests (sourced): tls_make_ca DIR creates, with openssl,
#   DIR/ca.pem, DIR/ca.key           the test CA
#   DIR/server.pem, DIR/server.key   a server certificate for 127.0.0.1 and localhost
#   DIR/client.pem, DIR/client.key   a client certificate (CN binvault-client)
#   DIR/other-ca.pem                 an unrelated CA (the "wrong CA" case)
tls_make_ca() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=binvault test CA" \
        -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || return 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=some other CA" \
        -keyout "$d/other-ca.key" -out "$d/other-ca.pem" 2>/dev/null || return 1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' > "$d/server.ext"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
        -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null || return 1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=binvault-client" -keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null &&
    openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
        -out "$d/client.pem" 2>/dev/null || return 1
    chmod 600 "$d"/*.key
}
