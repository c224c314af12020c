#!/usr/bin/env bash
# The operator's tools: --list of a bundle, the dry runs of export and
# import (which change nothing), early checks of -o, messages for files
# that are not bundles.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
start_mirror
make_keys export other
SRC=(--pull-from "registry.redhat.io=$src_HOST" --pull-from "registry.access.redhat.com=$src_HOST"
    --pull-from "quay.io=$src_HOST" --authfile "$WORK/src-auth.json" --ca-file "$src_CA"
    --certs-dir "$WORK/none")
MIRROR=(--authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none")
cat >"$WORK/cm.json" <<JSON
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "imagestreamtag-to-image"},
 "data": {"ruby_3.1-ubi8": "registry.redhat.io/ubi8/ruby-31:latest",
          "python_3.9-ubi8": "registry.redhat.io/ubi8/python-39:latest",
          "nodejs_16-ubi8": "registry.access.redhat.com/ubi8/nodejs-16:1",
          "gone_1-ubi8": "registry.redhat.io/ubi8/no-such-image:1"}}
JSON
INPUTS=(--samples-configmap "$WORK/cm.json" --release quay.io/openshift-release-dev/ocp-release:4.12.0-x86_64)
# run_export NAME ARGS...: stdout in NAME.out, stderr in NAME.err, code in RC
run_export() {
    local name=$1
    shift
    airlock_export "${SRC[@]}" --sign-key "$WORK/export.key" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    RC=$?
}
run_import() {
    local name=$1
    shift
    airlock_import "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    RC=$?
}
meta() { zstd -dc "$1" | tar -xOf - bundle.json; }

run_export full "${INPUTS[@]}" -o "$WORK/full.tar.zst"
check_eq "the export (one image missing at the source) exits 3" 3 "$RC"
meta "$WORK/full.tar.zst" >"$WORK/full.json"

echo "# --list"
run_import list --list "$WORK/full.tar.zst" --json
check_eq "--list --json exits 0 without a key" 0 "$RC"
check_eq "it names every image and digest of bundle.json" \
    "$(jq -c '[.images[] | [.name, .digest]] | sort' "$WORK/full.json")" \
    "$(jq -c '[.images[] | [.name, .digest]] | sort' "$WORK/list.out")"
check_eq "and the bundle id" "$(jq -r .id "$WORK/full.json")" "$(jq -r .bundle_id "$WORK/list.out")"
check_eq "it says the signature was not verified, naming the key" \
    "false $(openssl pkey -pubin -in "$WORK/export.pub" -outform DER | sha256sum | cut -c1-16)" \
    "$(jq -r '"\(.signature.verified) \(.signature.key_id)"' "$WORK/list.out")"
check_eq "it lists the failed image with its reason" \
    "$(jq -c '[.failed[] | [.name, .reason]]' "$WORK/full.json")" \
    "$(jq -c '[.failed[] | [.name, .reason]]' "$WORK/list.out")"
check_eq "totals: the carried blobs and their bytes" \
    "$(jq -c '[(.blobs | length), ([.blobs[].size] | add)]' "$WORK/full.json")" \
    "$(jq -c '[.totals.blobs, .totals.blob_bytes]' "$WORK/list.out")"
check_eq "the release and must-gather" \
    "$(jq -c '[.release.pull_spec, .release.must_gather.pull_spec]' "$WORK/full.json")" \
    "$(jq -c '[.release.pull_spec, .must_gather]' "$WORK/list.out")"
check_eq "the ruby index carries two platforms" 2 \
    "$(jq '.images[] | select(.name | test("ruby-31")) | .platforms' "$WORK/list.out")"
run_import listv --list "$WORK/full.tar.zst" --verify-key "$WORK/export.pub" --json
check_eq "with --verify-key the signature is verified" "0 true" "$RC $(jq .signature.verified "$WORK/listv.out")"
run_import listw --list "$WORK/full.tar.zst" --verify-key "$WORK/other.pub"
check_eq "a bundle signed by another key is refused (exit 4)" 4 "$RC"
check_grep "naming the wrong key" "wrong key" "$WORK/listw.err"
COLUMNS=70 run_import listt --list "$WORK/full.tar.zst"
check_eq "the text listing exits 0" 0 "$RC"
check_grep "it says plainly that the signature was not verified" "NOT verified" "$WORK/listt.out"
check_grep "it shows the table" "^IMAGE +DIGEST +TAGS +PLAT +SIZE" "$WORK/listt.out"
check_grep "with the failed image" "no-such-image" "$WORK/listt.out"
check_eq "every line fits in COLUMNS=70" 0 "$(awk 'length > 70' "$WORK/listt.out" | wc -l)"
check_eq "one row per image" "$(jq '.images | length' "$WORK/full.json")" \
    "$(grep -c ' sha256:[0-9a-f]\{12\} ' "$WORK/listt.out")"

