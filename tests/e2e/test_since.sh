#!/usr/bin/env bash
# Incremental bundles: an export --since an earlier bundle leaves out the
# blobs that one carried and says it relies on them; the increment imports
# on top of the first, and alone into an empty mirror it is refused before
# anything is pushed, naming the bundle to import first. What --since reads
# is used only once its signature verifies: a bundle by the export's own key
# or a --since-key, a receipt by --receipt-verify-key (unsigned only with
# --since-unsigned).
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
start_mirror
make_keys export other
IMAGES=(--image registry.redhat.io/ubi8/nodejs-16:1 --image registry.redhat.io/ubi8/ruby-31:latest)
run_export() { # NAME ARGS...
    local name=$1
    shift
    airlock_export "${IMAGES[@]}" --pull-from "registry.redhat.io=$src_HOST" --authfile "$WORK/src-auth.json" \
        --ca-file "$src_CA" --certs-dir "$WORK/none" --sign-key "$WORK/export.key" \
        -o "$WORK/$name.tar.zst" --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err"
    RC=$?
}
run_import() { # NAME BUNDLE PREFIX [ARGS...]
    local name=$1 bundle=$2 prefix=$3
    shift 3
    airlock_import "$WORK/$bundle.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST$prefix" \
        --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err"
    RC=$?
}
meta() { zstd -dc "$WORK/$1.tar.zst" | tar -xOf - bundle.json | jq -r "$2"; }

run_export first
check_eq "the first export exits 0" 0 "$RC"
# the receipt's key and place are checked before anything is pushed
run_import nodir first "/nodir" --receipt "$WORK/no/such/dir/receipt.json"
check_eq "a --receipt where none can be written: exit 1" 1 "$RC"
check_grep "before the push, saying so" "cannot write the receipt '$WORK/no/such/dir/receipt.json'.*nothing was pushed" \
    "$WORK/nodir.err"
check_eq "and nothing was pushed" 0 "$(tag_count nodir/ubi8/nodejs-16 2>/dev/null || echo unreadable)"
run_import nokey first "/nokey" --receipt "$WORK/r.json" --receipt-key "$WORK/no-such.key"
check_eq "a --receipt-key that cannot be read: exit 1" 1 "$RC"
check_eq "nothing was pushed either" 0 "$(tag_count nokey/ubi8/nodejs-16 2>/dev/null || echo unreadable)"
run_import first first "" --receipt "$WORK/receipt.json" --receipt-key "$WORK/export.key"
check_eq "and imports, writing a receipt" 0 "$RC"
check_eq "the receipt lists every layer and config of the bundle" \
    "$(meta first '[.blobs[] | select(.kind != "manifest") | .digest] | sort | join(" ")')" \
    "$(jq -r '[.blobs[].digest] | sort | join(" ")' "$WORK/receipt.json")"
jq -r .signature "$WORK/receipt.json.sig" | base64 -d >"$WORK/receipt.sig.bin"
openssl pkey -in "$WORK/export.key" -pubout -out "$WORK/export.pub.pem" 2>/dev/null
check "the receipt is signed" openssl pkeyutl -verify -pubin -inkey "$WORK/export.pub.pem" -rawin \
    -in "$WORK/receipt.json" -sigfile "$WORK/receipt.sig.bin"

echo "# an unchanged source: an increment of metadata only"
run_export same --since "$WORK/first.tar.zst"
check_eq "exit 0" 0 "$RC"
check_eq "no layer or config is carried" 0 "$(meta same '[.blobs[] | select(.kind != "manifest")] | length')"
check_eq "every one of them is relied on, from the first bundle" "$(meta first '[.blobs[] | select(.kind != "manifest")] | length') $(meta first .id)" \
    "$(meta same '"\(.relies_on | length) \([.relies_on[].bundle_id] | unique | join(","))"')"
check "the increment is small" test "$(stat -c %s "$WORK/same.tar.zst")" -lt 20000
check "it passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/same.tar.zst" "$WORK/export.pub" "$WORK/same.d"

echo "# a few images change at the source"
python3 "$E2E_DIR/seed.py" update "$src_HOST" "$src_CA" tester s3cret "$WORK/update.json" >/dev/null
run_export incr --since "$WORK/first.tar.zst"
check_eq "exit 0" 0 "$RC"
check_eq "only the new layer and config are carried" 2 "$(meta incr '[.blobs[] | select(.kind != "manifest")] | length')"
check "the increment is much smaller than the first bundle" \
    test "$(stat -c %s "$WORK/incr.tar.zst")" -lt "$(( $(stat -c %s "$WORK/first.tar.zst") / 10 ))"
