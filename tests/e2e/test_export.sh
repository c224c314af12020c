#!/usr/bin/env bash
# airlock-export end to end against a real docker-registry (TLS, htpasswd),
# checked with independent tools: zstd, Python's tarfile, openssl, skopeo.
source "$(dirname "$0")/lib.sh"
e2e_init

start_registry src tester s3cret
python3 "$E2E_DIR/seed.py" fixtures "$src_HOST" "$src_CA" tester s3cret "$WORK/seed.json" "$SHARED" \
    || { echo "seeding failed" >&2; exit 1; }
seed() { jq -r "$1" "$WORK/seed.json"; }
authfile "$src_HOST" tester s3cret "$WORK/auth.json"
openssl genpkey -algorithm ed25519 -out "$WORK/export.key" 2>/dev/null
openssl pkey -in "$WORK/export.key" -pubout -out "$WORK/export.pub"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/ec.key" 2>/dev/null
openssl pkey -in "$WORK/ec.key" -pubout -out "$WORK/ec.pub"
mkdir -p "$WORK/skopeo-certs" && cp "$src_CA" "$WORK/skopeo-certs/ca.crt"
SKOPEO=(skopeo --override-os linux --override-arch amd64)
SKOPEO_SRC=(--creds tester:s3cret --cert-dir "$WORK/skopeo-certs")

cat >"$WORK/cm.json" <<JSON
{"apiVersion": "v1", "kind": "ConfigMap",
 "metadata": {"name": "imagestreamtag-to-image", "namespace": "openshift-cluster-samples-operator"},
 "data": {"ruby_3.1-ubi8": "registry.redhat.io/ubi8/ruby-31:latest",
          "python_3.9-ubi8": "registry.redhat.io/ubi8/python-39:latest",
          "nodejs_16-ubi8": "registry.access.redhat.com/ubi8/nodejs-16:1"}}
JSON
cat >"$WORK/is.json" <<JSON
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "image.openshift.io/v1", "kind": "ImageStream", "metadata": {"name": "python"},
  "spec": {"tags": [
   {"name": "3.9-ubi8", "from": {"kind": "DockerImage", "name": "registry.redhat.io/ubi8/python-39:latest"}},
   {"name": "latest", "from": {"kind": "ImageStreamTag", "name": "3.9-ubi8"}}]}}]}
JSON

PULL=(--pull-from "registry.redhat.io=$src_HOST" --pull-from "registry.access.redhat.com=$src_HOST"
      --pull-from "quay.io=$src_HOST")
COMMON=("${PULL[@]}" --authfile "$WORK/auth.json" --ca-file "$src_CA" --certs-dir "$WORK/none")
RELEASE=quay.io/openshift-release-dev/ocp-release

# run_export NAME ARGS...: runs the export into $WORK/NAME.tar.zst, keeps
# stderr in $WORK/NAME.err and the exit code in $RC.
run_export() {
    local name=$1
    shift
    airlock_export "$@" -o "$WORK/$name.tar.zst" 2>"$WORK/$name.err"
    RC=$?
}
meta() { jq -r "$2" "$WORK/$1.d/bundle.json"; }
unpack() { python3 "$E2E_DIR/verify_bundle.py" "$WORK/$1.tar.zst" "${2:-$WORK/export.pub}" "$WORK/$1.d" >"$WORK/$1.verify" 2>&1; }
no_output() {
    [ ! -e "$WORK/$1.tar.zst" ] && ! compgen -G "$WORK/$1.tar.zst.partial*" >/dev/null
}

echo "# full export: samples ConfigMap + release must-gather + a component"
run_export full --samples-configmap "$WORK/cm.json" --release "$RELEASE:4.12.0-x86_64" \
    --release-component tools "${COMMON[@]}" --sign-key "$WORK/export.key"
