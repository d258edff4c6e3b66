"""spot's trainer: Repository-Centric Learning for spot's local model.

Fine-tunes a causal language model (full or LoRA) on the chat-format experience that
`spot experience` writes, measures it on the held-out split before and after, and exports the
result as spot's model directory (an ONNX graph by onnxruntime-genai's builder or optimum, plus
the HF checkpoint for continued learning).
The command line (`spot-train train ...`, `python -m spot_trainer train ...`) is in `cli`.
"""

import os as _os

# ONNX Runtime (and onnxruntime-genai) write a telemetry device id and event database under
# ~/.cache/Microsoft and upload them unless this is set before they are first imported;
# `disable_telemetry_events()` does not stop it (docs/notes/ort-telemetry.md). spot sets it for
# the trainer too; this covers running the trainer by hand.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
