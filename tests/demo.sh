#!/usr/bin/env bash
# make demo: the whole journey on one machine. A source registry seeded with
# a few real samples imagestreams and a release payload with must-gather, an
# empty mirror, both on 127.0.0.1 with their own TLS CA and passwords;
# airlock-export, then airlock-import (writing the cluster objects it would
# apply); where everything landed; registries stopped at the end.
set -u
cd "$(dirname "$0")/.."
missing=
for tool in docker-registry skopeo htpasswd zstd jq python3 curl openssl pkg-config; do
    command -v "$tool" >/dev/null || missing="$missing $tool"
done
command -v pkg-config >/dev/null && pkg-config --exists libcurl openssl libzstd libarchive jansson yaml-0.1 \
    || missing="$missing development-libraries"
if [ -n "$missing" ]; then
    echo "demo: installing what it needs (missing:$missing)"
    .ci/run --deps-only || { echo "demo: cannot install the packages; run .ci/run --deps-only as root" >&2; exit 1; }
fi
make -s all || exit 1

source tests/e2e/lib.sh
e2e_init
IS_FILES=(ruby-rhel.json httpd-rhel.json nodejs-rhel.json)
say() { printf '\n== %s\n' "$*"; }

say "starting a source registry and an empty mirror (TLS, htpasswd) on 127.0.0.1"
start_registry source demo demo-source-pw
start_registry mirror admin demo-mirror-pw
echo "source: $source_HOST   mirror: $mirror_HOST"

say "seeding the source: imagestreams ${IS_FILES[*]} and a release payload with must-gather"
mkdir -p "$WORK/is"
for f in "${IS_FILES[@]}"; do cp "$SHARED/samples/ocp-x86_64/$f" "$WORK/is/"; done
echo '{"kind": "ConfigMap", "data": {}}' >"$WORK/empty-cm.json"
python3 tests/e2e/seed.py samples "$source_HOST" "$source_CA" demo demo-source-pw "$WORK/seed-samples.json" \
    "$WORK/empty-cm.json" "$WORK/is" >/dev/null || exit 1
python3 tests/e2e/seed.py fixtures "$source_HOST" "$source_CA" demo demo-source-pw "$WORK/seed.json" \
    "$SHARED" >/dev/null || exit 1
authfile "$source_HOST" demo demo-source-pw "$WORK/source-auth.json"
authfile "$mirror_HOST" admin demo-mirror-pw "$WORK/mirror-auth.json"
openssl genpkey -algorithm ed25519 -out "$WORK/export.key" 2>/dev/null
openssl pkey -in "$WORK/export.key" -pubout -out "$WORK/export.pub"
jq -s '{kind: "List", items: .}' "$WORK"/is/*.json >"$WORK/is.json"

say "airlock-export (the connected side)"
set -x
"$BUILD/airlock-export" --imagestreams "$WORK/is.json" \
    --release quay.io/openshift-release-dev/ocp-release:4.12.0-x86_64 \
    --pull-from "registry.redhat.io=$source_HOST" --pull-from "registry.access.redhat.com=$source_HOST" \
    --pull-from "quay.io=$source_HOST" --authfile "$WORK/source-auth.json" --ca-file "$source_CA" \
    --sign-key "$WORK/export.key" -o "$WORK/samples.tar.zst" || exit 1
{ set +x; } 2>/dev/null

say "airlock-import --verify-only (what a security officer runs at the gap)"
"$BUILD/airlock-import" "$WORK/samples.tar.zst" --verify-key "$WORK/export.pub" --verify-only || exit 1

say "airlock-import (the disconnected side)"
set -x
"$BUILD/airlock-import" "$WORK/samples.tar.zst" --verify-key "$WORK/export.pub" \
    --registry "$mirror_HOST" --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" \
    --manifests-dir "$WORK/cluster" || exit 1
{ set +x; } 2>/dev/null

say "what it would apply to a cluster (--manifests-dir; no cluster here)"
ls "$WORK/cluster"
sed -n '/^oc /p' "$WORK/cluster/apply.sh"
jq -c . "$WORK/cluster/30-samples-config.patch.json"

say "where the images landed (read back from the mirror with skopeo)"
mkdir -p "$WORK/certs" && cp "$mirror_CA" "$WORK/certs/ca.crt"
zstd -dc "$WORK/samples.tar.zst" | tar -xOf - bundle.json >"$WORK/bundle.json"
jq -r '.images[] | [.name, .repository + (if .tag then ":" + .tag else "@" + .digest end), .digest] | @tsv' \
    "$WORK/bundle.json" | while IFS=$'\t' read -r name dest digest; do
    got=$(skopeo inspect --raw --creds admin:demo-mirror-pw --cert-dir "$WORK/certs" \
        "docker://$mirror_HOST/$dest" | sha256sum | cut -c1-12)
    mark=ok
    [ "sha256:$got" = "${digest:0:19}" ] || mark="DIGEST DIFFERS"
    printf '%-58s -> %s/%s  [%s]\n' "$name" "$mirror_HOST" "$dest" "$mark"
done

say "re-running the import is a no-op"
"$BUILD/airlock-import" "$WORK/samples.tar.zst" --verify-key "$WORK/export.pub" -q \
    --registry "$mirror_HOST" --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" || exit 1

say "done; stopping the registries"
