# TLS to the source (a MariaDB server with a test CA made here) and to an S3 store behind TLS:
# verified connections work, a wrong CA is refused, a client certificate is used when the user
# requires one, and certificates are verified by default.
set -u
. "$BV_ROOT/tests/lib/mariadb.sh"
. "$BV_ROOT/tests/lib/assert.sh"
. "$BV_ROOT/tests/lib/agent.sh"
. "$BV_ROOT/tests/lib/tls.sh"
. "$BV_ROOT/tests/lib/swift.sh"
trap 'faultproxy_stop; s3_stop_all; mdb_stop_all' EXIT
pki=$BV_TEST_DIR/pki
tls_make_ca "$pki" || { fail "make test CA"; exit 1; }
mdb_start tls "ssl_ca=$pki/ca.pem" "ssl_cert=$pki/server.pem" "ssl_key=$pki/server.key" || { fail "start"; exit 1; }
mdb_sql tls "CREATE USER 'tlsrepl'@'127.0.0.1' IDENTIFIED BY 'tls-secret' REQUIRE SSL;
             CREATE USER 'x509repl'@'127.0.0.1' IDENTIFIED BY 'x509-secret' REQUIRE X509;
             GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'tlsrepl'@'127.0.0.1', 'x509repl'@'127.0.0.1';
             CREATE DATABASE t; CREATE TABLE t.a (i INT); INSERT INTO t.a VALUES (1)"
port=$(mdb_port tls)
pull() { local user=$1 pw=$2; shift 2
    rm -rf "$BV_TEST_DIR/out"
    BINVAULT_SOURCE_PASSWORD=$pw "$BV_BIN" pull --source "mysql://$user@127.0.0.1:$port" --to "$BV_TEST_DIR/out" \
        --stop-at-end "$@" 2>&1; }

