#!/usr/bin/env bash
# Scheduled, unattended exports: a JSON summary, timestamped lines when not
# on a terminal, a lock that makes a colliding run exit 75, and the nightly
# script from contrib/ run the way its timer runs it.
source "$(dirname "$0")/lib.sh"
e2e_init

seed_source
make_keys export
cat >"$WORK/cm.json" <<JSON
{"kind": "ConfigMap", "data": {"ruby_3.1-ubi8": "registry.redhat.io/ubi8/ruby-31:latest",
 "ghost_1.0": "registry.redhat.io/ubi8/ghost:1.0"}}
JSON
echo '{"kind": "List", "items": []}' >"$WORK/is.json"
COMMON=(--pull-from "registry.redhat.io=$src_HOST" --authfile "$WORK/src-auth.json" --ca-file "$src_CA"
        --certs-dir "$WORK/none" --sign-key "$WORK/export.key")

echo "# --json and timestamps"
airlock_export --samples-configmap "$WORK/cm.json" "${COMMON[@]}" -o "$WORK/a.tar.zst" --json \
    >"$WORK/a.json" 2>"$WORK/a.err"
check_eq "a partial export exits 3" 3 "$?"
check_eq "stdout is one JSON document" 1 "$(jq -s length "$WORK/a.json")"
check_eq "it counts what was exported and what failed" "1 1 ghost" \
    "$(jq -r '"\(.images_exported) \(.images_failed) \(.failed[0].name | split("/")[-1] | split(":")[0])"' "$WORK/a.json")"
check_eq "with the bundle's size and id" "$(stat -c %s "$WORK/a.tar.zst") 32" \
    "$(jq -r '"\(.bundle_bytes) \(.bundle_id | length)"' "$WORK/a.json")"
check "and how long it took" jq -e '.duration_seconds > 0' "$WORK/a.json"
check "every stderr line starts with a UTC timestamp (not a terminal)" \
    sh -c "! grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z airlock-export: ' '$WORK/a.err'"
check "no control characters" sh -c "! grep -q \$(printf '\\r') '$WORK/a.err'"
airlock_export --samples-configmap "$WORK/nonexistent.json" "${COMMON[@]}" -o "$WORK/b.tar.zst" --json \
    >"$WORK/b.json" 2>/dev/null
check_eq "a failed run still prints its JSON, with the error" "false" "$(jq -r .ok "$WORK/b.json")"
check_grep "naming the file" "nonexistent.json" "$WORK/b.json"

echo "# a second run on the same output exits 75"
start_redirector slow src tester s3cret 0.3
authfile "$slow_HOST" tester s3cret "$WORK/slow-auth.json"
"$BUILD/airlock-export" --image registry.redhat.io/ubi8/nodejs-16:1 --pull-from "registry.redhat.io=$slow_HOST" \
    --authfile "$WORK/slow-auth.json" --ca-file "$src_CA" --certs-dir "$WORK/none" \
    --sign-key "$WORK/export.key" -o "$WORK/busy.tar.zst" 2>"$WORK/first.err" &
pid=$!
partial() { compgen -G "$WORK/busy.tar.zst.partial*" >/dev/null; }
check "the first run has begun its partial file" wait_for 30 partial
airlock_export --samples-configmap "$WORK/cm.json" "${COMMON[@]}" -o "$WORK/busy.tar.zst" 2>"$WORK/second.err"
check_eq "the colliding run exits 75" 75 "$?"
check_grep "naming the running process" "another run \(pid $pid\) is writing '$WORK/busy.tar.zst'" "$WORK/second.err"
check "the first run's file is untouched" partial
check "the lock is beside the output" test -f "$WORK/.busy.tar.zst.lock"
kill -TERM "$pid"; wait "$pid"
airlock_export --samples-configmap "$WORK/cm.json" "${COMMON[@]}" -o "$WORK/busy.tar.zst" 2>/dev/null
check_eq "once it is gone, the output can be written (the lock died with it)" 3 "$?"
check "a finished run removes its lock file" test ! -e "$WORK/.busy.tar.zst.lock"

echo "# another user cannot take the lock first"
# where the lock used to be: /tmp, under a name anyone could compute
hash=$(printf %s "$WORK/taken.tar.zst" | sha256sum | cut -c1-16)
touch "/tmp/airlock-$hash.lock" && chown nobody "/tmp/airlock-$hash.lock"
env -u XDG_RUNTIME_DIR "$BUILD/airlock-export" --samples-configmap "$WORK/cm.json" "${COMMON[@]}" \
    -o "$WORK/taken.tar.zst" 2>"$WORK/taken.err"
