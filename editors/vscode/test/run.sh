#!/usr/bin/env bash
# End-to-end test of the VS Code extension in a real VS Code (code-server 4.139.1) driven by
# headless Chromium through playwright-core. Installs what it needs (test/setup.sh, cached under
# ~/.cache/spot-editors/vscode and ~/.npm), builds and packages the extension, installs the vsix
# into an isolated code-server, opens the fixture repo py-inventory and runs test/e2e.mjs.
#
#   bash editors/vscode/test/run.sh
#
# Environment:
#   SPOT_BIN         the spot binary (default: <repo>/target/release/spot, built if missing)
#   SPOT_TEST_MODEL  model dir (default: <repo>/fixtures/models/expert if it exists, else
#                    ~/.local/share/spot/models/smollm2-135m-instruct); "none": no model — the
#                    model cases then check the server's no-model errors instead
#   ORT_DYLIB_PATH   ONNX Runtime (default: ~/.local/share/spot/onnxruntime)
#   SPOT_E2E_TIMEOUT_S  hard limit of the browser part (default 900; SPOT_E2E_PATCH_TIMEOUT_S, default 420, per model case)
# Artifacts (screenshots, logs, the server's diff): <repo>/target/editor-artifacts/vscode/
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EXT="$(dirname "$HERE")"
REPO="$(cd "$EXT/../.." && pwd)"
ART="$REPO/target/editor-artifacts/vscode"
T0=$(date +%s)
say() { echo "== $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }

# --- what to test with --------------------------------------------------------------------
MODEL="${SPOT_TEST_MODEL:-}"
if [ -z "$MODEL" ]; then
  if [ -d "$REPO/fixtures/models/expert" ]; then
    MODEL="$REPO/fixtures/models/expert"
  else
    MODEL="$HOME/.local/share/spot/models/smollm2-135m-instruct"
  fi
fi
if [ "$MODEL" != none ]; then
  [ -f "$MODEL/model.onnx" ] || die "no model at $MODEL (no model.onnx). Build the default one with
  bash fixtures/models/setup.sh
or point SPOT_TEST_MODEL at a model dir, or run with SPOT_TEST_MODEL=none (no model cases)."
  MODEL="$(cd "$MODEL" && pwd)"
fi
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$HOME/.local/share/spot/onnxruntime}"
if [ "$MODEL" != none ] && ! [ -e "$ORT_DYLIB_PATH" ]; then
  die "no ONNX Runtime at $ORT_DYLIB_PATH: run bash fixtures/models/setup.sh --runtime-only"
fi

# --- installs (idempotent) ------------------------------------------------------------------
say "setup (cached under ~/.cache/spot-editors/vscode)"
t=$(date +%s)
SETUP_ENV="$(bash "$HERE/setup.sh")" || die "setup failed (see above)"
eval "$SETUP_ENV"
SETUP_S=$(( $(date +%s) - t ))
NODE_BIN="$(dirname "$NODE24")"
export PATH="$NODE_BIN:$PATH"

if [ -z "${SPOT_BIN:-}" ]; then
  say "cargo build --release --bin spot"
  (cd "$REPO" && nice cargo build --release --bin spot --quiet)
  SPOT_BIN="$REPO/target/release/spot"
fi
[ -x "$SPOT_BIN" ] || die "SPOT_BIN=$SPOT_BIN is not an executable"

# --- build and package the extension --------------------------------------------------------
say "build + package the extension"
t=$(date +%s)
cd "$EXT"
export npm_config_cache="${npm_config_cache:-$HOME/.npm}" npm_config_update_notifier=false \
  npm_config_fund=false npm_config_audit=false
