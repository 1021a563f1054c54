"""How a trial ended, read from Ray Tune's record of it: shared by the progress lines and the leaderboard."""

from __future__ import annotations

import os
from typing import Any

# Reported by a trial that ran out of memory, with the reason: its values do not fit, so it ends
# "infeasible" (not "failed") and the searcher is told to move away from them.
INFEASIBLE = "infeasible"


def outcome(ray_status: str, last_result: dict[str, Any] | None) -> str:
    """finished, stopped (early, by the scheduler), failed, infeasible (ran out of memory), or
    interrupted (never ended: the driver died; ``hpo resume`` continues it).

    Ray marks a scheduler-stopped trial ``done`` too, so the trial's own count of planned
    evaluations is what tells the two apart. HyperBand's brackets leave the trials they stopped at
    a rung, and some that ran to the end, ``PAUSED`` when the sweep ends; they are read the same way.
    """
    if ray_status == "ERROR":
        return "failed"
    if ray_status not in ("TERMINATED", "PAUSED"):
        return "interrupted"
    last = last_result or {}
    if last.get(INFEASIBLE):
        return "infeasible"
    planned = last.get("evaluations_planned")
    if planned is not None and last.get("training_iteration", 0) < planned:
        return "stopped"
    return "finished"


def error_summary(error: Any) -> str:
    """The last line of an error (a Ray error file path or an exception): the exception and its message."""
    text = str(error or "")
    if text and os.path.isfile(text):
        with open(text) as f:
            text = f.read()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"
