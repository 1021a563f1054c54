"""Using a sweep's winner: the exported bundle (a clean model folder with its card), ``hpo evaluate`` and ``hpo predict``.

All on the session's shared CLI sweep (tiny BERT on SST-2 slices, with SST-2's labelled dev set as
its test split), on copies of its folder where a command writes into it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from transformers import pipeline

from hpo.layout import TEST_SCORES_FILE, TRAINING_STATE_FILE
from hpo.search.cli import main
from hpo.trainers.data.loading import load_splits
from tests.small_sweep import METRIC, copy_sweep, small_sweep  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(small_sweep, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A copy of the shared sweep that evaluate and predict may write into."""
    return copy_sweep(small_sweep, tmp_path_factory.mktemp("use") / "sweep")


@pytest.fixture(scope="module")
def validation_file(sweep: Path) -> Path:
    """The validation rows the sweep ranked its trials on, written back out as a TSV in SST-2's columns."""
    config = yaml.safe_load((sweep / "best" / "config.yaml").read_text())
    splits = load_splits(config["data"], seed=config["sweep"]["seed"])
    path = sweep.parent / "validation-rows.tsv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        writer.writerow(["sentence", "label"])
        writer.writerows([row["text"], splits.label_names[row["label"]]] for row in splits.eval)
    return path


def best_metrics(sweep: Path) -> dict:
    return yaml.safe_load((sweep / "best" / "metrics.yaml").read_text())


def test_the_bundle_is_a_pipeline_folder_without_optimizer_state_and_its_card_says_what_it_is(sweep: Path) -> None:
    model_dir = sweep / "best" / "model"
    assert not list((sweep / "best").rglob(TRAINING_STATE_FILE))  # the resume state stays with the trial
    summary = best_metrics(sweep)
    assert (Path(summary["source_checkpoint"]) / TRAINING_STATE_FILE).is_file()
    classify = pipeline("text-classification", model=str(model_dir))
    [out] = classify("a gripping , funny film")
    assert out["label"] in ("0", "1") and 0 < out["score"] <= 1
    card = (model_dir / "README.md").read_text()
    assert card.startswith("---\n") and "pipeline_tag: text-classification" in card and "- hpo" in card
    for key, value in summary["params"].items():  # the winning configuration, every searched value
        assert f"| `{key}` (searched) | {value} |" in card
    assert f"| loss | {summary['metrics'][METRIC]:.4g} |" in card  # the validation metric the sweep ranked by
    test = json.loads((sweep / TEST_SCORES_FILE).read_text())["trials"][summary["trial_id"]]
    assert f"| accuracy | {summary['metrics']['eval/accuracy']:.4g} | {test['test/accuracy']:.4g} |" in card
    assert "searcher `optuna`, scheduler `asha`" in card and "6 trials" in card and "transformers 5." in card


def test_evaluate_on_the_validation_rows_reproduces_the_sweeps_figures(sweep: Path, validation_file: Path, capsys) -> None:
    assert main(["evaluate", str(sweep), "--data", str(validation_file)]) == 0
    out = sweep / "evaluations" / "best" / validation_file.stem
    result = json.loads((out / "evaluation.json").read_text())
    best = best_metrics(sweep)["metrics"]
    assert result["rows"] == 160
    for key in ("eval/accuracy", "eval/loss", "eval/f1"):
        assert result["metrics"][key] == pytest.approx(best[key], abs=1e-5), key
    page = (out / "evaluation.html").read_text()
    for key in ("confusion_matrix", "roc", "precision_recall"):  # the report's best-trial sections, interactive
        assert f'<div id="figure-{key}"' in page, key
    assert "Per-class report" in page and page.count("plotly.js v") == 1  # plotly.js inlined once: opens offline
    assert (out / "eval_predictions.json").is_file() and "eval/accuracy" in capsys.readouterr().out


