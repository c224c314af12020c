#!/usr/bin/env bash
# Registry authentication as real registries do it: the Bearer token flow
# (a docker-registry with token auth and a token server), anonymous tokens,
# and blob GETs redirected to another host, where credentials must not go.
source "$(dirname "$0")/lib.sh"
e2e_init

start_token_registry tok tester s3cret
python3 "$E2E_DIR/seed.py" fixtures "$tok_HOST" "$tok_CA" tester s3cret "$WORK/seed.json" "$SHARED" \
    || { echo "seeding the token registry failed" >&2; exit 1; }
seed() { jq -r "$1" "$WORK/seed.json"; }
openssl genpkey -algorithm ed25519 -out "$WORK/export.key" 2>/dev/null
openssl pkey -in "$WORK/export.key" -pubout -out "$WORK/export.pub"
authfile "$tok_HOST" tester s3cret "$WORK/auth.json"
: >"$tok_TOKEN_LOG"

echo "# Bearer tokens with credentials"
airlock_export --image registry.redhat.io/ubi8/ruby-31:latest --image registry.redhat.io/ubi8/python-39:latest \
    --pull-from "registry.redhat.io=$tok_HOST" --authfile "$WORK/auth.json" --ca-file "$tok_CA" \
    --certs-dir "$WORK/none" --sign-key "$WORK/export.key" -o "$WORK/tok.tar.zst" 2>"$WORK/tok.err"
check_eq "export through a token-auth registry exits 0" 0 "$?"
check "the bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/tok.tar.zst" "$WORK/export.pub" "$WORK/tok.d"
check_eq "ruby digest" "$(seed '.images["ubi8/ruby-31:latest"]')" \
    "$(jq -r '.images[] | select(.name | contains("ruby")) | .digest' "$WORK/tok.d/bundle.json")"
check_eq "tokens were asked for with credentials, per repository scope" \
    "repository:ubi8/python-39:pull repository:ubi8/ruby-31:pull" \
    "$(jq -rs '[.[] | select(.user == "tester") | .scope[]] | unique | join(" ")' "$tok_TOKEN_LOG")"
check_eq "one token per repository (tokens are reused)" 2 \
    "$(jq -s '[.[] | select(.path == "/token" and (.scope | length) > 0)] | length' "$tok_TOKEN_LOG")"
check_eq "and one login (a token with no scope) before them" 1 \
    "$(jq -s '[.[] | select(.path == "/token" and .scope == [])] | length' "$tok_TOKEN_LOG")"
check_eq "the service from the challenge is sent" "airlock-test-registry" \
    "$(jq -rs '[.[].service] | unique | join(" ")' "$tok_TOKEN_LOG")"

echo "# anonymous tokens"
echo '{"auths":{}}' >"$WORK/empty.json"
airlock_export --image registry.redhat.io/ubi8/ruby-31:latest --pull-from "registry.redhat.io=$tok_HOST" \
    --authfile "$WORK/empty.json" --ca-file "$tok_CA" --certs-dir "$WORK/none" \
    --sign-key "$WORK/export.key" -o "$WORK/anon.tar.zst" 2>"$WORK/anon.err"
check_eq "anonymous access to a private repository fails (exit 1)" 1 "$?"
check_grep "and says access was denied" "denied|unauthorized|authentication" "$WORK/anon.err"
check "and leaves no file" test ! -e "$WORK/anon.tar.zst"
check_grep "an anonymous token was asked for" '"user": null' "$tok_TOKEN_LOG"
check_eq "the token endpoint never saw the password in the bundle" "" "$(zstd -dc "$WORK/tok.tar.zst" | grep -a -o s3cret)"

echo "# blob GETs redirected to another host"
start_registry plain tester s3cret
python3 "$E2E_DIR/seed.py" fixtures "$plain_HOST" "$plain_CA" tester s3cret "$WORK/seed-plain.json" "$SHARED" \
    || { echo "seeding the plain registry failed" >&2; exit 1; }
start_redirector cdn plain tester s3cret
authfile "$cdn_HOST" tester s3cret "$WORK/cdn-auth.json"
airlock_export --image registry.redhat.io/ubi8/nodejs-16:1 --pull-from "registry.redhat.io=$cdn_HOST" \
    --authfile "$WORK/cdn-auth.json" --ca-file "$plain_CA" --certs-dir "$WORK/none" \
    --sign-key "$WORK/export.key" -o "$WORK/cdn.tar.zst" 2>"$WORK/cdn.err"
check_eq "export through redirected blobs exits 0" 0 "$?"
check "the redirected bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/cdn.tar.zst" "$WORK/export.pub" "$WORK/cdn.d"
check_eq "config and three layers came through the redirect target" 4 "$(grep -c '"cdn"' "$cdn_LOG")"
check_eq "no Authorization header was sent to the redirect target" 0 \
    "$(grep -c '"authorization": true' "$cdn_LOG")"

