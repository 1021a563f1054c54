"""sweep.storage_path: trial results written through pyarrow to a URI, copied back for export and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ray.train._internal.storage import StorageContext
from ray.tune.experiment import Trial
from transformers import AutoModelForSequenceClassification

from hpo.errors import ConfigError
from hpo.layout import RESULT_JSON
from hpo.search.results.export import export
from hpo.search.results.report_data import read_history
from hpo.search.run.result_files import ResultJsonWriter
from hpo.search.run.resume import resume
from hpo.search.run.sweep import prepare, run
from tests.conftest import TINY_SST2

SMALL = [*TINY_SST2, "data.max_train_samples=96", "data.max_eval_samples=48", "logger=none", "trainer.epochs=1",
         "scheduler=fifo", "resources.reuse_workers=true"]


@pytest.mark.parametrize(("uri", "reason"), [
    ("nosuch://bucket/sweeps", "not a storage URI"),
    ("relative/folder", "not a storage URI"),
])
def test_a_bad_storage_path_is_named(uri: str, reason: str, out_dir: Path) -> None:
    with pytest.raises(ConfigError, match=rf"sweep.storage_path: {reason}"):
        prepare("demo", [*SMALL, f"sweep.storage_path={uri}", f"sweep.output_dir={out_dir}"])


@pytest.mark.slow
def test_results_go_to_the_uri_and_come_back_for_export_and_resume(ray_session, tmp_path: Path) -> None:
    remote, out = tmp_path / "bucket" / "sweeps", tmp_path / "sweep"
    prepared = prepare("demo", [*SMALL, "searcher=random", "sweep.num_trials=2", f"sweep.storage_path=file://{remote}",
                                f"sweep.output_dir={out}"])
    summary = export(run(prepared, verbose=False))
    assert [r.status for r in summary.records] == ["finished", "finished"]
    # Ray wrote the experiment and the checkpoints through pyarrow at the URI ...
    assert list((remote / "trials").glob("experiment_state-*.json"))
    assert len(list((remote / "trials").glob("trial_*/checkpoint_*/model.safetensors"))) == 2
    # ... and the sweep folder holds the copy the leaderboard and export read
    assert all(str(r.path).startswith(str(out / "trials")) for r in summary.records)
    assert AutoModelForSequenceClassification.from_pretrained(out / "best" / "model").num_labels == 2

    # resume restores the experiment from the URI: both trials are done, none runs again
    resume(out, verbose=False)
    again = export(out)
    assert sorted(r.trial_id for r in again.records) == sorted(r.trial_id for r in summary.records)
    for record in again.records:  # one evaluation each, as before the resume
        assert [json.loads(line)["epoch"] for line in (record.path / "result.json").read_text().splitlines()] == [1.0]


def test_a_trial_that_starts_again_keeps_the_reports_the_snapshot_had_not_copied(ray_session, tmp_path: Path) -> None:
    # A PBT exploit, a HyperBand pause or a retry restarts a trial from its checkpoint; Ray's writer then
    # copied the sweep folder's result.json over the driver's. Here the sweep folder's copy holds 1 of 3 reports.
    writer = ResultJsonWriter()
    (tmp_path / "checkpoint").mkdir()
    storage = StorageContext(storage_path=str(tmp_path / "sweep"), experiment_dir_name="trials")
    trial = Trial("trainable", storage=storage, restore_path=str(tmp_path / "checkpoint"), stub=True)
    trial.init_local_path()
    writer.on_trial_start(0, [trial], trial)
    for iteration in (1, 2, 3):
        writer.on_trial_result(iteration, [trial], trial, {"training_iteration": iteration})
    behind = Path(trial.storage.trial_fs_path) / RESULT_JSON
    behind.parent.mkdir(parents=True)
    behind.write_text((Path(trial.local_path) / RESULT_JSON).read_text().splitlines(keepends=True)[0])
    writer.on_trial_start(0, [trial], trial)  # started again from the checkpoint
    writer.on_trial_result(4, [trial], trial, {"training_iteration": 4})
    writer.on_trial_complete(0, [trial], trial)
    assert read_history(Path(trial.local_path))["training_iteration"].tolist() == [1, 2, 3, 4]
