"""Ray Tune's per-trial ``result.json`` writer, minus the restore that loses reports.

Ray writes a trial's results to a staging folder on the driver and copies it to the sweep folder
about once a second (the experiment snapshot). Every time a trial's worker starts (PBT's exploit, a
HyperBand or BOHB pause ending, a retry after a crash), Ray's ``result.json`` writer first copies
the sweep folder's file back over the staging one when the trial has a checkpoint. Within that
second the sweep folder's copy is behind, so the reports made since the last snapshot were lost: CI
once saw a PBT trial's ``result.json`` end up empty. This writer restores from the sweep folder only
when the staging file is missing (a new driver: ``hpo resume``); a staging file that exists was
written by this driver and is never older. (Ray's ``progress.csv`` writer restores only when it
opens a file, once per driver, so it keeps its reports.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray.tune.logger import JsonLoggerCallback


class ResultJsonWriter(JsonLoggerCallback):
    """Ray's ``result.json`` writer, keeping every report of a trial that starts again.

    Passed to the Tuner, it replaces the one Ray would add (Ray adds its own only when none is given).
    """

    def _restore_from_remote(self, file_name: str, trial: Any) -> None:
        if not Path(trial.local_path, file_name).is_file():
            super()._restore_from_remote(file_name, trial)
