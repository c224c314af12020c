#!/usr/bin/env bash
# A hostile registry during the export: what it serves cannot grow the
# export past its bounds nor end in a signed bundle the import would refuse.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
make_keys export

echo "# an index of hundreds of 4 MiB children (a memory attack)"
start_flaky big src "bigindexx200"
authfile "$big_HOST" tester s3cret "$WORK/big-auth.json"
/usr/bin/time -f %M -o "$WORK/big.rss" "$BUILD/airlock-export" \
    --image "registry.redhat.io/ubi8/ruby-31:latest" \
    --pull-from "registry.redhat.io=$big_HOST" --authfile "$WORK/big-auth.json" \
    --ca-file "$src_CA" --certs-dir "$WORK/none" --sign-key "$WORK/export.key" \
    -o "$WORK/big.tar.zst" 2>"$WORK/big.err"
RC=$?
check_eq "the export fails (exit 1)" 1 "$RC"
check_grep "naming the bound on manifest bytes" \
    "the manifests of this export pass 536870912 bytes, the most one bundle may carry" "$WORK/big.err"
check "and writes no bundle" sh -c "! ls '$WORK' | grep -q '^big.tar.zst'"
children=$(jq -s '[.[] | select(.fault == "bigchild")] | length' "$big_LOG")
check "it stopped reading children at the bound ($children of 200)" test "$children" -ge 120 -a "$children" -le 130
rss=$(tail -n 1 "$WORK/big.rss")
if [ -z "${ASAN_OPTIONS:-}${TSAN_OPTIONS:-}${WRAP:-}" ]; then   # sanitizers multiply memory
    check "its memory stayed within the bound (peak $((rss / 1024)) MiB < 640 MiB)" \
        test "$rss" -lt $((640 * 1024))
fi

e2e_finish
