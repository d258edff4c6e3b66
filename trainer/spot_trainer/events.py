"""Progress as JSON lines on stdout (one object per event, flushed); human logs on stderr.

spot reads stdout line by line, so nothing but events may reach it. Libraries print to stdout
now and then (and C code may write to file descriptor 1), so `EventStream.take_stdout()` moves the
real stdout to a private descriptor used only for events and points descriptor 1 at stderr.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from typing import Any, TextIO

from spot_trainer.errors import Cancelled

log = logging.getLogger("spot_trainer")


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: non-finite floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class EventStream:
    """Writes one JSON object per line and flushes it. Only the main process emits."""

    def __init__(self, stream: TextIO, enabled: bool = True) -> None:
        self._stream = stream
        self.enabled = enabled

    @classmethod
    def take_stdout(cls) -> EventStream:
        """Keeps the real stdout for events; everything else written to stdout goes to stderr."""
        sys.stdout.flush()
        events_fd = os.dup(1)
        os.dup2(2, 1)
        stream = os.fdopen(events_fd, "w", encoding="utf-8", buffering=1)
        return cls(stream)

    def emit(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        line = json.dumps(_clean({"event": event, **fields}), ensure_ascii=False)
        try:
            self._stream.write(line + "\n")
            self._stream.flush()
        except BrokenPipeError as err:
            # The reader (spot) is gone: nobody can use the result, stop like a cancellation.
            self.enabled = False
            raise Cancelled() from err


def setup_logging(verbose: bool) -> None:
    """Human-readable logs on stderr; the ML libraries' chatter at warning level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("spot-train: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    for name in ("transformers", "optimum", "accelerate", "peft", "torch.onnx"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