out=$(pull tlsrepl tls-secret --ssl-mode verify-identity --ssl-ca "$pki/ca.pem"); rc=$?
check_eq "verify-identity with the right CA: pull succeeds" "$rc" 0
check "pulled binlogs parse" "$BV_BIN" inspect --quiet "$BV_TEST_DIR"/out/*
out=$(pull tlsrepl tls-secret --ssl-mode verify-ca --ssl-ca "$pki/ca.pem"); rc=$?
check_eq "verify-ca with the right CA: pull succeeds" "$rc" 0
out=$(pull tlsrepl tls-secret --ssl-mode verify-ca --ssl-ca "$pki/other-ca.pem"); rc=$?
check "wrong CA: refused" test "$rc" -ne 0
check "wrong CA: the error is about the certificate" grep -Eiq "certificate|verify|TLS|SSL" <<< "$out"
out=$(pull tlsrepl tls-secret --ssl-mode required); rc=$?
check_eq "required (no verification): pull succeeds" "$rc" 0
out=$(pull tlsrepl tls-secret --ssl-mode disabled); rc=$?
check "a REQUIRE SSL user without TLS: refused" test "$rc" -ne 0
out=$(pull tlsrepl tls-secret --ssl-mode verify-identity); rc=$?
check_eq "verify without a CA is a usage error" "$rc" 64
out=$(pull x509repl x509-secret --ssl-mode verify-identity --ssl-ca "$pki/ca.pem" --ssl-cert "$pki/client.pem" --ssl-key "$pki/client.key"); rc=$?
check_eq "client certificate for a REQUIRE X509 user: pull succeeds" "$rc" 0
out=$(pull x509repl x509-secret --ssl-mode verify-identity --ssl-ca "$pki/ca.pem"); rc=$?
check "REQUIRE X509 without a client certificate: refused" test "$rc" -ne 0
mdb_stop tls
mdb_start plain || { fail "start plain"; exit 1; }
mdb_sql plain "CREATE USER 'r'@'127.0.0.1' IDENTIFIED BY 'p'; GRANT REPLICATION SLAVE ON *.* TO 'r'@'127.0.0.1'"
rm -rf "$BV_TEST_DIR/out"
out=$(BINVAULT_SOURCE_PASSWORD=p "$BV_BIN" pull --source "mysql://r@127.0.0.1:$(mdb_port plain)" --to "$BV_TEST_DIR/out" --stop-at-end --ssl-mode required 2>&1); rc=$?
check "required against a server without TLS: refused" test "$rc" -ne 0
rm -rf "$BV_TEST_DIR/out"
out=$(BINVAULT_SOURCE_PASSWORD=p "$BV_BIN" pull --source "mysql://r@127.0.0.1:$(mdb_port plain)" --to "$BV_TEST_DIR/out" --stop-at-end --ssl-mode preferred 2>&1); rc=$?
check_eq "preferred against a server without TLS: plain text" "$rc" 0

# S3 behind TLS (a TLS front on the store): verified by default, with --s3-ca-file.
s3_start || { fail "start swift"; exit 1; }
faultproxy_start 127.0.0.1 "${S3_ENDPOINT##*:}" "$pki/server.pem" "$pki/server.key" || { fail "tls front"; exit 1; }
url="s3://$S3_BUCKET/tls"
echo hello > "$BV_TEST_DIR/obj"
out=$("$BV_BIN" storage --archive "$url" --s3-endpoint "https://127.0.0.1:$FAULT_PORT" --s3-uri-style path \
      --s3-ca-file "$pki/ca.pem" put x "$BV_TEST_DIR/obj" 2>&1); rc=$?
check_eq "S3 over TLS with the test CA: put succeeds" "$rc" 0
out=$("$BV_BIN" storage --archive "$url" --s3-endpoint "https://127.0.0.1:$FAULT_PORT" --s3-uri-style path \
      get x 2>&1); rc=$?
check "S3 over TLS without the CA: refused (certificates are verified by default)" test "$rc" -ne 0
check "the refusal is about the certificate" grep -Eiq "certificate|SSL|TLS" <<< "$out"
out=$("$BV_BIN" storage --archive "$url" --s3-endpoint "https://127.0.0.1:$FAULT_PORT" --s3-uri-style path \
      --s3-ca-file "$pki/other-ca.pem" get x 2>&1); rc=$?
check "S3 over TLS with a wrong CA: refused" test "$rc" -ne 0

# The agent streams over verified TLS into an encrypted archive.
mdb_start tls2 "ssl_ca=$pki/ca.pem" "ssl_cert=$pki/server.pem" "ssl_key=$pki/server.key" || { fail "start tls2"; exit 1; }
mdb_sql tls2 "CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY '$REPL_PASSWORD' REQUIRE SSL;
              GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'repl'@'127.0.0.1';
              CREATE DATABASE t; CREATE TABLE t.a (i INT); INSERT INTO t.a VALUES (1), (2)"
head -c 32 /dev/urandom > "$BV_TEST_DIR/key"; chmod 600 "$BV_TEST_DIR/key"
rm -f "$BV_TEST_DIR/agent.log"
AGENT_LOG_LEVEL=debug agent_start tls2 "file://$BV_TEST_DIR/enc-archive" "$BV_TEST_DIR/spool" --segment-interval 300ms --purge-check 0 \
    --http off --ssl-mode verify-identity --ssl-ca "$pki/ca.pem" --key-file "$BV_TEST_DIR/key" --encrypt
BINVAULT_KEY_FILE=$BV_TEST_DIR/key check "agent over verified TLS, encrypted archive: catches up" \
    agent_wait_caught_up_any tls2 "file://$BV_TEST_DIR/enc-archive" 60
agent_term; check_eq "agent exits 0" "$?" 0
# Over TLS the stream is read through libmariadb (the socket carries TLS records); a plain
# connection is read from the socket past it (mysql/stream.c).
check "over TLS the replication stream is read through libmariadb" \
    grep -q "reading through libmariadb: TLS" "$BV_TEST_DIR/agent.log"
check_fails "over TLS the socket is not read directly" grep -q "reading the socket directly" "$BV_TEST_DIR/agent.log"
check "the encrypted archive verifies with the key" "$BV_BIN" verify --archive "file://$BV_TEST_DIR/enc-archive" --key-file "$BV_TEST_DIR/key"
check_fails "without the key it does not" "$BV_BIN" verify --archive "file://$BV_TEST_DIR/enc-archive"
out=$(BINVAULT_SOURCE_PASSWORD=$REPL_PASSWORD timeout 30 "$BV_BIN" agent --source "mysql://repl@127.0.0.1:$(mdb_port tls2)" \
      --archive "file://$BV_TEST_DIR/a2" --spool "$BV_TEST_DIR/spool2" --http off --ssl-mode verify-ca --ssl-ca "$pki/other-ca.pem" 2>&1); rc=$?
check "agent with a wrong CA: refused with a non-zero exit" test "$rc" -ne 0 -a "$rc" -ne 124
