"""``hpo confirm``'s results: the top configurations retrained with several seeds, ranked by their mean.

A sweep ranks each configuration by one training run, so its winner is partly the luckiest seed.
Retraining the top k with S seeds each and ranking by the mean (with a 95% bootstrap interval over
the seeds) tells a real difference from seed noise. ``confirmation.json`` keeps every run's best
value (:mod:`hpo.search.results.confirmation_summary` writes it); the export then takes the configuration with the best mean, and the leaderboard shows
mean ± interval beside the single-run figure.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.layout import CONFIRM_JSON, CONFIRM_MD

BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95


@dataclass
class Confirmed:
    """One configuration (a sweep trial's values) over its seeds."""

    trial_id: str
    values: list[float]  # the best metric of each seed's run
    mean: float
    low: float  # the 95% bootstrap interval of the mean
    high: float


@dataclass
class Confirmation:
    metric: str
    mode: str
    seeds: list[int]
    ranked: list[Confirmed]  # best mean first

    def of(self, trial_id: str) -> Confirmed | None:
        return next((c for c in self.ranked if c.trial_id == trial_id), None)


def bootstrap_interval(values: list[float], seed: int = 0) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of the mean of ``values`` (resampled with replacement)."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = rng.choice(data, size=(BOOTSTRAP_RESAMPLES, len(data)), replace=True).mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def write_confirmation(sweep_dir: Path, confirmation: Confirmation) -> tuple[Path, Path]:
    """``confirmation.json`` and a Markdown table, ``confirmation.md``."""
    data: dict[str, Any] = asdict(confirmation)
    (sweep_dir / CONFIRM_JSON).write_text(json.dumps(data, indent=2))
    lines = [
        f"# Confirmation: {len(confirmation.ranked)} configurations x {len(confirmation.seeds)} seeds",
        "",
        f"Ranked by the mean of each seed's best `{confirmation.metric}` ({confirmation.mode}), with its "
        f"{CONFIDENCE:.0%} bootstrap interval over the seeds.",
        "",
        "| rank | trial | mean | 95% interval | runs |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {c.trial_id} | {c.mean:.4g} | [{c.low:.4g}, {c.high:.4g}] | {', '.join(f'{v:.4g}' for v in c.values)} |"
              for n, c in enumerate(confirmation.ranked, start=1)]
    (sweep_dir / CONFIRM_MD).write_text("\n".join(lines) + "\n")
    return sweep_dir / CONFIRM_JSON, sweep_dir / CONFIRM_MD


def read_confirmation(sweep_dir: str | Path) -> Confirmation | None:
    path = Path(sweep_dir) / CONFIRM_JSON
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    return Confirmation(saved["metric"], saved["mode"], saved["seeds"], [Confirmed(**c) for c in saved["ranked"]])
