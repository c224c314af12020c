#!/usr/bin/env bash
# Volumes for removable media: an export split into parts no larger than a
# size, a signed list of them, and an import that reads them in turn
# without joining them; damaged, missing and foreign volumes are named.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
start_mirror
make_keys export
run_export() { # NAME ARGS...
    local name=$1
    shift
    mkdir -p "$WORK/$name"
    airlock_export --image registry.redhat.io/ubi8/nodejs-16:1 --image registry.redhat.io/ubi8/ruby-31:latest \
        --pull-from "registry.redhat.io=$src_HOST" --authfile "$WORK/src-auth.json" --ca-file "$src_CA" \
        --certs-dir "$WORK/none" --sign-key "$WORK/export.key" -o "$WORK/$name/b.tar.zst" "$@" \
        2>"$WORK/$name.err"
    RC=$?
}
run_import() { # NAME INPUT ARGS...
    local name=$1 input=$2
    shift 2
    airlock_import "$input" --verify-key "$WORK/export.pub" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    RC=$?
}

echo "# --split-size 1M --verify-written"
run_export vol --split-size 1M --verify-written
check_eq "the export exits 0" 0 "$RC"
nvol=$(ls "$WORK/vol" | grep -c '^b.tar.zst.[0-9][0-9][0-9]$')
check "several volumes were written" test "$nvol" -ge 5
check "none is larger than 1 MiB" sh -c "! find '$WORK/vol' -name 'b.tar.zst.[0-9]*' -size +1024k | grep -q ."
check "no file named like the whole bundle, no partial file" \
    sh -c "test ! -e '$WORK/vol/b.tar.zst' && ! ls '$WORK/vol' | grep -q partial"
check_grep "the volumes are reported" "in $nvol volumes of at most 1048576 bytes" "$WORK/vol.err"
check_grep "and read back" "read back and verified $nvol files" "$WORK/vol.err"
check_eq "the list names every volume with its size and digest" "$nvol" \
    "$(jq '[.parts[] | select(.size > 0 and (.digest | startswith("sha256:")))] | length' "$WORK/vol/b.tar.zst.parts")"
jq -r .signature "$WORK/vol/b.tar.zst.parts.sig" | base64 -d >"$WORK/parts.sig.bin"
check "openssl verifies the list's signature" openssl pkeyutl -verify -pubin -inkey "$WORK/export.pub" \
    -rawin -in "$WORK/vol/b.tar.zst.parts" -sigfile "$WORK/parts.sig.bin"
cat "$WORK"/vol/b.tar.zst.[0-9][0-9][0-9] >"$WORK/joined.tar.zst"
check_eq "the concatenation is the bundle the list describes" \
    "$(jq -r .digest "$WORK/vol/b.tar.zst.parts")" "sha256:$(sha256sum <"$WORK/joined.tar.zst" | cut -d' ' -f1)"
check "the joined bundle passes the independent check" \
    python3 "$E2E_DIR/verify_bundle.py" "$WORK/joined.tar.zst" "$WORK/export.pub" "$WORK/joined.d"

echo "# importing from the volumes, without joining them"
run_import fromfirst "$WORK/vol/b.tar.zst.000" --registry "$mirror_HOST" --authfile "$WORK/mirror-auth.json" \
    --ca-file "$mirror_CA" --certs-dir "$WORK/none"
check_eq "import from the first volume exits 0" 0 "$RC"
check_grep "and lands both images" "images: 2 landed" "$WORK/fromfirst.out"
run_import fromlist "$WORK/vol/b.tar.zst.parts" --verify-only
check_eq "--verify-only from the list exits 0" 0 "$RC"
mkdir -p "$WORK/nolist" && cp "$WORK"/vol/b.tar.zst.[0-9]* "$WORK/nolist/"
run_import nolist "$WORK/nolist/b.tar.zst.000" --verify-only
check_eq "volumes without their list are read in turn" 0 "$RC"