check_eq "the JSON summary counts what was left out" "$(meta incr '.relies_on | length')" "$(jq .relied_on "$WORK/incr.json")"
run_export incr2 --since "$WORK/incr.tar.zst"
check_eq "--since an increment also leaves out what it relied on" 0 \
    "$(meta incr2 '[.blobs[] | select(.kind != "manifest")] | length')"
check_eq "naming the bundle that carried each blob" "$(printf '%s\n' "$(meta first .id)" "$(meta incr .id)" | sort | paste -sd,)" \
    "$(meta incr2 '[.relies_on[].bundle_id] | unique | sort | join(",")')"

echo "# the increment imports on top of the first"
run_import incr incr ""
check_eq "exit 0" 0 "$RC"
check_grep "it says it is an increment" "an increment: it relies on" "$WORK/incr.err"
mkdir -p "$WORK/certs" && cp "$mirror_CA" "$WORK/certs/ca.crt"
check_eq "nodejs in the mirror is the new build" "$(jq -r '.images["ubi8/nodejs-16:1"]' "$WORK/update.json")" \
    "sha256:$(skopeo inspect --raw --creds admin:m1rr0r --cert-dir "$WORK/certs" \
        "docker://$mirror_HOST/ubi8/nodejs-16:1" | sha256sum | cut -d' ' -f1)"
check "skopeo can copy the new nodejs out of the mirror" skopeo copy -q --src-creds admin:m1rr0r \
    --src-cert-dir "$WORK/certs" "docker://$mirror_HOST/ubi8/nodejs-16:1" "oci:$WORK/node-oci:n"

echo "# the increment alone, into an empty mirror path"
run_import alone incr "/empty"
check_eq "refused with exit 1" 1 "$RC"
check_grep "naming the bundle to import first" "carried by bundle $(meta first .id): import that first; nothing was pushed" "$WORK/alone.err"
check_eq "no repository was created under the path" 0 \
    "$(curl -s --cacert "$mirror_CA" -u admin:m1rr0r "https://$mirror_HOST/v2/_catalog" | jq '[.repositories[] | select(startswith("empty/"))] | length')"

echo "# --since a receipt: what was lost in transit is sent again"
run_export fromreceipt --since "$WORK/receipt.json" --receipt-verify-key "$WORK/export.pub"
check_eq "exit 0" 0 "$RC"
check_eq "with the mirror holding everything, only the new nodejs build is carried" 2 \
    "$(meta fromreceipt '[.blobs[] | select(.kind != "manifest")] | length')"
ruby_config=$(meta first '.images[] | select(.name | contains("ruby")) | .manifests[0].digest')
jq --arg r ubi8/ruby-31 '.blobs |= map(select(any(.repositories[]; . == $r) | not))' "$WORK/receipt.json" \
    >"$WORK/lost-receipt.json"
run_export lost --since "$WORK/lost-receipt.json" --since-unsigned
check_eq "a receipt without ruby (it did not land), unsigned: exit 0 with --since-unsigned" 0 "$RC"
check_grep "which warns that it is not checked" "warning: --since-unsigned" "$WORK/lost.err"
check "ruby's own layers are carried again" test \
    "$(meta lost '[.blobs[] | select(.kind != "manifest")] | length')" -gt 2

echo "# an increment made from a receipt, into a repository new to the mirror"
# tools (by digest) shares the base layer, which the receipt says the mirror
# holds in ruby's and nodejs's repositories only: the increment leaves it
# out, and the import finds it where the receipt said and mounts it
TOOLS=quay.io/openshift-release-dev/ocp-v4.0-art-dev@$(jq -r '.must_gather.tools' "$WORK/seed.json")
airlock_export --image "$TOOLS" --pull-from "quay.io=$src_HOST" --authfile "$WORK/src-auth.json" \
    --ca-file "$src_CA" --certs-dir "$WORK/none" --sign-key "$WORK/export.key" \
    -o "$WORK/tools.tar.zst" --since "$WORK/receipt.json" \
    --receipt-verify-key "$WORK/export.pub" >/dev/null 2>"$WORK/tools-export.err"
check_eq "the export of tools --since the receipt exits 0" 0 "$?"
check_eq "it relies on the base layer, where the receipt says the mirror holds it" 1 \
    "$(meta tools '[.relies_on[] | select(.repositories | length > 0) | select(all(.repositories[]; . != "openshift-release-dev/ocp-v4.0-art-dev"))] | length')"
