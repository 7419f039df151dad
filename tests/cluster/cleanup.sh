#!/usr/bin/env bash
# Removes cluster-lab network namespaces (rpl<PID>-*) left behind by test
# runs that died: every process inside is killed first, then the namespace
# is deleted. By default only namespaces whose owner process (the PID in
# the name) is gone are removed, so a suite running in parallel keeps its
# own; --all removes every lab namespace. Touches nothing else.
set -u
all=0
[ "${1:-}" = "--all" ] && all=1
[ "$(id -u)" -eq 0 ] || { echo "cleanup.sh: needs root" >&2; exit 1; }
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^rpl[0-9]+' || true); do
	owner=$(printf '%s' "$ns" | sed -E 's/^rpl([0-9]+).*/\1/')
	if [ "$all" -eq 0 ] && [ -d "/proc/$owner" ]; then
		continue
	fi
	for i in 1 2 3 4 5 6 7 8 9 10; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -z "$pids" ] && break
		kill -9 $pids 2>/dev/null
		sleep 0.1
	done
	ip netns del "$ns" 2>/dev/null && echo "cleanup.sh: removed $ns"
done
exit 0
