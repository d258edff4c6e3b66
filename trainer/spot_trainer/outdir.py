"""OUT_DIR written atomically: everything goes to OUT_DIR.tmp-<pid> and is renamed at the end,
so a failed or killed run never leaves a half-written OUT_DIR (and its temp dir is removed)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from spot_trainer.errors import TrainerError

log = logging.getLogger("spot_trainer")


class StagedDir:
    """The temp dir of a run and its final name."""

    def __init__(self, out: Path, force: bool) -> None:
        self.out = out.expanduser().absolute()
        self.force = force
        self.tmp = self.out.parent / f"{self.out.name}.tmp-{os.getpid()}"

    def check(self) -> None:
        """Refuses an existing OUT_DIR (unless --force) before any work is done."""
        if self.out.exists() and not self.force:
            raise TrainerError(f"output dir {self.out} already exists (pass --force to replace it)")
        if self.out.exists() and not self.out.is_dir():
            raise TrainerError(f"output path {self.out} exists and is not a directory")

    def create(self) -> Path:
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.tmp.mkdir()
        except OSError as err:
            raise TrainerError(f"cannot create {self.tmp}: {err.strerror}") from err
        return self.tmp

    def commit(self) -> None:
        """Renames the temp dir to OUT_DIR, replacing an old one only under --force."""
        self.check()
        old = self.out.parent / f"{self.out.name}.old-{os.getpid()}"
        if self.out.exists():
            os.rename(self.out, old)
        try:
            os.rename(self.tmp, self.out)
        except OSError:
            if old.exists():
                os.rename(old, self.out)
            raise
        if old.exists():
            shutil.rmtree(old)

    def discard(self) -> None:
        if self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)
            log.info("removed %s", self.tmp)
