#!/usr/bin/env bash
# A hostile registry during the export: what it serves cannot grow the
# export past its bounds nor end in a signed bundle the import would refuse,
# cannot hold it with a response that trickles, nor lead it off TLS with a
# redirect or a token service on plain http.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
make_keys export

echo "# an index of hundreds of 4 MiB children (a memory attack)"
start_flaky big src "bigindexx200"
authfile "$big_HOST" tester s3cret "$WORK/big-auth.json"
/usr/bin/time -f %M -o "$WORK/big.rss" "$BUILD/airlock-export" \
    --image "registry.redhat.io/ubi8/ruby-31:latest" \
    --pull-from "registry.redhat.io=$big_HOST" --authfile "$WORK/big-auth.json" \
    --ca-file "$src_CA" --certs-dir "$WORK/none" --sign-key "$WORK/export.key" \
    -o "$WORK/big.tar.zst" 2>"$WORK/big.err"
RC=$?
check_eq "the export fails (exit 1)" 1 "$RC"
check_grep "naming the bound on manifest bytes" \
    "the manifests of this export pass 536870912 bytes, the most one bundle may carry" "$WORK/big.err"
check "and writes no bundle" sh -c "! ls '$WORK' | grep -q '^big.tar.zst'"
children=$(jq -s '[.[] | select(.fault == "bigchild")] | length' "$big_LOG")
check "it stopped reading children at the bound ($children of 200)" test "$children" -ge 120 -a "$children" -le 130
rss=$(tail -n 1 "$WORK/big.rss")
if [ -z "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}${WRAP:-}" ]; then   # sanitizers multiply memory
    check "its memory stayed within the bound (peak $((rss / 1024)) MiB < 640 MiB)" \
        test "$rss" -lt $((640 * 1024))
fi

echo "# an index of children of 4,000 distinct layers each (a planning-time attack)"
start_flaky many src "manylayersx50"
authfile "$many_HOST" tester s3cret "$WORK/many-auth.json"
airlock_export --image "registry.redhat.io/ubi8/ruby-31:latest" \
    --pull-from "registry.redhat.io=$many_HOST" --authfile "$WORK/many-auth.json" \
    --ca-file "$src_CA" --certs-dir "$WORK/none" --sign-key "$WORK/export.key" \
    -o "$WORK/many.tar.zst" 2>"$WORK/many.err"
check_eq "the export fails (exit 1)" 1 "$?"
check_grep "naming the bound on layers an image may name" \
    "its platforms name more than 4096 layers and configs" "$WORK/many.err"
check_eq "it stopped at the second child" 2 \
    "$(jq -s '[.[] | select(.fault == "bigchild")] | length' "$many_LOG")"

# hostile NAME HOST CA ARGS...: exports ruby through HOST (credentials for
# HOST in NAME-auth.json unless ARGS name another --authfile), at most 120 s;
# stderr in NAME.err, exit code in RC, seconds taken in TOOK.
hostile() {
    local name=$1 host=$2 ca=$3
    shift 3
    authfile "$host" tester s3cret "$WORK/$name-auth.json"
    SECONDS=0
    timeout 120 ${WRAP:-} "$BUILD/airlock-export" --image "registry.redhat.io/ubi8/ruby-31:latest" \
        --pull-from "registry.redhat.io=$host" --authfile "$WORK/$name-auth.json" \
        --ca-file "$ca" --certs-dir "$WORK/none" --sign-key "$WORK/export.key" \
        -o "$WORK/$name.tar.zst" "$@" 2>"$WORK/$name.err"
    RC=$?
    TOOK=$SECONDS
}
# no_bundle NAME: neither the bundle nor its partial file exists.
no_bundle() { test ! -e "$WORK/$1.tar.zst" -a ! -e "$WORK/$1.tar.zst.partial"; }
plain_requests() { jq -s '[.[] | select(.plainhttp)] | length' "$1"; }

