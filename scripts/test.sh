#!/usr/bin/env bash
# Runs every test: unit (cmocka) and system (pytest) tests registered in
# ctest, first in the optimised build, then under ASan+UBSan.
set -uo pipefail
build=${1:-build}
asan=${2:-build-asan}
jobs=$(nproc)
status=0

echo "== tests (optimised build: $build)"
(cd "$build" && ctest --output-on-failure -j "$jobs") || status=1

echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer ($asan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$(pwd)/scripts/lsan.supp
(cd "$asan" && ctest --output-on-failure -j "$jobs") || status=1

exit $status
