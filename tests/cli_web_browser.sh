#!/usr/bin/env bash
# The search page in a real browser: headless Chromium (Debian's chromium) driven by playwright-core
# (npm; scripts/setup_web.sh installs both, playwright-core into ~/.cache/leitmotif-web) types a
# theme, waits for the results, checks that the right recording is first, plays the matched passage
# and checks its range request is answered 206 with the right bytes, and saves a screenshot that it
# checks is not blank (tests/web/browser.mjs). Skips (77) without chromium, node or playwright-core.
# Args: CLI SHARED_DIR SOURCE_DIR
set -u
cli="$1"; shared="${2:-}"; src="${3:-}"
work="$(mktemp -d /tmp/lm_cli_web_browser.XXXXXX)"
trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
pid=""
. "$src/tests/web/common.sh"
chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
[ -n "$chromium" ] && [ -x "$chromium" ] || { echo "SKIP: chromium not installed (scripts/setup_web.sh installs it)"; exit 77; }
need_tools node curl
modules="${LM_WEB_NODE_MODULES:-${XDG_CACHE_HOME:-$HOME/.cache}/leitmotif-web/node_modules}"
[ -f "$modules/playwright-core/package.json" ] ||
  { echo "SKIP: playwright-core not found in $modules (scripts/setup_web.sh installs it)"; exit 77; }

make_ref_db "$work/ref.lmdb"
start_server "$work/ref.lmdb"
shot="${LM_WEB_SCREENSHOT:-$work/page.png}"
CHROMIUM="$chromium" NODE_PATH="$modules" timeout 300 node "$src/tests/web/browser.mjs" "$base/" \
  "G4 G4 G4 Eb4:4 F4 F4 F4 D4:4" Beethoven_Op067-01_DavidHighSchool "$shot"
rc=$?
[ $rc = 0 ] && ok "browser test" || bad "browser test (rc $rc)"
[ -s "$shot" ] && ok "screenshot saved ($(stat -c %s "$shot") bytes)" || bad "no screenshot"
server_up "the browser test"
stop_server
exit $fails