check_eq "a lock file planted by nobody under /tmp does not block the export" 3 "$?"
rm -f "/tmp/airlock-$hash.lock"

echo "# contrib/nightly-export.sh, as its timer runs it"
mkdir -p "$WORK/out" "$WORK/in"
cp "$WORK/cm.json" "$WORK/is.json" "$WORK/in/"
for d in 2026-11-20 2026-11-21; do   # two older nights, one of them beyond AIRLOCK_KEEP
    : >"$WORK/out/samples-$d.tar.zst.000"; echo '{}' >"$WORK/out/samples-$d.tar.zst.parts"
done
export_wrapper="$WORK/bin/airlock-export"
mkdir -p "$WORK/bin"
printf '#!/bin/sh\nexec %s "$@" --pull-from "registry.redhat.io=%s" --ca-file "%s" --certs-dir "%s"\n' \
    "$BUILD/airlock-export" "$src_HOST" "$src_CA" "$WORK/none" >"$export_wrapper"
chmod +x "$export_wrapper"
started_on=$(date -u +%Y-%m-%d)
PATH="$WORK/bin:$PATH" AIRLOCK_OUT_DIR="$WORK/out" AIRLOCK_INPUT_DIR="$WORK/in" \
    AIRLOCK_SIGN_KEY="$WORK/export.key" AIRLOCK_AUTHFILE="$WORK/src-auth.json" AIRLOCK_SPLIT=1M AIRLOCK_KEEP=2 \
    sh "$TOP/contrib/nightly-export.sh" 2>"$WORK/nightly.err"
check_eq "the nightly script passes on exit 3 (a missing upstream image)" 3 "$?"
# the script names the bundle by the day it started: a run over midnight
today=$(date -u +%Y-%m-%d)
[ -e "$WORK/out/samples-$today.tar.zst.parts" ] || today=$started_on
check "it wrote today's volumes and list" test -s "$WORK/out/samples-$today.tar.zst.parts"
check_eq "and a JSON summary beside them" 1 "$(jq -r .images_exported "$WORK/out/samples-$today.tar.zst.summary.json")"
check "it kept the newest two" test -e "$WORK/out/samples-2026-11-21.tar.zst.parts"
check "and removed the oldest" test ! -e "$WORK/out/samples-2026-11-20.tar.zst.parts" -a ! -e "$WORK/out/samples-2026-11-20.tar.zst.000"

echo "# the nightly script fails while the previous night's export still runs"
hang="$WORK/hangbin/airlock-export"
mkdir -p "$WORK/hangbin"
printf '#!/bin/sh\necho $$ >"%s/hang.pid"\nexec sleep 60\n' "$WORK" >"$hang"
chmod +x "$hang"
PATH="$WORK/hangbin:$PATH" AIRLOCK_OUT_DIR="$WORK/out" AIRLOCK_INPUT_DIR="$WORK/in" \
    AIRLOCK_SIGN_KEY="$WORK/export.key" sh "$TOP/contrib/nightly-export.sh" 2>/dev/null &
hung=$!
check "the previous night's export runs" wait_for 30 test -s "$WORK/hang.pid"
PATH="$WORK/bin:$PATH" AIRLOCK_OUT_DIR="$WORK/out" AIRLOCK_INPUT_DIR="$WORK/in" \
    AIRLOCK_SIGN_KEY="$WORK/export.key" AIRLOCK_AUTHFILE="$WORK/src-auth.json" AIRLOCK_SPLIT=1M AIRLOCK_KEEP=2 \
    sh "$TOP/contrib/nightly-export.sh" 2>"$WORK/nightly2.err"
rc=$?
check "a night whose previous export still runs is a failure" test "$rc" != 0
check_eq "exit 75" 75 "$rc"
check_grep "naming the running export" "the previous export \(pid $hung\) is still running" "$WORK/nightly2.err"
kill "$(cat "$WORK/hang.pid")" 2>/dev/null
wait "$hung" 2>/dev/null
check "the systemd units and cron file are there" test -s "$TOP/contrib/airlock-export.service" -a -s "$TOP/contrib/airlock-export.timer" -a -s "$TOP/contrib/airlock-export.cron"

e2e_finish
