#!/usr/bin/env bash
# On a terminal the export redraws one progress line (phase, percent, MiB,
# rate, ETA); off a terminal it prints none of that.
source "$(dirname "$0")/lib.sh"
e2e_init
command -v script >/dev/null || { echo "missing test tool: script (bsdutils)" >&2; exit 1; }

seed_source
make_keys export
ARGS="--image registry.redhat.io/ubi8/nodejs-16:1 --pull-from registry.redhat.io=$src_HOST \
--authfile $WORK/src-auth.json --ca-file $src_CA --certs-dir $WORK/none --sign-key $WORK/export.key"

# script(1) gives the program a pseudo-terminal
script -qec "$BUILD/airlock-export $ARGS -o $WORK/tty.tar.zst" /dev/null >"$WORK/tty.out" 2>&1
check_eq "the export on a terminal exits 0" 0 "$?"
check_grep "it draws a progress line with rate and ETA" \
    "writing +[0-9]+%  [0-9.]+ of [0-9.]+ MiB  [0-9.]+ MiB/s  ETA [0-9]+s" "$WORK/tty.out"
check_grep "which ends at 100%" "writing 100%" "$WORK/tty.out"
"$BUILD/airlock-export" $ARGS -o "$WORK/pipe.tar.zst" 2>"$WORK/pipe.err"
check_eq "off a terminal it exits 0" 0 "$?"
check "and draws no progress line" sh -c "! grep -q 'MiB/s' '$WORK/pipe.err'"
script -qec "$BUILD/airlock-export $ARGS -q -o $WORK/quiet.tar.zst" /dev/null >"$WORK/quiet.out" 2>&1
check "-q draws none either" sh -c "! grep -q 'MiB/s' '$WORK/quiet.out'"

e2e_finish
