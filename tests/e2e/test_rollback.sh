#!/usr/bin/env bash
# Rollback: a validly signed bundle older (by its "created" time) than the
# newest bundle already imported into the mirror does not move tags back:
# it is refused before anything is pushed, naming both bundles and their
# dates, unless --allow-rollback. The memory is a record in the mirror
# itself (airlock/state:latest), so every importer of the mirror sees it.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
start_mirror
make_keys export
mkdir -p "$WORK/certs" && cp "$mirror_CA" "$WORK/certs/ca.crt"
run_export() { # NAME ARGS...
    local name=$1
    shift
    airlock_export --image registry.redhat.io/ubi8/nodejs-16:1 --pull-from "registry.redhat.io=$src_HOST" \
        --authfile "$WORK/src-auth.json" --ca-file "$src_CA" --certs-dir "$WORK/none" \
        --sign-key "$WORK/export.key" -o "$WORK/$name.tar.zst" "$@" >/dev/null 2>"$WORK/$name.err"
    RC=$?
}
run_import() { # NAME BUNDLE [ARGS...]
    local name=$1 bundle=$2
    shift 2
    airlock_import "$WORK/$bundle.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST" \
        --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" \
        --skip-cluster "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    RC=$?
}
meta() { zstd -dc "$WORK/$1.tar.zst" | tar -xOf - bundle.json | jq -r "$2"; }
tag_digest() {
    skopeo inspect --creds admin:m1rr0r --cert-dir "$WORK/certs" "docker://$mirror_HOST/ubi8/nodejs-16:1" | jq -r .Digest
}

run_export old
check_eq "an export of today's nodejs (A)" 0 "$RC"
sleep 1
python3 "$E2E_DIR/seed.py" update "$src_HOST" "$src_CA" tester s3cret "$WORK/update.json" >/dev/null
run_export new
check_eq "a later export, with a security fix in nodejs (B)" 0 "$RC"
old_id=$(meta old .id) new_id=$(meta new .id)
old_created=$(meta old .created) new_created=$(meta new .created)

run_import new new
check_eq "B imports" 0 "$RC"
new_digest=$(tag_digest)
check_eq "the tag is B's build" "$(jq -r '.images["ubi8/nodejs-16:1"]' "$WORK/update.json")" "$new_digest"
check_grep "the import says it recorded the bundle in the mirror" "airlock/state" "$WORK/new.err"

run_import rollback old
check "A afterwards is refused (non-zero exit)" test "$RC" -ne 0
check_grep "naming A and its date" "$old_id.*$old_created" "$WORK/rollback.err"
check_grep "and B and its date" "$new_id.*$new_created" "$WORK/rollback.err"
check_grep "and the way out" "--allow-rollback" "$WORK/rollback.err"
check_eq "the tag still names B's build" "$new_digest" "$(tag_digest)"

mkdir -p "$WORK/elsewhere"
(cd "$WORK/elsewhere" && HOME="$WORK/elsewhere" XDG_RUNTIME_DIR="$WORK/elsewhere" \
    airlock_import "$WORK/old.tar.zst" --verify-key "$WORK/export.pub" --registry "$mirror_HOST" \
    --authfile "$WORK/mirror-auth.json" --ca-file "$mirror_CA" --certs-dir "$WORK/none" \
    --skip-cluster >"$WORK/second.out" 2>"$WORK/second.err")
check "another importer (another directory and home) is refused too" test "$?" -ne 0
check_grep "from the record in the mirror" "$new_id" "$WORK/second.err"
check_eq "the tag still names B's build" "$new_digest" "$(tag_digest)"

run_import allowed old --allow-rollback
check_eq "A with --allow-rollback is imported" 0 "$RC"
check_grep "with a warning naming both" "warning: .*$old_id.*older.*$new_id" "$WORK/allowed.err"
check_eq "and the tag names A's build again" "$(jq -r '.images["ubi8/nodejs-16:1"]' "$WORK/seed.json")" "$(tag_digest)"

run_import again new
check_eq "B imports again: the record kept the newest bundle" 0 "$RC"
check_eq "the tag is B's build again" "$new_digest" "$(tag_digest)"
run_import again2 old
check "and A is refused again" test "$RC" -ne 0

echo "# an increment of the same series is newer than its base"
sleep 1
run_export incr --since "$WORK/new.tar.zst"
check_eq "an increment on B" 0 "$RC"
run_import incr incr
check_eq "imports on top of B" 0 "$RC"
run_import back new
check "and B after its increment is an older bundle: refused" test "$RC" -ne 0

e2e_finish
