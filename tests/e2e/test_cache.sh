#!/usr/bin/env bash
# --cache: a second export downloads no blob it already has, a damaged cache
# entry is detected and fetched again, --cache-max bounds the cache, and
# two runs on one cache do not collide.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
make_keys export
# blob downloads go through the redirector, which logs each one
start_redirector cdn src tester s3cret
authfile "$cdn_HOST" tester s3cret "$WORK/auth.json"
run_export() { # NAME ARGS...
    local name=$1
    shift
    airlock_export --image registry.redhat.io/ubi8/nodejs-16:1 --image registry.redhat.io/ubi8/ruby-31:latest \
        --pull-from "registry.redhat.io=$cdn_HOST" --authfile "$WORK/auth.json" --ca-file "$src_CA" \
        --certs-dir "$WORK/none" --sign-key "$WORK/export.key" -o "$WORK/$name.tar.zst" --json "$@" \
        >"$WORK/$name.json" 2>"$WORK/$name.err"
    RC=$?
}
downloads() { grep -c '"cdn"' "$cdn_LOG" || true; }

run_export first --cache "$WORK/cache"
check_eq "the first export exits 0" 0 "$RC"
first=$(downloads)
check "it downloaded the blobs" test "$first" -gt 5
check_eq "and cached each of them under its digest" "$first" "$(ls "$WORK/cache/sha256" | wc -l)"
check "no temporary file is left in the cache" sh -c "! ls '$WORK/cache/tmp' | grep -q ."

run_export second --cache "$WORK/cache"
check_eq "the second export exits 0" 0 "$RC"
check_eq "and downloads nothing" "$first" "$(downloads)"
check_eq "it says so in its summary" "$first" "$(jq .cache_hits "$WORK/second.json")"
check "its bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/second.tar.zst" "$WORK/export.pub" "$WORK/second.d"
check_eq "with the same blobs as the first" "$(zstd -dc "$WORK/first.tar.zst" | tar -tf - | sort | md5sum)" \
    "$(zstd -dc "$WORK/second.tar.zst" | tar -tf - | sort | md5sum)"

echo "# a damaged cache entry"
victim=$(ls -S "$WORK/cache/sha256" | head -1)
printf 'X' | dd of="$WORK/cache/sha256/$victim" bs=1 seek=100 conv=notrunc status=none
run_export third --cache "$WORK/cache"
check_eq "the export still exits 0" 0 "$RC"
check_grep "the damage is reported" "cached blob sha256:$victim is damaged: fetching it again" "$WORK/third.err"
check_eq "only that blob is downloaded again" "$((first + 1))" "$(downloads)"
check_eq "and the cache entry is good again" "$victim" "$(sha256sum "$WORK/cache/sha256/$victim" | cut -d' ' -f1)"

echo "# --cache-max"
run_export fourth --cache "$WORK/cache" --cache-max 1M
check_eq "exit 0" 0 "$RC"
check "the cache is within 1 MiB afterwards" test "$(du -sb "$WORK/cache/sha256" | cut -f1)" -le $((1024 * 1024 + 4096))
run_export bad --cache-max 1M
check_eq "--cache-max without --cache is a usage error" 2 "$RC"

e2e_finish
