"""``hpo ensemble``: the top-k trials' saved class probabilities averaged and scored with the sweep's metrics."""

from __future__ import annotations

import json
import math

import pytest
from sklearn.metrics import f1_score

from hpo.errors import ConfigError
from hpo.layout import load_sweep_config
from hpo.search.cli import main
from hpo.search.results.ensemble import ensemble_checkpoints
from hpo.search.results.records import collect_trials
from hpo.trainers.evaluation.evaluate import load_predictions
from tests.small_sweep import METRIC, MODE, NUM_TRIALS, copy_sweep, small_sweep  # noqa: F401

pytestmark = pytest.mark.slow


def ranked_checkpoints(sweep_dir) -> list:
    return [r.checkpoint for r in collect_trials(sweep_dir, METRIC, MODE) if r.checkpoint is not None]


@pytest.mark.parametrize("k", [2, 3])
def test_k_identical_members_equal_the_single_model(small_sweep, k: int) -> None:  # noqa: F811
    out = small_sweep.sweep_dir
    cfg = load_sweep_config(out)
    best = ranked_checkpoints(out)[0]
    single = ensemble_checkpoints([best], ["best"], cfg)
    assert ensemble_checkpoints([best] * k, ["best"] * k, cfg) == single
    saved = json.loads((best / "hpo_checkpoint.json").read_text())["metrics"]
    for name in ("eval/accuracy", "eval/f1", "eval/precision", "eval/recall"):
        assert single[name] == pytest.approx(saved[name])  # the same metrics the trial reported
    assert single["eval/loss"] == pytest.approx(saved["eval/loss"], abs=1e-4)


def test_different_members_match_a_hand_computation_from_their_probabilities(small_sweep, tmp_path, capsys) -> None:  # noqa: F811
    out = copy_sweep(small_sweep, tmp_path / "sweep")  # hpo ensemble writes ensemble.json and .md into the sweep folder
    assert main(["ensemble", str(out), "--top-k", "2"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "ensemble.json").read_text())
    members = [load_predictions(c) for c in ranked_checkpoints(out)[:2]]
    assert [m["trial_id"] for m in result["members"]] == [c.parent.name.removeprefix("trial_") for c in ranked_checkpoints(out)[:2]]
    assert members[0]["probabilities"] != members[1]["probabilities"]
    references = members[0]["references"]
    mean = [[(a + b) / 2 for a, b in zip(p, q, strict=True)] for p, q in zip(members[0]["probabilities"], members[1]["probabilities"], strict=True)]
    predicted = [max(range(len(p)), key=p.__getitem__) for p in mean]
    accuracy = sum(p == r for p, r in zip(predicted, references, strict=True)) / len(references)
    assert result["ensemble"]["eval/accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert result["ensemble"]["eval/f1"] == pytest.approx(f1_score(references, predicted, zero_division=0), abs=1e-12)
    loss = -sum(math.log(p[r] / sum(p)) for p, r in zip(mean, references, strict=True)) / len(references)
    assert result["ensemble"]["eval/loss"] == pytest.approx(loss, rel=1e-9)
    best_saved = json.loads((ranked_checkpoints(out)[0] / "hpo_checkpoint.json").read_text())["metrics"]
    assert result["best_single"]["eval/accuracy"] == pytest.approx(best_saved["eval/accuracy"])
    assert result["best_single"][METRIC] == pytest.approx(best_saved[METRIC], abs=1e-4)
    assert result["metric"] == METRIC and result["mode"] == MODE
    sign = 1 if MODE == "max" else -1  # the gain is positive when the ensemble beats the best single model
    assert result["gain"] == pytest.approx(sign * (result["ensemble"][METRIC] - result["best_single"][METRIC]))
    markdown = (out / "ensemble.md").read_text()
    assert f"| {METRIC} |" in markdown and "| eval/accuracy |" in markdown
    assert "ensemble of 2" in markdown and "best single" in markdown
    assert "# Top-2 ensemble" in printed


def test_top_k_above_the_trials_with_checkpoints_is_a_clear_error(small_sweep, capsys) -> None:  # noqa: F811
    assert main(["ensemble", str(small_sweep.sweep_dir), "--top-k", str(NUM_TRIALS + 1)]) == 2
    err = capsys.readouterr().err
    assert "--top-k" in err and f"the sweep has {NUM_TRIALS} trials with a saved best checkpoint" in err
    assert main(["ensemble", str(small_sweep.sweep_dir), "--top-k", "0"]) == 2


def test_members_evaluated_on_different_rows_are_refused(small_sweep, tmp_path) -> None:  # noqa: F811
    out = small_sweep.sweep_dir
    cfg = load_sweep_config(out)
    best = ranked_checkpoints(out)[0]
    other = tmp_path / "other"
    other.mkdir()
    record = load_predictions(best)
    record["references"] = [1 - r for r in record["references"]]
    (other / "eval_predictions.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="trial other was evaluated on different references than trial best"):
        ensemble_checkpoints([best, other], ["best", "other"], cfg)