echo "# a damaged, a missing and a foreign volume are named"
mkdir -p "$WORK/bad" && cp "$WORK"/vol/b.tar.zst.* "$WORK/bad/"
printf 'X' | dd of="$WORK/bad/b.tar.zst.002" bs=1 seek=1000 conv=notrunc status=none
run_import damaged "$WORK/bad/b.tar.zst.000" --verify-only
check_eq "a damaged volume: exit 4" 4 "$RC"
check_grep "it says which volume to re-burn" "volume '$WORK/bad/b.tar.zst.002' is damaged or from another bundle.*re-burn" "$WORK/damaged.err"
cp "$WORK/vol/b.tar.zst.002" "$WORK/bad/"
rm "$WORK/bad/b.tar.zst.003"
run_import missing "$WORK/bad/b.tar.zst.parts" --verify-only
check "a missing volume fails" test "$RC" != 0
check_grep "and is named" "volume '$WORK/bad/b.tar.zst.003' is missing" "$WORK/missing.err"
rm "$WORK/nolist/b.tar.zst.00$((nvol - 1))"
run_import lastgone "$WORK/nolist/b.tar.zst.000" --verify-only
check_eq "without a list, a missing last volume is a truncated bundle: exit 4" 4 "$RC"
check_grep "naming the last volume found" "ends with volume '$WORK/nolist/b.tar.zst.00$((nvol - 2))'; is the next volume missing" "$WORK/lastgone.err"
run_export other --split-size 1M
cp "$WORK/other/b.tar.zst.001" "$WORK/bad/b.tar.zst.003"
run_import foreign "$WORK/bad/b.tar.zst.000" --verify-only
check_eq "a volume of another export: exit 4" 4 "$RC"
check_grep "named" "volume '$WORK/bad/b.tar.zst.003' is damaged or from another bundle" "$WORK/foreign.err"
cp "$WORK/vol/b.tar.zst.003" "$WORK/bad/"
cp "$WORK/other/b.tar.zst.parts" "$WORK/bad/b.tar.zst.parts"
run_import otherlist "$WORK/bad/b.tar.zst.000" --verify-only
check_eq "the list of another export: exit 4" 4 "$RC"
cp "$WORK/vol/b.tar.zst.parts" "$WORK/bad/"
printf ' ' >>"$WORK/bad/b.tar.zst.parts"
run_import forgedlist "$WORK/bad/b.tar.zst.parts" --verify-only
check_eq "an edited list: exit 4" 4 "$RC"
check_grep "its signature fails" "bad signature: volume list" "$WORK/forgedlist.err"

echo "# links planted where temporaries could be predicted"
mkdir -p "$WORK/plant"
echo precious >"$WORK/victim"
for n in b.tar.zst.partial b.tar.zst.000.partial b.tar.zst.001.partial b.tar.zst.parts.partial \
         b.tar.zst.parts.sig.partial; do
    ln -s "$WORK/victim" "$WORK/plant/$n"
done
run_export plant --split-size 1M
check_eq "an export beside planted links exits 0" 0 "$RC"
check_eq "the links' target is untouched" precious "$(cat "$WORK/victim")"
check "and the volumes are files of their own" test -f "$WORK/plant/b.tar.zst.000" -a ! -L "$WORK/plant/b.tar.zst.000"

