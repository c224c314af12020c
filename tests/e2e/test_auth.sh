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
    "$(jq -s '[.[] | select(.path == "/token")] | length' "$tok_TOKEN_LOG")"
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

e2e_finish
