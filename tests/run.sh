#!/usr/bin/env bash
# The whole test suite — the README's test command; CI (.ci/run) calls it too.
# Installs what the tests need (the ONNX Runtime library from PyPI) into spot's data dir and
# uv's cache under $HOME, so later runs reuse them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ONNX Runtime and the default model for the model tests: they are `#[ignore]`d with the reason
# in a plain `cargo test`, run here with --include-ignored, and fail without them. The setup is
# the README's first command; after it this takes seconds (everything is cached).
bash fixtures/models/setup.sh
# The model tests load ONNX Runtime in the test process, which never runs spot's main(): without
# this its telemetry writes under ~/.cache/Microsoft (docs/notes/ort-telemetry.md).
export ORT_DISABLE_TELEMETRY=1

# The trainer's venv (torch, transformers, optimum-onnx; from uv's cache after the first run)
# for the learning tests (ignored in a plain `cargo test`, failing here without it).
export UV_CACHE_DIR="${UV_CACHE_DIR:-$HOME/.cache/uv}"
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
echo "== trainer venv (uv sync --project trainer)"
uv sync --quiet --project trainer --frozen

echo "== Rust: unit, model, CLI and LSP end-to-end tests"
cargo test --workspace --locked -- --include-ignored --skip llama_server::

# The OpenAI-compatible backend (issue 23) against a real llama.cpp server: llama-cpp-python's,
# built from source once into ~/.cache/spot (~3 min on 2 cores the first time, seconds after),
# serving the default model's GGUF; one test at a time (each starts a server). In a plain
# `cargo test` these tests show as ignored.
echo "== OpenAI-compatible backend against a llama.cpp server (tests/backend/server.sh)"
bash tests/backend/server.sh install
cargo test --locked -p spot --test backend -- --include-ignored --test-threads=1

echo "== fixtures: repository builder"
python3 -m unittest fixtures/repos/test_make_repos.py

echo "== Neovim plugin in the real Neovim (headless; the expert fixture model)"
SPOT_BIN="$PWD/target/debug/spot" bash editors/nvim/test/run.sh

echo "== trainer (Python)"
uv run --quiet --project trainer --frozen python -m pytest -q trainer/tests
