# Shared test harness: a private PKI, real docker-registry instances on free
# loopback ports (TLS + htpasswd), and assertions. Source it; call
# e2e_init first. Everything lives under $WORK and is removed on exit;
# servers are stopped by PID.

set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$E2E_DIR/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
# WRAP runs the programs under a tool: WRAP="valgrind -q --error-exitcode=99"
airlock_export() { ${WRAP:-} "$BUILD/airlock-export" "$@"; }
airlock_import() { ${WRAP:-} "$BUILD/airlock-import" "$@"; }
SHARED=${AIRLOCK_SHARED:-$TOP/../shared}
PASS=0
FAIL=0
PIDS=()

e2e_cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}

e2e_init() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/airlock-e2e.XXXXXX")
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM
    # Sanitizer reports go to files that e2e_finish looks at: a report fails
    # the suite whatever exit code the check around it expected.
    SAN_DIR="$WORK/sanitizer"
    mkdir -p "$SAN_DIR"
    local v
    for v in ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS LSAN_OPTIONS; do
        export "$v=${!v:+${!v}:}log_path=$SAN_DIR/report"
    done
    for tool in docker-registry openssl htpasswd python3 zstd jq skopeo; do
        command -v "$tool" >/dev/null || { echo "missing test tool: $tool (see .ci/run)" >&2; exit 1; }
    done
    [ -x /usr/bin/time ] || { echo "missing test tool: /usr/bin/time (GNU time, see .ci/run)" >&2; exit 1; }
}

# make_ca NAME: $WORK/pki/NAME-ca.{key,crt}
make_ca() {
    mkdir -p "$WORK/pki"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=airlock test CA $1" -keyout "$WORK/pki/$1-ca.key" \
        -out "$WORK/pki/$1-ca.crt" 2>/dev/null
}

# make_server_cert CA NAME: a certificate for 127.0.0.1 and localhost.
make_server_cert() {
    make_signed_cert "$1" "$2" "/CN=$2" \
        'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
}

# make_signed_cert CA NAME SUBJECT EXTENSIONS: $WORK/pki/NAME.{key,crt}, an
# EC P-256 key and a certificate from CA's test CA.
make_signed_cert() {
    local ca=$1 name=$2 d="$WORK/pki"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$3" \
        -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null
    printf "$4" >"$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca-ca.crt" -CAkey "$d/$ca-ca.key" \
        -CAcreateserial -days 2 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
}