run_import tools tools ""
check_eq "the increment imports (exit 0)" 0 "$RC"
check_grep "the relied-on blob is mounted into the new repository" "[1-9][0-9]* mounted" "$WORK/tools.out"
check_eq "skopeo reads tools from the mirror with the source digest" "${TOOLS#*@}" \
    "sha256:$(set -o pipefail; skopeo inspect --raw --creds admin:m1rr0r --cert-dir "$WORK/certs" \
        "docker://$mirror_HOST/openshift-release-dev/ocp-v4.0-art-dev@${TOOLS#*@}" | sha256_of)"

echo "# an increment with an image in a repository the first bundle did not create"
run_export newrepo --since "$WORK/first.tar.zst" --image registry.redhat.io/ubi8/python-39:latest
check_eq "the export with python added exits 0" 0 "$RC"
check_eq "python's base layer is relied on, from repositories other than python's" 1 \
    "$(meta newrepo '[.images[] | select(.repository == "ubi8/python-39") | .blobs[]] as $py
        | [.relies_on[] | select(.digest as $d | $py | index([$d]))
           | select(.repositories | length > 0 and all(.[]; . != "ubi8/python-39"))] | length')"
run_import newrepo newrepo ""
check_eq "the increment imports (exit 0)" 0 "$RC"
check_grep "the relied-on blob is mounted into python's new repository" "[1-9][0-9]* mounted" "$WORK/newrepo.out"
check_eq "skopeo reads python from the mirror with the source digest" "$(jq -r '.images["ubi8/python-39:latest"]' "$WORK/seed.json")" \
    "sha256:$(set -o pipefail; skopeo inspect --raw --creds admin:m1rr0r --cert-dir "$WORK/certs" \
        "docker://$mirror_HOST/ubi8/python-39:latest" | sha256_of)"
check "skopeo copies every platform of python out of the mirror" skopeo copy -q --all --src-creds admin:m1rr0r \
    --src-cert-dir "$WORK/certs" "docker://$mirror_HOST/ubi8/python-39:latest" "oci:$WORK/py-oci:p"

check_eq "the import refuses --receipt-key without --receipt" 2 \
    "$(airlock_import "$WORK/first.tar.zst" --verify-key "$WORK/export.pub" --registry x --receipt-key k >/dev/null 2>&1; echo $?)"

echo "# a receipt is used only once its signature verifies"
cp "$WORK/receipt.json" "$WORK/forged-receipt.json"
printf '{"algorithm": "ed25519", "key_id": "%s", "signature": "%s"}\n' \
    "$(jq -r .key_id "$WORK/receipt.json.sig")" "$(head -c 64 /dev/zero | base64 -w0)" >"$WORK/forged-receipt.json.sig"
run_export forged --since "$WORK/forged-receipt.json" --receipt-verify-key "$WORK/export.pub"
check_eq "a receipt with a garbage signature is refused (exit 1)" 1 "$RC"
check_grep "as a bad signature, naming it" "bad signature: receipt '$WORK/forged-receipt.json'" "$WORK/forged.err"
check "and no bundle is written" test ! -e "$WORK/forged.tar.zst"
run_export forged2 --since "$WORK/forged-receipt.json"
check_eq "refused without --receipt-verify-key too" 1 "$RC"
check_grep "saying which option verifies it" "receipt '$WORK/forged-receipt.json' is signed.*--receipt-verify-key" "$WORK/forged2.err"
run_export forged3 --since "$WORK/forged-receipt.json" --receipt-verify-key "$WORK/export.pub" --since-unsigned
check_eq "--since-unsigned does not excuse a signature that does not verify" 1 "$RC"
cp "$WORK/receipt.json" "$WORK/unsigned-receipt.json"
run_export unsigned --since "$WORK/unsigned-receipt.json" --receipt-verify-key "$WORK/export.pub"
check_eq "an unsigned receipt is refused (exit 1)" 1 "$RC"
check_grep "naming it and the option that accepts it" "receipt '$WORK/unsigned-receipt.json' is not signed.*--since-unsigned" "$WORK/unsigned.err"
run_export unsigned2 --since "$WORK/unsigned-receipt.json" --since-unsigned
check_eq "accepted with --since-unsigned" 0 "$RC"
check_grep "with a warning" "warning: --since-unsigned" "$WORK/unsigned2.err"
check_eq "and then used: only the new nodejs build is carried" 2 \
    "$(meta unsigned2 '[.blobs[] | select(.kind != "manifest")] | length')"
