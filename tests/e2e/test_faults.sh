#!/usr/bin/env bash
# Fault injection between airlock and a real registry (authserver.py flaky):
# a download that stalls past --timeout, a Content-Length over or under the
# body, a blob served with the wrong content, and a mirror that answers an
# upload's commit but never makes it. Each ends in success with every digest
# right or in a clear error, never a hang or a wrong image in the mirror;
# and a disk that fills up during the export leaves no bundle.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
start_mirror
make_keys export
seed() { jq -r "$1" "$WORK/seed.json"; }
# export_via NAME HOST [ARGS...]: ruby and nodejs (a 6 MiB layer) through HOST
export_via() {
    local name=$1 host=$2
    shift 2
    authfile "$host" tester s3cret "$WORK/$name-auth.json"
    timeout 300 ${WRAP:-} "$BUILD/airlock-export" --image "registry.redhat.io/ubi8/nodejs-16:1" \
        --image "registry.redhat.io/ubi8/ruby-31:latest" \
        --pull-from "registry.redhat.io=$host" --authfile "$WORK/$name-auth.json" --ca-file "$src_CA" \
        --certs-dir "$WORK/none" --sign-key "$WORK/export.key" -o "$WORK/$name.tar.zst" "$@" \
        2>"$WORK/$name.err"
    RC=$?
}
verified() { python3 "$E2E_DIR/verify_bundle.py" "$WORK/$1.tar.zst" "$WORK/export.pub" "$WORK/$1.d" >/dev/null 2>&1; }
faults() { jq -s --arg f "$2" '[.[] | select(.fault == $f)] | length' "$WORK/$1.log"; }

echo "# a download that stalls longer than --timeout: broken off, resumed"
start_flaky pxstall src stall
SECONDS=0
export_via stall "$pxstall_HOST" --timeout 2
took=$SECONDS
check_eq "the export exits 0" 0 "$RC"
check_eq "the proxy stalled one download" 1 "$(faults pxstall stall)"
check_grep "the stall is reported as such" "broke off .*resuming" "$WORK/stall.err"
check "it did not wait out the 40 s of silence" test "$took" -lt 35
check "the bundle passes the independent check" verified stall

echo "# a Content-Length 100 bytes over the body"
start_flaky pxlonglen src longlen
export_via longlen "$pxlonglen_HOST"
check_eq "the export exits 0 (every byte came, the digest decides)" 0 "$RC"
check_eq "the proxy lied once" 1 "$(faults pxlonglen longlen)"
check "the bundle passes the independent check" verified longlen

echo "# a Content-Length 100 bytes under the body: the rest is fetched with Range"
start_flaky pxshortlen src shortlen
export_via shortlen "$pxshortlen_HOST"
check_eq "the export exits 0" 0 "$RC"
check_eq "the proxy cut one body short" 1 "$(faults pxshortlen shortlen)"
check "the rest was asked for with Range" grep -q '"range": "bytes=' "$WORK/pxshortlen.log"
check "the bundle passes the independent check" verified shortlen

echo "# a blob served with the wrong content"
start_flaky pxwrong src wrongbody
export_via wrong "$pxwrong_HOST"
check_eq "the export fails (exit 1)" 1 "$RC"
check_grep "naming the blob and the digest it got" "blob sha256:[0-9a-f]{64} of .* with digest sha256:" "$WORK/wrong.err"
check "and leaves no bundle" sh -c "test ! -e '$WORK/wrong.tar.zst' && ! ls '$WORK' | grep -q '^wrong.tar.zst.partial'"

echo "# a mirror that accepts an upload and then does not have the blob"
export_via good "$src_HOST"
check_eq "a good bundle to import" 0 "$RC"
start_flaky pxlose mirror lose
authfile "$pxlose_HOST" admin m1rr0r "$WORK/lose-auth.json"
IMPORT=("$WORK/good.tar.zst" --verify-key "$WORK/export.pub" --registry "$pxlose_HOST/lost"
    --authfile "$WORK/lose-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none")
timeout 300 ${WRAP:-} "$BUILD/airlock-import" "${IMPORT[@]}" >"$WORK/lose.out" 2>"$WORK/lose.err"
RC=$?
check_eq "the proxy lost one commit" 1 "$(faults pxlose lose)"
check "the import does not claim success" test "$RC" -ne 0
check_grep "it names the image it could not finish, or the blob the mirror lost" \
    "cannot push .* to .*lost|the mirror lost blob sha256:" "$WORK/lose.err"
lost_repo=$(jq -rs '[.[] | select(.fault == "lose")][0].path' "$WORK/pxlose.log" | sed 's|^/v2/lost/||; s|/blobs/uploads/.*||')
check "the proxy log names the repository of the lost blob" test -n "$lost_repo" -a "$lost_repo" != null
tags=$(tag_count "lost/$lost_repo") || tags="query failed"
check_eq "the image whose blob was lost has no tag in the mirror" 0 "$tags"
timeout 300 ${WRAP:-} "$BUILD/airlock-import" "${IMPORT[@]}" >"$WORK/lose2.out" 2>"$WORK/lose2.err"
check_eq "the next run (the mirror behaves) completes" 0 "$?"
check_grep "and lands both images" "images: 2 landed" "$WORK/lose2.out"

echo "# the disk fills up during the export"
if mkdir -p "$WORK/small" && mount -t tmpfs -o size=3m tmpfs "$WORK/small" 2>/dev/null; then
    export_via full "$src_HOST" -o "$WORK/small/full.tar.zst"
    check_eq "the export fails (exit 1)" 1 "$RC"
    # refused before the download when the free space is known to be short
    # (airlock-export checks it), or when the disk fills up during the export
    check_grep "saying the disk is full and where" \
        "small/full.tar.zst.*No space left on device|not enough space in '$WORK/small'" "$WORK/full.err"
    check_eq "and leaves nothing on that disk" "" "$(ls -A "$WORK/small")"
    umount "$WORK/small"
else
    echo "# skip: cannot mount a small tmpfs here (needs root)"
fi

e2e_finish