def test_evaluate_scores_the_test_file_as_the_sweep_scored_its_winner(sweep: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((sweep / "best" / "config.yaml").read_text())
    assert main(["evaluate", str(sweep / "best" / "model"), "--data", config["data"]["test_path"], "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "evaluation.json").read_text())
    test = json.loads((sweep / TEST_SCORES_FILE).read_text())
    winner = test["trials"][best_metrics(sweep)["trial_id"]]
    assert result["rows"] == test["test_rows"] == 872  # SST-2's labelled dev set, never selected on
    assert result["metrics"]["eval/accuracy"] == pytest.approx(winner["test/accuracy"], abs=1e-6)


def test_predict_writes_one_row_per_input_in_order_with_the_evaluated_probabilities(
    sweep: Path, validation_file: Path, tmp_path: Path,
) -> None:
    """The pipeline's probabilities are the ones hpo's own evaluation saved for the same rows."""
    csv_out, jsonl_out = tmp_path / "predictions.csv", tmp_path / "predictions.jsonl"
    assert main(["predict", str(sweep), "--data", str(validation_file), "--out", str(csv_out)]) == 0
    assert main(["predict", str(sweep / "best"), "--data", str(validation_file), "--out", str(jsonl_out)]) == 0
    with validation_file.open() as f:
        given = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\"))
    with csv_out.open() as f:
        rows = list(csv.DictReader(f))
    lines = [json.loads(line) for line in jsonl_out.read_text().splitlines()]
    assert len(rows) == len(lines) == len(given) == 160
    assert [r["sentence"] for r in rows] == [g["sentence"] for g in given] == [line["sentence"] for line in lines]
    saved = json.loads((sweep / "evaluations" / "best" / validation_file.stem / "eval_predictions.json").read_text())
    for row, probabilities, predicted in zip(rows, saved["probabilities"], saved["predictions"], strict=True):
        assert [float(row["prob_0"]), float(row["prob_1"])] == pytest.approx(probabilities, abs=1e-4)
        assert row["predicted_label"] == saved["label_names"][predicted]


@pytest.mark.parametrize(("args", "key", "says"), [
    (["--data", "{file}", "data.text_column=review"], "--data", "column not found"),  # the file has no `review`
    (["--data", "{missing}"], "--data", "file not found"),
    (["--data", "{folder}"], "--data", "is a folder"),
    (["--data", "{csv}"], "--data", "looks like csv"),
    (["--data", "{file}", "data.colour=red"], "data.colour", "data.text_column"),
])
def test_bad_input_to_evaluate_names_the_key(sweep: Path, validation_file: Path, tmp_path: Path, capsys, args, key, says) -> None:
    renamed = tmp_path / "renamed.tsv"
    renamed.write_text(validation_file.read_text().replace("sentence\tlabel", "text\tlabel", 1))
    (tmp_path / "rows.csv").write_text("sentence,label\nfine,1\n")
    paths = {"file": renamed, "missing": tmp_path / "nope.tsv", "folder": tmp_path, "csv": tmp_path / "rows.csv"}
    assert main(["evaluate", str(sweep), *(a.format(**paths) for a in args)]) == 2
    err = capsys.readouterr().err
    assert f"hpo: error: {key}" in err and says in err and "Traceback" not in err


def test_a_file_with_other_column_names_is_mapped_by_override_and_a_wrong_model_folder_is_named(
    sweep: Path, validation_file: Path, tmp_path: Path, capsys,
) -> None:
    renamed = tmp_path / "renamed.tsv"
    renamed.write_text(validation_file.read_text().replace("sentence\tlabel", "review\tlabel", 1))
    assert main(["evaluate", str(sweep), "--data", str(renamed), "data.text_column=review", "--out", str(tmp_path / "ev")]) == 0
    assert json.loads((tmp_path / "ev" / "evaluation.json").read_text())["rows"] == 160
    assert main(["evaluate", str(sweep), "--data", str(renamed)]) == 2  # unmapped: the column the model reads is named
    assert "data.text_column: column not found in" in capsys.readouterr().err
    assert main(["predict", str(sweep / "trials"), "--data", str(renamed), "--out", str(tmp_path / "p.csv")]) == 2
    assert "model: not a model folder" in capsys.readouterr().err
    assert main(["predict", str(sweep), "--data", str(renamed), "--out", str(tmp_path / "p.txt")]) == 2
    assert "--out: write predictions to a .csv or .jsonl file" in capsys.readouterr().err


def test_push_to_hub_is_refused_offline_or_without_a_token_before_exporting(sweep: Path, monkeypatch, capsys) -> None:
    before = (sweep / "best" / "manifest.json").read_text()
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(sweep.parent / "no-token"))  # no login's file either
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    assert main(["export", str(sweep), "--push-to-hub", "someone/sst2-tiny"]) == 2
    assert "no Hugging Face token found" in capsys.readouterr().err
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    assert main(["export", str(sweep), "--push-to-hub", "someone/sst2-tiny"]) == 2
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err
    assert main(["export", str(sweep), "--push-to-hub", "not a repo"]) == 2
    assert "not a Hub repo id" in capsys.readouterr().err
    assert (sweep / "best" / "manifest.json").read_text() == before  # refused before anything was exported
