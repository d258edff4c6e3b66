"""GGUF files for the decode benchmark's llama.cpp anchor, made from an HF checkpoint.

  f32:  llama.cpp's convert_hf_to_gguf.py (from the llama-cpp-python sdist in the uv cache, or
        `pip download`ed once), every tensor f32;
  Q4_0: that f32 GGUF quantized by llama.cpp itself (llama_model_quantize through
        llama-cpp-python; block 32, symmetric int4, the tied embedding/output matrix kept at Q6_K);
  Q4_K_M: the same, llama.cpp's quality-keeping 4-bit mix (K-quants, some tensors at 5-8 bits;
        rows not a multiple of 256 fall back to other types).

Used by build_qwen_random.py (the Qwen-0.5B-shaped model) and by run.sh for SmolLM2 (its fp32
checkpoint, dequantized from the Q4_1 GGUF, as an F32 GGUF: the same weights as spot's fp32 graph).
Run with a python that has transformers and torch (the model venv):
  python make_gguf.py HF_DIR OUT.f32.gguf --genai-python PY [--q4-0 OUT.gguf] [--q4-k-m OUT.gguf]
Each output is skipped when it exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path


def log(msg):
    print(f"[make_gguf] {msg}", file=sys.stderr, flush=True)


def llama_cpp_sources(genai_python: str) -> Path:
    """The vendored llama.cpp tree of the installed llama-cpp-python's sdist (it has
    convert_hf_to_gguf.py and the gguf-py it needs; the wheel does not ship them)."""
    version = subprocess.run([genai_python, "-c", "import llama_cpp;print(llama_cpp.__version__)"],
                             check=True, capture_output=True, text=True).stdout.strip()
    uv_cache = Path(os.environ.get("UV_CACHE_DIR", Path.home() / ".cache/uv"))
    pattern = f"sdists-*/pypi/llama-cpp-python/{version}/*/src/vendor/llama.cpp/convert_hf_to_gguf.py"
    found = sorted(uv_cache.glob(pattern))
    if found:
        return found[0].parent
    dest = Path.home() / ".cache/spot" / f"llama-cpp-python-{version}"
    script = dest / "vendor/llama.cpp/convert_hf_to_gguf.py"
    if not script.exists():
        log(f"llama-cpp-python {version} sources not in the uv cache: pip download")
        dl = dest.with_name(dest.name + ".sdist")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                        ":all:", "-d", str(dl), f"llama-cpp-python=={version}"], check=True)
        with tarfile.open(next(dl.glob("*.tar.gz"))) as tar:
            tar.extractall(dl)
        shutil.rmtree(dest, ignore_errors=True)
        next(p for p in dl.iterdir() if p.is_dir()).rename(dest)
    return script.parent


def f32_gguf(hf_dir: Path, out: Path, genai_python: str) -> None:
    """The checkpoint as an all-f32 GGUF."""
    t = time.time()
    src = llama_cpp_sources(genai_python)
    # The converter imports sentencepiece before it looks for a tokenizer.model.
    if subprocess.run([sys.executable, "-c", "import sentencepiece"],
                      capture_output=True).returncode != 0:
        subprocess.run(["uv", "pip", "install", "--quiet", "--python", sys.executable,
                        "sentencepiece"], check=True)
    tmp = out.with_name(out.name + ".partial")
    # The converter recognizes a BPE tokenizer by hashing its output on a test text; SmolLM2's
    # tokenizer.json as transformers rewrote it from the GGUF is not in its list. It is
    # SmolLM2's all the same: name its pre-tokenizer "smollm" (and llama.cpp never tokenizes
    # here: the benchmark feeds token ids). gguf-py of the same tree comes first on sys.path.
    code = ("import runpy, sys\n"
            "src = sys.argv.pop(1)\n"
            "sys.path[:0] = [src, src + '/gguf-py']\n"
            "import conversion.base as b\n"
            "b.TextModel.get_vocab_base_pre = lambda self, tokenizer: 'smollm'\n"
            "sys.argv[0] = src + '/convert_hf_to_gguf.py'\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    subprocess.run([sys.executable, "-c", code, str(src), str(hf_dir), "--outtype", "f32",
                    "--outfile", str(tmp)], check=True)
    tmp.rename(out)
    log(f"GGUF f32 (convert_hf_to_gguf.py from {src}) in {time.time() - t:.0f}s: {out}")


def quantized_gguf(f32: Path, out: Path, genai_python: str, ftype: str) -> None:
    """An f32 GGUF quantized by llama.cpp to `ftype` (a LLAMA_FTYPE_MOSTLY_* name)."""
    t = time.time()
    tmp = out.with_name(out.name + ".partial")
    code = ("import sys, llama_cpp as l\n"
            "p = l.llama_model_quantize_default_params()\n"
            f"p.ftype = l.LLAMA_FTYPE_MOSTLY_{ftype}\n"
            "p.nthread = 0\n"
            "sys.exit(l.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), p))\n")
    subprocess.run([genai_python, "-c", code, str(f32), str(tmp)], check=True)
    tmp.rename(out)
    log(f"GGUF {ftype} in {time.time() - t:.0f}s: {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("hf_dir", type=Path)
    parser.add_argument("f32", type=Path, help="the f32 GGUF to write")
    parser.add_argument("--genai-python", required=True, help="python with llama-cpp-python")
    parser.add_argument("--q4-0", type=Path, help="also write this Q4_0 GGUF")
    parser.add_argument("--q4-k-m", type=Path, help="also write this Q4_K_M GGUF")
    args = parser.parse_args()
    if not args.f32.exists():
        f32_gguf(args.hf_dir, args.f32, args.genai_python)
    for out, ftype in ((args.q4_0, "Q4_0"), (args.q4_k_m, "Q4_K_M")):
        if out and not out.exists():
            quantized_gguf(args.f32, out, args.genai_python, ftype)


if __name__ == "__main__":
    main()