check_eq "full export exits 0" 0 "$RC"
check "no partial file is left" sh -c "! ls '$WORK' | grep -q '^full.tar.zst.partial'"
check "the bundle passes the independent check" unpack full
check_grep "verifier says ok" "bundle ok" "$WORK/full.verify"
check_eq "five images" 5 "$(meta full '.images | length')"
check_eq "nothing failed" 0 "$(meta full '.failed | length')"
check_eq "ruby keeps its manifest list digest" "$(seed '.images["ubi8/ruby-31:latest"]')" \
    "$(meta full '.images[] | select(.name == "registry.redhat.io/ubi8/ruby-31:latest") | .digest')"
check_eq "ruby carries the list and both platforms" 3 \
    "$(meta full '.images[] | select(.name == "registry.redhat.io/ubi8/ruby-31:latest") | .manifests | length')"
check_eq "python keeps its OCI index digest" "$(seed '.images["ubi8/python-39:latest"]')" \
    "$(meta full '.images[] | select(.name == "registry.redhat.io/ubi8/python-39:latest") | .digest')"
check_eq "nodejs (registry.access.redhat.com) digest" "$(seed '.images["ubi8/nodejs-16:1"]')" \
    "$(meta full '.images[] | select(.name == "registry.access.redhat.com/ubi8/nodejs-16:1") | .digest')"
check_eq "the ConfigMap key becomes the imagestream tag" "ruby:3.1-ubi8" \
    "$(meta full '.images[] | select(.name == "registry.redhat.io/ubi8/ruby-31:latest") | .tags[0]')"
check_eq "release digest" "$(seed '.images["release:4.12.0-x86_64"]')" "$(meta full .release.digest)"
check_eq "must-gather found in the payload's last layer" \
    "quay.io/openshift-release-dev/ocp-v4.0-art-dev@$(seed '.must_gather["must-gather"]')" \
    "$(meta full .release.must_gather.pull_spec)"
check_eq "must-gather digest recorded with the release" "$(seed '.must_gather["must-gather"]')" \
    "$(meta full .release.must_gather.digest)"
check_eq "must-gather image exported by digest" "$(seed '.must_gather["must-gather"]')" \
    "$(meta full '.images[] | select(.role == "must-gather") | .digest')"
check_eq "--release-component tools" "$(seed '.must_gather.tools')" \
    "$(meta full '.images[] | select(.role == "release:tools") | .digest')"
base_layers=$(zstd -dc "$WORK/full.tar.zst" | tar -tf - | sort | uniq -d | wc -l)
check_eq "every blob is stored once" 0 "$base_layers"
check_eq "bundle.json lists no credentials" "" "$(grep -o 's3cret\|dGVzdGVy' "$WORK/full.d/bundle.json")"
check_grep "summary names the bundle" "wrote '.*full.tar.zst': 5 images" "$WORK/full.err"
# skopeo, a second client, reads the same manifests from the registry...
for img in ubi8/ruby-31:latest ubi8/python-39:latest ubi8/nodejs-16:1; do
    want=$(meta full ".images[] | select(.name | endswith(\"/$img\")) | .digest")
    got=$("${SKOPEO[@]}" inspect --raw "${SKOPEO_SRC[@]}" "docker://$src_HOST/$img" | sha256sum | cut -d' ' -f1)
    check_eq "skopeo sees the registry's $img as the bundle has it" "$want" "sha256:$got"
done
# ...and reads the unpacked bundle as an OCI layout
got=$("${SKOPEO[@]}" inspect --raw "oci:$WORK/full.d:registry.access.redhat.com/ubi8/nodejs-16:1" | sha256sum | cut -d' ' -f1)
check_eq "skopeo reads the unpacked bundle as an OCI layout" "$(seed '.images["ubi8/nodejs-16:1"]')" "sha256:$got"
check "skopeo copies an OCI image out of the unpacked bundle" "${SKOPEO[@]}" copy --quiet \
    "oci:$WORK/full.d:registry.redhat.io/ubi8/python-39:latest" "dir:$WORK/python-dir"

echo "# ECDSA P-256 key, stdin input, imagestreams with an alias, union"
run_export ec --samples-configmap - --imagestreams "$WORK/is.json" "${COMMON[@]}" \
    --sign-key "$WORK/ec.key" <"$WORK/cm.json"
