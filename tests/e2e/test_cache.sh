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

echo "# a cache entry that changes after it was read"
${CC:-cc} -shared -fPIC -o "$WORK/cache_flip.so" "$E2E_DIR/cache_flip.c" -ldl
LD_PRELOAD="$WORK/cache_flip.so" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
    run_export changing --cache "$WORK/cache"
check_eq "the export exits 0" 0 "$RC"
check "what went into the bundle is what was hashed" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/changing.tar.zst" "$WORK/export.pub" "$WORK/changing.d"
rm -rf "$WORK/cache"
run_export refill --cache "$WORK/cache"
check_eq "a fresh cache is filled again" 0 "$RC"
dl_before=$(downloads)

echo "# a damaged cache entry"
victim=$(ls -S "$WORK/cache/sha256" | head -1)
printf 'X' | dd of="$WORK/cache/sha256/$victim" bs=1 seek=100 conv=notrunc status=none
run_export third --cache "$WORK/cache"
check_eq "an entry whose bytes changed fails the export" 1 "$RC"
check_grep "naming the entry and what to do" "cached blob sha256:$victim in '$WORK/cache/sha256/$victim' does not match its digest.*removed.*run the export again" "$WORK/third.err"
check "no bundle is written" test ! -e "$WORK/third.tar.zst"
check "the entry is gone" test ! -e "$WORK/cache/sha256/$victim"
run_export third --cache "$WORK/cache"
check_eq "the next run exits 0" 0 "$RC"
check_eq "downloading only that blob again" "$((dl_before + 1))" "$(downloads)"
check_eq "and the cache entry is good again" "$victim" "$(sha256sum "$WORK/cache/sha256/$victim" | cut -d' ' -f1)"
head -c 1000 "$WORK/cache/sha256/$victim" >"$WORK/short" && cat "$WORK/short" >"$WORK/cache/sha256/$victim"
run_export shortentry --cache "$WORK/cache"
check_eq "a truncated entry (the wrong size) is fetched again: exit 0" 0 "$RC"
check_grep "and reported" "cached blob sha256:$victim has the wrong size: fetching it again" "$WORK/shortentry.err"

echo "# a cache directory that is not this user's alone"
mkdir -p "$WORK/cache-nobody" && chown nobody "$WORK/cache-nobody"
run_export nobodys --cache "$WORK/cache-nobody"
check_eq "a cache of another user's is refused" 1 "$RC"
check_grep "naming it and what to do" "cache '$WORK/cache-nobody' belongs to another user.*" "$WORK/nobodys.err"
mkdir -p "$WORK/cache-open" && chmod 0777 "$WORK/cache-open"
run_export open --cache "$WORK/cache-open"
check_eq "a cache writable by others is refused" 1 "$RC"
check_grep "naming it" "cache '$WORK/cache-open' is writable by group or others.*chmod go-w" "$WORK/open.err"
mkdir -p "$WORK/elsewhere" "$WORK/cache-link"
head -c 2M /dev/urandom >"$WORK/elsewhere/precious"
ln -s "$WORK/elsewhere" "$WORK/cache-link/sha256"
run_export linked --cache "$WORK/cache-link" --cache-max 1
check "trimming never follows sha256/ out of the cache" test -s "$WORK/elsewhere/precious"
check_eq "such a cache is refused" 1 "$RC"
check_grep "naming the link" "'$WORK/cache-link/sha256' is not a directory" "$WORK/linked.err"
rm "$WORK/cache-link/sha256" && mkdir "$WORK/cache-link/sha256"
ln -s "$WORK/elsewhere/precious" "$WORK/cache-link/sha256/$victim"
run_export linkentry --cache "$WORK/cache-link" --cache-max 1
check_eq "a link as an entry is not used (exit 0)" 0 "$RC"
check "nor is its target removed" test -s "$WORK/elsewhere/precious"

echo "# --cache-max"
run_export fourth --cache "$WORK/cache" --cache-max 1M
check_eq "exit 0" 0 "$RC"
check "the cache is within 1 MiB afterwards" test "$(du -sb "$WORK/cache/sha256" | cut -f1)" -le $((1024 * 1024 + 4096))
run_export bad --cache-max 1M
check_eq "--cache-max without --cache is a usage error" 2 "$RC"

e2e_finish
