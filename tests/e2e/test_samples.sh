#!/usr/bin/env bash
# The real OpenShift samples at full scale: every image that the x86_64
# samples ConfigMap and imagestreams in ../shared/samples name is seeded (as a
# small image) into a real registry, and exported from both inputs at once.
# Also: interrupting an export removes its partial file.
source "$(dirname "$0")/lib.sh"
e2e_init

CM="$SHARED/samples/imagestreamtag-to-image.json"
start_registry src tester s3cret
python3 "$E2E_DIR/seed.py" samples "$src_HOST" "$src_CA" tester s3cret "$WORK/seed.json" \
    "$CM" "$SHARED/samples/ocp-x86_64" || { echo "seeding failed" >&2; exit 1; }
jq -s '{apiVersion: "v1", kind: "List", items: .}' "$SHARED"/samples/ocp-x86_64/*.json >"$WORK/is.json"
authfile "$src_HOST" tester s3cret "$WORK/auth.json"
openssl genpkey -algorithm ed25519 -out "$WORK/export.key" 2>/dev/null
openssl pkey -in "$WORK/export.key" -pubout -out "$WORK/export.pub"
COMMON=(--pull-from "registry.redhat.io=$src_HOST" --pull-from "registry.access.redhat.com=$src_HOST"
        --authfile "$WORK/auth.json" --ca-file "$src_CA" --certs-dir "$WORK/none"
        --sign-key "$WORK/export.key")

echo "# the samples operator's ConfigMap and imagestreams together"
airlock_export --samples-configmap "$CM" --imagestreams "$WORK/is.json" "${COMMON[@]}" \
    -o "$WORK/samples.tar.zst" 2>"$WORK/samples.err"
check_eq "exit 0" 0 "$?"
check "the bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/samples.tar.zst" "$WORK/export.pub" "$WORK/samples.d"
meta() { jq -r "$1" "$WORK/samples.d/bundle.json"; }
unique_images=$(jq -r 'keys | length' "$WORK/seed.json")
check_eq "every distinct image once" "$unique_images" "$(meta '.images | length')"
check_eq "all 292 imagestream tags served" 292 "$(meta '[.images[].tags[]] | length')"
check_eq "the jenkins imagestreams (absent from the ConfigMap) are included" 1 \
    "$(meta '[.images[].tags[] | select(startswith("jenkins:"))] | length > 0 | if . then 1 else 0 end')"
jq -s '[.[] | .metadata.name as $s | .spec.tags[] | select(.from.kind == "ImageStreamTag") | "\($s):\(.name)"]' \
    "$SHARED"/samples/ocp-x86_64/*.json >"$WORK/aliases.json"
check_eq "the input has 21 aliases" 21 "$(jq length "$WORK/aliases.json")"
check_eq "the 21 aliases ride on the images of the bundle" 21 \
    "$(jq --slurpfile a "$WORK/aliases.json" '[.images[].tags[]] as $t | [$a[0][] | select(. as $x | $t | index([$x]))] | length' \
        "$WORK/samples.d/bundle.json")"
# each loop below prints "same" per image whose digest matches: a loop that
# ran fewer times (or not at all) does not pass
check_eq "digests are the registry's" "$(meta '.images | length')" \
    "$(meta '.images[] | "\(.pull_spec) \(.digest)"' | while read -r spec d; do
           want=$(jq -r --arg s "$spec" '.[$s] // .[$s + ":latest"] // empty' "$WORK/seed.json")
           [ -z "$want" ] || [ "$want" != "$d" ] || echo same; done | grep -c same)"
check_eq "layers: the shared base once, plus one per image" "$((unique_images + 1))" \
    "$(meta '[.blobs[] | select(.kind == "layer")] | length')"

echo "# the same files read from a release's cluster-samples-operator image"
python3 "$E2E_DIR/seed.py" samples-release "$src_HOST" "$src_CA" tester s3cret "$WORK/release.json" \
    "$SHARED" "$SHARED/samples/ocp-x86_64" || { echo "seeding the release failed" >&2; exit 1; }
airlock_export --imagestreams "$WORK/is.json" "${COMMON[@]}" -o "$WORK/is.tar.zst" 2>"$WORK/is.err"
check_eq "--imagestreams alone: exit 0" 0 "$?"
airlock_export --release quay.io/openshift-release-dev/ocp-release:4.12.0-x86_64 \
    --pull-from "quay.io=$src_HOST" "${COMMON[@]}" -o "$WORK/release.tar.zst" 2>"$WORK/release.err"
check_eq "--release alone: exit 0" 0 "$?"
for b in is release; do
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/$b.tar.zst" "$WORK/export.pub" "$WORK/$b.d" >/dev/null 2>&1 ||
        not_ok "the $b bundle passes the independent check"
done
images_of() {
    jq -c '[.images[] | select(.role == "samples") | {name, digest, tags: (.tags | sort)}] | sort_by(.name)' \
        "$WORK/$1.d/bundle.json"
}
check_eq "exactly the images and tags that --imagestreams with the same files gives" \
    "$(images_of is)" "$(images_of release)"
check_eq "all 292 tags of the 50 imagestreams" "50 292 292" \
    "$(jq -r '"\(.release.samples.imagestreams) \(.release.samples.tags) \([.images[].tags[]] | length)"' "$WORK/release.d/bundle.json")"
check_eq "and must-gather" "$(jq -r .must_gather "$WORK/release.json")" \
    "$(jq -r '.images[] | select(.role == "must-gather") | .digest' "$WORK/release.d/bundle.json")"

echo "# the whole samples bundle into a mirror"
start_registry mirror admin m1rr0r
authfile "$mirror_HOST" admin m1rr0r "$WORK/mirror-auth.json"
MIRROR=(--registry "$mirror_HOST" --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA"
        --certs-dir "$WORK/none")
airlock_import "$WORK/samples.tar.zst" --verify-key "$WORK/export.pub" "${MIRROR[@]}" \
    >"$WORK/import.out" 2>"$WORK/import.err"
check_eq "import exits 0" 0 "$?"
check_grep "every image landed" "images: $(meta '.images | length') landed in $mirror_HOST, 0 failed" "$WORK/import.out"
check_grep "the shared base layer was uploaded once and mounted everywhere else" \
    "blobs: $((unique_images * 2 + 1)) pushed .*too: $(($(meta '[.images[].repository] | unique | length') - 1)) mounted" \
    "$WORK/import.out"
# Every tag, read back over plain HTTP with curl: the digest the mirror
# serves is the source's.
check_eq "every mirror tag serves the source digest" "$(meta '.images | length')" \
    "$(meta '.images[] | "\(.repository):\(.tag) \(.digest)"' | while read -r ref d; do
           got=$(curl -sI --cacert "$mirror_CA" -u admin:m1rr0r \
               -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
               -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
               "https://$mirror_HOST/v2/${ref%%:*}/manifests/${ref#*:}" |
               tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
           [ -z "$got" ] || [ "$got" != "$d" ] || echo same; done | grep -c same)"
airlock_import "$WORK/samples.tar.zst" --verify-key "$WORK/export.pub" "${MIRROR[@]}" \
    >"$WORK/again.out" 2>"$WORK/again.err"
check_eq "a re-run exits 0" 0 "$?"
check_grep "and pushes nothing" "blobs: 0 pushed \(0 B\), 0 mounted" "$WORK/again.out"

echo "# an interrupted export leaves nothing behind"
start_redirector slow src tester s3cret 0.2
authfile "$slow_HOST" tester s3cret "$WORK/slow-auth.json"
# the program itself in the background (not a shell function), to signal it
"$BUILD/airlock-export" --samples-configmap "$CM" --pull-from "registry.redhat.io=$slow_HOST" \
    --pull-from "registry.access.redhat.com=$slow_HOST" --authfile "$WORK/slow-auth.json" \
    --ca-file "$src_CA" --certs-dir "$WORK/none" --sign-key "$WORK/export.key" \
    -o "$WORK/int.tar.zst" 2>"$WORK/int.err" &
pid=$!
check "the export was writing when interrupted" \
    wait_for 60 sh -c "ls '$WORK' | grep -q '^int.tar.zst.partial' && grep -q writing '$WORK/int.err'"
check "it was still running then" kill -TERM "$pid"
wait "$pid"
check_eq "SIGTERM exits 143" 143 "$?"
check "SIGTERM removes the partial file" sh -c "! ls '$WORK' | grep -q '^int.tar.zst.partial'"
check "SIGTERM leaves no bundle" test ! -e "$WORK/int.tar.zst"

e2e_finish
