#!/usr/bin/env bash
# airlock-import end to end: a source and a mirror docker-registry, each with
# its own CA and htpasswd users; what lands in the mirror is checked with
# skopeo against the source. Damaged and hostile bundles must be refused
# with no tag created.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
start_mirror
make_keys export other
mkdir -p "$WORK/certs-src" "$WORK/certs-mirror"
cp "$src_CA" "$WORK/certs-src/ca.crt"
cp "$mirror_CA" "$WORK/certs-mirror/ca.crt"
SKOPEO=(skopeo --override-os linux --override-arch amd64)
SRC_OPTS=(--creds tester:s3cret --cert-dir "$WORK/certs-src")
MIRROR_OPTS=(--creds admin:m1rr0r --cert-dir "$WORK/certs-mirror")

cat >"$WORK/cm.json" <<JSON
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "imagestreamtag-to-image"},
 "data": {"ruby_3.1-ubi8": "registry.redhat.io/ubi8/ruby-31:latest",
          "python_3.9-ubi8": "registry.redhat.io/ubi8/python-39:latest",
          "nodejs_16-ubi8": "registry.access.redhat.com/ubi8/nodejs-16:1"}}
JSON
airlock_export --samples-configmap "$WORK/cm.json" \
    --release quay.io/openshift-release-dev/ocp-release:4.12.0-x86_64 \
    --pull-from "registry.redhat.io=$src_HOST" --pull-from "registry.access.redhat.com=$src_HOST" \
    --pull-from "quay.io=$src_HOST" --authfile "$WORK/src-auth.json" --ca-file "$src_CA" \
    --certs-dir "$WORK/none" --sign-key "$WORK/export.key" -o "$WORK/good.tar.zst" -q \
    || { echo "export failed" >&2; exit 1; }
zstd -dc "$WORK/good.tar.zst" | tar -xOf - bundle.json >"$WORK/bundle.json"

