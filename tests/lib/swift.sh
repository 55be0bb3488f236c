# A throwaway S3 server for integration tests (sourced by bash scripts): OpenStack Swift with
# the s3api middleware, single node, one replica, on private loopback ports, everything under
# $BV_TEST_DIR/swift. It verifies SigV4 signatures, Content-MD5, x-amz-content-sha256 and the
# 5 MiB minimum size of multipart parts like S3 does.
#
#   s3_start                 install what is missing (BV_DEPS_EXTRA=s3 scripts/deps.sh), start
#                            memcached, the account, container and object servers and the proxy,
#                            create the bucket; exports S3_ENDPOINT, S3_BUCKET, S3_REGION and the
#                            AWS_* variables binvault reads (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
#                            AWS_SECRET_ACCESS_KEY, AWS_REGION). Path style at
#                            http://127.0.0.1:PORT; virtual-host style at http://localhost:PORT
#                            (BUCKET.localhost)
#   s3_create_bucket NAME    create another bucket (signed request); returns non-zero on failure
#   s3_request METHOD PATH   any signed request without a body ("/bucket/key?uploads"); prints
#                            the HTTP status, the response body is in $S3_DIR/last-response
#   s3_stop_all              stop every process s3_start started (trap EXIT calls it)
#
# Credentials are tempauth's: access key "test:tester", secret "testing". Swift reads its
# swift.conf (hash prefix/suffix, storage policies) from /etc/swift/swift.conf whatever
# swift_dir says; that file is created only when it is absent. Logs: $BV_TEST_DIR/swift/log/.

: "${BV_TEST_DIR:?BV_TEST_DIR must be set}"
: "${BV_ROOT:?BV_ROOT must be set}"
S3_PIDS=()

. "$(dirname "${BASH_SOURCE[0]}")/port.sh"

# Start "$@" in its own session, output to log file $1 (the rest is the command).
_s3_spawn() {
    local log=$1; shift
    setsid "$@" >> "$log" 2>&1 < /dev/null &
    S3_PIDS+=($!)
}

# A signed S3 request, made by a few lines of Python (an implementation of SigV4 independent of
# binvault's; curl's --user cannot carry an access key that contains ':').
s3_request() {
    python3 - "$1" "$2" "$S3_DIR/last-response" <<'PY'
import datetime, hashlib, hmac, os, sys, urllib.error, urllib.parse, urllib.request
method, path, out = sys.argv[1:4]
endpoint = os.environ["S3_ENDPOINT"]
region = os.environ["S3_REGION"]
key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
now = datetime.datetime.now(datetime.timezone.utc)
amzdate, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
host = urllib.parse.urlsplit(endpoint).netloc
empty = hashlib.sha256(b"").hexdigest()
signed = "host;x-amz-content-sha256;x-amz-date"
upath, _, query = path.partition("?")
params = sorted((urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                for k, _, v in (p.partition("=") for p in query.split("&") if p))
cquery = "&".join(k + "=" + v for k, v in params)
creq = "\n".join([method, upath, cquery, "host:" + host, "x-amz-content-sha256:" + empty,
                  "x-amz-date:" + amzdate, "", signed, empty])
scope = day + "/" + region + "/s3/aws4_request"
sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope, hashlib.sha256(creq.encode()).hexdigest()])
k = ("AWS4" + secret).encode()
for part in (day, region, "s3", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
req = urllib.request.Request(endpoint + upath + ("?" + cquery if cquery else ""), method=method,
                             data=b"" if method in ("PUT", "POST") else None)
req.add_header("x-amz-date", amzdate)
req.add_header("x-amz-content-sha256", empty)
req.add_header("Authorization", "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
               % (key, scope, signed, sig))
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
except Exception as e:
    code, body = 0, str(e).encode()
open(out, "wb").write(body)
print(code)
PY
}

s3_create_bucket() {
    local code
    code=$(s3_request PUT "/$1") || return 1
    [ "$code" = 200 ] && return 0
    echo "s3_create_bucket $1: HTTP $code: $(cat "$S3_DIR/last-response" 2>/dev/null)" >&2
    return 1
}

_s3_server_conf() {
    local kind=$1 port=$2
    cat <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 1
user = $(id -un)
swift_dir = $S3_DIR/etc
devices = $S3_DIR/srv
mount_check = false
log_level = WARNING

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind

[$kind-replicator]
[$kind-auditor]
EOF
}

