#!/usr/bin/env bash
# airlock-import's cluster step, after a real push into a real registry,
# against tests/e2e/apiserver.py (a stand-in for the Kubernetes API that
# behaves like one for these calls: paths, merge patches, resourceVersion,
# 404/409/403, 429/5xx bursts, bearer token).
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
start_mirror
make_keys export
# one samples image that does not exist: the bundle lists it as failed
cat >"$WORK/cm.json" <<JSON
{"kind": "ConfigMap", "data": {"ruby_3.1-ubi8": "registry.redhat.io/ubi8/ruby-31:latest",
 "nodejs_16-ubi8": "registry.access.redhat.com/ubi8/nodejs-16:1",
 "ghost_1.0": "registry.redhat.io/ubi8/ghost:1.0"}}
JSON
airlock_export --samples-configmap "$WORK/cm.json" \
    --release quay.io/openshift-release-dev/ocp-release:4.12.0-x86_64 \
    --pull-from "registry.redhat.io=$src_HOST" --pull-from "registry.access.redhat.com=$src_HOST" \
    --pull-from "quay.io=$src_HOST" --authfile "$WORK/src-auth.json" --ca-file "$src_CA" \
    --certs-dir "$WORK/none" --sign-key "$WORK/export.key" -o "$WORK/b.tar.zst" -q 2>/dev/null
[ $? = 3 ] || { echo "export did not report the missing image" >&2; exit 1; }
MG=$(jq -r '.must_gather["must-gather"]' "$WORK/seed.json")
MG_DEST="$mirror_HOST/openshift-release-dev/ocp-v4.0-art-dev@$MG"
CA_KEY="127.0.0.1..$mirror_PORT"

# state FILE IMAGE_SPEC SAMPLES_SPEC [EXTRA_OBJECTS] [EXTRA_TOP]: an apiserver state.
state() {
    jq -n --argjson image "$2" --argjson samples "$3" --argjson extra "${4:-{\}}" \
        --argjson top "${5:-{\}}" '{objects: ({
      "/apis/config.openshift.io/v1/images/cluster":
        {apiVersion: "config.openshift.io/v1", kind: "Image", metadata: {name: "cluster"}, spec: $image},
      "/apis/samples.operator.openshift.io/v1/configs/cluster":
        {apiVersion: "samples.operator.openshift.io/v1", kind: "Config", metadata: {name: "cluster"}, spec: $samples},
      "/apis/image.openshift.io/v1/namespaces/openshift/imagestreams/must-gather":
        {apiVersion: "image.openshift.io/v1", kind: "ImageStream",
         metadata: {name: "must-gather", namespace: "openshift"},
         spec: {tags: [{name: "latest", from: {kind: "DockerImage", name: "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:0000000000000000000000000000000000000000000000000000000000000000"},
                        importPolicy: {importMode: "Legacy", scheduled: true},
                        referencePolicy: {type: "Source"}}]}}
    } + $extra)} + $top' >"$1"
}
run_import() { # NAME KUBECONFIG [ARGS...]
    local name=$1 kc=$2
    shift 2
    airlock_import "$WORK/b.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST" \
        --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" \
        --kubeconfig "$kc" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    RC=$?
}
# writes LOG: the number of writes in an apiserver log; "no reads" when it
# holds no GET (an empty or unreadable log proves nothing)
writes() {
    jq -se 'if map(select(.method == "GET")) | length == 0 then "no reads"
            else map(select(.method != null and .method != "GET")) | length end' "$1" 2>/dev/null ||
        echo "unreadable log"
}
SAMPLES=/apis/samples.operator.openshift.io/v1/configs/cluster
IMAGE=/apis/config.openshift.io/v1/images/cluster
STREAM=/apis/image.openshift.io/v1/namespaces/openshift/imagestreams/must-gather

echo "# a fresh cluster"
state "$WORK/fresh.json" '{}' '{"managementState": "Removed"}'
start_apiserver fresh "$WORK/fresh.json"
run_import fresh "$fresh_KUBECONFIG"
check_eq "import exits 0" 0 "$RC"
check_eq "the mirror's CA is in registry-config under <host>..<port>" "$(cat "$mirror_CA")" \
    "$(api_get fresh /api/v1/namespaces/openshift-config/configmaps/registry-config | jq -r --arg k "$CA_KEY" '.data[$k]' )"
