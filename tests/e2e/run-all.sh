#!/usr/bin/env bash
# Runs every tests/e2e/test_*.sh; each starts and stops its own servers.
set -u
dir=$(cd "$(dirname "$0")" && pwd)
failed=()
for t in "$dir"/test_*.sh; do
    echo "== $(basename "$t")"
    bash "$t" || failed+=("$(basename "$t")")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "e2e: FAILED: ${failed[*]}"
    exit 1
fi
echo "e2e: all passed"