s3_start() {
    local aport cport oport pport mport kind code
    if ! BV_DEPS_EXTRA=s3 "$BV_ROOT/scripts/deps.sh"; then
        echo "s3_start: unable to install the Swift packages" >&2
        return 1
    fi
    if [ ! -e /etc/swift/swift.conf ]; then
        mkdir -p /etc/swift 2>/dev/null
        printf '[swift-hash]\nswift_hash_path_suffix = binvault-test\nswift_hash_path_prefix = binvault-test\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n' \
            > /etc/swift/swift.conf \
            || { echo "s3_start: /etc/swift/swift.conf is missing and cannot be created" >&2; return 1; }
    fi
    S3_DIR=$BV_TEST_DIR/swift
    mkdir -p "$S3_DIR/etc" "$S3_DIR/srv/d1" "$S3_DIR/log" "$S3_DIR/run"
    local ports=() p
    while [ ${#ports[@]} -lt 5 ]; do
        p=$(free_port) || { echo "s3_start: no free port" >&2; return 1; }
        [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
    done
    aport=${ports[0]} cport=${ports[1]} oport=${ports[2]} pport=${ports[3]} mport=${ports[4]}

    for kind in account container object; do
        local port
        case $kind in account) port=$aport ;; container) port=$cport ;; object) port=$oport ;; esac
        _s3_server_conf "$kind" "$port" > "$S3_DIR/etc/$kind-server.conf"
        (
            cd "$S3_DIR/etc" &&
            swift-ring-builder "$kind.builder" create 6 1 1 &&
            swift-ring-builder "$kind.builder" add "r1z1-127.0.0.1:$port/d1" 100 &&
            swift-ring-builder "$kind.builder" rebalance
        ) > "$S3_DIR/log/ring-$kind.log" 2>&1 \
            || { echo "s3_start: unable to build the $kind ring, see $S3_DIR/log/ring-$kind.log" >&2; return 1; }
    done
    cat > "$S3_DIR/etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $pport
workers = 1
user = $(id -un)
swift_dir = $S3_DIR/etc
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$mport

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
# Virtual-host style too: http://BUCKET.localhost:PORT/KEY (curl resolves *.localhost itself).
storage_domain = localhost

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
EOF

    _s3_spawn "$S3_DIR/log/memcached.log" memcached -l 127.0.0.1 -p "$mport" -U 0 -u "$(id -un)" -m 32
    for kind in account container object; do
        _s3_spawn "$S3_DIR/log/$kind.log" "swift-$kind-server" "$S3_DIR/etc/$kind-server.conf" -v
    done
    _s3_spawn "$S3_DIR/log/proxy.log" swift-proxy-server "$S3_DIR/etc/proxy-server.conf" -v

    export S3_ENDPOINT="http://127.0.0.1:$pport"
    export S3_REGION=us-east-1
    export S3_BUCKET=${S3_BUCKET:-binvault-test}
    export AWS_ENDPOINT_URL=$S3_ENDPOINT
    export AWS_REGION=$S3_REGION
    export AWS_ACCESS_KEY_ID=test:tester
    export AWS_SECRET_ACCESS_KEY=testing
    unset AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_ENDPOINT_URL_S3

    # Ready when a signed CreateBucket succeeds and an object can be stored and read back: the
    # proxy answers /healthcheck well before tempauth, memcached and the account, container and
    # object servers all work (a test that went on after CreateBucket alone saw its first object
    # GET answered 503).
    local deadline=$((SECONDS + 60)) bucket=
    while [ $SECONDS -lt $deadline ]; do
        [ -n "$bucket" ] || { code=$(s3_request PUT "/$S3_BUCKET" 2>/dev/null); [ "$code" = 200 ] && bucket=1; }
        if [ -n "$bucket" ]; then
            code=$(s3_request PUT "/$S3_BUCKET/.s3-start-probe" 2>/dev/null)
            [ "$code" = 200 ] && code=$(s3_request GET "/$S3_BUCKET/.s3-start-probe" 2>/dev/null)
            if [ "$code" = 200 ]; then
                s3_request DELETE "/$S3_BUCKET/.s3-start-probe" > /dev/null 2>&1
                return 0
            fi
        fi
        sleep 0.2
    done
    echo "s3_start: Swift did not become ready (last status '$code'); last lines of the logs:" >&2
    tail -n 5 "$S3_DIR"/log/*.log >&2
    return 1
}

s3_stop_all() {
    local pid
    for pid in "${S3_PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${S3_PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$pid" 2>/dev/null
    done
    S3_PIDS=()
}