check_eq "the image config trusts registry-config" registry-config \
    "$(api_get fresh $IMAGE | jq -r .spec.additionalTrustedCA.name)"
check_eq "samplesRegistry is the mirror" "$mirror_HOST" "$(api_get fresh $SAMPLES | jq -r .spec.samplesRegistry)"
check_eq "the imagestream the bundle could not carry is skipped" '["ghost"]' \
    "$(api_get fresh $SAMPLES | jq -c .spec.skippedImagestreams)"
check_eq "the samples operator is Managed" Managed "$(api_get fresh $SAMPLES | jq -r .spec.managementState)"
check_eq "and the skipped entry airlock added is named as airlock's" ghost \
    "$(api_get fresh $SAMPLES | jq -r '.metadata.annotations["airlock.openshift.io/skipped-imagestreams"]')"
check_eq "must-gather is imported from the mirror by digest" "$MG_DEST" \
    "$(api_get fresh $STREAM | jq -r '.spec.tags[] | select(.name == "latest") | .from.name')"
check_eq "its own importPolicy is kept (Legacy, scheduled)" "Legacy true" \
    "$(api_get fresh $STREAM | jq -r '.spec.tags[] | select(.name == "latest") | "\(.importPolicy.importMode) \(.importPolicy.scheduled)"')"
check_eq "every patch carried the resourceVersion it read (none refused)" 0 \
    "$(jq -s '[.[] | select(.refused)] | length' "$fresh_LOG")"
check_eq "patches are merge patches (and there are patches)" 0 \
    "$(jq -se 'map(select(.method == "PATCH")) | if length == 0 then "no patch"
               else map(select(.content_type != "application/merge-patch+json")) | length end' "$fresh_LOG" ||
       echo "unreadable log")"
: >"$fresh_LOG"
run_import rerun "$fresh_KUBECONFIG"
check_eq "a re-run exits 0" 0 "$RC"
check_eq "a re-run sends no write" 0 "$(writes "$fresh_LOG")"
: >"$fresh_LOG"
run_import dryrun "$fresh_KUBECONFIG" --dry-run
check_eq "--dry-run on a configured cluster exits 0" 0 "$RC"
check_eq "--dry-run sends no write" 0 "$(writes "$fresh_LOG")"

echo "# the cluster gets the certificates the push trusted the mirror with, and nothing else"
CM_CA=/api/v1/namespaces/openshift-config/configmaps/registry-config
openssl genpkey -algorithm ed25519 -out "$WORK/stray.key" 2>/dev/null
cat "$WORK/stray.key" "$mirror_CA" >"$WORK/ca-and-key.pem"
mkdir -p "$WORK/certs.d/127.0.0.1:$mirror_PORT"
cp "$mirror_CA" "$WORK/certs.d/127.0.0.1:$mirror_PORT/ca.crt"
for how in keyed certsd; do
    state "$WORK/$how.json" '{}' '{"managementState": "Removed"}'
    start_apiserver "$how" "$WORK/$how.json"
done
airlock_import "$WORK/b.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST" \
    --authfile "$WORK/mirror-auth.json" --ca-file "$WORK/ca-and-key.pem" --certs-dir "$WORK/none" \
    --kubeconfig "$keyed_KUBECONFIG" >"$WORK/keyed.out" 2>"$WORK/keyed.err"
check_eq "a --ca-file holding a private key beside the CA: exit 0" 0 "$?"
check_eq "registry-config holds the CA certificate" "$(cat "$mirror_CA")" \
    "$(api_get keyed $CM_CA | jq -r --arg k "$CA_KEY" '.data[$k]')"
check_eq "and not the key" 0 "$(api_get keyed $CM_CA | grep -c 'PRIVATE KEY')"
airlock_import "$WORK/b.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST" \
    --authfile "$WORK/mirror-auth.json" --certs-dir "$WORK/certs.d" \
    --kubeconfig "$certsd_KUBECONFIG" >"$WORK/certsd.out" 2>"$WORK/certsd.err"
