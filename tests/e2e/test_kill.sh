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

echo "# kill -9 of the export at several points"
for delay in 0.2 0.8 1.5; do
    "${EXPORT[@]}" -o "$WORK/k.tar.zst" 2>/dev/null &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    check "killed after ${delay}s: no file named like a finished bundle" test ! -e "$WORK/k.tar.zst"
done
touch "$WORK/k.tar.zst.partial.Xq3bZ9"   # as a kill -9 at any moment may leave one
"${EXPORT[@]}" -o "$WORK/k.tar.zst" 2>/dev/null
check_eq "the next export completes" 0 "$?"
check "the next export to that file removes the temporaries killed runs left" \
    sh -c "! ls '$WORK' | grep -q '^k.tar.zst.partial'"
check "and its bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/k.tar.zst" "$WORK/export.pub" "$WORK/k.d"

echo "# kill -9 of the import at several points"
for delay in 0.5 1.5 2.5; do
    (exec 2>/dev/null; slow_cat "$WORK/k.tar.zst" 0.03 | "$BUILD/airlock-import" - --verify-key "$WORK/export.pub" \
        --registry "$mirror_HOST/killed" --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" \
        --certs-dir "$WORK/none" --skip-cluster >/dev/null 2>&1) &
    pid=$!
    sleep "$delay"
    pkill -9 -f "airlock-import - --verify-key $WORK/export.pub" 2>/dev/null
    wait "$pid" 2>/dev/null
done
airlock_import "$WORK/k.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST/killed" \
    --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" --skip-cluster \
    >"$WORK/resumed.out" 2>/dev/null
check_eq "the next import completes" 0 "$?"
check_grep "landing both images" "images: 2 landed" "$WORK/resumed.out"
mkdir -p "$WORK/certs" && cp "$mirror_CA" "$WORK/certs/ca.crt"
check_eq "ruby in the mirror has the source digest" "$(jq -r '.images["ubi8/ruby-31:latest"]' "$WORK/seed.json")" \
    "sha256:$(skopeo inspect --raw --creds admin:m1rr0r --cert-dir "$WORK/certs" \
        "docker://$mirror_HOST/killed/ubi8/ruby-31:latest" | sha256sum | cut -d' ' -f1)"

e2e_finish
