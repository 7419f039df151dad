#!/usr/bin/env bash
# Cluster benchmark (issue 5): on 3 nodes in network namespaces, the time
# from a config change on one node until it is applied on all (p50/p99 over
# 1,000 changes), and the failure-detection time after kill -9 of a node.
# Targets: p99 < 50 ms, detection < 3 s (exit status 1 when missed).
#
#   bash bench/cluster/run.sh [BUILD_DIR] [-n CHANGES] [-r ROUNDS] [--out FILE.json]
#
# Needs root (namespaces). Nothing leaves the lab: the bridge lives in its
# own namespace, nodes use 10.213.X.0/24 with no route out; every
# namespace is removed on exit (tests/cluster/cleanup.sh on the way in).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=build args=()
while [ $# -gt 0 ]; do
	case "$1" in
	-n | --changes | -r | --rounds | --out) args+=("$1" "$2"); shift 2 ;;
	-h | --help) sed -n '2,10p' "$0"; exit 0 ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) build=$1; shift ;;
	esac
done
case "$build" in /*) ;; *) build="$top/$build" ;; esac
for f in "$build/rampartd" "$build/rampart" /usr/sbin/corosync; do
	[ -x "$f" ] || { echo "run.sh: missing $f (make build; scripts/deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run.sh: the cluster lab needs root" >&2; exit 1; }
bash "$top/tests/cluster/cleanup.sh"
RAMPART_BUILD_DIR="$build" exec /usr/bin/python3 "$here/driver.py" "${args[@]}"