check_eq "the mirror trusted through certs.d alone: exit 0" 0 "$?"
check_eq "registry-config holds the certs.d CA" "$(cat "$mirror_CA")" \
    "$(api_get certsd $CM_CA | jq -r --arg k "$CA_KEY" '.data[$k]')"
check_eq "and the image config trusts it" registry-config \
    "$(api_get certsd $IMAGE | jq -r .spec.additionalTrustedCA.name)"

echo "# a cluster with its own trusted-CA ConfigMap, skipped list and allowed registries"
state "$WORK/busy.json" '{"additionalTrustedCA": {"name": "user-ca"},
                         "allowedRegistriesForImport": [{"domainName": "quay.io", "insecure": false}]}' \
    '{"managementState": "Managed", "skippedImagestreams": ["jenkins"], "samplesRegistry": "old.example.com"}' \
    '{"/api/v1/namespaces/openshift-config/configmaps/user-ca":
       {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "user-ca", "namespace": "openshift-config"},
        "data": {"proxy.example.com..3128": "PROXY CA"}}}'
start_apiserver busy "$WORK/busy.json"
run_import dry "$busy_KUBECONFIG" --dry-run
check_eq "--dry-run exits 0" 0 "$RC"
check_grep "--dry-run says what would change" "would patch configs.samples.operator.openshift.io/cluster" "$WORK/dry.err"
check_eq "--dry-run writes nothing" 0 "$(writes "$busy_LOG")"
run_import busy "$busy_KUBECONFIG"
check_eq "import exits 0" 0 "$RC"
CM=/api/v1/namespaces/openshift-config/configmaps
check_eq "the CA is added to the existing ConfigMap" "$(cat "$mirror_CA")" \
    "$(api_get busy $CM/user-ca | jq -r --arg k "$CA_KEY" '.data[$k]')"
check_eq "its other keys are kept" "PROXY CA" "$(api_get busy $CM/user-ca | jq -r '.data["proxy.example.com..3128"]')"
check_grep "no registry-config is created" NotFound <(api_get busy $CM/registry-config)
check_eq "the image config still names user-ca" user-ca "$(api_get busy $IMAGE | jq -r .spec.additionalTrustedCA.name)"
check_eq "the mirror is added to allowedRegistriesForImport, quay.io kept" "quay.io $mirror_HOST" \
    "$(api_get busy $IMAGE | jq -r '[.spec.allowedRegistriesForImport[].domainName] | join(" ")')"
check_eq "existing skipped imagestreams are kept" '["jenkins","ghost"]' \
    "$(api_get busy $SAMPLES | jq -c .spec.skippedImagestreams)"
check_eq "samplesRegistry replaced" "$mirror_HOST" "$(api_get busy $SAMPLES | jq -r .spec.samplesRegistry)"

echo "# an image the mirror refuses: its imagestream is skipped"
state "$WORK/refuse.json" '{}' '{"managementState": "Removed"}'
start_apiserver refuse "$WORK/refuse.json"
start_flaky pxrefuse mirror "refuse=/ubi8/nodejs-16/"
authfile "$pxrefuse_HOST" admin m1rr0r "$WORK/refuse-auth.json"
airlock_import "$WORK/b.tar.zst" --verify-key "$WORK/export.pub" --registry "$pxrefuse_HOST/refused" \
    --authfile "$WORK/refuse-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" \
    --kubeconfig "$refuse_KUBECONFIG" >"$WORK/refuse.out" 2>"$WORK/refuse.err"
RC=$?
check "the mirror refused nodejs's manifest" grep -q '"fault": "refuse"' "$pxrefuse_LOG"
check "the import does not claim success" test "$RC" -ne 0
check_grep "the images that could be pushed landed" "images: 2 landed in .*, 1 failed" "$WORK/refuse.out"
check_eq "skippedImagestreams lists nodejs (not pushed) and ghost (not exported)" '["ghost","nodejs"]' \
    "$(api_get refuse $SAMPLES | jq -c '.spec.skippedImagestreams | sort')"
