#!/usr/bin/env bash
# Optional dependencies of the web page's browser test (tests/cli_web_browser.sh) and screenshots
# (scripts/web_docs.sh): Debian's chromium, Node.js with npm where there is none, and
# the npm package playwright-core (which drives that chromium; no browser download) installed into
# ${XDG_CACHE_HOME:-~/.cache}/leitmotif-web (or $LM_WEB_DEPS), outside the repository. Building and
# the other tests do not need any of it; the browser test skips (exit 77) without it.
# Usage: scripts/setup_web.sh
set -euo pipefail
playwright_version=1.65.2
dir="${LM_WEB_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/leitmotif-web}"
pkgs=(chromium)
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi
have=""
[ -f "$dir/node_modules/playwright-core/package.json" ] &&
  have=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/playwright-core/package.json" | head -1)
if [ "$have" != "$playwright_version" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "playwright-core@$playwright_version" >&2
fi
echo "setup_web: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), playwright-core $playwright_version in $dir/node_modules" >&2
