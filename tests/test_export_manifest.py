"""``hpo export`` writes a manifest beside the best model and, with ``--top-k``, the k best trials ranked by best evaluation."""

from __future__ import annotations

import csv
import hashlib
import json
from importlib import metadata

import pytest
import yaml

from hpo.layout import MANIFEST_FILE
from hpo.search.cli import main
from hpo.search.config.compose import compose_config
from hpo.search.config.schema import resolve
from hpo.search.results.manifest import config_hash, read_manifest
from tests.small_sweep import METRIC, MODE, NUM_TRIALS, copy_sweep, small_sweep  # noqa: F401

pytestmark = pytest.mark.slow


def leaderboard(sweep_dir) -> list[dict[str, str]]:
    with (sweep_dir / "leaderboard.csv").open() as f:
        return list(csv.DictReader(f))


def test_best_manifest_names_metric_trial_epoch_hash_versions_and_wandb_run(small_sweep) -> None:  # noqa: F811
    out = small_sweep.sweep_dir
    manifest = read_manifest(out / "best")
    best = leaderboard(out)[0]
    assert manifest["metric"] == METRIC and manifest["mode"] == MODE and manifest["rank"] == 1
    assert manifest["trial_id"] == best["trial"]
    assert manifest["value"] == pytest.approx(float(best[f"best {METRIC}"]))
    assert manifest["epoch"] == pytest.approx(float(best["best epoch"]))
    assert manifest["model"] == str(out / "best" / "model")
    for name in ("torch", "transformers", "ray", "optuna", "datasets", "evaluate", "wandb", "hydra-core"):
        assert manifest["libraries"][name] == metadata.version(name)
    assert manifest["libraries"]["python"].count(".") == 2
    wandb = manifest["wandb"]
    assert wandb["mode"] == "offline" and wandb["run_id"] == best["trial"]
    assert wandb["local_dir"].startswith(str(out / "wandb" / "offline-run-")) and wandb["local_dir"].endswith(best["trial"])
    assert wandb["group"] == yaml.safe_load((out / "config.yaml").read_text())["logger"]["group"]


def test_config_hash_is_the_sha256_of_the_canonical_resolved_config(small_sweep) -> None:  # noqa: F811
    best = small_sweep.sweep_dir / "best"
    exported = yaml.safe_load((best / "config.yaml").read_text())
    canonical = json.dumps(exported, sort_keys=True, separators=(",", ":"))
    assert read_manifest(best)["config_hash"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    reordered = dict(reversed(list(exported.items())))
    assert config_hash(reordered) == config_hash(exported)
    # The exported file is a config Hydra composes back to the same configuration.
    assert config_hash(resolve(compose_config(str(best / "config.yaml")))) == config_hash(exported)


def test_export_top_k_writes_bundles_ranked_by_best_evaluation(small_sweep, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    out = copy_sweep(small_sweep, tmp_path / "sweep")  # export rewrites the leaderboard and best/: not the shared sweep's
    assert main(["export", str(out), "--top-k", str(NUM_TRIALS)]) == 0
    printed = capsys.readouterr().out
    rows = leaderboard(out)
    dirs = sorted((out / "top").iterdir(), key=lambda p: int(p.name.split("-")[1]))
    assert [d.name for d in dirs] == [f"rank-{n}-{row['trial']}" for n, row in enumerate(rows, start=1)]
    assert len(dirs) == NUM_TRIALS  # stopped trials too: each kept the checkpoint of its best evaluation
    values = []
    for n, directory in enumerate(dirs, start=1):
        assert f"Top: {directory}" in printed
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        assert manifest["rank"] == n and manifest["model"] == str(directory / "model")
        saved = json.loads((directory / "model" / "hpo_checkpoint.json").read_text())["metrics"]
        # The bundle's checkpoint is its trial's best evaluation, not its last.
        assert saved[METRIC] == pytest.approx(manifest["value"])
        assert manifest["value"] == pytest.approx(float(rows[n - 1][f"best {METRIC}"]))
        assert saved["epoch"] == pytest.approx(float(rows[n - 1]["best epoch"]))
        config = yaml.safe_load((directory / "config.yaml").read_text())
        assert config["trainer"]["learning_rate"] == pytest.approx(float(rows[n - 1]["trainer.learning_rate"]))
        values.append(manifest["value"])
    assert values == sorted(values, reverse=MODE == "max")
    assert read_manifest(dirs[0])["config_hash"] == read_manifest(out / "best")["config_hash"]


def test_export_top_k_larger_than_the_trials_is_a_clear_error(small_sweep, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main(["export", str(small_sweep.sweep_dir), "--top-k", str(NUM_TRIALS + 2)]) == 2
    err = capsys.readouterr().err
    assert "--top-k" in err and f"the sweep has {NUM_TRIALS} trials" in err and f"got {NUM_TRIALS + 2}" in err
