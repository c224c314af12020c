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

run_export full "${INPUTS[@]}" -o "$WORK/full.tar.zst" --cache "$WORK/cache"
check_eq "the export (one image missing at the source) exits 3" 3 "$RC"
meta "$WORK/full.tar.zst" >"$WORK/full.json"

echo "# export --json: the single file's digest (hashed only when someone reads it)"
run_export jsonrun "${INPUTS[@]}" -o "$WORK/json.tar.zst" --cache "$WORK/cache" --json
check_eq "the --json export exits 3 too" 3 "$RC"
check_eq "its summary gives the file's SHA-256" \
    "sha256:$(sha256sum <"$WORK/json.tar.zst" | cut -d' ' -f1)" \
    "$(jq -r '.parts[0].digest' "$WORK/jsonrun.out")"
check_eq "and its size" "$(stat -c %s "$WORK/json.tar.zst")" "$(jq -r '.parts[0].size' "$WORK/jsonrun.out")"

echo "# export --dry-run"
run_export plan "${INPUTS[@]}" -o "$WORK/plan.tar.zst" --dry-run --json
check_eq "the dry-run export exits 3 like the real one" 3 "$RC"
check_eq "its byte total is the real bundle's unique blob bytes" \
    "$(jq '[.blobs[].size] | add' "$WORK/full.json")" "$(jq .blob_bytes "$WORK/plan.out")"
check_eq "and its blob count" "$(jq '.blobs | length' "$WORK/full.json")" "$(jq .blobs "$WORK/plan.out")"
check_eq "it writes nothing where -o points" "" "$(ls "$WORK" | grep '^plan\.tar\.zst')"
check_eq "every byte total has 'bytes' in its key" "[]" \
    "$(jq -c '[to_entries[] | select((.value | type) == "number" and (.key | test("bytes|blobs|images|volumes|hits|relied_on$|seconds") | not)) | .key]' "$WORK/plan.out")"
check "it names the free space where -o goes" test "$(jq .free_bytes "$WORK/plan.out")" -gt 0
run_export planc "${INPUTS[@]}" -o "$WORK/plan.tar.zst" --dry-run --json --cache "$WORK/cache"
check_eq "with --cache: the bytes already there (every layer and config)" \
    "$(jq '[.blobs[] | select(.kind != "manifest") | .size] | add' "$WORK/full.json")" \
    "$(jq .cache_bytes "$WORK/planc.out")"
# --dry-run writes nothing in the cache either: no lock (a nightly run may be
# using it), no entry dropped or touched, nothing created
entry=$(ls "$WORK/cache/sha256" | head -1)
cp -p "$WORK/cache/sha256/$entry" "$WORK/entry.keep"
printf 'short' >"$WORK/cache/sha256/$entry"
touch -d '2001-01-01' "$WORK/cache/sha256/$entry" "$(ls -d "$WORK/cache/sha256/"* | tail -1)"
snapshot() { (cd "$WORK/$1" && find . -printf '%p %s %T@\n' | sort); }
(flock 9; sleep 30) 9>>"$WORK/cache/.lock" &
holder=$!
check "another run holds the cache's lock" wait_for 20 sh -c "! flock -n '$WORK/cache/.lock' true"
snapshot cache >"$WORK/cache.before"
run_export planl "${INPUTS[@]}" -o "$WORK/plan.tar.zst" --dry-run --json --cache "$WORK/cache"
snapshot cache >"$WORK/cache.after"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
check_eq "--dry-run --cache while another run holds the cache: exit 3 as before" 3 "$RC"
check_eq "and the cache is as it was" "$(cat "$WORK/cache.before")" "$(cat "$WORK/cache.after")"
run_export planl2 "${INPUTS[@]}" -o "$WORK/plan.tar.zst" --dry-run --json --cache "$WORK/cache"
check_eq "the same with the cache free: exit 3" 3 "$RC"
check_eq "the entry of the wrong size is kept and no time is touched" "$(cat "$WORK/cache.before")" \
    "$(snapshot cache)"
run_export plann "${INPUTS[@]}" -o "$WORK/plan.tar.zst" --dry-run --json --cache "$WORK/no-cache-yet"
check_eq "--dry-run with a --cache that does not exist yet: exit 3" 3 "$RC"
check "and creates none" test ! -e "$WORK/no-cache-yet"
cp -p "$WORK/entry.keep" "$WORK/cache/sha256/$entry"
run_export plans "${INPUTS[@]}" -o "$WORK/plan.tar.zst" --dry-run --json --since "$WORK/full.tar.zst" \
    --split-size 64K
check_eq "with --since: the bytes left out (every layer and config of the first bundle)" \
    "$(jq '[.blobs[] | select(.kind != "manifest") | .size] | add' "$WORK/full.json")" \
    "$(jq .relied_on_bytes "$WORK/plans.out")"