echo "# credentials refused: one message naming the registry and the auth file, exit 1"
cat >"$WORK/cm.json" <<JSON
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "imagestreamtag-to-image"},
 "data": {"ruby_3.1-ubi8": "registry.redhat.io/ubi8/ruby-31:latest",
          "python_3.9-ubi8": "registry.redhat.io/ubi8/python-39:latest"}}
JSON
# refused NAME HOST CA: exports the samples of cm.json from HOST with a wrong
# password in NAME-auth.json, and checks the one message.
refused() {
    local name=$1 host=$2 ca=$3
    authfile "$host" tester wrong-password "$WORK/$name-auth.json"
    airlock_export --samples-configmap "$WORK/cm.json" --pull-from "registry.redhat.io=$host" \
        --authfile "$WORK/$name-auth.json" --ca-file "$ca" --certs-dir "$WORK/none" \
        --sign-key "$WORK/export.key" -o "$WORK/$name.tar.zst" 2>"$WORK/$name.err"
    check_eq "$name: the export stops (exit 1, not 3)" 1 "$?"
    check_eq "$name: with one message naming the registry and the auth file" 1 \
        "$(grep -c "registry '$host' refused the credentials in '$WORK/$name-auth.json'" "$WORK/$name.err")"
    check_eq "$name: and no line per image" 0 "$(grep -c skipping "$WORK/$name.err")"
    check "$name: no bundle" test ! -e "$WORK/$name.tar.zst" -a ! -e "$WORK/$name.tar.zst.partial"
    check_eq "$name: the password is never printed" 0 "$(grep -c wrong-password "$WORK/$name.err")"
}
refused badbasic "$plain_HOST" "$plain_CA"
refused badtoken "$tok_HOST" "$tok_CA"

echo "# a repository refused after a good login stays one image's failure (exit 3)"
jq '.data["secret_1"] = "registry.redhat.io/notentitled/app:1"' "$WORK/cm.json" >"$WORK/cm-ne.json"
airlock_export --samples-configmap "$WORK/cm-ne.json" --pull-from "registry.redhat.io=$tok_HOST" \
    --authfile "$WORK/auth.json" --ca-file "$tok_CA" --certs-dir "$WORK/none" \
    --sign-key "$WORK/export.key" -o "$WORK/ne.tar.zst" 2>"$WORK/ne.err"
check_eq "a token without the repository's scope: exit 3" 3 "$?"
check_grep "naming the image" "skipping 'registry.redhat.io/notentitled/app:1'.*denied" "$WORK/ne.err"
check "the other images are in the bundle" test -s "$WORK/ne.tar.zst"
start_flaky deny plain "deny=ubi8/python-39"
authfile "$deny_HOST" tester s3cret "$WORK/deny-auth.json"
airlock_export --samples-configmap "$WORK/cm.json" --pull-from "registry.redhat.io=$deny_HOST" \
    --authfile "$WORK/deny-auth.json" --ca-file "$plain_CA" --certs-dir "$WORK/none" \
    --sign-key "$WORK/export.key" -o "$WORK/deny.tar.zst" 2>"$WORK/deny.err"
check_eq "a 401 to Basic credentials /v2/ accepted: exit 3" 3 "$?"
check_grep "naming the image" "skipping 'registry.redhat.io/ubi8/python-39:latest'.*denied \(HTTP 401\)" "$WORK/deny.err"
check "the other image is in the bundle" test -s "$WORK/deny.tar.zst"

echo "# the import's mirror refusing the credentials: one message, exit 1"
# import_refused NAME HOST CA
import_refused() {
    local name=$1 host=$2 ca=$3
    authfile "$host" tester wrong-password "$WORK/$name-auth.json"
    airlock_import "$WORK/tok.tar.zst" --verify-key "$WORK/export.pub" --registry "$host" \
        --authfile "$WORK/$name-auth.json" --ca-file "$ca" --certs-dir "$WORK/none" \
        --skip-cluster >"$WORK/$name.out" 2>"$WORK/$name.err"
    check_eq "$name: the import stops (exit 1)" 1 "$?"
    check_eq "$name: with one message naming the mirror and the auth file" 1 \
        "$(grep -c "registry '$host' refused the credentials in '$WORK/$name-auth.json'" "$WORK/$name.err")"
    check_eq "$name: and no other failure" 1 "$(grep -cE 'refused|denied|cannot' "$WORK/$name.err")"
    check_eq "$name: before any blob was pushed" 0 "$(grep -c 'verified and pushed' "$WORK/$name.err")"
}
import_refused impbasic "$plain_HOST" "$plain_CA"
import_refused imptoken "$tok_HOST" "$tok_CA"

e2e_finish
