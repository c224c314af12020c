#!/bin/sh
# Nightly airlock export: one dated bundle per night, split for the media in
# use, read back before it is declared good, with a JSON summary kept beside
# it for monitoring. Run from airlock-export.service (systemd) or cron.
#
# Settings come from the environment (see airlock-export.env):
#   AIRLOCK_OUT_DIR     where bundles go (e.g. the mounted removable disk)
#   AIRLOCK_INPUT_DIR   cm.json / is.json, refreshed by whoever has cluster access
#   AIRLOCK_RELEASE     the release payload, e.g. quay.io/openshift-release-dev/ocp-release:4.16.0-x86_64
#   AIRLOCK_SIGN_KEY    the signing key
#   AIRLOCK_AUTHFILE    the pull secret
#   AIRLOCK_SPLIT       --split-size value (default fat32)
#   AIRLOCK_KEEP        how many bundles to keep (default 7)
set -eu
out_dir=${AIRLOCK_OUT_DIR:?set AIRLOCK_OUT_DIR}
in_dir=${AIRLOCK_INPUT_DIR:?set AIRLOCK_INPUT_DIR}
day=$(date -u +%Y-%m-%d)
out="$out_dir/samples-$day.tar.zst"

set -- --samples-configmap "$in_dir/cm.json" --imagestreams "$in_dir/is.json" \
    --sign-key "${AIRLOCK_SIGN_KEY:?set AIRLOCK_SIGN_KEY}" \
    --split-size "${AIRLOCK_SPLIT:-fat32}" --verify-written --json -o "$out"
[ -z "${AIRLOCK_RELEASE:-}" ] || set -- "$@" --release "$AIRLOCK_RELEASE"
[ -z "${AIRLOCK_AUTHFILE:-}" ] || set -- "$@" --authfile "$AIRLOCK_AUTHFILE"

# One night at a time. Each night writes another file, so the export's own
# lock (on its output) never meets the previous night's: this lock does. The
# export inherits descriptor 9 and holds it for as long as it runs. A night
# that finds it held fails with 75: an export that is still running a day
# later hangs, and someone must look (a timer would otherwise report success
# every night while nothing new is written).
lock="$out_dir/.nightly-export.lock"
exec 9>>"$lock"
if ! flock -n 9; then
    echo "nightly-export: the previous export (pid $(cat "$lock" 2>/dev/null)) is still running;" \
        "no new bundle tonight: find out why it hangs (journalctl -u airlock-export)," \
        "stop it, and run this again" >&2
    exit 75
fi
echo $$ >"$lock"

# exit 3 (some samples images missing upstream) still gives a usable bundle;
# 75 (another export of the same file is running) is a failure too.
rc=0
airlock-export "$@" >"$out.summary.json" || rc=$?
case $rc in
0|3) ;;
75) echo "nightly-export: another export of '$out' is running; no new bundle" >&2; exit 75 ;;
*) exit "$rc" ;;
esac

# keep the newest bundles only
keep=${AIRLOCK_KEEP:-7}
ls -1 "$out_dir"/samples-*.tar.zst.parts 2>/dev/null | sort -r | tail -n +"$((keep + 1))" |
while read -r old; do
    base=${old%.parts}
    rm -f "$base".[0-9][0-9][0-9] "$base.parts" "$base.parts.sig" "$base.summary.json"
done
exit "$rc"
