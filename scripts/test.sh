#!/usr/bin/env bash
# Runs every test: unit (cmocka), system (pytest), cluster (namespaces +
# corosync) and browser (Playwright + Chromium) tests registered in ctest
# in the optimised build, then the unit and system tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer.
set -uo pipefail
build=${1:-build}
asan=${2:-build-asan}
jobs=${RAMPART_TEST_JOBS:-$(( $(nproc) + 1 ))}
status=0

# leftovers of an interrupted cluster run (namespaces of dead owners)
[ -x tests/cluster/cleanup.sh ] && bash tests/cluster/cleanup.sh >/dev/null 2>&1

echo "== tests (optimised build: $build)"
(cd "$build" && ctest --output-on-failure -j "$jobs") || status=1

echo "== unit and system tests under AddressSanitizer + UndefinedBehaviorSanitizer ($asan)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$(pwd)/scripts/lsan.supp
# The cluster and browser suites drive the same daemon code through
# namespaces and Chromium; under ASan they would double the run time for
# little more coverage, so they run in the optimised build only.
(cd "$asan" && ctest --output-on-failure -j "$jobs" -LE 'cluster|browser') || status=1

exit $status