MIRROR=(--authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none")
# run_import NAME BUNDLE ARGS...: stdout in NAME.out, stderr in NAME.err, code in RC.
run_import() {
    local name=$1 bundle=$2
    shift 2
    airlock_import "$bundle" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    RC=$?
}
# The mirror name of each image in the bundle: repo:tag or repo@digest.
dest_names() {
    jq -r --arg p "$1" '.images[] | ($p + .repository) + (if .tag then ":" + .tag else "@" + .digest end)' \
        "$WORK/bundle.json"
}
# no_tags PREFIX: no repository of the bundle has a tag under PREFIX; a
# query that fails is not "no tags".
no_tags() {
    local repo tags repos
    repos=$(jq -r '.images[].repository' "$WORK/bundle.json" | sort -u)
    [ -n "$repos" ] || { echo "no repositories in bundle.json" >&2; return 1; }
    for repo in $repos; do
        tags=$(tag_count "$1$repo") || { echo "cannot list the tags of $1$repo" >&2; return 1; }
        [ "$tags" = 0 ] || { echo "tags found in $1$repo" >&2; return 1; }
    done
}
# raw_digest SKOPEO_ARGS...: the hex digest of a manifest as skopeo reads
# it; nothing (and failure) when skopeo fails.
raw_digest() (
    set -o pipefail
    "${SKOPEO[@]}" inspect --raw "$@" | sha256_of
)
# check_digest_eq DESCRIPTION DIGEST DIGEST: both read, and equal
check_digest_eq() {
    if [ -n "$2" ] && [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "digests '$2' and '$3'"; fi
}

echo "# a verified import lands every image, digests unchanged"
run_import first "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" \
    --registry "$mirror_HOST" "${MIRROR[@]}"
check_eq "import exits 0" 0 "$RC"
check_grep "summary names the images" "images: 4 landed in $mirror_HOST, 0 failed" "$WORK/first.out"
check_grep "the shared layers are mounted, not uploaded twice" "[1-9][0-9]* mounted" "$WORK/first.out"
all_same=1
compared=0
while read -r name; do
    compared=$((compared + 1))
    src_name=$(jq -r --arg n "$name" '.images[] | select((.repository + (if .tag then ":" + .tag else "@" + .digest end)) == $n) | .source + (if .tag then ":" + .tag else "@" + .digest end)' "$WORK/bundle.json")
    want=$(raw_digest "${SRC_OPTS[@]}" "docker://$src_name")
    got=$(raw_digest "${MIRROR_OPTS[@]}" "docker://$mirror_HOST/$name")
    if [ -z "$want" ] || [ "$want" != "$got" ]; then
        all_same=0
        echo "# $name: source sha256:$want mirror sha256:$got"
    fi
done < <(dest_names "")
check_eq "skopeo: every mirror digest equals the source's" 1 "$all_same"
check_eq "and every image of the bundle was compared" "$(jq '.images | length' "$WORK/bundle.json")" "$compared"
check "the bundle has images to compare" test "$compared" -gt 0
echo "# no kubeconfig and not in a pod: the images land, and even -q says the cluster was not configured"
mkdir -p "$WORK/nohome"
HOME="$WORK/nohome" KUBECONFIG="" run_import nokube "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" \
    --registry "$mirror_HOST" "${MIRROR[@]}" -q
check_eq "exit 0 (the push was asked for and done)" 0 "$RC"
check_grep "the warning is not silenced by -q" \
    "warning: no kubeconfig and not in a pod: the images will be pushed but the cluster not configured" \
    "$WORK/nokube.err"
echo "# one upload at a time (--jobs 1) lands the same images"
run_import serial "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" \
    --registry "$mirror_HOST/serial" "${MIRROR[@]}" --jobs 1
check_eq "import --jobs 1 exits 0" 0 "$RC"
check_grep "and lands every image" "images: 4 landed in $mirror_HOST, 0 failed" "$WORK/serial.out"
check_digest_eq "ruby has the same digest with one upload thread as with four" \
    "$(raw_digest "${MIRROR_OPTS[@]}" "docker://$mirror_HOST/ubi8/ruby-31:latest")" \
    "$(raw_digest "${MIRROR_OPTS[@]}" "docker://$mirror_HOST/serial/ubi8/ruby-31:latest")"
run_import badjobs "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" \
    --registry "$mirror_HOST" "${MIRROR[@]}" --jobs 99
check_eq "--jobs 99 exits 2" 2 "$RC"

mg=$(jq -r .release.must_gather.digest "$WORK/bundle.json")
check "must-gather lands by digest under its original path" \
    "${SKOPEO[@]}" inspect --raw "${MIRROR_OPTS[@]}" "docker://$mirror_HOST/openshift-release-dev/ocp-v4.0-art-dev@$mg"
check "skopeo copy --all pulls the multi-arch ruby image back out" \
    skopeo copy -q --all --src-creds admin:m1rr0r --src-cert-dir "$WORK/certs-mirror" \
    "docker://$mirror_HOST/ubi8/ruby-31:latest" "oci:$WORK/ruby-oci:ruby"
check_eq "ruby comes back with both platforms" 2 \
    "$(jq -r '.manifests[0].digest' "$WORK/ruby-oci/index.json" | cut -d: -f2 | xargs -I{} jq '.manifests | length' "$WORK/ruby-oci/blobs/sha256/{}")"

echo "# a re-run pushes nothing and succeeds"
run_import again "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" \
    --registry "$mirror_HOST" "${MIRROR[@]}"
check_eq "re-run exits 0" 0 "$RC"
check_grep "no blob pushed" "blobs: 0 pushed \(0 B\), 0 mounted" "$WORK/again.out"
check_grep "no manifest or tag pushed" "manifests: 0 pushed, 9 already there; tags: 0 pushed, 3 already there" "$WORK/again.out"

echo "# --verify-only touches no registry"
run_import verify "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" --verify-only
check_eq "verify-only exits 0" 0 "$RC"
check_grep "verify-only names the signer" "signed by key [0-9a-f]{16}" "$WORK/verify.out"

echo "# standard input, under a path prefix"
run_import stdin - --verify-key "$WORK/export.pub" --registry "$mirror_HOST/fromstdin" \
    "${MIRROR[@]}" <"$WORK/good.tar.zst"
check_eq "import from standard input exits 0" 0 "$RC"
check "ruby under the prefix" "${SKOPEO[@]}" inspect --raw "${MIRROR_OPTS[@]}" \
    "docker://$mirror_HOST/fromstdin/ubi8/ruby-31:latest"

echo "# refused bundles leave no tag"
bad() { # bad NAME EXPECTED_MESSAGE BUNDLE [ARGS...]
    local name=$1 msg=$2 bundle=$3
    shift 3
    run_import "$name" "$bundle" --registry "$mirror_HOST/$name" "${MIRROR[@]}" "$@"
    check_eq "$name: exit 4" 4 "$RC"
    check_grep "$name: says why" "$msg" "$WORK/$name.err"
    check "$name: no tag in the mirror" no_tags "$name/"
}
bad wrongkey "wrong key" "$WORK/good.tar.zst" --verify-key "$WORK/other.pub"
size=$(stat -c %s "$WORK/good.tar.zst")
cp "$WORK/good.tar.zst" "$WORK/flipped.tar.zst"
printf '\xff' | dd of="$WORK/flipped.tar.zst" bs=1 seek=$((size / 2)) conv=notrunc status=none
bad flipped "corrupt" "$WORK/flipped.tar.zst" --verify-key "$WORK/export.pub"
head -c $((size * 3 / 4)) "$WORK/good.tar.zst" >"$WORK/truncated.tar.zst"
bad truncated "truncated" "$WORK/truncated.tar.zst" --verify-key "$WORK/export.pub"
for kind in tamper-json dotdot symlink unlisted tar-trailer two-frames two-frames-aligned duplicate short-blob huge-json; do
    python3 "$E2E_DIR/craft_bundle.py" "$kind" "$WORK/good.tar.zst" "$WORK/$kind.tar.zst"
done
bad tamper-json "bad signature" "$WORK/tamper-json.tar.zst" --verify-key "$WORK/export.pub"
bad dotdot "entry '../evil' has an unsafe name" "$WORK/dotdot.tar.zst" --verify-key "$WORK/export.pub"
bad symlink "entry 'blobs/sha256/link' is a symbolic link" "$WORK/symlink.tar.zst" --verify-key "$WORK/export.pub"
bad unlisted "is not listed in bundle.json" "$WORK/unlisted.tar.zst" --verify-key "$WORK/export.pub"
bad tar-trailer "data after the end of the archive" "$WORK/tar-trailer.tar.zst" --verify-key "$WORK/export.pub"
bad two-frames "data after the end of its zstd stream" "$WORK/two-frames.tar.zst" --verify-key "$WORK/export.pub"
bad two-frames-aligned "data after the end of its zstd stream" "$WORK/two-frames-aligned.tar.zst" --verify-key "$WORK/export.pub"
bad duplicate "appears twice" "$WORK/duplicate.tar.zst" --verify-key "$WORK/export.pub"
bad short-blob "bytes but bundle.json says" "$WORK/short-blob.tar.zst" --verify-key "$WORK/export.pub"
bad huge-json "'bundle.json' declares 67108865 bytes, more than the" "$WORK/huge-json.tar.zst" --verify-key "$WORK/export.pub"
for kind in bomb-size bomb-unlisted many-entries deep json-last missing-blob; do
    python3 "$E2E_DIR/craft_bundle.py" "$kind" "$WORK/good.tar.zst" "$WORK/$kind.tar.zst"
done
for kind in ghost-manifest ghost-blob header-media-type; do   # signed by our key: a signer who lies
    python3 "$E2E_DIR/craft_bundle.py" "$kind" "$WORK/good.tar.zst" "$WORK/$kind.tar.zst" "$WORK/export.key"
done
bad bomb-size "has 1099511627776 bytes but bundle.json says" "$WORK/bomb-size.tar.zst" --verify-key "$WORK/export.pub"
bad bomb-unlisted "is not listed in bundle.json" "$WORK/bomb-unlisted.tar.zst" --verify-key "$WORK/export.pub"
timeout 120 /usr/bin/time -f %M -o "$WORK/bomb.rss" "$BUILD/airlock-import" "$WORK/bomb-size.tar.zst" \
    --verify-key "$WORK/export.pub" --verify-only 2>/dev/null
check_eq "a 1 TiB entry (256 MiB of zeros in a few KiB) is refused, not read" 4 "$?"
check "in bounded memory (under 64 MiB)" test "$(tail -1 "$WORK/bomb.rss")" -lt 65536
bad many-entries "is not listed in bundle.json" "$WORK/many-entries.tar.zst" --verify-key "$WORK/export.pub"
bad deep "has an unsafe name" "$WORK/deep.tar.zst" --verify-key "$WORK/export.pub"
bad json-last "expected 'bundle.json' but found" "$WORK/json-last.tar.zst" --verify-key "$WORK/export.pub"
bad missing-blob "is out of order" "$WORK/missing-blob.tar.zst" --verify-key "$WORK/export.pub"
bad ghost-manifest "names manifest sha256:e{64}, which is not among the bundle's manifests" \
    "$WORK/ghost-manifest.tar.zst" --verify-key "$WORK/export.pub"
bad ghost-blob "ends after [0-9]+ of its [0-9]+ blobs" "$WORK/ghost-blob.tar.zst" --verify-key "$WORK/export.pub"
bad header-media-type "bundle.json gives it the media type .*, which is not the manifest's own" \
    "$WORK/header-media-type.tar.zst" --verify-key "$WORK/export.pub"
# altered at the same size: only the digest compare can tell (issue 16)
for kind in manifest-child manifest-index manifest-root blob-same-size; do
    python3 "$E2E_DIR/craft_bundle.py" "$kind" "$WORK/good.tar.zst" "$WORK/$kind.tar.zst"
    python3 "$E2E_DIR/craft_bundle.py" "$kind" "$WORK/good.tar.zst" "$WORK/$kind-resigned.tar.zst" "$WORK/export.key"
    for b in "$kind" "$kind-resigned"; do
        bad "$b" "(blob|manifest) sha256:[0-9a-f]{64} is corrupt" "$WORK/$b.tar.zst" --verify-key "$WORK/export.pub"
        run_import "$b-verify" "$WORK/$b.tar.zst" --verify-key "$WORK/export.pub" --verify-only
        check_eq "$b: --verify-only refuses it too (exit 4)" 4 "$RC"
    done
done
cat "$WORK/good.tar.zst" /etc/hostname >"$WORK/appended.tar.zst"
bad appended "data after the end" "$WORK/appended.tar.zst" --verify-key "$WORK/export.pub"
run_import verifybad "$WORK/flipped.tar.zst" --verify-key "$WORK/export.pub" --verify-only
check_eq "--verify-only refuses the flipped bundle with exit 4" 4 "$RC"
run_import repack "$WORK/dotdot.tar.zst" --verify-key "$WORK/export.pub" --verify-only
check_grep "a bundle repacked by another tar still verifies up to the hostile entry" "unsafe name" "$WORK/repack.err"

echo "# signature options"
run_import nokey "$WORK/good.tar.zst" --registry "$mirror_HOST"
check_eq "no --verify-key is a usage error" 2 "$RC"
check_grep "it names the way around" "insecure-skip-signature" "$WORK/nokey.err"
run_import skipsig "$WORK/good.tar.zst" --insecure-skip-signature --verify-only
check_eq "--insecure-skip-signature works" 0 "$RC"
check_grep "with a warning" "warning: --insecure-skip-signature" "$WORK/skipsig.err"
run_import noreg "$WORK/good.tar.zst" --verify-key "$WORK/export.pub"
check_eq "no --registry is a usage error" 2 "$RC"
run_import scheme "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" --registry "https://$mirror_HOST"
check_grep "a URL for --registry is explained" "without a scheme" "$WORK/scheme.err"
run_import missing "$WORK/nonexistent.tar.zst" --verify-key "$WORK/export.pub" --verify-only
check_eq "a missing bundle exits 1" 1 "$RC"
check_grep "and names the file" "cannot open bundle '$WORK/nonexistent.tar.zst'" "$WORK/missing.err"

echo "# TLS and credentials"
run_import noca "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST/noca" \
    --authfile "$WORK/mirror-auth.json" --certs-dir "$WORK/none"
check_eq "an untrusted mirror certificate fails (exit 1)" 1 "$RC"
check_grep "and says how to trust it" "ca-file" "$WORK/noca.err"
authfile "$mirror_HOST" admin wrong "$WORK/wrong-auth.json"
run_import badcreds "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST/badcreds" \
    --authfile "$WORK/wrong-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none"
check_eq "wrong mirror credentials fail (exit 1)" 1 "$RC"
check_grep "and the message says so, naming the auth file" \
    "refused the credentials in '$WORK/wrong-auth.json'" "$WORK/badcreds.err"
check "no password in the messages" sh -c "! grep -q m1rr0r '$WORK/badcreds.err' '$WORK/first.err'"

echo "# an import killed half way completes on the next run"
# The bundle's last piece is held back until the import has gone, so it
# cannot have reached its manifests and tags whenever the TERM lands; TERM
# once the bundle is trusted and a blob has landed (-v: a line a request).
mkfifo "$WORK/killed.fifo"
slow_cat "$WORK/good.tar.zst" 0.05 60 >"$WORK/killed.fifo" &
feeder=$!
"$BUILD/airlock-import" - --verify-key "$WORK/export.pub" --registry "$mirror_HOST/killed" "${MIRROR[@]}" \
    -v <"$WORK/killed.fifo" >"$WORK/killed.out" 2>"$WORK/killed.err" &
pid=$!
check "the import pushed its first blob" \
    wait_for 60 grep -qE "airlock-import: PUT [^ ]*/blobs/uploads/[^ ]*: 201 " "$WORK/killed.err"
check "it was still running then" kill -TERM $pid
wait $pid
RC=$?
wait $feeder
check_eq "the first run was interrupted (SIGTERM: exit 143)" 143 "$RC"
check "it says it was interrupted, not that it finished" sh -c "! grep -q 'images: ' '$WORK/killed.out'"
check "it was stopped while blobs streamed" sh -c "! grep -q 'pushing manifests and tags' '$WORK/killed.err'"
check "the interrupted run left no tag" no_tags "killed/"
run_import resumed "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" \
    --registry "$mirror_HOST/killed" "${MIRROR[@]}"
check_eq "the second run exits 0" 0 "$RC"
check_grep "and lands everything" "images: 4 landed" "$WORK/resumed.out"
check "ruby is there" "${SKOPEO[@]}" inspect --raw "${MIRROR_OPTS[@]}" \
    "docker://$mirror_HOST/killed/ubi8/ruby-31:latest"

echo "# a mirror that refuses cross-repository mounts: the blob is copied within it"
start_redirector nomount mirror admin m1rr0r 0 nomount
authfile "$nomount_HOST" admin m1rr0r "$WORK/nomount-auth.json"
run_import nomount "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" --registry "$nomount_HOST/nomount" \
    --authfile "$WORK/nomount-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none"
check_eq "import through a mount-refusing mirror exits 0" 0 "$RC"
check "the mirror was asked to mount and refused" grep -q mount_refused "$nomount_LOG"
check_grep "nothing counted as mounted, the blobs copied instead" "blobs: [0-9]+ pushed .*too: 0 mounted, [1-9][0-9]* copied" "$WORK/nomount.out"
check_digest_eq "skopeo reads python (which shares the base layer) with the source digest" \
    "$(raw_digest "${SRC_OPTS[@]}" "docker://$src_HOST/ubi8/python-39:latest")" \
    "$(raw_digest "${MIRROR_OPTS[@]}" "docker://$mirror_HOST/nomount/ubi8/python-39:latest")"

echo "# a Bearer-token mirror: mounts ask for push and pull in one token"
start_token_registry tokmirror admin t0ken
authfile "$tokmirror_HOST" admin t0ken "$WORK/tok-auth.json"
run_import token "$WORK/good.tar.zst" --verify-key "$WORK/export.pub" --registry "$tokmirror_HOST" \
    --authfile "$WORK/tok-auth.json" --ca-file "$tokmirror_CA" --certs-dir "$WORK/none"
check_eq "import into a token registry exits 0" 0 "$RC"
check_grep "blobs were mounted there too" "[1-9][0-9]* mounted" "$WORK/token.out"
check "a mount token covers two repositories" \
    sh -c "jq -s -e 'map(select(.scope | length == 2)) | length > 0' '$tokmirror_TOKEN_LOG' >/dev/null"
mkdir -p "$WORK/certs-tok" && cp "$tokmirror_CA" "$WORK/certs-tok/ca.crt"
check_digest_eq "skopeo reads ruby from the token mirror with the source digest" \
    "$(raw_digest "${SRC_OPTS[@]}" "docker://$src_HOST/ubi8/ruby-31:latest")" \
    "$(raw_digest --creds admin:t0ken --cert-dir "$WORK/certs-tok" "docker://$tokmirror_HOST/ubi8/ruby-31:latest")"

e2e_finish
