"""spot's trainer: Repository-Centric Learning for spot's local model.

Fine-tunes a causal language model (full or LoRA) on the chat-format experience that
`spot experience` writes, measures it on the held-out split before and after, and exports the
result as spot's model directory (an ONNX graph by onnxruntime-genai's builder or optimum, plus
the HF checkpoint for continued learning).
The command line (`spot-train train ...`, `python -m spot_trainer train ...`) is in `cli`.
"""

__version__ = "0.1.0"
