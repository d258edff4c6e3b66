"""The trainer's error types: each carries a message meant for the user, printed as-is."""

from __future__ import annotations


class TrainerError(Exception):
    """A failure the user can act on (bad input, out of memory, broken export): exit code 1."""

    exit_code = 1


class UsageError(TrainerError):
    """Bad command-line arguments: exit code 2."""

    exit_code = 2


class DataError(TrainerError):
    """The experience directory or one of its records is invalid."""


class BaseModelError(TrainerError):
    """The --base model cannot be used."""


class ExportError(TrainerError):
    """Exporting, quantizing or verifying the ONNX model failed."""


class Cancelled(BaseException):
    """SIGTERM or SIGINT arrived. A BaseException so that library `except Exception` blocks
    cannot swallow it; exit code 130."""

    exit_code = 130
