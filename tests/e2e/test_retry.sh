#!/usr/bin/env bash
# Transient failures: a registry that answers 500, 502, 503 and 429 and
# then recovers, and one that cuts every blob download half way. The export
# and the import still complete, with every digest right; a registry that
# stays down fails with a clear message and no bundle.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
start_mirror
make_keys export
export_via() { # NAME HOST [ARGS...]
    local name=$1 host=$2
    shift 2
    authfile "$host" tester s3cret "$WORK/$name-auth.json"
    airlock_export --image "registry.redhat.io/ubi8/nodejs-16:1" --image "registry.redhat.io/ubi8/ruby-31:latest" \
        --pull-from "registry.redhat.io=$host" --authfile "$WORK/$name-auth.json" --ca-file "$src_CA" \
        --certs-dir "$WORK/none" --sign-key "$WORK/export.key" -o "$WORK/$name.tar.zst" "$@" \
        2>"$WORK/$name.err"
    RC=$?
}
seed() { jq -r "$1" "$WORK/seed.json"; }
meta_digest() {
    zstd -dc "$WORK/$1.tar.zst" | tar -xOf - bundle.json |
        jq -r --arg n "$2" '.images[] | select(.name == $n) | .digest'
}

echo "# 500, 502, 503, then 429 with Retry-After, then the registry recovers"
start_flaky busy src "500x1,502x1,503x1,429x1"
export_via busy "$busy_HOST"
check_eq "the export exits 0" 0 "$RC"
check_eq "the proxy really failed four requests" 4 "$(jq -s '[.[] | select(.fault)] | length' "$busy_LOG")"
check "the bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/busy.tar.zst" "$WORK/export.pub" "$WORK/busy.d"
check_eq "ruby's digest is the source's" "$(seed '.images["ubi8/ruby-31:latest"]')" \
    "$(meta_digest busy registry.redhat.io/ubi8/ruby-31:latest)"

echo "# every blob download cut half way: resumed with Range"
start_flaky cut src "cut"
export_via cut "$cut_HOST"
check_eq "the export exits 0" 0 "$RC"
check "downloads were cut" grep -q '"cut"' "$cut_LOG"
check "and resumed with a Range request" grep -q '"range": "bytes=' "$cut_LOG"
check_grep "the resumption is reported" "broke off after [0-9]+ bytes .*resuming" "$WORK/cut.err"
check "the bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/cut.tar.zst" "$WORK/export.pub" "$WORK/cut.d"
check_eq "nodejs (a 6 MiB layer) arrives intact" "$(seed '.images["ubi8/nodejs-16:1"]')" \
    "$(meta_digest cut registry.redhat.io/ubi8/nodejs-16:1)"

echo "# a resumed download answered with the blob from its start (206, bytes 0-): read past"
start_flaky badrange src "cut,badrange"
export_via badrng "$badrange_HOST"
check_eq "the export exits 0" 0 "$RC"
check "the proxy answered a Range request with the blob from its start" \
    grep -q '"fault": "badrange"' "$badrange_LOG"
check "the bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/badrng.tar.zst" "$WORK/export.pub" "$WORK/badrng.d"
check_eq "nodejs (a 6 MiB layer, resumed) arrives intact" "$(seed '.images["ubi8/nodejs-16:1"]')" \
    "$(meta_digest badrng registry.redhat.io/ubi8/nodejs-16:1)"

echo "# a resumed download answered from a later byte than asked for: refused"
start_flaky laterange src "cut,laterange"
export_via laterng "$laterange_HOST"
check_eq "the export fails (exit 1)" 1 "$RC"
check "the proxy asked for a later byte" grep -q '"fault": "laterange"' "$laterange_LOG"
check_grep "naming the range it got, and what to do" \
    "answered the resumed download of blob sha256:[0-9a-f]{64} from byte [1-9][0-9]* with the range 'bytes [1-9][0-9]*-[0-9]+/[0-9]+': refused; run again" \
    "$WORK/laterng.err"
check "and leaves no bundle" sh -c "test ! -e '$WORK/laterng.tar.zst' && ! ls '$WORK' | grep -q '^laterng.tar.zst.partial'"

echo "# a resumed download answered 206 without saying which part: refused"
start_flaky nocr src "cut,nocontentrange"
export_via nocrx "$nocr_HOST"
check_eq "the export fails (exit 1)" 1 "$RC"
check "the proxy dropped a Content-Range" grep -q '"fault": "nocontentrange"' "$nocr_LOG"
check_grep "saying so" "answered the resumed download of blob sha256:[0-9a-f]{64} from byte [1-9][0-9]* with no Content-Range: refused; run again" \
    "$WORK/nocrx.err"

echo "# a registry that stays down"
start_flaky down src "503x1000"
export_via down "$down_HOST" --retries 2
check_eq "the export fails (exit 1)" 1 "$RC"
check_grep "saying the registry is down after the retries" "HTTP 503 after 2 retries: the registry is down or overloaded" "$WORK/down.err"
check "and leaves no bundle" sh -c "test ! -e '$WORK/down.tar.zst' && ! ls '$WORK' | grep -q '^down.tar.zst.partial'"
check_eq "it tried exactly three times" 3 "$(jq -s '[.[] | select(.fault)] | length' "$down_LOG")"

echo "# the import through a flaky mirror"
start_flaky mflaky mirror "503x3,429x1"
authfile "$mflaky_HOST" admin m1rr0r "$WORK/mflaky-auth.json"
airlock_import "$WORK/busy.tar.zst" --verify-key "$WORK/export.pub" --registry "$mflaky_HOST" \
    --authfile "$WORK/mflaky-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" \
    >"$WORK/import.out" 2>"$WORK/import.err"
check_eq "the import exits 0" 0 "$?"
check_grep "and lands both images" "images: 2 landed" "$WORK/import.out"
airlock_export --image "registry.redhat.io/ubi8/ruby-31:latest" --pull-from "registry.redhat.io=$mirror_HOST" \
    --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" \
    --sign-key "$WORK/export.key" -o "$WORK/back.tar.zst" 2>/dev/null
check_eq "ruby reads back from the mirror with the source digest" "$(seed '.images["ubi8/ruby-31:latest"]')" \
    "$(meta_digest back registry.redhat.io/ubi8/ruby-31:latest)"

e2e_finish