# slow_cat FILE [PAUSE [HOLD]]: FILE on stdout in 64 KiB pieces, PAUSE
# seconds (0.05) apart, so that a reader of it can be killed half way; with
# HOLD, the last piece only after HOLD seconds more or once the reader has
# gone (stdout a pipe), so that however loaded the machine, the reader
# cannot have finished when it is killed.
slow_cat() {
    python3 -c '
import select, sys, time
data = open(sys.argv[1], "rb").read()
pause, hold = float(sys.argv[2]), float(sys.argv[3])
for i in range(0, len(data), 65536):
    if hold and i + 65536 >= len(data):
        p = select.poll()
        p.register(1, select.POLLERR)   # a pipe without readers
        p.poll(int(hold * 1000))
    sys.stdout.buffer.write(data[i:i + 65536]); sys.stdout.buffer.flush(); time.sleep(pause)
' "$1" "${2:-0.05}" "${3:-0}" 2>/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT: until something accepts connections there (10 s).
wait_port() {
    python3 - "$1" <<'PY'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# start_registry NAME USER PASSWORD: a docker-registry with its own CA,
# TLS and htpasswd auth. Sets NAME_PORT, NAME_HOST, NAME_CA, NAME_DIR.
start_registry() {
    local name=$1 dir="$WORK/registry-$1"
    mkdir -p "$dir"
    htpasswd -Bbn "$2" "$3" >"$dir/htpasswd"
    run_registry "$name" "$(printf '  htpasswd:\n    realm: airlock-test\n    path: %s' "$dir/htpasswd")"
}

# start_token_registry NAME USER PASSWORD: a docker-registry that wants
# Bearer tokens from a token server (authserver.py) on its own port, over
# TLS with the registry's CA. Sets NAME_TOKEN_LOG besides the above.
start_token_registry() {
    local name=$1 dir="$WORK/registry-$1" tport
    mkdir -p "$dir"
    tport=$(free_port)
    make_ca "$name"
    make_server_cert "$name" "$name-token"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=airlock test token signer" \
        -keyout "$dir/signing.key" -out "$dir/signing.crt" 2>/dev/null
    python3 "$E2E_DIR/authserver.py" token "$tport" "$WORK/pki/$name-token.crt" \
        "$WORK/pki/$name-token.key" "$dir/signing.key" "$dir/signing.crt" airlock-test-issuer \
        "$dir/token.log" "$2:$3" 2>"$dir/token.err" &
    PIDS+=($!)
    wait_port "$tport" || { echo "token server did not start:" >&2; cat "$dir/token.err" >&2; exit 1; }
    printf -v "${name}_TOKEN_LOG" %s "$dir/token.log"
    KEEP_CA=1 run_registry "$name" "$(printf '  token:\n    realm: https://127.0.0.1:%s/token\n    service: airlock-test-registry\n    issuer: airlock-test-issuer\n    rootcertbundle: %s' "$tport" "$dir/signing.crt")"
}

# start_redirector NAME UPSTREAM_NAME USER PASSWORD [DELAY [nomount]]: authserver.py
# redirect in front of registry UPSTREAM_NAME, with a certificate from that
# registry's CA. Sets NAME_HOST and NAME_LOG; its own stderr goes to
# NAME.server.err, apart from NAME.err, which the tests give the client.
start_redirector() {
    local name=$1 up=$2 port upstream_host
    port=$(free_port)
    upstream_host=${up}_HOST
    make_server_cert "$up" "$name-server"
    python3 "$E2E_DIR/authserver.py" redirect "$port" "$WORK/pki/$name-server.crt" \
        "$WORK/pki/$name-server.key" "${!upstream_host}" "$WORK/pki/$up-ca.crt" "$3:$4" \
        "$WORK/$name.log" ${5:-} ${6:-} 2>"$WORK/$name.server.err" &
    PIDS+=($!)
    wait_port "$port" || { echo "redirector did not start:" >&2; cat "$WORK/$name.server.err" >&2; exit 1; }
    printf -v "${name}_HOST" %s "127.0.0.1:$port"
    printf -v "${name}_LOG" %s "$WORK/$name.log"
}

# start_flaky NAME UPSTREAM_NAME PLAN: authserver.py flaky in front of
# registry UPSTREAM_NAME (see there). Sets NAME_HOST and NAME_LOG; its own
# stderr goes to NAME.server.err (see start_redirector).
start_flaky() {
    local name=$1 up=$2 port upstream_host
    port=$(free_port)
    upstream_host=${up}_HOST
    make_server_cert "$up" "$name-server"
    : >"$WORK/$name.log"
    python3 "$E2E_DIR/authserver.py" flaky "$port" "$WORK/pki/$name-server.crt" \
        "$WORK/pki/$name-server.key" "${!upstream_host}" "$WORK/pki/$up-ca.crt" \
        "$WORK/$name.log" "$3" 2>"$WORK/$name.server.err" &
    PIDS+=($!)
    wait_port "$port" || { echo "flaky proxy did not start:" >&2; cat "$WORK/$name.server.err" >&2; exit 1; }
    printf -v "${name}_HOST" %s "127.0.0.1:$port"
    printf -v "${name}_LOG" %s "$WORK/$name.log"
}

# run_registry NAME AUTH_YAML (ACCESS_LOG=1: every request is logged to
# $WORK/registry-NAME/log)
run_registry() {
    local name=$1 auth=$2 port dir
    port=$(free_port)
    dir="$WORK/registry-$name"
    mkdir -p "$dir/data"
    [ -n "${KEEP_CA:-}" ] || make_ca "$name"
    make_server_cert "$name" "$name-server"
    cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: $([ -n "${ACCESS_LOG:-}" ] && echo false || echo true)
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  tls:
    certificate: $WORK/pki/$name-server.crt
    key: $WORK/pki/$name-server.key
auth:
$auth
YML
    docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
    PIDS+=($!)
    wait_port "$port" || { echo "registry $name did not start:" >&2; cat "$dir/log" >&2; exit 1; }
    printf -v "${name}_PORT" %s "$port"
    printf -v "${name}_HOST" %s "127.0.0.1:$port"
    printf -v "${name}_CA" %s "$WORK/pki/$name-ca.crt"
    printf -v "${name}_DIR" %s "$dir"
}

# seed_source: a registry "src" (user tester, password s3cret) holding the
# fixtures of seed.py; writes $WORK/seed.json and $WORK/src-auth.json.
seed_source() {
    start_registry src tester s3cret
    python3 "$E2E_DIR/seed.py" fixtures "$src_HOST" "$src_CA" tester s3cret "$WORK/seed.json" \
        "$SHARED" >/dev/null || { echo "seeding failed" >&2; exit 1; }
    authfile "$src_HOST" tester s3cret "$WORK/src-auth.json"
}

# start_mirror: an empty registry "mirror" (admin, m1rr0r) and
# $WORK/mirror-auth.json.
start_mirror() {
    start_registry mirror admin m1rr0r
    authfile "$mirror_HOST" admin m1rr0r "$WORK/mirror-auth.json"
}

# make_keys NAME...: Ed25519 key pairs $WORK/NAME.key and $WORK/NAME.pub.
make_keys() {
    local n
    for n in "$@"; do
        openssl genpkey -algorithm ed25519 -out "$WORK/$n.key" 2>/dev/null
        openssl pkey -in "$WORK/$n.key" -pubout -out "$WORK/$n.pub"
    done
}

# authfile HOST USER PASSWORD FILE
authfile() {
    printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$1" "$(printf '%s:%s' "$2" "$3" | base64 -w0)" >"$4"
}

ok() { PASS=$((PASS + 1)); echo "ok - $1"; }
not_ok() { FAIL=$((FAIL + 1)); echo "not ok - $1"; [ $# -lt 2 ] || printf '#   %s\n' "$2"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else not_ok "$what" "command: $*"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected '$2', got '$3'"; fi
}

# check_grep DESCRIPTION PATTERN FILE
check_grep() {
    if grep -qE -- "$2" "$3"; then ok "$1"; else not_ok "$1" "no /$2/ in: $(head -c 600 "$3")"; fi
}

# san_reports: not_ok for each sanitizer report written since the last call
# (AddressSanitizer, LeakSanitizer, UBSan's "runtime error:", ThreadSanitizer).
san_reports() {
    local f
    for f in "$SAN_DIR"/report*; do
        [ -e "$f" ] || continue
        not_ok "sanitizer report $(basename "$f")" "$(grep -m3 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer|SUMMARY' "$f" | tr '\n' ' ')"
        sed "s/^/#   /" "$f" | head -40
        mv "$f" "$f.seen"
    done
}

# e2e_finish: the suite's verdict. It fails on a failed check, on a
# sanitizer report, and when no check ran at all.
e2e_finish() {
    san_reports
    [ $((PASS + FAIL)) -gt 0 ] || not_ok "the suite ran at least one check"
    echo "# $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}

# sha256_of: the hex SHA-256 of standard input, refusing empty input (a
# failed producer must not hash to the digest of nothing).
sha256_of() {
    local tmp
    tmp=$(mktemp "$WORK/hash.XXXXXX")
    cat >"$tmp"
    if [ ! -s "$tmp" ]; then
        rm -f "$tmp"
        echo "sha256_of: empty input" >&2
        return 1
    fi
    sha256sum "$tmp" | cut -d' ' -f1
    rm -f "$tmp"
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds (every 0.05 s);
# fails after SECONDS. Synchronisation on an observed event, not on time.
wait_for() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 20; i++)); do
        "$@" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# tag_count HOST_PATH_REPO: the number of tags of a mirror repository ("0"
# when the registry answers that the repository is unknown); fails, printing
# nothing, when the query itself failed (no answer, a refusal, not JSON).
tag_count() {
    local body code
    body=$(curl -s -w '\n%{http_code}' --cacert "$mirror_CA" -u admin:m1rr0r "https://$mirror_HOST/v2/$1/tags/list") || return 1
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    case $code in
    200) jq -er '.tags // [] | length' <<<"$body" ;;
    404) jq -e '.errors[0].code == "NAME_UNKNOWN"' <<<"$body" >/dev/null && echo 0 ;;
    *) return 1 ;;
    esac
}