check_eq "samplesRegistry is the mirror path" "$pxrefuse_HOST/refused" "$(api_get refuse $SAMPLES | jq -r .spec.samplesRegistry)"

echo "# a write with a stale resourceVersion is refused (409), re-read and retried"
state "$WORK/conflict.json" '{}' '{"managementState": "Removed"}' '{}' \
    "{\"conflict_once\": [\"$SAMPLES\"]}"
start_apiserver conflict "$WORK/conflict.json"
run_import conflict "$conflict_KUBECONFIG"
check_eq "import exits 0" 0 "$RC"
check_eq "the samples config was patched twice (409, then success)" 2 \
    "$(jq -r "select(.method == \"PATCH\" and .path == \"$SAMPLES\")" "$conflict_LOG" | jq -s length)"
check_eq "and read again in between" 2 \
    "$(jq -r "select(.method == \"GET\" and .path == \"$SAMPLES\")" "$conflict_LOG" | jq -s length)"
check_eq "and ends Managed" Managed "$(api_get conflict $SAMPLES | jq -r .spec.managementState)"

echo "# an apiserver that is overloaded, then restarting, then fine"
state "$WORK/busy.json" '{}' '{"managementState": "Removed"}' '{}' '{"unavailable": [429, 503, 500]}'
start_apiserver busy "$WORK/busy.json"
run_import busy "$busy_KUBECONFIG"
check_eq "import exits 0" 0 "$RC"
check_eq "the first three requests were refused and tried again" 3 \
    "$(jq -s '[.[] | select(.fault)] | length' "$busy_LOG")"
check_eq "and the samples operator ends Managed" Managed "$(api_get busy $SAMPLES | jq -r .spec.managementState)"
state "$WORK/down.json" '{}' '{"managementState": "Removed"}' '{}' '{"unavailable": [503, 503, 503]}'
start_apiserver down "$WORK/down.json"
run_import down "$down_KUBECONFIG" --retries 1
check_eq "an apiserver still down after --retries 1: exit 5" 5 "$RC"
check_grep "saying what the server answered" "HTTP 503: the server is currently unable" "$WORK/down.err"

echo "# a forbidden write"
state "$WORK/forbidden.json" '{}' '{"managementState": "Removed"}' '{}' \
    "{\"forbid\": [[\"PATCH\", \"$IMAGE\"]]}"
start_apiserver forbidden "$WORK/forbidden.json"
run_import forbidden "$forbidden_KUBECONFIG"
check_eq "exit 5: images landed, cluster not configured" 5 "$RC"
check_grep "the message names the verb, the object and the permission" \
    "not allowed to patch image.config.openshift.io/cluster \(HTTP 403\).*cluster-admin" "$WORK/forbidden.err"
check_grep "the images still landed" "images: 3 landed" "$WORK/forbidden.out"

echo "# no samples operator: reported, the rest applied"
jq 'del(.objects["/apis/samples.operator.openshift.io/v1/configs/cluster"])' "$WORK/fresh.json" >"$WORK/nosamples.json"
start_apiserver nosamples "$WORK/nosamples.json"
run_import nosamples "$nosamples_KUBECONFIG"
check_eq "import exits 0" 0 "$RC"
check_grep "the missing operator is reported" "samples operator is not installed" "$WORK/nosamples.err"
check_eq "must-gather is still imported" "$MG_DEST" \
    "$(api_get nosamples $STREAM | jq -r '.spec.tags[] | select(.name == "latest") | .from.name')"

echo "# the cluster could not import must-gather"
state "$WORK/importfail.json" '{}' '{}' '{}' '{"import_failure": "dial tcp: i/o timeout"}'
start_apiserver importfail "$WORK/importfail.json"
run_import importfail "$importfail_KUBECONFIG"
check_eq "exit 5" 5 "$RC"
check_grep "the import's failure status is reported" "could not import must-gather .*i/o timeout" "$WORK/importfail.err"
: >"$importfail_LOG"
run_import importfail2 "$importfail_KUBECONFIG"
check_eq "a re-run does not take the spec tag the failed import left for success: exit 5 again" 5 "$RC"
check_eq "it imported again" 1 \
    "$(jq -s '[.[] | select(.method == "POST" and (.path | endswith("/imagestreamimports")))] | length' "$importfail_LOG")"