if ! [ -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  nice npm ci --no-fund --no-audit --loglevel=error
fi
out="$(nice npm test --silent 2>&1)" || { echo "$out"; die "npm test failed (protocol and settings checks, test/*.test.mjs)"; }
echo "npm test: $(echo "$out" | grep -E '^(# |ℹ )(pass|fail)' | tr '\n' ' ')"
rm -f spot-*.vsix
nice npm run --silent package >/dev/null
VSIX="$(ls "$EXT"/spot-*.vsix 2>/dev/null | head -1)"
[ -n "$VSIX" ] || die "npm run package made no spot-*.vsix"
BUILD_S=$(( $(date +%s) - t ))
echo "$(basename "$VSIX"): $(du -k "$VSIX" | cut -f1) KiB"

# --- an isolated code-server ------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/spot-vscode-e2e.XXXXXX")"
CS_PID=
cleanup() {
  if [ -n "$CS_PID" ]; then kill "$CS_PID" 2>/dev/null || true; wait "$CS_PID" 2>/dev/null || true; fi
  if [ -z "${SPOT_E2E_KEEP:-}" ]; then rm -rf "$TMP"; else echo "kept $TMP"; fi
}
trap cleanup EXIT

rm -rf "$ART"; mkdir -p "$ART"
say "fixture repos in $TMP"
python3 "$REPO/fixtures/repos/make_repos.py" "$TMP/repos" >/dev/null
WS="$TMP/repos/py-inventory"
ISSUE="$REPO/fixtures/repos/py-inventory.issue.md"
ISSUE_MODE=input      # typed into the input box
EXPECT_FILE= ; EXPECT_TEXT=
# Replay mode, for a model that learned one historical fix (fixtures/models/expert with
# expert-scenario.json beside it): that bug is re-injected into HEAD, the fix's commit message
# is the issue (selected in an editor: the text stays exact, newlines included), and the file
# must end up as it is at HEAD, the real fix.
SCENARIO="$MODEL-scenario.json"
if [ "$MODEL" != none ] && [ -f "$SCENARIO" ]; then
  read -r S_REPO S_FIX S_FILE < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["repo"], s["fix_commit"], s["file"])' "$SCENARIO")
  [ "$S_REPO" = py-inventory ] || die "$SCENARIO: repo $S_REPO, expected py-inventory"
  cp "$WS/$S_FILE" "$TMP/expected.txt"
  git -C "$WS" show "$S_FIX" -- "$S_FILE" | git -C "$WS" apply -R
  git -C "$WS" log -1 --format=%B "$S_FIX" >"$TMP/issue.txt"
  ISSUE="$TMP/issue.txt"; ISSUE_MODE=selection; EXPECT_FILE="$S_FILE"; EXPECT_TEXT="$TMP/expected.txt"
  echo "replay mode: the bug fixed by ${S_FIX:0:12} is re-injected into $S_FILE; issue \"$(head -1 "$ISSUE")\""
fi
mkdir -p "$TMP/original"
cp -a "$WS" "$TMP/original/"
# The repository's own settings try to make spot run code: every value must be ignored (the
# user's settings below win, and spot.path/modelDir/ortPath/testCommand are user-only).
PWNED="$TMP/pwned"
mkdir -p "$WS/.vscode"
python3 - "$WS/.vscode/settings.json" "$PWNED" <<'EOF'
import json, sys
path, pwned = sys.argv[1:]
json.dump({
    "spot.path": f"/bin/sh -c 'touch {pwned}'",
    "spot.testCommand": f"touch {pwned}",
    "spot.ortPath": f"{pwned}.so",
    "spot.modelDir": f"{pwned}-model",
}, open(path, "w"), indent=2)
EOF
# The user's test command, set by the e2e from the quick-fix case on (with it, Fix Issue would try
# every repair template before the model's answer: ~40 s here). pytest: spot reads its per-test
# results (a plain `unittest discover` run is "unknown" to it).
# A python with pytest: python3's own, else the trainer's venv (tests/run.sh makes it), else one
# made here (cached under ~/.cache/spot).
PYTEST_PY=python3
if ! python3 -c 'import pytest' 2>/dev/null; then
  PYTEST_PY="$REPO/trainer/.venv/bin/python"
  if ! "$PYTEST_PY" -c 'import pytest' 2>/dev/null; then
    PYTEST_PY="$HOME/.cache/spot/venv-pytest/bin/python"
    [ -x "$PYTEST_PY" ] || { python3 -m venv "$HOME/.cache/spot/venv-pytest" && "$PYTEST_PY" -m pip install --quiet pytest==9.2.0; } \
      || die "cannot install pytest (the e2e's spot.testCommand)"
  fi
fi
TEST_CMD="$PYTEST_PY -m pytest -q -p no:cacheprovider"

UDD="$TMP/user-data"; EXTDIR="$TMP/extensions"
mkdir -p "$UDD/User" "$UDD/Machine" "$EXTDIR" "$TMP/spot-data"
"$CODE_SERVER" --user-data-dir "$UDD" --extensions-dir "$EXTDIR" --install-extension "$VSIX" \
  >"$ART/install-extension.log" 2>&1 || { cat "$ART/install-extension.log"; die "code-server --install-extension failed"; }

