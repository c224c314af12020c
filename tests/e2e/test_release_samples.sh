#!/usr/bin/env bash
# Samples from the release alone: the payload's cluster-samples-operator
# image (seed.py: several layers, gzip, plain and zstd; whiteouts, an opaque
# directory, templates, an aarch64 directory, a non-JSON file) is read layer
# by layer, and only what its final x86_64 imagestreams name is exported;
# nothing else is even asked of the registry (the redirector in front of it
# logs every request).
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
make_keys export
start_redirector via src tester s3cret
authfile "$via_HOST" tester s3cret "$WORK/via-auth.json"
RELEASE=quay.io/openshift-release-dev/ocp-release
FROM=(--pull-from "registry.redhat.io=$via_HOST" --pull-from "registry.access.redhat.com=$via_HOST"
      --pull-from "quay.io=$via_HOST" --ca-file "$src_CA" --certs-dir "$WORK/none")
seed() { jq -r "$1" "$WORK/seed.json"; }
# run_export NAME ARGS...: the log of the requests in NAME.log, the code in RC.
run_export() {
    local name=$1
    shift
    : >"$via_LOG"
    airlock_export "$@" "${FROM[@]}" -o "$WORK/$name.tar.zst" >"$WORK/$name.out" 2>"$WORK/$name.err"
    RC=$?
    cp "$via_LOG" "$WORK/$name.log"
}
unpack() { python3 "$E2E_DIR/verify_bundle.py" "$WORK/$1.tar.zst" "$WORK/export.pub" "$WORK/$1.d" >/dev/null 2>&1; }
meta() { jq -r "$2" "$WORK/$1.d/bundle.json"; }
# the repositories whose manifests were asked for
requested() {
    jq -r 'select(.request) | .path' "$WORK/$1.log" |
        sed -n 's|^/v2/\(.*\)/manifests/.*|\1|p' | sort -u | tr '\n' ' '
}
samples_tags() { meta "$1" '[.images[] | select(.role == "samples") | .tags[]] | sort | join(" ")'; }
NEVER='deleted|dropped|opaque-gone|template-only|readme-only|notes'

echo "# --release REF --authfile F --sign-key K -o OUT, and nothing else"
run_export plain --release "$RELEASE:4.12.0-x86_64" --authfile "$WORK/via-auth.json" \
    --sign-key "$WORK/export.key"
check_eq "exit 0" 0 "$RC"
check "the bundle passes the independent check" unpack plain
check_eq "the tags of the final x86_64 imagestreams, and no other" \
    "fresh:1 nodejs:16-ubi8 ruby:3.1-ubi8 ruby:latest" "$(samples_tags plain)"
check_eq "served by their two images" \
    "registry.access.redhat.com/ubi8/nodejs-16:1 registry.redhat.io/ubi8/ruby-31:latest" \
    "$(meta plain '[.images[] | select(.role == "samples") | .name] | sort | join(" ")')"
check_eq "plus must-gather" "$(seed '.must_gather["must-gather"]')" \
    "$(meta plain '.images[] | select(.role == "must-gather") | .digest')"
check_eq "nothing failed" 0 "$(meta plain '.failed | length')"
check_eq "manifests asked for: the release, its components and those two images only" \
    "openshift-release-dev/ocp-release openshift-release-dev/ocp-v4.0-art-dev ubi8/nodejs-16 ubi8/ruby-31 " \
    "$(requested plain)"
check "what whiteouts, templates, READMEs and other files name is never requested" \
    sh -c "! grep -Eq '$NEVER|python-39' '$WORK/plain.log'"
check_eq "bundle.json says where the samples came from" \
    "quay.io/openshift-release-dev/ocp-v4.0-art-dev@$(seed .samples_operator.amd64) $(seed .samples_operator.amd64) x86_64 3 4" \
    "$(meta plain '.release.samples | "\(.image) \(.digest) \(.arch) \(.imagestreams) \(.tags)"')"
