#!/usr/bin/env bash
# Runs every tests/e2e/test_*.sh (or the ones named: run-all.sh test_kill.sh);
# each starts and stops its own servers. A suite fails when it exits
# non-zero, when it does not end with its "# N passed, 0 failed" line with
# N > 0, or when it runs longer than E2E_TIMEOUT seconds (600; the
# sanitizer and valgrind builds raise it).
set -u
set -o pipefail
dir=$(cd "$(dirname "$0")" && pwd)
limit=${E2E_TIMEOUT:-600}
failed=()
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=("$dir"/test_*.sh)
out=$(mktemp "${TMPDIR:-/tmp}/airlock-run-all.XXXXXX")
trap 'rm -f "$out"' EXIT
for t in "${suites[@]}"; do
    case $t in */*) ;; *) t="$dir/$t" ;; esac
    name=$(basename "$t")
    echo "== $name"
    start=$SECONDS
    timeout -k 30 "$limit" bash "$t" | tee "$out"
    rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "e2e: $name ran out of its $limit s"
    fi
    if [ "$rc" != 0 ] || ! tail -1 "$out" | grep -qE '^# [1-9][0-9]* passed, 0 failed$'; then
        failed+=("$name")
    fi
    echo "== $name: $((SECONDS - start)) s"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "e2e: FAILED: ${failed[*]}"
    exit 1
fi
echo "e2e: all passed"
