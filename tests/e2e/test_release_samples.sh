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

e2e_finish