echo "# a manifest that trickles (a byte every half second): --timeout bounds it as a whole"
start_flaky trk src trickle
hostile trk "$trk_HOST" "$src_CA" --timeout 3 --retries 1
check_eq "the export fails (exit 1)" 1 "$RC"
check "within twice --timeout per try, not a byte a second forever (${TOOK}s)" test "$TOOK" -le 20
check_grep "naming the manifest's URL and --timeout" \
    "'https://$trk_HOST/v2/ubi8/ruby-31/manifests/latest'.*--timeout" "$WORK/trk.err"
check "and writes no bundle" no_bundle trk

echo "# a blob that trickles: broken off below the floor, resumed, then given up"
start_flaky btrk src blobtrickle
hostile btrk "$btrk_HOST" "$src_CA" --timeout 3 --retries 1
check_eq "the export fails (exit 1)" 1 "$RC"
check "in bounded time (${TOOK}s)" test "$TOOK" -le 40
check_grep "naming the blob and the floor" "blob sha256:[0-9a-f]{64}|/blobs/sha256:" "$WORK/btrk.err"
check_grep "and says it was too slow" "slower than|too slow" "$WORK/btrk.err"
check "and writes no bundle" no_bundle btrk

echo "# a manifest redirected to plain http"
start_flaky mhttp src manifesttohttp
hostile mhttp "$mhttp_HOST" "$src_CA"
check_eq "the export fails (exit 1)" 1 "$RC"
check_grep "naming the plain-http URL without its query" \
    "redirect.*'http://127\.0\.0\.1:[0-9]+/cdn/v2/ubi8/ruby-31/manifests/latest'" "$WORK/mhttp.err"
check "and not its query" sh -c "! grep -q X-Signature '$WORK/mhttp.err'"
check_eq "the plain-http URL was never asked" 0 "$(plain_requests "$mhttp_LOG")"
check "and no bundle is written" no_bundle mhttp

echo "# a blob redirected to plain http"
start_flaky bhttp src tohttp
hostile bhttp "$bhttp_HOST" "$src_CA"
check_eq "the export fails (exit 1)" 1 "$RC"
check_grep "naming the plain-http URL" "redirect.*'http://127\.0\.0\.1:[0-9]+/cdn/v2/ubi8/ruby-31/blobs/sha256:[0-9a-f]{64}'" \
    "$WORK/bhttp.err"
check_eq "the plain-http URL was never asked" 0 "$(plain_requests "$bhttp_LOG")"
check "and no bundle is written" no_bundle bhttp

echo "# token services: trickling, redirected to plain http, or named on plain http"
start_token_registry tok tester s3cret
python3 "$E2E_DIR/seed.py" fixtures "$tok_HOST" "$tok_CA" tester s3cret "$WORK/seed-tok.json" "$SHARED" \
    >/dev/null || { echo "seeding the token registry failed" >&2; exit 1; }
start_flaky ttrk tok tokentrickle
hostile ttrk "$ttrk_HOST" "$tok_CA" --timeout 3 --retries 1
check_eq "a trickling token service: the export fails (exit 1)" 1 "$RC"
check "in bounded time (${TOOK}s)" test "$TOOK" -le 20
check_grep "naming the token service and --timeout" "'https://$ttrk_HOST/token'.*--timeout" "$WORK/ttrk.err"
start_flaky thttp tok tokentohttp
hostile thttp "$thttp_HOST" "$tok_CA"
check_eq "a token service redirecting to plain http: exit 1" 1 "$RC"
check_grep "naming the plain-http URL" "redirect.*'http://127\.0\.0\.1:[0-9]+/token'" "$WORK/thttp.err"
check_eq "the plain-http URL was never asked" 0 "$(plain_requests "$thttp_LOG")"
start_flaky rhttp tok httprealm
echo '{"auths":{}}' >"$WORK/anon-auth.json"
hostile rhttp "$rhttp_HOST" "$tok_CA" --authfile "$WORK/anon-auth.json"
check_eq "a token service on plain http, even for an anonymous token: exit 1" 1 "$RC"
check_grep "naming it" "plain-http token service 'http://127\.0\.0\.1:[0-9]+/token'" "$WORK/rhttp.err"
hostile rhttp2 "$rhttp_HOST" "$tok_CA"
check_eq "and with credentials: exit 1" 1 "$RC"
check_eq "it was never asked" 0 "$(plain_requests "$rhttp_LOG")"

e2e_finish