check_eq "ECDSA export exits 0" 0 "$RC"
check "ECDSA signature verifies with openssl" unpack ec "$WORK/ec.pub"
check_eq "ecdsa algorithm recorded" "ecdsa-p256-sha256" "$(jq -r .algorithm "$WORK/ec.d/bundle.json.sig")"
check_eq "union of both inputs: python once" 3 "$(meta ec '.images | length')"
check_eq "alias and ConfigMap tags on one image" "python:3.9-ubi8 python:latest" \
    "$(meta ec '.images[] | select(.name | contains("python")) | .tags | sort | join(" ")')"

echo "# --arch"
run_export amd --samples-configmap "$WORK/cm.json" --arch amd64 "${COMMON[@]}" --sign-key "$WORK/export.key"
check_eq "--arch amd64 exits 0" 0 "$RC"
check "--arch amd64 bundle passes the check" unpack amd
check_eq "one platform kept: ruby's amd64 manifest becomes the image" \
    "$(seed '.images["ubi8/ruby-31:latest@amd64"]')" \
    "$(meta amd '.images[] | select(.name | contains("ruby")) | .digest')"
check_eq "no arm64 layers carried" 0 \
    "$(meta amd '[.images[] | .manifests[] | select(.digest == "'"$(seed '.images["ubi8/ruby-31:latest@arm64"]')"'")] | length')"
RUBY_INDEX=$(seed '.images["ubi8/ruby-31:latest"]')
run_export pinned --image "registry.redhat.io/ubi8/ruby-31@$RUBY_INDEX" --arch amd64 "${COMMON[@]}" \
    --sign-key "$WORK/export.key"
check_eq "an image named by an index's digest, --arch amd64: exit 0" 0 "$RC"
check_grep "saying the mirror gets another digest, and what to do" \
    "is named by the digest of a multi-arch index; with --arch the mirror gets $(seed '.images["ubi8/ruby-31:latest@amd64"]') instead, and pulls by $RUBY_INDEX will not find it there \(leave out --arch" \
    "$WORK/pinned.err"