check_grep "and so does the export" "samples from the release: 3 imagestreams \(4 tags\) for x86_64" "$WORK/plain.err"
airlock_import "$WORK/plain.tar.zst" --verify-key "$WORK/export.pub" --verify-only \
    >"$WORK/verify.out" 2>"$WORK/verify.err"
check_eq "airlock-import --verify-only exits 0" 0 "$?"
check_grep "and prints where the samples came from" \
    "samples from the release: 3 imagestreams \(4 tags\) for x86_64, read from 'quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" \
    "$WORK/verify.err"

echo "# a multi-arch release, --arch arm64: the aarch64 directory of the arm64 build"
run_export arm --release "$RELEASE:4.12.0-multi" --arch arm64 --authfile "$WORK/via-auth.json" \
    --sign-key "$WORK/export.key"
check_eq "exit 0" 0 "$RC"
check "the bundle passes the independent check" unpack arm
check_eq "the aarch64 imagestream only" "python:3.9-ubi8" "$(samples_tags arm)"
check_eq "read from the arm64 child of the operator's index" \
    "$(seed .samples_operator.arm64) aarch64" "$(meta arm '.release.samples | "\(.digest) \(.arch)"')"
check "no x86_64 image requested" sh -c "! grep -Eq '$NEVER|ruby-31|nodejs-16' '$WORK/arm.log'"

echo "# the union, and the release's components alone"
cat >"$WORK/is.json" <<JSON
{"kind": "ImageStream", "metadata": {"name": "python"}, "spec": {"tags": [
 {"name": "3.9-ubi8", "from": {"kind": "DockerImage", "name": "registry.redhat.io/ubi8/python-39:latest"}}]}}
JSON
run_export given --release "$RELEASE:4.12.0-x86_64" --imagestreams "$WORK/is.json" \
    --authfile "$WORK/via-auth.json" --sign-key "$WORK/export.key"
check_eq "--imagestreams with --release: exit 0" 0 "$RC"
check "the bundle passes the independent check" unpack given
check_eq "only the given imagestreams" "python:3.9-ubi8" "$(samples_tags given)"
check_eq "and no samples recorded from the release" null "$(meta given .release.samples)"
# the cluster's openshift/must-gather imagestream names the release's must-gather:
# the image is still the must-gather (bundle.json, the import's ImageStreamImport)
MG_SPEC="quay.io/openshift-release-dev/ocp-v4.0-art-dev@$(seed '.must_gather["must-gather"]')"
cat >"$WORK/is-mg.json" <<JSON
{"kind": "ImageStream", "metadata": {"name": "must-gather"}, "spec": {"tags": [
 {"name": "latest", "from": {"kind": "DockerImage", "name": "$MG_SPEC"}}]}}
JSON
run_export named --release "$RELEASE:4.12.0-x86_64" --imagestreams "$WORK/is-mg.json" \
    --authfile "$WORK/via-auth.json" --sign-key "$WORK/export.key"
check_eq "--imagestreams naming the must-gather: exit 0" 0 "$RC"
check "the bundle passes the independent check" unpack named
check_eq "one image, the must-gather, with the imagestream's tag" "must-gather must-gather:latest" \
    "$(meta named '[.images[] | "\(.role) \(.tags | join(","))"] | join(" ")')"
check_eq "bundle.json names it as the release's must-gather" "$MG_SPEC" \
    "$(meta named .release.must_gather.pull_spec)"
run_export union --release "$RELEASE:4.12.0-x86_64" --imagestreams "$WORK/is.json" \
    --samples-from-release --authfile "$WORK/via-auth.json" --sign-key "$WORK/export.key"
check_eq "--samples-from-release: exit 0" 0 "$RC"
check "the bundle passes the independent check" unpack union
check_eq "the given imagestreams and the release's" \
    "fresh:1 nodejs:16-ubi8 python:3.9-ubi8 ruby:3.1-ubi8 ruby:latest" "$(samples_tags union)"
run_export none --release "$RELEASE:4.12.0-x86_64" --no-samples --release-component tools \
    --authfile "$WORK/via-auth.json" --sign-key "$WORK/export.key"