echo "# a stream airlock skipped once is taken out of skippedImagestreams when it lands"
jq --arg p "$SAMPLES" '.objects[$p].spec.skippedImagestreams = ["mine", "nodejs", "ghost", "ruby"]
    | .objects[$p].metadata.annotations = {"airlock.openshift.io/skipped-imagestreams": "nodejs,ghost,nodejs"}' \
    "$WORK/fresh.json" >"$WORK/healed.json"
start_apiserver healed "$WORK/healed.json"
run_import healed "$healed_KUBECONFIG"
check_eq "exit 0" 0 "$RC"
check_eq "nodejs landed: no longer skipped; ghost still failing and the cluster's own entries stay, ruby too though it landed" \
    '["mine","ghost","ruby"]' "$(api_get healed $SAMPLES | jq -c .spec.skippedImagestreams)"
check_eq "airlock's own entries now: ghost" ghost \
    "$(api_get healed $SAMPLES | jq -r '.metadata.annotations["airlock.openshift.io/skipped-imagestreams"]')"
: >"$healed_LOG"
run_import healed2 "$healed_KUBECONFIG"
check_eq "a re-run sends no write" 0 "$(writes "$healed_LOG")"

echo "# --timeout holds for the Kubernetes API too"
# --timeout caps every other request of the run as well (the mirror's, the
# cluster's reads): 3 s leaves a slow machine room for those
state "$WORK/slow.json" '{}' '{}' '{}' '{"slow_import": 6}'
start_apiserver slow "$WORK/slow.json"
run_import slowcut "$slow_KUBECONFIG" --timeout 3 --retries 0
check_eq "an ImageStreamImport answered after 6 s, --timeout 3: exit 5" 5 "$RC"
check_grep "saying it timed out" "imagestreamimports.*no whole answer within --timeout, 3 s" "$WORK/slowcut.err"
run_import slowwait "$slow_KUBECONFIG" --timeout 20
check_eq "the same with --timeout 20: exit 0" 0 "$RC"

echo "# credentials"
sed 's/token: .*/token: wrong/' "$fresh_KUBECONFIG" >"$WORK/wrong-token.kubeconfig"
run_import wrongtoken "$WORK/wrong-token.kubeconfig"
check_eq "a refused token is exit 5" 5 "$RC"
check_grep "and says to log in again" "refused the credentials \(HTTP 401\)" "$WORK/wrongtoken.err"
check "the token is not printed" sh -c "! grep -q 'test-token' '$WORK/wrongtoken.err' '$WORK/fresh.err'"
# the installer's admin kubeconfig: a client certificate, no token
make_client_cert fresh fresh-admin
sed -e '/token:/d' -e "s|^  user:|  user:\n    client-certificate-data: $(base64 -w0 <"$WORK/pki/fresh-admin.crt")\n    client-key-data: $(base64 -w0 <"$WORK/pki/fresh-admin.key")|" \
    "$fresh_KUBECONFIG" >"$WORK/cert.kubeconfig"
: >"$fresh_LOG"
run_import clientcert "$WORK/cert.kubeconfig"
check_eq "a client certificate (installer kubeconfig) works" 0 "$RC"
check_grep "and reached the cluster" "configuring the cluster" "$WORK/clientcert.err"
printf 'apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts: []\n' >"$WORK/broken.kubeconfig"
: >"$fresh_LOG"
run_import brokenkc "$WORK/broken.kubeconfig"
check_eq "a broken kubeconfig fails before anything is pushed" 1 "$RC"
check_grep "naming the file and the context" "kubeconfig '$WORK/broken.kubeconfig' has no context 'x'" "$WORK/brokenkc.err"
check "nothing was read from the bundle" sh -c "! grep -q 'verified' '$WORK/brokenkc.err'"

