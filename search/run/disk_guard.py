"""A sweep stops while its disk still has room, resumable, instead of failing trial after trial once it is full.

Ray Tune writes each trial's results and checkpoints, and its own experiment state, into the sweep folder.
When that disk fills, every write fails: each trial in turn errors with ENOSPC (the searcher keeps proposing,
so every remaining trial starts and fails), the experiment state stops being saved, and Ray's result reader
then crashes on the empty error files it left (seen: a raw ``EOFError`` traceback, an emptied ``result.json``).

:class:`DiskSpaceGuard` checks the free space five times a second from Ray Tune's loop and, below
:data:`MIN_FREE_MB`, ends the sweep by raising :class:`OutputDiskFullError`: the experiment state saved up to a second
before stays, the running trials stay interrupted (``hpo resume`` continues them from their checkpoints once
there is room), and nothing more is written. A trial that fails while the disk is that full ends the sweep the
same way: one checkpoint can take the last megabytes between two checks.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from hpo.errors import ConfigError

MIN_FREE_MB = 64  # below this, the next checkpoints would fill the disk: no sweep starts, a running one stops
CHECK_EVERY_S = 0.2  # Ray's loop steps many times a second; a statvfs takes microseconds (more on network file systems)


def nearest_existing(path: Path) -> Path:
    """``path`` or, before it is created, its nearest existing parent: where its file system is known."""
    return next((p for p in (path, *path.parents) if p.exists()), Path("/"))


def free_mb(path: Path) -> float:
    """Free megabytes on the file system that holds ``path`` (or will hold it)."""
    return shutil.disk_usage(nearest_existing(path)).free / 2**20


class OutputDiskFullError(ConfigError):
    """The sweep stopped because its disk is (nearly) full; its results so far are on disk and resumable."""

    def __init__(self, sweep_dir: Path, free: float) -> None:
        super().__init__("sweep.output_dir", f"the disk holding {sweep_dir} has {free:.1f} MB free, and hpo stops a "
                         f"sweep below {MIN_FREE_MB} MB, before its checkpoints and results fail to write. Every result "
                         f"written so far is kept: free space, then `hpo resume {sweep_dir}` continues the sweep")


class DiskSpaceGuard(Callback):
    """Raise :class:`OutputDiskFullError` from Ray Tune's loop when the sweep folder's disk runs low."""

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = Path(sweep_dir)
        self._checked_at = 0.0

    def check(self) -> None:
        """Raise when the disk is below the floor."""
        free = free_mb(self.sweep_dir)
        if free < MIN_FREE_MB:
            raise OutputDiskFullError(self.sweep_dir, free)

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        if now - self._checked_at >= CHECK_EVERY_S:
            self._checked_at = now
            self.check()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.check()  # a trial that could not write its checkpoint: stop before the next one starts and fails too


def fit_guarded(tuner: Any, guard: DiskSpaceGuard) -> None:
    """``tuner.fit()``; when Ray itself fails because the disk filled (between two checks, or a write larger
    than what was left), the full disk is the error reported, not Ray's traceback."""
    try:
        tuner.fit()
    except OutputDiskFullError:
        raise
    except Exception:
        guard.check()
        raise
