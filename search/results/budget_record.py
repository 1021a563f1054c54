"""What a sweep's budget (``sweep.budget``) spent and what stopped it, as the leaderboard shows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpo.layout import BUDGET_FILE


def read_budget_record(sweep_dir: Path) -> dict[str, Any] | None:
    """What the last run of a sweep wrote about its budget (None: no budget was set)."""
    path = Path(sweep_dir) / BUDGET_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def budget_summary(record: dict[str, Any] | None) -> str:
    """One line for the leaderboard header: the limits set, what was spent, and what stopped the sweep."""
    if record is None:
        return ""
    limits = ", ".join(f"{k}={v:g}" for k, v in record["limits"].items() if v is not None and k != "plateau_min_delta")
    spent = record["spent"]
    used = f"spent {spent['wall_time_s']:g} s, {spent['epochs']:g} epochs, {spent['gpu_hours']:g} GPU-hours"
    stopped = f"stopped by {record['stopped_by']}" if record["stopped_by"] else "no limit reached"
    return f"Budget: {limits}; {used}; {stopped}."