echo "# names read from the cluster go into API paths only as object names"
VICTIM=/api/v1/namespaces/kube-system/configmaps/victim
state "$WORK/evil.json" '{"additionalTrustedCA": {"name": "../../kube-system/configmaps/victim"}}' \
    '{"managementState": "Removed"}' \
    "{\"$VICTIM\": {\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",
       \"metadata\": {\"name\": \"victim\", \"namespace\": \"kube-system\"}, \"data\": {\"keep\": \"me\"}}}"
start_apiserver evil "$WORK/evil.json"
run_import evil "$evil_KUBECONFIG"
check_eq "an additionalTrustedCA.name with a path in it: exit 5" 5 "$RC"
check_grep "the message names the field, the value and what to do" \
    "spec.additionalTrustedCA.name of image.config.openshift.io/cluster is '../../kube-system/configmaps/victim', which is not a Kubernetes object name.*oc edit" \
    "$WORK/evil.err"
check_eq "no request outside the image config and openshift-config" "" \
    "$(jq -r --arg img "$IMAGE" 'select((.path == $img or (.path | startswith("/api/v1/namespaces/openshift-config/"))) | not) | .path' "$evil_LOG")"
check_eq "the ConfigMap in kube-system is untouched" '{"keep":"me"}' \
    "$(api_get evil $VICTIM | jq -c .data)"

