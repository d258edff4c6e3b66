#!/usr/bin/env bash
# The whole test suite — the README's test command; CI (.ci/run) calls it too.
# Installs what the tests need (the ONNX Runtime library from PyPI) into spot's data dir and
# uv's cache under $HOME, so later runs reuse them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ONNX Runtime for the model tests (they fail, not skip, without it).
bash fixtures/models/setup.sh --runtime-only
export SPOT_REQUIRE_ORT=1

echo "== Rust: unit, model, CLI and LSP end-to-end tests"
cargo test --workspace --locked

echo "== fixtures: repository builder"
python3 -m unittest fixtures/repos/test_make_repos.py