# start_apiserver NAME STATE.json: the test Kubernetes API (apiserver.py)
# with its own CA and a bearer token. Sets NAME_URL, NAME_CA, NAME_LOG,
# NAME_TOKEN, NAME_KUBECONFIG (a kubeconfig for it) and NAME_PID.
start_apiserver() {
    local name=$1 port dir="$WORK/api-$1"
    mkdir -p "$dir"
    port=$(free_port)
    make_ca "$name"
    make_server_cert "$name" "$name-server"
    local token="sha256~test-token-$name"
    : >"$dir/log"
    python3 "$E2E_DIR/apiserver.py" "$port" "$WORK/pki/$name-server.crt" "$WORK/pki/$name-server.key" \
        "$token" "$2" "$dir/log" "$WORK/pki/$name-ca.crt" 2>"$dir/err" &
    PIDS+=($!)
    printf -v "${name}_PID" %s "$!"
    wait_port "$port" || { echo "apiserver $name did not start:" >&2; cat "$dir/err" >&2; exit 1; }
    printf -v "${name}_URL" %s "https://127.0.0.1:$port"
    printf -v "${name}_CA" %s "$WORK/pki/$name-ca.crt"
    printf -v "${name}_LOG" %s "$dir/log"
    printf -v "${name}_TOKEN" %s "$token"
    cat >"$dir/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: $(base64 -w0 <"$WORK/pki/$name-ca.crt")
    server: https://127.0.0.1:$port
  name: test-cluster
contexts:
- context:
    cluster: test-cluster
    namespace: default
    user: admin/test-cluster
  name: admin
current-context: admin
preferences: {}
users:
- name: admin/test-cluster
  user:
    token: $token
YAML
    printf -v "${name}_KUBECONFIG" %s "$dir/kubeconfig"
}

# make_client_cert CA NAME: a TLS client certificate (system:admin).
make_client_cert() {
    make_signed_cert "$1" "$2" "/O=system:masters/CN=system:admin" 'extendedKeyUsage=clientAuth\n'
}

# api_get NAME PATH: an object from the test apiserver.
api_get() {
    local url=${1}_URL ca=${1}_CA tok=${1}_TOKEN
    curl -s --cacert "${!ca}" -H "Authorization: Bearer ${!tok}" "${!url}$2"
}