echo "# TLS to the apiserver"
# The kubeconfig's CA replaces the system trust, as kubectl does. To show
# it, the apiserver's CA is made the system trust in a private mount
# namespace (curl reads its compiled-in bundle, not the environment).
SYS_BUNDLE=$(curl-config --ca 2>/dev/null)
SYS_BUNDLE=${SYS_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
cat >"$WORK/systrust" <<SH
#!/bin/sh
# systrust CA CMD...: CMD with CA as the system's only CA bundle
ca=\$1; shift
mount --bind "\$ca" "$SYS_BUNDLE" && exec "\$@"
SH
chmod +x "$WORK/systrust"
start_apiserver tls "$WORK/fresh.json"
make_ca other
sed '/certificate-authority-data:/d' "$tls_KUBECONFIG" >"$WORK/noca.kubeconfig"
sed "s|certificate-authority-data: .*|certificate-authority-data: $(base64 -w0 <"$WORK/pki/other-ca.crt")|" \
    "$tls_KUBECONFIG" >"$WORK/otherca.kubeconfig"
if [ -f "$SYS_BUNDLE" ] && unshare -rm "$WORK/systrust" "$tls_CA" true 2>/dev/null; then
    SAVED_WRAP=${WRAP:-}
    WRAP="unshare -rm $WORK/systrust $tls_CA $SAVED_WRAP"
    run_import sysonly "$WORK/noca.kubeconfig"
    check_eq "no CA in the kubeconfig: the system trust verifies the apiserver" 0 "$RC"
    : >"$tls_LOG"
    run_import otherca "$WORK/otherca.kubeconfig"
    WRAP=$SAVED_WRAP
    check_eq "a kubeconfig CA that did not sign the apiserver's certificate: exit 5, though the system trusts it" 5 "$RC"
    check_grep "it says the kubeconfig's CA does not vouch for the apiserver" \
        "TLS verification failed: the apiserver's certificate is not signed by the kubeconfig's certificate-authority" "$WORK/otherca.err"
    check_eq "and no request reached the apiserver" 0 "$(wc -l <"$tls_LOG")"
else
    echo "# skipped: the system trust cannot be replaced here (unshare -rm, $SYS_BUNDLE)"
fi
sed "s|certificate-authority-data: .*|insecure-skip-tls-verify: true|" "$tls_KUBECONFIG" \
    >"$WORK/insecure.kubeconfig"
run_import kcinsecure "$WORK/insecure.kubeconfig" -q
check_eq "insecure-skip-tls-verify without a CA works" 0 "$RC"
check_grep "and says, even with -q, that the apiserver is not verified" \
    "warning: the apiserver https://127.0.0.1:[0-9]+ is NOT verified \(insecure-skip-tls-verify" \
    "$WORK/kcinsecure.err"
sed "s|^    server:|    insecure-skip-tls-verify: true\n    server:|" "$tls_KUBECONFIG" \
    >"$WORK/both.kubeconfig"
run_import both "$WORK/both.kubeconfig"
check_eq "insecure-skip-tls-verify with a CA is refused before the push" 1 "$RC"
check_grep "in one line naming the file, the context and what to do" \
    "airlock-import: kubeconfig '$WORK/both.kubeconfig': the cluster of context 'admin' has both insecure-skip-tls-verify and a certificate-authority: remove insecure-skip-tls-verify" \
    "$WORK/both.err"
check_eq "that line alone" 1 "$(wc -l <"$WORK/both.err")"
run_import flaginsecure "$tls_KUBECONFIG" --insecure -q
check_eq "--insecure works" 0 "$RC"
check_grep "and says, even with -q, that the mirror is not verified" \
    "warning: --insecure: the mirror's TLS certificate is NOT verified" "$WORK/flaginsecure.err"

echo "# --manifests-dir and --skip-cluster touch no cluster"
: >"$fresh_LOG"
run_import manifests "$fresh_KUBECONFIG" --manifests-dir "$WORK/manifests"
check_eq "--manifests-dir exits 0" 0 "$RC"
check "apply.sh is written and executable" test -x "$WORK/manifests/apply.sh"
check_eq "the ConfigMap carries the CA under <host>..<port>" "$(cat "$mirror_CA")" \
    "$(jq -r --arg k "$CA_KEY" '.data[$k]' "$WORK/manifests/10-registry-config.json")"
check_eq "the samples patch skips ghost and sets the registry" "[\"ghost\"] $mirror_HOST Managed" \
    "$(jq -r '"\(.spec.skippedImagestreams | tojson) \(.spec.samplesRegistry) \(.spec.managementState)"' "$WORK/manifests/30-samples-config.patch.json")"
check_grep "apply.sh imports must-gather from the mirror" "oc tag --source=docker --import-mode=PreserveOriginal '$MG_DEST'" "$WORK/manifests/apply.sh"
check "apply.sh is valid shell" sh -n "$WORK/manifests/apply.sh"
echo precious >"$WORK/victim"
mkdir -p "$WORK/manifests-planted"
for n in apply.sh apply.sh.partial 30-samples-config.patch.json.partial 10-registry-config.json.partial; do
    ln -s "$WORK/victim" "$WORK/manifests-planted/$n"
done
run_import planted "$fresh_KUBECONFIG" --manifests-dir "$WORK/manifests-planted"
check_eq "--manifests-dir with links planted in it exits 0" 0 "$RC"
check_eq "the links' target is untouched" precious "$(cat "$WORK/victim")"
check "apply.sh is a file of its own" test -f "$WORK/manifests-planted/apply.sh" -a ! -L "$WORK/manifests-planted/apply.sh"
check "and its target kept its mode" test ! -x "$WORK/victim"
mkdir -p "$WORK/manifests-nobody" && chown nobody "$WORK/manifests-nobody"
run_import nobodys "$fresh_KUBECONFIG" --manifests-dir "$WORK/manifests-nobody"
check_eq "a --manifests-dir of another user's is refused" 1 "$RC"
check_grep "naming it and what to do" "manifests directory '$WORK/manifests-nobody' belongs to another user" "$WORK/nobodys.err"
check "nothing is written into it" test -z "$(ls -A "$WORK/manifests-nobody")"
mkdir -p "$WORK/manifests-open" && chmod 0777 "$WORK/manifests-open"
run_import open "$fresh_KUBECONFIG" --manifests-dir "$WORK/manifests-open"
check_eq "a --manifests-dir writable by others is refused" 1 "$RC"
check_grep "naming it" "manifests directory '$WORK/manifests-open' is writable by group or others" "$WORK/open.err"
run_import skip "$fresh_KUBECONFIG" --skip-cluster
check_eq "--skip-cluster exits 0" 0 "$RC"
check_eq "no request reached the API" 0 "$(wc -l <"$fresh_LOG")"

e2e_finish
