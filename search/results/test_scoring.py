"""Scoring a finished sweep's top trials on its test split (``data.test_path``, ``test_split`` or
``test_fraction``), once, at the end of the sweep (and of a resume or an extension)."""

from __future__ import annotations

from hpo.options import has_test_split
from hpo.search.results.export import confirmed_best
from hpo.search.results.records import SweepResults
from hpo.search.results.test_scores import TestScores, write_test_scores
from hpo.search.results.trial_config import trial_config


def score_top_trials(results: SweepResults) -> TestScores | None:
    """Score the best ``sweep.test_top_k`` trials that kept a checkpoint (and ``hpo confirm``'s winner) on the test rows, write
    ``test_scores.json`` and attach the scores to ``results``; None without a test split or a checkpoint."""
    cfg = results.config
    if not has_test_split(cfg["data"]):
        return None
    chosen = [r for r in results.evaluated if r.checkpoint is not None][: cfg["sweep"]["test_top_k"]]
    winner = confirmed_best(results)  # hpo confirm's best mean is exported as best/: score it too
    if winner is not None and winner.checkpoint is not None and winner not in chosen:
        chosen.append(winner)
    if not chosen:
        return None
    # torch and transformers: only a sweep with a test split loads them on the driver, after its trials
    from hpo.trainers.runs.test_split import CheckpointToScore, score_on_test

    scored = score_on_test(cfg, [CheckpointToScore(r.trial_id, trial_config(cfg, r), r.checkpoint) for r in chosen])
    scores = TestScores(scored.validation_rows, scored.test_rows, scored.trials)
    write_test_scores(results.sweep_dir, scores)
    results.test_scores = scores
    return scores
