"""Makes a decoder graph compute logits only for the positions the caller asks for.

    python fixtures/models/keep_logits.py MODEL_DIR [--out OUT_DIR]   (this module, from any python
                                                                       with `onnx`)
    python -m spot_trainer.keep_logits MODEL_DIR [--out OUT_DIR]

A decoder's LM head (hidden size x vocabulary) runs on every position of the prompt, but
generation needs the last position's logits only: on Qwen2.5-0.5B (vocabulary 151,936) that is a
quarter of the prefill's work, and the logits of a 2,000-token prompt take 1.2 GB. This script
adds an int64 input `num_logits_to_keep` of shape [1] and slices the LM head's input to the last
that many positions (`Slice(hidden, -n, end, axis 1)`). spot feeds 1 to generate and the target's
length to score (model/session.rs). Weights are untouched: with external data (model.onnx.data)
only model.onnx is rewritten (with --out, the other files are hard-linked). Needs only the
`onnx` package: the setup's venvs run it through fixtures/models/keep_logits.py, the trainer
(export.py) in process.

The LM head is found from the `logits` output backwards through Cast/Identity nodes: the first
MatMul, MatMulNBits or Gemm. A graph that already has the input is left as it is.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys

import onnx
from onnx import TensorProto, helper

INPUT = "num_logits_to_keep"
PASS_THROUGH = {"Cast", "Identity"}
HEADS = {"MatMul", "MatMulNBits", "Gemm"}


def takes_input(model: onnx.ModelProto) -> bool:
    """Does the graph already take `num_logits_to_keep`?"""
    return any(i.name == INPUT for i in model.graph.input)


def keep_logits(model: onnx.ModelProto) -> bool:
    """Rewrites `model` in place; False when it already has the input."""
    graph = model.graph
    if takes_input(model):
        return False
    producer = {out: node for node in graph.node for out in node.output}
    logits = next((o.name for o in graph.output if o.name == "logits"), None)
    if logits is None:
        raise ValueError("the graph has no `logits` output")
    node = producer.get(logits)
    while node is not None and node.op_type in PASS_THROUGH:
        node = producer.get(node.input[0])
    if node is None or node.op_type not in HEADS:
        raise ValueError(f"`logits` does not come from a MatMul (found {node and node.op_type})")
    hidden = node.input[0]
    neg, sliced = f"{INPUT}/neg", f"{hidden}/last_positions"
    ends, axes = f"{INPUT}/ends", f"{INPUT}/axes"
    new_nodes = [
        helper.make_node("Constant", [], [ends], name=ends,
                         value=helper.make_tensor(ends, TensorProto.INT64, [1], [2**63 - 1])),
        helper.make_node("Constant", [], [axes], name=axes,
                         value=helper.make_tensor(axes, TensorProto.INT64, [1], [1])),
        helper.make_node("Neg", [INPUT], [neg], name=neg),
        helper.make_node("Slice", [hidden, neg, ends, axes], [sliced], name=sliced),
    ]
    node.input[0] = sliced
    at = list(graph.node).index(node)
    for k, n in enumerate(new_nodes):
        graph.node.insert(at + k, n)
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.INT64, [1]))
    # The logits' sequence axis is no longer the input's.
    for out in graph.output:
        if out.name == logits:
            dims = out.type.tensor_type.shape.dim
            if len(dims) == 3:
                dims[1].ClearField("dim_value")
                dims[1].dim_param = "logits_sequence_length"
    return True


def link_dir(src: str, dst: str, skip=()) -> None:
    """Hard-links (or, across file systems, copies) the files of `src` into `dst` (ONNX Runtime
    refuses external data behind a symlink that leaves the model's directory)."""
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        target = os.path.join(dst, name)
        if name in skip or os.path.lexists(target) or not os.path.isfile(os.path.join(src, name)):
            continue
        try:
            os.link(os.path.join(src, name), target)
        except OSError:
            shutil.copy2(os.path.join(src, name), target)


def rewrite(src: str, dst: str | None = None) -> bool:
    """Adds the input to MODEL_DIR `src`'s graph, in place or into `dst` (the other files
    hard-linked). False when the graph already has it (then `dst` gets it as it is)."""
    dst = dst or src
    model = onnx.load(os.path.join(src, "model.onnx"), load_external_data=False)
    if dst != src:
        link_dir(src, dst, skip={"model.onnx"})
    path = os.path.join(dst, "model.onnx")
    if not keep_logits(model):
        if dst != src:
            shutil.copy2(os.path.join(src, "model.onnx"), path)
        return False
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)  # a new file: hard links to the old graph keep it
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--out", help="write the graph here (the other files hard-linked to MODEL_DIR's) "
                    "instead of rewriting MODEL_DIR")
    args = ap.parse_args()
    path = os.path.join(args.out or args.model_dir, "model.onnx")
    try:
        rewritten = rewrite(args.model_dir, args.out)
    except ValueError as err:
        raise SystemExit(f"keep_logits: {err}") from err
    if rewritten:
        print(f"keep_logits: {path} computes logits for the last {INPUT} positions only",
              file=sys.stderr)
    else:
        print(f"keep_logits: {path} already takes {INPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
