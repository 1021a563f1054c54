"""ASHA's ``max_t``: the most evaluations the longest trial of the sweep's space can make.

ASHA counts reports, and a trial reports once per evaluation: once per epoch by default, every
``trainer.eval_every_steps`` optimizer steps when that is set, once per fold under k-fold
cross-validation. So ``max_t`` depends on the epochs, the batch size, accumulation, the number of
training rows and the evaluation interval, any of which the space may search. A ``max_t`` below
what a trial makes cuts it short; one above it puts rungs no trial reaches. hpo derives it on the
driver (``scheduler.max_t: null``, the default) from the same formula the loop uses
(:mod:`hpo.evaluation_plan`), taking every extreme the space allows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hpo.evaluation_plan import optimizer_steps_per_epoch, planned_evaluations
from hpo.params import apply_params
from hpo.search.algorithms.space import Param

# Keys that change how many evaluations a trial makes from a given number of training rows...
EVALUATION_KEYS = (
    "trainer.epochs",
    "trainer.batch_size",
    "trainer.gradient_accumulation_steps",
    "trainer.eval_every_steps",
    "trainer.cv_folds",
)
# ... and keys that change the number of training rows itself (augmented copies, resampling,
# language-model blocks of max_seq_length tokens).
ROW_KEYS = ("trainer.augment.ratio", "trainer.resample", "trainer.max_seq_length")

CountTrainRows = Callable[[dict[str, Any]], int]


def candidate_values(param: Param) -> list[Any]:
    """The values that can make a trial longest: every value of a choice, both ends of a range."""
    if param.is_discrete:
        return list(param.values)
    ends = [param.low, param.high]
    return [int(v) for v in ends] if param.type == "int" else ends


def longest_trial_evaluations(cfg: dict[str, Any], params: list[Param], count_train_rows: CountTrainRows) -> int:
    """The most evaluations any trial of the space makes.

    Args:
        cfg: the resolved sweep config.
        params: the parsed search space.
        count_train_rows: the training rows a trial with this ``trainer`` config trains on (the
            driver prepares the data once per distinct row-changing setting; only needed when
            evaluations are counted in steps).
    """
    searched = {p.key: candidate_values(p) for p in params if p.key in (*EVALUATION_KEYS, *ROW_KEYS)}
    rows_by_setting: dict[tuple[Any, ...], int] = {}
    longest = 0
    for combination in itertools.product(*searched.values()):
        values = dict(zip(searched, combination, strict=True))
        trainer = apply_params(cfg, values)["trainer"]
        if trainer["cv_folds"]:
            longest = max(longest, int(trainer["cv_folds"]))
            continue
        if trainer["eval_every_steps"] is None:
            longest = max(longest, int(trainer["epochs"]))
            continue
        setting = tuple(values.get(key) for key in ROW_KEYS)
        if setting not in rows_by_setting:
            rows_by_setting[setting] = count_train_rows(trainer)
        steps = optimizer_steps_per_epoch(
            rows_by_setting[setting], trainer["batch_size"], trainer["gradient_accumulation_steps"],
            cfg["resources"]["workers_per_trial"],
        )
        longest = max(longest, planned_evaluations(steps, trainer["epochs"], trainer["eval_every_steps"]))
    return longest