# a bundle whose blobs are missing: --list reads no further than bundle.json
zstd -dc "$WORK/full.tar.zst" | head -c 20000 | zstd -q >"$WORK/head.tar.zst"
run_import listh --list "$WORK/head.tar.zst" --verify-key "$WORK/export.pub" --json
check_eq "--list reads only bundle.json: a bundle cut after it is listed" \
    "0 $(jq -r .id "$WORK/full.json")" "$RC $(jq -r .bundle_id "$WORK/listh.out")"

run_export split "${INPUTS[@]}" -o "$WORK/split.tar.zst" --split-size 1M
check_grep "a split export names the file to import" "import '$WORK/split.tar.zst.parts'" "$WORK/split.err"
for f in split.tar.zst.parts split.tar.zst.000; do
    run_import "list-$f" --list "$WORK/$f" --verify-key "$WORK/export.pub" --json
    check_eq "--list of $f" "0 $(meta "$WORK/split.tar.zst.000" 2>/dev/null | jq -r .id)" \
        "$RC $(jq -r .bundle_id "$WORK/list-$f.out")"
done

run_export incr "${INPUTS[@]}" -o "$WORK/incr.tar.zst" --since "$WORK/full.tar.zst"
run_import listi --list "$WORK/incr.tar.zst" --json
check_eq "an increment: what it relies on, and on which bundle" \
    "$(meta "$WORK/incr.tar.zst" | jq -c '[(.relies_on | length), ([.relies_on[].bundle_id] | unique)]')" \
    "$(jq -c '[.relies_on.blobs, .relies_on.bundle_ids]' "$WORK/listi.out")"
check "which is not empty" test "$(jq .relies_on.blobs "$WORK/listi.out")" -gt 0

echo "# import --dry-run changes nothing"
# catalog: the mirror's repositories, one per line; fails when the query does
catalog() {
    curl -sf --cacert "$mirror_CA" -u admin:m1rr0r "https://$mirror_HOST/v2/_catalog" |
        jq -er '.repositories | join(" ")'
}
check_eq "the mirror starts empty (and its catalog can be read)" "" "$(catalog || echo unreadable)"
IMPORT=("$WORK/full.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST" "${MIRROR[@]}" --skip-cluster)
run_import dry "${IMPORT[@]}" --dry-run
check_eq "the dry-run import exits 0" 0 "$RC"
check_eq "it leaves the mirror's catalog empty" "" "$(catalog || echo unreadable)"
check_grep "it says nothing was pushed" "^dry run: nothing was pushed to $mirror_HOST" "$WORK/dry.out"
check_grep "it counts the blobs the mirror lacks" \
    "^would upload: $(jq '[.blobs[] | select(.kind != "manifest")] | length' "$WORK/full.json") blobs" "$WORK/dry.out"
check_grep "and the tags it would create" \
    "tags: $(jq '[.images[] | select(.tag)] | length' "$WORK/full.json") to create, 0 to move, 0 already there" "$WORK/dry.out"
check_grep "naming each" "would create tag $mirror_HOST/ubi8/ruby-31:latest" "$WORK/dry.err"
run_import real "${IMPORT[@]}"
check_eq "the real import then exits 0" 0 "$RC"
check "and fills the catalog" test -n "$(catalog)"
run_import dry2 "${IMPORT[@]}" --dry-run
check_grep "a dry run after it would upload nothing" "^would upload: 0 blobs \\(0 B\\)" "$WORK/dry2.out"
check_grep "and create no tag" "tags: 0 to create, 0 to move, [1-9][0-9]* already there" "$WORK/dry2.out"
python3 "$E2E_DIR/seed.py" update "$src_HOST" "$src_CA" tester s3cret "$WORK/update.json" >/dev/null
run_export moved "${INPUTS[@]}" -o "$WORK/moved.tar.zst"
run_import dry3 "$WORK/moved.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST" \
    "${MIRROR[@]}" --skip-cluster --dry-run
check_grep "after the source changed, a dry run says which tags would move" \
    "would move tag $mirror_HOST/[^ ]+ from sha256:" "$WORK/dry3.err"
check_grep "and counts them" "tags: 0 to create, [1-9][0-9]* to move" "$WORK/dry3.out"

e2e_finish
