#!/usr/bin/env bash
# Browser tests of the web interface: Playwright (playwright-core from npm,
# no browser download) driving Debian's Chromium against real rampartd
# nodes (tests/browser/harness.py, one per test file).
#
#   tests/browser/run.sh [test files...]     (default: every *.test.mjs)
#
# Environment: RAMPART_BUILD_DIR (default <source>/build), CHROMIUM
# (default /usr/bin/chromium), RAMPART_NO_SCREENSHOTS=1 to leave
# docs/screenshots/ alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
files=()
for f in "$@"; do
	files+=("$(realpath "$f")")
done
cd "$here"

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
	echo "run.sh: $chromium is missing (Debian package chromium; scripts/deps.sh installs it)" >&2
	exit 1
fi
command -v node >/dev/null || { echo "run.sh: node is missing" >&2; exit 1; }

# playwright-core from the lock file; idempotent, and offline when it is
# already installed (npm ci would wipe node_modules and need the network).
want=$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version" 2>/dev/null || true)
have=$(node -p "require('./node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ -z "$have" ] || { [ -n "$want" ] && [ "$want" != "$have" ]; }; then
	if [ -f package-lock.json ]; then
		npm ci --no-audit --no-fund --loglevel=error
	else
		npm install --no-audit --no-fund --loglevel=error
	fi
fi

export RAMPART_BUILD_DIR=${RAMPART_BUILD_DIR:-$(cd "$here/../.." && pwd)/build}
if [ ${#files[@]} -eq 0 ]; then
	files=("$here"/*.test.mjs)
fi
exec node --test --test-concurrency=2 --test-reporter=spec "${files[@]}"
