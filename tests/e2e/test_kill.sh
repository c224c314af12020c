#!/usr/bin/env bash
# kill -9 (no chance to clean up) at several points: an export never leaves
# a file named like a finished bundle, and an import completes on the next run.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
start_mirror
start_redirector slow src tester s3cret 0.05
authfile "$slow_HOST" tester s3cret "$WORK/slow-auth.json"
make_keys export
EXPORT=("$BUILD/airlock-export" --image registry.redhat.io/ubi8/nodejs-16:1 --image registry.redhat.io/ubi8/ruby-31:latest
        --pull-from "registry.redhat.io=$slow_HOST" --authfile "$WORK/slow-auth.json" --ca-file "$src_CA"
        --certs-dir "$WORK/none" --sign-key "$WORK/export.key")

# size_over FILE BYTES: FILE exists and is larger than BYTES
size_over() { [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -gt "$2" ]; }
# partial_over BYTES: the export's partial file (a random suffix) is larger
partial_over() {
    local f
    for f in "$WORK"/k.tar.zst.partial*; do
        size_over "$f" "$1" && return 0
    done
    return 1
}
# kill_at WHAT PID COMMAND...: once COMMAND succeeds (an observed point of
# the run), kill -9 PID; checks that the point was reached while PID ran,
# and that PID died by the signal (wait status 128 + 9).
kill_at() {
    local what=$1 pid=$2 rc
    shift 2
    if wait_for 120 "$@" && kill -9 "$pid" 2>/dev/null; then
        ok "$what: reached while running"
    else
        not_ok "$what: reached while running" "command: $*"
    fi
    wait "$pid"
    rc=$?
    check_eq "$what: killed by SIGKILL" 137 "$rc"
}

echo "# kill -9 of the export at several points"
# resolving (before any blob), writing (the partial file begun), and 1 MiB
# into the partial file (half way through the 6 MiB nodejs layer)
for point in resolving writing 1MiB; do
    "${EXPORT[@]}" -o "$WORK/k.tar.zst" 2>"$WORK/k-$point.err" &
    pid=$!
    case $point in
    resolving) kill_at "export at '$point'" $pid grep -q "resolving" "$WORK/k-$point.err" ;;
    writing) kill_at "export at '$point'" $pid grep -q "writing" "$WORK/k-$point.err" ;;
    1MiB) kill_at "export at 1 MiB written" $pid partial_over 1048576 ;;
    esac
    check "killed at $point: no file named like a finished bundle" test ! -e "$WORK/k.tar.zst"
    rm -f "$WORK"/k.tar.zst.partial*
done
touch "$WORK/k.tar.zst.partial.Xq3bZ9"   # as a kill -9 at any moment may leave one
"${EXPORT[@]}" -o "$WORK/k.tar.zst" 2>/dev/null
check_eq "the next export completes" 0 "$?"
check "the next export to that file removes the temporaries killed runs left" \
    sh -c "! ls '$WORK' | grep -q '^k.tar.zst.partial'"
check "and its bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/k.tar.zst" "$WORK/export.pub" "$WORK/k.d"

echo "# kill -9 of the import at several points"
# the bundle trusted (pushing begins), the first progress line, and a blob
# of the bundle in the mirror under the path
mirror_has_blob() {
    find "$mirror_DIR/data/docker/registry/v2/repositories/killed" -path '*/_layers/sha256/*/link' 2>/dev/null | grep -q .
}
for point in blob trusted progress; do
    "$BUILD/airlock-import" - --verify-key "$WORK/export.pub" --registry "$mirror_HOST/killed" \
        --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" --skip-cluster \
        < <(slow_cat "$WORK/k.tar.zst" 0.03) >/dev/null 2>"$WORK/i-$point.err" &
    pid=$!
    case $point in
    trusted) kill_at "import once the bundle is trusted" $pid grep -q "signed by key" "$WORK/i-$point.err" ;;
    progress) kill_at "import at its first progress line" $pid grep -q "% verified and pushed" "$WORK/i-$point.err" ;;
    blob) kill_at "import with a blob in the mirror" $pid mirror_has_blob ;;
    esac
done
airlock_import "$WORK/k.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST/killed" \
    --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" --skip-cluster \
    >"$WORK/resumed.out" 2>/dev/null
check_eq "the next import completes" 0 "$?"
check_grep "landing both images" "images: 2 landed" "$WORK/resumed.out"
mkdir -p "$WORK/certs" && cp "$mirror_CA" "$WORK/certs/ca.crt"
check_eq "ruby in the mirror has the source digest" "$(jq -r '.images["ubi8/ruby-31:latest"]' "$WORK/seed.json")" \
    "sha256:$(set -o pipefail; skopeo inspect --raw --creds admin:m1rr0r --cert-dir "$WORK/certs" \
        "docker://$mirror_HOST/killed/ubi8/ruby-31:latest" | sha256_of)"

e2e_finish
