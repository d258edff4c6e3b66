#!/usr/bin/env bash
# A platform-specific vsix that ships the spot binary (as rust-analyzer's does): the extension
# then starts `bin/spot` unless the user set `spot.path`.
#
#   bash editors/vscode/package-platform.sh [TARGET [BINARY]]
#
# TARGET: a VS Code platform (linux-x64, linux-arm64, darwin-x64, darwin-arm64, win32-x64;
# default: this machine's). BINARY: the spot to ship (default: the repository's
# target/release/spot, built with `cargo build --release --locked --bin spot` if missing).
# Writes editors/vscode/spot-<version>@<TARGET>.vsix. ONNX Runtime and the model are not in it:
# the extension's "spot: Set Up Model" command (or fixtures/models/setup.sh) installs them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) default=linux-x64 ;; Linux-aarch64) default=linux-arm64 ;;
  Darwin-x86_64) default=darwin-x64 ;; Darwin-arm64) default=darwin-arm64 ;;
  *) default=win32-x64 ;;
esac
target="${1:-$default}"
binary="${2:-$repo/target/release/spot}"
if [ ! -x "$binary" ] && [ -z "${2:-}" ]; then
  echo "package-platform: building spot (release)"
  (cd "$repo" && cargo build --release --locked --bin spot)
fi
[ -x "$binary" ] || { echo "package-platform: no spot binary at $binary" >&2; exit 1; }
cd "$here"
[ -d node_modules ] || npm ci --no-fund --no-audit --loglevel=error
name="spot"; case "$target" in win32-*) name="spot.exe" ;; esac
rm -rf bin && mkdir bin
trap 'rm -rf "$here/bin"' EXIT
cp "$binary" "bin/$name"
strip "bin/$name" 2>/dev/null || true
version="$(node -p "require('./package.json').version")"
npx vsce package --target "$target" --no-dependencies --allow-missing-repository --skip-license \
  --no-rewrite-relative-links -o "spot-$version@$target.vsix" >/dev/null
echo "package-platform: $here/spot-$version@$target.vsix ($(du -k "spot-$version@$target.vsix" | cut -f1) KiB, ships bin/$name)"