run_export plant "${INPUTS[@]}" -o "$WORK/plan.tar.zst" --dry-run --split-size 1M
check_grep "the text plan counts the unique blobs" "^blobs: +$(jq '.blobs | length' "$WORK/full.json") unique" "$WORK/plant.out"
check_grep "the volumes at --split-size" "^volumes: +about [0-9]+ of at most 1.00 MiB" "$WORK/plant.out"
check_grep "and the free space" "^space: .* free in '$WORK'" "$WORK/plant.out"

echo "# -o is checked before anything is fetched"
run_export odir "${INPUTS[@]}" -o "$WORK" -v
check_eq "-o DIR fails (exit 1)" 1 "$RC"
check_eq "before any request (-v names each)" 0 "$(grep -c 'airlock-export: [A-Z]* https://' "$WORK/odir.err")"
check_grep "saying it is a directory and what to give" "is a directory: give the bundle's file name" "$WORK/odir.err"
run_export onodir "${INPUTS[@]}" -o "$WORK/no/such/dir/b.tar.zst"
check_eq "a missing parent directory fails (exit 1)" 1 "$RC"
check_grep "naming it" "the directory '$WORK/no/such/dir' does not exist" "$WORK/onodir.err"
if unshare -m true 2>/dev/null; then
    mkdir -p "$WORK/small"
    # a 2 MiB file system for a bundle of about 7 MiB, in a private mount namespace
    unshare -m sh -c 'd=$1; shift; mount -t tmpfs -o size=2m tmpfs "$d" || exit 99
        "$@"; rc=$?; echo "left: $(ls -A "$d" | grep "^b\.tar\.zst" | tr "\n" " ")"; exit $rc' sh "$WORK/small" \
        ${WRAP:-} "$BUILD/airlock-export" "${SRC[@]}" --sign-key "$WORK/export.key" "${INPUTS[@]}" \
        -o "$WORK/small/b.tar.zst" >"$WORK/small.out" 2>"$WORK/small.err"
    check_eq "a bundle that cannot fit is refused before downloading (exit 1)" 1 "$?"
    check_grep "with the numbers" "not enough space in '$WORK/small' for the bundle: it needs about [0-9]+ bytes .* and [0-9]+ bytes are free" "$WORK/small.err"
    check_grep "leaving nothing behind" "^left: $" "$WORK/small.out"
else
    ok "# skip a full file system (no mount namespace here)"
fi

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

echo "# files that are not bundles"
gzip -c "$WORK/full.json" >"$WORK/nb.gz"
tar -cf "$WORK/nb.tar" -C "$WORK" full.json
cp "$WORK/full.json" "$WORK/nb.json"
declare -A LOOKS=([nb.gz]="a gzip file" [nb.tar]="a plain, uncompressed tar archive"
    [nb.json]="JSON text" [split.tar.zst.001]="a later volume of a split bundle")
for f in nb.gz nb.tar nb.json split.tar.zst.001; do
    run_import "nb-$f" "$WORK/$f" --verify-key "$WORK/export.pub" --verify-only
    check_eq "$f is refused (exit 4)" 4 "$RC"
    check_grep "as not an airlock bundle that looks like ${LOOKS[$f]}" \
        "is not an airlock bundle: it looks like ${LOOKS[$f]}.*; give the .tar.zst file" "$WORK/nb-$f.err"
    run_import "nbl-$f" --list "$WORK/$f"
    check_grep "--list says so too" "not an airlock bundle" "$WORK/nbl-$f.err"
done

echo "# keys, options, signals, --images-from"
openssl genpkey -algorithm ed25519 -aes256 -pass pass:s3cret -out "$WORK/enc.key" 2>/dev/null
timeout 20 setsid "$BUILD/airlock-export" "${SRC[@]}" --image registry.redhat.io/ubi8/ruby-31:latest \
    --sign-key "$WORK/enc.key" -o "$WORK/enc.tar.zst" </dev/null >"$WORK/enc.out" 2>"$WORK/enc.err"
check_eq "an encrypted key off a terminal fails at once (exit 1), no prompt" 1 "$?"
check_grep "saying why and what to do" "key '$WORK/enc.key' is encrypted and standard input is not a terminal" "$WORK/enc.err"
run_export typo --sign-ky "$WORK/export.key"
check_eq "an unknown option is a usage error (exit 2)" 2 "$RC"
check_grep "suggesting the nearest" "unknown option '--sign-ky'; did you mean '--sign-key'\\?" "$WORK/typo.err"
run_import typo2 --verfy-key x
check_grep "in the importer too" "did you mean '--verify-key'\\?" "$WORK/typo2.err"
for sig in INT TERM; do
    "$BUILD/airlock-import" - --verify-key "$WORK/export.pub" --verify-only \
        < <(slow_cat "$WORK/full.tar.zst" 0.2) >"$WORK/sig$sig.out" 2>"$WORK/sig$sig.err" &
    pid=$!
    check "the import to stop with SIG$sig has read its bundle.json" \
        wait_for 30 grep -q "signed by key" "$WORK/sig$sig.err"
    check "and was still running then" kill -$sig $pid
    wait $pid
    RC=$?
    want=$([ $sig = INT ] && echo 130 || echo 143)
    check_eq "SIG$sig exits $want" "$want" "$RC"
