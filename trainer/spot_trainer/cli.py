"""Command line: `spot-train train --base BASE --data EXP_DIR --out OUT_DIR [options]`.

stdout carries only JSON events (one per line); logs go to stderr. Exit codes: 0 done, 1 error,
2 bad arguments, 130 cancelled (SIGTERM/SIGINT). Every failure prints an `error` event first.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import NoReturn

from spot_trainer.errors import Cancelled, TrainerError, UsageError
from spot_trainer.events import EventStream, setup_logging
from spot_trainer.outdir import StagedDir

log = logging.getLogger("spot_trainer")


class _Parser(argparse.ArgumentParser):
    """Argument errors become UsageError, so they are reported as an error event too."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be in [0, 1)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spot-train", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    train = commands.add_parser(
        "train", help="fine-tune on an experience dir and export a spot model dir",
        description="Fine-tune BASE on EXP_DIR/train.jsonl, evaluate on EXP_DIR/heldout.jsonl "
                    "before and after, and write spot's model dir to OUT_DIR (atomically).")
    add = train.add_argument
    add("--base", required=True,
        help="HF checkpoint dir, a previous OUT_DIR (continues from its checkpoint/), or "
             "tiny:MODEL_DIR (a from-scratch 2-layer Llama with MODEL_DIR's tokenizer)")
    add("--data", required=True, type=Path, help="experience dir with train.jsonl and heldout.jsonl")
    add("--out", required=True, type=Path, help="output model dir (must not exist unless --force)")
    add("--method", choices=["full", "lora"], default="full", help="full fine-tuning or LoRA (default full)")
    add("--epochs", type=_positive_int, default=2, help="passes over train.jsonl (default 2)")
    add("--lr", type=_positive_float, default=None,
        help="peak learning rate (default 1e-4 full, 2e-4 LoRA, 1e-3 for a tiny: base)")
    add("--max-seq-len", type=_positive_int, default=1024,
        help="tokens per sample; longer prompts lose tokens on the left (default 1024)")
    add("--batch-size", type=_positive_int, default=1, help="samples per micro-batch (default 1)")
    add("--grad-accum", type=_positive_int, default=4, help="micro-batches per optimizer step (default 4)")
    add("--max-steps", type=_positive_int, default=None, help="stop after this many optimizer steps")
    add("--seed", type=int, default=0, help="seed for shuffling and the tiny model (default 0)")
    add("--device", choices=["auto", "cpu", "cuda"], default="auto",
        help="auto: CUDA when torch sees a GPU, else CPU (default auto)")
    add("--quantize", choices=["none", "int8"], default="none",
        help="int8: onnxruntime dynamic quantization of the exported graph (default none)")
    add("--graph", choices=["genai", "optimum"], default=None,
        help="the ONNX exporter: onnxruntime-genai's builder (the default model's kind of graph, "
             "which spot decodes faster) or optimum's (default: the builder, optimum's export "
             "where the builder cannot export the model; --quantize int8 uses optimum's)")
    add("--lora-r", type=_positive_int, default=16, help="LoRA rank (default 16)")
    add("--lora-alpha", type=_positive_int, default=32, help="LoRA alpha (default 32)")
    add("--lora-dropout", type=_ratio, default=0.05, help="LoRA dropout (default 0.05)")
    add("--warmup-ratio", type=_ratio, default=0.05, help="share of steps warming up (default 0.05)")
    add("--weight-decay", type=float, default=0.0, help="AdamW weight decay (default 0)")
    add("--threads", type=_positive_int, default=None, help="torch CPU threads (default: torch's)")
    add("--no-generate-eval", action="store_true",
        help="skip the exact-match generation of the held-out evaluation (loss only)")
    add("--force", action="store_true", help="replace an existing OUT_DIR")
    add("--verbose", action="store_true", help="debug logs on stderr")
    return parser


def _install_signal_handlers() -> None:
    """The first SIGTERM/SIGINT raises Cancelled where the main thread is; later ones are
    ignored so that the clean-up runs to the end."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise Cancelled(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(
        s in text for s in ("out of memory", "not enough memory", "can't allocate memory"))


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    # spot trains in the background of an editor session: OpenMP threads that spin while waiting
    # burn a shared CPU (measured: 4x the CPU time per step under load). Before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as err:
        EventStream(sys.stdout).emit("error", message=str(err))
        print(str(err), file=sys.stderr)
        return err.exit_code
    if args.command is None:
        build_parser().print_help(sys.stderr)
        return 2
    events = EventStream.take_stdout()
    setup_logging(args.verbose)
    _install_signal_handlers()
    staged = StagedDir(args.out, args.force)
    try:
        from spot_trainer.run import run_train

        run_train(args, events, staged, started)
        return 0
    except Cancelled as err:
        return _fail(events, staged, "cancelled", Cancelled.exit_code, f"cancelled by {err}")
    except TrainerError as err:
        return _fail(events, staged, str(err), err.exit_code)
    except Exception as err:  # the last resort: report, never a bare traceback on stdout
        if _is_out_of_memory(err):
            message = (f"out of memory ({str(err).splitlines()[0]}); try --method lora, a smaller "
                       "--max-seq-len or --batch-size 1")
            return _fail(events, staged, message, 1)
        traceback.print_exc(file=sys.stderr)
        return _fail(events, staged, f"internal error: {type(err).__name__}: {err}", 1)


def _fail(events: EventStream, staged: StagedDir, message: str, code: int,
          log_message: str | None = None) -> int:
    """Removes the temp dir, prints the error event and the log line, returns the exit code."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    staged.discard()
    log.error("%s", log_message or message)
    with contextlib.suppress(Cancelled):  # stdout is gone: the exit code still tells
        events.emit("error", message=message)
    return code


if __name__ == "__main__":
    sys.exit(main())