check_eq "--no-samples: exit 0" 0 "$RC"
check "the bundle passes the independent check" unpack none
check_eq "must-gather and tools only" "must-gather release:tools" \
    "$(meta none '[.images[].role] | sort | join(" ")')"
check_eq "the operator image was not even read" 0 \
    "$(grep -c "$(seed .samples_operator.amd64)" "$WORK/none.log")"
run_export both --release "$RELEASE:4.12.0-x86_64" --no-samples --samples-from-release \
    --authfile "$WORK/via-auth.json" --sign-key "$WORK/export.key"
check_eq "--no-samples with --samples-from-release: exit 2" 2 "$RC"
run_export norel --no-samples --image registry.redhat.io/ubi8/ruby-31:latest \
    --authfile "$WORK/via-auth.json" --sign-key "$WORK/export.key"
check_eq "--no-samples without --release: exit 2" 2 "$RC"
check_grep "saying so" "needs --release" "$WORK/norel.err"

echo "# the import: an ImageDigestMirrorSet for the release's components"
start_mirror
run_export idms --release "$RELEASE:4.12.0-x86_64" --release-component tools \
    --authfile "$WORK/via-auth.json" --sign-key "$WORK/export.key"
check_eq "export with must-gather and tools: exit 0" 0 "$RC"
IDMS=/apis/config.openshift.io/v1/imagedigestmirrorsets
ART=quay.io/openshift-release-dev/ocp-v4.0-art-dev
OURS="[{\"mirrors\":[\"$mirror_HOST/openshift-release-dev/ocp-v4.0-art-dev\"],\"source\":\"$ART\"}]"
# state FILE [EXTRA_OBJECTS]: a cluster with one mirror set of its own
state() {
    jq -n --argjson extra "${2:-{\}}" '{objects: ({
      "/apis/config.openshift.io/v1/images/cluster":
        {apiVersion: "config.openshift.io/v1", kind: "Image", metadata: {name: "cluster"}, spec: {}},
      "/apis/samples.operator.openshift.io/v1/configs/cluster":
        {apiVersion: "samples.operator.openshift.io/v1", kind: "Config", metadata: {name: "cluster"},
         spec: {managementState: "Removed"}},
      "/apis/config.openshift.io/v1/imagedigestmirrorsets/installer":
        {apiVersion: "config.openshift.io/v1", kind: "ImageDigestMirrorSet", metadata: {name: "installer"},
         spec: {imageDigestMirrors: [{source: "quay.io/openshift-release-dev/ocp-release",
                                      mirrors: ["other.example.com/ocp-release"]}]}}
    } + $extra)}' >"$1"
}
run_import() { # NAME KUBECONFIG [ARGS...]
    local name=$1 kc=$2
    shift 2
    airlock_import "$WORK/idms.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST" \
        --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" \
        --kubeconfig "$kc" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    RC=$?
}
writes() { jq -r 'select(.method != "GET") | "\(.method) \(.path)"' "$1" | wc -l; }
idms_requests() { jq -r "select(.path | startswith(\"$IDMS\")) | .method" "$1" | wc -l; }
state "$WORK/fresh.json"
start_apiserver fresh "$WORK/fresh.json"
INSTALLER=$(api_get fresh $IDMS/installer | jq -c .)
: >"$fresh_LOG"
run_import plain "$fresh_KUBECONFIG"
check_eq "without --apply-mirror-sets: exit 0" 0 "$RC"
check_eq "no mirror set is read or written" 0 "$(idms_requests "$fresh_LOG")"
check_grep "saying how to apply it" "not applied .*--apply-mirror-sets" "$WORK/plain.err"
: >"$fresh_LOG"
run_import apply "$fresh_KUBECONFIG" --apply-mirror-sets
check_eq "--apply-mirror-sets: exit 0" 0 "$RC"
check_eq "only its own mirror set was touched" "GET $IDMS/airlock-release POST $IDMS" \
    "$(jq -r "select(.path | startswith(\"$IDMS\")) | \"\(.method) \(.path)\"" "$fresh_LOG" | tr '\n' ' ' | sed 's/ $//')"
check_eq "creates airlock's own, the release's repository to the mirror's" "$OURS" \
    "$(api_get fresh $IDMS/airlock-release | jq -cS .spec.imageDigestMirrors)"
check_eq "the installer's mirror set is left alone" "$INSTALLER" "$(api_get fresh $IDMS/installer | jq -c .)"
: >"$fresh_LOG"
run_import again "$fresh_KUBECONFIG" --apply-mirror-sets
check_eq "a re-run exits 0" 0 "$RC"
check_eq "and writes nothing" 0 "$(writes "$fresh_LOG")"

state "$WORK/merge.json" "{\"$IDMS/airlock-release\":
    {\"apiVersion\": \"config.openshift.io/v1\", \"kind\": \"ImageDigestMirrorSet\", \"metadata\": {\"name\": \"airlock-release\"},
     \"spec\": {\"imageDigestMirrors\": [
       {\"source\": \"quay.io/openshift-release-dev/ocp-release\", \"mirrors\": [\"old.example.com/ocp-release\"]},
       {\"source\": \"$ART\", \"mirrors\": [\"old.example.com/art\"], \"mirrorSourcePolicy\": \"NeverContactSource\"}]}}}"
start_apiserver merge "$WORK/merge.json"
run_import merge "$merge_KUBECONFIG" --apply-mirror-sets
check_eq "an existing airlock mirror set: exit 0" 0 "$RC"
check_eq "is merged: its entries and mirrors kept, the mirror added to its source" \
    "quay.io/openshift-release-dev/ocp-release=old.example.com/ocp-release $ART=old.example.com/art,$mirror_HOST/openshift-release-dev/ocp-v4.0-art-dev:NeverContactSource" \
    "$(api_get merge $IDMS/airlock-release | jq -r '[.spec.imageDigestMirrors[] | "\(.source)=\(.mirrors | join(","))\(if .mirrorSourcePolicy then ":" + .mirrorSourcePolicy else "" end)"] | join(" ")')"
check_eq "with a merge patch on the resourceVersion read" 1 \
    "$(jq -s "[.[] | select(.method == \"PATCH\" and .path == \"$IDMS/airlock-release\" and .content_type == \"application/merge-patch+json\")] | length" "$merge_LOG")"

run_import dry "$merge_KUBECONFIG" --apply-mirror-sets --dry-run
check_eq "--dry-run on it: exit 0, nothing more to do" 0 "$RC"
check_grep "already up to date" "imagedigestmirrorset airlock-release already up to date" "$WORK/dry.err"

: >"$fresh_LOG"
run_import manifests "$fresh_KUBECONFIG" --manifests-dir "$WORK/manifests"
check_eq "--manifests-dir without --apply-mirror-sets: exit 0" 0 "$RC"
check_eq "the mirror set is written there all the same" "ImageDigestMirrorSet airlock-release $OURS" \
    "$(jq -S -r '"\(.kind) \(.metadata.name) \(.spec.imageDigestMirrors | tojson)"' "$WORK/manifests/40-image-digest-mirror-set.json")"
check "apply.sh leaves it to be applied by hand" sh -c "grep -q '^# oc apply -f 40-image-digest-mirror-set.json' '$WORK/manifests/apply.sh'"
check "apply.sh is valid shell" sh -n "$WORK/manifests/apply.sh"
run_import manifests2 "$fresh_KUBECONFIG" --manifests-dir "$WORK/manifests2" --apply-mirror-sets
check "with --apply-mirror-sets, apply.sh applies it" grep -q '^oc apply -f 40-image-digest-mirror-set.json' "$WORK/manifests2/apply.sh"
check_eq "and no cluster was touched" 0 "$(wc -l <"$fresh_LOG")"
run_import skip "$fresh_KUBECONFIG" --skip-cluster --apply-mirror-sets
check_eq "--apply-mirror-sets with --skip-cluster: exit 2" 2 "$RC"

e2e_finish