done
printf '# two images\nregistry.redhat.io/ubi8/ruby-31:latest  # an index\n\n  registry.access.redhat.com/ubi8/nodejs-16:1\n' \
    >"$WORK/images.txt"
run_export from --images-from "$WORK/images.txt" -o "$WORK/from.tar.zst" --dry-run --json
check_eq "--images-from: one image a line, comments and blank lines skipped" "0 2" \
    "$RC $(jq .images_exported "$WORK/from.out")"
echo "quay.io/a/b:1 quay.io/c/d:2" >"$WORK/bad-images.txt"
run_export frombad --images-from "$WORK/bad-images.txt" -o "$WORK/from.tar.zst"
check_eq "two references on a line are a usage error" 2 "$RC"
check_grep "naming the file and line" "'$WORK/bad-images.txt': line 1 holds more than one reference" "$WORK/frombad.err"

echo "# import progress on a terminal"
command -v script >/dev/null || { echo "missing test tool: script (bsdutils)" >&2; exit 1; }
script -qec "$BUILD/airlock-import $WORK/full.tar.zst --verify-key $WORK/export.pub --verify-only" \
    /dev/null >"$WORK/tty.out" 2>&1
check_eq "the import on a terminal exits 0" 0 "$?"
check_grep "it draws a progress line with rate and ETA" \
    "airlock-import: +[0-9]+%  [0-9.]+ of [0-9.]+ MiB  [0-9.]+ MiB/s  ETA [0-9]+s" "$WORK/tty.out"
check_grep "which ends at 100%" "airlock-import: 100%" "$WORK/tty.out"
check "and no line every tenth" sh -c "! grep -q '% verified' '$WORK/tty.out'"

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
LAYERS=$(jq '[.blobs[] | select(.kind != "manifest")] | length' "$WORK/full.json")
# adds_up FILE: pushed + mounted + already there, and the bundle's count
adds_up() {
    sed -nE "s/^blobs: ([0-9]+) pushed \(.*\), ([0-9]+) mounted, ([0-9]+) already there = the bundle's ([0-9]+) layers.*/\1 \2 \3 \4/p" "$1" |
        awk '{ print $1 + $2 + $3, $4 }'
}
check_eq "its blob counts add up to the bundle's layers and configs" "$LAYERS $LAYERS" "$(adds_up "$WORK/real.out")"
check_grep "with human sizes" "pushed \([0-9.]+ MiB\)" "$WORK/real.out"
run_import again "${IMPORT[@]}"
check_grep "a second import finds every blob already there" \
    "^blobs: 0 pushed \(0 B\), 0 mounted, $LAYERS already there = the bundle's $LAYERS " "$WORK/again.out"
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

echo "# -v: a line per request; a proxy named in a failed connection"
run_export verbose --image registry.redhat.io/ubi8/ruby-31:latest -o "$WORK/verbose.tar.zst" -v
check_eq "a verbose export exits 0" 0 "$RC"
check_grep "each request on a line: method, URL, status, time" \
    "GET https://$src_HOST/v2/ubi8/ruby-31/manifests/latest: 200 \([0-9]+ ms\)" "$WORK/verbose.err"
check_grep "blob downloads too" "GET https://$src_HOST/v2/ubi8/ruby-31/blobs/sha256:[0-9a-f]{64}: 200" \
    "$WORK/verbose.err"
check "no password in them" sh -c "! grep -q s3cret '$WORK/verbose.err'"
check_grep "the registry's first answer too, with its status (401: a login follows)" \
    "GET https://$src_HOST/v2/: 401 \([0-9]+ ms\)" "$WORK/verbose.err"
check "no request without a status" sh -c "! grep -E ': 0 \([0-9]+ ms\)' '$WORK/verbose.err'"
run_export quiet1 --image registry.redhat.io/ubi8/ruby-31:latest -o "$WORK/quiet1.tar.zst"
check "and none without -v" sh -c "! grep -q ': 200 (' '$WORK/quiet1.err'"
dead=$(free_port)
HTTPS_PROXY=http://127.0.0.1:$dead NO_PROXY= run_export proxied \
    --image registry.redhat.io/ubi8/ruby-31:latest -o "$WORK/proxied.tar.zst" --retries 0
check_eq "through a proxy that is down the export fails (exit 1)" 1 "$RC"
check_grep "saying a proxy was used" "through the proxy that HTTPS_PROXY" "$WORK/proxied.err"
NO_PROXY=127.0.0.1 HTTPS_PROXY=http://127.0.0.1:$dead run_export noproxy \
    --image registry.redhat.io/ubi8/ruby-31:latest -o "$WORK/noproxy.tar.zst"
check_eq "NO_PROXY keeps the registry direct" 0 "$RC"

e2e_finish