echo "# re-exporting to the same -o leaves no stale volume"
mkdir -p "$WORK/again"
cp "$WORK"/vol/b.tar.zst.* "$WORK/again/"
echo keep >"$WORK/again/b.tar.zst.summary.json"
echo keep >"$WORK/again/other.tar.zst.$(printf %03d $((nvol + 1)))"
mkdir -p "$WORK/again-d" && cp "$WORK/again"/* "$WORK/again-d/"
run_export again --split-size 2M
check_eq "the second export exits 0" 0 "$RC"
nnew=$(jq '.parts | length' "$WORK/again/b.tar.zst.parts")
check "it needs fewer volumes than the first" test "$nnew" -lt "$nvol"
check_eq "only its own volumes are left" "$nnew" "$(ls "$WORK/again" | grep -c '^b.tar.zst.[0-9]')"
cat "$WORK"/again/b.tar.zst.[0-9]* >"$WORK/again-joined.tar.zst"
check_eq "cat FILE.[0-9]* is the new bundle" "$(jq -r .digest "$WORK/again/b.tar.zst.parts")" \
    "sha256:$(sha256sum <"$WORK/again-joined.tar.zst" | cut -d' ' -f1)"
mkdir -p "$WORK/again-nolist" && cp "$WORK"/again/b.tar.zst.[0-9]* "$WORK/again-nolist/"
run_import againnolist "$WORK/again-nolist/b.tar.zst.000" --verify-only
check_eq "FILE.000 without its list is the new bundle" 0 "$RC"
check "files that are not its volumes are kept" \
    test -s "$WORK/again/b.tar.zst.summary.json" -a -s "$WORK/again/other.tar.zst.$(printf %03d $((nvol + 1)))"
check "and so is the earlier export when the new one fails" sh -c "
    $BUILD/airlock-export --image registry.redhat.io/ubi8/nodejs-16:1 --pull-from registry.redhat.io=127.0.0.1:1 \
        --certs-dir $WORK/none --sign-key $WORK/export.key -o $WORK/again-d/b.tar.zst --split-size 2M --retries 0 2>/dev/null
    test \$(ls $WORK/again-d | grep -c '^b.tar.zst.[0-9]') = $nvol"

echo "# a medium that does not read back what was written: the earlier export stays"
${CC:-cc} -shared -fPIC -o "$WORK/readback_flip.so" "$E2E_DIR/readback_flip.c" -ldl
for how in single split; do
    extra=()
    [ "$how" = split ] && extra=(--split-size 1M)
    run_export "faulty-$how" "${extra[@]}"
    check_eq "$how: a first export exits 0" 0 "$RC"
    (cd "$WORK/faulty-$how" && sha256sum b.tar.zst* >"$WORK/faulty-$how.sums")
    LD_PRELOAD="$WORK/readback_flip.so" ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
        run_export "faulty-$how" "${extra[@]}" --verify-written
    check_eq "$how: a second one whose read-back differs exits 1" 1 "$RC"
    check_grep "$how: naming the file and the medium" \
        "the new '$WORK/faulty-$how/b.tar.zst(.000)?' \(written as '[^']*partial[^']*'\) does not read back as written .*the medium may be faulty; it was removed, and an earlier" \
        "$WORK/faulty-$how.err"
    check "$how: the first export is left as it was" \
        sh -c "cd '$WORK/faulty-$how' && sha256sum -c --quiet '$WORK/faulty-$how.sums' && test \$(ls | wc -l) = \$(wc -l <'$WORK/faulty-$how.sums')"
done

echo "# SIGTERM while the commit reads the volumes back: no partial file is left"
mkdir -p "$WORK/termed"
(
    export READBACK_PAUSE="$WORK/paused" LD_PRELOAD="$WORK/readback_flip.so" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
    exec ${WRAP:-} "$BUILD/airlock-export" --image registry.redhat.io/ubi8/nodejs-16:1 \
        --pull-from "registry.redhat.io=$src_HOST" --authfile "$WORK/src-auth.json" --ca-file "$src_CA" \
        --certs-dir "$WORK/none" --sign-key "$WORK/export.key" -o "$WORK/termed/b.tar.zst" \
        --split-size 1M --verify-written 2>"$WORK/termed.err"
) &
pid=$!
check "the export reached the read-back" wait_for 120 test -e "$WORK/paused"
kill -TERM "$pid"
wait "$pid"
check_eq "SIGTERM then: exit 143" 143 "$?"
check_eq "and nothing is left: no volume, no partial file, no list" "" "$(ls "$WORK/termed")"

echo "# a file system that will not do O_DIRECT"
${CC:-cc} -shared -fPIC -o "$WORK/direct_refuse.so" "$E2E_DIR/direct_refuse.c" -ldl
for how in fcntl write; do
    : >"$WORK/refused-$how"
    DIRECT_REFUSE=$how DIRECT_REFUSE_LOG="$WORK/refused-$how" LD_PRELOAD="$WORK/direct_refuse.so" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" run_export "nodirect-$how" --split-size 1M
    check_eq "refused at $how: the export exits 0" 0 "$RC"
    check "and it was refused (once a volume)" test "$(wc -l <"$WORK/refused-$how")" -ge 2
    cat "$WORK/nodirect-$how"/b.tar.zst.[0-9]* >"$WORK/nodirect-$how.tar.zst"
    check_eq "the volumes are the bundle their list describes" \
        "$(jq -r .digest "$WORK/nodirect-$how/b.tar.zst.parts")" \
        "sha256:$(sha256sum <"$WORK/nodirect-$how.tar.zst" | cut -d' ' -f1)"
    check "which passes the independent check" python3 "$E2E_DIR/verify_bundle.py" \
        "$WORK/nodirect-$how.tar.zst" "$WORK/export.pub" "$WORK/nodirect-$how.d"
done

echo "# ... and one bundle, its large layers placed by the download threads"
for how in fcntl write; do
    : >"$WORK/refused-$how"
    DIRECT_REFUSE=$how DIRECT_REFUSE_LOG="$WORK/refused-$how" LD_PRELOAD="$WORK/direct_refuse.so" \
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" run_export "placed-$how"
    check_eq "refused at $how: the export exits 0" 0 "$RC"
    check_grep "and it was refused where the layers are placed" "$([ "$how" = fcntl ] && echo open || echo pwrite)" \
        "$WORK/refused-$how"
    check "which passes the independent check" python3 "$E2E_DIR/verify_bundle.py" \
        "$WORK/placed-$how/b.tar.zst" "$WORK/export.pub" "$WORK/placed-$how.d"
done

echo "# ... and a medium that fills up while the layers are placed"
: >"$WORK/refused-full"
DIRECT_REFUSE=full DIRECT_REFUSE_LOG="$WORK/refused-full" LD_PRELOAD="$WORK/direct_refuse.so" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" run_export placed-full
check_eq "the export exits 1" 1 "$RC"
check_grep "naming the partial file and why" "cannot write '.*b.tar.zst.partial.*': No space left on device" \
    "$WORK/placed-full.err"
check_eq "and nothing is left" "" "$(ls "$WORK/placed-full")"

echo "# sizes"
run_export badsize --split-size 12Q
check_eq "a bad size is a usage error" 2 "$RC"
check_grep "that names the presets" "fat32, dvd, bd25" "$WORK/badsize.err"
run_export dvd --split-size dvd
check_eq "--split-size dvd exits 0" 0 "$RC"
check_eq "a small bundle is one volume" "b.tar.zst.000 b.tar.zst.parts b.tar.zst.parts.sig" "$(ls "$WORK/dvd" | xargs)"

e2e_finish