model_setting=$([ "$MODEL" = none ] && echo "$TMP/no-model" || echo "$MODEL")
python3 - "$UDD/User/settings.json" "$SPOT_BIN" "$model_setting" <<'EOF'
import json, sys
path, spot, model = sys.argv[1:]
json.dump({
    "spot.path": spot,
    "spot.modelDir": model,
    "spot.provider": "cpu",
    "spot.logLevel": "info",
    "security.workspace.trust.enabled": False,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "chat.disableAIFeatures": True,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "files.autoSave": "afterDelay",
    "files.autoSaveDelay": 300,
    "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
    "editor.minimap.enabled": False,
    "window.restoreWindows": "none",
    "git.enabled": False,
}, open(path, "w"), indent=2)
EOF
# Machine-scoped settings (spot.path, spot.modelDir) are read from the remote's machine settings.
cp "$UDD/User/settings.json" "$UDD/Machine/settings.json"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export SPOT_DATA_DIR="$TMP/spot-data"
export SPOT_VSCODE_TEST_LOG="$ART/extension-results.jsonl"
say "code-server on 127.0.0.1:$PORT"
"$CODE_SERVER" --auth none --bind-addr "127.0.0.1:$PORT" --user-data-dir "$UDD" \
  --extensions-dir "$EXTDIR" --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override --ignore-last-opened "$WS" >"$ART/code-server.log" 2>&1 &
CS_PID=$!
up() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "http://127.0.0.1:$PORT/healthz" 2>/dev/null; }
for _ in $(seq 1 120); do
  up && break
  kill -0 "$CS_PID" 2>/dev/null || { cat "$ART/code-server.log"; die "code-server exited"; }
  sleep 0.5
done
up || die "code-server did not come up (see $ART/code-server.log)"

say "e2e (model: $MODEL)"
t=$(date +%s)
set +e
SPOT_E2E_URL="http://127.0.0.1:$PORT/?folder=$WS" SPOT_E2E_WORKSPACE="$WS" \
SPOT_E2E_ORIGINAL="$TMP/original/py-inventory" SPOT_E2E_ISSUE="$ISSUE" SPOT_E2E_ISSUE_MODE="$ISSUE_MODE" \
SPOT_E2E_EXPECT_FILE="$EXPECT_FILE" SPOT_E2E_EXPECT_TEXT="$EXPECT_TEXT" \
SPOT_E2E_ARTIFACTS="$ART" SPOT_E2E_MODEL="$MODEL" SPOT_E2E_PWNED="$PWNED" SPOT_E2E_SPOT_BIN="$SPOT_BIN" \
SPOT_E2E_TEST_CMD="$TEST_CMD" SPOT_E2E_USER_SETTINGS="$UDD/User/settings.json:$UDD/Machine/settings.json" PLAYWRIGHT="$PLAYWRIGHT" CHROMIUM="$CHROMIUM" \
  timeout --kill-after=10 $(( ${SPOT_E2E_TIMEOUT_S:-900} + 30 )) "$NODE24" "$HERE/e2e.mjs"
rc=$?
set -e
E2E_S=$(( $(date +%s) - t ))

# The extension's output channel (server stderr included) and code-server's logs.
find "$UDD/logs" -name '*spot*.log' -exec cp {} "$ART/" \; 2>/dev/null || true
find "$UDD/logs" -name 'exthost*.log' -exec cp {} "$ART/" \; 2>/dev/null || true
# The output channel keeps the server's log levels, and ONNX Runtime's chatter (trace) is hidden.
if [ $rc = 0 ] && [ -f "$ART/spot.log" ]; then
  if grep -qE '\[error\] [0-9-]+T[0-9:.]+Z +(INFO|DEBUG|TRACE) ' "$ART/spot.log"; then
    echo "FAIL: the output channel tags the server's info lines [error] ($ART/spot.log)"; rc=1
  elif grep -q 'GraphTransformer' "$ART/spot.log"; then
    echo "FAIL: ONNX Runtime's graph-transformer lines reach the output channel ($ART/spot.log)"; rc=1
  else
    echo "output channel: $(grep -c '' "$ART/spot.log") lines, no server info line tagged [error], no ONNX Runtime chatter"
  fi
fi
echo "times: setup ${SETUP_S}s, build+package ${BUILD_S}s, e2e ${E2E_S}s, total $(( $(date +%s) - T0 ))s"
if [ $rc = 124 ] || [ $rc = 137 ]; then echo "FAIL: the e2e run hit its hard timeout"; fi
exit $rc