check "an image named by tag gets no such note" sh -c "! grep -q 'named by the digest' '$WORK/amd.err'"
run_export two --samples-configmap "$WORK/cm.json" --arch amd64,linux/arm64/v8 "${COMMON[@]}" --sign-key "$WORK/export.key"
check_eq "--arch amd64,linux/arm64/v8 exits 0" 0 "$RC"
check "--arch two bundle passes the check" unpack two
py=$(meta two '.images[] | select(.name | contains("python")) | .digest')
check "two of three platforms: a new index" test "$py" != "$(seed '.images["ubi8/python-39:latest"]')"
check_eq "the new index keeps the two original entries" "amd64 arm64" \
    "$(jq -r '[.manifests[].platform.architecture] | join(" ")' "$WORK/two.d/blobs/sha256/${py#sha256:}")"
check_eq "ruby (both platforms wanted) keeps its original list" "$(seed '.images["ubi8/ruby-31:latest"]')" \
    "$(meta two '.images[] | select(.name | contains("ruby")) | .digest')"
run_export multi --release "$RELEASE:4.12.0-multi" --arch arm64 "${COMMON[@]}" --sign-key "$WORK/export.key"
check_eq "multi-arch release with --arch arm64 exits 0" 0 "$RC"
check "multi-arch release bundle passes the check" unpack multi
check_eq "arm64 payload gives the arm64 must-gather" "$(seed '.must_gather["must-gather-arm64"]')" \
    "$(meta multi '.images[] | select(.role == "must-gather") | .digest')"
check_eq "release arch recorded" arm64 "$(meta multi .release.arch)"

echo "# partial: an image the registry does not have"
jq '.data["missing_1"] = "registry.redhat.io/ubi8/missing:1" | .data["bad_ref"] = "NOT A REF"' \
    "$WORK/cm.json" >"$WORK/cm-missing.json"
run_export part --samples-configmap "$WORK/cm-missing.json" "${COMMON[@]}" --sign-key "$WORK/export.key"
check_eq "a missing image exits 3" 3 "$RC"
check "the partial bundle passes the check" unpack part
check_eq "missing images listed as failed" "missing:1 bad:ref" \
    "$(meta part '[.failed[] | .tags[0]] | join(" ")')"
check_eq "the rest exported" 3 "$(meta part '.images | length')"
check_grep "stderr names the missing image" "registry.redhat.io/ubi8/missing:1" "$WORK/part.err"
check_grep "stderr counts the failures" "2 images could not be exported" "$WORK/part.err"

echo "# failures leave no bundle"
run_export nomg --release "$RELEASE:no-such-tag" "${COMMON[@]}" --sign-key "$WORK/export.key"
check_eq "a missing release exits 1" 1 "$RC"
check "a missing release leaves no file" no_output nomg
check_grep "the error names the release" "ocp-release:no-such-tag" "$WORK/nomg.err"
run_export noca --samples-configmap "$WORK/cm.json" "${PULL[@]}" --authfile "$WORK/auth.json" \
    --certs-dir "$WORK/none" --sign-key "$WORK/export.key"
check_eq "an untrusted registry certificate exits 1" 1 "$RC"
check "untrusted certificate: no file" no_output noca
check_grep "the TLS error says what to do" "ca-file" "$WORK/noca.err"
run_export insecure --samples-configmap "$WORK/cm.json" "${PULL[@]}" --authfile "$WORK/auth.json" \
    --certs-dir "$WORK/none" --insecure --sign-key "$WORK/export.key"
check_eq "--insecure skips verification" 0 "$RC"
check_grep "and says so" "warning: --insecure: registries' TLS certificates are NOT verified" \
    "$WORK/insecure.err"
mkdir -p "$WORK/certs.d/$src_HOST" && cp "$src_CA" "$WORK/certs.d/$src_HOST/ca.crt"
run_export certsd --samples-configmap "$WORK/cm.json" "${PULL[@]}" --authfile "$WORK/auth.json" \
    --certs-dir "$WORK/certs.d" --sign-key "$WORK/export.key"
check_eq "a CA in certs.d/<host:port>/ is trusted" 0 "$RC"
authfile "$src_HOST" tester wrong-password "$WORK/bad-auth.json"
run_export badauth --samples-configmap "$WORK/cm.json" "${PULL[@]}" --ca-file "$src_CA" \
    --authfile "$WORK/bad-auth.json" --certs-dir "$WORK/none" --sign-key "$WORK/export.key"
check_eq "wrong credentials: every image fails, exit 1" 1 "$RC"
check "wrong credentials: no file" no_output badauth
check_grep "wrong credentials: the images say access was denied" "denied|unauthorized|credentials" "$WORK/badauth.err"
check_eq "wrong credentials: the password is never printed" "" "$(grep -o 'wrong-password' "$WORK/badauth.err")"
run_export nokey --samples-configmap "$WORK/cm.json" "${COMMON[@]}" --sign-key "$WORK/nope.key"
check_eq "a missing key file exits 1" 1 "$RC"
check_grep "the error names the key file" "nope.key" "$WORK/nokey.err"
check "a missing key leaves no file" no_output nokey
airlock_export --samples-configmap "$WORK/cm.json" "${COMMON[@]}" --sign-key "$WORK/export.key" \
    -o "$WORK/no/such/dir/b.tar.zst" 2>"$WORK/nodir.err"
check_eq "an output directory that does not exist exits 1" 1 "$?"
check_grep "the error names the output" "no/such/dir/b.tar.zst" "$WORK/nodir.err"
echo "previous bundle" >"$WORK/keep.tar.zst"
run_export keep --release "$RELEASE:no-such-tag" "${COMMON[@]}" --sign-key "$WORK/export.key"
check_eq "a failed run leaves an earlier file of that name untouched" "previous bundle" "$(cat "$WORK/keep.tar.zst")"
check "a failed run removes its partial file" sh -c "! ls '$WORK' | grep -q '^keep.tar.zst.partial'"

echo "# one download at a time (--jobs 1): the same blobs in the same order"
run_export serial --samples-configmap "$WORK/cm.json" --release "$RELEASE:4.12.0-x86_64" \
    --release-component tools "${COMMON[@]}" --sign-key "$WORK/export.key" --jobs 1
check_eq "export --jobs 1 exits 0" 0 "$RC"
check "its bundle passes the independent check" unpack serial
check_eq "the tar entries are those of the four-thread export, in the same order" \
    "$(zstd -dc "$WORK/full.tar.zst" | tar -tf - | sha256sum)" \
    "$(zstd -dc "$WORK/serial.tar.zst" | tar -tf - | sha256sum)"

echo "# usage errors exit 2"
airlock_export --samples-configmap "$WORK/cm.json" --sign-key "$WORK/export.key" 2>"$WORK/u1.err"
check_eq "no -o exits 2" 2 "$?"
check_grep "no -o says what to give" "give -o FILE" "$WORK/u1.err"
airlock_export --samples-configmap "$WORK/cm.json" -o "$WORK/u2.tar.zst" 2>"$WORK/u2.err"
check_eq "no --sign-key exits 2" 2 "$?"
check_grep "no --sign-key explains how to make one" "openssl genpkey" "$WORK/u2.err"
airlock_export --bogus 2>/dev/null
check_eq "an unknown option exits 2" 2 "$?"
airlock_export --zstd-level 99 -o x --sign-key y --image z 2>/dev/null
check_eq "a bad --zstd-level exits 2" 2 "$?"
airlock_export --jobs 0 -o x --sign-key y --image z 2>"$WORK/u3.err"
check_eq "--jobs 0 exits 2" 2 "$?"
check_grep "and says what to give" "jobs '0': give a number from 1 to 32" "$WORK/u3.err"
airlock_export --help | grep -q -- "--samples-configmap"
check_eq "--help prints the options" 0 "$?"
check_grep "--version" "airlock-export [0-9]" <(airlock_export --version)
run_export badcm --samples-configmap "$WORK/is.json" "${COMMON[@]}" --sign-key "$WORK/export.key"
check_eq "a document that is not a ConfigMap exits 1" 1 "$RC"
check_grep "the error names the input file" "is.json" "$WORK/badcm.err"

echo "# a registry that serves a blob with the wrong content"
victim=$(meta full '.images[] | select(.name | contains("nodejs")) | .manifests[-1].digest')
layer=$(jq -r '.layers[1].digest' "$WORK/full.d/blobs/sha256/${victim#sha256:}")
hex=${layer#sha256:}
data="$src_DIR/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"
size=$(stat -c %s "$data")
cp "$data" "$WORK/victim.data"
head -c "$size" /dev/zero >"$data"
run_export corrupt --samples-configmap "$WORK/cm.json" "${COMMON[@]}" --sign-key "$WORK/export.key"
check_eq "a corrupted blob exits 1" 1 "$RC"
check "a corrupted blob leaves no file" no_output corrupt
check_grep "the error names the blob and the digest problem" "$layer.*(digest|expected)" "$WORK/corrupt.err"
cp "$WORK/victim.data" "$data"

echo "# ... and a large gzip layer, which a download thread writes into the bundle itself"
big=$(cd "$WORK/full.d/blobs/sha256" && ls -S | head -1)
data="$src_DIR/data/docker/registry/v2/blobs/sha256/${big:0:2}/$big/data"
check "it is a layer of over a MiB" test "$(stat -c %s "$data")" -gt 1048576
printf 'X' | dd of="$data" bs=1 seek=1048000 conv=notrunc status=none
run_export corruptbig --samples-configmap "$WORK/cm.json" "${COMMON[@]}" --sign-key "$WORK/export.key" -j 3
check_eq "a corrupted placed blob exits 1" 1 "$RC"
check "and leaves no file" no_output corruptbig
check_grep "the error names the blob and the digest problem" "sha256:$big.*digest" "$WORK/corruptbig.err"

e2e_finish