run_export wrongrcpt --since "$WORK/receipt.json" --receipt-verify-key "$WORK/other.pub"
check_eq "a receipt signed by another key is refused" 1 "$RC"
check_grep "as the wrong key, with both key ids" "wrong key: receipt '$WORK/receipt.json' is signed by key $(jq -r .key_id "$WORK/receipt.json.sig")" "$WORK/wrongrcpt.err"

echo "# an earlier bundle is used only once its signature verifies"
airlock_export "${IMAGES[@]}" --pull-from "registry.redhat.io=$src_HOST" --authfile "$WORK/src-auth.json" \
    --ca-file "$src_CA" --certs-dir "$WORK/none" --sign-key "$WORK/other.key" -o "$WORK/otherb.tar.zst" \
    >/dev/null 2>"$WORK/otherb.err"
check_eq "another exporter writes a bundle" 0 "$?"
other_id=$(jq -r .key_id <(zstd -dc "$WORK/otherb.tar.zst" | tar -xOf - bundle.json.sig))
own_id=$(jq -r .key_id <(zstd -dc "$WORK/first.tar.zst" | tar -xOf - bundle.json.sig))
run_export wrongkey --since "$WORK/otherb.tar.zst"
check_eq "--since its bundle is refused (exit 1)" 1 "$RC"
check_grep "as the wrong key, naming the file and both key ids" \
    "wrong key: bundle.json of --since '$WORK/otherb.tar.zst' is signed by key $other_id.*$own_id.*--since-key" "$WORK/wrongkey.err"
check "and no bundle is written" test ! -e "$WORK/wrongkey.tar.zst"
run_export otherok --since "$WORK/otherb.tar.zst" --since-key "$WORK/other.pub"
check_eq "accepted with --since-key and that exporter's public key" 0 "$RC"
check_eq "and used: it was written after the update, so no layer or config is carried" 0 \
    "$(meta otherok '[.blobs[] | select(.kind != "manifest")] | length')"
run_export bothok --since "$WORK/otherb.tar.zst" --since "$WORK/first.tar.zst" --since-key "$WORK/other.pub"
check_eq "the export's own key still verifies its own bundles beside a --since-key" 0 "$RC"
mkdir -p "$WORK/tamper"
zstd -dc "$WORK/first.tar.zst" | tar -xf - -C "$WORK/tamper" bundle.json bundle.json.sig
jq -c '.images |= .[:1]' "$WORK/tamper/bundle.json" >"$WORK/tamper/b2" && mv "$WORK/tamper/b2" "$WORK/tamper/bundle.json"
tar -C "$WORK/tamper" --format=pax -cf - bundle.json bundle.json.sig | zstd -q >"$WORK/tampered.tar.zst"
run_export tampered --since "$WORK/tampered.tar.zst"
check_eq "a bundle whose bundle.json was changed is refused (exit 1)" 1 "$RC"
check_grep "as a bad signature, naming it" "bad signature: bundle.json of --since '$WORK/tampered.tar.zst'" "$WORK/tampered.err"
run_export tamperedjson --since "$WORK/tamper/bundle.json"
check_eq "so is the changed bundle.json extracted, with its .sig beside it" 1 "$RC"
check_grep "as a bad signature" "bad signature: bundle.json of --since '$WORK/tamper/bundle.json'" "$WORK/tamperedjson.err"
mkdir -p "$WORK/bare" && zstd -dc "$WORK/first.tar.zst" | tar -xf - -C "$WORK/bare" bundle.json
run_export bare --since "$WORK/bare/bundle.json"
check_eq "an extracted bundle.json without its .sig is refused" 1 "$RC"
check_grep "saying what is missing" "'$WORK/bare/bundle.json' has no signature '$WORK/bare/bundle.json.sig'" "$WORK/bare.err"
zstd -dc "$WORK/first.tar.zst" | tar -xf - -C "$WORK/bare" bundle.json.sig
run_export bareok --since "$WORK/bare/bundle.json"
check_eq "with bundle.json.sig beside it, it is used" 0 "$RC"
check_eq "like the bundle itself" 2 "$(meta bareok '[.blobs[] | select(.kind != "manifest")] | length')"

echo "# a --since that is not a bundle"
echo '{}' >"$WORK/not.json"
cp "$WORK/receipt.json.sig" "$WORK/not.json.sig"
run_export bad --since "$WORK/not.json"
check_eq "is a failure" 1 "$RC"
check_grep "naming it" "bundle.json of --since '$WORK/not.json'" "$WORK/bad.err"

e2e_finish
